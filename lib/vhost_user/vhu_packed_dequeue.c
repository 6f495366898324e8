/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Dequeue from a packed ring: guest TX virtqueue -> mbufs.
 *
 * The same stages as a split ring (vhu_dequeue.c); only the
 * fetch is this file's: chains are consecutive descriptors from the avail
 * position, each available when its head's flags match the wrap counter
 * (vhu_packed.h). Header and offload checks, copy, zero-copy and the used
 * entries are vhu_deq.h's.
 */

#include "vhu_deq.h"

/* ---- fetch + translate ---- */

/* The chain at @p cur into @p c; @p ofl: its header may ask for an
 * offload (deq_header_ofl). */
static __rte_always_inline int
pk_deq_fetch_as(struct vhu_vq *vq, const struct deq_cursor *cur,
	struct deq_chain *c, bool ofl)
{
	struct vhu_pk_pos pos = cur->pk;
	struct vring_packed_desc d;
	struct vring_desc v;
	uint32_t nsegs = 0;
	uint64_t total;
	int rc;

	if (!pk_desc_avail(vq, &pos, &d))
		return WALK_EMPTY;
	v = pk_view(&d);
	c->seg0 = 0;
	if (likely(chain_single(vq, &v, 0, vq->hdr_len, &vq->segs[0]))) {
		total = v.len;
		nsegs = 1;
		c->id = d.id;
		c->ndesc = 1;
	} else {
		rc = vhu_pk_walk(vq, &pos, &d, false, &nsegs, VHU_MAX_SEGS,
			&total, 0, &c->id, &c->ndesc);
		if (rc == WALK_SEGS_FULL)
			rc = VHU_MAL_CHAIN_LONG;
		if (rc != WALK_OK)
			return rc;
	}
	if (unlikely(c->id >= vq->size))
		return VHU_MAL_HEAD_INDEX;
	c->seg_end = (uint16_t)nsegs;
	rc = deq_header_ofl(vq, c, total, ofl);
	/* recorded before its frame is touched: its used element may be
	 * written over its descriptors */
	if (unlikely(vq->infl != NULL) && rc == WALK_OK)
		rc = vhu_infl_pk_take(vq, cur->pk.idx, &d, c->ndesc, c->id);
	return rc;
}

/* deq_fetch_t of a queue with a dequeue offload negotiated */
static __rte_always_inline int
pk_deq_fetch_ofl(struct vhu_vq *vq, const struct deq_cursor *cur,
	struct deq_chain *c)
{
	return pk_deq_fetch_as(vq, cur, c, true);
}

/* deq_fetch_t of a queue without: headers are not read */
static __rte_always_inline int
pk_deq_fetch_plain(struct vhu_vq *vq, const struct deq_cursor *cur,
	struct deq_chain *c)
{
	return pk_deq_fetch_as(vq, cur, c, false);
}

/* ---- the burst ---- */

uint16_t
vhu_pk_dequeue(struct vhu_vq *vq, struct rte_mempool *mp,
	struct rte_mbuf **pkts, uint16_t n, struct deq_sum *sum)
{
	struct deq_cursor cur = {
		.pk = { vq->last_avail, vq->avail_wrap },
	};
	struct vring_packed_desc d;
	uint16_t k, nm;

	/* mbufs for the chains there are, counted from their flags (each
	 * is fetched and checked again); a head without an end is fetched
	 * too, for its fault to be found */
	nm = (uint16_t)vhu_pk_chains_avail(vq, cur.pk, n);
	if (nm == 0 && (n == 0 || !pk_desc_avail(vq, &cur.pk, &d)))
		return 0;
	nm = deq_alloc(vq, mp, pkts, RTE_MAX(nm, (uint16_t)1));
	/* headers read or not: decided once per burst, as on split rings
	 * (deq_split()) */
	if (vq->ofl_features & VHU_OFL_DEQ_FEATURES)
		k = deq_chains(vq, mp, pkts, nm, &cur, sum, pk_deq_fetch_ofl,
			true);
	else
		k = deq_chains(vq, mp, pkts, nm, &cur, sum, pk_deq_fetch_plain,
			true);
	vq->last_avail = cur.pk.idx;
	vq->avail_wrap = cur.pk.wrap;
	return k;
}
