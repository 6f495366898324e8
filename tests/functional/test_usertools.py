#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The user-facing scripts in usertools/: their --help prints their own
usage at once, without preparing the machine or building first."""

import os
import subprocess
import time
import unittest

from vmlink_testlib import SOURCE


def tool(name):
    return os.path.join(SOURCE, "usertools", name)


class Help(unittest.TestCase):

    def test_help_runs_no_setup(self):
        for name, words in (
                ("vmlink-test", ["usertools/vmlink-test [MESON TEST "
                                 "ARGUMENTS]", "--suite unit",
                                 "VMLINK_BUILD"]),
                ("vmlink-demo", ["usertools/vmlink-demo [--duration"]),
                ("vmlink-setup", ["usertools/vmlink-setup [--no-build]"])):
            t0 = time.time()
            p = subprocess.run([tool(name), "--help"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT,
                               universal_newlines=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stdout)
            for w in words:
                self.assertIn(w, p.stdout, name)
            # setup announces its steps with "== vmlink-setup"
            self.assertNotIn("== vmlink-setup", p.stdout, name)
            self.assertNotIn("meson test", p.stdout.split("\n")[0], name)
            self.assertLess(time.time() - t0, 5, name)


if __name__ == "__main__":
    unittest.main(verbosity=2)
