#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Stock dpdk-testpmd with net_virtio_user (DPDK's own guest driver) on
both vhost-user ports of vmlink, which cross-connects them: frames of 64,
1518 and 9000 bytes (9000 as a 5-segment mbuf chain on the sender) go
A -> B and B -> A, and every frame is accounted for exactly:

    A's TX-packets         == vmlink port a rx
    vmlink port a rx       == vmlink port b tx + vmlink's counted drops
    B's RX-packets         == vmlink port b tx - port b's oerrors
    bytes at both ends     == frames * size

for mrg_rxbuf on/off x in_order on/off (virtio_user devargs; vmlink does
not offer VIRTIO_F_IN_ORDER, so in_order=1 must negotiate down), and with 2
queue pairs (virtio_user queues=2, testpmd --rxq/--txq 2, vmlink
rx-queues = 2), and guests using 1 of the 2 queue pairs vmlink offers;
all of it on split rings and again on packed rings (packed_vq=1; each
guest's virtio PMD must say it drives a packed ring).
vmlink runs with zero-copy = auto (yes between two
vhost-user ports): 64-byte frames are copied, longer ones handed on in
place."""

import unittest

from interop_util import (VIRTIO_INIT_LOG, InteropCase, RingVariants,
                          VmlinkSwitch, assert_queue_xstats_sane,
                          assert_ring_layout, exchange, guest_args, vhost_port,
                          virtio_user_vdev)


class VirtioUserThroughVmlink(RingVariants, InteropCase):

    def run_case(self, mrg_rxbuf, in_order, queues=1, packed=0):
        a, b = self.path("a.sock"), self.path("b.sock")
        keys = {"rx_queues": queues} if queues > 1 else {}
        vm = self.vmlink(vhost_port("a", a, "b", **keys) +
                         vhost_port("b", b, "a", **keys))
        vm.wait_up([a, b])
        guests = []
        for name, sock in (("A", a), ("B", b)):
            guests.append(self.guest(
                name, virtio_user_vdev(sock, mrg_rxbuf, in_order, queues,
                                       packed=packed),
                guest_args(mrg_rxbuf, queues),
                log_levels=[VIRTIO_INIT_LOG]))
        self.wait_links(vm, guests)
        for g in guests:
            assert_ring_layout(self, g, packed)
        ga, gb = guests
        exchange(self, VmlinkSwitch(vm), ga, gb)

        for port, peer in (("a", "b"), ("b", "a")):
            xs = vm.xstats(port)
            pres = ["rx_q%d_" % q for q in range(queues)] + ["tx_q0_"]
            assert_queue_xstats_sane(self, xs, pres, "vmlink port " + port)
            # zero-copy auto = yes here: 1518 and 9000 went in place, 64
            # (below copy-threshold 512) was copied
            self.assertGreater(xs["rx_q0_zc_packets"], 0, port)
            self.assertGreater(xs["rx_q0_copied_packets"], 0, port)
            for q in range(queues):
                self.assertGreater(xs["rx_q%d_packets" % q], 0,
                                   "port %s: queue pair %d carried nothing "
                                   "from the guest" % (port, q))
        for g in guests:
            self.assertEqual(g.quit(), 0, g.describe())
        self.assertEqual(vm.stop(), 0, vm.describe())
        totals = vm.stats["totals"]
        self.assertEqual(totals["rx_packets"],
                         totals["tx_packets"] + totals["drops"], vm.stats)

    def test_guest_with_fewer_queue_pairs(self):
        """vmlink offers 2 queue pairs, the guests use 1 (a VM with fewer
        vCPUs than the switch expects): links come up on queue pair 0
        alone and traffic is counted exactly both ways."""
        a, b = self.path("a.sock"), self.path("b.sock")
        vm = self.vmlink(vhost_port("a", a, "b", rx_queues=2) +
                         vhost_port("b", b, "a", rx_queues=2))
        vm.wait_up([a, b])
        ga = self.guest("A", virtio_user_vdev(a), guest_args(1))
        gb = self.guest("B", virtio_user_vdev(b), guest_args(1))
        self.wait_links(vm, (ga, gb))
        exchange(self, VmlinkSwitch(vm), ga, gb, sizes=(64, 1518))
        xs = vm.xstats("a")
        self.assertEqual(xs["rx_q1_packets"], 0, xs)
        assert_queue_xstats_sane(self, xs, ["rx_q0_", "rx_q1_", "tx_q0_"])
        self.assertEqual(vm.stop(), 0, vm.describe())


if __name__ == "__main__":
    unittest.main(verbosity=2)
