/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The ring stages of a burst, for split virtqueues.
 *
 * A burst (vhu_dequeue.c, vhu_enqueue.c) runs, for each frame:
 *
 *   fetch      ring_avail(), ring_head(), ring_desc(): which chains the
 *              guest made available, each descriptor read once
 *   translate  chain_single() / vhu_chain_walk(): guest buffers into
 *              host segments (struct vhu_seg), every address checked
 *   copy or zero-copy   (the direction's own file; sees only segments)
 *   publish    ring_used() per chain, ring_publish() once per burst
 *   notify     ring_notify(), from ring_publish(): the call eventfd, only
 *              when the guest asked
 *
 * Only fetch, publish and notify know the ring format, and the walk of a
 * descriptor chain (vhu_chain_walk) is the format's; a packed ring brings
 * its own versions of these and keeps the translate, copy and zero-copy
 * stages.
 *
 * Guest memory is hostile: a descriptor is read once into a local copy,
 * every index is checked before use, a violation stops only its queue.
 */

#ifndef VMLINK_VHU_RING_H
#define VMLINK_VHU_RING_H

#include <string.h>
#include <unistd.h>

#include <rte_memcpy.h>

#include "vhu_internal.h"

/* walk results beyond the malformed reasons (which are >= 0) */
#define WALK_OK		(-1)
#define WALK_SEGS_FULL	(-2)

/* ---- entering / leaving a queue (see vhu_vq_quiesce()) ---- */

static __rte_always_inline bool
vq_enter(struct vhu_vq *vq)
{
	if (!vmlink_burst_enter(&vq->ready, &vq->in_burst))
		return false;
	/* The memory table, once per burst: every translation and zero-copy
	 * reference of the burst uses the same one (vhu_memtab_publish()). */
	vq->mt = __atomic_load_n(&vq->mt_pub, __ATOMIC_ACQUIRE);
	return true;
}

static __rte_always_inline void
vq_leave(struct vhu_vq *vq)
{
	vmlink_burst_leave(&vq->in_burst);
}

/* Stop the queue: a malformed ring (the control thread reports it). */
void vhu_vq_fault(struct vhu_vq *vq, enum vhu_malformed why);

/* ---- guest memory accesses ---- */

/*
 * Frame copies. rte_memcpy is inlined for the instruction set the build
 * targets (SSE4.2 here); the C library's memcpy picks the widest vectors
 * the CPU has at run time, which pays off on long copies between guest
 * buffers (measured: 1518-byte frames about 8% faster guest RX and
 * vm-to-vm) while the call costs more than it saves on short ones.
 */
#define COPY_LIBC_MIN 512

static __rte_always_inline void
copy_bytes(void *dst, const void *src, uint32_t n)
{
	if (n >= COPY_LIBC_MIN)
		memcpy(dst, src, n);
	else
		rte_memcpy(dst, src, n);
}

static __rte_always_inline uint16_t
load16(const uint16_t *p)
{
	return *(const volatile uint16_t *)p;
}

static __rte_always_inline void
store16(uint16_t *p, uint16_t v)
{
	*(volatile uint16_t *)p = v;
}

/* Dirty-log used-ring bytes [offset, offset + len) when logging is on. */
static __rte_always_inline void
log_used(struct vhu_vq *vq, uint64_t offset, uint64_t len)
{
	if (unlikely(vq->log_used))
		vhu_log_write(vq->log, vq->log_used_gpa + offset, len);
}

/* Warm the cache line at P for writing (rte_prefetch0_write is
 * experimental). */
static __rte_always_inline void
prefetch_w(const void *p)
{
	__builtin_prefetch(p, 1, 3);
}

/* ---- fetch ---- */

/*
 * How many chains, at most @p n, the burst may take: avail->idx read once,
 * with acquire ordering (the ring entries and descriptors it covers are
 * read after it). An index that moved by more than the ring size stops
 * the queue; then 0.
 */
static __rte_always_inline uint16_t
ring_avail(struct vhu_vq *vq, uint16_t n)
{
	uint16_t idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
	uint16_t pending = (uint16_t)(idx - vq->last_avail);

	if (unlikely(pending > vq->size)) {
		vhu_vq_fault(vq, VHU_MAL_AVAIL_IDX);
		return 0;
	}
	return RTE_MIN(pending, n);
}

/* The head index of the chain @p k slots after last_avail, read once;
 * VHU_MAL_HEAD_INDEX when it is not inside the ring, else WALK_OK. */
static __rte_always_inline int
ring_head(const struct vhu_vq *vq, uint16_t k, uint16_t *head)
{
	*head = load16(&vq->avail->ring[(uint16_t)(vq->last_avail + k) &
		vq->mask]);
	return likely(*head < vq->size) ? WALK_OK : (int)VHU_MAL_HEAD_INDEX;
}

/* Read a descriptor exactly once (two aligned 64-bit loads). */
static __rte_always_inline void
desc_fetch(const struct vring_desc *src, struct vring_desc *d)
{
	const volatile uint64_t *p = (const volatile uint64_t *)src;
	uint64_t w0 = p[0];
	uint64_t w1 = p[1];

	d->addr = w0;
	d->len = (uint32_t)w1;
	d->flags = (uint16_t)(w1 >> 32);
	d->next = (uint16_t)(w1 >> 48);
}

static __rte_always_inline void
ring_desc(const struct vhu_vq *vq, uint16_t head, struct vring_desc *d)
{
	desc_fetch(&vq->desc[head], d);
}

/* ---- translate ---- */

/*
 * The common chain: one descriptor (no NEXT, no INDIRECT) with exactly
 * @p flags, whose buffer lies in one region and holds more than @p min
 * bytes. Stores it as segment @p seg and returns true; false sends the
 * chain to vhu_chain_walk(), which also finds its faults.
 */
static __rte_always_inline bool
chain_single(struct vhu_vq *vq, const struct vring_desc *d, uint16_t flags,
	uint32_t min, struct vhu_seg *seg)
{
	const struct vhu_memseg *s;
	uint64_t off;

	if (unlikely(d->flags != flags || d->len <= min))
		return false;
	s = vhu_gpa_lookup(vq->mt, &vq->mem_hint, d->addr);
	if (unlikely(s == NULL))
		return false;
	off = d->addr - s->start;
	if (unlikely(d->len > s->size - off))
		return false;
	seg->hva = s->hva + off;
	seg->gpa = d->addr;
	seg->len = d->len;
	return true;
}

/*
 * Walk the chain at ring index @p head (its descriptor @p first already
 * read), appending its buffers to vq->segs[*nsegs .. room), split where
 * regions end, each tagged with @p head_slot. @p writable is the
 * direction every buffer must have. Returns WALK_OK with the chain's
 * bytes in *total, WALK_SEGS_FULL (no room; the chain is otherwise
 * valid), or the malformed reason.
 */
int vhu_chain_walk(struct vhu_vq *vq, uint16_t head,
	const struct vring_desc *first, bool writable, uint32_t *nsegs,
	uint32_t room, uint64_t *total, uint16_t head_slot);

/* Pieces of the walk a packed ring's walk reuses (vhu_packed.c): an
 * INDIRECT descriptor's table, checked (NULL with *why); one buffer
 * descriptor, checked and appended (nothing appended once *full). */
const struct vring_desc *vhu_indirect_table(struct vhu_vq *vq,
	const struct vring_desc *d, uint32_t count, uint32_t *tsize, int *why);
int vhu_walk_buffer(struct vhu_vq *vq, const struct vring_desc *d,
	bool writable, uint32_t *nsegs, uint32_t room, uint16_t head_slot,
	bool *full);

/* A read or write position in a chain's segments. */
struct vhu_seg_cursor {
	const struct vhu_seg *seg;
	uint32_t off;
};

/* Copy @p len bytes from the segments at @p src (which hold them) to
 * @p dst, moving @p src along. */
static __rte_always_inline void
vhu_gather(struct vhu_seg_cursor *src, uint8_t *dst, uint32_t len)
{
	while (len > 0) {
		uint32_t n = src->seg->len - src->off;

		if (n == 0) {
			src->seg++;
			src->off = 0;
			continue;
		}
		n = RTE_MIN(n, len);
		copy_bytes(dst, src->seg->hva + src->off, n);
		dst += n;
		len -= n;
		src->off += n;
	}
}

/* Number of segments, from @p segs on, holding the first @p hlen bytes. */
static __rte_always_inline uint32_t
hdr_segments(const struct vhu_seg *segs, uint32_t nsegs, uint32_t hlen)
{
	uint32_t i, got = 0;

	for (i = 0; i < nsegs && got < hlen; i++)
		got += segs[i].len;
	return i;
}

/* ---- publish ---- */

/* Used entry @p k of this burst (after last_used): chain @p id, @p len
 * bytes written into it. */
static __rte_always_inline void
ring_used(struct vhu_vq *vq, uint16_t k, uint32_t id, uint32_t len)
{
	struct vring_used_elem *e =
		&vq->used->ring[(uint16_t)(vq->last_used + k) & vq->mask];

	e->id = id;
	e->len = len;
}

/* Make @p n used entries visible to the guest (one release store of
 * used->idx), then notify it if it asked. */
void vhu_ring_publish(struct vhu_vq *vq, uint16_t n);

/* With EVENT_IDX: ask the guest to kick when it adds a chain after
 * last_avail (a sleeping dequeue poller, vhu_queue_notify()). */
void vhu_ring_want_kick(struct vhu_vq *vq);

#endif /* VMLINK_VHU_RING_H */
