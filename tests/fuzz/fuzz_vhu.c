/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_mempool.h>

#include "fuzz_vhu.h"

/*
 * How long the harness waits for the back-end: longer than any -timeout
 * the fuzzer runs with (vmlink-fuzz: 20 s), so that a back-end that
 * stops answering is reported by libFuzzer as a hang of this input (an
 * artifact, a stack), and a live back-end that a loaded machine runs
 * late (fuzzers run at nice 19) is never taken for a dead one.
 */
#define FZV_WAIT_MS	60000

struct rte_mempool *fzv_mp;
static char sock_path[128];
static struct fz_leaks leaks;

/*
 * Guest memory: one memfd for every input, mapped once (before the first
 * input, so that the leak checks count it in). A new memfd per input (a
 * file, a mapping, 256 page faults to zero it, its unmapping and the
 * inode's eviction) was a third of an input's time. Each input instead
 * starts with the file truncated to nothing and back (guest_empty): the
 * pages the last input touched go back to the kernel, the next touch of
 * any page reads zeros, as in a new memfd, and a file the last input
 * shrank has its size again. The back-end gets a memfd of the same size
 * and contents as before, and has no mapping of it left from the last
 * input when it is emptied (fzv_end checks that).
 */
static struct fe_mem guest;

static void
guest_create(void)
{
	void *p;

	guest.fd = fe_mem_alloc_fd(FZV_GUEST_MEM, false, &guest.huge);
	if (guest.fd < 0)
		fz_fail("guest memory memfd");
	p = mmap(NULL, FZV_GUEST_MEM, PROT_READ | PROT_WRITE, MAP_SHARED,
		guest.fd, 0);
	if (p == MAP_FAILED)
		fz_fail("guest memory mmap");
	guest.map = p;
	guest.map_len = FZV_GUEST_MEM;
	guest.size = FZV_GUEST_MEM;
}

static void
guest_empty(void)
{
	if (ftruncate(guest.fd, 0) != 0 ||
			ftruncate(guest.fd, FZV_GUEST_MEM) != 0)
		fz_fail("cannot empty the guest memory file");
}

/* The input's first guest memory is the kept memfd; a later one (after a
 * reconnect, when the back-end may still map the first one or zero-copy
 * mbufs point into it) is a new memfd, as fe.c makes it. */
static int
mem_default(struct fzv *v, uint64_t size)
{
	if (!v->guest_fresh || size != FZV_GUEST_MEM || v->fe.nmem != 0)
		return fe_mem_default(&v->fe, size);
	v->guest_fresh = false;
	return fe_mem_default_kept(&v->fe, &guest);
}

void
fzv_global_init(const char *prog)
{
	fz_eal_init(prog);
	fzv_mp = rte_pktmbuf_pool_create("fz_vhu", FZV_POOL_SIZE, 0, 0,
		RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (fzv_mp == NULL)
		fz_fail("mempool");
	snprintf(sock_path, sizeof(sock_path), "%s/vhu.sock", fz_tmpdir());
	guest_create();
}

void
fzv_config(struct fzv *v, uint8_t knobs)
{
	vhu_config_init(&v->cfg);
	v->cfg.zero_copy = knobs & 1;
	v->cfg.copy_threshold = (knobs & 2) ? 0 : 512;
	v->cfg.max_queue_pairs = 1 + ((knobs >> 2) & 1);
	v->cfg.inflight_budget = 64;
	/* The control thread waits for held zero-copy mbufs only while
	 * this thread is blocked on its reply: none can come back during
	 * the wait, so 1 ms ends it as 10 would, and faster. */
	v->cfg.quiesce_timeout_ms = 1;
	v->cfg.mtu = 1500;
}

/*
 * Devices are created once per configuration and reused: every input
 * starts a new front-end session and ends it by disconnecting, after
 * which the library must be back to its idle state (the end-of-input
 * checks hold it to that). Creating a device per input (a thread and a
 * socket each) would cost most of the fuzzing time.
 */
#define FZV_CONFIGS 8
static struct vhu_dev *devs[FZV_CONFIGS];

static char paths[FZV_CONFIGS][160];

static struct vhu_dev *
device_for(struct vhu_config *cfg, unsigned int key)
{
	if (devs[key] != NULL)
		return devs[key];
	snprintf(paths[key], sizeof(paths[key]), "%s.%u", sock_path, key);
	cfg->socket_path = paths[key];
	cfg->name = "fuzz";
	devs[key] = vhu_create(cfg);
	if (devs[key] == NULL)
		fz_fail("vhu_create: %s", rte_strerror(rte_errno));
	return devs[key];
}

int
fzv_begin(struct fzv *v)
{
	unsigned int key = (v->cfg.zero_copy ? 1 : 0) |
		(v->cfg.max_queue_pairs > 1 ? 2 : 0) |
		(v->cfg.copy_threshold == 0 ? 4 : 0);

	v->dev = device_for(&v->cfg, key);
	v->path = paths[key];
	/* Guest memory and logs are memfds the leak check names. */
	fz_leaks_begin(&leaks, "vhu-");
	/* fe is 3 MB of ring tables: zeroing it all per input showed in
	 * profiles; fe_reset clears what the last input used. */
	if (v->fe_used)
		fe_reset(&v->fe);
	else
		fe_init(&v->fe);
	v->fe_used = true;
	v->fe.prefer_huge = false;
	guest_empty();
	v->guest_fresh = true;
	v->connected = false;
	v->unsynced = false;
	v->nheld = 0;
	fzv_connect(v);
	/* The back-end has accepted this session once it answered: the
	 * end-of-input wait for its hang-up then cannot race the accept. */
	if (fzv_sync(v) != 0)
		fz_fail("the back-end did not answer GET_FEATURES on a new "
			"session (it closed it, or %d s passed)",
			FZV_WAIT_MS / 1000);
	return 0;
}

int
fzv_connect(struct fzv *v)
{
	if (v->connected)
		return 0;
	if (fe_connect(&v->fe, v->path) != 0)
		fz_fail("cannot connect to the back-end");
	v->connected = true;
	return 0;
}

void
fzv_disconnect(struct fzv *v)
{
	/* The guest memory stays the test's: only the session ends. */
	fe_disconnect(&v->fe);
	v->connected = false;
}

int
fzv_sync(struct fzv *v)
{
	uint8_t buf[512];
	uint32_t r, flags;
	int n;

	v->unsynced = false;
	if (!v->connected)
		return -1;
	if (fe_send(&v->fe, VHU_REQ_GET_FEATURES, VHU_FLAG_VERSION, NULL, 0,
			NULL, 0) != 0)
		goto lost;
	for (;;) {
		n = fe_recv(&v->fe, &r, &flags, buf, sizeof(buf), FZV_WAIT_MS);
		if (n < 0)
			goto lost;
		if (r == VHU_REQ_GET_FEATURES && n == 8 &&
				(flags & VHU_FLAG_REPLY))
			return 0;
	}
lost:
	fzv_disconnect(v);
	return -1;
}

/* Wait until SOCK is readable (or hung up), through the signals
 * libFuzzer sends (its -timeout alarm). */
static int
wait_in(int sock)
{
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	int n;

	do {
		n = poll(&pfd, 1, FZV_WAIT_MS);
	} while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : -1;
}

/* LEN bytes from the back-end's socket. */
static int
recv_all(int sock, void *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = recv(sock, (uint8_t *)buf + off, len - off,
			MSG_DONTWAIT);

		if (n > 0)
			off += (size_t)n;
		else if (n == 0 || (errno != EAGAIN && errno != EINTR) ||
				wait_in(sock) != 0)
			return -1;
	}
	return 0;
}

void
fzv_sent(struct fzv *v)
{
	v->unsynced = true;
}

void
fzv_settle(struct fzv *v)
{
	if (v->unsynced)
		(void)fzv_sync(v);
}

/* The next message from the back-end: its header, its payload if it
 * fits in MAX bytes (else dropped), the fd that rode with its first byte
 * (-1 if none). -1 when the connection ended or nothing came within
 * FZV_WAIT_MS. */
static int
recv_fd(struct fzv *v, uint32_t hdr[3], void *p, uint32_t max, int *fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = hdr, .iov_len = 1 };
	struct msghdr mh;
	struct cmsghdr *cm;
	uint8_t sink[64];
	uint32_t left, c;
	ssize_t n;

	*fd = -1;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf.buf;
	mh.msg_controllen = sizeof(cbuf.buf);
	do {	/* the first byte, with the fd */
		if (wait_in(v->fe.sock) != 0)
			return -1;
		n = recvmsg(v->fe.sock, &mh, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n != 1)
		return -1;
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(cm), sizeof(*fd));
	if (recv_all(v->fe.sock, (uint8_t *)hdr + 1, 3 * sizeof(*hdr) - 1))
		goto fail;
	if (hdr[2] <= max) {
		if (recv_all(v->fe.sock, p, hdr[2]) != 0)
			goto fail;
		return 0;
	}
	for (left = hdr[2]; left > 0; left -= c) {
		c = RTE_MIN(left, (uint32_t)sizeof(sink));
		if (recv_all(v->fe.sock, sink, c) != 0)
			goto fail;
	}
	return 0;
fail:
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	return -1;
}

/*
 * The start of tests/vhost_user/fe.c's fe_start() (the same requests, in
 * the same order, from the same options), pipelined: fe.c waits for an
 * ack or a GET_FEATURES round trip after every request, some 20 to 35
 * thread round trips per handshake, which on a loaded machine cost more
 * than everything else an input does. Here only the GET requests whose
 * answers shape what follows wait; the rest go out back to back and
 * their acks are read in one go (start_done). A request refused in the
 * middle does not stop the ones after it (fe_start stops): the back-end
 * then sees them on a half-set-up device, which is hostile input too.
 */
struct start {
	struct fzv *v;
	bool ack;		/* REPLY_ACK negotiated: acks to read */
	bool failed;
};

static void
start_req(struct start *st, uint32_t req, const void *p, uint32_t size,
	const int *fds, unsigned int nfds)
{
	if (fe_send(&st->v->fe, req, VHU_FLAG_VERSION |
			(st->ack ? VHU_FLAG_NEED_REPLY : 0), p, size, fds,
			nfds) != 0)
		st->failed = true;
}

static void
start_state(struct start *st, uint32_t req, uint32_t index, uint32_t num)
{
	struct vhu_vring_state s = { index, num };

	start_req(st, req, &s, sizeof(s), NULL, 0);
}

/* SET_VRING_CALL / _ERR / _KICK as fe.c's vring_fd(). */
static void
start_vring_fd(struct start *st, uint32_t req, unsigned int idx, int *fdp,
	bool nofd)
{
	uint64_t u = idx;

	if (*fdp >= 0)
		close(*fdp);
	*fdp = -1;
	if (nofd) {
		u |= VHU_VRING_NOFD;
	} else {
		*fdp = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (*fdp < 0) {
			st->failed = true;
			return;
		}
	}
	start_req(st, req, &u, sizeof(u), fdp, *fdp >= 0);
}

/* Read every reply up to the one to a GET_FEATURES sent now: acks (any
 * refusal fails the start) and the region of a GET_INFLIGHT_FD, kept as
 * fe.c keeps it. */
static void
start_done(struct start *st)
{
	struct fe *fe = &st->v->fe;
	union {
		uint64_t u64;
		struct vhu_inflight_desc inflight;
	} p;
	uint32_t hdr[3];
	int fd;

	if (fe_send(fe, VHU_REQ_GET_FEATURES, VHU_FLAG_VERSION, NULL, 0,
			NULL, 0) != 0) {
		st->failed = true;
		return;
	}
	for (;;) {
		if (recv_fd(st->v, hdr, &p, sizeof(p), &fd) != 0) {
			st->failed = true;
			return;
		}
		if (hdr[0] == VHU_REQ_GET_INFLIGHT_FD &&
				hdr[2] == sizeof(p.inflight) && fd >= 0 &&
				fe->inflight_fd < 0) {
			fe->inflight = p.inflight;
			fe->inflight_fd = fd;
			fd = -1;
		} else if (hdr[0] == VHU_REQ_GET_FEATURES) {
			return;
		} else if (hdr[2] == sizeof(p.u64) && p.u64 != 0) {
			st->failed = true;	/* refused */
		}
		if (fd >= 0)
			close(fd);
	}
}

static void
start_rings(struct start *st, const struct fe_opts *o)
{
	struct fe *fe = &st->v->fe;
	unsigned int i;

	for (i = 0; i < 2 * o->nqp && i < FE_MAX_VQ; i++) {
		struct fe_vring *r = &fe->vq[i];
		struct vhu_vring_addr a;

		if (!o->keep_rings && fe_vring_alloc(fe, i, o->ring_size) != 0) {
			st->failed = true;
			return;
		}
		start_state(st, VHU_REQ_SET_VRING_NUM, i, r->size);
		start_state(st, VHU_REQ_SET_VRING_BASE, i,
			fe->base_override >= 0 ? (uint32_t)fe->base_override :
			fe->base_override == FE_BASE_USED ? fe_used_idx(r) :
			r->packed ? fe_pk_base(r) : r->avail_idx);
		memset(&a, 0, sizeof(a));
		a.index = i;
		a.desc_qva = fe_qva(fe, r->desc_gpa);
		a.used_qva = fe_qva(fe, r->used_gpa);
		a.avail_qva = fe_qva(fe, r->avail_gpa);
		start_req(st, VHU_REQ_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
		start_vring_fd(st, VHU_REQ_SET_VRING_CALL, i, &r->callfd,
			o->call_nofd);
		start_vring_fd(st, VHU_REQ_SET_VRING_ERR, i, &r->errfd, false);
		start_vring_fd(st, VHU_REQ_SET_VRING_KICK, i, &r->kickfd,
			o->kick_nofd);
		if (o->enable && (fe->features &
				(1ull << VHU_F_PROTOCOL_FEATURES)))
			start_state(st, VHU_REQ_SET_VRING_ENABLE, i, 1);
	}
}

int
fzv_start(struct fzv *v, const struct fe_opts *o)
{
	struct start st = { .v = v };
	struct fe *fe = &v->fe;
	struct vhu_mem_table_desc t;
	int fds[VHU_MEMTABLE_MAX_REGIONS];
	unsigned int i;
	uint64_t u;

	if (mem_default(v, o->mem_size) != 0)
		return -1;
	if (fe_get_u64(fe, VHU_REQ_GET_FEATURES, &fe->offered) != 0)
		return -1;
	fe->features = fe->offered & o->features;
	start_req(&st, VHU_REQ_SET_OWNER, NULL, 0, NULL, 0);
	fe->proto = 0;
	if (o->proto && (fe->offered & (1ull << VHU_F_PROTOCOL_FEATURES))) {
		if (fe_get_u64(fe, VHU_REQ_GET_PROTOCOL_FEATURES,
				&fe->proto_offered) != 0)
			return -1;
		u = fe->proto_offered & o->proto_mask;
		start_req(&st, VHU_REQ_SET_PROTOCOL_FEATURES, &u, sizeof(u),
			NULL, 0);
		fe->proto = u;
		if (((u >> VHU_PROTO_F_MQ) & 1) && (fe_get_u64(fe,
				VHU_REQ_GET_QUEUE_NUM, &u) != 0 || u < o->nqp))
			return -1;
	} else {
		fe->features &= ~(1ull << VHU_F_PROTOCOL_FEATURES);
	}
	/* fe.c sends SET_OWNER and SET_PROTOCOL_FEATURES without asking
	 * for an ack, then asks for one with every request. */
	st.ack = (fe->proto >> VHU_PROTO_F_REPLY_ACK) & 1;
	u = fe->features;
	start_req(&st, VHU_REQ_SET_FEATURES, &u, sizeof(u), NULL, 0);
	if (fe->nmem > VHU_MEMTABLE_MAX_REGIONS)
		return -1;
	memset(&t, 0, sizeof(t));
	t.nregions = fe->nmem;
	for (i = 0; i < t.nregions; i++) {
		fe_region_desc(&fe->mem[i], &t.regions[i]);
		fds[i] = fe->mem[i].fd;
	}
	start_req(&st, VHU_REQ_SET_MEM_TABLE, &t, VHU_MEMTABLE_HDR_SIZE +
		t.nregions * sizeof(t.regions[0]), fds, t.nregions);
	if (o->inflight) {
		if (fe->inflight_fd < 0) {
			struct vhu_inflight_desc d = {
				.num_queues = (uint16_t)(2 * o->nqp),
				.queue_size = o->ring_size,
			};

			/* the reply (or its absence: a refusal) is read
			 * with the acks before */
			if (fe_send(fe, VHU_REQ_GET_INFLIGHT_FD,
					VHU_FLAG_VERSION, &d, sizeof(d), NULL,
					0) != 0)
				return -1;
			start_done(&st);
			if (fe->inflight_fd < 0)
				return -1;
		}
		start_req(&st, VHU_REQ_SET_INFLIGHT_FD, &fe->inflight,
			sizeof(fe->inflight), &fe->inflight_fd, 1);
	}
	start_rings(&st, o);
	start_done(&st);
	return st.failed ? -1 : 0;
}

int
fzv_make_fd(uint8_t k, uint64_t size)
{
	int fd = -1, p[2];

	switch (k % 6) {
	case 0:
		fd = memfd_create("vhu-fuzz-mem", MFD_CLOEXEC);
		if (fd >= 0 && ftruncate(fd, (off_t)size) != 0) {
			close(fd);
			fd = -1;
		}
		break;
	case 1:
		fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		break;
	case 2:
		if (pipe2(p, O_CLOEXEC) == 0) {
			close(p[1]);
			fd = p[0];
		}
		break;
	case 3:
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		break;
	case 4:
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		break;
	default:
		fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		break;
	}
	return fd;
}

uint16_t
fzv_dequeue(struct fzv *v, uint16_t qp, uint16_t n, bool hold,
	struct rte_mbuf **out)
{
	struct rte_mbuf *pkts[64];
	uint16_t got, i;

	if (n > 64)
		n = 64;
	got = vhu_dequeue_burst(v->dev, qp, fzv_mp, n ? pkts : NULL, n);
	FZ_CHECK(got <= n);
	FZ_CHECK(got == 0 || !vhu_suspended(v->dev));
	for (i = 0; i < got; i++) {
		struct rte_mbuf *m = pkts[i];

		const struct rte_mbuf *s;
		uint32_t sum = 0;

		FZ_CHECK(m->pkt_len <= VHU_MAX_FRAME_LEN);
		for (s = m; s != NULL; s = s->next)
			sum += s->data_len;
		FZ_CHECK(sum == m->pkt_len);
		if (out != NULL)
			out[i] = m;
		else if (hold && v->nheld < FZV_MAX_HELD)
			v->held[v->nheld++] = m;
		else
			rte_pktmbuf_free(m);
	}
	return got;
}

void
fzv_free_held(struct fzv *v, unsigned int k, bool oldest_first)
{
	while (k-- > 0 && v->nheld > 0) {
		if (!oldest_first) {
			rte_pktmbuf_free(v->held[--v->nheld]);
		} else {
			rte_pktmbuf_free(v->held[0]);
			memmove(v->held, v->held + 1,
				--v->nheld * sizeof(v->held[0]));
		}
	}
}

/*
 * End the session and wait until the back-end has ended it too: the
 * front-end shuts its sending side down (the back-end reads the end of
 * the stream, as it would after a close: everything sent before was
 * handled, fzv_settle saw to that) and reads until the back-end closes
 * its end, which it does in the same step that resets the session. A
 * close then sleeps between looks at vhu_connected() took a sleep's
 * worth of time per input, more than most inputs take.
 */
static void
hang_up(struct fzv *v)
{
	uint8_t sink[256];
	ssize_t n;

	if (!v->connected)
		return;
	if (shutdown(v->fe.sock, SHUT_WR) == 0) {
		do {
			if (wait_in(v->fe.sock) != 0)
				break;	/* the checks after report it */
			n = recv(v->fe.sock, sink, sizeof(sink),
				MSG_DONTWAIT);
		} while (n > 0 || (n < 0 && (errno == EAGAIN ||
			errno == EINTR)));
	}
	fzv_disconnect(v);
}

/*
 * Wait until the control thread has noticed the hang-up (it must: not
 * noticing is a hang, for libFuzzer to report) and reset the session,
 * then until the fds and mappings are back to where the input began (in
 * the same step, right after the reset, it closes the fds it deferred
 * and unmaps guest memory kept for zero-copy buffers that have all come
 * back), two seconds at most for that. Yield to it first; sleep only if
 * that is not enough (a loaded machine).
 */
static void
wait_back_end(struct fzv *v)
{
	uint64_t hz = rte_get_timer_hz(), t0 = rte_get_timer_cycles();
	uint64_t limit = FZV_WAIT_MS / 1000 * hz;
	unsigned int spins = 0;
	bool gone = false;

	for (;;) {
		if (!gone && !vhu_connected(v->dev)) {
			gone = true;
			t0 = rte_get_timer_cycles();
			limit = 2 * hz;
		}
		if ((gone && fz_leaks_settled(&leaks)) ||
				rte_get_timer_cycles() - t0 >= limit)
			return;
		if (spins++ < 64)
			sched_yield();
		else
			usleep(100);
	}
}

void
fzv_end(struct fzv *v)
{
	/* The back-end still answers after everything the input sent. */
	fzv_settle(v);
	fzv_free_held(v, FZV_MAX_HELD, true);
	hang_up(v);
	fe_fini(&v->fe);
	wait_back_end(v);
	FZ_CHECK(!vhu_connected(v->dev));
	/* The device goes to the next input awake. */
	if (vhu_suspended(v->dev))
		FZ_CHECK(vhu_resume(v->dev) == 0);
	FZ_CHECK(rte_mempool_avail_count(fzv_mp) == FZV_POOL_SIZE);
	fz_leaks_end(&leaks);
}
