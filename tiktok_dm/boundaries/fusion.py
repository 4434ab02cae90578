"""Turn picture and sound signals into clips.

1. Dropped spans: runs of blank frames (black, one flat colour) and title cards. They are never
   part of a clip; their edges are boundaries (a fade's edge is put in the middle of the fade).
2. Candidates: hard cuts (a one-step change that stands out from the motion around it), weak
   cuts (the same, but small: two shots of one room) and dissolves (a change over the half
   window on each side that no single step explains, where the frames in between are mixes of
   the pictures around them: cross-fades), weak ones between similar pictures included. Weak
   candidates need stronger evidence from the sound.
3. Each candidate is judged with the sound. A cut where one song runs straight through is an
   internal camera cut of one clip; a cut where the song changes (a different song, or the same
   song jumping to another part), where the song restarts (the sound replays the start of the
   clip before), or where the sound drops to a silence gap, is a boundary. Where the music runs
   on, the picture decides a hard cut when it shows another person in another place: the
   colours of the picture before and after it differ (``appearance_change_threshold``), which a
   punch-in zoom or a jump within one recording does not do; a weak cut or a dissolve never
   decides by its colours (the calibration set has no evidence for either). Any candidate the
   sound turns down is still a boundary where the picture's layout changes across it
   (``layout_change_threshold``: its edges in the frame move, or bars give way to a blurred copy);
   an internal camera cut keeps the layout. Without an audio track (or where it is silent) the
   picture decides alone.
4. Clips are the stretches between boundaries, less the dropped spans; a clip shorter than the
   minimum length loses one boundary (is merged into the neighbour): a weak candidate before a
   clear one, else the less sure; or it is dropped when it has no candidate boundary to give up
   (it sits between two dropped spans).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from tiktok_dm.boundaries.audio import AudioFeatures, quietest_db, repeat, song_change, splice
from tiktok_dm.boundaries.config import BoundaryConfig
from tiktok_dm.boundaries.result import Candidate, ClipProposal, DroppedSpan
from tiktok_dm.boundaries.visual import VisualSignals, true_runs

_SPAN_CONFIDENCE = {"blank": 0.95, "title card": 0.9}
# Decisions taken on the picture alone (no sound, or silence around the candidate) are capped.
_VISUAL_ONLY_CONFIDENCE = 0.8
# A silence gap must be this much quieter than the music around it.
_GAP_DEPTH_DB = 15.0


@dataclasses.dataclass(frozen=True)
class _Proposal:
    time_s: float
    kind: str
    visual: float
    guard_s: float  # half the transition's length: the sound is compared outside it


def dropped_spans(visual: VisualSignals, luma: np.ndarray, duration_s: float,
                  config: BoundaryConfig) -> list[DroppedSpan]:
    fps = visual.fps
    spans = []
    for kind, mask, min_frames in (("blank", visual.blank, 2), ("title card", visual.card, 1)):
        for start, stop in true_runs(mask):
            if stop - start < min_frames:
                continue
            edited = _edited_edge(visual, start, config) and _edited_edge(visual, stop, config)
            if kind == "title card" and not edited:
                continue  # a clip that starts or ends still (a pose held), not a card
            begin = _fade_edge(luma, start, step=-1, fps=fps)
            end = _fade_edge(luma, stop - 1, step=+1, fps=fps)
            spans.append(DroppedSpan(max(0.0, float(begin - 0.5) / fps), min(duration_s, float(end + 0.5) / fps), kind))
    return _merge_spans(spans, gap_s=1.5 / fps)


def _edited_edge(visual: VisualSignals, frame: int, config: BoundaryConfig) -> bool:
    """Is there an edit (cut, fade, dissolve, blank frames, the video's own edge) within
    ``card_edit_reach_s`` of ``frame``?

    A title card is entered and left by an edit (the text may fade in after it); a dancer who
    holds still starts moving again without one.
    """
    n = len(visual.cut)
    if frame <= 0 or frame >= n:
        return True
    reach = max(2, int(round(config.card_edit_reach_s * visual.fps)))
    lo, hi = max(0, frame - reach), min(n, frame + reach + 1)
    return bool(visual.cut[lo:hi].max() >= config.weak_cut_threshold or visual.blank[lo:hi].any()
                or visual.dissolve[lo:hi].max() >= config.dissolve_threshold)


def _fade_edge(luma: np.ndarray, edge: int, step: int, fps: float) -> float:
    """Frame position of a span's edge, moved to the middle of a fade into it (if there is one)."""
    target = luma[edge]
    ramp = edge
    for _ in range(int(fps)):  # a fade is at most a second
        nxt = ramp + step
        if not 0 <= nxt < len(luma) or abs(luma[nxt] - target) <= abs(luma[ramp] - target) + 2.0:
            break
        ramp = nxt
    if abs(ramp - edge) < 2:
        return float(edge)
    return (ramp + edge) / 2


def _merge_spans(spans: list[DroppedSpan], gap_s: float) -> list[DroppedSpan]:
    merged: list[DroppedSpan] = []
    for span in sorted(spans, key=lambda s: s.start_s):
        if merged and span.start_s <= merged[-1].end_s + gap_s:
            last = merged[-1]
            kind = last.kind if last.kind == span.kind else "title card"
            merged[-1] = DroppedSpan(last.start_s, max(last.end_s, span.end_s), kind)
        else:
            merged.append(span)
    return merged


def propose(visual: VisualSignals, spans: list[DroppedSpan], config: BoundaryConfig) -> list[_Proposal]:
    fps, cut = visual.fps, visual.cut
    n = len(cut)
    near_span = np.zeros(n, bool)
    for span in spans:
        lo, hi = int(math.floor(span.start_s * fps)) - 1, int(math.ceil(span.end_s * fps)) + 1
        near_span[max(0, lo): max(0, hi + 1)] = True

    cuts: list[tuple[int, _Proposal]] = []
    for i in range(1, n):
        score = float(cut[i])
        if score < config.weak_cut_threshold or score < config.cut_contrast * visual.cut_context[i]:
            continue
        if score < cut[max(0, i - 2): i + 3].max() or near_span[i] or near_span[i - 1]:
            continue
        kind = "hard cut" if score >= config.hard_cut_threshold else "weak cut"
        cuts.append((i, _Proposal(visual.locate_cut(i), kind, score, 0.1)))

    # A dissolve: a run of frames that are mixes of the pictures around them (not motion: a dancer
    # or a camera move makes a new sharp picture), across which the picture changes in a way no
    # single step explains. Its middle is the middle of the run. Cuts inside it are its steps.
    k = max(1, int(round(config.dissolve_half_window_s * fps)))
    # The run sits inside the dissolve, a blend half-window from its ends (where its steps are).
    reach = visual.blend_half_window + 1
    dissolves: list[tuple[int, int, _Proposal]] = []
    for start, stop in _merge_runs(true_runs(visual.blend >= config.weak_dissolve_blend), gap=2):
        lo, hi = max(0, start - reach), min(n, stop + reach)
        score = float(visual.dissolve[max(0, start - 2): stop + 2].max())
        if score < config.weak_dissolve_threshold or near_span[max(0, start - k): stop + k].any():
            continue
        # Between two similar pictures (the same room, the same dancer) a cross-fade is faint.
        strong = score >= config.dissolve_threshold and visual.blend[start:stop].max() >= config.dissolve_blend
        centre = (start + stop - 1) / 2
        dissolves.append((lo, hi, _Proposal(centre / fps, "dissolve" if strong else "weak dissolve", score,
                                            max(0.1, (stop - start) / 2 / fps + 0.15))))
    # A cut inside a dissolve is one of its steps; but a hard cut next to a faint dissolve (slow motion reads as
    # mixed frames) is the edit itself, and a faint dissolve never swallows it.
    kept_cuts = [p for i, p in cuts if not any(lo <= i < hi and (d.kind == "dissolve" or p.kind != "hard cut")
                                               for lo, hi, d in dissolves)]
    return sorted(kept_cuts + [p for _, _, p in dissolves], key=lambda p: p.time_s)


def _merge_runs(runs: list[tuple[int, int]], gap: int) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, stop in runs:
        if merged and start - merged[-1][1] <= gap:
            merged[-1] = (merged[-1][0], stop)
        else:
            merged.append((start, stop))
    return merged


def judge(proposals: list[_Proposal], spans: list[DroppedSpan], audio: AudioFeatures | None,
          config: BoundaryConfig, visual: VisualSignals | None = None) -> list[Candidate]:
    """Decide every proposal with the sound, in time order, and a hard cut the sound calls internal with the
    picture's colours (``visual``); see the module docstring."""
    limits = sorted({0.0, *(s.start_s for s in spans), *(s.end_s for s in spans),
                     *(p.time_s for p in proposals if not p.kind.startswith("weak"))})
    judged: list[Candidate] = []
    for proposal in proposals:
        t = proposal.time_s
        earlier = max([x for x in limits if x < t - 1e-6], default=0.0)
        later = min([x for x in limits if x > t + 1e-6], default=math.inf)
        evidence = _Evidence()
        if audio is not None:
            guard = proposal.guard_s
            evidence.song_change = song_change(audio, t, config.audio_window_s + guard, earliest_s=earlier,
                                               latest_s=later, guard_s=guard)
            if not proposal.kind.endswith("dissolve"):
                evidence.splice, _ = splice(audio, t - _SPLICE_SEARCH_BEFORE_S, t + _SPLICE_SEARCH_AFTER_S,
                                            earliest_s=earlier, latest_s=later)
            evidence.quietest_db = quietest_db(audio, t, half_window_s=max(0.25, guard))
            # The quietest full second nearby: music (above the silence level) unless the sound is off here.
            evidence.around_db = quietest_db(audio, t, half_window_s=1.5, span_s=1.0)
        decision = _decide(proposal, evidence, config)
        if audio is not None and not decision.accepted and evidence.music_here(config) and \
                not proposal.kind.endswith("dissolve"):
            # Two clips on one song: the second usually restarts it from where the first started.
            # The last few clip starts are tried (one of them may yet be given up for the minimum
            # length); after a cross-fade a clip's sound is clean only once the fade is over.
            starts = [(c.time_s, 2 * p.guard_s if p.kind.endswith("dissolve") else 0.15)
                      for c, p in zip(judged, proposals) if c.accepted]
            starts += [(s.end_s, 0.15) for s in spans if s.end_s < t] + [(0.0, 0.15)]
            # A start closer than _RESTART_MIN_GAP_S would let the search slide onto the sound after the cut itself.
            starts = [(start, skip) for start, skip in starts if t - start >= _RESTART_MIN_GAP_S]
            tried = [(repeat(audio, t, start, skip_s=skip), start) for start, skip in sorted(starts)[-3:]]
            evidence.repeat, clip_start = max([(score, start) for score, start in tried if not math.isnan(score)],
                                              default=(float("nan"), 0.0))
            if evidence.repeat >= config.restart_correlation:
                decision = _restart(proposal, evidence, clip_start, config)
            else:  # the same verdict, now showing the repeat score too
                decision = _decide(proposal, evidence, config)
        if visual is not None and not decision.accepted and proposal.kind == "hard cut" and \
                evidence.music_here(config):
            change = visual.appearance_change(t, earlier, later, config)
            decision = dataclasses.replace(decision, appearance=round(change, 3))
            if change >= config.appearance_change_threshold:
                decision = _new_place(proposal, evidence, change, config)
        if visual is not None:
            shift = visual.layout_change(t, earlier, later, max(config.appearance_guard_s, proposal.guard_s), config)
            decision = dataclasses.replace(decision, layout=round(shift, 3))
            if not decision.accepted and shift >= config.layout_change_threshold:
                decision = _new_layout(proposal, evidence, decision, shift, config)
        judged.append(decision)
    return judged


_RESTART_MIN_GAP_S = 1.5
# Where to look for the sound's edit around a located cut: a source frame either way (sources run at
# 24-60 fps), and up to two frames earlier (a cut on a skipped frame is seen late).
_SPLICE_SEARCH_BEFORE_S = 0.05
_SPLICE_SEARCH_AFTER_S = 0.025


@dataclasses.dataclass
class _Evidence:
    song_change: float = float("nan")
    splice: float = float("nan")
    quietest_db: float = float("nan")
    around_db: float = float("nan")
    repeat: float = float("nan")

    def music_here(self, config: BoundaryConfig) -> bool:
        return not math.isnan(self.around_db) and self.around_db > config.silence_dbfs

    def silence_gap(self, config: BoundaryConfig) -> bool:
        return self.quietest_db <= config.silence_dbfs and self.quietest_db <= self.around_db - _GAP_DEPTH_DB

    def audio_change(self, config: BoundaryConfig) -> float:
        """The cut's sound evidence: the splice score plus the weighted song change."""
        return self.splice + config.song_change_weight * self.song_change


def _candidate(p: _Proposal, e: _Evidence, accepted: bool, margin: float, reason: str,
               cap: float = 1.0) -> Candidate:
    confidence = min(cap, 0.5 + 0.5 * math.tanh(3.0 * max(margin, 0.0)))
    return Candidate(round(float(p.time_s), 3), p.kind, round(float(p.visual), 3), round(float(e.song_change), 3),
                     round(float(e.splice), 2), round(float(e.quietest_db), 1), round(float(e.repeat), 3), accepted,
                     round(confidence, 3), reason)


def _cut_audio_threshold(visual: float, config: BoundaryConfig) -> float:
    """Sound evidence a cut needs: weak_cut_audio_threshold for the faintest cut, falling linearly to
    cut_audio_threshold at hard_cut_threshold (a clearer cut needs less)."""
    position = (visual - config.weak_cut_threshold) / (config.hard_cut_threshold - config.weak_cut_threshold)
    position = min(1.0, max(0.0, position))
    return config.weak_cut_audio_threshold + position * (config.cut_audio_threshold - config.weak_cut_audio_threshold)


def _decide(p: _Proposal, e: _Evidence, config: BoundaryConfig) -> Candidate:
    # Any proposal passed the weak gate of its kind; how far above it counts towards confidence.
    dissolve = p.kind.endswith("dissolve")
    visual_gate = config.weak_dissolve_threshold if dissolve else config.weak_cut_threshold
    visual_margin = (p.visual - visual_gate) / visual_gate
    if dissolve:
        needed = config.dissolve_song_change_threshold if p.kind == "dissolve" else \
            config.weak_dissolve_song_change_threshold
        value, name = e.song_change, "song change"
    else:
        value = e.audio_change(config)
        needed = _cut_audio_threshold(p.visual, config)
        name = f"splice {e.splice:.1f} + {config.song_change_weight:g} x song change {e.song_change:.2f}"
    if not e.music_here(config) or math.isnan(value):
        why = "no sound here" if not e.music_here(config) else "too close to a neighbour to compare the sound"
        if p.kind.startswith("weak"):
            return _candidate(p, e, False, 0.3, f"{p.kind}, {why}: not enough evidence", cap=_VISUAL_ONLY_CONFIDENCE)
        return _candidate(p, e, True, visual_margin, f"{p.kind}, {why}: decided on the picture",
                          cap=_VISUAL_ONLY_CONFIDENCE)
    if e.silence_gap(config) and not p.kind.startswith("weak"):
        return _candidate(p, e, True, min(visual_margin, (config.silence_dbfs - e.quietest_db) / 10 + 0.3),
                          f"{p.kind} + silence gap ({e.quietest_db:.0f} dBFS)")
    margin = (value - needed) / max(abs(needed), 1.0)
    if value >= needed:
        return _candidate(p, e, True, min(visual_margin, margin),
                          f"{p.kind} + the sound changes: {name} = {value:.2f} >= {needed:.2f}")
    return _candidate(p, e, False, -margin,
                      f"{p.kind}, one piece of music runs through ({name} = {value:.2f} < {needed:.2f}): internal cut")


def _new_place(p: _Proposal, e: _Evidence, change: float, config: BoundaryConfig) -> Candidate:
    margin = (change - config.appearance_change_threshold) / config.appearance_change_threshold
    candidate = _candidate(p, e, True, margin, f"{p.kind}, one piece of music runs on, but the picture's colours "
                                                f"change by {change:.2f} >= {config.appearance_change_threshold:.2f}: "
                                                f"another person or place, another clip")
    return dataclasses.replace(candidate, appearance=round(change, 3))


def _new_layout(p: _Proposal, e: _Evidence, decision: Candidate, shift: float, config: BoundaryConfig) -> Candidate:
    margin = (shift - config.layout_change_threshold) / config.layout_change_threshold
    candidate = _candidate(p, e, True, margin, f"{decision.reason}; but the picture's place in the frame changes "
                                                f"(its edges move by {shift:.2f} of the frame, or bars give way to a "
                                                f"blurred copy): another clip's layout")
    return dataclasses.replace(candidate, appearance=decision.appearance, layout=round(shift, 3))


def _restart(p: _Proposal, e: _Evidence, clip_start: float, config: BoundaryConfig) -> Candidate:
    margin = (e.repeat - config.restart_correlation) / (1.0 - config.restart_correlation)
    return _candidate(p, e, True, margin, f"{p.kind} + the song restarts: the sound after it replays the sound "
                                          f"after {clip_start:.2f} s (correlation {e.repeat:.3f})")


@dataclasses.dataclass(frozen=True)
class _Edge:
    """One end of a piece: where it lies, how sure the decision is, and whether it may be given up."""

    time_s: float
    confidence: float
    removable: bool = False  # a candidate's boundary (not a dropped span's edge, not the video's)
    weak: bool = False  # a weak cut or weak dissolve

    def keep_before(self, other: "_Edge") -> bool:
        """Is this edge kept rather than ``other`` when one of them must go? A weak candidate's sound evidence
        comes from the stronger edit next to it (a motion blur or a faint mix just before a real cut or
        cross-fade), so a clearer picture change is kept first, then the surer decision."""
        return (not self.weak, self.confidence) > (not other.weak, other.confidence)


def assemble(duration_s: float, candidates: list[Candidate], spans: list[DroppedSpan],
             config: BoundaryConfig) -> tuple[list[ClipProposal], list[DroppedSpan], list[Candidate]]:
    """Clips between accepted boundaries, less dropped spans, with the minimum length enforced.

    Returns the clips, all dropped spans (with the too-short ones added) and the candidates, where
    a boundary given up for the minimum length is marked as not accepted, with the reason.
    """
    pieces: list[list[_Edge]] = []  # [start edge, end edge]
    cursor = _Edge(0.0, 1.0)
    accepted = [c for c in candidates if c.accepted]
    for span in [*spans, DroppedSpan(duration_s, duration_s, "end")]:
        inside = [c for c in accepted if cursor.time_s < c.time_s < span.start_s]
        edges = [cursor, *(_Edge(c.time_s, c.confidence, True, c.kind.startswith("weak")) for c in inside),
                 _Edge(span.start_s, _SPAN_CONFIDENCE.get(span.kind, 1.0))]
        pieces += [[start, end] for start, end in zip(edges, edges[1:]) if end.time_s - start.time_s > 1e-6]
        cursor = _Edge(span.end_s, _SPAN_CONFIDENCE.get(span.kind, 1.0))

    dropped = list(spans)
    given_up: set[float] = set()
    shortest_allowed = config.min_clip_s - config.min_clip_slack_s
    while True:
        short = [i for i, (start, end) in enumerate(pieces) if end.time_s - start.time_s < shortest_allowed]
        if not short:
            break
        index = min(short, key=lambda i: pieces[i][1].time_s - pieces[i][0].time_s)
        start, end = pieces[index]
        if start.removable and (not end.removable or not start.keep_before(end)):
            given_up.add(start.time_s)
            pieces[index - 1][1] = end
        elif end.removable:
            given_up.add(end.time_s)
            pieces[index + 1][0] = start
        else:
            dropped.append(DroppedSpan(start.time_s, end.time_s, "too short"))
        del pieces[index]
    candidates = [dataclasses.replace(c, accepted=False, reason=f"{c.reason}; given up: it would leave a clip "
                                                                 f"shorter than {config.min_clip_s:g} s")
                  if c.time_s in given_up else c for c in candidates]

    rejected = [c for c in candidates if not c.accepted and c.time_s not in given_up]
    clips = []
    for start, end in pieces:
        doubts = [c.confidence for c in rejected if start.time_s < c.time_s < end.time_s]
        confidence = min([start.confidence, end.confidence, *doubts])
        clips.append(ClipProposal(round(float(start.time_s), 3), round(float(end.time_s), 3),
                                  round(float(confidence), 3)))
    return clips, sorted(dropped, key=lambda s: s.start_s), candidates
