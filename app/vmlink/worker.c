/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * The pinned poll loop of a worker lcore: rx burst, forwarding decision,
 * per-destination staging, tx burst on the worker's own tx queue of each
 * port. What a tx burst refuses is freed and counted; nothing is retried,
 * so a stalled destination never blocks the other queues of the lcore.
 */

#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "vmlink.h"

volatile bool vmlink_quit;

static void
tx_flush(const uint16_t *port_ids, struct worker *w, uint16_t port)
{
	struct tx_buffer *b = &w->txbuf[port];
	struct port_counters *c = &w->cnt[port];
	uint64_t bytes = 0, refused_bytes = 0;
	uint16_t sent, i;

	/* Sent mbufs belong to the driver once tx_burst returns: sum the
	 * bytes first, then take back what it refused. */
	for (i = 0; i < b->n; i++)
		bytes += b->pkts[i]->pkt_len;
	sent = rte_eth_tx_burst(port_ids[port], w->txq[port], b->pkts, b->n);
	for (i = sent; i < b->n; i++) {
		refused_bytes += b->pkts[i]->pkt_len;
		rte_pktmbuf_free(b->pkts[i]);
	}
	if (sent != 0) {
		counter_add(&c->tx_pkts, sent);
		counter_add(&c->tx_bytes, bytes - refused_bytes);
	}
	if (sent != b->n)
		counter_add(&c->drop_tx_full, b->n - sent);
	b->n = 0;
}

int
worker_main(void *arg)
{
	struct vmlink *vm = arg;
	unsigned int lcore = rte_lcore_id();
	const uint16_t burst = (uint16_t)vm->cfg->burst;
	struct rte_mbuf *pkts[MAX_BURST];
	uint16_t dst[MAX_BURST];
	uint16_t port_ids[CFG_MAX_PORTS];
	struct worker *w = NULL;
	unsigned int i;

	for (i = 0; i < vm->n_workers; i++)
		if (vm->worker[i]->lcore_id == lcore)
			w = vm->worker[i];
	if (w == NULL)
		return 0;
	for (i = 0; i < vm->n_ports; i++)
		port_ids[i] = vm->port[i].port_id;

	while (!__atomic_load_n(&vmlink_quit, __ATOMIC_RELAXED)) {
		for (i = 0; i < w->n_rxq; i++) {
			const struct worker_rxq *r = &w->rxq[i];
			struct port_counters *c = &w->cnt[r->port];
			uint32_t touched = 0;
			uint64_t bytes = 0, no_route = 0;
			uint16_t n, k;

			n = rte_eth_rx_burst(port_ids[r->port], r->queue, pkts, burst);
			if (n == 0)
				continue;
			fwd_route(&vm->fwd, r->port, pkts, n, dst);
			for (k = 0; k < n; k++) {
				struct tx_buffer *b;

				bytes += pkts[k]->pkt_len;
				if (unlikely(dst[k] == FWD_DROP ||
						w->txq[dst[k]] == NO_TXQ)) {
					rte_pktmbuf_free(pkts[k]);
					no_route++;
					continue;
				}
				b = &w->txbuf[dst[k]];
				b->pkts[b->n++] = pkts[k];
				touched |= UINT32_C(1) << dst[k];
			}
			counter_add(&c->rx_pkts, n);
			counter_add(&c->rx_bytes, bytes);
			if (no_route != 0)
				counter_add(&c->drop_no_route, no_route);
			while (touched != 0) {
				uint16_t p = (uint16_t)__builtin_ctz(touched);

				touched &= touched - 1;
				tx_flush(port_ids, w, p);
			}
		}
	}
	return 0;
}
