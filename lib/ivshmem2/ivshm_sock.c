/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * Software transport of the ivshmem v2 device: the peer side of the
 * ivshmem2-server socket protocol, the region mapping, and the registers
 * emulated over eventfds and the state table.
 *
 * Every byte and fd from the server is checked: message lengths, IDs,
 * vectors, the order of EVENT_FDs, the kind of fd, the memory fd's real
 * size and page size against INIT. Anything malformed is counted, its fds
 * closed, and ignored; a stream that cannot be resynchronised counts as a
 * lost server.
 *
 * A peer's eventfds are never closed under a concurrent DOORBELL writer:
 * the fd numbers of a peer stay reserved for the device's life and, when
 * the peer leaves, are atomically re-pointed (dup3) to a private "sink"
 * eventfd, which releases the peer's eventfd files.
 */

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>

#include "ivshm_transport.h"
#include "ivshm_log.h"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif

#define MSG_BUF 64
#define MAX_MSG_FDS 8
#define DEFAULT_TIMEOUT_MS 5000

struct sock_peer {
	int *fd;		/* fd slots, allocated on first EVENT_FD */
	uint32_t nfds;		/* vectors of the current incarnation */
	uint32_t live;		/* all vectors in, until PEER_GONE */
};

struct sock_dev {
	struct ivshm_dev dev;	/* first: the public handle */
	int sock;
	int sink_fd;		/* eventfd absorbing doorbells to gone peers */
	int quiet_fd;		/* never signalled, replaces a lost socket */
	bool server_lost;
	bool handshake_done;
	uint32_t int_ctrl;
	uint32_t state;
	bool oneshot;
	volatile uint32_t *state_rw;	/* private writable state table */
	struct sock_peer *peers;
	uint32_t own_nfds;
	/* message being assembled: bytes only, read into aligned copies of
	 * the message structures (msg_copy), never cast in place */
	uint8_t msg[MSG_BUF];
	uint32_t have;
	uint32_t len;		/* 0 until the header is in */
	int mfd[MAX_MSG_FDS];
	uint32_t nmfd;
	bool mfd_trunc;
};

static inline struct sock_dev *
sdev(struct ivshm_dev *dev)
{
	return (struct sock_dev *)dev;
}

static void
count(uint64_t *c)
{
	__atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
}

static void
msg_reset(struct sock_dev *s)
{
	uint32_t i;

	for (i = 0; i < s->nmfd; i++)
		if (s->mfd[i] >= 0)
			close(s->mfd[i]);
	s->nmfd = 0;
	s->mfd_trunc = false;
	s->have = 0;
	s->len = 0;
}

/*
 * Assemble one message without blocking. 1: complete (first bytes in
 * s->msg, fds in s->mfd); 0: would block; -1: EOF; -2: socket error;
 * -3: impossible length (stream cannot be resynchronised).
 */
static int
msg_read(struct sock_dev *s)
{
	uint8_t scratch[256];

	for (;;) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int) * MAX_MSG_FDS)];
		} ctl;
		struct iovec iov;
		struct msghdr mh;
		struct cmsghdr *c;
		size_t want;
		ssize_t n;

		if (s->len == 0) {
			want = sizeof(struct ivshm_msg_hdr) - s->have;
			iov.iov_base = s->msg + s->have;
		} else {
			want = s->len - s->have;
			if (want == 0)
				return 1;
			if (s->have < MSG_BUF) {
				if (want > MSG_BUF - s->have)
					want = MSG_BUF - s->have;
				iov.iov_base = s->msg + s->have;
			} else {
				if (want > sizeof(scratch))
					want = sizeof(scratch);
				iov.iov_base = scratch;
			}
		}
		iov.iov_len = want;
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.b;
		mh.msg_controllen = sizeof(ctl.b);
		n = recvmsg(s->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -2;
		}
		for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
			size_t i, nfd;

			if (c->cmsg_level != SOL_SOCKET ||
					c->cmsg_type != SCM_RIGHTS ||
					c->cmsg_len < CMSG_LEN(0))
				continue;
			nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (i = 0; i < nfd; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int),
					sizeof(int));
				if (s->nmfd < MAX_MSG_FDS)
					s->mfd[s->nmfd++] = fd;
				else {
					close(fd);
					s->mfd_trunc = true;
				}
			}
		}
		if (mh.msg_flags & MSG_CTRUNC)
			s->mfd_trunc = true;
		if (n == 0)
			return -1;
		s->have += (uint32_t)n;
		if (s->len == 0 && s->have == sizeof(struct ivshm_msg_hdr)) {
			struct ivshm_msg_hdr h;
			uint32_t len;

			memcpy(&h, s->msg, sizeof(h));
			len = le32toh(h.len);

			if (len < sizeof(h) || len > IVSHM_MSG_MAX_LEN)
				return -3;
			s->len = len;
		}
		if (s->len != 0 && s->have == s->len)
			return 1;
	}
}

/* The single fd of the message, taken over by the caller; -1 if none or
 * (counted) if there were several or some were lost. */
static int
msg_take_fd(struct sock_dev *s, bool *bad)
{
	int fd;

	*bad = false;
	if (s->mfd_trunc || s->nmfd > 1) {
		*bad = true;
		return -1;
	}
	if (s->nmfd == 0)
		return -1;
	fd = s->mfd[0];
	s->nmfd = 0;
	return fd;
}

static bool
fd_is_eventfd(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return true;	/* no /proc: cannot tell, accept */
	link[n] = '\0';
	return strcmp(link, "anon_inode:[eventfd]") == 0;
}

/* Copy the start of the message being handled into the structure at DST
 * (SIZE bytes, zero-filled past what was received). */
static void
msg_copy(const struct sock_dev *s, void *dst, size_t size)
{
	size_t have = s->len < sizeof(s->msg) ? s->len : sizeof(s->msg);

	memset(dst, 0, size);
	memcpy(dst, s->msg, have < size ? have : size);
}

static unsigned int
bad_msg(struct sock_dev *s, int fd, const char *why, uint32_t a, uint32_t b)
{
	IVSHM_LOG(WARNING, "server message ignored: %s (%u, %u)", why, a, b);
	if (fd >= 0)
		close(fd);
	count(&s->dev.stats.bad_msgs);
	return IVSHM_EV_BAD_MSG;
}

static unsigned int
on_event_fd(struct sock_dev *s, int fd)
{
	struct ivshm_dev *dev = &s->dev;
	struct ivshm_msg_event_fd m;
	uint32_t id, vec, V = dev->info.vectors;
	struct sock_peer *p;
	int fl;

	msg_copy(s, &m, sizeof(m));
	id = le32toh(m.id);
	vec = le32toh(m.vector);
	if (s->len < sizeof(m))
		return bad_msg(s, fd, "short EVENT_FD", s->len, 0);
	if (fd < 0)
		return bad_msg(s, fd, "EVENT_FD without an fd", id, vec);
	if (id >= dev->info.max_peers || vec >= V)
		return bad_msg(s, fd, "EVENT_FD id/vector out of range", id,
			vec);
	if (!fd_is_eventfd(fd))
		return bad_msg(s, fd, "EVENT_FD fd is not an eventfd", id, vec);
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
		return bad_msg(s, fd, "EVENT_FD fd unusable", id, vec);
	if (id == dev->info.id) {
		if (s->handshake_done || vec != s->own_nfds)
			return bad_msg(s, fd, "unexpected own EVENT_FD", id, vec);
		dev->vec_fd[vec] = fd;
		s->own_nfds++;
		return 0;
	}
	p = &s->peers[id];
	if (__atomic_load_n(&p->live, __ATOMIC_RELAXED))
		return bad_msg(s, fd, "EVENT_FD for a complete peer", id, vec);
	if (vec != p->nfds)
		return bad_msg(s, fd, "EVENT_FD out of order", id, vec);
	if (p->fd == NULL) {
		uint32_t i;

		p->fd = malloc(sizeof(int) * V);
		if (p->fd == NULL)
			return bad_msg(s, fd, "out of memory", id, vec);
		for (i = 0; i < V; i++)
			p->fd[i] = -1;
	}
	if (p->fd[vec] < 0) {
		p->fd[vec] = fd;
	} else {
		/* re-point the reserved number to the new eventfd */
		if (dup3(fd, p->fd[vec], O_CLOEXEC) < 0)
			return bad_msg(s, fd, "dup3 failed", id, vec);
		close(fd);
	}
	p->nfds++;
	if (p->nfds < V)
		return 0;
	__atomic_store_n(&p->live, 1, __ATOMIC_RELEASE);
	count(&dev->stats.peers_up);
	IVSHM_LOG(INFO, "peer %u up (own ID %u)", id, dev->info.id);
	return IVSHM_EV_PEER_UP;
}

static unsigned int
on_peer_gone(struct sock_dev *s)
{
	struct ivshm_dev *dev = &s->dev;
	struct ivshm_msg_peer_gone m;
	struct sock_peer *p;
	uint32_t id, v;

	msg_copy(s, &m, sizeof(m));
	id = le32toh(m.id);
	if (s->len < sizeof(m))
		return bad_msg(s, -1, "short PEER_GONE", s->len, 0);
	if (id >= dev->info.max_peers || id == dev->info.id)
		return bad_msg(s, -1, "PEER_GONE for a bad id", id, 0);
	p = &s->peers[id];
	if (p->nfds == 0 && !p->live)
		return 0;	/* never fully known: nothing to undo */
	__atomic_store_n(&p->live, 0, __ATOMIC_RELEASE);
	for (v = 0; v < dev->info.vectors; v++)
		if (p->fd[v] >= 0 && dup3(s->sink_fd, p->fd[v], O_CLOEXEC) < 0)
			IVSHM_LOG(ERR, "cannot release peer %u vector %u: %s",
				id, v, strerror(errno));
	p->nfds = 0;
	__atomic_add_fetch(&dev->peer_gen[id], 1, __ATOMIC_RELEASE);
	count(&dev->stats.peers_gone);
	IVSHM_LOG(INFO, "peer %u gone (own ID %u)", id, dev->info.id);
	return IVSHM_EV_PEER_GONE;
}

/* One complete message after INIT. */
static unsigned int
msg_handle(struct sock_dev *s)
{
	struct ivshm_msg_hdr h;
	unsigned int ev;
	bool bad;
	int fd;

	msg_copy(s, &h, sizeof(h));
	count(&s->dev.stats.msgs);
	fd = msg_take_fd(s, &bad);
	if (bad)
		return bad_msg(s, fd, "message with extra or lost fds",
			le32toh(h.type), s->nmfd);
	switch (le32toh(h.type)) {
	case IVSHM_MSG_EVENT_FD:
		return on_event_fd(s, fd);
	case IVSHM_MSG_PEER_GONE:
		ev = on_peer_gone(s);
		if (fd >= 0)
			ev |= bad_msg(s, fd, "PEER_GONE with an fd", 0, 0);
		return ev;
	case IVSHM_MSG_INIT:
		return bad_msg(s, fd, "second INIT", 0, 0);
	default:
		/* a later protocol revision: skip it */
		return bad_msg(s, fd, "unknown message type",
			le32toh(h.type), s->len);
	}
}

static void
server_lost(struct sock_dev *s, const char *why)
{
	if (s->server_lost)
		return;
	s->server_lost = true;
	IVSHM_LOG(WARNING, "server connection lost (%s); peer %u keeps its "
		"mapping and links, no new peers will be announced", why,
		s->dev.info.id);
	/* keep ctrl_fd a valid fd that never becomes readable */
	if (dup3(s->quiet_fd, s->sock, O_CLOEXEC) < 0) {
		close(s->sock);
		s->sock = -1;
	}
	msg_reset(s);
}

static unsigned int
sock_process(struct ivshm_dev *dev)
{
	struct sock_dev *s = sdev(dev);
	unsigned int ev = 0;

	while (!s->server_lost) {
		int r = msg_read(s);

		if (r == 0)
			break;
		if (r < 0) {
			server_lost(s, r == -1 ? "closed by the server" :
				r == -3 ? "malformed stream" : "socket error");
			ev |= IVSHM_EV_SERVER_LOST;
			break;
		}
		ev |= msg_handle(s);
		msg_reset(s);
	}
	return ev;
}

static void
do_doorbell(struct sock_dev *s, uint32_t val)
{
	struct ivshm_dev *dev = &s->dev;
	uint32_t target = val >> 16, vec = val & 0xffff;
	uint64_t one = 1;
	int fd;

	if (target >= dev->info.max_peers || vec >= dev->info.vectors) {
		count(&dev->stats.doorbells_absent);
		return;
	}
	if (target == dev->info.id) {
		fd = dev->vec_fd[vec];
	} else {
		struct sock_peer *p = &s->peers[target];

		if (!__atomic_load_n(&p->live, __ATOMIC_ACQUIRE)) {
			count(&dev->stats.doorbells_absent);
			return;
		}
		fd = p->fd[vec];
	}
	if (write(fd, &one, sizeof(one)) != sizeof(one) && errno != EAGAIN)
		IVSHM_LOG(DEBUG, "doorbell %u/%u: %s", target, vec,
			strerror(errno));
	count(&dev->stats.doorbells);
}

static void
do_state(struct sock_dev *s, uint32_t val)
{
	struct ivshm_dev *dev = &s->dev;
	uint32_t id;

	__atomic_store_n(&s->state_rw[dev->info.id], val, __ATOMIC_SEQ_CST);
	if (val == s->state)
		return;
	s->state = val;
	for (id = 0; id < dev->info.max_peers; id++) {
		struct sock_peer *p = &s->peers[id];
		uint64_t one = 1;

		if (id == dev->info.id ||
				!__atomic_load_n(&p->live, __ATOMIC_ACQUIRE))
			continue;
		if (write(p->fd[0], &one, sizeof(one)) < 0 && errno != EAGAIN)
			IVSHM_LOG(DEBUG, "state notify %u: %s", id,
				strerror(errno));
	}
}

static uint32_t
sock_reg_read(struct ivshm_dev *dev, uint32_t reg)
{
	struct sock_dev *s = sdev(dev);

	switch (reg) {
	case IVSHM_REG_ID:
		return dev->info.id;
	case IVSHM_REG_MAX_PEERS:
		return dev->info.max_peers;
	case IVSHM_REG_INT_CTRL:
		return __atomic_load_n(&s->int_ctrl, __ATOMIC_ACQUIRE);
	case IVSHM_REG_STATE:
		return s->state;
	default:
		return 0;	/* unbacked offsets and DOORBELL read 0 */
	}
}

static void
sock_reg_write(struct ivshm_dev *dev, uint32_t reg, uint32_t val)
{
	struct sock_dev *s = sdev(dev);

	switch (reg) {
	case IVSHM_REG_INT_CTRL:
		__atomic_store_n(&s->int_ctrl, val & IVSHM_INT_ENABLE,
			__ATOMIC_RELEASE);
		break;
	case IVSHM_REG_DOORBELL:
		do_doorbell(s, val);
		break;
	case IVSHM_REG_STATE:
		do_state(s, val);
		break;
	default:
		break;		/* read-only or unbacked: ignored */
	}
}

static void
sock_set_oneshot(struct ivshm_dev *dev, bool on)
{
	sdev(dev)->oneshot = on;
}

/*
 * Take what an own vector's eventfd counted, without ever blocking. The
 * fd is an open file shared with the server and every other peer, and
 * O_NONBLOCK belongs to the open file: QEMU clears it on each fd it
 * receives (its chardev makes SCM_RIGHTS fds blocking), so a read that
 * trusted the flag could wait forever once an ivshmem-doorbell peer
 * joined. The control path is the only reader: readable stays readable.
 */
static bool
efd_take(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t cnt;

	if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLIN))
		return false;
	return read(fd, &cnt, sizeof(cnt)) == sizeof(cnt);
}

static int
sock_vector_ack(struct ivshm_dev *dev, uint32_t vec)
{
	struct sock_dev *s = sdev(dev);

	if (!efd_take(dev->vec_fd[vec]))
		return 0;
	if (!(__atomic_load_n(&s->int_ctrl, __ATOMIC_ACQUIRE) &
			IVSHM_INT_ENABLE)) {
		count(&dev->stats.irqs_masked);
		return 0;
	}
	if (s->oneshot)
		__atomic_and_fetch(&s->int_ctrl, ~(uint32_t)IVSHM_INT_ENABLE,
			__ATOMIC_RELEASE);
	count(&dev->stats.irqs_delivered);
	return 1;
}

static bool
sock_peer_present(const struct ivshm_dev *dev, uint32_t id)
{
	const struct sock_dev *s = (const struct sock_dev *)dev;

	if (id == dev->info.id)
		return true;
	return __atomic_load_n(&s->peers[id].live, __ATOMIC_ACQUIRE) != 0;
}

static void
sock_close(struct ivshm_dev *dev)
{
	struct sock_dev *s = sdev(dev);
	uint32_t i, v;

	msg_reset(s);
	if (s->sock >= 0)
		close(s->sock);
	if (dev->vec_fd != NULL) {
		for (v = 0; v < dev->info.vectors; v++)
			if (dev->vec_fd[v] >= 0)
				close(dev->vec_fd[v]);
		free(dev->vec_fd);
	}
	if (s->peers != NULL) {
		for (i = 0; i < dev->info.max_peers; i++) {
			if (s->peers[i].fd == NULL)
				continue;
			for (v = 0; v < dev->info.vectors; v++)
				if (s->peers[i].fd[v] >= 0)
					close(s->peers[i].fd[v]);
			free(s->peers[i].fd);
		}
		free(s->peers);
	}
	if (s->sink_fd >= 0)
		close(s->sink_fd);
	if (s->quiet_fd >= 0)
		close(s->quiet_fd);
	free(dev->peer_gen);
	ivshm_map_put(dev->map);
	free(s);
}

static const struct ivshm_transport_ops sock_ops = {
	.name = "socket",
	.reg_read = sock_reg_read,
	.reg_write = sock_reg_write,
	.set_oneshot = sock_set_oneshot,
	.vector_ack = sock_vector_ack,
	.process = sock_process,
	.peer_present = sock_peer_present,
	.close = sock_close,
};

static int
map_at(void *addr, size_t len, int prot, int fd, uint64_t off)
{
	void *p;

	if (len == 0)
		return 0;
	p = mmap(addr, len, prot, MAP_SHARED | MAP_FIXED, fd, (off_t)off);
	if (p == MAP_FAILED) {
		IVSHM_LOG(ERR, "mmap of 0x%zx bytes at offset 0x%llx: %s", len,
			(unsigned long long)off, strerror(errno));
		return -errno;
	}
	return 0;
}

/* Validate INIT (in s->msg) and its fd, map the region. */
static int
setup_from_init(struct sock_dev *s)
{
	struct ivshm_dev *dev = &s->dev;
	struct ivshm_msg_init m;
	struct ivshm_info *in = &dev->info;
	uint64_t st_size, outs, out_off, size, page, map_len;
	uint32_t version, compat, i;
	struct ivshm_map *map;
	struct statfs sf;
	struct stat sb;
	uint8_t *res, *base;
	bool bad;
	int fd, ret;
	long ps;

	msg_copy(s, &m, sizeof(m));
	if (le32toh(m.hdr.type) != IVSHM_MSG_INIT) {
		IVSHM_LOG(ERR, "first server message is type %u, not INIT",
			le32toh(m.hdr.type));
		return -EPROTO;
	}
	fd = msg_take_fd(s, &bad);
	if (bad || fd < 0) {
		IVSHM_LOG(ERR, "INIT must carry exactly one fd (the shared "
			"memory)");
		if (fd >= 0)
			close(fd);
		return -EPROTO;
	}
	ret = -EPROTO;
	if (s->len < sizeof(m)) {
		IVSHM_LOG(ERR, "INIT of %u bytes, expected at least %zu",
			s->len, sizeof(m));
		goto out_fd;
	}
	version = le32toh(m.version);
	compat = le32toh(m.compatible_version);
	if (version < IVSHM_PROTOCOL_VERSION ||
			compat > IVSHM_PROTOCOL_VERSION) {
		IVSHM_LOG(ERR, "server speaks ivshmem protocol %u (compatible "
			"with %u); this peer speaks %u", version, compat,
			IVSHM_PROTOCOL_VERSION);
		goto out_fd;
	}
	in->id = le32toh(m.id);
	in->max_peers = le32toh(m.max_peers);
	in->vectors = le32toh(m.vectors);
	in->protocol = le32toh(m.protocol);
	in->output_section_size = le64toh(m.output_section_size);
	in->transport = sock_ops.name;
	if (in->max_peers < IVSHM_MIN_PEERS || in->max_peers > IVSHM_MAX_PEERS ||
			in->id >= in->max_peers) {
		IVSHM_LOG(ERR, "INIT: id %u / max_peers %u out of range",
			in->id, in->max_peers);
		goto out_fd;
	}
	if (in->vectors < 1 || in->vectors > IVSHM_MAX_VECTORS) {
		IVSHM_LOG(ERR, "INIT: %u vectors (1..%u)", in->vectors,
			IVSHM_MAX_VECTORS);
		goto out_fd;
	}
	if (in->protocol > 0xffff) {
		IVSHM_LOG(ERR, "INIT: protocol 0x%x is not 16-bit",
			in->protocol);
		goto out_fd;
	}
	ret = -EINVAL;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size <= 0) {
		IVSHM_LOG(ERR, "INIT: the shared memory fd is not a non-empty "
			"regular file/shm object");
		goto out_fd;
	}
	size = (uint64_t)sb.st_size;
	ps = sysconf(_SC_PAGESIZE);
	page = ps > 0 ? (uint64_t)ps : 4096;
	if (fstatfs(fd, &sf) == 0 &&
			(uint32_t)sf.f_type == (uint32_t)HUGETLBFS_MAGIC)
		page = (uint64_t)sf.f_bsize;
	st_size = ivshm_state_table_size(in->max_peers);
	if (in->output_section_size > size ||
			(in->output_section_size != 0 &&
			 in->max_peers > size / in->output_section_size)) {
		IVSHM_LOG(ERR, "INIT: %u output sections of 0x%llx bytes do "
			"not fit in the 0x%llx-byte shared memory",
			in->max_peers,
			(unsigned long long)in->output_section_size,
			(unsigned long long)size);
		goto out_fd;
	}
	outs = in->output_section_size * in->max_peers;
	if (st_size + outs > size) {
		IVSHM_LOG(ERR, "INIT: state table 0x%llx + %u x output section "
			"0x%llx exceed the shared memory (0x%llx bytes)",
			(unsigned long long)st_size, in->max_peers,
			(unsigned long long)in->output_section_size,
			(unsigned long long)size);
		goto out_fd;
	}
	out_off = size - outs;
	if (in->output_section_size != 0 &&
			(in->output_section_size % page != 0 ||
			 out_off % page != 0)) {
		IVSHM_LOG(ERR, "INIT: output sections (offset 0x%llx, size "
			"0x%llx) are not aligned to the 0x%llx-byte pages of "
			"the shared memory: they cannot be mapped with their "
			"own access rights",
			(unsigned long long)out_off,
			(unsigned long long)in->output_section_size,
			(unsigned long long)page);
		goto out_fd;
	}
	in->region_size = size;
	in->state_table_size = st_size;
	in->rw_section_offset = st_size;
	in->rw_section_size = out_off - st_size;
	in->output_section_offset = out_off;
	in->page_size = page;

	/* Reserve the whole range aligned to the page, then map sections. */
	ret = -ENOMEM;
	map = calloc(1, sizeof(*map));
	if (map == NULL)
		goto out_fd;
	map->refcnt = 1;
	dev->map = map;
	map_len = (size + page - 1) / page * page;
	res = mmap(NULL, map_len + page, PROT_NONE,
		MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED) {
		IVSHM_LOG(ERR, "cannot reserve 0x%llx bytes of address space",
			(unsigned long long)map_len);
		goto out_fd;
	}
	base = (uint8_t *)(((uintptr_t)res + page - 1) & ~(uintptr_t)(page - 1));
	if (base > res)
		munmap(res, (size_t)(base - res));
	munmap(base + map_len, (size_t)(res + page - base));
	map->base = base;
	map->len = map_len;
	if (page <= st_size) {
		ret = map_at(base, st_size, PROT_READ, fd, 0);
		if (ret == 0)
			ret = map_at(base + st_size, in->rw_section_size,
				PROT_READ | PROT_WRITE, fd, st_size);
	} else {
		/* huge pages: state table and R/W share a page */
		ret = map_at(base, out_off, in->rw_section_size ?
			PROT_READ | PROT_WRITE : PROT_READ, fd, 0);
	}
	if (ret == 0 && outs != 0)
		ret = map_at(base + out_off, outs, PROT_READ, fd, out_off);
	if (ret == 0 && outs != 0)
		ret = map_at(base + out_off + in->id * in->output_section_size,
			in->output_section_size, PROT_READ | PROT_WRITE, fd,
			out_off + in->id * in->output_section_size);
	if (ret != 0)
		goto out_fd;
	map->state_rw_len = (st_size + page - 1) / page * page;
	map->state_rw = mmap(NULL, map->state_rw_len, PROT_READ | PROT_WRITE,
		MAP_SHARED, fd, 0);
	if (map->state_rw == MAP_FAILED) {
		map->state_rw = NULL;
		ret = -errno;
		IVSHM_LOG(ERR, "cannot map the state table: %s", strerror(errno));
		goto out_fd;
	}
	s->state_rw = map->state_rw;
	dev->state_table = (const volatile uint32_t *)base;
	dev->rw = in->rw_section_size ? base + st_size : NULL;
	dev->outs = outs ? base + out_off : NULL;
	dev->own = outs ? base + out_off + in->id * in->output_section_size :
		NULL;
	ret = -ENOMEM;
	dev->vec_fd = malloc(sizeof(int) * in->vectors);
	s->peers = calloc(in->max_peers, sizeof(*s->peers));
	dev->peer_gen = calloc(in->max_peers, sizeof(uint32_t));
	if (dev->vec_fd == NULL || s->peers == NULL || dev->peer_gen == NULL)
		goto out_fd;
	for (i = 0; i < in->vectors; i++)
		dev->vec_fd[i] = -1;
	ret = 0;
out_fd:
	close(fd);	/* the mappings keep the memory */
	return ret;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
ivshm_dev_connect(const char *path, int timeout_ms, struct ivshm_dev **devp)
{
	struct sockaddr_un sa;
	struct sock_dev *s;
	bool have_init = false;
	int64_t deadline;
	int ret;

	*devp = NULL;
	if (path == NULL || strlen(path) >= sizeof(sa.sun_path)) {
		IVSHM_LOG(ERR, "bad server socket path");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->sock = -1;
	s->dev.ops = &sock_ops;
	s->dev.ctrl_fd = -1;
	s->sink_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	s->quiet_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	s->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->sink_fd < 0 || s->quiet_fd < 0 || s->sock < 0) {
		ret = -errno;
		IVSHM_LOG(ERR, "cannot create fds: %s", strerror(errno));
		goto fail;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, path);
	if (connect(s->sock, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		ret = -errno;
		IVSHM_LOG(ERR, "cannot connect to the ivshmem2 server at %s: %s",
			path, strerror(errno));
		goto fail;
	}
	if (fcntl(s->sock, F_SETFL, O_NONBLOCK) != 0) {
		ret = -errno;
		goto fail;
	}
	s->dev.ctrl_fd = s->sock;
	deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS);
	for (;;) {
		int r = msg_read(s);

		if (r == 0) {
			struct pollfd pfd = { .fd = s->sock, .events = POLLIN };
			int64_t left = deadline - now_ms();

			if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
				IVSHM_LOG(ERR, "%s: handshake timed out (%s)",
					path, have_init ? "own eventfds missing"
					: "no INIT");
				ret = -ETIMEDOUT;
				goto fail;
			}
			continue;
		}
		if (r < 0) {
			IVSHM_LOG(ERR, "%s: %s during the handshake%s", path,
				r == -1 ? "server closed the connection" :
				r == -3 ? "malformed message" : "socket error",
				!have_init && r == -1 ?
				" (no free peer ID: max_peers reached?)" : "");
			ret = r == -1 && !have_init ? -ECONNREFUSED : -EPROTO;
			goto fail;
		}
		if (!have_init) {
			ret = setup_from_init(s);
			if (ret != 0)
				goto fail;
			have_init = true;
		} else {
			msg_handle(s);
		}
		msg_reset(s);
		if (have_init && s->own_nfds == s->dev.info.vectors)
			break;
	}
	s->handshake_done = true;
	IVSHM_LOG(INFO, "connected to %s as peer %u of %u, %u vectors, "
		"protocol 0x%04x, region 0x%llx bytes (output sections 0x%llx)",
		path, s->dev.info.id, s->dev.info.max_peers,
		s->dev.info.vectors, s->dev.info.protocol,
		(unsigned long long)s->dev.info.region_size,
		(unsigned long long)s->dev.info.output_section_size);
	*devp = &s->dev;
	return 0;
fail:
	sock_close(&s->dev);
	return ret;
}
