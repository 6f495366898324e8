#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""rx interrupts through the vhost-user PMD: vmlink with rx-mode =
interrupt on two cross-connected vhost-user ports, two stock testpmd
"VMs" (net_virtio_user) connected. Idle, vmlink's worker sleeps on the
guests' kick eventfds (the process uses next to no CPU); a guest that
sends a handful of frames kicks it awake and they arrive; sustained
traffic both ways is counted exactly; idle again afterwards, the CPU use
drops back (no kick fd left ringing); the JSON summary's lcore counters
show the sleeps and the interrupt wake-ups."""

import time
import unittest

from interop_util import (InteropCase, VmlinkSwitch, guest_args, phase,
                          vhost_port, virtio_user_vdev)
from proc import cpu_seconds, wait_for

IDLE_CPU_MAX = 0.3      # CPU seconds vmlink may use in 2 idle seconds


class RxInterruptThroughPmd(InteropCase):

    def idle_cpu(self, vm, seconds=2.0):
        c0 = cpu_seconds(vm.pid)
        time.sleep(seconds)
        return cpu_seconds(vm.pid) - c0

    def test_sleeps_idle_and_wakes_on_guest_kicks(self):
        a, b = self.path("a.sock"), self.path("b.sock")
        vm = self.vmlink(vhost_port("a", a, "b", rx_mode="interrupt") +
                         vhost_port("b", b, "a", rx_mode="interrupt"))
        vm.wait_up([a, b])
        ga = self.guest("A", virtio_user_vdev(a), guest_args(1))
        gb = self.guest("B", virtio_user_vdev(b), guest_args(1))
        self.wait_links(vm, (ga, gb))
        self.assertNotIn("busy-polling instead", vm.text())

        time.sleep(0.5)
        idle = self.idle_cpu(vm)
        self.assertLess(idle, IDLE_CPU_MAX, "idle vmlink (rx-mode = "
                        "interrupt, both guests connected) used %.2f s of "
                        "CPU in 2 s\n%s" % (idle, vm.describe()))

        # a few frames from an idle guest: its kick wakes the worker
        gb.set_fwd("rxonly")
        gb.start()
        ga.set_fwd("io")
        ga.set_size(64)
        ga.cmd_("set burst 4")
        ga.cmd_("start tx_first 1")
        self.assertTrue(wait_for(lambda: gb.rx_packets() >= 4, 5),
                        "4 frames sent to a sleeping vmlink did not arrive "
                        "within 5 s\n" + vm.describe())
        sent = ga.stop()[0]["tx"]
        got = gb.stop()[0]["rx"]
        self.assertEqual((sent, got), (4, 4))
        ga.cmd_("set burst 32")

        sw = VmlinkSwitch(vm)
        phase(self, ga, gb, sw.counters("a", "b"), 64)
        phase(self, gb, ga, sw.counters("b", "a"), 1518)

        time.sleep(0.5)
        idle = self.idle_cpu(vm)
        self.assertLess(idle, IDLE_CPU_MAX, "vmlink used %.2f s of CPU in "
                        "2 s once traffic stopped\n%s" % (idle,
                                                          vm.describe()))
        for g in (ga, gb):
            self.assertEqual(g.quit(), 0, g.describe())
        self.assertEqual(vm.stop(), 0, vm.describe())
        lc = vm.stats["lcores"]["1"]
        self.assertGreater(lc["sleeps"], 10, vm.stats)
        self.assertGreater(lc["wakeups"], 0, vm.stats)
        self.assertIn("lcore 1 slept", vm.text())
        t = vm.stats["totals"]
        self.assertEqual(t["rx_packets"], t["tx_packets"] + t["drops"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
