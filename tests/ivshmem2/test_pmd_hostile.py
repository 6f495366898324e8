# SPDX-License-Identifier: BSD-3-Clause
"""A hostile peer at the PMD level. vmlink has two ivshmem2 ports on two
servers: 'hl', whose other peer is the hostile test program
(tests/ivshmem2/ivshm_peer hostile: it attaches through the server like
any peer, then writes garbage indices, descriptor ids, offsets, lengths,
flags, completions and states into its own section), fed by a net_null
generator so that it has frames in flight; and 'good', receiving from a
stock testpmd (txonly). The PMD in vmlink must count every violation by
reason (xstats through telemetry), reset the link each time, never crash,
and 'good' must keep forwarding, every frame counted. Then three seconds
of random garbage (fuzz), zero-copy on, same expectations."""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "pylib"))
import ivshm_pmd as ip  # noqa: E402
from proc import wait_for  # noqa: E402
import ivshm_util  # noqa: E402

VIOLATIONS = ["avail_idx", "desc_id", "desc_flags", "desc_addr", "desc_len",
              "used_idx", "used_id", "used_len", "peer_state"]
# the hostile program's 12 cases, by the reason each must be counted under
EXPECT = {"avail_idx": 1, "desc_id": 1, "desc_flags": 1, "desc_addr": 3,
          "desc_len": 2, "used_idx": 1, "used_id": 1, "used_len": 1,
          "peer_state": 1}


class Hostile(ip.PmdTestCase):
    def hostile(self, sock, *args):
        p = ivshm_util.Peer("hostile", "hostile", "--socket", sock, *args)
        self.addCleanup(p.cleanup)
        return p

    def watch_good(self, v, peer, timeout):
        """While PEER runs: 'good' must stay up and forward in every
        second (two half-second samples: the CPUs are shared)."""
        last = v.port_stats("good")["rx_packets"]
        samples = still = 0
        end = time.time() + timeout
        while peer.proc.poll() is None and time.time() < end:
            ip.drain(peer, 0.5)
            self.assertTrue(v.alive(), v.tail())
            now = v.port_stats("good")["rx_packets"]
            still = still + 1 if now == last else 0
            self.assertLess(still, 2, "'good' stalled while the hostile "
                            "peer ran")
            self.assertEqual(v.link("good"), "up")
            last = now
            samples += 1
        return samples

    def test_hostile_peer_in_vmlink(self):
        s_hl = self.server("-o", "0x7f000", name="hl")
        s_good = self.server("-o", "64K", name="good")
        v = self.start_vmlink("victim", [
            ("gen", {"type": "ethdev", "device": "net_null0,size=100",
                     "peer": "hl"}),
            ("hl", {"type": "ivshmem2", "path": s_hl.sock, "peer": "sink",
                    "zero-copy": "yes", "copy-threshold": 0,
                    "inflight": 16}),
            ("good", {"type": "ivshmem2", "path": s_good.sock,
                      "peer": "sink"}),
            ("sink", {"type": "ethdev", "device": "net_null1",
                      "rx-queues": 0})])
        t = self.start_testpmd("tx", 0, "server=" + s_good.sock,
                               ["--forward-mode=txonly", "--txpkts=512"])
        self.assertTrue(t.wait_link(0, 20))
        self.assertTrue(v.wait_link("good"))
        ports = v.ports()
        t.start()

        # every case, one after the other
        host = self.hostile(s_hl.sock)
        samples = self.watch_good(v, host, 60)
        self.assertEqual(host.finish(30), 0, host.stderr())
        phases = [e for e in host.lines if e.get("event") == "phase"]
        self.assertEqual(len(phases), 12, phases)
        for ph in phases:
            self.assertTrue(ph["victim_reset"], ph)
        self.assertTrue(v.alive(), v.tail())
        x = v.xstats(ports["hl"])
        for reason, n in EXPECT.items():
            self.assertEqual(x["violation_" + reason], n, reason)
        self.assertGreaterEqual(x["link_resets"], 12)
        self.assertGreater(x["rx_frames"], 0)   # its good frames came in
        self.assertTrue(v.wait_text(r"port hl link down"))
        print("12 cases: %s; 'good' sampled %d times" % (
            {k: x["violation_" + k] for k in VIOLATIONS}, samples))

        # random garbage for 3 s (zero-copy mbufs out while links reset)
        fuzz = self.hostile(s_hl.sock, "--cases", "fuzz")
        self.watch_good(v, fuzz, 30)
        self.assertEqual(fuzz.finish(30), 0, fuzz.stderr())
        done = [e for e in fuzz.lines if e.get("event") == "hostile_done"][0]
        self.assertGreater(done["rounds"], 10)
        self.assertTrue(v.alive(), v.tail())
        x2 = v.xstats(ports["hl"])
        self.assertGreater(sum(x2["violation_" + r] - x["violation_" + r]
                               for r in VIOLATIONS), 5)
        self.assertGreater(x2["link_resets"] - x["link_resets"], 5)
        # frames accepted from the garbage stayed within the data area
        self.assertLessEqual(x2["rx_bytes"] - x["rx_bytes"],
                             (x2["rx_frames"] - x["rx_frames"]) * 0x7f000)

        # 'good' never noticed: every frame testpmd's PMD sent arrived
        sent = t.stop()[0]["tx"]
        tx = t.xstats(0)
        self.assertEqual(sent, tx["tx_frames"])
        self.assertTrue(wait_for(
            lambda: v.port_stats("good")["rx_packets"] == sent, 5),
            (v.port_stats("good"), sent))
        g = v.xstats(ports["good"])
        self.assertEqual(g["rx_frames"], sent)
        self.assertEqual(g["link_down"], 0)
        self.assertEqual(g["link_resets"], 0)
        for r in VIOLATIONS:
            self.assertEqual(g["violation_" + r], 0, r)
        self.assertEqual(tx["tx_dropped_peer_gone"], 0)

        self.assertEqual(v.stop(), 0, v.tail())
        js = v.summary()
        self.assertEqual(js["ports"]["good"]["rx_packets"], sent)
        self.assertEqual(js["totals"]["rx_packets"],
                         js["totals"]["tx_packets"] + js["totals"]["drops"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
