/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * What a valid configuration asks of this host, checked before EAL starts
 * (and by --check, which touches no device): the lcores are CPUs of this
 * host and leave a worker, the sockets' directories exist, the JSON stats
 * file can be written. Each of these would otherwise surface only at run
 * time, some (the JSON file) only at exit, with the counters lost.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

struct check_ctx {
	const struct vmlink_cfg *cfg;
	FILE *err;
	unsigned int errors;
};

static void __attribute__((format(printf, 4, 5)))
port_problem(struct check_ctx *c, const struct port_cfg *p, bool error,
	const char *fmt, ...)
{
	va_list ap;

	fprintf(c->err, "%s:%u: [port %s] %s", c->cfg->file, p->line, p->name,
		error ? "" : "warning: ");
	va_start(ap, fmt);
	vfprintf(c->err, fmt, ap);
	va_end(ap);
	fputc('\n', c->err);
	if (error)
		c->errors++;
}

/* A CPU EAL can use as lcore ID (-l maps lcore N to CPU N): one the
 * kernel shows (EAL looks for its topology, too) and that this process
 * may run on. */
static bool
cpu_usable(unsigned int id, const cpu_set_t *allowed)
{
	char path[64];

	snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%u/topology/"
		"core_id", id);
	return access(path, F_OK) == 0 && id < CPU_SETSIZE &&
		CPU_ISSET(id, allowed);
}

static void
cpu_list(const cpu_set_t *allowed, char *buf, size_t len)
{
	unsigned int id, n = 0;

	buf[0] = '\0';
	for (id = 0; id < CPU_SETSIZE && n + 8 < len; id++)
		if (CPU_ISSET(id, allowed))
			n += (unsigned int)snprintf(buf + n, len - n, "%s%u",
				n == 0 ? "" : ",", id);
}

/* [eal] extra may pick the cores itself: then it is EAL's to check. */
static bool
extra_sets_cores(const char *extra)
{
	char buf[CFG_VALUE_MAX];
	char *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", extra);
	for (tok = strtok_r(buf, " \t", &save); tok != NULL;
			tok = strtok_r(NULL, " \t", &save))
		if (strncmp(tok, "-l", 2) == 0 || strncmp(tok, "-c", 2) == 0 ||
				strncmp(tok, "--lcores", 8) == 0)
			return true;
	return false;
}

static void
check_lcores(struct check_ctx *c)
{
	const struct eal_cfg *e = &c->cfg->eal;
	unsigned int id, n = 0, usable = 0;
	char cpus[256];
	cpu_set_t allowed;

	if (extra_sets_cores(e->extra) ||
			sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
		return;
	cpu_list(&allowed, cpus, sizeof(cpus));
	if (e->lcores[0] == '\0') {
		/* EAL takes every CPU this process may use */
		if (CPU_COUNT(&allowed) < 2) {
			fprintf(c->err, "%s: no worker lcore: this host lets vmlink "
				"use one CPU (%s), which the main lcore takes\n",
				c->cfg->file, cpus);
			c->errors++;
		}
		return;
	}
	for (id = 0; id < CFG_MAX_LCORES; id++) {
		if (!config_lcore_in(e->lcore_mask, id))
			continue;
		n++;
		if (cpu_usable(id, &allowed)) {
			usable++;
			continue;
		}
		fprintf(c->err, "%s: [eal] lcores: lcore %u is not a CPU this "
			"host lets vmlink use (CPUs: %s)\n", c->cfg->file, id, cpus);
		c->errors++;
	}
	if (n == 1) {
		fprintf(c->err, "%s: [eal] lcores: no worker lcore: lcores = %s "
			"is the main lcore only, which does stats and control; give "
			"at least two (e.g. 0-1)\n", c->cfg->file, e->lcores);
		c->errors++;
	}
}

/* DIR of a file path, in BUF. */
static const char *
dir_of(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return ".";
	if (slash == path)
		return "/";
	snprintf(buf, len, "%.*s", (int)(slash - path), path);
	return buf;
}

static bool
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void
check_sockets(struct check_ctx *c)
{
	char dir[PATH_MAX];
	struct stat st;
	unsigned int i;

	for (i = 0; i < c->cfg->n_ports; i++) {
		const struct port_cfg *p = &c->cfg->port[i];
		const char *d;

		if (p->path[0] == '\0')	/* ethdev; ivshmem2 on a PCI device */
			continue;
		d = dir_of(p->path, dir, sizeof(dir));
		if (!is_dir(d)) {
			port_problem(c, p, true, "path: directory %s does not exist "
				"(the socket %s is %s there)", d, p->path,
				p->type == PORT_TYPE_IVSHMEM2 || p->client ?
				"looked for" : "created");
			continue;
		}
		if (stat(p->path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
			port_problem(c, p, true, "path: %s exists and is not a socket",
				p->path);
			continue;
		}
		if (p->type == PORT_TYPE_IVSHMEM2 && stat(p->path, &st) != 0)
			port_problem(c, p, false, "no ivshmem2-server socket at %s "
				"yet: start the server before vmlink", p->path);
	}
}

/* Open PATH for writing the way the exit will, and leave it as it was:
 * a new file is removed again, an existing one is not truncated. */
static int
try_write(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd >= 0) {
		close(fd);
		unlink(path);
		return 0;
	}
	if (errno != EEXIST)
		return -1;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static void
check_stats_json(struct check_ctx *c, const char *path)
{
	char dir[PATH_MAX];
	const char *d = dir_of(path, dir, sizeof(dir));

	if (is_dir(path)) {
		fprintf(c->err, "--stats-json %s: is a directory\n", path);
		c->errors++;
	} else if (!is_dir(d)) {
		fprintf(c->err, "--stats-json %s: directory %s does not exist\n",
			path, d);
		c->errors++;
	} else if (try_write(path) != 0) {
		fprintf(c->err, "--stats-json %s: cannot be written: %s\n", path,
			strerror(errno));
		c->errors++;
	}
}

int
check_host(const struct vmlink_cfg *cfg, bool eal_from_config,
	const char *stats_json, FILE *err)
{
	struct check_ctx c = {.cfg = cfg, .err = err};

	if (eal_from_config)
		check_lcores(&c);
	check_sockets(&c);
	if (stats_json != NULL)
		check_stats_json(&c, stats_json);
	return c.errors == 0 ? 0 : -1;
}
