"""Dataset QA: kinematic beats, music beats, alignment and offset on real dancing with its real
soundtrack, per-clip checks, duplicates, and QA over a build directory."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
from click.testing import CliRunner

from quality_fixtures import (body_track, click_track, fake_build, posed_clip, shifted_audio, stop_and_go,
                              stopping_dancer)
from tiktok_dm.model.outputs import CutOutput
from tiktok_dm.pose import PoseSequence
from tiktok_dm.quality.alignment import alignment_score, beat_alignment, estimate_offset, shuffled_scores
from tiktok_dm.quality.checks import CLIP_CACHE, run_quality
from tiktok_dm.quality.cli import qa_command
from tiktok_dm.quality.config import AlignmentConfig, AudioCheckConfig, KinematicConfig, OffsetConfig
from tiktok_dm.quality.duplicates import find_duplicates, matching_share, video_hashes
from tiktok_dm.quality.kinematic import kinematic_beats, kinematic_envelope, sequence_envelope
from tiktok_dm.quality.music import Audio, MusicEvents, audio_levels, load_audio, music_events

pytestmark = pytest.mark.filterwarnings("ignore:SymbolDatabase.GetPrototype:UserWarning")


# --------------------------------------------------------------------------- kinematic beats (synthetic truth)


def test_deceleration_peak_is_centred_on_the_stop():
    """A body moving at constant speed that stops dead at frame 50: the envelope peaks at frame
    50 exactly (one-sided differences would put it half a frame to a frame off)."""
    frames = np.arange(100)
    x = np.where(frames < 50, frames * 4.0, 200.0)
    envelope = kinematic_envelope(body_track(np.stack([x, np.zeros(100)], axis=1)), frames / 30.0, 30.0)
    assert int(np.argmax(envelope.values)) == 50
    assert envelope.values[:45].max() < 1e-6 < envelope.values[50]  # no braking while cruising


def test_turn_peak_is_centred_on_the_turn():
    """Moving right, then (same speed) straight down from frame 40: without smoothing turning
    peaks at frame 40. Smoothed, the braking into the turn counts and speeding out of it does
    not (the rule is deceleration + turning), so the peak may move a frame earlier, never later."""
    frames = np.arange(90)
    x = np.where(frames < 40, frames * 3.0, 120.0)
    y = np.where(frames < 40, 0.0, (frames - 40) * 3.0)
    track = body_track(np.stack([x, y], axis=1))
    raw = kinematic_envelope(track, frames / 30.0, 30.0, KinematicConfig(smooth_frames=0))
    assert int(np.argmax(raw.values)) == 40
    assert int(np.argmax(kinematic_envelope(track, frames / 30.0, 30.0).values)) in (39, 40)


def test_kinematic_beats_of_periodic_stops():
    """Stop-and-go every 15 frames (0.5 s; 10 frames moving, a hold of 5): one beat per hold, in its middle, where
    the speed is least (the literature's local minima of joint speed), and none while moving."""
    frames = np.arange(150)
    phase = frames % 15
    x = (frames // 15) * 30.0 + np.minimum(phase, 10) * 3.0  # 10 frames moving, 5 still
    envelope = kinematic_envelope(body_track(np.stack([x, np.zeros(150)], axis=1)), frames / 30.0, 30.0)
    beats = kinematic_beats(envelope)
    holds = (np.arange(10) * 15 + 12) / 30.0  # frames 10-14 still: the middle is frame 12
    assert len(beats) == 9  # the last hold runs into the clip's end
    assert np.abs(beats[:, None] - holds[None]).min(axis=1).max() <= 1 / 30 + 1e-9


def test_kinematic_beats_follow_the_literature_rule():
    """Smooth swinging (a sine of period 0.8 s): the speed is least at the turning points, twice a period, as
    scipy's argrelextrema finds on the smoothed mean joint speed (Bailando's calc_db)."""
    from scipy.signal import argrelextrema

    frames = np.arange(120)
    x = 40.0 * np.sin(2 * np.pi * frames / 24.0)
    envelope = kinematic_envelope(body_track(np.stack([x, np.zeros(120)], axis=1)), frames / 30.0, 30.0)
    beats = kinematic_beats(envelope)
    turns = (6 + 12 * np.arange(10)) / 30.0
    assert len(beats) == 10 and np.abs(beats - turns).max() <= 1 / 30 + 1e-9
    literature = argrelextrema(envelope.speed, np.less)[0]
    assert np.allclose(beats, envelope.times[literature])


# --------------------------------------------------------------------------- music, levels


def test_music_beats_and_onsets_land_on_clicks():
    clicks = np.arange(0.5, 7.5, 0.5)
    music = music_events(Audio(click_track(clicks, 8.0), 22050))
    assert abs(music.tempo_bpm - 120) < 3
    assert np.abs(music.beats[:, None] - clicks[None]).min(axis=1).max() < 0.03
    peaks = music.onset_times[np.argsort(music.onset_strength)[-len(clicks):]]
    assert np.abs(np.sort(peaks) - clicks).max() < 0.03


def test_audio_levels_find_silence_and_loudness():
    sr = 22050
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(sr * 5) / sr).astype(np.float32)
    tone[int(1.5 * sr):int(3.2 * sr)] = 0.0  # 1.7 s of silence
    levels = audio_levels(Audio(tone, sr), AudioCheckConfig())
    assert len(levels.silent_stretches) == 1
    start, end = levels.silent_stretches[0]
    assert abs(start - 1.5) < 0.15 and abs(end - 3.2) < 0.15
    full = audio_levels(Audio(0.5 * np.sin(2 * np.pi * 440 * np.arange(sr) / sr).astype(np.float32), sr))
    assert abs(full.loudness_dbfs - 20 * np.log10(0.5 / np.sqrt(2))) < 0.1 and not full.silent_stretches


# --------------------------------------------------------------------------- alignment (synthetic truth)


def test_alignment_score_and_shuffled_baseline():
    beats = np.arange(0.25, 10, 0.5)
    events = MusicEvents(beats, 120.0, np.zeros(0), np.zeros(0))
    on_beat = beat_alignment(beats[::2] + 0.02, events, 10.0, AlignmentConfig())
    off_beat = beat_alignment(beats[::2] + 0.25, events, 10.0, AlignmentConfig())
    assert on_beat.score == 1.0 and off_beat.score == 0.0
    # +-0.1 s around beats every 0.5 s covers 40 % of the time: what random offsets score.
    assert abs(on_beat.shuffled_baseline - 0.4) < 0.05
    assert on_beat.p_shuffled < 0.5 and off_beat.p_shuffled == 1.0
    assert alignment_score(np.zeros(0), beats, 0.1) == 0.0
    assert beat_alignment(beats[:2], events, 10.0).score is None  # too few beats: no score, a reason
    scores = shuffled_scores(beats, beats, 10.0, AlignmentConfig(baseline_shifts=50, seed=3))
    assert np.array_equal(scores, shuffled_scores(beats, beats, 10.0, AlignmentConfig(baseline_shifts=50, seed=3)))


@pytest.mark.parametrize("shift_s", [-0.3, 0.0, 0.3])
def test_offset_of_motion_and_clicks_at_irregular_stops_is_exact(shift_s):
    """Issue 22's check of the processing's own delay: a body stopping at irregular moments, a click where it comes
    to rest (shifted by shift_s): the offset is the shift, to the frame (no lag from smoothing, differences, the
    envelope's choice of moment, or frame times against the audio clock)."""
    fps = 30.0
    stops = np.cumsum(np.random.default_rng(7).integers(11, 25, size=40)) + 12
    stops = stops[stops < 295]
    envelope = kinematic_envelope(body_track(np.stack([stop_and_go(stops), np.zeros(300)], axis=1)),
                                  np.arange(300) / fps, fps)
    clicks = (stops - 1) / fps + shift_s
    estimate = estimate_offset(envelope, music_events(Audio(click_track(clicks[(clicks > 0) & (clicks < 10)], 10.5),
                                                            22050)))
    assert estimate.determined, estimate.reason
    assert abs(estimate.offset_s - shift_s) < 0.5 / fps
    assert estimate.p_relation < 0.01  # the motion follows this sound, not its randomly shifted copies
    assert estimate.beat_period_s is None and estimate.aliases(0.5) == (estimate.offset_s,)  # no repeat a beat away


def test_offset_of_strictly_periodic_stops_is_undetermined_when_shifted():
    """Stops every 0.5 s and clicks every 0.5 s: a 0.3 s shift cannot be told from -0.2 s (the curve repeats every
    beat period, and randomly shifted clicks fit as well), so no offset is given, never a wrong number; unshifted,
    the prior on small lags gives 0."""
    fps = 30.0
    frames = np.arange(300)
    x = (frames // 15) * 30.0 + np.minimum(frames % 15, 10) * 3.0
    envelope = kinematic_envelope(body_track(np.stack([x, np.zeros(300)], axis=1)), frames / fps, fps)
    stops = (np.arange(20) * 15 + 10) / fps
    for shift_s in (-0.3, 0.3):
        clicks = stops + shift_s
        estimate = estimate_offset(envelope, music_events(Audio(click_track(clicks[(clicks > 0) & (clicks < 10)], 10.5),
                                                                22050)))
        assert not estimate.determined and estimate.offset_s is None
        assert "ambiguous" in estimate.reason or "randomly shifted copies" in estimate.reason
    unshifted = estimate_offset(envelope, music_events(Audio(click_track(stops, 10.5), 22050)))
    assert unshifted.determined and unshifted.offset_s == 0.0
    # ... but only up to whole beats: the fit repeats one beat (0.5 s) away, so +-0.5 s is as possible.
    assert abs(unshifted.beat_period_s - 0.5) < 0.02 and "whole beats" in unshifted.reason
    assert [round(alias, 1) for alias in unshifted.aliases(0.5)] == [-0.5, 0.0, 0.5]
    assert not unshifted.out_of_sync(0.25, 0.5)


def test_an_offset_known_up_to_whole_beats_is_flagged_only_if_every_possible_offset_is_out_of_sync():
    """Issue 22's held-out dance clip at 132 BPM, its audio 0.3 s late: the best lag was -0.133 s, one beat (0.453 s)
    from the truth. Known up to whole beats, -0.133 and +0.320 s are both possible: not flagged, since the sound may
    be in sync within the tolerance; a clip whose every possible offset is beyond it is."""
    from tiktok_dm.quality.alignment import DETERMINED, OffsetEstimate

    one_beat_off = OffsetEstimate(DETERMINED, -0.133, -0.133, 0.3, 0.73, "", beat_period_s=0.453)
    assert [round(alias, 3) for alias in one_beat_off.aliases(0.5)] == [-0.133, 0.32]
    assert not one_beat_off.out_of_sync(0.25, 0.5)
    assert OffsetEstimate(DETERMINED, 0.32, 0.32, 0.3, 0.2, "").out_of_sync(0.25, 0.5)  # no repeat: flagged
    slow = OffsetEstimate(DETERMINED, 0.45, 0.45, 0.3, 0.8, "", beat_period_s=0.9)  # 67 BPM: -0.45 or +0.45
    assert slow.aliases(0.5) == (-0.45, 0.45) and slow.out_of_sync(0.25, 0.5)


# --------------------------------------------------------------------------- real dancing, real soundtrack


@pytest.fixture(scope="session")
def iper(real_dance_dir: Path):
    return posed_clip(real_dance_dir, "iper_akun_1")


@pytest.fixture(scope="session")
def romp(real_dance_dir: Path):
    return posed_clip(real_dance_dir, "romp_sample_video2")


def _offset(posed, shift_s: float, config: OffsetConfig = OffsetConfig()):
    _, audio_path, poses = posed
    audio = load_audio(audio_path)
    envelope = sequence_envelope(PoseSequence.load(poses))
    shifted = Audio(shifted_audio(audio.samples, audio.sample_rate, shift_s), audio.sample_rate)
    return estimate_offset(envelope, music_events(shifted), config), envelope.fps


@pytest.mark.needs_shared
@pytest.mark.parametrize("shift_s", [0.0, 0.3, -0.2])
def test_real_clips_whose_motion_does_not_follow_their_sound_get_no_offset(iper, romp, shift_s):
    """iper_akun_1 (a dribble: the soundtrack's onsets are the ball's bounces, the hand stops 0.1-0.17 s earlier)
    and romp_sample_video2 (motion every 0.503 s, music at 161 BPM) with their own soundtracks, shifted or not:
    the motion follows the sound no better than randomly shifted copies of it (p 0.14-0.91 measured), so QA says
    'no relation' rather than an offset, and never flags them out of sync. (Before, iper got +0.167 s 'determined'
    and its +0.3 s shift was reported: numbers the data does not support, p 0.48 and 0.52.)"""
    for posed in (iper, romp):
        estimate, _ = _offset(posed, shift_s)
        assert estimate.status == "no relation", estimate
        assert estimate.p_relation > OffsetConfig().max_p_relation and estimate.offset_s is None
        assert not estimate.out_of_sync(OffsetConfig().sync_tolerance_s)


@pytest.mark.needs_shared
def test_music_the_dancers_were_not_dancing_to_gets_no_offset(iper, romp, music_files):
    """Each real clip's poses against the other clip's soundtrack and four Wesnoth songs: 'no relation' on at least
    90 % of the pairs (the issue's bar; the relation test's significance level is 5 %)."""
    import librosa

    songs = [load_audio(iper[1]), load_audio(romp[1])]
    for path in music_files[:4]:
        samples, rate = librosa.load(path, sr=22050, mono=True, offset=20.0, duration=12.0)
        songs.append(Audio(samples.astype(np.float32), rate))
    statuses = []
    for index, posed in enumerate((iper, romp)):
        envelope = sequence_envelope(PoseSequence.load(posed[2]))
        for other, song in enumerate(songs):
            if other != index:
                statuses.append(estimate_offset(envelope, music_events(song)).status)
    assert len(statuses) == 10
    assert statuses.count("determined") <= 1, statuses


@pytest.mark.needs_shared
def test_ambiguous_curve_is_undetermined_not_wrong(romp):
    """A strict alias rule turns romp's periodic curve (motion every 0.5 s, music at 161 BPM) into 'undetermined'
    (the relation test, which would say 'no relation' first, is off here)."""
    estimate, _ = _offset(romp, 0.3, OffsetConfig(max_alias_ratio=0.6, max_p_relation=1.0))
    assert not estimate.determined and "ambiguous" in estimate.reason
    assert estimate.offset_s is None and estimate.best_lag_s is not None


@pytest.fixture(scope="session")
def cdcd(real_dance_dir: Path):
    return posed_clip(real_dance_dir, "cdcd_recons_gt")


def _alignment(posed, shift_s: float = 0.0):
    _, audio_path, poses = posed
    audio = load_audio(audio_path)
    envelope = sequence_envelope(PoseSequence.load(poses))
    music = music_events(Audio(shifted_audio(audio.samples, audio.sample_rate, shift_s), audio.sample_rate))
    return beat_alignment(kinematic_beats(envelope), music, min(envelope.duration_s, audio.duration_s))


@pytest.mark.needs_shared
def test_clips_not_dancing_to_the_beat_stay_not_aligned(iper, romp):
    """iper_akun_1 (onsets are the ball's bounces, the hand stops 0.1-0.17 s earlier) and romp_sample_video2
    (motion every 0.503 s, music every 0.372 s) with their own soundtracks: not aligned, p_shuffled >= 0.1
    (0.75 and 0.52 on these mediapipe poses, 0.72 and 0.50 on the build's landmarker poses in bench/alignment.py).
    Issue 22: the fix must not make every clip look aligned."""
    for posed in (iper, romp):
        alignment = _alignment(posed)
        assert alignment.score is not None and alignment.p_shuffled >= 0.1, alignment


@pytest.mark.needs_shared
def test_on_beat_dance_to_its_own_music_gets_no_wrong_offset_and_no_false_flag(cdcd):
    """cdcd_recons_gt (an AIST++ dancer on the beat of the clip's own music, 4.95 s at 120 BPM), its sound played
    0, +0.3 or -0.3 s late: QA never gives an offset that does not allow the true shift (within a frame), and never
    flags the clip in sync. (Before issue 22's changes it read +0.167 s "determined" at shift 0.) What it does not
    do, on this clip, is find the shift: see the next test for why."""
    for shift in (0.0, 0.3, -0.3):
        estimate, fps = _offset(cdcd, shift)
        allowed = estimate.aliases(OffsetConfig().max_offset_s)
        assert not allowed or any(abs(value - shift) <= 1 / fps + 1e-9 for value in allowed), (shift, estimate)
        if shift == 0.0:
            assert not estimate.out_of_sync(OffsetConfig().sync_tolerance_s, OffsetConfig().max_offset_s)


@pytest.mark.needs_shared
def test_what_the_shuffled_baseline_can_show_on_a_short_clip_of_steady_music(cdcd):
    """The beat alignment's shuffled test on cdcd's music (9 beats in 4.87 s): kinematic beats exactly on librosa's
    beats reach p_shuffled < 0.1 (the test can show alignment here), but a dancer on a steady grid at the music's
    tempo, in phase with its first beat, does not (p 0.30 over the soundtrack's 4.92 s; 0.21 over the 4.87 s the poses
    cover, bench/alignment.py): shifting a steady grid by whole beats keeps its hits, so this
    clip is too short to show alignment unless the detector's beats match the tracker's own to a few frames. Issue
    22's cdcd item (p_shuffled < 0.1 from the dancer's poses) is beyond any kinematic beat detector on this clip;
    the dancer's own poses give p 0.64 here, 0.58 on the landmarker's poses (bench/alignment.py)."""
    _, audio_path, _ = cdcd
    audio = load_audio(audio_path)
    music = music_events(audio)
    exact = beat_alignment(music.beats, music, audio.duration_s)
    assert exact.score == 1.0 and exact.p_shuffled < 0.1, exact
    period = 60.0 / music.tempo_bpm
    grid = music.beats[0] % period + period * np.arange(int(audio.duration_s / period) + 1)  # as bench/alignment.py
    steady = beat_alignment(grid[grid < audio.duration_s], music, audio.duration_s)
    assert steady.score > steady.shuffled_baseline and steady.p_shuffled > 0.1, steady


# --------------------------------------------------------------------------- duplicates


@pytest.mark.needs_shared
def test_reencoded_piece_of_a_clip_is_a_duplicate(real_dance_dir: Path, tmp_path: Path):
    piece = tmp_path / "piece.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", "1", "-t", "4", "-i", str(real_dance_dir / "iper_akun_1.mp4"),
                    "-vf", "scale=640:-2", "-crf", "30", "-an", str(piece)], check=True)
    hashes = {"piece": video_hashes(piece), "iper": video_hashes(real_dance_dir / "iper_akun_1.mp4"),
              "other": video_hashes(real_dance_dir / "mmhuman3d_single_person.mp4")}
    assert matching_share(hashes["piece"], hashes["iper"], 6) == 1.0
    assert matching_share(hashes["piece"], hashes["other"], 6) == 0.0
    pairs = find_duplicates(hashes, {"piece": "c1", "iper": "c2", "other": "c3"})
    assert [(p.clip_a, p.clip_b, p.same_compilation) for p in pairs] == [("iper", "piece", False)]


# --------------------------------------------------------------------------- a build directory


@pytest.mark.needs_shared
def test_run_quality_one_row_per_clip_and_bad_clips_do_not_stop_others(iper, romp, tmp_path: Path):
    video, audio, poses = iper
    samples, rate = soundfile.read(audio, dtype="float32")
    late = shifted_audio(samples, rate, 0.3)
    stopping, rests = stopping_dancer(tmp_path)
    clicks_late = click_track((rests + 0.4)[rests + 0.4 < 9.9], 10.0, rate)
    clips = [
        dict(clip_id="good", compilation_id="c1", song_id="s1", video=video, audio=audio, poses=poses,
             start_s=0.0, end_s=7.3),
        dict(clip_id="late", compilation_id="c2", song_id="s1", video=video, audio=(late, rate), poses=poses,
             start_s=10.0, end_s=17.3),
        dict(clip_id="no_audio", compilation_id="c3", song_id="s2", video=video, audio=None, poses=poses,
             start_s=0.0, end_s=7.3),
        dict(clip_id="long_span", compilation_id="c4", song_id="s3", video=video, audio=audio, poses=poses,
             start_s=0.0, end_s=9.0, duration_s=7.3),
        dict(clip_id="failed", compilation_id="c5", song_id="s4", video=None, audio=None, poses=None,
             start_s=0.0, end_s=5.0, status="failed", error="download failed"),
        # Poses that follow clicks 0.4 s before them: the one offset the data supports, and beyond the tolerance.
        dict(clip_id="clicks_late", compilation_id="c6", song_id="s5", video=romp[0], audio=(clicks_late, rate),
             poses=stopping, start_s=0.0, end_s=10.0),
    ]
    build = fake_build(tmp_path / "build", clips)
    result = run_quality(build.root)
    table = pd.read_csv(build.root / "qa.csv", dtype={"clip_id": str}).set_index("clip_id")
    assert list(table.index) == ["good", "late", "no_audio", "long_span", "failed", "clicks_late"]
    assert table.loc["good", "qa_status"] == "ok" and "out of sync" not in str(table.loc["good", "flags"])
    # A dribble and its sound 0.3 s late: the motion does not follow the sound measurably, so no offset, no flag.
    assert table.loc["late", "qa_status"] == "ok" and table.loc["late", "offset_status"] == "no relation"
    assert "out of sync" not in str(table.loc["late", "flags"]) and table.loc["late", "offset_p_relation"] > 0.05
    assert "likely out of sync: audio late by" in table.loc["clicks_late", "flags"]
    assert table.loc["clicks_late", "offset_status"] == "determined"
    assert abs(table.loc["clicks_late", "offset_s"] - 0.4) <= 1 / 30 + 1e-6  # within a frame
    assert table.loc["no_audio", "qa_status"] == "failed" and "no_audio.wav" in table.loc["no_audio", "error"]
    assert "manifest span 9.00 s" in table.loc["long_span", "flags"]
    assert table.loc["failed", "qa_status"] == "skipped" and "download failed" in table.loc["failed", "error"]
    # Same video in four compilations: flagged as duplicates across compilations.
    assert "another compilation" in table.loc["good", "flags"]
    assert set(table.loc["good", "duplicate_of"].split()) == {"late", "long_span"}
    assert table.loc["good", "person_coverage"] > 0.95 and table.loc["good", "main_track_longest_s"] > 7.0
    assert table.loc["good", "kinematic_beats"] > 10 and table.loc["good", "music_beats"] > 10
    assert 0 <= table.loc["good", "alignment_score"] <= 1 and 0 <= table.loc["good", "cross_baseline"] <= 1
    assert result.clips["clicks_late"].offset.determined and not result.clips["good"].offset.determined

    output = CliRunner().invoke(qa_command, [str(build.root)])
    assert output.exit_code == 1, output.output  # flagged clips and a clip that could not be measured
    assert "flagged late" in output.output and "failed no_audio" in output.output
    assert CliRunner().invoke(qa_command, [str(tmp_path / "nowhere")]).exit_code == 2


@pytest.mark.needs_shared
def test_rerun_measures_only_changed_clips(iper, tmp_path: Path):
    """Every build ends with QA: a re-run reuses each clip's stored measurements unless its files changed."""
    video, audio, poses = iper
    clips = [dict(clip_id=name, compilation_id=f"c{index}", song_id="s0", video=video, audio=audio, poses=poses,
                  start_s=0.0, end_s=7.3) for index, name in enumerate(["first", "second"])]
    build = fake_build(tmp_path / "build", clips)
    first = run_quality(build.root, progress=False)
    cache = {p.stem: p.stat().st_mtime_ns for p in (build.root / CLIP_CACHE).glob("*.pkl")}
    assert set(cache) == {"first", "second"}

    again = run_quality(build.root, progress=False)
    assert {p.stem: p.stat().st_mtime_ns for p in (build.root / CLIP_CACHE).glob("*.pkl")} == cache
    pd.testing.assert_frame_equal(again.table.drop(columns="seconds"), first.table.drop(columns="seconds"))

    cut = build.read_record(CutOutput, "second")
    changed = build.absolute(cut.output.audio)
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 1_000_000))
    run_quality(build.root, progress=False)
    now = {p.stem: p.stat().st_mtime_ns for p in (build.root / CLIP_CACHE).glob("*.pkl")}
    assert now["first"] == cache["first"] and now["second"] != cache["second"]
