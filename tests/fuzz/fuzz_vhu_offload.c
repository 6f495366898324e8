/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * Fuzz target 'vhu_offload': the vhost-user offload mapping
 * (lib/vhost_user/vhu_offload.c) both ways.
 *
 * Input: a selector byte, then
 * - guest TX (dequeue): a virtio-net header, the negotiated features and
 *   the frame (any bytes) as a guest writes them: vhu_ofl_tx_parse(),
 *   then vhu_ofl_tx_apply() on an mbuf chain over it;
 * - guest RX (enqueue): an mbuf's offload metadata (flags, lengths,
 *   tso_segsz, pkt_len up to 64 KiB longer or shorter than its chain),
 *   the guest's features, the honoured flags, a frame limit and the frame:
 *   vhu_ofl_rx_plan(), then every frame vhu_ofl_rx_frame() makes.
 * Frames are in exactly-sized heap buffers, cut into chain segments where
 * the input says, so any read past them is a sanitizer report.
 *
 * Checks: no crash or report; every length given to an mbuf or a guest
 * header lies inside the frame; a software-completed checksum equals an
 * independent computation; the frames of a plan cover the mbuf's bytes
 * exactly once, in order, each with a header run the size the plan says,
 * and (segmented, checksums completed) each L4 checksum verifies.
 */

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <rte_mbuf.h>

#include "fuzz_util.h"
#include "test_chain.h"
#include "test_frames.h"
#include "vhu.h"
#include "vhu_offload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PIECES 6
#define MAX_FRAMES 512

/* LEN bytes of F as a chain of up to MAX_PIECES exactly-sized buffers;
 * piece i ends where the input says (at least MIN0 bytes in the first;
 * pieces may be empty). */
static struct rte_mbuf *
chain_make(struct fz *in, struct test_chain *c, const uint8_t *f,
	uint32_t len, uint32_t min0)
{
	uint32_t cuts[MAX_PIECES - 1], start = 0;
	unsigned int i;
	struct rte_mbuf *m;

	for (i = 0; i < RTE_DIM(cuts) && start < len; i++) {
		if ((fz_u8(in) & 1) == 0)
			break;
		cuts[i] = start + fz_u16(in) % (len - start + 1);
		if (i == 0 && cuts[i] < min0)
			cuts[i] = RTE_MIN(min0, len);
		start = cuts[i];
	}
	m = test_chain_make(c, f, len, cuts, i);
	FZ_CHECK(m != NULL);
	return m;
}

static uint8_t frame[VHU_MAX_FRAME_LEN];
static uint8_t after[VHU_MAX_FRAME_LEN];

/* ---- guest TX ---- */

static void
fuzz_tx(struct fz *in)
{
	struct vhu_net_hdr h;
	struct vhu_ofl_tx o;
	struct test_chain c;
	struct rte_mbuf *m;
	uint64_t features;
	uint32_t len, seen;
	uint8_t *exact;
	int rc;

	fz_bytes(in, &h, sizeof(h));
	features = fz_u64(in);
	len = fz_u16(in) % (in->n + 1);
	fz_bytes(in, frame, len);
	/* what the data path hands over: the first bytes, no more */
	seen = RTE_MIN(len, VHU_OFL_HDR_MAX);
	exact = malloc(seen + 1);
	FZ_CHECK(exact != NULL);
	memcpy(exact, frame, seen);
	rc = vhu_ofl_tx_parse(&h, exact, seen, len, features, &o);
	free(exact);
	FZ_CHECK(rc == VHU_OFL_OK || rc == VHU_MAL_HDR_FIELDS ||
		rc == VHU_MAL_CSUM);
	if (rc != VHU_OFL_OK || o.kind == VHU_OFL_TX_NONE)
		return;
	FZ_CHECK(o.priv_len <= len);
	if (o.kind == VHU_OFL_TX_L4) {
		uint32_t hdrs = (uint32_t)o.l2_len + o.l3_len + o.l4_len;

		FZ_CHECK(hdrs == o.priv_len && hdrs <= VHU_OFL_HDR_MAX);
		FZ_CHECK(o.l2_len <= 127 && o.l3_len <= 511 && o.l4_len <= 255);
		FZ_CHECK(!!(o.ol_flags & RTE_MBUF_F_TX_IPV4) !=
			!!(o.ol_flags & RTE_MBUF_F_TX_IPV6));
		FZ_CHECK(o.ol_flags & RTE_MBUF_F_TX_L4_MASK);
		FZ_CHECK(h.csum_start == o.l2_len + o.l3_len);
		if (o.ol_flags & RTE_MBUF_F_TX_TCP_SEG)
			FZ_CHECK(o.tso_segsz > 0 && hdrs + o.tso_segsz < len);
	}
	m = chain_make(in, &c, frame, len, o.priv_len);
	vhu_ofl_tx_apply(m, &o);
	test_chain_read(m, after);
	if (o.kind == VHU_OFL_TX_SW_CSUM) {
		uint32_t f = (uint32_t)o.csum_start + o.csum_offset;
		uint16_t want = (uint16_t)~ref_sum(frame + o.csum_start,
			len - o.csum_start, 0);
		uint16_t got = (uint16_t)(after[f] << 8 | after[f + 1]);

		FZ_CHECK(got == (want == 0 ? 0xffff : want));
		FZ_CHECK(memcmp(after, frame, f) == 0 &&
			memcmp(after + f + 2, frame + f + 2, len - f - 2) == 0);
	} else {
		FZ_CHECK(m->l2_len + m->l3_len + m->l4_len <= len);
		/* only the TCP checksum field may change (TSO) */
		if (o.ol_flags & RTE_MBUF_F_TX_TCP_SEG) {
			uint32_t f = (uint32_t)o.l2_len + o.l3_len + 16;

			FZ_CHECK(memcmp(after, frame, f) == 0 &&
				memcmp(after + f + 2, frame + f + 2, len - f - 2) == 0);
		} else {
			FZ_CHECK(memcmp(after, frame, len) == 0);
		}
	}
	test_chain_free(&c);
}

/* ---- guest RX ---- */

/* A segmented frame with its checksum completed must verify. */
static void
check_l4(const uint8_t *out, uint32_t n, const struct vhu_ofl_rx *p)
{
	uint32_t l4off = (uint32_t)p->l2_len + p->l3_len, l4len = n - l4off;
	const uint8_t *ip = out + p->l2_len;
	uint32_t s = ref_pseudo(ip, !p->ipv4, IPPROTO_TCP, l4len);

	FZ_CHECK(ref_sum(out + l4off, l4len, s) == 0xffff);
}

static void
fuzz_rx(struct fz *in)
{
	static uint8_t out[VHU_OFL_HDR_MAX + VHU_MAX_FRAME_LEN];
	struct vhu_ofl_rx p;
	struct test_chain c;
	struct rte_mbuf *m;
	uint64_t fl, features, honoured;
	uint32_t len, max_frames, k, next, pkt_len;
	uint16_t l2, l3, l4, segsz;
	int rc;

	fl = fz_u64(in);
	l2 = fz_u8(in);
	l3 = fz_u16(in);
	l4 = fz_u8(in);
	segsz = fz_u16(in);
	features = fz_u64(in);
	honoured = fz_u8(in) & 1 ? UINT64_MAX : fz_u64(in);
	max_frames = fz_u16(in) % (MAX_FRAMES + 1);
	pkt_len = fz_u16(in);
	len = fz_u16(in) % (in->n + 1);
	fz_bytes(in, frame, len);
	m = chain_make(in, &c, frame, len, 0);
	/* pkt_len may disagree with the chain (mbufs are the caller's, but
	 * nothing may be read past the chain either way) */
	if (pkt_len & 1)
		m->pkt_len = pkt_len >> 1;
	m->ol_flags = fl;
	m->l2_len = l2;
	m->l3_len = l3;
	m->l4_len = l4;
	m->tso_segsz = segsz;
	rc = vhu_ofl_rx_plan(m, features, honoured, max_frames, &p);
	FZ_CHECK(rc == VHU_OFL_OK || rc == VHU_OFL_RX_BAD ||
		rc == VHU_OFL_RX_TOO_MANY);
	if (rc != VHU_OFL_OK) {
		test_chain_free(&c);
		return;
	}
	FZ_CHECK(p.nframes >= 1 && p.hdr_bytes <= VHU_OFL_HDR_MAX &&
		p.hdr_bytes <= m->pkt_len);
	FZ_CHECK(p.nframes == 1 || p.nframes <= max_frames);
	if (p.hdr.flags & VHU_NET_HDR_F_NEEDS_CSUM)
		FZ_CHECK((uint32_t)p.hdr.csum_start + p.hdr.csum_offset + 2 <=
			m->pkt_len);
	if (p.hdr.gso_type != VHU_NET_HDR_GSO_NONE)
		FZ_CHECK(p.hdr.hdr_len <= m->pkt_len && p.hdr.gso_size > 0);
	next = p.hdr_bytes;
	for (k = 0; k < p.nframes; k++) {
		uint32_t off, flen, n;

		n = vhu_ofl_rx_frame(m, &p, k, out, &off, &flen);
		FZ_CHECK(off == next && off + flen <= m->pkt_len);
		FZ_CHECK(n == (uint32_t)p.hdr_bytes + flen);
		/* (a chain shorter than pkt_len: its sums fail, nothing
		 * is read past it; the result is not checked) */
		if (off + flen <= len) {
			memcpy(out + p.hdr_bytes, frame + off, flen);
			if ((p.fix & VHU_OFL_FIX_SEGMENT) &&
					(p.fix & VHU_OFL_FIX_L4_FULL))
				check_l4(out, n, &p);
		}
		next = off + flen;
	}
	FZ_CHECK(next == m->pkt_len);
	test_chain_free(&c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = {data, size};

	if (fz_u8(&in) & 1)
		fuzz_rx(&in);
	else
		fuzz_tx(&in);
	return 0;
}
