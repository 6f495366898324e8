/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Offloads: virtio-net header <-> mbuf offload metadata (vhu_offload.h).
 *
 * Everything read from a frame is bounded by what the caller says it
 * holds; every length that goes into an mbuf field or a guest header is
 * checked against the frame first.
 */

#include <string.h>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "vhu.h"
#include "vhu_offload.h"

#define IPPROTO_TCP_NUM		6
#define IPPROTO_UDP_NUM		17
#define TCP_CSUM_OFF		16	/* offsetof(struct rte_tcp_hdr, cksum) */
#define UDP_CSUM_OFF		6	/* offsetof(struct rte_udp_hdr, dgram_cksum) */
#define TCP_HDR_MIN		20
#define UDP_HDR_LEN		8
#define IPV4_HDR_MIN		20
#define IPV6_HDR_LEN		40
#define IPV6_EXT_MAX		4	/* extension headers walked before L4 */
#define VLAN_TAGS_MAX		2
/* mbuf bit-field widths */
#define MBUF_L2_MAX		127u
#define MBUF_L3_MAX		511u
#define MBUF_L4_MAX		255u

#define TCP_FLAG_FIN		0x01
#define TCP_FLAG_PSH		0x08
#define TCP_FLAG_CWR		0x80

/* ---- bytes ---- */

static inline uint16_t
rd_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void
wr_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline uint32_t
rd_be32(const uint8_t *p)
{
	return (uint32_t)rd_be16(p) << 16 | rd_be16(p + 2);
}

static inline void
wr_be32(uint8_t *p, uint32_t v)
{
	wr_be16(p, (uint16_t)(v >> 16));
	wr_be16(p + 2, (uint16_t)v);
}

/*
 * Checksum arithmetic on big-endian values: a partial sum here is the
 * ones' complement sum of the big-endian 16-bit words, as a number (so a
 * field is read with rd_be16 and added as is).
 */
static inline uint16_t
fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* Sum of @p len bytes at @p p, big-endian words; an odd tail byte is the
 * high half of a word. */
static uint32_t
sum_bytes(const uint8_t *p, uint32_t len)
{
	/* rte_raw_cksum sums host-order words: byte-swap its fold. */
	uint16_t host = rte_raw_cksum(p, len);

	return rte_be_to_cpu_16(host);
}

bool
vhu_ofl_sum_mbuf(const struct rte_mbuf *m, uint32_t off, uint32_t len,
	uint32_t *sum)
{
	uint32_t acc = 0, done = 0;

	while (m != NULL && off >= m->data_len) {
		off -= m->data_len;
		m = m->next;
	}
	while (done < len) {
		uint32_t n, s;

		if (m == NULL)
			return false;
		n = RTE_MIN((uint32_t)m->data_len - off, len - done);
		s = sum_bytes(rte_pktmbuf_mtod_offset(m, const uint8_t *, off), n);
		/* a piece starting at an odd position of the run has its
		 * bytes in the other halves of the words */
		if (done & 1)
			s = rte_bswap16((uint16_t)s);
		acc += s;
		done += n;
		off = 0;
		m = m->next;
	}
	*sum = fold(acc);
	return true;
}

/* Copy @p len bytes of @p m from @p off into @p dst, within its chain. */
static bool
read_mbuf(const struct rte_mbuf *m, uint32_t off, uint32_t len, uint8_t *dst)
{
	while (m != NULL && off >= m->data_len) {
		off -= m->data_len;
		m = m->next;
	}
	while (len > 0) {
		uint32_t n;

		if (m == NULL)
			return false;
		n = RTE_MIN((uint32_t)m->data_len - off, len);
		memcpy(dst, rte_pktmbuf_mtod_offset(m, const uint8_t *, off), n);
		dst += n;
		len -= n;
		off = 0;
		m = m->next;
	}
	return true;
}

/* ---- frame headers ---- */

/* Where a frame's L3 and L4 headers start, found from its bytes. */
struct l4_loc {
	uint16_t l2;		/* L2 length (Ethernet + VLAN tags) */
	uint16_t l3;		/* L3 length (IPv4 options, IPv6 extensions) */
	uint16_t l4;		/* L4 header length; 0 when it does not fit */
	uint8_t proto;		/* IPPROTO_* */
	bool ipv4;
	bool fragment;		/* not the L4 header of a whole datagram */
};

static bool
ipv6_ext(uint8_t nh)
{
	return nh == 0 || nh == 43 || nh == 60;	/* hop-by-hop, routing, dest */
}

/* Find the L3 and L4 headers in the first @p seen bytes at @p p. False
 * for what is not IPv4 or IPv6 (or whose IP header is cut). */
static bool
locate_l4(const uint8_t *p, uint32_t seen, struct l4_loc *loc)
{
	uint32_t off = RTE_ETHER_HDR_LEN, l4off, k;
	uint16_t type;

	memset(loc, 0, sizeof(*loc));
	if (seen < RTE_ETHER_HDR_LEN)
		return false;
	type = rd_be16(p + 12);
	for (k = 0; k < VLAN_TAGS_MAX && (type == RTE_ETHER_TYPE_VLAN ||
			type == RTE_ETHER_TYPE_QINQ); k++) {
		if (off + 4 > seen)
			return false;
		type = rd_be16(p + off + 2);
		off += 4;
	}
	loc->l2 = (uint16_t)off;
	if (type == RTE_ETHER_TYPE_IPV4) {
		uint32_t ihl;

		if (off + IPV4_HDR_MIN > seen || (p[off] >> 4) != 4)
			return false;
		ihl = (p[off] & 0xfu) * 4u;
		if (ihl < IPV4_HDR_MIN || off + ihl > seen)
			return false;
		loc->ipv4 = true;
		loc->l3 = (uint16_t)ihl;
		loc->proto = p[off + 9];
		/* MF set or a non-zero fragment offset */
		loc->fragment = (rd_be16(p + off + 6) & 0x3fff) != 0;
	} else if (type == RTE_ETHER_TYPE_IPV6) {
		uint32_t l3 = IPV6_HDR_LEN;
		uint8_t nh;

		if (off + IPV6_HDR_LEN > seen || (p[off] >> 4) != 6)
			return false;
		nh = p[off + 6];
		for (k = 0; k < IPV6_EXT_MAX && ipv6_ext(nh); k++) {
			uint32_t e = off + l3;

			if (e + 8 > seen)
				return false;
			nh = p[e];
			l3 += (p[e + 1] + 1u) * 8u;
		}
		if (ipv6_ext(nh) || off + l3 > seen)
			return false;
		loc->l3 = (uint16_t)l3;
		loc->proto = nh;
		loc->fragment = nh == 44;
	} else {
		return false;
	}
	l4off = (uint32_t)loc->l2 + loc->l3;
	if (loc->fragment)
		return true;
	if (loc->proto == IPPROTO_TCP_NUM && l4off + TCP_HDR_MIN <= seen) {
		uint32_t doff = (p[l4off + 12] >> 4) * 4u;

		if (doff >= TCP_HDR_MIN && l4off + doff <= seen)
			loc->l4 = (uint16_t)doff;
	} else if (loc->proto == IPPROTO_UDP_NUM && l4off + UDP_HDR_LEN <= seen) {
		loc->l4 = UDP_HDR_LEN;
	}
	return true;
}

/* ---- dequeue ---- */

/* The TCP or UDP checksum at [csum_start, +csum_offset] of a frame whose
 * headers are LOC: an offload an mbuf flag can carry. */
static bool
l4_csum_matches(const struct l4_loc *loc, uint32_t csum_start,
	uint32_t csum_offset)
{
	if (loc->fragment || loc->l4 == 0 ||
			csum_start != (uint32_t)loc->l2 + loc->l3)
		return false;
	if (loc->l2 > MBUF_L2_MAX || loc->l3 > MBUF_L3_MAX)
		return false;
	if (loc->proto == IPPROTO_TCP_NUM)
		return csum_offset == TCP_CSUM_OFF;
	return loc->proto == IPPROTO_UDP_NUM && csum_offset == UDP_CSUM_OFF;
}

static int
tx_gso_check(const struct vhu_net_hdr *h, uint32_t frame_len,
	uint64_t features)
{
	uint8_t gso = h->gso_type & (uint8_t)~VHU_NET_HDR_GSO_ECN;

	if (gso == VHU_NET_HDR_GSO_TCPV4) {
		if (!(features & (1ull << VHU_F_NET_HOST_TSO4)))
			return VHU_MAL_HDR_FIELDS;
	} else if (gso == VHU_NET_HDR_GSO_TCPV6) {
		if (!(features & (1ull << VHU_F_NET_HOST_TSO6)))
			return VHU_MAL_HDR_FIELDS;
	} else {
		return VHU_MAL_HDR_FIELDS;	/* UDP (UFO) and the rest */
	}
	/* Virtio: a GSO frame asks for its checksum and names its MSS;
	 * hdr_len is a hint, but one past the frame is nonsense. */
	if (!(h->flags & VHU_NET_HDR_F_NEEDS_CSUM) || h->gso_size == 0 ||
			h->hdr_len > frame_len)
		return VHU_MAL_HDR_FIELDS;
	return VHU_OFL_OK;
}

int
vhu_ofl_tx_parse(const struct vhu_net_hdr *h, const uint8_t *frame,
	uint32_t seen, uint32_t frame_len, uint64_t features,
	struct vhu_ofl_tx *o)
{
	uint8_t gso = h->gso_type & (uint8_t)~VHU_NET_HDR_GSO_ECN;
	uint32_t start = h->csum_start, offset = h->csum_offset;
	struct l4_loc loc;
	uint32_t hdrs;
	int rc;

	memset(o, 0, sizeof(*o));
	if (gso != VHU_NET_HDR_GSO_NONE) {
		rc = tx_gso_check(h, frame_len, features);
		if (rc != VHU_OFL_OK)
			return rc;
	}
	/* DATA_VALID is meaningless on TX (the driver must not set it). */
	if (!(h->flags & VHU_NET_HDR_F_NEEDS_CSUM))
		return VHU_OFL_OK;
	if (start + offset + 2 > frame_len)
		return VHU_MAL_CSUM;
	if (seen > frame_len)
		seen = frame_len;
	if (seen > VHU_OFL_HDR_MAX)
		seen = VHU_OFL_HDR_MAX;

	if (!locate_l4(frame, seen, &loc) ||
			!l4_csum_matches(&loc, start, offset)) {
		/* A checksum no mbuf flag describes (a tunnel's inner
		 * header, ...): computed in software. */
		if (gso != VHU_NET_HDR_GSO_NONE)
			return VHU_MAL_HDR_FIELDS;
		o->kind = VHU_OFL_TX_SW_CSUM;
		o->csum_start = (uint16_t)start;
		o->csum_offset = (uint16_t)offset;
		o->priv_len = (uint16_t)(start + offset + 2);
		return VHU_OFL_OK;
	}
	hdrs = (uint32_t)loc.l2 + loc.l3 + loc.l4;
	o->kind = VHU_OFL_TX_L4;
	o->l2_len = loc.l2;
	o->l3_len = loc.l3;
	o->l4_len = loc.l4;
	o->priv_len = (uint16_t)hdrs;
	o->ol_flags = RTE_MBUF_F_RX_L4_CKSUM_NONE |
		(loc.ipv4 ? RTE_MBUF_F_TX_IPV4 : RTE_MBUF_F_TX_IPV6) |
		(loc.proto == IPPROTO_TCP_NUM ? RTE_MBUF_F_TX_TCP_CKSUM :
			RTE_MBUF_F_TX_UDP_CKSUM);
	if (gso == VHU_NET_HDR_GSO_NONE)
		return VHU_OFL_OK;
	/* TSO: TCP over the IP version the header names, some payload. */
	if (loc.proto != IPPROTO_TCP_NUM ||
			loc.ipv4 != (gso == VHU_NET_HDR_GSO_TCPV4) ||
			hdrs >= frame_len)
		return VHU_MAL_HDR_FIELDS;
	/* One MSS or less: nothing to segment, the checksum remains. */
	if (frame_len - hdrs > h->gso_size) {
		o->ol_flags |= RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_RX_LRO;
		o->tso_segsz = h->gso_size;
	}
	return VHU_OFL_OK;
}

static inline uint16_t
rd_field(const struct rte_mbuf *m, uint32_t off)
{
	return rd_be16(rte_pktmbuf_mtod_offset(m, const uint8_t *, off));
}

static inline void
wr_field(struct rte_mbuf *m, uint32_t off, uint16_t v)
{
	wr_be16(rte_pktmbuf_mtod_offset(m, uint8_t *, off), v);
}

void
vhu_ofl_tx_apply(struct rte_mbuf *m, const struct vhu_ofl_tx *o)
{
	uint32_t sum, field;

	switch (o->kind) {
	case VHU_OFL_TX_L4:
		m->ol_flags |= o->ol_flags;
		m->l2_len = o->l2_len;
		m->l3_len = o->l3_len;
		m->l4_len = o->l4_len;
		if (!(o->ol_flags & RTE_MBUF_F_TX_TCP_SEG))
			break;
		m->tso_segsz = o->tso_segsz;
		/* virtio's GSO pseudo-header counts the TCP length, DPDK's
		 * does not: take it out (ones' complement subtraction). */
		field = (uint32_t)o->l2_len + o->l3_len + TCP_CSUM_OFF;
		sum = rd_field(m, field) +
			(uint16_t)~(uint16_t)(m->pkt_len - o->l2_len - o->l3_len);
		wr_field(m, field, fold(sum));
		break;
	case VHU_OFL_TX_SW_CSUM:
		/* The field holds the guest's partial sum: sum everything
		 * from csum_start, complement, store. */
		field = (uint32_t)o->csum_start + o->csum_offset;
		if (!vhu_ofl_sum_mbuf(m, o->csum_start,
				m->pkt_len - o->csum_start, &sum))
			break;
		sum = (uint16_t)~sum;
		wr_field(m, field, sum == 0 ? 0xffff : (uint16_t)sum);
		break;
	default:
		break;
	}
}

/* ---- enqueue ---- */

/* Check the mbuf's L2/L3 metadata against the frame and read its
 * headers: hdr_bytes of them into p->hdrs. */
static int
rx_headers(const struct rte_mbuf *m, uint64_t fl, struct vhu_ofl_rx *p)
{
	uint32_t l4min, hdrs;
	const uint8_t *ip;

	p->l2_len = m->l2_len;
	p->l3_len = m->l3_len;
	p->ipv4 = !!(fl & RTE_MBUF_F_TX_IPV4);
	if (p->ipv4 == !!(fl & RTE_MBUF_F_TX_IPV6))
		return VHU_OFL_RX_BAD;	/* one of the two, as DPDK asks */
	if (p->l2_len < RTE_ETHER_HDR_LEN ||
			p->l3_len < (p->ipv4 ? IPV4_HDR_MIN : IPV6_HDR_LEN))
		return VHU_OFL_RX_BAD;
	if (fl & RTE_MBUF_F_TX_TCP_SEG) {
		p->tcp = true;
		p->l4_len = m->l4_len;
		/* TCP header lengths are whole 32-bit words */
		if (p->l4_len < TCP_HDR_MIN || (p->l4_len & 3) != 0)
			return VHU_OFL_RX_BAD;
		l4min = p->l4_len;
	} else if ((fl & RTE_MBUF_F_TX_L4_MASK) == RTE_MBUF_F_TX_TCP_CKSUM) {
		/* l4_len is optional for a checksum offload: the fixed
		 * part holds the field */
		p->tcp = true;
		l4min = TCP_HDR_MIN;
	} else if ((fl & RTE_MBUF_F_TX_L4_MASK) == RTE_MBUF_F_TX_UDP_CKSUM) {
		l4min = UDP_HDR_LEN;
	} else if ((fl & RTE_MBUF_F_TX_L4_MASK) == 0) {
		l4min = 0;	/* IPv4 header checksum only */
	} else {
		return VHU_OFL_RX_BAD;	/* SCTP: not a virtio offload */
	}
	p->l4_len = (uint16_t)l4min;
	hdrs = (uint32_t)p->l2_len + p->l3_len + l4min;
	if (hdrs > VHU_OFL_HDR_MAX || hdrs > m->pkt_len)
		return VHU_OFL_RX_BAD;
	p->hdr_bytes = (uint16_t)hdrs;
	if (!read_mbuf(m, 0, hdrs, p->hdrs))
		return VHU_OFL_RX_BAD;
	/* The flags must name the header that is there. */
	ip = p->hdrs + p->l2_len;
	if ((ip[0] >> 4) != (p->ipv4 ? 4 : 6))
		return VHU_OFL_RX_BAD;
	if (p->ipv4 && (ip[0] & 0xfu) * 4u > p->l3_len)
		return VHU_OFL_RX_BAD;
	return VHU_OFL_OK;
}

/* The TSO part of the plan. */
static int
rx_plan_tso(const struct rte_mbuf *m, uint64_t features, uint32_t max_frames,
	struct vhu_ofl_rx *p)
{
	uint32_t payload = p->frame_len - p->hdr_bytes, n;
	bool csum = features & (1ull << VHU_F_NET_GUEST_CSUM);
	bool gso = csum && (features & (1ull << (p->ipv4 ?
		VHU_F_NET_GUEST_TSO4 : VHU_F_NET_GUEST_TSO6)));

	if (m->tso_segsz == 0)
		return VHU_OFL_RX_BAD;
	p->mss = m->tso_segsz;
	if (payload <= p->mss) {
		/* One frame: only its checksum to do, from a pseudo-header
		 * with its length (DPDK's TSO one has none). */
		p->fix |= VHU_OFL_FIX_L4_PSEUDO;
		return VHU_OFL_OK;
	}
	if (gso) {
		p->hdr.flags = VHU_NET_HDR_F_NEEDS_CSUM;
		p->hdr.gso_type = p->ipv4 ? VHU_NET_HDR_GSO_TCPV4 :
			VHU_NET_HDR_GSO_TCPV6;
		p->hdr.gso_size = p->mss;
		p->hdr.hdr_len = p->hdr_bytes;
		p->hdr.csum_start = (uint16_t)(p->l2_len + p->l3_len);
		p->hdr.csum_offset = TCP_CSUM_OFF;
		p->fix |= VHU_OFL_FIX_TSO_LEN;
		return VHU_OFL_OK;
	}
	n = (payload + p->mss - 1) / p->mss;
	if (n > max_frames)
		return VHU_OFL_RX_TOO_MANY;
	p->nframes = (uint16_t)n;
	p->fix |= VHU_OFL_FIX_SEGMENT | (p->ipv4 ? VHU_OFL_FIX_IP_CSUM : 0);
	return VHU_OFL_OK;
}

int
vhu_ofl_rx_plan(const struct rte_mbuf *m, uint64_t features,
	uint64_t honoured, uint32_t max_frames, struct vhu_ofl_rx *p)
{
	uint64_t fl = m->ol_flags & honoured;
	bool csum = features & (1ull << VHU_F_NET_GUEST_CSUM);
	int rc;

	memset(&p->hdr, 0, sizeof(p->hdr));
	p->frame_len = m->pkt_len;
	p->hdr_bytes = 0;
	p->nframes = 1;
	p->fix = 0;
	p->tcp = false;
	if (!(fl & VHU_OFL_TX_FLAGS)) {
		/* A checksum the receiving port found good. */
		if (csum && (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) ==
				RTE_MBUF_F_RX_L4_CKSUM_GOOD)
			p->hdr.flags = VHU_NET_HDR_F_DATA_VALID;
		return VHU_OFL_OK;
	}
	if (fl & RTE_MBUF_F_TX_TCP_SEG)
		fl = (fl & ~RTE_MBUF_F_TX_L4_MASK) | RTE_MBUF_F_TX_TCP_CKSUM;
	rc = rx_headers(m, fl, p);
	if (rc != VHU_OFL_OK)
		return rc;
	if ((fl & RTE_MBUF_F_TX_IP_CKSUM) && p->ipv4)
		p->fix |= VHU_OFL_FIX_IP_CSUM;
	if (fl & RTE_MBUF_F_TX_TCP_SEG) {
		rc = rx_plan_tso(m, features, max_frames, p);
		if (rc != VHU_OFL_OK || (p->fix & VHU_OFL_FIX_TSO_LEN))
			return rc;
	}
	if (fl & RTE_MBUF_F_TX_L4_MASK) {
		if (csum) {
			/* the guest completes it; a segment gets the
			 * pseudo-header of its own length */
			p->hdr.flags = VHU_NET_HDR_F_NEEDS_CSUM;
			p->hdr.csum_start = (uint16_t)(p->l2_len + p->l3_len);
			p->hdr.csum_offset = p->tcp ? TCP_CSUM_OFF : UDP_CSUM_OFF;
			if (p->fix & VHU_OFL_FIX_SEGMENT)
				p->fix |= VHU_OFL_FIX_L4_PSEUDO;
		} else {
			p->fix |= VHU_OFL_FIX_L4_FULL;
		}
	}
	if (p->fix == 0)
		p->hdr_bytes = 0;	/* nothing to rewrite: copy as it is */
	return VHU_OFL_OK;
}

/* Ones' complement sum of the IPv4/IPv6 pseudo-header for an L4 run of
 * @p l4len bytes (the headers in @p h, IP at @p ip). */
static uint32_t
pseudo_sum(const uint8_t *ip, bool ipv4, uint8_t proto, uint32_t l4len)
{
	if (ipv4)
		return sum_bytes(ip + 12, 8) + proto + l4len;
	/* IPv6: 32-bit length; a TSO frame stays below 64 KiB */
	return sum_bytes(ip + 8, 32) + proto + (l4len >> 16) +
		(l4len & 0xffff);
}

static void
ipv4_csum(uint8_t *ip, uint32_t ihl)
{
	wr_be16(ip + 10, 0);
	wr_be16(ip + 10, (uint16_t)~fold(sum_bytes(ip, ihl)));
}

/* Header fields of segment @p k of @p n, @p paylen payload bytes. */
static void
segment_fields(const struct vhu_ofl_rx *p, uint8_t *out, uint32_t k,
	uint32_t n, uint32_t paylen)
{
	uint8_t *ip = out + p->l2_len, *tcp = ip + p->l3_len;
	uint32_t l4len = (uint32_t)p->l4_len + paylen;

	if (p->ipv4) {
		wr_be16(ip + 2, (uint16_t)(p->l3_len + l4len));
		wr_be16(ip + 4, (uint16_t)(rd_be16(ip + 4) + k));
	} else {
		wr_be16(ip + 4, (uint16_t)(p->l3_len - IPV6_HDR_LEN + l4len));
	}
	wr_be32(tcp + 4, rd_be32(tcp + 4) + k * p->mss);
	/* FIN and PSH end the run, CWR starts it (as Linux's GSO) */
	if (k + 1 < n)
		tcp[13] &= (uint8_t)~(TCP_FLAG_FIN | TCP_FLAG_PSH);
	if (k > 0)
		tcp[13] &= (uint8_t)~TCP_FLAG_CWR;
}

uint32_t
vhu_ofl_rx_frame(const struct rte_mbuf *m, const struct vhu_ofl_rx *p,
	uint32_t k, uint8_t *out, uint32_t *off, uint32_t *len)
{
	uint32_t h = p->hdr_bytes, l4off = (uint32_t)p->l2_len + p->l3_len;
	uint8_t *ip = out + p->l2_len, *csum;
	uint32_t sum, paysum = 0, l4len;

	if (!(p->fix & VHU_OFL_FIX_SEGMENT)) {
		*off = h;
		*len = p->frame_len - h;
	} else {
		*off = h + k * p->mss;
		*len = RTE_MIN((uint32_t)p->mss, p->frame_len - *off);
	}
	if (h == 0)
		return *len;
	memcpy(out, p->hdrs, h);
	if (p->fix & VHU_OFL_FIX_SEGMENT)
		segment_fields(p, out, k, p->nframes, *len);
	if (p->fix & VHU_OFL_FIX_IP_CSUM)
		ipv4_csum(ip, (ip[0] & 0xfu) * 4u);
	if (!(p->fix & (VHU_OFL_FIX_TSO_LEN | VHU_OFL_FIX_L4_PSEUDO |
			VHU_OFL_FIX_SEGMENT | VHU_OFL_FIX_L4_FULL)))
		return h + *len;
	/* an L4 fix: the checksum field is inside hdr_bytes */
	csum = out + l4off + (p->tcp ? TCP_CSUM_OFF : UDP_CSUM_OFF);
	l4len = h - l4off + *len;
	if (p->fix & VHU_OFL_FIX_TSO_LEN) {
		wr_be16(csum, fold((uint32_t)rd_be16(csum) + l4len));
	} else if (p->fix & (VHU_OFL_FIX_L4_PSEUDO | VHU_OFL_FIX_SEGMENT)) {
		/* a new pseudo-header sum (the segment's length)... */
		uint8_t proto = p->tcp ? IPPROTO_TCP_NUM : IPPROTO_UDP_NUM;

		wr_be16(csum, fold(pseudo_sum(ip, p->ipv4, proto, l4len)));
	}
	if (p->fix & VHU_OFL_FIX_L4_FULL) {
		/* ...completed over the L4 header and the payload (the
		 * field holds the pseudo-header sum) */
		if (!vhu_ofl_sum_mbuf(m, *off, *len, &paysum))
			paysum = 0;	/* cannot happen: planned on pkt_len */
		sum = (uint16_t)~fold(sum_bytes(out + l4off, h - l4off) + paysum);
		if (sum == 0 && !p->tcp)
			sum = 0xffff;	/* UDP: 0 would mean "none" */
		wr_be16(csum, (uint16_t)sum);
	}
	return h + *len;
}
