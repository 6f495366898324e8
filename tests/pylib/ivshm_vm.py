# SPDX-License-Identifier: BSD-3-Clause
"""VMs on ivshmem2 links (stock QEMU ivshmem-doorbell on the
ivshmem2-server's -Q socket): the ivshmem-net layout, and a guest driving
the protocol by hand through ivshm_guest_tool (a hostile or scripted peer
that runs no DPDK). Python 3 stdlib only."""

import re
import time

from dpdk_guest import GUEST_TOOL

STATE_RESET, STATE_INIT, STATE_READY, STATE_RUN = 0, 1, 2, 3
VEC_STATE, VEC_RXTX = 0, 1


def _align(x, a):
    return (x + a - 1) & ~(a - 1)


def net_layout(length):
    """ivshmem-net layout of an output section of LENGTH bytes: ring size
    N (the largest of 4096 .. 64 whose 64-byte aligned legacy vring is
    below LENGTH / 8) and the offsets of the avail ring, the used ring and
    the frame data."""
    for num in (4096, 2048, 1024, 512, 256, 128, 64):
        vring = _align(16 * num + 6 + 2 * num, 64) + 6 + 8 * num
        data = _align(vring, 64)
        if data < length // 8:
            if length - data < 272:
                break
            return {"num": num, "avail_off": 16 * num,
                    "used_off": _align(18 * num + 6, 64),
                    "data_off": data, "length": length}
    raise ValueError("no ivshmem-net layout for a %#x-byte section"
                     % length)


class ToolPeer:
    """The guest's side of an ivshmem-net link, written by hand with
    ivshm_guest_tool through the DPDK guest's agent (device bound to
    uio_pci_generic): its state entry, its own output section, doorbells
    to the other peer. HDR: the region's layout header (as
    ivshm_util.read_hdr gives it)."""

    def __init__(self, guest, bdf, hdr):
        self.guest = guest
        self.bdf = bdf
        out = self.tool("info")
        m = re.search(r"ivposition=(\d+)", out)
        if not m:
            raise AssertionError("ivshm_guest_tool info: %r" % out)
        self.id = int(m.group(1))
        if hdr["max_peers"] != 2 or self.id > 1:
            raise AssertionError("ivshmem-net needs 2 peers: %s, id %d"
                                 % (hdr, self.id))
        self.peer = 1 - self.id
        self.out_size = hdr["output_section_size"]
        self.section = (hdr["state_table_size"] + hdr["rw_section_size"] +
                        self.id * self.out_size)
        self.lay = net_layout(self.out_size)

    def tool(self, *args):
        return self.guest.agent().run([GUEST_TOOL, self.bdf] +
                                      [str(a) for a in args])[1]

    def w32(self, off, value):
        """u32 at OFF in the own section."""
        self.tool("write32", 2, self.section + off, value & 0xffffffff)

    def ring(self, vector, count=1):
        self.tool("storm", self.peer, vector, count)

    def set_state(self, state):
        """Write the own state entry and ring the peer's state vector (as
        the v2 device does on a State register write)."""
        self.tool("flap", 4 * self.id, 1, state, state, self.peer)

    def peer_state(self):
        out = self.tool("read32", 2, 4 * self.peer)
        return int(re.search(r"value=(0x[0-9a-f]+|0)", out).group(1), 0)

    def wait_peer_state(self, states, timeout=20):
        end = time.time() + timeout
        while True:
            s = self.peer_state()
            if s in states:
                return s
            if time.time() > end:
                raise AssertionError("peer state %d, waited for %s"
                                     % (s, states))
            time.sleep(0.1)

    def link_up(self, timeout=30):
        """RESET, then INIT -> READY (fresh, zeroed section) -> RUN in step
        with the peer's state machine."""
        self.set_state(STATE_RESET)
        self.wait_peer_state((STATE_RESET, STATE_INIT), timeout)
        self.tool("zero", self.section, self.out_size)
        self.set_state(STATE_INIT)
        self.wait_peer_state((STATE_READY,), timeout)
        self.set_state(STATE_READY)
        self.wait_peer_state((STATE_RUN,), timeout)
        self.set_state(STATE_RUN)

    # -- corruptions of the own section (the peer reads them) -------------

    def publish(self, avail_idx, ring0=None):
        a = self.lay["avail_off"]
        if ring0 is not None:
            self.w32(a + 4, ring0)
        self.w32(a, avail_idx << 16)

    def desc(self, i, addr, length, flags=0):
        d = 16 * i
        self.w32(d, addr)
        self.w32(d + 4, addr >> 32)
        self.w32(d + 8, length)
        self.w32(d + 12, flags)

    def complete(self, used_idx, elem0=None):
        u = self.lay["used_off"]
        if elem0 is not None:
            self.w32(u + 4, elem0[0])
            self.w32(u + 8, elem0[1])
        self.w32(u, used_idx << 16)
