/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * What the two vhost-user harnesses share: a device created per input
 * through the public API (vhu_create, its real control thread on a real
 * unix socket), the test front-end of tests/vhost_user (fe.c) connected to
 * it, a sync that waits until the control thread has handled everything
 * sent so far, fds of any kind for hostile messages, and the end-of-input
 * checks (mbufs back in the pool, no fd or mapping left).
 */

#ifndef VMLINK_FUZZ_VHU_H
#define VMLINK_FUZZ_VHU_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "fe.h"
#include "fuzz_util.h"
#include "vhu.h"

#define FZV_POOL_SIZE	4095
#define FZV_MAX_HELD	256
/* The guest memory size both harnesses use (fe_opts.mem_size): one memfd
 * of this size serves every input (fzv_start). */
#define FZV_GUEST_MEM	(1u << 20)

struct fzv {
	struct vhu_config cfg;
	struct vhu_dev *dev;
	const char *path;
	struct fe fe;
	bool fe_used;		/* fe was set up once: fe_reset is enough */
	bool guest_fresh;	/* the kept guest memory is this input's to take */
	bool connected;
	bool unsynced;		/* messages sent since the last sync */
	struct rte_mbuf *held[FZV_MAX_HELD];	/* zero-copy mbufs kept */
	unsigned int nheld;
};

extern struct rte_mempool *fzv_mp;

/* LLVMFuzzerInitialize: EAL, mempool, socket path. */
void fzv_global_init(const char *prog);
/* The device configuration the input's first byte picks: zero-copy,
 * copy threshold 0 or 512, one or two queue pairs (keys of the devices
 * fzv_begin reuses). */
void fzv_config(struct fzv *v, uint8_t knobs);
/* Per input: the device for the knobs the caller set in v->cfg
 * (zero_copy, max_queue_pairs, copy_threshold 0 or not; created on first
 * use, then reused), and a new front-end session on it. */
int fzv_begin(struct fzv *v);
/* Per input: free held mbufs, disconnect, wait for the back-end to end
 * the session, check leaks. */
void fzv_end(struct fzv *v);

/* fe_start() of tests/vhost_user/fe.c, pipelined (see fuzz_vhu.c): the
 * same requests, acks read at the end, the in-flight region asked for
 * with a GET_FEATURES behind it, so that a refusal, which the back-end
 * does not answer, costs a round trip and not fe.c's 3 s reply timeout.
 * Guest memory of FZV_GUEST_MEM bytes is the kept memfd (zeros) on the
 * input's first start, a new memfd after that. 0 when every request was
 * accepted. */
int fzv_start(struct fzv *v, const struct fe_opts *o);

int fzv_connect(struct fzv *v);
void fzv_disconnect(struct fzv *v);
/* Wait until the control thread has handled every message sent so far
 * (GET_FEATURES round trip, skipping replies asked for before; the wait
 * outlasts libFuzzer's -timeout, which reports a back-end that stopped
 * answering). -1 when the back-end closed the connection (then
 * fzv_disconnect was done). */
int fzv_sync(struct fzv *v);
/* Messages go out back to back: the caller marks each sent (fzv_sent) and
 * syncs once before anything that depends on the back-end having handled
 * them (fzv_settle: data path, guest memory, library calls, the end of
 * the input). The control thread sees the same messages in the same
 * order, one per poll round as before, and the harness the same state
 * after them; what goes is a thread round trip per message, the cost of
 * most inputs on a loaded machine. */
void fzv_sent(struct fzv *v);
void fzv_settle(struct fzv *v);

/* An fd of the kind K picks: memfd guest memory of SIZE bytes, eventfd,
 * pipe, socket, /dev/null, directory. -1 on failure. */
int fzv_make_fd(uint8_t k, uint64_t size);

/* Data path: dequeue up to N from queue pair QP, keep some (HOLD), free
 * the rest; returns how many frames came. */
uint16_t fzv_dequeue(struct fzv *v, uint16_t qp, uint16_t n, bool hold,
	struct rte_mbuf **out);
void fzv_free_held(struct fzv *v, unsigned int k, bool oldest_first);

#endif /* VMLINK_FUZZ_VHU_H */
