"""A tiktok-dm build laid out the way the released D2M-GAN code reads TikTok data: a drop-in for its
``d2m_tiktok.py`` and ``generate_tiktok.py``.

The release (L-YeZhu/D2M-GAN, ``d2m/dataset.py``, ``TiktokDataset``) is run from its repository root with
``./dataset/tiktok_{audio,video,motion}_{split}_segment.txt``. It resolves the audio and video lines against the
list file's folder and uses the motion lines as they are, against the working directory. So the release's root R
gets::

    R/dataset/tiktok_{audio,video,motion}_{train,test}_segment.txt   lines ./tiktok/{audio,video,motion}_s2/NAME.ext
    R/dataset/tiktok/audio_s2/NAME.wav      the build's 2-s segment audio
    R/dataset/tiktok/video_s2/NAME.npy      (1, 2048) visual feature; features.json and VISUAL_FEATURES.txt name
                                            the extractor (frame_stats_v1 by default: NOT the paper's I3D)
    R/tiktok/motion_s2/NAME.npy             the build's motion, 4500 values (60 x 75)
    R/dataset/tiktok/motion_s2/NAME.npy     the same files again, so that this package's reader (every path
                                            against the list folder: ``--official-lists R/dataset``) reads it too

The files are hard links to the build's where the two folders share a file system, else copies. Only the train
and test splits are listed (the release reads no other).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from d2m_train.data.segments import EXTENSIONS, MOTION_SHAPES, VISUAL_SHAPE, write_official_lists
from d2m_train.data.visual import VisualFeatureExtractor, extract_build_features

logger = logging.getLogger(__name__)

RELEASE_SPLITS = ("train", "test")


@dataclasses.dataclass(frozen=True)
class OfficialExport:
    root: Path
    segments: dict[str, int]  # per split, as listed
    skipped_splits: dict[str, int]  # segments of splits the release does not read
    extractor: str  # what made video_s2


def segment_file(root: Path, modality: str, name: str) -> Path:
    """Where the release reads segment ``name``'s ``modality``: motion from the working directory (``root``), audio
    and video from the list folder."""
    base = root if modality == "motion" else root / "dataset"
    return base / "tiktok" / f"{modality}_s2" / f"{name}.{EXTENSIONS[modality]}"


def export_official(build_dir: str | Path, root: str | Path, features_dir: str | Path | None = None,
                    extractor: VisualFeatureExtractor | None = None) -> OfficialExport:
    """Lay out ``build_dir`` under the release's root ``root`` (see the module docstring).

    ``features_dir``: visual features already computed (``d2m-train features``: SEGMENT.npy and features.json),
    linked in; without it they are computed from the build's clip videos with ``extractor`` (frame_stats_v1 by
    default). Every file is checked before anything is written: a missing audio or motion array, a motion array
    that is not 4500 values, or a feature that is not (1, 2048) is named and nothing is written.
    """
    build_dir, root = Path(build_dir), Path(root)
    table_path = build_dir / "segments.csv"
    if not table_path.is_file():
        raise FileNotFoundError(f"{table_path} does not exist: run `tiktok-dm build` first")
    table = pd.read_csv(table_path, dtype=str, keep_default_na=False)
    listed = table[table["split"].isin(RELEASE_SPLITS)]
    skipped = {split: int(count) for split, count in table[~table["split"].isin(RELEASE_SPLITS)]
               .groupby("split").size().items()}
    if listed.empty:
        raise ValueError(f"{table_path}: no segment in {' or '.join(RELEASE_SPLITS)}")
    _check_arrays(build_dir, listed)

    video_dir = root / "dataset" / "tiktok" / "video_s2"
    if features_dir is not None:
        name = _check_features(Path(features_dir), listed["segment"])
        video_dir.mkdir(parents=True, exist_ok=True)
        for segment in listed["segment"]:
            _place(Path(features_dir) / f"{segment}.npy", video_dir / f"{segment}.npy")
        (video_dir / "features.json").write_text((Path(features_dir) / "features.json").read_text())
    else:
        extract_build_features(build_dir, video_dir, extractor)
        name = json.loads((video_dir / "features.json").read_text())["extractor"]
    (video_dir / "VISUAL_FEATURES.txt").write_text(
        f"The (1, 2048) arrays in this folder were made by {name}, not by the paper's Kinetics-pretrained I3D.\n"
        "Results trained on them differ from the paper's visual input: say so next to every figure.\n")

    for row in listed.itertuples():
        _place(build_dir / row.audio, segment_file(root, "audio", row.segment))
        _place(build_dir / row.motion, segment_file(root, "motion", row.segment))
        _place(build_dir / row.motion, root / "dataset" / "tiktok" / "motion_s2" / f"{row.segment}.npy")
    counts = {}
    for split in RELEASE_SPLITS:
        names = list(listed.loc[listed["split"] == split, "segment"])
        counts[split] = len(names)
        write_official_lists(root / "dataset", "tiktok", split, names)
    logger.info("official layout in %s: %s; video_s2 by %s", root, counts, name)
    return OfficialExport(root, counts, skipped, name)


def _check_arrays(build_dir: Path, rows: pd.DataFrame) -> None:
    values = int(np.prod(MOTION_SHAPES["tiktok"]))
    for row in rows.itertuples():
        for path in (build_dir / row.audio, build_dir / row.motion):
            if not path.is_file():
                raise FileNotFoundError(f"{path} (segment {row.segment}) does not exist")
        size = np.load(build_dir / row.motion, mmap_mode="r").size
        if size != values:
            raise ValueError(f"{build_dir / row.motion}: {size} values, the release reshapes motion to "
                             f"{MOTION_SHAPES['tiktok']} ({values})")


def _check_features(features_dir: Path, segments: pd.Series) -> str:
    stamp = features_dir / "features.json"
    if not stamp.is_file():
        raise FileNotFoundError(f"{stamp} does not exist: make the features with `d2m-train features`")
    for segment in segments:
        path = features_dir / f"{segment}.npy"
        if not path.is_file():
            raise FileNotFoundError(f"{path} (visual feature of segment {segment}) does not exist")
        shape = np.load(path, mmap_mode="r").shape
        if tuple(shape) != VISUAL_SHAPE:
            raise ValueError(f"{path}: shape {tuple(shape)}, the release's generator needs {VISUAL_SHAPE}")
    return str(json.loads(stamp.read_text()).get("extractor", "an unnamed extractor"))


def _place(source: Path, target: Path) -> None:
    """A hard link to ``source`` at ``target`` (a copy across file systems); an existing target is replaced."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
