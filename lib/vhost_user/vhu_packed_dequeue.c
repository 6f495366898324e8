/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Dequeue from a packed ring: guest TX virtqueue -> mbufs.
 *
 * The same batches and stages as a split ring (vhu_dequeue.c); only the
 * fetch is this file's: chains are consecutive descriptors from the avail
 * position, each available when its head's flags match the wrap counter
 * (vhu_packed.h). Header and offload checks, copy, zero-copy and the used
 * entries are vhu_deq.h's.
 */

#include "vhu_deq.h"

/* ---- fetch + translate ---- */

/*
 * The chain at @p pos into @p c, its segments from vq->segs[*nsegs];
 * @p pos moves past it. Returns WALK_OK, WALK_EMPTY (nothing available),
 * WALK_SEGS_FULL (no room left in this batch) or the malformed reason.
 */
static __rte_always_inline int
pk_deq_translate(struct vhu_vq *vq, struct vhu_pk_pos *pos,
	struct deq_chain *c, uint32_t *nsegs)
{
	uint32_t room = RTE_MIN(*nsegs + VHU_MAX_SEGS, VHU_SEGS_SCRATCH);
	struct vring_packed_desc d;
	struct vring_desc v;
	uint64_t total;
	int rc;

	if (unlikely(*nsegs >= VHU_SEGS_SCRATCH))
		return WALK_SEGS_FULL;
	if (!pk_desc_avail(vq, pos, &d))
		return WALK_EMPTY;
	v = pk_view(&d);
	c->seg0 = (uint16_t)*nsegs;
	if (likely(chain_single(vq, &v, 0, vq->hdr_len, &vq->segs[*nsegs]))) {
		total = v.len;
		(*nsegs)++;
		c->id = d.id;
		c->ndesc = 1;
		pk_advance(vq, pos, 1);
	} else {
		rc = vhu_pk_walk(vq, pos, &d, false, nsegs, room, &total, 0,
			&c->id, &c->ndesc);
		if (rc == WALK_SEGS_FULL && room - c->seg0 == VHU_MAX_SEGS)
			rc = VHU_MAL_CHAIN_LONG;
		if (rc != WALK_OK)
			return rc;
	}
	if (unlikely(c->id >= vq->size))
		return VHU_MAL_HEAD_INDEX;
	c->seg_end = (uint16_t)*nsegs;
	return deq_header(vq, c, total);
}

/* Fetch and translate up to @p n chains; a malformed one stops the queue
 * (the chains before it still go). Returns how many are ready. */
static uint16_t
pk_deq_fetch(struct vhu_vq *vq, struct deq_chain *ch, uint16_t n)
{
	struct vhu_pk_pos pos = { vq->last_avail, vq->avail_wrap };
	uint32_t nsegs = 0;
	uint16_t k;
	int rc = WALK_OK;

	for (k = 0; k < n; k++) {
		rc = pk_deq_translate(vq, &pos, &ch[k], &nsegs);
		if (unlikely(rc != WALK_OK))
			break;
	}
	if (rc >= 0)
		vhu_vq_fault(vq, (enum vhu_malformed)rc);
	return k;
}

/* ---- the burst ---- */

/* The avail position moves past the first @p n chains of the batch. */
static __rte_always_inline void
pk_deq_consume(struct vhu_vq *vq, const struct deq_chain *ch, uint16_t n)
{
	struct vhu_pk_pos pos = { vq->last_avail, vq->avail_wrap };
	uint16_t i;

	for (i = 0; i < n; i++)
		pk_advance(vq, &pos, ch[i].ndesc);
	vq->last_avail = pos.idx;
	vq->avail_wrap = pos.wrap;
}

/* One batch of up to VHU_BATCH chains through the stages; returns how
 * many frames it put into @p pkts. */
static uint16_t
pk_deq_batch(struct vhu_vq *vq, struct rte_mempool *mp, struct rte_mbuf **pkts,
	uint16_t n, struct deq_sum *sum)
{
	struct deq_chain ch[VHU_BATCH];
	uint16_t nb, k;

	nb = pk_deq_fetch(vq, ch, n);
	if (nb == 0)
		return 0;
	pk_deq_consume(vq, ch, deq_frames(vq, mp, ch, nb, pkts, sum, &k));
	return k;
}

uint16_t
vhu_pk_dequeue(struct vhu_vq *vq, struct rte_mempool *mp,
	struct rte_mbuf **pkts, uint16_t n, struct deq_sum *sum)
{
	uint16_t cnt = 0, want, got;

	do {
		want = RTE_MIN((uint16_t)(n - cnt), (uint16_t)VHU_BATCH);
		got = want > 0 ? pk_deq_batch(vq, mp, &pkts[cnt], want, sum) : 0;
		cnt += got;
	} while (got == want && cnt < n &&
		__atomic_load_n(&vq->ready, __ATOMIC_RELAXED));
	return cnt;
}
