"""The picture of a compilation layout (black bars, a blurred copy, side panels): found, and posed alone."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tiktok_dm.pose.config import ContentConfig
from tiktok_dm.pose.content import Rectangle, content_rectangle

RAW_FOOTAGE = ["alphapose_sddownload_video1.mp4", "cdcd_recons_gt.mp4", "d2m_D2M_high1.mp4", "d2m_D2M_low1.mp4",
               "iper_akun_1.mp4", "mimic_raw_0.mp4", "mimic_raw_3.mp4", "mmaction2_structuralize.mp4",
               "mmhuman3d_single_person.mp4", "mmpose_body3d_demo.mp4", "musepose_ubc_91BjuE6irxS.mp4",
               "phalp_vid.mp4", "romp_sample_video2.mp4", "sam2_bedroom.mp4", "unianimate_source_video.mp4"]


def _pictures(count: int, height: int, width: int, seed: int = 0) -> list[np.ndarray]:
    """A textured picture that moves: a random image shifted a few pixels each frame."""
    texture = np.random.default_rng(seed).integers(0, 256, (height + 40, width + 40, 3), dtype=np.uint8)
    texture = cv2.GaussianBlur(texture, (3, 3), 0)
    return [np.ascontiguousarray(texture[3 * i:3 * i + height, 2 * i:2 * i + width]) for i in range(count)]


def _portrait(pictures: list[np.ndarray], background: str) -> list[np.ndarray]:
    frames = []
    for picture in pictures:
        if background == "bars":
            frame = np.zeros((1280, 720, 3), np.uint8)
        else:  # the picture blown up and box-blurred behind itself, as compilation editors do
            frame = cv2.blur(cv2.resize(picture, (2276, 1280))[:, 778:1498], (41, 41))
        frame[438:843] = picture
        frames.append(frame)
    return frames


@pytest.mark.parametrize("background", ["bars", "blur"])
def test_a_landscape_picture_in_a_portrait_frame_is_found(background: str) -> None:
    rectangle = content_rectangle(_portrait(_pictures(12, 405, 720), background))
    assert rectangle is not None
    assert abs(rectangle.top - 438) <= 1 and abs(rectangle.bottom - 843) <= 1
    assert (rectangle.left, rectangle.right) == (0, 720)


def test_static_side_panels_with_text_are_cut_away() -> None:
    frames = []
    for picture in _pictures(12, 720, 405, seed=1):
        frame = np.full((720, 1280, 3), 255, np.uint8)
        frame[:, 843:] = 0
        cv2.putText(frame, "SUBSCRIBE", (870, 650), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
        cv2.putText(frame, "@BESTOF", (40, 650), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (0, 0, 0), 3)
        frame[:, 438:843] = picture
        frames.append(frame)
    assert content_rectangle(frames) == Rectangle(438, 0, 843, 720)


def test_a_picture_that_fills_the_frame_is_left_whole() -> None:
    assert content_rectangle(_pictures(12, 720, 1280)) is None
    assert content_rectangle([]) is None
    frames = _portrait(_pictures(12, 405, 720), "bars")
    assert content_rectangle(frames, ContentConfig(max_area=0.2)) is None  # the picture is 32 % of the frame


def test_keypoints_found_in_the_crop_are_moved_back_into_the_frame() -> None:
    rectangle = Rectangle(10, 400, 710, 800)
    skeleton = np.array([[[5.0, 6.0, 0.9]] + [[np.nan, np.nan, 0.0]] * 16], np.float32)
    moved = rectangle.to_frame(skeleton)
    assert moved[0, 0].tolist() == pytest.approx([15.0, 406.0, 0.9])
    assert np.isnan(moved[0, 1, :2]).all() and skeleton[0, 0, 0] == 5.0  # NaN stays unseen; the input is kept
    assert rectangle.crop(np.zeros((1280, 720, 3), np.uint8)).shape == (400, 700, 3)


def _first_frames(path: Path, count: int = 12) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


def test_real_footage_is_never_cropped(real_dance_dir: Path) -> None:
    cropped = {name: content_rectangle(_first_frames(real_dance_dir / name)) for name in RAW_FOOTAGE}
    assert {name: rectangle for name, rectangle in cropped.items() if rectangle is not None} == {}


def test_real_compilation_frames_give_their_tiktok_picture(real_dance_dir: Path) -> None:
    """Two frames of real YouTube compilations (D2M-GAN's samples): a TikTok between cloud side-art, and between a
    white and a black panel with logos and a subscribe line."""
    assert content_rectangle(_first_frames(real_dance_dir / "d2m_tiktok_high2.mp4")) == Rectangle(218, 0, 422, 360)
    assert content_rectangle(_first_frames(real_dance_dir / "d2m_tiktok_low2.mp4")) == Rectangle(437, 0, 842, 720)


def test_a_small_studio_dancer_in_a_portrait_frame_is_found_on_the_picture(real_dance_dir: Path,
                                                                           tmp_path: Path) -> None:
    """An AIST++ dancer letterboxed into a portrait frame is ~70 px tall: mediapipe on the whole frame finds them
    in a few frames only; on the picture, in nearly all."""
    from tiktok_dm.pose import estimate_video, get_backend
    from tiktok_dm.testing.edited_compilation import ClipPart, Shot, compose_edited_compilation

    clip = tmp_path / "portrait.mp4"
    compose_edited_compilation([ClipPart((Shot(real_dance_dir / "d2m_D2M_high1.mp4", 0.0, 1.9),), None)], clip,
                               720, 1280, audio=False)
    with get_backend("mediapipe") as backend:
        whole = estimate_video(clip, backend, max_fps=10, content=ContentConfig(enabled=False))
        picture = estimate_video(clip, backend, max_fps=10, content=ContentConfig())
    assert whole.person_coverage(4, 0.3) < 0.5
    assert picture.person_coverage(4, 0.3) >= 0.9
    assert (picture.width, picture.height) == (720, 1280)
    ankles = picture.keypoints[:, 0, 15:17, 1]
    assert np.nanmin(ankles) > 438 and np.nanmax(ankles) < 843  # in the frame's pixels, inside the picture
