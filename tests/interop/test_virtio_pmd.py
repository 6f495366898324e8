#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Stock dpdk-testpmd loading vmlink's vhost-user PMD with -d
(librte_net_vmlink_vhost.so): two net_vmlink_vhost ports, io forwarding
0 <-> 1, between two stock testpmd "VMs" with net_virtio_user. Frames of
64, 1518 and 9000 bytes (9000 as a 5-segment mbuf chain) both ways, each
counted exactly at both guests and at the switch:

    A's TX-packets   == switch port 0 RX (ipackets)
    switch port 0 RX == port 1 TX (opackets) + io forwarding's drops
    B's RX-packets   == switch port 1 TX - port 1 oerrors

for mrg_rxbuf on/off x in_order on/off, and 2 queue pairs (both queue
pairs carry traffic through the switch), on split rings and again on
packed rings (packed_vq=1; each guest's virtio PMD must say it drives a
packed ring). The PMD runs with its default
zero-copy=0 here (vmlink's own tests cover zero-copy). Also: the PMD's
xstats (show port xstats) after traffic, and frames a guest without
mergeable buffers has no room for are counted as oerrors, not lost."""

import re
import unittest

from interop_util import (VIRTIO_INIT_LOG, InteropCase, RingVariants,
                          TestpmdSwitch, assert_queue_xstats_sane,
                          assert_ring_layout, exchange, guest_args, phase,
                          virtio_user_vdev)
from proc import wait_for


class VirtioUserThroughPmd(RingVariants, InteropCase):

    def setup_switch(self, mrg_rxbuf, in_order, queues=1, devargs="",
                     rx_jumbo=True, packed=0):
        a, b = self.path("a.sock"), self.path("b.sock")
        sw = self.switch_testpmd(
            "switch",
            ["net_vmlink_vhost0,path=%s,queues=%d%s" % (a, queues, devargs),
             "net_vmlink_vhost1,path=%s,queues=%d%s" % (b, queues, devargs)],
            ["--forward-mode=io", "--port-topology=paired", "--nb-cores=1",
             "--rxq=%d" % queues, "--txq=%d" % queues,
             "--total-num-mbufs=8192", "--disable-link-check",
             "--max-pkt-len=9018", "--enable-scatter"])
        out = sw.cmd_("show port info 0")
        self.assertIn("Driver name: net_vmlink_vhost", out)
        sw.start()
        ga = self.guest("A", virtio_user_vdev(a, mrg_rxbuf, in_order, queues,
                                              packed=packed),
                        guest_args(mrg_rxbuf, queues),
                        log_levels=[VIRTIO_INIT_LOG])
        gb = self.guest("B", virtio_user_vdev(b, mrg_rxbuf, in_order, queues,
                                              packed=packed),
                        guest_args(mrg_rxbuf, queues, jumbo=rx_jumbo),
                        log_levels=[VIRTIO_INIT_LOG])
        for g in (ga, gb):
            self.assertTrue(g.wait_link(0, 30), g.describe())
            assert_ring_layout(self, g, packed)
        self.assertTrue(wait_for(lambda: sw.link_up(0) and sw.link_up(1),
                                 10), sw.describe())
        return sw, ga, gb

    def run_case(self, mrg_rxbuf, in_order, queues=1, packed=0):
        sw, ga, gb = self.setup_switch(mrg_rxbuf, in_order, queues,
                                       packed=packed)
        exchange(self, TestpmdSwitch(sw), ga, gb, ports=(0, 1))
        for port in (0, 1):
            xs = sw.xstats(port)
            pres = ["%s_q%d_" % (d, q) for d in ("rx", "tx")
                    for q in range(queues)]
            assert_queue_xstats_sane(self, xs, pres, "switch port %d" % port)
            for pre in pres:
                self.assertGreater(xs[pre + "packets"], 0,
                                   "port %d: %spackets = 0: queue pair "
                                   "unused" % (port, pre))
        if queues > 1:
            # B received on both of its queues (io forwarding keeps the
            # queue: A's queue q -> switch rx q -> tx q -> B's queue q)
            xb = gb.queue_xstats(0)
            for q in range(queues):
                self.assertGreater(xb.get("rx_q%d_good_packets" % q, 0), 0,
                                   xb)
        for t in (ga, gb):
            self.assertEqual(t.quit(), 0, t.describe())
        sw.stop()
        self.assertEqual(sw.quit(), 0, sw.describe())

    def test_xstats_after_traffic(self):
        """show port xstats lists every library counter per queue, named
        rx_q0_* / tx_q0_*, once each, with values that agree with the
        basic stats and with what the guests counted."""
        sw, ga, gb = self.setup_switch(1, 1)
        r = phase(self, ga, gb, TestpmdSwitch(sw).counters(0, 1), 1518)
        out = sw.cmd_("show port xstats 0")
        names = re.findall(r"^\s*(\S+):\s+\d+\s*$", out, re.M)
        xs = {k: int(v) for k, v in
              re.findall(r"^\s*(\S+):\s+(\d+)\s*$", out, re.M)}
        for key in ("rx_q0_packets", "rx_q0_bytes", "rx_q0_zc_packets",
                    "rx_q0_copied_packets", "rx_q0_mbuf_alloc_failed",
                    "rx_q0_faults", "tx_q0_packets", "tx_q0_drops",
                    "tx_q0_ring_full", "tx_q0_notify_sent"):
            self.assertIn(key, xs, out)
        self.assertTrue(any(k.startswith("rx_q0_malformed_") for k in xs),
                        out)
        st = sw.port_stats(0)
        self.assertEqual(xs["rx_q0_packets"], r["sent"], out)
        self.assertEqual(xs["rx_q0_packets"], st["ipackets"], out)
        self.assertEqual(xs["rx_q0_bytes"], r["sent"] * 1518, out)
        self.assertEqual(xs["rx_q0_copied_packets"], r["sent"], out)
        self.assertEqual(xs["rx_q0_zc_packets"], 0, out)
        assert_queue_xstats_sane(self, xs, ["rx_q0_", "tx_q0_"], out)
        # port 1 delivered to B: tx_q0_packets = B's frames + drops
        x1 = sw.xstats(1)
        self.assertEqual(x1["tx_q0_packets"] - x1["tx_q0_drops"],
                         r["received"], x1)
        self.assertEqual(x1["tx_q0_bytes"], r["received"] * 1518, x1)
        # reset: every counter back to 0
        sw.cmd_("clear port xstats 0")
        xs = sw.xstats(0)
        self.assertEqual({k: v for k, v in xs.items()
                          if k.startswith(("rx_q0_", "tx_q0_")) and v}, {})
        # names are unique (ethdev adds rx_qN_packets/bytes, tx_qN_packets/
        # bytes itself for a driver flagged AUTOFILL_QUEUE_XSTATS)
        dups = sorted(set(n for n in names if names.count(n) > 1))
        self.assertEqual(dups, [], "duplicate xstat names in show port "
                         "xstats 0 (rte_eth_xstats_get_id_by_name() cannot "
                         "tell them apart)")

    def test_undeliverable_frames_are_counted(self):
        """A guest without mergeable rx buffers and with 2 KiB buffers
        cannot take a 9000-byte frame: the PMD consumes it, counts it in
        oerrors (tx_q0_drops), and never hands it over half-written."""
        sw, ga, gb = self.setup_switch(0, 0, rx_jumbo=False)
        r = phase(self, ga, gb, TestpmdSwitch(sw).counters(0, 1), 9000,
                  expect_rx=False)
        d = r["switch"]
        self.assertGreater(d["undelivered"], 0, r)
        self.assertEqual(d["undelivered"], d["out"], r)
        x1 = sw.xstats(1)
        self.assertEqual(x1["tx_q0_drops"], d["undelivered"], x1)
        # and B still receives what fits
        phase(self, ga, gb, TestpmdSwitch(sw).counters(0, 1), 1518)


if __name__ == "__main__":
    unittest.main(verbosity=2)
