"""The per-clip steps of a build: each runs one stage over the clips that still need it and returns the
clip set with the stage's typed outputs (or failures) in the clip records.

Items go to the executor; a stage's record per item is its done-list, so a re-run only does what is
missing. A clip that is not ok is left alone by every later step (its first failure is what clips.csv
reports).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any, Callable, Iterable, Sequence, TypeVar

import pandas as pd

from tiktok_dm import __version__
from tiktok_dm.config import BuildConfig
from tiktok_dm.dataset.song_ids import SONGS_OFF, resolve_clip_songs
from tiktok_dm.model.build_dir import BuildDir
from tiktok_dm.model.clips import ClipRecord, ClipSet
from tiktok_dm.model.links import AudioLink
from tiktok_dm.model.manifest import ClipSpec, Manifest
from tiktok_dm.model.names import d2m_indices, proposed_clip_id
from tiktok_dm.model.outputs import CutOutput, PoseOutput, ProposedSpan
from tiktok_dm.model.records import StageRecord
from tiktok_dm.model.status import ErrorKind, Status
from tiktok_dm.pipeline.distribute import Executor, run_stage
from tiktok_dm.pose.sequence import PoseSequence
from tiktok_dm.quality.recordings import (RECORDINGS_CSV, RecordingMatch, find_same_recordings, motion_signatures,
                                          write_matches)
from tiktok_dm.stages.base import Stage
from tiktok_dm.stages.boundaries import BoundaryItem
from tiktok_dm.stages.cut import CutItem
from tiktok_dm.stages.download import DownloadItem
from tiktok_dm.stages.fingerprint import FingerprintItem
from tiktok_dm.stages.pose import PoseItem
from tiktok_dm.stages.registry import BuildStages
from tiktok_dm.stages.segments import SegmentItem

log = logging.getLogger(__name__)

O = TypeVar("O")

MIXED_SPANS = ("this compilation has rows with spans and a row without: automatic boundaries run only for "
               "compilations without any span; remove the empty row or the spans")
UNUSABLE = "marked unusable by an annotator (manifest column 'usable')"
NOT_PROCESSED = "not processed"
# The failed_stage of a clip that is not ok for a reason no stage record holds.
ANNOTATION_STEP = "annotation"  # marked unusable
SONGS_STEP = "songs"  # left without a song id
BUILD_STEP = "build"  # never reached


def proposed_clips(row: ClipSpec, proposals: Iterable[ProposedSpan]) -> list[ClipSpec]:
    """Clips of an automatically segmented compilation: ids ``<compilation>-NNNN``, the row's other columns."""
    return [dataclasses.replace(row, clip_id=proposed_clip_id(row.compilation_id, index), start_s=float(p.start_s),
                                end_s=float(p.end_s), extra={**row.extra, "span_source": "boundaries",
                                                             "span_confidence": round(float(p.confidence), 4)})
            for index, p in enumerate(proposals)]


class BuildSteps:
    """The stages of one build, run in order over its clip set."""

    def __init__(self, build_dir: BuildDir, config: BuildConfig, executor: Executor, progress: bool):
        self.build_dir, self.config = build_dir, config
        self.executor, self.progress = executor, progress
        self.stages = BuildStages.from_config(config, build_dir)
        # The records later stages chain their input hashes to (a re-cut clip is posed again).
        self.cut_records: dict[str, StageRecord[CutOutput]] = {}
        self.pose_records: dict[str, StageRecord[PoseOutput]] = {}

    def _run(self, stage: Stage, items: list[Any]) -> dict[str, StageRecord]:
        records = run_stage(self.executor, stage, items, self.progress)
        return {stage.key(item): record for item, record in zip(items, records)}

    def download(self, clips: ClipSet, manifest: Manifest) -> ClipSet:
        """Each compilation once; its clips get the download's output or its failure."""
        stage = self.stages.download
        items = {c.compilation_id: DownloadItem(c.compilation_id, c.url) for c in manifest.compilations}
        records = run_stage(self.executor, stage, list(items.values()), self.progress)
        by_compilation = dict(zip(items, records))

        def attach(clip: ClipRecord) -> ClipRecord:
            record = by_compilation[clip.compilation_id]
            if not record.ok:
                return clip.failed(stage.name, record.error, record.error_kind, record.status)
            return dataclasses.replace(clip, download=record.output)

        return clips.map(attach)

    def propose_boundaries(self, clips: ClipSet, manifest: Manifest) -> ClipSet:
        """Clip spans for compilations whose manifest row gives a URL but no spans."""
        by_key = {clip.key: clip for clip in clips}
        items, rows = [], {}
        for compilation in manifest.unsegmented_compilations:
            empty_rows = [by_key[(spec.line, spec.clip_id)] for spec in compilation.clips if spec.clip_id is None]
            if any(spec.has_span for spec in compilation.clips):
                skipped = {row.key: row.failed(self.stages.boundaries.name, MIXED_SPANS, ErrorKind.MIXED_SPANS,
                                               Status.SKIPPED) for row in empty_rows}
                clips = clips.map(lambda clip: skipped.get(clip.key, clip))
                continue
            source = empty_rows[0].download
            if source is not None:
                items.append(BoundaryItem(compilation.compilation_id, source.path, source.sha256))
                rows[compilation.compilation_id] = empty_rows[0]
        stage = self.stages.boundaries.for_side_by_side(len(items), self.executor.concurrency)
        for compilation_id, record in self._run(stage, items).items():
            row = rows[compilation_id]
            if not record.ok:
                clips = clips.map(lambda clip: clip.failed(stage.name, record.error, record.error_kind, record.status)
                                  if clip.key == row.key else clip)
                continue
            proposed = proposed_clips(row.spec, record.output.clips)
            log.info("compilation %s: %d clip(s) proposed by the boundaries stage", compilation_id, len(proposed))
            empty_rows = {clip.key for clip in clips if clip.compilation_id == compilation_id and clip.clip_id is None}
            clips = clips.replace(empty_rows, [dataclasses.replace(ClipRecord.from_spec(spec), download=row.download)
                                               for spec in proposed])
        return clips

    def cut(self, clips: ClipSet) -> ClipSet:
        unusable = {}
        items = []
        for clip in clips.spanned:
            if not clip.ok:
                continue
            if clip.spec.marked_unusable:
                log.info("clip %s (manifest line %d) skipped: %s", clip.clip_id, clip.spec.line, UNUSABLE)
                unusable[clip.key] = clip.failed(ANNOTATION_STEP, UNUSABLE, ErrorKind.UNUSABLE, Status.SKIPPED)
                continue
            source = clip.download
            items.append(CutItem(clip.spec, source.path, source.duration_s, source.fps, source.has_audio,
                                 source.sha256))
        clips = clips.map(lambda clip: unusable.get(clip.key, clip))
        self.cut_records = self._run(self.stages.cut, items)
        return _attach(clips, self.cut_records, self.stages.cut.name,
                       lambda clip, cut: dataclasses.replace(clip, cut=cut))

    def songs(self, clips: ClipSet) -> tuple[ClipSet, pd.DataFrame | None, tuple[AudioLink, ...]]:
        """Song ids from the clips' audio (see tiktok_dm.dataset.song_ids); also returns the contradictions and the
        clips whose audio matches (the split keeps them together)."""
        if not self.config.songs.enabled:
            return clips, None, ()
        cut = [clip for clip in clips if clip.ok and clip.cut is not None]
        if not cut:
            return clips, None, ()
        stage = self.stages.fingerprint
        records = self._run(stage, [FingerprintItem(clip.clip_id, clip.cut.audio,
                                                    self.cut_records[clip.clip_id].input_hash) for clip in cut])
        songs = resolve_clip_songs(records, {clip.clip_id: clip.spec.song_id for clip in cut}, self.build_dir,
                                   self.config.songs, self.progress,
                                   audio={clip.clip_id: self.build_dir.absolute(clip.cut.audio) for clip in cut})

        def resolved(clip: ClipRecord) -> ClipRecord:
            record = records.get(clip.clip_id)
            if record is None:
                return clip
            if clip.clip_id in songs.errors:
                log.warning("clip %s (manifest line %d) failed: %s", clip.clip_id, clip.spec.line,
                            songs.errors[clip.clip_id])
                clip = clip.failed(SONGS_STEP, songs.errors[clip.clip_id], ErrorKind.NO_SONG_ID)
            if clip.clip_id in songs.song_id:
                clip = dataclasses.replace(clip, song_id=songs.song_id[clip.clip_id],
                                           song_source=songs.source[clip.clip_id])
            return dataclasses.replace(clip, fingerprint=record.output)

        return clips.map(resolved), songs.contradictions, songs.links

    def pose(self, clips: ClipSet) -> ClipSet:
        items = [PoseItem(clip.clip_id, clip.cut.video, self.cut_records[clip.clip_id].input_hash,
                          num_dancers=clip.spec.num_dancers) for clip in clips.spanned if clip.ok]
        self.pose_records = self._run(self.stages.pose, items)
        return _attach(clips, self.pose_records, self.stages.pose.name,
                       lambda clip, pose: dataclasses.replace(clip, pose=pose))

    def segments(self, clips: ClipSet) -> ClipSet:
        indices = d2m_indices(clips.spanned)  # every spanned clip counts for the numbering, failed or not
        items, no_song = [], {}
        for clip in clips.spanned:
            if not clip.ok:
                continue
            if clip.clip_id not in indices:
                log.warning("clip %s (manifest line %d) skipped: %s", clip.clip_id, clip.spec.line, SONGS_OFF)
                no_song[clip.key] = clip.failed(SONGS_STEP, SONGS_OFF, ErrorKind.NO_SONG_ID, Status.SKIPPED)
                continue
            items.append(SegmentItem(clip.clip_id, indices[clip.clip_id], clip.cut.audio, clip.pose.poses,
                                     self.pose_records[clip.clip_id].input_hash))
        clips = clips.map(lambda clip: no_song.get(clip.key, clip))
        records = self._run(self.stages.segments, items)
        return _attach(clips, records, self.stages.segments.name,
                       lambda clip, segments: dataclasses.replace(clip, segments=segments))

    def same_recordings(self, clips: ClipSet, audio_links: Sequence[AudioLink] = ()) -> list[RecordingMatch]:
        """The finished clips that show the same recording (the dancer moves the same way, frame by frame; at the
        alignment of their shared sound, when they share some), written to recordings.csv: the split keeps them on
        one side, QA lists them."""
        config = self.config.quality.recordings
        done = clips.done if config.enabled else []
        signatures = {clip.clip_id: motion_signatures(PoseSequence.load(self.build_dir.absolute(clip.pose.poses)),
                                                     config) for clip in done}
        matches = find_same_recordings(signatures, {clip.clip_id: clip.compilation_id for clip in done}, config,
                                       audio_links)
        write_matches(matches, self.build_dir.root / RECORDINGS_CSV)
        if matches:
            log.info("%d pair(s) of clips show the same recording: %s", len(matches),
                     ", ".join(f"{m.clip_a}~{m.clip_b}" for m in matches[:10]) + (", ..." if len(matches) > 10 else ""))
        return matches

    def finish(self, clips: ClipSet) -> ClipSet:
        """A clip still ok without segments was never reached (a bug); finished clips get their provenance."""
        fingerprint_settings = dataclasses.asdict(self.config.songs.fingerprint) if self.config.songs.enabled else None

        def finished(clip: ClipRecord) -> ClipRecord:
            if clip.ok and clip.segments is None:
                return clip.failed(BUILD_STEP, NOT_PROCESSED, ErrorKind.NOT_PROCESSED, Status.CRASHED)
            if clip.ok:
                return dataclasses.replace(clip, tool_versions=tool_versions(clip, fingerprint_settings))
            return clip

        return clips.map(finished)


def _attach(clips: ClipSet, records: dict[str, StageRecord[O]], stage: str,
            with_output: Callable[[ClipRecord, O], ClipRecord]) -> ClipSet:
    """Each clip with a record of ``stage``: with its output, or failed at ``stage``. Others stay as they are."""
    def attached(clip: ClipRecord) -> ClipRecord:
        record = records.get(clip.clip_id)
        if record is None:
            return clip
        if not record.ok:
            return clip.failed(stage, record.error, record.error_kind, record.status)
        return with_output(clip, record.output)

    return clips.map(attached)


def tool_versions(clip: ClipRecord, fingerprint_settings: dict | None) -> str:
    """Provenance of a clip: which tools (and versions, checkpoint, fingerprint settings) made it, as a JSON object."""
    versions = {
        "tiktok_dm": __version__,
        "yt_dlp": clip.download.yt_dlp_version,
        "ffmpeg": clip.cut.ffmpeg_version,
        "pose_backend": clip.pose.backend_version,
        "pose_checkpoint": clip.pose.checkpoint,
        "fingerprint": fingerprint_settings,  # None: song ids were not fingerprinted
    }
    return json.dumps(versions, sort_keys=True)
