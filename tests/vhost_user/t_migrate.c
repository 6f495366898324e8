/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Dirty-log completeness, the way a live migration uses the log. The
 * front-end keeps a copy of guest memory (what the destination has),
 * the back-end moves traffic with VHOST_F_LOG_ALL on, and the front-end
 * syncs as QEMU does: it takes and clears the log bits, then copies the
 * pages they name. After a final sync (the rings stopped), every page
 * of the copy must equal guest memory: a page that differs is one the
 * back-end wrote without logging it, or logged before writing it.
 *
 * Covered: guest RX (frames, virtio-net headers with num_buffers and
 * offload fields, used entries or packed used elements, used->idx),
 * guest TX (used entries), zero-copy chains taken before logging started
 * and given back while it is on, a log replaced by SET_LOG_BASE, ring
 * wrap-around; mergeable buffers on and off; offloads (GSO frames to a
 * guest that takes them, segmented and checksummed for one that does
 * not). The front-end syncs once at the end of each round, and, in the
 * last part, all the time from another CPU while the data path runs.
 */

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <rte_launch.h>
#include <rte_pause.h>
#include <rte_lcore.h>

#include "vhu_test.h"
#include "vhu_cases.h"
#include "../unit/test_frames.h"

#define BIT(n) (1ull << (n))
#define PAGE VHU_LOG_PAGE
#define MIG_RING 32
#define MRG_BUF 1536		/* mergeable: one-buffer chains */
#define BIG_SEG 2304		/* otherwise: two-buffer chains of 4608 */

struct mig {
	struct tb t;
	uint8_t *mem;		/* guest memory (region 0), front-end view */
	uint64_t mem_size;
	uint8_t *copy;		/* the destination's copy */
	uint8_t *before;	/* guest memory when the round began */
	uint8_t *log;
	uint64_t log_size;
	uint64_t log_map;
	int logfd;
	bool mrg;
	bool gso;		/* the guest takes GSO frames */
	uint32_t stop;		/* atomic: the sync worker ends */
	uint32_t hold;		/* atomic: the sync worker waits */
	uint32_t held;		/* atomic: it does */
	struct mig_totals {
		uint64_t rounds;
		uint64_t pages_checked;
		uint64_t pages_changed;
		uint64_t pages_logged;	/* log bits taken */
		uint64_t thread_syncs;	/* syncs from the worker */
	} n;
};

/* Take and clear the log bits; copy the pages they name. Returns how
 * many bits were set. */
static uint64_t
mig_sync(struct mig *g)
{
	uint64_t i, n = 0;

	for (i = 0; i < g->log_size; i++) {
		uint8_t b = __atomic_exchange_n(&g->log[i], 0, __ATOMIC_ACQ_REL);

		while (b != 0) {
			uint64_t page = i * 8 + (uint64_t)__builtin_ctz(b);

			b &= (uint8_t)(b - 1);
			n++;
			if (page < g->mem_size / PAGE)
				memcpy(g->copy + page * PAGE,
					g->mem + page * PAGE, PAGE);
		}
	}
	return n;
}

/*
 * The front-end's syncs on a worker lcore (its own CPU), for the whole of
 * mig_concurrent(): while g->hold is set it waits (g->held says so), so
 * that the front-end can post and check; otherwise it syncs.
 */
static int
mig_sync_lcore(void *arg)
{
	struct mig *g = arg;
	uint64_t n = 0, bits = 0;

	while (!__atomic_load_n(&g->stop, __ATOMIC_ACQUIRE)) {
		if (__atomic_load_n(&g->hold, __ATOMIC_ACQUIRE)) {
			__atomic_store_n(&g->held, 1, __ATOMIC_RELEASE);
			rte_pause();
			continue;
		}
		__atomic_store_n(&g->held, 0, __ATOMIC_RELEASE);
		bits += mig_sync(g);
		n++;
	}
	g->n.thread_syncs += n;
	g->n.pages_logged += bits;
	return 0;
}

/* Hold the worker's syncs (@p on) and wait until it holds; or let it go
 * and wait until it syncs. */
static void
mig_hold(struct mig *g, bool on)
{
	__atomic_store_n(&g->hold, on, __ATOMIC_RELEASE);
	while (__atomic_load_n(&g->held, __ATOMIC_ACQUIRE) != on)
		rte_pause();
}

/* A new log (memfd) given with SET_LOG_BASE; the old one unmapped. */
static int
mig_log_base(struct mig *g)
{
	struct vhu_log_desc ld = { g->mem_size / (PAGE * 8), 0 };
	uint64_t ack = 1;
	uint32_t r = 0;
	int fd;

	if (g->log != NULL) {
		munmap(g->log, g->log_map);
		close(g->logfd);
	}
	g->log_size = ld.mmap_size;
	g->log_map = RTE_ALIGN_CEIL(ld.mmap_size, 4096);
	fd = memfd_create("vhu-mig-log", MFD_CLOEXEC);
	CHECK(fd >= 0 && ftruncate(fd, (off_t)g->log_map) == 0, "log memfd");
	g->logfd = fd;
	g->log = mmap(NULL, g->log_map, PROT_READ | PROT_WRITE, MAP_SHARED,
		fd, 0);
	CHECK(g->log != MAP_FAILED, "mmap log");
	TRY(fe_send(&g->t.fe, VHU_REQ_SET_LOG_BASE, VHU_FLAG_VERSION, &ld,
		sizeof(ld), &fd, 1));
	CHECK(fe_recv(&g->t.fe, &r, NULL, &ack, sizeof(ack), 3000) == 8 &&
		r == VHU_REQ_SET_LOG_BASE && ack == 0, "SET_LOG_BASE reply");
	return 0;
}

/* QEMU's order when a migration starts: the log, LOG_ALL, then each ring
 * with VHOST_VRING_F_LOG and the used ring's guest address. */
static int
mig_log_on(struct mig *g)
{
	unsigned int i;

	TRY(mig_log_base(g));
	TRY(fe_request_u64(&g->t.fe, VHU_REQ_SET_FEATURES,
		g->t.fe.features | BIT(VHU_F_LOG_ALL)));
	for (i = 0; i < 2; i++)
		TRY(fe_vring_addr(&g->t.fe, i, VHU_VRING_F_LOG,
			g->t.fe.vq[i].used_gpa));
	return 0;
}

static int
mig_start(struct mig *g, bool zc, bool mrg, bool gso, uint64_t mem_size)
{
	uint64_t drop = 0;

	memset(g, 0, sizeof(*g));
	g->mrg = mrg;
	g->gso = gso;
	g->logfd = -1;
	tb_init(&g->t);
	if (zc) {
		g->t.cfg.zero_copy = true;
		g->t.cfg.copy_threshold = 0;
	}
	if (!mrg)
		drop |= BIT(VHU_F_NET_MRG_RXBUF);
	if (!gso)
		drop |= BIT(VHU_F_NET_GUEST_TSO4) | BIT(VHU_F_NET_GUEST_TSO6) |
			BIT(VHU_F_NET_GUEST_CSUM);
	g->t.o.features &= ~drop;
	g->t.o.ring_size = MIG_RING;	/* rounds wrap the rings */
	g->t.o.mem_size = mem_size;
	TRY(tb_start(&g->t));
	g->mem_size = g->t.o.mem_size;
	g->mem = fe_va(&g->t.fe, 0);
	CHECK(g->mem != NULL && g->t.fe.nmem == 1, "one region at 0");
	g->copy = malloc(g->mem_size);
	g->before = malloc(g->mem_size);
	CHECK(g->copy != NULL && g->before != NULL, "copies");
	return 0;
}

static void
mig_sum(struct mig_totals *sum, const struct mig *g)
{
	sum->rounds += g->n.rounds;
	sum->pages_checked += g->n.pages_checked;
	sum->pages_changed += g->n.pages_changed;
	sum->pages_logged += g->n.pages_logged;
	sum->thread_syncs += g->n.thread_syncs;
}

static void
mig_stop(struct mig *g)
{
	tb_destroy(&g->t);
	if (g->log != NULL) {
		munmap(g->log, g->log_map);
		close(g->logfd);
	}
	free(g->copy);
	free(g->before);
}

/* The front-end's writes are done (QEMU tracks the guest's own): the
 * copy is up to date, the log clean. */
static void
mig_begin(struct mig *g)
{
	memcpy(g->copy, g->mem, g->mem_size);
	memcpy(g->before, g->mem, g->mem_size);
	memset(g->log, 0, g->log_size);
}

/* Final sync, then every page compared. */
static int
mig_check(struct mig *g, const char *what)
{
	uint64_t p, changed = 0, missed = 0, first = UINT64_MAX;

	g->n.pages_logged += mig_sync(g);
	for (p = 0; p < g->mem_size / PAGE; p++) {
		const uint8_t *live = g->mem + p * PAGE;

		if (memcmp(g->before + p * PAGE, live, PAGE) != 0)
			changed++;
		if (memcmp(g->copy + p * PAGE, live, PAGE) != 0) {
			if (missed++ == 0)
				first = p;
		}
	}
	g->n.rounds++;
	g->n.pages_checked += g->mem_size / PAGE;
	g->n.pages_changed += changed;
	CHECK(missed == 0, "%s (round %" PRIu64 "): %" PRIu64 " page(s) "
		"changed but not logged, the first at guest address %#" PRIx64
		" (rx desc %#" PRIx64 ", used %#" PRIx64 "; tx desc %#" PRIx64
		", used %#" PRIx64 ")", what, g->n.rounds, missed, first * PAGE,
		g->t.fe.vq[0].desc_gpa, g->t.fe.vq[0].used_gpa,
		g->t.fe.vq[1].desc_gpa, g->t.fe.vq[1].used_gpa);
	CHECK(changed > 0, "%s: the round changed no guest page", what);
	return 0;
}

/* ---- traffic ---- */

/* The frames of a round: plain ones of three sizes, then (with offloads)
 * one asking for a TCP checksum and one for TSO. */
static unsigned int
mig_frames(struct mig *g, bool offloads, struct rte_mbuf **m,
	uint32_t *chains)
{
	static const uint32_t plain[] = { 60, 1514, 3000 };
	static uint8_t f[8000];
	unsigned int n = 0, i;
	uint32_t need = 0;

	for (i = 0; i < RTE_DIM(plain); i++) {
		make_frame(f, plain[i], 7 * i + 1);
		m[n++] = mk_mbuf(t_mp, f, plain[i]);
		need += g->mrg ? (plain[i] + 12 + MRG_BUF - 1) / MRG_BUF : 1;
	}
	if (offloads) {
		const struct spec cs = {.payload = 500, .tcp_flags = 0x18};
		const struct spec ts = {.payload = 4000, .tcp_flags = 0x19};
		struct layout l;
		uint32_t len;

		len = build(f, &cs, &l);
		make_partial(f, &l, true);
		m[n] = mk_mbuf(t_mp, f, len);
		m[n]->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM;
		m[n]->l2_len = l.l2;
		m[n]->l3_len = l.l3;
		m[n]->l4_len = l.l4;
		n++;
		need++;
		len = build(f, &ts, &l);
		make_partial(f, &l, false);
		m[n] = mk_mbuf(t_mp, f, len);
		m[n]->ol_flags = RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_IPV4 |
			RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_TCP_CKSUM;
		m[n]->l2_len = l.l2;
		m[n]->l3_len = l.l3;
		m[n]->l4_len = l.l4;
		m[n]->tso_segsz = 1000;
		n++;
		if (g->gso)	/* one frame */
			need += g->mrg ? (len + 12 + MRG_BUF - 1) / MRG_BUF : 1;
		else		/* four segments of one chain each */
			need += 4;
	}
	*chains = need;
	return n;
}

/* Post @p n RX chains and @p ntx TX frames (front-end writes). */
static int
mig_post(struct mig *g, uint32_t n, unsigned int ntx)
{
	static uint8_t f[1500];
	unsigned int i;

	for (i = 0; i < n; i++) {
		int id = g->mrg ? fe_rx_post(&g->t.fe, 0, MRG_BUF, 1, false) :
			fe_rx_post(&g->t.fe, 0, BIG_SEG, 2, i == 1);

		CHECK(id >= 0, "RX post %u", i);
	}
	for (i = 0; i < ntx; i++) {
		make_frame(f, 1000, 40 + i);
		CHECK(fe_tx_frame(&g->t.fe, 1, NULL, 12, f, 1000, 2, i == 0,
			false) >= 0, "TX post %u", i);
	}
	return 0;
}

/* Take back every used entry; there must be @p rx of the RX ring. */
static int
mig_consume(struct mig *g, uint32_t rx)
{
	uint32_t id, len, n = 0;

	while (fe_used_get(&g->t.fe.vq[0], &id, &len) == 1)
		n++;
	while (fe_used_get(&g->t.fe.vq[1], &id, &len) == 1)
		;
	CHECK(n == rx, "%u RX chains used, %u posted (drops %" PRIu64 ")",
		n, rx, qstats(g->t.dev, 0, VHU_ENQ).drops);
	return 0;
}

/* Dequeue whatever the guest sent; the mbufs freed (copies while
 * logging: zero-copy is off). */
static unsigned int
mig_dequeue(struct mig *g)
{
	struct rte_mbuf *m[8];
	uint16_t n = vhu_dequeue_burst(g->t.dev, 0, t_mp, m, RTE_DIM(m));

	rte_pktmbuf_free_bulk(m, n);
	return n;
}

/* One round: the front-end posts, the back-end enqueues and dequeues,
 * the front-end checks the log and takes the used entries back. */
static int
mig_round(struct mig *g, bool offloads, const char *what)
{
	struct rte_mbuf *m[8];
	uint32_t chains;
	uint64_t mark = g->t.fe.alloc_next;
	unsigned int n;

	n = mig_frames(g, offloads, m, &chains);
	TRY(mig_post(g, chains, 2));
	mig_begin(g);
	CHECK(vhu_enqueue_burst(g->t.dev, 0, m, (uint16_t)n) == n, "%s: "
		"enqueue", what);
	rte_pktmbuf_free_bulk(m, n);
	CHECK(mig_dequeue(g) == 2, "%s: dequeue", what);
	TRY(mig_check(g, what));
	TRY(mig_consume(g, chains));
	g->t.fe.alloc_next = mark;	/* the next round reuses the buffers */
	return 0;
}

/* Zero-copy chains taken before logging starts come back while it is on:
 * their used entries are logged. */
static int
mig_zc_handover(struct mig *g)
{
	struct rte_mbuf *held[4];
	static uint8_t f[1500];
	uint16_t n;

	make_frame(f, 1400, 3);
	CHECK(fe_tx_frame(&g->t.fe, 1, NULL, 12, f, 1400, 1, false,
		false) >= 0 && fe_tx_frame(&g->t.fe, 1, NULL, 12, f, 1400, 1,
		false, false) >= 0, "TX post");
	n = vhu_dequeue_burst(g->t.dev, 0, t_mp, held, RTE_DIM(held));
	CHECK(n == 2 && qstats(g->t.dev, 0, VHU_DEQ).zc_packets == 2,
		"zero-copy dequeue: %u", n);
	TRY(mig_log_on(g));
	mig_begin(g);
	rte_pktmbuf_free_bulk(held, n);
	mig_dequeue(g);		/* gives the completed chains back */
	TRY(mig_check(g, "zero-copy chains given back while logging"));
	TRY(mig_consume(g, 0));
	return 0;
}

static const char *
mig_name(bool zc, bool mrg, bool gso)
{
	static char s[96];

	snprintf(s, sizeof(s), "%s rings, %s, mergeable %s, guest offloads %s",
		t_packed ? "packed" : "split", zc ? "zero-copy" : "copy",
		mrg ? "on" : "off", gso ? "on" : "off");
	return s;
}

/* One configuration: rounds with the log, a replaced log, the rings
 * wrapping. */
static int
mig_config(bool zc, bool mrg, bool gso, struct mig_totals *sum)
{
	const char *what = mig_name(zc, mrg, gso);
	struct mig g;
	unsigned int i;
	int rc = -1;

	if (mig_start(&g, zc, mrg, gso, 4ull << 20) != 0)
		goto out;
	if (zc ? mig_zc_handover(&g) != 0 : mig_log_on(&g) != 0)
		goto out;
	for (i = 0; i < 12; i++) {
		/* writes right after SET_LOG_BASE go to the new log */
		if (i == 6 && mig_log_base(&g) != 0)
			goto out;
		if (mig_round(&g, i % 2 == 0, what) != 0)
			goto out;
	}
	rc = 0;
out:
	mig_sum(sum, &g);
	mig_stop(&g);
	CHECK(rc == 0, "%s", what);
	return tb_check_fds(&g.t);
}

/* One round of mig_concurrent(): one small frame, the front-end syncing
 * all through the burst; the round ends with it. */
static int
mig_concurrent_round(struct mig *g, unsigned int i)
{
	uint64_t mark = g->t.fe.alloc_next;
	struct rte_mbuf *m;
	uint8_t f[64];
	uint16_t n;

	make_frame(f, sizeof(f), i);
	m = mk_mbuf(t_mp, f, sizeof(f));
	CHECK(m != NULL, "mbuf");
	CHECK(fe_rx_post(&g->t.fe, 0, MRG_BUF, 1, false) >= 0, "post");
	mig_begin(g);
	mig_hold(g, false);
	n = vhu_enqueue_burst(g->t.dev, 0, &m, 1);
	mig_hold(g, true);
	rte_pktmbuf_free(m);
	CHECK(n == 1, "enqueue");
	TRY(mig_check(g, "syncing while the data path runs"));
	TRY(mig_consume(g, 1));
	g->t.fe.alloc_next = mark;
	return 0;
}

/* The front-end syncs from another CPU while the data path writes: a bit
 * set before its write may be taken and cleared with the page still
 * old, as a migration's iterations may do. */
static int
mig_concurrent(unsigned int rounds, struct mig_totals *sum)
{
	unsigned int lcore = rte_get_next_lcore(-1, 1, 0);
	struct mig g;
	unsigned int i = 0;
	bool launched = false;
	int rc = -1;

	if (mig_start(&g, false, true, true, 2ull << 20) != 0 ||
			mig_log_on(&g) != 0)
		goto out;
	g.hold = 1;
	if (lcore >= RTE_MAX_LCORE ||
			rte_eal_remote_launch(mig_sync_lcore, &g, lcore) != 0) {
		fprintf(stderr, "no worker lcore for the front-end's syncs\n");
		goto out;
	}
	launched = true;
	mig_hold(&g, true);
	for (i = 0; i < rounds; i++)
		if (mig_concurrent_round(&g, i) != 0)
			goto out;
	rc = 0;
out:
	if (launched) {
		__atomic_store_n(&g.stop, 1, __ATOMIC_RELEASE);
		rte_eal_wait_lcore(lcore);
	}
	mig_sum(sum, &g);
	mig_stop(&g);
	CHECK(rc == 0, "concurrent sync: round %u of %u", i + 1, rounds);
	return tb_check_fds(&g.t);
}

int
case_migrate_log_complete(void)
{
	const unsigned int conc_rounds = 500;
	struct mig_totals sum;
	unsigned int c;

	memset(&sum, 0, sizeof(sum));
	for (c = 0; c < 8; c++)
		TRY(mig_config(c & 1, c & 2, c & 4, &sum));
	TRY(mig_concurrent(conc_rounds, &sum));
	printf("dirty log complete (%s rings): %" PRIu64 " rounds, %" PRIu64
		" guest pages compared, %" PRIu64 " changed, %" PRIu64
		" log bits taken (%" PRIu64 " syncs while the data path ran), "
		"0 missed\n", t_packed ? "packed" : "split", sum.rounds,
		sum.pages_checked, sum.pages_changed, sum.pages_logged,
		sum.thread_syncs);
	return 0;
}
