/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * net_vmlink_ivshmem2 as a PCI driver, inside a VM: QEMU's
 * ivshmem-doorbell (1af4:1110) served by ivshmem2-server -Q, or the
 * ivshmem v2 device (110a:4106). The EAL maps the BARs and owns the
 * kernel's interrupt plumbing; this file hands the library (ivshm_pci.h)
 * the mappings, config-space accessors and interrupt fds, then builds
 * the same ethdev as the vdev form.
 *
 * Interrupts, mode=doorbell only (mode=poll enables none):
 *  - vfio-pci, MSI-X: one eventfd per vector (EAL's intr fd is vector 0,
 *    rte_intr_efd_enable adds the others); vector 0 wakes the control
 *    path, vector 1 the receiver.
 *  - uio_pci_generic or vfio INTx: one line for every vector. Its fd is
 *    the link's control fd; the library clears the device's status,
 *    re-enables the line (rte_intr_ack) and wakes both paths.
 */

#include <errno.h>
#include <string.h>

#include <rte_ethdev.h>
#include <ethdev_driver.h>
#include <ethdev_pci.h>
#include <bus_pci_driver.h>
#include <rte_interrupts.h>

#include "ivshm_pci.h"
#include "ivshmem2_ethdev.h"

/* ---- what the library needs from the bus ---- */

static int
vi_cfg_read(void *ctx, void *buf, uint32_t len, uint32_t off)
{
	return rte_pci_read_config(ctx, buf, len, off) == (int)len ? 0 : -EIO;
}

static int
vi_cfg_write(void *ctx, const void *buf, uint32_t len, uint32_t off)
{
	return rte_pci_write_config(ctx, buf, len, off) == (int)len ? 0 : -EIO;
}

static int
vi_irq_unmask(void *ctx)
{
	struct rte_pci_device *pci = ctx;

	return rte_intr_ack(pci->intr_handle);
}

/* Interrupt fds for the library; enables the device's interrupts. */
static int
vi_pci_irq(struct vi_private *priv, bool doorbell,
	struct ivshm_pci_params *p, int *msix_fd)
{
	struct rte_intr_handle *h = priv->pci->intr_handle;
	struct ivshm_pci_caps caps;
	uint32_t i, n;

	p->irq = IVSHM_PCI_IRQ_NONE;
	p->intx_fd = -1;
	if (!doorbell)
		return 0;
	switch (rte_intr_type_get(h)) {
	case RTE_INTR_HANDLE_VFIO_MSIX:
		if (ivshm_pci_probe_caps(p->bus, &caps) != 0 || !caps.has_msix)
			return -EIO;
		n = RTE_MIN((uint32_t)caps.msix_vectors,
			(uint32_t)RTE_MAX_RXTX_INTR_VEC_ID);
		if (n > 1 && rte_intr_efd_enable(h, n - 1) != 0)
			return -EIO;
		priv->pci_irq_on = true;	/* efds to undo from here */
		msix_fd[0] = rte_intr_fd_get(h);
		for (i = 1; i < n; i++)
			msix_fd[i] = rte_intr_efds_index_get(h, i - 1);
		p->irq = IVSHM_PCI_IRQ_MSIX;
		p->msix_fd = msix_fd;
		p->n_msix_fd = n;
		break;
	case RTE_INTR_HANDLE_UIO:
	case RTE_INTR_HANDLE_UIO_INTX:
	case RTE_INTR_HANDLE_VFIO_LEGACY:
		p->irq = IVSHM_PCI_IRQ_INTX;
		p->intx_fd = rte_intr_fd_get(h);
		/* uio yields a 4-byte interrupt count, vfio an eventfd */
		p->intx_read_len = rte_intr_type_get(h) ==
			RTE_INTR_HANDLE_VFIO_LEGACY ? 8 : 4;
		break;
	default:
		VI_LOG(ERR, "%s: mode=doorbell: no usable interrupt (bind the "
			"device to vfio-pci or uio_pci_generic), or use "
			"mode=poll", priv->name);
		return -ENOTSUP;
	}
	if (rte_intr_enable(h) != 0) {
		VI_LOG(ERR, "%s: cannot enable the device's interrupts",
			priv->name);
		return -EIO;
	}
	priv->pci_irq_on = true;
	return 0;
}

void
vi_pci_release(struct vi_private *priv)
{
	struct rte_intr_handle *h = priv->pci->intr_handle;

	ivshm_dev_close(priv->ivdev);
	priv->ivdev = NULL;
	if (priv->pci_irq_on) {
		rte_intr_disable(h);
		if (rte_intr_type_get(h) == RTE_INTR_HANDLE_VFIO_MSIX)
			rte_intr_efd_disable(h);
		priv->pci_irq_on = false;
	}
	priv->pci = NULL;
}

/* The library's device over the mapped BARs, then the link over it. */
static int
vi_pci_attach(struct rte_eth_dev *dev, const struct vi_args *a)
{
	struct vi_private *priv = dev->data->dev_private;
	struct rte_pci_device *pci = priv->pci;
	struct ivshm_pci_bus bus = {	/* the library keeps a copy */
		.ctx = pci,
		.cfg_read = vi_cfg_read,
		.cfg_write = vi_cfg_write,
		.irq_unmask = vi_irq_unmask,
	};
	int msix_fd[RTE_MAX_RXTX_INTR_VEC_ID];
	struct ivshm_pci_params p;
	struct ivshm_net_conf conf;
	int ret;

	memset(&p, 0, sizeof(p));
	p.bus = &bus;
	p.bar0 = pci->mem_resource[0].addr;
	p.bar0_len = pci->mem_resource[0].len;
	p.bar2 = pci->mem_resource[2].addr;
	p.bar2_len = pci->mem_resource[2].len;
	if (p.bar0 == NULL || p.bar2 == NULL) {
		VI_LOG(ERR, "%s: BAR0 or BAR2 not mapped", priv->name);
		return -ENODEV;
	}
	ret = vi_pci_irq(priv, a->doorbell, &p, msix_fd);
	if (ret == 0)
		ret = ivshm_pci_attach(&p, &priv->ivdev);
	if (ret != 0)
		return ret;
	vi_link_conf(a, dev->data->port_id, &conf);
	return ivshm_net_create(priv->ivdev, &conf, &priv->link);
}

static int
vi_pci_probe(struct rte_pci_driver *drv __rte_unused,
	struct rte_pci_device *pci)
{
	struct vi_args args = {
		.ctx = {vi_logtype, "net_vmlink_ivshmem2", pci->device.name},
	};
	struct vi_private *priv;
	struct rte_eth_dev *dev;
	int ret;

	if (rte_eal_process_type() != RTE_PROC_PRIMARY) {
		VI_LOG(ERR, "%s: secondary processes are not supported",
			pci->device.name);
		return -ENOTSUP;
	}
	ret = vi_parse_args(pci->device.devargs ? pci->device.devargs->args :
		NULL, false, &args);
	if (ret != 0)
		return ret;
	dev = rte_eth_dev_pci_allocate(pci, sizeof(*priv));
	if (dev == NULL)
		return -ENOMEM;
	/* rx interrupts use a handle of our own (vi_intr_install) */
	dev->intr_handle = NULL;
	priv = dev->data->dev_private;
	priv->eth = dev;
	priv->pci = pci;
	rte_spinlock_init(&priv->ctrl_lock);
	snprintf(priv->name, sizeof(priv->name), "%s", pci->device.name);
	ret = vi_pci_attach(dev, &args);
	if (ret == 0)
		ret = vi_ethdev_init(dev, &args);
	if (ret != 0) {
		VI_LOG(ERR, "%s: cannot attach: %s", pci->device.name,
			rte_strerror(-ret));
		ivshm_net_close(priv->link);
		priv->link = NULL;
		vi_pci_release(priv);
		rte_eth_dev_release_port(dev);
		return ret;
	}
	rte_eth_dev_probing_finish(dev);
	return 0;
}

static int
vi_pci_remove(struct rte_pci_device *pci)
{
	return rte_eth_dev_pci_generic_remove(pci, vi_close);
}

static const struct rte_pci_id vi_pci_ids[] = {
	{ RTE_PCI_DEVICE(IVSHM_PCI_V1_VENDOR, IVSHM_PCI_V1_DEVICE) },
	{ RTE_PCI_DEVICE(IVSHM_PCI_V2_VENDOR, IVSHM_PCI_V2_DEVICE) },
	{ .vendor_id = 0 },
};

static struct rte_pci_driver vi_pci_driver = {
	.id_table = vi_pci_ids,
	.drv_flags = RTE_PCI_DRV_NEED_MAPPING | RTE_PCI_DRV_INTR_LSC,
	.probe = vi_pci_probe,
	.remove = vi_pci_remove,
};

RTE_PMD_REGISTER_PCI(net_vmlink_ivshmem2, vi_pci_driver);
RTE_PMD_REGISTER_PCI_TABLE(net_vmlink_ivshmem2, vi_pci_ids);
RTE_PMD_REGISTER_KMOD_DEP(net_vmlink_ivshmem2, "* vfio-pci | uio_pci_generic");
