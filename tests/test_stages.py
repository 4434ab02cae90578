"""Download and cut stages on media made here (no ../shared needed)."""

from __future__ import annotations

import socket
import subprocess
import threading

import cv2
import numpy as np
import pytest
import soundfile as sf

from boundary_fixtures import beep_time, late_audio_video
from tiktok_dm.config import CutConfig, DownloadConfig
from tiktok_dm.model.build_dir import BuildDir, sha256_of
from tiktok_dm.model.manifest import ClipSpec
from tiktok_dm.model.status import ErrorKind, Status
from tiktok_dm.stages.base import run_item
from tiktok_dm.stages.cut import CutItem, CutStage
from tiktok_dm.stages.download import DownloadItem, DownloadStage
from tiktok_dm.testing.loopback import serve_directory

FPS = 30
GRAY_STEP = 8  # frame i is painted gray level (i * 8) % 256, so a frame's index can be read back


def _frame_coded_video(path, seconds: float, with_audio: bool = True, silent: bool = False, keyframes_every: int = 250,
                       open_gop: bool = False):
    frames = int(seconds * FPS)
    video = np.stack([np.full((72, 128, 3), (i * GRAY_STEP) % 256, np.uint8) for i in range(frames)])
    audio_source = "anullsrc=r=44100:cl=stereo" if silent else "sine=frequency=440:sample_rate=44100"
    command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", "128x72", "-r", str(FPS), "-i", "-"]
    if with_audio:
        command += ["-f", "lavfi", "-t", str(seconds), "-i", audio_source, "-c:a", "aac"]
    # Keyframes only every 250 frames: a keyframe-only cut (-c copy) would start seconds early.
    command += ["-c:v", "libx264", "-g", str(keyframes_every), "-keyint_min", str(min(keyframes_every, 25)),
                "-sc_threshold", "0", "-bf", "3", *(["-x264-params", "open-gop=1"] if open_gop else []),
                "-pix_fmt", "yuv420p", "-crf", "10", str(path)]
    subprocess.run(command, input=video.tobytes(), check=True)
    return path


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served")
    (folder / "a").mkdir()
    (folder / "b").mkdir()
    _frame_coded_video(folder / "a" / "video.mp4", 6.0)
    _frame_coded_video(folder / "b" / "video.mp4", 4.0)
    _frame_coded_video(folder / "mute.mp4", 3.0, with_audio=False)
    _frame_coded_video(folder / "silent.mp4", 3.0, silent=True)
    with serve_directory(folder) as base:
        yield folder, base


def _download(tmp_path, url, **config):
    stage = DownloadStage(DownloadConfig(retries=0, **config), BuildDir(tmp_path))
    return run_item(stage, DownloadItem("c0", url))


def test_download_keys_by_url_so_same_file_names_do_not_collide(media, tmp_path):
    folder, base = media
    first = _download(tmp_path, f"{base}/a/video.mp4")
    second = _download(tmp_path, f"{base}/b/video.mp4")
    assert first.ok and second.ok, (first.error, second.error)
    assert first.output.path != second.output.path
    assert first.output.sha256 == sha256_of(folder / "a" / "video.mp4")
    assert second.output.sha256 == sha256_of(folder / "b" / "video.mp4")
    assert abs(first.output.duration_s - 6.0) < 0.1 and first.output.has_audio


def test_download_failures_carry_the_original_error(media, tmp_path):
    _, base = media
    missing = _download(tmp_path, f"{base}/nope.mp4")
    assert not missing.ok and "HTTP Error 404" in missing.error and f"{base}/nope.mp4" in missing.error
    assert (missing.status, missing.error_kind) == (Status.FAILED, ErrorKind.UNAVAILABLE)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    refused = _download(tmp_path, f"http://127.0.0.1:{port}/x.mp4")
    assert not refused.ok and "Connection refused" in refused.error


def test_download_times_out_on_a_server_that_never_answers(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    held = []
    accepting = threading.Thread(target=lambda: held.append(listener.accept()), daemon=True)
    accepting.start()
    try:
        result = _download(tmp_path, f"http://127.0.0.1:{listener.getsockname()[1]}/slow.mp4", socket_timeout_s=1.0)
    finally:
        listener.close()
        for connection, _ in held:
            connection.close()
    assert not result.ok and "timed out" in result.error.lower()


def test_file_urls_need_the_explicit_flag(media, tmp_path):
    folder, _ = media
    url = (folder / "a" / "video.mp4").as_uri()
    refused = _download(tmp_path / "refused", url)
    assert not refused.ok and "file" in refused.error.lower()
    allowed = _download(tmp_path / "allowed", url, allow_file_urls=True)
    assert allowed.ok, allowed.error


def _cut(tmp_path, source, start, end, has_audio=True, config=CutConfig(), source_duration_s=6.0):
    build_dir = BuildDir(tmp_path)
    target = build_dir.sources / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(source.read_bytes())
    clip = ClipSpec("c0", "http://h/x.mp4", "clip0", start, end, "s", 1, line=2)
    item = CutItem(clip, build_dir.relative(target), source_duration_s=source_duration_s, source_fps=FPS,
                   source_has_audio=has_audio)
    return build_dir, run_item(CutStage(config, build_dir), item)


def _frame_index(frame: np.ndarray) -> int:
    return int(round(float(frame.mean()) / GRAY_STEP))


def _frame_indices(video) -> list[int]:
    capture = cv2.VideoCapture(str(video))
    indices = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return indices
        indices.append(_frame_index(frame))


@pytest.mark.parametrize("start, end, copied, open_gop", [(1.0, 3.0, True, False), (1.0, 4.0, True, False),
                                                          (0.99, 2.99, True, False), (1.0, 3.1, False, False),
                                                          (1.02, 3.0, False, False), (1.0, 3.0, False, True)])
def test_a_span_of_whole_gops_is_copied_with_exactly_its_frames(tmp_path, start, end, copied, open_gop):
    """Keyframes every 15 frames (B-frames between), at 1.0 s and 3.0 s among others: [1.0, 3.0), [1.0, the end)
    and [0.99, 2.99) (a re-encode keeps the same frames: those shown from 1.0 s to 2.97 s) are whole GOPs, copied;
    [1.0, 3.1) ends inside one and [1.02, 3.0) starts inside one: re-encoded. So is [1.0, 3.0) of an open-GOP
    source (frames after a keyframe refer to the group before it). Either way the clip holds exactly the frames a
    re-encode keeps."""
    source = _frame_coded_video(tmp_path / "gops.mp4", 4.0, keyframes_every=15, open_gop=open_gop)
    build_dir, result = _cut(tmp_path / "build", source, start, end, source_duration_s=4.0)
    assert result.ok, result.error
    assert result.output.video_copied is copied
    assert result.output.audio_samples == round((end - start) * 22050)
    encoded_dir, encoded = _cut(tmp_path / "off", source, start, end, source_duration_s=4.0,
                                config=CutConfig(copy_whole_gops=False))
    assert encoded.output.video_copied is False and result.output.frames == encoded.output.frames
    indices = _frame_indices(build_dir.absolute(result.output.video))
    assert indices == _frame_indices(encoded_dir.absolute(encoded.output.video))
    if copied:  # from the keyframe at 1.0 s (frame 30) on, up to the next keyframe or the end
        assert indices == [i % 32 for i in range(30, 30 + round((end - 1.0) * FPS))]


def test_cut_is_frame_accurate_and_keeps_audio(media, tmp_path):
    folder, _ = media
    build_dir, result = _cut(tmp_path, folder / "a" / "video.mp4", 1.0, 3.5)
    assert result.ok, result.error
    assert result.output.frames == 75 and result.output.sample_rate == 22050
    assert result.output.audio_samples == round(2.5 * 22050)
    indices = _frame_indices(build_dir.absolute(result.output.video))
    # Frame 30 of the source (gray 240) is the first frame of the clip, the sequence runs on from there.
    assert indices[:3] == [30 % 32, 31 % 32, 32 % 32]
    assert len(indices) == 75


def test_cut_failures_name_the_clip(media, tmp_path):
    folder, _ = media
    _, beyond = _cut(tmp_path / "beyond", folder / "a" / "video.mp4", 5.0, 9.0)
    assert not beyond.ok and "ends at 9.000 s, after the end" in beyond.error and "line 2" in beyond.error
    assert beyond.error_kind is ErrorKind.BAD_SPAN
    _, mute = _cut(tmp_path / "mute", folder / "mute.mp4", 0.5, 2.5, has_audio=False)
    assert not mute.ok and "has no audio track" in mute.error and mute.error_kind is ErrorKind.NO_AUDIO
    build_dir, silent = _cut(tmp_path / "silent", folder / "silent.mp4", 0.5, 2.5)
    assert not silent.ok and "audio is silent" in silent.error and silent.error_kind is ErrorKind.NO_AUDIO
    assert not list(build_dir.clips.glob("*")), "a failed cut must not leave a clip behind"


def test_cut_keeps_a_late_starting_sound_track_on_the_video_clock(tmp_path):
    source = late_audio_video(tmp_path / "late.mp4", beep_at_s=1.5, audio_starts_s=1.0)
    build_dir, result = _cut(tmp_path / "build", source, 0.5, 3.0)
    assert result.ok, result.error
    samples, rate = sf.read(str(build_dir.absolute(result.output.audio)))
    assert len(samples) == round(2.5 * rate)
    # The beep is 1.5 s into the source, so 1.0 s into the clip (without keeping the clock: 0.5 s).
    assert beep_time(samples, rate) == pytest.approx(1.0, abs=0.03)
