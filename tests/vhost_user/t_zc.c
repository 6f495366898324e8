/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Zero-copy dequeue: used entries only after the mbufs are freed (from any
 * thread), the in-flight budget, the copy threshold, chains, and memory
 * table changes / ring stops / disconnects waiting for outstanding buffers.
 */

#include <poll.h>
#include <sys/mman.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <rte_launch.h>
#include <rte_lcore.h>

#include "vhu_test.h"
#include "vhu_cases.h"

#define MiB (1ull << 20)

static int
zc_bench(struct tb *t, uint32_t threshold, uint16_t budget)
{
	tb_init(t);
	t->cfg.zero_copy = true;
	t->cfg.copy_threshold = threshold;
	t->cfg.inflight_budget = budget;
	if (tb_start(t) != 0)
		return -1;
	/* zero-copy chains complete in free order: never promise IN_ORDER */
	if (t->fe.offered & (1ull << VHU_F_IN_ORDER)) {
		fprintf(stderr, "zero-copy device offers IN_ORDER\n");
		return -1;
	}
	return 0;
}

/* Zero-copy for every frame, held buffers awaited up to @p quiesce_ms;
 * one @p len-byte frame (seed @p seed, kept in @p f) offered on TX. */
static int
zc_held_bench(struct tb *t, uint32_t quiesce_ms, uint8_t *f, uint32_t len,
	uint32_t seed)
{
	tb_init(t);
	t->cfg.zero_copy = true;
	t->cfg.copy_threshold = 0;
	t->cfg.quiesce_timeout_ms = quiesce_ms;
	TRY(tb_start(t));
	make_frame(f, len, seed);
	fe_tx_frame(&t->fe, 1, NULL, 12, f, len, 1, false, false);
	return 0;
}

struct delayed_free {
	struct rte_mbuf *m[8];
	unsigned int n;
	unsigned int delay_ms;
};

static void *
free_later(void *arg)
{
	struct delayed_free *d = arg;

	msleep(d->delay_ms);
	rte_pktmbuf_free_bulk(d->m, d->n);
	return NULL;
}

static int
free_on_lcore(void *arg)
{
	struct delayed_free *d = arg;

	rte_pktmbuf_free_bulk(d->m, d->n);
	return 0;
}

int
case_zc_used_after_free(void)
{
	struct tb t;
	struct fe_vring *v;
	struct rte_mbuf *m[4];
	struct delayed_free d;
	struct vhu_queue_stats s;
	pthread_t th;
	uint8_t f[3][1000];
	int heads[3];
	uint32_t id, len;
	unsigned int i, worker;

	TRY(zc_bench(&t, 256, 64));
	v = &t.fe.vq[1];
	for (i = 0; i < 3; i++) {
		make_frame(f[i], sizeof(f[i]), 40 + i);
		heads[i] = fe_tx_frame(&t.fe, 1, NULL, 12, f[i], sizeof(f[i]), 1,
			false, false);
	}
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 4) == 3, "dequeue");
	for (i = 0; i < 3; i++) {
		uint8_t *gbuf = (uint8_t *)fe_va(&t.fe, v->desc[heads[i]].addr) + 12;
		const uint8_t *mb = rte_pktmbuf_mtod(m[i], const uint8_t *);

		CHECK(RTE_MBUF_HAS_EXTBUF(m[i]), "frame %u not zero-copy", i);
		CHECK(mbuf_equals(m[i], f[i], sizeof(f[i])), "content %u", i);
		/* In place: a guest write shows through the mbuf. */
		gbuf[5] ^= 0xff;
		CHECK(mb[5] == gbuf[5], "frame %u is a copy", i);
		gbuf[5] ^= 0xff;
	}
	CHECK(fe_used_idx(v) == 0, "used before free");
	s = qstats(t.dev, 0, VHU_DEQ);
	CHECK(s.zc_packets == 3 && s.copied_packets == 0 && s.zc_completed == 0,
		"counters");
	msleep(20);
	CHECK(fe_used_idx(v) == 0, "used before free (later)");

	/* Free one on this thread: its entry appears at the next call. */
	rte_pktmbuf_free(m[1]);
	CHECK(fe_used_idx(v) == 0, "used written by free itself");
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, NULL, 0) == 0, "drain (n = 0)");
	CHECK(fe_used_get(v, &id, &len) == 1 && id == (uint32_t)heads[1] &&
		len == 0, "used entry of frame 1");
	CHECK(fe_eventfd_read(v->callfd) == 1, "completion notified");

	/* The others on another (non-EAL) thread. */
	d.m[0] = m[0];
	d.m[1] = m[2];
	d.n = 2;
	d.delay_ms = 0;
	CHECK(pthread_create(&th, NULL, free_later, &d) == 0, "thread");
	pthread_join(th, NULL);
	CHECK(fe_used_idx(v) == 1, "used before drain");
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 1) == 0, "drain");
	CHECK(fe_used_idx(v) == 3, "used after drain: %u", fe_used_idx(v));
	for (i = 0; i < 2; i++) {
		CHECK(fe_used_get(v, &id, &len) == 1, "used");
		CHECK(id == (uint32_t)heads[0] || id == (uint32_t)heads[2], "id");
	}
	/* And on an EAL worker lcore. */
	worker = rte_get_next_lcore(-1, 1, 0);
	if (worker < RTE_MAX_LCORE) {
		make_frame(f[0], 900, 99);
		heads[0] = fe_tx_frame(&t.fe, 1, NULL, 12, f[0], 900, 1, false,
			false);
		CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 1) == 1, "dequeue");
		d.m[0] = m[0];
		d.n = 1;
		CHECK(rte_eal_remote_launch(free_on_lcore, &d, worker) == 0,
			"launch");
		rte_eal_wait_lcore(worker);
		CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 1) == 0, "drain");
		CHECK(fe_used_get(v, &id, &len) == 1 && id == (uint32_t)heads[0],
			"used from lcore %u", worker);
	}
	s = qstats(t.dev, 0, VHU_DEQ);
	CHECK(s.zc_completed == s.zc_packets, "completed %lu of %lu",
		(unsigned long)s.zc_completed, (unsigned long)s.zc_packets);
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_zc_budget(void)
{
	struct tb t;
	struct rte_mbuf *m[32];
	struct vhu_queue_stats s;
	uint8_t f[1500];
	unsigned int i, nzc = 0;
	uint16_t n;

	TRY(zc_bench(&t, 0, 4));
	make_frame(f, sizeof(f), 3);
	for (i = 0; i < 10; i++)
		fe_tx_frame(&t.fe, 1, NULL, 12, f, sizeof(f), 1, false, false);
	n = vhu_dequeue_burst(t.dev, 0, t_mp, m, 32);
	CHECK(n == 10, "dequeue %u", n);
	for (i = 0; i < n; i++) {
		nzc += !!RTE_MBUF_HAS_EXTBUF(m[i]);
		CHECK(mbuf_equals(m[i], f, sizeof(f)), "content %u", i);
	}
	s = qstats(t.dev, 0, VHU_DEQ);
	CHECK(nzc == 4 && s.zc_packets == 4 && s.copied_packets == 6 &&
		s.zc_budget_copies == 6, "zc %u/%lu copied %lu budget %lu", nzc,
		(unsigned long)s.zc_packets, (unsigned long)s.copied_packets,
		(unsigned long)s.zc_budget_copies);
	/* Copied frames are returned at once, held ones are not. */
	CHECK(fe_used_idx(&t.fe.vq[1]) == 6, "used %u", fe_used_idx(&t.fe.vq[1]));
	rte_pktmbuf_free_bulk(m, n);
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 32) == 0, "drain");
	CHECK(fe_used_idx(&t.fe.vq[1]) == 10, "used after free");
	/* Budget back. */
	for (i = 0; i < 4; i++)
		fe_tx_frame(&t.fe, 1, NULL, 12, f, sizeof(f), 1, false, false);
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 32) == 4, "dequeue");
	s = qstats(t.dev, 0, VHU_DEQ);
	CHECK(s.zc_packets == 8 && s.zc_budget_copies == 6, "budget restored");
	rte_pktmbuf_free_bulk(m, 4);
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_zc_threshold(void)
{
	static const uint32_t lens[] = { 100, 511, 512, 1500 };
	struct tb t;
	struct rte_mbuf *m[4];
	uint8_t f[1500];
	unsigned int i;

	TRY(zc_bench(&t, 512, 64));
	make_frame(f, sizeof(f), 4);
	for (i = 0; i < 4; i++)
		fe_tx_frame(&t.fe, 1, NULL, 12, f, lens[i], 1, false, false);
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 4) == 4, "dequeue");
	for (i = 0; i < 4; i++) {
		CHECK(mbuf_equals(m[i], f, lens[i]), "content %u", i);
		CHECK(!!RTE_MBUF_HAS_EXTBUF(m[i]) == (lens[i] >= 512),
			"frame of %u bytes: extbuf %d", lens[i],
			!!RTE_MBUF_HAS_EXTBUF(m[i]));
	}
	CHECK(qstats(t.dev, 0, VHU_DEQ).zc_packets == 2 &&
		qstats(t.dev, 0, VHU_DEQ).copied_packets == 2, "counters");
	rte_pktmbuf_free_bulk(m, 4);
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_zc_chain(void)
{
	struct tb t;
	struct rte_mbuf *m[2], *s;
	uint8_t f[3000];
	unsigned int k = 0;

	TRY(zc_bench(&t, 0, 16));
	make_frame(f, sizeof(f), 6);
	fe_tx_frame(&t.fe, 1, NULL, 12, f, sizeof(f), 3, true, false);
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 2) == 1, "dequeue");
	CHECK(m[0]->nb_segs == 3 && m[0]->pkt_len == sizeof(f), "segs %u",
		m[0]->nb_segs);
	for (s = m[0]; s != NULL; s = s->next, k++)
		CHECK(RTE_MBUF_HAS_EXTBUF(s) && s->data_len == 1000,
			"segment %u", k);
	CHECK(mbuf_equals(m[0], f, sizeof(f)), "content");
	/* Freeing the first segment alone does not return the chain. */
	s = m[0]->next;
	m[0]->next = NULL;
	m[0]->nb_segs = 1;
	rte_pktmbuf_free(m[0]);
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 2) == 0, "drain");
	CHECK(fe_used_idx(&t.fe.vq[1]) == 0, "returned with segments out");
	rte_pktmbuf_free(s);
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 2) == 0, "drain");
	CHECK(fe_used_idx(&t.fe.vq[1]) == 1, "not returned after all segments");
	tb_destroy(&t);
	return tb_check_fds(&t);
}

static int
add_region(struct tb *t, uint64_t gpa, int *ack, uint64_t *ms)
{
	struct vhu_mem_reg_desc d;
	uint64_t t0;
	int mi = fe_mem_add(&t->fe, gpa, 64 * 1024, 0, false);

	CHECK(mi > 0, "mem");
	memset(&d, 0, sizeof(d));
	fe_region_desc(&t->fe.mem[mi], &d.region);
	t0 = now_ms();
	*ack = fe_request(&t->fe, VHU_REQ_ADD_MEM_REG, &d, sizeof(d),
		&t->fe.mem[mi].fd, 1);
	*ms = now_ms() - t0;
	return 0;
}

int
case_zc_memtable_wait(void)
{
	struct tb t;
	struct rte_mbuf *m[2];
	struct delayed_free d;
	pthread_t th;
	uint8_t f[800];
	uint64_t ms;
	int ack;

	TRY(zc_held_bench(&t, 3000, f, sizeof(f), 7));
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 2) == 1 &&
		RTE_MBUF_HAS_EXTBUF(m[0]), "zero-copy frame");
	d.m[0] = m[0];
	d.n = 1;
	d.delay_ms = 250;
	CHECK(pthread_create(&th, NULL, free_later, &d) == 0, "thread");
	/* Hotplug does not wait for it (the old table is retired). */
	TRY(add_region(&t, 64 * MiB, &ack, &ms));
	printf("ADD_MEM_REG acked %d after %lu ms\n", ack, (unsigned long)ms);
	CHECK(ack == 0, "ADD_MEM_REG failed");
	CHECK(ms < 200, "waited for the buffer (%lu ms)", (unsigned long)ms);
	CHECK(vhu_mem_regions(t.dev) == 2, "regions");
	pthread_join(th, NULL);
	(void)vhu_dequeue_burst(t.dev, 0, t_mp, m, 0);
	CHECK(fe_used_idx(&t.fe.vq[1]) == 1, "buffer not returned");
	/* SET_MEM_TABLE replaces every region: it waits. */
	fe_tx_frame(&t.fe, 1, NULL, 12, f, sizeof(f), 1, false, false);
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 2) == 1, "dequeue");
	d.m[0] = m[0];
	CHECK(pthread_create(&th, NULL, free_later, &d) == 0, "thread");
	{
		uint64_t t0 = now_ms();
		unsigned int n = t.fe.nmem;

		t.fe.nmem = 1;	/* back to region 0 only */
		ack = fe_set_mem_table(&t.fe);
		t.fe.nmem = n;
		ms = now_ms() - t0;
	}
	pthread_join(th, NULL);
	CHECK(ack == 0 && ms >= 200, "SET_MEM_TABLE %d after %lu ms", ack,
		(unsigned long)ms);
	CHECK(vhu_mem_regions(t.dev) == 1, "regions after SET_MEM_TABLE");
	CHECK(fe_used_idx(&t.fe.vq[1]) == 2, "second buffer not returned");
	t.fe.vq[1].last_used = 2;
	TRY(tx_roundtrip(&t, 0, 700));
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_zc_memtable_timeout(void)
{
	struct tb t;
	struct rte_mbuf *m[2];
	uint8_t f[800];
	uint64_t ms;
	int ack;

	TRY(zc_held_bench(&t, 300, f, sizeof(f), 8));
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 2) == 1, "dequeue");
	CHECK(fe_mem_add(&t.fe, 64 * MiB, 2 * MiB, 0, false) == 1, "mem");
	{
		uint64_t t0 = now_ms();

		ack = fe_set_mem_table(&t.fe);
		ms = now_ms() - t0;
	}
	printf("SET_MEM_TABLE acked %d after %lu ms\n", ack, (unsigned long)ms);
	CHECK(ack == 1, "table changed under a zero-copy buffer");
	CHECK(ms >= 250, "gave up after %lu ms", (unsigned long)ms);
	CHECK(vhu_mem_regions(t.dev) == 1, "regions changed");
	/* The data path goes on, and the held frame is still valid. */
	CHECK(mbuf_equals(m[0], f, sizeof(f)), "held frame");
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m + 1, 1) == 0, "data path");
	rte_pktmbuf_free(m[0]);
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 1) == 0, "drain");
	CHECK(fe_used_idx(&t.fe.vq[1]) == 1, "buffer not returned");
	/* Retry succeeds at once. */
	CHECK(fe_set_mem_table(&t.fe) == 0, "retry");
	CHECK(vhu_mem_regions(t.dev) == 2, "regions after retry");
	t.fe.vq[1].last_used = 1;
	TRY(tx_roundtrip(&t, 0, 900));
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_zc_get_vring_base(void)
{
	struct tb t;
	struct rte_mbuf *m[2];
	struct delayed_free d;
	pthread_t th;
	uint8_t f[800];
	uint32_t base;
	uint64_t t0, ms;
	struct vhu_queue_stats s;

	TRY(zc_held_bench(&t, 300, f, sizeof(f), 9));
	fe_tx_frame(&t.fe, 1, NULL, 12, f, sizeof(f), 1, false, false);
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 1) == 1, "dequeue");
	/* GET_VRING_BASE waits for the buffer, which then gets its entry. */
	d.m[0] = m[0];
	d.n = 1;
	d.delay_ms = 150;
	CHECK(pthread_create(&th, NULL, free_later, &d) == 0, "thread");
	t0 = now_ms();
	TRY(fe_get_vring_base(&t.fe, 1, &base));
	ms = now_ms() - t0;
	pthread_join(th, NULL);
	CHECK(base == 1 && ms >= 100, "base %u after %lu ms", base,
		(unsigned long)ms);
	CHECK(fe_used_idx(&t.fe.vq[1]) == 1, "entry not written before reply");
	/* Restart, hold the second frame past the timeout: the ring stops
	 * anyway, and the late free writes nothing into the stopped ring. */
	{
		uint64_t u = 1;

		TRY(fe_request_state(&t.fe, VHU_REQ_SET_VRING_BASE, 1, 1));
		TRY(fe_request(&t.fe, VHU_REQ_SET_VRING_KICK, &u, sizeof(u),
			&t.fe.vq[1].kickfd, 1));
	}
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 1) == 1, "dequeue 2");
	t0 = now_ms();
	TRY(fe_get_vring_base(&t.fe, 1, &base));
	ms = now_ms() - t0;
	CHECK(base == 2 && ms >= 250, "base %u after %lu ms", base,
		(unsigned long)ms);
	rte_pktmbuf_free(m[0]);
	msleep(150);	/* control thread ticks drain the orphan */
	CHECK(fe_used_idx(&t.fe.vq[1]) == 1, "orphan written into a stopped ring");
	s = qstats(t.dev, 0, VHU_DEQ);
	CHECK(s.zc_completed == 1 && s.zc_packets == 2, "counters");
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_zc_disconnect(void)
{
	struct tb t;
	struct rte_mbuf *m[2];
	uint8_t f[1200];
	uint64_t t0;
	int fd, n;

	TRY(zc_held_bench(&t, 200, f, sizeof(f), 10));
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 2) == 1, "dequeue");
	fd = dup(t.fe.mem[0].fd);
	CHECK(count_maps_of_fd(fd) == 2, "front-end + back-end mappings: %d",
		count_maps_of_fd(fd));
	fe_fini(&t.fe);		/* front-end gone, buffer still held */
	CHECK(ev_wait(VHU_EVENT_DISCONNECTED, -1, -1, 1, 3000), "DISCONNECTED");
	n = count_maps_of_fd(fd);
	CHECK(n == 1, "guest memory unmapped under a held buffer (%d)", n);
	CHECK(mbuf_equals(m[0], f, sizeof(f)), "held frame content");
	rte_pktmbuf_free(m[0]);
	t0 = now_ms();
	while (count_maps_of_fd(fd) != 0 && now_ms() - t0 < 2000)
		msleep(10);
	CHECK(count_maps_of_fd(fd) == 0, "memory not released after free");
	printf("released %lu ms after the free\n", (unsigned long)(now_ms() - t0));
	close(fd);
	/* A new session works. */
	fe_init(&t.fe);
	TRY(tb_start(&t));
	TRY(tx_roundtrip(&t, 0, 600));
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_zc_wakeup(void)
{
	struct tb t;
	struct rte_mbuf *m[2];
	struct pollfd p;
	uint8_t f[1000];
	uint64_t t0;
	int kfd;

	TRY(zc_bench(&t, 0, 16));
	make_frame(f, sizeof(f), 12);
	fe_tx_frame(&t.fe, 1, NULL, 12, f, sizeof(f), 1, false, false);
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 2) == 1, "dequeue");
	/* The data path goes to sleep on the kick fd with a buffer out. */
	CHECK(vhu_queue_notify(t.dev, 0, true) == 0, "nothing pending yet");
	kfd = vhu_queue_kickfd(t.dev, 0);
	CHECK(kfd >= 0, "kick fd");
	p.fd = kfd;
	p.events = POLLIN;
	CHECK(poll(&p, 1, 130) == 0, "woken with nothing to do");
	/* The consumer frees it: the sleeper must be woken to return it. */
	rte_pktmbuf_free(m[0]);
	t0 = now_ms();
	CHECK(poll(&p, 1, 1000) == 1, "sleeper not woken for a completion");
	printf("woken %lu ms after the free\n", (unsigned long)(now_ms() - t0));
	(void)fe_eventfd_read(kfd);
	CHECK(vhu_queue_notify(t.dev, 0, false) == 0, "disable");
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 2) == 0, "drain");
	CHECK(fe_used_idx(&t.fe.vq[1]) == 1, "completion not returned");
	tb_destroy(&t);
	return tb_check_fds(&t);
}

/* Give the device a dirty log of 64 bytes (2 MiB of guest) in a new
 * memfd; returns the fd, *map its mapping in this process. */
static int
set_log_base(struct tb *t, uint8_t **map)
{
	struct vhu_log_desc ld = { 64, 0 };
	uint64_t ack;
	uint32_t r;
	int fd;

	fd = memfd_create("vhu-log", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, 4096) != 0)
		return -1;
	*map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (*map == MAP_FAILED ||
			fe_send(&t->fe, VHU_REQ_SET_LOG_BASE, VHU_FLAG_VERSION,
				&ld, sizeof(ld), &fd, 1) != 0 ||
			fe_recv(&t->fe, &r, NULL, &ack, sizeof(ack), 3000) != 8 ||
			r != VHU_REQ_SET_LOG_BASE || ack != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * A queue that cannot run (here: disabled) must not keep the log it had:
 * SET_LOG_BASE replaces (unmaps) the old one, and a zero-copy completion
 * written when the ring stops then went into the unmapped log (a crash
 * before the fix). It must land in the current log instead.
 */
int
case_zc_log_replaced_disabled(void)
{
	struct tb t;
	struct fe_vring *v;
	struct rte_mbuf *m[1];
	uint8_t f[1000], *log1, *log2;
	uint64_t page;
	uint32_t base;
	int fd1, fd2;

	TRY(zc_bench(&t, 256, 64));
	v = &t.fe.vq[1];
	CHECK(t.fe.features & (1ull << VHU_F_PROTOCOL_FEATURES),
		"protocol features (SET_VRING_ENABLE) not negotiated");
	make_frame(f, sizeof(f), 7);
	CHECK(fe_tx_frame(&t.fe, 1, NULL, 12, f, sizeof(f), 1, false,
		false) >= 0, "post");
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 1) == 1 &&
		RTE_MBUF_HAS_EXTBUF(m[0]), "zero-copy dequeue");

	/* Logging on, with log 1; the frame is still held. */
	fd1 = set_log_base(&t, &log1);
	CHECK(fd1 >= 0, "SET_LOG_BASE 1");
	TRY(fe_request_u64(&t.fe, VHU_REQ_SET_FEATURES,
		t.fe.features | (1ull << VHU_F_LOG_ALL)));
	TRY(fe_vring_addr(&t.fe, 1, VHU_VRING_F_LOG, v->used_gpa));
	/* The queue stops running; then log 2 replaces log 1. */
	CHECK(fe_request_state(&t.fe, VHU_REQ_SET_VRING_ENABLE, 1, 0) == 0,
		"disable");
	fd2 = set_log_base(&t, &log2);
	CHECK(fd2 >= 0, "SET_LOG_BASE 2");
	memset(log1, 0, 64);
	memset(log2, 0, 64);

	/* The held frame comes back, and the ring stops: its used entry
	 * is written and logged now. */
	rte_pktmbuf_free(m[0]);
	TRY(fe_get_vring_base(&t.fe, 1, &base));
	CHECK(fe_used_idx(v) == 1, "completion written at ring stop");
	page = v->used_gpa / 4096;
	CHECK(log2[page / 8] & (1u << (page % 8)),
		"used ring page %lu not marked in the current log",
		(unsigned long)page);
	CHECK(log1[page / 8] == 0, "marked in the replaced log");

	munmap(log1, 4096);
	munmap(log2, 4096);
	close(fd1);
	close(fd2);
	tb_destroy(&t);
	return tb_check_fds(&t);
}
