/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Enqueue: mbufs -> guest RX virtqueue.
 *
 * A burst takes the frames in batches of up to VHU_BATCH, each batch
 * through the stages in turn (vhu_ring.h):
 *
 *   enq_fetch()   fetch + translate: for each frame, the guest buffers it
 *                 needs (one chain, or several with MRG_RXBUF), read once
 *                 and translated into host segments; a malformed chain
 *                 stops the queue here, before any frame is copied
 *   enq_copy()    the virtio-net header and the frame into the segments
 *   enq_publish() the used entries (one per buffer chain)
 *   vhu_ring_publish()  once per burst, then the guest's notification
 *
 * A frame asking for an offload the application enabled (an mbuf TX
 * flag in vq->ofl_enq) ends the batch and goes alone through
 * enq_offload(): the header the guest gets, or the work done for it
 * (vhu_offload.h), then the same reserve, copy and publish stages, in
 * either ring format.
 *
 * Every copy is dirty-logged while the front-end migrates. The stages
 * after the fetch are shared with packed rings (vhu_enq.h).
 */

#include "vhu_enq.h"
#include "vhu_offload.h"

/* ---- fetch + translate ---- */

/*
 * The general case: chains of several descriptors, indirect tables,
 * buffers across regions, frames merged over several chains (MRG_RXBUF).
 * Chains go after vq->heads[cur->nheads], their segments after
 * vq->segs[cur->nsegs]. A frame too long for the buffers is dropped and
 * the buffers stay for the next one.
 */
static int
enq_reserve_chains(struct vhu_vq *vq, uint32_t need, uint16_t head,
	const struct vring_desc *d0, struct enq_frame *f, struct enq_cursor *cur)
{
	uint32_t seg_room = RTE_MIN(cur->nsegs + VHU_MAX_SEGS, VHU_SEGS_SCRATCH);
	uint32_t room = RTE_MIN(VHU_SEGS_SCRATCH - cur->nheads, VHU_MAX_SEGS);
	bool whole = seg_room - cur->nsegs == VHU_MAX_SEGS &&
		room == VHU_MAX_SEGS;
	uint32_t nsegs = cur->nsegs, nheads = 0;
	struct vring_desc d = *d0;
	uint64_t cap = 0, clen = 0;
	int rc;

	while (cap < need) {
		if (nheads >= room)
			return whole ? RES_DROP : RES_NO_ROOM;
		if (nheads > 0) {
			if (cur->taken + nheads >= cur->pending)
				return RES_FULL;
			rc = ring_head(vq, (uint16_t)(cur->taken + nheads), &head);
			if (rc != WALK_OK)
				return rc;
			ring_desc(vq, head, &d);
		}
		rc = vhu_chain_walk(vq, head, &d, true, &nsegs, seg_room, &clen,
			(uint16_t)(cur->nheads + nheads));
		if (rc == WALK_SEGS_FULL && whole)
			rc = nheads == 0 ? (int)VHU_MAL_CHAIN_LONG : RES_DROP;
		if (rc != WALK_OK)
			return rc;
		if (nheads == 0 && clen < vq->hdr_len)
			return VHU_MAL_CHAIN_SHORT;
		vq->heads[cur->nheads + nheads] = (struct vhu_head){
			.id = head,
			.cap = (uint32_t)RTE_MIN(clen, (uint64_t)UINT32_MAX),
			.ndesc = 1,
		};
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
	return WALK_OK;
}

/* Reserve the guest buffers for a frame of @p plen bytes: WALK_OK, a RES_
 * value or the malformed reason. The common case, one buffer that holds
 * the header and the whole frame, is done here. */
static __rte_always_inline int
enq_reserve_len(struct vhu_vq *vq, uint32_t plen, struct enq_frame *f,
	struct enq_cursor *cur)
{
	uint32_t need = vq->hdr_len + plen;
	struct vhu_seg *s = &vq->segs[cur->nsegs];
	struct vring_desc d;
	uint16_t head;
	int rc;

	f->head0 = (uint16_t)cur->nheads;
	f->seg0 = (uint16_t)cur->nsegs;
	f->nheads = 0;
	if (unlikely(plen == 0 || plen > VHU_MAX_FRAME_LEN))
		return RES_DROP;
	if (unlikely(cur->taken >= cur->pending))
		return RES_FULL;
	if (unlikely(cur->nsegs >= VHU_SEGS_SCRATCH ||
			cur->nheads >= VHU_SEGS_SCRATCH))
		return RES_NO_ROOM;
	rc = ring_head(vq, cur->taken, &head);
	if (unlikely(rc != WALK_OK))
		return rc;
	ring_desc(vq, head, &d);
	if (unlikely(!chain_single(vq, &d, VRING_DESC_F_WRITE, need - 1, s)))
		return enq_reserve_chains(vq, need, head, &d, f, cur);
	s->head = f->head0;
	vq->heads[f->head0] = (struct vhu_head){
		.id = head, .cap = d.len, .ndesc = 1,
	};
	prefetch_w(s->hva);
	f->nheads = 1;
	f->seg_end = f->seg0 + 1;
	cur->nheads++;
	cur->nsegs++;
	cur->taken++;
	return WALK_OK;
}

/* Reserve the guest buffers for frame @p m (enq_reserve_len()). */
static __rte_always_inline int
enq_reserve(struct vhu_vq *vq, const struct rte_mbuf *m, struct enq_frame *f,
	struct enq_cursor *cur)
{
	int rc = enq_reserve_len(vq, m->pkt_len, f, cur);

	if (likely(rc == WALK_OK))
		rte_prefetch0(rte_pktmbuf_mtod(m, const void *));
	return rc;
}

/* ---- offloads ---- */

/* Write @p len bytes of mbuf chain @p m from offset @p off. */
static void
scatter_mbuf(struct vhu_vq *vq, struct vhu_seg_cursor *dst,
	const struct vhu_seg *end, const struct rte_mbuf *m, uint32_t off,
	uint32_t len)
{
	for (; m != NULL && len > 0; m = m->next) {
		uint32_t n = m->data_len;

		if (off >= n) {
			off -= n;
			continue;
		}
		n = RTE_MIN(n - off, len);
		scatter(vq, dst, end,
			rte_pktmbuf_mtod_offset(m, const uint8_t *, off), n);
		off = 0;
		len -= n;
	}
}

/* Where the next chain of the ring starts (@p pending: split chains
 * available after last_avail). */
static inline struct enq_cursor
enq_cursor_at(const struct vhu_vq *vq, uint16_t pending)
{
	return (struct enq_cursor){
		.pending = pending,
		.pk = { vq->last_avail, vq->avail_wrap },
	};
}

/* The ring moves past what @p cur reserved. */
static inline void
enq_consume(struct vhu_vq *vq, const struct enq_cursor *cur,
	uint16_t *pending)
{
	if (vq->packed) {
		vq->last_avail = cur->pk.idx;
		vq->avail_wrap = cur->pk.wrap;
	} else {
		vq->last_avail += cur->taken;
		*pending -= cur->taken;
	}
}

/* Are @p want chains available? (Each frame of a plan takes one at
 * least; the reservation checks them again.) */
static bool
enq_chains_avail(const struct vhu_vq *vq, uint16_t pending, uint32_t want)
{
	if (vq->packed)
		return vhu_pk_chains_avail(vq, (struct vhu_pk_pos){
			vq->last_avail, vq->avail_wrap }, want) >= want;
	return want <= pending;
}

/*
 * Frame @p k of @p plan into its own guest buffers: reserve, copy (the
 * guest's header, the plan's header run, the mbuf's bytes), publish.
 * Returns WALK_OK, a RES_ value or the malformed reason.
 */
static int
enq_plan_frame(struct vhu_vq *vq, const struct rte_mbuf *m,
	const struct vhu_ofl_rx *plan, uint32_t k, uint16_t *pending,
	struct enq_sum *sum)
{
	struct enq_cursor cur = enq_cursor_at(vq, *pending);
	struct vhu_seg_cursor dst;
	uint8_t hdrs[VHU_OFL_HDR_MAX];
	struct vhu_net_hdr hdr = plan->hdr;
	struct enq_frame f;
	uint32_t flen, off, len;
	int rc;

	flen = vhu_ofl_rx_frame(m, plan, k, hdrs, &off, &len);
	rc = vq->packed ? vhu_pk_enq_reserve_len(vq, flen, &f, &cur) :
		enq_reserve_len(vq, flen, &f, &cur);
	if (rc != WALK_OK)
		return rc;
	dst = (struct vhu_seg_cursor){ .seg = &vq->segs[f.seg0] };
	hdr.num_buffers = vq->mrg ? f.nheads : 1;
	scatter(vq, &dst, &vq->segs[f.seg_end], (const uint8_t *)&hdr,
		vq->hdr_len);
	scatter(vq, &dst, &vq->segs[f.seg_end], hdrs, plan->hdr_bytes);
	scatter_mbuf(vq, &dst, &vq->segs[f.seg_end], m, off, len);
	enq_publish(vq, cur.nheads, sum);
	enq_consume(vq, &cur, pending);
	return WALK_OK;
}

/*
 * Frame @p m, which asks for an offload (mbuf flags in @p honoured), to
 * the guest: as it is with the header saying what is left to do when
 * the guest negotiated it, else completed or cut into MSS-sized frames.
 * Returns false when the ring lacks the buffers (not consumed); metadata
 * that does not fit the frame is a counted drop.
 */
static bool __rte_noinline
enq_offload(struct vhu_vq *vq, const struct rte_mbuf *m, uint64_t honoured,
	uint16_t *pending, struct enq_sum *sum)
{
	struct vhu_ofl_rx plan;
	uint32_t k;
	int rc;

	/* the IP version flags come with any offload */
	rc = vhu_ofl_rx_plan(m, vq->ofl_features, honoured |
		RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IPV6, vq->size, &plan);
	if (rc != VHU_OFL_OK) {
		sum->drops++;
		return true;
	}
	/* each frame takes at least one chain: all of them, or none */
	if (!enq_chains_avail(vq, *pending, vhu_ofl_rx_frames(&plan))) {
		sum->full = true;
		return false;
	}
	for (k = 0; k < vhu_ofl_rx_frames(&plan); k++) {
		rc = enq_plan_frame(vq, m, &plan, k, pending, sum);
		if (rc == WALK_OK)
			continue;
		if (rc >= 0)
			vhu_vq_fault(vq, (enum vhu_malformed)rc);
		else if (rc == RES_FULL)
			sum->full = true;
		/* the rest of the frame is lost: not one frame delivered */
		sum->drops++;
		return true;
	}
	sum->delivered++;
	sum->bytes += m->pkt_len;
	return true;
}

/* ---- the burst ---- */

/* One batch of up to VHU_BATCH frames through the stages; returns how
 * many it consumed. */
static uint16_t
enq_batch(struct vhu_vq *vq, struct rte_mbuf *const *pkts, uint16_t n,
	uint64_t ofl, uint16_t *pending, struct enq_sum *sum)
{
	struct enq_frame fr[VHU_BATCH];
	struct enq_cursor cur = { .pending = *pending };
	uint16_t nb;

	nb = enq_fetch(vq, pkts, n, ofl, fr, &cur, sum, enq_reserve);
	enq_fill(vq, pkts, fr, nb, &cur, sum);
	vq->last_avail += cur.taken;
	*pending -= cur.taken;
	return nb;
}

/* Up to @p n frames, batch after batch in the ring's format; a frame
 * asking for an offload the application enabled (@p ofl) goes alone. */
static uint16_t
enq_frames(struct vhu_vq *vq, struct rte_mbuf *const *pkts, uint16_t n,
	uint64_t ofl, uint16_t pending, struct enq_sum *sum)
{
	uint16_t done = 0, want, got;

	while (done < n) {
		if (unlikely(pkts[done]->ol_flags & ofl)) {
			if (!enq_offload(vq, pkts[done], ofl, &pending, sum))
				break;
			done++;
			if (sum->full ||
				__atomic_load_n(&vq->fault, __ATOMIC_RELAXED))
				break;
			continue;
		}
		want = RTE_MIN((uint16_t)(n - done), (uint16_t)VHU_BATCH);
		sum->at_offload = false;
		if (vq->packed)
			got = vhu_pk_enq_batch(vq, &pkts[done], want, ofl, sum);
		else
			got = enq_batch(vq, &pkts[done], want, ofl, &pending,
				sum);
		done += got;
		if (got < want && !sum->at_offload)
			break;
	}
	return done;
}

uint16_t
vhu_enqueue_burst(struct vhu_dev *dev, uint16_t queue_pair,
	struct rte_mbuf *const *pkts, uint16_t n)
{
	struct enq_sum sum = {0};
	struct vhu_vq *vq;
	uint16_t done = 0, pending = 0;
	uint64_t ofl;

	if (unlikely(dev == NULL || queue_pair >= dev->nr_qp || pkts == NULL ||
			n == 0))
		return 0;
	vq = &dev->vqs[2 * queue_pair];
	if (!vq_enter(vq))
		return 0;
	if (!vq->packed)
		pending = ring_avail(vq, UINT16_MAX);
	ofl = __atomic_load_n(&vq->ofl_enq, __ATOMIC_RELAXED);
	/* ring_avail() may have stopped the queue */
	if (likely(__atomic_load_n(&vq->ready, __ATOMIC_RELAXED)))
		done = enq_frames(vq, pkts, n, ofl, pending, &sum);
	/* before any chain taken here is published */
	if (unlikely(vq->infl != NULL))
		vhu_infl_take(vq);
	enq_finish(vq, &sum);
	vq_leave(vq);
	return done;
}
