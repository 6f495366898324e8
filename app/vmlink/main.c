/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * vmlink: a DPDK poll-mode data plane moving Ethernet frames between the
 * ports an INI file describes.
 *
 *   vmlink [-c FILE] [options]               EAL arguments from [eal]
 *   vmlink [EAL args] -- [-c FILE] [options] EAL arguments from the command line
 */

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "check.h"
#include "vmlink.h"

/* config/demo.ini, compiled in (demo_ini.c is generated at build time). */
extern const char vmlink_embedded_config[];
#define EMBEDDED_NAME "config/demo.ini (embedded)"

enum {
	EXIT_USAGE = 2,
};

struct options {
	const char *config;		/* NULL: the embedded default */
	const char *stats_json;
	long stats_json_interval;	/* seconds; 0: only at exit */
	bool check;
	long duration;			/* -1: from the config */
	long stats_interval;		/* -1: from the config */
};

static void
usage(FILE *out, const char *prog)
{
	fprintf(out,
		"Usage: %s [-c FILE] [OPTIONS]\n"
		"       %s [EAL ARGUMENTS] -- [-c FILE] [OPTIONS]\n"
		"\n"
		"vmlink moves Ethernet frames between the ports FILE describes, with\n"
		"worker lcores running pinned poll loops and the main lcore doing stats\n"
		"and control. EAL arguments come from the file's [eal] section, unless\n"
		"arguments are given before '--': then those replace [eal] entirely.\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE      configuration file (default: the embedded\n"
		"                         config/demo.ini)\n"
		"      --check            validate the configuration, and what it asks\n"
		"                         of this host (CPUs, socket directories, the\n"
		"                         --stats-json file), and exit; touches no\n"
		"                         device and needs no hugepages\n"
		"      --stats-json FILE  write the final counters as JSON to FILE\n"
		"      --stats-json-interval SEC  also rewrite FILE every SEC seconds\n"
		"                         (replaced whole: readers never see half)\n"
		"      --duration SEC     stop after SEC seconds (overrides [vmlink])\n"
		"      --stats-interval SEC  seconds between stats lines, 0 = none\n"
		"  -h, --help             this text and the configuration reference\n"
		"\n"
		"Stats: a line per port every stats-interval; a summary on exit\n"
		"(SIGINT, SIGTERM, SIGHUP or duration), where received = transmitted\n"
		"+ dropped. SIGHUP ends vmlink like SIGTERM; it does not reload.\n"
		"Telemetry: dpdk-telemetry.py -f PREFIX, commands /vmlink/ports and\n"
		"/vmlink/port_stats,NAME; usertools/vmlinkctl -f PREFIX shows ports,\n"
		"queues and counters, resets counters, sets a port's admin state and\n"
		"log levels, and captures frames (capture start/stop, or dpdk-dumpcap).\n"
		"Exit status: 0 success, 1 configuration or runtime error, 2 usage.\n"
		"\n", prog, prog);
	config_print_reference(out);
}

static int
parse_seconds(const char *opt, const char *arg, long *v)
{
	char *end;

	*v = strtol(arg, &end, 10);
	if (*arg == '\0' || *end != '\0' || *v < 0 || *v > (1L << 30)) {
		fprintf(stderr, "vmlink: %s: '%s' is not a number of seconds\n",
			opt, arg);
		return -1;
	}
	return 0;
}

/* Returns 0 to go on, 1 to exit with success (--help), -1 on error. */
static int
parse_app_args(int argc, char **argv, const char *prog, struct options *o)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check", no_argument, NULL, 'k'},
		{"stats-json", required_argument, NULL, 'j'},
		{"stats-json-interval", required_argument, NULL, 'J'},
		{"duration", required_argument, NULL, 'd'},
		{"stats-interval", required_argument, NULL, 'i'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 'k':
			o->check = true;
			break;
		case 'j':
			o->stats_json = optarg;
			break;
		case 'J':
			if (parse_seconds("--stats-json-interval", optarg,
					&o->stats_json_interval) < 0)
				return -1;
			break;
		case 'd':
			if (parse_seconds("--duration", optarg, &o->duration) < 0)
				return -1;
			break;
		case 'i':
			if (parse_seconds("--stats-interval", optarg,
					&o->stats_interval) < 0)
				return -1;
			break;
		case 'h':
			usage(stdout, prog);
			return 1;
		case ':':
			fprintf(stderr, "vmlink: option '%s' needs a value (try --help)\n",
				argv[optind - 1]);
			return -1;
		default:
			fprintf(stderr, "vmlink: unknown option '%s' (try --help; EAL "
				"arguments go before '--')\n", argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vmlink: unexpected argument '%s' (try --help)\n",
			argv[optind]);
		return -1;
	}
	if (o->stats_json_interval > 0 && o->stats_json == NULL) {
		fprintf(stderr, "vmlink: --stats-json-interval needs --stats-json "
			"FILE\n");
		return -1;
	}
	return 0;
}

static void
on_signal(int sig __rte_unused)
{
	__atomic_store_n(&vmlink_quit, true, __ATOMIC_RELAXED);
}

/* SIGHUP ends vmlink like SIGTERM (no reload): a closed terminal or a
 * supervisor's hangup gets the summary, the JSON file and removed sockets,
 * not an abrupt end. */
static void
install_signal_handlers(void)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
	struct sigaction sa;
	unsigned int i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < RTE_DIM(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
}

static void
on_lsc_print(const struct vmlink *vm, uint16_t port_id)
{
	unsigned int p;

	for (p = 0; p < vm->n_ports; p++) {
		struct rte_eth_link link;

		if (vm->port[p].port_id != port_id)
			continue;
		if (rte_eth_link_get_nowait(port_id, &link) == 0)
			printf("vmlink: port %s link %s\n", vm->cfg->port[p].name,
				link.link_status == RTE_ETH_LINK_UP ? "up" : "down");
	}
	fflush(stdout);
}

/* LSC callbacks run on EAL's interrupt thread; report from the main lcore. */
static volatile uint64_t lsc_pending;

static int
on_lsc(uint16_t port_id, enum rte_eth_event_type type __rte_unused,
	void *arg __rte_unused, void *ret __rte_unused)
{
	if (port_id < 64)
		__atomic_fetch_or(&lsc_pending, UINT64_C(1) << port_id,
			__ATOMIC_RELAXED);
	return 0;
}

/* A device says which of its tx queues can deliver changed (a vhost-user
 * guest enabled or disabled an rx ring): the workers spread frames over
 * those only. Runs on the driver's thread; the mask is one atomic word. */
static int
on_queue_state(uint16_t port_id, enum rte_eth_event_type type __rte_unused,
	void *arg, void *ret __rte_unused)
{
	struct vmlink *vm = arg;
	unsigned int p;

	for (p = 0; p < vm->n_ports; p++)
		if (vm->port[p].port_id == port_id && vm->port[p].started)
			ports_txq_state(vm, p);
	return 0;
}

/* The JSON stats file, replaced whole (written next to it, renamed over
 * it) so that a reader polling it never sees half a file; a path that is
 * not a regular file in a writable directory is written in place. */
static int
write_stats_json(const struct vmlink *vm, const char *path, double elapsed)
{
	char tmp[PATH_MAX];
	struct stat st;

	if ((stat(path, &st) == 0 && !S_ISREG(st.st_mode)) ||
			snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp) ||
			stats_write_json(vm, tmp, elapsed) < 0)
		return stats_write_json(vm, path, elapsed);
	if (rename(tmp, path) != 0) {
		fprintf(stderr, "vmlink: cannot replace %s: %s\n", path,
			strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void
run_main_lcore(struct vmlink *vm, unsigned int duration, unsigned int interval,
	const struct options *o)
{
	static struct port_totals prev[CFG_MAX_PORTS];
	const uint64_t hz = rte_get_tsc_hz();
	uint64_t last = vm->start_tsc, last_json = vm->start_tsc;
	uint64_t end = duration ? vm->start_tsc + duration * hz : UINT64_MAX;
	uint64_t json_every = o->stats_json != NULL ?
		(uint64_t)o->stats_json_interval * hz : 0;

	memset(prev, 0, sizeof(prev));
	while (!__atomic_load_n(&vmlink_quit, __ATOMIC_RELAXED)) {
		uint64_t now, lsc;

		rte_delay_us_sleep(50 * 1000);
		now = rte_get_tsc_cycles();
		lsc = __atomic_exchange_n(&lsc_pending, 0, __ATOMIC_RELAXED);
		while (lsc != 0) {
			on_lsc_print(vm, (uint16_t)__builtin_ctzll(lsc));
			lsc &= lsc - 1;
		}
		control_poll(vm);
		if (interval != 0 && now - last >= interval * hz) {
			printf("--- %.1f s: rates over the last %.1f s, totals since "
				"the start (or a reset)\n",
				(double)(now - vm->start_tsc) / hz,
				(double)(now - last) / hz);
			stats_print_line(vm, (double)(now - last) / hz, prev);
			last = now;
		}
		if (json_every != 0 && now - last_json >= json_every) {
			write_stats_json(vm, o->stats_json,
				(double)(now - vm->start_tsc) / hz);
			last_json = now;
		}
		if (now >= end)
			break;
	}
	__atomic_store_n(&vmlink_quit, true, __ATOMIC_RELAXED);
}

int
main(int argc, char **argv)
{
	static struct vmlink vm;
	struct vmlink_cfg *cfg;
	struct options opt = {.duration = -1, .stats_interval = -1};
	char *eal_argv[CFG_MAX_EAL_ARGS];
	char eal_storage[4096];
	int eal_argc, app_argc, dashdash, i, ret;
	int status = EXIT_FAILURE;
	char **app_argv;
	const char *prog = argv[0];
	unsigned int lcore, p;
	double elapsed;

	/* EAL arguments, if any, come before "--". */
	for (dashdash = 1; dashdash < argc; dashdash++)
		if (strcmp(argv[dashdash], "--") == 0)
			break;
	if (dashdash < argc) {
		/* eal_argv holds them and a NULL: check before copying */
		if (dashdash >= CFG_MAX_EAL_ARGS) {
			fprintf(stderr, "vmlink: %d EAL arguments before '--', at "
				"most %d\n", dashdash - 1, CFG_MAX_EAL_ARGS - 2);
			return EXIT_USAGE;
		}
		app_argc = argc - dashdash;
		app_argv = argv + dashdash;	/* argv[0] of getopt is "--" */
	} else {
		dashdash = 0;
		app_argc = argc;
		app_argv = argv;
	}
	ret = parse_app_args(app_argc, app_argv, prog, &opt);
	if (ret != 0)
		return ret > 0 ? EXIT_SUCCESS : EXIT_USAGE;

	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		fprintf(stderr, "vmlink: out of memory\n");
		return EXIT_FAILURE;
	}
	if (opt.config == NULL) {
		ret = config_load_text(cfg, vmlink_embedded_config,
			strlen(vmlink_embedded_config), EMBEDDED_NAME, stderr);
	} else {
		ret = config_load(cfg, opt.config, NULL, stderr);
	}
	if (ret != 0) {
		fprintf(stderr, "vmlink: %s: invalid configuration\n", cfg->file);
		goto out_free;
	}
	if (opt.duration >= 0)
		cfg->duration = (uint32_t)opt.duration;
	if (opt.stats_interval >= 0)
		cfg->stats_interval = (uint32_t)opt.stats_interval;
	if (check_host(cfg, dashdash == 0, opt.stats_json, stderr) < 0) {
		fprintf(stderr, "vmlink: %s: this host cannot run it as it is\n",
			cfg->file);
		goto out_free;
	}
	if (opt.check) {
		printf("%s: configuration OK: %u port%s, %u lcore section%s\n",
			cfg->file, cfg->n_ports, cfg->n_ports == 1 ? "" : "s",
			cfg->n_lcores, cfg->n_lcores == 1 ? "" : "s");
		status = EXIT_SUCCESS;
		goto out_free;
	}

	if (dashdash > 0) {
		eal_argc = dashdash;
		for (i = 0; i < eal_argc; i++)
			eal_argv[i] = argv[i];
		eal_argv[eal_argc] = NULL;
	} else {
		eal_argc = config_eal_argv(cfg, prog, eal_argv, CFG_MAX_EAL_ARGS,
			eal_storage, sizeof(eal_storage));
		if (eal_argc < 0) {
			fprintf(stderr, "vmlink: [eal] arguments too long\n");
			goto out_free;
		}
	}
	if (rte_eal_init(eal_argc, eal_argv) < 0) {
		fprintf(stderr, "vmlink: EAL initialization failed: %s\n",
			rte_strerror(rte_errno));
		goto out_free;
	}
	eal_files_note();

	install_signal_handlers();

	vm.cfg = cfg;
	vm.n_ports = cfg->n_ports;
	for (p = 0; p < cfg->n_ports; p++)
		vm.port[p].cfg = &cfg->port[p];
	fwd_init(&vm.fwd, cfg);
	if (ports_probe(&vm) < 0 || lcores_plan(&vm) < 0 ||
			ports_setup(&vm) < 0)
		goto out_eal;
	for (p = 0; p < vm.n_ports; p++) {
		rte_eth_dev_callback_register(vm.port[p].port_id,
			RTE_ETH_EVENT_INTR_LSC, on_lsc, NULL);
		rte_eth_dev_callback_register(vm.port[p].port_id,
			RTE_ETH_EVENT_QUEUE_STATE, on_queue_state, &vm);
		ports_txq_state(&vm, p);	/* events before the callback */
	}
	if (stats_telemetry_register(&vm) < 0 || control_init(&vm) < 0)
		fprintf(stderr, "vmlink: telemetry commands not registered\n");

	printf("vmlink: %u port%s, %u worker lcore%s:", vm.n_ports,
		vm.n_ports == 1 ? "" : "s", vm.n_workers, vm.n_workers == 1 ? "" : "s");
	for (i = 0; i < (int)vm.n_workers; i++) {
		struct worker *w = vm.worker[i];
		unsigned int r;

		printf(" lcore %u polls", w->lcore_id);
		for (r = 0; r < w->n_rxq; r++)
			printf(" %s:%u", cfg->port[w->rxq[r].port].name, w->rxq[r].queue);
		printf(i + 1 < (int)vm.n_workers ? ";" : "\n");
	}
	fflush(stdout);

	vm.start_tsc = rte_get_tsc_cycles();
	for (i = 0; i < (int)vm.n_workers; i++) {
		ret = rte_eal_remote_launch(worker_main, &vm, vm.worker[i]->lcore_id);
		if (ret != 0) {
			fprintf(stderr, "vmlink: cannot launch lcore %u: %s\n",
				vm.worker[i]->lcore_id, rte_strerror(-ret));
			__atomic_store_n(&vmlink_quit, true, __ATOMIC_RELAXED);
			break;
		}
	}
	if (i == (int)vm.n_workers)
		run_main_lcore(&vm, cfg->duration, cfg->stats_interval, &opt);
	RTE_LCORE_FOREACH_WORKER(lcore)
		rte_eal_wait_lcore(lcore);
	elapsed = (double)(rte_get_tsc_cycles() - vm.start_tsc) / rte_get_tsc_hz();
	control_fini(&vm);

	stats_print_summary(&vm, elapsed);
	status = EXIT_SUCCESS;
	if (opt.stats_json != NULL && write_stats_json(&vm, opt.stats_json, elapsed) < 0)
		status = EXIT_FAILURE;
out_eal:
	ports_close(&vm);
	lcores_free(&vm);
	rte_eal_cleanup();
	eal_files_remove();
out_free:
	free(cfg);
	return status;
}
