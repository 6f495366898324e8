/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * ivshmem v2 peer: one device (one peer ID) attached to a shared-memory
 * region, its register interface, its interrupt vectors and the other
 * peers. The device is reached through a transport: the server socket
 * (ivshm_dev_connect), or PCI inside a VM (ivshm_pci_attach in
 * ivshm_pci.h: BAR0 registers, BAR2 memory, MSI-X or INTx fds handed over
 * by a bus driver). Protocol code uses only this header, so it does not
 * care which.
 *
 * Threads: ivshm_dev_connect/close/process and the STATE, INT_CTRL and
 * one-shot writes belong to one control thread. DOORBELL writes and reads
 * of the state table and sections may come from any thread, concurrently
 * with the control thread (a peer's eventfds are swapped atomically, never
 * closed under a writer).
 */

#ifndef IVSHM_H
#define IVSHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ivshm_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ivshm_dev;

struct ivshm_info {
	uint32_t id;			/* own peer ID (ID register) */
	uint32_t max_peers;		/* MAX_PEERS register */
	uint32_t vectors;		/* interrupt vectors per peer */
	uint32_t protocol;		/* protocol type */
	uint64_t region_size;		/* whole shared memory */
	uint64_t state_table_size;
	uint64_t rw_section_size;
	uint64_t rw_section_offset;
	uint64_t output_section_size;
	uint64_t output_section_offset;	/* of peer 0's output section */
	uint64_t page_size;		/* mapping granularity of the backing */
	const char *transport;		/* "socket", "pci-1af4:1110", ... */
};

/* What ivshm_dev_process() saw (bit mask). */
#define IVSHM_EV_PEER_UP	(1u << 0)	/* a peer's eventfds are complete */
#define IVSHM_EV_PEER_GONE	(1u << 1)	/* PEER_GONE: its eventfds closed */
#define IVSHM_EV_SERVER_LOST	(1u << 2)	/* the server closed the socket */
#define IVSHM_EV_BAD_MSG	(1u << 3)	/* a malformed message was ignored */

/*
 * Connect to an ivshmem2-server socket and complete the handshake: INIT is
 * validated (versions, limits, the layout against the memory fd's real
 * size and page size, vector count), the region is mapped (state table
 * read-only, R/W section read-write, own output section read-write, the
 * other output sections read-only), and the function returns once this
 * peer's own eventfds have arrived. timeout_ms bounds the wait (<= 0: 5 s).
 * Returns 0 and *devp, or a negative errno (the reason is logged).
 */
int ivshm_dev_connect(const char *socket_path, int timeout_ms,
		struct ivshm_dev **devp);

/* Close the transport (the server then announces PEER_GONE), close every
 * fd. The mapping stays until the last zero-copy user drops it. */
void ivshm_dev_close(struct ivshm_dev *dev);

const struct ivshm_info *ivshm_dev_info(const struct ivshm_dev *dev);

/* Sections. The state table and the other peers' sections are mapped
 * read-only: writing through these pointers faults. */
const volatile uint32_t *ivshm_state_table(const struct ivshm_dev *dev);
void *ivshm_rw_section(const struct ivshm_dev *dev);	/* NULL if size 0 */
void *ivshm_own_section(const struct ivshm_dev *dev);	/* NULL if size 0 */
const void *ivshm_peer_section(const struct ivshm_dev *dev, uint32_t id);

/* Registers (IVSHM_REG_*), aligned 32-bit semantics of the spec:
 *  ID, MAX_PEERS   read-only
 *  INT_CTRL        bit 0: deliver interrupts to this peer
 *  DOORBELL        write (target << 16 | vector): signal the target's
 *                  vector; no effect for an absent target or bad vector
 *  STATE           write: mirrored into the state table; when the value
 *                  changes, vector 0 of every other present peer fires */
uint32_t ivshm_reg_read(struct ivshm_dev *dev, uint32_t reg);
void ivshm_reg_write(struct ivshm_dev *dev, uint32_t reg, uint32_t val);

/* Privileged control bit 0 (one-shot): each delivery clears INT_CTRL. */
void ivshm_set_oneshot(struct ivshm_dev *dev, bool on);

static inline void
ivshm_doorbell(struct ivshm_dev *dev, uint32_t target, uint32_t vector)
{
	ivshm_reg_write(dev, IVSHM_REG_DOORBELL,
		IVSHM_DOORBELL_VAL(target, vector));
}

/* State of peer 'id' from the state table (0 for an invalid id). */
uint32_t ivshm_peer_state(const struct ivshm_dev *dev, uint32_t id);

/*
 * Interrupts. ivshm_vector_fd() is this peer's own fd for a vector: it
 * becomes readable when the vector fires (sleep on it with poll/epoll).
 * ivshm_vector_ack() consumes what is pending and returns 1 if an
 * interrupt was delivered, 0 if none was pending or INT_CTRL had delivery
 * disabled (the signal is then dropped, as a device drops it); in one-shot
 * mode a delivery clears INT_CTRL bit 0.
 */
int ivshm_vector_fd(const struct ivshm_dev *dev, uint32_t vector);
int ivshm_vector_ack(struct ivshm_dev *dev, uint32_t vector);
/* Make one's own vector fire (wakes a local sleeper). */
void ivshm_vector_raise_local(struct ivshm_dev *dev, uint32_t vector);

/*
 * Control. ivshm_dev_ctrl_fd() becomes readable when the transport has
 * news (server messages); ivshm_dev_process() handles all of it without
 * blocking and returns IVSHM_EV_* bits.
 */
int ivshm_dev_ctrl_fd(const struct ivshm_dev *dev);
unsigned int ivshm_dev_process(struct ivshm_dev *dev);

/* A peer is present once all its eventfds arrived, until PEER_GONE. */
bool ivshm_peer_present(const struct ivshm_dev *dev, uint32_t id);
/* Bumped each time peer 'id' leaves: tells a restarted peer from the old. */
uint32_t ivshm_peer_generation(const struct ivshm_dev *dev, uint32_t id);

/* Counters of the transport. */
struct ivshm_dev_stats {
	uint64_t msgs;			/* server messages handled */
	uint64_t bad_msgs;		/* malformed/unexpected, ignored */
	uint64_t peers_up;
	uint64_t peers_gone;
	uint64_t doorbells;		/* eventfd writes for DOORBELL */
	uint64_t doorbells_absent;	/* target absent or bad vector */
	uint64_t irqs_delivered;	/* ivshm_vector_ack() == 1 */
	uint64_t irqs_masked;		/* dropped: INT_CTRL disabled */
};
void ivshm_dev_stats_get(const struct ivshm_dev *dev,
		struct ivshm_dev_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* IVSHM_H */
