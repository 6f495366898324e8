#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A vhost-user front-end whose memory table vmlink cannot use: the link
stays down, and vmlink says why. A raw front-end (a few vhost-user
messages from Python) starts queue pair 0 after a refused SET_MEM_TABLE
(9 regions: more than vhost-user carries) or after none at all, or leaves
after negotiating features without sending one (what a DPDK virtio-user
without --single-file-segments does: it gives up on its 256 regions)."""

import array
import os
import socket
import struct
import time
import unittest

from proc import stop, wait_for
from vmlink_testlib import VmlinkTestCase, eal_section

GET_FEATURES, SET_FEATURES, SET_OWNER, SET_MEM_TABLE = 1, 2, 3, 5
SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE, SET_VRING_KICK = 8, 9, 10, 12
VIRTIO_F_VERSION_1 = 1 << 32


class FrontEnd:
    """Just enough of a vhost-user front-end to start a queue pair."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(5)
        self.s.connect(path)

    def send(self, req, payload=b"", fds=()):
        msg = struct.pack("<III", req, 1, len(payload)) + payload
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                array.array("i", fds).tobytes())] if fds else []
        self.s.sendmsg([msg], anc)

    def get_features(self):
        self.send(GET_FEATURES)
        hdr = self.s.recv(12)
        _, _, size = struct.unpack("<III", hdr)
        return struct.unpack("<Q", self.s.recv(size))[0]

    def mem_table(self, nregions):
        """NREGIONS regions of 2 MiB, one memfd each."""
        fds, regions = [], b""
        for i in range(nregions):
            fd = os.memfd_create("fe-%d" % i)
            os.ftruncate(fd, 2 << 20)
            fds.append(fd)
            base = (i + 1) << 30
            regions += struct.pack("<QQQQ", base, 2 << 20, base, 0)
        self.send(SET_MEM_TABLE, struct.pack("<II", nregions, 0) + regions,
                  fds)
        for fd in fds:
            os.close(fd)

    def start_pair(self):
        """Rings of queue pair 0 at addresses no memory table covers, a
        kick fd each: started, as far as the front-end is concerned."""
        kicks = []
        for q in (0, 1):
            self.send(SET_VRING_NUM, struct.pack("<II", q, 256))
            base = (q + 1) << 30
            self.send(SET_VRING_ADDR, struct.pack(
                "<IIQQQQ", q, 0, base, base + 8192, base + 4096, 0))
            self.send(SET_VRING_BASE, struct.pack("<II", q, 0))
            kick = os.eventfd(0)
            self.send(SET_VRING_KICK, struct.pack("<Q", q), [kick])
            kicks.append(kick)
        return kicks

    def close(self):
        self.s.close()


class MemoryTable(VmlinkTestCase):

    def test_unusable_memory_table_is_explained(self):
        sock = self.path("vh.sock")
        cfg = self.write_config(
            eal_section(self.prefix("mt")) +
            "[vmlink]\nstats-interval = 0\n"
            # rx-mode = interrupt: the idle worker sleeps, no CPU burnt
            "[port vh]\ntype = vhost-user\nrx-mode = interrupt\n"
            "path = %s\n" % sock)
        p = self.start_vmlink(["-c", cfg])
        try:
            self.assertTrue(wait_for(lambda: os.path.exists(sock), 30))
            for nregions, start in ((9, True), (None, True), (None, False)):
                fe = FrontEnd(sock)
                features = fe.get_features()
                fe.send(SET_FEATURES, struct.pack(
                    "<Q", features & VIRTIO_F_VERSION_1))
                fe.send(SET_OWNER)
                if nregions is not None:
                    fe.mem_table(nregions)
                kicks = fe.start_pair() if start else []
                time.sleep(1.0 if start else 4.0)
                fe.close()
                for k in kicks:
                    os.close(k)
                time.sleep(0.5)
        finally:
            stop(p)
            out = p.stdout.read()
            p.stdout.close()
        self.assertIn("request 5 (SET_MEM_TABLE) rejected", out)
        self.assertIn("front-end started queue pair 0, but its memory table "
                      "was refused (", out)
        self.assertIn("front-end started queue pair 0 without sending a "
                      "memory table: link stays down (a DPDK virtio-user "
                      "front-end needs --single-file-segments)", out)
        self.assertRegex(out, "the front-end sent no memory table in its first "
                         "[34] s: ")
        self.assertIn("link stays down (a DPDK virtio-user front-end needs "
                      "--single-file-segments)", out)
        self.assertEqual(out.count("link stays down"), 3, out)  # once each
        self.assertNotIn("vmlink: port vh link up", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
