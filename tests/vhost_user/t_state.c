/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device suspend / resume (vhu_suspend(), vhu_resume()) under traffic, and
 * the device state moving from one device to another (DEVICE_STATE).
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vhu_test.h"
#include "vhu_cases.h"

#define SR_LEN(seq)	(60u + (seq) % 190u)

/* A data-path thread dequeuing queue pair 0 as fast as it can, checking
 * every frame is the next one in sequence. */
struct poller {
	struct vhu_dev *dev;
	uint32_t got;		/* atomic: frames dequeued, in order */
	uint32_t bad;		/* atomic: frames out of order or damaged */
	uint32_t empty_bursts;	/* atomic */
	bool stop;		/* atomic */
};

static void *
poll_loop(void *arg)
{
	struct poller *p = arg;
	uint8_t frame[256];
	struct rte_mbuf *m[32];
	uint16_t n, i;

	while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
		n = vhu_dequeue_burst(p->dev, 0, t_mp, m, 32);
		if (n == 0)
			__atomic_fetch_add(&p->empty_bursts, 1,
				__ATOMIC_RELAXED);
		for (i = 0; i < n; i++) {
			uint32_t seq = __atomic_load_n(&p->got,
				__ATOMIC_RELAXED);

			make_frame(frame, SR_LEN(seq), seq);
			if (!mbuf_equals(m[i], frame, SR_LEN(seq)))
				__atomic_fetch_add(&p->bad, 1,
					__ATOMIC_RELAXED);
			rte_pktmbuf_free(m[i]);
			__atomic_store_n(&p->got, seq + 1, __ATOMIC_RELEASE);
		}
	}
	return NULL;
}

static int
post_seq(struct tb *t, uint32_t seq, unsigned int n)
{
	uint8_t frame[256];
	unsigned int i;

	for (i = 0; i < n; i++) {
		make_frame(frame, SR_LEN(seq + i), seq + i);
		CHECK(fe_tx_frame(&t->fe, 1, NULL, 12, frame, SR_LEN(seq + i),
			1, false, false) >= 0, "post %u", seq + i);
	}
	return 0;
}

static bool
wait_got(struct poller *p, uint32_t want, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	while (__atomic_load_n(&p->got, __ATOMIC_ACQUIRE) < want) {
		if (now_ms() > end)
			return false;
		msleep(1);
	}
	return true;
}

/* Zero-copy buffers held by the application when the device is
 * suspended: counted, and returned to the guest (used entries) as they
 * are freed, while the device sleeps. */
static int
suspend_zc_held(struct tb *t, uint32_t *seq)
{
	struct rte_mbuf *m[4];
	uint16_t used0 = fe_used_idx(&t->fe.vq[1]);
	uint64_t end;
	int held;

	TRY(post_seq(t, *seq, 3));
	CHECK(vhu_dequeue_burst(t->dev, 0, t_mp, m, 4) == 3, "3 frames");
	CHECK(RTE_MBUF_HAS_EXTBUF(m[0]), "zero-copy frame");
	held = vhu_suspend(t->dev);
	CHECK(held == 3, "vhu_suspend: %d zero-copy buffers held, expected 3",
		held);
	CHECK(vhu_suspended(t->dev), "not suspended");
	rte_pktmbuf_free_bulk(m, 3);
	end = now_ms() + 2000;
	while (fe_used_idx(&t->fe.vq[1]) != (uint16_t)(used0 + 3) &&
			now_ms() < end)
		msleep(5);
	CHECK(fe_used_idx(&t->fe.vq[1]) == (uint16_t)(used0 + 3),
		"used entries of the held buffers while suspended: %u",
		(uint16_t)(fe_used_idx(&t->fe.vq[1]) - used0));
	ev_clear();
	TRY(vhu_resume(t->dev));
	CHECK(ev_wait(VHU_EVENT_LINK_UP, -1, -1, 1, 2000), "link up again");
	*seq += 3;
	return 0;
}

int
case_suspend_resume(void)
{
	struct vhu_queue_stats s;
	struct poller p = {0};
	struct rte_mbuf *rx;
	uint8_t frame[256];
	pthread_t th;
	uint32_t seq = 10, got_at_suspend;	/* frames of 70+ bytes: zero-copy */
	uint16_t used;
	struct tb t, t2;
	int fd_base;

	tb_init(&t2);
	tb_init(&t);
	fd_base = t2.fd_base;
	t.cfg.zero_copy = true;
	t.cfg.copy_threshold = 64;
	TRY(tb_start(&t));
	TRY(tb_start(&t2));
	CHECK(!vhu_suspended(t.dev), "suspended at start");
	TRY(suspend_zc_held(&t, &seq));

	/* Traffic: the poller takes frames as they come. */
	p.dev = t.dev;
	p.got = seq;
	CHECK(pthread_create(&th, NULL, poll_loop, &p) == 0, "thread");
	TRY(post_seq(&t, seq, 30));
	CHECK(wait_got(&p, seq + 30, 2000), "30 frames before suspension");
	seq += 30;

	/* Suspended while the poller keeps polling: the frames the guest
	 * queues stay in its ring, nothing is consumed. */
	ev_clear();
	CHECK(vhu_suspend(t.dev) >= 0, "suspend");
	got_at_suspend = __atomic_load_n(&p.got, __ATOMIC_ACQUIRE);
	CHECK(got_at_suspend == seq, "%u frames at suspension, %u sent",
		got_at_suspend, seq);
	TRY(post_seq(&t, seq, 40));
	CHECK(ev_wait(VHU_EVENT_LINK_DOWN, -1, -1, 1, 2000), "no LINK_DOWN");
	CHECK(ev_wait(VHU_EVENT_QUEUE_DOWN, -1, -1, 2, 2000), "no QUEUE_DOWN");
	msleep(150);	/* the tick returned the last zero-copy chains */
	used = fe_used_idx(&t.fe.vq[1]);
	CHECK(used == (uint16_t)(seq - 10), "used index %u while suspended, %u taken",
		used, seq - 10);
	msleep(100);
	CHECK(__atomic_load_n(&p.got, __ATOMIC_ACQUIRE) == got_at_suspend,
		"%u frames dequeued while suspended",
		__atomic_load_n(&p.got, __ATOMIC_ACQUIRE) - got_at_suspend);
	CHECK(fe_used_idx(&t.fe.vq[1]) == used, "ring consumed while suspended");
	/* Guest RX: buffers posted stay untouched. */
	CHECK(fe_rx_post(&t.fe, 0, 2048, 1, false) >= 0, "rx post");
	make_frame(frame, 100, 7);
	rx = mk_mbuf(t_mp, frame, 100);
	CHECK(vhu_enqueue_burst(t.dev, 0, &rx, 1) == 0, "enqueue while suspended");
	/* Another device keeps moving frames. */
	TRY(tx_roundtrip(&t2, 0, 300));
	TRY(rx_roundtrip(&t2, 0, 300));

	/* Resumed: exactly the 40 queued frames, in order, then more. */
	ev_clear();
	TRY(vhu_resume(t.dev));
	CHECK(!vhu_suspended(t.dev), "still suspended");
	CHECK(ev_wait(VHU_EVENT_LINK_UP, -1, -1, 1, 2000), "no LINK_UP");
	CHECK(wait_got(&p, seq + 40, 2000), "%u of 40 frames after resume",
		__atomic_load_n(&p.got, __ATOMIC_ACQUIRE) - seq);
	seq += 40;
	TRY(post_seq(&t, seq, 20));
	CHECK(wait_got(&p, seq + 20, 2000), "20 frames after resume");
	seq += 20;
	CHECK(vhu_enqueue_burst(t.dev, 0, &rx, 1) == 1, "enqueue after resume");
	rte_pktmbuf_free(rx);
	__atomic_store_n(&p.stop, true, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	CHECK(p.bad == 0, "%u frames damaged or out of order", p.bad);
	CHECK(p.got == seq, "%u frames dequeued, %u sent", p.got, seq);
	s = qstats(t.dev, 0, VHU_DEQ);
	CHECK(s.packets == seq - 10 && s.faults == 0 && malformed_total(&s) == 0,
		"dequeue counters: %lu frames", (unsigned long)s.packets);
	s = qstats(t.dev, 0, VHU_ENQ);
	CHECK(s.packets == 1 && s.drops == 0, "enqueue counters: %lu, %lu drops",
		(unsigned long)s.packets, (unsigned long)s.drops);
	CHECK(fe_used_idx(&t.fe.vq[1]) == (uint16_t)(seq - 10), "used entries %u",
		fe_used_idx(&t.fe.vq[1]));
	CHECK(vhu_suspend(NULL) == -EINVAL && vhu_resume(NULL) == -EINVAL,
		"NULL device");
	tb_destroy(&t);
	tb_destroy(&t2);
	t2.fd_base = fd_base;
	return tb_check_fds(&t2);
}

/* ---- device state (SET_DEVICE_STATE_FD, CHECK_DEVICE_STATE) ---- */

#define ST_JUNK		(1u << 20)	/* more than any pipe holds */

/* SET_DEVICE_STATE_FD with @p fd: the reply, UINT64_MAX without one. */
static uint64_t
state_fd(struct fe *fe, uint32_t dir, uint32_t phase, int fd)
{
	struct vhu_state_xfer_desc d = { dir, phase };
	uint64_t v;
	uint32_t req;

	if (fe_send(fe, VHU_REQ_SET_DEVICE_STATE_FD, VHU_FLAG_VERSION, &d,
			sizeof(d), &fd, 1) != 0 ||
			fe_recv(fe, &req, NULL, &v, sizeof(v), 3000) !=
				(int)sizeof(v) ||
			req != VHU_REQ_SET_DEVICE_STATE_FD)
		return UINT64_MAX;
	return v;
}

/* CHECK_DEVICE_STATE: 0 success, else the back-end's failure value. */
static uint64_t
state_check(struct fe *fe)
{
	uint64_t v;

	return fe_get_u64(fe, VHU_REQ_CHECK_DEVICE_STATE, &v) == 0 ?
		v : UINT64_MAX;
}

/* Read @p fd to its end (at most @p cap bytes, 3 s); bytes read or -1. */
static ssize_t
read_to_eof(int fd, uint8_t *buf, size_t cap)
{
	uint64_t end = now_ms() + 3000;
	size_t off = 0;

	while (now_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(fd, buf + off, cap - off);
		if (n == 0)
			return (ssize_t)off;
		if (n < 0 || (off += (size_t)n) >= cap)
			return -1;
	}
	return -1;
}

/* Save: the back-end writes into a pipe the front-end reads to its end. */
static int
state_save(struct fe *fe, uint8_t *buf, size_t cap, size_t *len)
{
	ssize_t n;
	int p[2];

	CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe");
	CHECK(state_fd(fe, VHU_STATE_DIR_SAVE, VHU_STATE_PHASE_STOPPED, p[1]) ==
		VHU_STATE_REPLY_NOFD, "SET_DEVICE_STATE_FD save refused");
	close(p[1]);
	n = read_to_eof(p[0], buf, cap);
	close(p[0]);
	CHECK(n > 0, "no state read");
	*len = (size_t)n;
	CHECK(state_check(fe) == 0, "CHECK_DEVICE_STATE after the save");
	return 0;
}

/* Load @p len bytes through a socket pair (any fd that reads like a
 * pipe will do); CHECK_DEVICE_STATE's answer (0: loaded). */
static uint64_t
state_load(struct fe *fe, const void *buf, size_t len)
{
	const uint8_t *b = buf;
	size_t off = 0;
	int sp[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
		return UINT64_MAX;
	if (state_fd(fe, VHU_STATE_DIR_LOAD, VHU_STATE_PHASE_STOPPED, sp[0]) !=
			VHU_STATE_REPLY_NOFD) {
		close(sp[0]);
		close(sp[1]);
		return UINT64_MAX;
	}
	close(sp[0]);
	while (off < len) {	/* a reader that stopped early: EPIPE */
		ssize_t n = send(sp[1], b + off, len - off, MSG_NOSIGNAL);

		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(sp[1]);
	return state_check(fe);
}

static void
mac_of(uint8_t *mac, uint8_t last)
{
	static const uint8_t base[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0 };

	memcpy(mac, base, 6);
	mac[5] = last;
}

static int
set_mac(struct fe *fe, const uint8_t *mac)
{
	struct vhu_config_desc q;

	memset(&q, 0, sizeof(q));
	q.size = 6;
	memcpy(q.region, mac, 6);
	return fe_request(fe, VHU_REQ_SET_CONFIG, &q, VHU_CONFIG_HDR_SIZE + 6,
		NULL, 0);
}

/* The source: frames both ways, a MAC set by SET_CONFIG, 2 zero-copy
 * frames held when the rings stop (orphaned: the used index stays 2
 * behind), 4 more posted and not taken. Rings stopped at avail 5. */
static int
migrate_source(struct tb *src, uint16_t *heads)
{
	struct rte_mbuf *m[8];
	uint8_t mac[6];
	uint32_t base, id, len;
	int i;

	mac_of(mac, 0x55);
	TRY(set_mac(&src->fe, mac));
	for (i = 0; i < 5; i++)
		TRY(rx_roundtrip(src, 0, 100 + (uint32_t)i));
	TRY(post_seq(src, 10, 5));	/* 70+ bytes: zero-copy */
	CHECK(vhu_dequeue_burst(src->dev, 0, t_mp, m, 8) == 5, "5 frames");
	CHECK(RTE_MBUF_HAS_EXTBUF(m[3]), "zero-copy frame");
	rte_pktmbuf_free_bulk(m, 3);
	CHECK(vhu_dequeue_burst(src->dev, 0, t_mp, m + 5, 1) == 0, "empty");
	for (i = 0; i < 3; i++)
		CHECK(fe_used_get(&src->fe.vq[1], &id, &len) == 1, "used %d", i);
	for (i = 0; i < 4; i++) {
		uint8_t frame[256];

		make_frame(frame, SR_LEN(15u + (uint32_t)i), 15u + (uint32_t)i);
		heads[i] = (uint16_t)fe_tx_frame(&src->fe, 1, NULL, 12, frame,
			SR_LEN(15u + (uint32_t)i), 1, false, false);
	}
	/* The front-end stops the device (QEMU: status 0, then the bases);
	 * the 2 held chains outlive quiesce_timeout_ms. */
	TRY(fe_request_u64(&src->fe, VHU_REQ_SET_STATUS, 0));
	TRY(fe_get_vring_base(&src->fe, 0, &base));
	CHECK(base == 5, "rx base %u", base);
	TRY(fe_get_vring_base(&src->fe, 1, &base));
	CHECK(base == 5, "tx base %u", base);
	rte_pktmbuf_free_bulk(m + 3, 2);	/* orphaned: nothing written */
	CHECK(fe_used_idx(&src->fe.vq[1]) == 3, "used index %u",
		fe_used_idx(&src->fe.vq[1]));
	return 0;
}

static int
state_header_ok(const uint8_t *buf, size_t len, const struct fe *fe)
{
	struct vhu_state_hdr h;
	struct vhu_state_vq r;
	uint8_t mac[6];

	mac_of(mac, 0x55);
	CHECK(len == sizeof(h) + 2 * sizeof(r), "state of %zu bytes", len);
	memcpy(&h, buf, sizeof(h));
	CHECK(h.magic == VHU_STATE_MAGIC && h.version == VHU_STATE_VERSION &&
		h.nr_vq == 2 && h.total_size == len && h.features == fe->features &&
		h.proto_features == fe->proto && memcmp(h.mac, mac, 6) == 0,
		"header");
	memcpy(&r, buf + sizeof(h) + sizeof(r), sizeof(r));
	CHECK(r.num == 256 && r.last_avail == 5 && r.last_used == 3 &&
		r.flags == 0, "tx ring record %u %u %u %#x", r.num, r.last_avail,
		r.last_used, r.flags);
	return 0;
}

/*
 * A guest moves from one device to another: the state is saved by the
 * source after its rings stopped and loaded into the destination before
 * they start. The destination continues where the source stopped: the
 * frames the guest had posted come out, and the used index continues from
 * where the source left it (2 chains behind the avail index: with the
 * front-end's base alone the used ring would skip 2 entries); the MAC the
 * guest set is in the destination's config space.
 */
int
case_state_transfer(void)
{
	uint8_t buf[VHU_STATE_MAX_SIZE], mac[6], got_mac[6];
	struct vhu_dev *source;
	struct rte_mbuf *m[8];
	uint16_t heads[4], n;
	uint32_t id, len;
	struct tb t, d;
	size_t slen;
	int fd_base, i;

	tb_init(&d);
	tb_init(&t);
	fd_base = d.fd_base;
	t.cfg.zero_copy = d.cfg.zero_copy = true;
	t.cfg.copy_threshold = d.cfg.copy_threshold = 64;
	TRY(tb_start(&t));
	TRY(tb_create(&d));
	TRY(migrate_source(&t, heads));
	TRY(state_save(&t.fe, buf, sizeof(buf), &slen));
	TRY(state_header_ok(buf, slen, &t.fe));

	/* The front-end moves to the destination with the guest's memory
	 * and rings; the state goes in before the rings start. From here
	 * on t is the front-end and the destination device. */
	fe_disconnect(&t.fe);
	CHECK(fe_connect(&t.fe, d.path) == 0, "connect");
	source = t.dev;
	t.dev = d.dev;
	d.dev = source;
	t.o.keep_rings = true;
	t.fe.base_override = 5;	/* GET_VRING_BASE at the source */
	TRY(fe_handshake(&t.fe, &t.o));
	CHECK(state_load(&t.fe, buf, slen) == 0, "load refused");
	TRY(fe_start_rings(&t.fe, &t.o));
	TRY(fe_request_u64(&t.fe, VHU_REQ_SET_STATUS, 0xf));

	n = vhu_dequeue_burst(t.dev, 0, t_mp, m, 8);
	CHECK(n == 4, "%u frames at the destination, 4 posted", n);
	for (i = 0; i < 4; i++) {
		uint8_t frame[256];

		make_frame(frame, SR_LEN(15u + (uint32_t)i), 15u + (uint32_t)i);
		CHECK(mbuf_equals(m[i], frame, SR_LEN(15u + (uint32_t)i)),
			"frame %d", i);
	}
	rte_pktmbuf_free_bulk(m, n);
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 1) == 0, "more frames");
	CHECK(fe_used_idx(&t.fe.vq[1]) == 7, "used index %u, want 3 + 4",
		fe_used_idx(&t.fe.vq[1]));
	for (i = 0; i < 4; i++) {
		CHECK(fe_used_get(&t.fe.vq[1], &id, &len) == 1, "used %d", i);
		CHECK(id == heads[i], "used entry %d: id %u, head %u", i, id,
			heads[i]);
	}
	mac_of(mac, 0x55);
	CHECK(get_config(&t, 0, 6, 6, got_mac) == 0 &&
		memcmp(got_mac, mac, 6) == 0, "MAC from the source's state");
	t.fe.base_override = -1;
	TRY(rx_roundtrip(&t, 0, 200));
	TRY(tx_roundtrip(&t, 0, 300));
	CHECK(qstats(t.dev, 0, VHU_DEQ).faults == 0 &&
		qstats(t.dev, 0, VHU_ENQ).faults == 0, "faults");
	tb_destroy(&t);
	tb_destroy(&d);
	d.fd_base = fd_base;
	return tb_check_fds(&d);
}

/* A good state for a device of one queue pair the front-end @p fe set
 * up: both rings of 256 entries at index 0. */
static size_t
state_make(const struct fe *fe, uint8_t *buf, uint8_t mac_last)
{
	struct vhu_state_hdr h;
	struct vhu_state_vq r = { 256, 0, 0, 0, 0 };

	memset(&h, 0, sizeof(h));
	h.magic = VHU_STATE_MAGIC;
	h.version = VHU_STATE_VERSION;
	h.hdr_size = sizeof(h);
	h.nr_vq = 2;
	h.vq_size = sizeof(r);
	h.total_size = sizeof(h) + 2 * sizeof(r);
	h.features = fe->features;
	h.proto_features = fe->proto;
	mac_of(h.mac, mac_last);
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), &r, sizeof(r));
	memcpy(buf + sizeof(h) + sizeof(r), &r, sizeof(r));
	return h.total_size;
}

#define ST_HDR(field)	offsetof(struct vhu_state_hdr, field)
#define ST_VQ1(field)	(sizeof(struct vhu_state_hdr) + \
	sizeof(struct vhu_state_vq) + offsetof(struct vhu_state_vq, field))

/* One way to spoil a good state: @p len_delta bytes more or fewer, and
 * @p size bytes of @p value at @p off. */
struct st_bad {
	const char *what;
	int len_delta;
	size_t off;
	unsigned int size;
	uint64_t value;
};

static const struct st_bad st_bad[] = {
	{ "empty", -64, 0, 0, 0 },
	{ "half a header", -40, 0, 0, 0 },
	{ "a record short", -8, 0, 0, 0 },
	{ "a byte more", 1, 0, 0, 0 },
	{ "magic", 0, ST_HDR(magic), 4, 0x12345678 },
	{ "version 2", 0, ST_HDR(version), 2, 2 },
	{ "header size", 0, ST_HDR(hdr_size), 2, 56 },
	{ "record size", 0, ST_HDR(vq_size), 2, 16 },
	{ "no queue", 0, ST_HDR(nr_vq), 2, 0 },
	{ "total size", 0, ST_HDR(total_size), 4, 72 },
	{ "odd queue count", 0, ST_HDR(nr_vq), 2, 1 },
	{ "queue count past the records", 0, ST_HDR(nr_vq), 2, 4 },
	{ "features not offered", 0, ST_HDR(features) + 7, 1, 0x80 },
	{ "protocol features not offered", 0, ST_HDR(proto_features) + 7, 1,
		0x80 },
	{ "reserved header byte", 0, ST_HDR(reserved) + 3, 1, 1 },
	{ "ring size 100", 0, ST_VQ1(num), 2, 100 },
	{ "packed record, split features", 0, ST_VQ1(flags), 1,
		VHU_STATE_VQ_PACKED },
	{ "wrap counter on a split ring", 0, ST_VQ1(flags), 1,
		VHU_STATE_VQ_USED_WRAP },
	{ "unknown record flag", 0, ST_VQ1(flags), 1, 0x80 },
	{ "reserved record byte", 0, ST_VQ1(reserved), 1, 1 },
	{ "used more than a ring behind", 0, ST_VQ1(last_used), 2, 0xfe00 },
	{ "indices of a ring never set up", 0, ST_VQ1(num), 4, 5u << 16 },
};

/* Every spoilt state is refused (CHECK_DEVICE_STATE says so) and
 * changes nothing: the MAC stays, the next good state loads. */
static int
load_hostile(struct tb *t)
{
	uint8_t good[VHU_STATE_MAX_SIZE], bad[VHU_STATE_MAX_SIZE + 64];
	uint8_t mac[6], got[6];
	size_t glen = state_make(&t->fe, good, 0x66), i;

	for (i = 0; i < RTE_DIM(st_bad); i++) {
		const struct st_bad *b = &st_bad[i];
		size_t len = (size_t)((int)glen + b->len_delta);

		if (b->len_delta < -(int)glen)
			len = 0;
		memset(bad, 0xa5, sizeof(bad));
		memcpy(bad, good, RTE_MIN(glen, len));
		memcpy(bad + b->off, &b->value, b->size);
		CHECK(state_load(&t->fe, bad, len) == 1, "%s: loaded", b->what);
		CHECK(get_config(t, 0, 6, 6, got) == 0 &&
			memcmp(got, t->cfg.mac, 6) == 0,
			"%s: the MAC changed", b->what);
	}
	/* Two queue pairs for a device of one. */
	{
		struct vhu_state_hdr h;

		memcpy(bad, good, glen);
		memcpy(bad + glen, good + sizeof(h), glen - sizeof(h));
		memcpy(&h, bad, sizeof(h));
		h.nr_vq = 4;
		h.total_size = (uint32_t)(2 * glen - sizeof(h));
		memcpy(bad, &h, sizeof(h));
		CHECK(state_load(&t->fe, bad, h.total_size) == 1,
			"2 queue pairs loaded into a device of 1");
	}
	/* Junk larger than any state: read no further than that. */
	{
		static uint8_t junk[64 << 10];

		memset(junk, 0x5a, sizeof(junk));
		CHECK(state_load(&t->fe, junk, sizeof(junk)) == 1, "64 KiB");
	}
	CHECK(state_load(&t->fe, good, glen) == 0, "good state refused");
	mac_of(mac, 0x66);
	CHECK(get_config(t, 0, 6, 6, got) == 0 && memcmp(got, mac, 6) == 0,
		"MAC of the state");
	return 0;
}

/* Requests that cannot start a transfer get an error reply, no fd. */
static int
set_fd_refused(struct tb *t)
{
	int p[2];

	CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe");
	CHECK(state_fd(&t->fe, 2, VHU_STATE_PHASE_STOPPED, p[0]) ==
		(VHU_STATE_REPLY_NOFD | 1), "direction 2");
	CHECK(state_fd(&t->fe, VHU_STATE_DIR_LOAD, 1, p[0]) ==
		(VHU_STATE_REPLY_NOFD | 1), "phase 1");
	CHECK(state_check(&t->fe) == 1, "CHECK without a transfer");
	/* The load's writer has not closed its end: CHECK fails. */
	CHECK(state_fd(&t->fe, VHU_STATE_DIR_LOAD, VHU_STATE_PHASE_STOPPED,
		p[0]) == VHU_STATE_REPLY_NOFD, "load");
	CHECK(write(p[1], "VMLS", 4) == 4, "write");
	CHECK(state_check(&t->fe) == 1, "CHECK before the end of the state");
	close(p[0]);
	close(p[1]);
	return 0;
}

/*
 * A hostile or confused front-end: every malformed state (truncated,
 * oversized, wrong version, sizes or queue count, features this device
 * does not offer, bad ring records) is refused, reported by
 * CHECK_DEVICE_STATE and leaves the device as it was; requests that
 * cannot start a transfer (running rings, unknown direction or phase)
 * get an error reply; no fd stays behind. The last good state loads and
 * traffic flows.
 */
int
case_state_hostile(void)
{
	struct tb t;
	int p[2];

	tb_init(&t);
	mac_of(t.cfg.mac, 0x01);
	TRY(tb_create(&t));
	CHECK(fe_connect(&t.fe, t.path) == 0, "connect");
	TRY(fe_handshake(&t.fe, &t.o));
	TRY(set_fd_refused(&t));
	TRY(load_hostile(&t));
	TRY(fe_start_rings(&t.fe, &t.o));
	TRY(rx_roundtrip(&t, 0, 500));
	TRY(tx_roundtrip(&t, 0, 500));
	/* Running rings: no transfer. */
	CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe");
	CHECK(state_fd(&t.fe, VHU_STATE_DIR_SAVE, VHU_STATE_PHASE_STOPPED,
		p[1]) == (VHU_STATE_REPLY_NOFD | 1), "save with rings running");
	close(p[0]);
	close(p[1]);
	TRY(tx_roundtrip(&t, 0, 100));
	tb_destroy(&t);
	return tb_check_fds(&t);
}

/* A pipe already full: the back-end's first write finds no room. */
static int
full_pipe(int p[2])
{
	static uint8_t junk[4096];
	ssize_t n;

	CHECK(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0, "pipe");
	while ((n = write(p[1], junk, sizeof(junk))) > 0)
		;
	CHECK(n < 0 && errno == EAGAIN, "filling the pipe");
	return 0;
}

/* GET_FEATURES answered within @p ms: the control thread is not stuck. */
static int
answers_within(struct tb *t, unsigned int ms)
{
	uint64_t t0 = now_ms(), v;

	TRY(fe_get_u64(&t->fe, VHU_REQ_GET_FEATURES, &v));
	CHECK(now_ms() - t0 < ms, "GET_FEATURES took %lu ms",
		(unsigned long)(now_ms() - t0));
	return 0;
}

/* Save into a pipe the front-end drains late: the control thread goes on
 * meanwhile, and the reader gets the junk it put first, then the state. */
static int
save_slow_reader(struct tb *t)
{
	static uint8_t buf[ST_JUNK];
	struct vhu_state_hdr h;
	ssize_t n;
	size_t pipe_bytes;
	int p[2];

	TRY(full_pipe(p));
	pipe_bytes = (size_t)fcntl(p[1], F_GETPIPE_SZ);
	CHECK(state_fd(&t->fe, VHU_STATE_DIR_SAVE, VHU_STATE_PHASE_STOPPED,
		p[1]) == VHU_STATE_REPLY_NOFD, "save");
	close(p[1]);
	msleep(200);
	TRY(answers_within(t, 100));
	CHECK(fcntl(p[0], F_SETFL, 0) == 0, "blocking");
	n = read_to_eof(p[0], buf, sizeof(buf));
	close(p[0]);
	CHECK(n == (ssize_t)(pipe_bytes + sizeof(h) + 256 * 8),
		"%zd bytes read, %zu of junk", n, pipe_bytes);
	memcpy(&h, buf + pipe_bytes, sizeof(h));
	CHECK(h.magic == VHU_STATE_MAGIC && h.nr_vq == 256, "state header");
	CHECK(state_check(&t->fe) == 0, "CHECK after the slow save");
	return 0;
}

/* The reader goes away with the state half written, or the front-end
 * checks too early, or leaves: the transfer fails, nothing blocks, no
 * SIGPIPE, the fd is closed. */
static int
save_reader_gone(struct tb *t)
{
	int p[2];

	TRY(full_pipe(p));
	CHECK(state_fd(&t->fe, VHU_STATE_DIR_SAVE, VHU_STATE_PHASE_STOPPED,
		p[1]) == VHU_STATE_REPLY_NOFD, "save");
	close(p[1]);
	close(p[0]);
	TRY(answers_within(t, 100));
	CHECK(state_check(&t->fe) == 1, "CHECK after the reader left");

	TRY(full_pipe(p));
	CHECK(state_fd(&t->fe, VHU_STATE_DIR_SAVE, VHU_STATE_PHASE_STOPPED,
		p[1]) == VHU_STATE_REPLY_NOFD, "save");
	close(p[1]);
	CHECK(state_check(&t->fe) == 1, "CHECK before the reader read");
	CHECK(fcntl(p[0], F_SETFL, 0) == 0, "blocking");
	{
		static uint8_t buf[ST_JUNK];

		CHECK(read_to_eof(p[0], buf, sizeof(buf)) > 0,
			"the back-end's end closed");
	}
	close(p[0]);
	return 0;
}

/* Load from a writer that pauses half-way: other requests are answered
 * meanwhile, the state loads when it is complete. */
static int
load_slow_writer(struct tb *t)
{
	uint8_t buf[VHU_STATE_MAX_SIZE];
	struct vhu_state_hdr h;
	size_t len;
	int p[2];

	memset(buf, 0, sizeof(buf));
	len = state_make(&t->fe, buf, 0x77);
	memcpy(&h, buf, sizeof(h));
	h.nr_vq = 256;		/* the whole device, rings never set up */
	h.total_size = (uint32_t)(sizeof(h) + 256 * 8);
	memcpy(buf, &h, sizeof(h));
	len = h.total_size;
	CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe");
	CHECK(state_fd(&t->fe, VHU_STATE_DIR_LOAD, VHU_STATE_PHASE_STOPPED,
		p[0]) == VHU_STATE_REPLY_NOFD, "load");
	close(p[0]);
	CHECK(write(p[1], buf, 1000) == 1000, "first part");
	msleep(200);
	TRY(answers_within(t, 100));
	CHECK(write(p[1], buf + 1000, len - 1000) == (ssize_t)(len - 1000),
		"rest");
	close(p[1]);
	CHECK(state_check(&t->fe) == 0, "slow load refused");
	return 0;
}

/*
 * The transfer never blocks the control thread: a save into a pipe its
 * reader drains late (the state of 128 queue pairs behind a full pipe),
 * a reader that leaves or a front-end that checks too early, a load
 * whose writer pauses; and a transfer left running ends with the
 * session. No fd stays behind.
 */
int
case_state_slow_peer(void)
{
	struct tb t;
	int p[2];

	tb_init(&t);
	t.cfg.max_queue_pairs = 128;
	TRY(tb_create(&t));
	CHECK(fe_connect(&t.fe, t.path) == 0, "connect");
	TRY(fe_handshake(&t.fe, &t.o));
	TRY(save_slow_reader(&t));
	TRY(save_reader_gone(&t));
	TRY(load_slow_writer(&t));
	/* Left running at the end of the session. */
	TRY(full_pipe(p));
	CHECK(state_fd(&t.fe, VHU_STATE_DIR_SAVE, VHU_STATE_PHASE_STOPPED,
		p[1]) == VHU_STATE_REPLY_NOFD, "save");
	close(p[1]);
	fe_disconnect(&t.fe);
	CHECK(ev_wait(VHU_EVENT_DISCONNECTED, -1, -1, 1, 2000), "disconnect");
	CHECK(fcntl(p[0], F_SETFL, 0) == 0, "blocking");
	{
		static uint8_t buf[ST_JUNK];

		CHECK(read_to_eof(p[0], buf, sizeof(buf)) > 0,
			"the back-end's end closed at disconnect");
	}
	close(p[0]);
	tb_destroy(&t);
	return tb_check_fds(&t);
}
