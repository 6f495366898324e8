# SPDX-License-Identifier: BSD-3-Clause
"""Draw a benchmark's results (the JSON benchresults.py writes) as one PNG:
a panel per table, a pair of bars per case and frame size, ours next to
the anchor (DPDK's own PMD), the ratio above each pair. Run with Debian's
python3, which has python3-matplotlib:

  /usr/bin/python3 usertools/pylib/plot.py RESULTS.json OUT.png
"""

import json
import sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("matplotlib is missing: apt-get install python3-matplotlib "
             "(usertools/vmlink-setup installs it)")


def tables(results):
    """{table: [rows]} in the order the tables were printed."""
    out = {}
    for r in results:
        out.setdefault(r["table"], []).append(r)
    return out


def panel(ax, title, rows):
    labels = ["%s\n%d B" % (r["case"], r["bytes"]) if len(
        {x["case"] for x in rows}) > 1 else "%d B" % r["bytes"]
        for r in rows]
    xs = range(len(rows))
    ours = [r["ours_value"] or 0 for r in rows]
    theirs = [r["theirs_value"] or 0 for r in rows]
    anchored = any(r["theirs"] for r in rows)
    width = 0.38 if anchored else 0.6
    ax.bar([x - (width / 2 if anchored else 0) for x in xs], ours, width,
           label=rows[0]["ours"], color="#1f77b4")
    if anchored:
        ax.bar([x + width / 2 for x in xs], theirs, width,
               label=rows[0]["theirs"], color="#bbbbbb")
        top = max(ours + theirs + [0]) or 1
        for x, r in zip(xs, rows):
            if r["ratio"] is not None:
                text = "%.2fx" % r["ratio"]
            elif r["ours_value"] is None or r["theirs_value"] is None:
                text = "failed"
            else:
                continue
            ax.text(x, max(r["ours_value"] or 0,
                           r["theirs_value"] or 0) + top * 0.02,
                    text, ha="center", fontsize=8)
        ax.set_ylim(0, top * 1.15)
    ax.set_xticks(list(xs))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel(rows[0]["unit"])
    ax.set_title(title, fontsize=9, wrap=True)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot.py RESULTS.json OUT.png")
    with open(sys.argv[1]) as f:
        data = json.load(f)
    groups = tables(data["results"])
    if not groups:
        sys.exit("no results to plot")
    fig, axes = plt.subplots(len(groups), 1,
                             figsize=(10, 3.6 * len(groups)), squeeze=False)
    for ax, (title, rows) in zip(axes[:, 0], groups.items()):
        panel(ax, title, rows)
    fig.suptitle("%s, %s (%s CPUs)" % (data["benchmark"], data["date"],
                                       data["cpus"]), fontsize=10)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=100)


if __name__ == "__main__":
    main()
