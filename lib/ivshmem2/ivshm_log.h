/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * Library-internal logging (log type vmlink.ivshm).
 */

#ifndef IVSHM_LOG_H
#define IVSHM_LOG_H

#include <rte_log.h>

extern int ivshm_logtype;

#define IVSHM_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_ ## level, ivshm_logtype, "ivshm: " fmt "\n", \
		##__VA_ARGS__)

#endif /* IVSHM_LOG_H */
