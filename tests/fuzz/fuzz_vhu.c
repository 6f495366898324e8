/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_mempool.h>

#include "fuzz_vhu.h"

/*
 * How long the harness waits for the back-end: longer than any -timeout
 * the fuzzer runs with (vmlink-fuzz: 20 s), so that a back-end that
 * stops answering is reported by libFuzzer as a hang of this input (an
 * artifact, a stack), and a live back-end that a loaded machine runs
 * late (fuzzers run at nice 19) is never taken for a dead one.
 */
#define FZV_WAIT_MS	60000

struct rte_mempool *fzv_mp;
static char sock_path[128];
static struct fz_leaks leaks;

void
fzv_global_init(const char *prog)
{
	fz_eal_init(prog);
	fzv_mp = rte_pktmbuf_pool_create("fz_vhu", FZV_POOL_SIZE, 0, 0,
		RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (fzv_mp == NULL)
		fz_fail("mempool");
	snprintf(sock_path, sizeof(sock_path), "%s/vhu.sock", fz_tmpdir());
}

void
fzv_config(struct fzv *v, uint8_t knobs)
{
	vhu_config_init(&v->cfg);
	v->cfg.zero_copy = knobs & 1;
	v->cfg.copy_threshold = (knobs & 2) ? 0 : 512;
	v->cfg.max_queue_pairs = 1 + ((knobs >> 2) & 1);
	v->cfg.inflight_budget = 64;
	/* The control thread waits for held zero-copy mbufs only while
	 * this thread is blocked on its reply: none can come back during
	 * the wait, so 1 ms ends it as 10 would, and faster. */
	v->cfg.quiesce_timeout_ms = 1;
	v->cfg.mtu = 1500;
}

/*
 * Devices are created once per configuration and reused: every input
 * starts a new front-end session and ends it by disconnecting, after
 * which the library must be back to its idle state (the end-of-input
 * checks hold it to that). Creating a device per input (a thread and a
 * socket each) would cost most of the fuzzing time.
 */
#define FZV_CONFIGS 8
static struct vhu_dev *devs[FZV_CONFIGS];

static char paths[FZV_CONFIGS][160];

static struct vhu_dev *
device_for(struct vhu_config *cfg, unsigned int key)
{
	if (devs[key] != NULL)
		return devs[key];
	snprintf(paths[key], sizeof(paths[key]), "%s.%u", sock_path, key);
	cfg->socket_path = paths[key];
	cfg->name = "fuzz";
	devs[key] = vhu_create(cfg);
	if (devs[key] == NULL)
		fz_fail("vhu_create: %s", rte_strerror(rte_errno));
	return devs[key];
}

int
fzv_begin(struct fzv *v)
{
	unsigned int key = (v->cfg.zero_copy ? 1 : 0) |
		(v->cfg.max_queue_pairs > 1 ? 2 : 0) |
		(v->cfg.copy_threshold == 0 ? 4 : 0);

	v->dev = device_for(&v->cfg, key);
	v->path = paths[key];
	/* Guest memory and logs are memfds the leak check names. */
	fz_leaks_begin(&leaks, "vhu-");
	fe_init(&v->fe);
	v->fe.prefer_huge = false;
	v->connected = false;
	v->nheld = 0;
	fzv_connect(v);
	/* The back-end has accepted this session once it answered: the
	 * end-of-input wait for its hang-up then cannot race the accept. */
	if (fzv_sync(v) != 0)
		fz_fail("the back-end did not answer GET_FEATURES on a new "
			"session (it closed it, or %d s passed)",
			FZV_WAIT_MS / 1000);
	return 0;
}

int
fzv_connect(struct fzv *v)
{
	if (v->connected)
		return 0;
	if (fe_connect(&v->fe, v->path) != 0)
		fz_fail("cannot connect to the back-end");
	v->connected = true;
	return 0;
}

void
fzv_disconnect(struct fzv *v)
{
	/* The guest memory stays the test's: only the session ends. */
	fe_disconnect(&v->fe);
	v->connected = false;
}

int
fzv_sync(struct fzv *v)
{
	uint8_t buf[512];
	uint32_t r, flags;
	int n;

	if (!v->connected)
		return -1;
	if (fe_send(&v->fe, VHU_REQ_GET_FEATURES, VHU_FLAG_VERSION, NULL, 0,
			NULL, 0) != 0)
		goto lost;
	for (;;) {
		n = fe_recv(&v->fe, &r, &flags, buf, sizeof(buf), FZV_WAIT_MS);
		if (n < 0)
			goto lost;
		if (r == VHU_REQ_GET_FEATURES && n == 8 &&
				(flags & VHU_FLAG_REPLY))
			return 0;
	}
lost:
	fzv_disconnect(v);
	return -1;
}

int
fzv_make_fd(uint8_t k, uint64_t size)
{
	int fd = -1, p[2];

	switch (k % 6) {
	case 0:
		fd = memfd_create("vhu-fuzz-mem", MFD_CLOEXEC);
		if (fd >= 0 && ftruncate(fd, (off_t)size) != 0) {
			close(fd);
			fd = -1;
		}
		break;
	case 1:
		fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		break;
	case 2:
		if (pipe2(p, O_CLOEXEC) == 0) {
			close(p[1]);
			fd = p[0];
		}
		break;
	case 3:
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		break;
	case 4:
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		break;
	default:
		fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		break;
	}
	return fd;
}

uint16_t
fzv_dequeue(struct fzv *v, uint16_t qp, uint16_t n, bool hold,
	struct rte_mbuf **out)
{
	struct rte_mbuf *pkts[64];
	uint16_t got, i;

	if (n > 64)
		n = 64;
	got = vhu_dequeue_burst(v->dev, qp, fzv_mp, n ? pkts : NULL, n);
	FZ_CHECK(got <= n);
	for (i = 0; i < got; i++) {
		struct rte_mbuf *m = pkts[i];

		const struct rte_mbuf *s;
		uint32_t sum = 0;

		FZ_CHECK(m->pkt_len <= VHU_MAX_FRAME_LEN);
		for (s = m; s != NULL; s = s->next)
			sum += s->data_len;
		FZ_CHECK(sum == m->pkt_len);
		if (out != NULL)
			out[i] = m;
		else if (hold && v->nheld < FZV_MAX_HELD)
			v->held[v->nheld++] = m;
		else
			rte_pktmbuf_free(m);
	}
	return got;
}

void
fzv_free_held(struct fzv *v, unsigned int k, bool oldest_first)
{
	while (k-- > 0 && v->nheld > 0) {
		if (!oldest_first) {
			rte_pktmbuf_free(v->held[--v->nheld]);
		} else {
			rte_pktmbuf_free(v->held[0]);
			memmove(v->held, v->held + 1,
				--v->nheld * sizeof(v->held[0]));
		}
	}
}

void
fzv_end(struct fzv *v)
{
	uint64_t t0 = rte_get_timer_cycles(), hz = rte_get_timer_hz();

	fzv_free_held(v, FZV_MAX_HELD, true);
	fzv_disconnect(v);
	fe_fini(&v->fe);
	/* The control thread notices the hang-up (it must: not noticing is
	 * a hang, for libFuzzer to report), resets the session, closes
	 * what it deferred and, at its next tick, unmaps guest memory kept
	 * for zero-copy buffers that have all come back (the ones freed
	 * above): then give it two seconds to get back to the fds and
	 * mappings the input started with. */
	while (vhu_connected(v->dev) &&
			rte_get_timer_cycles() - t0 < FZV_WAIT_MS / 1000 * hz)
		usleep(100);
	t0 = rte_get_timer_cycles();
	while (!fz_leaks_settled(&leaks) &&
			rte_get_timer_cycles() - t0 < 2 * hz)
		usleep(100);
	FZ_CHECK(!vhu_connected(v->dev));
	FZ_CHECK(rte_mempool_avail_count(fzv_mp) == FZV_POOL_SIZE);
	fz_leaks_end(&leaks);
}
