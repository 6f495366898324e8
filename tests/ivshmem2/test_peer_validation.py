# SPDX-License-Identifier: BSD-3-Clause
"""The peer library (ivshm_dev_connect) against fake, hostile servers:
INIT is validated (versions, limits, the layout against the memory fd's
real size and page alignment, the fd kind), later messages are checked
(lengths, ids, order, fd kinds), extra bytes are skipped (forward
compatibility), nothing crashes or hangs. Drives `test_dev connect`."""

import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "pylib"))
import ivshm_util as iu  # noqa: E402

TEST_DEV = os.path.join(iu.BUILD, "tests", "ivshmem2", "test_dev")
EINVAL, EPROTO, ETIMEDOUT = 22, 71, 110


def init_msg(id=0, max_peers=2, vectors=2, proto=0x4000, out=0x10000,
             version=2, compat=2, extra=b"", length=None):
    body = struct.pack("<6IQ", version, compat, id, max_peers, vectors,
                       proto, out) + extra
    n = length if length is not None else 8 + len(body)
    return struct.pack("<II", 0, n) + body


def event_msg(pid, vec, extra=b""):
    return struct.pack("<IIII", 1, 16 + len(extra), pid, vec) + extra


def gone_msg(pid):
    return struct.pack("<III", 2, 12, pid)


def memfd(size):
    fd = os.memfd_create("ivshmt")
    os.ftruncate(fd, size)
    return fd


def good_size(max_peers=2, out=0x10000, rw=0x3000):
    return 0x1000 + rw + max_peers * out


class FakeServer:
    """Accept one client, send a script of (bytes, [fds]) items."""

    def __init__(self, script):
        self.dir = tempfile.mkdtemp(prefix="ivshmt-fake-")
        self.path = os.path.join(self.dir, "s")
        self.ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.ls.bind(self.path)
        self.ls.listen(1)
        self.script = script
        self.error = None
        self.t = threading.Thread(target=self.run)
        self.t.start()

    def run(self):
        try:
            c, _ = self.ls.accept()
            for data, fds in self.script:
                if data is None:
                    break
                anc = []
                if fds:
                    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                            struct.pack("%di" % len(fds), *fds))]
                c.sendmsg([data], anc)
            # keep the connection open until the client is done
            c.settimeout(3.0)
            try:
                c.recv(1)
            except OSError:
                pass
            c.close()
        except Exception as e:  # reported by the test
            self.error = e

    def close(self):
        self.t.join(10)
        self.ls.close()
        try:
            os.unlink(self.path)
            os.rmdir(self.dir)
        except OSError:
            pass


class Validation(unittest.TestCase):
    def connect(self, script, timeout=800, close_after=True):
        fs = FakeServer(script)
        try:
            r = subprocess.run([TEST_DEV, "connect", fs.path, str(timeout)],
                               capture_output=True, text=True, timeout=20)
        finally:
            fs.close()
        self.assertIsNone(fs.error)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout.strip().splitlines()[-1])
        out["log"] = r.stderr
        return out

    def own_fds(self, vectors=2, pid=0):
        return [(event_msg(pid, v), [os.eventfd(0)]) for v in range(vectors)]

    def test_good(self):
        r = self.connect([(init_msg(), [memfd(good_size())])] +
                         self.own_fds())
        self.assertEqual(r["rc"], 0, r)
        self.assertEqual((r["id"], r["max_peers"], r["vectors"]), (0, 2, 2))
        self.assertEqual((r["rw_size"], r["out_size"]), (0x3000, 0x10000))
        self.assertEqual(r["bad_msgs"], 0)

    def test_forward_compatible_lengths(self):
        # longer INIT/EVENT_FD (a later revision), an unknown message type
        r = self.connect([
            (init_msg(id=1, extra=b"\xee" * 100), [memfd(good_size())]),
            (struct.pack("<II", 9, 20) + b"z" * 12, []),
            (event_msg(0, 0, b"12345678"), [os.eventfd(0)]),
            (event_msg(0, 1, b"12345678"), [os.eventfd(0)]),
            (event_msg(1, 0, b"x" * 3000), [os.eventfd(0)]),
            (event_msg(1, 1), [os.eventfd(0)]),
        ])
        self.assertEqual(r["rc"], 0, r)
        self.assertEqual(r["id"], 1)
        self.assertEqual(r["bad_msgs"], 1)
        self.assertIn("unknown message type", r["log"])

    def test_bad_init(self):
        size = good_size()
        cases = [
            ("memory smaller than the layout",
             init_msg(out=0x20000), [memfd(size)], EINVAL),
            ("old server", init_msg(version=1), [memfd(size)], EPROTO),
            ("newer only", init_msg(compat=3, version=3), [memfd(size)],
             EPROTO),
            ("no fd", init_msg(), [], EPROTO),
            ("two fds", init_msg(), [memfd(size), memfd(size)], EPROTO),
            ("0 vectors", init_msg(vectors=0), [memfd(size)], EPROTO),
            ("too many vectors", init_msg(vectors=1025), [memfd(size)],
             EPROTO),
            ("id beyond max_peers", init_msg(id=2), [memfd(size)], EPROTO),
            ("1 peer", init_msg(max_peers=1), [memfd(size)], EPROTO),
            ("unaligned output sections", init_msg(out=0x1800),
             [memfd(0x1000 + 0x3000 + 0x3000)], EINVAL),
            ("output sections overflow",
             init_msg(max_peers=65536, out=1 << 50), [memfd(size)], EINVAL),
            ("not a file", init_msg(), [os.pipe()[0]], EINVAL),
            ("empty file", init_msg(), [memfd(0)], EINVAL),
            ("short INIT", init_msg(length=16)[:16], [memfd(size)], EPROTO),
            ("huge length", struct.pack("<II", 0, 5000), [], EPROTO),
            ("EVENT_FD first", event_msg(0, 0), [os.eventfd(0)], EPROTO),
        ]
        for name, msg, fds, err in cases:
            r = self.connect([(msg, fds)])
            self.assertEqual(r["rc"], -err, (name, r))

    def test_bad_eventfds_time_out(self):
        good = [(init_msg(), [memfd(good_size())])]
        cases = [
            ("own vector fd is a pipe",
             [(event_msg(0, 0), [os.pipe()[0]]), (event_msg(0, 1),
                                                  [os.eventfd(0)])]),
            ("out of order", [(event_msg(0, 1), [os.eventfd(0)]),
                              (event_msg(0, 0), [os.eventfd(0)])]),
            ("no fd", [(event_msg(0, 0), []), (event_msg(0, 1),
                                                [os.eventfd(0)])]),
            ("vector out of range", [(event_msg(0, 2), [os.eventfd(0)])]),
        ]
        for name, msgs in cases:
            r = self.connect(good + msgs, timeout=400)
            self.assertEqual(r["rc"], -ETIMEDOUT, (name, r))
            self.assertIn("own eventfds missing", r["log"], name)

    def test_silence_and_hangup(self):
        r = self.connect([], timeout=300)
        self.assertEqual(r["rc"], -ETIMEDOUT)
        r = self.connect([(init_msg(), [memfd(good_size())]), (None, [])],
                         timeout=300)
        self.assertIn(r["rc"], (-ETIMEDOUT, -EPROTO))

    def test_after_handshake(self):
        r = self.connect([(init_msg(max_peers=3), [memfd(good_size(3))])] +
                         self.own_fds() + [
            (event_msg(1, 0), [os.eventfd(0)]),
            (event_msg(1, 1), [os.eventfd(0)]),
            (event_msg(1, 0), [os.eventfd(0)]),    # peer already complete
            (gone_msg(7), []),                     # no such peer
            (gone_msg(0), []),                     # ourselves
            (event_msg(2, 0), [os.pipe()[0]]),     # not an eventfd
            (event_msg(0, 0), [os.eventfd(0)]),    # own, after handshake
            (gone_msg(1), [os.eventfd(0)]),        # PEER_GONE with an fd
        ])
        self.assertEqual(r["rc"], 0, r)
        self.assertEqual(r["peer1"], 0)            # gone in the end
        self.assertEqual(r["peer2"], 0)
        self.assertEqual(r["bad_msgs"], 6, r)


if __name__ == "__main__":
    unittest.main(verbosity=2)
