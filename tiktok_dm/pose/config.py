"""Settings of the pose package that a build config names (kept apart from the modules that import numpy and the
pose backends, so that reading a config loads neither)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class ContentConfig:
    # Pose on the picture's rectangle instead of the whole frame (keypoints still in the frame's pixels).
    enabled: bool = True
    # Frames the rectangle is found on: the first this many frames the pose stage samples.
    frames: int = 12
    # A line is an edge of the picture where the luma steps by more than luma_step (0-255) between it and the next
    # line in at least min_edge_share of the frame's width (height), in the median of the frames.
    luma_step: float = 6.0
    min_edge_share: float = 0.5
    # The two edges lie this far from the middle alike, within this share of the frame (plus 2 px of rounding).
    symmetry: float = 0.01
    # Outside the edges at most this much of the detail inside (mean absolute Laplacian per pixel). On the layout
    # clips of bench/pose.py: bars 0.02-0.98 (a white-backdrop fashion video: its picture has as little detail),
    # blurred copies 0.11-0.58; two straight court lines inside a basketball video 0.73 (min_extent turns them
    # down) ...
    max_outside_detail: float = 1.0
    # ... or at most this much of the change from frame to frame inside (mean absolute luma difference): side
    # panels with a logo and a line of text have as much detail as the picture but do not move (d2m_tiktok_low2).
    max_outside_change: float = 0.25
    # The picture spans at least this share of the frame between its edges (a 2.39:1 film in a portrait frame:
    # 0.23; the court lines: 0.13).
    min_extent: float = 0.2
    # Crop only when the picture is at most this share of the frame's area (else the whole frame is posed).
    max_area: float = 0.85
