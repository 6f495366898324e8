/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * The forwarding stage's flow hash (app/vmlink/fwd.c, fwd_flow_hash()),
 * which picks a destination tx queue for frames from a port with another
 * queue count: one flow always on one queue, flows spread over queues,
 * non-first IPv4 fragments hashed like their first, the device's RSS hash
 * used when it has one, and no read past a frame however short: each
 * frame sits in an exactly-sized heap buffer (a sanitizer report past it).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_mbuf.h>

#include "fwd.h"
#include "test_chain.h"
#include "test_frames.h"
#include "unit_check.h"

#define QUEUES 4

/* fwd_flow_hash() of the LEN bytes of F, from an exactly-sized buffer. */
static uint32_t
hash_of(const uint8_t *f, uint32_t len)
{
	struct test_chain c;
	struct rte_mbuf *m = test_chain_make(&c, f, len, NULL, 0);
	uint32_t h;

	CHECK(m != NULL, "allocation");
	h = fwd_flow_hash(m);
	test_chain_free(&c);
	return h;
}

static void
set_ports(uint8_t *f, const struct layout *l, uint16_t src, uint16_t dst)
{
	put16(f + l->l4off, src);
	put16(f + l->l4off + 2, dst);
}

/* Same flow, same hash; 64 flows of one host pair cover every queue. */
static void
test_spread(const struct spec *s, const char *what)
{
	uint8_t f[256];
	struct layout l;
	uint32_t len = build(f, s, &l), per_queue[QUEUES] = { 0 }, h, q;
	uint16_t port;

	for (port = 0; port < 64; port++) {
		set_ports(f, &l, (uint16_t)(40000 + port), 80);
		h = hash_of(f, len);
		CHECK(h == hash_of(f, len), "%s: one flow, two hashes", what);
		per_queue[h % QUEUES]++;
	}
	for (q = 0; q < QUEUES; q++)
		CHECK(per_queue[q] > 0, "%s: queue %u got no flow of 64", what,
			q);
}

/* A non-first fragment carries no ports: hashed on the addresses alone,
 * so the fragments of one datagram never change queue among themselves. */
static void
test_fragments(void)
{
	struct spec s = {.udp = true, .payload = 64};
	uint8_t f[256];
	struct layout l;
	uint32_t len = build(f, &s, &l), h;

	f[l.l3off + 6] = 0x00;		/* fragment offset 8 */
	f[l.l3off + 7] = 0x01;
	set_ports(f, &l, 1, 2);
	h = hash_of(f, len);
	set_ports(f, &l, 3, 4);	/* payload bytes, not ports, in a fragment */
	CHECK(h == hash_of(f, len), "non-first fragment hashed its payload");
	f[l.l3off + 6] = 0x40;		/* DF only: not a fragment */
	f[l.l3off + 7] = 0;
	set_ports(f, &l, 1, 2);
	h = hash_of(f, len);
	set_ports(f, &l, 3, 4);
	CHECK(h != hash_of(f, len), "unfragmented frame: ports not hashed");
}

/* The device's RSS hash, when the mbuf has one, is the flow hash. */
static void
test_rss(void)
{
	struct spec s = {.payload = 10};
	uint8_t f[256];
	struct layout l;
	uint32_t len = build(f, &s, &l);
	struct test_chain c;
	struct rte_mbuf *m = test_chain_make(&c, f, len, NULL, 0);

	m->ol_flags |= RTE_MBUF_F_RX_RSS_HASH;
	m->hash.rss = 0xdeadbeef;
	CHECK(fwd_flow_hash(m) == 0xdeadbeef, "RSS hash not used");
	test_chain_free(&c);
}

/* Every prefix of every kind of frame, including headers that claim
 * more than the frame holds (IHL 15 on a short frame). */
static void
test_truncated(void)
{
	const struct spec kinds[] = {
		{.payload = 8},
		{.udp = true, .vlans = 1, .payload = 8},
		{.ipv6 = true, .payload = 8},
		{.ipv6 = true, .udp = true, .vlans = 1, .payload = 0},
		{.ip_opts = 40, .payload = 0},
	};
	uint8_t f[256];
	struct layout l;
	uint32_t k, len, n;

	for (k = 0; k < RTE_DIM(kinds); k++) {
		len = build(f, &kinds[k], &l);
		for (n = 0; n <= len; n++)
			(void)hash_of(f, n);
		if (!kinds[k].ipv6) {
			f[l.l3off] = 0x4f;	/* IHL 60 bytes */
			for (n = 0; n <= len; n++)
				(void)hash_of(f, n);
		}
	}
}

int
main(void)
{
	test_spread(&(struct spec){.payload = 16}, "IPv4/TCP");
	test_spread(&(struct spec){.udp = true, .vlans = 1, .payload = 16},
		"VLAN IPv4/UDP");
	test_spread(&(struct spec){.ipv6 = true, .payload = 16}, "IPv6/TCP");
	test_fragments();
	test_rss();
	test_truncated();
	printf("%d checks, %d failures\n", checks, failures);
	return failures == 0 ? 0 : 1;
}
