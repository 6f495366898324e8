/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * ivshmem2-server: shared memory, listening socket, clients.
 *
 * The server only sends. Each client's socket is non-blocking; a message
 * that does not fit goes to a per-client queue (holding its own duplicate
 * of the fd to pass) that is flushed when the socket becomes writable. A
 * client whose queue grows past a bound, that sends a byte, or that hangs
 * up is dropped: its state-table entry is zeroed, then every other client
 * gets PEER_GONE. No client can block the others.
 */

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "server.h"
#include "vmlink_sock.h"
#include "ivshm_proto.h"
#include "ivshm_net_layout.h"

#define LISTEN_BACKLOG 16
#define Q_LIMIT_MAX (1u << 20)
#define MAX_REGION (1ull << 41)

static FILE *
log_stream(void)
{
	return stderr;
}

static void
vlog_line(const char *fmt, va_list ap)
{
	struct timespec ts;
	struct tm tm;
	char stamp[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	fprintf(log_stream(), "%s.%03ld %s[%d]: ", stamp, ts.tv_nsec / 1000000,
		SRV_NAME, (int)getpid());
	vfprintf(log_stream(), fmt, ap);
	fputc('\n', log_stream());
	fflush(log_stream());
}

void
srv_log(const struct server *s, int verbose_only, const char *fmt, ...)
{
	va_list ap;

	if (s->opt.quiet || (verbose_only && !s->opt.verbose))
		return;
	va_start(ap, fmt);
	vlog_line(fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 2, 0)))
vmsg(const char *kind, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: %s", SRV_NAME, kind);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	fflush(stderr);
}

void
srv_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
}

/* How the layout was adjusted from what was asked: worth a line at start,
 * not an error. */
static void __attribute__((format(printf, 2, 3)))
srv_note(const struct srv_opts *o, const char *fmt, ...)
{
	va_list ap;

	if (o->quiet)
		return;
	va_start(ap, fmt);
	vmsg("note: ", fmt, ap);
	va_end(ap);
}

static uint64_t
align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static bool
is_pow2(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

/*
 * QEMU maps the whole region as BAR2, and a PCI BAR is a power of two in
 * size: QEMU 7.2 aborts (an assertion in pci_register_bar) on any other
 * size. Grow the region to the next power of two, the surplus going to
 * the R/W section, or refuse a --size that is not one.
 */
static int
layout_qemu_bar(const struct srv_opts *o, struct srv_layout *lay)
{
	uint64_t sz = 1;

	while (sz < lay->total && sz <= MAX_REGION)
		sz <<= 1;
	if (o->size != 0 && !is_pow2(lay->total)) {
		srv_err("--size 0x%llx: with --qemu-socket the region is the "
			"guests' BAR2, whose size QEMU requires to be a power "
			"of two (e.g. 0x%llx)", (unsigned long long)o->size,
			(unsigned long long)sz);
		return -1;
	}
	if (sz > MAX_REGION) {
		srv_err("region of 0x%llx bytes: the next power of two (QEMU's "
			"BAR2) exceeds 0x%llx", (unsigned long long)lay->total,
			(unsigned long long)MAX_REGION);
		return -1;
	}
	if (sz != lay->total)
		srv_note(o, "region grown from 0x%llx to 0x%llx bytes "
			"(QEMU's BAR2 is a power of two); the R/W section "
			"takes the surplus", (unsigned long long)lay->total,
			(unsigned long long)sz);
	lay->out_off += sz - lay->total;
	lay->rw_size += sz - lay->total;
	lay->total = sz;
	return 0;
}

int
srv_layout_compute(const struct srv_opts *o, uint64_t page, bool huge,
		struct srv_layout *lay)
{
	uint64_t st, base, out_off, outs, total, sz;

	memset(lay, 0, sizeof(*lay));
	lay->page = page;
	lay->hugetlbfs = huge;
	st = ivshm_state_table_size(o->max_peers);
	if (o->out_size % page != 0) {
		srv_err("output section size 0x%llx is not a multiple of the "
			"%s page size 0x%llx (each output section must be "
			"mappable with its own access rights)",
			(unsigned long long)o->out_size,
			huge ? "hugetlbfs" : "system", (unsigned long long)page);
		return -1;
	}
	if (o->out_size != 0 && o->max_peers > UINT64_MAX / 4 / o->out_size) {
		srv_err("%u output sections of 0x%llx bytes overflow",
			o->max_peers, (unsigned long long)o->out_size);
		return -1;
	}
	outs = (uint64_t)o->max_peers * o->out_size;
	if (o->rw_set && o->rw_size > UINT64_MAX / 4) {
		srv_err("R/W section size 0x%llx is too large",
			(unsigned long long)o->rw_size);
		return -1;
	}
	base = st + (o->rw_set ? o->rw_size : 0);
	out_off = align_up(base, page);
	if (o->rw_set && out_off != base && !o->size)
		srv_note(o, "R/W section rounded up from 0x%llx "
			"to 0x%llx so that the output sections start on a "
			"0x%llx boundary", (unsigned long long)o->rw_size,
			(unsigned long long)(out_off - st),
			(unsigned long long)page);
	total = out_off + outs;
	if (o->size) {
		if (o->size < st + (o->rw_set ? o->rw_size : 0) + outs) {
			srv_err("total size 0x%llx is too small: state table "
				"0x%llx + R/W section 0x%llx + %u x output "
				"section 0x%llx = 0x%llx",
				(unsigned long long)o->size,
				(unsigned long long)st,
				(unsigned long long)(o->rw_set ? o->rw_size : 0),
				o->max_peers, (unsigned long long)o->out_size,
				(unsigned long long)(st + (o->rw_set ?
					o->rw_size : 0) + outs));
			return -1;
		}
		sz = align_up(o->size, page);
		if (sz < total) {
			/* only the page rounding of the R/W section is short */
			srv_err("total size 0x%llx (rounded to 0x%llx) cannot "
				"hold the layout: the output sections must "
				"start on a 0x%llx boundary, which needs 0x%llx "
				"bytes", (unsigned long long)o->size,
				(unsigned long long)sz,
				(unsigned long long)page,
				(unsigned long long)total);
			return -1;
		}
		if (o->rw_set && sz != total) {
			srv_err("inconsistent sizes: --size 0x%llx (0x%llx "
				"after rounding to the 0x%llx page) but state "
				"table 0x%llx + R/W section 0x%llx + %u x "
				"output section 0x%llx = 0x%llx; give --size "
				"or --rw-section-size, not both",
				(unsigned long long)o->size,
				(unsigned long long)sz,
				(unsigned long long)page,
				(unsigned long long)st,
				(unsigned long long)(out_off - st),
				o->max_peers, (unsigned long long)o->out_size,
				(unsigned long long)total);
			return -1;
		}
		if (sz != o->size)
			srv_note(o, "total size rounded up from 0x%llx to "
				"0x%llx (backing page 0x%llx)",
				(unsigned long long)o->size,
				(unsigned long long)sz,
				(unsigned long long)page);
		out_off += sz - total;
		total = sz;
	}
	if (o->protocol == IVSHM_PROTO_NET && o->out_size != 0) {
		struct ivshm_net_layout nl;

		if (ivshm_net_layout_calc(o->out_size, &nl) != 0) {
			srv_err("output section size 0x%llx is unusable for "
				"protocol 0x0001 (ivshmem-net): it needs a ring "
				"of at least 64 entries below 1/8 of the "
				"section and 272 bytes of frame data (minimum "
				"0x4000), and at most 4 GiB - 1",
				(unsigned long long)o->out_size);
			return -1;
		}
	}
	lay->st_size = st;
	lay->rw_size = out_off - st;
	lay->out_size = o->out_size;
	lay->out_off = out_off;
	lay->total = total;
	lay->has_hdr = o->max_peers <= IVSHM_HDR_MAX_PEERS;
	if (o->qemu_socket_path != NULL)
		return layout_qemu_bar(o, lay);
	return 0;
}

int
srv_open_shm(struct server *s)
{
	const struct srv_opts *o = &s->opt;
	const char *what = o->shm_file ? o->shm_file : o->shm_name;
	struct stat st;
	int fd, err;

	if (o->shm_file)
		fd = open(o->shm_file, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
			0600);
	else
		fd = shm_open(o->shm_name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd >= 0) {
		s->shm_created = true;
	} else if (errno == EEXIST && o->force) {
		if (o->shm_file)
			fd = open(o->shm_file, O_RDWR | O_CLOEXEC);
		else
			fd = shm_open(o->shm_name, O_RDWR, 0600);
		if (fd < 0) {
			srv_err("cannot open existing shared memory %s: %s",
				what, strerror(errno));
			return -1;
		}
		srv_log(s, 0, "reusing existing shared memory %s (--force); "
			"it will not be removed at exit", what);
	} else if (errno == EEXIST) {
		srv_err("shared memory %s already exists (another server, or "
			"left over by a killed one): remove it, choose another "
			"name, or pass --force to reuse it", what);
		return -1;
	} else {
		srv_err("cannot create shared memory %s: %s", what,
			strerror(errno));
		return -1;
	}
	s->shm_fd = fd;
	if (ftruncate(fd, (off_t)s->lay.total) != 0) {
		srv_err("cannot size shared memory %s to 0x%llx bytes: %s", what,
			(unsigned long long)s->lay.total, strerror(errno));
		return -1;
	}
	/* Reserve the memory now rather than SIGBUS a peer later. */
	err = posix_fallocate(fd, 0, (off_t)s->lay.total);
	if (err == ENOSPC || err == ENOMEM) {
		srv_err("not enough %s for 0x%llx bytes of shared memory in %s",
			s->lay.hugetlbfs ? "free huge pages" : "memory",
			(unsigned long long)s->lay.total, what);
		return -1;
	} else if (err != 0 && err != EOPNOTSUPP && err != EINVAL) {
		srv_err("cannot allocate shared memory %s: %s", what,
			strerror(err));
		return -1;
	}
	if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != s->lay.total) {
		srv_err("shared memory %s has size %lld, expected 0x%llx", what,
			(long long)st.st_size, (unsigned long long)s->lay.total);
		return -1;
	}
	s->state_map_len = (size_t)align_up(s->lay.st_size, s->lay.page);
	s->state = mmap(NULL, s->state_map_len, PROT_READ | PROT_WRITE,
		MAP_SHARED, fd, 0);
	if (s->state == MAP_FAILED) {
		s->state = NULL;
		srv_err("cannot map the state table of %s: %s", what,
			strerror(errno));
		return -1;
	}
	memset((void *)(uintptr_t)s->state, 0, (size_t)s->lay.st_size);
	srv_write_hdr(s);
	return 0;
}

/* (Re)write the layout header: at start, and before each QEMU client
 * maps the memory (a guest may have scribbled on it). */
void
srv_write_hdr(struct server *s)
{
	struct ivshm_shm_hdr h, *dst;

	if (!s->lay.has_hdr)
		return;
	memset(&h, 0, sizeof(h));
	h.magic = htole32(IVSHM_HDR_MAGIC);
	h.version = htole32(IVSHM_HDR_VERSION);
	h.max_peers = htole32(s->opt.max_peers);
	h.vectors = htole32(s->opt.vectors);
	h.protocol = htole32(s->opt.protocol);
	h.region_size = htole64(s->lay.total);
	h.state_table_size = htole64(s->lay.st_size);
	h.rw_section_size = htole64(s->lay.rw_size);
	h.output_section_size = htole64(s->lay.out_size);
	h.check = htole32(ivshm_hdr_check(&h));
	dst = (struct ivshm_shm_hdr *)((uintptr_t)s->state + IVSHM_HDR_OFFSET);
	if (memcmp(dst, &h, sizeof(h)) != 0) {
		if (s->hdr_written)
			srv_log(s, 0, "the layout header was overwritten by a "
				"peer: restored");
		memcpy(dst, &h, sizeof(h));
	}
	s->hdr_written = true;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/*
 * Bind and listen under a temporary name, then rename it to the real path:
 * whoever sees the socket file (a script, QEMU, a test) can connect at
 * once, never in the window between bind() and listen(). A path too long
 * for the temporary suffix is bound directly.
 */
static int
bind_listening(int fd, struct sockaddr_un *sa)
{
	struct sockaddr_un tmp = *sa;
	const char *path = sa->sun_path;
	int n;

	n = snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%s.%d", path,
		(int)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp.sun_path))
		tmp = *sa;
	else
		unlink(tmp.sun_path);	/* a leftover of a crashed server */
	if (bind(fd, (struct sockaddr *)&tmp, sizeof(tmp)) != 0) {
		srv_err("cannot bind %s: %s", tmp.sun_path, strerror(errno));
		return -1;
	}
	if (listen(fd, LISTEN_BACKLOG) != 0) {
		srv_err("cannot listen on %s: %s", tmp.sun_path,
			strerror(errno));
		unlink(tmp.sun_path);
		return -1;
	}
	if (strcmp(tmp.sun_path, path) != 0 &&
			rename(tmp.sun_path, path) != 0) {
		srv_err("cannot rename %s to %s: %s", tmp.sun_path, path,
			strerror(errno));
		unlink(tmp.sun_path);
		return -1;
	}
	return 0;
}

static int
open_listener(struct server *s, struct listener *l)
{
	const char *path = l->path;
	struct sockaddr_un sa;
	struct stat st;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		srv_err("socket path %s is too long (at most %zu bytes)", path,
			sizeof(sa.sun_path) - 1);
		return -1;
	}
	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0) {
		int probe;

		if (!S_ISSOCK(st.st_mode)) {
			srv_err("%s exists and is not a socket", path);
			return -1;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa,
				sizeof(sa)) == 0) {
			close(probe);
			srv_err("another server is listening on %s", path);
			return -1;
		}
		if (probe >= 0)
			close(probe);
		srv_log(s, 0, "removing stale socket %s", path);
		if (unlink(path) != 0) {
			srv_err("cannot remove stale socket %s: %s", path,
				strerror(errno));
			return -1;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		srv_err("socket: %s", strerror(errno));
		return -1;
	}
	if (bind_listening(fd, &sa) != 0) {
		close(fd);
		return -1;
	}
	l->bound = true;
	l->fd = fd;
	return 0;
}

/* -S (ivshmem v2 messages) and, if given, -Q (QEMU ivshmem-doorbell). */
int
srv_open_sockets(struct server *s)
{
	unsigned int i;

	s->lsn[0].path = s->opt.socket_path;
	s->lsn[0].kind = CLIENT_IVSHM2;
	s->n_lsn = 1;
	if (s->opt.qemu_socket_path != NULL) {
		s->lsn[1].path = s->opt.qemu_socket_path;
		s->lsn[1].kind = CLIENT_QEMU;
		s->n_lsn = 2;
	}
	for (i = 0; i < s->n_lsn; i++)
		if (open_listener(s, &s->lsn[i]) != 0)
			return -1;
	return 0;
}

static void
client_drop(struct server *s, struct client *c, const char *why)
{
	if (c->dead)
		return;
	c->dead = true;
	c->why = why;
	(void)s;
}

static int
client_enqueue(struct server *s, struct client *c, const void *buf,
		size_t len, size_t off, int fd)
{
	struct out_msg *m;

	if (c->q_count >= s->q_limit) {
		srv_log(s, 0, "peer %u does not read its socket (%u messages "
			"pending): dropping it", c->id, c->q_count);
		client_drop(s, c, "not reading");
		return -1;
	}
	if (c->q_count == c->q_cap) {
		uint32_t ncap = c->q_cap ? c->q_cap * 2 : 16, i;
		struct out_msg *nq = calloc(ncap, sizeof(*nq));

		if (nq == NULL) {
			client_drop(s, c, "out of memory");
			return -1;
		}
		for (i = 0; i < c->q_count; i++)
			nq[i] = c->q[(c->q_head + i) % c->q_cap];
		free(c->q);
		c->q = nq;
		c->q_cap = ncap;
		c->q_head = 0;
	}
	m = &c->q[(c->q_head + c->q_count) % c->q_cap];
	memcpy(m->buf, buf, len);
	m->len = (uint16_t)len;
	m->off = (uint16_t)off;
	m->fd = -1;
	if (fd >= 0 && off == 0) {
		m->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (m->fd < 0) {
			srv_log(s, 0, "peer %u: cannot queue an fd: %s: dropping "
				"it", c->id, strerror(errno));
			client_drop(s, c, "cannot queue");
			return -1;
		}
	}
	c->q_count++;
	return 0;
}

/* Send or queue one message; marks the client dead on failure. */
static void
client_send(struct server *s, struct client *c, const void *buf, size_t len,
		int fd)
{
	ssize_t n = 0;

	if (c->dead)
		return;
	if (c->q_count == 0) {
		n = vmlink_send_fd(c->sock, buf, len, fd);
		if (n == (ssize_t)len)
			return;
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				srv_log(s, 1, "peer %u: send: %s", c->id,
					strerror(errno));
				client_drop(s, c, "send failed");
				return;
			}
			n = 0;
		}
	}
	client_enqueue(s, c, buf, len, (size_t)n, n > 0 ? -1 : fd);
}

static void
client_flush(struct server *s, struct client *c)
{
	while (c->q_count && !c->dead) {
		struct out_msg *m = &c->q[c->q_head];
		ssize_t n = vmlink_send_fd(c->sock, m->buf + m->off, m->len - m->off,
			m->off == 0 ? m->fd : -1);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			srv_log(s, 1, "peer %u: send: %s", c->id,
				strerror(errno));
			client_drop(s, c, "send failed");
			return;
		}
		if (n > 0 && m->fd >= 0) {
			close(m->fd);
			m->fd = -1;
		}
		m->off += (uint16_t)n;
		if (m->off == m->len) {
			c->q_head = (c->q_head + 1) % c->q_cap;
			c->q_count--;
		}
	}
}

/* QEMU's protocol: every message is one little-endian int64. */
static void
qemu_send(struct server *s, struct client *to, int64_t v, int fd)
{
	uint64_t le = htole64((uint64_t)v);

	client_send(s, to, &le, sizeof(le), fd);
}

/* 'to' learns (id, vector)'s eventfd: a peer's doorbell target, or, for
 * its own ID, the fd it receives on. */
static void
send_event_fd(struct server *s, struct client *to, uint32_t id,
		uint32_t vector, int fd)
{
	struct ivshm_msg_event_fd m;

	srv_log(s, 1, "-> peer %u: EVENT_FD id %u vector %u", to->id, id,
		vector);
	if (to->kind == CLIENT_QEMU) {
		qemu_send(s, to, id, fd);	/* the N-th is vector N-1 */
		return;
	}
	m.hdr.type = htole32(IVSHM_MSG_EVENT_FD);
	m.hdr.len = htole32(sizeof(m));
	m.id = htole32(id);
	m.vector = htole32(vector);
	client_send(s, to, &m, sizeof(m), fd);
}

static void
send_peer_gone(struct server *s, struct client *to, uint32_t id)
{
	struct ivshm_msg_peer_gone m;

	srv_log(s, 1, "-> peer %u: PEER_GONE id %u", to->id, id);
	if (to->kind == CLIENT_QEMU) {
		qemu_send(s, to, id, -1);	/* an ID without an fd */
		return;
	}
	m.hdr.type = htole32(IVSHM_MSG_PEER_GONE);
	m.hdr.len = htole32(sizeof(m));
	m.id = htole32(id);
	client_send(s, to, &m, sizeof(m), -1);
}

/* INIT and the memory. QEMU: version 0, its ID, then -1 with the memory
 * (the layout is in the header, rewritten first). */
static void
send_init(struct server *s, struct client *c)
{
	struct ivshm_msg_init init;
	uint32_t proto = ivshm_protocol_of_peer(s->opt.protocol, c->id);

	if (c->kind == CLIENT_QEMU) {
		srv_write_hdr(s);
		srv_log(s, 1, "-> peer %u: QEMU version 0, ID, memory", c->id);
		qemu_send(s, c, 0, -1);
		qemu_send(s, c, c->id, -1);
		qemu_send(s, c, -1, s->shm_fd);
		return;
	}
	memset(&init, 0, sizeof(init));
	init.hdr.type = htole32(IVSHM_MSG_INIT);
	init.hdr.len = htole32(sizeof(init));
	init.version = htole32(IVSHM_PROTOCOL_VERSION);
	init.compatible_version = htole32(IVSHM_PROTOCOL_VERSION);
	init.id = htole32(c->id);
	init.max_peers = htole32(s->opt.max_peers);
	init.vectors = htole32(s->opt.vectors);
	init.protocol = htole32(proto);
	init.output_section_size = htole64(s->lay.out_size);
	srv_log(s, 1, "-> peer %u: INIT max_peers %u vectors %u protocol "
		"0x%04x output_section_size 0x%llx", c->id, s->opt.max_peers,
		s->opt.vectors, proto, (unsigned long long)s->lay.out_size);
	client_send(s, c, &init, sizeof(init), s->shm_fd);
}

static void
client_free(struct server *s, struct client *c)
{
	uint32_t i;

	for (i = 0; i < c->q_count; i++) {
		struct out_msg *m = &c->q[(c->q_head + i) % c->q_cap];

		if (m->fd >= 0)
			close(m->fd);
	}
	free(c->q);
	if (c->efd != NULL) {
		for (i = 0; i < s->opt.vectors; i++)
			if (c->efd[i] >= 0)
				close(c->efd[i]);
		free(c->efd);
	}
	if (c->sock >= 0)
		close(c->sock);
	free(c);
}

/* A departed peer's state changed to 0: like the device, raise vector 0
 * on everyone who knew it (the server holds every eventfd). */
static void
raise_state_vector(struct server *s, uint32_t gone)
{
	uint64_t one = 1;
	uint32_t j;

	for (j = 0; j < s->opt.max_peers; j++) {
		struct client *o = s->by_id[j];

		if (o == NULL || o->dead || j == gone)
			continue;
		if (write(o->efd[0], &one, sizeof(one)) < 0 && errno != EAGAIN)
			srv_log(s, 0, "peer %u: cannot raise vector 0: %s", j,
				strerror(errno));
	}
}

/* Remove dead clients: state entry zeroed, vector 0 raised on the
 * others, then they are told (and may die in turn). */
static void
reap_dead(struct server *s)
{
	bool again = true;

	while (again) {
		uint32_t id, j;

		again = false;
		for (id = 0; id < s->opt.max_peers; id++) {
			struct client *c = s->by_id[id];

			if (c == NULL || !c->dead)
				continue;
			s->by_id[id] = NULL;
			s->n_clients--;
			/* The entry is zeroed before anyone hears of it. */
			__atomic_store_n(&s->state[id], 0, __ATOMIC_SEQ_CST);
			srv_log(s, 0, "peer %u left (%s)", id,
				c->why ? c->why : "disconnected");
			if (c->announced) {
				raise_state_vector(s, id);
				for (j = 0; j < s->opt.max_peers; j++) {
					struct client *o = s->by_id[j];

					if (o == NULL || o->dead)
						continue;
					send_peer_gone(s, o, id);
					if (o->dead)
						again = true;
				}
			}
			client_free(s, c);
		}
	}
}

static int reserve_fd = -1;

/* accept() failed: out of fds, take the connection off the backlog
 * anyway (with the reserved fd) so that poll does not spin. */
static void
accept_failed(struct server *s, struct listener *l)
{
	int fd;

	if (errno == EMFILE || errno == ENFILE) {
		srv_log(s, 0, "out of file descriptors: refusing a client");
		if (reserve_fd >= 0) {
			close(reserve_fd);
			fd = accept(l->fd, NULL, NULL);
			if (fd >= 0)
				close(fd);
			reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		}
	} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
			errno != EINTR && errno != ECONNABORTED) {
		srv_log(s, 0, "accept: %s", strerror(errno));
	}
}

/* A client for the lowest free ID with its eventfds, or NULL. */
static struct client *
client_new(struct server *s, int fd, enum client_kind kind)
{
	struct client *c;
	uint32_t id, v;

	for (id = 0; id < s->opt.max_peers; id++)
		if (s->by_id[id] == NULL)
			break;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return NULL;
	}
	c->kind = kind;
	c->sock = fd;
	c->id = id;
	c->efd = malloc(sizeof(int) * s->opt.vectors);
	if (c->efd == NULL) {
		client_free(s, c);
		return NULL;
	}
	for (v = 0; v < s->opt.vectors; v++)
		c->efd[v] = -1;
	for (v = 0; v < s->opt.vectors; v++) {
		c->efd[v] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (c->efd[v] < 0) {
			srv_log(s, 0, "refusing a client: eventfd: %s",
				strerror(errno));
			client_free(s, c);
			return NULL;
		}
	}
	return c;
}

static void
accept_new(struct server *s, struct listener *l)
{
	struct client *c;
	uint32_t v, j;
	int fd;

	fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		accept_failed(s, l);
		return;
	}
	if (s->n_clients >= s->opt.max_peers) {
		srv_log(s, 0, "refusing a client: all %u peer IDs are in use",
			s->opt.max_peers);
		close(fd);
		return;
	}
	c = client_new(s, fd, l->kind);
	if (c == NULL)
		return;
	s->by_id[c->id] = c;
	s->n_clients++;
	__atomic_store_n(&s->state[c->id], 0, __ATOMIC_SEQ_CST);
	send_init(s, c);
	if (c->dead)
		return;

	/* The others learn the newcomer's eventfds... */
	for (j = 0; j < s->opt.max_peers; j++) {
		struct client *o = s->by_id[j];

		if (o == NULL || o == c || o->dead)
			continue;
		for (v = 0; v < s->opt.vectors; v++)
			send_event_fd(s, o, c->id, v, c->efd[v]);
	}
	c->announced = true;
	/* ...the newcomer theirs, then its own. */
	for (j = 0; j < s->opt.max_peers; j++) {
		struct client *o = s->by_id[j];

		if (o == NULL || o == c || o->dead)
			continue;
		for (v = 0; v < s->opt.vectors; v++)
			send_event_fd(s, c, j, v, o->efd[v]);
	}
	for (v = 0; v < s->opt.vectors; v++)
		send_event_fd(s, c, c->id, v, c->efd[v]);
	srv_log(s, 0, "peer %u joined%s (%u connected)", c->id,
		c->kind == CLIENT_QEMU ? " (QEMU)" : "", s->n_clients);
}

/* A client may only read: any byte, EOF or error drops it. */
static void
client_input(struct server *s, struct client *c)
{
	char b[64];
	ssize_t k = recv(c->sock, b, sizeof(b), MSG_DONTWAIT);

	if (k > 0) {
		srv_log(s, 0, "peer %u sent %zd byte(s): closing it", c->id, k);
		client_drop(s, c, "sent data");
	} else if (k == 0 || errno == ECONNRESET) {
		client_drop(s, c, "disconnected");
	} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		client_drop(s, c, "socket error");
	}
}

/* Poll state of one server loop: arrays for the listeners and clients. */
struct srv_poll {
	struct pollfd *pfd;
	struct client **pc;
};

/* One round of the server loop: wait (at most TIMEOUT; NULL: until
 * something happens, SIGTERM/SIGINT let through), serve every ready
 * socket. 0, or -1 when polling failed. */
static int
srv_round(struct server *s, struct srv_poll *p, const struct timespec *timeout)
{
	uint32_t n = 0, i, id;
	sigset_t waitmask;
	int r;

	sigemptyset(&waitmask);
	for (i = 0; i < s->n_lsn; i++) {
		p->pfd[n].fd = s->lsn[i].fd;
		p->pfd[n].events = POLLIN;
		p->pfd[n].revents = 0;
		p->pc[n++] = NULL;
	}
	for (id = 0; id < s->opt.max_peers; id++) {
		struct client *c = s->by_id[id];

		if (c == NULL)
			continue;
		p->pfd[n].fd = c->sock;
		p->pfd[n].events = POLLIN | (c->q_count ? POLLOUT : 0);
		p->pfd[n].revents = 0;
		p->pc[n++] = c;
	}
	/* SIGTERM/SIGINT are blocked except while waiting here. */
	r = ppoll(p->pfd, n, timeout, &waitmask);
	if (r < 0) {
		if (errno == EINTR)
			return 0;
		srv_err("poll: %s", strerror(errno));
		return -1;
	}
	for (i = s->n_lsn; i < n; i++) {
		struct client *c = p->pc[i];
		short rev = p->pfd[i].revents;

		if (rev & POLLOUT)
			client_flush(s, c);
		if (rev & POLLIN)
			client_input(s, c);
		if (rev & (POLLHUP | POLLERR | POLLNVAL))
			client_drop(s, c, "disconnected");
	}
	reap_dead(s);
	for (i = 0; i < s->n_lsn; i++) {
		if (!(p->pfd[i].revents & POLLIN))
			continue;
		accept_new(s, &s->lsn[i]);
		reap_dead(s);
	}
	return 0;
}

static int
srv_poll_init(struct server *s, struct srv_poll *p)
{
	uint32_t max = s->opt.max_peers + 2;
	uint64_t q;

	p->pfd = calloc(max, sizeof(*p->pfd));
	p->pc = calloc(max, sizeof(*p->pc));
	if (p->pfd == NULL || p->pc == NULL) {
		free(p->pfd);
		free(p->pc);
		srv_err("out of memory");
		return -1;
	}
	q = 2ull * s->opt.max_peers * s->opt.vectors + 64;
	s->q_limit = q > Q_LIMIT_MAX ? Q_LIMIT_MAX : (uint32_t)q;
	if (reserve_fd < 0)
		reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return 0;
}

static void
srv_poll_fini(struct srv_poll *p)
{
	free(p->pfd);
	free(p->pc);
	if (reserve_fd >= 0)
		close(reserve_fd);
	reserve_fd = -1;
}

int
srv_run(struct server *s)
{
	struct srv_poll p;

	if (srv_poll_init(s, &p) != 0)
		return -1;
	while (!s->stop)
		if (srv_round(s, &p, NULL) != 0)
			break;
	srv_poll_fini(&p);
	return 0;
}

int
srv_step(struct server *s)
{
	static const struct timespec now = { 0, 0 };
	struct srv_poll p;
	int r;

	if (srv_poll_init(s, &p) != 0)
		return -1;
	r = srv_round(s, &p, &now);
	srv_poll_fini(&p);
	return r;
}

void
srv_cleanup(struct server *s)
{
	unsigned int i;
	uint32_t id;

	/*
	 * The peers keep their mappings and each other's eventfds: links
	 * between them survive the server. No PEER_GONE on the way out.
	 */
	if (s->by_id != NULL) {
		for (id = 0; id < s->opt.max_peers; id++)
			if (s->by_id[id] != NULL)
				client_free(s, s->by_id[id]);
		free(s->by_id);
		s->by_id = NULL;
	}
	for (i = 0; i < s->n_lsn; i++) {
		struct listener *l = &s->lsn[i];

		if (l->fd >= 0)
			close(l->fd);
		l->fd = -1;
		if (l->bound && unlink(l->path) != 0 && errno != ENOENT)
			srv_err("cannot remove %s: %s", l->path,
				strerror(errno));
		l->bound = false;
	}
	if (s->state != NULL)
		munmap((void *)(uintptr_t)s->state, s->state_map_len);
	s->state = NULL;
	if (s->shm_fd >= 0)
		close(s->shm_fd);
	s->shm_fd = -1;
	if (s->shm_created) {
		if (s->opt.shm_file)
			unlink(s->opt.shm_file);
		else
			shm_unlink(s->opt.shm_name);
	}
	s->shm_created = false;
}
