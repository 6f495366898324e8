/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Conformance: handshake, guest memory, ring states, dirty log, reconnect,
 * protocol requests.
 */

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vhu_test.h"
#include "vhu_cases.h"

#define MiB (1ull << 20)
#define BIT(n) (1ull << (n))

static int
restart_vring(struct tb *t, unsigned int idx, uint32_t base)
{
	struct fe_vring *v = &t->fe.vq[idx];
	uint64_t u = idx;

	TRY(fe_request_state(&t->fe, VHU_REQ_SET_VRING_NUM, idx, v->size));
	TRY(fe_request_state(&t->fe, VHU_REQ_SET_VRING_BASE, idx, base));
	TRY(fe_vring_addr(&t->fe, idx, 0, 0));
	if (v->callfd >= 0)
		close(v->callfd);
	v->callfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	TRY(fe_request(&t->fe, VHU_REQ_SET_VRING_CALL, &u, sizeof(u),
		&v->callfd, 1));
	if (v->kickfd >= 0)
		close(v->kickfd);
	v->kickfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	TRY(fe_request(&t->fe, VHU_REQ_SET_VRING_KICK, &u, sizeof(u),
		&v->kickfd, 1));
	return 0;
}

int
case_handshake(void)
{
	const uint64_t want = BIT(VHU_F_VERSION_1) | BIT(VHU_F_ANY_LAYOUT) |
		BIT(VHU_F_RING_INDIRECT_DESC) | BIT(VHU_F_RING_EVENT_IDX) |
		BIT(VHU_F_NET_MRG_RXBUF) | BIT(VHU_F_NET_MTU) |
		BIT(VHU_F_NET_MQ) | BIT(VHU_F_NET_CTRL_VQ) |
		BIT(VHU_F_PROTOCOL_FEATURES) | BIT(VHU_F_LOG_ALL) |
		BIT(VHU_F_IN_ORDER) | BIT(VHU_F_RING_PACKED) |
		BIT(VHU_F_NET_CSUM) |
		BIT(VHU_F_NET_GUEST_CSUM) | BIT(VHU_F_NET_HOST_TSO4) |
		BIT(VHU_F_NET_HOST_TSO6) | BIT(VHU_F_NET_GUEST_TSO4) |
		BIT(VHU_F_NET_GUEST_TSO6);
	const uint64_t want_proto = BIT(VHU_PROTO_F_MQ) |
		BIT(VHU_PROTO_F_LOG_SHMFD) | BIT(VHU_PROTO_F_RARP) |
		BIT(VHU_PROTO_F_REPLY_ACK) | BIT(VHU_PROTO_F_MTU) |
		BIT(VHU_PROTO_F_CONFIG) | BIT(VHU_PROTO_F_RESET_DEVICE) |
		BIT(VHU_PROTO_F_CONFIGURE_MEM_SLOTS) | BIT(VHU_PROTO_F_STATUS) |
		BIT(VHU_PROTO_F_INFLIGHT_SHMFD) |
		BIT(VHU_PROTO_F_DEVICE_STATE);
	struct tb t;
	uint64_t v;

	tb_init(&t);
	t.cfg.max_queue_pairs = 2;
	t.cfg.mtu = 1500;
	t.o.nqp = 2;
	TRY(tb_create(&t));
	CHECK(!vhu_connected(t.dev), "connected too early");
	CHECK(fe_connect(&t.fe, t.path) == 0, "connect");
	CHECK(ev_wait(VHU_EVENT_CONNECTED, -1, -1, 1, 2000), "no CONNECTED");
	TRY(fe_start(&t.fe, &t.o));
	CHECK(t.fe.offered == want, "offered features %#lx, want %#lx",
		(unsigned long)t.fe.offered, (unsigned long)want);
	CHECK(t.fe.offered == vhu_supported_features(), "supported features");
	CHECK(t.fe.proto_offered == want_proto, "protocol features %#lx",
		(unsigned long)t.fe.proto_offered);
	CHECK(vhu_negotiated_features(t.dev) == t.fe.features,
		"negotiated %#lx vs acked %#lx",
		(unsigned long)vhu_negotiated_features(t.dev),
		(unsigned long)t.fe.features);
	TRY(fe_get_u64(&t.fe, VHU_REQ_GET_QUEUE_NUM, &v));
	CHECK(v == 2, "GET_QUEUE_NUM %lu", (unsigned long)v);
	TRY(fe_get_u64(&t.fe, VHU_REQ_GET_MAX_MEM_SLOTS, &v));
	CHECK(v == VHU_MAX_MEM_SLOTS, "GET_MAX_MEM_SLOTS %lu", (unsigned long)v);
	CHECK(ev_wait(VHU_EVENT_LINK_UP, -1, -1, 1, 2000), "no LINK_UP");
	CHECK(ev_wait(VHU_EVENT_QUEUE_UP, -1, -1, 4, 2000), "queues not up");
	CHECK(ev_count(VHU_EVENT_QUEUE_UP, 1, VHU_DEQ) == 1, "qp1 deq up");
	CHECK(vhu_connected(t.dev) && vhu_mem_regions(t.dev) == 1, "state");
	CHECK(vhu_max_queue_pairs(t.dev) == 2, "max qp");
	/* Virtio status round trip (STATUS protocol feature). */
	CHECK(fe_request_u64(&t.fe, VHU_REQ_SET_STATUS, 0x0f) == 0, "SET_STATUS");
	TRY(fe_get_u64(&t.fe, VHU_REQ_GET_STATUS, &v));
	CHECK(v == 0x0f, "GET_STATUS %lu", (unsigned long)v);
	CHECK(fe_request_u64(&t.fe, VHU_REQ_SET_STATUS, 0x100) == 1,
		"SET_STATUS out of range accepted");
	TRY(fe_get_u64(&t.fe, VHU_REQ_GET_STATUS, &v));
	CHECK(v == 0x0f, "status changed by a refused request");
	TRY(tx_roundtrip(&t, 0, 100));
	TRY(tx_roundtrip(&t, 1, 1514));
	TRY(rx_roundtrip(&t, 0, 60));
	TRY(rx_roundtrip(&t, 1, 1514));
	tb_destroy(&t);
	return tb_check_fds(&t);
}

/* Gather guest bytes through the front-end's own mappings. */
static void
fe_gather(struct fe *fe, uint64_t gpa, uint8_t *out, size_t len)
{
	while (len > 0) {
		uint64_t end = (gpa | (2 * MiB - 1)) + 1;	/* regions are 2 MiB */
		size_t c = end - gpa < len ? (size_t)(end - gpa) : len;

		memcpy(out, fe_va(fe, gpa), c);
		out += c;
		gpa += c;
		len -= c;
	}
}

int
case_read_guest_memory(void)
{
	struct tb t;
	uint8_t *buf = malloc(2 * MiB), *got = malloc(2 * MiB);
	unsigned int i, r;

	CHECK(buf != NULL && got != NULL, "malloc");
	tb_init(&t);
	/* Two GPA-adjacent regions in separate files, and one mapped from
	 * a non-zero offset of its file. */
	CHECK(fe_mem_add(&t.fe, 0, 2 * MiB, 0, true) == 0, "region 0");
	CHECK(fe_mem_add(&t.fe, 2 * MiB, 2 * MiB, 0, true) == 1, "region 1");
	CHECK(fe_mem_add(&t.fe, 8 * MiB, 2 * MiB, 2 * MiB, true) == 2,
		"region 2");
	t.fe.alloc_next = 0x1000;
	t.fe.alloc_end = 2 * MiB;
	TRY(tb_start(&t));
	CHECK(vhu_mem_regions(t.dev) == 3, "regions");
	printf("guest memory on %s\n", t.fe.mem[0].huge ? "hugetlbfs" : "memfd");

	for (r = 0; r < 3; r++) {
		struct fe_mem *m = &t.fe.mem[r];
		uint8_t *va = fe_va(&t.fe, m->gpa);

		make_frame(va, (uint32_t)m->size, 1000 + r);
		CHECK(vhu_guest_read(t.dev, m->gpa, got, m->size) == 0,
			"read region %u", r);
		CHECK(memcmp(got, va, m->size) == 0, "region %u differs", r);
	}
	/* Random slices, and one across the region 0/1 boundary. */
	srand(7);
	for (i = 0; i < 200; i++) {
		uint64_t gpa = (uint64_t)rand() % (4 * MiB - 1);
		size_t len = 1 + (size_t)rand() % 9000;

		if (gpa + len > 4 * MiB)
			len = 4 * MiB - gpa;
		CHECK(vhu_guest_read(t.dev, gpa, got, len) == 0, "slice");
		fe_gather(&t.fe, gpa, buf, len);
		CHECK(memcmp(got, buf, len) == 0,
			"slice at %#lx+%zu differs", (unsigned long)gpa, len);
	}
	CHECK(vhu_guest_read(t.dev, 2 * MiB - 1000, got, 3000) == 0, "cross");
	memcpy(buf, fe_va(&t.fe, 2 * MiB - 1000), 1000);
	memcpy(buf + 1000, fe_va(&t.fe, 2 * MiB), 2000);
	CHECK(memcmp(got, buf, 3000) == 0, "read across regions");
	/* Shared, not copied: a later write is seen. */
	memset(fe_va(&t.fe, 8 * MiB + 4096), 0x5a, 100);
	CHECK(vhu_guest_read(t.dev, 8 * MiB + 4096, got, 100) == 0, "reread");
	for (i = 0; i < 100; i++)
		CHECK(got[i] == 0x5a, "stale byte %u", i);
	/* Holes and ends. */
	CHECK(vhu_guest_read(t.dev, 4 * MiB - 10, got, 20) == -EFAULT,
		"read into a hole");
	CHECK(vhu_guest_read(t.dev, 10 * MiB - 1, got, 2) == -EFAULT,
		"read past the last region");
	CHECK(vhu_guest_read(t.dev, UINT64_MAX - 3, got, 8) == -EFAULT,
		"wrapping read");
	free(buf);
	free(got);
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_ring_enable_protocol(void)
{
	struct tb t;
	struct rte_mbuf *m[2];
	uint8_t f[200];

	tb_init(&t);
	t.o.enable = false;
	TRY(tb_start(&t));
	CHECK(ev_count(VHU_EVENT_LINK_UP, -1, -1) == 0, "link up while disabled");
	make_frame(f, sizeof(f), 1);
	CHECK(fe_tx_frame(&t.fe, 1, NULL, 12, f, sizeof(f), 1, false, false) >= 0,
		"post");
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 2) == 0,
		"disabled ring processed");
	CHECK(fe_request_state(&t.fe, VHU_REQ_SET_VRING_ENABLE, 1, 1) == 0,
		"enable");
	CHECK(fe_request_state(&t.fe, VHU_REQ_SET_VRING_ENABLE, 0, 1) == 0,
		"enable");
	CHECK(ev_wait(VHU_EVENT_LINK_UP, -1, -1, 1, 2000), "no LINK_UP");
	CHECK(ev_count(VHU_EVENT_QUEUE_UP, 0, VHU_DEQ) == 1, "QUEUE_UP");
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 2) == 1, "enabled ring");
	CHECK(mbuf_equals(m[0], f, sizeof(f)), "content");
	rte_pktmbuf_free(m[0]);
	/* Disable again: pending frames stay in the ring. */
	CHECK(fe_request_state(&t.fe, VHU_REQ_SET_VRING_ENABLE, 1, 0) == 0,
		"disable");
	CHECK(ev_wait(VHU_EVENT_QUEUE_DOWN, 0, VHU_DEQ, 1, 2000), "QUEUE_DOWN");
	CHECK(ev_wait(VHU_EVENT_LINK_DOWN, -1, -1, 1, 2000), "LINK_DOWN");
	CHECK(fe_tx_frame(&t.fe, 1, NULL, 12, f, sizeof(f), 1, false, false) >= 0,
		"post");
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 2) == 0, "disabled ring");
	CHECK(fe_request_state(&t.fe, VHU_REQ_SET_VRING_ENABLE, 1, 2) == 1,
		"enable=2 accepted");
	CHECK(fe_request_state(&t.fe, VHU_REQ_SET_VRING_ENABLE, 9, 1) == 1,
		"enable of vring 9 accepted");
	CHECK(fe_request_state(&t.fe, VHU_REQ_SET_VRING_ENABLE, 1, 1) == 0,
		"enable");
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 2) == 1, "re-enabled");
	rte_pktmbuf_free(m[0]);
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_ring_enable_legacy(void)
{
	struct tb t;
	struct rte_mbuf *m[2];
	uint8_t f[100];
	uint32_t base;
	uint64_t u = 1;

	tb_init(&t);
	t.o.proto = false;	/* no VHOST_USER_F_PROTOCOL_FEATURES */
	TRY(tb_start(&t));
	CHECK(!(vhu_negotiated_features(t.dev) & BIT(VHU_F_PROTOCOL_FEATURES)),
		"protocol features acked");
	/* Rings start enabled when they get their kick fd. */
	CHECK(ev_wait(VHU_EVENT_LINK_UP, -1, -1, 1, 2000), "no LINK_UP");
	TRY(tx_roundtrip(&t, 0, 300));
	TRY(rx_roundtrip(&t, 0, 300));
	/* SET_VRING_ENABLE is accepted (the bit is offered; QEMU sends it
	 * before SET_FEATURES) but without the bit acked rings stay enabled. */
	TRY(fe_request_state(&t.fe, VHU_REQ_SET_VRING_ENABLE, 1, 0));
	TRY(tx_roundtrip(&t, 0, 301));
	/* A stopped ring does not start until SET_VRING_KICK. */
	TRY(fe_get_vring_base(&t.fe, 1, &base));
	CHECK(base == 2, "base %u", base);
	TRY(fe_request_state(&t.fe, VHU_REQ_SET_VRING_BASE, 1, base));
	TRY(fe_vring_addr(&t.fe, 1, 0, 0));
	make_frame(f, sizeof(f), 3);
	CHECK(fe_tx_frame(&t.fe, 1, NULL, 12, f, sizeof(f), 1, false, false) >= 0,
		"post");
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 2) == 0, "stopped ring ran");
	close(t.fe.vq[1].kickfd);
	t.fe.vq[1].kickfd = eventfd(0, EFD_CLOEXEC);
	TRY(fe_request(&t.fe, VHU_REQ_SET_VRING_KICK, &u, sizeof(u),
		&t.fe.vq[1].kickfd, 1));
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 2) == 1, "started ring");
	CHECK(mbuf_equals(m[0], f, sizeof(f)), "content");
	rte_pktmbuf_free(m[0]);
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_get_vring_base(void)
{
	struct tb t;
	struct rte_mbuf *m[4];
	uint8_t f[2][500];
	uint32_t base, id, len;
	int i;

	tb_init(&t);
	TRY(tb_start(&t));
	for (i = 0; i < 5; i++)
		TRY(tx_roundtrip(&t, 0, 100 + (uint32_t)i));
	for (i = 0; i < 2; i++) {
		make_frame(f[i], sizeof(f[i]), 50 + (uint32_t)i);
		CHECK(fe_tx_frame(&t.fe, 1, NULL, 12, f[i], sizeof(f[i]), 1,
			false, false) >= 0, "post");
	}
	TRY(fe_get_vring_base(&t.fe, 1, &base));
	CHECK(base == 5, "GET_VRING_BASE returned %u, want 5", base);
	CHECK(ev_wait(VHU_EVENT_QUEUE_DOWN, 0, VHU_DEQ, 1, 2000), "QUEUE_DOWN");
	CHECK(ev_wait(VHU_EVENT_LINK_DOWN, -1, -1, 1, 2000), "LINK_DOWN");
	CHECK(vhu_queue_kickfd(t.dev, 0) == -1, "kick fd kept");
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 4) == 0, "stopped ring ran");
	CHECK(fe_used_idx(&t.fe.vq[1]) == 5, "used idx moved");
	TRY(fe_get_vring_base(&t.fe, 0, &base));
	CHECK(base == 0, "rx base %u", base);
	/* Restart from 5: the two pending frames come out, used idx goes on. */
	TRY(restart_vring(&t, 1, 5));
	TRY(restart_vring(&t, 0, 0));
	CHECK(ev_wait(VHU_EVENT_LINK_UP, -1, -1, 2, 2000), "LINK_UP again");
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 4) == 2, "restarted ring");
	for (i = 0; i < 2; i++) {
		CHECK(mbuf_equals(m[i], f[i], sizeof(f[i])), "frame %d", i);
		rte_pktmbuf_free(m[i]);
	}
	CHECK(fe_used_idx(&t.fe.vq[1]) == 7, "used idx %u",
		fe_used_idx(&t.fe.vq[1]));
	for (i = 0; i < 2; i++)
		CHECK(fe_used_get(&t.fe.vq[1], &id, &len) == 1, "used");
	TRY(fe_get_vring_base(&t.fe, 1, &base));
	CHECK(base == 7, "base %u", base);
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_nofd_polling(void)
{
	struct tb t;
	struct vhu_queue_stats s;

	tb_init(&t);
	t.o.kick_nofd = true;
	t.o.call_nofd = true;
	TRY(tb_start(&t));
	CHECK(vhu_queue_kickfd(t.dev, 0) == -1, "kick fd with NOFD");
	TRY(tx_roundtrip(&t, 0, 64));
	TRY(rx_roundtrip(&t, 0, 64));
	s = qstats(t.dev, 0, VHU_ENQ);
	CHECK(s.notify_sent == 0 && s.packets == 1, "rx notify %lu",
		(unsigned long)s.notify_sent);
	s = qstats(t.dev, 0, VHU_DEQ);
	CHECK(s.notify_sent == 0 && s.packets == 1, "tx notify");
	/* NOFD with an fd attached is malformed. */
	{
		uint64_t u = 0 | VHU_VRING_NOFD;
		int fd = eventfd(0, EFD_CLOEXEC);

		CHECK(fe_request(&t.fe, VHU_REQ_SET_VRING_KICK, &u, sizeof(u),
			&fd, 1) == 1, "NOFD with fd accepted");
		close(fd);
		u = 0;
		CHECK(fe_request(&t.fe, VHU_REQ_SET_VRING_CALL, &u, sizeof(u),
			NULL, 0) == 1, "no fd without NOFD accepted");
	}
	TRY(rx_roundtrip(&t, 0, 64));
	tb_destroy(&t);
	return tb_check_fds(&t);
}

/* Expected dirty bitmap: compare byte for byte. */
static int
check_log(const uint8_t *log, const uint64_t *pages, unsigned int n,
	const char *what)
{
	uint8_t want[64];
	unsigned int i;

	memset(want, 0, sizeof(want));
	for (i = 0; i < n; i++)
		want[pages[i] / 8] |= (uint8_t)(1u << (pages[i] % 8));
	for (i = 0; i < 64; i++)
		CHECK(log[i] == want[i], "%s: log byte %u is %#x, want %#x",
			what, i, log[i], want[i]);
	return 0;
}

int
case_migrate_log(void)
{
	const uint64_t guest = 2 * MiB;
	struct tb t;
	struct vhu_log_desc ld = { 0, 0 };
	struct fe_vring *rx;
	uint8_t *log, f[3][2000], got[2100];
	const uint32_t flen[3] = { 1000, 2000, 100 };
	const uint64_t bufs[3] = { 0x100000, 0x101c00, 0x1ff000 };
	struct rte_mbuf *m[3];
	uint64_t ack, pages[8];
	uint32_t r, id, len;
	int logfd, i;

	tb_init(&t);
	t.cfg.zero_copy = true;
	t.cfg.copy_threshold = 0;
	t.o.mem_size = guest;
	TRY(tb_start(&t));
	rx = &t.fe.vq[0];

	/* QEMU's rule: one bit per 4 KiB page, so 2 MiB -> 64 bytes. */
	ld.mmap_size = guest / (VHU_LOG_PAGE * 8);
	CHECK(ld.mmap_size == 64, "log size %lu", (unsigned long)ld.mmap_size);
	logfd = memfd_create("vhu-log", MFD_CLOEXEC);
	CHECK(logfd >= 0 && ftruncate(logfd, 4096) == 0, "log memfd");
	log = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, logfd, 0);
	CHECK(log != MAP_FAILED, "mmap log");
	TRY(fe_send(&t.fe, VHU_REQ_SET_LOG_BASE, VHU_FLAG_VERSION, &ld,
		sizeof(ld), &logfd, 1));
	CHECK(fe_recv(&t.fe, &r, NULL, &ack, sizeof(ack), 3000) == 8 &&
		r == VHU_REQ_SET_LOG_BASE && ack == 0, "SET_LOG_BASE reply");
	TRY(fe_request_u64(&t.fe, VHU_REQ_SET_FEATURES,
		t.fe.features | BIT(VHU_F_LOG_ALL)));
	for (i = 0; i < 2; i++)
		TRY(fe_vring_addr(&t.fe, (unsigned int)i, VHU_VRING_F_LOG,
			t.fe.vq[i].used_gpa));
	memset(log, 0, 64);

	/* Three RX buffers at chosen pages: one page, two pages, the last
	 * page of the guest (bit 511, the last bit of the log). */
	for (i = 0; i < 3; i++) {
		fe_desc(rx, (uint16_t)i, bufs[i], 2048, VRING_DESC_F_WRITE, 0);
		rx->chain[i].n = 1;
		rx->chain[i].gpa[0] = bufs[i];
		rx->chain[i].len[0] = 2048;
		fe_avail_add(rx, (uint16_t)i);
		make_frame(f[i], flen[i], 90 + (uint32_t)i);
		m[i] = mk_mbuf(t_mp, f[i], flen[i]);
	}
	fe_avail_publish(rx);
	CHECK(vhu_enqueue_burst(t.dev, 0, m, 3) == 3, "enqueue");
	for (i = 0; i < 3; i++) {
		rte_pktmbuf_free(m[i]);
		CHECK(fe_used_get(rx, &id, &len) == 1 && id == (uint32_t)i &&
			len == flen[i] + 12, "used %d", i);
		TRY(fe_rx_read(&t.fe, 0, (uint16_t)i, got, len));
		CHECK(memcmp(got + 12, f[i], flen[i]) == 0, "content %d", i);
	}
	pages[0] = 0x100;
	pages[1] = 0x101;
	pages[2] = 0x102;
	pages[3] = 0x1ff;
	pages[4] = rx->used_gpa / 4096;
	TRY(check_log(log, pages, 5, "rx"));

	/* TX reads guest buffers: only the used ring is dirtied, and no
	 * zero-copy while logging. */
	memset(log, 0, 64);
	TRY(tx_roundtrip(&t, 0, 1500));
	pages[0] = t.fe.vq[1].used_gpa / 4096;
	TRY(check_log(log, pages, 1, "tx"));
	CHECK(qstats(t.dev, 0, VHU_DEQ).zc_packets == 0, "zero-copy while logging");

	/* Logging off: nothing more is marked. */
	TRY(fe_request_u64(&t.fe, VHU_REQ_SET_FEATURES, t.fe.features));
	memset(log, 0, 64);
	TRY(rx_roundtrip(&t, 0, 700));
	TRY(check_log(log, pages, 0, "after LOG_ALL off"));
	CHECK(vhu_negotiated_features(t.dev) == t.fe.features, "features");

	munmap(log, 4096);
	close(logfd);
	tb_destroy(&t);
	return tb_check_fds(&t);
}

static int
session(struct tb *t, unsigned int k)
{
	fe_init(&t->fe);
	ev_clear();
	TRY(tb_start(t));
	CHECK(ev_wait(VHU_EVENT_LINK_UP, -1, -1, 1, 2000), "session %u: no LINK_UP",
		k);
	TRY(tx_roundtrip(t, 0, 200 + k));
	TRY(rx_roundtrip(t, 0, 300 + k));
	return 0;
}

int
case_reconnect_server(void)
{
	struct tb t;
	struct rte_mbuf *m[2];
	unsigned int k;

	tb_init(&t);
	for (k = 0; k < 3; k++) {
		TRY(session(&t, k));
		fe_fini(&t.fe);	/* the front-end goes away */
		CHECK(ev_wait(VHU_EVENT_DISCONNECTED, -1, -1, 1, 3000),
			"no DISCONNECTED");
		CHECK(ev_count(VHU_EVENT_LINK_DOWN, -1, -1) == 1, "LINK_DOWN");
		CHECK(!vhu_connected(t.dev), "still connected");
		CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 2) == 0, "data path");
		CHECK(vhu_mem_regions(t.dev) == 0, "memory kept");
	}
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_reconnect_client(void)
{
	struct tb t;
	int lfd;
	unsigned int k;
	uint64_t t0;

	tb_init(&t);
	t.cfg.client = true;
	t.cfg.reconnect_min_ms = 20;
	t.cfg.reconnect_max_ms = 160;
	TRY(tb_create(&t));
	msleep(200);	/* a few failed attempts with backoff */
	lfd = fe_listen(t.path);
	CHECK(lfd >= 0, "listen");
	for (k = 0; k < 3; k++) {
		fe_init(&t.fe);
		ev_clear();
		t0 = now_ms();
		CHECK(fe_accept(&t.fe, lfd, 3000) == 0, "no (re)connection %u", k);
		printf("connection %u after %lu ms\n", k,
			(unsigned long)(now_ms() - t0));
		CHECK(ev_wait(VHU_EVENT_CONNECTED, -1, -1, 1, 2000), "CONNECTED");
		CHECK(fe_start(&t.fe, &t.o) == 0, "handshake %u", k);
		TRY(tx_roundtrip(&t, 0, 100 + k));
		TRY(rx_roundtrip(&t, 0, 100 + k));
		fe_fini(&t.fe);
		CHECK(ev_wait(VHU_EVENT_DISCONNECTED, -1, -1, 1, 3000),
			"DISCONNECTED");
	}
	close(lfd);
	unlink(t.path);
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_unknown_request(void)
{
	struct tb t;
	uint8_t cfg[12] = { 0 };
	int fd;

	tb_init(&t);
	TRY(tb_start(&t));
	CHECK(fe_request(&t.fe, 99, NULL, 0, NULL, 0) == 1, "request 99 acked");
	CHECK(fe_request(&t.fe, 0, NULL, 0, NULL, 0) == 1, "request 0 acked");
	CHECK(fe_request(&t.fe, 0x7fffffff, NULL, 0, NULL, 0) == 1,
		"request 0x7fffffff acked");
	CHECK(fe_request(&t.fe, VHU_REQ_SET_CONFIG, cfg, sizeof(cfg), NULL,
		0) == 1, "empty SET_CONFIG acked");
	fd = eventfd(0, EFD_CLOEXEC);
	CHECK(fe_request(&t.fe, VHU_REQ_SET_BACKEND_REQ_FD, NULL, 0, &fd, 1) == 1,
		"SET_BACKEND_REQ_FD acked");
	close(fd);
	CHECK(fe_request(&t.fe, VHU_REQ_POSTCOPY_ADVISE, NULL, 0, NULL, 0) == 1,
		"POSTCOPY_ADVISE acked");
	/* Wrong version bits. */
	{
		uint64_t v = 0;
		uint32_t r;

		TRY(fe_send(&t.fe, VHU_REQ_SET_OWNER, 2 | VHU_FLAG_NEED_REPLY,
			NULL, 0, NULL, 0));
		CHECK(fe_recv(&t.fe, &r, NULL, &v, 8, 2000) == 8 && v != 0,
			"version 2 accepted");
	}
	TRY(fe_sync(&t.fe));
	TRY(tx_roundtrip(&t, 0, 64));
	TRY(rx_roundtrip(&t, 0, 64));
	tb_destroy(&t);
	return tb_check_fds(&t);
}

/* A signal while the front-end waits for a reply: the wait goes on (a
 * test or fuzzer process gets signals, libFuzzer's SIGALRM timer for one;
 * an interrupted poll() is not a back-end that stopped answering). */
struct late_req {
	pthread_t waiter;
	struct fe *fe;
	int rc;
};

static void
on_sigusr1(int sig)
{
	RTE_SET_USED(sig);
}

static void *
late_request(void *arg)
{
	struct late_req *l = arg;

	usleep(100 * 1000);	/* the waiter is in its poll by now */
	l->rc = pthread_kill(l->waiter, SIGUSR1);
	usleep(50 * 1000);
	if (l->rc == 0)
		l->rc = fe_send(l->fe, VHU_REQ_GET_FEATURES, VHU_FLAG_VERSION,
			NULL, 0, NULL, 0);
	return NULL;
}

int
case_signal_during_wait(void)
{
	struct sigaction sa, old;
	struct late_req l;
	struct tb t;
	pthread_t th;
	uint64_t v = 0;
	uint32_t r = 0;
	int n;

	tb_init(&t);
	TRY(tb_start(&t));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigusr1;	/* no SA_RESTART, as libFuzzer's */
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR1, &sa, &old) == 0, "sigaction");
	l.waiter = pthread_self();
	l.fe = &t.fe;
	l.rc = -1;
	CHECK(pthread_create(&th, NULL, late_request, &l) == 0, "thread");
	n = fe_recv(&t.fe, &r, NULL, &v, sizeof(v), 3000);
	pthread_join(th, NULL);
	sigaction(SIGUSR1, &old, NULL);
	CHECK(l.rc == 0, "signal or late request not sent");
	CHECK(n == (int)sizeof(v) && r == VHU_REQ_GET_FEATURES && v != 0,
		"a signal during the wait ended it: %d bytes, request %u", n, r);
	TRY(tx_roundtrip(&t, 0, 64));
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_mq_two_pairs(void)
{
	struct tb t;
	struct vhu_queue_stats s;
	struct rte_mbuf *m[2];
	unsigned int i;

	tb_init(&t);
	t.cfg.max_queue_pairs = 2;
	t.o.nqp = 2;
	TRY(tb_start(&t));
	for (i = 0; i < 3; i++)
		TRY(tx_roundtrip(&t, 0, 100));
	for (i = 0; i < 2; i++)
		TRY(tx_roundtrip(&t, 1, 1000));
	TRY(rx_roundtrip(&t, 0, 60));
	for (i = 0; i < 4; i++)
		TRY(rx_roundtrip(&t, 1, 70));
	s = qstats(t.dev, 0, VHU_DEQ);
	CHECK(s.packets == 3 && s.bytes == 300, "qp0 deq %lu/%lu",
		(unsigned long)s.packets, (unsigned long)s.bytes);
	s = qstats(t.dev, 1, VHU_DEQ);
	CHECK(s.packets == 2 && s.bytes == 2000, "qp1 deq");
	s = qstats(t.dev, 0, VHU_ENQ);
	CHECK(s.packets == 1 && s.bytes == 60, "qp0 enq");
	s = qstats(t.dev, 1, VHU_ENQ);
	CHECK(s.packets == 4 && s.bytes == 280, "qp1 enq");
	CHECK(vhu_dequeue_burst(t.dev, 2, t_mp, m, 2) == 0, "qp 2 exists");
	CHECK(vhu_queue_stats_get(t.dev, 2, VHU_DEQ, &s) == -EINVAL, "stats qp2");
	/* Reset is a baseline, per queue. */
	TRY(vhu_queue_stats_reset(t.dev, 1, VHU_ENQ));
	CHECK(qstats(t.dev, 1, VHU_ENQ).packets == 0, "reset");
	CHECK(qstats(t.dev, 0, VHU_ENQ).packets == 1, "reset leaked");
	TRY(rx_roundtrip(&t, 1, 70));
	CHECK(qstats(t.dev, 1, VHU_ENQ).packets == 1, "after reset");
	/* Name table. */
	CHECK(strcmp(vhu_queue_stat_name(0), "packets") == 0, "name 0");
	CHECK(strcmp(vhu_queue_stat_name(offsetof(struct vhu_queue_stats,
		malformed) / sizeof(uint64_t) + VHU_MAL_LOOP),
		"malformed_desc_loop") == 0, "loop name");
	CHECK(vhu_queue_stat_name(VHU_QUEUE_STATS_NUM - 1) != NULL &&
		vhu_queue_stat_name(VHU_QUEUE_STATS_NUM) == NULL, "name count");
	tb_destroy(&t);
	return tb_check_fds(&t);
}

static int
add_reg(struct tb *t, unsigned int mi, int fd)
{
	struct vhu_mem_reg_desc d;

	memset(&d, 0, sizeof(d));
	fe_region_desc(&t->fe.mem[mi], &d.region);
	return fe_request(&t->fe, VHU_REQ_ADD_MEM_REG, &d, sizeof(d), &fd, 1);
}

static int
rem_reg(struct tb *t, unsigned int mi)
{
	struct vhu_mem_reg_desc d;

	memset(&d, 0, sizeof(d));
	fe_region_desc(&t->fe.mem[mi], &d.region);
	return fe_request(&t->fe, VHU_REQ_REM_MEM_REG, &d, sizeof(d), NULL, 0);
}

int
case_mem_slots(void)
{
	const unsigned int nadd = 40;
	struct tb t;
	uint8_t got[64 * 1024];
	unsigned int i;
	uint64_t v;

	tb_init(&t);
	TRY(tb_start(&t));
	TRY(fe_get_u64(&t.fe, VHU_REQ_GET_MAX_MEM_SLOTS, &v));
	CHECK(v >= 32, "max mem slots %lu", (unsigned long)v);
	for (i = 0; i < nadd; i++) {
		int mi = fe_mem_add(&t.fe, 64 * MiB + i * 128 * 1024, 64 * 1024,
			0, false);

		CHECK(mi == (int)i + 1, "region %u", i);
		make_frame(fe_va(&t.fe, t.fe.mem[mi].gpa), 64 * 1024, i);
		CHECK(add_reg(&t, (unsigned int)mi, t.fe.mem[mi].fd) == 0,
			"ADD_MEM_REG %u", i);
	}
	CHECK(vhu_mem_regions(t.dev) == nadd + 1, "regions %u",
		vhu_mem_regions(t.dev));
	for (i = 1; i <= nadd; i++) {
		CHECK(vhu_guest_read(t.dev, t.fe.mem[i].gpa, got, sizeof(got)) == 0,
			"read %u", i);
		CHECK(memcmp(got, fe_va(&t.fe, t.fe.mem[i].gpa), sizeof(got)) == 0,
			"content %u", i);
	}
	/* An identical region again (QEMU: one vhost_dev per queue pair) is
	 * counted: it takes two removals to unmap it. An overlapping but
	 * different one is refused. */
	CHECK(add_reg(&t, 1, t.fe.mem[1].fd) == 0, "identical region refused");
	CHECK(vhu_mem_regions(t.dev) == nadd + 1, "identical region mapped twice");
	CHECK(rem_reg(&t, 1) == 0, "REM_MEM_REG of a counted region");
	CHECK(vhu_guest_read(t.dev, t.fe.mem[1].gpa, got, 16) == 0,
		"region unmapped while still added once");
	{
		struct vhu_mem_reg_desc d;
		int fd = t.fe.mem[1].fd;

		memset(&d, 0, sizeof(d));
		fe_region_desc(&t.fe.mem[1], &d.region);
		d.region.size /= 2;
		CHECK(fe_request(&t.fe, VHU_REQ_ADD_MEM_REG, &d, sizeof(d), &fd,
			1) == 1, "overlapping region accepted");
	}
	/* Remove every other region. */
	for (i = 1; i <= nadd; i += 2)
		CHECK(rem_reg(&t, i) == 0, "REM_MEM_REG %u", i);
	CHECK(vhu_mem_regions(t.dev) == nadd / 2 + 1, "after removal");
	CHECK(rem_reg(&t, 1) == 1, "removing twice accepted");
	for (i = 1; i <= nadd; i++) {
		int rc = vhu_guest_read(t.dev, t.fe.mem[i].gpa, got, 16);

		CHECK((i % 2 == 1) ? rc == -EFAULT : rc == 0, "region %u: %d", i,
			rc);
	}
	/* REM_MEM_REG may carry one (ignored) fd. */
	{
		struct vhu_mem_reg_desc d;
		int fd = t.fe.mem[2].fd;

		memset(&d, 0, sizeof(d));
		fe_region_desc(&t.fe.mem[2], &d.region);
		CHECK(fe_request(&t.fe, VHU_REQ_REM_MEM_REG, &d, sizeof(d), &fd,
			1) == 0, "REM_MEM_REG with fd");
	}
	CHECK(vhu_mem_regions(t.dev) == nadd / 2, "after fd removal");
	TRY(tx_roundtrip(&t, 0, 1000));
	TRY(rx_roundtrip(&t, 0, 1000));
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_mtu_rarp_status(void)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	struct tb t;
	struct rte_mbuf *m[4];
	const uint8_t *p;
	uint64_t u = 0;
	uint32_t mtu = 0;
	struct vhu_queue_stats s;

	tb_init(&t);
	t.cfg.mtu = 1500;
	TRY(tb_start(&t));
	CHECK(t.fe.features & BIT(VHU_F_NET_MTU), "MTU feature");
	CHECK(fe_request_u64(&t.fe, VHU_REQ_NET_SET_MTU, 9000) == 0, "MTU 9000");
	CHECK(ev_wait(VHU_EVENT_MTU, -1, -1, 1, 2000) &&
		ev_find(VHU_EVENT_MTU, -1, -1, &mtu) && mtu == 9000, "MTU event %u",
		mtu);
	CHECK(fe_request_u64(&t.fe, VHU_REQ_NET_SET_MTU, 20) == 1, "MTU 20");
	CHECK(fe_request_u64(&t.fe, VHU_REQ_NET_SET_MTU, 1ull << 33) == 1,
		"MTU 2^33");

	memcpy(&u, mac, 6);
	CHECK(fe_request_u64(&t.fe, VHU_REQ_SEND_RARP, u) == 0, "SEND_RARP");
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 4) == 1, "no RARP frame");
	p = rte_pktmbuf_mtod(m[0], const uint8_t *);
	CHECK(m[0]->pkt_len == 60, "RARP length %u", m[0]->pkt_len);
	CHECK(memcmp(p, "\xff\xff\xff\xff\xff\xff", 6) == 0 &&
		memcmp(p + 6, mac, 6) == 0 && p[12] == 0x80 && p[13] == 0x35 &&
		p[21] == 3 && memcmp(p + 22, mac, 6) == 0 &&
		memcmp(p + 32, mac, 6) == 0, "RARP content");
	rte_pktmbuf_free(m[0]);
	s = qstats(t.dev, 0, VHU_DEQ);
	CHECK(s.rarp_sent == 1 && s.packets == 0, "rarp counters");
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 4) == 0, "second RARP");
	TRY(tx_roundtrip(&t, 0, 90));
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_destroy_fd_leak(void)
{
	struct tb t;
	struct stat st;
	unsigned int k;
	int base;

	tb_init(&t);
	base = t.fd_base;
	for (k = 0; k < 3; k++) {
		tb_init(&t);
		t.cfg.max_queue_pairs = 2;
		t.o.nqp = 2;
		TRY(tb_start(&t));
		TRY(tx_roundtrip(&t, 1, 500));
		vhu_destroy(t.dev);	/* while the front-end is connected */
		t.dev = NULL;
		CHECK(stat(t.path, &st) != 0 && errno == ENOENT,
			"socket file left behind");
		fe_fini(&t.fe);
	}
	/* Never connected, server and client. */
	tb_init(&t);
	TRY(tb_create(&t));
	tb_destroy(&t);
	tb_init(&t);
	t.cfg.client = true;
	TRY(tb_create(&t));
	msleep(50);
	tb_destroy(&t);
	CHECK(fe_count_fds() == base, "fd leak: %d, was %d", fe_count_fds(), base);
	/* A path in use by a live listener is refused. */
	tb_init(&t);
	TRY(tb_create(&t));
	{
		struct vhu_config c = t.cfg;

		CHECK(vhu_create(&c) == NULL, "second server on a live socket");
	}
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_reset_owner(void)
{
	struct tb t;
	struct rte_mbuf *m[2];
	uint32_t base;

	tb_init(&t);
	TRY(tb_start(&t));
	TRY(tx_roundtrip(&t, 0, 100));
	TRY(rx_roundtrip(&t, 0, 100));
	/* Deprecated RESET_OWNER: all rings stop, the session stays. */
	TRY(fe_request(&t.fe, VHU_REQ_RESET_OWNER, NULL, 0, NULL, 0));
	CHECK(ev_wait(VHU_EVENT_LINK_DOWN, -1, -1, 1, 2000), "LINK_DOWN");
	CHECK(ev_wait(VHU_EVENT_QUEUE_DOWN, -1, -1, 2, 2000), "QUEUE_DOWN");
	fe_tx_frame(&t.fe, 1, NULL, 12, (const uint8_t *)"0123456789abcdef",
		16, 1, false, false);
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 2) == 0, "ring still runs");
	CHECK(vhu_connected(t.dev) && vhu_mem_regions(t.dev) == 1, "session");
	TRY(fe_get_vring_base(&t.fe, 1, &base));
	CHECK(base == t_vring_base(&t.fe.vq[1], 1, 1), "base %#x", base);
	TRY(fe_vring_start(&t.fe, 1, false, false));
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 2) == 0, "base not honoured");
	tb_destroy(&t);
	return tb_check_fds(&t);
}
