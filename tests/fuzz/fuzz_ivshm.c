/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "fuzz_ivshm.h"
#include "fuzz_util.h"

static int listen_fd = -1;
static char sock_path[108];
/*
 * No server thread: the link wraps connect() (see meson.build), and a
 * connection to the listening socket is accepted and served inside the
 * library's own connect() call, before it reads anything. Every message
 * of the script is then in the socket when the library first looks, so
 * an input runs the same way each time, with no thread hand-over to wait
 * for.
 */
static struct fz_script *current;

int __real_connect(int fd, const struct sockaddr *sa, socklen_t len);
int __wrap_connect(int fd, const struct sockaddr *sa, socklen_t len);

void
fzs_init(struct fz_script *s)
{
	memset(s, 0, sizeof(*s));
	s->conn = -1;
}

struct fzs_msg *
fzs_add(struct fz_script *s, const void *buf, uint32_t len, const int *fds,
	unsigned int nfds)
{
	struct fzs_msg *m;
	unsigned int i;

	if (s->n == FZS_MAX_MSGS || len > sizeof(m->buf) || nfds > FZS_MAX_FDS) {
		for (i = 0; i < nfds; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		return NULL;
	}
	m = &s->msg[s->n++];
	memcpy(m->buf, buf, len);
	m->len = len;
	m->nfds = 0;
	for (i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			m->fds[m->nfds++] = fds[i];
	return m;
}

const char *
fzs_path(void)
{
	struct sockaddr_un sa;

	if (listen_fd >= 0)
		return sock_path;
	snprintf(sock_path, sizeof(sock_path), "%s/ivshm.sock", fz_tmpdir());
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa,
			sizeof(sa)) != 0 || listen(listen_fd, 4) != 0)
		fz_fail("fake ivshmem2 server socket: %s", strerror(errno));
	return sock_path;
}

int
fzs_send(int conn, const void *buf, uint32_t len, const int *fds,
	unsigned int nfds)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * FZS_MAX_FDS)];
	} ctl;
	struct iovec iov = { (void *)(uintptr_t)buf, len };
	struct msghdr mh;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds > 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	if (len == 0)
		return 0;
	/* Never blocks: the library reads only once the harness returns to
	 * it (a full socket ends the script like a peer that went away). */
	return sendmsg(conn, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) ==
		(ssize_t)len ? 0 : -1;
}

static void
serve_one(struct fz_script *s, int c)
{
	unsigned int i, k;

	for (i = 0; i < s->n; i++) {
		struct fzs_msg *m = &s->msg[i];

		if (fzs_send(c, m->buf, m->len, m->fds, m->nfds) != 0)
			break;	/* the peer closed: the rest stays queued */
		for (k = 0; k < m->nfds; k++)
			close(m->fds[k]);
		m->nfds = 0;
	}
	if (s->keep_open)
		s->conn = c;
	else
		close(c);
}

/* The library connects: serve the current script on the new connection
 * before connect() returns to it. Other connections pass through. */
int
__wrap_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
	struct fz_script *s = current;
	int r = __real_connect(fd, sa, len);
	int c;

	if (r != 0 || s == NULL || listen_fd < 0 || sa->sa_family != AF_UNIX ||
			strncmp(un->sun_path, sock_path, sizeof(sock_path)) != 0)
		return r;
	current = NULL;
	c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		fz_fail("fake ivshmem2 server: accept: %s", strerror(errno));
	serve_one(s, c);
	s->served = true;
	return r;
}

void
fzs_serve(struct fz_script *s)
{
	fzs_path();
	s->served = false;
	current = s;
}

/* After the connection attempt: the library always connects before it
 * returns (it refuses nothing before that), so the script was served. */
void
fzs_join(struct fz_script *s)
{
	current = NULL;
	if (!s->served)
		fz_fail("the library did not connect to the fake ivshmem2 "
			"server");
}

void
fzs_fini(struct fz_script *s)
{
	unsigned int i, k;

	for (i = 0; i < s->n; i++)
		for (k = 0; k < s->msg[i].nfds; k++)
			close(s->msg[i].fds[k]);
	s->n = 0;
	if (s->conn >= 0)
		close(s->conn);
	s->conn = -1;
}

int
fzs_region_fd(uint64_t size)
{
	int fd = memfd_create(FZS_REGION_NAME, MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)size) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}
