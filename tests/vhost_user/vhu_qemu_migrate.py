#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Same-host live migration: guest A talks to guest B through a
vhost-user switch; while it does, A migrates to a second QEMU on this
host (`migrate tcp:` with both QEMUs running, the way a same-host upgrade
is done). The destination connects to the same vhost-user socket while
the source still holds it; the library holds it off the port until the
source has stopped its rings and the destination starts its own.

The traffic (--traffic): ping (A pings B; lost pings counted), or stream
(B sends A a TCP stream of random bytes; A, once it resumed on the
destination, must have got them all, same length and md5: data the
switch wrote into A while the dirty log was on).

The destination starts paused: once the migration completed, both
guests' memories are read and compared page by page (--compare-memory),
then it runs. A page that differs is a write the migration lost (the
switch writing without logging it, or QEMU losing a guest store).

The scenario runs twice in one invocation: with vhu_bridge (the library)
as the switch, and with DPDK's net_vhost (stock dpdk-testpmd, io
forwarding between two net_vhost ports) as the anchor; a table gives,
for each, the migration's total time and downtime (QEMU's
query-migrate) and the pings answered and lost, or the stream.

Passes when, with the library: the migration completes, no page of
guest memory differs, the pings go on from the destination (at most
--max-lost lost) or the stream arrived intact after outlasting the
switch, guest B's port (the other port) kept its session and link
through it all, the bridge saw no fault, and the library logged the
dirty log (SET_LOG_BASE, LOG_ALL), the switch over (at the destination's
start, or when the source quit first) and SEND_RARP. The anchor is
measured and reported, not judged (--anchor no skips it; --switch
net_vhost runs it alone).

    vhu_qemu_migrate.py --bridge PATH [--traffic ping|stream] [--count N]
                        [--interval S] [--max-lost N] [--stream-bytes B]
                        [--compare-memory yes|no] [--mem-kb K]
                        [--anchor yes|no] [--switch vmlink|net_vhost]

Env: VMLINK_BUILD (scratch under $VMLINK_BUILD/qemu). Exit 0 pass, 1 fail,
77 skip (QEMU unavailable, guest image cannot be built).
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import qemu_guest
from qemu_guest import Guest, GuestError, VhostUserNic

SKIP = 77


class Qmp:
    """A QMP client on a unix socket (QEMU -qmp unix:PATH,server=on)."""

    def __init__(self, path, timeout=30):
        end = time.monotonic() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.monotonic() > end:
                    raise GuestError("no QMP socket at " + path)
                time.sleep(0.1)
        self.f = self.s.makefile("rwb")
        self._read()                     # greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        while True:
            line = self.f.readline()
            if not line:
                raise GuestError("QMP closed")
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    def cmd(self, name, **args):
        req = {"execute": name}
        if args:
            req["arguments"] = args
        self.f.write(json.dumps(req).encode() + b"\n")
        self.f.flush()
        rep = self._read()
        if "error" in rep:
            raise GuestError("QMP %s: %s" % (name, rep["error"]))
        return rep["return"]

    def close(self):
        self.s.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Bridge:
    """The library as the switch: vhu_bridge, stopped by closing stdin."""

    name = "vmlink"

    def __init__(self, exe, work, socks):
        self.log_path = os.path.join(work, "bridge.log")
        self.log = open(self.log_path, "w+")
        self.p = subprocess.Popen(
            ["nice", "-n", "10", exe, socks[0], socks[1], "0", "1", "0"],
            stdin=subprocess.PIPE, stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self):
        """Stop it; returns its log, or None when it had to be killed."""
        try:
            self.p.stdin.close()
            self.p.wait(20)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            return None
        self.log.seek(0)
        return self.log.read()

    def text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()


class NetVhost(Bridge):
    """DPDK's net_vhost as the switch: stock dpdk-testpmd io-forwarding
    between two net_vhost ports (the anchor), stopped by closing stdin
    (testpmd waits for a line to quit)."""

    name = "net_vhost"

    def __init__(self, work, socks):
        self.log_path = os.path.join(work, "testpmd.log")
        self.log = open(self.log_path, "w+")
        self.p = subprocess.Popen(
            ["nice", "-n", "10", "dpdk-testpmd", "-l", "0,1", "--no-pci",
             "--in-memory", "-m", "256",
             "--file-prefix", "vhu-migrate-%d" % os.getpid(),
             "--vdev", "net_vhost0,iface=%s,client=0" % socks[0],
             "--vdev", "net_vhost1,iface=%s,client=0" % socks[1],
             "--", "--forward-mode=io", "--auto-start", "--nb-cores=1",
             "--stats-period=0"],
            stdin=subprocess.PIPE, stdout=self.log, stderr=subprocess.STDOUT)


def migrate(qmp, port):
    """QMP migrate to PORT; returns query-migrate's final answer. The
    destination listens once its devices are up (its netdev connected):
    until then the connection is refused, and retried."""
    tm = time.monotonic()
    while True:
        qmp.cmd("migrate", uri="tcp:127.0.0.1:%d" % port)
        st = qmp.cmd("query-migrate")
        while st.get("status") not in ("completed", "failed", "cancelled"):
            if time.monotonic() - tm > 90:
                raise GuestError("migration still %s after 90 s"
                                 % st.get("status"))
            time.sleep(0.2)
            st = qmp.cmd("query-migrate")
        if st.get("status") != "failed" or "refused" not in \
                st.get("error-desc", "") or time.monotonic() - tm > 60:
            return st
        time.sleep(0.5)


def compare_memory(src_qmp, dst_qmp_path, work, mem_kb):
    """Both guests paused at the switch (the source after its migration,
    the destination before it runs): their memories must be the same, page
    for page. A page that differs was written on the source after it was
    copied, and the write went untracked (a switch writing without logging
    it, or QEMU losing a guest store). Returns
    the differing pages' addresses; the destination runs afterwards."""
    dqmp = Qmp(dst_qmp_path)
    try:
        end = time.monotonic() + 30
        while dqmp.cmd("query-status").get("status") == "inmigrate":
            if time.monotonic() > end:
                raise GuestError("destination still inmigrate after 30 s")
            time.sleep(0.1)
        size = mem_kb << 10
        paths = [os.path.join(work, n + ".mem") for n in ("src", "dst")]
        for q, path in zip((src_qmp, dqmp), paths):
            q.cmd("pmemsave", val=0, size=size, filename=path)
        diff = []
        with open(paths[0], "rb") as a, open(paths[1], "rb") as b:
            for off in range(0, size, 1 << 20):
                x, y = a.read(1 << 20), b.read(1 << 20)
                if x == y:
                    continue
                for p in range(0, len(x), 4096):
                    if x[p:p + 4096] != y[p:p + 4096]:
                        diff.append(off + p)
        if not diff:    # kept for a look otherwise
            for path in paths:
                os.unlink(path)
        dqmp.cmd("cont")
    finally:
        dqmp.close()
    return diff


RECV_RE = re.compile(r"^VMLINK-TCP (RECV bytes=(\d+) md5=(\w+)|FAIL.*)$",
                     re.M)
SENT_RE = re.compile(r"^VMLINK-TCP (SENT bytes=(\d+) md5=(\w+)|FAIL.*)$",
                     re.M)


def guests(args, image, work, socks, port):
    """Guest A (source and destination) and guest B for args.traffic:
    ping (A pings B) or stream (B sends A a TCP stream)."""
    nic_a = VhostUserNic(socks[0], mac="52:54:00:00:00:0a")
    nic_b = VhostUserNic(socks[1], mac="52:54:00:00:00:0b")
    if args.traffic == "ping":
        a_args = dict(ip="10.0.0.1/24", peer="10.0.0.2", mode="ping",
                      count=args.count, reply_timeout=1,
                      interval=args.interval)
        b_args = dict(ip="10.0.0.2/24", mode="echo")
    else:
        a_args = dict(ip="10.0.0.1/24", mode="tcp-recv")
        b_args = dict(ip="10.0.0.2/24", peer="10.0.0.1", mode="tcp-send",
                      size=args.stream_bytes)
    a_args["mem_kb"] = args.mem_kb
    src = Guest("a", image, work, nics=[nic_a], debug=args.debug_guest,
                extra_args=["-qmp", "unix:%s,server=on,wait=off" %
                            os.path.join(work, "a.qmp")], **a_args)
    dst_args = ["-incoming", "tcp:127.0.0.1:%d" % port]
    if args.compare_memory == "yes":
        # paused once the migration is in, until both memories were read
        dst_args += ["-S", "-qmp", "unix:%s,server=on,wait=off" %
                     os.path.join(work, "a-dst.qmp")]
    dst = Guest("a-dst", image, work, nics=[nic_a], extra_args=dst_args,
                **a_args)
    b = Guest("b", image, work, nics=[nic_b], **b_args)
    return src, dst, b


def traffic_started(args, src, b):
    """Wait until the traffic runs: A's pings answered, or B's stream
    started (A migrates while it flows)."""
    if args.traffic == "ping":
        src.wait_for(r"^VMLINK-PING PEER-UP", 150)
        src.wait_for(r"^VMLINK-PING SEQ 5 ", 60)
    else:
        src.wait_for(r"^VMLINK-TCP LISTEN", 60)
        b.wait_for(r"^VMLINK-TCP START", 150)
        time.sleep(args.stream_delay)


def traffic_result(args, res, src, dst, b):
    """After the migration: the pings' count, or the stream as A got it on
    the destination against what B sent."""
    if args.traffic == "ping":
        good, total = dst.ping_result(150)
        res["good"], res["total"] = good, total
        res["lost"] = total - good
        if total != args.count:
            raise GuestError("%d pings of %d\n%s" % (
                total, args.count, dst.describe(40)))
        return
    sent = b.wait_for(SENT_RE, 240)
    recv = dst.wait_for(RECV_RE, 60)
    if sent.group(2) is None or recv.group(2) is None:
        raise GuestError("stream failed: B %r, A %r\n%s\n%s" % (
            sent.group(1), recv.group(1), b.describe(), dst.describe()))
    res["sent"] = (int(sent.group(2)), sent.group(3))
    res["recv"] = (int(recv.group(2)), recv.group(3))
    res["lost"] = 0 if res["recv"] == res["sent"] else 1
    if re.search(r"^VMLINK-TCP RECV", src.console(), re.M):
        raise GuestError("the stream ended before the migration: not "
                         "tested during it")


def wait_switched(sw, timeout=60):
    """The library's port A is up again, at the destination (the bridge
    says link up a second time); the anchor is not waited for."""
    if sw.name != "vmlink":
        return
    end = time.monotonic() + timeout
    while sw.text().count("VHU-BRIDGE a link up") < 2:
        if time.monotonic() > end:
            raise GuestError("port A not up again %d s after the migration"
                             % timeout)
        time.sleep(0.05)


def scenario(kind, args, image, build):
    """One migration with KIND (vmlink or net_vhost) as the switch;
    returns a dict of what happened ("error" set when it failed) and the
    switch's log."""
    work = tempfile.mkdtemp(prefix="vhu-migrate-%s." % kind,
                            dir=os.path.join(build, "qemu"))
    socks = [os.path.join(work, "a.sock"), os.path.join(work, "b.sock")]
    res = {"kind": kind, "work": work, "error": None}
    sw = Bridge(args.bridge, work, socks) if kind == "vmlink" else \
        NetVhost(work, socks)
    qmp = None
    port = free_port()
    try:
        for _ in range(400):
            if all(os.path.exists(s) for s in socks) or \
                    sw.p.poll() is not None:
                break
            time.sleep(0.05)
        src, dst, b = guests(args, image, work, socks, port)
        with src, b:
            src.wait_ready(150)
            b.wait_ready(150)
            traffic_started(args, src, b)
            with dst:
                qmp = Qmp(os.path.join(work, "a.qmp"))
                st = migrate(qmp, port)
                res["migration"] = st.get("status")
                res["total_ms"] = st.get("total-time")
                res["downtime_ms"] = st.get("downtime")
                if st.get("status") != "completed":
                    raise GuestError("migration %s: %s" % (
                        st.get("status"), st))
                if args.compare_memory == "yes":
                    res["mem_diff"] = compare_memory(
                        qmp, os.path.join(work, "a-dst.qmp"), work,
                        src.mem_kb)
                qmp.close()
                qmp = None
                # the source quits once the destination runs, as after
                # an upgrade
                src.kill()
                if args.traffic == "stream":
                    # B's port is judged until A's port is up again at
                    # the destination (B powers off once its stream is
                    # over), which the stream must outlast
                    wait_switched(sw)
                    res["log_at_end"] = len(sw.text())
                    if re.search(r"^VMLINK-TCP SENT", b.console(), re.M):
                        raise GuestError("the stream ended before the "
                                         "destination ran: not tested "
                                         "across the switch")
                traffic_result(args, res, src, dst, b)
                if args.traffic == "ping":
                    res["log_at_end"] = len(sw.text())
    except GuestError as e:
        res["error"] = str(e)
    finally:
        if qmp is not None:
            qmp.close()
        res["log"] = sw.stop()
        if res["log"] is None:
            res["error"] = res["error"] or "the switch did not exit"
            res["log"] = sw.text()
    return res


def check_vmlink(res, args):
    """What the library must have done; returns the failures."""
    out = res["log"]
    fails = []
    if res["error"]:
        fails.append(res["error"])
    elif args.traffic == "stream" and res["recv"] != res["sent"]:
        fails.append("the stream arrived changed: B sent %d bytes md5 %s, "
                     "A got %d bytes md5 %s" % (res["sent"] + res["recv"]))
    elif args.traffic == "ping" and res["lost"] > args.max_lost:
        fails.append("%d pings lost (at most %d)" % (res["lost"],
                                                     args.max_lost))
    if res.get("mem_diff"):
        fails.append("%d page(s) of guest memory differ between source and "
                     "destination" % len(res["mem_diff"]))
    for needle in ("second front-end connected", "dirty log set",
                   "dirty logging on", "SEND_RARP"):
        if needle not in out:
            fails.append("the bridge's log lacks %r" % needle)
    # the destination took the port over: at its start once the source
    # had stopped, or when the source quit first (it is killed as soon as
    # the migration completed, which may be before the destination starts
    # its device)
    if "switching the port over" not in out and \
            "first front-end left: the second takes the port" not in out:
        fails.append("the bridge's log shows no switch over")
    # the other port: guest B's session and link lasted from before the
    # migration until A's last ping (then B is shut down)
    during = out[:res.get("log_at_end", 0)]
    if during.count("VHU b: front-end connected") != 1:
        fails.append("guest B's port: not one session")
    for needle in ("VHU b: front-end disconnected", "VHU-BRIDGE b link down",
                   "VHU b: device reset", "VHU-BRIDGE b fault"):
        if needle in during:
            fails.append("guest B's port was disturbed: %r" % needle)
    m = re.search(r"VHU-BRIDGE a2b=(\d+) b2a=(\d+) drops=(\d+) faults=(\d+) "
                  r"malformed=(\d+) zc=(\d+)", out)
    if not m or int(m.group(4)) or int(m.group(5)):
        fails.append("no bridge statistics, or faults")
    return fails


def row(res):
    if res.get("migration") is None:
        return "%-10s  %-10s  %8s  %8s  %7s  %4s" % (
            res["kind"], "error", "-", "-", "-", "-")
    if "sent" in res:
        got = "%d/%d B%s" % (res["recv"][0], res["sent"][0],
                             ", md5 equal" if res["recv"] == res["sent"]
                             else ", md5 DIFFERS")
    else:
        got = "%s/%s" % (res.get("good", "-"), res.get("total", "-"))
    return "%-10s  %-10s  %8s  %8s  %7s  %4s" % (
        res["kind"], res["migration"], res.get("total_ms"),
        res.get("downtime_ms"), got, res.get("lost", "-"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bridge", required=True)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--max-lost", type=int, default=3)
    ap.add_argument("--anchor", choices=("yes", "no"), default="yes")
    ap.add_argument("--traffic", choices=("ping", "stream"),
                    default="ping")
    # The stream must outlast the migration: 16 MiB went through in
    # under two seconds (GSO frames) on a quiet machine, before the
    # source even stopped. 64 MiB, and the migration starts at once.
    ap.add_argument("--stream-bytes", type=int, default=64 << 20)
    ap.add_argument("--stream-delay", type=float, default=0.1)
    # Guest A's memory: 256 MiB and 8 KiB (QEMU rounds -m up to 8 KiB). QEMU before 9.0 loses
    # stores of TCG guests while it migrates RAM whose size is a multiple
    # of 64 pages (its fast path clears dirty bits without resetting the
    # TCG TLB: QEMU commit 03bfc2188f, "physmem: Fix migration dirty
    # bitmap coherency with TCG memory access"); the destination's kernel
    # then runs on stale pages and crashes. Two pages more take QEMU 7.2
    # through its per-page path, which is right.
    ap.add_argument("--mem-kb", type=int, default=256 * 1024 + 8)
    ap.add_argument("--switch", choices=("vmlink", "net_vhost"),
                    default="vmlink")
    ap.add_argument("--compare-memory", choices=("yes", "no"),
                    default="yes")
    ap.add_argument("--debug-guest", action="store_true")
    args = ap.parse_args()
    guest = qemu_guest.script_guest_image()
    if guest is None:
        return SKIP
    image, build = guest
    t0 = time.monotonic()
    if args.switch == "net_vhost":     # the anchor alone
        theirs = scenario("net_vhost", args, image, build)
        print(row(theirs))
        if "mem_diff" in theirs:
            print("net_vhost: %d page(s) differ between source and "
                  "destination at the switch" % len(theirs["mem_diff"]))
        bad = theirs["error"] or theirs.get("mem_diff")
        print("%s (logs: %s)" % (theirs["error"] or "no error",
                                 theirs["work"]))
        if not bad:
            shutil.rmtree(theirs["work"], ignore_errors=True)
        return 1 if bad else 0
    ours = scenario("vmlink", args, image, build)
    print("\n".join(line for line in ours["log"].splitlines()
                    if "VHU " in line or "VHU-BRIDGE" in line))
    fails = check_vmlink(ours, args)
    results = [ours]
    if args.anchor == "yes":
        if shutil.which("dpdk-testpmd") is None:
            print("anchor: no dpdk-testpmd, net_vhost not measured")
        else:
            theirs = scenario("net_vhost", args, image, build)
            results.append(theirs)
            if theirs["error"]:
                print("anchor net_vhost: %s (logs: %s)" % (theirs["error"],
                                                          theirs["work"]))
    if args.traffic == "ping":
        print("\nsame-host migration of a pinging guest (%d pings, one "
              "every %g s + the reply, 1 s timeout), QEMU 7.2 TCG:" % (
                  args.count, args.interval))
    else:
        print("\nsame-host migration of a guest receiving a TCP stream of "
              "%d bytes (verified after it resumed), QEMU 7.2 TCG:" %
              args.stream_bytes)
    print("%-10s  %-10s  %8s  %8s  %7s  %4s" % (
        "switch", "migration", "total ms", "downtime",
        "pings" if args.traffic == "ping" else "stream", "lost"))
    for r in results:
        print(row(r))
    if len(results) == 2 and results[0].get("downtime_ms") and \
            results[1].get("downtime_ms"):
        print("downtime ratio vmlink/net_vhost: %.2f" % (
            results[0]["downtime_ms"] / results[1]["downtime_ms"]))
    for r in results:
        if "mem_diff" in r:
            print("%s: %d page(s) differ between source and destination "
                  "at the switch%s" % (r["kind"], len(r["mem_diff"]),
                                       (": " + " ".join(
                                           "%#x" % a for a in
                                           r["mem_diff"][:32]))
                                       if r["mem_diff"] else ""))
    for f in fails:
        print("FAIL: " + f)
    ok = not fails
    print("%s in %.1f s (logs: %s)" % ("PASS" if ok else "FAIL",
                                        time.monotonic() - t0,
                                        " ".join(r["work"] for r in results)))
    for r in results:
        if ok and not r["error"]:
            shutil.rmtree(r["work"], ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
