/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Offloads: the virtio-net header of a frame <-> the offload metadata of
 * its mbuf (checksum and TCP segmentation offloads, VIRTIO_NET_F_CSUM,
 * GUEST_CSUM, HOST_TSO4/6, GUEST_TSO4/6).
 *
 * Dequeue (guest TX): vhu_ofl_tx_parse() checks the header the guest
 * wrote against the frame's own headers and says what the mbuf gets:
 * RTE_MBUF_F_TX_{TCP,UDP}_CKSUM / TX_TCP_SEG with l2/l3/l4 lengths and
 * tso_segsz, so that a frame can leave through another port with its
 * offload still to do. A header that does not fit its frame is a
 * malformed reason (the queue stops, counted), never a read past the
 * frame. vhu_ofl_tx_apply() then writes the mbuf's fields (and the few
 * frame bytes the conversion needs; see priv_len).
 *
 * Enqueue (guest RX): vhu_ofl_rx_plan() maps an mbuf's offload flags to
 * the header the guest gets, given the features it negotiated, and says
 * what must be done in software for the ones it did not (a checksum
 * filled in, a TSO frame cut into MSS-sized frames). The frame then goes
 * out as vhu_ofl_rx_frames() frames, each one header run built by
 * vhu_ofl_rx_frame() followed by a range of the mbuf's bytes: the mbuf
 * is only read, the guest's buffers get the result.
 *
 * Conventions, as in DPDK and virtio: a partial checksum is the folded,
 * not complemented, pseudo-header sum stored in the checksum field; the
 * virtio (and Linux) pseudo-header of a GSO frame includes the TCP length
 * of the whole frame, DPDK's for TX_TCP_SEG does not (both are converted
 * here). These functions take no lock, allocate nothing and touch no
 * guest memory but what they are given.
 */

#ifndef VMLINK_VHU_OFFLOAD_H
#define VMLINK_VHU_OFFLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "vhu_proto.h"

/* Return value of the checks when nothing is wrong (reasons are >= 0). */
#define VHU_OFL_OK	(-1)

/* Longest L2 + L3 + L4 header run the mapping reads or rewrites. */
#define VHU_OFL_HDR_MAX	256u

/* Virtio features of the offloads. */
#define VHU_OFL_FEATURES ((1ull << VHU_F_NET_CSUM) | \
	(1ull << VHU_F_NET_GUEST_CSUM) | (1ull << VHU_F_NET_GUEST_TSO4) | \
	(1ull << VHU_F_NET_GUEST_TSO6) | (1ull << VHU_F_NET_HOST_TSO4) | \
	(1ull << VHU_F_NET_HOST_TSO6))
/* Of those, the ones that let a guest's TX header ask for something:
 * without them its flags and GSO type must be 0 (virtio 1.2, 5.1.6.2),
 * and dequeue does not read them. */
#define VHU_OFL_DEQ_FEATURES ((1ull << VHU_F_NET_CSUM) | \
	(1ull << VHU_F_NET_HOST_TSO4) | (1ull << VHU_F_NET_HOST_TSO6))

/* mbuf flags the enqueue side acts on. */
#define VHU_OFL_TX_FLAGS (RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_L4_MASK | \
	RTE_MBUF_F_TX_IP_CKSUM)

/* ---- dequeue: a guest TX header on its frame ---- */

enum vhu_ofl_tx_kind {
	VHU_OFL_TX_NONE,	/* no offload asked */
	VHU_OFL_TX_L4,		/* TCP/UDP checksum (and maybe TSO) to do */
	VHU_OFL_TX_SW_CSUM,	/* a partial checksum where no mbuf flag
				 * can say it: completed by apply() */
};

struct vhu_ofl_tx {
	uint64_t ol_flags;	/* RTE_MBUF_F_TX_* (and RX_L4_CKSUM_NONE, RX_LRO) */
	uint16_t l2_len;
	uint16_t l3_len;
	uint16_t l4_len;
	uint16_t tso_segsz;
	uint16_t csum_start;	/* SW_CSUM: checksum from here to the end... */
	uint16_t csum_offset;	/* ...stored here, after csum_start */
	/*
	 * apply() rewrites bytes below priv_len, and what comes after it
	 * (another port's software completion, rte_gso) may rewrite or
	 * reread the L2-L4 headers there: the caller must have them in the
	 * mbuf's first segment, in memory of its own (a copy, never the
	 * guest's buffer). 0 for NONE.
	 */
	uint16_t priv_len;
	uint8_t kind;		/* enum vhu_ofl_tx_kind */
};

/*
 * Check guest TX header @p h (a local copy) against its frame of
 * @p frame_len bytes, of which @p seen = min(frame_len, VHU_OFL_HDR_MAX)
 * bytes are at @p frame (a local copy, or memory the guest no longer
 * writes), with virtio @p features negotiated. Fills @p o; returns
 * VHU_OFL_OK or the malformed reason (VHU_MAL_HDR_FIELDS: gso_type not
 * negotiated, GSO without NEEDS_CSUM or gso_size, or on a frame that is
 * not TCP over the IP version it names; VHU_MAL_CSUM: checksum past the
 * frame).
 */
int vhu_ofl_tx_parse(const struct vhu_net_hdr *h, const uint8_t *frame,
	uint32_t seen, uint32_t frame_len, uint64_t features,
	struct vhu_ofl_tx *o);

/*
 * Give @p m (the whole frame, its first segment holding o->priv_len
 * bytes of the caller's own memory) the offload @p o describes.
 */
void vhu_ofl_tx_apply(struct rte_mbuf *m, const struct vhu_ofl_tx *o);

/* ---- enqueue: an mbuf to a guest ---- */

/* What vhu_ofl_rx_frame() does to the header run. */
#define VHU_OFL_FIX_IP_CSUM	(1u << 0)	/* IPv4 header checksum */
#define VHU_OFL_FIX_L4_FULL	(1u << 1)	/* complete the L4 checksum */
#define VHU_OFL_FIX_L4_PSEUDO	(1u << 2)	/* pseudo-header sum, for the guest to complete */
#define VHU_OFL_FIX_TSO_LEN	(1u << 3)	/* DPDK -> virtio GSO pseudo-header */
#define VHU_OFL_FIX_SEGMENT	(1u << 4)	/* cut into mss-sized TCP frames */

struct vhu_ofl_rx {
	struct vhu_net_hdr hdr;	/* for the guest (num_buffers: the caller's) */
	uint32_t frame_len;	/* the mbuf's pkt_len */
	uint16_t hdr_bytes;	/* 0: the frame goes as it is */
	uint16_t mss;
	uint16_t nframes;	/* frames it becomes */
	uint16_t l2_len;
	uint16_t l3_len;
	uint16_t l4_len;
	bool ipv4;
	bool tcp;
	uint8_t fix;		/* VHU_OFL_FIX_* */
	uint8_t hdrs[VHU_OFL_HDR_MAX];	/* the frame's first hdr_bytes */
};

/* Why an mbuf cannot go to a guest (counted drop). */
#define VHU_OFL_RX_BAD		0	/* offload metadata that does not fit the frame */
#define VHU_OFL_RX_TOO_MANY	1	/* more frames than @p max_frames */

/*
 * How @p m goes to a guest that negotiated virtio @p features; only the
 * mbuf flags in @p honoured count (the offloads the application enabled).
 * A TSO frame the guest cannot take becomes at most @p max_frames frames.
 * Fills @p p; returns VHU_OFL_OK or VHU_OFL_RX_BAD / VHU_OFL_RX_TOO_MANY.
 * Reads the mbuf's headers (never past pkt_len nor past its chain).
 */
int vhu_ofl_rx_plan(const struct rte_mbuf *m, uint64_t features,
	uint64_t honoured, uint32_t max_frames, struct vhu_ofl_rx *p);

/* Frames @p p makes (1 unless segmenting). */
static inline uint32_t
vhu_ofl_rx_frames(const struct vhu_ofl_rx *p)
{
	return p->nframes;
}

/*
 * Frame @p k of the plan: its first p->hdr_bytes bytes into @p out (the
 * headers, fixed up), and the range of the mbuf's bytes that follows
 * them (*off, *len). Returns the frame's length. Reads the mbuf (for
 * checksums) only inside [*off, *off + *len).
 */
uint32_t vhu_ofl_rx_frame(const struct rte_mbuf *m, const struct vhu_ofl_rx *p,
	uint32_t k, uint8_t *out, uint32_t *off, uint32_t *len);

/*
 * The folded ones' complement sum of @p len bytes of @p m from @p off,
 * as rte_raw_cksum_mbuf() computes it, but stopping at the end of the
 * chain: false if the chain holds fewer bytes.
 */
bool vhu_ofl_sum_mbuf(const struct rte_mbuf *m, uint32_t off, uint32_t len,
	uint32_t *sum);

#endif /* VMLINK_VHU_OFFLOAD_H */
