"""Export stage: the built clips and segments as a Hugging Face dataset folder.

Layout (what ``datasets.load_dataset(FOLDER)`` reads offline):

    dataset/README.md                              card + YAML ``configs`` and ``dataset_info`` (``card.py``)
    dataset/LICENSE.md                             the terms of the data (the card's license_link)
    dataset/data/clips/{train,test}-SSSSS-of-NNNNN.parquet
    dataset/data/segments/{train,test}-SSSSS-of-NNNNN.parquet

Two configs: ``clips`` (default; one row per clip: metadata, song id, clip audio, all
skeletons) and ``segments`` (one row per 2-s segment: D2M name, audio, motion array).
Shards are written atomically and stale shards of an earlier export are removed.
"""

from __future__ import annotations

import contextlib
import logging
import math
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from tiktok_dm.config import ExportConfig, SegmentConfig
from tiktok_dm.dataset.card import SPLITS, render_card
from tiktok_dm.model.atomic import atomic_path, atomic_write_text
from tiktok_dm.model.build_dir import BuildDir
from tiktok_dm.model.clips import ClipRecord

log = logging.getLogger(__name__)

LICENSE_TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "dataset_license.md"
LICENSE_FILE = "LICENSE.md"
METADATA_COLUMNS = {  # column -> datasets dtype of the clips config
    "clip_id": "string", "compilation_id": "string", "url": "string", "song_id": "string",
    "song_source": "string",  # where song_id came from: manifest, or fingerprint (found from the clip's audio)
    "start_s": "float64", "end_s": "float64", "duration_s": "float64", "num_dancers": "int32",
    "num_segments": "int32", "fps": "float32", "width": "int32", "height": "int32",
    "pose_backend": "string", "person_coverage": "float32", "source_sha256": "string",
    "tool_versions": "string",  # JSON: tiktok_dm, yt_dlp, ffmpeg, pose backend + checkpoint, fingerprint settings
}


def clips_features(max_persons: int, sample_rate: int):
    from datasets import Array2D, Array4D, Audio, Features, Sequence, Value

    columns = {name: Value(dtype) for name, dtype in METADATA_COLUMNS.items()}
    columns.update({
        "audio": Audio(sampling_rate=sample_rate),
        "keypoints": Array4D(shape=(None, max_persons, 17, 3), dtype="float32"),
        "track_ids": Array2D(shape=(None, max_persons), dtype="int32"),
        "frame_times": Sequence(Value("float64")),
    })
    return Features(columns)


def segments_features(segment: SegmentConfig, motion_width: int):
    from datasets import Array2D, Audio, Features, Value

    frames = round(segment.seconds * segment.fps)
    return Features({
        "segment": Value("string"), "clip_id": Value("string"), "compilation_id": Value("string"),
        "song_id": Value("string"), "k": Value("int32"), "start_s": Value("float64"), "end_s": Value("float64"),
        "audio": Audio(sampling_rate=segment.sample_rate),
        "motion": Array2D(shape=(frames, motion_width), dtype="float32"),
    })


def export_dataset(build_dir: BuildDir, clips: Sequence[ClipRecord], segments: pd.DataFrame, export: ExportConfig,
                   segment: SegmentConfig, card_figures: dict[str, Any]) -> Path:
    """Write the dataset folder. ``clips``: the finished clips, each with its split; ``segments`` one row
    per segment (with ``split``, ``audio``, ``motion`` paths)."""
    with datasets_progress_bars_off():
        return _export(build_dir, clips, segments, export, segment, card_figures)


@contextlib.contextmanager
def datasets_progress_bars_off() -> Iterator[None]:
    """datasets' own per-shard progress bars would interleave with the build's."""
    import datasets

    were_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if were_enabled:
            datasets.enable_progress_bars()


def _export(build_dir: BuildDir, clips: Sequence[ClipRecord], segments: pd.DataFrame, export: ExportConfig,
            segment: SegmentConfig, card_figures: dict[str, Any]) -> Path:
    from tiktok_dm.pose import PoseSequence

    out = build_dir.dataset
    poses = {clip.clip_id: PoseSequence.load(build_dir.absolute(clip.pose.poses)) for clip in clips}
    max_persons = max([p.keypoints.shape[1] for p in poses.values()] + [1])
    motion_width = int(np.load(build_dir.absolute(segments["motion"].iloc[0])).shape[1]) if len(segments) else 75
    features = {"clips": clips_features(max_persons, segment.sample_rate),
                "segments": segments_features(segment, motion_width)}
    sizes: dict[str, dict[str, int]] = {"clips": {}, "segments": {}}
    nbytes: dict[str, dict[str, int]] = {"clips": {}, "segments": {}}
    for split in SPLITS:
        split_clips = [clip for clip in clips if clip.split == split]
        split_segments = segments[segments["split"] == split]
        sizes["clips"][split] = len(split_clips)
        sizes["segments"][split] = len(split_segments)
        nbytes["clips"][split] = _write_shards(out / "data" / "clips", split, features["clips"], export.rows_per_shard,
                      (_clip_row(build_dir, clip, poses[clip.clip_id], max_persons) for clip in split_clips),
                      len(split_clips))
        nbytes["segments"][split] = _write_shards(out / "data" / "segments", split, features["segments"], export.rows_per_shard,
                      (_segment_row(build_dir, row) for row in split_segments.itertuples()), len(split_segments))
    atomic_write_text(out / "README.md", render_card(features, sizes, nbytes, export, card_figures))
    atomic_write_text(out / LICENSE_FILE, LICENSE_TEMPLATE.read_text())
    return out


def _write_shards(folder: Path, split: str, features, rows_per_shard: int, rows: Iterable[dict], count: int) -> int:
    """Write the split's shards; returns their size in memory (bytes), which the card's YAML records."""
    from datasets import Dataset

    folder.mkdir(parents=True, exist_ok=True)
    shards = max(1, math.ceil(count / rows_per_shard))
    expected = {f"{split}-{index:05d}-of-{shards:05d}.parquet" for index in range(shards)}
    for stale in folder.glob(f"{split}-*.parquet"):
        if stale.name not in expected:
            stale.unlink()
    rows = iter(rows)
    total_bytes = 0
    for index in range(shards):
        batch = [row for _, row in zip(range(rows_per_shard), rows)]
        dataset = Dataset.from_list(batch, features=features) if batch else Dataset.from_dict(
            {name: [] for name in features}, features=features)
        with atomic_path(folder / f"{split}-{index:05d}-of-{shards:05d}.parquet") as tmp:
            dataset.to_parquet(str(tmp))
        total_bytes += dataset.data.nbytes
    return total_bytes


def _clip_row(build_dir: BuildDir, clip: ClipRecord, sequence, max_persons: int) -> dict[str, Any]:
    keypoints = np.full((sequence.keypoints.shape[0], max_persons, 17, 3), np.nan, dtype=np.float32)
    track_ids = np.full((sequence.keypoints.shape[0], max_persons), -1, dtype=np.int32)
    persons = sequence.keypoints.shape[1]
    keypoints[:, :persons] = sequence.keypoints
    track_ids[:, :persons] = sequence.track_ids
    row = clip.row()
    values = {name: _nullable(row.get(name)) for name in METADATA_COLUMNS}
    audio_path = build_dir.absolute(clip.cut.audio)
    values.update({
        "audio": {"bytes": audio_path.read_bytes(), "path": audio_path.name},
        "keypoints": keypoints, "track_ids": track_ids, "frame_times": sequence.frame_times.tolist(),
    })
    return values


def _segment_row(build_dir: BuildDir, row) -> dict[str, Any]:
    audio_path = build_dir.absolute(row.audio)
    return {
        "segment": row.segment, "clip_id": row.clip_id, "compilation_id": row.compilation_id,
        "song_id": row.song_id, "k": int(row.k), "start_s": float(row.start_s), "end_s": float(row.end_s),
        "audio": {"bytes": audio_path.read_bytes(), "path": audio_path.name},
        "motion": np.load(build_dir.absolute(row.motion)),
    }


def _nullable(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value
