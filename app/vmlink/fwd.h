/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * The forwarding stage: for a burst received on one port, the destination
 * port of every frame. Today it is a cross-connect (every frame goes to
 * the port's peer). The worker loop only sees per-frame destinations, so an
 * L2 learning switch can replace fwd_route() (learn each source MAC, look
 * up each destination, FWD_DROP or a flood list) without reshaping it.
 */

#ifndef VMLINK_FWD_H
#define VMLINK_FWD_H

#include <stdint.h>

#include <rte_mbuf.h>

#include "config.h"

#define FWD_DROP UINT16_MAX	/* no route: the worker frees and counts it */

struct fwd_table {
	uint16_t xconnect[CFG_MAX_PORTS];	/* peer index or FWD_DROP */
};

void fwd_init(struct fwd_table *t, const struct vmlink_cfg *cfg);

/* Bit mask of the ports that frames received on IN_PORT may go to. */
uint32_t fwd_reachable(const struct fwd_table *t, uint16_t in_port);

static inline void
fwd_route(const struct fwd_table *t, uint16_t in_port,
	struct rte_mbuf **pkts __rte_unused, uint16_t n, uint16_t *dst)
{
	uint16_t to = t->xconnect[in_port];
	uint16_t i;

	for (i = 0; i < n; i++)
		dst[i] = to;
}

#endif /* VMLINK_FWD_H */
