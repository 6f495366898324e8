#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""End to end: two QEMU guests (Linux virtio-net) ping each other through
the vhost-user library.

vhu_bridge (tests/vhost_user/vhu_bridge.c) serves two vhu devices and
forwards frames between them; guest A pings guest B. Passes when every ping
got its reply and the bridge saw no fault and no malformed chain.

    vhu_qemu_ping.py --bridge PATH [--zero-copy] [--mtu B] [--size B,..]
                     [--count N] [--hugepages] [--queues N] [--qemu-server]

--qemu-server: QEMU listens, the bridge connects (vhu client mode).

Env: VMLINK_BUILD (scratch under $VMLINK_BUILD/qemu). Exit 0 pass, 1 fail,
77 skip (QEMU unavailable, guest image cannot be built).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import qemu_guest
from qemu_guest import Guest, GuestError, VhostUserNic

SKIP = 77


def hugepages_free():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("HugePages_Free:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bridge", required=True)
    ap.add_argument("--zero-copy", action="store_true")
    ap.add_argument("--mtu", type=int)
    ap.add_argument("--size", default="56,1400")
    ap.add_argument("--count", type=int, default=5)
    ap.add_argument("--hugepages", action="store_true")
    ap.add_argument("--queues", type=int, default=1)
    ap.add_argument("--qemu-server", action="store_true")
    ap.add_argument("--packed", action="store_true",
                    help="packed virtqueues (packed=on); the bridge must "
                    "see VIRTIO_F_RING_PACKED negotiated on both ports")
    args = ap.parse_args()
    guest = qemu_guest.script_guest_image()
    if guest is None:
        return SKIP
    image, build = guest
    work = tempfile.mkdtemp(prefix="vhu-ping.", dir=os.path.join(build, "qemu"))
    socks = [os.path.join(work, "a.sock"), os.path.join(work, "b.sock")]
    sizes = [int(x) for x in args.size.split(",")]
    t0 = time.monotonic()
    blog = open(os.path.join(work, "bridge.log"), "w+")
    bridge = subprocess.Popen(
        ["nice", "-n", "10", args.bridge, socks[0], socks[1],
         "1" if args.zero_copy else "0", str(args.queues),
         "1" if args.qemu_server else "0"],
        stdin=subprocess.PIPE, stdout=blog, stderr=subprocess.STDOUT)
    ok = False
    try:
        for _ in range(200):
            if args.qemu_server or all(os.path.exists(s) for s in socks):
                break
            if bridge.poll() is not None:
                break
            time.sleep(0.05)
        else:
            print("FAIL: bridge sockets never appeared")
            return 1
        mem = "/dev/hugepages" if args.hugepages else None
        if mem and hugepages_free() < 2 * 256 // 2 + 16:
            print("note: not enough free 2 MiB huge pages, guest RAM on memfd")
            mem = None
        a = Guest("a", image, work, ip="10.0.0.1/24", peer="10.0.0.2",
                  mode="ping", count=args.count, size=sizes, mtu=args.mtu,
                  mem_path=mem,
                  nics=[VhostUserNic(socks[0], mac="52:54:00:00:00:0a",
                                     queues=args.queues,
                                     server=args.qemu_server,
                                     packed=args.packed)])
        b = Guest("b", image, work, ip="10.0.0.2/24", mode="echo",
                  mtu=args.mtu, mem_path=mem,
                  nics=[VhostUserNic(socks[1], mac="52:54:00:00:00:0b",
                                     queues=args.queues,
                                     server=args.qemu_server,
                                     packed=args.packed)])
        with a, b:
            ra = a.wait_ready(150)
            rb = b.wait_ready(150)
            good, total = a.ping_result(150)
            print("guests ready after %.1f / %.1f s, pings %d/%d" %
                  (ra, rb, good, total))
            ok = total == args.count * len(sizes) and good == total
            if not ok:
                print(a.describe())
    except GuestError as e:
        print("FAIL: %s" % e)
        ok = False
    finally:
        try:
            bridge.stdin.close()
            bridge.wait(20)
        except subprocess.TimeoutExpired:
            bridge.kill()
            bridge.wait()
            print("FAIL: bridge did not exit")
            ok = False
    blog.seek(0)
    out = blog.read()
    print(out.strip())
    m = re.search(r"VHU-BRIDGE a2b=(\d+) b2a=(\d+) drops=(\d+) faults=(\d+) "
                  r"malformed=(\d+) zc=(\d+)", out)
    if not m:
        print("FAIL: no bridge statistics")
        ok = False
    else:
        a2b, b2a, drops, faults, mal, zc = (int(x) for x in m.groups())
        want = args.count * len(sizes)
        if a2b < want or b2a < want:
            print("FAIL: bridge forwarded %d/%d frames, want >= %d each way" %
                  (a2b, b2a, want))
            ok = False
        # Drops are frames for a guest whose queue was not up yet (one
        # guest boots before the other): the bridge's business, not a fault.
        print("bridge: %d forwarded a->b, %d b->a, %d dropped, %d zero-copy" %
              (a2b, b2a, drops, zc))
        if faults or mal:
            print("FAIL: faults %d malformed %d" % (faults, mal))
            ok = False
        # bit 34: VIRTIO_F_RING_PACKED, as each port saw it at link up
        ups = re.findall(r"VHU-BRIDGE (\w+) link up features (0x[0-9a-f]+|0)",
                         out)
        packed = {p: bool(int(f, 16) >> 34 & 1) for p, f in ups}
        if len(packed) != 2 or any(v != args.packed for v in packed.values()):
            print("FAIL: packed rings %s, want %s" % (packed, args.packed))
            ok = False
        if args.zero_copy and zc == 0:
            print("FAIL: zero-copy never used")
            ok = False
    # QEMU 7.2 negotiates STATUS and sets DRIVER_OK once its rings are
    # up; the library runs the rings only then (docs/vhost-user.md).
    for dev in ("a", "b"):
        if not re.search(r"VHU %s: driver ready \(status 0x[0-9a-f]*f\)" % dev,
                         out):
            print("FAIL: device %s never saw DRIVER_OK (SET_STATUS)" % dev)
            ok = False
    print("%s in %.1f s (logs: %s)" % ("PASS" if ok else "FAIL",
                                        time.monotonic() - t0, work))
    if ok:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
