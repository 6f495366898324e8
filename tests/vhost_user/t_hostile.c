/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hostile front-ends and guests: one test per hole. Protocol faults are
 * refused without changing the device; ring faults are counted by reason,
 * stop only their queue (QUEUE_FAULT event, error eventfd) and the other
 * queues keep working.
 */

#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vhu_test.h"
#include "vhu_cases.h"

#define MiB (1ull << 20)
#define BIT(n) (1ull << (n))

int
h_start(struct tb *t, uint64_t drop, uint16_t ring, bool two_regions)
{
	tb_init(t);
	t->cfg.max_queue_pairs = 2;
	t->o.nqp = 2;
	t->o.features &= ~drop;
	if (ring != 0)
		t->o.ring_size = ring;
	if (two_regions) {
		CHECK(fe_mem_add(&t->fe, 0, 4 * MiB, 0, true) == 0, "region 0");
		CHECK(fe_mem_add(&t->fe, 4 * MiB, 2 * MiB, 0, true) == 1,
			"region 1");
		t->fe.alloc_next = 0x1000;
		t->fe.alloc_end = 4 * MiB;
	}
	return tb_start(t);
}

/* Header + @p len frame bytes in guest memory. */
uint64_t
put(struct tb *t, const struct vhu_net_hdr *h, uint32_t len)
{
	uint64_t a = fe_alloc(&t->fe, 12 + len, 64);
	uint8_t *p = fe_va(&t->fe, a);

	memset(p, 0, 12);
	if (h != NULL)
		memcpy(p, h, 12);
	make_frame(p + 12, len, len);
	return a;
}

static int
tx_inject(struct tb *t, uint16_t head)
{
	struct rte_mbuf *m[4];
	uint16_t n;

	fe_avail_add(&t->fe.vq[1], head);
	fe_avail_publish(&t->fe.vq[1]);
	n = vhu_dequeue_burst(t->dev, 0, t_mp, m, 4);
	rte_pktmbuf_free_bulk(m, n);
	CHECK(n == 0, "hostile chain dequeued as %u frame(s)", n);
	return 0;
}

static int
rx_inject(struct tb *t, uint16_t head)
{
	uint8_t f[100];
	struct rte_mbuf *m;
	uint16_t n;

	fe_avail_add(&t->fe.vq[0], head);
	fe_avail_publish(&t->fe.vq[0]);
	make_frame(f, sizeof(f), 1);
	m = mk_mbuf(t_mp, f, sizeof(f));
	n = vhu_enqueue_burst(t->dev, 0, &m, 1);
	rte_pktmbuf_free(m);
	CHECK(n == 0, "frame delivered into a hostile chain");
	return 0;
}

/* The fault on @p vqi was counted as @p why, stopped that queue only. */
int
h_verify(struct tb *t, unsigned int vqi, enum vhu_malformed why)
{
	uint16_t qp = (uint16_t)(vqi / 2), q;
	enum vhu_queue_dir dir = (vqi & 1) ? VHU_DEQ : VHU_ENQ, d;
	struct vhu_queue_stats s;
	uint32_t val = 999;

	CHECK(ev_wait(VHU_EVENT_QUEUE_FAULT, qp, (int)dir, 1, 2000),
		"no QUEUE_FAULT event for %s", vhu_malformed_name(why));
	CHECK(ev_find(VHU_EVENT_QUEUE_FAULT, qp, (int)dir, &val) && val == why,
		"fault reason %u (%s), want %s", val,
		vhu_malformed_name((enum vhu_malformed)val),
		vhu_malformed_name(why));
	s = qstats(t->dev, qp, dir);
	CHECK(s.malformed[why] == 1 && malformed_total(&s) == 1 &&
		s.faults == 1, "%s counted %lu, total %lu, faults %lu",
		vhu_malformed_name(why), (unsigned long)s.malformed[why],
		(unsigned long)malformed_total(&s), (unsigned long)s.faults);
	CHECK(fe_eventfd_read(t->fe.vq[vqi].errfd) >= 1,
		"error eventfd not signalled");
	CHECK(ev_count(VHU_EVENT_QUEUE_DOWN, qp, (int)dir) == 1, "QUEUE_DOWN");
	/* A stopped ring of queue pair 0 takes the link down: a port that
	 * says up moves frames. */
	if (qp == 0)
		CHECK(ev_wait(VHU_EVENT_LINK_DOWN, -1, -1, 1, 2000),
			"link still up with a stopped queue of pair 0");
	else
		CHECK(ev_count(VHU_EVENT_LINK_DOWN, -1, -1) == 0,
			"link went down");

	/* The queue stays stopped, even for a good chain. */
	if (dir == VHU_DEQ) {
		struct rte_mbuf *m[2];
		uint8_t f[64];

		make_frame(f, sizeof(f), 2);
		fe_tx_frame(&t->fe, vqi, NULL, 12, f, sizeof(f), 1, false, false);
		CHECK(vhu_dequeue_burst(t->dev, qp, t_mp, m, 2) == 0,
			"faulted queue still running");
		TRY(rx_roundtrip(t, qp, 300));	/* sibling queue */
	} else {
		uint8_t f[64];
		struct rte_mbuf *m;

		fe_rx_post(&t->fe, vqi, 2048, 1, false);
		make_frame(f, sizeof(f), 2);
		m = mk_mbuf(t_mp, f, sizeof(f));
		CHECK(vhu_enqueue_burst(t->dev, qp, &m, 1) == 0,
			"faulted queue still running");
		rte_pktmbuf_free(m);
		TRY(tx_roundtrip(t, qp, 300));	/* sibling queue */
	}
	/* The other queue pair is untouched. */
	TRY(tx_roundtrip(t, 1 - qp, 1514));
	TRY(rx_roundtrip(t, 1 - qp, 1514));
	for (q = 0; q < 2; q++) {
		for (d = VHU_DEQ; d <= VHU_ENQ; d++) {
			if (q == qp && d == dir)
				continue;
			s = qstats(t->dev, q, d);
			CHECK(malformed_total(&s) == 0 && s.faults == 0,
				"fault leaked to qp %u dir %d", q, d);
		}
	}
	CHECK(vhu_connected(t->dev), "device disconnected");
	tb_destroy(t);
	return tb_check_fds(t);
}

/* Head @p head made available on TX: not dequeued, counted as @p why. */
static int
tx_fault(struct tb *t, uint16_t head, enum vhu_malformed why)
{
	TRY(tx_inject(t, head));
	return h_verify(t, 1, why);
}

/* Head @p head made available on RX: not filled, counted as @p why. */
static int
rx_fault(struct tb *t, uint16_t head, enum vhu_malformed why)
{
	TRY(rx_inject(t, head));
	return h_verify(t, 0, why);
}

/* One descriptor {@p addr, @p len, @p flags} at head 0 of ring @p vqi
 * (1 TX, 0 RX): counted as @p why. */
static int
desc_fault(struct tb *t, unsigned int vqi, uint64_t addr, uint32_t len,
	uint16_t flags, enum vhu_malformed why)
{
	fe_desc(&t->fe.vq[vqi], 0, addr, len, flags, 0);
	return vqi == 1 ? tx_fault(t, 0, why) : rx_fault(t, 0, why);
}

/* ---- protocol ---- */

int
case_bad_vring_index(void)
{
	struct tb t;
	struct vhu_vring_state st = { 0x10001, 0 };
	struct vhu_vring_addr a;
	struct pollfd p;
	uint64_t u;
	int fd;

	TRY(h_start(&t, 0, 0, false));
	/* 0x10000 would alias vring 0 once cut to 16 bits. */
	CHECK(fe_request_state(&t.fe, VHU_REQ_SET_VRING_ENABLE, 0x10000, 0) == 1,
		"index 0x10000 accepted");
	TRY(rx_roundtrip(&t, 0, 100));
	CHECK(fe_request_state(&t.fe, VHU_REQ_SET_VRING_NUM, 0x10000, 64) == 1,
		"SET_VRING_NUM index 0x10000");
	/* GET_VRING_BASE on a bad index: no reply, vring 1 not stopped. */
	TRY(fe_send(&t.fe, VHU_REQ_GET_VRING_BASE, VHU_FLAG_VERSION, &st,
		sizeof(st), NULL, 0));
	TRY(fe_sync(&t.fe));
	p.fd = t.fe.sock;
	p.events = POLLIN;
	CHECK(poll(&p, 1, 50) == 0, "stray reply");
	TRY(tx_roundtrip(&t, 0, 100));
	/* Unknown bits above the index / NOFD. */
	fd = eventfd(0, EFD_CLOEXEC);
	u = 0x201;
	CHECK(fe_request(&t.fe, VHU_REQ_SET_VRING_KICK, &u, sizeof(u), &fd, 1) == 1,
		"bit 9 accepted");
	u = (1ull << 32) | 1;
	CHECK(fe_request(&t.fe, VHU_REQ_SET_VRING_CALL, &u, sizeof(u), &fd, 1) == 1,
		"bit 32 accepted");
	u = 4;	/* nr_vq == 4 */
	CHECK(fe_request(&t.fe, VHU_REQ_SET_VRING_CALL, &u, sizeof(u), &fd, 1) == 1,
		"vring 4 accepted");
	close(fd);
	memset(&a, 0, sizeof(a));
	a.index = 0xffffffffu;
	CHECK(fe_request(&t.fe, VHU_REQ_SET_VRING_ADDR, &a, sizeof(a), NULL, 0) == 1,
		"SET_VRING_ADDR index 2^32-1");
	/* Running rings refuse NUM/BASE; NUM must be a power of two. */
	CHECK(fe_request_state(&t.fe, VHU_REQ_SET_VRING_NUM, 0, 1000) == 1, "num");
	CHECK(fe_request_state(&t.fe, VHU_REQ_SET_VRING_BASE, 1, 3) == 1, "base");
	TRY(tx_roundtrip(&t, 0, 100));
	TRY(tx_roundtrip(&t, 1, 100));
	TRY(rx_roundtrip(&t, 1, 100));
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_payload_size(void)
{
	struct tb t;
	uint8_t big[1000];
	struct vhu_mem_table_desc mt;
	int fds[8], i;
	struct pollfd p;
	uint64_t u = 0;
	uint32_t hdr[3];

	TRY(h_start(&t, 0, 0, false));
	memset(big, 0, sizeof(big));
	CHECK(fe_request(&t.fe, VHU_REQ_SET_VRING_NUM, big, 16, NULL, 0) == 1,
		"16-byte SET_VRING_NUM");
	CHECK(fe_request(&t.fe, VHU_REQ_SET_FEATURES, big, 4, NULL, 0) == 1,
		"4-byte SET_FEATURES");
	/* A GET with a payload is refused without a reply. */
	TRY(fe_send(&t.fe, VHU_REQ_GET_FEATURES, VHU_FLAG_VERSION, &u, 8, NULL,
		0));
	TRY(fe_sync(&t.fe));
	p.fd = t.fe.sock;
	p.events = POLLIN;
	CHECK(poll(&p, 1, 50) == 0, "reply to a bad GET");
	/* nregions above the array (9 > 8). */
	memset(&mt, 0, sizeof(mt));
	fe_region_desc(&t.fe.mem[0], &mt.regions[0]);
	for (i = 0; i < 8; i++)
		fds[i] = t.fe.mem[0].fd;
	memcpy(big, &mt, sizeof(mt));
	((struct vhu_mem_table_desc *)(void *)big)->nregions = 9;
	CHECK(fe_request(&t.fe, VHU_REQ_SET_MEM_TABLE, big, 8 + 9 * 32, fds,
		8) == 1, "9 regions accepted");
	/* nregions disagreeing with the payload size. */
	mt.nregions = 2;
	CHECK(fe_request(&t.fe, VHU_REQ_SET_MEM_TABLE, &mt, 8 + 32, fds, 1) == 1,
		"nregions 2 with one region");
	mt.nregions = 1;
	CHECK(fe_request(&t.fe, VHU_REQ_SET_MEM_TABLE, &mt, 8 + 32, NULL, 0) == 1,
		"region without fd");
	CHECK(fe_request(&t.fe, VHU_REQ_SET_MEM_TABLE, &mt, 8 + 32 + 5, fds,
		1) == 1, "ragged payload");
	/* Larger than any request: skipped, refused, connection kept. */
	CHECK(fe_request(&t.fe, VHU_REQ_SET_FEATURES, big, sizeof(big), NULL,
		0) == 1, "1000-byte payload");
	TRY(fe_sync(&t.fe));
	CHECK(vhu_mem_regions(t.dev) == 1, "table changed");
	TRY(tx_roundtrip(&t, 0, 1000));
	TRY(rx_roundtrip(&t, 1, 1000));
	/* A header announcing 1 MiB cannot be resynchronised: disconnect. */
	hdr[0] = VHU_REQ_SET_FEATURES;
	hdr[1] = VHU_FLAG_VERSION;
	hdr[2] = 1u << 20;
	CHECK(send(t.fe.sock, hdr, sizeof(hdr), 0) == sizeof(hdr), "send");
	CHECK(ev_wait(VHU_EVENT_DISCONNECTED, -1, -1, 1, 3000),
		"not disconnected");
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_extra_fds(void)
{
	struct tb t;
	int fds[12], c0, i;
	uint64_t u;
	struct vhu_mem_table_desc mt;
	struct vhu_mem_reg_desc rd;

	TRY(h_start(&t, 0, 0, false));
	c0 = fe_count_fds();
	for (i = 0; i < 12; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	u = t.fe.features;
	CHECK(fe_request(&t.fe, VHU_REQ_SET_FEATURES, &u, 8, fds, 5) == 1,
		"fds on SET_FEATURES accepted");
	u = 0;
	CHECK(fe_request(&t.fe, VHU_REQ_SET_VRING_CALL, &u, 8, fds, 2) == 1,
		"2 fds on SET_VRING_CALL accepted");
	CHECK(fe_request(&t.fe, VHU_REQ_SET_OWNER, NULL, 0, fds, 12) == 1,
		"12 fds accepted");
	memset(&mt, 0, sizeof(mt));
	mt.nregions = 1;
	fe_region_desc(&t.fe.mem[0], &mt.regions[0]);
	close(fds[0]);
	fds[0] = t.fe.mem[0].fd;
	CHECK(fe_request(&t.fe, VHU_REQ_SET_MEM_TABLE, &mt, 8 + 32, fds, 2) == 1,
		"2 fds for 1 region accepted");
	memset(&rd, 0, sizeof(rd));
	rd.region.gpa = 512 * MiB;
	rd.region.size = 4096;
	CHECK(fe_request(&t.fe, VHU_REQ_REM_MEM_REG, &rd, sizeof(rd), fds + 1,
		1) == 1, "REM_MEM_REG of nothing accepted");
	for (i = 1; i < 12; i++)
		close(fds[i]);
	CHECK(fe_count_fds() == c0, "fds leaked: %d open, %d before",
		fe_count_fds(), c0);
	TRY(rx_roundtrip(&t, 0, 200));
	TRY(tx_roundtrip(&t, 0, 200));
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_fd_replace_no_leak(void)
{
	struct tb t;
	int c0, i, e;
	uint64_t u;

	TRY(h_start(&t, 0, 0, false));
	/* The device keeps one log fd (SET_LOG_FD replaces it). */
	e = eventfd(0, EFD_CLOEXEC);
	CHECK(fe_request(&t.fe, VHU_REQ_SET_LOG_FD, NULL, 0, &e, 1) == 0, "log fd");
	close(e);
	c0 = fe_count_fds();
	for (i = 0; i < 50; i++) {
		e = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		u = 0;
		CHECK(fe_request(&t.fe, VHU_REQ_SET_VRING_CALL, &u, 8, &e, 1) == 0,
			"call");
		close(t.fe.vq[0].callfd);
		t.fe.vq[0].callfd = e;
		e = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		u = 1;
		CHECK(fe_request(&t.fe, VHU_REQ_SET_VRING_KICK, &u, 8, &e, 1) == 0,
			"kick");
		close(t.fe.vq[1].kickfd);
		t.fe.vq[1].kickfd = e;
		e = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		u = 0;
		CHECK(fe_request(&t.fe, VHU_REQ_SET_VRING_ERR, &u, 8, &e, 1) == 0,
			"err");
		close(t.fe.vq[0].errfd);
		t.fe.vq[0].errfd = e;
		e = eventfd(0, EFD_CLOEXEC);
		CHECK(fe_request(&t.fe, VHU_REQ_SET_LOG_FD, NULL, 0, &e, 1) == 0,
			"log fd");
		close(e);
	}
	msleep(20);	/* kick fds are closed after their QUEUE_DOWN event */
	CHECK(fe_count_fds() == c0, "fds leaked: %d open, %d before",
		fe_count_fds(), c0);
	TRY(rx_roundtrip(&t, 0, 200));
	CHECK(fe_eventfd_read(t.fe.vq[0].callfd) == 1, "new call fd not used");
	TRY(tx_roundtrip(&t, 0, 200));
	CHECK(ev_wait(VHU_EVENT_QUEUE_UP, 0, VHU_DEQ, 51, 2000) &&
		ev_count(VHU_EVENT_QUEUE_UP, 0, VHU_DEQ) == 51, "QUEUE_UP per kick");
	tb_destroy(&t);
	return tb_check_fds(&t);
}

static int
log_base(struct tb *t, int fd, uint64_t size, uint64_t off, uint64_t *reply)
{
	struct vhu_log_desc ld = { size, off };
	uint32_t r;

	TRY(fe_send(&t->fe, VHU_REQ_SET_LOG_BASE, VHU_FLAG_VERSION, &ld,
		sizeof(ld), &fd, 1));
	CHECK(fe_recv(&t->fe, &r, NULL, reply, 8, 3000) == 8 &&
		r == VHU_REQ_SET_LOG_BASE, "SET_LOG_BASE reply");
	return 0;
}

int
case_log_overflow(void)
{
	static const uint64_t bad[][2] = {
		{ UINT64_MAX - 100, 200 },	/* size + offset wraps */
		{ 64, UINT64_MAX - 4095 },	/* offset + size wraps */
		{ 0, 0 },			/* empty */
		{ 8192, 0 },			/* file is 4096 bytes */
		{ 1ull << 40, 0 },		/* absurd size */
	};
	struct tb t;
	uint64_t reply;
	unsigned int i;
	int fd, c0;

	TRY(h_start(&t, 0, 0, false));
	fd = memfd_create("vhu-log", MFD_CLOEXEC);
	CHECK(fd >= 0 && ftruncate(fd, 4096) == 0, "memfd");
	c0 = fe_count_fds();
	for (i = 0; i < RTE_DIM(bad); i++) {
		TRY(log_base(&t, fd, bad[i][0], bad[i][1], &reply));
		CHECK(reply != 0, "log %u accepted", i);
	}
	TRY(log_base(&t, fd, 64, 0, &reply));
	CHECK(reply == 0, "valid log refused");
	CHECK(fe_count_fds() == c0, "fds leaked");
	close(fd);
	TRY(rx_roundtrip(&t, 0, 100));
	tb_destroy(&t);
	return tb_check_fds(&t);
}

static int
add_reg_raw(struct tb *t, uint64_t gpa, uint64_t size, uint64_t off,
	uint64_t qva, int fd)
{
	struct vhu_mem_reg_desc d;

	memset(&d, 0, sizeof(d));
	d.region.gpa = gpa;
	d.region.size = size;
	d.region.mmap_offset = off;
	d.region.qva = qva;
	return fe_request(&t->fe, VHU_REQ_ADD_MEM_REG, &d, sizeof(d), &fd, 1);
}

int
case_region_fd_too_small(void)
{
	struct tb t;
	struct vhu_mem_table_desc mt;
	int fd, efd;

	TRY(h_start(&t, 0, 0, false));
	fd = memfd_create("vhu-small", MFD_CLOEXEC);
	CHECK(fd >= 0 && ftruncate(fd, (off_t)MiB) == 0, "memfd");
	memset(&mt, 0, sizeof(mt));
	mt.nregions = 1;
	mt.regions[0].gpa = 0;
	mt.regions[0].size = 2 * MiB;
	mt.regions[0].qva = 0x7f0000000000ull;
	CHECK(fe_request(&t.fe, VHU_REQ_SET_MEM_TABLE, &mt, 8 + 32, &fd, 1) == 1,
		"SET_MEM_TABLE with a short file");
	CHECK(add_reg_raw(&t, 64 * MiB, 2 * MiB, 0, 0x7f0000000000ull, fd) == 1,
		"ADD_MEM_REG with a short file");
	CHECK(add_reg_raw(&t, 64 * MiB, 512 * 1024, 768 * 1024,
		0x7f0000000000ull, fd) == 1, "offset + size past the file");
	efd = eventfd(0, EFD_CLOEXEC);
	CHECK(add_reg_raw(&t, 64 * MiB, 4096, 0, 0x7f0000000000ull, efd) == 1,
		"eventfd as memory");
	close(efd);
	CHECK(vhu_mem_regions(t.dev) == 1, "table changed");
	CHECK(add_reg_raw(&t, 64 * MiB, 512 * 1024, 512 * 1024,
		0x7f0000000000ull, fd) == 0, "exact fit refused");
	CHECK(vhu_mem_regions(t.dev) == 2, "regions");
	close(fd);
	TRY(tx_roundtrip(&t, 0, 100));
	TRY(rx_roundtrip(&t, 0, 100));
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_region_overlap(void)
{
	struct tb t;
	struct vhu_mem_table_desc mt;
	int fds[2], i;
	const uint64_t q = 0x7f0000000000ull;

	TRY(h_start(&t, 0, 0, false));
	for (i = 0; i < 2; i++) {
		fds[i] = memfd_create("vhu-ovl", MFD_CLOEXEC);
		CHECK(fds[i] >= 0 && ftruncate(fds[i], (off_t)(4 * MiB)) == 0,
			"memfd");
	}
	memset(&mt, 0, sizeof(mt));
	mt.nregions = 2;
	mt.regions[0] = (struct vhu_mem_region_desc){ 0, 2 * MiB, q, 0 };
	mt.regions[1] = (struct vhu_mem_region_desc){ 1 * MiB, 2 * MiB,
		q + 16 * MiB, 0 };
	CHECK(fe_request(&t.fe, VHU_REQ_SET_MEM_TABLE, &mt, 8 + 64, fds, 2) == 1,
		"GPA overlap");
	mt.regions[1] = (struct vhu_mem_region_desc){ 4 * MiB, 2 * MiB,
		q + 1 * MiB, 0 };
	CHECK(fe_request(&t.fe, VHU_REQ_SET_MEM_TABLE, &mt, 8 + 64, fds, 2) == 1,
		"QVA overlap");
	mt.nregions = 1;
	mt.regions[0] = (struct vhu_mem_region_desc){ 0xffffffffffe00000ull,
		4 * MiB, q, 0 };
	CHECK(fe_request(&t.fe, VHU_REQ_SET_MEM_TABLE, &mt, 8 + 32, fds, 1) == 1,
		"GPA overflow");
	mt.regions[0] = (struct vhu_mem_region_desc){ 0, 2 * MiB,
		0xffffffffffe00000ull, 0 };
	CHECK(fe_request(&t.fe, VHU_REQ_SET_MEM_TABLE, &mt, 8 + 32, fds, 1) == 1,
		"QVA overflow");
	mt.regions[0] = (struct vhu_mem_region_desc){ 0, 0, q, 0 };
	CHECK(fe_request(&t.fe, VHU_REQ_SET_MEM_TABLE, &mt, 8 + 32, fds, 1) == 1,
		"size 0");
	mt.regions[0] = (struct vhu_mem_region_desc){ 0x800, 2 * MiB, q, 0 };
	CHECK(fe_request(&t.fe, VHU_REQ_SET_MEM_TABLE, &mt, 8 + 32, fds, 1) == 1,
		"unaligned");
	/* ADD_MEM_REG overlapping region 0 (guest physical). */
	CHECK(add_reg_raw(&t, 1 * MiB, 64 * 1024, 0, q, fds[0]) == 1,
		"ADD_MEM_REG overlap");
	CHECK(vhu_mem_regions(t.dev) == 1, "table changed");
	close(fds[0]);
	close(fds[1]);
	TRY(tx_roundtrip(&t, 0, 100));
	TRY(rx_roundtrip(&t, 0, 100));
	tb_destroy(&t);
	return tb_check_fds(&t);
}

/* ---- rings ---- */

int
case_desc_loop(void)
{
	struct tb t;
	struct fe_vring *v;
	uint64_t a;

	TRY(h_start(&t, 0, 0, false));
	v = &t.fe.vq[1];
	a = put(&t, NULL, 100);
	fe_desc(v, 0, a, 12, VRING_DESC_F_NEXT, 1);
	fe_desc(v, 1, a + 12, 50, VRING_DESC_F_NEXT, 0);
	return tx_fault(&t, 0, VHU_MAL_LOOP);
}

int
case_addr_past_region(void)
{
	struct tb t;

	TRY(h_start(&t, 0, 0, false));
	/* Starts 100 bytes before the end of the only region, 200 long. */
	return desc_fault(&t, 1, 4 * MiB - 100, 200, 0,
		VHU_MAL_ADDR);
}

int
case_zero_len_bad_addr(void)
{
	struct tb t;
	struct fe_vring *v;
	uint64_t a;

	TRY(h_start(&t, 0, 0, false));
	v = &t.fe.vq[1];
	a = put(&t, NULL, 100);
	fe_desc(v, 0, a, 12, VRING_DESC_F_NEXT, 1);
	fe_desc(v, 1, 0x4000000000ull, 0, VRING_DESC_F_NEXT, 2);
	fe_desc(v, 2, a + 12, 100, 0, 0);
	return tx_fault(&t, 0, VHU_MAL_ZERO_LEN);
}

int
case_hdr_split_3(void)
{
	struct tb t;
	struct fe_vring *v;
	uint64_t a;

	TRY(h_start(&t, 0, 0, false));
	v = &t.fe.vq[1];
	a = put(&t, NULL, 100);
	fe_desc(v, 0, a, 4, VRING_DESC_F_NEXT, 1);
	fe_desc(v, 1, a + 4, 4, VRING_DESC_F_NEXT, 2);
	fe_desc(v, 2, a + 8, 104, 0, 0);
	return tx_fault(&t, 0, VHU_MAL_HDR_SPLIT);
}

int
case_chain_short(void)
{
	struct tb t;

	TRY(h_start(&t, 0, 0, false));
	return desc_fault(&t, 1, put(&t, NULL, 0), 8, 0,
		VHU_MAL_CHAIN_SHORT);
}

int
case_chain_too_long(void)
{
	struct tb t;
	struct fe_vring *v;
	uint64_t a;
	uint16_t i;

	TRY(h_start(&t, 0, 512, false));
	v = &t.fe.vq[1];
	a = put(&t, NULL, 299 * 4);
	fe_desc(v, 0, a, 12, VRING_DESC_F_NEXT, 1);
	for (i = 1; i < 300; i++)
		fe_desc(v, i, a + 12 + (i - 1) * 4u, 4,
			i < 299 ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	return tx_fault(&t, 0, VHU_MAL_CHAIN_LONG);
}

int
case_indirect_too_long(void)
{
	static const uint32_t lens[] = { 16 * 257, 24 };
	struct tb t;
	unsigned int k;

	for (k = 0; k < RTE_DIM(lens); k++) {
		uint64_t tbl;

		TRY(h_start(&t, 0, 256, false));
		tbl = fe_alloc(&t.fe, 16 * 257, 16);
		fe_desc(&t.fe.vq[1], 0, tbl, lens[k], VRING_DESC_F_INDIRECT, 0);
		TRY(tx_inject(&t, 0));
		TRY(h_verify(&t, 1, VHU_MAL_INDIRECT_LEN));
	}
	return 0;
}

int
case_indirect_nested(void)
{
	struct tb t;
	struct vring_desc *tv;
	uint64_t t1, t2, a;

	TRY(h_start(&t, 0, 0, false));
	a = put(&t, NULL, 100);
	t2 = fe_alloc(&t.fe, 32, 16);
	t1 = fe_alloc(&t.fe, 32, 16);
	tv = fe_va(&t.fe, t2);
	tv[0] = (struct vring_desc){ a, 112, 0, 0 };
	tv = fe_va(&t.fe, t1);
	tv[0] = (struct vring_desc){ t2, 16, VRING_DESC_F_INDIRECT, 0 };
	return desc_fault(&t, 1, t1, 16, VRING_DESC_F_INDIRECT,
		VHU_MAL_INDIRECT_NESTED);
}

int
case_indirect_misaligned(void)
{
	struct tb t;
	uint64_t tbl;

	TRY(h_start(&t, 0, 0, false));
	tbl = fe_alloc(&t.fe, 64, 16) + 8;
	return desc_fault(&t, 1, tbl, 32, VRING_DESC_F_INDIRECT,
		VHU_MAL_INDIRECT_ALIGN);
}

int
case_indirect_span(void)
{
	struct tb t;

	TRY(h_start(&t, 0, 0, true));
	/* 16 bytes in region 0, 16 in region 1. */
	return desc_fault(&t, 1, 4 * MiB - 16, 32, VRING_DESC_F_INDIRECT,
		VHU_MAL_INDIRECT_SPAN);
}

int
case_indirect_not_negotiated(void)
{
	struct tb t;
	struct vring_desc *tv;
	uint64_t tbl, a;

	TRY(h_start(&t, BIT(VHU_F_RING_INDIRECT_DESC), 0, false));
	a = put(&t, NULL, 100);
	tbl = fe_alloc(&t.fe, 16, 16);
	tv = fe_va(&t.fe, tbl);
	tv[0] = (struct vring_desc){ a, 112, 0, 0 };
	return desc_fault(&t, 1, tbl, 16, VRING_DESC_F_INDIRECT,
		VHU_MAL_INDIRECT_FLAGS);
}

struct toggler {
	uint32_t *len;
	int stop;
};

/* Flip a descriptor's length between fitting and huge as fast as we can. */
static void *
toggle(void *arg)
{
	struct toggler *tg = arg;

	while (!__atomic_load_n(&tg->stop, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(tg->len, 60, __ATOMIC_RELAXED);
		__atomic_store_n(tg->len, 0x7ffffff0, __ATOMIC_RELAXED);
	}
	return NULL;
}

/*
 * Descriptors changing under the device are read once, on either ring
 * layout: while a thread flips @p len (the length of the data descriptor
 * of a chain of a 12-byte header and 60 frame bytes at @p a) between 60
 * and huge, @p repost makes the chain available again, 20000 times. Every frame
 * must be consistent (60 bytes, counted as such), or the queue stops
 * with ADDR. @p what names the race in the output.
 */
int
h_double_fetch(struct tb *t, uint64_t a, uint32_t *len, h_repost_t repost,
	const char *what)
{
	struct toggler tg = {.len = len, .stop = 0};
	struct rte_mbuf *m[4];
	struct vhu_queue_stats s;
	pthread_t th;
	unsigned int i, delivered = 0;

	CHECK(pthread_create(&th, NULL, toggle, &tg) == 0, "thread");
	for (i = 0; i < 20000; i++) {
		uint16_t n;

		repost(t, a);
		n = vhu_dequeue_burst(t->dev, 0, t_mp, m, 4);
		if (n == 0)
			break;
		if (n != 1 || m[0]->pkt_len != 60) {
			__atomic_store_n(&tg.stop, 1, __ATOMIC_RELEASE);
			pthread_join(th, NULL);
			CHECK(0, "inconsistent frame: %u frames, length %u", n,
				m[0]->pkt_len);
		}
		rte_pktmbuf_free(m[0]);
		delivered++;
	}
	__atomic_store_n(&tg.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	s = qstats(t->dev, 0, VHU_DEQ);
	printf("%s: %u frames of 60 bytes, %lu fault(s)\n", what, delivered,
		(unsigned long)s.faults);
	CHECK(s.packets == delivered && s.bytes == 60ull * delivered,
		"counters disagree with frames");
	if (s.faults == 0) {
		/* The race never hit the huge length: still consistent. */
		CHECK(i == 20000, "stopped without a fault");
		tb_destroy(t);
		return tb_check_fds(t);
	}
	return h_verify(t, 1, VHU_MAL_ADDR);
}

/* Split: the chain stays in the table; only its head is made available. */
static void
split_repost(struct tb *t, uint64_t a __rte_unused)
{
	fe_avail_add(&t->fe.vq[1], 0);
	fe_avail_publish(&t->fe.vq[1]);
}

int
case_double_fetch(void)
{
	struct fe_vring *v;
	struct tb t;
	uint64_t a;

	TRY(h_start(&t, 0, 0, false));
	v = &t.fe.vq[1];
	a = put(&t, NULL, 60);
	fe_desc(v, 0, a, 12, VRING_DESC_F_NEXT, 1);
	fe_desc(v, 1, a + 12, 60, 0, 0);
	return h_double_fetch(&t, a, &v->desc[1].len, split_repost,
		"double fetch race");
}

/*
 * A header whose offload fields do not fit its frame costs that frame
 * only: its chain (buffer @p want_id, already dequeued) comes back unread
 * (used length 0), the drop is counted with its reason, no fault, and the
 * next frame goes through. Either ring layout.
 */
int
h_verify_hdr_dropped(struct tb *t, uint32_t want_id, enum vhu_malformed why)
{
	struct vhu_queue_stats s;
	struct rte_mbuf *m[2];
	uint32_t id = 999, len = 999;
	uint8_t f[64];
	uint16_t n;

	CHECK(fe_used_get(&t->fe.vq[1], &id, &len) == 1 && id == want_id &&
		len == 0, "chain not returned: id %u len %u", id, len);
	s = qstats(t->dev, 0, VHU_DEQ);
	CHECK(s.malformed[why] == 1 && malformed_total(&s) == 1 &&
		s.drops == 1 && s.faults == 0 && s.packets == 0,
		"%s counted %lu, total %lu, drops %lu, faults %lu",
		vhu_malformed_name(why), (unsigned long)s.malformed[why],
		(unsigned long)malformed_total(&s), (unsigned long)s.drops,
		(unsigned long)s.faults);
	CHECK(ev_count(VHU_EVENT_QUEUE_FAULT, 0, VHU_DEQ) == 0, "a fault");
	make_frame(f, sizeof(f), 2);
	fe_tx_frame(&t->fe, 1, NULL, 12, f, sizeof(f), 1, false, false);
	n = vhu_dequeue_burst(t->dev, 0, t_mp, m, 2);
	CHECK(n == 1 && m[0]->pkt_len == sizeof(f) &&
		memcmp(rte_pktmbuf_mtod(m[0], void *), f, sizeof(f)) == 0,
		"the next frame: %u frames", n);
	rte_pktmbuf_free_bulk(m, n);
	tb_destroy(t);
	return tb_check_fds(t);
}

/* Header @p h on a 60-byte frame, dropped for @p why (split ring). */
static int
h_verify_hdr_drop(struct tb *t, const struct vhu_net_hdr *h,
	enum vhu_malformed why)
{
	fe_desc(&t->fe.vq[1], 0, put(t, h, 60), 72, 0, 0);
	TRY(tx_inject(t, 0));
	return h_verify_hdr_dropped(t, 0, why);
}

int
case_csum_bad(void)
{
	struct tb t;
	struct vhu_net_hdr h;

	TRY(h_start(&t, 0, 0, false));
	memset(&h, 0, sizeof(h));
	h.flags = VHU_NET_HDR_F_NEEDS_CSUM;
	h.csum_start = 40;
	h.csum_offset = 30;	/* 40 + 30 + 2 > 60 */
	return h_verify_hdr_drop(&t, &h, VHU_MAL_CSUM);
}

int
case_gso_type(void)
{
	struct tb t;
	struct vhu_net_hdr h;

	TRY(h_start(&t, 0, 0, false));
	memset(&h, 0, sizeof(h));
	h.gso_type = VHU_NET_HDR_GSO_UDP;	/* UFO: never offered */
	h.gso_size = 1448;
	return h_verify_hdr_drop(&t, &h, VHU_MAL_HDR_FIELDS);
}

/* Without a dequeue offload negotiated, a header's flags and GSO type are
 * not read (the driver must leave them 0): one asking for UFO and a
 * checksum past the frame's end goes through as the plain frame, where
 * with offloads it is a counted drop (case_gso_type, case_csum_bad).
 * Its header and 60 frame bytes into guest memory: their address. */
uint64_t
h_put_hdr_ignored(struct tb *t)
{
	struct vhu_net_hdr h;

	memset(&h, 0, sizeof(h));
	h.flags = VHU_NET_HDR_F_NEEDS_CSUM;
	h.csum_start = 40;
	h.csum_offset = 30;	/* 40 + 30 + 2 > 60 */
	h.gso_type = VHU_NET_HDR_GSO_UDP;
	h.gso_size = 1448;
	return put(t, &h, 60);
}

/* The chain of h_put_hdr_ignored(), made available as @p want_id: one
 * plain frame, its chain returned, nothing counted malformed or
 * dropped. Either ring layout. */
int
h_verify_hdr_ignored(struct tb *t, uint32_t want_id)
{
	struct vhu_queue_stats s;
	struct rte_mbuf *m[2];
	uint32_t id = 999, len = 999;
	uint8_t f[60];
	uint16_t n;

	n = vhu_dequeue_burst(t->dev, 0, t_mp, m, 2);
	make_frame(f, sizeof(f), sizeof(f));
	CHECK(n == 1 && m[0]->pkt_len == sizeof(f) && m[0]->ol_flags == 0 &&
		memcmp(rte_pktmbuf_mtod(m[0], void *), f, sizeof(f)) == 0,
		"%u frames, the first %u bytes, ol_flags 0x%lx", n,
		n > 0 ? m[0]->pkt_len : 0,
		n > 0 ? (unsigned long)m[0]->ol_flags : 0ul);
	rte_pktmbuf_free_bulk(m, n);
	CHECK(fe_used_get(&t->fe.vq[1], &id, &len) == 1 && id == want_id &&
		len == 0, "chain not returned: id %u len %u", id, len);
	s = qstats(t->dev, 0, VHU_DEQ);
	CHECK(malformed_total(&s) == 0 && s.drops == 0 && s.packets == 1,
		"malformed %lu, drops %lu, packets %lu",
		(unsigned long)malformed_total(&s), (unsigned long)s.drops,
		(unsigned long)s.packets);
	tb_destroy(t);
	return tb_check_fds(t);
}

int
case_hdr_ignored_no_offload(void)
{
	struct tb t;

	TRY(h_start(&t, H_DEQ_OFL, 0, false));
	fe_desc(&t.fe.vq[1], 0, h_put_hdr_ignored(&t), 12 + 60, 0, 0);
	fe_avail_add(&t.fe.vq[1], 0);
	fe_avail_publish(&t.fe.vq[1]);
	return h_verify_hdr_ignored(&t, 0);
}

int
case_frame_too_long(void)
{
	struct tb t;

	TRY(h_start(&t, 0, 0, false));
	return desc_fault(&t, 1, put(&t, NULL, 70000), 70012, 0,
		VHU_MAL_FRAME_LEN);
}

int
case_avail_idx_jump(void)
{
	struct tb t;
	struct fe_vring *v;
	struct rte_mbuf *m[4];

	TRY(h_start(&t, 0, 0, false));
	v = &t.fe.vq[1];
	__atomic_store_n(&v->avail->idx, (uint16_t)(v->avail_idx + 257),
		__ATOMIC_RELEASE);
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 4) == 0, "dequeued");
	v->avail_idx = (uint16_t)(v->avail_idx + 257);
	return h_verify(&t, 1, VHU_MAL_AVAIL_IDX);
}

int
case_avail_idx_jump_rx(void)
{
	struct tb t;
	struct fe_vring *v;
	struct rte_mbuf *m;
	uint8_t f[64];

	TRY(h_start(&t, 0, 0, false));
	v = &t.fe.vq[0];
	__atomic_store_n(&v->avail->idx, (uint16_t)(v->avail_idx + 1000),
		__ATOMIC_RELEASE);
	v->avail_idx = (uint16_t)(v->avail_idx + 1000);
	make_frame(f, sizeof(f), 1);
	m = mk_mbuf(t_mp, f, sizeof(f));
	CHECK(vhu_enqueue_burst(t.dev, 0, &m, 1) == 0, "enqueued");
	rte_pktmbuf_free(m);
	return h_verify(&t, 0, VHU_MAL_AVAIL_IDX);
}

int
case_head_index_oob(void)
{
	struct tb t;

	TRY(h_start(&t, 0, 0, false));
	return tx_fault(&t, 256, VHU_MAL_HEAD_INDEX);	/* ring size 256 */
}

int
case_next_index_oob(void)
{
	struct tb t;
	uint64_t a;

	TRY(h_start(&t, 0, 0, false));
	a = put(&t, NULL, 100);
	fe_desc(&t.fe.vq[1], 0, a, 12, VRING_DESC_F_NEXT, 300);
	return tx_fault(&t, 0, VHU_MAL_NEXT_INDEX);
}

int
case_tx_writable_desc(void)
{
	struct tb t;

	TRY(h_start(&t, 0, 0, false));
	return desc_fault(&t, 1, put(&t, NULL, 100), 112, VRING_DESC_F_WRITE,
		VHU_MAL_DIRECTION);
}

int
case_rx_readonly_desc(void)
{
	struct tb t;

	TRY(h_start(&t, 0, 0, false));
	return desc_fault(&t, 0, fe_alloc(&t.fe, 2048, 64), 2048, 0,
		VHU_MAL_DIRECTION);
}

int
case_rx_addr_outside(void)
{
	struct tb t;

	TRY(h_start(&t, 0, 0, false));
	return desc_fault(&t, 0, 256 * MiB, 2048, VRING_DESC_F_WRITE,
		VHU_MAL_ADDR);
}

int
case_fault_restart(void)
{
	struct tb t;
	struct fe_vring *v;
	uint32_t base;
	uint64_t a, u = 1;
	struct vhu_queue_stats s;

	TRY(h_start(&t, 0, 0, false));
	v = &t.fe.vq[1];
	a = put(&t, NULL, 100);
	fe_desc(v, 0, a, 12, VRING_DESC_F_NEXT, 1);
	fe_desc(v, 1, a + 12, 50, VRING_DESC_F_NEXT, 0);
	TRY(tx_inject(&t, 0));
	CHECK(ev_wait(VHU_EVENT_QUEUE_FAULT, 0, VHU_DEQ, 1, 2000), "no fault");
	/* The front-end stops the ring, skips the bad chain and restarts. */
	TRY(fe_get_vring_base(&t.fe, 1, &base));
	CHECK(base == 0, "bad chain consumed: base %u", base);
	v->next_desc = 2;
	TRY(fe_request_state(&t.fe, VHU_REQ_SET_VRING_BASE, 1, 1));
	TRY(fe_vring_addr(&t.fe, 1, 0, 0));
	TRY(fe_request(&t.fe, VHU_REQ_SET_VRING_KICK, &u, sizeof(u), &v->kickfd,
		1));
	CHECK(ev_wait(VHU_EVENT_QUEUE_UP, 0, VHU_DEQ, 2, 2000), "not up again");
	v->last_used = fe_used_idx(v);
	{
		/* used idx restarts from the base */
		struct rte_mbuf *m[2];
		uint8_t f[300];

		make_frame(f, sizeof(f), 300);
		fe_tx_frame(&t.fe, 1, NULL, 12, f, sizeof(f), 1, false, false);
		CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 2) == 1, "restarted");
		CHECK(mbuf_equals(m[0], f, sizeof(f)), "content");
		rte_pktmbuf_free(m[0]);
	}
	s = qstats(t.dev, 0, VHU_DEQ);
	CHECK(s.faults == 1 && s.malformed[VHU_MAL_LOOP] == 1 && s.packets == 1,
		"counters after restart");
	tb_destroy(&t);
	return tb_check_fds(&t);
}

/*
 * The front-end shrinks its guest memory file after SET_MEM_TABLE (the
 * fstat at map time cannot prevent it): the next access to that memory
 * raised SIGBUS and killed the whole process. Now the fault ends only
 * that port: the access reads zeros, the front-end is disconnected, and
 * another device in the process keeps moving frames.
 */
int
case_mem_shrunk(void)
{
	struct tb a, b;
	struct rte_mbuf *m[4];
	uint8_t f[600];

	tb_init(&a);
	a.fe.prefer_huge = false;	/* a memfd */
	TRY(tb_start(&a));
	tb_init(&b);
	b.fd_base = a.fd_base;
	TRY(tb_start(&b));
	TRY(tx_roundtrip(&a, 0, 300));
	TRY(tx_roundtrip(&b, 0, 300));

	/* A frame is waiting in a's TX ring; then its memory goes. */
	make_frame(f, sizeof(f), 3);
	CHECK(fe_tx_frame(&a.fe, 1, NULL, 12, f, sizeof(f), 1, false,
		false) >= 0, "post");
	CHECK(ftruncate(a.fe.mem[0].fd, 0) == 0, "truncate");
	CHECK(vhu_dequeue_burst(a.dev, 0, t_mp, m, 4) == 0,
		"a frame came out of truncated memory");
	(void)vhu_enqueue_burst(a.dev, 0, m, 0);

	return only_faulted_session_ends(&a, &b);
}
