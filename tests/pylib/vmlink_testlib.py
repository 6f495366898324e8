# SPDX-License-Identifier: BSD-3-Clause
"""Helpers for vmlink's functional tests: paths, pcap files, running the
real vmlink binary and reading its JSON summary. Python 3 stdlib only."""

import json
import os
import random
import shutil
import struct
import subprocess
import tempfile
import unittest

from proc import cleanup_prefix, loadable_plugin

BUILD = os.environ.get("VMLINK_BUILD", os.path.join(
    os.path.dirname(__file__), "..", "..", "build"))
SOURCE = os.environ.get("VMLINK_SOURCE", os.path.join(
    os.path.dirname(__file__), "..", ".."))
VMLINK = os.path.join(BUILD, "app", "vmlink")

_counter = [0]


def unique_prefix(tag="t"):
    """A --file-prefix no other process of this run uses."""
    _counter[0] += 1
    return "vmt-%s-%d-%d" % (tag, os.getpid(), _counter[0])


def hugepages_free():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("HugePages_Free:"):
                return int(line.split()[1])
    return 0


def plugin_path(name):
    """A path of the PMD shared object NAME in build/drivers that -d
    loads."""
    return loadable_plugin(os.path.join(BUILD, "drivers", name),
                           "/run/vmlink-test-plugins")


# --- pcap ------------------------------------------------------------------

PCAP_MAGIC = 0xA1B2C3D4


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", PCAP_MAGIC, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", i // 1000000, i % 1000000,
                                len(fr), len(fr)))
            f.write(fr)


def read_pcap(path):
    frames = []
    with open(path, "rb") as f:
        hdr = f.read(24)
        if len(hdr) < 24:
            return frames
        magic = struct.unpack("<I", hdr[:4])[0]
        endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                break
            _, _, caplen, _ = struct.unpack(endian + "IIII", rec)
            frames.append(f.read(caplen))
    return frames


def make_frames(count, sizes, seed, src_mac=b"\x02\x00\x00\x00\x00\x01",
                dst_mac=b"\x02\x00\x00\x00\x00\x02"):
    """COUNT Ethernet frames with lengths cycling through SIZES; each carries
    its sequence number and random payload, so reordering or corruption
    shows."""
    rnd = random.Random(seed)
    frames = []
    for i in range(count):
        size = sizes[i % len(sizes)]
        head = dst_mac + src_mac + b"\x88\xb5" + struct.pack(">I", i)
        body = bytes(rnd.getrandbits(8) for _ in range(size - len(head)))
        frames.append(head + body)
    return frames


# --- running vmlink ----------------------------------------------------------

class Result:
    def __init__(self, rc, out, err, stats):
        self.rc = rc
        self.out = out
        self.err = err
        self.stats = stats

    def port(self, name):
        return self.stats["ports"][name]


def eal_section(prefix, lcores="0-1", memory=256, extra=None):
    text = "[eal]\nlcores = %s\nfile-prefix = %s\nmemory = %d\n" % (
        lcores, prefix, memory)
    if extra:
        text += "extra = %s\n" % extra
    return text


class VmlinkTestCase(unittest.TestCase):
    """Gives each test a scratch directory and runs vmlink in it."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="vmlink-test-")
        self.prefixes = []

    def tearDown(self):
        for p in self.prefixes:
            cleanup_prefix(p)
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def prefix(self, tag="t"):
        p = unique_prefix(tag)
        self.prefixes.append(p)
        return p

    def write_config(self, text, name="vmlink.ini"):
        path = self.path(name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_vmlink(self, args, timeout=60, stats=True):
        """Run vmlink to completion with ARGS (a list); with STATS, ask for
        the JSON summary and parse it."""
        json_path = self.path("stats.json")
        if os.path.exists(json_path):
            os.unlink(json_path)
        cmd = [VMLINK] + list(args)
        if stats:
            cmd += ["--stats-json", json_path]
        p = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout,
                           universal_newlines=True)
        data = None
        if stats and p.returncode == 0:
            with open(json_path) as f:
                data = json.load(f)
        return Result(p.returncode, p.stdout, p.stderr, data)

    def start_vmlink(self, args, env=None):
        """vmlink with ARGS; ENV: variables to add to the environment."""
        return subprocess.Popen([VMLINK] + list(args), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT,
                                universal_newlines=True,
                                env=dict(os.environ, **(env or {})))

    def assertConserved(self, stats):
        """received + frames made by software segmentation = transmitted +
        counted drops, over all ports."""
        ports = stats["ports"].values()
        rx = sum(p["rx_packets"] for p in ports)
        tx = sum(p["tx_packets"] for p in ports)
        drops = sum(sum(p["drops"].values()) for p in ports)
        added = sum(p["sw_offload"]["gso_segments"] -
                    p["sw_offload"]["gso_frames"] for p in ports)
        self.assertEqual(rx + added, tx + drops,
                         "received + segments added != transmitted + drops")
        self.assertEqual(stats["totals"]["segments_added"], added)
        self.assertEqual(stats["totals"]["rx_packets"], rx)

