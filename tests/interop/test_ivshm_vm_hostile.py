#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A hostile VM on an ivshmem2 link. A DPDK test guest (QEMU TCG) has a
stock ivshmem-doorbell device on the ivshmem2-server's QEMU socket, bound
to uio_pci_generic; from inside, ivshm_guest_tool (static, run through the
guest agent) writes its state entry, its own output section and the
doorbell register. vmlink, on the host, is the other peer of that link
('hl', fed by a net_null generator so it has frames in flight), and also
forwards a stock testpmd's frames on a second ivshmem2 link ('good').

The guest brings the link up by the ivshmem-net state machine, then in
turn: an avail index past the ring, a descriptor id, flags, address and
length out of bounds, completions running ahead, naming the wrong
descriptor, with the wrong length, an invalid state. vmlink must count
each exactly once by reason (xstats through telemetry) and reset the link,
and the guest brings it up again. Then state flapping, doorbell storms on
both vectors and three seconds of random garbage. All along 'good' keeps
forwarding, and at the end every frame testpmd sent is accounted for;
nothing the hostile guest wrote was delivered.

Skipped (77) only when QEMU cannot run here."""

import os
import time

import ivshm_util
import qemu_guest
from dpdk_guest import DpdkGuest, IVSHMEM_ID, image
from interop_util import InteropCase
from ivshm_vm import ToolPeer, VEC_RXTX, VEC_STATE
from proc import wait_for
from vmlink_testlib import plugin_path

VIOLATIONS = ["avail_idx", "desc_id", "desc_flags", "desc_addr", "desc_len",
              "used_idx", "used_id", "used_len", "peer_state"]


class HostileGuest(InteropCase):
    PAGES = 300

    @classmethod
    def setUpClass(cls):
        qemu_guest.skip_class_unless_runnable()
        image()

    def server(self, name, *args, qemu=False):
        d = self.path(name)
        os.mkdir(d)
        s = ivshm_util.Server(*args, workdir=d, qemu=qemu)
        self.addCleanup(s.close)
        return s

    def good_moving(self, vm, last):
        """'good' is up and has forwarded since LAST (its rx count)."""
        st = vm.port("good")
        self.assertEqual(st["link"], "up", vm.describe())
        self.assertTrue(wait_for(
            lambda: vm.port("good")["rx_packets"] > last, 10),
            "'good' stalled\n" + vm.describe())
        return vm.port("good")["rx_packets"]

    def test_hostile_guest(self):
        # 4 MiB region (QEMU's BAR2 is a power of two): 2 x 0x1ff000
        s_hl = self.server("hl", "-o", "0x1ff000", qemu=True)
        s_good = self.server("good", "-o", "64K")
        g = DpdkGuest("evil", self.rundir,
                      devices=[qemu_guest.IvshmemDoorbell(s_hl.qsock)],
                      bind={IVSHMEM_ID: "uio_pci_generic"}, hugepages=8,
                      mem_mb=256)
        self.procs.append(g)
        g.start()
        try:
            g.wait_ready(150)
        except qemu_guest.GuestError as e:
            self.fail(str(e))
        vm = self.vmlink(
            "[port gen]\ntype = ethdev\ndevice = net_null0,size=100\n"
            "peer = hl\n"
            "[port hl]\ntype = ivshmem2\npath = %s\npeer = sink\n"
            "[port good]\ntype = ivshmem2\npath = %s\npeer = sink\n"
            "[port sink]\ntype = ethdev\ndevice = net_null1\n"
            "rx-queues = 0\n" % (s_hl.sock, s_good.sock), memory=256)
        vm.wait_up()
        tx = self.guest("tx", "net_vmlink_ivshmem2,server=" + s_good.sock,
                        ["--forward-mode=txonly", "--txpkts=512"],
                        plugins=[plugin_path("librte_net_vmlink_ivshmem2.so")])
        self.assertTrue(tx.wait_link(0, 30), tx.describe())
        tx.start()

        with open(s_hl.shm_path, "r+b") as f:
            hdr = ivshm_util.read_hdr(f.fileno())
        self.assertTrue(hdr["check_ok"], hdr)
        peer = ToolPeer(g, g.pci(IVSHMEM_ID)[0], hdr)
        lay = peer.lay
        n, data = lay["num"], lay["data_off"]

        def xs():
            return vm.xstats("hl")

        def up():
            peer.link_up()
            self.assertTrue(wait_for(lambda: vm.port("hl")["link"] == "up",
                                     20), vm.describe())

        up()
        good = self.good_moving(vm, 0)
        cases = [
            ("avail_idx", lambda: peer.publish(n + 7)),
            ("desc_id", lambda: peer.publish(1, ring0=n)),
            ("desc_flags", lambda: (peer.desc(0, data, 64, flags=1),
                                    peer.publish(1, ring0=0))),
            ("desc_addr", lambda: (peer.desc(0, 64, 64),
                                   peer.publish(1, ring0=0))),
            ("desc_len", lambda: (peer.desc(0, data, lay["length"]),
                                  peer.publish(1, ring0=0))),
            # vmlink's generator keeps its ring full: frames in flight
            ("used_idx", lambda: peer.complete(0x4000)),
            ("used_id", lambda: peer.complete(1, (5, 1))),
            ("used_len", lambda: peer.complete(1, (0, 7))),
            ("peer_state", lambda: peer.set_state(7)),
        ]
        for reason, corrupt in cases:
            before = xs()
            corrupt()
            peer.ring(VEC_RXTX)
            key = "violation_" + reason
            self.assertTrue(wait_for(lambda: xs()[key] > before[key], 20),
                            "%s: not counted\n%s" % (reason, vm.describe()))
            self.assertTrue(wait_for(
                lambda: xs()["link_resets"] > before["link_resets"], 20),
                "%s: no link reset" % reason)
            after = xs()
            for r in VIOLATIONS:
                self.assertEqual(after["violation_" + r] -
                                 before["violation_" + r],
                                 1 if r == reason else 0,
                                 "%s: violation_%s" % (reason, r))
            self.assertEqual(after["rx_frames"], 0, after)
            good = self.good_moving(vm, good)
            up()
        print("9 cases counted exactly by reason, link up again after "
              "each", flush=True)

        # state flapping: RUN and an invalid state, with state doorbells
        before = xs()
        print(peer.tool("flap", 4 * peer.id, 2000, 3, 9, peer.peer).strip(),
              flush=True)
        self.assertTrue(wait_for(lambda: xs()["violation_peer_state"] >
                                 before["violation_peer_state"], 10))
        good = self.good_moving(vm, good)
        # doorbell storms on both of vmlink's vectors
        for vector in (VEC_STATE, VEC_RXTX):
            print(peer.tool("storm", peer.peer, vector, 100000).strip(),
                  flush=True)
            self.assertTrue(vm.alive(), vm.describe())
            good = self.good_moving(vm, good)
        # three seconds of garbage in its own section
        up()
        before = xs()
        print(peer.tool("garbage", peer.section, peer.out_size, 3,
                        int(time.time())).strip(), flush=True)
        peer.ring(VEC_RXTX)
        self.assertTrue(wait_for(lambda: sum(
            xs()["violation_" + r] - before["violation_" + r]
            for r in VIOLATIONS) > 0, 10), "garbage went unnoticed")
        good = self.good_moving(vm, good)
        # it can still come back as a well-behaved peer
        up()
        after = xs()
        self.assertEqual(after["rx_frames"], 0, after)
        self.assertEqual(after["rx_bytes"], 0, after)

        # 'good' never noticed: every frame testpmd sent was forwarded
        sent = tx.stop()[0]["tx"]
        self.assertTrue(wait_for(
            lambda: vm.port("good")["rx_packets"] == sent, 10),
            (vm.port("good")["rx_packets"], sent))
        gx = vm.xstats("good")
        self.assertEqual(gx["link_down"], 0, gx)
        for r in VIOLATIONS:
            self.assertEqual(gx["violation_" + r], 0, r)
        self.assertEqual(vm.stop(), 0, vm.describe())
        st = vm.stats
        self.assertEqual(st["ports"]["good"]["rx_packets"], sent)
        self.assertEqual(st["ports"]["hl"]["rx_packets"], 0)
        t = st["totals"]
        self.assertEqual(t["rx_packets"], t["tx_packets"] + t["drops"], st)
        print("hl: %s" % {k: v for k, v in after.items()
                          if k.startswith(("violation_", "link_"))},
              flush=True)


if __name__ == "__main__":
    qemu_guest.unittest_main()
