/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * ivshmem-net (protocol 0001h) output-section layout, the formula of the
 * Linux/Jailhouse and Zephyr drivers. Plain C, no DPDK: the server uses it
 * to refuse section sizes the protocol cannot use.
 *
 * An output section of L bytes holds, with N the ring size:
 *   0                 desc[N]   {le64 addr, le32 len, le16 flags, le16 next}
 *   16N               avail     {le16 flags, le16 idx, le16 ring[N],
 *                                le16 used_event}
 *   ALIGN64(18N + 6)  used      {le16 flags, le16 idx,
 *                                {le32 id, le32 len}[N], le16 avail_event}
 *   V                 frame data, up to L
 * V = ALIGN64(legacy vring_size(N, 64)); N is the largest of 4096, 2048,
 * ..., 64 with V < L / 8; the layout is refused when no N fits or when
 * L - V < 272 (four minimum-MTU frames).
 */

#ifndef IVSHM_NET_LAYOUT_H
#define IVSHM_NET_LAYOUT_H

#include <stdint.h>

#include "vmlink_vring.h"

#define IVSHM_NET_VQ_ALIGN	64
#define IVSHM_NET_MAX_RING	4096
#define IVSHM_NET_MIN_RING	64
#define IVSHM_NET_MIN_DATA	272
/* The library addresses sections with 32-bit offsets. */
#define IVSHM_NET_MAX_SECTION	0xffffffffull

struct ivshm_net_layout {
	uint64_t section_size;	/* L */
	uint32_t num;		/* N, ring size */
	uint32_t avail_off;	/* 16N */
	uint32_t used_off;	/* ALIGN64(18N + 6) */
	uint32_t data_off;	/* V */
	uint64_t data_size;	/* L - V */
};

static inline uint64_t
ivshm_net_align64(uint64_t v)
{
	return (v + IVSHM_NET_VQ_ALIGN - 1) & ~(uint64_t)(IVSHM_NET_VQ_ALIGN - 1);
}

/* Legacy split-ring size with 64-byte used-ring alignment, rounded to 64. */
static inline uint64_t
ivshm_net_used_off(uint32_t num)
{
	return ivshm_net_align64(vmlink_vring_desc_size(num) +
		vmlink_vring_avail_size(num));
}

static inline uint64_t
ivshm_net_vring_size(uint32_t num)
{
	return ivshm_net_align64(ivshm_net_used_off(num) +
		vmlink_vring_used_size(num));
}

/* Fill *lay for a section of 'section_size' bytes; 0, or -1 if the
 * protocol cannot use such a section. */
static inline int
ivshm_net_layout_calc(uint64_t section_size, struct ivshm_net_layout *lay)
{
	uint32_t num;
	uint64_t v = 0;

	if (section_size > IVSHM_NET_MAX_SECTION)
		return -1;
	for (num = IVSHM_NET_MAX_RING; num >= IVSHM_NET_MIN_RING; num >>= 1) {
		v = ivshm_net_vring_size(num);
		if (v < section_size / 8)
			break;
	}
	if (num < IVSHM_NET_MIN_RING || section_size - v < IVSHM_NET_MIN_DATA)
		return -1;
	lay->section_size = section_size;
	lay->num = num;
	lay->avail_off = (uint32_t)vmlink_vring_desc_size(num);
	lay->used_off = (uint32_t)ivshm_net_used_off(num);
	lay->data_off = (uint32_t)v;
	lay->data_size = section_size - v;
	return 0;
}

#endif /* IVSHM_NET_LAYOUT_H */
