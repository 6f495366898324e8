/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * Fuzz target 'devargs': the devargs parsers of both PMDs
 * (net_vmlink_vhost, net_vmlink_ivshmem2) through their test entry points,
 * which run exactly what probe runs before touching a device: rte_kvargs,
 * the unknown/repeated key checks, each value's parser.
 *
 * Input: one selector byte (which PMD), then the devargs string. Checks:
 * no crash or sanitizer report, a parse result of 0 or -EINVAL only, no
 * fd or memory leak. No EAL is needed.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "vmlink_devargs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_leaks leaks;
	char *params;
	int ret;

	if (size < 1)
		return 0;
	params = malloc(size);
	if (params == NULL)
		return 0;
	memcpy(params, data + 1, size - 1);
	params[size - 1] = '\0';
	fz_leaks_begin(&leaks, NULL);
	if (data[0] & 1)
		ret = vmlink_ivshmem2_devargs_check(params);
	else
		ret = vmlink_vhost_devargs_check(params);
	FZ_CHECK(ret == 0 || ret == -EINVAL);
	fz_leaks_end(&leaks);
	free(params);
	return 0;
}
