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
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

import initramfs

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


def skip_class_unless_runnable():
    """For a unittest class's setUpClass: skip the whole class, saying
    why, when QEMU cannot run here; otherwise make sure every guest dies
    with the test process, whatever signal ends it."""
    reason = qemu_unavailable_reason()
    if reason:
        print("SKIP: QEMU cannot run here: " + reason, flush=True)
        raise unittest.SkipTest("QEMU cannot run here: " + reason)
    install_signal_cleanup()


def unittest_main():
    """A QEMU test file's entry point: exit 77 (meson's "skipped") when
    QEMU cannot run here, else run the file's unittest classes."""
    reason = qemu_unavailable_reason()
    if reason:
        print("SKIP: QEMU cannot run here: " + reason, flush=True)
        sys.exit(77)
    unittest.main(verbosity=2)


def script_guest_image():
    """For a QEMU test script's main(): (image, build directory), with
    $VMLINK_BUILD/qemu created; None, after printing why on a SKIP line,
    when QEMU cannot run here or no guest image can be built. Guests die
    with the script, whatever signal ends it."""
    install_signal_cleanup()
    reason = qemu_unavailable_reason()
    if reason:
        print("SKIP: " + reason)
        return None
    build = os.environ.get("VMLINK_BUILD", ".")
    try:
        image = build_guest(os.path.join(build, "qemu"))
    except GuestError as e:
        print("SKIP: no guest image: %s" % e)
        return None
    os.makedirs(os.path.join(build, "qemu"), exist_ok=True)
    return image, build


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


def build_guest(outdir, kernel_package=None, force=False, dpdk=False):
    """Run tests/qemu/build-guest OUTDIR; return its manifest (a dict with
    'vmlinuz', 'initrd', 'kernel', 'busybox', 'modules', ...).
    dpdk: the DPDK guest (build-guest --dpdk; give it its own OUTDIR).
    Raises GuestBuildError with build-guest's reason."""
    import json
    cmd = [sys.executable, BUILD_GUEST, outdir]
    if kernel_package:
        cmd += ["--kernel-package", kernel_package]
    if dpdk:
        cmd.append("--dpdk")
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
    under TCG crashes starting vhost with MSI-X; None: QEMU's default.
    props: more virtio-net-pci properties ("csum=off,guest_tso4=off").
    packed: the device offers packed virtqueues (packed=on)."""

    def __init__(self, path, server=False, mac=None, queues=1, reconnect=1,
                 vectors=0, props="", packed=False):
        self.path = path
        self.props = props
        self.packed = packed
        self.vectors = vectors
        self.server = server
        self.mac = mac
        self.queues = queues
        self.reconnect = reconnect


class IvshmemDoorbell:
    """QEMU's ivshmem-doorbell (PCI 1af4:1110) on an ivshmem server socket:
    BAR0 registers, BAR1 MSI-X, BAR2 the shared memory the server hands
    out. It signals with MSI-X only: QEMU 7.2 has no msi=off for it and
    never asserts its INTx pin, so a guest on uio_pci_generic polls."""

    def __init__(self, path, vectors=2, addr=None):
        self.path = path
        self.vectors = vectors
        self.addr = addr

    def qemu_args(self, i):
        dev = "ivshmem-doorbell,chardev=ivs%d,vectors=%d" % (i, self.vectors)
        if self.addr is not None:
            dev += ",addr=%#x" % self.addr
        return ["-chardev", "socket,path=%s,id=ivs%d" % (self.path, i),
                "-device", dev]


class IvshmemPlain:
    """QEMU's ivshmem-plain (PCI 1af4:1110, no registers for doorbells):
    BAR2 is the file MEM_PATH (SIZE bytes), shared with whoever maps it."""

    def __init__(self, mem_path, size, addr=None):
        self.mem_path = mem_path
        self.size = size
        self.addr = addr

    def qemu_args(self, i):
        dev = "ivshmem-plain,memdev=ivm%d" % i
        if self.addr is not None:
            dev += ",addr=%#x" % self.addr
        return ["-object", "memory-backend-file,id=ivm%d,size=%d,"
                "mem-path=%s,share=on" % (i, self.size, self.mem_path),
                "-device", dev]


# ---- the DPDK guest's agent (ttyS1) -----------------------------------------

AGENT_RC_RE = re.compile(rb"VMLINK-AGENT RC (\d+)\n")


class AgentError(GuestError):
    pass


class Agent:
    """The DPDK guest's agent: /init reads one shell command line at a
    time from the guest's second serial port (ttyS1, raw, no echo), runs
    it with its stdio on that port, then writes "VMLINK-AGENT RC <n>".
    QEMU serves that port on a unix socket; this is the host end. All it
    receives is appended to LOG (a path), "\r" removed."""

    def __init__(self, path, log=None, timeout=30):
        self.path = path
        self.log = log
        self.sock = None
        self.buf = b""
        self.busy = None        # the AgentProcess running, if any
        self._seq = 0
        end = time.monotonic() + timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                break
            except OSError as e:
                s.close()
                if time.monotonic() >= end:
                    raise AgentError("cannot connect to the guest agent "
                                     "socket %s: %s" % (path, e))
                time.sleep(0.1)
        self.sock = s
        self.sync(max(1.0, end - time.monotonic()))

    def fileno(self):
        return self.sock.fileno()

    def recv(self, timeout, keep_cr=False):
        """Bytes the guest wrote within TIMEOUT seconds (b"" if none), "\r"
        removed unless KEEP_CR; raises AgentError when QEMU closed the
        port."""
        if self.sock is None:
            raise AgentError("guest agent %s: closed (guest killed?)"
                             % self.path)
        r, _, _ = select.select([self.sock], [], [], max(0, timeout))
        if not r:
            return b""
        raw = self.sock.recv(65536)
        if not raw:
            raise AgentError("guest agent %s: connection closed (QEMU "
                             "exited?)" % self.path)
        data = raw.replace(b"\r", b"")
        if self.log:
            with open(self.log, "ab") as f:
                f.write(data)
        return raw if keep_cr else data

    def send(self, text):
        self.sendall(text.encode())

    def sendall(self, data):
        if self.sock is None:
            raise AgentError("guest agent %s: closed (guest killed?)"
                             % self.path)
        # testpmd.Testpmd makes its stdout (this socket) non-blocking
        self.sock.setblocking(True)
        self.sock.sendall(data)

    def _until(self, rx, timeout, what):
        end = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                out = self.buf[:m.start()]
                self.buf = self.buf[m.end():]
                return out, m
            left = end - time.monotonic()
            if left <= 0:
                raise AgentError("guest agent: no %s within %.0f s; got:\n%s"
                                 % (what, timeout, self.buf[-2000:].decode(
                                     errors="replace")))
            self.buf += self.recv(min(left, 0.5))

    def sync(self, timeout=30):
        """Wait until the agent answers: a unique echo, sent again every
        second (the port drops what the guest sends while nobody is
        connected, and the agent may not be reading yet)."""
        self._seq += 1
        token = "VMLINK-AGENT-SYNC-%d-%d" % (os.getpid(), self._seq)
        rx = re.compile(re.escape(token.encode()) + rb"\nVMLINK-AGENT RC 0\n")
        end = time.monotonic() + timeout
        while True:
            self.send("echo %s\n" % token)
            try:
                self._until(rx, min(1.0, max(0.1, end - time.monotonic())),
                            "answer")
                self.buf = b""
                return
            except AgentError:
                if time.monotonic() >= end:
                    raise

    def run(self, cmdline, timeout=60, check=True):
        """Run the shell command line CMDLINE (a string, or an argument
        list that is quoted here) in the guest; returns (status, output).
        check: raise AgentError on a non-zero status."""
        if self.busy is not None and self.busy.returncode is None:
            raise AgentError("guest agent busy with %s" % self.busy.cmd)
        if not isinstance(cmdline, str):
            cmdline = " ".join(shlex.quote(str(a)) for a in cmdline)
        if "\n" in cmdline:
            raise ValueError("one line only: %r" % cmdline)
        self.send(cmdline + "\n")
        out, m = self._until(AGENT_RC_RE, timeout, "end of %r" % cmdline)
        rc = int(m.group(1))
        text = out.decode(errors="replace")
        if check and rc != 0:
            raise AgentError("guest: %s: exit %d:\n%s" % (cmdline, rc,
                                                           text[-2000:]))
        return rc, text

    def spawn(self, argv):
        """Start ARGV in the guest; returns an AgentProcess (a Popen
        look-alike) whose stdin and stdout are the agent's port."""
        if self.busy is not None and self.busy.returncode is None:
            raise AgentError("guest agent busy with %s" % self.busy.cmd)
        self.busy = AgentProcess(self, argv)
        return self.busy

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class AgentProcess:
    """A program the guest agent runs, looking like a subprocess.Popen
    with stdin/stdout pipes (what testpmd.Testpmd drives). It has ended
    when the agent's "VMLINK-AGENT RC" line came; it cannot be signalled
    (kill() asks it to quit, else gives up on it: kill the guest)."""

    class _Stdin:
        def __init__(self, proc):
            self.proc = proc

        def write(self, data):
            if self.proc.returncode is not None:
                raise BrokenPipeError("guest program ended")
            self.proc.agent.sendall(data)
            return len(data)

        def flush(self):
            pass

        def close(self):
            pass

    class _Stdout:
        def __init__(self, proc):
            self.proc = proc

        def fileno(self):
            return self.proc.agent.fileno()

        def read(self, n=65536):
            return self.proc._read()

        def close(self):
            pass

    def __init__(self, agent, argv):
        self.agent = agent
        self.cmd = " ".join(shlex.quote(str(a)) for a in argv)
        self.returncode = None
        self.stdin = self._Stdin(self)
        self.stdout = self._Stdout(self)
        self._tail = b""
        agent.buf = b""
        agent.send(self.cmd + "\n")

    def _read(self):
        """What the program wrote (without the agent's end marker); b""
        once it ended (EOF, as a pipe would)."""
        if self.returncode is not None:
            return b""
        try:
            # "\r" stays when it is all there is: b"" would mean EOF
            data = self.agent.recv(0, keep_cr=True)
        except AgentError:
            self.returncode = -1
            return b""
        if data.strip(b"\r"):
            data = data.replace(b"\r", b"")
        self._tail += data
        m = AGENT_RC_RE.search(self._tail)
        if m:
            self.returncode = int(m.group(1))
            data = data[:max(0, len(data) - (len(self._tail) - m.start()))]
            self.agent.buf = self._tail[m.end():]
        else:
            self._tail = self._tail[-64:]
        return data

    def poll(self):
        return self.returncode

    def wait(self, timeout=None):
        end = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            if end is not None and time.monotonic() >= end:
                raise subprocess.TimeoutExpired(self.cmd, timeout)
            r, _, _ = select.select([self.agent.sock], [], [], 0.2)
            if r:
                self._read()
        return self.returncode

    def send_signal(self, sig):
        self.kill()

    def terminate(self):
        self.kill()

    def kill(self):
        """testpmd's own "quit"; a program that does not end within 10 s
        is given up (returncode -9): the guest must be killed."""
        if self.returncode is not None:
            return
        try:
            self.stdin.write(b"quit\n")
            self.wait(10)
        except (OSError, AgentError, subprocess.TimeoutExpired):
            self.returncode = -9


class GuestProgram:
    """Mix in before testpmd.Testpmd (or a subclass): the same testpmd
    object, with dpdk-testpmd running in a DPDK guest through its agent:

        class GuestTestpmd(GuestProgram, testpmd.Testpmd): pass
        t = GuestTestpmd(guest.agent(), eal, plugins=[...], args=[...])
    """

    def __init__(self, agent, *a, **kw):
        self.agent = agent
        super().__init__(*a, **kw)

    def _spawn(self, cmd):
        if cmd[:2] == ["stdbuf", "-o0"]:    # a tty is line-buffered
            cmd = cmd[2:]
        return self.agent.spawn(cmd)

    def _read(self, timeout):
        got = super()._read(timeout)
        if got is False and self.p.poll() is not None:
            return None     # ended: what expect_prompt takes for EOF
        return got


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
                 reply_timeout=None, interval=None, ipv6=False,
                 stats=None, mem_mb=256, mem_kb=None, smp=1, mem_path=None,
                 extra_append="", extra_args=(), qemu=None, debug=False,
                 devices=(), machine="pc", iommu=False, agent=False,
                 hugepages=None, bind=None, files=None):
        """image: build_guest()'s manifest, or (vmlinuz, initrd).
        mem_kb: guest memory in KiB (a multiple of 8: QEMU rounds -m up
        to 8 KiB), instead of mem_mb.
        mem_path: a hugetlbfs directory for guest memory instead of memfd.
        devices: more PCI devices (IvshmemDoorbell, IvshmemPlain).
        machine: "pc" or "q35"; iommu: an emulated Intel IOMMU (q35 only,
        with interrupt remapping; the kernel gets intel_iommu=on), what
        vfio-pci needs in the guest.
        agent: the DPDK guest's agent on ttyS1 (see agent()).
        hugepages, bind: DPDK guest (mode "dpdk"): 2 MiB pages to reserve,
        {"vvvv:dddd": driver} PCI devices to bind.
        files: {guest path: host path} added to the initramfs at start()
        (build artefacts such as a PMD .so), with the shared libraries
        they need that the image lacks."""
        if isinstance(image, dict):
            self.kernel, self.initrd = image["vmlinuz"], image["initrd"]
            self.image_files = image.get("host_files", [])
        else:
            self.kernel, self.initrd = image
            self.image_files = []
        if iommu and machine != "q35":
            raise ValueError("iommu=True needs machine='q35'")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ValueError("guest name must be [A-Za-z0-9_.-]+: %r" % name)
        self.name = name
        self.workdir = workdir
        self.nics = list(nics)
        self.mem_mb = mem_mb
        self.mem_kb = mem_kb if mem_kb is not None else mem_mb * 1024
        self.smp = smp
        self.mem_path = mem_path
        self.qemu = qemu or qemu_binary()
        self.console_path = os.path.join(workdir, name + ".console.log")
        self.stderr_path = os.path.join(workdir, name + ".qemu.log")
        if isinstance(size, (list, tuple)):
            size = ",".join(str(x) for x in size)
        if bind:
            bind = ",".join("%s=%s" % kv for kv in sorted(bind.items()))
        params = {"ip": ip, "peer": peer, "mode": mode, "count": count,
                  "wait": wait, "size": size, "mtu": mtu, "stats": stats,
                  "timeout": reply_timeout, "interval": interval,
                  "ipv6": 1 if ipv6 else None,
                  "debug": 1 if debug else None, "hugepages": hugepages,
                  "bind": bind or None}
        vm = " ".join("vmlink.%s=%s" % (k, v) for k, v in params.items()
                      if v is not None)
        self.append = " ".join(x for x in (
            BASE_APPEND, "intel_iommu=on" if iommu else "", vm, extra_append)
            if x)
        self.devices = list(devices)
        self.machine = machine
        self.iommu = iommu
        self.files = dict(files or {})
        self.agent_path = os.path.join(workdir, name + ".agent.sock") \
            if agent else None
        self.agent_log = os.path.join(workdir, name + ".agent.log")
        self.side_path = os.path.join(workdir, name + ".agent2.sock") \
            if agent else None
        self._agent = None
        self._side = None
        self.boot_initrd = self.initrd
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
        mem = "%dK" % self.mem_kb
        if self.mem_path:
            backend = ("memory-backend-file,id=mem,size=%s,mem-path=%s,"
                       "share=on" % (mem, self.mem_path))
        else:
            backend = "memory-backend-memfd,id=mem,size=%s,share=on" % mem
        cmd = [self.qemu, "-name", self.name, "-accel", "tcg",
               "-M", self.machine, "-cpu", "max", "-smp", str(self.smp),
               "-m", mem,
               "-object", backend, "-numa", "node,memdev=mem",
               "-nodefaults", "-no-user-config", "-display", "none",
               "-vga", "none", "-monitor", "none", "-no-reboot",
               "-serial", "file:" + self.console_path]
        if self.agent_path:
            for i, path in enumerate((self.agent_path, self.side_path)):
                cmd += ["-chardev", "socket,id=agent%d,path=%s,server=on,"
                        "wait=off" % (i, path), "-serial", "chardev:agent%d"
                        % i]
        if self.iommu:
            cmd += ["-device", "intel-iommu,intremap=on"]
        cmd += ["-kernel", self.kernel, "-initrd", self.boot_initrd,
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
            if nic.props:
                dev += "," + nic.props
            if nic.packed:
                dev += ",packed=on"
            cmd += ["-chardev", chardev, "-netdev", netdev, "-device", dev]
        for i, d in enumerate(self.devices):
            cmd += d.qemu_args(i)
        return cmd + self.extra_args

    # -- lifecycle ---------------------------------------------------------

    def start(self):
        if self.running():
            raise GuestError("%s: already started" % self.name)
        if not self.qemu:
            raise GuestError("qemu-system-x86_64 not found")
        os.makedirs(self.workdir, exist_ok=True)
        if self.proc is not None:
            # started again: keep the previous run's console
            self.kill()
            if os.path.exists(self.console_path):
                os.replace(self.console_path, self.console_path + ".prev")
        open(self.console_path, "wb").close()
        if self.files:
            self.boot_initrd = self._initrd_with_files()
        if self.agent_path:
            for p in (self.agent_path, self.side_path):
                if os.path.exists(p):
                    os.unlink(p)
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

    def _initrd_with_files(self):
        """The image's initramfs followed by a second archive with
        self.files (the kernel unpacks both, in order)."""
        path = os.path.join(self.workdir, self.name + ".initrd")
        with open(self.initrd, "rb") as f:
            base = f.read()
        try:
            extra = initramfs.overlay(self.files, self.image_files)
        except (initramfs.ImageError, OSError) as e:
            raise GuestError("%s: cannot add files to the initramfs: %s"
                             % (self.name, e))
        with open(path + ".tmp", "wb") as f:
            f.write(base + b"\0" * (-len(base) % 4) + extra)
        os.replace(path + ".tmp", path)
        return path

    def agent(self, timeout=30):
        """The connected guest Agent (DPDK guest, agent=True); wait for
        wait_ready() first. Its traffic goes to NAME.agent.log."""
        if not self.agent_path:
            raise GuestError("%s: started without agent=True" % self.name)
        if self._agent is None:
            self._agent = Agent(self.agent_path, self.agent_log, timeout)
        return self._agent

    def side_agent(self, timeout=30):
        """The second agent (ttyS2): commands while agent() runs a
        program (/proc/interrupts, top, kill); its traffic goes to
        NAME.agent2.log."""
        if not self.side_path:
            raise GuestError("%s: started without agent=True" % self.name)
        if self._side is None:
            self._side = Agent(self.side_path, os.path.join(
                self.workdir, self.name + ".agent2.log"), timeout)
        return self._side

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
        for a in (self._agent, self._side):
            if a is not None:
                a.close()
        self._agent = self._side = None
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
