"""Where the clip's picture lies in a compilation frame: the rectangle without the black bars, the blurred copy of
the picture behind it, or a plain side panel.

A landscape studio video letterboxed into a portrait compilation frame shows its dancer a few per cent of the frame
tall: the pose detector, which looks at the whole frame at 224 x 224, finds nobody (mediapipe on an AIST++ clip in a
portrait frame with bars: a person in 14 % of frames). Posed on the picture alone, the dancer is three times larger.

A layout puts the picture in the middle of the frame: its top and bottom (or left and right) edges are straight
lines across the whole frame, at the same distance from the frame's edges, where the luma steps (picture against a
black bar or against its own blurred copy). Such a pair of lines, the same in most of the first frames, bounds the
picture when what lies outside it has less detail than what lies inside (bars: none; a box-blurred copy: little) or
keeps still while the picture moves (side panels: a logo and a line of text), and it spans a fifth of the frame at
least (two court lines of a basketball
video are straight and symmetric too, closer together).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tiktok_dm.layout import EdgeRule, edge_pair
from tiktok_dm.pose.config import ContentConfig


@dataclasses.dataclass(frozen=True)
class Rectangle:
    left: int
    top: int
    right: int  # exclusive
    bottom: int  # exclusive

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def crop(self, frame: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(frame[self.top:self.bottom, self.left:self.right])

    def to_frame(self, skeletons: np.ndarray) -> np.ndarray:
        """[persons, 17, 3] keypoints found in the crop -> in the frame's pixels."""
        moved = skeletons.copy()
        moved[..., 0] += self.left
        moved[..., 1] += self.top
        return moved


def content_rectangle(frames: list[np.ndarray], config: ContentConfig = ContentConfig()) -> Rectangle | None:
    """The picture's rectangle in RGB ``frames`` of one layout, or None when the picture fills the frame (or no
    pair of edges bounds it)."""
    import cv2

    if not frames:
        return None
    luma = np.stack([cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in frames]).astype(np.float32)
    _, height, width = luma.shape
    rule = EdgeRule(config.min_edge_share, config.symmetry, config.min_extent)
    rows = edge_pair(np.median((np.abs(np.diff(luma, axis=1)) > config.luma_step).mean(axis=2), axis=0), rule)
    columns = edge_pair(np.median((np.abs(np.diff(luma, axis=2)) > config.luma_step).mean(axis=1), axis=0), rule)
    left, right = columns or (0, width)
    top, bottom = rows or (0, height)
    rectangle = Rectangle(left, top, right, bottom)
    if rectangle.width * rectangle.height > config.max_area * width * height:
        return None
    inside = np.zeros((height, width), bool)
    inside[rectangle.top:rectangle.bottom, rectangle.left:rectangle.right] = True
    detail = np.mean([np.abs(cv2.Laplacian(frame, cv2.CV_32F, ksize=3)) for frame in luma], axis=0)
    change = np.abs(np.diff(luma, axis=0)).mean(axis=0) if len(luma) > 1 else np.zeros((height, width), np.float32)
    plain = detail[~inside].mean() <= config.max_outside_detail * detail[inside].mean()
    still = change[~inside].mean() <= config.max_outside_change * change[inside].mean()
    return rectangle if plain or still else None
