/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test front-end: see fe.h.
 */

#include <dirent.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fe.h"

#define HUGE_SZ (2ull << 20)

void
fe_opts_default(struct fe_opts *o)
{
	memset(o, 0, sizeof(*o));
	/* Split rings unless a test asks for packed ones. */
	o->features = ~0ull & ~((1ull << VHU_F_LOG_ALL) |
		(1ull << VHU_F_RING_PACKED));
	o->proto = true;
	o->proto_mask = ~0ull;
	o->nqp = 1;
	o->ring_size = 256;
	o->enable = true;
	o->mem_size = 4ull << 20;
}

/* What fe_init and fe_reset both set beyond zeros. */
static void
fe_defaults(struct fe *fe)
{
	unsigned int i;

	fe->sock = -1;
	fe->prefer_huge = true;
	fe->base_override = -1;
	fe->inflight_fd = -1;
	for (i = 0; i < FE_MAX_VQ; i++) {
		fe->vq[i].kickfd = -1;
		fe->vq[i].callfd = -1;
		fe->vq[i].errfd = -1;
	}
}

void
fe_init(struct fe *fe)
{
	memset(fe, 0, sizeof(*fe));
	fe_defaults(fe);
}

void
fe_reset(struct fe *fe)
{
	unsigned int i;

	/* Everything but the rings (34 KB), then each ring but its tables,
	 * and the table entries it used. */
	memset(fe, 0, offsetof(struct fe, vq));
	memset(&fe->alloc_next, 0, sizeof(*fe) -
		offsetof(struct fe, alloc_next));
	for (i = 0; i < FE_MAX_VQ; i++) {
		struct fe_vring *v = &fe->vq[i];
		uint16_t hi = v->tbl_hi;

		memset(v->chain, 0, hi * sizeof(v->chain[0]));
		memset(v->pk_ndesc, 0, hi * sizeof(v->pk_ndesc[0]));
		memset(v, 0, offsetof(struct fe_vring, chain));
		memset(&v->packed, 0, offsetof(struct fe_vring, pk_ndesc) -
			offsetof(struct fe_vring, packed));
		v->tbl_hi = 0;
	}
	fe_defaults(fe);
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void
fe_disconnect(struct fe *fe)
{
	close_fd(&fe->sock);
}

void
fe_fini(struct fe *fe)
{
	unsigned int i;

	fe_disconnect(fe);
	close_fd(&fe->inflight_fd);
	for (i = 0; i < FE_MAX_VQ; i++) {
		close_fd(&fe->vq[i].kickfd);
		close_fd(&fe->vq[i].callfd);
		close_fd(&fe->vq[i].errfd);
	}
	for (i = 0; i < fe->nmem; i++) {
		if (fe->mem[i].kept)
			continue;
		munmap(fe->mem[i].map, fe->mem[i].map_len);
		close_fd(&fe->mem[i].fd);
	}
	fe->nmem = 0;
}

static int
unix_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -1;
	strcpy(sa->sun_path, path);
	return 0;
}

int
fe_connect(struct fe *fe, const char *path)
{
	struct sockaddr_un sa;
	int fd;

	if (unix_addr(path, &sa) != 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	fe->sock = fd;
	return 0;
}

int
fe_listen(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	if (unix_addr(path, &sa) != 0)
		return -1;
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
			listen(fd, 4) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Wait until FD is readable, TIMEOUT_MS at most. A signal is not the end
 * of the wait: the test's process gets them (libFuzzer's SIGALRM timer
 * for one, every few seconds) and poll() is never restarted, so an
 * interrupted wait goes on for what is left of the time. 0 when readable
 * (or hung up), -1 on timeout or error.
 */
static int
wait_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct timespec t0, t;
	int left = timeout_ms, rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		rc = poll(&p, 1, left);
		if (rc > 0)
			return 0;
		if (rc == 0 || errno != EINTR)
			return -1;
		if (timeout_ms < 0)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &t);
		left = timeout_ms - (int)((t.tv_sec - t0.tv_sec) * 1000 +
			(t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left < 0)
			left = 0;
	}
}

int
fe_accept(struct fe *fe, int lfd, int timeout_ms)
{
	int fd;

	if (wait_readable(lfd, timeout_ms) != 0)
		return -1;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return -1;
	fe->sock = fd;
	return 0;
}

/* ---- guest memory ---- */

int
fe_mem_alloc_fd(uint64_t size, bool huge_ok, bool *huge)
{
	int fd;

	*huge = false;
	if (huge_ok && size % HUGE_SZ == 0) {
		char path[] = "/dev/hugepages/vhu-test-XXXXXX";

		fd = mkostemp(path, O_CLOEXEC);
		if (fd >= 0) {
			unlink(path);
			if (ftruncate(fd, (off_t)size) == 0) {
				void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
					MAP_SHARED, fd, 0);

				/* Check the pages really exist. */
				if (p != MAP_FAILED) {
					munmap(p, size);
					*huge = true;
					return fd;
				}
			}
			close(fd);
		}
	}
	fd = memfd_create("vhu-guest", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)size) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int
fe_mem_add(struct fe *fe, uint64_t gpa, uint64_t size, uint64_t mmap_offset,
	bool huge_ok)
{
	struct fe_mem *m;
	void *p;

	if (fe->nmem >= FE_MAX_MEM)
		return -1;
	m = &fe->mem[fe->nmem];
	m->fd = fe_mem_alloc_fd(mmap_offset + size, huge_ok && fe->prefer_huge,
		&m->huge);
	if (m->fd < 0)
		return -1;
	p = mmap(NULL, mmap_offset + size, PROT_READ | PROT_WRITE, MAP_SHARED,
		m->fd, 0);
	if (p == MAP_FAILED) {
		close(m->fd);
		return -1;
	}
	memset((uint8_t *)p + mmap_offset, 0, size);
	m->map = p;
	m->map_len = mmap_offset + size;
	m->gpa = gpa;
	m->size = size;
	m->mmap_offset = mmap_offset;
	m->kept = false;
	fe->nmem++;
	return (int)(fe->nmem - 1);
}

void *
fe_va(struct fe *fe, uint64_t gpa)
{
	unsigned int i;

	for (i = 0; i < fe->nmem; i++) {
		struct fe_mem *m = &fe->mem[i];

		if (gpa >= m->gpa && gpa - m->gpa < m->size)
			return m->map + m->mmap_offset + (gpa - m->gpa);
	}
	return NULL;
}

uint64_t
fe_qva(struct fe *fe, uint64_t gpa)
{
	return (uint64_t)(uintptr_t)fe_va(fe, gpa);
}

uint64_t
fe_alloc(struct fe *fe, uint64_t len, uint64_t align)
{
	uint64_t a = (fe->alloc_next + align - 1) & ~(align - 1);

	if (a + len > fe->alloc_end)
		a = fe->alloc_end - len;	/* tests never get here */
	fe->alloc_next = a + len;
	return a;
}

void
fe_region_desc(const struct fe_mem *m, struct vhu_mem_region_desc *d)
{
	d->gpa = m->gpa;
	d->size = m->size;
	d->qva = (uint64_t)(uintptr_t)(m->map + m->mmap_offset);
	d->mmap_offset = m->mmap_offset;
}

/* ---- messages ---- */

int
fe_send(struct fe *fe, uint32_t req, uint32_t flags, const void *p,
	uint32_t size, const int *fds, unsigned int nfds)
{
	uint32_t hdr[3] = { req, flags, size };
	struct iovec iov[2] = {
		{ .iov_base = hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (void *)(uintptr_t)p, .iov_len = size },
	};
	union {
		char buf[CMSG_SPACE(sizeof(int) * 32)];
		struct cmsghdr align;
	} cbuf;
	struct msghdr mh;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = size > 0 ? 2 : 1;
	if (nfds > 0) {
		struct cmsghdr *cm;

		if (nfds > 32)
			return -1;
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	do {
		n = sendmsg(fe->sock, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	return n == (ssize_t)(sizeof(hdr) + size) ? 0 : -1;
}

static int
read_exact(int fd, void *buf, size_t len, int timeout_ms)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n;

		if (wait_readable(fd, timeout_ms) != 0)
			return -1;
		n = recv(fd, (uint8_t *)buf + off, len - off, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

int
fe_recv(struct fe *fe, uint32_t *req, uint32_t *flags, void *p, uint32_t max,
	int timeout_ms)
{
	uint32_t hdr[3];
	uint8_t sink[64];

	if (read_exact(fe->sock, hdr, sizeof(hdr), timeout_ms) != 0)
		return -1;
	if (req != NULL)
		*req = hdr[0];
	if (flags != NULL)
		*flags = hdr[1];
	if (hdr[2] > max) {
		uint32_t left = hdr[2];

		while (left > 0) {
			uint32_t c = left < sizeof(sink) ? left : sizeof(sink);

			if (read_exact(fe->sock, sink, c, timeout_ms) != 0)
				return -1;
			left -= c;
		}
		return -1;
	}
	if (hdr[2] > 0 && read_exact(fe->sock, p, hdr[2], timeout_ms) != 0)
		return -1;
	return (int)hdr[2];
}

int
fe_get_u64(struct fe *fe, uint32_t req, uint64_t *v)
{
	uint32_t r, flags;

	if (fe_send(fe, req, VHU_FLAG_VERSION, NULL, 0, NULL, 0) != 0)
		return -1;
	if (fe_recv(fe, &r, &flags, v, sizeof(*v), 3000) != (int)sizeof(*v))
		return -1;
	if (r != req || flags != (VHU_FLAG_VERSION | VHU_FLAG_REPLY))
		return -1;
	return 0;
}

int
fe_sync(struct fe *fe)
{
	uint64_t v;

	return fe_get_u64(fe, VHU_REQ_GET_FEATURES, &v);
}

int
fe_request(struct fe *fe, uint32_t req, const void *p, uint32_t size,
	const int *fds, unsigned int nfds)
{
	bool ack = (fe->proto >> VHU_PROTO_F_REPLY_ACK) & 1;
	uint32_t flags = VHU_FLAG_VERSION | (ack ? VHU_FLAG_NEED_REPLY : 0);
	uint64_t v;
	uint32_t r;

	if (fe_send(fe, req, flags, p, size, fds, nfds) != 0)
		return -1;
	if (!ack)
		return fe_sync(fe);
	if (fe_recv(fe, &r, NULL, &v, sizeof(v), 5000) != (int)sizeof(v) ||
			r != req)
		return -1;
	return v == 0 ? 0 : 1;
}

int
fe_request_u64(struct fe *fe, uint32_t req, uint64_t v)
{
	return fe_request(fe, req, &v, sizeof(v), NULL, 0);
}

int
fe_request_state(struct fe *fe, uint32_t req, uint32_t index, uint32_t num)
{
	struct vhu_vring_state s = { index, num };

	return fe_request(fe, req, &s, sizeof(s), NULL, 0);
}

int
fe_set_mem_table(struct fe *fe)
{
	struct vhu_mem_table_desc t;
	int fds[VHU_MEMTABLE_MAX_REGIONS];
	unsigned int i;

	memset(&t, 0, sizeof(t));
	if (fe->nmem > VHU_MEMTABLE_MAX_REGIONS)
		return -1;
	t.nregions = fe->nmem;
	for (i = 0; i < fe->nmem; i++) {
		fe_region_desc(&fe->mem[i], &t.regions[i]);
		fds[i] = fe->mem[i].fd;
	}
	return fe_request(fe, VHU_REQ_SET_MEM_TABLE, &t,
		VHU_MEMTABLE_HDR_SIZE + fe->nmem *
		sizeof(struct vhu_mem_region_desc), fds, fe->nmem);
}

int
fe_get_vring_base(struct fe *fe, uint32_t index, uint32_t *num)
{
	struct vhu_vring_state s = { index, 0 };
	uint32_t r;

	if (fe_send(fe, VHU_REQ_GET_VRING_BASE, VHU_FLAG_VERSION, &s, sizeof(s),
			NULL, 0) != 0)
		return -1;
	if (fe_recv(fe, &r, NULL, &s, sizeof(s), 5000) != (int)sizeof(s) ||
			r != VHU_REQ_GET_VRING_BASE || s.index != index)
		return -1;
	*num = s.num;
	return 0;
}

int
fe_get_inflight(struct fe *fe, uint16_t nq, uint16_t qsize,
	struct vhu_inflight_desc *d, int *fd)
{
	struct vhu_inflight_desc req = { .num_queues = nq, .queue_size = qsize };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	uint32_t hdr[3];
	struct iovec iov = { .iov_base = hdr, .iov_len = sizeof(hdr) };
	struct msghdr mh;
	struct cmsghdr *cm;
	struct pollfd p = { .fd = fe->sock, .events = POLLIN };

	*fd = -1;
	if (fe_send(fe, VHU_REQ_GET_INFLIGHT_FD, VHU_FLAG_VERSION, &req,
			sizeof(req), NULL, 0) != 0)
		return -1;
	if (poll(&p, 1, 3000) != 1)
		return -1;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf.buf;
	mh.msg_controllen = sizeof(cbuf.buf);
	if (recvmsg(fe->sock, &mh, MSG_WAITALL | MSG_CMSG_CLOEXEC) !=
			(ssize_t)sizeof(hdr))
		return -1;
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET &&
				cm->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(cm), sizeof(int));
	if (hdr[0] != VHU_REQ_GET_INFLIGHT_FD || hdr[2] != sizeof(*d) ||
			read_exact(fe->sock, d, sizeof(*d), 3000) != 0) {
		close_fd(fd);
		return -1;
	}
	return *fd >= 0 ? 0 : -1;
}

int
fe_set_inflight(struct fe *fe, const struct vhu_inflight_desc *d, int fd)
{
	return fe_request(fe, VHU_REQ_SET_INFLIGHT_FD, d, sizeof(*d), &fd, 1);
}

/* As QEMU's vhost_dev_get_inflight() / vhost_dev_set_inflight() at
 * start: the region asked for once, given back every time. */
static int
fe_inflight_start(struct fe *fe, const struct fe_opts *o)
{
	if (fe->inflight_fd < 0 && fe_get_inflight(fe,
			(uint16_t)(2 * o->nqp), o->ring_size, &fe->inflight,
			&fe->inflight_fd) != 0)
		return -1;
	return fe_set_inflight(fe, &fe->inflight, fe->inflight_fd);
}

/* ---- rings ---- */

int
fe_vring_alloc(struct fe *fe, unsigned int idx, uint16_t size)
{
	struct fe_vring *v = &fe->vq[idx];

	if (idx >= FE_MAX_VQ || size > FE_RING_MAX)
		return -1;
	v->size = size;
	if (v->tbl_hi < size)
		v->tbl_hi = size;
	v->desc_gpa = fe_alloc(fe, vmlink_vring_desc_size(size), 4096);
	v->avail_gpa = fe_alloc(fe, vmlink_vring_avail_size(size), 64);
	v->used_gpa = fe_alloc(fe, vmlink_vring_used_size(size), 4096);
	v->desc = fe_va(fe, v->desc_gpa);
	v->avail = fe_va(fe, v->avail_gpa);
	v->used = fe_va(fe, v->used_gpa);
	v->avail_idx = 0;
	v->last_used = 0;
	v->next_desc = 0;
	v->packed = !!(fe->features & (1ull << VHU_F_RING_PACKED));
	v->pdesc = (void *)v->desc;
	v->driver_event = (void *)v->avail;
	v->device_event = (void *)v->used;
	fe_pk_reset(v);
	if (fe->nvq <= idx)
		fe->nvq = idx + 1;
	return 0;
}

int
fe_vring_addr(struct fe *fe, unsigned int idx, uint32_t flags,
	uint64_t log_gpa)
{
	struct fe_vring *v = &fe->vq[idx];
	struct vhu_vring_addr a = {
		.index = idx,
		.flags = flags,
		.desc_qva = fe_qva(fe, v->desc_gpa),
		.used_qva = fe_qva(fe, v->used_gpa),
		.avail_qva = fe_qva(fe, v->avail_gpa),
		.log_gpa = log_gpa,
	};

	return fe_request(fe, VHU_REQ_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
}

static int
vring_fd(struct fe *fe, uint32_t req, unsigned int idx, int *fdp, bool nofd)
{
	uint64_t v = idx;
	int rc;

	close_fd(fdp);
	if (nofd) {
		v |= VHU_VRING_NOFD;
		return fe_request(fe, req, &v, sizeof(v), NULL, 0);
	}
	*fdp = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (*fdp < 0)
		return -1;
	rc = fe_request(fe, req, &v, sizeof(v), fdp, 1);
	return rc;
}

int
fe_vring_start(struct fe *fe, unsigned int idx, bool kick_nofd,
	bool call_nofd)
{
	struct fe_vring *v = &fe->vq[idx];

	if (fe_request_state(fe, VHU_REQ_SET_VRING_NUM, idx, v->size) != 0 ||
			fe_request_state(fe, VHU_REQ_SET_VRING_BASE, idx,
				fe->base_override >= 0 ?
				(uint32_t)fe->base_override :
				fe->base_override == FE_BASE_USED ?
				fe_used_idx(v) :
				v->packed ? fe_pk_base(v) : v->avail_idx) != 0 ||
			fe_vring_addr(fe, idx, 0, 0) != 0 ||
			vring_fd(fe, VHU_REQ_SET_VRING_CALL, idx, &v->callfd,
				call_nofd) != 0 ||
			vring_fd(fe, VHU_REQ_SET_VRING_ERR, idx, &v->errfd,
				false) != 0 ||
			vring_fd(fe, VHU_REQ_SET_VRING_KICK, idx, &v->kickfd,
				kick_nofd) != 0)
		return -1;
	return 0;
}

/* Guest memory as most tests want it: one region of @p size at guest
 * address 0, buffers allocated from 0x1000 on; nothing when the test laid
 * its memory out itself. */
static void
mem_default_layout(struct fe *fe, uint64_t size)
{
	fe->alloc_next = 0x1000;
	fe->alloc_end = size;
}

int
fe_mem_default(struct fe *fe, uint64_t size)
{
	if (fe->nmem != 0)
		return 0;
	if (fe_mem_add(fe, 0, size, 0, true) < 0)
		return -1;
	mem_default_layout(fe, size);
	return 0;
}

int
fe_mem_default_kept(struct fe *fe, const struct fe_mem *m)
{
	if (fe->nmem != 0)
		return 0;
	if (m->gpa != 0 || m->mmap_offset != 0 || m->size < 0x2000)
		return -1;
	fe->mem[0] = *m;
	fe->mem[0].kept = true;
	fe->nmem = 1;
	mem_default_layout(fe, m->size);
	return 0;
}

int
fe_handshake(struct fe *fe, const struct fe_opts *o)
{
	uint64_t v;

	if (fe_mem_default(fe, o->mem_size) != 0)
		return -1;
	if (fe_get_u64(fe, VHU_REQ_GET_FEATURES, &fe->offered) != 0)
		return -1;
	fe->features = fe->offered & o->features;
	if (fe_send(fe, VHU_REQ_SET_OWNER, VHU_FLAG_VERSION, NULL, 0, NULL,
			0) != 0)
		return -1;
	fe->proto = 0;
	if (o->proto && (fe->offered & (1ull << VHU_F_PROTOCOL_FEATURES))) {
		if (fe_get_u64(fe, VHU_REQ_GET_PROTOCOL_FEATURES,
				&fe->proto_offered) != 0)
			return -1;
		v = fe->proto_offered & o->proto_mask;
		if (fe_send(fe, VHU_REQ_SET_PROTOCOL_FEATURES, VHU_FLAG_VERSION,
				&v, sizeof(v), NULL, 0) != 0)
			return -1;
		fe->proto = v;
		if ((v >> VHU_PROTO_F_MQ) & 1) {
			if (fe_get_u64(fe, VHU_REQ_GET_QUEUE_NUM, &v) != 0 ||
					v < o->nqp)
				return -1;
		}
	} else {
		fe->features &= ~(1ull << VHU_F_PROTOCOL_FEATURES);
	}
	if (fe_request_u64(fe, VHU_REQ_SET_FEATURES, fe->features) != 0)
		return -1;
	if (fe_set_mem_table(fe) != 0)
		return -1;
	if (o->inflight && fe_inflight_start(fe, o) != 0)
		return -1;
	return 0;
}

int
fe_start_rings(struct fe *fe, const struct fe_opts *o)
{
	unsigned int i;

	for (i = 0; i < 2 * o->nqp; i++) {
		if ((!o->keep_rings &&
				fe_vring_alloc(fe, i, o->ring_size) != 0) ||
				fe_vring_start(fe, i, o->kick_nofd,
					o->call_nofd) != 0)
			return -1;
		if (o->enable && (fe->features &
				(1ull << VHU_F_PROTOCOL_FEATURES)) &&
				fe_request_state(fe, VHU_REQ_SET_VRING_ENABLE, i,
					1) != 0)
			return -1;
	}
	return 0;
}

int
fe_start(struct fe *fe, const struct fe_opts *o)
{
	if (fe_handshake(fe, o) != 0)
		return -1;
	return fe_start_rings(fe, o);
}

void
fe_desc(struct fe_vring *v, uint16_t i, uint64_t addr, uint32_t len,
	uint16_t flags, uint16_t next)
{
	v->desc[i].addr = addr;
	v->desc[i].len = len;
	v->desc[i].flags = flags;
	v->desc[i].next = next;
}

void
fe_avail_add(struct fe_vring *v, uint16_t head)
{
	v->avail->ring[v->avail_idx % v->size] = head;
	v->avail_idx++;
}

void
fe_avail_publish(struct fe_vring *v)
{
	__atomic_store_n(&v->avail->idx, v->avail_idx, __ATOMIC_RELEASE);
}

uint16_t
fe_used_idx(const struct fe_vring *v)
{
	return __atomic_load_n(&v->used->idx, __ATOMIC_ACQUIRE);
}

int
fe_used_get(struct fe_vring *v, uint32_t *id, uint32_t *len)
{
	struct vring_used_elem *e;

	if (v->packed)
		return fe_pk_used_get(v, id, len);
	if (fe_used_idx(v) == v->last_used)
		return 0;
	e = &v->used->ring[v->last_used % v->size];
	*id = e->id;
	*len = e->len;
	v->last_used++;
	return 1;
}

uint64_t
fe_eventfd_read(int fd)
{
	uint64_t v = 0;

	if (fd < 0 || read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

static uint16_t
take_desc(struct fe_vring *v)
{
	uint16_t d = v->next_desc;

	v->next_desc = (uint16_t)((v->next_desc + 1) % v->size);
	return d;
}

int
fe_tx_frame(struct fe *fe, unsigned int vqi, const void *hdr,
	uint32_t hdr_len, const uint8_t *data, uint32_t len, unsigned int nseg,
	bool hdr_sep, bool indirect)
{
	struct fe_vring *v = &fe->vq[vqi];
	struct vring_desc tbl[FE_MAX_CHAIN];
	uint32_t nd = 0, off = 0, i, total;
	uint64_t buf;
	uint8_t *p;
	uint16_t head;

	if (nseg == 0 || nseg + 1 > FE_MAX_CHAIN)
		return -1;
	/* One contiguous guest buffer holds header then data; descriptors
	 * cut it into pieces. */
	total = hdr_len + len;
	buf = fe_alloc(fe, total, 64);
	p = fe_va(fe, buf);
	if (hdr != NULL)
		memcpy(p, hdr, hdr_len);
	else
		memset(p, 0, hdr_len);
	memcpy(p + hdr_len, data, len);
	if (hdr_sep) {
		tbl[nd].addr = buf;
		tbl[nd].len = hdr_len;
		nd++;
		off = hdr_len;
	}
	for (i = 0; i < nseg; i++) {
		uint32_t left = total - off;
		uint32_t piece = (i == nseg - 1) ? left : left / (nseg - i);

		tbl[nd].addr = buf + off;
		tbl[nd].len = piece;
		nd++;
		off += piece;
	}
	for (i = 0; i < nd; i++) {
		tbl[i].flags = i + 1 < nd ? VRING_DESC_F_NEXT : 0;
		tbl[i].next = 0;
	}
	if (v->packed)
		return indirect ? fe_pk_post_indirect(fe, v, tbl, nd) :
			fe_pk_post(v, tbl, nd);
	if (indirect) {
		uint64_t t = fe_alloc(fe, nd * sizeof(struct vring_desc), 16);
		struct vring_desc *tv = fe_va(fe, t);

		for (i = 0; i < nd; i++) {
			tv[i] = tbl[i];
			tv[i].next = (uint16_t)(i + 1);
		}
		head = take_desc(v);
		fe_desc(v, head, t, nd * sizeof(struct vring_desc),
			VRING_DESC_F_INDIRECT, 0);
	} else {
		uint16_t idx[FE_MAX_CHAIN];

		for (i = 0; i < nd; i++)
			idx[i] = take_desc(v);
		for (i = 0; i < nd; i++)
			fe_desc(v, idx[i], tbl[i].addr, tbl[i].len,
				tbl[i].flags, i + 1 < nd ? idx[i + 1] : 0);
		head = idx[0];
	}
	fe_avail_add(v, head);
	fe_avail_publish(v);
	return head;
}

int
fe_tx_frame_gpa(struct fe *fe, unsigned int vqi, uint64_t gpa,
	const uint8_t *data, uint32_t len)
{
	struct fe_vring *v = &fe->vq[vqi];
	uint8_t *p = fe_va(fe, gpa);
	uint16_t head;

	if (p == NULL)
		return -1;
	memset(p, 0, VHU_NET_HDR_LEN);
	memcpy(p + VHU_NET_HDR_LEN, data, len);
	if (v->packed) {
		struct vring_desc d = { .addr = gpa,
			.len = VHU_NET_HDR_LEN + len };

		return fe_pk_post(v, &d, 1);
	}
	head = take_desc(v);
	fe_desc(v, head, gpa, VHU_NET_HDR_LEN + len, 0, 0);
	fe_avail_add(v, head);
	fe_avail_publish(v);
	return head;
}

int
fe_rx_post(struct fe *fe, unsigned int vqi, uint32_t seglen, unsigned int nseg,
	bool indirect)
{
	struct fe_vring *v = &fe->vq[vqi];
	struct fe_chain c;
	uint16_t head;
	unsigned int i;

	if (nseg == 0 || nseg > FE_MAX_CHAIN)
		return -1;
	c.n = nseg;
	for (i = 0; i < nseg; i++) {
		c.gpa[i] = fe_alloc(fe, seglen, 64);
		c.len[i] = seglen;
		memset(fe_va(fe, c.gpa[i]), 0xee, seglen);
	}
	if (v->packed) {
		struct vring_desc tbl[FE_MAX_CHAIN];
		int id;

		for (i = 0; i < nseg; i++)
			tbl[i] = (struct vring_desc){ c.gpa[i], seglen,
				VRING_DESC_F_WRITE |
				(i + 1 < nseg ? VRING_DESC_F_NEXT : 0), 0 };
		id = indirect ? fe_pk_post_indirect(fe, v, tbl, nseg) :
			fe_pk_post(v, tbl, nseg);
		if (id >= 0)
			v->chain[id] = c;
		return id;
	}
	if (indirect) {
		uint64_t t = fe_alloc(fe, nseg * sizeof(struct vring_desc), 16);
		struct vring_desc *tv = fe_va(fe, t);

		for (i = 0; i < nseg; i++) {
			tv[i].addr = c.gpa[i];
			tv[i].len = seglen;
			tv[i].flags = VRING_DESC_F_WRITE |
				(i + 1 < nseg ? VRING_DESC_F_NEXT : 0);
			tv[i].next = (uint16_t)(i + 1);
		}
		head = take_desc(v);
		fe_desc(v, head, t, nseg * sizeof(struct vring_desc),
			VRING_DESC_F_INDIRECT, 0);
	} else {
		uint16_t idx[FE_MAX_CHAIN];

		for (i = 0; i < nseg; i++)
			idx[i] = take_desc(v);
		for (i = 0; i < nseg; i++)
			fe_desc(v, idx[i], c.gpa[i], seglen, VRING_DESC_F_WRITE |
				(i + 1 < nseg ? VRING_DESC_F_NEXT : 0),
				i + 1 < nseg ? idx[i + 1] : 0);
		head = idx[0];
	}
	v->chain[head] = c;
	fe_avail_add(v, head);
	fe_avail_publish(v);
	return head;
}

int
fe_rx_read(struct fe *fe, unsigned int vqi, uint16_t head, uint8_t *out,
	uint32_t len)
{
	const struct fe_chain *c = &fe->vq[vqi].chain[head];
	unsigned int i;

	for (i = 0; i < c->n && len > 0; i++) {
		uint32_t n = c->len[i] < len ? c->len[i] : len;

		memcpy(out, fe_va(fe, c->gpa[i]), n);
		out += n;
		len -= n;
	}
	return len == 0 ? 0 : -1;
}

int
fe_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory's own fd */
}

int
fe_count_maps(const char *needle)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, needle) != NULL)
			n++;
	fclose(f);
	return n;
}
