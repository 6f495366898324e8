#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The DPDK test guest (tests/qemu/build-guest --dpdk, QEMU TCG): the
host's own DPDK runtime in its initramfs, hugepages, PCI devices bound to
uio_pci_generic or (with an emulated IOMMU) vfio-pci, and stock
dpdk-testpmd driven from the host through the guest agent.

- ivshmem: an ivshmem-plain device on a host file, bound to
  uio_pci_generic; bytes the guest writes through BAR2 (sysfs resource2)
  are the host file's, and the other way round.
- vhost-user: the guest's testpmd (DPDK's virtio PMD on the guest's
  virtio-net-pci NIC, bound to uio_pci_generic, then to vfio-pci behind
  the emulated IOMMU) and a host testpmd (net_virtio_user) exchange frames
  through vmlink's vhost-user ports, both ways, counted exactly.

Skipped (77) only when QEMU cannot run here."""

import struct

import qemu_guest
from dpdk_guest import (DpdkGuest, IVSHMEM_ID, VIRTIO_NET_ID, GUEST_TOOL,
                        image)
from interop_util import (InteropCase, VmlinkSwitch, exchange, vhost_port,
                          virtio_user_vdev, guest_args)
from proc import wait_for

MASK = (1 << 64) - 1


def xorshift_bytes(seed, length):
    """What ivshm_guest_tool's fill writes: xorshift64 words, LE."""
    s = seed | 1
    out = bytearray()
    while len(out) < length:
        s ^= (s << 13) & MASK
        s ^= s >> 7
        s ^= (s << 17) & MASK
        out += struct.pack("<Q", s)
    return bytes(out[:length])


class DpdkGuestCase(InteropCase):
    PAGES = 80

    @classmethod
    def setUpClass(cls):
        qemu_guest.skip_class_unless_runnable()
        image()

    def boot(self, guest, timeout=150):
        self.procs.append(guest)
        guest.start()
        try:
            guest.wait_ready(timeout)
        except qemu_guest.GuestError as e:
            self.fail(str(e))
        return guest

    def test_ivshmem_plain_bar2_is_the_host_file(self):
        size = 1 << 20
        shm = self.path("ivshmem.mem")
        with open(shm, "wb") as f:
            f.truncate(size)
        g = self.boot(DpdkGuest(
            "g", self.rundir, devices=[qemu_guest.IvshmemPlain(shm, size)],
            bind={IVSHMEM_ID: "uio_pci_generic"}))
        bdfs = g.pci(IVSHMEM_ID)
        self.assertEqual(len(bdfs), 1, g.describe())
        a = g.agent()
        _, out = a.run([GUEST_TOOL, bdfs[0], "info"])
        self.assertIn("bar2=%d" % size, out)
        # guest -> host
        a.run([GUEST_TOOL, bdfs[0], "fill", 4096, 65536, 12345])
        with open(shm, "rb") as f:
            f.seek(4096)
            self.assertEqual(f.read(65536), xorshift_bytes(12345, 65536))
        # host -> guest
        with open(shm, "r+b") as f:
            f.seek(size - 4)
            f.write(struct.pack("<I", 0xdeadbeef))
        _, out = a.run([GUEST_TOOL, bdfs[0], "read32", 2, size - 4])
        self.assertIn("value=0xdeadbeef", out)
        # a range past the BAR is refused, nothing written
        rc, out = a.run([GUEST_TOOL, bdfs[0], "fill", size - 8, 16, 1],
                        check=False)
        self.assertEqual(rc, 1, out)
        self.assertIn("outside the BAR", out)

    def run_vhost(self, vfio):
        """Guest testpmd (virtio PMD) <-> vmlink <-> host testpmd
        (virtio-user): 64 and 1518 bytes both ways, counted exactly."""
        gs, hs = self.path("g.sock"), self.path("h.sock")
        vm = self.vmlink(vhost_port("g", gs, "h") + vhost_port("h", hs, "g"),
                         nice=19)
        vm.wait_up([gs, hs])
        drv = "vfio-pci" if vfio else "uio_pci_generic"
        g = self.boot(DpdkGuest(
            "g", self.rundir, nics=[qemu_guest.VhostUserNic(gs)],
            bind={VIRTIO_NET_ID: drv}, vfio=vfio))
        bdfs = g.pci(VIRTIO_NET_ID)
        self.assertEqual(len(bdfs), 1, g.describe())
        self.assertTrue(g.agent().run(
            "readlink /sys/bus/pci/devices/%s/driver" % bdfs[0])[1]
            .strip().endswith("/" + drv))
        # The NIC does not sit behind the emulated IOMMU (no
        # iommu_platform): its descriptors must carry guest physical
        # addresses, so IOVA as PA with vfio as well.
        eal = ["--iova-mode=pa"] if vfio else []
        tg = g.testpmd(allow=bdfs, eal=eal,
                       args=["--rxd=256", "--txd=256"])
        self.procs.append(tg)
        th = self.guest("h", virtio_user_vdev(hs), guest_args(jumbo=False))
        for t in (tg, th):
            self.assertTrue(t.wait_link(0, 30), t.describe())
        self.assertTrue(wait_for(lambda: all(
            vm.port(p)["link"] == "up" for p in ("g", "h")), 20),
            vm.describe())
        res = exchange(self, VmlinkSwitch(vm), tg, th, sizes=(64, 1518),
                       ports=("g", "h"), seconds=2.0)
        for r in res:
            print("  %s" % r, flush=True)
        # the second agent answers while the first runs testpmd
        _, ps = g.side_agent().run("ps")
        self.assertIn("dpdk-testpmd", ps)
        self.assertEqual(vm.stop(), 0, vm.describe())
        t = vm.stats["totals"]
        self.assertEqual(t["rx_packets"], t["tx_packets"] + t["drops"],
                         vm.stats)

    def test_testpmd_virtio_uio(self):
        self.run_vhost(vfio=False)

    def test_testpmd_virtio_vfio_iommu(self):
        self.run_vhost(vfio=True)


if __name__ == "__main__":
    qemu_guest.unittest_main()
