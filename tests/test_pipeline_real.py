"""End to end on real footage: compilations from ../shared real dance clips with real music, served on
loopback HTTP, built through Ray, plus one compilation for each failure a user will meet."""

from __future__ import annotations

import json
import math
import shutil
import socket
import stat

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from compilations import (REAL_COMPILATIONS, failing_rows, make_compilation, make_failing_media, manifest_rows,
                          write_manifest)
from tiktok_dm.config import BuildConfig
from tiktok_dm.model.names import format_segment_name
from tiktok_dm.pipeline.build import build
from tiktok_dm.songs.config import SongsConfig
from tiktok_dm.testing.loopback import serve_directory

pytestmark = [pytest.mark.slow, pytest.mark.needs_shared]
FPS = 30


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.fixture(scope="module")
def media(tmp_path_factory, real_dance_dir, music_files):
    folder = tmp_path_factory.mktemp("media")
    spans = {name: make_compilation(folder, name, plan, real_dance_dir, music_files)
             for name, plan in REAL_COMPILATIONS.items()}
    make_failing_media(folder, real_dance_dir)
    return folder, spans


@pytest.fixture(scope="module")
def built(media, tmp_path_factory):
    folder, spans = media
    out = tmp_path_factory.mktemp("build")
    with serve_directory(folder) as base:
        rows = [row for name, plan in REAL_COMPILATIONS.items() for row in manifest_rows(base, name, plan, spans[name])]
        rows += failing_rows(base, _closed_port())
        manifest = write_manifest(out / "manifest.csv", rows)
        config = BuildConfig.from_yaml("debug")
        config.executor.kind = "ray"
        config.executor.num_cpus = 2
        config.download.retries = 0
        report = build(manifest, out / "build", config, progress=False)
    return report


def _ok_plan():
    return [(name, clip) for name, plan in REAL_COMPILATIONS.items() for clip in plan if clip.video]


def test_every_failure_is_recorded_with_a_clear_error(built):
    failures = built.failures.set_index("clip_id")
    expected = {
        "3": ("pose", "no_person", "no person detected"),
        "6": ("download", "unavailable", "HTTP Error 404"),
        "7": ("download", "network", "Connection refused"),
        "8": ("download", "unreadable", "cannot read"),
        "9": ("cut", "no_audio", "audio is silent"),
        "10": ("cut", "no_audio", "has no audio track"),
    }
    assert set(failures.index) == set(expected)
    for clip_id, (stage, kind, text) in expected.items():
        assert tuple(failures.loc[clip_id, ["stage", "status", "error_kind"]]) == (stage, "failed", kind), \
            failures.loc[clip_id].to_dict()
        assert text in failures.loc[clip_id, "error"], failures.loc[clip_id, "error"]
    assert not built.ok
    on_disk = pd.read_csv(built.build_dir / "failures.csv", dtype=str)
    assert sorted(on_disk["clip_id"]) == sorted(expected)


def test_clips_are_cut_to_the_frame_with_their_audio(built):
    clips = built.clips.set_index("clip_id")
    for _, planned in _ok_plan():
        row = clips.loc[planned.clip_id]
        assert row["status"] == "ok"
        assert abs(row["duration_s"] - planned.seconds) <= 1 / FPS
        audio, rate = sf.read(built.build_dir / "clip_audio" / f"{planned.clip_id}.wav")
        assert rate == 22050 and audio.ndim == 1
        assert abs(len(audio) - planned.seconds * rate) <= rate / FPS
        cut = pd.read_json(built.build_dir / "results" / "cut" / f"{planned.clip_id}.json", typ="series")
        assert abs(cut["output"]["frames"] - planned.seconds * FPS) <= 1


def test_real_people_are_detected(built):
    from tiktok_dm.pose import PoseSequence

    for _, planned in _ok_plan():
        sequence = PoseSequence.load(built.build_dir / "poses" / f"{planned.clip_id}.npz")
        frames, persons, joints, values = sequence.keypoints.shape
        assert (joints, values) == (17, 3) and persons >= 1
        assert sequence.track_ids.shape == (frames, persons)
        assert sequence.person_coverage(4, 0.3) >= 0.8, planned
        visible = sequence.keypoints[..., 2] > 0.5
        xs, ys = sequence.keypoints[..., 0][visible], sequence.keypoints[..., 1][visible]
        # Compilations are 640x360 with the clip letterboxed inside; joints may sit just off-frame.
        assert np.mean((xs > -20) & (xs < 660) & (ys > -20) & (ys < 380)) > 0.95


def test_segments_follow_the_official_naming_and_shapes(built):
    segments = pd.read_csv(built.build_dir / "segments.csv", dtype={"clip_id": str, "song_id": str})
    expected = {format_segment_name(int(name), clip.song, int(clip.clip_id), k)
                for name, clip in _ok_plan() for k in range(1, math.floor(clip.seconds / 2) + 1)}
    assert set(segments["segment"]) == expected
    for name in expected:
        audio, rate = sf.read(built.build_dir / "d2m" / "audio_s2" / f"{name}.wav")
        assert rate == 22050 and audio.shape == (44100,)
        motion = np.load(built.build_dir / "d2m" / "motion_s2" / f"{name}.npy")
        assert motion.shape == (60, 75) and motion.dtype == np.float32
    assert segments["motion_visible"].mean() > 0.5


def test_split_is_song_disjoint(built):
    done = built.clips[built.clips["status"] == "ok"]
    songs_by_split = done.groupby("split")["song_id"].apply(set)
    assert set(songs_by_split.index) == {"train", "test"}
    assert not songs_by_split["train"] & songs_by_split["test"]
    # Both clips of song 0 land on the same side.
    assert done[done["song_id"] == "0"]["split"].nunique() == 1


def test_load_dataset_round_trip_with_decoded_audio(built, tmp_path, monkeypatch):
    from datasets import load_dataset

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    clips = load_dataset(str(built.dataset_dir), "clips", cache_dir=str(tmp_path))
    segments = load_dataset(str(built.dataset_dir), "segments", cache_dir=str(tmp_path))
    assert sum(len(clips[s]) for s in clips) == len(_ok_plan())
    row = clips["train"][0]
    decoded = row["audio"].get_all_samples()
    assert decoded.sample_rate == 22050
    assert abs(decoded.data.shape[-1] - row["duration_s"] * 22050) <= 22050 / FPS
    keypoints = np.asarray(row["keypoints"])
    assert keypoints.ndim == 4 and keypoints.shape[2:] == (17, 3)
    assert np.isfinite(keypoints[..., 0]).mean() > 0.3
    provenance = json.loads(row["tool_versions"])
    assert provenance["ffmpeg"].startswith("ffmpeg version") and provenance["yt_dlp"][:4].isdigit()
    assert provenance["pose_backend"].startswith("mediapipe ") and row["source_sha256"] and row["url"]
    assert provenance["pose_checkpoint"].endswith("pose_landmarker_full.task")  # the default landmarker's bundle
    assert provenance["fingerprint"]["sample_rate"] == SongsConfig().sample_rate
    segment = segments["test"][0]
    assert np.asarray(segment["motion"]).shape == (60, 75)
    assert segment["audio"].get_all_samples().data.shape[-1] == 44100
    card = (built.dataset_dir / "README.md").read_text()
    assert "configs:" in card and "$num_clips" not in card and f"**{len(_ok_plan())} clips**" in card


def test_rerun_redoes_nothing(built, tmp_path):
    """A second build over the same directory finds every stage done (records are not rewritten)."""
    records = sorted((built.build_dir / "results").rglob("*.json"))
    ok_records = {p: p.stat().st_mtime_ns for p in records if '"status": "ok"' in p.read_text()}
    manifest = built.build_dir.parent / "manifest.csv"
    config = BuildConfig.from_yaml("debug")
    # Failed downloads are retried on a re-run; the loopback server is gone, so they fail again.
    report = build(manifest, built.build_dir, config, progress=False)
    assert sorted(report.failures["clip_id"]) == sorted(built.failures["clip_id"])
    assert {p: p.stat().st_mtime_ns for p in ok_records} == ok_records
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_every_file_of_the_build_gets_the_umasks_mode(built):
    """Files are written through temporaries that mkstemp makes 0600; each must end as the umask says."""
    from tiktok_dm.model.atomic import file_mode

    files = [path for path in built.build_dir.rglob("*") if path.is_file()]
    wrong = {str(path.relative_to(built.build_dir)): oct(stat.S_IMODE(path.stat().st_mode)) for path in files
             if stat.S_IMODE(path.stat().st_mode) != file_mode()}
    assert len(files) > 50 and not wrong, wrong
