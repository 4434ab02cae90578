"""Frames that carry their own index as black/white vertical bars (bars survive lossy codecs)."""

from __future__ import annotations

import numpy as np


def frame_with_id(index: int, bits: int, width: int, height: int) -> np.ndarray:
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    bar = width // bits
    for bit in range(bits):
        if index >> bit & 1:
            frame[:, bit * bar:(bit + 1) * bar] = 255
    return frame


def read_frame_id(frame: np.ndarray, bits: int) -> int:
    bar = frame.shape[1] // bits
    return sum(1 << bit for bit in range(bits) if frame[:, bit * bar:(bit + 1) * bar].mean() > 127)
