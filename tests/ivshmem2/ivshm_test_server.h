/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * The real ivshmem2-server as a child of a C test: started in the
 * foreground on the test's socket, waited for until its socket exists,
 * stopped with SIGTERM (and expected to exit 0). server_stop() suits
 * atexit(), so a failing test leaves no server behind.
 */

#ifndef VMLINK_IVSHM_TEST_SERVER_H
#define VMLINK_IVSHM_TEST_SERVER_H

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ivshm_test.h"

#define SERVER_MAX_ARGS 24

static char server_bin[4096], sock_path[4096];
static pid_t server_pid = -1;

/* Start "server_bin -F -S sock_path ARGS..." (ARGS ends with NULL). */
static void
server_start(const char *const args[])
{
	const char *argv[SERVER_MAX_ARGS + 5];
	int i, n = 0;

	argv[n++] = server_bin;
	argv[n++] = "-F";
	argv[n++] = "-S";
	argv[n++] = sock_path;
	for (i = 0; args[i] != NULL && i < SERVER_MAX_ARGS; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	server_pid = fork();
	if (server_pid == 0) {
		execv(server_bin, (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	/* a probe connection would take an ID: wait for the socket file */
	for (i = 0; i < 500; i++) {
		struct stat st;

		if (stat(sock_path, &st) == 0 && S_ISSOCK(st.st_mode)) {
			msleep(20);
			return;
		}
		msleep(10);
	}
	fprintf(stderr, "server did not start\n");
	exit(2);
}

static void
server_stop(void)
{
	int st;

	if (server_pid <= 0)
		return;
	kill(server_pid, SIGTERM);
	waitpid(server_pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	server_pid = -1;
}

#endif
