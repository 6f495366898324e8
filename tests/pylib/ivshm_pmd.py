# SPDX-License-Identifier: BSD-3-Clause
"""Helpers for the process-level tests of the ivshmem2 PMD
(net_vmlink_ivshmem2): a private scratch directory under /run, real
ivshmem2-servers, stock dpdk-testpmd loading the PMD with -d, vmlink with
ivshmem2 ports, DPDK telemetry, CPU time from /proc. Python 3 stdlib only.
"""

import json
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import ivshm_util
from proc import cleanup_prefix, stop, wait_for
from telemetry import value as telemetry
import testpmd as _testpmd
from vmlink_testlib import VMLINK, plugin_path

PMD_SO = "librte_net_vmlink_ivshmem2.so"
DRIVER = "net_vmlink_ivshmem2"

# testpmd prints device events asynchronously, after its prompt:
# "\nPort 0: link state change event\n"; the PMD and the library log from
# EAL's interrupt thread ("net_vmlink_ivshmem2: ...", "ivshm: ...").
EVENT_RE = re.compile(r"\nPort (\d+): ([^\n]*) event\n")
XSTAT_NAME_RE = re.compile(r"^\s*(\S+):\s+\d+\s*$", re.M)
LOG_RE = re.compile(r"(?:net_vmlink_ivshmem2|ivshm): [^\n]*\n")


class Testpmd(_testpmd.Testpmd):
    """testpmd.Testpmd that tolerates the event lines testpmd prints
    after its prompt (they are taken out of .out and kept in .events)."""

    def __init__(self, *a, **kw):
        self.raw = ""
        self.events = []
        self.logs = []
        super().__init__(*a, **kw)

    def _read(self, timeout):
        # read into .raw, then rebuild .out without the event lines
        saved = self.out
        self.out = self.raw
        got = super()._read(timeout)
        self.raw = self.out
        self.events = [(int(p), e) for p, e in EVENT_RE.findall(self.raw)]
        if got:
            self.logs = LOG_RE.findall(self.raw)
            self.out = LOG_RE.sub("", EVENT_RE.sub("", self.raw))
        else:
            self.out = saved
        return got

    def lsc_events(self, port=0):
        return sum(1 for p, e in self.events
                   if p == port and e == "link state change")

    def port_info(self, port=0):
        return self.cmd_("show port info %d" % port)

    def delta_xstats(self, before, port=0):
        """xstats now minus BEFORE (a dict from xstats())."""
        now = self.xstats(port)
        return {k: v - before.get(k, 0) for k, v in now.items()}

    def max_rx_pktlen(self, port=0):
        m = re.search(r"Maximum configurable length of RX packet:\s+(\d+)",
                      self.port_info(port))
        return int(m.group(1)) if m else None


def drain(peer, seconds):
    """Read what an ivshm_util.Peer prints for SECONDS (it blocks once
    its stdout pipe is full), keeping its JSON lines in peer.lines."""
    end = time.time() + seconds
    fd = peer.proc.stdout.fileno()
    while True:
        left = end - time.time()
        if left <= 0:
            return
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            return
        data = os.read(fd, 65536)
        if not data:
            time.sleep(left)
            return
        peer._take_lines(data)


class Vmlink:
    """vmlink running an INI file, its output in a log file."""

    def __init__(self, dirname, name, ini, prefix, extra=()):
        self.prefix = prefix
        self.ini = os.path.join(dirname, name + ".ini")
        with open(self.ini, "w") as f:
            f.write(ini)
        self.json = os.path.join(dirname, name + ".json")
        self.log_path = os.path.join(dirname, name + ".log")
        self.log = open(self.log_path, "w")
        # line-buffered: vmlink's link-change lines are not flushed when
        # stdout is a file
        self.cmd = ["stdbuf", "-oL", VMLINK, "-c", self.ini,
                    "--stats-json", self.json] + list(extra)
        self.p = subprocess.Popen(self.cmd, stdout=self.log,
                                  stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
        self.pid = self.p.pid

    def text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def tail(self, n=4000):
        return self.text()[-n:]

    def alive(self):
        return self.p.poll() is None

    def wait_text(self, pattern, timeout=20, count=1):
        """Wait until regex PATTERN matched COUNT times in the log."""
        def seen():
            if len(re.findall(pattern, self.text())) >= count:
                return True
            if not self.alive():
                raise AssertionError("vmlink exited (%s):\n%s" % (
                    self.p.returncode, self.tail()))
            return False
        return wait_for(seen, timeout)

    def telemetry(self, command):
        return telemetry(self.prefix, command)

    def ports(self):
        """{name: ethdev port id}"""
        out = {}
        for name in self.telemetry("/vmlink/ports"):
            out[name] = self.port_stats(name)["ethdev_port"]
        return out

    def port_stats(self, name):
        return self.telemetry("/vmlink/port_stats," + name)

    def xstats(self, port_id):
        return self.telemetry("/ethdev/xstats,%d" % port_id)

    def link(self, name):
        return self.port_stats(name)["link"]

    def wait_link(self, name, state="up", timeout=20):
        """Wait until port NAME's link is STATE (via telemetry; the
        telemetry socket appears once EAL is up)."""
        def ok():
            if not self.alive():
                raise AssertionError("vmlink exited (%s):\n%s" % (
                    self.p.returncode, self.tail()))
            try:
                return self.link(name) == state
            except (OSError, ValueError, KeyError, TypeError):
                return False
        return wait_for(ok, timeout, 0.1)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        stop(self.p, sig, timeout)
        self.log.close()
        return self.p.returncode

    def summary(self):
        with open(self.json) as f:
            return json.load(f)


def vmlink_ini(prefix, ports, lcores="0-1", memory=256, extra_eal=None,
               interval=0):
    """INI text: PORTS is a list of (name, {key: value})."""
    text = "[eal]\nlcores = %s\nfile-prefix = %s\nmemory = %d\n" % (
        lcores, prefix, memory)
    if extra_eal:
        text += "extra = %s\n" % extra_eal
    text += "[vmlink]\nstats-interval = %d\n" % interval
    for name, keys in ports:
        text += "[port %s]\n" % name
        for k, v in keys.items():
            text += "%s = %s\n" % (k, v)
    return text


class PmdTestCase(unittest.TestCase):
    """A scratch directory under /run, and every server, testpmd and vmlink
    a test starts, all stopped (and their EAL files removed) at the end.
    On failure, the logs are printed."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ivpmd-", dir="/run")
        os.chmod(self.dir, 0o700)
        self._servers, self._pmds, self._vmlinks = [], [], []
        self._prefixes = []
        self.so = plugin_path(PMD_SO)

    def tearDown(self):
        failed = self._failed()
        for t in self._pmds:
            try:
                t.kill()
            except Exception:
                pass
            for f in (t.p.stdin, t.p.stdout):
                try:
                    f.close()
                except OSError:
                    pass
        for v in self._vmlinks:
            v.stop(signal.SIGKILL)
        for s in self._servers:
            s.close()
        for p in self._prefixes:
            cleanup_prefix(p)
        if failed:
            self._dump_logs()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _failed(self):
        outcome = getattr(self, "_outcome", None)
        if outcome is None:
            return False
        res = getattr(outcome, "result", None)
        if res is not None and hasattr(res, "failures"):
            mine = [t for t, _ in res.failures + res.errors
                    if getattr(t, "test_case", t) is self]
            return bool(mine)
        errs = getattr(outcome, "errors", [])
        return any(e for _, e in errs)

    def _dump_logs(self):
        for root, _, files in os.walk(self.dir):
            for f in sorted(files):
                if f.endswith(".log"):
                    path = os.path.join(root, f)
                    with open(path, errors="replace") as fh:
                        text = fh.read()
                    print("---- %s (last 3000 chars) ----\n%s" % (
                        path, text[-3000:]))

    def prefix(self, tag):
        p = "ivpmd-%s-%d-%d" % (tag, os.getpid(), len(self._prefixes))
        cleanup_prefix(p)
        self._prefixes.append(p)
        return p

    def server(self, *args, name="srv"):
        """An ivshmem2-server (protocol net, 2 peers) in its own
        subdirectory; .sock is its socket."""
        d = os.path.join(self.dir, name)
        os.mkdir(d)
        s = ivshm_util.Server(*args, workdir=d)
        self._servers.append(s)
        return s

    def eal(self, tag, cpu, extra=()):
        """EAL arguments: lcore 0 (prompt, control) on the other CPU, lcore
        1 (forwarding) on CPU."""
        return ["--lcores", "0@%d,1@%d" % (1 - cpu, cpu), "--file-prefix",
                self.prefix(tag), "-m", "256", "--no-pci",
                "--log-level", "pmd.net.vmlink_ivshmem2:info"] + list(extra)

    def start_testpmd(self, tag, cpu, devargs, args=(), mbufs=16384, eal=()):
        t = Testpmd(self.eal(tag, cpu, eal), vdevs=[DRIVER + "," + devargs],
                    plugins=[self.so],
                    args=["--total-num-mbufs=%d" % mbufs] + list(args),
                    log=os.path.join(self.dir, "testpmd-%s.log" % tag))
        self._pmds.append(t)
        return t

    def start_vmlink(self, name, ports, **kw):
        prefix = self.prefix(name)
        v = Vmlink(self.dir, name, vmlink_ini(prefix, ports, **kw), prefix)
        self._vmlinks.append(v)
        return v
