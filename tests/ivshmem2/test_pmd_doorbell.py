# SPDX-License-Identifier: BSD-3-Clause
"""Doorbell mode really sleeps: vmlink with an ivshmem2 port in
rx-mode = interrupt (its only rx queue: the other port transmits only)
uses next to no CPU while the link is up and idle, its worker's sleeps
and the PMD's interrupt arms grow, and it wakes on the doorbells of a
stock testpmd sender (txonly, its PMD in poll mode: it rings only because
vmlink's event index asks for it), every frame counted."""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "pylib"))
import ivshm_pmd as ip  # noqa: E402
from proc import cpu_seconds, wait_for  # noqa: E402

IDLE_S = 2.0
BURSTS = 3


class Doorbell(ip.PmdTestCase):
    def idle_window(self, v, port, seconds):
        """CPU seconds vmlink used over SECONDS, and the PMD's xstats
        delta."""
        x0 = v.xstats(port)
        c0, t0 = cpu_seconds(v.pid), time.time()
        time.sleep(seconds)
        c1, t1 = cpu_seconds(v.pid), time.time()
        x1 = v.xstats(port)
        return (c1 - c0) / (t1 - t0), {k: x1[k] - x0[k] for k in x0}

    def test_sleeps_when_idle_and_wakes_on_traffic(self):
        srv = self.server("-o", "0x7f000")
        v = self.start_vmlink("sleepy", [
            ("link", {"type": "ivshmem2", "path": srv.sock,
                      "rx-mode": "interrupt", "peer": "sink"}),
            ("sink", {"type": "ethdev", "device": "net_null0",
                      "rx-queues": 0})])
        t = self.start_testpmd("tx", 0, "server=%s,mode=poll" % srv.sock,
                               ["--forward-mode=txonly", "--txpkts=256"])
        self.assertTrue(t.wait_link(0, 20))
        self.assertTrue(v.wait_link("link"), v.tail())
        port = v.ports()["link"]
        self.assertIn("lcore 1 polls link:0", v.text())

        # idle, link up: the worker sleeps on the rx interrupt
        time.sleep(0.3)
        cpu, dx = self.idle_window(v, port, IDLE_S)
        print("idle: %.1f%% CPU, %d arms, %d wake-ups in %.1f s" % (
            cpu * 100, dx["rx_intr_arms"], dx["rx_wakeups"], IDLE_S))
        self.assertLess(cpu, 0.05, "idle vmlink used %.0f%% CPU" % (
            cpu * 100))
        # it armed (and timed out of) its wait many times, got nothing
        self.assertGreaterEqual(dx["rx_intr_arms"], 5, dx)
        self.assertEqual(dx["rx_frames"], 0)
        self.assertEqual(dx["link_down"], 0)

        # bursts of traffic wake it; all of them arrive
        tx0 = t.xstats(0)
        for i in range(BURSTS):
            before = v.port_stats("link")
            t.start()
            time.sleep(0.3)
            sent = t.stop()[0]["tx"]
            self.assertTrue(wait_for(
                lambda: v.port_stats("link")["rx_packets"] -
                before["rx_packets"] >= sent, 5), v.port_stats("link"))
            time.sleep(0.2)
            after = v.port_stats("link")
            self.assertGreater(sent, 1000)
            self.assertEqual(after["rx_packets"] - before["rx_packets"], sent)
            self.assertEqual(after["rx_bytes"] - before["rx_bytes"],
                             sent * 256)
            time.sleep(0.3)     # idle again: back to sleep
        dtx = t.delta_xstats(tx0)
        print("traffic: sender rang %d times, suppressed %d" % (
            dtx["tx_kicks"], dtx["tx_kicks_suppressed"]))
        # the sender rang only when the sleeping receiver asked: at least
        # once per burst, far less often than it published frames
        self.assertGreaterEqual(dtx["tx_kicks"], BURSTS)
        self.assertGreater(dtx["tx_kicks_suppressed"], dtx["tx_kicks"])
        self.assertEqual(dtx["tx_dropped_peer_gone"], 0)

        # and asleep again
        cpu2, dx2 = self.idle_window(v, port, 1.0)
        self.assertLess(cpu2, 0.05, "idle vmlink used %.0f%% CPU after "
                        "traffic" % (cpu2 * 100))
        self.assertGreaterEqual(dx2["rx_intr_arms"], 3)

        # the summary: sleeps and wake-ups by rx interrupts, and every
        # frame received went out to the sink
        t.quit()
        self.assertEqual(v.stop(), 0, v.tail())
        js = v.summary()
        w = js["lcores"]["1"]
        print("worker: %s" % w)
        self.assertEqual(w["rx_queues"], 1)
        self.assertGreaterEqual(w["wakeups"], BURSTS)
        self.assertGreater(w["sleeps"], 15)    # 100 ms waits over 3 s idle
        link, sink = js["ports"]["link"], js["ports"]["sink"]
        self.assertEqual(link["rx_packets"], sink["tx_packets"] +
                         link["drops"]["tx_full"] + sink["drops"]["tx_full"])
        self.assertEqual(js["totals"]["rx_packets"], js["totals"][
            "tx_packets"] + js["totals"]["drops"])
        self.assertRegex(v.text(), r"lcore 1 slept \d+ times, woken by rx "
                         r"interrupts \d+ times")


if __name__ == "__main__":
    unittest.main(verbosity=2)
