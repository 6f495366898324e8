#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Suspend and resume a vhost-user port under traffic, as an operator
would (usertools/vmlinkctl suspend|resume): vmlink cross-connects two
vhost-user ports a and b, each with a "VM" (stock dpdk-testpmd with
net_virtio_user). While port a is suspended:

  - VM A sends: vmlink takes none of it (its counters and the device's
    queue counters stay frozen, VM B receives nothing), the frames wait
    in VM A's TX ring;
  - VM B sends: every frame for port a is dropped and counted as port
    a's drops.suspended, none as tx_full or no_route; VM A gets none.

After resume, vmlink takes exactly what VM A queued and hands it to VM
B: VM A's sent = VM B's received + the drops vmlink and B's device
counted, to the frame. Traffic then flows both ways as before. On split
and on packed rings."""

import os
import subprocess
import time
import unittest

from interop_util import (InteropCase, VmlinkSwitch, guest_args, phase,
                          vhost_port, virtio_user_vdev, wait_still)
from proc import wait_for
from vmlink_testlib import SOURCE

VMLINKCTL = os.path.join(SOURCE, "usertools", "vmlinkctl")


class SuspendUnderTraffic(InteropCase):

    def ctl(self, vm, *args):
        p = subprocess.run([VMLINKCTL, "-f", vm.prefix] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=30)
        self.assertEqual(p.returncode, 0, "%s: %s%s" % (args, p.stdout,
                                                        p.stderr))
        return p.stdout

    @staticmethod
    def frozen_view(vm):
        """What must not move while port a sleeps: vmlink's counters of
        the path a -> b and the device's count of a's guest TX ring."""
        a, b = vm.port("a"), vm.port("b")
        return {"a_rx": a["rx_packets"], "a_tx": a["tx_packets"],
                "b_tx": b["tx_packets"],
                "a_dev_rx": vm.xstats("a")["rx_q0_packets"]}

    def send(self, tx, rx, size, seconds=0.5):
        """TX sends SIZE-byte frames for SECONDS while RX receives; returns
        (frames TX's tx bursts accepted, RX's forwarding stats)."""
        rx.set_fwd("rxonly")
        rx.start()
        tx.set_fwd("txonly")
        tx.set_size(size)
        tx.start()
        time.sleep(seconds)
        sent = tx.stop()[0]["tx"]
        time.sleep(0.3)     # what vmlink would still carry, it carries now
        return sent, rx.stop()[0]

    def run_case(self, packed):
        a, b = self.path("a.sock"), self.path("b.sock")
        vm = self.vmlink(vhost_port("a", a, "b") + vhost_port("b", b, "a"))
        vm.wait_up([a, b])
        ga = self.guest("A", virtio_user_vdev(a, packed=packed),
                        guest_args(jumbo=False))
        gb = self.guest("B", virtio_user_vdev(b, packed=packed),
                        guest_args(jumbo=False))
        self.wait_links(vm, (ga, gb))
        sw = VmlinkSwitch(vm)
        phase(self, ga, gb, sw.counters("a", "b"), 64, seconds=0.5)

        # --- suspend port a ---------------------------------------------
        self.assertIn("port a: suspended", self.ctl(vm, "suspend", "a"))
        self.assertIn("port a: already suspended",
                      self.ctl(vm, "suspend", "a"))
        self.assertTrue(wait_for(lambda: vm.port("a")["link"] == "down", 10),
                        "port a link up while suspended\n" + vm.describe())
        self.assertEqual(vm.port("a")["suspended"], "yes")
        self.assertEqual(vm.port("b")["suspended"], "no")

        # VM A sends into its ring: vmlink takes none of it
        before = self.frozen_view(vm)
        b_rx0 = gb.rx_packets()
        sent_a, got = self.send(ga, gb, 1518)
        self.assertGreater(sent_a, 0, ga.describe())
        time.sleep(0.5)
        self.assertEqual(self.frozen_view(vm), before,
                         "vmlink took frames from suspended port a")
        self.assertEqual(got["rx"], 0)
        self.assertEqual(gb.rx_packets(), b_rx0)

        # VM B sends to port a: counted as port a's suspended drops
        a0, b0 = vm.port("a"), vm.port("b")
        a_rx0 = ga.rx_packets()
        sent_b, got = self.send(gb, ga, 64)
        self.assertGreater(sent_b, 0, gb.describe())
        self.assertTrue(wait_for(lambda: vm.port("b")["rx_packets"] -
                                 b0["rx_packets"] >= sent_b, 10),
                        vm.describe())
        a1, b1 = vm.port("a"), vm.port("b")
        self.assertEqual(b1["rx_packets"] - b0["rx_packets"], sent_b)
        self.assertEqual(a1["drop_suspended"] - a0["drop_suspended"], sent_b,
                         "frames for suspended port a not all counted as "
                         "its suspended drops: %s -> %s" % (a0, a1))
        for k in ("tx_packets", "drop_tx_full"):
            self.assertEqual(a1[k], a0[k], k)
        self.assertEqual(b1["drop_no_route"], b0["drop_no_route"])
        self.assertEqual(got["rx"], 0)
        self.assertEqual(ga.rx_packets(), a_rx0)
        self.assertEqual(self.frozen_view(vm)["a_rx"], before["a_rx"])

        # --- resume: what VM A queued reaches VM B ----------------------
        b_before = vm.port("b")
        b_oerr0 = b_before["ethdev"]["oerrors"]
        gb.set_fwd("rxonly")
        gb.start()
        self.assertIn("port a: resumed", self.ctl(vm, "resume", "a"))
        self.assertTrue(wait_for(lambda: vm.port("a")["rx_packets"] -
                                 before["a_rx"] >= sent_a, 10),
                        "port a: queued frames not taken after resume\n" +
                        vm.describe())
        after = wait_still(lambda: (vm.port("a")["rx_packets"],
                                    vm.port("b")["tx_packets"],
                                    vm.port("b")["drop_tx_full"]))
        wait_still(gb.rx_packets)
        received = gb.stop()[0]["rx"]
        b_after = vm.port("b")
        taken = after[0] - before["a_rx"]
        delivered = after[1] - b_before["tx_packets"]
        dropped = after[2] - b_before["drop_tx_full"]
        undelivered = b_after["ethdev"]["oerrors"] - b_oerr0
        msg = ("VM A sent %d while suspended; after resume vmlink took %d, "
               "gave B's device %d, dropped %d (tx_full); B's device could "
               "not deliver %d; VM B received %d" % (
                   sent_a, taken, delivered, dropped, undelivered, received))
        self.assertEqual(taken, sent_a, msg)
        self.assertEqual(taken, delivered + dropped, msg)
        self.assertEqual(received, delivered - undelivered, msg)
        self.assertEqual(sent_a, received + dropped + undelivered, msg)
        self.assertGreater(received, 0, msg)
        print("packed=%d: %s; VM B sent %d to suspended port a, %d counted "
              "as suspended drops" % (packed, msg, sent_b, sent_b),
              flush=True)
        self.assertIn("port a: was not suspended",
                      self.ctl(vm, "resume", "a"))
        self.assertTrue(wait_for(lambda: vm.port("a")["link"] == "up", 10),
                        vm.describe())
        self.assertEqual(vm.port("a")["suspended"], "no")

        # both ways as before
        phase(self, ga, gb, sw.counters("a", "b"), 64, seconds=0.5)
        phase(self, gb, ga, sw.counters("b", "a"), 64, seconds=0.5)

        for g in (ga, gb):
            self.assertEqual(g.quit(), 0, g.describe())
        self.assertEqual(vm.stop(), 0, vm.describe())
        js = vm.stats
        self.assertEqual(js["ports"]["a"]["drops"]["suspended"], sent_b)
        self.assertEqual(js["ports"]["b"]["drops"]["suspended"], 0)
        self.assertFalse(js["ports"]["a"]["suspended"])
        totals = js["totals"]
        self.assertEqual(totals["rx_packets"],
                         totals["tx_packets"] + totals["drops"], js)
        log = vm.text()
        self.assertEqual(log.count("vmlink: port a suspended"), 1, log)
        self.assertEqual(log.count("vmlink: port a resumed"), 1, log)

    def test_split(self):
        self.run_case(packed=0)

    def test_packed(self):
        self.run_case(packed=1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
