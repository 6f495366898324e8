# SPDX-License-Identifier: BSD-3-Clause
"""Benchmark results as files a report can use: every table a benchmark
prints is also written as CSV and JSON, and drawn as a PNG (ours next to
the anchor, DPDK's own PMD, per case and frame size). Python 3 stdlib
only; the plot runs under Debian's python3 with python3-matplotlib
(installed by vmlink-setup), whatever interpreter runs the benchmark."""

import csv
import datetime
import json
import os
import platform
import subprocess
import sys

PLOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plot.py")
PLOT_PYTHON = "/usr/bin/python3"	# Debian's, with python3-matplotlib

FIELDS = ["table", "case", "bytes", "unit", "ours", "ours_value", "theirs",
          "theirs_value", "ratio"]


def default_dir(build, name):
    """BUILD/bench-results/NAME-YYYYmmdd-HHMMSS."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return os.path.join(build, "bench-results", "%s-%s" % (name, stamp))


class Results:
    """The tables of one benchmark run. add() records a row as it is
    printed; write() leaves NAME.csv, NAME.json and NAME.png in OUTDIR."""

    def __init__(self, name, outdir, args):
        self.name = name
        self.outdir = outdir
        self.meta = {
            "benchmark": name,
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "host": platform.node(),
            "cpus": os.cpu_count(),
            "arguments": {k: v for k, v in vars(args).items()
                          if isinstance(v, (str, int, float, bool,
                                            type(None)))},
        }
        self.rows = []

    def add(self, table, case, size, unit, ours, ours_value, theirs=None,
            theirs_value=None):
        """One measurement: OURS_VALUE of OURS (and THEIRS_VALUE of the
        anchor THEIRS, if there is one) in UNIT; NaN: it failed."""
        ratio = None
        if theirs_value and ours_value == ours_value and \
                theirs_value == theirs_value:
            ratio = ours_value / theirs_value
        self.rows.append({
            "table": table, "case": case, "bytes": size, "unit": unit,
            "ours": ours, "ours_value": _num(ours_value),
            "theirs": theirs, "theirs_value": _num(theirs_value),
            "ratio": ratio})

    def write(self):
        """Write the files; returns their paths (the PNG only when it
        could be drawn)."""
        os.makedirs(self.outdir, exist_ok=True)
        base = os.path.join(self.outdir, self.name)
        with open(base + ".csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=FIELDS)
            w.writeheader()
            for r in self.rows:
                w.writerow({k: "" if r[k] is None else r[k] for k in FIELDS})
        with open(base + ".json", "w") as f:
            json.dump(dict(self.meta, results=self.rows), f, indent=2)
            f.write("\n")
        paths = [base + ".csv", base + ".json"]
        why = plot(base + ".json", base + ".png")
        if why is None:
            paths.append(base + ".png")
        else:
            print("no plot: %s" % why, file=sys.stderr)
        print("\nresults: %s" % ", ".join(paths))
        sys.stdout.flush()
        return paths


def plot(json_path, png_path):
    """Draw JSON_PATH's results into PNG_PATH with Debian's matplotlib;
    None on success, else why not."""
    if not os.path.exists(PLOT_PYTHON):
        return "%s missing" % PLOT_PYTHON
    p = subprocess.run([PLOT_PYTHON, PLOT, json_path, png_path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    if p.returncode != 0:
        return p.stdout.strip().splitlines()[-1] if p.stdout.strip() else \
            "plot.py exited with %d" % p.returncode
    return None


def _num(v):
    """JSON has no NaN: a failed measurement is null."""
    return None if v is None or v != v else v
