/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * net_vmlink_ivshmem2: an ethdev over vmlink's ivshmem v2 library, speaking
 * ivshmem-net (protocol 0001h) with the other peer of an ivshmem v2
 * region. A thin adapter: one rx and one tx queue map to the link's
 * bursts; the link's control step runs on EAL's interrupt thread, woken by
 * the control fds (server socket or INTx line, state vector), and by a
 * periodic alarm that also picks up faults the data path reported.
 *
 * This file: what both forms share, and the vdev form (a host process on
 * an ivshmem2-server socket). ivshmem2_pci.c: the PCI form (a VM's
 * ivshmem device).
 */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <rte_alarm.h>
#include <rte_ethdev.h>
#include <ethdev_driver.h>
#include <ethdev_vdev.h>
#include <bus_vdev_driver.h>
#include <rte_interrupts.h>
#include <rte_kvargs.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_spinlock.h>

#include "ivshmem2_ethdev.h"
#include "vmlink_port.h"
#include "vmlink_secondary.h"
#include "vmlink_tx_free.h"

RTE_LOG_REGISTER_DEFAULT(vi_logtype, NOTICE);

#define VI_ARG_SERVER		"server"
#define VI_ARG_MODE		"mode"
#define VI_ARG_MAC		"mac"
#define VI_ARG_ZERO_COPY	"zero-copy"
#define VI_ARG_INFLIGHT		"inflight"
#define VI_ARG_COPY_THRESHOLD	"copy-threshold"

static const char *const vi_vdev_args[] = {
	VI_ARG_SERVER, VI_ARG_MODE, VI_ARG_MAC, VI_ARG_ZERO_COPY,
	VI_ARG_INFLIGHT, VI_ARG_COPY_THRESHOLD, NULL,
};
static const char *const vi_pci_args[] = {
	VI_ARG_MODE, VI_ARG_MAC, VI_ARG_ZERO_COPY, VI_ARG_INFLIGHT,
	VI_ARG_COPY_THRESHOLD, NULL,
};

/* Control step period: bounds how long a data-path fault or a missed
 * wake-up takes to be handled. */
#define VI_ALARM_US (50 * 1000)

/* ------------------------------------------------------------------------ */
/* Data path */

static uint16_t
vi_rx_burst(void *q, struct rte_mbuf **pkts, uint16_t n)
{
	struct vi_private *priv = q;

	return ivshm_net_rx_burst(priv->link, pkts, n);
}

static uint16_t
vi_tx_burst(void *q, struct rte_mbuf **pkts, uint16_t n)
{
	struct vi_private *priv = q;
	uint16_t done;

	/* The library copies and leaves the mbufs to us (docs/mbufs.md);
	 * what it did not consume stays with the caller, as tx_burst
	 * requires. */
	done = ivshm_net_tx_burst(priv->link, pkts, n);
	vmlink_tx_free(pkts, done);
	return done;
}

/* ------------------------------------------------------------------------ */
/* Control step on EAL's interrupt thread */

static void
vi_link_to_ethdev(struct vi_private *priv)
{
	struct ivshm_net_link l;
	struct rte_eth_link link = {
		.link_speed = RTE_ETH_SPEED_NUM_10G,
		.link_duplex = RTE_ETH_LINK_FULL_DUPLEX,
		.link_autoneg = RTE_ETH_LINK_FIXED,
	};

	ivshm_net_link_get(priv->link, &l);
	link.link_status = l.up ? RTE_ETH_LINK_UP : RTE_ETH_LINK_DOWN;
	rte_eth_linkstatus_set(priv->eth, &link);
}

/* Run the link's control step; raise LSC when the link changed. */
static void
vi_ctrl_step(struct vi_private *priv)
{
	int changed;

	rte_spinlock_lock(&priv->ctrl_lock);
	if (priv->link == NULL) {
		rte_spinlock_unlock(&priv->ctrl_lock);
		return;
	}
	changed = ivshm_net_ctrl_poll(priv->link);
	if (changed)
		vi_link_to_ethdev(priv);
	rte_spinlock_unlock(&priv->ctrl_lock);
	if (changed && priv->eth->data->dev_started)
		rte_eth_dev_callback_process(priv->eth, RTE_ETH_EVENT_INTR_LSC, NULL);
}

static void
vi_ctrl_intr(void *arg)
{
	vi_ctrl_step(arg);
}

static void
vi_alarm(void *arg)
{
	struct vi_private *priv = arg;

	vi_ctrl_step(priv);
	if (priv->alarm_armed &&
			rte_eal_alarm_set(VI_ALARM_US, vi_alarm, priv) != 0)
		VI_LOG(ERR, "%s: cannot re-arm the control alarm", priv->name);
}

static void
vi_ctrl_unregister(struct vi_private *priv)
{
	unsigned int i;

	priv->alarm_armed = false;
	rte_eal_alarm_cancel(vi_alarm, priv);
	for (i = 0; i < priv->n_ctrl; i++) {
		/* -EAGAIN: the callback is running right now; wait for it */
		while (rte_intr_callback_unregister(priv->ctrl_intr[i],
				vi_ctrl_intr, priv) == -EAGAIN)
			rte_delay_us_sleep(1000);
		rte_intr_instance_free(priv->ctrl_intr[i]);
		priv->ctrl_intr[i] = NULL;
	}
	priv->n_ctrl = 0;
}

static int
vi_ctrl_register(struct vi_private *priv)
{
	int fds[2];
	int i, n, ret;

	n = ivshm_net_ctrl_fds(priv->link, fds);
	for (i = 0; i < n; i++) {
		struct rte_intr_handle *h;

		h = rte_intr_instance_alloc(RTE_INTR_INSTANCE_F_PRIVATE);
		if (h == NULL || rte_intr_fd_set(h, fds[i]) != 0 ||
				rte_intr_type_set(h, RTE_INTR_HANDLE_EXT) != 0) {
			rte_intr_instance_free(h);
			goto fail;
		}
		ret = rte_intr_callback_register(h, vi_ctrl_intr, priv);
		if (ret != 0) {
			rte_intr_instance_free(h);
			goto fail;
		}
		priv->ctrl_intr[priv->n_ctrl++] = h;
	}
	priv->alarm_armed = true;
	if (rte_eal_alarm_set(VI_ALARM_US, vi_alarm, priv) != 0) {
		priv->alarm_armed = false;
		goto fail;
	}
	return 0;
fail:
	VI_LOG(ERR, "%s: cannot watch the link's control events", priv->name);
	vi_ctrl_unregister(priv);
	return -EIO;
}

/* ------------------------------------------------------------------------ */
/* rx interrupts (mode=doorbell): the link's vector-1 eventfd */

static void
vi_intr_uninstall(struct rte_eth_dev *dev)
{
	if (dev->intr_handle != NULL) {
		rte_intr_vec_list_free(dev->intr_handle);
		rte_intr_instance_free(dev->intr_handle);
		dev->intr_handle = NULL;
	}
}

static int
vi_intr_install(struct rte_eth_dev *dev)
{
	struct vi_private *priv = dev->data->dev_private;
	struct rte_intr_handle *h;
	int fd = ivshm_net_rx_intr_fd(priv->link);

	if (fd < 0) {
		VI_LOG(ERR, "%s: no rx interrupt vector: %s", priv->name,
			rte_strerror(-fd));
		return fd;
	}
	h = rte_intr_instance_alloc(RTE_INTR_INSTANCE_F_PRIVATE);
	if (h == NULL)
		return -ENOMEM;
	dev->intr_handle = h;
	/* EAL reads the eventfd's 8-byte counter after each wake-up. */
	if (rte_intr_efd_counter_size_set(h, sizeof(uint64_t)) ||
			rte_intr_vec_list_alloc(h, NULL, 1) ||
			rte_intr_vec_list_index_set(h, 0, RTE_INTR_VEC_RXTX_OFFSET) ||
			rte_intr_efds_index_set(h, 0, fd) ||
			rte_intr_nb_efd_set(h, 1) || rte_intr_max_intr_set(h, 2) ||
			rte_intr_type_set(h, RTE_INTR_HANDLE_VDEV)) {
		vi_intr_uninstall(dev);
		return -ENOMEM;
	}
	return 0;
}

static int
vi_rx_intr_enable(struct rte_eth_dev *dev, uint16_t qid __rte_unused)
{
	struct vi_private *priv = dev->data->dev_private;

	return ivshm_net_rx_intr_enable(priv->link);
}

static int
vi_rx_intr_disable(struct rte_eth_dev *dev, uint16_t qid __rte_unused)
{
	struct vi_private *priv = dev->data->dev_private;

	return ivshm_net_rx_intr_disable(priv->link);
}

/* ------------------------------------------------------------------------ */
/* ethdev ops */

static int
vi_configure(struct rte_eth_dev *dev)
{
	struct vi_private *priv = dev->data->dev_private;

	if (dev->data->dev_conf.intr_conf.rxq && !priv->doorbell) {
		VI_LOG(ERR, "%s: rx interrupts need mode=doorbell", priv->name);
		return -ENOTSUP;
	}
	return 0;
}

static int
vi_start(struct rte_eth_dev *dev)
{
	struct vi_private *priv = dev->data->dev_private;
	int ret;

	if (dev->data->dev_conf.intr_conf.rxq && dev->intr_handle == NULL) {
		ret = vi_intr_install(dev);
		if (ret != 0)
			return ret;
	}
	rte_spinlock_lock(&priv->ctrl_lock);
	ret = ivshm_net_start(priv->link);
	if (ret == 0)
		vi_link_to_ethdev(priv);
	rte_spinlock_unlock(&priv->ctrl_lock);
	if (ret != 0)
		return ret;
	dev->data->rx_queue_state[0] = RTE_ETH_QUEUE_STATE_STARTED;
	dev->data->tx_queue_state[0] = RTE_ETH_QUEUE_STATE_STARTED;
	dev->data->dev_started = 1;
	return 0;
}

static int
vi_stop(struct rte_eth_dev *dev)
{
	struct vi_private *priv = dev->data->dev_private;

	dev->data->dev_started = 0;
	rte_spinlock_lock(&priv->ctrl_lock);
	ivshm_net_stop(priv->link);
	vi_link_to_ethdev(priv);
	rte_spinlock_unlock(&priv->ctrl_lock);
	dev->data->rx_queue_state[0] = RTE_ETH_QUEUE_STATE_STOPPED;
	dev->data->tx_queue_state[0] = RTE_ETH_QUEUE_STATE_STOPPED;
	vi_intr_uninstall(dev);
	return 0;
}

int
vi_close(struct rte_eth_dev *dev)
{
	struct vi_private *priv = dev->data->dev_private;

	if (rte_eal_process_type() != RTE_PROC_PRIMARY || priv == NULL)
		return 0;
	vi_intr_uninstall(dev);
	vi_ctrl_unregister(priv);
	rte_spinlock_lock(&priv->ctrl_lock);
	if (priv->link != NULL)
		ivshm_net_close(priv->link);
	priv->link = NULL;
	rte_spinlock_unlock(&priv->ctrl_lock);
	if (priv->pci != NULL)
		vi_pci_release(priv);
	dev->data->mac_addrs = NULL;
	return 0;
}

static int
vi_info(struct rte_eth_dev *dev, struct rte_eth_dev_info *info)
{
	struct vi_private *priv = dev->data->dev_private;
	uint32_t max_frame = ivshm_net_max_frame(priv->link);

	info->max_mac_addrs = 1;
	info->max_rx_pktlen = max_frame;
	info->min_mtu = RTE_ETHER_MIN_MTU;
	info->max_mtu = max_frame > RTE_ETHER_HDR_LEN + 4 ?
		(uint16_t)RTE_MIN(max_frame - RTE_ETHER_HDR_LEN - 4, UINT16_MAX + 0u) :
		RTE_ETHER_MIN_MTU;
	info->max_rx_queues = 1;
	info->max_tx_queues = 1;
	info->min_rx_bufsize = 0;
	info->rx_offload_capa = RTE_ETH_RX_OFFLOAD_SCATTER;
	info->tx_offload_capa = RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
	info->speed_capa = RTE_ETH_LINK_SPEED_10G;
	return 0;
}

static int
vi_rxq_setup(struct rte_eth_dev *dev, uint16_t qid, uint16_t nb_desc __rte_unused,
	unsigned int socket __rte_unused, const struct rte_eth_rxconf *conf __rte_unused,
	struct rte_mempool *mp)
{
	struct vi_private *priv = dev->data->dev_private;
	int ret;

	rte_spinlock_lock(&priv->ctrl_lock);
	ret = ivshm_net_rx_setup(priv->link, mp);
	rte_spinlock_unlock(&priv->ctrl_lock);
	if (ret != 0)
		return ret;
	dev->data->rx_queues[qid] = priv;
	return 0;
}

static int
vi_txq_setup(struct rte_eth_dev *dev, uint16_t qid, uint16_t nb_desc __rte_unused,
	unsigned int socket __rte_unused, const struct rte_eth_txconf *conf __rte_unused)
{
	dev->data->tx_queues[qid] = dev->data->dev_private;
	return 0;
}

static int
vi_link_update(struct rte_eth_dev *dev, int wait __rte_unused)
{
	struct vi_private *priv = dev->data->dev_private;

	rte_spinlock_lock(&priv->ctrl_lock);
	vi_link_to_ethdev(priv);
	rte_spinlock_unlock(&priv->ctrl_lock);
	return 0;
}

static int
vi_nop(struct rte_eth_dev *dev __rte_unused)
{
	return 0;	/* a point-to-point link has no address filter */
}

static int
vi_mtu_set(struct rte_eth_dev *dev, uint16_t mtu)
{
	struct vi_private *priv = dev->data->dev_private;

	return (uint32_t)mtu + RTE_ETHER_HDR_LEN + 4 <=
		ivshm_net_max_frame(priv->link) ? 0 : -EINVAL;
}

static int
vi_mac_set(struct rte_eth_dev *dev __rte_unused,
	struct rte_ether_addr *mac __rte_unused)
{
	return 0;
}

static int
vi_stats_get(struct rte_eth_dev *dev, struct rte_eth_stats *st)
{
	struct vi_private *priv = dev->data->dev_private;
	struct ivshm_net_stats s;

	ivshm_net_stats_get(priv->link, &s);
	st->ipackets = s.rx_frames;
	st->ibytes = s.rx_bytes;
	st->ierrors = s.rx_runts + s.rx_oversize;
	st->rx_nombuf = s.rx_nombuf;
	st->opackets = s.tx_frames;
	st->obytes = s.tx_bytes;
	st->oerrors = s.tx_oversize + s.tx_dropped_peer_gone;
	st->q_ipackets[0] = s.rx_frames;
	st->q_ibytes[0] = s.rx_bytes;
	st->q_opackets[0] = s.tx_frames;
	st->q_obytes[0] = s.tx_bytes;
	return 0;
}

static int
vi_stats_reset(struct rte_eth_dev *dev)
{
	struct vi_private *priv = dev->data->dev_private;

	ivshm_net_stats_reset(priv->link);
	return 0;
}

static int
vi_xstats_get_names(struct rte_eth_dev *dev __rte_unused,
	struct rte_eth_xstat_name *names, unsigned int size)
{
	unsigned int n = ivshm_net_xstats_count(), i;

	if (names == NULL || size < n)
		return (int)n;
	for (i = 0; i < n; i++)
		snprintf(names[i].name, sizeof(names[i].name), "%s",
			ivshm_net_xstats_name(i));
	return (int)n;
}

static int
vi_xstats_get(struct rte_eth_dev *dev, struct rte_eth_xstat *xs, unsigned int size)
{
	struct vi_private *priv = dev->data->dev_private;
	unsigned int n = ivshm_net_xstats_count(), i;
	uint64_t values[n];

	if (xs == NULL || size < n)
		return (int)n;
	n = ivshm_net_xstats_get(priv->link, values, n);
	for (i = 0; i < n; i++) {
		xs[i].id = i;
		xs[i].value = values[i];
	}
	return (int)n;
}

static const struct eth_dev_ops vi_ops = {
	.dev_configure = vi_configure,
	.dev_start = vi_start,
	.dev_stop = vi_stop,
	.dev_close = vi_close,
	.dev_infos_get = vi_info,
	.rx_queue_setup = vi_rxq_setup,
	.tx_queue_setup = vi_txq_setup,
	.link_update = vi_link_update,
	.mtu_set = vi_mtu_set,
	.mac_addr_set = vi_mac_set,
	.promiscuous_enable = vi_nop,
	.promiscuous_disable = vi_nop,
	.allmulticast_enable = vi_nop,
	.allmulticast_disable = vi_nop,
	.stats_get = vi_stats_get,
	.stats_reset = vi_stats_reset,
	.xstats_get = vi_xstats_get,
	.xstats_get_names = vi_xstats_get_names,
	.xstats_reset = vi_stats_reset,
	.rx_queue_intr_enable = vi_rx_intr_enable,
	.rx_queue_intr_disable = vi_rx_intr_disable,
};

/* ------------------------------------------------------------------------ */
/* Devargs and the part of probe both forms share */

static int
vi_arg(const char *key, const char *value, void *opaque)
{
	struct vi_args *a = opaque;
	uint64_t v = 0;
	int ret = 0;

	if (strcmp(key, VI_ARG_SERVER) == 0) {
		ret = vmlink_devarg_path(&a->ctx, key, value, a->server,
			sizeof(a->server));
		a->has_server = ret == 0;
	} else if (strcmp(key, VI_ARG_MODE) == 0) {
		if (value != NULL && strcmp(value, "poll") == 0) {
			a->doorbell = false;
		} else if (value != NULL && strcmp(value, "doorbell") == 0) {
			a->doorbell = true;
		} else {
			VMLINK_DEVARG_ERR(&a->ctx, "devarg mode='%s': poll or "
				"doorbell", value ? value : "");
			return -EINVAL;
		}
	} else if (strcmp(key, VI_ARG_MAC) == 0) {
		ret = vmlink_devarg_mac(&a->ctx, key, value, &a->mac);
		a->has_mac = ret == 0;
	} else if (strcmp(key, VI_ARG_ZERO_COPY) == 0) {
		ret = vmlink_devarg_uint(&a->ctx, key, value, 0, 1, &v);
		a->zero_copy = v == 1;
	} else if (strcmp(key, VI_ARG_INFLIGHT) == 0) {
		ret = vmlink_devarg_uint(&a->ctx, key, value, 1, 32768, &v);
		a->inflight = (uint32_t)v;
	} else if (strcmp(key, VI_ARG_COPY_THRESHOLD) == 0) {
		ret = vmlink_devarg_uint(&a->ctx, key, value, 0,
			IVSHM_NET_MAX_FRAME, &v);
		a->copy_threshold = (uint32_t)v;
	} else {
		ret = -EINVAL;
	}
	return ret;
}

/* The vdev needs server=; the PCI form has none (its device is the
 * region). */
int
vi_parse_args(const char *params, bool vdev, struct vi_args *a)
{
	int ret;

	a->inflight = 256;
	a->copy_threshold = 512;
	if (params != NULL && params[0] != '\0') {
		ret = vmlink_devargs_parse(&a->ctx, params,
			vdev ? vi_vdev_args : vi_pci_args, vdev ?
			"server, mode, mac, zero-copy, inflight, copy-threshold" :
			"mode, mac, zero-copy, inflight, copy-threshold",
			vi_arg, a);
		if (ret != 0)
			return ret;
	}
	if (vdev && !a->has_server) {
		VMLINK_DEVARG_ERR(&a->ctx, "devarg server=<ivshmem2-server "
			"socket> is required");
		return -EINVAL;
	}
	return 0;
}

/* The devargs parser alone, for the fuzz harness (vmlink_devargs.h). */
int
vmlink_ivshmem2_devargs_check(const char *params)
{
	struct vi_args args = {
		.ctx = {vi_logtype, "net_vmlink_ivshmem2", "fuzz"},
	};

	return vi_parse_args(params, true, &args);
}

void
vi_link_conf(const struct vi_args *a, uint16_t port_id,
	struct ivshm_net_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->zc_budget = a->zero_copy ? a->inflight : 0;
	conf->zc_min_len = a->copy_threshold;
	conf->port_id = port_id;
	conf->socket_id = (int)rte_socket_id();
}

int
vi_ethdev_init(struct rte_eth_dev *dev, const struct vi_args *a)
{
	struct vi_private *priv = dev->data->dev_private;

	if (a->doorbell && ivshm_net_rx_intr_fd(priv->link) < 0) {
		VI_LOG(ERR, "%s: devarg mode=doorbell: %s offers %u interrupt "
			"vector(s), doorbell mode needs 2", a->ctx.device,
			priv->name,
			ivshm_dev_info(ivshm_net_dev(priv->link))->vectors);
		return -ENOTSUP;
	}
	priv->doorbell = a->doorbell;
	vmlink_port_init_link(dev, &priv->mac, a->has_mac ? &a->mac : NULL);
	dev->data->dev_flags |= RTE_ETH_DEV_INTR_LSC |
		RTE_ETH_DEV_AUTOFILL_QUEUE_XSTATS;
	dev->dev_ops = &vi_ops;
	dev->rx_pkt_burst = vi_rx_burst;
	dev->tx_pkt_burst = vi_tx_burst;
	if (vi_ctrl_register(priv) != 0) {
		dev->data->mac_addrs = NULL;
		return -EIO;
	}
	VI_LOG(INFO, "%s: attached through %s, peer ID %u, %s mode, zero-copy "
		"%s", a->ctx.device, priv->name,
		ivshm_dev_info(ivshm_net_dev(priv->link))->id,
		priv->doorbell ? "doorbell" : "poll",
		a->zero_copy ? "on" : "off");
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The vdev: a host process on an ivshmem2-server socket */

static int
vi_probe(struct rte_vdev_device *vdev)
{
	const char *name = rte_vdev_device_name(vdev);
	struct vi_args args = {
		.ctx = {vi_logtype, "net_vmlink_ivshmem2", name},
	};
	struct ivshm_net_conf conf;
	struct vi_private *priv;
	struct rte_eth_dev *dev;
	int ret;

	if (rte_eal_process_type() != RTE_PROC_PRIMARY)
		return vmlink_secondary_probe(vdev, vi_logtype,
			"net_vmlink_ivshmem2");
	ret = vi_parse_args(rte_vdev_device_args(vdev), true, &args);
	if (ret != 0)
		return ret;
	dev = rte_eth_vdev_allocate(vdev, sizeof(*priv));
	if (dev == NULL)
		return -ENOMEM;
	priv = dev->data->dev_private;
	priv->eth = dev;
	rte_spinlock_init(&priv->ctrl_lock);
	snprintf(priv->name, sizeof(priv->name), "%s", args.server);
	vi_link_conf(&args, dev->data->port_id, &conf);
	ret = ivshm_net_open(priv->name, &conf, &priv->link);
	if (ret != 0) {
		VI_LOG(ERR, "%s: cannot attach through ivshmem2-server %s: %s",
			name, priv->name, rte_strerror(-ret));
		rte_eth_dev_release_port(dev);
		return ret;
	}
	ret = vi_ethdev_init(dev, &args);
	if (ret != 0) {
		ivshm_net_close(priv->link);
		priv->link = NULL;
		rte_eth_dev_release_port(dev);
		return ret;
	}
	rte_eth_dev_probing_finish(dev);
	return 0;
}

static int
vi_remove(struct rte_vdev_device *vdev)
{
	return vmlink_vdev_remove(vdev, vi_close);
}

static struct rte_vdev_driver vi_driver = {
	.probe = vi_probe,
	.remove = vi_remove,
};

RTE_PMD_REGISTER_VDEV(net_vmlink_ivshmem2, vi_driver);
RTE_PMD_REGISTER_PARAM_STRING(net_vmlink_ivshmem2,
	"server=<ivshmem2-server socket, vdev only> "
	"mode=<poll|doorbell> "
	"mac=<xx:xx:xx:xx:xx:xx> "
	"zero-copy=<0|1> "
	"inflight=<zero-copy frames> "
	"copy-threshold=<bytes>");
