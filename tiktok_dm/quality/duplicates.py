"""Duplicate clips (the same video content twice, e.g. one TikTok in two compilations) by
perceptual hashes of frames.

Each clip gets a 64-bit dHash (9x8 grey thumbnail, one bit per horizontal neighbour comparison)
of a frame every ``step_s`` seconds, skipping flat frames (black, white, title cards). Clips A
and B are duplicates when at least ``min_matching_share`` of the shorter clip's hashes have a
hash in the other clip within ``max_hamming`` bits. Matching sets (not frame-by-frame) make it
robust to a clip being trimmed differently, re-encoded or rescaled.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from tiktok_dm.quality.config import DuplicateConfig
from tiktok_dm.quality.kinematic import QAError


def dhash(frame_grey: np.ndarray) -> int:
    """64-bit difference hash of a grey frame."""
    import cv2

    small = cv2.resize(np.asarray(frame_grey, dtype=np.uint8), (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return int(sum(1 << i for i, bit in enumerate(bits) if bit))


def video_hashes(path: str | os.PathLike, config: DuplicateConfig = DuplicateConfig()) -> np.ndarray:
    """uint64 dHashes of the clip's non-flat frames, one every ``step_s`` seconds."""
    import cv2

    capture = cv2.VideoCapture(os.fspath(path))
    try:
        if not capture.isOpened():
            raise QAError(f"cannot open video {path}")
        fps = float(capture.get(cv2.CAP_PROP_FPS)) or 30.0
        every = max(1, int(round(config.step_s * fps)))
        hashes, index = [], 0
        while capture.grab():
            if index % every == 0:
                ok, frame = capture.retrieve()
                if ok:
                    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
                    if float(grey.std()) >= config.min_frame_std:
                        hashes.append(dhash(grey))
            index += 1
    finally:
        capture.release()
    return np.array(hashes, dtype=np.uint64)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[len(a), len(b)] bit distances between two uint64 hash arrays."""
    xor = np.bitwise_xor(a[:, None], b[None, :])
    return np.unpackbits(xor.view(np.uint8).reshape(*xor.shape, 8), axis=-1).sum(axis=-1)


def matching_share(a: np.ndarray, b: np.ndarray, max_hamming: int) -> float:
    """Share of the shorter hash list's entries with a match in the other."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    short, other = (a, b) if len(a) <= len(b) else (b, a)
    return float((hamming(short, other).min(axis=1) <= max_hamming).mean())


@dataclasses.dataclass(frozen=True)
class DuplicatePair:
    clip_a: str
    clip_b: str
    share: float  # matching share (see matching_share)
    same_compilation: bool


def find_duplicates(hashes: dict[str, np.ndarray], compilation_of: dict[str, str],
                    config: DuplicateConfig = DuplicateConfig()) -> list[DuplicatePair]:
    """All pairs of clips (with at least ``min_frames`` hashed frames) that look like the same
    video, most similar first."""
    ids = sorted(clip for clip, h in hashes.items() if len(h) >= config.min_frames)
    pairs = []
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            share = matching_share(hashes[a], hashes[b], config.max_hamming)
            if share >= config.min_matching_share:
                pairs.append(DuplicatePair(a, b, round(share, 3), compilation_of.get(a) == compilation_of.get(b)))
    return sorted(pairs, key=lambda p: (-p.share, p.clip_a, p.clip_b))
