/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * Packet capture, two ways, both through ethdev rx/tx callbacks so that a
 * worker pays nothing while no capture runs (rte_eth_rx_burst and
 * rte_eth_tx_burst already test for callbacks; the worker loop is not
 * touched):
 *
 * - DPDK's pdump framework: dpdk-dumpcap and dpdk-pdump, secondary
 *   processes, ask vmlink to copy a port's frames into their ring
 *   (pdump.c answers them).
 * - A built-in capture, started and stopped at run time through telemetry
 *   (vmlinkctl capture ...): the callbacks run the BPF filter, copy up to
 *   snaplen bytes of each accepted frame into a capture pool and enqueue
 *   the copies on a bounded ring; a writer thread off the data path
 *   writes them with libpcap and enforces the count and size limits. A
 *   copy that finds no mbuf or no room in the ring is freed and counted
 *   as a capture drop: capture never stalls forwarding.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include <rte_bpf.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_ring.h>

#include "capture.h"
#include "vmlink.h"

#define CAP_RING_SIZE 4096		/* copies waiting for the writer */
#define CAP_POOL_SIZE (2 * CAP_RING_SIZE - 1)
#define CAP_POOL_CACHE 64
#define CAP_WRITE_BURST 64
#define CAP_IDLE_US 1000		/* writer's nap on an empty ring */
#define PCAP_FILE_HDR 24		/* on-disk pcap header sizes */
#define PCAP_RECORD_HDR 16

/* Stored in each copy: when and how long the original was. */
struct cap_meta {
	uint64_t tsc;
	uint32_t len;
};

/* One callback: a (queue, direction) of the captured port. Its counters
 * have one writer, the lcore that polls or sends on that queue. */
struct cap_queue {
	struct cap_session *s;
	const struct rte_eth_rxtx_callback *cb;
	uint16_t queue;
	bool tx;
	uint64_t seen;		/* frames that passed the callback */
	uint64_t filtered;	/* rejected by the BPF filter */
	uint64_t queued;	/* copies handed to the writer */
	uint64_t dropped;	/* no capture mbuf or no room in the ring */
} __rte_cache_aligned;

struct cap_session {
	struct capture_spec spec;
	char port_name[CFG_NAME_MAX];
	uint16_t port_id;
	bool copying;		/* callbacks copy while set */
	bool stopping;		/* the writer drains the ring and ends */
	bool limit_reached;	/* set by the writer */
	const char *limit;	/* which one: "count limit", "size limit" */
	struct rte_ring *ring;
	struct rte_mempool *pool;
	struct rte_bpf *bpf;
	pcap_t *pcap;
	pcap_dumper_t *dumper;
	pthread_t writer;
	bool writer_started;
	uint64_t tsc0;		/* wall clock time0 at tsc0, for timestamps */
	struct timespec time0;
	uint64_t written;	/* frames in the file (writer only) */
	uint64_t file_bytes;
	uint64_t over_limit;	/* copies discarded after a limit */
	unsigned int n_queues;
	struct cap_queue *q;
	char stopped_by[32];	/* "" while running */
};

static int meta_offset = -1;
static unsigned int generation;
static struct cap_session *current;	/* running, or the last one */

static inline struct cap_meta *
meta(struct rte_mbuf *m)
{
	return RTE_MBUF_DYNFIELD(m, meta_offset, struct cap_meta *);
}

/* ------------------------------------------------------------------------ */
/* Data path: runs inside rte_eth_rx_burst/rte_eth_tx_burst of a worker */

static void
cap_copy(struct cap_queue *q, struct rte_mbuf **pkts, uint16_t n)
{
	struct cap_session *s = q->s;
	struct rte_mbuf *copies[MAX_BURST];
	uint64_t match[MAX_BURST];
	uint16_t i, k = 0, queued;
	uint64_t filtered = 0, nombuf = 0, tsc;

	if (n == 0 || !__atomic_load_n(&s->copying, __ATOMIC_RELAXED))
		return;
	n = RTE_MIN(n, (uint16_t)MAX_BURST);
	if (s->bpf != NULL)
		rte_bpf_exec_burst(s->bpf, (void **)pkts, match, n);
	tsc = rte_get_tsc_cycles();
	for (i = 0; i < n; i++) {
		struct rte_mbuf *c;

		if (s->bpf != NULL && match[i] == 0) {
			filtered++;
			continue;
		}
		c = rte_pktmbuf_copy(pkts[i], s->pool, 0, s->spec.snaplen);
		if (c == NULL) {
			nombuf++;
			continue;
		}
		meta(c)->tsc = tsc;
		meta(c)->len = pkts[i]->pkt_len;
		copies[k++] = c;
	}
	queued = (uint16_t)rte_ring_enqueue_burst(s->ring, (void **)copies, k,
		NULL);
	if (queued < k)
		rte_pktmbuf_free_bulk(copies + queued, k - queued);
	counter_add(&q->seen, n);
	if (filtered != 0)
		counter_add(&q->filtered, filtered);
	if (queued != 0)
		counter_add(&q->queued, queued);
	if (nombuf + k - queued != 0)
		counter_add(&q->dropped, nombuf + k - queued);
}

static uint16_t
cap_rx_cb(uint16_t port __rte_unused, uint16_t queue __rte_unused,
	struct rte_mbuf **pkts, uint16_t n, uint16_t max __rte_unused, void *arg)
{
	cap_copy(arg, pkts, n);
	return n;
}

static uint16_t
cap_tx_cb(uint16_t port __rte_unused, uint16_t queue __rte_unused,
	struct rte_mbuf **pkts, uint16_t n, void *arg)
{
	cap_copy(arg, pkts, n);
	return n;
}

/* ------------------------------------------------------------------------ */
/* Writer thread */

static void
cap_timestamp(const struct cap_session *s, uint64_t tsc, struct timeval *tv)
{
	uint64_t hz = rte_get_tsc_hz();
	uint64_t d = tsc > s->tsc0 ? tsc - s->tsc0 : 0;
	uint64_t ns = (uint64_t)s->time0.tv_nsec + d % hz * 1000000000 / hz;

	/* nanosecond pcap: tv_usec holds nanoseconds */
	tv->tv_sec = s->time0.tv_sec + (time_t)(d / hz + ns / 1000000000);
	tv->tv_usec = (suseconds_t)(ns % 1000000000);
}

/* Write one copy unless a limit says no; false once a limit is hit. */
static bool
cap_write(struct cap_session *s, struct rte_mbuf *c)
{
	static uint8_t buf[CAPTURE_SNAPLEN_MAX];
	struct pcap_pkthdr h;
	const void *data;

	if (s->limit_reached)
		return false;
	h.caplen = RTE_MIN(c->pkt_len, (uint32_t)sizeof(buf));
	h.len = RTE_MAX(meta(c)->len, h.caplen);
	if (s->spec.max_frames != 0 && s->written >= s->spec.max_frames)
		s->limit = "count limit";
	else if (s->spec.max_bytes != 0 && s->file_bytes + PCAP_RECORD_HDR +
			h.caplen > s->spec.max_bytes)
		s->limit = "size limit";
	if (s->limit != NULL) {
		__atomic_store_n(&s->copying, false, __ATOMIC_RELAXED);
		__atomic_store_n(&s->limit_reached, true, __ATOMIC_RELEASE);
		return false;
	}
	cap_timestamp(s, meta(c)->tsc, &h.ts);
	data = rte_pktmbuf_read(c, 0, h.caplen, buf);
	pcap_dump((u_char *)s->dumper, &h, data);
	s->file_bytes += PCAP_RECORD_HDR + h.caplen;
	__atomic_store_n(&s->written, s->written + 1, __ATOMIC_RELAXED);
	return true;
}

static void *
cap_writer(void *arg)
{
	struct cap_session *s = arg;
	struct rte_mbuf *m[CAP_WRITE_BURST];

	for (;;) {
		unsigned int n, i;

		n = rte_ring_sc_dequeue_burst(s->ring, (void **)m,
			CAP_WRITE_BURST, NULL);
		for (i = 0; i < n; i++) {
			if (!cap_write(s, m[i]))
				__atomic_store_n(&s->over_limit, s->over_limit + 1,
					__ATOMIC_RELAXED);
			rte_pktmbuf_free(m[i]);
		}
		if (n != 0)
			continue;
		if (__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE))
			break;
		pcap_dump_flush(s->dumper);
		rte_delay_us_sleep(CAP_IDLE_US);
	}
	pcap_dump_flush(s->dumper);
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Control path: start and stop, serialised by the caller */

static int
cap_filter(struct cap_session *s, char *err, size_t errlen)
{
	struct bpf_program prog;
	struct rte_bpf_prm *prm;
	pcap_t *p;

	if (s->spec.filter[0] == '\0')
		return 0;
	p = pcap_open_dead(DLT_EN10MB, (int)s->spec.snaplen);
	if (p == NULL) {
		snprintf(err, errlen, "libpcap: cannot compile filters");
		return -1;
	}
	if (pcap_compile(p, &prog, s->spec.filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		snprintf(err, errlen, "filter '%s': %s", s->spec.filter,
			pcap_geterr(p));
		pcap_close(p);
		return -1;
	}
	prm = rte_bpf_convert(&prog);
	pcap_freecode(&prog);
	pcap_close(p);
	if (prm == NULL) {
		snprintf(err, errlen, "filter '%s': cannot convert it to eBPF: %s",
			s->spec.filter, rte_strerror(rte_errno));
		return -1;
	}
	s->bpf = rte_bpf_load(prm);
	rte_free(prm);
	if (s->bpf == NULL) {
		snprintf(err, errlen, "filter '%s': cannot load it: %s",
			s->spec.filter, rte_strerror(rte_errno));
		return -1;
	}
	return 0;
}

static int
cap_output(struct cap_session *s, char *err, size_t errlen)
{
	FILE *f;
	int fd;

	fd = open(s->spec.file, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
		O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot write %s: %s", s->spec.file,
			strerror(errno));
		return -1;
	}
	f = fdopen(fd, "w");
	s->pcap = pcap_open_dead_with_tstamp_precision(DLT_EN10MB,
		(int)s->spec.snaplen, PCAP_TSTAMP_PRECISION_NANO);
	if (f == NULL || s->pcap == NULL ||
			(s->dumper = pcap_dump_fopen(s->pcap, f)) == NULL) {
		snprintf(err, errlen, "cannot start a pcap file in %s: %s",
			s->spec.file, s->pcap != NULL ? pcap_geterr(s->pcap) :
			"out of memory");
		if (f != NULL)
			fclose(f);
		else
			close(fd);
		return -1;
	}
	s->file_bytes = PCAP_FILE_HDR;
	return 0;
}

static int
cap_buffers(struct cap_session *s, char *err, size_t errlen)
{
	static const struct rte_mbuf_dynfield desc = {
		.name = "vmlink_capture_meta",
		.size = sizeof(struct cap_meta),
		.align = __alignof__(struct cap_meta),
	};
	char name[RTE_MEMPOOL_NAMESIZE];

	if (meta_offset < 0)
		meta_offset = rte_mbuf_dynfield_register(&desc);
	if (meta_offset < 0) {
		snprintf(err, errlen, "no room for capture metadata in mbufs: %s",
			rte_strerror(rte_errno));
		return -1;
	}
	generation++;
	snprintf(name, sizeof(name), "vmlink_cap_r%u", generation);
	s->ring = rte_ring_create(name, CAP_RING_SIZE, (int)rte_socket_id(),
		RING_F_SC_DEQ);
	snprintf(name, sizeof(name), "vmlink_cap_p%u", generation);
	s->pool = rte_pktmbuf_pool_create(name, CAP_POOL_SIZE, CAP_POOL_CACHE,
		0, RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (s->ring == NULL || s->pool == NULL) {
		snprintf(err, errlen, "cannot allocate the capture ring and pool "
			"(%u mbufs) in hugepage memory: %s", CAP_POOL_SIZE,
			rte_strerror(rte_errno));
		return -1;
	}
	return 0;
}

/* Install one callback per captured queue. */
static int
cap_callbacks(struct vmlink *vm, struct cap_session *s, char *err, size_t errlen)
{
	const struct port_rt *pr = &vm->port[s->spec.port];
	uint16_t nrx = s->spec.rx ? (uint16_t)pr->cfg->rx_queues : 0;
	uint16_t ntx = s->spec.tx ? pr->n_txq : 0;
	unsigned int i;

	s->q = rte_zmalloc("vmlink_cap_q", sizeof(*s->q) * (nrx + ntx + 1),
		RTE_CACHE_LINE_SIZE);
	if (s->q == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < (unsigned int)(nrx + ntx); i++) {
		struct cap_queue *q = &s->q[i];

		q->s = s;
		q->tx = i >= nrx;
		q->queue = (uint16_t)(q->tx ? i - nrx : i);
		q->cb = q->tx ?
			rte_eth_add_tx_callback(s->port_id, q->queue, cap_tx_cb, q) :
			rte_eth_add_rx_callback(s->port_id, q->queue, cap_rx_cb, q);
		if (q->cb == NULL) {
			snprintf(err, errlen, "cannot install a %s callback on queue "
				"%u: %s", q->tx ? "tx" : "rx", q->queue,
				rte_strerror(rte_errno));
			return -1;
		}
		s->n_queues++;
	}
	return 0;
}

static void
cap_remove_callbacks(struct cap_session *s)
{
	unsigned int i;

	for (i = 0; i < s->n_queues; i++) {
		struct cap_queue *q = &s->q[i];

		if (q->tx)
			rte_eth_remove_tx_callback(s->port_id, q->queue, q->cb);
		else
			rte_eth_remove_rx_callback(s->port_id, q->queue, q->cb);
	}
}

/* Free everything; the callbacks are removed and no worker is in one. */
static void
cap_release(struct cap_session *s)
{
	struct rte_mbuf *m;
	unsigned int i;

	if (s->writer_started) {
		__atomic_store_n(&s->stopping, true, __ATOMIC_RELEASE);
		pthread_join(s->writer, NULL);
		s->writer_started = false;
	}
	for (i = 0; i < s->n_queues; i++) {
		rte_free((void *)(uintptr_t)s->q[i].cb);	/* ethdev's */
		s->q[i].cb = NULL;
	}
	while (s->ring != NULL && rte_ring_sc_dequeue(s->ring, (void **)&m) == 0)
		rte_pktmbuf_free(m);
	rte_ring_free(s->ring);
	rte_mempool_free(s->pool);
	s->ring = NULL;
	s->pool = NULL;
	if (s->bpf != NULL)
		rte_bpf_destroy(s->bpf);
	s->bpf = NULL;
	if (s->dumper != NULL)
		pcap_dump_close(s->dumper);
	if (s->pcap != NULL)
		pcap_close(s->pcap);
	s->dumper = NULL;
	s->pcap = NULL;
}

static void
cap_free(struct cap_session *s)
{
	if (s == NULL)
		return;
	cap_release(s);
	rte_free(s->q);
	rte_free(s);
}

int
capture_start(struct vmlink *vm, const struct capture_spec *spec, char *err,
	size_t errlen)
{
	struct cap_session *s;

	if (current != NULL && current->stopped_by[0] == '\0') {
		snprintf(err, errlen, "a capture of port %s is running (to %s): "
			"stop it first", current->port_name, current->spec.file);
		return -EBUSY;
	}
	s = rte_zmalloc("vmlink_capture", sizeof(*s), RTE_CACHE_LINE_SIZE);
	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->spec = *spec;
	s->port_id = vm->port[spec->port].port_id;
	snprintf(s->port_name, sizeof(s->port_name), "%s",
		vm->cfg->port[spec->port].name);
	if (cap_filter(s, err, errlen) < 0 || cap_buffers(s, err, errlen) < 0 ||
			cap_output(s, err, errlen) < 0)
		goto fail;
	s->tsc0 = rte_get_tsc_cycles();
	clock_gettime(CLOCK_REALTIME, &s->time0);
	if (rte_ctrl_thread_create(&s->writer, "vmlink-capture", NULL,
			cap_writer, s) != 0) {
		snprintf(err, errlen, "cannot start the capture writer thread");
		goto fail;
	}
	s->writer_started = true;
	s->copying = true;
	if (cap_callbacks(vm, s, err, errlen) < 0) {
		cap_remove_callbacks(s);
		control_quiesce(vm);
		goto fail;
	}
	cap_free(current);
	current = s;
	printf("vmlink: capture of port %s (%s) to %s started\n", s->port_name,
		spec->rx && spec->tx ? "rx+tx" : spec->rx ? "rx" : "tx", spec->file);
	fflush(stdout);
	return 0;
fail:
	cap_free(s);
	unlink(spec->file);
	return -EINVAL;
}

static void
cap_counters(const struct cap_session *s, uint64_t *seen, uint64_t *filtered,
	uint64_t *queued, uint64_t *dropped)
{
	unsigned int i;

	*seen = *filtered = *queued = *dropped = 0;
	for (i = 0; i < s->n_queues; i++) {
		*seen += __atomic_load_n(&s->q[i].seen, __ATOMIC_RELAXED);
		*filtered += __atomic_load_n(&s->q[i].filtered, __ATOMIC_RELAXED);
		*queued += __atomic_load_n(&s->q[i].queued, __ATOMIC_RELAXED);
		*dropped += __atomic_load_n(&s->q[i].dropped, __ATOMIC_RELAXED);
	}
}

int
capture_stop(struct vmlink *vm, const char *why, bool workers_running)
{
	struct cap_session *s = current;
	uint64_t seen, filtered, queued, dropped;

	if (s == NULL || s->stopped_by[0] != '\0')
		return -ENOENT;
	__atomic_store_n(&s->copying, false, __ATOMIC_RELAXED);
	cap_remove_callbacks(s);
	if (workers_running && control_quiesce(vm) != 0) {
		/* A worker did not come round: its callback may still run.
		 * Keep everything it could touch; only the file is closed. */
		__atomic_store_n(&s->stopping, true, __ATOMIC_RELEASE);
		pthread_join(s->writer, NULL);
		s->writer_started = false;
		pcap_dump_close(s->dumper);
		s->dumper = NULL;
		snprintf(s->stopped_by, sizeof(s->stopped_by), "%s", why);
		current = NULL;		/* leaked on purpose */
		return -ETIMEDOUT;
	}
	/* The counters live in s->q, which cap_release keeps. */
	cap_counters(s, &seen, &filtered, &queued, &dropped);
	cap_release(s);
	snprintf(s->stopped_by, sizeof(s->stopped_by), "%s", why);
	printf("vmlink: capture of port %s stopped (%s): %" PRIu64 " frames "
		"written to %s, %" PRIu64 " filtered out, %" PRIu64 " dropped\n",
		s->port_name, why, s->written, s->spec.file, filtered, dropped);
	fflush(stdout);
	return 0;
}

const char *
capture_limit_reached(void)
{
	const struct cap_session *s = current;

	if (s == NULL || s->stopped_by[0] != '\0' ||
			!__atomic_load_n(&s->limit_reached, __ATOMIC_ACQUIRE))
		return NULL;
	return s->limit;
}

void
capture_status(struct rte_tel_data *d)
{
	const struct cap_session *s = current;
	uint64_t seen, filtered, queued, dropped;
	const struct capture_spec *sp;

	rte_tel_data_start_dict(d);
	if (s == NULL) {
		rte_tel_data_add_dict_string(d, "state", "none");
		return;
	}
	sp = &s->spec;
	cap_counters(s, &seen, &filtered, &queued, &dropped);
	rte_tel_data_add_dict_string(d, "state",
		s->stopped_by[0] == '\0' ? "running" : "stopped");
	if (s->stopped_by[0] != '\0')
		rte_tel_data_add_dict_string(d, "stopped_by", s->stopped_by);
	rte_tel_data_add_dict_string(d, "port", s->port_name);
	rte_tel_data_add_dict_string(d, "direction",
		sp->rx && sp->tx ? "both" : sp->rx ? "rx" : "tx");
	rte_tel_data_add_dict_string(d, "file", sp->file);
	rte_tel_data_add_dict_string(d, "filter", sp->filter);
	rte_tel_data_add_dict_u64(d, "snaplen", sp->snaplen);
	rte_tel_data_add_dict_u64(d, "count_limit", sp->max_frames);
	rte_tel_data_add_dict_u64(d, "size_limit", sp->max_bytes);
	rte_tel_data_add_dict_u64(d, "seen", seen);
	rte_tel_data_add_dict_u64(d, "filtered", filtered);
	rte_tel_data_add_dict_u64(d, "queued", queued);
	rte_tel_data_add_dict_u64(d, "dropped", dropped);
	rte_tel_data_add_dict_u64(d, "written",
		__atomic_load_n(&s->written, __ATOMIC_RELAXED));
	rte_tel_data_add_dict_u64(d, "over_limit",
		__atomic_load_n(&s->over_limit, __ATOMIC_RELAXED));
}

void
capture_fini(struct vmlink *vm)
{
	capture_stop(vm, "exit", false);
	cap_free(current);
	current = NULL;
}
