# SPDX-License-Identifier: BSD-3-Clause
"""net_vmlink_ivshmem2 devargs, as stock dpdk-testpmd loads the PMD with -d:
bad values, unknown or repeated keys and an absent server fail the probe
with a message naming the argument; every key accepted together. vmlink
with an ivshmem2 port whose server is not running (no socket, a stale
socket) exits 1 naming the port and the socket."""

import os
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "pylib"))
import ivshm_pmd as ip  # noqa: E402
from vmlink_testlib import VMLINK  # noqa: E402


class Devargs(ip.PmdTestCase):
    def probe(self, devargs, expect_ok=False):
        """testpmd with one vdev, then 'quit': (output, probed?)"""
        vdev = ip.DRIVER + ("," + devargs if devargs else "")
        cmd = ["dpdk-testpmd", "--lcores", "0@0,1@1", "--in-memory",
               "--file-prefix", self.prefix("probe"),
               "-m", "64", "--no-pci", "--log-level",
               "pmd.net.vmlink_ivshmem2:info",
               "-d", self.so, "--vdev", vdev, "--", "-i",
               "--total-num-mbufs=2048"]
        p = subprocess.run(cmd, input="quit\n", stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60,
                           universal_newlines=True)
        out = p.stdout
        probed = "No probed ethernet devices" not in out
        if expect_ok:
            self.assertTrue(probed, out)
        else:
            self.assertFalse(probed, "%s was accepted:\n%s" % (devargs, out))
            self.assertIn("failed to initialize %s device" % ip.DRIVER, out)
        return out

    def test_bad_devargs(self):
        srv = self.server("-o", "64K")
        good = "server=" + srv.sock
        cases = [
            # (devargs, text the error must contain)
            ("server=/nonexistent/ivshm.sock",
             "cannot attach through ivshmem2-server "
             "/nonexistent/ivshm.sock: No such file or directory"),
            (good + ",mode=bogus", "devarg mode='bogus': poll or doorbell"),
            (good + ",zero-copy=7",
             "devarg zero-copy='7': expected a number in 0..1"),
            (good + ",zero-copy=yes",
             "devarg zero-copy='yes': expected a number in 0..1"),
            (good + ",frobnicate=1", "unknown devarg 'frobnicate'"),
            (good + ",mode=poll,mode=doorbell",
             "devarg 'mode' given more than once"),
            ("mode=poll",
             "devarg server=<ivshmem2-server socket> is required"),
            ("", "devarg server=<ivshmem2-server socket> is required"),
            ("server=", "devarg server: a socket path of 1..107 characters"),
            ("server=/" + "x" * 120,
             "devarg server: a socket path of 1..107 characters"),
            (good + ",mac=01:00:5e:00:00:01",
             "devarg mac='01:00:5e:00:00:01': expected a unicast MAC"),
            (good + ",inflight=0",
             "devarg inflight='0': expected a number in 1..32768"),
            (good + ",copy-threshold=-1",
             "devarg copy-threshold='-1': expected a number in 0..65553"),
        ]
        for devargs, text in cases:
            with self.subTest(devargs=devargs):
                out = self.probe(devargs)
                self.assertIn(text, out)
        # the server saw no peer stay: all the failures above left it alone
        self.assertTrue(srv.alive())
        # every key at once, valid: probed, the MAC taken
        out = self.probe(good + ",mode=doorbell,mac=02:11:22:33:44:55,"
                         "zero-copy=1,inflight=64,copy-threshold=128",
                         expect_ok=True)
        self.assertIn("doorbell mode, zero-copy on", out)
        self.assertIn("Port 0: 02:11:22:33:44:55", out)

    def test_server_mismatch(self):
        # one interrupt vector: no doorbell mode (its only vector carries
        # state changes), poll mode is fine
        one = self.server("-o", "64K", "-V", "1", name="one")
        out = self.probe("server=%s,mode=doorbell" % one.sock)
        self.assertIn("devarg mode=doorbell: %s offers 1 interrupt vector(s),"
                      " doorbell mode needs 2" % one.sock, out)
        self.probe("server=%s,mode=poll" % one.sock, expect_ok=True)
        # not an ivshmem-net region
        other = self.server("-o", "64K", "-P", "0x4000", name="other")
        out = self.probe("server=" + other.sock)
        self.assertIn("device protocol is 0x4000, not 0x0001", out)
        self.assertIn("cannot attach through ivshmem2-server %s: Protocol "
                      "not supported" % other.sock, out)

    def vmlink_fails(self, sock):
        prefix = self.prefix("nosrv")
        ini = ip.vmlink_ini(prefix, [
            ("link", {"type": "ivshmem2", "path": sock, "peer": "sink"}),
            ("sink", {"type": "ethdev", "device": "net_null0",
                      "rx-queues": 0})], memory=64)
        path = os.path.join(self.dir, "nosrv.ini")
        with open(path, "w") as f:
            f.write(ini)
        p = subprocess.run([VMLINK, "-c", path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30,
                           universal_newlines=True)
        self.assertEqual(p.returncode, 1, p.stdout)
        # names the config line, the port and the socket
        self.assertRegex(p.stdout, r"nosrv\.ini:\d+: \[port link\] device "
                         r"'net_vmlink_ivshmem2_link,server=%s[,']" %
                         sock.replace(".", r"\."))
        return p.stdout

    def test_vmlink_without_server(self):
        out = self.vmlink_fails(os.path.join(self.dir, "none.sock"))
        self.assertIn("cannot attach through ivshmem2-server %s: No such "
                      "file or directory" % os.path.join(self.dir,
                                                         "none.sock"), out)
        # a stale socket a dead server left behind
        stale = os.path.join(self.dir, "stale.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(stale)
        s.close()
        out = self.vmlink_fails(stale)
        self.assertIn("cannot attach through ivshmem2-server %s: Connection "
                      "refused" % stale, out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
