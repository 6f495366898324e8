/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * ivshmem-net (protocol 0001h): Ethernet frames between the two peers of
 * an ivshmem v2 device, byte-compatible with the Linux/Jailhouse and
 * Zephyr ivshmem-net drivers (layout in ivshm_net_layout.h, state machine
 * RESET -> INIT -> READY -> RUN, vector 0 = state, 1 = TX/RX).
 *
 * One link = one rx queue + one tx queue. Built for a thin ethdev adapter:
 *
 *   control path (one thread at a time: probe/configure/start/stop/close,
 *   the link-state alarm or interrupt callback, stats):
 *     ivshm_net_open / ivshm_net_create, ivshm_net_rx_setup,
 *     ivshm_net_start, ivshm_net_stop, ivshm_net_ctrl_poll,
 *     ivshm_net_link_get, ivshm_net_stats_get/reset, ivshm_net_xstats_*,
 *     ivshm_net_close
 *   rx data path (one lcore at a time):
 *     ivshm_net_rx_burst, ivshm_net_rx_intr_enable/disable,
 *     ivshm_net_rx_wait
 *   tx data path (one lcore at a time, may differ from the rx one):
 *     ivshm_net_tx_burst, ivshm_net_tx_inflight
 *   zero-copy mbufs: freed on any lcore, no lock taken.
 *
 * The data path makes no syscall except the doorbells the peer asked for
 * (event index) and, in rx_intr_enable, a self-wake when frames arrived
 * while arming; it never blocks and takes no lock. Control-path changes
 * (link reset, re-initialisation) wait for a burst in progress to end.
 *
 * Nothing read from the peer's section is trusted: indices, descriptor
 * ids, offsets, lengths, flags and completions are checked before use,
 * each violation is counted by reason and resets the link (the peer must
 * renegotiate from RESET).
 */

#ifndef IVSHM_NET_H
#define IVSHM_NET_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "ivshm.h"
#include "ivshm_net_layout.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Own state values (State register / state table). */
#define IVSHM_NET_STATE_RESET	0
#define IVSHM_NET_STATE_INIT	1
#define IVSHM_NET_STATE_READY	2
#define IVSHM_NET_STATE_RUN	3

#define IVSHM_NET_VEC_STATE	0
#define IVSHM_NET_VEC_TXRX	1	/* 0 when the device has one vector */

/* Largest frame either way: 65535-byte MTU + Ethernet and VLAN headers;
 * less when the data area is smaller (ivshm_net_max_frame). */
#define IVSHM_NET_MAX_FRAME	65553
/* Shorter frames are dropped and counted (rx_runts). */
#define IVSHM_NET_MIN_FRAME	14
/* A TX buffer takes ALIGN64(18 + len) bytes of the sender's data area. */
#define IVSHM_NET_FRAME_SLOT(len) (((uint64_t)(len) + 18 + 63) & ~63ull)

struct ivshm_net;

struct ivshm_net_conf {
	/* Zero-copy rx: at most this many frames handed out as mbufs that
	 * point into the peer's (read-only) section; 0 = always copy. Such
	 * mbufs must not be written to; their buffers go back to the peer,
	 * in order, once freed (and the next rx burst runs): an mbuf held
	 * for long stalls the peer's TX once its ring or data area fills.
	 * Their IOVA is the VA in IOVA-as-VA mode, else RTE_BAD_IOVA. */
	uint32_t zc_budget;
	/* With zero-copy, frames shorter than this are still copied. */
	uint32_t zc_min_len;
	uint16_t port_id;	/* stored in every rx mbuf's port field */
	int socket_id;		/* NUMA node for allocations (SOCKET_ID_ANY) */
};

/* Why the link was reset: peer section content that failed a check. */
enum ivshm_net_violation {
	IVSHM_NET_V_AVAIL_IDX,	/* avail idx more than N ahead of used, or back */
	IVSHM_NET_V_DESC_ID,	/* avail ring entry >= N */
	IVSHM_NET_V_DESC_FLAGS,	/* descriptor flags != 0 */
	IVSHM_NET_V_DESC_ADDR,	/* offset outside [data start, section end) */
	IVSHM_NET_V_DESC_LEN,	/* length runs past the section end */
	IVSHM_NET_V_USED_IDX,	/* more completions than frames in flight */
	IVSHM_NET_V_USED_ID,	/* completion out of order (wrong id) */
	IVSHM_NET_V_USED_LEN,	/* completion len != 1 */
	IVSHM_NET_V_PEER_STATE,	/* peer state not in 0..3 */
	IVSHM_NET_V_MAX
};

struct ivshm_net_stats {
	uint64_t rx_frames;
	uint64_t rx_bytes;
	uint64_t rx_nombuf;		/* frames left in the ring: no mbuf */
	uint64_t rx_runts;		/* dropped: < 14 bytes */
	uint64_t rx_oversize;		/* dropped: > IVSHM_NET_MAX_FRAME */
	uint64_t rx_zc_frames;		/* delivered zero-copy */
	uint64_t rx_zc_budget_copies;	/* copied: zero-copy budget used up */
	uint64_t rx_kicks;		/* completion doorbells sent to the peer */
	uint64_t rx_kicks_suppressed;	/* completions the peer did not ask for */
	uint64_t rx_intr_arms;		/* rx_intr_enable with the link running */
	uint64_t rx_intr_rechecks;	/* frames found while arming: self-wake */
	uint64_t rx_wakeups;		/* rx_intr_disable after an arm */
	uint64_t tx_frames;
	uint64_t tx_bytes;
	uint64_t tx_oversize;		/* dropped: longer than max frame / 0 */
	uint64_t tx_full;		/* bursts cut short: ring or data full */
	uint64_t tx_link_down;		/* bursts refused: link down */
	uint64_t tx_kicks;		/* doorbells after publishing frames */
	uint64_t tx_kicks_suppressed;	/* batches the peer did not ask for */
	uint64_t tx_dropped_peer_gone;	/* in flight when the link reset */
	uint64_t link_up;		/* link-up transitions */
	uint64_t link_down;		/* link-down transitions */
	uint64_t link_resets;		/* resets of the own state to RESET */
	uint64_t violations[IVSHM_NET_V_MAX];
};

struct ivshm_net_link {
	bool up;		/* own state RUN and peer state RUN */
	uint32_t own_state;
	uint32_t peer_state;
	uint32_t peer_id;
};

/*
 * Create the protocol on a connected device (ID 0 or 1, max_peers 2,
 * protocol 0x0001, a usable output section size). The device stays the
 * caller's (ivshm_net_close does not close it). Returns 0 or -errno.
 */
int ivshm_net_create(struct ivshm_dev *dev, const struct ivshm_net_conf *conf,
		struct ivshm_net **np);
/* Connect to an ivshmem2-server and create; the link owns the device. */
int ivshm_net_open(const char *socket_path, const struct ivshm_net_conf *conf,
		struct ivshm_net **np);
/* Stop, leave the State at RESET, free. Data-path threads must be done
 * with the link. Zero-copy mbufs still held stay valid (the mapping lives
 * until the last one is freed). */
void ivshm_net_close(struct ivshm_net *n);

struct ivshm_dev *ivshm_net_dev(const struct ivshm_net *n);
const struct ivshm_net_layout *ivshm_net_layout(const struct ivshm_net *n);
/* Largest frame ivshm_net_tx_burst accepts. */
uint32_t ivshm_net_max_frame(const struct ivshm_net *n);

/* Mempool for rx mbufs (control path, before rx bursts). */
int ivshm_net_rx_setup(struct ivshm_net *n, struct rte_mempool *mp);

/* Interface up: allows READY -> RUN. Interface down: own state RESET,
 * link down, frames in flight dropped (counted); the handshake continues
 * up to READY so that the peer sees us. */
int ivshm_net_start(struct ivshm_net *n);
void ivshm_net_stop(struct ivshm_net *n);

/*
 * Control-path step: handles server messages, the state vector, the
 * peer's state and data-path violations, runs the state machine.
 * Returns 1 if the link went up or down (raise the LSC event), else 0.
 * Call it when one of ivshm_net_ctrl_fds() is readable, or periodically.
 */
int ivshm_net_ctrl_poll(struct ivshm_net *n);
/* fds that become readable when ivshm_net_ctrl_poll has work: the server
 * socket and the state vector; returns their number (<= 2). */
int ivshm_net_ctrl_fds(const struct ivshm_net *n, int fds[2]);
void ivshm_net_link_get(const struct ivshm_net *n, struct ivshm_net_link *l);

/*
 * Data path, under the mbuf contract of both vmlink transport libraries
 * (docs/mbufs.md): tx never frees nor changes an mbuf, the caller frees
 * the ones consumed; rx sets port (conf.port_id), data_len, pkt_len,
 * nb_segs and next, and hands the mbufs over to the caller.
 * tx: copies the frames (multi-segment allowed) into the own data area,
 * publishes them with one avail update, rings the peer only if its event
 * index asks for it; frames longer than ivshm_net_max_frame() are dropped
 * (counted) and consumed. Returns how many mbufs were consumed, the first
 * ones of tx_pkts (0 when the link is down).
 * rx: validates and copies frames out into mbufs of the rx mempool
 * (chained when a frame exceeds one mbuf), or attaches them zero-copy;
 * completes in order; returns the number of mbufs stored in rx_pkts.
 * rx with nb_pkts 0 (rx_pkts may be NULL) only publishes the completions
 * of zero-copy mbufs freed since the last call.
 */
uint16_t ivshm_net_tx_burst(struct ivshm_net *n, struct rte_mbuf **tx_pkts,
		uint16_t nb_pkts);
/* tx data path: take the peer's completions, return how many frames it
 * has not completed yet (0 when the link is not running). */
uint32_t ivshm_net_tx_inflight(struct ivshm_net *n);
uint16_t ivshm_net_rx_burst(struct ivshm_net *n, struct rte_mbuf **rx_pkts,
		uint16_t nb_pkts);

/*
 * Doorbell mode (rx lcore). rx_intr_enable publishes the own event index
 * (ring me for the next frame), then re-checks the ring: if frames came in
 * meanwhile it makes the fd readable itself, so a sleeper never misses
 * them. Sleep on ivshm_net_rx_intr_fd() (an eventfd: read it, or let the
 * EAL epoll read 8 bytes), then rx_intr_disable and poll again.
 * ivshm_net_rx_intr_fd returns -ENOTSUP on a one-vector device (its only
 * vector carries state changes as well).
 */
int ivshm_net_rx_intr_enable(struct ivshm_net *n);
int ivshm_net_rx_intr_disable(struct ivshm_net *n);
int ivshm_net_rx_intr_fd(const struct ivshm_net *n);
/* enable + poll(fd, timeout_ms) + drain + disable: 1 woken, 0 timeout */
int ivshm_net_rx_wait(struct ivshm_net *n, int timeout_ms);

void ivshm_net_stats_get(const struct ivshm_net *n, struct ivshm_net_stats *s);
void ivshm_net_stats_reset(struct ivshm_net *n);

/* xstats for an ethdev adapter: names[i] and values[i], i < count. */
unsigned int ivshm_net_xstats_count(void);
const char *ivshm_net_xstats_name(unsigned int i);
unsigned int ivshm_net_xstats_get(const struct ivshm_net *n, uint64_t *values,
		unsigned int max);

const char *ivshm_net_violation_name(enum ivshm_net_violation v);

#ifdef __cplusplus
}
#endif

#endif /* IVSHM_NET_H */
