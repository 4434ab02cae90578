"""Pose backends, the per-video pose sequence and the loop that runs a backend over a video.

Every backend speaks COCO-17 in pixels so that the rest of the pipeline (dancer selection,
BODY_25 conversion, resampling to 30 fps) never depends on which detector produced a file.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import math
import os
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Iterator

import numpy as np

from tiktok_dm.atomic import atomic_path

if TYPE_CHECKING:
    from tiktok_dm.pose.tracking import TrackerConfig

logger = logging.getLogger(__name__)

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


def checked_rgb_frame(frame_rgb: np.ndarray) -> np.ndarray:
    """The frame as a C-contiguous RGB uint8 [H, W, 3] array (what every backend takes), or a
    ValueError saying what is wrong with it."""
    frame_rgb = np.asarray(frame_rgb)
    if frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB frame [H, W, 3], got shape {frame_rgb.shape}")
    if frame_rgb.dtype != np.uint8:
        raise ValueError(f"expected a uint8 frame, got dtype {frame_rgb.dtype}")
    if frame_rgb.shape[0] == 0 or frame_rgb.shape[1] == 0:
        raise ValueError(f"expected a non-empty frame, got shape {frame_rgb.shape}")
    # mediapipe wraps the buffer without copying and needs it C-contiguous.
    return np.ascontiguousarray(frame_rgb)


class PoseBackend(abc.ABC):
    """A 2D multi- or single-person skeleton detector producing COCO-17 in pixels.

    Backends may keep state between frames (tracking, smoothing), so one instance handles one
    video at a time; :func:`estimate_video` calls :meth:`reset` before each video.
    """

    name: str = "base"

    def reset(self) -> None:
        """Forget everything about the previous video (tracking state)."""

    @abc.abstractmethod
    def detect(self, frame_rgb: np.ndarray) -> np.ndarray:
        """Skeletons in one RGB uint8 frame [H, W, 3]: float32 [persons, 17, 3] in pixels
        (x, y, confidence); persons may be 0."""

    def close(self) -> None:
        """Release native resources; the backend is unusable afterwards."""

    def __enter__(self) -> "PoseBackend":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def estimate_video(
    path: str | os.PathLike,
    backend: PoseBackend,
    max_fps: float = 30.0,
    tracker: "TrackerConfig | None" = None,
) -> PoseSequence:
    """Run ``backend`` over the frames of a video, processing at most ``max_fps`` frames per
    second of video (0 = every frame), and link the persons of successive frames into tracks
    (:func:`tiktok_dm.pose.tracking.assign_track_ids`, settings ``tracker``).

    A frame that cannot be decoded (a corrupt packet mid-file) counts as a frame with nobody in
    it, with its time kept, and the video goes on; only a video with no decodable frame at all
    is an error.
    """
    from tiktok_dm.pose.tracking import assign_track_ids

    video = Path(path)
    if max_fps < 0 or not math.isfinite(max_fps):
        raise ValueError(f"max_fps must be >= 0 (0 = all frames), got {max_fps}")
    if not video.is_file():
        raise FileNotFoundError(f"video not found: {video}")

    backend.reset()
    detections: list[np.ndarray] = []
    frame_times: list[float] = []
    frame_size: tuple[int, int] | None = None
    fps = 0.0
    undecodable = 0
    for frame_time, frame_rgb, fps in _iter_sampled_frames(video, max_fps):
        if frame_rgb is None:
            undecodable += 1
            detections.append(empty_detection())
        else:
            frame_size = (frame_rgb.shape[1], frame_rgb.shape[0])
            detections.append(_checked_detection(backend.detect(frame_rgb), backend, video))
        frame_times.append(frame_time)
    if frame_size is None:
        raise ValueError(f"no frame could be decoded from video {video}")
    if undecodable:
        logger.warning("%s: %d of %d sampled frames could not be decoded; recorded with nobody in them",
                       video, undecodable, len(frame_times))

    keypoints, _ = _stack_detections(detections)
    times = np.asarray(frame_times)
    sequence = PoseSequence(keypoints, assign_track_ids(keypoints, times, tracker), times, fps,
                            frame_size[0], frame_size[1])
    logger.debug(
        "%s: %d frames posed with %s, person coverage %.2f",
        video.name,
        sequence.num_frames,
        backend.name,
        sequence.person_coverage(),
    )
    return sequence


# Give up on a video after this many frames in a row that do not decode.
MAX_CONSECUTIVE_UNDECODABLE = 30


def _iter_sampled_frames(video: Path, max_fps: float) -> Iterator[tuple[float, np.ndarray | None, float]]:
    """Yield (frame_index / fps, RGB frame or None if undecodable, fps) for the frames kept by the
    ``max_fps`` rule.

    OpenCV's grab() returns False both at the end of the file and on a corrupt packet, and the
    next grab() goes on after the bad one. So failures are held back and reported (as None) only
    once a later frame decodes: a video never ends in made-up empty frames. The index of a
    decoded frame comes from its timestamp when that is ahead of the count, so frames lost in
    a corrupt stretch do not shift the timing of the rest.
    """
    import cv2  # heavy import: only when a video is actually read

    capture = cv2.VideoCapture(str(video))
    try:
        if not capture.isOpened():
            raise ValueError(f"cannot open video {video} (unsupported or corrupt file)")
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        if not (fps > 0 and math.isfinite(fps)):
            raise ValueError(f"video {video} reports no frame rate (fps={fps}); cannot time its frames")
        keep_every_frame = max_fps == 0 or max_fps >= fps

        def slot_of(index: int) -> int:
            return index if keep_every_frame else math.floor(index * max_fps / fps + 1e-9)

        last_slot = -1
        next_index = 0  # index the next decoded frame gets unless its timestamp says later
        failed: list[int] = []  # indices of failed frames not reported yet
        while True:
            if not capture.grab():
                failed.append(next_index)
                next_index += 1
                if len(failed) >= MAX_CONSECUTIVE_UNDECODABLE:
                    break  # end of file (or hopeless): drop the held-back failures
                continue
            stamped = round(capture.get(cv2.CAP_PROP_POS_MSEC) * fps / 1000.0)
            index = max(next_index, stamped) if failed else next_index
            for lost in (i for i in failed if i < index):
                if slot_of(lost) != last_slot:
                    last_slot = slot_of(lost)
                    yield lost / fps, None, fps
            if failed:
                logger.warning("%s: frame(s) %d-%d could not be decoded", video, failed[0], index - 1)
            failed = []
            next_index = index + 1
            if slot_of(index) == last_slot:
                continue
            last_slot = slot_of(index)
            # grab() without retrieve() skips the colour conversion of frames we do not keep.
            ok, frame_bgr = capture.retrieve()
            if not ok or frame_bgr is None:
                logger.warning("%s: frame %d could not be decoded", video, index)
                yield index / fps, None, fps
                continue
            yield index / fps, cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB), fps
    finally:
        capture.release()


def _checked_detection(detection: np.ndarray, backend: PoseBackend, video: Path) -> np.ndarray:
    detection = np.asarray(detection, dtype=np.float32)
    if detection.ndim != 3 or detection.shape[1:] != (NUM_COCO17_JOINTS, 3):
        raise ValueError(
            f"pose backend {backend.name!r} returned shape {detection.shape} on {video}; expected [persons, 17, 3]"
        )
    return detection


def _stack_detections(detections: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Pad per-frame detections to [frames, max persons, 17, 3] (NaN), with ids = the detection
    order in the frame (-1 where padded); :func:`estimate_video` replaces those with track ids."""
    max_persons = max((len(detection) for detection in detections), default=0)
    keypoints = np.full((len(detections), max_persons, NUM_COCO17_JOINTS, 3), np.nan, dtype=np.float32)
    track_ids = np.full((len(detections), max_persons), -1, dtype=np.int32)
    for frame, detection in enumerate(detections):
        persons = len(detection)
        keypoints[frame, :persons] = detection
        track_ids[frame, :persons] = np.arange(persons, dtype=np.int32)
    return keypoints, track_ids
