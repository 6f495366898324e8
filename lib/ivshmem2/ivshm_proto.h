/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * ivshmem v2 wire facts shared by the server and the peer library: the
 * server socket messages, the register offsets, the protocol types and the
 * shared-memory layout rule. Plain C, no DPDK: app/ivshmem2-server
 * includes it as well.
 *
 * Server socket (AF_UNIX, SOCK_STREAM). The server only sends; any byte a
 * client sends makes the server close that client. Every message starts
 * with struct ivshm_msg_hdr; all fields are little-endian. A message may be
 * longer than the structure below (a later protocol revision); readers skip
 * the extra bytes. File descriptors travel as SCM_RIGHTS, one per message,
 * attached to the message's first byte.
 *
 *   INIT      (type 0, 40 bytes) + shared-memory fd
 *   EVENT_FD  (type 1, 16 bytes) + eventfd of (id, vector)
 *   PEER_GONE (type 2, 12 bytes)
 *
 * A new client gets INIT, then the eventfds of every existing peer (in
 * ascending ID order, vectors 0..V-1), then its own V eventfds (the ones it
 * reads). Existing clients get the newcomer's V eventfds. When a client
 * leaves, the server zeroes its state-table entry, then sends PEER_GONE to
 * the others.
 */

#ifndef IVSHM_PROTO_H
#define IVSHM_PROTO_H

#include <stdint.h>

#define IVSHM_PROTOCOL_VERSION	2

#define IVSHM_MSG_INIT		0
#define IVSHM_MSG_EVENT_FD	1
#define IVSHM_MSG_PEER_GONE	2

struct ivshm_msg_hdr {
	uint32_t type;
	uint32_t len;		/* whole message, header included */
};

struct ivshm_msg_init {
	struct ivshm_msg_hdr hdr;
	uint32_t version;		/* protocol revision the server speaks */
	uint32_t compatible_version;	/* oldest revision it is compatible with */
	uint32_t id;			/* the receiving client's peer ID */
	uint32_t max_peers;
	uint32_t vectors;		/* interrupt vectors per peer */
	uint32_t protocol;		/* protocol type, see IVSHM_PROTO_* */
	uint64_t output_section_size;
};

struct ivshm_msg_event_fd {
	struct ivshm_msg_hdr hdr;
	uint32_t id;
	uint32_t vector;
};

struct ivshm_msg_peer_gone {
	struct ivshm_msg_hdr hdr;
	uint32_t id;
};

_Static_assert(sizeof(struct ivshm_msg_init) == 40, "INIT is 40 bytes");
_Static_assert(sizeof(struct ivshm_msg_event_fd) == 16, "EVENT_FD is 16 bytes");
_Static_assert(sizeof(struct ivshm_msg_peer_gone) == 12, "PEER_GONE is 12 bytes");

/* Longest message a client accepts (longer ones are a broken server). */
#define IVSHM_MSG_MAX_LEN	4096

/* Limits of the device model. */
#define IVSHM_MIN_PEERS		2
#define IVSHM_MAX_PEERS		65536	/* the doorbell target ID is 16 bits */
#define IVSHM_MAX_VECTORS	1024

/* Register region (BAR0 on PCI), aligned 32-bit accesses only. */
#define IVSHM_REG_ID		0x00	/* RO: own peer ID */
#define IVSHM_REG_MAX_PEERS	0x04	/* RO */
#define IVSHM_REG_INT_CTRL	0x08	/* RW: bit 0 enables delivery */
#define IVSHM_REG_DOORBELL	0x0c	/* WO: vector 0-15, target ID 16-31 */
#define IVSHM_REG_STATE		0x10	/* RW: own state, mirrored in the table */

#define IVSHM_INT_ENABLE	0x1
#define IVSHM_DOORBELL_VAL(target, vector) \
	(((uint32_t)(target) << 16) | ((uint32_t)(vector) & 0xffff))

/* Protocol types (PCI class interface + sub-class bytes). */
#define IVSHM_PROTO_UNDEFINED	0x0000
#define IVSHM_PROTO_NET		0x0001	/* virtual peer-to-peer Ethernet */
#define IVSHM_PROTO_USER_FIRST	0x4000
#define IVSHM_PROTO_USER_LAST	0x7fff
#define IVSHM_PROTO_VIRTIO_FRONT 0x8000	/* 8000h-BFFFh */
#define IVSHM_PROTO_VIRTIO_BACK	0xc000	/* C000h-FFFFh */
#define IVSHM_PROTO_VIRTIO_BACK_BIT 0x4000

/* The protocol type peer 'id' sees: with a virtio type, peer 0 is the
 * back-end (bit 14 set), the others the front-end. */
static inline uint32_t
ivshm_protocol_of_peer(uint32_t protocol, uint32_t id)
{
	if (protocol < IVSHM_PROTO_VIRTIO_FRONT)
		return protocol;
	protocol &= ~(uint32_t)IVSHM_PROTO_VIRTIO_BACK_BIT;
	return id == 0 ? protocol | IVSHM_PROTO_VIRTIO_BACK_BIT : protocol;
}

/*
 * Shared-memory layout: state table (one le32 per peer, read-only to the
 * peers) at 0, then the R/W section, then max_peers output sections of
 * output_section_size bytes each. The state table occupies 4 KiB (what the
 * RFC QEMU device assumes, enough for 1024 peers), more for more peers.
 * The R/W section takes whatever the region holds beyond the state table
 * and the output sections:
 *   rw_size = region_size - state_table_size - max_peers * output_size
 */
#define IVSHM_STATE_TABLE_ALIGN	4096u

static inline uint64_t
ivshm_state_table_size(uint32_t max_peers)
{
	uint64_t sz = (uint64_t)max_peers * sizeof(uint32_t);

	return (sz + IVSHM_STATE_TABLE_ALIGN - 1) &
		~(uint64_t)(IVSHM_STATE_TABLE_ALIGN - 1);
}

/*
 * Layout header, for peers that get neither INIT nor a vendor capability:
 * a guest on QEMU's ivshmem-doorbell device (PCI 1af4:1110) sees only the
 * region (BAR2) and its own ID (IVPosition). The server writes this header
 * once, before any client, into the unused tail of the state table's first
 * 4 KiB page (so at most IVSHM_HDR_MAX_PEERS peers), and again before each
 * QEMU client receives the memory. Nothing protects it from a guest (BAR2
 * is writable all over): a peer reads it once, checks 'check' and every
 * field against the size it really sees, and never reads it again.
 * All fields little-endian.
 */
#define IVSHM_HDR_OFFSET	0xfc0u
#define IVSHM_HDR_MAGIC		0x32535649u	/* "IVS2" in memory */
#define IVSHM_HDR_VERSION	1
#define IVSHM_HDR_MAX_PEERS	(IVSHM_HDR_OFFSET / 4)	/* 1008 */

struct ivshm_shm_hdr {
	uint32_t magic;
	uint32_t version;
	uint32_t max_peers;
	uint32_t vectors;		/* eventfds the server gives each peer */
	uint32_t protocol;		/* the type; virtio roles by ID as in INIT */
	uint32_t flags;			/* 0 */
	uint64_t region_size;		/* = BAR2 size for a QEMU peer */
	uint64_t state_table_size;	/* R/W section starts here */
	uint64_t rw_section_size;
	uint64_t output_section_size;	/* sections follow the R/W section */
	uint32_t reserved;		/* 0 */
	uint32_t check;			/* ivshm_hdr_check() */
};

_Static_assert(sizeof(struct ivshm_shm_hdr) == 64, "header is 64 bytes");

/* FNV-1a over the header up to 'check': a torn or scribbled header fails
 * (not a security measure: anyone who can write it can recompute it). */
static inline uint32_t
ivshm_hdr_check(const struct ivshm_shm_hdr *h)
{
	const uint8_t *p = (const uint8_t *)h;
	uint32_t x = 2166136261u;
	unsigned int i;

	for (i = 0; i < sizeof(*h) - sizeof(h->check); i++)
		x = (x ^ p[i]) * 16777619u;
	return x;
}

#endif /* IVSHM_PROTO_H */
