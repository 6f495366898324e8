#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Runtime control of a running vmlink with usertools/vmlinkctl (DPDK
telemetry underneath): ports, queues and counters shown; counters reset
exactly (the final summary still adds up); a port's admin state;
suspending and resuming a vhost-user port (its state shown, frames for it
counted as suspended drops, ports of other types refused); log levels;
the interactive mode; errors explained. (tests/interop/test_suspend.py
suspends a port between two guests.)"""

import json
import os
import socket
import subprocess
import time
import unittest

import ivshm_util
from proc import stop, wait_for
from telemetry import query as telemetry_query
from vmlink_testlib import SOURCE, VmlinkTestCase, eal_section

VMLINKCTL = os.path.join(SOURCE, "usertools", "vmlinkctl")

# gen (endless net_null source) -> loop (net_ring: what it sends comes
# back) -> gen; vh: a vhost-user port nobody connects to.
PORTS = ("[port gen]\ntype = ethdev\ndevice = net_null0,size=64\n"
         "peer = loop\n"
         "[port loop]\ntype = ethdev\ndevice = net_ring0\npeer = gen\n"
         "[port vh]\ntype = vhost-user\npath = %s\n")


class ControlCase(VmlinkTestCase):
    """vmlink running on the [port] sections PORTS, and vmlinkctl."""

    def ctl(self, *args, check=True, stdin=None):
        p = subprocess.run([VMLINKCTL, "-f", self.pfx] + list(args),
                           input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True,
                           timeout=60)
        if check:
            self.assertEqual(p.returncode, 0, "%s: %s%s" % (
                args, p.stdout, p.stderr))
        return p

    def stats(self, port):
        return json.loads(self.ctl("--json", "stats", port).stdout)[0]

    def start(self, ports):
        self.pfx = self.prefix("ctl")
        cfg = self.write_config(eal_section(self.pfx) +
                                "[vmlink]\nstats-interval = 0\n" + ports)
        self.p = self.start_vmlink(["-c", cfg, "--stats-json",
                                    self.path("s.json")])
        self.assertTrue(wait_for(self.ready, 30), "vmlink did not come up")

    def ready(self):
        try:
            return telemetry_query(self.pfx, "/vmlink/ports") is not None
        except OSError:
            return False

    def finish(self):
        rc = stop(self.p)
        out = self.p.stdout.read()
        self.p.stdout.close()
        self.assertEqual(rc, 0, out)
        with open(self.path("s.json")) as f:
            stats = json.load(f)
        self.assertConserved(stats)
        return out, stats

    def tearDown(self):
        if getattr(self, "p", None) is not None:
            stop(self.p)
        super().tearDown()


class Control(ControlCase):

    def setUp(self):
        super().setUp()
        self.sock = self.path("vh.sock")
        self.start(PORTS % self.sock)

    def test_show_reset_link_log(self):
        ports = self.ctl("ports").stdout
        self.assertRegex(ports, r"gen\s+ethdev\s+net_null0\s+\d+ up\s+up\s+"
                                r"no\s+1\s+1 loop")
        self.assertRegex(ports, r"vh\s+vhost-user\s+net_vmlink_vhost_vh\s+"
                                r"\d+ down\s+up")
        self.assertIn("lcore 1: polls gen:0 loop:0 vh:0; sends on gen:0 "
                      "loop:0", self.ctl("lcores").stdout)
        self.assertIn("rx-packets", self.ctl("stats").stdout)
        self.assertIn("rx_q0_", self.ctl("xstats", "vh", "--all").stdout)

        # Reset: counters start again from zero; the summary at the end
        # still adds up (the workers zero their own, between bursts).
        self.assertTrue(wait_for(lambda: self.stats("gen")["rx_packets"] >
                                 10000000, 20))
        before = self.stats("gen")["rx_packets"]
        self.assertIn("counters reset: gen loop vh",
                      self.ctl("reset").stdout)
        self.assertLess(self.stats("gen")["rx_packets"], before)
        self.ctl("reset", "loop")

        # Admin down: loop is no longer polled, frames for it are
        # no-route drops of gen; up again: it forwards again.
        r = self.ctl("link", "loop", "down").stdout
        self.assertIn("port loop: admin down (device link: down)", r)
        # net_ring has a link to set down too
        self.assertRegex(self.ctl("ports").stdout,
                         r"loop\s+ethdev\s+net_ring0\s+\d+ down\s+down")
        self.assertIn("loop:0 (admin down)", self.ctl("lcores").stdout)
        time.sleep(0.3)   # what was in the ring is left there
        l1, g1 = self.stats("loop"), self.stats("gen")
        time.sleep(0.5)
        l2, g2 = self.stats("loop"), self.stats("gen")
        self.assertEqual(l2["rx_packets"], l1["rx_packets"])
        self.assertEqual(l2["tx_packets"], l1["tx_packets"])
        self.assertGreater(g2["drops"]["no_route"], g1["drops"]["no_route"])
        self.assertIn("admin up (device link: up)",
                      self.ctl("link", "loop", "up").stdout)
        self.assertIn("(device link: not controlled by the driver)",
                      self.ctl("link", "vh", "up").stdout)
        self.assertTrue(wait_for(lambda: self.stats("loop")["rx_packets"] >
                                 l2["rx_packets"], 10))

        # Log levels: the vhost-user library says when a front-end comes
        # and goes (INFO); at NOTICE it no longer does.
        def knock():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.sock)
            time.sleep(0.3)
            s.close()
            time.sleep(0.3)
        knock()
        self.assertIn("lib.vmlink.vhost_user",
                      self.ctl("log", "lib.vmlink.vhost_user:notice").stdout)
        knock()
        self.ctl("log", "lib.vmlink.vhost_user:info")
        knock()

        for args, rc, msg in (
                (["link", "nosuch", "down"], 1, "no port named 'nosuch'"),
                (["link", "gen", "sideways"], 2, "link PORT up|down"),
                (["log", "loud"], 1, "'loud' is not a log level"),
                (["stats", "nosuch"], 1, "no port named 'nosuch'"),
                (["bogus"], 2, "unknown command 'bogus'")):
            r = self.ctl(*args, check=False)
            self.assertEqual(r.returncode, rc, args)
            self.assertIn(msg, r.stderr, args)

        tel = self.stats("gen")
        out, stats = self.finish()
        # One name per counter: telemetry carries the JSON file's port
        # counters under the same names, nested the same way.
        def shape(port, skip):
            return {k: sorted(v) if isinstance(v, dict) else None
                    for k, v in port.items() if k not in skip}
        self.assertEqual(
            shape(tel, ("name", "ethdev_port", "link")),
            shape(stats["ports"]["gen"],
                  ("device", "queues", "malformed", "device_xstats")))
        self.assertIn("tx_full", tel["drops"])
        # two of the three knocks were logged
        self.assertEqual(out.count("front-end connected"), 2, out)
        self.assertIn("vmlink: port loop admin down", out)
        self.assertIn("vmlink: port loop admin up", out)

    def test_interactive_and_unreachable(self):
        r = self.ctl(stdin="ports\n# a comment\nbogus\nstats gen\nquit\n"
                     "ports\n", check=False)
        self.assertEqual(r.returncode, 1)     # "bogus" failed
        self.assertEqual(r.stdout.count("net_null0"), 1)  # quit ended it
        self.assertIn("gen ", r.stdout)
        self.assertIn("unknown command 'bogus'", r.stderr)
        p = subprocess.run([VMLINKCTL, "-f", "vmt-nosuch-prefix", "ports"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot reach vmlink with file prefix "
                      "'vmt-nosuch-prefix'", p.stderr)
        self.finish()


class Suspend(ControlCase):
    """gen (net_null) sends to vh, a vhost-user port without a front-end
    (its tx bursts refuse everything: tx_full drops), and to nothing else;
    shm is an ivshmem2 port."""

    def setUp(self):
        super().setUp()
        srv = ivshm_util.Server(workdir=self.dir)
        self.addCleanup(srv.close)
        self.start("[port gen]\ntype = ethdev\ndevice = net_null0,size=64\n"
                   "peer = vh\n"
                   "[port vh]\ntype = vhost-user\npath = %s\npeer = gen\n"
                   "[port shm]\ntype = ivshmem2\npath = %s\n"
                   % (self.path("vh.sock"), srv.sock))

    def drops(self):
        st = self.stats("vh")
        return st["drops"]["tx_full"], st["drops"]["suspended"]

    def test_suspend_resume(self):
        self.assertTrue(wait_for(lambda: self.drops()[0] > 1000, 20))
        self.assertIn("port vh: suspended", self.ctl("suspend", "vh").stdout)
        self.assertRegex(self.ctl("ports").stdout,
                         r"vh\s+vhost-user\s+net_vmlink_vhost_vh\s+\d+ "
                         r"down\s+up\s+yes\s+1\s+1 gen")
        self.assertIn("vh:0 (suspended)", self.ctl("lcores").stdout)
        st = self.stats("vh")
        self.assertEqual(st["suspended"], "yes")
        self.assertEqual(self.stats("gen")["suspended"], "no")
        self.assertRegex(self.ctl("stats", "vh").stdout, r"vh\s+down\s+yes ")

        # frames for it: suspended drops, no longer tx_full ones
        full1, susp1 = self.drops()
        time.sleep(0.5)
        full2, susp2 = self.drops()
        self.assertEqual(full2, full1)
        self.assertGreater(susp2, susp1)

        # idempotent both ways, and said so
        r = self.ctl("--json", "suspend", "vh").stdout
        self.assertEqual(json.loads(r), {"port": "vh", "suspended": "yes",
                                         "changed": "no",
                                         "zero_copy_held": 0})
        self.assertIn("port vh: already suspended",
                      self.ctl("suspend", "vh").stdout)
        self.assertIn("port vh: resumed", self.ctl("resume", "vh").stdout)
        self.assertIn("port vh: was not suspended (nothing to do)",
                      self.ctl("resume", "vh").stdout)
        self.assertEqual(self.stats("vh")["suspended"], "no")
        self.assertNotIn("(suspended)", self.ctl("lcores").stdout)
        _, susp3 = self.drops()
        self.assertTrue(wait_for(lambda: self.drops()[0] > full2, 10))
        self.assertEqual(self.drops()[1], susp3)

        for args, rc, msg in (
                (["suspend", "nosuch"], 1, "no port named 'nosuch'"),
                (["resume", "nosuch"], 1, "no port named 'nosuch'"),
                (["suspend", "gen"], 1, "port gen is an ethdev port: only "
                 "vhost-user ports can be suspended"),
                (["suspend", "shm"], 1, "port shm is an ivshmem2 port: only "
                 "vhost-user ports can be suspended"),
                (["resume", "shm"], 1, "port shm is an ivshmem2 port"),
                (["raw", "/vmlink/suspend"], 1, "usage: /vmlink/suspend,PORT"),
                (["suspend"], 2, "suspend PORT"),
                (["resume", "vh", "gen"], 2, "resume PORT")):
            r = self.ctl(*args, check=False)
            self.assertEqual(r.returncode, rc, (args, r.stdout, r.stderr))
            self.assertIn(msg, r.stderr, args)
        for p in ("gen", "shm"):
            self.assertEqual(self.stats(p)["suspended"], "no")

        # asleep at exit: the JSON file says so, and the drops add up
        self.ctl("suspend", "vh")
        out, js = self.finish()
        self.assertTrue(js["ports"]["vh"]["suspended"])
        self.assertFalse(js["ports"]["gen"]["suspended"])
        self.assertGreater(js["ports"]["vh"]["drops"]["suspended"], susp2)
        self.assertEqual(out.count("vmlink: port vh suspended"), 2, out)
        self.assertEqual(out.count("vmlink: port vh resumed"), 1, out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
