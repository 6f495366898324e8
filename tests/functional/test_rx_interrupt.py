#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""rx-mode = interrupt: an idle worker sleeps on its rx queues' interrupts
(its thread uses next to no CPU) and wakes when frames arrive. Two net_tap
ports (a device with rx interrupts) are cross-connected; the test injects
frames on the kernel side of one tap and captures them on the other."""

import json
import os
import socket
import struct
import subprocess
import time
import unittest

from proc import stop, wait_for
from vmlink_testlib import VmlinkTestCase, eal_section

ETHERTYPE = 0x88B6  # local experimental: marks the test's frames
ETH_P_ALL = 0x0003


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def iface_exists(name):
    return os.path.exists("/sys/class/net/" + name)


def quiet_iface(name):
    """Keep the kernel's own IPv6 chatter off the test interface."""
    try:
        with open("/proc/sys/net/ipv6/conf/%s/disable_ipv6" % name, "w") as f:
            f.write("1")
    except OSError:
        pass
    subprocess.run(["ip", "link", "set", name, "up"], check=False)


class RxInterrupt(VmlinkTestCase):

    def test_idle_worker_sleeps_and_wakes(self):
        if not os.path.exists("/dev/net/tun"):
            self.skipTest("no /dev/net/tun: net_tap cannot run here")
        tag = os.getpid() % 10000
        in_if, out_if = "vmli%d" % tag, "vmlo%d" % tag
        prefix = self.prefix("intr")
        cfg = self.write_config(
            eal_section(prefix) +
            "[vmlink]\nstats-interval = 0\n"
            "[port a]\ntype = ethdev\nrx-mode = interrupt\npeer = b\n"
            "device = net_tap0,iface=%s\n"
            "[port b]\ntype = ethdev\nrx-mode = interrupt\npeer = a\n"
            "device = net_tap1,iface=%s\n" % (in_if, out_if))
        p = self.start_vmlink(["-c", cfg, "--stats-json", self.path("s.json")])
        try:
            self.assertTrue(wait_for(lambda: iface_exists(in_if) and
                                     iface_exists(out_if), 30),
                            "tap interfaces not created")
            quiet_iface(in_if)
            quiet_iface(out_if)
            rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                               socket.htons(ETH_P_ALL))
            rx.bind((out_if, 0))
            rx.settimeout(0.2)
            tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            tx.bind((in_if, 0))

            # Idle: the worker sleeps, so the process uses little CPU.
            time.sleep(1.0)
            c0 = cpu_seconds(p.pid)
            time.sleep(2.0)
            idle_cpu = cpu_seconds(p.pid) - c0
            self.assertLess(idle_cpu, 0.5,
                            "idle vmlink used %.2f s of CPU in 2 s" % idle_cpu)

            # Traffic wakes it: every injected frame comes out of b.
            sent = []
            for i in range(50):
                fr = (b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01" +
                      struct.pack(">HI", ETHERTYPE, i) + bytes(60))
                tx.send(fr)
                sent.append(fr)
                time.sleep(0.01)
            got = []
            end = time.time() + 10
            while len(got) < len(sent) and time.time() < end:
                try:
                    fr = rx.recv(65536)
                except socket.timeout:
                    continue
                if fr[12:14] == struct.pack(">H", ETHERTYPE):
                    got.append(fr)
            self.assertEqual(got, sent)
            rx.close()
            tx.close()
        finally:
            rc = stop(p)
            out = p.stdout.read()
            p.stdout.close()
        self.assertEqual(rc, 0, out)
        with open(self.path("s.json")) as f:
            stats = json.load(f)
        lc = stats["lcores"]["1"]
        self.assertGreater(lc["sleeps"], 10, out)
        self.assertGreater(lc["wakeups"], 0, out)
        self.assertGreaterEqual(stats["ports"]["a"]["rx_packets"], 50)
        self.assertIn("lcore 1 slept", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
