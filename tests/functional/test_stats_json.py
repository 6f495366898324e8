#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""What vmlink reports besides port totals (docs/stats-json.md): in the
--stats-json file, each port's per-queue counters and its malformed-input
counters by reason, both taken from the device's xstats; and a periodic
stats line that says which figures are rates and which are totals.

The malformed reasons come from a hostile ivshmem2 peer
(tests/ivshmem2/ivshm_peer hostile: twelve kinds of garbage written into
its own output section, each of which vmlink's PMD must count under its
reason and survive)."""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "pylib"))
import ivshm_pmd as ip  # noqa: E402
import ivshm_util  # noqa: E402

# the hostile program's twelve cases, by the reason each is counted under
EXPECT = {"avail_idx": 1, "desc_id": 1, "desc_flags": 1, "desc_addr": 3,
          "desc_len": 2, "used_idx": 1, "used_id": 1, "used_len": 1,
          "peer_state": 1}


class StatsJson(ip.PmdTestCase):

    def test_queues_and_malformed_reasons(self):
        srv = self.server("-o", "0x7f000", name="hl")
        v = self.start_vmlink("stats", [
            ("gen", {"type": "ethdev", "device": "net_null0,size=100",
                     "peer": "hl"}),
            ("hl", {"type": "ivshmem2", "path": srv.sock, "peer": "sink",
                    "zero-copy": "yes", "copy-threshold": 0,
                    "inflight": 16}),
            ("multi", {"type": "ethdev", "device": "net_null1,size=64",
                       "rx-queues": 2, "peer": "sink"}),
            ("sink", {"type": "ethdev", "device": "net_null2",
                      "rx-queues": 0})], interval=1)
        self.assertTrue(v.wait_link("gen"))
        ports = v.ports()
        host = ivshm_util.Peer("hostile", "hostile", "--socket", srv.sock)
        self.addCleanup(host.cleanup)
        ip.drain(host, 1.0)
        self.assertEqual(host.finish(60), 0, host.stderr())
        self.assertTrue(v.alive(), v.tail())
        x = v.xstats(ports["hl"])
        self.assertTrue(v.wait_text(r"--- \d+\.\d s: rates over the last "
                                    r"\d+\.\d s, totals since the start"))
        self.assertEqual(v.stop(), 0, v.tail())
        js = v.summary()

        # every reason the device counts, summed over its queues, as its
        # xstats said (nothing new arrives once the peer has gone)
        hl = js["ports"]["hl"]
        for reason, n in EXPECT.items():
            self.assertEqual(hl["malformed"][reason], n, reason)
            self.assertEqual(x["violation_" + reason], n, reason)
        self.assertEqual(set(hl["malformed"]), set(EXPECT))
        self.assertGreaterEqual(hl["device_xstats"]["link_resets"], 12)
        self.assertNotIn("violation_desc_len", hl["device_xstats"])

        # per queue: both rx queues of 'multi' received, and they add up
        multi = js["ports"]["multi"]
        rxq = multi["queues"]["rx"]
        self.assertEqual(sorted(rxq), ["0", "1"], multi)
        self.assertGreater(rxq["0"]["packets"], 0)
        self.assertGreater(rxq["1"]["packets"], 0)
        self.assertEqual(rxq["0"]["packets"] + rxq["1"]["packets"],
                         multi["rx_packets"])
        self.assertEqual(multi["malformed"], {})
        # a port that only sends has tx queues only
        sink = js["ports"]["sink"]["queues"]
        self.assertEqual(sink["rx"], {})
        self.assertGreater(sum(q["packets"] for q in sink["tx"].values()),
                           0)

        # the stats line says which figures are rates, which totals
        lines = [ln for ln in v.text().splitlines()
                 if ln.startswith("multi ") and " rate: " in ln]
        self.assertTrue(lines)
        self.assertRegex(lines[-1], r"link \S+ +rate: rx +[\d.]+ Mpps +"
                         r"[\d.]+ Gbit/s, tx +[\d.]+ Mpps \| total: rx \d+, "
                         r"tx \d+, dropped tx-full \d+, no-route \d+, "
                         r"offload \d+, suspended \d+$")
        total_rx = int(re.search(r"total: rx (\d+)", lines[-1]).group(1))
        self.assertLessEqual(total_rx, multi["rx_packets"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
