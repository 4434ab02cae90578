"""Real clips with their real soundtrack, posed once per test session, and build directories
made from them for the QA and report tests."""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile

from tiktok_dm.model.build_dir import BuildDir
from tiktok_dm.model.clips import ClipRecord, ClipSet, SongSource
from tiktok_dm.model.manifest import ClipSpec
from tiktok_dm.model.outputs import CutOutput, PoseOutput
from tiktok_dm.model.records import StageRecord
from tiktok_dm.model.status import ErrorKind, Status
from tiktok_dm.pose.sequence import PoseSequence

# The two clips of shared/testdata/real_dance whose soundtrack is the real one (SOURCES.csv).
REAL_SOUNDTRACK_CLIPS = ("iper_akun_1", "romp_sample_video2")
SAMPLE_RATE = 22050

_CACHE = Path(tempfile.mkdtemp(prefix="tiktok-dm-quality-"))


@functools.lru_cache(maxsize=None)
def posed_clip(real_dance_dir: Path, name: str) -> tuple[Path, Path, Path]:
    """(video, mono 22050 Hz wav, pose .npz) of a real clip; mediapipe runs once per session."""
    from tiktok_dm.pose import estimate_video, get_backend

    video = real_dance_dir / f"{name}.mp4"
    audio = _CACHE / f"{name}.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(video), "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE),
                    str(audio)], check=True)
    poses = _CACHE / f"{name}.npz"
    with get_backend("mediapipe") as backend:
        estimate_video(video, backend).save(poses)
    return video, audio, poses


def shifted_audio(samples: np.ndarray, sample_rate: int, seconds: float) -> np.ndarray:
    """The soundtrack played ``seconds`` late (> 0: silence in front) or early, same length."""
    count = int(round(abs(seconds) * sample_rate))
    pad = np.zeros(count, dtype=samples.dtype)
    if seconds >= 0:
        return np.concatenate([pad, samples[: len(samples) - count]])
    return np.concatenate([samples[count:], pad])


def fake_build(root: Path, clips: list[dict]) -> BuildDir:
    """A build directory as `tiktok-dm build` leaves it, for the clips given as dicts with
    clip_id, compilation_id, song_id, split, video, audio, poses (files to copy; audio may be
    (samples, rate)), start_s, end_s and optional status/error. The cut and pose records hold what QA
    reads (files, the clip's duration); their other figures are placeholders, and pose QA is left to QA."""
    build = BuildDir(root)
    records = []
    for line, clip in enumerate(clips, start=2):
        clip_id = clip["clip_id"]
        status = Status(clip.get("status", "ok"))
        spec = ClipSpec(clip["compilation_id"], f"https://example.org/{clip_id}", clip_id, clip["start_s"],
                        clip["end_s"], clip["song_id"], 1, line)
        record = ClipRecord(spec, status, "" if status is Status.OK else "cut",
                            None if status is Status.OK else ErrorKind.BAD_INPUT, clip.get("error", ""),
                            song_id=clip["song_id"], song_source=SongSource.MANIFEST, split=clip.get("split", "train"))
        records.append(record)
        if status is not Status.OK:
            continue
        video = build.clips / f"{clip_id}.mp4"
        video.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(clip["video"], video)
        audio = build.clip_audio / f"{clip_id}.wav"
        audio.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(clip["audio"], tuple):
            soundfile.write(audio, *clip["audio"])
        elif clip["audio"] is not None:
            shutil.copyfile(clip["audio"], audio)
        poses = build.poses / f"{clip_id}.npz"
        poses.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(clip["poses"], poses)
        duration = clip.get("duration_s", clip["end_s"] - clip["start_s"])
        build.write_record(StageRecord.success("cut", clip_id, CutOutput(
            video=build.relative(video), audio=f"clip_audio/{clip_id}.wav", duration_s=duration,
            audio_duration_s=duration, audio_samples=0, sample_rate=SAMPLE_RATE, frames=None, fps=30.0, width=0,
            height=0, peak_dbfs=0.0, ffmpeg_version="placeholder")))
        build.write_record(StageRecord.success("pose", clip_id, PoseOutput(
            poses=build.relative(poses), backend="mediapipe", backend_version="placeholder", checkpoint="placeholder",
            frames=0, persons=1, person_coverage=1.0, mean_confidence=1.0, num_tracks=1, main_track=None,
            pose_flags=(), pose_qa={})))
    ClipSet(records).to_csv(build.clips_table)
    return build


def body_track(xy: np.ndarray) -> np.ndarray:
    """[frames, 17, 3] from one joint path [frames, 2]: a rigid 100-px-tall body moved along it."""
    offsets = np.stack([np.zeros(17), np.linspace(0, 100, 17)], axis=1)
    body = np.empty((len(xy), 17, 3))
    body[..., :2] = xy[:, None, :] + offsets[None]
    body[..., 2] = 0.9
    return body


def click_track(times: np.ndarray, seconds: float, sr: int = 22050) -> np.ndarray:
    y = np.zeros(int(seconds * sr), dtype=np.float32)
    rng = np.random.default_rng(0)
    for t in times:
        start, n = int(t * sr), int(0.05 * sr)
        y[start:start + n] += (rng.standard_normal(n) * np.exp(-np.arange(n) / (0.01 * sr))).astype(np.float32)
    return y


def stop_and_go(stop_frames: np.ndarray, frames: int = 300, step: float = 5.0) -> np.ndarray:
    """x of a body that moves ``step`` px a frame during the 8 frames before each stop and rests otherwise: it comes
    to rest on frame stop - 1."""
    x, position = np.zeros(frames), 0.0
    for frame in range(frames):
        coming = stop_frames[stop_frames > frame]
        if len(coming) and coming[0] - frame <= 8:
            position += step
        x[frame] = position
    return x


def stopping_dancer(folder: Path) -> tuple[Path, np.ndarray]:
    """A 10-s pose file of one body stopping at irregular moments (30 fps), and the times it comes to rest."""
    stops = np.cumsum(np.random.default_rng(7).integers(11, 25, size=40)) + 12
    stops = stops[stops < 295]
    body = body_track(np.stack([stop_and_go(stops), np.zeros(300)], axis=1)).astype(np.float32)
    path = folder / "stopping.npz"
    PoseSequence(body[:, None], np.zeros((300, 1), np.int32), np.arange(300) / 30.0, 30.0, 640, 360).save(path)
    return path, (stops - 1) / 30.0
