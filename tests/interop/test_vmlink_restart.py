#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""vmlink restart: vmlink (vhost-user client) cross-connects two "VMs",
stock testpmd with net_virtio_user in server mode. vmlink is killed with
SIGKILL while VM A sends to VM B and started again; virtio-user accepts
the new connection and restarts its rings with SET_VRING_BASE 0 although
its rings are far ahead. The rings resume from their used index (logged):
the frames VM A had queued while vmlink was gone reach VM B, the link is
up and traffic passes both ways, exactly counted.

Reported: frames VM A sent, what each vmlink took from A, delivered to B
and dropped (B's ring full); the killed vmlink's drop count is read last
just before the kill, so "unaccounted" is its drops after that read plus
the frames it held when it died.

(net_virtio_user as a client does not reconnect: a vmlink restart with
vmlink as the server is not a scenario virtio-user can follow.)"""

import time
import unittest

from interop_util import (InteropCase, VmlinkSwitch, guest_args, phase,
                          vhost_port, virtio_user_vdev, wait_still)
from proc import wait_for


class VmlinkRestart(InteropCase):

    def vmlink_start(self, a, b, name):
        vm = self.vmlink(vhost_port("a", a, "b", client="yes") +
                         vhost_port("b", b, "a", client="yes"), name=name)
        vm.wait_up()
        return vm

    def wait_links(self, vm):
        self.assertTrue(wait_for(lambda: vm.port("a")["link"] == "up" and
                                 vm.port("b")["link"] == "up", 20),
                        vm.describe())

    def test_sigkill_mid_stream(self):
        a, b = self.path("a.sock"), self.path("b.sock")
        # virtio-user's server mode waits for its first connection before
        # testpmd starts: vmlink first, it retries until they listen
        vm = self.vmlink_start(a, b, "vmlink")
        ga = self.guest("A", virtio_user_vdev(a, server=True), guest_args())
        gb = self.guest("B", virtio_user_vdev(b, server=True), guest_args())
        self.wait_links(vm)
        for g in (ga, gb):
            self.assertTrue(g.wait_link(0, 30), g.describe() + vm.describe())
        phase(self, ga, gb, VmlinkSwitch(vm).counters("a", "b"), 64)

        # A sends to B; vmlink dies under the stream
        b0 = gb.rx_packets()
        drops0 = vm.port("b")["drops"]["tx_full"]
        gb.set_fwd("rxonly")
        gb.start()
        ga.set_fwd("txonly")
        ga.set_size(64)
        ga.start()
        self.assertTrue(wait_for(lambda: gb.rx_packets() > b0 + 1000, 10),
                        "no traffic before the kill\n" + gb.describe())
        # the killed vmlink's counters die with it: its drops as last read
        drops1 = vm.port("b")["drops"]["tx_full"] - drops0
        vm.kill()
        self.assertTrue(wait_for(lambda: not ga.link_up(0), 10),
                        "VM A's link still up after vmlink was killed")
        # A fills its ring while vmlink is gone, then comes back to it
        time.sleep(0.5)
        vm2 = self.vmlink_start(a, b, "vmlink2")
        self.wait_links(vm2)
        self.assertTrue(ga.wait_link(0, 30), ga.describe())
        b1 = gb.rx_packets()
        self.assertTrue(wait_for(lambda: gb.rx_packets() > b1 + 1000, 10),
                        "no traffic after the restart\n" + vm2.describe() +
                        gb.describe())
        sent = ga.stop()[0]["tx"]
        st2 = vm2.wait_quiet(["a", "b"])
        received = wait_still(gb.rx_packets, timeout=10,
                              interval=0.25) - b0
        gb.stop()
        # A's ring loses nothing: what the new vmlink did not take, the
        # killed one took
        taken2 = st2["a"]["rx_packets"]
        taken1 = sent - taken2
        delivered2 = st2["b"]["tx_packets"] - st2["b"]["ethdev"]["oerrors"]
        delivered1 = received - delivered2
        self.assertEqual(taken2, st2["b"]["tx_packets"] +
                         st2["b"]["drops"]["tx_full"], st2)
        print("vmlink SIGKILLed mid-stream (virtio-user server mode, 64 B):"
              " A sent %d; killed vmlink took %d, delivered %d, counted "
              "%d+ drops (B full), %d unaccounted; restarted vmlink took "
              "%d, delivered %d, dropped %d (B full)" %
              (sent, taken1, delivered1, drops1,
               taken1 - delivered1 - drops1, taken2, delivered2,
               st2["b"]["drops"]["tx_full"]), flush=True)
        # nothing delivered twice (a frame given to B was completed to
        # A before): the killed vmlink delivered at most what it took
        self.assertGreaterEqual(taken1 - delivered1 - drops1, 0,
                                "frames delivered twice")
        text = vm2.text()
        self.assertIn("resuming from", text, text)
        for p in ("a", "b"):
            xs = vm2.xstats(p)
            faults = {k: v for k, v in xs.items()
                      if k.endswith("faults") and v}
            self.assertEqual(faults, {}, "queue faults on port %s" % p)

        # the restarted vmlink carries traffic both ways, exactly counted
        sw = VmlinkSwitch(vm2)
        phase(self, ga, gb, sw.counters("a", "b"), 1518)
        phase(self, gb, ga, sw.counters("b", "a"), 64)
        for g in (ga, gb):
            self.assertEqual(g.quit(), 0, g.describe())
        self.assertEqual(vm2.stop(), 0, vm2.describe())


if __name__ == "__main__":
    unittest.main(verbosity=2)
