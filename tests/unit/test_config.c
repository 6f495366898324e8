/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 vmlink authors
 *
 * Unit tests of the configuration module, without EAL: every validation
 * rule gets a bad file and the exact message (file:line, section, key) it
 * must produce; good files are checked field by field.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "unit_check.h"

static char tmpdir[] = "/tmp/vmlink-unit-XXXXXX";

static struct vmlink_cfg cfg;
static char errbuf[8192];

/* Load the LEN bytes of TEXT as file "t.ini"; errors land in errbuf. */
static int
load_bytes(const char *text, size_t text_len)
{
	char path[256];
	FILE *f, *err;
	size_t len = 0;
	char *out = NULL;
	int ret;

	snprintf(path, sizeof(path), "%s/t.ini", tmpdir);
	f = fopen(path, "w");
	if (f == NULL) {
		perror(path);
		exit(2);
	}
	if (fwrite(text, 1, text_len, f) != text_len) {
		perror(path);
		exit(2);
	}
	fclose(f);
	err = open_memstream(&out, &len);
	ret = config_load(&cfg, path, "t.ini", err);
	fclose(err);
	snprintf(errbuf, sizeof(errbuf), "%s", out != NULL ? out : "");
	free(out);
	return ret;
}

static int
load(const char *text)
{
	return load_bytes(text, strlen(text));
}

#define PORTS2 \
	"[port a]\ntype = ethdev\ndevice = net_ring0\npeer = b\n" \
	"[port b]\ntype = ethdev\ndevice = net_ring1\npeer = a\n"

/* TEXT must be refused with a message containing every string in WANT. */
static void
expect_error(int line, const char *text, const char *want1, const char *want2)
{
	int ret = load(text);

	checks++;
	if (ret == 0) {
		failures++;
		fprintf(stderr, "FAIL line %d: accepted, expected '%s'\n", line, want1);
		return;
	}
	if (strstr(errbuf, want1) == NULL ||
			(want2 != NULL && strstr(errbuf, want2) == NULL)) {
		failures++;
		fprintf(stderr, "FAIL line %d: expected '%s'%s%s, got:\n%s", line,
			want1, want2 ? " and " : "", want2 ? want2 : "", errbuf);
	}
}
#define BAD(text, ...) expect_error(__LINE__, text, __VA_ARGS__)

static void
test_good(void)
{
	int ret;

	ret = load("; a comment\n"
		"[eal]\n"
		"lcores = 0-2\n"
		"main-lcore = 0\n"
		"file-prefix = t1\n"
		"memory = 128\n"
		"telemetry = no\n"
		"iova-mode = va\n"
		"extra = --log-level=7  --vdev=net_null9\n"
		"[vmlink]\n"
		"burst = 64\n"
		"stats-interval = 0\n"
		"duration = 5\n"
		"[port a]   ; trailing comment\n"
		"type = ethdev\n"
		"device = net_pcap0,rx_pcap=/tmp/x.pcap\n"
		"rx-queues = 2\n"
		"rx-ring = 512\n"
		"tx-ring = 0x100\n"
		"mbufs = 4095\n"
		"mtu = 9000\n"
		"mac = 02:00:00:aa:BB:0c\n"
		"promiscuous = off\n"
		"rx-mode = interrupt\n"
		"peer = b\n"
		"[port b]\n"
		"type = ethdev\n"
		"device = 0000:00:04.0\n"
		"[lcore 1]\n"
		"rx = a:0, b\n"
		"[lcore 2]\n"
		"rx = a:1\n");
	CHECK(ret == 0, "good config refused:\n%s", errbuf);
	if (ret != 0)
		return;
	CHECK(cfg.n_ports == 2, "%u ports", cfg.n_ports);
	CHECK(cfg.burst == 64 && cfg.stats_interval == 0 && cfg.duration == 5,
		"vmlink section");
	CHECK(strcmp(cfg.port[0].name, "a") == 0, "name");
	CHECK(cfg.port[0].rx_queues == 2 && cfg.port[0].rx_ring == 512 &&
		cfg.port[0].tx_ring == 256 && cfg.port[0].mbufs == 4095 &&
		cfg.port[0].mtu == 9000, "numbers");
	CHECK(cfg.port[0].has_mac && cfg.port[0].mac[3] == 0xaa &&
		cfg.port[0].mac[4] == 0xbb && cfg.port[0].mac[5] == 0x0c, "mac");
	CHECK(!cfg.port[0].promiscuous && cfg.port[1].promiscuous, "promiscuous");
	CHECK(cfg.port[0].rx_interrupt && !cfg.port[1].rx_interrupt, "rx-mode");
	CHECK(cfg.port[0].peer == 1 && cfg.port[1].peer == -1, "peers");
	CHECK(cfg.port[1].rx_ring == 1024 && cfg.port[1].mbuf_size == 2176,
		"defaults");
	CHECK(cfg.n_lcores == 2, "lcores %u", cfg.n_lcores);
	CHECK(cfg.lcore[0].lcore_id == 1 && cfg.lcore[0].n_rxq == 2 &&
		cfg.lcore[0].rxq[0].port == 0 && cfg.lcore[0].rxq[0].queue == 0 &&
		cfg.lcore[0].rxq[1].port == 1 && cfg.lcore[0].rxq[1].queue == 0,
		"lcore 1 rx");
	CHECK(cfg.lcore[1].n_rxq == 1 && cfg.lcore[1].rxq[0].queue == 1,
		"lcore 2 rx");

	{
		char *argv[CFG_MAX_EAL_ARGS], storage[2048], joined[2048] = "";
		int argc, i;

		argc = config_eal_argv(&cfg, "vmlink", argv, CFG_MAX_EAL_ARGS,
			storage, sizeof(storage));
		for (i = 0; i < argc; i++)
			snprintf(joined + strlen(joined), sizeof(joined) - strlen(joined),
				"%s%s", i ? " " : "", argv[i]);
		CHECK(strcmp(joined, "vmlink -l 0-2 --main-lcore 0 --file-prefix t1 "
			"-m 128 --no-telemetry --iova-mode=va -a 0000:00:04.0 "
			"--log-level=7 --vdev=net_null9") == 0, "eal argv: %s", joined);
		CHECK(argv[argc] == NULL, "argv NULL-terminated");
	}

	/* No [eal] section: defaults, no PCI scan. */
	ret = load(PORTS2);
	CHECK(ret == 0, "minimal config refused:\n%s", errbuf);
	{
		char *argv[CFG_MAX_EAL_ARGS], storage[2048];
		int argc = config_eal_argv(&cfg, "x", argv, CFG_MAX_EAL_ARGS,
			storage, sizeof(storage));

		CHECK(argc == 4 && strcmp(argv[3], "--no-pci") == 0 &&
			strcmp(argv[2], "vmlink") == 0, "default eal argv");
	}

	/* A transmit-only port: no rx queue to poll. */
	ret = load(PORTS2 "[port c]\ntype = ethdev\ndevice = x\nrx-queues = 0\n"
		"[lcore 1]\nrx = a b\n");
	CHECK(ret == 0 && cfg.port[2].rx_queues == 0, "tx-only port:\n%s", errbuf);

	/* rte_cfgfile's comment escape: '\;' is a literal ';'. */
	ret = load("[port a]\ntype = ethdev\ndevice = net_x0,a=1\\;2\n");
	CHECK(ret == 0 && strcmp(cfg.port[0].device, "net_x0,a=1;2") == 0,
		"escaped comment: %s", cfg.port[0].device);

	/* Blank and comment-only lines, CRLF-free trailing line. */
	ret = load("\n\n;x\n   ; y\n[port a]\ntype=ethdev\ndevice=net_null0");
	CHECK(ret == 0, "no final newline:\n%s", errbuf);
}

/* Lines holding NUL bytes: the scanner sees their real length (a line
 * starting with NUL bytes once made it read before its buffer). */
static void
test_nul_bytes(void)
{
	static const char lead[] = "[port a]\n\0\0\0type = ethdev\n";
	static const char mid[] = "[port a]\ntype\0 = ethdev\n";
	int ret;

	ret = load_bytes(lead, sizeof(lead) - 1);
	CHECK(ret < 0 && strstr(errbuf, "t.ini:2: NUL byte in line") != NULL &&
		strstr(errbuf, "too long") == NULL, "leading NUL bytes: %s", errbuf);
	ret = load_bytes(mid, sizeof(mid) - 1);
	CHECK(ret < 0 && strstr(errbuf, "t.ini:2: NUL byte in line") != NULL,
		"NUL byte inside a line: %s", errbuf);
	ret = load_bytes("\0", 1);
	CHECK(ret < 0 && strstr(errbuf, "t.ini:1: NUL byte in line") != NULL,
		"a lone NUL byte: %s", errbuf);
}

static void
test_structure(void)
{
	char longline[400];

	BAD("[port a]\ntype = ethdev\ndevice = x\nrx-ring\n",
		"t.ini:4: expected 'key = value' or '[section]', got 'rx-ring'", NULL);
	BAD("[port a]\ntype = ethdev\ndevice = x\ntype = ethdev\n",
		"t.ini:4: [port a] type: duplicate key (first at line 2)", NULL);
	BAD("[vmlink]\n[port a]\ntype = ethdev\ndevice = x\n[vmlink]\n",
		"t.ini:5: duplicate section [vmlink] (first at line 1)", NULL);
	BAD("burst = 3\n[port a]\ntype = ethdev\ndevice = x\n",
		"t.ini:1: key 'burst' outside of any section", NULL);
	BAD("[port a]\ntype = ethdev\ndevice =\n",
		"t.ini:3: [port a] device: empty value", NULL);
	BAD("[port a]\ntype = ethdev\n = x\n", "t.ini:3: missing key before '='",
		NULL);
	BAD("# hash comment\n[port a]\ntype = ethdev\ndevice = x\n",
		"t.ini:1: comments start with ';', not '#'", NULL);
	BAD("[port a\ntype = ethdev\n", "t.ini:1: malformed section header", NULL);
	BAD("[]\n", "t.ini:1: empty section name", NULL);
	BAD("[port aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n",
		"t.ini:1: section name", "too long");
	BAD("[port a]\nkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk = 1\n",
		"t.ini:2: key", "too long");
	memset(longline, 'x', sizeof(longline));
	memcpy(longline, "[port a]\ndevice = ", 18);
	strcpy(longline + 340, "\n");
	BAD(longline, "t.ini:2: line too long", NULL);
	BAD("[vmlink]\n[vmlink2]\n", "t.ini:2: [vmlink2] unknown section", NULL);
	BAD(PORTS2 "[vmlink]\nspeed = 3\n", "t.ini:10: [vmlink] speed: unknown key",
		NULL);
	BAD(PORTS2 "[eal]\nvdevs = 3\n", "[eal] vdevs: unknown key", NULL);
	BAD("[port a]\ntype = ethdev\ndevice = x\ncolour = red\n",
		"t.ini:4: [port a] colour: unknown key", NULL);
	BAD(PORTS2 "[lcore 1]\nrx = a\ntx = b\n", "[lcore 1] tx: unknown key", NULL);
	BAD("[eal]\nlcores = 0-1\n", "no [port NAME] section", NULL);
	BAD("[port]\ntype = ethdev\n", "[port] a port section needs a name", NULL);
	BAD("[port a.b]\ntype = ethdev\ndevice = x\n",
		"t.ini:1: [port a.b] port name 'a.b' must be", NULL);
	BAD("[port  a]\ntype = ethdev\ndevice = x\n", "write the header as [port a]",
		NULL);
	BAD(PORTS2 "[lcore 01]\nrx = a\n", "write the header as [lcore 1]", NULL);
	BAD(PORTS2 "[lcore x]\nrx = a\n", "[lcore x] 'x' is not an lcore id", NULL);
	/* A blank other than one space is another section name: its rx list
	 * would never be looked up (and so never validated). */
	BAD(PORTS2 "[lcore\t1]\nrx = nosuchport:99\n",
		"write the header as [lcore 1]", NULL);
	BAD("[port\ta]\ntype = ethdev\ndevice = x\n",
		"write the header as [port a]", NULL);
	test_nul_bytes();
	BAD(PORTS2 "[lcore 999]\nrx = a\n", "'999' is not an lcore id (0..127)", NULL);
}

static void
test_values(void)
{
	BAD("[port a]\ndevice = x\n", "t.ini:1: [port a] missing required key 'type'",
		NULL);
	BAD("[port a]\ntype = ethdev\n",
		"t.ini:1: [port a] missing required key 'device'", NULL);
	BAD("[port a]\ntype = vhost\ndevice = x\n",
		"t.ini:2: [port a] type: 'vhost' is not one of: ethdev", NULL);
	BAD("[port a]\ntype = ethdev\ndevice = x y\n",
		"t.ini:3: [port a] device: 'x y' must not contain blanks", NULL);
	BAD("[port a]\ntype = ethdev\ndevice = x\nrx-ring = 32\n",
		"t.ini:4: [port a] rx-ring: 32 out of range (64..32768)", NULL);
	BAD(PORTS2 "[port c]\ntype = ethdev\ndevice = x\nrx-queues = 0\n"
		"[lcore 1]\nrx = a b c\n",
		"[lcore 1] rx: port 'c' has no rx queues (rx-queues = 0)", NULL);
	BAD("[port v]\ntype = vhost-user\npath = /a\nrx-queues = 0\n",
		"t.ini:4: [port v] rx-queues: a vhost-user port offers at least one",
		NULL);
	BAD("[port a]\ntype = ethdev\ndevice = x\nrx-queues = 17\n",
		"[port a] rx-queues: 17 out of range (0..16)", NULL);
	BAD("[port a]\ntype = ethdev\ndevice = x\ntx-ring = 12x\n",
		"t.ini:4: [port a] tx-ring: '12x' is not a number", NULL);
	BAD("[port a]\ntype = ethdev\ndevice = x\ntx-ring = -512\n",
		"[port a] tx-ring: '-512' is not a number", NULL);
	BAD("[port a]\ntype = ethdev\ndevice = x\nmbufs = 99999999999999999999999\n",
		"[port a] mbufs: '99999999999999999999999' is not a number", NULL);
	BAD("[port a]\ntype = ethdev\ndevice = x\nmtu = 70000\n",
		"[port a] mtu: 70000 out of range", NULL);
	BAD("[port a]\ntype = ethdev\ndevice = x\nmbuf-size = 100\n",
		"[port a] mbuf-size: 100 out of range (640..65535)", NULL);
	BAD("[port a]\ntype = ethdev\ndevice = x\nmac = 02:00:00:00:00\n",
		"t.ini:4: [port a] mac: '02:00:00:00:00' is not a MAC address", NULL);
	BAD("[port a]\ntype = ethdev\ndevice = x\nmac = 02:00:00:00:00:0g\n",
		"is not a MAC address", NULL);
	BAD("[port a]\ntype = ethdev\ndevice = x\nmac = 02-00-00-00-00-01\n",
		"is not a MAC address", NULL);
	BAD("[port a]\ntype = ethdev\ndevice = x\nmac = 02:00:00:00:00:01:02\n",
		"is not a MAC address", NULL);
	BAD("[port a]\ntype = ethdev\ndevice = x\nmac = 01:00:5e:00:00:01\n",
		"[port a] mac: 01:00:5e:00:00:01 is a multicast address", NULL);
	BAD("[port a]\ntype = ethdev\ndevice = x\nmac = 00:00:00:00:00:00\n",
		"[port a] mac: all-zero MAC address", NULL);
	BAD("[port a]\ntype = ethdev\ndevice = x\npromiscuous = maybe\n",
		"[port a] promiscuous: 'maybe' is not a boolean", NULL);
	BAD("[port a]\ntype = ethdev\ndevice = x\npeer = no/such\n",
		"[port a] peer: 'no/such' is not a port name", NULL);
	BAD("[vmlink]\nburst = 0\n" PORTS2, "[vmlink] burst: 0 out of range (1..512)",
		NULL);
	BAD("[vmlink]\nburst = 513\n" PORTS2, "t.ini:2: [vmlink] burst: 513 out of range",
		NULL);
	BAD("[eal]\nlcores = 0-\n" PORTS2, "t.ini:2: [eal] lcores: '0-' is not a core list",
		NULL);
	BAD("[eal]\nlcores = 3-1\n" PORTS2, "[eal] lcores: '3-1' is not a core list",
		NULL);
	BAD("[eal]\nlcores = 0,200\n" PORTS2, "[eal] lcores: '0,200' is not a core list",
		NULL);
	BAD("[port a]\ntype = ethdev\ndevice = x\nrx-mode = irq\n",
		"[port a] rx-mode: 'irq' is not one of: poll, interrupt", NULL);
	BAD("[eal]\niova-mode = xx\n" PORTS2,
		"[eal] iova-mode: 'xx' is not one of: pa, va", NULL);
	BAD("[eal]\nno-huge = 2\n" PORTS2, "[eal] no-huge: '2' is not a boolean", NULL);
	BAD("[eal]\nfile-prefix = a b\n" PORTS2,
		"[eal] file-prefix: 'a b' must not contain blanks", NULL);
}

static void
test_vhost_user(void)
{
	char buf[512];
	int ret;

	ret = load("[port vm]\ntype = vhost-user\npath = /run/vm.sock\n"
		"client = yes\nzero-copy = no\ncopy-threshold = 1024\n"
		"inflight = 64\nrx-queues = 2\nmtu = 9000\n");
	CHECK(ret == 0, "vhost-user port refused:\n%s", errbuf);
	CHECK(cfg.port[0].type == PORT_TYPE_VHOST_USER &&
		strcmp(cfg.port[0].path, "/run/vm.sock") == 0 &&
		cfg.port[0].client && strcmp(cfg.port[0].zero_copy, "no") == 0 &&
		cfg.port[0].copy_threshold == 1024 && cfg.port[0].inflight == 64 &&
		cfg.port[0].rx_queues == 2, "vhost-user fields");
	ret = load("[port vm]\ntype = vhost-user\npath = /run/vm.sock\n");
	CHECK(ret == 0 && strcmp(cfg.port[0].zero_copy, "auto") == 0 &&
		!cfg.port[0].client && cfg.port[0].copy_threshold == 512 &&
		cfg.port[0].inflight == 256, "vhost-user defaults");

	BAD("[port vm]\ntype = vhost-user\n",
		"t.ini:1: [port vm] missing required key 'path'", NULL);
	BAD("[port vm]\ntype = vhost-user\npath = /a\ndevice = net_ring0\n",
		"t.ini:4: [port vm] device: not a key of ports of type vhost-user",
		NULL);
	BAD("[port a]\ntype = ethdev\ndevice = net_ring0\npath = /a\n",
		"t.ini:4: [port a] path: not a key of ports of type ethdev", NULL);
	BAD("[port vm]\ntype = vhost-user\npath = /a,b\n",
		"t.ini:3: [port vm] path: '/a,b' must not contain ','", NULL);
	BAD("[port vm]\ntype = vhost-user\npath = /a\nzero-copy = maybe\n",
		"[port vm] zero-copy: 'maybe' is not one of: auto, yes, no", NULL);
	BAD("[port vm]\ntype = vhost-user\npath = /a\ninflight = 0\n",
		"[port vm] inflight: 0 out of range (1..32768)", NULL);
	snprintf(buf, sizeof(buf), "[port vm]\ntype = vhost-user\npath = /%0120d\n", 0);
	BAD(buf, "t.ini:3: [port vm] path: value too long (at most 107 characters)",
		NULL);
}

static void
test_ivshmem2(void)
{
	int ret;

	ret = load("[port l]\ntype = ivshmem2\npath = /run/ivs.sock\n"
		"rx-mode = interrupt\nzero-copy = yes\n");
	CHECK(ret == 0, "ivshmem2 port refused:\n%s", errbuf);
	CHECK(cfg.port[0].type == PORT_TYPE_IVSHMEM2 &&
		strcmp(cfg.port[0].path, "/run/ivs.sock") == 0 &&
		cfg.port[0].rx_interrupt && strcmp(cfg.port[0].zero_copy, "yes") == 0,
		"ivshmem2 fields");
	BAD("[port l]\ntype = ivshmem2\n",
		"t.ini:1: [port l] missing required key 'path'", NULL);
	BAD("[port l]\ntype = ivshmem2\npath = /a\nrx-queues = 2\n",
		"t.ini:4: [port l] rx-queues: an ivshmem2 link has exactly one rx queue",
		NULL);
	BAD("[port l]\ntype = ivshmem2\npath = /a\nclient = yes\n",
		"t.ini:4: [port l] client: not a key of ports of type ivshmem2", NULL);
	BAD("[port l]\ntype = ivshmem2\n",
		"or 'device' (in a VM: the PCI address of its ivshmem device)",
		NULL);
	BAD("[port vm]\ntype = vhost-user\ndevice = 00:04.0\npath = /a\n",
		"t.ini:3: [port vm] device: not a key of ports of type vhost-user",
		NULL);
}

/* In a VM: an ivshmem2 port on the PCI ivshmem device, probed by EAL at
 * init with the devargs vmlink derives from the port's keys. */
static void
test_ivshmem2_pci(void)
{
	char *argv[CFG_MAX_EAL_ARGS], storage[2048], da[512];
	int ret, argc;

	ret = load("[port l]\ntype = ivshmem2\ndevice = 00:04.0\n"
		"rx-mode = interrupt\npeer = r\n"
		"[port r]\ntype = ethdev\ndevice = net_ring0\npeer = l\n"
		"[port h]\ntype = ivshmem2\ndevice = 0000:00:05.0\n"
		"copy-threshold = 64\ninflight = 9\npeer = n\n"
		"[port n]\ntype = ethdev\ndevice = 0000:00:06.0\npeer = h\n");
	CHECK(ret == 0, "ivshmem2 PCI port refused:\n%s", errbuf);
	if (ret != 0)
		return;
	CHECK(cfg.port[0].path[0] == '\0' &&
		strcmp(cfg.port[0].device, "00:04.0") == 0, "device");
	argc = config_eal_argv(&cfg, "vmlink", argv, CFG_MAX_EAL_ARGS, storage,
		sizeof(storage));
	/* zero-copy auto: yes towards a vdev, no towards a PCI NIC */
	CHECK(argc == 9 &&
		strcmp(argv[3], "-a") == 0 && strcmp(argv[4], "00:04.0,"
		"mode=doorbell,zero-copy=1,copy-threshold=512,inflight=256") == 0 &&
		strcmp(argv[5], "-a") == 0 && strcmp(argv[6], "0000:00:05.0,"
		"mode=poll,zero-copy=0,copy-threshold=64,inflight=9") == 0 &&
		strcmp(argv[7], "-a") == 0 &&
		strcmp(argv[8], "0000:00:06.0") == 0, "eal argv %d: %s %s",
		argc, argc > 4 ? argv[4] : "", argc > 6 ? argv[6] : "");
	CHECK(config_ivshmem2_pci_devargs(&cfg, &cfg.port[0], da,
		sizeof(da)) == 0 && strcmp(da, argv[4]) == 0, "devargs %s", da);
	CHECK(config_ivshmem2_pci_devargs(&cfg, &cfg.port[0], da, 20) == -1,
		"short buffer");
	ret = load("[port l]\ntype = ivshmem2\ndevice = 00:04.0\n"
		"zero-copy = no\n");
	CHECK(ret == 0 && config_ivshmem2_pci_devargs(&cfg, &cfg.port[0], da,
		sizeof(da)) == 0 && strstr(da, ",zero-copy=0,") != NULL,
		"zero-copy = no: %s", da);
	BAD("[port l]\ntype = ivshmem2\ndevice = 00:04.0\npath = /a\n",
		"t.ini:3: [port l] device: give path (an ivshmem2-server socket) "
		"or device (a PCI ivshmem device), not both", NULL);
	BAD("[port l]\ntype = ivshmem2\ndevice = net_ring0\n",
		"t.ini:3: [port l] device: 'net_ring0' is not a PCI address", NULL);
	BAD("[port l]\ntype = ivshmem2\ndevice = 00:04.0,mode=poll\n",
		"'00:04.0,mode=poll' is not a PCI address (DDDD:BB:SS.F or "
		"BB:SS.F, without devargs)", NULL);
}

static void
test_references(void)
{
	BAD("[port a]\ntype = ethdev\ndevice = x\npeer = b\n",
		"t.ini:4: [port a] peer: undefined port 'b'", NULL);
	BAD(PORTS2 "[lcore 1]\nrx = c\n", "t.ini:10: [lcore 1] rx: undefined port 'c'",
		NULL);
	BAD(PORTS2 "[lcore 1]\nrx = a:1 b\n",
		"[lcore 1] rx: port 'a' has no rx queue 1 (rx-queues = 1)", NULL);
	BAD(PORTS2 "[lcore 1]\nrx = a:x b\n", "[lcore 1] rx: 'x' is not a queue number",
		NULL);
	BAD(PORTS2 "[lcore 1]\nrx = a b\n[lcore 2]\nrx = a:0\n",
		"[lcore 2] rx: rx queue a:0 is already polled by lcore 1", NULL);
	BAD(PORTS2 "[lcore 1]\nrx = a\n", "t.ini:5: [port b] rx queue 0 is polled by no",
		NULL);
	BAD(PORTS2 "[lcore 1]\n", "[lcore 1] missing required key 'rx'", NULL);
	BAD("[port a]\ntype = ethdev\ndevice = x\nrx-queues = 0\n[lcore 1]\nrx = ,\n",
		"[lcore 1] rx: names no port", NULL);
	BAD("[eal]\nlcores = 0-1\n" PORTS2 "[lcore 2]\nrx = a b\n",
		"t.ini:11: [lcore 2] lcore 2 is not in [eal] lcores (0-1)", NULL);
	BAD("[eal]\nlcores = 0-1\n" PORTS2 "[lcore 0]\nrx = a b\n",
		"[lcore 0] lcore 0 is the main lcore", NULL);
	BAD("[eal]\nlcores = 1-2\nmain-lcore = 2\n" PORTS2 "[lcore 2]\nrx = a b\n",
		"[lcore 2] lcore 2 is the main lcore", NULL);
	BAD("[eal]\nlcores = 0-1\nmain-lcore = 4\n" PORTS2,
		"t.ini:3: [eal] main-lcore: lcore 4 is not in lcores (0-1)", NULL);
	BAD(PORTS2 "[lcore 1]\nrx = a b\n[lcore 1]\nrx = a\n",
		"duplicate section [lcore 1]", NULL);

	/* Several errors are all reported, each with its line. */
	BAD("[port a]\ntype = ethdev\ndevice = x\nrx-ring = 1\ntx-ring = 2\n",
		"t.ini:4: [port a] rx-ring", "t.ini:5: [port a] tx-ring");
}

static void
test_misc(void)
{
	uint64_t mask[CFG_MAX_LCORES / 64];
	FILE *err;
	char *out = NULL;
	size_t len = 0;
	int ret;

	CHECK(config_parse_lcore_list("0-2,5,64", mask, CFG_MAX_LCORES) == 0 &&
		config_lcore_in(mask, 0) && config_lcore_in(mask, 2) &&
		!config_lcore_in(mask, 3) && config_lcore_in(mask, 5) &&
		config_lcore_in(mask, 64) && !config_lcore_in(mask, 127),
		"lcore list");
	CHECK(config_parse_lcore_list("", mask, CFG_MAX_LCORES) < 0, "empty list");
	CHECK(config_parse_lcore_list("1,", mask, CFG_MAX_LCORES) < 0, "trailing ,");

	err = open_memstream(&out, &len);
	ret = config_load(&cfg, "/nonexistent/v.ini", NULL, err);
	fclose(err);
	CHECK(ret < 0 && strstr(out, "/nonexistent/v.ini: cannot open") != NULL,
		"missing file: %s", out);
	free(out);

	out = NULL;
	err = open_memstream(&out, &len);
	config_print_reference(err);
	fclose(err);
	CHECK(strstr(out, "[port NAME]") != NULL && strstr(out, "rx-ring") != NULL &&
		strstr(out, "[lcore N]") != NULL && strstr(out, "file-prefix") != NULL,
		"reference lists sections and keys");
	free(out);
}

int
main(void)
{
	char path[256];

	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	test_good();
	test_structure();
	test_values();
	test_vhost_user();
	test_ivshmem2();
	test_ivshmem2_pci();
	test_references();
	test_misc();
	snprintf(path, sizeof(path), "%s/t.ini", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	printf("%d checks, %d failures\n", checks, failures);
	return failures == 0 ? 0 : 1;
}
