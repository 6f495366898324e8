/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * Fuzz target 'config': the INI configuration loader and checker
 * (config_load: the line scanner, rte_cfgfile, every key parser and the
 * cross-section checks), then, for a valid file, the EAL argument builder.
 *
 * The input is the file. Checks: no crash or sanitizer report; a refused
 * file got at least one error line; a valid file is consistent (ports
 * resolve, lcore rx lists name existing queues, each polled once); no fd
 * or memory leak.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "config.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vmlink_cfg cfg;

static void
check_valid(const struct vmlink_cfg *c)
{
	static uint8_t polled[CFG_MAX_PORTS][CFG_MAX_QUEUES];
	char *argv[CFG_MAX_EAL_ARGS];
	char storage[4096];
	unsigned int i, k;

	FZ_CHECK(c->n_ports >= 1 && c->n_ports <= CFG_MAX_PORTS);
	memset(polled, 0, sizeof(polled));
	for (i = 0; i < c->n_ports; i++) {
		const struct port_cfg *p = &c->port[i];

		FZ_CHECK(p->type < PORT_TYPE_COUNT);
		FZ_CHECK(p->rx_queues <= CFG_MAX_QUEUES);
		FZ_CHECK(p->peer >= -1 && p->peer < (int)c->n_ports);
		FZ_CHECK(config_port_index(c, p->name) == (int)i);
	}
	for (i = 0; i < c->n_lcores; i++) {
		const struct lcore_cfg *lc = &c->lcore[i];

		FZ_CHECK(lc->lcore_id < CFG_MAX_LCORES);
		/* rx is required: a valid lcore polls something */
		FZ_CHECK(lc->n_rxq >= 1);
		for (k = 0; k < lc->n_rxq; k++) {
			const struct rxq_ref *r = &lc->rxq[k];

			FZ_CHECK(r->port < c->n_ports);
			FZ_CHECK(r->queue < c->port[r->port].rx_queues);
			FZ_CHECK(polled[r->port][r->queue] == 0);
			polled[r->port][r->queue] = 1;
		}
	}
	if (c->n_lcores > 0)
		for (i = 0; i < c->n_ports; i++)
			for (k = 0; k < c->port[i].rx_queues; k++)
				FZ_CHECK(polled[i][k] == 1);
	/* The argument builder may refuse (too many arguments), never
	 * overrun its storage. */
	(void)config_eal_argv(c, "vmlink", argv, CFG_MAX_EAL_ARGS, storage,
		sizeof(storage));
}

/*
 * The file the loader reads: a memfd made once, rewritten for each input
 * and opened by its /proc/self/fd path (a file on a disk file system costs
 * a write-back at each close after a truncation).
 */
static const char *
input_file(const uint8_t *data, size_t size)
{
	static char path[64];
	static int fd = -1;
	size_t done = 0;

	if (fd < 0) {
		fd = memfd_create("fz-config-in.ini", MFD_CLOEXEC);
		if (fd < 0)
			fz_fail("memfd_create: %s", strerror(errno));
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0)
		fz_fail("ftruncate: %s", strerror(errno));
	while (done < size) {
		ssize_t w = pwrite(fd, data + done, size - done, (off_t)done);

		if (w <= 0)
			fz_fail("cannot write the input: %s", strerror(errno));
		done += (size_t)w;
	}
	return path;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_leaks leaks;
	const char *path;
	char *out = NULL;
	size_t out_len = 0;
	FILE *err;
	int ret;

	path = input_file(data, size);
	fz_leaks_begin(&leaks, NULL);
	err = open_memstream(&out, &out_len);
	if (err == NULL)
		fz_fail("open_memstream");
	ret = config_load(&cfg, path, "in.ini", err);
	fclose(err);
	if (ret == 0)
		check_valid(&cfg);
	else
		FZ_CHECK(out_len > 0);	/* refused: said why */
	free(out);
	fz_leaks_end(&leaks);
	return 0;
}
