/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dequeue stages both ring formats share (vhu_dequeue.c: split,
 * vhu_packed_dequeue.c: packed): checking a chain's virtio-net header and
 * the offload it asks for (vhu_offload.h), copy or zero-copy of its frame,
 * used entries of copied chains and of dropped ones, the loop over a
 * burst's chains. Only the fetch of a chain is the format's.
 */

#ifndef VMLINK_VHU_DEQ_H
#define VMLINK_VHU_DEQ_H

#include "vhu_offload.h"
#include "vhu_packed.h"
#include "vhu_zc.h"

/* A chain of the burst, fetched and translated. */
struct deq_chain {
	uint16_t id;		/* head index / buffer id: what its used
				 * entry returns */
	uint16_t ndesc;		/* packed: ring descriptors it took */
	uint16_t seg0;		/* its segments: vq->segs[seg0, seg_end) */
	uint16_t seg_end;
	uint16_t data_seg;	/* the frame starts after the header, here */
	uint16_t data_off;
	uint32_t len;		/* frame bytes, without the header */
	int8_t bad;		/* VHU_OFL_OK, or why its header is dropped */
	struct vhu_ofl_tx ofl;	/* kind NONE: no offload asked */
};

/* What a burst did, counted once at its end. */
struct deq_sum {
	uint16_t used;		/* used entries written (copied chains) */
	uint32_t dropped;	/* chains returned unread: bad offload header */
	uint32_t zc;
	uint32_t copied;
	uint64_t bytes;
};

/* ---- translate: the header ---- */

/* deq_chain.bad: dropped, but no fault of the guest (mbufs too small
 * for the header bytes an offload rewrites) */
#define DEQ_DROP_ROOM	VHU_MAL_NUM

/* vhu_dequeue.c: the offload a header (@p hdr, a local copy) asks for,
 * parsed against its frame, or the reason to drop it, into @p c. */
void vhu_deq_offload(const struct vhu_vq *vq, struct deq_chain *c,
	const struct vhu_net_hdr *hdr);

/*
 * Check a TX virtio-net header (its first 10 bytes, read once, from
 * guest memory or from the caller's copy). Nearly every frame asks for
 * nothing; the others go to vhu_deq_offload().
 */
static __rte_always_inline void
tx_hdr_check(const struct vhu_vq *vq, struct deq_chain *c, const uint8_t *h)
{
	struct vhu_net_hdr hdr;

	memcpy(&hdr, h, VHU_NET_HDR_LEN_LEGACY);
	c->bad = VHU_OFL_OK;
	c->ofl.kind = VHU_OFL_TX_NONE;
	if (likely(!(hdr.flags & VHU_NET_HDR_F_NEEDS_CSUM) &&
			hdr.gso_type == VHU_NET_HDR_GSO_NONE))
		return;
	vhu_deq_offload(vq, c, &hdr);
}

/* A header over two segments: gathered once into @p buf; where the frame
 * starts after it. */
static inline const uint8_t *
hdr_gather(const struct vhu_vq *vq, struct deq_chain *c, uint8_t *buf)
{
	const struct vhu_seg *s = &vq->segs[c->seg0];
	uint32_t first = s[0].len;

	memcpy(buf, s[0].hva, first);
	memcpy(buf + first, s[1].hva, vq->hdr_len - first);
	c->data_seg = 1;
	c->data_off = (uint16_t)(vq->hdr_len - first);
	return buf;
}

/* Validate the chain's header and length (@p total bytes in its buffers)
 * and find where the frame starts. @p ofl: a dequeue offload was
 * negotiated (VHU_OFL_DEQ_FEATURES), so the header may ask for one;
 * without, nothing in it is read (a constant per burst). */
static __rte_always_inline int
deq_header_ofl(const struct vhu_vq *vq, struct deq_chain *c, uint64_t total,
	bool ofl)
{
	const struct vhu_seg *s = &vq->segs[c->seg0];
	uint8_t buf[VHU_NET_HDR_LEN];
	const uint8_t *h = s[0].hva;

	if (unlikely(total <= vq->hdr_len))
		return VHU_MAL_CHAIN_SHORT;
	if (unlikely(total - vq->hdr_len > VHU_MAX_FRAME_LEN))
		return VHU_MAL_FRAME_LEN;
	c->len = (uint32_t)(total - vq->hdr_len);
	c->data_seg = 0;
	c->data_off = vq->hdr_len;
	if (unlikely(s[0].len < vq->hdr_len)) {
		if (hdr_segments(s, c->seg_end - c->seg0, vq->hdr_len) > 2)
			return VHU_MAL_HDR_SPLIT;
		h = hdr_gather(vq, c, buf);
	}
	if (c->data_off == s[c->data_seg].len) {
		c->data_seg++;
		c->data_off = 0;
	}
	if (ofl) {
		tx_hdr_check(vq, c, h);
	} else {
		c->bad = VHU_OFL_OK;
		c->ofl.kind = VHU_OFL_TX_NONE;
	}
	return WALK_OK;
}

/* ---- copy or zero-copy ---- */

/* Copy the frame of @p c into @p head, a fresh mbuf, chaining more mbufs
 * from @p mp when it is longer than the room of one. On failure the
 * extra mbufs are freed and @p head is bare again. */
static inline bool
copy_chained(const struct vhu_vq *vq, struct rte_mempool *mp,
	struct rte_mbuf *head, const struct deq_chain *c)
{
	struct vhu_seg_cursor src = {
		.seg = &vq->segs[c->seg0 + c->data_seg], .off = c->data_off,
	};
	struct rte_mbuf *cur = head;
	uint32_t left = c->len;

	while (left > 0) {
		uint32_t n = RTE_MIN((uint32_t)rte_pktmbuf_tailroom(cur), left);

		if (n == 0) {
			struct rte_mbuf *m = rte_pktmbuf_alloc(mp);

			if (m == NULL || head->nb_segs == UINT16_MAX ||
					rte_pktmbuf_tailroom(m) == 0) {
				rte_pktmbuf_free(m);
				rte_pktmbuf_free(head->next);
				head->next = NULL;
				head->nb_segs = 1;
				head->data_len = 0;
				return false;
			}
			cur->next = m;
			cur = m;
			head->nb_segs++;
			continue;
		}
		vhu_gather(&src, rte_pktmbuf_mtod_offset(cur, uint8_t *,
			cur->data_len), n);
		cur->data_len += n;
		left -= n;
	}
	head->pkt_len = c->len;
	return true;
}

/* The copy stage: the frame of @p c into @p m (a fresh mbuf). */
static __rte_always_inline bool
deq_copy(const struct vhu_vq *vq, struct rte_mempool *mp,
	const struct deq_chain *c, struct rte_mbuf *m)
{
	const struct vhu_seg *s = &vq->segs[c->seg0 + c->data_seg];

	if (likely(c->seg0 + c->data_seg + 1 == c->seg_end &&
			c->len <= rte_pktmbuf_tailroom(m))) {
		copy_bytes(rte_pktmbuf_mtod(m, void *), s->hva + c->data_off,
			c->len);
		m->data_len = (uint16_t)c->len;
		m->pkt_len = c->len;
		return true;
	}
	return copy_chained(vq, mp, m, c);
}

/* The one zero-copy-or-copy decision: zero-copy when enabled, the frame
 * is long enough, a slot is free and the view needs few enough mbufs. */
static __rte_always_inline bool
deq_zero_copy(struct vhu_vq *vq, const struct deq_chain *c, uint32_t *pieces)
{
	/* an offload rewrites header bytes: in memory of our own */
	if (!vq->zc || c->len < vq->copy_threshold ||
			c->ofl.kind != VHU_OFL_TX_NONE)
		return false;
	if (vq->nfree == 0) {
		VHU_STAT_ADD(vq, zc_budget_copies, 1);
		return false;
	}
	*pieces = zc_pieces(vq->segs, c->seg0 + c->data_seg, c->data_off,
		c->seg_end);
	return *pieces <= VHU_ZC_MAX_SEGS;
}

/* Copy or attach the frame of @p c into @p m; a copied chain is done, its
 * used entry written. False when mbufs ran out. */
static __rte_always_inline bool
deq_frame(struct vhu_vq *vq, struct rte_mempool *mp, const struct deq_chain *c,
	struct rte_mbuf *m, struct deq_sum *sum, bool packed)
{
	uint32_t pieces;

	if (deq_zero_copy(vq, c, &pieces)) {
		if (!zc_attach(vq, mp, m, c->id, c->ndesc, vq->segs,
				c->seg0 + c->data_seg, c->data_off, c->seg_end,
				pieces))
			return false;
		sum->zc++;
	} else {
		if (!deq_copy(vq, mp, c, m))
			return false;
		vq_used_as(vq, packed, sum->used++, c->id, 0, c->ndesc);
		sum->copied++;
		if (unlikely(c->ofl.kind != VHU_OFL_TX_NONE))
			vhu_ofl_tx_apply(m, &c->ofl);
	}
	m->port = vq->mbuf_port;
	sum->bytes += c->len;
	return true;
}

/* ---- mbufs ---- */

/* @p n mbufs from @p mp into @p pkts: in bulk, or as many as there are. */
static __rte_always_inline uint16_t
deq_alloc(struct vhu_vq *vq, struct rte_mempool *mp, struct rte_mbuf **pkts,
	uint16_t n)
{
	uint16_t k;

	if (likely(rte_pktmbuf_alloc_bulk(mp, pkts, n) == 0))
		return n;
	for (k = 0; k < n; k++) {
		pkts[k] = rte_pktmbuf_alloc(mp);
		if (pkts[k] == NULL)
			break;
	}
	VHU_STAT_ADD(vq, mbuf_alloc_failed, 1);
	return k;
}

/* Where the burst is in the ring. */
struct deq_cursor {
	uint16_t pending;	/* split: chains available after last_avail */
	uint16_t taken;		/* of which the burst consumed */
	struct vhu_pk_pos pk;	/* packed: where the next chain starts */
};

/* The format's fetch + translate of the chain at @p cur into @p c, its
 * segments from vq->segs[0] (the cursor does not move): WALK_OK,
 * WALK_EMPTY (no more chains) or the malformed reason. */
typedef int (*deq_fetch_t)(struct vhu_vq *vq, const struct deq_cursor *cur,
	struct deq_chain *c);

/* A chain whose header is dropped goes back unread: its used entry, a
 * counted drop. */
static inline void
deq_drop(struct vhu_vq *vq, const struct deq_chain *c, struct deq_sum *sum)
{
	vq_used(vq, sum->used++, c->id, 0, c->ndesc);
	if (c->bad != DEQ_DROP_ROOM)
		VHU_STAT_ADD(vq, malformed[c->bad], 1);
	sum->dropped++;
}

/*
 * Up to @p nm frames into @p pkts (fresh mbufs), chain after chain
 * through the stages: fetch + translate (@p fetch), then copy or attach
 * (a chain whose header is dropped goes back unread), and the cursor
 * moves past it (@p packed: the ring's format, a constant). Stops at the
 * end of the chains, at a malformed one (the queue stops; the chains
 * before it went) or when mbufs run out. Returns how many mbufs hold a
 * frame.
 */
static __rte_always_inline uint16_t
deq_chains(struct vhu_vq *vq, struct rte_mempool *mp, struct rte_mbuf **pkts,
	uint16_t nm, struct deq_cursor *cur, struct deq_sum *sum,
	deq_fetch_t fetch, bool packed)
{
	struct deq_chain c;
	uint16_t k = 0;
	int rc = WALK_OK;

	while (k < nm) {
		rc = fetch(vq, cur, &c);
		if (unlikely(rc != WALK_OK))
			break;
		if (unlikely(c.bad != VHU_OFL_OK))
			deq_drop(vq, &c, sum);
		else if (likely(deq_frame(vq, mp, &c, pkts[k], sum, packed)))
			k++;
		else {
			/* the chain stays in the ring for the next burst */
			if (packed && vq->infl != NULL)
				vhu_infl_pk_untake(vq, c.id);
			VHU_STAT_ADD(vq, mbuf_alloc_failed, 1);
			break;
		}
		cur->taken++;
		if (packed)
			pk_advance(vq, &cur->pk, c.ndesc);
	}
	if (rc >= 0)
		vhu_vq_fault(vq, (enum vhu_malformed)rc);
	if (unlikely(k < nm))
		rte_pktmbuf_free_bulk(&pkts[k], nm - k);
	return k;
}

/* vhu_packed_dequeue.c: up to @p n frames of a packed ring. */
uint16_t vhu_pk_dequeue(struct vhu_vq *vq, struct rte_mempool *mp,
	struct rte_mbuf **pkts, uint16_t n, struct deq_sum *sum);

#endif /* VMLINK_VHU_DEQ_H */
