/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * Counters, as the main lcore reports them: a periodic line per port, a
 * final summary, a JSON file and DPDK telemetry commands (/vmlink/...).
 */

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_telemetry.h>

#include "vmlink.h"

void
stats_port_totals(const struct vmlink *vm, unsigned int port,
	struct port_totals *t)
{
	unsigned int i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < vm->n_workers; i++) {
		const struct port_counters *c = &vm->worker[i]->cnt[port];

#define ADD_COUNTER(field, group, name, help) \
		t->field += __atomic_load_n(&c->field, __ATOMIC_RELAXED);
		PORT_COUNTERS(ADD_COUNTER)
#undef ADD_COUNTER
	}
}

/* The names of the port counters, from their list (vmlink.h). */
enum port_group {
#define GROUP_ENUM(group, json) PORT_GROUP_ ## group,
	PORT_GROUPS(GROUP_ENUM)
#undef GROUP_ENUM
};

static const struct {
	const char *json;	/* object in the port object, or NULL */
} port_group[] = {
#define GROUP_NAMES(group, json) { json },
	PORT_GROUPS(GROUP_NAMES)
#undef GROUP_NAMES
};

static const struct {
	enum port_group group;
	const char *name;
	size_t off;		/* in struct port_totals */
} port_counter[] = {
#define COUNTER_NAME(field, group, name, help) \
	{ PORT_GROUP_ ## group, name, offsetof(struct port_totals, field) },
	PORT_COUNTERS(COUNTER_NAME)
#undef COUNTER_NAME
};

static uint64_t
counter_value(const struct port_totals *t, unsigned int i)
{
	uint64_t v;

	memcpy(&v, (const char *)t + port_counter[i].off, sizeof(v));
	return v;
}

/* All drops of a port, and the frames software segmentation added for
 * it: received + added = transmitted + dropped. */
static uint64_t
port_drops(const struct port_totals *t)
{
	return t->drop_tx_full + t->drop_no_route + t->drop_offload +
		t->drop_suspended;
}

static uint64_t
port_added(const struct port_totals *t)
{
	return t->sw_gso_segments - t->sw_gso_frames;
}

/* The port's device sleeps (control.c: /vmlink/suspend). */
static bool
port_suspended(const struct vmlink *vm, unsigned int p)
{
	return __atomic_load_n(&vm->port[p].suspended, __ATOMIC_RELAXED);
}

static const char *
link_state(uint16_t port_id)
{
	struct rte_eth_link link;

	if (rte_eth_link_get_nowait(port_id, &link) != 0)
		return "?";
	return link.link_status == RTE_ETH_LINK_UP ? "up" : "down";
}

/* Rates over the last interval, then totals since the start (or since
 * the last reset): which is which is said on every line. */
void
stats_print_line(const struct vmlink *vm, double interval_s,
	struct port_totals *prev)
{
	unsigned int p;

	for (p = 0; p < vm->n_ports; p++) {
		struct port_totals t;
		double rx_pps, tx_pps, rx_bps;

		stats_port_totals(vm, p, &t);
		rx_pps = (double)(t.rx_pkts - prev[p].rx_pkts) / interval_s;
		tx_pps = (double)(t.tx_pkts - prev[p].tx_pkts) / interval_s;
		rx_bps = (double)(t.rx_bytes - prev[p].rx_bytes) * 8 / interval_s;
		printf("%-12s link %-4s rate: rx %8.3f Mpps %7.3f Gbit/s, tx %8.3f "
			"Mpps | total: rx %" PRIu64 ", tx %" PRIu64 ", dropped "
			"tx-full %" PRIu64 ", no-route %" PRIu64 ", offload %" PRIu64
			", suspended %" PRIu64 "%s\n", vm->cfg->port[p].name,
			link_state(vm->port[p].port_id), rx_pps / 1e6, rx_bps / 1e9,
			tx_pps / 1e6, t.rx_pkts, t.tx_pkts, t.drop_tx_full,
			t.drop_no_route, t.drop_offload, t.drop_suspended,
			port_suspended(vm, p) ? " (port suspended)" : "");
		prev[p] = t;
	}
	fflush(stdout);
}

/* vmlink's counters of port P, and the device's own. */
static void
port_snapshot(const struct vmlink *vm, unsigned int p, struct port_totals *t,
	struct rte_eth_stats *es)
{
	stats_port_totals(vm, p, t);
	memset(es, 0, sizeof(*es));
	rte_eth_stats_get(vm->port[p].port_id, es);
}

void
stats_print_summary(const struct vmlink *vm, double elapsed_s)
{
	uint64_t rx = 0, tx = 0, drops = 0, added = 0, sw_csum = 0, gso = 0;
	unsigned int p;

	printf("\nvmlink summary after %.1f s:\n", elapsed_s);
	printf("%-12s %14s %14s %14s %12s %12s %12s %12s %10s %10s\n", "port",
		"rx-packets", "tx-packets", "rx-bytes", "drop-txfull",
		"drop-noroute", "drop-offload", "drop-suspend", "dev-missed",
		"dev-nombuf");
	for (p = 0; p < vm->n_ports; p++) {
		struct port_totals t;
		struct rte_eth_stats es;

		port_snapshot(vm, p, &t, &es);
		printf("%-12s %14" PRIu64 " %14" PRIu64 " %14" PRIu64 " %12" PRIu64
			" %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %10" PRIu64
			" %10" PRIu64 "\n", vm->cfg->port[p].name, t.rx_pkts,
			t.tx_pkts, t.rx_bytes, t.drop_tx_full, t.drop_no_route,
			t.drop_offload, t.drop_suspended, es.imissed, es.rx_nombuf);
		rx += t.rx_pkts;
		tx += t.tx_pkts;
		drops += port_drops(&t);
		added += port_added(&t);
		sw_csum += t.sw_csum;
		gso += t.sw_gso_frames;
	}
	if (sw_csum + gso != 0)
		printf("offloads completed in software: %" PRIu64 " checksums, %"
			PRIu64 " TSO frames segmented into %" PRIu64 "\n", sw_csum,
			gso, gso + added);
	for (p = 0; p < vm->n_workers; p++) {
		const struct worker *w = vm->worker[p];

		if (w->sleep_when_idle)
			printf("lcore %u slept %" PRIu64 " times, woken by rx "
				"interrupts %" PRIu64 " times\n", w->lcore_id,
				w->sleeps, w->wakeups);
	}
	if (added != 0)
		printf("total: received %" PRIu64 " + %" PRIu64 " made by "
			"segmentation = transmitted %" PRIu64 " + dropped %" PRIu64
			"%s\n", rx, added, tx, drops,
			rx + added == tx + drops ? "" : "  (MISMATCH)");
	else
		printf("total: received %" PRIu64 " = transmitted %" PRIu64
			" + dropped %" PRIu64 "%s\n", rx, tx, drops,
			rx == tx + drops ? "" : "  (MISMATCH)");
	fflush(stdout);
}

/* ------------------------------------------------------------------------ */
/* The device's own counters (ethdev xstats) in the JSON file: per queue,
 * by malformed-input reason, and the rest. The names are the drivers';
 * vmlink keeps no list of them (docs/stats-json.md). */

struct dev_xstats {
	int n;
	struct rte_eth_xstat_name *names;
	struct rte_eth_xstat *values;
};

static void
dev_xstats_free(struct dev_xstats *x)
{
	free(x->names);
	free(x->values);
	memset(x, 0, sizeof(*x));
}

/* Names and values of PORT_ID's xstats; none when the device has none
 * or changes their number between the calls. */
static void
dev_xstats_get(uint16_t port_id, struct dev_xstats *x)
{
	int n = rte_eth_xstats_get_names(port_id, NULL, 0);

	memset(x, 0, sizeof(*x));
	if (n <= 0)
		return;
	x->names = calloc((size_t)n, sizeof(*x->names));
	x->values = calloc((size_t)n, sizeof(*x->values));
	if (x->names == NULL || x->values == NULL ||
			rte_eth_xstats_get_names(port_id, x->names, (unsigned int)n) != n ||
			rte_eth_xstats_get(port_id, x->values, (unsigned int)n) != n) {
		dev_xstats_free(x);
		return;
	}
	for (x->n = 0; x->n < n; x->n++)
		x->names[x->n].name[sizeof(x->names[0].name) - 1] = '\0';
}

/* "rx_q3_bytes": DIR "rx", queue 3, counter "bytes" (ethdev's naming of
 * per-queue xstats, which both vmlink PMDs follow). */
static bool
queue_xstat(const char *name, char dir, unsigned long *queue,
	const char **counter)
{
	char *end;

	if (name[0] != dir || strncmp(name + 1, "x_q", 3) != 0 ||
			name[4] < '0' || name[4] > '9')
		return false;
	*queue = strtoul(name + 4, &end, 10);
	if (*end != '_' || end[1] == '\0')
		return false;
	*counter = end + 1;
	return true;
}

/* The reason a counter of malformed input counts, or NULL. Prefixes:
 * vhost-user's per-queue "malformed_<reason>", ivshmem2's link-wide
 * "violation_<reason>". */
static const char *
malformed_reason(const char *counter)
{
	static const char *const prefix[] = {"malformed_", "violation_"};
	unsigned int i;

	for (i = 0; i < RTE_DIM(prefix); i++)
		if (strncmp(counter, prefix[i], strlen(prefix[i])) == 0)
			return counter + strlen(prefix[i]);
	return NULL;
}

/* The counter part of xstat I (past a queue prefix). */
static const char *
xstat_counter(const struct dev_xstats *x, int i, bool *per_queue)
{
	const char *name = x->names[i].name, *counter;
	unsigned long q;

	*per_queue = queue_xstat(name, 'r', &q, &counter) ||
		queue_xstat(name, 't', &q, &counter);
	return *per_queue ? counter : name;
}

/* NAME as a JSON string: xstat names are the drivers', not ours. */
static void
json_string(FILE *f, const char *name)
{
	const unsigned char *c;

	fputc('"', f);
	for (c = (const unsigned char *)name; *c != '\0'; c++) {
		if (*c == '"' || *c == '\\')
			fprintf(f, "\\%c", *c);
		else if (*c < 0x20 || *c >= 0x7f)
			fprintf(f, "\\u%04x", *c);
		else
			fputc(*c, f);
	}
	fputc('"', f);
}

/* "rx": {"0": {"packets": N, ...}, ...}: DIR's queues in order. */
static void
json_queues(FILE *f, const struct dev_xstats *x, char dir)
{
	unsigned long q, n_queues = 0, k;
	const char *counter;
	bool first_q = true;
	int i;

	for (i = 0; i < x->n; i++)
		if (queue_xstat(x->names[i].name, dir, &q, &counter) && q < 65536)
			n_queues = RTE_MAX(n_queues, q + 1);
	fprintf(f, "\"%cx\": {", dir);
	for (k = 0; k < n_queues; k++) {
		bool first = true;

		for (i = 0; i < x->n; i++) {
			if (!queue_xstat(x->names[i].name, dir, &q, &counter) ||
					q != k)
				continue;
			fprintf(f, "%s", first ? (first_q ? "" : ", ") : ", ");
			if (first)
				fprintf(f, "\"%lu\": {", k);
			json_string(f, counter);
			fprintf(f, ": %" PRIu64, x->values[i].value);
			first = first_q = false;
		}
		if (!first)
			fputc('}', f);
	}
	fputc('}', f);
}

/* "malformed": {reason: count summed over the queues}, in the order
 * the device lists them. */
static void
json_malformed(FILE *f, const struct dev_xstats *x)
{
	const char *first = "";
	bool pq;
	int i, j;

	fprintf(f, "\"malformed\": {");
	for (i = 0; i < x->n; i++) {
		const char *reason = malformed_reason(xstat_counter(x, i, &pq));
		uint64_t sum = 0;

		if (reason == NULL)
			continue;
		for (j = 0; j < i; j++) {
			const char *r = malformed_reason(xstat_counter(x, j, &pq));

			if (r != NULL && strcmp(r, reason) == 0)
				break;
		}
		if (j < i)
			continue;	/* counted with its first queue */
		for (j = i; j < x->n; j++) {
			const char *r = malformed_reason(xstat_counter(x, j, &pq));

			if (r != NULL && strcmp(r, reason) == 0)
				sum += x->values[j].value;
		}
		fprintf(f, "%s", first);
		json_string(f, reason);
		fprintf(f, ": %" PRIu64, sum);
		first = ", ";
	}
	fputc('}', f);
}

/* "device_xstats": the xstats neither per queue nor in "malformed". */
static void
json_other_xstats(FILE *f, const struct dev_xstats *x)
{
	const char *first = "";
	bool pq;
	int i;

	fprintf(f, "\"device_xstats\": {");
	for (i = 0; i < x->n; i++) {
		if (malformed_reason(xstat_counter(x, i, &pq)) != NULL || pq)
			continue;
		fprintf(f, "%s", first);
		json_string(f, x->names[i].name);
		fprintf(f, ": %" PRIu64, x->values[i].value);
		first = ", ";
	}
	fputc('}', f);
}

/* "queues", "malformed", "device_xstats" of PORT_ID (docs/stats-json.md) */
static void
json_device_counters(FILE *f, uint16_t port_id)
{
	struct dev_xstats x;

	dev_xstats_get(port_id, &x);
	fprintf(f, "\"queues\": {");
	json_queues(f, &x, 'r');
	fprintf(f, ", ");
	json_queues(f, &x, 't');
	fprintf(f, "},\n      ");
	json_malformed(f, &x);
	fprintf(f, ",\n      ");
	json_other_xstats(f, &x);
	dev_xstats_free(&x);
}

/* vmlink's counters of a port, as members of its JSON object: each
 * group's in an object of their own. */
static void
json_port_counters(FILE *f, const struct port_totals *t)
{
	enum port_group group = PORT_GROUP_TOP;
	const char *sep = "";
	unsigned int i;

	for (i = 0; i < RTE_DIM(port_counter); i++) {
		if (port_counter[i].group != group) {
			if (group != PORT_GROUP_TOP)
				fputc('}', f);
			group = port_counter[i].group;
			fprintf(f, "%s\"%s\": {", sep, port_group[group].json);
			sep = "";
		}
		fprintf(f, "%s\"%s\": %" PRIu64, sep, port_counter[i].name,
			counter_value(t, i));
		sep = ", ";
	}
	if (group != PORT_GROUP_TOP)
		fputc('}', f);
}

int
stats_write_json(const struct vmlink *vm, const char *path, double elapsed_s)
{
	uint64_t rx = 0, tx = 0, drops = 0, added = 0;
	unsigned int p;
	FILE *f;

	f = fopen(path, "w");
	if (f == NULL) {
		fprintf(stderr, "vmlink: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(f, "{\n  \"elapsed_s\": %.3f,\n  \"ports\": {", elapsed_s);
	for (p = 0; p < vm->n_ports; p++) {
		struct port_totals t;
		struct rte_eth_stats es;

		port_snapshot(vm, p, &t, &es);
		fprintf(f, "%s\n    \"%s\": {\"suspended\": %s, ", p == 0 ? "" : ",",
			vm->cfg->port[p].name, port_suspended(vm, p) ? "true" : "false");
		json_port_counters(f, &t);
		fprintf(f, ", \"device\": {"
			"\"ipackets\": %" PRIu64 ", \"opackets\": %" PRIu64
			", \"imissed\": %" PRIu64 ", \"ierrors\": %" PRIu64
			", \"oerrors\": %" PRIu64 ", \"rx_nombuf\": %" PRIu64 "},\n"
			"      ", es.ipackets, es.opackets, es.imissed,
			es.ierrors, es.oerrors, es.rx_nombuf);
		json_device_counters(f, vm->port[p].port_id);
		fputc('}', f);
		rx += t.rx_pkts;
		tx += t.tx_pkts;
		drops += port_drops(&t);
		added += port_added(&t);
	}
	fprintf(f, "\n  },\n  \"lcores\": {");
	for (p = 0; p < vm->n_workers; p++) {
		const struct worker *w = vm->worker[p];

		fprintf(f, "%s\n    \"%u\": {\"rx_queues\": %u, \"sleeps\": %" PRIu64
			", \"wakeups\": %" PRIu64 "}", p == 0 ? "" : ",", w->lcore_id,
			w->n_rxq, __atomic_load_n(&w->sleeps, __ATOMIC_RELAXED),
			__atomic_load_n(&w->wakeups, __ATOMIC_RELAXED));
	}
	/* rx_packets + segments_added = tx_packets + drops */
	fprintf(f, "\n  },\n  \"totals\": {\"rx_packets\": %" PRIu64
		", \"tx_packets\": %" PRIu64 ", \"drops\": %" PRIu64
		", \"segments_added\": %" PRIu64 "}\n}\n", rx, tx, drops, added);
	if (fclose(f) != 0) {
		fprintf(stderr, "vmlink: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Telemetry callbacks run on EAL's telemetry thread: they only read. */
static const struct vmlink *tel_vm;

static int
tel_ports(const char *cmd __rte_unused, const char *params __rte_unused,
	struct rte_tel_data *d)
{
	unsigned int p;

	rte_tel_data_start_array(d, RTE_TEL_STRING_VAL);
	for (p = 0; p < tel_vm->n_ports; p++)
		rte_tel_data_add_array_string(d, tel_vm->cfg->port[p].name);
	return 0;
}

/* vmlink's counters of a port into the dict @p d, each group's in a
 * dict of their own: the same names as the JSON file's. */
static int
tel_port_counters(struct rte_tel_data *d, const struct port_totals *t)
{
	struct rte_tel_data *sub[RTE_DIM(port_group)] = { NULL };
	unsigned int i, g;

	for (g = 0; g < RTE_DIM(port_group); g++) {
		if (port_group[g].json == NULL)
			continue;
		sub[g] = rte_tel_data_alloc();
		if (sub[g] == NULL)
			goto fail;
		rte_tel_data_start_dict(sub[g]);
	}
	for (i = 0; i < RTE_DIM(port_counter); i++) {
		g = port_counter[i].group;
		rte_tel_data_add_dict_u64(sub[g] != NULL ? sub[g] : d,
			port_counter[i].name, counter_value(t, i));
	}
	for (g = 0; g < RTE_DIM(port_group); g++) {
		if (sub[g] == NULL)
			continue;
		if (rte_tel_data_add_dict_container(d, port_group[g].json,
				sub[g], 0) != 0)
			goto fail;
		sub[g] = NULL;	/* d frees it */
	}
	return 0;
fail:
	for (g = 0; g < RTE_DIM(port_group); g++)
		rte_tel_data_free(sub[g]);
	return -ENOMEM;
}

static int
tel_port_stats(const char *cmd __rte_unused, const char *params,
	struct rte_tel_data *d)
{
	struct port_totals t;
	int p;

	if (params == NULL)
		return -EINVAL;
	p = config_port_index(tel_vm->cfg, params);
	if (p < 0)
		return -EINVAL;
	stats_port_totals(tel_vm, (unsigned int)p, &t);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "name", tel_vm->cfg->port[p].name);
	rte_tel_data_add_dict_int(d, "ethdev_port", tel_vm->port[p].port_id);
	rte_tel_data_add_dict_string(d, "link", link_state(tel_vm->port[p].port_id));
	rte_tel_data_add_dict_string(d, "suspended",
		port_suspended(tel_vm, (unsigned int)p) ? "yes" : "no");
	return tel_port_counters(d, &t);
}

int
stats_telemetry_register(const struct vmlink *vm)
{
	tel_vm = vm;
	if (rte_telemetry_register_cmd("/vmlink/ports", tel_ports,
			"Names of the vmlink ports. Takes no parameters") != 0 ||
			rte_telemetry_register_cmd("/vmlink/port_stats", tel_port_stats,
			"vmlink counters of a port. Parameters: port name") != 0)
		return -1;
	return 0;
}
