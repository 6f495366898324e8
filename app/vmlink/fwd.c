/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 */

#include <errno.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_ethdev.h>
#include <rte_gso.h>
#include <rte_jhash.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "fwd.h"

void
fwd_init(struct fwd_table *t, const struct vmlink_cfg *cfg)
{
	unsigned int i;

	for (i = 0; i < CFG_MAX_PORTS; i++) {
		t->xconnect[i] = FWD_DROP;
		t->tx_ok[i] = 0;
	}
	for (i = 0; i < cfg->n_ports; i++)
		if (cfg->port[i].peer >= 0)
			t->xconnect[i] = (uint16_t)cfg->port[i].peer;
}

void
fwd_set_tx_offloads(struct fwd_table *t, uint16_t p, uint64_t offloads)
{
	uint64_t ok = 0;

	/* The L4 field is a 2-bit value (TCP 01, UDP 11): a port doing
	 * UDP but not TCP checksums is treated as doing neither. */
	if (offloads & RTE_ETH_TX_OFFLOAD_TCP_CKSUM) {
		ok |= RTE_MBUF_F_TX_TCP_CKSUM;
		if (offloads & RTE_ETH_TX_OFFLOAD_UDP_CKSUM)
			ok |= RTE_MBUF_F_TX_UDP_CKSUM;
		if (offloads & RTE_ETH_TX_OFFLOAD_TCP_TSO)
			ok |= RTE_MBUF_F_TX_TCP_SEG;
	}
	if (offloads & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM)
		ok |= RTE_MBUF_F_TX_IP_CKSUM;
	t->tx_ok[p] = ok;
}

/* The ports of a TCP/UDP header at OFF (0 for other protocols or when
 * the frame ends before them). */
static uint32_t
l4_ports(const uint8_t *p, uint32_t len, uint32_t off, uint8_t proto)
{
	uint32_t ports;

	if ((proto != IPPROTO_TCP && proto != IPPROTO_UDP) || off + 4 > len)
		return 0;
	memcpy(&ports, p + off, sizeof(ports));
	return ports;
}

uint32_t
fwd_flow_hash(const struct rte_mbuf *m)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t len = m->data_len, off = RTE_ETHER_HDR_LEN, a[2];
	uint16_t type;

	if (m->ol_flags & RTE_MBUF_F_RX_RSS_HASH)
		return m->hash.rss;
	if (len < off)
		return 0;
	type = (uint16_t)(p[12] << 8 | p[13]);
	if (type == RTE_ETHER_TYPE_VLAN && len >= off + 4) {
		type = (uint16_t)(p[16] << 8 | p[17]);
		off += 4;
	}
	if (type == RTE_ETHER_TYPE_IPV4 && len >= off + 20) {
		uint32_t ihl = (p[off] & 0xfu) * 4;
		/* fragments: addresses only (only the first has ports) */
		bool frag = (p[off + 6] & 0x3f) != 0 || p[off + 7] != 0;

		memcpy(a, p + off + 12, sizeof(a));
		return rte_jhash_3words(a[0], a[1], frag ? 0 :
			l4_ports(p, len, off + ihl, p[off + 9]), p[off + 9]);
	}
	/* Addresses are copied out: frames (zero-copy guest buffers too)
	 * start anywhere, and the hash reads whole words. */
	if (type == RTE_ETHER_TYPE_IPV6 && len >= off + 40) {
		uint32_t a6[8];

		memcpy(a6, p + off + 8, sizeof(a6));
		return rte_jhash_1word(l4_ports(p, len, off + 40, p[off + 6]),
			rte_jhash_32b(a6, RTE_DIM(a6), p[off + 6]));
	}
	{
		uint32_t macs[3];	/* destination and source */

		memcpy(macs, p, sizeof(macs));
		return rte_jhash_32b(macs, RTE_DIM(macs), type);
	}
}

uint32_t
fwd_reachable(const struct fwd_table *t, uint16_t in_port)
{
	uint16_t to = t->xconnect[in_port];

	return to == FWD_DROP ? 0 : UINT32_C(1) << to;
}

/* ---- software completion ---- */

/* Longest L2 + L3 + L4 header run completed (the header mbufs' room). */
#define HDR_MAX 256u
#define TCP_HDR_MIN 20u

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_PSH 0x08
#define TCP_FLAG_CWR 0x80

static inline uint32_t
hdr_bytes(const struct rte_mbuf *m)
{
	return (uint32_t)m->l2_len + m->l3_len + m->l4_len;
}

/* The metadata of a frame asking for an offload, checked against it:
 * one IP version, its headers (at least @p l4min bytes of L4) in the
 * first segment. */
static bool
meta_ok(const struct rte_mbuf *m, uint32_t l4min)
{
	bool v4 = m->ol_flags & RTE_MBUF_F_TX_IPV4;
	uint32_t hdrs = (uint32_t)m->l2_len + m->l3_len + RTE_MAX(
		(uint32_t)m->l4_len, l4min);
	const uint8_t *ip;

	if (v4 == !!(m->ol_flags & RTE_MBUF_F_TX_IPV6) ||
			m->l2_len < RTE_ETHER_HDR_LEN ||
			m->l3_len < (v4 ? sizeof(struct rte_ipv4_hdr) :
				sizeof(struct rte_ipv6_hdr)) ||
			hdrs > HDR_MAX || hdrs > m->data_len || hdrs > m->pkt_len)
		return false;
	ip = rte_pktmbuf_mtod_offset(m, const uint8_t *, m->l2_len);
	return (ip[0] >> 4) == (v4 ? 4 : 6) &&
		(!v4 || (ip[0] & 0xfu) * 4u <= m->l3_len);
}

/* The pseudo-header sum (host-order words, folded) for @p l4len bytes. */
static uint16_t
pseudo_sum(const struct rte_mbuf *m, uint8_t proto, uint32_t l4len)
{
	const uint8_t *ip = rte_pktmbuf_mtod_offset(m, const uint8_t *,
		m->l2_len);
	uint32_t sum;

	if (m->ol_flags & RTE_MBUF_F_TX_IPV4)
		sum = __rte_raw_cksum(ip + 12, 8, 0);
	else
		sum = __rte_raw_cksum(ip + 8, 32, 0);
	sum += rte_cpu_to_be_16((uint16_t)proto) +
		rte_cpu_to_be_16((uint16_t)l4len);
	return __rte_raw_cksum_reduce(sum);
}

static inline void
put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
}

/*
 * The checksums frame @p m asks for that port flags @p ok do not cover,
 * in software; its headers are writable in its first segment. The L4
 * checksum covers the frame to its end (virtio's partial checksum does
 * too), from a pseudo-header of that length: nothing is read past the
 * frame whatever its IP header says. With @p resized (a segment of a
 * TSO frame) the IPv4 header and the pseudo-header sum always change.
 * Returns true when something was computed.
 */
static bool
csum_complete(struct rte_mbuf *m, uint64_t ok, bool resized)
{
	uint64_t l4 = m->ol_flags & RTE_MBUF_F_TX_L4_MASK;
	bool v4 = m->ol_flags & RTE_MBUF_F_TX_IPV4, tcp, did = false;
	uint8_t *ip = rte_pktmbuf_mtod_offset(m, uint8_t *, m->l2_len);
	uint32_t l4off = (uint32_t)m->l2_len + m->l3_len;
	uint32_t l4len = m->pkt_len - l4off;
	uint8_t *field;
	uint16_t raw;
	uint32_t sum;

	if (v4 && (resized || (m->ol_flags & RTE_MBUF_F_TX_IP_CKSUM))) {
		struct rte_ipv4_hdr *h = (struct rte_ipv4_hdr *)ip;

		h->hdr_checksum = 0;
		if (ok & RTE_MBUF_F_TX_IP_CKSUM) {
			m->ol_flags |= RTE_MBUF_F_TX_IP_CKSUM;
		} else {
			h->hdr_checksum = rte_ipv4_cksum(h);
			m->ol_flags &= ~RTE_MBUF_F_TX_IP_CKSUM;
			did = true;
		}
	}
	if (l4 == 0)
		return did;
	tcp = l4 == RTE_MBUF_F_TX_TCP_CKSUM;
	field = ip + m->l3_len + (tcp ? 16 : 6);
	if ((ok & RTE_MBUF_F_TX_L4_MASK & l4) == l4) {
		/* the port completes it: DPDK's pseudo-header, with length */
		if (resized)
			put16(field, pseudo_sum(m, tcp ? IPPROTO_TCP :
				IPPROTO_UDP, l4len));
		return did;
	}
	put16(field, 0);
	if (rte_raw_cksum_mbuf(m, l4off, l4len, &raw) != 0)
		return did;	/* cannot happen: l4off + l4len == pkt_len */
	sum = (uint32_t)raw + pseudo_sum(m, tcp ? IPPROTO_TCP : IPPROTO_UDP,
		l4len);
	raw = (uint16_t)~__rte_raw_cksum_reduce(sum);
	if (raw == 0 && !tcp)
		raw = 0xffff;	/* UDP: 0 means "no checksum" */
	put16(field, raw);
	m->ol_flags &= ~RTE_MBUF_F_TX_L4_MASK;
	return true;
}

/* Segments a TSO frame becomes; 0 when its metadata does not fit it. */
static uint32_t
gso_count(const struct rte_mbuf *m)
{
	uint32_t hdrs = hdr_bytes(m);

	if (!meta_ok(m, TCP_HDR_MIN) || m->l4_len < TCP_HDR_MIN ||
			m->tso_segsz == 0 || hdrs >= m->pkt_len)
		return 0;
	return (m->pkt_len - hdrs + m->tso_segsz - 1) / m->tso_segsz;
}

/* IPv6 TCP segmentation (rte_gso has IPv4 only): each segment a copy of
 * the headers, fixed, then the payload attached from @p m. */
static int
gso_tcp6(const struct fwd_ofl_pools *pools, struct rte_mbuf *m,
	struct rte_mbuf **seg, uint32_t nseg)
{
	const uint8_t *hdr = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t hdrs = hdr_bytes(m), mss = m->tso_segsz, soff = hdrs, i;
	uint32_t l4off = (uint32_t)m->l2_len + m->l3_len;
	uint32_t seq0 = rte_be_to_cpu_32(*(const unaligned_uint32_t *)
		(hdr + l4off + 4));
	struct rte_mbuf *src = m;

	for (i = 0; i < nseg; i++) {
		uint32_t want = RTE_MIN(mss, m->pkt_len - hdrs - i * mss);
		struct rte_mbuf *h = rte_pktmbuf_alloc(pools->hdr), *prev = h;
		uint8_t *p;

		if (h == NULL)
			goto fail;
		seg[i] = h;
		p = rte_pktmbuf_mtod(h, uint8_t *);
		memcpy(p, hdr, hdrs);
		h->data_len = (uint16_t)hdrs;
		h->pkt_len = hdrs;
		h->port = m->port;
		h->ol_flags = m->ol_flags & ~RTE_MBUF_F_TX_TCP_SEG;
		h->tx_offload = m->tx_offload;
		h->packet_type = m->packet_type;
		*(unaligned_uint16_t *)(p + m->l2_len + 4) = rte_cpu_to_be_16(
			(uint16_t)(m->l3_len - sizeof(struct rte_ipv6_hdr) +
				m->l4_len + want));
		*(unaligned_uint32_t *)(p + l4off + 4) =
			rte_cpu_to_be_32(seq0 + i * mss);
		if (i + 1 < nseg)
			p[l4off + 13] &= (uint8_t)~(TCP_FLAG_FIN | TCP_FLAG_PSH);
		if (i > 0)
			p[l4off + 13] &= (uint8_t)~TCP_FLAG_CWR;
		while (want > 0) {
			struct rte_mbuf *pm;
			uint32_t take;

			while (src != NULL && soff == src->data_len) {
				src = src->next;
				soff = 0;
			}
			if (src == NULL)
				goto fail_seg;	/* chain shorter than pkt_len */
			pm = rte_pktmbuf_alloc(pools->ind);
			if (pm == NULL)
				goto fail_seg;
			take = RTE_MIN(want, (uint32_t)src->data_len - soff);
			rte_pktmbuf_attach(pm, src);
			pm->data_off = (uint16_t)(src->data_off + soff);
			pm->data_len = (uint16_t)take;
			pm->pkt_len = take;
			prev->next = pm;
			prev = pm;
			h->nb_segs++;
			h->pkt_len += take;
			soff += take;
			want -= take;
		}
	}
	return (int)nseg;
fail_seg:
	i++;
fail:
	while (i > 0)
		rte_pktmbuf_free(seg[--i]);
	return -ENOMEM;
}

/* Segment TSO frame @p m into @p seg (room for @p nseg, what
 * gso_count() said); frees @p m when it succeeds. */
static int
gso_segment(const struct fwd_ofl_pools *pools, struct rte_mbuf *m,
	struct rte_mbuf **seg, uint32_t nseg)
{
	struct rte_gso_ctx ctx = {
		.direct_pool = pools->hdr,
		.indirect_pool = pools->ind,
		.gso_types = RTE_ETH_TX_OFFLOAD_TCP_TSO,
		.gso_size = (uint16_t)RTE_MIN(hdr_bytes(m) + m->tso_segsz,
			(uint32_t)UINT16_MAX),
	};
	int ret;

	if (m->ol_flags & RTE_MBUF_F_TX_IPV6) {
		ret = gso_tcp6(pools, m, seg, nseg);
	} else {
		ret = rte_gso_segment(m, &ctx, seg, (uint16_t)nseg);
		if (ret == 0)
			ret = -EINVAL;	/* an IPv4 fragment: not segmentable */
	}
	if (ret > 0)
		rte_pktmbuf_free(m);
	return ret;
}

/* @p m, or a copy of it (freeing @p m) when its headers are not its own
 * to write (an mbuf shared or attached). NULL (@p m untouched): no mbufs
 * for the copy. */
static struct rte_mbuf *
writable(const struct fwd_ofl_pools *pools, struct rte_mbuf *m)
{
	struct rte_mbuf *c;

	if (RTE_MBUF_DIRECT(m) && rte_mbuf_refcnt_read(m) == 1)
		return m;
	if (pools->hdr == NULL)
		return NULL;
	c = rte_pktmbuf_copy(m, pools->hdr, 0, UINT32_MAX);
	if (c != NULL)
		rte_pktmbuf_free(m);
	return c;
}

/* Frame @p m, which asks for a checksum port flags @p ok lack, into
 * *out; false when it had to be dropped. */
static bool
complete_csum(const struct fwd_ofl_pools *pools, struct rte_mbuf *m,
	uint64_t ok, struct rte_mbuf **out, struct fwd_ofl_count *c)
{
	uint64_t l4 = m->ol_flags & RTE_MBUF_F_TX_L4_MASK;
	uint32_t l4min = l4 == RTE_MBUF_F_TX_TCP_CKSUM ? TCP_HDR_MIN :
		l4 == RTE_MBUF_F_TX_UDP_CKSUM ? sizeof(struct rte_udp_hdr) : 0;
	struct rte_mbuf *w;

	/* SCTP is no offload of ours, and the metadata must fit */
	if (l4 == RTE_MBUF_F_TX_SCTP_CKSUM || !meta_ok(m, l4min) ||
			(w = writable(pools, m)) == NULL) {
		rte_pktmbuf_free(m);
		c->dropped++;
		return false;
	}
	m = w;
	if (csum_complete(m, ok, false))
		c->sw_csum++;
	*out = m;
	return true;
}

uint16_t
fwd_complete(const struct fwd_table *t, const struct fwd_ofl_pools *pools,
	uint16_t to, struct rte_mbuf **in, uint16_t n, struct rte_mbuf **out,
	uint16_t cap, uint16_t *nout, struct fwd_ofl_count *c)
{
	uint64_t ok = t->tx_ok[to];
	uint16_t i, k = 0;

	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = in[i];
		uint64_t need = m->ol_flags & FWD_OFL_FLAGS & ~ok;
		uint32_t nseg, s;
		int ret;

		if (k == cap)
			break;
		if (need == 0) {
			out[k++] = m;
			continue;
		}
		if (!(need & RTE_MBUF_F_TX_TCP_SEG)) {
			if (complete_csum(pools, m, ok, &out[k], c))
				k++;
			continue;
		}
		nseg = gso_count(m);
		if (nseg > (uint32_t)(cap - k) && k > 0)
			break;	/* the next call has the room */
		if (nseg == 0 || nseg > FWD_GSO_MAX_SEGS || nseg > cap ||
				pools->hdr == NULL) {
			rte_pktmbuf_free(m);
			c->dropped++;
			continue;
		}
		if (nseg == 1) {
			/* one MSS: a checksum offload only */
			m->ol_flags &= ~RTE_MBUF_F_TX_TCP_SEG;
			if (complete_csum(pools, m, ok, &out[k], c))
				k++;
			continue;
		}
		ret = gso_segment(pools, m, &out[k], nseg);
		if (ret <= 0) {
			rte_pktmbuf_free(m);
			c->dropped++;
			continue;
		}
		for (s = 0; s < (uint32_t)ret; s++) {
			struct rte_mbuf *sm = out[k + s];

			/* TSO implies the TCP checksum */
			sm->ol_flags = (sm->ol_flags & ~RTE_MBUF_F_TX_L4_MASK) |
				RTE_MBUF_F_TX_TCP_CKSUM;
			if (csum_complete(sm, ok, true))
				c->sw_csum++;
		}
		c->gso_frames++;
		c->gso_segments += (uint32_t)ret;
		k = (uint16_t)(k + ret);
	}
	*nout = k;
	return i;
}
