/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * The PCI transport (lib/ivshmem2 ivshm_pci.h) against a software model of
 * both register blocks: QEMU's ivshmem-doorbell (1af4:1110: IntrMask,
 * IntrStatus read-to-clear, IVPosition, Doorbell; the layout header in
 * BAR2) and the ivshmem v2 device (110a:4106: ID, Maximum Peers,
 * Interrupt Control, Doorbell, State writing the state table; vendor
 * capability with one-shot). Config space, capability chains and the
 * header are fed hostile values; INTx and MSI-X delivery are played with
 * eventfds; then ivshmem-net runs between two modelled 1af4:1110 devices
 * sharing one BAR2 (EAL needed for the mempool).
 *
 *   test_pci [EAL ARGS]
 */

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include <rte_eal.h>
#include <rte_mbuf.h>

#include "ivshm_net.h"
#include "ivshm_pci.h"
#include "ivshm_test.h"

/* ---- the model ---- */

#define MAX_LOG 64

struct model {
	uint8_t cfg[256];
	int cfg_fail;			/* config reads fail */
	bool v2;
	uint32_t intr_mask, intr_status, iv_position;	/* 1af4:1110 */
	uint32_t id, max_peers, int_ctrl, state;	/* 110a:4106 */
	uint32_t doorbell[MAX_LOG];
	unsigned int n_doorbell, status_reads, unmasks;
	uint8_t *bar2;			/* shared with the other model */
	struct ivshm_pci_bus bus;
};

static int
m_cfg_read(void *ctx, void *buf, uint32_t len, uint32_t off)
{
	struct model *m = ctx;

	if (m->cfg_fail || off + len > sizeof(m->cfg))
		return -1;
	memcpy(buf, m->cfg + off, len);
	return 0;
}

static int
m_cfg_write(void *ctx, const void *buf, uint32_t len, uint32_t off)
{
	struct model *m = ctx;

	if (off + len > sizeof(m->cfg))
		return -1;
	memcpy(m->cfg + off, buf, len);
	return 0;
}

static uint32_t
m_reg_read(void *ctx, uint32_t off)
{
	struct model *m = ctx;
	uint32_t v;

	if (!m->v2) {
		switch (off) {
		case IVSHM_V1_REG_INTR_MASK:
			return m->intr_mask;
		case IVSHM_V1_REG_INTR_STATUS:
			v = m->intr_status;	/* reading clears it */
			m->intr_status = 0;
			m->status_reads++;
			return v;
		case IVSHM_V1_REG_IV_POSITION:
			return m->iv_position;
		default:
			return 0;
		}
	}
	switch (off) {
	case IVSHM_REG_ID:
		return m->id;
	case IVSHM_REG_MAX_PEERS:
		return m->max_peers;
	case IVSHM_REG_INT_CTRL:
		return m->int_ctrl;
	case IVSHM_REG_STATE:
		return m->state;
	default:
		return 0;
	}
}

static void
m_reg_write(void *ctx, uint32_t off, uint32_t val)
{
	struct model *m = ctx;

	if (off == 0x0c) {		/* Doorbell, both devices */
		if (m->n_doorbell < MAX_LOG)
			m->doorbell[m->n_doorbell++] = val;
		return;
	}
	if (!m->v2) {
		if (off == IVSHM_V1_REG_INTR_MASK)
			m->intr_mask = val;
		else if (off == IVSHM_V1_REG_INTR_STATUS)
			m->intr_status = val;
		return;
	}
	if (off == IVSHM_REG_INT_CTRL) {
		m->int_ctrl = val & 1;
	} else if (off == IVSHM_REG_STATE) {
		/* the device mirrors State into the read-only table */
		m->state = val;
		((volatile uint32_t *)m->bar2)[m->id] = val;
	}
}

static int
m_unmask(void *ctx)
{
	((struct model *)ctx)->unmasks++;
	return 0;
}

static void
put16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
}

static void
put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void
put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static void
model_init(struct model *m, uint8_t *bar2)
{
	memset(m, 0, sizeof(*m));
	m->bar2 = bar2;
	m->bus.ctx = m;
	m->bus.cfg_read = m_cfg_read;
	m->bus.cfg_write = m_cfg_write;
	m->bus.reg_read = m_reg_read;
	m->bus.reg_write = m_reg_write;
	m->bus.irq_unmask = m_unmask;
}

/* QEMU's ivshmem-doorbell: MSI-X capability at 0x40; msix 0: a variant
 * without (INTx). */
static void
model_v1(struct model *m, uint8_t *bar2, uint32_t id, unsigned int msix)
{
	model_init(m, bar2);
	put16(m->cfg, IVSHM_PCI_V1_VENDOR);
	put16(m->cfg + 2, IVSHM_PCI_V1_DEVICE);
	m->cfg[0x0b] = 0x05;		/* RAM controller */
	m->cfg[0x3d] = 1;		/* INTA# */
	m->iv_position = id;
	if (msix == 0)
		return;
	put16(m->cfg + 6, 0x10);	/* capability list */
	m->cfg[0x34] = 0x40;
	m->cfg[0x40] = 0x11;
	m->cfg[0x41] = 0;
	put16(m->cfg + 0x42, (uint16_t)(msix - 1));
}

/* The v2 device: vendor capability at 0x40, MSI-X at 0x60. */
static void
model_v2(struct model *m, uint8_t *bar2, uint32_t id, uint32_t max_peers,
		uint64_t rw, uint64_t out, unsigned int msix)
{
	model_init(m, bar2);
	m->v2 = true;
	put16(m->cfg, IVSHM_PCI_V2_VENDOR);
	put16(m->cfg + 2, IVSHM_PCI_V2_DEVICE);
	m->cfg[0x09] = 0x01;		/* protocol 0x0001 */
	m->cfg[0x0a] = 0x00;
	m->cfg[0x0b] = 0xff;
	put16(m->cfg + 6, 0x10);
	m->cfg[0x34] = 0x40;
	m->cfg[0x40] = 0x09;
	m->cfg[0x41] = msix ? 0x60 : 0;
	m->cfg[0x42] = IVSHM_V2_CAP_LEN;
	put32(m->cfg + 0x44, 0x1000);
	put64(m->cfg + 0x48, rw);
	put64(m->cfg + 0x50, out);
	if (msix) {
		m->cfg[0x60] = 0x11;
		put16(m->cfg + 0x62, (uint16_t)(msix - 1));
	}
	m->id = id;
	m->max_peers = max_peers;
}

/* What ivshmem2-server -Q writes at 0xfc0. */
static void
write_hdr(uint8_t *bar2, uint32_t max_peers, uint32_t vectors,
		uint32_t proto, uint64_t region, uint64_t rw, uint64_t out)
{
	struct ivshm_shm_hdr h;

	memset(&h, 0, sizeof(h));
	h.magic = htole32(IVSHM_HDR_MAGIC);
	h.version = htole32(IVSHM_HDR_VERSION);
	h.max_peers = htole32(max_peers);
	h.vectors = htole32(vectors);
	h.protocol = htole32(proto);
	h.region_size = htole64(region);
	h.state_table_size = htole64(ivshm_state_table_size(max_peers));
	h.rw_section_size = htole64(rw);
	h.output_section_size = htole64(out);
	h.check = htole32(ivshm_hdr_check(&h));
	memcpy(bar2 + IVSHM_HDR_OFFSET, &h, sizeof(h));
}

static struct ivshm_shm_hdr *
hdr_of(uint8_t *bar2)
{
	return (struct ivshm_shm_hdr *)(bar2 + IVSHM_HDR_OFFSET);
}

static void
reseal(uint8_t *bar2)
{
	hdr_of(bar2)->check = htole32(ivshm_hdr_check(hdr_of(bar2)));
}

static struct ivshm_pci_params
params(struct model *m, uint64_t bar2_len)
{
	struct ivshm_pci_params p;

	memset(&p, 0, sizeof(p));
	p.bus = &m->bus;
	p.bar2 = m->bar2;
	p.bar2_len = bar2_len;
	p.irq = IVSHM_PCI_IRQ_NONE;
	p.intx_fd = -1;
	return p;
}

static uint8_t *
region(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	return p;
}

/* ---- 1af4:1110 ---- */

#define R1 0x80000ull		/* 512 KiB: 4 peers x 64 KiB + R/W */
#define OUT1 0x10000ull
#define RW1 (R1 - 0x1000 - 4 * OUT1)

static void
test_v1_attach(void)
{
	uint8_t *bar2 = region(R1);
	const struct ivshm_info *in;
	struct ivshm_pci_params p;
	struct ivshm_dev *dev;
	struct model m;

	model_v1(&m, bar2, 2, 2);
	write_hdr(bar2, 4, 2, 0x8003, R1, RW1, OUT1);
	p = params(&m, R1);
	CHECK_EQ(ivshm_pci_attach(&p, &dev), 0);
	in = ivshm_dev_info(dev);
	CHECK_EQ(in->id, 2);
	CHECK_EQ(in->max_peers, 4);
	CHECK_EQ(in->vectors, 2);
	CHECK_EQ(in->protocol, 0x8003);	/* not peer 0: virtio front-end */
	CHECK_EQ(in->region_size, R1);
	CHECK_EQ(in->rw_section_offset, 0x1000);
	CHECK_EQ(in->rw_section_size, RW1);
	CHECK_EQ(in->output_section_offset, 0x1000 + RW1);
	CHECK(strcmp(in->transport, "pci-1af4:1110") == 0);
	CHECK((uint8_t *)ivshm_own_section(dev) == bar2 + 0x1000 + RW1 +
		2 * OUT1);
	CHECK((const uint8_t *)ivshm_peer_section(dev, 3) == bar2 + 0x1000 +
		RW1 + 3 * OUT1);
	CHECK((uint8_t *)ivshm_rw_section(dev) == bar2 + 0x1000);
	CHECK((const void *)ivshm_state_table(dev) == (void *)bar2);
	CHECK_EQ(ivshm_reg_read(dev, IVSHM_REG_ID), 2);
	CHECK_EQ(ivshm_reg_read(dev, IVSHM_REG_MAX_PEERS), 4);
	CHECK_EQ(ivshm_dev_ctrl_fd(dev), -1);
	/* read once: a later scribble changes nothing */
	hdr_of(bar2)->max_peers = htole32(9);
	CHECK_EQ(ivshm_dev_info(dev)->max_peers, 4);
	ivshm_dev_close(dev);

	model_v1(&m, bar2, 0, 2);
	write_hdr(bar2, 4, 2, 0x8003, R1, RW1, OUT1);
	CHECK_EQ(ivshm_pci_attach(&p, &dev), 0);
	CHECK_EQ(ivshm_dev_info(dev)->protocol, 0xc003);	/* back-end */
	ivshm_dev_close(dev);
	munmap(bar2, R1);
}

/* One corruption of an otherwise good device: attach must refuse. */
struct v1_case {
	const char *what;
	int expect;
	void (*spoil)(uint8_t *bar2, struct model *m, struct ivshm_pci_params *p);
};

static void sp_magic(uint8_t *b, struct model *m, struct ivshm_pci_params *p)
{ RTE_SET_USED(m); RTE_SET_USED(p); hdr_of(b)->magic = 0x12345678; reseal(b); }
static void sp_check(uint8_t *b, struct model *m, struct ivshm_pci_params *p)
{ RTE_SET_USED(m); RTE_SET_USED(p); hdr_of(b)->vectors = htole32(3); }
static void sp_version(uint8_t *b, struct model *m, struct ivshm_pci_params *p)
{ RTE_SET_USED(m); RTE_SET_USED(p); hdr_of(b)->version = htole32(2); reseal(b); }
static void sp_flags(uint8_t *b, struct model *m, struct ivshm_pci_params *p)
{ RTE_SET_USED(m); RTE_SET_USED(p); hdr_of(b)->flags = htole32(1); reseal(b); }
static void sp_peers1(uint8_t *b, struct model *m, struct ivshm_pci_params *p)
{ RTE_SET_USED(m); RTE_SET_USED(p); hdr_of(b)->max_peers = htole32(1); reseal(b); }
static void sp_peers_many(uint8_t *b, struct model *m, struct ivshm_pci_params *p)
{ RTE_SET_USED(m); RTE_SET_USED(p); hdr_of(b)->max_peers = htole32(1009); reseal(b); }
static void sp_vec0(uint8_t *b, struct model *m, struct ivshm_pci_params *p)
{ RTE_SET_USED(m); RTE_SET_USED(p); hdr_of(b)->vectors = 0; reseal(b); }
static void sp_vec_many(uint8_t *b, struct model *m, struct ivshm_pci_params *p)
{ RTE_SET_USED(m); RTE_SET_USED(p); hdr_of(b)->vectors = htole32(1025); reseal(b); }
static void sp_proto(uint8_t *b, struct model *m, struct ivshm_pci_params *p)
{ RTE_SET_USED(m); RTE_SET_USED(p); hdr_of(b)->protocol = htole32(0x10000); reseal(b); }
static void sp_region(uint8_t *b, struct model *m, struct ivshm_pci_params *p)
{ RTE_SET_USED(m); RTE_SET_USED(p); hdr_of(b)->region_size = htole64(2 * R1); reseal(b); }
static void sp_st(uint8_t *b, struct model *m, struct ivshm_pci_params *p)
{ RTE_SET_USED(m); RTE_SET_USED(p); hdr_of(b)->state_table_size = htole64(0x2000); reseal(b); }
static void sp_rw(uint8_t *b, struct model *m, struct ivshm_pci_params *p)
{ RTE_SET_USED(m); RTE_SET_USED(p); hdr_of(b)->rw_section_size = htole64(RW1 - 0x1000); reseal(b); }
static void sp_rw_huge(uint8_t *b, struct model *m, struct ivshm_pci_params *p)
{ RTE_SET_USED(m); RTE_SET_USED(p); hdr_of(b)->rw_section_size = htole64(~0ull - 0xfff); reseal(b); }
static void sp_out_huge(uint8_t *b, struct model *m, struct ivshm_pci_params *p)
{ RTE_SET_USED(m); RTE_SET_USED(p); hdr_of(b)->output_section_size = htole64(1ull << 62); reseal(b); }
static void sp_id(uint8_t *b, struct model *m, struct ivshm_pci_params *p)
{ RTE_SET_USED(b); RTE_SET_USED(p); m->iv_position = 4; }
static void sp_id_huge(uint8_t *b, struct model *m, struct ivshm_pci_params *p)
{ RTE_SET_USED(b); RTE_SET_USED(p); m->iv_position = 0xffffffff; }
static void sp_small_bar2(uint8_t *b, struct model *m, struct ivshm_pci_params *p)
{ RTE_SET_USED(b); RTE_SET_USED(m); p->bar2_len = R1 / 2; }
static void sp_tiny_bar2(uint8_t *b, struct model *m, struct ivshm_pci_params *p)
{ RTE_SET_USED(b); RTE_SET_USED(m); p->bar2_len = 0x800; }
static void sp_bar0(uint8_t *b, struct model *m, struct ivshm_pci_params *p)
{ RTE_SET_USED(b); m->bus.reg_read = NULL; m->bus.reg_write = NULL;
  p->bar0 = b; p->bar0_len = 0x10; }
static void sp_vendor(uint8_t *b, struct model *m, struct ivshm_pci_params *p)
{ RTE_SET_USED(b); RTE_SET_USED(p); put16(m->cfg + 2, 0x1000); }
static void sp_cfg_fail(uint8_t *b, struct model *m, struct ivshm_pci_params *p)
{ RTE_SET_USED(b); RTE_SET_USED(p); m->cfg_fail = 1; }

static void
test_v1_hostile(void)
{
	static const struct v1_case cases[] = {
		{ "bad magic", -EPROTO, sp_magic },
		{ "bad check", -EPROTO, sp_check },
		{ "version 2", -EPROTO, sp_version },
		{ "flags", -EPROTO, sp_flags },
		{ "1 peer", -EINVAL, sp_peers1 },
		{ "1009 peers", -EINVAL, sp_peers_many },
		{ "0 vectors", -EINVAL, sp_vec0 },
		{ "1025 vectors", -EINVAL, sp_vec_many },
		{ "17-bit protocol", -EINVAL, sp_proto },
		{ "region beyond BAR2", -EINVAL, sp_region },
		{ "state table size", -EINVAL, sp_st },
		{ "sections short of the region", -EINVAL, sp_rw },
		{ "R/W size overflow", -EINVAL, sp_rw_huge },
		{ "output size overflow", -EINVAL, sp_out_huge },
		{ "ID = max_peers", -EINVAL, sp_id },
		{ "ID 2^32-1", -EINVAL, sp_id_huge },
		{ "BAR2 smaller than claimed", -EINVAL, sp_small_bar2 },
		{ "BAR2 of 2 KiB", -EINVAL, sp_tiny_bar2 },
		{ "BAR0 of 16 bytes", -EINVAL, sp_bar0 },
		{ "other device", -ENODEV, sp_vendor },
		{ "config read fails", -EIO, sp_cfg_fail },
	};
	uint8_t *bar2 = region(R1);
	unsigned int i;

	for (i = 0; i < RTE_DIM(cases); i++) {
		struct ivshm_pci_params p;
		struct ivshm_dev *dev = (void *)1;
		struct model m;
		int ret;

		memset(bar2, 0, R1);
		model_v1(&m, bar2, 1, 2);
		write_hdr(bar2, 4, 2, 0x4000, R1, RW1, OUT1);
		p = params(&m, R1);
		cases[i].spoil(bar2, &m, &p);
		ret = ivshm_pci_attach(&p, &dev);
		if (ret != cases[i].expect)
			fprintf(stderr, "case '%s'\n", cases[i].what);
		CHECK_EQ(ret, cases[i].expect);
		CHECK(dev == NULL);
	}
	munmap(bar2, R1);
}

static void
test_v1_registers(void)
{
	uint8_t *bar2 = region(R1);
	volatile uint32_t *table = (volatile uint32_t *)bar2;
	struct ivshm_pci_params p;
	struct ivshm_dev_stats st;
	struct ivshm_dev *dev;
	struct model m;

	model_v1(&m, bar2, 1, 2);
	write_hdr(bar2, 4, 2, 0x4000, R1, RW1, OUT1);
	table[1] = 3;		/* left by the previous user of ID 1 */
	p = params(&m, R1);
	CHECK_EQ(ivshm_pci_attach(&p, &dev), 0);
	CHECK_EQ(ivshm_reg_read(dev, IVSHM_REG_STATE), 3);
	/* DOORBELL: (peer << 16) | vector to 0Ch; bad targets never reach
	 * the device */
	ivshm_doorbell(dev, 3, 1);
	ivshm_doorbell(dev, 0, 0);
	ivshm_doorbell(dev, 4, 0);
	ivshm_doorbell(dev, 0, 2);
	ivshm_reg_write(dev, IVSHM_REG_DOORBELL, 0xffffffff);
	CHECK_EQ(m.n_doorbell, 2);
	CHECK_EQ(m.doorbell[0], 0x00030001);
	CHECK_EQ(m.doorbell[1], 0x00000000);
	ivshm_dev_stats_get(dev, &st);
	CHECK_EQ(st.doorbells, 2);
	CHECK_EQ(st.doorbells_absent, 3);
	/* STATE: own entry in BAR2, then vector 0 of every other peer,
	 * only when the value changes */
	m.n_doorbell = 0;
	ivshm_reg_write(dev, IVSHM_REG_STATE, 0);
	CHECK_EQ(table[1], 0);
	CHECK_EQ(m.n_doorbell, 3);
	CHECK_EQ(m.doorbell[0], 0x00000000);
	CHECK_EQ(m.doorbell[1], 0x00020000);
	CHECK_EQ(m.doorbell[2], 0x00030000);
	ivshm_reg_write(dev, IVSHM_REG_STATE, 0);
	CHECK_EQ(m.n_doorbell, 3);
	ivshm_reg_write(dev, IVSHM_REG_STATE, 2);
	CHECK_EQ(table[1], 2);
	CHECK_EQ(ivshm_peer_state(dev, 1), 2);
	CHECK_EQ(m.n_doorbell, 6);
	CHECK_EQ(ivshm_reg_read(dev, IVSHM_REG_STATE), 2);
	/* presence from the table: peer 3 wrote a state, peer 2 none */
	table[3] = 1;
	CHECK(ivshm_peer_present(dev, 3));
	CHECK(!ivshm_peer_present(dev, 2));
	CHECK(ivshm_peer_present(dev, 1));
	/* INT_CTRL and one-shot are emulated: no IntrMask in poll mode */
	ivshm_reg_write(dev, IVSHM_REG_INT_CTRL, 0xff);
	CHECK_EQ(ivshm_reg_read(dev, IVSHM_REG_INT_CTRL), 1);
	CHECK_EQ(m.intr_mask, 0);
	ivshm_vector_raise_local(dev, 1);
	CHECK(fd_readable(ivshm_vector_fd(dev, 1), 0));
	ivshm_set_oneshot(dev, true);
	CHECK_EQ(ivshm_vector_ack(dev, 1), 1);
	CHECK_EQ(ivshm_reg_read(dev, IVSHM_REG_INT_CTRL), 0);
	ivshm_vector_raise_local(dev, 1);
	CHECK_EQ(ivshm_vector_ack(dev, 1), 0);		/* masked, dropped */
	ivshm_dev_stats_get(dev, &st);
	CHECK_EQ(st.irqs_delivered, 1);
	CHECK_EQ(st.irqs_masked, 1);
	CHECK_EQ(ivshm_dev_process(dev), 0);
	ivshm_dev_close(dev);
	munmap(bar2, R1);
}

/* INTx, for a device that raises it (QEMU 7.2's ivshmem-doorbell has
 * MSI-X only and never does; a device without MSI-X capability is
 * modelled here), under uio_pci_generic (the fd yields a 4-byte count)
 * or vfio INTx (an eventfd). */
static void
intx_round(struct ivshm_dev *dev, struct model *m, int line, uint32_t len)
{
	uint64_t one = 1;
	unsigned int sr = m->status_reads, um = m->unmasks;

	m->intr_status = 1;	/* a peer rang: status set, line asserted */
	CHECK_EQ(write(line, &one, len), (ssize_t)len);
	CHECK(fd_readable(ivshm_dev_ctrl_fd(dev), 0));
	CHECK_EQ(ivshm_dev_process(dev), 0);
	CHECK_EQ(m->status_reads, sr + 1);	/* status read, so cleared */
	CHECK_EQ(m->intr_status, 0);
	CHECK_EQ(m->unmasks, um + 1);		/* then the line re-enabled */
	CHECK(!fd_readable(ivshm_dev_ctrl_fd(dev), 0));
	/* one interrupt wakes the state machine and the receiver */
	CHECK(fd_readable(ivshm_vector_fd(dev, 0), 0));
	CHECK(fd_readable(ivshm_vector_fd(dev, 1), 0));
	CHECK_EQ(ivshm_vector_ack(dev, 0), 1);
	CHECK_EQ(ivshm_vector_ack(dev, 1), 1);
	/* nothing pending: no status read, no unmask, no blocking */
	CHECK_EQ(ivshm_dev_process(dev), 0);
	CHECK_EQ(m->status_reads, sr + 1);
	CHECK_EQ(m->unmasks, um + 1);
}

static void
test_v1_intx(void)
{
	uint8_t *bar2 = region(R1);
	struct ivshm_pci_params p;
	struct ivshm_dev *dev;
	struct model m;
	int efd, pfd[2];

	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	CHECK(pipe(pfd) == 0);
	/* MSI-X capability: the device never raises INTx, refused */
	model_v1(&m, bar2, 1, 2);
	write_hdr(bar2, 2, 2, 1, R1, R1 - 0x1000 - 2 * OUT1, OUT1);
	p = params(&m, R1);
	p.irq = IVSHM_PCI_IRQ_INTX;
	p.intx_fd = efd;
	p.intx_read_len = 8;
	CHECK_EQ(ivshm_pci_attach(&p, &dev), -ENOTSUP);
	/* no MSI-X capability: INTx */
	model_v1(&m, bar2, 1, 0);
	CHECK_EQ(ivshm_pci_attach(&p, &dev), 0);
	CHECK_EQ(ivshm_dev_ctrl_fd(dev), efd);
	ivshm_reg_write(dev, IVSHM_REG_INT_CTRL, 1);
	CHECK_EQ(m.intr_mask, 1);		/* INT_CTRL gates the line */
	intx_round(dev, &m, efd, 8);
	intx_round(dev, &m, efd, 8);
	ivshm_reg_write(dev, IVSHM_REG_INT_CTRL, 0);
	CHECK_EQ(m.intr_mask, 0);
	ivshm_dev_close(dev);
	CHECK(fcntl(efd, F_GETFD) >= 0);	/* the driver's: still open */

	/* uio: a 4-byte interrupt count */
	model_v1(&m, bar2, 1, 0);
	p.intx_fd = pfd[0];
	p.intx_read_len = 4;
	CHECK_EQ(ivshm_pci_attach(&p, &dev), 0);
	ivshm_reg_write(dev, IVSHM_REG_INT_CTRL, 1);
	intx_round(dev, &m, pfd[1], 4);
	ivshm_dev_close(dev);
	/* an INTx without a way to re-enable it is refused */
	m.bus.irq_unmask = NULL;
	CHECK_EQ(ivshm_pci_attach(&p, &dev), -EINVAL);
	close(efd);
	close(pfd[0]);
	close(pfd[1]);
	munmap(bar2, R1);
}

static void
test_v1_msix(void)
{
	uint8_t *bar2 = region(R1);
	struct ivshm_pci_params p;
	struct ivshm_dev *dev;
	struct model m;
	int fds[2], v;
	uint64_t one = 1;

	for (v = 0; v < 2; v++)
		fds[v] = eventfd(0, EFD_CLOEXEC);	/* made non-blocking */
	model_v1(&m, bar2, 0, 2);
	write_hdr(bar2, 2, 2, 1, R1, R1 - 0x1000 - 2 * OUT1, OUT1);
	p = params(&m, R1);
	p.irq = IVSHM_PCI_IRQ_MSIX;
	p.msix_fd = fds;
	p.n_msix_fd = 2;
	CHECK_EQ(ivshm_pci_attach(&p, &dev), 0);
	CHECK_EQ(ivshm_vector_fd(dev, 0), fds[0]);
	CHECK_EQ(ivshm_vector_fd(dev, 1), fds[1]);
	CHECK_EQ(ivshm_dev_ctrl_fd(dev), -1);
	ivshm_reg_write(dev, IVSHM_REG_INT_CTRL, 1);
	CHECK_EQ(m.intr_mask, 0);	/* MSI-X: IntrMask stays untouched */
	CHECK_EQ(ivshm_vector_ack(dev, 1), 0);		/* nothing, no block */
	CHECK_EQ(write(fds[1], &one, 8), 8);		/* vfio signals */
	CHECK_EQ(ivshm_vector_ack(dev, 1), 1);
	CHECK(!fd_readable(fds[0], 0));
	ivshm_dev_close(dev);
	CHECK(fcntl(fds[0], F_GETFD) >= 0);		/* not ours: open */
	/* fewer vectors than the server gives: refused, clearly */
	model_v1(&m, bar2, 0, 1);
	CHECK_EQ(ivshm_pci_attach(&p, &dev), -EINVAL);
	model_v1(&m, bar2, 0, 2);
	p.n_msix_fd = 1;
	CHECK_EQ(ivshm_pci_attach(&p, &dev), -EINVAL);
	close(fds[0]);
	close(fds[1]);
	munmap(bar2, R1);
}

/* ---- 110a:4106 ---- */

#define R2 (0x1000 + 0x2000 + 2 * 0x4000)

static void
test_v2(void)
{
	uint8_t *bar2 = region(R2);
	volatile uint32_t *table = (volatile uint32_t *)bar2;
	const struct ivshm_info *in;
	struct ivshm_pci_params p;
	struct ivshm_dev *dev;
	struct model m;
	int fds[4], v;
	uint64_t one = 1;

	for (v = 0; v < 4; v++)
		fds[v] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	model_v2(&m, bar2, 1, 2, 0x2000, 0x4000, 4);
	p = params(&m, R2);
	p.irq = IVSHM_PCI_IRQ_MSIX;
	p.msix_fd = fds;
	p.n_msix_fd = 4;
	CHECK_EQ(ivshm_pci_attach(&p, &dev), 0);
	in = ivshm_dev_info(dev);
	CHECK_EQ(in->id, 1);
	CHECK_EQ(in->max_peers, 2);
	CHECK_EQ(in->vectors, 4);		/* MSI-X table size */
	CHECK_EQ(in->protocol, 0x0001);		/* class code */
	CHECK_EQ(in->state_table_size, 0x1000);
	CHECK_EQ(in->rw_section_size, 0x2000);
	CHECK_EQ(in->output_section_offset, 0x3000);
	CHECK_EQ(in->region_size, R2);
	CHECK(strcmp(in->transport, "pci-110a:4106") == 0);
	CHECK((uint8_t *)ivshm_own_section(dev) == bar2 + 0x3000 + 0x4000);
	/* registers pass through; the device writes the table */
	CHECK_EQ(ivshm_reg_read(dev, IVSHM_REG_ID), 1);
	CHECK_EQ(ivshm_reg_read(dev, IVSHM_REG_MAX_PEERS), 2);
	ivshm_reg_write(dev, IVSHM_REG_STATE, 2);
	CHECK_EQ(m.state, 2);
	CHECK_EQ(table[1], 2);
	CHECK_EQ(m.n_doorbell, 0);		/* the device notifies */
	ivshm_reg_write(dev, IVSHM_REG_INT_CTRL, 3);
	CHECK_EQ(m.int_ctrl, 1);
	CHECK_EQ(ivshm_reg_read(dev, IVSHM_REG_INT_CTRL), 1);
	ivshm_doorbell(dev, 0, 3);
	ivshm_doorbell(dev, 0, 4);		/* no such vector */
	ivshm_doorbell(dev, 2, 0);		/* no such peer */
	CHECK_EQ(m.n_doorbell, 1);
	CHECK_EQ(m.doorbell[0], 0x00000003);
	CHECK_EQ(ivshm_reg_read(dev, 0x0c), 0);	/* write-only */
	CHECK_EQ(ivshm_reg_read(dev, 0x40), 0);	/* unbacked */
	/* one-shot lives in the capability's privileged control byte */
	ivshm_set_oneshot(dev, true);
	CHECK_EQ(m.cfg[0x43], 1);
	ivshm_set_oneshot(dev, false);
	CHECK_EQ(m.cfg[0x43], 0);
	CHECK_EQ(write(fds[2], &one, 8), 8);
	CHECK_EQ(ivshm_vector_ack(dev, 2), 1);
	ivshm_dev_close(dev);
	for (v = 0; v < 4; v++)
		close(fds[v]);
	munmap(bar2, R2);
}

static void
v2_expect(struct model *m, uint64_t bar2_len, int expect,
		const char *what)
{
	struct ivshm_pci_params p = params(m, bar2_len);
	struct ivshm_dev *dev = (void *)1;
	int ret = ivshm_pci_attach(&p, &dev);

	if (ret != expect)
		fprintf(stderr, "v2 case '%s'\n", what);
	CHECK_EQ(ret, expect);
	if (ret == 0)
		ivshm_dev_close(dev);
	else
		CHECK(dev == NULL);
}

static void
test_v2_hostile(void)
{
	uint8_t *bar2 = region(R2);
	struct ivshm_pci_caps c;
	struct model m;

#define FRESH() model_v2(&m, bar2, 0, 2, 0x2000, 0x4000, 2)
	FRESH();
	v2_expect(&m, R2, 0, "good");
	CHECK_EQ(ivshm_pci_probe_caps(&m.bus, &c), 0);
	CHECK_EQ(c.vendor_cap, 0x40);
	CHECK_EQ(c.vendor_cap_len, 0x18);
	CHECK(c.has_msix && c.msix_vectors == 2);
	FRESH(); m.cfg[0x41] = 0x40;			/* loop onto itself */
	v2_expect(&m, R2, -EINVAL, "capability loop");
	FRESH(); m.cfg[0x61] = 0x40;			/* longer loop */
	v2_expect(&m, R2, -EINVAL, "capability cycle");
	FRESH(); m.cfg[0x41] = 0x20;			/* into the header */
	v2_expect(&m, R2, -EINVAL, "pointer below 0x40");
	FRESH(); m.cfg[0x41] = 0x63;			/* low bits masked */
	v2_expect(&m, R2, 0, "pointer with reserved bits");
	FRESH(); m.cfg[0x34] = 0xff; m.cfg[0xfc] = 0x09; m.cfg[0xfe] = 0x18;
	v2_expect(&m, R2, -EINVAL, "vendor capability at 0xfc");
	FRESH(); m.cfg[0x42] = 0x10;
	v2_expect(&m, R2, -EINVAL, "vendor capability too short");
	FRESH(); m.cfg[0x40] = 0x0a;
	v2_expect(&m, R2, -EINVAL, "no vendor capability");
	FRESH(); put16(m.cfg + 6, 0);
	v2_expect(&m, R2, -EINVAL, "no capability list");
	FRESH(); put32(m.cfg + 0x44, 4);
	v2_expect(&m, R2, -EINVAL, "state table too small");
	FRESH(); put64(m.cfg + 0x50, 1ull << 63);
	v2_expect(&m, R2, -EINVAL, "output size overflow");
	FRESH(); put64(m.cfg + 0x48, ~0ull);
	v2_expect(&m, R2, -EINVAL, "R/W size overflow");
	FRESH(); put32(m.cfg + 0x44, 0xffffffff);
	v2_expect(&m, R2, -EINVAL, "state table beyond BAR2");
	FRESH();
	v2_expect(&m, R2 - 1, -EINVAL, "region beyond BAR2");
	FRESH(); m.id = 2;
	v2_expect(&m, R2, -EINVAL, "ID = max_peers");
	FRESH(); m.max_peers = 1;
	v2_expect(&m, R2, -EINVAL, "1 peer");
	FRESH(); m.max_peers = 65537;
	v2_expect(&m, R2, -EINVAL, "65537 peers");
	FRESH(); m.cfg[0x42] = IVSHM_V2_CAP_LEN_BASE;
	{
		struct ivshm_pci_params p = params(&m, 0);
		struct ivshm_dev *dev;

		p.bar2 = NULL;		/* base-address-only device */
		CHECK_EQ(ivshm_pci_attach(&p, &dev), -ENOTSUP);
	}
	FRESH(); m.cfg_fail = 1;
	v2_expect(&m, R2, -EIO, "config read fails");
#undef FRESH
	munmap(bar2, R2);
}

/* ---- ivshmem-net over two modelled 1af4:1110 devices ---- */

#define RN 0x800000ull
#define OUTN 0x200000ull

static int
net_pair_poll(struct ivshm_net *a, struct ivshm_net *b, bool want_up)
{
	struct ivshm_net_link la, lb;
	int i;

	for (i = 0; i < 100; i++) {
		ivshm_net_ctrl_poll(a);
		ivshm_net_ctrl_poll(b);
		ivshm_net_link_get(a, &la);
		ivshm_net_link_get(b, &lb);
		if (la.up == want_up && lb.up == want_up)
			return 0;
	}
	return -1;
}

/* Two net ports over one emulated v1 BAR2 (peer IDs 0 and 1): attached,
 * created and their receivers set up, not started. */
static void
net_pair_open(uint8_t *bar2, struct rte_mempool *mp, struct model *ma,
	struct model *mb, struct ivshm_dev **da, struct ivshm_dev **db,
	struct ivshm_net **a, struct ivshm_net **b)
{
	struct ivshm_pci_params p;

	write_hdr(bar2, 2, 2, IVSHM_PROTO_NET, RN, RN - 0x1000 - 2 * OUTN,
		OUTN);
	model_v1(ma, bar2, 0, 2);
	model_v1(mb, bar2, 1, 2);
	p = params(ma, RN);
	CHECK_EQ(ivshm_pci_attach(&p, da), 0);
	p = params(mb, RN);
	CHECK_EQ(ivshm_pci_attach(&p, db), 0);
	CHECK_EQ(ivshm_net_create(*da, NULL, a), 0);
	CHECK_EQ(ivshm_net_create(*db, NULL, b), 0);
	CHECK_EQ(ivshm_net_rx_setup(*a, mp), 0);
	CHECK_EQ(ivshm_net_rx_setup(*b, mp), 0);
}

static void
test_net_over_v1(struct rte_mempool *mp)
{
	uint8_t *bar2 = region(RN);
	struct ivshm_dev *da, *db;
	struct ivshm_net *a, *b;
	struct rte_mbuf *tx[8], *rx[8];
	struct ivshm_net_stats sa, sb;
	struct ivshm_net_link la;
	struct model ma, mb;
	unsigned int i, got = 0;
	int tries;

	net_pair_open(bar2, mp, &ma, &mb, &da, &db, &a, &b);
	CHECK_EQ(ivshm_net_start(a), 0);
	CHECK_EQ(ivshm_net_start(b), 0);
	/* the state machine runs over the emulated State register */
	CHECK_EQ(net_pair_poll(a, b, true), 0);
	CHECK_EQ(((volatile uint32_t *)bar2)[0], IVSHM_NET_STATE_RUN);
	CHECK_EQ(((volatile uint32_t *)bar2)[1], IVSHM_NET_STATE_RUN);
	CHECK(ma.n_doorbell > 0 && (ma.doorbell[0] >> 16) == 1);
	for (i = 0; i < 8; i++) {
		tx[i] = rte_pktmbuf_alloc(mp);
		memset(rte_pktmbuf_append(tx[i], 60 + i), 0xa0 + i, 60 + i);
	}
	CHECK_EQ(ivshm_net_tx_burst(a, tx, 8), 8);
	rte_pktmbuf_free_bulk(tx, 8);
	for (tries = 0; tries < 100 && got < 8; tries++)
		got += ivshm_net_rx_burst(b, rx + got, 8 - got);
	CHECK_EQ(got, 8);
	for (i = 0; i < got; i++) {
		CHECK_EQ(rx[i]->pkt_len, 60 + i);
		CHECK_EQ(rte_pktmbuf_mtod(rx[i], uint8_t *)[59], 0xa0 + i);
		rte_pktmbuf_free(rx[i]);
	}
	ivshm_net_stats_get(a, &sa);
	ivshm_net_stats_get(b, &sb);
	CHECK_EQ(sa.tx_frames, 8);
	CHECK_EQ(sb.rx_frames, 8);
	/* b goes away: its close writes RESET, a follows */
	ivshm_net_close(b);
	ivshm_dev_close(db);
	CHECK_EQ(((volatile uint32_t *)bar2)[1], IVSHM_NET_STATE_RESET);
	for (tries = 0; tries < 10; tries++) {
		ivshm_net_ctrl_poll(a);
		ivshm_net_link_get(a, &la);
		if (!la.up)
			break;
	}
	CHECK(!la.up);
	ivshm_net_close(a);
	ivshm_dev_close(da);
	munmap(bar2, RN);
}

static void
fd_drain(int fd)
{
	uint64_t v;

	while (fd_readable(fd, 0) && read(fd, &v, sizeof(v)) == sizeof(v))
		;
}

/* A receiver arms its rx interrupt while its link is not running yet (the
 * peer's state machine is ahead: it sleeps at once), then the link comes
 * up: it must be woken to arm on the running link, or the peer's first
 * frames ring no doorbell and it sleeps on forever. */
static void
test_net_arm_before_run(struct rte_mempool *mp)
{
	uint8_t *bar2 = region(RN);
	struct ivshm_dev *da, *db;
	struct ivshm_net *a, *b;
	struct ivshm_net_link lb;
	struct ivshm_net_stats sa, sb;
	struct rte_mbuf *m, *rx[4];
	struct model ma, mb;
	int fd, i;

	net_pair_open(bar2, mp, &ma, &mb, &da, &db, &a, &b);
	fd = ivshm_net_rx_intr_fd(b);
	CHECK(fd >= 0);
	/* a runs; b, not started yet, stops in READY (fresh rings, event
	 * index parked: nobody had armed) */
	CHECK_EQ(ivshm_net_start(a), 0);
	for (i = 0; i < 10; i++) {
		ivshm_net_ctrl_poll(a);
		ivshm_net_ctrl_poll(b);
	}
	ivshm_net_link_get(b, &lb);
	CHECK_EQ(lb.own_state, IVSHM_NET_STATE_READY);
	CHECK(!lb.up);
	/* b's receiver finds nothing, arms, and would sleep now */
	CHECK_EQ(ivshm_net_rx_burst(b, rx, 4), 0);
	fd_drain(fd);
	CHECK_EQ(ivshm_net_rx_intr_enable(b), 0);
	CHECK(!fd_readable(fd, 0));
	/* the link comes up: the sleeper is woken at once */
	CHECK_EQ(ivshm_net_start(b), 0);
	CHECK_EQ(net_pair_poll(a, b, true), 0);
	CHECK(fd_readable(fd, 0));
	/* woken, it polls and arms again, now on the running link: a's
	 * frame rings b's doorbell (vector 1) */
	CHECK_EQ(ivshm_net_rx_intr_disable(b), 0);
	fd_drain(fd);
	CHECK_EQ(ivshm_net_rx_burst(b, rx, 4), 0);
	CHECK_EQ(ivshm_net_rx_intr_enable(b), 0);
	ma.n_doorbell = 0;
	m = rte_pktmbuf_alloc(mp);
	memset(rte_pktmbuf_append(m, 64), 0x5a, 64);
	CHECK_EQ(ivshm_net_tx_burst(a, &m, 1), 1);
	rte_pktmbuf_free(m);
	CHECK_EQ(ma.n_doorbell, 1);
	CHECK_EQ(ma.doorbell[0], (1u << 16) | 1);
	ivshm_net_stats_get(a, &sa);
	CHECK_EQ(sa.tx_kicks, 1);
	CHECK_EQ(sa.tx_kicks_suppressed, 0);
	CHECK_EQ(ivshm_net_rx_intr_disable(b), 0);
	CHECK_EQ(ivshm_net_rx_burst(b, rx, 4), 1);
	rte_pktmbuf_free(rx[0]);
	ivshm_net_stats_get(b, &sb);
	CHECK_EQ(sb.rx_frames, 1);
	CHECK_EQ(sb.rx_wakeups, 2);
	ivshm_net_close(b);
	ivshm_dev_close(db);
	ivshm_net_close(a);
	ivshm_dev_close(da);
	munmap(bar2, RN);
}

int
main(int argc, char **argv)
{
	struct rte_mempool *mp;

	test_v1_attach();
	test_v1_hostile();
	test_v1_registers();
	test_v1_intx();
	test_v1_msix();
	test_v2();
	test_v2_hostile();
	if (rte_eal_init(argc, argv) < 0) {
		fprintf(stderr, "EAL init failed\n");
		return 2;
	}
	mp = rte_pktmbuf_pool_create("pci", 2047, 64, 0,
		RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (mp == NULL) {
		fprintf(stderr, "no mempool\n");
		return 2;
	}
	test_net_over_v1(mp);
	test_net_arm_before_run(mp);
	rte_eal_cleanup();
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("test_pci: all checks passed\n");
	return 0;
}
