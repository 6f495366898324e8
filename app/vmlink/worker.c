/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * The pinned poll loop of a worker lcore: rx burst, forwarding decision,
 * per-destination staging, tx burst on the worker's own tx queues of each
 * port (the queue number the frames came in on, or spread by flow: see
 * lcores.c). What a tx burst refuses is freed and counted; nothing is
 * retried, so a stalled destination never blocks the other queues of the
 * lcore.
 */

#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "vmlink.h"

volatile bool vmlink_quit;

static void tx_send(const struct vmlink *vm, const uint16_t *port_ids,
	struct worker *w, uint16_t port, uint16_t txq, struct rte_mbuf **pkts,
	uint16_t n, uint64_t bytes, uint64_t ol_flags);

/* Frames asking PORT for offloads it cannot do: completed in software by
 * the forwarding stage (fwd_complete()), then sent. */
static void __rte_noinline
tx_send_completed(const struct vmlink *vm, const uint16_t *port_ids,
	struct worker *w, uint16_t port, uint16_t txq, struct rte_mbuf **pkts,
	uint16_t n)
{
	struct port_counters *c = &w->cnt[port];
	struct rte_mbuf *out[MAX_BURST];
	uint16_t done = 0;

	while (done < n) {
		struct fwd_ofl_count oc = {0};
		uint64_t bytes = 0;
		uint16_t nout, k;

		done += fwd_complete(&vm->fwd, &vm->ofl_pools, port, pkts + done,
			n - done, out, RTE_DIM(out), &nout, &oc);
		for (k = 0; k < nout; k++)
			bytes += out[k]->pkt_len;
		counter_add(&c->drop_offload, oc.dropped);
		counter_add(&c->sw_csum, oc.sw_csum);
		counter_add(&c->sw_gso_frames, oc.gso_frames);
		counter_add(&c->sw_gso_segments, oc.gso_segments);
		tx_send(vm, port_ids, w, port, txq, out, nout, bytes, 0);
	}
}

/* Send N frames of BYTES bytes to PORT on the worker's tx queue TXQ; free
 * and count what the tx burst refuses. OL_FLAGS: the frames' ol_flags ORed
 * (offloads PORT may have to be spared). */
static void
tx_send(const struct vmlink *vm, const uint16_t *port_ids, struct worker *w,
	uint16_t port, uint16_t txq, struct rte_mbuf **pkts, uint16_t n,
	uint64_t bytes, uint64_t ol_flags)
{
	struct port_counters *c = &w->cnt[port];
	uint64_t refused_bytes = 0;
	uint16_t sent, i;

	if (unlikely(fwd_needs_completion(&vm->fwd, port, ol_flags))) {
		tx_send_completed(vm, port_ids, w, port, txq, pkts, n);
		return;
	}
	/* Sent mbufs belong to the driver once tx_burst returns: the
	 * caller summed the bytes before; take back what it refused. */
	sent = rte_eth_tx_burst(port_ids[port], txq, pkts, n);
	for (i = sent; i < n; i++) {
		refused_bytes += pkts[i]->pkt_len;
		rte_pktmbuf_free(pkts[i]);
	}
	if (sent != 0) {
		counter_add(&c->tx_pkts, sent);
		counter_add(&c->tx_bytes, bytes - refused_bytes);
	}
	if (sent != n)
		counter_add(&c->drop_tx_full, n - sent);
}

/* The owned tx queues of PORT (below 32) that can deliver. */
static inline uint32_t
txqs_usable(const struct vmlink *vm, const struct worker_txqs *t,
	uint16_t port)
{
	return t->owned & __atomic_load_n(&vm->port[port].txq_up,
		__ATOMIC_RELAXED);
}

/* The tx queue of PORT for frames from rx queue R, or NO_TXQ: spread
 * them by flow (tx_spread). */
static inline uint16_t
txq_pick(const struct vmlink *vm, const struct worker *w, uint16_t port,
	const struct worker_rxq *r)
{
	const struct worker_txqs *t = &w->txqs[port];

	if (t->n == 1)
		return t->q[0];
	if (((t->same_from >> r->port) & 1) && r->queue < 32 &&
			((txqs_usable(vm, t, port) >> r->queue) & 1))
		return r->queue;
	return NO_TXQ;
}

/* Send N frames to PORT over the worker's tx queues that are up (all of
 * them when none is: the tx bursts then refuse, and count, what they
 * cannot take), each flow (fwd_flow_hash) on one queue, so that its order
 * is kept. */
static void __rte_noinline
tx_spread(const struct vmlink *vm, const uint16_t *port_ids, struct worker *w,
	uint16_t port, struct rte_mbuf **pkts, uint16_t n)
{
	const struct worker_txqs *t = &w->txqs[port];
	struct rte_mbuf *grp[MAX_BURST];
	uint16_t cand[CFG_MAX_QUEUES];
	uint8_t sel[MAX_BURST];
	uint32_t usable = txqs_usable(vm, t, port);
	uint16_t n_cand = 0, i, j, k;

	for (i = 0; i < t->n; i++)
		if (usable == 0 || t->q[i] >= 32 || ((usable >> t->q[i]) & 1))
			cand[n_cand++] = t->q[i];
	for (k = 0; k < n; k++)
		sel[k] = (uint8_t)(fwd_flow_hash(pkts[k]) % n_cand);
	for (j = 0; j < n_cand; j++) {
		uint64_t bytes = 0, ol_flags = 0;
		uint16_t g = 0;

		for (k = 0; k < n; k++) {
			if (sel[k] != j)
				continue;
			grp[g++] = pkts[k];
			bytes += pkts[k]->pkt_len;
			ol_flags |= pkts[k]->ol_flags;
		}
		if (g != 0)
			tx_send(vm, port_ids, w, port, cand[j], grp, g, bytes,
				ol_flags);
	}
}

/* Send N frames received on R to PORT: on one tx queue, or spread. */
static inline void
tx_out(const struct vmlink *vm, const uint16_t *port_ids, struct worker *w,
	const struct worker_rxq *r, uint16_t port, struct rte_mbuf **pkts,
	uint16_t n, uint64_t bytes, uint64_t ol_flags)
{
	uint16_t txq = txq_pick(vm, w, port, r);

	if (likely(txq != NO_TXQ))
		tx_send(vm, port_ids, w, port, txq, pkts, n, bytes, ol_flags);
	else
		tx_spread(vm, port_ids, w, port, pkts, n);
}

static void
tx_flush(const struct vmlink *vm, const uint16_t *port_ids, struct worker *w,
	const struct worker_rxq *r, uint16_t port)
{
	struct tx_buffer *b = &w->txbuf[port];
	uint64_t bytes = 0, ol_flags = 0;
	uint16_t i;

	for (i = 0; i < b->n; i++) {
		bytes += b->pkts[i]->pkt_len;
		ol_flags |= b->pkts[i]->ol_flags;
	}
	tx_out(vm, port_ids, w, r, port, b->pkts, b->n, bytes, ol_flags);
	b->n = 0;
}

/* Receive one burst from R, route it, stage it and flush it. Returns the
 * number of frames received. */
static uint16_t
poll_rxq(struct vmlink *vm, struct worker *w, const struct worker_rxq *r,
	const uint16_t *port_ids, uint16_t burst)
{
	struct port_counters *c = &w->cnt[r->port];
	struct rte_mbuf *pkts[MAX_BURST];
	uint16_t dst[MAX_BURST];
	uint32_t touched = 0;
	uint64_t bytes = 0, no_route = 0, ol_flags = 0;
	uint16_t n, k, to, mixed = 0;

	n = rte_eth_rx_burst(port_ids[r->port], r->queue, pkts, burst);
	if (n == 0)
		return 0;
	fwd_route(&vm->fwd, r->port, pkts, n, dst);
	to = dst[0];
	for (k = 0; k < n; k++) {
		bytes += pkts[k]->pkt_len;
		ol_flags |= pkts[k]->ol_flags;
		mixed |= dst[k] ^ to;
	}
	counter_add(&c->rx_pkts, n);
	counter_add(&c->rx_bytes, bytes);
	/* The whole burst to one port (a cross-connect, or a switch's
	 * common case): straight from the rx array, nothing staged. */
	if (likely(mixed == 0 && to != FWD_DROP && w->txq[to] != NO_TXQ)) {
		tx_out(vm, port_ids, w, r, to, pkts, n, bytes, ol_flags);
		return n;
	}
	for (k = 0; k < n; k++) {
		struct tx_buffer *b;

		if (unlikely(dst[k] == FWD_DROP || w->txq[dst[k]] == NO_TXQ)) {
			rte_pktmbuf_free(pkts[k]);
			/* a suspended destination's drop, said as such */
			if (dst[k] != FWD_DROP && ((w->suspended >> dst[k]) & 1))
				counter_add(&w->cnt[dst[k]].drop_suspended, 1);
			else
				no_route++;
			continue;
		}
		b = &w->txbuf[dst[k]];
		b->pkts[b->n++] = pkts[k];
		touched |= UINT32_C(1) << dst[k];
	}
	if (no_route != 0)
		counter_add(&c->drop_no_route, no_route);
	while (touched != 0) {
		uint16_t p = (uint16_t)__builtin_ctz(touched);

		touched &= touched - 1;
		tx_flush(vm, port_ids, w, r, p);
	}
	return n;
}

/* Empty rounds before an interrupt-mode worker arms its rx interrupts. */
#define IDLE_ROUNDS 1024
/* Longest sleep, so that a stop request is seen promptly. */
#define SLEEP_MS 100

/* Register the worker's rx queues with its own (per-thread) epoll set. */
static bool
intr_setup(const struct vmlink *vm, struct worker *w, const uint16_t *port_ids)
{
	unsigned int i;
	int ret;

	for (i = 0; i < w->n_rxq; i++) {
		ret = rte_eth_dev_rx_intr_ctl_q(port_ids[w->rxq[i].port],
			w->rxq[i].queue, RTE_EPOLL_PER_THREAD, RTE_INTR_EVENT_ADD,
			(void *)(uintptr_t)i);
		if (ret != 0) {
			printf("vmlink: lcore %u: rx interrupt of %s:%u unavailable "
				"(%s): busy-polling instead\n", w->lcore_id,
				vm->cfg->port[w->rxq[i].port].name, w->rxq[i].queue,
				rte_strerror(-ret));
			return false;
		}
	}
	return true;
}

static void
intr_arm(struct worker *w, const uint16_t *port_ids, bool on)
{
	unsigned int i;

	for (i = 0; i < w->n_rxq; i++) {
		if (on)
			rte_eth_dev_rx_intr_enable(port_ids[w->rxq[i].port],
				w->rxq[i].queue);
		else
			rte_eth_dev_rx_intr_disable(port_ids[w->rxq[i].port],
				w->rxq[i].queue);
	}
}

int
worker_main(void *arg)
{
	struct vmlink *vm = arg;
	unsigned int lcore = rte_lcore_id();
	const uint16_t burst = (uint16_t)vm->cfg->burst;
	uint16_t port_ids[CFG_MAX_PORTS];
	struct worker *w = NULL;
	unsigned int i, idle = 0;
	bool sleepy, armed = false;

	for (i = 0; i < vm->n_workers; i++)
		if (vm->worker[i]->lcore_id == lcore)
			w = vm->worker[i];
	if (w == NULL)
		return 0;
	for (i = 0; i < vm->n_ports; i++)
		port_ids[i] = vm->port[i].port_id;
	sleepy = w->sleep_when_idle && intr_setup(vm, w, port_ids);

	while (!__atomic_load_n(&vmlink_quit, __ATOMIC_RELAXED)) {
		struct rte_epoll_event ev[CFG_MAX_PORTS * CFG_MAX_QUEUES];
		unsigned int got = 0;
		int n;

		for (i = 0; i < w->n_rxq; i++)
			got += poll_rxq(vm, w, &w->rxq[i], port_ids, burst);
		/* Control requests (reset, admin state): between rounds */
		if (unlikely(__atomic_load_n(&w->ctl_seq, __ATOMIC_ACQUIRE) !=
				w->ctl_ack))
			control_apply(vm, w);
		if (got != 0 || !sleepy) {
			idle = 0;
			if (armed) {
				intr_arm(w, port_ids, false);
				armed = false;
			}
			continue;
		}
		if (++idle < IDLE_ROUNDS)
			continue;
		if (!armed) {
			/* A frame that arrived before arming raises no
			 * interrupt: poll one more round before sleeping. */
			intr_arm(w, port_ids, true);
			armed = true;
			continue;
		}
		n = rte_epoll_wait(RTE_EPOLL_PER_THREAD, ev, RTE_DIM(ev), SLEEP_MS);
		counter_add(&w->sleeps, 1);
		if (n > 0)
			counter_add(&w->wakeups, 1);
		intr_arm(w, port_ids, false);
		armed = false;
		idle = 0;
	}
	if (armed)
		intr_arm(w, port_ids, false);
	return 0;
}
