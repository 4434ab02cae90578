"""Dancer tracks: link the persons of successive frames into stable ids, and pick the main dancer.

Linking (:func:`assign_track_ids`) is frame-by-frame assignment, the usual tracking-by-detection
scheme:

- every open track remembers each joint where it was last seen (for at most ``max_gap_s``) and
  predicts it now by moving it along the track's smoothed velocity (the mean motion of the
  joints seen in consecutive observations, so a partly hidden person does not seem to jump);
- the cost of pairing a track with a detection is the mean distance between the predicted and
  the detected joints they have in common, in person sizes (geometric mean of the track's size,
  learnt from full views only, and the detection's; a size is the larger side of the box around
  the confident joints); with fewer than ``min_common_joints`` common joints a small penalty is
  added, and with none the box centres are compared instead; when the common joints spread over
  a different area than the track's (a bigger or smaller person: someone in front or behind),
  the pair pays ``size_weight * |log(spread ratio)|``;
- :func:`scipy.optimize.linear_sum_assignment` pairs tracks and detections at the lowest total
  cost; a pair costing more than the gate (``max_cost``, widened by ``gate_growth_per_s`` per
  second since the track was last seen, so it scales with the processing rate and with gaps) is
  refused, and leaving a track or detection unpaired costs the same for all, so no bad pair is
  forced just to pair more;
- a track unmatched for at most ``max_gap_s`` seconds stays open (the gap is bridged, the id
  kept), after that it is closed; every unmatched detection opens a new track with a new id.

Refusing doubtful pairs is deliberate: a person re-found under a new id costs little (the main
dancer's gaps are filled from tracks never seen beside it), two people under one id would mix
their motions. Ids count up from 0 in order of first appearance. The main dancer
(:func:`select_main_track`) is the track with the best ``share x size x centrality`` score, see
:class:`TrackSummary`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from tiktok_dm.pose.sequence import NUM_COCO17_JOINTS, PoseSequence

NO_TRACK = -1


@dataclasses.dataclass(frozen=True)
class TrackerConfig:
    """Settings of :func:`assign_track_ids` (the defaults suit 10-30 processed frames per second)."""

    # Joints below this confidence are ignored (openpifpaf marks joints it did not find with 0;
    # BlazePose gives low visibility to joints it only guesses).
    min_conf: float = 0.2
    # Refuse a pairing whose cost (mean joint distance in person sizes, plus penalties) exceeds this.
    max_cost: float = 0.3
    # The gate grows by this many person sizes per second a track has been unseen.
    gate_growth_per_s: float = 1.0
    # Keep a track open (same id) across at most this many seconds without a detection.
    max_gap_s: float = 0.5
    # Fewer common joints than this: the distance is less certain and pays ``few_joints_penalty``.
    min_common_joints: int = 4
    few_joints_penalty: float = 0.1
    # A detection with at least this many confident joints is a full view: it sets the size.
    full_view_joints: int = 10
    # Weight of |log(spread ratio)| of the common joints (see the module docstring).
    size_weight: float = 1.0
    # Smoothing of a track's size and velocity (weight of the newest observation).
    smoothing: float = 0.5

    def __post_init__(self) -> None:
        for name in ("max_cost", "max_gap_s", "gate_growth_per_s", "few_joints_penalty", "size_weight"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.smoothing <= 1:
            raise ValueError(f"smoothing must be in (0, 1], got {self.smoothing}")
        if not 1 <= self.min_common_joints <= NUM_COCO17_JOINTS:
            raise ValueError(f"min_common_joints must be in [1, 17], got {self.min_common_joints}")


@dataclasses.dataclass
class _Detection:
    slot: int
    joints: np.ndarray  # [17, 2], NaN where not confident
    centre: np.ndarray  # [2] box centre
    size: float
    visible: int  # confident joints


@dataclasses.dataclass
class _Track:
    track_id: int
    joints: np.ndarray  # [17, 2] where each joint was last seen, NaN if never
    joint_times: np.ndarray  # [17] when it was last seen
    size: float
    last_time: float
    velocity: np.ndarray  # [2] pixels per second

    def predicted(self, time: float, max_age: float) -> np.ndarray:
        """Joints moved along the velocity to ``time``; NaN for joints unseen for > max_age."""
        age = time - self.joint_times
        fresh = age <= max_age + 1e-9
        joints = np.full_like(self.joints, np.nan)
        joints[fresh] = self.joints[fresh] + self.velocity[None, :] * age[fresh, None]
        return joints


def person_geometry(person: np.ndarray, min_conf: float) -> tuple[np.ndarray, np.ndarray, float] | None:
    """(joints [17, 2] with NaN where not confident, box centre [2], size) of one [17, 3] person,
    or None for an empty slot. Without any joint >= ``min_conf`` all finite joints are used."""
    xy = person[:, :2]
    finite = np.isfinite(xy).all(axis=1) & np.isfinite(person[:, 2])
    if not finite.any():
        return None
    confident = finite & (person[:, 2] >= min_conf)
    used = confident if confident.any() else finite
    joints = np.where(used[:, None], xy, np.nan)
    low, high = xy[used].min(axis=0), xy[used].max(axis=0)
    size = float(max(high[0] - low[0], high[1] - low[1], 1.0))
    return joints, (low + high) / 2.0, size


def _pair_cost(track: _Track, predicted: np.ndarray, detection: _Detection, config: TrackerConfig) -> float:
    """Cost of continuing ``track`` (its joints ``predicted`` for now) with ``detection``."""
    common = np.isfinite(predicted).all(axis=1) & np.isfinite(detection.joints).all(axis=1)
    # Distances in person sizes; the geometric mean keeps a small partial view of someone and a
    # big full view of someone else from looking alike.
    scale = float(np.sqrt(track.size * detection.size))
    if common.any():
        distances = np.linalg.norm(predicted[common] - detection.joints[common], axis=1)
        cost = float(distances.mean() / scale)
        if common.sum() < config.min_common_joints:
            cost += config.few_joints_penalty
        if common.sum() >= 3 and config.size_weight:
            # The same joints spread over a different area: a bigger or smaller person (someone
            # behind or in front), even when only a few joints are seen.
            ratio = _spread(detection.joints[common]) / max(_spread(predicted[common]), 1e-6)
            cost += config.size_weight * abs(float(np.log(max(ratio, 1e-6))))
        return cost
    seen = np.isfinite(predicted).all(axis=1)
    if not seen.any():
        return np.inf
    centre = (predicted[seen].min(axis=0) + predicted[seen].max(axis=0)) / 2.0
    return float(np.linalg.norm(centre - detection.centre) / scale) + config.few_joints_penalty


def _spread(points: np.ndarray) -> float:
    """Root mean square distance of the points from their mean."""
    return float(np.sqrt(((points - points.mean(axis=0)) ** 2).sum(axis=1).mean()))


def assign_track_ids(
    keypoints: np.ndarray,
    frame_times: np.ndarray,
    config: TrackerConfig | None = None,
) -> np.ndarray:
    """Track ids int32 [frames, persons] for keypoints [frames, persons, 17, 3] (NaN-padded
    persons, see :class:`~tiktok_dm.pose.sequence.PoseSequence`): the same id for the same person
    across frames, -1 for empty slots. See the module docstring for the rule."""
    config = config or TrackerConfig()
    keypoints = np.asarray(keypoints, dtype=np.float32)
    frame_times = np.asarray(frame_times, dtype=np.float64)
    if keypoints.ndim != 4 or keypoints.shape[2:] != (NUM_COCO17_JOINTS, 3):
        raise ValueError(f"keypoints must be [frames, persons, 17, 3], got shape {keypoints.shape}")
    if frame_times.shape != keypoints.shape[:1]:
        raise ValueError(f"frame_times must be [frames] = {keypoints.shape[:1]}, got {frame_times.shape}")

    track_ids = np.full(keypoints.shape[:2], NO_TRACK, dtype=np.int32)
    open_tracks: list[_Track] = []
    next_id = 0
    for frame, time in enumerate(frame_times):
        time = float(time)
        open_tracks = [t for t in open_tracks if time - t.last_time <= config.max_gap_s + 1e-9]
        detections = []
        for slot in range(keypoints.shape[1]):
            geometry = person_geometry(keypoints[frame, slot], config.min_conf)
            if geometry is not None:
                joints, centre, size = geometry
                detections.append(_Detection(slot, joints, centre, size, int(np.isfinite(joints).all(axis=1).sum())))
        matched: dict[int, _Track] = {}
        if open_tracks and detections:
            predictions = [track.predicted(time, config.max_gap_s) for track in open_tracks]
            cost = np.array([[_pair_cost(track, predicted, detection, config) for detection in detections]
                             for track, predicted in zip(open_tracks, predictions)])
            gates = np.array([config.max_cost + config.gate_growth_per_s * max(0.0, time - t.last_time)
                              for t in open_tracks])
            # Equal costs (two people in the same place) go to the older track, deterministically.
            age_rank = np.argsort(np.argsort([t.track_id for t in open_tracks]))
            for row, col in _assign(cost + 1e-9 * age_rank[:, None], gates):
                matched[col] = open_tracks[row]
        for index, detection in enumerate(detections):
            track = matched.get(index)
            if track is None:
                times = np.where(np.isfinite(detection.joints).all(axis=1), time, -np.inf)
                track = _Track(next_id, detection.joints.copy(), times, detection.size, time, np.zeros(2))
                next_id += 1
                open_tracks.append(track)
            else:
                _update(track, detection, time, config)
            track_ids[frame, detection.slot] = track.track_id
    return track_ids


def _assign(cost: np.ndarray, gates: np.ndarray) -> list[tuple[int, int]]:
    """Minimum-cost pairs (track row, detection column), each costing at most its track's gate.

    Leaving a track or a detection unmatched costs half the largest gate, the same for all, so
    an allowed pair is always worth making, the solver never forces a bad pair just to match
    more (which a big constant for refused pairs would do), and an old track is not preferred
    over a fresh one for being old."""
    from scipy.optimize import linear_sum_assignment

    tracks, detections = cost.shape
    refused = 1e9
    unmatched = float(gates.max()) / 2.0
    matrix = np.full((tracks + detections, detections + tracks), refused)
    matrix[:tracks, :detections] = np.where(cost <= gates[:, None], cost, refused)
    matrix[np.arange(tracks), detections + np.arange(tracks)] = unmatched
    matrix[tracks + np.arange(detections), np.arange(detections)] = unmatched
    matrix[tracks:, detections:] = 0.0
    rows, cols = linear_sum_assignment(matrix)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if r < tracks and c < detections]


def _update(track: _Track, detection: _Detection, time: float, config: TrackerConfig) -> None:
    seen = np.isfinite(detection.joints).all(axis=1)
    alpha = config.smoothing
    # Velocity from the joints seen both now and before (recently), each over its own interval.
    previous = np.isfinite(track.joints).all(axis=1) & (track.joint_times < time)
    previous &= time - track.joint_times <= config.max_gap_s + 1e-9
    both = seen & previous
    if both.any():
        elapsed = (time - track.joint_times[both])[:, None]
        observed = ((detection.joints[both] - track.joints[both]) / elapsed).mean(axis=0)
        track.velocity = alpha * observed + (1 - alpha) * track.velocity
    track.joints[seen] = detection.joints[seen]
    track.joint_times[seen] = time
    # Partial views (a person half hidden) look smaller than the person: only full views, or a
    # larger view, change the size.
    if detection.visible >= config.full_view_joints or detection.size > track.size:
        track.size = alpha * detection.size + (1 - alpha) * track.size
    track.last_time = time


def track_sequence(sequence: PoseSequence, config: TrackerConfig | None = None) -> PoseSequence:
    """The same sequence with ``track_ids`` from :func:`assign_track_ids` (keypoints untouched)."""
    track_ids = assign_track_ids(sequence.keypoints, sequence.frame_times, config)
    return dataclasses.replace(sequence, track_ids=track_ids)


# --------------------------------------------------------------------------- main dancer


@dataclasses.dataclass(frozen=True)
class TrackSummary:
    """One track over a clip, and its main-dancer score.

    share:      frames in which the track has a person / processed frames (longest track);
    size:       median person size (larger side of the confident joints' box) / frame height,
                capped at 1 (largest, i.e. usually front-most, dancer);
    centrality: 1 - 0.5 * min(1, |median box-centre x - width / 2| / (width / 2)), in [0.5, 1]
                (most central; horizontal only, since dancers stand side by side and the
                vertical position depends on framing; it can at most halve the score);
    score = share * size * centrality.
    """

    track_id: int
    frames: int
    share: float
    size: float
    centrality: float
    first_time: float
    last_time: float

    @property
    def score(self) -> float:
        return self.share * self.size * self.centrality

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "score": self.score}


def summarise_tracks(sequence: PoseSequence, min_conf: float = 0.3) -> list[TrackSummary]:
    """A :class:`TrackSummary` per track id, ordered by id."""
    positions: dict[int, list[tuple[int, float, float]]] = {}
    for frame in range(sequence.num_frames):
        for slot in range(sequence.num_persons):
            track_id = int(sequence.track_ids[frame, slot])
            if track_id == NO_TRACK:
                continue
            geometry = person_geometry(sequence.keypoints[frame, slot], min_conf)
            if geometry is None:
                continue
            _, centre, size = geometry
            positions.setdefault(track_id, []).append((frame, float(centre[0]), size))
    summaries = []
    half_width = sequence.width / 2.0
    for track_id in sorted(positions):
        rows = np.array(positions[track_id])
        frames = np.unique(rows[:, 0].astype(int))
        offset = abs(float(np.median(rows[:, 1])) - half_width) / half_width
        summaries.append(TrackSummary(
            track_id=track_id,
            frames=len(frames),
            share=len(frames) / sequence.num_frames,
            size=min(1.0, float(np.median(rows[:, 2])) / sequence.height),
            centrality=1.0 - 0.5 * min(1.0, offset),
            first_time=float(sequence.frame_times[frames[0]]),
            last_time=float(sequence.frame_times[frames[-1]]),
        ))
    return summaries


@dataclasses.dataclass(frozen=True)
class MainDancer:
    """The chosen track and the tracks that fill its gaps (see :func:`select_main_track`)."""

    track_id: int
    fill_ids: tuple[int, ...]
    tracks: tuple[TrackSummary, ...]


def select_main_track(sequence: PoseSequence, min_conf: float = 0.3) -> MainDancer | None:
    """The main dancer: the track with the highest :attr:`TrackSummary.score` (ties: the lower
    id, i.e. seen first); None if the sequence has no track.

    Its gaps may be filled from *fill tracks*: tracks that never share a frame with the main one.
    Those are the same dancer under a new id after a gap longer than the tracker bridges (a
    single-person backend losing and re-finding the dancer); a track seen beside the main dancer
    is somebody else and is never used. Where several fill tracks cover a frame, the
    higher-scoring one wins.
    """
    tracks = summarise_tracks(sequence, min_conf)
    if not tracks:
        return None
    main = max(tracks, key=lambda t: (t.score, -t.track_id))
    present = _frames_by_track(sequence.track_ids)
    main_frames = present[main.track_id]
    fills = [t for t in tracks if t.track_id != main.track_id and not (present[t.track_id] & main_frames)]
    fills.sort(key=lambda t: (-t.score, t.track_id))
    return MainDancer(main.track_id, tuple(t.track_id for t in fills), tuple(tracks))


def _frames_by_track(track_ids: np.ndarray) -> dict[int, set[int]]:
    frames: dict[int, set[int]] = {}
    for frame, slot in zip(*np.nonzero(track_ids != NO_TRACK)):
        frames.setdefault(int(track_ids[frame, slot]), set()).add(int(frame))
    return frames


def track_keypoints(sequence: PoseSequence, track_ids: tuple[int, ...] | list[int]) -> np.ndarray:
    """float32 [frames, 17, 3]: per frame the person of the first id in ``track_ids`` present
    there, NaN where none is."""
    out = np.full((sequence.num_frames, NUM_COCO17_JOINTS, 3), np.nan, dtype=np.float32)
    filled = np.zeros(sequence.num_frames, dtype=bool)
    for track_id in track_ids:
        frames, slots = np.nonzero((sequence.track_ids == track_id) & ~filled[:, None])
        frames, first = np.unique(frames, return_index=True)
        out[frames] = sequence.keypoints[frames, slots[first]]
        filled[frames] = True
    return out
