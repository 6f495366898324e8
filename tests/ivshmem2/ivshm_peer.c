/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * Test peer for the ivshmem-net library, one process per peer, driven by
 * the python tests. Prints JSON lines on stdout ("link", "stalled",
 * "phase", "result").
 *
 *   ivshm_peer [EAL args] -- traffic --socket S [options]
 *     --mode poll|doorbell  doorbell: sleep on the rx eventfd when idle
 *     --count N             frames to send (seq 0..N-1)
 *     --forever             keep sending until SIGTERM
 *     --expect N            frames to receive before finishing
 *     --min L --max L       frame sizes (max 0 = the largest allowed)
 *     --gap-every F --gap-ms G   pause G ms after every F frames sent
 *     --drain               with gaps: time how long the peer takes to
 *                           complete each group (all sent frames consumed;
 *                           a receiver that sleeps must be woken for it);
 *                           the first group too waits a gap after link up
 *     --tx-every-ms T       at most one frame every T ms
 *     --stall-after N       receive exactly N frames, then stop consuming
 *     --zc B --zc-min L     zero-copy rx with budget B
 *     --hold K              keep up to K rx mbufs, free them out of order
 *     --free-thread         free rx mbufs on another thread
 *     --timeout S
 *   ivshm_peer [EAL args] -- hostile --socket S --cases list|fuzz
 *   ivshm_peer [EAL args] -- bench --socket S --min SIZE --gap-ms DURATION
 *     [--count 1 (sender) | --count 0 (receiver)]   throughput, no checks
 *
 * Frame: dst ff.., src 02:00:00:00:00:id, type 0x88b5, le32 seq, le32 len,
 * then byte j = (seq * 31 + j) & 0xff. Size of frame seq i:
 * i == 0 -> min, i == 1 -> max, else min + (i * 2654435761 mod 2^32) %
 * (max - min + 1).
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_random.h>
#include <rte_ring.h>

#include "ivshm_net.h"

#define BURST 32
#define HDR 22

struct opts {
	const char *socket;
	bool doorbell;
	uint64_t count;
	bool forever;
	uint64_t expect;
	uint32_t min, max;
	uint64_t gap_every;
	uint32_t gap_ms;
	bool drain;
	uint32_t tx_every_ms;
	uint64_t stall_after;
	uint32_t zc, zc_min;
	uint32_t hold;
	bool free_thread;
	uint32_t timeout;
	const char *cases;
};

static struct opts o;
static struct ivshm_net *net;
static struct rte_mempool *mp;
static volatile sig_atomic_t got_term;
static uint8_t my_id;

/* receive side */
static uint64_t rx_count, rx_bytes, rx_errors, rx_seq_jumps;
static int64_t rx_next = -1, first_rx_seq = -1;
static uint64_t woke, wait_timeouts;
/* send side */
static uint64_t tx_seq, tx_bytes;
/* --drain: groups the peer completed within their gap, the slowest, and
 * groups still in flight when the next one started */
static uint64_t drains, drain_max_ns, drains_late;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double
cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
		(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static uint32_t
frame_size(uint64_t i, uint32_t min, uint32_t max)
{
	if (i == 0)
		return min;
	if (i == 1)
		return max;
	return min + (uint32_t)((uint32_t)(i * 2654435761u) %
		(uint64_t)(max - min + 1));
}

static void
print_stats(const char *event, const char *extra)
{
	struct ivshm_net_stats s;
	struct ivshm_net_link l;
	unsigned int i;

	ivshm_net_stats_get(net, &s);
	ivshm_net_link_get(net, &l);
	printf("{\"event\": \"%s\", \"id\": %u, \"up\": %s, \"own_state\": %u, "
		"\"peer_state\": %u, \"tx_seq\": %" PRIu64 ", \"tx_bytes_sent\": "
		"%" PRIu64 ", \"rx_count\": %" PRIu64 ", \"rx_bytes_got\": %"
		PRIu64 ", \"rx_errors\": %" PRIu64 ", \"rx_seq_jumps\": %" PRIu64
		", \"first_rx_seq\": %" PRId64 ", \"woke\": %" PRIu64
		", \"wait_timeouts\": %" PRIu64 ", \"max_frame\": %u",
		event, my_id, l.up ? "true" : "false", l.own_state,
		l.peer_state, tx_seq, tx_bytes, rx_count, rx_bytes, rx_errors,
		rx_seq_jumps, first_rx_seq, woke, wait_timeouts,
		ivshm_net_max_frame(net));
	{
		uint64_t v[64];
		unsigned int k = ivshm_net_xstats_get(net, v, RTE_DIM(v));

		for (i = 0; i < k && i < RTE_DIM(v); i++)
			printf(", \"%s\": %" PRIu64, ivshm_net_xstats_name(i),
				v[i]);
	}
	(void)s;
	printf("%s}\n", extra ? extra : "");
	fflush(stdout);
}

static bool
ctrl(void)
{
	if (ivshm_net_ctrl_poll(net)) {
		/* a new link session starts anywhere in the sender's seq */
		rx_next = -1;
		print_stats("link", NULL);
		return true;
	}
	return false;
}

static struct rte_mbuf *
make_frame(uint64_t seq, uint32_t len)
{
	struct rte_mbuf *head = rte_pktmbuf_alloc(mp), *last = head;
	uint32_t off = 0;

	if (head == NULL)
		return NULL;
	while (off < len) {
		uint32_t room = rte_pktmbuf_tailroom(last), k, j;
		uint8_t *p;

		if (room == 0) {
			struct rte_mbuf *s = rte_pktmbuf_alloc(mp);

			if (s == NULL || rte_pktmbuf_chain(head, s) != 0) {
				rte_pktmbuf_free(s);
				rte_pktmbuf_free(head);
				return NULL;
			}
			last = s;
			continue;
		}
		k = RTE_MIN(room, len - off);
		p = (uint8_t *)rte_pktmbuf_append(head, (uint16_t)k);
		if (p == NULL) {	/* appended to the last segment */
			rte_pktmbuf_free(head);
			return NULL;
		}
		for (j = 0; j < k; j++) {
			uint32_t pos = off + j;

			if (pos < 6)
				p[j] = 0xff;
			else if (pos < 11)
				p[j] = pos == 6 ? 0x02 : 0;
			else if (pos == 11)
				p[j] = my_id;
			else if (pos == 12)
				p[j] = 0x88;
			else if (pos == 13)
				p[j] = 0xb5;
			else if (pos < 18)
				p[j] = (uint8_t)(seq >> (8 * (pos - 14)));
			else if (pos < 22)
				p[j] = (uint8_t)(len >> (8 * (pos - 18)));
			else
				p[j] = (uint8_t)(seq * 31 + pos);
		}
		off += k;
	}
	return head;
}

static void
check_frame(struct rte_mbuf *m)
{
	uint8_t hdr[HDR];
	const uint8_t *h;
	uint32_t seq, len, pos = 0;
	struct rte_mbuf *s;
	bool bad = false;

	h = rte_pktmbuf_read(m, 0, HDR, hdr);
	if (h == NULL || m->pkt_len < 64) {
		rx_errors++;
		return;
	}
	memcpy(&seq, h + 14, 4);
	memcpy(&len, h + 18, 4);
	if (len != m->pkt_len || h[12] != 0x88 || h[13] != 0xb5)
		bad = true;
	if (o.max && len != frame_size(seq, o.min, o.max))
		bad = true;
	for (s = m; s != NULL && !bad; s = s->next) {
		const uint8_t *p = rte_pktmbuf_mtod(s, const uint8_t *);
		uint32_t j;

		for (j = 0; j < s->data_len; j++, pos++)
			if (pos >= HDR && p[j] != (uint8_t)(seq * 31 + pos)) {
				bad = true;
				break;
			}
	}
	if (bad) {
		rx_errors++;
		return;
	}
	if (first_rx_seq < 0)
		first_rx_seq = seq;
	if (rx_next >= 0 && seq != (uint32_t)rx_next)
		rx_errors++;	/* lost or reordered within a link session */
	else if (rx_next < 0 && rx_count != 0)
		rx_seq_jumps++;
	rx_next = (int64_t)seq + 1;
	rx_bytes += m->pkt_len;
}

/* ---- releasing rx mbufs: at once, held and shuffled, or elsewhere ---- */

static struct rte_mbuf *held[4096];
static uint32_t n_held;
static struct rte_ring *free_ring;
static volatile bool free_stop;

static void *
free_thread(void *arg)
{
	struct rte_mbuf *m[BURST];

	(void)arg;
	while (!free_stop || rte_ring_count(free_ring)) {
		unsigned int n = rte_ring_dequeue_burst(free_ring, (void **)m,
			BURST, NULL);

		if (n == 0) {
			usleep(100);
			continue;
		}
		/* free in reverse: completions must still go out in order */
		while (n--)
			rte_pktmbuf_free(m[n]);
	}
	return NULL;
}

static void
release(struct rte_mbuf *m)
{
	if (free_ring != NULL) {
		while (rte_ring_enqueue(free_ring, m) != 0)
			rte_pause();
		return;
	}
	if (o.hold == 0) {
		rte_pktmbuf_free(m);
		return;
	}
	held[n_held++] = m;
	if (n_held >= o.hold) {
		uint32_t k = (uint32_t)(rte_rand() % n_held);

		rte_pktmbuf_free(held[k]);
		held[k] = held[--n_held];
	}
}

/* Idle: the application finishes with its oldest frame. Holding mbufs
 * forever would stall the sender (completions go out in order). */
static void
release_one(void)
{
	uint32_t k;

	if (n_held == 0)
		return;
	rte_pktmbuf_free(held[0]);
	for (k = 1; k < n_held; k++)
		held[k - 1] = held[k];
	n_held--;
}

static void
release_all(void)
{
	while (n_held)
		rte_pktmbuf_free(held[--n_held]);
}

/* ---- traffic ---- */

static void
on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

/* --drain: the group sent at START is done once nothing is in flight. */
static bool
drain_check(uint64_t start, uint64_t now)
{
	if (ivshm_net_tx_inflight(net) != 0)
		return false;
	drains++;
	drain_max_ns = RTE_MAX(drain_max_ns, now - start);
	return true;
}

static int
traffic(void)
{
	uint64_t start = now_ns(), deadline = start + o.timeout * 1000000000ull;
	uint64_t last_ctrl = 0, next_tx_ns = 0, gap_until = 0, sent_in_group = 0;
	uint64_t drain_start = 0;
	bool draining = false, was_up = false;
	double cpu0 = cpu_seconds();
	bool stalled = false, done = false, timed_out = false;
	unsigned int idle = 0;
	pthread_t ft;
	char extra[256];
	struct ivshm_net_link l;

	if (o.free_thread) {
		free_ring = rte_ring_create("free", 8192, SOCKET_ID_ANY,
			RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (free_ring == NULL ||
				pthread_create(&ft, NULL, free_thread, NULL) != 0)
			return 2;
	}
	while (!done) {
		struct rte_mbuf *pkts[BURST];
		uint64_t now = now_ns();
		uint16_t nb = 0, i, sent = 0;
		bool worked = false;

		if (now > deadline) {
			timed_out = true;
			break;
		}
		if (got_term)
			break;
		if (now - last_ctrl > 1000000) {
			ctrl();
			last_ctrl = now;
		}
		ivshm_net_link_get(net, &l);
		/* --drain: the first group, like the others, finds the peer
		 * idle for a gap */
		if (o.drain && l.up && !was_up && tx_seq == 0)
			gap_until = now + o.gap_ms * 1000000ull;
		was_up = l.up;
		/* rx */
		if (!stalled) {
			uint16_t want = BURST;

			if (o.stall_after && o.stall_after - rx_count < want)
				want = (uint16_t)(o.stall_after - rx_count);
			/* take no more than expected: the rest is not ours */
			if (!o.stall_after && o.expect && !o.forever) {
				uint64_t left = o.expect > rx_count ?
					o.expect - rx_count : 0;

				if (left < want)
					want = (uint16_t)left;
			}
			nb = want ? ivshm_net_rx_burst(net, pkts, want) : 0;
			for (i = 0; i < nb; i++) {
				check_frame(pkts[i]);
				rx_count++;
				release(pkts[i]);
			}
			if (o.stall_after && rx_count == o.stall_after &&
					tx_seq == o.count &&
					ivshm_net_tx_inflight(net) == 0) {
				stalled = true;
				print_stats("stalled", NULL);
			}
		}
		/* tx */
		if (l.up && (o.forever || tx_seq < o.count) && now >= gap_until &&
				now >= next_tx_ns) {
			uint16_t n = BURST;

			if (draining) {	/* the last group is not done yet */
				drains_late++;
				draining = false;
			}

			if (!o.forever && o.count - tx_seq < n)
				n = (uint16_t)(o.count - tx_seq);
			if (o.gap_every && o.gap_every - sent_in_group < n)
				n = (uint16_t)(o.gap_every - sent_in_group);
			if (o.tx_every_ms)
				n = 1;
			for (i = 0; i < n; i++) {
				pkts[i] = make_frame(tx_seq + i, frame_size(
					tx_seq + i, o.min, o.max));
				if (pkts[i] == NULL)
					break;
			}
			n = i;
			sent = ivshm_net_tx_burst(net, pkts, n);
			for (i = 0; i < sent; i++)
				tx_bytes += frame_size(tx_seq + i, o.min, o.max);
			tx_seq += sent;
			for (i = 0; i < n; i++)
				rte_pktmbuf_free(pkts[i]);
			sent_in_group += sent;
			if (o.gap_every && sent_in_group >= o.gap_every) {
				sent_in_group = 0;
				gap_until = now + o.gap_ms * 1000000ull;
				draining = o.drain;
				drain_start = now;
			}
			if (o.tx_every_ms)
				next_tx_ns = now + o.tx_every_ms * 1000000ull;
		}
		if (draining && drain_check(drain_start, now))
			draining = false;
		worked = nb != 0 || sent != 0;
		if (nb == 0)
			release_one();
		if (!o.forever && !stalled && tx_seq >= o.count &&
				rx_count >= o.expect && !o.stall_after &&
				ivshm_net_tx_inflight(net) == 0)
			done = true;
		if (stalled) {
			usleep(1000);
			continue;
		}
		idle = worked ? 0 : idle + 1;
		if (o.doorbell && idle > 16) {
			uint64_t t = 20;

			if (gap_until > now)
				t = RTE_MIN(t, (gap_until - now) / 1000000 + 1);
			if (draining)
				t = 1;	/* time the drain to the millisecond */
			if (ivshm_net_rx_wait(net, (int)t) == 1)
				woke++;
			else
				wait_timeouts++;
			idle = 0;
		} else if (!worked && o.tx_every_ms) {
			usleep(200);
		}
	}
	/* give back what is held, publish those completions */
	release_all();
	if (free_ring != NULL) {
		free_stop = true;
		pthread_join(ft, NULL);
	}
	ivshm_net_rx_burst(net, NULL, 0);
	snprintf(extra, sizeof(extra), ", \"timeout\": %s, \"wall\": %.3f, "
		"\"cpu\": %.3f, \"drains\": %" PRIu64 ", \"drain_max_ms\": %.3f, "
		"\"drains_late\": %" PRIu64, timed_out ? "true" : "false",
		(now_ns() - start) / 1e9, cpu_seconds() - cpu0, drains,
		drain_max_ns / 1e6, drains_late);
	print_stats("result", extra);
	return timed_out ? 1 : 0;
}

/* ---- hostile ---- */

static const struct ivshm_net_layout *lay;
static uint8_t *own;
static const uint8_t *peer_sec;

static volatile uint16_t *
u16p(uint8_t *s, uint64_t off)
{
	return (volatile uint16_t *)(s + off);
}

static bool
wait_link(int ms)
{
	struct ivshm_net_link l;
	uint64_t end = now_ns() + (uint64_t)ms * 1000000ull;

	while (now_ns() < end) {
		struct rte_mbuf *p[BURST];
		uint16_t n, i;

		ctrl();
		n = ivshm_net_rx_burst(net, p, BURST);
		for (i = 0; i < n; i++)
			rte_pktmbuf_free(p[i]);
		ivshm_net_link_get(net, &l);
		if (l.up)
			return true;
		usleep(200);
	}
	return false;
}

/* After a corruption: only the control path runs until the victim shows
 * it reset (state below READY), then the link is renegotiated. */
static bool
wait_victim_reset(int ms)
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000ull;
	struct ivshm_dev *dev = ivshm_net_dev(net);

	while (now_ns() < end) {
		if (ivshm_peer_state(dev, !my_id) < IVSHM_NET_STATE_READY)
			return true;
		usleep(200);
	}
	return false;
}

static void
publish_desc(uint64_t addr, uint32_t len, uint16_t flags)
{
	uint32_t N = lay->num;
	uint16_t a = *u16p(own, lay->avail_off + 2), slot = a & (N - 1);
	volatile uint8_t *d = own + 16ull * slot;

	*(volatile uint64_t *)d = addr;
	*(volatile uint32_t *)(d + 8) = len;
	*(volatile uint16_t *)(d + 12) = flags;
	*u16p(own, lay->avail_off + 4 + 2ull * slot) = slot;
	__atomic_store_n(u16p(own, lay->avail_off + 2), (uint16_t)(a + 1),
		__ATOMIC_RELEASE);
}

/* Wait until the victim has frames for us we did not complete. */
static bool
victim_frames_pending(void)
{
	uint64_t end = now_ns() + 2000000000ull;

	while (now_ns() < end) {
		uint16_t avail = __atomic_load_n((const uint16_t *)(peer_sec +
			lay->avail_off + 2), __ATOMIC_ACQUIRE);
		uint16_t used = *u16p(own, lay->used_off + 2);

		if (avail != used)
			return true;
		ctrl();
		usleep(200);
	}
	return false;
}

static void
complete_bad(uint32_t id, uint32_t len, uint16_t jump)
{
	uint32_t N = lay->num;
	uint16_t u = *u16p(own, lay->used_off + 2), slot = u & (N - 1);
	volatile uint32_t *e = (volatile uint32_t *)(own + lay->used_off + 4 +
		8ull * slot);

	e[0] = id;
	e[1] = len;
	__atomic_store_n(u16p(own, lay->used_off + 2), (uint16_t)(u + jump),
		__ATOMIC_RELEASE);
}

static int
corrupt(const char *name)
{
	uint32_t N = lay->num;
	uint64_t L = lay->section_size, V = lay->data_off;
	uint16_t a = *u16p(own, lay->avail_off + 2);
	uint16_t u = *u16p(own, lay->used_off + 2);

	if (strcmp(name, "avail_idx") == 0) {
		__atomic_store_n(u16p(own, lay->avail_off + 2),
			(uint16_t)(a + N + 1), __ATOMIC_RELEASE);
	} else if (strcmp(name, "desc_id") == 0) {
		*u16p(own, lay->avail_off + 4 + 2ull * (a & (N - 1))) =
			(uint16_t)(N + 7);
		__atomic_store_n(u16p(own, lay->avail_off + 2),
			(uint16_t)(a + 1), __ATOMIC_RELEASE);
	} else if (strcmp(name, "desc_flags") == 0) {
		publish_desc(V, 64, 1);
	} else if (strcmp(name, "desc_addr_low") == 0) {
		publish_desc(16, 64, 0);
	} else if (strcmp(name, "desc_addr_end") == 0) {
		publish_desc(L, 1, 0);
	} else if (strcmp(name, "desc_addr_huge") == 0) {
		publish_desc(0xffffffffffffff00ull, 64, 0);
	} else if (strcmp(name, "desc_len_end") == 0) {
		publish_desc(L - 100, 101, 0);
	} else if (strcmp(name, "desc_len_huge") == 0) {
		publish_desc(V, 0xffffffffu, 0);
	} else if (strcmp(name, "used_idx") == 0) {
		complete_bad(u & (N - 1), 1, (uint16_t)(N + 1));
	} else if (strcmp(name, "used_id") == 0) {
		if (!victim_frames_pending())
			return -1;
		complete_bad((u + 1) & (N - 1), 1, 1);
	} else if (strcmp(name, "used_len") == 0) {
		if (!victim_frames_pending())
			return -1;
		complete_bad(u & (N - 1), 1500, 1);
	} else if (strcmp(name, "peer_state") == 0) {
		ivshm_reg_write(ivshm_net_dev(net), IVSHM_REG_STATE, 9);
	} else if (strcmp(name, "fuzz") == 0) {
		uint32_t i, k = (uint32_t)(rte_rand() % 8) + 1;

		/* random descriptors and avail entries, plausible indices */
		for (i = 0; i < N; i++) {
			volatile uint8_t *d = own + 16ull * i;
			uint64_t r = rte_rand();

			*(volatile uint64_t *)d = (r & 1) ? V + rte_rand() %
				(L - V + 64) : rte_rand();
			*(volatile uint32_t *)(d + 8) = (r & 2) ?
				(uint32_t)(rte_rand() % 4096) :
				(uint32_t)rte_rand();
			*(volatile uint16_t *)(d + 12) = (r & 4) ? 0 :
				(uint16_t)rte_rand();
			*u16p(own, lay->avail_off + 4 + 2ull * i) = (r & 8) ?
				(uint16_t)(rte_rand() % N) : (uint16_t)rte_rand();
		}
		__atomic_store_n(u16p(own, lay->avail_off + 2),
			(uint16_t)(a + ((rte_rand() & 7) ? k :
			(uint16_t)rte_rand())), __ATOMIC_RELEASE);
		if (rte_rand() & 1)
			complete_bad((uint32_t)rte_rand(), (uint32_t)rte_rand(),
				(uint16_t)(rte_rand() % 3));
	} else {
		return -2;
	}
	return 0;
}

static int
hostile(void)
{
	static const char *const all[] = {
		"avail_idx", "desc_id", "desc_flags", "desc_addr_low",
		"desc_addr_end", "desc_addr_huge", "desc_len_end",
		"desc_len_huge", "used_idx", "used_id", "used_len",
		"peer_state",
	};
	bool fuzz = o.cases && strcmp(o.cases, "fuzz") == 0;
	uint64_t end = now_ns() + 3000000000ull;
	unsigned int i, done = 0, resets = 0, rounds = 0;
	int rc = 0;

	lay = ivshm_net_layout(net);
	own = ivshm_own_section(ivshm_net_dev(net));
	peer_sec = ivshm_peer_section(ivshm_net_dev(net), !my_id);
	for (i = 0; fuzz ? now_ns() < end : i < RTE_DIM(all); i++) {
		const char *name = fuzz ? "fuzz" : all[i];
		struct rte_mbuf *m[4];
		uint16_t k;
		int r;

		if (!wait_link(5000)) {
			printf("{\"event\": \"phase\", \"case\": \"%s\", "
				"\"error\": \"no link\"}\n", name);
			rc = 1;
			break;
		}
		/* a few good frames first */
		for (k = 0; k < 4; k++)
			m[k] = make_frame(tx_seq + k,
				frame_size(tx_seq + k, o.min, o.max));
		k = ivshm_net_tx_burst(net, m, 4);
		tx_seq += k;
		rte_pktmbuf_free_bulk(m, 4);
		r = corrupt(name);
		rounds++;
		if (r != 0) {
			printf("{\"event\": \"phase\", \"case\": \"%s\", "
				"\"error\": \"cannot set up (%d)\"}\n", name, r);
			rc = 1;
			break;
		}
		r = wait_victim_reset(fuzz ? 30 : 3000);
		resets += r;
		done++;
		if (!fuzz)
			printf("{\"event\": \"phase\", \"case\": \"%s\", "
				"\"victim_reset\": %s}\n", name,
				r ? "true" : "false");
		fflush(stdout);
		if (!r && !fuzz)
			rc = 1;
		if (fuzz && !r) {
			/* accepted (plausible garbage): complete and go on */
			struct rte_mbuf *p[BURST];
			uint16_t n = ivshm_net_rx_burst(net, p, BURST);

			while (n)
				rte_pktmbuf_free(p[--n]);
		}
	}
	wait_link(3000);
	printf("{\"event\": \"hostile_done\", \"cases\": %u, \"victim_resets\": "
		"%u, \"rounds\": %u}\n", done, resets, rounds);
	print_stats("result", NULL);
	return rc;
}

/* ---- bench: fixed-size frames, no pattern, no checks ---- */

static int
bench(void)
{
	uint64_t start = 0, end, frames = 0, t_end;
	struct rte_mbuf *pkts[BURST];
	struct ivshm_net_link l;
	bool tx = o.count != 0;
	uint16_t i, n;

	t_end = now_ns() + o.timeout * 1000000000ull;
	for (;;) {		/* wait for the link */
		ctrl();
		ivshm_net_link_get(net, &l);
		if (l.up || now_ns() > t_end)
			break;
		usleep(1000);
	}
	start = now_ns();
	end = start + o.gap_ms * 1000000ull;
	while (now_ns() < end && !got_term) {
		if (tx) {
			if (rte_pktmbuf_alloc_bulk(mp, pkts, BURST) != 0)
				continue;
			for (i = 0; i < BURST; i++) {
				pkts[i]->data_len = (uint16_t)o.min;
				pkts[i]->pkt_len = o.min;
			}
			n = ivshm_net_tx_burst(net, pkts, BURST);
			frames += n;
			rte_pktmbuf_free_bulk(pkts, BURST);
		} else {
			n = ivshm_net_rx_burst(net, pkts, BURST);
			frames += n;
			if (n)
				rte_pktmbuf_free_bulk(pkts, n);
		}
	}
	printf("{\"event\": \"bench\", \"role\": \"%s\", \"size\": %u, "
		"\"frames\": %" PRIu64 ", \"mpps\": %.3f}\n", tx ? "tx" : "rx",
		o.min, frames, frames / ((now_ns() - start) / 1e3));
	print_stats("result", NULL);
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: ivshm_peer [EAL] -- traffic|hostile --socket S "
		"[options] (see the source)\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", 1, NULL, 's' }, { "mode", 1, NULL, 'M' },
		{ "count", 1, NULL, 'c' }, { "forever", 0, NULL, 'F' },
		{ "expect", 1, NULL, 'e' }, { "min", 1, NULL, 'a' },
		{ "max", 1, NULL, 'b' }, { "gap-every", 1, NULL, 'g' },
		{ "gap-ms", 1, NULL, 'G' }, { "tx-every-ms", 1, NULL, 'T' },
		{ "stall-after", 1, NULL, 'S' }, { "zc", 1, NULL, 'z' },
		{ "zc-min", 1, NULL, 'Z' }, { "hold", 1, NULL, 'H' },
		{ "free-thread", 0, NULL, 'f' }, { "timeout", 1, NULL, 't' },
		{ "cases", 1, NULL, 'C' }, { "drain", 0, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	struct ivshm_net_conf conf = { .socket_id = SOCKET_ID_ANY };
	const char *cmd;
	int ret, c;

	ret = rte_eal_init(argc, argv);
	if (ret < 0) {
		fprintf(stderr, "EAL init failed\n");
		return 2;
	}
	argc -= ret;
	argv += ret;
	if (argc < 2)
		usage();
	cmd = argv[1];
	argc--;
	argv++;
	o.min = 64;
	o.timeout = 30;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's': o.socket = optarg; break;
		case 'M': o.doorbell = strcmp(optarg, "doorbell") == 0; break;
		case 'c': o.count = strtoull(optarg, NULL, 0); break;
		case 'F': o.forever = true; break;
		case 'e': o.expect = strtoull(optarg, NULL, 0); break;
		case 'a': o.min = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'b': o.max = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'g': o.gap_every = strtoull(optarg, NULL, 0); break;
		case 'G': o.gap_ms = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'D': o.drain = true; break;
		case 'T': o.tx_every_ms = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'S': o.stall_after = strtoull(optarg, NULL, 0); break;
		case 'z': o.zc = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'Z': o.zc_min = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'H': o.hold = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'f': o.free_thread = true; break;
		case 't': o.timeout = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'C': o.cases = optarg; break;
		default: usage();
		}
	}
	if (o.socket == NULL || o.hold > RTE_DIM(held))
		usage();
	signal(SIGTERM, on_term);
	mp = rte_pktmbuf_pool_create("peer", 16383, 256, 0,
		RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (mp == NULL) {
		fprintf(stderr, "no mempool: %s\n", rte_strerror(rte_errno));
		return 2;
	}
	conf.zc_budget = o.zc;
	conf.zc_min_len = o.zc_min;
	ret = ivshm_net_open(o.socket, &conf, &net);
	if (ret != 0) {
		fprintf(stderr, "ivshm_net_open: %s\n", strerror(-ret));
		return 2;
	}
	my_id = (uint8_t)ivshm_dev_info(ivshm_net_dev(net))->id;
	if (o.max == 0 || o.max > ivshm_net_max_frame(net))
		o.max = ivshm_net_max_frame(net);
	if (o.min > o.max)
		o.min = o.max;
	ivshm_net_rx_setup(net, mp);
	ivshm_net_start(net);
	if (strcmp(cmd, "traffic") == 0)
		ret = traffic();
	else if (strcmp(cmd, "hostile") == 0)
		ret = hostile();
	else if (strcmp(cmd, "bench") == 0)
		ret = bench();
	else
		usage();
	ivshm_net_close(net);
	rte_mempool_free(mp);
	rte_eal_cleanup();
	return ret;
}
