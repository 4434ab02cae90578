"""Dance-music beat alignment of a clip and its audio-video offset.

Alignment score: the share of kinematic beats within ``tolerance_s`` of a music beat. Dense
beats make any score look good, so it always comes with baselines: the *shuffled* baseline is
the mean score of the same kinematic beats circularly shifted by random offsets (same motion,
same music, the pairing destroyed), with ``p_shuffled`` = the share of shifts that score at
least as well; the *cross* baseline scores the clip's kinematic beats against other clips'
music. Only a score clearly above its baselines says the dancer moves to this music. On steady music the shuffled
test can show little: shifting the kinematic beats by whole beats keeps every hit, so even a dancer on every beat gets
p_shuffled near 2 x ``tolerance_s`` / beat period, less the shifts that wrap around the clip's end (cdcd_recons_gt's
120-BPM music: 0.21 for a steady grid at its tempo over the 4.87 s its poses cover, 0.30 over its sound's 4.92 s;
bench/alignment.py's "ideal dancer").

Offset: for each lag L in +-``max_offset_s`` (video-frame steps), the Pearson correlation of the
kinematic envelope at frame t with the audio onset strength at t + L. A positive offset means
the audio comes late (the sound of a move follows it by L). An offset needs evidence that the
motion follows this sound at all: the best correlation must beat what the same motion reaches
with randomly shifted copies of the sound (``relation_p``); otherwise the clip reads *no
relation* (music the dancer was not dancing to, or a dance whose link to its sound these short
clips cannot show), not a number. Periodic dancing to periodic music
makes lags a beat period apart correlate almost equally, so the best lag is kept only if it is
an interior peak of the curve (not the edge of the search range), correlates at least
``min_peak_correlation``, and beats every other peak at least ``min_separation_s`` away by a clear
margin (runner-up / best <= ``max_alias_ratio``, after a soft prior that favours small lags);
otherwise the offset is *undetermined* and the reason is given. Even then, dancing to periodic
music fits again one beat period later: where the lag a beat away lies in the search range and fits
at least ``beat_alias_share`` as well, the offset is known only up to whole beats
(``beat_period_s``; on a 132-BPM held-out clip shifted by +0.3 s the best lag was -0.133 s, one
beat off). A clip is flagged out of sync only on a determined offset beyond ``sync_tolerance_s``,
and where it is known up to whole beats, only if every such offset in range is beyond it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tiktok_dm.quality.config import AlignmentConfig, OffsetConfig
from tiktok_dm.quality.kinematic import KinematicEnvelope
from tiktok_dm.quality.music import MusicEvents

DETERMINED = "determined"
UNDETERMINED = "undetermined"
NO_RELATION = "no relation"


def alignment_score(kinematic: np.ndarray, beats: np.ndarray, tolerance_s: float) -> float:
    """Share of ``kinematic`` times within ``tolerance_s`` of one of ``beats``."""
    return float(_hits(np.asarray(kinematic, dtype=np.float64)[None, :], beats, tolerance_s)[0])


def _hits(kinematic: np.ndarray, beats: np.ndarray, tolerance_s: float) -> np.ndarray:
    """Alignment score of each row of ``kinematic`` [rows, n] against the sorted ``beats``."""
    beats = np.sort(np.asarray(beats, dtype=np.float64))
    if kinematic.shape[1] == 0 or len(beats) == 0:
        return np.zeros(kinematic.shape[0])
    index = np.clip(np.searchsorted(beats, kinematic), 1, len(beats) - 1) if len(beats) > 1 else None
    if index is None:
        distance = np.abs(kinematic - beats[0])
    else:
        distance = np.minimum(np.abs(kinematic - beats[index - 1]), np.abs(kinematic - beats[index]))
    return (distance <= tolerance_s).mean(axis=1)


@dataclasses.dataclass(frozen=True)
class BeatAlignment:
    kinematic_beats: int
    music_beats: int
    tempo_bpm: float
    score: float | None  # None: too few beats to score
    shuffled_baseline: float | None
    p_shuffled: float | None  # share of random circular offsets scoring >= score
    error: str = ""

    @property
    def lift(self) -> float | None:
        if self.score is None or self.shuffled_baseline is None:
            return None
        return self.score - self.shuffled_baseline


def beat_alignment(kinematic: np.ndarray, music: MusicEvents, duration_s: float,
                   config: AlignmentConfig = AlignmentConfig()) -> BeatAlignment:
    """Score and shuffled baseline (see the module docstring)."""
    kinematic = np.asarray(kinematic, dtype=np.float64)
    counts = dict(kinematic_beats=len(kinematic), music_beats=len(music.beats), tempo_bpm=music.tempo_bpm)
    if len(kinematic) < config.min_beats or len(music.beats) < config.min_beats:
        return BeatAlignment(**counts, score=None, shuffled_baseline=None, p_shuffled=None,
                             error=f"too few beats to score ({len(kinematic)} kinematic, {len(music.beats)} "
                                   f"music; at least {config.min_beats} each)")
    score = alignment_score(kinematic, music.beats, config.tolerance_s)
    shuffled = shuffled_scores(kinematic, music.beats, duration_s, config)
    return BeatAlignment(**counts, score=score, shuffled_baseline=float(shuffled.mean()),
                         p_shuffled=float(np.mean(shuffled >= score)))


def shuffled_scores(kinematic: np.ndarray, beats: np.ndarray, duration_s: float,
                    config: AlignmentConfig = AlignmentConfig()) -> np.ndarray:
    """Scores of the kinematic beats circularly shifted by ``baseline_shifts`` random offsets
    (uniform over the clip; seeded, so reruns agree)."""
    rng = np.random.default_rng(config.seed)
    shifts = rng.uniform(0.0, duration_s, size=config.baseline_shifts)
    shifted = (np.asarray(kinematic)[None, :] + shifts[:, None]) % duration_s
    return _hits(shifted, beats, config.tolerance_s)


def cross_baseline(kinematic: np.ndarray, other_beats: list[np.ndarray], tolerance_s: float) -> float | None:
    """Mean score of the clip's kinematic beats against other clips' music beats (None if none)."""
    scores = [alignment_score(kinematic, beats, tolerance_s) for beats in other_beats if len(beats)]
    return float(np.mean(scores)) if scores else None


@dataclasses.dataclass(frozen=True)
class OffsetEstimate:
    status: str  # DETERMINED, UNDETERMINED or NO_RELATION
    offset_s: float | None  # positive: the audio is late; None unless determined
    best_lag_s: float | None  # the best lag even when undetermined (for the report)
    peak_correlation: float | None
    alias_ratio: float | None  # runner-up peak / best peak (after the prior)
    reason: str  # why not determined; when determined, empty or why it is known only up to whole beats
    p_relation: float | None = None  # share of randomly shifted sounds the motion follows as well (see relation_p)
    lags_s: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0), repr=False)
    correlation: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0), repr=False)
    # Set when a determined offset is known only up to whole beats of this period (see beat_alias_share); the offset
    # may then be offset_s plus or minus whole beats (aliases()).
    beat_period_s: float | None = None

    @property
    def determined(self) -> bool:
        return self.status == DETERMINED

    def aliases(self, max_offset_s: float) -> tuple[float, ...]:
        """The offsets the evidence allows within +-max_offset_s: offset_s alone, or with whole beats added."""
        if not self.determined:
            return ()
        if self.beat_period_s is None:
            return (self.offset_s,)
        beats = int(np.floor(2 * max_offset_s / self.beat_period_s)) + 1
        candidates = (self.offset_s + k * self.beat_period_s for k in range(-beats, beats + 1))
        return tuple(sorted(c for c in candidates if abs(c) <= max_offset_s + 1e-9))

    def out_of_sync(self, tolerance_s: float, max_offset_s: float | None = None) -> bool:
        """A determined offset beyond ``tolerance_s``; known up to whole beats, every allowed offset within
        +-``max_offset_s`` must be beyond it (one that is not could be the truth)."""
        if not self.determined:
            return False
        if self.beat_period_s is None or max_offset_s is None:
            return abs(self.offset_s) > tolerance_s
        return all(abs(candidate) > tolerance_s for candidate in self.aliases(max_offset_s))


def offset_curve(envelope: KinematicEnvelope, music: MusicEvents, max_offset_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(lags in s, Pearson correlation of envelope(t) with onset strength(t + lag)), on the
    overlap of the two at each lag; lags in video-frame steps (NaN where fewer than 3 frames overlap or either
    side is flat there)."""
    steps = int(round(max_offset_s * envelope.fps))
    lags = np.arange(-steps, steps + 1) / envelope.fps
    times = envelope.times[None, :] + lags[:, None]  # [lags, frames]
    audio = np.interp(times.ravel(), music.onset_times, music.onset_strength, left=np.nan,
                      right=np.nan).reshape(times.shape)
    inside = np.isfinite(audio)
    count = inside.sum(axis=1)
    motion = np.where(inside, envelope.values[None, :], 0.0)
    sound = np.where(inside, audio, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        motion = np.where(inside, motion - motion.sum(axis=1, keepdims=True) / count[:, None], 0.0)
        sound = np.where(inside, sound - sound.sum(axis=1, keepdims=True) / count[:, None], 0.0)
        spread = np.sqrt((motion ** 2).sum(axis=1) * (sound ** 2).sum(axis=1))
        correlation = (motion * sound).sum(axis=1) / spread
    scale = np.maximum(np.abs(envelope.values).max(initial=0.0), 1e-300) * np.maximum(
        np.abs(music.onset_strength).max(initial=0.0), 1e-300)
    flat = spread <= 1e-12 * scale * count
    return lags, np.where((count >= 3) & ~flat, correlation, np.nan)


def _weighted(lags: np.ndarray, correlation: np.ndarray, config: OffsetConfig) -> np.ndarray:
    """The correlation curve under the soft prior that favours small lags (NaN: never best)."""
    return np.nan_to_num(correlation, nan=-np.inf) * np.exp(-0.5 * (lags / config.prior_sigma_s) ** 2)


def relation_p(envelope: KinematicEnvelope, music: MusicEvents, best: float, config: OffsetConfig = OffsetConfig()
               ) -> float | None:
    """How often the motion follows a randomly shifted copy of the sound as well as it follows the sound: the
    onset strength circularly shifted by ``relation_shifts`` random amounts at least ``max_offset_s +
    relation_margin_s`` from its place (same sound, same tempo and density, the timing destroyed), each scored by
    its best prior-weighted correlation over the lags. (1 + as good) / (1 + shifts); None when the sound is too
    short for such shifts."""
    if len(music.onset_times) < 2:
        return None
    hop = float(music.onset_times[1] - music.onset_times[0])
    length = len(music.onset_strength) * hop
    low = config.max_offset_s + config.relation_margin_s
    if length - low <= low:
        return None
    rng = np.random.default_rng(config.seed)
    as_good = 0
    for shift in rng.uniform(low, length - low, size=config.relation_shifts):
        shifted = dataclasses.replace(music, onset_strength=np.roll(music.onset_strength, int(round(shift / hop))))
        lags, correlation = offset_curve(envelope, shifted, config.max_offset_s)
        if np.isfinite(correlation).any() and float(np.max(_weighted(lags, correlation, config))) >= best:
            as_good += 1
    return (1 + as_good) / (1 + config.relation_shifts)


def estimate_offset(envelope: KinematicEnvelope, music: MusicEvents, config: OffsetConfig = OffsetConfig()) -> OffsetEstimate:
    """The audio-video offset (see the module docstring for the rule)."""
    overlap = min(envelope.duration_s, music.onset_times[-1] if len(music.onset_times) else 0.0)
    if overlap < config.min_overlap_s + 2 * config.max_offset_s:
        return OffsetEstimate(UNDETERMINED, None, None, None, None,
                              f"clip too short for the offset search ({overlap:.1f} s < "
                              f"{config.min_overlap_s + 2 * config.max_offset_s:.1f} s)")
    lags, correlation = offset_curve(envelope, music, config.max_offset_s)
    curve = dict(lags_s=lags, correlation=correlation)
    if not np.isfinite(correlation).any():
        return OffsetEstimate(UNDETERMINED, None, None, None, None, "no motion or no onsets (flat envelope)", **curve)
    weighted = _weighted(lags, correlation, config)
    best = int(np.argmax(weighted))
    best_lag, peak = float(lags[best]), float(correlation[best])
    p_relation = relation_p(envelope, music, float(weighted[best]), config)
    common = dict(best_lag_s=best_lag, peak_correlation=peak, p_relation=p_relation, **curve)
    if p_relation is None:
        return OffsetEstimate(UNDETERMINED, None, alias_ratio=None,
                              reason="sound too short to test against shifted copies of itself", **common)
    if p_relation > config.max_p_relation:
        return OffsetEstimate(NO_RELATION, None, alias_ratio=None,
                              reason=f"the motion follows this sound no better than randomly shifted copies of it "
                                     f"(p {p_relation:.2f} > {config.max_p_relation})", **common)
    if best in (0, len(lags) - 1):
        return OffsetEstimate(UNDETERMINED, None, alias_ratio=None,
                              reason=f"best lag at the edge of the search range ({best_lag:+.3f} s): the offset "
                                     f"may be larger than {config.max_offset_s} s or the curve has no peak", **common)
    peaks = [i for i in range(1, len(lags) - 1) if weighted[i] >= weighted[i - 1] and weighted[i] >= weighted[i + 1]]
    rivals = [weighted[i] for i in peaks if abs(lags[i] - best_lag) >= config.min_separation_s - 1e-9]
    runner_up = max(rivals) if rivals else -np.inf
    ratio = float(runner_up / weighted[best]) if weighted[best] > 0 and np.isfinite(runner_up) else None
    if peak < config.min_peak_correlation:
        return OffsetEstimate(UNDETERMINED, None, alias_ratio=ratio,
                              reason=f"motion and sound hardly correlate (peak {peak:.3f} < "
                                     f"{config.min_peak_correlation})", **common)
    if ratio is not None and ratio > config.max_alias_ratio:
        return OffsetEstimate(UNDETERMINED, None, alias_ratio=ratio,
                              reason=f"ambiguous: another lag scores {ratio:.2f} of the best (> "
                                     f"{config.max_alias_ratio}); periodic dancing aliases the offset by a beat period",
                              **common)
    period = 60.0 / music.tempo_bpm if music.tempo_bpm > 0 else None
    if period is not None:
        fits = [(alias, float(np.interp(alias, lags, np.maximum(weighted, 0.0)))) for alias in
                (best_lag - period, best_lag + period) if abs(alias) <= config.max_offset_s]
        close = [(alias, fit) for alias, fit in fits if fit >= config.beat_alias_share * weighted[best]]
        if close:
            alias, fit = max(close, key=lambda item: item[1])
            return OffsetEstimate(DETERMINED, best_lag, alias_ratio=ratio, beat_period_s=period,
                                  reason=f"known up to whole beats of {period:.3f} s: the lag {alias:+.3f} s, one beat "
                                         f"away, fits {fit / weighted[best]:.2f} as well (the music repeats)",
                                  **common)
    return OffsetEstimate(DETERMINED, best_lag, alias_ratio=ratio, reason="", **common)
