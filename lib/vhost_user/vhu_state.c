/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device state transfer (VHOST_USER_PROTOCOL_F_DEVICE_STATE):
 * SET_DEVICE_STATE_FD hands the back-end one end of a pipe (or anything
 * that reads and writes like one); the back-end writes its state into it
 * (save, the migration's source) or reads it until end of file (load, the
 * destination); CHECK_DEVICE_STATE asks how that went.
 *
 * The transfer never blocks the control thread: the fd is made
 * non-blocking, sits in the control loop's poll set, and each step moves
 * what the pipe takes or holds now; a peer that reads or writes slowly
 * only makes the transfer slower. The state is small and bounded
 * (VHU_STATE_MAX_SIZE); a load reads at most one byte more than that.
 * A loaded state is checked whole (every field, vhu_proto.h) before
 * anything of the device changes: a bad one is a failure CHECK reports,
 * and the device stays as it was. What it restores (ring indices) is
 * applied when each ring starts (vhu_state_restore_vq()).
 */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vhu_internal.h"

static_assert(VHU_STATE_MAX_SIZE == sizeof(struct vhu_state_hdr) +
	2u * VHU_MAX_QUEUE_PAIRS * sizeof(struct vhu_state_vq),
	"VHU_STATE_MAX_SIZE follows VHU_MAX_QUEUE_PAIRS");
static_assert(sizeof(struct vhu_state_hdr) == 48, "state header layout");
static_assert(sizeof(struct vhu_state_vq) == 8, "state record layout");

enum xfer_phase {
	XFER_IDLE,		/* nothing to report */
	XFER_RUNNING,
	XFER_DONE,
	XFER_FAILED,
};

/* A ring's indices from a loaded state, for its next start. */
struct restore_vq {
	bool valid;
	bool packed;
	bool avail_wrap;
	bool used_wrap;
	uint16_t last_avail;
	uint16_t last_used;
};

struct vhu_xfer {
	enum xfer_phase phase;
	uint32_t dir;
	int fd;
	uint32_t len;		/* save: bytes to write; load: bytes read */
	uint32_t off;		/* save: bytes written */
	char why[128];		/* XFER_FAILED: the reason */
	uint8_t buf[VHU_STATE_MAX_SIZE + 1];
	struct restore_vq rvq[2 * VHU_MAX_QUEUE_PAIRS];
};

static void
xfer_close(struct vhu_xfer *x)
{
	vhu_close_fd(&x->fd);
}

static void
xfer_fail(struct vhu_dev *dev, struct vhu_xfer *x, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
xfer_fail(struct vhu_dev *dev, struct vhu_xfer *x, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(x->why, sizeof(x->why), fmt, ap);
	va_end(ap);
	xfer_close(x);
	x->phase = XFER_FAILED;
	VHU_LOG(ERR, dev, "device state %s failed: %s",
		x->dir == VHU_STATE_DIR_SAVE ? "save" : "load", x->why);
}

/* ---- the format ---- */

static void
save_vq(const struct vhu_dev *dev, const struct vhu_vq *vq,
	struct vhu_state_vq *r)
{
	memset(r, 0, sizeof(*r));
	if (vq->num == 0)
		return;
	r->num = (uint16_t)vq->num;	/* 32768 fits */
	r->last_avail = vq->last_avail;
	r->last_used = vq->last_used;
	if (dev->features & (1ull << VHU_F_RING_PACKED))
		r->flags = VHU_STATE_VQ_PACKED |
			(vq->avail_wrap ? VHU_STATE_VQ_AVAIL_WRAP : 0) |
			(vq->used_wrap ? VHU_STATE_VQ_USED_WRAP : 0);
}

static uint32_t
state_build(const struct vhu_dev *dev, uint8_t *buf)
{
	struct vhu_state_hdr h;
	uint16_t i;

	memset(&h, 0, sizeof(h));
	h.magic = VHU_STATE_MAGIC;
	h.version = VHU_STATE_VERSION;
	h.hdr_size = sizeof(h);
	h.nr_vq = dev->nr_vq;
	h.vq_size = sizeof(struct vhu_state_vq);
	h.total_size = sizeof(h) + dev->nr_vq * sizeof(struct vhu_state_vq);
	h.features = dev->features;
	h.proto_features = dev->proto_features;
	memcpy(h.mac, dev->config_mac, sizeof(h.mac));
	h.mtu = dev->cfg.mtu;
	memcpy(buf, &h, sizeof(h));
	for (i = 0; i < dev->nr_vq; i++) {
		struct vhu_state_vq r;

		save_vq(dev, &dev->vqs[i], &r);
		memcpy(buf + sizeof(h) + i * sizeof(r), &r, sizeof(r));
	}
	return h.total_size;
}

static bool
all_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/* One record: a ring this device can take over, or none. */
static const char *
vq_check(const struct vhu_state_vq *r, bool packed, struct restore_vq *out)
{
	const uint8_t known = VHU_STATE_VQ_AVAIL_WRAP | VHU_STATE_VQ_USED_WRAP |
		VHU_STATE_VQ_PACKED;

	memset(out, 0, sizeof(*out));
	if (r->reserved != 0 || (r->flags & ~known))
		return "unknown flags or reserved bits set";
	if (r->num == 0)
		return r->last_avail == 0 && r->last_used == 0 &&
			r->flags == 0 ? NULL : "indices for a ring never set up";
	if ((r->num & (r->num - 1)) != 0)
		return "ring size not a power of 2";
	if (!!(r->flags & VHU_STATE_VQ_PACKED) != packed)
		return "ring layout disagrees with the negotiated features";
	if (packed) {
		if (r->last_avail >= r->num || r->last_used >= r->num)
			return "packed ring position outside the ring";
	} else {
		if (r->flags != 0)
			return "wrap counters on a split ring";
		if ((uint16_t)(r->last_avail - r->last_used) > r->num)
			return "used index more than a ring behind the avail index";
	}
	out->valid = true;
	out->packed = packed;
	out->avail_wrap = !!(r->flags & VHU_STATE_VQ_AVAIL_WRAP);
	out->used_wrap = !!(r->flags & VHU_STATE_VQ_USED_WRAP);
	out->last_avail = r->last_avail;
	out->last_used = r->last_used;
	return NULL;
}

/*
 * Check @p len bytes of state against what this device is and offers
 * (snprintf into @p why, returns -1), filling @p rvq only when the whole
 * state is good.
 */
static int
state_check(const struct vhu_dev *dev, const uint8_t *buf, uint32_t len,
	struct restore_vq *rvq, char *why, size_t why_len)
{
	struct restore_vq tmp[2 * VHU_MAX_QUEUE_PAIRS];
	struct vhu_state_hdr h;
	bool packed;
	uint16_t i;

	if (len < sizeof(h)) {
		snprintf(why, why_len, "%u bytes: shorter than the %zu-byte header",
			len, sizeof(h));
		return -1;
	}
	memcpy(&h, buf, sizeof(h));
	if (h.magic != VHU_STATE_MAGIC) {
		snprintf(why, why_len, "not a vmlink device state (magic %#x)",
			h.magic);
		return -1;
	}
	if (h.version != VHU_STATE_VERSION || h.hdr_size != sizeof(h) ||
			h.vq_size != sizeof(struct vhu_state_vq)) {
		snprintf(why, why_len, "version %u (header %u, record %u bytes): this back-end reads version %u",
			h.version, h.hdr_size, h.vq_size, VHU_STATE_VERSION);
		return -1;
	}
	if (h.nr_vq == 0 || (h.nr_vq & 1) ||
			h.nr_vq > 2 * VHU_MAX_QUEUE_PAIRS ||
			h.total_size != sizeof(h) +
				(uint32_t)h.nr_vq * sizeof(struct vhu_state_vq) ||
			h.total_size != len) {
		snprintf(why, why_len, "%u bytes, %u virtqueues, total size field %u: sizes disagree",
			len, h.nr_vq, h.total_size);
		return -1;
	}
	if (h.nr_vq > dev->nr_vq) {
		snprintf(why, why_len, "the guest was given %u queue pairs, this device has %u",
			h.nr_vq / 2, dev->nr_qp);
		return -1;
	}
	if (h.features & ~dev->offered_features) {
		snprintf(why, why_len, "features %#" PRIx64 " negotiated at the source are not offered here",
			h.features & ~dev->offered_features);
		return -1;
	}
	if (h.proto_features & ~dev->proto_offered) {
		snprintf(why, why_len, "protocol features %#" PRIx64 " negotiated at the source are not offered here",
			h.proto_features & ~dev->proto_offered);
		return -1;
	}
	if ((h.features & (1ull << VHU_F_NET_MTU)) && h.mtu != dev->cfg.mtu) {
		snprintf(why, why_len, "the guest uses MTU %u, this port offers %u",
			h.mtu, dev->cfg.mtu);
		return -1;
	}
	if (!all_zero(h.reserved, sizeof(h.reserved))) {
		snprintf(why, why_len, "reserved header bytes set");
		return -1;
	}
	packed = !!(h.features & (1ull << VHU_F_RING_PACKED));
	memset(tmp, 0, sizeof(tmp));
	for (i = 0; i < h.nr_vq; i++) {
		struct vhu_state_vq r;
		const char *bad;

		memcpy(&r, buf + sizeof(h) + i * sizeof(r), sizeof(r));
		bad = vq_check(&r, packed, &tmp[i]);
		if (bad != NULL) {
			snprintf(why, why_len, "queue %u: %s", i, bad);
			return -1;
		}
	}
	memcpy(rvq, tmp, sizeof(tmp));
	return 0;
}

/* A state that passed state_check(): the config MAC now, the rings' indices
 * when they start. */
static void
state_apply(struct vhu_dev *dev, struct vhu_xfer *x)
{
	struct vhu_state_hdr h;

	memcpy(&h, x->buf, sizeof(h));
	memcpy(dev->config_mac, h.mac, sizeof(dev->config_mac));
	VHU_LOG(INFO, dev, "device state loaded: %u queue pair(s), features %#" PRIx64 ", MAC %02x:%02x:%02x:%02x:%02x:%02x",
		h.nr_vq / 2, h.features, h.mac[0], h.mac[1], h.mac[2],
		h.mac[3], h.mac[4], h.mac[5]);
}

/* ---- moving the bytes ---- */

/* A write that turns the peer's closed end into EPIPE instead of a
 * process-wide SIGPIPE: blocked for this thread around the call, and a
 * SIGPIPE it raised is taken back. */
static ssize_t
write_nosigpipe(int fd, const void *buf, size_t len)
{
	const struct timespec zero = { 0, 0 };
	sigset_t pipe_set, old, pending;
	bool was_pending;
	ssize_t n;
	int err;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE) == 1;
	n = write(fd, buf, len);
	err = errno;
	if (n < 0 && err == EPIPE && !was_pending)
		(void)sigtimedwait(&pipe_set, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = err;
	return n;
}

static void
save_step(struct vhu_dev *dev, struct vhu_xfer *x)
{
	while (x->off < x->len) {
		ssize_t n = write_nosigpipe(x->fd, x->buf + x->off,
			x->len - x->off);

		if (n > 0) {
			x->off += (uint32_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		xfer_fail(dev, x, "writing after %u of %u bytes: %s", x->off,
			x->len, n < 0 ? strerror(errno) : "nothing written");
		return;
	}
	xfer_close(x);	/* end of the state for the reader */
	x->phase = XFER_DONE;
	VHU_LOG(INFO, dev, "device state saved: %u bytes", x->len);
}

static void
load_step(struct vhu_dev *dev, struct vhu_xfer *x)
{
	for (;;) {
		ssize_t n = read(x->fd, x->buf + x->len,
			sizeof(x->buf) - x->len);

		if (n > 0) {
			x->len += (uint32_t)n;
			if (x->len > VHU_STATE_MAX_SIZE) {
				xfer_fail(dev, x, "more than %zu bytes: larger than any state",
					(size_t)VHU_STATE_MAX_SIZE);
				return;
			}
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0) {
			xfer_fail(dev, x, "reading after %u bytes: %s", x->len,
				strerror(errno));
			return;
		}
		break;	/* end of file: the whole state is here */
	}
	xfer_close(x);
	if (state_check(dev, x->buf, x->len, x->rvq, x->why,
			sizeof(x->why)) != 0) {
		memset(x->rvq, 0, sizeof(x->rvq));
		x->phase = XFER_FAILED;
		VHU_LOG(ERR, dev, "device state load failed: %s", x->why);
		return;
	}
	state_apply(dev, x);
	x->phase = XFER_DONE;
}

/* ---- from the control thread ---- */

int
vhu_state_set_fd(struct vhu_dev *dev, uint32_t dir, uint32_t phase, int fd,
	const char **why)
{
	struct vhu_xfer *x = dev->xfer;
	int fl;

	if (dir != VHU_STATE_DIR_SAVE && dir != VHU_STATE_DIR_LOAD) {
		*why = "unknown transfer direction";
		return -1;
	}
	if (phase != VHU_STATE_PHASE_STOPPED) {
		*why = "unknown migration phase (only STOPPED is)";
		return -1;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
		*why = "the transfer fd cannot be made non-blocking";
		return -1;
	}
	if (x == NULL) {
		x = calloc(1, sizeof(*x));
		if (x == NULL) {
			*why = "out of memory";
			return -1;
		}
		x->fd = -1;
		dev->xfer = x;
	}
	if (x->phase == XFER_RUNNING)
		VHU_LOG(WARNING, dev, "device state transfer replaced by a new one before it ended");
	xfer_close(x);
	/* A new transfer starts from nothing: a state loaded before and
	 * not used yet goes with a new load or a save. */
	memset(x->rvq, 0, sizeof(x->rvq));
	x->dir = dir;
	x->fd = fd;
	x->off = 0;
	x->why[0] = '\0';
	x->len = dir == VHU_STATE_DIR_SAVE ? state_build(dev, x->buf) : 0;
	x->phase = XFER_RUNNING;
	if (dir == VHU_STATE_DIR_SAVE && state_check(dev, x->buf, x->len,
			x->rvq, x->why, sizeof(x->why)) != 0) {
		/* The source's own state, checked as a destination would:
		 * a front-end's odd ring setup fails here, not over there. */
		memset(x->rvq, 0, sizeof(x->rvq));
		xfer_fail(dev, x, "%s", x->why);
		return 0;
	}
	memset(x->rvq, 0, sizeof(x->rvq));
	VHU_LOG(INFO, dev, "device state %s started",
		dir == VHU_STATE_DIR_SAVE ? "save" : "load");
	return 0;
}

int
vhu_state_check(struct vhu_dev *dev)
{
	struct vhu_xfer *x = dev->xfer;
	enum xfer_phase ph;

	if (x == NULL || x->phase == XFER_IDLE) {
		VHU_LOG(ERR, dev, "CHECK_DEVICE_STATE without a state transfer");
		return 1;
	}
	/* A load whose writer closed its end may not have been read to the
	 * end yet (the message came first): what is in the pipe is there. */
	if (x->phase == XFER_RUNNING)
		vhu_state_step(dev, x->fd);
	if (x->phase == XFER_RUNNING)
		xfer_fail(dev, x, x->dir == VHU_STATE_DIR_SAVE ?
			"checked before the front-end read the whole state (%u of %u bytes)" :
			"checked before the front-end closed its end (%u bytes so far)",
			x->dir == VHU_STATE_DIR_SAVE ? x->off : x->len, x->len);
	ph = x->phase;
	x->phase = XFER_IDLE;	/* one answer per transfer */
	return ph == XFER_DONE ? 0 : 1;
}

int
vhu_state_pollfd(const struct vhu_dev *dev, short *events)
{
	const struct vhu_xfer *x = dev->xfer;

	if (x == NULL || x->phase != XFER_RUNNING || x->fd < 0)
		return -1;
	*events = x->dir == VHU_STATE_DIR_SAVE ? POLLOUT : POLLIN;
	return x->fd;
}

void
vhu_state_step(struct vhu_dev *dev, int fd)
{
	struct vhu_xfer *x = dev->xfer;

	if (x == NULL || x->phase != XFER_RUNNING || x->fd != fd || fd < 0)
		return;	/* ended or replaced since the poll */
	if (x->dir == VHU_STATE_DIR_SAVE)
		save_step(dev, x);
	else
		load_step(dev, x);
}

/*
 * A ring starts: the indices a loaded state has for it, if the
 * front-end's base agrees with them (the avail side is the front-end's
 * to say; the used side is what only the back-end knows: a split ring's
 * used index behind its avail index by chains the source never returned,
 * a packed ring's used position, which DPDK's virtio-user does not send).
 * Used once.
 */
void
vhu_state_restore_vq(struct vhu_dev *dev, struct vhu_vq *vq)
{
	struct restore_vq *r;

	if (dev->xfer == NULL || !dev->xfer->rvq[vq->index].valid)
		return;
	r = &dev->xfer->rvq[vq->index];
	r->valid = false;
	if (r->packed != vq->packed ||
			r->last_avail != vq->last_avail ||
			(r->packed && r->avail_wrap != vq->avail_wrap)) {
		VHU_LOG(WARNING, dev, "queue %u: the front-end's base (avail %u) is not the device state's (%u%s): the front-end's stands",
			vq->index, vq->last_avail, r->last_avail,
			r->packed != vq->packed ? ", other ring layout" : "");
		return;
	}
	if (vq->last_used != r->last_used || vq->used_wrap != r->used_wrap)
		VHU_LOG(INFO, dev, "queue %u: used index %u from the device state (the front-end's base said %u)",
			vq->index, r->last_used, vq->last_used);
	vq->last_used = r->last_used;
	if (r->packed)
		vq->used_wrap = r->used_wrap;
}

/* Session or device reset: a transfer in progress ends (its fd closed),
 * and what a load would restore is forgotten. */
void
vhu_state_forget(struct vhu_dev *dev)
{
	struct vhu_xfer *x = dev->xfer;

	if (x == NULL)
		return;
	xfer_close(x);
	x->phase = XFER_IDLE;
	memset(x->rvq, 0, sizeof(x->rvq));
}

void
vhu_state_free(struct vhu_dev *dev)
{
	vhu_state_forget(dev);
	free(dev->xfer);
	dev->xfer = NULL;
}
