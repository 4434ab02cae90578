"""Song ids in the build: keep the manifest's, find the missing ones from the clips' audio (issue 5).

Two steps after the cut stage:

* ``FingerprintStage`` (per clip, on the executor like every stage): the clip's wav ->
  ``songs/fingerprints/<clip_id>.npz`` (its spectral peaks). The record's fingerprint includes the
  cut record's, so a re-cut clip is fingerprinted again and a finished one never is.
* ``resolve_clip_songs`` (once, in the build process): the fingerprints go into the build's on-disk
  index ``songs/index`` (only clips new or changed since the last run are added), the clips are
  clustered, optionally through the reference tracks of a library (``songs.library``; a folder of
  tracks is indexed once into ``songs/library``), and every clip gets its song id: the manifest's when
  it gives one, else one from its cluster (``tiktok_dm.songs.assign``). Clips whose fingerprint groups
  them with clips of another given id are reported in ``song_contradictions.csv``; their ids are kept.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import shutil
import time
from pathlib import PurePosixPath
from typing import Any, Mapping

import numpy as np
import pandas as pd

from tiktok_dm.atomic import atomic_write_bytes, atomic_write_text
from tiktok_dm.config import SongIdConfig
from tiktok_dm.records import StageResult
from tiktok_dm.songs.assign import assign_song_ids
from tiktok_dm.songs.cluster import assign_ids, cluster_index
from tiktok_dm.songs.config import SongsConfig
from tiktok_dm.songs.extract import fingerprint_file
from tiktok_dm.songs.fingerprint import Fingerprints, Peaks
from tiktok_dm.songs.index import FINGERPRINT_FIELDS, FingerprintIndex
from tiktok_dm.songs.library import load_library
from tiktok_dm.stages.base import ConfiguredStage
from tiktok_dm.workdir import BuildDir

log = logging.getLogger(__name__)

SONGS_DIR = "songs"
CONTRADICTIONS_CSV = "song_contradictions.csv"
CONTRADICTION_COLUMNS = ["clip_id", "given_song_id", "fingerprint_song_id", "support", "own_support", "library_song"]


@dataclasses.dataclass(frozen=True)
class FingerprintItem:
    clip_id: str
    audio_path: str  # the clip's wav, relative to the build directory
    cut_fingerprint: str  # the cut record's fingerprint: changes whenever the clip's audio does

    def identity(self) -> str:
        return repr((self.clip_id, self.audio_path, self.cut_fingerprint))


class FingerprintStage(ConfiguredStage):
    """A clip's wav -> its spectral peaks (``songs/fingerprints/<clip_id>.npz``)."""

    name = "fingerprint"

    config: SongsConfig

    def settings_identity(self) -> str:
        """Only what shapes the peaks (thresholds and worker counts do not)."""
        fields = FINGERPRINT_FIELDS + ("min_duration_s", "silence_dbfs")
        return repr({f: getattr(self.config, f) for f in fields})

    def key(self, item: FingerprintItem) -> str:
        return item.clip_id

    def run(self, item: FingerprintItem) -> dict[str, Any]:
        fingerprints = fingerprint_file(self.build_dir.absolute(item.audio_path), self.config)
        target = self.build_dir.root / SONGS_DIR / "fingerprints" / f"{item.clip_id}.npz"
        save_fingerprints(fingerprints, target)
        return {"fingerprints": self.build_dir.relative(target), "peaks": int(fingerprints.peaks.time.size),
                "duration_s": fingerprints.duration_s}


def save_fingerprints(fingerprints: Fingerprints, target) -> None:
    buffer = io.BytesIO()
    peaks = fingerprints.peaks
    np.savez(buffer, time=peaks.time, freq=peaks.freq, strength=peaks.strength,
             duration_s=np.float64(fingerprints.duration_s))
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, buffer.getvalue())


def load_fingerprints(path) -> Fingerprints:
    with np.load(path) as stored:
        return Fingerprints(Peaks(time=stored["time"], freq=stored["freq"], strength=stored["strength"]),
                            duration_s=float(stored["duration_s"]))


@dataclasses.dataclass(frozen=True)
class ClipSongs:
    """The outcome for the clips that were cut: their song ids and what the fingerprints said."""

    song_id: dict[str, str]  # clip -> song id (clips that have one)
    source: dict[str, str]  # clip -> 'manifest' or 'fingerprint'
    errors: dict[str, str]  # clip without a given id whose audio could not be fingerprinted -> why
    contradictions: pd.DataFrame  # CONTRADICTION_COLUMNS, one row per clip


def resolve_clip_songs(results: Mapping[str, StageResult], given: Mapping[str, str | None], build_dir: BuildDir,
                       config: SongIdConfig, progress: bool = True) -> ClipSongs:
    """``results``: the fingerprint record of each cut clip; ``given``: clip -> manifest song id or None."""
    started = time.perf_counter()
    fingerprinted = [clip_id for clip_id, result in results.items() if result.ok]
    errors = {clip_id: result.error for clip_id, result in results.items() if not result.ok}
    index = _synced_index(build_dir, {clip_id: results[clip_id] for clip_id in fingerprinted}, config.fingerprint)
    library = None
    if config.library:
        library = load_library(config.library, build_dir.root / SONGS_DIR / "library", config.fingerprint,
                               progress=progress)
    clusters = cluster_index(index, fingerprinted, library, config.fingerprint)
    keys = list(results)
    predicted = assign_ids([PurePosixPath(k) for k in keys], keys, clusters.roots, clusters.songs, errors)
    resolved = assign_song_ids(predicted, given, names={k: k for k in keys})
    table = resolved.table.set_index("file")

    song_id, source, failed = {}, {}, {}
    for clip_id, row in table.iterrows():
        if row["song_id"]:
            song_id[clip_id], source[clip_id] = row["song_id"], row["source"]
        else:
            failed[clip_id] = f"song_id is empty and the clip's audio cannot be fingerprinted: {row['error']}"
        if row["error"] and given.get(clip_id):
            log.warning("clip %s: song id %r kept but not checked against its audio: %s", clip_id, given[clip_id],
                        row["error"])
    contradictions = pd.DataFrame([{
        "clip_id": c.file, "given_song_id": c.given_song_id, "fingerprint_song_id": c.fingerprint_song_id,
        "support": c.support, "own_support": c.own_support, "library_song": table.loc[c.file, "library_song"],
    } for c in resolved.contradictions], columns=CONTRADICTION_COLUMNS)
    for row in contradictions.itertuples():
        log.warning("clip %s: song id %r contradicted by its audio: it matches %d clip(s) with song id %r "
                    "(%d with %r in its fingerprint cluster); id kept, see %s", row.clip_id, row.given_song_id,
                    row.support, row.fingerprint_song_id, row.own_support, row.given_song_id, CONTRADICTIONS_CSV)
    atomic_write_text(build_dir.root / CONTRADICTIONS_CSV, contradictions.to_csv(index=False))
    from_fingerprint = sum(s == "fingerprint" for s in source.values())
    log.info("songs: %d clip(s) fingerprinted (%d failed), %d verified link(s), %d identified in the library; "
             "%d id(s) kept from the manifest, %d found by fingerprint, %d clip(s) left without id, "
             "%d contradiction(s) (%.1f s)", len(fingerprinted), len(errors), len(clusters.edges),
             len(clusters.songs), len(source) - from_fingerprint, from_fingerprint, len(failed), len(contradictions),
             time.perf_counter() - started)
    return ClipSongs(song_id=song_id, source=source, errors=failed, contradictions=contradictions)


def _synced_index(build_dir: BuildDir, results: Mapping[str, StageResult], config: SongsConfig) -> FingerprintIndex:
    """The build's clip index holding exactly ``results``' clips; only new or changed ones are added."""
    path = build_dir.root / SONGS_DIR / "index"
    try:
        index = FingerprintIndex(path, config)
    except ValueError as error:  # other fingerprint settings or algorithm: start over from the stored peaks
        log.info("songs: rebuilding the clip index (%s)", error)
        shutil.rmtree(path)
        index = FingerprintIndex(path, config)
    for gone in set(index.keys()) - set(results):
        index.remove(gone)
    added = 0
    for clip_id, result in results.items():
        if clip_id in index and index.meta(clip_id).get("record") == result.fingerprint:
            continue
        index.add(clip_id, load_fingerprints(build_dir.absolute(result.outputs["fingerprints"])),
                  meta={"record": result.fingerprint})
        added += 1
    if index.dirty or len(index) == 0:
        index.save()
    log.info("songs: clip index %s: %d clip(s), %d added in this run", path, len(index), added)
    return index
