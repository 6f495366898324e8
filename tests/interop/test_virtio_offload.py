#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Checksum and TSO offloads through vmlink, with stock dpdk-testpmd:

    in.pcap -> [testpmd A: net_pcap -> csum engine -> net_virtio_user]
            -> vmlink port a -> port b / gen -> ...

testpmd A reads 40 TCP/IPv4 frames of 4000 payload bytes from a pcap file
and sends them on its virtio-user port with its `csum` forwarding engine:
TCP checksum in hardware and TSO at an MSS of 1000 (`tso set`), so vmlink
gets 4054-byte frames asking for both (virtio-net header: NEEDS_CSUM,
GSO_TCPV4). Then, where they go:

- to a net_pcap port (no offloads): vmlink segments and checksums them in
  software; the pcap holds 160 frames of at most 1000 payload bytes, each
  with valid IPv4 and TCP checksums, carrying the original bytes in order;
  vmlink counts 40 TSO frames segmented into 160;
- to testpmd B whose virtio-user port enabled LRO and rx checksums (it
  negotiates GUEST_CSUM and GUEST_TSO4): 40 frames of 4054 bytes arrive,
  each whole (vmlink moved them untouched, segmenting nothing);
- to testpmd B without them (no GUEST_ offloads negotiated): the vhost-user
  library cuts them into 160 frames of at most 1054 bytes.
Every frame is accounted for exactly at both ends."""

import struct
import unittest

from interop_util import (InteropCase, Guest, guest_args, vhost_port,
                          virtio_user_vdev)
from proc import wait_for
from vmlink_testlib import read_pcap, unique_prefix, write_pcap

FRAMES = 40
PAYLOAD = 4000
MSS = 1000
SEQ0 = 0x01000000
# RTE_ETH_RX_OFFLOAD_* bits (rte_ethdev.h)
RX_TCP_CKSUM, RX_TCP_LRO, RX_SCATTER = 0x8, 0x10, 0x2000


def csum16(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s


def payload_bytes(off, n):
    return bytes((i * 7 + 3) & 0xff for i in range(off, off + n))


def tcp_frame(i):
    """Frame I of the stream: Ethernet, IPv4, TCP (ACK|PSH), checksums
    valid, payload bytes i*PAYLOAD .. of one long sequence."""
    payload = payload_bytes(i * PAYLOAD, PAYLOAD)
    src, dst = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    seq = SEQ0 + i * PAYLOAD
    tcp = struct.pack("!HHIIBBHHH", 40000, 5001, seq, 1, 5 << 4, 0x18,
                      65535, 0, 0)
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp) + len(payload))
    c = 0xffff - csum16(pseudo + tcp + payload)
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload),
                     i, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", 0xffff - csum16(ip)) + ip[12:]
    eth = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00"
    return eth + ip + tcp + payload


def check_segments(tc, frames):
    """FRAMES are the stream cut into MSS-sized TCP frames: checksums
    valid, lengths consistent, payload the original bytes, in order."""
    want_seq = SEQ0
    for k, f in enumerate(frames):
        ip = f[14:34]
        tc.assertEqual(csum16(ip), 0xffff, "frame %d: IPv4 checksum" % k)
        total = struct.unpack("!H", ip[2:4])[0]
        tc.assertEqual(total, len(f) - 14, "frame %d: IP length" % k)
        tcp = f[34:]
        pseudo = ip[12:20] + struct.pack("!BBH", 0, 6, len(tcp))
        tc.assertEqual(csum16(pseudo + tcp), 0xffff,
                       "frame %d: TCP checksum" % k)
        seq = struct.unpack("!I", tcp[4:8])[0]
        tc.assertEqual(seq, want_seq, "frame %d: sequence" % k)
        data = tcp[20:]
        tc.assertLessEqual(len(data), MSS, "frame %d: larger than MSS" % k)
        tc.assertEqual(data, payload_bytes(seq - SEQ0, len(data)),
                       "frame %d: payload" % k)
        want_seq += len(data)
    tc.assertEqual(want_seq - SEQ0, FRAMES * PAYLOAD, "stream incomplete")


class OffloadsThroughVmlink(InteropCase):

    def sender(self, sock):
        """testpmd A: net_pcap port 0 (the stream) -> csum engine ->
        virtio-user port 1, TCP checksum offloaded and TSO at MSS."""
        inp = self.path("in.pcap")
        write_pcap(inp, [tcp_frame(i) for i in range(FRAMES)])
        pre = unique_prefix("A")
        self.prefixes.append(pre)
        a = Guest(self.rundir, "A",
                  ["net_pcap0,rx_pcap=%s,tx_pcap=%s" % (
                      inp, self.path("a_back.pcap")),
                   virtio_user_vdev(sock, 1, 0, index=1)],
                  # net_pcap cannot scatter: 9 KiB mbufs instead; the
                  # pcap is read once, so testpmd must not flush (drop)
                  # what its rx queues hold when forwarding starts
                  guest_args(0) + ["--no-flush-rx"], prefix=pre)
        self.procs.append(a)
        self.assertTrue(a.wait_link(1, 30), a.describe())
        for line in ("port stop 1", "csum set ip sw 1", "csum set tcp hw 1",
                     "tso set %d 1" % MSS, "port start 1"):
            out = a.cmd_(line)
            self.assertNotIn("not supported", out, line + ": " + out)
            self.assertNotIn("rror", out, line + ": " + out)
        out = a.cmd_("show port 1 tx_offload configuration")
        self.assertIn("TCP_TSO", out, out)
        self.assertIn("TCP_CKSUM", out, out)
        self.assertTrue(a.wait_link(1, 30), a.describe())
        a.set_fwd("csum")
        return a

    def run_stream(self, a):
        a.start()
        self.assertTrue(wait_for(lambda: a.port_stats(1).get(
            "opackets", 0) >= FRAMES, 20), a.describe())
        st = a.stop()
        self.assertEqual(a.port_stats(0)["ipackets"], FRAMES, a.describe())
        self.assertEqual(a.port_stats(1)["opackets"], FRAMES, a.describe())
        return st

    def test_to_ethdev_completed_in_software(self):
        sock = self.path("a.sock")
        out = self.path("out.pcap")
        vm = self.vmlink(
            vhost_port("a", sock, "gen") +
            "[port gen]\ntype = ethdev\ndevice = net_pcap_g,tx_pcap=%s\n"
            "rx-queues = 0\n" % out)
        vm.wait_up([sock])
        a = self.sender(sock)
        self.run_stream(a)
        self.assertTrue(wait_for(lambda: vm.port("gen")["tx_packets"] >=
                                 FRAMES * PAYLOAD // MSS, 10), vm.describe())
        gen = vm.wait_quiet(["a", "gen"])["gen"]
        self.assertEqual(a.quit(), 0, a.describe())
        self.assertEqual(vm.stop(), 0, vm.describe())
        check_segments(self, read_pcap(out))
        st = vm.stats["ports"]
        self.assertEqual(st["a"]["rx_packets"], FRAMES, st)
        self.assertEqual(st["gen"]["sw_offload"], {
            "csum": FRAMES * PAYLOAD // MSS, "gso_frames": FRAMES,
            "gso_segments": FRAMES * PAYLOAD // MSS}, st)
        self.assertEqual(st["gen"]["tx_packets"], FRAMES * PAYLOAD // MSS)
        self.assertEqual(gen["drops"]["offload"], 0)
        self.assertEqual(vm.stats["totals"]["segments_added"],
                         FRAMES * (PAYLOAD // MSS - 1))

    def to_guest(self, offloads):
        a_sock, b_sock = self.path("a.sock"), self.path("b.sock")
        vm = self.vmlink(vhost_port("a", a_sock, "b") +
                         vhost_port("b", b_sock, "a"))
        vm.wait_up([a_sock, b_sock])
        args = guest_args(1)
        if offloads:
            # LRO and TCP checksum (virtio has no IPv4 checksum offload,
            # which --enable-rx-cksum would ask for); scatter as before
            args += ["--rx-offloads=0x%x" % (RX_TCP_CKSUM | RX_TCP_LRO |
                                              RX_SCATTER)]
        b = self.guest("B", virtio_user_vdev(b_sock, 1, 0), args)
        self.assertTrue(b.wait_link(0, 30), b.describe())
        b.set_fwd("rxonly")
        b.start()
        a = self.sender(a_sock)
        self.run_stream(a)
        want = FRAMES if offloads else FRAMES * PAYLOAD // MSS
        self.assertTrue(wait_for(lambda: b.rx_packets() >= want, 10),
                        b.describe() + vm.describe())
        vm.wait_quiet(["a", "b"])
        bs = b.port_stats(0)
        self.assertEqual(bs["ipackets"], want, bs)
        # whole frames (4054 bytes), or 1054-byte segments
        self.assertEqual(bs["ibytes"], FRAMES * PAYLOAD + want * 54, bs)
        for g in (a, b):
            self.assertEqual(g.quit(), 0, g.describe())
        self.assertEqual(vm.stop(), 0, vm.describe())
        st = vm.stats["ports"]
        self.assertEqual(st["a"]["rx_packets"], FRAMES, st)
        self.assertEqual(st["b"]["tx_packets"], FRAMES, st)
        # vmlink itself completed nothing: the frames went on as they
        # were (to B with offloads: and arrived so)
        for p in ("a", "b"):
            self.assertEqual(st[p]["sw_offload"], {
                "csum": 0, "gso_frames": 0, "gso_segments": 0}, st)
            self.assertEqual(sum(st[p]["drops"].values()), 0, st)

    def test_to_guest_with_offloads_whole(self):
        self.to_guest(True)

    def test_to_guest_without_offloads_segmented(self):
        self.to_guest(False)


if __name__ == "__main__":
    unittest.main(verbosity=2)
