/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * Port bring-up through ethdev only: probe the device named by the config,
 * size its mempool, configure one tx queue per sending worker, start it.
 */

#include <stdio.h>
#include <string.h>

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "vmlink.h"

#define POOL_CACHE 256

/* ethdev name of a device string: the part before the first ','. */
static void
device_name(const char *device, char *name, size_t len)
{
	size_t n = strcspn(device, ",");

	if (n >= len)
		n = len - 1;
	memcpy(name, device, n);
	name[n] = '\0';
}

/* True when the port is a device that may DMA (not a software vdev). */
static bool
port_is_hardware(const struct port_rt *pr)
{
	struct rte_eth_dev_info info;

	if (pr->cfg->type != PORT_TYPE_ETHDEV)
		return false;
	if (!pr->attached || rte_eth_dev_info_get(pr->port_id, &info) != 0 ||
			info.device == NULL)
		return true;	/* unknown: assume the worst */
	return strcmp(rte_bus_name(rte_dev_bus(info.device)), "vdev") != 0;
}

/* Zero-copy mbufs point into guest memory and have no IOVA: only software
 * ports may receive them. */
static bool
zero_copy_wanted(const struct vmlink *vm, unsigned int idx)
{
	const struct port_cfg *pc = vm->port[idx].cfg;
	uint32_t dests = fwd_reachable(&vm->fwd, (uint16_t)idx);
	unsigned int p;

	if (strcmp(pc->zero_copy, "auto") != 0)
		return strcmp(pc->zero_copy, "yes") == 0;
	for (p = 0; p < vm->n_ports; p++)
		if ((dests & (UINT32_C(1) << p)) && port_is_hardware(&vm->port[p]))
			return false;
	return true;
}

/* The devargs vmlink probes for a port. */
static int
port_devargs(const struct vmlink *vm, unsigned int idx, char *buf, size_t len)
{
	const struct port_cfg *pc = vm->port[idx].cfg;
	int n;

	switch (pc->type) {
	case PORT_TYPE_ETHDEV:
		n = snprintf(buf, len, "%s", pc->device);
		break;
	case PORT_TYPE_VHOST_USER:
		n = snprintf(buf, len, "net_vmlink_vhost_%s,path=%s,client=%d,"
			"queues=%u,zero-copy=%d,copy-threshold=%u,inflight=%u",
			pc->name, pc->path, pc->client, pc->rx_queues,
			zero_copy_wanted(vm, idx), pc->copy_threshold, pc->inflight);
		if (n > 0 && pc->mtu != 0 && (size_t)n < len)
			n += snprintf(buf + n, len - n, ",mtu=%u", pc->mtu);
		break;
	case PORT_TYPE_IVSHMEM2:
		if (pc->device[0] != '\0')	/* in a VM: probed at EAL init */
			return config_ivshmem2_pci_devargs(vm->cfg, pc, buf, len);
		/* rx interrupts are the doorbell mode of the link */
		n = snprintf(buf, len, "net_vmlink_ivshmem2_%s,server=%s,mode=%s,"
			"zero-copy=%d,copy-threshold=%u,inflight=%u", pc->name,
			pc->path, pc->rx_interrupt ? "doorbell" : "poll",
			zero_copy_wanted(vm, idx), pc->copy_threshold, pc->inflight);
		break;
	default:
		n = -1;
		break;
	}
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int
find_or_probe(const struct vmlink *vm, struct port_rt *pr)
{
	const struct port_cfg *pc = pr->cfg;
	char name[RTE_DEV_NAME_MAX_LEN];
	char pci_name[RTE_DEV_NAME_MAX_LEN + 8];
	char devargs[512];
	int ret;

	if (port_devargs(vm, (unsigned int)(pr - vm->port), devargs,
			sizeof(devargs)) < 0) {
		fprintf(stderr, "vmlink: [port %s] device arguments too long\n",
			pc->name);
		return -1;
	}
	device_name(devargs, name, sizeof(name));
	/* EAL names PCI devices with their domain. */
	snprintf(pci_name, sizeof(pci_name), "0000:%s", name);
	if (rte_eth_dev_get_port_by_name(name, &pr->port_id) == 0 ||
			rte_eth_dev_get_port_by_name(pci_name, &pr->port_id) == 0) {
		pr->attached = true;
		return 0;
	}
	ret = rte_dev_probe(devargs);
	if (ret < 0) {
		fprintf(stderr, "vmlink: %s:%u: [port %s] device '%s': probe "
			"failed: %s\n", vm->cfg->file, pc->line, pc->name,
			devargs, rte_strerror(-ret));
		return -1;
	}
	if (rte_eth_dev_get_port_by_name(name, &pr->port_id) != 0) {
		fprintf(stderr, "vmlink: %s:%u: [port %s] device '%s' probed, but "
			"no ethdev port is named '%s'\n", vm->cfg->file, pc->line,
			pc->name, devargs, name);
		return -1;
	}
	pr->attached = true;
	pr->probed_by_us = true;
	return 0;
}

/* Enough mbufs for the port's rx rings, for every tx ring they may sit in,
 * and for the bursts and per-lcore caches in flight. */
static unsigned int
pool_size(const struct vmlink *vm, const struct port_rt *pr)
{
	const struct port_cfg *pc = pr->cfg;
	unsigned int n, p, size = 1;

	if (pc->mbufs != 0)
		return pc->mbufs;
	n = pc->rx_queues * pc->rx_ring;
	for (p = 0; p < vm->n_ports; p++)
		n += vm->port[p].n_txq * vm->port[p].cfg->tx_ring;
	n += (vm->n_workers + 1) * (POOL_CACHE + 2 * MAX_BURST);
	while (size < n + 1)
		size <<= 1;
	return size - 1;	/* 2^k - 1 is the mempool's best size */
}

/* Offloads a frame may still ask for when vmlink hands it on: the ones a
 * guest may leave undone (partial checksums, TSO frames). */
#define OFL_RX (RTE_ETH_RX_OFFLOAD_TCP_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM | \
	RTE_ETH_RX_OFFLOAD_TCP_LRO)
#define OFL_TX (RTE_ETH_TX_OFFLOAD_TCP_TSO | RTE_ETH_TX_OFFLOAD_TCP_CKSUM | \
	RTE_ETH_TX_OFFLOAD_UDP_CKSUM | RTE_ETH_TX_OFFLOAD_IPV4_CKSUM)

/* Can frames received on some port with rx offloads reach port IDX? */
static bool
gets_offloaded_frames(const struct vmlink *vm, unsigned int idx)
{
	unsigned int p;

	for (p = 0; p < vm->n_ports; p++)
		if (vm->port[p].cfg->type == PORT_TYPE_VHOST_USER &&
				(fwd_reachable(&vm->fwd, (uint16_t)p) &
					(UINT32_C(1) << idx)))
			return true;
	return false;
}

/*
 * A vhost-user port takes the offloads its guests ask for (their partial
 * checksums and TSO frames come in as they are; see docs/vhost-user.md);
 * a port such frames can reach does what it can of them, and the
 * forwarding stage completes the rest in software (fwd.c). Tx offloads
 * are enabled only there: some PMDs leave their fastest tx path when any
 * is.
 */
static void
port_offloads(const struct vmlink *vm, unsigned int idx,
	const struct rte_eth_dev_info *info, struct rte_eth_conf *conf)
{
	if (vm->port[idx].cfg->type == PORT_TYPE_VHOST_USER)
		conf->rxmode.offloads |= info->rx_offload_capa & OFL_RX;
	if (gets_offloaded_frames(vm, idx))
		conf->txmode.offloads |= info->tx_offload_capa & OFL_TX;
}

/* Mbufs for the software segmentation of TSO frames (fwd.c): headers,
 * and payloads attached from the frame. Only when some port needs it. */
#define OFL_HDR_MBUFS 4095
#define OFL_IND_MBUFS 8191
#define OFL_HDR_ROOM (RTE_PKTMBUF_HEADROOM + 256)

static int
offload_pools(struct vmlink *vm)
{
	unsigned int p;
	bool need = false;

	for (p = 0; p < vm->n_ports; p++)
		if (gets_offloaded_frames(vm, p) &&
				!(vm->fwd.tx_ok[p] & RTE_MBUF_F_TX_TCP_SEG))
			need = true;
	if (!need)
		return 0;
	vm->ofl_pools.hdr = rte_pktmbuf_pool_create("vmlink_gso_hdr",
		OFL_HDR_MBUFS, 64, 0, OFL_HDR_ROOM, (int)rte_socket_id());
	vm->ofl_pools.ind = rte_pktmbuf_pool_create("vmlink_gso_ind",
		OFL_IND_MBUFS, 64, 0, 0, (int)rte_socket_id());
	if (vm->ofl_pools.hdr == NULL || vm->ofl_pools.ind == NULL) {
		fprintf(stderr, "vmlink: cannot create the mbuf pools for software "
			"segmentation: %s (reserve more hugepage memory)\n",
			rte_strerror(rte_errno));
		return -1;
	}
	return 0;
}

static int
port_start(struct vmlink *vm, struct port_rt *pr, unsigned int idx)
{
	const struct port_cfg *pc = pr->cfg;
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	struct rte_eth_txconf txconf;
	struct rte_eth_rxconf rxconf;
	uint16_t nb_rxd = (uint16_t)pc->rx_ring, nb_txd = (uint16_t)pc->tx_ring;
	char pool_name[RTE_MEMPOOL_NAMESIZE];
	int socket, ret;
	uint16_t q;

	ret = rte_eth_dev_info_get(pr->port_id, &info);
	if (ret != 0) {
		fprintf(stderr, "vmlink: [port %s] cannot get device info: %s\n",
			pc->name, rte_strerror(-ret));
		return -1;
	}
	if (pc->rx_queues > info.max_rx_queues) {
		fprintf(stderr, "vmlink: [port %s] rx-queues = %u, but %s has at "
			"most %u rx queues\n", pc->name, pc->rx_queues,
			info.driver_name, info.max_rx_queues);
		return -1;
	}
	if (pr->n_txq > info.max_tx_queues) {
		fprintf(stderr, "vmlink: [port %s] needs %u tx queues (each worker "
			"lcore that sends to it owns at least one), but %s has at "
			"most %u: poll the ports that send to it from fewer lcores\n",
			pc->name, pr->n_txq, info.driver_name, info.max_tx_queues);
		return -1;
	}

	memset(&conf, 0, sizeof(conf));
	if (pc->mtu != 0)
		conf.rxmode.mtu = pc->mtu;
	if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS)
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
	if ((info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER) &&
			pc->mtu + RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN >
			pc->mbuf_size - RTE_PKTMBUF_HEADROOM)
		conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;
	port_offloads(vm, idx, &info, &conf);
	if (info.dev_flags != NULL && (*info.dev_flags & RTE_ETH_DEV_INTR_LSC))
		conf.intr_conf.lsc = 1;
	if (pc->rx_interrupt && pc->rx_queues > 0)
		conf.intr_conf.rxq = 1;

	ret = rte_eth_dev_configure(pr->port_id, (uint16_t)pc->rx_queues,
		pr->n_txq, &conf);
	if (ret != 0) {
		fprintf(stderr, "vmlink: [port %s] configure (%u rx, %u tx queues%s) "
			"failed: %s\n", pc->name, pc->rx_queues, pr->n_txq,
			pc->rx_interrupt ? ", rx interrupts" : "", rte_strerror(-ret));
		return -1;
	}
	fwd_set_tx_offloads(&vm->fwd, (uint16_t)idx, conf.txmode.offloads);
	ret = rte_eth_dev_adjust_nb_rx_tx_desc(pr->port_id, &nb_rxd, &nb_txd);
	if (ret != 0) {
		fprintf(stderr, "vmlink: [port %s] ring sizes rejected: %s\n",
			pc->name, rte_strerror(-ret));
		return -1;
	}

	socket = rte_eth_dev_socket_id(pr->port_id);
	if (socket < 0)
		socket = (int)rte_socket_id();
	snprintf(pool_name, sizeof(pool_name), "vmlink_%u", idx);
	/* Only received frames come from a port's pool. */
	if (pc->rx_queues > 0)
		pr->pool = rte_pktmbuf_pool_create(pool_name, pool_size(vm, pr),
			POOL_CACHE, 0, (uint16_t)pc->mbuf_size, socket);
	if (pc->rx_queues > 0 && pr->pool == NULL) {
		fprintf(stderr, "vmlink: [port %s] cannot create a pool of %u "
			"mbufs of %u bytes: %s (reserve more hugepage memory, or "
			"lower mbufs)\n", pc->name, pool_size(vm, pr), pc->mbuf_size,
			rte_strerror(rte_errno));
		return -1;
	}

	rxconf = info.default_rxconf;
	rxconf.offloads = conf.rxmode.offloads;
	for (q = 0; q < pc->rx_queues; q++) {
		ret = rte_eth_rx_queue_setup(pr->port_id, q, nb_rxd, socket,
			&rxconf, pr->pool);
		if (ret != 0) {
			fprintf(stderr, "vmlink: [port %s] rx queue %u setup failed: %s\n",
				pc->name, q, rte_strerror(-ret));
			return -1;
		}
	}
	txconf = info.default_txconf;
	txconf.offloads = conf.txmode.offloads;
	for (q = 0; q < pr->n_txq; q++) {
		ret = rte_eth_tx_queue_setup(pr->port_id, q, nb_txd, socket, &txconf);
		if (ret != 0) {
			fprintf(stderr, "vmlink: [port %s] tx queue %u setup failed: %s\n",
				pc->name, q, rte_strerror(-ret));
			return -1;
		}
	}
	if (pc->has_mac) {
		struct rte_ether_addr mac;

		memcpy(mac.addr_bytes, pc->mac, sizeof(mac.addr_bytes));
		ret = rte_eth_dev_default_mac_addr_set(pr->port_id, &mac);
		if (ret != 0) {
			fprintf(stderr, "vmlink: [port %s] cannot set its MAC: %s\n",
				pc->name, rte_strerror(-ret));
			return -1;
		}
	}
	ret = rte_eth_dev_start(pr->port_id);
	if (ret != 0) {
		fprintf(stderr, "vmlink: [port %s] start failed: %s\n", pc->name,
			rte_strerror(-ret));
		return -1;
	}
	pr->started = true;
	if (pc->promiscuous) {
		ret = rte_eth_promiscuous_enable(pr->port_id);
		/* Devices without filtering (vdevs) may not implement it. */
		if (ret != 0 && ret != -ENOTSUP)
			fprintf(stderr, "vmlink: [port %s] promiscuous mode: %s\n",
				pc->name, rte_strerror(-ret));
	}
	return 0;
}

int
ports_probe(struct vmlink *vm)
{
	unsigned int i;

	/* Devices by devargs first: whether vhost-user ports may use
	 * zero-copy depends on what their destinations are. */
	for (i = 0; i < vm->n_ports; i++)
		if (vm->port[i].cfg->type == PORT_TYPE_ETHDEV &&
				find_or_probe(vm, &vm->port[i]) < 0)
			return -1;
	for (i = 0; i < vm->n_ports; i++)
		if (vm->port[i].cfg->type != PORT_TYPE_ETHDEV &&
				find_or_probe(vm, &vm->port[i]) < 0)
			return -1;
	for (i = 0; i < vm->n_ports; i++) {
		unsigned int j;

		for (j = 0; j < i; j++) {
			if (vm->port[j].port_id == vm->port[i].port_id) {
				fprintf(stderr, "vmlink: [port %s] and [port %s] name the "
					"same device\n", vm->port[j].cfg->name,
					vm->port[i].cfg->name);
				return -1;
			}
		}
	}
	return 0;
}

void
ports_txq_state(struct vmlink *vm, unsigned int p)
{
	struct port_rt *pr = &vm->port[p];
	uint32_t up = 0;
	uint16_t q;

	for (q = 0; q < RTE_MIN(pr->n_txq, 32); q++) {
		struct rte_eth_txq_info qi;

		/* a driver that does not say has every queue up; one
		 * without descriptors behind a queue (a vhost-user guest
		 * without that rx ring) cannot deliver */
		if (rte_eth_tx_queue_info_get(pr->port_id, q, &qi) != 0 ||
				qi.nb_desc != 0)
			up |= UINT32_C(1) << q;
	}
	__atomic_store_n(&pr->txq_up, up, __ATOMIC_RELAXED);
}

int
ports_setup(struct vmlink *vm)
{
	unsigned int i;

	for (i = 0; i < vm->n_ports; i++) {
		if (port_start(vm, &vm->port[i], i) < 0)
			return -1;
		ports_txq_state(vm, i);
	}
	return offload_pools(vm);
}

void
ports_close(struct vmlink *vm)
{
	unsigned int i;

	for (i = 0; i < vm->n_ports; i++) {
		struct port_rt *pr = &vm->port[i];
		struct rte_eth_dev_info info;
		struct rte_device *dev = NULL;

		if (!pr->attached || !rte_eth_dev_is_valid_port(pr->port_id))
			continue;
		if (pr->started)
			rte_eth_dev_stop(pr->port_id);
		pr->started = false;
		if (rte_eth_dev_info_get(pr->port_id, &info) == 0)
			dev = info.device;
		/* Closing flushes what drivers buffer (net_pcap's dump file). */
		rte_eth_dev_close(pr->port_id);
		if (pr->probed_by_us && dev != NULL)
			rte_dev_remove(dev);
		pr->attached = false;
	}
	for (i = 0; i < vm->n_ports; i++) {
		rte_mempool_free(vm->port[i].pool);
		vm->port[i].pool = NULL;
	}
	rte_mempool_free(vm->ofl_pools.hdr);
	rte_mempool_free(vm->ofl_pools.ind);
	vm->ofl_pools.hdr = NULL;
	vm->ofl_pools.ind = NULL;
}
