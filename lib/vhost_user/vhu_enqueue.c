/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Enqueue: mbufs -> guest RX virtqueue.
 *
 A burst takes the frames one after the other through the stages
 * (vhu_ring.h, vhu_enq.h's enq_frame()):
 *
 *   enq_reserve_len()  fetch + translate: the guest buffers the frame
 *                 needs (one chain, or several with MRG_RXBUF), read once
 *                 and translated into host segments; a malformed chain
 *                 stops the queue here (the frames before it went)
 *   enq_copy()    the virtio-net header and the frame into the buffers,
 *                 then their used entries (one per buffer chain)
 *   vhu_ring_publish()  once per burst, then the guest's notification
 *
 * The common reservation, one buffer for the whole frame, never leaves
 * the stack (struct enq_frame); reserving a batch first and copying it
 * after cost about 80 instructions more per 64-byte frame (callgrind).
 *
 * A frame asking for an offload the application enabled (an mbuf TX
 * flag in vq->ofl_enq; a burst of an application that enabled none
 * does not look) goes through vhu_enq_offload(): the header the guest
 * gets, or the work done for it (vhu_offload.h), then the same reserve,
 * copy and publish stages, in either ring format.
 *
 * Every copy is dirty-logged while the front-end migrates. The stages
 * after the fetch are shared with packed rings (vhu_enq.h).
 */

#include "vhu_enq.h"
#include "vhu_offload.h"

/* ---- fetch + translate ---- */

/*
 * The general case: chains of several descriptors, indirect tables,
 * buffers across regions, frames merged over several chains (MRG_RXBUF),
 * into vq->heads and vq->segs from 0. A frame too long for the buffers
 * is dropped and the buffers stay for the next one.
 */
static int
enq_reserve_chains(struct vhu_vq *vq, uint32_t need, uint16_t head,
	const struct vring_desc *d0, struct enq_frame *f, struct enq_cursor *cur)
{
	uint32_t nsegs = 0, nheads = 0;
	struct vring_desc d = *d0;
	uint64_t cap = 0, clen = 0;
	int rc;

	while (cap < need) {
		if (nheads >= VHU_MAX_SEGS)
			return RES_DROP;
		if (nheads > 0) {
			if (cur->taken + nheads >= cur->pending)
				return RES_FULL;
			rc = ring_head(vq, (uint16_t)(cur->taken + nheads), &head);
			if (rc != WALK_OK)
				return rc;
			ring_desc(vq, head, &d);
		}
		rc = vhu_chain_walk(vq, head, &d, true, &nsegs, VHU_MAX_SEGS,
			&clen, (uint16_t)nheads);
		if (rc == WALK_SEGS_FULL)
			rc = nheads == 0 ? (int)VHU_MAL_CHAIN_LONG : RES_DROP;
		if (rc != WALK_OK)
			return rc;
		if (nheads == 0 && clen < vq->hdr_len)
			return VHU_MAL_CHAIN_SHORT;
		vq->heads[nheads] = (struct vhu_head){
			.id = head,
			.cap = (uint32_t)RTE_MIN(clen, (uint64_t)UINT32_MAX),
			.ndesc = 1,
		};
		nheads++;
		cap += clen;
		if (!vq->mrg)
			break;
	}
	return enq_reserved(vq, cap, need, nheads, nsegs, f, cur);
}

/* Reserve the guest buffers for a frame of @p plen bytes: WALK_OK, a RES_
 * value or the malformed reason. The common case, one buffer that holds
 * the header and the whole frame, is done here. */
static __rte_always_inline int
enq_reserve_len(struct vhu_vq *vq, uint32_t plen, struct enq_frame *f,
	struct enq_cursor *cur)
{
	uint32_t need = vq->hdr_len + plen;
	struct vring_desc d;
	uint16_t head;
	int rc;

	if (unlikely(plen == 0 || plen > VHU_MAX_FRAME_LEN))
		return RES_DROP;
	if (unlikely(cur->taken >= cur->pending))
		return RES_FULL;
	rc = ring_head(vq, cur->taken, &head);
	if (unlikely(rc != WALK_OK))
		return rc;
	ring_desc(vq, head, &d);
	if (unlikely(!chain_single(vq, &d, VRING_DESC_F_WRITE, need - 1,
			&f->one)))
		return enq_reserve_chains(vq, need, head, &d, f, cur);
	return enq_reserved_one(f, cur, head, 1);
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

/* Are @p want more chains available after what @p cur reserved? (Each
 * frame of a plan takes one at least; the reservation checks them
 * again.) */
static bool
enq_chains_avail(const struct vhu_vq *vq, const struct enq_cursor *cur,
	uint32_t want)
{
	if (vq->packed)
		return vhu_pk_chains_avail(vq, cur->pk, want) >= want;
	return want <= (uint32_t)(cur->pending - cur->taken);
}

/*
 * Frame @p k of @p plan into its own guest buffers: reserve, copy (the
 * guest's header, the plan's header run, the mbuf's bytes), publish.
 * Returns WALK_OK, a RES_ value or the malformed reason.
 */
static int
enq_plan_frame(struct vhu_vq *vq, const struct rte_mbuf *m,
	const struct vhu_ofl_rx *plan, uint32_t k, struct enq_cursor *cur,
	struct enq_sum *sum)
{
	struct vhu_seg_cursor dst = { .seg = vq->segs };
	uint8_t hdrs[VHU_OFL_HDR_MAX];
	struct vhu_net_hdr hdr = plan->hdr;
	struct enq_frame f;
	uint32_t flen, off, len;
	int rc;

	flen = vhu_ofl_rx_frame(m, plan, k, hdrs, &off, &len);
	cur->nheads = 0;
	cur->nsegs = 0;
	rc = vq->packed ? vhu_pk_enq_reserve_len(vq, flen, &f, cur) :
		enq_reserve_len(vq, flen, &f, cur);
	if (rc != WALK_OK)
		return rc;
	if (f.nheads == 0)
		enq_frame_spill(vq, &f);
	hdr.num_buffers = vq->mrg ? f.nheads : 1;
	scatter(vq, &dst, &vq->segs[f.seg_end], (const uint8_t *)&hdr,
		vq->hdr_len);
	scatter(vq, &dst, &vq->segs[f.seg_end], hdrs, plan->hdr_bytes);
	scatter_mbuf(vq, &dst, &vq->segs[f.seg_end], m, off, len);
	enq_publish(vq, f.nheads, sum);
	return WALK_OK;
}

/*
 * Frame @p m, which asks for an offload (mbuf flags in @p honoured), to
 * the guest: as it is with the header saying what is left to do when
 * the guest negotiated it, else completed or cut into MSS-sized frames.
 * Returns WALK_OK (delivered), RES_DROP (metadata that does not fit the
 * frame), RES_FULL (the ring lacks the buffers: not consumed) or
 * RES_STOP (a ring that failed mid-frame: a counted drop).
 */
int __rte_noinline
vhu_enq_offload(struct vhu_vq *vq, const struct rte_mbuf *m,
	uint64_t honoured, struct enq_cursor *cur, struct enq_sum *sum)
{
	struct vhu_ofl_rx plan;
	uint32_t k;
	int rc;

	/* the IP version flags come with any offload */
	rc = vhu_ofl_rx_plan(m, vq->ofl_features, honoured |
		RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IPV6, vq->size, &plan);
	if (rc != VHU_OFL_OK)
		return RES_DROP;
	/* each frame takes at least one chain: all of them, or none */
	if (!enq_chains_avail(vq, cur, vhu_ofl_rx_frames(&plan)))
		return RES_FULL;
	for (k = 0; k < vhu_ofl_rx_frames(&plan); k++) {
		rc = enq_plan_frame(vq, m, &plan, k, cur, sum);
		if (rc == WALK_OK)
			continue;
		if (rc >= 0)
			vhu_vq_fault(vq, (enum vhu_malformed)rc);
		else if (rc == RES_FULL)
			sum->full = true;
		/* the rest of the frame is lost: not one frame delivered */
		sum->drops++;
		return RES_STOP;
	}
	sum->delivered++;
	sum->bytes += m->pkt_len;
	return WALK_OK;
}

/* ---- the burst ---- */

/* Up to @p n frames into a split ring; how many consumed. */
static uint16_t
enq_split(struct vhu_vq *vq, struct rte_mbuf *const *pkts, uint16_t n,
	uint64_t ofl, struct enq_sum *sum)
{
	struct enq_cursor cur = { .pending = ring_avail(vq, UINT16_MAX) };
	uint16_t done;

	/* ring_avail() may have stopped the queue */
	if (unlikely(!__atomic_load_n(&vq->ready, __ATOMIC_RELAXED)))
		return 0;
	done = enq_burst(vq, pkts, n, ofl, &cur, sum, enq_reserve_len, false);
	vq->last_avail += cur.taken;
	return done;
}

uint16_t
vhu_enqueue_burst(struct vhu_dev *dev, uint16_t queue_pair,
	struct rte_mbuf *const *pkts, uint16_t n)
{
	struct enq_sum sum = {0};
	struct vhu_vq *vq;
	uint16_t done;
	uint64_t ofl;

	if (unlikely(dev == NULL || queue_pair >= dev->nr_qp || pkts == NULL ||
			n == 0))
		return 0;
	vq = &dev->vqs[2 * queue_pair];
	if (!vq_enter(vq))
		return 0;
	ofl = __atomic_load_n(&vq->ofl_enq, __ATOMIC_RELAXED);
	if (vq->packed)
		done = vhu_pk_enqueue(vq, pkts, n, ofl, &sum);
	else
		done = enq_split(vq, pkts, n, ofl, &sum);
	/* before any chain taken here is published */
	if (unlikely(vq->infl != NULL))
		vhu_infl_take(vq);
	enq_finish(vq, &sum);
	vq_leave(vq);
	return done;
}
