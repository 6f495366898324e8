/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * ivshmem-net (protocol 0001h) over an ivshmem v2 device.
 *
 * Own output section: our TX queue (descriptors, avail ring, frame data)
 * plus the used ring holding our completions of the peer's TX. The peer's
 * section (mapped read-only): its TX queue and its completions of ours.
 * Descriptor i of our ring carries TX frame number i mod N, so completions
 * (which must come in order) are checked against that; buffers come FIFO
 * from the data area. Event indices: avail_event (after our used ring)
 * tells the peer when to ring us for new frames, used_event (after our
 * avail ring) when to ring us for completions. We park both far ahead
 * (no doorbells) unless the rx lcore arms its interrupt.
 *
 * Data path / control path: the hand-over of vmlink_vring.h ('run' is the
 * queues' open flag, each queue's 'busy' its inside-a-burst flag): the
 * control path clears 'run' and waits for both 'busy' to drop before
 * touching queue state. The ring layout and the event-index test are
 * vmlink_vring.h's too, shared with the vhost-user rings. The data path never
 * changes the link state itself: on a violation it records the reason,
 * sets 'need_reset' and raises the local state vector so the control path
 * wakes up and resets the link.
 */

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_branch_prediction.h>
#include <rte_eal.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>
#include <rte_pause.h>

#include "ivshm_net.h"
#include "ivshm_transport.h"
#include "ivshm_log.h"

#define EV_FAR		0x8000	/* event index parked this far ahead */
#define EV_REFRESH	0x4000	/* re-park when closer than this */

/* Pointers into one output section. */
struct vq {
	volatile struct vring_desc *desc;
	volatile uint16_t *avail_idx;
	volatile uint16_t *avail_ring;
	volatile uint16_t *used_event;	/* avail_ring[N] */
	volatile uint16_t *used_idx;
	volatile struct vring_used_elem *used_ring;
	volatile uint16_t *avail_event;	/* after used_ring[N] */
};

struct tx_shadow {
	uint32_t end;		/* section offset after this frame's buffer */
};

/* Counters each context writes alone (relaxed stores, read anywhere). */
#define STAT_ADD(f, v) __atomic_store_n(&(f), (f) + (v), __ATOMIC_RELAXED)

struct txq {
	uint32_t busy;
	uint16_t avail_idx;	/* next frame number (published after burst) */
	uint16_t last_used;	/* completions consumed */
	uint16_t used_event;	/* value parked in own used_event */
	uint32_t head;		/* data-area allocation: section offsets */
	uint32_t tail;
	struct tx_shadow *shadow;
	struct ivshm_net_stats st;
} __rte_cache_aligned;

/* What a fresh rx mbuf of the rx pool holds (rx_mbuf_template). */
struct mbuf_tmpl {
	uint64_t rearm;		/* data_off, refcnt, nb_segs, port */
	uint64_t ol_flags;
	uint32_t room;		/* bytes after the headroom */
	uint16_t headroom;
};

struct rx_pend {
	uint16_t id;		/* peer descriptor to complete */
	uint8_t zc;		/* wait for the zero-copy mbuf's free */
};

struct zc_session;

struct zc_slot {
	struct rte_mbuf_ext_shared_info shinfo;
	struct zc_session *sess;
	uint32_t done;
} __rte_cache_aligned;

/* Zero-copy state of one link incarnation: slots, referenced by the queue
 * and by every mbuf still out; freed by whoever drops the last reference. */
struct zc_session {
	uint32_t refcnt;
	uint32_t outstanding;	/* mbufs out */
	struct ivshm_map *map;	/* keeps the peer section mapped */
	struct zc_slot slot[];
};

struct rxq {
	uint32_t busy;
	uint16_t last_avail;	/* next peer frame to consume */
	uint16_t used_idx;	/* completions published */
	uint16_t avail_event;	/* value in own avail_event */
	uint8_t intr;		/* armed by rx_intr_enable */
	struct rte_mempool *mp;
	struct mbuf_tmpl tmpl;
	struct rx_pend *pend;
	struct zc_session *zc;
	struct ivshm_net_stats st;
} __rte_cache_aligned;

struct ivshm_net {
	struct ivshm_dev *dev;
	bool own_dev;
	struct ivshm_net_conf conf;
	struct ivshm_net_layout lay;
	uint32_t id;
	uint32_t peer;
	uint32_t txrx_vec;
	uint32_t max_frame;
	bool iova_va;		/* zero-copy mbufs get IOVA = VA */
	uint8_t *own;
	const uint8_t *peer_sec;
	struct vq own_vq;
	struct vq peer_vq;	/* read-only mapping */

	uint32_t run;		/* rings initialised, own state RUN */
	uint32_t link_up;
	uint32_t need_reset;	/* data path saw a violation */
	uint32_t own_state;
	uint32_t peer_gen;
	uint32_t bad_peer_state;
	bool started;
	struct ivshm_net_stats cst;	/* control-path counters */
	struct ivshm_net_stats base;	/* snapshot at stats_reset */

	struct txq tx;
	struct rxq rx;
};

static void
vq_init(struct vq *q, const uint8_t *sec, const struct ivshm_net_layout *lay)
{
	uint8_t *s = (uint8_t *)(uintptr_t)sec;
	struct vring_avail *avail = (struct vring_avail *)(s + lay->avail_off);
	struct vring_used *used = (struct vring_used *)(s + lay->used_off);
	uint32_t n = lay->num;

	q->desc = (volatile struct vring_desc *)s;
	q->avail_idx = &avail->idx;
	q->avail_ring = avail->ring;
	q->used_event = &avail->ring[n];
	q->used_idx = &used->idx;
	q->used_ring = used->ring;
	q->avail_event = (volatile uint16_t *)(void *)&used->ring[n];
}

/* ---- data path / control path hand-off ---- */

static inline bool
q_enter(struct ivshm_net *n, uint32_t *busy)
{
	if (unlikely(!vmlink_burst_enter(&n->run, busy)))
		return false;
	if (likely(!__atomic_load_n(&n->need_reset, __ATOMIC_RELAXED)))
		return true;
	vmlink_burst_leave(busy);
	return false;
}

static inline void
q_leave(uint32_t *busy)
{
	vmlink_burst_leave(busy);
}

static void
quiesce(struct ivshm_net *n)
{
	unsigned int spins = 0;

	vmlink_quiesce_start(&n->run);
	while (vmlink_burst_running(&n->rx.busy) ||
			vmlink_burst_running(&n->tx.busy)) {
		if (++spins < 1000)
			rte_pause();
		else
			sched_yield();
	}
}

/* Data path: record a violation, stop the queues, wake the control path. */
static void
violation(struct ivshm_net *n, struct ivshm_net_stats *st,
		enum ivshm_net_violation v)
{
	STAT_ADD(st->violations[v], 1);
	if (__atomic_exchange_n(&n->need_reset, 1, __ATOMIC_SEQ_CST) == 0)
		ivshm_vector_raise_local(n->dev, IVSHM_NET_VEC_STATE);
}

/* After publishing entries old..new_idx of a ring: ring the peer if its
 * event index @p evt asks for it (virtio's event-index test), counting
 * the doorbell in *kicks or its absence in *suppressed. The fence orders
 * the publishing store before the read of the peer's request. */
static inline void
notify_peer(struct ivshm_net *n, const volatile uint16_t *evt,
		uint16_t new_idx, uint16_t old, uint64_t *kicks,
		uint64_t *suppressed)
{
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vring_need_event(__atomic_load_n(evt, __ATOMIC_RELAXED), new_idx,
			old)) {
		ivshm_doorbell(n->dev, n->peer, n->txrx_vec);
		STAT_ADD(*kicks, 1);
	} else {
		STAT_ADD(*suppressed, 1);
	}
}

/* A used-ring entry {le32 id, le32 len} as one word, read or written with
 * one access. The entries sit at 4 mod 8 in the section (after the used
 * ring's flags and idx): the type says so. Little-endian host (the rings'
 * byte order, vmlink_vring.h). */
typedef uint64_t used_word __attribute__((aligned(4)));

_Static_assert(sizeof(struct vring_used_elem) == sizeof(used_word) &&
	offsetof(struct vring_used_elem, len) == 4, "used entry layout");

/* The one valid completion of descriptor @p id: {id, len = 1}. */
static __rte_always_inline uint64_t
used_entry(uint16_t id)
{
	return (uint64_t)id | (uint64_t)1 << 32;
}

/* A descriptor's second word: le32 len, le16 flags, le16 next; read as one
 * word so that each field is fetched once. */
#define DESC_LEN(w)	((uint32_t)(w))
#define DESC_FLAGS(w)	((uint16_t)((w) >> 32))
#define DESC_LEN_FLAGS(w)	((w) & 0xffffffffffffull)

/*
 * Frame copy. Frames of 16 to 64 bytes, the most by count, in two or four
 * overlapping 16-byte moves inline; the others with libc's memcpy, which
 * picks the widest vector unit at run time (rte_memcpy is built for this
 * build's -march baseline: SSE moves, about twice the instructions at
 * 1518 bytes, measured under callgrind, README).
 */
static __rte_always_inline void
frame_copy(void *dst, const void *src, uint32_t len)
{
	uint8_t *d = dst;
	const uint8_t *s = src;

	if (likely(len - 16 <= 48)) {
		rte_mov16(d, s);
		rte_mov16(d + len - 16, s + len - 16);
		if (len > 32) {
			rte_mov16(d + 16, s + 16);
			rte_mov16(d + len - 32, s + len - 32);
		}
		return;
	}
	memcpy(d, s, len);
}

/* A descriptor as two words: le64 addr; le32 len, le16 flags, le16 next. */
struct desc_words {
	uint64_t addr;
	uint64_t w1;
};

_Static_assert(sizeof(struct desc_words) == sizeof(struct vring_desc),
	"descriptor layout");


/* ---- zero-copy sessions ---- */

static void
zc_session_free(struct zc_session *s)
{
	ivshm_map_put(s->map);
	rte_free(s);
}

static void
zc_session_put(struct zc_session *s)
{
	if (s != NULL && __atomic_sub_fetch(&s->refcnt, 1, __ATOMIC_ACQ_REL) == 0)
		zc_session_free(s);
}

static void
zc_free_cb(void *addr, void *opaque)
{
	struct zc_slot *zs = opaque;
	struct zc_session *s = zs->sess;

	RTE_SET_USED(addr);
	__atomic_store_n(&zs->done, 1, __ATOMIC_RELEASE);
	__atomic_sub_fetch(&s->outstanding, 1, __ATOMIC_RELAXED);
	zc_session_put(s);
}

static struct zc_session *
zc_session_new(struct ivshm_net *n)
{
	struct zc_session *s;
	uint32_t i;

	s = rte_zmalloc_socket("ivshm_zc", sizeof(*s) +
		sizeof(struct zc_slot) * n->lay.num, RTE_CACHE_LINE_SIZE,
		n->conf.socket_id);
	if (s == NULL)
		return NULL;
	s->refcnt = 1;
	s->map = ivshm_map_get(n->dev->map);
	for (i = 0; i < n->lay.num; i++) {
		s->slot[i].sess = s;
		s->slot[i].shinfo.free_cb = zc_free_cb;
		s->slot[i].shinfo.fcb_opaque = &s->slot[i];
	}
	return s;
}

/* Control path, queues quiesced: a session with mbufs out is left to them
 * (they must not complete into the next incarnation's ring). */
static void
zc_renew(struct ivshm_net *n)
{
	struct zc_session *s = n->rx.zc;

	if (n->conf.zc_budget == 0)
		return;
	if (s != NULL && __atomic_load_n(&s->outstanding, __ATOMIC_ACQUIRE) == 0)
		return;		/* reusable as is */
	n->rx.zc = zc_session_new(n);
	if (n->rx.zc == NULL)
		IVSHM_LOG(WARNING, "no memory for zero-copy state: copying");
	zc_session_put(s);
}

/* ---- tx ---- */

/* Check @p cnt completions from @p slot on, not past the ring's end: each
 * entry read once, as one word, and compared with the only value it may
 * hold, {id = its own slot, len = 1} (a running value: one compare per
 * entry). Returns how many are good; *bad gets the first bad entry. */
static __rte_always_inline uint16_t
tx_used_run(const volatile used_word *ring, uint16_t slot, uint16_t cnt,
		uint64_t *bad)
{
	uint64_t expect = used_entry(slot);
	uint16_t k;

	for (k = 0; k < cnt; k++, expect++) {
		uint64_t w = ring[slot + k];

		if (unlikely(w != expect)) {
			*bad = w;
			break;
		}
	}
	return k;
}

/* Take completions of our frames from the peer's used ring. With
 * 'count' false (control path, the link going down), stop quietly at the
 * first bad entry instead of recording a violation. The entries are
 * checked in at most two runs (before and after the ring wraps). Only
 * the last frame's buffer end matters for the data area's tail. */
static inline int
tx_reclaim_ext(struct ivshm_net *n, struct txq *q, bool count)
{
	const volatile used_word *ring =
		(const volatile used_word *)n->peer_vq.used_ring;
	uint16_t mask = (uint16_t)(n->lay.num - 1);
	uint16_t used = __atomic_load_n(n->peer_vq.used_idx, __ATOMIC_ACQUIRE);
	uint16_t last = q->last_used, todo = (uint16_t)(used - last);
	uint16_t slot = last & mask, run, good;
	uint64_t bad = 0;

	if (todo == 0)
		return 0;
	if (unlikely(todo > (uint16_t)(q->avail_idx - last))) {
		if (count)
			violation(n, &q->st, IVSHM_NET_V_USED_IDX);
		return -1;
	}
	run = RTE_MIN(todo, (uint16_t)(mask + 1 - slot));
	good = tx_used_run(ring, slot, run, &bad);
	if (good == run && run < todo)
		good += tx_used_run(ring, 0, todo - run, &bad);
	/* the completions before a bad entry count */
	if (good > 0) {
		q->tail = q->shadow[(uint16_t)(last + good - 1) & mask].end;
		q->last_used = (uint16_t)(last + good);
	}
	if (likely(good == todo))
		return 0;
	if (count)
		violation(n, &q->st, (uint32_t)bad != ((last + good) & mask) ?
			IVSHM_NET_V_USED_ID : IVSHM_NET_V_USED_LEN);
	return -1;
}

static inline int
tx_reclaim(struct ivshm_net *n, struct txq *q)
{
	return tx_reclaim_ext(n, q, true);
}

/*
 * tx burst, as stages: enter (link, completions, event index) -> per frame
 * reserve (ring slot and data-area buffer) -> copy -> descriptor; then one
 * publish of the avail index and the peer's doorbell if it asked (notify).
 *
 * The per-frame stages work on a struct tx_run: the queue's state and the
 * section's pointers copied into locals for the burst and the state
 * written back once. Stores into the shared section may alias the
 * queue's fields (same types), so the compiler would otherwise reload
 * each of them for every frame (measured under callgrind, README).
 */

/* Enter the tx queue: link running, completions taken, used_event parked
 * (we never want completion doorbells). False: nothing can be sent. */
static inline bool
tx_enter(struct ivshm_net *n, struct txq *q)
{
	if (unlikely(!__atomic_load_n(&n->link_up, __ATOMIC_RELAXED) ||
			!q_enter(n, &q->busy))) {
		STAT_ADD(q->st.tx_link_down, 1);
		return false;
	}
	if (unlikely(tx_reclaim(n, q) != 0)) {
		q_leave(&q->busy);
		return false;
	}
	if ((uint16_t)(q->used_event - q->last_used) < EV_REFRESH) {
		q->used_event = (uint16_t)(q->last_used + EV_FAR);
		__atomic_store_n(n->own_vq.used_event, q->used_event,
			__ATOMIC_RELAXED);
	}
	return true;
}

struct tx_run {
	volatile struct vring_desc *desc;
	struct tx_shadow *shadow;
	uint8_t *sec;		/* own section */
	uint32_t start;		/* data area: [start, end) of the section */
	uint32_t end;
	uint32_t max_frame;
	/* ring size - 1, the next frame number (q->avail_idx) and idx when
	 * the ring is full: 32-bit, counting past 65535 within a burst (the
	 * index is stored back truncated), so that they need no zero
	 * extension per frame */
	uint32_t mask;
	uint32_t idx;
	uint32_t ring_end;
	uint32_t head;		/* buffers in flight: [tail, head), wrapping */
	uint32_t tail;
	uint32_t limit;		/* end of the free space that starts at head */
};

/* The free space that starts at head: FIFO buffers, so it runs to the end
 * of the data area when head is past tail (the start may be free too:
 * tx_wrap), else to tail (none when head == tail with frames in flight).
 * An empty ring starts over at the start. */
static inline void
tx_limit(struct tx_run *r, uint16_t last_used)
{
	if (r->idx == last_used) {
		r->head = r->tail = r->start;
		r->limit = r->end;
	} else {
		r->limit = r->head > r->tail ? r->end : r->tail;
	}
}

static inline void
tx_run_load(const struct ivshm_net *n, const struct txq *q, struct tx_run *r)
{
	r->desc = n->own_vq.desc;
	r->shadow = q->shadow;
	r->sec = n->own;
	r->start = n->lay.data_off;
	r->end = (uint32_t)n->lay.section_size;
	r->max_frame = n->max_frame;
	r->mask = n->lay.num - 1u;
	r->idx = q->avail_idx;
	r->ring_end = r->idx + (uint16_t)(q->last_used + n->lay.num -
		q->avail_idx);
	r->head = q->head;
	r->tail = q->tail;
	tx_limit(r, q->last_used);
}

static inline void
tx_run_store(struct txq *q, const struct tx_run *r)
{
	q->avail_idx = (uint16_t)r->idx;
	q->head = r->head;
	q->tail = r->tail;
}

/* Reserve a ring slot and a data-area buffer for @p len bytes: false
 * when either is full, else the buffer's offset in the section in
 * @p off (a flag rather than an offset of 0 for "full": the caller's
 * test then folds into these branches). The common case, room after
 * head, is one compare; else the buffer starts again at the beginning
 * of the data area if the oldest frame in flight left room there. */
static __rte_always_inline bool
tx_reserve(struct tx_run *r, uint32_t len, uint32_t *off)
{
	uint32_t slot = (uint32_t)IVSHM_NET_FRAME_SLOT(len), o = r->head;

	if (unlikely(r->idx == r->ring_end))
		return false;
	if (unlikely(slot > r->limit - o)) {
		if (r->head <= r->tail || r->tail - r->start < slot)
			return false;
		o = r->start;
		r->limit = r->tail;
	}
	r->head = o + slot;
	*off = o;
	return true;
}

/* Copy stage: a one-segment mbuf (nearly all) in one copy. */
static __rte_always_inline void
copy_from_mbuf(uint8_t *dst, const struct rte_mbuf *m, uint32_t len)
{
	if (likely(m->next == NULL)) {
		frame_copy(dst, rte_pktmbuf_mtod(m, const void *), len);
		return;
	}
	for (; m != NULL && len != 0; m = m->next) {
		uint32_t l = RTE_MIN((uint32_t)m->data_len, len);

		rte_memcpy(dst, rte_pktmbuf_mtod(m, const void *), l);
		dst += l;
		len -= l;
	}
}

/* The descriptor of the next frame: its buffer at section offset @p off.
 * Descriptor i carries frame number i mod N (completions are checked
 * against that): its avail ring entry, flags and next never change and
 * were written when the section was set up (tx_ring_init). */
static __rte_always_inline void
tx_desc(struct tx_run *r, uint32_t off, uint32_t len)
{
	uint32_t d = r->idx & r->mask;

	r->desc[d].addr = off;
	r->desc[d].len = len;
	r->shadow[d].end = r->head;
	r->idx++;
}

/* Copy frames into the data area until the ring or the data area is full;
 * returns how many mbufs were consumed (oversize ones dropped, counted). */
static inline uint16_t
tx_frames(struct ivshm_net *n, struct txq *q, struct rte_mbuf **pkts,
		uint16_t nb, uint64_t *bytes)
{
	struct tx_run r;
	uint64_t sum = 0;
	uint16_t i;

	tx_run_load(n, q, &r);
	for (i = 0; i < nb; i++) {
		const struct rte_mbuf *m = pkts[i];
		uint32_t len = m->pkt_len, off;

		/* 0 or longer than max_frame, in one compare */
		if (unlikely(len - 1 >= r.max_frame)) {
			STAT_ADD(q->st.tx_oversize, 1);
			continue;	/* consumed: the caller frees it */
		}
		if (unlikely(!tx_reserve(&r, len, &off)))
			break;
		copy_from_mbuf(r.sec + off, m, len);
		tx_desc(&r, off, len);
		sum += len;
	}
	tx_run_store(q, &r);
	*bytes = sum;
	return i;
}

/* Publish frames old..avail_idx with one store; ring the peer if its
 * event index asks for it. */
static inline void
tx_publish(struct ivshm_net *n, struct txq *q, uint16_t old, uint64_t bytes)
{
	__atomic_store_n(n->own_vq.avail_idx, q->avail_idx, __ATOMIC_RELEASE);
	STAT_ADD(q->st.tx_frames, (uint16_t)(q->avail_idx - old));
	STAT_ADD(q->st.tx_bytes, bytes);
	notify_peer(n, n->peer_vq.avail_event, q->avail_idx, old,
		&q->st.tx_kicks, &q->st.tx_kicks_suppressed);
}

uint16_t
ivshm_net_tx_burst(struct ivshm_net *n, struct rte_mbuf **pkts, uint16_t nb)
{
	struct txq *q = &n->tx;
	uint64_t bytes = 0;
	uint16_t old, done;

	if (unlikely(!tx_enter(n, q)))
		return 0;
	old = q->avail_idx;
	done = tx_frames(n, q, pkts, nb, &bytes);
	if (q->avail_idx != old)
		tx_publish(n, q, old, bytes);
	if (done < nb)
		STAT_ADD(q->st.tx_full, 1);
	q_leave(&q->busy);
	return done;
}

uint32_t
ivshm_net_tx_inflight(struct ivshm_net *n)
{
	struct txq *q = &n->tx;
	uint32_t left;

	if (!q_enter(n, &q->busy))
		return 0;
	tx_reclaim(n, q);
	left = (uint16_t)(q->avail_idx - q->last_used);
	q_leave(&q->busy);
	return left;
}

/* ---- rx ---- */

/* Publish: the completions that are ready, in order (a zero-copy frame's
 * once its mbuf was freed); returns the used index before. Without
 * zero-copy every frame taken is complete and rx_translate wrote its
 * used entry: only the index moves. Pointers and indices in locals, as
 * in tx_run. */
static inline uint16_t
rx_publish(struct ivshm_net *n, struct rxq *q)
{
	volatile used_word *ring = (volatile used_word *)n->own_vq.used_ring;
	const struct rx_pend *pend = q->pend;
	const struct zc_session *zc = q->zc;
	uint16_t mask = (uint16_t)(n->lay.num - 1);
	uint16_t idx = q->used_idx, old = idx, end = q->last_avail;

	if (zc == NULL)
		idx = end;
	for (; idx != end; idx++) {
		uint16_t slot = idx & mask;

		if (pend[slot].zc && !__atomic_load_n(&zc->slot[slot].done,
				__ATOMIC_ACQUIRE))
			break;
		ring[slot] = used_entry(pend[slot].id);
	}
	if (idx != old) {
		__atomic_store_n(n->own_vq.used_idx, idx, __ATOMIC_RELEASE);
		q->used_idx = idx;
	}
	return old;
}

/* Publish, then notify: the peer's used_event asks about old..used_idx. */
static inline void
rx_complete(struct ivshm_net *n, struct rxq *q)
{
	uint16_t old = rx_publish(n, q);

	if (old != q->used_idx)
		notify_peer(n, n->peer_vq.used_event, q->used_idx, old,
			&q->st.rx_kicks, &q->st.rx_kicks_suppressed);
}

static inline void
park_avail_event(struct ivshm_net *n, struct rxq *q)
{
	if (q->intr)
		return;
	if ((uint16_t)(q->avail_event - q->last_avail) < EV_REFRESH) {
		q->avail_event = (uint16_t)(q->last_avail + EV_FAR);
		__atomic_store_n(n->own_vq.avail_event, q->avail_event,
			__ATOMIC_RELAXED);
	}
}

/*
 * rx burst, as stages: fetch (the peer's avail index, checked) -> per
 * frame translate (its descriptor read once and checked) -> copy or
 * zero-copy (rx_deliver, the one decision) -> publish (completions, in
 * order) -> notify (notify_peer: the doorbell if the peer asked).
 */

/* A peer frame, translated. */
struct rx_frame {
	const uint8_t *src;	/* in the peer's section */
	uint32_t len;
	uint32_t slot;		/* ring slot: pend[] and zero-copy slot */
};

enum rx_verdict {
	RX_FRAME,		/* deliver it */
	RX_DROP,		/* completed and counted, not delivered */
	RX_STOP,		/* a violation: stop the burst */
};

/* Fetch: how many frames to take, at most @p nb; -1 on a violation. */
static inline int
rx_fetch(struct ivshm_net *n, struct rxq *q, uint16_t nb)
{
	uint16_t avail = __atomic_load_n(n->peer_vq.avail_idx,
		__ATOMIC_ACQUIRE);
	uint16_t ahead = (uint16_t)(avail - q->used_idx);

	/* The peer may only publish forward, and at most N frames past the
	 * last completion: avail in [last_avail, used_idx + N]. An index
	 * moving back behind last_avail (frames consumed but not completed
	 * yet, e.g. zero-copy mbufs still out) would redeliver them and reuse
	 * their slots while their mbufs are out. */
	if (unlikely(ahead > n->lay.num ||
			ahead < (uint16_t)(q->last_avail - q->used_idx))) {
		violation(n, &q->st, IVSHM_NET_V_AVAIL_IDX);
		return -1;
	}
	return RTE_MIN((uint16_t)(avail - q->last_avail), nb);
}

/*
 * One burst's view of the peer's ring and of the mbuf template, in locals
 * (see tx_run: stores into the mbufs may alias the queue's fields).
 * The per-frame stages take 'zc' as a constant: the burst runs one of two
 * copies of the loop, the one without zero-copy free of its tests.
 */
struct rx_run {
	const volatile uint16_t *avail_ring;
	const volatile struct desc_words *desc;
	const uint8_t *data;	/* the peer's data area */
	/* without zero-copy a frame's used entry is written when it is
	 * taken (published after the burst, rx_publish): only its id, the
	 * len of every entry is 1 from rx_ring_init on; with zero-copy,
	 * noted in pend[] */
	volatile struct vring_used_elem *used;
	struct rx_pend *pend;
	uint64_t data_off;
	uint64_t data_size;
	struct mbuf_tmpl tmpl;
	uint32_t max_frame;	/* the link's, as tx applies it */
	/* ring size - 1 and q->last_avail: 32-bit, as in tx_run */
	uint32_t mask;
	uint32_t last_avail;
};

static inline void
rx_run_load(const struct ivshm_net *n, const struct rxq *q, struct rx_run *r)
{
	r->avail_ring = n->peer_vq.avail_ring;
	r->desc = (const volatile struct desc_words *)n->peer_vq.desc;
	r->data = n->peer_sec + n->lay.data_off;
	r->used = n->own_vq.used_ring;
	r->pend = q->pend;
	r->data_off = n->lay.data_off;
	r->data_size = n->lay.data_size;
	r->tmpl = q->tmpl;
	r->max_frame = n->max_frame;
	r->mask = n->lay.num - 1u;
	r->last_avail = q->last_avail;
}

/*
 * A fresh rx mbuf, as rte_pktmbuf_reset() leaves one, with the frame's
 * lengths: the 8 bytes from data_off to port from the template of
 * rx_mbuf_template() (data_off, refcnt 1, nb_segs 1, port) in one store,
 * data_len, vlan_tci and hash in another (the layout is checked at build
 * time). The mbuf comes raw from its pool: next is already NULL there
 * (mbuf invariant); every other field reset sets is rewritten here.
 */
static __rte_always_inline void
rx_mbuf_init(struct rte_mbuf *m, const struct mbuf_tmpl *t, uint32_t len,
		uint16_t data_len)
{
	uint64_t lens = data_len;	/* vlan_tci 0, hash 0 */
	uint8_t *b = (uint8_t *)m;

	/* memcpy: one move each, without type-punned pointers */
	memcpy(b + offsetof(struct rte_mbuf, rearm_data), &t->rearm, 8);
	m->ol_flags = t->ol_flags;
	m->packet_type = 0;
	m->pkt_len = len;
	memcpy(b + offsetof(struct rte_mbuf, data_len), &lens, 8);
	m->vlan_tci_outer = 0;
	m->tx_offload = 0;
}

/* The template rx_mbuf_init copies: what rte_pktmbuf_reset() gives an
 * mbuf of @p mp (control path). */
static void
rx_mbuf_template(struct mbuf_tmpl *t, struct rte_mempool *mp, uint16_t port)
{
	struct rte_mbuf m;
	uint16_t room = rte_pktmbuf_data_room_size(mp);

	RTE_BUILD_BUG_ON(offsetof(struct rte_mbuf, rearm_data) + 8 !=
		offsetof(struct rte_mbuf, ol_flags));
	RTE_BUILD_BUG_ON(offsetof(struct rte_mbuf, vlan_tci) !=
		offsetof(struct rte_mbuf, data_len) + 2 ||
		offsetof(struct rte_mbuf, hash) !=
		offsetof(struct rte_mbuf, data_len) + 4 ||
		offsetof(struct rte_mbuf, data_len) % 8 != 0);
	memset(&m, 0, sizeof(m));
	m.data_off = RTE_MIN((uint16_t)RTE_PKTMBUF_HEADROOM, room);
	rte_mbuf_refcnt_set(&m, 1);
	m.nb_segs = 1;
	m.port = port;
	memcpy(&t->rearm, &m.rearm_data, sizeof(t->rearm));
	/* a pool of pinned external buffers keeps the flag (as reset does) */
	t->ol_flags = rte_pktmbuf_priv_flags(mp) &
		RTE_PKTMBUF_POOL_F_PINNED_EXT_BUF ? RTE_MBUF_F_EXTERNAL : 0;
	t->headroom = m.data_off;
	t->room = room - m.data_off;
}

/* Copy a frame longer than one mbuf's room into m and a chain of further
 * segments; -1 (m left bare, one segment) if no mbuf for a segment. */
static __rte_noinline int
copy_to_chain(struct rxq *q, struct rte_mbuf *m, const uint8_t *src,
		uint32_t len)
{
	struct rte_mbuf *prev = m, *seg;
	uint32_t l;

	rx_mbuf_init(m, &q->tmpl, len, 0);
	l = RTE_MIN(q->tmpl.room, (uint32_t)UINT16_MAX);
	rte_memcpy(rte_pktmbuf_mtod(m, void *), src, l);
	m->data_len = (uint16_t)l;
	src += l;
	len -= l;
	while (len != 0) {
		seg = rte_pktmbuf_alloc(q->mp);
		if (seg == NULL) {
			/* give the segments back, keep m bare */
			rte_pktmbuf_free(m->next);
			m->next = NULL;
			m->nb_segs = 1;
			m->data_len = 0;
			m->pkt_len = 0;
			return -1;
		}
		l = RTE_MIN(rte_pktmbuf_tailroom(seg), len);
		l = RTE_MIN(l, (uint32_t)UINT16_MAX);
		rte_memcpy(rte_pktmbuf_mtod(seg, void *), src, l);
		seg->data_len = (uint16_t)l;
		prev->next = seg;
		prev = seg;
		m->nb_segs++;
		src += l;
		len -= l;
	}
	return 0;
}


/* Translate the next frame: its descriptor, each field read once (the
 * peer may rewrite them; len, flags and next in one word), checked; a
 * valid one is consumed (completed at the next publish, unless zero-copy
 * holds it). */
static __rte_always_inline enum rx_verdict
rx_translate(struct ivshm_net *n, struct rxq *q, struct rx_run *r,
		struct rx_frame *f, const bool zc)
{
	uint32_t slot = r->last_avail & r->mask;
	uint16_t id = r->avail_ring[slot];
	uint64_t off, w;
	uint32_t len;

	if (unlikely(id > r->mask)) {
		violation(n, &q->st, IVSHM_NET_V_DESC_ID);
		return RX_STOP;
	}
	off = r->desc[id].addr - r->data_off;
	w = r->desc[id].w1;
	len = DESC_LEN(w);
	/* addr in [data start, section end): one unsigned compare */
	if (unlikely(off >= r->data_size)) {
		violation(n, &q->st, IVSHM_NET_V_DESC_ADDR);
		return RX_STOP;
	}
	/* len, with the flags above it: flags other than 0 make it longer
	 * than any data area (< 4 GiB), so one compare checks both */
	if (unlikely(DESC_LEN_FLAGS(w) > r->data_size - off)) {
		violation(n, &q->st, DESC_FLAGS(w) != 0 ?
			IVSHM_NET_V_DESC_FLAGS : IVSHM_NET_V_DESC_LEN);
		return RX_STOP;
	}
	if (!zc) {
		r->used[slot].id = id;
	} else {
		r->pend[slot].id = id;
		r->pend[slot].zc = 0;
	}
	r->last_avail++;
	/* runt or longer than the link's max frame (what our tx would
	 * refuse to send: both sections have one layout): one compare */
	if (unlikely(len - IVSHM_NET_MIN_FRAME >
			r->max_frame - IVSHM_NET_MIN_FRAME)) {
		if (len < IVSHM_NET_MIN_FRAME)
			STAT_ADD(q->st.rx_runts, 1);
		else
			STAT_ADD(q->st.rx_oversize, 1);
		return RX_DROP;
	}
	f->src = r->data + off;
	f->len = len;
	f->slot = slot;
	return RX_FRAME;
}

/* The one zero-copy-or-copy decision: zero-copy when enabled, the frame
 * is long enough, fits one mbuf and the budget has room. */
static inline bool
rx_zero_copy(struct ivshm_net *n, struct rxq *q, uint32_t len)
{
	if (len < n->conf.zc_min_len || len > UINT16_MAX)
		return false;
	if (__atomic_load_n(&q->zc->outstanding, __ATOMIC_RELAXED) <
			n->conf.zc_budget)
		return true;
	STAT_ADD(q->st.rx_zc_budget_copies, 1);
	return false;
}

/* Zero-copy: @p m points at the frame in the peer's section; its slot is
 * completed once the mbuf is freed. */
static inline void
rx_attach(struct ivshm_net *n, struct rxq *q, struct rte_mbuf *m,
		const struct rx_frame *f)
{
	struct zc_slot *zs = &q->zc->slot[f->slot];
	void *va = (void *)(uintptr_t)f->src;

	zs->done = 0;
	rte_mbuf_ext_refcnt_set(&zs->shinfo, 1);
	__atomic_add_fetch(&q->zc->refcnt, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&q->zc->outstanding, 1, __ATOMIC_RELAXED);
	rx_mbuf_init(m, &q->tmpl, f->len, 0);
	rte_pktmbuf_attach_extbuf(m, va, n->iova_va ? (rte_iova_t)(uintptr_t)va :
		RTE_BAD_IOVA, (uint16_t)f->len, &zs->shinfo);
	m->data_len = (uint16_t)f->len;	/* attach_extbuf zeroes it */
	q->pend[f->slot].zc = 1;
	STAT_ADD(q->st.rx_zc_frames, 1);
}

/* Copy or zero-copy @p f into the raw mbuf @p m; false when no mbuf was
 * left for a segment of a long frame. */
static __rte_always_inline bool
rx_deliver(struct ivshm_net *n, struct rxq *q, const struct rx_run *r,
		struct rte_mbuf *m, const struct rx_frame *f, const bool zc)
{
	if (zc && rx_zero_copy(n, q, f->len)) {
		rx_attach(n, q, m, f);
		return true;
	}
	if (likely(f->len <= r->tmpl.room)) {
		rx_mbuf_init(m, &r->tmpl, f->len, (uint16_t)f->len);
		frame_copy((uint8_t *)m->buf_addr + r->tmpl.headroom, f->src,
			f->len);
		return true;
	}
	return copy_to_chain(q, m, f->src, f->len) == 0;
}

/* @p cnt frames into mbufs taken raw from the pool (rx_mbuf_init makes
 * them fresh); returns how many were delivered, the unused ones go back. */
static __rte_always_inline uint16_t
rx_frames(struct ivshm_net *n, struct rxq *q, struct rte_mbuf **pkts,
		uint16_t cnt, const bool zc)
{
	uint64_t bytes = 0;
	uint32_t end, got = 0;	/* 32-bit, as the indices of rx_run */
	struct rx_frame f;
	struct rx_run r;

	if (unlikely(rte_mempool_get_bulk(q->mp, (void **)pkts, cnt) != 0)) {
		STAT_ADD(q->st.rx_nombuf, cnt);
		return 0;
	}
	rx_run_load(n, q, &r);
	end = r.last_avail + cnt;
	while (r.last_avail != end) {
		enum rx_verdict v = rx_translate(n, q, &r, &f, zc);

		if (v == RX_STOP)
			break;
		if (v == RX_DROP)
			continue;
		if (unlikely(!rx_deliver(n, q, &r, pkts[got], &f, zc))) {
			/* the frame stays in the ring for a later burst, as
			 * when the bulk allocation fails (never a silent
			 * drop) */
			r.last_avail--;
			STAT_ADD(q->st.rx_nombuf, 1);
			break;
		}
		bytes += f.len;
		got++;
	}
	q->last_avail = (uint16_t)r.last_avail;
	/* still as the pool keeps them: copy_to_chain leaves a failed one
	 * with one segment and one reference */
	if (got < cnt)
		rte_mempool_put_bulk(q->mp, (void **)&pkts[got], cnt - got);
	STAT_ADD(q->st.rx_frames, got);
	STAT_ADD(q->st.rx_bytes, bytes);
	return (uint16_t)got;
}

uint16_t
ivshm_net_rx_burst(struct ivshm_net *n, struct rte_mbuf **pkts, uint16_t nb)
{
	struct rxq *q = &n->rx;
	uint16_t got = 0;
	int cnt;

	if (unlikely(!q_enter(n, &q->busy)))
		return 0;
	if (q->used_idx != q->last_avail)
		rx_complete(n, q);	/* zero-copy frees since last time */
	cnt = rx_fetch(n, q, nb);
	if (likely(cnt >= 0)) {
		if (cnt > 0)
			got = q->zc == NULL ?
				rx_frames(n, q, pkts, (uint16_t)cnt, false) :
				rx_frames(n, q, pkts, (uint16_t)cnt, true);
		rx_complete(n, q);
		park_avail_event(n, q);
	}
	q_leave(&q->busy);
	return got;
}

int
ivshm_net_rx_intr_fd(const struct ivshm_net *n)
{
	if (n->txrx_vec == IVSHM_NET_VEC_STATE)
		return -ENOTSUP;
	return ivshm_vector_fd(n->dev, n->txrx_vec);
}

int
ivshm_net_rx_intr_enable(struct ivshm_net *n)
{
	struct rxq *q = &n->rx;
	uint16_t avail;

	if (n->txrx_vec == IVSHM_NET_VEC_STATE)
		return -ENOTSUP;
	/* Armed before looking at the link (against rx_wake_armed): either
	 * this sees the link running, or the control path sees the arm. */
	__atomic_store_n(&q->intr, 1, __ATOMIC_RELAXED);
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!q_enter(n, &q->busy))
		return 0;	/* woken when the link runs (rx_wake_armed) */
	STAT_ADD(q->st.rx_intr_arms, 1);
	q->avail_event = q->last_avail;
	__atomic_store_n(n->own_vq.avail_event, q->avail_event,
		__ATOMIC_RELAXED);
	/* publish, then look again: frames that came before the peer could
	 * see the new event index would never be signalled */
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	avail = __atomic_load_n(n->peer_vq.avail_idx, __ATOMIC_ACQUIRE);
	if (avail != q->last_avail) {
		STAT_ADD(q->st.rx_intr_rechecks, 1);
		ivshm_vector_raise_local(n->dev, n->txrx_vec);
	}
	q_leave(&q->busy);
	return 0;
}

int
ivshm_net_rx_intr_disable(struct ivshm_net *n)
{
	struct rxq *q = &n->rx;

	if (n->txrx_vec == IVSHM_NET_VEC_STATE)
		return -ENOTSUP;
	if (q->intr)
		STAT_ADD(q->st.rx_wakeups, 1);
	__atomic_store_n(&q->intr, 0, __ATOMIC_RELAXED);
	if (!q_enter(n, &q->busy))
		return 0;
	q->avail_event = (uint16_t)(q->last_avail + EV_FAR);
	__atomic_store_n(n->own_vq.avail_event, q->avail_event,
		__ATOMIC_RELAXED);
	q_leave(&q->busy);
	return 0;
}

int
ivshm_net_rx_wait(struct ivshm_net *n, int timeout_ms)
{
	struct pollfd pfd;
	uint64_t cnt;
	int r, fd = ivshm_net_rx_intr_fd(n);

	if (fd < 0)
		return fd;
	ivshm_net_rx_intr_enable(n);
	pfd.fd = fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	r = poll(&pfd, 1, timeout_ms);
	/* read only what poll saw: the fd may be blocking (ivshm_sock.c) */
	if (r > 0 && (!(pfd.revents & POLLIN) ||
			read(fd, &cnt, sizeof(cnt)) != sizeof(cnt)))
		r = 0;
	ivshm_net_rx_intr_disable(n);
	return r > 0 ? 1 : 0;
}

/* ---- control path ---- */

static void
set_state(struct ivshm_net *n, uint32_t st)
{
	if (st == IVSHM_NET_STATE_RESET && n->own_state != st)
		STAT_ADD(n->cst.link_resets, 1);
	n->own_state = st;
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	ivshm_reg_write(n->dev, IVSHM_REG_STATE, st);
}

/* Leave RUN/READY: quiesce, count what was lost, state RESET. */
static void
link_reset(struct ivshm_net *n, const char *why)
{
	uint16_t lost;

	quiesce(n);
	/* what the peer completed before it went is not lost */
	if (n->own_state == IVSHM_NET_STATE_RUN)
		tx_reclaim_ext(n, &n->tx, false);
	lost = (uint16_t)(n->tx.avail_idx - n->tx.last_used);
	if (lost != 0 && n->own_state >= IVSHM_NET_STATE_READY) {
		STAT_ADD(n->cst.tx_dropped_peer_gone, lost);
		n->tx.last_used = n->tx.avail_idx;
	}
	if (n->own_state != IVSHM_NET_STATE_RESET)
		IVSHM_LOG(INFO, "peer %u: link reset (%s), %u frame(s) in "
			"flight dropped", n->id, why, lost);
	__atomic_store_n(&n->need_reset, 0, __ATOMIC_SEQ_CST);
	set_state(n, IVSHM_NET_STATE_RESET);
}

/* READY -> RUN: a receiver that armed while the link was not running
 * could not set its event index (rx_intr_enable stops at the closed
 * queue), so the peer's first frames would ring no doorbell and a
 * receiver sleeping without a timeout would never wake. Wake it: it
 * polls, then arms again on the running link. */
static void
rx_wake_armed(struct ivshm_net *n)
{
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (n->txrx_vec != IVSHM_NET_VEC_STATE &&
			__atomic_load_n(&n->rx.intr, __ATOMIC_RELAXED))
		ivshm_vector_raise_local(n->dev, n->txrx_vec);
}

/* Descriptor i always carries frame i mod N (tx_desc): its avail ring
 * entry is i, its flags and next stay 0 (the section was just zeroed).
 * Written once here rather than for every frame. */
static void
tx_ring_init(struct ivshm_net *n)
{
	uint32_t i;

	for (i = 0; i < n->lay.num; i++)
		n->own_vq.avail_ring[i] = (uint16_t)i;
}

/* Every completion is {id, len = 1} (used_entry): the len of each used
 * entry written once here, so that rx without zero-copy writes only the
 * id (rx_translate). */
static void
rx_ring_init(struct ivshm_net *n)
{
	uint32_t i;

	for (i = 0; i < n->lay.num; i++)
		n->own_vq.used_ring[i].len = 1;
}

/* INIT -> READY: fresh rings in the own section. */
static void
init_queues(struct ivshm_net *n)
{
	struct txq *t = &n->tx;
	struct rxq *r = &n->rx;

	quiesce(n);
	memset(n->own, 0, n->lay.section_size);
	tx_ring_init(n);
	rx_ring_init(n);
	t->avail_idx = t->last_used = 0;
	t->head = t->tail = n->lay.data_off;
	t->used_event = EV_FAR;
	*n->own_vq.used_event = EV_FAR;
	r->last_avail = r->used_idx = 0;
	r->avail_event = r->intr ? 0 : EV_FAR;
	*n->own_vq.avail_event = r->avail_event;
	memset(r->pend, 0, sizeof(*r->pend) * n->lay.num);
	zc_renew(n);
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static bool
peer_state_ok(struct ivshm_net *n, uint32_t ps)
{
	if (ps <= IVSHM_NET_STATE_RUN) {
		n->bad_peer_state = 0;
		return true;
	}
	if (n->bad_peer_state != ps) {
		n->bad_peer_state = ps;
		STAT_ADD(n->cst.violations[IVSHM_NET_V_PEER_STATE], 1);
		IVSHM_LOG(WARNING, "peer %u: invalid state %u", n->peer, ps);
	}
	return false;
}

int
ivshm_net_ctrl_poll(struct ivshm_net *n)
{
	uint32_t ps, gen, up;
	int i;

	ivshm_dev_process(n->dev);
	ivshm_vector_ack(n->dev, IVSHM_NET_VEC_STATE);
	if (__atomic_load_n(&n->need_reset, __ATOMIC_SEQ_CST) &&
			n->own_state != IVSHM_NET_STATE_RESET)
		link_reset(n, "protocol violation");
	__atomic_store_n(&n->need_reset, 0, __ATOMIC_SEQ_CST);
	gen = ivshm_peer_generation(n->dev, n->peer);
	if (gen != n->peer_gen) {
		n->peer_gen = gen;
		if (n->own_state != IVSHM_NET_STATE_RESET)
			link_reset(n, "peer left");
	}
	for (i = 0; i < 4; i++) {
		uint32_t before = n->own_state;

		ps = ivshm_peer_state(n->dev, n->peer);
		if (!peer_state_ok(n, ps)) {
			if (n->own_state >= IVSHM_NET_STATE_READY)
				link_reset(n, "invalid peer state");
			break;
		}
		switch (n->own_state) {
		case IVSHM_NET_STATE_RESET:
			/* wait for the peer to leave READY/RUN */
			if (ps < IVSHM_NET_STATE_READY)
				set_state(n, IVSHM_NET_STATE_INIT);
			break;
		case IVSHM_NET_STATE_INIT:
			/* wait for the peer to leave RESET */
			if (ps > IVSHM_NET_STATE_RESET) {
				init_queues(n);
				set_state(n, IVSHM_NET_STATE_READY);
			}
			break;
		case IVSHM_NET_STATE_READY:
			if (ps == IVSHM_NET_STATE_RESET) {
				link_reset(n, "peer reset");
			} else if (ps >= IVSHM_NET_STATE_READY && n->started) {
				set_state(n, IVSHM_NET_STATE_RUN);
				vmlink_queue_open(&n->run);
				rx_wake_armed(n);
			}
			break;
		case IVSHM_NET_STATE_RUN:
			/* a peer back in RESET/INIT restarted: follow */
			if (ps < IVSHM_NET_STATE_READY)
				link_reset(n, "peer reset");
			break;
		default:
			link_reset(n, "bad own state");
			break;
		}
		if (n->own_state == before)
			break;
	}
	ps = ivshm_peer_state(n->dev, n->peer);
	up = n->own_state == IVSHM_NET_STATE_RUN && ps == IVSHM_NET_STATE_RUN;
	if (up == __atomic_load_n(&n->link_up, __ATOMIC_RELAXED))
		return 0;
	__atomic_store_n(&n->link_up, up, __ATOMIC_SEQ_CST);
	if (up)
		STAT_ADD(n->cst.link_up, 1);
	else
		STAT_ADD(n->cst.link_down, 1);
	IVSHM_LOG(INFO, "peer %u: link %s", n->id, up ? "up" : "down");
	return 1;
}

int
ivshm_net_ctrl_fds(const struct ivshm_net *n, int fds[2])
{
	int k = 0, fd;

	fd = ivshm_dev_ctrl_fd(n->dev);
	if (fd >= 0)
		fds[k++] = fd;
	fd = ivshm_vector_fd(n->dev, IVSHM_NET_VEC_STATE);
	if (fd >= 0)
		fds[k++] = fd;
	return k;
}

void
ivshm_net_link_get(const struct ivshm_net *n, struct ivshm_net_link *l)
{
	l->up = __atomic_load_n(&n->link_up, __ATOMIC_ACQUIRE) != 0;
	l->own_state = n->own_state;
	l->peer_state = ivshm_peer_state(n->dev, n->peer);
	l->peer_id = n->peer;
}

int
ivshm_net_start(struct ivshm_net *n)
{
	if (n->rx.mp == NULL) {
		IVSHM_LOG(ERR, "start: no rx mempool (ivshm_net_rx_setup)");
		return -EINVAL;
	}
	n->started = true;
	ivshm_net_ctrl_poll(n);
	return 0;
}

void
ivshm_net_stop(struct ivshm_net *n)
{
	n->started = false;
	link_reset(n, "stopped");
	if (__atomic_load_n(&n->link_up, __ATOMIC_RELAXED)) {
		__atomic_store_n(&n->link_up, 0, __ATOMIC_SEQ_CST);
		STAT_ADD(n->cst.link_down, 1);
	}
}

int
ivshm_net_rx_setup(struct ivshm_net *n, struct rte_mempool *mp)
{
	if (mp == NULL)
		return -EINVAL;
	quiesce(n);
	n->rx.mp = mp;
	rx_mbuf_template(&n->rx.tmpl, mp, n->conf.port_id);
	if (n->own_state == IVSHM_NET_STATE_RUN)
		vmlink_queue_open(&n->run);
	return 0;
}

struct ivshm_dev *
ivshm_net_dev(const struct ivshm_net *n)
{
	return n->dev;
}

const struct ivshm_net_layout *
ivshm_net_layout(const struct ivshm_net *n)
{
	return &n->lay;
}

uint32_t
ivshm_net_max_frame(const struct ivshm_net *n)
{
	return n->max_frame;
}

int
ivshm_net_create(struct ivshm_dev *dev, const struct ivshm_net_conf *conf,
		struct ivshm_net **np)
{
	const struct ivshm_info *in = ivshm_dev_info(dev);
	struct ivshm_net_conf c = { 0 };
	struct ivshm_net *n;
	uint64_t maxf;

	*np = NULL;
	if (conf != NULL)
		c = *conf;
	else
		c.socket_id = SOCKET_ID_ANY;
	if (in->protocol != IVSHM_PROTO_NET) {
		IVSHM_LOG(ERR, "device protocol is 0x%04x, not 0x0001 "
			"(ivshmem-net)", in->protocol);
		return -EPROTONOSUPPORT;
	}
	if (in->max_peers != 2 || in->id > 1) {
		IVSHM_LOG(ERR, "ivshmem-net links exactly 2 peers (max_peers "
			"%u, id %u)", in->max_peers, in->id);
		return -EINVAL;
	}
	n = rte_zmalloc_socket("ivshm_net", sizeof(*n), RTE_CACHE_LINE_SIZE,
		c.socket_id);
	if (n == NULL)
		return -ENOMEM;
	if (ivshm_net_layout_calc(in->output_section_size, &n->lay) != 0) {
		IVSHM_LOG(ERR, "output section size 0x%llx is unusable for "
			"ivshmem-net", (unsigned long long)in->output_section_size);
		rte_free(n);
		return -EINVAL;
	}
	n->dev = dev;
	n->conf = c;
	n->id = in->id;
	n->peer = !in->id;
	n->txrx_vec = in->vectors >= 2 ? IVSHM_NET_VEC_TXRX : IVSHM_NET_VEC_STATE;
	maxf = (n->lay.data_size & ~63ull) - 18;
	n->max_frame = (uint32_t)RTE_MIN(maxf, (uint64_t)IVSHM_NET_MAX_FRAME);
	n->iova_va = rte_eal_iova_mode() == RTE_IOVA_VA;
	n->own = ivshm_own_section(dev);
	n->peer_sec = ivshm_peer_section(dev, n->peer);
	vq_init(&n->own_vq, n->own, &n->lay);
	vq_init(&n->peer_vq, n->peer_sec, &n->lay);
	n->tx.shadow = rte_zmalloc_socket("ivshm_tx", sizeof(*n->tx.shadow) *
		n->lay.num, RTE_CACHE_LINE_SIZE, c.socket_id);
	n->rx.pend = rte_zmalloc_socket("ivshm_rx", sizeof(*n->rx.pend) *
		n->lay.num, RTE_CACHE_LINE_SIZE, c.socket_id);
	if (n->tx.shadow == NULL || n->rx.pend == NULL) {
		rte_free(n->tx.shadow);
		rte_free(n->rx.pend);
		rte_free(n);
		return -ENOMEM;
	}
	if (c.zc_budget != 0) {
		if (c.zc_budget > n->lay.num)
			n->conf.zc_budget = n->lay.num;
		n->rx.zc = zc_session_new(n);
	}
	n->peer_gen = ivshm_peer_generation(dev, n->peer);
	/* like the Linux driver: interrupts on, one-shot off, state RESET */
	ivshm_set_oneshot(dev, false);
	ivshm_reg_write(dev, IVSHM_REG_INT_CTRL, IVSHM_INT_ENABLE);
	n->own_state = IVSHM_NET_STATE_RESET;
	ivshm_reg_write(dev, IVSHM_REG_STATE, IVSHM_NET_STATE_RESET);
	IVSHM_LOG(INFO, "ivshmem-net peer %u: ring %u, data 0x%x+0x%llx, max "
		"frame %u", n->id, n->lay.num, n->lay.data_off,
		(unsigned long long)n->lay.data_size, n->max_frame);
	ivshm_net_ctrl_poll(n);
	*np = n;
	return 0;
}

int
ivshm_net_open(const char *path, const struct ivshm_net_conf *conf,
		struct ivshm_net **np)
{
	struct ivshm_dev *dev;
	int ret;

	ret = ivshm_dev_connect(path, 0, &dev);
	if (ret != 0)
		return ret;
	ret = ivshm_net_create(dev, conf, np);
	if (ret != 0) {
		ivshm_dev_close(dev);
		return ret;
	}
	(*np)->own_dev = true;
	return 0;
}

void
ivshm_net_close(struct ivshm_net *n)
{
	if (n == NULL)
		return;
	n->started = false;
	link_reset(n, "closed");
	ivshm_reg_write(n->dev, IVSHM_REG_INT_CTRL, 0);
	zc_session_put(n->rx.zc);
	n->rx.zc = NULL;
	if (n->own_dev)
		ivshm_dev_close(n->dev);
	rte_free(n->tx.shadow);
	rte_free(n->rx.pend);
	rte_free(n);
}

/* ---- stats ---- */

#define NSTAT (sizeof(struct ivshm_net_stats) / sizeof(uint64_t))

static void
stats_sum(const struct ivshm_net *n, uint64_t *v)
{
	const uint64_t *a = (const uint64_t *)&n->rx.st;
	const uint64_t *b = (const uint64_t *)&n->tx.st;
	const uint64_t *c = (const uint64_t *)&n->cst;
	unsigned int i;

	for (i = 0; i < NSTAT; i++)
		v[i] = __atomic_load_n(&a[i], __ATOMIC_RELAXED) +
			__atomic_load_n(&b[i], __ATOMIC_RELAXED) +
			__atomic_load_n(&c[i], __ATOMIC_RELAXED);
}

void
ivshm_net_stats_get(const struct ivshm_net *n, struct ivshm_net_stats *s)
{
	uint64_t v[NSTAT];
	const uint64_t *b = (const uint64_t *)&n->base;
	unsigned int i;

	stats_sum(n, v);
	for (i = 0; i < NSTAT; i++)
		v[i] -= b[i];
	memcpy(s, v, sizeof(*s));
}

void
ivshm_net_stats_reset(struct ivshm_net *n)
{
	stats_sum(n, (uint64_t *)&n->base);
}

static const char *const viol_names[IVSHM_NET_V_MAX] = {
#define VIOL_NAME(id, name, help) [IVSHM_NET_V_##id] = name,
	IVSHM_NET_VIOLATION_LIST(VIOL_NAME)
#undef VIOL_NAME
};

const char *
ivshm_net_violation_name(enum ivshm_net_violation v)
{
	return (unsigned int)v < IVSHM_NET_V_MAX ? viol_names[v] : "unknown";
}

static const char *const stat_names[NSTAT] = {
#define STAT_NAME(field, name, help) name,
	IVSHM_NET_STATS_LIST(STAT_NAME)
#undef STAT_NAME
#define VIOL_STAT_NAME(id, name, help) "violation_" name,
	IVSHM_NET_VIOLATION_LIST(VIOL_STAT_NAME)
#undef VIOL_STAT_NAME
};

unsigned int
ivshm_net_xstats_count(void)
{
	return NSTAT;
}

const char *
ivshm_net_xstats_name(unsigned int i)
{
	return i < NSTAT ? stat_names[i] : NULL;
}

unsigned int
ivshm_net_xstats_get(const struct ivshm_net *n, uint64_t *values,
		unsigned int max)
{
	struct ivshm_net_stats s;
	const uint64_t *v = (const uint64_t *)&s;
	unsigned int i;

	ivshm_net_stats_get(n, &s);
	for (i = 0; i < NSTAT && i < max; i++)
		values[i] = v[i];
	return NSTAT;
}
