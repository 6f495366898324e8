/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unix-socket sends shared by the vhost-user back-end's replies and the
 * ivshmem2-server: one sendmsg with an fd riding along. Header only; no
 * DPDK.
 */

#ifndef VMLINK_SOCK_H
#define VMLINK_SOCK_H

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

/* One sendmsg of [buf, buf + len), with @p fd attached (SCM_RIGHTS) when
 * >= 0: never blocking, never raising SIGPIPE, retried on EINTR. */
static inline ssize_t
vmlink_send_fd(int sock, const void *buf, size_t len, int fd)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = (void *)(uintptr_t)buf,
		.iov_len = len };
	struct msghdr mh;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.b;
		mh.msg_controllen = sizeof(ctl.b);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do {
		n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	return n;
}

#endif /* VMLINK_SOCK_H */
