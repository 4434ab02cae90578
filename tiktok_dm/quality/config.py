"""Typed settings of dataset QA, one dataclass per check, each value with where it came from.

The defaults were chosen on the two real clips with their own soundtrack in
``shared/testdata/real_dance`` (iper_akun_1: a man dribbling a basketball to a 129 BPM beat;
romp_sample_video2: aerobics repeating every 0.5 s over music at 161 BPM, not danced to it) and
on the synthetic demo clips; the measurements are in the docstrings of :mod:`tiktok_dm.quality.kinematic` and
:mod:`tiktok_dm.quality.alignment`. Values marked "convention" are round numbers, not fitted.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class KinematicConfig:
    """The main dancer's kinematic envelope and beats (see :mod:`tiktok_dm.quality.kinematic`)."""

    # Joints below this confidence are treated as missing (the pose stage's min_joint_confidence).
    min_confidence: float = 0.3
    # Gaussian smoothing of joint positions, in frames. 1 frame removes detector jitter while
    # keeping envelope peaks within a frame of the raw ones; 2 frames moved the offset found on
    # iper_akun_1 by 1-2 frames and made it jump between beat aliases.
    smooth_frames: float = 1.0
    # Kinematic beats are the local minima of the mean joint speed after a Gaussian of this many seconds: the
    # beat-alignment score's rule in AIST++/FACT and Bailando (a Gaussian of 5 frames at AIST++'s 60 fps), for
    # comparability with the literature, not fitted. bench/alignment.py, own soundtrack unshifted, aligned at
    # p_shuffled < 0.1 / swapped soundtracks aligned by chance: held-out 1/9 and 3/72 with this rule, 0/9 and 8/72
    # with the earlier peaks of the deceleration-plus-turning envelope; ../shared's three: 0/3 with either.
    beat_smooth_s: float = 0.083
    # Below this speed (body heights per second) a joint has no direction, so no "turn".
    min_speed: float = 0.05


@dataclasses.dataclass(frozen=True)
class MusicConfig:
    """Music beats (librosa.beat.beat_track) and onset strength (librosa.onset.onset_strength)."""

    # Hop of the onset envelope: 256 samples = 11.6 ms at 22050 Hz, a third of a video frame;
    # librosa's onset peaks land within one hop of the true onset (checked on clicks).
    hop_length: int = 256


@dataclasses.dataclass(frozen=True)
class AlignmentConfig:
    """Beat alignment score: share of kinematic beats within ``tolerance_s`` of a music beat."""

    # 0.1 s = 3 frames at 30 fps (convention; the window used by beat-hit scores in the
    # dance-generation literature is 2-4 frames).
    tolerance_s: float = 0.1
    # Random circular offsets of the kinematic beats for the shuffled baseline.
    baseline_shifts: int = 500
    seed: int = 0
    # Fewer kinematic or music beats than this: no score (too few events to mean anything).
    min_beats: int = 4
    # Other clips' music against this clip's kinematic beats (the cross baseline): at most this many.
    max_cross_clips: int = 20


@dataclasses.dataclass(frozen=True)
class OffsetConfig:
    """Audio-video offset: the lag that best correlates the kinematic envelope with the onset
    envelope (see :func:`tiktok_dm.quality.alignment.estimate_offset`)."""

    # Search range (the issue's +-0.5 s).
    max_offset_s: float = 0.5
    # A clip whose offset is further from 0 than this is flagged as likely out of sync. ITU-R
    # BT.1359 finds audio lagging video by up to 185 ms acceptable, and motion leads sound by a
    # content-dependent time (a dribbled ball sounds ~0.1-0.17 s after the hand stops, measured
    # on iper_akun_1), so 0.25 s.
    sync_tolerance_s: float = 0.25
    # Soft prior on the lag, exp(-lag^2 / (2 sigma^2)): with sigma 1 s it only breaks near-ties
    # between beat aliases in favour of the smaller offset (at 0.5 s a peak loses 12 %).
    prior_sigma_s: float = 1.0
    # Undetermined when the runner-up peak (at least min_separation_s away) reaches this share
    # of the best one: periodic dancing makes lags a beat period apart look alike. Measured on
    # the two real clips with shifts 0, +0.3, -0.2, +0.15, -0.35 s: correct peaks led their
    # runner-up at ratios 0.46-0.83, but wrong aliases also won at 0.69-0.75 (romp +0.3/+0.15,
    # iper +0.15/-0.35), so no ratio separates them on short periodic clips; 0.87 only rejects
    # near-ties. A determined offset on a strongly periodic clip is a lead, not a proof.
    max_alias_ratio: float = 0.87
    min_separation_s: float = 0.1
    # Undetermined when the best correlation is below this (no relation between motion and sound).
    min_peak_correlation: float = 0.05
    # Clips shorter than this many seconds plus the search range on both sides get no offset.
    min_overlap_s: float = 3.0
    # An offset needs evidence that the motion follows this sound: the best (prior-weighted) correlation over the
    # lags must beat the best the same motion reaches with the sound circularly shifted by relation_shifts random
    # amounts (at least max_offset_s + relation_margin_s from its place), with p = (1 + shifts scoring as well) /
    # (1 + relation_shifts) <= max_p_relation; else the clip reads "no relation". 0.05: the usual significance
    # level, not tuned. Measured: a body stopping at irregular moments with clicks there, p 0.005; real clips with
    # their own soundtracks (iper_akun_1, romp_sample_video2, cdcd_recons_gt, 5-10 s): p 0.2-0.9, no evidence.
    relation_shifts: int = 200
    relation_margin_s: float = 0.5
    max_p_relation: float = 0.05
    seed: int = 0
    # A determined offset is known only up to whole beats when the lag one beat period of the music away (60 / tempo)
    # lies inside the search range and fits at least this share as well as the best lag (prior-weighted): dancing to
    # periodic music repeats its fit every beat. Measured on five fetched videos of people dancing to their own
    # soundtrack (held-out, not in ../shared), shifted by +-0.3 s: the two offsets given were -0.133 and +0.167 s on a
    # 132-BPM clip, each one beat (0.453 s) from the truth, with the lag a beat away at 0.73 and 0.86 of the best.
    # 0.5 (convention: half as good) keeps the synthetic irregular stops, whose curve has no such repeat, exact.
    beat_alias_share: float = 0.5


@dataclasses.dataclass(frozen=True)
class AudioCheckConfig:
    """Loudness and silence of a clip's audio (RMS, not LUFS: no K-weighting)."""

    window_s: float = 0.4  # RMS window (the EBU R128 momentary window length)
    hop_s: float = 0.1
    # A window below this RMS level is silent; -50 dBFS is the cut stage's silent-clip level.
    silence_dbfs: float = -50.0
    # A silent stretch at least this long is reported; one is flagged (convention).
    min_silence_s: float = 1.0
    # Whole-clip RMS below this is flagged as too quiet (music mastered for streaming sits near
    # -14 LUFS; -35 dBFS RMS is ~20 dB below it; convention).
    min_loudness_dbfs: float = -35.0
    # Share of samples at full scale (|x| >= 0.999) above which the clip is flagged as clipped.
    max_clipped_share: float = 0.001


@dataclasses.dataclass(frozen=True)
class DurationCheckConfig:
    """Cut clip against its manifest span."""

    # Allowed |video duration - manifest span|: the larger of this many frames and seconds
    # (a frame-accurate cut is within one frame; AAC priming can add ~20 ms to audio).
    tolerance_frames: float = 2.0
    tolerance_s: float = 0.05
    # Allowed |audio duration - video duration|.
    max_av_difference_s: float = 0.1


@dataclasses.dataclass(frozen=True)
class PoseCheckConfig:
    """Pose coverage and main-dancer track (figures from tiktok_dm/pose/qa.py)."""

    # The main dancer must be in at least this share of the frames (the D2M motion arrays are
    # made from that track; gaps are filled by interpolation downstream; convention).
    min_main_track_share: float = 0.8


@dataclasses.dataclass(frozen=True)
class DuplicateConfig:
    """Duplicate clips by perceptual hashes (64-bit dHash) of frames sampled every ``step_s``."""

    step_s: float = 0.5
    # Two frames match when their hashes differ in at most this many of 64 bits. A 4-s piece of
    # iper_akun_1 cut, rescaled 1920->640 px and re-encoded at crf 30 stayed within 2 bits of
    # the original; the closest frames of two different clips among the 16 real clips of
    # shared/testdata/real_dance differ by 9 bits (no pair shares any frame within 8).
    max_hamming: int = 6
    # Clips are duplicates when at least this share of the shorter clip's frames match.
    min_matching_share: float = 0.6
    # Frames flatter than this (grey-level standard deviation) are skipped: black or white
    # frames and title cards hash alike in every clip.
    min_frame_std: float = 8.0
    min_frames: int = 3


@dataclasses.dataclass(frozen=True)
class RecordingConfig:
    """The same recording in two clips by the main dancer's motion (tiktok_dm.quality.recordings). Chosen on the
    calibration footage of bench/duplicates.py (8 real clips x 6 compilation layouts) and reported on its
    held-out footage (7 other clips, among them three AIST++ dancers in one studio)."""

    # Match clips at all (recordings.csv, the split's recording links, QA's flags). The demo turns it off: its
    # dancers are one drawn body moving by one formula, which a matcher of real dancers' motion cannot tell
    # apart (two of its four matched each other).
    enabled: bool = True
    # The pose stage runs at up to 15-30 frames per second; at 5 a re-upload trimmed by half a frame's time
    # compares poses 0.1 s apart (calibration recall 0.64 at 5 Hz, 0.79 at 15 Hz).
    rate_hz: float = 15.0
    # Joints below this confidence are not compared.
    min_confidence: float = 0.3
    # Two frames hold the same body configuration when the median distance of their body joint pairs is at most
    # this (in shoulder widths, each frame centred between the shoulders): a re-encoded, rescaled copy stays
    # within ~0.05-0.1, a mirrored breakdance within ~0.4.
    max_pose_distance: float = 0.4
    # Clips are the same recording when at least this share of the frames compared at the best offset agree ...
    min_matching_share: float = 0.5
    # ... over at least this long (frames seen in both), and at least this share of the shorter clip's seen frames.
    min_overlap_s: float = 1.5
    min_overlap_share: float = 0.5
    # ... and the joints' paths about their means over those frames correlate at least this much (calibration:
    # 0.7 kept precision 1.00 and gave recall 0.84; 0.9 gave 0.69) ...
    min_correlation: float = 0.7
    # ... with at least this much motion (RMS per coordinate of the joints about their mean place, shoulder widths):
    # the pose detector's own noise between two layouts of one recording (calibration median 0.06 per joint, 0.04
    # per coordinate); below it a correlation says nothing.
    min_motion: float = 0.04
    # Besides the main dancer (gaps filled from other tracks), each of this many best-scoring tracks alone is compared
    # (tiktok_dm.quality.recordings.motion_signatures): with two people in a video the fill may be the other person,
    # and another layout or stretch may make the other one the main dancer. A cap on the cost (pairs of clips cost up
    # to (1 + max_people)^2 comparisons), not a tuned value.
    max_people: int = 2
    # Processes comparing the pairs of clips (forked; the results do not depend on it).
    workers: int = 2
    # Offsets tried in full: those where most frames agree (the right one was not among the top 3 for some
    # layouts: calibration recall 0.84 with 3, 0.91 with 10, precision 1.00 both).
    candidate_offsets: int = 10
    # Clips that share a stretch of sound are also compared at the alignment the sound gives (the build's audio
    # links), give or take sound_offset_slack_s (the fingerprint's offset is good to ~0.1 s), with the limits below;
    # links of clips played at another speed (by more than sound_max_speed_change) are not used. Chosen on the
    # calibration set of bench/recordings_build.py (15 clips, 9 pairs of one recording, 6 pairs of other recordings
    # to the same sound): precision 1.000 at every limit of its sweep; correlation 0.6 gave recall 0.667, 0.7 0.556;
    # the share (0.3-0.5) and the motion floor (0-0.04) changed nothing there. No floor on the motion: it guards the
    # search over offsets against a chance correlation, and here no offset is searched (the dancer who barely moves
    # in a close-up is why this path exists); the correlation at the sound's alignment is the test.
    sound_anchored: bool = True
    sound_offset_slack_s: float = 0.2
    sound_max_speed_change: float = 0.02
    sound_min_matching_share: float = 0.5
    sound_min_correlation: float = 0.6
    sound_min_motion: float = 0.0
    # At the sound's alignment, where the joints of either clip move less than this about the shoulders (a close-up of
    # head and shoulders), the body's path in the frame is correlated instead (sound_min_correlation), the point
    # between the shoulders, which a close-up sways as a whole (a layout only rescales and shifts it). The value is
    # min_motion's, the pose detector's own noise on the calibration footage: below it the joints' correlation says
    # nothing. Found as the link that broke on the held-out build of bench/recordings_build.py (not tuned there): two
    # copies of one close-up that share their sound (joints moving 0.025-0.041) correlated 0.14 about the shoulders,
    # 0.975 in the frame. Not used when offsets are searched: there the path of another recording lines up by chance
    # (calibration build, its best offset: up to 0.96 against 0.65-0.99 for copies).
    body_path_below_motion: float = 0.04


@dataclasses.dataclass(frozen=True)
class QAConfig:
    # Run the QA checks and write qa.csv + report/index.html at the end of every build
    # (`tiktok-dm report BUILD` does the same on demand).
    enabled: bool = True
    kinematic: KinematicConfig = dataclasses.field(default_factory=KinematicConfig)
    music: MusicConfig = dataclasses.field(default_factory=MusicConfig)
    alignment: AlignmentConfig = dataclasses.field(default_factory=AlignmentConfig)
    offset: OffsetConfig = dataclasses.field(default_factory=OffsetConfig)
    audio: AudioCheckConfig = dataclasses.field(default_factory=AudioCheckConfig)
    duration: DurationCheckConfig = dataclasses.field(default_factory=DurationCheckConfig)
    pose: PoseCheckConfig = dataclasses.field(default_factory=PoseCheckConfig)
    # The same recording in two clips (also links for the split: tiktok_dm.quality.recordings).
    recordings: RecordingConfig = dataclasses.field(default_factory=RecordingConfig)
    # Processes measuring the clips (forked; the results do not depend on it).
    workers: int = 2

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
