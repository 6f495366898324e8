/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * net_vmlink_ivshmem2 internals shared by its two front doors: the vdev
 * (an ivshmem2-server socket, ivshmem2_ethdev.c) and the PCI driver
 * (1af4:1110 / 110a:4106 inside a VM, ivshmem2_pci.c). Both end in the
 * same ethdev over an ivshmem-net link.
 */

#ifndef IVSHMEM2_ETHDEV_H
#define IVSHMEM2_ETHDEV_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_log.h>
#include <rte_spinlock.h>
#include <ethdev_driver.h>

#include "ivshm_net.h"
#include "vmlink_devargs.h"

extern int vi_logtype;
#define VI_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_ ## level, vi_logtype, "net_vmlink_ivshmem2: " fmt "\n", \
		##__VA_ARGS__)

struct rte_pci_device;

struct vi_private {
	struct ivshm_net *link;
	struct rte_eth_dev *eth;
	struct rte_ether_addr mac;
	char name[128];			/* server socket or PCI address */
	bool doorbell;			/* mode=doorbell: rx interrupts */
	bool alarm_armed;
	/* Serialises the link's control path: ethdev ops on the application's
	 * thread against the interrupt thread's callbacks. Never taken on the
	 * data path. */
	rte_spinlock_t ctrl_lock;
	unsigned int n_ctrl;
	struct rte_intr_handle *ctrl_intr[2];
	/* PCI: the device under the link, and its interrupts to undo */
	struct ivshm_dev *ivdev;
	struct rte_pci_device *pci;
	bool pci_irq_on;
};

/* Devargs of both forms; 'server' only for the vdev. */
struct vi_args {
	struct vmlink_devargs_ctx ctx;
	char server[108];
	bool has_server;
	bool doorbell;
	bool zero_copy;
	uint32_t inflight;
	uint32_t copy_threshold;
	bool has_mac;
	struct rte_ether_addr mac;
};

int vi_parse_args(const char *params, bool vdev, struct vi_args *a);
void vi_link_conf(const struct vi_args *a, uint16_t port_id,
		struct ivshm_net_conf *conf);
/* Link attached: finish the ethdev (ops, MAC, LSC, control path). */
int vi_ethdev_init(struct rte_eth_dev *dev, const struct vi_args *a);
/* Undo vi_ethdev_init and close the link (not the ivshm device). */
int vi_close(struct rte_eth_dev *dev);

/* PCI form: closes the device and its interrupts after the link. */
void vi_pci_release(struct vi_private *priv);

#endif /* IVSHMEM2_ETHDEV_H */
