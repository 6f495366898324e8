# SPDX-License-Identifier: BSD-3-Clause
"""Shared pieces of the interop tests (tests/interop): a private run
directory under /run, vmlink as a long-running process read through
telemetry, stock dpdk-testpmd "guests" with net_virtio_user, and exact
frame accounting between them. Python 3 stdlib only.

The tests pin processes on the machine's two cores: vmlink's main lcore on
CPU 0 and its worker on CPU 1; the guests' forwarding lcores on CPU 0 and
their (sleeping) main lcores on CPU 1, so no two busy loops of the same
kind share a core by accident."""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import qemu_guest
import telemetry
from proc import cleanup_prefix, die_with_parent, stop, tail, wait_for
from testpmd import Testpmd, TestpmdError
from vmlink_testlib import (BUILD, VMLINK, hugepages_free, plugin_path,
                            unique_prefix)

RUN_ROOT = "/run"

# Ethernet frame sizes of the matrix and how a guest sends each: 9000 as a
# 5-segment mbuf chain (fits default 2048-byte data rooms).
TXPKTS = {
    64: "64",
    1518: "1518",
    9000: "2048,2048,2048,2048,808",
}
JUMBO_MTU = 9000


def testpmd_available():
    return shutil.which("dpdk-testpmd") is not None


def missing_prerequisite(pages=200):
    """None when the interop tests can run here; what is missing
    otherwise (usertools/vmlink-setup provides all of it)."""
    if not os.path.exists(VMLINK):
        return "vmlink not built at %s" % VMLINK
    if not testpmd_available():
        return "dpdk-testpmd not found (Debian package dpdk)"
    free = hugepages_free()
    if free < pages:
        return ("only %d free 2 MiB hugepages, this test needs %d "
                "(usertools/vmlink-setup reserves them; other DPDK "
                "processes may hold them)" % (free, pages))
    return None


def make_run_dir(tag, keep_for=3600):
    """A private directory under /run for sockets and logs. Directories a
    failed run of the same test kept more than KEEP_FOR seconds ago are
    removed first (the latest failure's logs stay)."""
    prefix = "vmlink-interop-%s-" % tag
    now = time.time()
    for name in os.listdir(RUN_ROOT):
        old = os.path.join(RUN_ROOT, name)
        try:
            if name.startswith(prefix) and \
                    now - os.stat(old).st_mtime > keep_for:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass
    d = tempfile.mkdtemp(prefix=prefix, dir=RUN_ROOT)
    os.chmod(d, 0o700)
    return d


# --- vmlink -----------------------------------------------------------------

class Vmlink:
    """vmlink running on a configuration; stdout+stderr in a log file."""

    def __init__(self, rundir, prefix, ports, name="vmlink", extra="",
                 memory=128, lcores="0-1", stats_interval=0, nice=0):
        """ports: text of the [port ...] sections (and [lcore N] ones)."""
        self.rundir = rundir
        self.prefix = prefix
        self.cfg_path = os.path.join(rundir, name + ".ini")
        self.log_path = os.path.join(rundir, name + ".log")
        self.json_path = os.path.join(rundir, name + ".json")
        text = ("[eal]\nlcores = %s\nfile-prefix = %s\nmemory = %d\n"
                % (lcores, prefix, memory))
        if extra:
            text += "extra = %s\n" % extra
        text += "[vmlink]\nstats-interval = %d\n" % stats_interval + ports
        with open(self.cfg_path, "w") as f:
            f.write(text)
        self.log = open(self.log_path, "w")
        # line-buffered: vmlink's event lines ("port X link down") reach
        # the log as they happen (stdout is a file, fully buffered)
        cmd = ["stdbuf", "-oL", VMLINK, "-c", self.cfg_path,
               "--stats-json", self.json_path]
        if nice:
            # every thread (the workers too) inherits the nice value
            cmd = ["nice", "-n", str(nice)] + cmd
        # SIGTERM if the test dies: vmlink frees its hugepages and sockets
        self.p = subprocess.Popen(cmd,
            stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent(signal.SIGTERM))
        self.stats = None

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def describe(self):
        return "--- vmlink (%s), %s:\n%s" % (
            "running" if self.alive() else "exit %s" % self.p.returncode,
            self.log_path, tail(self.log_path))

    def wait_up(self, socks=(), timeout=30):
        """Wait for telemetry (and the listening sockets SOCKS)."""
        def up():
            if not self.alive():
                return True
            if any(not os.path.exists(s) for s in socks):
                return False
            try:
                telemetry.query(self.prefix, "/vmlink/ports", timeout=1)
                return True
            except OSError:
                return False
        if not wait_for(up, timeout, 0.1) or not self.alive():
            raise AssertionError("vmlink did not come up\n" + self.describe())

    def port(self, name):
        """/vmlink/port_stats,NAME plus the port's ethdev stats."""
        st = telemetry.vmlink_port_stats(self.prefix, name)
        st["ethdev"] = telemetry.query(
            self.prefix, "/ethdev/stats,%d" % st["ethdev_port"])[
                "/ethdev/stats"]
        return st

    def xstats(self, name):
        st = telemetry.vmlink_port_stats(self.prefix, name)
        return telemetry.query(self.prefix, "/ethdev/xstats,%d" %
                               st["ethdev_port"])["/ethdev/xstats"]

    def wait_quiet(self, names, timeout=20, interval=0.4):
        """Wait until the rx/tx counters of ports NAMES stop moving (the
        frames in flight are through); returns their stats."""
        last = None
        end = time.time() + timeout
        while time.time() < end:
            now = {n: self.port(n) for n in names}
            key = [(now[n]["rx_packets"], now[n]["tx_packets"],
                    now[n]["drops"]["tx_full"]) for n in names]
            if key == last:
                return now
            last = key
            time.sleep(interval)
        raise AssertionError("vmlink counters still moving after %d s"
                             % timeout)

    def stop(self, sig=signal.SIGINT, timeout=30):
        """Stop vmlink; returns its exit status (and loads the JSON)."""
        stop(self.p, sig, timeout)
        self.log.close()
        if self.p.returncode == 0 and os.path.exists(self.json_path):
            with open(self.json_path) as f:
                self.stats = json.load(f)
        return self.p.returncode

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        if not self.log.closed:
            self.log.close()


def vhost_port(name, path, peer, **keys):
    text = "[port %s]\ntype = vhost-user\npath = %s\npeer = %s\n" % (
        name, path, peer)
    for k, v in keys.items():
        text += "%s = %s\n" % (k.replace("_", "-"), v)
    return text


# --- guests: stock dpdk-testpmd with net_virtio_user ------------------------

def virtio_user_vdev(path, mrg_rxbuf=1, in_order=1, queues=1, server=False,
                     index=0, queue_size=256, packed=0):
    v = ("net_virtio_user%d,path=%s,mrg_rxbuf=%d,in_order=%d,queues=%d,"
         "queue_size=%d" % (index, path, mrg_rxbuf, in_order, queues,
                            queue_size))
    if server:
        v += ",server=1"
    if packed:
        v += ",packed_vq=1"
    return v


# The virtio PMD says which ring layout it drives (at INFO, on its init
# log type): "using packed ring ... Rx path" only when the back-end
# agreed to VIRTIO_F_RING_PACKED.
VIRTIO_INIT_LOG = "pmd.net.virtio.init:info"


def assert_ring_layout(case, guest, packed):
    with open(guest.log_path, errors="replace") as f:
        text = f.read()
    case.assertIn("Rx path on port", text, guest.describe())
    case.assertEqual("using packed ring" in text, bool(packed),
                     "guest %s: packed ring %s negotiated\n%s" % (
                         guest.name, "not" if packed else "",
                         guest.describe()))


def guest_args(mrg_rxbuf=1, queues=1, jumbo=True, mbufs=4096):
    """testpmd arguments for a guest that can receive JUMBO_MTU frames:
    with mergeable rx buffers as mbuf chains (scatter), without them into
    one big mbuf each (virtio cannot scatter then)."""
    args = ["--total-num-mbufs=%d" % mbufs, "--nb-cores=%d" % 1,
            "--rxq=%d" % queues, "--txq=%d" % queues,
            "--rxd=256", "--txd=256"]
    if jumbo:
        args.append("--max-pkt-len=%d" % (JUMBO_MTU + 18))
        if mrg_rxbuf:
            args.append("--enable-scatter")
        else:
            args.append("--mbuf-size=%d" % (JUMBO_MTU + 18 + 128 + 64))
    return args


class GuestCommands:
    """The testpmd commands phase() and exchange() use, for any
    testpmd.Testpmd (mixed in before it)."""

    def set_fwd(self, mode):
        out = self.cmd_("set fwd %s" % mode)
        if "Set %s packet forwarding mode" % mode not in out:
            raise TestpmdError("set fwd %s: %s" % (mode, out))

    def set_size(self, size):
        out = self.cmd_("set txpkts %s" % TXPKTS[size])
        if "give up" in out or "ignored" in out or "not supported" in out:
            raise TestpmdError("set txpkts %s: %s" % (TXPKTS[size], out))

    def rx_packets(self, port=0):
        return self.port_stats(port).get("ipackets", 0)

    def queue_xstats(self, port=0):
        return {k: v for k, v in self.xstats(port).items()
                if re.match(r"[rt]x_q\d+_", k)}


class Guest(GuestCommands, Testpmd):
    """Stock dpdk-testpmd, interactive: a "VM" with one net_virtio_user
    port, or (plugins) a switch loading our PMD with -d. Its output goes
    to RUNDIR/NAME.log (appended across restarts)."""

    def __init__(self, rundir, name, vdevs, args=(), cpus=(1, 0), mem=128,
                 plugins=(), prefix=None, single_file=True, log_levels=()):
        self.name = name
        self.prefix = prefix or unique_prefix(name)
        main_cpu, fwd_cpu = cpus
        eal = ["--lcores", "0@%d,1@%d" % (main_cpu, fwd_cpu),
               "--file-prefix", self.prefix, "-m", str(mem), "--no-pci",
               "--log-level", "lib.eal:warning"]
        for lv in log_levels:
            eal += ["--log-level", lv]
        if single_file:
            eal.append("--single-file-segments")
        self.log_path = os.path.join(rundir, "%s.log" % name)
        with open(self.log_path, "a") as f:
            f.write("\n=== %s: %s\n" % (time.strftime("%T"), " ".join(vdevs)))
        try:
            super().__init__(eal, vdevs=list(vdevs), plugins=plugins,
                             args=list(args), log=self.log_path, timeout=90)
        except Exception:
            p = getattr(self, "p", None)
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
            raise

    def describe(self):
        return "--- %s (%s), %s:\n%s" % (
            self.name, "running" if self.p.poll() is None else
            "exit %s" % self.p.returncode, self.log_path,
            tail(self.log_path, 25))


def wait_still(fn, timeout=10, interval=0.3):
    """Wait until FN() returns the same value twice in a row."""
    last = object()
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v == last:
            return v
        last = v
        time.sleep(interval)
    raise AssertionError("value still changing after %d s" % timeout)


# --- the switch between two guests ------------------------------------------

class VmlinkSwitch:
    """vmlink, two cross-connected vhost-user ports a and b: counters of
    the frames going from port SRC to port DST."""

    def __init__(self, vm):
        self.vm = vm
        self.name = "vmlink"

    def counters(self, src, dst):
        def snap():
            s = self.vm.port(src)
            d = self.vm.port(dst)
            return {"in": s["rx_packets"], "in_bytes": s["rx_bytes"],
                    "out": d["tx_packets"],
                    "dropped": d["drops"]["tx_full"] +
                    d["drops"]["suspended"] + s["drops"]["no_route"],
                    "undelivered": d["ethdev"]["oerrors"]}
        return snap

    def describe(self):
        return self.vm.describe()


class TestpmdSwitch:
    """Stock testpmd, io forwarding between two ports (0 <-> 1) of our PMD,
    forwarding all the time: counters of port SRC -> port DST."""

    def __init__(self, tp):
        self.tp = tp
        self.name = "testpmd+PMD"

    def counters(self, src, dst):
        def snap():
            fwd = self.tp.fwd_stats()
            s = self.tp.port_stats(src)
            d = self.tp.port_stats(dst)
            # ethdev: opackets = delivered, oerrors = consumed by tx_burst
            # but not delivered; testpmd's TX-dropped = frames io
            # forwarding freed (tx_burst refused them) + oerrors
            return {"in": s["ipackets"], "in_bytes": s["ibytes"],
                    "out": d["opackets"] + d["oerrors"],
                    "dropped": fwd[dst]["tx_dropped"] - d["oerrors"],
                    "undelivered": d["oerrors"]}
        return snap

    def describe(self):
        return "--- switch %s:\n%s" % (self.tp.log_path,
                                       tail(self.tp.log_path, 30))


def phase(tc, tx, rx, counters, size, seconds=0.5, min_frames=50,
          expect_rx=True):
    """One traffic phase: guest TX sends SIZE-byte frames for SECONDS while
    guest RX receives; then TX stops, the switch in between drains, RX
    stops. COUNTERS(): a snapshot of the switch's counters as a dict with
    'in' (frames the switch took from TX), 'in_bytes', 'out' (frames it
    handed to RX's device), 'dropped' (frames it counted as dropped on the
    way), 'undelivered' (frames RX's device consumed but could not give
    the guest: oerrors). Asserts the exact accounting; returns the numbers.
    expect_rx=False: RX may receive nothing (all undeliverable).
    """
    before = counters()
    tx.set_fwd("txonly")
    tx.set_size(size)
    rx.set_fwd("rxonly")
    rx0 = rx.port_stats(0)
    rx.start()
    tx.start()
    time.sleep(seconds)
    sent = tx.stop()[0]

    # Frames still in TX's ring and in the switch get through first: wait
    # (bounded) until the switch's counters add up, then until they are
    # still; a mismatch that persists is reported by the asserts below.
    def delta(snap):
        return {k: snap[k] - before[k] for k in before}

    def balanced():
        d = delta(counters())
        return d["in"] >= sent["tx"] and d["in"] <= d["out"] + d["dropped"]
    wait_for(balanced, 15, 0.2)
    after = wait_still(counters, timeout=20, interval=0.4)
    d = delta(after)
    expect = d["out"] - d["undelivered"]
    wait_for(lambda: rx.rx_packets() - rx0.get("ipackets", 0) >= expect,
             10, 0.2)
    wait_still(rx.rx_packets, timeout=10, interval=0.25)
    got = rx.stop()[0]
    rx_bytes = rx.port_stats(0).get("ibytes", 0) - rx0.get("ibytes", 0)
    msg = ("%s -> %s, %d-byte frames: guest sent %s, received %s; switch %s"
           % (tx.name, rx.name, size, sent, got, d))
    tc.assertGreaterEqual(sent["tx"], min_frames, "too few frames sent: "
                          + msg)
    tc.assertEqual(sent["tx"], d["in"],
                   "frames the guest sent != frames the switch took: " + msg)
    tc.assertEqual(d["in_bytes"], d["in"] * size,
                   "switch rx bytes != frames * size: " + msg)
    tc.assertEqual(d["in"], d["out"] + d["dropped"],
                   "switch: rx != tx + counted drops: " + msg)
    tc.assertEqual(got["rx"], d["out"] - d["undelivered"],
                   "guest received != switch tx - undelivered: " + msg)
    if expect_rx:
        tc.assertGreater(got["rx"], 0, "nothing received: " + msg)
    tc.assertEqual(rx_bytes, got["rx"] * size,
                   "receiver bytes != frames * size: " + msg)
    return {"sent": sent["tx"], "received": got["rx"], "switch": d}


class InteropCase(unittest.TestCase):
    """A run directory under /run, EAL prefixes cleaned up, processes
    killed, logs kept (and named) when a test fails."""

    PAGES = 200     # 2 MiB pages the test's processes need at most

    def setUp(self):
        reason = missing_prerequisite(self.PAGES)
        if reason:
            self.fail(reason)
        self.rundir = make_run_dir(self.id().rsplit(".", 1)[-1][:20])
        self.prefixes = []
        self.procs = []
        self.t0 = time.monotonic()

    def tearDown(self):
        for p in reversed(self.procs):
            try:
                if isinstance(p, Vmlink):
                    p.stop(timeout=15)
                elif isinstance(p, Testpmd):
                    if p.p.poll() is None:
                        p.kill()
                    for f in (p.p.stdin, p.p.stdout):
                        try:
                            f.close()
                        except OSError:
                            pass
                else:
                    p.kill()
            except Exception:
                pass
        for pre in self.prefixes:
            cleanup_prefix(pre)
        failed = self._failed() or os.environ.get("VMLINK_INTEROP_KEEP")
        print("%s: %.1f s%s" % (self.id(), time.monotonic() - self.t0,
                                "; logs kept in " + self.rundir if failed
                                else ""), flush=True)
        if not failed:
            shutil.rmtree(self.rundir, ignore_errors=True)

    def _failed(self):
        outcome = getattr(self, "_outcome", None)
        if outcome is None:
            return False
        res = getattr(outcome, "result", None)
        if res is not None:
            for _, err in res.errors + res.failures:
                if _ is self:
                    return True
            return False
        errs = getattr(outcome, "errors", [])
        return any(e is not None for _, e in errs)

    def path(self, name):
        return os.path.join(self.rundir, name)

    def vmlink(self, ports, **kw):
        pre = unique_prefix("vml")
        self.prefixes.append(pre)
        v = Vmlink(self.rundir, pre, ports, **kw)
        self.procs.append(v)
        return v

    def guest(self, name, vdev, args=(), **kw):
        """A virtio-user "VM" (testpmd with the vdev VDEV)."""
        kw.setdefault("prefix", unique_prefix(name))
        self.prefixes.append(kw["prefix"])
        g = Guest(self.rundir, name, [vdev], args, **kw)
        self.procs.append(g)
        return g

    def wait_links(self, vm, guests, ports=("a", "b")):
        """Each guest's port 0 and vmlink's PORTS report link up."""
        for g in guests:
            self.assertTrue(g.wait_link(0, 30), g.describe() + vm.describe())
        self.assertTrue(wait_for(lambda: all(
            vm.port(p)["link"] == "up" for p in ports), 10), vm.describe())

    def switch_testpmd(self, name, vdevs, args, cpus=(0, 1), mem=128):
        """Stock testpmd loading our vhost PMD with -d (a switch)."""
        pre = unique_prefix(name)
        self.prefixes.append(pre)
        t = Guest(self.rundir, name, vdevs, args, cpus=cpus, mem=mem,
                  plugins=[plugin_path("librte_net_vmlink_vhost.so")],
                  prefix=pre, single_file=False)
        self.procs.append(t)
        return t



class QemuLinuxCase(InteropCase):
    """QEMU Linux guests (TCG) on vmlink's vhost-user ports: the class is
    skipped, saying why, when QEMU cannot run here; cls.image is the
    guest (kernel + initramfs) the tests boot."""

    PAGES = 80      # vmlink; guest RAM is memfd

    @classmethod
    def setUpClass(cls):
        qemu_guest.skip_class_unless_runnable()
        cls.image = qemu_guest.build_guest(
            os.path.join(os.path.abspath(BUILD), "qemu"))

def exchange(tc, switch, ga, gb, sizes=(64, 1518, 9000), ports=("a", "b"),
             seconds=0.5):
    """For each size: A -> B, then B -> A, each counted exactly. Half a
    second of traffic per phase is thousands of frames even on a loaded
    machine: enough to fill every ring and wrap it many times."""
    results = []
    for size in sizes:
        results.append(phase(tc, ga, gb, switch.counters(ports[0], ports[1]),
                             size, seconds))
        results.append(phase(tc, gb, ga, switch.counters(ports[1], ports[0]),
                             size, seconds))
    return results


def assert_queue_xstats_sane(tc, xs, prefixes, msg=""):
    """Library counters of a vhost port's queues (names PREFIX<counter>):
    no faults, nothing malformed, packets split into copied + zero-copy."""
    for pre in prefixes:
        names = [k for k in xs if k.startswith(pre)]
        tc.assertIn(pre + "packets", xs, "%s: no %spackets in %s" % (
            msg, pre, sorted(xs)))
        for k in names:
            if k.startswith(pre + "malformed_") or k == pre + "faults":
                tc.assertEqual(xs[k], 0, "%s: %s = %d" % (msg, k, xs[k]))
        if pre.startswith("rx_"):
            tc.assertEqual(xs[pre + "packets"], xs[pre + "zc_packets"] +
                           xs[pre + "copied_packets"],
                           "%s: %spackets != zc + copied: %s" % (
                               msg, pre, {k: xs[k] for k in names}))


class RingVariants:
    """The ring variants every virtio-user path is tested on: mergeable
    buffers on/off x in_order on/off, and 2 queue pairs, on split and on
    packed rings. A mixin: the test class provides
    run_case(mrg_rxbuf, in_order, queues=1, packed=0)."""

    def test_mrg1_inorder1(self):
        self.run_case(1, 1)

    def test_mrg1_inorder0(self):
        self.run_case(1, 0)

    def test_mrg0_inorder1(self):
        self.run_case(0, 1)

    def test_mrg0_inorder0(self):
        self.run_case(0, 0)

    def test_two_queue_pairs(self):
        self.run_case(1, 1, queues=2)

    def test_packed_mrg1_inorder1(self):
        self.run_case(1, 1, packed=1)

    def test_packed_mrg1_inorder0(self):
        self.run_case(1, 0, packed=1)

    def test_packed_mrg0_inorder1(self):
        self.run_case(0, 1, packed=1)

    def test_packed_mrg0_inorder0(self):
        self.run_case(0, 0, packed=1)

    def test_packed_two_queue_pairs(self):
        self.run_case(1, 1, queues=2, packed=1)
