/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * Unit tests of the vhost-user offload mapping (lib/vhost_user/
 * vhu_offload.c), without EAL: real frames (Ethernet, VLAN, IPv4 with
 * options, IPv6 with an extension header, TCP, UDP, a VXLAN tunnel) go
 * through both directions; every checksum the mapping computes is checked
 * by an independent byte-by-byte implementation, segments by putting the
 * payload back together. mbufs are plain structs over exactly-sized heap
 * buffers (chains split at odd offsets), so a read past a frame shows
 * under the sanitizers.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_mbuf.h>

#include "test_chain.h"
#include "test_frames.h"
#include "vhu.h"
#include "vhu_offload.h"
#include "unit_check.h"


#define TSO4 (1ull << VHU_F_NET_HOST_TSO4)
#define TSO6 (1ull << VHU_F_NET_HOST_TSO6)
#define G_CSUM (1ull << VHU_F_NET_GUEST_CSUM)
#define G_TSO4 (1ull << VHU_F_NET_GUEST_TSO4)
#define G_TSO6 (1ull << VHU_F_NET_GUEST_TSO6)
#define ALL_TX (RTE_MBUF_F_TX_OFFLOAD_MASK | RTE_MBUF_F_RX_L4_CKSUM_MASK)

/* ---- dequeue ---- */

static int
parse(const uint8_t *f, uint32_t len, uint8_t flags, uint8_t gso,
	uint16_t start, uint16_t offset, uint16_t gso_size, uint64_t features,
	struct vhu_ofl_tx *o)
{
	struct vhu_net_hdr h = {
		.flags = flags, .gso_type = gso, .csum_start = start,
		.csum_offset = offset, .gso_size = gso_size,
	};

	return vhu_ofl_tx_parse(&h, f, RTE_MIN(len, VHU_OFL_HDR_MAX), len,
		features, o);
}

static void
test_tx_l4(void)
{
	static const struct spec specs[] = {
		{.payload = 100},
		{.payload = 1, .tcp_opts = 12, .ip_opts = 8},
		{.udp = true, .payload = 33, .vlans = 1},
		{.ipv6 = true, .payload = 500, .vlans = 2},
		{.ipv6 = true, .hbh = true, .udp = true, .payload = 7},
	};
	uint8_t f[2048], g[2048];
	struct layout l;
	unsigned int i;

	for (i = 0; i < RTE_DIM(specs); i++) {
		struct vhu_ofl_tx o;
		struct test_chain c;
		struct rte_mbuf *m;
		uint32_t len = build(f, &specs[i], &l);
		uint32_t cuts[] = {l.l4off + l.l4 + 3, 0};
		int rc;

		make_partial(f, &l, true);
		rc = parse(f, len, VHU_NET_HDR_F_NEEDS_CSUM, 0, (uint16_t)l.l4off,
			l.proto == 6 ? 16 : 6, 0, 0, &o);
		CHECK(rc == VHU_OFL_OK, "spec %u: rc %d", i, rc);
		CHECK(o.kind == VHU_OFL_TX_L4, "spec %u: kind %u", i, o.kind);
		CHECK(o.l2_len == l.l2 && o.l3_len == l.l3 && o.l4_len == l.l4,
			"spec %u: lengths %u/%u/%u", i, o.l2_len, o.l3_len, o.l4_len);
		CHECK(o.priv_len == l.l4off + l.l4, "spec %u: priv %u", i, o.priv_len);
		CHECK(o.ol_flags == (RTE_MBUF_F_RX_L4_CKSUM_NONE |
			(specs[i].ipv6 ? RTE_MBUF_F_TX_IPV6 : RTE_MBUF_F_TX_IPV4) |
			(specs[i].udp ? RTE_MBUF_F_TX_UDP_CKSUM :
				RTE_MBUF_F_TX_TCP_CKSUM)), "spec %u: flags %#llx", i,
			(unsigned long long)o.ol_flags);
		m = test_chain_make(&c, f, len, cuts, RTE_DIM(cuts));
		vhu_ofl_tx_apply(m, &o);
		CHECK(m->l2_len == l.l2 && m->l3_len == l.l3 && m->l4_len == l.l4 &&
			m->ol_flags == o.ol_flags, "spec %u: mbuf fields", i);
		test_chain_read(m, g);
		CHECK(memcmp(f, g, len) == 0, "spec %u: frame changed", i);
		test_chain_free(&c);
	}
}

static void
test_tx_sw_csum(void)
{
	/* VXLAN: the guest asks for the inner TCP checksum */
	struct spec s = {.vxlan = true, .payload = 301};
	uint8_t f[2048], orig[2048], g[2048];
	struct vhu_ofl_tx o;
	struct layout l;
	struct test_chain c;
	uint32_t len = build(f, &s, &l), cuts[] = {15, 77, 200, 0};
	struct rte_mbuf *m;
	int rc;

	CHECK(l4_ok(f, &l), "reference frame");
	memcpy(orig, f, len);
	make_partial(f, &l, true);
	rc = parse(f, len, VHU_NET_HDR_F_NEEDS_CSUM, 0, (uint16_t)l.l4off, 16, 0,
		0, &o);
	CHECK(rc == VHU_OFL_OK && o.kind == VHU_OFL_TX_SW_CSUM, "rc %d kind %u",
		rc, o.kind);
	CHECK(o.priv_len == l.l4off + 18, "priv %u", o.priv_len);
	/* the header run in the first segment, the rest cut oddly */
	cuts[0] = o.priv_len;
	cuts[1] = o.priv_len + 77;
	cuts[2] = o.priv_len + 200;
	m = test_chain_make(&c, f, len, cuts, RTE_DIM(cuts));
	vhu_ofl_tx_apply(m, &o);
	test_chain_read(m, g);
	CHECK(memcmp(g, orig, len) == 0, "completed checksum differs");
	CHECK(m->ol_flags == 0, "no flag for a completed checksum");
	test_chain_free(&c);

	/* an IPv4 fragment has no L4 header to offload at: software too */
	s = (struct spec){.payload = 64};
	len = build(f, &s, &l);
	f[l.l3off + 6] = 0x20;	/* MF */
	set_ip4_csum(f + l.l3off);
	make_partial(f, &l, true);
	rc = parse(f, len, VHU_NET_HDR_F_NEEDS_CSUM, 0, (uint16_t)l.l4off, 16, 0,
		0, &o);
	CHECK(rc == VHU_OFL_OK && o.kind == VHU_OFL_TX_SW_CSUM, "fragment: %d %u",
		rc, o.kind);
}

static void
test_tx_tso(void)
{
	struct spec s = {.payload = 5000, .tcp_opts = 12};
	static uint8_t f[70000], g[70000];
	struct vhu_ofl_tx o;
	struct layout l;
	struct test_chain c;
	uint32_t len = build(f, &s, &l), cuts[] = {0, 0};
	struct rte_mbuf *m;
	uint16_t nolen;
	int rc;

	make_partial(f, &l, true);	/* virtio/Linux: with the length */
	rc = parse(f, len, VHU_NET_HDR_F_NEEDS_CSUM, VHU_NET_HDR_GSO_TCPV4,
		(uint16_t)l.l4off, 16, 1448, TSO4, &o);
	CHECK(rc == VHU_OFL_OK, "rc %d", rc);
	CHECK(o.ol_flags & RTE_MBUF_F_TX_TCP_SEG, "TSO flag");
	CHECK(o.tso_segsz == 1448 && o.l4_len == 32, "segsz %u l4 %u",
		o.tso_segsz, o.l4_len);
	cuts[0] = o.priv_len;
	m = test_chain_make(&c, f, len, cuts, RTE_DIM(cuts));
	vhu_ofl_tx_apply(m, &o);
	test_chain_read(m, g);
	/* DPDK's TSO pseudo-header has no length */
	nolen = (uint16_t)ref_pseudo(f + l.l3off, false, 6, 0);
	CHECK(get16(g + l.l4off + 16) == nolen, "pseudo %#x want %#x",
		get16(g + l.l4off + 16), nolen);
	CHECK(m->tso_segsz == 1448, "mbuf segsz");
	test_chain_free(&c);

	/* ECN bit tolerated; TCPV6 on IPv6 */
	s = (struct spec){.ipv6 = true, .payload = 3000};
	len = build(f, &s, &l);
	make_partial(f, &l, true);
	rc = parse(f, len, VHU_NET_HDR_F_NEEDS_CSUM, VHU_NET_HDR_GSO_TCPV6 |
		VHU_NET_HDR_GSO_ECN, (uint16_t)l.l4off, 16, 1000, TSO6, &o);
	CHECK(rc == VHU_OFL_OK && (o.ol_flags & RTE_MBUF_F_TX_TCP_SEG) &&
		(o.ol_flags & RTE_MBUF_F_TX_IPV6), "v6 rc %d", rc);
	/* one MSS of payload: a checksum offload only */
	rc = parse(f, len, VHU_NET_HDR_F_NEEDS_CSUM, VHU_NET_HDR_GSO_TCPV6,
		(uint16_t)l.l4off, 16, 3000, TSO6, &o);
	CHECK(rc == VHU_OFL_OK && !(o.ol_flags & RTE_MBUF_F_TX_TCP_SEG),
		"one mss: %d %#llx", rc, (unsigned long long)o.ol_flags);
}

static void
test_tx_errors(void)
{
	struct spec s4 = {.payload = 3000}, s6 = {.ipv6 = true, .payload = 3000},
		su = {.udp = true, .payload = 3000};
	uint8_t f[4096];
	struct vhu_ofl_tx o;
	struct layout l;
	uint32_t len = build(f, &s4, &l);
	uint16_t st = (uint16_t)l.l4off;
	const uint8_t NC = VHU_NET_HDR_F_NEEDS_CSUM;

	CHECK(parse(f, len, 0, 0, 0, 0, 0, 0, &o) == VHU_OFL_OK &&
		o.kind == VHU_OFL_TX_NONE, "none");
	CHECK(parse(f, len, VHU_NET_HDR_F_DATA_VALID, 0, 0, 0, 0, 0, &o) ==
		VHU_OFL_OK && o.kind == VHU_OFL_TX_NONE, "DATA_VALID ignored");
	CHECK(parse(f, len, NC, VHU_NET_HDR_GSO_TCPV4, st, 16, 1000, 0, &o) ==
		VHU_MAL_HDR_FIELDS, "TSO4 not negotiated");
	CHECK(parse(f, len, NC, VHU_NET_HDR_GSO_TCPV4, st, 16, 1000, TSO6, &o) ==
		VHU_MAL_HDR_FIELDS, "TSO6 only");
	CHECK(parse(f, len, 0, VHU_NET_HDR_GSO_TCPV4, st, 16, 1000, TSO4, &o) ==
		VHU_MAL_HDR_FIELDS, "GSO without NEEDS_CSUM");
	CHECK(parse(f, len, NC, VHU_NET_HDR_GSO_TCPV4, st, 16, 0, TSO4, &o) ==
		VHU_MAL_HDR_FIELDS, "gso_size 0");
	CHECK(parse(f, len, NC, VHU_NET_HDR_GSO_UDP, st, 6, 1000, TSO4 | TSO6,
		&o) == VHU_MAL_HDR_FIELDS, "UFO");
	CHECK(parse(f, len, NC, VHU_NET_HDR_GSO_TCPV6, st, 16, 1000, TSO4 | TSO6,
		&o) == VHU_MAL_HDR_FIELDS, "TCPV6 on IPv4");
	CHECK(parse(f, len, NC, VHU_NET_HDR_GSO_TCPV4, st + 4, 16, 1000, TSO4,
		&o) == VHU_MAL_HDR_FIELDS, "GSO csum_start not at TCP");
	CHECK(parse(f, len, NC, VHU_NET_HDR_GSO_TCPV4, st, 6, 1000, TSO4, &o) ==
		VHU_MAL_HDR_FIELDS, "GSO csum_offset not TCP's");
	CHECK(parse(f, len, NC, 0, (uint16_t)(len - 1), 0, 0, 0, &o) ==
		VHU_MAL_CSUM, "csum past the frame");
	CHECK(parse(f, len, NC, 0, 0, (uint16_t)(len - 1), 0, 0, &o) ==
		VHU_MAL_CSUM, "csum_offset past the frame");
	CHECK(parse(f, len, NC, 0, 0xffff, 0xffff, 0, 0, &o) == VHU_MAL_CSUM,
		"no 16-bit wrap");
	{
		struct vhu_net_hdr h = {.flags = NC, .gso_type = VHU_NET_HDR_GSO_TCPV4,
			.csum_start = st, .csum_offset = 16, .gso_size = 1000,
			.hdr_len = (uint16_t)(len + 1)};

		CHECK(vhu_ofl_tx_parse(&h, f, VHU_OFL_HDR_MAX, len, TSO4, &o) ==
			VHU_MAL_HDR_FIELDS, "hdr_len past the frame");
	}
	len = build(f, &s6, &l);
	CHECK(parse(f, len, NC, VHU_NET_HDR_GSO_TCPV4, (uint16_t)l.l4off, 16,
		1000, TSO4 | TSO6, &o) == VHU_MAL_HDR_FIELDS, "TCPV4 on IPv6");
	len = build(f, &su, &l);
	CHECK(parse(f, len, NC, VHU_NET_HDR_GSO_TCPV4, (uint16_t)l.l4off, 6,
		1000, TSO4, &o) == VHU_MAL_HDR_FIELDS, "TSO on UDP");
	/* a cut frame: only what is there is read (sanitizers) */
	{
		uint8_t *small = malloc(30);

		memcpy(small, f, 30);
		CHECK(parse(small, 30, NC, 0, 20, 4, 0, 0, &o) == VHU_OFL_OK &&
			o.kind == VHU_OFL_TX_SW_CSUM, "cut IPv4 header");
		CHECK(parse(small, 30, NC, VHU_NET_HDR_GSO_TCPV4, 20, 4, 5, TSO4,
			&o) == VHU_MAL_HDR_FIELDS, "cut GSO frame");
		free(small);
	}
}

/* ---- enqueue ---- */

/* Frame K of the plan, assembled as the enqueue would: header run, then
 * the mbuf's range. */
static uint32_t
rx_out(const struct rte_mbuf *m, const struct vhu_ofl_rx *p, uint32_t k,
	uint8_t *out)
{
	uint8_t all[70000];
	uint32_t off, len, n;

	n = vhu_ofl_rx_frame(m, p, k, out, &off, &len);
	test_chain_read(m, all);
	memcpy(out + p->hdr_bytes, all + off, len);
	CHECK(n == (uint32_t)p->hdr_bytes + len, "frame length %u", n);
	return n;
}

static void
set_meta(struct rte_mbuf *m, const struct layout *l, uint64_t fl,
	uint16_t segsz)
{
	m->ol_flags = fl;
	m->l2_len = l->l2;
	m->l3_len = l->l3;
	m->l4_len = l->l4;
	m->tso_segsz = segsz;
}

static void
test_rx_plain(void)
{
	struct spec s = {.payload = 200};
	uint8_t f[2048];
	struct vhu_ofl_rx p;
	struct layout l;
	struct test_chain c;
	uint32_t len = build(f, &s, &l);
	struct rte_mbuf *m = test_chain_make(&c, f, len, NULL, 0);

	CHECK(vhu_ofl_rx_plan(m, G_CSUM, ALL_TX, 64, &p) == VHU_OFL_OK &&
		p.hdr_bytes == 0 && p.nframes == 1 && p.hdr.flags == 0,
		"no flag: as it is");
	m->ol_flags = RTE_MBUF_F_RX_L4_CKSUM_GOOD;
	CHECK(vhu_ofl_rx_plan(m, G_CSUM, ALL_TX, 64, &p) == VHU_OFL_OK &&
		p.hdr.flags == VHU_NET_HDR_F_DATA_VALID, "good -> DATA_VALID");
	CHECK(vhu_ofl_rx_plan(m, 0, ALL_TX, 64, &p) == VHU_OFL_OK &&
		p.hdr.flags == 0, "no GUEST_CSUM: no DATA_VALID");
	/* TX_TCP_CKSUM to a guest that takes partial checksums */
	make_partial(f, &l, true);
	test_chain_free(&c);
	m = test_chain_make(&c, f, len, NULL, 0);
	set_meta(m, &l, RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM, 0);
	m->l4_len = 0;	/* optional for checksums */
	CHECK(vhu_ofl_rx_plan(m, G_CSUM, ALL_TX, 64, &p) == VHU_OFL_OK, "plan");
	CHECK(p.hdr.flags == VHU_NET_HDR_F_NEEDS_CSUM &&
		p.hdr.csum_start == l.l4off && p.hdr.csum_offset == 16 &&
		p.hdr_bytes == 0, "partial passes: start %u off %u hb %u",
		p.hdr.csum_start, p.hdr.csum_offset, p.hdr_bytes);
	/* not honoured: as it is */
	CHECK(vhu_ofl_rx_plan(m, 0, 0, 64, &p) == VHU_OFL_OK && p.hdr_bytes == 0 &&
		p.hdr.flags == 0, "not honoured");
	test_chain_free(&c);
}

static void
test_rx_complete(void)
{
	static const struct spec specs[] = {
		{.payload = 1000},
		{.payload = 999, .ip_opts = 4},
		{.udp = true, .payload = 77, .vlans = 1},
		{.ipv6 = true, .payload = 1400},
		{.ipv6 = true, .udp = true, .hbh = true, .payload = 3},
	};
	uint8_t f[2048], out[4096];
	unsigned int i;

	for (i = 0; i < RTE_DIM(specs); i++) {
		struct layout l;
		struct vhu_ofl_rx p;
		struct test_chain c;
		uint32_t len = build(f, &specs[i], &l);
		uint32_t cuts[] = {l.l4off + 5, l.l4off + 100, 0};
		uint64_t fl = (specs[i].ipv6 ? RTE_MBUF_F_TX_IPV6 :
			RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM) |
			(specs[i].udp ? RTE_MBUF_F_TX_UDP_CKSUM :
				RTE_MBUF_F_TX_TCP_CKSUM);
		struct rte_mbuf *m;
		uint32_t n;
		int rc;

		make_partial(f, &l, true);
		if (!specs[i].ipv6)
			memset(f + l.l3off + 10, 0, 2);	/* left to the device */
		m = test_chain_make(&c, f, len, cuts, RTE_DIM(cuts));
		set_meta(m, &l, fl, 0);
		rc = vhu_ofl_rx_plan(m, 0, ALL_TX, 64, &p);
		CHECK(rc == VHU_OFL_OK && p.nframes == 1 &&
			(p.fix & VHU_OFL_FIX_L4_FULL), "spec %u: rc %d fix %#x", i,
			rc, p.fix);
		n = rx_out(m, &p, 0, out);
		CHECK(n == len, "spec %u: len %u", i, n);
		CHECK(l4_ok(out, &l), "spec %u: L4 checksum", i);
		CHECK(specs[i].ipv6 || ip4_ok(out + l.l3off), "spec %u: IP checksum",
			i);
		CHECK(memcmp(out + l.l4off + l.l4, f + l.l4off + l.l4,
			len - l.l4off - l.l4) == 0, "spec %u: payload", i);
		test_chain_free(&c);
	}
}

/* Check the frames a TSO plan makes: valid, in order, the payload whole. */
static void
check_segments(const char *what, const struct rte_mbuf *m,
	const struct vhu_ofl_rx *p, const uint8_t *f, const struct layout *l,
	bool partial, uint16_t mss)
{
	static uint8_t out[4096], payload[70000];
	uint32_t hl = l->l4off + l->l4, got = 0, k;
	uint32_t seq0 = get32(f + l->l4off + 4);

	for (k = 0; k < p->nframes; k++) {
		struct layout lk = *l;
		uint32_t n = rx_out(m, p, k, out);
		uint8_t flags = out[l->l4off + 13];

		lk.len = n;
		CHECK(n - hl <= mss && (k + 1 == p->nframes || n - hl == mss),
			"%s %u: payload %u", what, k, n - hl);
		if (partial) {
			/* the guest would complete it: do so */
			uint32_t l4len = n - l->l4off;
			uint32_t s = ref_sum(out + l->l4off, l4len, 0);

			put16(out + l->l4off + 16, (uint16_t)~s);
		}
		CHECK(l4_ok(out, &lk), "%s %u: TCP checksum", what, k);
		if ((out[l->l3off] >> 4) == 4) {
			CHECK(ip4_ok(out + l->l3off), "%s %u: IP checksum", what, k);
			CHECK(get16(out + l->l3off + 2) == n - l->l3off,
				"%s %u: total length", what, k);
			CHECK(get16(out + l->l3off + 4) == 0x1234 + k, "%s %u: id",
				what, k);
		} else {
			CHECK(get16(out + l->l3off + 4) == n - l->l3off - 40,
				"%s %u: payload length", what, k);
		}
		CHECK(get32(out + l->l4off + 4) == seq0 + got, "%s %u: seq", what, k);
		CHECK(k + 1 == p->nframes ? flags == (f[l->l4off + 13] &
			(k > 0 ? 0x7f : 0xff)) : !(flags & 0x09),
			"%s %u: flags %#x", what, k, flags);
		CHECK(k == 0 || !(flags & 0x80), "%s %u: CWR", what, k);
		memcpy(payload + got, out + hl, n - hl);
		got += n - hl;
	}
	CHECK(got == l->len - hl && memcmp(payload, f + hl, got) == 0,
		"%s: payload back together (%u of %u)", what, got, l->len - hl);
}

static void
test_rx_tso(void)
{
	static uint8_t f[70000];
	static uint8_t out[70000];
	static const struct spec specs[] = {
		{.payload = 10000, .tcp_flags = 0x99 /* CWR PSH FIN ACK */},
		{.payload = 64000, .tcp_opts = 12, .tcp_flags = 0x18},
		{.ipv6 = true, .payload = 9001, .tcp_flags = 0x19},
		{.ipv6 = true, .hbh = true, .vlans = 1, .payload = 2897},
	};
	unsigned int i;

	for (i = 0; i < RTE_DIM(specs); i++) {
		const struct spec *s = &specs[i];
		uint64_t fl = RTE_MBUF_F_TX_TCP_SEG | (s->ipv6 ? RTE_MBUF_F_TX_IPV6 :
			RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM);
		uint64_t gfeat = s->ipv6 ? G_TSO6 : G_TSO4;
		struct layout l;
		struct vhu_ofl_rx p;
		struct test_chain c;
		uint32_t len = build(f, s, &l);
		uint32_t cuts[] = {l.l4off + l.l4 + 1001, l.l4off + l.l4 + 4000,
			l.l4off + l.l4 + 4001, 0};
		struct rte_mbuf *m;
		char what[32];
		int rc;

		make_partial(f, &l, false);	/* DPDK TSO: no length */
		m = test_chain_make(&c, f, len, cuts, RTE_DIM(cuts));
		set_meta(m, &l, fl, 1448);

		/* a guest taking TSO: one frame, virtio's pseudo-header */
		rc = vhu_ofl_rx_plan(m, G_CSUM | gfeat, ALL_TX, 64, &p);
		CHECK(rc == VHU_OFL_OK && p.nframes == 1 &&
			p.hdr.gso_type == (s->ipv6 ? VHU_NET_HDR_GSO_TCPV6 :
				VHU_NET_HDR_GSO_TCPV4) && p.hdr.gso_size == 1448 &&
			p.hdr.hdr_len == l.l4off + l.l4 &&
			p.hdr.csum_start == l.l4off && p.hdr.csum_offset == 16 &&
			p.hdr.flags == VHU_NET_HDR_F_NEEDS_CSUM, "spec %u: gso hdr", i);
		rx_out(m, &p, 0, out);
		CHECK(get16(out + l.l4off + 16) == ref_pseudo(out + l.l3off, s->ipv6,
			6, len - l.l4off), "spec %u: virtio pseudo-header", i);
		CHECK(s->ipv6 || ip4_ok(out + l.l3off), "spec %u: IP csum", i);

		/* checksums only: segments with partial checksums */
		rc = vhu_ofl_rx_plan(m, G_CSUM, ALL_TX, 64, &p);
		CHECK(rc == VHU_OFL_OK && p.nframes == (len - l.l4off - l.l4 + 1447) /
			1448 && p.hdr.gso_type == 0 &&
			p.hdr.flags == VHU_NET_HDR_F_NEEDS_CSUM, "spec %u: csum only", i);
		snprintf(what, sizeof(what), "spec %u partial", i);
		check_segments(what, m, &p, f, &l, true, 1448);

		/* nothing: segments with full checksums */
		rc = vhu_ofl_rx_plan(m, 0, ALL_TX, 64, &p);
		CHECK(rc == VHU_OFL_OK && p.hdr.flags == 0, "spec %u: none", i);
		snprintf(what, sizeof(what), "spec %u full", i);
		check_segments(what, m, &p, f, &l, false, 1448);

		/* too many for the limit */
		CHECK(vhu_ofl_rx_plan(m, 0, ALL_TX, 2, &p) == VHU_OFL_RX_TOO_MANY,
			"spec %u: too many", i);
		test_chain_free(&c);
	}
}

static void
test_rx_bad(void)
{
	struct spec s = {.payload = 100}, s6 = {.ipv6 = true, .payload = 3000};
	uint8_t f[4096];
	struct vhu_ofl_rx p;
	struct layout l;
	struct test_chain c;
	uint32_t len = build(f, &s, &l);
	struct rte_mbuf *m = test_chain_make(&c, f, len, NULL, 0);
	const uint64_t v4tcp = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM;

	set_meta(m, &l, RTE_MBUF_F_TX_TCP_CKSUM, 0);
	CHECK(vhu_ofl_rx_plan(m, 0, ALL_TX, 64, &p) == VHU_OFL_RX_BAD,
		"no IPV4/IPV6 flag");
	set_meta(m, &l, v4tcp | RTE_MBUF_F_TX_IPV6, 0);
	CHECK(vhu_ofl_rx_plan(m, 0, ALL_TX, 64, &p) == VHU_OFL_RX_BAD, "both");
	set_meta(m, &l, RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_TCP_CKSUM, 0);
	m->l3_len = 40;
	CHECK(vhu_ofl_rx_plan(m, 0, ALL_TX, 64, &p) == VHU_OFL_RX_BAD,
		"IPV6 flag on IPv4");
	set_meta(m, &l, v4tcp, 0);
	m->l2_len = 10;
	CHECK(vhu_ofl_rx_plan(m, 0, ALL_TX, 64, &p) == VHU_OFL_RX_BAD, "l2 < 14");
	set_meta(m, &l, v4tcp, 0);
	m->l3_len = 300;
	CHECK(vhu_ofl_rx_plan(m, 0, ALL_TX, 64, &p) == VHU_OFL_RX_BAD,
		"headers past the frame");
	set_meta(m, &l, RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_SCTP_CKSUM, 0);
	CHECK(vhu_ofl_rx_plan(m, 0, ALL_TX, 64, &p) == VHU_OFL_RX_BAD, "SCTP");
	set_meta(m, &l, v4tcp | RTE_MBUF_F_TX_TCP_SEG, 0);
	CHECK(vhu_ofl_rx_plan(m, 0, ALL_TX, 64, &p) == VHU_OFL_RX_BAD,
		"TSO without segsz");
	set_meta(m, &l, v4tcp | RTE_MBUF_F_TX_TCP_SEG, 100);
	m->l4_len = 0;
	CHECK(vhu_ofl_rx_plan(m, 0, ALL_TX, 64, &p) == VHU_OFL_RX_BAD,
		"TSO without l4_len");
	/* pkt_len longer than the chain: refused, nothing read past it */
	set_meta(m, &l, v4tcp, 0);
	m->pkt_len = 20;
	m->data_len = 20;
	CHECK(vhu_ofl_rx_plan(m, 0, ALL_TX, 64, &p) == VHU_OFL_RX_BAD,
		"headers longer than the frame");
	m->data_len = (uint16_t)len;
	m->pkt_len = len;
	test_chain_free(&c);

	len = build(f, &s6, &l);
	m = test_chain_make(&c, f, len, NULL, 0);
	set_meta(m, &l, RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_TCP_SEG, 1);
	CHECK(vhu_ofl_rx_plan(m, 0, ALL_TX, 64, &p) == VHU_OFL_RX_TOO_MANY,
		"3000 one-byte segments");
	test_chain_free(&c);
}

static void
test_sum_mbuf(void)
{
	uint8_t f[1000];
	uint32_t cuts[] = {1, 2, 333, 334, 999, 0}, i, sum;
	struct test_chain c;
	struct rte_mbuf *m;

	for (i = 0; i < sizeof(f); i++)
		f[i] = (uint8_t)(i * 13 + 5);
	m = test_chain_make(&c, f, sizeof(f), cuts, RTE_DIM(cuts));
	for (i = 0; i < 40; i++) {
		uint32_t off = i * 23, len = sizeof(f) - off - i;

		CHECK(vhu_ofl_sum_mbuf(m, off, len, &sum) &&
			sum == ref_sum(f + off, len, 0), "off %u len %u", off, len);
	}
	CHECK(!vhu_ofl_sum_mbuf(m, 10, sizeof(f), &sum), "past the chain");
	test_chain_free(&c);
}

int
main(void)
{
	test_sum_mbuf();
	test_tx_l4();
	test_tx_sw_csum();
	test_tx_tso();
	test_tx_errors();
	test_rx_plain();
	test_rx_complete();
	test_rx_tso();
	test_rx_bad();
	printf("%d checks, %d failures\n", checks, failures);
	return failures == 0 ? 0 : 1;
}
