/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * net_vmlink_vhost: an ethdev over vmlink's vhost-user back-end library.
 * A thin adapter: ethdev rx queue i dequeues from the guest TX virtqueue of
 * queue pair i, tx queue i enqueues into its guest RX virtqueue. Link state
 * follows the front-end (LSC events); rx interrupts wake on guest kicks.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <rte_ethdev.h>
#include <ethdev_driver.h>
#include <ethdev_vdev.h>
#include <bus_vdev_driver.h>
#include <rte_kvargs.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_spinlock.h>

#include "rte_pmd_vmlink_vhost.h"
#include "vhu.h"
#include "vmlink_devargs.h"
#include "vmlink_port.h"
#include "vmlink_secondary.h"
#include "vmlink_tx_free.h"

RTE_LOG_REGISTER_DEFAULT(vv_logtype, NOTICE);
#define VV_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_ ## level, vv_logtype, "net_vmlink_vhost: " fmt "\n", \
		##__VA_ARGS__)

#define VV_ARG_PATH		"path"
#define VV_ARG_CLIENT		"client"
#define VV_ARG_QUEUES		"queues"
#define VV_ARG_ZERO_COPY	"zero-copy"
#define VV_ARG_COPY_THRESHOLD	"copy-threshold"
#define VV_ARG_INFLIGHT		"inflight"
#define VV_ARG_MTU		"mtu"
#define VV_ARG_MAC		"mac"

static const char *const vv_valid_args[] = {
	VV_ARG_PATH, VV_ARG_CLIENT, VV_ARG_QUEUES, VV_ARG_ZERO_COPY,
	VV_ARG_COPY_THRESHOLD, VV_ARG_INFLIGHT, VV_ARG_MTU, VV_ARG_MAC, NULL,
};

/* Ethernet header + VLAN tag + CRC around an MTU's payload. */
#define VV_L2_OVERHEAD (RTE_ETHER_HDR_LEN + 4 + RTE_ETHER_CRC_LEN)

struct vv_rxq {
	struct vhu_dev *vhu;
	struct rte_mempool *mp;
	uint16_t qp;
};

struct vv_txq {
	struct vhu_dev *vhu;
	uint16_t qp;
};

struct vv_private {
	struct vhu_dev *vhu;
	struct rte_eth_dev *eth;
	uint16_t queue_pairs;
	struct rte_ether_addr mac;
	char path[108];			/* sun_path */
	struct vv_rxq rxq[VHU_MAX_QUEUE_PAIRS];
	struct vv_txq txq[VHU_MAX_QUEUE_PAIRS];
	/* rx interrupts: one proxy epoll fd per rx queue holds that queue's
	 * current kick eventfd, so the application's epoll registration
	 * survives front-end reconnects (new kick fds). The lock orders the
	 * library's control thread against start/stop (control path only). */
	rte_spinlock_t intr_lock;
	int proxy_epfd[VHU_MAX_QUEUE_PAIRS];
	int proxied_kickfd[VHU_MAX_QUEUE_PAIRS];
	/* The guest's rx ring of queue pair q is up (QUEUE_UP/DOWN): tx
	 * queue q reports its descriptors (rte_eth_tx_queue_info_get) only
	 * while it is, 0 otherwise, so that an application can send only to
	 * queues that deliver; RTE_ETH_EVENT_QUEUE_STATE says when this
	 * changes. (Its ethdev queue state stays the application's.) */
	bool guest_rx_up[VHU_MAX_QUEUE_PAIRS];
	uint16_t txq_desc[VHU_MAX_QUEUE_PAIRS];	/* as set up */
};

/* ------------------------------------------------------------------------ */
/* Data path */

static uint16_t
vv_rx_burst(void *q, struct rte_mbuf **pkts, uint16_t n)
{
	struct vv_rxq *rxq = q;

	/* The library sets port (cfg.port_id, docs/mbufs.md). */
	return vhu_dequeue_burst(rxq->vhu, rxq->qp, rxq->mp, pkts, n);
}

static uint16_t
vv_tx_burst(void *q, struct rte_mbuf **pkts, uint16_t n)
{
	struct vv_txq *txq = q;
	uint16_t done;

	/* The library copies and leaves the mbufs to us (docs/mbufs.md);
	 * what it did not consume stays with the caller, as tx_burst
	 * requires. */
	done = vhu_enqueue_burst(txq->vhu, txq->qp, pkts, n);
	vmlink_tx_free(pkts, done);
	return done;
}

/* ------------------------------------------------------------------------ */
/* Link state and rx interrupts, driven by library events */

/* Make KICKFD (-1: none) the fd behind rx queue QP's proxy epoll fd.
 * Called with intr_lock held. */
static void
vv_proxy_update(struct vv_private *priv, uint16_t qp, int kickfd)
{
	struct epoll_event ev = {.events = EPOLLIN};
	int epfd = priv->proxy_epfd[qp];

	if (epfd < 0)
		return;
	if (priv->proxied_kickfd[qp] == kickfd)
		return;
	if (priv->proxied_kickfd[qp] >= 0)
		epoll_ctl(epfd, EPOLL_CTL_DEL, priv->proxied_kickfd[qp], NULL);
	priv->proxied_kickfd[qp] = -1;
	if (kickfd >= 0) {
		ev.data.fd = kickfd;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, kickfd, &ev) < 0)
			VV_LOG(ERR, "%s: rx queue %u: cannot watch kick fd: %s",
				priv->path, qp, strerror(errno));
		else
			priv->proxied_kickfd[qp] = kickfd;
	}
}

static void
vv_set_link(struct vv_private *priv, bool up)
{
	struct rte_eth_link link = {
		.link_speed = RTE_ETH_SPEED_NUM_10G,
		.link_duplex = RTE_ETH_LINK_FULL_DUPLEX,
		.link_autoneg = RTE_ETH_LINK_FIXED,
		.link_status = up ? RTE_ETH_LINK_UP : RTE_ETH_LINK_DOWN,
	};

	/* 0: the status changed */
	if (rte_eth_linkstatus_set(priv->eth, &link) == 0 &&
			priv->eth->data->dev_started)
		rte_eth_dev_callback_process(priv->eth, RTE_ETH_EVENT_INTR_LSC,
			NULL);
}

static void
vv_guest_rx_ring(struct vv_private *priv, uint16_t qp, bool up)
{
	bool was = __atomic_exchange_n(&priv->guest_rx_up[qp], up,
		__ATOMIC_RELAXED);

	if (was != up && priv->eth->data->dev_started)
		rte_eth_dev_callback_process(priv->eth,
			RTE_ETH_EVENT_QUEUE_STATE, NULL);
}

static void
vv_event(struct vhu_dev *vhu __rte_unused, const struct vhu_event *ev, void *arg)
{
	struct vv_private *priv = arg;

	/* The library logs these events (within its log budget: a peer
	 * can cause them at any rate); the port only follows them. */
	switch (ev->type) {
	case VHU_EVENT_LINK_UP:
		vv_set_link(priv, true);
		break;
	case VHU_EVENT_LINK_DOWN:
		vv_set_link(priv, false);
		break;
	case VHU_EVENT_QUEUE_UP:
	case VHU_EVENT_QUEUE_DOWN:
		if (ev->dir == VHU_ENQ && ev->queue_pair < priv->queue_pairs)
			vv_guest_rx_ring(priv, ev->queue_pair,
				ev->type == VHU_EVENT_QUEUE_UP);
		if (ev->dir == VHU_DEQ && ev->queue_pair < priv->queue_pairs) {
			/* QUEUE_DOWN comes before the library closes
			 * the kick fd: drop it from the proxy now. */
			rte_spinlock_lock(&priv->intr_lock);
			vv_proxy_update(priv, ev->queue_pair,
				ev->type == VHU_EVENT_QUEUE_UP ?
				vhu_queue_kickfd(priv->vhu, ev->queue_pair) : -1);
			rte_spinlock_unlock(&priv->intr_lock);
		}
		break;
	default:
		break;
	}
}

static void
vv_intr_uninstall(struct rte_eth_dev *dev)
{
	struct vv_private *priv = dev->data->dev_private;
	uint16_t q;

	rte_spinlock_lock(&priv->intr_lock);
	for (q = 0; q < priv->queue_pairs; q++) {
		if (priv->proxy_epfd[q] >= 0)
			close(priv->proxy_epfd[q]);
		priv->proxy_epfd[q] = -1;
		priv->proxied_kickfd[q] = -1;
	}
	rte_spinlock_unlock(&priv->intr_lock);
	if (dev->intr_handle != NULL) {
		rte_intr_vec_list_free(dev->intr_handle);
		rte_intr_instance_free(dev->intr_handle);
		dev->intr_handle = NULL;
	}
}

static int
vv_intr_install(struct rte_eth_dev *dev)
{
	struct vv_private *priv = dev->data->dev_private;
	uint16_t nb_rxq = dev->data->nb_rx_queues;
	struct rte_intr_handle *h;
	uint16_t q;

	h = rte_intr_instance_alloc(RTE_INTR_INSTANCE_F_PRIVATE);
	if (h == NULL)
		return -ENOMEM;
	dev->intr_handle = h;
	/* The proxy epoll fds are not read: EAL reads nothing for them. */
	if (rte_intr_efd_counter_size_set(h, 0) != 0 ||
			rte_intr_vec_list_alloc(h, NULL, nb_rxq) != 0)
		goto fail;
	for (q = 0; q < nb_rxq; q++) {
		int epfd = epoll_create1(EPOLL_CLOEXEC);

		if (epfd < 0) {
			VV_LOG(ERR, "%s: epoll_create1: %s", priv->path, strerror(errno));
			goto fail;
		}
		rte_spinlock_lock(&priv->intr_lock);
		priv->proxy_epfd[q] = epfd;
		vv_proxy_update(priv, q, vhu_queue_kickfd(priv->vhu, q));
		rte_spinlock_unlock(&priv->intr_lock);
		if (rte_intr_vec_list_index_set(h, q, RTE_INTR_VEC_RXTX_OFFSET + q) ||
				rte_intr_efds_index_set(h, q, epfd))
			goto fail;
	}
	if (rte_intr_nb_efd_set(h, nb_rxq) || rte_intr_max_intr_set(h, nb_rxq + 1) ||
			rte_intr_type_set(h, RTE_INTR_HANDLE_VDEV))
		goto fail;
	return 0;
fail:
	vv_intr_uninstall(dev);
	return -ENOMEM;
}

static int
vv_rx_intr_enable(struct rte_eth_dev *dev, uint16_t qid)
{
	struct vv_private *priv = dev->data->dev_private;
	int ret = vhu_queue_notify(priv->vhu, qid, true);

	/* 1: buffers are already pending; the caller polls again anyway. */
	return ret < 0 ? ret : 0;
}

static int
vv_rx_intr_disable(struct rte_eth_dev *dev, uint16_t qid)
{
	struct vv_private *priv = dev->data->dev_private;
	int ret = vhu_queue_notify(priv->vhu, qid, false);

	return ret < 0 ? ret : 0;
}

/* ------------------------------------------------------------------------ */
/* Control */

/* Offloads: what the guest may leave undone reaches the application
 * only if it enabled the rx offload (the frame's mbuf then carries the
 * TX flags, RTE_MBUF_F_RX_L4_CKSUM_NONE and, for TSO, RTE_MBUF_F_RX_LRO);
 * what the application leaves undone is done for a guest that did not
 * negotiate it. */
#define VV_RX_OFFLOADS (RTE_ETH_RX_OFFLOAD_TCP_CKSUM | \
	RTE_ETH_RX_OFFLOAD_UDP_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_LRO)
#define VV_TX_OFFLOADS (RTE_ETH_TX_OFFLOAD_TCP_CKSUM | \
	RTE_ETH_TX_OFFLOAD_UDP_CKSUM | RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | \
	RTE_ETH_TX_OFFLOAD_TCP_TSO)

/* The mbuf TX flags dequeued frames may carry, from the rx offloads.
 * The L4 flag is a 2-bit value (TCP 01, UDP 11): UDP only with TCP. */
static uint64_t
vv_deq_flags(uint64_t rx)
{
	uint64_t fl = 0;

	if (!(rx & RTE_ETH_RX_OFFLOAD_TCP_CKSUM))
		return 0;
	fl |= RTE_MBUF_F_TX_TCP_CKSUM;
	if (rx & RTE_ETH_RX_OFFLOAD_UDP_CKSUM)
		fl |= RTE_MBUF_F_TX_UDP_CKSUM;
	if (rx & RTE_ETH_RX_OFFLOAD_TCP_LRO)
		fl |= RTE_MBUF_F_TX_TCP_SEG;
	return fl;
}

/* The mbuf TX flags enqueue acts on, from the tx offloads. */
static uint64_t
vv_enq_flags(uint64_t tx)
{
	uint64_t fl = 0;

	if (tx & (RTE_ETH_TX_OFFLOAD_TCP_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM))
		fl |= RTE_MBUF_F_TX_L4_MASK;
	if (tx & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM)
		fl |= RTE_MBUF_F_TX_IP_CKSUM;
	if (tx & RTE_ETH_TX_OFFLOAD_TCP_TSO)
		fl |= RTE_MBUF_F_TX_TCP_SEG;
	return fl;
}

static int
vv_configure(struct rte_eth_dev *dev)
{
	struct vv_private *priv = dev->data->dev_private;
	const struct rte_eth_conf *conf = &dev->data->dev_conf;

	if (rte_eal_process_type() != RTE_PROC_PRIMARY)
		return 0;
	return vhu_offloads_set(priv->vhu, vv_deq_flags(conf->rxmode.offloads),
		vv_enq_flags(conf->txmode.offloads));
}

static int
vv_start(struct rte_eth_dev *dev)
{
	uint16_t q;
	int ret;

	if (dev->data->dev_conf.intr_conf.rxq && dev->intr_handle == NULL) {
		ret = vv_intr_install(dev);
		if (ret != 0)
			return ret;
	}
	for (q = 0; q < dev->data->nb_rx_queues; q++)
		dev->data->rx_queue_state[q] = RTE_ETH_QUEUE_STATE_STARTED;
	for (q = 0; q < dev->data->nb_tx_queues; q++)
		dev->data->tx_queue_state[q] = RTE_ETH_QUEUE_STATE_STARTED;
	dev->data->dev_started = 1;
	/* dev_link already follows the library's LINK_UP/DOWN events */
	return 0;
}

static int
vv_stop(struct rte_eth_dev *dev)
{
	uint16_t q;

	dev->data->dev_started = 0;
	for (q = 0; q < dev->data->nb_rx_queues; q++)
		dev->data->rx_queue_state[q] = RTE_ETH_QUEUE_STATE_STOPPED;
	for (q = 0; q < dev->data->nb_tx_queues; q++)
		dev->data->tx_queue_state[q] = RTE_ETH_QUEUE_STATE_STOPPED;
	vv_intr_uninstall(dev);
	return 0;
}

static int
vv_close(struct rte_eth_dev *dev)
{
	struct vv_private *priv = dev->data->dev_private;

	if (rte_eal_process_type() != RTE_PROC_PRIMARY || priv == NULL)
		return 0;
	vv_intr_uninstall(dev);
	if (priv->vhu != NULL) {
		vhu_destroy(priv->vhu);
		priv->vhu = NULL;
	}
	/* mac_addrs points into priv, which ethdev frees with dev_private */
	dev->data->mac_addrs = NULL;
	return 0;
}

static int
vv_info(struct rte_eth_dev *dev, struct rte_eth_dev_info *info)
{
	struct vv_private *priv = dev->data->dev_private;

	info->max_mac_addrs = 1;
	info->max_rx_pktlen = VHU_MAX_FRAME_LEN;
	info->min_mtu = RTE_ETHER_MIN_MTU;
	info->max_mtu = VHU_MAX_FRAME_LEN - VV_L2_OVERHEAD;
	info->max_rx_queues = priv->queue_pairs;
	info->max_tx_queues = priv->queue_pairs;
	info->min_rx_bufsize = 0;
	/* Frames larger than an mbuf arrive as chains; chains go out. */
	info->rx_offload_capa = RTE_ETH_RX_OFFLOAD_SCATTER | VV_RX_OFFLOADS;
	info->tx_offload_capa = RTE_ETH_TX_OFFLOAD_MULTI_SEGS | VV_TX_OFFLOADS;
	info->max_lro_pkt_size = VHU_MAX_FRAME_LEN;
	info->speed_capa = RTE_ETH_LINK_SPEED_10G;
	return 0;
}

static int
vv_rxq_setup(struct rte_eth_dev *dev, uint16_t qid, uint16_t nb_desc __rte_unused,
	unsigned int socket __rte_unused, const struct rte_eth_rxconf *conf __rte_unused,
	struct rte_mempool *mp)
{
	struct vv_private *priv = dev->data->dev_private;
	struct vv_rxq *rxq = &priv->rxq[qid];

	rxq->vhu = priv->vhu;
	rxq->qp = qid;
	rxq->mp = mp;
	dev->data->rx_queues[qid] = rxq;
	return 0;
}

static int
vv_txq_setup(struct rte_eth_dev *dev, uint16_t qid, uint16_t nb_desc,
	unsigned int socket __rte_unused, const struct rte_eth_txconf *conf __rte_unused)
{
	struct vv_private *priv = dev->data->dev_private;
	struct vv_txq *txq = &priv->txq[qid];

	priv->txq_desc[qid] = nb_desc;

	txq->vhu = priv->vhu;
	txq->qp = qid;
	dev->data->tx_queues[qid] = txq;
	return 0;
}

static void
vv_txq_info(struct rte_eth_dev *dev, uint16_t qid, struct rte_eth_txq_info *qinfo)
{
	struct vv_private *priv = dev->data->dev_private;

	/* no guest rx ring behind the queue: nothing to put frames in */
	qinfo->nb_desc = __atomic_load_n(&priv->guest_rx_up[qid],
		__ATOMIC_RELAXED) ? RTE_MAX(priv->txq_desc[qid], 1) : 0;
}

static int
vv_link_update(struct rte_eth_dev *dev __rte_unused, int wait __rte_unused)
{
	return 0;	/* kept current by the library's events */
}

static int
vv_mtu_set(struct rte_eth_dev *dev __rte_unused, uint16_t mtu __rte_unused)
{
	/* Nothing to program: frames up to max_rx_pktlen pass either way;
	 * the MTU offered to the guest is the mtu= devarg. */
	return 0;
}

static int
vv_mac_set(struct rte_eth_dev *dev __rte_unused,
	struct rte_ether_addr *mac __rte_unused)
{
	return 0;	/* ethdev stores it; nothing to program */
}

static int
vv_promisc(struct rte_eth_dev *dev __rte_unused)
{
	return 0;	/* a vhost port receives every frame the guest sends */
}

static int
vv_stats_get(struct rte_eth_dev *dev, struct rte_eth_stats *st)
{
	struct vv_private *priv = dev->data->dev_private;
	struct vhu_queue_stats qs;
	uint16_t q;

	for (q = 0; q < dev->data->nb_rx_queues; q++) {
		if (vhu_queue_stats_get(priv->vhu, q, VHU_DEQ, &qs) != 0)
			continue;
		st->ipackets += qs.packets;
		st->ibytes += qs.bytes;
		st->rx_nombuf += qs.mbuf_alloc_failed;
		if (q < RTE_ETHDEV_QUEUE_STAT_CNTRS) {
			st->q_ipackets[q] = qs.packets;
			st->q_ibytes[q] = qs.bytes;
		}
	}
	for (q = 0; q < dev->data->nb_tx_queues; q++) {
		if (vhu_queue_stats_get(priv->vhu, q, VHU_ENQ, &qs) != 0)
			continue;
		st->opackets += qs.packets;
		st->obytes += qs.bytes;
		st->oerrors += qs.drops;
		if (q < RTE_ETHDEV_QUEUE_STAT_CNTRS) {
			st->q_opackets[q] = qs.packets;
			st->q_obytes[q] = qs.bytes;
			st->q_errors[q] = qs.drops;
		}
	}
	return 0;
}

static int
vv_stats_reset(struct rte_eth_dev *dev)
{
	struct vv_private *priv = dev->data->dev_private;
	uint16_t q;

	for (q = 0; q < priv->queue_pairs; q++) {
		vhu_queue_stats_reset(priv->vhu, q, VHU_DEQ);
		vhu_queue_stats_reset(priv->vhu, q, VHU_ENQ);
	}
	return 0;
}

/* xstats: every library counter of every queue, named
 * rx_q<N>_<counter> (guest TX virtqueue) and tx_q<N>_<counter>. */
static unsigned int
vv_xstats_count(const struct rte_eth_dev *dev)
{
	return (dev->data->nb_rx_queues + dev->data->nb_tx_queues) *
		VHU_QUEUE_STATS_NUM;
}

static int
vv_xstats_get_names(struct rte_eth_dev *dev, struct rte_eth_xstat_name *names,
	unsigned int size)
{
	unsigned int n = vv_xstats_count(dev), k = 0, i;
	uint16_t q;

	if (names == NULL || size < n)
		return (int)n;
	for (q = 0; q < dev->data->nb_rx_queues; q++)
		for (i = 0; i < VHU_QUEUE_STATS_NUM; i++)
			snprintf(names[k++].name, sizeof(names[0].name), "rx_q%u_%s",
				q, vhu_queue_stat_name(i));
	for (q = 0; q < dev->data->nb_tx_queues; q++)
		for (i = 0; i < VHU_QUEUE_STATS_NUM; i++)
			snprintf(names[k++].name, sizeof(names[0].name), "tx_q%u_%s",
				q, vhu_queue_stat_name(i));
	return (int)n;
}

static int
vv_xstats_get(struct rte_eth_dev *dev, struct rte_eth_xstat *xs, unsigned int size)
{
	struct vv_private *priv = dev->data->dev_private;
	unsigned int n = vv_xstats_count(dev), k = 0, i;
	struct vhu_queue_stats qs;
	const uint64_t *v = (const uint64_t *)&qs;
	uint16_t q;
	int dir;

	if (xs == NULL || size < n)
		return (int)n;
	for (dir = 0; dir < 2; dir++) {
		uint16_t nq = dir == 0 ? dev->data->nb_rx_queues :
			dev->data->nb_tx_queues;

		for (q = 0; q < nq; q++) {
			memset(&qs, 0, sizeof(qs));
			vhu_queue_stats_get(priv->vhu, q,
				dir == 0 ? VHU_DEQ : VHU_ENQ, &qs);
			for (i = 0; i < VHU_QUEUE_STATS_NUM; i++) {
				xs[k].id = k;
				xs[k].value = v[i];
				k++;
			}
		}
	}
	return (int)n;
}

static const struct eth_dev_ops vv_ops = {
	.dev_configure = vv_configure,
	.dev_start = vv_start,
	.dev_stop = vv_stop,
	.dev_close = vv_close,
	.dev_infos_get = vv_info,
	.rx_queue_setup = vv_rxq_setup,
	.tx_queue_setup = vv_txq_setup,
	.txq_info_get = vv_txq_info,
	.link_update = vv_link_update,
	.mtu_set = vv_mtu_set,
	.mac_addr_set = vv_mac_set,
	.promiscuous_enable = vv_promisc,
	.promiscuous_disable = vv_promisc,
	.allmulticast_enable = vv_promisc,
	.allmulticast_disable = vv_promisc,
	.stats_get = vv_stats_get,
	.stats_reset = vv_stats_reset,
	.xstats_get = vv_xstats_get,
	.xstats_get_names = vv_xstats_get_names,
	.xstats_reset = vv_stats_reset,
	.rx_queue_intr_enable = vv_rx_intr_enable,
	.rx_queue_intr_disable = vv_rx_intr_disable,
};

/* ------------------------------------------------------------------------ */
/* Private API (rte_pmd_vmlink_vhost.h) */

/* The port's private data, when it is one of ours in this (primary)
 * process; NULL and *err otherwise. */
static struct vv_private *
vv_port(uint16_t port_id, int *err)
{
	struct rte_eth_dev *dev;

	if (!rte_eth_dev_is_valid_port(port_id)) {
		*err = -ENODEV;
		return NULL;
	}
	dev = &rte_eth_devices[port_id];
	if (dev->dev_ops != &vv_ops) {
		*err = -ENOTSUP;
		return NULL;
	}
	if (rte_eal_process_type() != RTE_PROC_PRIMARY) {
		*err = -E_RTE_SECONDARY;
		return NULL;
	}
	return dev->data->dev_private;
}

int
rte_pmd_vmlink_vhost_suspend(uint16_t port_id)
{
	int err = 0;
	struct vv_private *priv = vv_port(port_id, &err);

	return priv == NULL ? err : vhu_suspend(priv->vhu);
}

int
rte_pmd_vmlink_vhost_resume(uint16_t port_id)
{
	int err = 0;
	struct vv_private *priv = vv_port(port_id, &err);

	return priv == NULL ? err : vhu_resume(priv->vhu);
}

int
rte_pmd_vmlink_vhost_suspended(uint16_t port_id)
{
	int err = 0;
	struct vv_private *priv = vv_port(port_id, &err);

	return priv == NULL ? err : vhu_suspended(priv->vhu);
}

/* ------------------------------------------------------------------------ */
/* Probe */

struct vv_args {
	struct vmlink_devargs_ctx ctx;
	char path[108];
	bool has_path;
	struct vhu_config cfg;
	bool has_mac;
	struct rte_ether_addr mac;
};

static int
vv_arg(const char *key, const char *value, void *opaque)
{
	struct vv_args *a = opaque;
	uint64_t v = 0;
	int ret;

	if (strcmp(key, VV_ARG_PATH) == 0) {
		ret = vmlink_devarg_path(&a->ctx, key, value, a->path,
			sizeof(a->path));
		a->has_path = ret == 0;
	} else if (strcmp(key, VV_ARG_MAC) == 0) {
		ret = vmlink_devarg_mac(&a->ctx, key, value, &a->mac);
		a->has_mac = ret == 0;
	} else if (strcmp(key, VV_ARG_CLIENT) == 0) {
		ret = vmlink_devarg_uint(&a->ctx, key, value, 0, 1, &v);
		a->cfg.client = v == 1;
	} else if (strcmp(key, VV_ARG_ZERO_COPY) == 0) {
		ret = vmlink_devarg_uint(&a->ctx, key, value, 0, 1, &v);
		a->cfg.zero_copy = v == 1;
	} else if (strcmp(key, VV_ARG_QUEUES) == 0) {
		ret = vmlink_devarg_uint(&a->ctx, key, value, 1,
			VHU_MAX_QUEUE_PAIRS, &v);
		a->cfg.max_queue_pairs = (uint16_t)v;
	} else if (strcmp(key, VV_ARG_COPY_THRESHOLD) == 0) {
		ret = vmlink_devarg_uint(&a->ctx, key, value, 0,
			VHU_MAX_FRAME_LEN, &v);
		a->cfg.copy_threshold = (uint32_t)v;
	} else if (strcmp(key, VV_ARG_INFLIGHT) == 0) {
		ret = vmlink_devarg_uint(&a->ctx, key, value, 1, 32768, &v);
		a->cfg.inflight_budget = (uint16_t)v;
	} else if (strcmp(key, VV_ARG_MTU) == 0) {
		ret = vmlink_devarg_uint(&a->ctx, key, value, RTE_ETHER_MIN_MTU,
			VHU_MAX_FRAME_LEN - VV_L2_OVERHEAD, &v);
		a->cfg.mtu = (uint16_t)v;
	} else {
		ret = -EINVAL;
	}
	return ret;
}

static int
vv_parse_params(const char *params, struct vv_args *a)
{
	int ret;

	vhu_config_init(&a->cfg);
	if (params != NULL && params[0] != '\0') {
		ret = vmlink_devargs_parse(&a->ctx, params, vv_valid_args,
			"path, client, queues, zero-copy, copy-threshold, "
			"inflight, mtu, mac", vv_arg, a);
		if (ret != 0)
			return ret;
	}
	if (!a->has_path) {
		VMLINK_DEVARG_ERR(&a->ctx, "devarg path=<socket> is required");
		return -EINVAL;
	}
	return 0;
}

static int
vv_parse_args(struct rte_vdev_device *vdev, struct vv_args *a)
{
	return vv_parse_params(rte_vdev_device_args(vdev), a);
}

int
vmlink_vhost_devargs_check(const char *params)
{
	struct vv_args args = {
		.ctx = {vv_logtype, "net_vmlink_vhost", "fuzz"},
	};

	return vv_parse_params(params, &args);
}

static int
vv_probe(struct rte_vdev_device *vdev)
{
	const char *name = rte_vdev_device_name(vdev);
	struct vv_args args = {
		.ctx = {vv_logtype, "net_vmlink_vhost", name},
	};
	struct vv_private *priv;
	struct rte_eth_dev *dev;
	uint16_t q;
	int ret;

	if (rte_eal_process_type() != RTE_PROC_PRIMARY)
		return vmlink_secondary_probe(vdev, vv_logtype, "net_vmlink_vhost");
	ret = vv_parse_args(vdev, &args);
	if (ret != 0)
		return ret;

	dev = rte_eth_vdev_allocate(vdev, sizeof(*priv));
	if (dev == NULL)
		return -ENOMEM;
	priv = dev->data->dev_private;
	priv->eth = dev;
	rte_spinlock_init(&priv->intr_lock);
	priv->queue_pairs = args.cfg.max_queue_pairs;
	snprintf(priv->path, sizeof(priv->path), "%s", args.path);
	for (q = 0; q < VHU_MAX_QUEUE_PAIRS; q++) {
		priv->proxy_epfd[q] = -1;
		priv->proxied_kickfd[q] = -1;
	}
	vmlink_port_init_link(dev, &priv->mac, args.has_mac ? &args.mac : NULL);
	/* No AUTOFILL_QUEUE_XSTATS: the per-queue xstats below already name
	 * rx_q<N>_packets and friends. */
	dev->data->dev_flags |= RTE_ETH_DEV_INTR_LSC;
	dev->dev_ops = &vv_ops;
	dev->rx_pkt_burst = vv_rx_burst;
	dev->tx_pkt_burst = vv_tx_burst;

	args.cfg.socket_path = priv->path;
	args.cfg.name = name;
	args.cfg.numa_node = rte_socket_id();
	args.cfg.event_cb = vv_event;
	args.cfg.event_arg = priv;
	args.cfg.port_id = dev->data->port_id;
	priv->vhu = vhu_create(&args.cfg);
	if (priv->vhu == NULL) {
		ret = -rte_errno;
		VV_LOG(ERR, "%s: cannot serve vhost-user socket %s: %s", name,
			priv->path, rte_strerror(rte_errno));
		dev->data->mac_addrs = NULL;
		rte_eth_dev_release_port(dev);
		return ret != 0 ? ret : -EINVAL;
	}
	rte_eth_dev_probing_finish(dev);
	VV_LOG(INFO, "%s: %s %s, %u queue pair%s, zero-copy %s", name,
		args.cfg.client ? "connecting to" : "listening on", priv->path,
		priv->queue_pairs, priv->queue_pairs == 1 ? "" : "s",
		args.cfg.zero_copy ? "on" : "off");
	return 0;
}

static int
vv_remove(struct rte_vdev_device *vdev)
{
	return vmlink_vdev_remove(vdev, vv_close);
}

static struct rte_vdev_driver vv_driver = {
	.probe = vv_probe,
	.remove = vv_remove,
};

RTE_PMD_REGISTER_VDEV(net_vmlink_vhost, vv_driver);
RTE_PMD_REGISTER_PARAM_STRING(net_vmlink_vhost,
	"path=<socket path> "
	"client=<0|1> "
	"queues=<queue pairs> "
	"zero-copy=<0|1> "
	"copy-threshold=<bytes> "
	"inflight=<zero-copy frames per queue> "
	"mtu=<offered to the guest> "
	"mac=<xx:xx:xx:xx:xx:xx>");
