# SPDX-License-Identifier: BSD-3-Clause
"""Shared pieces of vmlink's benchmark and demo scripts: paths, loadable
plugin copies, EAL arguments pinned to the machine's two cores, rate
measurement through testpmd's own counters, result tables. Python 3 stdlib
only."""

import os
import shutil
import sys
import tempfile
import time

TOP = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("VMLINK_BUILD", os.path.join(TOP, "build"))


def plugin(name):
    """A loadable path for build/drivers/NAME: EAL refuses a plugin below a
    world-writable directory, so then a copy in a private one."""
    path = os.path.realpath(os.path.join(BUILD, "drivers", name))
    if not os.path.exists(path):
        sys.exit("%s missing: build first (usertools/vmlink-setup)" % path)
    d = os.path.dirname(path)
    while d != "/":
        if os.stat(d).st_mode & 0o002:
            safe = "/run/vmlink-plugins"
            os.makedirs(safe, mode=0o755, exist_ok=True)
            copy = os.path.join(safe, name)
            shutil.copy2(path, copy + ".tmp")
            os.replace(copy + ".tmp", copy)
            return copy
        d = os.path.dirname(d)
    return path


def eal(prefix, fwd_cpu, mem=1024, extra=()):
    """EAL arguments for a two-lcore DPDK process: lcore 1, the poll loop,
    on CPU FWD_CPU; lcore 0 (main, mostly asleep) on the other CPU."""
    return ["--lcores", "0@%d,1@%d" % (1 - fwd_cpu, fwd_cpu), "--file-prefix",
            prefix, "-m", str(mem), "--no-pci"] + list(extra)


def measure_rx_pps(pmd, port, seconds, warmup=1.0):
    """Receive rate of PORT of the testpmd PMD over SECONDS, after WARMUP,
    from its absolute RX-packets counter."""
    time.sleep(warmup)
    a = pmd.port_stats(port)["ipackets"]
    t0 = time.time()
    time.sleep(seconds)
    b = pmd.port_stats(port)["ipackets"]
    return (b - a) / (time.time() - t0)


def gbps(pps, size):
    """Frame bits per second (frames as testpmd builds them, no CRC)."""
    return pps * size * 8 / 1e9


def print_table(title, rows, ours, theirs):
    """ROWS: (case, size, our_pps, their_pps)."""
    print()
    print(title)
    hdr = "%-16s %6s  %11s %8s  %11s %8s  %6s" % (
        "case", "bytes", ours + " Mpps", "Gbit/s", theirs + " Mpps",
        "Gbit/s", "ratio")
    print(hdr)
    print("-" * len(hdr))
    for case, size, a, b in rows:
        ratio = a / b if b else float("nan")
        print("%-16s %6d  %11.3f %8.2f  %11.3f %8.2f  %5.2fx" % (
            case, size, a / 1e6, gbps(a, size), b / 1e6, gbps(b, size),
            ratio))
    sys.stdout.flush()


def workdir(tag):
    """A private scratch directory (sockets, logs) under /run."""
    return tempfile.mkdtemp(prefix="vmlink-%s-" % tag, dir="/run")


def wait_path(path, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if os.path.exists(path):
            return True
        time.sleep(0.05)
    return False
