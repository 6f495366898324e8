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

/*
 * The counters are lists, X(field or id, "name", "help"): the enum, the
 * struct, the xstats names and docs/ivshmem2.md's table come from them
 * (tests/unit checks the docs).
 */

/* Why the link was reset: peer section content that failed a check. */
#define IVSHM_NET_VIOLATION_LIST(X) \
	X(AVAIL_IDX, "avail_idx", "avail idx more than N ahead of used, or back") \
	X(DESC_ID, "desc_id", "avail ring entry >= N") \
	X(DESC_FLAGS, "desc_flags", "descriptor flags != 0") \
	X(DESC_ADDR, "desc_addr", "offset outside [data start, section end)") \
	X(DESC_LEN, "desc_len", "length runs past the section end") \
	X(USED_IDX, "used_idx", "more completions than frames in flight") \
	X(USED_ID, "used_id", "completion out of order (wrong id)") \
	X(USED_LEN, "used_len", "completion len != 1") \
	X(PEER_STATE, "peer_state", "peer state not in 0..3")

enum ivshm_net_violation {
#define IVSHM_NET_V_ENUM(id, name, help) IVSHM_NET_V_##id,
	IVSHM_NET_VIOLATION_LIST(IVSHM_NET_V_ENUM)
#undef IVSHM_NET_V_ENUM
	IVSHM_NET_V_MAX
};

/* Link counters, then one "violation_<name>" per violation. */
#define IVSHM_NET_STATS_LIST(X) \
	X(rx_frames, "rx_frames", "frames delivered") \
	X(rx_bytes, "rx_bytes", "bytes delivered") \
	X(rx_nombuf, "rx_nombuf", "frames left in the ring: no mbuf") \
	X(rx_runts, "rx_runts", "dropped: < 14 bytes") \
	X(rx_oversize, "rx_oversize", "dropped: above the max frame") \
	X(rx_zc_frames, "rx_zc_frames", "delivered zero-copy") \
	X(rx_zc_budget_copies, "rx_zc_budget_copies", "copied: zero-copy budget used up") \
	X(rx_kicks, "rx_kicks", "completion doorbells sent to the peer") \
	X(rx_kicks_suppressed, "rx_kicks_suppressed", "completions the peer did not ask for") \
	X(rx_intr_arms, "rx_intr_arms", "rx_intr_enable with the link running") \
	X(rx_intr_rechecks, "rx_intr_rechecks", "frames found while arming: self-wake") \
	X(rx_wakeups, "rx_wakeups", "rx_intr_disable after an arm") \
	X(tx_frames, "tx_frames", "frames published") \
	X(tx_bytes, "tx_bytes", "bytes published") \
	X(tx_oversize, "tx_oversize", "dropped: longer than max frame / 0") \
	X(tx_full, "tx_full", "bursts cut short: ring or data full") \
	X(tx_link_down, "tx_link_down", "bursts refused: link down") \
	X(tx_kicks, "tx_kicks", "doorbells after publishing frames") \
	X(tx_kicks_suppressed, "tx_kicks_suppressed", "batches the peer did not ask for") \
	X(tx_dropped_peer_gone, "tx_dropped_peer_gone", "in flight when the link reset") \
	X(link_up, "link_up", "link-up transitions") \
	X(link_down, "link_down", "link-down transitions") \
	X(link_resets, "link_resets", "resets of the own state to RESET")

struct ivshm_net_stats {
#define IVSHM_NET_STAT_FIELD(field, name, help) uint64_t field;
	IVSHM_NET_STATS_LIST(IVSHM_NET_STAT_FIELD)
#undef IVSHM_NET_STAT_FIELD
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
