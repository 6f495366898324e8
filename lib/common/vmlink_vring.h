/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Virtqueues as both of vmlink's transports use them: the guests'
 * rings of vhost-user ports (lib/vhost_user: split and packed) and
 * ivshmem-net's split rings in
 * the peers' output sections (lib/ivshmem2).
 *
 * The layout (struct vring_desc, vring_avail, vring_used), the flags and
 * the event-index test (vring_need_event) are the Linux UAPI's
 * <linux/virtio_ring.h> (virtio 1.x, 2.7); vmlink runs on little-endian
 * hosts only, where its __virtio16/32/64 are the plain integers. This
 * adds the sizes of the ring parts and the hand-over between a data path
 * and its control path. Header only; no DPDK.
 */

#ifndef VMLINK_VRING_H
#define VMLINK_VRING_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/virtio_ring.h>

_Static_assert(sizeof(struct vring_desc) == 16, "vring desc is 16 bytes");
_Static_assert(sizeof(struct vring_used_elem) == 8, "used elem is 8 bytes");

/* Largest split ring (virtio: Queue Size <= 32768). */
#define VMLINK_VRING_MAX_SIZE	32768u

/* Bytes of each part of a ring of @p num entries. */
static inline uint64_t
vmlink_vring_desc_size(uint32_t num)
{
	return sizeof(struct vring_desc) * (uint64_t)num;
}

static inline uint64_t
vmlink_vring_avail_size(uint32_t num)
{
	return 4ull + 2ull * num + 2ull;	/* flags, idx, ring, used_event */
}

static inline uint64_t
vmlink_vring_used_size(uint32_t num)
{
	return 4ull + 8ull * num + 2ull;	/* flags, idx, ring, avail_event */
}

/* Packed rings (virtio 1.1+, VIRTIO_F_RING_PACKED): the UAPI's struct
 * vring_packed_desc and struct vring_packed_desc_event; the driver and
 * device areas are one event structure each. */
_Static_assert(sizeof(struct vring_packed_desc) == 16,
	"packed desc is 16 bytes");
_Static_assert(sizeof(struct vring_packed_desc_event) == 4,
	"packed event structure is 4 bytes");

static inline uint64_t
vmlink_vring_packed_desc_size(uint32_t num)
{
	return sizeof(struct vring_packed_desc) * (uint64_t)num;
}

static inline uint64_t
vmlink_vring_packed_event_size(void)
{
	return sizeof(struct vring_packed_desc_event);
}

/*
 * Data path / control path hand-over, without a lock on the data path.
 *
 * The control path owns a queue whenever the data path is not inside a
 * burst. A burst enters with vmlink_burst_enter() (false: the queue is
 * not open, go away) and leaves with vmlink_burst_leave(). To take the
 * queue, the control path calls vmlink_quiesce_start() and waits while
 * vmlink_burst_running(); both sides store, then fence, then load, so
 * either the burst sees the queue closed or the control path sees the
 * burst (Dekker). vmlink_queue_open() hands the queue back; everything the
 * control path wrote before is visible to the bursts that enter after it.
 * @p open may also be cleared by the data path itself (a fault).
 *
 * @p inside counts entries and exits (odd: inside a burst; only the data
 * path writes it), so the control path can also wait, without closing
 * the queue, until every burst that may have read something it replaced
 * is over (a grace period: vmlink_burst_seq(), then vmlink_burst_passed()).
 */
static inline bool
vmlink_burst_enter(const uint32_t *open, uint32_t *inside)
{
	uint32_t seq;

	if (!__atomic_load_n(open, __ATOMIC_RELAXED))
		return false;
	seq = __atomic_load_n(inside, __ATOMIC_RELAXED);
	__atomic_store_n(inside, seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__builtin_expect(__atomic_load_n(open, __ATOMIC_ACQUIRE) != 0, 1))
		return true;
	__atomic_store_n(inside, seq + 2, __ATOMIC_RELEASE);
	return false;
}

static inline void
vmlink_burst_leave(uint32_t *inside)
{
	__atomic_store_n(inside, __atomic_load_n(inside, __ATOMIC_RELAXED) + 1,
		__ATOMIC_RELEASE);
}

static inline void
vmlink_quiesce_start(uint32_t *open)
{
	__atomic_store_n(open, 0, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static inline bool
vmlink_burst_running(const uint32_t *inside)
{
	return (__atomic_load_n(inside, __ATOMIC_ACQUIRE) & 1) != 0;
}

/* Grace period: after the control path published a pointer (release
 * store, then this fence and load), bursts entering later read the new
 * one; the burst running now, if any, is over once
 * vmlink_burst_passed() says so. */
static inline uint32_t
vmlink_burst_seq(const uint32_t *inside)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(inside, __ATOMIC_ACQUIRE);
}

static inline bool
vmlink_burst_passed(const uint32_t *inside, uint32_t seq)
{
	return (seq & 1) == 0 ||
		__atomic_load_n(inside, __ATOMIC_ACQUIRE) != seq;
}

static inline void
vmlink_queue_open(uint32_t *open)
{
	__atomic_store_n(open, 1, __ATOMIC_RELEASE);
}

#endif /* VMLINK_VRING_H */
