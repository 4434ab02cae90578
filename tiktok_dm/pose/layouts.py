"""From COCO-17 pose sequences to the D2M-GAN motion arrays.

D2M-GAN's TikTok loader reads each 2-s motion segment as 4500 values reshaped to (60, 75):
60 frames (2 s at 30 fps) x 25 OpenPose BODY_25 joints x (x, y, confidence). Our detectors give
COCO-17, so this module selects the dancer, resamples to the target frame rate and converts
the joint layout.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np

from tiktok_dm.pose.sequence import COCO17_JOINTS, NUM_COCO17_JOINTS, PoseSequence
from tiktok_dm.pose.tracking import NO_TRACK, select_main_track, track_keypoints, track_sequence

logger = logging.getLogger(__name__)

BODY25_JOINTS: tuple[str, ...] = (
    "Nose",
    "Neck",
    "RShoulder",
    "RElbow",
    "RWrist",
    "LShoulder",
    "LElbow",
    "LWrist",
    "MidHip",
    "RHip",
    "RKnee",
    "RAnkle",
    "LHip",
    "LKnee",
    "LAnkle",
    "REye",
    "LEye",
    "REar",
    "LEar",
    "LBigToe",
    "LSmallToe",
    "LHeel",
    "RBigToe",
    "RSmallToe",
    "RHeel",
)
NUM_BODY25_JOINTS = len(BODY25_JOINTS)

MotionLayout = Literal["body25", "coco17"]
MOTION_LAYOUTS: tuple[str, ...] = ("body25", "coco17")

_COCO = {name: index for index, name in enumerate(COCO17_JOINTS)}

# BODY_25 joint -> the COCO-17 joint it is copied from.
BODY25_FROM_COCO17: dict[str, str] = {
    "Nose": "nose",
    "RShoulder": "right_shoulder",
    "RElbow": "right_elbow",
    "RWrist": "right_wrist",
    "LShoulder": "left_shoulder",
    "LElbow": "left_elbow",
    "LWrist": "left_wrist",
    "RHip": "right_hip",
    "RKnee": "right_knee",
    "RAnkle": "right_ankle",
    "LHip": "left_hip",
    "LKnee": "left_knee",
    "LAnkle": "left_ankle",
    "REye": "right_eye",
    "LEye": "left_eye",
    "REar": "right_ear",
    "LEar": "left_ear",
}
# BODY_25 joints that are the midpoint of two COCO-17 joints.
BODY25_MIDPOINTS: dict[str, tuple[str, str]] = {
    "Neck": ("left_shoulder", "right_shoulder"),
    "MidHip": ("left_hip", "right_hip"),
}
BODY25_FOOT_JOINTS: tuple[str, ...] = ("LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel")


def coco17_to_body25(keypoints: np.ndarray) -> np.ndarray:
    """Convert [..., 17, 3] COCO-17 keypoints to [..., 25, 3] OpenPose BODY_25.

    - The 17 COCO joints are copied to their BODY_25 slots (see ``BODY25_FROM_COCO17``).
    - Neck = mean of the two shoulders, MidHip = mean of the two hips, with confidence = the
      lower of the two; NaN (x, y and confidence) if either side is missing (NaN).
    - The six foot joints (big/small toe, heel) do not exist in COCO-17 and cannot be derived
      from it: they are x = y = 0 with confidence 0, OpenPose's encoding of an undetected joint.
    """
    keypoints = _checked_coco17(keypoints, "keypoints")
    body25 = np.zeros(keypoints.shape[:-2] + (NUM_BODY25_JOINTS, 3), dtype=np.float32)
    body_index = {name: index for index, name in enumerate(BODY25_JOINTS)}
    for body_name, coco_name in BODY25_FROM_COCO17.items():
        body25[..., body_index[body_name], :] = keypoints[..., _COCO[coco_name], :]
    for body_name, (left_name, right_name) in BODY25_MIDPOINTS.items():
        left, right = keypoints[..., _COCO[left_name], :], keypoints[..., _COCO[right_name], :]
        body25[..., body_index[body_name], :] = _midpoint(left, right)
    return body25


def _midpoint(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Mean position, min confidence; NaN propagates naturally through mean and min."""
    middle = np.empty_like(left)
    middle[..., :2] = (left[..., :2] + right[..., :2]) / 2.0
    middle[..., 2] = np.minimum(left[..., 2], right[..., 2])
    missing = ~(np.isfinite(left).all(axis=-1) & np.isfinite(right).all(axis=-1))
    middle[missing] = np.nan
    return middle


def main_person_track(seq: PoseSequence, min_conf: float = 0.3) -> np.ndarray:
    """The main dancer's COCO-17 keypoints per frame: float32 [frames, 17, 3], NaN where the
    dancer is not seen.

    Rule (:func:`tiktok_dm.pose.tracking.select_main_track`): among the sequence's tracks, the one
    with the highest share-of-frames x median size x centrality score, i.e. the longest, largest,
    most central dancer; its gaps are filled from tracks that never appear in the same frame as
    it (the same dancer re-found under a new id). Other dancers stay in the pose file but never
    enter the motion array. A sequence without track ids (all -1, e.g. built by hand) is
    tracked first. ``min_conf``: joints counted for a person's size and position.
    """
    empty = np.full((seq.num_frames, NUM_COCO17_JOINTS, 3), np.nan, dtype=np.float32)
    if seq.num_persons == 0:
        return empty
    present = np.isfinite(seq.keypoints[..., 2]).any(axis=-1)
    if (seq.track_ids[present] == NO_TRACK).any():
        seq = track_sequence(seq)
    main = select_main_track(seq, min_conf)
    if main is None:
        return empty
    return track_keypoints(seq, (main.track_id, *main.fill_ids))


def resample_to_fps(
    keypoints: np.ndarray,
    frame_times: np.ndarray,
    target_fps: float,
    n_frames: int,
    start: float = 0.0,
) -> np.ndarray:
    """Pick, for each target time ``start + j / target_fps`` (j < n_frames), the processed frame
    nearest in time: float32 [n_frames, 17, 3].

    Nearest rather than interpolated on purpose: pose frames may be missing (skipped by max_fps,
    or no detection), and interpolating across such a gap would invent poses the dancer never
    made. Target times past the last (or before the first) processed frame reuse that frame only
    if they are within one source frame interval of it (the median spacing of ``frame_times``);
    farther out they are NaN.
    """
    keypoints = np.asarray(keypoints, dtype=np.float32)
    frame_times = np.asarray(frame_times, dtype=np.float64)
    _check_resample_inputs(keypoints, frame_times, target_fps, n_frames)
    resampled = np.full((n_frames, NUM_COCO17_JOINTS, 3), np.nan, dtype=np.float32)
    if len(frame_times) == 0 or n_frames == 0:
        return resampled

    target_times = start + np.arange(n_frames, dtype=np.float64) / target_fps
    nearest = _nearest_indices(frame_times, target_times)
    # With one frame there is no spacing to measure; the target spacing is the next best guess.
    interval = float(np.median(np.diff(frame_times))) if len(frame_times) > 1 else 1.0 / target_fps
    tolerance = interval + 1e-9
    inside = (target_times >= frame_times[0] - tolerance) & (target_times <= frame_times[-1] + tolerance)
    resampled[inside] = keypoints[nearest[inside]]
    return resampled


def _nearest_indices(sorted_times: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Index of the nearest entry of ``sorted_times`` for each query (ties go to the earlier)."""
    if len(sorted_times) == 1:
        return np.zeros(len(queries), dtype=np.intp)
    right = np.clip(np.searchsorted(sorted_times, queries), 1, len(sorted_times) - 1)
    left = right - 1
    take_left = np.abs(queries - sorted_times[left]) <= np.abs(sorted_times[right] - queries)
    return np.where(take_left, left, right)


def _check_resample_inputs(keypoints: np.ndarray, frame_times: np.ndarray, target_fps: float, n_frames: int) -> None:
    _checked_coco17(keypoints, "keypoints")
    if keypoints.ndim != 3:
        raise ValueError(f"keypoints must be [frames, 17, 3], got shape {keypoints.shape}")
    if frame_times.shape != keypoints.shape[:1]:
        raise ValueError(f"frame_times must be [frames] = {keypoints.shape[:1]}, got {frame_times.shape}")
    if len(frame_times) > 1 and not (np.diff(frame_times) > 0).all():
        raise ValueError("frame_times must be strictly increasing")
    if not target_fps > 0:
        raise ValueError(f"target_fps must be positive, got {target_fps}")
    if n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")


def to_motion_array(
    keypoints: np.ndarray,
    layout: MotionLayout,
    width: int,
    height: int,
    normalise: bool = False,
) -> np.ndarray:
    """Flatten [n, 17, 3] COCO-17 keypoints into a D2M motion array: float32 [n, 75] for
    ``layout="body25"`` (the TikTok loader's (60, 75) segments) or [n, 51] for ``"coco17"``.

    Missing joints (any NaN) become (0, 0, 0), OpenPose's convention for an undetected joint.
    With ``normalise`` x is divided by ``width`` and y by ``height`` so in-frame joints fall in
    [0, 1]; joints the detector places outside the frame keep values outside [0, 1] rather than
    being clamped, which would bend limbs.
    """
    keypoints = _checked_coco17(np.asarray(keypoints, dtype=np.float32), "keypoints")
    if keypoints.ndim != 3:
        raise ValueError(f"keypoints must be [n, 17, 3], got shape {keypoints.shape}")
    if layout not in MOTION_LAYOUTS:
        raise ValueError(f"unknown motion layout {layout!r}; expected one of {', '.join(MOTION_LAYOUTS)}")
    if width <= 0 or height <= 0:
        raise ValueError(f"width and height must be positive, got {width}x{height}")

    joints = coco17_to_body25(keypoints) if layout == "body25" else keypoints.copy()
    missing = ~np.isfinite(joints).all(axis=-1)
    joints[missing] = 0.0
    if normalise:
        joints[..., 0] /= width
        joints[..., 1] /= height
    return joints.reshape(len(joints), -1).astype(np.float32, copy=False)


def _checked_coco17(keypoints: np.ndarray, what: str) -> np.ndarray:
    keypoints = np.asarray(keypoints, dtype=np.float32)
    if keypoints.ndim < 2 or keypoints.shape[-2:] != (NUM_COCO17_JOINTS, 3):
        raise ValueError(f"{what} must end in [17, 3] (COCO-17 x, y, confidence), got shape {keypoints.shape}")
    return keypoints
