/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * Fuzz target 'vhu_msg': vhost-user message sequences against the
 * back-end library (lib/vhost_user), through its real socket and control
 * thread, from the test front-end (tests/vhost_user/fe.c).
 *
 * The input is a list of operations: any request with any flags, payload
 * and size, with up to 10 fds of any kind attached (memfds of any size for
 * SET_MEM_TABLE / ADD_MEM_REG / SET_LOG_BASE, eventfds, pipes, sockets,
 * directories); structured memory tables and log bases built from the
 * input; a complete well-formed handshake (rings up); device lifecycle
 * requests with fields from the input (SET_STATUS, RESET_DEVICE, GET_CONFIG
 * and SET_CONFIG windows whose size field may disagree with the payload,
 * replies drained; REM_MEM_REG of the last region added, in the middle of
 * traffic and held zero-copy buffers); GET_INFLIGHT_FD and
 * SET_INFLIGHT_FD with sizes from the input, the latter with an fd of any
 * kind whose file (a memfd) holds entries from the input, and handshakes
 * that set an in-flight region up before the rings start (so restarts
 * resubmit what the input left marked); guest TX frames and
 * RX buffers; data-path bursts interleaved with all of it (zero-copy mbufs
 * held and freed late); disconnect and reconnect; the front-end shrinking
 * a memory file under the back-end's mapping (the library must contain
 * the fault: the harness itself touches that memory no more). After each message the
 * harness waits until the control thread has handled it.
 *
 * Checks: no crash, hang or sanitizer report; dequeued frames within
 * limits; at the end (held mbufs freed, device destroyed) every mbuf back
 * in the pool, no fd and no guest-memory or log mapping left.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_vhu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static bool ready;	/* fe_start succeeded on this connection */
static bool shrunk;	/* guest memory truncated: the guest touches it no more */
static struct vhu_mem_reg_desc last_add;	/* for REM_MEM_REG */

static void
send_raw(struct fzv *v, struct fz *f)
{
	uint8_t payload[600];
	uint32_t req = fz_u8(f), flags = fz_u8(f), size;
	uint8_t nf = fz_u8(f);
	int fds[10];
	unsigned int nfds = nf % 11, i, k = 0;

	if (req & 0x80)
		req = fz_u32(f);	/* anything, not only known requests */
	else
		req %= VHU_REQ_MAX + 1;
	if (!(flags & 0x80))
		flags = VHU_FLAG_VERSION | (flags & VHU_FLAG_NEED_REPLY);
	size = fz_u16(f) % sizeof(payload);
	fz_bytes(f, payload, size);
	for (i = 0; i < nfds; i++) {
		uint8_t kind = fz_u8(f);
		int fd = fzv_make_fd(kind, 4096ull * (fz_u8(f) % 1100));

		if (fd >= 0)
			fds[k++] = fd;
	}
	if (v->connected)
		(void)fe_send(&v->fe, req, flags, payload, size, fds, k);
	for (i = 0; i < k; i++)
		close(fds[i]);
	(void)fzv_sync(v);
}

/* SET_MEM_TABLE or ADD_MEM_REG with regions and fds from the input: the
 * fd may be smaller than the region, the qva anything. */
static void
send_memory(struct fzv *v, struct fz *f, bool add)
{
	struct vhu_mem_table_desc t;
	struct vhu_mem_reg_desc r;
	int fds[VHU_MEMTABLE_MAX_REGIONS];
	unsigned int n = add ? 1 : fz_u8(f) % (VHU_MEMTABLE_MAX_REGIONS + 1);
	unsigned int i;

	memset(&t, 0, sizeof(t));
	t.nregions = n;
	for (i = 0; i < n; i++) {
		struct vhu_mem_region_desc *d = &t.regions[i];
		uint64_t pages = fz_u8(f) % 64 + 1;
		uint8_t how = fz_u8(f);

		d->gpa = (uint64_t)fz_u16(f) << 12;
		d->size = pages << 12;
		d->qva = (how & 1) ? fz_u64(f) : d->gpa + 0x10000000000ull;
		d->mmap_offset = (how & 2) ? fz_u32(f) : 0;
		if (how & 4)
			d->size = fz_u64(f);
		fds[i] = fzv_make_fd((how & 8) ? fz_u8(f) : 0,
			(how & 16) ? (pages << 12) / 2 : pages << 12);
	}
	if (v->connected) {
		if (add) {
			memset(&r, 0, sizeof(r));
			r.region = t.regions[0];
			last_add = r;
			(void)fe_send(&v->fe, VHU_REQ_ADD_MEM_REG,
				VHU_FLAG_VERSION, &r, sizeof(r), fds,
				fds[0] >= 0);
		} else {
			(void)fe_send(&v->fe, VHU_REQ_SET_MEM_TABLE,
				VHU_FLAG_VERSION, &t, VHU_MEMTABLE_HDR_SIZE +
				n * sizeof(t.regions[0]), fds, n);
		}
	}
	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	(void)fzv_sync(v);
}

static void
send_log_base(struct fzv *v, struct fz *f)
{
	struct vhu_log_desc ld;
	uint8_t how = fz_u8(f);
	int fd;

	ld.mmap_size = (how & 1) ? fz_u64(f) : 64ull << (how % 8);
	ld.mmap_offset = (how & 2) ? fz_u64(f) : 0;
	fd = fzv_make_fd((how & 4) ? fz_u8(f) : 0, 4096ull * (how % 4));
	if (v->connected)
		(void)fe_send(&v->fe, VHU_REQ_SET_LOG_BASE, VHU_FLAG_VERSION,
			&ld, sizeof(ld), &fd, fd >= 0);
	if (fd >= 0)
		close(fd);
	(void)fzv_sync(v);
}

/* GET_INFLIGHT_FD (the reply, with its fd, is drained by the sync) or
 * SET_INFLIGHT_FD: sizes near the usual ones or anything, an fd of any
 * kind; a memfd gets in-flight entries and header bytes from the input. */
static void
inflight(struct fzv *v, struct fz *f, uint32_t flags)
{
	struct vhu_inflight_desc d;
	uint8_t how = fz_u8(f);
	unsigned int i, n;
	int fd;

	memset(&d, 0, sizeof(d));
	d.num_queues = (how & 1) ? fz_u16(f) : (uint16_t)(1 + fz_u8(f) % 4);
	d.queue_size = (how & 2) ? fz_u16(f) : (uint16_t)(8u << (fz_u8(f) % 6));
	if (!(how & 4)) {
		(void)fe_send(&v->fe, VHU_REQ_GET_INFLIGHT_FD, flags, &d,
			sizeof(d), NULL, 0);
		return;
	}
	d.mmap_size = (how & 8) ? fz_u64(f) :
		((16 + 16ull * d.queue_size + 63) & ~63ull) * d.num_queues;
	d.mmap_offset = (how & 16) ? fz_u64(f) : 0;
	fd = fzv_make_fd((how & 32) ? fz_u8(f) : 0,
		(how & 64) ? fz_u32(f) % (1u << 20) : d.mmap_size % (1u << 22));
	for (n = fz_u8(f) % 8, i = 0; fd >= 0 && i < n; i++) {
		uint64_t val = fz_u64(f);

		(void)pwrite(fd, &val, sizeof(val), fz_u16(f));
	}
	(void)fe_send(&v->fe, VHU_REQ_SET_INFLIGHT_FD, flags, &d, sizeof(d),
		&fd, fd >= 0);
	if (fd >= 0)
		close(fd);
}

/* SET_STATUS, RESET_DEVICE, GET_CONFIG, SET_CONFIG: values mostly near
 * the ones a front-end uses, windows and size fields from the input. */
static void
lifecycle(struct fzv *v, struct fz *f)
{
	static const uint64_t statuses[] = { 0, 0x01, 0x03, 0x0b, 0x0f, 0x07,
		0x8f, 0x4f, 0x08, 0x100 };
	struct vhu_config_desc c;
	uint8_t how = fz_u8(f);
	uint32_t flags = VHU_FLAG_VERSION | ((how & 0x80) ?
		VHU_FLAG_NEED_REPLY : 0);
	uint32_t size = 0;
	uint64_t st;

	if (!v->connected)
		return;
	switch (how % 5) {
	case 0:
		st = (how & 0x40) ? fz_u64(f) :
			statuses[fz_u8(f) % RTE_DIM(statuses)];
		(void)fe_send(&v->fe, VHU_REQ_SET_STATUS, flags, &st,
			sizeof(st), NULL, 0);
		break;
	case 1:
		if (how & 0x40)
			inflight(v, f, flags);
		else
			(void)fe_send(&v->fe, VHU_REQ_RESET_DEVICE, flags,
				NULL, 0, NULL, 0);
		break;
	case 4:	/* hot-unplug the last region added, maybe under traffic */
		(void)fe_send(&v->fe, VHU_REQ_REM_MEM_REG, flags, &last_add,
			sizeof(last_add), NULL, 0);
		break;
	default:
		memset(&c, 0, sizeof(c));
		c.offset = (how & 0x40) ? fz_u32(f) : fz_u8(f) % 32;
		size = fz_u16(f) % (VHU_CONFIG_MAX + 16);
		c.size = (how & 0x20) ? fz_u32(f) : size;
		c.flags = (how & 0x10) ? fz_u32(f) : 0;
		fz_bytes(f, c.region, RTE_MIN(size, VHU_CONFIG_MAX));
		size = RTE_MIN(size, VHU_CONFIG_MAX);
		(void)fe_send(&v->fe, (how % 5) == 2 ? VHU_REQ_GET_CONFIG :
			VHU_REQ_SET_CONFIG, flags, &c,
			VHU_CONFIG_HDR_SIZE + size, NULL, 0);
		break;
	}
	(void)fzv_sync(v);
}

static void
handshake(struct fzv *v, struct fz *f)
{
	struct fe_opts o;
	uint8_t how = fz_u8(f);

	if (!v->connected || ready)
		return;
	fe_opts_default(&o);
	o.features = fz_u64(f) | (1ull << VHU_F_PROTOCOL_FEATURES);
	o.proto = how & 1;
	o.proto_mask = fz_u64(f);
	o.nqp = 1 + ((how >> 1) & 1);
	if (o.nqp > v->cfg.max_queue_pairs)
		o.nqp = v->cfg.max_queue_pairs;
	o.ring_size = (uint16_t)(8u << ((how >> 2) % 6));
	o.enable = true;
	o.kick_nofd = how & 0x40;
	o.call_nofd = how & 0x80;
	o.mem_size = 1ull << 20;	/* per input: small, it is zeroed */
	o.inflight = how & 0x20;	/* GET (once) + SET before the rings */
	if (v->fe.nmem == 0)
		ready = fe_start(&v->fe, &o) == 0;
	if (getenv("VMLINK_FUZZ_LOG") != NULL)
		fprintf(stderr, "fuzz: handshake %s\n", ready ? "done" :
			"refused");
	if (!ready)
		(void)fzv_sync(v);
}

static void
guest_traffic(struct fzv *v, struct fz *f)
{
	uint8_t frame[2048];
	uint8_t how = fz_u8(f);
	uint32_t len = 14 + fz_u16(f) % 1500;
	unsigned int q = (how >> 4) % 2;

	if (!ready || shrunk || v->fe.nvq < 2 * (q + 1))
		return;
	if (how & 1) {
		fz_bytes(f, frame, 32);
		(void)fe_tx_frame(&v->fe, 2 * q + 1, NULL, 12, frame, len,
			1 + (how >> 1) % 3, how & 8, how & 0x40);
	} else {
		(void)fe_rx_post(&v->fe, 2 * q, 512 + len, 1 + (how >> 1) % 3,
			how & 0x40);
	}
	fe_avail_publish(&v->fe.vq[2 * q + (how & 1)]);
}

static void
enqueue(struct fzv *v, struct fz *f)
{
	struct rte_mbuf *m[8];
	uint8_t how = fz_u8(f);
	unsigned int n = how % 8, i, done;

	for (i = 0; i < n; i++) {
		uint32_t len = 14 + fz_u16(f) % 3000;

		m[i] = rte_pktmbuf_alloc(fzv_mp);
		if (m[i] == NULL)
			break;
		if (len > rte_pktmbuf_tailroom(m[i]))
			len = rte_pktmbuf_tailroom(m[i]);
		memset(rte_pktmbuf_mtod(m[i], void *), 0x5a, len);
		m[i]->data_len = (uint16_t)len;
		m[i]->pkt_len = len;
	}
	n = i;
	done = vhu_enqueue_burst(v->dev, (how >> 3) % 2, m, (uint16_t)n);
	FZ_CHECK(done <= n);
	for (i = 0; i < n; i++)
		rte_pktmbuf_free(m[i]);
}

static void
run(struct fzv *v, struct fz *f)
{
	unsigned int ops = 0;

	while (!fz_empty(f) && ops++ < 64) {
		uint8_t op = fz_u8(f);

		switch (op % 14) {
		case 0:
		case 1:
			send_raw(v, f);
			break;
		case 2:
			send_memory(v, f, op & 0x80);
			break;
		case 3:
			send_log_base(v, f);
			break;
		case 4:
			handshake(v, f);
			break;
		case 5:
			guest_traffic(v, f);
			break;
		case 6:
			(void)fzv_dequeue(v, (op >> 7) & 1, fz_u8(f) % 40,
				op & 0x40, NULL);
			break;
		case 7:
			enqueue(v, f);
			break;
		case 8:
			fzv_free_held(v, fz_u8(f) % 32, op & 0x80);
			break;
		case 9:	/* the front-end goes away and comes back */
			fzv_disconnect(v);
			fe_fini(&v->fe);
			fe_init(&v->fe);
			v->fe.prefer_huge = false;
			ready = false;
			shrunk = false;
			(void)fzv_connect(v);
			(void)fzv_sync(v);
			break;
		case 10: {
			struct vhu_queue_stats st;

			(void)vhu_queue_stats_get(v->dev, fz_u8(f) % 3,
				op & 0x80 ? VHU_ENQ : VHU_DEQ, &st);
			(void)vhu_queue_notify(v->dev, fz_u8(f) % 3, op & 0x40);
			(void)vhu_queue_kickfd(v->dev, fz_u8(f) % 3);
			break;
		}
		case 11:	/* the front-end shrinks its memory file */
			if (v->fe.nmem > 0) {
				(void)ftruncate(v->fe.mem[fz_u8(f) % v->fe.nmem].fd,
					(off_t)fz_u16(f) << 12);
				shrunk = true;
			}
			break;
		case 12:
			lifecycle(v, f);
			break;
		default: {
			uint8_t b[64];

			(void)vhu_guest_read(v->dev, fz_u32(f), b,
				fz_u8(f) % sizeof(b));
			(void)vhu_mem_regions(v->dev);
			break;
		}
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fzv v;
	struct fz f = { data, size };
	uint8_t knobs = fz_u8(&f);

	memset(&v, 0, sizeof(v));
	fzv_config(&v, knobs);
	ready = false;
	shrunk = false;
	memset(&last_add, 0, sizeof(last_add));
	fzv_begin(&v);
	run(&v, &f);
	fzv_end(&v);
	return 0;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	fzv_global_init((*argv)[0]);
	return 0;
}
