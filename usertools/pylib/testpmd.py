# SPDX-License-Identifier: BSD-3-Clause
"""Drive stock dpdk-testpmd in interactive mode from tests: start and stop
forwarding on command, read its exact per-port counters. Python 3 stdlib
only."""

import os
import re
import select
import signal
import subprocess
import time

PROMPT = "testpmd> "
# testpmd reports port events as they happen, and the drivers' threads
# log as things happen ("VHOST_CONFIG: ... virtio is now ready", "VHU ...:
# link up"), also right after a prompt: the output then ends with such
# lines, not with the prompt. A command's own output always comes before
# its prompt, so whole lines after the last prompt are not its output.
LINES_AFTER_PROMPT_RE = re.compile(r"(?:[^\n]*\n)*\s*")
# The events come from testpmd's interrupt thread, which can also cut the
# prompt itself in two: "t", the event lines, "estpmd> " (seen under
# valgrind, where a command then seemed never to end). Prompts are looked
# for with the event lines taken out.
EVENT_LINE_RE = re.compile(r"\nPort \d+: [^\n]* event\n")

# One port's block of "stop": RX and TX lines, possibly with "RX-error:" or
# "RX-nombufs:" lines between them when those counters are not zero.
STATS_RE = re.compile(
    r"-+ Forward statistics for port (\d+)\s+-+\s+"
    r"RX-packets: (\d+)\s+RX-dropped: (\d+)\s+RX-total: (\d+)\s+"
    r"(?:[A-Za-z-]+: \d+\s+)*?"
    r"TX-packets: (\d+)\s+TX-dropped: (\d+)\s+TX-total: (\d+)")
XSTAT_RE = re.compile(r"^\s*(\S+):\s+(\d+)\s*$", re.M)


def parse_fwd_stats(text):
    """testpmd's "Forward statistics" blocks (of "stop" or "show fwd stats
    all"): {port: {rx, rx_dropped, tx, tx_dropped}}."""
    stats = {}
    for m in STATS_RE.finditer(text):
        v = [int(x) for x in m.groups()]
        stats[v[0]] = {"rx": v[1], "rx_dropped": v[2], "tx": v[4],
                       "tx_dropped": v[5]}
    return stats


class TestpmdError(Exception):
    pass


class Testpmd:
    """One interactive testpmd process.

    eal: EAL arguments (list); vdevs: --vdev values; plugins: -d paths;
    args: testpmd arguments after '--' (besides -i); wrapper: a command
    testpmd runs under (valgrind and its options, say)."""

    def __init__(self, eal, vdevs=(), plugins=(), args=(), log=None,
                 timeout=60, wrapper=()):
        # Unbuffered stdout: testpmd's printf output and its prompt (written
        # directly by the cmdline library) must arrive in order.
        cmd = ["stdbuf", "-o0"] + list(wrapper) + ["dpdk-testpmd"] + \
            list(eal)
        for p in plugins:
            cmd += ["-d", p]
        for v in vdevs:
            cmd += ["--vdev", v]
        cmd += ["--", "-i"] + list(args)
        self.cmd = cmd
        self.log = log
        self.out = ""
        self.p = self._spawn(cmd)
        os.set_blocking(self.p.stdout.fileno(), False)
        self.expect_prompt(timeout)

    def _spawn(self, cmd):
        """Start CMD; returns its Popen. A subclass may run testpmd
        elsewhere (in a VM) and return an object with the same poll,
        wait, kill, send_signal, returncode, stdin.write/flush/close and
        stdout.fileno/read/close."""
        return subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, bufsize=0)

    # -- low level ---------------------------------------------------------

    def _read(self, timeout):
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not r:
            return False
        data = self.p.stdout.read(65536)
        if not data:
            return None
        text = data.decode(errors="replace")
        self.out += text
        if self.log:
            with open(self.log, "a") as f:
                f.write(text)
        return True

    def expect_prompt(self, timeout=30, after=None):
        """Wait for a prompt (after the text AFTER, when given); returns the
        output since the call."""
        start = len(self.out)
        end = time.time() + timeout
        while time.time() < end:
            if after is None:
                pos = start
            else:
                pos = self.out.find(after, start)
                pos = -1 if pos < 0 else pos + len(after)
            if pos >= 0 and self._at_prompt(pos):
                return self.out[start:]
            got = self._read(0.2)
            if got is None:
                raise TestpmdError("testpmd exited:\n" + self.out[-3000:])
        raise TestpmdError("no testpmd prompt within %ds:\n%s" % (
            timeout, self.out[-3000:]))

    def _at_prompt(self, pos):
        """True when the output shows a prompt at or after POS, followed
        by nothing but whole lines."""
        tail = EVENT_LINE_RE.sub("", self.out[pos:])
        last = tail.rfind(PROMPT)
        return last >= 0 and LINES_AFTER_PROMPT_RE.fullmatch(
            tail, last + len(PROMPT)) is not None

    def cmd_(self, line, timeout=30):
        """Send one command line; returns its output."""
        if self.p.poll() is not None:
            raise TestpmdError("testpmd exited:\n" + self.out[-3000:])
        start = len(self.out)
        self.p.stdin.write((line + "\n").encode())
        self.p.stdin.flush()
        # the cmdline library echoes the line, then runs it, then prompts
        self.expect_prompt(timeout, after=line)
        return self.out[start:]

    # -- commands ----------------------------------------------------------

    def start(self):
        return self.cmd_("start")

    def stop(self, timeout=60):
        """Stop forwarding; returns {port: counters} of this run."""
        return parse_fwd_stats(self.cmd_("stop", timeout=timeout))

    def fwd_stats(self):
        """Counters of the running forwarding, as stop() returns them."""
        return parse_fwd_stats(self.cmd_("show fwd stats all"))

    def port_stats(self, port):
        """ethdev basic stats of PORT: {'ipackets': .., 'opackets': ..}."""
        text = self.cmd_("show port stats %d" % port)
        out = {}
        for key, name in (("RX-packets", "ipackets"), ("TX-packets",
                          "opackets"), ("RX-missed", "imissed"),
                          ("RX-errors", "ierrors"), ("TX-errors", "oerrors"),
                          ("RX-bytes", "ibytes"), ("TX-bytes", "obytes")):
            m = re.search(key + r":\s+(\d+)", text)
            if m:
                out[name] = int(m.group(1))
        return out

    def xstats(self, port):
        text = self.cmd_("show port xstats %d" % port)
        return {k: int(v) for k, v in XSTAT_RE.findall(text)}

    def link_up(self, port):
        text = self.cmd_("show port info %d" % port)
        return re.search(r"Link status:\s+up", text) is not None

    def wait_link(self, port, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            if self.link_up(port):
                return True
            time.sleep(0.2)
        return False

    def quit(self, timeout=30):
        if self.p.poll() is None:
            try:
                self.p.stdin.write(b"quit\n")
                self.p.stdin.flush()
            except (BrokenPipeError, OSError):
                pass
            end = time.time() + timeout
            while self.p.poll() is None and time.time() < end:
                self._read(0.2)
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
        while self._read(0) :
            pass
        return self.p.returncode

    def kill(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
        self.p.wait()

    def close(self):
        self.quit()
        for f in (self.p.stdin, self.p.stdout):
            try:
                f.close()
            except OSError:
                pass
