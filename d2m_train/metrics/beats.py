"""Beats coverage and beats hit, exactly as the official Beats_Scores tool computes them.

For each (reference, generated) pair of wavs, loaded with librosa's defaults (22050 Hz, mono):
onsets from ``librosa.onset.onset_detect`` with the tool's peak-picking parameters, then
"second-level beats": one bin per started second of audio (``ceil(len / sr)`` bins), a bin set when
any onset falls in it. With B_t bins set in the reference, B_g in the generated audio and B_a in
both, coverage = B_g / B_t and hit = B_a / B_t. The score of a set is the unweighted mean of the
per-pair ratios (the paper prints them x100). Coverage can exceed 1.

Where the tool would crash (a reference without any onset: division by zero; pairs of different
lengths: an assert) this module raises a ValueError naming the files instead.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Sequence

import numpy as np

SAMPLE_RATE = 22050
# Peak picking of the official tool (its other onset parameters are librosa's defaults).
ONSET_PARAMS = {"wait": 1, "delta": 0.2, "pre_avg": 1, "post_avg": 1, "post_max": 1}


@dataclasses.dataclass(frozen=True)
class PairScore:
    reference: str
    generated: str
    reference_bins: int  # B_t
    generated_bins: int  # B_g
    both_bins: int  # B_a

    @property
    def coverage(self) -> float:
        return self.generated_bins / self.reference_bins

    @property
    def hit(self) -> float:
        return self.both_bins / self.reference_bins


@dataclasses.dataclass(frozen=True)
class BeatsScore:
    pairs: tuple[PairScore, ...]

    @property
    def coverage(self) -> float:
        return float(np.mean([p.coverage for p in self.pairs]))

    @property
    def hit(self) -> float:
        return float(np.mean([p.hit for p in self.pairs]))


def second_level_beats(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """0/1 vector with one entry per started second: 1 where an onset falls in that second."""
    import librosa

    onsets = librosa.onset.onset_detect(y=audio, sr=sample_rate, units="time", **ONSET_PARAMS)
    bins = np.zeros(math.ceil(len(audio) / sample_rate), dtype=np.int64)
    bins[np.floor(onsets).astype(int)] = 1
    return bins


def score_pair(reference: str | Path, generated: str | Path) -> PairScore:
    import librosa

    reference_beats = second_level_beats(librosa.load(reference, sr=SAMPLE_RATE)[0])
    generated_beats = second_level_beats(librosa.load(generated, sr=SAMPLE_RATE)[0])
    if len(reference_beats) != len(generated_beats):
        raise ValueError(f"{generated} lasts {len(generated_beats)} started second(s) but its reference "
                         f"{reference} lasts {len(reference_beats)}: the metric compares equal lengths")
    reference_bins = int(reference_beats.sum())
    if reference_bins == 0:
        raise ValueError(f"{reference} has no onset at all: coverage and hit are undefined for it")
    return PairScore(str(reference), str(generated), reference_bins, int(generated_beats.sum()),
                     int((reference_beats & generated_beats).sum()))


def beats_scores(pairs: Sequence[tuple[str | Path, str | Path]]) -> BeatsScore:
    """Mean coverage and hit over (reference, generated) pairs."""
    if not pairs:
        raise ValueError("no (reference, generated) pairs to score")
    return BeatsScore(tuple(score_pair(reference, generated) for reference, generated in pairs))


def pair_by_name(generated_dir: str | Path, reference_dir: str | Path, pattern: str = "*.wav") -> list[tuple[Path, Path]]:
    """(reference, generated) pairs matched by file name; every unmatched file is named in the error."""
    generated = {p.name: p for p in sorted(Path(generated_dir).glob(pattern))}
    reference = {p.name: p for p in sorted(Path(reference_dir).glob(pattern))}
    if not generated:
        raise ValueError(f"no {pattern} files in {generated_dir}")
    missing = sorted(set(generated) ^ set(reference))
    if missing:
        raise ValueError(f"files without a partner (pairing is by file name between {generated_dir} and "
                         f"{reference_dir}): {missing}")
    return [(reference[name], generated[name]) for name in sorted(generated)]
