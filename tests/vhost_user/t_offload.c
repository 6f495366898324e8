/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Offloads through the data path (the mapping itself is unit- and
 * fuzz-tested: tests/unit/test_vhu_offload.c, tests/fuzz): a guest's
 * partial checksum and TSO frame become mbuf offload metadata on
 * dequeue, or are completed when the application does not take them;
 * an mbuf asking for TSO reaches a guest as one GSO frame when it
 * negotiated GUEST_TSO, else as MSS-sized frames with valid checksums.
 */

#include <string.h>

#include "vhu_test.h"
#include "vhu_cases.h"
#include "../unit/test_frames.h"

#define BIT(n) (1ull << (n))

static int
ofl_start(struct tb *t, uint64_t drop)
{
	tb_init(t);
	t->o.features &= ~drop;
	return tb_start(t);
}

/* Guest TX of frame @p f (@p len bytes) with header @p h; one mbuf out. */
static struct rte_mbuf *
ofl_tx(struct tb *t, const struct vhu_net_hdr *h, const uint8_t *f,
	uint32_t len)
{
	struct rte_mbuf *m[2];
	uint32_t id, ulen;
	uint16_t n;

	fe_tx_frame(&t->fe, 1, h, 12, f, len, 3, false, false);
	n = vhu_dequeue_burst(t->dev, 0, t_mp, m, 2);
	while (fe_used_get(&t->fe.vq[1], &id, &ulen) == 1)
		;
	if (n != 1) {
		rte_pktmbuf_free_bulk(m, n);
		return NULL;
	}
	return m[0];
}

static void
flat(const struct rte_mbuf *m, uint8_t *out)
{
	for (; m != NULL; m = m->next) {
		memcpy(out, rte_pktmbuf_mtod(m, const void *), m->data_len);
		out += m->data_len;
	}
}

int
case_offload_dequeue(void)
{
	static uint8_t f[12000], g[12000];
	const struct spec s = {.payload = 10000, .tcp_opts = 12};
	struct vhu_net_hdr h;
	struct rte_mbuf *m;
	struct layout l;
	uint32_t len;
	struct tb t;

	TRY(ofl_start(&t, 0));
	len = build(f, &s, &l);
	make_partial(f, &l, true);
	memset(&h, 0, sizeof(h));
	h.flags = VHU_NET_HDR_F_NEEDS_CSUM;
	h.csum_start = (uint16_t)l.l4off;
	h.csum_offset = 16;
	h.gso_type = VHU_NET_HDR_GSO_TCPV4;
	h.gso_size = 1448;
	h.hdr_len = (uint16_t)(l.l4off + l.l4);

	/* TSO frame: the metadata, the payload untouched */
	m = ofl_tx(&t, &h, f, len);
	CHECK(m != NULL, "TSO frame not dequeued");
	CHECK((m->ol_flags & (RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_IPV4 |
		RTE_MBUF_F_TX_L4_MASK)) == (RTE_MBUF_F_TX_TCP_SEG |
		RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM) &&
		m->tso_segsz == 1448 && m->l2_len == l.l2 &&
		m->l3_len == l.l3 && m->l4_len == l.l4 && m->pkt_len == len,
		"TSO metadata: flags %#lx segsz %u l2 %u l3 %u l4 %u",
		(unsigned long)m->ol_flags, m->tso_segsz, m->l2_len, m->l3_len,
		m->l4_len);
	flat(m, g);
	CHECK(memcmp(g + l.l4off + l.l4, f + l.l4off + l.l4,
		len - l.l4off - l.l4) == 0, "payload changed");
	rte_pktmbuf_free(m);

	/* a partial checksum, the application taking it */
	h.gso_type = VHU_NET_HDR_GSO_NONE;
	h.gso_size = 0;
	{
		const struct spec s2 = {.payload = 1000};

		len = build(f, &s2, &l);
		make_partial(f, &l, true);
		m = ofl_tx(&t, &h, f, len);
		CHECK(m != NULL && (m->ol_flags & RTE_MBUF_F_TX_L4_MASK) ==
			RTE_MBUF_F_TX_TCP_CKSUM &&
			!(m->ol_flags & RTE_MBUF_F_TX_TCP_SEG),
			"partial checksum metadata");
		rte_pktmbuf_free(m);

		/* the application takes no offload: completed on dequeue */
		TRY(vhu_offloads_set(t.dev, 0, 0));
		m = ofl_tx(&t, &h, f, len);
		CHECK(m != NULL && !(m->ol_flags & RTE_MBUF_F_TX_L4_MASK),
			"completed frame still asks");
		flat(m, g);
		CHECK(l4_ok(g, &l), "checksum not completed");
		rte_pktmbuf_free(m);
	}
	/* ...and a TSO frame it cannot take is a counted drop */
	{
		const struct spec s3 = {.payload = 5000};
		struct vhu_queue_stats st;

		len = build(f, &s3, &l);
		make_partial(f, &l, true);
		h.gso_type = VHU_NET_HDR_GSO_TCPV4;
		h.gso_size = 1448;
		CHECK(ofl_tx(&t, &h, f, len) == NULL, "TSO frame not dropped");
		st = qstats(t.dev, 0, VHU_DEQ);
		CHECK(st.drops == 1 && st.faults == 0 &&
			st.malformed[VHU_MAL_HDR_FIELDS] == 1,
			"drops %lu faults %lu", (unsigned long)st.drops,
			(unsigned long)st.faults);
		TRY(tx_roundtrip(&t, 0, 300));
	}
	tb_destroy(&t);
	return tb_check_fds(&t);
}

/* Post @p n buffers of @p size bytes on the guest RX ring. */
static int
post(struct tb *t, unsigned int n, uint32_t size)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		CHECK(fe_rx_post(&t->fe, 0, size, 1, false) >= 0, "post");
	return 0;
}

/* Enqueue a 4000-byte-payload TSO mbuf (MSS 1000) to a guest that
 * negotiated @p guest_tso or not. */
static int
enq_tso(bool guest_tso)
{
	static uint8_t f[8000], got[70000];
	const struct spec s = {.payload = 4000, .tcp_flags = 0x19};
	struct rte_mbuf *m;
	struct layout l;
	uint32_t len, id, ulen, k, paid = 0;
	struct tb t;

	TRY(ofl_start(&t, guest_tso ? 0 : BIT(VHU_F_NET_GUEST_TSO4) |
		BIT(VHU_F_NET_GUEST_TSO6) | BIT(VHU_F_NET_GUEST_CSUM)));
	len = build(f, &s, &l);
	make_partial(f, &l, false);	/* DPDK's TSO pseudo-header */
	m = mk_mbuf(t_mp, f, len);
	CHECK(m != NULL, "mbuf");
	m->ol_flags = RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_IPV4 |
		RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_TCP_CKSUM;
	m->l2_len = l.l2;
	m->l3_len = l.l3;
	m->l4_len = l.l4;
	m->tso_segsz = 1000;
	TRY(post(&t, 8, 16384));
	CHECK(vhu_enqueue_burst(t.dev, 0, &m, 1) == 1, "enqueue");
	rte_pktmbuf_free(m);
	for (k = 0; fe_used_get(&t.fe.vq[0], &id, &ulen) == 1; k++) {
		const struct vhu_net_hdr *h = (const struct vhu_net_hdr *)got;
		struct layout sl = l;

		TRY(fe_rx_read(&t.fe, 0, (uint16_t)id, got, ulen));
		sl.len = ulen - 12;
		if (guest_tso) {
			CHECK(h->gso_type == VHU_NET_HDR_GSO_TCPV4 &&
				h->gso_size == 1000 &&
				(h->flags & VHU_NET_HDR_F_NEEDS_CSUM) &&
				ulen == 12 + len, "GSO frame: type %u size %u "
				"flags %u len %u", h->gso_type, h->gso_size,
				h->flags, ulen);
		} else {
			CHECK(h->gso_type == 0 && h->flags == 0 &&
				ulen <= 12 + l.l4off + l.l4 + 1000 &&
				l4_ok(got + 12, &sl) && ip4_ok(got + 12 + l.l2) &&
				get16(got + 12 + l.l2 + 2) == ulen - 12 - l.l2,
				"segment %u: type %u flags %u len %u", k,
				h->gso_type, h->flags, ulen);
		}
		CHECK(memcmp(got + 12 + l.l4off + l.l4, f + l.l4off + l.l4 +
			paid, ulen - 12 - l.l4off - l.l4) == 0,
			"frame %u: payload", k);
		paid += ulen - 12 - l.l4off - l.l4;
	}
	CHECK(k == (guest_tso ? 1u : 4u) && paid == s.payload,
		"%u frames, %u payload bytes, drops %lu", k, paid,
		(unsigned long)qstats(t.dev, 0, VHU_ENQ).drops);
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_offload_enqueue(void)
{
	TRY(enq_tso(true));
	return enq_tso(false);
}
