/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device lifecycle: virtio status (SET_STATUS / GET_STATUS), RESET_DEVICE
 * and the virtio-net config space (GET_CONFIG / SET_CONFIG), with frames
 * queued in the rings while the device stops and starts.
 */

#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vhu_test.h"
#include "vhu_cases.h"

#define BIT(n) (1ull << (n))
#define ST_UP	(VHU_STATUS_ACKNOWLEDGE | VHU_STATUS_DRIVER | \
		 VHU_STATUS_FEATURES_OK | VHU_STATUS_DRIVER_OK)

static int
get_status(struct tb *t, uint64_t *v)
{
	return fe_get_u64(&t->fe, VHU_REQ_GET_STATUS, v);
}

/* Set a stopped ring up again from @p base, enabled, as QEMU does after a
 * device reset. */
static int
ring_restart(struct tb *t, unsigned int idx, uint32_t base)
{
	struct fe_vring *v = &t->fe.vq[idx];
	uint64_t u = idx;

	TRY(fe_request_state(&t->fe, VHU_REQ_SET_VRING_NUM, idx, v->size));
	TRY(fe_request_state(&t->fe, VHU_REQ_SET_VRING_BASE, idx, base));
	TRY(fe_vring_addr(&t->fe, idx, 0, 0));
	close(v->callfd);
	v->callfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	TRY(fe_request(&t->fe, VHU_REQ_SET_VRING_CALL, &u, sizeof(u),
		&v->callfd, 1));
	close(v->kickfd);
	v->kickfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	TRY(fe_request(&t->fe, VHU_REQ_SET_VRING_KICK, &u, sizeof(u),
		&v->kickfd, 1));
	TRY(fe_request_state(&t->fe, VHU_REQ_SET_VRING_ENABLE, idx, 1));
	return 0;
}

/* Post @p n TX frames numbered from @p seq on queue pair 0. */
static int
post_frames(struct tb *t, uint32_t seq, unsigned int n)
{
	uint8_t frame[256];
	unsigned int i;

	for (i = 0; i < n; i++) {
		make_frame(frame, 60 + (seq + i) % 190, seq + i);
		CHECK(fe_tx_frame(&t->fe, 1, NULL, 12, frame,
			60 + (seq + i) % 190, 1, false, false) >= 0, "post");
	}
	return 0;
}

/* Dequeue up to @p max frames, checking they are @p *seq, @p *seq + 1... */
static int
take_frames(struct tb *t, uint32_t *seq, unsigned int max, unsigned int *got)
{
	uint8_t frame[256];
	struct rte_mbuf *m[32];
	uint32_t id, len;
	uint16_t n, i;

	*got = 0;
	while (*got < max) {
		n = vhu_dequeue_burst(t->dev, 0, t_mp, m,
			(uint16_t)RTE_MIN(32u, max - *got));
		if (n == 0)
			break;
		for (i = 0; i < n; i++) {
			len = 60 + *seq % 190;
			make_frame(frame, len, *seq);
			CHECK(mbuf_equals(m[i], frame, len), "frame %u", *seq);
			rte_pktmbuf_free(m[i]);
			(*seq)++;
		}
		*got += n;
	}
	/* Consume the used entries, so later round trips find theirs. */
	while (fe_used_get(&t->fe.vq[1], &id, &len) == 1)
		;
	return 0;
}

/* A started bench that negotiated protocol feature @p bit. */
static int
start_with(struct tb *t, unsigned int bit)
{
	tb_init(t);
	TRY(tb_start(t));
	CHECK(t->fe.proto & BIT(bit), "protocol feature %u not negotiated",
		bit);
	return 0;
}

int
case_status_driver_ok(void)
{
	struct vhu_queue_stats s;
	struct rte_mbuf *m[4];
	uint32_t seq = 0, base = 0;
	unsigned int got;
	uint64_t v;
	struct tb t;

	TRY(start_with(&t, VHU_PROTO_F_STATUS));
	/* Until the front-end drives the status, nothing is gated. */
	TRY(tx_roundtrip(&t, 0, 100));
	base = 1;
	CHECK(fe_request_u64(&t.fe, VHU_REQ_SET_STATUS, ST_UP) == 0, "status");
	TRY(get_status(&t, &v));
	CHECK(v == ST_UP, "GET_STATUS %#lx", (unsigned long)v);

	/* DRIVER_OK cleared: the rings keep their state but do not run. */
	ev_clear();
	CHECK(fe_request_u64(&t.fe, VHU_REQ_SET_STATUS,
		ST_UP & ~VHU_STATUS_DRIVER_OK) == 0, "status without DRIVER_OK");
	CHECK(ev_wait(VHU_EVENT_LINK_DOWN, -1, -1, 1, 2000), "no LINK_DOWN");
	TRY(post_frames(&t, seq, 5));
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 4) == 0,
		"dequeue ran without DRIVER_OK");
	ev_clear();
	CHECK(fe_request_u64(&t.fe, VHU_REQ_SET_STATUS, ST_UP) == 0, "DRIVER_OK");
	CHECK(ev_wait(VHU_EVENT_LINK_UP, -1, -1, 1, 2000), "no LINK_UP");
	TRY(take_frames(&t, &seq, 100, &got));
	CHECK(got == 5, "%u frames after DRIVER_OK, expected 5", got);
	base += 5;

	/* Status 0 resets while frames are queued: the ring stops where the
	 * back-end was, GET_VRING_BASE (sent after status 0, as QEMU does)
	 * says where, and the rest come out after the restart. */
	TRY(post_frames(&t, seq, 40));
	TRY(take_frames(&t, &seq, 16, &got));
	CHECK(got == 16, "%u of the first 16", got);
	base += 16;
	ev_clear();
	CHECK(fe_request_u64(&t.fe, VHU_REQ_SET_STATUS, 0) == 0, "status 0");
	CHECK(ev_wait(VHU_EVENT_QUEUE_DOWN, -1, -1, 2, 2000), "QUEUE_DOWN");
	CHECK(ev_count(VHU_EVENT_LINK_DOWN, -1, -1) == 1, "LINK_DOWN");
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 4) == 0, "ring runs at 0");
	TRY(get_status(&t, &v));
	CHECK(v == 0, "GET_STATUS after reset %#lx", (unsigned long)v);
	{
		uint32_t b0, b1;

		TRY(fe_get_vring_base(&t.fe, 1, &b1));
		TRY(fe_get_vring_base(&t.fe, 0, &b0));
		CHECK(b1 == t_vring_base(&t.fe.vq[1], base, base),
			"TX base %#x, expected %u chains", b1, base);
		CHECK(b0 == t_vring_base(&t.fe.vq[0], 0, 0), "RX base %#x", b0);
		TRY(ring_restart(&t, 0, b0));
		TRY(ring_restart(&t, 1, b1));
	}
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 4) == 0,
		"ring ran before DRIVER_OK");
	CHECK(fe_request_u64(&t.fe, VHU_REQ_SET_STATUS, VHU_STATUS_ACKNOWLEDGE |
		VHU_STATUS_DRIVER | VHU_STATUS_FEATURES_OK) == 0, "status 0x0b");
	CHECK(fe_request_u64(&t.fe, VHU_REQ_SET_STATUS, ST_UP) == 0, "DRIVER_OK");
	TRY(take_frames(&t, &seq, 100, &got));
	CHECK(got == 24, "%u frames after the restart, expected 24", got);
	s = qstats(t.dev, 0, VHU_DEQ);
	CHECK(s.packets == 1 + 5 + 40 && malformed_total(&s) == 0 &&
		s.faults == 0, "counters: %lu frames", (unsigned long)s.packets);
	CHECK(t_packed ? fe_pk_base(&t.fe.vq[1]) >> 16 ==
		t_vring_base(&t.fe.vq[1], 0, 1 + 5 + 40) >> 16 :
		fe_used_idx(&t.fe.vq[1]) == 1 + 5 + 40, "used entries");
	TRY(rx_roundtrip(&t, 0, 1514));

	/* FAILED stops the rings as well; a status that does not fit a byte
	 * is refused and changes nothing. */
	CHECK(fe_request_u64(&t.fe, VHU_REQ_SET_STATUS,
		ST_UP | VHU_STATUS_FAILED) == 0, "FAILED");
	TRY(post_frames(&t, seq, 1));
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 4) == 0, "ran with FAILED");
	CHECK(fe_request_u64(&t.fe, VHU_REQ_SET_STATUS, 0x104) == 1, "0x104");
	TRY(get_status(&t, &v));
	CHECK(v == (ST_UP | VHU_STATUS_FAILED), "status %#lx", (unsigned long)v);
	CHECK(fe_request_u64(&t.fe, VHU_REQ_SET_STATUS, ST_UP) == 0, "up");
	TRY(take_frames(&t, &seq, 100, &got));
	CHECK(got == 1, "%u frames after FAILED cleared", got);
	tb_destroy(&t);
	return tb_check_fds(&t);
}

int
case_reset_device(void)
{
	struct rte_mbuf *m[4];
	uint32_t seq = 0;
	unsigned int got;
	uint64_t v;
	struct tb t;

	TRY(start_with(&t, VHU_PROTO_F_RESET_DEVICE));
	CHECK(fe_request_u64(&t.fe, VHU_REQ_SET_STATUS, ST_UP) == 0, "status");
	TRY(tx_roundtrip(&t, 0, 200));
	TRY(rx_roundtrip(&t, 0, 200));
	ev_clear();
	CHECK(fe_request(&t.fe, VHU_REQ_RESET_DEVICE, NULL, 0, NULL, 0) == 0,
		"RESET_DEVICE");
	CHECK(ev_wait(VHU_EVENT_LINK_DOWN, -1, -1, 1, 2000), "no LINK_DOWN");
	CHECK(ev_count(VHU_EVENT_QUEUE_DOWN, -1, -1) == 2, "QUEUE_DOWN");
	CHECK(vhu_negotiated_features(t.dev) == 0, "features survived");
	CHECK(vhu_connected(t.dev) && vhu_mem_regions(t.dev) == 1,
		"session or memory table lost");
	TRY(get_status(&t, &v));
	CHECK(v == 0, "status %#lx", (unsigned long)v);
	/* Frames queued across the reset are not taken. */
	TRY(post_frames(&t, seq, 3));
	CHECK(vhu_dequeue_burst(t.dev, 0, t_mp, m, 4) == 0, "ring survived");
	/* FEATURES_OK before SET_FEATURES: the device refuses it. */
	CHECK(fe_request_u64(&t.fe, VHU_REQ_SET_STATUS, VHU_STATUS_ACKNOWLEDGE |
		VHU_STATUS_DRIVER | VHU_STATUS_FEATURES_OK) == 0, "status");
	TRY(get_status(&t, &v));
	CHECK(v == (VHU_STATUS_ACKNOWLEDGE | VHU_STATUS_DRIVER),
		"FEATURES_OK kept without features: %#lx", (unsigned long)v);
	/* Set up again, the front-end's way: features, rings, DRIVER_OK.
	 * The 3 queued frames are where the ring restarts (base 1). */
	TRY(fe_request_u64(&t.fe, VHU_REQ_SET_FEATURES, t.fe.features));
	CHECK(fe_request_u64(&t.fe, VHU_REQ_SET_STATUS, VHU_STATUS_ACKNOWLEDGE |
		VHU_STATUS_DRIVER | VHU_STATUS_FEATURES_OK) == 0, "status");
	TRY(get_status(&t, &v));
	CHECK(v & VHU_STATUS_FEATURES_OK, "FEATURES_OK refused after features");
	TRY(ring_restart(&t, 0, t_vring_base(&t.fe.vq[0], 1, 1)));
	TRY(ring_restart(&t, 1, t_vring_base(&t.fe.vq[1], 1, 1)));
	CHECK(fe_request_u64(&t.fe, VHU_REQ_SET_STATUS, ST_UP) == 0, "up");
	CHECK(ev_wait(VHU_EVENT_LINK_UP, -1, -1, 1, 2000), "no LINK_UP");
	CHECK(vhu_negotiated_features(t.dev) == t.fe.features, "features");
	TRY(take_frames(&t, &seq, 100, &got));
	CHECK(got == 3, "%u frames after the reset, expected 3", got);
	TRY(rx_roundtrip(&t, 0, 60));
	/* A payload is refused; the device goes on. */
	v = 0;
	CHECK(fe_request(&t.fe, VHU_REQ_RESET_DEVICE, &v, sizeof(v), NULL,
		0) == 1, "RESET_DEVICE with a payload");
	TRY(tx_roundtrip(&t, 0, 64));
	tb_destroy(&t);
	TRY(tb_check_fds(&t));

	/* Not negotiated: refused, nothing stops. */
	tb_init(&t);
	t.o.proto_mask = ~BIT(VHU_PROTO_F_RESET_DEVICE);
	TRY(tb_start(&t));
	CHECK(fe_request(&t.fe, VHU_REQ_RESET_DEVICE, NULL, 0, NULL, 0) == 1,
		"RESET_DEVICE accepted without the protocol feature");
	TRY(tx_roundtrip(&t, 0, 64));
	tb_destroy(&t);
	return tb_check_fds(&t);
}

static int
set_config(struct tb *t, uint32_t off, uint32_t size, uint32_t flags,
	const void *data)
{
	struct vhu_config_desc q;

	memset(&q, 0, sizeof(q));
	q.offset = off;
	q.size = size;
	q.flags = flags;
	memcpy(q.region, data, size);
	return fe_request(&t->fe, VHU_REQ_SET_CONFIG, &q,
		VHU_CONFIG_HDR_SIZE + size, NULL, 0);
}

int
case_config_space(void)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };
	static const uint8_t mac2[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x07 };
	struct vhu_net_config c;
	uint8_t buf[VHU_CONFIG_MAX];
	struct tb t;
	unsigned int i;

	tb_init(&t);
	memcpy(t.cfg.mac, mac, 6);
	t.cfg.mtu = 1500;
	t.cfg.max_queue_pairs = 2;
	t.o.nqp = 2;
	TRY(tb_start(&t));
	CHECK(t.fe.proto & BIT(VHU_PROTO_F_CONFIG), "CONFIG negotiated");
	TRY(get_config(&t, 0, sizeof(c), sizeof(c), (uint8_t *)&c));
	CHECK(memcmp(c.mac, mac, 6) == 0, "MAC");
	CHECK(c.status == VHU_NET_S_LINK_UP && c.max_virtqueue_pairs == 2 &&
		c.mtu == 1500 && c.speed == UINT32_MAX && c.duplex == 0xff,
		"config status %u pairs %u mtu %u", c.status,
		c.max_virtqueue_pairs, c.mtu);
	/* A window, and the whole 256 bytes (zeros past the fields). */
	TRY(get_config(&t, 10, 2, 2, buf));
	CHECK(buf[0] == (1500 & 0xff) && buf[1] == 1500 >> 8, "MTU window");
	TRY(get_config(&t, 0, VHU_CONFIG_MAX, VHU_CONFIG_MAX, buf));
	for (i = sizeof(c); i < VHU_CONFIG_MAX; i++)
		CHECK(buf[i] == 0, "byte %u", i);
	TRY(tx_roundtrip(&t, 1, 300));
	/* Hostile windows: past 256 bytes, offset wrapping, a size field
	 * that disagrees with the payload: no reply, connection goes on. */
	CHECK(get_config(&t, 250, 10, 10, buf) == -1, "window past 256");
	CHECK(get_config(&t, UINT32_MAX, 4, 4, buf) == -1, "offset wraps");
	CHECK(get_config(&t, 0, 12, 24, buf) == -1, "size disagrees");
	/* SET_CONFIG: the MAC (whole or a part) is writable, nothing else. */
	CHECK(set_config(&t, 0, 6, 0, mac2) == 0, "SET_CONFIG MAC");
	TRY(get_config(&t, 0, 6, 6, buf));
	CHECK(memcmp(buf, mac2, 6) == 0, "MAC not written");
	CHECK(set_config(&t, 5, 1, VHU_CONFIG_F_MIGRATION, "\x09") == 0,
		"last MAC byte during migration");
	TRY(get_config(&t, 5, 1, 1, buf));
	CHECK(buf[0] == 9, "MAC byte 5 %#x", buf[0]);
	CHECK(set_config(&t, 10, 2, 0, "\x00\x10") == 1, "MTU writable");
	CHECK(set_config(&t, 4, 4, 0, "\x00\x00\x00\x00") == 1,
		"write across the MAC end");
	CHECK(set_config(&t, 0, 6, 2, mac) == 1, "unknown flags");
	CHECK(set_config(&t, 0, 0, 0, mac) == 1, "empty write");
	TRY(get_config(&t, 0, sizeof(c), sizeof(c), (uint8_t *)&c));
	CHECK(c.mac[5] == 9 && c.mtu == 1500, "refused writes changed config");
	TRY(tx_roundtrip(&t, 0, 1514));
	TRY(rx_roundtrip(&t, 1, 64));
	fe_disconnect(&t.fe);
	CHECK(ev_wait(VHU_EVENT_DISCONNECTED, -1, -1, 1, 2000), "disconnect");

	/* The next session sees the configured MAC again; without the
	 * CONFIG protocol feature the requests are refused. */
	fe_fini(&t.fe);
	fe_init(&t.fe);
	TRY(tb_start(&t));
	TRY(get_config(&t, 0, 6, 6, buf));
	CHECK(memcmp(buf, mac, 6) == 0, "MAC of the last session kept");
	fe_disconnect(&t.fe);
	CHECK(ev_wait(VHU_EVENT_DISCONNECTED, -1, -1, 2, 2000), "disconnect");
	fe_fini(&t.fe);
	fe_init(&t.fe);
	t.o.proto_mask = ~BIT(VHU_PROTO_F_CONFIG);
	TRY(tb_start(&t));
	CHECK(get_config(&t, 0, 6, 6, buf) == -1, "GET_CONFIG not negotiated");
	CHECK(set_config(&t, 0, 6, 0, mac2) == 1, "SET_CONFIG not negotiated");
	TRY(tx_roundtrip(&t, 0, 64));
	tb_destroy(&t);
	return tb_check_fds(&t);
}
