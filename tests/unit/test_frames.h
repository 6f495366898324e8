/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * Test frames for the offload tests: Ethernet (up to two VLAN tags),
 * IPv4 with options or IPv6 with a hop-by-hop header, TCP with options or
 * UDP, optionally inside a VXLAN tunnel, with right checksums; and a
 * byte-by-byte checksum, independent of the code under test.
 */

#ifndef VMLINK_TEST_FRAMES_H
#define VMLINK_TEST_FRAMES_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

struct spec {
	bool ipv6;
	bool udp;
	unsigned int vlans;	/* 0..2 */
	unsigned int ip_opts;	/* IPv4 option bytes (multiple of 4) */
	bool hbh;		/* IPv6 hop-by-hop extension header */
	unsigned int tcp_opts;	/* TCP option bytes (multiple of 4) */
	bool vxlan;		/* outer IPv4/UDP/VXLAN around it all */
	uint8_t tcp_flags;
	uint32_t payload;
};

struct layout {
	uint32_t len;
	uint32_t l2, l3, l4;	/* lengths of the (inner) headers */
	uint32_t l3off, l4off;	/* (inner) offsets */
	uint8_t proto;
};

static inline void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* Reference ones' complement sum, byte by byte. */
static inline uint32_t
ref_sum(const uint8_t *p, uint32_t len, uint32_t sum)
{
	uint32_t i;

	for (i = 0; i < len; i++)
		sum += (i & 1) ? p[i] : (uint32_t)p[i] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

static inline uint32_t
ref_pseudo(const uint8_t *ip, bool ipv6, uint8_t proto, uint32_t l4len)
{
	uint32_t s = ipv6 ? ref_sum(ip + 8, 32, 0) : ref_sum(ip + 12, 8, 0);

	return ref_sum((const uint8_t[]){0, proto, (uint8_t)(l4len >> 8),
		(uint8_t)l4len}, 4, s);
}

/* Is the L4 checksum of the frame (headers at L) right? */
static inline bool
l4_ok(const uint8_t *f, const struct layout *l)
{
	uint32_t l4len = l->len - l->l4off;
	uint32_t s = ref_pseudo(f + l->l3off, (f[l->l3off] >> 4) == 6, l->proto,
		l4len);

	return ref_sum(f + l->l4off, l4len, s) == 0xffff;
}

static inline bool
ip4_ok(const uint8_t *ip)
{
	return ref_sum(ip, (ip[0] & 0xfu) * 4u, 0) == 0xffff;
}

static inline void
set_l4_csum(uint8_t *f, const struct layout *l)
{
	uint8_t *c = f + l->l4off + (l->proto == 6 ? 16 : 6);
	uint32_t l4len = l->len - l->l4off;

	put16(c, 0);
	put16(c, (uint16_t)~ref_sum(f + l->l4off, l4len, ref_pseudo(f + l->l3off,
		(f[l->l3off] >> 4) == 6, l->proto, l4len)));
}

static inline void
set_ip4_csum(uint8_t *ip)
{
	put16(ip + 10, 0);
	put16(ip + 10, (uint16_t)~ref_sum(ip, (ip[0] & 0xfu) * 4u, 0));
}

/* IP + L4 headers of S at P for L4LEN bytes of L4 (header + payload). */
static inline uint32_t
build_ip(uint8_t *p, const struct spec *s, uint8_t proto, uint32_t l4len,
	uint32_t *l3)
{
	if (!s->ipv6) {
		uint32_t ihl = 20 + s->ip_opts;

		memset(p, 0, ihl);
		p[0] = (uint8_t)(0x40 | ihl / 4);
		put16(p + 2, (uint16_t)(ihl + l4len));
		put16(p + 4, 0x1234);
		p[8] = 64;
		p[9] = proto;
		memcpy(p + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
		memset(p + 20, 1, s->ip_opts);	/* NOPs */
		*l3 = ihl;
		set_ip4_csum(p);
		return ihl;
	}
	memset(p, 0, 40);
	p[0] = 0x60;
	p[6] = s->hbh ? 0 : proto;
	p[7] = 64;
	p[8] = 0xfd;
	p[23] = 1;
	p[24] = 0xfd;
	p[39] = 2;
	*l3 = 40;
	if (s->hbh) {
		memset(p + 40, 0, 8);
		p[40] = proto;
		p[42] = 1;	/* PadN */
		p[43] = 4;
		*l3 = 48;
	}
	put16(p + 4, (uint16_t)(*l3 - 40 + l4len));
	return *l3;
}

static inline uint32_t
build(uint8_t *f, const struct spec *s, struct layout *l)
{
	uint32_t off = 12, i, l4hdr, outer = 0;
	uint8_t proto = s->udp ? 17 : 6;

	memset(l, 0, sizeof(*l));
	if (s->vxlan) {
		/* outer Ethernet/IPv4/UDP/VXLAN (50 bytes), no checksum */
		memset(f, 0, 50);
		memcpy(f, "\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00", 14);
		f[14] = 0x45;
		f[23] = 17;
		put16(f + 14 + 20 + 2, 4789);
		f[42] = 0x08;
		outer = 50;
		f += outer;
	}
	memcpy(f, "\x02\0\0\0\0\x02\x02\0\0\0\0\x01", 12);
	for (i = 0; i < s->vlans; i++) {
		put16(f + off, i == 0 && s->vlans == 2 ? 0x88a8 : 0x8100);
		put16(f + off + 2, (uint16_t)(100 + i));
		off += 4;
	}
	put16(f + off, s->ipv6 ? 0x86dd : 0x0800);
	l->l2 = off + 2;
	l4hdr = s->udp ? 8 : 20 + s->tcp_opts;
	l->l3off = outer + l->l2;
	build_ip(f + l->l2, s, proto, l4hdr + s->payload, &l->l3);
	l->l4off = l->l3off + l->l3;
	l->l4 = l4hdr;
	l->proto = proto;
	{
		uint8_t *t = f + l->l2 + l->l3;

		memset(t, 0, l4hdr);
		put16(t, 40000);
		put16(t + 2, 80);
		if (s->udp) {
			put16(t + 4, (uint16_t)(8 + s->payload));
		} else {
			t[4] = 0x10;	/* seq 0x10000001 */
			t[7] = 1;
			t[12] = (uint8_t)((l4hdr / 4) << 4);
			t[13] = s->tcp_flags;
			put16(t + 14, 65535);
			memset(t + 20, 1, s->tcp_opts);
		}
		for (i = 0; i < s->payload; i++)
			t[l4hdr + i] = (uint8_t)(i * 7 + 3);
	}
	l->len = outer + l->l2 + l->l3 + l4hdr + s->payload;
	if (s->vxlan) {
		f -= outer;
		put16(f + 14 + 2, (uint16_t)(l->len - 14));
		put16(f + 34 + 4, (uint16_t)(l->len - 34));
		set_ip4_csum(f + 14);
	}
	set_l4_csum(f, l);
	return l->len;
}

/* Replace the L4 checksum by the partial (pseudo-header) sum a driver
 * asking for the offload puts there; WITH_LEN: the pseudo-header counts
 * the L4 length (virtio, DPDK without TSO), else not (DPDK TSO). */
static inline void
make_partial(uint8_t *f, const struct layout *l, bool with_len)
{
	uint32_t l4len = l->len - l->l4off;

	put16(f + l->l4off + (l->proto == 6 ? 16 : 6),
		(uint16_t)ref_pseudo(f + l->l3off, (f[l->l3off] >> 4) == 6,
			l->proto, with_len ? l4len : 0));
}

#endif /* VMLINK_TEST_FRAMES_H */
