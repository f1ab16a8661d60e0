#!/usr/bin/env python3
"""Writes a directory tree as a gzip'd "newc" cpio archive (an initramfs):
the fallback of qemu/linux/mkinitramfs when GNU cpio is missing.

Usage: newc.py DIR OUT.cpio.gz [--console]

Every entry is owned by root (uid 0, gid 0) whoever runs it. Regular files,
directories, symbolic links and device nodes are written; with --console a /dev/console
character device (5, 1) is added, which only root could create on disk.
"""
import gzip
import os
import stat
import sys


def header(ino, mode, nlink, mtime, size, rmajor, rminor, name):
    fields = [ino, mode, 0, 0, nlink, mtime, size, 0, 0, rmajor, rminor, len(name) + 1, 0]
    return b"070701" + b"".join(b"%08X" % f for f in fields)


def pad(n):
    return b"\0" * ((4 - n % 4) % 4)


def entry(out, ino, mode, nlink, mtime, data, name, rdev=(0, 0)):
    name_b = name.encode() + b"\0"
    hdr = header(ino, mode, nlink, mtime, len(data), rdev[0], rdev[1], name)
    out.write(hdr + name_b + pad(len(hdr) + len(name_b)))
    out.write(data + pad(len(data)))


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 2:
        sys.exit(__doc__)
    root, dest = args
    console = "--console" in sys.argv[1:]
    ino = 721  # arbitrary, unique per entry
    with gzip.GzipFile(dest, "wb", compresslevel=6, mtime=0) as out:
        names = []
        for dirpath, dirnames, filenames in os.walk(root):
            rel = os.path.relpath(dirpath, root)
            for n in dirnames + filenames:
                names.append(os.path.normpath(os.path.join(rel, n)))
        names.sort()
        for name in names:
            path = os.path.join(root, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                data = os.readlink(path).encode()
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    data = f.read()
            elif stat.S_ISDIR(st.st_mode) or stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                data = b""
            else:
                sys.exit("newc.py: %s is not a file, directory, symbolic link or device" % path)
            nlink = 2 if stat.S_ISDIR(st.st_mode) else 1
            rdev = (0, 0)
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                rdev = (os.major(st.st_rdev), os.minor(st.st_rdev))
            entry(out, ino, st.st_mode, nlink, int(st.st_mtime), data, name, rdev)
            ino += 1
        if console and "dev/console" not in names:
            if "dev" not in names:
                entry(out, ino, stat.S_IFDIR | 0o755, 2, 0, b"", "dev")
                ino += 1
            entry(out, ino, stat.S_IFCHR | 0o600, 1, 0, b"", "dev/console", (5, 1))
            ino += 1
        entry(out, 0, 0, 1, 0, b"", "TRAILER!!!")


if __name__ == "__main__":
    main()
