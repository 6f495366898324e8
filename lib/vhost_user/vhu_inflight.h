/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * In-flight tracking (VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD), split rings.
 *
 * The front-end keeps a shared memory region (GET_INFLIGHT_FD creates it
 * here, SET_INFLIGHT_FD hands it back at every start, across back-end
 * restarts) in which the back-end records, per virtqueue, which head
 * descriptors it took from the avail ring and has not returned yet, in
 * the order it took them. A back-end that comes back after a crash reads
 * it and processes those chains again, before new avail entries.
 *
 * Layout of one queue's part (vhost-user specification, "Inflight I/O
 * tracking"; parts are VHU_INFL_ALIGN-aligned, one after the other):
 *
 *   u64 features, u16 version, u16 desc_num, u16 last_batch_head,
 *   u16 used_idx, then desc_num entries of
 *   { u8 inflight, u8 padding[5], u16 next, u64 counter }
 *
 * Data path (the hooks are called once per burst, only when the queue
 * tracks: vq->infl != NULL):
 *   vhu_infl_take()     after the fetch: every head the burst took from
 *                       the avail ring (since the last take) gets the
 *                       next counter and inflight = 1, before any of
 *                       them is published
 *   vhu_infl_publish_begin() / _end()   around the used->idx store: the
 *                       burst's heads are linked through `next` from
 *                       last_batch_head before it, cleared and used_idx
 *                       set after it, so a crash between the two is
 *                       repaired at the next start
 *
 * Resubmission: at ring start the heads still in flight are put, in
 * counter order, into a ring of our own (a "shadow" avail ring) which
 * the burst fetches from until it is used up, then the guest's avail
 * ring again, from used->idx + the number resubmitted. The burst stages
 * do not know.
 */

#ifndef VMLINK_VHU_INFLIGHT_H
#define VMLINK_VHU_INFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vhu_dev;
struct vhu_vq;
struct vring_avail;
struct vhu_inflight_desc;

#define VHU_INFL_VERSION	1u
#define VHU_INFL_ALIGN		64u
/* What a GET_INFLIGHT_FD may ask for: a part per virtqueue of a ring
 * of up to 32768 entries (the library's limit). */
#define VHU_INFL_MAX_QUEUE_SIZE	32768u

struct vhu_infl_desc {
	uint8_t inflight;
	uint8_t padding[5];
	uint16_t next;
	uint64_t counter;
};

struct vhu_infl_split {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t last_batch_head;
	uint16_t used_idx;
	struct vhu_infl_desc desc[];
};

/* A virtqueue's tracking state. */
struct vhu_infl_vq {
	struct vhu_infl_split *region;	/* its part of the mapping */
	uint64_t counter;		/* order number of the next take */
	struct vring_avail *shadow;	/* resubmission ring (ours) */
	struct vring_avail *guest_avail; /* the guest's, while resubmitting */
	uint16_t resume_avail;		/* guest ring position after them */
	uint16_t mark_pos;		/* last_avail at the last take */
	bool resubmitting;		/* the burst fetches from shadow */
	bool packed_logged;
};

/* The device's region (the last GET_INFLIGHT_FD or SET_INFLIGHT_FD). */
struct vhu_infl {
	uint8_t *base;
	void *map_addr;
	size_t map_len;
	uint64_t size;
	uint16_t num_queues;
	uint16_t queue_size;
};

/* Bytes of one queue's part for rings of @p queue_size entries. */
uint64_t vhu_infl_queue_bytes(uint32_t queue_size);

/* Control thread: GET_INFLIGHT_FD (a new sealed memfd, mapped; *fd to
 * send back, then close) and SET_INFLIGHT_FD (map the front-end's).
 * 0, or -1 with *why; the device is unchanged on failure. */
int vhu_infl_get(struct vhu_dev *dev, struct vhu_inflight_desc *d, int *fd,
	const char **why);
int vhu_infl_set(struct vhu_dev *dev, const struct vhu_inflight_desc *d,
	int fd, const char **why);
/* Unmap the region (disconnect, destroy); every queue stopped. */
void vhu_infl_release(struct vhu_dev *dev);

/* Control thread, queue quiesced, at its first resume after a start:
 * attach the queue to its part of the region, repair it, queue what was
 * in flight for resubmission. False when the queue does not track (no
 * region, packed ring): the caller reconciles the base as before. A
 * region that does not fit the ring faults the queue (true). */
bool vhu_infl_ring_start(struct vhu_dev *dev, struct vhu_vq *vq);
/* The queue stops (GET_VRING_BASE, reset, disconnect): back to the
 * guest's avail ring at the position it would have reached. */
void vhu_infl_ring_stop(struct vhu_vq *vq);
/* vq_map(): the guest's avail ring moved to @p avail; returns what the
 * burst should fetch from. The guest's ring, for comparisons. */
struct vring_avail *vhu_infl_fetch_ring(struct vhu_vq *vq,
	struct vring_avail *avail);
struct vring_avail *vhu_infl_guest_avail(const struct vhu_vq *vq);

/* Data path hooks (see above). */
void vhu_infl_take(struct vhu_vq *vq);
void vhu_infl_publish_begin(struct vhu_vq *vq, uint16_t n);
void vhu_infl_publish_end(struct vhu_vq *vq, uint16_t n);

#endif /* VMLINK_VHU_INFLIGHT_H */
