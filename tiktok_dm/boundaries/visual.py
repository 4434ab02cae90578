"""Picture signals from small analysis frames: hard cuts, dissolves, blank frames, title cards.

Each frame is reduced once to a few descriptors (an 8x8x8 colour histogram of its picture area,
a luma thumbnail, and some scalars), in blocks, so a 30-minute compilation never sits in memory
as frames. Every signal below is computed from the descriptors.

Compilation furniture is handled as follows:
- Borders (black bars around portrait video, letterboxing): rows and columns that are uniform
  and touch the frame edge are left out of the colour histogram, and thumbnail differences are
  divided by the share of the frame that is picture, so a cut between two portrait clips scores
  like a cut between two full-frame clips.
- Watermarks, captions and text overlays cover a small share of the frame and change little
  between frames; every measure is an average over the whole picture, so they barely register.
- A hard cut must also stand out from the motion around it (``cut_contrast``), so fast dancing or
  a shaky camera does not read as a cut.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable

import numpy as np

from tiktok_dm.boundaries.config import BoundaryConfig
from tiktok_dm.boundaries.frame_layout import LayoutProfiles

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
# Levels per colour channel: 512-bin joint histograms. At 4 levels (64 bins) two bright rooms (a white studio, a pale
# pink bedroom) fall into the same cells.
_BINS = 8
_BIN_SHIFT = 8 - int(np.log2(_BINS))  # channel value >> _BIN_SHIFT = its level (_BINS must be a power of 2)
_POOL = 4  # thumbnail = 4x4 average pooling of the analysis frame
# Typical values at a real cut (calibration set), so that a change score of ~1 means "a cut". On the calibration set
# the median 512-bin change at a clip cut is 1.25 times the 64-bin one used before (0.66 against 0.50); 0.85 keeps its
# F1 at 0.996 (0.75 lets a false candidate at a motion blur become a hard cut, 1.0 gives the same 0.996).
_TYPICAL_HIST_CHANGE = 0.85
_TYPICAL_PIXEL_CHANGE = 0.3
_BLEND_HALF_WINDOW_S = 0.3
_BLEND_MIN_CHANGE = 0.01


@dataclasses.dataclass(frozen=True)
class FrameDescriptors:
    fps: float
    thumbs: np.ndarray  # (N, h, w) float32 luma thumbnails, 0..1
    hists: np.ndarray  # (N, 512) float16 colour histogram of the picture area (borders left out), sums to 1
    picture_fraction: np.ndarray  # (N,) share of the frame inside the borders
    uniform: np.ndarray  # (N,) share of pixels within the uniform spread of the median luma
    luma: np.ndarray  # (N,) mean luma, 0..255
    layout: LayoutProfiles  # where the picture lies in each frame

    def __len__(self) -> int:
        return len(self.luma)

    @classmethod
    def concatenate(cls, parts: list["FrameDescriptors"]) -> "FrameDescriptors":
        """The descriptors of consecutive parts of one video, as one."""
        if len(parts) == 1:
            return parts[0]
        kept = [part for part in parts if len(part)] or parts[:1]
        return cls(parts[0].fps, **{field.name: np.concatenate([getattr(part, field.name) for part in kept])
                                    for field in dataclasses.fields(cls) if field.name not in ("fps", "layout")},
                   layout=LayoutProfiles.concatenate([part.layout for part in kept]))


@dataclasses.dataclass(frozen=True)
class VisualSignals:
    """Per analysed frame ``i`` (time ``i / fps``); all scores are 0 where undefined."""

    fps: float
    cut: np.ndarray  # change from frame i-1 to frame i (~1 at a typical cut)
    cut_context: np.ndarray  # median change over the surrounding second (the motion level)
    span: np.ndarray  # change from frame i-k to frame i+k (k = dissolve half window)
    dissolve: np.ndarray  # span minus the largest single step inside it: change no cut explains
    blend: np.ndarray  # 1 when frame i is the average of frames i-b and i+b, as inside a dissolve
    blend_half_window: int  # b, in frames (0.3 s)
    blank: np.ndarray  # bool: black or one flat colour
    card: np.ndarray  # bool: part of a still picture lasting card_min_s (a title card, a freeze frame)
    still: np.ndarray  # largest thumbnail change from frame i-1 to frame i (0..1): ~0 for a still picture
    fine_fps: float
    fine_change: np.ndarray  # mean change of the tiny luma stream from fine frame j-1 to j (0..1)
    hists: np.ndarray  # (N, 512) float16 colour histogram of each frame's picture area (borders left out)
    layout: LayoutProfiles

    @property
    def times(self) -> np.ndarray:
        return np.arange(len(self.cut)) / self.fps

    def appearance_change(self, time_s: float, earliest_s: float, latest_s: float, config: BoundaryConfig) -> float:
        """How much the colour make-up of the picture differs before and after ``time_s`` (0..1: half the L1
        distance of the mean picture-area histograms over ``appearance_window_s`` on each side, outside
        ``appearance_guard_s`` and within ``earliest_s``..``latest_s``); NaN when either side has fewer than 3 frames.

        Who and where: another person in another room changes the colours; a punch-in or a jump within one
        recording keeps them, however much the single step between two frames changes."""
        window, guard = config.appearance_window_s, config.appearance_guard_s
        before = self._frames(max(earliest_s + guard, time_s - guard - window), time_s - guard)
        after = self._frames(time_s + guard, min(latest_s - guard, time_s + guard + window))
        if before.stop - before.start < 3 or after.stop - after.start < 3:
            return float("nan")
        mean = lambda frames: self.hists[frames].astype(np.float32).mean(axis=0)  # noqa: E731
        return float(0.5 * np.abs(mean(before) - mean(after)).sum())

    def appearance_curve(self, config: BoundaryConfig) -> np.ndarray:
        """:meth:`appearance_change` at every frame, the windows not stopped at neighbouring candidates (for the
        debug plot); NaN near the ends."""
        n = len(self.hists)
        guard = int(np.ceil(config.appearance_guard_s * self.fps))
        window = max(1, int(round(config.appearance_window_s * self.fps)))
        sums = np.concatenate([np.zeros((1, self.hists.shape[1])),
                               np.cumsum(self.hists, axis=0, dtype=np.float64)])
        curve = np.full(n, np.nan)
        frames = np.arange(guard + window, n - guard - window)
        if len(frames):
            before = (sums[frames - guard + 1] - sums[frames - guard - window + 1]) / window
            after = (sums[frames + guard + window] - sums[frames + guard]) / window
            curve[frames] = 0.5 * np.abs(before - after).sum(axis=1)
        return curve

    def layout_change(self, time_s: float, earliest_s: float, latest_s: float, guard_s: float,
                      config: BoundaryConfig) -> float:
        """How far the picture's edges move in the frame across ``time_s`` (a share of the frame; 1 where the
        picture starts or stops filling the frame only partly is measured by its edges too), between
        ``layout_window_s`` on each side outside ``guard_s`` and within ``earliest_s``..``latest_s``; NaN when a side
        has fewer than 4 frames or its two halves disagree (the layout is not steady there)."""
        window = config.layout_window_s
        sides = (self._frames(max(earliest_s + guard_s, time_s - guard_s - window), time_s - guard_s),
                 self._frames(time_s + guard_s, min(latest_s - guard_s, time_s + guard_s + window)))
        pictures = []
        for side in sides:
            if side.stop - side.start < 4:
                return float("nan")
            middle = (side.start + side.stop) // 2
            halves = [self.layout.picture(half, config) for half in (slice(side.start, middle),
                                                                         slice(middle, side.stop))]
            if halves[0].shift(halves[1]) >= config.layout_change_threshold:
                return float("nan")
            pictures.append(self.layout.picture(side, config))
        return pictures[0].shift(pictures[1])

    def layout_track(self, config: BoundaryConfig, step_s: float = 0.5) -> tuple[np.ndarray, list]:
        """(times, pictures): where the picture lies over ``layout_window_s`` centred on every ``step_s`` (the
        debug plot's layout lines)."""
        times = np.arange(config.layout_window_s / 2, len(self.cut) / self.fps - config.layout_window_s / 2, step_s)
        return times, [self.layout.picture(self._frames(t - config.layout_window_s / 2, t + config.layout_window_s / 2),
                                           config) for t in times]

    def _frames(self, start_s: float, end_s: float) -> slice:
        first = max(0, int(np.ceil(start_s * self.fps)))
        return slice(first, max(first, min(len(self.cut), int(np.floor(end_s * self.fps)) + 1)))

    def locate_cut(self, frame: int) -> float:
        """Time of the cut between analysed frames ``frame - 1`` and ``frame``, to about one fine step.

        Measured on the calibration set: exact to the frame for 30 fps sources; a cut that lands on a
        skipped (non-reference) frame is seen one or two frames late.
        """
        ratio = self.fine_fps / self.fps
        lo = max(1, int(round((frame - 1) * ratio)) - 1)
        hi = min(len(self.fine_change), int(round(frame * ratio)) + 2)
        if hi <= lo:
            return (frame - 0.5) / self.fps
        # Fine frame ``step`` is the first to show the new shot: the cut is at its time.
        step = lo + int(np.argmax(self.fine_change[lo:hi]))
        return step / self.fine_fps


def describe_frames(blocks: Iterable[np.ndarray], fps: float, config: BoundaryConfig) -> FrameDescriptors:
    """Reduce uint8 RGB frame blocks (B, H, W, 3) to descriptors; H and W must be multiples of 4."""
    parts: dict[str, list[np.ndarray]] = {name: [] for name in
                                          ("thumbs", "hists", "picture_fraction", "uniform", "luma")}
    layouts = []
    for block in blocks:
        described, layout = _describe_block(block, config)
        for name, value in described.items():
            parts[name].append(value)
        layouts.append(layout)
    if not parts["luma"]:
        empty = np.zeros(0, np.float32)
        return FrameDescriptors(fps, np.zeros((0, 1, 1), np.float32), np.zeros((0, _BINS ** 3), np.float16),
                                empty, empty, empty, LayoutProfiles.empty())
    return FrameDescriptors(fps, **{name: np.concatenate(values) for name, values in parts.items()},
                            layout=LayoutProfiles.concatenate(layouts))


def _describe_block(block: np.ndarray, config: BoundaryConfig) -> tuple[dict[str, np.ndarray], LayoutProfiles]:
    count, height, width, _ = block.shape
    luma = block.astype(np.float32) @ _LUMA  # (B, H, W)
    thumbs = luma.reshape(count, height // _POOL, _POOL, width // _POOL, _POOL).mean(axis=(2, 4))
    spread = config.uniform_luma_spread

    # Borders, found on the thumbnails: uniform rows / columns (85% of their cells near their
    # median, so a watermark in a bar does not break it) touching the frame edge.
    col_uniform = (np.abs(thumbs - np.median(thumbs, axis=1, keepdims=True)) <= spread).mean(axis=1) >= 0.85
    row_uniform = (np.abs(thumbs - np.median(thumbs, axis=2, keepdims=True)) <= spread).mean(axis=2) >= 0.85
    left, right = _edge_run(col_uniform) * _POOL, _edge_run(col_uniform[:, ::-1]) * _POOL
    top, bottom = _edge_run(row_uniform) * _POOL, _edge_run(row_uniform[:, ::-1]) * _POOL
    cols, rows = np.arange(width), np.arange(height)
    inside = ((cols[None, :] >= left[:, None]) & (cols[None, :] < (width - right)[:, None]))[:, None, :] & \
             ((rows[None, :] >= top[:, None]) & (rows[None, :] < (height - bottom)[:, None]))[:, :, None]
    picture_fraction = inside.mean(axis=(1, 2))

    # Joint colour bin per pixel (uint16, one bincount per frame: faster than one over the block with frame offsets).
    shift = int(np.log2(_BINS))
    quantised = block >> _BIN_SHIFT
    colour = (quantised[..., 0].astype(np.uint16) << 2 * shift) | (quantised[..., 1].astype(np.uint16) << shift) \
        | quantised[..., 2]
    size = _BINS ** 3
    whole = np.stack([np.bincount(frame.ravel(), minlength=size) for frame in colour])
    picture = np.stack([whole[i] if mask.all() else np.bincount(colour[i][mask], minlength=size)
                        for i, mask in enumerate(inside)])
    # A frame with no picture area left (all uniform) keeps its whole-frame histogram.
    empty = picture.sum(axis=1) == 0
    picture[empty] = whole[empty]
    hists = picture / picture.sum(axis=1, keepdims=True)

    median = np.median(thumbs.reshape(count, -1), axis=1)
    uniform = (np.abs(thumbs - median[:, None, None]) <= spread).mean(axis=(1, 2))
    return {"thumbs": (thumbs / 255.0).astype(np.float32), "hists": hists.astype(np.float16),
            "picture_fraction": picture_fraction.astype(np.float32), "uniform": uniform.astype(np.float32),
            "luma": luma.mean(axis=(1, 2)).astype(np.float32)}, LayoutProfiles.of_block(luma, config)


def _edge_run(flags: np.ndarray) -> np.ndarray:
    """Length of the leading run of True per row of ``flags`` (B, L); a fully True row counts as 0."""
    first_false = np.argmin(flags, axis=1)
    full = flags.all(axis=1)
    return np.where(full, 0, first_false)


def change(desc: FrameDescriptors, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """How different frames ``a`` and ``b`` look, ~1 for a typical cut (mean of colour and thumbnail terms)."""
    hist = 0.5 * np.abs(desc.hists[a].astype(np.float32) - desc.hists[b].astype(np.float32)).sum(axis=1)
    area = np.maximum(np.maximum(desc.picture_fraction[a], desc.picture_fraction[b]), 0.2)
    pixel = np.abs(desc.thumbs[a] - desc.thumbs[b]).mean(axis=(1, 2)) / area
    return 0.5 * hist / _TYPICAL_HIST_CHANGE + 0.5 * pixel / _TYPICAL_PIXEL_CHANGE


def compute_signals(desc: FrameDescriptors, fine: np.ndarray, fine_fps: float, config: BoundaryConfig) -> VisualSignals:
    """Signals from the descriptors, plus the step changes of the fine luma stream (M, h, w) uint8."""
    n = len(desc)
    fps = desc.fps
    cut = np.zeros(n, np.float32)
    still = np.zeros(n, np.float32)
    if n > 1:
        index = np.arange(1, n)
        cut[1:] = change(desc, index - 1, index)
        # The largest thumbnail change: a still picture changes nowhere, a dancer somewhere.
        still[1:] = np.abs(desc.thumbs[1:] - desc.thumbs[:-1]).max(axis=(1, 2))
    context = _rolling_median_excluding(cut, max(2, int(round(fps))), exclude=1)

    k = max(1, int(round(config.dissolve_half_window_s * fps)))
    span = np.zeros(n, np.float32)
    dissolve = np.zeros(n, np.float32)
    if n > 2 * k:
        centre = np.arange(k, n - k)
        span[centre] = change(desc, centre - k, centre + k)
        largest_step = _rolling_max(cut, 2 * k)  # largest step in (i-k, i+k]
        dissolve[centre] = np.maximum(0.0, span[centre] - largest_step[centre + k])

    # Inside a dissolve every frame is a mix of its neighbours; in motion the middle frame is a new
    # sharp picture, not the double exposure of the two around it.
    b = max(1, int(round(_BLEND_HALF_WINDOW_S * fps)))
    blend = np.zeros(n, np.float32)
    if n > 2 * b:
        centre = np.arange(b, n - b)
        before, middle, after = desc.thumbs[centre - b], desc.thumbs[centre], desc.thumbs[centre + b]
        error = np.abs(middle - (before + after) / 2).mean(axis=(1, 2))
        half_change = np.abs(after - before).mean(axis=(1, 2)) / 2
        # Where almost nothing changes (a still shot) every frame is trivially "a mix": no evidence.
        blend[centre] = np.where(half_change >= _BLEND_MIN_CHANGE, 1.0 - error / (half_change + 1e-3), 0.0)

    blank = desc.uniform >= config.uniform_fraction
    stillish = np.zeros(n, bool)
    if n > 1:
        quiet = still <= config.still_threshold
        stillish[1:] |= quiet[1:]
        stillish[:-1] |= quiet[1:]
    card = _runs_at_least(stillish & ~blank, int(np.ceil(config.card_min_s * fps)))
    fine_change = np.zeros(len(fine), np.float32)
    if len(fine) > 1:
        fine_change[1:] = np.abs(np.diff(fine.astype(np.int16), axis=0)).mean(axis=(1, 2)) / 255.0
    return VisualSignals(fps, cut, context.astype(np.float32), span, dissolve, blend, b, blank, card, still,
                         fine_fps, fine_change, desc.hists, desc.layout)


def _rolling_max(values: np.ndarray, width: int) -> np.ndarray:
    """out[j] = max(values[j-width+1 .. j]) (trailing window)."""
    padded = np.concatenate([np.full(width - 1, -np.inf, values.dtype), values])
    windows = np.lib.stride_tricks.sliding_window_view(padded, width)
    return windows.max(axis=1)


def _rolling_median_excluding(values: np.ndarray, half: int, exclude: int) -> np.ndarray:
    """Median of values[i-half .. i+half] without values[i-exclude .. i+exclude] (the motion level around i)."""
    n = len(values)
    if n == 0:
        return values.copy()
    padded = np.concatenate([np.full(half, np.nan), values.astype(np.float64), np.full(half, np.nan)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1).copy()
    windows[:, half - exclude: half + exclude + 1] = np.nan
    with np.errstate(all="ignore"):
        result = np.nanmedian(windows, axis=1)
    return np.nan_to_num(result, nan=0.0)


def _runs_at_least(mask: np.ndarray, length: int) -> np.ndarray:
    """Keep only runs of True at least ``length`` long."""
    out = np.zeros_like(mask)
    for start, stop in true_runs(mask):
        if stop - start >= length:
            out[start:stop] = True
    return out


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of every run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))
