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
and on packed rings; and with VM A replaced by a new one while port a
sleeps (it stays asleep, the new guest's frames wait)."""

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

    def setup_pair(self, packed=0):
        a, b = self.path("a.sock"), self.path("b.sock")
        vm = self.vmlink(vhost_port("a", a, "b") + vhost_port("b", b, "a"))
        vm.wait_up([a, b])
        ga = self.start_guest("A", a, packed)
        gb = self.start_guest("B", b, packed)
        self.wait_links(vm, (ga, gb))
        return vm, ga, gb

    def start_guest(self, name, sock, packed=0):
        return self.guest(name, virtio_user_vdev(sock, packed=packed),
                          guest_args(jumbo=False))

    def suspend_a(self, vm):
        self.assertIn("port a: suspended", self.ctl(vm, "suspend", "a"))
        self.assertTrue(wait_for(lambda: vm.port("a")["link"] == "down", 10),
                        "port a link up while suspended\n" + vm.describe())
        self.assertEqual(vm.port("a")["suspended"], "yes")

    def queue_while_asleep(self, vm, ga, gb):
        """VM A sends into its ring while port a sleeps: vmlink takes none
        of it. Returns (vmlink's frozen counters, frames VM A sent)."""
        before = self.frozen_view(vm)
        b_rx0 = gb.rx_packets()
        sent_a, got = self.send(ga, gb, 1518)
        self.assertGreater(sent_a, 0, ga.describe())
        time.sleep(0.5)
        self.assertEqual(self.frozen_view(vm), before,
                         "vmlink took frames from suspended port a")
        self.assertEqual(got["rx"], 0)
        self.assertEqual(gb.rx_packets(), b_rx0)
        return before, sent_a

    def resume_delivers(self, vm, gb, before, sent_a):
        """Resume port a: vmlink takes exactly the SENT_A frames VM A
        queued and VM B receives them, less the drops counted on the way.
        Returns the account, as text."""
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
                                    vm.port("b")["drops"]["tx_full"]))
        wait_still(gb.rx_packets)
        received = gb.stop()[0]["rx"]
        b_after = vm.port("b")
        taken = after[0] - before["a_rx"]
        delivered = after[1] - b_before["tx_packets"]
        dropped = after[2] - b_before["drops"]["tx_full"]
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
        self.assertTrue(wait_for(lambda: vm.port("a")["link"] == "up", 10),
                        vm.describe())
        self.assertEqual(vm.port("a")["suspended"], "no")
        return msg

    def finish(self, vm, guests):
        for g in guests:
            self.assertEqual(g.quit(), 0, g.describe())
        self.assertEqual(vm.stop(), 0, vm.describe())
        js = vm.stats
        totals = js["totals"]
        self.assertEqual(totals["rx_packets"],
                         totals["tx_packets"] + totals["drops"], js)
        self.assertFalse(js["ports"]["a"]["suspended"])
        return js

    def run_case(self, packed):
        vm, ga, gb = self.setup_pair(packed)
        sw = VmlinkSwitch(vm)
        phase(self, ga, gb, sw.counters("a", "b"), 64, seconds=0.5)

        self.suspend_a(vm)
        self.assertIn("port a: already suspended",
                      self.ctl(vm, "suspend", "a"))
        self.assertEqual(vm.port("b")["suspended"], "no")
        before, sent_a = self.queue_while_asleep(vm, ga, gb)

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
        self.assertEqual(a1["drops"]["suspended"] - a0["drops"]["suspended"], sent_b,
                         "frames for suspended port a not all counted as "
                         "its suspended drops: %s -> %s" % (a0, a1))
        self.assertEqual(a1["tx_packets"], a0["tx_packets"])
        self.assertEqual(a1["drops"]["tx_full"], a0["drops"]["tx_full"])
        self.assertEqual(b1["drops"]["no_route"], b0["drops"]["no_route"])
        self.assertEqual(got["rx"], 0)
        self.assertEqual(ga.rx_packets(), a_rx0)
        self.assertEqual(self.frozen_view(vm)["a_rx"], before["a_rx"])

        msg = self.resume_delivers(vm, gb, before, sent_a)
        print("packed=%d: %s; VM B sent %d to suspended port a, %d counted "
              "as suspended drops" % (packed, msg, sent_b, sent_b),
              flush=True)
        self.assertIn("port a: was not suspended",
                      self.ctl(vm, "resume", "a"))

        # both ways as before
        phase(self, ga, gb, sw.counters("a", "b"), 64, seconds=0.5)
        phase(self, gb, ga, sw.counters("b", "a"), 64, seconds=0.5)

        js = self.finish(vm, (ga, gb))
        self.assertEqual(js["ports"]["a"]["drops"]["suspended"], sent_b)
        self.assertEqual(js["ports"]["b"]["drops"]["suspended"], 0)
        log = vm.text()
        self.assertEqual(log.count("vmlink: port a suspended"), 1, log)
        self.assertEqual(log.count("vmlink: port a resumed"), 1, log)

    def test_asleep_across_reconnect(self):
        """VM A goes away and a new VM A connects while port a sleeps (a
        guest rebooted during maintenance): the port stays asleep, the new
        guest's frames wait in its ring, and resume delivers them."""
        vm, ga, gb = self.setup_pair()
        self.suspend_a(vm)
        self.assertEqual(ga.quit(), 0, ga.describe())
        self.assertTrue(wait_for(lambda: vm.text().count(
            "net_vmlink_vhost_a: front-end disconnected") == 1, 10),
            vm.describe())
        ga = self.start_guest("A2", self.path("a.sock"))
        self.assertTrue(wait_for(lambda: vm.text().count(
            "net_vmlink_vhost_a: driver ready") == 2, 20),
            vm.describe() + ga.describe())
        time.sleep(0.5)
        self.assertEqual(vm.port("a")["link"], "down", vm.describe())
        self.assertEqual(vm.port("a")["suspended"], "yes")
        before, sent_a = self.queue_while_asleep(vm, ga, gb)
        msg = self.resume_delivers(vm, gb, before, sent_a)
        print("reconnected while suspended: %s" % msg, flush=True)
        self.finish(vm, (ga, gb))

    def test_split(self):
        self.run_case(packed=0)

    def test_packed(self):
        self.run_case(packed=1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
