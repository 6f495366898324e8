/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * ivshmem2-server: hands ivshmem v2 peers (vmlink's PMD, the RFC QEMU
 * ivshmem2 device) and, on a second socket, stock QEMU ivshmem-doorbell
 * devices their shared memory, IDs and eventfds. Options, layout, daemon
 * mode, signals. See docs/ivshmem2.md.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>

#include "server.h"
#include "ivshm_proto.h"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif

#define DEF_SOCKET "/tmp/ivshmem2.sock"
#define DEF_SHM "/ivshmem2"
#define DEF_OUT_SIZE (2ull << 20)
#define MAX_TOTAL (1ull << 40)

static struct server *g_server;

static void
usage(FILE *f)
{
	fprintf(f,
"Usage: " SRV_NAME " [OPTIONS]\n"
"Serve an ivshmem v2 shared-memory region to up to --max-peers peers over\n"
"a unix socket: INIT with the memory fd, EVENT_FD per peer and vector,\n"
"PEER_GONE when a peer leaves. With --qemu-socket, stock QEMU\n"
"ivshmem-doorbell devices (VMs) join the same region and ID space through\n"
"a second socket speaking QEMU's own ivshmem-server protocol.\n"
"\n"
"  -S, --socket=PATH          unix socket to listen on [" DEF_SOCKET "]\n"
"  -Q, --qemu-socket=PATH     also listen here for QEMU: -chardev socket,\n"
"                             path=PATH,id=ivs -device ivshmem-doorbell,\n"
"                             chardev=ivs,vectors=<--vectors>; the region\n"
"                             is then grown to a power of two (QEMU's BAR2)\n"
"                             and --max-peers is at most 1008\n"
"  -m, --shm=NAME             POSIX shared memory object [" DEF_SHM "]\n"
"  -M, --shm-file=PATH        back the region with this file instead, e.g.\n"
"                             on hugetlbfs (/dev/hugepages/ivshmem2)\n"
"  -l, --size=SIZE            total region size [state table + R/W section\n"
"                             + max-peers x output section]; rounded up to\n"
"                             the backing page, the surplus goes to the R/W\n"
"                             section\n"
"  -o, --output-section-size=SIZE  size of each peer's output section\n"
"                             [2M]; a multiple of the backing page\n"
"  -r, --rw-section-size=SIZE size of the common R/W section [0, or what\n"
"                             --size leaves]\n"
"  -n, --max-peers=N          peer IDs 0..N-1, 2..65536 [2]\n"
"  -V, --vectors=N            interrupt vectors per peer, 1..1024 [2]\n"
"  -P, --protocol=TYPE        protocol type 0x0000-0xffff, or 'net' for\n"
"                             0x0001 (ivshmem-net), 'undefined' [net]\n"
"  -F, --foreground           stay in the foreground (default: daemon)\n"
"  -p, --pid-file=PATH        write the server's pid there\n"
"  -L, --log-file=PATH        log there (daemon default: no log)\n"
"  -v, --verbose              log every client and message\n"
"      --force                reuse an existing shared memory object/file\n"
"      --print-layout         print the layout and exit, creating nothing\n"
"  -h, --help                 this help\n"
"\n"
"SIZE: bytes, decimal or 0x hex, with an optional K, M or G suffix (x1024).\n"
"The state table takes 4 KiB (one u32 per peer, more beyond 1024 peers).\n"
"A 64-byte layout header at offset 0xfc0 (in the state table's first page)\n"
"tells guests the layout; written whenever max-peers <= 1008.\n"
"Protocol 0x0001 and virtio protocols (0x8000-0xffff) need exactly 2 peers;\n"
"with a virtio type, peer 0 gets it with bit 14 set (back-end), the other\n"
"without (front-end). SIGTERM/SIGINT: exit, removing the socket and the\n"
"shared memory the server created.\n");
}

static int
parse_u64(const char *opt, const char *arg, uint64_t *out, bool size)
{
	unsigned long long v;
	char *end;
	unsigned int shift = 0;

	errno = 0;
	if (arg[0] == '-' || arg[0] == '\0')
		goto bad;
	v = strtoull(arg, &end, 0);
	if (errno != 0 || end == arg)
		goto bad;
	if (size && *end != '\0') {
		switch (*end) {
		case 'k': case 'K':
			shift = 10;
			break;
		case 'm': case 'M':
			shift = 20;
			break;
		case 'g': case 'G':
			shift = 30;
			break;
		default:
			goto bad;
		}
		end++;
		if (*end == 'i' && end[1] == 'B')
			end += 2;
		else if (*end == 'B')
			end++;
	}
	if (*end != '\0')
		goto bad;
	if (shift && v > (UINT64_MAX >> shift))
		goto bad;
	*out = (uint64_t)v << shift;
	return 0;
bad:
	srv_err("%s: '%s' is not a valid %s", opt, arg,
		size ? "size (e.g. 4096, 0x7f000, 2M)" : "number");
	return -1;
}

static int
parse_range(const char *opt, const char *arg, uint32_t lo, uint32_t hi,
		uint32_t *out)
{
	uint64_t v;

	if (parse_u64(opt, arg, &v, false) != 0)
		return -1;
	if (v < lo || v > hi) {
		srv_err("%s: %s is out of range (%u..%u)", opt, arg, lo, hi);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

static int
parse_protocol(const char *arg, uint32_t *out)
{
	uint64_t v;

	if (strcmp(arg, "net") == 0 || strcmp(arg, "ivshmem-net") == 0) {
		*out = IVSHM_PROTO_NET;
		return 0;
	}
	if (strcmp(arg, "undefined") == 0) {
		*out = IVSHM_PROTO_UNDEFINED;
		return 0;
	}
	if (parse_u64("--protocol", arg, &v, false) != 0)
		return -1;
	if (v > 0xffff) {
		srv_err("--protocol: %s is not a 16-bit protocol type", arg);
		return -1;
	}
	if (v >= 0x0002 && v < IVSHM_PROTO_USER_FIRST) {
		srv_err("--protocol: 0x%04llx is reserved by the ivshmem v2 "
			"specification (0x0002-0x3fff); use 0x4000-0x7fff for "
			"a user-defined protocol", (unsigned long long)v);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

enum { OPT_FORCE = 256, OPT_PRINT_LAYOUT };

static const struct option long_opts[] = {
	{ "socket", required_argument, NULL, 'S' },
	{ "qemu-socket", required_argument, NULL, 'Q' },
	{ "shm", required_argument, NULL, 'm' },
	{ "shm-file", required_argument, NULL, 'M' },
	{ "size", required_argument, NULL, 'l' },
	{ "output-section-size", required_argument, NULL, 'o' },
	{ "rw-section-size", required_argument, NULL, 'r' },
	{ "max-peers", required_argument, NULL, 'n' },
	{ "vectors", required_argument, NULL, 'V' },
	{ "protocol", required_argument, NULL, 'P' },
	{ "foreground", no_argument, NULL, 'F' },
	{ "pid-file", required_argument, NULL, 'p' },
	{ "log-file", required_argument, NULL, 'L' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "print-layout", no_argument, NULL, OPT_PRINT_LAYOUT },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int
parse_args(int argc, char **argv, struct srv_opts *o)
{
	static char shm_name[NAME_MAX + 2];
	bool shm_given = false;
	int c;

	memset(o, 0, sizeof(*o));
	o->socket_path = DEF_SOCKET;
	o->shm_name = DEF_SHM;
	o->out_size = DEF_OUT_SIZE;
	o->max_peers = 2;
	o->vectors = 2;
	o->protocol = IVSHM_PROTO_NET;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":S:Q:m:M:l:o:r:n:V:P:Fp:L:vh",
			long_opts, NULL)) != -1) {
		switch (c) {
		case 'S':
			if (optarg[0] == '\0') {
				srv_err("--socket: empty path");
				return -1;
			}
			o->socket_path = optarg;
			break;
		case 'Q':
			if (optarg[0] == '\0') {
				srv_err("--qemu-socket: empty path");
				return -1;
			}
			o->qemu_socket_path = optarg;
			break;
		case 'm':
			shm_given = true;
			if (optarg[0] == '\0' || strchr(optarg + 1, '/') ||
					strlen(optarg) > NAME_MAX) {
				srv_err("--shm: '%s' is not a valid POSIX "
					"shared memory name (one component, "
					"optionally starting with '/')", optarg);
				return -1;
			}
			snprintf(shm_name, sizeof(shm_name), "%s%s",
				optarg[0] == '/' ? "" : "/", optarg);
			if (strcmp(shm_name, "/") == 0) {
				srv_err("--shm: empty name");
				return -1;
			}
			o->shm_name = shm_name;
			break;
		case 'M':
			if (optarg[0] == '\0') {
				srv_err("--shm-file: empty path");
				return -1;
			}
			o->shm_file = optarg;
			break;
		case 'l':
			if (parse_u64("--size", optarg, &o->size, true) != 0)
				return -1;
			if (o->size == 0 || o->size > MAX_TOTAL) {
				srv_err("--size: %s is out of range (1..1T)",
					optarg);
				return -1;
			}
			break;
		case 'o':
			if (parse_u64("--output-section-size", optarg,
					&o->out_size, true) != 0)
				return -1;
			if (o->out_size > MAX_TOTAL) {
				srv_err("--output-section-size: %s is too "
					"large", optarg);
				return -1;
			}
			break;
		case 'r':
			if (parse_u64("--rw-section-size", optarg, &o->rw_size,
					true) != 0)
				return -1;
			if (o->rw_size > MAX_TOTAL) {
				srv_err("--rw-section-size: %s is too large",
					optarg);
				return -1;
			}
			o->rw_set = true;
			break;
		case 'n':
			if (parse_range("--max-peers", optarg, IVSHM_MIN_PEERS,
					IVSHM_MAX_PEERS, &o->max_peers) != 0)
				return -1;
			break;
		case 'V':
			if (parse_range("--vectors", optarg, 1,
					IVSHM_MAX_VECTORS, &o->vectors) != 0)
				return -1;
			break;
		case 'P':
			if (parse_protocol(optarg, &o->protocol) != 0)
				return -1;
			break;
		case 'F':
			o->foreground = true;
			break;
		case 'p':
			o->pid_file = optarg;
			break;
		case 'L':
			o->log_file = optarg;
			break;
		case 'v':
			o->verbose = true;
			break;
		case OPT_FORCE:
			o->force = true;
			break;
		case OPT_PRINT_LAYOUT:
			o->print_layout = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
			srv_err("option %s needs a value", argv[optind - 1]);
			return -1;
		default:
			if (optopt)
				srv_err("unknown option -%c", optopt);
			else
				srv_err("unknown option %s", argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		srv_err("unexpected argument '%s'", argv[optind]);
		return -1;
	}
	if (o->shm_file && shm_given) {
		srv_err("--shm and --shm-file exclude each other");
		return -1;
	}
	if (o->shm_file)
		o->shm_name = NULL;
	if (o->qemu_socket_path != NULL &&
			strcmp(o->qemu_socket_path, o->socket_path) == 0) {
		srv_err("--qemu-socket and --socket must be different paths");
		return -1;
	}
	if (o->qemu_socket_path != NULL &&
			o->max_peers > IVSHM_HDR_MAX_PEERS) {
		srv_err("--max-peers %u: with --qemu-socket at most %u (guests "
			"find the layout in a header after the state table's "
			"entries, in its first 4 KiB)", o->max_peers,
			IVSHM_HDR_MAX_PEERS);
		return -1;
	}
	if ((o->protocol == IVSHM_PROTO_NET ||
			o->protocol >= IVSHM_PROTO_VIRTIO_FRONT) &&
			o->max_peers != 2) {
		srv_err("protocol 0x%04x connects exactly 2 peers, not "
			"--max-peers %u", o->protocol, o->max_peers);
		return -1;
	}
	return 0;
}

/* Page size of the backing: huge page size on hugetlbfs. */
static int
backing_page(const struct srv_opts *o, uint64_t *page, bool *huge)
{
	long ps = sysconf(_SC_PAGESIZE);
	struct statfs sf;
	char dir[PATH_MAX];

	*page = ps > 0 ? (uint64_t)ps : 4096;
	*huge = false;
	if (o->shm_file == NULL)
		return 0;
	if (statfs(o->shm_file, &sf) != 0) {
		if (strlen(o->shm_file) >= sizeof(dir)) {
			srv_err("--shm-file: path too long");
			return -1;
		}
		strcpy(dir, o->shm_file);
		if (statfs(dirname(dir), &sf) != 0) {
			srv_err("--shm-file: cannot reach the directory of "
				"%s: %s", o->shm_file, strerror(errno));
			return -1;
		}
	}
	if ((uint32_t)sf.f_type == (uint32_t)HUGETLBFS_MAGIC) {
		*huge = true;
		*page = (uint64_t)sf.f_bsize;
	}
	return 0;
}

/* Relative paths would break after the daemon's chdir("/"). */
static int
absolutize(const char **path)
{
	char cwd[PATH_MAX], *abs;
	size_t n;

	if (*path == NULL || (*path)[0] == '/')
		return 0;
	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		srv_err("getcwd: %s", strerror(errno));
		return -1;
	}
	n = strlen(cwd) + strlen(*path) + 2;
	abs = malloc(n);
	if (abs == NULL)
		return -1;
	snprintf(abs, n, "%s/%s", cwd, *path);
	*path = abs;
	return 0;
}

/* Absolute paths (0), or the exit status. */
static int
fix_paths(struct srv_opts *o)
{
	size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;

	if (absolutize(&o->socket_path) != 0 ||
			absolutize(&o->qemu_socket_path) != 0 ||
			absolutize(&o->shm_file) != 0 ||
			absolutize(&o->pid_file) != 0 ||
			absolutize(&o->log_file) != 0)
		return 1;
	if (strlen(o->socket_path) > max) {
		srv_err("socket path %s is too long (at most %zu bytes)",
			o->socket_path, max);
		return 2;
	}
	if (o->qemu_socket_path && strlen(o->qemu_socket_path) > max) {
		srv_err("QEMU socket path %s is too long (at most %zu bytes)",
			o->qemu_socket_path, max);
		return 2;
	}
	return 0;
}

static void
print_layout(const struct server *s)
{
	printf("backing_page=0x%" PRIx64 "\nhugetlbfs=%d\n"
		"state_table_offset=0x0\nstate_table_size=0x%" PRIx64
		"\nrw_section_offset=0x%" PRIx64
		"\nrw_section_size=0x%" PRIx64
		"\noutput_section_offset=0x%" PRIx64
		"\noutput_section_size=0x%" PRIx64 "\nmax_peers=%u\n"
		"vectors=%u\nprotocol=0x%04x\ntotal_size=0x%" PRIx64
		"\n", s->lay.page, s->lay.hugetlbfs ? 1 : 0,
		s->lay.st_size, s->lay.st_size, s->lay.rw_size,
		s->lay.out_off, s->lay.out_size, s->opt.max_peers,
		s->opt.vectors, s->opt.protocol, s->lay.total);
	if (s->lay.has_hdr)
		printf("header_offset=0x%x\n", IVSHM_HDR_OFFSET);
}

static void
on_signal(int sig)
{
	(void)sig;
	if (g_server != NULL)
		g_server->stop = 1;
}

static int
write_pid_file(const char *path)
{
	char buf[32];
	int fd, n;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		srv_err("cannot write pid file %s: %s", path, strerror(errno));
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write(fd, buf, (size_t)n) != n) {
		srv_err("cannot write pid file %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Fork; the parent exits once the child is ready, with its status. */
static int
daemonize(int *ready_fd)
{
	int p[2];
	pid_t pid;
	char st = 1;

	if (pipe2(p, O_CLOEXEC) != 0) {
		srv_err("pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		srv_err("fork: %s", strerror(errno));
		return -1;
	}
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &st, 1) != 1)
			st = 1;
		_exit(st);
	}
	close(p[0]);
	if (setsid() < 0) {
		srv_err("setsid: %s", strerror(errno));
		return -1;
	}
	*ready_fd = p[1];
	return 0;
}

static void
redirect_stdio(const char *log_file)
{
	int null = open("/dev/null", O_RDWR);
	int log = -1;

	if (log_file != NULL)
		log = open(log_file, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
	}
	if (log >= 0)
		dup2(log, STDERR_FILENO);
	else if (null >= 0)
		dup2(null, STDERR_FILENO);
	if (null > STDERR_FILENO)
		close(null);
	if (log > STDERR_FILENO)
		close(log);
}

int
main(int argc, char **argv)
{
	static struct server srv;
	struct server *s = &srv;
	struct sigaction sa;
	sigset_t block;
	uint64_t page;
	bool huge;
	int ready_fd = -1, rc = 1;
	bool pid_written = false;

	memset(s, 0, sizeof(*s));
	s->lsn[0].fd = s->lsn[1].fd = -1;
	s->shm_fd = -1;
	if (parse_args(argc, argv, &s->opt) != 0) {
		fprintf(stderr, "Try '%s --help'.\n", SRV_NAME);
		return 2;
	}
	rc = fix_paths(&s->opt);
	if (rc != 0)
		return rc;
	rc = 1;
	if (backing_page(&s->opt, &page, &huge) != 0)
		return 2;
	if (srv_layout_compute(&s->opt, page, huge, &s->lay) != 0)
		return 2;
	if (s->opt.print_layout) {
		print_layout(s);
		return 0;
	}
	s->by_id = calloc(s->opt.max_peers, sizeof(*s->by_id));
	if (s->by_id == NULL) {
		srv_err("out of memory");
		return 1;
	}

	/* Signals are blocked except inside ppoll(): no lost SIGTERM. */
	g_server = s;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	if (srv_open_shm(s) != 0 || srv_open_sockets(s) != 0)
		goto out;
	if (!s->opt.foreground && daemonize(&ready_fd) != 0)
		goto out;
	if (s->opt.pid_file != NULL) {
		if (write_pid_file(s->opt.pid_file) != 0)
			goto out;
		pid_written = true;
	}
	srv_log(s, 0, "serving %s (%s 0x%llx bytes: state table 0x%llx, "
		"R/W 0x%llx, %u x output 0x%llx) on %s%s%s, %u vectors, "
		"protocol 0x%04x",
		s->opt.shm_file ? s->opt.shm_file : s->opt.shm_name,
		s->lay.hugetlbfs ? "hugetlbfs" : "shm",
		(unsigned long long)s->lay.total,
		(unsigned long long)s->lay.st_size,
		(unsigned long long)s->lay.rw_size, s->opt.max_peers,
		(unsigned long long)s->lay.out_size, s->opt.socket_path,
		s->opt.qemu_socket_path ? " and QEMU clients on " : "",
		s->opt.qemu_socket_path ? s->opt.qemu_socket_path : "",
		s->opt.vectors, s->opt.protocol);
	if (ready_fd >= 0) {
		char ok = 0;

		if (chdir("/") != 0)
			srv_log(s, 0, "chdir /: %s", strerror(errno));
		redirect_stdio(s->opt.log_file);
		if (write(ready_fd, &ok, 1) != 1)
			srv_log(s, 0, "cannot notify the parent");
		close(ready_fd);
		ready_fd = -1;
	} else if (s->opt.log_file != NULL) {
		redirect_stdio(s->opt.log_file);
	}
	rc = srv_run(s) == 0 ? 0 : 1;
	srv_log(s, 0, "exiting");
out:
	srv_cleanup(s);
	if (pid_written)
		unlink(s->opt.pid_file);
	if (ready_fd >= 0) {
		char bad = 1;

		if (write(ready_fd, &bad, 1) != 1)
			rc = 1;
		close(ready_fd);
	}
	return rc;
}
