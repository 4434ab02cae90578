"""Settings of the clip-boundary detector.

Thresholds were calibrated on ``bench/segment.py --split calibration`` (seeds 100+, videos and
songs that the benchmark split never uses); see that script's docstring. Picture measures are on
a 0-1 scale (histogram distances are total-variation distances between colour histograms,
picture differences are mean absolute luma differences / 255), audio measures are kernel
two-sample statistics (MMD) between the second before and the second after a candidate.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class BoundaryConfig:
    # --- what a clip is ----------------------------------------------------------------------
    # Clips shorter than this (less ``min_clip_slack_s``, which absorbs the frame step) are merged
    # into a neighbour by removing their weaker boundary.
    min_clip_s: float = 3.0
    min_clip_slack_s: float = 0.25

    # --- decoding ----------------------------------------------------------------------------
    # One analysed frame per 1/analysis_fps seconds, scaled so its longer side is analysis_long_side.
    analysis_fps: float = 10.0
    analysis_long_side: int = 128
    # Skip in-loop deblocking and non-reference frames when decoding (about 2x faster, thumbnails
    # look the same).
    fast_decode: bool = True
    audio_sample_rate: int = 11025

    # --- picture -----------------------------------------------------------------------------
    # A hard cut: the change between two consecutive analysed frames (mean of the colour-histogram
    # distance and the thumbnail difference, each scaled to its typical value at a cut) is at least
    # this, and at least ``cut_contrast`` times the median change of the surrounding second.
    hard_cut_threshold: float = 0.5
    cut_contrast: float = 3.0
    # A hard cut this weak (a cut between two shots of one room) needs a clear song change.
    weak_cut_threshold: float = 0.25
    # Dissolves / cross-fades: the change between the frames ``dissolve_half_window_s`` before and
    # after a point, less the largest single step in between (what no cut explains), at least
    # dissolve_threshold, where the frames in the middle are mixes of the pictures around them
    # (blend: 1 = a perfect mix) by at least dissolve_blend. Weak dissolves (a cross-fade between
    # two similar pictures) pass the weak_* gates and need a larger song change.
    dissolve_threshold: float = 0.45
    dissolve_blend: float = 0.57
    weak_dissolve_threshold: float = 0.2
    weak_dissolve_blend: float = 0.45
    dissolve_half_window_s: float = 0.5
    # Black / uniform frames: this share of pixels within ``uniform_luma_spread`` of the median.
    uniform_fraction: float = 0.95
    uniform_luma_spread: float = 12.0
    # Title cards: a picture that stays still (no thumbnail pixel changes by more than
    # ``still_threshold`` per step) for ``card_min_s``. Dance footage never does: on the calibration
    # set no clip stayed that still for more than one step, cards change by at most 0.001.
    still_threshold: float = 0.006
    card_min_s: float = 0.5

    # --- sound -------------------------------------------------------------------------------
    # Seconds of audio compared on each side of a candidate (less a 0.1 s guard at the cut).
    audio_window_s: float = 1.0
    # A cut is a boundary when the sound changes with it: splice score (how abruptly the spectrum
    # changes exactly at the cut, as a z-score against the seconds around) + song_change_weight x
    # song change (MMD of the second before vs the second after) reaches cut_audio_threshold
    # (weak_cut_audio_threshold for weak cuts); a dissolve needs a song change of
    # dissolve_song_change_threshold (its sound cross-fades too, so there is no splice).
    song_change_weight: float = 2.0
    cut_audio_threshold: float = 2.8
    weak_cut_audio_threshold: float = 5.0
    dissolve_song_change_threshold: float = 0.3
    weak_dissolve_song_change_threshold: float = 0.45
    # A cut whose next 2 s replay the 2 s after the current clip's start (log-mel correlation, best
    # shift within 0.75 s) is a boundary: the song restarts, as when two clips share a song.
    restart_correlation: float = 0.97
    # A gap this quiet (dBFS, 0.2 s RMS) at a cut is a boundary by itself.
    silence_dbfs: float = -45.0

    def __post_init__(self) -> None:
        if self.min_clip_s < 0:
            raise ValueError(f"min_clip_s must be >= 0, got {self.min_clip_s}")
        if not 1.0 <= self.analysis_fps <= 60.0:
            raise ValueError(f"analysis_fps must be within 1..60, got {self.analysis_fps}")
        if self.analysis_long_side < 32:
            raise ValueError(f"analysis_long_side must be >= 32, got {self.analysis_long_side}")
        if self.audio_sample_rate < 4000:
            raise ValueError(f"audio_sample_rate must be >= 4000 Hz, got {self.audio_sample_rate}")
