/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test front-end: the driver side of a packed virtqueue (see fe.h). Chains
 * go at the next ring positions with the AVAIL/USED flags of the driver's
 * wrap counter, the head's flags written last; buffer ids are the chains'
 * head positions, so they stay unique while in flight.
 */

#include <string.h>

#include <linux/virtio_ring.h>

#include "fe.h"

#define F_AVAIL	(1u << VRING_PACKED_DESC_F_AVAIL)
#define F_USED	(1u << VRING_PACKED_DESC_F_USED)

static uint16_t
avail_bits(bool wrap)
{
	return wrap ? F_AVAIL : F_USED;
}

void
fe_pk_reset(struct fe_vring *v)
{
	v->pk_next = 0;
	v->pk_wrap = true;
	v->pk_used = 0;
	v->pk_used_wrap = true;
}

uint32_t
fe_pk_base(const struct fe_vring *v)
{
	return (uint32_t)v->pk_next | (v->pk_wrap ? 0x8000u : 0) |
		((uint32_t)v->pk_used << 16) | (v->pk_used_wrap ? 0x80000000u : 0);
}

/* Position @p k after the next one, and the driver wrap counter there. */
static uint16_t
pos_at(const struct fe_vring *v, uint32_t k, bool *wrap)
{
	uint32_t p = v->pk_next + k;

	*wrap = v->pk_wrap;
	while (p >= v->size) {
		p -= v->size;
		*wrap = !*wrap;
	}
	return (uint16_t)p;
}

void
fe_pk_write(struct fe_vring *v, uint32_t k, uint64_t addr, uint32_t len,
	uint16_t id, uint16_t flags, bool make_avail)
{
	bool wrap;
	struct vring_packed_desc *d = &v->pdesc[pos_at(v, k, &wrap)];

	d->addr = addr;
	d->len = len;
	d->id = id;
	__atomic_store_n(&d->flags,
		(uint16_t)(flags | (make_avail ? avail_bits(wrap) : 0)),
		__ATOMIC_RELEASE);
}

void
fe_pk_publish(struct fe_vring *v, uint32_t n, uint16_t head_flags)
{
	bool wrap;
	uint16_t head = pos_at(v, 0, &wrap);

	__atomic_store_n(&v->pdesc[head].flags,
		(uint16_t)(head_flags | avail_bits(wrap)), __ATOMIC_RELEASE);
	v->pk_next = pos_at(v, n, &v->pk_wrap);
}

int
fe_pk_post(struct fe_vring *v, const struct vring_desc *tbl, uint32_t n)
{
	uint16_t id = v->pk_next;
	uint32_t i;

	if (n == 0 || n > v->size)
		return -1;
	for (i = 1; i < n; i++)
		fe_pk_write(v, i, tbl[i].addr, tbl[i].len, id, tbl[i].flags,
			true);
	fe_pk_write(v, 0, tbl[0].addr, tbl[0].len, id, tbl[0].flags, false);
	v->pk_ndesc[id] = (uint16_t)n;
	fe_pk_publish(v, n, tbl[0].flags);
	return id;
}

int
fe_pk_post_indirect(struct fe *fe, struct fe_vring *v,
	const struct vring_desc *tbl, uint32_t n)
{
	uint64_t t = fe_alloc(fe, n * sizeof(struct vring_packed_desc), 16);
	struct vring_packed_desc *tv = fe_va(fe, t);
	struct vring_desc ind = {
		.addr = t,
		.len = n * (uint32_t)sizeof(struct vring_packed_desc),
		.flags = VRING_DESC_F_INDIRECT,
	};
	uint32_t i;

	for (i = 0; i < n; i++) {
		tv[i].addr = tbl[i].addr;
		tv[i].len = tbl[i].len;
		tv[i].id = 0;
		tv[i].flags = tbl[i].flags & VRING_DESC_F_WRITE;
	}
	return fe_pk_post(v, &ind, 1);
}

int
fe_pk_used_get(struct fe_vring *v, uint32_t *id, uint32_t *len)
{
	struct vring_packed_desc *d = &v->pdesc[v->pk_used];
	uint16_t flags = __atomic_load_n(&d->flags, __ATOMIC_ACQUIRE);
	uint32_t p;

	if (!!(flags & F_AVAIL) != v->pk_used_wrap ||
			!!(flags & F_USED) != v->pk_used_wrap)
		return 0;
	*id = d->id;
	*len = d->len;
	if (*id >= v->size || v->pk_ndesc[*id] == 0)
		return -1;
	p = v->pk_used + v->pk_ndesc[*id];
	v->pk_ndesc[*id] = 0;
	if (p >= v->size) {
		p -= v->size;
		v->pk_used_wrap = !v->pk_used_wrap;
	}
	v->pk_used = (uint16_t)p;
	return 1;
}
