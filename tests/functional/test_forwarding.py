#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""vmlink forwards real frames between net_pcap ports: every frame arrives
once, unchanged and in order, and the counters add up exactly."""

import unittest

from vmlink_testlib import (VmlinkTestCase, eal_section, make_frames,
                            read_pcap, write_pcap)


class Forwarding(VmlinkTestCase):

    def pcap_port(self, name, rx, tx, extra=""):
        return ("[port %s]\ntype = ethdev\n"
                "device = net_pcap_%s,rx_pcap=%s,tx_pcap=%s\n%s" % (
                    name, name, self.path(rx), self.path(tx), extra))

    def test_cross_connect_both_ways(self):
        # Sizes from minimum to jumbo: 9000-byte frames become mbuf chains
        # (2176-byte mbufs) and must cross vmlink intact.
        a_in = make_frames(1000, [60, 64, 128, 511, 1514, 9000, 1000], seed=1)
        b_in = make_frames(700, [60, 1514, 300], seed=2)
        write_pcap(self.path("a_in.pcap"), a_in)
        write_pcap(self.path("b_in.pcap"), b_in)
        cfg = self.write_config(
            eal_section(self.prefix("xc")) +
            "[vmlink]\nstats-interval = 0\n" +
            self.pcap_port("a", "a_in.pcap", "a_out.pcap", "peer = b\n") +
            self.pcap_port("b", "b_in.pcap", "b_out.pcap", "peer = a\n"))
        r = self.run_vmlink(["-c", cfg, "--duration", "3"])
        self.assertEqual(r.rc, 0, r.err)
        self.assertEqual(read_pcap(self.path("b_out.pcap")), a_in)
        self.assertEqual(read_pcap(self.path("a_out.pcap")), b_in)
        a, b = r.port("a"), r.port("b")
        self.assertEqual(a["rx_packets"], 1000)
        self.assertEqual(b["tx_packets"], 1000)
        self.assertEqual(b["rx_packets"], 700)
        self.assertEqual(a["tx_packets"], 700)
        self.assertEqual(a["rx_bytes"], sum(len(f) for f in a_in))
        self.assertEqual(b["tx_bytes"], sum(len(f) for f in a_in))
        self.assertEqual(a["tx_bytes"], sum(len(f) for f in b_in))
        for p in (a, b):
            self.assertEqual(p["drops"],
                             {"tx_full": 0, "no_route": 0, "offload": 0,
                              "suspended": 0})
        self.assertConserved(r.stats)
        self.assertIn("total: received 1700 = transmitted 1700 + dropped 0",
                      r.out)

    def test_no_peer_counts_drops(self):
        frames = make_frames(300, [64, 1500], seed=3)
        write_pcap(self.path("in.pcap"), frames)
        write_pcap(self.path("none.pcap"), [])
        cfg = self.write_config(
            eal_section(self.prefix("nr")) +
            "[vmlink]\nstats-interval = 0\n" +
            self.pcap_port("a", "in.pcap", "a_out.pcap") +
            self.pcap_port("b", "none.pcap", "b_out.pcap"))
        r = self.run_vmlink(["-c", cfg, "--duration", "2"])
        self.assertEqual(r.rc, 0, r.err)
        a = r.port("a")
        self.assertEqual(a["rx_packets"], 300)
        self.assertEqual(a["drops"]["no_route"], 300)
        self.assertEqual(r.port("b")["tx_packets"], 0)
        self.assertEqual(read_pcap(self.path("b_out.pcap")), [])
        self.assertConserved(r.stats)

    def test_transmit_only_port(self):
        # rx-queues = 0: port b only sends; nothing polls it.
        frames = make_frames(200, [64, 1000], seed=6)
        write_pcap(self.path("in.pcap"), frames)
        cfg = self.write_config(
            eal_section(self.prefix("txo")) +
            "[vmlink]\nstats-interval = 0\n"
            "[port a]\ntype = ethdev\npeer = b\n"
            "device = net_pcap_a,rx_pcap=%s\n"
            "[port b]\ntype = ethdev\nrx-queues = 0\n"
            "device = net_pcap_b,tx_pcap=%s\n" % (
                self.path("in.pcap"), self.path("out.pcap")))
        r = self.run_vmlink(["-c", cfg, "--duration", "2"])
        self.assertEqual(r.rc, 0, r.err)
        self.assertIn("lcore 1 polls a:0\n", r.out)
        self.assertEqual(read_pcap(self.path("out.pcap")), frames)
        self.assertEqual(r.port("b")["tx_packets"], 200)
        self.assertConserved(r.stats)

    def test_two_workers_multiqueue(self):
        # Two rx queues on port a, each polled by its own worker lcore
        # (EAL arguments from the command line: lcores 1 and 2 share CPU 1).
        # Port b then needs one tx queue per sending worker.
        q0 = make_frames(400, [64, 700], seed=4)
        q1 = make_frames(300, [1514, 128], seed=5)
        write_pcap(self.path("q0.pcap"), q0)
        write_pcap(self.path("q1.pcap"), q1)
        write_pcap(self.path("none.pcap"), [])
        cfg = self.write_config(
            "[vmlink]\nstats-interval = 0\n"
            "[port a]\ntype = ethdev\nrx-queues = 2\npeer = b\n"
            "device = net_pcap_a,rx_pcap=%s,rx_pcap=%s\n"
            "[port b]\ntype = ethdev\n"
            "device = net_pcap_b,rx_pcap=%s,tx_pcap=%s,tx_pcap=%s\n"
            "[lcore 1]\nrx = a:0 b\n"
            "[lcore 2]\nrx = a:1\n" % (
                self.path("q0.pcap"), self.path("q1.pcap"),
                self.path("none.pcap"), self.path("o0.pcap"),
                self.path("o1.pcap")))
        r = self.run_vmlink(["--lcores", "0@0,1@1,2@1", "--file-prefix",
                             self.prefix("mq"), "-m", "256", "--no-pci",
                             "--", "-c", cfg, "--duration", "3"])
        self.assertEqual(r.rc, 0, r.err)
        self.assertIn("lcore 1 polls a:0 b:0; lcore 2 polls a:1", r.out)
        outs = [read_pcap(self.path("o0.pcap")),
                read_pcap(self.path("o1.pcap"))]
        # Each worker owns one tx queue of b: each input queue's frames come
        # out, in order, on one output queue.
        self.assertCountEqual(outs, [q0, q1])
        self.assertEqual(r.port("a")["rx_packets"], 700)
        self.assertEqual(r.port("b")["tx_packets"], 700)
        self.assertConserved(r.stats)


if __name__ == "__main__":
    unittest.main(verbosity=2)
