/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 */

#ifndef VMLINK_SECONDARY_H
#define VMLINK_SECONDARY_H

/**
 * @file
 * The vmlink PMDs in a DPDK secondary process (dpdk-dumpcap, dpdk-pdump,
 * dpdk-proc-info attached to vmlink).
 *
 * A port's library state (guest memory mappings, the ivshmem region,
 * sockets) lives in the primary process only, so a secondary gets the
 * port and what ethdev keeps in shared memory (name, port id, queue
 * counts, link, MAC), and nothing that would touch that state: its bursts
 * move nothing. That is what the capture tools need: they find the port by
 * name and ask the primary, through the pdump framework, to copy the
 * frames its own rx/tx callbacks see.
 *
 * Static inline: both PMDs are linked whole into the vmlink application.
 */

#include <errno.h>

#include <rte_common.h>
#include <rte_log.h>
#include <ethdev_driver.h>
#include <ethdev_vdev.h>
#include <bus_vdev_driver.h>

/* Limits as the primary configured them (dev->data is shared). */
static int
vmlink_secondary_info(struct rte_eth_dev *dev, struct rte_eth_dev_info *info)
{
	info->max_mac_addrs = 1;
	info->max_rx_queues = RTE_MAX(dev->data->nb_rx_queues, 1);
	info->max_tx_queues = RTE_MAX(dev->data->nb_tx_queues, 1);
	info->max_rx_pktlen = RTE_ETHER_MAX_JUMBO_FRAME_LEN;
	info->min_mtu = RTE_ETHER_MIN_MTU;
	info->max_mtu = dev->data->mtu;
	return 0;
}

/* The link status in dev->data is the primary's, kept current there. */
static int
vmlink_secondary_link_update(struct rte_eth_dev *dev __rte_unused,
	int wait __rte_unused)
{
	return 0;
}

/* Nothing to program (the capture tools ask for promiscuous mode). */
static int
vmlink_secondary_noop(struct rte_eth_dev *dev __rte_unused)
{
	return 0;
}

static const struct eth_dev_ops vmlink_secondary_ops = {
	.dev_infos_get = vmlink_secondary_info,
	.link_update = vmlink_secondary_link_update,
	.promiscuous_enable = vmlink_secondary_noop,
	.promiscuous_disable = vmlink_secondary_noop,
	.allmulticast_enable = vmlink_secondary_noop,
	.allmulticast_disable = vmlink_secondary_noop,
};

/** Attach the primary's port of VDEV in a secondary process. */
static inline int
vmlink_secondary_probe(struct rte_vdev_device *vdev, int logtype,
	const char *driver)
{
	const char *name = rte_vdev_device_name(vdev);
	struct rte_eth_dev *dev;

	dev = rte_eth_dev_attach_secondary(name);
	if (dev == NULL) {
		rte_log(RTE_LOG_ERR, logtype, "%s: %s: no such port in the "
			"primary process\n", driver, name);
		return -ENODEV;
	}
	dev->dev_ops = &vmlink_secondary_ops;
	dev->rx_pkt_burst = rte_eth_pkt_burst_dummy;
	dev->tx_pkt_burst = rte_eth_pkt_burst_dummy;
	dev->device = &vdev->device;
	rte_eth_dev_probing_finish(dev);
	return 0;
}

#endif /* VMLINK_SECONDARY_H */
