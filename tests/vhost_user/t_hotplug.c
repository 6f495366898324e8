/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Memory hotplug (ADD_MEM_REG / REM_MEM_REG) while frames flow: queues
 * never paused, exact counts, removed regions unmapped only after the
 * zero-copy buffers into them came back, all 509 slots.
 */

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "vhu_test.h"
#include "vhu_cases.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define HP_GPA (256 * MiB)	/* hotplugged regions start here */

static int
mem_reg(struct tb *t, uint32_t req, unsigned int mi)
{
	struct vhu_mem_reg_desc d;
	int fd = t->fe.mem[mi].fd;

	memset(&d, 0, sizeof(d));
	fe_region_desc(&t->fe.mem[mi], &d.region);
	return fe_request(&t->fe, req, &d, sizeof(d), &fd,
		req == VHU_REQ_ADD_MEM_REG ? 1 : 0);
}

/*
 * The guest side of queue pair 1's TX ring and the back-end's dequeue of
 * it, on their own thread, with buffers set up beforehand (the thread
 * touches nothing the main thread changes). It counts every burst that
 * came back empty while frames were waiting: a paused queue.
 */
struct flow {
	struct tb *t;
	uint64_t gpa[256];
	uint32_t stop;		/* atomic */
	uint64_t sent, got, paused, bad, bursts, used;
};

static uint32_t
flow_len(uint64_t seq)
{
	return 60 + (uint32_t)(seq * 7 % 1400);
}

/* Count the @p n frames dequeued into @p m as got, the ones not as sent
 * as bad, and free them. */
static void
flow_check(struct flow *f, struct rte_mbuf **m, uint16_t n)
{
	uint8_t frame[1500];
	uint32_t len;
	uint16_t i;

	for (i = 0; i < n; i++) {
		len = flow_len(f->got);
		make_frame(frame, len, (uint32_t)f->got);
		if (!mbuf_equals(m[i], frame, len))
			f->bad++;
		rte_pktmbuf_free(m[i]);
		f->got++;
	}
}

static void *
flow_run(void *arg)
{
	struct flow *f = arg;
	struct fe_vring *v = &f->t->fe.vq[3];
	struct rte_mbuf *m[32];
	uint8_t frame[1500];
	uint32_t id, len;
	uint16_t i;

	while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE)) {
		uint16_t n;

		/* copies: buffers come back in order, slot by slot */
		while (f->sent - f->used < 256 && f->sent - f->got < 64) {
			len = flow_len(f->sent);
			make_frame(frame, len, (uint32_t)f->sent);
			if (fe_tx_frame_gpa(&f->t->fe, 3, f->gpa[f->sent % 256],
					frame, len) < 0)
				f->bad++;
			f->sent++;
		}
		n = vhu_dequeue_burst(f->t->dev, 1, t_mp, m, 32);
		f->bursts++;
		if (n == 0 && f->sent > f->got)
			f->paused++;
		flow_check(f, m, n);
		while (fe_used_get(v, &id, &len) == 1)
			f->used++;
	}
	/* What is still in the ring comes out too: exact counts. */
	for (i = 0; i < 1000 && f->got < f->sent; i++)
		flow_check(f, m, vhu_dequeue_burst(f->t->dev, 1, t_mp, m, 32));
	while (fe_used_get(v, &id, &len) == 1)
		f->used++;
	return NULL;
}

/* One frame on queue pair 0 whose buffer is at @p gpa: dequeued intact
 * (1), or not at all (0: the queue faulted). */
static int
frame_at(struct tb *t, uint64_t gpa, uint32_t seed)
{
	uint8_t frame[600];
	struct rte_mbuf *m[2];
	uint32_t id, len;
	uint16_t n;

	make_frame(frame, sizeof(frame), seed);
	CHECK(fe_tx_frame_gpa(&t->fe, 1, gpa, frame, sizeof(frame)) >= 0,
		"post at %#lx", (unsigned long)gpa);
	n = vhu_dequeue_burst(t->dev, 0, t_mp, m, 2);
	if (n == 0)
		return 0;
	CHECK(n == 1 && mbuf_equals(m[0], frame, sizeof(frame)),
		"frame at %#lx", (unsigned long)gpa);
	rte_pktmbuf_free(m[0]);
	(void)vhu_dequeue_burst(t->dev, 0, t_mp, m, 0);
	CHECK(fe_used_get(&t->fe.vq[1], &id, &len) == 1, "used entry");
	return 1;
}

int
case_hotplug_traffic(void)
{
	const unsigned int nadd = 48;
	struct vhu_queue_stats s0, s1;
	struct flow f;
	pthread_t th;
	struct tb t;
	unsigned int i, k;
	int mi[48];

	tb_init(&t);
	t.cfg.max_queue_pairs = 2;
	t.o.nqp = 2;
	TRY(tb_start(&t));
	memset(&f, 0, sizeof(f));
	f.t = &t;
	for (i = 0; i < 256; i++)
		f.gpa[i] = fe_alloc(&t.fe, 2 * KiB, 64);
	/* Regions created before the thread starts: it never sees fe.mem
	 * change; the back-end learns of them one by one below. */
	for (i = 0; i < nadd; i++) {
		mi[i] = fe_mem_add(&t.fe, HP_GPA + i * 2 * MiB, 1 * MiB, 0,
			false);
		CHECK(mi[i] >= 0, "region %u", i);
	}
	CHECK(pthread_create(&th, NULL, flow_run, &f) == 0, "thread");
	/* Add every region, send a frame through each right away; remove
	 * every other one as we go. */
	for (i = 0; i < nadd; i++) {
		CHECK(mem_reg(&t, VHU_REQ_ADD_MEM_REG, mi[i]) == 0, "ADD %u", i);
		CHECK(frame_at(&t, t.fe.mem[mi[i]].gpa + 4096 * (i % 200), i) == 1,
			"through region %u", i);
		if (i % 2 == 1)
			CHECK(mem_reg(&t, VHU_REQ_REM_MEM_REG, mi[i - 1]) == 0,
				"REM %u", i - 1);
	}
	CHECK(vhu_mem_regions(t.dev) == 1 + nadd / 2, "regions %u",
		vhu_mem_regions(t.dev));
	for (k = 0; k < 3; k++) {	/* and round again on the odd ones */
		for (i = 1; i < nadd; i += 2)
			CHECK(mem_reg(&t, VHU_REQ_REM_MEM_REG, mi[i]) == 0,
				"REM %u", i);
		for (i = 1; i < nadd; i += 2)
			CHECK(mem_reg(&t, VHU_REQ_ADD_MEM_REG, mi[i]) == 0,
				"ADD %u", i);
	}
	msleep(20);
	__atomic_store_n(&f.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	printf("hotplug: %u regions added, %u removed; other queue: %lu frames "
		"in %lu bursts, %lu empty with frames waiting\n", nadd + 3 * nadd / 2,
		nadd / 2 + 3 * nadd / 2, (unsigned long)f.got,
		(unsigned long)f.bursts, (unsigned long)f.paused);
	CHECK(f.bad == 0, "%lu frames damaged", (unsigned long)f.bad);
	CHECK(f.paused == 0, "queue pair 1 paused %lu times during hotplug",
		(unsigned long)f.paused);
	CHECK(f.got > 0 && f.got == f.sent && f.used == f.sent,
		"sent %lu got %lu used %lu", (unsigned long)f.sent,
		(unsigned long)f.got, (unsigned long)f.used);
	s1 = qstats(t.dev, 1, VHU_DEQ);
	CHECK(s1.packets == f.got && s1.faults == 0, "qp1 counted %lu of %lu",
		(unsigned long)s1.packets, (unsigned long)f.got);
	/* A removed region is not guest memory any more: a frame there is a
	 * fault of its queue only. */
	CHECK(frame_at(&t, t.fe.mem[mi[0]].gpa, 1) == 0,
		"frame in a removed region dequeued");
	s0 = qstats(t.dev, 0, VHU_DEQ);
	CHECK(s0.packets == nadd && s0.faults == 1 &&
		s0.malformed[VHU_MAL_ADDR] == 1,
		"qp0: %lu frames, %lu faults", (unsigned long)s0.packets,
		(unsigned long)s0.faults);
	TRY(rx_roundtrip(&t, 1, 1000));
	TRY(rx_roundtrip(&t, 0, 1000));
	tb_destroy(&t);
	return tb_check_fds(&t);
}

/* Zero-copy buffers held in a region while it is removed: the request
 * completes at once, the region stays mapped until they come back. */
int
case_hotplug_zc_held(void)
{
	const unsigned int budget = 8;
	struct rte_mbuf *m[16];
	uint8_t frame[700];
	struct vhu_queue_stats s;
	uint64_t t0, took;
	uint32_t id, len;
	struct tb t;
	unsigned int i;
	int mi, maps;

	tb_init(&t);
	t.cfg.zero_copy = true;
	t.cfg.copy_threshold = 0;
	t.cfg.inflight_budget = budget;
	t.cfg.quiesce_timeout_ms = 1000;
	TRY(tb_start(&t));
	mi = fe_mem_add(&t.fe, HP_GPA, 2 * MiB, 0, false);
	CHECK(mi > 0, "region");
	CHECK(mem_reg(&t, VHU_REQ_ADD_MEM_REG, mi) == 0, "ADD");
	CHECK(count_maps_of_fd(t.fe.mem[mi].fd) == 2, "maps %d",
		count_maps_of_fd(t.fe.mem[mi].fd));
	/* The whole budget held by the application, in that region. */
	for (i = 0; i < budget; i++) {
		make_frame(frame, sizeof(frame), 100 + i);
		CHECK(fe_tx_frame_gpa(&t.fe, 1, HP_GPA + i * 4096, frame,
			sizeof(frame)) >= 0, "post");
	}
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 16) == budget, "dequeue");
	s = qstats(t.dev, 0, VHU_DEQ);
	CHECK(s.zc_packets == budget, "zero-copy %lu", (unsigned long)s.zc_packets);
	t0 = now_ms();
	CHECK(mem_reg(&t, VHU_REQ_REM_MEM_REG, mi) == 0,
		"REM refused while zero-copy buffers are held");
	took = now_ms() - t0;
	printf("REM_MEM_REG with %u zero-copy buffers held: %lu ms\n", budget,
		(unsigned long)took);
	CHECK(took < 200, "REM took %lu ms", (unsigned long)took);
	CHECK(vhu_mem_regions(t.dev) == 1, "regions %u", vhu_mem_regions(t.dev));
	CHECK(count_maps_of_fd(t.fe.mem[mi].fd) == 2,
		"region unmapped under held buffers");
	for (i = 0; i < budget; i++) {
		make_frame(frame, sizeof(frame), 100 + i);
		CHECK(mbuf_equals(m[i], frame, sizeof(frame)), "held frame %u", i);
	}
	/* The queue and the rest of the device go on meanwhile (copies:
	 * the budget is used up). */
	TRY(rx_roundtrip(&t, 0, 300));
	make_frame(frame, sizeof(frame), 7);
	CHECK(fe_tx_frame(&t.fe, 1, NULL, 12, frame, sizeof(frame), 1, false,
		false) >= 0, "post");
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, &m[budget], 1) == 1 &&
		mbuf_equals(m[budget], frame, sizeof(frame)), "copy while held");
	rte_pktmbuf_free(m[budget]);
	/* Buffers back: used entries written, then the region unmapped. */
	for (i = 0; i < budget; i++)
		rte_pktmbuf_free(m[i]);
	(void)vhu_dequeue_burst(t.dev, 0, t_mp, m, 0);
	for (i = 0; fe_used_get(&t.fe.vq[1], &id, &len) == 1; i++)
		;
	CHECK(i == budget + 1, "%u used entries", i);
	for (i = 0; i < 40; i++) {
		maps = count_maps_of_fd(t.fe.mem[mi].fd);
		if (maps == 1)
			break;
		msleep(25);
	}
	CHECK(maps == 1, "region still mapped %d", maps);
	s = qstats(t.dev, 0, VHU_DEQ);
	CHECK(s.zc_completed == budget && s.faults == 0, "completed %lu",
		(unsigned long)s.zc_completed);
	tb_destroy(&t);
	return tb_check_fds(&t);
}

/* Every slot: 508 hotplugged regions + the first, one more refused. */
int
case_hotplug_509(void)
{
	struct tb t;
	unsigned int i, n = VHU_MAX_MEM_SLOTS - 1;
	int mi;

	tb_init(&t);
	TRY(tb_start(&t));
	for (i = 0; i < n + 1; i++) {
		mi = fe_mem_add(&t.fe, HP_GPA + i * 128 * KiB, 64 * KiB, 0,
			false);
		CHECK(mi == (int)i + 1, "region %u: %d", i, mi);
	}
	for (i = 1; i <= n; i++)
		CHECK(mem_reg(&t, VHU_REQ_ADD_MEM_REG, i) == 0, "ADD %u", i);
	CHECK(vhu_mem_regions(t.dev) == VHU_MAX_MEM_SLOTS, "regions %u",
		vhu_mem_regions(t.dev));
	CHECK(mem_reg(&t, VHU_REQ_ADD_MEM_REG, n + 1) == 1, "slot 510");
	TRY(tx_roundtrip(&t, 0, 200));
	CHECK(frame_at(&t, t.fe.mem[n].gpa, 3) == 1, "last region");
	for (i = 1; i <= n; i++)
		CHECK(mem_reg(&t, VHU_REQ_REM_MEM_REG, i) == 0, "REM %u", i);
	CHECK(vhu_mem_regions(t.dev) == 1, "regions %u", vhu_mem_regions(t.dev));
	TRY(tx_roundtrip(&t, 0, 200));
	TRY(rx_roundtrip(&t, 0, 200));
	tb_destroy(&t);
	return tb_check_fds(&t);
}
