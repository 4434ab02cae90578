"""Reference tracks: build or open a library index, and name the song of each query clip."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from tiktok_dm.model.status import StageError
from tiktok_dm.songs.audio import decode_mono, slowed_down
from tiktok_dm.songs.config import SongsConfig
from tiktok_dm.songs.extract import collect_media, fingerprint_files, fingerprint_samples
from tiktok_dm.songs.fingerprint import Fingerprints, fingerprint
from tiktok_dm.forked import map_shared
from tiktok_dm.songs.index import MANIFEST, FingerprintIndex, IndexMatch

log = logging.getLogger(__name__)

IDENTIFY_COLUMNS = ["file", "song", "score", "speed", "pitch_shift", "offset_s", "error"]


def file_signature(path: Path) -> dict[str, int]:
    """What tells a cached fingerprint is stale: size and modification time."""
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def update_index(index: FingerprintIndex, entries: dict[str, Path], config: SongsConfig,
                 progress: bool = False) -> dict[str, str]:
    """Fingerprint the entries (key -> file) that ``index`` lacks or holds for an older file version.

    Returns key -> error text for the files that could not be fingerprinted. Entries already stored
    with the same signature are left alone (not decoded, not recomputed).
    """
    todo = {}
    for key, path in entries.items():
        signature = file_signature(path) if path.exists() else {}
        if key in index and signature and index.meta(key).get("signature") == signature:
            continue
        todo[key] = (path, signature)
    if todo:
        log.info("fingerprinting %d file(s) (%d already in the index)", len(todo), len(entries) - len(todo))
    results = fingerprint_files([path for path, _ in todo.values()], config, progress=progress)
    errors = {}
    for key, (path, signature) in todo.items():
        result = results[path]
        if isinstance(result, str):
            errors[key] = result
            if key in index:
                index.remove(key)
        else:
            index.add(key, result, meta={"file": str(path), "signature": signature})
    if index.path is not None and (todo or index.dirty or not (index.path / MANIFEST).exists()):
        index.save()
    return errors


def song_name(track: Path, root: Path) -> str:
    """A track's song name: its path under the library folder, without the suffix."""
    relative = track.relative_to(root) if track.is_relative_to(root) else Path(track.name)
    return relative.with_suffix("").as_posix()


def load_library(library: str | os.PathLike | FingerprintIndex, index_dir: str | os.PathLike | None = None,
                 config: SongsConfig | None = None, progress: bool = False) -> FingerprintIndex:
    """A library index from an index, an index folder, or a folder of reference tracks.

    For a folder of tracks, the fingerprints are kept in ``index_dir`` when given (re-runs only
    fingerprint new or changed tracks), else in memory.
    """
    config = config or SongsConfig()
    if isinstance(library, FingerprintIndex):
        return library
    library = Path(library)
    if (library / MANIFEST).is_file():
        return FingerprintIndex(library, config)
    if not library.is_dir():
        raise FileNotFoundError(f"library {library} is neither a folder of tracks nor an index folder")
    tracks = collect_media([library])
    if not tracks:
        raise FileNotFoundError(f"library {library} holds no audio or video files")
    index = FingerprintIndex(index_dir, config)
    entries = {song_name(t, library): t for t in tracks}
    for gone in set(index.keys()) - set(entries):  # a track removed from the folder leaves the library
        index.remove(gone)
    errors = update_index(index, entries, config, progress=progress)
    for key, error in errors.items():
        log.warning("library track %s left out: %s", key, error)
    return index


def best_song(matches: list[IndexMatch], config: SongsConfig) -> IndexMatch | None:
    """The best match if it is good enough and clearly ahead of the runner-up."""
    if not matches or matches[0].score < config.identify_score or matches[0].ratio < config.identify_min_ratio \
            or matches[0].significance < config.identify_min_significance:
        return None
    if len(matches) > 1 and matches[0].score < config.identify_margin * matches[1].score:
        return None
    return matches[0]


def identify_fingerprints(fingerprints: Fingerprints, library: FingerprintIndex, config: SongsConfig,
                          audio: Callable[[], np.ndarray] | None = None) -> IndexMatch | None:
    """The library song of a clip, or None. ``audio``: the clip's samples at ``config.sample_rate``, read only when
    no song is named at first: the clip is then tried again slowed down by each of ``config.identify_slowdowns``,
    and the best answer wins (its speed and pitch told for the clip as it is) among those that play within
    ``identify_slowdown_reach`` of the speed tried."""
    match = _best_song_of(fingerprints, library, config)
    if match is not None or audio is None or not config.identify_slowdowns:
        return match
    try:
        samples = audio()
    except StageError as error:  # the file went away or broke since it was fingerprinted: no retry, no crash
        log.warning("no slowed-down retry: %s", error)
        return None
    found, reach = [], config.identify_slowdown_reach
    for factor in config.identify_slowdowns:
        slowed = _best_song_of(fingerprint(slowed_down(samples, factor), config), library, config)
        if slowed is not None and 1 / reach <= slowed.speed <= reach \
                and 1 / config.max_time_scale <= slowed.speed * factor <= config.max_time_scale:
            found.append(dataclasses.replace(slowed, speed=slowed.speed * factor,
                                             pitch_shift=slowed.pitch_shift + 12 * float(np.log2(factor))))
    return max(found, key=lambda m: (m.score, m.significance), default=None)


def _best_song_of(fingerprints: Fingerprints, library: FingerprintIndex, config: SongsConfig) -> IndexMatch | None:
    # The runner-up is looked for with lower thresholds: a close second means the answer is unsure.
    matches = library.query(fingerprints, min_score=max(1, int(config.identify_score / config.identify_margin)),
                            min_ratio=config.min_peak_ratio, min_significance=config.min_significance, config=config)
    return best_song(matches, config)


def reader(path: str | os.PathLike, config: SongsConfig) -> Callable[[], np.ndarray]:
    """What :func:`identify_fingerprints` reads a clip's samples with, decoding ``path`` only when called."""
    return lambda: decode_mono(path, config.sample_rate)


def identify_all(queries: list[tuple[Fingerprints, str | os.PathLike | None]], library: FingerprintIndex,
                 config: SongsConfig) -> list[IndexMatch | None]:
    """:func:`identify_fingerprints` of each (fingerprints, audio file or None), in ``config.workers`` forked
    processes that share the library index."""
    library.prepare()
    return map_shared(_identify_one, (library, config), queries, config.workers)


def _identify_one(shared: tuple[FingerprintIndex, SongsConfig],
                  query: tuple[Fingerprints, str | os.PathLike | None]) -> IndexMatch | None:
    library, config = shared
    fingerprints, audio = query
    return identify_fingerprints(fingerprints, library, config,
                                 audio=reader(audio, config) if audio is not None else None)


def identify(queries: Iterable[str | os.PathLike], library_index: str | os.PathLike | FingerprintIndex,
             config: SongsConfig | None = None, index_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """The library song of each query file: columns file, song ('' when nothing matches well enough),
    score, speed, pitch_shift, offset_s and error (why a file could not be fingerprinted, else '').
    Each file is decoded once, in ``config.workers`` forked processes that share the library index."""
    config = config or SongsConfig()
    library = load_library(library_index, index_dir, config)
    files = collect_media(queries)
    library.prepare()
    rows = []
    for path, (match, error) in zip(files, map_shared(_identify_file, (library, config), files, config.workers)):
        row = {"file": str(path), "song": "", "score": 0, "speed": float("nan"), "pitch_shift": float("nan"),
               "offset_s": float("nan"), "error": error}
        if error:
            log.warning("no fingerprint for %s: %s", path, error)
        elif match is not None:
            row.update(song=match.key, score=match.score, speed=round(match.speed, 4),
                       pitch_shift=round(match.pitch_shift, 3), offset_s=round(match.offset_s, 3))
        rows.append(row)
    return pd.DataFrame(rows, columns=IDENTIFY_COLUMNS)


def _identify_file(shared: tuple[FingerprintIndex, SongsConfig], path: Path) -> tuple[IndexMatch | None, str]:
    """(the song of one query file or None, '') or (None, why it could not be fingerprinted)."""
    library, config = shared
    try:
        samples = decode_mono(path, config.sample_rate)
        fingerprints = fingerprint_samples(samples, path.name, config)
    except StageError as error:
        return None, str(error)
    return identify_fingerprints(fingerprints, library, config, audio=lambda: samples), ""
