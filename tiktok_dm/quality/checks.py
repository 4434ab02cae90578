"""Per-clip dataset QA over a build directory: one row per clip in ``<build>/qa.csv``.

For every clip the build finished (clips.csv status ``ok``) :func:`clip_qa` measures:
beat alignment and audio-video offset (:mod:`tiktok_dm.quality.alignment`), pose coverage and
the main dancer's track (figures of :mod:`tiktok_dm.pose.qa`), loudness and silent stretches,
duration against the manifest span; :func:`run_quality` adds the clips that show the same recording
(:mod:`tiktok_dm.quality.recordings`: the build's ``recordings.csv``, else matched from the pose files) and the
cross baseline (other clips' music). A clip whose
files cannot be read gets ``qa_status`` ``failed`` (``crashed`` for an unexpected exception) with the
reason, and the others go on; clips the build did not finish get ``skipped`` (one vocabulary with the
build: ``tiktok_dm.model.status.Status``).

Each clip's measurements are kept in ``<build>/qa/clips/<clip>.pkl`` under a key made of the QA
settings and the clip's input files (path, size, mtime): a re-run (every build ends with QA)
measures only new or rebuilt clips, and an interrupted run keeps the clips it finished.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import pickle
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from tiktok_dm.forked import map_shared
from tiktok_dm.model.atomic import atomic_write_bytes, atomic_write_text
from tiktok_dm.model.build_dir import BuildDir
from tiktok_dm.model.clips import ClipRecord, ClipSet
from tiktok_dm.model.links import AUDIO_LINKS_CSV, read_audio_links
from tiktok_dm.model.outputs import CutOutput, PoseOutput
from tiktok_dm.model.status import StageError, Status
from tiktok_dm.model.tables import write_csv
from tiktok_dm.pose.qa import PoseQA, QAThresholds, pose_qa
from tiktok_dm.pose.sequence import PoseSequence
from tiktok_dm.quality.alignment import BeatAlignment, OffsetEstimate, beat_alignment, cross_baseline, estimate_offset
from tiktok_dm.quality.config import QAConfig
from tiktok_dm.quality.kinematic import QAError, kinematic_beats, kinematic_envelope, main_dancer_keypoints
from tiktok_dm.quality.music import AudioLevels, audio_levels, load_audio, music_events
from tiktok_dm.quality.recordings import (RECORDINGS_CSV, RecordingMatch, find_same_recordings, motion_signatures,
                                          read_matches)

log = logging.getLogger(__name__)

QA_TABLE = "qa.csv"
CLIP_CACHE = Path("qa") / "clips"
# What QA cannot read or measure is a data problem (the clip's status is failed); anything else is a crash.
DATA_ERRORS = (QAError, StageError, OSError, ValueError)


@dataclasses.dataclass(frozen=True)
class ClipInputs:
    """What QA reads for one clip (absolute paths)."""

    clip_id: str
    video: Path
    audio: Path
    poses: Path
    compilation_id: str = ""
    song_id: str = ""
    split: str = ""
    expected_duration_s: float | None = None  # the manifest span
    video_duration_s: float | None = None  # the cut clip (probe); from the pose frame times when absent
    num_dancers: int | None = None
    pose_qa: dict[str, Any] | None = None  # the pose stage's figures; recomputed when absent


@dataclasses.dataclass
class ClipQA:
    clip_id: str
    row: dict[str, Any]  # the qa.csv row
    flags: list[str]
    kinematic_beats: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0), repr=False)
    music_beats: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0), repr=False)
    offset: OffsetEstimate | None = dataclasses.field(default=None, repr=False)


def clip_qa(inputs: ClipInputs, config: QAConfig = QAConfig()) -> ClipQA:
    """Every per-clip check of one clip; raises QAError (or OSError/ValueError) on unreadable input."""
    sequence = PoseSequence.load(inputs.poses)
    audio = load_audio(inputs.audio)
    flags: list[str] = []
    row: dict[str, Any] = {}

    # Duration against the manifest.
    rate = _pose_rate(sequence)
    video_s = inputs.video_duration_s or (sequence.frame_times[-1] + 1 / rate if sequence.num_frames else 0.0)
    row.update(duration_s=round(video_s, 3), audio_duration_s=round(audio.duration_s, 3),
               expected_duration_s=inputs.expected_duration_s, fps=sequence.fps)
    if inputs.expected_duration_s is not None and np.isfinite(inputs.expected_duration_s):
        tolerance = max(config.duration.tolerance_frames / sequence.fps, config.duration.tolerance_s)
        error = video_s - inputs.expected_duration_s
        row["duration_error_s"] = round(error, 3)
        if abs(error) > tolerance:
            flags.append(f"video lasts {video_s:.2f} s, manifest span {inputs.expected_duration_s:.2f} s "
                         f"(off by {error:+.2f} s > {tolerance:.2f} s)")
    if abs(audio.duration_s - video_s) > config.duration.max_av_difference_s:
        flags.append(f"audio lasts {audio.duration_s:.2f} s, video {video_s:.2f} s "
                     f"(> {config.duration.max_av_difference_s} s apart)")

    # Pose coverage and the main dancer's track.
    thresholds = QAThresholds(min_conf=config.kinematic.min_confidence)
    figures = PoseQA.from_dict(inputs.pose_qa) if inputs.pose_qa else pose_qa(sequence, inputs.num_dancers, thresholds)
    keypoints = main_dancer_keypoints(sequence, config.kinematic.min_confidence)
    present = np.isfinite(keypoints[..., 2]).any(axis=1)
    longest = _longest_run(present) / rate
    row.update(person_coverage=round(figures.person_share, 4), main_track_share=round(figures.main_track_share, 4),
               main_track_longest_s=round(longest, 3), pose_tracks=figures.num_tracks,
               pose_flags="; ".join(figures.flags))
    flags += [f"pose: {flag}" for flag in figures.flags]
    if figures.main_track_share < config.pose.min_main_track_share:
        flags.append(f"main dancer in {100 * figures.main_track_share:.0f}% of frames "
                     f"(< {100 * config.pose.min_main_track_share:.0f}%)")

    # Loudness and silence.
    levels = audio_levels(audio, config.audio)
    row.update(_levels_row(levels))
    if levels.loudness_dbfs < config.audio.min_loudness_dbfs:
        flags.append(f"quiet audio: {levels.loudness_dbfs:.1f} dBFS RMS (< {config.audio.min_loudness_dbfs})")
    if levels.silent_stretches:
        flags.append(f"silent for {levels.silent_s:.1f} s: " + ", ".join(
            f"{start:.1f}-{end:.1f} s" for start, end in levels.silent_stretches))
    if levels.clipped_share > config.audio.max_clipped_share:
        flags.append(f"clipped audio: {100 * levels.clipped_share:.2f}% of samples at full scale")

    # Beats, alignment, offset.
    envelope = kinematic_envelope(keypoints, sequence.frame_times, rate, config.kinematic)
    beats = kinematic_beats(envelope)
    music = music_events(audio, config.music)
    alignment = beat_alignment(beats, music, min(envelope.duration_s, audio.duration_s), config.alignment)
    offset = estimate_offset(envelope, music, config.offset)
    row.update(_alignment_row(alignment))
    row.update(_offset_row(offset))
    if offset.out_of_sync(config.offset.sync_tolerance_s, config.offset.max_offset_s):
        also = [f"{alias:+.3f}" for alias in offset.aliases(config.offset.max_offset_s) if alias != offset.offset_s]
        flags.append(f"likely out of sync: audio {'late' if offset.offset_s > 0 else 'early'} by "
                     f"{abs(offset.offset_s):.3f} s (|offset| > {config.offset.sync_tolerance_s} s)"
                     + (f", or {' or '.join(also)} s (whole beats)" if also else ""))
    return ClipQA(inputs.clip_id, row, flags, beats, music.beats, offset)


def _pose_rate(sequence: PoseSequence) -> float:
    """Frames per second the poses were taken at (the pose stage may skip frames: max_fps)."""
    if sequence.num_frames < 2:
        return sequence.fps
    return float(min(sequence.fps, 1.0 / np.median(np.diff(sequence.frame_times))))


def _longest_run(mask: np.ndarray) -> int:
    best = run = 0
    for value in mask:
        run = run + 1 if value else 0
        best = max(best, run)
    return best


def _levels_row(levels: AudioLevels) -> dict[str, Any]:
    return {"loudness_dbfs": levels.loudness_dbfs, "peak_dbfs": levels.peak_dbfs,
            "clipped_share": round(levels.clipped_share, 6), "silent_s": round(levels.silent_s, 3),
            "silent_stretches": json.dumps(levels.silent_stretches)}


def _alignment_row(alignment: BeatAlignment) -> dict[str, Any]:
    return {"kinematic_beats": alignment.kinematic_beats, "music_beats": alignment.music_beats,
            "tempo_bpm": round(alignment.tempo_bpm, 1), "alignment_score": alignment.score,
            "shuffled_baseline": None if alignment.shuffled_baseline is None else round(alignment.shuffled_baseline, 4),
            "p_shuffled": alignment.p_shuffled, "alignment_note": alignment.error}


def _offset_row(offset: OffsetEstimate) -> dict[str, Any]:
    def rounded(value: float | None, digits: int = 4) -> float | None:
        return None if value is None else round(float(value), digits)

    return {"offset_status": offset.status, "offset_s": rounded(offset.offset_s), "best_lag_s": rounded(offset.best_lag_s),
            "offset_peak_corr": rounded(offset.peak_correlation), "offset_alias_ratio": rounded(offset.alias_ratio, 3),
            "offset_p_relation": rounded(offset.p_relation, 3), "offset_beat_period_s": rounded(offset.beat_period_s),
            "offset_note": offset.reason}


# --------------------------------------------------------------------------- a whole build


@dataclasses.dataclass
class QualityResult:
    build_dir: Path
    table: pd.DataFrame  # one row per clip of clips.csv
    duplicates: list[RecordingMatch]  # pairs of clips that show the same recording
    clips: dict[str, ClipQA]  # the clips measured, with their beats and offset curves
    seconds: float = 0.0

    @property
    def table_path(self) -> Path:
        return self.build_dir / QA_TABLE

    @property
    def flagged(self) -> pd.DataFrame:
        return self.table[self.table["flagged"]]


def clip_inputs_from_build(build_dir: BuildDir, clip: ClipRecord) -> ClipInputs:
    """Paths and figures of a finished clip from its cut and pose records."""
    clip_id = str(clip.clip_id)
    cut = build_dir.read_record(CutOutput, clip_id)
    pose = build_dir.read_record(PoseOutput, clip_id)
    for name, record in (("cut", cut), ("pose", pose)):
        if record is None or not record.ok:
            where = build_dir.relative(build_dir.record_path(name, clip_id))
            raise QAError(f"no successful {name} record {where}")
    spec = clip.spec
    return ClipInputs(
        clip_id=clip_id, video=build_dir.absolute(cut.output.video), audio=build_dir.absolute(cut.output.audio),
        poses=build_dir.absolute(pose.output.poses), compilation_id=spec.compilation_id,
        song_id=clip.song_id or "", split=clip.split,
        expected_duration_s=spec.duration_s if spec.has_span else None,
        video_duration_s=_float(cut.output.duration_s), num_dancers=spec.num_dancers, pose_qa=pose.output.pose_qa)


def _cache_key(inputs: ClipInputs, config: QAConfig) -> str:
    files = [(str(path), path.stat().st_size, path.stat().st_mtime_ns) for path in (inputs.video, inputs.audio, inputs.poses)]
    settings = config.to_dict()
    for section in (settings, settings["recordings"]):  # how many processes: not a setting of the result
        section.pop("workers", None)
    payload = json.dumps([repr(inputs), files, settings], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def cached_clip_qa(build: BuildDir, inputs: ClipInputs, config: QAConfig) -> ClipQA:
    """:func:`clip_qa`, reusing the stored result when neither the settings nor the clip's files changed."""
    path = build.root / CLIP_CACHE / f"{inputs.clip_id}.pkl"
    key = _cache_key(inputs, config)
    if path.is_file():
        try:
            stored_key, result = pickle.loads(path.read_bytes())
            if stored_key == key:
                return result
        except Exception as error:  # a cache from another version of this code: measure again
            log.debug("ignoring QA cache %s: %s", path, error)
    result = clip_qa(inputs, config)
    atomic_write_bytes(path, pickle.dumps((key, result)))
    return result


def run_quality(build_dir: str | Path, config: QAConfig = QAConfig(), progress: bool = True) -> QualityResult:
    """QA every clip of ``build_dir``'s clips.csv and write ``<build_dir>/qa.csv`` (atomically)."""
    started = time.perf_counter()
    build = BuildDir(build_dir)
    if not build.clips_table.is_file():
        raise FileNotFoundError(f"{build.clips_table} not found: is {build.root} a build directory "
                                "(run `tiktok-dm build`)?")
    clips = list(ClipSet.read_csv(build.clips_table))
    rows: list[dict[str, Any]] = []
    measured: dict[str, ClipQA] = {}
    poses: dict[str, Path] = {}
    from tqdm.auto import tqdm

    # The first clip in this process (librosa's numba functions compile here, once: forked workers inherit them
    # instead of compiling into one cache at once), the rest in config.workers forked processes, a chunk at a time.
    chunk = max(1, 8 * config.workers)
    with tqdm(total=len(clips), desc="dataset QA", unit="clip", disable=not progress) as bar:
        parts = [clips[:1]] + [clips[start:start + chunk] for start in range(1, len(clips), chunk)]
        for part in (part for part in parts if part):
            for row, result, pose_path in map_shared(_qa_of_clip, (build, config), part, config.workers,
                                                     min_items_per_worker=2):
                rows.append(row)
                if result is not None:
                    measured[result.clip_id] = result
                    poses[result.clip_id] = pose_path
            bar.update(len(part))

    compilation_of = {r["clip_id"]: str(r["compilation_id"]) for r in rows}
    duplicates = _same_recordings(build, poses, compilation_of, config)
    duplicate_of: dict[str, list[str]] = {}
    for pair in duplicates:
        duplicate_of.setdefault(pair.clip_a, []).append(pair.clip_b)
        duplicate_of.setdefault(pair.clip_b, []).append(pair.clip_a)
    for row in rows:
        clip_id = row["clip_id"]
        result = measured.get(clip_id)
        if result is None:
            row.update(flagged=False, flags="")
            continue
        others = [q.music_beats for c, q in measured.items() if c != clip_id][: config.alignment.max_cross_clips]
        cross = cross_baseline(result.kinematic_beats, others, config.alignment.tolerance_s)
        row["cross_baseline"] = None if cross is None else round(cross, 4)
        if clip_id in duplicate_of:
            row["duplicate_of"] = " ".join(duplicate_of[clip_id])
            elsewhere = [other for other in duplicate_of[clip_id] if compilation_of[other] != compilation_of[clip_id]]
            if elsewhere:  # the concern: one TikTok in two compilations (same-compilation pairs are listed only)
                result.flags.append("same recording as " + ", ".join(elsewhere) + " (another compilation)")
        row.update(flagged=bool(result.flags), flags="; ".join(result.flags))

    table = pd.DataFrame(rows, columns=_columns(rows))
    write_csv(table, build.root / QA_TABLE)
    return QualityResult(build.root, table, duplicates, measured, time.perf_counter() - started)


def _qa_of_clip(state: tuple[BuildDir, QAConfig], clip: ClipRecord) -> tuple[dict[str, Any], ClipQA | None,
                                                                              Path | None]:
    """A clip's qa.csv row, with its measures and pose file when it was measured."""
    build, config = state
    base = {"clip_id": clip.clip_id, "compilation_id": clip.compilation_id, "song_id": clip.song_id or "",
            "split": clip.split}
    if not clip.ok:
        return ({**base, "qa_status": Status.SKIPPED.value,
                 "error": f"not built ({clip.status.value} at {clip.failed_stage}: {clip.error})"}, None, None)
    clip_started = time.perf_counter()
    try:
        inputs = clip_inputs_from_build(build, clip)
        result = cached_clip_qa(build, inputs, config)
    except Exception as error:  # one unreadable clip must not stop the others
        detail = "".join(traceback.format_exception_only(type(error), error)).strip()
        status = Status.FAILED if isinstance(error, DATA_ERRORS) else Status.CRASHED
        log.warning("QA of clip %s %s: %s", clip.clip_id, status.value, detail)
        return ({**base, "qa_status": status.value, "error": detail,
                 "seconds": round(time.perf_counter() - clip_started, 3)}, None, None)
    return ({**base, "qa_status": Status.OK.value, "error": "", **result.row,
             "seconds": round(time.perf_counter() - clip_started, 3)}, result, inputs.poses)


def _same_recordings(build: BuildDir, poses: dict[str, Path], compilation_of: dict[str, str],
                     config: QAConfig) -> list[RecordingMatch]:
    """The pairs of measured clips that show the same recording: the build's recordings.csv when it covers exactly
    these clips' matches (written by the build with the same settings), else matched here from the pose files."""
    stored = build.root / RECORDINGS_CSV
    if stored.is_file() and stored.stat().st_mtime >= max((path.stat().st_mtime for path in poses.values()), default=0):
        return [m for m in read_matches(stored) if m.clip_a in poses and m.clip_b in poses]
    signatures = {clip_id: motion_signatures(PoseSequence.load(path), config.recordings)
                  for clip_id, path in poses.items()}
    links = build.root / AUDIO_LINKS_CSV
    return find_same_recordings(signatures, compilation_of, config.recordings,
                                read_audio_links(links) if links.is_file() else ())


FIRST_COLUMNS = ["clip_id", "compilation_id", "song_id", "split", "qa_status", "error", "flagged", "flags"]


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    seen = dict.fromkeys(FIRST_COLUMNS)
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def write_config(config: QAConfig, path: Path) -> None:
    atomic_write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False))


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None
