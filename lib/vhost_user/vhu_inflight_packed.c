/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * In-flight tracking of packed rings (see vhu_inflight.h): the part's
 * check, repair and resubmission at ring start, and the data-path hooks.
 *
 * The region is the front-end's memory: at ring start every field is
 * read once and checked before it is used as an index, and what the data
 * path needs back is copied into memory of our own (struct vhu_infl_pk);
 * the data path only writes the region.
 */

#include <stdlib.h>
#include <string.h>

#include <rte_malloc.h>

#include "vhu_packed.h"

/* ---- data path ---- */

static __rte_always_inline void
pk_entry_set(struct vhu_infl_pk_desc *e, const struct vring_packed_desc *d)
{
	e->id = d->id;
	e->flags = d->flags;
	e->len = d->len;
	e->addr = d->addr;
}

/* Descriptors 1 .. @p ndesc - 1 of the chain at fetch-ring position
 * @p idx into the entries after @p head on the free list; its last
 * entry, or VHU_INFL_NONE when the free list ran out (more descriptors
 * out than the ring has: a guest that made some available twice). */
static uint16_t __rte_noinline
pk_take_rest(struct vhu_vq *vq, uint16_t idx, uint16_t head, uint16_t ndesc)
{
	struct vhu_infl_vq *iv = vq->infl;
	uint16_t x = head, k;
	struct vring_packed_desc d;

	for (k = 1; k < ndesc; k++) {
		x = iv->pk.next[x];
		if (x == VHU_INFL_NONE)
			return VHU_INFL_NONE;
		idx = (uint16_t)(idx + 1 == vq->size ? 0 : idx + 1);
		pk_desc_fetch(&vq->pk_fetch[idx], &d);
		pk_entry_set(&iv->pk_region->desc[x], &d);
	}
	return x;
}

/* The spec's take: the chain's descriptors into entries off the free
 * list, the head entry in flight, committed by old_free_head. */
int
vhu_infl_pk_take(struct vhu_vq *vq, uint16_t idx,
	const struct vring_packed_desc *first, uint16_t ndesc, uint16_t id)
{
	struct vhu_infl_vq *iv = vq->infl;
	struct vhu_infl_pk *pk = &iv->pk;
	struct vhu_infl_packed *r = iv->pk_region;
	uint16_t head = pk->free, last = head;
	struct vring_packed_desc d;

	/* a resubmitted chain is in flight already */
	if (iv->resubmitting)
		return WALK_OK;
	/* two chains out with one id could not be told apart */
	if (unlikely(pk->ent[id] != VHU_INFL_NONE))
		return VHU_MAL_HEAD_INDEX;
	if (unlikely(head == VHU_INFL_NONE))
		return VHU_MAL_LOOP;
	if (first == NULL) {
		pk_desc_fetch(&vq->pk_fetch[idx], &d);
		first = &d;
	}
	pk_entry_set(&r->desc[head], first);
	if (unlikely(ndesc > 1)) {
		last = pk_take_rest(vq, idx, head, ndesc);
		if (last == VHU_INFL_NONE)
			return VHU_MAL_LOOP;
	}
	r->desc[head].num = ndesc;
	r->desc[head].last = last;
	r->desc[head].counter = iv->counter++;
	r->desc[head].inflight = 1;
	pk->free = pk->next[last];
	r->free_head = pk->free;
	__atomic_store_n(&r->old_free_head, pk->free, __ATOMIC_RELEASE);
	pk->last[head] = last;
	pk->ent[id] = head;
	return WALK_OK;
}

void
vhu_infl_pk_untake(struct vhu_vq *vq, uint16_t id)
{
	struct vhu_infl_vq *iv = vq->infl;
	struct vhu_infl_pk *pk = &iv->pk;
	struct vhu_infl_packed *r = iv->pk_region;
	uint16_t head = pk->ent[id];

	if (iv->resubmitting || head == VHU_INFL_NONE)
		return;
	/* its entries are still linked to the rest of the free list */
	pk->free = head;
	pk->ent[id] = VHU_INFL_NONE;
	iv->counter--;
	r->free_head = head;
	__atomic_store_n(&r->old_free_head, head, __ATOMIC_RELEASE);
	r->desc[head].inflight = 0;
}

/* Before the first used flags: the burst's chains back on the free list,
 * used_idx and its wrap counter where the burst leaves them. */
void
vhu_infl_pk_publish_begin(struct vhu_vq *vq, uint16_t n)
{
	struct vhu_infl_pk *pk = &vq->infl->pk;
	struct vhu_infl_packed *r = vq->infl->pk_region;
	uint16_t k, head, last;

	for (k = 0; k < RTE_MIN(n, vq->size); k++) {
		head = pk->batch[k];
		if (head == VHU_INFL_NONE)
			continue;
		last = pk->last[head];
		pk->next[last] = pk->free;
		r->desc[last].next = pk->free;
		pk->free = head;
	}
	r->free_head = pk->free;
	r->used_idx = vq->pk_used_next;
	r->used_wrap_counter = vq->pk_used_bits != 0;
	/* all of it before the guest can see the burst */
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

/* After them: the chains no longer in flight, the old_ fields moved (a
 * start that finds them unmoved looks at the ring). */
void
vhu_infl_pk_publish_end(struct vhu_vq *vq, uint16_t n)
{
	struct vhu_infl_pk *pk = &vq->infl->pk;
	struct vhu_infl_packed *r = vq->infl->pk_region;
	uint16_t k, head;

	for (k = 0; k < RTE_MIN(n, vq->size); k++) {
		head = pk->batch[k];
		if (head != VHU_INFL_NONE)
			r->desc[head].inflight = 0;
	}
	__atomic_thread_fence(__ATOMIC_RELEASE);
	r->old_free_head = pk->free;
	r->old_used_idx = vq->pk_used_next;
	r->old_used_wrap_counter = vq->pk_used_bits != 0;
}

/* ---- resubmission ---- */

/* Back to the guest's ring, after the resubmitted chains. */
static void
pk_resume(struct vhu_vq *vq)
{
	struct vhu_infl_vq *iv = &vq->infl_state;

	vq->pk_fetch = iv->pk.guest;
	vq->last_avail = iv->pk.resume_idx;
	vq->avail_wrap = iv->pk.resume_wrap;
	iv->resubmitting = false;
}

void
vhu_infl_pk_burst_end(struct vhu_vq *vq)
{
	if (!vhu_pk_pending(vq))
		pk_resume(vq);
}

void
vhu_infl_pk_stop(struct vhu_vq *vq)
{
	struct vhu_infl_vq *iv = &vq->infl_state;

	/* what was not resubmitted yet stays in flight */
	if (iv->resubmitting && iv->pk.shadow != NULL)
		pk_resume(vq);
	rte_free(iv->pk.shadow);
	rte_free(iv->pk.next);
	memset(&iv->pk, 0, sizeof(iv->pk));
}

/* ---- ring start ---- */

/* A part not used yet (GET_INFLIGHT_FD leaves it zero, as may a
 * front-end that made the region): every entry free, nothing in flight,
 * the used position the ring's base. */
static void
pk_layout(const struct vhu_vq *vq, struct vhu_infl_packed *r, uint16_t qs)
{
	uint32_t i;

	memset(r->desc, 0, sizeof(r->desc[0]) * qs);
	for (i = 0; i < qs; i++)
		r->desc[i].next = (uint16_t)(i + 1);
	r->free_head = 0;
	r->old_free_head = 0;
	r->used_idx = vq->last_used;
	r->old_used_idx = vq->last_used;
	r->used_wrap_counter = vq->used_wrap;
	r->old_used_wrap_counter = vq->used_wrap;
	r->desc_num = qs;
	r->version = VHU_INFL_VERSION;
}

/* @p r: a copy of the part's header, read once. */
static const char *
pk_check_header(const struct vhu_vq *vq, const struct vhu_infl_packed *r,
	uint16_t qs)
{
	if (r->version != VHU_INFL_VERSION)
		return "its version is not 1";
	if (r->desc_num != qs || vq->size > qs)
		return "its desc_num is not the queue_size it was set with, or is below the ring size";
	if (r->used_idx >= vq->size || r->old_used_idx >= vq->size)
		return "its used_idx or old_used_idx is outside the ring";
	if (r->used_wrap_counter > 1 || r->old_used_wrap_counter > 1)
		return "a wrap counter is neither 0 nor 1";
	return NULL;
}

/*
 * A crash between the first and the last step of publishing a batch:
 * if the guest's descriptor at old_used_idx is no longer the one it made
 * available there, our used element was stored (and maybe consumed): the
 * batch is done (commit); else it never was (roll back). On @p h (the
 * checked copy of the header), written back to the part @p r.
 */
static void
pk_repair(const struct vhu_vq *vq, struct vhu_infl_packed *h,
	struct vhu_infl_packed *r)
{
	bool wrap = h->old_used_wrap_counter;
	uint16_t flags;

	if (h->used_idx == h->old_used_idx && h->used_wrap_counter == wrap)
		return;
	flags = __atomic_load_n(&vq->pdesc[h->old_used_idx].flags,
		__ATOMIC_ACQUIRE);
	if (!pk_is_avail(flags, wrap)) {
		h->old_free_head = h->free_head;
		h->old_used_idx = h->used_idx;
		h->old_used_wrap_counter = h->used_wrap_counter;
	}
	h->free_head = h->old_free_head;
	h->used_idx = h->old_used_idx;
	h->used_wrap_counter = h->old_used_wrap_counter;
	r->old_used_idx = h->used_idx;
	r->old_used_wrap_counter = h->used_wrap_counter;
	r->used_idx = h->used_idx;
	r->used_wrap_counter = h->used_wrap_counter;
}

/* What the start learns of each entry. */
enum { PK_UNSEEN, PK_FREE, PK_CHAIN };

/* The free list: none of it in flight. */
static const char *
pk_walk_free(struct vhu_infl_packed *r, uint16_t free, uint16_t qs,
	uint8_t *mark)
{
	uint16_t x = free;

	while (x < qs) {
		if (mark[x] != PK_UNSEEN)
			return "its free list loops";
		mark[x] = PK_FREE;
		r->desc[x].inflight = 0;
		x = r->desc[x].next;
	}
	return NULL;
}

/* The chain whose head entry is @p head: its `num` (into *num) entries
 * linked through next, none seen before, ending at its `last`; its links
 * and last into ours, its buffer id (the last descriptor's) into *id. */
static const char *
pk_walk_chain(struct vhu_vq *vq, const struct vhu_infl_packed *r,
	uint16_t qs, uint8_t *mark, uint16_t head, uint16_t *id,
	uint16_t *num_out)
{
	struct vhu_infl_pk *pk = &vq->infl_state.pk;
	uint16_t num = r->desc[head].num, x = head, k;

	if (num == 0 || num > vq->size)
		return "a chain in flight has 0 descriptors, or more than the ring";
	for (k = 0; k < num; k++) {
		if (x >= qs)
			return "a chain in flight links outside the part";
		if (mark[x] != PK_UNSEEN)
			return "a chain in flight runs into the free list or another chain";
		mark[x] = PK_CHAIN;
		pk->next[x] = k + 1 < num ? r->desc[x].next : VHU_INFL_NONE;
		if (k + 1 < num)
			x = pk->next[x];
	}
	if (r->desc[head].last != x)
		return "a chain in flight does not end at its last entry";
	*id = r->desc[x].id;
	*num_out = num;
	pk->last[head] = x;
	return NULL;
}

/* The chains in flight into @p ent, *n of them, *ndesc descriptors in
 * all; each buffer id's head entry into ours. */
static const char *
pk_collect(struct vhu_vq *vq, const struct vhu_infl_packed *r, uint16_t qs,
	uint8_t *mark, struct vhu_infl_ent *ent, uint32_t *n, uint32_t *ndesc)
{
	struct vhu_infl_pk *pk = &vq->infl_state.pk;
	uint32_t i, k = 0, total = 0;
	const char *why;
	uint16_t id, num;

	for (i = 0; i < qs; i++) {
		uint8_t f = r->desc[i].inflight;

		if (f == 0 || mark[i] == PK_FREE)
			continue;
		if (f != 1)
			return "an entry's inflight flag is neither 0 nor 1";
		why = pk_walk_chain(vq, r, qs, mark, (uint16_t)i, &id, &num);
		if (why != NULL)
			return why;
		if (id >= vq->size || pk->ent[id] != VHU_INFL_NONE)
			return "a buffer id in flight is outside the ring or in flight twice";
		total += num;
		if (total > vq->size)
			return "more descriptors in flight than the ring has";
		pk->ent[id] = (uint16_t)i;
		ent[k++] = (struct vhu_infl_ent){
			.counter = r->desc[i].counter, .head = (uint16_t)i,
			.id = id,
		};
	}
	*n = k;
	*ndesc = total;
	return NULL;
}

/* Every entry not in a chain in flight on the free list (ours and the
 * region's, in index order): what a crash leaked comes back. */
static void
pk_free_rebuild(struct vhu_infl_pk *pk, struct vhu_infl_packed *r,
	uint16_t qs, const uint8_t *mark)
{
	uint16_t free = VHU_INFL_NONE;
	uint32_t i;

	for (i = qs; i-- > 0; ) {
		if (mark[i] == PK_CHAIN)
			continue;
		pk->next[i] = free;
		r->desc[i].next = free;
		r->desc[i].inflight = 0;
		free = (uint16_t)i;
	}
	pk->free = free;
	r->free_head = free;
	r->old_free_head = free;
}

/* Our memory for a queue: links and lasts of the part's entries, a
 * buffer id's entry (none), the burst's used ids. */
static int
pk_alloc(struct vhu_dev *dev, struct vhu_vq *vq, uint16_t qs)
{
	struct vhu_infl_pk *pk = &vq->infl_state.pk;
	uint16_t *m = rte_malloc_socket("vhu_infl_pk", sizeof(uint16_t) *
		(2u * qs + 2u * vq->size), 0, dev->cfg.numa_node);

	if (m == NULL)
		return -1;
	pk->next = m;
	pk->last = m + qs;
	pk->ent = m + 2u * qs;
	pk->batch = pk->ent + vq->size;
	memset(pk->ent, 0xff, sizeof(uint16_t) * vq->size);
	return 0;
}

/* The chains, in the order they were taken, one after the other in a
 * descriptor ring of our own, made available for wrap counter 1. */
static const char *
pk_resubmit(struct vhu_dev *dev, struct vhu_vq *vq,
	const struct vhu_infl_packed *r, const struct vhu_infl_ent *ent,
	uint32_t n)
{
	struct vhu_infl_pk *pk = &vq->infl_state.pk;
	uint32_t k, pos = 0;

	pk->shadow = rte_zmalloc_socket("vhu_infl_shadow",
		sizeof(*pk->shadow) * vq->size, 0, dev->cfg.numa_node);
	if (pk->shadow == NULL)
		return "out of memory for the resubmission ring";
	for (k = 0; k < n; k++) {
		uint16_t x = ent[k].head;

		for (; x != VHU_INFL_NONE; x = pk->next[x]) {
			const struct vhu_infl_pk_desc *e = &r->desc[x];

			pk->shadow[pos++] = (struct vring_packed_desc){
				.addr = e->addr, .len = e->len,
				.id = x == pk->last[ent[k].head] ?
					ent[k].id : e->id,
				.flags = (uint16_t)((e->flags &
					~(PK_F_AVAIL | PK_F_USED)) | PK_F_AVAIL),
			};
		}
	}
	pk->guest = vq->pdesc;
	vq->pk_fetch = pk->shadow;
	vq->last_avail = 0;
	vq->avail_wrap = true;
	vq->infl_state.resubmitting = true;
	VHU_STAT_ADD(vq, inflight_resubmitted, n);
	return NULL;
}

/* The ring's positions: used where the part says, the guest's ring
 * resumes after the descriptors in flight (@p ndesc). */
static void
pk_positions(struct vhu_dev *dev, struct vhu_vq *vq,
	const struct vhu_infl_packed *h, uint32_t n, uint32_t ndesc)
{
	struct vhu_pk_pos p = pk_pos(h->used_idx, h->used_wrap_counter);
	uint32_t base = vhu_packed_base_get(vq);

	vq->last_used = p.idx;
	vq->used_wrap = pk_pos_wrap(&p);
	pk_advance(vq, &p, ndesc);
	vq->infl_state.pk.resume_idx = p.idx;
	vq->infl_state.pk.resume_wrap = pk_pos_wrap(&p);
	vq->last_avail = p.idx;
	vq->avail_wrap = pk_pos_wrap(&p);
	if (n > 0 || vhu_packed_base_get(vq) != base)
		VHU_LOG(INFO, dev, "queue %u: %u chain(s) taken and not returned before the stop go again first (in-flight region); the ring resumes at avail position %u wrap %u, used %u wrap %u (the front-end's base: 0x%x)",
			vq->index, n, p.idx, pk_pos_wrap(&p), h->used_idx,
			h->used_wrap_counter, base);
}

/* Check and repair the part (its header read once into @p h), collect
 * what is in flight. */
static const char *
pk_scan(struct vhu_vq *vq, struct vhu_infl_packed *r,
	struct vhu_infl_packed *h, uint16_t qs, struct vhu_infl_ent *ent,
	uint32_t *n, uint32_t *ndesc)
{
	const char *why;
	uint8_t *mark;

	memcpy(h, (const void *)r, sizeof(*h));
	why = pk_check_header(vq, h, qs);
	if (why != NULL)
		return why;
	pk_repair(vq, h, r);
	mark = calloc(qs, 1);
	if (mark == NULL)
		return "out of memory";
	why = pk_walk_free(r, h->free_head, qs, mark);
	if (why == NULL)
		why = pk_collect(vq, r, qs, mark, ent, n, ndesc);
	if (why == NULL)
		pk_free_rebuild(&vq->infl_state.pk, r, qs, mark);
	free(mark);
	return why;
}

const char *
vhu_infl_pk_start(struct vhu_dev *dev, struct vhu_vq *vq,
	struct vhu_infl_packed *r)
{
	uint16_t qs = dev->infl.queue_size;
	struct vhu_infl_packed h;
	struct vhu_infl_ent *ent;
	uint32_t n = 0, ndesc = 0, k;
	const char *why;

	if (r->version == 0 && r->desc_num == 0)
		pk_layout(vq, r, qs);
	if (pk_alloc(dev, vq, qs) != 0)
		return "out of memory";
	ent = malloc(sizeof(*ent) * vq->size);
	if (ent == NULL)
		return "out of memory";
	why = pk_scan(vq, r, &h, qs, ent, &n, &ndesc);
	if (why == NULL) {
		vhu_infl_sort(ent, n);
		vq->infl_state.counter = 0;
		for (k = 0; k < n; k++)
			vq->infl_state.counter = RTE_MAX(
				vq->infl_state.counter, ent[k].counter + 1);
		pk_positions(dev, vq, &h, n, ndesc);
		if (n > 0)
			why = pk_resubmit(dev, vq, r, ent, n);
	}
	free(ent);
	return why;
}
