/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Restart and migration: what a front-end sees when the back-end comes
 * back, or when a second front-end (a migration's destination) connects;
 * the log a peer can cause.
 */

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vhu_test.h"
#include "vhu_cases.h"

#define BIT(n) (1ull << (n))

/*
 * A second front-end connecting in a loop (QEMU with reconnect=1 against
 * a back-end that refused it wrote 526,157 lines in 80 s) while the first
 * one sends bad requests: the library's log stays within its budget and
 * says how many lines it held back; the first front-end is still served.
 */
int
case_log_rate_limit(void)
{
	const unsigned int rounds = 1500;
	struct tb t;
	uint64_t t0, secs;
	unsigned int k, lines, allowed;
	char *text;

	log_capture_begin();
	tb_init(&t);
	TRY(tb_start(&t));
	t0 = now_ms();
	for (k = 0; k < rounds; k++) {
		struct fe fe;

		fe_init(&fe);
		CHECK(fe_connect(&fe, t.path) == 0, "connect %u", k);
		/* unknown request (the connection may already be refused) */
		(void)fe_send(&fe, 99, VHU_FLAG_VERSION, NULL, 0, NULL, 0);
		fe_fini(&fe);
		/* refused on the first connection: bad payload size */
		TRY(fe_send(&t.fe, VHU_REQ_SET_FEATURES, VHU_FLAG_VERSION, "x",
			1, NULL, 0));
		TRY(fe_sync(&t.fe));
	}
	secs = (now_ms() - t0 + 999) / 1000;
	msleep(200);
	text = log_capture_text();
	CHECK(text != NULL, "log");
	lines = count_lines(text, "VHU test:");
	/* the burst and the refill (a count of held-back lines is a line) */
	allowed = 64 + 5 * ((unsigned int)secs + 1);
	printf("%u rounds in %lu s: %u log lines\n", rounds,
		(unsigned long)secs, lines);
	CHECK(lines <= allowed, "%u log lines for %u rounds in %lu s "
		"(budget %u)", lines, rounds, (unsigned long)secs, allowed);
	CHECK(count_lines(text, "log line(s) suppressed") >= 1,
		"no count of suppressed lines");
	free(text);
	/* The first front-end is still served. */
	TRY(tx_roundtrip(&t, 0, 100));
	TRY(rx_roundtrip(&t, 0, 100));
	tb_destroy(&t);
	return tb_check_fds(&t);
}

/* Migration is visible in the log: the dirty log, LOG_ALL on and off,
 * SEND_RARP, rings stopped by the front-end. */
int
case_lifecycle_log(void)
{
	struct tb t;
	struct vhu_log_desc ld = { 64, 0 };
	uint64_t ack, mac = 0x563412005452ull;
	uint32_t r, base;
	int logfd;
	char *text;

	log_capture_begin();
	tb_init(&t);
	t.o.mem_size = 2ull << 20;
	TRY(tb_start(&t));
	log_capture_begin();
	logfd = memfd_create("vhu-log", MFD_CLOEXEC);
	CHECK(logfd >= 0 && ftruncate(logfd, 4096) == 0, "log memfd");
	TRY(fe_send(&t.fe, VHU_REQ_SET_LOG_BASE, VHU_FLAG_VERSION, &ld,
		sizeof(ld), &logfd, 1));
	CHECK(fe_recv(&t.fe, &r, NULL, &ack, sizeof(ack), 3000) == 8 &&
		ack == 0, "SET_LOG_BASE reply");
	close(logfd);
	TRY(fe_request_u64(&t.fe, VHU_REQ_SET_FEATURES,
		t.fe.features | BIT(VHU_F_LOG_ALL)));
	TRY(fe_request_u64(&t.fe, VHU_REQ_SET_FEATURES, t.fe.features));
	TRY(fe_request_u64(&t.fe, VHU_REQ_SEND_RARP, mac));
	TRY(fe_get_vring_base(&t.fe, 1, &base));
	text = log_capture_text();
	CHECK(text != NULL, "log");
	CHECK(count_lines(text, "dirty log set: 64 bytes") == 1, "SET_LOG_BASE");
	CHECK(count_lines(text, "dirty logging on") == 1, "LOG_ALL on");
	CHECK(count_lines(text, "dirty logging off") == 1, "LOG_ALL off");
	CHECK(count_lines(text, "SEND_RARP: announcing 52:54:00:12:34:56") == 1,
		"SEND_RARP");
	CHECK(count_lines(text, "queue 1 stopped by the front-end at avail index 0")
		== 1, "GET_VRING_BASE");
	CHECK(count_lines(text, "INFO") >= 5 || count_lines(text, NULL) >= 5,
		"lines");
	free(text);
	tb_destroy(&t);
	return tb_check_fds(&t);
}

/* The front-end takes back what the back-end used. */
static void
fe_used_drain(struct fe_vring *v)
{
	uint32_t id, len;

	while (fe_used_get(v, &id, &len) == 1)
		;
}

/* Post @p n TX frames on queue pair 0 in steps of 32 and dequeue the
 * first @p take of them (all, or none). */
/* The back-end session ends and a new one starts on the same rings (a
 * restarted front-end process keeps its guest's memory), with @p base
 * as every ring's SET_VRING_BASE. */
static int
reconnect_keeping_rings(struct tb *t, int32_t base)
{
	fe_disconnect(&t->fe);
	CHECK(ev_wait(VHU_EVENT_DISCONNECTED, -1, -1, 1, 3000), "disconnect");
	ev_clear();
	CHECK(fe_connect(&t->fe, t->path) == 0, "reconnect");
	t->o.keep_rings = true;
	t->fe.base_override = base;
	TRY(fe_start(&t->fe, &t->o));
	CHECK(ev_wait(VHU_EVENT_LINK_UP, -1, -1, 1, 2000), "no LINK_UP");
	return 0;
}

static int
tx_frames(struct tb *t, unsigned int n, unsigned int take, uint32_t seed)
{
	struct rte_mbuf *m[32];
	uint8_t f[200];
	unsigned int i, posted = 0, got = 0;

	while (posted < n) {
		unsigned int step = RTE_MIN(32u, n - posted);

		for (i = 0; i < step; i++) {
			make_frame(f, sizeof(f), seed + posted + i);
			CHECK(fe_tx_frame(&t->fe, 1, NULL, 12, f, sizeof(f), 1,
				false, false) >= 0, "post");
		}
		posted += step;
		while (got < RTE_MIN(take, posted)) {
			uint16_t k = vhu_dequeue_burst(t->dev, 0, t_mp, m,
				(uint16_t)RTE_MIN(32u, posted - got));

			CHECK(k > 0, "dequeued %u of %u", got, take);
			for (i = 0; i < k; i++) {
				make_frame(f, sizeof(f), seed + got + i);
				CHECK(mbuf_equals(m[i], f, sizeof(f)),
					"frame %u", got + i);
			}
			rte_pktmbuf_free_bulk(m, k);
			got += k;
		}
	}
	fe_used_drain(&t->fe.vq[1]);
	return 0;
}

/* Neither queue of pair 0 stopped and frames still go both ways; then
 * the bench ends without leaking an fd. */
static int
end_running(struct tb *t)
{
	CHECK(qstats(t->dev, 0, VHU_DEQ).faults == 0 &&
		qstats(t->dev, 0, VHU_ENQ).faults == 0, "queue stopped");
	TRY(rx_roundtrip(t, 0, 1000));
	TRY(tx_roundtrip(t, 0, 300));
	tb_destroy(t);
	return tb_check_fds(t);
}

/* A 64-entry ring whose TX used index went round it: 100 frames sent
 * and taken. */
static int
used_ahead_bench(struct tb *t)
{
	tb_init(t);
	t->o.ring_size = 64;
	TRY(tb_start(t));
	return tx_frames(t, 100, 100, 1000);
}

/*
 * DPDK's virtio-user in server mode, reconnecting to a restarted
 * back-end, sends SET_VRING_BASE 0 while its ring is far ahead: the
 * queue resumes from the ring's used index (no fault, link up), and the
 * frames the guest had posted but nobody took come out once.
 */
int
case_base_reconcile(void)
{
	struct tb t;
	struct rte_mbuf *m[8];
	uint8_t f[200];
	uint16_t n;
	int i;

	TRY(used_ahead_bench(&t));
	TRY(tx_frames(&t, 5, 0, 5000));		/* posted, not taken */
	for (i = 0; i < 70; i++)
		TRY(rx_roundtrip(&t, 0, 60));
	CHECK(fe_used_idx(&t.fe.vq[1]) == 100, "used idx");

	/* The back-end "restarts": the session ends, the rings stay. */
	TRY(reconnect_keeping_rings(&t, 0));
	n = vhu_dequeue_burst(t.dev, 0, t_mp, m, 8);
	CHECK(n == 5, "dequeued %u frames after the reconnect, want 5", n);
	for (i = 0; i < n; i++) {
		make_frame(f, sizeof(f), 5000 + (uint32_t)i);
		CHECK(mbuf_equals(m[i], f, sizeof(f)), "frame %d", i);
	}
	rte_pktmbuf_free_bulk(m, n);
	fe_used_drain(&t.fe.vq[1]);
	CHECK(fe_used_idx(&t.fe.vq[1]) == 105, "used idx %u",
		fe_used_idx(&t.fe.vq[1]));
	return end_running(&t);
}

/* Poison @p n used entries of @p v from its used index on: ids no
 * chain of a ring of 64 has, so a guest reading one reads what this
 * back-end never wrote. */
#define STALE_ID 0xdead0000u

static void
used_poison(struct fe_vring *v, unsigned int n)
{
	uint16_t u = fe_used_idx(v);
	unsigned int k;

	for (k = 0; k < n; k++) {
		v->used->ring[(uint16_t)(u + k) % v->size].id = STALE_ID + k;
		v->used->ring[(uint16_t)(u + k) % v->size].len = 0;
	}
}

/* The guest takes every used entry the back-end published: each must be
 * one of the @p n chains it has outstanding (@p heads), once. */
static int
used_all_outstanding(struct fe_vring *v, const int *heads, unsigned int n,
	const char *ring)
{
	bool done[64] = { false };
	unsigned int got = 0, k;
	uint32_t id, len;

	while (fe_used_get(v, &id, &len) == 1) {
		for (k = 0; k < n && (heads[k] != (int)id || done[k]); k++)
			;
		CHECK(k < n, "%s: used entry %u of the guest's is id %#x: not a "
			"chain it has outstanding (a stale entry)", ring, got, id);
		done[k] = true;
		got++;
	}
	CHECK(got == n, "%s: %u of %u outstanding chains completed", ring, got,
		n);
	return 0;
}

/*
 * A front-end starts the rings with a base ahead of their used index
 * (base 104, used index 100, avail index 108: the chains between were
 * taken by the back-end it had before, or skipped). The used index must
 * move on from where it is, over entries this back-end wrote: had it
 * written its first at 104, the guest would take 100..103 as well, stale
 * entries of an earlier wrap (here poisoned), and complete chains twice.
 * The chains from the base on are taken (4 TX frames come out, 4 RX
 * buffers fill), their used entries go from 100, each once; the 4 before
 * the base stay the front-end's.
 */
int
case_base_ahead_of_used(void)
{
	struct tb t;
	struct rte_mbuf *m[16];
	int tx_heads[8], rx_heads[8];
	uint8_t f[200];
	uint16_t n;
	int i;

	TRY(used_ahead_bench(&t));
	for (i = 0; i < 100; i++)
		TRY(rx_roundtrip(&t, 0, 60));
	CHECK(fe_used_idx(&t.fe.vq[1]) == 100 &&
		fe_used_idx(&t.fe.vq[0]) == 100, "used idx");
	for (i = 0; i < 8; i++) {
		make_frame(f, sizeof(f), 7000 + (uint32_t)i);
		tx_heads[i] = fe_tx_frame(&t.fe, 1, NULL, 12, f, sizeof(f), 1,
			false, false);
		rx_heads[i] = fe_rx_post(&t.fe, 0, 1600, 1, false);
		CHECK(tx_heads[i] >= 0 && rx_heads[i] >= 0, "post");
	}
	used_poison(&t.fe.vq[0], 8);
	used_poison(&t.fe.vq[1], 8);

	/* The back-end changes: the rings stay, the base says 104. */
	TRY(reconnect_keeping_rings(&t, 104));

	n = vhu_dequeue_burst(t.dev, 0, t_mp, m, 16);
	TRY(used_all_outstanding(&t.fe.vq[1], tx_heads + 4, 4, "guest TX"));
	CHECK(n == 4, "dequeued %u frames, want the 4 from the base on", n);
	for (i = 0; i < n; i++) {
		make_frame(f, sizeof(f), 7004 + (uint32_t)i);
		CHECK(mbuf_equals(m[i], f, sizeof(f)), "frame %d", i);
	}
	n = vhu_enqueue_burst(t.dev, 0, m, 4);
	rte_pktmbuf_free_bulk(m, 4);
	TRY(used_all_outstanding(&t.fe.vq[0], rx_heads + 4, 4, "guest RX"));
	CHECK(n == 4, "enqueued %u of 4 frames into the RX buffers", n);
	CHECK(fe_used_idx(&t.fe.vq[0]) == 104 &&
		fe_used_idx(&t.fe.vq[1]) == 104, "used indexes %u/%u, want 104",
		fe_used_idx(&t.fe.vq[0]), fe_used_idx(&t.fe.vq[1]));
	return end_running(&t);
}

/* The destination's start sequence, on its own thread: its SET_FEATURES
 * waits until the source has stopped its rings. */
struct dst_start {
	struct fe *fe;
	const struct fe_opts *o;
	int rc;
};

static void *
dst_start_thread(void *arg)
{
	struct dst_start *d = arg;

	d->rc = fe_start(d->fe, d->o);
	return NULL;
}

/* The first front-end's socket was closed by the back-end. */
static bool
fe_was_closed(struct fe *fe)
{
	struct pollfd p = { .fd = fe->sock, .events = POLLIN };
	char c;

	return poll(&p, 1, 2000) == 1 && recv(fe->sock, &c, 1, 0) == 0;
}

/*
 * Same-host migration: the destination QEMU connects to the same socket
 * while the source runs (it opens its migration listener only once its
 * netdev is connected). It is answered what QEMU asks while connecting,
 * kept off the port while the source's rings run, and the port switches
 * over to it once the source stopped its rings and it starts its own.
 */
int
case_migrate_switch(void)
{
	static struct fe dst;	/* 3 MiB: not on the stack */
	struct tb t;
	struct dst_start d;
	pthread_t th;
	uint64_t v, ring0 = 0;
	uint32_t base;
	char *text;
	int efd;

	log_capture_begin();
	tb_init(&t);
	TRY(tb_start(&t));
	log_capture_begin();
	TRY(tx_roundtrip(&t, 0, 100));
	ev_clear();

	fe_init(&dst);
	CHECK(fe_connect(&dst, t.path) == 0, "destination connect");
	CHECK(fe_get_u64(&dst, VHU_REQ_GET_FEATURES, &v) == 0 &&
		v == t.fe.offered, "destination: GET_FEATURES");
	CHECK(fe_get_u64(&dst, VHU_REQ_GET_QUEUE_NUM, &v) == 0 && v == 1,
		"destination: GET_QUEUE_NUM");
	efd = eventfd(0, EFD_CLOEXEC);
	TRY(fe_send(&dst, VHU_REQ_SET_VRING_CALL, VHU_FLAG_VERSION, &ring0,
		sizeof(ring0), &efd, 1));
	close(efd);
	/* virtio-net's peer_attach() enables the first pair's rings while
	 * the destination waits for the migration: not its start */
	TRY(fe_request_state(&dst, VHU_REQ_SET_VRING_ENABLE, 0, 1));
	TRY(fe_sync(&dst));
	/* the source is not disturbed */
	TRY(tx_roundtrip(&t, 0, 200));
	TRY(rx_roundtrip(&t, 0, 200));
	CHECK(ev_count(VHU_EVENT_DISCONNECTED, -1, -1) == 0 &&
		ev_count(VHU_EVENT_LINK_DOWN, -1, -1) == 0,
		"the source was disturbed");

	/* the destination starts: held while the source's rings run */
	d.fe = &dst;
	d.o = &t.o;
	d.rc = -1;
	CHECK(pthread_create(&th, NULL, dst_start_thread, &d) == 0, "thread");
	msleep(300);
	TRY(tx_roundtrip(&t, 0, 300));
	CHECK(ev_count(VHU_EVENT_DISCONNECTED, -1, -1) == 0,
		"switched while the source's rings run");

	/* the source stops its device as QEMU does, status 0 first: the
	 * port stays with it until it read where each ring stopped */
	CHECK(t.fe.proto & BIT(VHU_PROTO_F_STATUS), "STATUS negotiated");
	CHECK(fe_request_u64(&t.fe, VHU_REQ_SET_STATUS, 0) == 0, "status 0");
	msleep(300);
	CHECK(ev_count(VHU_EVENT_DISCONNECTED, -1, -1) == 0,
		"switched before the source read its ring bases");
	TRY(fe_get_vring_base(&t.fe, 0, &base));
	TRY(fe_get_vring_base(&t.fe, 1, &base));
	pthread_join(th, NULL);
	CHECK(d.rc == 0, "destination's start sequence failed");
	CHECK(ev_wait(VHU_EVENT_LINK_UP, -1, -1, 1, 2000), "no LINK_UP");
	CHECK(ev_count(VHU_EVENT_DISCONNECTED, -1, -1) == 1 &&
		ev_count(VHU_EVENT_CONNECTED, -1, -1) == 1, "one switch");
	CHECK(fe_was_closed(&t.fe), "source still connected");
	fe_fini(&t.fe);
	t.fe = dst;
	TRY(tx_roundtrip(&t, 0, 400));
	TRY(rx_roundtrip(&t, 0, 400));

	text = log_capture_text();
	CHECK(text != NULL, "log");
	CHECK(count_lines(text, "second front-end connected") == 1 &&
		count_lines(text, "second front-end starts its device") == 1 &&
		count_lines(text, "switching the port over to it") == 1,
		"switch not logged");
	free(text);
	tb_destroy(&t);
	return tb_check_fds(&t);
}

/*
 * A second front-end while the first runs, a third one, then the first
 * leaves: the third is refused, the second takes the port.
 */
int
case_second_takes_over(void)
{
	static struct fe second, third;	/* 3 MiB each: not on the stack */
	struct tb t;
	uint64_t v;

	tb_init(&t);
	TRY(tb_start(&t));
	fe_init(&second);
	fe_init(&third);
	CHECK(fe_connect(&second, t.path) == 0, "second connect");
	CHECK(fe_get_u64(&second, VHU_REQ_GET_FEATURES, &v) == 0,
		"second front-end not answered");
	CHECK(fe_connect(&third, t.path) == 0, "third connect");
	CHECK(fe_was_closed(&third), "third front-end not closed");
	fe_fini(&third);
	TRY(tx_roundtrip(&t, 0, 123));

	ev_clear();
	fe_fini(&t.fe);
	CHECK(ev_wait(VHU_EVENT_CONNECTED, -1, -1, 1, 2000),
		"second front-end did not take the port");
	t.fe = second;
	TRY(fe_start(&t.fe, &t.o));
	CHECK(ev_wait(VHU_EVENT_LINK_UP, -1, -1, 1, 2000), "no LINK_UP");
	TRY(tx_roundtrip(&t, 0, 321));
	TRY(rx_roundtrip(&t, 0, 321));
	tb_destroy(&t);
	return tb_check_fds(&t);
}
