"""``build``: manifest -> download -> cut -> songs -> pose -> segments -> split -> export.

Every stage keeps a record per item under ``results/``; running ``build`` again skips what is
done, so a killed build resumes where it stopped. The clips travel as typed records
(``tiktok_dm.model.clips``) through the steps of ``tiktok_dm.pipeline.steps``; the build ends with
``clips.csv`` (one row per manifest row with its status and error), ``failures.csv``,
``segments.csv``, ``song_contradictions.csv`` and the dataset folder.

Song ids (``songs``, after the cut): every cut clip's audio is fingerprinted; clips without a song_id
in the manifest get one from their fingerprint cluster, given ids are kept, and clips whose audio
contradicts their given id are reported (``tiktok_dm.dataset.song_ids``). Segments, split and export use
the resolved ids; ``clips.csv`` says where each came from (``song_source``: manifest or fingerprint).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
import time
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
import yaml

from tiktok_dm.config import BuildConfig
from tiktok_dm.dataset.export import export_dataset
from tiktok_dm.dataset.song_ids import CONTRADICTIONS_CSV
from tiktok_dm.model.links import AUDIO_LINKS_CSV, AudioLink, write_audio_links
from tiktok_dm.dataset.split import assign_splits, song_assignment_from_split_dir, write_split_files
from tiktok_dm.model.atomic import atomic_write_text, sweep_temporaries
from tiktok_dm.model.build_dir import BuildDir
from tiktok_dm.model.clips import ClipSet, SongSource
from tiktok_dm.model.tables import write_csv
from tiktok_dm.pipeline.checks import check_before_work, read_manifest
from tiktok_dm.pipeline.distribute import get_executor
from tiktok_dm.pipeline.steps import BuildSteps
from tiktok_dm.pipeline.takedown import Withdrawn, remove_withdrawn
from tiktok_dm.quality.recordings import RecordingMatch

log = logging.getLogger(__name__)

SEGMENT_COLUMNS = ["segment", "clip_id", "compilation_id", "song_id", "split", "k", "start_s", "end_s", "audio",
                   "motion", "motion_visible"]
POSE_QA_DIR = "pose_qa"
SPLIT_LINKS_CSV = "split_links.csv"
SPLIT_LINK_COLUMNS = ["clip_a", "song_a", "clip_b", "song_b", "shared", "score"]
FAILURE_COLUMNS = ["line", "stage", "status", "error_kind", "key", "compilation_id", "clip_id", "error"]


@dataclasses.dataclass
class BuildReport:
    build_dir: Path
    clip_set: ClipSet  # one record per manifest row (or proposed clip): status, outputs, song id, split
    failures: pd.DataFrame  # FAILURE_COLUMNS: one row per clip that is not ok
    dataset_dir: Path | None
    stage_seconds: dict[str, float] = dataclasses.field(default_factory=dict)  # wall time of each stage in this run
    pose_qa_report: Path | None = None  # HTML page of the clips pose QA flagged, with skeleton overlays
    # Clips whose fingerprint groups them with clips of another given song id (columns of
    # tiktok_dm.dataset.song_ids.CONTRADICTION_COLUMNS); written to song_contradictions.csv.
    song_contradictions: pd.DataFrame | None = None
    qa_report: Path | None = None  # dataset QA page (report/index.html); its table is qa.csv
    withdrawn: Withdrawn | None = None  # clips and sources no longer in the manifest, whose files were removed
    # Links between finished clips of different song ids that the split kept on one side (split_links.csv).
    split_links: pd.DataFrame | None = None

    @property
    def clips(self) -> pd.DataFrame:
        """The clips as clips.csv has them."""
        return self.clip_set.to_frame()

    @property
    def ok(self) -> bool:
        return self.failures.empty

    def summary(self) -> str:
        clips = list(self.clip_set)
        counts: dict[str, int] = {}
        for clip in clips:
            counts[clip.status.value] = counts.get(clip.status.value, 0) + 1
        split_counts: dict[str, int] = {}
        for clip in clips:
            if clip.ok:
                split_counts[clip.split] = split_counts.get(clip.split, 0) + 1
        lines = [f"build {self.build_dir}: {len(clips)} manifest row(s): "
                 + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())),
                 "splits: " + ", ".join(f"{s} {n}" for s, n in sorted(split_counts.items()))]
        fingerprinted = [clip for clip in clips if clip.song_source is SongSource.FINGERPRINT]
        if fingerprinted or self.song_contradictions is not None:
            given = {clip.song_id for clip in clips if clip.song_source is SongSource.MANIFEST}
            new = sorted({clip.song_id for clip in fingerprinted} - given)
            manifest_ids = sum(clip.song_source is SongSource.MANIFEST for clip in clips)
            lines.append(f"song ids: {manifest_ids} from the manifest, {len(fingerprinted)} "
                         f"found by fingerprint ({len(new)} new id(s)"
                         + (f": {', '.join(new[:8])}{', ...' if len(new) > 8 else ''}" if new else "") + ")")
        if self.song_contradictions is not None and len(self.song_contradictions):
            lines.append(f"{len(self.song_contradictions)} clip(s) whose audio contradicts a given song id "
                         f"(ids kept; see {self.build_dir / CONTRADICTIONS_CSV}):")
            lines += [f"  {r.clip_id}: given {r.given_song_id!r}, its audio matches {r.support} clip(s) of "
                      f"{r.fingerprint_song_id!r}" if r.given_song_id else
                      f"  {r.clip_id}: no song id; its audio links it to {r.support} clip(s) of song ids "
                      f"{r.cluster_song_ids}; it took {r.fingerprint_song_id!r}"
                      for r in self.song_contradictions.itertuples()]
        if self.split_links is not None and len(self.split_links):
            songs = sorted({song for row in self.split_links.itertuples() for song in (row.song_a, row.song_b)})
            lines.append(f"{len(self.split_links)} link(s) of shared content between clips of different song ids "
                         f"kept song(s) {', '.join(songs)} on one side of the split (see "
                         f"{self.build_dir / SPLIT_LINKS_CSV})")
        if self.withdrawn:
            lines.append(f"removed the files of {len(self.withdrawn.clips)} clip(s) and "
                         f"{len(self.withdrawn.compilations)} source video(s) no longer in the manifest "
                         f"({self.withdrawn.files} file(s)): " + ", ".join(self.withdrawn.clips))
        if self.dataset_dir:
            lines.append(f"dataset: {self.dataset_dir}")
        if self.qa_report:
            from tiktok_dm.quality.checks import QA_TABLE

            lines.append(f"dataset QA report: {self.qa_report} (per-clip table: {self.build_dir / QA_TABLE})")
        flagged = [clip for clip in clips if clip.done and clip.pose.pose_flags]
        if flagged:
            lines.append(f"{len(flagged)} clip(s) flagged by pose QA (see {self.pose_qa_report}):")
            lines += [f"  {clip.clip_id}: {'; '.join(clip.pose.pose_flags)}" for clip in flagged]
        if not self.failures.empty:
            lines.append(f"{len(self.failures)} failure(s) (see {self.build_dir / 'failures.csv'}):")
            lines += [f"  {r.stage} {r.key}: {r.error}" for r in self.failures.itertuples()]
        return "\n".join(lines)


def build(manifest_path: str | Path, out_dir: str | Path, config: BuildConfig, progress: bool = True) -> BuildReport:
    manifest = read_manifest(manifest_path, config)
    check_before_work(config, manifest)
    executor = get_executor(config.executor)  # a cluster that does not answer ends the build before any write
    build_dir = BuildDir(out_dir)
    timer = _StageTimer()
    clips = ClipSet.from_manifest(manifest)
    try:
        build_dir.root.mkdir(parents=True, exist_ok=True)
        swept = sweep_temporaries(build_dir.root)
        if swept:
            log.info("removed %d temporary file(s) left by an interrupted run", swept)
        atomic_write_text(build_dir.root / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
        steps = BuildSteps(build_dir, config, executor, progress)
        with timer("download"):
            clips = steps.download(clips, manifest)
        with timer("boundaries"):
            clips = steps.propose_boundaries(clips, manifest)
        with timer("cut"):
            clips = steps.cut(clips)
        with timer("songs"):
            clips, contradictions, audio_links = steps.songs(clips)
            write_audio_links(audio_links, build_dir.root / AUDIO_LINKS_CSV)
        with timer("pose"):
            clips = steps.pose(clips)
        with timer("segments"):
            clips = steps.segments(clips)
    finally:
        executor.close()
    clips = steps.finish(clips)
    withdrawn = remove_withdrawn(build_dir, manifest, clips, config.songs.fingerprint)
    with timer("same recordings"):
        recordings = steps.same_recordings(clips, audio_links)

    pose_qa_report = _pose_qa_report(build_dir, clips)
    with timer("split+export"):
        clips, dataset_dir, split_links = _split_and_export(clips, build_dir, config, audio_links, recordings)
    failures = failures_table(clips)
    clips.to_csv(build_dir.clips_table)
    write_csv(failures, build_dir.failures_table)
    with timer("qa report"):
        qa_report = _quality_report(build_dir, config, progress)
    return BuildReport(build_dir.root, clips, failures, dataset_dir, timer.seconds, pose_qa_report, contradictions,
                       qa_report, withdrawn, split_links)


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


def _pose_qa_report(build_dir: BuildDir, clips: ClipSet) -> Path | None:
    """The page of the clips pose QA flagged, written whole (no page or image of an earlier build stays)."""
    from tiktok_dm.pose.qa import report_flagged_clips

    shutil.rmtree(build_dir.root / POSE_QA_DIR, ignore_errors=True)
    flagged = [(clip.clip_id, build_dir.absolute(clip.cut.video), build_dir.absolute(clip.pose.poses),
                clip.pose.pose_qa) for clip in clips if clip.pose is not None and clip.pose.pose_flags]
    return report_flagged_clips(flagged, build_dir.root / POSE_QA_DIR) if flagged else None


def _split_and_export(clips: ClipSet, build_dir: BuildDir, config: BuildConfig, audio_links: Sequence[AudioLink],
                      recordings: Sequence[RecordingMatch]) -> tuple[ClipSet, Path | None, pd.DataFrame]:
    """The song-disjoint, leak-free split of the finished clips (clips that share audio or show the same recording
    on one side), its split files, split_links.csv, segments.csv and the dataset."""
    done = ClipSet(clips.done)
    assignment = song_assignment_from_split_dir(config.split.song_assignment) if config.split.song_assignment else None
    shared = [(link.clip_a, link.clip_b, "audio", link.score) for link in audio_links] + \
        [(match.clip_a, match.clip_b, "recording", match.share) for match in recordings]
    assigned = assign_splits(done.to_frame(), config.split.test_fraction, config.split.seed, song_assignment=assignment,
                             links=[(a, b) for a, b, _, _ in shared])
    split_links = _cross_song_links(done, shared)
    write_csv(split_links, build_dir.root / SPLIT_LINKS_CSV)
    split_of = dict(zip(assigned["clip_id"], assigned["split"]))
    clips = clips.map(lambda clip: dataclasses.replace(clip, split=split_of.get(clip.clip_id, "")))
    write_split_files(assigned[["clip_id", "compilation_id", "song_id", "num_segments", "split"]], build_dir.splits)

    placed = [clip for clip in clips if clip.done]
    segments_table = pd.DataFrame([
        {"segment": segment.segment, "clip_id": clip.clip_id, "compilation_id": clip.compilation_id,
         "song_id": clip.song_id, "split": clip.split, "k": segment.k, "start_s": segment.start_s,
         "end_s": segment.end_s, "audio": segment.audio, "motion": segment.motion,
         "motion_visible": segment.motion_visible}
        for clip in placed for segment in clip.segments.segments], columns=SEGMENT_COLUMNS)
    write_csv(segments_table, build_dir.segments_table)
    if not placed:
        log.warning("no clip made it through the pipeline: no dataset written")
        return clips, None, split_links
    return clips, export_dataset(build_dir, placed, segments_table, config.export, config.segment,
                                 card_figures=card_figures(ClipSet(placed).to_frame(), segments_table, config)), \
        split_links


def _cross_song_links(done: ClipSet, shared: Sequence[tuple[str, str, str, float]]) -> pd.DataFrame:
    """The links (clip, clip, what they share, score) between finished clips of different song ids: each joins their
    songs on one side of the split."""
    song_of = {clip.clip_id: clip.song_id for clip in done}
    rows = [{"clip_a": a, "song_a": song_of[a], "clip_b": b, "song_b": song_of[b], "shared": what, "score": score}
            for a, b, what, score in shared if a in song_of and b in song_of and song_of[a] != song_of[b]]
    for row in rows:
        log.warning("clips %s (song %s) and %s (song %s) share their %s: their songs go to one side of the split",
                    row["clip_a"], row["song_a"], row["clip_b"], row["song_b"], row["shared"])
    return pd.DataFrame(rows, columns=SPLIT_LINK_COLUMNS)


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


def failures_table(clips: ClipSet) -> pd.DataFrame:
    """One row per clip that is not ok: where (stage) and why (status, error kind, error)."""
    return pd.DataFrame([
        {"line": clip.spec.line, "stage": clip.failed_stage, "status": clip.status.value,
         "error_kind": clip.error_kind.value if clip.error_kind is not None else "",
         "key": clip.clip_id if clip.clip_id is not None else clip.compilation_id,
         "compilation_id": clip.compilation_id, "clip_id": clip.clip_id, "error": clip.error}
        for clip in clips if not clip.ok], columns=FAILURE_COLUMNS)
