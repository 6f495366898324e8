# SPDX-License-Identifier: BSD-3-Clause
"""ivshmem2-server, checked by raw clients of its socket protocol: every
message, field and fd, the order, PEER_GONE after the state-table entry is
zeroed, ID reuse, the max_peers refusal, misbehaving clients, options,
layout, daemon mode, signals and cleanup."""

import mmap
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "pylib"))
import ivshm_util as iu  # noqa: E402
from ivshm_util import (MSG_EVENT_FD, MSG_PEER_GONE, RawClient, Server,
                        handshake)  # noqa: E402


def run_server(*args, timeout=10):
    return subprocess.run([iu.SERVER] + list(args), capture_output=True,
                          text=True, timeout=timeout)


def layout(*args):
    r = run_server("--print-layout", *args)
    assert r.returncode == 0, r.stderr
    out = {}
    for line in r.stdout.splitlines():
        k, v = line.split("=")
        out[k] = int(v, 0)
    return out


class Options(unittest.TestCase):
    def test_help(self):
        r = run_server("--help")
        self.assertEqual(r.returncode, 0)
        for opt in ("--socket", "--qemu-socket", "--shm", "--shm-file", "--size",
                    "--output-section-size", "--rw-section-size",
                    "--max-peers", "--vectors", "--protocol",
                    "--foreground", "--pid-file", "--verbose"):
            self.assertIn(opt, r.stdout)

    def test_bad_options(self):
        cases = [
            (["--max-peers", "1"], "out of range (2..65536)"),
            (["--max-peers", "65537"], "out of range"),
            (["--vectors", "0"], "--vectors: 0 is out of range"),
            (["--vectors", "abc"], "not a valid number"),
            (["--size", "12Q"], "not a valid size"),
            (["--protocol", "0x0005"], "reserved"),
            (["--protocol", "0x10000"], "not a 16-bit"),
            (["--bogus"], "unknown option --bogus"),
            (["-o"], "needs a value"),
            (["extra"], "unexpected argument"),
            (["-m", "a/b"], "not a valid POSIX shared memory name"),
            (["-m", "x", "-M", "/tmp/y"], "exclude each other"),
            (["-n", "3"], "exactly 2 peers"),
            (["-P", "0x8001", "-n", "3"], "exactly 2 peers"),
            (["-o", "0x1800"], "not a multiple of the system page"),
            (["-o", "0x2000"], "unusable for protocol 0x0001"),
            (["-l", "0x1000"], "total size 0x1000 is too small"),
            (["-l", "8M", "-r", "0x1000"], "inconsistent sizes"),
            (["-S", "/tmp/" + "x" * 120], "too long"),
        ]
        for args, msg in cases:
            r = run_server("-F", *args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(msg, r.stderr, args)

    def test_layout(self):
        lay = layout()
        self.assertEqual(lay["state_table_size"], 0x1000)
        self.assertEqual(lay["rw_section_size"], 0)
        self.assertEqual(lay["output_section_offset"], 0x1000)
        self.assertEqual(lay["output_section_size"], 0x200000)
        self.assertEqual(lay["total_size"], 0x1000 + 2 * 0x200000)
        lay = layout("-o", "0x7f000")
        self.assertEqual(lay["total_size"], 0x1000 + 2 * 0x7f000)
        # --size: the surplus goes to the R/W section, rounded to pages
        lay = layout("-P", "0", "-n", "4", "-o", "64K", "-l", "1000000")
        self.assertEqual(lay["total_size"], 0xf5000)
        self.assertEqual(lay["output_section_offset"], 0xf5000 - 4 * 0x10000)
        self.assertEqual(lay["rw_section_size"],
                         lay["output_section_offset"] - 0x1000)
        lay = layout("-P", "0x4000", "-n", "3", "-o", "8K", "-r", "5000")
        self.assertEqual(lay["rw_section_size"], 0x2000)   # page-rounded
        self.assertEqual(lay["total_size"], 0x3000 + 3 * 0x2000)
        # more than 1024 peers: a bigger state table
        lay = layout("-P", "0", "-n", "2000", "-o", "0")
        self.assertEqual(lay["state_table_size"], 0x2000)
        lay = layout("-M", "/dev/hugepages/ivshmt-layout")
        self.assertEqual(lay["hugetlbfs"], 1)
        self.assertEqual(lay["backing_page"], 0x200000)
        self.assertEqual(lay["output_section_offset"], 0x200000)
        self.assertEqual(lay["total_size"], 0x600000)
        r = run_server("--print-layout", "-M", "/dev/hugepages/x",
                       "-o", "0x7f000")
        self.assertEqual(r.returncode, 2)
        self.assertIn("hugetlbfs page size 0x200000", r.stderr)


class Protocol(unittest.TestCase):
    def setUp(self):
        self.srv = None
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()
        if self.srv:
            self.srv.close()

    def server(self, *args):
        self.srv = Server(*args)
        return self.srv

    def client(self, vectors):
        c, init, events = handshake(self.srv.sock, vectors)
        self.clients.append(c)
        return c, init, events

    def check_init(self, init, pid, max_peers, vectors, proto, out):
        self.assertEqual(init["len"], 40)
        self.assertEqual(init["version"], 2)
        self.assertEqual(init["compat"], 2)
        self.assertEqual(init["id"], pid)
        self.assertEqual(init["max_peers"], max_peers)
        self.assertEqual(init["vectors"], vectors)
        self.assertEqual(init["protocol"], proto)
        self.assertEqual(init["out"], out)
        self.assertEqual(len(init["fds"]), 1)

    def test_messages_fds_order(self):
        srv = self.server("-P", "0x4000", "-n", "4", "-V", "3", "-o", "64K",
                          "-r", "8K")
        a, ia, ea = self.client(3)
        self.check_init(ia, 0, 4, 3, 0x4000, 0x10000)
        st = os.fstat(ia["fds"][0])
        self.assertTrue(stat.S_ISREG(st.st_mode))
        self.assertEqual(st.st_size, 0x1000 + 0x2000 + 4 * 0x10000)
        self.assertEqual(os.stat(srv.shm_path).st_ino, st.st_ino)
        self.assertEqual([(i, v) for i, v, _ in ea], [(0, 0), (0, 1), (0, 2)])
        for _, _, fd in ea:
            self.assertEqual(iu.fd_kind(fd), "anon_inode:[eventfd]")
        self.assertTrue(a.expect_nothing())

        b, ib, eb = self.client(3)
        self.check_init(ib, 1, 4, 3, 0x4000, 0x10000)
        self.assertEqual(os.fstat(ib["fds"][0]).st_ino, st.st_ino)
        # existing peer's eventfds first, then its own
        self.assertEqual([(i, v) for i, v, _ in eb],
                         [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)])
        # a hears of b's three eventfds, nothing else
        got = [a.recv() for _ in range(3)]
        self.assertEqual([(m.type, m.len, m.u32(0), m.u32(1), len(m.fds))
                          for m in got],
                         [(MSG_EVENT_FD, 16, 1, v, 1) for v in range(3)])
        self.assertTrue(a.expect_nothing())
        # same eventfds: what b signals on a's vector 2, a reads on its own
        own_a = {v: fd for i, v, fd in ea}
        b_to_a = {v: fd for i, v, fd in eb if i == 0}
        iu.eventfd_write(b_to_a[2], 5)
        self.assertEqual(iu.eventfd_read(own_a[2]), 5)
        self.assertEqual(iu.eventfd_read(own_a[1], 0.1), 0)
        a_to_b = {m.u32(1): m.fds[0] for m in got}
        own_b = {v: fd for i, v, fd in eb if i == 1}
        iu.eventfd_write(a_to_b[0], 1)
        self.assertEqual(iu.eventfd_read(own_b[0]), 1)

        c, ic, ec = self.client(3)
        self.assertEqual(ic["id"], 2)
        self.assertEqual([(i, v) for i, v, _ in ec],
                         [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2),
                          (2, 0), (2, 1), (2, 2)])
        for x in (a, b):
            got = [x.recv() for _ in range(3)]
            self.assertEqual([(m.u32(0), m.u32(1)) for m in got],
                             [(2, 0), (2, 1), (2, 2)])

    def test_peer_gone_after_state_zeroed(self):
        srv = self.server("-P", "0", "-n", "3", "-o", "64K")
        a, ia, _ = self.client(2)
        b, ib, _ = self.client(2)
        for _ in range(2):
            a.recv()
        fd = ia["fds"][0]
        mem = mmap.mmap(fd, 4096)
        # the "device" of peer 1 writes its state
        struct.pack_into("<I", mem, 4, 3)
        struct.pack_into("<I", mem, 0, 2)
        b.close()
        self.clients.remove(b)
        m = a.recv()
        # the entry is 0 by the time PEER_GONE arrives
        self.assertEqual(struct.unpack_from("<I", mem, 4)[0], 0)
        self.assertEqual((m.type, m.len, m.u32(0), len(m.fds)),
                         (MSG_PEER_GONE, 12, 1, 0))
        self.assertEqual(struct.unpack_from("<I", mem, 0)[0], 2)
        self.assertTrue(a.expect_nothing())
        mem.close()
        self.assertIn("peer 1 left", srv.read_log())

    def test_id_reuse_lowest_first(self):
        self.server("-P", "0", "-n", "4", "-V", "1", "-o", "8K")
        cl = [self.client(1) for _ in range(4)]
        self.assertEqual([init["id"] for _, init, _ in cl], [0, 1, 2, 3])
        for i in (2, 1):
            cl[i][0].close()
            self.clients.remove(cl[i][0])
        time.sleep(0.1)
        c, init, ev = self.client(1)
        self.assertEqual(init["id"], 1)
        self.assertEqual([(i, v) for i, v, _ in ev],
                         [(0, 0), (3, 0), (1, 0)])
        c2, init2, _ = self.client(1)
        self.assertEqual(init2["id"], 2)

    def test_max_peers_refusal(self):
        srv = self.server("-P", "0", "-n", "2", "-V", "2", "-o", "8K")
        a, _, _ = self.client(2)
        b, _, _ = self.client(2)
        a.recv(), a.recv()
        c = RawClient(srv.sock)
        self.clients.append(c)
        # refused: closed before any message
        self.assertTrue(c.is_eof())
        self.assertTrue(a.expect_nothing())
        self.assertTrue(b.expect_nothing())
        self.assertIn("all 2 peer IDs are in use", srv.read_log())
        b.close()
        self.clients.remove(b)
        m = a.recv()
        self.assertEqual((m.type, m.u32(0)), (MSG_PEER_GONE, 1))
        d, init, _ = self.client(2)
        self.assertEqual(init["id"], 1)
        self.assertTrue(srv.alive())

    def test_client_sending_bytes(self):
        srv = self.server("-P", "0", "-n", "3", "-o", "8K")
        a, _, _ = self.client(2)
        b, ib, _ = self.client(2)
        a.recv(), a.recv()
        b.s.send(b"hello")
        self.assertTrue(b.is_eof())
        m = a.recv()
        self.assertEqual((m.type, m.u32(0)), (MSG_PEER_GONE, ib["id"]))
        self.assertIn("sent 5 byte(s)", srv.read_log())
        c, ic, _ = self.client(2)
        self.assertEqual(ic["id"], 1)

    def test_disconnect_mid_handshake(self):
        srv = self.server("-P", "0", "-n", "3", "-V", "4", "-o", "8K")
        a, _, _ = self.client(4)
        for i in range(20):
            x = RawClient(srv.sock)
            if i % 2:
                x.recv()       # INIT only, then gone
            x.close()
        time.sleep(0.3)
        # whatever a heard of them: every EVENT_FD id later gone
        seen = {}
        while not a.expect_nothing(0.2):
            m = a.recv()
            if m.type == MSG_EVENT_FD:
                seen.setdefault(m.u32(0), []).append(m.u32(1))
            else:
                self.assertEqual(m.type, MSG_PEER_GONE)
                self.assertEqual(seen.pop(m.u32(0)), [0, 1, 2, 3])
        self.assertEqual(seen, {})
        c, ic, _ = self.client(4)
        self.assertEqual(ic["id"], 1)
        self.assertTrue(srv.alive())

    def test_client_never_reading(self):
        srv = self.server("-P", "0", "-n", "4", "-V", "8", "-o", "8K")
        a, _, _ = self.client(8)
        lazy = RawClient(srv.sock)        # id 1, never reads
        self.clients.append(lazy)
        got = [a.recv() for _ in range(8)]
        self.assertEqual({m.u32(0) for m in got}, {1})
        gone_lazy = False
        for i in range(150):
            c, ic, _ = handshake(srv.sock, 8)
            c.close()
            # a sees every churner come and go, in order
            got = [a.recv() for _ in range(8)]
            self.assertEqual([(m.type, m.u32(0), m.u32(1)) for m in got],
                             [(MSG_EVENT_FD, ic["id"], v) for v in range(8)])
            m = a.recv()
            if m.type == MSG_PEER_GONE and m.u32(0) == 1:
                gone_lazy = True
                m = a.recv()
            self.assertEqual((m.type, m.u32(0)), (MSG_PEER_GONE, ic["id"]))
            if gone_lazy:
                break
        self.assertTrue(gone_lazy, "the non-reading client was never dropped")
        self.assertIn("does not read its socket", srv.read_log())
        c, ic, _ = self.client(8)
        self.assertEqual(ic["id"], 1)

    def test_virtio_protocol_roles(self):
        self.server("-P", "0x8003", "-o", "8K")
        _, i0, _ = self.client(2)
        _, i1, _ = self.client(2)
        self.assertEqual((i0["protocol"], i1["protocol"]), (0xc003, 0x8003))

    def test_verbose_log(self):
        srv = self.server("-P", "0", "-o", "8K", "-v")
        self.client(2)
        self.client(2)
        log = srv.read_log()
        self.assertIn("-> peer 0: INIT max_peers 2 vectors 2", log)
        self.assertIn("-> peer 1: EVENT_FD id 0 vector 1", log)
        self.assertIn("-> peer 0: EVENT_FD id 1 vector 0", log)


class Lifecycle(unittest.TestCase):
    def test_sigterm_sigint_cleanup(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            srv = Server("-o", "64K")
            self.addCleanup(srv.close)
            path = srv.shm_path
            self.assertTrue(os.path.exists(path))
            a, _, _ = handshake(srv.sock, 2)
            self.assertEqual(srv.stop(sig), 0)
            self.assertFalse(os.path.exists(srv.sock))
            self.assertFalse(os.path.exists(path))
            self.assertTrue(a.is_eof())
            a.close()

    def test_hugetlbfs_file(self):
        path = "/dev/hugepages/" + iu.unique("huge")
        srv = Server(shm_file=path)
        try:
            a, init, _ = handshake(srv.sock, 2)
            fd = init["fds"][0]
            self.assertEqual(os.fstat(fd).st_size, 0x600000)
            self.assertEqual(init["out"], 0x200000)
            m = mmap.mmap(fd, 0x600000)
            m[0x400000] = 7
            m.close()
            a.close()
            self.assertEqual(srv.stop(), 0)
            self.assertFalse(os.path.exists(path))
        finally:
            srv.close()
            if os.path.exists(path):
                os.unlink(path)

    def test_existing_shm_and_force(self):
        name = "/" + iu.unique("exist")
        fd = os.open("/dev/shm" + name, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
        try:
            d = tempfile.mkdtemp(prefix="ivshmt-")
            self.addCleanup(shutil.rmtree, d, True)
            r = run_server("-F", "-S", d + "/s", "-m", name)
            self.assertEqual(r.returncode, 1)
            self.assertIn("already exists", r.stderr)
            self.assertIn("--force", r.stderr)
            srv = Server("-o", "64K", "--force", shm=name)
            self.addCleanup(shutil.rmtree, srv.dir, True)
            a, init, _ = handshake(srv.sock, 2)
            self.assertEqual(os.fstat(init["fds"][0]).st_size,
                             0x1000 + 2 * 0x10000)
            a.close()
            self.assertEqual(srv.stop(), 0)
            # not created by the server: left in place
            self.assertTrue(os.path.exists("/dev/shm" + name))
        finally:
            os.unlink("/dev/shm" + name)

    def test_stale_and_busy_socket(self):
        d = tempfile.mkdtemp(prefix="ivshmt-")
        self.addCleanup(shutil.rmtree, d, True)
        path = d + "/ivshm.sock"
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.close()
        srv = Server("-o", "64K", workdir=d)
        try:
            self.assertIn("removing stale socket", srv.read_log())
            r = run_server("-F", "-S", path, "-m", "/" + iu.unique("busy"))
            self.assertEqual(r.returncode, 1)
            self.assertIn("another server is listening", r.stderr)
            with open(d + "/file", "w"):
                pass
            r = run_server("-F", "-S", d + "/file", "-m",
                           "/" + iu.unique("busy"))
            self.assertIn("is not a socket", r.stderr)
        finally:
            srv.close()

    def test_daemon_pid_file(self):
        d = tempfile.mkdtemp(prefix="ivshmt-")
        self.addCleanup(shutil.rmtree, d, True)
        pidf = d + "/pid"
        sock = d + "/s"
        name = "/" + iu.unique("daemon")
        r = run_server("-S", sock, "-m", name, "-o", "64K", "-p", pidf,
                       "-L", d + "/log")
        self.assertEqual(r.returncode, 0, r.stderr)
        # ready when the parent returns
        self.assertTrue(iu.is_socket(sock))
        pid = int(open(pidf).read())
        self.assertNotEqual(pid, os.getpid())
        os.kill(pid, 0)
        a, init, _ = handshake(sock, 2)
        self.assertEqual(init["id"], 0)
        a.close()
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not os.path.exists(pidf):
                break
            time.sleep(0.05)
        self.assertFalse(os.path.exists(pidf))
        self.assertFalse(os.path.exists(sock))
        self.assertFalse(os.path.exists("/dev/shm" + name))
        self.assertIn("peer 0 joined", open(d + "/log").read())


if __name__ == "__main__":
    unittest.main(verbosity=2)
