"""The movenet backend (MoveNet.MultiPose through LiteRT) and the routing of clips of several dancers to it, on a
stand-in model written here (tiktok_dm.testing.movenet): Google's model cannot be fetched in tests. Its figures on
real footage are bench/pose.py's (see tiktok_dm/pose/movenet_backend.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from tiktok_dm.cli import cli
from tiktok_dm.config import BuildConfig, PoseConfig
from tiktok_dm.pose import estimate_video, get_backend
from tiktok_dm.pose.config import ContentConfig
from tiktok_dm.pose.movenet_backend import (MODEL_NAME, MoveNetBackend, MoveNetModelUnavailable,
                                            default_movenet_path, resolve_movenet_model)
from tiktok_dm.testing.loopback import serve_directory
from tiktok_dm.testing.movenet import FakePerson, write_fixed_movenet_model

# Two people side by side (x, y in [0, 1] of the picture) and a third below the person score.
LEFT = tuple((0.25 + 0.005 * joint, 0.2 + 0.04 * joint) for joint in range(17))
RIGHT = tuple((x + 0.5, y) for x, y in LEFT)
PEOPLE = [FakePerson(LEFT, score=0.8), FakePerson(RIGHT, keypoint_score=0.6, score=0.5),
          FakePerson(LEFT, score=0.1)]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fixed_movenet_model(tmp_path_factory.mktemp("movenet") / MODEL_NAME, PEOPLE)


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TIKTOK_DM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_people_above_the_score_come_back_in_the_frames_pixels(model: Path) -> None:
    with get_backend("movenet", checkpoint=model, min_person_score=0.2) as backend:
        for height, width in ((720, 1280), (1280, 720), (240, 426)):
            people = backend.detect(np.zeros((height, width, 3), dtype=np.uint8))
            assert people.shape == (2, 17, 3) and people.dtype == np.float32
            np.testing.assert_allclose(people[0, :, 0], np.array(LEFT)[:, 0] * width, rtol=1e-5)
            np.testing.assert_allclose(people[0, :, 1], np.array(LEFT)[:, 1] * height, rtol=1e-5)
            np.testing.assert_allclose(people[1, :, 0], np.array(RIGHT)[:, 0] * width, rtol=1e-5)
            np.testing.assert_allclose(people[:, :, 2], [[0.9] * 17, [0.6] * 17], rtol=1e-5)
    with get_backend("movenet", checkpoint=model, min_person_score=0.6) as backend:
        assert backend.detect(np.zeros((64, 64, 3), dtype=np.uint8)).shape == (1, 17, 3)


def test_the_network_sees_the_frame_at_its_long_side_in_multiples_of_32(model: Path) -> None:
    backend = MoveNetBackend(checkpoint=model, input_size=384)
    assert backend.input_shape(720, 1280) == (224, 384)
    assert backend.input_shape(1920, 1080) == (384, 224)
    assert backend.input_shape(10, 1000) == (32, 384)
    with pytest.raises(ValueError, match="multiple of 32"):
        MoveNetBackend(checkpoint=model, input_size=300)
    backend.close()
    with pytest.raises(ValueError, match="closed"):
        backend.detect(np.zeros((32, 32, 3), dtype=np.uint8))


def test_a_file_that_is_not_a_tflite_model_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "movenet.tflite"
    bad.write_bytes(b"<html>a login page, not a model</html>")
    with pytest.raises(MoveNetModelUnavailable, match=str(bad)):
        MoveNetBackend(checkpoint=bad)
    with pytest.raises(MoveNetModelUnavailable, match="not found"):
        MoveNetBackend(checkpoint=tmp_path / "nope.tflite")


def test_the_model_is_fetched_once_into_the_cache_and_named_when_it_cannot_be(model: Path, empty_cache: Path,
                                                                              tmp_path: Path) -> None:
    with pytest.raises(MoveNetModelUnavailable) as offline:
        resolve_movenet_model(download_model=False)
    assert str(empty_cache / "pose" / MODEL_NAME) in str(offline.value)
    assert "tiktok-dm pose-model --movenet" in str(offline.value)
    with pytest.raises(MoveNetModelUnavailable, match="downloading it from http://127.0.0.1:9/"):
        resolve_movenet_model(url="http://127.0.0.1:9/movenet.tflite")  # nothing listens on port 9
    served = tmp_path / "served"
    served.mkdir()
    (served / "1.tflite").write_bytes(model.read_bytes())
    with serve_directory(served) as base:
        path = resolve_movenet_model(url=f"{base}/1.tflite")
    assert path == default_movenet_path() == empty_cache / "pose" / MODEL_NAME
    assert path.read_bytes() == model.read_bytes()
    assert resolve_movenet_model(url=f"{base}/1.tflite", download_model=False) == path  # the server is gone


def test_pose_model_command_fetches_movenet(model: Path, tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    (served / "1.tflite").write_bytes(model.read_bytes())
    out = tmp_path / "m.tflite"
    with serve_directory(served) as base:
        result = CliRunner().invoke(cli, ["pose-model", "--movenet", "--url", f"{base}/1.tflite", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == model.read_bytes() and f"{out}:" in result.output
    refused = CliRunner().invoke(cli, ["pose-model", "--movenet", "--from-package"])
    assert refused.exit_code == 2 and "downloaded only" in refused.output


def test_clips_of_several_dancers_go_to_the_multi_person_backend() -> None:
    from tiktok_dm.stages.pose import backend_for

    config = PoseConfig()
    assert (config.backend, config.multi_backend) == ("landmarker", "movenet")
    assert [backend_for(config, count) for count in (1, 2, 5, None)] == \
           ["landmarker", "movenet", "movenet", "landmarker"]
    assert backend_for(PoseConfig(multi_backend=""), 3) == backend_for(PoseConfig(multi_backend=None), 3) == \
           "landmarker"


def test_a_build_needs_movenet_only_for_a_manifest_with_several_dancers(model: Path, empty_cache: Path,
                                                                        tmp_path: Path) -> None:
    from tiktok_dm.model.manifest import Manifest
    from tiktok_dm.pipeline.checks import PoseBackendUnavailable, check_pose_backend

    def manifest(counts: list[str]) -> Manifest:
        path = tmp_path / "manifest.csv"
        pd.DataFrame([{"compilation_id": "c", "url": "https://example.com/v", "clip_id": f"k{i}",
                       "start_s": f"{i}.0", "end_s": f"{i + 1}.0", "song_id": "", "num_dancers": count}
                      for i, count in enumerate(counts)]).to_csv(path, index=False)
        return Manifest.from_csv(path)

    config = BuildConfig()
    config.pose.backend, config.pose.download_model = "mediapipe", False
    check_pose_backend(config, manifest(["1", ""]))  # no clip of several dancers: MoveNet is not needed
    with pytest.raises(PoseBackendUnavailable, match=MODEL_NAME) as refused:
        check_pose_backend(config, manifest(["1", "3"]))
    assert "pose-model --movenet" in str(refused.value)
    config.pose.movenet_model = str(model)  # the file the stage would load is the one checked
    check_pose_backend(config, manifest(["1", "3"]))
    config.pose.movenet_model = None
    config.pose.multi_backend = "posenet"
    with pytest.raises(PoseBackendUnavailable, match="unknown pose backend 'posenet'"):
        check_pose_backend(config, manifest(["1"]))


def test_the_pose_stage_records_the_backend_that_posed_each_clip(model: Path, tmp_path: Path) -> None:
    """Two clips in one stage: the one-dancer clip goes to `backend`, the two-dancer clip to MoveNet, whose two people
    are tracked on a compilation layout's picture (black bars) with keypoints in the frame's pixels."""
    import cv2

    from tiktok_dm.model.build_dir import BuildDir
    from tiktok_dm.stages.pose import PoseItem, PoseStage, close_worker_backends
    from tiktok_dm.testing.dancer import write_dancer_video

    build_dir = BuildDir(tmp_path / "build")
    build_dir.clips.mkdir(parents=True)
    small = write_dancer_video(tmp_path / "small.mp4", seconds=1.0, fps=10, width=320, height=240, bpm=120, seed=1)
    barred = build_dir.clips / "two.mp4"  # the 320x240 picture in a 320x480 portrait frame, black above and below
    capture, frames = cv2.VideoCapture(str(small)), []
    while (frame := capture.read()[1]) is not None:
        frames.append(cv2.copyMakeBorder(frame, 120, 120, 0, 0, cv2.BORDER_CONSTANT, value=(0, 0, 0)))
    capture.release()
    writer = cv2.VideoWriter(str(barred), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 480))
    for frame in frames:
        writer.write(frame)
    writer.release()
    (build_dir.clips / "one.mp4").write_bytes(small.read_bytes())

    close_worker_backends()
    stage = PoseStage(PoseConfig(backend="mediapipe", movenet_model=str(model), max_fps=10), build_dir)
    one = stage.run(PoseItem("one", "clips/one.mp4", "", num_dancers=1))
    two = stage.run(PoseItem("two", "clips/two.mp4", "", num_dancers=2))
    close_worker_backends()
    assert one.backend == "mediapipe"
    assert two.backend == "movenet" and two.backend_version.startswith("ai-edge-litert ")
    assert two.checkpoint == str(model) and two.persons == 2 and two.num_tracks == 2 and two.person_coverage == 1.0
    assert not any("dancer(s) seen at once" in flag for flag in two.pose_flags)

    with get_backend("movenet", checkpoint=model) as backend:
        sequence = estimate_video(barred, backend, max_fps=10, content=ContentConfig())
    first = sequence.keypoints[0]
    np.testing.assert_allclose(first[0, :, 1], 120 + np.array(LEFT)[:, 1] * 240, atol=1.0)  # inside the bars
    np.testing.assert_allclose(first[1, :, 0], np.array(RIGHT)[:, 0] * 320, atol=1.0)
