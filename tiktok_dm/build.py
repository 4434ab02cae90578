"""``build``: manifest -> download -> cut -> songs -> pose -> segments -> split -> export.

Every stage keeps a record per item under ``results/``; running ``build`` again skips what is
done, so a killed build resumes where it stopped. The build ends with ``clips.csv`` (one row per
manifest row with its status and error), ``failures.csv``, ``song_contradictions.csv`` and the
dataset folder.

Song ids (``songs``, after the cut): every cut clip's audio is fingerprinted; clips without a song_id
in the manifest get one from their fingerprint cluster, given ids are kept, and clips whose audio
contradicts their given id are reported (``tiktok_dm.stages.songs``). Segments, split and export use
the resolved ids; ``clips.csv`` says where each came from (``song_source``: manifest or fingerprint).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from tiktok_dm import __version__
from tiktok_dm.atomic import atomic_write_text, sweep_temporaries
from tiktok_dm.config import BuildConfig
from tiktok_dm.distribute import get_executor, run_stage
from tiktok_dm.manifest import ClipSpec, Manifest
from tiktok_dm.records import StageResult
from tiktok_dm.stages.boundaries import BoundaryItem, BoundaryStage, config_for_side_by_side
from tiktok_dm.stages.cut import CutItem, CutStage
from tiktok_dm.stages.download import DownloadItem, DownloadStage
from tiktok_dm.stages.export import export_dataset
from tiktok_dm.stages.pose import PoseItem, PoseStage
from tiktok_dm.stages.segments import D2MIndex, SegmentItem, SegmentStage
from tiktok_dm.stages.songs import CONTRADICTIONS_CSV, FingerprintItem, FingerprintStage, resolve_clip_songs
from tiktok_dm.stages.split import assign_splits, song_assignment_from_split_dir, write_split_files
from tiktok_dm.workdir import BuildDir

log = logging.getLogger(__name__)

MIXED_SPANS = ("this compilation has rows with spans and a row without: automatic boundaries run only for "
               "compilations without any span; remove the empty row or the spans")
UNUSABLE = "marked unusable by an annotator (manifest column 'usable')"
NO_SONG = ("song_id is empty and automatic song ids are off (songs.enabled: false); give song_id to place the clip "
           "in a split")


@dataclasses.dataclass
class BuildReport:
    build_dir: Path
    clips: pd.DataFrame  # one row per manifest row: status, failed_stage, error, split
    failures: pd.DataFrame  # stage, key, compilation_id, clip_id, error
    dataset_dir: Path | None
    stage_seconds: dict[str, float] = dataclasses.field(default_factory=dict)  # wall time of each stage in this run
    pose_qa_report: Path | None = None  # HTML page of the clips pose QA flagged, with skeleton overlays
    # Clips whose fingerprint groups them with clips of another given song id (columns of
    # tiktok_dm.stages.songs.CONTRADICTION_COLUMNS); written to song_contradictions.csv.
    song_contradictions: pd.DataFrame | None = None
    qa_report: Path | None = None  # dataset QA page (report/index.html); its table is qa.csv

    @property
    def ok(self) -> bool:
        return self.failures.empty

    def summary(self) -> str:
        counts = self.clips["status"].value_counts().to_dict()
        split_counts = self.clips[self.clips["status"] == "ok"]["split"].value_counts().to_dict()
        lines = [f"build {self.build_dir}: {len(self.clips)} manifest row(s): "
                 + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())),
                 "splits: " + ", ".join(f"{s} {n}" for s, n in sorted(split_counts.items()))]
        sources = self.clips.get("song_source", pd.Series(dtype=str)).fillna("").astype(str)
        if (sources == "fingerprint").any() or self.song_contradictions is not None:
            fingerprinted = self.clips[sources == "fingerprint"]
            new = sorted(set(fingerprinted["song_id"]) - set(self.clips.loc[sources == "manifest", "song_id"]))
            lines.append(f"song ids: {int((sources == 'manifest').sum())} from the manifest, {len(fingerprinted)} "
                         f"found by fingerprint ({len(new)} new id(s)"
                         + (f": {', '.join(new[:8])}{', ...' if len(new) > 8 else ''}" if new else "") + ")")
        if self.song_contradictions is not None and len(self.song_contradictions):
            lines.append(f"{len(self.song_contradictions)} clip(s) whose audio contradicts the given song id "
                         f"(ids kept; see {self.build_dir / CONTRADICTIONS_CSV}):")
            lines += [f"  {r.clip_id}: given {r.given_song_id!r}, its audio matches {r.support} clip(s) of "
                      f"{r.fingerprint_song_id!r}" for r in self.song_contradictions.itertuples()]
        if self.dataset_dir:
            lines.append(f"dataset: {self.dataset_dir}")
        if self.qa_report:
            from tiktok_dm.quality.checks import QA_TABLE

            lines.append(f"dataset QA report: {self.qa_report} (per-clip table: {self.build_dir / QA_TABLE})")
        flagged = self.clips[self.clips["pose_flags"].fillna("").astype(str) != ""]
        if len(flagged):
            lines.append(f"{len(flagged)} clip(s) flagged by pose QA (see {self.pose_qa_report}):")
            lines += [f"  {r.clip_id}: {r.pose_flags}" for r in flagged.itertuples()]
        if not self.failures.empty:
            lines.append(f"{len(self.failures)} failure(s) (see {self.build_dir / 'failures.csv'}):")
            lines += [f"  {r.stage} {r.key}: {r.error}" for r in self.failures.itertuples()]
        return "\n".join(lines)


def proposed_clips(row: ClipSpec, proposals: list[dict[str, Any]]) -> list[ClipSpec]:
    """Clips of an automatically segmented compilation: ids ``<compilation>-NNNN``, the row's other columns."""
    return [dataclasses.replace(row, clip_id=f"{row.compilation_id}-{index:04d}", start_s=float(p["start_s"]),
                                end_s=float(p["end_s"]), extra={**row.extra, "span_source": "boundaries",
                                                                "span_confidence": round(float(p["confidence"]), 4)})
            for index, p in enumerate(proposals)]


def is_marked_unusable(clip: ClipSpec) -> bool:
    """Annotators mark clips unusable in Label Studio; `annotate pull` writes that into a 'usable' column."""
    return str(clip.extra.get("usable", "")).strip().lower() in {"false", "no", "0", "unusable"}


def d2m_indices(clips: list[ClipSpec]) -> dict[str, D2MIndex]:
    """Integers for the official names of spanned clips. Numeric ids are used as they are (the official
    lists use integers); otherwise ids are numbered in order of first appearance. Song ids found by
    fingerprint (never numeric) are numbered after the largest numeric song id, so the manifest's
    music ids keep their numbers when some clips have none."""
    clips = [clip for clip in clips if clip.has_span]

    def numbering(values: list[str]) -> dict[str, int]:
        if all(v.isdigit() for v in values):
            return {v: int(v) for v in values}
        return {v: i for i, v in enumerate(dict.fromkeys(values))}

    def song_numbering(values: list[str]) -> dict[str, int]:
        numeric = {v: int(v) for v in values if v.isdigit()}
        if not numeric:
            return numbering(values)
        first = max(numeric.values()) + 1
        others = dict.fromkeys(v for v in values if not v.isdigit())
        return {**numeric, **{v: first + i for i, v in enumerate(others)}}

    compilations = numbering([c.compilation_id for c in clips])
    songs = song_numbering([c.song_id for c in clips if c.song_id is not None])
    clip_numbers = numbering([c.clip_id for c in clips])
    return {c.clip_id: D2MIndex(compilations[c.compilation_id], songs[c.song_id], clip_numbers[c.clip_id])
            for c in clips if c.song_id is not None}


class PoseBackendUnavailable(RuntimeError):
    """The configured pose backend cannot run here (not installed, no checkpoint): checked before any work."""


def check_pose_backend(config: BuildConfig) -> None:
    if config.pose.backend != "openpifpaf":
        return
    try:
        from tiktok_dm.pose.openpifpaf_backend import resolve_checkpoint

        resolve_checkpoint(config.pose.checkpoint or "shufflenetv2k16")
    except Exception as error:  # ImportError, CheckpointUnavailableError: every clip would fail the same way
        raise PoseBackendUnavailable(str(error)) from error


class SongLibraryUnavailable(FileNotFoundError):
    """The configured song library (songs.library / --song-library) is not a folder: checked before any work."""


def check_song_library(config: BuildConfig) -> None:
    library = config.songs.library
    if config.songs.enabled and library and not Path(library).is_dir():
        raise SongLibraryUnavailable(f"song library {library} is not a folder (songs.library / --song-library)")


def build(manifest_path: str | Path, out_dir: str | Path, config: BuildConfig, progress: bool = True) -> BuildReport:
    manifest = Manifest.from_csv(manifest_path, allow_file_urls=config.download.allow_file_urls)
    check_pose_backend(config)
    check_song_library(config)
    build_dir = BuildDir(out_dir)
    build_dir.root.mkdir(parents=True, exist_ok=True)
    swept = sweep_temporaries(build_dir.root)
    if swept:
        log.info("removed %d temporary file(s) left by an interrupted run", swept)
    atomic_write_text(build_dir.root / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))

    timer = _StageTimer()
    executor = get_executor(config.executor)
    try:
        stages = _ClipStages(manifest, build_dir, config, executor, progress)
        with timer("download"):
            downloads = stages.download()
        with timer("boundaries"):
            stages.propose_boundaries(downloads)
        with timer("cut"):
            cuts = stages.cut(downloads)
        with timer("songs"):
            contradictions = stages.songs(cuts)
        with timer("pose"):
            poses = stages.pose(cuts)
        with timer("segments"):
            segments = stages.segments(cuts, poses)
    finally:
        executor.close()

    clips_table = _clips_table(stages.clips, stages.status, downloads, cuts, poses, segments, stages.song_source,
                               dataclasses.asdict(config.songs.fingerprint) if config.songs.enabled else None)
    pose_qa_report = _pose_qa_report(build_dir, cuts, poses)
    with timer("split+export"):
        dataset_dir = _split_and_export(clips_table, segments, build_dir, config)
    failures = _failures_table(clips_table)
    _write_csv(clips_table.drop(columns=["audio", "poses"]), build_dir.root / "clips.csv")
    _write_csv(failures, build_dir.failures_table)
    with timer("qa report"):
        qa_report = _quality_report(build_dir, config, progress)
    return BuildReport(build_dir.root, clips_table, failures, dataset_dir, timer.seconds, pose_qa_report,
                       contradictions, qa_report)


def _quality_report(build_dir: BuildDir, config: BuildConfig, progress: bool) -> Path | None:
    """Dataset QA over the finished build; a QA problem is logged, it never fails the build."""
    if not config.quality.enabled:
        return None
    from tiktok_dm.quality.report import build_report  # matplotlib and librosa: only when QA runs

    try:
        return build_report(build_dir.root, config.quality, progress)
    except Exception as error:  # noqa: BLE001 (the dataset is already written; QA is advice)
        log.error("dataset QA report not written: %s: %s (run `tiktok-dm report %s` to retry)",
                  type(error).__name__, error, build_dir.root)
        return None


class _StageTimer:
    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = time.perf_counter() - started


@dataclasses.dataclass
class _Status:
    status: str = "ok"
    failed_stage: str = ""
    error: str = ""

    def fail(self, stage: str, error: str, status: str = "failed") -> None:
        if self.status == "ok":
            self.status, self.failed_stage, self.error = status, stage, error


def row_key(clip: ClipSpec) -> tuple[int, str | None]:
    """A clip's identity in this build: its manifest line and clip id (proposed clips share a line)."""
    return clip.line, clip.clip_id


class _ClipStages:
    """The per-item stages of one build, run in order; each returns its results keyed by item.

    ``clips`` starts as the manifest's rows; a compilation that asked for automatic boundaries has its
    row replaced by the proposed clips once the boundaries stage has run.
    """

    def __init__(self, manifest: Manifest, build_dir: BuildDir, config: BuildConfig, executor: Any, progress: bool):
        self.manifest, self.build_dir, self.config = manifest, build_dir, config
        self.executor, self.progress = executor, progress
        self.clips: list[ClipSpec] = list(manifest.clips)
        self.status: dict[tuple[int, str | None], _Status] = {row_key(clip): _Status() for clip in self.clips}
        self.song_source: dict[str, str] = {}  # clip -> where its song id came from (manifest, fingerprint)

    def fail(self, clip: ClipSpec, stage: str, error: str, status: str = "failed") -> None:
        self.status.setdefault(row_key(clip), _Status()).fail(stage, error, status)

    @property
    def spanned(self) -> list[ClipSpec]:
        return [clip for clip in self.clips if clip.has_span]

    def download(self) -> dict[str, StageResult]:
        compilations = self.manifest.compilations
        stage = DownloadStage(self.config.download, self.build_dir)
        results = run_stage(self.executor, stage, [DownloadItem(c.compilation_id, c.url) for c in compilations],
                            self.progress)
        by_compilation = {c.compilation_id: r for c, r in zip(compilations, results)}
        for clip in self.clips:
            result = by_compilation[clip.compilation_id]
            if not result.ok:
                self.fail(clip, "download", result.error)
        return by_compilation

    def propose_boundaries(self, downloads: dict[str, StageResult]) -> None:
        """Clip spans for compilations whose manifest row gives a URL but no spans."""
        items, rows = [], {}
        for compilation in self.manifest.unsegmented_compilations:
            empty_rows = [clip for clip in compilation.clips if clip.clip_id is None]
            if any(clip.has_span for clip in compilation.clips):
                for row in empty_rows:
                    self.fail(row, "boundaries", MIXED_SPANS, status="skipped")
                continue
            source = downloads[compilation.compilation_id]
            if source.ok:
                items.append(BoundaryItem(compilation.compilation_id, source.outputs["path"], source.outputs["sha256"]))
                rows[compilation.compilation_id] = empty_rows[0]
        config = config_for_side_by_side(self.config.boundaries, len(items), self.executor.concurrency)
        results = self._run(BoundaryStage(config, self.build_dir), items)
        for compilation_id, result in results.items():
            row = rows[compilation_id]
            if not result.ok:
                self.fail(row, "boundaries", result.error)
                continue
            proposed = proposed_clips(row, result.outputs["clips"])
            log.info("compilation %s: %d clip(s) proposed by the boundaries stage", compilation_id, len(proposed))
            self.clips = [c for c in self.clips if not (c.compilation_id == compilation_id and c.clip_id is None)]
            self.clips += proposed
            self.status.pop(row_key(row), None)
            self.status.update({row_key(clip): _Status() for clip in proposed})

    def cut(self, downloads: dict[str, StageResult]) -> dict[str, StageResult]:
        items = []
        for clip in self.spanned:
            source = downloads[clip.compilation_id]
            if is_marked_unusable(clip):
                log.info("clip %s (manifest line %d) skipped: %s", clip.clip_id, clip.line, UNUSABLE)
                self.fail(clip, "annotation", UNUSABLE, status="skipped")
            elif source.ok:
                items.append(CutItem(clip, source.outputs["path"], source.outputs["duration_s"],
                                     source.outputs["fps"], source.outputs["has_audio"], source.outputs["sha256"]))
        return self._run(CutStage(self.config.cut, self.build_dir), items)

    def songs(self, cuts: dict[str, StageResult]) -> pd.DataFrame | None:
        """Song ids from the clips' audio (see tiktok_dm.stages.songs); returns the contradictions."""
        if not self.config.songs.enabled:
            return None
        items = [FingerprintItem(clip_id, r.outputs["audio"], r.fingerprint) for clip_id, r in cuts.items() if r.ok]
        if not items:
            return None
        results = self._run(FingerprintStage(self.config.songs.fingerprint, self.build_dir), items)
        by_id = {clip.clip_id: clip for clip in self.spanned}
        songs = resolve_clip_songs(results, {clip_id: by_id[clip_id].song_id for clip_id in results}, self.build_dir,
                                   self.config.songs, self.progress)
        self.clips = [dataclasses.replace(clip, song_id=songs.song_id[clip.clip_id])
                      if clip.clip_id in songs.song_id else clip for clip in self.clips]
        self.song_source.update(songs.source)
        for clip_id, error in songs.errors.items():
            log.warning("clip %s (manifest line %d) failed: %s", clip_id, by_id[clip_id].line, error)
            self.fail(by_id[clip_id], "songs", error)
        return songs.contradictions

    def pose(self, cuts: dict[str, StageResult]) -> dict[str, StageResult]:
        dancers = {clip.clip_id: clip.num_dancers for clip in self.spanned}
        still_ok = {clip.clip_id for clip in self.spanned if self.status[row_key(clip)].status == "ok"}
        items = [PoseItem(clip_id, r.outputs["video"], r.fingerprint, num_dancers=dancers.get(clip_id))
                 for clip_id, r in cuts.items() if r.ok and clip_id in still_ok]
        return self._run(PoseStage(self.config.pose, self.build_dir), items)

    def segments(self, cuts: dict[str, StageResult], poses: dict[str, StageResult]) -> dict[str, StageResult]:
        indices = d2m_indices(self.spanned)
        by_id = {clip.clip_id: clip for clip in self.spanned}
        items = []
        for clip_id, result in poses.items():
            if not result.ok:
                continue
            if clip_id not in indices:
                log.warning("clip %s (manifest line %d) skipped: %s", clip_id, by_id[clip_id].line, NO_SONG)
                self.fail(by_id[clip_id], "songs", NO_SONG, status="skipped")
                continue
            items.append(SegmentItem(clip_id, indices[clip_id], cuts[clip_id].outputs["audio"],
                                     result.outputs["poses"], result.fingerprint))
        return self._run(SegmentStage(self.config.segment, self.build_dir), items)

    def _run(self, stage, items) -> dict[str, StageResult]:
        results = run_stage(self.executor, stage, items, self.progress)
        return {stage.key(item): result for item, result in zip(items, results)}


def _clips_table(clips, clip_status, downloads, cuts, poses, segments, song_source,
                 fingerprint_settings: dict | None) -> pd.DataFrame:
    rows = []
    for clip in clips:
        status = clip_status[row_key(clip)]
        for stage_results, stage in ((cuts, "cut"), (poses, "pose"), (segments, "segments")):
            result = stage_results.get(clip.clip_id)
            if result is not None and not result.ok:
                status.fail(stage, result.error)
        source = downloads.get(clip.compilation_id)
        cut = cuts.get(clip.clip_id)
        pose = poses.get(clip.clip_id)
        segment = segments.get(clip.clip_id)
        done = status.status == "ok" and segment is not None and segment.ok
        if status.status == "ok" and not done:
            status.fail("build", "not processed")
        rows.append({
            "line": clip.line, "compilation_id": clip.compilation_id, "url": clip.url,
            "clip_id": clip.clip_id, "start_s": clip.start_s, "end_s": clip.end_s, "song_id": clip.song_id,
            "song_source": song_source.get(clip.clip_id, "manifest" if clip.song_id else ""),
            "num_dancers": clip.num_dancers, **clip.extra,
            "status": status.status, "failed_stage": status.failed_stage, "error": status.error,
            "duration_s": cut.outputs["audio_duration_s"] if done else None,
            "num_segments": len(segment.outputs["segments"]) if done else 0,
            "fps": cut.outputs["fps"] if done else None,
            "width": cut.outputs["width"] if done else None,
            "height": cut.outputs["height"] if done else None,
            "pose_backend": pose.outputs["backend"] if done else None,
            "person_coverage": pose.outputs["person_coverage"] if done else None,
            "pose_tracks": pose.outputs.get("num_tracks") if done else None,
            "pose_flags": "; ".join(pose.outputs.get("pose_flags", [])) if done else None,
            "source_sha256": source.outputs.get("sha256") if source is not None and source.ok else None,
            "tool_versions": _tool_versions(source, cut, pose, fingerprint_settings) if done else None,
            "audio": cut.outputs["audio"] if done else None,
            "poses": pose.outputs["poses"] if done else None,
        })
    return pd.DataFrame(rows)


def _pose_qa_report(build_dir: BuildDir, cuts: dict[str, StageResult], poses: dict[str, StageResult]) -> Path | None:
    from tiktok_dm.pose.qa import report_flagged_clips

    flagged = [(clip_id, build_dir.absolute(cuts[clip_id].outputs["video"]), build_dir.absolute(r.outputs["poses"]),
                r.outputs["pose_qa"]) for clip_id, r in poses.items() if r.ok and r.outputs.get("pose_flags")]
    return report_flagged_clips(flagged, build_dir.root / "pose_qa") if flagged else None


def _tool_versions(source: StageResult, cut: StageResult, pose: StageResult, fingerprint_settings: dict | None) -> str:
    """Provenance of a clip: which tools (and versions, checkpoint, fingerprint settings) made it, as a JSON object."""
    versions = {
        "tiktok_dm": __version__,
        "yt_dlp": source.outputs.get("yt_dlp_version", "unknown"),
        "ffmpeg": cut.outputs.get("ffmpeg_version", "unknown"),
        "pose_backend": pose.outputs.get("backend_version", pose.outputs.get("backend", "unknown")),
        "pose_checkpoint": pose.outputs.get("checkpoint", "unknown"),
        "fingerprint": fingerprint_settings,  # None: song ids were not fingerprinted
    }
    return json.dumps(versions, sort_keys=True)


def _split_and_export(clips_table: pd.DataFrame, segments: dict[str, StageResult], build_dir: BuildDir,
                      config: BuildConfig) -> Path | None:
    done = clips_table[clips_table["status"] == "ok"]
    assignment = song_assignment_from_split_dir(config.split.song_assignment) if config.split.song_assignment else None
    assigned = assign_splits(done, config.split.test_fraction, config.split.seed, song_assignment=assignment)
    split_of = dict(zip(assigned["clip_id"], assigned["split"]))
    clips_table["split"] = [split_of.get(clip_id, "") for clip_id in clips_table["clip_id"]]
    write_split_files(assigned[["clip_id", "compilation_id", "song_id", "num_segments", "split"]], build_dir.splits)

    segment_rows = []
    for row in assigned.itertuples():
        for segment in segments[row.clip_id].outputs["segments"]:
            segment_rows.append({"segment": segment["segment"], "clip_id": row.clip_id,
                                 "compilation_id": row.compilation_id, "song_id": row.song_id, "split": row.split,
                                 "k": segment["k"], "start_s": segment["start_s"], "end_s": segment["end_s"],
                                 "audio": segment["audio"], "motion": segment["motion"],
                                 "motion_visible": segment["motion_visible"]})
    segments_table = pd.DataFrame(segment_rows, columns=["segment", "clip_id", "compilation_id", "song_id", "split",
                                                         "k", "start_s", "end_s", "audio", "motion", "motion_visible"])
    _write_csv(segments_table, build_dir.segments_table)
    if assigned.empty:
        log.warning("no clip made it through the pipeline: no dataset written")
        return None
    return export_dataset(build_dir, assigned, segments_table, config.export, config.segment,
                          card_figures=card_figures(assigned, segments_table, config))


def card_figures(clips: pd.DataFrame, segments: pd.DataFrame, config: BuildConfig) -> dict[str, Any]:
    by_split = clips.groupby("split")
    return {
        "num_clips": len(clips), "num_songs": clips["song_id"].nunique(),
        "num_compilations": clips["compilation_id"].nunique(), "num_segments": len(segments),
        "hours": clips["duration_s"].sum() / 3600, "mean_clip_s": clips["duration_s"].mean(),
        "train_clips": by_split.size().get("train", 0), "test_clips": by_split.size().get("test", 0),
        "train_songs": by_split["song_id"].nunique().get("train", 0),
        "test_songs": by_split["song_id"].nunique().get("test", 0),
        "train_segments": int((segments["split"] == "train").sum()),
        "test_segments": int((segments["split"] == "test").sum()),
        "pose_backend": ", ".join(sorted(clips["pose_backend"].dropna().unique())),
        "pose_coverage": 100 * clips["person_coverage"].mean(),
        "segment_seconds": config.segment.seconds, "motion_fps": config.segment.fps,
        "sample_rate": config.segment.sample_rate, "motion_layout": config.segment.motion_layout,
        "split_rule": (f"songs assigned as in {config.split.song_assignment}" if config.split.song_assignment else
                       f"random song-disjoint split, seed {config.split.seed}, target test fraction "
                       f"{config.split.test_fraction:.3f}"),
    }


def _failures_table(clips_table: pd.DataFrame) -> pd.DataFrame:
    failed = clips_table[clips_table["status"] != "ok"]
    return pd.DataFrame({
        "line": failed["line"], "stage": failed["failed_stage"], "status": failed["status"],
        "key": failed["clip_id"].fillna(failed["compilation_id"]), "compilation_id": failed["compilation_id"],
        "clip_id": failed["clip_id"], "error": failed["error"],
    }).reset_index(drop=True)


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    atomic_write_text(path, frame.to_csv(index=False))
