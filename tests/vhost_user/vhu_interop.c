/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Interop with an independent front-end: stock dpdk-testpmd with DPDK's
 * virtio-user driver connects to a vhu device; testpmd forwards (io mode)
 * everything it receives back out. This program enqueues numbered frames
 * of varied sizes to the guest and checks that every one comes back intact
 * through dequeue.
 *
 * usage: vhu_interop <dpdk-testpmd> <mrg 0|1> <zero-copy 0|1>
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>

#include "vhu.h"

#define INFLIGHT 96
#define BURST 32

static volatile int link_up;

static void
on_event(struct vhu_dev *dev, const struct vhu_event *ev, void *arg)
{
	(void)dev;
	(void)arg;
	if (ev->type == VHU_EVENT_LINK_UP)
		link_up = 1;
	else if (ev->type == VHU_EVENT_LINK_DOWN)
		link_up = 0;
	else if (ev->type == VHU_EVENT_QUEUE_FAULT)
		fprintf(stderr, "FAULT on qp %u dir %d: %s\n", ev->queue_pair,
			ev->dir, vhu_malformed_name(ev->value));
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint32_t
frame_len(uint32_t seq)
{
	static const uint32_t lens[] = { 60, 64, 128, 333, 512, 1000, 1514 };

	return lens[seq % (sizeof(lens) / sizeof(lens[0]))];
}

static void
fill(uint8_t *p, uint32_t len, uint32_t seq)
{
	uint32_t i;

	memcpy(p, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x88\xb5", 14);
	memcpy(p + 14, &seq, 4);
	for (i = 18; i < len; i++)
		p[i] = (uint8_t)(seq * 7 + i);
}

static int
check(const struct rte_mbuf *m, uint32_t *seq_out)
{
	uint8_t buf[1514];
	const uint8_t *p;
	uint32_t seq, len, i;

	if (m->pkt_len < 18 || m->pkt_len > sizeof(buf))
		return -1;
	p = rte_pktmbuf_read(m, 0, m->pkt_len, buf);
	memcpy(&seq, p + 14, 4);
	len = frame_len(seq);
	if (m->pkt_len != len)
		return -1;
	for (i = 18; i < len; i++)
		if (p[i] != (uint8_t)(seq * 7 + i))
			return -1;
	*seq_out = seq;
	return 0;
}

int
main(int argc, char **argv)
{
	char *eal[] = { argv[0], (char *)"--in-memory", (char *)"-m", (char *)"64",
		(char *)"--no-pci", (char *)"--no-telemetry", (char *)"-l",
		(char *)"0", (char *)"--log-level=lib.eal:error" };
	char path[64], vdev[160], tmp[] = "/tmp/vhu-interop-XXXXXX";
	struct vhu_config cfg;
	struct vhu_dev *dev;
	struct rte_mempool *mp;
	struct vhu_queue_stats sd, se;
	int in[2], rc = 1, status;
	pid_t pid;
	uint64_t sent = 0, got = 0, bad = 0, t0, end;
	uint32_t next_seq = 0;
	int mrg, zc;

	if (argc != 4) {
		fprintf(stderr, "usage: %s <dpdk-testpmd> <mrg> <zero-copy>\n",
			argv[0]);
		return 2;
	}
	mrg = atoi(argv[2]);
	zc = atoi(argv[3]);
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])), eal) < 0)
		return 1;
	mp = rte_pktmbuf_pool_create("vhu_io", 4095, 256, 0,
		RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (mp == NULL || mkdtemp(tmp) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/vhu.sock", tmp);

	vhu_config_init(&cfg);
	cfg.socket_path = path;
	cfg.name = "interop";
	cfg.zero_copy = zc != 0;
	cfg.copy_threshold = 256;
	cfg.event_cb = on_event;
	dev = vhu_create(&cfg);
	if (dev == NULL) {
		fprintf(stderr, "vhu_create: %s\n", rte_strerror(rte_errno));
		return 1;
	}

	snprintf(vdev, sizeof(vdev),
		"--vdev=net_virtio_user0,path=%s,queues=1,mrg_rxbuf=%d,in_order=0,packed_vq=0",
		path, mrg);
	if (pipe(in) != 0)
		return 1;
	pid = fork();
	if (pid == 0) {
		char prefix[64];

		snprintf(prefix, sizeof(prefix), "--file-prefix=vhu-io-%d",
			(int)getpid());
		dup2(in[0], 0);
		close(in[1]);
		execl(argv[1], argv[1], "-l", "0,1", "--in-memory", "-m", "256",
			"--no-pci", "--no-telemetry", "--single-file-segments",
			prefix, vdev, "--log-level=lib.eal:error", "--",
			"--forward-mode=io", "--auto-start", "--nb-cores=1",
			"--rxq=1", "--txq=1", "--rxd=256", "--txd=256",
			"--no-mlockall", (char *)NULL);
		_exit(127);
	}
	close(in[0]);

	t0 = now_ms();
	while (!link_up && now_ms() - t0 < 15000)
		usleep(10000);
	if (!link_up) {
		fprintf(stderr, "FAIL: testpmd never brought the link up\n");
		goto stop;
	}
	printf("link up after %lu ms (mrg_rxbuf=%d zero-copy=%d), negotiated features %#lx\n",
		(unsigned long)(now_ms() - t0), mrg, zc,
		(unsigned long)vhu_negotiated_features(dev));
	/* Frames delivered before testpmd starts its port are flushed by the
	 * virtio PMD ("flush the old packets"): probe every 50 ms until one
	 * comes back, then start counting from zero. */
	t0 = now_ms();
	while (got == 0 && now_ms() - t0 < 15000) {
		struct rte_mbuf *m[BURST];
		uint16_t n, i;

		if ((now_ms() - t0) % 50 == 0) {
			m[0] = rte_pktmbuf_alloc(mp);
			fill((uint8_t *)rte_pktmbuf_append(m[0], 60), 60, 0);
			(void)vhu_enqueue_burst(dev, 0, m, 1);
			rte_pktmbuf_free(m[0]);
		}
		n = vhu_dequeue_burst(dev, 0, mp, m, BURST);
		for (i = 0; i < n; i++) {
			uint32_t seq;

			if (check(m[i], &seq) == 0)
				got++;
		}
		rte_pktmbuf_free_bulk(m, n);
		usleep(1000);
	}
	if (got == 0) {
		fprintf(stderr, "FAIL: no frame came back from testpmd\n");
		goto stop;
	}
	printf("forwarding %lu ms after link up\n",
		(unsigned long)(now_ms() - t0));
	end = now_ms() + 100;
	while (now_ms() < end) {
		struct rte_mbuf *m[BURST];
		uint16_t n = vhu_dequeue_burst(dev, 0, mp, m, BURST);

		rte_pktmbuf_free_bulk(m, n);
	}
	got = 0;
	vhu_queue_stats_reset(dev, 0, VHU_DEQ);
	vhu_queue_stats_reset(dev, 0, VHU_ENQ);

	end = now_ms() + 1500;
	while (now_ms() < end) {
		struct rte_mbuf *m[BURST];
		uint16_t n, i, k;

		/* Send while fewer than INFLIGHT frames are out. */
		n = 0;
		while (n < BURST && sent - got - bad + n < INFLIGHT) {
			uint32_t len = frame_len(next_seq + n);

			m[n] = rte_pktmbuf_alloc(mp);
			if (m[n] == NULL)
				break;
			fill((uint8_t *)rte_pktmbuf_append(m[n], (uint16_t)len),
				len, next_seq + n);
			n++;
		}
		k = vhu_enqueue_burst(dev, 0, m, n);
		rte_pktmbuf_free_bulk(m, n);
		next_seq += k;
		sent += k;
		n = vhu_dequeue_burst(dev, 0, mp, m, BURST);
		for (i = 0; i < n; i++) {
			uint32_t seq;

			if (check(m[i], &seq) == 0)
				got++;
			else
				bad++;
		}
		rte_pktmbuf_free_bulk(m, n);
	}
	/* Drain what is still on its way back. */
	end = now_ms() + 3000;
	while (now_ms() < end && got + bad < sent) {
		struct rte_mbuf *m[BURST];
		uint16_t n = vhu_dequeue_burst(dev, 0, mp, m, BURST), i;

		for (i = 0; i < n; i++) {
			uint32_t seq;

			if (check(m[i], &seq) == 0)
				got++;
			else
				bad++;
		}
		rte_pktmbuf_free_bulk(m, n);
	}
	vhu_queue_stats_get(dev, 0, VHU_DEQ, &sd);
	vhu_queue_stats_get(dev, 0, VHU_ENQ, &se);
	printf("sent %lu, back intact %lu, corrupted %lu, lost %lu (%.2f Mpps round trip)\n",
		(unsigned long)sent, (unsigned long)got, (unsigned long)bad,
		(unsigned long)(sent - got - bad), (double)got / 1500.0 / 1000.0);
	printf("dequeue: zero-copy %lu copied %lu faults %lu; enqueue: drops %lu ring_full %lu faults %lu\n",
		(unsigned long)sd.zc_packets, (unsigned long)sd.copied_packets,
		(unsigned long)sd.faults, (unsigned long)se.drops,
		(unsigned long)se.ring_full, (unsigned long)se.faults);
	if (sent >= 10000 && bad == 0 && got == sent && sd.faults == 0 &&
			se.faults == 0 && se.drops == 0 &&
			(zc == 0 || sd.zc_packets > 0))
		rc = 0;
	else
		fprintf(stderr, "FAIL\n");
stop:
	close(in[1]);	/* testpmd exits on EOF */
	t0 = now_ms();
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_ms() - t0 > 10000) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fprintf(stderr, "testpmd did not exit\n");
			rc = 1;
			break;
		}
		usleep(20000);
	}
	vhu_destroy(dev);
	rmdir(tmp);
	rte_mempool_free(mp);
	rte_eal_cleanup();
	printf("%s\n", rc == 0 ? "PASS" : "FAIL");
	return rc;
}
