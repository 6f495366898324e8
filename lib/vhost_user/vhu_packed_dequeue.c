/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Dequeue from a packed ring: guest TX virtqueue -> mbufs.
 *
 * The same stages as a split ring (vhu_dequeue.c); only the
 * fetch is this file's: chains are consecutive descriptors from the avail
 * position, each available when its head's flags match the wrap counter
 * (vhu_packed.h). Header and offload checks, copy, zero-copy and the used
 * entries are vhu_deq.h's.
 */

#include "vhu_deq.h"

/* ---- fetch + translate ---- */

/* The general chain at @p pos (its first descriptor @p d) into @p c, its
 * bytes in *total: vhu_pk_walk() on copies, so that the common path's
 * locals stay in registers. */
static int
pk_deq_walk(struct vhu_vq *vq, struct vhu_pk_pos pos,
	struct vring_packed_desc d, struct deq_chain *c, uint64_t *total)
{
	uint32_t nsegs = 0;
	int rc;

	rc = vhu_pk_walk(vq, &pos, &d, false, &nsegs, VHU_MAX_SEGS, total, 0,
		&c->id, &c->ndesc);
	c->seg_end = (uint16_t)nsegs;
	return rc == WALK_SEGS_FULL ? (int)VHU_MAL_CHAIN_LONG : rc;
}

/* The chain at @p cur into @p c; @p ofl: its header may ask for an
 * offload (deq_header_ofl); @p infl: the queue tracks what is in flight.
 * Both constants where the common queue (neither) is specialised. */
static __rte_always_inline int
pk_deq_fetch_as(struct vhu_vq *vq, const struct deq_cursor *cur,
	struct deq_chain *c, bool ofl, bool infl)
{
	struct vring_packed_desc d;
	struct vring_desc v;
	uint64_t total;
	int rc;

	if (!pk_desc_avail(vq, &cur->pk, &d))
		return WALK_EMPTY;
	v = pk_view(&d);
	c->seg0 = 0;
	if (likely(chain_single(vq, &v, 0, vq->hdr_len, &vq->segs[0]))) {
		total = v.len;
		c->id = d.id;
		c->ndesc = 1;
		c->seg_end = 1;
	} else {
		uint64_t t;

		rc = pk_deq_walk(vq, cur->pk, d, c, &t);
		if (rc != WALK_OK)
			return rc;
		total = t;
	}
	if (unlikely(c->id >= vq->size))
		return VHU_MAL_HEAD_INDEX;
	rc = deq_header_ofl(vq, c, total, ofl);
	/* recorded before its frame is touched: its used element may be
	 * written over its descriptors */
	if (infl && rc == WALK_OK) {
		struct vring_packed_desc first = d;

		rc = vhu_infl_pk_take(vq, cur->pk.idx, &first, c->ndesc,
			c->id);
	}
	return rc;
}

/* deq_fetch_t of the common queue: no dequeue offload negotiated (headers
 * are not read), no in-flight tracking */
static __rte_always_inline int
pk_deq_fetch_plain(struct vhu_vq *vq, const struct deq_cursor *cur,
	struct deq_chain *c)
{
	return pk_deq_fetch_as(vq, cur, c, false, false);
}

/* deq_fetch_t of any other queue */
static __rte_always_inline int
pk_deq_fetch_any(struct vhu_vq *vq, const struct deq_cursor *cur,
	struct deq_chain *c)
{
	return pk_deq_fetch_as(vq, cur, c,
		(vq->ofl_features & VHU_OFL_DEQ_FEATURES) != 0,
		vq->infl != NULL);
}

/* ---- the burst ---- */

uint16_t
vhu_pk_dequeue(struct vhu_vq *vq, struct rte_mempool *mp,
	struct rte_mbuf **pkts, uint16_t n, struct deq_sum *sum)
{
	struct deq_cursor cur = {
		.pk = pk_pos(vq->last_avail, vq->avail_wrap),
	};
	struct vring_packed_desc d;
	uint16_t k, nm;

	/* mbufs for the chains there are, counted from their flags (each
	 * is fetched and checked again); a head without an end is fetched
	 * too, for its fault to be found */
	nm = (uint16_t)vhu_pk_chains_avail(vq, cur.pk, n);
	if (nm == 0 && (n == 0 || !pk_desc_avail(vq, &cur.pk, &d)))
		return 0;
	nm = deq_alloc(vq, mp, pkts, RTE_MAX(nm, (uint16_t)1));
	/* headers read or not, chains tracked or not: decided once per
	 * burst, as on split rings (deq_split()) */
	if (likely(!(vq->ofl_features & VHU_OFL_DEQ_FEATURES) &&
			vq->infl == NULL))
		k = deq_chains(vq, mp, pkts, nm, &cur, sum, pk_deq_fetch_plain,
			true);
	else
		k = deq_chains(vq, mp, pkts, nm, &cur, sum, pk_deq_fetch_any,
			true);
	vq->last_avail = cur.pk.idx;
	vq->avail_wrap = pk_pos_wrap(&cur.pk);
	return k;
}
