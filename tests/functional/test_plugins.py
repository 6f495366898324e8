#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""vmlink's PMDs as shared objects: stock dpdk-testpmd loads each with -d
and probes a device of it; bad devargs fail the probe with a message naming
the argument."""

import os
import subprocess
import unittest

from proc import wait_for
from vmlink_testlib import BUILD, VmlinkTestCase, plugin_path


def testpmd_probe(so, vdev, prefix):
    """Run stock testpmd with -d SO --vdev VDEV; returns (rc, output)."""
    p = subprocess.run(
        ["dpdk-testpmd", "-l", "0-1", "--file-prefix", prefix, "-m", "256",
         "--no-pci", "-d", so, "--vdev", vdev, "--", "-i"],
        input="show port info 0\nquit\n", stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, universal_newlines=True, timeout=60)
    return p.returncode, p.stdout


class Plugins(VmlinkTestCase):

    def run_dir(self):
        d = "/run/vmlink-test-%d" % os.getpid()
        os.makedirs(d, exist_ok=True)
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", d]))
        return d

    def start_server(self, d):
        sock = os.path.join(d, "ivshmem2.sock")
        p = subprocess.Popen([os.path.join(BUILD, "app", "ivshmem2-server"),
                              "-F", "--force", "-S", sock, "-m",
                              "/vmlt-plug-%d" % os.getpid()],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (p.terminate(), p.wait()))
        self.assertTrue(wait_for(lambda: os.path.exists(sock), 10))
        return sock

    def test_vhost_pmd(self):
        d = self.run_dir()
        so = plugin_path("librte_net_vmlink_vhost.so")
        rc, out = testpmd_probe(
            so, "net_vmlink_vhost0,path=%s/vh.sock,queues=2" % d,
            self.prefix("plug"))
        self.assertEqual(rc, 0, out)
        self.assertIn("Device name: net_vmlink_vhost0", out)
        self.assertIn("Driver name: net_vmlink_vhost", out)
        self.assertIn("Link status: down", out)  # no front-end yet
        for bad, msg in (("net_vmlink_vhost0", "path=<socket> is required"),
                         ("net_vmlink_vhost0,path=%s/x.sock,queues=0" % d,
                          "devarg queues='0'"),
                         ("net_vmlink_vhost0,path=%s/x.sock,bogus=1" % d,
                          "unknown devarg 'bogus' (known: path,"),
                         ("net_vmlink_vhost0,path=%s/x.sock,mac=01:00:00:00:00:01"
                          % d, "devarg mac=")):
            rc, out = testpmd_probe(so, bad, self.prefix("plug"))
            self.assertIn(msg, out, bad)
            self.assertNotIn("Device name: net_vmlink_vhost0", out, bad)

    def test_ivshmem2_pmd(self):
        d = self.run_dir()
        sock = self.start_server(d)
        so = plugin_path("librte_net_vmlink_ivshmem2.so")
        rc, out = testpmd_probe(so, "net_vmlink_ivshmem2,server=%s" % sock,
                                self.prefix("plug"))
        self.assertEqual(rc, 0, out)
        self.assertIn("Device name: net_vmlink_ivshmem2", out)
        self.assertIn("Driver name: net_vmlink_ivshmem2", out)
        for bad, msg in (("net_vmlink_ivshmem2,server=%s/none.sock" % d,
                          "cannot attach through ivshmem2-server"),
                         ("net_vmlink_ivshmem2,server=%s,mode=bogus" % sock,
                          "devarg mode='bogus'")):
            rc, out = testpmd_probe(so, bad, self.prefix("plug"))
            self.assertIn(msg, out, bad)
            self.assertNotIn("Device name: net_vmlink_ivshmem2", out, bad)


if __name__ == "__main__":
    unittest.main(verbosity=2)
