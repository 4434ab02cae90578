"""D2M motion arrays on known points, resampling timing through the whole video path, and
corrupt or empty frames becoming frames with nobody in them."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from frame_ids import frame_with_id, read_frame_id

from tiktok_dm.pose import BODY25_JOINTS, COCO17_JOINTS, PoseBackend, coco17_to_body25, estimate_video
from tiktok_dm.pose.layouts import resample_to_fps, to_motion_array

pytestmark = pytest.mark.filterwarnings("ignore:SymbolDatabase.GetPrototype:UserWarning")

# A person facing the camera (their left on the image's right), pixel coordinates and confidences
# chosen by hand so every derived value below can be checked by eye.
KNOWN_COCO17 = {
    "nose": (100, 40, 0.9), "left_eye": (104, 36, 0.8), "right_eye": (96, 36, 0.8),
    "left_ear": (110, 38, 0.5), "right_ear": (90, 38, 0.6),
    "left_shoulder": (120, 70, 0.9), "right_shoulder": (80, 74, 0.7),
    "left_elbow": (130, 100, 0.8), "right_elbow": (70, 100, 0.8),
    "left_wrist": (134, 130, 0.6), "right_wrist": (66, 130, 0.6),
    "left_hip": (114, 140, 0.9), "right_hip": (86, 144, 0.4),
    "left_knee": (116, 180, 0.8), "right_knee": (84, 180, 0.8),
    "left_ankle": (118, 220, 0.7), "right_ankle": (82, 220, 0.7),
}
# The same person in OpenPose BODY_25 order, written out from the BODY_25 definition: Neck and
# MidHip are the midpoints of the shoulders and hips with the lower confidence, the six foot
# joints do not exist in COCO-17 and are (0, 0, 0), OpenPose's "not detected".
KNOWN_BODY25 = [
    (100, 40, 0.9),  # 0 Nose
    (100, 72, 0.7),  # 1 Neck = mid(shoulders (120, 70) and (80, 74)), min(0.9, 0.7)
    (80, 74, 0.7),  # 2 RShoulder
    (70, 100, 0.8),  # 3 RElbow
    (66, 130, 0.6),  # 4 RWrist
    (120, 70, 0.9),  # 5 LShoulder
    (130, 100, 0.8),  # 6 LElbow
    (134, 130, 0.6),  # 7 LWrist
    (100, 142, 0.4),  # 8 MidHip = mid(hips (114, 140) and (86, 144)), min(0.9, 0.4)
    (86, 144, 0.4),  # 9 RHip
    (84, 180, 0.8),  # 10 RKnee
    (82, 220, 0.7),  # 11 RAnkle
    (114, 140, 0.9),  # 12 LHip
    (116, 180, 0.8),  # 13 LKnee
    (118, 220, 0.7),  # 14 LAnkle
    (96, 36, 0.8),  # 15 REye
    (104, 36, 0.8),  # 16 LEye
    (90, 38, 0.6),  # 17 REar
    (110, 38, 0.5),  # 18 LEar
    (0, 0, 0), (0, 0, 0), (0, 0, 0),  # 19-21 LBigToe, LSmallToe, LHeel
    (0, 0, 0), (0, 0, 0), (0, 0, 0),  # 22-24 RBigToe, RSmallToe, RHeel
]


def _known_person() -> np.ndarray:
    return np.array([KNOWN_COCO17[name] for name in COCO17_JOINTS], dtype=np.float32)


def test_coco17_to_body25_on_known_points() -> None:
    assert len(KNOWN_BODY25) == len(BODY25_JOINTS) == 25
    np.testing.assert_allclose(coco17_to_body25(_known_person()), KNOWN_BODY25, rtol=1e-6)


def test_d2m_motion_array_of_known_points_raw_and_normalised() -> None:
    person = _known_person()
    person_without_right_hip = person.copy()
    person_without_right_hip[COCO17_JOINTS.index("right_hip")] = (np.nan, np.nan, 0.0)  # not found
    keypoints = np.stack([person, person_without_right_hip] * 30)  # 60 frames = one 2-s segment
    motion = to_motion_array(keypoints, "body25", width=200, height=250)
    assert motion.shape == (60, 75) and motion.dtype == np.float32
    np.testing.assert_allclose(motion[0].reshape(25, 3), KNOWN_BODY25, rtol=1e-6)
    second = motion[1].reshape(25, 3)
    # A joint that was not found, and MidHip that needs it, become OpenPose's (0, 0, 0).
    np.testing.assert_array_equal(second[[8, 9]], 0.0)
    np.testing.assert_allclose(second[12], KNOWN_BODY25[12], rtol=1e-6)
    normalised = to_motion_array(keypoints, "body25", width=200, height=250, normalise=True).reshape(60, 25, 3)
    np.testing.assert_allclose(normalised[0, 1], (100 / 200, 72 / 250, 0.7), rtol=1e-6)
    np.testing.assert_array_equal(normalised[0, 19:], 0.0)
    coco = to_motion_array(keypoints, "coco17", width=200, height=250)
    assert coco.shape == (60, 51)
    np.testing.assert_allclose(coco[0].reshape(17, 3), person, rtol=1e-6)


# --------------------------------------------------------------------------- resampling timing

ID_BITS = 7  # frame ids up to 127


def _frame_with_id(index: int) -> np.ndarray:
    return frame_with_id(index, ID_BITS, width=140, height=40)


def _read_frame_id(frame: np.ndarray) -> int:
    return read_frame_id(frame, ID_BITS)


class FrameIdBackend(PoseBackend):
    """One person whose nose x is the id drawn in the frame (which frame the detector saw)."""

    name = "frame-id"

    def detect(self, frame_rgb: np.ndarray) -> np.ndarray:
        person = np.full((1, 17, 3), 0.9, dtype=np.float32)
        person[0, :, :2] = 50.0
        person[0, 0, 0] = _read_frame_id(frame_rgb)
        return person


def _write_video(path: Path, frames: list[np.ndarray], fps: float, fourcc: str = "mp4v") -> Path:
    import cv2

    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.fixture(scope="module")
def video_24fps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5 s at 24 fps (film rate: no target time at 30 fps falls half-way between two frames)."""
    frames = [_frame_with_id(index) for index in range(120)]
    return _write_video(tmp_path_factory.mktemp("timing") / "numbered24.mp4", frames, fps=24)


@pytest.mark.parametrize("segment", [1, 2])
def test_a_2s_segment_at_30fps_takes_the_nearest_24fps_frames(video_24fps: Path, segment: int) -> None:
    """Video -> pose frames -> 60 frames at 30 fps on the audio timeline of segment k (which
    starts at (k - 1) * 2 s): target frame j at time t = start + j / 30 shows video frame
    round(24 t)."""
    sequence = estimate_video(video_24fps, FrameIdBackend(), max_fps=0)
    start = (segment - 1) * 2.0
    resampled = resample_to_fps(sequence.keypoints[:, 0], sequence.frame_times, 30, 60, start=start)
    seen = resampled[:, 0, 0]
    expected = np.round((start + np.arange(60) / 30) * 24)
    np.testing.assert_array_equal(seen, expected)
    assert seen[0] == 48 * (segment - 1) and seen[-1] == 48 * (segment - 1) + 47  # 59/30 s * 24 = 47.2


def test_resampling_after_processing_at_12fps_picks_the_nearest_processed_frame(video_24fps: Path) -> None:
    sequence = estimate_video(video_24fps, FrameIdBackend(), max_fps=12)
    np.testing.assert_array_equal(sequence.keypoints[:, 0, 0, 0], np.arange(0, 120, 2))
    seen = resample_to_fps(sequence.keypoints[:, 0], sequence.frame_times, 30, 60)[:, 0, 0]
    np.testing.assert_array_equal(seen, 2 * np.round(np.arange(60) / 30 * 12))


def test_resampling_past_the_end_of_the_video_is_nan(video_24fps: Path) -> None:
    """A last segment longer than the video: targets more than one frame interval after the last
    frame (119 / 24 = 4.958 s) have no pose, rather than repeating the last one."""
    sequence = estimate_video(video_24fps, FrameIdBackend(), max_fps=0)
    resampled = resample_to_fps(sequence.keypoints[:, 0], sequence.frame_times, 30, 60, start=4.0)
    times = 4.0 + np.arange(60) / 30
    inside = times <= 119 / 24 + 1 / 24 + 1e-9
    assert np.isfinite(resampled[inside]).all() and np.isnan(resampled[~inside]).all()
    assert inside.sum() == 31


# --------------------------------------------------------------------------- corrupt and empty frames


def _corrupt_mjpeg_frame(path: Path, frame: int) -> None:
    """Overwrite the JPEG data of one frame of an MJPEG .avi (between its start-of-image marker and
    the next one) with zeros: a decoder error for that frame only."""
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 2) if data[i:i + 3] == b"\xff\xd8\xff"]
    for i in range(starts[frame] + 2, starts[frame + 1] - 8):
        data[i] = 0
    path.write_bytes(bytes(data))


def test_a_corrupt_frame_becomes_a_frame_with_nobody_and_the_video_goes_on(tmp_path: Path) -> None:
    video = _write_video(tmp_path / "damaged.avi", [_frame_with_id(index) for index in range(12)], 10, "MJPG")
    _corrupt_mjpeg_frame(video, 5)
    sequence = estimate_video(video, FrameIdBackend(), max_fps=0)
    assert sequence.num_frames == 12
    np.testing.assert_allclose(sequence.frame_times, np.arange(12) / 10)
    assert np.isnan(sequence.keypoints[5]).all() and (sequence.track_ids[5] == -1).all()
    others = np.delete(np.arange(12), 5)
    np.testing.assert_array_equal(sequence.keypoints[others, 0, 0, 0], others)
    assert len(set(sequence.track_ids[others, 0])) == 1  # one dancer across the gap


def _need_mediapipe() -> None:
    if importlib.util.find_spec("mediapipe") is not None:
        return
    reason = "mediapipe 0.10.14 is not installed (its legacy solutions.pose: Python <= 3.12)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def test_mediapipe_returns_an_empty_person_list_for_corrupt_and_empty_frames() -> None:
    _need_mediapipe()
    from tiktok_dm.pose import get_backend

    rng = np.random.default_rng(0)
    frames = [
        rng.integers(0, 256, (240, 320, 3), dtype=np.uint8),  # decoder garbage
        np.zeros((240, 320, 3), dtype=np.uint8),  # a black frame
        np.tile(np.linspace(0, 255, 320, dtype=np.uint8)[None, :, None], (240, 1, 3)),  # an empty room
    ]
    with get_backend("mediapipe") as backend:
        for frame in frames:
            people = backend.detect(frame)
            assert people.shape == (0, 17, 3) and people.dtype == np.float32
