#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A running vmlink: periodic stats, telemetry, clean stop on signals
(SIGHUP too: it ends vmlink like SIGTERM), nothing of EAL left behind."""

import json
import os
import signal
import subprocess
import time
import unittest

from proc import eal_leftovers, stop, wait_for
from telemetry import query as telemetry_query
from vmlink_testlib import VmlinkTestCase, eal_section

# An endless source (net_null) cross-connected with a net_ring port that
# loops back what it sends.
LOOP_PORTS = ("[port gen]\ntype = ethdev\ndevice = net_null0,size=64\n"
              "peer = loop\n"
              "[port loop]\ntype = ethdev\ndevice = net_ring0\npeer = gen\n")


class Runtime(VmlinkTestCase):

    def start(self, prefix, extra_args=(), ports=LOOP_PORTS):
        cfg = self.write_config(eal_section(prefix) + ports)
        return self.start_vmlink(["-c", cfg, "--stats-json",
                                  self.path("s.json")] + list(extra_args))

    def telemetry_ready(self, prefix):
        try:
            return "/vmlink/ports" in telemetry_query(prefix, "/vmlink/ports")
        except OSError:
            return False

    def test_signals_stop_cleanly_with_summary(self):
        """SIGTERM, SIGINT and SIGHUP: summary, JSON, the vhost-user
        socket removed, and no EAL runtime directory or hugepage file
        left (DPDK 22.11 leaves both; vmlink removes them)."""
        sock = self.path("vm.sock")
        ports = LOOP_PORTS + "[port vm]\ntype = vhost-user\npath = %s\n" % sock
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            prefix = self.prefix("sig")
            p = self.start(prefix, ports=ports)
            self.assertTrue(wait_for(lambda: self.telemetry_ready(prefix), 30))
            self.assertTrue(os.path.exists(sock))
            self.assertNotEqual(eal_leftovers(prefix), [])
            time.sleep(1.5)  # at least one periodic stats line
            rc = stop(p, sig)
            out = p.stdout.read()
            p.stdout.close()
            self.assertEqual(rc, 0, out)
            self.assertFalse(os.path.exists(sock), sig)
            self.assertEqual(eal_leftovers(prefix), [], sig)
            self.assertIn("vmlink summary", out)
            self.assertIn("link up", out)  # a periodic stats line
            with open(self.path("s.json")) as f:
                stats = json.load(f)
            self.assertGreater(stats["ports"]["gen"]["rx_packets"], 0)
            self.assertGreater(stats["ports"]["loop"]["rx_packets"], 0)
            self.assertConserved(stats)

    def test_stats_json_written_periodically(self):
        """--stats-json-interval: the file is there while vmlink runs,
        replaced whole every interval (a reader never sees half of it)."""
        prefix = self.prefix("pj")
        path = self.path("s.json")
        p = self.start(prefix, ["--stats-json-interval", "1"])
        try:
            self.assertTrue(wait_for(lambda: os.path.exists(path), 20))
            with open(path) as f:
                first = json.load(f)
            self.assertGreater(first["ports"]["gen"]["rx_packets"], 0)

            def grown():
                with open(path) as f:
                    st = json.load(f)     # never a torn file
                return st["elapsed_s"] > first["elapsed_s"] and \
                    st["ports"]["gen"]["rx_packets"] > \
                    first["ports"]["gen"]["rx_packets"]
            self.assertTrue(wait_for(grown, 10, interval=0.01))
        finally:
            self.assertEqual(stop(p), 0)
            p.stdout.close()
        with open(path) as f:
            self.assertConserved(json.load(f))
        r = self.run_vmlink(["--stats-json-interval", "1", "--check"],
                            stats=False)
        self.assertEqual(r.rc, 2)
        self.assertIn("--stats-json-interval needs --stats-json", r.err)

    def test_telemetry(self):
        prefix = self.prefix("tel")
        p = self.start(prefix)
        try:
            self.assertTrue(wait_for(lambda: self.telemetry_ready(prefix), 30))
            ports = telemetry_query(prefix, "/vmlink/ports")["/vmlink/ports"]
            self.assertEqual(ports, ["gen", "loop"])
            s1 = telemetry_query(prefix, "/vmlink/port_stats,loop")
            s1 = s1["/vmlink/port_stats"]
            self.assertEqual(s1["name"], "loop")
            self.assertEqual(s1["link"], "up")
            self.assertTrue(wait_for(lambda: telemetry_query(
                prefix, "/vmlink/port_stats,loop")["/vmlink/port_stats"]
                ["rx_packets"] > s1["rx_packets"], 10))
            # An unknown port is an error, not a crash.
            bad = telemetry_query(prefix, "/vmlink/port_stats,nosuch")
            self.assertIsNone(bad["/vmlink/port_stats"])
            # DPDK's own client reads the same data.
            tool = subprocess.run(
                ["dpdk-telemetry.py", "-f", prefix],
                input="/vmlink/port_stats,gen\n", stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, universal_newlines=True, timeout=30)
            self.assertIn('"tx_packets"', tool.stdout)
            self.assertIn('"name": "gen"', tool.stdout)
        finally:
            self.assertEqual(stop(p), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
