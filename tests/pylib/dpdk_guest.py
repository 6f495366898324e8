# SPDX-License-Identifier: BSD-3-Clause
"""DPDK test guests (tests/qemu/build-guest --dpdk) and stock dpdk-testpmd
running inside them, driven from the host through the guest agent with
the same Testpmd objects the host-side tests use (python3 stdlib only).

    g = DpdkGuest("a", workdir, devices=[IvshmemDoorbell(qemu_sock)],
                  bind={IVSHMEM_ID: "uio_pci_generic"})
    with g:
        g.wait_ready(120)
        bdf = g.pci(IVSHMEM_ID)[0]
        t = g.testpmd(allow=[bdf + ",mode=poll"], plugins=[GUEST_PMD],
                      args=["--forward-mode=rxonly"])
        t.start(); ...; t.stop()        # exact counters, as on the host

The guest runs one testpmd at a time (its agent's serial port is the
program's terminal)."""

import os
import re

import qemu_guest
from interop_util import GuestCommands
from ivshm_pmd import Testpmd as EventTestpmd
from proc import tail
from vmlink_testlib import BUILD

PMD_SO = "librte_net_vmlink_ivshmem2.so"
# EAL refuses plugins below a world-writable directory: the guest's copy
# lives below 0755 directories only.
GUEST_PMD = "/usr/lib/vmlink/" + PMD_SO
GUEST_TOOL = "/usr/bin/ivshm_guest_tool"

IVSHMEM_ID = "1af4:1110"        # ivshmem-plain and ivshmem-doorbell
VIRTIO_NET_ID = "1af4:1000"     # virtio-net-pci (transitional)

PCI_RE = re.compile(r"^VMLINK-GUEST PCI (\S+) ([0-9a-f]{4}:[0-9a-f]{4}) "
                    r"driver=(\S+)", re.M)

_image = {}


def image():
    """The DPDK guest (built once, cached in $VMLINK_BUILD/qemu-dpdk)."""
    if "img" not in _image:
        _image["img"] = qemu_guest.build_guest(
            os.path.join(os.path.abspath(BUILD), "qemu-dpdk"), dpdk=True)
    return _image["img"]


def build_files():
    """The build artefacts every DPDK guest gets in its initramfs: our
    ivshmem2 PMD and the device-poking tool."""
    files = {GUEST_PMD: os.path.join(BUILD, "drivers", PMD_SO),
             GUEST_TOOL: os.path.join(BUILD, "tests", "interop",
                                      "ivshm_guest_tool")}
    for host in files.values():
        if not os.path.exists(host):
            raise qemu_guest.GuestError("%s not built (ninja -C %s)"
                                        % (host, BUILD))
    return files


class DpdkGuest(qemu_guest.Guest):
    """A DPDK guest: mode dpdk, the agent on ttyS1, hugepages, PCI devices
    bound by vendor:device. vfio=True: q35 with an emulated Intel IOMMU
    (vfio-pci needs one; the guest kernel has no no-IOMMU mode)."""

    def __init__(self, name, workdir, devices=(), nics=(), bind=None,
                 vfio=False, mem_mb=512, hugepages=64, **kw):
        super().__init__(name, image(), workdir, nics=nics, mode="dpdk",
                         devices=devices, machine="q35" if vfio else "pc",
                         iommu=vfio, agent=True, hugepages=hugepages,
                         bind=bind, files=build_files(), mem_mb=mem_mb,
                         **kw)

    def pci(self, dev_id=None):
        """BDFs of the devices /init bound (of vendor:device DEV_ID)."""
        return [m.group(1) for m in PCI_RE.finditer(self.console())
                if dev_id is None or m.group(2) == dev_id]

    def testpmd(self, allow=(), args=(), plugins=(), **kw):
        return GuestTestpmd(self, allow, args, plugins, **kw)


class GuestTestpmd(qemu_guest.GuestProgram, GuestCommands, EventTestpmd):
    """Stock dpdk-testpmd -i in a DpdkGuest: both lcores on the guest's
    one vCPU (the main lcore sleeps in the prompt), PCI devices ALLOW
    (-a, with devargs), PLUGINS loaded with -d. Its terminal output goes
    to WORKDIR/NAME.testpmd.log; link state events are in .events."""

    def __init__(self, guest, allow=(), args=(), plugins=(), mem=64,
                 mbufs=8192, eal=(), timeout=120):
        self.guest = guest
        self.name = guest.name
        self.log_path = os.path.join(guest.workdir,
                                     guest.name + ".testpmd.log")
        e = ["--lcores", "0@0,1@0", "-m", str(mem),
             "--log-level", "lib.eal:notice",
             "--log-level", "pmd.net.vmlink_ivshmem2:info"]
        for a in allow:
            e += ["-a", a]
        super().__init__(guest.agent(), e + list(eal), plugins=plugins,
                         args=["--total-num-mbufs=%d" % mbufs] + list(args),
                         log=self.log_path, timeout=timeout)

    def describe(self):
        return "--- testpmd in guest %s (%s), %s:\n%s" % (
            self.name, "running" if self.p.poll() is None else
            "exit %s" % self.p.returncode, self.log_path,
            tail(self.log_path, 30))
