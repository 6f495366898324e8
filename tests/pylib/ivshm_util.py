# SPDX-License-Identifier: BSD-3-Clause
"""Helpers for the ivshmem2 tests: run ivshmem2-server, speak its socket
protocol as a raw client, run the ivshm_peer test program. Python 3
stdlib only."""

import array
import json
import mmap
import os
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import tempfile
import time

import proc

BUILD = os.environ.get("VMLINK_BUILD", os.path.join(
    os.path.dirname(__file__), "..", "..", "build"))
SERVER = os.path.join(BUILD, "app", "ivshmem2-server")
PEER = os.path.join(BUILD, "tests", "ivshmem2", "ivshm_peer")

MSG_INIT, MSG_EVENT_FD, MSG_PEER_GONE = 0, 1, 2

_seq = [0]


def unique(tag):
    _seq[0] += 1
    return "ivshmt-%s-%d-%d" % (tag, os.getpid(), _seq[0])


def fd_kind(fd):
    try:
        return os.readlink("/proc/self/fd/%d" % fd)
    except OSError:
        return "?"


class Server:
    """An ivshmem2-server in the foreground, with its log captured."""

    def __init__(self, *args, shm=None, shm_file=None, workdir=None,
                 foreground=True, check=True, qemu=False):
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="ivshmt-")
        self.sock = os.path.join(self.dir, "ivshm.sock")
        # qemu: a second socket for QEMU ivshmem-doorbell clients (-Q)
        self.qsock = os.path.join(self.dir, "qemu.sock") if qemu else None
        self.shm = None
        self.shm_file = shm_file
        cmd = [SERVER, "-S", self.sock]
        if shm_file is None:
            self.shm = shm or "/" + unique("shm")
            cmd += ["-m", self.shm]
        else:
            cmd += ["-M", shm_file]
        if foreground:
            cmd.append("-F")
        if qemu:
            cmd += ["-Q", self.qsock]
        cmd += list(args)
        self.cmd = cmd
        self.log_path = os.path.join(self.dir, "server.log")
        self.log = open(self.log_path, "w+")
        # SIGTERM if the test dies: the server removes its socket and
        # shared memory (foreground only: a daemon's child is not ours)
        self.proc = subprocess.Popen(
            cmd, stdout=self.log, stderr=subprocess.STDOUT,
            preexec_fn=proc.die_with_parent(signal.SIGTERM))
        if check:
            self.wait_ready()

    def wait_ready(self, timeout=5.0):
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited %s: %s" % (
                    self.proc.returncode, self.read_log()))
            # "serving" is logged once the socket listens
            if is_socket(self.sock) and " serving " in self.read_log():
                return
            time.sleep(0.02)
        raise RuntimeError("server not ready: " + self.read_log())

    @property
    def shm_path(self):
        if self.shm_file:
            return self.shm_file
        return "/dev/shm" + self.shm

    def read_log(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        proc.stop(self.proc, sig, timeout)
        self.log.close()
        return self.proc.returncode

    def close(self):
        self.stop()
        for p in (self.sock, self.qsock):
            if p is None:
                continue
            try:
                os.unlink(p)
            except OSError:
                pass
        if self.shm:
            try:
                os.unlink("/dev/shm" + self.shm)
            except OSError:
                pass
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


class Msg:
    def __init__(self, mtype, length, body, fds):
        self.type = mtype
        self.len = length
        self.body = body
        self.fds = fds

    def u32(self, i):
        return struct.unpack_from("<I", self.body, 4 * i)[0]

    def __repr__(self):
        return "Msg(type=%d len=%d fds=%d body=%s)" % (
            self.type, self.len, len(self.fds), self.body.hex())


class RawClient:
    """A client of the server protocol, reading one message at a time."""

    def __init__(self, path, connect=True):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if connect:
            self.s.connect(path)
        self.fds = []

    def _recv(self, n, timeout):
        data = b""
        fds = []
        end = time.time() + timeout
        while len(data) < n:
            left = end - time.time()
            if left <= 0:
                raise TimeoutError("no data (%d/%d bytes)" % (len(data), n))
            r, _, _ = select.select([self.s], [], [], left)
            if not r:
                continue
            d, anc, flags, _ = self.s.recvmsg(
                n - len(data), socket.CMSG_SPACE(16 * 4))
            for level, typ, cdata in anc:
                if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                    a = array.array("i")
                    a.frombytes(cdata[:len(cdata) - len(cdata) % 4])
                    fds.extend(a)
            if flags & socket.MSG_CTRUNC:
                raise RuntimeError("control data truncated")
            if not d:
                if data or fds:
                    raise EOFError("EOF inside a message")
                raise EOFError("EOF")
            data += d
        self.fds.extend(fds)
        return data, fds

    def recv(self, timeout=2.0):
        hdr, fds = self._recv(8, timeout)
        mtype, length = struct.unpack("<II", hdr)
        if length < 8 or length > 4096:
            raise RuntimeError("bad length %d" % length)
        body, more = self._recv(length - 8, timeout) if length > 8 else (b"", [])
        return Msg(mtype, length, body, fds + more)

    def expect_nothing(self, timeout=0.2):
        r, _, _ = select.select([self.s], [], [], timeout)
        if not r:
            return True
        try:
            d = self.s.recv(1, socket.MSG_PEEK)
        except OSError:
            return False
        return False if d else "EOF"

    def is_eof(self, timeout=2.0):
        r, _, _ = select.select([self.s], [], [], timeout)
        if not r:
            return False
        try:
            return self.s.recv(1) == b""
        except ConnectionResetError:
            return True

    def release(self, fds):
        """Close fds received earlier (long-running clients)."""
        for fd in fds:
            self.fds.remove(fd)
            os.close(fd)

    def close(self):
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = []
        self.s.close()


class QemuClient(RawClient):
    """A client of QEMU's ivshmem-doorbell protocol (the server's -Q
    socket): every message is one le64, maybe with an fd."""

    def recv_q(self, timeout=2.0):
        data, fds = self._recv(8, timeout)
        return struct.unpack("<q", data)[0], fds

    def handshake(self, vectors, timeout=2.0):
        """version, own ID, -1 + memory, the others' eventfds, its own.
        Returns (id, memory fd, list of (id, fd) in order)."""
        v, fds = self.recv_q(timeout)
        assert (v, fds) == (0, []), (v, fds)
        own, fds = self.recv_q(timeout)
        assert fds == [] and 0 <= own <= 65535, (own, fds)
        v, fds = self.recv_q(timeout)
        assert v == -1 and len(fds) == 1, (v, fds)
        mem = fds[0]
        events = []
        n_own = 0
        while n_own < vectors:
            pid, fds = self.recv_q(timeout)
            assert len(fds) == 1, (pid, fds)
            events.append((pid, fds[0]))
            n_own += pid == own
        return own, mem, events


class Qmp:
    """QEMU's QMP on a unix socket (-qmp unix:PATH,server=on,wait=off),
    enough to run HMP commands."""

    def __init__(self, path, timeout=10.0):
        end = time.time() + timeout
        while True:
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.time() > end:
                    raise
                time.sleep(0.05)
        self.f = self.s.makefile("rw")
        self._reply()                       # the greeting
        self.cmd("qmp_capabilities")

    def _reply(self):
        while True:
            line = self.f.readline()
            if not line:
                raise EOFError("QMP closed")
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        self.f.flush()
        r = self._reply()
        if "error" in r:
            raise RuntimeError("QMP %s: %s" % (name, r["error"]))
        return r.get("return")

    def hmp(self, line):
        return self.cmd("human-monitor-command", **{"command-line": line})

    def close(self):
        self.s.close()


HDR_OFFSET = 0xfc0
HDR_FMT = "<6I4Q2I"


def hdr_check(raw):
    """FNV-1a over the header bytes before 'check'."""
    x = 2166136261
    for b in raw[:60]:
        x = ((x ^ b) * 16777619) & 0xffffffff
    return x


def read_hdr(mem_fd):
    """The layout header of a region, as a dict (check verified)."""
    with mmap.mmap(mem_fd, 4096) as m:
        raw = bytes(m[HDR_OFFSET:HDR_OFFSET + 64])
    f = struct.unpack(HDR_FMT, raw)
    keys = ("magic", "version", "max_peers", "vectors", "protocol", "flags",
            "region_size", "state_table_size", "rw_section_size",
            "output_section_size", "reserved", "check")
    h = dict(zip(keys, f))
    h["check_ok"] = h["check"] == hdr_check(raw)
    return h


def parse_init(m):
    assert m.type == MSG_INIT, m
    version, compat, pid, max_peers, vectors, proto = struct.unpack_from(
        "<6I", m.body, 0)
    out = struct.unpack_from("<Q", m.body, 24)[0]
    return dict(version=version, compat=compat, id=pid, max_peers=max_peers,
                vectors=vectors, protocol=proto, out=out)


def handshake(path, vectors, timeout=2.0):
    """Connect, read INIT + every EVENT_FD up to our own last vector.
    Returns (client, init dict, list of (id, vector, fd) in order)."""
    c = RawClient(path)
    m = c.recv(timeout)
    init = parse_init(m)
    init["fds"] = m.fds
    init["len"] = m.len
    events = []
    while True:
        m = c.recv(timeout)
        assert m.type == MSG_EVENT_FD, m
        assert len(m.fds) == 1, m
        pid, vec = m.u32(0), m.u32(1)
        events.append((pid, vec, m.fds[0]))
        if pid == init["id"] and vec == vectors - 1:
            break
    return c, init, events


def eventfd_write(fd, v=1):
    os.write(fd, struct.pack("<Q", v))


def eventfd_read(fd, timeout=1.0):
    r, _, _ = select.select([fd], [], [], timeout)
    if not r:
        return 0
    return struct.unpack("<Q", os.read(fd, 8))[0]


# ---- the ivshm_peer test program ----

def eal_args(tag):
    return ["--lcores", "0@(0-1)", "-m", "128", "--no-pci",
            "--in-memory", "--file-prefix", unique(tag),
            "--log-level", "lib.eal:error", "--log-level",
            "vmlink.ivshm:info"]


class Peer:
    """ivshm_peer in a subprocess; its stdout is JSON lines."""

    def __init__(self, tag, *args, stdin=None):
        self.tag = tag
        self.cmd = [PEER] + eal_args(tag) + ["--"] + [str(a) for a in args]
        self.err_path = tempfile.mktemp(prefix="ivshmt-%s-" % tag,
                                        suffix=".log")
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE,
                                     stderr=self.err,
                                     preexec_fn=proc.die_with_parent())
        self.lines = []
        self.buf = b""

    def _take_lines(self, data):
        """Parse complete JSON lines of data (raw bytes) into self.lines;
        return the events parsed."""
        self.buf += data
        out = []
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            self.lines.append(ev)
            out.append(ev)
        return out

    def read_event(self, name, timeout=10.0):
        """Next JSON line whose 'event' is name (earlier ones are kept).
        Reads the pipe unbuffered: select() must see what is pending."""
        end = time.time() + timeout
        fd = self.proc.stdout.fileno()
        while True:
            for ev in self.lines:
                if ev.get("event") == name and not ev.get("_seen"):
                    ev["_seen"] = True
                    return ev
            left = end - time.time()
            if left <= 0:
                break
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                break
            data = os.read(fd, 65536)
            if not data:
                break
            self._take_lines(data)
        raise TimeoutError("%s: no '%s' event; stderr:\n%s" % (
            self.tag, name, self.stderr()))

    def finish(self, timeout=60.0):
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
            raise TimeoutError("%s timed out; stderr:\n%s" % (
                self.tag, self.stderr()))
        self._take_lines((out or b"") + b"\n")
        return self.proc.returncode

    def result(self):
        for ev in reversed(self.lines):
            if ev.get("event") == "result":
                return ev
        raise RuntimeError("%s: no result; stderr:\n%s" % (
            self.tag, self.stderr()))

    def stderr(self):
        self.err.flush()
        with open(self.err_path) as f:
            return f.read()[-6000:]

    def kill(self, sig=signal.SIGKILL, timeout=10.0):
        """Signal the peer and collect the rest of its output."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.finish(timeout)
        except TimeoutError:
            return None

    def cleanup(self):
        self.kill()
        self.err.close()
        try:
            os.unlink(self.err_path)
        except OSError:
            pass
        # --in-memory still creates the runtime directory
        prefix = self.cmd[self.cmd.index("--file-prefix") + 1]
        shutil.rmtree("/var/run/dpdk/" + prefix, ignore_errors=True)


def is_socket(path):
    try:
        return stat.S_ISSOCK(os.lstat(path).st_mode)
    except OSError:
        return False
