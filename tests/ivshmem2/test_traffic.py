# SPDX-License-Identifier: BSD-3-Clause
"""Two ivshmem-net peers in two processes (tests/ivshmem2/ivshm_peer over
lib/ivshmem2) through a real ivshmem2-server: frames both ways in poll and
doorbell mode, counted exactly, sizes 64 up to the largest the section
allows, zero-copy with out-of-order and cross-thread frees, a peer killed
and restarted mid-stream, a hostile peer writing garbage into its own
section."""

import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "pylib"))
import ivshm_util as iu  # noqa: E402
from ivshm_util import Peer, Server  # noqa: E402

VIOLATIONS = ["avail_idx", "desc_id", "desc_flags", "desc_addr", "desc_len",
              "used_idx", "used_id", "used_len", "peer_state"]


def frame_size(i, lo, hi):
    if i == 0:
        return lo
    if i == 1:
        return hi
    return lo + ((i * 2654435761) & 0xffffffff) % (hi - lo + 1)


def total_bytes(n, lo, hi):
    return sum(frame_size(i, lo, hi) for i in range(n))


class Base(unittest.TestCase):
    def setUp(self):
        self.srv = None
        self.peers = []

    def tearDown(self):
        for p in self.peers:
            p.cleanup()
        if self.srv:
            self.srv.close()

    def server(self, *args):
        self.srv = Server(*args)
        return self.srv

    def peer(self, tag, *args):
        p = Peer(tag, *args)
        self.peers.append(p)
        return p

    def run_pair(self, a_args, b_args, timeout=60):
        a = self.peer("a", "traffic", "--socket", self.srv.sock, *a_args)
        b = self.peer("b", "traffic", "--socket", self.srv.sock, *b_args)
        ra, rb = a.finish(timeout), b.finish(timeout)
        self.assertEqual(ra, 0, a.stderr())
        self.assertEqual(rb, 0, b.stderr())
        return a.result(), b.result()

    def check_exact(self, r, sent, received, lo, hi_sent, hi_recv):
        self.assertFalse(r["timeout"])
        self.assertEqual(r["tx_seq"], sent)
        self.assertEqual(r["tx_frames"], sent)
        self.assertEqual(r["tx_bytes"], total_bytes(sent, lo, hi_sent))
        self.assertEqual(r["rx_count"], received)
        self.assertEqual(r["rx_frames"], received)
        self.assertEqual(r["rx_bytes"], total_bytes(received, lo, hi_recv))
        self.assertEqual(r["rx_errors"], 0)
        self.assertEqual(r["tx_dropped_peer_gone"], 0)
        self.assertEqual(r["rx_nombuf"], 0)
        for v in VIOLATIONS:
            self.assertEqual(r["violation_" + v], 0, v)


class Poll(Base):
    def test_both_ways_largest_frames(self):
        # 2 MiB sections: 64 .. 65553 bytes (the protocol's maximum)
        self.server()
        n = 1500
        a, b = self.run_pair(["--count", n, "--expect", n],
                             ["--count", n, "--expect", n])
        for r in (a, b):
            self.assertEqual(r["max_frame"], 65553)
            self.check_exact(r, n, n, 64, 65553, 65553)
            # poll mode: nobody asked for a doorbell, none was rung
            self.assertEqual(r["tx_kicks"], 0)
            self.assertEqual(r["rx_kicks"], 0)
            self.assertGreater(r["tx_kicks_suppressed"], 0)
            self.assertEqual(r["link_up"], 1)

    def test_section_bound_largest_frame(self):
        # 64 KiB sections: N = 256, data from 0x1a80, largest frame
        # ALIGN_DOWN(0x10000 - 0x1a80, 64) - 18
        self.server("-o", "64K")
        n = 800
        big = ((0x10000 - 0x1a80) & ~63) - 18
        a, b = self.run_pair(["--count", n, "--expect", n],
                             ["--count", n, "--expect", n])
        for r in (a, b):
            self.assertEqual(r["max_frame"], big)
            self.check_exact(r, n, n, 64, big, big)
            self.assertGreater(r["tx_full"], 0)   # the data area filled up

    def test_hugetlbfs_backing(self):
        path = "/dev/hugepages/" + iu.unique("traffic")
        self.addCleanup(lambda: os.path.exists(path) and os.unlink(path))
        self.srv = Server(shm_file=path)
        n = 600
        a, b = self.run_pair(["--count", n, "--expect", n, "--max", 9000],
                             ["--count", n, "--expect", n, "--max", 9000,
                              "--zc", 64])
        for r in (a, b):
            self.check_exact(r, n, n, 64, 9000, 9000)
        self.assertGreater(b["rx_zc_frames"], 0)

    def test_zero_copy(self):
        self.server("-o", "0x7f000")
        n = 3000
        # all zero-copy, freed in random order
        a, b = self.run_pair(["--count", n, "--max", 1518],
                             ["--expect", n, "--max", 1518, "--zc", 256,
                              "--hold", 64])
        self.check_exact(a, n, 0, 64, 1518, 1518)
        self.check_exact(b, 0, n, 64, 1518, 1518)
        self.assertEqual(b["rx_zc_frames"], n)
        self.assertEqual(b["rx_zc_budget_copies"], 0)

    def test_zero_copy_budget_and_other_thread(self):
        self.server("-o", "0x7f000")
        n = 3000
        # budget 8 while 32 are held: the rest is copied, still in order
        a, b = self.run_pair(["--count", n, "--max", 1518],
                             ["--expect", n, "--max", 1518, "--zc", 8,
                              "--hold", 32, "--zc-min", 100])
        self.check_exact(b, 0, n, 64, 1518, 1518)
        self.assertGreater(b["rx_zc_frames"], 0)
        self.assertGreater(b["rx_zc_budget_copies"], 0)
        # frees on another thread, in reverse order of each batch
        a, b = self.run_pair(["--count", n, "--max", 1518],
                             ["--expect", n, "--max", 1518, "--zc", 512,
                              "--free-thread"])
        self.check_exact(b, 0, n, 64, 1518, 1518)
        self.assertGreater(b["rx_zc_frames"], n // 2)


class Doorbell(Base):
    def test_sleeps_and_wakes(self):
        self.server("-o", "0x7f000")
        n = 2000
        args = ["--count", n, "--expect", n, "--max", 1518,
                "--gap-every", 400, "--gap-ms", 150]
        a, b = self.run_pair(["--mode", "doorbell"] + args,
                             ["--mode", "doorbell"] + args)
        for r in (a, b):
            self.check_exact(r, n, n, 64, 1518, 1518)
            # it really slept: little CPU over 4 pauses of 150 ms
            self.assertGreater(r["wall"], 0.55)
            self.assertLess(r["cpu"], 0.25 * r["wall"], r)
            # woken by the peer's doorbells; it rang only when asked
            self.assertGreaterEqual(r["woke"], 1)
            self.assertGreaterEqual(r["rx_wakeups"], r["woke"])
            self.assertGreaterEqual(r["rx_intr_arms"], r["woke"])
            self.assertGreaterEqual(r["tx_kicks"], 1)
            self.assertGreater(r["tx_kicks_suppressed"], 0)
        # each of the 5 groups starts while the other side sleeps: one of
        # the two rings at least (both may send at once, then one is awake)
        self.assertGreaterEqual(a["tx_kicks"] + b["tx_kicks"], 4)
        self.assertGreaterEqual(a["woke"] + b["woke"], 4)
        db_cpu = a["cpu"] + b["cpu"]
        # the same exchange busy-polling burns the CPU the pauses last
        a, b = self.run_pair(["--mode", "poll"] + args,
                             ["--mode", "poll"] + args)
        for r in (a, b):
            self.check_exact(r, n, n, 64, 1518, 1518)
            self.assertEqual(r["tx_kicks"], 0)
        self.assertGreater(a["cpu"] + b["cpu"], 4 * db_cpu)

    def test_doorbell_receiver_poll_sender(self):
        self.server("-o", "0x7f000")
        n = 1000
        a, b = self.run_pair(["--count", n, "--max", 1518, "--gap-every",
                              250, "--gap-ms", 100],
                             ["--mode", "doorbell", "--expect", n,
                              "--max", 1518])
        self.check_exact(b, 0, n, 64, 1518, 1518)
        self.assertGreaterEqual(b["woke"], 3)
        self.assertGreaterEqual(a["tx_kicks"], 3)
        self.assertLess(b["cpu"], 0.3 * b["wall"])


class Restart(Base):
    def test_peer_killed_and_restarted(self):
        self.server("-o", "0x7f000")
        hi = 1518
        a = self.peer("a", "traffic", "--socket", self.srv.sock, "--forever",
                      "--max", hi, "--timeout", 60)
        b1 = self.peer("b1", "traffic", "--socket", self.srv.sock,
                       "--count", 300, "--stall-after", 500, "--max", hi)
        stalled = b1.read_event("stalled", 20)
        self.assertEqual(stalled["rx_count"], 500)
        self.assertEqual(stalled["rx_errors"], 0)
        up = a.read_event("link", 10)
        self.assertTrue(up["up"])
        time.sleep(0.3)          # a fills the ring b1 no longer drains
        b1.kill(signal.SIGKILL)
        down = a.read_event("link", 10)
        self.assertFalse(down["up"])
        # everything a had sent beyond b1's 500 was in flight: dropped
        self.assertGreater(down["tx_dropped_peer_gone"], 0)
        self.assertEqual(down["tx_dropped_peer_gone"], down["tx_seq"] - 500)
        self.assertEqual(down["rx_count"], 300)
        self.assertEqual(down["link_down"], 1)
        b2 = self.peer("b2", "traffic", "--socket", self.srv.sock,
                       "--count", 400, "--expect", 3000, "--max", hi)
        up2 = a.read_event("link", 10)
        self.assertTrue(up2["up"])
        self.assertEqual(b2.finish(30), 0, b2.stderr())
        r2 = b2.result()
        self.assertEqual(r2["rx_count"], 3000)
        self.assertEqual(r2["rx_errors"], 0)
        # traffic resumed right after the dropped frames
        self.assertEqual(r2["first_rx_seq"], down["tx_seq"])
        a.read_event("link", 10)      # b2 left: down again
        a.kill(signal.SIGTERM)
        self.assertEqual(a.proc.returncode, 0, a.stderr())
        ra = a.result()
        self.assertEqual(ra["rx_count"], 700)       # 300 + 400
        self.assertEqual(ra["rx_errors"], 0)
        self.assertEqual(ra["link_up"], 2)
        self.assertEqual(ra["link_down"], 2)
        for v in VIOLATIONS:
            self.assertEqual(ra["violation_" + v], 0, v)


class Hostile(Base):
    def test_each_violation(self):
        self.server("-o", "0x7f000")
        victim = self.peer("victim", "traffic", "--socket", self.srv.sock,
                           "--forever", "--tx-every-ms", 1, "--timeout", 60)
        host = self.peer("hostile", "hostile", "--socket", self.srv.sock)
        self.assertEqual(host.finish(60), 0, host.stderr())
        phases = [e for e in host.lines if e.get("event") == "phase"]
        self.assertEqual(len(phases), 12, phases)
        for ph in phases:
            self.assertTrue(ph["victim_reset"], ph)
        victim.kill(signal.SIGTERM)
        self.assertEqual(victim.proc.returncode, 0, victim.stderr())
        r = victim.result()
        expect = {"avail_idx": 1, "desc_id": 1, "desc_flags": 1,
                  "desc_addr": 3, "desc_len": 2, "used_idx": 1,
                  "used_id": 1, "used_len": 1, "peer_state": 1}
        for v, k in expect.items():
            self.assertEqual(r["violation_" + v], k, v)
        # nothing bad was delivered; every case reset the link
        self.assertEqual(r["rx_errors"], 0)
        self.assertGreater(r["rx_count"], 0)
        # (the victim may not have seen the link up before a violation
        # took it down again: count resets, not link-down events)
        self.assertGreaterEqual(r["link_resets"], 12)

    def test_fuzz(self):
        self.server("-o", "64K")
        victim = self.peer("victim", "traffic", "--socket", self.srv.sock,
                           "--forever", "--tx-every-ms", 1, "--zc", 16,
                           "--hold", 8, "--timeout", 60)
        host = self.peer("hostile", "hostile", "--socket", self.srv.sock,
                         "--cases", "fuzz")
        self.assertEqual(host.finish(60), 0, host.stderr())
        done = [e for e in host.lines if e.get("event") == "hostile_done"][0]
        self.assertGreater(done["rounds"], 10)
        victim.kill(signal.SIGTERM)
        self.assertEqual(victim.proc.returncode, 0, victim.stderr())
        r = victim.result()
        self.assertGreater(sum(r["violation_" + v] for v in VIOLATIONS), 5)
        self.assertGreater(r["link_resets"], 5)
        # whatever was accepted stayed inside the peer's data area
        self.assertLessEqual(r["rx_bytes"], r["rx_frames"] * 0x10000)


if __name__ == "__main__":
    unittest.main(verbosity=2)
