"""The main dancer's kinematic envelope (for the audio-video offset) and kinematic beats (for the beat alignment).

On the main dancer's COCO-17 track (the track the D2M motion arrays are made from):

1. joints with confidence < ``min_confidence`` are missing; positions are divided by the
   dancer's median height (top to bottom of the confident joints), so the rule is scale free;
   missing stretches are linearly interpolated, and the track is put on a uniform time grid at
   the video frame rate;
2. positions are smoothed with a Gaussian of ``smooth_frames`` frames; velocity ``v`` and
   acceleration ``a`` are *centred* differences (``np.gradient``), so the envelope at frame t
   describes frame t, with no half-frame lag;
3. the envelope: per joint, acceleration is split along the direction of motion: the tangential part
   ``a_t = a . v/|v|`` (negative = slowing down) and the normal part ``|a - a_t v/|v||``
   (turning); the joint's envelope is ``max(0, -a_t) + a_n`` (deceleration plus turning,
   body heights / s^2), with ``a_n`` replaced by 0 below ``min_speed`` (no direction to turn);
   the kinematic envelope is the sum over joints. The offset correlates it with the music's onset strength;
4. kinematic beats, the literature's rule (the beat-alignment score of AIST++/FACT and Bailando, and the kinematic
   beats of "Dancing to Music"): the local minima of the mean joint speed ``|v|``, smoothed by a Gaussian of
   ``beat_smooth_s`` (Bailando: 5 frames at AIST++'s 60 fps). A move that ends in a hold gives its beat in the middle
   of the hold, where the speed is least.

The envelope peaks while a joint brakes, i.e. a little *before* it comes to rest. On real
dancing, motion also leads the sound it goes with: on iper_akun_1 the wrist stops at the bottom
of a dribble 0.1-0.17 s before the ball hits the floor (and the soundtrack's onsets sit on the
ball's lowest points, +-2 ms median), so the offset found on that clip is +0.167 s with the
true pairing: a property of the content, not of the differences (centred) or of mediapipe's
landmark smoothing (turning it off gave the same offset).
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks

from tiktok_dm.pose.sequence import PoseSequence
from tiktok_dm.pose.tracking import select_main_track, track_keypoints
from tiktok_dm.quality.config import KinematicConfig


class QAError(ValueError):
    """A clip's data does not allow a QA measurement (no dancer, no audio, too short)."""


@dataclasses.dataclass(frozen=True)
class KinematicEnvelope:
    """The envelope (deceleration plus turning) and the beats' smoothed mean joint speed, on a uniform grid:
    ``times[k] = t0 + k / fps``."""

    times: np.ndarray
    values: np.ndarray
    fps: float
    speed: np.ndarray  # mean joint speed, body heights / s, smoothed by KinematicConfig.beat_smooth_s

    @property
    def duration_s(self) -> float:
        return len(self.values) / self.fps


def main_dancer_keypoints(sequence: PoseSequence, min_conf: float = 0.3) -> np.ndarray:
    """[frames, 17, 3] of the main dancer (the track the motion arrays use, gaps filled from
    tracks that never share a frame with it); QAError if nobody was tracked."""
    main = select_main_track(sequence, min_conf)
    if main is None:
        raise QAError("no dancer tracked in the pose file")
    return track_keypoints(sequence, (main.track_id, *main.fill_ids))


def kinematic_envelope(keypoints: np.ndarray, frame_times: np.ndarray, fps: float,
                       config: KinematicConfig = KinematicConfig()) -> KinematicEnvelope:
    """Deceleration-plus-turning strength and smoothed mean joint speed per frame of one dancer's [frames, 17, 3]
    track."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    frame_times = np.asarray(frame_times, dtype=np.float64)
    if keypoints.ndim != 3 or keypoints.shape[1:] != (17, 3):
        raise ValueError(f"keypoints must be [frames, 17, 3], got {keypoints.shape}")
    confidence = np.nan_to_num(keypoints[..., 2], nan=0.0)
    xy = np.where((confidence >= config.min_confidence)[..., None], keypoints[..., :2], np.nan)
    seen = np.isfinite(xy).all(axis=-1)  # [frames, joints]
    if seen.any(axis=1).sum() < 5:
        raise QAError(f"the dancer is seen in {int(seen.any(axis=1).sum())} frame(s); at least 5 are needed")
    with warnings.catch_warnings():  # frames with no confident joint: NaN, left out below ("All-NaN slice")
        warnings.simplefilter("ignore", RuntimeWarning)
        heights = np.nanmax(xy[..., 1], axis=1) - np.nanmin(xy[..., 1], axis=1)
    height = float(np.nanmedian(heights[seen.sum(axis=1) >= 4])) if (seen.sum(axis=1) >= 4).any() else np.nan
    if not np.isfinite(height) or height <= 0:
        raise QAError("the dancer's height cannot be measured (fewer than 4 confident joints in every frame)")

    grid = frame_times[0] + np.arange(int(round((frame_times[-1] - frame_times[0]) * fps)) + 1) / fps
    joints = [j for j in range(17) if seen[:, j].sum() >= 2]
    positions = np.empty((len(grid), len(joints), 2))
    for column, joint in enumerate(joints):
        known = seen[:, joint]
        for axis in range(2):
            positions[:, column, axis] = np.interp(grid, frame_times[known], xy[known, joint, axis] / height)
    if config.smooth_frames > 0:
        positions = gaussian_filter1d(positions, config.smooth_frames, axis=0, mode="nearest")
    velocity = np.gradient(positions, axis=0) * fps
    acceleration = np.gradient(velocity, axis=0) * fps
    speed = np.linalg.norm(velocity, axis=-1)
    direction = velocity / np.maximum(speed, 1e-9)[..., None]
    tangential = (acceleration * direction).sum(axis=-1)
    normal = np.linalg.norm(acceleration - tangential[..., None] * direction, axis=-1)
    normal = np.where(speed >= config.min_speed, normal, 0.0)
    envelope = (np.clip(-tangential, 0.0, None) + normal).sum(axis=1)
    mean_speed = speed.mean(axis=1)
    if config.beat_smooth_s > 0:
        mean_speed = gaussian_filter1d(mean_speed, config.beat_smooth_s * fps, mode="nearest")
    return KinematicEnvelope(grid, envelope, float(fps), mean_speed)


def kinematic_beats(envelope: KinematicEnvelope) -> np.ndarray:
    """Times (s) of the kinematic beats: the local minima of the smoothed mean joint speed (a flat minimum gives its
    middle)."""
    if len(envelope.speed) < 3:
        return np.zeros(0)
    minima, _ = find_peaks(-envelope.speed)
    return envelope.times[minima]


def sequence_envelope(sequence: PoseSequence, config: KinematicConfig = KinematicConfig()) -> KinematicEnvelope:
    """The kinematic envelope of a pose file's main dancer."""
    keypoints = main_dancer_keypoints(sequence, config.min_confidence)
    return kinematic_envelope(keypoints, sequence.frame_times, sequence.fps, config)
