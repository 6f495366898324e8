/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Enqueue into a packed ring: mbufs -> guest RX virtqueue.
 *
 * The same stages as a split ring (vhu_enqueue.c); only the
 * reservation of guest buffers (the fetch) is this file's: chains are
 * consecutive descriptors from the avail position, available when their
 * head's flags match the wrap counter (vhu_packed.h). Copy, used entries
 * and offloads are vhu_enq.h's and vhu_enqueue.c's.
 */

#include "vhu_enq.h"

/* ---- fetch + translate ---- */

/* The chain at @p pos (first descriptor @p d), walked into the segments
 * and recorded as head slot @p slot; @p pos moves past it. */
static int
pk_enq_chain(struct vhu_vq *vq, struct vhu_pk_pos *pos,
	const struct vring_packed_desc *d, uint32_t *nsegs, uint32_t seg_room,
	uint16_t slot, uint64_t *clen)
{
	uint16_t id, ndesc;
	int rc;

	rc = vhu_pk_walk(vq, pos, d, true, nsegs, seg_room, clen, slot, &id,
		&ndesc);
	if (rc != WALK_OK)
		return rc;
	if (id >= vq->size)
		return VHU_MAL_HEAD_INDEX;
	vq->heads[slot] = (struct vhu_head){
		.id = id,
		.cap = (uint32_t)RTE_MIN(*clen, (uint64_t)UINT32_MAX),
		.ndesc = ndesc,
	};
	return WALK_OK;
}

/* In-flight tracking: the @p nheads chains reserved from @p pos, recorded
 * before the frame is copied (their used elements may be written over
 * their descriptors). */
static int
pk_enq_take(struct vhu_vq *vq, struct vhu_pk_pos pos, uint32_t nheads)
{
	uint32_t j;
	int rc = WALK_OK;

	for (j = 0; j < nheads && rc == WALK_OK; j++) {
		rc = vhu_infl_pk_take(vq, pos.idx, NULL, vq->heads[j].ndesc,
			(uint16_t)vq->heads[j].id);
		pk_advance(vq, &pos, vq->heads[j].ndesc);
	}
	return rc;
}

/*
 * The general case (see enq_reserve_chains() of a split ring): chains of
 * several descriptors, indirect tables, buffers across regions, frames
 * merged over several chains (MRG_RXBUF). @p d0 is the descriptor at
 * cur->pk, already read.
 */
static int
pk_enq_reserve_chains(struct vhu_vq *vq, uint32_t need,
	const struct vring_packed_desc *d0, struct enq_frame *f,
	struct enq_cursor *cur)
{
	uint32_t nsegs = 0, nheads = 0;
	struct vhu_pk_pos pos = cur->pk;
	struct vring_packed_desc d = *d0;
	uint64_t cap = 0, clen = 0;
	int rc;

	while (cap < need) {
		if (nheads >= VHU_MAX_SEGS)
			return RES_DROP;
		if (nheads > 0 && !pk_desc_avail(vq, &pos, &d))
			return RES_FULL;
		rc = pk_enq_chain(vq, &pos, &d, &nsegs, VHU_MAX_SEGS,
			(uint16_t)nheads, &clen);
		if (rc == WALK_SEGS_FULL)
			rc = nheads == 0 ? (int)VHU_MAL_CHAIN_LONG : RES_DROP;
		if (rc != WALK_OK)
			return rc;
		if (nheads == 0 && clen < vq->hdr_len)
			return VHU_MAL_CHAIN_SHORT;
		nheads++;
		cap += clen;
		if (!vq->mrg)
			break;
	}
	rc = enq_reserved(vq, cap, need, nheads, nsegs, f, cur);
	if (rc == WALK_OK && unlikely(vq->infl != NULL))
		rc = pk_enq_take(vq, cur->pk, nheads);
	if (rc == WALK_OK)
		cur->pk = pos;
	return rc;
}

/* Reserve the guest buffers for a frame of @p plen bytes (see
 * enq_reserve_len() of a split ring); the common case, one descriptor
 * that holds the header and the whole frame, is done here. @p infl: the
 * queue tracks what is in flight (a constant false where the common
 * queue is specialised). */
static __rte_always_inline int
pk_enq_reserve_as(struct vhu_vq *vq, uint32_t plen, struct enq_frame *f,
	struct enq_cursor *cur, bool infl)
{
	uint32_t need = vq->hdr_len + plen;
	struct vring_packed_desc d;
	struct vring_desc v;

	if (unlikely(plen == 0 || plen > VHU_MAX_FRAME_LEN))
		return RES_DROP;
	if (!pk_desc_avail(vq, &cur->pk, &d))
		return RES_FULL;
	v = pk_view(&d);
	if (unlikely(d.id >= vq->size ||
			!chain_single(vq, &v, VRING_DESC_F_WRITE, need - 1,
				&f->one))) {
		/* a copy: @p d stays in registers on the common path */
		struct vring_packed_desc first = d;

		return pk_enq_reserve_chains(vq, need, &first, f, cur);
	}
	if (infl) {
		struct vring_packed_desc first = d;
		int rc = vhu_infl_pk_take(vq, cur->pk.idx, &first, 1, d.id);

		if (rc != WALK_OK)
			return rc;
	}
	pk_advance(vq, &cur->pk, 1);
	return enq_reserved_one(f, cur, d.id, 1);
}

/* enq_reserve_t of a queue without in-flight tracking */
static __rte_always_inline int
pk_enq_reserve_plain(struct vhu_vq *vq, uint32_t plen, struct enq_frame *f,
	struct enq_cursor *cur)
{
	return pk_enq_reserve_as(vq, plen, f, cur, false);
}

int
vhu_pk_enq_reserve_len(struct vhu_vq *vq, uint32_t plen, struct enq_frame *f,
	struct enq_cursor *cur)
{
	return pk_enq_reserve_as(vq, plen, f, cur, vq->infl != NULL);
}

/* ---- the burst ---- */

uint16_t
vhu_pk_enqueue(struct vhu_vq *vq, struct rte_mbuf *const *pkts, uint16_t n,
	uint64_t ofl, struct enq_sum *sum)
{
	struct enq_cursor cur = {
		.pk = pk_pos(vq->last_avail, vq->avail_wrap),
	};
	uint16_t done;

	/* in-flight tracking looked at per frame only where negotiated */
	if (likely(vq->infl == NULL))
		done = enq_burst(vq, pkts, n, ofl, &cur, sum,
			pk_enq_reserve_plain, true);
	else
		done = enq_burst(vq, pkts, n, ofl, &cur, sum,
			vhu_pk_enq_reserve_len, true);
	vq->last_avail = cur.pk.idx;
	vq->avail_wrap = pk_pos_wrap(&cur.pk);
	return done;
}
