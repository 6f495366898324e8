/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Zero-copy completions: slots, the mbuf free callback (any thread), the
 * lock-free completion ring, and the drain that returns completed chains
 * to the guest (see vhu_zc.h).
 */

#include <errno.h>

#include <rte_malloc.h>
#include <rte_pause.h>

#include "vhu_packed.h"
#include "vhu_zc.h"

/* ---- completion ring (multi-producer, single consumer) ---- */

static inline void
cring_push(struct vhu_cring *c, uint32_t v)
{
	uint32_t t = __atomic_fetch_add(&c->prod, 1, __ATOMIC_RELAXED);
	struct vhu_cring_cell *cell = &c->cell[t & c->mask];

	/* Capacity >= number of slots, so the cell is free; the wait only
	 * covers a consumer that has not yet published its release. */
	while (__atomic_load_n(&cell->seq, __ATOMIC_ACQUIRE) != t)
		rte_pause();
	cell->val = v;
	__atomic_store_n(&cell->seq, t + 1, __ATOMIC_RELEASE);
}

static inline bool
cring_pop(struct vhu_cring *c, uint32_t *v)
{
	struct vhu_cring_cell *cell = &c->cell[c->cons & c->mask];

	if (__atomic_load_n(&cell->seq, __ATOMIC_ACQUIRE) != c->cons + 1)
		return false;
	*v = cell->val;
	__atomic_store_n(&cell->seq, c->cons + c->mask + 1, __ATOMIC_RELEASE);
	/* Atomic only for vhu_vq_zc_pending() peeking from another thread. */
	__atomic_store_n(&c->cons, c->cons + 1, __ATOMIC_RELAXED);
	return true;
}

/* Any completion waiting? Safe from any thread (a hint when racing). */
bool
vhu_vq_zc_pending(const struct vhu_vq *vq)
{
	const struct vhu_cring *c = vq->cring;
	uint32_t cons;

	if (c == NULL)
		return false;
	cons = __atomic_load_n(&c->cons, __ATOMIC_RELAXED);
	return __atomic_load_n(&c->cell[cons & c->mask].seq,
		__ATOMIC_ACQUIRE) == cons + 1;
}

/* Called by rte_pktmbuf_free() on any thread when the last segment of a
 * zero-copy chain is freed. Lock-free, touches no guest memory. */
static void
zc_free_cb(void *addr, void *opaque)
{
	struct vhu_zc_slot *s = opaque;

	RTE_SET_USED(addr);
	cring_push(s->vq->cring, s->idx);
}

/* ---- slots ---- */

int
vhu_vq_zc_alloc(struct vhu_dev *dev, struct vhu_vq *vq)
{
	uint32_t cap = 1, i;
	uint16_t budget = dev->cfg.inflight_budget;
	int node = dev->cfg.numa_node;

	while (cap < budget)
		cap <<= 1;
	vq->slots = rte_zmalloc_socket("vhu_zc_slots",
		sizeof(*vq->slots) * budget, RTE_CACHE_LINE_SIZE, node);
	vq->free_stack = rte_zmalloc_socket("vhu_zc_free",
		sizeof(*vq->free_stack) * budget, 0, node);
	vq->cring = rte_zmalloc_socket("vhu_zc_cring",
		sizeof(*vq->cring) + cap * sizeof(vq->cring->cell[0]),
		RTE_CACHE_LINE_SIZE, node);
	if (vq->slots == NULL || vq->free_stack == NULL || vq->cring == NULL) {
		vhu_vq_zc_free(vq);
		return -ENOMEM;
	}
	vq->cring->mask = cap - 1;
	for (i = 0; i < cap; i++)
		vq->cring->cell[i].seq = i;
	for (i = 0; i < budget; i++) {
		struct vhu_zc_slot *s = &vq->slots[i];

		s->vq = vq;
		s->idx = (uint16_t)i;
		s->shinfo.free_cb = zc_free_cb;
		s->shinfo.fcb_opaque = s;
		vq->free_stack[i] = (uint16_t)(budget - 1 - i);
	}
	vq->budget = budget;
	vq->nfree = budget;
	return 0;
}

void
vhu_vq_zc_free(struct vhu_vq *vq)
{
	rte_free(vq->slots);
	rte_free(vq->free_stack);
	rte_free(vq->cring);
	vq->slots = NULL;
	vq->free_stack = NULL;
	vq->cring = NULL;
	vq->budget = 0;
	vq->nfree = 0;
}

unsigned int
vhu_vq_zc_outstanding(const struct vhu_vq *vq)
{
	return (unsigned int)vq->budget - vq->nfree;
}

/* ---- drain ---- */

/* Give back the memory-table references of @p cnt slots of @p mt. */
static inline void
memtab_unref(struct vhu_memtab *mt, uint32_t cnt)
{
	if (mt != NULL)
		__atomic_fetch_sub(&mt->zc_refs, cnt, __ATOMIC_RELEASE);
}

/*
 * Return every completed chain: its used entry (when the ring is live and
 * the chain belongs to it, not orphaned by a stop: see gen), its slot to
 * the free stack, its reference to the memory table it points into. Run
 * by the queue's owner: the dequeue caller, or the control thread.
 */
void
vhu_vq_zc_drain(struct vhu_vq *vq, bool ring_live)
{
	struct vhu_memtab *mt = NULL;
	uint32_t mt_cnt = 0, idx;
	uint16_t n = 0;

	if (vq->cring == NULL)
		return;
	while (cring_pop(vq->cring, &idx)) {
		struct vhu_zc_slot *s = &vq->slots[idx];

		if (ring_live && s->gen == vq->gen)
			vq_used(vq, n++, s->head, 0, s->ndesc);
		if (s->mt != mt) {
			memtab_unref(mt, mt_cnt);
			mt = s->mt;
			mt_cnt = 0;
		}
		mt_cnt++;
		s->mt = NULL;
		vq->free_stack[vq->nfree++] = (uint16_t)idx;
	}
	memtab_unref(mt, mt_cnt);
	if (n > 0) {
		vhu_ring_publish(vq, n);
		VHU_STAT_ADD(vq, zc_completed, n);
	}
}
