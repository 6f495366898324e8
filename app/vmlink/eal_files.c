/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * What a primary EAL process leaves behind on exit: DPDK 22.11 keeps its
 * runtime directory (/var/run/dpdk/<prefix>: config, fbarray files,
 * hugepage_info) and its hugepage files (<prefix>map_N on hugetlbfs,
 * each holding a reserved page) so that a later process may reuse them.
 * A host that starts vmlink under many prefixes runs out of hugepages that
 * way. vmlink keeps them while it runs (secondary processes such as
 * dpdk-dumpcap map them) and removes them once EAL has let go.
 *
 * Only files nobody uses are removed: EAL holds a shared lock on each
 * hugepage file it maps and a write lock on the runtime config, so a file
 * we can lock exclusively is no other process's.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mntent.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <rte_eal.h>

#include "vmlink.h"

static char runtime_dir[PATH_MAX];
static char file_prefix[PATH_MAX];

void
eal_files_note(void)
{
	const char *dir = rte_eal_get_runtime_dir();
	const char *base;

	runtime_dir[0] = file_prefix[0] = '\0';
	if (dir == NULL || dir[0] == '\0')
		return;
	base = strrchr(dir, '/');
	base = base != NULL ? base + 1 : dir;
	snprintf(runtime_dir, sizeof(runtime_dir), "%s", dir);
	snprintf(file_prefix, sizeof(file_prefix), "%s", base);
}

/* Unlink DIR/NAME if no process holds a lock on it. */
static int
unlink_unlocked(int dirfd, const char *name, bool posix_lock)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	int fd, ret = -1;

	fd = openat(dirfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (posix_lock ? fcntl(fd, F_SETLK, &fl) == 0 :
			flock(fd, LOCK_EX | LOCK_NB) == 0)
		ret = unlinkat(dirfd, name, 0);
	close(fd);
	return ret;
}

static unsigned int
remove_hugepage_files(const char *mount, const char *prefix)
{
	size_t plen = strlen(prefix);
	unsigned int n = 0;
	struct dirent *de;
	DIR *d;

	d = opendir(mount);
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		/* <prefix>map_<N>: EAL's name for its hugepage files */
		if (strncmp(de->d_name, prefix, plen) != 0 ||
				strncmp(de->d_name + plen, "map_", 4) != 0)
			continue;
		if (unlink_unlocked(dirfd(d), de->d_name, false) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* The runtime directory, unless a primary process (holding the config
 * lock) lives in it again. */
static void
remove_runtime_dir(const char *path)
{
	struct dirent *de;
	DIR *d;

	d = opendir(path);
	if (d == NULL)
		return;
	if (unlink_unlocked(dirfd(d), "config", true) != 0 &&
			faccessat(dirfd(d), "config", F_OK, 0) == 0) {
		closedir(d);
		return;
	}
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	rmdir(path);
}

void
eal_files_remove(void)
{
	struct mntent *m;
	FILE *mounts;

	if (file_prefix[0] == '\0')
		return;
	mounts = setmntent("/proc/mounts", "r");
	if (mounts != NULL) {
		while ((m = getmntent(mounts)) != NULL)
			if (strcmp(m->mnt_type, "hugetlbfs") == 0)
				remove_hugepage_files(m->mnt_dir, file_prefix);
		endmntent(mounts);
	}
	remove_runtime_dir(runtime_dir);
}
