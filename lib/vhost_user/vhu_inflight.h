/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * In-flight tracking (VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD).
 *
 * The front-end keeps a shared memory region (GET_INFLIGHT_FD creates it
 * here, SET_INFLIGHT_FD hands it back at every start, across back-end
 * restarts) in which the back-end records, per virtqueue, which head
 * descriptors it took from the avail ring and has not returned yet, in
 * the order it took them. A back-end that comes back after a crash reads
 * it and processes those chains again, before new avail entries.
 *
 * Layout of a split queue's part (vhost-user specification, "Inflight
 * I/O tracking"; parts are VHU_INFL_ALIGN-aligned, one after the other):
 *
 *   u64 features, u16 version, u16 desc_num, u16 last_batch_head,
 *   u16 used_idx, then desc_num entries of
 *   { u8 inflight, u8 padding[5], u16 next, u64 counter }
 *
 * Split data path (the hooks are called once per burst, only when the
 * queue tracks: vq->infl != NULL):
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
 *
 * Packed rings (vhu_inflight_packed.c) have their own layout: used
 * elements are written over the descriptors of chains still out, so the
 * region keeps a copy of every descriptor taken, in entries from a free
 * list:
 *
 *   u64 features, u16 version, u16 desc_num, u16 free_head,
 *   u16 old_free_head, u16 used_idx, u16 old_used_idx,
 *   u8 used_wrap_counter, u8 old_used_wrap_counter, 7 bytes padding,
 *   then desc_num entries of { u8 inflight, u8 padding, u16 next,
 *   u16 last, u16 num, u64 counter, u16 id, u16 flags, u32 len, u64 addr }
 *
 *   vhu_infl_pk_take()   per chain, at its fetch, before its frame is
 *                        touched: its descriptors into entries off the
 *                        free list, the head entry in flight; committed
 *                        by old_free_head
 *   vhu_infl_pk_publish_begin() / _end()   around the store of the
 *                        burst's first used flags: the burst's chains
 *                        back on the free list and used_idx moved before
 *                        it, cleared and the old_ fields moved after it;
 *                        a start that finds used_idx != old_used_idx
 *                        looks at the ring to commit or roll that back
 *
 * The data path only writes the region; what it needs back (links, the
 * free head, which entry a buffer id holds) it keeps in memory of its
 * own, rebuilt from the checked region at ring start. The resubmitted
 * chains' descriptors go into a descriptor ring of our own which the
 * fetch reads (vq->pk_fetch) until it is used up.
 */

#ifndef VMLINK_VHU_INFLIGHT_H
#define VMLINK_VHU_INFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vhu_dev;
struct vhu_vq;
struct vring_avail;
struct vring_packed_desc;
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

struct vhu_infl_pk_desc {
	uint8_t inflight;
	uint8_t padding;
	uint16_t next;
	uint16_t last;
	uint16_t num;
	uint64_t counter;
	uint16_t id;
	uint16_t flags;
	uint32_t len;
	uint64_t addr;
};

struct vhu_infl_packed {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t free_head;
	uint16_t old_free_head;
	uint16_t used_idx;
	uint16_t old_used_idx;
	uint8_t used_wrap_counter;
	uint8_t old_used_wrap_counter;
	uint8_t padding[7];
	struct vhu_infl_pk_desc desc[];
};

/* No entry (packed: the end of a list, a buffer id not in flight). */
#define VHU_INFL_NONE	UINT16_MAX

/* A packed queue's own copy of what its data path needs back. */
struct vhu_infl_pk {
	uint16_t *next;		/* desc_num: the entries' links */
	uint16_t *last;		/* desc_num: a head entry's last entry */
	uint16_t *ent;		/* ring size: a buffer id's head entry */
	uint16_t *batch;	/* ring size: head entries of the burst's
				 * used elements */
	struct vring_packed_desc *shadow;	/* resubmission ring (ours) */
	struct vring_packed_desc *guest;	/* the guest's, meanwhile */
	uint16_t free;		/* head of the free list */
	uint16_t resume_idx;	/* guest ring position after the */
	bool resume_wrap;	/* resubmitted chains */
};

/* A virtqueue's tracking state. */
struct vhu_infl_vq {
	struct vhu_infl_split *region;	/* its part of the mapping */
	struct vhu_infl_packed *pk_region; /* packed: the same part */
	uint64_t counter;		/* order number of the next take */
	struct vring_avail *shadow;	/* resubmission ring (ours) */
	struct vring_avail *guest_avail; /* the guest's, while resubmitting */
	uint16_t resume_avail;		/* guest ring position after them */
	uint16_t mark_pos;		/* last_avail at the last take */
	bool resubmitting;		/* the burst fetches from shadow */
	struct vhu_infl_pk pk;		/* packed */
};

/* The device's region (the last GET_INFLIGHT_FD or SET_INFLIGHT_FD). */
struct vhu_infl {
	uint8_t *base;
	void *map_addr;
	size_t map_len;
	uint64_t size;
	uint16_t num_queues;
	uint16_t queue_size;
	bool packed;		/* laid out for packed rings (the features
				 * negotiated when it was got or set) */
};

/* Bytes of one queue's part for rings of @p queue_size entries. */
uint64_t vhu_infl_queue_bytes(uint32_t queue_size, bool packed);

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
/* vq_map(): the guest's rings moved (split @p avail, packed @p desc):
 * vq->avail and vq->pk_fetch are what the burst should fetch from. The
 * guest's avail ring, for comparisons. */
void vhu_infl_map(struct vhu_vq *vq, struct vring_avail *avail,
	struct vring_packed_desc *desc);
struct vring_avail *vhu_infl_guest_avail(const struct vhu_vq *vq);

/* Data path hooks (see above). vhu_infl_take() ends every burst of a
 * tracking queue (split: the marks; both: a used-up resubmission ring). */
void vhu_infl_take(struct vhu_vq *vq);
void vhu_infl_publish_begin(struct vhu_vq *vq, uint16_t n);
void vhu_infl_publish_end(struct vhu_vq *vq, uint16_t n);

/* Packed (vhu_inflight_packed.c). The chain of @p ndesc descriptors at
 * fetch-ring position @p idx, buffer @p id (its first descriptor
 * @p first as read, or NULL): WALK_OK, or the malformed reason (a buffer
 * id already in flight). _untake() gives back the chain just taken (its
 * frame could not be processed: it stays in the ring). */
int vhu_infl_pk_take(struct vhu_vq *vq, uint16_t idx,
	const struct vring_packed_desc *first, uint16_t ndesc, uint16_t id);
void vhu_infl_pk_untake(struct vhu_vq *vq, uint16_t id);
/* Used element @p k of this burst (of a ring of @p size) returns buffer
 * @p id: no longer out once its used element is written (the guest
 * cannot make it available again before it sees it), its head entry
 * goes into the burst's batch. */
static inline void
vhu_infl_pk_used(struct vhu_infl_vq *iv, uint16_t size, uint16_t k,
	uint16_t id)
{
	if (k < size) {
		iv->pk.batch[k] = iv->pk.ent[id];
		iv->pk.ent[id] = VHU_INFL_NONE;
	}
}
void vhu_infl_pk_publish_begin(struct vhu_vq *vq, uint16_t n);
void vhu_infl_pk_publish_end(struct vhu_vq *vq, uint16_t n);
/* Ring start, stop, the end of a burst (see above). */
const char *vhu_infl_pk_start(struct vhu_dev *dev, struct vhu_vq *vq,
	struct vhu_infl_packed *r);
void vhu_infl_pk_stop(struct vhu_vq *vq);
void vhu_infl_pk_burst_end(struct vhu_vq *vq);
/* The part of queue @p q, the sort of what is in flight (shared). */
void *vhu_infl_part(const struct vhu_infl *in, uint16_t q);
struct vhu_infl_ent {
	uint64_t counter;
	uint16_t head;
	uint16_t id;		/* packed: its buffer id */
};
void vhu_infl_sort(struct vhu_infl_ent *ent, uint32_t n);

#endif /* VMLINK_VHU_INFLIGHT_H */
