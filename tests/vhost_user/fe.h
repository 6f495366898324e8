/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test front-end for the vhost-user back-end library: plays QEMU's part
 * over a real unix socket, with guest memory on hugetlbfs (or memfd) and
 * split virtqueues built in that shared memory, driven as a guest driver
 * would.
 */

#ifndef VMLINK_TEST_VHU_FE_H
#define VMLINK_TEST_VHU_FE_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/virtio_ring.h>

#include "vhu_proto.h"

#define FE_MAX_MEM	512
#define FE_MAX_VQ	8
#define FE_MAX_CHAIN	32
#define FE_RING_MAX	1024
#define FE_BASE_USED	(-2)

struct fe_mem {
	int fd;
	uint8_t *map;		/* front-end mapping of the whole file */
	uint64_t map_len;
	uint64_t gpa;
	uint64_t size;
	uint64_t mmap_offset;
	bool huge;
	bool kept;		/* the caller's (fe_mem_default_kept): fe_fini
				 * leaves it mapped and open */
};

struct fe_chain {
	unsigned int n;
	uint64_t gpa[FE_MAX_CHAIN];
	uint32_t len[FE_MAX_CHAIN];
};

struct fe_vring {
	uint16_t size;
	uint64_t desc_gpa;
	uint64_t avail_gpa;
	uint64_t used_gpa;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t avail_idx;
	uint16_t last_used;
	uint16_t next_desc;
	int kickfd;
	int callfd;
	int errfd;
	struct fe_chain chain[FE_RING_MAX];	/* by head index */

	/* Packed ring (VIRTIO_F_RING_PACKED acked): desc is the descriptor
	 * ring, avail the driver event structure, used the device's. */
	bool packed;
	struct vring_packed_desc *pdesc;
	struct vring_packed_desc_event *driver_event;
	struct vring_packed_desc_event *device_event;
	uint16_t pk_next;	/* next position to fill */
	bool pk_wrap;		/* driver wrap counter there */
	uint16_t pk_used;	/* next used element expected */
	bool pk_used_wrap;
	uint16_t pk_ndesc[FE_RING_MAX];	/* by buffer id: chain length */
	/* chain[] and pk_ndesc[] entries fe.c may have set lie below this
	 * (the largest size the ring was allocated with): fe_reset clears
	 * those and no more. */
	uint16_t tbl_hi;
};

struct fe {
	int sock;
	struct fe_mem mem[FE_MAX_MEM];
	unsigned int nmem;
	uint64_t offered;
	uint64_t features;	/* acked */
	uint64_t proto_offered;
	uint64_t proto;		/* acked */
	unsigned int nvq;
	struct fe_vring vq[FE_MAX_VQ];
	uint64_t alloc_next;	/* bump allocator for rings/buffers */
	uint64_t alloc_end;
	bool prefer_huge;
	int32_t base_override;	/* SET_VRING_BASE value; -1: avail_idx,
				 * FE_BASE_USED: the ring's used index */
	/* In-flight region (INFLIGHT_SHMFD), kept across reconnects as
	 * QEMU keeps it: from GET_INFLIGHT_FD, given back by
	 * SET_INFLIGHT_FD at every start. */
	int inflight_fd;
	struct vhu_inflight_desc inflight;
};

struct fe_opts {
	uint64_t features;	/* wanted; acked = offered & features */
	bool proto;		/* negotiate protocol features */
	uint64_t proto_mask;	/* wanted protocol features */
	unsigned int nqp;
	uint16_t ring_size;
	bool enable;		/* SET_VRING_ENABLE(1) after start */
	bool kick_nofd;
	bool call_nofd;
	uint64_t mem_size;	/* region 0 size (default 4 MiB) */
	bool keep_rings;	/* reconnect: rings and memory as they are */
	bool inflight;		/* GET_INFLIGHT_FD (once) + SET_INFLIGHT_FD
				 * before the rings start */
};

void fe_opts_default(struct fe_opts *o);
void fe_init(struct fe *fe);
/* fe_init for a front-end used before and fe_fini'd: the same state for
 * everything fe.c reads, without clearing the 3 MB of ring tables (only
 * the chain[] and pk_ndesc[] entries fe.c set, see tbl_hi): for callers
 * that start many sessions (the fuzz harnesses, one per input) and write
 * those tables only through fe.c. */
void fe_reset(struct fe *fe);
void fe_fini(struct fe *fe);

int fe_connect(struct fe *fe, const char *path);
int fe_listen(const char *path);
int fe_accept(struct fe *fe, int lfd, int timeout_ms);
void fe_disconnect(struct fe *fe);

/* Guest memory. */
int fe_mem_add(struct fe *fe, uint64_t gpa, uint64_t size,
	uint64_t mmap_offset, bool huge_ok);
int fe_mem_default(struct fe *fe, uint64_t size);
/* fe_mem_default's layout on memory the caller keeps across sessions:
 * @p m, a mapping of a whole file (contents as they are), becomes region
 * 0 at guest address 0. */
int fe_mem_default_kept(struct fe *fe, const struct fe_mem *m);
int fe_mem_alloc_fd(uint64_t size, bool huge_ok, bool *huge);
void *fe_va(struct fe *fe, uint64_t gpa);
uint64_t fe_qva(struct fe *fe, uint64_t gpa);
uint64_t fe_alloc(struct fe *fe, uint64_t len, uint64_t align);
void fe_region_desc(const struct fe_mem *m, struct vhu_mem_region_desc *d);

/* Messages. */
int fe_send(struct fe *fe, uint32_t req, uint32_t flags, const void *p,
	uint32_t size, const int *fds, unsigned int nfds);
int fe_recv(struct fe *fe, uint32_t *req, uint32_t *flags, void *p,
	uint32_t max, int timeout_ms);
int fe_get_u64(struct fe *fe, uint32_t req, uint64_t *v);
/* Send a request; with REPLY_ACK negotiated ask for and return the ack
 * (0 = success), else sync with GET_FEATURES and return 0. -1 on I/O. */
int fe_request(struct fe *fe, uint32_t req, const void *p, uint32_t size,
	const int *fds, unsigned int nfds);
int fe_request_u64(struct fe *fe, uint32_t req, uint64_t v);
int fe_request_state(struct fe *fe, uint32_t req, uint32_t index,
	uint32_t num);
int fe_sync(struct fe *fe);
int fe_set_mem_table(struct fe *fe);
int fe_get_vring_base(struct fe *fe, uint32_t index, uint32_t *num);
/* GET_INFLIGHT_FD for @p nq virtqueues of @p qsize entries: the reply's
 * payload in *d and its fd in *fd (-1 on failure, or none attached). */
int fe_get_inflight(struct fe *fe, uint16_t nq, uint16_t qsize,
	struct vhu_inflight_desc *d, int *fd);
/* SET_INFLIGHT_FD with @p fd (the ack, as fe_request()). */
int fe_set_inflight(struct fe *fe, const struct vhu_inflight_desc *d, int fd);

/* Handshake and rings: fe_start() is fe_handshake() (features, protocol
 * features, memory table) then fe_start_rings(). */
int fe_start(struct fe *fe, const struct fe_opts *o);
int fe_handshake(struct fe *fe, const struct fe_opts *o);
int fe_start_rings(struct fe *fe, const struct fe_opts *o);
int fe_vring_alloc(struct fe *fe, unsigned int idx, uint16_t size);
int fe_vring_start(struct fe *fe, unsigned int idx, bool kick_nofd,
	bool call_nofd);
int fe_vring_addr(struct fe *fe, unsigned int idx, uint32_t flags,
	uint64_t log_gpa);

/* Driver side of a ring. */
void fe_desc(struct fe_vring *v, uint16_t i, uint64_t addr, uint32_t len,
	uint16_t flags, uint16_t next);
void fe_avail_add(struct fe_vring *v, uint16_t head);
void fe_avail_publish(struct fe_vring *v);
int fe_used_get(struct fe_vring *v, uint32_t *id, uint32_t *len);
uint16_t fe_used_idx(const struct fe_vring *v);
uint64_t fe_eventfd_read(int fd);

/* Post a TX frame (header + data) as a chain: data cut in @p nseg pieces,
 * header in its own descriptor if @p hdr_sep, through an indirect table if
 * @p indirect. @p hdr may be NULL (zero header). Returns the head index. */
int fe_tx_frame(struct fe *fe, unsigned int vqi, const void *hdr,
	uint32_t hdr_len, const uint8_t *data, uint32_t len, unsigned int nseg,
	bool hdr_sep, bool indirect);
/* Post a TX frame (zero 12-byte header + data) in one descriptor whose
 * buffer is at @p gpa, in any region. Returns the head index. */
int fe_tx_frame_gpa(struct fe *fe, unsigned int vqi, uint64_t gpa,
	const uint8_t *data, uint32_t len);
/* Post one writable chain of @p nseg buffers of @p seglen bytes. */
int fe_rx_post(struct fe *fe, unsigned int vqi, uint32_t seglen,
	unsigned int nseg, bool indirect);
/* Read @p len bytes written into the chain at @p head. */
int fe_rx_read(struct fe *fe, unsigned int vqi, uint16_t head, uint8_t *out,
	uint32_t len);

/* Packed rings (fe_packed.c). fe_tx_frame(), fe_rx_post() and
 * fe_used_get() use these on a packed ring; buffer ids are head positions. */
void fe_pk_reset(struct fe_vring *v);
uint32_t fe_pk_base(const struct fe_vring *v);
/* Descriptor @p k positions after the next free one; with the AVAIL/USED
 * bits of the driver's wrap counter there if @p make_avail. */
void fe_pk_write(struct fe_vring *v, uint32_t k, uint64_t addr, uint32_t len,
	uint16_t id, uint16_t flags, bool make_avail);
/* Make the @p n descriptors from the next free one available: the head's
 * flags (@p head_flags + AVAIL/USED) stored last. */
void fe_pk_publish(struct fe_vring *v, uint32_t n, uint16_t head_flags);
/* Post a chain (split-format descriptors: addr, len, flags) directly or
 * through an indirect table; returns its buffer id. */
int fe_pk_post(struct fe_vring *v, const struct vring_desc *tbl, uint32_t n);
int fe_pk_post_indirect(struct fe *fe, struct fe_vring *v,
	const struct vring_desc *tbl, uint32_t n);
/* 1 and the next used element, 0 if none, -1 for an unknown id. */
int fe_pk_used_get(struct fe_vring *v, uint32_t *id, uint32_t *len);

int fe_count_fds(void);
int fe_count_maps(const char *needle);

#endif /* VMLINK_TEST_VHU_FE_H */
