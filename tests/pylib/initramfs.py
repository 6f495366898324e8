# SPDX-License-Identifier: BSD-3-Clause
"""Initramfs pieces for the QEMU test guests (python3 stdlib only): a cpio
"newc" writer, a file tree that resolves its own symlinks like a file
system, and host programs mirrored into it at their own paths together
with their shared-library closure (what `ldd` lists).

Used by tests/qemu/build-guest (the cached base images) and by
qemu_guest.Guest (a small second archive with build artefacts, appended to
the cached one at boot: the kernel unpacks concatenated archives in
order)."""

import gzip
import io
import os
import re
import stat
import subprocess


class ImageError(Exception):
    pass


class Cpio:
    """Minimal cpio "newc" writer (the format the kernel's initramfs
    unpacker reads). mtime 0 and fixed owners: reproducible output."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.ino = 1

    def _entry(self, name, mode, data=b"", rdev=(0, 0), nlink=1):
        nb = name.encode() + b"\0"
        hdr = "070701" + "".join("%08X" % v for v in (
            self.ino, mode, 0, 0, nlink, 0, len(data), 0, 0,
            rdev[0], rdev[1], len(nb), 0))
        self.ino += 1
        self.buf.write(hdr.encode() + nb)
        self.buf.write(b"\0" * (-(110 + len(nb)) % 4))
        self.buf.write(data)
        self.buf.write(b"\0" * (-len(data) % 4))

    def dir(self, name, perm=0o755):
        self._entry(name, stat.S_IFDIR | perm, nlink=2)

    def file(self, name, data, perm=0o644):
        self._entry(name, stat.S_IFREG | perm, data)

    def symlink(self, name, target):
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name, major, minor, perm=0o600):
        self._entry(name, stat.S_IFCHR | perm, rdev=(major, minor))

    def finish(self):
        self._entry("TRAILER!!!", 0, nlink=1)
        return self.buf.getvalue()


class Tree:
    """The files of an initramfs by absolute guest path. Parent directories
    are created as needed; a path that crosses a symlink already in the
    tree lands where the symlink points (as in a real file system), so
    host files mirrored through /lib -> usr/lib and files added later as
    /lib/modules/... end up side by side."""

    MAX_LINKS = 16

    def __init__(self):
        self.entries = {"/": ("dir", None, 0o755)}

    def _resolve(self, path, depth=0, create=True):
        """PATH with every symlink among its directories resolved, missing
        directories created (CREATE); the last component is kept."""
        if depth > self.MAX_LINKS:
            raise ImageError("symlink loop at %s" % path)
        parts = [p for p in os.path.normpath(path).split("/") if p]
        cur = "/"
        for comp in parts[:-1]:
            nxt = os.path.join(cur, comp)
            e = self.entries.get(nxt)
            if e is None:
                if not create:
                    return None
                self.entries[nxt] = ("dir", None, 0o755)
                cur = nxt
            elif e[0] == "symlink":
                target = os.path.normpath(os.path.join(cur, e[1]))
                cur = self._resolve(target + "/x", depth + 1, create)
                if cur is None:
                    return None
                cur = os.path.dirname(cur)
                if self.entries.get(cur, ("dir",))[0] != "dir":
                    raise ImageError("%s: %s is not a directory" % (path,
                                                                    cur))
            elif e[0] == "dir":
                cur = nxt
            else:
                raise ImageError("%s: %s is not a directory" % (path, nxt))
        return os.path.join(cur, parts[-1]) if parts else "/"

    def _put(self, path, entry):
        real = self._resolve(path)
        old = self.entries.get(real)
        if old is not None and old != entry and \
                not (old[0] == "dir" and entry[0] == "dir"):
            raise ImageError("%s added twice, differently (%s, then %s)"
                             % (path, old[0], entry[0]))
        self.entries[real] = entry
        return real

    def has(self, path):
        real = self._resolve(path, create=False)
        return real is not None and real in self.entries

    def dir(self, path, perm=0o755):
        """Directory PATH (through symlinks in the tree: /lib with
        /lib -> usr/lib is /usr/lib)."""
        real = os.path.dirname(self._resolve(path.rstrip("/") + "/x"))
        self.entries[real] = ("dir", None, perm)

    def file(self, path, data, perm=0o644):
        self._put(path, ("file", data, perm))

    def symlink(self, path, target):
        self._put(path, ("symlink", target, 0o777))

    def chardev(self, path, major, minor, perm=0o600):
        self._put(path, ("chardev", (major, minor), perm))

    def host_file(self, path):
        """Mirror host file PATH at the same guest path: symlinks on the
        way (directories like /lib -> usr/lib, library names like
        libx.so.1 -> libx.so.1.2) become symlinks, the final file a copy
        with its permission bits. Returns the host files read."""
        path = os.path.abspath(path)
        parts = [p for p in path.split("/") if p]
        cur = "/"
        for i, comp in enumerate(parts):
            nxt = os.path.join(cur, comp)
            if os.path.islink(nxt):
                target = os.readlink(nxt)
                self.symlink(nxt, target)
                real = os.path.normpath(os.path.join(cur, target))
                if i == len(parts) - 1:
                    return [nxt] + self.host_file(real)
                cur = os.path.realpath(nxt)
            elif i == len(parts) - 1:
                st = os.stat(nxt)
                if not stat.S_ISREG(st.st_mode):
                    raise ImageError("%s is not a regular file" % nxt)
                with open(nxt, "rb") as f:
                    self.file(nxt, f.read(), stat.S_IMODE(st.st_mode))
                return [nxt]
            else:
                cur = nxt
        return []

    def cpio(self):
        c = Cpio()
        for path in sorted(p for p in self.entries if p != "/"):
            kind, payload, perm = self.entries[path]
            name = path.lstrip("/")
            if kind == "dir":
                c.dir(name, perm)
            elif kind == "file":
                c.file(name, payload, perm)
            elif kind == "symlink":
                c.symlink(name, payload)
            else:
                c.chardev(name, payload[0], payload[1], perm)
        return c.finish()

    def cpio_gz(self, level=6):
        return gzip.compress(self.cpio(), compresslevel=level, mtime=0)


# ---- shared libraries -----------------------------------------------------

LDD_LIB_RE = re.compile(r"^\s*(\S+)\s+=>\s+(\S+)\s+\(0x[0-9a-f]+\)\s*$")
LDD_ABS_RE = re.compile(r"^\s*(/\S+)\s+\(0x[0-9a-f]+\)\s*$")


def ldd_closure(paths):
    """The shared libraries (paths as the loader finds them on this host,
    the ELF interpreter included) that the ELF files PATHS need,
    recursively (ldd lists the whole closure). Raises ImageError naming
    a library the loader cannot find."""
    libs = set()
    for p in paths:
        r = subprocess.run(["ldd", p], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True,
                           env=dict(os.environ, LC_ALL="C"))
        if "not a dynamic executable" in r.stdout or \
                "statically linked" in r.stdout:
            continue
        if r.returncode != 0:
            raise ImageError("ldd %s failed: %s" % (p, r.stdout.strip()))
        for line in r.stdout.splitlines():
            if "not found" in line:
                raise ImageError("%s: %s" % (p, line.strip()))
            m = LDD_LIB_RE.match(line) or LDD_ABS_RE.match(line)
            if m:
                libs.add(m.group(m.lastindex))
    return sorted(libs)


def is_elf(path):
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def fingerprint(paths):
    """(path, size, mtime) of host files: enough to notice a package
    upgrade without reading them."""
    out = []
    for p in sorted(set(paths)):
        st = os.stat(p)
        out.append([p, st.st_size, int(st.st_mtime)])
    return out


def overlay(files, have=()):
    """An uncompressed cpio archive with FILES ({guest path: host path}),
    plus the libraries those that are ELF programs need and the base image
    does not HAVE (host paths). Directories are 0755 (EAL refuses plugins
    below world-writable ones)."""
    t = Tree()
    have = set(have)
    elves = []
    for gpath, hpath in sorted(files.items()):
        with open(hpath, "rb") as f:
            data = f.read()
        t.file(gpath, data, stat.S_IMODE(os.stat(hpath).st_mode))
        if data[:4] == b"\x7fELF":
            elves.append(hpath)
    for lib in ldd_closure(elves) if elves else ():
        if lib not in have:
            t.host_file(lib)
    return t.cpio()
