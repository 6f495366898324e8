/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * The forwarding stage: for a burst received on one port, the destination
 * port of every frame. Today it is a cross-connect (every frame goes to
 * the port's peer). The worker loop only sees per-frame destinations, so an
 * L2 learning switch can replace fwd_route() (learn each source MAC, look
 * up each destination, FWD_DROP or a flood list) without reshaping it.
 *
 * Offloads: a frame may still ask for its checksums or its TCP
 * segmentation (mbuf TX flags: a guest's partial checksum or 64 KiB TSO
 * frame, passed on untouched). A destination that takes the offload gets
 * the frame as it is; for one that cannot (fwd_table.tx_ok), fwd_complete()
 * is the one place where vmlink does the work in software, just before the
 * frames go to that port.
 */

#ifndef VMLINK_FWD_H
#define VMLINK_FWD_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "config.h"

#define FWD_DROP UINT16_MAX	/* no route: the worker frees and counts it */

/* The mbuf flags of an offload still to do. */
#define FWD_OFL_FLAGS (RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_L4_MASK | \
	RTE_MBUF_F_TX_IP_CKSUM)

struct fwd_table {
	uint16_t xconnect[CFG_MAX_PORTS];	/* peer index or FWD_DROP */
	uint64_t tx_ok[CFG_MAX_PORTS];		/* FWD_OFL_FLAGS each port takes */
};

void fwd_init(struct fwd_table *t, const struct vmlink_cfg *cfg);

/* Record the tx offloads (RTE_ETH_TX_OFFLOAD_*) port P was configured with. */
void fwd_set_tx_offloads(struct fwd_table *t, uint16_t p, uint64_t offloads);

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

/* A hash of the frame's flow, the same for every frame of one flow: the
 * device's RSS hash when it gave one, otherwise the IPv4/IPv6 addresses
 * and the TCP/UDP ports (or the MAC addresses for other frames), read
 * only within the first segment. */
uint32_t fwd_flow_hash(const struct rte_mbuf *m);

/* Do frames whose ol_flags OR to @p flags need fwd_complete() to go to
 * port @p to? */
static inline bool
fwd_needs_completion(const struct fwd_table *t, uint16_t to, uint64_t flags)
{
	return (flags & FWD_OFL_FLAGS & ~t->tx_ok[to]) != 0;
}

/* Mbufs for software segmentation: headers are copied into the first,
 * payloads attached from the second. Shared by the workers. */
struct fwd_ofl_pools {
	struct rte_mempool *hdr;
	struct rte_mempool *ind;
};

/* What fwd_complete() did, for the destination port's counters. */
struct fwd_ofl_count {
	uint32_t sw_csum;	/* frames whose checksums were completed */
	uint32_t gso_frames;	/* TSO frames segmented */
	uint32_t gso_segments;	/* the frames they became */
	uint32_t dropped;	/* frames whose offload could not be completed */
};

/* Most segments one TSO frame may become (64 KiB at an MSS of 536). */
#define FWD_GSO_MAX_SEGS 128

/*
 * Complete, for port @p to, what the frames @p in[0..n) ask and it cannot
 * do: TSO frames become MSS-sized frames (rte_gso for IPv4, headers copied
 * and payload attached for IPv6), checksums are filled in. The results go
 * to @p out (at most @p cap; a frame that no longer fits is not taken).
 * Returns how many frames of @p in were taken; *nout frames are in out.
 * A frame whose offload cannot be completed (inconsistent metadata, no
 * mbufs) is freed and counted in @p c->dropped.
 */
uint16_t fwd_complete(const struct fwd_table *t, const struct fwd_ofl_pools *pools,
	uint16_t to, struct rte_mbuf **in, uint16_t n, struct rte_mbuf **out,
	uint16_t cap, uint16_t *nout, struct fwd_ofl_count *c);

#endif /* VMLINK_FWD_H */
