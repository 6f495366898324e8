/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * Typed vmlink configuration, read from one INI file through rte_cfgfile
 * and validated strictly. This module needs no EAL: the unit tests link it
 * alone.
 */

#ifndef VMLINK_CONFIG_H
#define VMLINK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CFG_MAX_PORTS 32
#define CFG_MAX_QUEUES 16
#define CFG_MAX_LCORES 128	/* lcore ids 0..127 */
#define CFG_NAME_MAX 32		/* port names, including the NUL */
#define CFG_VALUE_MAX 256	/* rte_cfgfile's CFG_VALUE_LEN */
#define CFG_MAX_EAL_ARGS 64
#define CFG_MAX_ERRORS 20	/* errors reported before giving up */

enum port_type {
	PORT_TYPE_ETHDEV,	/* any DPDK device, by devargs */
	PORT_TYPE_VHOST_USER,	/* a VM's virtio-net, through net_vmlink_vhost */
	PORT_TYPE_IVSHMEM2,	/* an ivshmem v2 link, through net_vmlink_ivshmem2 */
	PORT_TYPE_COUNT
};

#define CFG_SOCKET_PATH_MAX 108	/* sun_path */

/* Bit per port type, for keys that only some types accept. */
#define PORT_TYPE_BIT(t) (1u << (t))
#define PORT_TYPES_ALL ((1u << PORT_TYPE_COUNT) - 1)

struct port_cfg {
	char name[CFG_NAME_MAX];
	unsigned int line;		/* line of the [port NAME] header */
	enum port_type type;
	char device[CFG_VALUE_MAX];	/* ethdev: DPDK devargs or PCI address;
					 * ivshmem2: a PCI address, or empty */
	uint32_t rx_queues;
	uint32_t rx_ring;		/* descriptors per rx queue */
	uint32_t tx_ring;		/* descriptors per tx queue */
	uint32_t mbufs;			/* mempool size; 0: sized automatically */
	uint32_t mbuf_size;		/* data room per mbuf, headroom included */
	uint32_t mtu;			/* 0: keep the device default */
	bool promiscuous;
	char rx_mode[12];		/* "poll" or "interrupt" */
	bool rx_interrupt;		/* rx_mode is "interrupt" */
	bool has_mac;
	uint8_t mac[6];
	/* vhost-user and ivshmem2 */
	char path[CFG_SOCKET_PATH_MAX];	/* vhost-user or ivshmem2-server socket */
	bool client;			/* vhost-user: connect, instead of listening */
	char zero_copy[8];		/* "auto", "yes" or "no" */
	uint32_t copy_threshold;	/* frames shorter than this are copied */
	uint32_t inflight;		/* zero-copy frames outstanding per queue */
	char peer_name[CFG_NAME_MAX];	/* cross-connect target, "" for none */
	int peer;			/* resolved index of peer_name, -1: none */
};

/* One rx queue polled by a worker lcore. */
struct rxq_ref {
	uint16_t port;
	uint16_t queue;
};

struct lcore_cfg {
	unsigned int lcore_id;
	unsigned int line;
	unsigned int n_rxq;
	struct rxq_ref rxq[CFG_MAX_PORTS * CFG_MAX_QUEUES];
};

struct eal_cfg {
	char lcores[CFG_VALUE_MAX];	/* -l list, "" if not set */
	uint64_t lcore_mask[CFG_MAX_LCORES / 64]; /* parsed from lcores */
	int main_lcore;			/* -1: EAL's default (first lcore) */
	char file_prefix[CFG_VALUE_MAX];
	uint32_t memory_mb;		/* -m, 0: EAL default */
	char huge_dir[CFG_VALUE_MAX];
	bool no_huge;
	bool in_memory;
	bool telemetry;
	char iova_mode[4];		/* "", "pa" or "va" */
	char log_level[CFG_VALUE_MAX];
	char extra[CFG_VALUE_MAX];	/* more EAL arguments, split on blanks */
};

struct vmlink_cfg {
	char file[CFG_VALUE_MAX];	/* as named in messages */
	struct eal_cfg eal;
	bool has_eal;			/* an [eal] section was given */
	uint32_t burst;
	uint32_t stats_interval;	/* seconds; 0: no periodic lines */
	uint32_t duration;		/* seconds; 0: until a signal */
	unsigned int n_ports;
	struct port_cfg port[CFG_MAX_PORTS];
	unsigned int n_lcores;		/* explicit [lcore N] sections */
	struct lcore_cfg lcore[CFG_MAX_LCORES];
};

/*
 * Load and validate FILE (read once, so a pipe works; at most 1 MiB; a
 * directory or binary data is named as such); DISPLAY_NAME (or FILE when
 * NULL) names it in messages. Every error is printed to ERR as
 * "file:line: [section] key: reason". Returns 0 when the configuration is
 * valid, -1 otherwise.
 */
int config_load(struct vmlink_cfg *cfg, const char *file,
		const char *display_name, FILE *err);

/* The same for a configuration already in memory (LEN bytes of TEXT),
 * named NAME in messages. */
int config_load_text(struct vmlink_cfg *cfg, const char *text, size_t len,
		const char *name, FILE *err);

/* Parse a core list such as "0-3,6"; fills MASK. 0 on success. */
int config_parse_lcore_list(const char *s, uint64_t *mask, unsigned int max);

/* True when lcore ID is in MASK. */
bool config_lcore_in(const uint64_t *mask, unsigned int id);

/*
 * Build EAL arguments from the [eal] section: ARGV receives pointers into
 * STORAGE (of STORAGE_LEN bytes). Returns argc (argv[0] = PROG) or -1.
 */
int config_eal_argv(const struct vmlink_cfg *cfg, const char *prog,
		char **argv, int max_args, char *storage, size_t storage_len);

/*
 * Devargs of an ivshmem2 port on a PCI device (device = PCI address):
 * the address, mode (from rx-mode), zero-copy ('auto' decided from the
 * configuration), copy-threshold, inflight. EAL probes it at init with
 * these (config_eal_argv allow-lists it). 0, or -1 if LEN is too short.
 */
int config_ivshmem2_pci_devargs(const struct vmlink_cfg *cfg,
		const struct port_cfg *p, char *buf, size_t len);

/* Index of the port named NAME, or -1. */
int config_port_index(const struct vmlink_cfg *cfg, const char *name);

/* Print the configuration reference (every section and key) to OUT. */
void config_print_reference(FILE *out);

const char *config_port_type_name(enum port_type t);

#endif /* VMLINK_CONFIG_H */
