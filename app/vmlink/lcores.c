/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * Which worker lcore polls which rx queue, and which tx queues of each
 * port every worker owns. Each tx queue has one owner, and each (worker,
 * port) pair that can carry frames owns at least one, so the data path
 * takes no lock.
 *
 * A port gets as many tx queues as it has queues (rx-queues; for a
 * vhost-user port, the queue pairs: every rx ring of the guest can carry
 * frames), as far as its device allows, plus one for each sending worker
 * still without one. Queue i of a destination goes first to the worker
 * that polls queue i of a source with as many queues (frames keep their
 * queue from guest to guest), the rest round-robin to the workers that
 * send to it.
 */

#include <stdio.h>

#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "vmlink.h"

static struct worker *
worker_new(struct vmlink *vm, unsigned int lcore_id)
{
	struct worker *w;
	unsigned int i;

	w = rte_zmalloc_socket("vmlink_worker", sizeof(*w), RTE_CACHE_LINE_SIZE,
		(int)rte_lcore_to_socket_id(lcore_id));
	if (w == NULL) {
		fprintf(stderr, "vmlink: out of memory for lcore %u\n", lcore_id);
		return NULL;
	}
	w->lcore_id = lcore_id;
	for (i = 0; i < CFG_MAX_PORTS; i++)
		w->txq[i] = NO_TXQ;
	vm->worker[vm->n_workers++] = w;
	return w;
}

static int
plan_explicit(struct vmlink *vm)
{
	const struct vmlink_cfg *cfg = vm->cfg;
	unsigned int i;

	for (i = 0; i < cfg->n_lcores; i++) {
		const struct lcore_cfg *lc = &cfg->lcore[i];
		struct worker *w;

		if (lc->lcore_id >= RTE_MAX_LCORE || !rte_lcore_is_enabled(lc->lcore_id)) {
			fprintf(stderr, "vmlink: %s:%u: [lcore %u] lcore %u is not "
				"an EAL lcore (see [eal] lcores or -l)\n",
				cfg->file, lc->line, lc->lcore_id, lc->lcore_id);
			return -1;
		}
		if (lc->lcore_id == rte_get_main_lcore()) {
			fprintf(stderr, "vmlink: %s:%u: [lcore %u] lcore %u is the "
				"main lcore, which does stats and control only\n",
				cfg->file, lc->line, lc->lcore_id, lc->lcore_id);
			return -1;
		}
		w = worker_new(vm, lc->lcore_id);
		if (w == NULL)
			return -1;
		for (w->n_rxq = 0; w->n_rxq < lc->n_rxq; w->n_rxq++) {
			w->rxq[w->n_rxq].port = lc->rxq[w->n_rxq].port;
			w->rxq[w->n_rxq].queue = lc->rxq[w->n_rxq].queue;
		}
	}
	return 0;
}

/* Deal all rx queues, in file order, round-robin to the worker lcores. */
static int
plan_auto(struct vmlink *vm)
{
	const struct vmlink_cfg *cfg = vm->cfg;
	unsigned int lcores[RTE_MAX_LCORE];
	unsigned int n_lcores = 0, next = 0, p, q, id;
	struct worker *by_lcore[RTE_MAX_LCORE] = {NULL};

	RTE_LCORE_FOREACH_WORKER(id)
		lcores[n_lcores++] = id;
	if (n_lcores == 0) {
		fprintf(stderr, "vmlink: no worker lcore: give EAL at least two "
			"lcores ([eal] lcores = 0-1 or -l 0-1); the main lcore "
			"only does stats and control\n");
		return -1;
	}
	for (p = 0; p < cfg->n_ports; p++) {
		for (q = 0; q < cfg->port[p].rx_queues; q++) {
			unsigned int lcore = lcores[next++ % n_lcores];
			struct worker *w = by_lcore[lcore];

			if (w == NULL) {
				w = worker_new(vm, lcore);
				if (w == NULL)
					return -1;
				by_lcore[lcore] = w;
			}
			w->rxq[w->n_rxq].port = (uint16_t)p;
			w->rxq[w->n_rxq].queue = (uint16_t)q;
			w->n_rxq++;
		}
	}
	return 0;
}

/* The tx queues port P is given before extra ones for workers: its
 * queues, as many as the device takes (at least one). */
static uint16_t
port_queues(const struct vmlink *vm, unsigned int p)
{
	struct rte_eth_dev_info info;
	unsigned int n = RTE_MAX(vm->cfg->port[p].rx_queues, 1u);

	if (rte_eth_dev_info_get(vm->port[p].port_id, &info) == 0 &&
			info.max_tx_queues >= 1 && info.max_tx_queues < n)
		n = info.max_tx_queues;
	return (uint16_t)RTE_MIN(n, (unsigned int)CFG_MAX_QUEUES);
}

static void
txq_give(struct worker *w, unsigned int p, uint16_t q)
{
	struct worker_txqs *t = &w->txqs[p];

	if (t->n == RTE_DIM(t->q))
		return;
	t->q[t->n++] = q;
	if (q < 32)
		t->owned |= UINT32_C(1) << q;
	if (w->txq[p] == NO_TXQ)
		w->txq[p] = q;
}

/* Tx queues of port P for the workers whose rx queues reach it (bit i
 * of SENDERS: vm->worker[i]); DESTS[i]: ports worker i sends to. */
static void
plan_port_txqs(struct vmlink *vm, unsigned int p, const uint32_t *dests)
{
	struct worker *owner[CFG_MAX_QUEUES] = {NULL};
	uint16_t nq = port_queues(vm, p), q;
	unsigned int i, r, n_senders = 0, next = 0;
	struct worker *senders[CFG_MAX_LCORES];

	for (i = 0; i < vm->n_workers; i++)
		if (dests[i] & (UINT32_C(1) << p))
			senders[n_senders++] = vm->worker[i];
	if (n_senders == 0) {
		vm->port[p].n_txq = 1;	/* a port still needs one to start */
		return;
	}
	/* queue i of a source with as many queues -> queue i */
	for (i = 0; i < n_senders; i++) {
		struct worker *w = senders[i];

		for (r = 0; r < w->n_rxq; r++) {
			const struct worker_rxq *rq = &w->rxq[r];

			if (!(fwd_reachable(&vm->fwd, rq->port) & (UINT32_C(1) << p)) ||
					RTE_MAX(vm->cfg->port[rq->port].rx_queues, 1u) != nq)
				continue;
			w->txqs[p].same_from |= UINT32_C(1) << rq->port;
			if (owner[rq->queue] == NULL)
				owner[rq->queue] = w;
		}
	}
	for (q = 0; q < nq; q++) {
		if (owner[q] == NULL)
			owner[q] = senders[next++ % n_senders];
		txq_give(owner[q], p, q);
	}
	vm->port[p].n_txq = nq;
	for (i = 0; i < n_senders; i++)
		if (senders[i]->txqs[p].n == 0)
			txq_give(senders[i], p, vm->port[p].n_txq++);
}

int
lcores_plan(struct vmlink *vm)
{
	uint32_t dests[CFG_MAX_LCORES] = {0};
	unsigned int i, r, p;
	int ret;

	ret = vm->cfg->n_lcores > 0 ? plan_explicit(vm) : plan_auto(vm);
	if (ret < 0)
		return ret;

	for (i = 0; i < vm->n_workers; i++) {
		struct worker *w = vm->worker[i];
		unsigned int n_intr = 0;

		for (r = 0; r < w->n_rxq; r++) {
			dests[i] |= fwd_reachable(&vm->fwd, w->rxq[r].port);
			if (vm->cfg->port[w->rxq[r].port].rx_interrupt)
				n_intr++;
		}
		w->sleep_when_idle = n_intr > 0 && n_intr == w->n_rxq;
		if (n_intr > 0 && n_intr < w->n_rxq)
			printf("vmlink: lcore %u polls rx-mode = interrupt and "
				"poll queues: it will busy-poll, never sleep\n",
				w->lcore_id);
	}
	for (p = 0; p < vm->n_ports; p++)
		plan_port_txqs(vm, p, dests);
	return 0;
}

void
lcores_free(struct vmlink *vm)
{
	unsigned int i;

	for (i = 0; i < vm->n_workers; i++)
		rte_free(vm->worker[i]);
	vm->n_workers = 0;
}
