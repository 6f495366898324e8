/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * Helpers shared by the libFuzzer harnesses: a reader that takes typed
 * values from the fuzz input (zeros once it runs out), the leak checks
 * every harness makes around each input (fds, mappings), a private temp
 * directory and EAL start-up.
 */

#ifndef VMLINK_FUZZ_UTIL_H
#define VMLINK_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The fuzz input, consumed front to back. */
struct fz {
	const uint8_t *p;
	size_t n;
};

static inline bool
fz_empty(const struct fz *f)
{
	return f->n == 0;
}

static inline uint8_t
fz_u8(struct fz *f)
{
	uint8_t v = 0;

	if (f->n > 0) {
		v = *f->p++;
		f->n--;
	}
	return v;
}

static inline uint16_t
fz_u16(struct fz *f)
{
	return (uint16_t)(fz_u8(f) | (uint16_t)fz_u8(f) << 8);
}

static inline uint32_t
fz_u32(struct fz *f)
{
	return (uint32_t)fz_u16(f) | (uint32_t)fz_u16(f) << 16;
}

static inline uint64_t
fz_u64(struct fz *f)
{
	return (uint64_t)fz_u32(f) | (uint64_t)fz_u32(f) << 32;
}

/* Copy up to LEN bytes (zero-filled when the input is short). */
void fz_bytes(struct fz *f, void *dst, size_t len);

/* Die with a message (abort: libFuzzer records the input). */
void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2),
	noreturn));

#define FZ_CHECK(cond) do { \
	if (!(cond)) \
		fz_fail("%s:%d: check '%s' failed", __FILE__, __LINE__, #cond); \
} while (0)

/* Open fds of the process, and mappings whose line in /proc/self/maps
 * contains NEEDLE (all when NULL). */
int fz_count_fds(void);
int fz_count_maps(const char *needle);

/*
 * The leak checks around each input. fds: the process's open fds, counted
 * before and after. Mappings (when MAP_NEEDLE is not NULL): every mmap,
 * munmap and mremap made by the code linked into the harness (the
 * libraries under test, the test front-end, the harness itself; the link
 * wraps those calls, see meson.build) is tracked page-exactly, and the
 * set of address ranges they leave mapped must be the same after the
 * input as before it. Mappings made elsewhere (DPDK's shared libraries)
 * are caught by a count of the /proc/self/maps lines containing
 * MAP_NEEDLE, compared with the first input's every FZ_MAPS_FULL_EVERY
 * inputs (reading that file costs more than most inputs under ASan).
 */
#define FZ_MAPS_FULL_EVERY	256

struct fz_leaks {
	int fds;
	const char *needle;
};
void fz_leaks_begin(struct fz_leaks *l, const char *map_needle);
/* The fds and tracked mappings are back to what they were when the input
 * began (for a harness that waits for asynchronous releases before it
 * calls fz_leaks_end). */
bool fz_leaks_settled(const struct fz_leaks *l);
void fz_leaks_end(const struct fz_leaks *l);

/* A private directory for sockets and files, removed at exit. */
const char *fz_tmpdir(void);

/* EAL for harnesses that need mbufs: no hugepages, no shared files,
 * quiet logs. Exits on failure. */
void fz_eal_init(const char *prog);

#endif /* VMLINK_FUZZ_UTIL_H */
