/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * Acting on a running vmlink, through DPDK telemetry commands (the socket
 * /var/run/dpdk/<file-prefix>/dpdk_telemetry.v2; usertools/vmlinkctl is
 * the client): port and lcore views, counters reset, a port's admin
 * state, suspending and resuming a vhost-user device, log levels, packet
 * capture.
 *
 * Telemetry runs each client on a thread of its own. Actions are
 * serialised by one mutex and refused once vmlink is stopping. What a
 * worker owns (its counters, its rx queue list, its tx queues) only the
 * worker changes: the requester posts a request and waits until every
 * worker has applied it between two loop rounds (control_apply), which
 * also tells it that no worker is still inside an ethdev callback it has
 * just removed. Actions answer a dictionary; a failed one has "error".
 */

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_log.h>
#include <rte_telemetry.h>

#include "capture.h"
#include "rte_pmd_vmlink_vhost.h"
#include "vmlink.h"

/* How long a requester waits for every worker (a sleeping worker wakes
 * at least every 100 ms). */
#define CTL_WAIT_US (2 * 1000 * 1000)

static struct vmlink *ctl_vm;
static pthread_mutex_t ctl_lock = PTHREAD_MUTEX_INITIALIZER;
static bool ctl_closed = true;		/* no actions before init, after fini */
static uint32_t ctl_reset_ports;	/* request: ports whose counters to zero */

/* ------------------------------------------------------------------------ */
/* Worker side */

static void
zero_counters(struct port_counters *c)
{
#define ZERO_COUNTER(field, group, name, help) \
	__atomic_store_n(&c->field, 0, __ATOMIC_RELAXED);
	PORT_COUNTERS(ZERO_COUNTER)
#undef ZERO_COUNTER
}

/* Not polled: admin down or suspended. */
static bool
port_idle(const struct port_rt *pr)
{
	return __atomic_load_n(&pr->admin_down, __ATOMIC_RELAXED) ||
		__atomic_load_n(&pr->suspended, __ATOMIC_RELAXED);
}

void
control_apply(struct vmlink *vm, struct worker *w)
{
	uint32_t seq = __atomic_load_n(&w->ctl_seq, __ATOMIC_ACQUIRE);
	uint32_t reset = ctl_reset_ports;
	unsigned int i, n = 0;

	/* Between bursts: sum(rx) = sum(tx) + drops holds for what is left. */
	for (i = 0; i < vm->n_ports; i++)
		if (reset & (UINT32_C(1) << i))
			zero_counters(&w->cnt[i]);
	/* An admin-down port is not polled and gets nothing: frames routed
	 * to it count as no-route drops of the port they came from. A
	 * suspended one neither (its bursts would return 0): frames for it
	 * count as its own suspended drops. */
	w->suspended = 0;
	for (i = 0; i < vm->n_ports; i++) {
		bool down = __atomic_load_n(&vm->port[i].admin_down,
			__ATOMIC_RELAXED);
		bool asleep = __atomic_load_n(&vm->port[i].suspended,
			__ATOMIC_RELAXED);

		w->txq[i] = down || asleep ? NO_TXQ : w->txq_planned[i];
		if (asleep && !down)
			w->suspended |= UINT32_C(1) << i;
	}
	for (i = 0; i < w->n_rxq_planned; i++)
		if (!port_idle(&vm->port[w->rxq_planned[i].port]))
			w->rxq[n++] = w->rxq_planned[i];
	w->n_rxq = n;
	__atomic_store_n(&w->ctl_ack, seq, __ATOMIC_RELEASE);
}

/* Post a request (RESET: ports whose counters to zero) to every worker
 * and wait until all have applied it. Called with ctl_lock held. */
static int
post_request(struct vmlink *vm, uint32_t reset)
{
	uint64_t end = rte_get_tsc_cycles() +
		rte_get_tsc_hz() / 1000000 * CTL_WAIT_US;
	unsigned int i;

	ctl_reset_ports = reset;
	for (i = 0; i < vm->n_workers; i++) {
		struct worker *w = vm->worker[i];

		__atomic_store_n(&w->ctl_seq, w->ctl_seq + 1, __ATOMIC_RELEASE);
	}
	for (i = 0; i < vm->n_workers; i++) {
		struct worker *w = vm->worker[i];

		/* A worker whose loop has returned runs no callback either. */
		while (__atomic_load_n(&w->ctl_ack, __ATOMIC_ACQUIRE) != w->ctl_seq &&
				rte_eal_get_lcore_state(w->lcore_id) == RUNNING) {
			if (rte_get_tsc_cycles() > end)
				return -ETIMEDOUT;
			rte_delay_us_sleep(1000);
		}
	}
	ctl_reset_ports = 0;
	return 0;
}

int
control_quiesce(struct vmlink *vm)
{
	return post_request(vm, 0);
}

int
control_wait_workers(struct vmlink *vm)
{
	int ret = 0;

	pthread_mutex_lock(&ctl_lock);
	if (!ctl_closed)	/* closed: the workers have returned */
		ret = post_request(vm, 0);
	pthread_mutex_unlock(&ctl_lock);
	return ret;
}

/* ------------------------------------------------------------------------ */
/* Telemetry helpers */

static int
reply_error(struct rte_tel_data *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int
reply_error(struct rte_tel_data *d, const char *fmt, ...)
{
	char msg[RTE_TEL_MAX_STRING_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "error", msg);
	return 0;
}

/* Take the control lock for an action; false (and an error reply) when
 * vmlink is not (or no longer) running. */
static bool
ctl_enter(struct rte_tel_data *d)
{
	pthread_mutex_lock(&ctl_lock);
	if (ctl_closed || __atomic_load_n(&vmlink_quit, __ATOMIC_RELAXED)) {
		pthread_mutex_unlock(&ctl_lock);
		reply_error(d, "vmlink is stopping");
		return false;
	}
	return true;
}

static void
ctl_leave(void)
{
	pthread_mutex_unlock(&ctl_lock);
}

/* Split PARAMS at the first ',' into WORD (at most LEN bytes); returns
 * what follows, or "" when nothing does. */
static const char *
next_word(const char *params, char *word, size_t len)
{
	size_t n = strcspn(params, ",");

	snprintf(word, len, "%.*s", (int)RTE_MIN(n, len - 1), params);
	if (n >= len)
		word[0] = '\0';		/* too long: no valid word */
	return params[n] == ',' ? params + n + 1 : params + n;
}

static int
port_by_name(const char *name)
{
	return ctl_vm == NULL ? -1 : config_port_index(ctl_vm->cfg, name);
}

static const char *
link_str(uint16_t port_id)
{
	struct rte_eth_link link;

	if (rte_eth_link_get_nowait(port_id, &link) != 0)
		return "?";
	return link.link_status == RTE_ETH_LINK_UP ? "up" : "down";
}

/* Why a port is not polled, for a listing: "" when it is. */
static const char *
idle_note(const struct port_rt *pr)
{
	if (__atomic_load_n(&pr->admin_down, __ATOMIC_RELAXED))
		return " (admin down)";
	if (__atomic_load_n(&pr->suspended, __ATOMIC_RELAXED))
		return " (suspended)";
	return "";
}

/* ------------------------------------------------------------------------ */
/* Views */

static int
tel_port_info(const char *cmd __rte_unused, const char *params,
	struct rte_tel_data *d)
{
	const struct port_rt *pr;
	struct rte_eth_dev_info info;
	char name[RTE_ETH_NAME_MAX_LEN];
	int p;

	if (params == NULL || (p = port_by_name(params)) < 0)
		return -EINVAL;
	if (!ctl_enter(d))
		return 0;
	pr = &ctl_vm->port[p];
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "name", pr->cfg->name);
	rte_tel_data_add_dict_string(d, "type", config_port_type_name(pr->cfg->type));
	if (rte_eth_dev_get_name_by_port(pr->port_id, name) == 0)
		rte_tel_data_add_dict_string(d, "device", name);
	if (rte_eth_dev_info_get(pr->port_id, &info) == 0)
		rte_tel_data_add_dict_string(d, "driver", info.driver_name);
	rte_tel_data_add_dict_int(d, "ethdev_port", pr->port_id);
	rte_tel_data_add_dict_string(d, "link", link_str(pr->port_id));
	rte_tel_data_add_dict_string(d, "admin", pr->admin_down ? "down" : "up");
	rte_tel_data_add_dict_string(d, "suspended", pr->suspended ? "yes" : "no");
	rte_tel_data_add_dict_int(d, "rx_queues", (int)pr->cfg->rx_queues);
	rte_tel_data_add_dict_int(d, "tx_queues", pr->n_txq);
	rte_tel_data_add_dict_string(d, "peer", pr->cfg->peer >= 0 ?
		ctl_vm->cfg->port[pr->cfg->peer].name : "");
	ctl_leave();
	return 0;
}

static int
tel_lcores(const char *cmd __rte_unused, const char *params __rte_unused,
	struct rte_tel_data *d)
{
	unsigned int i;

	rte_tel_data_start_array(d, RTE_TEL_INT_VAL);
	for (i = 0; ctl_vm != NULL && i < ctl_vm->n_workers; i++)
		rte_tel_data_add_array_int(d, (int)ctl_vm->worker[i]->lcore_id);
	return 0;
}

/* A worker: the rx queues it polls (planned, and whether polled now) and
 * the tx queue it owns on each port it sends to. */
static int
tel_lcore(const char *cmd __rte_unused, const char *params,
	struct rte_tel_data *d)
{
	struct rte_tel_data *rx, *tx;
	const struct worker *w = NULL;
	char item[RTE_TEL_MAX_STRING_LEN];
	unsigned int i;
	char *end;
	long id;

	if (params == NULL || ctl_vm == NULL)
		return -EINVAL;
	id = strtol(params, &end, 10);
	for (i = 0; *params != '\0' && *end == '\0' && i < ctl_vm->n_workers; i++)
		if ((long)ctl_vm->worker[i]->lcore_id == id)
			w = ctl_vm->worker[i];
	if (w == NULL)
		return -EINVAL;
	rx = rte_tel_data_alloc();
	tx = rte_tel_data_alloc();
	if (rx == NULL || tx == NULL) {
		rte_tel_data_free(rx);
		rte_tel_data_free(tx);
		return -ENOMEM;
	}
	rte_tel_data_start_array(rx, RTE_TEL_STRING_VAL);
	rte_tel_data_start_array(tx, RTE_TEL_STRING_VAL);
	for (i = 0; i < w->n_rxq_planned; i++) {
		const struct worker_rxq *q = &w->rxq_planned[i];

		snprintf(item, sizeof(item), "%s:%u%s", ctl_vm->cfg->port[q->port].name,
			q->queue, idle_note(&ctl_vm->port[q->port]));
		rte_tel_data_add_array_string(rx, item);
	}
	for (i = 0; i < ctl_vm->n_ports; i++) {
		unsigned int k;

		for (k = 0; k < w->txqs[i].n; k++) {
			snprintf(item, sizeof(item), "%s:%u",
				ctl_vm->cfg->port[i].name, w->txqs[i].q[k]);
			rte_tel_data_add_array_string(tx, item);
		}
	}
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_int(d, "lcore", (int)w->lcore_id);
	rte_tel_data_add_dict_container(d, "rx_queues", rx, 0);
	rte_tel_data_add_dict_container(d, "tx_queues", tx, 0);
	rte_tel_data_add_dict_string(d, "sleeps_when_idle",
		w->sleep_when_idle ? "yes" : "no");
	rte_tel_data_add_dict_u64(d, "sleeps",
		__atomic_load_n(&w->sleeps, __ATOMIC_RELAXED));
	rte_tel_data_add_dict_u64(d, "wakeups",
		__atomic_load_n(&w->wakeups, __ATOMIC_RELAXED));
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Actions */

static int
tel_reset(const char *cmd __rte_unused, const char *params,
	struct rte_tel_data *d)
{
	struct rte_tel_data *names;
	uint32_t mask = 0;
	unsigned int i;
	int p;

	if (params != NULL && params[0] != '\0') {
		p = port_by_name(params);
		if (p < 0)
			return reply_error(d, "no port named '%s'", params);
		mask = UINT32_C(1) << p;
	} else if (ctl_vm != NULL) {
		mask = (uint32_t)((UINT64_C(1) << ctl_vm->n_ports) - 1);
	}
	if (!ctl_enter(d))
		return 0;
	if (post_request(ctl_vm, mask) != 0) {
		ctl_leave();
		return reply_error(d, "workers did not answer");
	}
	names = rte_tel_data_alloc();
	if (names != NULL)
		rte_tel_data_start_array(names, RTE_TEL_STRING_VAL);
	for (i = 0; i < ctl_vm->n_ports; i++) {
		if (!(mask & (UINT32_C(1) << i)))
			continue;
		/* The device's own counters: as testpmd's "clear port stats" */
		rte_eth_stats_reset(ctl_vm->port[i].port_id);
		rte_eth_xstats_reset(ctl_vm->port[i].port_id);
		if (names != NULL)
			rte_tel_data_add_array_string(names, ctl_vm->cfg->port[i].name);
	}
	ctl_leave();
	rte_tel_data_start_dict(d);
	if (names != NULL)
		rte_tel_data_add_dict_container(d, "reset", names, 0);
	return 0;
}

static int
tel_link(const char *cmd __rte_unused, const char *params,
	struct rte_tel_data *d)
{
	char name[CFG_NAME_MAX], state[8];
	const char *rest;
	struct port_rt *pr;
	bool down;
	int p, ret;

	if (params == NULL)
		return reply_error(d, "usage: /vmlink/link,PORT,up|down");
	rest = next_word(params, name, sizeof(name));
	next_word(rest, state, sizeof(state));
	p = port_by_name(name);
	if (p < 0)
		return reply_error(d, "no port named '%s'", name);
	if (strcmp(state, "up") != 0 && strcmp(state, "down") != 0)
		return reply_error(d, "link state must be up or down, not '%s'", rest);
	down = strcmp(state, "down") == 0;
	if (!ctl_enter(d))
		return 0;
	pr = &ctl_vm->port[p];
	__atomic_store_n(&pr->admin_down, down, __ATOMIC_RELAXED);
	if (post_request(ctl_vm, 0) != 0) {
		ctl_leave();
		return reply_error(d, "workers did not answer");
	}
	/* Devices with a link of their own (tap, NICs) show it to the other
	 * side; vmlink's PMDs have none to set. */
	ret = down ? rte_eth_dev_set_link_down(pr->port_id) :
		rte_eth_dev_set_link_up(pr->port_id);
	ctl_leave();
	printf("vmlink: port %s admin %s\n", pr->cfg->name, state);
	fflush(stdout);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "port", pr->cfg->name);
	rte_tel_data_add_dict_string(d, "admin", state);
	rte_tel_data_add_dict_string(d, "device_link", ret == 0 ? state :
		ret == -ENOTSUP ? "not controlled by the driver" :
		rte_strerror(-ret));
	return 0;
}

/* Suspend (SUSPEND) or resume the device of port PR, with the workers:
 * they stop sending to it and polling it before it sleeps, and start
 * again once it is awake, so that no frame meets a sleeping device's tx
 * burst (that would be a tx_full drop). Returns what the driver returned
 * (suspend: zero-copy buffers still held; on an error the port stays as
 * it was), or -ETIMEDOUT when the workers did not answer (the device is
 * in the state asked for anyway). Called with ctl_lock held. */
static int
port_suspend(struct port_rt *pr, bool suspend)
{
	int ret, wret = 0;

	if (suspend) {
		__atomic_store_n(&pr->suspended, true, __ATOMIC_RELAXED);
		wret = post_request(ctl_vm, 0);
		ret = rte_pmd_vmlink_vhost_suspend(pr->port_id);
		if (ret < 0) {		/* the device runs: so does the port */
			__atomic_store_n(&pr->suspended, false, __ATOMIC_RELAXED);
			post_request(ctl_vm, 0);
		}
	} else {
		ret = rte_pmd_vmlink_vhost_resume(pr->port_id);
		if (ret < 0)
			return ret;	/* still asleep: the port stays idle */
		__atomic_store_n(&pr->suspended, false, __ATOMIC_RELAXED);
		wret = post_request(ctl_vm, 0);
	}
	return ret < 0 ? ret : wret < 0 ? wret : ret;
}

/* /vmlink/suspend,PORT and /vmlink/resume,PORT. Idempotent: asking for
 * the state a port is in changes nothing and says so ("changed"). */
static int
tel_suspend(const char *cmd, const char *params, struct rte_tel_data *d)
{
	bool suspend = strcmp(cmd, "/vmlink/suspend") == 0;
	struct port_rt *pr;
	bool was;
	int p, ret;

	if (params == NULL || params[0] == '\0')
		return reply_error(d, "usage: %s,PORT", cmd);
	p = port_by_name(params);
	if (p < 0)
		return reply_error(d, "no port named '%s'", params);
	if (!ctl_enter(d))
		return 0;
	pr = &ctl_vm->port[p];
	ret = rte_pmd_vmlink_vhost_suspended(pr->port_id);
	if (ret < 0) {
		ctl_leave();
		return reply_error(d, "port %s is an %s port: only vhost-user "
			"ports can be suspended", pr->cfg->name,
			config_port_type_name(pr->cfg->type));
	}
	was = pr->suspended;
	ret = port_suspend(pr, suspend);
	ctl_leave();
	if (ret == -ETIMEDOUT)
		return reply_error(d, "workers did not answer (port %s is %s)",
			pr->cfg->name, suspend ? "suspended" : "resumed");
	if (ret < 0)
		return reply_error(d, "port %s: %s failed: %s", pr->cfg->name,
			suspend ? "suspend" : "resume", rte_strerror(-ret));
	if (was != suspend) {
		printf("vmlink: port %s %s\n", pr->cfg->name,
			suspend ? "suspended" : "resumed");
		fflush(stdout);
	}
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "port", pr->cfg->name);
	rte_tel_data_add_dict_string(d, "suspended", suspend ? "yes" : "no");
	rte_tel_data_add_dict_string(d, "changed", was != suspend ? "yes" : "no");
	if (suspend)
		rte_tel_data_add_dict_int(d, "zero_copy_held", ret);
	return 0;
}

static int
parse_level(const char *s)
{
	static const char *const names[] = {"emerg", "alert", "crit", "err",
		"warning", "notice", "info", "debug"};
	unsigned int i;
	char *end;
	long v;

	for (i = 0; i < RTE_DIM(names); i++)
		if (strcasecmp(s, names[i]) == 0)
			return (int)i + 1;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < RTE_LOG_EMERG || v > RTE_LOG_DEBUG)
		return -1;
	return (int)v;
}

/* /vmlink/log_level,LEVEL or ,PATTERN:LEVEL (EAL's --log-level syntax). */
static int
tel_log_level(const char *cmd __rte_unused, const char *params,
	struct rte_tel_data *d)
{
	char pattern[128];
	const char *colon, *lvl;
	int level, ret;

	if (params == NULL || params[0] == '\0')
		return reply_error(d, "usage: /vmlink/log_level,LEVEL or "
			",PATTERN:LEVEL (e.g. pmd.net.vmlink*:debug)");
	colon = strrchr(params, ':');
	lvl = colon != NULL ? colon + 1 : params;
	level = parse_level(lvl);
	if (level < 0)
		return reply_error(d, "'%s' is not a log level (emerg, alert, "
			"crit, err, warning, notice, info, debug or 1-8)", lvl);
	if (colon != NULL) {
		if (colon == params || (size_t)(colon - params) >= sizeof(pattern))
			return reply_error(d, "bad log type pattern");
		snprintf(pattern, sizeof(pattern), "%.*s", (int)(colon - params),
			params);
	} else {
		snprintf(pattern, sizeof(pattern), "*");
	}
	if (!ctl_enter(d))
		return 0;
	ret = rte_log_set_level_pattern(pattern, (uint32_t)level);
	/* A type level above the global one would change nothing. */
	if (ret == 0 && (colon == NULL || (uint32_t)level > rte_log_get_global_level()))
		rte_log_set_global_level((uint32_t)level);
	ctl_leave();
	if (ret != 0)
		return reply_error(d, "cannot set level of '%s'", pattern);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "pattern", pattern);
	rte_tel_data_add_dict_int(d, "level", level);
	rte_tel_data_add_dict_int(d, "global_level",
		(int)rte_log_get_global_level());
	return 0;
}

/* Option KEY=VALUE of capture_start, a number in [1, MAX]. */
static int
capture_number(const char *opt, const char *key, uint64_t max, uint64_t *v,
	struct rte_tel_data *d)
{
	char *end;

	errno = 0;
	*v = strtoull(opt + strlen(key) + 1, &end, 10);
	if (errno != 0 || *end != '\0' || *v == 0 || *v > max ||
			opt[strlen(key) + 1] == '\0') {
		reply_error(d, "%s must be a number in 1..%" PRIu64, key, max);
		return -1;
	}
	return 0;
}

/* /vmlink/capture_start,PORT,rx|tx|both,FILE[,snaplen=N][,count=N]
 * [,size=BYTES][,filter=EXPR]; filter= comes last and takes the rest. */
static int
tel_capture_start(const char *cmd __rte_unused, const char *params,
	struct rte_tel_data *d)
{
	struct capture_spec spec;
	char name[CFG_NAME_MAX], dir[8], opt[64];
	char err[RTE_TEL_MAX_STRING_LEN];
	const char *rest;
	uint64_t v;
	int p, ret;

	if (params == NULL)
		return reply_error(d, "usage: /vmlink/capture_start,PORT,rx|tx|"
			"both,FILE[,snaplen=N][,count=N][,size=BYTES][,filter=EXPR]");
	memset(&spec, 0, sizeof(spec));
	spec.snaplen = CAPTURE_SNAPLEN_MAX;
	rest = next_word(params, name, sizeof(name));
	rest = next_word(rest, dir, sizeof(dir));
	rest = next_word(rest, spec.file, sizeof(spec.file));
	p = port_by_name(name);
	if (p < 0)
		return reply_error(d, "no port named '%s'", name);
	spec.port = (unsigned int)p;
	spec.rx = strcmp(dir, "rx") == 0 || strcmp(dir, "both") == 0;
	spec.tx = strcmp(dir, "tx") == 0 || strcmp(dir, "both") == 0;
	if (!spec.rx && !spec.tx)
		return reply_error(d, "direction must be rx, tx or both, not '%s'",
			dir);
	if (spec.file[0] != '/')
		return reply_error(d, "the capture file must be an absolute path");
	while (*rest != '\0') {
		if (strncmp(rest, "filter=", 7) == 0) {
			if (strlen(rest + 7) >= sizeof(spec.filter))
				return reply_error(d, "filter longer than %zu characters",
					sizeof(spec.filter) - 1);
			snprintf(spec.filter, sizeof(spec.filter), "%s", rest + 7);
			break;
		}
		rest = next_word(rest, opt, sizeof(opt));
		if (strncmp(opt, "snaplen=", 8) == 0) {
			if (capture_number(opt, "snaplen", CAPTURE_SNAPLEN_MAX, &v, d) < 0)
				return 0;
			spec.snaplen = (uint32_t)v;
		} else if (strncmp(opt, "count=", 6) == 0) {
			if (capture_number(opt, "count", UINT64_MAX, &v, d) < 0)
				return 0;
			spec.max_frames = v;
		} else if (strncmp(opt, "size=", 5) == 0) {
			if (capture_number(opt, "size", UINT64_MAX, &v, d) < 0)
				return 0;
			spec.max_bytes = v;
		} else {
			return reply_error(d, "unknown capture option '%s' (snaplen=, "
				"count=, size=, filter=)", opt);
		}
	}
	if (!ctl_enter(d))
		return 0;
	ret = capture_start(ctl_vm, &spec, err, sizeof(err));
	if (ret == 0)
		capture_status(d);
	ctl_leave();
	return ret != 0 ? reply_error(d, "%s", err) : 0;
}

static int
tel_capture_stop(const char *cmd __rte_unused, const char *params __rte_unused,
	struct rte_tel_data *d)
{
	int ret;

	if (!ctl_enter(d))
		return 0;
	ret = capture_stop(ctl_vm, "request", true);
	if (ret == 0)
		capture_status(d);
	ctl_leave();
	if (ret == -ENOENT)
		return reply_error(d, "no capture is running");
	if (ret != 0)
		return reply_error(d, "workers did not answer: the capture's "
			"buffers are kept until exit");
	return 0;
}

static int
tel_capture(const char *cmd __rte_unused, const char *params __rte_unused,
	struct rte_tel_data *d)
{
	if (!ctl_enter(d))
		return 0;
	capture_status(d);
	ctl_leave();
	return 0;
}

/* ------------------------------------------------------------------------ */

static const struct {
	const char *cmd;
	telemetry_cb fn;
	const char *help;
} commands[] = {
	{"/vmlink/port_info", tel_port_info, "Type, device, link and admin "
		"state, queues of a vmlink port. Parameters: port name"},
	{"/vmlink/lcores", tel_lcores, "Worker lcores. Takes no parameters"},
	{"/vmlink/lcore", tel_lcore, "Rx queues a worker polls, tx queues it "
		"owns. Parameters: lcore id"},
	{"/vmlink/reset", tel_reset, "Zero vmlink's and the devices' counters. "
		"Parameters: port name, or none for all ports"},
	{"/vmlink/link", tel_link, "Set a port's admin state (down: not "
		"polled, nothing sent to it). Parameters: port name,up|down"},
	/* help texts: under 128 bytes, or telemetry refuses the command */
	{"/vmlink/suspend", tel_suspend, "Suspend a vhost-user port (frames "
		"its guest sends wait in its ring, frames for it are counted "
		"drops). Parameters: port name"},
	{"/vmlink/resume", tel_suspend, "Resume a suspended vhost-user port "
		"where it stopped. Parameters: port name"},
	{"/vmlink/log_level", tel_log_level, "Set log levels. Parameters: "
		"LEVEL or PATTERN:LEVEL, as EAL's --log-level"},
	{"/vmlink/capture_start", tel_capture_start, "Capture a port to a pcap "
		"file. Parameters: port,rx|tx|both,/file[,snaplen=N][,count=N]"
		"[,size=BYTES][,filter=EXPR]"},
	{"/vmlink/capture_stop", tel_capture_stop, "Stop the capture. Takes no "
		"parameters"},
	{"/vmlink/capture", tel_capture, "State and counters of the capture. "
		"Takes no parameters"},
};

int
control_init(struct vmlink *vm)
{
	unsigned int i, p;

	for (i = 0; i < vm->n_workers; i++) {
		struct worker *w = vm->worker[i];

		w->n_rxq_planned = w->n_rxq;
		memcpy(w->rxq_planned, w->rxq, sizeof(w->rxq[0]) * w->n_rxq);
		for (p = 0; p < CFG_MAX_PORTS; p++)
			w->txq_planned[p] = w->txq[p];
	}
	ctl_vm = vm;
	if (pdump_init(vm) != 0)
		fprintf(stderr, "vmlink: pdump not available: dpdk-dumpcap and "
			"dpdk-pdump cannot attach\n");
	for (i = 0; i < RTE_DIM(commands); i++)
		if (rte_telemetry_register_cmd(commands[i].cmd, commands[i].fn,
				commands[i].help) != 0) {
			/* DPDK 22.11 also refuses a help text of 128 bytes or more. */
			fprintf(stderr, "vmlink: telemetry refused command %s "
				"(help text %zu bytes)\n", commands[i].cmd,
				strlen(commands[i].help));
			return -1;
		}
	pthread_mutex_lock(&ctl_lock);
	ctl_closed = false;
	pthread_mutex_unlock(&ctl_lock);
	return 0;
}

/* Main lcore: a capture that reached its limit is stopped here. */
void
control_poll(struct vmlink *vm)
{
	const char *limit;

	pthread_mutex_lock(&ctl_lock);
	limit = capture_limit_reached();
	if (limit != NULL && !ctl_closed)
		capture_stop(vm, limit, true);
	pthread_mutex_unlock(&ctl_lock);
}

void
control_fini(struct vmlink *vm)
{
	pthread_mutex_lock(&ctl_lock);
	ctl_closed = true;
	capture_fini(vm);
	pthread_mutex_unlock(&ctl_lock);
	/* Not under ctl_lock: a capture client's request may be waiting
	 * for it (control_wait_workers) while holding the pdump lock. */
	pdump_fini();
}
