/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest memory: mapping region fds, immutable memory tables with sorted
 * lookup arrays, and the dirty log.
 */

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vhu_internal.h"

static uint64_t
map_alignment(const struct stat *st)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint64_t a = (uint64_t)st->st_blksize;

	if (pg <= 0)
		pg = 4096;
	/* hugetlbfs reports its huge page size as the block size. */
	if (a < (uint64_t)pg || (a & (a - 1)) != 0 || a > (1ull << 30))
		a = (uint64_t)pg;
	return a;
}

/* Map [offset, offset + size) of @p fd; returns the host address of offset. */
static uint8_t *
map_fd_range(int fd, uint64_t offset, uint64_t size, void **map_addr,
	size_t *map_len, const char **why)
{
	struct stat st;
	uint64_t align, start, end;
	void *addr;

	if (fstat(fd, &st) != 0) {
		*why = "fstat failed on the fd";
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		*why = "fd is not a regular file (memfd, hugetlbfs or shm)";
		return NULL;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size < offset + size) {
		*why = "file behind the fd is smaller than offset + size";
		return NULL;
	}
	align = map_alignment(&st);
	start = offset & ~(align - 1);
	end = offset + size;
	if (end + (align - 1) < end) {
		*why = "size overflows";
		return NULL;
	}
	end = (end + align - 1) & ~(align - 1);
	if (end - start > SIZE_MAX) {
		*why = "region too large";
		return NULL;
	}
	addr = mmap(NULL, (size_t)(end - start), PROT_READ | PROT_WRITE,
		MAP_SHARED, fd, (off_t)start);
	if (addr == MAP_FAILED) {
		*why = "mmap failed";
		return NULL;
	}
	(void)madvise(addr, (size_t)(end - start), MADV_DONTDUMP);
	*map_addr = addr;
	*map_len = (size_t)(end - start);
	return (uint8_t *)addr + (offset - start);
}

/* ---- containing faults of guest memory (SIGBUS) ---- */

/*
 * fstat() at map time only proves the file was large enough then: a
 * front-end can truncate a region's (or the log's) file afterwards, and
 * the next access past the new end raises SIGBUS, which would kill the
 * process and every other VM's port with it. Sealed memfds (F_SEAL_SHRINK)
 * cannot shrink, but hugetlbfs files and unsealed memfds can, so the
 * library guards every mapping it makes of a front-end's fd instead:
 *
 * - each mapping is entered in a process-wide table (start, length, the
 *   owning device's fault flag);
 * - a SIGBUS handler, installed with the first device, looks the faulting
 *   address up; for a guarded mapping it replaces the whole mapping with
 *   private zero pages (mmap MAP_FIXED, async-signal-safe), sets the
 *   device's flag and returns: the access is retried and succeeds on the
 *   zero pages, whichever thread made it (data path, control thread, an
 *   application reading a zero-copy mbuf);
 * - the device's control thread sees the flag at its next tick and ends
 *   the session (the front-end is disconnected, its memory unmapped).
 * A SIGBUS anywhere else goes to the handler that was installed before,
 * or to the default action.
 *
 * The data path pays nothing: no check and no instruction is added to it.
 */
#define GUARD_SLOTS 4096

struct guard_slot {
	uintptr_t start;	/* atomic: 0 = free */
	size_t len;
	uint32_t *fault;	/* the device's flag */
	uint32_t busy;		/* atomic: the handler is using the slot */
};

static struct guard_slot guard_tab[GUARD_SLOTS];
static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction guard_prev;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;

static void
guard_chain(int sig, siginfo_t *si, void *uc)
{
	if (guard_prev.sa_flags & SA_SIGINFO) {
		if (guard_prev.sa_sigaction != NULL) {
			guard_prev.sa_sigaction(sig, si, uc);
			return;
		}
	} else if (guard_prev.sa_handler != SIG_DFL &&
			guard_prev.sa_handler != SIG_IGN) {
		guard_prev.sa_handler(sig);
		return;
	}
	/* Default action: re-raised by the access when we return. */
	signal(SIGBUS, SIG_DFL);
}

static void
guard_handler(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	int saved = errno;
	unsigned int i;

	for (i = 0; i < GUARD_SLOTS; i++) {
		struct guard_slot *g = &guard_tab[i];
		uintptr_t start = __atomic_load_n(&g->start, __ATOMIC_ACQUIRE);

		if (start == 0 || a - start >= g->len)
			continue;
		__atomic_add_fetch(&g->busy, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&g->start, __ATOMIC_SEQ_CST) == start) {
			void *p = mmap((void *)start, g->len,
				PROT_READ | PROT_WRITE, MAP_PRIVATE |
				MAP_ANONYMOUS | MAP_FIXED, -1, 0);

			__atomic_store_n(g->fault, 1, __ATOMIC_RELEASE);
			__atomic_sub_fetch(&g->busy, 1, __ATOMIC_SEQ_CST);
			if (p != MAP_FAILED) {
				errno = saved;
				return;		/* the access is retried */
			}
			break;
		}
		__atomic_sub_fetch(&g->busy, 1, __ATOMIC_SEQ_CST);
	}
	errno = saved;
	guard_chain(sig, si, uc);
}

static void
guard_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = guard_handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &guard_prev);
}

void
vhu_guard_init(void)
{
	pthread_once(&guard_once, guard_install);
}

/* Enter [addr, addr + len) in the table; false when it is full (the
 * mapping is then refused: an unguarded mapping could kill the process). */
static bool
guard_add(void *addr, size_t len, uint32_t *fault)
{
	unsigned int i;
	bool ok = false;

	pthread_mutex_lock(&guard_lock);
	for (i = 0; i < GUARD_SLOTS; i++) {
		struct guard_slot *g = &guard_tab[i];

		if (__atomic_load_n(&g->start, __ATOMIC_RELAXED) != 0)
			continue;
		g->len = len;
		g->fault = fault;
		__atomic_store_n(&g->start, (uintptr_t)addr, __ATOMIC_RELEASE);
		ok = true;
		break;
	}
	pthread_mutex_unlock(&guard_lock);
	return ok;
}

/* Remove the entry of ADDR, waiting for a handler still using it, before
 * the caller unmaps it. */
static void
guard_del(void *addr)
{
	unsigned int i;

	pthread_mutex_lock(&guard_lock);
	for (i = 0; i < GUARD_SLOTS; i++) {
		struct guard_slot *g = &guard_tab[i];

		if (__atomic_load_n(&g->start, __ATOMIC_RELAXED) !=
				(uintptr_t)addr)
			continue;
		__atomic_store_n(&g->start, 0, __ATOMIC_SEQ_CST);
		while (__atomic_load_n(&g->busy, __ATOMIC_SEQ_CST) != 0)
			sched_yield();
		break;
	}
	pthread_mutex_unlock(&guard_lock);
}

/* Map a front-end's fd range (map_fd_range) and guard it. */
static uint8_t *
map_guarded(int fd, uint64_t offset, uint64_t size, void **map_addr,
	size_t *map_len, uint32_t *fault, const char **why)
{
	uint8_t *p = map_fd_range(fd, offset, size, map_addr, map_len, why);

	if (p != NULL && !guard_add(*map_addr, *map_len, fault)) {
		munmap(*map_addr, *map_len);
		*why = "too many guest memory mappings in this process";
		return NULL;
	}
	return p;
}

static void
unmap_guarded(void *addr, size_t len)
{
	guard_del(addr);
	munmap(addr, len);
}

uint8_t *
vhu_fd_map(struct vhu_dev *dev, int fd, uint64_t offset, uint64_t size,
	void **map_addr, size_t *map_len, const char **why)
{
	if (offset + size < offset) {
		*why = "offset + size overflows";
		return NULL;
	}
	return map_guarded(fd, offset, size, map_addr, map_len,
		&dev->mem_fault, why);
}

void
vhu_fd_unmap(void *map_addr, size_t map_len)
{
	unmap_guarded(map_addr, map_len);
}

struct vhu_region *
vhu_region_map(struct vhu_dev *dev, const struct vhu_mem_region_desc *d,
	int fd, const char **why)
{
	struct vhu_region *r;

	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		*why = "out of memory";
		return NULL;
	}
	r->gpa = d->gpa;
	r->size = d->size;
	r->qva = d->qva;
	r->mmap_offset = d->mmap_offset;
	r->hva = map_guarded(fd, d->mmap_offset, d->size, &r->map_addr,
		&r->map_len, &dev->mem_fault, why);
	if (r->hva == NULL) {
		free(r);
		return NULL;
	}
	return r;
}

void
vhu_region_unref(struct vhu_region *r)
{
	if (r == NULL || --r->refs > 0)
		return;
	unmap_guarded(r->map_addr, r->map_len);
	free(r);
}

static bool
ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	/* Both ranges are known not to wrap. */
	return a < b + blen && b < a + alen;
}

int
vhu_region_check_new(const struct vhu_memtab *mt,
	struct vhu_mem_region_desc *const *d, uint32_t n, const char **why)
{
	uint32_t i, j;

	for (i = 0; i < n; i++) {
		const struct vhu_mem_region_desc *a = d[i];

		if (a->size == 0) {
			*why = "region of size 0";
			return -1;
		}
		if (a->gpa + a->size < a->gpa || a->qva + a->size < a->qva ||
				a->mmap_offset + a->size < a->mmap_offset) {
			*why = "region address + size overflows";
			return -1;
		}
		for (j = 0; j < i; j++) {
			if (ranges_overlap(a->gpa, a->size, d[j]->gpa,
					d[j]->size)) {
				*why = "regions overlap in guest physical space";
				return -1;
			}
			if (ranges_overlap(a->qva, a->size, d[j]->qva,
					d[j]->size)) {
				*why = "regions overlap in front-end address space";
				return -1;
			}
		}
		for (j = 0; mt != NULL && j < mt->n; j++) {
			const struct vhu_region *r = mt->regions[j];

			if (ranges_overlap(a->gpa, a->size, r->gpa, r->size)) {
				*why = "region overlaps a mapped region (guest physical)";
				return -1;
			}
			if (ranges_overlap(a->qva, a->size, r->qva, r->size)) {
				*why = "region overlaps a mapped region (front-end address)";
				return -1;
			}
		}
	}
	return 0;
}

static int
cmp_region_gpa(const void *a, const void *b)
{
	const struct vhu_region *ra = *(const struct vhu_region *const *)a;
	const struct vhu_region *rb = *(const struct vhu_region *const *)b;

	return ra->gpa < rb->gpa ? -1 : ra->gpa > rb->gpa;
}

static int
cmp_seg_start(const void *a, const void *b)
{
	const struct vhu_memseg *sa = a;
	const struct vhu_memseg *sb = b;

	return sa->start < sb->start ? -1 : sa->start > sb->start;
}

struct vhu_memtab *
vhu_memtab_build(struct vhu_dev *dev, struct vhu_region **regions, uint32_t n)
{
	struct vhu_memtab *mt;
	uint32_t i;

	RTE_SET_USED(dev);
	mt = calloc(1, sizeof(*mt) + n * sizeof(mt->by_gpa[0]));
	if (mt == NULL)
		return NULL;
	mt->regions = calloc(n ? n : 1, sizeof(*mt->regions));
	mt->by_qva = calloc(n ? n : 1, sizeof(*mt->by_qva));
	if (mt->regions == NULL || mt->by_qva == NULL) {
		free(mt->regions);
		free(mt->by_qva);
		free(mt);
		return NULL;
	}
	mt->n = n;
	memcpy(mt->regions, regions, n * sizeof(*regions));
	qsort(mt->regions, n, sizeof(*mt->regions), cmp_region_gpa);
	for (i = 0; i < n; i++) {
		struct vhu_region *r = mt->regions[i];

		r->refs++;
		mt->by_gpa[i].start = r->gpa;
		mt->by_gpa[i].size = r->size;
		mt->by_gpa[i].hva = r->hva;
		mt->by_qva[i].start = r->qva;
		mt->by_qva[i].size = r->size;
		mt->by_qva[i].hva = r->hva;
	}
	qsort(mt->by_qva, n, sizeof(*mt->by_qva), cmp_seg_start);
	return mt;
}

void
vhu_memtab_put(struct vhu_dev *dev, struct vhu_memtab *mt)
{
	uint32_t i;

	RTE_SET_USED(dev);
	if (mt == NULL)
		return;
	for (i = 0; i < mt->n; i++)
		vhu_region_unref(mt->regions[i]);
	free(mt->regions);
	free(mt->by_qva);
	free(mt);
}

static const struct vhu_memseg *
seg_search(const struct vhu_memseg *segs, uint32_t n, uint64_t addr)
{
	uint32_t lo = 0, hi = n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct vhu_memseg *s = &segs[mid];

		if (addr < s->start)
			hi = mid;
		else if (addr - s->start >= s->size)
			lo = mid + 1;
		else
			return s;
	}
	return NULL;
}

void *
vhu_qva_to_hva(const struct vhu_memtab *mt, uint64_t qva, uint64_t len)
{
	const struct vhu_memseg *s;

	if (mt == NULL || len == 0)
		return NULL;
	s = seg_search(mt->by_qva, mt->n, qva);
	if (s == NULL || len > s->size - (qva - s->start))
		return NULL;
	return s->hva + (qva - s->start);
}

/* Guest physical address of front-end address @p qva (for the dirty log);
 * 0 when no region holds it. Control thread. */
uint64_t
vhu_qva_to_gpa(const struct vhu_memtab *mt, uint64_t qva)
{
	uint32_t i;

	for (i = 0; mt != NULL && i < mt->n; i++) {
		const struct vhu_region *r = mt->regions[i];

		if (qva - r->qva < r->size)
			return r->gpa + (qva - r->qva);
	}
	return 0;
}

void *
vhu_gpa_to_hva_contig(const struct vhu_memtab *mt, uint32_t *hint,
	uint64_t gpa, uint64_t len)
{
	const struct vhu_memseg *s;

	if (len == 0)
		return NULL;
	s = vhu_gpa_lookup(mt, hint, gpa);
	if (s == NULL || len > s->size - (gpa - s->start))
		return NULL;
	return s->hva + (gpa - s->start);
}

struct vhu_log *
vhu_log_map(struct vhu_dev *dev, int fd, uint64_t size, uint64_t offset,
	const char **why)
{
	struct vhu_log *log;

	if (size == 0) {
		*why = "log size 0";
		return NULL;
	}
	if (size > VHU_MAX_LOG_SIZE) {
		*why = "log larger than the library accepts";
		return NULL;
	}
	if (offset + size < offset) {
		*why = "log offset + size overflows";
		return NULL;
	}
	log = calloc(1, sizeof(*log));
	if (log == NULL) {
		*why = "out of memory";
		return NULL;
	}
	log->base = map_guarded(fd, offset, size, &log->map_addr,
		&log->map_len, &dev->mem_fault, why);
	if (log->base == NULL) {
		free(log);
		return NULL;
	}
	log->size = size;
	return log;
}

void
vhu_log_unmap(struct vhu_log *log)
{
	if (log == NULL)
		return;
	unmap_guarded(log->map_addr, log->map_len);
	free(log);
}
