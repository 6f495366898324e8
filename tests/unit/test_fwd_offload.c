/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * The forwarding stage's software completion of offloads (app/vmlink/
 * fwd.c, fwd_complete()): TSO frames (IPv4 through rte_gso, IPv6 through
 * vmlink's own segmentation) and partial checksums, for destinations
 * taking no offload, checksums only, or everything. Frames are real
 * (tests/unit/test_frames.h), checked by an independent checksum; mbufs
 * come from real mempools (EAL without hugepages or devices), and every
 * mbuf must be back in its pool at the end (attach/detach refcounts).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "fwd.h"
#include "test_frames.h"
#include "unit_check.h"


#define POOL_N 1023

static struct rte_mempool *src_pool;
static struct fwd_ofl_pools pools;
static struct fwd_table table;

enum { TO_NONE, TO_CSUM, TO_ALL };

/* An mbuf chain holding frame F (LEN bytes): the headers (HDRS bytes) in
 * the first mbuf, the rest in mbufs of CHUNK bytes. */
static struct rte_mbuf *
frame_mbuf(const uint8_t *f, uint32_t len, uint32_t hdrs, uint32_t chunk)
{
	struct rte_mbuf *head = NULL, *prev = NULL;
	uint32_t off = 0;

	while (off < len) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(src_pool);
		uint32_t n = RTE_MIN(off == 0 ? hdrs : chunk, len - off);

		if (m == NULL)
			abort();
		memcpy(rte_pktmbuf_append(m, (uint16_t)n), f + off, n);
		if (head == NULL) {
			head = m;
		} else {
			prev->next = m;
			head->nb_segs++;
			head->pkt_len += n;
		}
		prev = m;
		off += n;
	}
	return head;
}

static void
meta(struct rte_mbuf *m, const struct layout *l, uint64_t fl, uint16_t segsz)
{
	m->ol_flags = fl;
	m->l2_len = l->l2;
	m->l3_len = l->l3;
	m->l4_len = l->l4;
	m->tso_segsz = segsz;
}

static uint32_t
flat(const struct rte_mbuf *m, uint8_t *out)
{
	uint32_t n = 0;

	for (; m != NULL; m = m->next) {
		memcpy(out + n, rte_pktmbuf_mtod(m, const uint8_t *), m->data_len);
		n += m->data_len;
	}
	return n;
}

/* Run fwd_complete() to port TO on one frame; frames in out. */
static uint16_t
complete_one(struct rte_mbuf *m, uint16_t to, struct rte_mbuf **out,
	uint16_t cap, struct fwd_ofl_count *c)
{
	uint16_t nout = 0, took;

	memset(c, 0, sizeof(*c));
	took = fwd_complete(&table, &pools, to, &m, 1, out, cap, &nout, c);
	CHECK(took == 1, "took %u", took);
	return nout;
}

static void
check_tso(const char *what, const struct spec *s, uint16_t to)
{
	static uint8_t f[70000], g[70000], pay[70000];
	struct rte_mbuf *out[FWD_GSO_MAX_SEGS];
	struct fwd_ofl_count c;
	struct layout l;
	uint32_t len = build(f, s, &l), hl, got = 0, k, mss = 1448;
	uint32_t seq0 = get32(f + l.l4off + 4);
	uint64_t fl = RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_TCP_CKSUM |
		(s->ipv6 ? RTE_MBUF_F_TX_IPV6 : RTE_MBUF_F_TX_IPV4);
	struct rte_mbuf *m;
	uint16_t n;

	hl = l.l4off + l.l4;
	make_partial(f, &l, false);	/* DPDK TSO: no length */
	m = frame_mbuf(f, len, hl, 1000);
	meta(m, &l, fl, (uint16_t)mss);
	n = complete_one(m, to, out, RTE_DIM(out), &c);
	CHECK(n == (len - hl + mss - 1) / mss, "%s: %u segments", what, n);
	CHECK(c.gso_frames == 1 && c.gso_segments == n && c.dropped == 0,
		"%s: counts %u %u %u", what, c.gso_frames, c.gso_segments,
		c.dropped);
	for (k = 0; k < n; k++) {
		struct layout lk = l;
		uint32_t fl2 = (uint32_t)(out[k]->ol_flags >> 52) & 3;
		uint32_t glen = flat(out[k], g);

		lk.len = glen;
		CHECK(glen == out[k]->pkt_len && glen - hl <= mss, "%s %u: len %u",
			what, k, glen);
		CHECK(!(out[k]->ol_flags & RTE_MBUF_F_TX_TCP_SEG), "%s %u: TSO flag",
			what, k);
		if (to == TO_NONE) {
			CHECK(l4_ok(g, &lk), "%s %u: TCP checksum", what, k);
			CHECK(fl2 == 0, "%s %u: L4 flag left", what, k);
		} else {
			/* the port completes it from DPDK's pseudo-header */
			CHECK(fl2 == 1, "%s %u: TCP_CKSUM flag", what, k);
			CHECK(get16(g + l.l4off + 16) == ref_pseudo(g + l.l3off,
				s->ipv6, 6, glen - l.l4off), "%s %u: pseudo", what, k);
		}
		if (!s->ipv6) {
			CHECK(get16(g + l.l3off + 2) == glen - l.l3off,
				"%s %u: total length", what, k);
			if (to == TO_NONE)
				CHECK(ip4_ok(g + l.l3off), "%s %u: IP checksum", what,
					k);
			else
				CHECK(out[k]->ol_flags & RTE_MBUF_F_TX_IP_CKSUM,
					"%s %u: IP_CKSUM flag", what, k);
		} else {
			CHECK(get16(g + l.l3off + 4) == glen - l.l3off - 40,
				"%s %u: payload length", what, k);
		}
		CHECK(get32(g + l.l4off + 4) == seq0 + got, "%s %u: seq", what, k);
		CHECK(k + 1 == n || !(g[l.l4off + 13] & 0x09), "%s %u: FIN/PSH",
			what, k);
		memcpy(pay + got, g + hl, glen - hl);
		got += glen - hl;
		rte_pktmbuf_free(out[k]);
	}
	CHECK(got == len - hl && memcmp(pay, f + hl, got) == 0,
		"%s: payload back together", what);
}

static void
test_tso(void)
{
	const struct spec v4 = {.payload = 10000, .tcp_flags = 0x19},
		v4o = {.payload = 60000, .tcp_opts = 12, .ip_opts = 4, .vlans = 1},
		v6 = {.ipv6 = true, .payload = 9000, .tcp_flags = 0x19},
		v6h = {.ipv6 = true, .hbh = true, .payload = 4000};

	check_tso("v4 none", &v4, TO_NONE);
	check_tso("v4 csum", &v4, TO_CSUM);
	check_tso("v4 opts none", &v4o, TO_NONE);
	check_tso("v6 none", &v6, TO_NONE);
	check_tso("v6 csum", &v6, TO_CSUM);
	check_tso("v6 hbh none", &v6h, TO_NONE);
}

static void
test_csum(void)
{
	static const struct spec specs[] = {
		{.payload = 1000},
		{.udp = true, .payload = 333, .vlans = 2},
		{.ipv6 = true, .udp = true, .payload = 5},
		{.ipv6 = true, .hbh = true, .payload = 1400},
	};
	uint8_t f[4096], g[4096];
	unsigned int i;

	for (i = 0; i < RTE_DIM(specs); i++) {
		const struct spec *s = &specs[i];
		struct rte_mbuf *out[4], *m;
		struct fwd_ofl_count c;
		struct layout l;
		uint32_t len = build(f, s, &l);
		uint64_t fl = (s->ipv6 ? RTE_MBUF_F_TX_IPV6 : RTE_MBUF_F_TX_IPV4) |
			(s->udp ? RTE_MBUF_F_TX_UDP_CKSUM : RTE_MBUF_F_TX_TCP_CKSUM);
		uint16_t n;

		make_partial(f, &l, true);
		m = frame_mbuf(f, len, l.l4off + l.l4, 100);
		meta(m, &l, fl, 0);
		m->l4_len = 0;	/* optional for checksums */
		n = complete_one(m, TO_NONE, out, RTE_DIM(out), &c);
		CHECK(n == 1 && c.sw_csum == 1, "spec %u: n %u", i, n);
		flat(out[0], g);
		CHECK(l4_ok(g, &l), "spec %u: checksum", i);
		CHECK(!(out[0]->ol_flags & RTE_MBUF_F_TX_L4_MASK), "spec %u: flag", i);
		rte_pktmbuf_free(out[0]);

		/* a port doing it gets it untouched */
		m = frame_mbuf(f, len, l.l4off + l.l4, 100);
		meta(m, &l, fl, 0);
		n = complete_one(m, TO_ALL, out, RTE_DIM(out), &c);
		flat(out[0], g);
		CHECK(n == 1 && out[0] == m && memcmp(f, g, len) == 0 &&
			c.sw_csum == 0, "spec %u: passed as is", i);
		rte_pktmbuf_free(out[0]);
	}
}

static void
test_shared(void)
{
	struct spec s = {.payload = 500};
	uint8_t f[2048], g[2048], before[2048];
	struct rte_mbuf *out[2], *m;
	struct fwd_ofl_count c;
	struct layout l;
	uint32_t len = build(f, &s, &l);
	uint16_t n;

	make_partial(f, &l, true);
	m = frame_mbuf(f, len, len, len);
	meta(m, &l, RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM, 0);
	rte_mbuf_refcnt_update(m, 1);	/* someone else holds it too */
	n = complete_one(m, TO_NONE, out, RTE_DIM(out), &c);
	CHECK(n == 1 && out[0] != m, "a copy is completed");
	flat(out[0], g);
	flat(m, before);
	CHECK(l4_ok(g, &l), "copy's checksum");
	CHECK(memcmp(before, f, len) == 0, "the shared frame is untouched");
	rte_pktmbuf_free(out[0]);
	rte_pktmbuf_free(m);
}

static void
test_bad_and_room(void)
{
	static uint8_t f[70000];
	struct spec s = {.payload = 10000};
	struct rte_mbuf *in[3], *out[16], *m;
	struct fwd_ofl_count c;
	struct layout l;
	uint32_t len = build(f, &s, &l), k;
	uint16_t nout, took;
	const uint64_t tso = RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_TCP_CKSUM |
		RTE_MBUF_F_TX_IPV4;

	/* metadata that does not fit the frame: dropped, counted */
	m = frame_mbuf(f, len, l.l4off + l.l4, 2000);
	meta(m, &l, tso, 1448);
	m->l4_len = 0;
	CHECK(complete_one(m, TO_NONE, out, 16, &c) == 0 && c.dropped == 1,
		"TSO without l4_len");
	m = frame_mbuf(f, len, l.l4off + l.l4, 2000);
	meta(m, &l, RTE_MBUF_F_TX_TCP_CKSUM, 0);
	CHECK(complete_one(m, TO_NONE, out, 16, &c) == 0 && c.dropped == 1,
		"no IP version flag");
	m = frame_mbuf(f, len, 20, 2000);	/* headers across mbufs */
	meta(m, &l, tso, 1448);
	CHECK(complete_one(m, TO_NONE, out, 16, &c) == 0 && c.dropped == 1,
		"headers not in the first mbuf");
	m = frame_mbuf(f, len, l.l4off + l.l4, 2000);
	meta(m, &l, tso, 64);	/* 157 segments */
	CHECK(complete_one(m, TO_NONE, out, 16, &c) == 0 && c.dropped == 1,
		"too many segments");

	/* room for one TSO frame's segments at a time */
	for (k = 0; k < 3; k++) {
		in[k] = frame_mbuf(f, len, l.l4off + l.l4, 1900);
		meta(in[k], &l, tso, 1448);
	}
	memset(&c, 0, sizeof(c));
	took = fwd_complete(&table, &pools, TO_NONE, in, 3, out, 16, &nout, &c);
	CHECK(took == 2 && nout == 14, "took %u, %u out", took, nout);
	for (k = 0; k < nout; k++)
		rte_pktmbuf_free(out[k]);
	took = fwd_complete(&table, &pools, TO_NONE, in + 2, 1, out, 16, &nout,
		&c);
	CHECK(took == 1 && nout == 7, "then %u, %u out", took, nout);
	for (k = 0; k < nout; k++)
		rte_pktmbuf_free(out[k]);

	/* no pools (no port needed them): a TSO frame is a counted drop */
	{
		struct fwd_ofl_pools none = {0};

		m = frame_mbuf(f, len, l.l4off + l.l4, 2000);
		meta(m, &l, tso, 1448);
		memset(&c, 0, sizeof(c));
		took = fwd_complete(&table, &none, TO_NONE, &m, 1, out, 16, &nout,
			&c);
		CHECK(took == 1 && nout == 0 && c.dropped == 1, "no pools");
	}
}

int
main(int argc, char **argv)
{
	char *eal[] = {argv[0], "--no-huge", "--no-pci", "-m", "256",
		"--no-shconf", "--log-level", "*:warning", "-l", "0"};

	(void)argc;
	if (rte_eal_init((int)RTE_DIM(eal), eal) < 0) {
		fprintf(stderr, "EAL init failed\n");
		return 2;
	}
	src_pool = rte_pktmbuf_pool_create("src", POOL_N, 0, 0,
		RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	pools.hdr = rte_pktmbuf_pool_create("hdr", POOL_N, 0, 0,
		RTE_PKTMBUF_HEADROOM + 256, SOCKET_ID_ANY);
	pools.ind = rte_pktmbuf_pool_create("ind", POOL_N, 0, 0, 0,
		SOCKET_ID_ANY);
	if (src_pool == NULL || pools.hdr == NULL || pools.ind == NULL) {
		fprintf(stderr, "pools: %s\n", rte_strerror(rte_errno));
		return 2;
	}
	fwd_set_tx_offloads(&table, TO_NONE, 0);
	fwd_set_tx_offloads(&table, TO_CSUM, RTE_ETH_TX_OFFLOAD_TCP_CKSUM |
		RTE_ETH_TX_OFFLOAD_UDP_CKSUM | RTE_ETH_TX_OFFLOAD_IPV4_CKSUM);
	fwd_set_tx_offloads(&table, TO_ALL, RTE_ETH_TX_OFFLOAD_TCP_CKSUM |
		RTE_ETH_TX_OFFLOAD_UDP_CKSUM | RTE_ETH_TX_OFFLOAD_IPV4_CKSUM |
		RTE_ETH_TX_OFFLOAD_TCP_TSO);

	test_tso();
	test_csum();
	test_shared();
	test_bad_and_room();

	CHECK(rte_mempool_avail_count(src_pool) == POOL_N &&
		rte_mempool_avail_count(pools.hdr) == POOL_N &&
		rte_mempool_avail_count(pools.ind) == POOL_N,
		"mbufs leaked: src %u hdr %u ind %u",
		rte_mempool_avail_count(src_pool),
		rte_mempool_avail_count(pools.hdr),
		rte_mempool_avail_count(pools.ind));
	printf("%d checks, %d failures\n", checks, failures);
	rte_eal_cleanup();
	return failures == 0 ? 0 : 1;
}
