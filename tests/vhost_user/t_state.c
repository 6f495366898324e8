/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device suspend / resume (vhu_suspend(), vhu_resume()) under traffic.
 */

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "vhu_test.h"
#include "vhu_cases.h"

#define SR_LEN(seq)	(60u + (seq) % 190u)

/* A data-path thread dequeuing queue pair 0 as fast as it can, checking
 * every frame is the next one in sequence. */
struct poller {
	struct vhu_dev *dev;
	uint32_t got;		/* atomic: frames dequeued, in order */
	uint32_t bad;		/* atomic: frames out of order or damaged */
	uint32_t empty_bursts;	/* atomic */
	bool stop;		/* atomic */
};

static void *
poll_loop(void *arg)
{
	struct poller *p = arg;
	uint8_t frame[256];
	struct rte_mbuf *m[32];
	uint16_t n, i;

	while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
		n = vhu_dequeue_burst(p->dev, 0, t_mp, m, 32);
		if (n == 0)
			__atomic_fetch_add(&p->empty_bursts, 1,
				__ATOMIC_RELAXED);
		for (i = 0; i < n; i++) {
			uint32_t seq = __atomic_load_n(&p->got,
				__ATOMIC_RELAXED);

			make_frame(frame, SR_LEN(seq), seq);
			if (!mbuf_equals(m[i], frame, SR_LEN(seq)))
				__atomic_fetch_add(&p->bad, 1,
					__ATOMIC_RELAXED);
			rte_pktmbuf_free(m[i]);
			__atomic_store_n(&p->got, seq + 1, __ATOMIC_RELEASE);
		}
	}
	return NULL;
}

static int
post_seq(struct tb *t, uint32_t seq, unsigned int n)
{
	uint8_t frame[256];
	unsigned int i;

	for (i = 0; i < n; i++) {
		make_frame(frame, SR_LEN(seq + i), seq + i);
		CHECK(fe_tx_frame(&t->fe, 1, NULL, 12, frame, SR_LEN(seq + i),
			1, false, false) >= 0, "post %u", seq + i);
	}
	return 0;
}

static bool
wait_got(struct poller *p, uint32_t want, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	while (__atomic_load_n(&p->got, __ATOMIC_ACQUIRE) < want) {
		if (now_ms() > end)
			return false;
		msleep(1);
	}
	return true;
}

/* Zero-copy buffers held by the application when the device is
 * suspended: counted, and returned to the guest (used entries) as they
 * are freed, while the device sleeps. */
static int
suspend_zc_held(struct tb *t, uint32_t *seq)
{
	struct rte_mbuf *m[4];
	uint16_t used0 = fe_used_idx(&t->fe.vq[1]);
	uint64_t end;
	int held;

	TRY(post_seq(t, *seq, 3));
	CHECK(vhu_dequeue_burst(t->dev, 0, t_mp, m, 4) == 3, "3 frames");
	CHECK(RTE_MBUF_HAS_EXTBUF(m[0]), "zero-copy frame");
	held = vhu_suspend(t->dev);
	CHECK(held == 3, "vhu_suspend: %d zero-copy buffers held, expected 3",
		held);
	CHECK(vhu_suspended(t->dev), "not suspended");
	rte_pktmbuf_free_bulk(m, 3);
	end = now_ms() + 2000;
	while (fe_used_idx(&t->fe.vq[1]) != (uint16_t)(used0 + 3) &&
			now_ms() < end)
		msleep(5);
	CHECK(fe_used_idx(&t->fe.vq[1]) == (uint16_t)(used0 + 3),
		"used entries of the held buffers while suspended: %u",
		(uint16_t)(fe_used_idx(&t->fe.vq[1]) - used0));
	ev_clear();
	TRY(vhu_resume(t->dev));
	CHECK(ev_wait(VHU_EVENT_LINK_UP, -1, -1, 1, 2000), "link up again");
	*seq += 3;
	return 0;
}

int
case_suspend_resume(void)
{
	struct vhu_queue_stats s;
	struct poller p = {0};
	struct rte_mbuf *rx;
	uint8_t frame[256];
	pthread_t th;
	uint32_t seq = 10, got_at_suspend;	/* frames of 70+ bytes: zero-copy */
	uint16_t used;
	struct tb t, t2;
	int fd_base;

	tb_init(&t2);
	tb_init(&t);
	fd_base = t2.fd_base;
	t.cfg.zero_copy = true;
	t.cfg.copy_threshold = 64;
	TRY(tb_start(&t));
	TRY(tb_start(&t2));
	CHECK(!vhu_suspended(t.dev), "suspended at start");
	TRY(suspend_zc_held(&t, &seq));

	/* Traffic: the poller takes frames as they come. */
	p.dev = t.dev;
	p.got = seq;
	CHECK(pthread_create(&th, NULL, poll_loop, &p) == 0, "thread");
	TRY(post_seq(&t, seq, 30));
	CHECK(wait_got(&p, seq + 30, 2000), "30 frames before suspension");
	seq += 30;

	/* Suspended while the poller keeps polling: the frames the guest
	 * queues stay in its ring, nothing is consumed. */
	ev_clear();
	CHECK(vhu_suspend(t.dev) >= 0, "suspend");
	got_at_suspend = __atomic_load_n(&p.got, __ATOMIC_ACQUIRE);
	CHECK(got_at_suspend == seq, "%u frames at suspension, %u sent",
		got_at_suspend, seq);
	TRY(post_seq(&t, seq, 40));
	CHECK(ev_wait(VHU_EVENT_LINK_DOWN, -1, -1, 1, 2000), "no LINK_DOWN");
	CHECK(ev_wait(VHU_EVENT_QUEUE_DOWN, -1, -1, 2, 2000), "no QUEUE_DOWN");
	msleep(150);	/* the tick returned the last zero-copy chains */
	used = fe_used_idx(&t.fe.vq[1]);
	CHECK(used == (uint16_t)(seq - 10), "used index %u while suspended, %u taken",
		used, seq - 10);
	msleep(100);
	CHECK(__atomic_load_n(&p.got, __ATOMIC_ACQUIRE) == got_at_suspend,
		"%u frames dequeued while suspended",
		__atomic_load_n(&p.got, __ATOMIC_ACQUIRE) - got_at_suspend);
	CHECK(fe_used_idx(&t.fe.vq[1]) == used, "ring consumed while suspended");
	/* Guest RX: buffers posted stay untouched. */
	CHECK(fe_rx_post(&t.fe, 0, 2048, 1, false) >= 0, "rx post");
	make_frame(frame, 100, 7);
	rx = mk_mbuf(t_mp, frame, 100);
	CHECK(vhu_enqueue_burst(t.dev, 0, &rx, 1) == 0, "enqueue while suspended");
	/* Another device keeps moving frames. */
	TRY(tx_roundtrip(&t2, 0, 300));
	TRY(rx_roundtrip(&t2, 0, 300));

	/* Resumed: exactly the 40 queued frames, in order, then more. */
	ev_clear();
	TRY(vhu_resume(t.dev));
	CHECK(!vhu_suspended(t.dev), "still suspended");
	CHECK(ev_wait(VHU_EVENT_LINK_UP, -1, -1, 1, 2000), "no LINK_UP");
	CHECK(wait_got(&p, seq + 40, 2000), "%u of 40 frames after resume",
		__atomic_load_n(&p.got, __ATOMIC_ACQUIRE) - seq);
	seq += 40;
	TRY(post_seq(&t, seq, 20));
	CHECK(wait_got(&p, seq + 20, 2000), "20 frames after resume");
	seq += 20;
	CHECK(vhu_enqueue_burst(t.dev, 0, &rx, 1) == 1, "enqueue after resume");
	rte_pktmbuf_free(rx);
	__atomic_store_n(&p.stop, true, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	CHECK(p.bad == 0, "%u frames damaged or out of order", p.bad);
	CHECK(p.got == seq, "%u frames dequeued, %u sent", p.got, seq);
	s = qstats(t.dev, 0, VHU_DEQ);
	CHECK(s.packets == seq - 10 && s.faults == 0 && malformed_total(&s) == 0,
		"dequeue counters: %lu frames", (unsigned long)s.packets);
	s = qstats(t.dev, 0, VHU_ENQ);
	CHECK(s.packets == 1 && s.drops == 0, "enqueue counters: %lu, %lu drops",
		(unsigned long)s.packets, (unsigned long)s.drops);
	CHECK(fe_used_idx(&t.fe.vq[1]) == (uint16_t)(seq - 10), "used entries %u",
		fe_used_idx(&t.fe.vq[1]));
	CHECK(vhu_suspend(NULL) == -EINVAL && vhu_resume(NULL) == -EINVAL,
		"NULL device");
	tb_destroy(&t);
	tb_destroy(&t2);
	t2.fd_base = fd_base;
	return tb_check_fds(&t2);
}
