/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * In-flight tracking (INFLIGHT_SHMFD): the front-end keeps the region
 * GET_INFLIGHT_FD gave it and hands it back with SET_INFLIGHT_FD when
 * the back-end comes back; chains the dead back-end had taken and not
 * returned are processed again, once, before new ones. Hostile messages
 * and regions cost the front-end its request or that queue only.
 *
 * The region layout is written here from the vhost-user specification
 * ("Inflight I/O tracking"), not from the library's header. Split rings:
 * per queue a 16-byte header (u64 features, u16 version, u16 desc_num,
 * u16 last_batch_head, u16 used_idx) then 16-byte entries (u8 inflight,
 * 5 bytes padding, u16 next, u64 counter). Packed rings: a 32-byte header
 * (u64 features, u16 version, u16 desc_num, u16 free_head,
 * u16 old_free_head, u16 used_idx, u16 old_used_idx,
 * u8 used_wrap_counter, u8 old_used_wrap_counter, padding) then 32-byte
 * entries (u8 inflight, u8 padding, u16 next, u16 last, u16 num,
 * u64 counter, u16 id, u16 flags, u32 len, u64 addr). Parts are 64-byte
 * aligned.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vhu_test.h"
#include "vhu_cases.h"

#define BIT(n) (1ull << (n))

/* ---- the region, as the specification lays it out ---- */

/* the format of the bench's rings: t_packed */
static uint64_t
part_bytes(uint32_t qsize)
{
	uint64_t unit = t_packed ? 32 : 16;

	return (unit + unit * qsize + 63) & ~63ull;
}

static uint8_t *
part(uint8_t *base, uint32_t qsize, unsigned int q)
{
	return base + part_bytes(qsize) * q;
}

static uint16_t *
hdr16(uint8_t *p, unsigned int off)	/* 8 version, 10 desc_num, ... */
{
	return (uint16_t *)(void *)(p + off);
}

#define H_VERSION	8
#define H_DESC_NUM	10
#define H_LAST_BATCH	12
#define H_USED_IDX	14
/* packed */
#define P_FREE		12
#define P_OLD_FREE	14
#define P_USED		16
#define P_OLD_USED	18
#define P_WRAP		20	/* u8 */
#define P_OLD_WRAP	21	/* u8 */
#define E_NEXT		2
#define E_LAST		4
#define E_NUM		6
#define E_COUNTER	8
#define E_ID		16

static uint8_t *
ent(uint8_t *p, unsigned int i)
{
	return t_packed ? p + 32 + 32 * i : p + 16 + 16 * i;
}

static uint8_t *
infl_map(struct fe *fe)
{
	void *p = mmap(NULL, fe->inflight.mmap_size, PROT_READ | PROT_WRITE,
		MAP_SHARED, fe->inflight_fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

static unsigned int
infl_count(uint8_t *p, uint32_t qsize)
{
	unsigned int i, n = 0;

	for (i = 0; i < qsize; i++)
		n += *ent(p, i) != 0;
	return n;
}

/* ---- a restart ---- */

/*
 * vmlink goes away and comes back on the same socket: the device is
 * destroyed (what its consumer still held dies with it: freed, never
 * returned to the guest, as a killed process returns nothing) and made
 * again; the front-end reconnects with its memory, rings and in-flight
 * region as they are, and gives each ring's base as QEMU does after
 * losing its back-end: a split ring's used index; for a packed ring the
 * base it had at its last start (it cannot read one from the ring), the
 * start of the ring here.
 */
static int
restart(struct tb *t)
{
	vhu_destroy(t->dev);
	t->dev = NULL;
	fe_disconnect(&t->fe);
	ev_clear();
	TRY(tb_create(t));
	CHECK(fe_connect(&t->fe, t->path) == 0, "reconnect");
	t->o.keep_rings = true;
	t->fe.base_override = t_packed ? 0x8000 : FE_BASE_USED;
	CHECK(fe_start(&t->fe, &t->o) == 0, "handshake after the restart");
	return 0;
}

/* A bench whose guest TX frames of 256 bytes or more are zero-copy (so
 * the application holds them), rings of 64, the front-end asking for an
 * in-flight region before its rings start. */
static int
zc_start(struct tb *t)
{
	tb_init(t);
	t->cfg.zero_copy = true;
	t->cfg.copy_threshold = 256;
	t->cfg.quiesce_timeout_ms = 100;
	t->o.ring_size = 64;
	t->o.inflight = true;
	return tb_start(t);
}

/* Post TX frames of @p len bytes, seeds @p seed .. + @p n - 1; their
 * heads into @p heads if not NULL. */
static int
post(struct tb *t, unsigned int n, uint32_t len, uint32_t seed, int *heads)
{
	uint8_t f[2048];
	unsigned int i;
	int h;

	for (i = 0; i < n; i++) {
		make_frame(f, len, seed + i);
		h = fe_tx_frame(&t->fe, 1, NULL, 12, f, len, 1, false, false);
		CHECK(h >= 0, "post %u", i);
		if (heads != NULL)
			heads[i] = h;
	}
	return 0;
}

/* Dequeue exactly @p n frames of @p len bytes into @p m, checking they
 * are seeds @p seeds[0], [1], ... in that order (NULL: @p seed, + 1, ...). */
static int
take_seeds(struct tb *t, struct rte_mbuf **m, unsigned int n, uint32_t len,
	uint32_t seed, const uint32_t *seeds)
{
	uint8_t f[2048];
	unsigned int got = 0, i, tries = 0;

	while (got < n && tries++ < 100) {
		uint16_t k = vhu_dequeue_burst(t->dev, 0, t_mp, &m[got],
			(uint16_t)RTE_MIN(32u, n - got));

		got += k;
	}
	CHECK(got == n, "dequeued %u of %u frames", got, n);
	for (i = 0; i < n; i++) {
		uint32_t want = seeds != NULL ? seeds[i] : seed + i;

		make_frame(f, len, want);
		CHECK(mbuf_equals(m[i], f, len), "frame %u is not seed %u", i,
			want);
	}
	return 0;
}

static int
take(struct tb *t, struct rte_mbuf **m, unsigned int n, uint32_t len,
	uint32_t seed)
{
	return take_seeds(t, m, n, len, seed, NULL);
}

static void
used_drain(struct fe_vring *v, unsigned int *count)
{
	uint32_t id, len;

	while (fe_used_get(v, &id, &len) == 1)
		(*count)++;
}

/* Does the region's part @p p say the device's used position is where
 * the front-end's ring @p v is? */
static bool
used_pos_kept(uint8_t *p, const struct fe_vring *v)
{
	if (!t_packed)
		return *hdr16(p, H_USED_IDX) == fe_used_idx(v);
	return *hdr16(p, P_USED) == v->pk_used && p[P_WRAP] == v->pk_used_wrap &&
		*hdr16(p, P_OLD_USED) == v->pk_used &&
		p[P_OLD_WRAP] == v->pk_used_wrap;
}

/* Nothing left in flight in either part of the pair-0 bench @p t, and
 * the parts' used positions where the rings are. */
static int
region_clean(struct tb *t, uint8_t *reg, uint32_t qsize)
{
	unsigned int q;

	for (q = 0; q < 2; q++) {
		CHECK(infl_count(part(reg, qsize, q), qsize) == 0,
			"queue %u: entries left in flight", q);
		CHECK(used_pos_kept(part(reg, qsize, q), &t->fe.vq[q]),
			"queue %u: used position not kept", q);
	}
	return 0;
}

/*
 * Zero-copy chains the application held when vmlink went away come back
 * first after the restart, in the order they were taken, then the
 * frames the guest posted meanwhile: every frame once, none lost, none
 * twice; the guest gets every TX buffer back once. The application had
 * returned every fourth frame, so the ring's used index (10) says
 * nothing of which were done: resuming from it would send 10..44 again
 * (done ones twice, held ones before 10 never). On a packed ring the 10
 * used elements were written over the descriptors of held chains: those
 * come back from the region's copies.
 */
static int
restart_held(void)
{
	enum { LEN = 600, N1 = 40, DONE = 10, LATE = 5, N2 = 20 };
	struct rte_mbuf *m[64], *held[N1];
	uint32_t again[N1 - DONE + LATE];
	struct vhu_queue_stats s;
	unsigned int used = 0, i, nh = 0;
	uint8_t *reg;
	struct tb t;

	TRY(zc_start(&t));
	CHECK(t.fe.proto & BIT(VHU_PROTO_F_INFLIGHT_SHMFD),
		"INFLIGHT_SHMFD not offered");
	CHECK(t.fe.inflight.mmap_size == 2 * part_bytes(64) &&
		t.fe.inflight.mmap_offset == 0 &&
		t.fe.inflight.num_queues == 2 && t.fe.inflight.queue_size == 64,
		"GET_INFLIGHT_FD answered %lu bytes", (unsigned long)
		t.fe.inflight.mmap_size);
	reg = infl_map(&t.fe);
	CHECK(reg != NULL, "map the region");
	CHECK(*hdr16(part(reg, 64, 1), H_VERSION) == 1 &&
		*hdr16(part(reg, 64, 1), H_DESC_NUM) == 64, "region header");

	/* 40 frames taken in place; every fourth comes back, 30 are held */
	TRY(post(&t, N1, LEN, 0, NULL));
	TRY(take(&t, m, N1, LEN, 0));
	CHECK(qstats(t.dev, 0, VHU_DEQ).zc_packets == N1, "not zero-copy");
	for (i = 0; i < N1; i++) {
		if (i % 4 == 0) {
			rte_pktmbuf_free(m[i]);
		} else {
			again[nh] = i;
			held[nh++] = m[i];
		}
	}
	(void)vhu_dequeue_burst(t.dev, 0, t_mp, m, 0);
	used_drain(&t.fe.vq[1], &used);
	CHECK(used == DONE, "%u used entries before the restart", used);
	CHECK(infl_count(part(reg, 64, 1), 64) == N1 - DONE,
		"%u chains marked in flight, want %u",
		infl_count(part(reg, 64, 1), 64), N1 - DONE);
	/* the guest posts more while vmlink is gone */
	TRY(post(&t, LATE, LEN, N1, NULL));
	for (i = 0; i < LATE; i++)
		again[nh + i] = N1 + i;
	rte_pktmbuf_free_bulk(held, nh);

	TRY(restart(&t));
	CHECK(ev_wait(VHU_EVENT_LINK_UP, -1, -1, 1, 2000), "no LINK_UP");
	TRY(take_seeds(&t, m, nh + LATE, LEN, 0, again));
	rte_pktmbuf_free_bulk(m, nh + LATE);
	TRY(post(&t, N2, LEN, N1 + LATE, NULL));
	TRY(take(&t, m, N2, LEN, N1 + LATE));
	rte_pktmbuf_free_bulk(m, N2);
	(void)vhu_dequeue_burst(t.dev, 0, t_mp, m, 0);
	used_drain(&t.fe.vq[1], &used);
	CHECK(used == N1 + LATE + N2, "%u used entries for %u frames", used,
		N1 + LATE + N2);
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 4) == 0, "a frame twice");
	s = qstats(t.dev, 0, VHU_DEQ);
	CHECK(s.inflight_resubmitted == N1 - DONE && s.faults == 0 &&
		s.packets == N1 - DONE + LATE + N2,
		"resubmitted %lu, faults %lu, packets %lu",
		(unsigned long)s.inflight_resubmitted, (unsigned long)s.faults,
		(unsigned long)s.packets);
	/* guest RX is tracked too, and nothing stays marked */
	TRY(rx_roundtrip(&t, 0, 300));
	TRY(rx_roundtrip(&t, 0, 1500));
	TRY(region_clean(&t, reg, 64));
	munmap(reg, t.fe.inflight.mmap_size);
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_inflight_restart(void)
{
	return restart_held();
}

int
case_pk_inflight_restart(void)
{
	t_packed = true;
	return restart_held();
}

/*
 * A back-end killed between publishing a batch (used->idx moved) and
 * clearing it in the region: the next start finds used_idx behind and
 * the batch on the last_batch_head list, and does not send those frames
 * again; what was really in flight is.
 */
int
case_inflight_torn_batch(void)
{
	enum { LEN = 600, SMALL = 100 };
	struct rte_mbuf *m[16];
	int heads[8];
	unsigned int used = 0, k;
	uint8_t *reg, *p;
	struct tb t;

	TRY(zc_start(&t));
	reg = infl_map(&t.fe);
	CHECK(reg != NULL, "map the region");
	p = part(reg, 64, 1);
	/* 8 copied frames, done; 2 taken in place and held */
	TRY(post(&t, 8, SMALL, 0, heads));
	TRY(take(&t, m, 8, SMALL, 0));
	rte_pktmbuf_free_bulk(m, 8);
	TRY(post(&t, 2, LEN, 100, NULL));
	TRY(take(&t, m, 2, LEN, 100));
	used_drain(&t.fe.vq[1], &used);
	CHECK(used == 8 && *hdr16(p, H_USED_IDX) == 8, "used %u, used_idx %u",
		used, *hdr16(p, H_USED_IDX));
	/* the last 3 of the 8 as a batch published but not cleared */
	for (k = 5; k < 8; k++) {
		*ent(p, (unsigned int)heads[k]) = 1;
		*hdr16(ent(p, (unsigned int)heads[k]), 6) =
			(uint16_t)(k < 7 ? heads[k + 1] : 0);
	}
	*hdr16(p, H_LAST_BATCH) = (uint16_t)heads[5];
	*hdr16(p, H_USED_IDX) = 5;
	rte_pktmbuf_free_bulk(m, 2);

	TRY(restart(&t));
	TRY(take(&t, m, 2, LEN, 100));
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, &m[2], 4) == 0,
		"a published frame sent again");
	rte_pktmbuf_free_bulk(m, 2);
	(void)vhu_dequeue_burst(t.dev, 0, t_mp, m, 0);
	used_drain(&t.fe.vq[1], &used);
	CHECK(used == 10, "%u used entries for 10 frames", used);
	CHECK(qstats(t.dev, 0, VHU_DEQ).inflight_resubmitted == 2,
		"resubmitted %lu", (unsigned long)
		qstats(t.dev, 0, VHU_DEQ).inflight_resubmitted);
	CHECK(*hdr16(p, H_USED_IDX) == 10 && infl_count(p, 64) == 0,
		"region not repaired");
	TRY(tx_roundtrip(&t, 0, 700));
	munmap(reg, t.fe.inflight.mmap_size);
	tb_destroy(&t);
	return tb_check_fds(&t);
}

/* ---- packed rings: a batch cut short ---- */

/* 8 copied frames done, 2 taken in place and held; *part the guest TX
 * queue's part of the region. */
static int
pk_torn_setup(struct tb *t, uint8_t **reg, uint8_t **p, int *heads,
	struct rte_mbuf **held)
{
	enum { LEN = 600, SMALL = 100 };
	struct rte_mbuf *m[8];
	unsigned int used = 0;

	t_packed = true;
	TRY(zc_start(t));
	*reg = infl_map(&t->fe);
	CHECK(*reg != NULL, "map the region");
	*p = part(*reg, 64, 1);
	TRY(post(t, 8, SMALL, 0, heads));
	TRY(take(t, m, 8, SMALL, 0));
	rte_pktmbuf_free_bulk(m, 8);
	TRY(post(t, 2, LEN, 100, NULL));
	TRY(take(t, held, 2, LEN, 100));
	used_drain(&t->fe.vq[1], &used);
	CHECK(used == 8 && *hdr16(*p, P_USED) == 8 &&
		*hdr16(*p, P_OLD_USED) == 8 && infl_count(*p, 64) == 2,
		"used %u, used_idx %u, %u in flight", used,
		*hdr16(*p, P_USED), infl_count(*p, 64));
	return 0;
}

/* After the restart: the 2 held frames come again, nothing else; 10
 * used elements in all, the region clean. */
static int
pk_torn_check(struct tb *t, uint8_t *reg, uint8_t *p)
{
	struct rte_mbuf *m[8];
	unsigned int used = 0;

	TRY(take(t, m, 2, 600, 100));
	CHECK(vhu_dequeue_burst(t->dev, 0, t_mp, &m[2], 4) == 0,
		"a frame sent again");
	rte_pktmbuf_free_bulk(m, 2);
	(void)vhu_dequeue_burst(t->dev, 0, t_mp, m, 0);
	used_drain(&t->fe.vq[1], &used);
	CHECK(used == 2, "%u used elements after the restart, want 2", used);
	CHECK(qstats(t->dev, 0, VHU_DEQ).inflight_resubmitted == 2,
		"resubmitted %lu", (unsigned long)
		qstats(t->dev, 0, VHU_DEQ).inflight_resubmitted);
	CHECK(used_pos_kept(p, &t->fe.vq[1]) && *hdr16(p, P_USED) == 10 &&
		infl_count(p, 64) == 0, "region not repaired: used_idx %u",
		*hdr16(p, P_USED));
	TRY(tx_roundtrip(t, 0, 700));
	munmap(reg, t->fe.inflight.mmap_size);
	tb_destroy(t);
	return tb_check_fds(t);
}

/*
 * Killed after the used elements of a batch (the last 3 of the 8) were
 * published and their entries put back on the free list, before they
 * were cleared and old_used_idx moved: the element at old_used_idx is
 * used, so the batch is done and not sent again.
 */
static int
pk_torn_published(void)
{
	struct rte_mbuf *held[2];
	uint8_t *reg, *p, *x;
	uint16_t f;
	int heads[8];
	unsigned int k;
	struct tb t;

	TRY(pk_torn_setup(&t, &reg, &p, heads, held));
	f = *hdr16(p, P_FREE);
	for (k = 0; k < 3; k++) {
		CHECK(f < 64, "free list ends after %u entries", k);
		x = ent(p, f);
		x[0] = 1;
		*hdr16(x, E_NUM) = 1;
		*hdr16(x, E_LAST) = f;
		*hdr16(x, E_ID) = (uint16_t)heads[5 + k];
		f = *hdr16(x, E_NEXT);
	}
	*hdr16(p, P_OLD_USED) = 5;
	rte_pktmbuf_free_bulk(held, 2);
	TRY(restart(&t));
	return pk_torn_check(&t, reg, p);
}

/*
 * Killed after a batch returning the 2 held chains put their entries on
 * the free list and moved used_idx, before the used elements' flags were
 * stored: the descriptor at old_used_idx is still the guest's, so the
 * batch is rolled back and both go again.
 */
static int
pk_torn_unpublished(void)
{
	struct rte_mbuf *held[2];
	uint8_t *reg, *p;
	uint16_t e[2];
	unsigned int i, n = 0;
	int heads[8];
	struct tb t;

	TRY(pk_torn_setup(&t, &reg, &p, heads, held));
	for (i = 0; i < 64 && n < 2; i++)
		if (*ent(p, i) == 1)
			e[n++] = (uint16_t)i;
	CHECK(n == 2, "%u entries in flight", n);
	*hdr16(ent(p, e[0]), E_NEXT) = *hdr16(p, P_FREE);
	*hdr16(ent(p, e[1]), E_NEXT) = e[0];
	*hdr16(p, P_FREE) = e[1];
	*hdr16(p, P_USED) = 10;
	rte_pktmbuf_free_bulk(held, 2);
	TRY(restart(&t));
	return pk_torn_check(&t, reg, p);
}

int
case_pk_inflight_torn_batch(void)
{
	TRY(pk_torn_published());
	return pk_torn_unpublished();
}

/* ---- packed rings: many laps (and what the region costs) ---- */

enum { LAP_BURST = 32, LAP_ROUNDS = 32, LAP_RING = 256 };

/* Guest TX frames of @p len bytes, bursts of 32: each checked, freed
 * (a zero-copy one then returned), every used element read back. */
static __rte_always_inline int
laps_tx(struct tb *t, uint32_t len)
{
	struct rte_mbuf *m[LAP_BURST];
	unsigned int r, i, used = 0;
	uint8_t f[1600];

	make_frame(f, len, len);
	for (r = 0; r < LAP_ROUNDS; r++) {
		for (i = 0; i < LAP_BURST; i++)
			CHECK(fe_tx_frame(&t->fe, 1, NULL, 12, f, len, 1, false,
				false) >= 0, "post %u/%u", r, i);
		CHECK(vhu_dequeue_burst(t->dev, 0, t_mp, m, LAP_BURST) ==
			LAP_BURST, "burst %u", r);
		for (i = 0; i < LAP_BURST; i++)
			CHECK(mbuf_equals(m[i], f, len), "frame %u/%u", r, i);
		rte_pktmbuf_free_bulk(m, LAP_BURST);
		(void)vhu_dequeue_burst(t->dev, 0, t_mp, m, 0);
		used_drain(&t->fe.vq[1], &used);
	}
	CHECK(used == LAP_ROUNDS * LAP_BURST, "%u used elements", used);
	return 0;
}

/* One function per phase: callgrind (--separate-callers=1) counts the
 * bursts of each apart. */
static int __attribute__((noinline))
laps_tx_copy(struct tb *t)
{
	return laps_tx(t, 64);
}

static int __attribute__((noinline))
laps_tx_zc(struct tb *t)
{
	return laps_tx(t, 1500);
}

/* Guest RX: 64-byte frames into buffers posted 32 at a time. */
static int __attribute__((noinline))
laps_rx(struct tb *t)
{
	struct rte_mbuf *m[LAP_BURST];
	unsigned int r, i, used = 0;
	uint32_t id, len;
	uint8_t f[64];

	make_frame(f, sizeof(f), 7);
	for (i = 0; i < LAP_BURST; i++)
		m[i] = mk_mbuf(t_mp, f, sizeof(f));
	for (r = 0; r < LAP_ROUNDS; r++) {
		for (i = 0; i < LAP_BURST; i++)
			CHECK(fe_rx_post(&t->fe, 0, 2048, 1, false) >= 0,
				"post %u/%u", r, i);
		CHECK(vhu_enqueue_burst(t->dev, 0, m, LAP_BURST) == LAP_BURST,
			"burst %u", r);
		while (fe_used_get(&t->fe.vq[0], &id, &len) == 1) {
			CHECK(len == 12 + sizeof(f), "used length %u", len);
			used++;
		}
	}
	rte_pktmbuf_free_bulk(m, LAP_BURST);
	CHECK(used == LAP_ROUNDS * LAP_BURST, "%u used elements", used);
	return 0;
}

/*
 * Twelve laps of packed rings of 256, both ways, copied and zero-copy
 * frames (the 64-byte ones copied, the 1500-byte ones in place), with or
 * without an in-flight region: every frame once, and with the region
 * nothing left in flight and its used positions where the rings are.
 */
static int
laps(bool region)
{
	struct vhu_queue_stats s;
	uint8_t *reg;
	struct tb t;

	t_packed = true;
	tb_init(&t);
	t.cfg.zero_copy = true;
	t.cfg.copy_threshold = 256;
	t.o.ring_size = LAP_RING;
	t.o.mem_size = 16ull << 20;
	t.o.inflight = region;
	TRY(tb_start(&t));
	TRY(laps_tx_copy(&t));
	TRY(laps_tx_zc(&t));
	TRY(laps_rx(&t));
	s = qstats(t.dev, 0, VHU_DEQ);
	CHECK(s.zc_packets == LAP_ROUNDS * LAP_BURST && s.faults == 0 &&
		qstats(t.dev, 0, VHU_ENQ).faults == 0, "zc %lu, faults %lu",
		(unsigned long)s.zc_packets, (unsigned long)s.faults);
	if (region) {
		reg = infl_map(&t.fe);
		CHECK(reg != NULL, "map the region");
		TRY(region_clean(&t, reg, LAP_RING));
		munmap(reg, t.fe.inflight.mmap_size);
	}
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_pk_laps(void)
{
	return laps(false);
}

int
case_pk_inflight_laps(void)
{
	return laps(true);
}

/* ---- hostile messages ---- */

/* A GET_INFLIGHT_FD that must be refused: no reply (a refused GET_*
 * gets none), the next request is answered as usual. */
static int
get_refused(struct tb *t, uint16_t nq, uint16_t qsize, uint32_t size)
{
	struct vhu_inflight_desc d = { .num_queues = nq, .queue_size = qsize };
	uint8_t buf[64] = {0};
	uint64_t v;
	uint32_t r = 0;

	memcpy(buf, &d, sizeof(d));
	TRY(fe_send(&t->fe, VHU_REQ_GET_INFLIGHT_FD, VHU_FLAG_VERSION, buf,
		size, NULL, 0));
	TRY(fe_send(&t->fe, VHU_REQ_GET_FEATURES, VHU_FLAG_VERSION, NULL, 0,
		NULL, 0));
	CHECK(fe_recv(&t->fe, &r, NULL, &v, sizeof(v), 3000) == 8 &&
		r == VHU_REQ_GET_FEATURES, "GET_INFLIGHT_FD %u x %u (%u bytes) "
		"answered (request %u)", nq, qsize, size, r);
	return 0;
}

static int
memfd_of(uint64_t size)
{
	int fd = memfd_create("t-inflight", MFD_CLOEXEC);

	if (fd >= 0 && ftruncate(fd, (off_t)size) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* SET_INFLIGHT_FD with @p fd must be refused (non-zero ack). */
static int
set_refused(struct tb *t, uint64_t size, uint64_t off, uint16_t nq,
	uint16_t qsize, int fd, const char *what)
{
	struct vhu_inflight_desc d = { size, off, nq, qsize };

	CHECK(fe_set_inflight(&t->fe, &d, fd) == 1, "%s accepted", what);
	return 0;
}

int
case_inflight_bad_msgs(void)
{
	uint64_t one = part_bytes(256);
	struct vhu_inflight_desc d;
	int fd, sv[2], efd;
	struct tb t;

	tb_init(&t);
	TRY(tb_create(&t));
	CHECK(fe_connect(&t.fe, t.path) == 0, "connect");
	/* before the features: the fe negotiates them in fe_start() */
	TRY(fe_start(&t.fe, &t.o));
	CHECK(t.fe.proto & BIT(VHU_PROTO_F_REPLY_ACK), "REPLY_ACK");

	/* while the rings run, neither is taken */
	TRY(get_refused(&t, 2, 256, sizeof(d)));
	fd = memfd_of(2 * one);
	CHECK(fd >= 0, "memfd");
	TRY(set_refused(&t, 2 * one, 0, 2, 256, fd, "SET while running"));
	TRY(fe_get_vring_base(&t.fe, 0, &(uint32_t){0}));
	TRY(fe_get_vring_base(&t.fe, 1, &(uint32_t){0}));

	/* sizes */
	TRY(get_refused(&t, 0, 256, sizeof(d)));
	TRY(get_refused(&t, 3, 256, sizeof(d)));	/* 2 virtqueues */
	TRY(get_refused(&t, 0xffff, 256, sizeof(d)));
	TRY(get_refused(&t, 2, 0, sizeof(d)));
	TRY(get_refused(&t, 2, 32769, sizeof(d)));
	TRY(get_refused(&t, 2, 0xffff, sizeof(d)));
	TRY(get_refused(&t, 2, 256, 20));
	TRY(get_refused(&t, 2, 256, 32));
	TRY(set_refused(&t, 2 * one - 1, 0, 2, 256, fd, "mmap_size short"));
	TRY(set_refused(&t, 2 * one, 0, 0, 256, fd, "num_queues 0"));
	TRY(set_refused(&t, 2 * one, 0, 2, 40000, fd, "queue_size 40000"));
	TRY(set_refused(&t, UINT64_MAX, 4096, 2, 256, fd, "size overflow"));
	TRY(set_refused(&t, 2 * one, UINT64_MAX - 7, 2, 256, fd,
		"offset overflow"));
	TRY(set_refused(&t, 2 * one, 4, 2, 256, fd, "misaligned offset"));
	/* a file smaller than offset + size */
	TRY(set_refused(&t, 2 * one, 4096, 2, 256, fd, "past the file"));
	CHECK(ftruncate(fd, one) == 0, "truncate");
	TRY(set_refused(&t, 2 * one, 0, 2, 256, fd, "truncated memfd"));
	close(fd);
	/* fds of the wrong kind */
	efd = eventfd(0, EFD_CLOEXEC);
	CHECK(efd >= 0, "eventfd");
	TRY(set_refused(&t, 2 * one, 0, 2, 256, efd, "an eventfd"));
	close(efd);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0,
		"socketpair");
	TRY(set_refused(&t, 2 * one, 0, 2, 256, sv[0], "a socket"));
	close(sv[0]);
	close(sv[1]);
	memset(&d, 0, sizeof(d));
	d.mmap_size = 2 * one;
	d.num_queues = 2;
	d.queue_size = 256;
	CHECK(fe_request(&t.fe, VHU_REQ_SET_INFLIGHT_FD, &d, sizeof(d), NULL,
		0) == 1, "SET_INFLIGHT_FD without an fd accepted");

	/* a good one still works, and the rings with it */
	TRY(fe_get_inflight(&t.fe, 2, 256, &t.fe.inflight, &t.fe.inflight_fd));
	CHECK(t.fe.inflight.mmap_size == 2 * one, "size %lu",
		(unsigned long)t.fe.inflight.mmap_size);
	TRY(fe_set_inflight(&t.fe, &t.fe.inflight, t.fe.inflight_fd));
	t.o.keep_rings = true;
	TRY(fe_vring_start(&t.fe, 0, false, false));
	TRY(fe_vring_start(&t.fe, 1, false, false));
	TRY(fe_request_state(&t.fe, VHU_REQ_SET_VRING_ENABLE, 0, 1));
	TRY(fe_request_state(&t.fe, VHU_REQ_SET_VRING_ENABLE, 1, 1));
	TRY(tx_roundtrip(&t, 0, 200));
	TRY(rx_roundtrip(&t, 0, 200));
	tb_destroy(&t);
	return tb_check_fds(&t);
}

/* ---- hostile regions ---- */

/* A part as a front-end that made the region would write it: nothing in
 * flight (packed: every entry on the free list, wrap counters 1). */
static void
part_init(uint8_t *p, uint16_t qs)
{
	unsigned int i;

	*hdr16(p, H_VERSION) = 1;
	*hdr16(p, H_DESC_NUM) = qs;
	if (!t_packed)
		return;
	p[P_WRAP] = 1;
	p[P_OLD_WRAP] = 1;
	for (i = 0; i < qs; i++)
		*hdr16(ent(p, i), E_NEXT) = (uint16_t)(i + 1);
}

/* Start two queue pairs with the region @p fd (@p qsize entries per part,
 * rings of 64), which the test prepared; the fault is on virtqueue 3
 * (pair 1, guest TX) only. */
static int
bad_region(void (*spoil)(uint8_t *p), const char *what)
{
	enum { QS = 128 };
	uint64_t size = 4 * part_bytes(QS);
	struct vhu_queue_stats s;
	uint32_t val = 999;
	uint8_t *reg;
	struct tb t;
	unsigned int q;

	tb_init(&t);
	t.cfg.max_queue_pairs = 2;
	t.o.nqp = 2;
	t.o.ring_size = 64;
	t.o.inflight = true;
	t.fe.inflight_fd = memfd_of(size);
	CHECK(t.fe.inflight_fd >= 0, "memfd");
	t.fe.inflight = (struct vhu_inflight_desc){ size, 0, 4, QS };
	reg = infl_map(&t.fe);
	CHECK(reg != NULL, "map");
	for (q = 0; q < 4; q++)
		part_init(part(reg, QS, q), QS);
	spoil(part(reg, QS, 3));
	TRY(tb_start(&t));
	CHECK(ev_wait(VHU_EVENT_QUEUE_FAULT, 1, VHU_DEQ, 1, 2000),
		"%s: no QUEUE_FAULT", what);
	CHECK(ev_find(VHU_EVENT_QUEUE_FAULT, 1, VHU_DEQ, &val) &&
		val == VHU_MAL_INFLIGHT, "%s: fault reason %u", what, val);
	s = qstats(t.dev, 1, VHU_DEQ);
	CHECK(s.malformed[VHU_MAL_INFLIGHT] == 1 && malformed_total(&s) == 1 &&
		s.faults == 1 && s.inflight_resubmitted == 0,
		"%s: counted %lu, faults %lu", what,
		(unsigned long)s.malformed[VHU_MAL_INFLIGHT],
		(unsigned long)s.faults);
	CHECK(fe_eventfd_read(t.fe.vq[3].errfd) >= 1, "%s: error eventfd",
		what);
	/* that queue only: its guest's frames stay in its ring */
	{
		uint8_t f[64];
		struct rte_mbuf *m[2];

		make_frame(f, sizeof(f), 1);
		CHECK(fe_tx_frame(&t.fe, 3, NULL, 12, f, sizeof(f), 1, false,
			false) >= 0, "post");
		CHECK(vhu_dequeue_burst(t.dev, 1, t_mp, m, 2) == 0,
			"%s: faulted queue runs", what);
	}
	CHECK(ev_count(VHU_EVENT_LINK_DOWN, -1, -1) == 0, "link went down");
	TRY(tx_roundtrip(&t, 0, 200));
	TRY(rx_roundtrip(&t, 0, 200));
	TRY(rx_roundtrip(&t, 1, 200));
	s = qstats(t.dev, 0, VHU_DEQ);
	CHECK(s.faults == 0, "%s: pair 0 faulted", what);
	munmap(reg, size);
	tb_destroy(&t);
	return tb_check_fds(&t);
}

static void
spoil_entry_outside(uint8_t *p)
{
	*ent(p, 100) = 1;	/* ring of 64, part of 128 */
}

static void
spoil_flag(uint8_t *p)
{
	*ent(p, 3) = 7;
}

static void
spoil_too_many(uint8_t *p)
{
	*ent(p, 3) = 1;		/* the guest made nothing available */
}

static void
spoil_batch_list(uint8_t *p)
{
	*hdr16(p, H_USED_IDX) = 0xfffe;	/* 2 behind the ring's 0 */
	*hdr16(p, H_LAST_BATCH) = 5;
	*hdr16(ent(p, 5), 6) = 200;	/* next outside the ring */
	*ent(p, 5) = 1;
}

static void
spoil_used_far(uint8_t *p)
{
	*hdr16(p, H_USED_IDX) = 1000;
}

static void
spoil_desc_num(uint8_t *p)
{
	*hdr16(p, H_DESC_NUM) = 32;	/* below the ring size */
}

static void
spoil_version(uint8_t *p)
{
	*hdr16(p, H_VERSION) = 2;
}

int
case_inflight_bad_region(void)
{
	TRY(bad_region(spoil_entry_outside, "entry outside the ring"));
	TRY(bad_region(spoil_flag, "inflight flag 7"));
	TRY(bad_region(spoil_too_many, "more in flight than available"));
	TRY(bad_region(spoil_batch_list, "last batch list outside"));
	TRY(bad_region(spoil_used_far, "used_idx a ring away"));
	TRY(bad_region(spoil_desc_num, "desc_num below the ring"));
	TRY(bad_region(spoil_version, "version 2"));
	return 0;
}

/* packed parts: entries 0..9 off the free list, for chains in flight */
static void
pk_chain(uint8_t *p, unsigned int e, uint16_t num, uint16_t last,
	uint16_t id)
{
	*hdr16(p, P_FREE) = 10;
	*hdr16(p, P_OLD_FREE) = 10;
	*ent(p, e) = 1;
	*hdr16(ent(p, e), E_NUM) = num;
	*hdr16(ent(p, e), E_LAST) = last;
	*hdr16(ent(p, last < 128 ? last : e), E_ID) = id;
}

/* The packed spoils of the header and free list, one by one
 * (bad_region() takes a function). */
static const char *const pk_spoils[] = {
	"version 2", "desc_num below the ring", "used_idx outside the ring",
	"old_used_idx outside the ring", "wrap counter 2", "free list loops",
	"inflight flag 7", "chain next outside",
	"more descriptors in flight than the ring",
};
static unsigned int pk_spoil_no;

static void
pk_spoil(uint8_t *p)
{
	switch (pk_spoil_no) {
	case 0:
		*hdr16(p, H_VERSION) = 2;
		break;
	case 1:
		*hdr16(p, H_DESC_NUM) = 32;
		break;
	case 2:
		*hdr16(p, P_USED) = 64;
		*hdr16(p, P_OLD_USED) = 64;
		break;
	case 3:
		*hdr16(p, P_OLD_USED) = 70;
		break;
	case 4:
		p[P_WRAP] = 2;
		p[P_OLD_WRAP] = 2;
		break;
	case 5:
		*hdr16(ent(p, 5), E_NEXT) = 3;
		break;
	case 6:
		pk_chain(p, 3, 1, 3, 3);
		*ent(p, 3) = 7;
		break;
	case 7:
		pk_chain(p, 3, 2, 4, 3);
		*hdr16(ent(p, 3), E_NEXT) = 300;
		break;
	default:
		pk_chain(p, 0, 50, 49, 0);
		pk_chain(p, 50, 30, 79, 1);
		*hdr16(p, P_FREE) = 100;
		*hdr16(p, P_OLD_FREE) = 100;
		break;
	}
}

/* Chains in flight that do not fit: { head entry, num, last, buffer id },
 * a second one when its num is not 0. */
static const struct {
	const char *what;
	uint16_t c[2][4];
} pk_bad_chains[] = {
	{ "chain of 0 descriptors", { { 3, 0, 3, 3 } } },
	{ "chain longer than the ring", { { 0, 65, 64, 0 } } },
	{ "chain's last entry elsewhere", { { 3, 2, 7, 3 } } },	/* 3->4 */
	{ "chain into the free list", { { 8, 3, 10, 8 } } },	/* 10 free */
	{ "two chains, one buffer id", { { 1, 1, 1, 5 }, { 2, 1, 2, 5 } } },
	{ "buffer id outside the ring", { { 1, 1, 1, 64 } } },
};

static void
pk_spoil_chains(uint8_t *p)
{
	unsigned int k;

	for (k = 0; k < 2; k++) {
		const uint16_t *c = pk_bad_chains[pk_spoil_no].c[k];

		if (k == 0 || c[1] != 0)
			pk_chain(p, c[0], c[1], c[2], c[3]);
	}
}

int
case_pk_inflight_bad_region(void)
{
	t_packed = true;
	for (pk_spoil_no = 0; pk_spoil_no < RTE_DIM(pk_spoils); pk_spoil_no++)
		TRY(bad_region(pk_spoil, pk_spoils[pk_spoil_no]));
	for (pk_spoil_no = 0; pk_spoil_no < RTE_DIM(pk_bad_chains);
			pk_spoil_no++)
		TRY(bad_region(pk_spoil_chains,
			pk_bad_chains[pk_spoil_no].what));
	return 0;
}

/*
 * A resubmitted head whose descriptor the guest rewrote into garbage is
 * a malformed chain like any other: counted, that queue stopped.
 */
int
case_inflight_resubmit_fault(void)
{
	enum { LEN = 600 };
	struct rte_mbuf *m[4];
	struct vhu_queue_stats s;
	int heads[2];
	struct tb t;

	TRY(zc_start(&t));
	TRY(post(&t, 2, LEN, 0, heads));
	TRY(take(&t, m, 2, LEN, 0));
	rte_pktmbuf_free_bulk(m, 2);
	t.fe.vq[1].desc[heads[1]].addr = 1ull << 40;	/* outside memory */
	TRY(restart(&t));
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 4) == 1,
		"the good chain before the bad one");
	rte_pktmbuf_free(m[0]);
	CHECK(ev_wait(VHU_EVENT_QUEUE_FAULT, 0, VHU_DEQ, 1, 2000),
		"no QUEUE_FAULT");
	s = qstats(t.dev, 0, VHU_DEQ);
	CHECK(s.malformed[VHU_MAL_ADDR] == 1 && s.faults == 1 &&
		s.inflight_resubmitted == 2, "addr %lu, faults %lu",
		(unsigned long)s.malformed[VHU_MAL_ADDR],
		(unsigned long)s.faults);
	TRY(rx_roundtrip(&t, 0, 200));
	tb_destroy(&t);
	return tb_check_fds(&t);
}

/*
 * The front-end truncates the (unsealed) in-flight file it gave under
 * the back-end's mapping: the next mark faults, the library contains it
 * (as for guest memory) and ends that session only; another device
 * keeps moving frames.
 */
int
case_inflight_region_shrunk(void)
{
	uint64_t size = 2 * part_bytes(256);
	struct rte_mbuf *m[4];
	struct tb a, b;
	uint8_t f[200];

	tb_init(&a);
	a.o.inflight = true;
	a.fe.inflight_fd = memfd_of(size);
	CHECK(a.fe.inflight_fd >= 0, "memfd");
	a.fe.inflight = (struct vhu_inflight_desc){ size, 0, 2, 256 };
	TRY(tb_start(&a));
	tb_init(&b);
	b.fd_base = a.fd_base;
	TRY(tb_start(&b));
	TRY(tx_roundtrip(&a, 0, 300));

	CHECK(ftruncate(a.fe.inflight_fd, 0) == 0, "truncate");
	make_frame(f, sizeof(f), 9);
	CHECK(fe_tx_frame(&a.fe, 1, NULL, 12, f, sizeof(f), 1, false,
		false) >= 0, "post");
	/* the frame is copied; its mark hits the truncated file */
	if (vhu_dequeue_burst(a.dev, 0, t_mp, m, 4) == 1)
		rte_pktmbuf_free(m[0]);
	return only_faulted_session_ends(&a, &b);
}
