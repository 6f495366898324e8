# SPDX-License-Identifier: BSD-3-Clause
"""Read a callgrind output file (valgrind --tool=callgrind, one event: Ir)
and attribute instructions to the burst functions of a PMD: the functions
of the PMD's shared object that the application binary calls directly.
In testpmd those calls are exactly rte_eth_rx_burst() and
rte_eth_tx_burst() (inline in testpmd, they call the driver's function
pointers), so this works for drivers without symbols (Debian strips DPDK's
PMDs) as well as for vmlink's own. Python 3 stdlib only."""

import collections
import os
import re

# How a burst function is told rx from tx: by its name when the object has
# symbols, else by what it calls (net_vhost's rx calls
# rte_vhost_dequeue_burst, its tx rte_vhost_enqueue_burst).
RX_NAME = re.compile(r"(^|_)(rx|recv)(_|$)")
TX_NAME = re.compile(r"(^|_)(tx|xmit)(_|$)")
RX_CALLEE = re.compile(r"dequeue_burst")
TX_CALLEE = re.compile(r"enqueue_burst")


class Profile:
    """One callgrind dump: self cost per function and the calls between
    functions. A function is (object path, name)."""

    def __init__(self):
        self.total = 0
        self.self_cost = collections.Counter()
        # (caller fn) -> Counter((callee fn) -> inclusive cost)
        self.calls = collections.defaultdict(collections.Counter)
        self.call_count = collections.Counter()   # (caller, callee) -> n

    def inclusive(self, fn):
        return self.self_cost[fn] + sum(self.calls[fn].values())

    def functions(self):
        return set(self.self_cost) | set(self.calls)

    def entry_points(self, caller_obj, callee_obj):
        """{callee fn: inclusive cost} of every call from an object whose
        basename starts with CALLER_OBJ into one whose basename starts with
        CALLEE_OBJ."""
        out = collections.Counter()
        for caller, callees in self.calls.items():
            if not _obj_is(caller[0], caller_obj):
                continue
            for callee, cost in callees.items():
                if _obj_is(callee[0], callee_obj):
                    out[callee] += cost
        return out

    def direction(self, fn):
        """'rx', 'tx' or None for a burst function FN."""
        name = fn[1]
        if not name.startswith("0x"):
            if RX_NAME.search(name):
                return "rx"
            if TX_NAME.search(name):
                return "tx"
        for callee in self.calls.get(fn, {}):
            if RX_CALLEE.search(callee[1]):
                return "rx"
            if TX_CALLEE.search(callee[1]):
                return "tx"
        return None

    def top_inclusive(self, root, depth=3, min_share=0.01):
        """Per-function inclusive costs below ROOT, DEPTH levels deep:
        [(depth, fn, inclusive)], biggest first at each level, callees
        under MIN_SHARE of ROOT left out. Below the first level a
        function's calls are scaled by the share of its cost that comes
        from this path (callgrind records calls per caller, not per
        path)."""
        out = []
        total = self.inclusive(root) or 1

        def walk(fn, d, scale, seen):
            if d >= depth:
                return
            for callee, cost in self.calls.get(fn, {}).most_common():
                cost *= scale
                if cost < min_share * total or callee in seen:
                    continue
                out.append((d, callee, cost))
                whole = self.inclusive(callee)
                walk(callee, d + 1, cost / whole if whole else 0,
                     seen | {callee})
        walk(root, 0, 1.0, {root})
        return out


def _obj_is(path, prefix):
    return os.path.basename(path).startswith(prefix)


_NAME = re.compile(r"^\((\d+)\)(?: (.*))?$")


def parse(path):
    """Parse the callgrind file PATH into a Profile."""
    prof = Profile()
    names = {"ob": {}, "fl": {}, "fn": {}}
    kinds = {"ob": "ob", "cob": "ob", "fl": "fl", "fi": "fl", "fe": "fl",
             "cfi": "fl", "cfl": "fl", "fn": "fn", "cfn": "fn"}
    ob = fn = cob = cfn = None
    pending_call = None

    def name(kind, value):
        m = _NAME.match(value)
        if not m:
            return value
        table = names[kinds[kind]]
        if m.group(2) is not None:
            table[m.group(1)] = m.group(2)
        return table.get(m.group(1), value)

    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            c = line[0]
            if c.isdigit() or c in "+-*":
                cost = _cost(line)
                if pending_call is not None:
                    prof.calls[pending_call[0]][pending_call[1]] += cost
                    pending_call = None
                else:
                    prof.self_cost[(ob, fn)] += cost
                continue
            key, _, value = line.partition("=")
            if key in ("ob", "fl", "fi", "fe", "fn", "cob", "cfi", "cfl",
                       "cfn"):
                v = name(key, value)
                if key == "ob":
                    ob = v
                elif key == "fn":
                    fn = v
                    cob = cfn = None
                elif key == "cob":
                    cob = v
                elif key == "cfn":
                    cfn = v
            elif key == "calls":
                callee = (cob if cob is not None else ob, cfn)
                caller = (ob, fn)
                prof.call_count[(caller, callee)] += int(value.split()[0])
                pending_call = (caller, callee)
                cob = None
            elif line.startswith("summary:") or line.startswith("totals:"):
                prof.total = max(prof.total, int(line.split()[1]))
    return prof


def _cost(line):
    parts = line.split()
    return int(parts[1]) if len(parts) > 1 else 0
