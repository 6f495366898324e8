# SPDX-License-Identifier: BSD-3-Clause
"""vmlink demo (run by usertools/vmlink-demo after setup).

Starts the ivshmem2-server, vmlink on the default configuration
(config/demo.ini, the one embedded in vmlink), an ivshmem v2 peer that
bounces frames back (stock dpdk-testpmd loading vmlink's ivshmem2 PMD, io
forwarding), and two "VMs": stock dpdk-testpmd processes with
net_virtio_user as the guest driver, VM A sending and VM B receiving.
vmlink prints live per-port stats; at the end every frame VM A sent is
accounted for: received by VM B or counted as a drop somewhere.

Each invocation has its own run directory (sockets, logs) under /run and
its own EAL file prefixes, so demos never collide with each other or with
leftovers of an earlier one; config/demo.ini is run with its paths and
file prefix pointed there. The directory is removed after a successful
run (--keep keeps it) and kept, with its path printed, after a failure."""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import telemetry  # noqa: E402
from benchlib import (BUILD, TOP, eal, plugin, size_args,  # noqa: E402
                      wait_path)
from proc import cleanup_prefix, stop  # noqa: E402
from testpmd import Testpmd, TestpmdError  # noqa: E402

DEMO_INI = os.path.join(TOP, "config", "demo.ini")
INI_RUN = "/run/vmlink-demo"		# the paths config/demo.ini names
INI_PREFIX = "file-prefix = vmlink-demo\n"
SHM = "/vmlink-demo-%d" % os.getpid()
VM_EAL_EXTRA = ["--single-file-segments"]  # virtio-user shares its memory


def demo_config(run, prefix, ini=DEMO_INI):
    """INI (config/demo.ini) with its paths in RUN and its EAL file prefix
    PREFIX, written to RUN under its own name."""
    with open(ini) as f:
        text = f.read()
    if INI_RUN not in text or INI_PREFIX not in text:
        raise RuntimeError("%s no longer names %s and %s" % (
            ini, INI_RUN, INI_PREFIX.strip()))
    text = text.replace(INI_RUN, run).replace(
        INI_PREFIX, "file-prefix = %s\n" % prefix)
    path = os.path.join(run, os.path.basename(ini))
    with open(path, "w") as f:
        f.write(text)
    return path


def say(msg):
    print("== vmlink-demo: " + msg, flush=True)


def wait_quiet(prefix, ports, timeout=15):
    """Wait until vmlink's counters stop moving (frames in flight are
    through)."""
    last = None
    end = time.time() + timeout
    while time.time() < end:
        now = [telemetry.vmlink_port_stats(prefix, p) for p in ports]
        key = [(s["rx_packets"], s["tx_packets"]) for s in now]
        if key == last:
            return
        last = key
        time.sleep(0.7)


def start_server(run, procs, shm, section, qemu_socket=None):
    """ivshmem2-server with its host socket in RUN (and QEMU's socket,
    when given); returns the host socket's path."""
    sock = run + "/ivshmem2.sock"
    cmd = [os.path.join(BUILD, "app", "ivshmem2-server"), "-F", "--force",
           "-S", sock, "-m", shm, "-o", section]
    sockets = [sock]
    if qemu_socket:
        cmd += ["-Q", qemu_socket]
        sockets.append(qemu_socket)
    say("ivshmem2-server: " + " ".join(
        "%s %s" % (o, p) for o, p in zip(("-S", "-Q"), sockets)))
    procs.append(subprocess.Popen(
        cmd, stdout=open(run + "/ivshmem2-server.log", "w"),
        stderr=subprocess.STDOUT))
    if not all(wait_path(p, 10) for p in sockets):
        raise RuntimeError("ivshmem2-server did not start: see %s/"
                           "ivshmem2-server.log" % run)
    return sock


def start_vmlink(run, procs, ini):
    """vmlink on INI with its JSON stats in RUN; up once vm-b's socket
    exists."""
    say("vmlink on config/%s (live stats below)" % os.path.basename(ini))
    vmlink = subprocess.Popen(
        [os.path.join(BUILD, "app", "vmlink"), "-c", ini,
         "--stats-json", run + "/vmlink.json"])
    procs.append(vmlink)
    if not wait_path(run + "/vm-b.sock", 30):
        raise RuntimeError("vmlink did not come up")
    return vmlink


def undeliverable(prefix, port):
    """Frames vmlink's ethdev port PORT could not hand to its guest."""
    ethdev = telemetry.vmlink_port_stats(prefix, port)["ethdev_port"]
    return telemetry.query(prefix, "/ethdev/stats,%d" % ethdev)[
        "/ethdev/stats"]["oerrors"]


def stop_vmlink(vmlink, run):
    """SIGINT vmlink and return its last JSON stats."""
    vmlink.send_signal(signal.SIGINT)
    vmlink.wait(30)
    with open(run + "/vmlink.json") as f:
        return json.load(f)


def summary(title, rows, sent, received, drops, run, keep):
    """Print the end-of-run table (ROWS: label, count[, note]) and the accounting line; remove RUN
    after a balanced run unless KEEP. True when every frame is accounted
    for and some arrived."""
    print()
    say("summary (%s)" % title)
    for label, value, *note in rows:
        print(("  %-32s %12d  %s" % (label, value, " ".join(note))).rstrip())
    balanced = received + drops == sent
    print("  sent = received + counted drops: %d = %d + %d  %s" % (
        sent, received, drops, "OK" if balanced else "MISMATCH"))
    ok = balanced and received > 0
    if ok and not keep:
        shutil.rmtree(run, ignore_errors=True)
    else:
        print("  logs in %s" % run)
    return ok


def main():
    ap = argparse.ArgumentParser(prog="vmlink-demo")
    ap.add_argument("--duration", type=int, default=10,
                    help="seconds VM A sends (default 10)")
    ap.add_argument("--size", type=int, default=64,
                    help="frame size in bytes (default 64)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the run directory (logs, sockets' folder, "
                    "vmlink.json) after a successful run too")
    ap.add_argument("--vm", action="store_true",
                    help="real VMs instead: QEMU guest A on an ivshmem v2 "
                    "link, guest B on a vhost-user port (config/demo-vm.ini)")
    args = ap.parse_args()
    if args.vm:
        import demo_vm
        return demo_vm.main(args)

    run = tempfile.mkdtemp(prefix="vmlink-demo-", dir="/run")
    os.chmod(run, 0o755)
    tag = os.path.basename(run)		# vmlink-demo-XXXXXXXX
    prefixes = {k: "%s-%s" % (tag, k) for k in ("vmlink", "vma", "vmb",
                                                "shm")}
    procs, pmds = [], []
    ok = False

    def shutdown(*_):
        for t in pmds:
            t.kill()
        pmds.clear()
        for p in procs:
            stop(p, signal.SIGTERM, 10)
        procs.clear()
        for p in prefixes.values():
            cleanup_prefix(p)

    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    say("run directory %s, EAL file prefixes %s-*" % (run, tag))
    try:
        ini = demo_config(run, prefixes["vmlink"])
        sock = start_server(run, procs, SHM, "2M")
        vmlink = start_vmlink(run, procs, ini)

        say("ivshmem peer: dpdk-testpmd -d librte_net_vmlink_ivshmem2.so, "
            "io forwarding (bounces frames back)")
        peer = Testpmd(eal(prefixes["shm"], 1, mem=512, extra=VM_EAL_EXTRA),
                       vdevs=["net_vmlink_ivshmem2,server=%s" % sock],
                       plugins=[plugin("librte_net_vmlink_ivshmem2.so")],
                       args=["--forward-mode=io", "--nb-cores=1"],
                       log=run + "/shm-peer.log")
        pmds.append(peer)
        # Jumbo frames: VM A sends them in one segment from big mbufs, VM B
        # receives them as mbuf chains.
        say("VM B: dpdk-testpmd, net_virtio_user on vm-b.sock, receiving")
        vm_b = Testpmd(eal(prefixes["vmb"], 0, mem=512, extra=VM_EAL_EXTRA),
                       vdevs=["net_virtio_user0,path=%s/vm-b.sock" % run],
                       args=["--forward-mode=rxonly"] +
                       size_args(args.size, "rx"),
                       log=run + "/vm-b.log")
        pmds.append(vm_b)
        say("VM A: dpdk-testpmd, net_virtio_user on vm-a.sock, sending "
            "%d-byte frames" % args.size)
        vm_a = Testpmd(eal(prefixes["vma"], 0, mem=512, extra=VM_EAL_EXTRA),
                       vdevs=["net_virtio_user0,path=%s/vm-a.sock" % run],
                       args=["--forward-mode=txonly"] +
                       size_args(args.size, "tx"),
                       log=run + "/vm-a.log")
        pmds.append(vm_a)
        for name, t in (("VM A", vm_a), ("VM B", vm_b), ("ivshmem peer",
                                                         peer)):
            if not t.wait_link(0, 30):
                raise RuntimeError("%s: link did not come up" % name)
        peer.start()
        vm_b.start()
        vm_a.start()
        time.sleep(args.duration)
        sent = vm_a.stop()[0]
        wait_quiet(prefixes["vmlink"], ["vm-a", "shm", "vm-b"])
        bounced = peer.stop()[0]
        received = vm_b.stop()[0]
        guest_drops = undeliverable(prefixes["vmlink"], "vm-b")
        for t in (vm_a, vm_b, peer):
            t.close()
        pmds.clear()
        st = stop_vmlink(vmlink, run)
    except (RuntimeError, TestpmdError, OSError) as e:
        print("vmlink-demo: FAILED: %s" % e, file=sys.stderr)
        print("logs: %s" % run, file=sys.stderr)
        return 1
    finally:
        shutdown()

    vm_drops = st["totals"]["drops"]
    peer_drops = bounced["tx_dropped"]
    ok = summary("%d-byte frames, %d s" % (args.size, args.duration), [
        ("VM A sent", sent["tx"]),
        ("vmlink received from VM A", st["ports"]["vm-a"]["rx_packets"]),
        ("ivshmem peer bounced", bounced["tx"],
         "(dropped %d)" % peer_drops),
        ("VM B received", received["rx"]),
        ("vmlink drops (all reasons)", vm_drops),
        ("undeliverable to VM B", guest_drops)],
        sent["tx"], received["rx"], vm_drops + peer_drops + guest_drops,
        run, args.keep)
    return 0 if ok else 1

if __name__ == "__main__":
    sys.exit(main())
