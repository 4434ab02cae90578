"""Per-segment visual features: the (1, 2048) vector D2M-GAN concatenates to the motion embedding.

The paper uses Kinetics-pretrained I3D; the official release ships precomputed arrays (``video_s2/*.npy``), read
as they are (``data.visual: precomputed``). I3D weights cannot be fetched here, so the offline default is
``FrameStatsExtractor`` (``data.visual: frame_stats``), **a deviation to state in every results table**: it sees
only coarse appearance and motion energy, nothing like I3D's semantics. Any other backbone plugs in through the
``VisualFeatureExtractor`` protocol, e.g. ``TorchScriptExtractor`` around an I3D you exported yourself.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from d2m_train.data.segments import VISUAL_SHAPE, SegmentSpec

logger = logging.getLogger(__name__)


class VisualFeatureExtractor(Protocol):
    name: str

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """RGB frames (T, H, W, 3) uint8 of one 2-s segment -> a (1, 2048) float32 feature."""


class FrameStatsExtractor:
    """Offline feature: 32x32 luminance mean over the segment (1024) + mean absolute frame difference (1024).

    Half appearance, half motion energy -- laid out like I3D's RGB + flow concatenation, but hand-made. Frames
    are sampled evenly (``frames`` of them) before resizing; values are in [0, 1].
    """

    name = "frame_stats_v1"

    def __init__(self, grid: int = 32, frames: int = 16):
        if 2 * grid * grid != VISUAL_SHAPE[1]:
            raise ValueError(f"grid {grid} does not give {VISUAL_SHAPE[1]} values")
        self.grid, self.frames = grid, frames

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        import cv2

        if frames.ndim != 4 or frames.shape[0] == 0:
            raise ValueError(f"expected (T, H, W, 3) frames, got {frames.shape}")
        picks = np.linspace(0, len(frames) - 1, min(self.frames, len(frames))).round().astype(int)
        small = np.stack([cv2.resize(cv2.cvtColor(frames[i], cv2.COLOR_RGB2GRAY), (self.grid, self.grid),
                                     interpolation=cv2.INTER_AREA) for i in picks]).astype(np.float32) / 255.0
        motion = np.abs(np.diff(small, axis=0)).mean(0) if len(small) > 1 else np.zeros_like(small[0])
        return np.concatenate([small.mean(0).ravel(), motion.ravel()])[None].astype(np.float32)


class TorchScriptExtractor:
    """A user-supplied TorchScript video network (e.g. an exported I3D) mapping (1, 3, T, S, S) in [-1, 1] to
    2048 values. ``size`` is the square input side (224 for I3D)."""

    def __init__(self, path: str | Path, size: int = 224, name: str | None = None):
        import torch

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"TorchScript model {self.path} does not exist")
        self.module = torch.jit.load(str(self.path), map_location="cpu").eval()
        self.size, self.name = size, name or f"torchscript:{self.path.name}"

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        import cv2
        import torch

        clip = np.stack([cv2.resize(f, (self.size, self.size), interpolation=cv2.INTER_AREA) for f in frames])
        tensor = torch.from_numpy(clip).float().div(127.5).sub(1.0).permute(3, 0, 1, 2)[None]
        with torch.no_grad():
            out = self.module(tensor).reshape(-1).float().numpy()
        if out.size != VISUAL_SHAPE[1]:
            raise ValueError(f"{self.name} returned {out.size} values, expected {VISUAL_SHAPE[1]}")
        return out[None]


def read_frames(video: str | Path, start_s: float, end_s: float) -> np.ndarray:
    """RGB frames of ``video`` with timestamps in [start_s, end_s)."""
    import cv2

    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise ValueError(f"{video}: cannot be opened as a video")
    try:
        fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
        first = int(round(start_s * fps))
        capture.set(cv2.CAP_PROP_POS_FRAMES, first)
        frames = []
        for _ in range(max(int(round((end_s - start_s) * fps)), 1)):
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    if not frames:
        raise ValueError(f"{video}: no frame between {start_s:.2f} s and {end_s:.2f} s")
    return np.stack(frames)


def extract_build_features(build_dir: str | Path, out_dir: str | Path,
                           extractor: VisualFeatureExtractor | None = None) -> int:
    """Write ``out_dir/{segment}.npy`` (1, 2048) for every segment of a tiktok-dm build, from its clip videos.

    Existing files made by the same extractor are kept; returns how many were computed. ``features.json`` in
    ``out_dir`` names the extractor, and a folder made by another extractor is refused.
    """
    extractor = extractor or FrameStatsExtractor()
    build_dir, out_dir = Path(build_dir), Path(out_dir)
    table = pd.read_csv(build_dir / "segments.csv", dtype={"segment": str, "clip_id": str})
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = out_dir / "features.json"
    if stamp.is_file() and json.loads(stamp.read_text()).get("extractor") != extractor.name:
        raise ValueError(f"{out_dir} holds features of {json.loads(stamp.read_text()).get('extractor')!r}, "
                         f"not {extractor.name!r}: use another --features folder")
    stamp.write_text(json.dumps({"extractor": extractor.name, "shape": list(VISUAL_SHAPE)}))
    computed = 0
    for row in table.itertuples():
        target = out_dir / f"{row.segment}.npy"
        if target.is_file():
            continue
        video = build_dir / "clips" / f"{row.clip_id}.mp4"
        if not video.is_file():
            raise FileNotFoundError(f"{video} (clip of segment {row.segment}) does not exist")
        feature = extractor(read_frames(video, float(row.start_s), float(row.end_s)))
        np.save(target, feature.astype(np.float32).reshape(VISUAL_SHAPE))
        computed += 1
    logger.info("visual features (%s): %d computed, %d in %s", extractor.name, computed, len(table), out_dir)
    return computed


def attach_features(spec: SegmentSpec, features_dir: str | Path) -> SegmentSpec:
    """``spec`` with each segment's visual feature at ``features_dir/{name}.npy``."""
    features_dir = Path(features_dir)
    return dataclasses.replace(spec, segments=tuple(dataclasses.replace(s, video=features_dir / f"{s.name}.npy")
                                                    for s in spec.segments))
