/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Frames both ways through split rings built in shared memory, with and
 * without MRG_RXBUF, INDIRECT_DESC and EVENT_IDX; every byte and counter.
 */

#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "vhu_test.h"
#include "vhu_cases.h"

#define MiB (1ull << 20)
#define BIT(n) (1ull << (n))

int
case_tx_copy(void)
{
	static const uint32_t lens[] = { 60, 64, 1514, 2000, 3000, 9000 };
	const unsigned int n = RTE_DIM(lens);
	struct tb t;
	uint8_t f[6][9000];
	int heads[6];
	struct rte_mbuf *m[32];
	struct rte_mempool *tiny;
	struct vhu_queue_stats s;
	uint64_t bytes = 0;
	uint32_t id, len;
	unsigned int i;
	uint16_t got;

	tb_init(&t);
	TRY(tb_start(&t));
	for (i = 0; i < n; i++) {
		make_frame(f[i], lens[i], i);
		heads[i] = fe_tx_frame(&t.fe, 1, NULL, 12, f[i], lens[i], 1,
			false, false);
		bytes += lens[i];
	}
	got = vhu_dequeue_burst(t.dev, 0, t_mp, m, 32);
	CHECK(got == n, "dequeued %u", got);
	for (i = 0; i < n; i++) {
		CHECK(mbuf_equals(m[i], f[i], lens[i]), "frame %u", i);
		CHECK(!RTE_MBUF_HAS_EXTBUF(m[i]), "copy mode gave extbuf");
	}
	CHECK(m[4]->nb_segs == 2 && m[5]->nb_segs == 5, "chained mbufs %u %u",
		m[4]->nb_segs, m[5]->nb_segs);
	rte_pktmbuf_free_bulk(m, n);
	for (i = 0; i < n; i++)
		CHECK(fe_used_get(&t.fe.vq[1], &id, &len) == 1 &&
			id == (uint32_t)heads[i] && len == 0, "used %u", i);
	s = qstats(t.dev, 0, VHU_DEQ);
	CHECK(s.packets == n && s.bytes == bytes && s.copied_packets == n &&
		s.zc_packets == 0, "counters %lu %lu", (unsigned long)s.packets,
		(unsigned long)s.bytes);
	CHECK(s.notify_sent == 1 && s.notify_suppressed == 0,
		"one notification per burst: %lu/%lu",
		(unsigned long)s.notify_sent,
		(unsigned long)s.notify_suppressed);
	CHECK(fe_eventfd_read(t.fe.vq[1].callfd) == 1, "call eventfd");

	/* Small data room: a 1514-byte frame becomes a chain of 6. */
	make_frame(f[0], 1514, 77);
	fe_tx_frame(&t.fe, 1, NULL, 12, f[0], 1514, 3, true, false);
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp_small, m, 4) == 1, "small pool");
	CHECK(m[0]->nb_segs == 6 && mbuf_equals(m[0], f[0], 1514),
		"small chain %u", m[0]->nb_segs);
	rte_pktmbuf_free(m[0]);

	/* Mempool exhaustion: frames stay in the ring until mbufs return. */
	tiny = rte_pktmbuf_pool_create("vhu_tiny", 7, 0, 0,
		RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	CHECK(tiny != NULL, "tiny pool");
	for (i = 0; i < 10; i++) {
		make_frame(f[0], 100, 200 + i);
		fe_tx_frame(&t.fe, 1, NULL, 12, f[0], 100, 1, false, false);
	}
	got = vhu_dequeue_burst(t.dev, 0, tiny, m, 32);
	CHECK(got == 7, "tiny pool gave %u", got);
	CHECK(qstats(t.dev, 0, VHU_DEQ).mbuf_alloc_failed == 1, "alloc failed");
	rte_pktmbuf_free_bulk(m, got);
	got = vhu_dequeue_burst(t.dev, 0, tiny, m, 32);
	CHECK(got == 3, "rest %u", got);
	for (i = 0; i < 3; i++) {
		make_frame(f[0], 100, 207 + i);
		CHECK(mbuf_equals(m[i], f[0], 100), "late frame %u", i);
	}
	rte_pktmbuf_free_bulk(m, got);
	rte_mempool_free(tiny);
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_tx_chains(void)
{
	struct tb t;
	struct fe_vring *v;
	uint8_t f[1000];
	struct rte_mbuf *m[2];
	uint64_t h, d;
	unsigned int nseg;

	tb_init(&t);
	t.cfg.port_id = 7;	/* the library stamps it (docs/mbufs.md) */
	TRY(tb_start(&t));
	v = &t.fe.vq[1];
	make_frame(f, sizeof(f), 5);
	/* Header alone, data in 4 pieces. */
	fe_tx_frame(&t.fe, 1, NULL, 12, f, sizeof(f), 4, true, false);
	/* Header split over two descriptors (7 + 5 bytes). */
	fe_tx_frame(&t.fe, 1, NULL, 12, f, 100, 16, false, false);
	/* Up to 17 descriptors. */
	for (nseg = 1; nseg <= 16; nseg++)
		fe_tx_frame(&t.fe, 1, NULL, 12, f, 512, nseg, true, false);
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 1) == 1, "4 pieces");
	CHECK(mbuf_equals(m[0], f, sizeof(f)), "4 pieces content");
	CHECK(m[0]->port == 7, "port %u", m[0]->port);
	rte_pktmbuf_free(m[0]);
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 1) == 1, "split header");
	CHECK(mbuf_equals(m[0], f, 100), "split header content");
	rte_pktmbuf_free(m[0]);
	for (nseg = 1; nseg <= 16; nseg++) {
		CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 1) == 1, "nseg %u",
			nseg);
		CHECK(mbuf_equals(m[0], f, 512), "nseg %u content", nseg);
		rte_pktmbuf_free(m[0]);
	}
	/* A zero-length descriptor at a valid address is skipped. */
	h = fe_alloc(&t.fe, 12, 64);
	d = fe_alloc(&t.fe, 200, 64);
	memset(fe_va(&t.fe, h), 0, 12);
	memcpy(fe_va(&t.fe, d), f, 200);
	fe_desc(v, 100, h, 12, VRING_DESC_F_NEXT, 101);
	fe_desc(v, 101, d + 50, 0, VRING_DESC_F_NEXT, 102);
	fe_desc(v, 102, d, 200, 0, 0);
	fe_avail_add(v, 100);
	fe_avail_publish(v);
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 2) == 1, "zero-length desc");
	CHECK(mbuf_equals(m[0], f, 200), "zero-length desc content");
	rte_pktmbuf_free(m[0]);
	CHECK(qstats(t.dev, 0, VHU_DEQ).packets == 19, "packets");
	{
		struct vhu_queue_stats s = qstats(t.dev, 0, VHU_DEQ);

		CHECK(malformed_total(&s) == 0 && s.faults == 0, "faults");
	}
	tb_destroy(&t);
	return tb_check_fds(&t);
}

/* Enqueue one mbuf; return its used entry. */
static int
enq_one(struct tb *t, uint16_t qp, struct rte_mempool *mp, const uint8_t *f,
	uint32_t len, uint16_t *ret)
{
	struct rte_mbuf *m = mk_mbuf(mp, f, len);

	CHECK(m != NULL, "mbuf");
	*ret = vhu_enqueue_burst(t->dev, qp, &m, 1);
	rte_pktmbuf_free(m);
	return 0;
}

static int
check_rx(struct tb *t, unsigned int vqi, int head, const uint8_t *f,
	uint32_t len, uint32_t hl, uint16_t nbuf)
{
	uint8_t got[9100];
	struct vhu_net_hdr h;
	uint32_t id, ulen;

	CHECK(fe_used_get(&t->fe.vq[vqi], &id, &ulen) == 1, "no used entry");
	CHECK(id == (uint32_t)head && ulen == len + hl, "used {%u,%u} want {%d,%u}",
		id, ulen, head, len + hl);
	TRY(fe_rx_read(&t->fe, vqi, (uint16_t)head, got, ulen));
	memset(&h, 0xff, sizeof(h));
	memcpy(&h, got, hl);
	CHECK(h.flags == 0 && h.gso_type == 0 && h.hdr_len == 0 &&
		h.gso_size == 0 && h.csum_start == 0 && h.csum_offset == 0,
		"header fields");
	if (hl == 12)
		CHECK(h.num_buffers == nbuf, "num_buffers %u", h.num_buffers);
	CHECK(memcmp(got + hl, f, len) == 0, "content");
	return 0;
}

int
case_rx_basic(void)
{
	static const uint32_t lens[] = { 60, 1514, 1000, 2036 };
	struct tb t;
	uint8_t f[4][2048];
	struct rte_mbuf *m[4];
	int heads[4], h;
	struct vhu_queue_stats s;
	uint16_t r;
	unsigned int i;

	tb_init(&t);
	t.o.features &= ~BIT(VHU_F_NET_MRG_RXBUF);
	TRY(tb_start(&t));
	for (i = 0; i < 4; i++) {
		heads[i] = fe_rx_post(&t.fe, 0, 2048, 1, false);
		make_frame(f[i], lens[i], 30 + i);
		m[i] = mk_mbuf(t_mp, f[i], lens[i]);
	}
	CHECK(vhu_enqueue_burst(t.dev, 0, m, 4) == 4, "enqueue 4");
	rte_pktmbuf_free_bulk(m, 4);
	for (i = 0; i < 4; i++)
		TRY(check_rx(&t, 0, heads[i], f[i], lens[i], 12, 1));
	CHECK(fe_eventfd_read(t.fe.vq[0].callfd) == 1, "one call per burst");

	/* Too big for the buffer (no MRG_RXBUF): consumed, dropped, and the
	 * buffer stays for the next frame. */
	h = fe_rx_post(&t.fe, 0, 1000, 1, false);
	TRY(enq_one(&t, 0, t_mp, f[1], 1514, &r));
	CHECK(r == 1, "oversize not consumed");
	CHECK(qstats(t.dev, 0, VHU_ENQ).drops == 1, "drop counted");
	CHECK(fe_used_idx(&t.fe.vq[0]) == 4, "oversize used a buffer");
	TRY(enq_one(&t, 0, t_mp, f[2], 500, &r));
	CHECK(r == 1, "enqueue after drop");
	TRY(check_rx(&t, 0, h, f[2], 500, 12, 1));

	/* No buffer: nothing consumed. */
	TRY(enq_one(&t, 0, t_mp, f[0], 60, &r));
	CHECK(r == 0, "enqueue without buffers returned %u", r);
	CHECK(qstats(t.dev, 0, VHU_ENQ).ring_full == 1, "ring_full");

	/* Chained source mbuf into a 3-descriptor chain. */
	h = fe_rx_post(&t.fe, 0, 600, 3, false);
	TRY(enq_one(&t, 0, t_mp_small, f[1], 1514, &r));
	CHECK(r == 1, "chained source");
	TRY(check_rx(&t, 0, h, f[1], 1514, 12, 1));

	/* pkt_len, not the segments, bounds what is copied. */
	h = fe_rx_post(&t.fe, 0, 2048, 1, false);
	m[0] = mk_mbuf(t_mp, f[1], 100);
	m[0]->pkt_len = 60;
	CHECK(vhu_enqueue_burst(t.dev, 0, m, 1) == 1, "short pkt_len");
	rte_pktmbuf_free(m[0]);
	TRY(check_rx(&t, 0, h, f[1], 60, 12, 1));

	s = qstats(t.dev, 0, VHU_ENQ);
	CHECK(s.packets == 7 && s.bytes == 60 + 1514 + 1000 + 2036 + 500 + 1514 + 60 &&
		s.drops == 1 && s.copied_packets == 7 && s.faults == 0,
		"counters %lu %lu", (unsigned long)s.packets,
		(unsigned long)s.bytes);
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_rx_mrg(void)
{
	struct tb t;
	uint8_t f[3000], got[3100];
	struct rte_mbuf *m[3];
	int heads[12];
	uint32_t id, len, off = 0;
	struct vhu_net_hdr h;
	unsigned int i;
	uint16_t r;

	tb_init(&t);
	TRY(tb_start(&t));
	CHECK(t.fe.features & BIT(VHU_F_NET_MRG_RXBUF), "MRG_RXBUF");
	for (i = 0; i < 8; i++)
		heads[i] = fe_rx_post(&t.fe, 0, 512, 1, false);
	/* 1514 + 12 = 1526 bytes: 512 + 512 + 502 over three buffers. */
	make_frame(f, 1514, 9);
	TRY(enq_one(&t, 0, t_mp, f, 1514, &r));
	CHECK(r == 1, "enqueue");
	for (i = 0; i < 3; i++) {
		CHECK(fe_used_get(&t.fe.vq[0], &id, &len) == 1, "used %u", i);
		CHECK(id == (uint32_t)heads[i] && len == (i < 2 ? 512u : 502u),
			"used {%u,%u}", id, len);
		TRY(fe_rx_read(&t.fe, 0, (uint16_t)id, got + off, len));
		off += len;
	}
	memcpy(&h, got, 12);
	CHECK(h.num_buffers == 3, "num_buffers %u", h.num_buffers);
	CHECK(memcmp(got + 12, f, 1514) == 0, "merged content");
	/* Small frame: one buffer. */
	make_frame(f, 60, 10);
	TRY(enq_one(&t, 0, t_mp, f, 60, &r));
	TRY(check_rx(&t, 0, heads[3], f, 60, 12, 1));
	/* 3000 bytes need 6 buffers, only 4 left: not consumed. */
	make_frame(f, 3000, 11);
	TRY(enq_one(&t, 0, t_mp, f, 3000, &r));
	CHECK(r == 0, "partial merge consumed");
	CHECK(qstats(t.dev, 0, VHU_ENQ).ring_full == 1, "ring_full");
	for (i = 8; i < 10; i++)
		heads[i] = fe_rx_post(&t.fe, 0, 512, 1, false);
	TRY(enq_one(&t, 0, t_mp_small, f, 3000, &r));
	CHECK(r == 1, "merge after refill");
	off = 0;
	for (i = 4; i < 10; i++) {
		CHECK(fe_used_get(&t.fe.vq[0], &id, &len) == 1, "used %u", i);
		CHECK(id == (uint32_t)heads[i], "order");
		TRY(fe_rx_read(&t.fe, 0, (uint16_t)id, got + off, len));
		off += len;
	}
	CHECK(off == 3012, "total %u", off);
	memcpy(&h, got, 12);
	CHECK(h.num_buffers == 6 && memcmp(got + 12, f, 3000) == 0, "3000");
	/* Burst where only the first frames fit. */
	for (i = 0; i < 2; i++)
		fe_rx_post(&t.fe, 0, 2048, 1, false);
	for (i = 0; i < 3; i++)
		m[i] = mk_mbuf(t_mp, f, 1500);
	r = vhu_enqueue_burst(t.dev, 0, m, 3);
	rte_pktmbuf_free_bulk(m, 3);
	CHECK(r == 2, "burst gave %u", r);
	CHECK(qstats(t.dev, 0, VHU_ENQ).packets == 5, "packets");
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_indirect_both(void)
{
	struct tb t;
	uint8_t f[1514];
	struct rte_mbuf *m[2];
	int h;
	uint16_t r;

	tb_init(&t);
	TRY(tb_start(&t));
	CHECK(t.fe.features & BIT(VHU_F_RING_INDIRECT_DESC), "INDIRECT_DESC");
	make_frame(f, sizeof(f), 21);
	fe_tx_frame(&t.fe, 1, NULL, 12, f, sizeof(f), 3, true, true);
	fe_tx_frame(&t.fe, 1, NULL, 12, f, 80, 1, false, true);
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 2) == 2, "indirect tx");
	CHECK(mbuf_equals(m[0], f, sizeof(f)) && mbuf_equals(m[1], f, 80),
		"indirect tx content");
	rte_pktmbuf_free_bulk(m, 2);
	h = fe_rx_post(&t.fe, 0, 800, 2, true);
	TRY(enq_one(&t, 0, t_mp, f, sizeof(f), &r));
	CHECK(r == 1, "indirect rx");
	TRY(check_rx(&t, 0, h, f, sizeof(f), 12, 1));
	tb_destroy(&t);
	return tb_check_fds(&t);
}

static void
set_used_event(struct fe_vring *v, uint16_t ev)
{
	__atomic_store_n(&v->avail->ring[v->size], ev, __ATOMIC_RELEASE);
}

int
case_event_idx(void)
{
	struct tb t;
	struct fe_vring *v;
	struct rte_mbuf *m[3];
	struct vhu_queue_stats s;
	uint8_t f[100];
	unsigned int i;

	tb_init(&t);
	TRY(tb_start(&t));
	CHECK(t.fe.features & BIT(VHU_F_RING_EVENT_IDX), "EVENT_IDX");
	v = &t.fe.vq[0];
	make_frame(f, sizeof(f), 1);
	for (i = 0; i < 6; i++)
		fe_rx_post(&t.fe, 0, 2048, 1, false);
	set_used_event(v, 0);
	m[0] = mk_mbuf(t_mp, f, 100);
	CHECK(vhu_enqueue_burst(t.dev, 0, m, 1) == 1, "1");	/* 0 -> 1: crosses 0 */
	CHECK(vhu_enqueue_burst(t.dev, 0, m, 1) == 1, "2");	/* 1 -> 2: no */
	set_used_event(v, 4);
	m[1] = m[0];
	m[2] = m[0];
	CHECK(vhu_enqueue_burst(t.dev, 0, m, 3) == 3, "3");	/* 2 -> 5: crosses 4 */
	set_used_event(v, 100);
	CHECK(vhu_enqueue_burst(t.dev, 0, m, 1) == 1, "4");	/* 5 -> 6: no */
	rte_pktmbuf_free(m[0]);
	s = qstats(t.dev, 0, VHU_ENQ);
	CHECK(s.notify_sent == 2 && s.notify_suppressed == 2,
		"sent %lu suppressed %lu", (unsigned long)s.notify_sent,
		(unsigned long)s.notify_suppressed);
	CHECK(fe_eventfd_read(v->callfd) == 2, "eventfd count");

	/* Same on the TX completion side. */
	set_used_event(&t.fe.vq[1], 1);
	TRY(tx_roundtrip(&t, 0, 60));	/* used 0 -> 1: no (event 1) */
	TRY(tx_roundtrip(&t, 0, 60));	/* used 1 -> 2: crosses 1 */
	s = qstats(t.dev, 0, VHU_DEQ);
	CHECK(s.notify_sent == 1 && s.notify_suppressed == 1, "tx sent %lu",
		(unsigned long)s.notify_sent);
	CHECK(fe_eventfd_read(t.fe.vq[1].callfd) == 1, "tx eventfd");
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_no_interrupt(void)
{
	struct tb t;
	struct fe_vring *v;
	struct vhu_queue_stats s;

	tb_init(&t);
	t.o.features &= ~BIT(VHU_F_RING_EVENT_IDX);
	TRY(tb_start(&t));
	v = &t.fe.vq[0];
	v->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	TRY(rx_roundtrip(&t, 0, 80));
	TRY(rx_roundtrip(&t, 0, 80));
	v->avail->flags = 0;
	TRY(rx_roundtrip(&t, 0, 80));
	s = qstats(t.dev, 0, VHU_ENQ);
	CHECK(s.notify_sent == 1 && s.notify_suppressed == 2, "sent %lu sup %lu",
		(unsigned long)s.notify_sent, (unsigned long)s.notify_suppressed);
	CHECK(fe_eventfd_read(v->callfd) == 1, "eventfd");
	/* Polling: the back-end asked the guest not to kick. */
	CHECK(t.fe.vq[1].used->flags == VRING_USED_F_NO_NOTIFY &&
		v->used->flags == VRING_USED_F_NO_NOTIFY, "NO_NOTIFY not set");
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_region_crossing(void)
{
	struct tb t;
	struct fe_vring *tx, *rx;
	uint8_t f[1500], got[2100];
	struct rte_mbuf *m[2];
	uint64_t b;
	uint32_t id, len;
	unsigned int k;
	uint16_t r;

	for (k = 0; k < 2; k++) {	/* copy, then zero-copy */
		tb_init(&t);
		t.cfg.zero_copy = k == 1;
		t.cfg.copy_threshold = 0;
		CHECK(fe_mem_add(&t.fe, 0, 2 * MiB, 0, true) == 0, "region 0");
		CHECK(fe_mem_add(&t.fe, 2 * MiB, 2 * MiB, 0, true) == 1, "region 1");
		t.fe.alloc_next = 0x1000;
		t.fe.alloc_end = 1 * MiB;
		TRY(tb_start(&t));
		tx = &t.fe.vq[1];
		rx = &t.fe.vq[0];
		/* One descriptor whose buffer starts 700 bytes before the end of
		 * region 0 and goes on in region 1. */
		make_frame(f, sizeof(f), 33);
		b = 2 * MiB - 700;
		{
			uint8_t tmp[1512];

			memset(tmp, 0, 12);
			memcpy(tmp + 12, f, sizeof(f));
			memcpy(fe_va(&t.fe, b), tmp, 700);
			memcpy(fe_va(&t.fe, 2 * MiB), tmp + 700, 812);
		}
		fe_desc(tx, 0, b, 1512, 0, 0);
		fe_avail_add(tx, 0);
		fe_avail_publish(tx);
		CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 2) == 1, "tx");
		CHECK(mbuf_equals(m[0], f, sizeof(f)), "tx content across regions");
		if (k == 1)
			CHECK(RTE_MBUF_HAS_EXTBUF(m[0]) && m[0]->nb_segs == 2,
				"zero-copy split in %u", m[0]->nb_segs);
		rte_pktmbuf_free(m[0]);
		/* RX buffer across the boundary. */
		b = 2 * MiB - 300;
		fe_desc(rx, 0, b, 2048, VRING_DESC_F_WRITE, 0);
		fe_avail_add(rx, 0);
		fe_avail_publish(rx);
		TRY(enq_one(&t, 0, t_mp, f, 1000, &r));
		CHECK(r == 1, "rx");
		CHECK(fe_used_get(rx, &id, &len) == 1 && id == 0 && len == 1012,
			"rx used");
		memcpy(got, fe_va(&t.fe, b), 300);
		memcpy(got + 300, fe_va(&t.fe, 2 * MiB), 712);
		CHECK(memcmp(got + 12, f, 1000) == 0, "rx content across regions");
		tb_destroy(&t);
		TRY(tb_check_fds(&t));
	}
	return 0;
}

int
case_notify_enable(void)
{
	struct tb t;
	struct fe_vring *v;
	struct pollfd p;
	uint64_t one = 1;
	uint16_t *avail_event;
	int kfd;
	unsigned int k;

	for (k = 0; k < 2; k++) {	/* without, then with EVENT_IDX */
		tb_init(&t);
		if (k == 0)
			t.o.features &= ~BIT(VHU_F_RING_EVENT_IDX);
		TRY(tb_start(&t));
		v = &t.fe.vq[1];
		avail_event = (uint16_t *)(void *)&v->used->ring[v->size];
		kfd = vhu_queue_kickfd(t.dev, 0);
		CHECK(kfd >= 0, "no kick fd");
		CHECK(vhu_queue_notify(t.dev, 0, true) == 0, "empty ring pending");
		if (k == 0)
			CHECK(v->used->flags == 0, "NO_NOTIFY still set");
		else
			CHECK(*avail_event == 0, "avail_event %u", *avail_event);
		/* Guest adds a buffer and kicks: the kick fd wakes a sleeper. */
		TRY(tx_roundtrip(&t, 0, 60));
		if (k == 1)
			CHECK(*avail_event == 1, "avail_event not advanced: %u",
				*avail_event);
		CHECK(write(v->kickfd, &one, 8) == 8, "kick");
		p.fd = kfd;
		p.events = POLLIN;
		CHECK(poll(&p, 1, 1000) == 1, "kick fd not readable");
		CHECK(fe_eventfd_read(kfd) == 1, "kick count");
		/* Pending work is reported so the caller does not sleep. */
		fe_tx_frame(&t.fe, 1, NULL, 12, (const uint8_t *)"0123456789abcdef",
			16, 1, false, false);
		CHECK(vhu_queue_notify(t.dev, 0, true) == 1, "pending not seen");
		CHECK(poll(&p, 1, 0) == 1 && fe_eventfd_read(kfd) == 1,
			"pending work did not signal the kick fd");
		CHECK(vhu_queue_notify(t.dev, 0, false) == 0, "disable");
		if (k == 0)
			CHECK(v->used->flags == VRING_USED_F_NO_NOTIFY, "flags");
		CHECK(vhu_queue_notify(t.dev, 5, true) < 0, "bad queue");
		tb_destroy(&t);
		TRY(tb_check_fds(&t));
	}
	return 0;
}

int
case_legacy_header(void)
{
	struct tb t;
	uint8_t f[700];
	uint16_t r;
	int h;

	tb_init(&t);
	t.o.features &= ~(BIT(VHU_F_VERSION_1) | BIT(VHU_F_NET_MRG_RXBUF));
	TRY(tb_start(&t));
	make_frame(f, sizeof(f), 8);
	fe_tx_frame(&t.fe, 1, NULL, 10, f, sizeof(f), 2, true, false);
	{
		struct rte_mbuf *m[2];

		CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 2) == 1, "tx");
		CHECK(mbuf_equals(m[0], f, sizeof(f)), "10-byte header tx");
		rte_pktmbuf_free(m[0]);
	}
	h = fe_rx_post(&t.fe, 0, 1000, 1, false);
	TRY(enq_one(&t, 0, t_mp, f, sizeof(f), &r));
	CHECK(r == 1, "rx");
	TRY(check_rx(&t, 0, h, f, sizeof(f), 10, 1));
	tb_destroy(&t);
	return tb_check_fds(&t);
}
