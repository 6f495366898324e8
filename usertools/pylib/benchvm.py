# SPDX-License-Identifier: BSD-3-Clause
"""VM rows of vmlink-bench-ivshmem: QEMU guests under TCG (the DPDK test
guest, tests/qemu/build-guest --dpdk) running stock dpdk-testpmd, each
with two PCI devices bound to uio_pci_generic: an ivshmem-doorbell device
on an ivshmem2 link (vmlink's PMD, poll mode) and a virtio-net NIC over
vhost-user (DPDK's virtio PMD). The same guests measure both, so the two
columns differ by the path only:

  guest -> host, host -> guest: the host end is one stock testpmd with
      both of vmlink's PMDs (net_vmlink_ivshmem2 on the server's socket,
      net_vmlink_vhost as the NIC's back-end); "set portlist" picks the
      path.
  guest -> guest: two guests. ivshmem2: straight through their region,
      no host process on the data path. vhost-user: through vmlink (two
      vhost-user ports cross-connected, rx-mode = interrupt so it sleeps
      while the ivshmem2 rows run), the host switch vhost-user needs.

The guests' CPUs are emulated (TCG, one vCPU each): the rates say how the
two paths compare on the same guests, nothing about KVM guests."""

import os
import re
import sys
import time

from benchlib import BUILD, TOP, Run, measure_rate, plugin, wait_path
from proc import stop

sys.path.insert(0, os.path.join(TOP, "tests", "pylib"))
import dpdk_guest  # noqa: E402
import qemu_guest  # noqa: E402

SECTION = "0x1ff000"    # 2 sections + state table = 4 MiB (QEMU's BAR2)
IVSHMEM_ADDR = 4


def unavailable():
    """None, or why the VM rows cannot run here."""
    return qemu_guest.qemu_unavailable_reason()


def start_server(run, name):
    """An ivshmem2-server with a QEMU socket: (host socket, QEMU socket)."""
    sock = os.path.join(run.dir, name + ".sock")
    qsock = os.path.join(run.dir, name + "-qemu.sock")
    run.spawn("server-" + name, [
        os.path.join(BUILD, "app", "ivshmem2-server"), "-F", "--force",
        "-S", sock, "-Q", qsock, "-m", "/vmlb-%s-%d" % (name, os.getpid()),
        "-o", SECTION])
    if not (wait_path(sock, 10) and wait_path(qsock, 10)):
        raise RuntimeError("ivshmem2-server did not start")
    return sock, qsock


class Vm:
    """A DPDK guest with its ivshmem2 device and virtio-net NIC, and the
    testpmd inside it; ports["ivshmem2"], ports["vhost-user"] are its
    testpmd port ids."""

    def __init__(self, run, name, qsock, vhost_sock):
        self.guest = dpdk_guest.DpdkGuest(
            name, run.dir,
            devices=[qemu_guest.IvshmemDoorbell(qsock, addr=IVSHMEM_ADDR)],
            nics=[qemu_guest.VhostUserNic(vhost_sock)],
            bind={dpdk_guest.IVSHMEM_ID: "uio_pci_generic",
                  dpdk_guest.VIRTIO_NET_ID: "uio_pci_generic"})
        run.guests.append(self.guest)
        self.guest.start()
        self.guest.wait_ready(180)
        ivs = self.guest.pci(dpdk_guest.IVSHMEM_ID)
        nic = self.guest.pci(dpdk_guest.VIRTIO_NET_ID)
        self.testpmd = self.guest.testpmd(
            allow=[ivs[0] + ",mode=poll", nic[0]],
            plugins=[dpdk_guest.GUEST_PMD], args=["--rxd=256", "--txd=256"])
        run.pmds.append(self.testpmd)
        self.ports = port_ids(self.testpmd, {
            "net_vmlink_ivshmem2": "ivshmem2", "net_virtio": "vhost-user"})


def port_ids(t, drivers):
    """{label: port id} from testpmd's port summary (DRIVERS: driver
    name -> label)."""
    out = t.cmd_("show port summary all")
    ids = {}
    for m in re.finditer(r"^(\d+)\s+\S+\s+\S+\s+(\S+)", out, re.M):
        if m.group(2) in drivers:
            ids[drivers[m.group(2)]] = int(m.group(1))
    if len(ids) != len(drivers):
        raise RuntimeError("ports %s, expected drivers %s:\n%s"
                           % (ids, list(drivers), out))
    return ids


class VmRun(Run):
    """Run, plus the QEMU guests it started (killed on leaving, after the
    testpmd inside each was asked to quit)."""

    def __init__(self, tag="vm"):
        super().__init__(tag)
        self.guests = []

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            for g in self.guests:
                g.kill()


def flow(tx, tx_port, rx, rx_port, size, seconds):
    """TX sends SIZE-byte frames on TX_PORT only, RX receives on RX_PORT
    only: RX's rate (frames/s)."""
    for t, port, mode in ((rx, rx_port, "rxonly"), (tx, tx_port, "txonly")):
        t.cmd_("set portlist %d" % port)
        t.cmd_("set fwd %s" % mode)
    tx.cmd_("set txpkts %d" % size)
    rx.start()
    tx.start()
    try:
        def totals():
            s = rx.port_stats(rx_port)
            return s["ipackets"], s["ibytes"]
        return measure_rate(totals, seconds, size)
    finally:
        tx.stop()
        rx.stop()


PATHS = ("ivshmem2", "vhost-user")


def best_of_both(fn, repeat):
    """FN(path) for each of PATHS, REPEAT times, alternating the two
    paths (a busy moment of the machine hits both alike): the best rate
    of each, NaN for a path whose every measurement failed."""
    vals = {k: [] for k in PATHS}
    for _ in range(repeat):
        for k in PATHS:
            try:
                vals[k].append(fn(k))
            except Exception as e:  # noqa: BLE001 (report, go on)
                print("  %s measurement failed: %s" % (k, e),
                      file=sys.stderr)
    return {k: max(v) if v else float("nan") for k, v in vals.items()}


def host_rows(sizes, seconds, repeat):
    """guest -> host and host -> guest, ivshmem2 and vhost-user."""
    rows = []
    with VmRun("vmhost") as run:
        sock, qsock = start_server(run, "h")
        vsock = os.path.join(run.dir, "vhost.sock")
        host = run.testpmd(
            "host", 1, eal_extra=["--single-file-segments"],
            vdevs=["net_vmlink_ivshmem2,server=%s" % sock,
                   "net_vmlink_vhost0,path=%s" % vsock],
            plugins=[plugin("librte_net_vmlink_ivshmem2.so"),
                     plugin("librte_net_vmlink_vhost.so")],
            args=["--rxd=256", "--txd=256"])
        hp = {"ivshmem2": 0, "vhost-user": 1}
        vm = Vm(run, "a", qsock, vsock)
        for t, p in ((host, 0), (host, 1), (vm.testpmd, 0),
                     (vm.testpmd, 1)):
            if not t.wait_link(p, 60):
                raise RuntimeError("link of port %d down" % p)
        for size in sizes:
            for case, tx, tp, rx, rp in (
                    ("guest->host", vm.testpmd, vm.ports, host, hp),
                    ("host->guest", host, hp, vm.testpmd, vm.ports)):
                r = best_of_both(lambda k: flow(tx, tp[k], rx, rp[k],
                                                size, seconds), repeat)
                rows.append((case, size, r["ivshmem2"], r["vhost-user"]))
                print_row(rows[-1])
    return rows


VMLINK_INI = """[eal]
lcores = 0-1
file-prefix = %(prefix)s
memory = 512
[vmlink]
stats-interval = 0
[port a]
type = vhost-user
path = %(a)s
rx-mode = interrupt
peer = b
[port b]
type = vhost-user
path = %(b)s
rx-mode = interrupt
peer = a
"""


def guest_rows(sizes, seconds, repeat):
    """guest -> guest, ivshmem2 (direct) and vhost-user (through
    vmlink)."""
    rows = []
    with VmRun("vmvm") as run:
        _, qsock = start_server(run, "g")
        socks = {n: os.path.join(run.dir, "vm-%s.sock" % n) for n in "ab"}
        ini = os.path.join(run.dir, "vmlink.ini")
        with open(ini, "w") as f:
            f.write(VMLINK_INI % dict(prefix=run.prefix("vml"), **socks))
        vml = run.spawn("vmlink", [os.path.join(BUILD, "app", "vmlink"),
                                   "-c", ini])
        if not all(wait_path(s, 20) for s in socks.values()):
            stop(vml)
            raise RuntimeError("vmlink did not start")
        a = Vm(run, "a", qsock, socks["a"])
        b = Vm(run, "b", qsock, socks["b"])
        for vm in (a, b):
            for p in vm.ports.values():
                if not vm.testpmd.wait_link(p, 60):
                    raise RuntimeError("guest %s: port %d down"
                                       % (vm.guest.name, p))
        for size in sizes:
            r = best_of_both(lambda k: flow(a.testpmd, a.ports[k],
                                            b.testpmd, b.ports[k], size,
                                            seconds), repeat)
            rows.append(("guest->guest", size, r["ivshmem2"],
                         r["vhost-user"]))
            print_row(rows[-1])
    return rows


def print_row(row):
    case, size, a, b = row
    print("  %s %d B: ivshmem2 %.3f Mpps, vhost-user %.3f Mpps" % (
        case, size, a / 1e6, b / 1e6), file=sys.stderr, flush=True)


def vm_rows(sizes, seconds, repeat):
    """Every VM row: (case, size, ivshmem2 frames/s, vhost-user frames/s);
    a family that failed is reported and left out."""
    dpdk_guest.image()
    rows = []
    for family in (host_rows, guest_rows):
        t0 = time.time()
        try:
            rows += family(sizes, seconds, repeat)
        except Exception as e:  # noqa: BLE001 (report, go on)
            print("  %s failed: %s" % (family.__name__, e), file=sys.stderr)
        print("  (%s: %.0f s)" % (family.__name__, time.time() - t0),
              file=sys.stderr, flush=True)
    return rows
