/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * mbuf chains over exactly-sized heap buffers, for the offload unit tests
 * and fuzz harness: plain structs, no EAL, no mempool, so that a read one
 * byte past any segment is a sanitizer report.
 */

#ifndef VMLINK_TEST_CHAIN_H
#define VMLINK_TEST_CHAIN_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rte_mbuf.h>

#define TEST_CHAIN_MAX 8

struct test_chain {
	struct rte_mbuf m[TEST_CHAIN_MAX];
	uint8_t *buf[TEST_CHAIN_MAX];
	unsigned int n;
};

/* A chain holding the LEN bytes of F, segment i ending at CUTS[i] when
 * that lies in [its start, LEN) (so a segment may be empty), else at LEN,
 * which ends the chain. NULL when a buffer cannot be allocated. */
static inline struct rte_mbuf *
test_chain_make(struct test_chain *c, const uint8_t *f, uint32_t len,
	const uint32_t *cuts, unsigned int n_cuts)
{
	uint32_t start = 0;
	unsigned int i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < TEST_CHAIN_MAX; i++) {
		uint32_t end = (i < n_cuts && cuts[i] >= start && cuts[i] < len) ?
			cuts[i] : len;
		struct rte_mbuf *m = &c->m[i];

		c->buf[i] = malloc(end - start + 1);	/* +1: malloc(0) */
		if (c->buf[i] == NULL)
			return NULL;
		memcpy(c->buf[i], f + start, end - start);
		m->buf_addr = c->buf[i];
		m->buf_len = (uint16_t)(end - start);
		m->data_len = (uint16_t)(end - start);
		m->nb_segs = 1;
		m->refcnt = 1;
		if (i > 0) {
			c->m[i - 1].next = m;
			c->m[0].nb_segs++;
		}
		c->n = i + 1;
		start = end;
		if (end == len)
			break;
	}
	c->m[0].pkt_len = len;
	return &c->m[0];
}

static inline void
test_chain_free(struct test_chain *c)
{
	unsigned int i;

	for (i = 0; i < c->n; i++)
		free(c->buf[i]);
	c->n = 0;
}

/* The chain's bytes, in order, into OUT (pkt_len bytes). */
static inline void
test_chain_read(const struct rte_mbuf *m, uint8_t *out)
{
	for (; m != NULL; m = m->next) {
		memcpy(out, rte_pktmbuf_mtod(m, const uint8_t *), m->data_len);
		out += m->data_len;
	}
}

#endif /* VMLINK_TEST_CHAIN_H */
