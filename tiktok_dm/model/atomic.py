"""Crash-safe file writes: write to a temporary sibling, fsync, then rename over the target.

A ``kill -9`` at any moment leaves either the old file or the new one, never a torn file;
leftover temporaries carry a ``.tmp-`` prefix and are ignored (and swept) by re-runs. The file
gets the mode a plain ``open`` would give it (0666 less the umask): ``mkstemp`` makes its
temporaries 0600, which would hide a dataset from the colleagues, containers and shared file
systems the umask lets read it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import tempfile
from pathlib import Path
from typing import Iterator

TMP_PREFIX = ".tmp-"


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` if the block succeeds.

    The temporary keeps the target's suffix so tools that pick a format from the extension
    (ffmpeg, numpy, soundfile) still do so.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=TMP_PREFIX + target.stem + "-", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to {tmp} for {target}")
        _fsync(tmp)
        os.chmod(tmp, file_mode())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(target, text.encode("utf-8"))


def sweep_temporaries(root: str | os.PathLike) -> int:
    """Delete temporaries a killed run left under ``root``; returns how many."""
    removed = 0
    for path in Path(root).rglob(TMP_PREFIX + "*"):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


@functools.cache
def file_mode() -> int:
    """The mode ``open`` gives a new file in this process: 0666 less the umask."""
    return 0o666 & ~_umask()


def _umask() -> int:
    try:  # Linux says it without changing it
        status = Path("/proc/self/status").read_text()
        found = re.search(r"^Umask:\s*([0-7]+)$", status, re.MULTILINE)
        if found:
            return int(found.group(1), 8)
    except OSError:
        pass
    current = os.umask(0o022)  # elsewhere: read it by setting it, and put it back at once
    os.umask(current)
    return current
