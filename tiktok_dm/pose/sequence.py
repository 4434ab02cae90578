"""The per-video pose sequence: COCO-17 skeletons of every processed frame, saved as one .npz.

Every backend speaks COCO-17 in pixels so that the rest of the pipeline (dancer selection,
BODY_25 conversion, resampling to 30 fps) never depends on which detector produced a file.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import numpy as np

from tiktok_dm.model.atomic import atomic_path

COCO17_JOINTS: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
NUM_COCO17_JOINTS = len(COCO17_JOINTS)

# Keys of the .npz written by PoseSequence.save (the documented `tiktok-dm pose` file format).
POSE_FILE_KEYS: tuple[str, ...] = ("keypoints", "track_ids", "frame_times", "fps", "width", "height")


def empty_detection() -> np.ndarray:
    """What a backend returns for a frame without anybody in it: [0, 17, 3] float32."""
    return np.zeros((0, NUM_COCO17_JOINTS, 3), dtype=np.float32)


@dataclasses.dataclass
class PoseSequence:
    """COCO-17 skeletons of every processed frame of one video.

    keypoints:   float32 [frames, persons, 17, 3] = (x, y) in pixels of the source video and a
                 confidence in [0, 1]; persons absent from a frame are padded with NaN.
    track_ids:   int32 [frames, persons], -1 where padded.
    frame_times: float64 [frames], time in seconds of each processed frame (frame_index / fps);
                 frames may be skipped, so this is the only reliable clock.
    fps, width, height: of the source video.
    """

    keypoints: np.ndarray
    track_ids: np.ndarray
    frame_times: np.ndarray
    fps: float
    width: int
    height: int

    def __post_init__(self) -> None:
        self.keypoints = np.asarray(self.keypoints, dtype=np.float32)
        self.track_ids = np.asarray(self.track_ids, dtype=np.int32)
        self.frame_times = np.asarray(self.frame_times, dtype=np.float64)
        self.fps = float(self.fps)
        self.width = int(self.width)
        self.height = int(self.height)
        _check_sequence_shapes(self.keypoints, self.track_ids, self.frame_times)
        if not (self.fps > 0 and math.isfinite(self.fps)):
            raise ValueError(f"fps must be a positive number, got {self.fps}")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"width and height must be positive, got {self.width}x{self.height}")

    @property
    def num_frames(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def num_persons(self) -> int:
        """Person slots per frame (the most persons seen in any one frame)."""
        return int(self.keypoints.shape[1])

    def person_coverage(self, min_visible_joints: int = 5, min_conf: float = 0.3) -> float:
        """Share of frames in which at least one person has ``min_visible_joints`` joints with
        confidence >= ``min_conf``; 0.0 for an empty sequence."""
        if self.num_frames == 0 or self.num_persons == 0:
            return 0.0
        confidence = np.nan_to_num(self.keypoints[..., 2], nan=0.0)
        visible_joints = (confidence >= min_conf).sum(axis=2)
        frame_has_person = (visible_joints >= min_visible_joints).any(axis=1)
        return float(frame_has_person.mean())

    def mean_confidence(self) -> float:
        """Mean joint confidence over all detected persons (padding excluded); 0.0 if nobody was
        detected, so that "nothing found" sorts below any real detection."""
        confidence = self.keypoints[..., 2]
        detected = confidence[np.isfinite(confidence)]
        return float(detected.mean()) if detected.size else 0.0

    def save(self, path: str | os.PathLike) -> Path:
        """Write the sequence as an .npz with keys ``POSE_FILE_KEYS``; atomic (no torn files)."""
        target = Path(path)
        with atomic_path(target) as tmp:
            # A file handle stops numpy from appending ".npz" to names with another suffix.
            with open(tmp, "wb") as handle:
                np.savez_compressed(
                    handle,
                    keypoints=self.keypoints,
                    track_ids=self.track_ids,
                    frame_times=self.frame_times,
                    fps=np.float64(self.fps),
                    width=np.int64(self.width),
                    height=np.int64(self.height),
                )
        return target

    @classmethod
    def load(cls, path: str | os.PathLike) -> "PoseSequence":
        """Read a file written by :meth:`save`."""
        source = Path(path)
        if not source.is_file():
            raise FileNotFoundError(f"pose file not found: {source}")
        arrays = _read_npz(source)
        missing = [key for key in POSE_FILE_KEYS if key not in arrays]
        if missing:
            raise ValueError(f"{source} is not a pose file: missing keys {missing}")
        try:
            return cls(
                keypoints=arrays["keypoints"],
                track_ids=arrays["track_ids"],
                frame_times=arrays["frame_times"],
                fps=float(arrays["fps"]),
                width=int(arrays["width"]),
                height=int(arrays["height"]),
            )
        except ValueError as error:
            raise ValueError(f"invalid pose file {source}: {error}") from error


def _read_npz(source: Path) -> dict[str, np.ndarray]:
    try:
        loaded = np.load(source, allow_pickle=False)
    except (OSError, EOFError, ValueError) as error:  # numpy's ways of saying "not an npz"
        raise ValueError(f"cannot read pose file {source}: {error}") from error
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ValueError(f"{source} is a single .npy array, not a pose .npz archive")
    with loaded:
        return {key: loaded[key] for key in loaded.files}


def _check_sequence_shapes(keypoints: np.ndarray, track_ids: np.ndarray, frame_times: np.ndarray) -> None:
    if keypoints.ndim != 4 or keypoints.shape[2:] != (NUM_COCO17_JOINTS, 3):
        raise ValueError(f"keypoints must be [frames, persons, 17, 3], got shape {keypoints.shape}")
    if track_ids.shape != keypoints.shape[:2]:
        raise ValueError(f"track_ids must be [frames, persons] = {keypoints.shape[:2]}, got {track_ids.shape}")
    if frame_times.shape != keypoints.shape[:1]:
        raise ValueError(f"frame_times must be [frames] = {keypoints.shape[:1]}, got {frame_times.shape}")
