/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Two vhu devices, frames forwarded between them (dequeue from one,
 * enqueue into the other): enough to put two real guests on one wire. Used
 * by vhu_qemu_ping.py. Runs until stdin reaches EOF, then prints
 *   VHU-BRIDGE a2b=N b2a=M drops=D faults=F malformed=X zc=Z
 * and exits 0.
 *
 * usage: vhu_bridge <sock-a> <sock-b> <zero-copy 0|1> [queue-pairs [client]]
 * (queue pair i of one side goes to queue pair i of the other)
 */

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <inttypes.h>

#include <rte_errno.h>
#include <rte_mbuf.h>

#include "vhu.h"

#define BURST 32

static void
on_event(struct vhu_dev *dev, const struct vhu_event *ev, void *arg)
{
	if (ev->type == VHU_EVENT_LINK_UP || ev->type == VHU_EVENT_LINK_DOWN)
		printf("VHU-BRIDGE %s link %s features %#" PRIx64 "\n",
			(const char *)arg,
			ev->type == VHU_EVENT_LINK_UP ? "up" : "down",
			vhu_negotiated_features(dev));
	else if (ev->type == VHU_EVENT_QUEUE_FAULT)
		printf("VHU-BRIDGE %s fault %s\n", (const char *)arg,
			vhu_malformed_name(ev->value));
	fflush(stdout);
}

static uint64_t
forward(struct vhu_dev *from, struct vhu_dev *to, uint16_t qp,
	struct rte_mempool *mp, uint64_t *drops)
{
	struct rte_mbuf *m[BURST];
	uint16_t n = vhu_dequeue_burst(from, qp, mp, m, BURST), k;

	if (n == 0)
		return 0;
	k = vhu_enqueue_burst(to, qp, m, n);
	*drops += n - k;
	rte_pktmbuf_free_bulk(m, n);	/* the caller owns them either way */
	return n;
}

int
main(int argc, char **argv)
{
	char *eal[] = { argv[0], (char *)"--in-memory", (char *)"-m", (char *)"64",
		(char *)"--no-pci", (char *)"--no-telemetry", (char *)"-l",
		(char *)"0", (char *)"--log-level=lib.eal:error",
		(char *)"--log-level=lib.vmlink.vhost_user:info" };
	struct vhu_dev *dev[2];
	struct vhu_config cfg;
	struct rte_mempool *mp;
	struct pollfd p = { .fd = 0, .events = POLLIN };
	uint64_t a2b = 0, b2a = 0, drops = 0, faults = 0, mal = 0, zc = 0;
	static const char *names[2] = { "a", "b" };
	unsigned int i, idle = 0;
	uint16_t qps = 1, q;

	int client = 0;

	if (argc < 4 || argc > 6) {
		fprintf(stderr, "usage: %s <sock-a> <sock-b> <zero-copy> [queue-pairs [client]]\n",
			argv[0]);
		return 2;
	}
	if (argc >= 5)
		qps = (uint16_t)atoi(argv[4]);
	if (argc == 6)
		client = atoi(argv[5]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* VHU_BRIDGE_DEBUG=1: every request the front-ends send is logged */
	if (getenv("VHU_BRIDGE_DEBUG") != NULL)
		eal[9] = (char *)"--log-level=lib.vmlink.vhost_user:debug";
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])), eal) < 0)
		return 1;
	mp = rte_pktmbuf_pool_create("bridge", 4095, 256, 0,
		RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (mp == NULL)
		return 1;
	for (i = 0; i < 2; i++) {
		vhu_config_init(&cfg);
		cfg.socket_path = argv[1 + i];
		cfg.name = names[i];
		cfg.zero_copy = atoi(argv[3]) != 0;
		cfg.max_queue_pairs = qps;
		cfg.client = client != 0;
		cfg.copy_threshold = 256;
		cfg.event_cb = on_event;
		cfg.event_arg = (void *)(uintptr_t)names[i];
		dev[i] = vhu_create(&cfg);
		if (dev[i] == NULL) {
			fprintf(stderr, "vhu_create %s: %s\n", argv[1 + i],
				rte_strerror(rte_errno));
			return 1;
		}
	}
	printf("VHU-BRIDGE %s\n", client ? "connecting" : "listening");
	for (;;) {
		uint64_t n1 = 0, n2 = 0;

		for (q = 0; q < qps; q++) {
			n1 += forward(dev[0], dev[1], q, mp, &drops);
			n2 += forward(dev[1], dev[0], q, mp, &drops);
		}
		a2b += n1;
		b2a += n2;
		if (n1 + n2 == 0)
			idle++;
		else
			idle = 0;
		/* Do not starve the TCG guests of the shared cores. */
		if (idle > 64) {
			idle = 0;
			usleep(200);
			if (poll(&p, 1, 0) == 1) {
				char c;

				if (read(0, &c, 1) <= 0)
					break;
			}
		}
	}
	for (i = 0; i < 2; i++) {
		struct vhu_queue_stats s;
		enum vhu_queue_dir d;
		unsigned int j;

		for (q = 0; q < qps; q++) {
			for (d = VHU_DEQ; d <= VHU_ENQ; d++) {
				vhu_queue_stats_get(dev[i], q, d, &s);
				faults += s.faults;
				for (j = 0; j < VHU_MAL_NUM; j++)
					mal += s.malformed[j];
				if (d == VHU_DEQ)
					zc += s.zc_packets;
			}
		}
		vhu_destroy(dev[i]);
	}
	printf("VHU-BRIDGE a2b=%lu b2a=%lu drops=%lu faults=%lu malformed=%lu zc=%lu\n",
		(unsigned long)a2b, (unsigned long)b2a, (unsigned long)drops,
		(unsigned long)faults, (unsigned long)mal, (unsigned long)zc);
	rte_mempool_free(mp);
	rte_eal_cleanup();
	return 0;
}
