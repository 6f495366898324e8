/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The enqueue stages both ring formats share (vhu_enqueue.c: split,
 * vhu_packed_enqueue.c: packed): the end of a reservation, the
 * virtio-net header and the frame copied into the reserved guest
 * buffers, the used entries of the chains filled, the loop over a
 * burst's frames, and frames asking for an offload (vhu_enqueue.c's
 * vhu_enq_offload(), over the format's reservation). Reserving the
 * buffers (the fetch) is the format's.
 */

#ifndef VMLINK_VHU_ENQ_H
#define VMLINK_VHU_ENQ_H

#include "vhu_packed.h"

/* enq_reserve() results besides WALK_OK and the malformed reasons */
#define RES_DROP	(-3)		/* consumed, not delivered */
#define RES_FULL	(-4)		/* no guest buffer: stop, not consumed */
#define RES_STOP	(-6)		/* consumed (and counted), stop the burst */

/*
 * The guest buffers reserved for one frame. The common case, one chain of
 * one buffer that holds the header and the whole frame, stays here (.one,
 * nheads 0); any other reservation is vq->heads[0, nheads) with its
 * segments vq->segs[0, seg_end) (the scratch arrays serve one frame at a
 * time).
 */
struct enq_frame {
	struct vhu_seg one;
	uint16_t id;		/* .one's head index / buffer id */
	uint16_t ndesc;		/* .one's ring descriptors (packed) */
	uint16_t nheads;	/* 0: .one */
	uint16_t seg_end;
};

/* Where the burst is in the ring, and in the scratch arrays of the frame
 * being reserved. */
struct enq_cursor {
	uint16_t pending;	/* split: chains available after last_avail */
	uint16_t taken;		/* of which the burst reserved */
	struct vhu_pk_pos pk;	/* packed: where the next chain starts */
	uint32_t nheads;	/* vq->heads used by this frame */
	uint32_t nsegs;		/* vq->segs used by this frame */
};

/* What a burst did, counted once at its end. */
struct enq_sum {
	uint16_t used;		/* used entries written */
	uint32_t delivered;
	uint32_t drops;
	uint64_t bytes;
	bool full;
};

/* ---- fetch ---- */

/* The format's reservation of the guest buffers for a frame of @p plen
 * bytes: WALK_OK, a RES_ value or the malformed reason. */
typedef int (*enq_reserve_t)(struct vhu_vq *vq, uint32_t plen,
	struct enq_frame *f, struct enq_cursor *cur);

/* Reserved: the common case (@p id, @p ndesc descriptors, in f->one). */
static __rte_always_inline int
enq_reserved_one(struct enq_frame *f, struct enq_cursor *cur, uint16_t id,
	uint16_t ndesc)
{
	f->id = id;
	f->ndesc = ndesc;
	f->nheads = 0;
	cur->taken++;
	return WALK_OK;
}

/* The end of a reservation over several chains or segments (either
 * format): @p nheads chains of @p cap bytes, @p nsegs segments, for a
 * frame that needs @p need bytes with its header; the header must lie
 * in at most two segments. */
static __rte_always_inline int
enq_reserved(struct vhu_vq *vq, uint64_t cap, uint32_t need, uint32_t nheads,
	uint32_t nsegs, struct enq_frame *f, struct enq_cursor *cur)
{
	if (cap < need)
		return RES_DROP;
	if (hdr_segments(vq->segs, nsegs, vq->hdr_len) > 2)
		return VHU_MAL_HDR_SPLIT;
	f->nheads = (uint16_t)nheads;
	f->seg_end = (uint16_t)nsegs;
	cur->nheads = nheads;
	cur->nsegs = nsegs;
	cur->taken += nheads;
	return WALK_OK;
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
	struct vhu_seg_cursor dst = { .seg = vq->segs };
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

/* The common reservation (f->one) as the general one, for the scatter
 * stages. */
static inline void
enq_frame_spill(struct vhu_vq *vq, struct enq_frame *f)
{
	vq->segs[0] = f->one;
	vq->segs[0].head = 0;
	vq->heads[0] = (struct vhu_head){
		.id = f->id, .cap = f->one.len, .ndesc = f->ndesc,
	};
	f->nheads = 1;
	f->seg_end = 1;
}

/* ---- publish ---- */

/* Used entries for the @p nheads chains of the general reservation. */
static __rte_always_inline void
enq_publish(struct vhu_vq *vq, uint32_t nheads, struct enq_sum *sum)
{
	uint32_t j;

	for (j = 0; j < nheads; j++)
		vq_used(vq, sum->used++, (uint16_t)vq->heads[j].id,
			vq->heads[j].written, vq->heads[j].ndesc);
}

/* ---- copy + publish ---- */

/* Frame @p m into the buffers reserved in @p f, then their used entries
 * (@p packed: the ring's format, a constant). */
static __rte_always_inline void
enq_copy(struct vhu_vq *vq, struct enq_frame *f, const struct rte_mbuf *m,
	struct enq_sum *sum, bool packed)
{
	uint32_t plen = m->pkt_len;

	if (likely(f->nheads == 0 && m->data_len >= plen)) {
		rx_hdr_write(f->one.hva, vq->hdr_len);
		copy_bytes(f->one.hva + vq->hdr_len,
			rte_pktmbuf_mtod(m, const void *), plen);
		if (unlikely(vq->log != NULL))
			vhu_log_write(vq->log, f->one.gpa, vq->hdr_len + plen);
		vq_used_as(vq, packed, sum->used++, f->id, vq->hdr_len + plen,
			f->ndesc);
		return;
	}
	if (f->nheads == 0)
		enq_frame_spill(vq, f);
	enq_copy_scatter(vq, f, m);
	enq_publish(vq, f->nheads, sum);
}

/* One frame through the stages: reserve (with @p reserve), copy,
 * publish. WALK_OK, a RES_ value or the malformed reason. */
static __rte_always_inline int
enq_frame(struct vhu_vq *vq, const struct rte_mbuf *m, struct enq_cursor *cur,
	struct enq_sum *sum, enq_reserve_t reserve, bool packed)
{
	struct enq_frame f;
	int rc;

	cur->nheads = 0;
	cur->nsegs = 0;
	rc = reserve(vq, m->pkt_len, &f, cur);
	if (unlikely(rc != WALK_OK))
		return rc;
	enq_copy(vq, &f, m, sum, packed);
	sum->delivered++;
	sum->bytes += m->pkt_len;
	return WALK_OK;
}

/* vhu_enqueue.c: frame @p m, which asks for an offload (mbuf flags in
 * @p honoured), to the guest, in either format. */
int vhu_enq_offload(struct vhu_vq *vq, const struct rte_mbuf *m,
	uint64_t honoured, struct enq_cursor *cur, struct enq_sum *sum);

/*
 * Up to @p n frames, one after the other through the stages. A frame
 * asking for an offload the application enabled (@p ofl: a constant 0
 * when it enabled none, so that the test is not made per frame) goes
 * through vhu_enq_offload(). Stops at a ring without buffers
 * (sum->full) or a malformed chain (the queue stops; the frames before
 * it went). Returns how many frames are consumed (delivered or dropped).
 */
static __rte_always_inline uint16_t
enq_frames(struct vhu_vq *vq, struct rte_mbuf *const *pkts, uint16_t n,
	uint64_t ofl, struct enq_cursor *cur, struct enq_sum *sum,
	enq_reserve_t reserve, bool packed)
{
	int rc = WALK_OK;
	uint16_t i;

	for (i = 0; i < n; i++) {
		if (ofl != 0 && unlikely(pkts[i]->ol_flags & ofl))
			rc = vhu_enq_offload(vq, pkts[i], ofl, cur, sum);
		else
			rc = enq_frame(vq, pkts[i], cur, sum, reserve, packed);
		if (likely(rc == WALK_OK))
			continue;
		if (rc != RES_DROP)
			break;
		sum->drops++;
	}
	if (rc == RES_STOP)
		i++;
	else if (rc == RES_FULL)
		sum->full = true;
	else if (rc >= 0)
		vhu_vq_fault(vq, (enum vhu_malformed)rc);
	return i;
}

/* enq_frames() with the offload test only when the application enabled
 * an offload: decided once per burst. */
static __rte_always_inline uint16_t
enq_burst(struct vhu_vq *vq, struct rte_mbuf *const *pkts, uint16_t n,
	uint64_t ofl, struct enq_cursor *cur, struct enq_sum *sum,
	enq_reserve_t reserve, bool packed)
{
	if (likely(ofl == 0))
		return enq_frames(vq, pkts, n, 0, cur, sum, reserve, packed);
	return enq_frames(vq, pkts, n, ofl, cur, sum, reserve, packed);
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

/* vhu_packed_enqueue.c: up to @p n frames into a packed ring (how many
 * consumed), and its reservation for a frame of @p plen bytes. */
uint16_t vhu_pk_enqueue(struct vhu_vq *vq, struct rte_mbuf *const *pkts,
	uint16_t n, uint64_t ofl, struct enq_sum *sum);
int vhu_pk_enq_reserve_len(struct vhu_vq *vq, uint32_t plen,
	struct enq_frame *f, struct enq_cursor *cur);

#endif /* VMLINK_VHU_ENQ_H */
