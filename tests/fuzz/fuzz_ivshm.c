/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 */

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
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
/* One server thread for the process (a thread per input would make
 * libFuzzer run a leak check after every input): it accepts, serves the
 * script the main thread handed it, and says so. */
static pthread_t thr;
static struct fz_script *volatile current;
static sem_t served;

static void *serve(void *arg);

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
	if (sem_init(&served, 0, 0) != 0 ||
			pthread_create(&thr, NULL, serve, NULL) != 0)
		fz_fail("fake ivshmem2 server thread");
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
	return sendmsg(conn, &mh, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
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

static void *
serve(void *arg)
{
	(void)arg;
	for (;;) {
		int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0)
			continue;
		if (current != NULL)
			serve_one(current, c);
		else
			close(c);
		current = NULL;
		sem_post(&served);
	}
	return NULL;
}

void
fzs_serve(struct fz_script *s)
{
	fzs_path();
	__atomic_store_n(&current, s, __ATOMIC_SEQ_CST);
}

/* After the connection attempt: wait until the script was served. The
 * library always connects before it returns, so one connection came. */
void
fzs_join(struct fz_script *s)
{
	(void)s;
	while (sem_wait(&served) != 0 && errno == EINTR)
		;
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
