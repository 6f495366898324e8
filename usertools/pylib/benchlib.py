# SPDX-License-Identifier: BSD-3-Clause
"""Shared pieces of vmlink's benchmark and demo scripts: paths, loadable
plugin copies, EAL arguments pinned to the machine's two cores, rate
measurement through testpmd's own counters, result tables. Python 3 stdlib
only."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from proc import cleanup_prefix, loadable_plugin, stop, wait_for
from testpmd import Testpmd

TOP = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("VMLINK_BUILD", os.path.join(TOP, "build"))


def plugin(name):
    """A path of build/drivers/NAME that -d loads."""
    path = os.path.join(BUILD, "drivers", name)
    if not os.path.exists(path):
        sys.exit("%s missing: build first (usertools/vmlink-setup)" % path)
    return loadable_plugin(path, "/run/vmlink-plugins")


def eal(prefix, fwd_cpu, mem=1024, extra=()):
    """EAL arguments for a two-lcore DPDK process: lcore 1, the poll loop,
    on CPU FWD_CPU; lcore 0 (main, mostly asleep) on the other CPU."""
    return ["--lcores", "0@%d,1@%d" % (1 - fwd_cpu, fwd_cpu), "--file-prefix",
            prefix, "-m", str(mem), "--no-pci"] + list(extra)


def measure_rate(totals, seconds, size, warmup=1.0):
    """Frames per second over SECONDS after WARMUP, from TOTALS(), which
    returns absolute (frames, bytes) received. The bytes per frame must be
    SIZE: a sender that refused the frame length and sent something else
    must not produce a number."""
    time.sleep(warmup)
    p0, b0 = totals()
    t0 = time.time()
    time.sleep(seconds)
    p1, b1 = totals()
    t1 = time.time()
    if p1 == p0:
        raise RuntimeError("no frames received")
    per_frame = (b1 - b0) / (p1 - p0)
    if abs(per_frame - size) > 4:
        raise RuntimeError("received %.0f-byte frames, expected %d"
                           % (per_frame, size))
    return (p1 - p0) / (t1 - t0)


def measure_rx_pps(ports, seconds, size, warmup=1.0):
    """measure_rate summed over PORTS, a list of (testpmd, port id)."""
    def totals():
        st = [pmd.port_stats(port) for pmd, port in ports]
        return (sum(s["ipackets"] for s in st), sum(s["ibytes"] for s in st))
    return measure_rate(totals, seconds, size, warmup)


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
    """True once PATH exists, False after TIMEOUT seconds."""
    return bool(wait_for(lambda: os.path.exists(path), timeout))


def size_args(size, role, scatter=True):
    """testpmd arguments to send (ROLE "tx") or receive ("rx") SIZE-byte
    frames. Above 1518 bytes the port needs a larger max-pkt-len; above
    1920 a frame no longer fits a default mbuf, so a sender builds it in
    one big mbuf and a receiver takes it as an mbuf chain (the SCATTER
    offload) or, with SCATTER False for PMDs without that offload
    (net_vhost in 22.11), into big mbufs."""
    tx = ["--txpkts=%d" % size] if role == "tx" else []
    if size <= 1518:
        return tx
    pktlen = ["--max-pkt-len=%d" % (size + 4)]
    if size <= 2048 - 128:
        return pktlen + tx
    if role == "rx" and scatter:
        return pktlen + ["--enable-scatter"]
    # testpmd checks --txpkts against the mbuf size given before it
    return ["--mbuf-size=%d" % (size + 256)] + pktlen + tx


class Run:
    """The processes of one measurement and their scratch directory under
    /run. Use as a context manager: on leaving, every process is stopped
    and the EAL leftovers removed; the directory (the logs) is removed too
    unless the measurement failed, and then its path is printed."""

    def __init__(self, tag="bench"):
        self.dir = workdir(tag)
        self.pmds = []
        self.procs = []
        self.prefixes = []

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        for t in self.pmds:
            t.close()
        for p in reversed(self.procs):
            stop(p, signal.SIGINT, 20)
        for p in self.prefixes:
            cleanup_prefix(p)
        if exc_type is None:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print("  (logs of the failed case kept in %s)" % self.dir,
                  file=sys.stderr)
        return False

    def prefix(self, name):
        """A --file-prefix for process NAME of this run."""
        p = "vmlb-%s-%d" % (name, os.getpid())
        cleanup_prefix(p)
        self.prefixes.append(p)
        return p

    def testpmd(self, name, fwd_cpu, eal_extra=(), **kw):
        """An interactive testpmd whose poll loop runs on CPU FWD_CPU."""
        t = Testpmd(eal(self.prefix(name), fwd_cpu, extra=eal_extra),
                    log=os.path.join(self.dir, name + ".log"), **kw)
        self.pmds.append(t)
        return t

    def spawn(self, name, argv):
        """Start ARGV with its output in NAME.log; stopped with SIGINT."""
        with open(os.path.join(self.dir, name + ".log"), "w") as log:
            p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p


def compare(ours, theirs, repeat):
    """Run the measurements OURS() and THEIRS() REPEAT times each,
    alternating, and return the best rate of each. Noise from a shared
    machine only ever slows a run down (here the samples are bimodal: a
    process pair either gets the two CPUs or it does not), so the best of
    N estimates what the code can do and the median would flip between
    the modes. The samples go to stderr. A failed measurement is reported
    and counts as NaN; the benchmark goes on with the next case."""
    a, b = [], []
    for _ in range(repeat):
        for fn, out in ((ours, a), (theirs, b)):
            try:
                out.append(fn())
            except Exception as e:  # noqa: BLE001 (report, go on)
                print("  measurement failed: %s" % e, file=sys.stderr)
                out.append(float("nan"))
    if repeat > 1:
        print("  samples (Mpps): %s | %s" % (
            " ".join("%.2f" % (v / 1e6) for v in a),
            " ".join("%.2f" % (v / 1e6) for v in b)), file=sys.stderr)
    return _best(a), _best(b)


def _best(values):
    ok = [v for v in values if v == v]  # NaN != NaN
    return max(ok) if ok else float("nan")
