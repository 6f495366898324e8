/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * Fuzz target 'vhu_ring': guest rings against the vhost-user data path.
 * A queue pair is set up through real messages (features, ring size,
 * queue pairs, zero-copy and an in-flight region from the input); then
 * the input plays the guest: it publishes TX frames and RX buffers
 * (chains, indirect tables), writes descriptors, avail entries and
 * indices, event indices and raw guest memory, and interleaves dequeue
 * and enqueue bursts (copy and zero-copy, mbufs held and freed late) with
 * memory-table replacement and dirty logging switched on and off. Offloads: TX frames may carry a
 * virtio-net header from the input (checksum and GSO fields, on frames
 * with real Ethernet/IP/TCP headers or not), RX mbufs offload metadata
 * from the input, and the application's offload set changes mid-stream;
 * such frames may be completed, segmented or dropped, so they turn the
 * byte oracle off like raw writes do.
 *
 * Oracle: while the input has only published well-formed frames (no raw
 * writes), every frame dequeued is, byte for byte, the next frame the
 * guest published, and every frame enqueued lands, byte for byte, in the
 * next RX buffer the guest posted, with the pages it wrote marked in the
 * dirty log while logging is on. Always: no crash or sanitizer report,
 * mbufs back in the pool, no fd or mapping left.
 *
 * The ring is split or packed as the feature byte chose
 * (VIRTIO_F_RING_PACKED); frames and buffers go through
 * tests/vhost_user/fe.c, which drives either layout, and only the raw
 * writes (split_scribble, packed_scribble) are the layout's own. The
 * oracle does not depend on the layout.
 */

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "fuzz_vhu.h"
#include "vhu_offload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAX_EXPECT	256
#define GUEST_MEM	FZV_GUEST_MEM	/* the kept memfd (fuzz_vhu.c) */
#define FRAME_MAX	1514

struct expect {
	uint32_t len;
	uint8_t seed;
};

struct fifo {
	struct expect e[MAX_EXPECT];
	unsigned int head, n;
};

struct ring_state {
	struct fzv v;
	unsigned int nqp;
	uint32_t hdr_len;
	bool dirty;		/* raw writes happened: oracle off */
	struct fifo tx[2];	/* per queue pair: published, not dequeued */
	struct fifo rx[2];	/* enqueued, not yet read back */
	uint16_t tx_inflight[2];	/* descriptors in use */
	uint8_t tx_ndesc[2][FE_RING_MAX];	/* by head: descriptors used */
	bool tx_busy[2][FE_RING_MAX];	/* split: descriptor in a chain */
	uint16_t rx_heads[2][MAX_EXPECT];	/* posted RX chains, in order */
	unsigned int rx_posted[2], rx_taken[2];
	int logfd;
	uint8_t *log;
	bool logging;
};

/* Frames checked by the oracle (VMLINK_FUZZ_LOG=1 prints them). */
static unsigned long checked_tx, checked_rx, checked_log;

static void
fill(uint8_t *p, uint32_t len, uint8_t seed)
{
	uint32_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static bool
fifo_push(struct fifo *q, uint32_t len, uint8_t seed)
{
	if (q->n == MAX_EXPECT)
		return false;
	q->e[(q->head + q->n) % MAX_EXPECT] = (struct expect){ len, seed };
	q->n++;
	return true;
}

static bool
fifo_pop(struct fifo *q, struct expect *e)
{
	if (q->n == 0)
		return false;
	*e = q->e[q->head];
	q->head = (q->head + 1) % MAX_EXPECT;
	q->n--;
	return true;
}

/* ---- the guest (fe.c drives both layouts) ---- */

/* Raw writes are the one thing each layout does its own way. */
typedef void (*scribble_fn)(struct ring_state *s, struct fz *f);

/* Ethernet + IPv4 (or IPv6) + TCP headers at the start of @p p (@p len
 * bytes, at least 14), as far as they fit: offload headers then point at
 * something real. */
static void
put_l3l4(uint8_t *p, uint32_t len, bool v6)
{
	uint8_t h[14 + 40 + 20];
	uint32_t l3 = v6 ? 40 : 20, n;

	memset(h, 0, sizeof(h));
	h[12] = v6 ? 0x86 : 0x08;
	h[13] = v6 ? 0xdd : 0x00;
	if (v6) {
		h[14] = 0x60;
		h[14 + 4] = (uint8_t)((len - 54) >> 8);
		h[14 + 5] = (uint8_t)(len - 54);
		h[14 + 6] = 6;
	} else {
		h[14] = 0x45;
		h[14 + 2] = (uint8_t)((len - 14) >> 8);
		h[14 + 3] = (uint8_t)(len - 14);
		h[14 + 9] = 6;
	}
	h[14 + l3 + 12] = 0x50;
	n = len < 14 + l3 + 20 ? len : 14 + l3 + 20;
	memcpy(p, h, n);
}

/* A virtio-net header from the input (the offload fields). */
static void
fuzz_hdr(struct fz *f, struct vhu_net_hdr *h, uint32_t len)
{
	uint8_t sel = fz_u8(f);

	memset(h, 0, sizeof(*h));
	h->flags = (sel & 1) ? VHU_NET_HDR_F_NEEDS_CSUM : fz_u8(f);
	h->gso_type = (sel & 2) ? ((sel & 4) ? VHU_NET_HDR_GSO_TCPV6 :
		VHU_NET_HDR_GSO_TCPV4) | (sel & 0x80) : fz_u8(f) & sel;
	h->gso_size = (sel & 8) ? fz_u16(f) : 536 + fz_u8(f);
	h->csum_start = (sel & 0x10) ? fz_u16(f) : (uint16_t)((sel & 4) ? 54 : 34);
	h->csum_offset = (sel & 0x20) ? fz_u16(f) : 16;
	h->hdr_len = (sel & 0x40) ? fz_u16(f) : (uint16_t)(len < 74 ? len : 74);
}

/*
 * Whether the guest's next chain of NEED descriptors is free to post.
 * The guest (fe.c) hands out descriptors in ring order, and zero-copy
 * completes chains out of order (IN_ORDER is not offered with it): a
 * copied short frame comes back before a zero-copy one published
 * earlier. A count of free descriptors is then not enough; the next ones
 * in order (split) or the next buffer id (packed: the position) may still
 * be in flight, and the guest waits, as a driver would take others.
 */
static bool
tx_chain_free(const struct ring_state *s, unsigned int qp, unsigned int need)
{
	const struct fe_vring *vr = &s->v.fe.vq[2 * qp + 1];
	unsigned int i;

	if (s->tx_inflight[qp] + need > vr->size)
		return false;
	if (vr->packed)
		return s->tx_ndesc[qp][vr->pk_next % FE_RING_MAX] == 0;
	for (i = 0; i < need; i++)
		if (s->tx_busy[qp][(vr->next_desc + i) % vr->size])
			return false;
	return true;
}

/* Marks (or clears) the NDESC split descriptors of the chain at HEAD. */
static void
tx_chain_mark(struct ring_state *s, unsigned int qp, uint32_t head,
	unsigned int ndesc, bool busy)
{
	const struct fe_vring *vr = &s->v.fe.vq[2 * qp + 1];
	unsigned int i;

	if (vr->packed || vr->size == 0)
		return;
	for (i = 0; i < ndesc; i++)
		s->tx_busy[qp][(head + i) % vr->size] = busy;
}

static int
publish_tx(struct ring_state *s, unsigned int qp, uint32_t len,
	uint8_t seed, uint8_t shape, const struct vhu_net_hdr *hdr)
{
	uint8_t frame[FRAME_MAX];
	unsigned int nseg = 1 + shape % 3;
	bool hdr_sep = shape & 4, indirect = shape & 8;
	unsigned int need = indirect ? 1 : nseg + hdr_sep;
	int head;

	if (!tx_chain_free(s, qp, need))
		return -1;	/* the guest waits for completions */
	fill(frame, len, seed);
	if (hdr != NULL && (shape & 0x20))
		put_l3l4(frame, len, shape & 0x40);
	head = fe_tx_frame(&s->v.fe, 2 * qp + 1, hdr, s->hdr_len, frame, len,
		nseg, hdr_sep, indirect);
	if (head < 0)
		return -1;
	s->tx_ndesc[qp][head % FE_RING_MAX] = (uint8_t)need;
	tx_chain_mark(s, qp, (uint32_t)head, need, true);
	s->tx_inflight[qp] += need;
	return 0;
}

static void
take_tx_used(struct ring_state *s, unsigned int qp)
{
	struct fe_vring *vr = &s->v.fe.vq[2 * qp + 1];
	uint32_t id, len;

	while (fe_used_get(vr, &id, &len) == 1) {
		uint8_t *n = &s->tx_ndesc[qp][id % FE_RING_MAX];

		/* a chain's descriptors come back with it (a hostile
		 * back-end could name any id: never below zero) */
		s->tx_inflight[qp] = s->tx_inflight[qp] > *n ?
			(uint16_t)(s->tx_inflight[qp] - *n) : 0;
		tx_chain_mark(s, qp, id, *n, false);
		*n = 0;
	}
}

static int
post_rx(struct ring_state *s, unsigned int qp, uint8_t shape)
{
	struct fe_vring *vr = &s->v.fe.vq[2 * qp];
	unsigned int nseg = 1 + shape % 2;
	int head;

	if (s->rx_posted[qp] - s->rx_taken[qp] + nseg > vr->size / 2 ||
			s->rx_posted[qp] - s->rx_taken[qp] >= MAX_EXPECT)
		return -1;
	head = fe_rx_post(&s->v.fe, 2 * qp, 2048 / nseg + 64, nseg,
		shape & 4);
	if (head < 0)
		return -1;
	s->rx_heads[qp][s->rx_posted[qp] % MAX_EXPECT] = (uint16_t)head;
	s->rx_posted[qp]++;
	return 0;
}

static int
take_rx_used(struct ring_state *s, unsigned int qp, uint16_t *head,
	uint32_t *len)
{
	uint32_t id;

	if (fe_used_get(&s->v.fe.vq[2 * qp], &id, len) != 1)
		return 0;
	*head = (uint16_t)id;
	return 1;
}

/* ---- raw guest writes (the layouts' own) ---- */

/* An indirect table anywhere in guest memory (its address returned,
 * maybe misaligned), its first entry from the input: the same bytes make
 * the same entry in either layout (split: flags then next, packed: id
 * then flags). */
static uint64_t
scribble_table(struct ring_state *s, struct fz *f, bool packed)
{
	uint64_t t = 0x1000 + fz_u32(f) % (GUEST_MEM - 0x2000);
	void *e = fe_va(&s->v.fe, t & ~15ull);
	uint64_t addr;
	uint32_t len;
	uint16_t w1, w2;

	if (e == NULL)
		return t;
	addr = fz_u64(f) % GUEST_MEM;
	len = fz_u16(f);
	w1 = fz_u16(f);
	w2 = fz_u16(f);
	if (packed) {
		struct vring_packed_desc *d = e;

		*d = (struct vring_packed_desc){ .addr = addr, .len = len,
			.id = w1, .flags = w2 & 7 };
	} else {
		struct vring_desc *d = e;

		*d = (struct vring_desc){ .addr = addr, .len = len,
			.flags = w1 & 7, .next = w2 % 4 };
	}
	return t;
}

/* Up to 16 bytes anywhere in guest memory. */
static void
scribble_bytes(struct ring_state *s, struct fz *f)
{
	uint64_t gpa = fz_u32(f) % GUEST_MEM;
	uint8_t *p = fe_va(&s->v.fe, gpa);
	uint8_t b[16];
	size_t n = 1 + fz_u8(f) % 16;

	fz_bytes(f, b, n);
	if (p != NULL && gpa + n <= GUEST_MEM)
		memcpy(p, b, n);
}

/* Raw guest writes: descriptors, avail entries and index, event
 * indices, any byte of guest memory. */
static void
split_scribble(struct ring_state *s, struct fz *f)
{
	uint8_t sel = fz_u8(f);
	struct fe_vring *vr = &s->v.fe.vq[fz_u8(f) % (2 * s->nqp)];
	uint16_t i = fz_u16(f) % vr->size;

	switch (sel % 6) {
	case 0:
		fe_desc(vr, i, (sel & 0x80) ? fz_u64(f) : 0x1000 + fz_u32(f) %
			GUEST_MEM, fz_u32(f) % ((sel & 0x40) ? 0xffffffffu : 4096),
			fz_u16(f) & 7, fz_u16(f) % ((sel & 0x20) ? 65535 : vr->size));
		break;
	case 1:
		vr->avail->ring[i] = fz_u16(f);
		break;
	case 2:
		__atomic_store_n(&vr->avail->idx, (sel & 0x80) ? fz_u16(f) :
			(uint16_t)(vr->avail_idx + fz_u8(f) % 8), __ATOMIC_RELEASE);
		break;
	case 3:	/* used_event (after the avail ring) */
		vr->avail->ring[vr->size] = fz_u16(f);
		vr->avail->flags = fz_u16(f) & 1;
		break;
	case 4: {	/* an indirect table anywhere in guest memory */
		uint64_t t = scribble_table(s, f, false);

		fe_desc(vr, i, (sel & 0x80) ? t : t & ~15ull,
			16u * (1 + fz_u8(f) % 8), VRING_DESC_F_INDIRECT |
			(fz_u8(f) & 3), fz_u16(f));
		break;
	}
	default:
		scribble_bytes(s, f);
		break;
	}
	s->dirty = true;
}

/* Raw guest writes on a packed ring: descriptors at any position with any
 * flags (AVAIL/USED bits, NEXT, INDIRECT, WRITE) and ids, runs of them
 * made available at once, indirect tables, the driver event structure,
 * any byte of guest memory. */
static void
packed_scribble(struct ring_state *s, struct fz *f)
{
	uint8_t sel = fz_u8(f);
	struct fe_vring *vr = &s->v.fe.vq[fz_u8(f) % (2 * s->nqp)];
	uint16_t i = fz_u16(f) % vr->size;

	switch (sel % 5) {
	case 0: {	/* one descriptor, raw */
		struct vring_packed_desc *d = &vr->pdesc[i];

		d->addr = (sel & 0x80) ? fz_u64(f) : 0x1000 + fz_u32(f) %
			GUEST_MEM;
		d->len = fz_u32(f) % ((sel & 0x40) ? 0xffffffffu : 4096);
		d->id = fz_u16(f) % ((sel & 0x20) ? 65535 : vr->size);
		__atomic_store_n(&d->flags, fz_u16(f), __ATOMIC_RELEASE);
		break;
	}
	case 1: {	/* a run made available: a chain of any shape */
		uint32_t n = 1 + fz_u8(f) % 8, k;

		for (k = 0; k < n; k++)
			fe_pk_write(vr, k, 0x1000 + fz_u32(f) % GUEST_MEM,
				fz_u16(f) % 2048, fz_u16(f) % vr->size,
				fz_u16(f) & 7, true);
		fe_pk_publish(vr, n, fz_u16(f) & 7);
		break;
	}
	case 2: {	/* an indirect table anywhere in guest memory */
		uint64_t t = scribble_table(s, f, true);

		fe_pk_write(vr, 0, (sel & 0x80) ? t : t & ~15ull,
			16u * (1 + fz_u8(f) % 8), fz_u16(f) % vr->size,
			VRING_DESC_F_INDIRECT | (fz_u8(f) & 3), false);
		fe_pk_publish(vr, 1, VRING_DESC_F_INDIRECT);
		break;
	}
	case 3:	/* the driver's event structure */
		vr->driver_event->off_wrap = fz_u16(f);
		vr->driver_event->flags = fz_u16(f) % 4;
		break;
	default:
		scribble_bytes(s, f);
		break;
	}
	s->dirty = true;
}

/* ---- checks ---- */

static bool
mbuf_is(const struct rte_mbuf *m, const struct expect *e)
{
	uint8_t want[FRAME_MAX];
	const struct rte_mbuf *sg;
	uint32_t off = 0;

	if (m->pkt_len != e->len)
		return false;
	fill(want, e->len, e->seed);
	for (sg = m; sg != NULL; sg = sg->next) {
		if (off + sg->data_len > e->len ||
				memcmp(rte_pktmbuf_mtod(sg, const uint8_t *),
					want + off, sg->data_len) != 0)
			return false;
		off += sg->data_len;
	}
	return off == e->len;
}

static void
dequeue(struct ring_state *s, unsigned int qp, uint8_t how)
{
	struct rte_mbuf *m[64];
	uint16_t n = how % 33, got, i;

	got = fzv_dequeue(&s->v, (uint16_t)qp, n, false, m);
	for (i = 0; i < got; i++) {
		struct expect e;

		if (!s->dirty) {
			if (!fifo_pop(&s->tx[qp], &e))
				fz_fail("queue pair %u: a frame the guest never "
					"published was dequeued (%u bytes)", qp,
					m[i]->pkt_len);
			if (!mbuf_is(m[i], &e))
				fz_fail("queue pair %u: dequeued frame differs "
					"from the one published (%u bytes, want "
					"%u, seed %u)", qp, m[i]->pkt_len, e.len,
					e.seed);
			checked_tx++;
		}
		if ((how & 0x80) && s->v.nheld < FZV_MAX_HELD)
			s->v.held[s->v.nheld++] = m[i];
		else
			rte_pktmbuf_free(m[i]);
	}
	take_tx_used(s, qp);
}

static void
check_log(struct ring_state *s, uint64_t gpa, uint32_t len)
{
	uint64_t p;

	if (!s->logging || s->dirty || len == 0)
		return;
	for (p = gpa / 4096; p <= (gpa + len - 1) / 4096; p++)
		if (p / 8 < 4096 && !(s->log[p / 8] & (1u << (p % 8))))
			fz_fail("page 0x%lx written by an enqueue is not "
				"marked in the dirty log", (unsigned long)p);
	checked_log++;
}

/* Offload metadata from the input on mbuf @p m (its frame given real
 * headers or not); the frame may reach the guest changed or cut. */
static void
fuzz_meta(struct fz *f, struct rte_mbuf *m, bool *dirty)
{
	static const uint64_t l4[4] = { 0, RTE_MBUF_F_TX_TCP_CKSUM,
		RTE_MBUF_F_TX_UDP_CKSUM, RTE_MBUF_F_TX_SCTP_CKSUM };
	uint8_t sel = fz_u8(f);
	bool v6 = sel & 1;

	if (sel & 2)
		put_l3l4(rte_pktmbuf_mtod(m, uint8_t *), m->pkt_len, v6);
	m->ol_flags = l4[(sel >> 2) & 3] |
		((sel & 0x10) ? RTE_MBUF_F_TX_TCP_SEG : 0) |
		((sel & 0x20) ? RTE_MBUF_F_TX_IP_CKSUM : 0) |
		((sel & 0x40) ? 0 : v6 ? RTE_MBUF_F_TX_IPV6 : RTE_MBUF_F_TX_IPV4);
	m->l2_len = (sel & 0x80) ? fz_u8(f) : 14;
	m->l3_len = (sel & 0x80) ? fz_u16(f) : (v6 ? 40 : 20);
	m->l4_len = (sel & 0x80) ? fz_u8(f) : 20;
	m->tso_segsz = fz_u16(f);
	*dirty = true;
}

static void
enqueue(struct ring_state *s, unsigned int qp, struct fz *f)
{
	struct rte_mbuf *m[16];
	unsigned int n = fz_u8(f) % 16, i, done;
	struct vhu_queue_stats st0, st1;
	uint16_t head;
	uint32_t len;

	(void)vhu_queue_stats_get(s->v.dev, (uint16_t)qp, VHU_ENQ, &st0);
	for (i = 0; i < n; i++) {
		uint32_t l = 14 + fz_u16(f) % (FRAME_MAX - 13);
		uint8_t seed = fz_u8(f);

		m[i] = rte_pktmbuf_alloc(fzv_mp);
		if (m[i] == NULL)
			break;
		fill(rte_pktmbuf_mtod(m[i], uint8_t *), l, seed);
		m[i]->data_len = (uint16_t)l;
		m[i]->pkt_len = l;
		if (seed & 0x80)
			fuzz_meta(f, m[i], &s->dirty);
	}
	n = i;
	done = vhu_enqueue_burst(s->v.dev, (uint16_t)qp, m, (uint16_t)n);
	FZ_CHECK(done <= n);
	(void)vhu_queue_stats_get(s->v.dev, (uint16_t)qp, VHU_ENQ, &st1);
	if (st1.drops != st0.drops)
		s->dirty = true;	/* only hostile rings drop ours */
	for (i = 0; i < done; i++) {
		uint8_t seed = rte_pktmbuf_mtod(m[i], uint8_t *)[0];

		if (!fifo_push(&s->rx[qp], m[i]->pkt_len, seed))
			s->dirty = true;
	}
	for (i = 0; i < n; i++)
		rte_pktmbuf_free(m[i]);
	/* Read back what the guest received, in order. */
	while (take_rx_used(s, qp, &head, &len) == 1) {
		uint8_t got[FRAME_MAX + 64], want[FRAME_MAX];
		struct expect e;
		uint16_t posted;

		if (s->dirty)
			continue;
		posted = s->rx_heads[qp][s->rx_taken[qp] % MAX_EXPECT];
		s->rx_taken[qp]++;
		if (!fifo_pop(&s->rx[qp], &e))
			fz_fail("queue pair %u: a used RX entry for no frame",
				qp);
		FZ_CHECK(head == posted);
		FZ_CHECK(len == e.len + s->hdr_len);
		if (fe_rx_read(&s->v.fe, 2 * qp, head, got, len) != 0)
			fz_fail("RX chain %u shorter than its used length",
				head);
		fill(want, e.len, e.seed);
		if (memcmp(got + s->hdr_len, want, e.len) != 0)
			fz_fail("queue pair %u: frame delivered to the guest "
				"differs from the one enqueued", qp);
		checked_rx++;
		{
			const struct fe_chain *c =
				&s->v.fe.vq[2 * qp].chain[head];
			unsigned int k;
			uint32_t left = len;

			for (k = 0; k < c->n && left > 0; k++) {
				uint32_t w = c->len[k] < left ? c->len[k] : left;

				check_log(s, c->gpa[k], w);
				left -= w;
			}
		}
	}
}

/* Dirty logging on (a new log, LOG_ALL, rings logged) or off. */
static void
toggle_log(struct ring_state *s)
{
	struct vhu_log_desc ld = { 4096, 0 };
	unsigned int i;
	uint64_t ack;
	uint32_t r;

	if (!s->logging) {
		if (s->logfd < 0) {
			s->logfd = memfd_create("vhu-fuzz-log", MFD_CLOEXEC);
			if (s->logfd < 0 || ftruncate(s->logfd, 4096) != 0)
				fz_fail("log memfd");
			s->log = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				MAP_SHARED, s->logfd, 0);
			if (s->log == MAP_FAILED)
				fz_fail("log mmap");
		}
		if (!s->v.connected || fe_send(&s->v.fe, VHU_REQ_SET_LOG_BASE,
				VHU_FLAG_VERSION, &ld, sizeof(ld), &s->logfd,
				1) != 0 ||
				fe_recv(&s->v.fe, &r, NULL, &ack, sizeof(ack),
					5000) != (int)sizeof(ack) ||
				r != VHU_REQ_SET_LOG_BASE || ack != 0)
			return;	/* not logging: the log oracle stays off */
		if (fe_request_u64(&s->v.fe, VHU_REQ_SET_FEATURES,
				s->v.fe.features | (1ull << VHU_F_LOG_ALL)) != 0)
			return;
		for (i = 0; i < 2 * s->nqp; i++)
			(void)fe_vring_addr(&s->v.fe, i, VHU_VRING_F_LOG,
				s->v.fe.vq[i].used_gpa);
		memset(s->log, 0, 4096);
		s->logging = true;
	} else {
		(void)fe_request_u64(&s->v.fe, VHU_REQ_SET_FEATURES,
			s->v.fe.features);
		s->logging = false;
	}
}

static int
setup(struct ring_state *s, struct fz *f)
{
	struct fe_opts o;
	uint8_t a = fz_u8(f), b = fz_u8(f);

	fe_opts_default(&o);
	/* what a guest may or may not negotiate; never LOG_ALL at start */
	o.features = ~0ull;
	if (a & 1)
		o.features &= ~(1ull << VHU_F_NET_MRG_RXBUF);
	if (a & 2)
		o.features &= ~(1ull << VHU_F_RING_INDIRECT_DESC);
	if (a & 4)
		o.features &= ~(1ull << VHU_F_RING_EVENT_IDX);
	if (a & 8)
		o.features &= ~(1ull << VHU_F_VERSION_1);
	if (!(a & 16))
		o.features &= ~(1ull << VHU_F_RING_PACKED);
	o.features &= ~(1ull << VHU_F_LOG_ALL);
	o.nqp = s->nqp;
	o.mem_size = GUEST_MEM;
	o.ring_size = (uint16_t)(16u << (b % 5));
	o.kick_nofd = b & 0x20;
	o.call_nofd = b & 0x40;
	/* an in-flight region (INFLIGHT_SHMFD): every burst tracks its
	 * chains there, split or packed */
	o.inflight = b & 0x80;
	if (fzv_start(&s->v, &o) != 0)
		return -1;
	s->hdr_len = (s->v.fe.features & ((1ull << VHU_F_VERSION_1) |
		(1ull << VHU_F_NET_MRG_RXBUF))) ? VHU_NET_HDR_LEN :
		VHU_NET_HDR_LEN_LEGACY;
	return 0;
}

static void
run(struct ring_state *s, scribble_fn scribble, struct fz *f)
{
	unsigned int ops = 0;

	while (!fz_empty(f) && ops++ < 128) {
		uint8_t op = fz_u8(f);
		unsigned int qp = (op >> 7) % s->nqp;

		switch (op % 10) {
		case 0:
		case 1: {
			uint32_t len = 14 + fz_u16(f) % (FRAME_MAX - 13);
			uint8_t seed = fz_u8(f), shape = fz_u8(f);

			struct vhu_net_hdr h;
			bool ofl = shape & 0x10;

			if (!(s->v.fe.features &
					(1ull << VHU_F_RING_INDIRECT_DESC)))
				shape &= ~8;
			if (ofl)
				fuzz_hdr(f, &h, len);
			if (publish_tx(s, qp, len, seed, shape,
					ofl ? &h : NULL) != 0)
				break;
			/* an offloaded frame may change or be dropped */
			if (ofl || !fifo_push(&s->tx[qp], len, seed))
				s->dirty = true;
			break;
		}
		case 2:
			dequeue(s, qp, fz_u8(f));
			break;
		case 3:
			(void)post_rx(s, qp, fz_u8(f));
			break;
		case 4:
			enqueue(s, qp, f);
			break;
		case 5:
			scribble(s, f);
			break;
		case 6:
			fzv_free_held(&s->v, fz_u8(f) % 32, op & 0x40);
			(void)vhu_dequeue_burst(s->v.dev, (uint16_t)qp, fzv_mp,
				NULL, 0);	/* completions */
			take_tx_used(s, qp);
			break;
		case 7:	/* the same memory table again: a replacement */
			if (s->v.connected)
				(void)fe_set_mem_table(&s->v.fe);
			break;
		case 8:
			if (op & 0x40)
				(void)vhu_offloads_set(s->v.dev,
					(uint64_t)fz_u8(f) << 50 & VHU_OFL_TX_FLAGS,
					(uint64_t)fz_u8(f) << 50 & VHU_OFL_TX_FLAGS);
			else
				toggle_log(s);
			break;
		default:
			(void)vhu_queue_notify(s->v.dev, (uint16_t)qp,
				op & 0x40);
			break;
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ring_state s;
	struct fz f = { data, size };
	uint8_t knobs = fz_u8(&f);

	/* Everything after the front-end: fzv_config and fzv_begin set
	 * that (of its 3 MB, fzv_begin resets what the last input used). */
	memset(&s.nqp, 0, sizeof(s) - offsetof(struct ring_state, nqp));
	s.logfd = -1;
	fzv_config(&s.v, knobs);
	s.nqp = s.v.cfg.max_queue_pairs;
	fzv_begin(&s.v);
	if (setup(&s, &f) == 0)
		run(&s, (s.v.fe.features & (1ull << VHU_F_RING_PACKED)) ?
			packed_scribble : split_scribble, &f);
	if (s.log != NULL)
		munmap(s.log, 4096);
	if (s.logfd >= 0)
		close(s.logfd);
	fzv_end(&s.v);
	if (getenv("VMLINK_FUZZ_LOG") != NULL)
		fprintf(stderr, "oracle: %lu frames dequeued, %lu enqueued, "
			"%lu logged writes checked%s\n", checked_tx, checked_rx,
			checked_log, s.dirty ? " (raw writes: stopped)" : "");
	return 0;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	fzv_global_init((*argv)[0]);
	return 0;
}
