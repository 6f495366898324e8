/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * DPDK's packet capture requests (dpdk-dumpcap, dpdk-pdump: secondary
 * processes) answered by vmlink instead of librte_pdump's own handler.
 *
 * Why: librte_pdump 22.11 answers a "disable" as soon as it has removed
 * its ethdev callbacks, while a worker may still be inside one, copying
 * into the client's ring and mempool. dpdk-dumpcap frees both the moment
 * the answer arrives; the worker then allocates from and frees into
 * memory rte_free has zeroed (seen: vmlink killed by SIGSEGV in
 * rte_pktmbuf_free_bulk under pdump_copy, the client's mbufs' pool NULL).
 * Here a disable is answered only once every worker has come round its
 * loop (control_wait_workers), so no worker still holds the client's
 * ring or mempool.
 *
 * The messages ("mp_pdump": struct pdump_request and pdump_response) and
 * the statistics memzone the clients read with rte_pdump_stats() are
 * librte_pdump 22.11's (the build accepts no other DPDK); rte_pdump_init
 * still reserves that memzone, and its message handler is replaced.
 */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_bpf.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_memory.h>
#include <rte_memzone.h>
#include <rte_pcapng.h>
#include <rte_pdump.h>
#include <rte_ring.h>
#include <rte_string_fns.h>

#include "vmlink.h"

#define PDUMP_MP "mp_pdump"
#define PDUMP_STATS_MZ "rte_pdump_stats"
#define PDUMP_CHUNK 64		/* frames copied per step of a burst */

/* librte_pdump 22.11's wire format */
enum { PDUMP_DISABLE = 1, PDUMP_ENABLE = 2 };
enum { PDUMP_V1 = 1, PDUMP_V2 = 2 };	/* V2: pcapng copies, filter, snaplen */

struct pdump_request {
	uint16_t ver;
	uint16_t op;
	uint32_t flags;
	char device[RTE_DEV_NAME_MAX_LEN];
	uint16_t queue;
	struct rte_ring *ring;
	struct rte_mempool *mp;
	const struct rte_bpf_prm *prm;
	uint32_t snaplen;
};

struct pdump_response {
	uint16_t ver;
	uint16_t res_op;
	int32_t err_value;
};

/* The statistics memzone, as rte_pdump_stats() reads it. */
struct pdump_stats_zone {
	struct rte_pdump_stats rx[RTE_MAX_ETHPORTS][RTE_MAX_QUEUES_PER_PORT];
	struct rte_pdump_stats tx[RTE_MAX_ETHPORTS][RTE_MAX_QUEUES_PER_PORT];
};

/* One captured (port, queue, direction): the client's ring and pool. */
struct pdump_queue {
	const struct rte_eth_rxtx_callback *cb;	/* NULL: not captured */
	struct rte_ring *ring;
	struct rte_mempool *mp;
	struct rte_bpf *filter;
	struct rte_pdump_stats *stats;
	uint32_t snaplen;
	uint16_t ver;
	uint16_t port_id;
	uint16_t queue;
	bool tx;
};

struct pdump_port {
	struct pdump_queue *q;	/* rx queues, then tx queues */
	uint16_t n_rx, n_tx;
};

static struct vmlink *pd_vm;
static struct pdump_port pd_port[CFG_MAX_PORTS];
static struct pdump_stats_zone *pd_stats;
static pthread_mutex_t pd_lock = PTHREAD_MUTEX_INITIALIZER;
static bool pd_serving;
/* Test hook: a worker stalls this long in each capture callback before
 * it copies into the client's pool, as one preempted there would
 * (tests/functional/test_capture.py). */
static unsigned int pd_stall_us;

/* ------------------------------------------------------------------------ */
/* Data path: inside a worker's rte_eth_rx_burst / rte_eth_tx_burst */

static void
pdump_copy_chunk(struct pdump_queue *pq, struct rte_mbuf **pkts, uint16_t n,
	uint64_t tsc)
{
	enum rte_pcapng_direction dir = pq->tx ? RTE_PCAPNG_DIRECTION_OUT :
		RTE_PCAPNG_DIRECTION_IN;
	struct rte_mbuf *copies[PDUMP_CHUNK];
	uint64_t match[PDUMP_CHUNK];
	uint16_t i, k = 0, queued;
	uint64_t filtered = 0, nombuf = 0;

	if (pq->filter != NULL)
		rte_bpf_exec_burst(pq->filter, (void **)pkts, match, n);
	for (i = 0; i < n; i++) {
		struct rte_mbuf *c;

		if (pq->filter != NULL && match[i] == 0) {
			filtered++;
			continue;
		}
		c = pq->ver == PDUMP_V2 ?
			rte_pcapng_copy(pq->port_id, pq->queue, pkts[i], pq->mp,
				pq->snaplen, tsc, dir) :
			rte_pktmbuf_copy(pkts[i], pq->mp, 0, pq->snaplen);
		if (c == NULL)
			nombuf++;
		else
			copies[k++] = c;
	}
	queued = (uint16_t)rte_ring_enqueue_burst(pq->ring, (void **)copies, k,
		NULL);
	if (queued < k)
		rte_pktmbuf_free_bulk(copies + queued, k - queued);
	counter_add(&pq->stats->accepted, k);
	counter_add(&pq->stats->filtered, filtered);
	counter_add(&pq->stats->nombuf, nombuf);
	counter_add(&pq->stats->ringfull, k - queued);
}

static void
pdump_copy(struct pdump_queue *pq, struct rte_mbuf **pkts, uint16_t n)
{
	uint64_t tsc = rte_get_tsc_cycles();
	uint16_t done;

	if (unlikely(pd_stall_us != 0) && n != 0)
		rte_delay_us_sleep(pd_stall_us);
	for (done = 0; done < n; done += PDUMP_CHUNK)
		pdump_copy_chunk(pq, pkts + done,
			(uint16_t)RTE_MIN(n - done, PDUMP_CHUNK), tsc);
}

static uint16_t
pdump_rx_cb(uint16_t port __rte_unused, uint16_t queue __rte_unused,
	struct rte_mbuf **pkts, uint16_t n, uint16_t max __rte_unused, void *arg)
{
	pdump_copy(arg, pkts, n);
	return n;
}

static uint16_t
pdump_tx_cb(uint16_t port __rte_unused, uint16_t queue __rte_unused,
	struct rte_mbuf **pkts, uint16_t n, void *arg)
{
	pdump_copy(arg, pkts, n);
	return n;
}

/* ------------------------------------------------------------------------ */
/* Requests (EAL's multi-process thread) */

/* A pointer a client sent must point into DPDK's shared memory. */
static bool
in_dpdk_memory(const void *p)
{
	return p != NULL && rte_mem_virt2memseg_list(p) != NULL;
}

static int
check_enable(const struct pdump_request *req)
{
	if (!in_dpdk_memory(req->ring) || !in_dpdk_memory(req->mp) ||
			(req->prm != NULL && !in_dpdk_memory(req->prm)))
		return -EINVAL;
	/* Several workers copy into them at once. */
	if (rte_ring_is_prod_single(req->ring) ||
			(req->mp->flags & RTE_MEMPOOL_F_SC_GET) != 0 ||
			(req->mp->flags & RTE_MEMPOOL_F_SP_PUT) != 0)
		return -EINVAL;
	if (req->prm != NULL &&
			req->prm->prog_arg.type != RTE_BPF_ARG_PTR_MBUF)
		return -EINVAL;
	return 0;
}

static int
pdump_enable_queue(struct pdump_queue *pq, const struct pdump_request *req,
	uint16_t port_id)
{
	if (pq->cb != NULL)
		return -EEXIST;
	pq->filter = NULL;
	if (req->prm != NULL) {
		pq->filter = rte_bpf_load(req->prm);
		if (pq->filter == NULL)
			return -rte_errno;
	}
	pq->ring = req->ring;
	pq->mp = req->mp;
	pq->ver = req->ver;
	pq->snaplen = req->snaplen != 0 ? req->snaplen : UINT32_MAX;
	pq->port_id = port_id;
	pq->stats = pq->tx ? &pd_stats->tx[port_id][pq->queue] :
		&pd_stats->rx[port_id][pq->queue];
	memset(pq->stats, 0, sizeof(*pq->stats));
	pq->cb = pq->tx ?
		rte_eth_add_tx_callback(port_id, pq->queue, pdump_tx_cb, pq) :
		rte_eth_add_first_rx_callback(port_id, pq->queue, pdump_rx_cb, pq);
	if (pq->cb == NULL) {
		if (pq->filter != NULL)
			rte_bpf_destroy(pq->filter);
		pq->filter = NULL;
		return -rte_errno;
	}
	return 0;
}

/* What a disable frees once no worker can be running it. */
struct pdump_leftovers {
	unsigned int n_cb, n_filter;
	const struct rte_eth_rxtx_callback *cb[CFG_MAX_QUEUES + CFG_MAX_LCORES];
	struct rte_bpf *filter[CFG_MAX_QUEUES + CFG_MAX_LCORES];
};

/* Remove the callback; LEFT gets what to free after the workers. */
static int
pdump_disable_queue(struct pdump_queue *pq, uint16_t port_id,
	struct pdump_leftovers *left)
{
	int ret;

	if (pq->cb == NULL)
		return -EINVAL;
	ret = pq->tx ? rte_eth_remove_tx_callback(port_id, pq->queue, pq->cb) :
		rte_eth_remove_rx_callback(port_id, pq->queue, pq->cb);
	if (ret != 0)
		return ret;
	/* ethdev unlinks the callback and leaves it to us to free */
	left->cb[left->n_cb++] = pq->cb;
	if (pq->filter != NULL)
		left->filter[left->n_filter++] = pq->filter;
	pq->cb = NULL;
	pq->filter = NULL;
	return 0;
}

/* Apply REQ to the queues it names; LEFT collects what a disable
 * leaves to free. */
static int
pdump_apply(const struct pdump_request *req, struct pdump_leftovers *left)
{
	char device[RTE_DEV_NAME_MAX_LEN];
	struct pdump_port *pp;
	uint16_t port_id;
	unsigned int i, p;
	int ret = 0;

	if (memchr(req->device, '\0', sizeof(req->device)) == NULL)
		return -EINVAL;
	rte_strscpy(device, req->device, sizeof(device));
	if ((req->ver != PDUMP_V1 && req->ver != PDUMP_V2) ||
			(req->op != PDUMP_ENABLE && req->op != PDUMP_DISABLE) ||
			(req->flags & RTE_PDUMP_FLAG_RXTX) == 0 ||
			(req->flags & ~RTE_PDUMP_FLAG_RXTX) != 0 ||
			rte_eth_dev_get_port_by_name(device, &port_id) != 0)
		return -EINVAL;
	for (p = 0; p < pd_vm->n_ports; p++)
		if (pd_vm->port[p].port_id == port_id)
			break;
	if (p == pd_vm->n_ports)
		return -ENODEV;		/* not one of vmlink's ports */
	pp = &pd_port[p];
	if (req->op == PDUMP_ENABLE && (ret = check_enable(req)) != 0)
		return ret;
	for (i = 0; i < (unsigned int)(pp->n_rx + pp->n_tx) && ret == 0; i++) {
		struct pdump_queue *pq = &pp->q[i];

		if (!(req->flags & (pq->tx ? RTE_PDUMP_FLAG_TX :
				RTE_PDUMP_FLAG_RX)) ||
				(req->queue != RTE_PDUMP_ALL_QUEUES &&
				req->queue != pq->queue))
			continue;
		ret = req->op == PDUMP_ENABLE ?
			pdump_enable_queue(pq, req, port_id) :
			pdump_disable_queue(pq, port_id, left);
	}
	return ret;
}

static void
pdump_free_leftovers(struct pdump_leftovers *left)
{
	unsigned int i;

	for (i = 0; i < left->n_cb; i++)
		rte_free((void *)(uintptr_t)left->cb[i]);
	for (i = 0; i < left->n_filter; i++)
		rte_bpf_destroy(left->filter[i]);
}

static int
pdump_handle(const struct rte_mp_msg *msg, const void *peer)
{
	static struct pdump_leftovers left;	/* one request at a time */
	const struct pdump_request *req = (const void *)msg->param;
	bool valid = msg->len_param == sizeof(*req);
	struct rte_mp_msg reply;
	struct pdump_response *resp = (struct pdump_response *)reply.param;

	memset(&reply, 0, sizeof(reply));
	memset(&left, 0, sizeof(left));
	resp->err_value = -EINVAL;
	if (valid) {
		resp->ver = req->ver;
		resp->res_op = req->op;
		pthread_mutex_lock(&pd_lock);
		resp->err_value = pd_serving ? pdump_apply(req, &left) : -ENODEV;
		pthread_mutex_unlock(&pd_lock);
	}
	/* The client of a disabled capture frees its ring and mempool when
	 * it gets the answer: answer once no worker can be copying into
	 * them. A worker that does not come round keeps what it may run. */
	if (valid && req->op == PDUMP_DISABLE) {
		if (control_wait_workers(pd_vm) == 0)
			pdump_free_leftovers(&left);
		else
			fprintf(stderr, "vmlink: a capture client left, and a "
				"worker did not come round within 2 s\n");
	}
	rte_strscpy(reply.name, PDUMP_MP, sizeof(reply.name));
	reply.len_param = sizeof(*resp);
	return rte_mp_reply(&reply, peer);
}

/* ------------------------------------------------------------------------ */

static int
pdump_alloc_queues(struct vmlink *vm)
{
	unsigned int p, i;

	for (p = 0; p < vm->n_ports; p++) {
		struct pdump_port *pp = &pd_port[p];

		pp->n_rx = (uint16_t)vm->port[p].cfg->rx_queues;
		pp->n_tx = vm->port[p].n_txq;
		pp->q = calloc(pp->n_rx + pp->n_tx + 1u, sizeof(*pp->q));
		if (pp->q == NULL)
			return -ENOMEM;
		for (i = 0; i < (unsigned int)(pp->n_rx + pp->n_tx); i++) {
			pp->q[i].tx = i >= pp->n_rx;
			pp->q[i].queue = (uint16_t)(pp->q[i].tx ? i - pp->n_rx : i);
		}
	}
	return 0;
}

int
pdump_init(struct vmlink *vm)
{
	const struct rte_memzone *mz;
	const char *stall = getenv("VMLINK_TEST_PDUMP_STALL_US");

	pd_vm = vm;
	pd_stall_us = stall != NULL ? (unsigned int)atoi(stall) : 0;
	/* No multi-process (in-memory): no client can attach. */
	if (rte_pdump_init() != 0)
		return rte_errno == ENOTSUP ? 0 : -1;
	mz = rte_memzone_lookup(PDUMP_STATS_MZ);
	if (mz == NULL || mz->len < sizeof(*pd_stats) ||
			pdump_alloc_queues(vm) != 0) {
		rte_pdump_uninit();
		return -1;
	}
	pd_stats = mz->addr;
	rte_mp_action_unregister(PDUMP_MP);
	if (rte_mp_action_register(PDUMP_MP, pdump_handle) != 0) {
		rte_pdump_uninit();
		return rte_errno == ENOTSUP ? 0 : -1;
	}
	pthread_mutex_lock(&pd_lock);
	pd_serving = true;
	pthread_mutex_unlock(&pd_lock);
	return 0;
}

/* After the workers stopped: remove what clients left installed. */
void
pdump_fini(void)
{
	unsigned int p, i;

	pthread_mutex_lock(&pd_lock);
	if (pd_serving)
		rte_pdump_uninit();	/* our handler off too: same name */
	pd_serving = false;
	for (p = 0; pd_vm != NULL && p < pd_vm->n_ports; p++) {
		struct pdump_port *pp = &pd_port[p];

		for (i = 0; pp->q != NULL && i < (unsigned int)(pp->n_rx + pp->n_tx);
				i++) {
			struct pdump_queue *pq = &pp->q[i];

			if (pq->cb == NULL)
				continue;
			if (pq->tx)
				rte_eth_remove_tx_callback(pq->port_id, pq->queue, pq->cb);
			else
				rte_eth_remove_rx_callback(pq->port_id, pq->queue, pq->cb);
			rte_free((void *)(uintptr_t)pq->cb);
			if (pq->filter != NULL)
				rte_bpf_destroy(pq->filter);
			pq->cb = NULL;
		}
		free(pp->q);
		pp->q = NULL;
	}
	pd_stats = NULL;
	pthread_mutex_unlock(&pd_lock);
}
