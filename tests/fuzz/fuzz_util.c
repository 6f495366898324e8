/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 */

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_log.h>

#include "fuzz_util.h"

void
fz_bytes(struct fz *f, void *dst, size_t len)
{
	size_t k = len < f->n ? len : f->n;

	memcpy(dst, f->p, k);
	memset((uint8_t *)dst + k, 0, len - k);
	f->p += k;
	f->n -= k;
}

void
fz_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FUZZ CHECK FAILED: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

int
fz_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		fz_fail("cannot open /proc/self/fd");
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory's own fd */
}

int
fz_count_maps(const char *needle)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	if (f == NULL)
		fz_fail("cannot open /proc/self/maps");
	while (fgets(line, sizeof(line), f) != NULL)
		if (needle == NULL || strstr(line, needle) != NULL)
			n++;
	fclose(f);
	return n;
}

void
fz_leaks_begin(struct fz_leaks *l, const char *map_needle)
{
	static const char *base_needle;
	static int base_maps = -1;

	l->needle = map_needle;
	l->fds = fz_count_fds();
	l->maps = 0;
	if (map_needle == NULL)
		return;
	/* Reading /proc/self/maps costs as much as a whole input under
	 * ASan (thousands of mappings): the baseline is taken once, since
	 * an input that ends with more mappings than it started with fails
	 * anyway. */
	if (base_maps < 0 || base_needle != map_needle) {
		base_maps = fz_count_maps(map_needle);
		base_needle = map_needle;
	}
	l->maps = base_maps;
}

void
fz_leaks_end(const struct fz_leaks *l)
{
	int fds = fz_count_fds();

	if (fds != l->fds)
		fz_fail("fd leak: %d open before the input, %d after", l->fds,
			fds);
	if (l->needle != NULL) {
		int maps = fz_count_maps(l->needle);

		if (maps != l->maps)
			fz_fail("mapping leak: %d mappings of '%s' before the "
				"input, %d after", l->maps, l->needle, maps);
	}
}

static char tmpdir[64];

static void
rm_tmpdir(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char p[256];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", tmpdir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(tmpdir);
}

const char *
fz_tmpdir(void)
{
	if (tmpdir[0] == '\0') {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/vmlink-fuzz-XXXXXX");
		if (mkdtemp(tmpdir) == NULL)
			fz_fail("mkdtemp");
		atexit(rm_tmpdir);
	}
	return tmpdir;
}

void
fz_eal_init(const char *prog)
{
	char prefix[64];
	char *argv[16];
	int argc = 0;

	snprintf(prefix, sizeof(prefix), "--file-prefix=vmlink-fuzz-%d",
		(int)getpid());
	/* libFuzzer's own flags (-runs=, -max_total_time=, ...) are not
	 * EAL's: EAL gets only these. */
	argv[argc++] = (char *)(uintptr_t)prog;
	argv[argc++] = (char *)(uintptr_t)"--no-huge";
	argv[argc++] = (char *)(uintptr_t)"--no-shconf";
	argv[argc++] = prefix;
	argv[argc++] = (char *)(uintptr_t)"-m";
	argv[argc++] = (char *)(uintptr_t)"256";
	argv[argc++] = (char *)(uintptr_t)"--no-pci";
	argv[argc++] = (char *)(uintptr_t)"--no-telemetry";
	argv[argc++] = (char *)(uintptr_t)"-l";
	argv[argc++] = (char *)(uintptr_t)"0";
	argv[argc++] = (char *)(uintptr_t)"--log-level=1";
	argv[argc] = NULL;
	if (rte_eal_init(argc, argv) < 0) {
		fprintf(stderr, "EAL init failed\n");
		exit(1);
	}
	/* Hostile inputs make the libraries log at every step: keep the
	 * fuzzer's output readable (VMLINK_FUZZ_LOG=1 shows them). */
	if (getenv("VMLINK_FUZZ_LOG") == NULL)
		rte_log_set_global_level(RTE_LOG_EMERG);
	else {
		rte_log_set_global_level(RTE_LOG_DEBUG);
		rte_log_set_level_pattern("*", RTE_LOG_DEBUG);
	}
}
