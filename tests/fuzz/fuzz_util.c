/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 */

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include <rte_eal.h>
#include <rte_log.h>

#include "fuzz_util.h"

void
fz_bytes(struct fz *f, void *dst, size_t len)
{
	size_t k = len < f->n ? len : f->n;

	memcpy(dst, f->p, k);
	memset((uint8_t *)dst + k, 0, len - k);
	f->p += k;
	f->n -= k;
}

void
fz_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FUZZ CHECK FAILED: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* The entries of /proc/self/fd but "." and "..", read again from the
 * start through DFD; -1 if DFD cannot be read. */
static int
count_dir_entries(int dfd)
{
	static char buf[16384] __attribute__((aligned(8)));
	int n = 0;
	ssize_t len, off;

	if (lseek(dfd, 0, SEEK_SET) != 0)
		return -1;
	while ((len = getdents64(dfd, buf, sizeof(buf))) > 0) {
		for (off = 0; off < len; ) {
			const struct dirent64 *e =
				(const struct dirent64 *)(buf + off);

			if (e->d_name[0] != '.')
				n++;
			off += e->d_reclen;
		}
	}
	return len < 0 ? -1 : n;
}

/* Counted through one fd of /proc/self/fd kept open (opening it, and the
 * buffer opendir allocates, cost more than the count for every input). */
int
fz_count_fds(void)
{
	static int dfd = -1;
	int n = dfd >= 0 ? count_dir_entries(dfd) : -1;

	if (n < 0) {	/* first call, or the code under test closed it */
		dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY |
			O_CLOEXEC);
		if (dfd < 0 || (n = count_dir_entries(dfd)) < 0)
			fz_fail("cannot read /proc/self/fd");
	}
	return n - 1;	/* the directory's own fd */
}

int
fz_count_maps(const char *needle)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	if (f == NULL)
		fz_fail("cannot open /proc/self/maps");
	while (fgets(line, sizeof(line), f) != NULL)
		if (needle == NULL || strstr(line, needle) != NULL)
			n++;
	fclose(f);
	return n;
}

/* ---- mappings of the code under test, tracked at the call ---- */

/*
 * The link wraps mmap, mmap64, munmap and mremap (-Wl,--wrap=...) for
 * every object in the harness binary: __wrap_X is called instead of X and
 * __real_X is the libc (or sanitizer) function. The set of page ranges
 * those calls left mapped is kept here, anonymous mappings included. The
 * SIGBUS guard of lib/vhost_user maps from a signal handler: the lock is
 * a spinlock and nothing here allocates.
 */
#define FZ_RANGES_MAX	4096

struct fz_range {
	uintptr_t start, end;
};

static struct fz_range ranges[FZ_RANGES_MAX];
static unsigned int nranges;
static bool ranges_overflow;
static int ranges_lock;
/* The set when the input began, sorted and merged. */
static struct fz_range snap[FZ_RANGES_MAX];
static unsigned int nsnap;

void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd,
	off_t off);
void *__real_mmap64(void *addr, size_t len, int prot, int flags, int fd,
	off_t off);
int __real_munmap(void *addr, size_t len);
void *__real_mremap(void *old, size_t old_len, size_t new_len, int flags,
	...);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd,
	off_t off);
void *__wrap_mmap64(void *addr, size_t len, int prot, int flags, int fd,
	off_t off);
int __wrap_munmap(void *addr, size_t len);
void *__wrap_mremap(void *old, size_t old_len, size_t new_len, int flags,
	...);

static void
ranges_acquire(void)
{
	while (__atomic_exchange_n(&ranges_lock, 1, __ATOMIC_ACQUIRE))
		;
}

static void
ranges_release(void)
{
	__atomic_store_n(&ranges_lock, 0, __ATOMIC_RELEASE);
}

static uintptr_t
page_end(uintptr_t start, size_t len)
{
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);

	return (start + len + pg - 1) & ~(pg - 1);
}

static void
ranges_append(uintptr_t start, uintptr_t end)
{
	if (nranges == FZ_RANGES_MAX) {
		ranges_overflow = true;
		return;
	}
	ranges[nranges].start = start;
	ranges[nranges].end = end;
	nranges++;
}

/* Forget [start, end): what the kernel unmaps (or replaces). */
static void
ranges_cut(uintptr_t start, uintptr_t end)
{
	unsigned int i = 0;

	while (i < nranges) {
		struct fz_range r = ranges[i];

		if (r.end <= start || end <= r.start) {
			i++;
			continue;
		}
		ranges[i] = ranges[--nranges];
		if (r.start < start)
			ranges_append(r.start, start);
		if (end < r.end)
			ranges_append(end, r.end);
	}
}

static void
ranges_map(void *p, size_t len)
{
	uintptr_t start = (uintptr_t)p;

	if (p == MAP_FAILED)
		return;
	ranges_acquire();
	ranges_cut(start, page_end(start, len));	/* MAP_FIXED */
	ranges_append(start, page_end(start, len));
	ranges_release();
}

void *
__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = __real_mmap(addr, len, prot, flags, fd, off);

	ranges_map(p, len);
	return p;
}

void *
__wrap_mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = __real_mmap64(addr, len, prot, flags, fd, off);

	ranges_map(p, len);
	return p;
}

int
__wrap_munmap(void *addr, size_t len)
{
	int r = __real_munmap(addr, len);

	if (r == 0) {
		ranges_acquire();
		ranges_cut((uintptr_t)addr, page_end((uintptr_t)addr, len));
		ranges_release();
	}
	return r;
}

void *
__wrap_mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	void *new_addr = NULL, *p;
	va_list ap;

	if (flags & MREMAP_FIXED) {
		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	p = __real_mremap(old, old_len, new_len, flags, new_addr);
	if (p != MAP_FAILED) {
		ranges_acquire();
		if (!(flags & MREMAP_DONTUNMAP))
			ranges_cut((uintptr_t)old,
				page_end((uintptr_t)old, old_len));
		ranges_cut((uintptr_t)p, page_end((uintptr_t)p, new_len));
		ranges_append((uintptr_t)p, page_end((uintptr_t)p, new_len));
		ranges_release();
	}
	return p;
}

static int
range_cmp(const void *a, const void *b)
{
	const struct fz_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* The tracked set, sorted, adjacent ranges merged, into OUT. */
static unsigned int
ranges_copy(struct fz_range *out)
{
	unsigned int i, n = 0;

	ranges_acquire();
	if (ranges_overflow) {
		ranges_release();
		fz_fail("more than %u mappings tracked", FZ_RANGES_MAX);
	}
	memcpy(out, ranges, nranges * sizeof(*out));
	n = nranges;
	ranges_release();
	qsort(out, n, sizeof(*out), range_cmp);
	for (i = 0; i < n; i++) {
		if (i > 0 && out[i].start == out[i - 1].end) {
			out[i - 1].end = out[i].end;
			memmove(&out[i], &out[i + 1], (n - i - 1) * sizeof(*out));
			n--;
			i--;
		}
	}
	return n;
}

static bool
ranges_same(struct fz_range *now, unsigned int *n)
{
	*n = ranges_copy(now);
	return *n == nsnap && memcmp(now, snap, *n * sizeof(*now)) == 0;
}

static void
ranges_check(void)
{
	static struct fz_range now[FZ_RANGES_MAX];
	unsigned int n, i;

	if (ranges_same(now, &n))
		return;
	fprintf(stderr, "mappings before the input:\n");
	for (i = 0; i < nsnap; i++)
		fprintf(stderr, "  %#lx-%#lx\n", (unsigned long)snap[i].start,
			(unsigned long)snap[i].end);
	fprintf(stderr, "mappings after the input:\n");
	for (i = 0; i < n; i++)
		fprintf(stderr, "  %#lx-%#lx\n", (unsigned long)now[i].start,
			(unsigned long)now[i].end);
	fz_fail("mapping leak: the code under test left %u range(s) mapped "
		"where %u were before the input", n, nsnap);
}

/* ---- the leak checks around an input ---- */

static const char *full_needle;
static int full_base = -1;
static unsigned long full_runs;

void
fz_leaks_begin(struct fz_leaks *l, const char *map_needle)
{
	l->needle = map_needle;
	l->fds = fz_count_fds();
	if (map_needle == NULL)
		return;
	nsnap = ranges_copy(snap);
	/* The /proc/self/maps baseline is the first input's: an input
	 * that ends with more mappings than it started with fails. */
	if (full_base < 0 || full_needle != map_needle) {
		full_base = fz_count_maps(map_needle);
		full_needle = map_needle;
	}
}

bool
fz_leaks_settled(const struct fz_leaks *l)
{
	static struct fz_range now[FZ_RANGES_MAX];
	unsigned int n;

	if (fz_count_fds() != l->fds)
		return false;
	return l->needle == NULL || ranges_same(now, &n);
}

void
fz_leaks_end(const struct fz_leaks *l)
{
	int fds = fz_count_fds();

	if (fds != l->fds)
		fz_fail("fd leak: %d open before the input, %d after", l->fds,
			fds);
	if (l->needle == NULL)
		return;
	ranges_check();
	if (full_runs++ % FZ_MAPS_FULL_EVERY == 0) {
		int maps = fz_count_maps(l->needle);

		if (maps != full_base)
			fz_fail("mapping leak: %d mappings of '%s' in "
				"/proc/self/maps at the first input, %d now "
				"(this input or one of the %d before it)",
				full_base, l->needle, maps,
				FZ_MAPS_FULL_EVERY - 1);
	}
}

static char tmpdir[64];

static void
rm_tmpdir(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char p[256];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", tmpdir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(tmpdir);
}

const char *
fz_tmpdir(void)
{
	if (tmpdir[0] == '\0') {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/vmlink-fuzz-XXXXXX");
		if (mkdtemp(tmpdir) == NULL)
			fz_fail("mkdtemp");
		atexit(rm_tmpdir);
	}
	return tmpdir;
}

/*
 * "--lcores=0@(CPUS)": lcore 0 on the CPUs this thread may run on (as
 * ranges); "--lcores=0" (what "-l 0" was) if they cannot be read or do
 * not fit in BUF. "-l 0" pinned the harness's thread to CPU 0 and EAL's
 * control threads (the libraries' too: rte_ctrl_thread_create) to the
 * other CPUs, so that every round trip between a harness and a library's
 * control thread was a wake-up across CPUs, several times the cost of
 * one on the same CPU in a virtual machine, and `taskset -c N` could not
 * keep a fuzzer on one core. Now all of them get the CPUs the process was
 * given: vmlink-fuzz gives it one, so both sides of a round trip share it
 * (left to float over two CPUs, they still woke each other across CPUs:
 * a third of the executions a second).
 */
static void
lcores_arg(char *buf, size_t len)
{
	cpu_set_t set;
	size_t off;
	int c, first = -1, n;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		goto fallback;
	off = (size_t)snprintf(buf, len, "--lcores=0@(");
	for (c = 0; c <= CPU_SETSIZE; c++) {
		bool in = c < CPU_SETSIZE && CPU_ISSET(c, &set);

		if (in && first < 0)
			first = c;
		if (in || first < 0)
			continue;
		n = c - 1 == first ?
			snprintf(buf + off, len - off, "%s%d",
				buf[off - 1] == '(' ? "" : ",", first) :
			snprintf(buf + off, len - off, "%s%d-%d",
				buf[off - 1] == '(' ? "" : ",", first, c - 1);
		if (n < 0 || (size_t)n >= len - off)
			goto fallback;
		off += (size_t)n;
		first = -1;
	}
	if (buf[off - 1] == '(' || off + 2 > len)
		goto fallback;
	buf[off++] = ')';
	buf[off] = '\0';
	return;
fallback:
	snprintf(buf, len, "--lcores=0");
}

void
fz_eal_init(const char *prog)
{
	char prefix[64], lcores[256];
	char *argv[16];
	int argc = 0;

	snprintf(prefix, sizeof(prefix), "--file-prefix=vmlink-fuzz-%d",
		(int)getpid());
	lcores_arg(lcores, sizeof(lcores));
	/* libFuzzer's own flags (-runs=, -max_total_time=, ...) are not
	 * EAL's: EAL gets only these. */
	argv[argc++] = (char *)(uintptr_t)prog;
	argv[argc++] = (char *)(uintptr_t)"--no-huge";
	argv[argc++] = (char *)(uintptr_t)"--no-shconf";
	argv[argc++] = prefix;
	argv[argc++] = (char *)(uintptr_t)"-m";
	argv[argc++] = (char *)(uintptr_t)"256";
	argv[argc++] = (char *)(uintptr_t)"--no-pci";
	argv[argc++] = (char *)(uintptr_t)"--no-telemetry";
	argv[argc++] = lcores;
	argv[argc++] = (char *)(uintptr_t)"--log-level=1";
	argv[argc] = NULL;
	if (rte_eal_init(argc, argv) < 0) {
		fprintf(stderr, "EAL init failed\n");
		exit(1);
	}
	/* Hostile inputs make the libraries log at every step: keep the
	 * fuzzer's output readable (VMLINK_FUZZ_LOG=1 shows them). */
	if (getenv("VMLINK_FUZZ_LOG") == NULL)
		rte_log_set_global_level(RTE_LOG_EMERG);
	else {
		rte_log_set_global_level(RTE_LOG_DEBUG);
		rte_log_set_level_pattern("*", RTE_LOG_DEBUG);
	}
}
