/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The ring stages of a burst, for packed virtqueues (VIRTIO_F_RING_PACKED,
 * virtio 1.1+ "Packed Virtqueues").
 *
 * One ring of descriptors serves both ways: the guest makes a chain
 * available by writing its descriptors at the next positions with the AVAIL
 * flag equal to its wrap counter (USED the opposite), the head's flags
 * last; the device returns a chain by writing one used element (buffer id,
 * length, AVAIL = USED = its own wrap counter) at its next used position,
 * skipping as many positions as the chain had descriptors.
 *
 *   fetch      pk_desc_avail(): the descriptor at a position, read once,
 *              if the guest made it available
 *   translate  chain_single() / vhu_pk_walk(): the split ring's segment
 *              stages over a split-format view of each descriptor
 *   publish    vq_used() per chain; vhu_ring_publish() stores the first
 *              used element's flags last, once per burst, so the guest
 *              sees the burst's elements at once
 *   notify     the guest's driver event structure (flags, EVENT_IDX
 *              off_wrap); ours asks for kicks (vhu_ring_want_kick())
 *
 * Ring positions are 0 .. size - 1 with a wrap counter that starts at 1.
 */

#ifndef VMLINK_VHU_PACKED_H
#define VMLINK_VHU_PACKED_H

#include "vhu_ring.h"

#define PK_F_AVAIL	(1u << VRING_PACKED_DESC_F_AVAIL)
#define PK_F_USED	(1u << VRING_PACKED_DESC_F_USED)
#define PK_WRAP_BIT	(1u << VRING_PACKED_EVENT_F_WRAP_CTR)

/* fetch result beyond WALK_OK / WALK_SEGS_FULL / the malformed reasons */
#define WALK_EMPTY	(-5)	/* the guest made nothing (more) available */

/* The AVAIL and USED flags of a descriptor the guest made available to a
 * device whose avail wrap counter is @p wrap (AVAIL = wrap, USED = !wrap). */
static __rte_always_inline uint16_t
pk_avail_bits(bool wrap)
{
	return wrap ? PK_F_AVAIL : PK_F_USED;
}

/* A position in a packed ring: with its wrap counter as the flags an
 * available descriptor has there (pk_avail_bits()), checked with one
 * compare. */
struct vhu_pk_pos {
	uint16_t idx;
	uint16_t bits;
};

static __rte_always_inline struct vhu_pk_pos
pk_pos(uint16_t idx, bool wrap)
{
	return (struct vhu_pk_pos){ .idx = idx, .bits = pk_avail_bits(wrap) };
}

static __rte_always_inline bool
pk_pos_wrap(const struct vhu_pk_pos *p)
{
	return p->bits == PK_F_AVAIL;
}

static __rte_always_inline void
pk_advance(const struct vhu_vq *vq, struct vhu_pk_pos *p, uint32_t n)
{
	uint32_t i = (uint32_t)p->idx + n;

	if (unlikely(i >= vq->size)) {
		i -= vq->size;
		p->bits ^= PK_F_AVAIL | PK_F_USED;
	}
	p->idx = (uint16_t)i;
}

/* Those of a used element written with wrap counter @p wrap (both equal
 * to it). */
static __rte_always_inline uint16_t
pk_used_bits(bool wrap)
{
	return wrap ? (PK_F_AVAIL | PK_F_USED) : 0;
}

/* Read a packed descriptor exactly once: the word holding len, id and
 * flags first, the address after it (acquire: the guest wrote the address
 * before the flags that made it available). */
static __rte_always_inline void
pk_desc_fetch(const struct vring_packed_desc *src, struct vring_packed_desc *d)
{
	const volatile uint64_t *p = (const volatile uint64_t *)src;
	uint64_t w1 = p[1];

	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	d->addr = p[0];
	d->len = (uint32_t)w1;
	d->id = (uint16_t)(w1 >> 32);
	d->flags = (uint16_t)(w1 >> 48);
}

/* Did the guest make a descriptor with these flags available for a
 * device whose avail wrap counter is @p wrap? */
static __rte_always_inline bool
pk_is_avail(uint16_t flags, bool wrap)
{
	/* one compare: the two flags against what they must be */
	return (flags & (PK_F_AVAIL | PK_F_USED)) == pk_avail_bits(wrap);
}

/* The descriptor at @p p into @p d when it is available; false if not. */
static __rte_always_inline bool
pk_desc_avail(const struct vhu_vq *vq, const struct vhu_pk_pos *p,
	struct vring_packed_desc *d)
{
	pk_desc_fetch(&vq->pk_fetch[p->idx], d);
	return (d->flags & (PK_F_AVAIL | PK_F_USED)) == p->bits;
}

/*
 * Four descriptors from @p d on (a multiple of four inside the ring), all
 * made available (@p bits: pk_avail_bits()) as chains of one descriptor?
 * Their flags read once each, checked together.
 */
static __rte_always_inline bool
pk_avail4(const struct vring_packed_desc *d, uint16_t bits)
{
	const uint16_t mask = PK_F_AVAIL | PK_F_USED | VRING_DESC_F_NEXT;
	uint16_t f0 = __atomic_load_n(&d[0].flags, __ATOMIC_ACQUIRE);
	uint16_t f1 = __atomic_load_n(&d[1].flags, __ATOMIC_ACQUIRE);
	uint16_t f2 = __atomic_load_n(&d[2].flags, __ATOMIC_ACQUIRE);
	uint16_t f3 = __atomic_load_n(&d[3].flags, __ATOMIC_ACQUIRE);

	return (((f0 ^ bits) | (f1 ^ bits) | (f2 ^ bits) | (f3 ^ bits)) &
		mask) == 0;
}

/*
 * How many chains (up to @p want) the guest made available from @p p on:
 * a count only, from each descriptor's flags read once; whatever is then
 * reserved is fetched and checked again. At most one lap of the ring.
 * Aligned groups of four one-descriptor chains (what a burst of frames
 * mostly is) are counted at once.
 */
static inline uint32_t
vhu_pk_chains_avail(const struct vhu_vq *vq, struct vhu_pk_pos p,
	uint32_t want)
{
	const struct vring_packed_desc *ring = vq->pk_fetch;
	uint32_t n = 0, seen;
	uint16_t flags;

	for (seen = 0; n < want && seen < vq->size; ) {
		if ((p.idx & 3) == 0 && want - n >= 4 &&
				(uint32_t)p.idx + 4 <= vq->size &&
				pk_avail4(&ring[p.idx], p.bits)) {
			n += 4;
			seen += 4;
			pk_advance(vq, &p, 4);
			continue;
		}
		flags = __atomic_load_n(&ring[p.idx].flags, __ATOMIC_ACQUIRE);
		if ((flags & (PK_F_AVAIL | PK_F_USED)) != p.bits)
			break;
		if (!(flags & VRING_DESC_F_NEXT))
			n++;
		seen++;
		pk_advance(vq, &p, 1);
	}
	return n;
}

/* The split-format view of a packed descriptor, for the translate stages
 * (the ring flags dropped, no next: packed chains are consecutive). */
static __rte_always_inline struct vring_desc
pk_view(const struct vring_packed_desc *d)
{
	return (struct vring_desc){
		.addr = d->addr,
		.len = d->len,
		.flags = (uint16_t)(d->flags & ~(PK_F_AVAIL | PK_F_USED)),
	};
}

/*
 * Walk the chain starting at @p pos (its first descriptor @p first already
 * read), appending its buffers to vq->segs as vhu_chain_walk() does.
 * Advances @p pos past the chain; *id is its buffer id (the last
 * descriptor's), *ndesc how many ring descriptors it took.
 */
int vhu_pk_walk(struct vhu_vq *vq, struct vhu_pk_pos *pos,
	const struct vring_packed_desc *first, bool writable, uint32_t *nsegs,
	uint32_t room, uint64_t *total, uint16_t head_slot, uint16_t *id,
	uint16_t *ndesc);

/* Dirty-log the descriptor ring bytes of position @p idx. */
static __rte_always_inline void
pk_log_desc(struct vhu_vq *vq, uint16_t idx)
{
	if (unlikely(vq->log_used))
		vhu_log_write(vq->log, vq->log_desc_gpa +
			sizeof(struct vring_packed_desc) * idx,
			sizeof(struct vring_packed_desc));
}

/* vhu_packed.c: what a used element costs a queue that logs (migration)
 * or tracks what is in flight, beyond the ring write. */
void vhu_pk_used_slow(struct vhu_vq *vq, uint16_t k, uint16_t idx,
	uint16_t id);

/* Used element @p k of this burst: buffer @p id, @p len bytes written, the
 * chain took @p ndesc descriptors. The first one's flags wait for
 * vhu_ring_publish(); the others are written with one store each (len, id
 * and flags: the guest reads none of them before the first's flags). */
static __rte_always_inline void
pk_used(struct vhu_vq *vq, uint16_t k, uint16_t id, uint32_t len,
	uint16_t ndesc)
{
	struct vring_packed_desc *d;
	uint16_t flags;
	uint32_t idx;

	if (k == 0) {
		vq->pk_used_next = vq->last_used;
		vq->pk_used_bits = pk_used_bits(vq->used_wrap);
	}
	idx = vq->pk_used_next;
	d = &vq->pdesc[idx];
	flags = vq->pk_used_bits | (len > 0 ? VRING_DESC_F_WRITE : 0);
	if (k == 0) {
		d->len = len;
		d->id = id;
		/* logged by vhu_pk_publish(), after its flags */
		vq->pk_head_flags = flags;
	} else {
		/* the word pk_desc_fetch() reads first */
		((volatile uint64_t *)(void *)d)[1] = len |
			(uint64_t)id << 32 | (uint64_t)flags << 48;
	}
	if (unlikely(vq->publish_slow))
		vhu_pk_used_slow(vq, k, (uint16_t)idx, id);
	idx += ndesc;
	if (unlikely(idx >= vq->size)) {
		idx -= vq->size;
		vq->pk_used_bits ^= PK_F_AVAIL | PK_F_USED;
	}
	vq->pk_used_next = (uint16_t)idx;
}

/* Used entry @p k of this burst, in the format @p packed (a constant
 * where the burst is specialised for its ring's format). */
static __rte_always_inline void
vq_used_as(struct vhu_vq *vq, bool packed, uint16_t k, uint16_t id,
	uint32_t len, uint16_t ndesc)
{
	if (packed)
		pk_used(vq, k, id, len, ndesc);
	else
		ring_used(vq, k, id, len);
}

/* Used entry @p k of this burst, in the ring's format. */
static __rte_always_inline void
vq_used(struct vhu_vq *vq, uint16_t k, uint16_t id, uint32_t len,
	uint16_t ndesc)
{
	vq_used_as(vq, vq->packed, k, id, len, ndesc);
}

/* vhu_packed.c */
void vhu_pk_publish(struct vhu_vq *vq, uint16_t n);
void vhu_pk_want_kick(struct vhu_vq *vq);
void vhu_pk_kick_request(struct vhu_vq *vq, bool enable);
bool vhu_pk_pending(const struct vhu_vq *vq);

#endif /* VMLINK_VHU_PACKED_H */
