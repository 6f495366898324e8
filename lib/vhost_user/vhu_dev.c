/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device lifecycle, the control thread (socket, reconnect, ticks), queue
 * quiesce/resume, session reset, events and counters.
 */

#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "vhu_internal.h"
#include "vhu_offload.h"

RTE_LOG_REGISTER(vhu_logtype, lib.vmlink.vhost_user, INFO);


uint64_t
vhu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Refill the log budget for the time since the last line. */
static void
log_refill(struct vhu_dev *dev)
{
	const uint64_t full = VHU_LOG_BURST * 1000ull;
	uint64_t now = vhu_now_ms();

	dev->log_budget = RTE_MIN(full, dev->log_budget +
		(now - dev->log_refill_ms) * VHU_LOG_PER_SEC);
	dev->log_refill_ms = now;
}

/* Say how many lines were held back, once the budget allows a line. */
static void
log_say_suppressed(struct vhu_dev *dev)
{
	if (dev->log_suppressed == 0 || dev->log_budget < 1000)
		return;
	dev->log_budget -= 1000;
	rte_log(RTE_LOG_WARNING, vhu_logtype,
		"VHU %s: %" PRIu64 " log line(s) suppressed (more than %u a second)\n",
		dev->name, dev->log_suppressed, VHU_LOG_PER_SEC);
	dev->log_suppressed = 0;
}

/* Called with dev->lock held (or before/after the control thread). */
bool
vhu_log_allow(struct vhu_dev *dev)
{
	log_refill(dev);
	log_say_suppressed(dev);
	if (dev->log_budget < 1000) {
		dev->log_suppressed++;
		return false;
	}
	dev->log_budget -= 1000;
	return true;
}

void
vhu_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void
vhu_config_init(struct vhu_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->reconnect_min_ms = 100;
	cfg->reconnect_max_ms = 2000;
	cfg->max_queue_pairs = 1;
	cfg->copy_threshold = 512;
	cfg->inflight_budget = 256;
	cfg->quiesce_timeout_ms = 2000;
	cfg->numa_node = SOCKET_ID_ANY;
}

uint64_t
vhu_supported_features(void)
{
	return (1ull << VHU_F_VERSION_1) |
		(1ull << VHU_F_ANY_LAYOUT) |
		(1ull << VHU_F_RING_INDIRECT_DESC) |
		(1ull << VHU_F_RING_EVENT_IDX) |
		(1ull << VHU_F_NET_MRG_RXBUF) |
		(1ull << VHU_F_NET_MTU) |
		(1ull << VHU_F_NET_MQ) |
		(1ull << VHU_F_NET_CTRL_VQ) |
		(1ull << VHU_F_PROTOCOL_FEATURES) |
		(1ull << VHU_F_IN_ORDER) |
		(1ull << VHU_F_RING_PACKED) |
		(1ull << VHU_F_LOG_ALL) |
		VHU_OFL_FEATURES;
}

static uint64_t
supported_protocol_features(void)
{
	return (1ull << VHU_PROTO_F_MQ) |
		(1ull << VHU_PROTO_F_LOG_SHMFD) |
		(1ull << VHU_PROTO_F_RARP) |
		(1ull << VHU_PROTO_F_REPLY_ACK) |
		(1ull << VHU_PROTO_F_MTU) |
		(1ull << VHU_PROTO_F_CONFIG) |
		(1ull << VHU_PROTO_F_RESET_DEVICE) |
		(1ull << VHU_PROTO_F_CONFIGURE_MEM_SLOTS) |
		(1ull << VHU_PROTO_F_STATUS) |
		(1ull << VHU_PROTO_F_INFLIGHT_SHMFD) |
		(1ull << VHU_PROTO_F_DEVICE_STATE);
}

uint64_t
vhu_negotiated_features(const struct vhu_dev *dev)
{
	return dev == NULL ? 0 :
		__atomic_load_n(&dev->features, __ATOMIC_RELAXED);
}

int
vhu_offloads_set(struct vhu_dev *dev, uint64_t deq_flags, uint64_t enq_flags)
{
	const uint64_t host_tso = (1ull << VHU_F_NET_HOST_TSO4) |
		(1ull << VHU_F_NET_HOST_TSO6);
	uint64_t offer;
	uint16_t i;

	if (dev == NULL)
		return -EINVAL;
	deq_flags &= VHU_OFL_TX_FLAGS;
	enq_flags &= VHU_OFL_TX_FLAGS;
	/* The guest may leave undone only what the application takes; what
	 * it may be handed undone is completed here when it did not
	 * negotiate it, so the GUEST_ offloads stay offered. */
	offer = dev->ofl_offerable;
	if (!(deq_flags & RTE_MBUF_F_TX_L4_MASK))
		offer &= ~((1ull << VHU_F_NET_CSUM) | host_tso);
	if (!(deq_flags & RTE_MBUF_F_TX_TCP_SEG))
		offer &= ~host_tso;
	pthread_mutex_lock(&dev->lock);
	dev->ofl_deq = deq_flags;
	dev->ofl_enq = enq_flags;
	dev->offered_features = (dev->offered_features & ~VHU_OFL_FEATURES) |
		offer;
	for (i = 0; i < dev->nr_vq; i++) {
		__atomic_store_n(&dev->vqs[i].ofl_deq, deq_flags,
			__ATOMIC_RELAXED);
		__atomic_store_n(&dev->vqs[i].ofl_enq, enq_flags,
			__ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

bool
vhu_connected(const struct vhu_dev *dev)
{
	return dev != NULL &&
		__atomic_load_n(&dev->connected, __ATOMIC_RELAXED);
}

uint16_t
vhu_max_queue_pairs(const struct vhu_dev *dev)
{
	return dev == NULL ? 0 : dev->nr_qp;
}

/* ---- events ---- */

void
vhu_event_push(struct vhu_dev *dev, enum vhu_event_type type,
	uint16_t vq_index, uint32_t value)
{
	struct vhu_event *ev;

	if (dev->nev >= dev->evq_cap) {
		VHU_LOG(ERR, dev, "event queue full, event %d dropped", type);
		return;
	}
	ev = &dev->evq[dev->nev++];
	ev->type = type;
	ev->queue_pair = vq_index / 2;
	ev->dir = (vq_index & 1) ? VHU_DEQ : VHU_ENQ;
	ev->value = value;
}

/* Once a front-end drives the device status (SET_STATUS), rings run
 * only while DRIVER_OK is set and FAILED / NEEDS_RESET are not: it sends
 * DRIVER_OK after setting up every ring, and status 0 to reset. A
 * front-end that never sends SET_STATUS is not gated. */
static bool
status_allows_run(const struct vhu_dev *dev)
{
	return !dev->status_set ||
		(dev->status & (VHU_STATUS_DRIVER_OK | VHU_STATUS_FAILED |
			VHU_STATUS_NEEDS_RESET)) == VHU_STATUS_DRIVER_OK;
}

bool
vhu_vq_can_run(const struct vhu_dev *dev, const struct vhu_vq *vq)
{
	bool enabled = (dev->features & (1ull << VHU_F_PROTOCOL_FEATURES)) ?
		vq->enable_flag : true;

	return dev->connfd >= 0 && vq->started && enabled &&
		status_allows_run(dev) && !dev->suspended &&
		dev->mt != NULL && vq->mapped &&
		__atomic_load_n(&vq->fault, __ATOMIC_RELAXED) == 0;
}

static bool
vq_link_ok(const struct vhu_dev *dev, const struct vhu_vq *vq)
{
	bool enabled = (dev->features & (1ull << VHU_F_PROTOCOL_FEATURES)) ?
		vq->enable_flag : true;

	return vq->started && enabled && status_allows_run(dev) &&
		!dev->suspended;
}

/* The link is what queue pair 0 can do: both rings started, enabled and
 * not stopped by a fault (a port that says up must move frames). */
static bool
vq_link_up(const struct vhu_dev *dev, const struct vhu_vq *vq)
{
	return vq_link_ok(dev, vq) &&
		__atomic_load_n(&vq->fault, __ATOMIC_RELAXED) == 0;
}

static void
signal_err(struct vhu_vq *vq)
{
	if (vq->errfd >= 0) {
		uint64_t one = 1;
		ssize_t r = write(vq->errfd, &one, sizeof(one));

		RTE_SET_USED(r);
	}
}

/*
 * The front-end started its first queue pair, but there is no memory
 * table to reach its rings through: the link stays down, and only this
 * line says why (the table was refused, or never sent: a DPDK
 * virtio-user front-end without --single-file-segments has an fd per
 * hugepage, more regions than vhost-user carries, and gives up on it).
 */
static void
log_no_memtab(struct vhu_dev *dev)
{
	bool started = vq_link_ok(dev, &dev->vqs[0]) ||
		vq_link_ok(dev, &dev->vqs[1]);

	if (dev->connfd < 0 || dev->mt != NULL) {
		dev->memtab_logged = false;
		return;
	}
	if (!started || dev->memtab_logged)
		return;
	dev->memtab_logged = true;
	if (dev->memtab_why[0] != '\0')
		VHU_LOG(ERR, dev, "front-end started queue pair 0, but its memory "
			"table was refused (%s): link stays down", dev->memtab_why);
	else
		VHU_LOG(ERR, dev, "front-end started queue pair 0 without sending "
			"a memory table: link stays down (a DPDK virtio-user "
			"front-end needs --single-file-segments)");
}

/* A front-end that negotiated features but, after a while (or when it
 * leaves), never had a memory table never gets its link up: say why,
 * once. (A front-end that gave up on its table, as virtio-user does with
 * too many regions, sends nothing more and starts no ring.) */
static void
log_never_memtab(struct vhu_dev *dev, bool leaving)
{
	if (dev->had_memtab || dev->memtab_logged || !dev->features_set ||
			(!leaving && vhu_now_ms() - dev->session_ms <
			 VHU_MEMTAB_WAIT_MS))
		return;
	dev->memtab_logged = true;
	if (dev->memtab_why[0] != '\0')
		VHU_LOG(ERR, dev, "the front-end's memory table was refused (%s) "
			"and none followed: link stays down", dev->memtab_why);
	else if (leaving)
		VHU_LOG(ERR, dev, "the front-end sent no memory table before "
			"leaving after %u s: link stayed down (a DPDK virtio-user "
			"front-end needs --single-file-segments)",
			(unsigned int)((vhu_now_ms() - dev->session_ms) / 1000));
	else	/* a booting QEMU guest is normal here: a warning */
		VHU_LOG(WARNING, dev, "the front-end sent no memory table in its "
			"first %u s: link stays down until it does (QEMU sends it "
			"when the guest's driver starts; a DPDK virtio-user "
			"front-end needs --single-file-segments)",
			(unsigned int)((vhu_now_ms() - dev->session_ms) / 1000));
}

/* Compare the state of every queue and of the link with what was last
 * reported, and queue events for the differences. */
void
vhu_update_events(struct vhu_dev *dev)
{
	bool link = dev->connfd >= 0 && dev->mt != NULL &&
		vq_link_up(dev, &dev->vqs[0]) && vq_link_up(dev, &dev->vqs[1]);
	uint16_t i;

	if (!link && dev->link_reported) {
		vhu_event_push(dev, VHU_EVENT_LINK_DOWN, 0, 0);
		dev->link_reported = false;
		VHU_LOG(INFO, dev, "link down");
	}
	for (i = 0; i < dev->nr_vq; i++) {
		struct vhu_vq *vq = &dev->vqs[i];
		uint32_t fault = __atomic_load_n(&vq->fault, __ATOMIC_RELAXED);
		bool up = vhu_vq_can_run(dev, vq);

		if (fault != 0 && !vq->fault_reported) {
			vq->fault_reported = true;
			VHU_LOG(ERR, dev, "queue %u (%s of pair %u) stopped: malformed guest ring (%s)",
				i, (i & 1) ? "guest TX" : "guest RX", i / 2,
				vhu_malformed_name((enum vhu_malformed)(fault - 1)));
			if (vq->up_reported) {
				vhu_event_push(dev, VHU_EVENT_QUEUE_DOWN, i, 0);
				vq->up_reported = false;
			}
			vhu_event_push(dev, VHU_EVENT_QUEUE_FAULT, i, fault - 1);
			signal_err(vq);
		}
		if (up != vq->up_reported) {
			vhu_event_push(dev, up ? VHU_EVENT_QUEUE_UP :
				VHU_EVENT_QUEUE_DOWN, i, 0);
			vq->up_reported = up;
		}
	}
	if (link && !dev->link_reported) {
		vhu_event_push(dev, VHU_EVENT_LINK_UP, 0, 0);
		dev->link_reported = true;
		VHU_LOG(INFO, dev, "link up (%s virtqueues)",
			(dev->features & (1ull << VHU_F_RING_PACKED)) ?
			"packed" : "split");
	}
	log_no_memtab(dev);
}

/* ---- quiesce / resume ---- */

/*
 * Wait until the burst @p vq was in when @p seq was read (vmlink_burst_seq()),
 * if any, is over. Bursts are short and never block, so this only waits
 * long if the data-path thread is descheduled; it keeps waiting (and says
 * so every second) because touching what the burst may still read would
 * be unsafe.
 */
static void
wait_burst_over(struct vhu_dev *dev, struct vhu_vq *vq, uint32_t seq)
{
	uint64_t start = vhu_now_ms(), warn = start;

	while (!vmlink_burst_passed(&vq->in_burst, seq)) {
		uint64_t now = vhu_now_ms();

		if (now - warn > VHU_BURST_WAIT_MS) {
			VHU_LOG(WARNING, dev, "queue %u: data path still inside its burst after %u ms",
				vq->index, (unsigned int)(now - start));
			warn = now;
		}
		sched_yield();
	}
}

/* Take a queue from the data path: close it, then wait until the burst
 * it may be in is over (a later one sees it closed). */
int
vhu_vq_quiesce(struct vhu_dev *dev, struct vhu_vq *vq)
{
	vmlink_quiesce_start(&vq->ready);
	wait_burst_over(dev, vq, vmlink_burst_seq(&vq->in_burst));
	return 0;
}

/* Bytes of the three ring parts: split (descriptors, avail, used) or
 * packed (descriptors, driver event, device event). */
void
vhu_vq_part_sizes(const struct vhu_dev *dev, uint32_t num, uint64_t sz[3])
{
	if (dev->features & (1ull << VHU_F_RING_PACKED)) {
		sz[0] = vmlink_vring_packed_desc_size(num);
		sz[1] = vmlink_vring_packed_event_size();
		sz[2] = vmlink_vring_packed_event_size();
	} else {
		sz[0] = vmlink_vring_desc_size(num);
		sz[1] = vmlink_vring_avail_size(num);
		sz[2] = vmlink_vring_used_size(num);
	}
}

/* A packed ring's positions (SET_VRING_BASE) must be inside it. */
static bool
vq_base_ok(struct vhu_dev *dev, struct vhu_vq *vq)
{
	if (!vq->packed || (vq->last_avail < vq->num && vq->last_used < vq->num))
		return true;
	VHU_LOG(ERR, dev, "queue %u: packed ring base %u/%u outside the ring of %u",
		vq->index, vq->last_avail, vq->last_used, vq->num);
	return false;
}

/* Translate the ring addresses of @p vq with the current memory table. */
static void
vq_map(struct vhu_dev *dev, struct vhu_vq *vq)
{
	void *desc, *avail, *used;
	uint64_t sz[3];

	vq->mapped = false;
	if (!vq->addr_set || vq->num == 0 || dev->mt == NULL)
		return;
	vq->packed = !!(dev->features & (1ull << VHU_F_RING_PACKED));
	vhu_vq_part_sizes(dev, vq->num, sz);
	desc = vhu_qva_to_hva(dev->mt, vq->desc_qva, sz[0]);
	avail = vhu_qva_to_hva(dev->mt, vq->avail_qva, sz[1]);
	used = vhu_qva_to_hva(dev->mt, vq->used_qva, sz[2]);
	if (desc == NULL || avail == NULL || used == NULL) {
		if (!vq->map_err_logged)
			VHU_LOG(ERR, dev, "queue %u: ring of %u entries is not inside one guest memory region",
				vq->index, vq->num);
		vq->map_err_logged = true;
		return;
	}
	if (!vq_base_ok(dev, vq))
		return;
	vq->map_err_logged = false;
	vq->desc = desc;
	vq->used = used;
	vq->pdesc = desc;
	vhu_infl_map(vq, avail, desc);
	vq->driver_event = avail;
	vq->device_event = used;
	vq->log_desc_gpa = vhu_qva_to_gpa(dev->mt, vq->desc_qva);
	vq->size = (uint16_t)(vq->num == 32768 ? 32768 : vq->num);
	vq->mask = (uint16_t)(vq->num - 1);
	vq->mapped = true;
}

/* Say where a split ring of queue pair 0 stands (its used and avail
 * indexes in guest memory, and ours) when it stops or starts: a
 * migration's source and destination must agree on them. */
static void
vq_log_indexes(struct vhu_dev *dev, const struct vhu_vq *vq, const char *what)
{
	if (vq->index >= 2 || vq->packed || !vq->mapped)
		return;
	VHU_LOG(INFO, dev, "queue %u %s: ring used %u avail %u, ours: last_used %u last_avail %u",
		vq->index, what,
		__atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE),
		__atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE),
		vq->last_used, vq->last_avail);
}

/*
 * At ring start. For a split ring the front-end's base (SET_VRING_BASE)
 * is the next avail index to take; the used index is the ring's own, in
 * guest memory (vhost-user spec): the guest reads its next used entry
 * there. Ours must be it. Taking the base for the used index too, as
 * SET_VRING_BASE once did, breaks a base ahead of the used index (chains
 * a previous back-end took and never completed, or a front-end skipping
 * a chain): used entries written from the base on would move the used
 * index over the entries before it, stale ones of an earlier wrap, and
 * the guest would complete those chains a second time. A device state
 * (vhu_state_restore_vq()) says the same used index when it is right.
 *
 * A base outside the ring's used..avail (DPDK's virtio-user in server
 * mode, reconnecting to a restarted back-end, sends 0 while its ring is
 * far ahead) would have its first avail index taken for a jump and the
 * queue stopped: resume from the used index instead, as QEMU does after
 * a back-end crash. Chains taken but never completed are then processed
 * again (a guest TX frame may be sent twice, guest RX buffers are
 * reused). The jump check stays for indexes that move while the ring
 * runs.
 */
static void
vq_reconcile_base(struct vhu_dev *dev, struct vhu_vq *vq)
{
	uint16_t used, avail, base;

	/* A packed ring has no used or avail index in memory to check
	 * against: its base (positions and wrap counters) stands. */
	vhu_state_restore_vq(dev, vq);
	if (vq->packed)
		return;
	vq_log_indexes(dev, vq, "starts");
	base = vq->last_avail;
	used = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
	avail = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
	if ((uint16_t)(base - used) > (uint16_t)(avail - used)) {
		VHU_LOG(WARNING, dev, "queue %u: the front-end's base %u is not "
			"between the ring's used index %u and avail index %u: "
			"resuming from %u (frames in flight may be sent again)",
			vq->index, base, used, avail, used);
		vq->last_avail = used;
		vq->last_used = used;
		return;
	}
	if (vq->last_used != used)
		VHU_LOG(INFO, dev, "queue %u: used entries go on from the ring's "
			"used index %u, not %u (%u chain(s) before the base %u "
			"are left to the front-end)", vq->index, used,
			vq->last_used, (uint16_t)(base - used), base);
	vq->last_used = used;
}

void
vhu_vq_resume(struct vhu_dev *dev, struct vhu_vq *vq)
{
	uint64_t f = dev->features;
	bool log_all = (f & (1ull << VHU_F_LOG_ALL)) && dev->log != NULL;

	/* The log pointers follow the device's log even for a queue that
	 * cannot run: zero-copy completions and ring stops still write its
	 * used ring, and the log they had may have been unmapped since. */
	vq->log = log_all ? dev->log : NULL;
	vq->log_used = log_all && (vq->addr_flags & VHU_VRING_F_LOG);
	vq_publish_mode(vq);
	/* Packed rings write used elements into the descriptor ring and
	 * our event structure: both logged at their own addresses. */
	vq->log_used_gpa = vq->packed ?
		vhu_qva_to_gpa(dev->mt, vq->used_qva) : vq->log_gpa;
	if (!vhu_vq_can_run(dev, vq))
		return;
	vq->hdr_len = ((f & (1ull << VHU_F_VERSION_1)) ||
		(f & (1ull << VHU_F_NET_MRG_RXBUF))) ?
		VHU_NET_HDR_LEN : VHU_NET_HDR_LEN_LEGACY;
	vq->mrg = !!(f & (1ull << VHU_F_NET_MRG_RXBUF));
	vq->event_idx = !!(f & (1ull << VHU_F_RING_EVENT_IDX));
	vq->indirect = !!(f & (1ull << VHU_F_RING_INDIRECT_DESC));
	vq->zc = (vq->index & 1) && vq->cring != NULL && !log_all;
	vq->copy_threshold = dev->cfg.copy_threshold;
	vq->ofl_features = f & VHU_OFL_FEATURES;
	__atomic_store_n(&vq->ofl_deq, dev->ofl_deq, __ATOMIC_RELAXED);
	__atomic_store_n(&vq->ofl_enq, dev->ofl_enq, __ATOMIC_RELAXED);
	vq->mbuf_port = dev->cfg.port_id;
	vq->mt = dev->mt;
	__atomic_store_n(&vq->mt_pub, dev->mt, __ATOMIC_RELAXED);
	if (vq->mem_hint >= dev->mt->n)
		vq->mem_hint = 0;
	if (vq->notify_init) {
		if (!vhu_infl_ring_start(dev, vq))
			vq_reconcile_base(dev, vq);
		vhu_vq_ring_init_notify(vq);
		vq->notify_init = false;
		vq_publish_mode(vq);
		/* an in-flight region that does not fit the ring */
		if (__atomic_load_n(&vq->fault, __ATOMIC_RELAXED) != 0)
			return;
	}
	vmlink_queue_open(&vq->ready);
}

int
vhu_quiesce_all(struct vhu_dev *dev)
{
	uint16_t i;

	for (i = 0; i < dev->nr_vq; i++) {
		if (vhu_vq_quiesce(dev, &dev->vqs[i]) != 0) {
			vhu_resume_all(dev);
			return -ETIMEDOUT;
		}
	}
	return 0;
}

void
vhu_resume_all(struct vhu_dev *dev)
{
	uint16_t i;

	for (i = 0; i < dev->nr_vq; i++) {
		vq_map(dev, &dev->vqs[i]);
		vhu_vq_resume(dev, &dev->vqs[i]);
	}
}

void
vhu_vq_remap(struct vhu_dev *dev, struct vhu_vq *vq)
{
	vq_map(dev, vq);
}

/* ---- suspend / resume ---- */

static void
wake_ctl(struct vhu_dev *dev)
{
	uint64_t one = 1;
	ssize_t r = write(dev->wakefd, &one, sizeof(one));

	RTE_SET_USED(r);
}

/*
 * Suspend: every queue is taken from the data path at a burst boundary
 * (the quiesce hand-over) and kept closed, as a status without DRIVER_OK
 * does: the rings are left as they are, so what the guest queued stays
 * there, untaken. Zero-copy chains already out are not waited for: the
 * control thread's tick writes their used entries as they are freed.
 * The events (QUEUE_DOWN, LINK_DOWN) come from the control thread.
 */
int
vhu_suspend(struct vhu_dev *dev)
{
	unsigned int held = 0;
	uint16_t i;

	if (dev == NULL)
		return -EINVAL;
	pthread_mutex_lock(&dev->lock);
	if (!dev->suspended)
		VHU_LOG(INFO, dev, "suspended");
	__atomic_store_n(&dev->suspended, true, __ATOMIC_RELAXED);
	vhu_quiesce_all(dev);
	for (i = 1; i < dev->nr_vq; i += 2)
		if (dev->vqs[i].cring != NULL)
			held += vhu_vq_zc_outstanding(&dev->vqs[i]);
	pthread_mutex_unlock(&dev->lock);
	wake_ctl(dev);
	return (int)RTE_MIN(held, (unsigned int)INT_MAX);
}

/* Resume: the queues that can run reopen where they stopped (nothing
 * was taken from their rings meanwhile). */
int
vhu_resume(struct vhu_dev *dev)
{
	if (dev == NULL)
		return -EINVAL;
	pthread_mutex_lock(&dev->lock);
	if (dev->suspended)
		VHU_LOG(INFO, dev, "resumed");
	__atomic_store_n(&dev->suspended, false, __ATOMIC_RELAXED);
	vhu_quiesce_all(dev);
	vhu_resume_all(dev);
	pthread_mutex_unlock(&dev->lock);
	wake_ctl(dev);
	return 0;
}

bool
vhu_suspended(const struct vhu_dev *dev)
{
	return dev != NULL &&
		__atomic_load_n(&dev->suspended, __ATOMIC_RELAXED);
}

/* ---- zero-copy waits ---- */

static unsigned int
vq_current_outstanding(const struct vhu_vq *vq)
{
	unsigned int i, n = 0;

	for (i = 0; i < vq->budget; i++)
		if (vq->slots[i].mt != NULL && vq->slots[i].gen == vq->gen)
			n++;
	return n;
}

/*
 * Control thread owns the queues (quiesced). Drain completions until no
 * zero-copy chain of the current session is outstanding on @p only (or on
 * every dequeue queue when NULL), or until @p mt has no reference, bounded
 * by quiesce_timeout_ms. Returns 0 or -ETIMEDOUT.
 */
static int
wait_zc(struct vhu_dev *dev, struct vhu_vq *only, struct vhu_memtab *mt,
	bool ring_live)
{
	uint64_t start = vhu_now_ms();
	unsigned int left;

	for (;;) {
		uint16_t i;

		left = 0;
		for (i = 1; i < dev->nr_vq; i += 2) {
			struct vhu_vq *vq = &dev->vqs[i];

			if (vq->cring == NULL || (only != NULL && vq != only))
				continue;
			vhu_vq_zc_drain(vq, ring_live && vq->started &&
				vq->mapped);
			if (mt == NULL)
				left += vq_current_outstanding(vq);
		}
		if (mt != NULL)
			left = __atomic_load_n(&mt->zc_refs, __ATOMIC_ACQUIRE);
		if (left == 0)
			return 0;
		if (vhu_now_ms() - start >= dev->cfg.quiesce_timeout_ms)
			break;
		usleep(1000);
	}
	VHU_LOG(ERR, dev, "%u zero-copy buffer(s) still held by the application after %u ms",
		left, dev->cfg.quiesce_timeout_ms);
	return -ETIMEDOUT;
}

int
vhu_wait_zc(struct vhu_dev *dev, struct vhu_vq *only, bool ring_live)
{
	return wait_zc(dev, only, NULL, ring_live);
}

int
vhu_wait_memtab(struct vhu_dev *dev, struct vhu_memtab *mt)
{
	if (mt == NULL)
		return 0;
	return wait_zc(dev, NULL, mt, true);
}

/* Do the rings of a running queue still translate to the same place
 * through @p mt? */
static bool
vq_rings_kept(const struct vhu_dev *dev, const struct vhu_vq *vq,
	const struct vhu_memtab *mt)
{
	uint64_t sz[3];

	vhu_vq_part_sizes(dev, vq->num, sz);
	return vhu_qva_to_hva(mt, vq->desc_qva, sz[0]) == (void *)vq->desc &&
		vhu_qva_to_hva(mt, vq->avail_qva, sz[1]) ==
			(void *)vhu_infl_guest_avail(vq) &&
		vhu_qva_to_hva(mt, vq->used_qva, sz[2]) == (void *)vq->used;
}

/*
 * Memory hotplug (ADD_MEM_REG, REM_MEM_REG) without stopping the queues,
 * RCU-style. The new table is published to every queue; a burst reads it
 * once, when it enters. Only a queue whose rings lived in a removed
 * region is taken (and stays down until the front-end moves them). The
 * old table is retired once every queue passed a quiescent point (the
 * burst it was in, if any, ended), so no burst reads it after the reply;
 * it stays mapped while zero-copy chains point into it and is unmapped by
 * the tick after the last comes back: a slow zero-copy consumer delays
 * the unmap of what its chains hold (at most its in-flight budget), never
 * the request.
 */
void
vhu_memtab_publish(struct vhu_dev *dev, struct vhu_memtab *nmt)
{
	uint32_t seq[2 * VHU_MAX_QUEUE_PAIRS];
	struct vhu_memtab *old = dev->mt;
	uint16_t i;

	dev->mt = nmt;
	for (i = 0; i < dev->nr_vq; i++)
		__atomic_store_n(&dev->vqs[i].mt_pub, nmt, __ATOMIC_RELEASE);
	for (i = 0; i < dev->nr_vq; i++)
		seq[i] = vmlink_burst_seq(&dev->vqs[i].in_burst);
	for (i = 0; i < dev->nr_vq; i++) {
		struct vhu_vq *vq = &dev->vqs[i];

		if (vq->mapped && vq_rings_kept(dev, vq, nmt))
			continue;
		vhu_vq_quiesce(dev, vq);
		vq_map(dev, vq);
		vhu_vq_resume(dev, vq);
	}
	for (i = 0; i < dev->nr_vq; i++)
		wait_burst_over(dev, &dev->vqs[i], seq[i]);
	vhu_memtab_retire(dev, old);
	dev->memtab_why[0] = '\0';
	dev->had_memtab = true;
}

/* Retire a memory table: freed now if no zero-copy chain points into it,
 * otherwise when the last one comes back (see tick()). */
void
vhu_memtab_retire(struct vhu_dev *dev, struct vhu_memtab *mt)
{
	if (mt == NULL)
		return;
	if (__atomic_load_n(&mt->zc_refs, __ATOMIC_ACQUIRE) == 0) {
		vhu_memtab_put(dev, mt);
		return;
	}
	VHU_LOG(WARNING, dev, "guest memory kept mapped until %u zero-copy buffer(s) come back",
		__atomic_load_n(&mt->zc_refs, __ATOMIC_RELAXED));
	mt->next = dev->retired;
	dev->retired = mt;
}

/* ---- stopping queues, resetting sessions ---- */

void
vhu_defer_close(struct vhu_dev *dev, int fd)
{
	if (fd < 0)
		return;
	if (dev->ndefer < dev->defer_cap)
		dev->defer[dev->ndefer++] = fd;
	else
		close(fd);
}

/* Stop a quiesced queue (GET_VRING_BASE, RESET_OWNER, disconnect). */
void
vhu_vq_stop(struct vhu_dev *dev, struct vhu_vq *vq)
{
	if (vq->cring != NULL && vhu_wait_zc(dev, vq, true) != 0) {
		VHU_LOG(ERR, dev, "queue %u stopped with zero-copy buffers outstanding: they will not be returned to the guest",
			vq->index);
		vq->gen++;
	}
	if (vq->up_reported) {
		vhu_event_push(dev, VHU_EVENT_QUEUE_DOWN, vq->index, 0);
		vq->up_reported = false;
	}
	vhu_infl_ring_stop(vq);
	vq_log_indexes(dev, vq, "stops");
	vq->started = false;
	vq->base_unread = true;
	vhu_defer_close(dev, vq->kickfd);
	__atomic_store_n(&vq->kickfd, -1, __ATOMIC_RELAXED);
	vhu_close_fd(&vq->callfd);
	vq->callfd = -1;
}

/* Stop every running ring, as GET_VRING_BASE does one (RESET_OWNER,
 * SET_STATUS 0): zero-copy chains waited for (bounded), rings disabled,
 * the next avail index kept for GET_VRING_BASE. */
void
vhu_stop_rings(struct vhu_dev *dev)
{
	uint16_t i;

	for (i = 0; i < dev->nr_vq; i++) {
		struct vhu_vq *vq = &dev->vqs[i];

		vhu_vq_quiesce(dev, vq);
		if (vq->started)
			vhu_vq_stop(dev, vq);
		vq->enable_flag = false;
	}
}

/* Quiesce every queue, take the link down and give zero-copy buffers a
 * chance to come home through the rings (if they are still live). */
static void
quiesce_for_reset(struct vhu_dev *dev, bool ring_live)
{
	uint16_t i;

	for (i = 0; i < dev->nr_vq; i++)
		vhu_vq_quiesce(dev, &dev->vqs[i]);
	if (dev->link_reported) {
		vhu_event_push(dev, VHU_EVENT_LINK_DOWN, 0, 0);
		dev->link_reported = false;
	}
	if (vhu_wait_zc(dev, NULL, ring_live) != 0)
		VHU_LOG(ERR, dev, "resetting with zero-copy buffers outstanding: they are orphaned");
}

/* A quiesced queue back to its state before any ring message. */
static void
vq_forget(struct vhu_dev *dev, struct vhu_vq *vq)
{
	vq->gen++;	/* whatever is still out is orphaned */
	vhu_infl_ring_stop(vq);
	if (vq->up_reported) {
		vhu_event_push(dev, VHU_EVENT_QUEUE_DOWN, vq->index, 0);
		vq->up_reported = false;
	}
	vhu_defer_close(dev, vq->kickfd);
	__atomic_store_n(&vq->kickfd, -1, __ATOMIC_RELAXED);
	vhu_close_fd(&vq->callfd);
	vhu_close_fd(&vq->errfd);
	vq->started = false;
	vq->base_unread = false;
	vq->enable_flag = false;
	vq->num = 0;
	vq->base = 0;
	vq->addr_set = false;
	vq->addr_flags = 0;
	vq->mapped = false;
	vq->map_err_logged = false;
	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
	vq->mt = NULL;
	__atomic_store_n(&vq->mt_pub, NULL, __ATOMIC_RELAXED);
	vq->log = NULL;
	vq->log_used = false;
	vq_publish_mode(vq);
	vq->last_avail = 0;
	vq->last_used = 0;
	vq->avail_wrap = true;	/* packed rings start at wrap 1 */
	vq->used_wrap = true;
	vq->packed = false;
	vq->pdesc = NULL;
	vq->pk_fetch = NULL;
	vq->driver_event = NULL;
	vq->device_event = NULL;
	vq->notify_on = false;
	vq->notify_init = false;
	vq->mem_hint = 0;
	__atomic_store_n(&vq->fault, 0, __ATOMIC_RELAXED);
	vq->fault_reported = false;
}

/* Device state negotiated by SET_FEATURES and later messages. */
static void
device_forget(struct vhu_dev *dev)
{
	vhu_log_unmap(dev->log);
	dev->log = NULL;
	vhu_close_fd(&dev->logfd);
	__atomic_store_n(&dev->features, 0, __ATOMIC_RELAXED);
	dev->features_set = false;
	dev->status = 0;
	dev->status_set = false;
	memcpy(dev->config_mac, dev->cfg.mac, sizeof(dev->config_mac));
	__atomic_store_n(&dev->rarp_pending, 0, __ATOMIC_RELAXED);
	vhu_state_forget(dev);
}

/* RESET_DEVICE: every ring and the negotiated device state back to their
 * initial state; the session (owner, protocol features, memory table)
 * stays, as the front-end sets the device up again. */
void
vhu_device_reset(struct vhu_dev *dev)
{
	uint16_t i;

	quiesce_for_reset(dev, true);
	for (i = 0; i < dev->nr_vq; i++)
		vq_forget(dev, &dev->vqs[i]);
	device_forget(dev);
}

void
vhu_session_reset(struct vhu_dev *dev, bool disconnect)
{
	uint16_t i;

	if (disconnect)
		log_never_memtab(dev, true);
	quiesce_for_reset(dev, !disconnect);
	for (i = 0; i < dev->nr_vq; i++)
		vq_forget(dev, &dev->vqs[i]);
	vhu_infl_release(dev);
	vhu_memtab_retire(dev, dev->mt);
	dev->mt = NULL;
	/* A memory fault of the session ending here ends with it. */
	__atomic_store_n(&dev->mem_fault, 0, __ATOMIC_RELEASE);
	device_forget(dev);
	dev->proto_features = 0;
	dev->owner = false;
	if (disconnect) {
		vhu_close_fd(&dev->connfd);
		__atomic_store_n(&dev->connected, false, __ATOMIC_RELAXED);
		vhu_event_push(dev, VHU_EVENT_DISCONNECTED, 0, 0);
		VHU_LOG(INFO, dev, "front-end disconnected");
		if (dev->cfg.client) {
			dev->backoff_ms = dev->cfg.reconnect_min_ms;
			dev->next_connect_ms = vhu_now_ms() + dev->backoff_ms;
		}
	}
}

/* ---- sockets ---- */

static int
unix_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

static int
listen_socket(struct vhu_dev *dev)
{
	struct sockaddr_un sa;
	int fd, rc;

	rc = unix_addr(dev->path, &sa);
	if (rc != 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int probe;

		rc = -errno;
		if (rc != -EADDRINUSE)
			goto fail;
		/* A socket file exists: reuse it only if nobody listens. */
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe < 0)
			goto fail;
		if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0 ||
				errno != ECONNREFUSED) {
			close(probe);
			VHU_LOG(ERR, dev, "socket %s is in use", dev->path);
			goto fail;
		}
		close(probe);
		unlink(dev->path);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
			rc = -errno;
			goto fail;
		}
	}
	if (listen(fd, 4) != 0) {
		rc = -errno;
		unlink(dev->path);
		goto fail;
	}
	dev->listenfd = fd;
	return 0;
fail:
	close(fd);
	return rc;
}

static void
session_start(struct vhu_dev *dev, int fd)
{
	dev->connfd = fd;
	dev->memtab_why[0] = '\0';
	dev->had_memtab = false;
	dev->memtab_logged = false;
	dev->session_ms = vhu_now_ms();
	memcpy(dev->config_mac, dev->cfg.mac, sizeof(dev->config_mac));
	__atomic_store_n(&dev->connected, true, __ATOMIC_RELAXED);
	vhu_event_push(dev, VHU_EVENT_CONNECTED, 0, 0);
	VHU_LOG(INFO, dev, "front-end connected");
}

/* ---- a second front-end (a migration's destination) ---- */

static void
standby_close(struct vhu_dev *dev, const char *why)
{
	vhu_close_fd(&dev->standby.fd);
	dev->standby.waiting_ms = 0;
	VHU_LOG(INFO, dev, "second front-end %s", why);
}

/* The first front-end is done with every ring: none runs, and the next
 * avail index of each it stopped was read (QEMU sends status 0, then
 * GET_VRING_BASE for each ring, whose answer the migration carries). */
static bool
rings_stopped(const struct vhu_dev *dev)
{
	uint16_t i;

	for (i = 0; i < dev->nr_vq; i++)
		if (dev->vqs[i].started || dev->vqs[i].base_unread)
			return false;
	return true;
}

/* Exchange the connection, protocol features and owner flag of the two
 * front-ends, so that the message code serves the second one. */
static void
standby_swap(struct vhu_dev *dev)
{
	int fd = dev->connfd;
	uint64_t proto = dev->proto_features;
	bool owner = dev->owner;

	dev->connfd = dev->standby.fd;
	dev->proto_features = dev->standby.proto_features;
	dev->owner = dev->standby.owner;
	dev->standby.fd = fd;
	dev->standby.proto_features = proto;
	dev->standby.owner = owner;
	dev->in_standby = !dev->in_standby;
}

/* The second front-end sent something: answer what changes nothing
 * here, hold the rest (its socket is not polled while it waits). */
static void
standby_process(struct vhu_dev *dev)
{
	int rc;

	switch (vhu_msg_standby_next(dev)) {
	case VHU_STANDBY_GONE:
		standby_close(dev, "left");
		return;
	case VHU_STANDBY_PARTIAL:
		dev->standby.quiet_until_ms = vhu_now_ms() + VHU_TICK_MS;
		return;
	case VHU_STANDBY_START:
		dev->standby.waiting_ms = vhu_now_ms();
		VHU_LOG(INFO, dev, "second front-end starts its device: it "
			"waits until the first has stopped its rings");
		return;
	case VHU_STANDBY_HANDLE:
		break;
	}
	standby_swap(dev);
	rc = vhu_msg_process(dev);
	standby_swap(dev);
	if (rc < 0)
		standby_close(dev, "left");
}

/*
 * The second front-end takes the port over once the first has left, or
 * once the second starts its device while the first runs no ring (the
 * source of a migration stops its rings before the destination starts
 * its own): the first is disconnected (a QEMU with reconnect=1 comes
 * back as the second). A start that waits too long is refused.
 */
static void
standby_switch(struct vhu_dev *dev)
{
	uint64_t proto = dev->standby.proto_features;
	bool owner = dev->standby.owner;
	int fd = dev->standby.fd;

	if (fd < 0)
		return;
	if (dev->connfd >= 0) {
		if (dev->standby.waiting_ms == 0)
			return;
		if (!rings_stopped(dev)) {
			if (vhu_now_ms() - dev->standby.waiting_ms >
					VHU_STANDBY_WAIT_MS)
				standby_close(dev, "closed: it started its device "
					"while the first front-end kept its rings "
					"running");
			return;
		}
		VHU_LOG(INFO, dev, "first front-end stopped its rings, the "
			"second starts its own: switching the port over to it");
		vhu_session_reset(dev, true);
	} else {
		VHU_LOG(INFO, dev, "first front-end left: the second takes the port");
	}
	dev->standby.fd = -1;
	dev->standby.waiting_ms = 0;
	session_start(dev, fd);
	dev->proto_features = proto;
	dev->owner = owner;
}

static void
accept_conn(struct vhu_dev *dev)
{
	int fd = accept4(dev->listenfd, NULL, NULL,
		SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	if (dev->connfd < 0) {
		session_start(dev, fd);
		return;
	}
	if (dev->standby.fd >= 0) {
		VHU_LOG(WARNING, dev, "refused a third front-end: one, and a "
			"migration's destination, at a time");
		close(fd);
		return;
	}
	dev->standby.fd = fd;
	dev->standby.proto_features = 0;
	dev->standby.owner = false;
	dev->standby.waiting_ms = 0;
	dev->standby.quiet_until_ms = 0;
	VHU_LOG(INFO, dev, "second front-end connected (a migration's "
		"destination?): kept off the port until the first stops its rings");
}

static void
try_connect(struct vhu_dev *dev)
{
	struct sockaddr_un sa;
	int fd;

	if (unix_addr(dev->path, &sa) != 0)
		return;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		dev->backoff_ms = dev->cfg.reconnect_min_ms;
		session_start(dev, fd);
		return;
	}
	if (fd >= 0)
		close(fd);
	dev->next_connect_ms = vhu_now_ms() + dev->backoff_ms;
	dev->backoff_ms = RTE_MIN(dev->backoff_ms * 2, dev->cfg.reconnect_max_ms);
}

/* ---- control thread ---- */

static void
tick(struct vhu_dev *dev)
{
	struct vhu_memtab **pp;
	uint16_t i;

	/* The SIGBUS guard (vhu_mem.c) replaced a mapping of this
	 * front-end's memory that faulted: end the session, only this one. */
	if (dev->connfd >= 0)
		log_never_memtab(dev, false);
	if (__atomic_exchange_n(&dev->mem_fault, 0, __ATOMIC_ACQ_REL) &&
			dev->connfd >= 0) {
		VHU_LOG(ERR, dev, "guest memory faulted (the front-end shrank a memory file under its mapping): disconnecting it");
		vhu_session_reset(dev, true);
	}

	/* Queues the data path does not hold: return completed zero-copy
	 * chains (faulted, disabled or disconnected queues). */
	for (i = 1; i < dev->nr_vq; i += 2) {
		struct vhu_vq *vq = &dev->vqs[i];

		if (vq->cring == NULL ||
				__atomic_load_n(&vq->ready, __ATOMIC_RELAXED))
			continue;
		/* closed (only this thread opens it): wait for no burst */
		vmlink_quiesce_start(&vq->ready);
		if (vmlink_burst_running(&vq->in_burst))
			continue;
		vhu_vq_zc_drain(vq, vq->started && vq->mapped &&
			dev->connfd >= 0);
	}
	/* A data path sleeping on the kick fd (notifications enabled) would
	 * never drain completions that came back after it went to sleep:
	 * wake it through its own kick eventfd. */
	for (i = 1; i < dev->nr_vq; i += 2) {
		struct vhu_vq *vq = &dev->vqs[i];
		int kfd = vq->kickfd;

		if (kfd >= 0 && __atomic_load_n(&vq->ready, __ATOMIC_RELAXED) &&
				__atomic_load_n(&vq->notify_on, __ATOMIC_RELAXED) &&
				vhu_vq_zc_pending(vq)) {
			uint64_t one = 1;
			ssize_t r = write(kfd, &one, sizeof(one));

			RTE_SET_USED(r);
		}
	}
	pp = &dev->retired;
	while (*pp != NULL) {
		struct vhu_memtab *mt = *pp;

		if (__atomic_load_n(&mt->zc_refs, __ATOMIC_ACQUIRE) == 0) {
			*pp = mt->next;
			VHU_LOG(INFO, dev, "released guest memory kept for zero-copy buffers");
			vhu_memtab_put(dev, mt);
		} else {
			pp = &mt->next;
		}
	}
	vhu_update_events(dev);
	log_refill(dev);
	log_say_suppressed(dev);
}

static void
flush_events(struct vhu_dev *dev, struct vhu_event *out, unsigned int *nout,
	int *fds, unsigned int *nfds)
{
	memcpy(out, dev->evq, dev->nev * sizeof(*out));
	*nout = dev->nev;
	dev->nev = 0;
	memcpy(fds, dev->defer, dev->ndefer * sizeof(*fds));
	*nfds = dev->ndefer;
	dev->ndefer = 0;
}

static void
deliver(struct vhu_dev *dev, const struct vhu_event *ev, unsigned int nev,
	const int *fds, unsigned int nfds)
{
	unsigned int i;

	for (i = 0; dev->cfg.event_cb != NULL && i < nev; i++)
		dev->cfg.event_cb(dev, &ev[i], dev->cfg.event_arg);
	/* Kick fds are closed only after QUEUE_DOWN went out. */
	for (i = 0; i < nfds; i++)
		close(fds[i]);
}

static void *
ctl_thread(void *arg)
{
	struct vhu_dev *dev = arg;
	struct vhu_event *evs = calloc(dev->evq_cap, sizeof(*evs));
	int *fds = calloc(dev->defer_cap, sizeof(*fds));

	if (evs == NULL || fds == NULL) {
		VHU_LOG(ERR, dev, "control thread: out of memory");
		free(evs);
		free(fds);
		return NULL;
	}
	while (!__atomic_load_n(&dev->stopping, __ATOMIC_ACQUIRE)) {
		struct pollfd pfd[5];
		unsigned int np = 0, nev, nfds;
		int conn_idx = -1, listen_idx = -1, sb_idx = -1, st_idx = -1;
		int timeout = VHU_TICK_MS;
		short st_events = 0;

		pfd[np].fd = dev->wakefd;
		pfd[np++].events = POLLIN;
		if (dev->connfd >= 0) {
			conn_idx = (int)np;
			pfd[np].fd = dev->connfd;
			pfd[np++].events = POLLIN;
		}
		if (dev->listenfd >= 0) {
			listen_idx = (int)np;
			pfd[np].fd = dev->listenfd;
			pfd[np++].events = POLLIN;
		}
		if (dev->standby.fd >= 0) {
			/* a waiting start request stays in the socket;
			 * a hangup is still seen */
			sb_idx = (int)np;
			pfd[np].fd = dev->standby.fd;
			pfd[np++].events = dev->standby.waiting_ms != 0 ||
				vhu_now_ms() < dev->standby.quiet_until_ms ?
				0 : POLLIN;
		}
		pfd[np].fd = vhu_state_pollfd(dev, &st_events);
		if (pfd[np].fd >= 0) {	/* a device state transfer */
			st_idx = (int)np;
			pfd[np++].events = st_events;
		}
		if (dev->cfg.client && dev->connfd < 0) {
			uint64_t now = vhu_now_ms();

			if (dev->next_connect_ms <= now)
				timeout = 0;
			else if (dev->next_connect_ms - now < (uint64_t)timeout)
				timeout = (int)(dev->next_connect_ms - now);
		}
		if (poll(pfd, np, timeout) < 0 && errno != EINTR) {
			VHU_LOG(ERR, dev, "poll failed: %s", strerror(errno));
			usleep(10000);
		}
		if (pfd[0].revents & POLLIN) {
			uint64_t v;
			ssize_t r = read(dev->wakefd, &v, sizeof(v));

			RTE_SET_USED(r);
		}
		if (__atomic_load_n(&dev->stopping, __ATOMIC_ACQUIRE))
			break;

		pthread_mutex_lock(&dev->lock);
		if (listen_idx >= 0 && (pfd[listen_idx].revents & POLLIN))
			accept_conn(dev);
		if (conn_idx >= 0 && dev->connfd == pfd[conn_idx].fd &&
				(pfd[conn_idx].revents &
				 (POLLIN | POLLHUP | POLLERR | POLLNVAL))) {
			if (vhu_msg_process(dev) < 0)
				vhu_session_reset(dev, true);
		}
		if (sb_idx >= 0 && dev->standby.fd == pfd[sb_idx].fd) {
			if (pfd[sb_idx].revents & POLLIN)
				standby_process(dev);
			else if (pfd[sb_idx].revents &
					(POLLHUP | POLLERR | POLLNVAL))
				standby_close(dev, "left");
		}
		if (st_idx >= 0 && pfd[st_idx].revents != 0)
			vhu_state_step(dev, pfd[st_idx].fd);
		standby_switch(dev);
		if (dev->cfg.client && dev->connfd < 0 &&
				vhu_now_ms() >= dev->next_connect_ms)
			try_connect(dev);
		tick(dev);
		flush_events(dev, evs, &nev, fds, &nfds);
		pthread_mutex_unlock(&dev->lock);
		deliver(dev, evs, nev, fds, nfds);
	}
	free(evs);
	free(fds);
	return NULL;
}

/* ---- create / destroy ---- */

static void
dev_free(struct vhu_dev *dev)
{
	uint16_t i;

	if (dev->vqs != NULL && !dev->leaked) {
		for (i = 0; i < dev->nr_vq; i++)
			vhu_vq_zc_free(&dev->vqs[i]);
		rte_free(dev->vqs);
	}
	if (dev->wakefd >= 0)
		close(dev->wakefd);
	free(dev->evq);
	free(dev->defer);
	vhu_state_free(dev);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
}

struct vhu_dev *
vhu_create(const struct vhu_config *cfg)
{
	struct vhu_dev *dev;
	uint16_t i;
	int rc;

	if (cfg == NULL || cfg->socket_path == NULL ||
			cfg->socket_path[0] == '\0' ||
			strlen(cfg->socket_path) >= sizeof(dev->path) ||
			cfg->max_queue_pairs == 0 ||
			cfg->max_queue_pairs > VHU_MAX_QUEUE_PAIRS ||
			(cfg->zero_copy && (cfg->inflight_budget == 0 ||
				cfg->inflight_budget > VMLINK_VRING_MAX_SIZE)) ||
			(cfg->client && (cfg->reconnect_min_ms == 0 ||
				cfg->reconnect_max_ms < cfg->reconnect_min_ms))) {
		rte_errno = EINVAL;
		return NULL;
	}
	vhu_guard_init();
	dev = calloc(1, sizeof(*dev));
	if (dev == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	dev->cfg = *cfg;
	dev->listenfd = -1;
	dev->connfd = -1;
	dev->logfd = -1;
	dev->wakefd = -1;
	dev->standby.fd = -1;
	dev->log_budget = VHU_LOG_BURST * 1000ull;
	dev->log_refill_ms = vhu_now_ms();
	pthread_mutex_init(&dev->lock, NULL);
	snprintf(dev->path, sizeof(dev->path), "%s", cfg->socket_path);
	snprintf(dev->name, sizeof(dev->name), "%s",
		cfg->name != NULL ? cfg->name : cfg->socket_path);
	dev->cfg.socket_path = dev->path;
	dev->cfg.name = dev->name;
	dev->nr_qp = cfg->max_queue_pairs;
	dev->nr_vq = (uint16_t)(2 * dev->nr_qp);

	dev->offered_features = vhu_supported_features();
	if (cfg->features != 0)
		dev->offered_features &= cfg->features |
			(1ull << VHU_F_PROTOCOL_FEATURES);
	if (cfg->mtu == 0)
		dev->offered_features &= ~(1ull << VHU_F_NET_MTU);
	if (dev->nr_qp == 1)
		dev->offered_features &= ~((1ull << VHU_F_NET_MQ) |
			(1ull << VHU_F_NET_CTRL_VQ));
	/* Both rings are used in avail order, except that zero-copy chains
	 * go back when the application frees them, in any order. */
	if (cfg->zero_copy)
		dev->offered_features &= ~(1ull << VHU_F_IN_ORDER);
	dev->proto_offered = supported_protocol_features();
	dev->ofl_offerable = dev->offered_features & VHU_OFL_FEATURES;
	dev->ofl_deq = VHU_OFL_TX_FLAGS;
	dev->ofl_enq = VHU_OFL_TX_FLAGS;

	dev->evq_cap = 4u * dev->nr_vq + 16;
	dev->evq = calloc(dev->evq_cap, sizeof(*dev->evq));
	dev->defer_cap = 2u * dev->nr_vq + 8;
	dev->defer = calloc(dev->defer_cap, sizeof(*dev->defer));
	dev->vqs = rte_zmalloc_socket("vhu_vqs", sizeof(*dev->vqs) * dev->nr_vq,
		RTE_CACHE_LINE_SIZE, cfg->numa_node);
	dev->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (dev->evq == NULL || dev->defer == NULL || dev->vqs == NULL ||
			dev->wakefd < 0) {
		rc = ENOMEM;
		goto fail;
	}
	for (i = 0; i < dev->nr_vq; i++) {
		struct vhu_vq *vq = &dev->vqs[i];

		vq->dev = dev;
		vq->index = i;
		vq->kickfd = -1;
		vq->avail_wrap = true;	/* packed rings start at wrap 1 */
		vq->used_wrap = true;
		vq->callfd = -1;
		vq->errfd = -1;
		if ((i & 1) && cfg->zero_copy && vhu_vq_zc_alloc(dev, vq) != 0) {
			rc = ENOMEM;
			goto fail;
		}
	}
	if (cfg->client) {
		dev->backoff_ms = cfg->reconnect_min_ms;
		dev->next_connect_ms = 0;
	} else {
		rc = -listen_socket(dev);
		if (rc != 0)
			goto fail;
	}
	rc = rte_ctrl_thread_create(&dev->thread, "vhu-ctl", NULL, ctl_thread,
		dev);
	if (rc != 0) {
		rc = rc < 0 ? -rc : rc;
		if (dev->listenfd >= 0) {
			close(dev->listenfd);
			unlink(dev->path);
		}
		goto fail;
	}
	dev->thread_started = true;
	pthread_mutex_lock(&dev->lock);	/* the log budget */
	VHU_LOG(INFO, dev, "%s on %s, %u queue pair(s), zero-copy %s",
		cfg->client ? "client" : "server", dev->path, dev->nr_qp,
		cfg->zero_copy ? "on" : "off");
	pthread_mutex_unlock(&dev->lock);
	return dev;
fail:
	dev_free(dev);
	rte_errno = rc;
	return NULL;
}

void
vhu_destroy(struct vhu_dev *dev)
{
	struct vhu_memtab *mt;
	uint64_t one = 1;
	unsigned int i;
	ssize_t r;

	if (dev == NULL)
		return;
	__atomic_store_n(&dev->stopping, true, __ATOMIC_RELEASE);
	r = write(dev->wakefd, &one, sizeof(one));
	RTE_SET_USED(r);
	if (dev->thread_started)
		pthread_join(dev->thread, NULL);

	pthread_mutex_lock(&dev->lock);
	vhu_close_fd(&dev->standby.fd);
	if (dev->connfd >= 0)
		vhu_session_reset(dev, true);
	vhu_infl_release(dev);
	/* No events during destroy; just close what was deferred. */
	for (i = 0; i < dev->ndefer; i++)
		close(dev->defer[i]);
	dev->ndefer = 0;
	dev->nev = 0;
	if (dev->listenfd >= 0) {
		close(dev->listenfd);
		dev->listenfd = -1;
		unlink(dev->path);
	}
	/* Chains still out pin their queue memory and guest mappings. */
	for (i = 1; i < dev->nr_vq; i += 2) {
		struct vhu_vq *vq = &dev->vqs[i];

		if (vq->cring == NULL)
			continue;
		vhu_vq_zc_drain(vq, false);
		if (vhu_vq_zc_outstanding(vq) > 0)
			dev->leaked = true;
	}
	while ((mt = dev->retired) != NULL) {
		dev->retired = mt->next;
		if (__atomic_load_n(&mt->zc_refs, __ATOMIC_ACQUIRE) == 0)
			vhu_memtab_put(dev, mt);
		else
			dev->leaked = true;
	}
	pthread_mutex_unlock(&dev->lock);
	if (dev->leaked)
		VHU_LOG(ERR, dev, "destroyed with zero-copy mbufs still held: their queue memory and guest mappings are leaked on purpose");
	dev_free(dev);
}

/* ---- counters ---- */

static const char *const malformed_names[VHU_MAL_NUM] = {
#define MAL_NAME(id, name, help) [VHU_MAL_##id] = name,
	VHU_MALFORMED_LIST(MAL_NAME)
#undef MAL_NAME
};

static const char *const stat_names[VHU_QUEUE_STATS_NUM] = {
#define STAT_NAME(field, name, help) name,
	VHU_QUEUE_STATS_LIST(STAT_NAME)
#undef STAT_NAME
#define MAL_STAT_NAME(id, name, help) "malformed_" name,
	VHU_MALFORMED_LIST(MAL_STAT_NAME)
#undef MAL_STAT_NAME
};

const char *
vhu_malformed_name(enum vhu_malformed reason)
{
	if ((unsigned int)reason >= VHU_MAL_NUM)
		return "unknown";
	return malformed_names[reason];
}

const char *
vhu_queue_stat_name(unsigned int i)
{
	return i < VHU_QUEUE_STATS_NUM ? stat_names[i] : NULL;
}

static struct vhu_vq *
stats_vq(struct vhu_dev *dev, uint16_t qp, enum vhu_queue_dir dir)
{
	if (dev == NULL || qp >= dev->nr_qp ||
			(dir != VHU_DEQ && dir != VHU_ENQ))
		return NULL;
	return &dev->vqs[2 * qp + (dir == VHU_DEQ ? 1 : 0)];
}

int
vhu_queue_stats_get(struct vhu_dev *dev, uint16_t queue_pair,
	enum vhu_queue_dir dir, struct vhu_queue_stats *st)
{
	struct vhu_vq *vq = stats_vq(dev, queue_pair, dir);
	const uint64_t *cur, *base;
	uint64_t *out;
	unsigned int i;

	if (vq == NULL || st == NULL)
		return -EINVAL;
	cur = (const uint64_t *)&vq->stats;
	base = (const uint64_t *)&vq->stats_base;
	out = (uint64_t *)st;
	for (i = 0; i < VHU_QUEUE_STATS_NUM; i++)
		out[i] = __atomic_load_n(&cur[i], __ATOMIC_RELAXED) - base[i];
	return 0;
}

int
vhu_queue_stats_reset(struct vhu_dev *dev, uint16_t queue_pair,
	enum vhu_queue_dir dir)
{
	struct vhu_vq *vq = stats_vq(dev, queue_pair, dir);
	const uint64_t *cur;
	uint64_t *base;
	unsigned int i;

	if (vq == NULL)
		return -EINVAL;
	cur = (const uint64_t *)&vq->stats;
	base = (uint64_t *)&vq->stats_base;
	for (i = 0; i < VHU_QUEUE_STATS_NUM; i++)
		base[i] = __atomic_load_n(&cur[i], __ATOMIC_RELAXED);
	return 0;
}

/* ---- diagnostics ---- */

int
vhu_queue_kickfd(struct vhu_dev *dev, uint16_t queue_pair)
{
	if (dev == NULL || queue_pair >= dev->nr_qp)
		return -1;
	return __atomic_load_n(&dev->vqs[2 * queue_pair + 1].kickfd,
		__ATOMIC_RELAXED);
}

int
vhu_guest_read(struct vhu_dev *dev, uint64_t gpa, void *buf, size_t len)
{
	uint8_t *out = buf;
	uint32_t hint = 0;
	int rc = 0;

	if (dev == NULL || (buf == NULL && len > 0))
		return -EINVAL;
	pthread_mutex_lock(&dev->lock);
	if (dev->mt == NULL) {
		rc = -ENOENT;
		goto out;
	}
	if (gpa + len < gpa) {
		rc = -EFAULT;
		goto out;
	}
	while (len > 0) {
		const struct vhu_memseg *s = vhu_gpa_lookup(dev->mt, &hint, gpa);
		uint64_t room;
		size_t c;

		if (s == NULL) {
			rc = -EFAULT;
			goto out;
		}
		room = s->size - (gpa - s->start);
		c = room < len ? (size_t)room : len;
		memcpy(out, s->hva + (gpa - s->start), c);
		out += c;
		gpa += c;
		len -= c;
	}
out:
	pthread_mutex_unlock(&dev->lock);
	return rc;
}

unsigned int
vhu_mem_regions(struct vhu_dev *dev)
{
	unsigned int n;

	if (dev == NULL)
		return 0;
	pthread_mutex_lock(&dev->lock);
	n = dev->mt != NULL ? dev->mt->n : 0;
	pthread_mutex_unlock(&dev->lock);
	return n;
}
