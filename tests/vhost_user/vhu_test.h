/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared pieces of the vhost-user library tests: bench (back-end + test
 * front-end), event recording, frames, checks.
 */

#ifndef VMLINK_TEST_VHU_H
#define VMLINK_TEST_VHU_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "fe.h"
#include "vhu.h"
#include "vhu_proto.h"

#define CHECK(cond, ...) do { \
	if (!(cond)) { \
		fprintf(stderr, "FAIL %s:%d: %s: ", __func__, __LINE__, \
			#cond); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
		return -1; \
	} \
} while (0)

#define TRY(expr) CHECK((expr) == 0, "%s", #expr)

extern struct rte_mempool *t_mp;	/* 2 KiB data room */
extern bool t_packed;	/* run with packed rings (argument "packed") */
extern struct rte_mempool *t_mp_small;	/* 256-byte data room */

struct tb {
	struct vhu_config cfg;
	struct vhu_dev *dev;
	char path[128];
	struct fe fe;
	struct fe_opts o;
	int fd_base;
};

void tb_init(struct tb *t);
int tb_create(struct tb *t);
int tb_start(struct tb *t);	/* create + connect + handshake */
void tb_destroy(struct tb *t);
int tb_check_fds(struct tb *t);
const char *tb_sock_path(void);

/* Events recorded from the callback. */
void ev_clear(void);
int ev_count(enum vhu_event_type type, int qp, int dir);
bool ev_wait(enum vhu_event_type type, int qp, int dir, int min,
	int timeout_ms);
bool ev_find(enum vhu_event_type type, int qp, int dir, uint32_t *value);
void ev_cb(struct vhu_dev *dev, const struct vhu_event *ev, void *arg);

void make_frame(uint8_t *buf, uint32_t len, uint32_t seed);
struct rte_mbuf *mk_mbuf(struct rte_mempool *mp, const uint8_t *data,
	uint32_t len);
int mbuf_equals(const struct rte_mbuf *m, const uint8_t *data, uint32_t len);
struct vhu_queue_stats qstats(struct vhu_dev *dev, uint16_t qp,
	enum vhu_queue_dir dir);
uint64_t malformed_total(const struct vhu_queue_stats *s);
void msleep(unsigned int ms);
uint64_t now_ms(void);

/* One frame guest -> host on @p qp, checked byte for byte. */
int tx_roundtrip(struct tb *t, uint16_t qp, uint32_t len);
/* One frame host -> guest on @p qp, checked byte for byte. */
int rx_roundtrip(struct tb *t, uint16_t qp, uint32_t len);
/* A fault in @p a's guest memory ends a's session (within 2 s) and only
 * it: @p b still moves frames both ways. Destroys both; 0 when that held
 * and no fd leaked. */
int only_faulted_session_ends(struct tb *a, struct tb *b);

/* GET_CONFIG of [off, off + size), the size field saying @p claimed:
 * 0 and the window in @p out, -1 when refused (no reply), -2 on I/O. */
int get_config(struct tb *t, uint32_t off, uint32_t size, uint32_t claimed,
	uint8_t *out);

int count_maps_of_fd(int fd);
/* The base GET/SET_VRING_BASE carry for ring @p v once the front-end made
 * @p avail chains available and got @p used back since it started: the
 * split ring's avail index, or the packed ring's avail and used positions
 * with their wrap counters. */
uint32_t t_vring_base(const struct fe_vring *v, uint32_t avail,
	uint32_t used);

/* The library's log lines from now on (rte_openlog_stream() into a file
 * kept open for the whole run); log_capture_text() returns what was
 * written since log_capture_begin(), NUL-terminated, to free(). */
void log_capture_begin(void);
char *log_capture_text(void);
unsigned int count_lines(const char *text, const char *needle);

/* Hostile-guest cases (t_hostile.c, t_packed.c): a bench of two queue
 * pairs without features @p drop (ring size @p ring if not 0, guest
 * memory in two regions if @p two_regions); a header and @p len frame
 * bytes in guest memory; the check that a fault on @p vqi was counted as
 * @p why and stopped that queue only. */
int h_start(struct tb *t, uint64_t drop, uint16_t ring, bool two_regions);
uint64_t put(struct tb *t, const struct vhu_net_hdr *h, uint32_t len);
int h_verify(struct tb *t, unsigned int vqi, enum vhu_malformed why);
int h_verify_hdr_dropped(struct tb *t, uint32_t want_id,
	enum vhu_malformed why);
/* The features whose loss leaves a TX header unread (VHU_OFL_DEQ_FEATURES)
 * and the case of it for both ring layouts (t_hostile.c). */
#define H_DEQ_OFL ((1ull << VHU_F_NET_CSUM) | (1ull << VHU_F_NET_HOST_TSO4) | \
	(1ull << VHU_F_NET_HOST_TSO6))
uint64_t h_put_hdr_ignored(struct tb *t);
int h_verify_hdr_ignored(struct tb *t, uint32_t want_id);
/* Make the double-fetch chain at @p a available again (ring layout's
 * own), for h_double_fetch(). */
typedef void (*h_repost_t)(struct tb *t, uint64_t a);
int h_double_fetch(struct tb *t, uint64_t a, uint32_t *len,
	h_repost_t repost, const char *what);

#endif /* VMLINK_TEST_VHU_H */
