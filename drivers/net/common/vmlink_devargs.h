/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 */

#ifndef VMLINK_DEVARGS_H
#define VMLINK_DEVARGS_H

/**
 * @file
 * Devargs parsing shared by the vmlink PMDs.
 *
 * Both PMDs are linked whole into the vmlink application, so these helpers
 * are static inline rather than a second copy of an external symbol. Every
 * helper logs one line that names the device, the key and what was
 * expected, and returns -EINVAL; probe then fails without touching anything.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>
#include <rte_ether.h>
#include <rte_kvargs.h>
#include <rte_log.h>

/** What a PMD hands the helpers: its log type and device name. */
struct vmlink_devargs_ctx {
	int logtype;
	const char *driver;	/**< driver name, prefixes every message */
	const char *device;	/**< device name, e.g. net_vmlink_vhost0 */
};

#define VMLINK_DEVARG_ERR(ctx, fmt, ...) \
	rte_log(RTE_LOG_ERR, (ctx)->logtype, "%s: %s: " fmt "\n", \
		(ctx)->driver, (ctx)->device, ##__VA_ARGS__)

/** Parse a decimal or 0x-prefixed number in [min, max]. */
static inline int
vmlink_devarg_uint(const struct vmlink_devargs_ctx *ctx, const char *key,
	const char *value, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;

	errno = 0;
	/* strtoull accepts a sign and leading blanks: refuse them first. */
	if (value == NULL || *value < '0' || *value > '9')
		goto bad;
	*out = strtoull(value, &end, 0);
	if (errno != 0 || *end != '\0' || *out < min || *out > max)
		goto bad;
	return 0;
bad:
	VMLINK_DEVARG_ERR(ctx, "devarg %s='%s': expected a number in %" PRIu64
		"..%" PRIu64, key, value ? value : "", min, max);
	return -EINVAL;
}

/** Copy a socket path (1..size-1 characters) into @p buf. */
static inline int
vmlink_devarg_path(const struct vmlink_devargs_ctx *ctx, const char *key,
	const char *value, char *buf, size_t size)
{
	if (value == NULL || value[0] == '\0' || strlen(value) >= size) {
		VMLINK_DEVARG_ERR(ctx, "devarg %s: a socket path of 1..%zu "
			"characters", key, size - 1);
		return -EINVAL;
	}
	snprintf(buf, size, "%s", value);
	return 0;
}

/** Parse a unicast, non-zero MAC address. */
static inline int
vmlink_devarg_mac(const struct vmlink_devargs_ctx *ctx, const char *key,
	const char *value, struct rte_ether_addr *mac)
{
	if (value == NULL || rte_ether_unformat_addr(value, mac) != 0 ||
			!rte_is_unicast_ether_addr(mac) ||
			rte_is_zero_ether_addr(mac)) {
		VMLINK_DEVARG_ERR(ctx, "devarg %s='%s': expected a unicast MAC "
			"address", key, value ? value : "");
		return -EINVAL;
	}
	return 0;
}

/**
 * Split @p params into key=value pairs, refuse unknown and repeated keys
 * by name (rte_kvargs_parse with a key list only says that something is
 * wrong), then call @p handler for each pair in order.
 *
 * @param keys  the known keys, NULL-terminated
 * @param known the same keys for the message, e.g. "path, client, queues"
 */
static inline int
vmlink_devargs_parse(const struct vmlink_devargs_ctx *ctx, const char *params,
	const char *const keys[], const char *known, arg_handler_t handler,
	void *opaque)
{
	struct rte_kvargs *kv;
	unsigned int i, j;
	int ret = 0;

	kv = rte_kvargs_parse(params, NULL);
	if (kv == NULL) {
		VMLINK_DEVARG_ERR(ctx, "cannot parse devargs '%s' (key=value "
			"pairs separated by commas)", params);
		return -EINVAL;
	}
	for (i = 0; i < kv->count && ret == 0; i++) {
		const char *key = kv->pairs[i].key;

		for (j = 0; keys[j] != NULL; j++)
			if (strcmp(key, keys[j]) == 0)
				break;
		if (keys[j] == NULL) {
			VMLINK_DEVARG_ERR(ctx, "unknown devarg '%s' (known: %s)",
				key, known);
			ret = -EINVAL;
		}
		for (j = 0; j < i && ret == 0; j++)
			if (strcmp(key, kv->pairs[j].key) == 0) {
				VMLINK_DEVARG_ERR(ctx, "devarg '%s' given more "
					"than once", key);
				ret = -EINVAL;
			}
	}
	if (ret == 0 && rte_kvargs_process(kv, NULL, handler, opaque) != 0) {
		VMLINK_DEVARG_ERR(ctx, "invalid devargs '%s'", params);
		ret = -EINVAL;
	}
	rte_kvargs_free(kv);
	return ret;
}

/*
 * Test entry points (tests/fuzz): parse @p params exactly as the PMD's
 * probe does, touching no device. Return 0 or -EINVAL.
 */
int vmlink_vhost_devargs_check(const char *params);
int vmlink_ivshmem2_devargs_check(const char *params);

#endif /* VMLINK_DEVARGS_H */
