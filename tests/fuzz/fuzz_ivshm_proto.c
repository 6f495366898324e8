/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * Fuzz target 'ivshm_proto': the ivshmem2 server socket protocol, both
 * ways.
 *
 * Mode 0, hostile server vs the peer library (lib/ivshmem2): the input
 * scripts the server's messages - INIT, EVENT_FD, PEER_GONE, unknown types,
 * any length - each with fds of its choice: a region memfd of any size
 * (smaller or larger than INIT says, not page-aligned), eventfds, a pipe,
 * a socket, several fds at once, none. ivshm_dev_connect must refuse or
 * accept consistently; after a handshake ivshm_dev_process reads the rest,
 * and doorbells, state writes and vector acks are exercised. Checks: no
 * crash or sanitizer report, info consistent with the real fd size, every
 * fd and region mapping released by ivshm_dev_close.
 *
 * Mode 1, hostile clients vs the server (app/ivshmem2-server, driven one
 * non-blocking round at a time through srv_step): clients connect, send
 * bytes, stop reading, close, in any order. Checks: at most max_peers
 * clients, every INIT a client reads is well-formed, no fd leak once the
 * server is cleaned up.
 */

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <rte_log.h>

#include "fuzz_ivshm.h"
#include "fuzz_util.h"
#include "ivshm.h"
#include "server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* ---- mode 0: hostile server ---- */

/* Fds of the kind the input picks; returns how many (taken by fzs_add). */
static unsigned int
make_fds(struct fz *f, int *fds, uint64_t region_size)
{
	uint8_t k = fz_u8(f);
	unsigned int n = 0, i, count = (k >> 4) % 4;
	int sv[2];

	if (count == 0)
		return 0;
	for (i = 0; i < count; i++) {
		switch ((k + i) % 6) {
		case 0:
			fds[n] = eventfd(0, EFD_CLOEXEC);
			break;
		case 1:
			fds[n] = fzs_region_fd(region_size);
			break;
		case 2:
			fds[n] = fzs_region_fd((uint64_t)fz_u16(f) * 64);
			break;
		case 3:
			if (pipe2(sv, O_CLOEXEC) == 0) {
				close(sv[1]);
				fds[n] = sv[0];
			} else {
				fds[n] = -1;
			}
			break;
		case 4:
			fds[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
			break;
		default:
			fds[n] = open("/dev/null", O_RDONLY | O_CLOEXEC);
			break;
		}
		if (fds[n] >= 0)
			n++;
	}
	return n;
}

static void
put32(uint8_t *b, uint32_t off, uint32_t v)
{
	v = htole32(v);
	memcpy(b + off, &v, 4);
}

static uint32_t
get32(const uint8_t *b, uint32_t off)
{
	uint32_t v;

	memcpy(&v, b + off, 4);
	return le32toh(v);
}

/* A well-formed handshake for peer ID of a 2..4-peer region: INIT with a
 * right-sized region, then the peer's own eventfds. */
static void
script_good(struct fz_script *s, struct fz *f)
{
	uint32_t maxp = 2 + fz_u8(f) % 3, id = fz_u8(f) % maxp;
	uint32_t vec = 1 + fz_u8(f) % 3, v;
	uint64_t out = 4096ull * (1 + fz_u8(f) % 4);
	uint64_t size = 4096 + out * maxp + 4096ull * (fz_u8(f) % 2), o;
	uint8_t b[40];
	int fd;

	memset(b, 0, sizeof(b));
	put32(b, 0, IVSHM_MSG_INIT);
	put32(b, 4, 40);
	put32(b, 8, 2);
	put32(b, 12, 2);
	put32(b, 16, id);
	put32(b, 20, maxp);
	put32(b, 24, vec);
	put32(b, 28, 1);
	o = htole64(out);
	memcpy(b + 32, &o, 8);
	fd = fzs_region_fd(size);
	fzs_add(s, b, 40, &fd, fd >= 0);
	for (v = 0; v < vec; v++) {
		uint8_t e[16];

		put32(e, 0, IVSHM_MSG_EVENT_FD);
		put32(e, 4, 16);
		put32(e, 8, id);
		put32(e, 12, v);
		fd = eventfd(0, EFD_CLOEXEC);
		fzs_add(s, e, 16, &fd, fd >= 0);
	}
}

static void
script_msgs(struct fz_script *s, struct fz *f)
{
	unsigned int n = fz_u8(f) % 24, i;

	for (i = 0; i < n && !fz_empty(f); i++) {
		uint8_t b[96];
		uint8_t op = fz_u8(f);
		uint32_t len, send_len;
		int fds[FZS_MAX_FDS];
		unsigned int nfds;

		memset(b, 0, sizeof(b));
		switch (op % 4) {
		case 0:	/* EVENT_FD */
			put32(b, 0, IVSHM_MSG_EVENT_FD);
			len = 16;
			put32(b, 8, fz_u8(f) % 5);
			put32(b, 12, fz_u8(f) % 5);
			break;
		case 1:	/* PEER_GONE */
			put32(b, 0, IVSHM_MSG_PEER_GONE);
			len = 12;
			put32(b, 8, fz_u8(f) % 5);
			break;
		case 2:	/* INIT with fuzzed fields */
			put32(b, 0, IVSHM_MSG_INIT);
			len = 40;
			fz_bytes(f, b + 8, 32);
			if (op & 0x10) {	/* small, plausible numbers */
				put32(b, 8, 2);
				put32(b, 12, 2);
				put32(b, 16, b[16] % 4);
				put32(b, 20, 2 + b[20] % 3);
				put32(b, 24, 1 + b[24] % 4);
				put32(b, 28, 1);
				b[33] &= 0x3f;
				memset(b + 34, 0, 6);
			}
			break;
		default:	/* anything */
			fz_bytes(f, b, 8);
			len = get32(b, 4);
			break;
		}
		/* the header's length may lie, and more or less is sent */
		if (op & 0x20)
			len = fz_u8(f);
		put32(b, 4, len);
		send_len = len > sizeof(b) ? sizeof(b) : len;
		if (send_len < 8)
			send_len = 8;
		if (op & 0x40)
			fz_bytes(f, b + 8, send_len - 8);
		nfds = make_fds(f, fds, 4096ull * (1 + fz_u8(f) % 16));
		fzs_add(s, b, send_len, fds, nfds);
	}
}

static void
check_info(const struct ivshm_dev *dev)
{
	const struct ivshm_info *in = ivshm_dev_info(dev);

	FZ_CHECK(in->max_peers >= IVSHM_MIN_PEERS &&
		in->max_peers <= IVSHM_MAX_PEERS);
	FZ_CHECK(in->id < in->max_peers);
	FZ_CHECK(in->vectors >= 1 && in->vectors <= IVSHM_MAX_VECTORS);
	FZ_CHECK(in->state_table_size + in->rw_section_size +
		in->output_section_size * in->max_peers == in->region_size);
	FZ_CHECK(in->output_section_offset + in->output_section_size *
		in->max_peers == in->region_size);
}

static void
drive_dev(struct ivshm_dev *dev, struct fz *f)
{
	const struct ivshm_info *in = ivshm_dev_info(dev);
	unsigned int n = fz_u8(f) % 16, i;

	for (i = 0; i < n; i++) {
		uint8_t op = fz_u8(f);

		switch (op % 6) {
		case 0:
			ivshm_dev_process(dev);
			break;
		case 1:
			ivshm_doorbell(dev, fz_u8(f) % (in->max_peers + 1),
				fz_u8(f) % (in->vectors + 1));
			break;
		case 2:
			ivshm_reg_write(dev, IVSHM_REG_STATE, fz_u8(f) % 4);
			break;
		case 3:
			ivshm_reg_write(dev, IVSHM_REG_INT_CTRL, fz_u8(f) & 1);
			ivshm_set_oneshot(dev, op & 0x80);
			break;
		case 4:
			ivshm_vector_raise_local(dev, fz_u8(f) % in->vectors);
			(void)ivshm_vector_ack(dev, fz_u8(f) % in->vectors);
			break;
		default: {
			uint32_t id = fz_u8(f) % in->max_peers;

			(void)ivshm_peer_present(dev, id);
			(void)ivshm_peer_state(dev, id);
			(void)ivshm_peer_generation(dev, id);
			if (id != in->id && ivshm_peer_present(dev, id) &&
					in->output_section_size != 0)
				FZ_CHECK(ivshm_peer_section(dev, id) != NULL);
			break;
		}
		}
	}
	ivshm_dev_process(dev);
}

static void
hostile_server(struct fz *f)
{
	static struct fz_script s;
	struct ivshm_dev *dev = NULL;
	uint8_t how = fz_u8(f);
	int ret;

	fzs_init(&s);
	if (how & 1)
		script_good(&s, f);
	script_msgs(&s, f);
	s.keep_open = how & 2;
	fzs_serve(&s);
	/* Every message is in the socket before the library reads (see
	 * fuzz_ivshm.c): only a kept connection with the handshake left
	 * incomplete waits, and it times out whatever the timeout. */
	ret = ivshm_dev_connect(fzs_path(), 1, &dev);
	fzs_join(&s);
	if (ret == 0) {
		FZ_CHECK(dev != NULL);
		check_info(dev);
		drive_dev(dev, f);
		ivshm_dev_close(dev);
	} else {
		FZ_CHECK(ret < 0 && dev == NULL);
	}
	fzs_fini(&s);
}

/* ---- mode 1: hostile clients vs the server ---- */

#define MAX_CLIENTS 8

static void
client_read(int c, uint32_t max_peers)
{
	for (;;) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int) * 8)];
		} ctl;
		uint8_t buf[512];
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh;
		struct cmsghdr *cm;
		ssize_t n;

		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.b;
		mh.msg_controllen = sizeof(ctl.b);
		n = recvmsg(c, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n <= 0)
			return;
		for (cm = CMSG_FIRSTHDR(&mh); cm != NULL;
				cm = CMSG_NXTHDR(&mh, cm)) {
			size_t k, nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (k = 0; k < nfd; k++) {
				int fd;

				memcpy(&fd, CMSG_DATA(cm) + k * sizeof(int),
					sizeof(int));
				close(fd);
			}
		}
		/* a message that starts the read and is an INIT names a
		 * valid id */
		if (n >= 40 && get32(buf, 0) == IVSHM_MSG_INIT &&
				get32(buf, 4) == 40)
			FZ_CHECK(get32(buf, 16) < max_peers);
	}
}

/*
 * Where the server under test puts its sockets and its memory file: a
 * name prefix in /dev/shm, a memory file system (the private temp
 * directory is on a disk one: creating, sizing and removing the file
 * there for each input costs disk writes).
 */
static const char *
srv_prefix(void)
{
	static char prefix[96];
	struct stat st;

	if (prefix[0] != '\0')
		return prefix;
	if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
			access("/dev/shm", W_OK) == 0)
		snprintf(prefix, sizeof(prefix), "/dev/shm/vmlink-fuzz-%d-",
			(int)getpid());
	else
		snprintf(prefix, sizeof(prefix), "%s/", fz_tmpdir());
	return prefix;
}

static void
hostile_clients(struct fz *f)
{
	static unsigned int seq;
	struct server srv;
	char sock[128], qsock[128], shm[128];
	int cl[MAX_CLIENTS];
	unsigned int i, nops;
	struct sockaddr_un sa, qsa;

	memset(&srv, 0, sizeof(srv));
	srv.lsn[0].fd = srv.lsn[1].fd = -1;
	srv.shm_fd = -1;
	snprintf(sock, sizeof(sock), "%ssrv.sock", srv_prefix());
	snprintf(qsock, sizeof(qsock), "%ssrv-qemu.sock", srv_prefix());
	snprintf(shm, sizeof(shm), "%ssrv.shm.%u", srv_prefix(), seq++);
	srv.opt.socket_path = sock;
	srv.opt.qemu_socket_path = qsock;	/* QEMU ivshmem-doorbell clients */
	srv.opt.shm_file = shm;
	srv.opt.max_peers = 2 + fz_u8(f) % 4;
	srv.opt.vectors = 1 + fz_u8(f) % 3;
	srv.opt.protocol = (fz_u8(f) & 1) ? IVSHM_PROTO_NET :
		IVSHM_PROTO_VIRTIO_FRONT;
	srv.opt.out_size = 4096ull * (4 + fz_u8(f) % 4);
	srv.opt.verbose = false;
	/* its join/leave lines and layout notes, thousands a second, would
	 * bury the fuzzer's own output (VMLINK_FUZZ_LOG=1 shows them) */
	srv.opt.quiet = getenv("VMLINK_FUZZ_LOG") == NULL;
	srv.by_id = calloc(srv.opt.max_peers, sizeof(*srv.by_id));
	if (srv.by_id == NULL)
		return;
	if (srv_layout_compute(&srv.opt, 4096, false, &srv.lay) != 0 ||
			srv_open_shm(&srv) != 0 || srv_open_sockets(&srv) != 0) {
		srv_cleanup(&srv);
		return;
	}
	for (i = 0; i < MAX_CLIENTS; i++)
		cl[i] = -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	qsa = sa;
	snprintf(qsa.sun_path, sizeof(qsa.sun_path), "%s", qsock);
	nops = fz_u8(f) % 48;
	for (i = 0; i < nops && !fz_empty(f); i++) {
		uint8_t op = fz_u8(f), k = (op >> 3) % MAX_CLIENTS;
		uint8_t junk[64];

		switch (op % 6) {
		case 0:	/* connect */
			if (cl[k] >= 0)
				break;
			cl[k] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
				SOCK_NONBLOCK, 0);
			if (cl[k] >= 0 && connect(cl[k], (struct sockaddr *)
					((op & 0x80) ? &qsa : &sa), sizeof(sa)) != 0) {
				close(cl[k]);
				cl[k] = -1;
			}
			break;
		case 1:	/* send bytes: the server must drop the client */
			if (cl[k] >= 0) {
				size_t n = 1 + fz_u8(f) % sizeof(junk);

				fz_bytes(f, junk, n);
				(void)send(cl[k], junk, n, MSG_NOSIGNAL |
					MSG_DONTWAIT);
			}
			break;
		case 2:
			if (cl[k] >= 0) {
				close(cl[k]);
				cl[k] = -1;
			}
			break;
		case 3:
			if (cl[k] >= 0)
				client_read(cl[k], srv.opt.max_peers);
			break;
		case 4:
			if (cl[k] >= 0)
				shutdown(cl[k], (op & 0x80) ? SHUT_WR : SHUT_RD);
			break;
		default:
			break;
		}
		FZ_CHECK(srv_step(&srv) == 0);
		FZ_CHECK(srv.n_clients <= srv.opt.max_peers);
	}
	FZ_CHECK(srv_step(&srv) == 0);
	for (i = 0; i < MAX_CLIENTS; i++) {
		if (cl[i] >= 0) {
			client_read(cl[i], srv.opt.max_peers);
			close(cl[i]);
		}
	}
	srv_cleanup(&srv);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fzs_path();
	if (getenv("VMLINK_FUZZ_LOG") == NULL) {
		/* The peer library logs through rte_log; EAL is not needed. */
		rte_log_set_global_level(RTE_LOG_EMERG);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct fz_leaks leaks;

	fz_leaks_begin(&leaks, FZS_REGION_NAME);
	if (fz_u8(&f) & 1)
		hostile_clients(&f);
	else
		hostile_server(&f);
	fz_leaks_end(&leaks);
	return 0;
}
