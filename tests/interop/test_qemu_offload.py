#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Two QEMU Linux guests (TCG, tests/qemu/build-guest) move a 4 MiB TCP
stream through vmlink (busybox nc, guest a -> guest b) and compare its
md5 at both ends.

- Both guests negotiate the offloads (QEMU's virtio-net defaults): the
  virtio feature bits the guest kernel shows in sysfs include CSUM,
  GUEST_CSUM, GUEST_TSO4 and HOST_TSO4; guest a's kernel sends TSO frames,
  and vmlink moves them to guest b whole: it takes far fewer frames than
  MTU-sized segments would be (4 MiB / 1448 bytes), and completes nothing
  in software.
- Guest b without offloads (csum, guest_csum, guest_tso4/6 off on its
  NIC, and no mergeable rx buffers: its driver posts MTU-sized buffers,
  so a frame longer than the MTU cannot reach it whole): the same stream
  arrives intact, cut into MSS-sized frames with their checksums by the
  vhost-user library on the way into guest b. Guest b's kernel verified
  every checksum (no TCP or IPv4 checksum errors), vmlink's library
  dropped nothing, and the bytes add up exactly: guest b received what
  vmlink handed port b plus one 66-byte header (Ethernet, IPv4, TCP with
  timestamps) for every frame segmentation added.
Skipped, with the reason, only when QEMU cannot run here."""

import re

import qemu_guest
from interop_util import QemuLinuxCase, vhost_port

SIZE = 4 * 1024 * 1024
FEATURES_RE = re.compile(r"^VMLINK-GUEST FEATURES ([01]+)", re.M)
SENT_RE = re.compile(r"^VMLINK-TCP (SENT bytes=(\d+) md5=(\w+)|FAIL.*)$",
                     re.M)
RECV_RE = re.compile(r"^VMLINK-TCP RECV bytes=(\d+) md5=(\w+)", re.M)
STATS_RE = re.compile(r"^VMLINK-GUEST STATS (.*)$", re.M)
# virtio-net feature bits
CSUM, GUEST_CSUM, GUEST_TSO4, HOST_TSO4 = 0, 1, 7, 11
NO_OFFLOADS = ("csum=off,guest_csum=off,guest_tso4=off,guest_tso6=off,"
               "host_tso4=off,host_tso6=off,mrg_rxbuf=off")
MSS = 1448          # MTU 1500, TCP timestamps on
TSO_HDR = 66        # Ethernet 14 + IPv4 20 + TCP 32 of guest a's TSO frames


def features(guest):
    m = FEATURES_RE.search(guest.console())
    return m.group(1) if m else ""


def guest_stats(guest):
    """The counters of guest's last STATS line, as ints."""
    m = None
    for m in STATS_RE.finditer(guest.console()):
        pass
    if m is None:
        return {}
    return {k: int(v) for k, v in
            (f.split("=", 1) for f in m.group(1).split())}


class QemuTcpOffloads(QemuLinuxCase):

    def stream(self, b_props):
        a, b = self.path("a.sock"), self.path("b.sock")
        vm = self.vmlink(vhost_port("a", a, "b") + vhost_port("b", b, "a"),
                         nice=19)
        vm.wait_up([a, b])
        ga = qemu_guest.Guest(
            "a", self.image, self.rundir, ip="10.0.0.1/24", peer="10.0.0.2",
            mode="tcp-send", size=SIZE,
            nics=[qemu_guest.VhostUserNic(a, mac="52:54:00:00:00:0a")])
        gb = qemu_guest.Guest(
            "b", self.image, self.rundir, ip="10.0.0.2/24", mode="tcp-recv",
            nics=[qemu_guest.VhostUserNic(b, mac="52:54:00:00:00:0b",
                                          props=b_props)])
        with ga, gb:
            try:
                ga.wait_ready(150)
                gb.wait_ready(150)
                sent = ga.wait_for(SENT_RE, 240)
                recv = gb.wait_for(RECV_RE, 60)
            except qemu_guest.GuestError as e:
                self.fail("%s\n%s\n%s" % (e, gb.describe(), vm.describe()))
            self.assertIsNotNone(sent.group(2), ga.describe())
            self.assertEqual(int(sent.group(2)), SIZE, ga.describe())
            self.assertEqual((int(recv.group(1)), recv.group(2)),
                             (SIZE, sent.group(3)),
                             "the stream arrived changed\n" +
                             ga.describe() + gb.describe())
            fa, fb = features(ga), features(gb)
            st = vm.wait_quiet(["a", "b"])
            gb.wait_for(STATS_RE, 30)
            self.b_stats = guest_stats(gb)
        self.assertEqual(vm.stop(), 0, vm.describe())
        self.vm_stats = vm.stats
        for p in ("a", "b"):
            self.assertEqual(vm.stats["ports"][p]["sw_offload"], {
                "csum": 0, "gso_frames": 0, "gso_segments": 0}, vm.stats)
            d = vm.stats["ports"][p]["drops"]
            # a TSO frame cut for a guest takes ~45 of its buffers at
            # once: a full ring refuses it (a counted tx-full drop; TCP
            # sends it again); nothing else may be lost
            self.assertEqual(d["no_route"] + d["offload"], 0, vm.stats)
        t = vm.stats["totals"]
        self.assertEqual(t["rx_packets"], t["tx_packets"] + t["drops"])
        return fa, fb, st

    def test_tso_frames_cross_whole(self):
        fa, fb, st = self.stream("")
        for name, f in (("a", fa), ("b", fb)):
            for bit in (CSUM, GUEST_CSUM, GUEST_TSO4, HOST_TSO4):
                self.assertEqual(f[bit:bit + 1], "1",
                                 "guest %s: feature bit %d off: %s" % (
                                     name, bit, f))
        # frames larger than the MTU crossed as single frames: guest a's
        # data frames are TSO frames, so far fewer than MSS-sized ones
        a = st["a"]
        self.assertGreater(a["rx_bytes"], SIZE, st)
        self.assertLess(a["rx_packets"], SIZE // 1448 // 2, st)
        print("guest a -> vmlink: %d frames, %d bytes (%.0f bytes/frame)"
              % (a["rx_packets"], a["rx_bytes"],
                 a["rx_bytes"] / a["rx_packets"]), flush=True)

    def test_guest_without_offloads(self):
        fa, fb, st = self.stream(NO_OFFLOADS)
        for bit in (CSUM, GUEST_CSUM, GUEST_TSO4, HOST_TSO4):
            self.assertEqual(fa[bit:bit + 1], "1", fa)
            self.assertEqual(fb[bit:bit + 1], "0", fb)
        gs = self.b_stats
        b = self.vm_stats["ports"]["b"]     # final: all it delivered
        q = b["queues"]["tx"]["0"]
        print("vmlink -> port b: %d frames, %d bytes; guest b received "
              "%d frames, %d bytes" % (b["tx_packets"], b["tx_bytes"],
                                       gs.get("rx_packets", -1),
                                       gs.get("rx_bytes", -1)), flush=True)
        # guest a's TSO frames crossed vmlink whole
        self.assertLess(st["a"]["rx_packets"], SIZE // MSS // 2, st)
        # checksums completed: guest b's kernel checked every one
        self.assertEqual((gs["tcp_csum_errors"], gs["ip_hdr_errors"],
                          gs["rx_errors"]), (0, 0, 0), gs)
        # frames <= MTU: guest b's buffers hold no more, and the library
        # dropped no frame (none was too long for them)
        self.assertEqual(q["drops"], 0, q)
        self.assertEqual(q["packets"], b["tx_packets"], q)
        # the stream needs at least SIZE / MSS frames: they were cut
        self.assertGreaterEqual(gs["rx_packets"], SIZE // MSS, gs)
        # bytes exact: what vmlink handed port b, plus one header for
        # every frame segmentation added
        added = gs["rx_packets"] - b["tx_packets"]
        self.assertEqual(gs["rx_bytes"], b["tx_bytes"] + added * TSO_HDR,
                         (gs, b))


if __name__ == "__main__":
    qemu_guest.unittest_main()
