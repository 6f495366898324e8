/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Internal structures of the vhost-user back-end library.
 *
 * Ownership rules (see docs/vhost-user.md, "Threading model"):
 * - Control state (everything marked "ctl") is touched only by the control
 *   thread, or by API calls holding dev->lock.
 * - A virtqueue's data-path state is owned by whoever holds the queue: the
 *   data-path caller while vq->ready is set and it is inside a burst
 *   (vq->in_burst), otherwise the control thread, which takes the queue by
 *   clearing ready and waiting for in_burst to drop (vq_quiesce()).
 * - Zero-copy completions come back from any thread through the per-queue
 *   multi-producer completion ring; only the queue's owner consumes it.
 */

#ifndef VMLINK_VHU_INTERNAL_H
#define VMLINK_VHU_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_log.h>
#include <rte_mbuf.h>

#include <linux/virtio_ring.h>

#include "vhu.h"
#include "vhu_inflight.h"
#include "vhu_proto.h"

extern int vhu_logtype;

/*
 * Every line the library logs can be brought about by a front-end (one
 * that reconnects in a loop, sends bad requests, faults its rings): each
 * goes through a device-wide budget (vhu_log_allow()) so that no peer can
 * flood the log (lines below the log level cost nothing). Lines over
 * budget are counted, and the count is said with the next line that fits.
 */
#define VHU_LOG(level, dev, fmt, ...) do { \
	if (rte_log_can_log(vhu_logtype, RTE_LOG_ ## level) && \
			vhu_log_allow(dev)) \
		rte_log(RTE_LOG_ ## level, vhu_logtype, "VHU %s: " fmt "\n", \
			(dev)->name, ##__VA_ARGS__); \
} while (0)

/* Log budget: a burst of this many lines, refilled at this rate. */
#define VHU_LOG_BURST		64u
#define VHU_LOG_PER_SEC		5u

/* Largest payload we read into the message buffer; larger messages are
 * skipped (up to VHU_MSG_SKIP_MAX) and refused, beyond that we disconnect. */
#define VHU_MSG_MAX_PAYLOAD	512u
#define VHU_MSG_SKIP_MAX	65536u
/* Time a front-end gets to finish a message it started (ms). */
#define VHU_MSG_TIMEOUT_MS	2000
/* Control-thread tick (ms): faults, deferred releases, reconnect timer. */
#define VHU_TICK_MS		50
/* A front-end that negotiated features and sent no usable memory table
 * this long after connecting is told about in the log. */
#define VHU_MEMTAB_WAIT_MS	3000
/* A second front-end's start request waits this long (ms) for the
 * first to stop its rings, then the second is closed. */
#define VHU_STANDBY_WAIT_MS	10000
/* Data-path bursts must leave within this (ms) or a quiesce fails. */
#define VHU_BURST_WAIT_MS	1000
/* Largest dirty log we map (covers 8 TiB of guest memory). */
#define VHU_MAX_LOG_SIZE	(256ull << 20)

/* ---- guest memory ---- */

/* One mapping of a region fd; shared by the memory tables that list it. */
struct vhu_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t qva;
	uint64_t mmap_offset;
	uint8_t *hva;		/* host address of gpa */
	void *map_addr;
	size_t map_len;
	uint32_t refs;		/* ctl: memory tables holding it */
	uint32_t dups;		/* ctl: extra identical ADD_MEM_REGs (QEMU sends
				 * one per queue-pair vhost_dev) */
};

/* Hot-path lookup entry: [start, start + size) -> hva + (addr - start). */
struct vhu_memseg {
	uint64_t start;
	uint64_t size;
	uint8_t *hva;
};

/* An immutable memory table. Replaced (never edited) by the control thread
 * while every queue is quiesced; kept alive while zero-copy chains point
 * into it (zc_refs). */
struct vhu_memtab {
	uint32_t n;
	uint32_t zc_refs;		/* atomic: zero-copy chains into it */
	struct vhu_memtab *next;	/* ctl: retired list */
	struct vhu_region **regions;	/* n, sorted by gpa */
	struct vhu_memseg *by_qva;	/* n, sorted by qva */
	struct vhu_memseg by_gpa[];	/* n, sorted by gpa */
};

struct vhu_log {
	uint8_t *base;
	uint64_t size;
	void *map_addr;
	size_t map_len;
};

/* ---- zero-copy ---- */

struct vhu_vq;

struct vhu_zc_slot {
	struct rte_mbuf_ext_shared_info shinfo;
	struct vhu_vq *vq;
	struct vhu_memtab *mt;
	uint32_t gen;
	uint16_t head;
	uint16_t ndesc;		/* packed: ring descriptors the chain took */
	uint16_t idx;
};

/* Bounded multi-producer single-consumer ring of slot indices. Capacity is
 * at least the number of slots, so a push never finds its cell busy. */
struct vhu_cring_cell {
	uint32_t seq;
	uint32_t val;
};

struct vhu_cring {
	uint32_t mask;
	uint32_t prod __rte_cache_aligned;	/* atomic ticket */
	uint32_t cons __rte_cache_aligned;	/* owner only */
	struct vhu_cring_cell cell[] __rte_cache_aligned;
};

/* ---- virtqueue ---- */


/* A guest buffer (or the part of one inside one region), translated. */
struct vhu_seg {
	uint8_t *hva;
	uint64_t gpa;
	uint32_t len;
	uint16_t head;		/* enqueue: its chain, an index into vq->heads */
};

/* Enqueue: a guest RX chain reserved for a frame. */
struct vhu_head {
	uint32_t id;		/* head index, for the used entry */
	uint32_t cap;		/* bytes it holds */
	uint32_t written;	/* bytes the frame put into it */
	uint16_t ndesc;		/* packed: ring descriptors it took */
};

struct vhu_vq {
	/* Synchronisation with the control thread. */
	uint32_t ready;		/* atomic: data path may use the queue */
	uint32_t in_burst;	/* atomic: bursts entered + left (odd: inside) */
	uint32_t fault;		/* atomic: 0, or enum vhu_malformed + 1 */

	/* Data-path state: valid while ready. Split rings use desc, avail
	 * and used; packed rings (vhu_packed.h) pdesc and the two event
	 * structures, and keep last_avail/last_used as ring positions with
	 * their wrap counters. */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	struct vring_packed_desc *pdesc;
	struct vring_packed_desc *pk_fetch;	/* packed: what the fetch reads:
						 * pdesc, or the resubmission
						 * ring (vhu_inflight.h) */
	struct vring_packed_desc_event *driver_event;	/* guest's request */
	struct vring_packed_desc_event *device_event;	/* ours */
	uint64_t log_desc_gpa;		/* packed: descriptor ring, for the log */
	uint16_t pk_used_next;		/* packed: next used element this burst */
	uint16_t pk_used_bits;		/* packed: its AVAIL and USED flags (both
					 * set: wrap counter 1; none: 0) */
	uint16_t pk_head_flags;		/* packed: flags of the burst's first
					 * used element, stored last */
	bool packed;
	bool avail_wrap;
	bool used_wrap;
	const struct vhu_memtab *mt;	/* the table of the current burst */
	const struct vhu_memtab *mt_pub; /* atomic: the table for the next */
	const struct vhu_log *log;	/* NULL unless LOG_ALL + log base */
	struct vhu_infl_vq *infl;	/* NULL unless the queue tracks what
					 * is in flight (vhu_inflight.h) */
	uint64_t log_used_gpa;
	uint16_t size;
	uint16_t mask;
	uint16_t last_avail;
	uint16_t last_used;
	uint16_t hdr_len;
	bool mrg;
	bool event_idx;
	bool indirect;
	bool log_used;
	bool publish_slow;	/* log_used or infl: vhu_ring_publish()'s
				 * slow path (vq_publish_mode()) */
	bool notify_on;		/* atomic: guest asked to kick (vhu_queue_notify) */
	bool zc;
	int callfd;
	uint32_t copy_threshold;
	uint32_t mem_hint;
	uint64_t ofl_features;	/* negotiated offload features (VHU_OFL_FEATURES) */
	uint64_t ofl_deq;	/* atomic: dev->ofl_deq (mbuf TX flags the app takes) */
	uint64_t ofl_enq;	/* atomic: dev->ofl_enq (mbuf TX flags honoured) */
	uint32_t deq_room;	/* dequeue: data room of this burst's mbufs */
	uint16_t mbuf_port;	/* dequeue: cfg.port_id, into every mbuf */

	/* Zero-copy (dequeue queues only). */
	struct vhu_zc_slot *slots;
	uint16_t *free_stack;
	uint16_t nfree;
	uint16_t budget;
	uint32_t gen;		/* bumped to orphan outstanding chains */
	struct vhu_cring *cring;

	/* Counters: written by the queue's owner, read by anyone. */
	struct vhu_queue_stats stats __rte_cache_aligned;
	struct vhu_queue_stats stats_base;	/* reset baseline */

	/* Control state. */
	struct vhu_dev *dev;
	uint16_t index;
	uint32_t num;		/* SET_VRING_NUM; 0 = not set */
	uint16_t base;		/* SET_VRING_BASE */
	bool addr_set;
	uint32_t addr_flags;
	uint64_t desc_qva;
	uint64_t avail_qva;
	uint64_t used_qva;
	uint64_t log_gpa;
	bool started;
	bool base_unread;	/* stopped, next avail index not yet read by
				 * GET_VRING_BASE (a migration's source has
				 * not finished with it) */
	bool enable_flag;	/* SET_VRING_ENABLE */
	bool mapped;		/* ring pointers valid for dev->mt */
	int kickfd;		/* atomic read by vhu_queue_kickfd() */
	int errfd;
	bool up_reported;
	bool fault_reported;
	bool map_err_logged;
	bool notify_init;	/* set notification suppression at next resume */
	struct vhu_infl_vq infl_state;	/* ctl (and data path via infl) */

	/* Scratch for the frame (chain) a burst is at: up to VHU_MAX_SEGS
	 * segments (and buffer chains). */
	struct vhu_seg segs[VHU_MAX_SEGS];
	struct vhu_head heads[VHU_MAX_SEGS];
} __rte_cache_aligned;

/* ---- device ---- */

struct vhu_dev {
	char name[64];
	char path[108];
	struct vhu_config cfg;
	uint16_t nr_qp;
	uint16_t nr_vq;
	struct vhu_vq *vqs;

	pthread_mutex_t lock;
	pthread_t thread;
	bool thread_started;
	int wakefd;
	bool stopping;		/* atomic */
	int listenfd;
	int connfd;
	bool connected;		/* atomic */

	/* Offloads: what the configuration allows to offer, and what the
	 * application takes on dequeue / asks for on enqueue (mbuf TX
	 * flags; vhu_offloads_set()). */
	uint64_t ofl_offerable;
	uint64_t ofl_deq;
	uint64_t ofl_enq;

	/* ctl: negotiated state of the current session */
	uint64_t offered_features;
	uint64_t proto_offered;
	uint64_t features;	/* atomic read by vhu_negotiated_features() */
	bool features_set;
	uint64_t proto_features;
	bool owner;
	uint8_t status;
	bool status_set;	/* SET_STATUS seen: DRIVER_OK gates the rings */
	bool suspended;		/* vhu_suspend(): no ring runs until resumed;
				 * kept across sessions (atomic read by
				 * vhu_suspended()) */
	uint8_t config_mac[6];	/* SET_CONFIG may change it */
	uint16_t mtu;
	struct vhu_memtab *mt;
	struct vhu_memtab *retired;
	struct vhu_log *log;
	int logfd;
	struct vhu_infl infl;	/* in-flight region (INFLIGHT_SHMFD) */

	/* RARP injection (dequeue of queue pair 0). */
	uint8_t rarp_mac[6];
	uint32_t rarp_pending;	/* atomic */

	/* Pending events, delivered after dev->lock is released, and fds
	 * closed only after them (kick fds outlive their QUEUE_DOWN). */
	struct vhu_event *evq;
	unsigned int nev;
	unsigned int evq_cap;
	int *defer;
	unsigned int ndefer;
	unsigned int defer_cap;
	bool link_reported;

	/* Client-mode reconnect. */
	uint32_t backoff_ms;
	uint64_t next_connect_ms;

	/* Set (atomic) by the SIGBUS handler when a mapping of this
	 * front-end's memory faulted: the control thread ends the session. */
	uint32_t mem_fault;

	/* Log budget (vhu_log_allow()): lines left, in thousandths, and
	 * lines held back since the last one written. */
	uint64_t log_budget;
	uint64_t log_refill_ms;
	uint64_t log_suppressed;
	bool leaked;		/* destroy left memory behind for zc mbufs */

	/* This session: why its last memory table was refused ("" if
	 * none was), whether it ever had one, whether "link stays down"
	 * was said. */
	char memtab_why[96];
	bool had_memtab;
	bool memtab_logged;
	uint64_t session_ms;	/* when this session began */

	/* A second front-end on the server socket (a migration's
	 * destination: QEMU opens its migration listener only once its
	 * netdev is connected). Only requests that change nothing here are
	 * answered (vhu_msg_standby_next()); its first other request waits
	 * until the first front-end has no running ring (or left), then
	 * the port switches over to it. in_standby: the message being
	 * handled is the second front-end's (its fd, protocol features and
	 * owner flag are swapped in). */
	struct {
		int fd;
		uint64_t proto_features;
		bool owner;
		uint64_t waiting_ms;	/* since when a start request waits */
		uint64_t quiet_until_ms; /* part of a message: poll after */
	} standby;
	bool in_standby;

	/* SET_DEVICE_STATE_FD: the transfer and what a load restores
	 * (vhu_state.c); NULL until the first one. */
	struct vhu_xfer *xfer;
};

/* What the second front-end's next request is (vhu_msg_standby_next()). */
enum vhu_standby_next {
	VHU_STANDBY_HANDLE,	/* changes nothing here: answer it */
	VHU_STANDBY_START,	/* starts its device: wait for the switch */
	VHU_STANDBY_PARTIAL,	/* not all there yet */
	VHU_STANDBY_GONE,	/* closed or failed */
};

/* ---- helpers shared between files ---- */

#define VHU_STAT_ADD(vq, field, v) \
	__atomic_store_n(&(vq)->stats.field, \
		__atomic_load_n(&(vq)->stats.field, __ATOMIC_RELAXED) + (v), \
		__ATOMIC_RELAXED)

uint64_t vhu_now_ms(void);
struct vhu_dev;
bool vhu_log_allow(struct vhu_dev *dev);

/* vhu_mem.c */
struct vhu_memtab *vhu_memtab_build(struct vhu_dev *dev,
	struct vhu_region **regions, uint32_t n);
void vhu_memtab_put(struct vhu_dev *dev, struct vhu_memtab *mt);
struct vhu_region *vhu_region_map(struct vhu_dev *dev,
	const struct vhu_mem_region_desc *d, int fd, const char **why);
void vhu_region_unref(struct vhu_region *r);
int vhu_region_check_new(const struct vhu_memtab *mt,
	struct vhu_mem_region_desc *const *d, uint32_t n, const char **why);
void *vhu_qva_to_hva(const struct vhu_memtab *mt, uint64_t qva, uint64_t len);
uint64_t vhu_qva_to_gpa(const struct vhu_memtab *mt, uint64_t qva);
void *vhu_gpa_to_hva_contig(const struct vhu_memtab *mt, uint32_t *hint,
	uint64_t gpa, uint64_t len);
struct vhu_log *vhu_log_map(struct vhu_dev *dev, int fd, uint64_t size,
	uint64_t offset, const char **why);
void vhu_log_unmap(struct vhu_log *log);
/* Map [offset, offset + size) of a front-end's fd, checked (regular
 * file, large enough, no overflow) and guarded as regions are; NULL with
 * *why. vhu_fd_unmap() undoes it. */
uint8_t *vhu_fd_map(struct vhu_dev *dev, int fd, uint64_t offset,
	uint64_t size, void **map_addr, size_t *map_len, const char **why);
void vhu_fd_unmap(void *map_addr, size_t map_len);
/* Install the SIGBUS handler that contains faults of guest memory (a
 * front-end truncating a region's file): once per process. */
void vhu_guard_init(void);

/* Look up the segment holding @p gpa; NULL if none. */
static inline const struct vhu_memseg *
vhu_gpa_lookup(const struct vhu_memtab *mt, uint32_t *hint, uint64_t gpa)
{
	const struct vhu_memseg *s;
	uint32_t lo, hi;

	if (likely(*hint < mt->n)) {
		s = &mt->by_gpa[*hint];
		if (likely(gpa - s->start < s->size))
			return s;
	}
	lo = 0;
	hi = mt->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		s = &mt->by_gpa[mid];
		if (gpa < s->start) {
			hi = mid;
		} else if (gpa - s->start >= s->size) {
			lo = mid + 1;
		} else {
			*hint = mid;
			return s;
		}
	}
	return NULL;
}

/* Control thread, queue quiesced: after log_used or infl changed. */
static inline void
vq_publish_mode(struct vhu_vq *vq)
{
	vq->publish_slow = vq->log_used || vq->infl != NULL;
}

/* Mark [gpa, gpa + len) dirty in the log (len > 0). */
static inline void
vhu_log_write(const struct vhu_log *log, uint64_t gpa, uint64_t len)
{
	uint64_t page, last;

	if (log == NULL || len == 0)
		return;
	/* The bytes first, then their bits (the front-end copies a page
	 * after it cleared its bit): a compiler barrier on x86. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	page = gpa / VHU_LOG_PAGE;
	last = (gpa + len - 1) / VHU_LOG_PAGE;
	if (gpa + len - 1 < gpa)
		last = UINT64_MAX / VHU_LOG_PAGE;
	for (; page <= last; page++) {
		uint64_t byte = page / 8;

		if (byte >= log->size)
			break;	/* outside the log the front-end gave */
		__atomic_fetch_or(&log->base[byte], (uint8_t)(1u << (page % 8)),
			__ATOMIC_RELAXED);
	}
}

/* vhu_zc.c */
void vhu_vq_zc_drain(struct vhu_vq *vq, bool ring_live);
unsigned int vhu_vq_zc_outstanding(const struct vhu_vq *vq);
bool vhu_vq_zc_pending(const struct vhu_vq *vq);
int vhu_vq_zc_alloc(struct vhu_dev *dev, struct vhu_vq *vq);
void vhu_vq_zc_free(struct vhu_vq *vq);

/* vhu_ring.c */
void vhu_vq_ring_init_notify(struct vhu_vq *vq);

/* vhu_packed.c: GET/SET_VRING_BASE of a packed ring (the spec's layout:
 * bits 0-14 avail position, 15 its wrap counter, 16-30 used position, 31
 * its wrap counter). */
uint32_t vhu_packed_base_get(const struct vhu_vq *vq);
void vhu_packed_base_set(struct vhu_vq *vq, uint32_t num);

/* vhu_msg.c */
int vhu_msg_process(struct vhu_dev *dev);
enum vhu_standby_next vhu_msg_standby_next(struct vhu_dev *dev);

/* vhu_state.c: device state transfer (SET_DEVICE_STATE_FD,
 * CHECK_DEVICE_STATE). set_fd (every ring stopped) takes @p fd when it
 * returns 0. */
int vhu_state_set_fd(struct vhu_dev *dev, uint32_t dir, uint32_t phase,
	int fd, const char **why);
int vhu_state_check(struct vhu_dev *dev);
int vhu_state_pollfd(const struct vhu_dev *dev, short *events);
void vhu_state_step(struct vhu_dev *dev, int fd);
void vhu_state_restore_vq(struct vhu_dev *dev, struct vhu_vq *vq);
void vhu_state_forget(struct vhu_dev *dev);
void vhu_state_free(struct vhu_dev *dev);

/* vhu_dev.c */
void vhu_event_push(struct vhu_dev *dev, enum vhu_event_type type,
	uint16_t vq_index, uint32_t value);
int vhu_vq_quiesce(struct vhu_dev *dev, struct vhu_vq *vq);
void vhu_vq_resume(struct vhu_dev *dev, struct vhu_vq *vq);
int vhu_quiesce_all(struct vhu_dev *dev);
void vhu_resume_all(struct vhu_dev *dev);
int vhu_wait_zc(struct vhu_dev *dev, struct vhu_vq *only, bool ring_live);
int vhu_wait_memtab(struct vhu_dev *dev, struct vhu_memtab *mt);
void vhu_memtab_publish(struct vhu_dev *dev, struct vhu_memtab *nmt);
void vhu_memtab_retire(struct vhu_dev *dev, struct vhu_memtab *mt);
void vhu_defer_close(struct vhu_dev *dev, int fd);
void vhu_vq_remap(struct vhu_dev *dev, struct vhu_vq *vq);
void vhu_vq_part_sizes(const struct vhu_dev *dev, uint32_t num,
	uint64_t sz[3]);
void vhu_vq_stop(struct vhu_dev *dev, struct vhu_vq *vq);
void vhu_session_reset(struct vhu_dev *dev, bool disconnect);
void vhu_stop_rings(struct vhu_dev *dev);
void vhu_device_reset(struct vhu_dev *dev);
void vhu_update_events(struct vhu_dev *dev);
bool vhu_vq_can_run(const struct vhu_dev *dev, const struct vhu_vq *vq);
void vhu_close_fd(int *fd);

#endif /* VMLINK_VHU_INTERNAL_H */
