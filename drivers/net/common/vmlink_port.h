/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 */

#ifndef VMLINK_PORT_H
#define VMLINK_PORT_H

/**
 * @file
 * What both vmlink PMDs do the same way to an ethdev port of theirs: its
 * first link and MAC address, and its removal when the vdev goes.
 *
 * Static inline: both PMDs are linked whole into the vmlink application.
 */

#include <stdbool.h>

#include <rte_ether.h>
#include <ethdev_driver.h>
#include <ethdev_vdev.h>
#include <bus_vdev_driver.h>

/**
 * A new port's MAC address (GIVEN if the devargs named one, else a random
 * locally administered unicast address, stored in *MAC, which the port
 * keeps) and its link: 10G full duplex, down until the peer is there.
 */
static inline void
vmlink_port_init_link(struct rte_eth_dev *dev, struct rte_ether_addr *mac,
	const struct rte_ether_addr *given)
{
	if (given != NULL)
		*mac = *given;
	else
		rte_eth_random_addr(mac->addr_bytes);
	dev->data->mac_addrs = mac;
	dev->data->dev_link.link_speed = RTE_ETH_SPEED_NUM_10G;
	dev->data->dev_link.link_duplex = RTE_ETH_LINK_FULL_DUPLEX;
	dev->data->dev_link.link_status = RTE_ETH_LINK_DOWN;
}

/** The vdev's remove: close its port (if it has one) and release it. */
static inline int
vmlink_vdev_remove(struct rte_vdev_device *vdev,
	int (*close)(struct rte_eth_dev *dev))
{
	struct rte_eth_dev *dev;

	dev = rte_eth_dev_allocated(rte_vdev_device_name(vdev));
	if (dev == NULL)
		return 0;
	close(dev);
	return rte_eth_dev_release_port(dev);
}

#endif
