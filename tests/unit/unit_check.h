/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * The unit tests' one check: count it, and on failure say where, what and
 * why, then go on (a test ends by printing and returning the counts).
 */

#ifndef VMLINK_UNIT_CHECK_H
#define VMLINK_UNIT_CHECK_H

#include <stdio.h>

static int failures;
static int checks;

#define CHECK(cond, ...) do { \
	checks++; \
	if (!(cond)) { \
		failures++; \
		fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
	} \
} while (0)

#endif
