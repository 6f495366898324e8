/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * What the ivshmem2 C tests share: checks that count a failure, say
 * where and go on (a test ends by returning whether any failed), a sleep,
 * and a readiness poll on an eventfd or socket.
 */

#ifndef VMLINK_IVSHM_TEST_H
#define VMLINK_IVSHM_TEST_H

#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

static int failures;

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		failures++; \
	} \
} while (0)

#define CHECK_EQ(a, b) do { \
	long long va_ = (long long)(a), vb_ = (long long)(b); \
	if (va_ != vb_) { \
		fprintf(stderr, "FAIL %s:%d: %s == %lld (0x%llx), expected " \
			"%s == %lld (0x%llx)\n", __FILE__, __LINE__, #a, va_, \
			(unsigned long long)va_, #b, vb_, \
			(unsigned long long)vb_); \
		failures++; \
	} \
} while (0)

static inline void
msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Is fd readable within ms milliseconds (0: right now)? */
static inline bool
fd_readable(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, ms) == 1 && (pfd.revents & POLLIN);
}

#endif
