# SPDX-License-Identifier: BSD-3-Clause
"""Two peers in two processes exchange frames through the ivshmem2 PMD
(net_vmlink_ivshmem2) and a real ivshmem2-server, counted exactly.

Poll mode: two stock dpdk-testpmd processes loading the PMD with -d. Each
direction in turn (txonly -> rxonly) with random sizes from 64 up to the
largest frame the section allows (asked from the PMD: max_rx_pktlen in
'show port info'; multi-segment mbufs on the sender, mbuf chains on the
receiver), then exactly that largest size, then one byte more (dropped and
counted by the sender's PMD), then both ways at once (flowgen on both).

Doorbell mode: testpmd (mode=doorbell) against vmlink whose ivshmem2 port
is in rx-mode = interrupt and sends every frame back out of the same port:
the worker sleeps between the bursts, the sender's PMD rings it, sizes 64,
1518, 9000 and the largest.

Exact means: what testpmd's forward statistics say the sender sent (its
TX-packets: the PMD's opackets over the run) equals what the receiver
received (RX-packets) plus the drops the PMDs counted (stop the sender
first, let the receiver drain, then stop it; testpmd runs with
--no-flush-rx so that restarting forwarding does not discard frames)."""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "pylib"))
import ivshm_pmd as ip  # noqa: E402

# 64 KiB output sections: ring of 256, data from 0x1a80; the largest
# frame is ALIGN_DOWN(0x10000 - 0x1a80, 64) - 18 (DESIGN.md layout).
SEC_64K_MAX = ((0x10000 - 0x1a80) & ~63) - 18          # 58734
# 68 KiB: same ring, 4 KiB more data
SEC_68K_MAX = ((0x11000 - 0x1a80) & ~63) - 18          # 62830

MBUF = 8192          # data room of the testpmd mbufs (multi-segment frames)


def segments(total):
    """testpmd --txpkts segments whose prefix sums are 64, 65, 128, 500,
    1000, 1518, 3048, ..., TOTAL: with 'set txsplit rand' each frame takes
    a random number of them, so sizes spread from 64 to TOTAL."""
    segs = [64, 1, 63, 372, 500, 518, 1530]
    left = total - sum(segs)
    assert left > 0
    while left > MBUF:
        segs.append(MBUF)
        left -= MBUF
    segs.append(left)
    assert sum(segs) == total and all(s <= MBUF for s in segs)
    return ",".join(str(s) for s in segs)


NO_DROPS = ("rx_nombuf", "rx_runts", "rx_oversize", "tx_dropped_peer_gone",
            "link_down", "link_resets") + tuple(
    "violation_" + v for v in ("avail_idx", "desc_id", "desc_flags",
                               "desc_addr", "desc_len", "used_idx", "used_id",
                               "used_len", "peer_state"))


class Poll(ip.PmdTestCase):
    def one_way(self, tx, rx, seconds=0.8):
        """Run tx -> rx; returns (TX-packets, RX-packets, tx xstats delta,
        rx xstats delta)."""
        x_tx, x_rx = tx.xstats(0), rx.xstats(0)
        rx.start()
        tx.start()
        time.sleep(seconds)
        s_tx = tx.stop()[0]
        time.sleep(0.3)          # the receiver drains the ring
        s_rx = rx.stop()[0]
        d_tx, d_rx = tx.delta_xstats(x_tx), rx.delta_xstats(x_rx)
        for k in NO_DROPS:
            self.assertEqual(d_tx[k], 0, k)
            self.assertEqual(d_rx[k], 0, k)
        self.assertEqual(s_tx["rx"], 0)
        self.assertEqual(s_rx["tx"], 0)
        return s_tx["tx"], s_rx["rx"], d_tx, d_rx

    def roles(self, tx, rx, txpkts, split):
        tx.cmd_("set fwd txonly")
        tx.cmd_("set txpkts " + txpkts)
        tx.cmd_("set txsplit " + split)
        rx.cmd_("set fwd rxonly")

    def test_testpmd_pair(self):
        srv = self.server("-o", "64K")
        args = ["--forward-mode=rxonly", "--mbuf-size=%d" % (MBUF + 128),
                "--enable-scatter", "--no-flush-rx"]
        a = self.start_testpmd("a", 0, "server=%s,mode=poll" % srv.sock,
                               args, mbufs=8192)
        # b receives zero-copy: mbufs pointing into a's section
        b = self.start_testpmd("b", 1, "server=%s,zero-copy=1,"
                               "copy-threshold=0,inflight=64" % srv.sock,
                               args, mbufs=8192)
        self.assertTrue(a.wait_link(0, 20) and b.wait_link(0, 20))
        # xstats names are unique (ethdev's own plus the PMD's)
        names = ip.XSTAT_NAME_RE.findall(a.cmd_("show port xstats 0"))
        self.assertGreater(len(names), 30)
        self.assertEqual(len(names), len(set(names)), names)
        # the largest frame, as the PMD reports it, bound by the section
        big = a.max_rx_pktlen()
        self.assertEqual(big, SEC_64K_MAX)
        self.assertEqual(b.max_rx_pktlen(), big)
        for t in (a, b):
            # an MTU one byte beyond is refused, the largest accepted
            out = t.cmd_("port config mtu 0 %d" % (big - 18 + 1))
            self.assertIn("> device max MTU (%d)" % (big - 18), out)
            t.cmd_("port stop all")
            t.cmd_("port config all max-pkt-len %d" % big)
            t.cmd_("port start all")
            self.assertIn("MTU: %d" % (big - 18), t.port_info())
        self.assertTrue(a.wait_link(0, 20) and b.wait_link(0, 20))

        for tx, rx in ((a, b), (b, a)):
            with self.subTest(direction=(tx is a and "a->b" or "b->a")):
                self.roles(tx, rx, segments(big), "rand")
                sent, got, d_tx, d_rx = self.one_way(tx, rx)
                self.assertGreater(sent, 500)
                self.assertEqual(sent, got)
                self.assertEqual(d_tx["tx_frames"], sent)
                self.assertEqual(d_rx["rx_frames"], got)
                self.assertEqual(d_tx["tx_bytes"], d_rx["rx_bytes"])
                # sizes spread over 64..big, not all one size
                avg = d_rx["rx_bytes"] / got
                self.assertGreater(avg, 3048)
                self.assertLess(avg, big - 1000)
                self.assertEqual(d_rx["rx_zc_frames"],
                                 got if rx is b else 0)

        # exactly the largest frame, a -> b
        self.roles(a, b, segments(big), "off")
        sent, got, d_tx, d_rx = self.one_way(a, b, 0.5)
        self.assertGreater(sent, 100)
        self.assertEqual(sent, got)
        self.assertEqual(d_rx["rx_frames"], got)
        self.assertEqual(d_rx["rx_bytes"], got * big)
        self.assertEqual(d_rx["rx_zc_frames"], got)
        # one byte more, b -> a: the sender's PMD drops them all and
        # counts them (tx_oversize, in oerrors: testpmd's TX-dropped)
        self.roles(b, a, segments(big + 1), "off")
        x_tx, x_rx = b.xstats(0), a.xstats(0)
        a.start()
        b.start()
        time.sleep(0.3)
        s_tx = b.stop()[0]
        s_rx = a.stop()[0]
        d_tx, d_rx = b.delta_xstats(x_tx), a.delta_xstats(x_rx)
        self.assertGreater(d_tx["tx_oversize"], 100)
        self.assertEqual(s_tx["tx"], 0)
        self.assertGreaterEqual(s_tx["tx_dropped"], d_tx["tx_oversize"])
        self.assertEqual(d_tx["tx_frames"], 0)
        self.assertEqual(s_rx["rx"], 0)
        self.assertEqual(d_rx["rx_frames"], 0)

        # both ways at once: flowgen sends and receives on both sides
        for t in (a, b):
            t.cmd_("set txpkts 1518")
            t.cmd_("set fwd flowgen")
        a.start()
        b.start()
        time.sleep(0.8)
        s_a1 = a.stop()[0]          # a stops sending (and receiving) ...
        a.cmd_("set fwd rxonly")
        a.start()                   # ... and receives again, without flush
        time.sleep(0.2)
        s_b = b.stop()[0]           # b received everything a sent
        time.sleep(0.3)
        s_a2 = a.stop()[0]          # a drained what b sent
        self.assertGreater(s_a1["tx"], 500)
        self.assertGreater(s_b["tx"], 500)
        self.assertGreater(s_a1["rx"], 0)
        self.assertEqual(s_a1["tx"], s_b["rx"])
        self.assertEqual(s_b["tx"], s_a1["rx"] + s_a2["rx"])
        # the PMDs agree with testpmd, and lost nothing
        xa, xb = a.xstats(0), b.xstats(0)
        self.assertEqual(xa["tx_dropped_peer_gone"], 0)
        self.assertEqual(xb["tx_dropped_peer_gone"], 0)
        self.assertEqual(xa["tx_kicks"], 0)   # poll mode: nobody asked
        self.assertEqual(xb["tx_kicks"], 0)
        # link changes while started were signalled (LSC) to testpmd
        self.assertGreaterEqual(a.lsc_events(), 1)
        self.assertGreaterEqual(b.lsc_events(), 1)

    def test_receiver_short_of_mbufs(self):
        """A receiver whose pool cannot hold a burst of chained frames
        (57344-byte frames in 512-byte mbufs, 1100 of them): frames wait
        in the ring until mbufs are back (rx_nombuf counts the attempts),
        none is lost: TX-packets == RX-packets."""
        srv = self.server("-o", "2M")
        a = self.start_testpmd(
            "a", 0, "server=" + srv.sock,
            ["--forward-mode=txonly", "--mbuf-size=%d" % (MBUF + 128),
             "--txpkts=" + ",".join([str(MBUF)] * 7)], mbufs=4096)
        b = self.start_testpmd(
            "b", 1, "server=" + srv.sock,
            ["--forward-mode=rxonly", "--no-flush-rx", "--mbuf-size=640",
             "--enable-scatter", "--max-pkt-len=%d" % (7 * MBUF)],
            mbufs=1100)
        self.assertTrue(a.wait_link(0, 20) and b.wait_link(0, 20))
        x_tx, x_rx = a.xstats(0), b.xstats(0)
        b.start()
        a.start()
        time.sleep(1.0)
        s_tx = a.stop()[0]
        time.sleep(0.3)
        s_rx = b.stop()[0]
        d_tx, d_rx = a.delta_xstats(x_tx), b.delta_xstats(x_rx)
        sent, got = s_tx["tx"], s_rx["rx"]
        print("sent %d, received %d, rx_nombuf %d" % (sent, got,
                                                     d_rx["rx_nombuf"]))
        self.assertGreater(d_rx["rx_nombuf"], 0)    # the pool ran dry
        self.assertGreater(sent, 1000)
        self.assertEqual(sent, got)
        self.assertEqual(s_rx["rx_dropped"], 0)
        self.assertEqual(d_rx["rx_bytes"], got * 7 * MBUF)
        self.assertEqual(d_tx["tx_bytes"], d_rx["rx_bytes"])


class Doorbell(ip.PmdTestCase):
    def test_testpmd_vmlink_echo(self):
        srv = self.server("-o", "68K")
        v = self.start_vmlink("echo", [
            ("link", {"type": "ivshmem2", "path": srv.sock,
                      "rx-mode": "interrupt", "peer": "link",
                      "mbufs": 8192})])
        # flowgen builds single-segment frames of txpkts - 4 bytes
        t = self.start_testpmd(
            "tp", 0, "server=%s,mode=doorbell" % srv.sock,
            ["--forward-mode=flowgen", "--mbuf-size=%d" % (SEC_68K_MAX + 132),
             "--no-flush-rx"], mbufs=1536)
        self.assertTrue(t.wait_link(0, 20), v.tail())
        self.assertTrue(v.wait_link("link"), v.tail())
        big = t.max_rx_pktlen()
        self.assertEqual(big, SEC_68K_MAX)
        port = v.ports()["link"]
        vx0 = v.xstats(port)
        tx0 = t.xstats(0)
        for size in (64, 1518, 9000, big):
            with self.subTest(size=size):
                s0 = v.port_stats("link")
                t.cmd_("set txpkts %d" % (size + 4))
                t.cmd_("set fwd flowgen")
                t.start()
                time.sleep(0.5)
                s1 = t.stop()[0]
                time.sleep(0.2)
                t.cmd_("set fwd rxonly")   # take in what vmlink sent back
                t.start()
                time.sleep(0.3)
                s2 = t.stop()[0]
                s = v.port_stats("link")
                d = {k: s[k] - s0[k] for k in s0 if isinstance(s0[k], int)}
                d["drops"] = {k: s["drops"][k] - s0["drops"][k]
                              for k in s0["drops"]}
                self.assertGreater(s1["tx"], 50)
                self.assertEqual(d["rx_packets"], s1["tx"])
                self.assertEqual(d["rx_bytes"], s1["tx"] * size)
                self.assertEqual(d["rx_packets"], d["tx_packets"] +
                                 d["drops"]["tx_full"] +
                                 d["drops"]["no_route"])
                self.assertEqual(d["tx_packets"], s1["rx"] + s2["rx"])
                self.assertEqual(d["tx_bytes"], (s1["rx"] + s2["rx"]) * size)
                self.assertGreater(s1["rx"], 0)
                time.sleep(0.3)             # idle: the worker goes to sleep
        vx = {k: x - vx0[k] for k, x in v.xstats(port).items()}
        tx = t.delta_xstats(tx0)
        # the sleeping worker armed its interrupt and was woken; the
        # testpmd side rang only because it was asked (at least once per
        # burst that found vmlink asleep)
        self.assertGreater(vx["rx_intr_arms"], 4)
        self.assertGreater(vx["rx_wakeups"], 4)
        self.assertGreaterEqual(tx["tx_kicks"], 4)
        self.assertGreater(tx["tx_kicks_suppressed"], 0)
        for k in NO_DROPS:
            self.assertEqual(vx[k], 0, k)
            self.assertEqual(tx[k], 0, k)
        self.assertEqual(v.stop(), 0, v.tail())
        lc = v.summary()["lcores"]
        self.assertEqual(len(lc), 1)
        w = list(lc.values())[0]
        self.assertGreaterEqual(w["wakeups"], 4)
        self.assertGreater(w["sleeps"], w["wakeups"] // 2)
        self.assertIn("lcore 1 slept", v.text())


if __name__ == "__main__":
    unittest.main(verbosity=2)
