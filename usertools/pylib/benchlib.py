# SPDX-License-Identifier: BSD-3-Clause
"""Shared pieces of vmlink's benchmark scripts: running stock dpdk-testpmd
processes pinned to the machine's cores, reading their rates, printing
tables. Python 3 stdlib only.

Rates are read from testpmd's own periodic port statistics (--stats-period
1): the median of the per-second Rx-pps samples after a warm-up, so start-up
and shutdown never count."""

import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("VMLINK_BUILD", os.path.join(TOP, "build"))


def plugin(name):
    """A loadable path for build/drivers/NAME (EAL refuses plugins below a
    world-writable directory: copy to a private one then)."""
    path = os.path.realpath(os.path.join(BUILD, "drivers", name))
    if not os.path.exists(path):
        sys.exit("benchmark: %s missing: build first (usertools/vmlink-setup)"
                 % path)
    d = os.path.dirname(path)
    while d != "/":
        if os.stat(d).st_mode & 0o002:
            safe = "/run/vmlink-bench-plugins"
            os.makedirs(safe, mode=0o755, exist_ok=True)
            copy = os.path.join(safe, name)
            shutil.copy2(path, copy)
            return copy
        d = os.path.dirname(d)
    return path


class Proc:
    """A testpmd (or vmlink) process with its output in a log file."""

    def __init__(self, name, cmd, workdir):
        self.name = name
        self.cmd = cmd
        self.log = os.path.join(workdir, name + ".log")
        self.f = open(self.log, "w")
        self.p = subprocess.Popen(cmd, stdout=self.f, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)

    def text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def alive(self):
        return self.p.poll() is None

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.f.close()


def eal(prefix, main_cpu, fwd_cpu, mem=1024, extra=()):
    """EAL arguments for a two-lcore process: lcore 0 (main, mostly asleep)
    on MAIN_CPU, lcore 1 (the poll loop) on FWD_CPU."""
    return ["--lcores", "0@%d,1@%d" % (main_cpu, fwd_cpu), "--file-prefix",
            prefix, "-m", str(mem), "--no-pci"] + list(extra)


def testpmd(prefix, main_cpu, fwd_cpu, vdevs, fwd_mode, size=64, plugins=(),
            extra=()):
    cmd = ["dpdk-testpmd"] + eal(prefix, main_cpu, fwd_cpu)
    for p in plugins:
        cmd += ["-d", p]
    for v in vdevs:
        cmd += ["--vdev", v]
    # single-segment frames of SIZE; mbufs big enough for jumbo frames
    mbuf = 2176 if size <= 2048 else 10240
    cmd += ["--", "--forward-mode=" + fwd_mode, "--txpkts=%d" % size,
            "--mbuf-size=%d" % mbuf, "--max-pkt-len=%d" % max(size + 4, 1518),
            "--stats-period", "1", "--auto-start", "--nb-cores=1",
            "--rxq=1", "--txq=1", "--burst=32"] + list(extra)
    if size <= 2048:
        # testpmd's default total-num-mbufs for 1 port is plenty
        pass
    else:
        cmd += ["--total-num-mbufs=16384"]
    return cmd


PPS_RE = re.compile(r"(Rx|Tx)-pps:\s+(\d+)")


def pps_samples(text, which="Rx", port_block=0):
    """Per-second pps samples of port block PORT_BLOCK (the n-th port in
    each stats print) from testpmd's periodic output."""
    samples = []
    for block in text.split("Port statistics ====")[1:]:
        vals = [int(v) for k, v in PPS_RE.findall(block) if k == which]
        if len(vals) > port_block:
            samples.append(vals[port_block])
    return samples


def steady_rate(samples, warmup=2):
    s = samples[warmup:]
    s = [x for x in s if x > 0] or s
    return statistics.median(s) if s else 0.0


def gbps(pps, size):
    """Frame bits per second (the frame as testpmd builds it, no CRC)."""
    return pps * size * 8 / 1e9


def print_table(title, rows, ours="vmlink", theirs="anchor"):
    """ROWS: (label, size, our_pps, their_pps)."""
    print()
    print(title)
    hdr = "%-18s %6s  %10s %9s  %10s %9s  %7s" % (
        "case", "bytes", ours + " Mpps", "Gbit/s", theirs + " Mpps",
        "Gbit/s", "ratio")
    print(hdr)
    print("-" * len(hdr))
    for label, size, a, b in rows:
        ratio = (a / b) if b else float("nan")
        print("%-18s %6d  %10.3f %9.2f  %10.3f %9.2f  %6.2fx" % (
            label, size, a / 1e6, gbps(a, size), b / 1e6, gbps(b, size),
            ratio))
    sys.stdout.flush()


def workdir():
    d = tempfile.mkdtemp(prefix="vmlink-bench-", dir="/run")
    return d


def cleanup_prefix(prefix):
    shutil.rmtree("/var/run/dpdk/" + prefix, ignore_errors=True)
    try:
        for name in os.listdir("/dev/hugepages"):
            if name.startswith(prefix + "map_") or name.startswith(prefix + "-"):
                os.unlink(os.path.join("/dev/hugepages", name))
    except OSError:
        pass


def wait_file(path, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if os.path.exists(path):
            return True
        time.sleep(0.05)
    return False
