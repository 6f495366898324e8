/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * ivshmem2-server internals: options, layout, the client table.
 */

#ifndef IVSHMEM2_SERVER_H
#define IVSHMEM2_SERVER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#define SRV_NAME "ivshmem2-server"

struct srv_opts {
	const char *socket_path;
	const char *qemu_socket_path;	/* QEMU ivshmem-doorbell clients */
	const char *shm_name;		/* POSIX shm object, or NULL */
	const char *shm_file;		/* file (hugetlbfs...), or NULL */
	const char *pid_file;
	const char *log_file;
	uint64_t size;			/* total, 0 = computed */
	uint64_t out_size;
	uint64_t rw_size;
	bool rw_set;
	uint32_t max_peers;
	uint32_t vectors;
	uint32_t protocol;
	bool foreground;
	bool verbose;
	bool quiet;		/* errors only: no notes, no log lines */
	bool force;
	bool print_layout;
};

struct srv_layout {
	uint64_t page;		/* mapping granularity of the backing */
	bool hugetlbfs;
	uint64_t st_size;	/* state table */
	uint64_t rw_size;	/* R/W section */
	uint64_t out_size;	/* one output section */
	uint64_t out_off;	/* first output section */
	uint64_t total;
	bool has_hdr;		/* layout header written (max_peers fits) */
};

/* One queued outgoing message (when the client's socket is full). */
struct out_msg {
	uint8_t buf[48];
	uint16_t len;
	uint16_t off;		/* bytes already sent */
	int fd;			/* our own duplicate, -1 = none or sent */
};

/* What a listening socket speaks: our v2 messages, or QEMU's. */
enum client_kind {
	CLIENT_IVSHM2,		/* INIT / EVENT_FD / PEER_GONE */
	CLIENT_QEMU,		/* QEMU ivshmem-doorbell: one le64 per message */
};

struct listener {
	const char *path;
	enum client_kind kind;
	int fd;
	bool bound;
};

struct client {
	enum client_kind kind;
	int sock;
	uint32_t id;
	int *efd;		/* its eventfds, one per vector */
	bool dead;
	bool announced;		/* others got its eventfds */
	const char *why;	/* reason it is being dropped */
	struct out_msg *q;	/* ring of pending messages */
	uint32_t q_head, q_count, q_cap;
};

struct server {
	struct srv_opts opt;
	struct srv_layout lay;
	struct listener lsn[2];		/* -S, and -Q if given */
	unsigned int n_lsn;
	int shm_fd;
	bool shm_created;
	volatile uint32_t *state;	/* state table, mapped read-write */
	size_t state_map_len;
	bool hdr_written;
	struct client **by_id;		/* max_peers slots */
	uint32_t n_clients;
	uint32_t q_limit;		/* queued messages before a client is dropped */
	volatile sig_atomic_t stop;
};

void srv_log(const struct server *s, int verbose_only, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void srv_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int srv_layout_compute(const struct srv_opts *o, uint64_t page, bool huge,
		struct srv_layout *lay);
int srv_open_shm(struct server *s);
void srv_write_hdr(struct server *s);
int srv_open_sockets(struct server *s);
int srv_run(struct server *s);
/* Test entry point (the fuzz harness drives the server without its loop):
 * one round of srv_run() that does not wait, serving whatever is ready
 * now. Returns 0, or -1 when polling failed. */
int srv_step(struct server *s);
void srv_cleanup(struct server *s);

#endif /* IVSHMEM2_SERVER_H */
