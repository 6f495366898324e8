#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""vmlink's PMDs as shared objects: stock dpdk-testpmd loads each with -d
and probes a device of it; the same drivers are linked into vmlink."""

import subprocess
import unittest

from vmlink_testlib import VmlinkTestCase, eal_section, plugin_path

# shared object -> vdev to probe with it
PLUGINS = {
    "librte_net_vmlink_skel.so": "net_vmlink_skel0",
}


def testpmd_probe(so, vdev, prefix):
    """Run stock testpmd with -d SO --vdev VDEV; returns its output."""
    p = subprocess.run(
        ["dpdk-testpmd", "-l", "0-1", "--file-prefix", prefix, "-m", "256",
         "--no-pci", "-d", so, "--vdev", vdev, "--", "-i"],
        input="show port info 0\nquit\n", stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, universal_newlines=True, timeout=60)
    return p.returncode, p.stdout


class Plugins(VmlinkTestCase):

    def test_testpmd_loads_and_probes(self):
        for so, vdev in PLUGINS.items():
            path = plugin_path(so)
            rc, out = testpmd_probe(path, vdev, self.prefix("plug"))
            self.assertEqual(rc, 0, out)
            name = vdev.split(",")[0]
            self.assertIn("Device name: " + name, out)
            self.assertIn("Driver name: " + name.rstrip("0123456789"), out)

    def test_linked_into_vmlink(self):
        cfg = self.write_config(
            eal_section(self.prefix("skel")) +
            "[vmlink]\nstats-interval = 0\n"
            "[port s]\ntype = ethdev\ndevice = net_vmlink_skel0\n")
        r = self.run_vmlink(["-c", cfg, "--duration", "1"])
        self.assertEqual(r.rc, 0, r.err)
        self.assertEqual(r.port("s")["rx_packets"], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
