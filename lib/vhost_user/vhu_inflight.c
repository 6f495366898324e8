/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * In-flight tracking (VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD): the region
 * GET/SET_INFLIGHT_FD hand over, its repair and the resubmission of what
 * it holds at ring start, and the data-path hooks (see vhu_inflight.h).
 *
 * The region is the front-end's memory as much as ours: every value read
 * from it is checked before it is used as an index, and a region that
 * does not fit its ring stops that queue only (malformed_inflight_region).
 */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <rte_malloc.h>

#include "vhu_ring.h"

_Static_assert(sizeof(struct vhu_infl_split) == 16 &&
	sizeof(struct vhu_infl_desc) == 16, "split layout of the specification");
_Static_assert(sizeof(struct vhu_infl_packed) == 32 &&
	offsetof(struct vhu_infl_packed, desc) == 32 &&
	sizeof(struct vhu_infl_pk_desc) == 32, "packed layout of the specification");

uint64_t
vhu_infl_queue_bytes(uint32_t queue_size, bool packed)
{
	uint64_t b = packed ?
		sizeof(struct vhu_infl_packed) +
		(uint64_t)queue_size * sizeof(struct vhu_infl_pk_desc) :
		sizeof(struct vhu_infl_split) +
		(uint64_t)queue_size * sizeof(struct vhu_infl_desc);

	return RTE_ALIGN_CEIL(b, (uint64_t)VHU_INFL_ALIGN);
}

void *
vhu_infl_part(const struct vhu_infl *in, uint16_t q)
{
	return in->base + vhu_infl_queue_bytes(in->queue_size, in->packed) * q;
}

/* The format the device's rings will have: what the front-end
 * negotiated (QEMU sends SET_FEATURES before either message). */
static bool
infl_packed(const struct vhu_dev *dev)
{
	return !!(dev->features & (1ull << VHU_F_RING_PACKED));
}

/* ---- GET_INFLIGHT_FD / SET_INFLIGHT_FD ---- */

/* The sizes a message asks for: 1..(virtqueues of the device) parts of
 * 1..32768 entries. */
static int
infl_check_sizes(const struct vhu_dev *dev, const struct vhu_inflight_desc *d,
	const char **why)
{
	if (d->num_queues == 0 || d->num_queues > dev->nr_vq) {
		*why = "num_queues is 0 or more than the device's virtqueues";
		return -1;
	}
	if (d->queue_size == 0 || d->queue_size > VHU_INFL_MAX_QUEUE_SIZE) {
		*why = "queue_size is 0 or above 32768";
		return -1;
	}
	return 0;
}

/* The region is read at ring start and written by running rings: it is
 * replaced only while none runs (QEMU sends both before its start). */
static int
infl_check_stopped(const struct vhu_dev *dev, const char **why)
{
	uint16_t i;

	for (i = 0; i < dev->nr_vq; i++) {
		if (dev->vqs[i].started) {
			*why = "rings are running: the in-flight region changes only before they start";
			return -1;
		}
	}
	return 0;
}

void
vhu_infl_release(struct vhu_dev *dev)
{
	uint16_t i;

	for (i = 0; i < dev->nr_vq; i++)
		vhu_infl_ring_stop(&dev->vqs[i]);
	if (dev->infl.map_addr != NULL)
		vhu_fd_unmap(dev->infl.map_addr, dev->infl.map_len);
	memset(&dev->infl, 0, sizeof(dev->infl));
}

static void
infl_install(struct vhu_dev *dev, const struct vhu_infl *in)
{
	vhu_infl_release(dev);
	dev->infl = *in;
}

/* A new region: a sealed memfd (it can neither shrink under our mapping
 * nor grow), every part's header written, nothing in flight. */
int
vhu_infl_get(struct vhu_dev *dev, struct vhu_inflight_desc *d, int *fd,
	const char **why)
{
	struct vhu_infl in;
	uint16_t q;
	int mfd;

	if (infl_check_sizes(dev, d, why) != 0 ||
			infl_check_stopped(dev, why) != 0)
		return -1;
	memset(&in, 0, sizeof(in));
	in.num_queues = d->num_queues;
	in.queue_size = d->queue_size;
	in.packed = infl_packed(dev);
	in.size = vhu_infl_queue_bytes(d->queue_size, in.packed) *
		d->num_queues;
	mfd = memfd_create("vhu-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0) {
		*why = "memfd_create failed";
		return -1;
	}
	if (ftruncate(mfd, (off_t)in.size) != 0 ||
			fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
				F_SEAL_SEAL) != 0) {
		close(mfd);
		*why = "could not size or seal the in-flight memfd";
		return -1;
	}
	in.base = vhu_fd_map(dev, mfd, 0, in.size, &in.map_addr, &in.map_len,
		why);
	if (in.base == NULL) {
		close(mfd);
		return -1;
	}
	/* packed parts stay zero (version 0: not used yet); their first
	 * ring start lays them out from the ring's base */
	for (q = 0; q < in.num_queues && !in.packed; q++) {
		struct vhu_infl_split *r = vhu_infl_part(&in, q);

		r->version = VHU_INFL_VERSION;
		r->desc_num = in.queue_size;
	}
	infl_install(dev, &in);
	d->mmap_size = in.size;
	d->mmap_offset = 0;
	*fd = mfd;
	VHU_LOG(INFO, dev, "in-flight region created: %u virtqueue(s) of %u entries, %" PRIu64 " bytes, %s layout",
		in.num_queues, in.queue_size, in.size,
		in.packed ? "packed" : "split");
	return 0;
}

/* The front-end's region (ours from an earlier GET, across our restart,
 * or one it made): its file checked as guest memory is, mapped guarded
 * (a file truncated later ends the session, not the process). */
int
vhu_infl_set(struct vhu_dev *dev, const struct vhu_inflight_desc *d, int fd,
	const char **why)
{
	struct vhu_infl in;
	uint64_t need;
	bool packed = infl_packed(dev);

	if (infl_check_sizes(dev, d, why) != 0 ||
			infl_check_stopped(dev, why) != 0)
		return -1;
	need = vhu_infl_queue_bytes(d->queue_size, packed) * d->num_queues;
	if (d->mmap_size < need) {
		*why = "mmap_size is smaller than num_queues parts of queue_size entries";
		return -1;
	}
	if (d->mmap_offset + d->mmap_size < d->mmap_offset) {
		*why = "mmap_offset + mmap_size overflows";
		return -1;
	}
	if (d->mmap_offset % sizeof(uint64_t) != 0) {
		*why = "mmap_offset is not 8-byte aligned";
		return -1;
	}
	memset(&in, 0, sizeof(in));
	in.num_queues = d->num_queues;
	in.queue_size = d->queue_size;
	in.packed = packed;
	in.size = need;
	in.base = vhu_fd_map(dev, fd, d->mmap_offset, d->mmap_size,
		&in.map_addr, &in.map_len, why);
	if (in.base == NULL)
		return -1;
	infl_install(dev, &in);
	VHU_LOG(INFO, dev, "in-flight region set: %u virtqueue(s) of %u entries, %s layout",
		in.num_queues, in.queue_size, packed ? "packed" : "split");
	return 0;
}

/* ---- ring start: repair, then resubmission ---- */

/* A crash between the used->idx store of a batch and the end of its
 * bookkeeping left the batch marked: it was published, clear it (the
 * batch is the list from last_batch_head, used->idx - used_idx long). */
static const char *
infl_repair(const struct vhu_vq *vq, struct vhu_infl_split *r, uint16_t used)
{
	uint16_t n = (uint16_t)(used - r->used_idx);
	uint16_t h = r->last_batch_head, k;

	if (n > vq->size)
		return "its used_idx is more than a ring away from the ring's used index";
	for (k = 0; k < n; k++) {
		if (h >= vq->size)
			return "its last batch list points outside the ring";
		r->desc[h].inflight = 0;
		h = r->desc[h].next;
	}
	r->used_idx = used;
	return NULL;
}

static int
infl_ent_cmp(const void *a, const void *b)
{
	const struct vhu_infl_ent *x = a, *y = b;

	if (x->counter != y->counter)
		return x->counter < y->counter ? -1 : 1;
	return (int)x->head - (int)y->head;
}

/* In the order they were taken. */
void
vhu_infl_sort(struct vhu_infl_ent *ent, uint32_t n)
{
	qsort(ent, n, sizeof(*ent), infl_ent_cmp);
}

/* The heads still in flight, in the order they were taken, into
 * @p ent (vq->size entries); *n of them, *next_counter past the last. */
static const char *
infl_collect(const struct vhu_vq *vq, const struct vhu_infl_split *r,
	uint16_t desc_num, struct vhu_infl_ent *ent, uint32_t *n,
	uint64_t *next_counter)
{
	uint32_t i, k = 0;
	uint64_t top = 0;

	for (i = 0; i < desc_num; i++) {
		uint8_t f = r->desc[i].inflight;
		uint64_t c = r->desc[i].counter;

		if (f == 0)
			continue;
		if (f != 1)
			return "an entry's inflight flag is neither 0 nor 1";
		if (i >= vq->size)
			return "an entry in flight is outside the ring";
		ent[k].counter = c;
		ent[k].head = (uint16_t)i;
		k++;
		if (c >= top)
			top = c + 1;
	}
	vhu_infl_sort(ent, k);
	*n = k;
	*next_counter = top;
	return NULL;
}

/* Our avail ring for the resubmission: the heads, in order, then the
 * guest's requests (flags, used_event) mirrored from its own. */
static void
infl_mirror(struct vhu_vq *vq)
{
	struct vhu_infl_vq *iv = &vq->infl_state;

	iv->shadow->flags = load16(&iv->guest_avail->flags);
	iv->shadow->ring[vq->size] = load16(&iv->guest_avail->ring[vq->size]);
}

static const char *
infl_resubmit(struct vhu_dev *dev, struct vhu_vq *vq,
	const struct vhu_infl_ent *ent, uint32_t n)
{
	struct vhu_infl_vq *iv = &vq->infl_state;
	uint32_t k;

	iv->shadow = rte_zmalloc_socket("vhu_infl_shadow",
		sizeof(struct vring_avail) + sizeof(uint16_t) *
		((size_t)vq->size + 1), 0, dev->cfg.numa_node);
	if (iv->shadow == NULL)
		return "out of memory for the resubmission ring";
	for (k = 0; k < n; k++)
		iv->shadow->ring[k] = ent[k].head;
	iv->shadow->idx = (uint16_t)n;
	iv->guest_avail = vq->avail;
	infl_mirror(vq);
	iv->resume_avail = vq->last_avail;
	vq->avail = iv->shadow;
	vq->last_avail = 0;
	iv->resubmitting = true;
	VHU_STAT_ADD(vq, inflight_resubmitted, n);
	return NULL;
}

/* Repair the part, find what is in flight, set the ring's positions. */
static const char *
infl_start(struct vhu_dev *dev, struct vhu_vq *vq, struct vhu_infl_split *r)
{
	struct vhu_infl_vq *iv = &vq->infl_state;
	uint16_t used = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
	uint16_t avail = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
	uint16_t base = vq->last_avail, desc_num = r->desc_num;
	struct vhu_infl_ent *ent;
	const char *why;
	uint32_t n = 0;

	if (r->version == 0 && desc_num == 0) {
		/* a region the front-end made, never used: ours now */
		r->version = VHU_INFL_VERSION;
		r->desc_num = desc_num = dev->infl.queue_size;
		r->used_idx = used;
	}
	if (r->version != VHU_INFL_VERSION)
		return "its version is not 1";
	if (desc_num != dev->infl.queue_size || vq->size > desc_num)
		return "its desc_num is not the queue_size it was set with, or is below the ring size";
	why = infl_repair(vq, r, used);
	if (why != NULL)
		return why;
	ent = malloc(sizeof(*ent) * desc_num);
	if (ent == NULL)
		return "out of memory";
	why = infl_collect(vq, r, desc_num, ent, &n, &iv->counter);
	if (why == NULL && n > (uint16_t)(avail - used))
		why = "more chains in flight than the guest made available and did not get back";
	if (why == NULL) {
		vq->last_used = used;
		vq->last_avail = (uint16_t)(used + n);
		if (n > 0)
			why = infl_resubmit(dev, vq, ent, n);
	}
	free(ent);
	if (why != NULL)
		return why;
	if (n > 0 || base != (uint16_t)(used + n))
		VHU_LOG(INFO, dev, "queue %u: %u chain(s) taken and not returned before the stop go again first (in-flight region); the ring resumes at avail index %u (the front-end's base: %u)",
			vq->index, n, (uint16_t)(used + n), base);
	return NULL;
}

/* The part of the ring's format, repaired; what was in flight queued
 * for resubmission. */
static const char *
infl_format_start(struct vhu_dev *dev, struct vhu_vq *vq)
{
	struct vhu_infl_vq *iv = &vq->infl_state;
	void *part = vhu_infl_part(&dev->infl, vq->index);

	if (vq->packed != dev->infl.packed)
		return vq->packed ? "it was laid out for split rings (SET_FEATURES came after it)" :
			"it was laid out for packed rings";
	if (vq->packed) {
		iv->pk_region = part;
		return vhu_infl_pk_start(dev, vq, part);
	}
	iv->region = part;
	return infl_start(dev, vq, part);
}

bool
vhu_infl_ring_start(struct vhu_dev *dev, struct vhu_vq *vq)
{
	struct vhu_infl_vq *iv = &vq->infl_state;
	const char *why;

	vhu_infl_ring_stop(vq);
	if (dev->infl.base == NULL || vq->index >= dev->infl.num_queues)
		return false;
	why = infl_format_start(dev, vq);
	if (why != NULL) {
		VHU_LOG(ERR, dev, "queue %u stopped: its in-flight region does not fit the ring: %s",
			vq->index, why);
		vhu_infl_ring_stop(vq);
		vhu_vq_fault(vq, VHU_MAL_INFLIGHT);
		return true;
	}
	iv->mark_pos = vq->last_avail;
	vq->infl = iv;
	return true;
}

void
vhu_infl_ring_stop(struct vhu_vq *vq)
{
	struct vhu_infl_vq *iv = &vq->infl_state;

	if (iv->resubmitting && iv->shadow != NULL) {
		/* what was not resubmitted yet stays in flight */
		vq->avail = iv->guest_avail;
		vq->last_avail = iv->resume_avail;
		iv->resubmitting = false;
	}
	vhu_infl_pk_stop(vq);
	rte_free(iv->shadow);
	iv->shadow = NULL;
	iv->guest_avail = NULL;
	iv->region = NULL;
	iv->pk_region = NULL;
	vq->infl = NULL;
	vq_publish_mode(vq);
}

void
vhu_infl_map(struct vhu_vq *vq, struct vring_avail *avail,
	struct vring_packed_desc *desc)
{
	struct vhu_infl_vq *iv = &vq->infl_state;

	vq->avail = avail;
	vq->pk_fetch = desc;
	if (!iv->resubmitting)
		return;
	if (vq->packed) {
		iv->pk.guest = desc;
		vq->pk_fetch = iv->pk.shadow;
	} else {
		iv->guest_avail = avail;
		vq->avail = iv->shadow;
	}
}

struct vring_avail *
vhu_infl_guest_avail(const struct vhu_vq *vq)
{
	return vq->infl_state.resubmitting ? vq->infl_state.guest_avail :
		vq->avail;
}

/* ---- data path ---- */

/* The resubmission ring is used up: back to the guest's. */
static void
infl_shadow_step(struct vhu_vq *vq)
{
	struct vhu_infl_vq *iv = vq->infl;

	if (vq->last_avail != iv->shadow->idx) {
		infl_mirror(vq);
		return;
	}
	vq->avail = iv->guest_avail;
	vq->last_avail = iv->resume_avail;
	iv->resubmitting = false;
}

void
vhu_infl_take(struct vhu_vq *vq)
{
	struct vhu_infl_vq *iv = vq->infl;
	struct vhu_infl_split *r = iv->region;
	uint16_t from = iv->mark_pos;
	uint16_t n = (uint16_t)(vq->last_avail - from), k;

	if (vq->packed) {
		/* each chain was marked at its fetch */
		if (unlikely(iv->resubmitting))
			vhu_infl_pk_burst_end(vq);
		return;
	}
	for (k = 0; k < n; k++) {
		uint16_t h = load16(&vq->avail->ring[(uint16_t)(from + k) &
			vq->mask]);

		/* the fetch checked it; the guest may have rewritten it */
		if (unlikely(h >= vq->size))
			continue;
		r->desc[h].counter = iv->counter++;
		__atomic_store_n(&r->desc[h].inflight, 1, __ATOMIC_RELEASE);
	}
	if (unlikely(iv->resubmitting))
		infl_shadow_step(vq);
	iv->mark_pos = vq->last_avail;
}

/* The id of used entry @p k of this burst (written by us; a guest that
 * rewrites it only confuses its own bookkeeping). */
static __rte_always_inline uint32_t
used_id(const struct vhu_vq *vq, uint16_t k)
{
	return *(const volatile uint32_t *)&vq->used->ring[
		(uint16_t)(vq->last_used + k) & vq->mask].id;
}

void
vhu_infl_publish_begin(struct vhu_vq *vq, uint16_t n)
{
	struct vhu_infl_split *r = vq->infl->region;
	uint32_t prev = UINT32_MAX, id;
	uint16_t k;

	for (k = 0; k < n; k++) {
		id = used_id(vq, k);
		if (unlikely(id >= vq->size))
			continue;
		if (prev == UINT32_MAX)
			r->last_batch_head = (uint16_t)id;
		else
			r->desc[prev].next = (uint16_t)id;
		prev = id;
	}
	/* the list is complete before used->idx moves */
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

void
vhu_infl_publish_end(struct vhu_vq *vq, uint16_t n)
{
	struct vhu_infl_split *r = vq->infl->region;
	uint32_t id;
	uint16_t k;

	for (k = 0; k < n; k++) {
		id = used_id(vq, k);
		if (likely(id < vq->size))
			__atomic_store_n(&r->desc[id].inflight, 0,
				__ATOMIC_RELAXED);
	}
	/* the batch is cleared before used_idx says it is done */
	__atomic_store_n(&r->used_idx, (uint16_t)(vq->last_used + n),
		__ATOMIC_RELEASE);
}
