/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * Packet capture: a built-in capture to a pcap file, started and stopped
 * at run time (DPDK's pdump requests: pdump.c).
 */

#ifndef VMLINK_CAPTURE_H
#define VMLINK_CAPTURE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_telemetry.h>

struct vmlink;

#define CAPTURE_FILTER_MAX 256
#define CAPTURE_SNAPLEN_MAX 65535

struct capture_spec {
	unsigned int port;		/* vmlink port index */
	bool rx;			/* frames vmlink receives from the port */
	bool tx;			/* frames vmlink hands the port to send */
	char file[PATH_MAX];
	uint32_t snaplen;		/* bytes kept per frame */
	uint64_t max_frames;		/* stop after this many; 0: no limit */
	uint64_t max_bytes;		/* stop before the file exceeds it; 0: none */
	char filter[CAPTURE_FILTER_MAX];	/* pcap filter syntax; "": all */
};

/* Start a capture (one at a time). On error ERR says why. */
int capture_start(struct vmlink *vm, const struct capture_spec *spec,
		char *err, size_t errlen);

/* Stop the capture; WHY is recorded ("request", "count limit", ...).
 * -ENOENT when none runs. WORKERS_RUNNING: wait until no worker is inside
 * a capture callback before freeing what they use. */
int capture_stop(struct vmlink *vm, const char *why, bool workers_running);

/* Which limit ("count limit", "size limit") the running capture has
 * reached, or NULL. */
const char *capture_limit_reached(void);

/* The running (or last) capture as a telemetry dictionary. */
void capture_status(struct rte_tel_data *d);

/* At exit, after the workers stopped: stop the capture. */
void capture_fini(struct vmlink *vm);

#endif /* VMLINK_CAPTURE_H */
