/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * Every counter of the libraries' counter lists (X-macros in vhu.h and
 * ivshm_net.h) has a row in its docs table: a counter added to a list
 * without documentation fails here. Names come from the lists themselves.
 */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vhu.h"
#include "ivshm_net.h"

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) {
		fprintf(stderr, "cannot read %s\n", path);
		exit(1);
	}
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "cannot read %s\n", path);
		exit(1);
	}
	fclose(f);
	return buf;
}

static bool
word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* @p name as a word (or a "_suffix" of a listed prefix) in a table row
 * ("| ... |") of @p doc. */
static bool
in_table(const char *doc, const char *name)
{
	size_t nlen = strlen(name);
	const char *line = doc;

	while (*line != '\0') {
		const char *end = strchr(line, '\n');
		size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
		const char *p = line;

		while (line[0] == '|' && (p = strstr(p, name)) != NULL &&
				p + nlen <= line + len) {
			if (!word_char(p[nlen]) &&
					(!word_char(p[-1]) || p[-1] == '_'))
				return true;
			p++;
		}
		line += len + (end != NULL);
	}
	return false;
}

static int failures;

static void
check(const char *doc, const char *docname, const char *name)
{
	if (!in_table(doc, name)) {
		fprintf(stderr, "%s: no table row for counter '%s'\n", docname,
			name);
		failures++;
	}
}

int
main(int argc, char **argv)
{
	char *vhu, *ivshm;
	unsigned int n = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: %s docs/vhost-user.md docs/ivshmem2.md\n",
			argv[0]);
		return 2;
	}
	vhu = slurp(argv[1]);
	ivshm = slurp(argv[2]);
#define CHECK_VHU(field, name, help) check(vhu, argv[1], name); n++;
	VHU_QUEUE_STATS_LIST(CHECK_VHU)
	VHU_MALFORMED_LIST(CHECK_VHU)
#undef CHECK_VHU
#define CHECK_IVSHM(field, name, help) check(ivshm, argv[2], name); n++;
	IVSHM_NET_STATS_LIST(CHECK_IVSHM)
	IVSHM_NET_VIOLATION_LIST(CHECK_IVSHM)
#undef CHECK_IVSHM
	/* the check itself must be able to fail */
	if (in_table(vhu, "no_such_counter") || !in_table(vhu, "desc_loop")) {
		fprintf(stderr, "the table check is broken\n");
		failures++;
	}
	printf("%u counters checked, %d undocumented\n", n, failures);
	free(vhu);
	free(ivshm);
	return failures != 0;
}
