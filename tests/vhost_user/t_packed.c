/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Packed virtqueues (VIRTIO_F_RING_PACKED): what split rings do not have
 * (wrap counters, used elements skipping chains, event structures, the
 * packed ring base, zero-copy completions out of order) and the packed
 * twin of every hostile-guest case of t_hostile.c. The format-neutral
 * cases of the other files also run on packed rings (P() in vhu_cases.h).
 */

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vhu_test.h"
#include "vhu_cases.h"

#define MiB (1ull << 20)
#define BIT(n) (1ull << (n))
#define PK_AVAIL (1u << VRING_PACKED_DESC_F_AVAIL)
#define PK_USED (1u << VRING_PACKED_DESC_F_USED)

static int
pk_bench(struct tb *t, uint16_t ring, uint64_t drop)
{
	t_packed = true;
	tb_init(t);
	t->o.ring_size = ring;
	t->o.features &= ~drop;
	TRY(tb_start(t));
	CHECK(vhu_negotiated_features(t->dev) & BIT(VHU_F_RING_PACKED),
		"packed not negotiated");
	CHECK(t->fe.vq[0].packed && t->fe.vq[1].packed, "front-end split");
	return 0;
}

/* TX: @p n frames posted, then dequeued in one burst, checked, and their
 * used elements in order. */
static int
tx_burst(struct tb *t, unsigned int n, unsigned int nseg, uint32_t len)
{
	struct fe_vring *v = &t->fe.vq[1];
	uint8_t f[8][2000];
	struct rte_mbuf *m[8];
	int ids[8];
	uint32_t id, ulen;
	unsigned int i;

	for (i = 0; i < n; i++) {
		make_frame(f[i], len + i, i * 3 + len);
		ids[i] = fe_tx_frame(&t->fe, 1, NULL, 12, f[i], len + i, nseg,
			i & 1, false);
		CHECK(ids[i] >= 0, "post %u", i);
	}
	CHECK(vhu_dequeue_burst(t->dev, 0, t_mp, m, 8) == n, "burst");
	for (i = 0; i < n; i++) {
		CHECK(mbuf_equals(m[i], f[i], len + i), "frame %u", i);
		rte_pktmbuf_free(m[i]);
		CHECK(fe_used_get(v, &id, &ulen) == 1 && id == (uint32_t)ids[i]
			&& ulen == 0, "used %u: {%u,%u} want %d", i, id, ulen,
			ids[i]);
	}
	CHECK(fe_used_get(v, &id, &ulen) == 0, "extra used element");
	return 0;
}

/* Many times round a ring of 16: chains of 1-3 descriptors across the
 * ring's end both ways, bursts of several chains, merged RX buffers. */
int
case_pk_wrap(void)
{
	struct tb t;
	unsigned int i;

	TRY(pk_bench(&t, 16, 0));
	for (i = 0; i < 40; i++) {
		TRY(tx_roundtrip(&t, 0, 60 + 37 * i));
		TRY(rx_roundtrip(&t, 0, 1000 + 13 * i));
		/* at most 4 chains of 3 descriptors in the ring of 16 */
		TRY(tx_burst(&t, 1 + i % 4, 1 + i % 2, 100 + i));
	}
	for (i = 0; i < 20; i++) {
		uint8_t f[3000], got[3100];
		struct rte_mbuf *m;
		uint32_t id[2], len[2];
		int h[2];

		/* 3000 bytes over two chains of 2 x 1024: num_buffers 2. */
		h[0] = fe_rx_post(&t.fe, 0, 1024, 2, i & 1);
		h[1] = fe_rx_post(&t.fe, 0, 1024, 2, false);
		make_frame(f, sizeof(f), i);
		m = mk_mbuf(t_mp, f, sizeof(f));
		CHECK(vhu_enqueue_burst(t.dev, 0, &m, 1) == 1, "mrg enqueue");
		rte_pktmbuf_free(m);
		CHECK(fe_used_get(&t.fe.vq[0], &id[0], &len[0]) == 1 &&
			fe_used_get(&t.fe.vq[0], &id[1], &len[1]) == 1,
			"mrg used");
		CHECK(id[0] == (uint32_t)h[0] && id[1] == (uint32_t)h[1] &&
			len[0] == 2048 && len[1] == 3012 - 2048,
			"mrg used {%u,%u} {%u,%u}", id[0], len[0], id[1], len[1]);
		TRY(fe_rx_read(&t.fe, 0, (uint16_t)h[0], got, 2048));
		TRY(fe_rx_read(&t.fe, 0, (uint16_t)h[1], got + 2048, 964));
		CHECK(((struct vhu_net_hdr *)got)->num_buffers == 2 &&
			memcmp(got + 12, f, sizeof(f)) == 0, "mrg content");
	}
	tb_destroy(&t);
	return tb_check_fds(&t);
}

/* Notifications both ways through the event structures. */
static int
pk_events_run(bool event_idx)
{
	struct tb t;
	struct fe_vring *rx, *tx;
	struct vhu_queue_stats s;
	uint16_t next;

	TRY(pk_bench(&t, 64, event_idx ? 0 : BIT(VHU_F_RING_EVENT_IDX)));
	rx = &t.fe.vq[0];
	tx = &t.fe.vq[1];
	/* The device starts by asking for no kicks. */
	CHECK(tx->device_event->flags == VRING_PACKED_EVENT_FLAG_DISABLE,
		"initial device flags %u", tx->device_event->flags);
	rx->driver_event->flags = VRING_PACKED_EVENT_FLAG_DISABLE;
	TRY(rx_roundtrip(&t, 0, 100));
	CHECK(fe_eventfd_read(rx->callfd) == 0, "called while disabled");
	rx->driver_event->flags = VRING_PACKED_EVENT_FLAG_ENABLE;
	TRY(rx_roundtrip(&t, 0, 100));
	CHECK(fe_eventfd_read(rx->callfd) == 1, "not called while enabled");
	/* DESC: a call once the element after the next one is written
	 * (without EVENT_IDX the device treats it as ENABLE). */
	next = (uint16_t)(rx->pk_used + 1);
	rx->driver_event->off_wrap = (uint16_t)(next |
		(rx->pk_used_wrap ? 0x8000 : 0));
	rx->driver_event->flags = VRING_PACKED_EVENT_FLAG_DESC;
	TRY(rx_roundtrip(&t, 0, 100));
	CHECK(fe_eventfd_read(rx->callfd) == (event_idx ? 0 : 1),
		"first element");
	TRY(rx_roundtrip(&t, 0, 100));
	CHECK(fe_eventfd_read(rx->callfd) == 1, "element at off_wrap");
	TRY(rx_roundtrip(&t, 0, 100));
	CHECK(fe_eventfd_read(rx->callfd) == (event_idx ? 0 : 1),
		"after off_wrap");
	s = qstats(t.dev, 0, VHU_ENQ);
	CHECK(s.notify_sent == (event_idx ? 2u : 4u) &&
		s.notify_suppressed == (event_idx ? 3u : 1u),
		"sent %lu suppressed %lu", (unsigned long)s.notify_sent,
		(unsigned long)s.notify_suppressed);

	/* Kicks: asked for from the next avail position, or not at all. */
	TRY(tx_roundtrip(&t, 0, 100));
	CHECK(vhu_queue_notify(t.dev, 0, true) == 0, "enable kicks");
	if (event_idx)
		CHECK(tx->device_event->flags == VRING_PACKED_EVENT_FLAG_DESC &&
			tx->device_event->off_wrap == (tx->pk_next |
			(tx->pk_wrap ? 0x8000 : 0)), "device event %u/%#x",
			tx->device_event->flags, tx->device_event->off_wrap);
	else
		CHECK(tx->device_event->flags == VRING_PACKED_EVENT_FLAG_ENABLE,
			"device flags %u", tx->device_event->flags);
	fe_tx_frame(&t.fe, 1, NULL, 12, (const uint8_t *)"0123456789ab", 12,
		1, false, false);
	CHECK(vhu_queue_notify(t.dev, 0, true) == 1, "pending not seen");
	CHECK(vhu_queue_notify(t.dev, 0, false) == 0, "disable kicks");
	CHECK(tx->device_event->flags == VRING_PACKED_EVENT_FLAG_DISABLE,
		"device flags after disable %u", tx->device_event->flags);
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_pk_events(void)
{
	TRY(pk_events_run(true));
	return pk_events_run(false);
}

/* GET/SET_VRING_BASE in the spec's layout: avail position and wrap
 * counter in bits 0-15, used in 16-31. */
int
case_pk_vring_base(void)
{
	struct fe_vring *v;
	struct tb t;
	uint32_t num = 0;
	unsigned int i;

	TRY(pk_bench(&t, 16, 0));
	v = &t.fe.vq[1];
	for (i = 0; i < 20; i++)
		TRY(tx_roundtrip(&t, 0, 200));
	TRY(fe_get_vring_base(&t.fe, 1, &num));
	CHECK(num == 0x00040004u, "base %#x after 20 chains on 16", num);
	CHECK(fe_pk_base(v) == num, "front-end disagrees: %#x",
		fe_pk_base(v));
	/* Resume where it stopped. */
	TRY(fe_vring_start(&t.fe, 1, false, false));
	TRY(fe_request_state(&t.fe, VHU_REQ_SET_VRING_ENABLE, 1, 1));
	for (i = 0; i < 20; i++)
		TRY(tx_roundtrip(&t, 0, 300));
	TRY(fe_get_vring_base(&t.fe, 1, &num));
	CHECK(num == 0x80088008u, "base %#x after 40 chains", num);
	/* The avail half only (DPDK's virtio-user): used = avail. */
	v->pk_next = 3;
	v->pk_wrap = false;
	v->pk_used = 3;
	v->pk_used_wrap = false;
	TRY(fe_request_state(&t.fe, VHU_REQ_SET_VRING_BASE, 1, 3));
	TRY(fe_vring_addr(&t.fe, 1, 0, 0));
	TRY(fe_request_u64(&t.fe, VHU_REQ_SET_VRING_KICK, 1 | VHU_VRING_NOFD));
	TRY(fe_request_state(&t.fe, VHU_REQ_SET_VRING_ENABLE, 1, 1));
	TRY(tx_roundtrip(&t, 0, 64));
	TRY(fe_get_vring_base(&t.fe, 1, &num));
	CHECK(num == 0x00040004u, "base %#x after resuming at 3/0", num);
	/* A base outside the ring keeps the ring from starting. */
	TRY(fe_request_state(&t.fe, VHU_REQ_SET_VRING_BASE, 1, 0x8010));
	TRY(fe_vring_addr(&t.fe, 1, 0, 0));
	TRY(fe_request_u64(&t.fe, VHU_REQ_SET_VRING_KICK, 1 | VHU_VRING_NOFD));
	fe_tx_frame(&t.fe, 1, NULL, 12, (const uint8_t *)"0123456789ab", 12,
		1, false, false);
	{
		struct rte_mbuf *m[2];

		CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 2) == 0,
			"ring with a base outside it runs");
	}
	TRY(rx_roundtrip(&t, 0, 100));
	tb_destroy(&t);
	return tb_check_fds(&t);
}

/* Dirty log: the descriptor ring (used elements), our event structure
 * and the RX buffers; nothing while TX copies. */
int
case_pk_migrate_log(void)
{
	const uint64_t guest = 2 * MiB;
	struct vhu_log_desc ld = { guest / (VHU_LOG_PAGE * 8), 0 };
	struct tb t;
	uint8_t *log;
	uint64_t ack, rx_desc, buf_page;
	uint32_t r;
	int logfd, head;

	t_packed = true;
	tb_init(&t);
	t.o.mem_size = guest;
	TRY(tb_start(&t));
	logfd = memfd_create("vhu-log", MFD_CLOEXEC);
	CHECK(logfd >= 0 && ftruncate(logfd, 4096) == 0, "log memfd");
	log = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, logfd, 0);
	CHECK(log != MAP_FAILED, "mmap log");
	TRY(fe_send(&t.fe, VHU_REQ_SET_LOG_BASE, VHU_FLAG_VERSION, &ld,
		sizeof(ld), &logfd, 1));
	CHECK(fe_recv(&t.fe, &r, NULL, &ack, sizeof(ack), 3000) == 8 &&
		ack == 0, "SET_LOG_BASE reply");
	TRY(fe_request_u64(&t.fe, VHU_REQ_SET_FEATURES,
		t.fe.features | BIT(VHU_F_LOG_ALL)));
	TRY(fe_vring_addr(&t.fe, 0, VHU_VRING_F_LOG, t.fe.vq[0].used_gpa));
	TRY(fe_vring_addr(&t.fe, 1, VHU_VRING_F_LOG, t.fe.vq[1].used_gpa));
	memset(log, 0, 64);
	head = fe_rx_post(&t.fe, 0, 1600, 1, false);
	CHECK(head >= 0, "post");
	buf_page = t.fe.vq[0].chain[head].gpa[0] / 4096;
	{
		uint8_t f[1500];
		struct rte_mbuf *m;
		uint32_t id, len;

		make_frame(f, sizeof(f), 5);
		m = mk_mbuf(t_mp, f, sizeof(f));
		CHECK(vhu_enqueue_burst(t.dev, 0, &m, 1) == 1, "enqueue");
		rte_pktmbuf_free(m);
		CHECK(fe_used_get(&t.fe.vq[0], &id, &len) == 1, "used");
	}
	rx_desc = t.fe.vq[0].desc_gpa / 4096;
	CHECK(log[rx_desc / 8] & (1u << (rx_desc % 8)),
		"descriptor ring page %lu not logged", (unsigned long)rx_desc);
	CHECK(log[buf_page / 8] & (1u << (buf_page % 8)),
		"buffer page not logged");
	memset(log, 0, 64);
	CHECK(vhu_queue_notify(t.dev, 0, true) == 0, "kicks");
	CHECK(log[(t.fe.vq[1].used_gpa / 4096) / 8] &
		(1u << ((t.fe.vq[1].used_gpa / 4096) % 8)),
		"device event structure not logged");
	memset(log, 0, 64);
	TRY(tx_roundtrip(&t, 0, 1000));
	CHECK(log[(t.fe.vq[1].desc_gpa / 4096) / 8] &
		(1u << ((t.fe.vq[1].desc_gpa / 4096) % 8)),
		"TX used element not logged");
	munmap(log, 4096);
	close(logfd);
	tb_destroy(&t);
	return tb_check_fds(&t);
}

/* Zero-copy: chains come back in the order their mbufs are freed, each
 * used element skipping its own chain's descriptors; the budget holds. */
int
case_pk_zc_order(void)
{
	static const unsigned int nseg[4] = { 1, 3, 2, 1 };
	static const unsigned int order[3] = { 1, 2, 0 };
	struct rte_mbuf *m[4];
	uint8_t f[4][1500];
	struct tb t;
	uint32_t id, len;
	struct vhu_queue_stats s;
	int ids[4];
	unsigned int i;

	t_packed = true;
	tb_init(&t);
	t.cfg.zero_copy = true;
	t.cfg.copy_threshold = 256;
	t.cfg.inflight_budget = 3;
	t.o.ring_size = 16;
	TRY(tb_start(&t));
	for (i = 0; i < 4; i++) {
		make_frame(f[i], 1000 + i, i + 40);
		ids[i] = fe_tx_frame(&t.fe, 1, NULL, 12, f[i], 1000 + i,
			nseg[i], false, false);
	}
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 4) == 4, "dequeue");
	s = qstats(t.dev, 0, VHU_DEQ);
	CHECK(s.zc_packets == 3 && s.copied_packets == 1 &&
		s.zc_budget_copies == 1, "zc %lu copied %lu budget %lu",
		(unsigned long)s.zc_packets, (unsigned long)s.copied_packets,
		(unsigned long)s.zc_budget_copies);
	for (i = 0; i < 4; i++)
		CHECK(mbuf_equals(m[i], f[i], 1000 + i), "frame %u", i);
	/* The copied one is returned at once. */
	CHECK(fe_used_get(&t.fe.vq[1], &id, &len) == 1 &&
		id == (uint32_t)ids[3], "copied chain's used element");
	rte_pktmbuf_free(m[3]);
	for (i = 0; i < 3; i++) {
		rte_pktmbuf_free(m[order[i]]);
		(void)vhu_dequeue_burst(t.dev, 0, t_mp, m, 0);
		CHECK(fe_used_get(&t.fe.vq[1], &id, &len) == 1 &&
			id == (uint32_t)ids[order[i]] && len == 0,
			"completion %u: id %u, want %d", i, id, ids[order[i]]);
	}
	/* Positions still agree: more traffic round the ring. */
	for (i = 0; i < 20; i++)
		TRY(tx_roundtrip(&t, 0, 600));
	s = qstats(t.dev, 0, VHU_DEQ);
	CHECK(s.zc_completed == 23, "completed %lu",
		(unsigned long)s.zc_completed);
	tb_destroy(&t);
	return tb_check_fds(&t);
}

/* ---- hostile guests: the packed twins of t_hostile.c ---- */

static int
pk_h_start(struct tb *t, uint64_t drop, uint16_t ring, bool two_regions)
{
	t_packed = true;
	TRY(h_start(t, drop, ring, two_regions));
	CHECK(t->fe.vq[1].packed, "packed not negotiated");
	return 0;
}

/* Descriptors @p d[0 .. n) made available at once (ids as given). */
static void
pk_put(struct fe_vring *v, const struct vring_packed_desc *d, uint32_t n)
{
	uint32_t i;

	for (i = 1; i < n; i++)
		fe_pk_write(v, i, d[i].addr, d[i].len, d[i].id, d[i].flags,
			true);
	fe_pk_write(v, 0, d[0].addr, d[0].len, d[0].id, d[0].flags, false);
	if (d[n - 1].id < FE_RING_MAX)
		v->pk_ndesc[d[n - 1].id] = (uint16_t)n;
	fe_pk_publish(v, n, d[0].flags);
}

static int
pk_tx_inject(struct tb *t, const struct vring_packed_desc *d, uint32_t n)
{
	struct rte_mbuf *m[4];
	uint16_t got;

	pk_put(&t->fe.vq[1], d, n);
	got = vhu_dequeue_burst(t->dev, 0, t_mp, m, 4);
	rte_pktmbuf_free_bulk(m, got);
	CHECK(got == 0, "hostile chain dequeued as %u frame(s)", got);
	return 0;
}

static int
pk_rx_inject(struct tb *t, const struct vring_packed_desc *d, uint32_t n)
{
	uint8_t f[100];
	struct rte_mbuf *m;
	uint16_t got;

	pk_put(&t->fe.vq[0], d, n);
	make_frame(f, sizeof(f), 1);
	m = mk_mbuf(t_mp, f, sizeof(f));
	got = vhu_enqueue_burst(t->dev, 0, &m, 1);
	rte_pktmbuf_free(m);
	CHECK(got == 0, "frame delivered into a hostile chain");
	return 0;
}

/* Chain @p d (@p n descriptors) on TX: not dequeued, counted as @p why. */
static int
pk_tx_fault(struct tb *t, const struct vring_packed_desc *d, uint32_t n,
	enum vhu_malformed why)
{
	TRY(pk_tx_inject(t, d, n));
	return h_verify(t, 1, why);
}

/* Chain @p d (@p n descriptors) on RX: not filled, counted as @p why. */
static int
pk_rx_fault(struct tb *t, const struct vring_packed_desc *d, uint32_t n,
	enum vhu_malformed why)
{
	TRY(pk_rx_inject(t, d, n));
	return h_verify(t, 0, why);
}

#define PD(a, l, i, f) ((struct vring_packed_desc){ (a), (l), (i), (f) })

/* A chain round the whole ring and on: every descriptor says NEXT. */
int
case_pk_chain_loop(void)
{
	struct vring_packed_desc d[64];
	struct tb t;
	uint64_t a;
	unsigned int i;

	TRY(pk_h_start(&t, 0, 64, false));
	a = put(&t, NULL, 100);
	for (i = 0; i < 64; i++)
		d[i] = PD(a, 12, 0, VRING_DESC_F_NEXT);
	return pk_tx_fault(&t, d, 64, VHU_MAL_LOOP);
}

int
case_pk_chain_too_long(void)
{
	static struct vring_packed_desc d[300];
	struct tb t;
	uint64_t a;
	unsigned int i;

	TRY(pk_h_start(&t, 0, 512, false));
	a = put(&t, NULL, 299 * 4);
	d[0] = PD(a, 12, 0, VRING_DESC_F_NEXT);
	for (i = 1; i < 300; i++)
		d[i] = PD(a + 12 + (i - 1) * 4u, 4, 0,
			i < 299 ? VRING_DESC_F_NEXT : 0);
	return pk_tx_fault(&t, d, 300, VHU_MAL_CHAIN_LONG);
}

int
case_pk_addr_past_region(void)
{
	struct vring_packed_desc d = PD(4 * MiB - 100, 200, 0, 0);
	struct tb t;

	TRY(pk_h_start(&t, 0, 0, false));
	return pk_tx_fault(&t, &d, 1, VHU_MAL_ADDR);
}

int
case_pk_zero_len_bad_addr(void)
{
	struct vring_packed_desc d[3];
	struct tb t;
	uint64_t a;

	TRY(pk_h_start(&t, 0, 0, false));
	a = put(&t, NULL, 100);
	d[0] = PD(a, 12, 0, VRING_DESC_F_NEXT);
	d[1] = PD(0x4000000000ull, 0, 0, VRING_DESC_F_NEXT);
	d[2] = PD(a + 12, 100, 0, 0);
	return pk_tx_fault(&t, d, 3, VHU_MAL_ZERO_LEN);
}

int
case_pk_hdr_split_3(void)
{
	struct vring_packed_desc d[3];
	struct tb t;
	uint64_t a;

	TRY(pk_h_start(&t, 0, 0, false));
	a = put(&t, NULL, 100);
	d[0] = PD(a, 4, 0, VRING_DESC_F_NEXT);
	d[1] = PD(a + 4, 4, 0, VRING_DESC_F_NEXT);
	d[2] = PD(a + 8, 104, 0, 0);
	return pk_tx_fault(&t, d, 3, VHU_MAL_HDR_SPLIT);
}

int
case_pk_chain_short(void)
{
	struct tb t;
	struct vring_packed_desc d;

	TRY(pk_h_start(&t, 0, 0, false));
	d = PD(put(&t, NULL, 0), 8, 0, 0);
	return pk_tx_fault(&t, &d, 1, VHU_MAL_CHAIN_SHORT);
}

/* Buffer ids must name a ring slot, in either direction. */
int
case_pk_id_oob(void)
{
	struct vring_packed_desc d[2];
	struct tb t;
	uint64_t a;

	TRY(pk_h_start(&t, 0, 256, false));
	a = put(&t, NULL, 100);
	d[0] = PD(a, 12, 0, VRING_DESC_F_NEXT);
	d[1] = PD(a + 12, 100, 256, 0);	/* the id is the last one's */
	TRY(pk_tx_inject(&t, d, 2));
	TRY(h_verify(&t, 1, VHU_MAL_HEAD_INDEX));
	TRY(pk_h_start(&t, 0, 256, false));
	d[0] = PD(fe_alloc(&t.fe, 2048, 64), 2048, 0xffff, VRING_DESC_F_WRITE);
	return pk_rx_fault(&t, d, 1, VHU_MAL_HEAD_INDEX);
}

int
case_pk_indirect_too_long(void)
{
	static const uint32_t lens[] = { 16 * 257, 24 };
	struct vring_packed_desc d;
	struct tb t;
	unsigned int k;

	for (k = 0; k < RTE_DIM(lens); k++) {
		TRY(pk_h_start(&t, 0, 256, false));
		d = PD(fe_alloc(&t.fe, 16 * 257, 16), lens[k], 0,
			VRING_DESC_F_INDIRECT);
		TRY(pk_tx_inject(&t, &d, 1));
		TRY(h_verify(&t, 1, VHU_MAL_INDIRECT_LEN));
	}
	return 0;
}

int
case_pk_indirect_nested(void)
{
	struct vring_packed_desc d, *tv;
	struct tb t;
	uint64_t t1, t2, a;

	TRY(pk_h_start(&t, 0, 0, false));
	a = put(&t, NULL, 100);
	t2 = fe_alloc(&t.fe, 32, 16);
	t1 = fe_alloc(&t.fe, 32, 16);
	tv = fe_va(&t.fe, t2);
	tv[0] = PD(a, 112, 0, 0);
	tv = fe_va(&t.fe, t1);
	tv[0] = PD(t2, 16, 0, VRING_DESC_F_INDIRECT);
	d = PD(t1, 16, 0, VRING_DESC_F_INDIRECT);
	return pk_tx_fault(&t, &d, 1, VHU_MAL_INDIRECT_NESTED);
}

int
case_pk_indirect_misaligned(void)
{
	struct vring_packed_desc d;
	struct tb t;

	TRY(pk_h_start(&t, 0, 0, false));
	d = PD(fe_alloc(&t.fe, 64, 16) + 8, 32, 0, VRING_DESC_F_INDIRECT);
	return pk_tx_fault(&t, &d, 1, VHU_MAL_INDIRECT_ALIGN);
}

int
case_pk_indirect_span(void)
{
	struct vring_packed_desc d = PD(4 * MiB - 16, 32, 0,
		VRING_DESC_F_INDIRECT);
	struct tb t;

	TRY(pk_h_start(&t, 0, 0, true));
	return pk_tx_fault(&t, &d, 1, VHU_MAL_INDIRECT_SPAN);
}

/* INDIRECT not negotiated, with NEXT, or not the chain's only
 * descriptor: each an INDIRECT_FLAGS fault. */
int
case_pk_indirect_flags(void)
{
	struct vring_packed_desc d[2], *tv;
	struct tb t;
	unsigned int k;
	uint64_t tbl, a;

	for (k = 0; k < 3; k++) {
		TRY(pk_h_start(&t, k == 0 ? BIT(VHU_F_RING_INDIRECT_DESC) : 0,
			0, false));
		a = put(&t, NULL, 100);
		tbl = fe_alloc(&t.fe, 16, 16);
		tv = fe_va(&t.fe, tbl);
		tv[0] = PD(a + 12, 100, 0, 0);
		d[0] = PD(tbl, 16, 0, VRING_DESC_F_INDIRECT |
			(k == 1 ? VRING_DESC_F_NEXT : 0));
		d[1] = PD(a + 12, 100, 0, 0);
		if (k == 2) {
			d[1] = d[0];
			d[0] = PD(a, 12, 0, VRING_DESC_F_NEXT);
		}
		TRY(pk_tx_inject(&t, d, k == 0 ? 1 : 2));
		TRY(h_verify(&t, 1, VHU_MAL_INDIRECT_FLAGS));
	}
	return 0;
}

int
case_pk_tx_writable_desc(void)
{
	struct tb t;
	struct vring_packed_desc d;

	TRY(pk_h_start(&t, 0, 0, false));
	d = PD(put(&t, NULL, 100), 112, 0, VRING_DESC_F_WRITE);
	return pk_tx_fault(&t, &d, 1, VHU_MAL_DIRECTION);
}

/* ... but inside an indirect TX table the flag is ignored: DPDK's virtio
 * PMD sets it on the header entry of its packed TX tables. */
int
case_pk_tx_indirect_write_flag(void)
{
	struct vring_packed_desc d, *tv;
	struct rte_mbuf *m[2];
	struct tb t;
	uint32_t id, len;
	uint64_t a, tbl;

	TRY(pk_h_start(&t, 0, 0, false));
	a = put(&t, NULL, 100);
	tbl = fe_alloc(&t.fe, 32, 16);
	tv = fe_va(&t.fe, tbl);
	tv[0] = PD(a, 12, 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT);
	tv[1] = PD(a + 12, 100, 0, 0);
	d = PD(tbl, 32, 5, VRING_DESC_F_INDIRECT);
	pk_put(&t.fe.vq[1], &d, 1);
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 2) == 1, "dequeue");
	CHECK(mbuf_equals(m[0], (uint8_t *)fe_va(&t.fe, a) + 12, 100),
		"content");
	rte_pktmbuf_free(m[0]);
	CHECK(fe_used_get(&t.fe.vq[1], &id, &len) == 1 && id == 5, "used");
	CHECK(qstats(t.dev, 0, VHU_DEQ).faults == 0, "faulted");
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_pk_rx_readonly_desc(void)
{
	struct tb t;
	struct vring_packed_desc d;

	TRY(pk_h_start(&t, 0, 0, false));
	d = PD(fe_alloc(&t.fe, 2048, 64), 2048, 0, 0);
	return pk_rx_fault(&t, &d, 1, VHU_MAL_DIRECTION);
}

int
case_pk_rx_addr_outside(void)
{
	struct tb t;
	struct vring_packed_desc d = PD(0x7000000000ull, 2048, 0,
		VRING_DESC_F_WRITE);

	TRY(pk_h_start(&t, 0, 0, false));
	return pk_rx_fault(&t, &d, 1, VHU_MAL_ADDR);
}

/* Buffers across two regions are fine (split where the regions meet);
 * the TX frame's bytes come out whole. */
int
case_pk_region_crossing(void)
{
	struct vring_packed_desc d;
	struct rte_mbuf *m[2];
	struct tb t;
	uint8_t p[1012];
	uint32_t id, len;

	TRY(pk_h_start(&t, 0, 0, true));
	/* 600 bytes at the end of region 0, 412 at the start of region 1 */
	memset(p, 0, 12);
	make_frame(p + 12, 1000, 9);
	memcpy(fe_va(&t.fe, 4 * MiB - 600), p, 600);
	memcpy(fe_va(&t.fe, 4 * MiB), p + 600, 412);
	d = PD(4 * MiB - 600, 1012, 7, 0);
	pk_put(&t.fe.vq[1], &d, 1);
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 2) == 1, "dequeue");
	CHECK(m[0]->nb_segs == 1 && mbuf_equals(m[0], p + 12, 1000),
		"content");
	rte_pktmbuf_free(m[0]);
	CHECK(fe_used_get(&t.fe.vq[1], &id, &len) == 1 && id == 7, "used");
	tb_destroy(&t);
	return tb_check_fds(&t);
}

/* Packed: the device took the chain's descriptors back (used): write
 * them again, at the same places (a ring of two: the data descriptor is
 * always at position 1). */
static void
pk_repost(struct tb *t, uint64_t a)
{
	struct vring_packed_desc d[2];
	struct fe_vring *v = &t->fe.vq[1];
	uint32_t id, len;

	while (fe_used_get(v, &id, &len) == 1)
		;
	d[0] = PD(a, 12, 0, VRING_DESC_F_NEXT);
	d[1] = PD(a + 12, 60, 0, 0);
	pk_put(v, d, 2);
}

/* Descriptors changing under the device are read once: every frame
 * is consistent, or the queue stops with ADDR. */
int
case_pk_double_fetch(void)
{
	struct tb t;

	TRY(pk_h_start(&t, 0, 2, false));
	return h_double_fetch(&t, put(&t, NULL, 60), &t.fe.vq[1].pdesc[1].len,
		pk_repost, "packed double fetch race");
}

/* The header and offload checks are the stages both layouts share: a
 * header that does not fit its frame costs that frame only, on packed
 * chains too. */
static int
pk_verify_hdr_drop(const struct vhu_net_hdr *h, enum vhu_malformed why)
{
	struct vring_packed_desc d;
	struct tb t;

	TRY(pk_h_start(&t, 0, 0, false));
	d = PD(put(&t, h, 60), 72, 5, 0);
	TRY(pk_tx_inject(&t, &d, 1));
	return h_verify_hdr_dropped(&t, 5, why);
}

int
case_pk_csum_bad(void)
{
	struct vhu_net_hdr h;

	memset(&h, 0, sizeof(h));
	h.flags = VHU_NET_HDR_F_NEEDS_CSUM;
	h.csum_start = 40;
	h.csum_offset = 30;	/* 40 + 30 + 2 > 60 */
	return pk_verify_hdr_drop(&h, VHU_MAL_CSUM);
}

int
case_pk_gso_type(void)
{
	struct vhu_net_hdr h;

	memset(&h, 0, sizeof(h));
	h.gso_type = VHU_NET_HDR_GSO_UDP;	/* UFO: never offered */
	h.gso_size = 1448;
	return pk_verify_hdr_drop(&h, VHU_MAL_HDR_FIELDS);
}

/* A header the driver may not fill without a dequeue offload is not read
 * on packed rings either (case_hdr_ignored_no_offload). */
int
case_pk_hdr_ignored_no_offload(void)
{
	struct vring_packed_desc d;
	struct tb t;

	TRY(pk_h_start(&t, H_DEQ_OFL, 0, false));
	d = PD(h_put_hdr_ignored(&t), 12 + 60, 5, 0);
	pk_put(&t.fe.vq[1], &d, 1);
	return h_verify_hdr_ignored(&t, 5);
}
