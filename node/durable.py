"""Writing files so that they survive a power cut, not only a killed process.

A file's data reaches the disk with fsync of the file, but its *name* lives in the directory:
until the directory is fsynced too, a crash can leave the new file missing (or, after a
rename, the old one back). A killed process keeps the page cache, so only a spy on fsync
(tests/node/test_durability.py) can tell whether this was done.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make the entries of directory `path` (new names, renames) durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace `path` with `data` atomically and durably: a temporary file in the same
    directory, fsynced, renamed over `path`, then the directory fsynced. A crash at any point
    leaves either the old content or the new, never a truncated file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)
