"""Pose QA figures and flags, skeleton overlays, the QA report, and the pose stage's QA output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tiktok_dm.pose import PoseBackend, PoseSequence
from tiktok_dm.pose.overlay import draw_skeletons, sample_frames, track_colour, write_overlays
from tiktok_dm.pose.qa import PoseQA, QAReportEntry, pose_qa, report_flagged_clips, write_qa_report

pytestmark = pytest.mark.filterwarnings("ignore:SymbolDatabase.GetPrototype:UserWarning")

TEMPLATE = np.array([
    (0.50, 0.08), (0.54, 0.06), (0.46, 0.06), (0.58, 0.08), (0.42, 0.08), (0.68, 0.22), (0.32, 0.22),
    (0.80, 0.38), (0.20, 0.38), (0.85, 0.52), (0.15, 0.52), (0.60, 0.55), (0.40, 0.55), (0.62, 0.75),
    (0.38, 0.75), (0.63, 0.95), (0.37, 0.95),
], dtype=np.float32)


def _dancer(frames: int, x0: float, width: float = 100, height: float = 250, conf: float = 0.9,
            noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """[frames, 17, 3]: a person swaying smoothly left and right (2 px per frame at most)."""
    rng = np.random.default_rng(seed)
    sway = 20 * np.sin(np.arange(frames) / 10)
    out = np.empty((frames, 17, 3), dtype=np.float32)
    out[..., 0] = x0 + sway[:, None] + TEMPLATE[None, :, 0] * width
    out[..., 1] = 50 + TEMPLATE[None, :, 1] * height
    out[..., :2] += rng.normal(0, noise * height, size=(frames, 17, 2))
    out[..., 2] = conf
    return out


def _sequence(*people: np.ndarray, fps: float = 30.0) -> PoseSequence:
    keypoints = np.stack(people, axis=1)
    frames, persons = keypoints.shape[:2]
    present = np.isfinite(keypoints[..., 2]).any(axis=-1)
    track_ids = np.where(present, np.arange(persons)[None, :], -1)
    return PoseSequence(keypoints, track_ids, np.arange(frames) / fps, fps, 640, 360)


def test_a_clean_single_dancer_clip_passes() -> None:
    qa = pose_qa(_sequence(_dancer(90, 270)), num_dancers=1)
    assert qa.ok and qa.flags == ()
    assert qa.person_share == 1.0 and qa.mean_confidence == pytest.approx(0.9)
    assert (qa.num_tracks, qa.num_dancer_tracks, qa.main_track_id, qa.main_track_share) == (1, 1, 0, 1.0)
    assert qa.jitter is not None and qa.jitter < 0.005 and 0 < qa.motion < 0.02


def test_missing_frames_low_confidence_and_jitter_are_flagged() -> None:
    dancer = _dancer(100, 270, conf=0.35, noise=0.03)
    dancer[:20] = np.nan
    qa = pose_qa(_sequence(dancer), num_dancers=1)
    assert qa.person_share == pytest.approx(0.8)
    assert len(qa.flags) == 3
    assert qa.flags[0] == "person in 80.0% of frames (< 95%)"
    assert qa.flags[1] == "mean keypoint confidence 0.35 (< 0.50)"
    assert qa.flags[2].startswith("jitter ") and qa.jitter > 0.03


def test_dancer_count_is_checked_against_the_manifest() -> None:
    two = _sequence(_dancer(60, 100), _dancer(60, 400, seed=1))
    assert pose_qa(two, num_dancers=2).ok
    assert pose_qa(two, num_dancers=1).flags == ("2 dancer(s) seen at once, manifest says 1",)
    assert pose_qa(two, num_dancers=None).ok  # unknown: not checked
    passer_by = _dancer(60, 400, seed=2)
    passer_by[5:] = np.nan  # seen in 5 of 60 frames: not a dancer
    qa = pose_qa(_sequence(_dancer(60, 100), passer_by), num_dancers=1)
    assert qa.ok and (qa.dancers_seen, qa.num_tracks, qa.num_dancer_tracks) == (1, 2, 1)
    single = pose_qa(_sequence(_dancer(60, 100)), num_dancers=2, single_person_backend=True)
    assert single.flags == (
        "1 dancer(s) seen at once, manifest says 2 (single-person backend: only one dancer is posed)",)
    # One dancer lost for a while and found again under a new id still counts as one dancer.
    first, again = _dancer(60, 100), _dancer(60, 100)
    first[32:], again[:30] = np.nan, np.nan  # both in frames 30-31: a duplicate, briefly
    restarted = pose_qa(_sequence(first, again), num_dancers=1)
    assert restarted.ok and (restarted.dancers_seen, restarted.num_dancer_tracks) == (1, 2)


def test_a_clip_without_anybody_is_flagged_once() -> None:
    qa = pose_qa(_sequence(np.full((30, 17, 3), np.nan, dtype=np.float32)), num_dancers=1)
    assert qa.flags == ("no person detected in any frame",)
    assert qa.main_track_id is None and qa.jitter is None and qa.num_tracks == qa.dancers_seen == 0


def test_pose_qa_round_trips_through_json() -> None:
    qa = pose_qa(_sequence(_dancer(30, 270, conf=0.2)), num_dancers=1)
    assert not qa.ok
    again = PoseQA.from_dict(json.loads(json.dumps(qa.to_dict())))
    assert again == qa


# --------------------------------------------------------------------------- overlays and report


def test_draw_skeletons_draws_each_track_in_its_colour() -> None:
    frame = np.zeros((360, 640, 3), dtype=np.uint8)
    people = np.stack([_dancer(1, 100)[0], _dancer(1, 400)[0]])
    drawn = draw_skeletons(frame, people, np.array([0, 3]), main_track=0)
    assert drawn.shape == frame.shape and not drawn[..., :].any(axis=-1).all()
    assert frame.sum() == 0  # the input is left alone
    colours = {tuple(pixel) for pixel in drawn.reshape(-1, 3)[drawn.reshape(-1, 3).any(axis=1)]}
    assert track_colour(0) in colours and track_colour(3) in colours
    assert draw_skeletons(frame, np.full((1, 17, 3), np.nan), np.array([-1])).sum() == 0


@pytest.fixture()
def small_video(tmp_path: Path) -> Path:
    import cv2

    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (640, 360))
    for index in range(30):
        writer.write(np.full((360, 640, 3), 40 + index, dtype=np.uint8))
    writer.release()
    return path


def test_write_overlays_saves_sample_frames_as_png(small_video: Path, tmp_path: Path) -> None:
    import cv2

    sequence = _sequence(_dancer(30, 270))
    assert sample_frames(sequence, 4) == [0, 10, 19, 29]
    images = write_overlays(small_video, sequence, tmp_path / "qa", "clip-0001", count=4, main_track=0)
    assert [p.name for p in images] == [f"clip-0001_{i:06d}.png" for i in (0, 10, 19, 29)]
    image = cv2.imread(str(images[0]))
    assert image.shape == (360, 640, 3) and (image != image[0, 0]).any()  # a skeleton on it


def test_report_lists_flagged_clips_with_their_overlays(small_video: Path, tmp_path: Path) -> None:
    good = _sequence(_dancer(30, 270))
    bad_keypoints = _dancer(30, 270)
    bad_keypoints[:15] = np.nan
    bad = _sequence(bad_keypoints)
    poses = {name: seq.save(tmp_path / f"{name}.npz") for name, seq in (("good", good), ("bad", bad))}
    clips = [(name, small_video, poses[name], pose_qa(seq, 1).to_dict())
             for name, seq in (("good", good), ("bad", bad))]
    report = report_flagged_clips(clips, tmp_path / "pose_qa", samples=2)
    assert report == tmp_path / "pose_qa" / "index.html"
    text = report.read_text()
    assert "bad" in text and "person in 50.0% of frames" in text and "id='good'" not in text
    images = sorted((tmp_path / "pose_qa" / "images").iterdir())
    assert [p.name for p in images] == ["bad_000000.png", "bad_000029.png"]
    assert all(f"images/{p.name}" in text for p in images)
    assert report_flagged_clips(clips[:1], tmp_path / "none") is None and not (tmp_path / "none").exists()
    # A clip whose files are gone is still listed, without images.
    missing = report_flagged_clips([("lost", tmp_path / "x.mp4", tmp_path / "x.npz", clips[1][3])], tmp_path / "lost")
    assert "lost" in missing.read_text()


def test_write_qa_report_escapes_text(tmp_path: Path) -> None:
    qa = PoseQA.from_dict({**pose_qa(_sequence(_dancer(10, 270)), 1).to_dict(), "flags": ["<b>odd</b>"]})
    text = write_qa_report([QAReportEntry("c<1>", qa)], tmp_path / "r.html").read_text()
    assert "&lt;b&gt;odd&lt;/b&gt;" in text and "c&lt;1&gt;" in text


# --------------------------------------------------------------------------- the pose stage


class _TwoDancers(PoseBackend):
    name = "two-dancers"

    def __init__(self) -> None:
        self.frame = 0

    def detect(self, frame_rgb: np.ndarray) -> np.ndarray:
        people = np.stack([_dancer(self.frame + 1, 100)[-1], _dancer(self.frame + 1, 400, seed=1)[-1]])
        self.frame += 1
        return people[::-1] if self.frame % 2 else people  # detection order flips every frame


def test_pose_stage_tracks_dancers_and_records_qa(small_video: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from tiktok_dm.config import PoseConfig
    from tiktok_dm.model.build_dir import BuildDir
    from tiktok_dm.model.outputs import PoseOutput
    from tiktok_dm.model.records import StageRecord
    import tiktok_dm.pose as pose_package
    from tiktok_dm.stages.pose import PoseItem, PoseStage, close_worker_backends

    close_worker_backends()  # a backend this process built for an earlier test would be reused
    monkeypatch.setattr(pose_package, "get_backend", lambda name, **kwargs: _TwoDancers())
    build_dir = BuildDir(tmp_path / "build")
    target = build_dir.clips / "c-0001.mp4"
    target.parent.mkdir(parents=True)
    target.write_bytes(small_video.read_bytes())
    output = PoseStage(PoseConfig(), build_dir).run(PoseItem("c-0001", build_dir.relative(target), "", num_dancers=1))
    assert output.num_tracks == 2 and output.pose_flags == ("2 dancer(s) seen at once, manifest says 1",)
    assert output.persons == 2 and output.frames > 0 and 0 < output.person_coverage <= 1
    assert output.pose_qa["num_dancer_tracks"] == 2
    record = StageRecord.success("pose", "c-0001", output)  # stage records are JSON and read back equal
    assert StageRecord.from_json(record.to_json(), PoseOutput) == record
    sequence = PoseSequence.load(build_dir.absolute(output.poses))
    # The tracker undid the flipped detection order: each id stays on one side.
    left = sequence.keypoints[..., 0, 0] < 320
    for track_id in (0, 1):
        assert len(set(left[sequence.track_ids == track_id])) == 1
    close_worker_backends()
