"""The picture's place in a compilation frame, from straight luma edges across the frame.

A compilation layout puts the clip's picture in the middle of the frame: its top and bottom (or left and right)
edges are straight lines across the whole frame, at the same distance from the frame's edges, where the luma steps
(picture against a black bar or against its own blurred copy). The pose stage crops to that picture
(``tiktok_dm.pose.content``); the clip-boundary detector compares it before and after a cut
(``tiktok_dm.boundaries.visual``): another clip often comes in another layout.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class EdgeRule:
    """Which pair of luma edges bounds a picture (the pose stage's and the boundary detector's settings say
    their values)."""

    # A line is an edge where the luma steps between it and the next line in at least this share of the frame.
    min_edge_share: float
    # The two edges lie this far from the middle alike, within this share of the frame (plus 2 lines of rounding).
    symmetry: float
    # The picture spans at least this share of the frame between its edges.
    min_extent: float


def edge_pair(share: np.ndarray, rule: EdgeRule) -> tuple[int, int] | None:
    """(first line inside, first line past) of the strongest pair of edges symmetric about the middle, or None;
    ``share`` [lines - 1] is the share of the frame across which the luma steps between line i and line i + 1."""
    lines = len(share) + 1
    edges = np.flatnonzero(share >= rule.min_edge_share) + 1  # the line below (right of) each step
    tolerance = rule.symmetry * lines + 2
    best = None
    for start in edges[edges < lines / 2]:
        for end in edges[edges > lines / 2]:
            if abs(start - (lines - end)) <= tolerance and end - start >= rule.min_extent * lines:
                strength = share[start - 1] + share[end - 1]
                if best is None or strength > best[0]:
                    best = (strength, int(start), int(end))
    return None if best is None else best[1:]
