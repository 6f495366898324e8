/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The enqueue stages both ring formats share (vhu_enqueue.c: split,
 * vhu_packed_enqueue.c: packed): the virtio-net header and the frame
 * copied into the reserved guest buffers, the used entries of the chains
 * filled, and frames asking for an offload (vhu_enqueue.c's
 * enq_offload(), over the format's reservation). Reserving the buffers
 * (the fetch) is the format's.
 */

#ifndef VMLINK_VHU_ENQ_H
#define VMLINK_VHU_ENQ_H

#include "vhu_packed.h"

/* enq_reserve() results besides WALK_OK and the malformed reasons */
#define RES_NO_ROOM	WALK_SEGS_FULL	/* scratch used up: end the batch */
#define RES_DROP	(-3)		/* consumed, not delivered */
#define RES_FULL	(-4)		/* no guest buffer: stop, not consumed */

/* A frame of the batch and the guest buffers reserved for it. */
struct enq_frame {
	uint16_t head0;		/* its chains: vq->heads[head0, +nheads) */
	uint16_t nheads;	/* 0: dropped */
	uint16_t seg0;		/* their segments: vq->segs[seg0, seg_end) */
	uint16_t seg_end;
};

/* How far a batch got: in the ring and in the scratch arrays. */
struct enq_cursor {
	uint16_t pending;	/* split: chains available after last_avail */
	uint16_t taken;		/* of which the batch reserved */
	struct vhu_pk_pos pk;	/* packed: where the next chain starts */
	uint32_t nheads;	/* vq->heads used */
	uint32_t nsegs;		/* vq->segs used */
};

/* What a burst did, counted once at its end. */
struct enq_sum {
	uint16_t used;		/* used entries written */
	uint32_t delivered;
	uint32_t drops;
	uint64_t bytes;
	bool full;
	bool at_offload;	/* the batch stopped at a frame for enq_offload() */
};

/* ---- fetch ---- */

/* The format's reservation of the guest buffers for frame @p m: WALK_OK,
 * a RES_ value or the malformed reason. */
typedef int (*enq_reserve_t)(struct vhu_vq *vq, const struct rte_mbuf *m,
	struct enq_frame *f, struct enq_cursor *cur);

/* The format's reservation of the guest buffers for a frame of @p plen
 * bytes (the offload path: the frame is built, not an mbuf's). */
typedef int (*enq_reserve_len_t)(struct vhu_vq *vq, uint32_t plen,
	struct enq_frame *f, struct enq_cursor *cur);

/* Reserve buffers (with @p reserve) for up to @p n frames. Stops at a
 * frame asking for an offload in @p ofl (sum->at_offload), at a ring
 * without buffers (sum->full), at a malformed chain (the queue stops; the
 * frames before it still go) or when the scratch arrays are used up.
 * Returns how many frames are consumed (reserved or dropped). */
static __rte_always_inline uint16_t
enq_fetch(struct vhu_vq *vq, struct rte_mbuf *const *pkts, uint16_t n,
	uint64_t ofl, struct enq_frame *fr, struct enq_cursor *cur,
	struct enq_sum *sum, enq_reserve_t reserve)
{
	int rc = WALK_OK;
	uint16_t i;

	for (i = 0; i < n; i++) {
		if (unlikely(pkts[i]->ol_flags & ofl)) {
			sum->at_offload = true;
			break;
		}
		rc = reserve(vq, pkts[i], &fr[i], cur);
		if (unlikely(rc == RES_DROP)) {
			fr[i].nheads = 0;
			sum->drops++;
			continue;
		}
		if (unlikely(rc != WALK_OK))
			break;
	}
	if (rc == RES_FULL)
		sum->full = true;
	else if (rc >= 0)
		vhu_vq_fault(vq, (enum vhu_malformed)rc);
	return i;
}

/* ---- copy ---- */

/* A zeroed virtio-net header of @p hdr_len (10 or 12) bytes, with
 * num_buffers 1 when it has the field. */
static __rte_always_inline void
rx_hdr_write(uint8_t *p, uint16_t hdr_len)
{
	uint64_t w0 = 0;

	memcpy(p, &w0, 8);
	if (hdr_len == VHU_NET_HDR_LEN) {
		uint32_t w1 = (uint32_t)1 << 16;

		memcpy(p + 8, &w1, 4);
	} else {
		uint16_t w1 = 0;

		memcpy(p + 8, &w1, 2);
	}
}

/* Write @p len bytes from @p src at @p dst, never past @p end; count
 * what each guest buffer received, log it while migrating. */
static inline void
scatter(struct vhu_vq *vq, struct vhu_seg_cursor *dst,
	const struct vhu_seg *end, const uint8_t *src, uint32_t len)
{
	while (len > 0 && dst->seg < end) {
		const struct vhu_seg *s = dst->seg;
		uint32_t n = s->len - dst->off;

		if (n == 0) {
			dst->seg++;
			dst->off = 0;
			continue;
		}
		n = RTE_MIN(n, len);
		copy_bytes(s->hva + dst->off, src, n);
		if (unlikely(vq->log != NULL))
			vhu_log_write(vq->log, s->gpa + dst->off, n);
		vq->heads[s->head].written += n;
		src += n;
		len -= n;
		dst->off += n;
	}
}

/* The general copy: header and mbuf segments through the segments. */
static inline void
enq_copy_scatter(struct vhu_vq *vq, const struct enq_frame *f,
	const struct rte_mbuf *m)
{
	struct vhu_seg_cursor dst = { .seg = &vq->segs[f->seg0] };
	const struct vhu_seg *end = &vq->segs[f->seg_end];
	struct vhu_net_hdr hdr;
	uint32_t left;

	memset(&hdr, 0, sizeof(hdr));
	hdr.num_buffers = vq->mrg ? f->nheads : 1;
	scatter(vq, &dst, end, (const uint8_t *)&hdr, vq->hdr_len);
	/* pkt_len bounds the copy even if the segments say more. */
	for (left = m->pkt_len; m != NULL && left > 0; m = m->next) {
		uint32_t n = RTE_MIN((uint32_t)m->data_len, left);

		scatter(vq, &dst, end, rte_pktmbuf_mtod(m, const uint8_t *), n);
		left -= n;
	}
}

/* The copy stage for frame @p m into the buffers reserved in @p f. */
static __rte_always_inline void
enq_copy(struct vhu_vq *vq, const struct enq_frame *f,
	const struct rte_mbuf *m)
{
	const struct vhu_seg *s = &vq->segs[f->seg0];
	uint32_t plen = m->pkt_len;

	if (likely(f->nheads == 1 && f->seg_end == f->seg0 + 1 &&
			m->data_len >= plen)) {
		rx_hdr_write(s->hva, vq->hdr_len);
		copy_bytes(s->hva + vq->hdr_len,
			rte_pktmbuf_mtod(m, const void *), plen);
		vq->heads[f->head0].written = vq->hdr_len + plen;
		if (unlikely(vq->log != NULL))
			vhu_log_write(vq->log, s->gpa, vq->hdr_len + plen);
		return;
	}
	enq_copy_scatter(vq, f, m);
}

/* ---- publish ---- */

/* Used entries for the @p nheads chains the batch filled. */
static __rte_always_inline void
enq_publish(struct vhu_vq *vq, uint32_t nheads, struct enq_sum *sum)
{
	uint32_t j;

	for (j = 0; j < nheads; j++)
		vq_used(vq, sum->used++, (uint16_t)vq->heads[j].id,
			vq->heads[j].written, vq->heads[j].ndesc);
}

/* Copy and publish: the @p nb frames a fetch consumed into the buffers
 * it reserved (dropped ones have none), then the chains' used entries. */
static __rte_always_inline void
enq_fill(struct vhu_vq *vq, struct rte_mbuf *const *pkts,
	const struct enq_frame *fr, uint16_t nb, const struct enq_cursor *cur,
	struct enq_sum *sum)
{
	uint16_t i;

	for (i = 0; i < nb; i++) {
		if (fr[i].nheads == 0)
			continue;
		enq_copy(vq, &fr[i], pkts[i]);
		sum->delivered++;
		sum->bytes += pkts[i]->pkt_len;
	}
	enq_publish(vq, cur->nheads, sum);
}

/* Count the burst; publish its used entries. */
static __rte_always_inline void
enq_finish(struct vhu_vq *vq, const struct enq_sum *sum)
{
	if (sum->used > 0)
		vhu_ring_publish(vq, sum->used);
	if (sum->full)
		VHU_STAT_ADD(vq, ring_full, 1);
	if (sum->delivered > 0) {
		VHU_STAT_ADD(vq, packets, sum->delivered);
		VHU_STAT_ADD(vq, bytes, sum->bytes);
		VHU_STAT_ADD(vq, copied_packets, sum->delivered);
	}
	if (sum->drops > 0)
		VHU_STAT_ADD(vq, drops, sum->drops);
}

/* vhu_packed_enqueue.c: one batch of up to VHU_BATCH frames into a
 * packed ring (how many consumed), and its reservation by length. */
uint16_t vhu_pk_enq_batch(struct vhu_vq *vq, struct rte_mbuf *const *pkts,
	uint16_t n, uint64_t ofl, struct enq_sum *sum);
int vhu_pk_enq_reserve_len(struct vhu_vq *vq, uint32_t plen,
	struct enq_frame *f, struct enq_cursor *cur);

#endif /* VMLINK_VHU_ENQ_H */
