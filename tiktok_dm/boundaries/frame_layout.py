"""The layout of each analysis frame (where the clip's picture sits: bars, a blurred copy, the whole frame), as
evidence of who and where across a cut.

A compilation lays every clip into its frame on its own: a portrait video between black bars, a landscape one over
its blurred copy, a phone video filling the frame. Across an internal camera cut (a punch-in zoom, a jump within
one recording) the layout stays; across a cut to another clip it often changes. Per frame only a few profiles are
kept (the share of the frame across which the luma steps between neighbouring rows and columns, and the detail of
each row and column); the picture's rectangle on either side of a candidate is found from their median over a
window (``tiktok_dm.layout.edge_pair``), so a dancer crossing a line does not count.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tiktok_dm.boundaries.config import BoundaryConfig
from tiktok_dm.layout import EdgeRule, edge_pair



@dataclasses.dataclass(frozen=True)
class Picture:
    """Where the picture lies: its edges as shares of the frame's width and height, and whether what lies
    outside it is flat (bars) rather than a blurred copy or a panel."""

    left: float = 0.0
    top: float = 0.0
    right: float = 1.0
    bottom: float = 1.0
    flat_outside: bool = False

    def shift(self, other: "Picture") -> float:
        """How far the picture's edges move to ``other``'s, as the largest share of the frame; 1 where bars give
        way to a blurred copy (or back) around the same picture."""
        if self.flat_outside != other.flat_outside:
            return 1.0
        return float(max(abs(self.left - other.left), abs(self.top - other.top), abs(self.right - other.right),
                         abs(self.bottom - other.bottom)))


WHOLE_FRAME = Picture()


@dataclasses.dataclass(frozen=True)
class LayoutProfiles:
    """Per analysis frame: the share of the frame's width across which the luma steps between row i and i + 1
    (``row_edges``, N x H-1), the same for columns (``column_edges``, N x W-1), and the mean absolute luma step
    along each row (``row_detail``, N x H) and down each column (``column_detail``, N x W)."""

    row_edges: np.ndarray
    column_edges: np.ndarray
    row_detail: np.ndarray
    column_detail: np.ndarray

    def __len__(self) -> int:
        return len(self.row_edges)

    @classmethod
    def of_block(cls, luma: np.ndarray, config: BoundaryConfig) -> "LayoutProfiles":
        """The profiles of a block of luma frames (B, H, W), 0..255 (a few frames at a time: the steps are as large
        as the frames)."""
        if len(luma) > _FRAMES_AT_ONCE:
            return cls.concatenate([cls.of_block(luma[i: i + _FRAMES_AT_ONCE], config)
                                    for i in range(0, len(luma), _FRAMES_AT_ONCE)])
        down = np.abs(np.diff(luma, axis=1))  # (B, H-1, W)
        across = np.abs(np.diff(luma, axis=2))  # (B, H, W-1)
        step = config.layout_luma_step
        return cls((down > step).mean(axis=2).astype(np.float16), (across > step).mean(axis=1).astype(np.float16),
                   across.mean(axis=2).astype(np.float16), down.mean(axis=1).astype(np.float16))

    @classmethod
    def empty(cls) -> "LayoutProfiles":
        return cls(*(np.zeros((0, 1), np.float16) for _ in range(4)))

    @classmethod
    def concatenate(cls, parts: list["LayoutProfiles"]) -> "LayoutProfiles":
        kept = [part for part in parts if len(part)] or parts[:1]
        return cls(*(np.concatenate([getattr(part, field.name) for part in kept])
                     for field in dataclasses.fields(cls)))

    def picture(self, frames: slice, config: BoundaryConfig) -> Picture:
        """Where the picture lies over ``frames``: bounded by a symmetric pair of edges in the median profile
        whose outside has at most ``layout_max_outside_detail`` of the inside's detail, else the whole frame."""
        rule = EdgeRule(config.layout_min_edge_share, config.layout_symmetry, config.layout_min_extent)
        rows = _bounded(self.row_edges[frames], self.row_detail[frames], rule, config)
        columns = _bounded(self.column_edges[frames], self.column_detail[frames], rule, config)
        height, width = self.row_detail.shape[1], self.column_detail.shape[1]
        top, bottom, rows_flat = rows or (0, height, True)
        left, right, columns_flat = columns or (0, width, True)
        if (right - left) * (bottom - top) > config.layout_max_area * width * height:
            return WHOLE_FRAME
        return Picture(left / width, top / height, right / width, bottom / height, rows_flat and columns_flat)


def _bounded(edges: np.ndarray, detail: np.ndarray, rule: EdgeRule,
             config: BoundaryConfig) -> tuple[int, int, bool] | None:
    """The pair of edges bounding the picture along one axis and whether outside them is flat, or None.

    An edge stands out from the lines on one side of it (the bar's, the blurred copy's): the share at it less the
    smaller mean share of the ``_EDGE_SIDE`` lines either side. A textured wall or floor steps on many lines in a
    row, so none of them stands out."""
    share = np.median(edges.astype(np.float32), axis=0)
    padded = np.pad(share, _EDGE_SIDE, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, _EDGE_SIDE)
    before, after = windows[: len(share)].mean(axis=1), windows[_EDGE_SIDE + 1:].mean(axis=1)
    pair = edge_pair(share - np.minimum(before, after), rule)
    if pair is None:
        return None
    start, end = pair
    mean_detail = detail.astype(np.float32).mean(axis=0)
    inside = mean_detail[start:end].mean()
    outside = np.concatenate([mean_detail[:start], mean_detail[end:]]).mean()
    if outside > config.layout_max_outside_detail * inside:
        return None
    return start, end, bool(outside <= config.layout_flat_detail)


_EDGE_SIDE = 3
_FRAMES_AT_ONCE = 32
