"""Files in, fingerprints out: one decode per file, in worker processes, errors kept per file."""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import os
from pathlib import Path
from typing import Iterable

import numpy as np

from tiktok_dm.model.status import ErrorKind, StageError
from tiktok_dm.songs.audio import check_usable, decode_mono
from tiktok_dm.songs.config import SongsConfig
from tiktok_dm.songs.fingerprint import Fingerprints, fingerprint

log = logging.getLogger(__name__)

MEDIA_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".wma", ".aif", ".aiff",
                            ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"})


def collect_media(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files named directly (whatever their suffix) plus the audio/video files found under folders, sorted."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES)
        else:
            found.append(path)
    unique = list(dict.fromkeys(found))
    return unique


def fingerprint_file(path: str | os.PathLike, config: SongsConfig) -> Fingerprints:
    """Decode ``path`` once and fingerprint it; StageError for undecodable, too short or silent audio."""
    path = Path(path)
    return fingerprint_samples(decode_mono(path, config.sample_rate), path.name, config)


def fingerprint_samples(samples: np.ndarray, name: str, config: SongsConfig) -> Fingerprints:
    """Fingerprint a file's decoded samples; StageError (naming ``name``) for invalid, too short or silent audio."""
    if not np.isfinite(samples).all():
        raise StageError(f"{name} decodes to invalid (non-finite) samples", ErrorKind.UNREADABLE)
    check_usable(samples, config.sample_rate, name, config.min_duration_s, config.silence_dbfs)
    fingerprints = fingerprint(samples, config)
    if fingerprints.peaks.time.size < 4:
        raise StageError(f"{name} has too few spectral peaks to fingerprint ({fingerprints.peaks.time.size})")
    return fingerprints


def _work(args: tuple[Path, SongsConfig]) -> tuple[Path, Fingerprints | None, str | None]:
    path, config = args
    try:
        return path, fingerprint_file(path, config), None
    except StageError as error:
        return path, None, str(error)


def fingerprint_files(paths: list[Path], config: SongsConfig, progress: bool = False,
                      what: str = "fingerprint") -> dict[Path, Fingerprints | str]:
    """Fingerprints of each path, or the error text saying why there are none."""
    from tqdm.auto import tqdm

    results: dict[Path, Fingerprints | str] = {}
    jobs = [(p, config) for p in paths]
    with tqdm(total=len(jobs), desc=f"{what:>9}", unit="file", disable=not progress or not jobs) as bar:
        if config.workers <= 1 or len(paths) <= 1:
            for path, fingerprints, error in map(_work, jobs):
                results[path] = fingerprints if error is None else error
                bar.update(1)
        else:
            context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
            with concurrent.futures.ProcessPoolExecutor(max_workers=config.workers, mp_context=context) as pool:
                for path, fingerprints, error in pool.map(_work, jobs, chunksize=4):
                    results[path] = fingerprints if error is None else error
                    bar.update(1)
    for path, result in results.items():
        if isinstance(result, str):
            log.warning("no fingerprint for %s: %s", path, result)
    return results
