#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Multiqueue through vmlink: stock dpdk-testpmd guests (net_virtio_user)
on vhost-user ports with 4 queue pairs, one vmlink worker.

Guest A sends a fixed load, ROUNDS times BURSTS bursts of 32 64-byte
frames on each of its tx queues (testpmd `start tx_first`, one stream per
queue), guest B receives (rxonly, all its queues):

- Same queue counts (4 and 4): a frame vmlink receives on queue i of port
  a leaves on queue i of port b: B's queue i gets exactly what A sent on
  its queue i, every queue carries traffic, nothing is dropped (a load
  testpmd's io forwarding over net_vhost also forwards without drops;
  funnelled into one of B's rings it would not fit).
- Different counts (1 and 4): guest A sends many flows
  (--txonly-multi-flow) on its one queue; vmlink spreads them by flow
  hash over port b's 4 queues, every one carries a share, nothing is
  dropped.
- B enables 1 of the 4 queue pairs offered: what vmlink delivers goes
  to B's one rx queue, frames of all of A's queues (one ring cannot take
  a round at once: tx-full drops, counted, are allowed here).
Every queue's count is checked at each hop: A's tx queue = vmlink's rx
queue, vmlink's tx queue = B's rx queue, and vmlink's totals add up."""

import unittest

from interop_util import (InteropCase, guest_args, vhost_port,
                          virtio_user_vdev, wait_still)
from proc import wait_for

QUEUES = 4
ROUNDS = 3
BURSTS = 4          # per queue and round; 32 frames each


def queue_counts(xs, direction, n):
    """testpmd's per-queue xstats of net_virtio_user: {q: packets}."""
    return [xs["%s_q%d_good_packets" % (direction, q)] for q in range(n)]


class MultiqueueThroughVmlink(InteropCase):

    def run_traffic(self, a_queues, b_queues, multi_flow, b_guest=None):
        """B_GUEST: queue pairs guest B uses of the B_QUEUES offered."""
        b_guest = b_guest or b_queues
        a, b = self.path("a.sock"), self.path("b.sock")
        vm = self.vmlink(vhost_port("a", a, "b", rx_queues=a_queues) +
                         vhost_port("b", b, "a", rx_queues=b_queues))
        vm.wait_up([a, b])
        args_a = guest_args(1, a_queues, jumbo=False)
        if multi_flow:
            args_a.append("--txonly-multi-flow")
        ga = self.guest("A", virtio_user_vdev(a, queues=a_queues), args_a)
        gb = self.guest("B", virtio_user_vdev(b, queues=b_guest),
                        guest_args(1, b_guest, jumbo=False))
        self.wait_links(vm, (ga, gb))
        gb.set_fwd("rxonly")
        ga.set_fwd("rxonly")
        ga.set_size(64)
        gb.start()
        per_round = BURSTS * 32 * a_queues
        for r in range(1, ROUNDS + 1):
            out = ga.cmd_("start tx_first %d" % BURSTS)
            self.assertNotIn("rror", out, out)
            # through when vmlink took them all and went quiet, and B
            # counted what vmlink handed it
            wait_for(lambda: vm.port("a")["rx_packets"] >= r * per_round,
                     10, 0.1)
            vm.wait_quiet(["a", "b"], interval=0.2)
            wait_still(gb.rx_packets, timeout=10, interval=0.3)
            ga.stop()
        gb.stop()
        xa, xb = ga.xstats(0), gb.xstats(0)
        for g in (ga, gb):
            self.assertEqual(g.quit(), 0, g.describe())
        self.assertEqual(vm.stop(), 0, vm.describe())
        st = vm.stats["ports"]
        sent = queue_counts(xa, "tx", a_queues)
        got = queue_counts(xb, "rx", b_guest)
        a_rx = [st["a"]["queues"]["rx"][str(q)]["packets"]
                for q in range(a_queues)]
        b_tx = [st["b"]["queues"]["tx"].get(str(q), {}).get("packets", 0)
                for q in range(b_queues)]
        msg = ("A sent %s, vmlink a rx %s, b tx %s, B received %s; "
               "drops %s" % (sent, a_rx, b_tx, got, st["b"]["drops"]))
        print(msg, flush=True)
        for q in range(b_guest):
            self.assertGreater(got[q], 0, "queue %d of B carried nothing: "
                               % q + msg)
        # every hop, queue by queue
        self.assertEqual(a_rx, sent, msg)
        self.assertEqual(b_tx, got + [0] * (b_queues - b_guest), msg)
        self.assertEqual(sum(a_rx), st["a"]["rx_packets"], msg)
        self.assertEqual(sum(b_tx), st["b"]["tx_packets"], msg)
        self.assertEqual(st["a"]["rx_packets"], st["b"]["tx_packets"] +
                         st["b"]["drops"]["tx_full"], msg)
        self.assertEqual(sent, [ROUNDS * BURSTS * 32] * a_queues, msg)
        if b_guest == b_queues:
            self.assertEqual(st["b"]["drops"]["tx_full"], 0, msg)
        self.assertEqual((st["b"]["drops"]["no_route"],
                          st["b"]["drops"]["offload"]), (0, 0), msg)
        self.assertEqual(st["a"]["drops"]["no_route"], 0, msg)
        return a_rx, got

    def test_queue_i_to_queue_i(self):
        a_rx, got = self.run_traffic(QUEUES, QUEUES, False)
        self.assertEqual(got, a_rx)

    def test_spread_by_flow(self):
        a_rx, got = self.run_traffic(1, QUEUES, True)
        self.assertEqual(sum(got), a_rx[0])
        # each queue carries a fair share of the flows (testpmd varies
        # the source address per frame: many flows)
        for q in range(QUEUES):
            self.assertGreater(got[q], sum(got) // (4 * QUEUES),
                               "queue %d: %s" % (q, got))

    def test_guest_with_fewer_queue_pairs(self):
        """vmlink offers B 4 queue pairs, B enables 1: frames of A's
        queues 1-3 go to the one B has up, not to rings it never set
        up (vmlink follows the guest's rx rings: queue state events)"""
        a_rx, got = self.run_traffic(QUEUES, QUEUES, False, b_guest=1)
        # (vmlink's tx queues 1-3 of port b carried nothing: checked
        # above.) What one ring of 256 could not take in time from a
        # burst of 512 is counted as tx-full; at least a ring's worth a
        # round came from A's queues 1-3.
        self.assertGreater(got[0], a_rx[0], (a_rx, got))

if __name__ == "__main__":
    unittest.main(verbosity=2)
