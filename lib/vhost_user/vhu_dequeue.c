/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Dequeue: guest TX virtqueue -> mbufs.
 *
 * A burst takes the guest's chains in batches of up to VHU_BATCH, each
 * batch through the stages in turn (vhu_ring.h):
 *
 *   deq_fetch()   fetch + translate: the chain's descriptors read once,
 *                 its buffers as host segments, its virtio-net header
 *                 checked; a malformed chain stops the queue here, before
 *                 any frame of the batch is copied; a header asking for
 *                 an offload is parsed against its frame (vhu_offload.h),
 *                 and one that does not fit is a counted drop of that
 *                 frame alone
 *   deq_frame()   copy or zero-copy (the one decision: deq_zero_copy()),
 *                 and the used entry of a copied chain
 *   vhu_ring_publish()  once per burst, then the guest's notification
 *
 * Zero-copy chains get their used entry when their mbufs are freed
 * (vhu_zc.c); the next burst starts by returning those.
 */

#include "vhu_offload.h"
#include "vhu_ring.h"
#include "vhu_zc.h"

/* A chain of the batch, fetched and translated. */
struct deq_chain {
	uint16_t id;		/* head index: what its used entry returns */
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

/*
 * A header asking for an offload (@p hdr, a local copy): parsed against
 * the first bytes of its frame, copied out once (the guest may still
 * write them). Its result, or the reason to drop the frame, in @p c.
 * Offloads the application does not take (vq->ofl_deq) are undone:
 * a checksum is completed when the frame is copied, a TSO frame is
 * dropped (the front-end negotiated it before the application said).
 */
static void __rte_noinline
deq_offload(const struct vhu_vq *vq, struct deq_chain *c,
	const struct vhu_net_hdr *hdr)
{
	struct vhu_seg_cursor src = {
		.seg = &vq->segs[c->seg0 + c->data_seg], .off = c->data_off,
	};
	uint8_t frame[VHU_OFL_HDR_MAX];
	uint32_t seen = RTE_MIN(c->len, VHU_OFL_HDR_MAX);
	uint64_t take = __atomic_load_n(&vq->ofl_deq, __ATOMIC_RELAXED), l4;
	int rc;

	vhu_gather(&src, frame, seen);
	rc = vhu_ofl_tx_parse(hdr, frame, seen, c->len, vq->ofl_features,
		&c->ofl);
	if (rc == VHU_OFL_OK && (c->ofl.ol_flags & RTE_MBUF_F_TX_TCP_SEG) &&
			!(take & RTE_MBUF_F_TX_TCP_SEG))
		rc = VHU_MAL_HDR_FIELDS;
	l4 = c->ofl.ol_flags & RTE_MBUF_F_TX_L4_MASK;
	if (rc == VHU_OFL_OK && c->ofl.kind == VHU_OFL_TX_L4 &&
			(take & l4) != l4) {
		c->ofl.kind = VHU_OFL_TX_SW_CSUM;
		c->ofl.csum_start = hdr->csum_start;
		c->ofl.csum_offset = hdr->csum_offset;
		c->ofl.priv_len = (uint16_t)(hdr->csum_start +
			hdr->csum_offset + 2);
	}
	/* the bytes rewritten must be in the first mbuf */
	if (rc == VHU_OFL_OK && c->ofl.priv_len > vq->deq_room)
		rc = DEQ_DROP_ROOM;
	c->bad = (int8_t)rc;
}

/*
 * Check a TX virtio-net header (its first 10 bytes, read once, from
 * guest memory or from the caller's copy). Nearly every frame asks for
 * nothing; the others go to deq_offload().
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
	deq_offload(vq, c, &hdr);
}

/* A header over two segments: gathered once into @p buf; where the frame
 * starts after it. */
static const uint8_t *
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
 * and find where the frame starts. */
static __rte_always_inline int
deq_header(const struct vhu_vq *vq, struct deq_chain *c, uint64_t total)
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
	tx_hdr_check(vq, c, h);
	return WALK_OK;
}

/* ---- fetch + translate ---- */

/* Chain @p k of the burst into @p c, its segments from vq->segs[*nsegs].
 * Returns WALK_OK, WALK_SEGS_FULL (no room left in this batch) or the
 * malformed reason. */
static __rte_always_inline int
deq_translate(struct vhu_vq *vq, uint16_t k, struct deq_chain *c,
	uint32_t *nsegs)
{
	uint32_t room = RTE_MIN(*nsegs + VHU_MAX_SEGS, VHU_SEGS_SCRATCH);
	struct vring_desc d;
	uint64_t total;
	int rc;

	if (unlikely(*nsegs >= VHU_SEGS_SCRATCH))
		return WALK_SEGS_FULL;
	rc = ring_head(vq, k, &c->id);
	if (unlikely(rc != WALK_OK))
		return rc;
	ring_desc(vq, c->id, &d);
	c->seg0 = (uint16_t)*nsegs;
	if (likely(chain_single(vq, &d, 0, vq->hdr_len, &vq->segs[*nsegs]))) {
		total = d.len;
		(*nsegs)++;
	} else {
		rc = vhu_chain_walk(vq, c->id, &d, false, nsegs, room, &total, 0);
		if (rc == WALK_SEGS_FULL && room - c->seg0 == VHU_MAX_SEGS)
			rc = VHU_MAL_CHAIN_LONG;
		if (rc != WALK_OK)
			return rc;
	}
	c->seg_end = (uint16_t)*nsegs;
	return deq_header(vq, c, total);
}

/* Fetch and translate up to @p n chains; a malformed one stops the queue
 * (the chains before it still go). Returns how many are ready. */
static uint16_t
deq_fetch(struct vhu_vq *vq, struct deq_chain *ch, uint16_t n)
{
	uint32_t nsegs = 0;
	uint16_t k;
	int rc = WALK_OK;

	for (k = 0; k < n; k++) {
		rc = deq_translate(vq, k, &ch[k], &nsegs);
		if (unlikely(rc != WALK_OK))
			break;
	}
	if (rc >= 0)
		vhu_vq_fault(vq, (enum vhu_malformed)rc);
	return k;
}

/* ---- copy or zero-copy ---- */

/* Copy the frame of @p c into @p head, a fresh mbuf, chaining more mbufs
 * from @p mp when it is longer than the room of one. On failure the
 * extra mbufs are freed and @p head is bare again. */
static bool
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
	struct rte_mbuf *m, struct deq_sum *sum)
{
	uint32_t pieces;

	if (deq_zero_copy(vq, c, &pieces)) {
		if (!zc_attach(vq, mp, m, c->id, vq->segs,
				c->seg0 + c->data_seg, c->data_off, c->seg_end,
				pieces))
			return false;
		sum->zc++;
	} else {
		if (!deq_copy(vq, mp, c, m))
			return false;
		ring_used(vq, sum->used++, c->id, 0);
		sum->copied++;
		if (unlikely(c->ofl.kind != VHU_OFL_TX_NONE))
			vhu_ofl_tx_apply(m, &c->ofl);
	}
	m->port = vq->mbuf_port;
	sum->bytes += c->len;
	return true;
}

/* ---- the burst ---- */

/* @p n mbufs from @p mp into @p pkts: in bulk, or as many as there are. */
static uint16_t
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

/* One batch of up to VHU_BATCH chains through the stages; returns how
 * many frames it put into @p pkts. */
static uint16_t
deq_batch(struct vhu_vq *vq, struct rte_mempool *mp, struct rte_mbuf **pkts,
	uint16_t n, struct deq_sum *sum)
{
	struct deq_chain ch[VHU_BATCH];
	uint16_t nb, nm, i, k = 0;

	nb = deq_fetch(vq, ch, n);
	if (nb == 0)
		return 0;
	nm = deq_alloc(vq, mp, pkts, nb);
	for (i = 0; i < nb; i++) {
		if (unlikely(ch[i].bad != VHU_OFL_OK)) {
			/* the chain goes back unread; its frame is dropped */
			ring_used(vq, sum->used++, ch[i].id, 0);
			if (ch[i].bad != DEQ_DROP_ROOM)
				VHU_STAT_ADD(vq, malformed[ch[i].bad], 1);
			sum->dropped++;
			continue;
		}
		if (k == nm)
			break;	/* deq_alloc() counted it */
		if (unlikely(!deq_frame(vq, mp, &ch[i], pkts[k], sum))) {
			VHU_STAT_ADD(vq, mbuf_alloc_failed, 1);
			break;
		}
		k++;
	}
	if (unlikely(k < nm))
		rte_pktmbuf_free_bulk(&pkts[k], nm - k);
	vq->last_avail += i;
	return k;
}

static void
build_rarp(struct rte_mbuf *m, const uint8_t mac[6])
{
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);

	memset(p, 0, 60);
	memset(p, 0xff, 6);		/* broadcast */
	memcpy(p + 6, mac, 6);
	p[12] = 0x80;			/* ethertype RARP 0x8035 */
	p[13] = 0x35;
	p[14] = 0x00;			/* hardware type Ethernet */
	p[15] = 0x01;
	p[16] = 0x08;			/* protocol IPv4 */
	p[17] = 0x00;
	p[18] = 6;			/* hardware address length */
	p[19] = 4;			/* protocol address length */
	p[20] = 0x00;			/* op 3: reverse request */
	p[21] = 0x03;
	memcpy(p + 22, mac, 6);		/* sender hardware address */
	memcpy(p + 32, mac, 6);		/* target hardware address */
	m->data_len = 60;
	m->pkt_len = 60;
}

/* After SEND_RARP: the RARP frame, first on queue pair 0. */
static uint16_t
deq_rarp(struct vhu_dev *dev, struct vhu_vq *vq, struct rte_mempool *mp,
	struct rte_mbuf **out)
{
	struct rte_mbuf *m;

	if (likely(!__atomic_load_n(&dev->rarp_pending, __ATOMIC_RELAXED)) ||
			!__atomic_exchange_n(&dev->rarp_pending, 0,
				__ATOMIC_ACQUIRE))
		return 0;
	m = rte_pktmbuf_alloc(mp);
	if (m == NULL || rte_pktmbuf_tailroom(m) < 60) {
		rte_pktmbuf_free(m);
		__atomic_store_n(&dev->rarp_pending, 1, __ATOMIC_RELAXED);
		return 0;
	}
	build_rarp(m, dev->rarp_mac);
	m->port = vq->mbuf_port;
	*out = m;
	VHU_STAT_ADD(vq, rarp_sent, 1);
	return 1;
}

/* Count the burst; publish its used entries. */
static __rte_always_inline void
deq_finish(struct vhu_vq *vq, const struct deq_sum *sum)
{
	if (sum->used > 0)
		vhu_ring_publish(vq, sum->used);
	if (unlikely(sum->dropped > 0))
		VHU_STAT_ADD(vq, drops, sum->dropped);
	if (sum->zc > 0)
		__atomic_fetch_add(&((struct vhu_memtab *)(uintptr_t)vq->mt)->zc_refs,
			sum->zc, __ATOMIC_RELAXED);
	if (sum->zc + sum->copied > 0) {
		VHU_STAT_ADD(vq, packets, sum->zc + sum->copied);
		VHU_STAT_ADD(vq, bytes, sum->bytes);
		VHU_STAT_ADD(vq, zc_packets, sum->zc);
		VHU_STAT_ADD(vq, copied_packets, sum->copied);
	}
	/* With EVENT_IDX, a sleeper's request to be kicked moves along. */
	if (vq->notify_on && vq->event_idx)
		vhu_ring_want_kick(vq);
}

uint16_t
vhu_dequeue_burst(struct vhu_dev *dev, uint16_t queue_pair,
	struct rte_mempool *mp, struct rte_mbuf **pkts, uint16_t n)
{
	struct deq_sum sum = {0};
	struct vhu_vq *vq;
	uint16_t cnt = 0, left, want, got;

	if (unlikely(dev == NULL || queue_pair >= dev->nr_qp || mp == NULL ||
			(pkts == NULL && n > 0)))
		return 0;
	vq = &dev->vqs[2 * queue_pair + 1];
	if (!vq_enter(vq))
		return 0;
	vq->deq_room = RTE_MAX(rte_pktmbuf_data_room_size(mp),
		(uint16_t)RTE_PKTMBUF_HEADROOM) - RTE_PKTMBUF_HEADROOM;
	if (vq->cring != NULL && zc_completion_waiting(vq))
		vhu_vq_zc_drain(vq, true);
	if (queue_pair == 0 && n > 0)
		cnt = deq_rarp(dev, vq, mp, pkts);
	left = ring_avail(vq, n - cnt);
	do {
		want = RTE_MIN(left, (uint16_t)VHU_BATCH);
		got = want > 0 ? deq_batch(vq, mp, &pkts[cnt], want, &sum) : 0;
		cnt += got;
		left -= got;
	} while (got == want && left > 0);
	deq_finish(vq, &sum);
	vq_leave(vq);
	return cnt;
}
