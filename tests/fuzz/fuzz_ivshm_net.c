/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * Fuzz target 'ivshm_net': ivshmem-net (lib/ivshmem2/ivshm_net.c) against
 * a hostile peer. The harness is the server and the other peer: it hands
 * the library a real region memfd and eventfds (fuzz_ivshm.c), maps the
 * region itself, and then, from the input, writes the peer's output
 * section (descriptors, avail ring and index, used ring and index, event
 * indices, raw bytes anywhere), changes the peer's state, announces the
 * peer gone and back, and drives the library: control polls, rx bursts
 * (zero-copy mbufs held and freed late, also across link resets and past
 * ivshm_net_close), tx bursts, interface stop/start, rx interrupts.
 *
 * Checks: no crash or sanitizer report; no two zero-copy mbufs held at
 * once share a ring slot (external-buffer shared info); every rx mbuf is a
 * frame of 14..max bytes; every mbuf back in the pool and every fd and
 * region mapping released once the link is closed and the held mbufs are
 * freed.
 */

#include <endian.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "fuzz_ivshm.h"
#include "fuzz_util.h"
#include "ivshm_net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define POOL_SIZE	2047
#define MAX_HELD	128
#define BURST		32

static struct rte_mempool *mp;

struct harness {
	struct fz_script script;
	uint32_t id, peer;
	uint64_t out_size, region;
	uint8_t *map;		/* whole region, read-write (regions[]) */
	uint8_t *psec;		/* the peer's output section */
	struct ivshm_net_layout lay;
	uint16_t pavail;	/* the peer's avail index as it publishes */
	uint16_t pused;		/* the peer's used index (our tx completions) */
	uint32_t seq;
	struct rte_mbuf *held[MAX_HELD];
	unsigned int nheld;
};

static void
put32(uint8_t *b, uint32_t v)
{
	v = htole32(v);
	memcpy(b, &v, 4);
}

static void
msg_event_fd(uint8_t *b, uint32_t id, uint32_t vec)
{
	put32(b, IVSHM_MSG_EVENT_FD);
	put32(b + 4, 16);
	put32(b + 8, id);
	put32(b + 12, vec);
}

/*
 * The regions, one per output section size, made and mapped by the
 * harness once (LLVMFuzzerInitialize) and zeroed for each input: the
 * library gets a new fd of one and maps it itself. New memory for each
 * input cost more than all the rest of a short input (every page
 * allocated, faulted in by the library's initialisation, then freed).
 */
static const uint64_t out_sizes[] = { 0x4000, 0x8000, 0x10000, 0x20000 };

static struct {
	int fd;
	uint8_t *map;
} regions[RTE_DIM(out_sizes)];

static void
regions_init(void)
{
	unsigned int i;

	for (i = 0; i < RTE_DIM(out_sizes); i++) {
		uint64_t len = 4096 + 2 * out_sizes[i];

		regions[i].fd = fzs_region_fd(len);
		if (regions[i].fd < 0)
			fz_fail("region memfd of 0x%llx bytes",
				(unsigned long long)len);
		regions[i].map = mmap(NULL, len, PROT_READ | PROT_WRITE,
			MAP_SHARED, regions[i].fd, 0);
		if (regions[i].map == MAP_FAILED)
			fz_fail("cannot map the region");
	}
}

/* INIT for a 2-peer ivshmem-net region, the peer's eventfds, then ours. */
static int
script_link(struct harness *h, struct fz *f)
{
	uint8_t b[40];
	uint64_t o;
	uint32_t v, who;
	unsigned int r;
	int fd, mfd;

	h->id = fz_u8(f) & 1;
	h->peer = !h->id;
	r = fz_u8(f) % RTE_DIM(out_sizes);
	h->out_size = out_sizes[r];
	h->region = 4096 + 2 * h->out_size;
	if (ivshm_net_layout_calc(h->out_size, &h->lay) != 0)
		fz_fail("layout of 0x%llx", (unsigned long long)h->out_size);
	mfd = fcntl(regions[r].fd, F_DUPFD_CLOEXEC, 0);
	if (mfd < 0)
		return -1;
	h->map = regions[r].map;
	memset(h->map, 0, h->region);
	h->psec = h->map + 4096 + h->peer * h->out_size;
	memset(b, 0, sizeof(b));
	put32(b, IVSHM_MSG_INIT);
	put32(b + 4, 40);
	put32(b + 8, 2);
	put32(b + 12, 2);
	put32(b + 16, h->id);
	put32(b + 20, 2);
	put32(b + 24, 2);
	put32(b + 28, IVSHM_PROTO_NET);
	o = htole64(h->out_size);
	memcpy(b + 32, &o, 8);
	fzs_add(&h->script, b, 40, &mfd, 1);
	for (who = 0; who < 2; who++) {
		uint32_t pid = who == 0 ? h->peer : h->id;

		for (v = 0; v < 2; v++) {
			msg_event_fd(b, pid, v);
			fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			fzs_add(&h->script, b, 16, &fd, fd >= 0);
		}
	}
	h->script.keep_open = true;
	return 0;
}

static volatile uint16_t *
p16(struct harness *h, uint64_t off)
{
	return (volatile uint16_t *)(h->psec + off);
}

static void
set_peer_state(struct harness *h, uint32_t st)
{
	__atomic_store_n((uint32_t *)h->map + h->peer, st, __ATOMIC_SEQ_CST);
}

/* The peer publishes K frames the way a well-behaved sender would,
 * each tagged with a sequence number. */
static void
peer_publish(struct harness *h, struct fz *f)
{
	uint16_t mask = (uint16_t)(h->lay.num - 1);
	unsigned int k = 1 + fz_u8(f) % 8, i;

	for (i = 0; i < k; i++) {
		uint16_t id = h->pavail & mask;
		uint32_t len = 14 + fz_u16(f) % 1600;
		uint64_t room = h->lay.data_size / h->lay.num;
		uint64_t addr = h->lay.data_off + (uint64_t)id * room;
		uint8_t *d = h->psec + h->lay.data_off + (uint64_t)id * room;

		if (len > room)
			len = (uint32_t)room;
		memcpy(d, &h->seq, 4);
		h->seq++;
		if (len > 4)
			fz_bytes(f, d + 4, len - 4 > 16 ? 16 : len - 4);
		*(volatile uint64_t *)(h->psec + 16ull * id) = addr;
		*(volatile uint32_t *)(h->psec + 16ull * id + 8) = len;
		*(volatile uint16_t *)(h->psec + 16ull * id + 12) = 0;
		*(volatile uint16_t *)(h->psec + 16ull * id + 14) = 0;
		*p16(h, h->lay.avail_off + 4 + 2ull * (h->pavail & mask)) = id;
		h->pavail++;
	}
	__atomic_store_n(p16(h, h->lay.avail_off + 2), h->pavail,
		__ATOMIC_RELEASE);
}

/* The peer completes K of our tx frames (ids from the input or in order). */
static void
peer_complete(struct harness *h, struct fz *f)
{
	uint16_t mask = (uint16_t)(h->lay.num - 1);
	unsigned int k = fz_u8(f) % 8, i;
	bool raw = k & 1;

	for (i = 0; i < k; i++) {
		uint64_t e = h->lay.used_off + 4 + 8ull * (h->pused & mask);
		uint32_t id = raw ? fz_u16(f) : (uint32_t)(h->pused & mask);

		*(volatile uint32_t *)(h->psec + e) = id;
		*(volatile uint32_t *)(h->psec + e + 4) = raw ? fz_u8(f) : 1;
		h->pused++;
	}
	__atomic_store_n(p16(h, h->lay.used_off + 2), h->pused,
		__ATOMIC_RELEASE);
}

static void
scribble(struct harness *h, struct fz *f)
{
	uint8_t sel = fz_u8(f);
	uint64_t off;
	uint8_t buf[16];
	size_t n = 1 + sel % 16;

	switch ((sel >> 4) % 4) {
	case 0:	/* descriptors */
		off = fz_u16(f) % (16ull * h->lay.num);
		break;
	case 1:	/* avail ring, index, used_event */
		off = h->lay.avail_off + fz_u16(f) % (2ull * h->lay.num + 6);
		break;
	case 2:	/* used ring, index, avail_event */
		off = h->lay.used_off + fz_u16(f) % (8ull * h->lay.num + 6);
		break;
	default:
		off = fz_u32(f) % h->out_size;
		break;
	}
	if (off + n > h->out_size)
		n = (size_t)(h->out_size - off);
	fz_bytes(f, buf, n);
	memcpy(h->psec + off, buf, n);
	if (sel & 0x80) {	/* the peer's own index moves too */
		h->pavail = *p16(h, h->lay.avail_off + 2);
		h->pused = *p16(h, h->lay.used_off + 2);
	}
}

static void
check_held(struct harness *h)
{
	unsigned int i, j;

	for (i = 0; i < h->nheld; i++) {
		struct rte_mbuf *a = h->held[i];

		if (!RTE_MBUF_HAS_EXTBUF(a))
			continue;
		for (j = i + 1; j < h->nheld; j++) {
			struct rte_mbuf *b = h->held[j];

			if (RTE_MBUF_HAS_EXTBUF(b) && a->shinfo == b->shinfo)
				fz_fail("two zero-copy mbufs held at once share "
					"one ring slot (shinfo %p)",
					(void *)a->shinfo);
		}
	}
}

/* Read every byte of M, as a consumer would: memcpy has ASan check each
 * segment's whole range (a byte loop costs a coverage callback a byte). */
static void
read_all(const struct rte_mbuf *m)
{
	static uint8_t sink[UINT16_MAX];
	const struct rte_mbuf *s;

	for (s = m; s != NULL; s = s->next)
		memcpy(sink, rte_pktmbuf_mtod(s, const uint8_t *), s->data_len);
}

static void
rx(struct harness *h, struct ivshm_net *n, struct fz *f)
{
	struct rte_mbuf *pkts[BURST];
	uint8_t how = fz_u8(f);
	uint16_t got, i;

	got = ivshm_net_rx_burst(n, pkts, how % (BURST + 1));
	FZ_CHECK(got <= how % (BURST + 1));
	for (i = 0; i < got; i++) {
		struct rte_mbuf *m = pkts[i];

		FZ_CHECK(m->pkt_len >= IVSHM_NET_MIN_FRAME &&
			m->pkt_len <= ivshm_net_max_frame(n));
		FZ_CHECK(rte_pktmbuf_pkt_len(m) ==
			(uint32_t)rte_pktmbuf_data_len(m) ||
			m->nb_segs > 1);
		read_all(m);
		if ((how & 0x80) && h->nheld < MAX_HELD)
			h->held[h->nheld++] = m;
		else
			rte_pktmbuf_free(m);
	}
	check_held(h);
}

static void
free_held(struct harness *h, unsigned int k, bool from_end)
{
	while (k-- > 0 && h->nheld > 0) {
		if (from_end) {
			rte_pktmbuf_free(h->held[--h->nheld]);
		} else {
			rte_pktmbuf_free(h->held[0]);
			memmove(h->held, h->held + 1,
				--h->nheld * sizeof(h->held[0]));
		}
	}
}

static void
tx(struct ivshm_net *n, struct fz *f)
{
	struct rte_mbuf *pkts[BURST];
	unsigned int k = fz_u8(f) % (BURST + 1), i, sent;

	for (i = 0; i < k; i++) {
		uint32_t len = fz_u16(f) % 2100;

		pkts[i] = rte_pktmbuf_alloc(mp);
		if (pkts[i] == NULL)
			break;
		if (len > rte_pktmbuf_tailroom(pkts[i]))
			len = rte_pktmbuf_tailroom(pkts[i]);
		memset(rte_pktmbuf_mtod(pkts[i], void *), (int)i, len);
		pkts[i]->data_len = (uint16_t)len;
		pkts[i]->pkt_len = len;
	}
	k = i;
	sent = ivshm_net_tx_burst(n, pkts, (uint16_t)k);
	FZ_CHECK(sent <= k);
	for (i = 0; i < k; i++)
		rte_pktmbuf_free(pkts[i]);
}

/* PEER_GONE for the peer, then (maybe) its eventfds again: a restart. */
static void
peer_restart(struct harness *h, struct fz *f)
{
	uint8_t b[16];
	uint32_t v;

	if (h->script.conn < 0)
		return;
	set_peer_state(h, 0);
	put32(b, IVSHM_MSG_PEER_GONE);
	put32(b + 4, 12);
	put32(b + 8, h->peer);
	if (fzs_send(h->script.conn, b, 12, NULL, 0) != 0)
		return;
	if (fz_u8(f) & 1)
		return;
	for (v = 0; v < 2; v++) {
		int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

		msg_event_fd(b, h->peer, v);
		if (fd >= 0) {
			(void)fzs_send(h->script.conn, b, 16, &fd, 1);
			close(fd);
		}
	}
}

static void
run_ops(struct harness *h, struct ivshm_net *n, struct fz *f)
{
	unsigned int ops = 0;

	while (!fz_empty(f) && ops++ < 256) {
		uint8_t op = fz_u8(f);

		switch (op % 13) {
		case 0:
			set_peer_state(h, (op & 0x80) ? fz_u32(f) :
				fz_u8(f) % 4);
			(void)ivshm_net_ctrl_poll(n);
			break;
		case 1:
			peer_publish(h, f);
			break;
		case 2:
			scribble(h, f);
			break;
		case 3: {	/* the peer's avail index jumps (back or ahead) */
			uint16_t d = fz_u16(f);

			h->pavail = (op & 0x80) ? (uint16_t)(h->pavail - d % 64) :
				d;
			__atomic_store_n(p16(h, h->lay.avail_off + 2), h->pavail,
				__ATOMIC_RELEASE);
			break;
		}
		case 4:
		case 5:
			rx(h, n, f);
			break;
		case 6:
			free_held(h, fz_u8(f) % 16, op & 0x80);
			break;
		case 7:
			tx(n, f);
			break;
		case 8:
			(void)ivshm_net_ctrl_poll(n);
			break;
		case 9:
			peer_complete(h, f);
			(void)ivshm_net_tx_inflight(n);
			break;
		case 10:
			if (op & 0x80)
				ivshm_net_stop(n);
			else
				(void)ivshm_net_start(n);
			break;
		case 11:
			peer_restart(h, f);
			(void)ivshm_net_ctrl_poll(n);
			break;
		default:
			if (op & 0x80) {
				(void)ivshm_net_rx_intr_enable(n);
			} else {
				(void)ivshm_net_rx_intr_disable(n);
			}
			break;
		}
	}
}

/* Bring the link up the way a well-behaved peer would. */
static void
handshake(struct harness *h, struct ivshm_net *n)
{
	static const uint32_t steps[] = { IVSHM_NET_STATE_INIT,
		IVSHM_NET_STATE_READY, IVSHM_NET_STATE_RUN };
	unsigned int i;

	for (i = 0; i < RTE_DIM(steps); i++) {
		set_peer_state(h, steps[i]);
		(void)ivshm_net_ctrl_poll(n);
		(void)ivshm_net_ctrl_poll(n);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct harness h;
	struct fz f = { data, size };
	struct ivshm_net_conf conf;
	struct ivshm_dev *dev = NULL;
	struct ivshm_net *n = NULL;
	struct fz_leaks leaks;
	uint8_t flags;

	fz_leaks_begin(&leaks, FZS_REGION_NAME);
	memset(&h, 0, sizeof(h));
	fzs_init(&h.script);
	flags = fz_u8(&f);
	if (script_link(&h, &f) != 0)
		goto out;
	fzs_serve(&h.script);
	if (ivshm_dev_connect(fzs_path(), 200, &dev) != 0)
		fz_fail("the well-formed handshake was refused");
	fzs_join(&h.script);
	memset(&conf, 0, sizeof(conf));
	conf.zc_budget = (flags & 1) ? 1 + (uint32_t)fz_u8(&f) : 0;
	conf.zc_min_len = fz_u16(&f) % 600;
	conf.socket_id = SOCKET_ID_ANY;
	if (ivshm_net_create(dev, &conf, &n) != 0)
		fz_fail("ivshm_net_create refused a valid device");
	if (ivshm_net_rx_setup(n, mp) != 0)
		fz_fail("ivshm_net_rx_setup");
	(void)ivshm_net_start(n);
	if (flags & 2)
		handshake(&h, n);
	run_ops(&h, n, &f);
	if (getenv("VMLINK_FUZZ_LOG") != NULL) {
		struct ivshm_net_stats st;

		ivshm_net_stats_get(n, &st);
		fprintf(stderr, "rx %" PRIu64 " (zc %" PRIu64 "), tx %" PRIu64
			", resets %" PRIu64 ", held %u\n", st.rx_frames,
			st.rx_zc_frames, st.tx_frames, st.link_resets, h.nheld);
	}
	/* Close with zero-copy mbufs possibly still held: they must stay
	 * valid, and release the mapping when freed last. */
	ivshm_net_close(n);
	ivshm_dev_close(dev);
	if (h.nheld > 0) {
		const struct rte_mbuf *m = h.held[h.nheld - 1];

		(void)rte_pktmbuf_mtod(m, const volatile uint8_t *)[0];
	}
	free_held(&h, MAX_HELD, false);
out:
	fzs_fini(&h.script);
	FZ_CHECK(rte_mempool_avail_count(mp) == POOL_SIZE);
	fz_leaks_end(&leaks);
	return 0;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_eal_init((*argv)[0]);
	(void)argc;
	mp = rte_pktmbuf_pool_create("fz_ivshm", POOL_SIZE, 0, 0,
		RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (mp == NULL)
		fz_fail("mempool");
	regions_init();
	fzs_path();
	return 0;
}
