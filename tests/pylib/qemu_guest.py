# SPDX-License-Identifier: BSD-3-Clause
"""QEMU test guests on vhost-user ports (python3 stdlib only).

    from qemu_guest import (build_guest, qemu_unavailable_reason, Guest,
                            VhostUserNic, GuestError)

    reason = qemu_unavailable_reason()          # None, or why QEMU can't run
    img = build_guest(os.path.join(build, "qemu"))   # kernel + initramfs
    g = Guest("a", img, workdir, nics=[VhostUserNic("/tmp/x.sock")],
              ip="10.0.0.1/24", peer="10.0.0.2", mode="ping", count=5)
    with g:                                     # start(); kill() on exit
        g.wait_ready(timeout=120)
        ok, n = g.ping_result(timeout=120)

The guest side (/init parameters and console markers) is described in
tests/qemu/guest-init and docs/qemu-guests.md.
"""

import atexit
import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("VMLINK_SOURCE",
                        os.path.normpath(os.path.join(HERE, "..", "..")))
BUILD_GUEST = os.path.join(SOURCE, "tests", "qemu", "build-guest")

# Kernel command line shared by all guests: serial console, exit QEMU on
# panic (with -no-reboot), skip slow legacy probes under TCG.
BASE_APPEND = ("console=ttyS0,115200 panic=-1 quiet loglevel=3 "
               "i8042.noaux=1 i8042.nomux=1 i8042.nopnp=1 i8042.dumbkbd=1 "
               "mitigations=off tsc=reliable no_timer_check "
               "random.trust_cpu=on")

READY_RE = re.compile(r"^VMLINK-GUEST READY .*$", re.M)
PING_RE = re.compile(r"^VMLINK-PING (OK|FAIL) (\d+)/(\d+)(.*)$", re.M)
ERROR_RE = re.compile(r"^VMLINK-GUEST ERROR (.*)$", re.M)


class GuestError(Exception):
    """A guest failed: QEMU exited, a marker did not come, or /init said
    VMLINK-GUEST ERROR."""


class GuestBuildError(GuestError):
    pass


def qemu_binary():
    return os.environ.get("VMLINK_QEMU") or shutil.which("qemu-system-x86_64")


_unavailable_cache = {}


def qemu_unavailable_reason(qemu=None, timeout=30):
    """None when QEMU can start a TCG guest with shared memory and a
    vhost-user netdev here; otherwise a precise reason (for a skip message)."""
    qemu = qemu or qemu_binary()
    if not qemu:
        return ("qemu-system-x86_64 not found (install Debian package "
                "qemu-system-x86)")
    if qemu in _unavailable_cache:
        return _unavailable_cache[qemu]
    reason = _check_qemu(qemu, timeout)
    _unavailable_cache[qemu] = reason
    return reason


def _check_qemu(qemu, timeout):
    if not os.access(qemu, os.X_OK):
        return "%s is not executable" % qemu
    if not hasattr(os, "memfd_create"):
        return "python has no os.memfd_create (needed only to probe memfd)"
    try:
        os.close(os.memfd_create("vmlink-probe"))
    except OSError as e:
        return "memfd_create() fails here: %s" % e

    def query(args):
        p = subprocess.run([qemu] + args, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=timeout)
        return p.returncode, p.stdout

    try:
        rc, out = query(["-version"])
        if rc != 0:
            return "%s -version failed (exit %d): %s" % (qemu, rc,
                                                         out.strip()[-300:])
        m = re.search(r"version (\d+)\.(\d+)", out)
        if not m or (int(m.group(1)), int(m.group(2))) < (5, 0):
            return "QEMU too old (need >= 5.0): %s" % out.splitlines()[0]
        rc, out = query(["-accel", "help"])
        if "tcg" not in out.split():
            return "this QEMU has no TCG accelerator: %s" % out.strip()
        rc, out = query(["-netdev", "help"])
        if "vhost-user" not in out.split():
            return "this QEMU has no vhost-user netdev: %s" % out.strip()
        # A real machine with the memory setup the guests use, then quit.
        p = subprocess.run(
            [qemu, "-accel", "tcg", "-M", "pc", "-nodefaults",
             "-no-user-config", "-display", "none", "-S", "-m", "64M",
             "-object", "memory-backend-memfd,id=mem,size=64M,share=on",
             "-numa", "node,memdev=mem", "-monitor", "stdio"],
            input="quit\n", stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, timeout=timeout)
        if p.returncode != 0:
            return ("QEMU cannot create a TCG pc machine with shared memfd "
                    "memory (exit %d): %s" % (p.returncode,
                                              p.stdout.strip()[-400:]))
    except subprocess.TimeoutExpired:
        return "QEMU did not answer within %d s" % timeout
    except OSError as e:
        return "cannot run %s: %s" % (qemu, e)
    return None


def build_guest(outdir, kernel_package=None, force=False):
    """Run tests/qemu/build-guest OUTDIR; return its manifest (a dict with
    'vmlinuz', 'initrd', 'kernel', 'busybox', 'modules', ...).
    Raises GuestBuildError with build-guest's reason."""
    import json
    cmd = [sys.executable, BUILD_GUEST, outdir]
    if kernel_package:
        cmd += ["--kernel-package", kernel_package]
    if force:
        cmd.append("--force")
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise GuestBuildError("build-guest failed (exit %d): %s" % (
            p.returncode, p.stderr.strip()[-1000:]))
    with open(p.stdout.strip().splitlines()[-1]) as f:
        return json.load(f)


class VhostUserNic:
    """One virtio-net-pci NIC on a vhost-user socket.

    server=False: QEMU connects to PATH (the back-end listens); with
    reconnect=N QEMU retries every N s until the back-end is there.
    server=True: QEMU listens on PATH and waits for the back-end to connect
    before the guest runs.
    vectors: MSI-X vectors of the NIC; 0 (legacy INTx) because QEMU 7.2
    under TCG crashes starting vhost with MSI-X; None: QEMU's default."""

    def __init__(self, path, server=False, mac=None, queues=1, reconnect=1,
                 vectors=0):
        self.path = path
        self.vectors = vectors
        self.server = server
        self.mac = mac
        self.queues = queues
        self.reconnect = reconnect


_live = set()


def _kill_all_live():
    for g in list(_live):
        g.kill()


atexit.register(_kill_all_live)


def install_signal_cleanup():
    """Make SIGTERM/SIGHUP (meson's timeout, a killed shell) raise SystemExit
    so `with Guest` blocks and atexit kill the guests."""
    def handler(signum, frame):
        raise SystemExit(128 + signum)
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, handler)


def _die_with_parent():
    # QEMU gets SIGKILL if the test process dies, however it dies.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass
    os.setpgrp()


class Guest:
    """One QEMU TCG guest booting the build-guest kernel + initramfs."""

    def __init__(self, name, image, workdir, nics=(), ip=None, peer=None,
                 mode="idle", count=5, wait=60, size=None, mtu=None,
                 reply_timeout=None, ipv6=False,
                 stats=None, mem_mb=256, smp=1, mem_path=None,
                 extra_append="", extra_args=(), qemu=None, debug=False):
        """image: build_guest()'s manifest, or (vmlinuz, initrd).
        mem_path: a hugetlbfs directory for guest memory instead of memfd."""
        if isinstance(image, dict):
            self.kernel, self.initrd = image["vmlinuz"], image["initrd"]
        else:
            self.kernel, self.initrd = image
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ValueError("guest name must be [A-Za-z0-9_.-]+: %r" % name)
        self.name = name
        self.workdir = workdir
        self.nics = list(nics)
        self.mem_mb = mem_mb
        self.smp = smp
        self.mem_path = mem_path
        self.qemu = qemu or qemu_binary()
        self.console_path = os.path.join(workdir, name + ".console.log")
        self.stderr_path = os.path.join(workdir, name + ".qemu.log")
        if isinstance(size, (list, tuple)):
            size = ",".join(str(x) for x in size)
        params = {"ip": ip, "peer": peer, "mode": mode, "count": count,
                  "wait": wait, "size": size, "mtu": mtu, "stats": stats,
                  "timeout": reply_timeout, "ipv6": 1 if ipv6 else None,
                  "debug": 1 if debug else None}
        vm = " ".join("vmlink.%s=%s" % (k, v) for k, v in params.items()
                      if v is not None)
        self.append = " ".join(x for x in (BASE_APPEND, vm, extra_append)
                               if x)
        if debug:
            self.append = self.append.replace(" quiet loglevel=3", "")
        self.extra_args = list(extra_args)
        self.proc = None
        self.t_start = None
        self.t_ready = None
        self._pos = 0       # console bytes already scanned by wait_for
        self._stderr = None

    # -- command line ------------------------------------------------------

    def mac(self, i):
        nic = self.nics[i]
        if nic.mac:
            return nic.mac
        h = sum(self.name.encode()) & 0xff
        return "52:54:00:%02x:%02x:%02x" % (h, len(self.name) & 0xff, i + 1)

    def cmdline(self):
        mem = "%dM" % self.mem_mb
        if self.mem_path:
            backend = ("memory-backend-file,id=mem,size=%s,mem-path=%s,"
                       "share=on" % (mem, self.mem_path))
        else:
            backend = "memory-backend-memfd,id=mem,size=%s,share=on" % mem
        cmd = [self.qemu, "-name", self.name, "-accel", "tcg",
               "-M", "pc", "-cpu", "max", "-smp", str(self.smp), "-m", mem,
               "-object", backend, "-numa", "node,memdev=mem",
               "-nodefaults", "-no-user-config", "-display", "none",
               "-vga", "none", "-monitor", "none", "-no-reboot",
               "-serial", "file:" + self.console_path,
               "-kernel", self.kernel, "-initrd", self.initrd,
               "-append", self.append]
        for i, nic in enumerate(self.nics):
            chardev = "socket,id=vuc%d,path=%s" % (i, nic.path)
            if nic.server:
                chardev += ",server=on,wait=off"
            elif nic.reconnect:
                chardev += ",reconnect=%d" % nic.reconnect
            netdev = "vhost-user,id=vun%d,chardev=vuc%d" % (i, i)
            dev = "virtio-net-pci,netdev=vun%d,mac=%s,romfile=" % (
                i, self.mac(i))
            if nic.queues > 1:
                netdev += ",queues=%d" % nic.queues
                dev += ",mq=on"
            if nic.vectors is not None:
                dev += ",vectors=%d" % nic.vectors
            cmd += ["-chardev", chardev, "-netdev", netdev, "-device", dev]
        return cmd + self.extra_args

    # -- lifecycle ---------------------------------------------------------

    def start(self):
        if self.proc:
            raise GuestError("%s: already started" % self.name)
        if not self.qemu:
            raise GuestError("qemu-system-x86_64 not found")
        os.makedirs(self.workdir, exist_ok=True)
        open(self.console_path, "wb").close()
        self._pos = 0
        self._stderr = open(self.stderr_path, "wb")
        self._stderr.write((" ".join(self.cmdline()) + "\n").encode())
        self._stderr.flush()
        self.t_start = time.monotonic()
        self.proc = subprocess.Popen(self.cmdline(), stdin=subprocess.DEVNULL,
                                     stdout=self._stderr,
                                     stderr=subprocess.STDOUT,
                                     preexec_fn=_die_with_parent)
        _live.add(self)
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, grace=3.0):
        """Stop QEMU (SIGTERM, then SIGKILL); safe to call more than once."""
        p = self.proc
        if p is not None and p.poll() is None:
            try:
                p.terminate()
                p.wait(grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            except ProcessLookupError:
                pass
        if p is not None and p.returncode is None:
            p.wait()
        if self._stderr:
            self._stderr.close()
            self._stderr = None
        _live.discard(self)

    def __enter__(self):
        if not self.proc:
            self.start()
        return self

    def __exit__(self, *exc):
        self.kill()
        return False

    # -- console -----------------------------------------------------------

    def console(self):
        try:
            with open(self.console_path, "rb") as f:
                return f.read().decode("utf-8", "replace").replace("\r", "")
        except OSError:
            return ""

    def qemu_log(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def describe(self, lines=25):
        """The tail of the console and QEMU's own output, for messages."""
        tail = "\n".join(self.console().splitlines()[-lines:])
        q = "\n".join(self.qemu_log().splitlines()[-8:])
        state = ("running" if self.running() else
                 "exited %s" % (self.proc.returncode if self.proc else "-"))
        if not tail and self.running() and self.nics:
            tail = ("(console empty: QEMU is most likely still waiting for "
                    "its vhost-user back-end on %s)"
                    % ", ".join(n.path for n in self.nics))
        return ("--- guest %s (%s), console %s:\n%s\n--- qemu output:\n%s"
                % (self.name, state, self.console_path, tail, q))

    def wait_for(self, pattern, timeout, since_last=True):
        """Wait for a console line matching regex PATTERN (re.M); return the
        match. since_last: only text after the previous wait_for's match.
        Raises GuestError on timeout, on QEMU exiting first, or on a
        VMLINK-GUEST ERROR line."""
        rx = re.compile(pattern, re.M) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        start = self._pos if since_last else 0
        while True:
            text = self.console()
            m = rx.search(text, start)
            # Only whole lines: a marker still being written is not a match.
            if m and text.find("\n", m.end()) >= 0 or \
                    m and not self.running():
                self._pos = m.end()
                return m
            e = ERROR_RE.search(text, start)
            if e:
                raise GuestError("%s: guest error: %s\n%s" % (
                    self.name, e.group(1), self.describe()))
            if not self.running():
                # One last read: QEMU may have written the line as it exited.
                text = self.console()
                m = rx.search(text, start)
                if m:
                    self._pos = m.end()
                    return m
                raise GuestError("%s: QEMU exited (%s) before /%s/\n%s" % (
                    self.name, self.proc.returncode if self.proc else "-",
                    rx.pattern, self.describe()))
            if time.monotonic() >= deadline:
                raise GuestError("%s: no /%s/ within %.0f s\n%s" % (
                    self.name, rx.pattern, timeout, self.describe()))
            time.sleep(0.05)

    def wait_ready(self, timeout=120):
        """Wait for VMLINK-GUEST READY; return seconds since start()."""
        self.wait_for(READY_RE, timeout)
        self.t_ready = time.monotonic() - self.t_start
        return self.t_ready

    def ping_result(self, timeout=120):
        """Wait for VMLINK-PING OK/FAIL; return (ok, count)."""
        m = self.wait_for(PING_RE, timeout)
        return int(m.group(2)), int(m.group(3))

    def wait_exit(self, timeout=30):
        """Wait for QEMU to exit (the guest powers off); return its status."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise GuestError("%s: still running after %.0f s\n%s" % (
                self.name, timeout, self.describe()))
