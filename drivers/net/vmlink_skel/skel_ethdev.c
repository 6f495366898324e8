/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * Minimal vdev PMD proving the build model: it is linked whole into the
 * vmlink application and built as a shared object that stock dpdk-testpmd
 * loads with -d. It receives nothing and drops what it is given, counting
 * both, like net_null without a generator.
 */

#include <stdlib.h>
#include <string.h>

#include <rte_ethdev.h>
#include <ethdev_driver.h>
#include <ethdev_vdev.h>
#include <bus_vdev_driver.h>
#include <rte_kvargs.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

RTE_LOG_REGISTER_DEFAULT(skel_logtype, NOTICE);
#define SKEL_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_ ## level, skel_logtype, "%s(): " fmt "\n", \
		__func__, ##__VA_ARGS__)

#define SKEL_MAX_QUEUES 16

struct skel_txq {
	uint64_t dropped;
	uint64_t dropped_bytes;
};

struct skel_private {
	struct skel_txq txq[SKEL_MAX_QUEUES];
	struct rte_ether_addr mac;
};

static uint16_t
skel_rx(void *q __rte_unused, struct rte_mbuf **pkts __rte_unused,
	uint16_t n __rte_unused)
{
	return 0;
}

static uint16_t
skel_tx(void *q, struct rte_mbuf **pkts, uint16_t n)
{
	struct skel_txq *txq = q;
	uint16_t i;

	for (i = 0; i < n; i++) {
		txq->dropped_bytes += pkts[i]->pkt_len;
		rte_pktmbuf_free(pkts[i]);
	}
	txq->dropped += n;
	return n;
}

static int
skel_configure(struct rte_eth_dev *dev __rte_unused)
{
	return 0;
}

static int
skel_start(struct rte_eth_dev *dev)
{
	dev->data->dev_link.link_status = RTE_ETH_LINK_UP;
	dev->data->dev_started = 1;
	return 0;
}

static int
skel_stop(struct rte_eth_dev *dev)
{
	dev->data->dev_link.link_status = RTE_ETH_LINK_DOWN;
	dev->data->dev_started = 0;
	return 0;
}

static int
skel_close(struct rte_eth_dev *dev)
{
	if (rte_eal_process_type() != RTE_PROC_PRIMARY)
		return 0;
	rte_free(dev->data->dev_private);
	dev->data->dev_private = NULL;
	dev->data->mac_addrs = NULL;
	return 0;
}

static int
skel_info(struct rte_eth_dev *dev __rte_unused, struct rte_eth_dev_info *info)
{
	info->max_mac_addrs = 1;
	info->max_rx_pktlen = RTE_ETHER_MAX_JUMBO_FRAME_LEN;
	info->max_rx_queues = SKEL_MAX_QUEUES;
	info->max_tx_queues = SKEL_MAX_QUEUES;
	info->min_rx_bufsize = 0;
	info->tx_offload_capa = RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
	return 0;
}

static int
skel_rxq_setup(struct rte_eth_dev *dev, uint16_t qid, uint16_t nb_desc __rte_unused,
	unsigned int socket __rte_unused, const struct rte_eth_rxconf *conf __rte_unused,
	struct rte_mempool *mp __rte_unused)
{
	dev->data->rx_queues[qid] = dev->data->dev_private;
	return 0;
}

static int
skel_txq_setup(struct rte_eth_dev *dev, uint16_t qid, uint16_t nb_desc __rte_unused,
	unsigned int socket __rte_unused, const struct rte_eth_txconf *conf __rte_unused)
{
	struct skel_private *priv = dev->data->dev_private;

	dev->data->tx_queues[qid] = &priv->txq[qid];
	return 0;
}

static int
skel_link_update(struct rte_eth_dev *dev __rte_unused, int wait __rte_unused)
{
	return 0;
}

static int
skel_stats_get(struct rte_eth_dev *dev, struct rte_eth_stats *st)
{
	struct skel_private *priv = dev->data->dev_private;
	uint16_t i;

	for (i = 0; i < dev->data->nb_tx_queues; i++)
		st->oerrors += priv->txq[i].dropped;
	return 0;
}

static int
skel_stats_reset(struct rte_eth_dev *dev)
{
	struct skel_private *priv = dev->data->dev_private;

	memset(priv->txq, 0, sizeof(priv->txq));
	return 0;
}

static const struct eth_dev_ops skel_ops = {
	.dev_configure = skel_configure,
	.dev_start = skel_start,
	.dev_stop = skel_stop,
	.dev_close = skel_close,
	.dev_infos_get = skel_info,
	.rx_queue_setup = skel_rxq_setup,
	.tx_queue_setup = skel_txq_setup,
	.link_update = skel_link_update,
	.stats_get = skel_stats_get,
	.stats_reset = skel_stats_reset,
};

static int
skel_probe(struct rte_vdev_device *vdev)
{
	const char *name = rte_vdev_device_name(vdev);
	struct skel_private *priv;
	struct rte_eth_dev *dev;

	SKEL_LOG(INFO, "probing %s", name);
	dev = rte_eth_vdev_allocate(vdev, sizeof(*priv));
	if (dev == NULL)
		return -ENOMEM;
	priv = dev->data->dev_private;
	rte_eth_random_addr(priv->mac.addr_bytes);
	dev->data->mac_addrs = &priv->mac;
	dev->data->dev_link.link_speed = RTE_ETH_SPEED_NUM_10G;
	dev->data->dev_link.link_duplex = RTE_ETH_LINK_FULL_DUPLEX;
	dev->data->dev_flags |= RTE_ETH_DEV_AUTOFILL_QUEUE_XSTATS;
	dev->dev_ops = &skel_ops;
	dev->rx_pkt_burst = skel_rx;
	dev->tx_pkt_burst = skel_tx;
	rte_eth_dev_probing_finish(dev);
	return 0;
}

static int
skel_remove(struct rte_vdev_device *vdev)
{
	struct rte_eth_dev *dev;

	dev = rte_eth_dev_allocated(rte_vdev_device_name(vdev));
	if (dev == NULL)
		return 0;
	skel_close(dev);
	return rte_eth_dev_release_port(dev);
}

static struct rte_vdev_driver skel_driver = {
	.probe = skel_probe,
	.remove = skel_remove,
};

RTE_PMD_REGISTER_VDEV(net_vmlink_skel, skel_driver);
