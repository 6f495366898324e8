/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * PCI transport of the ivshmem v2 device, for a bus driver (a DPDK PCI
 * PMD, or a test's software model). The library knows no bus: the driver
 * maps the BARs, reads and writes config space, owns the interrupt
 * plumbing, and hands the library what it got. Two devices:
 *
 *  - 1af4:1110, stock QEMU's ivshmem-doorbell (v1 registers: IntrMask 00h,
 *    IntrStatus 04h, IVPosition 08h, Doorbell 0Ch; BAR2 the region). v2
 *    semantics in software: the layout from the server's header in BAR2
 *    (ivshm_proto.h), the State register emulated (own state-table entry
 *    + vector 0 to every other peer), INT_CTRL and one-shot emulated.
 *  - 110a:4106, the ivshmem v2 device (registers ID, Maximum Peers,
 *    Interrupt Control, Doorbell, State; vendor capability with the
 *    section sizes and one-shot; protocol in the class code).
 *
 * Interrupts, as the kernel driver delivers them:
 *  - IVSHM_PCI_IRQ_NONE: poll only; the vector fds are local eventfds
 *    that only ivshm_vector_raise_local() signals.
 *  - IVSHM_PCI_IRQ_MSIX: one eventfd per vector (vfio-pci), used as the
 *    vector fds (owned by the driver, never closed here).
 *  - IVSHM_PCI_IRQ_INTX: one level interrupt for all vectors (uio_pci_
 *    generic, vfio INTx), for a device that raises INTx (QEMU 7.2's
 *    ivshmem-doorbell does not: MSI-X only, so refused with an MSI-X
 *    capability present): its fd is the control fd; ivshm_dev_process()
 *    consumes it, reads IntrStatus (which clears it on 1af4:1110),
 *    re-enables the line through bus->irq_unmask, then raises every
 *    local vector eventfd: one interrupt wakes both the state machine
 *    (vector 0) and a receiver sleeping on vector 1. A doorbell arriving
 *    after the status read asserts the line again: nothing is lost.
 *
 * Everything read from the device and the region is checked once at
 * attach (capability chain, sizes, the header's fields and checksum, the
 * ID against max_peers); on 1af4:1110 the whole BAR2 is writable by every
 * guest, so a peer trusts nothing after that (see docs/ivshmem2.md).
 */

#ifndef IVSHM_PCI_H
#define IVSHM_PCI_H

#include <stdint.h>

#include "ivshm.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IVSHM_PCI_V1_VENDOR	0x1af4	/* QEMU ivshmem(-doorbell) */
#define IVSHM_PCI_V1_DEVICE	0x1110
#define IVSHM_PCI_V2_VENDOR	0x110a	/* ivshmem v2 (Siemens) */
#define IVSHM_PCI_V2_DEVICE	0x4106

/* 1af4:1110 BAR0 registers */
#define IVSHM_V1_REG_INTR_MASK		0x00
#define IVSHM_V1_REG_INTR_STATUS	0x04	/* read clears */
#define IVSHM_V1_REG_IV_POSITION	0x08	/* own ID */
#define IVSHM_V1_REG_DOORBELL		0x0c	/* (peer << 16) | vector */
#define IVSHM_V1_BAR0_LEN		0x100

/* 110a:4106 vendor capability (ID 09h) */
#define IVSHM_V2_CAP_PRIV_CTRL		0x03	/* bit 0: one-shot */
#define IVSHM_V2_CAP_STATE_TABLE_SIZE	0x04	/* u32 */
#define IVSHM_V2_CAP_RW_SIZE		0x08	/* u64 */
#define IVSHM_V2_CAP_OUTPUT_SIZE	0x10	/* u64 */
#define IVSHM_V2_CAP_BASE_ADDR		0x18	/* u64, when length is 20h */
#define IVSHM_V2_CAP_LEN		0x18
#define IVSHM_V2_CAP_LEN_BASE		0x20

enum ivshm_pci_irq {
	IVSHM_PCI_IRQ_NONE,
	IVSHM_PCI_IRQ_INTX,
	IVSHM_PCI_IRQ_MSIX,
};

/* What the bus driver does for the library. ctx is passed back. */
struct ivshm_pci_bus {
	void *ctx;
	/* config space: 0 on success, <0 on error */
	int (*cfg_read)(void *ctx, void *buf, uint32_t len, uint32_t off);
	int (*cfg_write)(void *ctx, const void *buf, uint32_t len,
			uint32_t off);
	/* BAR0 register access; NULL: aligned 32-bit MMIO on bar0 */
	uint32_t (*reg_read)(void *ctx, uint32_t off);
	void (*reg_write)(void *ctx, uint32_t off, uint32_t val);
	/* INTx: re-enable the line after an interrupt was handled */
	int (*irq_unmask)(void *ctx);
};

struct ivshm_pci_params {
	const struct ivshm_pci_bus *bus;
	volatile void *bar0;		/* registers (NULL with reg_read) */
	uint64_t bar0_len;
	void *bar2;			/* the region, mapped read-write */
	uint64_t bar2_len;
	enum ivshm_pci_irq irq;
	int intx_fd;			/* INTX: readable when the line fired */
	uint32_t intx_read_len;		/* bytes to consume: 4 uio, 8 eventfd */
	const int *msix_fd;		/* MSIX: eventfd of vector i */
	uint32_t n_msix_fd;
};

/*
 * Attach to a mapped device: validate config space and layout, build the
 * ivshm_dev. The mappings and interrupt fds stay the driver's (unmap them
 * after ivshm_dev_close, and after the last zero-copy mbuf is freed).
 * Returns 0 and *devp, or a negative errno (the reason is logged).
 */
int ivshm_pci_attach(const struct ivshm_pci_params *p,
		struct ivshm_dev **devp);

/* Checks a bus driver may make before choosing an interrupt mode. */
struct ivshm_pci_caps {
	uint16_t vendor_id, device_id;
	uint8_t has_msix;		/* MSI-X capability present */
	uint16_t msix_vectors;		/* its table size */
	uint8_t intx_pin;		/* interrupt pin register, 0 = none */
	uint8_t vendor_cap;		/* offset of the v2 capability, or 0 */
	uint8_t vendor_cap_len;
};
int ivshm_pci_probe_caps(const struct ivshm_pci_bus *bus,
		struct ivshm_pci_caps *caps);

#ifdef __cplusplus
}
#endif

#endif /* IVSHM_PCI_H */
