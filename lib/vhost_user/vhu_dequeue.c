/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Dequeue: guest TX virtqueue -> mbufs.
 *
 A burst counts the chains the guest made available, takes as many mbufs
 * in bulk, then takes the chains one after the other through the stages
 * (vhu_ring.h, deq_chains()):
 *
 *   deq_fetch_*() fetch + translate: the chain's descriptors read once,
 *                 its buffers as host segments, its virtio-net header
 *                 checked (when a dequeue offload was negotiated: else
 *                 nothing in it is read); a malformed chain stops the
 *                 queue here (the chains before it went); a header asking
 *                 for an offload is parsed against its frame
 *                 (vhu_offload.h), and one that does not fit is a counted
 *                 drop of that frame alone
 *   deq_frame()   copy or zero-copy (the one decision: deq_zero_copy()),
 *                 and the used entry of a copied chain
 *   vhu_ring_publish()  once per burst, then the guest's notification
 *
 * Each chain is done before the next is fetched: its segments and the
 * chain's description stay in the cache and in registers (measured under
 * callgrind, fetching a batch first and copying it after cost about 20
 * instructions more per 64-byte frame).
 *
 * Zero-copy chains get their used entry when their mbufs are freed
 * (vhu_zc.c); the next burst starts by returning those. The stages after
 * the fetch are shared with packed rings (vhu_deq.h).
 */

#include "vhu_deq.h"

/* ---- translate: the offload a header asks for ---- */

/*
 * A header asking for an offload (@p hdr, a local copy): parsed against
 * the first bytes of its frame, copied out once (the guest may still
 * write them). Its result, or the reason to drop the frame, in @p c.
 * Offloads the application does not take (vq->ofl_deq) are undone:
 * a checksum is completed when the frame is copied, a TSO frame is
 * dropped (the front-end negotiated it before the application said).
 */
void __rte_noinline
vhu_deq_offload(const struct vhu_vq *vq, struct deq_chain *c,
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

/* ---- fetch + translate ---- */

/* The chain at @p cur into @p c; @p ofl: its header may ask for an
 * offload (deq_header_ofl). */
static __rte_always_inline int
deq_fetch_as(struct vhu_vq *vq, const struct deq_cursor *cur,
	struct deq_chain *c, bool ofl)
{
	struct vring_desc d;
	uint32_t nsegs = 0;
	uint64_t total;
	int rc;

	if (cur->taken >= cur->pending)
		return WALK_EMPTY;
	rc = ring_head(vq, cur->taken, &c->id);
	if (unlikely(rc != WALK_OK))
		return rc;
	c->ndesc = 1;
	c->seg0 = 0;
	ring_desc(vq, c->id, &d);
	if (likely(chain_single(vq, &d, 0, vq->hdr_len, &vq->segs[0]))) {
		total = d.len;
		nsegs = 1;
	} else {
		rc = vhu_chain_walk(vq, c->id, &d, false, &nsegs, VHU_MAX_SEGS,
			&total, 0);
		if (rc == WALK_SEGS_FULL)
			rc = VHU_MAL_CHAIN_LONG;
		if (rc != WALK_OK)
			return rc;
	}
	c->seg_end = (uint16_t)nsegs;
	return deq_header_ofl(vq, c, total, ofl);
}

/* deq_fetch_t of a queue with a dequeue offload negotiated */
static __rte_always_inline int
deq_fetch_ofl(struct vhu_vq *vq, const struct deq_cursor *cur,
	struct deq_chain *c)
{
	return deq_fetch_as(vq, cur, c, true);
}

/* deq_fetch_t of a queue without: headers are not read */
static __rte_always_inline int
deq_fetch_plain(struct vhu_vq *vq, const struct deq_cursor *cur,
	struct deq_chain *c)
{
	return deq_fetch_as(vq, cur, c, false);
}

/* ---- the burst ---- */

/* Up to @p n frames of a split ring. */
static uint16_t
deq_split(struct vhu_vq *vq, struct rte_mempool *mp, struct rte_mbuf **pkts,
	uint16_t n, struct deq_sum *sum)
{
	struct deq_cursor cur = { .pending = ring_avail(vq, n) };
	uint16_t k, nm;

	if (cur.pending == 0)
		return 0;
	nm = deq_alloc(vq, mp, pkts, cur.pending);
	/* Whether headers are read is decided once per burst (two instances
	 * of the chain loop): most front-ends negotiate no dequeue offload
	 * (measured under callgrind, README: ~10 instructions per frame). */
	if (vq->ofl_features & VHU_OFL_DEQ_FEATURES)
		k = deq_chains(vq, mp, pkts, nm, &cur, sum, deq_fetch_ofl,
			false);
	else
		k = deq_chains(vq, mp, pkts, nm, &cur, sum, deq_fetch_plain,
			false);
	vq->last_avail += cur.taken;
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
	struct rte_mbuf **out;
	struct vhu_vq *vq;
	uint16_t cnt = 0;

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
	/* pkts may be NULL when n == 0 */
	out = n > cnt ? &pkts[cnt] : NULL;
	if (vq->packed)
		cnt += vhu_pk_dequeue(vq, mp, out, n - cnt, &sum);
	else
		cnt += deq_split(vq, mp, out, n - cnt, &sum);
	/* before any chain taken here is published */
	if (unlikely(vq->infl != NULL))
		vhu_infl_take(vq);
	deq_finish(vq, &sum);
	vq_leave(vq);
	return cnt;
}
