# SPDX-License-Identifier: BSD-3-Clause
"""vmlink demo with real VMs (usertools/vmlink-demo --vm).

Two QEMU guests (TCG; the DPDK test guest that tests/qemu/build-guest
--dpdk builds from the host's Debian kernel package and DPDK runtime):

  VM A: an ivshmem-doorbell device on the ivshmem2-server's QEMU socket,
        bound to uio_pci_generic; stock dpdk-testpmd inside loads
        vmlink's PMD (-d) on the PCI device and sends.
  VM B: a virtio-net NIC on vmlink's vhost-user socket, bound to
        uio_pci_generic; stock dpdk-testpmd inside (DPDK's virtio PMD)
        receives.

vmlink (config/demo-vm.ini) is VM A's peer on the ivshmem v2 link and
VM B's vhost-user back-end, and forwards between them with live stats.
At the end every frame VM A sent is accounted for: received by VM B or
counted as a drop. The run directory holds the QEMU command lines
(NAME.qemu.log), the consoles and each guest's testpmd output."""

import os
import signal
import sys
import tempfile
import time

from benchlib import BUILD, TOP
from demo import (demo_config, say, start_server, start_vmlink,
                  stop_vmlink, summary, undeliverable, wait_quiet)
from proc import cleanup_prefix, stop

sys.path.insert(0, os.path.join(TOP, "tests", "pylib"))
import dpdk_guest  # noqa: E402
import qemu_guest  # noqa: E402

DEMO_VM_INI = os.path.join(TOP, "config", "demo-vm.ini")
SECTION = "0x1ff000"    # 2 sections + state table = 4 MiB, QEMU's BAR2


def boot(name, workdir, **kw):
    g = dpdk_guest.DpdkGuest(name, workdir, **kw)
    g.start()
    return g


def main(args):
    why = qemu_guest.qemu_unavailable_reason()
    if why:
        print("vmlink-demo --vm: QEMU cannot run here: %s" % why,
              file=sys.stderr)
        return 1
    say("the DPDK test guest: Debian cloud kernel + the host's DPDK "
        "runtime (built once into %s/qemu-dpdk)" % BUILD)
    dpdk_guest.image()

    run = tempfile.mkdtemp(prefix="vmlink-demo-vm-", dir="/run")
    os.chmod(run, 0o755)
    prefix = os.path.basename(run)
    procs, guests, pmds = [], [], []
    ok = False

    def shutdown():
        for t in pmds:
            t.kill()
        for g in guests:
            g.kill()
        for p in procs:
            stop(p, signal.SIGTERM, 10)
        cleanup_prefix(prefix)

    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    qemu_guest.install_signal_cleanup()
    say("run directory %s" % run)
    try:
        ini = demo_config(run, prefix, DEMO_VM_INI)
        qsock = run + "/ivshmem2-qemu.sock"
        start_server(run, procs, "/" + prefix, SECTION, qemu_socket=qsock)
        vmlink = start_vmlink(run, procs, ini)

        say("booting VM A (ivshmem-doorbell on %s) and VM B (virtio-net "
            "on vm-b.sock), QEMU TCG" % qsock)
        vm_a = boot("vm-a", run, devices=[qemu_guest.IvshmemDoorbell(qsock)],
                    bind={dpdk_guest.IVSHMEM_ID: "uio_pci_generic"})
        guests.append(vm_a)
        vm_b = boot("vm-b", run, nics=[qemu_guest.VhostUserNic(
            run + "/vm-b.sock")],
                    bind={dpdk_guest.VIRTIO_NET_ID: "uio_pci_generic"})
        guests.append(vm_b)
        for g in guests:
            g.wait_ready(180)
        say("VM A's QEMU has: %s (all of it in %s)" % (
            " ".join(qemu_guest.IvshmemDoorbell(qsock).qemu_args(0)),
            vm_a.stderr_path))
        bdf_a = vm_a.pci(dpdk_guest.IVSHMEM_ID)[0]
        bdf_b = vm_b.pci(dpdk_guest.VIRTIO_NET_ID)[0]
        say("VM A: dpdk-testpmd -d %s -a %s,mode=poll (%s bound to "
            "uio_pci_generic), sending %d-byte frames" % (
                dpdk_guest.GUEST_PMD, bdf_a, bdf_a, args.size))
        tx = vm_a.testpmd(allow=[bdf_a + ",mode=poll"],
                          plugins=[dpdk_guest.GUEST_PMD],
                          args=["--forward-mode=txonly",
                                "--txpkts=%d" % args.size])
        pmds.append(tx)
        say("VM B: dpdk-testpmd -a %s (virtio-net, uio_pci_generic), "
            "receiving" % bdf_b)
        rx = vm_b.testpmd(allow=[bdf_b], args=["--forward-mode=rxonly",
                                              "--rxd=256", "--txd=256"])
        pmds.append(rx)
        for name, t in (("VM A", tx), ("VM B", rx)):
            if not t.wait_link(0, 60):
                raise RuntimeError("%s: link did not come up" % name)
        rx.start()
        tx.start()
        time.sleep(args.duration)
        sent = tx.stop()[0]
        wait_quiet(prefix, ["vm-a", "vm-b"])
        received = rx.stop()[0]
        guest_drops = undeliverable(prefix, "vm-b")
        for t in (tx, rx):
            t.quit()
        pmds.clear()
        st = stop_vmlink(vmlink, run)
    except (RuntimeError, OSError, qemu_guest.GuestError) as e:
        print("vmlink-demo --vm: FAILED: %s" % e, file=sys.stderr)
        print("logs: %s" % run, file=sys.stderr)
        return 1
    finally:
        shutdown()

    drops = st["totals"]["drops"]
    ok = summary("%d-byte frames, %d s; the guests' CPUs are emulated" % (
        args.size, args.duration), [
        ("VM A sent (ivshmem v2)", sent["tx"]),
        ("vmlink received from VM A", st["ports"]["vm-a"]["rx_packets"]),
        ("vmlink sent to VM B (vhost-user)",
         st["ports"]["vm-b"]["tx_packets"]),
        ("VM B received", received["rx"]),
        ("vmlink drops (tx-full/no-route)", drops),
        ("undeliverable to VM B", guest_drops)],
        sent["tx"], received["rx"], drops + guest_drops, run, args.keep)
    return 0 if ok else 1
