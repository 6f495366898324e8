#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The user-facing scripts in usertools/: their --help prints their own
usage at once, without preparing the machine or building first; the
benchmarks leave their results as CSV, JSON and a PNG plot."""

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
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
                ("vmlink-demo", ["usertools/vmlink-demo [--vm] [--duration",
                                 "--vm: real VMs"]),
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


# Prints testpmd's prompt and, in the same write, a port event, as testpmd
# does when a link comes up just as a command ends; then answers commands.
FAKE_TESTPMD_OUTPUT = r"""
import sys
EVENT = "\nPort 0: link state change event\n"
sys.stdout.write("Interactive-mode selected\ntestpmd> " + EVENT)
sys.stdout.flush()
for line in sys.stdin:
    if line.strip() == "quit":
        break
    sys.stdout.write(line.strip() + "\r\n\nLink status: up\ntestpmd> " +
                     EVENT)
    sys.stdout.flush()
"""


class TestpmdDriver(unittest.TestCase):

    def test_event_after_prompt(self):
        """An event line after testpmd's prompt does not hide the prompt:
        once, this cost a benchmark sample (the link came up as the
        driver asked for the port's info, and it waited 30 s for a prompt
        it had already got). Only the timing of testpmd's output is
        played here: it cannot be had on demand from a real testpmd."""
        from testpmd import Testpmd

        class Fake(Testpmd):
            def _spawn(self, cmd):
                return subprocess.Popen(
                    [sys.executable, "-c", FAKE_TESTPMD_OUTPUT],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT, bufsize=0)

        t0 = time.time()
        t = Fake([], timeout=5)
        self.addCleanup(t.close)
        self.assertTrue(t.link_up(0))
        self.assertTrue(t.wait_link(0, timeout=5))
        self.assertLess(time.time() - t0, 5)


class BenchResults(unittest.TestCase):

    def test_benchmark_writes_csv_json_png(self):
        """A short real run of a benchmark (two testpmd pairs, ivshmem2
        and net_memif, 64-byte frames, best of two samples each): the
        table it prints is also in CSV and JSON, and drawn."""
        out = tempfile.mkdtemp(prefix="vmlink-bench-test-")
        self.addCleanup(lambda: shutil.rmtree(out, ignore_errors=True))
        p = subprocess.run(
            [sys.executable, tool("vmlink-bench-ivshmem"), "--mode", "poll",
             "--sizes", "64", "--seconds", "1", "--repeat", "2",
             "--output", out],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            universal_newlines=True, timeout=170)
        self.assertEqual(p.returncode, 0, p.stdout)
        base = os.path.join(out, "vmlink-bench-ivshmem")
        self.assertIn("results: %s.csv, %s.json, %s.png" % (base, base, base),
                      p.stdout)
        with open(base + ".csv") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(len(rows), 1, rows)
        r = rows[0]
        self.assertEqual((r["case"], r["bytes"], r["unit"], r["ours"],
                          r["theirs"]),
                         ("txonly->rxonly", "64", "Mpps", "ivshmem2",
                          "net_memif"))
        self.assertGreater(float(r["ours_value"] or 0), 0, p.stdout)
        self.assertGreater(float(r["theirs_value"] or 0), 0, p.stdout)
        # the printed table has the same figures
        self.assertRegex(p.stdout, r"txonly->rxonly\s+64\s+%.3f" %
                         float(r["ours_value"]))
        with open(base + ".json") as f:
            data = json.load(f)
        self.assertEqual(data["benchmark"], "vmlink-bench-ivshmem")
        self.assertEqual(data["arguments"]["sizes"], "64")
        self.assertAlmostEqual(data["results"][0]["ratio"], float(r["ratio"]))
        with open(base + ".png", "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        self.assertGreater(os.path.getsize(base + ".png"), 10000)


if __name__ == "__main__":
    unittest.main(verbosity=2)
