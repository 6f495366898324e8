/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Enqueue into a packed ring: mbufs -> guest RX virtqueue.
 *
 * The same batches and stages as a split ring (vhu_enqueue.c); only the
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
	uint32_t seg_room = RTE_MIN(cur->nsegs + VHU_MAX_SEGS, VHU_SEGS_SCRATCH);
	uint32_t room = RTE_MIN(VHU_SEGS_SCRATCH - cur->nheads, VHU_MAX_SEGS);
	bool whole = seg_room - cur->nsegs == VHU_MAX_SEGS &&
		room == VHU_MAX_SEGS;
	uint32_t nsegs = cur->nsegs, nheads = 0;
	struct vhu_pk_pos pos = cur->pk;
	struct vring_packed_desc d = *d0;
	uint64_t cap = 0, clen = 0;
	int rc;

	while (cap < need) {
		if (nheads >= room)
			return whole ? RES_DROP : RES_NO_ROOM;
		if (nheads > 0 && !pk_desc_avail(vq, &pos, &d))
			return RES_FULL;
		rc = pk_enq_chain(vq, &pos, &d, &nsegs, seg_room,
			(uint16_t)(cur->nheads + nheads), &clen);
		if (rc == WALK_SEGS_FULL && whole)
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
	if (cap < need)
		return RES_DROP;
	if (hdr_segments(&vq->segs[cur->nsegs], nsegs - cur->nsegs,
			vq->hdr_len) > 2)
		return VHU_MAL_HDR_SPLIT;
	f->nheads = (uint16_t)nheads;
	f->seg_end = (uint16_t)nsegs;
	cur->nheads += nheads;
	cur->nsegs = nsegs;
	cur->taken += nheads;
	cur->pk = pos;
	return WALK_OK;
}

/* Reserve the guest buffers for a frame of @p plen bytes (see
 * enq_reserve_len() of a split ring); the common case, one descriptor
 * that holds the header and the whole frame, is done here. */
static __rte_always_inline int
pk_enq_reserve_len(struct vhu_vq *vq, uint32_t plen, struct enq_frame *f,
	struct enq_cursor *cur)
{
	uint32_t need = vq->hdr_len + plen;
	struct vhu_seg *s = &vq->segs[cur->nsegs];
	struct vring_packed_desc d;
	struct vring_desc v;

	f->head0 = (uint16_t)cur->nheads;
	f->seg0 = (uint16_t)cur->nsegs;
	f->nheads = 0;
	if (unlikely(plen == 0 || plen > VHU_MAX_FRAME_LEN))
		return RES_DROP;
	if (unlikely(cur->nsegs >= VHU_SEGS_SCRATCH ||
			cur->nheads >= VHU_SEGS_SCRATCH))
		return RES_NO_ROOM;
	if (!pk_desc_avail(vq, &cur->pk, &d))
		return RES_FULL;
	v = pk_view(&d);
	if (unlikely(d.id >= vq->size ||
			!chain_single(vq, &v, VRING_DESC_F_WRITE, need - 1, s)))
		return pk_enq_reserve_chains(vq, need, &d, f, cur);
	s->head = f->head0;
	vq->heads[f->head0] = (struct vhu_head){
		.id = d.id, .cap = d.len, .ndesc = 1,
	};
	prefetch_w(s->hva);
	f->nheads = 1;
	f->seg_end = f->seg0 + 1;
	cur->nheads++;
	cur->nsegs++;
	cur->taken++;
	pk_advance(vq, &cur->pk, 1);
	return WALK_OK;
}

int
vhu_pk_enq_reserve_len(struct vhu_vq *vq, uint32_t plen, struct enq_frame *f,
	struct enq_cursor *cur)
{
	return pk_enq_reserve_len(vq, plen, f, cur);
}

/* Reserve the guest buffers for frame @p m (pk_enq_reserve_len()). */
static __rte_always_inline int
pk_enq_reserve(struct vhu_vq *vq, const struct rte_mbuf *m,
	struct enq_frame *f, struct enq_cursor *cur)
{
	int rc = pk_enq_reserve_len(vq, m->pkt_len, f, cur);

	if (likely(rc == WALK_OK))
		rte_prefetch0(rte_pktmbuf_mtod(m, const void *));
	return rc;
}

/* ---- the burst ---- */

/* One batch of up to VHU_BATCH frames through the stages; returns how
 * many it consumed. */
uint16_t
vhu_pk_enq_batch(struct vhu_vq *vq, struct rte_mbuf *const *pkts, uint16_t n,
	uint64_t ofl, struct enq_sum *sum)
{
	struct enq_frame fr[VHU_BATCH];
	struct enq_cursor cur = {
		.pk = { vq->last_avail, vq->avail_wrap },
	};
	uint16_t nb;

	nb = enq_fetch(vq, pkts, n, ofl, fr, &cur, sum, pk_enq_reserve);
	enq_fill(vq, pkts, fr, nb, &cur, sum);
	vq->last_avail = cur.pk.idx;
	vq->avail_wrap = cur.pk.wrap;
	return nb;
}
