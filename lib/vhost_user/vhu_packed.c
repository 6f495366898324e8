/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Packed-ring code both directions share (see vhu_packed.h): the general
 * chain walk (consecutive descriptors, indirect tables), publishing used
 * elements, event suppression both ways, the ring base of
 * GET/SET_VRING_BASE.
 */

#include "vhu_packed.h"

/* ---- translate: the general chain ---- */

/* An indirect table of packed descriptors, all of them used in order
 * (NEXT means nothing inside it). */
static int
pk_walk_indirect(struct vhu_vq *vq, const struct vring_desc *v, uint32_t count,
	bool writable, uint32_t *nsegs, uint32_t room, uint16_t head_slot,
	uint64_t *len, bool *full)
{
	const struct vring_packed_desc *table;
	struct vring_packed_desc d;
	struct vring_desc e;
	uint32_t tsize, i;
	int rc;

	table = (const void *)vhu_indirect_table(vq, v, count, &tsize, &rc);
	if (table == NULL)
		return rc;
	for (i = 0; i < tsize; i++) {
		pk_desc_fetch(&table[i], &d);
		e = pk_view(&d);
		if (e.flags & VRING_DESC_F_INDIRECT)
			return VHU_MAL_INDIRECT_NESTED;
		/* DPDK's virtio PMD leaves WRITE on the header entry of its
		 * TX tables; a buffer the device only reads is safe either
		 * way (DPDK's vhost ignores the flag too). */
		if (!writable)
			e.flags &= (uint16_t)~VRING_DESC_F_WRITE;
		rc = vhu_walk_buffer(vq, &e, writable, nsegs, room, head_slot,
			full);
		if (rc != WALK_OK)
			return rc;
		*len += e.len;
	}
	return WALK_OK;
}

int
vhu_pk_walk(struct vhu_vq *vq, struct vhu_pk_pos *pos,
	const struct vring_packed_desc *first, bool writable, uint32_t *nsegs,
	uint32_t room, uint64_t *total, uint16_t head_slot, uint16_t *id,
	uint16_t *ndesc)
{
	struct vring_packed_desc d = *first;
	uint32_t count = 0;
	uint64_t len = 0;
	bool full = false;
	int rc;

	for (;;) {
		struct vring_desc v = pk_view(&d);

		/* Consecutive descriptors: longer than the ring is a loop. */
		if (count >= vq->size)
			return VHU_MAL_LOOP;
		if (v.flags & VRING_DESC_F_INDIRECT) {
			rc = pk_walk_indirect(vq, &v, count, writable, nsegs,
				room, head_slot, &len, &full);
		} else {
			rc = vhu_walk_buffer(vq, &v, writable, nsegs, room,
				head_slot, &full);
			len += v.len;
		}
		if (rc != WALK_OK)
			return rc;
		count++;
		pk_advance(vq, pos, 1);
		if (!(v.flags & VRING_DESC_F_NEXT))
			break;
		pk_desc_fetch(&vq->pk_fetch[pos->idx], &d);
	}
	*id = d.id;
	*ndesc = (uint16_t)count;
	*total = len;
	return full ? WALK_SEGS_FULL : WALK_OK;
}

/* ---- publish and notify ---- */

void
vhu_pk_used_slow(struct vhu_vq *vq, uint16_t k, uint16_t idx, uint16_t id)
{
	if (k > 0)
		pk_log_desc(vq, idx);
	if (vq->infl != NULL)
		vhu_infl_pk_used(vq->infl, vq->size, k, id);
}

/* A position as a count modulo twice the ring size: the wrap counter
 * starts at 1, so (idx, 1) counts from 0 and (idx, 0) from size. */
static inline uint32_t
pk_linear(const struct vhu_vq *vq, uint16_t idx, bool wrap)
{
	return (uint32_t)idx + (wrap ? 0u : vq->size);
}

/*
 * Did the guest ask to hear about used elements old .. new (exclusive)?
 * Its driver event structure says never, always, or (EVENT_IDX) when the
 * element at off_wrap is written.
 */
static bool
pk_need_notify(struct vhu_vq *vq, uint32_t old, uint32_t new_lin)
{
	uint16_t flags, off_wrap;
	uint32_t mask = 2u * vq->size - 1, evt;

	flags = __atomic_load_n(&vq->driver_event->flags, __ATOMIC_ACQUIRE);
	if (flags == VRING_PACKED_EVENT_FLAG_DISABLE)
		return false;
	if (flags != VRING_PACKED_EVENT_FLAG_DESC || !vq->event_idx)
		return true;
	off_wrap = load16(&vq->driver_event->off_wrap);
	evt = pk_linear(vq, (uint16_t)(off_wrap & ~PK_WRAP_BIT) & vq->mask,
		!!(off_wrap & PK_WRAP_BIT));
	return ((new_lin - evt - 1) & mask) < ((new_lin - old) & mask);
}

static void
pk_notify(struct vhu_vq *vq, uint32_t old, uint32_t new_lin)
{
	/* Order the used elements before reading the guest's request. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (pk_need_notify(vq, old, new_lin) && vq->callfd >= 0) {
		uint64_t one = 1;
		ssize_t r = write(vq->callfd, &one, sizeof(one));

		RTE_SET_USED(r);
		VHU_STAT_ADD(vq, notify_sent, 1);
	} else {
		VHU_STAT_ADD(vq, notify_suppressed, 1);
	}
}

void
vhu_pk_publish(struct vhu_vq *vq, uint16_t n)
{
	uint32_t old = pk_linear(vq, vq->last_used, vq->used_wrap);

	if (n == 0)
		return;
	if (unlikely(vq->infl != NULL))
		vhu_infl_pk_publish_begin(vq, n);
	/* The first element's flags last: the guest takes the burst whole.
	 * Logged after that store: a log sync between the two (the
	 * front-end reads and clears the log while we run) must not see the
	 * page clean with the flags still to come. */
	__atomic_store_n(&vq->pdesc[vq->last_used].flags, vq->pk_head_flags,
		__ATOMIC_RELEASE);
	pk_log_desc(vq, vq->last_used);
	if (unlikely(vq->infl != NULL))
		vhu_infl_pk_publish_end(vq, n);
	vq->last_used = vq->pk_used_next;
	vq->used_wrap = vq->pk_used_bits != 0;
	pk_notify(vq, old, pk_linear(vq, vq->last_used, vq->used_wrap));
}

/* Our device event structure: kicks wanted or not (EVENT_IDX: from the
 * descriptor at last_avail on). */
void
vhu_pk_kick_request(struct vhu_vq *vq, bool enable)
{
	uint16_t flags = VRING_PACKED_EVENT_FLAG_DISABLE;

	if (enable && vq->event_idx) {
		store16(&vq->device_event->off_wrap, (uint16_t)(vq->last_avail |
			(vq->avail_wrap ? PK_WRAP_BIT : 0)));
		flags = VRING_PACKED_EVENT_FLAG_DESC;
	} else if (enable) {
		flags = VRING_PACKED_EVENT_FLAG_ENABLE;
	}
	__atomic_store_n(&vq->device_event->flags, flags, __ATOMIC_RELEASE);
	log_used(vq, 0, sizeof(*vq->device_event));
}

void
vhu_pk_want_kick(struct vhu_vq *vq)
{
	vhu_pk_kick_request(vq, true);
}

/* Has the guest made a descriptor available at last_avail? */
bool
vhu_pk_pending(const struct vhu_vq *vq)
{
	uint16_t flags = __atomic_load_n(&vq->pk_fetch[vq->last_avail].flags,
		__ATOMIC_ACQUIRE);

	return pk_is_avail(flags, vq->avail_wrap);
}

/* ---- ring base ---- */

uint32_t
vhu_packed_base_get(const struct vhu_vq *vq)
{
	return (uint32_t)vq->last_avail | (vq->avail_wrap ? PK_WRAP_BIT : 0) |
		((uint32_t)vq->last_used << 16) |
		(vq->used_wrap ? (uint32_t)PK_WRAP_BIT << 16 : 0);
}

/*
 * Bits 0-15: avail position and wrap counter; 16-31: used. A front-end
 * that sends only the avail half (DPDK's virtio-user: 0x8000 for a fresh
 * ring) stopped the ring with nothing in flight: used = avail.
 */
void
vhu_packed_base_set(struct vhu_vq *vq, uint32_t num)
{
	uint16_t avail = (uint16_t)num, used = (uint16_t)(num >> 16);

	if (used == 0)
		used = avail;
	/* Positions are checked against the size when the ring is mapped. */
	vq->last_avail = avail & ~PK_WRAP_BIT;
	vq->avail_wrap = !!(avail & PK_WRAP_BIT);
	vq->last_used = used & ~PK_WRAP_BIT;
	vq->used_wrap = !!(used & PK_WRAP_BIT);
}
