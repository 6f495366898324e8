/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ivshm_guest_tool: pokes an ivshmem PCI device from inside a test guest,
 * through the sysfs resource files (the device bound to uio_pci_generic,
 * which enables its memory decoding). A static program: the test guest
 * has no libc of its own besides the DPDK runtime's.
 *
 *   ivshm_guest_tool BDF info
 *   ivshm_guest_tool BDF read32 BAR OFFSET
 *   ivshm_guest_tool BDF write32 BAR OFFSET VALUE
 *   ivshm_guest_tool BDF fill OFFSET LENGTH SEED
 *   ivshm_guest_tool BDF zero OFFSET LENGTH
 *   ivshm_guest_tool BDF garbage OFFSET LENGTH SECONDS SEED
 *   ivshm_guest_tool BDF flap OFFSET COUNT VALUE_A VALUE_B PEER
 *   ivshm_guest_tool BDF storm PEER VECTOR COUNT
 *
 * BAR 0 holds the ivshmem-doorbell registers (IVPosition at 08h, Doorbell
 * at 0Ch: peer << 16 | vector), BAR 2 the shared memory. fill writes
 * LENGTH pseudo-random bytes (xorshift64 from SEED) at BAR 2 + OFFSET;
 * zero writes zeros there; garbage does fill again and again for
 * SECONDS; flap writes VALUE_A and
 * VALUE_B in turn COUNT times to the u32 at BAR 2 + OFFSET, ringing
 * PEER's vector 0 (state change) after each; storm rings PEER's VECTOR
 * COUNT times. Each command prints one "key=value ..." line; exit 0, or 1
 * with a message on stderr.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REG_IVPOSITION 0x08
#define REG_DOORBELL 0x0c

struct bar {
	volatile uint8_t *base;
	size_t size;
};

static void
die(const char *fmt, const char *arg)
{
	fprintf(stderr, "ivshm_guest_tool: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	exit(1);
}

static uint64_t
number(const char *s, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || v > max)
		die("bad number: %s", s);
	return v;
}

static void
bar_map(const char *bdf, unsigned int idx, struct bar *bar)
{
	char path[PATH_MAX];
	struct stat st;
	long page = sysconf(_SC_PAGESIZE);
	size_t len;
	void *p;
	int fd;

	if (strchr(bdf, '/') != NULL)
		die("bad PCI address: %s", bdf);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource%u",
		 bdf, idx);
	fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size <= 0)
		die("cannot open %s", path);
	len = ((size_t)st.st_size + page - 1) & ~((size_t)page - 1);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		die("cannot map %s", path);
	bar->base = p;
	bar->size = st.st_size;
}

static void
check_range(const struct bar *bar, uint64_t off, uint64_t len)
{
	if (off > bar->size || len > bar->size - off)
		die("range outside the BAR (%s)", "offset + length");
}

static void
reg_write(struct bar *regs, uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(regs->base + off) = v;
}

static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void
fill(struct bar *mem, uint64_t off, uint64_t len, uint64_t *seed)
{
	uint64_t i, r;

	for (i = 0; i + 8 <= len; i += 8) {
		r = xorshift(seed);
		memcpy((void *)(uintptr_t)(mem->base + off + i), &r, 8);
	}
	for (r = xorshift(seed); i < len; i++, r >>= 8)
		mem->base[off + i] = (uint8_t)r;
}

static int
cmd_fill(const char *bdf, char **argv)
{
	struct bar mem;
	uint64_t off = number(argv[0], UINT64_MAX);
	uint64_t len = number(argv[1], UINT64_MAX);
	uint64_t seed = number(argv[2], UINT64_MAX) | 1;

	bar_map(bdf, 2, &mem);
	check_range(&mem, off, len);
	fill(&mem, off, len, &seed);
	printf("fill offset=%" PRIu64 " length=%" PRIu64 "\n", off, len);
	return 0;
}

static int
cmd_zero(const char *bdf, char **argv)
{
	struct bar mem;
	uint64_t off = number(argv[0], UINT64_MAX);
	uint64_t len = number(argv[1], UINT64_MAX);

	bar_map(bdf, 2, &mem);
	check_range(&mem, off, len);
	memset((void *)(uintptr_t)(mem.base + off), 0, len);
	printf("zero offset=%" PRIu64 " length=%" PRIu64 "\n", off, len);
	return 0;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
cmd_garbage(const char *bdf, char **argv)
{
	struct bar mem;
	uint64_t off = number(argv[0], UINT64_MAX);
	uint64_t len = number(argv[1], UINT64_MAX);
	double secs = (double)number(argv[2], 3600);
	uint64_t seed = number(argv[3], UINT64_MAX) | 1;
	uint64_t rounds = 0;
	double end;

	bar_map(bdf, 2, &mem);
	check_range(&mem, off, len);
	end = now() + secs;
	do {
		fill(&mem, off, len, &seed);
		rounds++;
	} while (now() < end);
	printf("garbage offset=%" PRIu64 " length=%" PRIu64 " rounds=%" PRIu64
	       "\n", off, len, rounds);
	return 0;
}

static int
cmd_flap(const char *bdf, char **argv)
{
	struct bar regs, mem;
	uint64_t off = number(argv[0], UINT64_MAX);
	uint64_t count = number(argv[1], UINT32_MAX);
	uint32_t v[2] = { (uint32_t)number(argv[2], UINT32_MAX),
			  (uint32_t)number(argv[3], UINT32_MAX) };
	uint32_t peer = (uint32_t)number(argv[4], UINT16_MAX);
	uint64_t i;

	bar_map(bdf, 0, &regs);
	bar_map(bdf, 2, &mem);
	check_range(&mem, off, 4);
	for (i = 0; i < count; i++) {
		*(volatile uint32_t *)(mem.base + off) = v[i & 1];
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		reg_write(&regs, REG_DOORBELL, peer << 16);
	}
	printf("flap offset=%" PRIu64 " count=%" PRIu64 "\n", off, count);
	return 0;
}

static int
cmd_storm(const char *bdf, char **argv)
{
	struct bar regs;
	uint32_t peer = (uint32_t)number(argv[0], UINT16_MAX);
	uint32_t vector = (uint32_t)number(argv[1], UINT16_MAX);
	uint64_t count = number(argv[2], UINT32_MAX);
	double t0;
	uint64_t i;

	bar_map(bdf, 0, &regs);
	t0 = now();
	for (i = 0; i < count; i++)
		reg_write(&regs, REG_DOORBELL, peer << 16 | vector);
	printf("storm peer=%u vector=%u count=%" PRIu64 " seconds=%.3f\n",
	       peer, vector, count, now() - t0);
	return 0;
}

static int
cmd_info(const char *bdf)
{
	struct bar regs, mem;

	bar_map(bdf, 0, &regs);
	bar_map(bdf, 2, &mem);
	printf("info ivposition=%u bar0=%zu bar2=%zu\n",
	       *(volatile uint32_t *)(regs.base + REG_IVPOSITION),
	       regs.size, mem.size);
	return 0;
}

static int
cmd_rw32(const char *bdf, char **argv, int write)
{
	struct bar bar;
	unsigned int idx = (unsigned int)number(argv[0], 5);
	uint64_t off = number(argv[1], UINT64_MAX);
	volatile uint32_t *p;

	bar_map(bdf, idx, &bar);
	check_range(&bar, off, 4);
	if (off % 4)
		die("unaligned offset %s", argv[1]);
	p = (volatile uint32_t *)(bar.base + off);
	if (write)
		*p = (uint32_t)number(argv[2], UINT32_MAX);
	printf("value=%#" PRIx32 "\n", *p);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int args;
	} cmds[] = {
		{ "info", 0 }, { "read32", 2 }, { "write32", 3 }, { "fill", 3 },
		{ "zero", 2 }, { "garbage", 4 }, { "flap", 5 }, { "storm", 3 },
	};
	const char *cmd = argc > 2 ? argv[2] : "";
	unsigned int i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmd, cmds[i].name) == 0)
			break;
	if (i == sizeof(cmds) / sizeof(cmds[0]) || argc != 3 + cmds[i].args) {
		fprintf(stderr, "usage: ivshm_guest_tool BDF info | read32 BAR "
			"OFF | write32 BAR OFF VALUE | fill OFF LEN SEED | "
			"zero OFF LEN | "
			"garbage OFF LEN SECONDS SEED | flap OFF COUNT A B PEER | "
			"storm PEER VECTOR COUNT\n");
		return 1;
	}
	if (strcmp(cmd, "info") == 0)
		return cmd_info(argv[1]);
	if (strcmp(cmd, "read32") == 0 || strcmp(cmd, "write32") == 0)
		return cmd_rw32(argv[1], argv + 3, cmd[0] == 'w');
	if (strcmp(cmd, "fill") == 0)
		return cmd_fill(argv[1], argv + 3);
	if (strcmp(cmd, "zero") == 0)
		return cmd_zero(argv[1], argv + 3);
	if (strcmp(cmd, "garbage") == 0)
		return cmd_garbage(argv[1], argv + 3);
	if (strcmp(cmd, "flap") == 0)
		return cmd_flap(argv[1], argv + 3);
	return cmd_storm(argv[1], argv + 3);
}
