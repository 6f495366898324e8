/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Rough single-core throughput: this thread alternates between the guest
 * (refilling rings from used entries) and the library's burst calls, so
 * the numbers include the guest side. They are printed for the record and
 * checked only against a very low floor plus frame integrity.
 */

#include <string.h>

#include "vhu_test.h"
#include "vhu_cases.h"

#define RING 256
#define BURST 32

static uint64_t
run_dequeue(struct tb *t, uint32_t len, uint64_t ms, int *bad)
{
	struct fe_vring *v = &t->fe.vq[1];
	struct rte_mbuf *m[BURST];
	uint8_t f[2048];
	uint64_t frames = 0, end;
	uint32_t id, ulen;
	uint16_t i, n;

	make_frame(f, len, len);
	for (i = 0; i < RING; i++) {
		uint64_t b = fe_alloc(&t->fe, 12 + len, 64);

		memset(fe_va(&t->fe, b), 0, 12);
		memcpy((uint8_t *)fe_va(&t->fe, b) + 12, f, len);
		fe_desc(v, i, b, 12 + len, 0, 0);
		fe_avail_add(v, i);
	}
	fe_avail_publish(v);
	end = now_ms() + ms;
	while (now_ms() < end) {
		unsigned int k;

		for (k = 0; k < 64; k++) {
			n = vhu_dequeue_burst(t->dev, 0, t_mp, m, BURST);
			if (n > 0 && !mbuf_equals(m[0], f, len))
				(*bad)++;
			rte_pktmbuf_free_bulk(m, n);
			frames += n;
			while (fe_used_get(v, &id, &ulen) == 1)
				fe_avail_add(v, (uint16_t)id);
			fe_avail_publish(v);
		}
	}
	return frames;
}

static uint64_t
run_enqueue(struct tb *t, uint32_t len, uint64_t ms, int *bad)
{
	struct fe_vring *v = &t->fe.vq[0];
	struct rte_mbuf *m[BURST];
	uint8_t f[2048], got[2100];
	uint64_t frames = 0, end;
	uint32_t id = 0, ulen = 0;
	uint16_t i, n;

	make_frame(f, len, len + 1);
	for (i = 0; i < BURST; i++)
		m[i] = mk_mbuf(t_mp, f, len);
	for (i = 0; i < RING; i++)
		fe_rx_post(&t->fe, 0, 2048, 1, false);
	end = now_ms() + ms;
	while (now_ms() < end) {
		unsigned int k;

		for (k = 0; k < 64; k++) {
			n = vhu_enqueue_burst(t->dev, 0, m, BURST);
			frames += n;
			while (fe_used_get(v, &id, &ulen) == 1)
				fe_avail_add(v, (uint16_t)id);
			fe_avail_publish(v);
		}
	}
	if (fe_rx_read(&t->fe, 0, (uint16_t)id, got, ulen) != 0 ||
			ulen != len + 12 || memcmp(got + 12, f, len) != 0)
		(*bad)++;
	rte_pktmbuf_free_bulk(m, BURST);
	return frames;
}

static int
measure(const char *what, bool zc, bool deq, uint32_t len)
{
	const uint64_t ms = 250;
	struct tb t;
	uint64_t frames;
	int bad = 0;
	double mpps;

	tb_init(&t);
	t.cfg.zero_copy = zc;
	t.cfg.copy_threshold = 0;
	t.cfg.inflight_budget = RING;
	t.o.ring_size = RING;
	TRY(tb_start(&t));
	frames = deq ? run_dequeue(&t, len, ms, &bad) :
		run_enqueue(&t, len, ms, &bad);
	mpps = (double)frames / ((double)ms * 1000.0);
	printf("%-28s %5u B: %6.2f Mpps %7.2f Gbit/s\n", what, len, mpps,
		mpps * len * 8 / 1000.0);
	CHECK(bad == 0, "%s: %d corrupted frame(s)", what, bad);
	CHECK(mpps > 0.02, "%s: %.3f Mpps", what, mpps);
	if (zc && deq)
		CHECK(qstats(t.dev, 0, VHU_DEQ).zc_packets == frames,
			"zero-copy not used");
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_throughput(void)
{
	TRY(measure("dequeue copy", false, true, 64));
	TRY(measure("dequeue copy", false, true, 1500));
	TRY(measure("dequeue zero-copy", true, true, 1500));
	TRY(measure("enqueue", false, false, 64));
	TRY(measure("enqueue", false, false, 1500));
	return 0;
}
