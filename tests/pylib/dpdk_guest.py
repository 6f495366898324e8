# SPDX-License-Identifier: BSD-3-Clause
"""DPDK test guests (tests/qemu/build-guest --dpdk) and stock dpdk-testpmd
running inside them, driven from the host through the guest agent with
the same Testpmd objects the host-side tests use (python3 stdlib only).

    g = DpdkGuest("a", workdir, devices=[IvshmemDoorbell(qemu_sock)],
                  bind={IVSHMEM_ID: "uio_pci_generic"})
    with g:
        g.wait_ready(120)
        bdf = g.pci(IVSHMEM_ID)[0]
        t = g.testpmd(allow=[bdf + ",mode=poll"], plugins=[GUEST_PMD],
                      args=["--forward-mode=rxonly"])
        t.start(); ...; t.stop()        # exact counters, as on the host

The guest runs one testpmd at a time (its agent's serial port is the
program's terminal)."""

import json
import os
import re
import shlex
import time

import qemu_guest
from interop_util import GuestCommands
from ivshm_pmd import Testpmd as EventTestpmd
from proc import tail
from vmlink_testlib import BUILD

PMD_SO = "librte_net_vmlink_ivshmem2.so"
# EAL refuses plugins below a world-writable directory: the guest's copy
# lives below 0755 directories only.
GUEST_PMD = "/usr/lib/vmlink/" + PMD_SO
GUEST_TOOL = "/usr/bin/ivshm_guest_tool"
GUEST_VMLINK = "/usr/bin/vmlink"

IVSHMEM_ID = "1af4:1110"        # ivshmem-plain and ivshmem-doorbell
VIRTIO_NET_ID = "1af4:1000"     # virtio-net-pci (transitional)

PCI_RE = re.compile(r"^VMLINK-GUEST PCI (\S+) ([0-9a-f]{4}:[0-9a-f]{4}) "
                    r"driver=(\S+)", re.M)

_image = {}


def image():
    """The DPDK guest (built once, cached in $VMLINK_BUILD/qemu-dpdk)."""
    if "img" not in _image:
        _image["img"] = qemu_guest.build_guest(
            os.path.join(os.path.abspath(BUILD), "qemu-dpdk"), dpdk=True)
    return _image["img"]


def plugin_dir():
    """The EAL plugin directory of the image (the host's)."""
    dirs = {os.path.dirname(p) for p in image().get("host_files", [])
            if re.search(r"/dpdk/pmds-[0-9.]+/[^/]+$", p)}
    if len(dirs) != 1:
        raise qemu_guest.GuestError("no single EAL plugin directory in the "
                                    "DPDK guest image: %s" % sorted(dirs))
    return dirs.pop()


def build_files(vmlink=False):
    """The build artefacts every DPDK guest gets in its initramfs: our
    ivshmem2 PMD and the device-poking tool; vmlink: vmlink too (with
    the libraries it needs that the image lacks)."""
    files = {GUEST_PMD: os.path.join(BUILD, "drivers", PMD_SO),
             GUEST_TOOL: os.path.join(BUILD, "tests", "interop",
                                      "ivshm_guest_tool")}
    if vmlink:
        files[GUEST_VMLINK] = os.path.join(BUILD, "app", "vmlink")
    for host in files.values():
        if not os.path.exists(host):
            raise qemu_guest.GuestError("%s not built (ninja -C %s)"
                                        % (host, BUILD))
    return files


class DpdkGuest(qemu_guest.Guest):
    """A DPDK guest: mode dpdk, the agent on ttyS1, hugepages, PCI devices
    bound by vendor:device. vfio=True: q35 with an emulated Intel IOMMU
    (vfio-pci needs one; the guest kernel has no no-IOMMU mode).
    vmlink=True: vmlink is in the guest too (GuestVmlink)."""

    def __init__(self, name, workdir, devices=(), nics=(), bind=None,
                 vfio=False, mem_mb=512, hugepages=64, vmlink=False, **kw):
        super().__init__(name, image(), workdir, nics=nics, mode="dpdk",
                         devices=devices, machine="q35" if vfio else "pc",
                         iommu=vfio, agent=True, hugepages=hugepages,
                         bind=bind, files=build_files(vmlink),
                         mem_mb=mem_mb, **kw)

    def pci(self, dev_id=None):
        """BDFs of the devices /init bound (of vendor:device DEV_ID)."""
        return [m.group(1) for m in PCI_RE.finditer(self.console())
                if dev_id is None or m.group(2) == dev_id]

    def testpmd(self, allow=(), args=(), plugins=(), **kw):
        return GuestTestpmd(self, allow, args, plugins, **kw)


class GuestTestpmd(qemu_guest.GuestProgram, GuestCommands, EventTestpmd):
    """Stock dpdk-testpmd -i in a DpdkGuest: both lcores on the guest's
    one vCPU (the main lcore sleeps in the prompt), PCI devices ALLOW
    (-a, with devargs), PLUGINS loaded with -d. Its terminal output goes
    to WORKDIR/NAME.testpmd.log; link state events are in .events."""

    def __init__(self, guest, allow=(), args=(), plugins=(), mem=64,
                 mbufs=8192, eal=(), timeout=120):
        self.guest = guest
        self.name = guest.name
        self.log_path = os.path.join(guest.workdir,
                                     guest.name + ".testpmd.log")
        e = ["--lcores", "0@0,1@0", "-m", str(mem),
             "--log-level", "lib.eal:notice",
             "--log-level", "pmd.net.vmlink_ivshmem2:info"]
        for a in allow:
            e += ["-a", a]
        super().__init__(guest.agent(), e + list(eal), plugins=plugins,
                         args=["--total-num-mbufs=%d" % mbufs] + list(args),
                         log=self.log_path, timeout=timeout)

    def describe(self):
        return "--- testpmd in guest %s (%s), %s:\n%s" % (
            self.name, "running" if self.p.poll() is None else
            "exit %s" % self.p.returncode, self.log_path,
            tail(self.log_path, 30))


class GuestVmlink:
    """vmlink in a DpdkGuest (started with vmlink=True), in the background
    of the guest's agent, which stays free for other commands. Both
    lcores on the guest's one vCPU; PORTS: the [port ...] sections. Its
    output goes to /run/NAME.log in the guest (describe() fetches it),
    its counters to /run/NAME.json when it stops (stop() loads them into
    .stats, as interop_util.Vmlink does)."""

    def __init__(self, guest, ports, name="vmlink", memory=96):
        self.guest = guest
        self.name = name
        base = "/run/" + name
        self.cfg, self.log = base + ".ini", base + ".log"
        self.json, self.pidfile = base + ".json", base + ".pid"
        self.stats = None
        text = ("[eal]\nfile-prefix = %s\nmemory = %d\n"
                "extra = --lcores 0@0,1@0\n[vmlink]\nstats-interval = 0\n"
                % (name, memory)) + ports
        # one agent line: the newlines go as printf escapes
        fmt = text.replace("\\", "\\\\").replace("%", "%%").replace(
            "\n", "\\n")
        self.run("printf %s >%s" % (shlex.quote(fmt), self.cfg))
        # The EAL dlopens every plugin of its plugin directory; the image
        # has the drivers dpdk-testpmd links only there, which the loader
        # does not search (testpmd has them loaded already, vmlink not).
        # The subshell waits for vmlink and appends its exit status.
        self.run("(LD_LIBRARY_PATH=%s %s -c %s --stats-json %s >%s 2>&1 "
                 "</dev/null & echo $! >%s; wait $!; "
                 "echo VMLINK-EXIT $? >>%s) >/dev/null 2>&1 </dev/null &"
                 % (plugin_dir(), GUEST_VMLINK, self.cfg, self.json,
                    self.log, self.pidfile, self.log))
        self.pid = None
        end = time.monotonic() + 10
        while self.pid is None and time.monotonic() < end:
            out = self.run("cat %s 2>/dev/null; true" % self.pidfile)
            if out.strip().isdigit():
                self.pid = int(out)
            else:
                time.sleep(0.1)
        if self.pid is None:
            raise qemu_guest.GuestError("vmlink did not start in %s\n%s"
                                        % (guest.name, self.text()))

    def run(self, cmdline, timeout=60):
        """A shell command line on the guest's side agent (the main agent
        may be running a program); its output."""
        return self.guest.side_agent().run(cmdline, timeout)[1]

    def text(self):
        return self.run("cat %s 2>/dev/null; true" % self.log)

    def exit_status(self):
        """vmlink's exit status, or None while it runs."""
        m = re.search(r"^VMLINK-EXIT (\d+)$", self.text(), re.M)
        return int(m.group(1)) if m else None

    def cpu_seconds(self):
        """User + system CPU time vmlink used so far (/proc/PID/stat)."""
        stat = self.run("cat /proc/%d/stat" % self.pid)
        fields = stat[stat.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / 100.0  # USER_HZ

    def wait_for(self, pattern, timeout=30):
        """Wait for a line matching PATTERN (re.M) in vmlink's output."""
        end = time.monotonic() + timeout
        while True:
            text = self.text()
            if re.search(pattern, text, re.M):
                return text
            if self.exit_status() is not None or time.monotonic() > end:
                raise qemu_guest.GuestError(
                    "vmlink in %s: no /%s/\n%s" % (self.guest.name, pattern,
                                                   self.describe()))
            time.sleep(0.2)

    def stop(self, timeout=30):
        """SIGINT, wait for the exit; returns its status and loads the
        JSON counters into .stats."""
        self.run("kill -INT %d 2>/dev/null; true" % self.pid)
        end = time.monotonic() + timeout
        while self.exit_status() is None:
            if time.monotonic() > end:
                raise qemu_guest.GuestError("vmlink in %s did not stop "
                                            "within %d s\n%s" % (
                                                self.guest.name, timeout,
                                                self.describe()))
            time.sleep(0.2)
        rc = self.exit_status()
        if rc == 0:
            self.stats = json.loads(self.run("cat %s" % self.json))
        return rc

    def kill(self):
        """For cleanup: the guest is killed with its QEMU anyway."""
        try:
            if self.guest.running() and self.exit_status() is None:
                self.run("kill -KILL %d 2>/dev/null; true" % self.pid, 5)
        except qemu_guest.GuestError:
            pass

    def describe(self):
        try:
            text = self.text()
        except qemu_guest.GuestError as e:
            text = "(output unavailable: %s)" % e
        return "--- vmlink in guest %s, %s:\n%s" % (
            self.guest.name, self.log, "\n".join(text.splitlines()[-30:]))
