/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user library test program: `vhu_test <case>` runs one case in a
 * fresh EAL (meson registers one test per case), `vhu_test --list` lists
 * them, `vhu_test all` runs every case in one process.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>

#include "vhu_test.h"
#include "vhu_cases.h"

struct rte_mempool *t_mp;
struct rte_mempool *t_mp_small;

static char tmpdir[96];
static unsigned int sock_seq;

/* ---- events ---- */

#define MAX_EVS 4096
static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vhu_event evs[MAX_EVS];
static unsigned int nevs;

void
ev_cb(struct vhu_dev *dev, const struct vhu_event *ev, void *arg)
{
	(void)dev;
	(void)arg;
	pthread_mutex_lock(&ev_lock);
	if (nevs < MAX_EVS)
		evs[nevs++] = *ev;
	pthread_mutex_unlock(&ev_lock);
}

void
ev_clear(void)
{
	pthread_mutex_lock(&ev_lock);
	nevs = 0;
	pthread_mutex_unlock(&ev_lock);
}

static bool
ev_match(const struct vhu_event *e, enum vhu_event_type type, int qp, int dir)
{
	if (e->type != type)
		return false;
	if (type != VHU_EVENT_QUEUE_UP && type != VHU_EVENT_QUEUE_DOWN &&
			type != VHU_EVENT_QUEUE_FAULT)
		return true;
	return (qp < 0 || e->queue_pair == qp) && (dir < 0 || (int)e->dir == dir);
}

int
ev_count(enum vhu_event_type type, int qp, int dir)
{
	unsigned int i;
	int n = 0;

	pthread_mutex_lock(&ev_lock);
	for (i = 0; i < nevs; i++)
		n += ev_match(&evs[i], type, qp, dir);
	pthread_mutex_unlock(&ev_lock);
	return n;
}

bool
ev_find(enum vhu_event_type type, int qp, int dir, uint32_t *value)
{
	unsigned int i;
	bool found = false;

	pthread_mutex_lock(&ev_lock);
	for (i = 0; i < nevs; i++) {
		if (ev_match(&evs[i], type, qp, dir)) {
			if (value != NULL)
				*value = evs[i].value;
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&ev_lock);
	return found;
}

bool
ev_wait(enum vhu_event_type type, int qp, int dir, int min, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	do {
		if (ev_count(type, qp, dir) >= min)
			return true;
		msleep(2);
	} while (now_ms() < end);
	return false;
}

/* ---- misc ---- */

uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void
msleep(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

void
make_frame(uint8_t *buf, uint32_t len, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1, i;

	for (i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (uint8_t)(x >> 16);
	}
	if (len >= 14) {
		memcpy(buf, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02",
			12);
		buf[12] = 0x88;
		buf[13] = 0xb5;
	}
}

struct rte_mbuf *
mk_mbuf(struct rte_mempool *mp, const uint8_t *data, uint32_t len)
{
	struct rte_mbuf *head = NULL, *last = NULL;

	do {
		struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
		uint32_t c;

		if (m == NULL) {
			rte_pktmbuf_free(head);
			return NULL;
		}
		c = RTE_MIN(len, (uint32_t)rte_pktmbuf_tailroom(m));
		memcpy(rte_pktmbuf_append(m, (uint16_t)c), data, c);
		data += c;
		len -= c;
		if (head == NULL) {
			head = m;
		} else {
			last->next = m;
			head->nb_segs++;
			head->pkt_len += c;
		}
		last = m;
	} while (len > 0);
	return head;
}

int
mbuf_equals(const struct rte_mbuf *m, const uint8_t *data, uint32_t len)
{
	uint32_t off = 0;

	if (m->pkt_len != len)
		return 0;
	for (; m != NULL; m = m->next) {
		if (off + m->data_len > len)
			return 0;
		if (memcmp(rte_pktmbuf_mtod(m, const uint8_t *), data + off,
				m->data_len) != 0)
			return 0;
		off += m->data_len;
	}
	return off == len;
}

struct vhu_queue_stats
qstats(struct vhu_dev *dev, uint16_t qp, enum vhu_queue_dir dir)
{
	struct vhu_queue_stats s;

	memset(&s, 0xff, sizeof(s));
	vhu_queue_stats_get(dev, qp, dir, &s);
	return s;
}

uint64_t
malformed_total(const struct vhu_queue_stats *s)
{
	uint64_t n = 0;
	unsigned int i;

	for (i = 0; i < VHU_MAL_NUM; i++)
		n += s->malformed[i];
	return n;
}

int
count_maps_of_fd(int fd)
{
	struct stat st;
	FILE *f;
	char line[512];
	int n = 0;

	if (fstat(fd, &st) != 0)
		return -1;
	f = fopen("/proc/self/maps", "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long ino = 0;

		if (sscanf(line, "%*s %*s %*s %*s %lu", &ino) == 1 &&
				ino == (unsigned long)st.st_ino && ino != 0)
			n++;
	}
	fclose(f);
	return n;
}

/* ---- log capture ---- */

static FILE *log_file;
static long log_start;

void
log_capture_begin(void)
{
	if (log_file == NULL) {
		log_file = tmpfile();
		if (log_file == NULL)
			return;
		rte_openlog_stream(log_file);
	}
	fflush(log_file);
	log_start = ftell(log_file);
}

char *
log_capture_text(void)
{
	long end;
	char *buf;
	ssize_t n;

	if (log_file == NULL)
		return strdup("");
	fflush(log_file);
	end = ftell(log_file);
	buf = calloc(1, (size_t)(end - log_start) + 1);
	if (buf == NULL)
		return NULL;
	n = pread(fileno(log_file), buf, (size_t)(end - log_start), log_start);
	if (n < 0)
		buf[0] = '\0';
	/* Echo it, so that a failing case shows what the library said. */
	fputs(buf, stderr);
	return buf;
}

unsigned int
count_lines(const char *text, const char *needle)
{
	unsigned int n = 0;
	const char *p = text;

	while (p != NULL && *p != '\0') {
		const char *eol = strchr(p, '\n');
		size_t len = eol != NULL ? (size_t)(eol - p) : strlen(p);

		if (needle == NULL || (memmem(p, len, needle, strlen(needle)) !=
				NULL))
			n++;
		p = eol != NULL ? eol + 1 : NULL;
	}
	return n;
}

/* ---- bench ---- */

const char *
tb_sock_path(void)
{
	static char p[128];

	snprintf(p, sizeof(p), "%s/s%u.sock", tmpdir, sock_seq++);
	return p;
}

void
tb_init(struct tb *t)
{
	memset(t, 0, sizeof(*t));
	vhu_config_init(&t->cfg);
	snprintf(t->path, sizeof(t->path), "%s", tb_sock_path());
	t->cfg.socket_path = t->path;
	t->cfg.name = "test";
	t->cfg.event_cb = ev_cb;
	t->cfg.quiesce_timeout_ms = 500;
	fe_init(&t->fe);
	fe_opts_default(&t->o);
	if (t_packed)
		t->o.features |= 1ull << VHU_F_RING_PACKED;
	t->fd_base = fe_count_fds();
	ev_clear();
}

int
tb_create(struct tb *t)
{
	t->dev = vhu_create(&t->cfg);
	CHECK(t->dev != NULL, "vhu_create failed: %d", rte_errno);
	return 0;
}

int
tb_start(struct tb *t)
{
	if (t->dev == NULL)
		TRY(tb_create(t));
	CHECK(fe_connect(&t->fe, t->path) == 0, "connect %s", t->path);
	CHECK(fe_start(&t->fe, &t->o) == 0, "handshake failed");
	return 0;
}

void
tb_destroy(struct tb *t)
{
	vhu_destroy(t->dev);
	t->dev = NULL;
	fe_fini(&t->fe);
}

int
tb_check_fds(struct tb *t)
{
	int n = fe_count_fds();

	CHECK(n == t->fd_base, "fd leak: %d open, %d before", n, t->fd_base);
	return 0;
}

/* GET_CONFIG of [off, off + size): the reply's payload, or -1 (no reply:
 * checked by a GET_FEATURES round trip that must come back first). */
int
get_config(struct tb *t, uint32_t off, uint32_t size, uint32_t claimed,
	uint8_t *out)
{
	struct vhu_config_desc q, r;
	uint32_t req, flags;
	int n;

	memset(&q, 0, sizeof(q));
	q.offset = off;
	q.size = claimed;
	if (fe_send(&t->fe, VHU_REQ_GET_CONFIG, VHU_FLAG_VERSION, &q,
			VHU_CONFIG_HDR_SIZE + size, NULL, 0) != 0)
		return -2;
	if (fe_send(&t->fe, VHU_REQ_GET_FEATURES, VHU_FLAG_VERSION, NULL, 0,
			NULL, 0) != 0)
		return -2;
	n = fe_recv(&t->fe, &req, &flags, &r, sizeof(r), 3000);
	if (req == VHU_REQ_GET_FEATURES && n == 8)
		return -1;
	if (req != VHU_REQ_GET_CONFIG || n != (int)(VHU_CONFIG_HDR_SIZE + size) ||
			r.offset != off || r.size != size)
		return -2;
	memcpy(out, r.region, size);
	/* then the GET_FEATURES reply */
	n = fe_recv(&t->fe, &req, &flags, &r, sizeof(r), 3000);
	return req == VHU_REQ_GET_FEATURES && n == 8 ? 0 : -2;
}

/* ---- round trips ---- */

int
tx_roundtrip(struct tb *t, uint16_t qp, uint32_t len)
{
	unsigned int vqi = 2 * qp + 1;
	struct fe_vring *v = &t->fe.vq[vqi];
	uint8_t frame[9000];
	struct rte_mbuf *m[4];
	uint32_t id, ulen;
	uint16_t n;
	int head;

	make_frame(frame, len, len + qp);
	head = fe_tx_frame(&t->fe, vqi, NULL, 12, frame, len, 1, false, false);
	CHECK(head >= 0, "post");
	n = vhu_dequeue_burst(t->dev, qp, t_mp, m, 4);
	CHECK(n == 1, "qp %u: dequeued %u frames, expected 1", qp, n);
	CHECK(mbuf_equals(m[0], frame, len), "qp %u: frame content", qp);
	rte_pktmbuf_free(m[0]);
	/* zero-copy frames come back on the next call */
	(void)vhu_dequeue_burst(t->dev, qp, t_mp, m, 0);
	n = vhu_dequeue_burst(t->dev, qp, t_mp, m, 4);
	CHECK(n == 0, "qp %u: spurious frame", qp);
	CHECK(fe_used_get(v, &id, &ulen) == 1, "qp %u: no used entry", qp);
	CHECK(id == (uint32_t)head && ulen == 0, "qp %u: used {%u,%u}", qp, id,
		ulen);
	return 0;
}

int
rx_roundtrip(struct tb *t, uint16_t qp, uint32_t len)
{
	unsigned int vqi = 2 * qp;
	struct fe_vring *v = &t->fe.vq[vqi];
	uint8_t frame[9000], got[9100];
	struct rte_mbuf *m;
	uint32_t id, ulen, hl = 12;
	struct vhu_net_hdr *h = (struct vhu_net_hdr *)got;
	int head;

	make_frame(frame, len, len * 7 + qp);
	head = fe_rx_post(&t->fe, vqi, len + hl, 1, false);
	CHECK(head >= 0, "post");
	m = mk_mbuf(t_mp, frame, len);
	CHECK(m != NULL, "mbuf");
	CHECK(vhu_enqueue_burst(t->dev, qp, &m, 1) == 1, "qp %u: enqueue", qp);
	rte_pktmbuf_free(m);
	CHECK(fe_used_get(v, &id, &ulen) == 1, "qp %u: no used entry", qp);
	CHECK(id == (uint32_t)head && ulen == len + hl, "qp %u: used {%u,%u}",
		qp, id, ulen);
	TRY(fe_rx_read(&t->fe, vqi, (uint16_t)head, got, ulen));
	CHECK(h->flags == 0 && h->gso_type == 0 && h->num_buffers == 1,
		"qp %u: header", qp);
	CHECK(memcmp(got + hl, frame, len) == 0, "qp %u: content", qp);
	return 0;
}

int
only_faulted_session_ends(struct tb *a, struct tb *b)
{
	uint64_t t0 = now_ms();

	while (vhu_connected(a->dev) && now_ms() - t0 < 2000)
		msleep(5);
	CHECK(!vhu_connected(a->dev), "front-end a still connected");
	CHECK(vhu_connected(b->dev), "front-end b lost");
	TRY(tx_roundtrip(b, 0, 400));
	TRY(rx_roundtrip(b, 0, 500));
	tb_destroy(a);
	tb_destroy(b);
	return tb_check_fds(a);
}

bool t_packed;

/* A packed ring position after @p n chains of one descriptor each, with
 * its wrap counter (1 at the start, flipped at every lap). */
static uint32_t
pk_pos(const struct fe_vring *v, uint32_t n)
{
	return n % v->size | (((n / v->size) & 1) ? 0 : 0x8000u);
}

uint32_t
t_vring_base(const struct fe_vring *v, uint32_t avail, uint32_t used)
{
	if (!v->packed)
		return (uint16_t)avail;
	return pk_pos(v, avail) | pk_pos(v, used) << 16;
}

/* ---- main ---- */

#define CASE(name) { #name, case_ ## name },
static const struct {
	const char *name;
	int (*fn)(void);
} cases[] = {
	VHU_CASES(CASE)
};

static void
rm_tmpdir(void)
{
	char cmd[160];

	if (tmpdir[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
}

static bool
hugepages_available(unsigned int need)
{
	FILE *f = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages",
		"r");
	unsigned int n = 0;

	if (f == NULL)
		return false;
	if (fscanf(f, "%u", &n) != 1)
		n = 0;
	fclose(f);
	return n >= need && access("/dev/hugepages", W_OK) == 0;
}

static int
run_case(unsigned int i)
{
	uint64_t t0 = now_ms();
	int rc;

	printf("--- %s\n", cases[i].name);
	fflush(stdout);
	rc = cases[i].fn();
	printf("%s %s (%lu ms)\n", rc == 0 ? "PASS" : "FAIL", cases[i].name,
		(unsigned long)(now_ms() - t0));
	fflush(stdout);
	return rc;
}

int
main(int argc, char **argv)
{
	char prefix[64], *eal[16];
	bool huge;
	int n = 0, rc = 0;
	unsigned int i;

	if (argc == 3 && strcmp(argv[2], "packed") == 0) {
		t_packed = true;	/* the case again, on packed rings */
		argc--;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: %s <case>|all|--list [packed]\n",
			argv[0]);
		return 2;
	}
	if (strcmp(argv[1], "--list") == 0) {
		for (i = 0; i < RTE_DIM(cases); i++)
			printf("%s\n", cases[i].name);
		return 0;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/vhu-test-XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	atexit(rm_tmpdir);

	/* VHU_TEST_NO_HUGE=1: EAL without hugepages (valgrind cannot
	 * reserve EAL's hugepage address space). */
	huge = getenv("VHU_TEST_NO_HUGE") == NULL && hugepages_available(48);
	eal[n++] = argv[0];
	if (huge) {
		eal[n++] = (char *)"--in-memory";
	} else {
		snprintf(prefix, sizeof(prefix), "--file-prefix=vhu-test-%d",
			(int)getpid());
		eal[n++] = (char *)"--no-huge";
		eal[n++] = (char *)"--no-shconf";
		eal[n++] = prefix;
	}
	eal[n++] = (char *)"-m";
	eal[n++] = (char *)"64";
	eal[n++] = (char *)"--no-pci";
	eal[n++] = (char *)"--no-telemetry";
	eal[n++] = (char *)"-l";
	eal[n++] = (char *)"0,1";
	eal[n++] = (char *)"--log-level=lib.eal:error";
	if (rte_eal_init(n, eal) < 0) {
		fprintf(stderr, "EAL init failed\n");
		return 1;
	}
	t_mp = rte_pktmbuf_pool_create("vhu_t", 4095, 0, 0,
		RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	t_mp_small = rte_pktmbuf_pool_create("vhu_ts", 1023, 0, 0,
		256 + RTE_PKTMBUF_HEADROOM, SOCKET_ID_ANY);
	if (t_mp == NULL || t_mp_small == NULL) {
		fprintf(stderr, "mempool: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	printf("guest memory: %s, EAL memory: %s\n",
		hugepages_available(8) ? "hugetlbfs" : "memfd",
		huge ? "hugepages (in-memory)" : "no-huge");

	if (strcmp(argv[1], "all") == 0) {
		unsigned int fails = 0;

		for (i = 0; i < RTE_DIM(cases); i++)
			fails += run_case(i) != 0;
		printf("%u/%zu cases failed\n", fails, RTE_DIM(cases));
		rc = fails != 0;
	} else {
		for (i = 0; i < RTE_DIM(cases); i++)
			if (strcmp(cases[i].name, argv[1]) == 0)
				break;
		if (i == RTE_DIM(cases)) {
			fprintf(stderr, "unknown case %s\n", argv[1]);
			rc = 2;
		} else {
			rc = run_case(i) != 0;
		}
	}
	rte_mempool_free(t_mp);
	rte_mempool_free(t_mp_small);
	rte_eal_cleanup();
	if (!huge) {
		char cmd[160];

		snprintf(cmd, sizeof(cmd), "rm -rf /var/run/dpdk/vhu-test-%d",
			(int)getpid());
		if (system(cmd) != 0)
			fprintf(stderr, "could not clean the EAL runtime dir\n");
	}
	return rc;
}
