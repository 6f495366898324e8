# SPDX-License-Identifier: BSD-3-Clause
"""A peer killed (SIGKILL) and restarted mid-stream. vmlink sends without
pause into an ivshmem2 port (frames from a net_null generator); the other
peer is a stock testpmd receiving (rxonly). The receiver stops consuming,
the ring fills, the receiver is killed: vmlink's link goes down (the LSC
event: 'port link link down'), the frames it had published and nobody
consumed are counted as dropped (tx_dropped_peer_gone) so that sent =
received + dropped holds exactly, and nothing is sent while down. A new
receiver attaches: the link comes back up ('port link link up') and
traffic resumes. The new receiver then leaves cleanly (quit): same
accounting over the whole run.

The same the other way round: testpmd sends (txonly), vmlink receives
and is killed, testpmd's link goes down (LSC event, 'show port info')
and comes back when vmlink is restarted."""

import os
import re
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "pylib"))
import ivshm_pmd as ip  # noqa: E402
from proc import cpu_seconds, wait_for  # noqa: E402


def sleeping_receiver(srv):
    """vmlink's ports: an ivshmem2 link on SRV that sleeps while idle
    (rx-mode = interrupt), forwarding into a null sink."""
    return [("link", {"type": "ivshmem2", "path": srv.sock,
                      "rx-mode": "interrupt", "peer": "sink"}),
            ("sink", {"type": "ethdev", "device": "net_null0",
                      "rx-queues": 0})]


class Restart(ip.PmdTestCase):
    def receiver(self, tag, srv):
        t = self.start_testpmd(tag, 0, "server=" + srv.sock,
                               ["--forward-mode=rxonly", "--no-flush-rx"])
        self.assertTrue(t.wait_link(0, 20))
        return t

    def received(self, t, seconds):
        t.start()
        time.sleep(seconds)
        got = t.stop()[0]["rx"]
        # nothing reached the PMD outside the forwarding run
        self.assertEqual(t.port_stats(0)["ipackets"], got)
        return got

    def test_receiver_killed_and_restarted(self):
        srv = self.server("-o", "64K")
        v = self.start_vmlink("survivor", [
            ("gen", {"type": "ethdev", "device": "net_null0,size=128",
                     "peer": "link"}),
            ("link", {"type": "ivshmem2", "path": srv.sock,
                      "peer": "gen"})])
        self.assertTrue(v.wait_text(r"lcore 1 polls"), v.tail())
        port = v.ports()["link"]

        r1 = self.receiver("r1", srv)
        self.assertTrue(v.wait_link("link"))
        rx1 = self.received(r1, 0.5)
        self.assertGreater(rx1, 1000)
        # r1 no longer consumes: vmlink fills the ring and keeps trying
        self.assertTrue(wait_for(
            lambda: v.xstats(port)["tx_frames"] > rx1, 5))
        time.sleep(0.3)
        ups = len(re.findall(r"port link link up", v.text()))
        r1.kill()

        self.assertTrue(v.wait_text(r"port link link down"), v.tail())
        self.assertEqual(v.link("link"), "down")
        x = v.xstats(port)
        lost = x["tx_dropped_peer_gone"]
        self.assertGreater(lost, 0)
        self.assertLessEqual(lost, 256)         # at most a ring
        self.assertEqual(x["tx_frames"], rx1 + lost)
        self.assertEqual(x["link_down"], 1)
        # nothing goes out while the link is down: vmlink counts its drops
        d0 = v.port_stats("link")["drops"]["tx_full"]
        time.sleep(0.3)
        x2 = v.xstats(port)
        self.assertEqual(x2["tx_frames"], x["tx_frames"])
        self.assertGreater(x2["tx_link_down"], x["tx_link_down"])
        self.assertGreater(v.port_stats("link")["drops"]["tx_full"], d0)

        # a peer returns: link up again, traffic resumes
        r2 = self.receiver("r2", srv)
        self.assertTrue(v.wait_text(r"port link link up", count=ups + 1),
                        v.tail())
        rx2 = self.received(r2, 0.5)
        self.assertGreater(rx2, 1000)
        x3 = v.xstats(port)
        self.assertEqual(x3["link_up"], 2)
        self.assertEqual(x3["violation_peer_state"], 0)
        # r2 leaves cleanly, with a full ring again: same accounting
        time.sleep(0.2)
        r2.quit()
        self.assertTrue(v.wait_text(r"port link link down", count=2),
                        v.tail())
        x4 = v.xstats(port)
        self.assertGreater(x4["tx_dropped_peer_gone"], lost)
        self.assertEqual(x4["tx_frames"], rx1 + rx2 +
                         x4["tx_dropped_peer_gone"])
        self.assertEqual(x4["link_down"], 2)
        print("r1 got %d, %d dropped at the kill; r2 got %d, %d dropped "
              "when it left; %d sent" % (rx1, lost, rx2,
                                         x4["tx_dropped_peer_gone"] - lost,
                                         x4["tx_frames"]))
        for k, n in x4.items():
            if k.startswith("violation_"):
                self.assertEqual(n, 0, k)

        self.assertEqual(v.stop(), 0, v.tail())
        js = v.summary()
        gen, link = js["ports"]["gen"], js["ports"]["link"]
        self.assertEqual(link["tx_packets"], x4["tx_frames"])
        self.assertEqual(link["device"]["opackets"], x4["tx_frames"])
        self.assertEqual(gen["rx_packets"], link["tx_packets"] +
                         link["drops"]["tx_full"] + link["drops"]["no_route"])
        self.assertEqual(js["totals"]["rx_packets"],
                         js["totals"]["tx_packets"] + js["totals"]["drops"])

    def test_receiving_vmlink_killed_and_restarted(self):
        srv = self.server("-o", "64K")
        ports = sleeping_receiver(srv)
        v1 = self.start_vmlink("rx1", ports)
        t = self.start_testpmd("tx", 0, "server=" + srv.sock,
                               ["--forward-mode=txonly"])
        self.assertTrue(t.wait_link(0, 20))
        self.assertTrue(v1.wait_link("link"))
        t.start()
        time.sleep(0.3)
        n_lsc = t.lsc_events()
        v1.stop(signal.SIGKILL)
        # testpmd's link goes down (LSC) while it keeps trying to send
        self.assertTrue(wait_for(lambda: not t.link_up(0), 10))
        self.assertGreater(t.lsc_events(), n_lsc)
        x = t.xstats(0)
        self.assertEqual(x["link_down"], 1)
        time.sleep(0.2)
        self.assertEqual(t.xstats(0)["tx_frames"], x["tx_frames"])
        # what vmlink had not taken when it died is counted, at most a
        # ring (its own counters died with it)
        self.assertLessEqual(x["tx_dropped_peer_gone"], 256)
        # vmlink again: up, and frames flow into it
        v2 = self.start_vmlink("rx2", ports)
        self.assertTrue(t.wait_link(0, 20))
        self.assertTrue(v2.wait_link("link"))
        self.assertTrue(wait_for(
            lambda: v2.port_stats("link")["rx_packets"] > 1000, 10))
        s = t.stop()[0]
        self.assertGreater(s["tx"], 1000)
        # from the restart on, vmlink got every frame the PMD sent
        x2 = t.xstats(0)
        self.assertTrue(wait_for(
            lambda: v2.port_stats("link")["rx_packets"] ==
            x2["tx_frames"] - x["tx_frames"], 5),
            (v2.port_stats("link"), x2["tx_frames"] - x["tx_frames"]))
        print("testpmd: %d dropped at the kill, %d sent to the new vmlink"
              % (x["tx_dropped_peer_gone"], x2["tx_frames"] - x["tx_frames"]))
        self.assertEqual(x2["link_up"], 2)
        self.assertEqual(x2["tx_dropped_peer_gone"],
                         x["tx_dropped_peer_gone"])

    def test_sender_killed_receiver_asleep(self):
        """A sleeping vmlink receiver (rx-mode = interrupt) outlives its
        sender: link down, still asleep while down; a new sender's first
        frames ring it (the new session asks for a doorbell at once), all
        of them arrive."""
        srv = self.server("-o", "64K")
        v = self.start_vmlink("rx", sleeping_receiver(srv))
        t1 = self.start_testpmd("tx1", 0, "server=" + srv.sock,
                                ["--forward-mode=txonly"])
        self.assertTrue(t1.wait_link(0, 20))
        self.assertTrue(v.wait_link("link"))
        t1.start()
        time.sleep(0.3)
        t1.kill()
        self.assertTrue(v.wait_text(r"port link link down"), v.tail())
        time.sleep(0.3)
        c0, t0 = cpu_seconds(v.pid), time.time()
        time.sleep(1.0)
        cpu = (cpu_seconds(v.pid) - c0) / (time.time() - t0)
        self.assertLess(cpu, 0.05, "%.0f%% CPU with the link down" % (
            cpu * 100))
        t2 = self.start_testpmd("tx2", 0, "server=" + srv.sock,
                                ["--forward-mode=txonly"])
        self.assertTrue(t2.wait_link(0, 20))
        self.assertTrue(v.wait_link("link"))
        time.sleep(0.3)                 # vmlink asleep again
        before = v.port_stats("link")["rx_packets"]
        t2.start()
        time.sleep(0.3)
        sent = t2.stop()[0]["tx"]
        self.assertGreater(sent, 1000)
        self.assertTrue(wait_for(
            lambda: v.port_stats("link")["rx_packets"] - before == sent, 5),
            (v.port_stats("link"), before, sent))
        self.assertGreaterEqual(t2.xstats(0)["tx_kicks"], 1)
        self.assertEqual(v.stop(), 0, v.tail())
        self.assertGreaterEqual(v.summary()["lcores"]["1"]["wakeups"], 2)

    def test_detach_attach_cycles(self):
        """testpmd closes, detaches and re-attaches its port 5 times: the
        other peer sees it leave and return, no fd or mapping is left
        behind, and the last incarnation carries traffic."""
        srv = self.server("-o", "64K")
        a = self.start_testpmd("a", 0, "server=" + srv.sock,
                               ["--forward-mode=txonly"])
        b = self.start_testpmd("b", 1, "server=" + srv.sock,
                               ["--forward-mode=rxonly", "--no-flush-rx"])
        self.assertTrue(a.wait_link(0, 20) and b.wait_link(0, 20))
        shm = os.path.basename(srv.shm_path)

        def resources():
            fds = len(os.listdir("/proc/%d/fd" % b.p.pid))
            with open("/proc/%d/maps" % b.p.pid) as f:
                maps = sum(1 for line in f if shm in line)
            return fds, maps

        def cycle():
            for cmd, text in (
                    ("port stop 0", "Done"),
                    ("port close 0", "Port 0 is closed"),
                    ("device detach " + ip.DRIVER, "is detached"),
                    ("port attach %s,server=%s" % (ip.DRIVER, srv.sock),
                     "Port 0 is attached"),
                    ("port start 0", "Done")):
                self.assertIn(text, b.cmd_(cmd))
            self.assertTrue(a.wait_link(0, 10) and b.wait_link(0, 10))

        cycle()
        before = resources()
        self.assertGreater(before[1], 0)
        for i in range(4):
            cycle()
        self.assertEqual(resources(), before)
        xa = a.xstats(0)
        self.assertEqual(xa["link_up"], 6)
        self.assertEqual(xa["link_down"], 5)
        # the last incarnation carries traffic, exactly
        b.start()
        a.start()
        time.sleep(0.4)
        sent = a.stop()[0]["tx"]
        time.sleep(0.2)
        got = b.stop()[0]["rx"]
        self.assertGreater(sent, 1000)
        self.assertEqual(sent, got)
        # the server saw peer 1 leave and come back each time
        log = srv.read_log()
        self.assertEqual(log.count("peer 1 left"), 5)

    def test_server_killed(self):
        """The server dies (SIGKILL) under traffic: the links it set up
        carry on (the memory and eventfds are already shared), nothing
        spins on its dead socket, and a peer leaving is still seen."""
        srv = self.server("-o", "64K")
        v = self.start_vmlink("rx", sleeping_receiver(srv))
        t = self.start_testpmd("tx", 0, "server=" + srv.sock,
                               ["--forward-mode=txonly"])
        self.assertTrue(t.wait_link(0, 20))
        self.assertTrue(v.wait_link("link"))
        port = v.ports()["link"]
        t.start()
        time.sleep(0.2)
        srv.stop(signal.SIGKILL)
        a = v.port_stats("link")["rx_packets"]
        time.sleep(0.5)
        self.assertGreater(v.port_stats("link")["rx_packets"], a)
        self.assertEqual(v.link("link"), "up")
        self.assertTrue(t.link_up(0))
        sent = t.stop()[0]["tx"]
        x = t.xstats(0)
        self.assertTrue(wait_for(
            lambda: v.port_stats("link")["rx_packets"] == x["tx_frames"], 5),
            (v.port_stats("link"), x["tx_frames"], sent))
        self.assertEqual(x["link_down"], 0)
        self.assertEqual(x["tx_dropped_peer_gone"], 0)
        # idle with a dead server: vmlink sleeps (no busy interrupt
        # thread on a socket at EOF)
        time.sleep(0.3)
        c0, t0 = cpu_seconds(v.pid), time.time()
        time.sleep(1.5)
        cpu = (cpu_seconds(v.pid) - c0) / (time.time() - t0)
        self.assertLess(cpu, 0.05, "%.0f%% CPU" % (cpu * 100))
        self.assertEqual(v.xstats(port)["link_down"], 0)
        # testpmd leaves: no PEER_GONE without a server, but its state
        # goes to RESET, and vmlink follows
        t.quit()
        self.assertTrue(v.wait_text(r"port link link down", timeout=10),
                        v.tail())
        self.assertEqual(v.stop(), 0, v.tail())


if __name__ == "__main__":
    unittest.main(verbosity=2)
