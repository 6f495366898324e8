/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * The ivshmem v2 peer (lib/ivshmem2 ivshm.h) against the real server, no
 * EAL: mapping rights, registers (STATE, DOORBELL, INT_CTRL, one-shot),
 * peers coming and going, fd hygiene, a lost server.
 *
 *   test_dev SERVER_BINARY WORKDIR     run the tests (spawns the server)
 *   test_dev connect SOCKET [TIMEOUT]  connect once, print the outcome as
 *                                      JSON (driven by a fake server)
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "ivshm.h"
#include "ivshm_test_server.h"

static char shm_name[128];

static void
start_server_args(const char *max_peers, const char *vectors,
		const char *mem_opt, const char *mem, const char *out)
{
	const char *args[] = { mem_opt, mem, "-P", "0x4000", "-n", max_peers,
		"-V", vectors, "-o", out, "-r", "12K", NULL };

	server_start(args);
}

static void
start_server(const char *max_peers, const char *vectors)
{
	start_server_args(max_peers, vectors, "-m", shm_name, "64K");
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the DIR's own fd */
}

/* Does writing one byte at p fault? (in a child) */
static bool
write_faults(volatile uint8_t *p)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		*p = 0x5a;
		_exit(0);
	}
	waitpid(pid, &st, 0);
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV;
}

/* process() on dev until mask seen or timeout */
static unsigned int
process_until(struct ivshm_dev *dev, unsigned int mask, int ms)
{
	unsigned int ev = 0;

	while (ms > 0 && !(ev & mask)) {
		fd_readable(ivshm_dev_ctrl_fd(dev), 10);
		ev |= ivshm_dev_process(dev);
		ms -= 10;
	}
	return ev;
}

static void
test_two_peers(void)
{
	struct ivshm_dev *a, *b;
	const struct ivshm_info *ia, *ib;
	struct ivshm_dev_stats st;
	uint8_t *own_a, *rw_a, *rw_b;
	const uint8_t *peer_b_in_a;
	uint32_t gen, v;
	int fds0;

	start_server("3", "3");
	fds0 = count_fds();
	CHECK_EQ(ivshm_dev_connect(sock_path, 2000, &a), 0);
	CHECK_EQ(ivshm_dev_connect(sock_path, 2000, &b), 0);
	if (failures)
		exit(1);
	ia = ivshm_dev_info(a);
	ib = ivshm_dev_info(b);
	CHECK_EQ(ia->id, 0);
	CHECK_EQ(ib->id, 1);
	CHECK_EQ(ia->max_peers, 3);
	CHECK_EQ(ia->vectors, 3);
	CHECK_EQ(ia->protocol, 0x4000);
	CHECK_EQ(ia->state_table_size, 0x1000);
	CHECK_EQ(ia->rw_section_offset, 0x1000);
	CHECK_EQ(ia->rw_section_size, 0x3000);
	CHECK_EQ(ia->output_section_offset, 0x4000);
	CHECK_EQ(ia->output_section_size, 0x10000);
	CHECK_EQ(ia->region_size, 0x4000 + 3 * 0x10000);
	CHECK_EQ(ivshm_reg_read(a, IVSHM_REG_ID), 0);
	CHECK_EQ(ivshm_reg_read(b, IVSHM_REG_ID), 1);
	CHECK_EQ(ivshm_reg_read(b, IVSHM_REG_MAX_PEERS), 3);
	CHECK_EQ(ivshm_reg_read(a, IVSHM_REG_INT_CTRL), 0);
	CHECK_EQ(ivshm_reg_read(a, 0x44), 0);	/* unbacked offset */
	/* b knew a at connect time; a learns of b from its socket */
	CHECK(ivshm_peer_present(b, 0));
	CHECK(!ivshm_peer_present(a, 1));
	CHECK(process_until(a, IVSHM_EV_PEER_UP, 2000) & IVSHM_EV_PEER_UP);
	CHECK(ivshm_peer_present(a, 1));
	CHECK(!ivshm_peer_present(a, 2));

	/* mapping rights */
	own_a = ivshm_own_section(a);
	rw_a = ivshm_rw_section(a);
	rw_b = ivshm_rw_section(b);
	peer_b_in_a = ivshm_peer_section(a, 1);
	CHECK(own_a == (const uint8_t *)ivshm_peer_section(a, 0));
	CHECK(ivshm_peer_section(a, 3) == NULL);
	own_a[100] = 0xab;
	CHECK_EQ(((const uint8_t *)ivshm_peer_section(b, 0))[100], 0xab);
	((uint8_t *)ivshm_own_section(b))[7] = 0xcd;
	CHECK_EQ(peer_b_in_a[7], 0xcd);
	rw_a[5] = 0x11;
	CHECK_EQ(rw_b[5], 0x11);
	rw_b[0x2fff] = 0x22;
	CHECK_EQ(rw_a[0x2fff], 0x22);
	CHECK(write_faults((volatile uint8_t *)(uintptr_t)peer_b_in_a));
	CHECK(write_faults((volatile uint8_t *)(uintptr_t)
		ivshm_peer_section(a, 2) + 0xfff0));
	CHECK(write_faults((volatile uint8_t *)(uintptr_t)
		ivshm_state_table(a)));
	CHECK(!write_faults(own_a + 0xffff));
	CHECK(!write_faults(rw_a));

	/* STATE: table + vector 0 of the others, only on change */
	ivshm_reg_write(a, IVSHM_REG_INT_CTRL, 1);
	CHECK_EQ(ivshm_reg_read(a, IVSHM_REG_INT_CTRL), 1);
	ivshm_reg_write(b, IVSHM_REG_STATE, 7);
	CHECK_EQ(ivshm_peer_state(a, 1), 7);
	CHECK_EQ(ivshm_state_table(a)[1], 7);
	CHECK_EQ(ivshm_reg_read(b, IVSHM_REG_STATE), 7);
	CHECK(fd_readable(ivshm_vector_fd(a, 0), 1000));
	CHECK_EQ(ivshm_vector_ack(a, 0), 1);
	CHECK(!fd_readable(ivshm_vector_fd(a, 0), 0));
	ivshm_reg_write(b, IVSHM_REG_STATE, 7);
	CHECK(!fd_readable(ivshm_vector_fd(a, 0), 50));
	CHECK(!fd_readable(ivshm_vector_fd(b, 0), 0));	/* not to itself */
	CHECK_EQ(ivshm_peer_state(a, 5), 0);

	/* An ivshmem-doorbell peer's QEMU clears O_NONBLOCK on every fd it
	 * receives, ours included (the flag belongs to the shared open
	 * file): acking an empty vector must still return at once. SIGALRM
	 * ends the test if it blocks. */
	for (v = 0; v < 3; v++) {
		int fd = ivshm_vector_fd(a, v);

		CHECK_EQ(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK), 0);
	}
	alarm(10);
	CHECK_EQ(ivshm_vector_ack(a, 0), 0);
	ivshm_reg_write(b, IVSHM_REG_STATE, 8);
	CHECK(fd_readable(ivshm_vector_fd(a, 0), 1000));
	CHECK_EQ(ivshm_vector_ack(a, 0), 1);
	CHECK_EQ(ivshm_vector_ack(a, 0), 0);
	alarm(0);

	/* DOORBELL */
	ivshm_doorbell(b, 0, 2);
	CHECK(fd_readable(ivshm_vector_fd(a, 2), 1000));
	CHECK(!fd_readable(ivshm_vector_fd(a, 1), 0));
	CHECK_EQ(ivshm_vector_ack(a, 2), 1);
	ivshm_doorbell(a, 1, 1);
	CHECK(fd_readable(ivshm_vector_fd(b, 1), 1000));
	CHECK_EQ(ivshm_vector_ack(b, 1), 0);	/* b's INT_CTRL is off */
	ivshm_dev_stats_get(b, &st);
	CHECK_EQ(st.irqs_masked, 1);
	ivshm_doorbell(a, 2, 0);		/* absent peer */
	ivshm_doorbell(a, 1, 3);		/* no such vector */
	ivshm_doorbell(a, 9, 0);		/* no such id */
	ivshm_dev_stats_get(a, &st);
	CHECK_EQ(st.doorbells, 1);
	CHECK_EQ(st.doorbells_absent, 3);
	ivshm_doorbell(a, 0, 1);		/* to itself */
	CHECK(fd_readable(ivshm_vector_fd(a, 1), 1000));
	CHECK_EQ(ivshm_vector_ack(a, 1), 1);

	/* one-shot: a delivery clears INT_CTRL */
	ivshm_set_oneshot(a, true);
	ivshm_doorbell(b, 0, 1);
	CHECK(fd_readable(ivshm_vector_fd(a, 1), 1000));
	CHECK_EQ(ivshm_vector_ack(a, 1), 1);
	CHECK_EQ(ivshm_reg_read(a, IVSHM_REG_INT_CTRL), 0);
	ivshm_doorbell(b, 0, 1);
	CHECK(fd_readable(ivshm_vector_fd(a, 1), 1000));
	CHECK_EQ(ivshm_vector_ack(a, 1), 0);
	ivshm_set_oneshot(a, false);
	ivshm_reg_write(a, IVSHM_REG_INT_CTRL, 0xffffffff);
	CHECK_EQ(ivshm_reg_read(a, IVSHM_REG_INT_CTRL), 1);

	/* b leaves: zeroed state, PEER_GONE, eventfds released */
	gen = ivshm_peer_generation(a, 1);
	ivshm_dev_close(b);
	CHECK(process_until(a, IVSHM_EV_PEER_GONE, 2000) & IVSHM_EV_PEER_GONE);
	/* the server rang vector 0 (a state change) before PEER_GONE */
	CHECK(fd_readable(ivshm_vector_fd(a, 0), 0));
	CHECK_EQ(ivshm_vector_ack(a, 0), 1);
	CHECK(!ivshm_peer_present(a, 1));
	CHECK_EQ(ivshm_peer_generation(a, 1), gen + 1);
	CHECK_EQ(ivshm_peer_state(a, 1), 0);
	ivshm_doorbell(a, 1, 0);
	ivshm_dev_stats_get(a, &st);
	CHECK_EQ(st.doorbells_absent, 4);

	/* it comes back with the same ID and new eventfds */
	CHECK_EQ(ivshm_dev_connect(sock_path, 2000, &b), 0);
	CHECK_EQ(ivshm_dev_info(b)->id, 1);
	CHECK(process_until(a, IVSHM_EV_PEER_UP, 2000) & IVSHM_EV_PEER_UP);
	ivshm_doorbell(a, 1, 2);
	CHECK(fd_readable(ivshm_vector_fd(b, 2), 1000));
	ivshm_reg_write(b, IVSHM_REG_INT_CTRL, 1);
	CHECK_EQ(ivshm_vector_ack(b, 2), 1);
	CHECK_EQ(ivshm_dev_info(b)->rw_section_size, 0x3000);

	/* the server goes away: the link between a and b survives */
	server_stop();
	CHECK(process_until(a, IVSHM_EV_SERVER_LOST, 2000) &
		IVSHM_EV_SERVER_LOST);
	CHECK(!fd_readable(ivshm_dev_ctrl_fd(a), 50));	/* quiet, still valid */
	CHECK_EQ(ivshm_dev_process(a), 0);
	ivshm_doorbell(b, 0, 1);
	CHECK(fd_readable(ivshm_vector_fd(a, 1), 1000));
	ivshm_reg_write(b, IVSHM_REG_STATE, 3);
	CHECK_EQ(ivshm_peer_state(a, 1), 3);
	ivshm_dev_close(a);
	ivshm_dev_close(b);
	CHECK_EQ(count_fds(), fds0);
}

static void
test_fd_hygiene(void)
{
	struct ivshm_dev *a, *b;
	int i, fds0;

	start_server("2", "4");
	fds0 = count_fds();
	CHECK_EQ(ivshm_dev_connect(sock_path, 2000, &a), 0);
	for (i = 0; i < 20; i++) {
		CHECK_EQ(ivshm_dev_connect(sock_path, 2000, &b), 0);
		process_until(a, IVSHM_EV_PEER_UP, 2000);
		ivshm_dev_close(b);
		process_until(a, IVSHM_EV_PEER_GONE, 2000);
	}
	/* a holds: socket, 4 own, 4 reserved for peer 1, sink, quiet */
	CHECK_EQ(count_fds(), fds0 + 1 + 4 + 4 + 2);
	/* beyond max_peers: refused cleanly, nothing leaked */
	CHECK_EQ(ivshm_dev_connect(sock_path, 2000, &b), 0);
	{
		struct ivshm_dev *c;

		CHECK_EQ(ivshm_dev_connect(sock_path, 2000, &c),
			-ECONNREFUSED);
	}
	ivshm_dev_close(b);
	ivshm_dev_close(a);
	CHECK_EQ(count_fds(), fds0);
	server_stop();
}

/* Huge pages: sections on 2 MiB boundaries, state table and R/W section
 * share the first page (mapped read-write together). */
static void
test_hugetlbfs(void)
{
	char file[256];
	struct ivshm_dev *a, *b;
	const struct ivshm_info *ia;
	uint8_t *own_a;

	snprintf(file, sizeof(file), "/dev/hugepages/ivshmt-dev-%d",
		(int)getpid());
	start_server_args("2", "2", "-M", file, "2M");
	CHECK_EQ(ivshm_dev_connect(sock_path, 2000, &a), 0);
	CHECK_EQ(ivshm_dev_connect(sock_path, 2000, &b), 0);
	if (failures)
		exit(1);
	ia = ivshm_dev_info(a);
	CHECK_EQ(ia->page_size, 0x200000);
	CHECK_EQ(ia->rw_section_offset, 0x1000);
	CHECK_EQ(ia->rw_section_size, 0x1ff000);
	CHECK_EQ(ia->output_section_offset, 0x200000);
	CHECK_EQ(ia->output_section_size, 0x200000);
	CHECK_EQ(ia->region_size, 0x600000);
	own_a = ivshm_own_section(a);
	own_a[0x1fffff] = 0x42;
	CHECK_EQ(((const uint8_t *)ivshm_peer_section(b, 0))[0x1fffff], 0x42);
	CHECK(write_faults((volatile uint8_t *)(uintptr_t)
		ivshm_peer_section(a, 1)));
	CHECK(write_faults((volatile uint8_t *)(uintptr_t)
		ivshm_peer_section(b, 0) + 0x1000));
	((uint8_t *)ivshm_rw_section(b))[0x1fefff] = 0x24;
	CHECK_EQ(((uint8_t *)ivshm_rw_section(a))[0x1fefff], 0x24);
	ivshm_reg_write(b, IVSHM_REG_STATE, 2);
	CHECK_EQ(ivshm_peer_state(a, 1), 2);
	ivshm_dev_close(b);
	ivshm_dev_close(a);
	server_stop();
	CHECK(access(file, F_OK) != 0);	/* removed by the server */
}

static int
connect_only(const char *path, int timeout)
{
	struct ivshm_dev *d;
	struct ivshm_dev_stats st;
	int ret = ivshm_dev_connect(path, timeout, &d);

	if (ret != 0) {
		printf("{\"rc\": %d, \"errno\": \"%s\"}\n", ret, strerror(-ret));
		return 0;
	}
	/* let the fake server send what follows the handshake */
	msleep(200);
	ivshm_dev_process(d);
	ivshm_dev_stats_get(d, &st);
	printf("{\"rc\": 0, \"id\": %u, \"max_peers\": %u, \"vectors\": %u, "
		"\"rw_size\": %llu, \"out_size\": %llu, \"bad_msgs\": %llu, "
		"\"peer1\": %d, \"peer2\": %d}\n",
		ivshm_dev_info(d)->id, ivshm_dev_info(d)->max_peers,
		ivshm_dev_info(d)->vectors,
		(unsigned long long)ivshm_dev_info(d)->rw_section_size,
		(unsigned long long)ivshm_dev_info(d)->output_section_size,
		(unsigned long long)st.bad_msgs, ivshm_peer_present(d, 1),
		ivshm_peer_present(d, 2));
	ivshm_dev_close(d);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "connect") == 0)
		return connect_only(argv[2], argc > 3 ? atoi(argv[3]) : 1000);
	if (argc != 3) {
		fprintf(stderr, "usage: test_dev SERVER WORKDIR | connect SOCK\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	atexit(server_stop);
	snprintf(server_bin, sizeof(server_bin), "%s", argv[1]);
	snprintf(sock_path, sizeof(sock_path), "%s/dev.sock", argv[2]);
	snprintf(shm_name, sizeof(shm_name), "/ivshmt-dev-%d", (int)getpid());
	test_two_peers();
	test_fd_hygiene();
	test_hugetlbfs();
	server_stop();
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("test_dev: all checks passed\n");
	return 0;
}
