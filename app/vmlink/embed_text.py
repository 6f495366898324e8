#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Write a C file defining a const char array with the text of a file."""
import sys


def main():
    src, out, symbol = sys.argv[1:4]
    with open(src, encoding="utf-8") as f:
        text = f.read()
    with open(out, "w", encoding="utf-8") as f:
        f.write("/* generated from %s: do not edit */\n" % src.split("/")[-1])
        f.write("extern const char %s[];\n" % symbol)
        f.write("const char %s[] =\n" % symbol)
        for line in text.splitlines(True):
            esc = line.replace("\\", "\\\\").replace('"', '\\"')
            esc = esc.replace("\n", "\\n").replace("\t", "\\t")
            f.write('\t"%s"\n' % esc)
        f.write("\t;\n")


if __name__ == "__main__":
    main()
