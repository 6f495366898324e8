#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The vmlink command line: help, --check, usage errors, and bad
configurations refused before any device (or EAL) is touched."""

import os
import unittest

from proc import eal_leftovers
from vmlink_testlib import VmlinkTestCase, eal_section


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


if __name__ == "__main__":
    unittest.main(verbosity=2)
