"""What the detector returns: clip proposals, and every decision with the numbers behind it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tiktok_dm.boundaries.audio import AudioFeatures
from tiktok_dm.boundaries.config import BoundaryConfig
from tiktok_dm.boundaries.visual import VisualSignals


@dataclasses.dataclass(frozen=True)
class ClipProposal:
    start_s: float
    end_s: float
    # How sure the detector is of this clip: the weaker of its two boundaries, lowered when a
    # candidate inside it was only narrowly judged an internal cut.
    confidence: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A place where the picture changes, and what was decided there (and why)."""

    time_s: float
    kind: str  # "hard cut", "weak cut", "dissolve", "weak dissolve"
    visual: float  # the picture score (hard/weak cut: cut score; dissolve: dissolve score)
    song_change: float  # audio MMD across the candidate; NaN without audio or room for windows
    splice: float  # how abrupt the sound change at the cut is (robust z-score); NaN for dissolves / no audio
    quietest_db: float  # quietest 0.2 s near the candidate (dBFS); NaN without audio
    repeat: float  # does the sound after it replay the current clip's start (correlation); NaN if not checked
    accepted: bool
    confidence: float  # of the decision taken, 0.5..1
    reason: str
    # How much the picture's colours change across it (0..1; who and where); NaN where not asked (only a hard cut the
    # sound would call internal is asked)
    appearance: float = float("nan")
    # How far the picture's place in the frame moves across it (a share of the frame; bars, blurred copy, fill);
    # NaN where not asked or where the layout is not steady on a side
    layout: float = float("nan")


@dataclasses.dataclass(frozen=True)
class DroppedSpan:
    """Black / flat frames or a title card: never part of a clip."""

    start_s: float
    end_s: float
    kind: str  # "blank", "title card", "too short"


@dataclasses.dataclass(frozen=True)
class BoundaryResult:
    video: Path
    duration_s: float
    clips: list[ClipProposal]
    candidates: list[Candidate]
    dropped: list[DroppedSpan]
    has_audio: bool
    config: BoundaryConfig
    visual: VisualSignals
    audio: AudioFeatures | None
    warnings: list[str] = dataclasses.field(default_factory=list)
