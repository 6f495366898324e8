/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * For transports only: the device structure and the operations a transport
 * provides. The socket transport (ivshm_sock.c) emulates the registers
 * over the server's eventfds and the state table; the PCI transport
 * (ivshm_pci.c) uses BAR0 MMIO, BAR2 memory and the fds a bus driver hands
 * it (emulating on 1af4:1110 what the v1 device lacks). Protocol code
 * (ivshm_net.c) never includes this header: it calls the functions of
 * ivshm.h.
 */

#ifndef IVSHM_TRANSPORT_H
#define IVSHM_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "ivshm.h"

struct ivshm_transport_ops {
	const char *name;
	uint32_t (*reg_read)(struct ivshm_dev *dev, uint32_t reg);
	void (*reg_write)(struct ivshm_dev *dev, uint32_t reg, uint32_t val);
	void (*set_oneshot)(struct ivshm_dev *dev, bool on);
	/* consume pending signals of own vector: 1 delivered, 0 not */
	int (*vector_ack)(struct ivshm_dev *dev, uint32_t vector);
	/* transport events (IVSHM_EV_*), never blocking */
	unsigned int (*process)(struct ivshm_dev *dev);
	bool (*peer_present)(const struct ivshm_dev *dev, uint32_t id);
	void (*close)(struct ivshm_dev *dev);
};

/*
 * The mapping of the region, reference-counted: zero-copy mbufs that point
 * into a peer's section keep it alive after the device is closed.
 */
struct ivshm_map {
	uint32_t refcnt;
	void *base;		/* region, reserved and mapped per section */
	size_t len;
	void *state_rw;		/* private writable view of the state table */
	size_t state_rw_len;
};

struct ivshm_map *ivshm_map_get(struct ivshm_map *map);
void ivshm_map_put(struct ivshm_map *map);

struct ivshm_dev {
	const struct ivshm_transport_ops *ops;
	struct ivshm_info info;
	struct ivshm_map *map;
	const volatile uint32_t *state_table;	/* read-only view */
	uint8_t *rw;				/* NULL if no R/W section */
	uint8_t *own;				/* own output section */
	const uint8_t *outs;			/* peer 0's output section */
	int *vec_fd;				/* own vector fds */
	int ctrl_fd;
	uint32_t *peer_gen;			/* max_peers entries */
	struct ivshm_dev_stats stats;
	void *priv;				/* transport's */
};

#endif /* IVSHM_TRANSPORT_H */
