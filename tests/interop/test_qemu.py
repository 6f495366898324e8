#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Two QEMU guests (TCG; Debian cloud kernel + busybox initramfs built at
test time by tests/qemu/build-guest) with virtio-net-pci NICs on vmlink's
vhost-user ports, which vmlink cross-connects. Guest a pings guest b with
56, 1400 and 8000-byte payloads (MTU 9000, offered by vmlink through
VIRTIO_NET_F_MTU; 8000 needs mergeable rx buffers in the guest): every
ping is answered, vmlink took exactly the frames guest a's kernel counted
as sent, and vmlink's counters balance. Runs twice: zero-copy = yes with
busy polling, and zero-copy = no with rx-mode = interrupt (the worker
sleeps and the Linux driver's kicks wake it); and once more with packed
virtqueues (virtio-net-pci packed=on, zero-copy = yes), where vmlink
must say its links came up on packed rings. Skipped, with the reason,
only when QEMU cannot run here."""

import re

import qemu_guest
from interop_util import QemuLinuxCase, vhost_port
from proc import wait_for

COUNT = 3
SIZES = (56, 1400, 8000)
STATS_RE = re.compile(r"^VMLINK-GUEST STATS rx_packets=(\d+) "
                      r"tx_packets=(\d+)", re.M)


class QemuGuestsThroughVmlink(QemuLinuxCase):

    def run_ping(self, zero_copy, rx_mode, packed=False):
        a, b = self.path("a.sock"), self.path("b.sock")
        keys = {"zero_copy": zero_copy, "rx_mode": rx_mode, "mtu": 9000}
        # nice: the TCG guests need the two cores more than the poll loop
        vm = self.vmlink(vhost_port("a", a, "b", **keys) +
                         vhost_port("b", b, "a", **keys), nice=19)
        vm.wait_up([a, b])
        ga = qemu_guest.Guest(
            "a", self.image, self.rundir, ip="10.0.0.1/24", peer="10.0.0.2",
            mode="ping", count=COUNT, size=list(SIZES), mtu=9000,
            nics=[qemu_guest.VhostUserNic(a, mac="52:54:00:00:00:0a",
                                          packed=packed)])
        gb = qemu_guest.Guest(
            "b", self.image, self.rundir, ip="10.0.0.2/24", mode="echo",
            mtu=9000,
            nics=[qemu_guest.VhostUserNic(b, mac="52:54:00:00:00:0b",
                                          packed=packed)])
        with ga, gb:
            try:
                ga.wait_ready(150)
                gb.wait_ready(150)
            except qemu_guest.GuestError as e:
                self.fail("%s\n%s\n%s" % (e, gb.describe(), vm.describe()))
            # the guests' drivers are up: vmlink must see the queues start
            if not wait_for(lambda: all(vm.port(p)["link"] == "up"
                                        for p in ("a", "b")), 20):
                self.fail("vmlink's vhost-user ports did not come up within "
                          "20 s of the guests' drivers (links: a %s, b %s)"
                          "\n%s" % (vm.port("a")["link"],
                                    vm.port("b")["link"], vm.describe()))
            try:
                got, total = ga.ping_result(240)
                ga.wait_exit(60)
            except qemu_guest.GuestError as e:
                self.fail("%s\n%s\n%s" % (e, gb.describe(), vm.describe()))
            self.assertEqual((got, total), (COUNT * len(SIZES),) * 2,
                             ga.describe() + gb.describe())
            m = STATS_RE.search(ga.console())
            self.assertIsNotNone(m, ga.describe())
            a_rx, a_tx = int(m.group(1)), int(m.group(2))
            st = vm.wait_quiet(["a", "b"])
            # guest a's kernel sent exactly what vmlink took from it: the
            # pings (ARP, echo requests) and nothing else
            self.assertEqual(st["a"]["rx_packets"], a_tx, st)
            self.assertGreaterEqual(a_tx, total)
            self.assertLessEqual(a_rx, st["a"]["tx_packets"] -
                                 st["a"]["ethdev"]["oerrors"], st)
            self.assertGreaterEqual(st["b"]["rx_packets"], total, st)
            self.assertGreaterEqual(a_rx, total)
            self.assertTrue(vm.alive(), vm.describe())
        self.assertEqual(vm.stop(), 0, vm.describe())
        t = vm.stats["totals"]
        self.assertEqual(t["rx_packets"], t["tx_packets"] + t["drops"],
                         vm.stats)
        for p in ("a", "b"):
            d = vm.stats["ports"][p]["device"]
            self.assertEqual(d["oerrors"], 0, vm.stats)
        return vm

    def test_ping_zero_copy_yes_poll(self):
        vm = self.run_ping("yes", "poll")
        self.assertIn("zero-copy on", vm.text())

    def test_ping_zero_copy_no_rx_interrupt(self):
        vm = self.run_ping("no", "interrupt")
        self.assertIn("zero-copy off", vm.text())
        lc = vm.stats["lcores"]["1"]
        self.assertGreater(lc["wakeups"], 0, vm.stats)

    def test_ping_packed_zero_copy_yes(self):
        vm = self.run_ping("yes", "poll", packed=True)
        self.assertIn("zero-copy on", vm.text())
        # both ports' links came up on packed rings, none on split ones
        self.assertEqual(vm.text().count("link up (packed virtqueues)"), 2,
                         vm.text())
        self.assertNotIn("link up (split virtqueues)", vm.text())


if __name__ == "__main__":
    qemu_guest.unittest_main()
