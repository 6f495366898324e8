#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Packet capture on a running vmlink, read back with libpcap (tcpdump -r)
and compared frame by frame:

- the built-in capture (vmlinkctl capture start/stop): BPF filter, snap
  length, count and size limits, and copies that do not fit the bounded
  ring counted as drops while forwarding goes on;
- DPDK's own dpdk-dumpcap attached as a secondary process to vmlink's
  vhost-user and ivshmem2 ports (vmlinkctl dumpcap preloads the PMDs)."""

import json
import os
import struct
import subprocess
import time
import unittest

from ivshm_util import Server
from proc import stop, wait_for
from telemetry import query as telemetry_query
from vmlink_testlib import (SOURCE, VmlinkTestCase, eal_section, make_frames,
                            read_pcap, write_pcap)

VMLINKCTL = os.path.join(SOURCE, "usertools", "vmlinkctl")


def tcpdump(path, expr=None):
    """The frames of capture file PATH (pcap or pcapng) as libpcap reads
    them, optionally only those matching the filter EXPR: tcpdump -r
    rewrites them as a plain pcap file, read here frame by frame."""
    plain = path + ".readback"
    cmd = ["tcpdump", "-r", path, "-w", plain] + ([expr] if expr else [])
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError("tcpdump -r %s: %s" % (path, p.stderr))
    frames = read_pcap(plain)
    os.unlink(plain)
    return frames


def seq(frame):
    """The sequence number make_frames puts after the Ethernet header."""
    return struct.unpack(">I", frame[14:18])[0]


class CaptureCase(VmlinkTestCase):

    def ctl(self, prefix, *args, check=True):
        p = subprocess.run([VMLINKCTL, "-f", prefix] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=120)
        if check:
            self.assertEqual(p.returncode, 0, "%s: %s%s" % (
                args, p.stdout, p.stderr))
        return p

    def status(self, prefix):
        return json.loads(self.ctl(prefix, "--json", "capture").stdout)

    def start(self, ports, prefix, env=None):
        cfg = self.write_config(eal_section(prefix, memory=512) +
                                "[vmlink]\nstats-interval = 0\n" + ports)
        p = self.start_vmlink(["-c", cfg, "--stats-json", self.path("s.json")],
                              env)
        self.addCleanup(lambda: stop(p))
        ok = wait_for(lambda: self.ready(prefix), 30)
        self.assertTrue(ok, "vmlink did not come up")
        return p

    @staticmethod
    def ready(prefix):
        try:
            return telemetry_query(prefix, "/vmlink/ports") is not None
        except OSError:
            return False

    def finish(self, p):
        rc = stop(p)
        out = p.stdout.read()
        p.stdout.close()
        self.assertEqual(rc, 0, out)
        with open(self.path("s.json")) as f:
            self.assertConserved(json.load(f))
        return out


class BuiltinCapture(CaptureCase):

    def test_filter_snaplen_limits_and_drops(self):
        # Port a replays in.pcap for ever (net_pcap infinite_rx); its
        # frames carry a sequence number, so each captured frame can be
        # compared with the frame it copies.
        frames = make_frames(300, [64, 300, 1514], seed=7)
        write_pcap(self.path("in.pcap"), frames)
        prefix = self.prefix("cap")
        p = self.start(
            "[port a]\ntype = ethdev\npeer = b\n"
            "device = net_pcap_a,rx_pcap=%s,infinite_rx=1\n"
            "[port b]\ntype = ethdev\nrx-queues = 0\n"
            "device = net_null0\n" % self.path("in.pcap"), prefix)

        # Even sequence numbers only, 100 bytes of each, 50 frames.
        even = "ether proto 0x88b5 and ether[17] & 1 = 0"
        out1 = self.path("even.pcap")
        self.ctl(prefix, "capture", "start", "a", out1, "--dir", "rx",
                 "--snaplen", "100", "--count", "50", "--filter", even)
        self.assertTrue(wait_for(lambda: self.status(prefix)["state"] ==
                                 "stopped", 20), self.status(prefix))
        st = self.status(prefix)
        self.assertEqual(st["stopped_by"], "count limit")
        self.assertEqual(st["written"], 50)
        self.assertGreater(st["filtered"], 0)
        self.assertEqual(st["seen"],
                         st["filtered"] + st["queued"] + st["dropped"])
        self.assertEqual(len(tcpdump(out1)), 50)       # libpcap reads 50
        self.assertEqual(len(tcpdump(out1, even)), 50)  # all match
        got = read_pcap(out1)
        self.assertEqual(len(got), 50)
        for fr in got:
            self.assertEqual(seq(fr) % 2, 0)
            self.assertEqual(fr, frames[seq(fr)][:100])

        # A size limit: the file never grows past it.
        out2 = self.path("size.pcap")
        self.ctl(prefix, "capture", "start", "a", out2, "--size", "5000")
        self.assertTrue(wait_for(lambda: self.status(prefix)["state"] ==
                                 "stopped", 20))
        st = self.status(prefix)
        self.assertEqual(st["stopped_by"], "size limit")
        self.assertLessEqual(os.path.getsize(out2), 5000)
        self.assertGreater(os.path.getsize(out2), 5000 - 16 - 1514)
        self.assertEqual(len(tcpdump(out2)), st["written"])
        for fr in read_pcap(out2):
            self.assertEqual(fr, frames[seq(fr)])

        # No limit, both directions, at full speed: the writer cannot
        # keep up, the ring is bounded, what does not fit is counted as
        # dropped, and forwarding goes on meanwhile.
        out3 = self.path("all.pcap")
        rx0 = telemetry_query(prefix, "/vmlink/port_stats,a")[
            "/vmlink/port_stats"]["rx_packets"]
        self.ctl(prefix, "capture", "start", "a", out3)
        time.sleep(1.5)
        text = self.ctl(prefix, "capture", "stop").stdout
        st = self.status(prefix)
        rx1 = telemetry_query(prefix, "/vmlink/port_stats,a")[
            "/vmlink/port_stats"]["rx_packets"]
        self.assertIn("stopped (request)", text)
        self.assertEqual(st["seen"], st["queued"] + st["dropped"])
        self.assertEqual(st["written"], st["queued"])
        self.assertGreater(st["dropped"], 0, st)
        self.assertGreater(rx1 - rx0, st["seen"] // 2 - 1)
        self.assertEqual(len(tcpdump(out3)), st["written"])
        # rx and tx both: each frame appears once received, once sent
        self.assertGreater(len(tcpdump(out3)), 0)

        # One capture at a time; errors are explained.
        self.ctl(prefix, "capture", "start", "a", self.path("x.pcap"))
        r = self.ctl(prefix, "capture", "start", "b", self.path("y.pcap"),
                     check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("a capture of port a is running", r.stderr)
        self.ctl(prefix, "capture", "stop")
        for args, msg in (
                (["capture", "start", "nosuch", "/tmp/z.pcap"],
                 "no port named 'nosuch'"),
                (["capture", "start", "a", "/tmp/z.pcap", "--filter",
                  "bogus filter ("], "filter 'bogus filter (':"),
                (["capture", "start", "a", "/nonexistent/dir/z.pcap"],
                 "cannot write /nonexistent/dir/z.pcap"),
                (["capture", "stop"], "no capture is running")):
            r = self.ctl(prefix, *args, check=False)
            self.assertEqual(r.returncode, 1, args)
            self.assertIn(msg, r.stderr, args)
        out = self.finish(p)
        self.assertIn("capture of port a stopped (count limit): 50 frames "
                      "written to %s" % out1, out)


class Dumpcap(CaptureCase):

    def test_dumpcap_attaches_to_vhost_and_ivshmem2_ports(self):
        """dpdk-dumpcap (a secondary process) sees vmlink's vhost-user
        and ivshmem2 ports and captures what vmlink sends them, through
        vmlink's pdump. Neither port has a peer: the frames are captured
        at the tx burst, then refused and counted."""
        srv = Server()
        self.addCleanup(srv.close)
        prefix = self.prefix("dc")
        p = self.start(
            "[port gen1]\ntype = ethdev\ndevice = net_null0,size=64\n"
            "peer = vh\n"
            "[port vh]\ntype = vhost-user\npath = %s\n"
            "[port gen2]\ntype = ethdev\ndevice = net_null1,size=128\n"
            "peer = shm\n"
            "[port shm]\ntype = ivshmem2\npath = %s\n" % (
                self.path("vh.sock"), srv.sock), prefix)

        listed = self.ctl(prefix, "dumpcap", "-D").stdout
        self.assertIn("net_vmlink_vhost_vh", listed)
        self.assertIn("net_vmlink_ivshmem2_shm", listed)
        for dev, size in (("net_vmlink_vhost_vh", 64),
                          ("net_vmlink_ivshmem2_shm", 128)):
            out = self.path(dev + ".pcapng")
            r = self.ctl(prefix, "dumpcap", "-i", dev, "-c", "100", "-q",
                         "-w", out)
            got = tcpdump(out)
            # dumpcap stops once it has at least 100, a burst at a time
            self.assertGreaterEqual(len(got), 100, r.stderr)
            self.assertLess(len(got), 100 + 64)
            self.assertEqual({len(fr) for fr in got}, {size})
            # the counters dumpcap reads back are the ones vmlink keeps
            self.assertRegex(r.stderr, r"Packets received/dropped on "
                             r"interface '%s': \d{3,}/\d+" % dev)
        self.finish(p)

    def test_dumpcap_leaves_while_a_worker_is_in_its_callback(self):
        """dpdk-dumpcap frees its ring and mempool as soon as vmlink
        answers its disable request; a worker preempted inside the
        capture callback still holds copies from that pool. vmlink must
        answer only once every worker has left the callback. The test
        hook makes each worker stall 300 ms there, between taking copies
        and handing them to the ring: answered first, the worker frees
        the copies into freed (zeroed) memory and vmlink dies of SIGSEGV."""
        prefix = self.prefix("dcs")
        p = self.start(
            "[port gen]\ntype = ethdev\ndevice = net_null0,size=1514\n"
            "peer = sink\n"
            "[port sink]\ntype = ethdev\ndevice = net_null1\n"
            "rx-queues = 0\n", prefix,
            env={"VMLINK_TEST_PDUMP_STALL_US": "300000"})
        for dev in ("net_null0", "net_null1", "net_null0"):
            out = self.path("stall.pcapng")
            r = self.ctl(prefix, "dumpcap", "-i", dev, "-c", "10", "-q",
                         "-w", out)
            self.assertGreaterEqual(len(tcpdump(out)), 10, r.stderr)
            time.sleep(0.5)     # a worker stalled in the callback resumes
            self.assertIsNone(p.poll(), "vmlink died as dumpcap left")
        self.finish(p)


if __name__ == "__main__":
    unittest.main(verbosity=2)
