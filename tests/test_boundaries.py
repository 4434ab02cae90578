"""Clip boundaries on a real-footage compilation that holds every hard case, plus bad inputs, stage and CLI."""

from __future__ import annotations

import csv
import json
import logging
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from boundary_fixtures import (audio_only, beep_time, build_hard_cases, empty_video, keyframes_every, late_audio_video,
                               reencoded, unreadable, without_audio)
from tiktok_dm.boundaries import BoundaryConfig, detect_clips, plot_signals, read_clips_csv, write_clips_csv
from tiktok_dm.boundaries.cli import segment_command
from tiktok_dm.boundaries.decode import KeyframeIndex, TimePart, VideoDecoder, decode_audio, time_parts
from tiktok_dm.media import MediaToolMissing, ffmpeg_binary, probe
from tiktok_dm.model.build_dir import BuildDir, sha256_of
from tiktok_dm.model.outputs import BoundaryOutput
from tiktok_dm.model.status import ErrorKind, StageError
from tiktok_dm.stages.base import run_item
from tiktok_dm.stages.boundaries import BoundaryItem, BoundaryStage, config_for_side_by_side

TOLERANCE_S = 0.5


@pytest.fixture(scope="module")
def cases(tmp_path_factory, real_dance_dir, music_files):
    return build_hard_cases(tmp_path_factory.mktemp("boundaries"), real_dance_dir, music_files)


@pytest.fixture(scope="module")
def result(cases):
    return detect_clips(cases.path)


def boundaries(clips) -> list[float]:
    return sorted({round(t, 3) for clip in clips for t in (clip.start_s, clip.end_s)})


def near(times: list[float], target: float, tolerance: float = TOLERANCE_S) -> bool:
    return any(abs(t - target) <= tolerance for t in times)


def test_every_true_clip_is_found_and_nothing_else(cases, result):
    truth = cases.compilation.clips
    assert len(result.clips) == len(truth), [(c.start_s, c.end_s) for c in result.clips]
    for (start, end), clip in zip(truth, result.clips):
        assert abs(clip.start_s - start) <= TOLERANCE_S and abs(clip.end_s - end) <= TOLERANCE_S, (clip, start, end)
        assert 0.5 <= clip.confidence <= 1.0


@pytest.mark.parametrize("codec", ["vp9", "av1"])
def test_youtube_codecs_give_the_same_clips(cases, result, codec, tmp_path):
    """yt-dlp's best video is often VP9 or AV1 in WebM: the decode options must not depend on H.264."""
    other = detect_clips(reencoded(cases.path, tmp_path / f"compilation.{codec}.webm", codec))
    assert len(other.clips) == len(result.clips)
    for mine, theirs in zip(result.clips, other.clips):
        assert abs(mine.start_s - theirs.start_s) <= 0.1 and abs(mine.end_s - theirs.end_s) <= 0.1, (mine, theirs)


def test_time_parts_cover_the_video_on_the_analysis_frame_grid():
    parts = time_parts(95.0, 10.0, 4, 10.0)
    assert [part.first_frame for part in parts] == [0, 238, 475, 712]
    assert [part.frame_count for part in parts] == [238, 237, 237, None]
    assert len(time_parts(25.0, 10.0, 4, 10.0)) == 2  # no part shorter than the minimum
    assert time_parts(5.0, 10.0, 4, 10.0) == [TimePart(0, None)]


def test_later_parts_start_just_after_the_keyframe_nearest_their_even_split():
    keyframes = [0.0, 21.05, 52.0, 68.0]
    nearest = lambda t: min(keyframes, key=lambda k: abs(k - t))  # noqa: E731
    parts = time_parts(95.0, 10.0, 4, 10.0, keyframe_near=nearest)
    # Even split points 23.8, 47.5, 71.2 s; nearest keyframes 21.05, 52.0, 68.0 s; first grid frame at or after.
    assert [part.first_frame for part in parts] == [0, 211, 520, 680]
    assert [part.frame_count for part in parts] == [211, 309, 160, None]
    # A keyframe that would leave a part without frames is not used; no keyframe found: the even split.
    assert time_parts(95.0, 10.0, 4, 10.0, keyframe_near=lambda t: 0.0) == time_parts(95.0, 10.0, 4, 10.0)
    assert time_parts(95.0, 10.0, 4, 10.0, keyframe_near=lambda t: None) == time_parts(95.0, 10.0, 4, 10.0)


def test_keyframes_are_read_from_the_container_index(tmp_path):
    video = keyframes_every(tmp_path / "gop.mp4", seconds=6, interval_s=1.5)
    with KeyframeIndex(video) as index:
        assert index.near(1.4) == pytest.approx(1.5) and index.near(2.0) == pytest.approx(1.5)
        assert index.near(2.4) == pytest.approx(3.0) and index.near(3.0) == pytest.approx(3.0)
    with KeyframeIndex(unreadable(tmp_path / "bad.mp4")) as index:
        assert index.near(1.0) is None


def test_fine_stream_comes_out_in_tiles_and_keeps_every_real_frame(tmp_path):
    video = keyframes_every(tmp_path / "pattern.mp4", seconds=6, interval_s=1.5)
    decoder = VideoDecoder(video, 10.0, (128, 72), fast_decode=False)
    analysis_frames = sum(len(block) for block in decoder.blocks())
    one_by_one = subprocess.run([ffmpeg_binary(), "-nostdin", "-loglevel", "error", "-i", str(video), "-vf",
                                 "fps=30:start_time=0:round=near,scale=32:18:flags=fast_bilinear,format=gray",
                                 "-f", "rawvideo", "-"], capture_output=True, check=True).stdout
    expected = np.frombuffer(one_by_one, np.uint8).reshape(-1, 18, 32)
    assert analysis_frames == 60 and len(decoder.fine) == 3 * 60 - 1  # the padding of the last tile is left out
    assert np.array_equal(decoder.fine, expected[: len(decoder.fine)])


def test_the_in_process_probe_agrees_with_ffprobe(cases, tmp_path):
    """media.probe reads with PyAV (no ffprobe needed); where an ffprobe is installed it must tell the same."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        pytest.skip("no ffprobe on PATH to compare with")
    for path in (cases.path, audio_only(cases.path, tmp_path / "sound.m4a"), without_audio(cases.path, tmp_path / "v.mp4")):
        report = json.loads(subprocess.run([ffprobe, "-v", "error", "-print_format", "json", "-show_format",
                                            "-show_streams", "-count_packets", str(path)],
                                           capture_output=True, text=True, check=True).stdout)
        video = next((s for s in report["streams"] if s["codec_type"] == "video"), None)
        audio = next((s for s in report["streams"] if s["codec_type"] == "audio"), None)
        ours = probe(path, count_frames=True)
        assert (ours.has_video, ours.has_audio) == (video is not None, audio is not None)
        assert ours.duration_s == pytest.approx(float(report["format"]["duration"]), abs=1e-3)
        if video is not None:
            assert (ours.width, ours.height, ours.video_frames) == \
                   (video["width"], video["height"], int(video["nb_read_packets"]))
            assert ours.fps == pytest.approx(float(Fraction(video["avg_frame_rate"])))
        if audio is not None:
            assert (ours.audio_sample_rate, ours.audio_channels) == (int(audio["sample_rate"]), audio["channels"])
    with pytest.raises(StageError, match="bad.mp4"):
        probe(unreadable(tmp_path / "bad.mp4"))


def test_parts_decoded_at_once_give_the_frames_and_clips_of_one_pass(cases):
    one = detect_clips(cases.path, BoundaryConfig(decode_parts=1))
    parts = detect_clips(cases.path, BoundaryConfig(decode_parts=3, decode_min_part_s=5.0))
    assert len(time_parts(one.duration_s, 10.0, 3, 5.0)) == 3
    # Same analysis frames, so the same picture signals; the tiny stream may differ by one source
    # frame at a part's first frame.
    assert np.array_equal(one.visual.cut, parts.visual.cut) and np.array_equal(one.visual.blend, parts.visual.blend)
    assert len(parts.visual.fine_change) == len(one.visual.fine_change)
    assert [t for c in parts.clips for t in (c.start_s, c.end_s)] == \
           pytest.approx([t for c in one.clips for t in (c.start_s, c.end_s)], abs=0.034)


def test_decoding_processes_and_threads_are_not_part_of_the_stage_identity(tmp_path):
    build_dir = BuildDir(tmp_path)
    default = BoundaryStage(BoundaryConfig(), build_dir).settings_identity()
    assert BoundaryStage(BoundaryConfig(decode_parts=1, decode_threads=1), build_dir).settings_identity() == default
    assert BoundaryStage(BoundaryConfig(min_clip_s=4.0), build_dir).settings_identity() != default


@pytest.fixture
def fresh_ffmpeg_binary():
    ffmpeg_binary.cache_clear()
    yield ffmpeg_binary
    ffmpeg_binary.cache_clear()


def test_analysis_decodes_run_the_static_ffmpeg_and_see_what_the_system_one_sees(cases, fresh_ffmpeg_binary,
                                                                               monkeypatch):
    """The detector was calibrated on Debian 12's ffmpeg 5.1 (what scripts/install.sh installs); the pinned static
    build must give it the same frames."""
    system = shutil.which("ffmpeg")
    version = subprocess.run([system, "-version"], capture_output=True, text=True).stdout if system else "none"
    if not version.startswith("ffmpeg version 5.1"):
        pytest.skip(f"the system ffmpeg is not the 5.1 the detector was calibrated on: {version.splitlines()[0]}")
    monkeypatch.delenv("IMAGEIO_FFMPEG_EXE", raising=False)
    static = fresh_ffmpeg_binary()
    assert "imageio_ffmpeg" in static and static != system  # the package's dependency brings the static build

    def decoded(binary: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        monkeypatch.setattr("tiktok_dm.boundaries.decode.ffmpeg_binary", lambda: binary)
        decoder = VideoDecoder(cases.path, 10.0, (128, 72), part=TimePart(40, 60))
        frames = np.concatenate(list(decoder.blocks()))
        return frames, decoder.fine, decode_audio(cases.path, 11025)

    (frames, fine, sound), (system_frames, system_fine, system_sound) = decoded(static), decoded(system)
    assert np.array_equal(frames, system_frames) and np.array_equal(fine, system_fine)
    assert len(sound) == len(system_sound) and np.abs(sound - system_sound).max() < 1e-5


def test_the_ffmpeg_binary_honours_imageio_ffmpeg_exe_and_falls_back_to_path(cases, fresh_ffmpeg_binary,
                                                                             monkeypatch, tmp_path):
    import imageio_ffmpeg

    calls = tmp_path / "calls.log"
    wrapper = tmp_path / "ffmpeg-wrapper"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec {imageio_ffmpeg.get_ffmpeg_exe()} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(wrapper))
    assert fresh_ffmpeg_binary() == str(wrapper)
    detect_clips(cases.path, BoundaryConfig(decode_parts=2))
    started = calls.read_text().splitlines()
    assert len(started) == 3 and sum("0:a:0" in line for line in started) == 1  # two picture parts, one sound

    def no_build():
        raise RuntimeError("No ffmpeg exe could be found")

    monkeypatch.delenv("IMAGEIO_FFMPEG_EXE")
    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", no_build)
    fresh_ffmpeg_binary.cache_clear()
    monkeypatch.setattr(shutil, "which", lambda name: f"/opt/elsewhere/{name}")
    assert fresh_ffmpeg_binary() == "/opt/elsewhere/ffmpeg"
    monkeypatch.setattr(shutil, "which", lambda name: None)
    fresh_ffmpeg_binary.cache_clear()
    with pytest.raises(MediaToolMissing, match="IMAGEIO_FFMPEG_EXE"):
        fresh_ffmpeg_binary()


def test_sound_that_starts_late_is_decoded_on_the_video_clock(tmp_path):
    video = late_audio_video(tmp_path / "late.mp4", beep_at_s=1.5, audio_starts_s=1.0)
    samples = decode_audio(video, 11025)
    assert len(samples) / 11025 == pytest.approx(3.5, abs=0.05)  # 1 s of silence in front, then 2.5 s of sound
    assert beep_time(samples, 11025) == pytest.approx(1.5, abs=0.03)


def test_compilations_analysed_side_by_side_get_one_decoding_process_each():
    side_by_side = config_for_side_by_side(BoundaryConfig(), compilations=3, concurrency=2)
    assert (side_by_side.decode_parts, side_by_side.decode_threads) == (1, 1)
    assert config_for_side_by_side(BoundaryConfig(), compilations=1, concurrency=2) == BoundaryConfig()
    assert config_for_side_by_side(BoundaryConfig(), compilations=3, concurrency=1) == BoundaryConfig()
    chosen = BoundaryConfig(decode_parts=2)
    assert config_for_side_by_side(chosen, compilations=3, concurrency=2) == chosen


def test_hard_cut_is_a_boundary(cases, result):
    assert near(boundaries(result.clips), cases.hard_cut_s)


def test_cross_fade_is_a_boundary_at_its_middle(cases, result):
    assert near(boundaries(result.clips), cases.crossfade_s)
    dissolve = [c for c in result.candidates if abs(c.time_s - cases.crossfade_s) <= TOLERANCE_S]
    assert dissolve and dissolve[0].accepted


def test_internal_camera_cut_under_one_song_does_not_split_the_clip(cases, result):
    assert not near(boundaries(result.clips), cases.internal_cut_s)
    # The cut was seen, and judged an internal cut because the music runs through it.
    seen = [c for c in result.candidates if abs(c.time_s - cases.internal_cut_s) <= TOLERANCE_S]
    assert seen and not seen[0].accepted and "internal cut" in seen[0].reason
    assert any(c.start_s < cases.internal_cut_s < c.end_s for c in result.clips)
    # A punch-in keeps the person and the place: a faint cut, or the picture's colours barely change.
    assert seen[0].kind == "weak cut" or seen[0].appearance < result.config.appearance_change_threshold


def test_a_cut_to_another_clip_while_the_music_runs_on_is_a_boundary(cases, result):
    """One excerpt runs on across the cut (the sound alone would call it internal), but another person in another
    room is on screen: the picture's colours decide."""
    assert near(boundaries(result.clips), cases.music_runs_on_s)
    (cut,) = [c for c in result.candidates if abs(c.time_s - cases.music_runs_on_s) <= TOLERANCE_S]
    assert cut.accepted and "one piece of music runs on" in cut.reason and "colours" in cut.reason
    assert cut.appearance >= result.config.appearance_change_threshold
    # Without the colour evidence (a threshold no change reaches) the sound's verdict stands: an internal cut.
    sound_only = detect_clips(cases.path, BoundaryConfig(appearance_change_threshold=1.0))
    assert not near(boundaries(sound_only.clips), cases.music_runs_on_s)


def test_consecutive_clips_sharing_a_song_are_split(cases, result):
    assert near(boundaries(result.clips), cases.same_song_s)


def test_title_card_is_dropped_not_made_a_clip(cases, result):
    card_start, card_end = cases.card
    for clip in result.clips:
        overlap = min(clip.end_s, card_end) - max(clip.start_s, card_start)
        assert overlap <= 0.3, (clip, cases.card)
    assert any(span.start_s <= card_start + 0.3 and span.end_s >= card_end - 0.3 for span in result.dropped)
    assert near(boundaries(result.clips), card_start) and near(boundaries(result.clips), card_end)


def test_three_second_clip_is_kept(cases, result):
    start, end = cases.three_second_clip
    assert any(abs(c.start_s - start) <= TOLERANCE_S and abs(c.end_s - end) <= TOLERANCE_S for c in result.clips)


def test_min_clip_length_is_respected(cases):
    config = BoundaryConfig(min_clip_s=4.0)
    longer = detect_clips(cases.path, config)
    assert all(c.duration_s >= config.min_clip_s - config.min_clip_slack_s for c in longer.clips)
    start, end = cases.three_second_clip
    assert not any(abs(c.start_s - start) <= TOLERANCE_S and abs(c.end_s - end) <= TOLERANCE_S for c in longer.clips)


def test_clips_csv_round_trips(result, tmp_path):
    path = write_clips_csv(result, tmp_path / "clips.csv")
    with open(path, newline="") as handle:
        assert next(csv.reader(handle)) == ["start", "end", "confidence"]
    back = read_clips_csv(path)
    assert [(c.start_s, c.end_s, c.confidence) for c in back] == \
           [(c.start_s, c.end_s, c.confidence) for c in result.clips]


def test_debug_plot_is_a_png(result, tmp_path):
    path = plot_signals(result, tmp_path / "signals.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


# ------------------------------------------------------------------------------------ bad input

def test_unreadable_file_is_a_clear_error(tmp_path):
    with pytest.raises(StageError, match="not a readable video") as raised:
        detect_clips(unreadable(tmp_path / "broken.mp4"))
    assert raised.value.kind is ErrorKind.UNREADABLE


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(StageError, match="no such file"):
        detect_clips(tmp_path / "absent.mp4")


def test_audio_only_file_is_a_clear_error(cases, tmp_path):
    with pytest.raises(StageError, match="no video stream"):
        detect_clips(audio_only(cases.path, tmp_path / "sound.m4a"))


def test_zero_length_video_is_a_clear_error(tmp_path):
    with pytest.raises(StageError, match="no audio or video stream|0 s"):
        detect_clips(empty_video(tmp_path / "empty.mp4"))


def test_video_without_audio_is_segmented_on_the_picture_with_a_warning(cases, tmp_path, caplog):
    silent = without_audio(cases.path, tmp_path / "silent.mp4")
    with caplog.at_level(logging.WARNING, logger="tiktok_dm.boundaries"):
        visual_only = detect_clips(silent)
    assert "no audio stream" in caplog.text and visual_only.warnings and not visual_only.has_audio
    found = boundaries(visual_only.clips)
    for boundary in (cases.crossfade_s, cases.same_song_s, *cases.card, cases.music_runs_on_s):
        assert near(found, boundary), (boundary, found)
    # Without sound every hard cut counts; the punch-in is a faint cut, which the picture alone never decides.
    internal = [c for c in visual_only.candidates if abs(c.time_s - cases.internal_cut_s) <= TOLERANCE_S]
    assert internal and internal[0].kind == "weak cut" and "not enough evidence" in internal[0].reason
    assert not near(found, cases.internal_cut_s)


# ------------------------------------------------------------------------------------ stage and CLI

def test_stage_writes_the_csv_and_returns_the_clips(cases, tmp_path):
    build_dir = BuildDir(tmp_path / "build")
    source = build_dir.sources / "comp.mp4"
    source.parent.mkdir(parents=True)
    shutil.copy(cases.path, source)
    stage = BoundaryStage(BoundaryConfig(), build_dir)
    item = BoundaryItem("000042", build_dir.relative(source), sha256_of(source))
    record = run_item(stage, item)
    assert record.ok, record.error
    assert record.output.csv == "boundaries/000042.csv"
    written = read_clips_csv(build_dir.absolute(record.output.csv))
    assert [(c.start_s, c.end_s) for c in written] == [(c.start_s, c.end_s) for c in record.output.clips]
    assert len(record.output.clips) == len(cases.compilation.clips)
    assert build_dir.read_record(BoundaryOutput, "000042") == record and stage.key(item) == "000042"


def test_stage_reports_a_bad_file_as_a_failure_row(tmp_path):
    build_dir = BuildDir(tmp_path / "build")
    build_dir.sources.mkdir(parents=True)
    bad = unreadable(build_dir.sources / "bad.mp4")
    record = run_item(BoundaryStage(BoundaryConfig(), build_dir), BoundaryItem("bad", build_dir.relative(bad)))
    assert not record.ok and "not a readable video" in record.error


def test_cli_writes_csv_and_plot(cases, tmp_path):
    out, png = tmp_path / "clips.csv", tmp_path / "clips.png"
    run = CliRunner().invoke(segment_command, [str(cases.path), "--out", str(out), "--min-clip-s", "3",
                                               "--debug-plot", str(png)])
    assert run.exit_code == 0, run.output
    assert f"{len(cases.compilation.clips)} clips" in run.output
    assert out.read_text().startswith("start,end,confidence\n") and png.stat().st_size > 0


def test_cli_help_explains_signals_and_columns():
    run = CliRunner().invoke(segment_command, ["--help"])
    assert run.exit_code == 0
    for words in ("start,end,confidence", "internal camera cut", "title cards", "--min-clip-s", "--debug-plot"):
        assert words in run.output


def test_cli_rejects_audio_only_input_with_exit_code_2(cases, tmp_path):
    run = CliRunner().invoke(segment_command, [str(audio_only(cases.path, tmp_path / "a.m4a")),
                                               "--out", str(tmp_path / "c.csv")])
    assert run.exit_code == 2 and "no video stream" in run.output


def _frames_with_a_faded_in_card() -> np.ndarray:
    """10 fps analysis frames: 2 s of a moving picture, a cut to black (0.6 s), a card's text fading in over 0.3 s,
    the still card (1 s), a hard cut to another moving picture (2 s)."""
    rng = np.random.default_rng(0)
    height, width = 72, 128

    def moving(seconds: float, colour: tuple[int, int, int]) -> list[np.ndarray]:
        frames = []
        for i in range(int(seconds * 10)):
            frame = np.full((height, width, 3), colour, np.uint8)
            x = 20 + 4 * i
            frame[20:60, x:x + 24] = rng.integers(0, 255, (40, 24, 3), dtype=np.uint8)  # a dancer moving right
            frames.append(frame)
        return frames

    black = np.zeros((height, width, 3), np.uint8)
    card = black.copy()
    card[26:46, 44:84] = 48  # the card's text: dim, a tenth of the frame, as on the held-out cards
    # The text brightens within one 8-level colour cell (33-48 of 0-255): only its first step, out of black, is an edit.
    fade = [(card * level).astype(np.uint8) for level in (0.7, 0.85, 0.93)]
    return np.stack(moving(2.0, (90, 120, 60)) + [black] * 6 + fade + [card] * 10 + moving(2.0, (30, 60, 150)))


@pytest.mark.parametrize("reach_s, found", [(0.5, True), (0.2, False)])
def test_a_card_whose_text_fades_in_after_a_cut_to_black_is_dropped(reach_s, found):
    """The edit into the card (the cut to black) lies 0.3 s before its still frames: within card_edit_reach_s it is
    the card's edit; at the old reach of two frames (0.2 s) the card was taken for a dancer holding still."""
    from tiktok_dm.boundaries.fusion import dropped_spans
    from tiktok_dm.boundaries.visual import compute_signals, describe_frames

    config = BoundaryConfig(card_edit_reach_s=reach_s)
    frames = _frames_with_a_faded_in_card()
    descriptors = describe_frames([frames], 10.0, config)
    visual = compute_signals(descriptors, np.zeros((0, 8, 8), np.uint8), 10.0, config)
    cards = [span for span in dropped_spans(visual, descriptors.luma, len(frames) / 10.0, config)
             if span.kind == "title card"]
    assert bool(cards) == found, cards
    if found:
        (card,) = cards
        assert card.start_s <= 2.95 and abs(card.end_s - 3.9) <= 0.15, card  # the still card: 2.9-3.9 s


def test_a_hard_cut_just_after_a_faint_dissolve_is_kept():
    """Slow motion or a faint cross-fade reads as mixed frames (a weak dissolve); a hard cut within its reach used to
    count as one of its steps and was dropped with it. A faint dissolve never swallows a hard cut."""
    from tiktok_dm.boundaries.fusion import propose
    from tiktok_dm.boundaries.visual import compute_signals, describe_frames

    rng = np.random.default_rng(1)

    def picture(seed: int, base: int) -> np.ndarray:  # coarse blocks of colour, as the thumbnails see a scene
        image = np.full((72, 128, 3), base, np.float32)
        image[8:64, 16:112] = np.kron(np.random.default_rng(seed).integers(40, 215, (7, 12, 3)), np.ones((8, 8, 1)))
        return image

    a, a_later, b = picture(1, 100), picture(2, 100), picture(3, 30)
    noisy = lambda image: image + rng.normal(0, 2, image.shape)  # noqa: E731
    frames = [noisy(a) for _ in range(20)] + [(1 - i / 11) * a + i / 11 * a_later for i in range(12)] + \
        [noisy(a_later) for _ in range(2)] + [noisy(b) for _ in range(20)]
    frames = np.clip(np.stack(frames), 0, 255).astype(np.uint8)
    config = BoundaryConfig()
    visual = compute_signals(describe_frames([frames], 10.0, config), np.zeros((0, 8, 8), np.uint8), 10.0, config)
    proposals = propose(visual, [], config)
    assert [p.kind for p in proposals] == ["weak dissolve", "hard cut"], proposals
    assert abs(proposals[1].time_s - 3.4) <= 0.1


_PALETTE = np.array([(200, 60, 40), (40, 160, 70), (230, 210, 190), (60, 70, 180)], np.uint8)


def _scene(height: int, width: int, seed: int) -> np.ndarray:
    """A room as the thumbnails see it: 8-pixel blocks of four colours (so two rooms share their colour make-up)."""
    blocks = np.random.default_rng(seed).integers(0, len(_PALETTE), (height // 8 + 1, width // 8 + 1))
    return np.kron(_PALETTE[blocks], np.ones((8, 8, 1), np.uint8))[:height, :width]


def _laid_out(scene: np.ndarray, layout: str, frames: int, seed: int) -> list[np.ndarray]:
    """10 fps analysis frames (72 x 128) of ``scene`` with a dancer (a grey block) moving across it, laid into the
    frame as a portrait video between black bars ("pad": the middle 40 columns) or filling it ("fill")."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(frames):
        picture = scene.copy()
        x = (6 + 2 * i) % (picture.shape[1] - 12)
        picture[20:52, x:x + 10] = 128
        picture = np.clip(picture.astype(np.int16) + rng.integers(-3, 4, picture.shape), 0, 255).astype(np.uint8)
        if layout == "pad":
            frame = np.zeros((72, 128, 3), np.uint8)
            frame[:, 44:84] = picture
        else:
            frame = picture
        out.append(frame)
    return out


def _judged_at_the_cut(frames: list[np.ndarray], cut_s: float, music: Path, config: BoundaryConfig):
    """Propose and judge the candidates of analysis ``frames`` under one real music excerpt that runs straight
    through (so the sound calls every cut internal); the candidate at ``cut_s``."""
    from tiktok_dm.boundaries.audio import audio_features
    from tiktok_dm.boundaries.fusion import judge, propose
    from tiktok_dm.boundaries.visual import compute_signals, describe_frames

    visual = compute_signals(describe_frames([np.stack(frames)], 10.0, config), np.zeros((0, 8, 8), np.uint8),
                             10.0, config)
    seconds = len(frames) / 10.0
    rate = config.audio_sample_rate
    samples = decode_audio(music, rate)[40 * rate: int((40 + seconds) * rate)]
    candidates = judge(propose(visual, [], config), [], audio_features(samples, config.audio_sample_rate), config,
                       visual)
    return [c for c in candidates if abs(c.time_s - cut_s) <= 0.15]


def test_a_cut_to_another_layout_while_the_music_runs_on_is_a_boundary(music_files):
    """Two rooms of the same colours, one music excerpt across the cut: neither the sound nor the colours tell the
    clips apart, but the first is a portrait video between bars and the second fills the frame."""
    config = BoundaryConfig()
    frames = _laid_out(_scene(72, 40, 1), "pad", 30, 0) + _laid_out(_scene(72, 128, 2), "fill", 30, 1)
    (cut,) = _judged_at_the_cut(frames, 3.0, music_files[0], config)
    assert cut.appearance < config.appearance_change_threshold, cut  # the colours do not decide it
    assert cut.accepted and "place in the frame" in cut.reason, cut
    assert cut.layout >= 0.5, cut  # bars give way to a picture filling the frame (a shift of 1)
    # Without the layout evidence (a shift no layout reaches), the sound's verdict stands: an internal cut.
    (sound_only,) = _judged_at_the_cut(frames, 3.0, music_files[0], BoundaryConfig(layout_change_threshold=1.01))
    assert not sound_only.accepted and "internal cut" in sound_only.reason


def test_a_punch_in_zoom_between_bars_with_the_music_running_on_is_not_split(music_files):
    """The same portrait video, zoomed in at the cut (its blocks twice as large), stays between the same bars."""
    config = BoundaryConfig()
    scene = _scene(72, 40, 3)
    zoomed = np.kron(scene[18:54, 10:30], np.ones((2, 2, 1), np.uint8))
    frames = _laid_out(scene, "pad", 30, 0) + _laid_out(zoomed, "pad", 30, 1)
    judged = _judged_at_the_cut(frames, 3.0, music_files[0], config)
    assert judged and not any(c.accepted for c in judged), judged
    assert all(c.layout < config.layout_change_threshold for c in judged), judged


def test_the_picture_between_bars_or_filling_the_frame_is_found():
    from tiktok_dm.boundaries.frame_layout import WHOLE_FRAME
    from tiktok_dm.boundaries.visual import compute_signals, describe_frames

    config = BoundaryConfig()
    frames = _laid_out(_scene(72, 40, 1), "pad", 10, 0) + _laid_out(_scene(72, 128, 2), "fill", 10, 1)
    visual = compute_signals(describe_frames([np.stack(frames)], 10.0, config), np.zeros((0, 8, 8), np.uint8),
                             10.0, config)
    bars = visual.layout.picture(slice(0, 10), config)
    assert (round(bars.left * 128), round(bars.right * 128), bars.top, bars.bottom) == (44, 84, 0.0, 1.0)
    assert bars.flat_outside
    assert visual.layout.picture(slice(10, 20), config) == WHOLE_FRAME
    # A room with straight stripes (a textured wall) is no layout: no line stands out from the ones beside it.
    striped = np.zeros((72, 128, 3), np.uint8)
    striped[::2] = 200
    stripes = compute_signals(describe_frames([np.stack([striped] * 10)], 10.0, config),
                              np.zeros((0, 8, 8), np.uint8), 10.0, config)
    assert stripes.layout.picture(slice(0, 10), config) == WHOLE_FRAME


def test_a_weak_candidate_gives_way_to_a_clear_edit_next_to_it():
    """A faint mix just before a real cross-fade borrows its sound change and can be the surer decision; when the
    two would leave a clip under the minimum length, the clear edit is kept."""
    from tiktok_dm.boundaries.fusion import assemble
    from tiktok_dm.boundaries.result import Candidate

    def candidate(time_s: float, kind: str, confidence: float) -> Candidate:
        return Candidate(time_s, kind, 0.5, 0.5, float("nan"), -20.0, float("nan"), True, confidence, "test")

    config = BoundaryConfig()
    candidates = [candidate(5.0, "weak dissolve", 0.95), candidate(5.9, "dissolve", 0.6)]
    clips, _, judged = assemble(12.0, candidates, [], config)
    assert [(c.start_s, c.end_s) for c in clips] == [(0.0, 5.9), (5.9, 12.0)]
    assert not judged[0].accepted and "given up" in judged[0].reason
    # Between two candidates of one strength, the surer decision is kept, as before.
    clips, _, _ = assemble(12.0, [candidate(5.0, "dissolve", 0.95), candidate(5.9, "dissolve", 0.6)], [], config)
    assert [(c.start_s, c.end_s) for c in clips] == [(0.0, 5.0), (5.0, 12.0)]


def test_two_bright_rooms_differ_in_colour_where_four_levels_per_channel_saw_one():
    """A white studio and a pale pink bedroom: at 4 levels per channel every wall pixel falls into the same bin
    (the colour change was the internal-cut value); at 8 levels the rooms differ, and a punch-in does not."""
    from tiktok_dm.boundaries.visual import compute_signals, describe_frames

    rng = np.random.default_rng(3)

    def room(wall: tuple[int, int, int], seconds: float, zoom: int = 1) -> list[np.ndarray]:
        frames = []
        for i in range(int(seconds * 10)):
            frame = np.empty((72, 128, 3), np.uint8)
            frame[:] = wall
            frame[54:] = (200, 200, 200)  # a light floor
            x = 30 + 3 * i
            frame[20:60, x:x + 10 * zoom] = (60, 50, 70)  # the dancer
            frames.append(np.clip(frame.astype(np.int16) + rng.integers(-3, 4, frame.shape), 0, 255).astype(np.uint8))
        return frames

    config = BoundaryConfig()
    studio, bedroom = (242, 242, 240), (244, 206, 214)
    cases = {"another room": room(studio, 3) + room(bedroom, 3), "a punch-in": room(studio, 3) + room(studio, 3, 2)}
    changes = {}
    for name, frames in cases.items():
        descriptors = describe_frames([np.stack(frames)], 10.0, config)
        visual = compute_signals(descriptors, np.zeros((0, 8, 8), np.uint8), 10.0, config)
        # The 64-bin histograms of before: the 512-bin ones summed over each 2x2x2 block of neighbouring cells.
        coarse_hists = descriptors.hists.astype(np.float32).reshape(-1, 4, 2, 4, 2, 4, 2).sum(axis=(2, 4, 6))
        coarse_hists = coarse_hists.reshape(len(descriptors), -1)
        coarse = 0.5 * np.abs(coarse_hists[:28].mean(axis=0) - coarse_hists[32:].mean(axis=0)).sum()
        changes[name] = (coarse, visual.appearance_change(3.0, 0.0, 6.0, config))
    assert changes["another room"][0] < config.appearance_change_threshold  # what the 64-bin histograms saw
    assert changes["another room"][1] >= config.appearance_change_threshold, changes
    assert changes["a punch-in"][1] < config.appearance_change_threshold, changes
