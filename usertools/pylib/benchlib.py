# SPDX-License-Identifier: BSD-3-Clause
"""Shared pieces of vmlink's benchmark and demo scripts: paths, loadable
plugin copies, EAL arguments pinned to the machine's two cores, rate
measurement through testpmd's own counters, result tables. Python 3 stdlib
only."""

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import callgrind
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


def print_table(title, rows, ours, theirs, results=None):
    """ROWS: (case, size, our_pps, their_pps); also recorded in RESULTS
    (a benchresults.Results), in Mpps."""
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
        if results is not None:
            results.add(title, case, size, "Mpps", ours, a / 1e6, theirs,
                        b / 1e6)
    sys.stdout.flush()


def _insn(v):
    return "%7s" % "-" if v is None else "%7.1f" % v


def print_insn_table(title, rows, ours, theirs, check=None, results=None):
    """ROWS: (case, size, our figures, their figures), figures as the
    insn cases return them: {"be": {"rx", "tx", "rxtx"}, "process"} and,
    with CHECK (its column title), "fe": a cost that must be the same for
    both (the front-end's, when they negotiated the same features). The
    rx+tx sums are recorded in RESULTS."""
    print()
    print(title)
    hdr = "%-10s %6s | %-23s | %-23s | %6s | %-15s" % (
        "case", "bytes", ours + " rx/tx/sum", theirs + " rx/tx/sum", "ratio",
        "whole process")
    if check:
        hdr += " | %s" % check
    print(hdr)
    print("-" * len(hdr))
    for case, size, a, b in rows:
        line = "%-10s %6d | %s %s %s | %s %s %s | %5.2fx | %7.1f %7.1f" % (
            case, size, _insn(a["be"]["rx"]), _insn(a["be"]["tx"]),
            _insn(a["be"]["rxtx"]), _insn(b["be"]["rx"]),
            _insn(b["be"]["tx"]), _insn(b["be"]["rxtx"]),
            a["be"]["rxtx"] / b["be"]["rxtx"], a["process"], b["process"])
        if check:
            line += " | %7.1f %7.1f" % (a["fe"], b["fe"])
        print(line)
        if results is not None:
            results.add(title, case, size, "instructions per frame", ours,
                        a["be"]["rxtx"], theirs, b["be"]["rxtx"])
    print("(instructions per frame, inclusive; ratio = %s / %s rx+tx; "
          "whole process: every instruction of the testpmd process, per "
          "frame)" % (ours, theirs))
    sys.stdout.flush()


def keep_path(keep_dir, kind, size, zero_copy):
    """Where a callgrind profile is kept (None: not kept)."""
    if not keep_dir:
        return None
    os.makedirs(keep_dir, exist_ok=True)
    return os.path.join(keep_dir, "%s-%d-%s.callgrind" % (
        kind, size, "zc" if zero_copy else "copy"))


def print_insn_profile(title, fig, depth=4, min_share=0.02):
    """Where the instructions of FIG's burst functions go: the callees of
    each, inclusive instructions per frame, DEPTH levels deep."""
    prof = fig["profile"]
    print()
    print("Per function, %s (inclusive instructions per frame):" % title)
    for fn, cost in sorted(prof.entry_points("dpdk-testpmd",
                                             fig["object"]).items()):
        frames = fig["frames"]
        print("  %7.1f  %s" % (cost / frames, fn[1]))
        print("  %7.1f    (self)" % (prof.self_cost[fn] / frames))
        for d, callee, c in prof.top_inclusive(fn, depth, min_share):
            print("  %7.1f  %s%s" % (c / frames, "  " * (d + 1), callee[1]))
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

    def callgrind_loop(self, vdevs, plugins=(), attach=(), args=(),
                       seconds=10.0, warmup=3.0, keep=None):
        """Instructions of an io-forwarding loop in ONE testpmd run under
        callgrind: the ports are VDEVS, then ATTACH (devargs hot-plugged
        with "port attach" once the others are up: a net_virtio_user on a
        back-end's socket of the same process). Every port forwards to
        itself (--port-topology=loop), "start tx_first" puts one burst
        per port in flight, and the loop runs WARMUP seconds; testpmd's
        TX-dropped must then be 0 (a refused tx_first burst means fewer
        frames in flight, smaller bursts and a higher count per frame).
        Then instrumentation is switched on, forwarding restarted for
        SECONDS (without flushing the rx queues first: the frames in
        flight stay in the rings) and stopped, and the profile dumped, so
        the profile and testpmd's forward statistics cover the same
        frames. KEEP: a path to copy the profile to (for
        callgrind_annotate). Returns (callgrind.Profile, {port: counters
        of the measured run})."""
        out = os.path.join(self.dir, "callgrind.out")
        t = self.testpmd("cg", 1, eal_extra=["--single-file-segments"],
                         vdevs=vdevs, plugins=plugins, timeout=600,
                         args=["--forward-mode=io", "--port-topology=loop"] +
                         list(args),
                         wrapper=["valgrind", "--tool=callgrind",
                                  "--instr-atstart=no",
                                  "--callgrind-out-file=" + out])
        for a in attach:
            t.cmd_("port attach " + a, timeout=600)
        if attach:
            t.cmd_("port start all", timeout=600)
        ports = range(len(vdevs) + len(attach))
        if not all(t.wait_link(p, 120) for p in ports):
            raise RuntimeError("link down")
        t.cmd_("start tx_first", timeout=120)
        time.sleep(warmup)
        st = t.stop(timeout=600)
        dropped = sum(s["tx_dropped"] for s in st.values())
        if len(st) != len(ports) or dropped != 0:
            raise RuntimeError("tx_first: testpmd dropped %d frames (%s)" %
                               (dropped, st))
        # The first start flushed the rx queues (net_memif's client side
        # posts its rx buffers then); this one must keep what is in flight.
        t.cmd_("set flush_rx off", timeout=120)
        _callgrind_control(t, "-i", "on")
        # under instrumentation, the main lcore's output is slow to come
        t.cmd_("start", timeout=600)
        time.sleep(seconds)
        st = t.stop(timeout=600)
        _callgrind_control(t, "-d")
        _callgrind_control(t, "-i", "off")
        if any(s["tx_dropped"] for s in st.values()):
            raise RuntimeError("testpmd dropped frames: %s" % st)
        # Nothing more is asked of this testpmd: the drivers' logs of the
        # shutdown (a front-end going away) may come after the prompt.
        dumps = sorted(glob.glob(out + ".*"), key=os.path.getmtime)
        if not dumps:
            raise RuntimeError("callgrind wrote no profile")
        if keep:
            shutil.copyfile(dumps[-1], keep)
        return callgrind.parse(dumps[-1]), st

    def spawn(self, name, argv):
        """Start ARGV with its output in NAME.log; stopped with SIGINT."""
        with open(os.path.join(self.dir, name + ".log"), "w") as log:
            p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p


def burst_insns(prof, obj, rx_frames, tx_frames):
    """Instructions per frame in the burst functions of the PMD object OBJ
    (its functions testpmd calls directly): {"rx", "tx", "rxtx"}; rx and
    tx are None when the functions cannot be told apart (no symbols and
    no known callee), rxtx is their sum either way."""
    rx = tx = other = 0
    for fn, cost in prof.entry_points("dpdk-testpmd", obj).items():
        d = prof.direction(fn)
        if d == "rx":
            rx += cost
        elif d == "tx":
            tx += cost
        else:
            other += cost
    if not rx_frames or not tx_frames:
        raise RuntimeError("no frames forwarded")
    out = {"rx": rx / rx_frames, "tx": tx / tx_frames}
    out["rxtx"] = out["rx"] + out["tx"] + other / rx_frames
    if other:
        out["rx"] = out["tx"] = None
    if out["rxtx"] == 0:
        raise RuntimeError("no burst function of %s in the profile" % obj)
    return out


def burst_functions(prof, obj):
    """The burst functions of OBJ that testpmd called: [(fn, direction)]."""
    return [(fn, prof.direction(fn))
            for fn in prof.entry_points("dpdk-testpmd", obj)]


def _callgrind_control(t, *args):
    subprocess.run(["callgrind_control"] + list(args) + [str(t.p.pid)],
                   check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=120)


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
