/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * ivshmem-net layout: the ring size / offsets formula for several section
 * sizes (checked against an independent computation and known values:
 * 0x7f000 -> N = 2048, data from 0xD080), then the bytes two linked peers
 * really write at those offsets (descriptors, avail and used rings, event
 * indices, frame data, state table), with a real server, in one process.
 *
 *   test_layout SERVER_BINARY WORKDIR [EAL args]
 */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <rte_eal.h>
#include <rte_mbuf.h>

#include "ivshm_net.h"
#include "ivshm_test_server.h"

/* Reference: virtio legacy vring_size, spelled out. */
static uint64_t
ref_vring_size(uint64_t num, uint64_t align)
{
	uint64_t sz = 16 * num + 2 * (3 + num);

	sz = (sz + align - 1) & ~(align - 1);
	return sz + 2 * 3 + 8 * num;
}

static int
ref_layout(uint64_t len, uint32_t *num, uint64_t *v)
{
	uint32_t n;

	for (n = 4096; n >= 64; n /= 2) {
		uint64_t x = (ref_vring_size(n, 64) + 63) & ~63ull;

		if (x < len / 8) {
			if (len - x < 272)
				return -1;
			*num = n;
			*v = x;
			return 0;
		}
	}
	return -1;
}

static void
test_formula(void)
{
	static const struct {
		uint64_t len;
		int ok;
		uint32_t num;
		uint32_t v;
	} known[] = {
		{ 0x7f000, 1, 2048, 0xd080 },
		{ 0x100000, 1, 4096, 0x1a080 },
		{ 0x200000, 1, 4096, 0x1a080 },
		{ 0x4000, 1, 64, 0x700 },
		{ 0x10000, 1, 256, 0x1a80 },
		{ 0x8000, 1, 128, 0xd80 },
		{ 0x3800, 0, 0, 0 },
		{ 0x3808, 1, 64, 0x700 },
		{ 0x2000, 0, 0, 0 },
		{ 0, 0, 0, 0 },
		{ 0x100000000ull, 0, 0, 0 },
	};
	struct ivshm_net_layout l;
	unsigned int i;
	uint64_t len;

	for (i = 0; i < RTE_DIM(known); i++) {
		int r = ivshm_net_layout_calc(known[i].len, &l);

		CHECK_EQ(r == 0, known[i].ok);
		if (r != 0 || !known[i].ok)
			continue;
		CHECK_EQ(l.num, known[i].num);
		CHECK_EQ(l.data_off, known[i].v);
		CHECK_EQ(l.avail_off, 16 * known[i].num);
		CHECK_EQ(l.used_off, (18 * known[i].num + 6 + 63) & ~63u);
		CHECK_EQ(l.data_size, known[i].len - known[i].v);
		printf("L=0x%llx: N=%u avail=0x%x used=0x%x data=0x%x\n",
			(unsigned long long)known[i].len, l.num, l.avail_off,
			l.used_off, l.data_off);
	}
	/* every size from 4 KiB to 4 MiB in 4 KiB steps, and odd sizes */
	for (len = 0x1000; len <= 0x400000; len += 0x1000) {
		uint32_t num = 0;
		uint64_t v = 0;
		int r = ref_layout(len, &num, &v);
		int r2 = ivshm_net_layout_calc(len, &l);

		CHECK_EQ(r2, r);
		if (r == 0 && r2 == 0) {
			CHECK_EQ(l.num, num);
			CHECK_EQ(l.data_off, v);
		}
	}
	for (len = 0x3f00; len < 0x4100; len++) {
		uint32_t num = 0;
		uint64_t v = 0;

		CHECK_EQ(ivshm_net_layout_calc(len, &l), ref_layout(len, &num, &v));
	}
}

static void
start_server(const char *out)
{
	static char shm[64];
	const char *args[] = { "-m", shm, "-o", out, NULL };

	snprintf(shm, sizeof(shm), "/ivshmt-layout-%d", (int)getpid());
	server_start(args);
}

static void
link_both(struct ivshm_net *a, struct ivshm_net *b)
{
	struct ivshm_net_link la, lb;
	int i;

	for (i = 0; i < 500; i++) {
		ivshm_net_ctrl_poll(a);
		ivshm_net_ctrl_poll(b);
		ivshm_net_link_get(a, &la);
		ivshm_net_link_get(b, &lb);
		if (la.up && lb.up)
			return;
		msleep(2);
	}
	fprintf(stderr, "FAIL: no link (own %u/%u peer %u/%u)\n",
		la.own_state, lb.own_state, la.peer_state, lb.peer_state);
	failures++;
}

static struct rte_mbuf *
frame(struct rte_mempool *mp, uint32_t len, uint8_t seed)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)len);
	uint32_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i);
	return m;
}

static uint16_t
rd16(const uint8_t *s, uint64_t off)
{
	uint16_t v;

	memcpy(&v, s + off, 2);
	return v;
}

static uint32_t
rd32(const uint8_t *s, uint64_t off)
{
	uint32_t v;

	memcpy(&v, s + off, 4);
	return v;
}

static uint64_t
rd64(const uint8_t *s, uint64_t off)
{
	uint64_t v;

	memcpy(&v, s + off, 8);
	return v;
}

static void
test_bytes(struct rte_mempool *mp, const char *out, uint32_t exp_num,
		uint32_t exp_v)
{
	static const uint32_t lens[3] = { 60, 1000, 64 };
	/* rx mbufs carry port_id (docs/mbufs.md) */
	struct ivshm_net_conf conf = { .socket_id = SOCKET_ID_ANY,
		.port_id = 5 };
	struct ivshm_net *a, *b;
	struct ivshm_net_stats st;
	const struct ivshm_net_layout *l;
	const uint8_t *sa, *sb;
	struct rte_mbuf *m[8];
	uint64_t off, N, U;
	uint32_t i;
	int fd;

	start_server(out);
	CHECK_EQ(ivshm_net_open(sock_path, &conf, &a), 0);
	CHECK_EQ(ivshm_net_open(sock_path, &conf, &b), 0);
	if (failures)
		exit(1);
	ivshm_net_rx_setup(a, mp);
	ivshm_net_rx_setup(b, mp);
	ivshm_net_start(a);
	ivshm_net_start(b);
	link_both(a, b);
	l = ivshm_net_layout(a);
	CHECK_EQ(l->num, exp_num);
	CHECK_EQ(l->data_off, exp_v);
	N = l->num;
	U = l->used_off;
	sa = ivshm_own_section(ivshm_net_dev(a));
	sb = ivshm_own_section(ivshm_net_dev(b));
	CHECK_EQ(ivshm_state_table(ivshm_net_dev(a))[0], IVSHM_NET_STATE_RUN);
	CHECK_EQ(ivshm_state_table(ivshm_net_dev(a))[1], IVSHM_NET_STATE_RUN);

	/* b waits for frames: its avail_event (after its used ring) = 0 */
	CHECK_EQ(ivshm_net_rx_intr_enable(b), 0);
	CHECK_EQ(rd16(sb, U + 4 + 8 * N), 0);
	fd = ivshm_net_rx_intr_fd(b);
	for (i = 0; i < 3; i++)
		m[i] = frame(mp, lens[i], (uint8_t)(i * 50));
	CHECK_EQ(ivshm_net_tx_burst(a, m, 3), 3);
	rte_pktmbuf_free_bulk(m, 3);	/* copied: ours to free */
	/* a's TX queue in a's section */
	off = exp_v;
	for (i = 0; i < 3; i++) {
		CHECK_EQ(rd64(sa, 16 * i), off);		/* addr */
		CHECK_EQ(rd32(sa, 16 * i + 8), lens[i]);	/* len */
		CHECK_EQ(rd16(sa, 16 * i + 12), 0);		/* flags */
		CHECK_EQ(rd16(sa, 16 * N + 4 + 2 * i), i);	/* avail ring */
		CHECK_EQ(sa[off], (uint8_t)(i * 50));
		CHECK_EQ(sa[off + lens[i] - 1], (uint8_t)(i * 50 + lens[i] - 1));
		off += (18 + lens[i] + 63) & ~63u;
	}
	CHECK_EQ(rd16(sa, 16 * N + 2), 3);			/* avail idx */
	/* a parks its used_event (after its avail ring) far ahead */
	CHECK_EQ(rd16(sa, 16 * N + 4 + 2 * N), 0x8000);
	/* b had asked: a rang */
	{
		struct pollfd p = { .fd = fd, .events = POLLIN };

		CHECK_EQ(poll(&p, 1, 1000), 1);
	}
	ivshm_net_stats_get(a, &st);
	CHECK_EQ(st.tx_kicks, 1);
	CHECK_EQ(ivshm_net_rx_intr_disable(b), 0);
	CHECK_EQ(rd16(sb, U + 4 + 8 * N), 0x8000);

	/* b completes into the used ring of b's section */
	CHECK_EQ(ivshm_net_rx_burst(b, m, 8), 3);
	for (i = 0; i < 3; i++) {
		CHECK_EQ(m[i]->pkt_len, lens[i]);
		CHECK_EQ(m[i]->port, 5);
		CHECK_EQ(*rte_pktmbuf_mtod_offset(m[i], uint8_t *, 5),
			(uint8_t)(i * 50 + 5));
		CHECK_EQ(rd32(sb, U + 4 + 8 * i), i);		/* used id */
		CHECK_EQ(rd32(sb, U + 4 + 8 * i + 4), 1);	/* used len */
	}
	rte_pktmbuf_free_bulk(m, 3);
	CHECK_EQ(rd16(sb, U + 2), 3);				/* used idx */
	CHECK_EQ(rd16(sb, U + 4 + 8 * N), 0x8000);	/* still parked */
	CHECK_EQ(ivshm_net_tx_inflight(a), 0);
	ivshm_net_stats_get(b, &st);
	CHECK_EQ(st.rx_frames, 3);
	CHECK_EQ(st.rx_bytes, 60 + 1000 + 64);
	CHECK_EQ(st.rx_kicks, 0);		/* a did not ask */
	ivshm_net_stats_get(a, &st);
	CHECK_EQ(st.tx_frames, 3);

	/* the largest frame, and one too large */
	m[0] = rte_pktmbuf_alloc(mp);
	{
		uint32_t max = ivshm_net_max_frame(a), left = max;
		struct rte_mbuf *last = m[0];

		CHECK_EQ(max, RTE_MIN((uint64_t)IVSHM_NET_MAX_FRAME,
			((l->data_size) & ~63ull) - 18));
		while (left) {
			uint16_t k = (uint16_t)RTE_MIN(left,
				(uint32_t)rte_pktmbuf_tailroom(last));

			memset(rte_pktmbuf_append(m[0], k), 0x77, k);
			left -= k;
			if (left) {
				struct rte_mbuf *s = rte_pktmbuf_alloc(mp);

				rte_pktmbuf_chain(m[0], s);
				last = s;
			}
		}
		m[1] = frame(mp, 100, 1);
		m[1]->pkt_len = max + 1;	/* claims too much: dropped */
		CHECK_EQ(ivshm_net_tx_burst(a, m, 2), 2);
		rte_pktmbuf_free_bulk(m, 2);
		ivshm_net_stats_get(a, &st);
		CHECK_EQ(st.tx_frames, 4);
		CHECK_EQ(st.tx_oversize, 1);
		CHECK_EQ(ivshm_net_rx_burst(b, m, 8), 1);
		CHECK_EQ(m[0]->pkt_len, max);
		rte_pktmbuf_free(m[0]);
	}
	ivshm_net_close(b);
	ivshm_net_close(a);
	server_stop();
}

int
main(int argc, char **argv)
{
	struct rte_mempool *mp;
	int ret;

	if (argc < 3) {
		fprintf(stderr, "usage: test_layout SERVER WORKDIR [EAL]\n");
		return 2;
	}
	snprintf(server_bin, sizeof(server_bin), "%s", argv[1]);
	snprintf(sock_path, sizeof(sock_path), "%s/layout.sock", argv[2]);
	argv[2] = argv[0];
	atexit(server_stop);
	ret = rte_eal_init(argc - 2, argv + 2);
	if (ret < 0) {
		fprintf(stderr, "EAL init failed\n");
		return 2;
	}
	test_formula();
	mp = rte_pktmbuf_pool_create("layout", 2047, 64, 0,
		RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (mp == NULL) {
		fprintf(stderr, "no mempool\n");
		return 2;
	}
	test_bytes(mp, "0x7f000", 2048, 0xd080);
	test_bytes(mp, "0x4000", 64, 0x700);
	test_bytes(mp, "0x10000", 256, 0x1a80);
	test_bytes(mp, "2M", 4096, 0x1a080);
	rte_eal_cleanup();
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("test_layout: all checks passed\n");
	return 0;
}
