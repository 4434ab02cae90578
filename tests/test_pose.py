"""Pose backends, pose files, D2M motion layouts and the synthetic demo dancer."""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path

import numpy as np
import pytest

from frame_ids import frame_with_id, read_frame_id

from tiktok_dm.pose import (
    BODY25_JOINTS,
    COCO17_JOINTS,
    POSE_FILE_KEYS,
    PoseBackend,
    PoseSequence,
    coco17_to_body25,
    empty_detection,
    estimate_video,
    get_backend,
    main_person_track,
    resample_to_fps,
    to_motion_array,
)
from tiktok_dm.pose.mediapipe_backend import MediaPipePoseBackend

# mediapipe 0.10.14 calls a protobuf API deprecated in protobuf 4.25; the backend filters that warning,
# but pytest restores the warning filters around each test.
pytestmark = pytest.mark.filterwarnings("ignore:SymbolDatabase.GetPrototype:UserWarning")

COCO = {name: index for index, name in enumerate(COCO17_JOINTS)}
BODY = {name: index for index, name in enumerate(BODY25_JOINTS)}
HEAD_AND_SHOULDERS = [COCO[name] for name in COCO17_JOINTS[:7]]


# --------------------------------------------------------------------------- helpers


def _random_coco(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    keypoints = rng.uniform(0, 500, size=shape + (17, 3)).astype(np.float32)
    keypoints[..., 2] = rng.uniform(0.1, 1.0, size=shape + (17,))
    return keypoints


def _person(x0: float, y0: float, size: float, conf: float = 0.9) -> np.ndarray:
    """A [17, 3] person whose joints spread over a size x size box at (x0, y0)."""
    offsets = np.linspace(0, size, 17, dtype=np.float32)
    person = np.empty((17, 3), dtype=np.float32)
    person[:, 0] = x0 + offsets
    person[:, 1] = y0 + offsets[::-1]
    person[:, 2] = conf
    return person


def _write_video(path: Path, frames: list[np.ndarray], fps: float) -> Path:
    """Write RGB frames with OpenCV (mp4v) for estimate_video to read back."""
    import cv2

    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


FRAME_ID_BITS = 5


def _frame_with_id(index: int) -> np.ndarray:
    return frame_with_id(index, FRAME_ID_BITS, width=80, height=48)


def _read_frame_id(frame: np.ndarray) -> int:
    return read_frame_id(frame, FRAME_ID_BITS)


class CountingBackend(PoseBackend):
    """Fake backend: one person whose nose x is the frame's id, two persons every 3rd call."""

    name = "counting"

    def __init__(self) -> None:
        self.calls = 0
        self.resets = 0
        self.closed = False

    def reset(self) -> None:
        self.resets += 1

    def detect(self, frame_rgb: np.ndarray) -> np.ndarray:
        self.calls += 1
        persons = 2 if self.calls % 3 == 0 else 1
        detection = np.tile(_person(10, 10, 20), (persons, 1, 1))
        detection[:, 0, 0] = _read_frame_id(frame_rgb)
        return detection

    def close(self) -> None:
        self.closed = True


def _need_mediapipe() -> None:
    """Skip without mediapipe, except on CI, where a missing optional dependency is a set-up bug."""
    if importlib.util.find_spec("mediapipe") is not None:
        return
    reason = "mediapipe 0.10.14 is not installed (its legacy solutions.pose: Python <= 3.12)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def mediapipe_backend():
    _need_mediapipe()
    with MediaPipePoseBackend() as backend:
        yield backend


# --------------------------------------------------------------------------- layouts


def test_joint_name_tables_have_the_standard_order() -> None:
    assert len(COCO17_JOINTS) == 17 and COCO17_JOINTS[0] == "nose" and COCO17_JOINTS[-1] == "right_ankle"
    assert COCO17_JOINTS[5:7] == ("left_shoulder", "right_shoulder")
    assert len(BODY25_JOINTS) == 25 and BODY25_JOINTS[:2] == ("Nose", "Neck") and BODY25_JOINTS[8] == "MidHip"
    assert BODY25_JOINTS[19:] == ("LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel")


def test_coco17_to_body25_copies_each_direct_joint_to_its_openpose_slot() -> None:
    coco = _random_coco((4,))
    body = coco17_to_body25(coco)
    assert body.shape == (4, 25, 3) and body.dtype == np.float32
    # (BODY_25 index, COCO-17 index) written out by hand from the two standards.
    expected_pairs = [(0, 0), (2, 6), (3, 8), (4, 10), (5, 5), (6, 7), (7, 9), (9, 12), (10, 14), (11, 16),
                      (12, 11), (13, 13), (14, 15), (15, 2), (16, 1), (17, 4), (18, 3)]
    for body_index, coco_index in expected_pairs:
        np.testing.assert_array_equal(body[:, body_index], coco[:, coco_index])


def test_neck_and_midhip_are_midpoints_with_the_lower_confidence() -> None:
    coco = np.zeros((17, 3), dtype=np.float32)
    coco[COCO["left_shoulder"]] = (100, 50, 0.9)
    coco[COCO["right_shoulder"]] = (60, 54, 0.6)
    coco[COCO["left_hip"]] = (90, 150, 0.4)
    coco[COCO["right_hip"]] = (70, 160, 0.8)
    body = coco17_to_body25(coco)
    np.testing.assert_allclose(body[BODY["Neck"]], (80, 52, 0.6))
    np.testing.assert_allclose(body[BODY["MidHip"]], (80, 155, 0.4))


def test_midpoint_is_nan_when_either_side_is_missing() -> None:
    coco = _random_coco((2,))
    coco[0, COCO["right_shoulder"]] = np.nan
    coco[1, COCO["left_hip"], 2] = np.nan
    body = coco17_to_body25(coco)
    assert np.isnan(body[0, BODY["Neck"]]).all()
    assert np.isfinite(body[0, BODY["MidHip"]]).all()
    assert np.isnan(body[1, BODY["MidHip"]]).all()
    assert np.isfinite(body[1, BODY["Neck"]]).all()


def test_foot_joints_cannot_be_derived_and_are_zero_with_zero_confidence() -> None:
    body = coco17_to_body25(_random_coco((3, 2)))
    assert body.shape == (3, 2, 25, 3)
    np.testing.assert_array_equal(body[..., 19:, :], 0.0)


def test_coco17_to_body25_rejects_other_layouts() -> None:
    with pytest.raises(ValueError, match=r"\[17, 3\]"):
        coco17_to_body25(np.zeros((5, 25, 3)))


def _sequence(keypoints: np.ndarray, fps: float = 30.0) -> PoseSequence:
    frames, persons = keypoints.shape[:2]
    track_ids = np.where(np.isfinite(keypoints).all(axis=(2, 3)), np.arange(persons)[None, :], -1)
    return PoseSequence(keypoints, track_ids, np.arange(frames) / fps, fps, 640, 360)


def test_main_person_track_is_nan_where_nobody_was_detected() -> None:
    keypoints = np.full((2, 1, 17, 3), np.nan, dtype=np.float32)
    keypoints[1, 0] = _person(0, 0, 50)
    track = main_person_track(_sequence(keypoints))
    assert np.isnan(track[0]).all()
    np.testing.assert_array_equal(track[1], keypoints[1, 0])
    empty = main_person_track(_sequence(np.zeros((4, 0, 17, 3), dtype=np.float32)))
    assert empty.shape == (4, 17, 3) and np.isnan(empty).all()


def test_resample_to_fps_takes_the_nearest_processed_frame() -> None:
    frame_times = np.array([0.0, 0.1, 0.2, 0.3])
    keypoints = np.zeros((4, 17, 3), dtype=np.float32)
    keypoints[:, 0, 0] = [10, 11, 12, 13]  # frame id in the nose x
    resampled = resample_to_fps(keypoints, frame_times, target_fps=30, n_frames=12)
    # Target times 0, 1/30, ..., 11/30 s; 11/30 = 0.367 s is within one interval (0.1 s) of 0.3 s.
    expected = [10, 10, 11, 11, 11, 12, 12, 12, 13, 13, 13, 13]
    np.testing.assert_array_equal(resampled[:, 0, 0], expected)


def test_resample_to_fps_is_nan_farther_than_one_interval_past_the_last_frame() -> None:
    frame_times = np.array([0.0, 0.1, 0.2])
    keypoints = _random_coco((3,))
    resampled = resample_to_fps(keypoints, frame_times, target_fps=10, n_frames=6)
    np.testing.assert_array_equal(resampled[:3], keypoints)
    np.testing.assert_array_equal(resampled[3], keypoints[2])  # 0.3 s: one interval after 0.2 s
    assert np.isnan(resampled[4:]).all()


def test_resample_to_fps_keeps_nan_frames_and_honours_the_start_time() -> None:
    frame_times = np.arange(10) / 10
    keypoints = _random_coco((10,))
    keypoints[5] = np.nan
    resampled = resample_to_fps(keypoints, frame_times, target_fps=10, n_frames=3, start=0.4)
    np.testing.assert_array_equal(resampled[0], keypoints[4])
    assert np.isnan(resampled[1]).all()
    np.testing.assert_array_equal(resampled[2], keypoints[6])


def test_resample_to_fps_validates_its_inputs() -> None:
    keypoints = _random_coco((3,))
    with pytest.raises(ValueError, match="increasing"):
        resample_to_fps(keypoints, np.array([0.0, 0.2, 0.1]), 30, 5)
    with pytest.raises(ValueError, match="target_fps"):
        resample_to_fps(keypoints, np.array([0.0, 0.1, 0.2]), 0, 5)
    with pytest.raises(ValueError, match="frame_times"):
        resample_to_fps(keypoints, np.array([0.0, 0.1]), 30, 5)
    assert np.isnan(resample_to_fps(np.zeros((0, 17, 3)), np.zeros(0), 30, 4)).all()


def test_to_motion_array_has_the_d2m_segment_shape() -> None:
    keypoints = _random_coco((60,))
    motion = to_motion_array(keypoints, "body25", width=640, height=360)
    assert motion.shape == (60, 75) and motion.dtype == np.float32
    np.testing.assert_array_equal(motion.reshape(60, 25, 3), coco17_to_body25(keypoints))
    assert to_motion_array(keypoints, "coco17", 640, 360).shape == (60, 51)


def test_to_motion_array_writes_missing_joints_as_openpose_zeros() -> None:
    keypoints = _random_coco((2,))
    keypoints[0] = np.nan
    keypoints[1, COCO["left_wrist"], 0] = np.nan
    motion = to_motion_array(keypoints, "body25", 640, 360).reshape(2, 25, 3)
    assert np.isfinite(motion).all()
    np.testing.assert_array_equal(motion[0], 0.0)
    np.testing.assert_array_equal(motion[1, BODY["LWrist"]], 0.0)
    assert (motion[1, BODY["RWrist"]] != 0).all()


def test_to_motion_array_normalises_by_frame_size() -> None:
    keypoints = np.zeros((1, 17, 3), dtype=np.float32)
    keypoints[0, :] = (320, 90, 0.7)
    keypoints[0, COCO["nose"]] = np.nan
    motion = to_motion_array(keypoints, "coco17", width=640, height=360, normalise=True).reshape(1, 17, 3)
    np.testing.assert_allclose(motion[0, 1], (0.5, 0.25, 0.7))
    np.testing.assert_array_equal(motion[0, 0], 0.0)


def test_to_motion_array_rejects_unknown_layouts_and_sizes() -> None:
    with pytest.raises(ValueError, match="body25"):
        to_motion_array(_random_coco((2,)), "body18", 640, 360)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        to_motion_array(_random_coco((2,)), "body25", 0, 360)


# --------------------------------------------------------------------------- PoseSequence


def _two_person_sequence() -> PoseSequence:
    keypoints = np.full((5, 2, 17, 3), np.nan, dtype=np.float32)
    keypoints[:4, 0] = _person(10, 10, 100, conf=0.8)
    keypoints[2, 1] = _person(300, 10, 100, conf=0.4)
    return _sequence(keypoints, fps=29.97)


def test_pose_sequence_round_trips_through_its_npz_file(tmp_path: Path) -> None:
    sequence = _two_person_sequence()
    path = sequence.save(tmp_path / "poses" / "clip.npz")
    loaded = PoseSequence.load(path)
    np.testing.assert_array_equal(loaded.keypoints, sequence.keypoints)  # NaN compare equal here
    np.testing.assert_array_equal(loaded.track_ids, sequence.track_ids)
    np.testing.assert_array_equal(loaded.frame_times, sequence.frame_times)
    assert (loaded.fps, loaded.width, loaded.height) == (29.97, 640, 360)
    assert loaded.keypoints.dtype == np.float32 and loaded.track_ids.dtype == np.int32
    assert loaded.frame_times.dtype == np.float64
    with np.load(path) as archive:
        assert sorted(archive.files) == sorted(POSE_FILE_KEYS)
    assert [p.name for p in path.parent.iterdir()] == ["clip.npz"]  # no temporary left behind


def test_pose_sequence_summaries() -> None:
    sequence = _two_person_sequence()
    assert sequence.num_persons == 2 and sequence.num_frames == 5
    assert sequence.person_coverage(min_visible_joints=5, min_conf=0.5) == pytest.approx(4 / 5)
    assert sequence.person_coverage(min_visible_joints=18, min_conf=0.0) == 0.0
    assert sequence.mean_confidence() == pytest.approx((4 * 17 * 0.8 + 17 * 0.4) / (5 * 17))
    nobody = _sequence(np.zeros((3, 0, 17, 3), dtype=np.float32))
    assert nobody.person_coverage() == 0.0 and nobody.mean_confidence() == 0.0


def test_pose_sequence_rejects_inconsistent_arrays() -> None:
    with pytest.raises(ValueError, match="track_ids"):
        PoseSequence(np.zeros((3, 1, 17, 3)), np.zeros((3, 2)), np.arange(3) / 30, 30, 640, 360)
    with pytest.raises(ValueError, match="keypoints"):
        PoseSequence(np.zeros((3, 1, 25, 3)), np.zeros((3, 1)), np.arange(3) / 30, 30, 640, 360)
    with pytest.raises(ValueError, match="fps"):
        PoseSequence(np.zeros((3, 1, 17, 3)), np.zeros((3, 1)), np.arange(3) / 30, 0, 640, 360)


def test_pose_sequence_load_names_the_bad_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        PoseSequence.load(tmp_path / "missing.npz")
    partial = tmp_path / "partial.npz"
    np.savez(partial, keypoints=np.zeros((1, 1, 17, 3)))
    with pytest.raises(ValueError, match=r"partial\.npz.*track_ids"):
        PoseSequence.load(partial)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="garbage.npz"):
        PoseSequence.load(garbage)


# --------------------------------------------------------------------------- estimate_video


@pytest.fixture(scope="module")
def numbered_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 frames at 30 fps, each showing its index (see _frame_with_id)."""
    frames = [_frame_with_id(index) for index in range(30)]
    return _write_video(tmp_path_factory.mktemp("video") / "numbered.mp4", frames, fps=30)


def test_estimate_video_processes_every_frame_with_max_fps_zero(numbered_video: Path) -> None:
    backend = CountingBackend()
    sequence = estimate_video(numbered_video, backend, max_fps=0)
    assert backend.resets == 1 and backend.calls == 30
    assert (sequence.width, sequence.height, sequence.fps) == (80, 48, 30.0)
    np.testing.assert_allclose(sequence.frame_times, np.arange(30) / 30)
    np.testing.assert_array_equal(sequence.keypoints[:, 0, 0, 0], np.arange(30))  # frame ids seen


def test_estimate_video_skips_frames_down_to_max_fps(numbered_video: Path) -> None:
    backend = CountingBackend()
    sequence = estimate_video(numbered_video, backend, max_fps=10)
    assert backend.calls == 10
    np.testing.assert_allclose(sequence.frame_times, np.arange(0, 30, 3) / 30)
    np.testing.assert_array_equal(sequence.keypoints[:, 0, 0, 0], np.arange(0, 30, 3))
    assert estimate_video(numbered_video, CountingBackend(), max_fps=60).num_frames == 30


def test_estimate_video_pads_persons_and_tracks_them(numbered_video: Path) -> None:
    sequence = estimate_video(numbered_video, CountingBackend(), max_fps=0)
    assert sequence.num_persons == 2
    two_persons = (np.arange(1, 31) % 3) == 0
    assert np.isnan(sequence.keypoints[~two_persons, 1]).all()
    np.testing.assert_array_equal(sequence.track_ids[~two_persons, 1], -1)
    # CountingBackend's second person stands on the first one: two ids wherever both are seen.
    assert (sequence.track_ids[two_persons] >= 0).all()
    assert (sequence.track_ids[two_persons, 0] != sequence.track_ids[two_persons, 1]).all()
    assert (sequence.track_ids[~two_persons, 0] >= 0).all()


def test_estimate_video_names_the_file_it_cannot_read(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere.mp4"):
        estimate_video(tmp_path / "nowhere.mp4", CountingBackend())
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"this is not a video")
    with pytest.raises(ValueError, match="broken.mp4"):
        estimate_video(broken, CountingBackend())
    with pytest.raises(ValueError, match="max_fps"):
        estimate_video(broken, CountingBackend(), max_fps=-1)


def test_backend_is_a_context_manager() -> None:
    with CountingBackend() as backend:
        assert empty_detection().shape == (0, 17, 3)
    assert backend.closed


def test_get_backend_lists_known_backends_for_an_unknown_name() -> None:
    with pytest.raises(ValueError, match="known backends: landmarker, mediapipe, movenet, openpifpaf"):
        get_backend("openpose")


def test_mediapipe_refuses_models_that_need_a_download() -> None:
    for complexity in (0, 2):
        with pytest.raises(ValueError, match="model_complexity=1"):
            MediaPipePoseBackend(model_complexity=complexity)


# --------------------------------------------------------------------------- MediaPipe on real and synthetic video


@pytest.mark.needs_shared
@pytest.mark.parametrize("clip", ["romp_sample_video2.mp4", "mimic_raw_0.mp4"])
def test_mediapipe_finds_the_dancer_in_real_footage(
    clip: str, real_dance_dir: Path, mediapipe_backend: MediaPipePoseBackend
) -> None:
    sequence = estimate_video(real_dance_dir / clip, mediapipe_backend, max_fps=10)
    assert sequence.num_frames >= 90  # ~10 s clips at <= 10 processed frames per second
    assert sequence.num_persons == 1
    assert sequence.person_coverage(min_visible_joints=5, min_conf=0.5) >= 0.8

    keypoints = sequence.keypoints[np.isfinite(sequence.keypoints).all(axis=(1, 2, 3)), 0]
    x, y, confidence = keypoints[..., 0], keypoints[..., 1], keypoints[..., 2]
    # Head and shoulders are in view in both clips; the legs of the square crop are not, and
    # BlazePose extrapolates those off-frame with low confidence, hence only confident joints below.
    head = (slice(None), HEAD_AND_SHOULDERS)
    assert _share_inside(x[head], y[head], sequence.width, sequence.height, margin=0.0) >= 0.95
    confident = confidence >= 0.5
    assert _share_inside(x[confident], y[confident], sequence.width, sequence.height, margin=0.1) >= 0.95
    # Pixels, not normalised coordinates: a skeleton spans a good part of the frame height.
    assert np.median(np.nanmax(y, axis=1) - np.nanmin(y, axis=1)) > 0.25 * sequence.height


def _share_inside(x: np.ndarray, y: np.ndarray, width: int, height: int, margin: float) -> float:
    inside = (x >= -margin * width) & (x < (1 + margin) * width) & (y >= -margin * height) & (y < (1 + margin) * height)
    return float(inside.mean())


def test_mediapipe_finds_nobody_in_a_video_without_people(
    tmp_path: Path, mediapipe_backend: MediaPipePoseBackend
) -> None:
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, 160, dtype=np.float32)[None, :, None]
    frames = [
        np.clip(ramp + rng.normal(0, 12, size=(120, 160, 3)) + 2 * index, 0, 255).astype(np.uint8)
        for index in range(30)
    ]
    sequence = estimate_video(_write_video(tmp_path / "empty.mp4", frames, fps=15), mediapipe_backend, max_fps=0)
    assert sequence.num_frames == 30
    assert sequence.num_persons == 0
    assert sequence.person_coverage(min_visible_joints=1, min_conf=0.0) == 0.0


# Measured: 100 % of frames detected over 10 seeds at 640x360, 360x640 and 320x240, median joint
# error about 1 % of the frame height; the bounds below leave a wide margin.
DANCER_MIN_DETECTION_RATE = 0.9


@pytest.mark.parametrize(("width", "height", "seed"), [(640, 360, 0), (360, 640, 1)])
def test_mediapipe_detects_the_synthetic_demo_dancer(
    width: int, height: int, seed: int, mediapipe_backend: MediaPipePoseBackend
) -> None:
    from tiktok_dm.testing.dancer import dancer_keypoints, render_dancer_frames

    n_frames, fps, bpm = 60, 30.0, 120.0
    mediapipe_backend.reset()
    frames = render_dancer_frames(n_frames, fps, width, height, bpm, seed)
    detections = [mediapipe_backend.detect(frame) for frame in frames]
    truth = dancer_keypoints(n_frames, fps, width, height, bpm, seed)

    detected = [index for index, detection in enumerate(detections) if len(detection) == 1]
    assert len(detected) / n_frames >= DANCER_MIN_DETECTION_RATE
    errors = np.stack([np.linalg.norm(detections[i][0, :, :2] - truth[i, :, :2], axis=1) for i in detected])
    assert np.median(errors) < 0.03 * height  # the skeleton lands on the drawn joints
    assert np.percentile(errors, 95) < 0.08 * height


def test_write_dancer_video_writes_a_decodable_h264_mp4(tmp_path: Path) -> None:
    import cv2

    from tiktok_dm.testing.dancer import write_dancer_video

    path = write_dancer_video(tmp_path / "dancer.mp4", seconds=1.0, fps=25, width=320, height=240, bpm=100, seed=3)
    capture = cv2.VideoCapture(str(path))
    try:
        frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (320, 240)
        assert math.isclose(capture.get(cv2.CAP_PROP_FPS), 25)
    finally:
        capture.release()
    assert frame_count == 25
    assert [p.name for p in tmp_path.iterdir()] == ["dancer.mp4"]


def test_render_dancer_frames_is_deterministic_and_moves() -> None:
    from tiktok_dm.testing.dancer import render_dancer_frames

    first = list(render_dancer_frames(8, 30, 160, 120, 120, seed=5))
    again = list(render_dancer_frames(8, 30, 160, 120, 120, seed=5))
    assert all(frame.shape == (120, 160, 3) and frame.dtype == np.uint8 for frame in first)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], first[7])
    with pytest.raises(ValueError, match="bpm"):
        render_dancer_frames(8, 30, 160, 120, 0, seed=5)
