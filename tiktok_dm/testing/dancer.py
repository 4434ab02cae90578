"""Synthetic dance video for the demo: a drawn person dancing to a beat.

A user running the demo has no real footage, yet the pose stage should have something honest
to show. This renders a cartoon person (face with eyes, brows, nose, mouth and hair; shirt,
skin-coloured forearms and hands, trousers, shoes) whose joint angles move with the beat, drawn
solid enough that MediaPipe BlazePose detects it (its person detector keys on a face, so the face
matters most). :func:`dancer_keypoints` gives the drawn joints as ground truth.

Measured with MediaPipePoseBackend (mediapipe 0.10.14): a person in 100 % of frames over 10 seeds
x 240 frames at 640x360, 360x640 and 320x240, also after H.264 encoding; median joint error about
1 % of the frame height (hips/knees/ankles ~1.5-2 %, where BlazePose's joint centres differ from
the drawing's).
"""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from tiktok_dm.media import ffmpeg_binary
from tiktok_dm.model.atomic import atomic_path


Point = tuple[float, float]
Colour = tuple[int, int, int]

SKIN_TONES: tuple[Colour, ...] = ((241, 194, 160), (224, 172, 135), (198, 134, 96), (141, 85, 54))
HAIR_COLOURS: tuple[Colour, ...] = ((40, 28, 20), (70, 45, 25), (20, 20, 20), (120, 80, 40))
SHIRT_COLOURS: tuple[Colour, ...] = ((200, 40, 50), (40, 90, 190), (30, 140, 80), (230, 160, 30), (130, 50, 150))
TROUSER_COLOURS: tuple[Colour, ...] = ((40, 50, 80), (30, 30, 35), (90, 70, 50), (60, 60, 70))
BACKGROUND_COLOURS: tuple[Colour, ...] = ((225, 225, 218), (205, 215, 225), (230, 215, 200), (215, 225, 210))
FLOOR_LINE = 0.88  # fraction of the frame height where the wall meets the floor


@dataclasses.dataclass(frozen=True)
class Look:
    """Colours of one dancer, picked from the seed."""

    skin: Colour
    hair: Colour
    shirt: Colour
    trousers: Colour
    background: Colour
    shoes: Colour = (25, 25, 25)


@dataclasses.dataclass(frozen=True)
class Pose2D:
    """Joint angles (radians) and body offsets of one frame.

    Limb angles: 0 = hanging straight down, positive = swung towards the image's right. The
    dancer faces the camera, so their left side is on the image's right. Tilts: positive leans
    towards the image's left. Offsets are fractions of the body height.
    """

    hip_shift_x: float
    hip_drop: float
    torso_tilt: float
    head_tilt: float
    left_upper_arm: float
    left_forearm: float
    right_upper_arm: float
    right_forearm: float
    left_thigh: float
    left_shin: float
    right_thigh: float
    right_shin: float


def render_dancer_frames(
    n_frames: int, fps: float, width: int, height: int, bpm: float, seed: int
) -> Iterator[np.ndarray]:
    """Yield ``n_frames`` RGB uint8 frames [height, width, 3] of a person dancing at ``bpm``;
    ``seed`` picks the colours and where in the routine the dance starts."""
    # Validated here, not in the generator, so bad arguments fail at the call rather than later.
    _check_video_args(n_frames, fps, width, height, bpm)
    return _dancer_frames(n_frames, fps, width, height, bpm, seed)


def _dancer_frames(n_frames: int, fps: float, width: int, height: int, bpm: float, seed: int) -> Iterator[np.ndarray]:
    look, phase = _dancer_setup(seed)
    background = _background(width, height, look.background)
    for frame_index in range(n_frames):
        frame = background.copy()
        _draw_person(frame, _dance_pose(frame_index / fps * bpm / 60.0, phase), look)
        yield frame


def dancer_keypoints(n_frames: int, fps: float, width: int, height: int, bpm: float, seed: int) -> np.ndarray:
    """Ground truth of :func:`render_dancer_frames` with the same arguments: float32
    [n_frames, 17, 3] COCO-17 joint centres in pixels, confidence 1 (every joint is drawn)."""
    from tiktok_dm.pose.sequence import COCO17_JOINTS

    _check_video_args(n_frames, fps, width, height, bpm)
    _, phase = _dancer_setup(seed)
    keypoints = np.ones((n_frames, len(COCO17_JOINTS), 3), dtype=np.float32)
    for frame_index in range(n_frames):
        joints = _skeleton(_dance_pose(frame_index / fps * bpm / 60.0, phase), width, height).joints
        keypoints[frame_index, :, :2] = [joints[name] for name in COCO17_JOINTS]
    return keypoints


def write_dancer_video(
    path: str | os.PathLike,
    seconds: float,
    fps: float,
    width: int,
    height: int,
    bpm: float,
    seed: int,
) -> Path:
    """Write the dancer as an H.264 mp4 (yuv420p, no audio) with the ffmpeg the build runs (media.ffmpeg_binary).
    Atomic: the file appears only when complete."""
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    if width % 2 or height % 2:
        raise ValueError(f"H.264 with yuv420p needs an even frame size, got {width}x{height}")
    target = Path(path)
    n_frames = max(1, round(seconds * fps))
    frames = render_dancer_frames(n_frames, fps, width, height, bpm, seed)
    with atomic_path(target) as tmp:
        _write_with_ffmpeg(ffmpeg_binary(), tmp, frames, fps, width, height)
    return target


def _check_video_args(n_frames: int, fps: float, width: int, height: int, bpm: float) -> None:
    if n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if width < 64 or height < 64:
        raise ValueError(f"frames must be at least 64x64 pixels, got {width}x{height}")
    if not bpm > 0:
        raise ValueError(f"bpm must be positive, got {bpm}")


def _write_with_ffmpeg(
    ffmpeg: str, target: Path, frames: Iterator[np.ndarray], fps: float, width: int, height: int
) -> None:
    command = [
        ffmpeg, "-y", "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{fps}", "-i", "-",
        "-an", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast", "-crf", "20",
        "-f", "mp4", str(target),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    stdin, stderr_pipe = process.stdin, process.stderr
    if stdin is None or stderr_pipe is None:  # cannot happen with PIPE; narrows the types
        raise RuntimeError("ffmpeg was started without pipes")
    try:
        for frame in frames:
            stdin.write(frame.tobytes())
    except BrokenPipeError:
        pass  # ffmpeg died; its stderr below says why
    finally:
        stdin.close()
    stderr = stderr_pipe.read().decode("utf-8", errors="replace")
    if process.wait() != 0:
        raise RuntimeError(f"ffmpeg failed to write {target}: {stderr.strip()}")


def _dancer_setup(seed: int) -> tuple[Look, float]:
    """Colours and the dance's phase offset of one seed (same for frames and ground truth)."""
    rng = np.random.default_rng(seed)
    look = _pick_look(rng)
    return look, float(rng.uniform(0, 2 * math.pi))


def _pick_look(rng: np.random.Generator) -> Look:
    def pick(options: tuple[Colour, ...]) -> Colour:
        return options[int(rng.integers(len(options)))]

    return Look(
        skin=pick(SKIN_TONES),
        hair=pick(HAIR_COLOURS),
        shirt=pick(SHIRT_COLOURS),
        trousers=pick(TROUSER_COLOURS),
        background=pick(BACKGROUND_COLOURS),
    )


def _background(width: int, height: int, colour: Colour) -> np.ndarray:
    """A wall with a soft vertical gradient and a darker floor."""
    rows = np.linspace(1.05, 0.9, height, dtype=np.float32)[:, None, None]
    frame = np.broadcast_to(np.asarray(colour, dtype=np.float32) * rows, (height, width, 3)).copy()
    floor_top = int(height * FLOOR_LINE)
    frame[floor_top:] *= 0.75
    return np.clip(frame, 0, 255).astype(np.uint8)


def _dance_pose(beats: float, phase: float) -> Pose2D:
    """A simple groove built from sinusoids locked to the beat: knees bounce on every beat, arms
    pump over two beats, the hips sway over four, and every eight beats the arms rise overhead
    and come back down, so the arms sweep most of their range."""
    beat = 2 * math.pi * beats
    bounce = 0.5 * (1 - math.cos(beat))  # 0 on the beat, 1 half-way between beats
    pump = 0.5 + 0.5 * math.sin(beat / 2 + phase)
    sway = math.sin(beat / 4 + phase)
    overhead = max(0.0, math.sin(beat / 8 + phase)) ** 2  # arms raised for part of each phrase
    return Pose2D(
        hip_shift_x=0.05 * sway,
        hip_drop=0.035 * bounce,
        torso_tilt=0.1 * sway,
        head_tilt=-0.08 * sway,
        left_upper_arm=0.35 + 0.9 * pump + 1.4 * overhead,
        left_forearm=0.5 + 1.5 * pump + 1.2 * overhead,
        right_upper_arm=-(0.35 + 0.9 * (1 - pump) + 1.4 * overhead),
        right_forearm=-(0.5 + 1.5 * (1 - pump) + 1.2 * overhead),
        left_thigh=0.15 + 0.15 * bounce + 0.1 * max(0.0, sway),
        left_shin=-0.2 * bounce,
        right_thigh=-(0.15 + 0.15 * bounce + 0.1 * max(0.0, -sway)),
        right_shin=0.2 * bounce,
    )


def _limb_end(start: Point, angle: float, length: float) -> Point:
    """End of a limb of ``length`` pixels from ``start``; angle 0 points down, positive turns right."""
    return (start[0] + length * math.sin(angle), start[1] + length * math.cos(angle))


@dataclasses.dataclass(frozen=True)
class Skeleton:
    """Joint positions in pixels of one frame, from which both the drawing and the ground-truth
    COCO-17 keypoints are taken (left = the dancer's left = image right: they face the camera)."""

    head_size: float
    torso_tilt: float
    head_tilt: float
    neck: Point
    head_centre: Point
    joints: dict[str, Point]


def _skeleton(pose: Pose2D, width: int, height: int) -> Skeleton:
    """Proportions are fractions of the standing height ``unit`` (8 heads): 70 % of the frame
    height leaves room for the hands overhead, and arms stretched sideways span about one unit,
    which caps it in narrow (portrait) frames. The feet stand on the floor line."""
    unit = min(0.7 * height, 0.85 * width)
    head = unit / 8.0
    standing_leg = 0.49 * unit  # hip to sole
    hip = (width / 2 + pose.hip_shift_x * unit, FLOOR_LINE * height - standing_leg + pose.hip_drop * unit)
    neck = _limb_end(hip, math.pi + pose.torso_tilt, 3.0 * head)
    across = (math.cos(pose.torso_tilt), -math.sin(pose.torso_tilt))  # unit vector towards image right

    def beside(point: Point, offset: float, drop: float = 0.0) -> Point:
        return (point[0] + offset * across[0], point[1] + offset * across[1] + drop)

    joints: dict[str, Point] = {
        "left_shoulder": beside(neck, 0.95 * head, 0.2 * head),
        "right_shoulder": beside(neck, -0.95 * head, 0.2 * head),
        "left_hip": beside(hip, 0.7 * head),
        "right_hip": beside(hip, -0.7 * head),
    }
    for side in ("left", "right"):
        upper_arm, forearm = getattr(pose, f"{side}_upper_arm"), getattr(pose, f"{side}_forearm")
        thigh, shin = getattr(pose, f"{side}_thigh"), getattr(pose, f"{side}_shin")
        joints[f"{side}_elbow"] = _limb_end(joints[f"{side}_shoulder"], upper_arm, 1.45 * head)
        joints[f"{side}_wrist"] = _limb_end(joints[f"{side}_elbow"], forearm, 1.3 * head)
        joints[f"{side}_knee"] = _limb_end(joints[f"{side}_hip"], thigh, 2.0 * head)
        joints[f"{side}_ankle"] = _limb_end(joints[f"{side}_knee"], shin, 1.9 * head)

    head_tilt = pose.torso_tilt + pose.head_tilt
    head_centre = _limb_end(neck, math.pi + head_tilt, 0.75 * head)
    face = _head_frame(head_centre, head, head_tilt)
    joints["nose"] = face(0.0, 0.1)
    joints["left_eye"] = face(0.15, -0.02)
    joints["right_eye"] = face(-0.15, -0.02)
    joints["left_ear"] = face(0.37, 0.02)
    joints["right_ear"] = face(-0.37, 0.02)
    return Skeleton(head, pose.torso_tilt, head_tilt, neck, head_centre, joints)


def _head_frame(centre: Point, head: float, tilt: float) -> Callable[[float, float], Point]:
    """Map head-relative offsets (fractions of the head height, x to image right, y down) to
    pixels, following the head's tilt."""
    cos, sin = math.cos(tilt), math.sin(tilt)

    def at(dx: float, dy: float) -> Point:
        x, y = dx * head, dy * head
        return (centre[0] + x * cos + y * sin, centre[1] - x * sin + y * cos)

    return at


def _draw_person(frame: np.ndarray, pose: Pose2D, look: Look) -> None:
    """Draw the person in place: legs first (behind the torso), then torso, head, arms on top."""
    skeleton = _skeleton(pose, frame.shape[1], frame.shape[0])
    joints, head = skeleton.joints, skeleton.head_size
    limb = 0.42 * head
    for side, toe_direction in (("left", 1), ("right", -1)):
        hip, knee, ankle = joints[f"{side}_hip"], joints[f"{side}_knee"], joints[f"{side}_ankle"]
        _capsule(frame, hip, knee, 1.15 * limb, 1.0 * limb, look.trousers)
        _capsule(frame, knee, ankle, 1.0 * limb, 0.8 * limb, look.trousers)
        toe = (ankle[0] + toe_direction * 0.55 * head, ankle[1] + 0.15 * head)
        _capsule(frame, ankle, toe, 0.45 * limb, 0.45 * limb, look.shoes)

    across = (math.cos(skeleton.torso_tilt), -math.sin(skeleton.torso_tilt))

    def widened(point: Point, outwards: float, drop: float) -> tuple[float, float]:
        return (point[0] + outwards * head * across[0], point[1] + outwards * head * across[1] + drop * head)

    shirt = [
        widened(joints["left_shoulder"], 0.25, -0.15),
        widened(joints["right_shoulder"], -0.25, -0.15),
        widened(joints["right_hip"], -0.2, 0.2),
        widened(joints["left_hip"], 0.2, 0.2),
    ]
    waistband = [
        widened(joints["right_hip"], -0.25, -0.15),
        widened(joints["left_hip"], 0.25, -0.15),
        widened(joints["left_hip"], 0.25, 0.35),
        widened(joints["right_hip"], -0.25, 0.35),
    ]
    _polygon(frame, np.array(shirt, dtype=np.float32), look.shirt, _shade(look.shirt, 0.7))
    _polygon(frame, np.array(waistband, dtype=np.float32), look.trousers)

    _capsule(frame, skeleton.neck, skeleton.head_centre, 0.3 * head, 0.3 * head, look.skin)
    _draw_head(frame, skeleton.head_centre, head, skeleton.head_tilt, look)

    for side in ("left", "right"):
        shoulder, elbow, wrist = joints[f"{side}_shoulder"], joints[f"{side}_elbow"], joints[f"{side}_wrist"]
        _capsule(frame, shoulder, elbow, 0.95 * limb, 0.8 * limb, look.shirt)
        _capsule(frame, elbow, wrist, 0.7 * limb, 0.55 * limb, look.skin)
        hand = _limb_end(wrist, math.atan2(wrist[0] - elbow[0], wrist[1] - elbow[1]), 0.3 * head)
        _capsule(frame, wrist, hand, 0.55 * limb, 0.6 * limb, look.skin)


def _draw_head(frame: np.ndarray, centre: Point, head: float, tilt: float, look: Look) -> None:
    """A frontal face: BlazePose's person detector starts from a face, so the eyes, brows, nose
    and mouth are what makes the figure detectable at all."""
    import cv2

    to_pixels = _head_frame(centre, head, tilt)
    angle = -math.degrees(tilt)

    def ellipse(dx: float, dy: float, half_w: float, half_h: float, colour: Colour, arc: int = 360) -> None:
        """Filled ellipse at a head-relative offset; sizes are fractions of the head height."""
        size = _size(half_w * head, half_h * head)
        start = 180 if arc < 0 else 0  # a negative arc draws the upper half
        cv2.ellipse(frame, _px(to_pixels(dx, dy)), size, angle, start, start + abs(arc), colour, -1, cv2.LINE_AA)

    def stroke(start: Point, end: Point, colour: Colour, thickness: float) -> None:
        width = max(1, round(thickness * head))
        cv2.line(frame, _px(to_pixels(*start)), _px(to_pixels(*end)), colour, width, cv2.LINE_AA)

    ellipse(0, -0.06, 0.43, 0.53, look.hair)  # hair behind the head
    for side in (-1, 1):
        ellipse(side * 0.37, 0.02, 0.07, 0.11, _shade(look.skin, 0.9))  # ears
    ellipse(0, 0.04, 0.38, 0.46, look.skin)
    ellipse(0, -0.3, 0.39, 0.2, look.hair, arc=-180)  # fringe
    for side in (-1, 1):
        ellipse(side * 0.15, -0.02, 0.085, 0.05, (250, 250, 250))  # eye white
        ellipse(side * 0.15, -0.02, 0.04, 0.04, (70, 45, 30))  # iris
        ellipse(side * 0.15, -0.02, 0.02, 0.02, (10, 10, 10))  # pupil
        stroke((side * 0.07, -0.11), (side * 0.24, -0.12), look.hair, 0.03)  # eyebrow
    stroke((0, 0.0), (0.02, 0.12), _shade(look.skin, 0.7), 0.025)  # nose ridge
    ellipse(0, 0.13, 0.05, 0.02, _shade(look.skin, 0.75))  # nostrils
    ellipse(0, 0.24, 0.12, 0.045, (170, 60, 70), arc=180)  # mouth (lower half: a smile)


def _capsule(
    frame: np.ndarray, start: Point, end: Point, start_radius: float, end_radius: float, colour: Colour
) -> None:
    """A tapered limb: two discs joined by a quadrilateral, with a darker outline for shading."""
    import cv2

    dx, dy = end[0] - start[0], end[1] - start[1]
    length = math.hypot(dx, dy) or 1.0
    nx, ny = -dy / length, dx / length
    quad = np.array([
        (start[0] + nx * start_radius, start[1] + ny * start_radius),
        (end[0] + nx * end_radius, end[1] + ny * end_radius),
        (end[0] - nx * end_radius, end[1] - ny * end_radius),
        (start[0] - nx * start_radius, start[1] - ny * start_radius),
    ], dtype=np.float32)  # fmt: skip
    outline = _shade(colour, 0.7)
    for centre, radius in ((start, start_radius), (end, end_radius)):
        cv2.circle(frame, _px(centre), round(radius), colour, -1, cv2.LINE_AA)
    _polygon(frame, quad, colour, outline)


def _polygon(frame: np.ndarray, points: np.ndarray, colour: Colour, outline: Colour | None = None) -> None:
    import cv2

    contour = np.round(points).astype(np.int32)
    cv2.fillConvexPoly(frame, contour, colour, cv2.LINE_AA)
    if outline is not None:
        cv2.polylines(frame, [contour], True, outline, 1, cv2.LINE_AA)


def _shade(colour: Colour, factor: float) -> Colour:
    return tuple(int(min(255, max(0, round(channel * factor)))) for channel in colour)  # type: ignore[return-value]


def _px(point: Point) -> tuple[int, int]:
    return round(point[0]), round(point[1])


def _size(half_width: float, half_height: float) -> tuple[int, int]:
    return max(1, round(half_width)), max(1, round(half_height))
