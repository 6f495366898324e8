#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Self-test of the QEMU guest tooling against DPDK's own vhost-user back-end.

Two TCG guests (tests/qemu/build-guest kernel + initramfs) on vhost-user
sockets of a stock `dpdk-testpmd` with two net_vhost ports in io forward
mode (port 0 <-> port 1). Guest A pings guest B; B answers. Passes when
every ping got its reply and testpmd forwarded the frames both ways.

    tests/qemu/selftest.py [--qemu-server] [--hugepages [DIR]]
                           [--count N] [--size B[,B..]] [--mtu B]

--qemu-server: QEMU listens on the sockets and testpmd connects (client=1);
default: testpmd listens (client=0) and QEMU connects with reconnect=1.
--hugepages: guest RAM from hugetlbfs (default memfd).
Env: VMLINK_BUILD (scratch under $VMLINK_BUILD/qemu), VMLINK_TESTPMD.
Exit 0 pass, 1 fail, 77 skip (QEMU or hugepages unavailable here).
Not registered in meson: it proves the tooling, the vmlink test reuses it.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))

import qemu_guest  # noqa: E402
from qemu_guest import Guest, GuestError, VhostUserNic  # noqa: E402

SKIP = 77


def log(msg):
    print("[%7.2f] %s" % (time.monotonic() - T0, msg), flush=True)


def hugepages_free():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("HugePages_Free:"):
                return int(line.split()[1])
    return 0


class Testpmd:
    """Stock dpdk-testpmd, two net_vhost ports, io forwarding."""

    def __init__(self, workdir, socks, client, prefix):
        self.binary = os.environ.get("VMLINK_TESTPMD") or \
            shutil.which("dpdk-testpmd")
        self.socks = socks
        self.prefix = prefix
        self.log_path = os.path.join(workdir, "testpmd.log")
        vdevs = []
        for i, s in enumerate(socks):
            vdevs += ["--vdev", "net_vhost%d,iface=%s,client=%d,queues=1"
                      % (i, s, 1 if client else 0)]
        # nice 19: the forwarding lcore busy-polls, the TCG guests need the
        # two cores more; it still forwards whatever is pending when it runs.
        self.cmd = ["nice", "-n", "19", "stdbuf", "-oL", self.binary,
                    "-l", "0-1", "-m", "256",
                    "--no-pci", "--file-prefix", prefix, "--huge-unlink",
                    "--log-level", "lib.eal:warning"] + vdevs + [
                    "--", "--forward-mode=io", "--port-topology=paired",
                    "--nb-cores=1", "--rxq=1", "--txq=1",
                    "--disable-link-check", "--total-num-mbufs=4096"]
        self.proc = None
        self.out = None

    def start(self):
        self.out = open(self.log_path, "wb")
        self.out.write((" ".join(self.cmd) + "\n").encode())
        self.out.flush()
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE,
                                     stdout=self.out, stderr=subprocess.STDOUT,
                                     preexec_fn=qemu_guest._die_with_parent)

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_for(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.text(), re.M):
                return True
            if self.proc.poll() is not None:
                raise RuntimeError("testpmd exited (%d):\n%s" % (
                    self.proc.returncode, self.text()[-3000:]))
            time.sleep(0.1)
        raise RuntimeError("testpmd: no /%s/ within %d s:\n%s" % (
            pattern, timeout, self.text()[-3000:]))

    def stop(self):
        """Close stdin (testpmd's 'press enter'); it prints its statistics."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        if self.out:
            self.out.close()
            self.out = None
        shutil.rmtree("/var/run/dpdk/" + self.prefix, ignore_errors=True)

    def port_stats(self):
        """{port: {rx, rx_dropped, tx, tx_dropped}} from the final
        'Forward statistics' blocks testpmd prints when it stops."""
        stats = {}
        for m in re.finditer(
                r"Forward statistics for port (\d+)\s+-+\s*\n"
                r"\s*RX-packets: (\d+)\s+RX-dropped: (\d+).*\n"
                r"\s*TX-packets: (\d+)\s+TX-dropped: (\d+)", self.text()):
            stats[int(m.group(1))] = dict(zip(
                ("rx", "rx_dropped", "tx", "tx_dropped"),
                map(int, m.group(2, 3, 4, 5))))
        return stats


def main():
    global T0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qemu-server", action="store_true",
                    help="QEMU listens, testpmd connects (client=1)")
    ap.add_argument("--count", type=int, default=5)
    ap.add_argument("--size", default="56,1400")
    ap.add_argument("--mtu", type=int, help="guest eth0 MTU (e.g. 9000)")
    ap.add_argument("--hugepages", metavar="DIR", nargs="?",
                    const="/dev/hugepages",
                    help="guest memory on hugetlbfs DIR instead of memfd")
    ap.add_argument("--boot-timeout", type=float, default=180)
    ap.add_argument("--keep", action="store_true",
                    help="keep the logs directory even on success")
    args = ap.parse_args()
    T0 = time.monotonic()
    qemu_guest.install_signal_cleanup()

    reason = qemu_guest.qemu_unavailable_reason()
    if reason:
        print("SKIP: QEMU cannot run here: " + reason)
        return SKIP
    if not (os.environ.get("VMLINK_TESTPMD") or shutil.which("dpdk-testpmd")):
        print("SKIP: dpdk-testpmd not found (Debian package dpdk)")
        return SKIP
    need = 160 + (2 * 128 if args.hugepages else 0)
    if hugepages_free() < need:
        print("SKIP: only %d free hugepages, need %d (testpmd -m 256, "
              "guests)" % (hugepages_free(), need))
        return SKIP
    log("QEMU usable: %s" % qemu_guest.qemu_binary())

    build = os.environ.get("VMLINK_BUILD",
                           os.path.join(HERE, "..", "..", "build"))
    qdir = os.path.join(os.path.abspath(build), "qemu")
    t = time.monotonic()
    image = qemu_guest.build_guest(qdir)
    log("guest image %s %s (build-guest %.1f s)" % (
        image["kernel"][0], image["kernel"][1], time.monotonic() - t))

    logs = tempfile.mkdtemp(prefix="selftest.", dir=qdir)
    sockdir = tempfile.mkdtemp(prefix="vmlink-qemu-")  # short unix paths
    socks = [os.path.join(sockdir, "a.sock"), os.path.join(sockdir, "b.sock")]
    prefix = "vmlink-qemu-selftest-%d" % os.getpid()
    pmd = Testpmd(logs, socks, client=args.qemu_server, prefix=prefix)
    ga = Guest("a", image, logs, ip="10.0.0.1/24", peer="10.0.0.2",
               mode="ping", count=args.count, size=args.size.split(","),
               mem_path=args.hugepages, mtu=args.mtu,
               nics=[VhostUserNic(socks[0], server=args.qemu_server,
                                  mac="52:54:00:00:00:0a")])
    gb = Guest("b", image, logs, ip="10.0.0.2/24", mode="echo",
               mem_path=args.hugepages, mtu=args.mtu,
               nics=[VhostUserNic(socks[1], server=args.qemu_server,
                                  mac="52:54:00:00:00:0b")])
    ok = False
    try:
        if args.qemu_server:
            # QEMU creates the sockets and waits for the back-end.
            gb.start()
            ga.start()
            deadline = time.monotonic() + 30
            while not all(os.path.exists(s) for s in socks):
                if time.monotonic() > deadline:
                    raise GuestError("QEMU made no sockets in 30 s\n"
                                     + ga.describe() + gb.describe())
                time.sleep(0.05)
            pmd.start()
            pmd.wait_for(r"Press enter to exit", 60)
            log("testpmd up (client=1)")
        else:
            pmd.start()
            pmd.wait_for(r"Press enter to exit", 60)
            log("testpmd up (client=0), sockets %s" % sockdir)
            gb.start()
            ga.start()
        log("guests started")
        tb = gb.wait_ready(args.boot_timeout)
        log("guest b READY after %.2f s" % tb)
        ta = ga.wait_ready(args.boot_timeout)
        log("guest a READY after %.2f s" % ta)
        m = ga.wait_for(r"^VMLINK-PING PEER-UP .*$", 120)
        log("guest a: " + m.group(0))
        got, total = ga.ping_result(60 + 10 * args.count)
        log("guest a: VMLINK-PING %d/%d" % (got, total))
        for line in ga.console().splitlines():
            if line.startswith(("VMLINK-PING SEQ", "VMLINK-GUEST STATS")):
                log("  a| " + line)
        ga.wait_exit(30)
        log("guest a powered off (exit %d)" % ga.proc.returncode)
        gb.kill()
        pmd.stop()
        st = pmd.port_stats()
        log("testpmd forward stats (rx, tx): %s" % st)
        expect = total  # echo requests one way, replies the other
        if got != total or total != args.count * len(args.size.split(",")):
            raise GuestError("pings: %d/%d replied\n%s" % (
                got, total, ga.describe()))
        if len(st) != 2 or min(st[0]["rx"], st[1]["rx"]) < expect or \
                min(st[0]["tx"], st[1]["tx"]) < expect:
            raise GuestError("testpmd did not forward >= %d frames each way:"
                             " %s\n%s" % (expect, st, pmd.text()[-2000:]))
        # io forwarding, paired: what one port received went out the other
        # or was counted as dropped there; nothing vanished.
        for i, o in ((0, 1), (1, 0)):
            if st[i]["rx"] != st[o]["tx"] + st[o]["tx_dropped"]:
                raise GuestError("testpmd lost frames port %d -> %d: %s"
                                 % (i, o, st))
        ok = True
    except (GuestError, RuntimeError) as e:
        print("FAIL: %s" % e)
    finally:
        ga.kill()
        gb.kill()
        pmd.stop()
        shutil.rmtree(sockdir, ignore_errors=True)
    log("total %.1f s; logs in %s" % (time.monotonic() - T0, logs))
    if ok and not args.keep:
        shutil.rmtree(logs, ignore_errors=True)
    print("1 passed, 0 failed" if ok else "0 passed, 1 failed")
    return 0 if ok else 1


T0 = time.monotonic()

if __name__ == "__main__":
    sys.exit(main())
