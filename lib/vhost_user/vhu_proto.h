/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user wire format and split-virtqueue layout, as seen by vmlink.
 *
 * Written from the vhost-user specification (QEMU docs/interop/vhost-user.rst)
 * and the virtio 1.x specification. Everything here is little-endian native
 * on the hosts vmlink supports (x86_64, aarch64 little-endian).
 *
 * This header is shared by the library and by its test front-end; it is not
 * part of the data-path API (see vhu.h). The ring layout is vmlink_vring.h
 * (lib/common), which the ivshmem-net rings share.
 */

#ifndef VMLINK_VHU_PROTO_H
#define VMLINK_VHU_PROTO_H

#include <stdint.h>

#include "vmlink_vring.h"

/* ---- message header ---- */

#define VHU_MSG_HDR_SIZE	12u
#define VHU_FLAG_VERSION	0x1u	/* bits 0-1 */
#define VHU_FLAG_VERSION_MASK	0x3u
#define VHU_FLAG_REPLY		(1u << 2)
#define VHU_FLAG_NEED_REPLY	(1u << 3)
#define VHU_MAX_MSG_FDS		8u

/* Front-end requests. */
enum vhu_request {
	VHU_REQ_NONE = 0,
	VHU_REQ_GET_FEATURES = 1,
	VHU_REQ_SET_FEATURES = 2,
	VHU_REQ_SET_OWNER = 3,
	VHU_REQ_RESET_OWNER = 4,
	VHU_REQ_SET_MEM_TABLE = 5,
	VHU_REQ_SET_LOG_BASE = 6,
	VHU_REQ_SET_LOG_FD = 7,
	VHU_REQ_SET_VRING_NUM = 8,
	VHU_REQ_SET_VRING_ADDR = 9,
	VHU_REQ_SET_VRING_BASE = 10,
	VHU_REQ_GET_VRING_BASE = 11,
	VHU_REQ_SET_VRING_KICK = 12,
	VHU_REQ_SET_VRING_CALL = 13,
	VHU_REQ_SET_VRING_ERR = 14,
	VHU_REQ_GET_PROTOCOL_FEATURES = 15,
	VHU_REQ_SET_PROTOCOL_FEATURES = 16,
	VHU_REQ_GET_QUEUE_NUM = 17,
	VHU_REQ_SET_VRING_ENABLE = 18,
	VHU_REQ_SEND_RARP = 19,
	VHU_REQ_NET_SET_MTU = 20,
	VHU_REQ_SET_BACKEND_REQ_FD = 21,
	VHU_REQ_IOTLB_MSG = 22,
	VHU_REQ_SET_VRING_ENDIAN = 23,
	VHU_REQ_GET_CONFIG = 24,
	VHU_REQ_SET_CONFIG = 25,
	VHU_REQ_CREATE_CRYPTO_SESSION = 26,
	VHU_REQ_CLOSE_CRYPTO_SESSION = 27,
	VHU_REQ_POSTCOPY_ADVISE = 28,
	VHU_REQ_POSTCOPY_LISTEN = 29,
	VHU_REQ_POSTCOPY_END = 30,
	VHU_REQ_GET_INFLIGHT_FD = 31,
	VHU_REQ_SET_INFLIGHT_FD = 32,
	VHU_REQ_GPU_SET_SOCKET = 33,
	VHU_REQ_RESET_DEVICE = 34,
	VHU_REQ_VRING_KICK = 35,
	VHU_REQ_GET_MAX_MEM_SLOTS = 36,
	VHU_REQ_ADD_MEM_REG = 37,
	VHU_REQ_REM_MEM_REG = 38,
	VHU_REQ_SET_STATUS = 39,
	VHU_REQ_GET_STATUS = 40,
	VHU_REQ_GET_SHARED_OBJECT = 41,
	VHU_REQ_SET_DEVICE_STATE_FD = 42,
	VHU_REQ_CHECK_DEVICE_STATE = 43,
	VHU_REQ_MAX = 44,
};

/* Protocol feature bits (GET/SET_PROTOCOL_FEATURES). */
#define VHU_PROTO_F_MQ			0
#define VHU_PROTO_F_LOG_SHMFD		1
#define VHU_PROTO_F_RARP		2
#define VHU_PROTO_F_REPLY_ACK		3
#define VHU_PROTO_F_MTU			4
#define VHU_PROTO_F_BACKEND_REQ		5
#define VHU_PROTO_F_CONFIG		9
#define VHU_PROTO_F_INFLIGHT_SHMFD	12
#define VHU_PROTO_F_RESET_DEVICE	13
#define VHU_PROTO_F_INBAND_NOTIFICATIONS 14
#define VHU_PROTO_F_CONFIGURE_MEM_SLOTS	15
#define VHU_PROTO_F_STATUS		16
#define VHU_PROTO_F_DEVICE_STATE	19

/* Virtio / vhost feature bits (GET/SET_FEATURES). */
#define VHU_F_NET_CSUM			0
#define VHU_F_NET_GUEST_CSUM		1
#define VHU_F_NET_MTU			3
#define VHU_F_NET_MAC			5
#define VHU_F_NET_GUEST_TSO4		7
#define VHU_F_NET_GUEST_TSO6		8
#define VHU_F_NET_GUEST_ECN		9
#define VHU_F_NET_GUEST_UFO		10
#define VHU_F_NET_HOST_TSO4		11
#define VHU_F_NET_HOST_TSO6		12
#define VHU_F_NET_HOST_ECN		13
#define VHU_F_NET_HOST_UFO		14
#define VHU_F_NET_MRG_RXBUF		15
#define VHU_F_NET_STATUS		16
#define VHU_F_NET_CTRL_VQ		17
#define VHU_F_NET_GUEST_ANNOUNCE	21
#define VHU_F_NET_MQ			22
#define VHU_F_NOTIFY_ON_EMPTY		24
#define VHU_F_LOG_ALL			26	/* vhost: dirty logging */
#define VHU_F_ANY_LAYOUT		27
#define VHU_F_RING_INDIRECT_DESC	28
#define VHU_F_RING_EVENT_IDX		29
#define VHU_F_PROTOCOL_FEATURES		30	/* vhost-user */
#define VHU_F_VERSION_1			32
#define VHU_F_IOMMU_PLATFORM		33
#define VHU_F_RING_PACKED		34
#define VHU_F_IN_ORDER			35

/* SET_VRING_KICK/CALL/ERR u64 payload. */
#define VHU_VRING_IDX_MASK		0xffull
#define VHU_VRING_NOFD			(1ull << 8)

/* SET_VRING_ADDR flags. */
#define VHU_VRING_F_LOG			(1u << 0)

/* Dirty log page size. */
#define VHU_LOG_PAGE			4096u

/* Regions per SET_MEM_TABLE message. */
#define VHU_MEMTABLE_MAX_REGIONS	8u

/* ---- payloads ---- */

struct vhu_vring_state {
	uint32_t index;
	uint32_t num;
};

struct vhu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc_qva;
	uint64_t used_qva;
	uint64_t avail_qva;
	uint64_t log_gpa;
};

struct vhu_mem_region_desc {
	uint64_t gpa;
	uint64_t size;
	uint64_t qva;
	uint64_t mmap_offset;
};

struct vhu_mem_table_desc {
	uint32_t nregions;
	uint32_t padding;
	struct vhu_mem_region_desc regions[VHU_MEMTABLE_MAX_REGIONS];
};

struct vhu_mem_reg_desc {
	uint64_t padding;
	struct vhu_mem_region_desc region;
};

struct vhu_log_desc {
	uint64_t mmap_size;
	uint64_t mmap_offset;
};

#define VHU_MEMTABLE_HDR_SIZE	8u	/* nregions + padding */

/* GET_INFLIGHT_FD (the front-end fills the last two, the back-end
 * answers all four and the fd) and SET_INFLIGHT_FD; 24 bytes on the
 * wire, as QEMU and DPDK send it. */
struct vhu_inflight_desc {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
};

/* GET_CONFIG / SET_CONFIG: a window of the device's config space. */
#define VHU_CONFIG_HDR_SIZE	12u	/* offset + size + flags */
#define VHU_CONFIG_MAX		256u
#define VHU_CONFIG_F_MIGRATION	1u	/* SET_CONFIG during migration */

struct vhu_config_desc {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t region[VHU_CONFIG_MAX];
};

/* virtio-net config space (virtio 1.2, 5.1.4), little-endian. */
struct vhu_net_config {
	uint8_t mac[6];
	uint16_t status;		/* VHU_NET_S_LINK_UP */
	uint16_t max_virtqueue_pairs;
	uint16_t mtu;
	uint32_t speed;			/* Mb/s; UINT32_MAX unknown */
	uint8_t duplex;			/* 0xff unknown */
	uint8_t rss_max_key_size;
	uint16_t rss_max_indirection_table_length;
	uint32_t supported_hash_types;
} __attribute__((packed));

#define VHU_NET_S_LINK_UP	1u

/* SET_DEVICE_STATE_FD: how the state moves (its fd attached). The reply
 * is a u64: bits 0-7 zero on success, bit 8 set when no fd comes back. */
struct vhu_state_xfer_desc {
	uint32_t direction;
	uint32_t phase;
};

#define VHU_STATE_DIR_SAVE	0u	/* back-end writes its state */
#define VHU_STATE_DIR_LOAD	1u	/* back-end reads it */
#define VHU_STATE_PHASE_STOPPED	0u	/* every ring stopped */
#define VHU_STATE_REPLY_NOFD	(1ull << 8)

/*
 * vmlink's device state, as it goes through that fd (little-endian):
 * a header, then one record per virtqueue of the saving device. What the
 * front-end does not carry itself: the ring indices as the back-end
 * left them (a split ring's used index behind its avail index when
 * zero-copy chains were never returned; a packed ring's used position
 * and wrap counter), the config space MAC (SET_CONFIG), and what the
 * guest was promised (features, queue count, MTU), which a destination
 * must be able to keep. Every field is checked on load; reserved bytes
 * are zero. A new layout gets a new version.
 */
#define VHU_STATE_MAGIC		0x534c4d56u	/* "VMLS" */
#define VHU_STATE_VERSION	1u

struct vhu_state_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t hdr_size;	/* sizeof(struct vhu_state_hdr) */
	uint32_t total_size;	/* header + nr_vq records */
	uint16_t nr_vq;		/* virtqueues of the saving device (2 per pair) */
	uint16_t vq_size;	/* sizeof(struct vhu_state_vq) */
	uint64_t features;	/* negotiated virtio features */
	uint64_t proto_features; /* negotiated protocol features */
	uint8_t mac[6];		/* config space MAC */
	uint16_t mtu;		/* MTU offered (VIRTIO_NET_F_MTU), 0: none */
	uint8_t reserved[8];
};

#define VHU_STATE_VQ_AVAIL_WRAP	(1u << 0)	/* packed: wrap counters */
#define VHU_STATE_VQ_USED_WRAP	(1u << 1)
#define VHU_STATE_VQ_PACKED	(1u << 2)

struct vhu_state_vq {
	uint16_t num;		/* ring size; 0: never set up */
	uint16_t last_avail;	/* next avail index (packed: position) */
	uint16_t last_used;	/* next used index (packed: position) */
	uint8_t flags;		/* VHU_STATE_VQ_* */
	uint8_t reserved;
};

#define VHU_STATE_MAX_SIZE	(sizeof(struct vhu_state_hdr) + \
	2u * 128u * sizeof(struct vhu_state_vq))

/* ---- split virtqueue layout: vmlink_vring.h (struct vring_desc, ...) ---- */

/* ---- virtio-net header ---- */

#define VHU_NET_HDR_F_NEEDS_CSUM	1u
#define VHU_NET_HDR_F_DATA_VALID	2u
#define VHU_NET_HDR_GSO_NONE		0u
#define VHU_NET_HDR_GSO_TCPV4		1u
#define VHU_NET_HDR_GSO_UDP		3u
#define VHU_NET_HDR_GSO_TCPV6		4u
#define VHU_NET_HDR_GSO_ECN		0x80u

struct vhu_net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;	/* present with VERSION_1 or MRG_RXBUF */
};

#define VHU_NET_HDR_LEN		12u
#define VHU_NET_HDR_LEN_LEGACY	10u

/* Virtio device status bits. */
#define VHU_STATUS_ACKNOWLEDGE	1u
#define VHU_STATUS_DRIVER	2u
#define VHU_STATUS_DRIVER_OK	4u
#define VHU_STATUS_FEATURES_OK	8u
#define VHU_STATUS_NEEDS_RESET	64u
#define VHU_STATUS_FAILED	128u

#endif /* VMLINK_VHU_PROTO_H */
