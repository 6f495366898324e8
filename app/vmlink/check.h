/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 */

#ifndef VMLINK_CHECK_H
#define VMLINK_CHECK_H

#include <stdbool.h>
#include <stdio.h>

#include "config.h"

/*
 * Check what the valid configuration CFG asks of this host, without EAL:
 * its [eal] lcores (when EAL_FROM_CONFIG: no EAL arguments on the command
 * line) are CPUs vmlink may use and leave a worker; the vhost-user and
 * ivshmem2 sockets' directories exist; STATS_JSON (if not NULL) can be
 * written. Problems go to ERR naming file:line and port, warnings too.
 * Returns 0, or -1 if anything would fail at run time.
 */
int check_host(const struct vmlink_cfg *cfg, bool eal_from_config,
		const char *stats_json, FILE *err);

#endif /* VMLINK_CHECK_H */
