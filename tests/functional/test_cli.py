#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The vmlink command line: help, --check, usage errors, and bad
configurations refused before any device (or EAL) is touched: files that
are not configurations, mistakes in them, and what this host cannot give
them (CPUs, socket directories, a writable JSON stats file)."""

import os
import re
import subprocess
import unittest

from proc import eal_leftovers
from vmlink_testlib import VMLINK, VmlinkTestCase, eal_section


GOOD_PORTS = ("[port a]\ntype = ethdev\ndevice = net_ring0\npeer = b\n"
              "[port b]\ntype = ethdev\ndevice = net_ring1\npeer = a\n")


class CommandLine(VmlinkTestCase):

    def test_help_explains_options_and_config(self):
        r = self.run_vmlink(["--help"], stats=False)
        self.assertEqual(r.rc, 0)
        for word in ("--config", "--check", "--stats-json", "--duration",
                     "[eal]", "[port NAME]", "[lcore N]", "rx-ring", "peer",
                     "/vmlink/port_stats"):
            self.assertIn(word, r.out)

    def test_check_embedded_default(self):
        r = self.run_vmlink(["--check"], stats=False)
        self.assertEqual(r.rc, 0, r.err)
        self.assertIn("config/demo.ini (embedded): configuration OK", r.out)

    def test_check_file(self):
        cfg = self.write_config(eal_section("unused") + GOOD_PORTS)
        r = self.run_vmlink(["-c", cfg, "--check"], stats=False)
        self.assertEqual(r.rc, 0, r.err)
        self.assertIn("configuration OK: 2 ports", r.out)

    def test_usage_errors(self):
        for args, msg in ((["--bogus"], "unknown option '--bogus'"),
                          (["-c"], "needs a value"),
                          (["--duration", "x"], "not a number of seconds"),
                          (["--check", "extra"], "unexpected argument")):
            r = self.run_vmlink(args, stats=False)
            self.assertEqual(r.rc, 2, args)
            self.assertIn(msg, r.err)

    def test_too_many_eal_arguments(self):
        """EAL arguments before '--' are bounded before they are copied:
        a long vector is a usage error, not a stack overflow."""
        cfg = self.write_config(eal_section("unused") + GOOD_PORTS)
        for n, rc in ((62, None), (63, 2), (200, 2)):
            args = ["--log-level=lib.eal:notice"] * n
            r = self.run_vmlink(args + ["--", "-c", cfg, "--check"],
                                stats=False)
            if rc is None:   # within the bound: --check ignores them
                self.assertEqual(r.rc, 0, r.err)
            else:
                self.assertEqual(r.rc, rc, r.err)
                self.assertIn("%d EAL arguments before '--', at most 62"
                              % n, r.err)

    def test_missing_file(self):
        r = self.run_vmlink(["-c", self.path("nope.ini")], stats=False)
        self.assertEqual(r.rc, 1)
        self.assertIn("nope.ini: cannot open", r.err)

    def test_bad_configs_touch_nothing(self):
        """Each bad file is refused with file:line and section/key, exit 1,
        and EAL never starts (no runtime directory for the prefix)."""
        cases = [
            ("[port a]\ntype = ethdev\ndevice = net_ring0\nrx-ring = 7\n",
             ":4: [port a] rx-ring: 7 out of range"),
            ("[port a]\ntype = ethdev\ndevice = net_ring0\nbogus = 1\n",
             ":4: [port a] bogus: unknown key"),
            ("[ports]\n", ":1: [ports] unknown section"),
            ("[port a]\ntype = ethdev\ntype = ethdev\n",
             ":3: [port a] type: duplicate key"),
            ("[port a]\ntype ethdev\n", ":2: expected 'key = value'"),
            ("[port a]\ntype = ethdev\ndevice = x\nmac = 1:2:3\n",
             ":4: [port a] mac: '1:2:3' is not a MAC address"),
            ("[port a]\ntype = ethdev\ndevice = x\npeer = z\n",
             ":4: [port a] peer: undefined port 'z'"),
            (GOOD_PORTS + "[lcore 5]\nrx = a b\n",
             "[lcore 5] lcore 5 is not in [eal] lcores (0-1)"),
        ]
        for text, msg in cases:
            prefix = self.prefix("bad")
            cfg = self.write_config(text + eal_section(prefix))
            r = self.run_vmlink(["-c", cfg], stats=False)
            self.assertEqual(r.rc, 1, text)
            self.assertIn(msg, r.err, text)
            self.assertIn("invalid configuration", r.err)
            self.assertFalse(os.path.exists("/var/run/dpdk/" + prefix),
                             "EAL ran for a bad config")

    def test_runtime_errors_name_the_port(self):
        # A device that cannot be probed, and an lcore EAL does not have.
        # EAL ran: what it leaves behind is removed on the error path too.
        prefix = self.prefix("probe")
        cfg = self.write_config(
            eal_section(prefix) +
            "[port a]\ntype = ethdev\ndevice = net_nosuchdriver0\n")
        r = self.run_vmlink(["-c", cfg], stats=False, timeout=60)
        self.assertEqual(r.rc, 1)
        self.assertIn("[port a] device 'net_nosuchdriver0': probe failed", r.err)
        self.assertEqual(eal_leftovers(prefix), [])

        cfg = self.write_config(GOOD_PORTS + "[lcore 1]\nrx = a b\n")
        r = self.run_vmlink(["-l", "0", "--file-prefix", self.prefix("lc"),
                             "-m", "128", "--no-pci", "--", "-c", cfg],
                            stats=False)
        self.assertEqual(r.rc, 1)
        self.assertIn("[lcore 1] lcore 1 is not an EAL lcore", r.err)

        cfg = self.write_config(GOOD_PORTS)
        r = self.run_vmlink(["-l", "0", "--file-prefix", self.prefix("lc"),
                             "-m", "128", "--no-pci", "--", "-c", cfg],
                            stats=False)
        self.assertEqual(r.rc, 1)
        self.assertIn("no worker lcore", r.err)


class ConfigFiles(VmlinkTestCase):
    """Files that are not (good) configurations, found by --check."""

    def check(self, *args, stdin=None, timeout=20):
        p = subprocess.run([VMLINK, "--check"] + list(args), input=stdin,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
        return p.returncode, p.stdout.decode(errors="replace"), \
            p.stderr.decode(errors="replace")

    def bytes_file(self, data, name="c.ini"):
        path = self.path(name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def test_not_configuration_files(self):
        # /dev/zero: a bounded read and one clear error, at once
        rc, _, err = self.check("-c", "/dev/zero", timeout=10)
        self.assertEqual(rc, 1)
        self.assertIn("/dev/zero: more than 1048576 bytes: not a "
                      "configuration file", err)
        # a directory
        rc, _, err = self.check("-c", self.dir)
        self.assertEqual(rc, 1)
        self.assertIn("is a directory, not a configuration file", err)
        # binary garbage and NUL bytes: named, once, not "line too long"
        elf = self.bytes_file(b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 8)
        rc, _, err = self.check("-c", elf)
        self.assertEqual(rc, 1)
        self.assertIn("c.ini:1: binary data in line (byte 0x7f, column 1): "
                      "not a text configuration file", err)
        self.assertNotIn("too long", err)
        self.assertEqual(len(re.findall(r"c\.ini:\d+:", err)), 1, err)
        nul = self.bytes_file(b"[port a]\ntype = ethdev\n" + bytes(5000))
        rc, _, err = self.check("-c", nul)
        self.assertEqual(rc, 1)
        self.assertIn("c.ini:3: NUL byte in line (column 1)", err)
        self.assertNotIn("too long", err)

    def test_config_from_a_pipe(self):
        """-c /dev/stdin (or <(...)): the file is read once."""
        text = (GOOD_PORTS + "[vmlink]\nburst = 64\n").encode()
        rc, out, err = self.check("-c", "/dev/stdin", stdin=text)
        self.assertEqual(rc, 0, err)
        self.assertIn("/dev/stdin: configuration OK: 2 ports", out)
        # longer than the first buffer a pipe gets (4 KiB), the ports
        # after it: the buffer grows, nothing is cut
        padded = (b"; " + b"x" * 61 + b"\n") * 200 + text
        rc, out, err = self.check("-c", "/dev/stdin", stdin=padded)
        self.assertEqual(rc, 0, err)
        self.assertIn("/dev/stdin: configuration OK: 2 ports", out)

    def test_config_size_limit(self):
        """A file of exactly 1 MiB loads; one byte more is refused."""
        text = (GOOD_PORTS + "[vmlink]\nburst = 64\n").encode()
        pad = 1048576 - len(text)
        comments = (b"; " + b"x" * 61 + b"\n") * (pad // 64)
        rest = b";" * (pad % 64 - 1) + b"\n" if pad % 64 else b""
        full = comments + rest + text
        self.assertEqual(len(full), 1048576)
        rc, out, err = self.check("-c", self.bytes_file(full))
        self.assertEqual(rc, 0, err)
        self.assertIn("configuration OK: 2 ports", out)
        rc, _, err = self.check("-c", self.bytes_file(b";" + full))
        self.assertEqual(rc, 1)
        self.assertIn("more than 1048576 bytes: not a configuration file",
                      err)

    def test_mistakes_reported_once_and_by_name(self):
        cases = [
            # a duplicate section: one error, not one per key after it
            (GOOD_PORTS + "[port a]\ntype = ethdev\ndevice = net_ring2\n",
             ["c.ini:9: duplicate section [port a] (first at line 1)"]),
            # '#' is not a comment, at the start of a line or after a value
            ("# ports\n" + GOOD_PORTS,
             ["c.ini:1: comments start with ';', not '#' ('#' comments "
              "are not supported)"]),
            ("[port a]\ntype = ethdev  # a ring\ndevice = net_ring0\n",
             ["c.ini:2: [port a] type: '#' does not start a comment "
              "(comments start with ';')"]),
            # two ports on one socket, on one device
            ("[port a]\ntype = vhost-user\npath = %s/x.sock\n"
             "[port b]\ntype = ivshmem2\npath = %s/x.sock\n" % (
                 self.dir, self.dir),
             ["c.ini:6: [port b] path: %s/x.sock is also the socket of "
              "[port a] (line 1): one port per socket" % self.dir]),
            ("[port a]\ntype = ethdev\ndevice = 0000:00:04.0\n"
             "[port b]\ntype = ethdev\ndevice = 00:04.0,arg=1\n",
             ["c.ini:6: [port b] device: 0000:00:04.0 is also the device "
              "of [port a] (line 1): one port per device"]),
            # an ivshmem2 port on a PCI device counts too (two such ports
            # on different devices have no socket to share)
            ("[port a]\ntype = ivshmem2\ndevice = 00:04.0\n"
             "[port b]\ntype = ivshmem2\ndevice = 00:05.0\n"
             "[port c]\ntype = ethdev\ndevice = 0000:00:04.0\n",
             ["c.ini:9: [port c] device: 0000:00:04.0 is also the device "
              "of [port a] (line 1): one port per device"]),
        ]
        for text, msgs in cases:
            rc, _, err = self.check("-c", self.bytes_file(text.encode()))
            self.assertEqual(rc, 1, text)
            for m in msgs:
                self.assertIn(m, err, text)
            self.assertEqual(len(re.findall(r"c\.ini:\d+:", err)),
                             len(msgs), err)

    def test_peer_warnings(self):
        text = ("[port a]\ntype = ethdev\ndevice = net_ring0\npeer = a\n"
                "[port b]\ntype = ethdev\ndevice = net_ring1\n"
                "[port c]\ntype = ethdev\ndevice = net_null0\npeer = b\n")
        rc, out, err = self.check("-c", self.bytes_file(text.encode()))
        self.assertEqual(rc, 0, err)   # legal: warned about, not refused
        self.assertIn("c.ini:4: [port a] peer: warning: a is its own peer",
                      err)
        self.assertIn("c.ini:11: [port c] peer: warning: one-way: [port b] "
                      "has no peer", err)
        self.assertIn("configuration OK: 3 ports", out)


class HostChecks(VmlinkTestCase):
    """--check also knows what this host cannot give the configuration,
    and a real start refuses it before EAL runs."""

    def check(self, text, *args):
        path = self.write_config(text)
        return self.run_vmlink(["-c", path, "--check"] + list(args),
                               stats=False)

    def test_lcores(self):
        r = self.check("[eal]\nlcores = 0-1,100\n" + GOOD_PORTS)
        self.assertEqual(r.rc, 1)
        self.assertIn("[eal] lcores: lcore 100 is not a CPU this host lets "
                      "vmlink use (CPUs: ", r.err)
        self.assertNotIn("lcore 1 is not", r.err)
        r = self.check("[eal]\nlcores = 0\n" + GOOD_PORTS)
        self.assertEqual(r.rc, 1)
        self.assertIn("[eal] lcores: no worker lcore: lcores = 0 is the "
                      "main lcore only", r.err)
        # EAL arguments on the command line: EAL's business
        path = self.write_config("[eal]\nlcores = 0\n" + GOOD_PORTS)
        r = self.run_vmlink(["-l", "0-1", "--", "-c", path, "--check"],
                            stats=False)
        self.assertEqual(r.rc, 0, r.err)

    def test_sockets_and_stats_file(self):
        d = self.dir
        self.write_config("not a socket", name="f.ini")
        r = self.check("[port v]\ntype = vhost-user\npath = %s/no/v.sock\n"
                       "[port f]\ntype = vhost-user\npath = %s/f.ini\n"
                       "[port i]\ntype = ivshmem2\npath = %s/i.sock\n" % (
                           d, d, d))
        self.assertEqual(r.rc, 1)
        self.assertIn(":1: [port v] path: directory %s/no does not exist"
                      % d, r.err)
        self.assertIn(":4: [port f] path: %s/f.ini exists and is not a "
                      "socket" % d, r.err)
        self.assertIn(":7: [port i] warning: no ivshmem2-server socket at "
                      "%s/i.sock yet" % d, r.err)
        for path, msg in (("%s/no/s.json" % d, "directory %s/no does not "
                           "exist" % d),
                          (d, "is a directory"),
                          ("/proc/vmlink-test.json", "cannot be written")):
            r = self.check(GOOD_PORTS, "--stats-json", path)
            self.assertEqual(r.rc, 1, path)
            self.assertIn("--stats-json %s: %s" % (path, msg), r.err)
        # A writable one passes, and --check leaves no file behind.
        r = self.check(GOOD_PORTS, "--stats-json", self.path("s.json"))
        self.assertEqual(r.rc, 0, r.err)
        self.assertFalse(os.path.exists(self.path("s.json")))

    def test_refused_before_eal(self):
        """Without --check too: refused before EAL starts (no runtime
        directory), so nothing is touched and no counters are lost."""
        prefix = self.prefix("host")
        path = self.write_config(eal_section(prefix) + GOOD_PORTS)
        r = self.run_vmlink(["-c", path, "--stats-json", self.dir],
                            stats=False)
        self.assertEqual(r.rc, 1)
        self.assertIn("--stats-json %s: is a directory" % self.dir, r.err)
        self.assertEqual(eal_leftovers(prefix), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
