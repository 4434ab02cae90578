"""Seconds <-> Label Studio timeline frames.

``<TimelineLabels>`` stores ranges as 1-based inclusive frame numbers at the ``<Video>`` tag's
frame rate: frame f covers [(f - 1) / fps, f / fps). So a span [start_s, end_s) covers frames
round(start_s * fps) + 1 .. round(end_s * fps), and the conversion round-trips exactly for spans on
frame boundaries.
"""

from __future__ import annotations


def seconds_to_frames(start_s: float, end_s: float, fps: float) -> tuple[int, int]:
    _check_fps(fps)
    return round(start_s * fps) + 1, round(end_s * fps)


def frames_to_seconds(start: int, end: int, fps: float) -> tuple[float, float]:
    _check_fps(fps)
    return (start - 1) / fps, end / fps


def _check_fps(fps: float) -> None:
    if not fps or fps <= 0:
        raise ValueError(f"frame rate must be positive, got {fps!r}")
