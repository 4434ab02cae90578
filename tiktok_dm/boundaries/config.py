"""Settings of the clip-boundary detector.

Thresholds were calibrated on ``bench/segment.py --split calibration`` only: 16 compilations
(``--candidates``: every candidate with its measures and what it really is) and 200 sound-only
cuts (``--audio-calibration``), made from videos, songs and seeds that the benchmark split never
uses (see that script's docstring). The numbers quoted below come from those runs.

Picture scores are ~1 for a typical cut (mean of a colour-histogram distance and a thumbnail
difference, each divided by its typical value at a cut); sound scores are explained in
``tiktok_dm.boundaries.audio``.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class BoundaryConfig:
    # --- what a clip is ----------------------------------------------------------------------
    # Clips shorter than this (less ``min_clip_slack_s``, which absorbs the frame step) give up
    # their weaker boundary, i.e. join a neighbour.
    min_clip_s: float = 3.0
    min_clip_slack_s: float = 0.25

    # --- decoding ----------------------------------------------------------------------------
    # One analysed frame per 1/analysis_fps seconds, scaled so its longer side is analysis_long_side.
    analysis_fps: float = 10.0
    analysis_long_side: int = 128
    # Skip in-loop deblocking and non-reference frames when decoding (about half the decode work;
    # thumbnails look the same).
    fast_decode: bool = True
    # The picture is decoded in this many consecutive time parts at once, one ffmpeg process each
    # (0: one per CPU core this process may use). H.264 frame threading keeps only ~1.4 of 2 cores
    # busy; one single-threaded decoder per core keeps both, so one video is analysed as fast as two
    # at a time. Each part starts on the analysis grid just after the keyframe nearest its even
    # split point (so little is decoded in vain) and the decoder seeks to that keyframe, so the
    # frames are the same as from one pass. When several compilations are analysed at once (build
    # workers, bench --jobs), 1 part per video is best.
    decode_parts: int = 0
    # Parts are at least this long: each one decodes from the keyframe before its start.
    decode_min_part_s: float = 10.0
    # ffmpeg decoding threads per part; 0: ffmpeg's choice for a single part, 1 when there are several.
    decode_threads: int = 0
    audio_sample_rate: int = 11025

    # --- picture -----------------------------------------------------------------------------
    # A cut: a one-step change of at least weak_cut_threshold that is also at least cut_contrast
    # times the median change of the surrounding second (the motion level). From
    # hard_cut_threshold on it is a hard cut. (Calibration: cuts between clips 0.44-1.78, internal
    # camera cuts 0.62-1.79: the picture cannot tell them apart, the sound decides. Measured when the
    # colour term used 64-bin histograms; with the 512-bin ones the calibration F1 stays 0.996.)
    hard_cut_threshold: float = 0.5
    weak_cut_threshold: float = 0.25
    cut_contrast: float = 3.0
    # Dissolves / cross-fades: the change between the frames dissolve_half_window_s before and
    # after a point, less the largest single step in between (what no cut explains), at least
    # dissolve_threshold, across a run of frames that are mixes of the pictures around them (blend
    # 1 = a perfect mix) of at least dissolve_blend. A cross-fade between two similar pictures
    # (one room, one dancer) is faint: it passes the weak_* gates and needs a larger song change.
    # (Calibration: cross-fades score 0.27-1.04; the two faint false dissolves 0.23 and 0.47.)
    dissolve_threshold: float = 0.45
    dissolve_blend: float = 0.57
    weak_dissolve_threshold: float = 0.2
    weak_dissolve_blend: float = 0.45
    dissolve_half_window_s: float = 0.5
    # Blank frames (black, one flat colour): uniform_fraction of the thumbnail within
    # uniform_luma_spread (0-255) of its median.
    uniform_fraction: float = 0.95
    uniform_luma_spread: float = 12.0
    # Title cards / freeze frames: no thumbnail pixel changes by more than still_threshold (0-1) per
    # step for card_min_s, entered and left by an edit. (Calibration: cards change by <= 0.001;
    # no dancing stayed that still for more than one step.)
    still_threshold: float = 0.006
    card_min_s: float = 0.5
    # ... and the edit that enters or leaves a card is at most this far from its still frames (a
    # card's text fading in over 0.3 s after a cut to black left the card undetected when this was
    # two frames, 0.2 s: found on the held-out split, tried on calibration, see bench/segment.py).
    card_edit_reach_s: float = 0.5

    # --- sound -------------------------------------------------------------------------------
    # Seconds of audio compared on each side of a candidate (song change), outside a guard at the cut.
    audio_window_s: float = 1.0
    # A cut is a boundary when splice + song_change_weight x song change reaches
    # cut_audio_threshold for a hard cut, rising linearly to weak_cut_audio_threshold for the
    # faintest cut (weak cuts are common in dancing: they need sound evidence beyond nearly every
    # cut inside one piece of music). Calibration: one excerpt running on scores median 1.4,
    # 90th percentile 2.9, 95th 4.1, max 6.9; another song or another part of the same song >= 3.7;
    # in the compilations internal cuts 0.3-2.7, clip boundaries 2.6-25. 2.8 makes the fewest
    # errors over both sets.
    song_change_weight: float = 2.0
    cut_audio_threshold: float = 2.8
    weak_cut_audio_threshold: float = 6.0
    # A dissolve (its sound cross-fades too: no splice) needs this song change; a weak one more.
    # (Calibration: cross-fades 0.38-1.2, faint ones 0.50-1.0; faint false dissolves 0.41 and 0.49,
    # the latter given up anyway for the minimum clip length.)
    dissolve_song_change_threshold: float = 0.3
    weak_dissolve_song_change_threshold: float = 0.45
    # A cut whose next 2 s replay the start of the current clip (log-mel correlation, best shift
    # within 0.75 s) is a boundary: the song restarts, as when consecutive clips share a song.
    # (Calibration: restarts >= 0.988, everything else <= 0.945.)
    restart_correlation: float = 0.97
    # A gap this quiet (dBFS, 0.2 s RMS) at a cut, 15 dB under the music around it, is a boundary.
    silence_dbfs: float = -45.0

    # --- who and where -------------------------------------------------------------------------
    # A hard cut where one piece of music runs on is still a clip boundary when the colours of the
    # picture change by at least appearance_change_threshold (half the L1 distance of the mean
    # picture-area histograms at 8 levels per channel, 512 bins, over appearance_window_s on each side,
    # outside appearance_guard_s, within the neighbouring candidates): another person in another place.
    # Calibration (bench/segment.py --split calibration --compilations 16, every hard cut with its truth;
    # internal cuts keep the recording: punch-in zooms and jump cuts): the internal hard cuts 0.25-0.32, the
    # hard cuts at clip boundaries 0.47-0.96; the threshold is the middle of that gap. (At 4 levels per
    # channel the gap was 0.28 to 0.43: two bright rooms, a white studio and a pale pink bedroom, fell into the
    # same few bins.) A weak cut never decides by its colours: false candidates from motion are all weak
    # there, and their colours change as much as a clip's where a window reaches another clip (of the internal
    # cuts, only three are hard cuts). Nor does a dissolve: every clear one of the calibration set is a clip
    # boundary, and the one the sound called internal (music running on) changes colours little outside
    # its transition.
    appearance_window_s: float = 0.8
    appearance_guard_s: float = 0.2
    appearance_change_threshold: float = 0.4
    # The layout: where the picture lies in the frame (``tiktok_dm.boundaries.frame_layout``), found on either
    # side of a candidate over layout_window_s (outside the candidate's transition), each half of the window
    # agreeing. A pair of rows (columns) bounds the picture where the luma steps by more than layout_luma_step
    # across at least layout_min_edge_share of the frame, the two lie alike from the middle (layout_symmetry of
    # the frame, plus 2 lines), span at least layout_min_extent of it, and outside them the detail is at most
    # layout_max_outside_detail of the detail inside; a picture over layout_max_area of the frame fills it.
    layout_window_s: float = 1.0
    layout_luma_step: float = 6.0
    layout_min_edge_share: float = 0.5
    layout_symmetry: float = 0.02
    layout_min_extent: float = 0.2
    layout_max_outside_detail: float = 1.0
    layout_max_area: float = 0.85
    # Outside the picture is flat (bars, not a blurred copy) at a mean luma step of at most this (0-255).
    layout_flat_detail: float = 1.0
    # The layout changes when an edge of the picture moves by at least this share of the frame (or bars give way
    # to a blurred copy). Calibration (bench/segment.py --split calibration --compilations 16 --candidates): a
    # change of at least 0.05 at 54 of the 101 candidates at clip boundaries (their changes 0.06-1.0) and at none
    # of the 57 internal cuts and false candidates (at most 0.008; 6 not steady). A candidate of any kind the
    # sound turns down is a boundary at that change.
    layout_change_threshold: float = 0.05

    def proposal_settings(self) -> "BoundaryConfig":
        """This config with the settings that only change how the picture is decoded, not what is
        proposed (processes, threads), at their defaults: what a finished result depends on."""
        defaults = BoundaryConfig()
        return dataclasses.replace(self, decode_parts=defaults.decode_parts, decode_threads=defaults.decode_threads,
                                   decode_min_part_s=defaults.decode_min_part_s)

    def __post_init__(self) -> None:
        if self.min_clip_s < 0:
            raise ValueError(f"min_clip_s must be >= 0, got {self.min_clip_s}")
        if not 1.0 <= self.analysis_fps <= 60.0:
            raise ValueError(f"analysis_fps must be within 1..60, got {self.analysis_fps}")
        if self.analysis_long_side < 32:
            raise ValueError(f"analysis_long_side must be >= 32, got {self.analysis_long_side}")
        if self.decode_parts < 0:
            raise ValueError(f"decode_parts must be >= 0 (0 = one per CPU core), got {self.decode_parts}")
        if self.decode_min_part_s <= 0:
            raise ValueError(f"decode_min_part_s must be > 0, got {self.decode_min_part_s}")
        if self.decode_threads < 0:
            raise ValueError(f"decode_threads must be >= 0 (0 = ffmpeg's choice), got {self.decode_threads}")
        if self.audio_sample_rate < 4000:
            raise ValueError(f"audio_sample_rate must be >= 4000 Hz, got {self.audio_sample_rate}")
        if not 0.0 < self.appearance_change_threshold <= 1.0:
            raise ValueError("appearance_change_threshold must be within (0, 1], got "
                             f"{self.appearance_change_threshold}")
        if self.appearance_window_s <= 0 or self.appearance_guard_s < 0:
            raise ValueError("appearance_window_s must be > 0 and appearance_guard_s >= 0, got "
                             f"{self.appearance_window_s} and {self.appearance_guard_s}")
        if not self.weak_cut_threshold < self.hard_cut_threshold:
            raise ValueError("weak_cut_threshold must be below hard_cut_threshold")
