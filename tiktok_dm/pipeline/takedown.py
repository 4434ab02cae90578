"""Takedown on disk: a rebuild removes every file of the clips and compilations no longer in the manifest.

DATASET_CARD.md promises that a clip removed from the manifest is dropped from every later release. The
dataset is rewritten from the clip set on every build, but the stages' files stay in the build folder as
their done-list; here they go too: the records of the withdrawn items, the files those records name (clip
video and audio, fingerprint, poses, D2M segments; the source video and boundary proposals of a withdrawn
compilation), the files named after a withdrawn clip where a record no longer says (QA cache), and the
clip's peaks in the song index. The report folders are rewritten whole on every build.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path

from tiktok_dm.model.build_dir import BuildDir
from tiktok_dm.model.clips import ClipSet
from tiktok_dm.model.manifest import Manifest
from tiktok_dm.model.names import proposed_clip_id, url_key
from tiktok_dm.model.outputs import (BoundaryOutput, CutOutput, DownloadOutput, FingerprintOutput, PoseOutput,
                                     SegmentsOutput)
from tiktok_dm.songs.config import SongsConfig
from tiktok_dm.songs.index import FingerprintIndex

log = logging.getLogger(__name__)

CLIP_OUTPUTS = (CutOutput, FingerprintOutput, PoseOutput, SegmentsOutput)
# Where a clip's files sit by its id alone (its records name them too, but a record of another version may not).
CLIP_FILES = ("clips/{}.mp4", "clip_audio/{}.wav", "poses/{}.npz", "songs/fingerprints/{}.npz", "qa/clips/{}.pkl")
SONG_INDEX = Path("songs") / "index"


@dataclasses.dataclass(frozen=True)
class Withdrawn:
    clips: tuple[str, ...]  # clip ids whose files were removed
    compilations: tuple[str, ...]  # source keys (url_key) of removed source videos
    files: int  # how many files went

    def __bool__(self) -> bool:
        return bool(self.clips or self.compilations)


def remove_withdrawn(build_dir: BuildDir, manifest: Manifest, clips: ClipSet, songs: SongsConfig) -> Withdrawn:
    """Remove the files of every clip and compilation of ``build_dir`` that ``clips`` and ``manifest`` no longer
    hold; returns what went."""
    current_clips = {clip.clip_id for clip in clips if clip.clip_id is not None} | _proposed(build_dir, manifest)
    current_sources = {url_key(compilation.url) for compilation in manifest.compilations}
    current_compilations = {compilation.compilation_id for compilation in manifest.compilations}
    removed: list[Path] = []
    clip_ids = sorted({path.stem for output in CLIP_OUTPUTS for path in _records(build_dir, output)} - current_clips)
    for clip_id in clip_ids:
        removed += _remove_clip(build_dir, clip_id)
    sources = sorted({path.stem for path in _records(build_dir, DownloadOutput)} - current_sources)
    for key in sources:
        removed += _remove_record(build_dir, DownloadOutput, key)
        removed += _unlink(list(build_dir.sources.glob(f"{key}.*")))
    for compilation_id in sorted({path.stem for path in _records(build_dir, BoundaryOutput)} - current_compilations):
        removed += _remove_record(build_dir, BoundaryOutput, compilation_id)
        removed += _unlink([build_dir.root / "boundaries" / f"{compilation_id}.csv"])
    if clip_ids:
        _drop_from_song_index(build_dir, clip_ids, songs)
    withdrawn = Withdrawn(tuple(clip_ids), tuple(sources), len(removed))
    if withdrawn:
        log.info("removed %d file(s) of %d clip(s) and %d source video(s) no longer in the manifest: %s",
                 len(removed), len(clip_ids), len(sources), ", ".join(clip_ids + sources))
    return withdrawn


def _proposed(build_dir: BuildDir, manifest: Manifest) -> set[str]:
    """The clips proposed for compilations still in the manifest (kept even when this run could not reach them)."""
    ids = set()
    for compilation in manifest.unsegmented_compilations:
        record = build_dir.read_record(BoundaryOutput, compilation.compilation_id)
        if record is not None and record.ok:
            ids |= {proposed_clip_id(compilation.compilation_id, index) for index in range(len(record.output.clips))}
    return ids


def _records(build_dir: BuildDir, output_type: type) -> list[Path]:
    folder = build_dir.root / "results" / output_type.stage
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def _remove_clip(build_dir: BuildDir, clip_id: str) -> list[Path]:
    removed = _unlink([build_dir.root / pattern.format(clip_id) for pattern in CLIP_FILES])
    for output_type in CLIP_OUTPUTS:
        removed += _remove_record(build_dir, output_type, clip_id)
    return removed


def _remove_record(build_dir: BuildDir, output_type: type, key: str) -> list[Path]:
    """The record and the files its output wrote."""
    record = build_dir.read_record(output_type, key)
    named = [build_dir.absolute(path) for path in record.output.files()] if record is not None and record.ok else []
    return _unlink(named + [build_dir.record_path(output_type.stage, key)])


def _unlink(paths: list[Path]) -> list[Path]:
    removed = []
    for path in paths:
        if path.is_file():
            path.unlink()
            removed.append(path)
    return removed


def _drop_from_song_index(build_dir: BuildDir, clip_ids: list[str], songs: SongsConfig) -> None:
    path = build_dir.root / SONG_INDEX
    if not (path / "index.json").is_file():
        return
    try:
        index = FingerprintIndex(path, songs)
    except ValueError:  # other fingerprint settings: the index is rebuilt from the stored peaks anyway
        shutil.rmtree(path)
        return
    gone = [clip_id for clip_id in clip_ids if clip_id in index]
    for clip_id in gone:
        index.remove(clip_id)
    index.compact()
