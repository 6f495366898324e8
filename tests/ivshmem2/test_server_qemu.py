# SPDX-License-Identifier: BSD-3-Clause
"""ivshmem2-server's second socket (-Q) for stock QEMU ivshmem-doorbell
devices, checked by fake QEMU clients speaking QEMU's protocol over real
sockets, next to host clients of the v2 protocol on -S: message order,
one ID space (lowest free), max peers, departure order (state entry
zeroed, then vector 0 raised, then the others told), the layout header,
hostile clients on either socket; then a real qemu-system-x86_64 with
-device ivshmem-doorbell attached to the server."""

import mmap
import os
import re
import signal
import subprocess
import select
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "pylib"))
import ivshm_util as iu  # noqa: E402
import proc  # noqa: E402
from ivshm_util import (MSG_EVENT_FD, MSG_PEER_GONE, QemuClient, RawClient,
                        Server, handshake)  # noqa: E402


def readable(fd, timeout=0.0):
    return bool(select.select([fd], [], [], timeout)[0])


def state(mem_fd, pid):
    with mmap.mmap(mem_fd, 4096) as m:
        return struct.unpack_from("<I", m, 4 * pid)[0]


def set_state(mem_fd, pid, value):
    with mmap.mmap(mem_fd, 4096) as m:
        struct.pack_into("<I", m, 4 * pid, value)


class Options(unittest.TestCase):
    def run_server(self, *args):
        return subprocess.run([iu.SERVER] + list(args),
                                 capture_output=True, text=True, timeout=10)

    def test_help(self):
        r = self.run_server("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("-Q, --qemu-socket=PATH", r.stdout)
        self.assertIn("ivshmem-doorbell", r.stdout)

    def test_refusals(self):
        cases = [
            (["-S", "/tmp/same", "-Q", "/tmp/same"], "different paths"),
            (["-Q", "/tmp/q", "-P", "0", "-n", "1009", "-o", "0"],
             "with --qemu-socket at most 1008"),
            (["-Q", "/tmp/q", "-l", "0x500000"],
             "power of two (e.g. 0x800000)"),
            (["-Q", ""], "--qemu-socket: empty path"),
            (["-Q", "/tmp/" + "q" * 120], "too long"),
        ]
        for args, msg in cases:
            r = self.run_server("-F", "--print-layout", *args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(msg, r.stderr, args)

    def test_layout_power_of_two(self):
        def layout(*args):
            r = self.run_server("--print-layout", *args)
            self.assertEqual(r.returncode, 0, r.stderr)
            return {k: int(v, 0) for k, v in
                    (line.split("=") for line in r.stdout.splitlines())}
        plain = layout()
        self.assertEqual(plain["total_size"], 0x401000)
        self.assertEqual(plain["header_offset"], 0xfc0)
        q = layout("-Q", "/tmp/q")
        # grown to the next power of two, the R/W section takes the rest
        self.assertEqual(q["total_size"], 0x800000)
        self.assertEqual(q["rw_section_size"], 0x3ff000)
        self.assertEqual(q["output_section_offset"], 0x400000)
        # a layout that is one already stays as it is
        q = layout("-Q", "/tmp/q", "-o", "0x1ff000")
        self.assertEqual(q["total_size"], 0x400000)
        self.assertEqual(q["rw_section_size"], 0x1000)
        q = layout("-Q", "/tmp/q", "-l", "16M")
        self.assertEqual(q["total_size"], 0x1000000)
        # no room for the header beyond 1008 peers (without -Q)
        big = layout("-P", "0", "-n", "1009", "-o", "0")
        self.assertNotIn("header_offset", big)


class Protocol(unittest.TestCase):
    def setUp(self):
        self.clients = []
        self.srv = None

    def tearDown(self):
        for c in self.clients:
            c.close()
        if self.srv:
            self.srv.close()

    def server(self, *args):
        self.srv = Server(*args, qemu=True)
        return self.srv

    def host(self, vectors):
        c, init, ev = handshake(self.srv.sock, vectors)
        self.clients.append(c)
        return c, init, ev

    def qemu(self, vectors):
        c = QemuClient(self.srv.qsock)
        self.clients.append(c)
        return (c,) + c.handshake(vectors)

    def test_order_and_shared_region(self):
        srv = self.server("-P", "0x4000", "-n", "4", "-V", "3", "-o", "64K")
        a, ia, ea = self.host(3)
        self.assertEqual(ia["id"], 0)
        q, qid, qmem, qev = self.qemu(3)
        self.assertEqual(qid, 1)
        # the others' eventfds (vector order), then its own
        self.assertEqual([pid for pid, _ in qev], [0, 0, 0, 1, 1, 1])
        for _, fd in qev:
            self.assertEqual(iu.fd_kind(fd), "anon_inode:[eventfd]")
        # one region for both kinds, a power of two in size (QEMU's BAR2)
        st = os.fstat(qmem)
        self.assertEqual(st.st_ino, os.fstat(ia["fds"][0]).st_ino)
        self.assertEqual(st.st_size, 0x80000)
        h = iu.read_hdr(qmem)
        self.assertTrue(h["check_ok"], h)
        self.assertEqual((h["magic"], h["version"], h["max_peers"],
                          h["vectors"], h["protocol"], h["flags"]),
                         (0x32535649, 1, 4, 3, 0x4000, 0))
        self.assertEqual((h["region_size"], h["state_table_size"],
                          h["rw_section_size"], h["output_section_size"]),
                         (0x80000, 0x1000, 0x80000 - 0x1000 - 4 * 0x10000,
                          0x10000))
        # the host peer hears of the QEMU peer in its own protocol
        got = [a.recv() for _ in range(3)]
        self.assertEqual([(m.type, m.u32(0), m.u32(1), len(m.fds))
                          for m in got],
                         [(MSG_EVENT_FD, 1, v, 1) for v in range(3)])
        self.assertTrue(a.expect_nothing())
        self.assertTrue(q.expect_nothing())
        # same eventfds both ways: host -> QEMU vector 2, QEMU -> host 1
        iu.eventfd_write(got[2].fds[0], 4)
        self.assertEqual(iu.eventfd_read(qev[5][1]), 4)
        iu.eventfd_write(qev[1][1], 2)
        own_a = {v: fd for _, v, fd in ea}
        self.assertEqual(iu.eventfd_read(own_a[1]), 2)
        # a second QEMU peer: IDs 0 and 1 announced before its own
        q2, qid2, _, qev2 = self.qemu(3)
        self.assertEqual(qid2, 2)
        self.assertEqual([pid for pid, _ in qev2], [0] * 3 + [1] * 3 + [2] * 3)
        for x in (q,):
            self.assertEqual([x.recv_q()[0] for _ in range(3)], [2, 2, 2])
        self.assertEqual([a.recv().u32(0) for _ in range(3)], [2, 2, 2])
        self.assertIn("peer 1 joined (QEMU)", srv.read_log())

    def test_ids_lowest_free_across_kinds(self):
        self.server("-P", "0", "-n", "4", "-V", "1", "-o", "8K")
        q0 = self.qemu(1)
        h1 = self.host(1)
        q2 = self.qemu(1)
        h3 = self.host(1)
        self.assertEqual([q0[1], h1[1]["id"], q2[1], h3[1]["id"]],
                         [0, 1, 2, 3])
        for c in (q0[0], h1[0]):
            c.close()
            self.clients.remove(c)
        time.sleep(0.1)
        q, qid, _, ev = self.qemu(1)
        self.assertEqual(qid, 0)
        self.assertEqual([pid for pid, _ in ev], [2, 3, 0])
        _, init, _ = self.host(1)
        self.assertEqual(init["id"], 1)

    def test_max_peers_refused(self):
        srv = self.server("-P", "0", "-n", "2", "-o", "8K")
        q, _, _, _ = self.qemu(2)
        a, _, _ = self.host(2)
        self.assertEqual([q.recv_q()[0] for _ in range(2)], [1, 1])
        for c in (QemuClient(srv.qsock), RawClient(srv.sock)):
            self.clients.append(c)
            self.assertTrue(c.is_eof())     # closed before any message
        self.assertTrue(q.expect_nothing())
        self.assertTrue(a.expect_nothing())
        self.assertIn("all 2 peer IDs are in use", srv.read_log())

    def departure(self, leaver_kind):
        """A (host), B (leaver_kind), C (QEMU); B leaves with state 3."""
        self.server("-P", "0", "-n", "3", "-V", "2", "-o", "8K")
        a, ia, ea = self.host(2)
        b = self.qemu(2) if leaver_kind == "qemu" else self.host(2)
        c, cid, cmem, cev = self.qemu(2)
        self.assertEqual(cid, 2)
        mem = ia["fds"][0]
        while not a.expect_nothing(0.1):
            a.recv()
        while not c.expect_nothing(0.1):
            c.recv_q()
        own_a0 = {v: fd for _, v, fd in ea}[0]
        own_c0 = [fd for pid, fd in cev if pid == 2][0]
        set_state(mem, 1, 3)
        for fd in (own_a0, own_c0):
            while readable(fd):
                os.read(fd, 8)
        b[0].close()
        self.clients.remove(b[0])
        # A: PEER_GONE arrives after the entry is zeroed and vector 0 rang
        m = a.recv()
        self.assertEqual((m.type, m.u32(0), len(m.fds)), (MSG_PEER_GONE, 1, 0))
        self.assertEqual(state(mem, 1), 0)
        self.assertTrue(readable(own_a0))
        # C (QEMU): its ID without an fd, same order
        pid, fds = c.recv_q()
        self.assertEqual((pid, fds), (1, []))
        self.assertEqual(state(cmem, 1), 0)
        self.assertTrue(readable(own_c0))
        self.assertEqual(iu.eventfd_read(own_c0), 1)
        self.assertTrue(a.expect_nothing())
        self.assertTrue(c.expect_nothing())
        # the ID is free again
        _, qid, _, _ = self.qemu(2)
        self.assertEqual(qid, 1)

    def test_departure_of_a_qemu_peer(self):
        self.departure("qemu")

    def test_departure_of_a_host_peer(self):
        self.departure("host")

    def test_header_restored_for_each_qemu_peer(self):
        srv = self.server("-P", "0", "-n", "3", "-o", "8K")
        q, _, mem, _ = self.qemu(2)
        good = iu.read_hdr(mem)
        with mmap.mmap(mem, 4096) as m:
            m[iu.HDR_OFFSET + 8:iu.HDR_OFFSET + 12] = b"\xff" * 4
        self.assertFalse(iu.read_hdr(mem)["check_ok"])
        _, _, mem2, _ = self.qemu(2)
        self.assertEqual(iu.read_hdr(mem2), good)
        self.assertIn("layout header was overwritten by a peer: restored",
                      srv.read_log())

    def drain(self, *clients):
        """Read what the clients were sent: only well-formed messages."""
        for x in clients:
            while not x.expect_nothing(0.05):
                if isinstance(x, QemuClient):
                    pid, fds = x.recv_q()
                    self.assertTrue(0 <= pid < 4 and len(fds) <= 1)
                    x.release(fds)
                else:
                    m = x.recv()
                    self.assertIn(m.type, (MSG_EVENT_FD, MSG_PEER_GONE))
                    x.release(m.fds)

    def test_hostile_clients_on_both_sockets(self):
        srv = self.server("-P", "0", "-n", "4", "-V", "8", "-o", "8K")
        a, _, _ = self.host(8)
        q, qid, _, _ = self.qemu(8)
        self.assertEqual(qid, 1)
        for _ in range(8):
            a.recv()
        # a QEMU client that talks is dropped; the others are told
        x = QemuClient(srv.qsock)
        self.clients.append(x)
        xid = x.handshake(8)[0]
        x.s.send(b"\x00" * 8)
        self.assertTrue(x.is_eof())
        for _ in range(8):
            self.assertEqual(q.recv_q()[0], xid)
        self.assertEqual(q.recv_q(), (xid, []))
        self.assertIn("sent 8 byte(s)", srv.read_log())
        # clients that leave mid-handshake on either socket, many times
        for i in range(20):
            y = (QemuClient(srv.qsock) if i % 2 else RawClient(srv.sock))
            if i % 4 == 1:
                y.recv_q()
            y.close()
        time.sleep(0.3)
        # a QEMU client that never reads is dropped once its queue is full
        lazy = QemuClient(srv.qsock)
        self.clients.append(lazy)
        time.sleep(0.1)
        for _ in range(200):
            c = QemuClient(srv.qsock)
            c.handshake(8)
            c.close()
            self.drain(a, q)
            if "does not read its socket" in srv.read_log():
                break
        self.assertIn("does not read its socket", srv.read_log())
        self.drain(a, q)
        self.assertTrue(srv.alive())
        _, qid, _, ev = self.qemu(8)
        self.assertEqual(qid, 2)
        self.assertEqual(sorted({pid for pid, _ in ev}), [0, 1, 2])


def pci_bars(info_pci):
    """{bar: (start, size)} of the 1af4:1110 device in HMP 'info pci'."""
    lines = info_pci.splitlines()
    for i, line in enumerate(lines):
        if "PCI device 1af4:1110" not in line:
            continue
        bars = {}
        for b in lines[i + 1:]:
            m = re.match(r"\s+BAR(\d): .* at (0x[0-9a-f]+) \[(0x[0-9a-f]+)\]", b)
            if m:
                start, end = int(m.group(2), 16), int(m.group(3), 16)
                bars[int(m.group(1))] = (start, end - start + 1)
            elif b.strip().startswith("id "):
                return bars
        return bars
    return None


def xp_word(qmp, addr):
    """One 32-bit word of guest-physical memory or MMIO, via HMP xp."""
    out = qmp.hmp("xp /1wx 0x%x" % addr)
    return int(out.split(":")[1].split()[0], 16)


class RealQemu(unittest.TestCase):
    """qemu-system-x86_64 -device ivshmem-doorbell on the -Q socket, a
    host peer on -S: QEMU accepts the memory (power of two, BAR2), gets
    ID 1, reads the same bytes, and its departure reaches the host peer
    in order. No guest OS: SeaBIOS assigns the BARs, the monitor reads
    them."""

    def setUp(self):
        import qemu_guest
        reason = qemu_guest.qemu_unavailable_reason()
        if reason:
            self.skipTest(reason)
        self.qemu_bin = qemu_guest.qemu_binary()
        self.srv = Server("-o", "0x1ff000", qemu=True)
        self.addCleanup(self.srv.close)

    def start_qemu(self, vectors):
        qmp_path = os.path.join(self.srv.dir, "qmp.sock")
        self.qlog = open(os.path.join(self.srv.dir, "qemu.log"), "w+")
        p = subprocess.Popen(
            [self.qemu_bin, "-accel", "tcg", "-M", "pc", "-nodefaults",
             "-no-user-config", "-display", "none", "-m", "32M",
             "-chardev", "socket,path=%s,id=ivs" % self.srv.qsock,
             "-device", "ivshmem-doorbell,chardev=ivs,vectors=%d" % vectors,
             "-qmp", "unix:%s,server=on,wait=off" % qmp_path],
            stdout=self.qlog, stderr=subprocess.STDOUT)
        self.addCleanup(proc.stop, p, signal.SIGKILL, 5)
        return p, iu.Qmp(qmp_path)

    def qemu_log(self):
        self.qlog.flush()
        with open(self.qlog.name) as f:
            return f.read()

    def test_qemu_ivshmem_doorbell_joins_and_leaves(self):
        a, init, ev = handshake(self.srv.sock, 2)
        self.addCleanup(a.close)
        mem = init["fds"][0]
        self.assertEqual(os.fstat(mem).st_size, 0x400000)
        p, qmp = self.start_qemu(2)
        self.addCleanup(qmp.close)
        # the host peer hears of the VM as peer 1
        got = [a.recv(10.0) for _ in range(2)]
        self.assertEqual([(m.type, m.u32(0), m.u32(1)) for m in got],
                         [(MSG_EVENT_FD, 1, 0), (MSG_EVENT_FD, 1, 1)])
        # the firmware assigns the BARs; BAR2 is the whole region
        bars = None
        end = time.time() + 30
        while time.time() < end:
            bars = pci_bars(qmp.hmp("info pci"))
            if bars and bars.get(2, (0xffffffffffffffff,))[0] < (1 << 40):
                break
            time.sleep(0.2)
        self.assertIsNotNone(bars, "no 1af4:1110 in info pci")
        self.assertEqual(bars[2][1], 0x400000, bars)
        self.assertEqual(bars[0][1], 0x100, bars)
        bar0, bar2 = bars[0][0], bars[2][0]
        # IVPosition: the ID the server gave QEMU
        self.assertEqual(xp_word(qmp, bar0 + 8), 1)
        # the same memory: the header, and what the host peer writes
        self.assertEqual(xp_word(qmp, bar2 + 0xfc0), 0x32535649)
        h = iu.read_hdr(mem)
        self.assertTrue(h["check_ok"])
        out0 = h["state_table_size"] + h["rw_section_size"]
        with mmap.mmap(mem, 0x400000) as m:
            struct.pack_into("<I", m, out0 + 64, 0x1af41110)
            struct.pack_into("<I", m, 4, 2)        # as if the VM set READY
        self.assertEqual(xp_word(qmp, bar2 + out0 + 64), 0x1af41110)
        self.assertEqual(xp_word(qmp, bar2 + 4), 2)
        own0 = {v: fd for _, v, fd in ev}[0]
        while readable(own0):
            os.read(own0, 8)
        # QEMU goes: entry zeroed, vector 0 rung, then PEER_GONE
        qmp.cmd("quit")
        self.assertEqual(p.wait(20), 0)
        m = a.recv(10.0)
        self.assertEqual((m.type, m.u32(0)), (MSG_PEER_GONE, 1))
        self.assertEqual(state(mem, 1), 0)
        self.assertTrue(readable(own0))
        self.assertIn("peer 1 joined (QEMU)", self.srv.read_log())
        log = self.qemu_log()
        self.assertNotIn("error", log.lower(), log)
        self.assertNotIn("ivshmem", log, log)

    def test_qemu_with_fewer_vectors_complains_but_runs(self):
        """The server's --vectors must match the device's vectors=: with
        fewer, QEMU reports the extra eventfds (documented)."""
        p, qmp = self.start_qemu(1)
        self.addCleanup(qmp.close)
        self.assertIsNotNone(pci_bars(qmp.hmp("info pci")))
        a, init, _ = handshake(self.srv.sock, 2)
        self.addCleanup(a.close)
        self.assertEqual(init["id"], 1)
        end = time.time() + 10
        while time.time() < end and "Too many eventfd" not in \
                self.qemu_log():
            time.sleep(0.1)
        self.assertIn("Too many eventfd", self.qemu_log())
        self.assertIsNone(p.poll())
        qmp.cmd("quit")
        self.assertEqual(p.wait(20), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
