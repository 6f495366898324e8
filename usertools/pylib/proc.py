# SPDX-License-Identifier: BSD-3-Clause
"""Process helpers the demo, the benchmarks and the tests share: waiting
for a condition, stopping a child, CPU time from /proc, and removing what
an EAL process left behind. Python 3 stdlib only."""

import os
import shutil
import signal
import subprocess
import time


def wait_for(pred, timeout, interval=0.05):
    """Poll PRED until it returns something true or TIMEOUT seconds pass;
    returns PRED's last value."""
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return pred()


def stop(proc, sig=signal.SIGTERM, timeout=20):
    """Send SIG to the Popen PROC, SIGKILL it after TIMEOUT seconds;
    returns its exit status."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def die_with_parent(sig=signal.SIGKILL):
    """A Popen preexec_fn: the child gets SIG when the process that
    started it dies, however it dies (SIGKILL included), so a killed test
    leaves no server or peer behind holding sockets, memory or locks."""
    def preexec():
        import ctypes
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(sig), 0, 0, 0)    # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    return preexec


def cpu_seconds(pid):
    """User + system CPU time of process PID (all threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def hugetlbfs_mounts():
    """Mount points of hugetlbfs file systems."""
    with open("/proc/mounts") as f:
        return [ln.split()[1] for ln in f if ln.split()[2] == "hugetlbfs"]


def eal_leftovers(prefix):
    """What an EAL process with --file-prefix PREFIX (or any prefix that
    starts with PREFIX) left behind: runtime directories and hugepage
    files, as a list of paths."""
    found = []
    try:
        found += ["/var/run/dpdk/" + d for d in os.listdir("/var/run/dpdk")
                  if d.startswith(prefix)]
    except OSError:
        pass
    for mnt in hugetlbfs_mounts():
        try:
            found += [os.path.join(mnt, n) for n in os.listdir(mnt)
                      if n.startswith(prefix)]
        except OSError:
            pass
    return found


def cleanup_prefix(prefix):
    """Remove what an EAL process with --file-prefix PREFIX may have left
    behind: its runtime directory and its hugepage files."""
    shutil.rmtree("/var/run/dpdk/" + prefix, ignore_errors=True)
    for mnt in hugetlbfs_mounts():
        try:
            for name in os.listdir(mnt):
                if name.startswith(prefix + "map_") or \
                        name.startswith(prefix + "-"):
                    os.unlink(os.path.join(mnt, name))
        except OSError:
            pass


def loadable_plugin(path, safe_dir):
    """PATH, or a copy of it in SAFE_DIR, such that EAL's -d loads it: EAL
    refuses a plugin when any directory above it is world-writable (a
    clone under /tmp, say)."""
    path = os.path.realpath(path)
    d = os.path.dirname(path)
    while not os.stat(d).st_mode & 0o002:
        if d == "/":
            return path
        d = os.path.dirname(d)
    os.makedirs(safe_dir, mode=0o755, exist_ok=True)
    os.chmod(safe_dir, 0o755)
    copy = os.path.join(safe_dir, os.path.basename(path))
    shutil.copy2(path, copy + ".tmp")
    os.replace(copy + ".tmp", copy)
    return copy


def tail(path, n=40):
    """The last N lines of the text file PATH (a note when unreadable)."""
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return "(no %s)" % path
