/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user messages: receive with fds, validate against a per-request
 * schema before anything changes, dispatch, reply.
 */

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vhu_internal.h"
#include "vmlink_sock.h"

struct vhu_msg {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
	union {
		uint64_t u64;
		struct vhu_vring_state state;
		struct vhu_vring_addr addr;
		struct vhu_mem_table_desc mem;
		struct vhu_mem_reg_desc memreg;
		struct vhu_log_desc log;
		struct vhu_config_desc config;
		struct vhu_inflight_desc inflight;
		struct vhu_state_xfer_desc xfer;
		uint8_t raw[VHU_MSG_MAX_PAYLOAD];
	} p;
	int fds[VHU_MAX_MSG_FDS];
	unsigned int nfds;
	bool fds_truncated;
};

struct vhu_reply {
	uint32_t size;
	union {
		uint64_t u64;
		struct vhu_vring_state state;
		struct vhu_config_desc config;
		struct vhu_inflight_desc inflight;
	} p;
	int fd;			/* sent with the reply, then closed; -1 */
};

typedef int (*vhu_handler_t)(struct vhu_dev *dev, struct vhu_msg *msg,
	struct vhu_reply *rep, const char **why);

enum { SZ_EXACT, SZ_MEMTABLE, SZ_CONFIG };
enum { REPLY_NONE, REPLY_OWN, REPLY_ALWAYS };

struct vhu_req {
	const char *name;
	vhu_handler_t fn;	/* NULL: known but not supported */
	uint8_t szkind;
	uint16_t size;
	uint8_t min_fds;
	uint8_t max_fds;
	int8_t proto;		/* protocol feature that must be negotiated */
	uint8_t reply;
};

/* ---- socket I/O ---- */

static void
close_msg_fds(struct vhu_msg *msg)
{
	unsigned int i;

	for (i = 0; i < msg->nfds; i++)
		if (msg->fds[i] >= 0)
			close(msg->fds[i]);
	msg->nfds = 0;
}

/* One recvmsg; fds attached to the bytes are collected into @p msg
 * (beyond VHU_MAX_MSG_FDS they are closed and the message marked). */
static ssize_t
recv_some(int fd, void *buf, size_t len, struct vhu_msg *msg)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHU_MAX_MSG_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh;
	struct cmsghdr *cm;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf.buf;
	mh.msg_controllen = sizeof(cbuf.buf);
	n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0)
		return -errno;
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t i, nf;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		nf = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < nf; i++) {
			int f;

			memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(f));
			if (msg->nfds < VHU_MAX_MSG_FDS) {
				msg->fds[msg->nfds++] = f;
			} else {
				close(f);
				msg->fds_truncated = true;
			}
		}
	}
	if (mh.msg_flags & MSG_CTRUNC)
		msg->fds_truncated = true;
	return n;
}

/* Read exactly @p len bytes, waiting at most VHU_MSG_TIMEOUT_MS. */
static int
read_full(struct vhu_dev *dev, struct vhu_msg *msg, void *buf, size_t len)
{
	uint64_t start = vhu_now_ms();
	size_t off = 0;

	while (off < len) {
		ssize_t n = recv_some(dev->connfd, (uint8_t *)buf + off,
			len - off, msg);
		struct pollfd pfd;
		uint64_t spent;

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n == 0 || (n != -EAGAIN && n != -EINTR))
			return -1;
		spent = vhu_now_ms() - start;
		if (spent >= VHU_MSG_TIMEOUT_MS)
			return -1;
		pfd.fd = dev->connfd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, (int)(VHU_MSG_TIMEOUT_MS - spent)) == 0) {
			VHU_LOG(ERR, dev, "front-end stalled in the middle of a message");
			return -1;
		}
	}
	return 0;
}

/* A reply; @p fd (>= 0) rides with its first byte. */
static int
send_msg_fd(struct vhu_dev *dev, uint32_t request, const void *payload,
	uint32_t size, int fd)
{
	uint8_t buf[VHU_MSG_HDR_SIZE + sizeof(struct vhu_config_desc)];
	uint32_t hdr[3] = { request, VHU_FLAG_VERSION | VHU_FLAG_REPLY, size };
	size_t total = VHU_MSG_HDR_SIZE + size, off = 0;
	uint64_t start = vhu_now_ms();

	if (size > sizeof(buf) - VHU_MSG_HDR_SIZE)
		return -1;
	memcpy(buf, hdr, sizeof(hdr));
	if (size > 0)
		memcpy(buf + VHU_MSG_HDR_SIZE, payload, size);
	while (off < total) {
		ssize_t n = vmlink_send_fd(dev->connfd, buf + off,
			total - off, off == 0 ? fd : -1);
		struct pollfd pfd;

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (vhu_now_ms() - start >= VHU_MSG_TIMEOUT_MS)
			return -1;
		pfd.fd = dev->connfd;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		(void)poll(&pfd, 1, 10);
	}
	return 0;
}

static int
send_msg(struct vhu_dev *dev, uint32_t request, const void *payload,
	uint32_t size)
{
	return send_msg_fd(dev, request, payload, size, -1);
}

static int
send_u64(struct vhu_dev *dev, uint32_t request, uint64_t v)
{
	return send_msg(dev, request, &v, sizeof(v));
}

/* ---- helpers ---- */

static bool
proto_has(const struct vhu_dev *dev, unsigned int bit)
{
	return (dev->proto_features >> bit) & 1;
}

static struct vhu_vq *
get_vq(struct vhu_dev *dev, uint64_t index, const char **why)
{
	/* Checked on the full width, before any narrowing. */
	if (index >= dev->nr_vq) {
		*why = "vring index out of range";
		return NULL;
	}
	return &dev->vqs[index];
}

static bool
any_started(const struct vhu_dev *dev)
{
	uint16_t i;

	for (i = 0; i < dev->nr_vq; i++)
		if (dev->vqs[i].started)
			return true;
	return false;
}

static int
region_desc_check(const struct vhu_mem_region_desc *d, const char **why)
{
	if (((d->gpa | d->qva | d->mmap_offset) & 4095) != 0) {
		*why = "region addresses or offset not page aligned";
		return -1;
	}
	return 0;
}

/* Swap in a new memory table once no data path and no zero-copy buffer
 * uses the current one. Consumes @p nmt on failure. */
static int
install_memtab(struct vhu_dev *dev, struct vhu_memtab *nmt, const char **why)
{
	struct vhu_memtab *old;

	if (vhu_quiesce_all(dev) != 0) {
		vhu_memtab_put(dev, nmt);
		*why = "data path did not leave its burst";
		return -1;
	}
	if (vhu_wait_memtab(dev, dev->mt) != 0) {
		vhu_memtab_put(dev, nmt);
		vhu_resume_all(dev);
		*why = "zero-copy buffers still point into the current memory table";
		return -1;
	}
	old = dev->mt;
	dev->mt = nmt;
	vhu_resume_all(dev);	/* re-translates every ring */
	vhu_memtab_put(dev, old);
	dev->memtab_why[0] = '\0';
	dev->had_memtab = true;
	VHU_LOG(INFO, dev, "memory table: %u region(s)", nmt->n);
	return 0;
}

/* ---- handlers ---- */

static int
h_get_features(struct vhu_dev *dev, struct vhu_msg *msg, struct vhu_reply *rep,
	const char **why)
{
	RTE_SET_USED(msg);
	RTE_SET_USED(why);
	rep->p.u64 = dev->offered_features;
	rep->size = sizeof(uint64_t);
	return 0;
}

static int
h_set_features(struct vhu_dev *dev, struct vhu_msg *msg, struct vhu_reply *rep,
	const char **why)
{
	uint64_t v = msg->p.u64;
	const uint64_t log_all = 1ull << VHU_F_LOG_ALL;

	RTE_SET_USED(rep);
	if (v & ~dev->offered_features) {
		*why = "acks features that were not offered";
		return -1;
	}
	if (dev->features_set && any_started(dev) &&
			((v ^ dev->features) & ~log_all)) {
		*why = "changes features other than LOG_ALL while rings run";
		return -1;
	}
	if (vhu_quiesce_all(dev) != 0) {
		*why = "data path did not leave its burst";
		return -1;
	}
	/* Dirty logging on or off is the mark of a live migration. */
	if (dev->features_set && ((v ^ dev->features) & log_all))
		VHU_LOG(INFO, dev, "dirty logging %s (VHOST_F_LOG_ALL)",
			(v & log_all) ? "on: the front-end migrates" : "off");
	else if (!dev->features_set && (v & log_all))
		VHU_LOG(INFO, dev, "dirty logging on from the start (VHOST_F_LOG_ALL)");
	__atomic_store_n(&dev->features, v, __ATOMIC_RELAXED);
	dev->features_set = true;
	vhu_resume_all(dev);
	return 0;
}

static int
h_set_owner(struct vhu_dev *dev, struct vhu_msg *msg, struct vhu_reply *rep,
	const char **why)
{
	RTE_SET_USED(msg);
	RTE_SET_USED(rep);
	RTE_SET_USED(why);
	dev->owner = true;
	return 0;
}

static int
h_reset_owner(struct vhu_dev *dev, struct vhu_msg *msg, struct vhu_reply *rep,
	const char **why)
{
	uint16_t i;

	RTE_SET_USED(msg);
	RTE_SET_USED(rep);
	RTE_SET_USED(why);
	/* Deprecated; as the specification recommends, disable all rings
	 * and keep the rest of the session. */
	for (i = 0; i < dev->nr_vq; i++) {
		struct vhu_vq *vq = &dev->vqs[i];

		if (!vq->started)
			continue;
		vhu_vq_quiesce(dev, vq);
		vhu_vq_stop(dev, vq);
	}
	return 0;
}

static int
h_get_protocol_features(struct vhu_dev *dev, struct vhu_msg *msg,
	struct vhu_reply *rep, const char **why)
{
	RTE_SET_USED(msg);
	RTE_SET_USED(why);
	rep->p.u64 = dev->proto_offered;
	rep->size = sizeof(uint64_t);
	return 0;
}

static int
h_set_protocol_features(struct vhu_dev *dev, struct vhu_msg *msg,
	struct vhu_reply *rep, const char **why)
{
	RTE_SET_USED(rep);
	if (msg->p.u64 & ~dev->proto_offered) {
		*why = "acks protocol features that were not offered";
		return -1;
	}
	dev->proto_features = msg->p.u64;
	return 0;
}

static int
h_get_queue_num(struct vhu_dev *dev, struct vhu_msg *msg,
	struct vhu_reply *rep, const char **why)
{
	RTE_SET_USED(msg);
	RTE_SET_USED(why);
	rep->p.u64 = dev->nr_qp;
	rep->size = sizeof(uint64_t);
	return 0;
}

static int
h_get_max_mem_slots(struct vhu_dev *dev, struct vhu_msg *msg,
	struct vhu_reply *rep, const char **why)
{
	RTE_SET_USED(dev);
	RTE_SET_USED(msg);
	RTE_SET_USED(why);
	rep->p.u64 = VHU_MAX_MEM_SLOTS;
	rep->size = sizeof(uint64_t);
	return 0;
}

static void
unmap_new_regions(struct vhu_region **r, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		r[i]->refs = 1;
		vhu_region_unref(r[i]);
	}
}

static int
h_set_mem_table(struct vhu_dev *dev, struct vhu_msg *msg,
	struct vhu_reply *rep, const char **why)
{
	struct vhu_mem_region_desc *d[VHU_MEMTABLE_MAX_REGIONS] = { NULL };
	struct vhu_region *r[VHU_MEMTABLE_MAX_REGIONS];
	struct vhu_memtab *nmt;
	uint32_t n = msg->p.mem.nregions, i;

	RTE_SET_USED(rep);
	for (i = 0; i < n; i++) {
		d[i] = &msg->p.mem.regions[i];
		if (region_desc_check(d[i], why) != 0)
			return -1;
	}
	if (vhu_region_check_new(NULL, d, n, why) != 0)
		return -1;
	for (i = 0; i < n; i++) {
		r[i] = vhu_region_map(dev, d[i], msg->fds[i], why);
		if (r[i] == NULL) {
			unmap_new_regions(r, i);
			return -1;
		}
	}
	nmt = vhu_memtab_build(dev, r, n);
	if (nmt == NULL) {
		unmap_new_regions(r, n);
		*why = "out of memory";
		return -1;
	}
	return install_memtab(dev, nmt, why);
}

static int
h_add_mem_reg(struct vhu_dev *dev, struct vhu_msg *msg, struct vhu_reply *rep,
	const char **why)
{
	struct vhu_mem_region_desc *d = &msg->p.memreg.region;
	uint32_t n = dev->mt != NULL ? dev->mt->n : 0;
	struct vhu_region **all, *r;
	struct vhu_memtab *nmt;
	uint32_t i;

	RTE_SET_USED(rep);
	if (region_desc_check(d, why) != 0)
		return -1;
	/* QEMU with several queue pairs has one vhost_dev per pair on the
	 * same connection, each adding (and later removing) the same
	 * regions: an identical region is counted, not mapped twice. */
	for (i = 0; i < n; i++) {
		struct vhu_region *e = dev->mt->regions[i];

		if (e->gpa == d->gpa && e->size == d->size && e->qva == d->qva) {
			e->dups++;
			return 0;
		}
	}
	if (vhu_region_check_new(dev->mt, &d, 1, why) != 0)
		return -1;
	if (n + 1 > VHU_MAX_MEM_SLOTS) {
		*why = "all memory slots are in use";
		return -1;
	}
	all = calloc(n + 1, sizeof(*all));
	if (all == NULL) {
		*why = "out of memory";
		return -1;
	}
	r = vhu_region_map(dev, d, msg->fds[0], why);
	if (r == NULL) {
		free(all);
		return -1;
	}
	if (n > 0)
		memcpy(all, dev->mt->regions, n * sizeof(*all));
	all[n] = r;
	nmt = vhu_memtab_build(dev, all, n + 1);
	free(all);
	if (nmt == NULL) {
		unmap_new_regions(&r, 1);
		*why = "out of memory";
		return -1;
	}
	vhu_memtab_publish(dev, nmt);
	VHU_LOG(DEBUG, dev, "memory table: %u region(s)", nmt->n);
	return 0;
}

static int
h_rem_mem_reg(struct vhu_dev *dev, struct vhu_msg *msg, struct vhu_reply *rep,
	const char **why)
{
	const struct vhu_mem_region_desc *d = &msg->p.memreg.region;
	struct vhu_region **rest;
	struct vhu_memtab *nmt;
	uint32_t i, k = 0, found = UINT32_MAX;

	RTE_SET_USED(rep);
	for (i = 0; dev->mt != NULL && i < dev->mt->n; i++) {
		const struct vhu_region *r = dev->mt->regions[i];

		if (r->gpa == d->gpa && r->size == d->size && r->qva == d->qva)
			found = i;
	}
	if (found == UINT32_MAX) {
		*why = "no mapped region matches guest address, size and user address";
		return -1;
	}
	if (dev->mt->regions[found]->dups > 0) {
		dev->mt->regions[found]->dups--;
		return 0;
	}
	rest = calloc(dev->mt->n, sizeof(*rest));
	if (rest == NULL) {
		*why = "out of memory";
		return -1;
	}
	for (i = 0; i < dev->mt->n; i++)
		if (i != found)
			rest[k++] = dev->mt->regions[i];
	nmt = vhu_memtab_build(dev, rest, k);
	free(rest);
	if (nmt == NULL) {
		*why = "out of memory";
		return -1;
	}
	vhu_memtab_publish(dev, nmt);
	VHU_LOG(DEBUG, dev, "memory table: %u region(s)", nmt->n);
	return 0;
}

static int
h_set_log_base(struct vhu_dev *dev, struct vhu_msg *msg, struct vhu_reply *rep,
	const char **why)
{
	struct vhu_log *log, *old;

	log = vhu_log_map(dev, msg->fds[0], msg->p.log.mmap_size,
		msg->p.log.mmap_offset, why);
	if (log == NULL)
		return -1;
	if (vhu_quiesce_all(dev) != 0) {
		vhu_log_unmap(log);
		*why = "data path did not leave its burst";
		return -1;
	}
	old = dev->log;
	dev->log = log;
	vhu_resume_all(dev);
	vhu_log_unmap(old);
	VHU_LOG(INFO, dev, "dirty log %s: %" PRIu64 " bytes, covers %" PRIu64
		" MiB of guest memory", old != NULL ? "replaced" : "set",
		log->size, (log->size * 8 * VHU_LOG_PAGE) >> 20);
	rep->p.u64 = 0;
	rep->size = sizeof(uint64_t);
	return 0;
}

static int
h_set_log_fd(struct vhu_dev *dev, struct vhu_msg *msg, struct vhu_reply *rep,
	const char **why)
{
	RTE_SET_USED(rep);
	RTE_SET_USED(why);
	vhu_close_fd(&dev->logfd);
	dev->logfd = msg->fds[0];
	msg->fds[0] = -1;
	return 0;
}

static int
h_set_vring_num(struct vhu_dev *dev, struct vhu_msg *msg,
	struct vhu_reply *rep, const char **why)
{
	struct vhu_vq *vq = get_vq(dev, msg->p.state.index, why);
	uint32_t num = msg->p.state.num;

	RTE_SET_USED(rep);
	if (vq == NULL)
		return -1;
	if (num == 0 || num > VMLINK_VRING_MAX_SIZE || (num & (num - 1)) != 0) {
		*why = "ring size must be a power of 2 from 1 to 32768";
		return -1;
	}
	if (vq->started) {
		*why = "ring is running";
		return -1;
	}
	vq->num = num;
	vhu_vq_remap(dev, vq);
	return 0;
}

static int
h_set_vring_addr(struct vhu_dev *dev, struct vhu_msg *msg,
	struct vhu_reply *rep, const char **why)
{
	const struct vhu_vring_addr *a = &msg->p.addr;
	struct vhu_vq *vq = get_vq(dev, a->index, why);
	uint64_t sz[3];

	RTE_SET_USED(rep);
	if (vq == NULL)
		return -1;
	if (a->flags & ~VHU_VRING_F_LOG) {
		*why = "unknown vring address flags";
		return -1;
	}
	/* Packed: descriptors 16, event structures 4 (covered by these). */
	if ((a->desc_qva & 15) || (a->avail_qva & 1) || (a->used_qva & 3) ||
			((dev->features & (1ull << VHU_F_RING_PACKED)) &&
			 (a->avail_qva & 3))) {
		*why = "ring addresses misaligned (desc 16, avail 2, used 4)";
		return -1;
	}
	vhu_vq_part_sizes(dev, vq->num, sz);
	if (dev->mt != NULL && vq->num != 0 &&
			(vhu_qva_to_hva(dev->mt, a->desc_qva, sz[0]) == NULL ||
			 vhu_qva_to_hva(dev->mt, a->avail_qva, sz[1]) == NULL ||
			 vhu_qva_to_hva(dev->mt, a->used_qva, sz[2]) == NULL)) {
		*why = "ring not inside one guest memory region";
		return -1;
	}
	if (vq->started && vhu_vq_quiesce(dev, vq) != 0) {
		*why = "data path did not leave its burst";
		return -1;
	}
	vq->desc_qva = a->desc_qva;
	vq->avail_qva = a->avail_qva;
	vq->used_qva = a->used_qva;
	vq->log_gpa = a->log_gpa;
	vq->addr_flags = a->flags;
	vq->addr_set = true;
	vhu_vq_remap(dev, vq);
	vhu_vq_resume(dev, vq);
	return 0;
}

static int
h_set_vring_base(struct vhu_dev *dev, struct vhu_msg *msg,
	struct vhu_reply *rep, const char **why)
{
	struct vhu_vq *vq = get_vq(dev, msg->p.state.index, why);
	uint32_t num = msg->p.state.num;

	RTE_SET_USED(rep);
	if (vq == NULL)
		return -1;
	if (vq->started) {
		*why = "ring is running";
		return -1;
	}
	if (dev->features & (1ull << VHU_F_RING_PACKED)) {
		vhu_packed_base_set(vq, num);
		return 0;
	}
	if (num > UINT16_MAX) {
		*why = "base does not fit a split ring index";
		return -1;
	}
	vq->base = (uint16_t)num;
	vq->last_avail = (uint16_t)num;
	vq->last_used = (uint16_t)num;
	return 0;
}

static int
h_get_vring_base(struct vhu_dev *dev, struct vhu_msg *msg,
	struct vhu_reply *rep, const char **why)
{
	struct vhu_vq *vq = get_vq(dev, msg->p.state.index, why);

	if (vq == NULL)
		return -1;
	if (vhu_vq_quiesce(dev, vq) != 0) {
		*why = "data path did not leave its burst";
		vhu_vq_resume(dev, vq);
		return -1;
	}
	if (vq->started) {
		vhu_vq_stop(dev, vq);
		/* Queue pair 0 stands for the others (one line per ring
		 * of 128 pairs would eat the log budget). */
		if (vq->index < 2)
			VHU_LOG(INFO, dev, "queue %u stopped by the front-end at avail index %u",
				vq->index, vq->last_avail);
	}
	vq->base_unread = false;
	rep->p.state.index = msg->p.state.index;
	rep->p.state.num = vq->packed ? vhu_packed_base_get(vq) :
		vq->last_avail;
	rep->size = sizeof(rep->p.state);
	return 0;
}

/* Common part of SET_VRING_KICK/CALL/ERR. */
static struct vhu_vq *
vring_fd_msg(struct vhu_dev *dev, struct vhu_msg *msg, int *fd,
	const char **why)
{
	uint64_t v = msg->p.u64;
	bool nofd = v & VHU_VRING_NOFD;
	struct vhu_vq *vq;

	if (v & ~(VHU_VRING_IDX_MASK | VHU_VRING_NOFD)) {
		*why = "unknown bits set beside the vring index and NOFD";
		return NULL;
	}
	vq = get_vq(dev, v & VHU_VRING_IDX_MASK, why);
	if (vq == NULL)
		return NULL;
	if (nofd && msg->nfds != 0) {
		*why = "NOFD set but an fd is attached";
		return NULL;
	}
	if (!nofd && msg->nfds != 1) {
		*why = "exactly one fd expected (or the NOFD bit)";
		return NULL;
	}
	*fd = -1;
	if (!nofd) {
		*fd = msg->fds[0];
		msg->fds[0] = -1;
	}
	return vq;
}

static int
h_set_vring_kick(struct vhu_dev *dev, struct vhu_msg *msg,
	struct vhu_reply *rep, const char **why)
{
	struct vhu_vq *vq;
	int fd;

	RTE_SET_USED(rep);
	vq = vring_fd_msg(dev, msg, &fd, why);
	if (vq == NULL)
		return -1;
	/* The old kick fd goes away: report the queue down first so a PMD
	 * drops it; QUEUE_UP follows with the new one. */
	if (vq->up_reported) {
		vhu_event_push(dev, VHU_EVENT_QUEUE_DOWN, vq->index, 0);
		vq->up_reported = false;
	}
	if (vhu_vq_quiesce(dev, vq) != 0) {
		if (fd >= 0)
			close(fd);
		vhu_vq_resume(dev, vq);
		*why = "data path did not leave its burst";
		return -1;
	}
	vhu_defer_close(dev, vq->kickfd);
	__atomic_store_n(&vq->kickfd, fd, __ATOMIC_RELAXED);
	if (!vq->started) {
		vq->started = true;
		vq->base_unread = false;
		vq->notify_init = true;
		vq->mem_hint = 0;
		__atomic_store_n(&vq->fault, 0, __ATOMIC_RELAXED);
		vq->fault_reported = false;
	}
	vhu_vq_remap(dev, vq);
	vhu_vq_resume(dev, vq);
	return 0;
}

static int
h_set_vring_call(struct vhu_dev *dev, struct vhu_msg *msg,
	struct vhu_reply *rep, const char **why)
{
	struct vhu_vq *vq;
	int fd;

	RTE_SET_USED(rep);
	vq = vring_fd_msg(dev, msg, &fd, why);
	if (vq == NULL)
		return -1;
	if (vhu_vq_quiesce(dev, vq) != 0) {
		if (fd >= 0)
			close(fd);
		vhu_vq_resume(dev, vq);
		*why = "data path did not leave its burst";
		return -1;
	}
	vhu_close_fd(&vq->callfd);
	vq->callfd = fd;
	vhu_vq_resume(dev, vq);
	return 0;
}

static int
h_set_vring_err(struct vhu_dev *dev, struct vhu_msg *msg,
	struct vhu_reply *rep, const char **why)
{
	struct vhu_vq *vq;
	int fd;

	RTE_SET_USED(rep);
	vq = vring_fd_msg(dev, msg, &fd, why);
	if (vq == NULL)
		return -1;
	vhu_close_fd(&vq->errfd);
	vq->errfd = fd;
	return 0;
}

static int
h_set_vring_enable(struct vhu_dev *dev, struct vhu_msg *msg,
	struct vhu_reply *rep, const char **why)
{
	struct vhu_vq *vq = get_vq(dev, msg->p.state.index, why);

	RTE_SET_USED(rep);
	if (vq == NULL)
		return -1;
	/* Legal because the back-end offers VHOST_USER_F_PROTOCOL_FEATURES;
	 * QEMU sends it before SET_FEATURES acks that bit. The flag matters
	 * only once the bit is acked (vhu_vq_can_run()). */
	if (!(dev->offered_features & (1ull << VHU_F_PROTOCOL_FEATURES))) {
		*why = "VHOST_USER_F_PROTOCOL_FEATURES not offered";
		return -1;
	}
	if (msg->p.state.num > 1) {
		*why = "enable must be 0 or 1";
		return -1;
	}
	if (vhu_vq_quiesce(dev, vq) != 0) {
		vhu_vq_resume(dev, vq);
		*why = "data path did not leave its burst";
		return -1;
	}
	vq->enable_flag = msg->p.state.num == 1;
	vhu_vq_resume(dev, vq);
	return 0;
}

static int
h_send_rarp(struct vhu_dev *dev, struct vhu_msg *msg, struct vhu_reply *rep,
	const char **why)
{
	RTE_SET_USED(rep);
	RTE_SET_USED(why);
	memcpy(dev->rarp_mac, msg->p.raw, sizeof(dev->rarp_mac));
	__atomic_store_n(&dev->rarp_pending, 1, __ATOMIC_RELEASE);
	VHU_LOG(INFO, dev, "SEND_RARP: announcing %02x:%02x:%02x:%02x:%02x:%02x "
		"(the guest moved here)", dev->rarp_mac[0], dev->rarp_mac[1],
		dev->rarp_mac[2], dev->rarp_mac[3], dev->rarp_mac[4],
		dev->rarp_mac[5]);
	return 0;
}

static int
h_net_set_mtu(struct vhu_dev *dev, struct vhu_msg *msg, struct vhu_reply *rep,
	const char **why)
{
	uint64_t mtu = msg->p.u64;

	RTE_SET_USED(rep);
	if (mtu < 68 || mtu > VHU_MAX_FRAME_LEN - 14) {
		*why = "MTU out of range";
		return -1;
	}
	dev->mtu = (uint16_t)mtu;
	vhu_event_push(dev, VHU_EVENT_MTU, 0, (uint32_t)mtu);
	return 0;
}

/*
 * The virtio device status (virtio 1.2, 2.1). 0 resets the device: every
 * ring stops as with GET_VRING_BASE (which still answers afterwards, as
 * QEMU sends status 0 before it), zero-copy chains come home first.
 * Rings run only while DRIVER_OK is set (vhu_vq_can_run()). FEATURES_OK
 * is kept only after SET_FEATURES: a driver reading the status back sees
 * the device refuse it otherwise.
 */
static int
h_set_status(struct vhu_dev *dev, struct vhu_msg *msg, struct vhu_reply *rep,
	const char **why)
{
	uint8_t st;

	RTE_SET_USED(rep);
	if (msg->p.u64 > 0xff) {
		*why = "status does not fit the virtio status byte";
		return -1;
	}
	st = (uint8_t)msg->p.u64;
	if (st == 0) {
		vhu_stop_rings(dev);
		if (dev->status != 0)
			VHU_LOG(INFO, dev, "device reset by the front-end (status 0)");
		dev->status = 0;
		dev->status_set = true;
		return 0;
	}
	if ((st & VHU_STATUS_FEATURES_OK) && !dev->features_set)
		st &= (uint8_t)~VHU_STATUS_FEATURES_OK;
	if (vhu_quiesce_all(dev) != 0) {
		*why = "data path did not leave its burst";
		return -1;
	}
	if ((st ^ dev->status) & VHU_STATUS_DRIVER_OK)
		VHU_LOG(INFO, dev, "driver %s (status %#x)",
			(st & VHU_STATUS_DRIVER_OK) ? "ready" : "not ready", st);
	dev->status = st;
	dev->status_set = true;
	vhu_resume_all(dev);
	return 0;
}

static int
h_reset_device(struct vhu_dev *dev, struct vhu_msg *msg,
	struct vhu_reply *rep, const char **why)
{
	RTE_SET_USED(msg);
	RTE_SET_USED(rep);
	RTE_SET_USED(why);
	vhu_device_reset(dev);
	VHU_LOG(INFO, dev, "device reset (RESET_DEVICE)");
	return 0;
}

/* The virtio-net config space as the device shows it. The link is always
 * up (the switch port exists while the device does); speed and duplex
 * unknown; the MTU is the one offered with VIRTIO_NET_F_MTU. */
static void
net_config_fill(const struct vhu_dev *dev, struct vhu_net_config *c)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->mac, dev->config_mac, sizeof(c->mac));
	c->status = VHU_NET_S_LINK_UP;
	c->max_virtqueue_pairs = dev->nr_qp;
	c->mtu = dev->cfg.mtu;
	c->speed = UINT32_MAX;
	c->duplex = 0xff;
}

/* Bytes of the 256-byte window past the virtio-net fields read as 0. */
static int
h_get_config(struct vhu_dev *dev, struct vhu_msg *msg, struct vhu_reply *rep,
	const char **why)
{
	const struct vhu_config_desc *q = &msg->p.config;
	uint8_t space[VHU_CONFIG_MAX] = { 0 };
	struct vhu_net_config c;

	if ((uint64_t)q->offset + q->size > VHU_CONFIG_MAX) {
		*why = "config window past 256 bytes";
		return -1;
	}
	net_config_fill(dev, &c);
	memcpy(space, &c, sizeof(c));
	rep->p.config.offset = q->offset;
	rep->p.config.size = q->size;
	rep->p.config.flags = q->flags;
	memcpy(rep->p.config.region, space + q->offset, q->size);
	rep->size = VHU_CONFIG_HDR_SIZE + q->size;
	return 0;
}

/* Only the MAC is writable (legacy drivers set it this way); the other
 * fields are the device's. */
static int
h_set_config(struct vhu_dev *dev, struct vhu_msg *msg, struct vhu_reply *rep,
	const char **why)
{
	const struct vhu_config_desc *q = &msg->p.config;

	RTE_SET_USED(rep);
	if (q->flags & ~VHU_CONFIG_F_MIGRATION) {
		*why = "unknown config flags";
		return -1;
	}
	if (q->size == 0 ||
			(uint64_t)q->offset + q->size > sizeof(dev->config_mac)) {
		*why = "only the MAC (bytes 0-5) of the config space is writable";
		return -1;
	}
	memcpy(dev->config_mac + q->offset, q->region, q->size);
	return 0;
}

static int
h_get_status(struct vhu_dev *dev, struct vhu_msg *msg, struct vhu_reply *rep,
	const char **why)
{
	RTE_SET_USED(msg);
	RTE_SET_USED(why);
	rep->p.u64 = dev->status;
	rep->size = sizeof(uint64_t);
	return 0;
}

/* GET_INFLIGHT_FD: a new region, its fd in the reply. */
static int
h_get_inflight_fd(struct vhu_dev *dev, struct vhu_msg *msg,
	struct vhu_reply *rep, const char **why)
{
	struct vhu_inflight_desc d = msg->p.inflight;
	int fd;

	if (vhu_infl_get(dev, &d, &fd, why) != 0)
		return -1;
	rep->p.inflight = d;
	rep->size = sizeof(d);
	rep->fd = fd;
	return 0;
}

/* SET_INFLIGHT_FD: the front-end's region (the fd stays the message's,
 * closed after the handler: the mapping keeps the file). */
static int
h_set_inflight_fd(struct vhu_dev *dev, struct vhu_msg *msg,
	struct vhu_reply *rep, const char **why)
{
	RTE_SET_USED(rep);
	return vhu_infl_set(dev, &msg->p.inflight, msg->fds[0], why);
}

/* The reply says whether the transfer started; how it went is
 * CHECK_DEVICE_STATE's. No fd of ours comes back: the front-end's end is
 * the one used. A refusal (bits 0-7 non-zero) is logged here, as the
 * front-end waits for this reply either way. */
static int
h_set_device_state_fd(struct vhu_dev *dev, struct vhu_msg *msg,
	struct vhu_reply *rep, const char **why)
{
	const char *err = NULL;

	RTE_SET_USED(why);
	rep->p.u64 = VHU_STATE_REPLY_NOFD;
	rep->size = sizeof(uint64_t);
	if (any_started(dev))
		err = "rings still run: the state moves only while every ring is stopped";
	if (err != NULL || vhu_state_set_fd(dev, msg->p.xfer.direction,
			msg->p.xfer.phase, msg->fds[0], &err) != 0) {
		VHU_LOG(ERR, dev, "request %u (SET_DEVICE_STATE_FD) rejected: %s",
			msg->request, err);
		rep->p.u64 |= 1;
		return 0;
	}
	msg->fds[0] = -1;
	return 0;
}

static int
h_check_device_state(struct vhu_dev *dev, struct vhu_msg *msg,
	struct vhu_reply *rep, const char **why)
{
	RTE_SET_USED(msg);
	RTE_SET_USED(why);
	rep->p.u64 = vhu_state_check(dev) == 0 ? 0 : 1;
	rep->size = sizeof(uint64_t);
	return 0;
}

#define U64 sizeof(uint64_t)
#define STATE sizeof(struct vhu_vring_state)
#define INFLIGHT sizeof(struct vhu_inflight_desc)

static const struct vhu_req reqs[VHU_REQ_MAX] = {
	[VHU_REQ_GET_FEATURES] = { "GET_FEATURES", h_get_features,
		SZ_EXACT, 0, 0, 0, -1, REPLY_OWN },
	[VHU_REQ_SET_FEATURES] = { "SET_FEATURES", h_set_features,
		SZ_EXACT, U64, 0, 0, -1, REPLY_NONE },
	[VHU_REQ_SET_OWNER] = { "SET_OWNER", h_set_owner,
		SZ_EXACT, 0, 0, 0, -1, REPLY_NONE },
	[VHU_REQ_RESET_OWNER] = { "RESET_OWNER", h_reset_owner,
		SZ_EXACT, 0, 0, 0, -1, REPLY_NONE },
	[VHU_REQ_SET_MEM_TABLE] = { "SET_MEM_TABLE", h_set_mem_table,
		SZ_MEMTABLE, 0, 1, VHU_MEMTABLE_MAX_REGIONS, -1, REPLY_NONE },
	[VHU_REQ_SET_LOG_BASE] = { "SET_LOG_BASE", h_set_log_base,
		SZ_EXACT, sizeof(struct vhu_log_desc), 1, 1,
		VHU_PROTO_F_LOG_SHMFD, REPLY_ALWAYS },
	[VHU_REQ_SET_LOG_FD] = { "SET_LOG_FD", h_set_log_fd,
		SZ_EXACT, 0, 1, 1, -1, REPLY_NONE },
	[VHU_REQ_SET_VRING_NUM] = { "SET_VRING_NUM", h_set_vring_num,
		SZ_EXACT, STATE, 0, 0, -1, REPLY_NONE },
	[VHU_REQ_SET_VRING_ADDR] = { "SET_VRING_ADDR", h_set_vring_addr,
		SZ_EXACT, sizeof(struct vhu_vring_addr), 0, 0, -1, REPLY_NONE },
	[VHU_REQ_SET_VRING_BASE] = { "SET_VRING_BASE", h_set_vring_base,
		SZ_EXACT, STATE, 0, 0, -1, REPLY_NONE },
	[VHU_REQ_GET_VRING_BASE] = { "GET_VRING_BASE", h_get_vring_base,
		SZ_EXACT, STATE, 0, 0, -1, REPLY_OWN },
	[VHU_REQ_SET_VRING_KICK] = { "SET_VRING_KICK", h_set_vring_kick,
		SZ_EXACT, U64, 0, 1, -1, REPLY_NONE },
	[VHU_REQ_SET_VRING_CALL] = { "SET_VRING_CALL", h_set_vring_call,
		SZ_EXACT, U64, 0, 1, -1, REPLY_NONE },
	[VHU_REQ_SET_VRING_ERR] = { "SET_VRING_ERR", h_set_vring_err,
		SZ_EXACT, U64, 0, 1, -1, REPLY_NONE },
	[VHU_REQ_GET_PROTOCOL_FEATURES] = { "GET_PROTOCOL_FEATURES",
		h_get_protocol_features, SZ_EXACT, 0, 0, 0, -1, REPLY_OWN },
	[VHU_REQ_SET_PROTOCOL_FEATURES] = { "SET_PROTOCOL_FEATURES",
		h_set_protocol_features, SZ_EXACT, U64, 0, 0, -1, REPLY_NONE },
	[VHU_REQ_GET_QUEUE_NUM] = { "GET_QUEUE_NUM", h_get_queue_num,
		SZ_EXACT, 0, 0, 0, -1, REPLY_OWN },
	[VHU_REQ_SET_VRING_ENABLE] = { "SET_VRING_ENABLE", h_set_vring_enable,
		SZ_EXACT, STATE, 0, 0, -1, REPLY_NONE },
	[VHU_REQ_SEND_RARP] = { "SEND_RARP", h_send_rarp,
		SZ_EXACT, U64, 0, 0, VHU_PROTO_F_RARP, REPLY_NONE },
	[VHU_REQ_NET_SET_MTU] = { "NET_SET_MTU", h_net_set_mtu,
		SZ_EXACT, U64, 0, 0, VHU_PROTO_F_MTU, REPLY_NONE },
	[VHU_REQ_SET_BACKEND_REQ_FD] = { "SET_BACKEND_REQ_FD", NULL,
		0, 0, 0, VHU_MAX_MSG_FDS, -1, REPLY_NONE },
	[VHU_REQ_IOTLB_MSG] = { "IOTLB_MSG", NULL,
		0, 0, 0, VHU_MAX_MSG_FDS, -1, REPLY_NONE },
	[VHU_REQ_SET_VRING_ENDIAN] = { "SET_VRING_ENDIAN", NULL,
		0, 0, 0, VHU_MAX_MSG_FDS, -1, REPLY_NONE },
	[VHU_REQ_GET_CONFIG] = { "GET_CONFIG", h_get_config,
		SZ_CONFIG, 0, 0, 0, VHU_PROTO_F_CONFIG, REPLY_OWN },
	[VHU_REQ_SET_CONFIG] = { "SET_CONFIG", h_set_config,
		SZ_CONFIG, 0, 0, 0, VHU_PROTO_F_CONFIG, REPLY_NONE },
	[VHU_REQ_CREATE_CRYPTO_SESSION] = { "CREATE_CRYPTO_SESSION", NULL,
		0, 0, 0, VHU_MAX_MSG_FDS, -1, REPLY_NONE },
	[VHU_REQ_CLOSE_CRYPTO_SESSION] = { "CLOSE_CRYPTO_SESSION", NULL,
		0, 0, 0, VHU_MAX_MSG_FDS, -1, REPLY_NONE },
	[VHU_REQ_POSTCOPY_ADVISE] = { "POSTCOPY_ADVISE", NULL,
		0, 0, 0, VHU_MAX_MSG_FDS, -1, REPLY_NONE },
	[VHU_REQ_POSTCOPY_LISTEN] = { "POSTCOPY_LISTEN", NULL,
		0, 0, 0, VHU_MAX_MSG_FDS, -1, REPLY_NONE },
	[VHU_REQ_POSTCOPY_END] = { "POSTCOPY_END", NULL,
		0, 0, 0, VHU_MAX_MSG_FDS, -1, REPLY_NONE },
	[VHU_REQ_GET_INFLIGHT_FD] = { "GET_INFLIGHT_FD", h_get_inflight_fd,
		SZ_EXACT, INFLIGHT, 0, 0, VHU_PROTO_F_INFLIGHT_SHMFD,
		REPLY_OWN },
	[VHU_REQ_SET_INFLIGHT_FD] = { "SET_INFLIGHT_FD", h_set_inflight_fd,
		SZ_EXACT, INFLIGHT, 1, 1, VHU_PROTO_F_INFLIGHT_SHMFD,
		REPLY_NONE },
	[VHU_REQ_GPU_SET_SOCKET] = { "GPU_SET_SOCKET", NULL,
		0, 0, 0, VHU_MAX_MSG_FDS, -1, REPLY_NONE },
	[VHU_REQ_RESET_DEVICE] = { "RESET_DEVICE", h_reset_device,
		SZ_EXACT, 0, 0, 0, VHU_PROTO_F_RESET_DEVICE, REPLY_NONE },
	[VHU_REQ_VRING_KICK] = { "VRING_KICK", NULL,
		0, 0, 0, VHU_MAX_MSG_FDS, -1, REPLY_NONE },
	[VHU_REQ_GET_MAX_MEM_SLOTS] = { "GET_MAX_MEM_SLOTS",
		h_get_max_mem_slots, SZ_EXACT, 0, 0, 0, -1, REPLY_OWN },
	[VHU_REQ_ADD_MEM_REG] = { "ADD_MEM_REG", h_add_mem_reg,
		SZ_EXACT, sizeof(struct vhu_mem_reg_desc), 1, 1,
		VHU_PROTO_F_CONFIGURE_MEM_SLOTS, REPLY_NONE },
	/* The specification tolerates one (ignored) fd with REM_MEM_REG. */
	[VHU_REQ_REM_MEM_REG] = { "REM_MEM_REG", h_rem_mem_reg,
		SZ_EXACT, sizeof(struct vhu_mem_reg_desc), 0, 1,
		VHU_PROTO_F_CONFIGURE_MEM_SLOTS, REPLY_NONE },
	[VHU_REQ_SET_STATUS] = { "SET_STATUS", h_set_status,
		SZ_EXACT, U64, 0, 0, VHU_PROTO_F_STATUS, REPLY_NONE },
	[VHU_REQ_GET_STATUS] = { "GET_STATUS", h_get_status,
		SZ_EXACT, 0, 0, 0, VHU_PROTO_F_STATUS, REPLY_OWN },
	[VHU_REQ_GET_SHARED_OBJECT] = { "GET_SHARED_OBJECT", NULL,
		0, 0, 0, VHU_MAX_MSG_FDS, -1, REPLY_NONE },
	[VHU_REQ_SET_DEVICE_STATE_FD] = { "SET_DEVICE_STATE_FD",
		h_set_device_state_fd, SZ_EXACT,
		sizeof(struct vhu_state_xfer_desc), 1, 1,
		VHU_PROTO_F_DEVICE_STATE, REPLY_ALWAYS },
	[VHU_REQ_CHECK_DEVICE_STATE] = { "CHECK_DEVICE_STATE",
		h_check_device_state, SZ_EXACT, 0, 0, 0,
		VHU_PROTO_F_DEVICE_STATE, REPLY_ALWAYS },
};

/* ---- a second front-end (a migration's destination) ---- */

/* Its call and error fds and its ring enable flags come again with its
 * start sequence (QEMU's vhost_net_start() sends SET_VRING_ENABLE again
 * after the rings started); the rings are the first front-end's until
 * then. */
static int
h_standby_ignore(struct vhu_dev *dev, struct vhu_msg *msg,
	struct vhu_reply *rep, const char **why)
{
	RTE_SET_USED(dev);
	RTE_SET_USED(msg);
	RTE_SET_USED(rep);
	RTE_SET_USED(why);
	return 0;
}

static vhu_handler_t
standby_handler(const struct vhu_req *r)
{
	if (r == &reqs[VHU_REQ_SET_VRING_CALL] ||
			r == &reqs[VHU_REQ_SET_VRING_ERR] ||
			r == &reqs[VHU_REQ_SET_VRING_ENABLE])
		return h_standby_ignore;
	return r->fn;
}

/*
 * Look at (without taking) the second front-end's next request. QEMU
 * sends these while its netdev connects, long before its VM runs: they
 * read what this back-end offers, set the second front-end's own
 * protocol features and owner flag, or are sent again at its start
 * (call and error fds; the ring enable of virtio-net's peer_attach()).
 * Anything else (SET_FEATURES first, at a migration's destination once
 * the source's final state arrived) starts its device.
 */
enum vhu_standby_next
vhu_msg_standby_next(struct vhu_dev *dev)
{
	uint32_t hdr[3];
	ssize_t n;

	n = recv(dev->standby.fd, hdr, sizeof(hdr), MSG_PEEK | MSG_DONTWAIT);
	if (n < 0)
		return (errno == EAGAIN || errno == EINTR) ?
			VHU_STANDBY_PARTIAL : VHU_STANDBY_GONE;
	if (n == 0)
		return VHU_STANDBY_GONE;
	if ((size_t)n < sizeof(hdr))
		return VHU_STANDBY_PARTIAL;
	switch (hdr[0]) {
	case VHU_REQ_GET_FEATURES:
	case VHU_REQ_GET_PROTOCOL_FEATURES:
	case VHU_REQ_SET_PROTOCOL_FEATURES:
	case VHU_REQ_GET_QUEUE_NUM:
	case VHU_REQ_GET_MAX_MEM_SLOTS:
	case VHU_REQ_SET_OWNER:
	case VHU_REQ_SET_VRING_CALL:
	case VHU_REQ_SET_VRING_ERR:
	case VHU_REQ_SET_VRING_ENABLE:
		return VHU_STANDBY_HANDLE;
	default:
		return VHU_STANDBY_START;
	}
}

static const char *const proto_names[] = {
	[VHU_PROTO_F_LOG_SHMFD] = "LOG_SHMFD",
	[VHU_PROTO_F_RARP] = "RARP",
	[VHU_PROTO_F_MTU] = "MTU",
	[VHU_PROTO_F_CONFIG] = "CONFIG",
	[VHU_PROTO_F_INFLIGHT_SHMFD] = "INFLIGHT_SHMFD",
	[VHU_PROTO_F_RESET_DEVICE] = "RESET_DEVICE",
	[VHU_PROTO_F_CONFIGURE_MEM_SLOTS] = "CONFIGURE_MEM_SLOTS",
	[VHU_PROTO_F_STATUS] = "STATUS",
	[VHU_PROTO_F_DEVICE_STATE] = "DEVICE_STATE",
};

/* Schema check; nothing in the device changes here. */
static const char *
validate(const struct vhu_dev *dev, const struct vhu_msg *msg,
	const struct vhu_req *r, char *buf, size_t len)
{
	if ((msg->flags & VHU_FLAG_VERSION_MASK) != VHU_FLAG_VERSION)
		return "protocol version in flags is not 1";
	if (msg->flags & VHU_FLAG_REPLY)
		return "REPLY flag set on a request";
	if (msg->fds_truncated)
		return "more than 8 fds attached";
	if (r->szkind == SZ_EXACT && msg->size != r->size) {
		snprintf(buf, len, "payload is %u bytes, request takes %u",
			msg->size, r->size);
		return buf;
	}
	if (r->szkind == SZ_CONFIG &&
			(msg->size < VHU_CONFIG_HDR_SIZE ||
			 msg->size > VHU_CONFIG_HDR_SIZE + VHU_CONFIG_MAX ||
			 msg->p.config.size != msg->size - VHU_CONFIG_HDR_SIZE))
		return "config payload size disagrees with its size field";
	if (r->szkind == SZ_MEMTABLE) {
		uint32_t n;

		if (msg->size < VHU_MEMTABLE_HDR_SIZE ||
				(msg->size - VHU_MEMTABLE_HDR_SIZE) %
				sizeof(struct vhu_mem_region_desc) != 0)
			return "payload size is not a whole number of regions";
		n = (msg->size - VHU_MEMTABLE_HDR_SIZE) /
			sizeof(struct vhu_mem_region_desc);
		if (n == 0 || n > VHU_MEMTABLE_MAX_REGIONS ||
				msg->p.mem.nregions != n)
			return "nregions is 0, above 8, or disagrees with the payload size";
		if (msg->nfds != n)
			return "one fd per region expected";
	}
	if (msg->nfds < r->min_fds || msg->nfds > r->max_fds) {
		snprintf(buf, len, "%u fd(s) attached, request takes %u to %u",
			msg->nfds, r->min_fds, r->max_fds);
		return buf;
	}
	if (r->proto >= 0 && !proto_has(dev, (unsigned int)r->proto)) {
		snprintf(buf, len, "protocol feature %s not negotiated",
			(size_t)r->proto < RTE_DIM(proto_names) &&
			proto_names[r->proto] != NULL ?
			proto_names[r->proto] : "?");
		return buf;
	}
	return NULL;
}

static void
log_reject(struct vhu_dev *dev, const struct vhu_msg *msg, const char *name,
	const char *why)
{
	if (msg->request == VHU_REQ_SET_MEM_TABLE)
		snprintf(dev->memtab_why, sizeof(dev->memtab_why), "%s", why);
	VHU_LOG(ERR, dev, "request %u (%s) rejected: %s", msg->request,
		name, why);
}

int
vhu_msg_process(struct vhu_dev *dev)
{
	static const struct vhu_req unknown = { "unknown", NULL, 0, 0, 0,
		VHU_MAX_MSG_FDS, -1, REPLY_NONE };
	struct vhu_msg msg;
	struct vhu_reply rep;
	const struct vhu_req *r;
	const char *why = NULL;
	char whybuf[96];
	uint32_t hdr[3];
	ssize_t n;
	int rc = 0, ok;

	memset(&msg, 0, sizeof(msg));
	n = recv_some(dev->connfd, hdr, sizeof(hdr), &msg);
	if (n == -EAGAIN || n == -EINTR)
		return 0;
	if (n <= 0)
		return -1;
	if ((size_t)n < sizeof(hdr) &&
			read_full(dev, &msg, (uint8_t *)hdr + n,
				sizeof(hdr) - (size_t)n) != 0) {
		close_msg_fds(&msg);
		return -1;
	}
	msg.request = hdr[0];
	msg.flags = hdr[1];
	msg.size = hdr[2];
	r = msg.request < VHU_REQ_MAX && reqs[msg.request].name != NULL ?
		&reqs[msg.request] : &unknown;

	if (msg.size > VHU_MSG_MAX_PAYLOAD) {
		uint8_t sink[256];
		uint32_t left = msg.size;

		if (msg.size > VHU_MSG_SKIP_MAX) {
			VHU_LOG(ERR, dev, "request %u announces %u payload bytes: closing the connection",
				msg.request, msg.size);
			close_msg_fds(&msg);
			return -1;
		}
		while (left > 0) {
			uint32_t c = RTE_MIN(left, (uint32_t)sizeof(sink));

			if (read_full(dev, &msg, sink, c) != 0) {
				close_msg_fds(&msg);
				return -1;
			}
			left -= c;
		}
		why = "payload larger than any request allows";
		goto reject;
	}
	if (msg.size > 0 && read_full(dev, &msg, msg.p.raw, msg.size) != 0) {
		close_msg_fds(&msg);
		return -1;
	}

	VHU_LOG(DEBUG, dev, "request %u (%s) flags %#x size %u fds %u",
		msg.request, r->name, msg.flags, msg.size, msg.nfds);
	if (r->fn == NULL) {
		why = r == &unknown ? "unknown request" :
			"request not supported by this back-end";
		goto reject;
	}
	why = validate(dev, &msg, r, whybuf, sizeof(whybuf));
	if (why != NULL)
		goto reject;

	memset(&rep, 0, sizeof(rep));
	rep.fd = -1;
	ok = (dev->in_standby ? standby_handler(r) : r->fn)(dev, &msg, &rep,
		&why) == 0;
	if (!ok) {
		if (why == NULL)
			why = "failed";
		goto reject;
	}
	/* Unused fds are closed before the reply, so a front-end that
	 * counts its fds after the reply sees them gone. */
	close_msg_fds(&msg);
	if (r->reply != REPLY_NONE)
		rc = send_msg_fd(dev, msg.request, &rep.p, rep.size, rep.fd);
	else if ((msg.flags & VHU_FLAG_NEED_REPLY) &&
			proto_has(dev, VHU_PROTO_F_REPLY_ACK))
		rc = send_u64(dev, msg.request, 0);
	if (rep.fd >= 0)
		close(rep.fd);
	vhu_update_events(dev);
	return rc;

reject:
	log_reject(dev, &msg, r->name, why);
	close_msg_fds(&msg);
	/* SET_LOG_BASE replies only when LOG_SHMFD was negotiated: a
	 * front-end without it reads no reply. */
	if (r->reply == REPLY_ALWAYS &&
			(r->proto < 0 || proto_has(dev, (unsigned int)r->proto)))
		rc = send_u64(dev, msg.request, 1);
	else if (r->reply == REPLY_NONE &&
			(msg.flags & VHU_FLAG_NEED_REPLY) &&
			proto_has(dev, VHU_PROTO_F_REPLY_ACK))
		rc = send_u64(dev, msg.request, 1);
	vhu_update_events(dev);
	return rc;
}
