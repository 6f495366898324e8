/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * Fuzz target 'vhu_msg': vhost-user message sequences against the
 * back-end library (lib/vhost_user), through its real socket and control
 * thread, from the test front-end (tests/vhost_user/fe.c).
 *
 * The input is a list of operations: any request with any flags, payload
 * and size, with up to 10 fds of any kind attached (memfds of any size for
 * SET_MEM_TABLE / ADD_MEM_REG / SET_LOG_BASE, eventfds, pipes, sockets,
 * directories); structured memory tables and log bases built from the
 * input; a complete well-formed handshake (rings up); device lifecycle
 * requests with fields from the input (SET_STATUS, GET_STATUS,
 * RESET_DEVICE, GET_CONFIG and SET_CONFIG windows whose size field may
 * disagree with the payload, replies drained; REM_MEM_REG of the last
 * region added, in the middle of traffic and held zero-copy buffers);
 * GET_INFLIGHT_FD and SET_INFLIGHT_FD with sizes from the input, the
 * latter with an fd of any kind whose file (a memfd) holds entries from
 * the input, and handshakes that set an in-flight region up before the
 * rings start (so restarts resubmit what the input left marked); device
 * state transfers (SET_DEVICE_STATE_FD with a pipe end either way or an fd
 * of another kind, directions and phases mostly valid; loads of states
 * built from the session or saved before, damaged as the input says; the
 * harness's end read, written, closed early or late; CHECK_DEVICE_STATE at
 * any point); the application suspending and resuming the device between
 * bursts; guest TX frames and RX buffers; data-path bursts interleaved
 * with all of it (zero-copy mbufs held and freed late); disconnect and
 * reconnect; the front-end shrinking a memory file under the back-end's
 * mapping (the library must contain the fault: the harness itself touches
 * that memory no more). Messages in a row go out back to back; before
 * anything else (data path, guest memory, library calls, the end) the
 * harness waits until the control thread has handled them all.
 *
 * Checks: no crash, hang or sanitizer report; dequeued frames within
 * limits; no burst moves a frame while the device is suspended; a saved
 * state no larger than VHU_STATE_MAX_SIZE; at the end (held mbufs freed,
 * session ended, device awake) every mbuf back in the pool, no fd and no
 * guest-memory or log mapping left.
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_vhu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static bool ready;	/* fe_start succeeded on this connection */
static bool shrunk;	/* guest memory truncated: the guest touches it no more */
static struct vhu_mem_reg_desc last_add;	/* for REM_MEM_REG */

/* Device state transfer: the harness's end of the pipe it gave the
 * back-end (the read end of a save, the write end of a load; -1 when
 * none), and the bytes the last save wrote, for loads to start from. */
static int state_peer = -1;
static bool state_peer_writes;
static uint8_t saved[VHU_STATE_MAX_SIZE + 1];
static uint32_t nsaved, nread;

static void
send_raw(struct fzv *v, struct fz *f)
{
	uint8_t payload[600];
	uint32_t req = fz_u8(f), flags = fz_u8(f), size;
	uint8_t nf = fz_u8(f);
	int fds[10];
	unsigned int nfds = nf % 11, i, k = 0;

	if (req & 0x80)
		req = fz_u32(f);	/* anything, not only known requests */
	else
		req %= VHU_REQ_MAX + 1;
	if (!(flags & 0x80))
		flags = VHU_FLAG_VERSION | (flags & VHU_FLAG_NEED_REPLY);
	size = fz_u16(f) % sizeof(payload);
	fz_bytes(f, payload, size);
	for (i = 0; i < nfds; i++) {
		uint8_t kind = fz_u8(f);
		int fd = fzv_make_fd(kind, 4096ull * (fz_u8(f) % 1100));

		if (fd >= 0)
			fds[k++] = fd;
	}
	if (v->connected)
		(void)fe_send(&v->fe, req, flags, payload, size, fds, k);
	for (i = 0; i < k; i++)
		close(fds[i]);
	fzv_sent(v);
}

/* SET_MEM_TABLE or ADD_MEM_REG with regions and fds from the input: the
 * fd may be smaller than the region, the qva anything. */
static void
send_memory(struct fzv *v, struct fz *f, bool add)
{
	struct vhu_mem_table_desc t;
	struct vhu_mem_reg_desc r;
	int fds[VHU_MEMTABLE_MAX_REGIONS];
	unsigned int n = add ? 1 : fz_u8(f) % (VHU_MEMTABLE_MAX_REGIONS + 1);
	unsigned int i;

	memset(&t, 0, sizeof(t));
	t.nregions = n;
	for (i = 0; i < n; i++) {
		struct vhu_mem_region_desc *d = &t.regions[i];
		uint64_t pages = fz_u8(f) % 64 + 1;
		uint8_t how = fz_u8(f);

		d->gpa = (uint64_t)fz_u16(f) << 12;
		d->size = pages << 12;
		d->qva = (how & 1) ? fz_u64(f) : d->gpa + 0x10000000000ull;
		d->mmap_offset = (how & 2) ? fz_u32(f) : 0;
		if (how & 4)
			d->size = fz_u64(f);
		fds[i] = fzv_make_fd((how & 8) ? fz_u8(f) : 0,
			(how & 16) ? (pages << 12) / 2 : pages << 12);
	}
	if (v->connected) {
		if (add) {
			memset(&r, 0, sizeof(r));
			r.region = t.regions[0];
			last_add = r;
			(void)fe_send(&v->fe, VHU_REQ_ADD_MEM_REG,
				VHU_FLAG_VERSION, &r, sizeof(r), fds,
				fds[0] >= 0);
		} else {
			(void)fe_send(&v->fe, VHU_REQ_SET_MEM_TABLE,
				VHU_FLAG_VERSION, &t, VHU_MEMTABLE_HDR_SIZE +
				n * sizeof(t.regions[0]), fds, n);
		}
	}
	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	fzv_sent(v);
}

static void
send_log_base(struct fzv *v, struct fz *f)
{
	struct vhu_log_desc ld;
	uint8_t how = fz_u8(f);
	int fd;

	ld.mmap_size = (how & 1) ? fz_u64(f) : 64ull << (how % 8);
	ld.mmap_offset = (how & 2) ? fz_u64(f) : 0;
	fd = fzv_make_fd((how & 4) ? fz_u8(f) : 0, 4096ull * (how % 4));
	if (v->connected)
		(void)fe_send(&v->fe, VHU_REQ_SET_LOG_BASE, VHU_FLAG_VERSION,
			&ld, sizeof(ld), &fd, fd >= 0);
	if (fd >= 0)
		close(fd);
	fzv_sent(v);
}

/* GET_INFLIGHT_FD (the reply, with its fd, is drained by the sync) or
 * SET_INFLIGHT_FD: sizes near the usual ones or anything, an fd of any
 * kind; a memfd gets in-flight entries and header bytes from the input. */
static void
inflight(struct fzv *v, struct fz *f, uint32_t flags)
{
	struct vhu_inflight_desc d;
	uint8_t how = fz_u8(f);
	unsigned int i, n;
	int fd;

	memset(&d, 0, sizeof(d));
	d.num_queues = (how & 1) ? fz_u16(f) : (uint16_t)(1 + fz_u8(f) % 4);
	d.queue_size = (how & 2) ? fz_u16(f) : (uint16_t)(8u << (fz_u8(f) % 6));
	if (!(how & 4)) {
		(void)fe_send(&v->fe, VHU_REQ_GET_INFLIGHT_FD, flags, &d,
			sizeof(d), NULL, 0);
		return;
	}
	d.mmap_size = (how & 8) ? fz_u64(f) :
		((16 + 16ull * d.queue_size + 63) & ~63ull) * d.num_queues;
	d.mmap_offset = (how & 16) ? fz_u64(f) : 0;
	fd = fzv_make_fd((how & 32) ? fz_u8(f) : 0,
		(how & 64) ? fz_u32(f) % (1u << 20) : d.mmap_size % (1u << 22));
	for (n = fz_u8(f) % 8, i = 0; fd >= 0 && i < n; i++) {
		uint64_t val = fz_u64(f);

		(void)pwrite(fd, &val, sizeof(val), fz_u16(f));
	}
	(void)fe_send(&v->fe, VHU_REQ_SET_INFLIGHT_FD, flags, &d, sizeof(d),
		&fd, fd >= 0);
	if (fd >= 0)
		close(fd);
}

static void
state_close(void)
{
	if (state_peer >= 0)
		close(state_peer);
	state_peer = -1;
}

/* A state for the back-end to load: the last one it saved, or one built
 * from the session (header, a record per ring with indices from the
 * input), then damaged as the input says (fields, length). */
static uint32_t
state_bytes(struct fzv *v, struct fz *f, uint8_t *buf, uint32_t max)
{
	struct vhu_state_hdr h;
	struct vhu_state_vq r;
	uint8_t how = fz_u8(f);
	uint32_t len, i, n, pokes;

	if ((how & 1) && nsaved > 0) {
		len = RTE_MIN(nsaved, max);
		memcpy(buf, saved, len);
	} else {
		n = (how & 2) ? fz_u16(f) % 300u : 2u * v->cfg.max_queue_pairs;
		memset(&h, 0, sizeof(h));
		h.magic = VHU_STATE_MAGIC;
		h.version = VHU_STATE_VERSION;
		h.hdr_size = sizeof(h);
		h.total_size = sizeof(h) + n * sizeof(r);
		h.nr_vq = (uint16_t)n;
		h.vq_size = sizeof(r);
		h.features = v->fe.features;
		h.proto_features = v->fe.proto;
		h.mtu = (how & 4) ? fz_u16(f) : 1500;
		memcpy(buf, &h, sizeof(h));
		n = RTE_MIN(n, (max - (uint32_t)sizeof(h)) / sizeof(r));
		for (i = 0; i < n; i++) {
			memset(&r, 0, sizeof(r));
			r.num = (how & 8) ? fz_u16(f) :
				(uint16_t)(8u << (fz_u8(f) % 8));
			r.last_avail = fz_u16(f);
			r.last_used = fz_u16(f);
			r.flags = fz_u8(f) & ((how & 16) ? 0xff : 7);
			memcpy(buf + sizeof(h) + i * sizeof(r), &r, sizeof(r));
		}
		len = (uint32_t)sizeof(h) + n * (uint32_t)sizeof(r);
	}
	for (pokes = (how & 32) ? fz_u8(f) % 8 : 0; pokes > 0; pokes--)
		buf[fz_u16(f) % len] = fz_u8(f);
	if (how & 64) {		/* cut short, or zeros beyond the end */
		n = fz_u16(f) % (max + 1);
		if (n > len)
			memset(buf + len, 0, n - len);
		len = n;
	}
	return len;
}

/* The back-end may have closed its end: EPIPE here, not a SIGPIPE that
 * would end the fuzzer (blocked for this thread, taken back). */
static void
peer_write(const void *buf, size_t len)
{
	const struct timespec zero = { 0, 0 };
	sigset_t set, old;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	if (write(state_peer, buf, len) < 0 && errno == EPIPE)
		(void)sigtimedwait(&set, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Read what a save put in the pipe so far; a save is bounded. */
static void
peer_read(void)
{
	uint8_t b[512];
	ssize_t n;

	while ((n = read(state_peer, b, sizeof(b))) > 0) {
		FZ_CHECK(nread + (uint32_t)n <= VHU_STATE_MAX_SIZE);
		memcpy(saved + nread, b, (size_t)n);
		nread += (uint32_t)n;
	}
	if (n == 0) {	/* the back-end closed its end: the state is whole */
		nsaved = nread;
		state_close();
	}
}

/* SET_DEVICE_STATE_FD: a pipe end in either direction (which way the
 * harness uses it and what the message says may disagree), or an fd of
 * another kind; direction and phase mostly valid. A load's pipe holds
 * state bytes already, its write end maybe closed (end of state). */
static void
state_set_fd(struct fzv *v, struct fz *f, uint8_t how, uint32_t flags)
{
	uint8_t buf[VHU_STATE_MAX_SIZE + 64];
	struct vhu_state_xfer_desc d;
	bool load = how & 4;
	int p[2], fd;

	d.direction = (how & 0x40) ? fz_u32(f) : load ? VHU_STATE_DIR_LOAD :
		VHU_STATE_DIR_SAVE;
	d.phase = (how & 0x20) ? fz_u32(f) : VHU_STATE_PHASE_STOPPED;
	state_close();
	if (how & 0x10) {
		fd = fzv_make_fd(fz_u8(f), 4096);
		(void)fe_send(&v->fe, VHU_REQ_SET_DEVICE_STATE_FD, flags, &d,
			sizeof(d), &fd, fd >= 0);
		if (fd >= 0)
			close(fd);
		return;
	}
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0)
		return;
	state_peer = p[load ? 1 : 0];
	state_peer_writes = load;
	fd = p[load ? 0 : 1];
	nread = 0;
	if (load) {
		peer_write(buf, state_bytes(v, f, buf, sizeof(buf)));
		if (how & 8)
			state_close();	/* the whole state is in the pipe */
	}
	(void)fe_send(&v->fe, VHU_REQ_SET_DEVICE_STATE_FD, flags, &d,
		sizeof(d), &fd, 1);
	close(fd);
}

/* Device state transfer: the rings stopped as a migration's source stops
 * them (GET_VRING_BASE each, replies drained by the sync), then
 * SET_DEVICE_STATE_FD, the harness's end of the pipe (more state bytes,
 * the end of them, a save read, a reader that goes away early),
 * CHECK_DEVICE_STATE (its reply drained by the sync). */
static void
device_state(struct fzv *v, struct fz *f)
{
	uint8_t how = fz_u8(f), buf[VHU_STATE_MAX_SIZE + 64];
	uint32_t flags = VHU_FLAG_VERSION | ((how & 0x80) ?
		VHU_FLAG_NEED_REPLY : 0);
	struct vhu_vring_state st = { 0, 0 };

	if (!v->connected)
		return;
	switch (how % 4) {
	case 0:
		for (st.index = 0; st.index < v->fe.nvq; st.index++)
			(void)fe_send(&v->fe, VHU_REQ_GET_VRING_BASE, flags,
				&st, sizeof(st), NULL, 0);
		break;
	case 1:
		state_set_fd(v, f, how, flags);
		break;
	case 2:		/* after the back-end handled what came before */
		fzv_settle(v);
		if (state_peer < 0)
			return;
		if (how & 4)
			state_close();
		else if (state_peer_writes)
			peer_write(buf, state_bytes(v, f, buf, sizeof(buf)));
		else
			peer_read();
		return;
	default:
		(void)fe_send(&v->fe, VHU_REQ_CHECK_DEVICE_STATE, flags, NULL,
			0, NULL, 0);
		break;
	}
	fzv_sent(v);
}

/* The application suspends or resumes the device; while it is
 * suspended no burst moves a frame. */
static void
suspend_resume(struct fzv *v, uint8_t op)
{
	if (op & 2) {
		FZ_CHECK(vhu_resume(v->dev) == 0);
		FZ_CHECK(!vhu_suspended(v->dev));
	} else {
		FZ_CHECK(vhu_suspend(v->dev) >= 0);
		FZ_CHECK(vhu_suspended(v->dev));
	}
}

/* SET_STATUS, GET_STATUS, RESET_DEVICE, GET_CONFIG, SET_CONFIG: values mostly near
 * the ones a front-end uses, windows and size fields from the input. */
static void
lifecycle(struct fzv *v, struct fz *f)
{
	static const uint64_t statuses[] = { 0, 0x01, 0x03, 0x0b, 0x0f, 0x07,
		0x8f, 0x4f, 0x08, 0x100 };
	struct vhu_config_desc c;
	uint8_t how = fz_u8(f);
	uint32_t flags = VHU_FLAG_VERSION | ((how & 0x80) ?
		VHU_FLAG_NEED_REPLY : 0);
	uint32_t size = 0;
	uint64_t st;

	if (!v->connected)
		return;
	switch (how % 5) {
	case 0:
		if (how & 0x20) {	/* its reply drained by the sync */
			(void)fe_send(&v->fe, VHU_REQ_GET_STATUS, flags, NULL,
				0, NULL, 0);
			break;
		}
		st = (how & 0x40) ? fz_u64(f) :
			statuses[fz_u8(f) % RTE_DIM(statuses)];
		(void)fe_send(&v->fe, VHU_REQ_SET_STATUS, flags, &st,
			sizeof(st), NULL, 0);
		break;
	case 1:
		if (how & 0x40)
			inflight(v, f, flags);
		else
			(void)fe_send(&v->fe, VHU_REQ_RESET_DEVICE, flags,
				NULL, 0, NULL, 0);
		break;
	case 4:	/* hot-unplug the last region added, maybe under traffic */
		(void)fe_send(&v->fe, VHU_REQ_REM_MEM_REG, flags, &last_add,
			sizeof(last_add), NULL, 0);
		break;
	default:
		memset(&c, 0, sizeof(c));
		c.offset = (how & 0x40) ? fz_u32(f) : fz_u8(f) % 32;
		size = fz_u16(f) % (VHU_CONFIG_MAX + 16);
		c.size = (how & 0x20) ? fz_u32(f) : size;
		c.flags = (how & 0x10) ? fz_u32(f) : 0;
		fz_bytes(f, c.region, RTE_MIN(size, VHU_CONFIG_MAX));
		size = RTE_MIN(size, VHU_CONFIG_MAX);
		(void)fe_send(&v->fe, (how % 5) == 2 ? VHU_REQ_GET_CONFIG :
			VHU_REQ_SET_CONFIG, flags, &c,
			VHU_CONFIG_HDR_SIZE + size, NULL, 0);
		break;
	}
	fzv_sent(v);
}

static void
handshake(struct fzv *v, struct fz *f)
{
	struct fe_opts o;
	uint8_t how = fz_u8(f);

	if (!v->connected || ready)
		return;
	fe_opts_default(&o);
	o.features = fz_u64(f) | (1ull << VHU_F_PROTOCOL_FEATURES);
	o.proto = how & 1;
	o.proto_mask = fz_u64(f);
	o.nqp = 1 + ((how >> 1) & 1);
	if (o.nqp > v->cfg.max_queue_pairs)
		o.nqp = v->cfg.max_queue_pairs;
	o.ring_size = (uint16_t)(8u << ((how >> 2) % 6));
	o.enable = true;
	o.kick_nofd = how & 0x40;
	o.call_nofd = how & 0x80;
	o.mem_size = FZV_GUEST_MEM;	/* the kept memfd, see fuzz_vhu.c */
	o.inflight = how & 0x20;	/* GET (once) + SET before the rings */
	if (v->fe.nmem == 0)
		ready = fzv_start(v, &o) == 0;
	if (getenv("VMLINK_FUZZ_LOG") != NULL)
		fprintf(stderr, "fuzz: handshake %s\n", ready ? "done" :
			"refused");
	if (!ready)
		(void)fzv_sync(v);
}

static void
guest_traffic(struct fzv *v, struct fz *f)
{
	uint8_t frame[2048];
	uint8_t how = fz_u8(f);
	uint32_t len = 14 + fz_u16(f) % 1500;
	unsigned int q = (how >> 4) % 2;

	if (!ready || shrunk || v->fe.nvq < 2 * (q + 1))
		return;
	if (how & 1) {
		fz_bytes(f, frame, 32);
		(void)fe_tx_frame(&v->fe, 2 * q + 1, NULL, 12, frame, len,
			1 + (how >> 1) % 3, how & 8, how & 0x40);
	} else {
		(void)fe_rx_post(&v->fe, 2 * q, 512 + len, 1 + (how >> 1) % 3,
			how & 0x40);
	}
	fe_avail_publish(&v->fe.vq[2 * q + (how & 1)]);
}

static void
enqueue(struct fzv *v, struct fz *f)
{
	struct rte_mbuf *m[8];
	uint8_t how = fz_u8(f);
	unsigned int n = how % 8, i, done;

	for (i = 0; i < n; i++) {
		uint32_t len = 14 + fz_u16(f) % 3000;

		m[i] = rte_pktmbuf_alloc(fzv_mp);
		if (m[i] == NULL)
			break;
		if (len > rte_pktmbuf_tailroom(m[i]))
			len = rte_pktmbuf_tailroom(m[i]);
		memset(rte_pktmbuf_mtod(m[i], void *), 0x5a, len);
		m[i]->data_len = (uint16_t)len;
		m[i]->pkt_len = len;
	}
	n = i;
	done = vhu_enqueue_burst(v->dev, (how >> 3) % 2, m, (uint16_t)n);
	FZ_CHECK(done <= n);
	FZ_CHECK(done == 0 || !vhu_suspended(v->dev));
	for (i = 0; i < n; i++)
		rte_pktmbuf_free(m[i]);
}

static void
run(struct fzv *v, struct fz *f)
{
	unsigned int ops = 0;

	while (!fz_empty(f) && ops++ < 64) {
		uint8_t op = fz_u8(f);

		/* 224-255: the operations added last (a corpus made before
		 * keeps its meaning below 224). Messages (0-3, 12, 14) go out
		 * back to back; anything else sees the back-end after it
		 * handled them. */
		unsigned int k = op < 224 ? op % 14u : 14u + (op & 1u);

		if (k > 3 && k != 12 && k != 14)
			fzv_settle(v);
		switch (k) {
		case 0:
		case 1:
			send_raw(v, f);
			break;
		case 2:
			send_memory(v, f, op & 0x80);
			break;
		case 3:
			send_log_base(v, f);
			break;
		case 4:
			handshake(v, f);
			break;
		case 5:
			guest_traffic(v, f);
			break;
		case 6:
			(void)fzv_dequeue(v, (op >> 7) & 1, fz_u8(f) % 40,
				op & 0x40, NULL);
			break;
		case 7:
			enqueue(v, f);
			break;
		case 8:
			fzv_free_held(v, fz_u8(f) % 32, op & 0x80);
			break;
		case 9:	/* the front-end goes away and comes back */
			fzv_disconnect(v);
			fe_fini(&v->fe);
			fe_reset(&v->fe);
			v->fe.prefer_huge = false;
			ready = false;
			shrunk = false;
			(void)fzv_connect(v);
			(void)fzv_sync(v);
			break;
		case 10: {
			struct vhu_queue_stats st;

			(void)vhu_queue_stats_get(v->dev, fz_u8(f) % 3,
				op & 0x80 ? VHU_ENQ : VHU_DEQ, &st);
			(void)vhu_queue_notify(v->dev, fz_u8(f) % 3, op & 0x40);
			(void)vhu_queue_kickfd(v->dev, fz_u8(f) % 3);
			break;
		}
		case 11:	/* the front-end shrinks its memory file */
			if (v->fe.nmem > 0) {
				(void)ftruncate(v->fe.mem[fz_u8(f) % v->fe.nmem].fd,
					(off_t)fz_u16(f) << 12);
				shrunk = true;
			}
			break;
		case 12:
			lifecycle(v, f);
			break;
		case 14:
			device_state(v, f);
			break;
		case 15:
			suspend_resume(v, fz_u8(f));
			break;
		default: {
			uint8_t b[64];

			(void)vhu_guest_read(v->dev, fz_u32(f), b,
				fz_u8(f) % sizeof(b));
			(void)vhu_mem_regions(v->dev);
			break;
		}
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fzv v;
	struct fz f = { data, size };
	uint8_t knobs = fz_u8(&f);

	/* v is not zeroed: fzv_config and fzv_begin set every field, and
	 * of the front-end's 3 MB fzv_begin resets what the last input
	 * used (zeroing it all showed in profiles) */
	fzv_config(&v, knobs);
	ready = false;
	shrunk = false;
	memset(&last_add, 0, sizeof(last_add));
	nsaved = 0;
	nread = 0;
	fzv_begin(&v);
	run(&v, &f);
	state_close();
	fzv_end(&v);
	return 0;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	fzv_global_init((*argv)[0]);
	return 0;
}
