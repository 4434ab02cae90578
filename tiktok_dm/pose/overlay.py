"""Skeletons drawn on video frames, for people to check pose quality by eye.

Each track gets its own colour (the same in every image of a clip); the main dancer, the one the
motion arrays are made from, is drawn thicker and labelled ``main``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from tiktok_dm.model.atomic import atomic_path
from tiktok_dm.pose.sequence import COCO17_JOINTS, PoseSequence

logger = logging.getLogger(__name__)

_J = {name: index for index, name in enumerate(COCO17_JOINTS)}
# COCO-17 limbs as (joint, joint) pairs.
COCO17_EDGES: tuple[tuple[int, int], ...] = tuple((_J[a], _J[b]) for a, b in (
    ("left_ankle", "left_knee"), ("left_knee", "left_hip"), ("right_ankle", "right_knee"),
    ("right_knee", "right_hip"), ("left_hip", "right_hip"), ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"), ("left_shoulder", "right_shoulder"), ("left_shoulder", "left_elbow"),
    ("right_shoulder", "right_elbow"), ("left_elbow", "left_wrist"), ("right_elbow", "right_wrist"),
    ("left_eye", "right_eye"), ("nose", "left_eye"), ("nose", "right_eye"), ("left_eye", "left_ear"),
    ("right_eye", "right_ear"), ("left_ear", "left_shoulder"), ("right_ear", "right_shoulder"),
))
# Distinct RGB colours; track k gets TRACK_COLOURS[k % len]. Untracked persons are grey.
TRACK_COLOURS: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128),
)
UNTRACKED_COLOUR = (160, 160, 160)


def track_colour(track_id: int) -> tuple[int, int, int]:
    return UNTRACKED_COLOUR if track_id < 0 else TRACK_COLOURS[track_id % len(TRACK_COLOURS)]


def draw_skeletons(
    frame_rgb: np.ndarray,
    keypoints: np.ndarray,
    track_ids: np.ndarray,
    min_conf: float = 0.3,
    main_track: int | None = None,
) -> np.ndarray:
    """A copy of ``frame_rgb`` with the persons of one frame (keypoints [P, 17, 3], ids [P])
    drawn on it: joints with confidence >= ``min_conf`` and the limbs between two such joints."""
    import cv2

    canvas = np.ascontiguousarray(frame_rgb, dtype=np.uint8).copy()
    scale = max(1, round(max(canvas.shape[:2]) / 500))
    for person, track_id in zip(np.asarray(keypoints, dtype=np.float32), np.asarray(track_ids)):
        confidence = np.nan_to_num(person[:, 2], nan=0.0)
        visible = (confidence >= min_conf) & np.isfinite(person[:, :2]).all(axis=1)
        if not visible.any():
            continue
        is_main = main_track is not None and int(track_id) == main_track
        colour = track_colour(int(track_id))
        thickness = scale * (3 if is_main else 2)
        points = np.round(np.nan_to_num(person[:, :2])).astype(int)
        for a, b in COCO17_EDGES:
            if visible[a] and visible[b]:
                cv2.line(canvas, tuple(points[a]), tuple(points[b]), colour, thickness, cv2.LINE_AA)
        for joint in np.flatnonzero(visible):
            cv2.circle(canvas, tuple(points[joint]), thickness + scale, colour, -1, cv2.LINE_AA)
        label = f"id {int(track_id)}" + (" main" if is_main else "")
        top = points[visible][np.argmin(points[visible][:, 1])]
        cv2.putText(canvas, label, (int(top[0]) - 10 * scale, max(12 * scale, int(top[1]) - 8 * scale)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, colour, scale, cv2.LINE_AA)
    return canvas


def sample_frames(sequence: PoseSequence, count: int) -> list[int]:
    """``count`` processed-frame indices spread evenly over the clip (all if fewer)."""
    if count <= 0 or sequence.num_frames == 0:
        return []
    if sequence.num_frames <= count:
        return list(range(sequence.num_frames))
    return sorted({int(round(i)) for i in np.linspace(0, sequence.num_frames - 1, count)})


def write_overlays(
    video: str | os.PathLike,
    sequence: PoseSequence,
    out_dir: str | os.PathLike,
    prefix: str,
    count: int = 4,
    min_conf: float = 0.3,
    main_track: int | None = None,
    max_side: int = 640,
) -> list[Path]:
    """Draw the skeletons of ``count`` sample frames on the video's frames and save them as
    ``<out_dir>/<prefix>_<frame>.png``, scaled so the long side is ``max_side`` pixels.
    The video must be the one the sequence was estimated on. Returns the files written."""
    import cv2

    wanted = {round(float(sequence.frame_times[i]) * sequence.fps): i for i in sample_frames(sequence, count)}
    written: list[Path] = []
    if not wanted:
        return written
    capture = cv2.VideoCapture(os.fspath(video))
    try:
        if not capture.isOpened():
            raise ValueError(f"cannot open video {video} to draw pose overlays")
        last = max(wanted)
        # Sequential reading: exact frames, where seeking in compressed video may land nearby.
        for frame_index in range(last + 1):
            if not capture.grab():
                logger.warning("%s: ended before frame %d; %d overlay(s) written", video, frame_index, len(written))
                break
            if frame_index not in wanted:
                continue
            ok, frame_bgr = capture.retrieve()
            if not ok:
                continue
            pose_index = wanted[frame_index]
            # Scaled to max_side first (down or up), so lines and labels have the same size in
            # every image whatever the clip's resolution.
            factor = max_side / max(frame_bgr.shape[:2])
            size = (round(frame_bgr.shape[1] * factor), round(frame_bgr.shape[0] * factor))
            frame_rgb = cv2.cvtColor(cv2.resize(frame_bgr, size, interpolation=cv2.INTER_AREA if factor < 1
                                                else cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
            keypoints = sequence.keypoints[pose_index].copy()
            keypoints[..., :2] *= factor
            drawn = draw_skeletons(frame_rgb, keypoints, sequence.track_ids[pose_index], min_conf, main_track)
            target = Path(out_dir) / f"{prefix}_{frame_index:06d}.png"
            with atomic_path(target) as tmp:
                if not cv2.imwrite(str(tmp), cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR)):
                    raise OSError(f"could not write {tmp}")
            written.append(target)
    finally:
        capture.release()
    return written
