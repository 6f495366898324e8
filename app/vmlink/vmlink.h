/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * Runtime state shared by the vmlink modules: ports (seen only through
 * ethdev), worker lcores with their rx queues, tx queues and counters.
 */

#ifndef VMLINK_H
#define VMLINK_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_mbuf.h>

#include "config.h"
#include "fwd.h"

#define MAX_BURST 512
#define NO_TXQ UINT16_MAX

/*
 * Per-port counters of one worker lcore: one list X(field, group, name,
 * meaning). Only that lcore writes them (with relaxed atomic stores), the
 * main lcore and the telemetry thread read them. Their names outside
 * (stats.c) come from the list, the same in the --stats-json file and in
 * telemetry (/vmlink/port_stats): "name" inside the object of its group
 * (PORT_GROUPS), e.g. drops.tx_full. Invariant over all lcores and
 * ports, once the workers have stopped:
 *   sum(rx_pkts) + sum(sw_gso_segments) - sum(sw_gso_frames)
 *     == sum(tx_pkts) + sum(drop_tx_full) + sum(drop_no_route)
 *        + sum(drop_offload) + sum(drop_suspended)
 * (software segmentation makes frames: see fwd.h).
 */
#define PORT_COUNTERS(X) \
	X(rx_pkts, TOP, "rx_packets", "received on this port") \
	X(rx_bytes, TOP, "rx_bytes", "their bytes") \
	X(tx_pkts, TOP, "tx_packets", "accepted by this port's tx burst") \
	X(tx_bytes, TOP, "tx_bytes", "their bytes") \
	X(drop_tx_full, DROPS, "tx_full", \
		"sent to this port, refused by its tx burst") \
	X(drop_no_route, DROPS, "no_route", \
		"received here with nowhere to go") \
	X(drop_offload, DROPS, "offload", \
		"for this port, an offload not completable") \
	X(drop_suspended, DROPS, "suspended", \
		"sent to this port while its device was suspended") \
	X(sw_csum, SW, "csum", "for this port, checksums completed by vmlink") \
	X(sw_gso_frames, SW, "gso_frames", \
		"for this port, TSO frames segmented by vmlink") \
	X(sw_gso_segments, SW, "gso_segments", "... the frames they became")

/* The groups of PORT_COUNTERS: X(group, object in the port's object);
 * TOP's counters are the port object's own. */
#define PORT_GROUPS(X) \
	X(TOP, NULL) \
	X(DROPS, "drops") \
	X(SW, "sw_offload")

#define PORT_COUNTER_FIELD(field, group, name, help) uint64_t field;

struct port_counters {
	PORT_COUNTERS(PORT_COUNTER_FIELD)
} __rte_cache_aligned;

struct port_totals {
	PORT_COUNTERS(PORT_COUNTER_FIELD)
};

struct port_rt {
	const struct port_cfg *cfg;
	uint16_t port_id;		/* ethdev port */
	uint16_t n_txq;
	/* Bit q: tx queue q can deliver (a vhost-user guest enabled its rx
	 * ring q); rewritten on the device's queue-state events, read by
	 * the workers when they pick a tx queue. */
	uint32_t txq_up;
	bool attached;			/* port_id is valid */
	bool started;
	bool probed_by_us;		/* vmlink hot-plugged it: detach at exit */
	bool admin_down;		/* control: not polled, nothing sent to it */
	/* control: the device sleeps (vhost-user), not polled, and what is
	 * sent to it is dropped and counted as drop_suspended */
	bool suspended;
	struct rte_mempool *pool;
};

/* Frames waiting to go out of one port, from one lcore. */
struct tx_buffer {
	uint16_t n;
	struct rte_mbuf *pkts[MAX_BURST];
};

struct worker_rxq {
	uint16_t port;			/* index in vmlink.port */
	uint16_t queue;
};

/* The tx queues of one port a worker owns (no other worker sends on
 * them), and how it picks one for a frame (lcores.c, worker.c): queue i
 * for frames received on queue i of a port in same_from (source and
 * destination have as many queues) when it owns queue i and the port has
 * it up; otherwise one of its queues that is up, by flow hash. */
struct worker_txqs {
	uint16_t n;
	uint16_t q[CFG_MAX_QUEUES];
	uint32_t owned;			/* bit i: q[] holds queue i (i < 32) */
	uint32_t same_from;		/* bit p: port p's queue i -> queue i */
};

struct worker {
	/* Control requests (control.c): the requester bumps ctl_seq, the
	 * worker applies the request between two loop rounds and stores
	 * ctl_seq in ctl_ack. */
	uint32_t ctl_seq;
	uint32_t ctl_ack;
	unsigned int lcore_id;
	bool sleep_when_idle;		/* all its rx queues are interrupt-mode */
	uint64_t sleeps;		/* times it slept on rx interrupts */
	uint64_t wakeups;		/* sleeps ended by an rx interrupt */
	unsigned int n_rxq;
	struct worker_rxq rxq[CFG_MAX_PORTS * CFG_MAX_QUEUES];
	/* First tx queue owned per port, NO_TXQ: the port is not sent to
	 * (admin down, suspended, or not reachable from the worker's rx
	 * queues). */
	uint16_t txq[CFG_MAX_PORTS];
	/* Bit p: port p is suspended (and not admin down): frames for it
	 * count as its drop_suspended. Set with txq, by control_apply(). */
	uint32_t suspended;
	struct worker_txqs txqs[CFG_MAX_PORTS];
	struct port_counters cnt[CFG_MAX_PORTS];
	struct tx_buffer txbuf[CFG_MAX_PORTS];
	/* The plan, from which control rebuilds rxq and txq when a port's
	 * admin state changes. */
	unsigned int n_rxq_planned;
	struct worker_rxq rxq_planned[CFG_MAX_PORTS * CFG_MAX_QUEUES];
	uint16_t txq_planned[CFG_MAX_PORTS];
};

struct vmlink {
	const struct vmlink_cfg *cfg;
	struct fwd_table fwd;
	unsigned int n_ports;
	struct port_rt port[CFG_MAX_PORTS];
	unsigned int n_workers;
	struct worker *worker[CFG_MAX_LCORES];
	uint64_t start_tsc;
	struct fwd_ofl_pools ofl_pools;	/* software segmentation (fwd.c) */
};

/* Set by SIGINT/SIGTERM or at the end of the run; workers poll it. */
extern volatile bool vmlink_quit;

static inline void
counter_add(uint64_t *c, uint64_t v)
{
	__atomic_store_n(c, *c + v, __ATOMIC_RELAXED);
}

/* lcores.c: assign rx queues to workers and tx queues to (worker, port);
 * after ports_probe(), before ports_setup(). */
int lcores_plan(struct vmlink *vm);
void lcores_free(struct vmlink *vm);

/* ports.c: probe (or find) every port's device, then configure and
 * start them with the tx queues lcores_plan() gave them. */
int ports_probe(struct vmlink *vm);
int ports_setup(struct vmlink *vm);
/* Re-read which tx queues of port P can deliver (vmlink.port[].txq_up). */
void ports_txq_state(struct vmlink *vm, unsigned int p);
void ports_close(struct vmlink *vm);

/* worker.c */
int worker_main(void *arg);

/* eal_files.c: remove EAL's runtime directory and hugepage files at exit
 * (note where they are after rte_eal_init, remove after rte_eal_cleanup). */
void eal_files_note(void);
void eal_files_remove(void);

/* control.c: runtime actions (counters reset, port admin state, log
 * level, capture) behind DPDK telemetry commands. */
int control_init(struct vmlink *vm);
void control_poll(struct vmlink *vm);	/* main lcore, every round */
void control_fini(struct vmlink *vm);	/* after the workers stopped */
void control_apply(struct vmlink *vm, struct worker *w) __rte_cold;	/* worker */
/* Wait until every worker has come round its loop once (so none is
 * inside a callback removed before the call); -ETIMEDOUT otherwise. */
int control_quiesce(struct vmlink *vm);
/* The same from any thread, serialised with the control actions; 0 also
 * once the workers have stopped. */
int control_wait_workers(struct vmlink *vm);

/* pdump.c: dpdk-dumpcap / dpdk-pdump requests, answered so that a
 * capture client frees nothing a worker still uses. */
int pdump_init(struct vmlink *vm);
void pdump_fini(void);	/* after the workers stopped */

/* stats.c */
void stats_port_totals(const struct vmlink *vm, unsigned int port,
		struct port_totals *t);
void stats_print_line(const struct vmlink *vm, double interval_s,
		struct port_totals *prev);
void stats_print_summary(const struct vmlink *vm, double elapsed_s);
int stats_write_json(const struct vmlink *vm, const char *path, double elapsed_s);
int stats_telemetry_register(const struct vmlink *vm);

#endif /* VMLINK_H */
