/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * PCI transport of the ivshmem v2 device (see ivshm_pci.h): 110a:4106
 * with its registers and vendor capability, and 1af4:1110 (QEMU's
 * ivshmem-doorbell) with the v2 semantics it lacks kept in software.
 *
 * Attach reads config space and the layout exactly once, checks every
 * value against what the driver mapped, then only trusts its own copy.
 * Register accesses are aligned 32-bit, through the bus driver's
 * accessors or directly on the mapped BAR0.
 */

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include <rte_io.h>

#include "ivshm_pci.h"
#include "ivshm_transport.h"
#include "ivshm_log.h"

#define PCI_STATUS		0x06
#define PCI_STATUS_CAP_LIST	0x10
#define PCI_CLASS_PROG		0x09	/* v2: protocol bits 0-7 */
#define PCI_CLASS_SUB		0x0a	/* v2: protocol bits 8-15 */
#define PCI_CAP_PTR		0x34
#define PCI_INTR_PIN		0x3d
#define PCI_CFG_STD_END		0x100	/* capabilities live below */
#define PCI_CAP_ID_VNDR		0x09
#define PCI_CAP_ID_MSIX		0x11
#define PCI_MSIX_FLAGS		0x02	/* table size - 1 in bits 0-10 */
#define PCI_CAP_WALK_MAX	48	/* (256 - 64) / 4: more is a loop */

struct pci_dev {
	struct ivshm_dev dev;		/* first: the public handle */
	struct ivshm_pci_bus bus;
	volatile uint8_t *bar0;
	bool v2;
	enum ivshm_pci_irq irq;
	int intx_fd;
	uint32_t intx_read_len;
	bool own_vec_fds;		/* local eventfds (NONE, INTX) */
	uint8_t vcap;			/* v2 vendor capability offset */
	/* 1af4:1110: registers the device lacks */
	uint32_t int_ctrl;
	uint32_t state;
	bool oneshot;
	volatile uint32_t *state_rw;	/* the table, inside BAR2 */
};

static inline struct pci_dev *
pdev(struct ivshm_dev *dev)
{
	return (struct pci_dev *)dev;
}

static void
count(uint64_t *c)
{
	__atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
}

/* ---- register and config space access ---- */

static inline uint32_t
rd32(struct pci_dev *p, uint32_t off)
{
	if (p->bus.reg_read != NULL)
		return p->bus.reg_read(p->bus.ctx, off);
	return rte_read32(p->bar0 + off);
}

static inline void
wr32(struct pci_dev *p, uint32_t off, uint32_t val)
{
	if (p->bus.reg_write != NULL)
		p->bus.reg_write(p->bus.ctx, off, val);
	else
		rte_write32(val, p->bar0 + off);	/* after prior stores */
}

static int
cfg_rd(const struct ivshm_pci_bus *bus, void *buf, uint32_t len, uint32_t off)
{
	if (bus->cfg_read(bus->ctx, buf, len, off) != 0) {
		IVSHM_LOG(ERR, "pci: cannot read %u config byte(s) at 0x%x",
			len, off);
		return -EIO;
	}
	return 0;
}

static int
cfg_u8(const struct ivshm_pci_bus *bus, uint32_t off, uint8_t *v)
{
	return cfg_rd(bus, v, 1, off);
}

static int
cfg_u16(const struct ivshm_pci_bus *bus, uint32_t off, uint16_t *v)
{
	int ret = cfg_rd(bus, v, 2, off);

	*v = le16toh(*v);
	return ret;
}

static int
cfg_u32(const struct ivshm_pci_bus *bus, uint32_t off, uint32_t *v)
{
	int ret = cfg_rd(bus, v, 4, off);

	*v = le32toh(*v);
	return ret;
}

static int
cfg_u64(const struct ivshm_pci_bus *bus, uint32_t off, uint64_t *v)
{
	uint32_t lo = 0, hi = 0;
	int ret = cfg_u32(bus, off, &lo);

	if (ret == 0)
		ret = cfg_u32(bus, off + 4, &hi);
	*v = (uint64_t)hi << 32 | lo;
	return ret;
}

/* ---- capabilities ---- */

static int
cap_seen(const struct ivshm_pci_bus *bus, struct ivshm_pci_caps *c,
		uint8_t id, uint8_t pos)
{
	uint16_t flags;
	uint8_t len;

	if (id == PCI_CAP_ID_MSIX && !c->has_msix) {
		if (pos > PCI_CFG_STD_END - 4 ||
				cfg_u16(bus, pos + PCI_MSIX_FLAGS, &flags) != 0)
			return -EIO;
		c->has_msix = 1;
		c->msix_vectors = (flags & 0x7ff) + 1;
	} else if (id == PCI_CAP_ID_VNDR && c->vendor_cap == 0) {
		if (cfg_u8(bus, pos + 2, &len) != 0)
			return -EIO;
		c->vendor_cap = pos;
		c->vendor_cap_len = len;
	}
	return 0;
}

/* Walk the capability list: pointers masked to dwords, inside the
 * standard header's capability area, at most PCI_CAP_WALK_MAX of them. */
static int
walk_caps(const struct ivshm_pci_bus *bus, struct ivshm_pci_caps *c)
{
	uint16_t status;
	uint8_t pos, id, n;

	if (cfg_u16(bus, PCI_STATUS, &status) != 0)
		return -EIO;
	if (!(status & PCI_STATUS_CAP_LIST))
		return 0;
	if (cfg_u8(bus, PCI_CAP_PTR, &pos) != 0)
		return -EIO;
	for (n = 0; pos != 0; n++) {
		pos &= 0xfc;
		if (pos < 0x40 || n >= PCI_CAP_WALK_MAX) {
			IVSHM_LOG(ERR, "pci: broken capability list (pointer "
				"0x%02x after %u entries)", pos, n);
			return -EINVAL;
		}
		if (cfg_u8(bus, pos, &id) != 0 || cap_seen(bus, c, id, pos) ||
				cfg_u8(bus, pos + 1, &pos) != 0)
			return -EIO;
	}
	return 0;
}

int
ivshm_pci_probe_caps(const struct ivshm_pci_bus *bus,
		struct ivshm_pci_caps *c)
{
	int ret;

	memset(c, 0, sizeof(*c));
	if (bus == NULL || bus->cfg_read == NULL)
		return -EINVAL;
	ret = cfg_u16(bus, 0, &c->vendor_id);
	if (ret == 0)
		ret = cfg_u16(bus, 2, &c->device_id);
	if (ret == 0)
		ret = cfg_u8(bus, PCI_INTR_PIN, &c->intx_pin);
	if (ret == 0)
		ret = walk_caps(bus, c);
	return ret;
}

/* ---- layout ---- */

/* Sections against the region the driver mapped: overflow-checked. */
static int
layout_check(struct ivshm_info *in, uint64_t mapped)
{
	uint64_t outs;

	if (in->max_peers < IVSHM_MIN_PEERS || in->max_peers > IVSHM_MAX_PEERS ||
			in->id >= in->max_peers) {
		IVSHM_LOG(ERR, "pci: ID %u / max_peers %u out of range", in->id,
			in->max_peers);
		return -EINVAL;
	}
	if (in->vectors < 1 || in->vectors > IVSHM_MAX_VECTORS ||
			in->protocol > 0xffff) {
		IVSHM_LOG(ERR, "pci: %u vectors, protocol 0x%x out of range",
			in->vectors, in->protocol);
		return -EINVAL;
	}
	if (in->state_table_size < (uint64_t)in->max_peers * 4 ||
			in->output_section_size > mapped / in->max_peers) {
		IVSHM_LOG(ERR, "pci: state table 0x%llx for %u peers, or %u "
			"output sections of 0x%llx in 0x%llx bytes",
			(unsigned long long)in->state_table_size, in->max_peers,
			in->max_peers,
			(unsigned long long)in->output_section_size,
			(unsigned long long)mapped);
		return -EINVAL;
	}
	outs = in->output_section_size * in->max_peers;
	if (in->state_table_size > mapped || in->rw_section_size > mapped ||
			in->state_table_size + in->rw_section_size >
			mapped - outs) {
		IVSHM_LOG(ERR, "pci: state table 0x%llx + R/W 0x%llx + output "
			"sections 0x%llx exceed the 0x%llx-byte BAR2",
			(unsigned long long)in->state_table_size,
			(unsigned long long)in->rw_section_size,
			(unsigned long long)outs, (unsigned long long)mapped);
		return -EINVAL;
	}
	in->rw_section_offset = in->state_table_size;
	in->output_section_offset = in->state_table_size + in->rw_section_size;
	in->region_size = in->output_section_offset + outs;
	return 0;
}

/* Copy the header out of BAR2 once (32-bit reads); validate the copy. */
static int
v1_read_hdr(const struct ivshm_pci_params *prm, struct ivshm_info *in)
{
	const volatile uint32_t *src = (const volatile uint32_t *)
		((const volatile uint8_t *)prm->bar2 + IVSHM_HDR_OFFSET);
	uint32_t w[sizeof(struct ivshm_shm_hdr) / 4];
	struct ivshm_shm_hdr h;
	unsigned int i;

	if (prm->bar2_len < 4096) {
		IVSHM_LOG(ERR, "pci: BAR2 of 0x%llx bytes holds no layout",
			(unsigned long long)prm->bar2_len);
		return -EINVAL;
	}
	for (i = 0; i < RTE_DIM(w); i++)
		w[i] = src[i];
	memcpy(&h, w, sizeof(h));
	if (le32toh(h.magic) != IVSHM_HDR_MAGIC ||
			le32toh(h.check) != ivshm_hdr_check(&h)) {
		IVSHM_LOG(ERR, "pci: no valid layout header in BAR2 (magic "
			"0x%08x): is the device served by ivshmem2-server -Q?",
			le32toh(h.magic));
		return -EPROTO;
	}
	if (le32toh(h.version) != IVSHM_HDR_VERSION || h.flags != 0) {
		IVSHM_LOG(ERR, "pci: layout header version %u flags 0x%x; this "
			"peer knows version %u", le32toh(h.version),
			le32toh(h.flags), IVSHM_HDR_VERSION);
		return -EPROTO;
	}
	in->max_peers = le32toh(h.max_peers);
	in->vectors = le32toh(h.vectors);
	in->protocol = le32toh(h.protocol);
	in->state_table_size = le64toh(h.state_table_size);
	in->rw_section_size = le64toh(h.rw_section_size);
	in->output_section_size = le64toh(h.output_section_size);
	in->region_size = le64toh(h.region_size);
	if (in->max_peers > IVSHM_HDR_MAX_PEERS || in->region_size >
			prm->bar2_len || in->state_table_size !=
			ivshm_state_table_size(in->max_peers)) {
		IVSHM_LOG(ERR, "pci: layout header: %u peers, region 0x%llx "
			"(BAR2 0x%llx), state table 0x%llx", in->max_peers,
			(unsigned long long)in->region_size,
			(unsigned long long)prm->bar2_len,
			(unsigned long long)in->state_table_size);
		return -EINVAL;
	}
	return 0;
}

static int
attach_v1(struct pci_dev *p, const struct ivshm_pci_params *prm)
{
	struct ivshm_info *in = &p->dev.info;
	uint64_t claimed;
	int ret;

	if ((prm->bar0 == NULL && prm->bus->reg_read == NULL) ||
			prm->bar2 == NULL)
		return -EINVAL;
	if (prm->bar0 != NULL && prm->bar0_len < IVSHM_V1_BAR0_LEN) {
		IVSHM_LOG(ERR, "pci: BAR0 of 0x%llx bytes, expected 0x%x",
			(unsigned long long)prm->bar0_len, IVSHM_V1_BAR0_LEN);
		return -EINVAL;
	}
	ret = v1_read_hdr(prm, in);
	if (ret != 0)
		return ret;
	claimed = in->region_size;
	in->id = rd32(p, IVSHM_V1_REG_IV_POSITION);
	ret = layout_check(in, prm->bar2_len);
	if (ret != 0)
		return ret;
	if (in->region_size != claimed) {
		IVSHM_LOG(ERR, "pci: layout header region 0x%llx, sections add "
			"up to 0x%llx", (unsigned long long)claimed,
			(unsigned long long)in->region_size);
		return -EINVAL;
	}
	in->protocol = ivshm_protocol_of_peer(in->protocol, in->id);
	in->transport = "pci-1af4:1110";
	p->state_rw = (volatile uint32_t *)prm->bar2;
	/* a stale entry (a previous user of this ID) counts as our state, so
	 * that our first State write tells the peers */
	p->state = p->state_rw[in->id];
	return 0;
}

static int
attach_v2(struct pci_dev *p, const struct ivshm_pci_params *prm,
		const struct ivshm_pci_caps *c)
{
	const struct ivshm_pci_bus *bus = prm->bus;
	struct ivshm_info *in = &p->dev.info;
	uint32_t st = 0;
	uint8_t lo = 0, hi = 0;
	int ret;

	if (c->vendor_cap == 0 || c->vendor_cap_len < IVSHM_V2_CAP_LEN ||
			c->vendor_cap > PCI_CFG_STD_END - IVSHM_V2_CAP_LEN) {
		IVSHM_LOG(ERR, "pci: no usable ivshmem v2 vendor capability "
			"(offset 0x%x, length 0x%x)", c->vendor_cap,
			c->vendor_cap_len);
		return -EINVAL;
	}
	if (prm->bar2 == NULL) {
		IVSHM_LOG(ERR, "pci: no BAR2: a region at a fixed base address "
			"cannot be mapped from user space");
		return -ENOTSUP;
	}
	if (prm->bar0 != NULL && prm->bar0_len < IVSHM_REG_STATE + 4)
		return -EINVAL;
	p->vcap = c->vendor_cap;
	ret = cfg_u32(bus, p->vcap + IVSHM_V2_CAP_STATE_TABLE_SIZE, &st);
	if (ret == 0)
		ret = cfg_u64(bus, p->vcap + IVSHM_V2_CAP_RW_SIZE,
			&in->rw_section_size);
	if (ret == 0)
		ret = cfg_u64(bus, p->vcap + IVSHM_V2_CAP_OUTPUT_SIZE,
			&in->output_section_size);
	if (ret == 0)
		ret = cfg_u8(bus, PCI_CLASS_PROG, &lo);
	if (ret == 0)
		ret = cfg_u8(bus, PCI_CLASS_SUB, &hi);
	if (ret != 0)
		return ret;
	in->state_table_size = st;
	in->protocol = (uint32_t)hi << 8 | lo;
	in->id = rd32(p, IVSHM_REG_ID);
	in->max_peers = rd32(p, IVSHM_REG_MAX_PEERS);
	in->vectors = c->has_msix ? c->msix_vectors : 1;
	in->transport = "pci-110a:4106";
	p->v2 = true;
	return layout_check(in, prm->bar2_len);
}

/* ---- interrupts ---- */

static int
local_fds(struct pci_dev *p)
{
	uint32_t v;

	p->own_vec_fds = true;
	for (v = 0; v < p->dev.info.vectors; v++) {
		p->dev.vec_fd[v] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (p->dev.vec_fd[v] < 0)
			return -errno;
	}
	return 0;
}

static int
setup_irq(struct pci_dev *p, const struct ivshm_pci_params *prm,
		const struct ivshm_pci_caps *c)
{
	struct ivshm_dev *dev = &p->dev;
	uint32_t v, V = dev->info.vectors;

	p->irq = prm->irq;
	p->intx_fd = -1;
	dev->ctrl_fd = -1;
	switch (prm->irq) {
	case IVSHM_PCI_IRQ_MSIX:
		if (prm->msix_fd == NULL || prm->n_msix_fd < V ||
				!c->has_msix || c->msix_vectors < V) {
			IVSHM_LOG(ERR, "pci: %u vector(s) needed, the device "
				"has %u MSI-X vector(s) (%u fds): give QEMU's "
				"ivshmem-doorbell vectors=%u", V,
				c->has_msix ? c->msix_vectors : 0,
				prm->n_msix_fd, V);
			return -EINVAL;
		}
		for (v = 0; v < V; v++) {
			int fl = fcntl(prm->msix_fd[v], F_GETFL);

			if (fl < 0 || fcntl(prm->msix_fd[v], F_SETFL,
					fl | O_NONBLOCK) != 0)
				return -EBADF;
			dev->vec_fd[v] = prm->msix_fd[v];
		}
		return 0;
	case IVSHM_PCI_IRQ_INTX:
		if (!p->v2 && c->has_msix) {
			/* QEMU's ivshmem-doorbell signals with MSI-X only: a
			 * doorbell to a guest without MSI-X enabled is lost */
			IVSHM_LOG(ERR, "pci: INTx (uio_pci_generic?), but this "
				"ivshmem-doorbell signals with MSI-X only and "
				"never raises INTx: bind it to vfio-pci for "
				"doorbells, or poll");
			return -ENOTSUP;
		}
		if (prm->intx_fd < 0 || prm->intx_read_len == 0 ||
				prm->intx_read_len > 8 ||
				prm->bus->irq_unmask == NULL)
			return -EINVAL;
		p->intx_fd = prm->intx_fd;
		p->intx_read_len = prm->intx_read_len;
		dev->ctrl_fd = prm->intx_fd;
		return local_fds(p);
	case IVSHM_PCI_IRQ_NONE:
		return local_fds(p);
	}
	return -EINVAL;
}

/* INTx: consume the line's event, clear the device's status (1af4:1110
 * reads clear it), re-enable the line, then wake every local vector. */
static unsigned int
pci_process(struct ivshm_dev *dev)
{
	struct pci_dev *p = pdev(dev);
	struct pollfd pfd = { .fd = p->intx_fd, .events = POLLIN };
	uint8_t buf[8];
	uint64_t one = 1;
	uint32_t v;

	if (p->irq != IVSHM_PCI_IRQ_INTX || poll(&pfd, 1, 0) != 1)
		return 0;
	if (read(p->intx_fd, buf, p->intx_read_len) !=
			(ssize_t)p->intx_read_len)
		return 0;
	if (!p->v2)
		(void)rd32(p, IVSHM_V1_REG_INTR_STATUS);
	if (p->bus.irq_unmask(p->bus.ctx) != 0)
		IVSHM_LOG(ERR, "pci: cannot re-enable INTx");
	for (v = 0; v < dev->info.vectors; v++)
		if (write(dev->vec_fd[v], &one, sizeof(one)) < 0 &&
				errno != EAGAIN)
			IVSHM_LOG(DEBUG, "pci: raise vector %u: %d", v, errno);
	return 0;
}

static int
pci_vector_ack(struct ivshm_dev *dev, uint32_t vec)
{
	struct pci_dev *p = pdev(dev);
	uint64_t cnt;

	if (read(dev->vec_fd[vec], &cnt, sizeof(cnt)) != sizeof(cnt))
		return 0;
	if (!p->v2) {
		/* 1af4:1110 has no delivery gate: emulate INT_CTRL */
		if (!(__atomic_load_n(&p->int_ctrl, __ATOMIC_ACQUIRE) &
				IVSHM_INT_ENABLE)) {
			count(&dev->stats.irqs_masked);
			return 0;
		}
		if (p->oneshot)
			__atomic_and_fetch(&p->int_ctrl,
				~(uint32_t)IVSHM_INT_ENABLE, __ATOMIC_RELEASE);
	}
	count(&dev->stats.irqs_delivered);
	return 1;
}

/* ---- registers ---- */

static void
pci_doorbell(struct pci_dev *p, uint32_t val)
{
	struct ivshm_dev *dev = &p->dev;

	if ((val >> 16) >= dev->info.max_peers ||
			(val & 0xffff) >= dev->info.vectors) {
		count(&dev->stats.doorbells_absent);
		return;
	}
	wr32(p, p->v2 ? IVSHM_REG_DOORBELL : IVSHM_V1_REG_DOORBELL, val);
	count(&dev->stats.doorbells);
}

/* 1af4:1110 State: own table entry, then vector 0 of every other peer
 * when it changed (absent peers' doorbells are ignored by the device). */
static void
v1_state(struct pci_dev *p, uint32_t val)
{
	const struct ivshm_info *in = &p->dev.info;
	uint32_t t;

	__atomic_store_n(&p->state_rw[in->id], val, __ATOMIC_SEQ_CST);
	if (val == p->state)
		return;
	p->state = val;
	for (t = 0; t < in->max_peers; t++)
		if (t != in->id)
			wr32(p, IVSHM_V1_REG_DOORBELL, IVSHM_DOORBELL_VAL(t, 0));
}

static uint32_t
pci_reg_read(struct ivshm_dev *dev, uint32_t reg)
{
	struct pci_dev *p = pdev(dev);

	if (p->v2)
		return reg <= IVSHM_REG_STATE && reg != IVSHM_REG_DOORBELL &&
			(reg & 3) == 0 ? rd32(p, reg) : 0;
	switch (reg) {
	case IVSHM_REG_ID:
		return dev->info.id;
	case IVSHM_REG_MAX_PEERS:
		return dev->info.max_peers;
	case IVSHM_REG_INT_CTRL:
		return __atomic_load_n(&p->int_ctrl, __ATOMIC_ACQUIRE);
	case IVSHM_REG_STATE:
		return p->state;
	default:
		return 0;
	}
}

static void
pci_reg_write(struct ivshm_dev *dev, uint32_t reg, uint32_t val)
{
	struct pci_dev *p = pdev(dev);

	if (reg == IVSHM_REG_DOORBELL) {
		pci_doorbell(p, val);
	} else if (p->v2) {
		if (reg == IVSHM_REG_INT_CTRL || reg == IVSHM_REG_STATE)
			wr32(p, reg, val);
	} else if (reg == IVSHM_REG_INT_CTRL) {
		__atomic_store_n(&p->int_ctrl, val & IVSHM_INT_ENABLE,
			__ATOMIC_RELEASE);
		if (p->irq == IVSHM_PCI_IRQ_INTX)
			wr32(p, IVSHM_V1_REG_INTR_MASK, val & IVSHM_INT_ENABLE);
	} else if (reg == IVSHM_REG_STATE) {
		v1_state(p, val);
	}
}

static void
pci_set_oneshot(struct ivshm_dev *dev, bool on)
{
	struct pci_dev *p = pdev(dev);
	uint8_t v = 0;

	if (!p->v2) {
		p->oneshot = on;
		return;
	}
	if (cfg_u8(&p->bus, p->vcap + IVSHM_V2_CAP_PRIV_CTRL, &v) != 0)
		return;
	v = on ? (v | 1) : (v & ~1);
	if (p->bus.cfg_write == NULL || p->bus.cfg_write(p->bus.ctx, &v, 1,
			p->vcap + IVSHM_V2_CAP_PRIV_CTRL) != 0)
		IVSHM_LOG(ERR, "pci: cannot set one-shot mode");
}

/* Present = a non-zero state-table entry: the device (the server, for
 * 1af4:1110) zeroes it when a peer resets or leaves. */
static bool
pci_peer_present(const struct ivshm_dev *dev, uint32_t id)
{
	return id == dev->info.id || ivshm_peer_state(dev, id) != 0;
}

static void
pci_close(struct ivshm_dev *dev)
{
	struct pci_dev *p = pdev(dev);
	uint32_t v;

	if (dev->vec_fd != NULL) {
		for (v = 0; v < dev->info.vectors && p->own_vec_fds; v++)
			if (dev->vec_fd[v] >= 0)
				close(dev->vec_fd[v]);
		free(dev->vec_fd);
	}
	free(dev->peer_gen);
	ivshm_map_put(dev->map);
	free(p);
}

static const struct ivshm_transport_ops pci_ops = {
	.name = "pci",
	.reg_read = pci_reg_read,
	.reg_write = pci_reg_write,
	.set_oneshot = pci_set_oneshot,
	.vector_ack = pci_vector_ack,
	.process = pci_process,
	.peer_present = pci_peer_present,
	.close = pci_close,
};

/* ---- attach ---- */

/* Pointers into BAR2; the mapping is the driver's (nothing to unmap). */
static int
finish(struct pci_dev *p, const struct ivshm_pci_params *prm)
{
	struct ivshm_dev *dev = &p->dev;
	struct ivshm_info *in = &dev->info;
	uint8_t *base = prm->bar2;
	long ps = sysconf(_SC_PAGESIZE);
	uint32_t v;

	in->page_size = ps > 0 ? (uint64_t)ps : 4096;
	dev->map = calloc(1, sizeof(*dev->map));
	dev->vec_fd = malloc(sizeof(int) * in->vectors);
	dev->peer_gen = calloc(in->max_peers, sizeof(uint32_t));
	if (dev->map == NULL || dev->vec_fd == NULL || dev->peer_gen == NULL)
		return -ENOMEM;
	dev->map->refcnt = 1;
	for (v = 0; v < in->vectors; v++)
		dev->vec_fd[v] = -1;
	dev->state_table = (const volatile uint32_t *)base;
	dev->rw = in->rw_section_size ? base + in->rw_section_offset : NULL;
	dev->outs = in->output_section_size ?
		base + in->output_section_offset : NULL;
	dev->own = dev->outs ? base + in->output_section_offset +
		(uint64_t)in->id * in->output_section_size : NULL;
	return 0;
}

int
ivshm_pci_attach(const struct ivshm_pci_params *prm, struct ivshm_dev **devp)
{
	struct ivshm_pci_caps c;
	struct pci_dev *p;
	int ret;

	*devp = NULL;
	if (prm == NULL || prm->bus == NULL)
		return -EINVAL;
	ret = ivshm_pci_probe_caps(prm->bus, &c);
	if (ret != 0)
		return ret;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	p->dev.ops = &pci_ops;
	p->bus = *prm->bus;
	p->bar0 = prm->bar0;
	if (c.vendor_id == IVSHM_PCI_V1_VENDOR &&
			c.device_id == IVSHM_PCI_V1_DEVICE) {
		ret = attach_v1(p, prm);
	} else if (c.vendor_id == IVSHM_PCI_V2_VENDOR &&
			c.device_id == IVSHM_PCI_V2_DEVICE) {
		ret = attach_v2(p, prm, &c);
	} else {
		IVSHM_LOG(ERR, "pci: %04x:%04x is not an ivshmem device",
			c.vendor_id, c.device_id);
		ret = -ENODEV;
	}
	if (ret == 0)
		ret = finish(p, prm);
	if (ret == 0)
		ret = setup_irq(p, prm, &c);
	if (ret != 0) {
		p->dev.ops->close(&p->dev);
		return ret;
	}
	IVSHM_LOG(INFO, "pci %s: peer %u of %u, %u vectors (%s), protocol "
		"0x%04x, region 0x%llx (output sections 0x%llx)",
		p->dev.info.transport, p->dev.info.id, p->dev.info.max_peers,
		p->dev.info.vectors, prm->irq == IVSHM_PCI_IRQ_MSIX ? "MSI-X" :
		prm->irq == IVSHM_PCI_IRQ_INTX ? "INTx" : "polled",
		p->dev.info.protocol,
		(unsigned long long)p->dev.info.region_size,
		(unsigned long long)p->dev.info.output_section_size);
	*devp = &p->dev;
	return 0;
}
