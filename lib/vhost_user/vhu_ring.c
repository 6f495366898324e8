/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Split-ring code both directions share: the general descriptor-chain
 * walk, publishing used entries, guest notifications (call eventfd, and
 * asking the guest to kick), queue faults.
 */

#include <errno.h>

#include "vhu_packed.h"

void
vhu_vq_fault(struct vhu_vq *vq, enum vhu_malformed why)
{
	VHU_STAT_ADD(vq, malformed[why], 1);
	VHU_STAT_ADD(vq, faults, 1);
	__atomic_store_n(&vq->fault, (uint32_t)why + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&vq->ready, 0, __ATOMIC_RELEASE);
}

/* ---- translate: the general chain ---- */

/* Append guest buffer [gpa, gpa + len) to vq->segs[*nsegs .. room), split
 * at region ends. */
static int
add_buffer(struct vhu_vq *vq, uint64_t gpa, uint32_t len, uint32_t *nsegs,
	uint32_t room, uint16_t head_slot)
{
	if (gpa + len < gpa)
		return VHU_MAL_ADDR;
	while (len > 0) {
		const struct vhu_memseg *s;
		struct vhu_seg *seg;
		uint64_t left;
		uint32_t chunk;

		s = vhu_gpa_lookup(vq->mt, &vq->mem_hint, gpa);
		if (s == NULL)
			return VHU_MAL_ADDR;
		left = s->size - (gpa - s->start);
		chunk = left < len ? (uint32_t)left : len;
		if (*nsegs >= room)
			return WALK_SEGS_FULL;
		seg = &vq->segs[(*nsegs)++];
		seg->hva = s->hva + (gpa - s->start);
		seg->gpa = gpa;
		seg->len = chunk;
		seg->head = head_slot;
		gpa += chunk;
		len -= chunk;
	}
	return WALK_OK;
}

/* An INDIRECT descriptor @p d: its table, checked, or NULL with *why. */
const struct vring_desc *
vhu_indirect_table(struct vhu_vq *vq, const struct vring_desc *d, uint32_t count,
	uint32_t *tsize, int *why)
{
	const struct vring_desc *table;

	if (!vq->indirect || count != 0 || (d->flags & VRING_DESC_F_NEXT)) {
		*why = VHU_MAL_INDIRECT_FLAGS;
		return NULL;
	}
	if (d->len == 0 || (d->len % sizeof(struct vring_desc)) != 0 ||
			d->len / sizeof(struct vring_desc) > vq->size) {
		*why = VHU_MAL_INDIRECT_LEN;
		return NULL;
	}
	if (d->addr % 16 != 0) {
		*why = VHU_MAL_INDIRECT_ALIGN;
		return NULL;
	}
	table = vhu_gpa_to_hva_contig(vq->mt, &vq->mem_hint, d->addr, d->len);
	if (table == NULL)
		*why = VHU_MAL_INDIRECT_SPAN;
	*tsize = d->len / sizeof(struct vring_desc);
	return table;
}

/* One buffer descriptor of a chain: direction, address, segments. Keeps
 * checking the chain (but adds nothing) once the segments are full. */
int
vhu_walk_buffer(struct vhu_vq *vq, const struct vring_desc *d, bool writable,
	uint32_t *nsegs, uint32_t room, uint16_t head_slot, bool *full)
{
	int rc;

	if (!!(d->flags & VRING_DESC_F_WRITE) != writable)
		return VHU_MAL_DIRECTION;
	if (d->len == 0) {
		/* Never read or written, but must still point at memory:
		 * a bad address here is a confused or hostile guest. */
		if (vhu_gpa_lookup(vq->mt, &vq->mem_hint, d->addr) == NULL)
			return VHU_MAL_ZERO_LEN;
		return WALK_OK;
	}
	if (*full)
		return WALK_OK;
	rc = add_buffer(vq, d->addr, d->len, nsegs, room, head_slot);
	if (rc == WALK_SEGS_FULL) {
		*full = true;
		return WALK_OK;
	}
	return rc;
}

int
vhu_chain_walk(struct vhu_vq *vq, uint16_t head, const struct vring_desc *first,
	bool writable, uint32_t *nsegs, uint32_t room, uint64_t *total,
	uint16_t head_slot)
{
	const struct vring_desc *table = vq->desc;
	uint32_t tsize = vq->size, idx = head, count = 0;
	bool in_indirect = false, full = false;
	struct vring_desc d = *first;
	uint64_t len = 0;
	int rc;

	for (;;) {
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (in_indirect)
				return VHU_MAL_INDIRECT_NESTED;
			table = vhu_indirect_table(vq, &d, count, &tsize, &rc);
			if (table == NULL)
				return rc;
			in_indirect = true;
			desc_fetch(&table[0], &d);
			continue;
		}
		if (++count > tsize)
			return VHU_MAL_LOOP;
		rc = vhu_walk_buffer(vq, &d, writable, nsegs, room, head_slot,
			&full);
		if (rc != WALK_OK)
			return rc;
		len += d.len;
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		idx = d.next;
		if (idx >= tsize)
			return VHU_MAL_NEXT_INDEX;
		desc_fetch(&table[idx], &d);
	}
	*total = len;
	return full ? WALK_SEGS_FULL : WALK_OK;
}

/* ---- publish and notify ---- */

static inline uint16_t *
used_event_ptr(struct vhu_vq *vq)
{
	return &vq->avail->ring[vq->size];
}

static inline uint16_t *
avail_event_ptr(struct vhu_vq *vq)
{
	return (uint16_t *)(void *)&vq->used->ring[vq->size];
}

/* Write the call eventfd if the guest asked to hear about used entries
 * old..new_idx (EVENT_IDX: used_event passed; else no NO_INTERRUPT). */
static void
ring_notify(struct vhu_vq *vq, uint16_t old, uint16_t new_idx)
{
	bool need;

	/* Order the used idx store before reading the guest's request. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_idx)
		need = vring_need_event(load16(used_event_ptr(vq)), new_idx,
			old);
	else
		need = !(load16(&vq->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
	if (need && vq->callfd >= 0) {
		uint64_t one = 1;
		ssize_t r = write(vq->callfd, &one, sizeof(one));

		RTE_SET_USED(r);
		VHU_STAT_ADD(vq, notify_sent, 1);
	} else {
		VHU_STAT_ADD(vq, notify_suppressed, 1);
	}
}

/* Dirty-log the used entries last_used .. last_used + n - 1. */
static void
log_used_entries(struct vhu_vq *vq, uint16_t n)
{
	uint16_t first = vq->last_used & vq->mask;
	uint32_t till_end = (uint32_t)vq->size - first;

	if (n > till_end) {
		log_used(vq, 4 + 8ull * first, 8ull * till_end);
		log_used(vq, 4, 8ull * (n - till_end));
	} else {
		log_used(vq, 4 + 8ull * first, 8ull * n);
	}
}

/* vhu_ring_publish() of a queue that logs its used ring (migration) or
 * tracks what is in flight: the used entries and index dirty-logged; the
 * batch recorded before used->idx moves, cleared after (vhu_inflight.h). */
static void __rte_noinline
ring_publish_slow(struct vhu_vq *vq, uint16_t n)
{
	uint16_t old = vq->last_used;
	uint16_t new_idx = (uint16_t)(old + n);

	if (vq->log_used)
		log_used_entries(vq, n);
	if (vq->infl != NULL)
		vhu_infl_publish_begin(vq, n);
	__atomic_store_n(&vq->used->idx, new_idx, __ATOMIC_RELEASE);
	log_used(vq, 2, 2);
	if (vq->infl != NULL)
		vhu_infl_publish_end(vq, n);
	vq->last_used = new_idx;
	ring_notify(vq, old, new_idx);
}

void
vhu_ring_publish(struct vhu_vq *vq, uint16_t n)
{
	uint16_t old = vq->last_used;
	uint16_t new_idx = (uint16_t)(old + n);

	if (vq->packed) {
		vhu_pk_publish(vq, n);
		return;
	}
	if (unlikely(vq->publish_slow)) {
		ring_publish_slow(vq, n);
		return;
	}
	__atomic_store_n(&vq->used->idx, new_idx, __ATOMIC_RELEASE);
	vq->last_used = new_idx;
	ring_notify(vq, old, new_idx);
}

/* With EVENT_IDX and kicks wanted: ask for a kick after last_avail. */
void
vhu_ring_want_kick(struct vhu_vq *vq)
{
	if (vq->packed) {
		vhu_pk_want_kick(vq);
		return;
	}
	store16(avail_event_ptr(vq), vq->last_avail);
	log_used(vq, 4 + 8ull * vq->size, 2);
}

int
vhu_queue_notify(struct vhu_dev *dev, uint16_t queue_pair, bool enable)
{
	struct vhu_vq *vq;
	int pending = 0;

	if (dev == NULL || queue_pair >= dev->nr_qp)
		return -EINVAL;
	vq = &dev->vqs[2 * queue_pair + 1];
	if (!vq_enter(vq))
		return -EAGAIN;
	__atomic_store_n(&vq->notify_on, enable, __ATOMIC_RELAXED);
	if (vq->packed) {
		vhu_pk_kick_request(vq, enable);
	} else if (vq->event_idx) {
		if (enable)
			vhu_ring_want_kick(vq);
	} else {
		store16(&vq->used->flags, enable ? 0 : VRING_USED_F_NO_NOTIFY);
		log_used(vq, 0, 2);
	}
	if (enable) {
		/* Publish the request before re-reading the ring: a buffer
		 * added before the guest saw it would never be kicked. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		pending = vq->packed ? vhu_pk_pending(vq) :
			__atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE) !=
			vq->last_avail;
		/* Completed zero-copy chains are work too. */
		if (!pending)
			pending = vhu_vq_zc_pending(vq);
		/* Whoever sleeps on the kick fd next must wake at once. The
		 * fd cannot change while we are inside (quiesce). */
		if (pending && vq->kickfd >= 0) {
			uint64_t one = 1;
			ssize_t r = write(vq->kickfd, &one, sizeof(one));

			RTE_SET_USED(r);
		}
	}
	vq_leave(vq);
	return pending;
}

/* Control thread, queue quiesced: initial notification state. */
void
vhu_vq_ring_init_notify(struct vhu_vq *vq)
{
	__atomic_store_n(&vq->notify_on, false, __ATOMIC_RELAXED);
	if (vq->packed) {
		vhu_pk_kick_request(vq, false);
	} else if (!vq->event_idx) {
		store16(&vq->used->flags, VRING_USED_F_NO_NOTIFY);
		log_used(vq, 0, 2);
	}
}
