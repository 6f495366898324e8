#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""VMs on ivshmem2 links: DPDK test guests (QEMU TCG) with stock
ivshmem-doorbell devices on the ivshmem2-server's QEMU socket, running
stock dpdk-testpmd with vmlink's PMD (-d) on the PCI device.

- guest <-> host: the guest's testpmd and host vmlink's ivshmem2 port
  (cross-connected to a vhost-user port with a host testpmd on
  virtio-user) exchange 64 and 1518-byte frames both ways, counted
  exactly: in poll mode (uio_pci_generic in the guest, vmlink polling),
  then in doorbell mode (vfio-pci behind an emulated IOMMU, MSI-X;
  vmlink with rx-mode = interrupt, woken by the guest's doorbells).
- guest <-> guest: two guests exchange frames through one region while
  no host process touches them (the server only brokered the fds: its
  CPU time does not move during the traffic); every frame one sent the
  other received.
- restart: a guest receiving from host vmlink stops consuming and is
  killed (QEMU SIGKILL): vmlink sees the link go down, counts the frames
  it had in flight as dropped, keeps running; the guest boots again and
  traffic resumes; sent = received + counted drops over the whole run.
- a guest receiver sleeping on its device's interrupt: vmlink in the
  guest (device = the ivshmem-doorbell's PCI address, bound to vfio-pci;
  rx-mode = interrupt: mode=doorbell, rx interrupts on MSI-X vector 1)
  receives bursts from a host peer separated by pauses longer than its
  longest sleep: every frame arrives, every burst is completed within
  its pause, each burst woke it through an interrupt (MSI-X counted in
  the guest), and its CPU time stays far below a poller's.
- the demo with VMs (usertools/vmlink-demo --vm, minus setup): every
  frame VM A sent over its ivshmem2 link is accounted for at VM B, and
  nothing is left behind.

Skipped (77) only when QEMU cannot run here."""

import os
import re
import subprocess
import sys
import time

import ivshm_util
import qemu_guest
from dpdk_guest import DpdkGuest, GuestVmlink, GUEST_PMD, IVSHMEM_ID, image
from interop_util import (InteropCase, VmlinkSwitch, exchange, guest_args,
                          vhost_port, virtio_user_vdev, wait_still)
from proc import cpu_seconds, eal_leftovers, wait_for
from vmlink_testlib import SOURCE

# 4 MiB region (QEMU's BAR2 is a power of two): 2 x 0x1ff000 sections
SECTION = "0x1ff000"


class IvshmVm(InteropCase):
    PAGES = 200

    @classmethod
    def setUpClass(cls):
        qemu_guest.skip_class_unless_runnable()
        image()

    def server(self, *args):
        d = self.path("srv")
        os.makedirs(d, exist_ok=True)
        s = ivshm_util.Server("-o", SECTION, *args, workdir=d, qemu=True)
        self.addCleanup(s.close)
        return s

    def boot(self, name, srv, vfio=False, vmlink=False):
        g = DpdkGuest(name, self.rundir,
                      devices=[qemu_guest.IvshmemDoorbell(srv.qsock)],
                      bind={IVSHMEM_ID: "vfio-pci" if vfio else
                            "uio_pci_generic"}, vfio=vfio, vmlink=vmlink)
        self.procs.append(g)
        self.start_guest(g)
        return g

    def start_guest(self, g):
        g.start()
        try:
            g.wait_ready(150)
        except qemu_guest.GuestError as e:
            self.fail(str(e))

    def guest_testpmd(self, g, mode, args=()):
        bdfs = g.pci(IVSHMEM_ID)
        self.assertEqual(len(bdfs), 1, g.describe())
        t = g.testpmd(allow=["%s,mode=%s" % (bdfs[0], mode)],
                      plugins=[GUEST_PMD], args=list(args))
        self.procs.append(t)
        return t

    # -- guest <-> host ----------------------------------------------------

    def run_guest_host(self, mode):
        srv = self.server()
        vfio = mode == "doorbell"
        g = self.boot("g", srv, vfio=vfio)
        vus = self.path("vu.sock")
        rx_mode = "interrupt" if vfio else "poll"
        vm = self.vmlink(
            "[port link]\ntype = ivshmem2\npath = %s\nrx-mode = %s\n"
            "peer = vu\n" % (srv.sock, rx_mode) +
            vhost_port("vu", vus, "link", rx_mode=rx_mode),
            nice=19)
        vm.wait_up([vus])
        tg = self.guest_testpmd(g, mode)
        th = self.guest("h", virtio_user_vdev(vus), guest_args(jumbo=False))
        for t in (tg, th):
            self.assertTrue(t.wait_link(0, 30), t.describe() +
                            vm.describe())
        self.assertTrue(wait_for(lambda: all(
            vm.port(p)["link"] == "up" for p in ("link", "vu")), 20),
            vm.describe())
        res = exchange(self, VmlinkSwitch(vm), tg, th, sizes=(64, 1518),
                       ports=("link", "vu"), seconds=1.0)
        for r in res:
            print("  %s" % r, flush=True)
        # interrupts the guest kernel took for the device so far
        _, irqs = g.side_agent().run("cat /proc/interrupts")
        gx = tg.xstats(0)
        for side, xs in (("guest", gx), ("vmlink", vm.xstats("link"))):
            for k, v in xs.items():
                if k.startswith("violation_"):
                    self.assertEqual(v, 0, "%s: %s" % (side, k))
        self.assertEqual(vm.stop(), 0, vm.describe())
        t = vm.stats["totals"]
        self.assertEqual(t["rx_packets"], t["tx_packets"] + t["drops"],
                         vm.stats)
        self.assertEqual(tg.quit(), 0, tg.describe())
        return vm, gx, irqs

    def test_guest_host_poll(self):
        vm, gx, irqs = self.run_guest_host("poll")
        self.assertEqual(vm.stats["lcores"]["1"]["wakeups"], 0, vm.stats)
        self.assertNotIn("vfio", irqs)

    def test_guest_host_doorbell(self):
        vm, gx, irqs = self.run_guest_host("doorbell")
        # vmlink slept, and the guest's doorbells (MMIO writes that QEMU
        # turns into eventfd writes) woke it
        self.assertGreater(vm.stats["lcores"]["1"]["wakeups"], 0, vm.stats)
        self.assertGreater(gx["tx_kicks"], 0, gx)
        # the guest got the state changes as MSI-X interrupts (vfio)
        msix = re.findall(r"^\s*\d+:\s+(\d+)\s.*vfio-msix", irqs, re.M)
        self.assertTrue(msix and sum(int(x) for x in msix) > 0, irqs)

    # -- a guest receiver sleeping on MSI-X ----------------------------------

    # bursts of one tx burst each (one doorbell at most), pauses longer
    # than vmlink's longest sleep (100 ms): every burst finds the guest
    # asleep and needs a wake-up
    BURSTS, BURST_FRAMES, PAUSE_MS = 12, 32, 250

    def test_guest_rx_interrupt(self):
        srv = self.server()
        g = self.boot("i", srv, vfio=True, vmlink=True)
        bdfs = g.pci(IVSHMEM_ID)
        self.assertEqual(len(bdfs), 1, g.describe())
        gv = GuestVmlink(g, "[port link]\ntype = ivshmem2\ndevice = %s\n"
                         "rx-mode = interrupt\n" % bdfs[0])
        self.procs.append(gv)
        n = self.BURSTS * self.BURST_FRAMES
        tx = ivshm_util.Peer("rxi-tx", "traffic", "--socket", srv.sock,
                             "--mode", "doorbell", "--count", n,
                             "--gap-every", self.BURST_FRAMES,
                             "--gap-ms", self.PAUSE_MS, "--drain",
                             "--timeout", 60)
        self.addCleanup(tx.cleanup)
        self.wait_link_up(tx, gv)
        cpu0, t0 = gv.cpu_seconds(), time.monotonic()
        self.assertEqual(tx.finish(60), 0, tx.stderr())
        wall = time.monotonic() - t0
        cpu = gv.cpu_seconds() - cpu0
        r = tx.result()
        _, irqs = g.side_agent().run("cat /proc/interrupts")
        self.assertEqual(gv.stop(), 0, gv.describe())
        port = gv.stats["ports"]["link"]
        xs = port["device_xstats"]
        lc = gv.stats["lcores"]["1"]
        # interrupts per MSI-X vector (one vCPU: one count column)
        msix = {int(v): int(c) for c, v in re.findall(
            r"^\s*\d+:\s+(\d+)\s.*vfio-msix\[(\d+)\]", irqs, re.M)}
        msg = ("host sent %d (kicks %d, suppressed %d), groups completed "
               "%d (slowest %.1f ms, late %d); guest vmlink rx %d, "
               "no-route %d, sleeps %d, wakeups %d (arms %d, rechecks %d), "
               "CPU %.2f s of %.2f s, MSI-X %s" % (
                   r["tx_seq"], r["tx_kicks"], r["tx_kicks_suppressed"],
                   r["drains"], r["drain_max_ms"], r["drains_late"],
                   port["rx_packets"], port["drops"]["no_route"],
                   lc["sleeps"], lc["wakeups"], xs["rx_intr_arms"],
                   xs["rx_intr_rechecks"], cpu, wall, msix))
        print("  " + msg, flush=True)
        # exact: all N sent and received, each counted once
        self.assertEqual(r["tx_seq"], n, msg)
        self.assertEqual(r["tx_dropped_peer_gone"], 0, msg)
        self.assertEqual(port["rx_packets"], n, msg)
        self.assertEqual(xs["rx_frames"], n, msg)
        self.assertEqual(port["drops"]["no_route"], n, msg)
        t = gv.stats["totals"]
        self.assertEqual(t["rx_packets"], t["tx_packets"] + t["drops"], msg)
        for k, v in port["malformed"].items():
            self.assertEqual(v, 0, "%s: %s" % (k, msg))
        # no lost wake-up: every burst found the guest armed (one
        # doorbell each), was completed within its pause, and an
        # interrupt, not the sleep's timeout, ended a sleep for it
        self.assertEqual(r["drains"], self.BURSTS, msg)
        self.assertEqual(r["drains_late"], 0, msg)
        self.assertEqual(r["tx_kicks"], self.BURSTS, msg)
        self.assertGreaterEqual(lc["wakeups"], self.BURSTS, msg)
        self.assertGreaterEqual(xs["rx_wakeups"], lc["wakeups"], msg)
        # ... delivered as MSI-X through vfio (vector 0: state changes)
        self.assertEqual(sorted(msix), [0, 1], irqs)
        self.assertGreaterEqual(msix[1], self.BURSTS, irqs)
        # it slept: a poller would use the vCPU the whole time
        self.assertLess(cpu, 0.25 * wall, msg)

    def wait_link_up(self, peer, gv, timeout=60):
        """Until the host PEER (ivshm_util.Peer) reports the link up,
        while vmlink in the guest (GV) runs."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.assertIsNone(gv.exit_status(), gv.describe())
            try:
                if peer.read_event("link", 1)["up"]:
                    return
            except TimeoutError:
                pass
        self.fail("no link within %d s\n%s\n%s" % (timeout, gv.describe(),
                                                   peer.stderr()))

    # -- guest <-> guest -----------------------------------------------------

    def test_guest_to_guest(self):
        srv = self.server()
        ga = self.boot("a", srv)
        gb = self.boot("b", srv)
        ta = self.guest_testpmd(ga, "poll")
        tb = self.guest_testpmd(gb, "poll")
        for t in (ta, tb):
            self.assertTrue(t.wait_link(0, 30), t.describe())
        for size in (64, 1518):
            for tx, rx in ((ta, tb), (tb, ta)):
                self.one_way(srv, tx, rx, size)

    def one_way(self, srv, tx, rx, size, seconds=1.0):
        """TX sends SIZE-byte frames to RX for SECONDS; every frame its
        PMD accepted arrives; the server, the only host process on the
        link, uses no CPU meanwhile."""
        tx.set_fwd("txonly")
        tx.set_size(size)
        rx.set_fwd("rxonly")
        rx0 = rx.port_stats(0)
        rx.start()
        c0 = cpu_seconds(srv.proc.pid)
        tx.start()
        time.sleep(seconds)
        sent = tx.stop()[0]
        wait_for(lambda: rx.rx_packets() - rx0["ipackets"] >= sent["tx"],
                 10, 0.2)
        wait_still(rx.rx_packets, timeout=10, interval=0.3)
        got = rx.stop()[0]
        srv_cpu = cpu_seconds(srv.proc.pid) - c0
        rx_bytes = rx.port_stats(0)["ibytes"] - rx0["ibytes"]
        msg = ("%s -> %s, %d bytes: sent %s, received %s, server CPU %.2f s"
               % (tx.name, rx.name, size, sent, got, srv_cpu))
        print("  " + msg, flush=True)
        self.assertGreater(sent["tx"], 100, msg)
        self.assertEqual(got["rx"], sent["tx"], msg)
        self.assertEqual(rx_bytes, got["rx"] * size, msg)
        self.assertLess(srv_cpu, 0.05, msg)

    # -- restart -------------------------------------------------------------

    def test_guest_killed_and_restarted(self):
        srv = self.server()
        vm = self.vmlink(
            "[port gen]\ntype = ethdev\ndevice = net_null0,size=128\n"
            "peer = link\n"
            "[port link]\ntype = ivshmem2\npath = %s\npeer = gen\n"
            % srv.sock, nice=19)
        vm.wait_up()
        g = self.boot("r", srv)

        def receive(seconds):
            t = self.guest_testpmd(g, "poll", ["--forward-mode=rxonly",
                                               "--no-flush-rx"])
            self.assertTrue(t.wait_link(0, 30), t.describe())
            self.assertTrue(wait_for(lambda: vm.port("link")["link"] ==
                                     "up", 20), vm.describe())
            t.start()
            time.sleep(seconds)
            got = t.stop()[0]["rx"]
            self.assertGreater(got, 100, t.describe())
            # nothing reached the PMD outside the forwarding run
            self.assertEqual(t.port_stats(0)["ipackets"], got)
            return t, got

        t1, rx1 = receive(1.0)
        # it no longer consumes: vmlink fills the ring and keeps trying
        x = vm.xstats("link")
        self.assertTrue(wait_for(lambda: vm.xstats("link")["tx_frames"] >
                                 x["tx_frames"], 5) or
                        vm.xstats("link")["tx_full"] > x["tx_full"])
        g.kill()                                # the whole VM, mid-stream
        self.assertTrue(wait_for(lambda: vm.port("link")["link"] ==
                                 "down", 20), vm.describe())
        self.assertTrue(vm.alive(), vm.describe())
        x = wait_still(lambda: vm.xstats("link")["tx_frames"], 5)
        down = vm.xstats("link")
        self.assertEqual(down["tx_frames"], rx1 +
                         down["tx_dropped_peer_gone"], down)
        self.assertGreater(down["tx_dropped_peer_gone"], 0, down)

        self.start_guest(g)                      # the same VM boots again
        t2, rx2 = receive(1.0)
        self.assertEqual(t2.quit(), 0, t2.describe())
        self.assertTrue(wait_for(lambda: vm.port("link")["link"] ==
                                 "down", 20), vm.describe())
        end = wait_still(lambda: vm.xstats("link")["tx_frames"], 5)
        end = vm.xstats("link")
        self.assertEqual(end["tx_frames"], rx1 + rx2 +
                         end["tx_dropped_peer_gone"], end)
        self.assertEqual(end["link_up"], 2, end)
        print("  rx %d + %d, dropped in flight %d, vmlink sent %d" % (
            rx1, rx2, end["tx_dropped_peer_gone"], end["tx_frames"]),
            flush=True)
        self.assertEqual(vm.stop(), 0, vm.describe())
        self.assertIn("port link link down", vm.text())
        t = vm.stats["totals"]
        self.assertEqual(t["rx_packets"], t["tx_packets"] + t["drops"],
                         vm.stats)


    # -- the demo ------------------------------------------------------------

    def test_demo_vm(self):
        p = subprocess.run(
            [sys.executable, os.path.join(SOURCE, "usertools", "pylib",
                                          "demo.py"), "--vm",
             "--duration", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            universal_newlines=True, timeout=240)
        self.assertEqual(p.returncode, 0, p.stdout[-4000:])
        self.assertIn("vmlink: port vm-a link up", p.stdout)
        m = re.search(r"VM B received\s+(\d+)", p.stdout)
        self.assertIsNotNone(m, p.stdout[-2000:])
        self.assertGreater(int(m.group(1)), 0)
        self.assertRegex(p.stdout, r"sent = received \+ counted drops: "
                                   r"(\d+) = \d+ \+ \d+  OK")
        m = re.search(r"run directory (/run/(vmlink-demo-vm-\S+))", p.stdout)
        self.assertIsNotNone(m, p.stdout[:2000])
        self.assertFalse(os.path.exists(m.group(1)),
                         "run directory left behind")
        self.assertEqual(eal_leftovers(m.group(2)), [],
                         "EAL files left behind")


if __name__ == "__main__":
    qemu_guest.unittest_main()
