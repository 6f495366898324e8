/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * A scripted ivshmem2 server for the harnesses that test the peer library:
 * messages and fds are queued; when the library connects, the connection
 * is accepted in the same thread (the link wraps connect()), sent them all
 * and (unless asked to keep it) closed. The library is driven through its
 * public API only (ivshm_dev_connect).
 */

#ifndef VMLINK_FUZZ_IVSHM_H
#define VMLINK_FUZZ_IVSHM_H

#include <stdbool.h>
#include <stdint.h>

#define FZS_MAX_MSGS	64
#define FZS_MAX_FDS	4

/* Mappings of region memfds carry this name (leak checks look for it). */
#define FZS_REGION_NAME	"fz-ivshm-region"

struct fzs_msg {
	uint8_t buf[96];
	uint32_t len;
	int fds[FZS_MAX_FDS];	/* owned until sent */
	unsigned int nfds;
};

struct fz_script {
	struct fzs_msg msg[FZS_MAX_MSGS];
	unsigned int n;
	bool keep_open;		/* hand the connection back instead of closing */
	int conn;		/* kept connection, -1 */
	bool served;		/* the library connected and was served */
};

void fzs_init(struct fz_script *s);
/* Queue a message of LEN bytes (at most 96) with NFDS fds (taken over). */
struct fzs_msg *fzs_add(struct fz_script *s, const void *buf, uint32_t len,
	const int *fds, unsigned int nfds);
/* Listening socket path (created once). */
const char *fzs_path(void);
/* Start serving S to the next connection; then connect, then fzs_join. */
void fzs_serve(struct fz_script *s);
void fzs_join(struct fz_script *s);
/* Send one more message on a kept connection (fds not taken over);
 * -1 when the peer is gone or its socket is full. */
int fzs_send(int conn, const void *buf, uint32_t len, const int *fds,
	unsigned int nfds);
/* Close every fd still queued, and a kept connection. */
void fzs_fini(struct fz_script *s);

/* A region memfd of SIZE bytes (named FZS_REGION_NAME), or -1. */
int fzs_region_fd(uint64_t size);

#endif /* VMLINK_FUZZ_IVSHM_H */
