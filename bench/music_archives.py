"""Songs packed in a game's .pk3 archive (a zip file), unpacked once for the benchmarks that read them."""

from __future__ import annotations

import fnmatch
import tempfile
import zipfile
from pathlib import Path

CACHE = Path(tempfile.gettempdir()) / "tiktok-dm-bench-music"


def unpacked(archive: Path, pattern: str, cache: Path = CACHE) -> list[Path]:
    """The members of ``archive`` matching ``pattern``, unpacked once into ``cache``; [] when it is missing."""
    if not archive.is_file():
        return []
    folder = root(archive, cache)
    paths = []
    with zipfile.ZipFile(archive) as packed:
        for member in sorted(packed.namelist()):
            if fnmatch.fnmatch(member, pattern):
                path = folder / member
                if not path.is_file():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    partial = path.with_suffix(".part")
                    partial.write_bytes(packed.read(member))
                    partial.replace(path)
                paths.append(path)
    return paths


def root(source: Path, cache: Path = CACHE) -> Path:
    """The folder the songs of ``source`` lie under: itself, or where its .pk3 archive is unpacked."""
    return cache / source.parent.name / source.stem if source.suffix == ".pk3" else source


def songs_in(source: Path, pattern: str) -> list[Path]:
    """The files matching ``pattern`` under the folder ``source``, or inside it when it is a .pk3 archive."""
    return unpacked(source, pattern) if source.suffix == ".pk3" else sorted(source.rglob(pattern))
