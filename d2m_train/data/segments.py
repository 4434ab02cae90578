"""2-s segments as D2M-GAN trains on them: audio (44100 samples at 22050 Hz), motion, visual feature.

Sources:
- the official preprocessed layout: three parallel lists per split
  (``{dataset}_{audio|motion|video}_{split}_segment.txt``) naming
  ``./{tiktok|aistplus}/{audio_s2|motion_s2|video_s2}/[split/]NAME.{wav|npy}``;
- a tiktok-dm build: ``segments.csv`` + ``d2m/{audio_s2,motion_s2}`` (no visual features yet);
- its Hugging Face export (``d2m_train.data.hf``), unpacked into the same file layout.

Deviation from the official code, on purpose: every path is resolved against one ``root`` (the
official TikTok loader resolves audio/video against the list folder but motion against the working
directory). Audio follows the official preprocessing: peak-normalised to 0.95, training-time gain
U(0.3, 1.0), cropped (random offset in training, start otherwise) or zero-padded to 44100 samples.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

SAMPLE_RATE = 22050
SEGMENT_SAMPLES = 44100
MOTION_SHAPES = {"tiktok": (60, 75), "aistplus": (120, 219)}
VISUAL_SHAPE = (1, 2048)
_MODALITIES = ("audio", "motion", "video")
EXTENSIONS = {"audio": "wav", "motion": "npy", "video": "npy"}


@dataclasses.dataclass(frozen=True)
class SegmentFiles:
    name: str
    audio: Path
    motion: Path
    video: Path | None


@dataclasses.dataclass(frozen=True)
class SegmentSpec:
    dataset: str  # "tiktok" or "aistplus": fixes the motion shape
    segments: tuple[SegmentFiles, ...]


def read_official_lists(list_dir: str | Path, dataset: str, split: str, root: str | Path | None = None) -> SegmentSpec:
    """Read the three official lists of ``split``; they must name the same segments in the same order.

    The video list may be absent (segments without visual features, usable with ``use_visual=False`` only)."""
    list_dir = Path(list_dir)
    root = Path(root) if root is not None else list_dir
    if dataset not in MOTION_SHAPES:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {sorted(MOTION_SHAPES)}")
    columns = {}
    for modality in _MODALITIES:
        path = official_list(list_dir, dataset, modality, split)
        if not path.is_file() and modality == "video" and columns:
            continue  # no visual features (e.g. `d2m-train prepare-aistpp --visual none`): "w/o V" only
        if not path.is_file():
            raise FileNotFoundError(f"segment list {path} does not exist")
        columns[modality] = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    lengths = {modality: len(lines) for modality, lines in columns.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{list_dir}: the {split} lists differ in length: {lengths}")
    segments = []
    videos = columns.get("video", [None] * len(columns["audio"]))
    for index, (audio, motion, video) in enumerate(zip(columns["audio"], columns["motion"], videos)):
        stems = {Path(p).stem for p in (audio, motion, video) if p is not None}
        if len(stems) != 1:
            raise ValueError(f"{list_dir}: line {index + 1} of the {split} lists names different segments {sorted(stems)}")
        segments.append(SegmentFiles(Path(audio).stem, root / audio, root / motion,
                                     root / video if video is not None else None))
    return SegmentSpec(dataset, tuple(segments))


def official_list(list_dir: str | Path, dataset: str, modality: str, split: str) -> Path:
    """The official list file of one modality and split: ``{tiktok|aist}_{modality}_{split}_segment.txt``."""
    return Path(list_dir) / f"{'aist' if dataset == 'aistplus' else 'tiktok'}_{modality}_{split}_segment.txt"


def write_official_lists(list_dir: str | Path, dataset: str, split: str, stems: Sequence[str],
                         modalities: Sequence[str] = _MODALITIES, split_folder: bool = False) -> None:
    """Write the official lists of ``split``, one ``./{dataset}/{modality}_s2/[split/]STEM.ext`` line a segment (the
    AIST++ lists name a split folder, the TikTok ones do not); the list of a modality left out is removed."""
    folder = f"{split}/" if split_folder else ""
    for modality in _MODALITIES:
        path = official_list(list_dir, dataset, modality, split)
        if modality not in modalities:
            path.unlink(missing_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"./{dataset}/{modality}_s2/{folder}{stem}.{EXTENSIONS[modality]}\n"
                                for stem in stems))


def segments_from_build(build_dir: str | Path, split: str) -> SegmentSpec:
    """Segments of a tiktok-dm build (its ``segments.csv``) for ``split``; no visual features."""
    build_dir = Path(build_dir)
    table_path = build_dir / "segments.csv"
    if not table_path.is_file():
        raise FileNotFoundError(f"{table_path} does not exist: run `tiktok-dm build` first")
    table = pd.read_csv(table_path, dtype=str, keep_default_na=False)
    rows = table[table["split"] == split]
    if rows.empty:
        raise ValueError(f"{table_path}: no segment in split {split!r} (splits: {sorted(set(table['split']))})")
    return SegmentSpec("tiktok", tuple(SegmentFiles(r.segment, build_dir / r.audio, build_dir / r.motion, None)
                                       for r in rows.itertuples()))


class D2MSegmentDataset:
    """A map-style dataset (torch DataLoader compatible) of dicts: audio [44100], motion, video [1, 2048].

    All files are checked at construction, so a missing file fails before training starts.
    """

    def __init__(self, spec: SegmentSpec, train: bool, use_visual: bool = True, seed: int = 0):
        self.spec = spec
        self.train = train
        self.use_visual = use_visual
        self.rng = np.random.default_rng(seed)
        self.motion_shape = MOTION_SHAPES[spec.dataset]
        _check_files_exist(spec.segments, use_visual)

    def __len__(self) -> int:
        return len(self.spec.segments)

    def __getitem__(self, index: int) -> dict[str, object]:
        files = self.spec.segments[index]
        item = {"name": files.name, "audio": self._audio(files.audio), "motion": self._motion(files.motion)}
        if self.use_visual:
            item["video"] = _array(files.video, VISUAL_SHAPE)
        return item

    def _audio(self, path: Path) -> np.ndarray:
        import librosa

        audio, _ = librosa.load(path, sr=SAMPLE_RATE, mono=True)
        peak = np.max(np.abs(audio)) if audio.size else 0.0
        audio = 0.95 * audio / peak if peak > 0 else audio
        if self.train:
            audio = audio * self.rng.uniform(0.3, 1.0)
        if len(audio) > SEGMENT_SAMPLES:
            start = int(self.rng.integers(0, len(audio) - SEGMENT_SAMPLES + 1)) if self.train else 0
            audio = audio[start:start + SEGMENT_SAMPLES]
        return np.pad(audio, (0, SEGMENT_SAMPLES - len(audio))).astype(np.float32)

    def _motion(self, path: Path) -> np.ndarray:
        return _array(path, self.motion_shape)


def _array(path: Path, shape: Sequence[int]) -> np.ndarray:
    try:
        array = np.load(path)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a readable .npy ({error})") from error
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{path}: expected {int(np.prod(shape))} values to reshape to {tuple(shape)}, got shape "
                         f"{array.shape}")
    return array.reshape(shape).astype(np.float32)


def _check_files_exist(segments: Sequence[SegmentFiles], use_visual: bool) -> None:
    missing = [str(path) for s in segments for path in (s.audio, s.motion, s.video if use_visual else None)
               if path is not None and not path.is_file()]
    if use_visual and any(s.video is None for s in segments):
        raise ValueError("these segments have no visual features; use use_visual=False (config: data.visual none, "
                         "the paper's 'w/o V' setting)")
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise FileNotFoundError(f"{len(missing)} segment file(s) named by the lists do not exist: {shown}")
