"""The same recording in two clips (one TikTok in two compilations): the dancers' motion agrees, frame by frame.

A whole-frame perceptual hash sees the room: two dancers filmed in one white studio hash alike, while one
video letterboxed into a portrait compilation frame, zoomed or mirrored hashes apart. What a re-upload
keeps is the dancer's body at every moment. Each clip's people become motion signatures (its main dancer, and up
to ``max_people`` tracks alone: a crop or another stretch of a two-person video may make the other one the main
dancer; the best-agreeing pair of people decides), each the eyes, ears and
body joints (shoulders to ankles) at ``rate_hz``, each frame centred between the shoulders and scaled by the clip's
shoulder width, so a crop, a rescale, a letterbox or an overlay does not change it. The limbs decide whether two
frames hold the same body configuration; the head does only in frames that show no limb (a close-up of head and
shoulders, where nothing else is seen). Two clips show the same
recording when, at some time offset (they may start at other moments) and possibly mirrored, at least
``min_matching_share`` of at least ``min_overlap_s`` of frames seen in both hold the same body configuration
(median joint distance within ``max_pose_distance`` shoulder widths), and the joints' paths about the shoulders
over those frames correlate (``min_correlation``). Two dancers doing the same moves to the same song still differ
in timing and build by more than a re-encode does.

Two clips that share a stretch of sound (a verified audio link of the build, ``tiktok_dm.model.links``) are also
compared at the alignment the sound gives, and only there (within ``sound_offset_slack_s``): no offset is searched,
so no chance agreement is picked among many, and the motion may be slighter (``sound_min_motion``: a dancer who
barely moves in a close-up). There, where the joints barely move about the shoulders (``body_path_below_motion``:
a close-up of head and shoulders sways as a whole), the body's path in the frame is correlated instead: the point
between the shoulders, in the clip's shoulder widths (a layout rescales and shifts it; a correlation about its mean
does not see that). Searched over offsets, that path is no evidence: smooth paths of other recordings line up by
chance somewhere (calibration build: up to 0.96). Picture and sound then agree; different dancers to the same
sound (a dance challenge) still move differently at that moment.
"""

from __future__ import annotations

import dataclasses
import itertools
import warnings
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from tiktok_dm.forked import map_shared
from tiktok_dm.model.links import AudioLink
from tiktok_dm.model.tables import read_csv, write_csv
from tiktok_dm.pose.sequence import PoseSequence
from tiktok_dm.pose.tracking import select_main_track, track_keypoints
from tiktok_dm.quality.config import RecordingConfig

# COCO-17 joints in left/right pairs: eyes and ears (the head), then the body (shoulders, elbows, wrists, hips, knees,
# ankles). The head is too small in a full-body compilation shot to tell two dancers apart, and the only thing seen
# in a close-up: it votes only in frames that show no limb.
JOINTS = np.arange(1, 17)
HEAD_PAIRS = 2  # the first pairs of JOINTS: eyes, ears
# Each joint's left/right counterpart, as positions in JOINTS (a mirrored video swaps the sides).
MIRROR = np.array([1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14])
SHOULDERS = [4, 5]  # positions in JOINTS
# Joints a frame must show to be compared: the shoulders (centre and scale) and two more; left/right joint pairs
# two frames must both show to be compared: the shoulders and one more. (The shoulders, which set each frame's
# centre and scale, agree in almost any two frames; left out of the count, calibration recall fell from 0.91 to
# 0.80 at the same precision: the correlation of the motion carries the precision.)
MIN_JOINTS = 4
MIN_PAIRS = 2
# The coarse look that skips pairs which cannot match: every 5th frame, limits loosened by half.
COARSE_STEP = 5
COARSE_SLACK = 1.5


@dataclasses.dataclass(frozen=True)
class MotionSignature:
    """One person's body configuration at ``rate_hz`` (the main dancer, or one track): ``poses`` [frames, 16, 2]
    (``JOINTS``, about the point between the shoulders, in the clip's shoulder widths), NaN where a joint is not
    seen; and ``path`` [frames, 2], where that point lies in the frame (in the clip's shoulder widths), NaN where a
    shoulder is not seen."""

    rate_hz: float
    poses: np.ndarray
    path: np.ndarray

    @property
    def seen_frames(self) -> int:
        return int(_comparable(self.poses).sum())

    def mirrored(self) -> "MotionSignature":
        """The signature of the mirrored video: x negated, left and right swapped."""
        poses, path = self.poses[:, MIRROR].copy(), self.path.copy()
        poses[..., 0] *= -1
        path[:, 0] *= -1
        return MotionSignature(self.rate_hz, poses, path)

    @classmethod
    def empty(cls, rate_hz: float) -> "MotionSignature":
        return cls(rate_hz, np.zeros((0, len(JOINTS), 2)), np.zeros((0, 2)))


@dataclasses.dataclass(frozen=True)
class RecordingMatch:
    clip_a: str
    clip_b: str
    share: float  # share of the compared frames whose body configuration agrees
    frames: int  # frames compared at the best offset
    offset_s: float  # where b's first frame lies in a (negative: a starts that far into b)
    mirrored: bool
    same_compilation: bool
    by_sound: bool = False  # found at the alignment of the sound the two clips share


def motion_signature(sequence: PoseSequence, config: RecordingConfig = RecordingConfig()) -> MotionSignature:
    """The signature of a clip's main dancer (empty when no dancer was tracked)."""
    main = select_main_track(sequence, config.min_confidence)
    if main is None or sequence.num_frames == 0:
        return MotionSignature.empty(config.rate_hz)
    return _track_signature(sequence, (main.track_id, *main.fill_ids), config)


def motion_signatures(sequence: PoseSequence, config: RecordingConfig = RecordingConfig()
                      ) -> tuple[MotionSignature, ...]:
    """The signatures a clip is compared by: its main dancer, whose gaps are filled from tracks that never share a
    frame with it, then each of the ``max_people`` best-scoring tracks alone (the main one too, when it has fills).
    With two people in the picture the fill may be the other person, and a layout that crops one of them away, or
    another stretch of the video, makes the other one the main dancer. Signatures with too few seen frames to be
    compared (``min_overlap_s``) and repeats are left out; the main dancer comes first."""
    main = select_main_track(sequence, config.min_confidence)
    if main is None or sequence.num_frames == 0:
        return ()
    tracks = sorted(main.tracks, key=lambda t: (-t.score, t.track_id))  # the summaries the main dancer was chosen by
    choices = dict.fromkeys([(main.track_id, *main.fill_ids)] + [(t.track_id,) for t in tracks[:config.max_people]])
    needed = config.min_overlap_s * config.rate_hz
    signatures = (_track_signature(sequence, ids, config) for ids in choices)
    return tuple(signature for signature in signatures if signature.seen_frames >= needed)


def _track_signature(sequence: PoseSequence, track_ids: tuple[int, ...], config: RecordingConfig) -> MotionSignature:
    keypoints = track_keypoints(sequence, track_ids)[:, JOINTS]
    xy = np.where((np.nan_to_num(keypoints[..., 2]) >= config.min_confidence)[..., None], keypoints[..., :2], np.nan)
    grid = np.arange(0.0, float(sequence.frame_times[-1]) + 1e-9, 1.0 / config.rate_hz)
    nearest = np.clip(np.searchsorted(sequence.frame_times, grid), 0, sequence.num_frames - 1)
    earlier = np.clip(nearest - 1, 0, sequence.num_frames - 1)
    closer = np.where(np.abs(sequence.frame_times[earlier] - grid) < np.abs(sequence.frame_times[nearest] - grid),
                      earlier, nearest)
    sampled = xy[closer]
    sampled[np.abs(sequence.frame_times[closer] - grid) > 1.0 / config.rate_hz] = np.nan
    # The shoulders: what a crop, a caption band or a compilation frame leaves in view when the legs are gone.
    centre = sampled[:, SHOULDERS].mean(axis=1)  # [frames, 2], NaN unless both shoulders are seen
    scale = _shoulder_width(sampled)
    if not np.isfinite(scale) or scale <= 0:
        return MotionSignature.empty(config.rate_hz)
    return MotionSignature(config.rate_hz, (sampled - centre[:, None, :]) / scale, centre / scale)


def same_recording(a: MotionSignature, b: MotionSignature, config: RecordingConfig = RecordingConfig()
                   ) -> tuple[float, int, float, bool]:
    """(score, frames compared, where b's first frame lies in a in seconds, mirrored) at the best offset. The
    score is the share of compared frames with the same body configuration when the motion over them also
    correlates (``min_correlation``, on enough motion: ``min_motion``), else 0; 0 too when they never overlap
    by ``min_overlap_s`` and half the shorter clip's seen frames."""
    best = (0.0, 0, 0.0, False)
    for mirrored, other in ((False, b), (True, b.mirrored())):
        if not _might_match(a.poses, other.poses, config):
            continue
        share, frames, offset = _best_offset(a, other, config)
        if (share, frames) > best[:2]:
            best = (share, frames, offset / config.rate_hz, mirrored)
    return best


def same_recording_of_people(a: Sequence[MotionSignature], b: Sequence[MotionSignature],
                              config: RecordingConfig = RecordingConfig()) -> tuple[float, int, float, bool]:
    """:func:`same_recording` of the best-agreeing pair of the two clips' people (:func:`motion_signatures`)."""
    return _best_pair(a, b, lambda x, y: same_recording(x, y, config))


def _best_pair(a: Sequence[MotionSignature], b: Sequence[MotionSignature], compare
               ) -> tuple[float, int, float, bool]:
    """The best (share, frames) result of ``compare`` over every pair of a person of a and a person of b."""
    return max((compare(x, y) for x, y in itertools.product(a, b)), key=lambda found: found[:2],
               default=(0.0, 0, 0.0, False))


def same_recording_at(a: MotionSignature, b: MotionSignature, offset_s: float,
                       config: RecordingConfig = RecordingConfig()) -> tuple[float, int, float, bool]:
    """Like :func:`same_recording`, but only at the alignment the shared sound gives (b's first frame ``offset_s``
    into a, give or take ``sound_offset_slack_s``), with the ``sound_*`` limits, over at least ``min_overlap_s``
    (the sound fixes the offset: no share of the shorter clip is asked)."""
    sound = dataclasses.replace(config, min_matching_share=config.sound_min_matching_share,
                                min_correlation=config.sound_min_correlation, min_motion=config.sound_min_motion)
    slack = int(round(config.sound_offset_slack_s * config.rate_hz))
    centre = int(round(offset_s * config.rate_hz))
    best = (0.0, 0, 0.0, False)
    for mirrored, other in ((False, b), (True, b.mirrored())):
        for offset in range(centre - slack, centre + slack + 1):
            share, frames = _share_at(a.poses, other.poses, offset, sound)
            if (share, frames) > best[:2] and _motion_correlates(a, other, offset, sound, by_path=True):
                best = (share, frames, offset / config.rate_hz, mirrored)
    return best


def find_same_recordings(signatures: Mapping[str, Sequence[MotionSignature]], compilation_of: dict[str, str],
                         config: RecordingConfig = RecordingConfig(),
                         audio_links: Iterable[AudioLink] = ()) -> list[RecordingMatch]:
    """Every pair of clips that shows the same recording, most agreeing first (none when ``config.enabled`` is
    false), each clip by the signatures of its people (:func:`motion_signatures`), the best-agreeing pair deciding:
    by the motion alone, or at the alignment of the sound they share (``audio_links``; links of clips that play at
    another speed are not used)."""
    if not config.enabled:
        return []
    needed = config.min_overlap_s * config.rate_hz
    people = {clip: [s for s in found if s.seen_frames >= needed] for clip, found in signatures.items()}
    ids = sorted(clip for clip, found in people.items() if found)
    sound_offset = {(link.clip_a, link.clip_b): link.offset_s for link in audio_links
                    if config.sound_anchored and abs(link.speed - 1.0) <= config.sound_max_speed_change}
    sound_offset.update({(b, a): -offset for (a, b), offset in list(sound_offset.items())})
    # Each clip against the clips after it, in config.workers forked processes (n^2 / 2 pairs: ~8,000 for 130 clips).
    rows = map_shared(_matches_of_row, (ids, people, sound_offset, compilation_of, config), range(len(ids)),
                      config.workers, min_items_per_worker=4)
    matches = [match for row in rows for match in row]
    return sorted(matches, key=lambda m: (-m.share, m.clip_a, m.clip_b))


def _matches_of_row(state, i: int) -> list[RecordingMatch]:
    """The matches of clip ``ids[i]`` with the clips after it."""
    ids, people, sound_offset, compilation_of, config = state
    a, matches = ids[i], []
    for b in ids[i + 1:]:
        found, by_sound = same_recording_of_people(people[a], people[b], config), False
        if found[0] < config.min_matching_share and (a, b) in sound_offset:
            at_sound = _best_pair(people[a], people[b],
                                  lambda x, y: same_recording_at(x, y, sound_offset[(a, b)], config))
            if at_sound[0] >= config.sound_min_matching_share:
                found, by_sound = at_sound, True
        share, frames, offset_s, mirrored = found
        if share >= config.min_matching_share or by_sound:
            matches.append(RecordingMatch(a, b, round(share, 3), frames, round(offset_s, 2), mirrored,
                                          compilation_of.get(a) == compilation_of.get(b), by_sound))
    return matches


RECORDINGS_CSV = "recordings.csv"
RECORDING_COLUMNS = [field.name for field in dataclasses.fields(RecordingMatch)]


def write_matches(matches: list[RecordingMatch], path: str | Path) -> None:
    write_csv(pd.DataFrame([dataclasses.asdict(m) for m in matches], columns=RECORDING_COLUMNS), path)


def read_matches(path: str | Path) -> list[RecordingMatch]:
    table = read_csv(path)
    return [RecordingMatch(row["clip_a"], row["clip_b"], float(row["share"]), int(row["frames"]),
                           float(row["offset_s"]), row["mirrored"] == "True", row["same_compilation"] == "True",
                           row.get("by_sound") == "True")  # an earlier build's table has no by_sound
            for row in table.to_dict("records")]


def _comparable(poses: np.ndarray) -> np.ndarray:
    """Frames with enough joints seen to compare a body configuration."""
    return np.isfinite(poses).all(axis=-1).sum(axis=-1) >= MIN_JOINTS if len(poses) else np.zeros(0, bool)


def _agreement(a: np.ndarray, b: np.ndarray, max_distance: float) -> tuple[np.ndarray, np.ndarray]:
    """[frames a, frames b] whether the two frames hold the same body configuration, and whether enough was seen
    to tell (:func:`_frames_agree` of every frame of a with every frame of b)."""
    return _frames_agree(a[:, None], b[None, :], max_distance)


def _frames_agree(a: np.ndarray, b: np.ndarray, max_distance: float) -> tuple[np.ndarray, np.ndarray]:
    """Whether frames a and b (arrays [..., joints, 2] that broadcast) hold the same body configuration: at least
    half of the left/right joint pairs seen in both lie within ``max_distance``, the head's pairs counted only where
    no limb pair is seen in both; and whether enough pairs were seen to tell. Pose detectors swap a left and a right
    joint now and then (a dancer seen from behind, upside down, mirrored): a pair agrees in either labelling."""
    a, b = a.astype(np.float32), b.astype(np.float32)
    limit = np.float32(max_distance) ** 2
    # Squared distances written out per coordinate: the same sums as summing over the last axis (two terms), without
    # numpy's slow reduction over a length-2 axis (this is the hot loop of the matcher).
    difference = a - b
    same = difference[..., 0] ** 2 + difference[..., 1] ** 2  # [..., joints], NaN where unseen
    difference = a - b[..., MIRROR, :]
    crossed = difference[..., 0] ** 2 + difference[..., 1] ** 2
    left, right = slice(0, None, 2), slice(1, None, 2)
    seen = np.isfinite(same[..., left]) & np.isfinite(same[..., right])  # [..., pairs]
    with np.errstate(invalid="ignore"):
        close = (np.fmax(same[..., left], same[..., right]) <= limit) | \
            (np.fmax(crossed[..., left], crossed[..., right]) <= limit)
    limbs_seen = _count(seen[..., HEAD_PAIRS + 1:]) > 0  # a pair below the shoulders
    votes = seen.copy()
    votes[..., :HEAD_PAIRS] &= ~limbs_seen[..., None]
    pairs = _count(votes)
    comparable = pairs >= MIN_PAIRS
    return comparable & (2 * _count(close & votes) >= pairs), comparable


def _count(mask: np.ndarray) -> np.ndarray:
    """How many of the last axis are True, as float32 (exact: at most 8); a matrix product, where numpy's sum over a
    short last axis of a large array is several times slower."""
    return mask.astype(np.float32) @ np.ones(mask.shape[-1], np.float32)


def _overlap(a: np.ndarray, b: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """The frames of a and b seen at the same moment when frame i of a is frame i - offset of b."""
    start_a, start_b = max(0, offset), max(0, -offset)
    length = max(0, min(len(a) - start_a, len(b) - start_b))
    return a[start_a:start_a + length], b[start_b:start_b + length]


def _share_at(a: np.ndarray, b: np.ndarray, offset: int, config: RecordingConfig) -> tuple[float, int]:
    """(share of the compared frames that agree, frames compared) at the one offset the shared sound gives; (0,
    compared) when fewer than ``min_overlap_s`` are compared. Each clip is scaled by its median shoulder width over
    the whole clip; here b is scaled again to a's width over the frames they share, so a dancer who comes closer
    later in one clip does not read as another body."""
    xa, xb = _overlap(a, b, offset)
    width_a, width_b = _shoulder_width(xa), _shoulder_width(xb)
    if np.isfinite(width_a) and np.isfinite(width_b) and width_b > 0:
        xb = xb * (width_a / width_b)
    agree, comparable = _frames_agree(xa, xb, config.max_pose_distance)
    compared = int(comparable.sum())
    if compared == 0 or compared < config.min_overlap_s * config.rate_hz:
        return 0.0, compared
    return float(agree.sum() / compared), compared


def _shoulder_width(poses: np.ndarray) -> float:
    """The median shoulder width of the frames that show both shoulders (NaN when none does)."""
    width = np.linalg.norm(poses[:, SHOULDERS[0]] - poses[:, SHOULDERS[1]], axis=-1)
    return float(np.median(width[np.isfinite(width)])) if np.isfinite(width).any() else np.nan


def _might_match(a: np.ndarray, b: np.ndarray, config: RecordingConfig) -> bool:
    """A coarse look (every ``COARSE_STEP``-th frame of a against every frame of b, looser limits) that lets through
    every pair the full comparison could match, at a fifth of its cost. Every offset is seen: thinning both clips
    (a twenty-fifth of the cost) compared frames up to two steps apart at most offsets, where a fast dance has
    moved on (a copy trimmed by 0.8 s, 12 frames, was never matched)."""
    coarse = dataclasses.replace(config, rate_hz=config.rate_hz / COARSE_STEP,
                                 max_pose_distance=COARSE_SLACK * config.max_pose_distance,
                                 min_matching_share=config.min_matching_share / COARSE_SLACK)
    thinned = a[::COARSE_STEP]
    if len(thinned) == 0 or len(b) == 0:
        return False
    agree, comparable = _agreement(thinned, b, coarse.max_pose_distance)
    rows, columns = np.indices(comparable.shape)
    diagonal = (COARSE_STEP * rows - columns).ravel() + len(b) - 1  # offset + len(b) - 1, as in _best_offset
    compared = np.bincount(diagonal, weights=comparable.ravel(), minlength=len(a) + len(b) - 1)
    agreeing = np.bincount(diagonal, weights=agree.ravel(), minlength=len(a) + len(b) - 1)
    needed = max(coarse.min_overlap_s * coarse.rate_hz,
                 coarse.min_overlap_share * min(_comparable(thinned).sum(), _comparable(b[::COARSE_STEP]).sum())
                 ) / COARSE_SLACK
    return bool(((compared >= needed) & (agreeing >= coarse.min_matching_share * compared) & (agreeing > 0)).any())


def _best_offset(signature_a: MotionSignature, signature_b: MotionSignature, config: RecordingConfig
                 ) -> tuple[float, int, int]:
    """(score, frames, offset) of the best of the offsets where most frames agree: frame i of a against frame
    i - offset of b."""
    a, b = signature_a.poses, signature_b.poses
    if len(a) == 0 or len(b) == 0:
        return 0.0, 0, 0
    agree, comparable = _agreement(a, b, config.max_pose_distance)
    rows, columns = np.indices(comparable.shape)
    diagonal = (rows - columns).ravel() + len(b) - 1  # offset + len(b) - 1, >= 0
    compared = np.bincount(diagonal, weights=comparable.ravel(), minlength=len(a) + len(b) - 1)
    agreeing = np.bincount(diagonal, weights=agree.ravel(), minlength=len(a) + len(b) - 1)
    needed = max(config.min_overlap_s * config.rate_hz,
                 config.min_overlap_share * min(_comparable(a).sum(), _comparable(b).sum()))
    candidates = [int(i) for i in np.argsort(-agreeing, kind="stable")[:config.candidate_offsets]
                  if compared[i] >= needed and agreeing[i] >= config.min_matching_share * compared[i]]
    best = (0.0, 0, 0)
    for index in candidates:
        offset = index - (len(b) - 1)
        share = float(agreeing[index] / compared[index])
        if share >= best[0] and _motion_correlates(signature_a, signature_b, offset, config):
            best = (share, int(compared[index]), offset)
    return best


def _motion_correlates(a: MotionSignature, b: MotionSignature, offset: int, config: RecordingConfig,
                       by_path: bool = False) -> bool:
    """Does the motion over the overlap correlate (``min_correlation``, on at least ``min_motion``)? The joints'
    paths about the shoulders, in either labelling of b's left and right; with ``by_path`` (an alignment given by the
    sound, not searched), where the joints of either clip move less than ``body_path_below_motion`` about the
    shoulders (a close-up), the body's path in the frame instead."""
    with warnings.catch_warnings():  # a joint never seen in both: its mean is NaN, and it counts for nothing
        warnings.simplefilter("ignore", RuntimeWarning)
        xa, xb = _overlap(a.poses, b.poses, offset)
        joints = [_correlation(xa, labelled) for labelled in (xb, xb[:, MIRROR])]
        if not by_path or min(joints[0][1:]) >= config.body_path_below_motion:
            return any(_holds(found, config) for found in joints)
        return _holds(_correlation(*_overlap(a.path[:, None], b.path[:, None], offset)), config)


def _holds(found: tuple[float, float, float], config: RecordingConfig) -> bool:
    correlation, energy_a, energy_b = found
    return min(energy_a, energy_b) >= config.min_motion and correlation >= config.min_correlation


def _correlation(xa: np.ndarray, xb: np.ndarray) -> tuple[float, float, float]:
    """(correlation, motion of a, motion of b) of two aligned [frames, points, 2] paths, each point about its mean
    over the frames where both see it; the motion is the RMS per coordinate (NaN, 0, 0 when too little is seen)."""
    both = np.isfinite(xa) & np.isfinite(xb)
    if both.sum(axis=0).max(initial=0) < 3:
        return float("nan"), 0.0, 0.0
    with np.errstate(all="ignore"):
        xa = np.where(both, xa - np.nanmean(np.where(both, xa, np.nan), axis=0), 0.0)
        xb = np.where(both, xb - np.nanmean(np.where(both, xb, np.nan), axis=0), 0.0)
        energy_a, energy_b = float(np.sqrt((xa ** 2).sum() / both.sum())), float(np.sqrt((xb ** 2).sum() / both.sum()))
        correlation = float((xa * xb).sum() / np.sqrt((xa ** 2).sum() * (xb ** 2).sum()))
    return correlation, energy_a, energy_b
