"""The pose backend contract and the loop that runs a backend over a video into a PoseSequence.

Every backend speaks COCO-17 in pixels (``tiktok_dm.pose.sequence``), so the rest of the pipeline
never depends on which detector produced a file.
"""

from __future__ import annotations

import abc
import contextlib
import itertools
import logging
import math
import os
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Iterator

import numpy as np

from tiktok_dm.pose.content import ContentConfig, content_rectangle
from tiktok_dm.pose.sequence import NUM_COCO17_JOINTS, PoseSequence, empty_detection
from tiktok_dm.pose.tracking import TrackerConfig, assign_track_ids

logger = logging.getLogger(__name__)


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


@contextlib.contextmanager
def native_stderr_to_debug_log() -> Iterator[None]:
    """Send what native code writes to file descriptor 2 meanwhile to this module's DEBUG log.

    While a mediapipe graph or a LiteRT interpreter loads its models (from its construction to the
    end of its first run, ~0.2 s) TFLite and absl (C++) print INFO/WARNING lines straight to fd 2,
    bypassing Python logging, and their level cannot be set from Python. The redirection is process-wide, so
    it is kept to that window; anything another thread writes to stderr meanwhile lands in the
    DEBUG log instead of being lost.
    """
    try:
        if sys.stderr is not None:
            sys.stderr.flush()  # Python's buffered text must reach the real stderr first
        saved_stderr = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (detached daemon): nothing to redirect
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved_stderr, 2)
            os.close(saved_stderr)
            capture.seek(0)
            for line in capture.read().decode("utf-8", errors="replace").splitlines():
                if line.strip():
                    logger.debug("native: %s", line)


class PoseBackend(abc.ABC):
    """A 2D multi- or single-person skeleton detector producing COCO-17 in pixels.

    Backends may keep state between frames (tracking, smoothing), so one instance handles one
    video at a time; :func:`estimate_video` calls :meth:`reset` before each video.
    """

    name: str = "base"
    # The weights file the backend loaded; None for a model that ships inside its package.
    checkpoint_path: Path | None = None

    def reset(self) -> None:
        """Forget everything about the previous video (tracking state)."""

    @abc.abstractmethod
    def detect(self, frame_rgb: np.ndarray) -> np.ndarray:
        """Skeletons in one RGB uint8 frame [H, W, 3]: float32 [persons, 17, 3] in pixels
        (x, y, confidence); persons may be 0."""

    def expect_people(self, count: int | None) -> None:
        """How many people the next video shows, where known (a manifest's num_dancers): a backend that poses
        several may look for no more (None: as many as it can). Single-person and bottom-up backends ignore it."""

    def detect_at(self, frame_rgb: np.ndarray, time_s: float) -> np.ndarray:
        """:meth:`detect` of the frame at ``time_s`` seconds into the video (a backend that follows people over
        time uses the clock; the others ignore it)."""
        return self.detect(frame_rgb)

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
    tracker: TrackerConfig | None = None,
    content: ContentConfig | None = None,
) -> PoseSequence:
    """Run ``backend`` over the frames of a video, processing at most ``max_fps`` frames per
    second of video (0 = every frame), and link the persons of successive frames into tracks
    (:func:`tiktok_dm.pose.tracking.assign_track_ids`, settings ``tracker``). With ``content``, the
    backend sees only the picture of a compilation layout (:func:`tiktok_dm.pose.content.content_rectangle`
    on the first sampled frames), keypoints still in the frame's pixels.

    A frame that cannot be decoded (a corrupt packet mid-file) counts as a frame with nobody in
    it, with its time kept, and the video goes on; only a video with no decodable frame at all
    is an error.
    """
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
    sampled = _iter_sampled_frames(video, max_fps)
    rectangle = None
    if content is not None and content.enabled:
        first = list(itertools.islice(sampled, content.frames))
        rectangle = content_rectangle([frame for _, frame, _ in first if frame is not None], content)
        sampled = itertools.chain(first, sampled)
        if rectangle is not None:
            logger.debug("%s: posed on the picture at x %d-%d, y %d-%d", video.name, rectangle.left, rectangle.right,
                         rectangle.top, rectangle.bottom)
    for frame_time, frame_rgb, fps in sampled:
        if frame_rgb is None:
            undecodable += 1
            detections.append(empty_detection())
            frame_times.append(frame_time)
            continue
        frame_size = (frame_rgb.shape[1], frame_rgb.shape[0])
        if rectangle is None:
            detection = _checked_detection(backend.detect_at(frame_rgb, frame_time), backend, video)
        else:
            detection = rectangle.to_frame(
                _checked_detection(backend.detect_at(rectangle.crop(frame_rgb), frame_time), backend, video))
        detections.append(detection)
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
