#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Front-end restart: vmlink cross-connects two vhost-user ports (VM A and
VM B: stock testpmd with net_virtio_user) and, independently, net_null ->
net_ring (a loopback ring) -> back. VM A is killed with SIGKILL while it
sends, then started again. vmlink must keep running, keep forwarding on
its other ports, report port a's link down (log line and telemetry) and
up again, account for every frame of the cut stream, and carry traffic
both ways with the new VM A (which negotiates without mergeable rx
buffers this time). Run with vmlink as the vhost-user server
(default) and as the client (client = yes; virtio_user server=1)."""

import os
import time
import unittest

from interop_util import (InteropCase, VmlinkSwitch, guest_args, phase,
                          vhost_port, virtio_user_vdev, wait_still)
from proc import cleanup_prefix, wait_for

OTHER_PAIR = ("[port n]\ntype = ethdev\ndevice = net_null0\npeer = r\n"
              "[port r]\ntype = ethdev\ndevice = net_ring0\npeer = n\n")


class FrontEndRestart(InteropCase):

    def start_guest(self, name, sock, client, mrg_rxbuf=1):
        if client and os.path.exists(sock):
            # virtio_user server=1 binds the path: a killed one leaves it
            os.unlink(sock)
        return self.guest(name, virtio_user_vdev(sock, mrg_rxbuf,
                                                 server=client),
                          guest_args(mrg_rxbuf))

    def link(self, vm, port):
        return vm.port(port)["link"]

    def assert_other_pair_counts(self, vm, what):
        n0, r0 = (vm.port(p)["rx_packets"] for p in ("n", "r"))
        time.sleep(0.5)
        n1, r1 = (vm.port(p)["rx_packets"] for p in ("n", "r"))
        self.assertGreater(n1, n0, "net_null port stalled " + what)
        self.assertGreater(r1, r0, "net_ring port stalled " + what)

    def run_restart(self, client):
        a, b = self.path("a.sock"), self.path("b.sock")
        keys = {"client": "yes"} if client else {}
        vm = self.vmlink(vhost_port("a", a, "b", **keys) +
                         vhost_port("b", b, "a", **keys) + OTHER_PAIR)
        # client: vmlink retries connecting until the guests listen
        vm.wait_up([] if client else [a, b])
        ga = self.start_guest("A", a, client)
        gb = self.start_guest("B", b, client)
        for g in (ga, gb):
            self.assertTrue(g.wait_link(0, 30), g.describe() + vm.describe())
        self.assertTrue(wait_for(lambda: self.link(vm, "a") == "up" and
                                 self.link(vm, "b") == "up", 10),
                        vm.describe())
        sw = VmlinkSwitch(vm)
        phase(self, ga, gb, sw.counters("a", "b"), 64)

        # VM A dies mid-stream
        gb.set_fwd("rxonly")
        gb.start()
        ga.set_fwd("txonly")
        ga.set_size(1518)
        ga.start()
        rx0 = vm.port("a")["rx_packets"]
        time.sleep(0.8)
        self.assertGreater(vm.port("a")["rx_packets"], rx0,
                           "no traffic before the kill")
        ga.kill()
        self.assertTrue(wait_for(lambda: self.link(vm, "a") == "down", 10),
                        "port a link still up 10 s after VM A was killed\n"
                        + vm.describe())
        self.assertTrue(vm.alive(), vm.describe())
        self.assertTrue(wait_for(lambda: "vmlink: port a link down" in
                                 vm.text(), 5), vm.describe())
        self.assertEqual(self.link(vm, "b"), "up")
        self.assert_other_pair_counts(vm, "while VM A is gone")

        # every frame vmlink took from VM A before the kill is accounted
        # for (B's counters are cumulative over both runs)
        st = vm.wait_quiet(["a", "b"])
        received = wait_still(gb.rx_packets, timeout=10, interval=0.25)
        gb.stop()
        self.assertEqual(st["a"]["rx_packets"], st["b"]["tx_packets"] +
                         st["b"]["drops"]["tx_full"] +
                         st["a"]["drops"]["no_route"], st)
        self.assertEqual(received, st["b"]["tx_packets"] -
                         st["b"]["ethdev"]["oerrors"], st)

        # VM A comes back, negotiating differently (no mergeable rx
        # buffers): link up, traffic both ways, jumbo frames into single
        # big buffers
        cleanup_prefix(ga.prefix)
        ga = self.start_guest("A", a, client, mrg_rxbuf=0)
        self.assertTrue(ga.wait_link(0, 30), ga.describe() + vm.describe())
        self.assertTrue(wait_for(lambda: self.link(vm, "a") == "up", 10),
                        vm.describe())
        text = vm.text()
        self.assertGreater(text.rfind("vmlink: port a link up"),
                           text.find("vmlink: port a link down"), text)
        phase(self, ga, gb, sw.counters("a", "b"), 1518)
        phase(self, gb, ga, sw.counters("b", "a"), 9000)
        self.assertTrue(vm.alive(), vm.describe())
        self.assert_other_pair_counts(vm, "after VM A came back")

        for g in (ga, gb):
            self.assertEqual(g.quit(), 0, g.describe())
        self.assertEqual(vm.stop(), 0, vm.describe())
        t = vm.stats["totals"]
        self.assertEqual(t["rx_packets"], t["tx_packets"] + t["drops"],
                         vm.stats)

    def test_vmlink_server(self):
        self.run_restart(client=False)

    def test_vmlink_client(self):
        self.run_restart(client=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
