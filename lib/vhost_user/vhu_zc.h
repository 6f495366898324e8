/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Zero-copy dequeue: a guest TX chain handed on as external-buffer mbufs
 * over guest memory. The chain goes back to the guest (its used entry)
 * only when the last of those mbufs is freed, on any thread: the free
 * callback pushes the chain's slot into the queue's completion ring, and
 * the queue's owner drains it (vhu_vq_zc_drain(), vhu_zc.c).
 *
 * Every chain in flight holds a pre-allocated slot (budget-sized array per
 * queue, one rte_mbuf_ext_shared_info each): no per-packet allocation.
 */

#ifndef VMLINK_VHU_ZC_H
#define VMLINK_VHU_ZC_H

#include "vhu_internal.h"

/* Any completion waiting? Queue owner only. */
static __rte_always_inline bool
zc_completion_waiting(const struct vhu_vq *vq)
{
	const struct vhu_cring *c = vq->cring;

	return __atomic_load_n(&c->cell[c->cons & c->mask].seq,
		__ATOMIC_ACQUIRE) == c->cons + 1;
}

/* Number of mbuf segments (each at most 64 KiB - 1) a zero-copy view of
 * segments [si, nsegs) from offset @p so needs. */
static __rte_always_inline uint32_t
zc_pieces(const struct vhu_seg *segs, uint32_t si, uint32_t so,
	uint32_t nsegs)
{
	uint32_t n = 0;

	for (; si < nsegs; si++, so = 0)
		n += (segs[si].len - so + UINT16_MAX - 1) / UINT16_MAX;
	return n;
}

/* Take a completion slot for the chain @p head_id (of @p ndesc packed
 * descriptors), held by @p refs mbuf segments. The caller checked
 * nfree > 0. */
static __rte_always_inline struct vhu_zc_slot *
zc_slot_take(struct vhu_vq *vq, uint16_t head_id, uint16_t ndesc,
	uint32_t refs)
{
	struct vhu_zc_slot *s = &vq->slots[vq->free_stack[--vq->nfree]];

	s->head = head_id;
	s->ndesc = ndesc;
	s->gen = vq->gen;
	s->mt = (struct vhu_memtab *)(uintptr_t)vq->mt;
	rte_mbuf_ext_refcnt_set(&s->shinfo, (uint16_t)refs);
	return s;
}

/*
 * The zero-copy stage: segments [si, nsegs) of chain @p head_id (of
 * @p ndesc packed descriptors), from
 * offset @p so, attached to @p first (fresh) and @p pieces - 1 more mbufs
 * from @p mp. False (@p first untouched, no slot taken) when those mbufs
 * are missing.
 */
static __rte_always_inline bool
zc_attach(struct vhu_vq *vq, struct rte_mempool *mp, struct rte_mbuf *first,
	uint16_t head_id, uint16_t ndesc, const struct vhu_seg *segs,
	uint32_t si, uint32_t so,
	uint32_t nsegs, uint32_t pieces)
{
	struct rte_mbuf *ms[VHU_ZC_MAX_SEGS];
	struct vhu_zc_slot *s;
	uint32_t k = 0, frame_len = 0;

	ms[0] = first;
	if (pieces > 1 && rte_pktmbuf_alloc_bulk(mp, &ms[1], pieces - 1) != 0)
		return false;
	s = zc_slot_take(vq, head_id, ndesc, pieces);
	for (; si < nsegs; si++, so = 0) {
		uint32_t left = segs[si].len - so;
		uint8_t *p = segs[si].hva + so;

		while (left > 0) {
			uint16_t c = (uint16_t)RTE_MIN(left, (uint32_t)UINT16_MAX);
			struct rte_mbuf *m = ms[k];

			rte_pktmbuf_attach_extbuf(m, p, RTE_BAD_IOVA, c,
				&s->shinfo);
			m->data_len = c;
			if (k > 0)
				ms[k - 1]->next = m;
			k++;
			p += c;
			left -= c;
			frame_len += c;
		}
	}
	first->nb_segs = (uint16_t)pieces;
	first->pkt_len = frame_len;
	return true;
}

#endif /* VMLINK_VHU_ZC_H */
