/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Data path: split virtqueues, dequeue (guest TX) with zero-copy, enqueue
 * (guest RX) with mergeable buffers, notifications, dirty logging.
 *
 * Guest memory is hostile: every descriptor is fetched once into a local
 * copy, every index and address is checked before use, and any violation
 * stops only the queue it was found on (counted by reason).
 */

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <rte_malloc.h>
#include <rte_memcpy.h>
#include <rte_pause.h>
#include <rte_prefetch.h>

#include "vhu_internal.h"

/* walk_chain() result beyond the malformed reasons. */
#define WALK_OK		0
#define WALK_SEGS_FULL	(-1)

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

/* ---- ring helpers ---- */

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

static inline uint16_t
load16(const uint16_t *p)
{
	return *(const volatile uint16_t *)p;
}

static inline void
store16(uint16_t *p, uint16_t v)
{
	*(volatile uint16_t *)p = v;
}

/* Fetch a descriptor exactly once (two aligned 64-bit loads). */
static inline void
desc_fetch(const struct vhu_desc *src, struct vhu_desc *d)
{
	const volatile uint64_t *p = (const volatile uint64_t *)src;
	uint64_t w0 = p[0];
	uint64_t w1 = p[1];

	d->addr = w0;
	d->len = (uint32_t)w1;
	d->flags = (uint16_t)(w1 >> 32);
	d->next = (uint16_t)(w1 >> 48);
}

/*
 * Warm the cache for a burst: the loop would otherwise take each frame's
 * cache misses (its descriptor, then its buffer, both last written by the
 * guest's CPU) one after the other. At the start of a burst the
 * descriptors of the next avail slots are prefetched together; in the loop,
 * the first buffer of the chain PREFETCH_BUF_AHEAD slots ahead. What is read
 * here only feeds prefetch instructions, which never fault: each chain is
 * fetched and validated again, once, when it is processed.
 */
#define PREFETCH_DESCS 32
#define PREFETCH_BUF_AHEAD 2

static inline uint16_t
avail_head_hint(const struct vhu_vq *vq, uint16_t slot)
{
	return load16(&vq->avail->ring[(uint16_t)(vq->last_avail + slot) &
		vq->mask]);
}

static inline void
prefetch_descs(const struct vhu_vq *vq, uint16_t pending)
{
	uint16_t k, n = RTE_MIN(pending, (uint16_t)PREFETCH_DESCS);

	for (k = 0; k < n; k++) {
		uint16_t head = avail_head_hint(vq, k);

		if (head < vq->size)
			rte_prefetch0(&vq->desc[head]);
	}
}

/* Prefetch [p, p + len), at most PREFETCH_MAX_BYTES of it. */
#define PREFETCH_MAX_BYTES 4096

static inline void
prefetch_range(const void *p, uint32_t len, bool write)
{
	const uint8_t *c = (const uint8_t *)((uintptr_t)p &
		~(uintptr_t)(RTE_CACHE_LINE_SIZE - 1));
	const uint8_t *end = (const uint8_t *)p +
		RTE_MIN(len, (uint32_t)PREFETCH_MAX_BYTES);

	for (; c < end; c += RTE_CACHE_LINE_SIZE) {
		if (write)	/* rte_prefetch0_write() is experimental */
			__builtin_prefetch(c, 1, 3);
		else
			rte_prefetch0(c);
	}
}

/* The first LEN bytes (at most) of the first buffer of the chain
 * PREFETCH_BUF_AHEAD slots after SLOT; also the descriptor of the slot
 * PREFETCH_DESCS ahead, keeping the descriptor prefetches going. */
static inline void
prefetch_buf(struct vhu_vq *vq, uint16_t slot, uint16_t pending, bool write,
	uint32_t len)
{
	const volatile struct vhu_desc *d;
	const struct vhu_memseg *seg;
	uint16_t head;
	uint64_t gpa, off;
	uint32_t dlen;

	slot = (uint16_t)(slot + PREFETCH_BUF_AHEAD);
	if (slot >= pending)
		return;
	head = avail_head_hint(vq, slot);
	if (head >= vq->size)
		return;
	if (slot + PREFETCH_DESCS - PREFETCH_BUF_AHEAD < pending) {
		uint16_t later = avail_head_hint(vq, (uint16_t)(slot +
			PREFETCH_DESCS - PREFETCH_BUF_AHEAD));

		if (later < vq->size)
			rte_prefetch0(&vq->desc[later]);
	}
	d = (const volatile struct vhu_desc *)&vq->desc[head];
	gpa = d->addr;
	dlen = d->len;
	seg = vhu_gpa_lookup(vq->mt, &vq->mem_hint, gpa);
	if (seg == NULL)
		return;
	off = gpa - seg->start;
	len = RTE_MIN(len, dlen);
	if (len > seg->size - off)
		len = (uint32_t)(seg->size - off);
	prefetch_range(seg->hva + off, len, write);
}

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

static inline void
log_used(struct vhu_vq *vq, uint64_t offset, uint64_t len)
{
	if (unlikely(vq->log_used))
		vhu_log_write(vq->log, vq->log_used_gpa + offset, len);
}

static void
vq_fault(struct vhu_vq *vq, enum vhu_malformed why)
{
	VHU_STAT_ADD(vq, malformed[why], 1);
	VHU_STAT_ADD(vq, faults, 1);
	__atomic_store_n(&vq->fault, (uint32_t)why + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&vq->ready, 0, __ATOMIC_RELEASE);
}

static inline void
vq_notify(struct vhu_vq *vq, uint16_t old, uint16_t new_idx)
{
	bool need;

	/* Order the used idx store before reading the guest's request. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_idx) {
		uint16_t ev = load16(used_event_ptr(vq));

		need = (uint16_t)(new_idx - ev - 1) < (uint16_t)(new_idx - old);
	} else {
		need = !(load16(&vq->avail->flags) & VHU_AVAIL_F_NO_INTERRUPT);
	}
	if (need && vq->callfd >= 0) {
		uint64_t one = 1;
		ssize_t r = write(vq->callfd, &one, sizeof(one));

		RTE_SET_USED(r);
		VHU_STAT_ADD(vq, notify_sent, 1);
	} else {
		VHU_STAT_ADD(vq, notify_suppressed, 1);
	}
}

static inline void
used_write(struct vhu_vq *vq, uint16_t pos, uint32_t id, uint32_t len)
{
	struct vhu_used_elem *e = &vq->used->ring[pos & vq->mask];

	e->id = id;
	e->len = len;
}

/* Publish @p n used entries written at last_used..last_used+n-1. */
static void
used_publish(struct vhu_vq *vq, uint16_t n)
{
	uint16_t old = vq->last_used;
	uint16_t new_idx = (uint16_t)(old + n);

	if (unlikely(vq->log_used)) {
		uint16_t first = old & vq->mask;
		uint32_t cnt = n;
		uint32_t till_end = (uint32_t)vq->size - first;

		if (cnt > till_end) {
			log_used(vq, 4 + 8ull * first, 8ull * till_end);
			log_used(vq, 4, 8ull * (cnt - till_end));
		} else {
			log_used(vq, 4 + 8ull * first, 8ull * cnt);
		}
	}
	__atomic_store_n(&vq->used->idx, new_idx, __ATOMIC_RELEASE);
	log_used(vq, 2, 2);
	vq->last_used = new_idx;
	vq_notify(vq, old, new_idx);
}

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

		if (ring_live && s->gen == vq->gen) {
			used_write(vq, (uint16_t)(vq->last_used + n), s->head, 0);
			n++;
		}
		if (s->mt != mt) {
			if (mt != NULL)
				__atomic_fetch_sub(&mt->zc_refs, mt_cnt,
					__ATOMIC_RELEASE);
			mt = s->mt;
			mt_cnt = 0;
		}
		mt_cnt++;
		s->mt = NULL;
		vq->free_stack[vq->nfree++] = (uint16_t)idx;
	}
	if (mt != NULL)
		__atomic_fetch_sub(&mt->zc_refs, mt_cnt, __ATOMIC_RELEASE);
	if (n > 0) {
		used_publish(vq, n);
		VHU_STAT_ADD(vq, zc_completed, n);
	}
}

/* ---- entering / leaving a queue ---- */

static inline bool
vq_enter(struct vhu_vq *vq)
{
	if (!__atomic_load_n(&vq->ready, __ATOMIC_RELAXED))
		return false;
	__atomic_store_n(&vq->in_burst, 1, __ATOMIC_RELAXED);
	/* Pairs with the fence in vhu_vq_quiesce(): either we see ready == 0
	 * or the control thread sees in_burst == 1. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (likely(__atomic_load_n(&vq->ready, __ATOMIC_ACQUIRE)))
		return true;
	__atomic_store_n(&vq->in_burst, 0, __ATOMIC_RELEASE);
	return false;
}

static inline void
vq_leave(struct vhu_vq *vq)
{
	__atomic_store_n(&vq->in_burst, 0, __ATOMIC_RELEASE);
}

/* ---- descriptor chains ---- */

/* Append guest buffer [gpa, gpa + len) to vq->segs, split at region ends. */
static inline int
add_buffer(struct vhu_vq *vq, uint64_t gpa, uint32_t len, uint32_t *nsegs,
	uint16_t head_slot)
{
	if (gpa + len < gpa)
		return (int)VHU_MAL_ADDR + 1;
	while (len > 0) {
		const struct vhu_memseg *s;
		struct vhu_seg *seg;
		uint64_t room;
		uint32_t chunk;

		s = vhu_gpa_lookup(vq->mt, &vq->mem_hint, gpa);
		if (s == NULL)
			return (int)VHU_MAL_ADDR + 1;
		room = s->size - (gpa - s->start);
		chunk = room < len ? (uint32_t)room : len;
		if (*nsegs >= VHU_MAX_SEGS)
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

/*
 * Walk the chain starting at ring index @p head, appending its buffers to
 * vq->segs from *nsegs on. @p writable selects the direction every buffer
 * must have. Returns WALK_OK, WALK_SEGS_FULL (segment array exhausted and
 * no other fault), or a malformed reason + 1.
 */
static int
walk_chain(struct vhu_vq *vq, uint16_t head, bool writable, uint32_t *nsegs,
	uint64_t *total, uint16_t head_slot, const struct vhu_desc *first)
{
	const struct vhu_desc *table = vq->desc;
	uint32_t tsize = vq->size;
	uint32_t idx = head, count = 0;
	bool in_indirect = false, full = false;
	uint64_t len = 0;

	if (idx >= vq->size)
		return (int)VHU_MAL_HEAD_INDEX + 1;
	for (;;) {
		struct vhu_desc d;

		/* The head may have been fetched (once) by the caller. */
		if (first != NULL) {
			d = *first;
			first = NULL;
		} else {
			desc_fetch(&table[idx], &d);
		}
		if (d.flags & VHU_DESC_F_INDIRECT) {
			if (in_indirect)
				return (int)VHU_MAL_INDIRECT_NESTED + 1;
			if (!vq->indirect || count != 0 ||
					(d.flags & VHU_DESC_F_NEXT))
				return (int)VHU_MAL_INDIRECT_FLAGS + 1;
			if (d.len == 0 || (d.len % sizeof(struct vhu_desc)) != 0 ||
					d.len / sizeof(struct vhu_desc) > vq->size)
				return (int)VHU_MAL_INDIRECT_LEN + 1;
			if (d.addr % 16 != 0)
				return (int)VHU_MAL_INDIRECT_ALIGN + 1;
			table = vhu_gpa_to_hva_contig(vq->mt, &vq->mem_hint,
				d.addr, d.len);
			if (table == NULL)
				return (int)VHU_MAL_INDIRECT_SPAN + 1;
			tsize = d.len / sizeof(struct vhu_desc);
			in_indirect = true;
			idx = 0;
			continue;
		}
		if (++count > tsize)
			return (int)VHU_MAL_LOOP + 1;
		if (!!(d.flags & VHU_DESC_F_WRITE) != writable)
			return (int)VHU_MAL_DIRECTION + 1;
		if (d.len == 0) {
			/* Never read or written, but must still point at memory:
			 * a bad address here is a confused or hostile guest. */
			if (vhu_gpa_lookup(vq->mt, &vq->mem_hint, d.addr) == NULL)
				return (int)VHU_MAL_ZERO_LEN + 1;
		} else if (!full) {
			int rc = add_buffer(vq, d.addr, d.len, nsegs, head_slot);

			if (rc == WALK_SEGS_FULL)
				full = true;
			else if (rc != WALK_OK)
				return rc;
		}
		len += d.len;
		if (!(d.flags & VHU_DESC_F_NEXT))
			break;
		idx = d.next;
		if (idx >= tsize)
			return (int)VHU_MAL_NEXT_INDEX + 1;
	}
	*total = len;
	return full ? WALK_SEGS_FULL : WALK_OK;
}

/* Number of segments (from index 0) holding the first @p hlen bytes. */
static inline uint32_t
hdr_segments(const struct vhu_vq *vq, uint32_t nsegs, uint32_t hlen)
{
	uint32_t i, got = 0;

	for (i = 0; i < nsegs && got < hlen; i++)
		got += vq->segs[i].len;
	return i;
}

/* Copy @p len bytes starting at segment *si offset *so into @p dst. */
static inline void
gather(const struct vhu_vq *vq, uint8_t *dst, uint32_t len, uint32_t *si,
	uint32_t *so)
{
	while (len > 0) {
		const struct vhu_seg *seg = &vq->segs[*si];
		uint32_t c = seg->len - *so;

		if (c == 0) {
			(*si)++;
			*so = 0;
			continue;
		}
		if (c > len)
			c = len;
		copy_bytes(dst, seg->hva + *so, c);
		dst += c;
		len -= c;
		*so += c;
	}
}

/* ---- dequeue (guest TX) ---- */

/* Copy the frame (from segment SI offset SO) into HEAD, a fresh mbuf,
 * chaining more mbufs from MP when it is longer than HEAD's room. On
 * failure the extra mbufs are freed, HEAD stays the caller's. */
static bool
copy_frame(struct vhu_vq *vq, struct rte_mempool *mp, struct rte_mbuf *head,
	uint32_t si, uint32_t so, uint32_t frame_len)
{
	struct rte_mbuf *cur = head;
	uint32_t left = frame_len;

	while (left > 0) {
		uint32_t room = rte_pktmbuf_tailroom(cur);
		uint32_t c;

		if (room == 0) {
			struct rte_mbuf *m;

			if (head->nb_segs == UINT16_MAX)
				goto fail;
			m = rte_pktmbuf_alloc(mp);
			if (m == NULL)
				goto fail;
			if (rte_pktmbuf_tailroom(m) == 0) {
				rte_pktmbuf_free(m);
				goto fail;
			}
			cur->next = m;
			cur = m;
			head->nb_segs++;
			continue;
		}
		c = RTE_MIN(room, left);
		gather(vq, rte_pktmbuf_mtod_offset(cur, uint8_t *,
			cur->data_len), c, &si, &so);
		cur->data_len += c;
		left -= c;
	}
	head->pkt_len = frame_len;
	return true;
fail:
	rte_pktmbuf_free(head->next);
	head->next = NULL;
	head->nb_segs = 1;
	head->data_len = 0;
	return false;
}

/* Number of mbuf segments a zero-copy view of the frame needs. */
static inline uint32_t
zc_pieces(const struct vhu_vq *vq, uint32_t si, uint32_t so, uint32_t nsegs)
{
	uint32_t n = 0;

	for (; si < nsegs; si++, so = 0) {
		uint32_t l = vq->segs[si].len - so;

		n += (l + UINT16_MAX - 1) / UINT16_MAX;
	}
	return n;
}

/* Take a completion slot for the chain at HEAD_ID; REFS mbuf segments. */
static inline struct vhu_zc_slot *
zc_slot_take(struct vhu_vq *vq, uint16_t head_id, uint32_t refs)
{
	struct vhu_zc_slot *s = &vq->slots[vq->free_stack[--vq->nfree]];

	s->head = head_id;
	s->gen = vq->gen;
	s->mt = (struct vhu_memtab *)(uintptr_t)vq->mt;
	rte_mbuf_ext_refcnt_set(&s->shinfo, (uint16_t)refs);
	return s;
}

/* Zero-copy view of the frame into FIRST (fresh) plus PIECES - 1 more
 * mbufs from MP. False (FIRST untouched) when those are missing. */
static bool
zc_frame(struct vhu_vq *vq, struct rte_mempool *mp, struct rte_mbuf *first,
	uint16_t head_id, uint32_t si, uint32_t so, uint32_t nsegs,
	uint32_t frame_len, uint32_t pieces)
{
	struct rte_mbuf *ms[VHU_ZC_MAX_SEGS];
	struct vhu_zc_slot *s;
	uint32_t k = 0;

	ms[0] = first;
	if (pieces > 1 && rte_pktmbuf_alloc_bulk(mp, &ms[1], pieces - 1) != 0)
		return false;
	s = zc_slot_take(vq, head_id, pieces);
	for (; si < nsegs; si++, so = 0) {
		const struct vhu_seg *seg = &vq->segs[si];
		uint32_t left = seg->len - so;
		uint8_t *p = seg->hva + so;

		while (left > 0) {
			uint16_t c = (uint16_t)RTE_MIN(left, (uint32_t)UINT16_MAX);
			struct rte_mbuf *m = ms[k];

			rte_pktmbuf_attach_extbuf(m, p, RTE_BAD_IOVA, c,
				&s->shinfo);
			m->data_len = c;
			if (k > 0)
				ms[k - 1]->next = m;
			k++;
			p += c;
			left -= c;
		}
	}
	ms[0]->nb_segs = (uint16_t)pieces;
	ms[0]->pkt_len = frame_len;
	return true;
}

/*
 * Check a TX virtio-net header (its first 10 bytes, read once from guest
 * memory into a local copy by the caller). Returns -1 or the malformed
 * reason.
 */
static inline int
tx_hdr_check(const uint8_t *h, uint32_t frame_len)
{
	uint8_t flags = h[0], gso_type = h[1];
	uint16_t csum_start, csum_offset;

	if (unlikely((gso_type & ~VHU_NET_HDR_GSO_ECN) != VHU_NET_HDR_GSO_NONE))
		return VHU_MAL_HDR_FIELDS;
	if (flags & VHU_NET_HDR_F_NEEDS_CSUM) {
		memcpy(&csum_start, h + 6, 2);
		memcpy(&csum_offset, h + 8, 2);
		if ((uint32_t)csum_start + csum_offset + 2 > frame_len)
			return VHU_MAL_CSUM;
	}
	return -1;
}

static void
build_rarp(struct rte_mbuf *m, const uint8_t mac[6])
{
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);

	memset(p, 0, 60);
	memset(p, 0xff, 6);		/* broadcast */
	memcpy(p + 6, mac, 6);
	p[12] = 0x80;			/* ethertype RARP 0x8035 */
	p[13] = 0x35;
	p[14] = 0x00;			/* hardware type Ethernet */
	p[15] = 0x01;
	p[16] = 0x08;			/* protocol IPv4 */
	p[17] = 0x00;
	p[18] = 6;			/* hardware address length */
	p[19] = 4;			/* protocol address length */
	p[20] = 0x00;			/* op 3: reverse request */
	p[21] = 0x03;
	memcpy(p + 22, mac, 6);		/* sender hardware address */
	memcpy(p + 32, mac, 6);		/* target hardware address */
	m->data_len = 60;
	m->pkt_len = 60;
}

static uint16_t
inject_rarp(struct vhu_dev *dev, struct vhu_vq *vq, struct rte_mempool *mp,
	struct rte_mbuf **out)
{
	struct rte_mbuf *m;

	if (!__atomic_exchange_n(&dev->rarp_pending, 0, __ATOMIC_ACQUIRE))
		return 0;
	m = rte_pktmbuf_alloc(mp);
	if (m == NULL || rte_pktmbuf_tailroom(m) < 60) {
		rte_pktmbuf_free(m);
		__atomic_store_n(&dev->rarp_pending, 1, __ATOMIC_RELAXED);
		return 0;
	}
	build_rarp(m, dev->rarp_mac);
	*out = m;
	VHU_STAT_ADD(vq, rarp_sent, 1);
	return 1;
}

/* Any zero-copy completion waiting? (queue owner only) */
static inline bool
zc_completion_waiting(const struct vhu_vq *vq)
{
	const struct vhu_cring *c = vq->cring;

	return __atomic_load_n(&c->cell[c->cons & c->mask].seq,
		__ATOMIC_ACQUIRE) == c->cons + 1;
}

/* Chain of several descriptors, indirect, crossing regions: the general
 * path. D is the head descriptor, already fetched. Returns -1 when the
 * frame is in M, else the malformed reason, or VHU_MAL_NUM when
 * mbufs ran out. */
static int
dequeue_general(struct vhu_vq *vq, struct rte_mempool *mp, struct rte_mbuf *m,
	uint16_t head, const struct vhu_desc *d, bool *zc_out,
	uint32_t *len_out)
{
	struct vhu_net_hdr hdr;
	uint32_t nsegs = 0, si = 0, so = 0, frame_len, pieces = 0;
	uint64_t total = 0;
	bool zc = false;
	int rc;

	rc = walk_chain(vq, head, false, &nsegs, &total, 0, d);
	if (unlikely(rc != WALK_OK))
		return rc == WALK_SEGS_FULL ? VHU_MAL_CHAIN_LONG : rc - 1;
	if (unlikely(total <= vq->hdr_len))
		return VHU_MAL_CHAIN_SHORT;
	if (unlikely(total - vq->hdr_len > VHU_MAX_FRAME_LEN))
		return VHU_MAL_FRAME_LEN;
	if (unlikely(hdr_segments(vq, nsegs, vq->hdr_len) > 2))
		return VHU_MAL_HDR_SPLIT;
	frame_len = (uint32_t)(total - vq->hdr_len);
	memset(&hdr, 0, sizeof(hdr));
	gather(vq, (uint8_t *)&hdr, vq->hdr_len, &si, &so);
	rc = tx_hdr_check((const uint8_t *)&hdr, frame_len);
	if (unlikely(rc >= 0))
		return rc;

	if (vq->zc && frame_len >= vq->copy_threshold) {
		pieces = zc_pieces(vq, si, so, nsegs);
		if (vq->nfree == 0)
			VHU_STAT_ADD(vq, zc_budget_copies, 1);
		else if (pieces <= VHU_ZC_MAX_SEGS)
			zc = true;
	}
	if (zc) {
		if (!zc_frame(vq, mp, m, head, si, so, nsegs, frame_len, pieces))
			return VHU_MAL_NUM;
	} else if (!copy_frame(vq, mp, m, si, so, frame_len)) {
		return VHU_MAL_NUM;
	}
	*zc_out = zc;
	*len_out = frame_len;
	return -1;
}

uint16_t
vhu_dequeue_burst(struct vhu_dev *dev, uint16_t queue_pair,
	struct rte_mempool *mp, struct rte_mbuf **pkts, uint16_t n)
{
	struct vhu_vq *vq;
	uint16_t avail_idx, pending, cnt = 0, used_n = 0, i, pre = 0;
	uint32_t nzc = 0, ncopy = 0;
	uint64_t bytes = 0;
	struct rte_mbuf *single = NULL;

	if (unlikely(dev == NULL || queue_pair >= dev->nr_qp || mp == NULL ||
			(pkts == NULL && n > 0)))
		return 0;
	vq = &dev->vqs[2 * queue_pair + 1];
	if (!vq_enter(vq))
		return 0;

	if (vq->cring != NULL && zc_completion_waiting(vq))
		vhu_vq_zc_drain(vq, true);
	if (queue_pair == 0 && n > 0 &&
			unlikely(__atomic_load_n(&dev->rarp_pending,
				__ATOMIC_RELAXED)))
		cnt = inject_rarp(dev, vq, mp, pkts);

	avail_idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
	pending = (uint16_t)(avail_idx - vq->last_avail);
	if (unlikely(pending > vq->size)) {
		vq_fault(vq, VHU_MAL_AVAIL_IDX);
		goto out;
	}
	if (pending > n - cnt)
		pending = n - cnt;
	if (pending == 0)
		goto done;
	prefetch_descs(vq, pending);
	/* One mempool operation for the burst; should the pool be nearly
	 * empty, frame by frame as far as it goes. */
	if (rte_pktmbuf_alloc_bulk(mp, &pkts[cnt], pending) == 0)
		pre = pending;

	for (i = 0; i < pending; i++) {
		uint16_t head = load16(&vq->avail->ring[vq->last_avail &
			vq->mask]);
		uint32_t frame_len = 0;
		struct rte_mbuf *m;
		struct vhu_desc d;
		bool zc = false;
		int rc = -1;

		/* last_avail advances per frame: slots are relative to it;
		 * the header and the start of the frame */
		prefetch_buf(vq, 0, (uint16_t)(pending - i), false,
			RTE_CACHE_LINE_SIZE);
		if (likely(i < pre)) {
			m = pkts[cnt];
		} else {
			m = rte_pktmbuf_alloc(mp);
			if (unlikely(m == NULL)) {
				VHU_STAT_ADD(vq, mbuf_alloc_failed, 1);
				break;
			}
			single = m;
		}
		if (unlikely(head >= vq->size)) {
			vq_fault(vq, VHU_MAL_HEAD_INDEX);
			break;
		}
		desc_fetch(&vq->desc[head], &d);
		/* Fast path: the header and the frame in one readable buffer
		 * inside one region (what virtio-net drivers send). */
		if (likely(d.flags == 0 && d.len > vq->hdr_len &&
				d.len - vq->hdr_len <= UINT16_MAX)) {
			const struct vhu_memseg *seg = vhu_gpa_lookup(vq->mt,
				&vq->mem_hint, d.addr);
			uint64_t off = d.addr - (seg != NULL ? seg->start : 0);

			if (likely(seg != NULL && d.len <= seg->size - off)) {
				uint8_t *buf = seg->hva + off;

				frame_len = d.len - vq->hdr_len;
				rc = tx_hdr_check(buf, frame_len);
				if (unlikely(rc >= 0)) {
					vq_fault(vq, (enum vhu_malformed)rc);
					break;
				}
				if (vq->zc && frame_len >= vq->copy_threshold) {
					if (vq->nfree == 0)
						VHU_STAT_ADD(vq, zc_budget_copies, 1);
					else
						zc = true;
				}
				if (zc) {
					rte_pktmbuf_attach_extbuf(m,
						buf + vq->hdr_len, RTE_BAD_IOVA,
						(uint16_t)frame_len,
						&zc_slot_take(vq, head, 1)->shinfo);
					m->data_len = (uint16_t)frame_len;
					m->pkt_len = frame_len;
				} else if (likely(frame_len <=
						rte_pktmbuf_tailroom(m))) {
					copy_bytes(rte_pktmbuf_mtod(m, void *),
						buf + vq->hdr_len, frame_len);
					m->data_len = (uint16_t)frame_len;
					m->pkt_len = frame_len;
				} else {
					vq->segs[0].hva = buf;
					vq->segs[0].gpa = d.addr;
					vq->segs[0].len = d.len;
					if (!copy_frame(vq, mp, m, 0, vq->hdr_len,
							frame_len))
						rc = VHU_MAL_NUM;
				}
				goto done_frame;
			}
		}
		rc = dequeue_general(vq, mp, m, head, &d, &zc, &frame_len);
done_frame:
		if (unlikely(rc >= 0)) {
			if (rc == VHU_MAL_NUM)
				VHU_STAT_ADD(vq, mbuf_alloc_failed, 1);
			else
				vq_fault(vq, (enum vhu_malformed)rc);
			break;
		}
		if (zc) {
			nzc++;
		} else {
			used_write(vq, (uint16_t)(vq->last_used + used_n), head,
				0);
			used_n++;
			ncopy++;
		}
		single = NULL;
		pkts[cnt++] = m;
		bytes += frame_len;
		vq->last_avail++;
	}
	/* What the burst did not use goes back. */
	if (i < pre)
		rte_pktmbuf_free_bulk(&pkts[cnt], pre - i);
	if (single != NULL)
		rte_pktmbuf_free(single);

	if (used_n > 0)
		used_publish(vq, used_n);
	if (nzc > 0)
		__atomic_fetch_add(&((struct vhu_memtab *)(uintptr_t)vq->mt)->zc_refs,
			nzc, __ATOMIC_RELAXED);
	if (nzc + ncopy > 0) {
		VHU_STAT_ADD(vq, packets, nzc + ncopy);
		VHU_STAT_ADD(vq, bytes, bytes);
		VHU_STAT_ADD(vq, zc_packets, nzc);
		VHU_STAT_ADD(vq, copied_packets, ncopy);
	}
done:
	if (vq->notify_on && vq->event_idx) {
		store16(avail_event_ptr(vq), vq->last_avail);
		log_used(vq, 4 + 8ull * vq->size, 2);
	}
out:
	vq_leave(vq);
	return cnt;
}

/* ---- enqueue (guest RX) ---- */

/* Write @p len bytes from @p src through vq->segs[0..nsegs) from
 * (*si, *so); never past the last segment. */
static inline void
scatter(struct vhu_vq *vq, uint32_t nsegs, const uint8_t *src, uint32_t len,
	uint32_t *si, uint32_t *so)
{
	while (len > 0 && *si < nsegs) {
		struct vhu_seg *seg = &vq->segs[*si];
		uint32_t c = seg->len - *so;

		if (c == 0) {
			(*si)++;
			*so = 0;
			continue;
		}
		if (c > len)
			c = len;
		copy_bytes(seg->hva + *so, src, c);
		if (unlikely(vq->log != NULL))
			vhu_log_write(vq->log, seg->gpa + *so, c);
		vq->heads[seg->head].written += c;
		src += c;
		len -= c;
		*so += c;
	}
}

/* A zeroed virtio-net header of HDR_LEN (10 or 12) bytes, with
 * num_buffers when it has the field. */
static inline void
rx_hdr_write(uint8_t *p, uint16_t hdr_len, uint16_t num_buffers)
{
	uint64_t w0 = 0;

	memcpy(p, &w0, 8);
	if (hdr_len == VHU_NET_HDR_LEN) {
		uint32_t w1 = (uint32_t)num_buffers << 16;

		memcpy(p + 8, &w1, 4);
	} else {
		uint16_t w1 = 0;

		memcpy(p + 8, &w1, 2);
	}
}

uint16_t
vhu_enqueue_burst(struct vhu_dev *dev, uint16_t queue_pair,
	struct rte_mbuf *const *pkts, uint16_t n)
{
	struct vhu_vq *vq;
	uint16_t avail_idx, pending, taken = 0, i;
	uint32_t delivered = 0, drops = 0;
	uint64_t bytes = 0;
	bool full = false;

	if (unlikely(dev == NULL || queue_pair >= dev->nr_qp || pkts == NULL ||
			n == 0))
		return 0;
	vq = &dev->vqs[2 * queue_pair];
	if (!vq_enter(vq))
		return 0;

	avail_idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
	pending = (uint16_t)(avail_idx - vq->last_avail);
	if (unlikely(pending > vq->size)) {
		vq_fault(vq, VHU_MAL_AVAIL_IDX);
		i = 0;
		goto out;
	}
	prefetch_descs(vq, RTE_MIN(pending, n));

	for (i = 0; i < n; i++) {
		const struct rte_mbuf *m = pkts[i];
		uint32_t plen = m->pkt_len;
		uint64_t need = (uint64_t)vq->hdr_len + plen, cap = 0;
		uint32_t nsegs = 0, nheads = 0, si = 0, so = 0, h, left;
		struct vhu_net_hdr hdr;
		struct vhu_desc d0;
		uint16_t head0;
		bool drop = false;
		int fault = -1;

		/* the buffer that frame i + 2 will fill (one buffer each,
		 * unless merged), and the source of frame i + 1 */
		prefetch_buf(vq, taken, pending, true, vq->hdr_len +
			(i + PREFETCH_BUF_AHEAD < n ?
			pkts[i + PREFETCH_BUF_AHEAD]->pkt_len : 0));
		if (i + 1 < n)
			prefetch_range(rte_pktmbuf_mtod(pkts[i + 1], const void *),
				pkts[i + 1]->data_len, false);
		if (plen == 0 || plen > VHU_MAX_FRAME_LEN) {
			drops++;
			continue;
		}
		if (taken >= pending) {
			full = true;
			break;
		}
		head0 = load16(&vq->avail->ring[(uint16_t)(vq->last_avail +
			taken) & vq->mask]);
		if (unlikely(head0 >= vq->size)) {
			vq_fault(vq, VHU_MAL_HEAD_INDEX);
			break;
		}
		desc_fetch(&vq->desc[head0], &d0);
		/* Fast path: one writable buffer, inside one region, that
		 * holds the header and the whole frame. */
		if (likely(d0.flags == VHU_DESC_F_WRITE && d0.len >= need)) {
			const struct vhu_memseg *seg = vhu_gpa_lookup(vq->mt,
				&vq->mem_hint, d0.addr);
			uint64_t off = d0.addr - (seg != NULL ? seg->start : 0);

			if (likely(seg != NULL && d0.len <= seg->size - off)) {
				uint8_t *buf = seg->hva + off;

				rx_hdr_write(buf, vq->hdr_len, 1);
				buf += vq->hdr_len;
				left = 0;
				if (likely(m->data_len >= plen)) {
					copy_bytes(buf, rte_pktmbuf_mtod(m,
						const void *), plen);
				} else {
					/* pkt_len bounds the copy; a chain
					 * shorter than it: what it holds */
					for (left = plen; m != NULL && left > 0;
							m = m->next) {
						uint32_t c = RTE_MIN(
							(uint32_t)m->data_len,
							left);

						copy_bytes(buf, rte_pktmbuf_mtod(m,
							const void *), c);
						buf += c;
						left -= c;
					}
				}
				need -= left;
				if (unlikely(vq->log != NULL))
					vhu_log_write(vq->log, d0.addr, need);
				used_write(vq, (uint16_t)(vq->last_used + taken),
					head0, (uint32_t)need);
				taken++;
				delivered++;
				bytes += plen;
				continue;
			}
		}
		while (cap < need) {
			const struct vhu_desc *first = NULL;
			uint16_t head;
			uint64_t clen = 0;
			int rc;

			if ((uint32_t)taken + nheads >= pending) {
				full = true;
				break;
			}
			if (nheads >= VHU_MAX_SEGS) {
				drop = true;
				break;
			}
			if (nheads == 0) {
				head = head0;
				first = &d0;
			} else {
				head = load16(&vq->avail->ring[(uint16_t)(
					vq->last_avail + taken + nheads) &
					vq->mask]);
			}
			rc = walk_chain(vq, head, true, &nsegs, &clen,
				(uint16_t)nheads, first);
			if (rc == WALK_SEGS_FULL) {
				if (nheads == 0)
					fault = VHU_MAL_CHAIN_LONG;
				else
					drop = true;
				break;
			}
			if (rc != WALK_OK) {
				fault = rc - 1;
				break;
			}
			if (nheads == 0 && clen < vq->hdr_len) {
				fault = VHU_MAL_CHAIN_SHORT;
				break;
			}
			vq->heads[nheads].id = head;
			vq->heads[nheads].cap = (uint32_t)RTE_MIN(clen,
				(uint64_t)UINT32_MAX);
			vq->heads[nheads].written = 0;
			nheads++;
			cap += clen;
			if (!vq->mrg)
				break;
		}
		if (fault >= 0) {
			vq_fault(vq, (enum vhu_malformed)fault);
			break;
		}
		if (full)
			break;
		if (drop || cap < need) {
			/* Too big for the buffers: drop, leave them for the
			 * next frame. */
			drops++;
			continue;
		}
		if (hdr_segments(vq, nsegs, vq->hdr_len) > 2) {
			vq_fault(vq, VHU_MAL_HDR_SPLIT);
			break;
		}

		memset(&hdr, 0, sizeof(hdr));
		hdr.num_buffers = vq->mrg ? (uint16_t)nheads : 1;
		scatter(vq, nsegs, (const uint8_t *)&hdr, vq->hdr_len, &si, &so);
		/* pkt_len bounds the copy even if the segments say more. */
		for (left = plen; m != NULL && left > 0; m = m->next) {
			uint32_t c = RTE_MIN((uint32_t)m->data_len, left);

			scatter(vq, nsegs, rte_pktmbuf_mtod(m, const uint8_t *),
				c, &si, &so);
			left -= c;
		}
		for (h = 0; h < nheads; h++)
			used_write(vq, (uint16_t)(vq->last_used + taken + h),
				vq->heads[h].id, vq->heads[h].written);
		taken += nheads;
		delivered++;
		bytes += plen;
	}
	if (full)
		VHU_STAT_ADD(vq, ring_full, 1);
	if (taken > 0) {
		vq->last_avail += taken;
		used_publish(vq, taken);
	}
	if (delivered > 0) {
		VHU_STAT_ADD(vq, packets, delivered);
		VHU_STAT_ADD(vq, bytes, bytes);
		VHU_STAT_ADD(vq, copied_packets, delivered);
	}
	if (drops > 0)
		VHU_STAT_ADD(vq, drops, drops);
out:
	vq_leave(vq);
	return i;
}

/* ---- notifications ---- */

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
	if (vq->event_idx) {
		if (enable) {
			store16(avail_event_ptr(vq), vq->last_avail);
			log_used(vq, 4 + 8ull * vq->size, 2);
		}
	} else {
		store16(&vq->used->flags, enable ? 0 : VHU_USED_F_NO_NOTIFY);
		log_used(vq, 0, 2);
	}
	if (enable) {
		/* Publish the request before re-reading the ring: a buffer
		 * added before the guest saw it would never be kicked. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		pending = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE) !=
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
	if (!vq->event_idx) {
		store16(&vq->used->flags, VHU_USED_F_NO_NOTIFY);
		log_used(vq, 0, 2);
	}
}
