"""Alignment check: keep only hash hits that agree on one time scale, pitch shift and time offset.

A hash hit pairs a query quad with a stored quad. Its spans give the time scale
(``log2(span_q / span_r)``), its anchor frequencies the pitch shift (``f_q - f_r``). Hits of the same
recording vote in a grid over (scale, pitch), counted over 2x2 windows so a true alignment that
straddles a cell border is not split. The winning window of each recording is then checked in time:
with the scale s of its votes, every hit names the reference time at which the query starts
(``t_r - t_q / s``); the hits that agree within ``offset_tolerance_s`` on that (after a least-squares
refit of scale and offset) are the inliers. Their number of distinct anchors (query and reference
side, the smaller; one repeated note cannot make a candidate alone) is the candidate's ``score``.

Candidates are then judged on their peaks (``check_peaks``): how many query peaks the alignment puts
on a stored peak, what share of the compared peaks that is, and how far above the chance level of
that pair of recordings (the same count at shifted alignments). ``passes`` is the decision.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tiktok_dm.songs.config import SongsConfig
from tiktok_dm.songs.fingerprint import Peaks, Quads


@dataclasses.dataclass(frozen=True)
class Match:
    """A candidate alignment of a query with one stored recording (and, once checked, its peak counts)."""

    item: int
    score: int  # distinct anchors of the agreeing hash hits
    # How much faster the query plays than the stored recording (1.25: sped up by 25 %).
    speed: float
    # Pitch of the query minus pitch of the stored recording, in semitones.
    pitch_shift: float
    # Where the query starts in the stored recording, in seconds (negative: before its start).
    offset_s: float
    # Peak check (filled by ``check_peaks``): query peaks inside the stored recording's time range
    # once aligned, and how many of them land on a stored peak.
    peaks_compared: int = 0
    peaks_matched: int = 0
    peaks_null: float = 0.0

    @property
    def peak_ratio(self) -> float:
        return self.peaks_matched / self.peaks_compared if self.peaks_compared else 0.0

    @property
    def significance(self) -> float:
        """How far the matched count stands above chance, in binomial standard deviations."""
        chance = min(max(self.peaks_null, 0.01), 0.99)
        expected = self.peaks_compared * chance
        return (self.peaks_matched - expected) / np.sqrt(max(expected * (1 - chance), 1e-9))


@dataclasses.dataclass(frozen=True)
class Hits:
    """Hash hits of one query: the query quad and the stored quad's item and position."""

    quad: np.ndarray  # int64 index into the query's Quads (anchor_time, span, anchor_freq)
    item: np.ndarray  # int64
    time: np.ndarray  # float32 frames
    span: np.ndarray  # float32 frames
    freq: np.ndarray  # float32 semitones


def verify(query: Quads, hits: Hits, config: SongsConfig, min_score: int, max_candidates: int = 40) -> list[Match]:
    """Matches with a score of at least ``min_score``, best first (at most one per item)."""
    if hits.item.size == 0:
        return []
    log_scale = np.log2(query.span[hits.quad] / np.maximum(hits.span, 1e-3))
    pitch = query.anchor_freq[hits.quad] - hits.freq
    scale_limit = float(np.log2(config.max_time_scale))
    plausible = (np.abs(log_scale) <= scale_limit) & (np.abs(pitch) <= config.max_pitch_semitones)
    if not plausible.any():
        return []
    keep = np.nonzero(plausible)[0]
    log_scale, pitch = log_scale[keep], pitch[keep]
    item = hits.item[keep]
    # Grid cells, with one spare cell on each side so the 2x2 window never wraps into another row.
    n_scale = int(np.ceil(2 * scale_limit / config.scale_bin)) + 3
    n_pitch = int(np.ceil(2 * config.max_pitch_semitones / config.pitch_bin)) + 3
    scale_cell = ((log_scale + scale_limit) / config.scale_bin).astype(np.int64) + 1
    pitch_cell = ((pitch + config.max_pitch_semitones) / config.pitch_bin).astype(np.int64) + 1
    keys = (item * n_scale + scale_cell) * n_pitch + pitch_cell
    cells, counts = np.unique(keys, return_counts=True)
    window = counts.copy()
    for step in (1, n_pitch, n_pitch + 1):  # the cells at (+0,+1), (+1,+0), (+1,+1)
        position = np.minimum(np.searchsorted(cells, cells + step), cells.size - 1)
        found = cells[position] == cells + step
        window[found] += counts[position[found]]
    candidates = np.nonzero(window >= min_score)[0]
    if candidates.size == 0:
        return []
    # Best window per item, then the strongest items first.
    cand_item = cells[candidates] // (n_scale * n_pitch)
    order = np.lexsort((-window[candidates], cand_item))
    first = np.ones(order.size, dtype=bool)
    first[1:] = cand_item[order][1:] != cand_item[order][:-1]
    best = candidates[order[first]]
    best = best[np.argsort(-window[best], kind="stable")][:max_candidates]
    # Hits inside the winning window of their item; group g = the g-th candidate.
    rest, window_pitch = np.divmod(cells[best], n_pitch)
    window_item, window_scale = np.divmod(rest, n_scale)
    order = np.argsort(window_item)
    position = np.minimum(np.searchsorted(window_item[order], item), order.size - 1)
    group = order[position]
    member = (window_item[group] == item) & (scale_cell >= window_scale[group]) \
        & (scale_cell <= window_scale[group] + 1) & (pitch_cell >= window_pitch[group]) \
        & (pitch_cell <= window_pitch[group] + 1)
    rows = np.nonzero(member)[0]
    matches = _check_offsets(query, hits, keep[rows], log_scale[rows], pitch[rows], group[rows],
                             window_item, config)
    matches = [m for m in matches if m.score >= min_score]
    matches.sort(key=lambda m: (-m.score, m.item))
    return matches


def _group_median(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Lower median of ``values`` per group (NaN for an empty group)."""
    order = np.lexsort((values, group))
    counts = np.bincount(group, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    middle = np.where(counts > 0, starts + (counts - 1) // 2, 0)
    median = values[order][middle] if values.size else np.zeros(n_groups)
    return np.where(counts > 0, median, np.nan)


def _best_pair_of_cells(cell: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Per group, the cell c whose pair (c, c+1) holds the most values."""
    keys = group.astype(np.int64) * (1 << 40) + (cell + (1 << 39))
    unique, counts = np.unique(keys, return_counts=True)
    nxt = np.minimum(np.searchsorted(unique, unique + 1), unique.size - 1)
    pair = counts + np.where(unique[nxt] == unique + 1, counts[nxt], 0)
    owner = unique >> 40
    order = np.lexsort((-pair, owner))
    first = np.ones(order.size, bool)
    first[1:] = owner[order][1:] != owner[order][:-1]
    best = np.zeros(n_groups, np.int64)
    best[owner[order][first]] = (unique[order][first] & ((1 << 40) - 1)) - (1 << 39)
    return best


def _check_offsets(query: Quads, hits: Hits, rows: np.ndarray, log_scale: np.ndarray, pitch: np.ndarray,
                   group: np.ndarray, items: np.ndarray, config: SongsConfig) -> list[Match]:
    """Per candidate (group): the hits agreeing on one time offset, a line refit, the distinct anchors."""
    n_groups = items.size
    frames_per_s = config.sample_rate / config.hop_length
    tolerance = config.offset_tolerance_s * frames_per_s
    t_query = query.anchor_time[hits.quad[rows]].astype(np.float64)
    t_ref = hits.time[rows].astype(np.float64)
    scale = 2.0 ** _group_median(log_scale, group, n_groups)
    start = t_ref - t_query / scale[group]  # reference frame at which the query starts
    cell = np.floor(start / tolerance).astype(np.int64)
    top = _best_pair_of_cells(cell, group, n_groups)
    inlier = (cell >= top[group]) & (cell <= top[group] + 1)
    # Least-squares line t_ref = slope * t_query + intercept through each group's inliers, refit twice
    # (the second fit uses what lies near the first line).
    fallback_start = _group_median(start[inlier], group[inlier], n_groups)
    fitted = np.zeros(n_groups, bool)
    slope, intercept = 1.0 / scale, fallback_start
    for _ in range(2):
        weight = inlier.astype(np.float64)
        n = np.bincount(group, weight, n_groups)
        sx, sy = np.bincount(group, weight * t_query, n_groups), np.bincount(group, weight * t_ref, n_groups)
        sxx = np.bincount(group, weight * t_query ** 2, n_groups)
        sxy = np.bincount(group, weight * t_query * t_ref, n_groups)
        with np.errstate(divide="ignore", invalid="ignore"):
            new_slope = (n * sxy - sx * sy) / (n * sxx - sx ** 2)
            new_intercept = (sy - new_slope * sx) / n
            spread = np.sqrt(np.maximum(sxx / n - (sx / n) ** 2, 0))
        ok = (n >= 3) & (spread > tolerance) & (new_slope >= 1 / config.max_time_scale) \
            & (new_slope <= config.max_time_scale)
        fitted |= ok
        slope, intercept = np.where(ok, new_slope, slope), np.where(ok, new_intercept, intercept)
        refit = np.abs(t_ref - (slope[group] * t_query + intercept[group])) <= tolerance
        inlier = np.where(fitted[group], refit, inlier)
    anchors = query.anchor[hits.quad[rows]]
    distinct_query = _distinct_per_group(anchors[inlier], group[inlier], n_groups)
    distinct_ref = _distinct_per_group(np.round(t_ref[inlier] * 8).astype(np.int64), group[inlier], n_groups)
    pitch_median = _group_median(pitch[inlier], group[inlier], n_groups)
    return [Match(item=int(items[g]), score=int(min(distinct_query[g], distinct_ref[g])), speed=float(slope[g]),
                  pitch_shift=float(pitch_median[g]), offset_s=float(intercept[g] / frames_per_s))
            for g in range(n_groups) if distinct_query[g] > 0]


def _distinct_per_group(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    if values.size == 0:
        return np.zeros(n_groups, np.int64)
    pairs = np.unique(np.stack([group.astype(np.int64), values.astype(np.int64)]), axis=1)
    return np.bincount(pairs[0], minlength=n_groups)


def check_peaks(match: Match, query: Peaks, stored: Peaks, config: SongsConfig) -> Match:
    """Count the query peaks that, mapped by the match's alignment, land on a stored peak.

    A true match maps a large share of the query's peaks onto stored ones (what survives the
    transformations). Chance does too, a little, and more in sustained tonal passages, so the same
    count is also made with the alignment moved by a few seconds (``null_shifts_s``): the mean share
    there is the chance level this very pair of recordings reaches (``peaks_null``).
    """
    frames_per_s = config.sample_rate / config.hop_length
    time = match.speed * query.time.astype(np.float64) + match.offset_s * frames_per_s
    shifts = np.concatenate([[0.0], np.asarray(config.null_shifts_s, np.float64)]) * frames_per_s
    matched, compared = _agreement(time[None, :] + shifts[:, None], query.freq - match.pitch_shift, stored,
                                   config.peak_time_tolerance_s * frames_per_s, config.peak_freq_tolerance)
    usable = compared[1:] >= np.maximum(4, compared[0] // 3)
    null = float(np.mean(matched[1:][usable] / compared[1:][usable])) if usable.any() else 0.0
    return dataclasses.replace(match, peaks_compared=int(compared[0]), peaks_matched=int(matched[0]),
                               peaks_null=null)


def _agreement(times: np.ndarray, freq: np.ndarray, stored: Peaks, tolerance: float,
               freq_tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``times`` (alignments x query peaks): query peaks with a stored peak within the
    tolerances, and query peaks inside the stored recording's time range."""
    rows = times.shape[0]
    if stored.time.size == 0:
        return np.zeros(rows, np.int64), np.zeros(rows, np.int64)
    inside = (times >= stored.time[0] - 1) & (times <= stored.time[-1] + 1)
    flat_time = times.ravel()
    flat_freq = np.broadcast_to(freq, times.shape).ravel()
    lo = np.searchsorted(stored.time, flat_time - tolerance, "left")
    hi = np.searchsorted(stored.time, flat_time + tolerance, "right")
    width = int((hi - lo).max(initial=0))
    near = np.zeros(flat_time.size, bool)
    for k in range(width):  # a few stored peaks at most fall within the time tolerance
        column = np.minimum(lo + k, stored.time.size - 1)
        near |= (lo + k < hi) & (np.abs(stored.freq[column] - flat_freq) <= freq_tolerance)
    near = near.reshape(times.shape) & inside
    return near.sum(axis=1), inside.sum(axis=1)


def inverse(match: Match) -> Match:
    """The same alignment seen from the stored recording (for checking a match in both directions)."""
    return dataclasses.replace(match, speed=1.0 / match.speed, pitch_shift=-match.pitch_shift,
                               offset_s=-match.offset_s / match.speed, peaks_compared=0, peaks_matched=0,
                               peaks_null=0.0)


def passes(match: Match, min_score: int, min_ratio: float, min_significance: float) -> bool:
    """The decision: enough peaks agree, a large enough share of them, and far above chance."""
    return (match.peaks_matched >= min_score and match.peak_ratio >= min_ratio
            and match.significance >= min_significance)
