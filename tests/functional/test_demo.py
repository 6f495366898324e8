#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The demo (usertools/vmlink-demo, minus its setup step): vmlink on the
default config/demo.ini moves frames from VM A to VM B over vhost-user and
an ivshmem v2 link, and every frame sent is received or counted as a drop.
Each demo has its own run directory and EAL file prefixes, and leaves
none of them behind."""

import os
import re
import subprocess
import sys
import unittest

from proc import eal_leftovers
from vmlink_testlib import SOURCE


class Demo(unittest.TestCase):

    def test_demo_moves_frames_and_accounts_for_all(self):
        p = subprocess.run(
            [sys.executable, os.path.join(SOURCE, "usertools", "pylib",
                                          "demo.py"), "--duration", "3"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            universal_newlines=True, timeout=240)
        self.assertEqual(p.returncode, 0, p.stdout[-4000:])
        self.assertIn("link up", p.stdout)          # live stats lines
        m = re.search(r"VM B received\s+(\d+)", p.stdout)
        self.assertIsNotNone(m, p.stdout[-2000:])
        self.assertGreater(int(m.group(1)), 0)
        self.assertRegex(p.stdout, r"sent = received \+ counted drops: "
                                   r"(\d+) = \d+ \+ \d+  OK")
        self.assertIn("vmlink summary", p.stdout)
        m = re.search(r"run directory (/run/(vmlink-demo-\S+)),", p.stdout)
        self.assertIsNotNone(m, p.stdout[:2000])
        run, tag = m.group(1), m.group(2)
        self.assertFalse(os.path.exists(run), "run directory left behind")
        self.assertEqual(eal_leftovers(tag), [], "EAL files left behind")


if __name__ == "__main__":
    unittest.main(verbosity=2)
