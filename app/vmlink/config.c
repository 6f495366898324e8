/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * rte_cfgfile accepts lines without '=', duplicate keys, over-long names
 * (truncating them) and gives no line numbers. vmlink therefore reads the
 * file twice: a strict line scanner checks the structure and remembers
 * where every section and key is, then rte_cfgfile supplies the values,
 * which are parsed against per-section key tables.
 */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_cfgfile.h>
#include <rte_common.h>

#include "config.h"

/* rte_cfgfile's limits: names 64 and values 256 bytes with the NUL, and a
 * line buffer of 324 bytes that must hold the newline too. */
#define INI_NAME_LEN 64
#define INI_LINE_MAX 322
#define INI_COMMENT ';'
/* A configuration is a few KiB; more than this is not one (and /dev/zero
 * or a runaway pipe must not be read for ever). */
#define CFG_FILE_MAX (1024 * 1024)

/* ---------------------------------------------------------------------- */
/* Error reporting */

struct scan_entry {
	char section[INI_NAME_LEN];
	char key[INI_NAME_LEN];	/* "" for a section header */
	unsigned int line;
};

struct cfg_ctx {
	struct vmlink_cfg *cfg;
	FILE *err;
	unsigned int n_errors;
	struct scan_entry *entries;
	unsigned int n_entries;
	unsigned int cap_entries;
	const char *section;	/* section being parsed, for messages */
};

static unsigned int
entry_line(const struct cfg_ctx *ctx, const char *section, const char *key)
{
	unsigned int i;

	for (i = 0; i < ctx->n_entries; i++) {
		const struct scan_entry *e = &ctx->entries[i];

		if (strcmp(e->section, section) != 0)
			continue;
		if (key == NULL ? e->key[0] == '\0' : strcmp(e->key, key) == 0)
			return e->line;
	}
	return 0;
}

/* "file:line: [section] key: " before a message about SECTION/KEY. */
static void
report_where(struct cfg_ctx *ctx, const char *section, const char *key)
{
	unsigned int line = 0;

	if (section != NULL)
		line = entry_line(ctx, section, key);
	if (line != 0)
		fprintf(ctx->err, "%s:%u: ", ctx->cfg->file, line);
	else
		fprintf(ctx->err, "%s: ", ctx->cfg->file);
	if (section != NULL)
		fprintf(ctx->err, "[%s] ", section);
	if (key != NULL)
		fprintf(ctx->err, "%s: ", key);
}

static void __attribute__((format(printf, 4, 5)))
cfg_error(struct cfg_ctx *ctx, const char *section, const char *key,
	const char *fmt, ...)
{
	va_list ap;

	ctx->n_errors++;
	if (ctx->n_errors > CFG_MAX_ERRORS)
		return;
	report_where(ctx, section, key);
	va_start(ap, fmt);
	vfprintf(ctx->err, fmt, ap);
	va_end(ap);
	fputc('\n', ctx->err);
	if (ctx->n_errors == CFG_MAX_ERRORS)
		fprintf(ctx->err, "%s: too many errors, giving up\n",
			ctx->cfg->file);
}

/* Legal, but probably not what was meant: said, not refused. */
static void __attribute__((format(printf, 4, 5)))
cfg_warning(struct cfg_ctx *ctx, const char *section, const char *key,
	const char *fmt, ...)
{
	va_list ap;

	report_where(ctx, section, key);
	fprintf(ctx->err, "warning: ");
	va_start(ap, fmt);
	vfprintf(ctx->err, fmt, ap);
	va_end(ap);
	fputc('\n', ctx->err);
}

static void __attribute__((format(printf, 3, 4)))
line_error(struct cfg_ctx *ctx, unsigned int line, const char *fmt, ...)
{
	va_list ap;

	ctx->n_errors++;
	if (ctx->n_errors > CFG_MAX_ERRORS)
		return;
	fprintf(ctx->err, "%s:%u: ", ctx->cfg->file, line);
	va_start(ap, fmt);
	vfprintf(ctx->err, fmt, ap);
	va_end(ap);
	fputc('\n', ctx->err);
}

/* ---------------------------------------------------------------------- */
/* Structure scan */

static char *
strip(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static int
add_entry(struct cfg_ctx *ctx, const char *section, const char *key,
	unsigned int line)
{
	struct scan_entry *e;

	if (ctx->n_entries == ctx->cap_entries) {
		unsigned int cap = ctx->cap_entries ? ctx->cap_entries * 2 : 64;
		struct scan_entry *n = realloc(ctx->entries, cap * sizeof(*n));

		if (n == NULL)
			return -1;
		ctx->entries = n;
		ctx->cap_entries = cap;
	}
	e = &ctx->entries[ctx->n_entries++];
	snprintf(e->section, sizeof(e->section), "%s", section);
	snprintf(e->key, sizeof(e->key), "%s", key);
	e->line = line;
	return 0;
}

/*
 * Read one line (without its newline) into BUF the way the scanner needs
 * it: unlike fgets, report the real length, NUL bytes included, so that a
 * line holding or starting with NUL bytes is seen for what it is. Keeps at
 * most CAP - 1 bytes; *TOO_LONG tells that more were skipped. Returns the
 * length kept, or -1 at the end of the file.
 */
static long
read_line(FILE *f, char *buf, size_t cap, bool *too_long)
{
	bool any = false;
	size_t n = 0;
	int c;

	*too_long = false;
	while ((c = getc(f)) != EOF) {
		any = true;
		if (c == '\n')
			break;
		if (n + 1 < cap)
			buf[n++] = (char)c;
		else
			*too_long = true;
	}
	buf[n] = '\0';
	return any ? (long)n : -1;
}

/* Index of the first byte no text file holds (NUL, a control character
 * other than tab and CR), or -1. */
static long
binary_byte(const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f)
			return (long)i;
	}
	return -1;
}

/* A '#' after a blank: someone's comment, which would end up in the
 * value. */
static bool
blank_hash(const char *val)
{
	const char *h;

	for (h = strchr(val, '#'); h != NULL; h = strchr(h + 1, '#'))
		if (h > val && (h[-1] == ' ' || h[-1] == '\t'))
			return true;
	return false;
}

/*
 * Check the file line by line, the way rte_cfgfile will split it (a ';'
 * not preceded by '\' starts a comment), and record each section and key
 * with its line number.
 */
static int
scan_file(struct cfg_ctx *ctx, FILE *f)
{
	char buf[INI_LINE_MAX + 2];
	char section[INI_NAME_LEN] = "";
	bool in_section = false, in_duplicate = false, too_long;
	unsigned int line = 0;
	long got;

	while ((got = read_line(f, buf, sizeof(buf), &too_long)) >= 0) {
		size_t len = (size_t)got;
		char *s, *c, *eq;
		long bin;

		line++;
		bin = binary_byte(buf, len);
		if (bin >= 0 && buf[bin] == '\0') {
			/* One error for a binary file, not one per "line". */
			line_error(ctx, line, "NUL byte in line (column %ld): not a "
				"text configuration file", bin + 1);
			break;
		}
		if (bin >= 0) {
			line_error(ctx, line, "binary data in line (byte 0x%02x, "
				"column %ld): not a text configuration file",
				(unsigned char)buf[bin], bin + 1);
			break;
		}
		if (too_long || len > INI_LINE_MAX) {
			line_error(ctx, line, "line too long (at most %d characters)",
				INI_LINE_MAX);
			continue;
		}
		c = memchr(buf, INI_COMMENT, len);
		if (c != NULL && (c == buf || c[-1] != '\\'))
			*c = '\0';
		s = strip(buf);
		if (*s == '\0')
			continue;
		if (*s == '#') {
			line_error(ctx, line, "comments start with ';', not '#' "
				"('#' comments are not supported)");
			continue;
		}
		if (*s == '[') {
			char *end = strchr(s, ']');
			char *name;

			if (end == NULL || end[1] != '\0') {
				line_error(ctx, line, "malformed section header '%s' (expected '[name]')",
					s);
				continue;
			}
			*end = '\0';
			name = strip(s + 1);
			if (*name == '\0') {
				line_error(ctx, line, "empty section name");
				continue;
			}
			if (strlen(name) >= INI_NAME_LEN) {
				line_error(ctx, line, "section name '%s' too long (at most %d characters)",
					name, INI_NAME_LEN - 1);
				continue;
			}
			if (entry_line(ctx, name, NULL) != 0) {
				line_error(ctx, line, "duplicate section [%s] (first at line %u)",
					name, entry_line(ctx, name, NULL));
				in_section = false;
				in_duplicate = true;	/* its keys: no more errors */
				continue;
			}
			snprintf(section, sizeof(section), "%s", name);
			in_section = true;
			in_duplicate = false;
			if (add_entry(ctx, section, "", line) < 0)
				return -1;
			continue;
		}
		eq = strchr(s, '=');
		if (eq == NULL) {
			line_error(ctx, line, "expected 'key = value' or '[section]', got '%s'",
				s);
			continue;
		}
		*eq = '\0';
		{
			char *key = strip(s);
			char *val = strip(eq + 1);
			unsigned int prev;

			if (in_duplicate)
				continue;
			if (!in_section) {
				line_error(ctx, line, "key '%s' outside of any section", key);
				continue;
			}
			if (*key == '\0') {
				line_error(ctx, line, "missing key before '='");
				continue;
			}
			if (strlen(key) >= INI_NAME_LEN) {
				line_error(ctx, line, "key '%.20s...' too long (at most %d characters)",
					key, INI_NAME_LEN - 1);
				continue;
			}
			if (*val == '\0') {
				line_error(ctx, line, "[%s] %s: empty value", section, key);
				continue;
			}
			if (blank_hash(val)) {
				line_error(ctx, line, "[%s] %s: '#' does not start a "
					"comment (comments start with ';')", section, key);
				continue;
			}
			if (strlen(val) >= CFG_VALUE_MAX) {
				line_error(ctx, line, "[%s] %s: value too long (at most %d characters)",
					section, key, CFG_VALUE_MAX - 1);
				continue;
			}
			prev = entry_line(ctx, section, key);
			if (prev != 0) {
				line_error(ctx, line, "[%s] %s: duplicate key (first at line %u)",
					section, key, prev);
				continue;
			}
			if (add_entry(ctx, section, key, line) < 0)
				return -1;
		}
	}
	if (ferror(f)) {
		fprintf(ctx->err, "%s: read error\n", ctx->cfg->file);
		ctx->n_errors++;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Value parsers */

static int
parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 0);
	if (errno != 0 || *end != '\0')
		return -1;
	return 0;
}

static int
parse_bool(const char *s, bool *v)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*v = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*v = false;
			return 0;
		}
	}
	return -1;
}

static int
parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int i;

	for (i = 0; i < 6; i++) {
		char hex[3];
		char *end;

		if (!isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]))
			return -1;
		hex[0] = s[0];
		hex[1] = s[1];
		hex[2] = '\0';
		mac[i] = (uint8_t)strtoul(hex, &end, 16);
		s += 2;
		if (i < 5) {
			if (*s != ':')
				return -1;
			s++;
		}
	}
	return *s == '\0' ? 0 : -1;
}

static bool
valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= CFG_NAME_MAX)
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return false;
	return true;
}

static bool
has_space(const char *s)
{
	for (; *s != '\0'; s++)
		if (isspace((unsigned char)*s))
			return true;
	return false;
}

bool
config_lcore_in(const uint64_t *mask, unsigned int id)
{
	return id < CFG_MAX_LCORES && (mask[id / 64] >> (id % 64)) & 1;
}

int
config_parse_lcore_list(const char *s, uint64_t *mask, unsigned int max)
{
	memset(mask, 0, CFG_MAX_LCORES / 8);
	for (;;) {
		unsigned long a, b;
		char *end;

		if (!isdigit((unsigned char)*s))
			return -1;
		a = strtoul(s, &end, 10);
		b = a;
		s = end;
		if (*s == '-') {
			s++;
			if (!isdigit((unsigned char)*s))
				return -1;
			b = strtoul(s, &end, 10);
			s = end;
		}
		if (a > b || b >= max)
			return -1;
		for (; a <= b; a++)
			mask[a / 64] |= UINT64_C(1) << (a % 64);
		if (*s == '\0')
			return 0;
		if (*s != ',')
			return -1;
		s++;
	}
}

/* ---------------------------------------------------------------------- */
/* Key tables */

enum val_kind {
	VAL_UINT,	/* uint32_t in [min, max] */
	VAL_BOOL,	/* bool */
	VAL_STRING,	/* char[CFG_VALUE_MAX], no blanks */
	VAL_TEXT,	/* char[CFG_VALUE_MAX], blanks allowed */
	VAL_CHOICE,	/* char[] holding one of choices */
	VAL_MAC,	/* has_mac + mac[6] (port only) */
	VAL_NAME,	/* char[CFG_NAME_MAX] holding a port name */
	VAL_LCORES,	/* eal lcore list */
	VAL_INT,	/* int in [min, max] */
};

struct key_spec {
	const char *key;
	enum val_kind kind;
	size_t off;
	size_t size;
	uint32_t min, max;
	const char *const *choices;	/* NULL-terminated */
	uint32_t port_types;		/* port keys: accepting types */
	bool required;
	const char *def;		/* default, for the reference */
	const char *help;
};

#define FIELD(type, f) offsetof(type, f), sizeof(((type *)0)->f)

static const char *const port_type_names[] = {"ethdev", "vhost-user",
	"ivshmem2", NULL};
static const char *const auto_yes_no[] = {"auto", "yes", "no", NULL};
static const char *const iova_modes[] = {"pa", "va", NULL};
static const char *const rx_modes[] = {"poll", "interrupt", NULL};

static const struct key_spec vmlink_keys[] = {
	{"burst", VAL_UINT, FIELD(struct vmlink_cfg, burst), 1, 512,
		NULL, 0, false, "32", "frames per rx/tx burst"},
	{"stats-interval", VAL_UINT, FIELD(struct vmlink_cfg, stats_interval),
		0, 3600, NULL, 0, false, "1",
		"seconds between stats lines; 0 prints only the final summary"},
	{"duration", VAL_UINT, FIELD(struct vmlink_cfg, duration), 0, 1u << 30,
		NULL, 0, false, "0",
		"stop after this many seconds; 0 runs until SIGINT/SIGTERM"},
	{NULL, 0, 0, 0, 0, 0, NULL, 0, false, NULL, NULL},
};

static const struct key_spec eal_keys[] = {
	{"lcores", VAL_LCORES, FIELD(struct eal_cfg, lcores), 0, 0, NULL, 0,
		false, "all cores", "EAL core list (-l), e.g. 0-2,4; the "
		"main lcore does stats and control, the others forward"},
	{"main-lcore", VAL_INT, FIELD(struct eal_cfg, main_lcore), 0,
		CFG_MAX_LCORES - 1, NULL, 0, false, "first of lcores",
		"lcore for stats and control (--main-lcore)"},
	{"file-prefix", VAL_STRING, FIELD(struct eal_cfg, file_prefix), 0, 0,
		NULL, 0, false, "vmlink",
		"hugepage file and runtime directory prefix (--file-prefix)"},
	{"memory", VAL_UINT, FIELD(struct eal_cfg, memory_mb), 0, 1u << 20,
		NULL, 0, false, "EAL default",
		"MiB of hugepage memory to reserve (-m)"},
	{"huge-dir", VAL_STRING, FIELD(struct eal_cfg, huge_dir), 0, 0, NULL,
		0, false, "auto", "hugetlbfs mount to use (--huge-dir)"},
	{"no-huge", VAL_BOOL, FIELD(struct eal_cfg, no_huge), 0, 0, NULL, 0,
		false, "no", "use anonymous memory instead of hugepages (--no-huge)"},
	{"in-memory", VAL_BOOL, FIELD(struct eal_cfg, in_memory), 0, 0, NULL,
		0, false, "no", "create no shared runtime files (--in-memory)"},
	{"telemetry", VAL_BOOL, FIELD(struct eal_cfg, telemetry), 0, 0, NULL,
		0, false, "yes", "serve DPDK telemetry (no: --no-telemetry)"},
	{"iova-mode", VAL_CHOICE, FIELD(struct eal_cfg, iova_mode), 0, 0,
		iova_modes, 0, false, "EAL default", "pa or va (--iova-mode)"},
	{"log-level", VAL_STRING, FIELD(struct eal_cfg, log_level), 0, 0,
		NULL, 0, false, "EAL default",
		"--log-level value, e.g. 'pmd.net.*:debug' or '7'"},
	{"extra", VAL_TEXT, FIELD(struct eal_cfg, extra), 0, 0, NULL, 0,
		false, "none", "further EAL arguments, separated by blanks"},
	{NULL, 0, 0, 0, 0, 0, NULL, 0, false, NULL, NULL},
};

#define ETHDEV PORT_TYPE_BIT(PORT_TYPE_ETHDEV)
#define VHOST PORT_TYPE_BIT(PORT_TYPE_VHOST_USER)
#define IVSHMEM2 PORT_TYPE_BIT(PORT_TYPE_IVSHMEM2)

static const struct key_spec port_keys[] = {
	{"type", VAL_CHOICE, 0, 0, 0, 0, port_type_names, PORT_TYPES_ALL,
		true, NULL, "ethdev: any DPDK device; vhost-user: a VM's "
		"virtio-net, vmlink being the vhost-user back-end; ivshmem2: "
		"an ivshmem-net link with the other peer of an ivshmem v2 "
		"region"},
	/* device and path: which type needs which is checked per port */
	{"device", VAL_STRING, FIELD(struct port_cfg, device), 0, 0, NULL,
		ETHDEV | IVSHMEM2, false, NULL, "ethdev (required): DPDK "
		"devargs (a vdev such as net_ring0 or net_pcap0,rx_pcap=in.pcap, "
		"probed by vmlink) or a PCI address; ivshmem2 (instead of "
		"path, in a VM): the PCI address of its ivshmem device, "
		"allow-listed with the port's devargs"},
	{"path", VAL_STRING, FIELD(struct port_cfg, path), 0, 0, NULL,
		VHOST | IVSHMEM2, false, NULL, "vhost-user socket (required), "
		"or the ivshmem2-server's socket (ivshmem2: path or device) "
		"(at most 107 characters)"},
	{"client", VAL_BOOL, FIELD(struct port_cfg, client), 0, 0, NULL, VHOST,
		false, "no", "connect to the socket (and reconnect when the "
		"front-end restarts) instead of listening on it"},
	{"zero-copy", VAL_CHOICE, FIELD(struct port_cfg, zero_copy), 0, 0,
		auto_yes_no, VHOST | IVSHMEM2, false, "auto", "hand received "
		"frames on in place (guest TX buffers, the peer's section) "
		"instead of copying them; auto: yes unless the port can send "
		"to a hardware (DMA) device"},
	{"copy-threshold", VAL_UINT, FIELD(struct port_cfg, copy_threshold), 0,
		65536, NULL, VHOST | IVSHMEM2, false, "512",
		"with zero-copy, frames shorter than this are copied"},
	{"inflight", VAL_UINT, FIELD(struct port_cfg, inflight), 1, 32768,
		NULL, VHOST | IVSHMEM2, false, "256", "zero-copy frames a "
		"queue may have outstanding before it copies again"},
	{"rx-queues", VAL_UINT, FIELD(struct port_cfg, rx_queues), 0,
		CFG_MAX_QUEUES, NULL, PORT_TYPES_ALL, false, "1",
		"rx queues; 0: a port that only transmits (vhost-user: the "
		"queue pairs offered to the guest, at least 1; ivshmem2: 1); "
		"tx queues are one per lcore that sends to the port"},
	{"rx-ring", VAL_UINT, FIELD(struct port_cfg, rx_ring), 64, 32768,
		NULL, ETHDEV, false, "1024", "descriptors per rx queue (the "
		"other types use the guest's or the link's rings)"},
	{"tx-ring", VAL_UINT, FIELD(struct port_cfg, tx_ring), 64, 32768,
		NULL, ETHDEV, false, "1024", "descriptors per tx queue"},
	{"mbufs", VAL_UINT, FIELD(struct port_cfg, mbufs), 0, 1u << 24, NULL,
		PORT_TYPES_ALL, false, "0",
		"mbufs in the port's pool; 0 sizes it for its rings and bursts"},
	{"mbuf-size", VAL_UINT, FIELD(struct port_cfg, mbuf_size), 640, 65535,
		NULL, PORT_TYPES_ALL, false, "2176",
		"mbuf data room including 128 bytes headroom"},
	{"mtu", VAL_UINT, FIELD(struct port_cfg, mtu), 0, 65535, NULL,
		PORT_TYPES_ALL, false, "0", "MTU to set; 0 keeps the device's"},
	{"promiscuous", VAL_BOOL, FIELD(struct port_cfg, promiscuous), 0, 0,
		NULL, ETHDEV, false, "yes", "enable promiscuous mode"},
	{"rx-mode", VAL_CHOICE, FIELD(struct port_cfg, rx_mode), 0, 0,
		rx_modes, PORT_TYPES_ALL, false, "poll", "poll: busy-poll; "
		"interrupt: a worker whose rx queues are all in interrupt mode "
		"sleeps on their rx interrupts when idle (the device must "
		"support rx interrupts; ivshmem2 then runs in doorbell mode)"},
	{"mac", VAL_MAC, 0, 0, 0, 0, NULL, PORT_TYPES_ALL, false, "device's",
		"unicast MAC address to set, xx:xx:xx:xx:xx:xx"},
	{"peer", VAL_NAME, FIELD(struct port_cfg, peer_name), 0, 0, NULL,
		PORT_TYPES_ALL, false, "none", "cross-connect: frames received "
		"on this port are sent out of port PEER (name a port; both "
		"ports name each other for a two-way link)"},
	{NULL, 0, 0, 0, 0, 0, NULL, 0, false, NULL, NULL},
};

static const struct key_spec lcore_keys[] = {
	{"rx", VAL_TEXT, 0, 0, 0, 0, NULL, 0, true, NULL,
		"rx queues this worker polls: PORT (all its queues) or "
		"PORT:QUEUE, separated by blanks or commas"},
	{NULL, 0, 0, 0, 0, 0, NULL, 0, false, NULL, NULL},
};

static const struct key_spec *
find_key(const struct key_spec *table, const char *key)
{
	for (; table->key != NULL; table++)
		if (strcmp(table->key, key) == 0)
			return table;
	return NULL;
}

/* Parse VAL for key SPEC into the structure at BASE. */
static int
parse_value(struct cfg_ctx *ctx, const struct key_spec *spec, void *base,
	const char *key, const char *val)
{
	char *field = (char *)base + spec->off;
	uint64_t u;
	bool b;

	switch (spec->kind) {
	case VAL_UINT:
	case VAL_INT:
		if (parse_u64(val, &u) < 0) {
			cfg_error(ctx, ctx->section, key, "'%s' is not a number", val);
			return -1;
		}
		if (u < spec->min || u > spec->max) {
			cfg_error(ctx, ctx->section, key, "%s out of range (%u..%u)",
				val, spec->min, spec->max);
			return -1;
		}
		if (spec->kind == VAL_UINT)
			*(uint32_t *)field = (uint32_t)u;
		else
			*(int *)field = (int)u;
		return 0;
	case VAL_BOOL:
		if (parse_bool(val, &b) < 0) {
			cfg_error(ctx, ctx->section, key,
				"'%s' is not a boolean (yes/no, true/false, on/off, 1/0)",
				val);
			return -1;
		}
		*(bool *)field = b;
		return 0;
	case VAL_STRING:
		if (has_space(val)) {
			cfg_error(ctx, ctx->section, key, "'%s' must not contain blanks",
				val);
			return -1;
		}
		/* fall through */
	case VAL_TEXT:
		if (strlen(val) >= spec->size) {
			cfg_error(ctx, ctx->section, key,
				"value too long (at most %zu characters)", spec->size - 1);
			return -1;
		}
		snprintf(field, spec->size, "%s", val);
		return 0;
	case VAL_CHOICE: {
		const char *const *c;
		char list[128] = "";

		for (c = spec->choices; *c != NULL; c++) {
			if (strcmp(*c, val) == 0) {
				if (spec->size > 0)
					snprintf(field, spec->size, "%s", val);
				return 0;
			}
			snprintf(list + strlen(list), sizeof(list) - strlen(list),
				"%s%s", c == spec->choices ? "" : ", ", *c);
		}
		cfg_error(ctx, ctx->section, key, "'%s' is not one of: %s", val, list);
		return -1;
	}
	case VAL_MAC: {
		struct port_cfg *p = base;

		if (parse_mac(val, p->mac) < 0) {
			cfg_error(ctx, ctx->section, key,
				"'%s' is not a MAC address (xx:xx:xx:xx:xx:xx)", val);
			return -1;
		}
		if (p->mac[0] & 1) {
			cfg_error(ctx, ctx->section, key,
				"%s is a multicast address; a port needs a unicast MAC", val);
			return -1;
		}
		if ((p->mac[0] | p->mac[1] | p->mac[2] | p->mac[3] | p->mac[4] |
				p->mac[5]) == 0) {
			cfg_error(ctx, ctx->section, key, "all-zero MAC address");
			return -1;
		}
		p->has_mac = true;
		return 0;
	}
	case VAL_NAME:
		if (!valid_name(val)) {
			cfg_error(ctx, ctx->section, key, "'%s' is not a port name", val);
			return -1;
		}
		snprintf(field, spec->size, "%s", val);
		return 0;
	case VAL_LCORES: {
		struct eal_cfg *e = base;

		if (config_parse_lcore_list(val, e->lcore_mask, CFG_MAX_LCORES) < 0) {
			cfg_error(ctx, ctx->section, key,
				"'%s' is not a core list (e.g. 0-3,5; ids below %d)",
				val, CFG_MAX_LCORES);
			return -1;
		}
		snprintf(field, spec->size, "%s", val);
		return 0;
	}
	}
	return -1;
}

/* ---------------------------------------------------------------------- */
/* Sections */

static void
port_defaults(struct port_cfg *p)
{
	memset(p, 0, sizeof(*p));
	p->rx_queues = 1;
	p->rx_ring = 1024;
	p->tx_ring = 1024;
	p->mbuf_size = 2176;
	p->promiscuous = true;
	snprintf(p->rx_mode, sizeof(p->rx_mode), "poll");
	snprintf(p->zero_copy, sizeof(p->zero_copy), "auto");
	p->copy_threshold = 512;
	p->inflight = 256;
	p->peer = -1;
}

/* Walk the entries of SECTION against TABLE; BASE receives values. For
 * port sections PORT_TYPE limits the accepted keys. */
static void
parse_entries(struct cfg_ctx *ctx, struct rte_cfgfile *ini, const char *section,
	const struct key_spec *table, void *base, int port_type)
{
	int n = rte_cfgfile_section_num_entries(ini, section);
	struct rte_cfgfile_entry *entries;
	const struct key_spec *spec;
	int i;

	if (n <= 0)
		goto required;
	entries = calloc(n, sizeof(*entries));
	if (entries == NULL) {
		cfg_error(ctx, section, NULL, "out of memory");
		return;
	}
	n = rte_cfgfile_section_entries(ini, section, entries, n);
	for (i = 0; i < n; i++) {
		spec = find_key(table, entries[i].name);
		if (spec == NULL) {
			cfg_error(ctx, section, entries[i].name, "unknown key");
			continue;
		}
		if (port_type >= 0 && !(spec->port_types & PORT_TYPE_BIT(port_type))) {
			cfg_error(ctx, section, entries[i].name,
				"not a key of ports of type %s",
				config_port_type_name(port_type));
			continue;
		}
		if (strcmp(spec->key, "type") == 0 || table == lcore_keys)
			continue;	/* handled by the caller */
		parse_value(ctx, spec, base, entries[i].name, entries[i].value);
	}
	free(entries);
required:
	for (spec = table; spec->key != NULL; spec++) {
		if (!spec->required || rte_cfgfile_has_entry(ini, section, spec->key))
			continue;
		if (port_type >= 0 && !(spec->port_types & PORT_TYPE_BIT(port_type)))
			continue;
		cfg_error(ctx, section, NULL, "missing required key '%s'", spec->key);
	}
}

static bool is_pci_address(const char *dev);

/* ethdev: device; vhost-user: path; ivshmem2: path (the server) or
 * device (a PCI address, no devargs: vmlink builds them). */
static void
check_device_path(struct cfg_ctx *ctx, struct rte_cfgfile *ini,
	const char *section, struct port_cfg *p)
{
	bool dev = rte_cfgfile_has_entry(ini, section, "device");
	bool path = rte_cfgfile_has_entry(ini, section, "path");

	if (p->type == PORT_TYPE_ETHDEV && !dev)
		cfg_error(ctx, section, NULL, "missing required key 'device'");
	if (p->type == PORT_TYPE_VHOST_USER && !path)
		cfg_error(ctx, section, NULL, "missing required key 'path'");
	if (p->type != PORT_TYPE_IVSHMEM2)
		return;
	if (!dev && !path)
		cfg_error(ctx, section, NULL, "missing required key 'path' (the "
			"ivshmem2-server's socket) or 'device' (in a VM: the PCI "
			"address of its ivshmem device)");
	else if (dev && path)
		cfg_error(ctx, section, "device", "give path (an ivshmem2-server "
			"socket) or device (a PCI ivshmem device), not both");
	else if (dev && (!is_pci_address(p->device) ||
			strchr(p->device, ',') != NULL))
		cfg_error(ctx, section, "device", "'%s' is not a PCI address "
			"(DDDD:BB:SS.F or BB:SS.F, without devargs)", p->device);
}

static void
parse_port(struct cfg_ctx *ctx, struct rte_cfgfile *ini, const char *section,
	const char *name)
{
	struct vmlink_cfg *cfg = ctx->cfg;
	struct port_cfg *p;
	const char *type;
	int t;

	if (!valid_name(name)) {
		cfg_error(ctx, section, NULL,
			"port name '%s' must be 1-%d characters of A-Z a-z 0-9 _ -",
			name, CFG_NAME_MAX - 1);
		return;
	}
	/* Exactly "[port NAME]": check_references() and the messages name
	 * the section that way, so "[port<TAB>NAME]" would be another one. */
	if (strncmp(section, "port ", 5) != 0 || strcmp(section + 5, name) != 0) {
		cfg_error(ctx, section, NULL, "write the header as [port %s]", name);
		return;
	}
	if (cfg->n_ports == CFG_MAX_PORTS) {
		cfg_error(ctx, section, NULL, "too many ports (at most %d)",
			CFG_MAX_PORTS);
		return;
	}
	p = &cfg->port[cfg->n_ports++];
	port_defaults(p);
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->line = entry_line(ctx, section, NULL);

	type = rte_cfgfile_get_entry(ini, section, "type");
	if (type == NULL) {
		cfg_error(ctx, section, NULL, "missing required key 'type'");
		return;
	}
	for (t = 0; t < PORT_TYPE_COUNT; t++)
		if (strcmp(type, port_type_names[t]) == 0)
			break;
	if (t == PORT_TYPE_COUNT) {
		parse_value(ctx, &port_keys[0], p, "type", type);
		return;
	}
	p->type = t;
	parse_entries(ctx, ini, section, port_keys, p, t);
	check_device_path(ctx, ini, section, p);
	p->rx_interrupt = strcmp(p->rx_mode, "interrupt") == 0;
	/* The path travels inside a devargs string, split on ','. */
	if (strchr(p->path, ',') != NULL)
		cfg_error(ctx, section, "path", "'%s' must not contain ','", p->path);
	if (t == PORT_TYPE_IVSHMEM2 && p->rx_queues != 1)
		cfg_error(ctx, section, "rx-queues",
			"an ivshmem2 link has exactly one rx queue");
	if (t == PORT_TYPE_VHOST_USER && p->rx_queues == 0)
		cfg_error(ctx, section, "rx-queues",
			"a vhost-user port offers at least one queue pair");
}

static void
parse_lcore_header(struct cfg_ctx *ctx, const char *section, const char *id)
{
	struct vmlink_cfg *cfg = ctx->cfg;
	struct lcore_cfg *lc;
	uint64_t v;

	unsigned int i;

	if (parse_u64(id, &v) < 0 || v >= CFG_MAX_LCORES) {
		cfg_error(ctx, section, NULL, "'%s' is not an lcore id (0..%d)",
			id, CFG_MAX_LCORES - 1);
		return;
	}
	/* Exactly "[lcore N]": check_references() looks the rx list up under
	 * that name; "[lcore<TAB>N]" would pass unparsed. */
	if (strncmp(section, "lcore ", 6) != 0 || strcmp(section + 6, id) != 0 ||
			(id[0] == '0' && id[1] != '\0')) {
		cfg_error(ctx, section, NULL, "write the header as [lcore %" PRIu64 "]",
			v);
		return;
	}
	for (i = 0; i < cfg->n_lcores; i++) {
		if (cfg->lcore[i].lcore_id == v) {
			cfg_error(ctx, section, NULL, "lcore %" PRIu64
				" already has a section (line %u)", v,
				cfg->lcore[i].line);
			return;
		}
	}
	lc = &cfg->lcore[cfg->n_lcores++];
	memset(lc, 0, sizeof(*lc));
	lc->lcore_id = (unsigned int)v;
	lc->line = entry_line(ctx, section, NULL);
}

/* Resolve "PORT" or "PORT:QUEUE" items of an [lcore N] rx list. */
static void
parse_lcore_rx(struct cfg_ctx *ctx, struct lcore_cfg *lc, const char *section,
	const char *list, uint8_t owner[CFG_MAX_PORTS][CFG_MAX_QUEUES])
{
	char buf[CFG_VALUE_MAX];
	char *tok, *save = NULL;
	unsigned int items = 0;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, " \t,", &save); tok != NULL;
			tok = strtok_r(NULL, " \t,", &save)) {
		char *colon = strchr(tok, ':');
		uint32_t first = 0, last;
		uint64_t q;
		int port;

		if (colon != NULL)
			*colon = '\0';
		port = config_port_index(ctx->cfg, tok);
		if (port < 0) {
			cfg_error(ctx, section, "rx", "undefined port '%s'", tok);
			continue;
		}
		if (ctx->cfg->port[port].rx_queues == 0) {
			cfg_error(ctx, section, "rx", "port '%s' has no rx queues "
				"(rx-queues = 0)", tok);
			continue;
		}
		last = ctx->cfg->port[port].rx_queues - 1;
		if (colon != NULL) {
			if (parse_u64(colon + 1, &q) < 0) {
				cfg_error(ctx, section, "rx", "'%s' is not a queue number",
					colon + 1);
				continue;
			}
			if (q > last) {
				cfg_error(ctx, section, "rx",
					"port '%s' has no rx queue %" PRIu64 " (rx-queues = %u)",
					tok, q, last + 1);
				continue;
			}
			first = last = (uint32_t)q;
		}
		for (; first <= last; first++) {
			if (owner[port][first] != 0) {
				cfg_error(ctx, section, "rx",
					"rx queue %s:%u is already polled by lcore %u",
					tok, first, ctx->cfg->lcore[owner[port][first] - 1].lcore_id);
				continue;
			}
			owner[port][first] = (uint8_t)(lc - ctx->cfg->lcore + 1);
			lc->rxq[lc->n_rxq].port = (uint16_t)port;
			lc->rxq[lc->n_rxq].queue = (uint16_t)first;
			lc->n_rxq++;
		}
		items++;
	}
	if (items == 0)
		cfg_error(ctx, section, "rx", "names no port");
}

/* The device an ethdev port names, as EAL names it: the part before the
 * first ',', a PCI address with its domain. */
static void
device_key(const char *device, char *key, size_t len)
{
	size_t n = strcspn(device, ",");
	unsigned int bus, slot, fn;
	char tail;

	if (sscanf(device, "%2x:%2x.%1u%c", &bus, &slot, &fn, &tail) >= 3 &&
			n == 7)
		snprintf(key, len, "0000:%.*s", (int)n, device);
	else
		snprintf(key, len, "%.*s", (int)n, device);
	for (; *key != '\0'; key++)
		*key = (char)tolower((unsigned char)*key);
}

/* Two ports on one socket or one device: the second probe would fail or,
 * worse, take the first one's device. */
static void
check_shared_resource(struct cfg_ctx *ctx, unsigned int i, const char *section)
{
	const struct port_cfg *p = &ctx->cfg->port[i];
	char a[CFG_VALUE_MAX], b[CFG_VALUE_MAX];
	unsigned int j;

	for (j = 0; j < i; j++) {
		const struct port_cfg *q = &ctx->cfg->port[j];

		if (p->path[0] != '\0' && strcmp(p->path, q->path) == 0) {
			cfg_error(ctx, section, "path", "%s is also the socket of "
				"[port %s] (line %u): one port per socket", p->path,
				q->name, q->line);
			return;
		}
		/* ethdev ports, and ivshmem2 ports on a PCI device */
		if (p->device[0] == '\0' || q->device[0] == '\0')
			continue;
		device_key(p->device, a, sizeof(a));
		device_key(q->device, b, sizeof(b));
		if (strcmp(a, b) == 0) {
			cfg_error(ctx, section, "device", "%s is also the device of "
				"[port %s] (line %u): one port per device", a, q->name,
				q->line);
			return;
		}
	}
}

/* Cross-connects that are legal but rarely meant. A chain or a ring of
 * peers (a -> b -> c -> a) is a topology; a port that sends to one which
 * sends nowhere back is most likely a missing line. */
static void
check_peers(struct cfg_ctx *ctx)
{
	const struct vmlink_cfg *cfg = ctx->cfg;
	char section[INI_NAME_LEN];
	unsigned int i;

	for (i = 0; i < cfg->n_ports; i++) {
		const struct port_cfg *p = &cfg->port[i];
		const struct port_cfg *q;

		if (p->peer < 0)
			continue;
		snprintf(section, sizeof(section), "port %s", p->name);
		q = &cfg->port[p->peer];
		if (p->peer == (int)i)
			cfg_warning(ctx, section, "peer", "%s is its own peer: "
				"frames go back out of the port they came in on",
				p->name);
		else if (q->peer < 0 && q->rx_queues > 0)
			cfg_warning(ctx, section, "peer", "one-way: [port %s] has no "
				"peer, so what it receives is dropped (no-route); "
				"peer = %s there for a two-way link, or rx-queues = 0 "
				"for a port that only transmits", q->name, p->name);
	}
}

/* Cross-section checks: references to ports and lcores. */
static void
check_references(struct cfg_ctx *ctx, struct rte_cfgfile *ini)
{
	static uint8_t owner[CFG_MAX_PORTS][CFG_MAX_QUEUES];
	struct vmlink_cfg *cfg = ctx->cfg;
	char section[INI_NAME_LEN];
	unsigned int i, q;
	int main_lcore = cfg->eal.main_lcore;
	bool have_lcores = cfg->eal.lcores[0] != '\0';

	for (i = 0; i < cfg->n_ports; i++) {
		struct port_cfg *p = &cfg->port[i];

		snprintf(section, sizeof(section), "port %s", p->name);
		if (p->peer_name[0] != '\0') {
			p->peer = config_port_index(cfg, p->peer_name);
			if (p->peer < 0)
				cfg_error(ctx, section, "peer", "undefined port '%s'",
					p->peer_name);
		}
		check_shared_resource(ctx, i, section);
	}
	if (ctx->n_errors == 0)
		check_peers(ctx);

	if (have_lcores && main_lcore < 0) {
		for (main_lcore = 0; main_lcore < CFG_MAX_LCORES; main_lcore++)
			if (config_lcore_in(cfg->eal.lcore_mask, main_lcore))
				break;
	}
	if (have_lcores && main_lcore >= 0 &&
			!config_lcore_in(cfg->eal.lcore_mask, main_lcore))
		cfg_error(ctx, "eal", "main-lcore", "lcore %d is not in lcores (%s)",
			main_lcore, cfg->eal.lcores);

	memset(owner, 0, sizeof(owner));
	for (i = 0; i < cfg->n_lcores; i++) {
		struct lcore_cfg *lc = &cfg->lcore[i];
		const char *rx;

		snprintf(section, sizeof(section), "lcore %u", lc->lcore_id);
		if (have_lcores && !config_lcore_in(cfg->eal.lcore_mask, lc->lcore_id))
			cfg_error(ctx, section, NULL, "lcore %u is not in [eal] lcores (%s)",
				lc->lcore_id, cfg->eal.lcores);
		else if (main_lcore >= 0 && (int)lc->lcore_id == main_lcore)
			cfg_error(ctx, section, NULL,
				"lcore %u is the main lcore, which does stats and control only",
				lc->lcore_id);
		rx = rte_cfgfile_get_entry(ini, section, "rx");
		if (rx != NULL)
			parse_lcore_rx(ctx, lc, section, rx, owner);
	}
	if (cfg->n_lcores == 0)
		return;
	/* With explicit lcores, every rx queue must have a poller. */
	for (i = 0; i < cfg->n_ports; i++) {
		snprintf(section, sizeof(section), "port %s", cfg->port[i].name);
		for (q = 0; q < cfg->port[i].rx_queues; q++)
			if (owner[i][q] == 0)
				cfg_error(ctx, section, NULL,
					"rx queue %u is polled by no [lcore N] section", q);
	}
}

static void
config_defaults(struct vmlink_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->burst = 32;
	cfg->stats_interval = 1;
	cfg->eal.main_lcore = -1;
	cfg->eal.telemetry = true;
	snprintf(cfg->eal.file_prefix, sizeof(cfg->eal.file_prefix), "vmlink");
}

/*
 * The buffer for a file of SIZE bytes (st_size; 0 for a pipe): one byte
 * more than that, so that the read that sees end-of-file needs no growth,
 * and never more than CFG_FILE_MAX + 1 (one over the limit tells "too
 * long" apart). Sized from the file because the fuzzer loads thousands of
 * small files a second and a megabyte each was most of its time.
 */
static size_t
config_buf_size(off_t size)
{
	if (size <= 0)
		return 4096;
	if ((uint64_t)size >= CFG_FILE_MAX)
		return CFG_FILE_MAX + 1;
	return (size_t)size + 1;
}

/*
 * The bytes of FILE, read once (a pipe or /dev/stdin cannot be read
 * twice) and at most CFG_FILE_MAX of them: the buffer grows if the file
 * is longer than fstat said (a pipe, or a file still being written).
 * NULL after an error message.
 */
static char *
read_config_file(const char *file, const char *name, size_t *len, FILE *err)
{
	struct stat st;
	size_t n = 0, cap;
	char *buf, *bigger;
	int fd;

	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(err, "%s: cannot open: %s\n", name, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0)
		st.st_size = 0;
	else if (S_ISDIR(st.st_mode)) {
		fprintf(err, "%s: is a directory, not a configuration file\n", name);
		close(fd);
		return NULL;
	}
	cap = config_buf_size(S_ISREG(st.st_mode) ? st.st_size : 0);
	buf = malloc(cap);
	if (buf == NULL)
		goto nomem;
	while (n <= CFG_FILE_MAX) {
		ssize_t r;

		if (n == cap) {
			cap = RTE_MIN(cap * 2, (size_t)CFG_FILE_MAX + 1);
			bigger = realloc(buf, cap);
			if (bigger == NULL)
				goto nomem;
			buf = bigger;
		}
		r = read(fd, buf + n, cap - n);
		if (r == 0)
			break;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(err, "%s: read error: %s\n", name, strerror(errno));
			goto fail;
		}
		n += (size_t)r;
	}
	if (n > CFG_FILE_MAX) {
		fprintf(err, "%s: more than %d bytes: not a configuration file\n",
			name, CFG_FILE_MAX);
		goto fail;
	}
	close(fd);
	*len = n;
	return buf;
nomem:
	fprintf(err, "%s: out of memory\n", name);
fail:
	close(fd);
	free(buf);
	return NULL;
}

/* TEXT as a file rte_cfgfile can open (it takes only paths): a memfd,
 * named by PATH; returns the fd to close, or -1. */
static int
text_as_file(const char *text, size_t len, char *path, size_t path_len)
{
	int fd = memfd_create("vmlink.ini", MFD_CLOEXEC);
	size_t done = 0;

	while (fd >= 0 && done < len) {
		ssize_t w = write(fd, text + done, len - done);

		if (w <= 0) {
			close(fd);
			return -1;
		}
		done += (size_t)w;
	}
	if (fd >= 0)
		snprintf(path, path_len, "/proc/self/fd/%d", fd);
	return fd;
}

int
config_load(struct vmlink_cfg *cfg, const char *file, const char *display_name,
	FILE *err)
{
	const char *name = display_name != NULL ? display_name : file;
	size_t len = 0;
	char *text;
	int ret;

	text = read_config_file(file, name, &len, err);
	if (text == NULL) {
		config_defaults(cfg);
		snprintf(cfg->file, sizeof(cfg->file), "%s", name);
		return -1;
	}
	ret = config_load_text(cfg, text, len, name, err);
	free(text);
	return ret;
}

int
config_load_text(struct vmlink_cfg *cfg, const char *text, size_t len,
	const char *name, FILE *err)
{
	struct cfg_ctx ctx = {.cfg = cfg, .err = err};
	struct rte_cfgfile *ini = NULL;
	char arg[INI_NAME_LEN], path[64];
	char **names = NULL;
	int n_sections = 0, fd;
	int i;
	FILE *f;

	config_defaults(cfg);
	snprintf(cfg->file, sizeof(cfg->file), "%s", name);

	/* fmemopen refuses an empty buffer: an empty file scans as one
	 * newline, which holds nothing either. */
	f = len > 0 ? fmemopen((void *)(uintptr_t)text, len, "r") :
		fmemopen((void *)(uintptr_t)"\n", 1, "r");
	if (f == NULL) {
		fprintf(err, "%s: out of memory\n", cfg->file);
		return -1;
	}
	if (scan_file(&ctx, f) < 0) {
		fprintf(err, "%s: out of memory\n", cfg->file);
		ctx.n_errors++;
	}
	fclose(f);
	if (ctx.n_errors > 0)
		goto out;

	fd = text_as_file(text, len, path, sizeof(path));
	if (fd < 0) {
		fprintf(err, "%s: cannot hand the file to rte_cfgfile: %s\n",
			cfg->file, strerror(errno));
		ctx.n_errors++;
		goto out;
	}
	ini = rte_cfgfile_load(path, 0);
	close(fd);
	if (ini == NULL) {
		fprintf(err, "%s: rte_cfgfile could not load the file\n", cfg->file);
		ctx.n_errors++;
		goto out;
	}
	n_sections = rte_cfgfile_num_sections(ini, NULL, 0);
	names = calloc(n_sections > 0 ? n_sections : 1, sizeof(*names));
	if (names == NULL)
		goto oom;
	for (i = 0; i < n_sections; i++) {
		names[i] = malloc(INI_NAME_LEN);
		if (names[i] == NULL)
			goto oom;
	}
	rte_cfgfile_sections(ini, names, n_sections);

	/* Ports first, so [lcore] rx lists can name ports defined later. */
	for (i = 0; i < n_sections; i++) {
		const char *s = names[i];

		ctx.section = s;
		if (strcmp(s, "vmlink") == 0) {
			parse_entries(&ctx, ini, s, vmlink_keys, cfg, -1);
		} else if (strcmp(s, "eal") == 0) {
			cfg->has_eal = true;
			parse_entries(&ctx, ini, s, eal_keys, &cfg->eal, -1);
		} else if (strncmp(s, "port", 4) == 0 && isspace((unsigned char)s[4])) {
			snprintf(arg, sizeof(arg), "%s", s + 5);
			parse_port(&ctx, ini, s, strip(arg));
		} else if (strcmp(s, "port") == 0) {
			cfg_error(&ctx, s, NULL, "a port section needs a name: [port NAME]");
		} else if (strncmp(s, "lcore", 5) == 0 && isspace((unsigned char)s[5])) {
			snprintf(arg, sizeof(arg), "%s", s + 6);
			parse_lcore_header(&ctx, s, strip(arg));
			parse_entries(&ctx, ini, s, lcore_keys, NULL, -1);
		} else {
			cfg_error(&ctx, s, NULL,
				"unknown section (expected [vmlink], [eal], [port NAME] or [lcore N])");
		}
	}
	ctx.section = NULL;
	for (i = 0; i < (int)cfg->n_ports; i++) {
		int j = config_port_index(cfg, cfg->port[i].name);

		if (j != i)
			cfg_error(&ctx, NULL, NULL, "port '%s' defined twice",
				cfg->port[i].name);
	}
	if (cfg->n_ports == 0)
		cfg_error(&ctx, NULL, NULL, "no [port NAME] section: nothing to forward");
	if (ctx.n_errors == 0)
		check_references(&ctx, ini);
	goto out;
oom:
	fprintf(err, "%s: out of memory\n", cfg->file);
	ctx.n_errors++;
out:
	if (names != NULL) {
		for (i = 0; i < n_sections; i++)
			free(names[i]);
		free(names);
	}
	if (ini != NULL)
		rte_cfgfile_close(ini);
	free(ctx.entries);
	return ctx.n_errors == 0 ? 0 : -1;
}

int
config_port_index(const struct vmlink_cfg *cfg, const char *name)
{
	unsigned int i;

	for (i = 0; i < cfg->n_ports; i++)
		if (strcmp(cfg->port[i].name, name) == 0)
			return (int)i;
	return -1;
}

const char *
config_port_type_name(enum port_type t)
{
	return t < PORT_TYPE_COUNT ? port_type_names[t] : "?";
}

/* ---------------------------------------------------------------------- */
/* EAL arguments */

static bool
is_pci_address(const char *dev)
{
	unsigned int dom, bus, slot, fn;
	char tail;
	int n;

	/* DDDD:BB:SS.F or BB:SS.F, optionally followed by ",devargs" */
	n = sscanf(dev, "%4x:%2x:%2x.%1u%c", &dom, &bus, &slot, &fn, &tail);
	if (n == 4 || (n == 5 && tail == ','))
		return true;
	n = sscanf(dev, "%2x:%2x.%1u%c", &bus, &slot, &fn, &tail);
	return n == 3 || (n == 4 && tail == ',');
}

/* zero-copy of an ivshmem2 port that EAL probes at init: 'auto' decided
 * from the configuration (frames go to its peer; an ethdev peer that is
 * not a net_* vdev may be hardware, whose DMA cannot use these mbufs). */
static int
pci_port_zero_copy(const struct vmlink_cfg *cfg, const struct port_cfg *p)
{
	const struct port_cfg *to;

	if (strcmp(p->zero_copy, "auto") != 0)
		return strcmp(p->zero_copy, "yes") == 0;
	if (p->peer < 0)
		return 1;
	to = &cfg->port[p->peer];
	return !(to->type == PORT_TYPE_ETHDEV &&
		strncmp(to->device, "net_", 4) != 0);
}

int
config_ivshmem2_pci_devargs(const struct vmlink_cfg *cfg,
	const struct port_cfg *p, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s,mode=%s,zero-copy=%d,copy-threshold=%u,"
		"inflight=%u", p->device, p->rx_interrupt ? "doorbell" : "poll",
		pci_port_zero_copy(cfg, p), p->copy_threshold, p->inflight);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int
config_eal_argv(const struct vmlink_cfg *cfg, const char *prog, char **argv,
	int max_args, char *storage, size_t storage_len)
{
	const struct eal_cfg *e = &cfg->eal;
	size_t used = 0;
	int argc = 0;
	bool any_pci = false;
	unsigned int i;

#define PUSH(...) do { \
	int n_ = snprintf(storage + used, storage_len - used, __VA_ARGS__); \
	if (n_ < 0 || (size_t)n_ >= storage_len - used || argc >= max_args - 1) \
		return -1; \
	argv[argc++] = storage + used; \
	used += (size_t)n_ + 1; \
} while (0)

	PUSH("%s", prog);
	if (e->lcores[0] != '\0') {
		PUSH("-l");
		PUSH("%s", e->lcores);
	}
	if (e->main_lcore >= 0) {
		PUSH("--main-lcore");
		PUSH("%d", e->main_lcore);
	}
	PUSH("--file-prefix");
	PUSH("%s", e->file_prefix);
	if (e->memory_mb != 0) {
		PUSH("-m");
		PUSH("%u", e->memory_mb);
	}
	if (e->huge_dir[0] != '\0') {
		PUSH("--huge-dir");
		PUSH("%s", e->huge_dir);
	}
	if (e->no_huge)
		PUSH("--no-huge");
	if (e->in_memory)
		PUSH("--in-memory");
	if (!e->telemetry)
		PUSH("--no-telemetry");
	if (e->iova_mode[0] != '\0')
		PUSH("--iova-mode=%s", e->iova_mode);
	if (e->log_level[0] != '\0')
		PUSH("--log-level=%s", e->log_level);
	/* Only the PCI devices the ports name are probed; none: no scan. */
	for (i = 0; i < cfg->n_ports; i++) {
		const struct port_cfg *p = &cfg->port[i];

		if (p->type == PORT_TYPE_ETHDEV && is_pci_address(p->device)) {
			PUSH("-a");
			PUSH("%s", p->device);
			any_pci = true;
		} else if (p->type == PORT_TYPE_IVSHMEM2 &&
				p->device[0] != '\0') {
			/* probed by EAL at init: its devargs go here */
			char da[CFG_VALUE_MAX + 96];

			if (config_ivshmem2_pci_devargs(cfg, p, da,
					sizeof(da)) != 0)
				return -1;
			PUSH("-a");
			PUSH("%s", da);
			any_pci = true;
		}
	}
	if (!any_pci)
		PUSH("--no-pci");
	if (e->extra[0] != '\0') {
		char buf[CFG_VALUE_MAX];
		char *tok, *save = NULL;

		snprintf(buf, sizeof(buf), "%s", e->extra);
		for (tok = strtok_r(buf, " \t", &save); tok != NULL;
				tok = strtok_r(NULL, " \t", &save))
			PUSH("%s", tok);
	}
#undef PUSH
	argv[argc] = NULL;
	return argc;
}

/* ---------------------------------------------------------------------- */
/* Reference */

static void
print_keys(FILE *out, const struct key_spec *k, bool port)
{
	for (; k->key != NULL; k++) {
		fprintf(out, "  %-15s %s", k->key, k->help);
		if (k->kind == VAL_UINT || k->kind == VAL_INT)
			fprintf(out, " (%u..%u)", k->min, k->max);
		if (k->required)
			fprintf(out, " [required]");
		else if (k->def != NULL)
			fprintf(out, " [default: %s]", k->def);
		if (port && k->port_types != PORT_TYPES_ALL) {
			int t;

			fprintf(out, " [types:");
			for (t = 0; t < PORT_TYPE_COUNT; t++)
				if (k->port_types & PORT_TYPE_BIT(t))
					fprintf(out, " %s", port_type_names[t]);
			fprintf(out, "]");
		}
		fputc('\n', out);
	}
}

void
config_print_reference(FILE *out)
{
	fprintf(out,
		"Configuration file (INI, read with rte_cfgfile): '[section]' headers,\n"
		"'key = value' lines, ';' starts a comment. Unknown sections or keys,\n"
		"duplicates and lines without '=' are errors.\n\n"
		"[vmlink]        global settings\n");
	print_keys(out, vmlink_keys, false);
	fprintf(out, "\n[eal]           EAL arguments (ignored when EAL arguments are\n"
		"                given on the command line before '--')\n");
	print_keys(out, eal_keys, false);
	fprintf(out, "\n[port NAME]     one per port; NAME: 1-31 of A-Z a-z 0-9 _ -\n");
	print_keys(out, port_keys, true);
	fprintf(out, "\n[lcore N]       a worker lcore and the rx queues it polls. Without\n"
		"                any [lcore N] section, the rx queues of all ports are\n"
		"                dealt round-robin to the worker lcores, in file order.\n");
	print_keys(out, lcore_keys, false);
}
