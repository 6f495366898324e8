/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vmlink vhost-user back-end library (split and packed virtqueues,
 * virtio-net).
 *
 * One struct vhu_dev serves one unix socket. A control thread owned by the
 * library speaks the vhost-user protocol on it; the data path is two burst
 * functions per queue pair, each called by at most one thread at a time:
 *
 *   vhu_dequeue_burst()  guest TX virtqueue (2*qp + 1) -> mbufs
 *   vhu_enqueue_burst()  mbufs -> guest RX virtqueue (2*qp)
 *
 * The data path takes no lock and makes no system call except writing the
 * guest's call eventfd when the guest asked to be notified. It returns 0
 * immediately when the queue is not started, not enabled, stopped by a
 * fault, or being reconfigured by the control thread.
 *
 * See docs/vhost-user.md for the protocol coverage, limits and threading
 * model.
 */

#ifndef VMLINK_VHU_H
#define VMLINK_VHU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vhu_dev;

/** Largest number of queue pairs a device can be configured with. */
#define VHU_MAX_QUEUE_PAIRS	128
/** Memory slots reported by GET_MAX_MEM_SLOTS. */
#define VHU_MAX_MEM_SLOTS	509
/** Longest frame accepted from a guest, and delivered to one. */
#define VHU_MAX_FRAME_LEN	65536u
/** Most buffer segments one frame may use (descriptors after region splits). */
#define VHU_MAX_SEGS		256u
/** Most mbuf segments one zero-copy frame may use; longer ones are copied. */
#define VHU_ZC_MAX_SEGS		16u

/** The two virtqueues of a queue pair, named from the host's side. */
enum vhu_queue_dir {
	VHU_DEQ = 0,	/**< guest TX virtqueue, read by vhu_dequeue_burst() */
	VHU_ENQ = 1,	/**< guest RX virtqueue, filled by vhu_enqueue_burst() */
};

enum vhu_event_type {
	VHU_EVENT_CONNECTED,	/**< a front-end connected to the socket */
	VHU_EVENT_DISCONNECTED,	/**< the front-end went away */
	VHU_EVENT_LINK_UP,	/**< device ready: queue pair 0 started+enabled */
	VHU_EVENT_LINK_DOWN,	/**< device no longer ready */
	VHU_EVENT_QUEUE_UP,	/**< virtqueue usable by the data path */
	VHU_EVENT_QUEUE_DOWN,	/**< virtqueue no longer usable */
	VHU_EVENT_QUEUE_FAULT,	/**< virtqueue stopped by a guest fault */
	VHU_EVENT_MTU,		/**< front-end set the MTU (NET_SET_MTU) */
};

struct vhu_event {
	enum vhu_event_type type;
	uint16_t queue_pair;		/**< QUEUE_* events */
	enum vhu_queue_dir dir;		/**< QUEUE_* events */
	uint32_t value;			/**< MTU, or enum vhu_malformed for FAULT */
};

/**
 * Event callback. Runs on the device's control thread, never concurrently
 * with itself for one device and never with a library lock held. It may
 * call vhu_queue_kickfd(), vhu_queue_stats_get() and friends, but must not
 * call vhu_destroy() on the same device.
 *
 * A QUEUE_DOWN event for a virtqueue is delivered before the library closes
 * that queue's kick eventfd, so a PMD can remove it from its epoll set.
 */
typedef void (*vhu_event_cb_t)(struct vhu_dev *dev,
	const struct vhu_event *ev, void *arg);

struct vhu_config {
	const char *socket_path;	/**< unix socket path (required) */
	const char *name;		/**< name used in logs (default: path) */
	bool client;			/**< connect (and reconnect) instead of listening */
	uint32_t reconnect_min_ms;	/**< client: first retry delay (default 100) */
	uint32_t reconnect_max_ms;	/**< client: backoff cap (default 2000) */
	uint16_t max_queue_pairs;	/**< 1..VHU_MAX_QUEUE_PAIRS (default 1) */
	bool zero_copy;			/**< dequeue attaches guest buffers in place */
	uint32_t copy_threshold;	/**< frames shorter than this are copied (default 512) */
	uint16_t inflight_budget;	/**< zero-copy frames outstanding per queue (default 256) */
	uint16_t mtu;			/**< offered with VIRTIO_NET_F_MTU if non-zero */
	uint8_t mac[6];			/**< guest MAC in the config space (GET_CONFIG) */
	uint64_t features;		/**< virtio features to offer; 0 = all supported */
	uint32_t quiesce_timeout_ms;	/**< wait for zero-copy buffers (default 2000) */
	int numa_node;			/**< for queue memory (default SOCKET_ID_ANY) */
	uint16_t port_id;		/**< stored in every dequeued mbuf's port field (default 0) */
	vhu_event_cb_t event_cb;	/**< may be NULL */
	void *event_arg;
};

/** Fill @p cfg with defaults (socket_path NULL). */
void vhu_config_init(struct vhu_config *cfg);

/**
 * Create a device and start its control thread. In server mode the socket
 * is bound and listening on return; in client mode connection attempts run
 * in the background. Returns NULL with rte_errno set on failure.
 */
struct vhu_dev *vhu_create(const struct vhu_config *cfg);

/**
 * Stop the control thread, disconnect, unmap guest memory, close every fd
 * and free the device. Data-path calls on the device must have stopped.
 * Zero-copy mbufs still held by the application are waited for (bounded by
 * quiesce_timeout_ms); if some are still out then, their queue memory and
 * guest mappings are deliberately leaked (logged) rather than freed under
 * them.
 */
void vhu_destroy(struct vhu_dev *dev);

/** Virtio features supported by the library (the maximum offer). */
uint64_t vhu_supported_features(void);

/** Features acked by the front-end (0 when not connected). */
uint64_t vhu_negotiated_features(const struct vhu_dev *dev);

/**
 * Offloads (VIRTIO_NET_F_CSUM, GUEST_CSUM, HOST_TSO4/6, GUEST_TSO4/6,
 * offered unless vhu_config.features leaves them out). @p deq_flags: the
 * mbuf flags (RTE_MBUF_F_TX_TCP_CKSUM, _UDP_CKSUM, _TCP_SEG) dequeued
 * frames may carry, for the consumer to complete: a guest's partial
 * checksum or TSO frame goes on as it is, with l2/l3/l4_len and
 * tso_segsz; CSUM is offered only with a checksum flag, HOST_TSO only
 * with TCP_SEG too (from the next negotiation; a checksum the consumer
 * does not take is completed on dequeue, a TSO frame it does not take is
 * dropped and counted). @p enq_flags: the mbuf TX flags (_TCP_CKSUM,
 * _UDP_CKSUM, _IP_CKSUM, _TCP_SEG) enqueue acts on; others are ignored.
 * The guest gets an offloaded frame as it is when it negotiated the
 * offload, else completed (checksum filled in, TSO frame cut into
 * MSS-sized frames). Until called, both are all of them. Returns 0 or
 * -EINVAL.
 */
int vhu_offloads_set(struct vhu_dev *dev, uint64_t deq_flags,
	uint64_t enq_flags);

/**
 * Suspend the device (sleep): every queue is stopped at a burst boundary
 * and stays stopped, across reconnects, until vhu_resume(). Nothing is
 * taken from the guest's rings meanwhile (frames it queues wait there;
 * bursts return 0), the link goes down, and zero-copy buffers the
 * application still holds go back to the guest as they are freed.
 * Not from the event callback. Returns the number of zero-copy buffers
 * held at suspension (>= 0), or -EINVAL.
 */
int vhu_suspend(struct vhu_dev *dev);

/**
 * Resume a suspended device (wake): every queue that can run continues
 * exactly where it stopped. Returns 0, or -EINVAL.
 */
int vhu_resume(struct vhu_dev *dev);

/** True while the device is suspended. */
bool vhu_suspended(const struct vhu_dev *dev);

/** True while a front-end is connected. */
bool vhu_connected(const struct vhu_dev *dev);

/** Configured number of queue pairs. */
uint16_t vhu_max_queue_pairs(const struct vhu_dev *dev);

/**
 * Guest TX -> host. Fills @p pkts with up to @p n frames (virtio-net header
 * stripped) and returns how many. Frames of at least copy_threshold bytes
 * are zero-copy when enabled: each segment is an external-buffer mbuf over
 * guest memory, and the descriptor chain is returned to the guest only when
 * every segment has been freed (from any thread). Other frames are copied
 * into mbufs from @p mp, chained when larger than its data room.
 * Zero-copy mbufs have no IOVA (RTE_BAD_IOVA): they are for software
 * consumers, not for DMA by a NIC. Every frame's port is cfg.port_id; the
 * caller owns the mbufs (the mbuf contract of both transport libraries,
 * docs/mbufs.md).
 */
uint16_t vhu_dequeue_burst(struct vhu_dev *dev, uint16_t queue_pair,
	struct rte_mempool *mp, struct rte_mbuf **pkts, uint16_t n);

/**
 * Host -> guest RX. Copies up to @p n frames into the guest's receive
 * buffers (merging buffers with MRG_RXBUF) and returns how many were
 * consumed. The library never frees nor changes an mbuf: the caller keeps
 * ownership of every one, frees the first <return value> ones itself and
 * may retry the rest (docs/mbufs.md). A consumed frame that
 * could not be delivered (longer than VHU_MAX_FRAME_LEN or than any guest
 * buffer without MRG_RXBUF) is counted in the queue's drops.
 */
uint16_t vhu_enqueue_burst(struct vhu_dev *dev, uint16_t queue_pair,
	struct rte_mbuf *const *pkts, uint16_t n);

/**
 * Kick eventfd of the dequeue virtqueue of @p queue_pair, for rx
 * interrupts; -1 when the queue has none (not started, or the front-end
 * polls). Valid from the QUEUE_UP event until the next QUEUE_DOWN event of
 * that virtqueue. The caller reads (drains) it; the library never does.
 */
int vhu_queue_kickfd(struct vhu_dev *dev, uint16_t queue_pair);

/**
 * Ask the guest to kick (enable=true) or not to kick (false) the dequeue
 * virtqueue when it adds buffers. Call from the queue's dequeue thread.
 * Returns 1 if, after enabling, buffers (or zero-copy completions) are
 * already pending, 0 if not, or a negative errno if the queue is not
 * usable. When it returns 1 it has also written the kick eventfd, so a
 * sleeper that epolls it next wakes at once (no lost wake-up either way).
 */
int vhu_queue_notify(struct vhu_dev *dev, uint16_t queue_pair, bool enable);

/*
 * The counters are lists, X(field or id, "name", "help"): the struct, the
 * enum, the name tables, the PMD's xstats and docs/vhost-user.md's tables
 * all come from them (tests/unit checks the docs).
 */

/** Reasons a descriptor chain is rejected (each stops its queue). */
#define VHU_MALFORMED_LIST(X) \
	X(AVAIL_IDX, "avail_idx_jump", "avail idx moved by more than the ring size") \
	X(HEAD_INDEX, "head_index", "avail ring entry (packed: buffer id) >= ring size, or (packed, tracked) a buffer id already out") \
	X(NEXT_INDEX, "next_index", "next >= ring (or indirect table) size") \
	X(LOOP, "desc_loop", "chain longer than its table (packed: the ring, or tracked: more out than the ring): a loop") \
	X(CHAIN_LONG, "chain_too_long", "more than VHU_MAX_SEGS buffer segments") \
	X(ADDR, "addr_outside_memory", "buffer not inside guest memory") \
	X(ZERO_LEN, "zero_len_bad_addr", "zero-length descriptor, address outside memory") \
	X(DIRECTION, "wrong_direction", "writable buffer in TX / read-only in RX") \
	X(HDR_SPLIT, "hdr_split", "virtio-net header over 3+ descriptors") \
	X(CHAIN_SHORT, "chain_short", "chain not longer than the header") \
	X(HDR_FIELDS, "hdr_fields", "gso_type without GSO negotiated") \
	X(CSUM, "csum_offset", "csum_start/csum_offset past the frame") \
	X(FRAME_LEN, "frame_too_long", "TX frame longer than VHU_MAX_FRAME_LEN") \
	X(INDIRECT_FLAGS, "indirect_flags", "INDIRECT not negotiated, with NEXT, or not at head") \
	X(INDIRECT_LEN, "indirect_len", "table empty, not 16*n, or longer than the ring") \
	X(INDIRECT_ALIGN, "indirect_align", "table address not 16-byte aligned") \
	X(INDIRECT_NESTED, "indirect_nested", "INDIRECT inside an indirect table") \
	X(INDIRECT_SPAN, "indirect_span", "table outside memory or across regions") \
	X(INFLIGHT, "inflight_region", "in-flight region does not fit the ring at its start")

enum vhu_malformed {
#define VHU_MAL_ENUM(id, name, help) VHU_MAL_##id,
	VHU_MALFORMED_LIST(VHU_MAL_ENUM)
#undef VHU_MAL_ENUM
	VHU_MAL_NUM
};

/** Per-virtqueue counters, then one "malformed_<reason>" per reason. */
#define VHU_QUEUE_STATS_LIST(X) \
	X(packets, "packets", "frames dequeued / delivered") \
	X(bytes, "bytes", "frame bytes (no virtio-net header)") \
	X(zc_packets, "zc_packets", "dequeue: attached in place") \
	X(copied_packets, "copied_packets", "frames copied") \
	X(zc_budget_copies, "zc_budget_copies", "copied because the in-flight budget was full") \
	X(zc_completed, "zc_completed", "zero-copy chains returned to the guest") \
	X(drops, "drops", "enqueue: frames consumed but not delivered") \
	X(ring_full, "ring_full", "enqueue: bursts cut short by lack of buffers") \
	X(mbuf_alloc_failed, "mbuf_alloc_failed", "dequeue: bursts cut short by the mempool") \
	X(notify_sent, "notify_sent", "call eventfd written") \
	X(notify_suppressed, "notify_suppressed", "guest did not ask (EVENT_IDX/NO_INTERRUPT)") \
	X(rarp_sent, "rarp_sent", "RARP frames injected after SEND_RARP") \
	X(inflight_resubmitted, "inflight_resubmitted", "chains in flight at the last stop or crash, processed again") \
	X(faults, "faults", "times the queue was stopped by a fault")

/** All fields are uint64_t (see the name table). */
struct vhu_queue_stats {
#define VHU_STAT_FIELD(field, name, help) uint64_t field;
	VHU_QUEUE_STATS_LIST(VHU_STAT_FIELD)
#undef VHU_STAT_FIELD
	uint64_t malformed[VHU_MAL_NUM];	/**< by enum vhu_malformed */
};

#define VHU_QUEUE_STATS_NUM (sizeof(struct vhu_queue_stats) / sizeof(uint64_t))

/**
 * Read the counters of one virtqueue; safe from any thread at any time.
 * Returns 0, or -EINVAL for a bad queue pair.
 */
int vhu_queue_stats_get(struct vhu_dev *dev, uint16_t queue_pair,
	enum vhu_queue_dir dir, struct vhu_queue_stats *st);

/**
 * Reset the counters of one virtqueue as seen by vhu_queue_stats_get()
 * (a baseline is recorded; the data path is not disturbed). Call from one
 * thread, the same one that reads stats.
 */
int vhu_queue_stats_reset(struct vhu_dev *dev, uint16_t queue_pair,
	enum vhu_queue_dir dir);

/**
 * Name of field @p i of struct vhu_queue_stats viewed as uint64_t[], e.g.
 * "zc_packets" or "malformed_desc_loop"; NULL when i >= VHU_QUEUE_STATS_NUM.
 */
const char *vhu_queue_stat_name(unsigned int i);

/** Name of a malformed reason, e.g. "desc_loop". */
const char *vhu_malformed_name(enum vhu_malformed reason);

/**
 * Diagnostic: copy @p len bytes of guest memory at guest physical address
 * @p gpa through the device's current memory table. Takes the control lock;
 * not for the data path. Returns 0, -ENOENT without a table, -EFAULT when
 * the range is not fully mapped.
 */
int vhu_guest_read(struct vhu_dev *dev, uint64_t gpa, void *buf, size_t len);

/** Number of guest memory regions currently mapped (diagnostic). */
unsigned int vhu_mem_regions(struct vhu_dev *dev);

#ifdef __cplusplus
}
#endif

#endif /* VMLINK_VHU_H */
