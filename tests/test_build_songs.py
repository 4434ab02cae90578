"""Song ids in the build (issue 5): clips without song_id get one from their audio, given ids are kept and
checked, a re-run fingerprints nothing again, and a clip whose audio cannot be fingerprinted is one error row.

The compilation is made of real music (Wesnoth, ``music_files``) under a synthetic dancer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile

from song_fixtures import RATE, SongSource, transform, write
from tiktok_dm.config import BuildConfig, SongIdConfig
from tiktok_dm.dataset.song_ids import resolve_clip_songs
from tiktok_dm.model.build_dir import BuildDir
from tiktok_dm.model.outputs import FingerprintOutput
from tiktok_dm.model.records import StageRecord
from tiktok_dm.pipeline.build import build
from tiktok_dm.pipeline.checks import SongLibraryUnavailable
from tiktok_dm.songs import SongsConfig
from tiktok_dm.stages import fingerprint as song_stage
from tiktok_dm.stages.base import run_item
from tiktok_dm.stages.fingerprint import FingerprintItem, FingerprintStage
from tiktok_dm.testing.compose import CompilationPart, compose_compilation
from tiktok_dm.testing.dancer import write_dancer_video
from tiktok_dm.testing.loopback import serve_directory

# clip id, song, start in the song (s), length (s), song_id in the manifest ("" = none)
PLAN = [
    ("k0", "wanderer", 30.0, 6.0, "W"),
    ("k1", "wanderer", 31.5, 6.0, ""),  # same excerpt as k0/k5, no id: borrows W
    ("k2", "knolls", 20.0, 6.0, ""),  # k2 and k3: one excerpt of a song no clip names
    ("k3", "knolls", 21.5, 6.0, ""),
    ("k4", "wanderer", 33.0, 6.0, "N"),  # really wanderer, labelled as northerners: a contradiction
    ("k5", "wanderer", 34.5, 6.0, "W"),
    ("k6", "northerners", 10.0, 6.0, "N"),
    ("k7", "vengeful", 10.0, 2.5, ""),  # too short to fingerprint (songs.fingerprint.min_duration_s 3), and no id
]


@pytest.fixture(scope="module")
def built(music_files, tmp_path_factory):
    """The compilation, its manifest, one build; yields while the compilation is still served."""
    source = SongSource(music_files)
    root = tmp_path_factory.mktemp("build_songs")
    media = root / "media"
    media.mkdir()
    dancer = write_dancer_video(media / "dancer.mp4", seconds=2.0, fps=30, width=320, height=240, bpm=120, seed=3)
    parts = [CompilationPart(dancer, length, source.excerpt(song, start, length), RATE)
             for _, song, start, length, _ in PLAN]
    spans = compose_compilation(parts, media / "comp.mp4", width=320, height=240)
    config = BuildConfig.from_yaml("debug")
    config.songs.fingerprint.workers = 1
    config.songs.fingerprint.min_duration_s = 3.0  # k7 is a whole segment long, but too short to fingerprint
    manifest, out = root / "manifest.csv", root / "out"
    with serve_directory(media) as base:
        pd.DataFrame([{"compilation_id": "c0", "url": f"{base}/comp.mp4", "clip_id": clip_id, "start_s": f"{start:.6f}",
                       "end_s": f"{end:.6f}", "song_id": song_id, "num_dancers": 1}
                      for (clip_id, _, _, _, song_id), (start, end) in zip(PLAN, spans)]).to_csv(manifest, index=False)
        report = build(manifest, out, config, progress=False)
        yield {"report": report, "manifest": manifest, "out": out, "config": config}


def test_missing_ids_come_from_the_audio_and_given_ids_are_kept(built):
    report = built["report"]
    clips = report.clips.set_index("clip_id")
    done = ["k0", "k1", "k2", "k3", "k4", "k5", "k6"]
    assert (clips.loc[done, "status"] == "ok").all(), clips[["status", "error"]]
    assert clips.loc["k1", "song_id"] == "W" and clips.loc["k1", "song_source"] == "fingerprint"
    assert clips.loc["k2", "song_id"] == clips.loc["k3", "song_id"] == "fp:k2"
    assert set(clips.loc[["k2", "k3"], "song_source"]) == {"fingerprint"}
    assert clips.loc[["k0", "k4", "k5", "k6"], "song_id"].tolist() == ["W", "N", "W", "N"]
    assert set(clips.loc[["k0", "k4", "k5", "k6"], "song_source"]) == {"manifest"}
    written = pd.read_csv(built["out"] / "clips.csv", keep_default_na=False).set_index("clip_id")
    assert written.loc["k3", "song_id"] == "fp:k2" and written.loc["k3", "song_source"] == "fingerprint"
    # The resolved ids drive the segments and the song-disjoint split.
    segments = pd.read_csv(built["out"] / "segments.csv", keep_default_na=False)
    assert set(segments.loc[segments["clip_id"] == "k1", "song_id"]) == {"W"}
    assert clips.loc["k2", "split"] == clips.loc["k3", "split"] != ""
    assert clips.loc["k0", "split"] == clips.loc["k1", "split"] == clips.loc["k5", "split"]
    split_rows = pd.concat(pd.read_csv(p, keep_default_na=False) for p in (built["out"] / "splits").rglob("*.csv"))
    assert set(split_rows.loc[split_rows["clip_id"].isin(["k2", "k3"]), "song_id"]) == {"fp:k2"}


def test_a_clip_whose_audio_contradicts_its_id_is_reported(built):
    report = built["report"]
    contradictions = report.song_contradictions.set_index("clip_id")
    # k4 (given N) is really wanderer; k1 (no id) shares audio with k0/k5 (W) and k4 (N): it links both ids.
    assert sorted(contradictions.index) == ["k1", "k4"]
    assert tuple(contradictions.loc["k4", ["given_song_id", "fingerprint_song_id", "support"]]) == ("N", "W", 2)
    assert tuple(contradictions.loc["k1", ["given_song_id", "fingerprint_song_id", "cluster_song_ids"]]) == \
        ("", "W", "N W")
    on_disk = pd.read_csv(built["out"] / "song_contradictions.csv", keep_default_na=False).set_index("clip_id")
    assert sorted(on_disk.index) == ["k1", "k4"] and on_disk.loc["k4", "fingerprint_song_id"] == "W"
    summary = report.summary()
    assert "2 clip(s) whose audio contradicts a given song id" in summary
    assert "k4: given 'N', its audio matches 2 clip(s) of 'W'" in summary
    assert "k1: no song id; its audio links it to 3 clip(s) of song ids N W; it took 'W'" in summary
    assert "song ids: 4 from the manifest, 3 found by fingerprint (1 new id(s): fp:k2)" in summary


def test_a_clip_that_cannot_be_fingerprinted_is_an_error_row_and_the_build_goes_on(built):
    clips = built["report"].clips.set_index("clip_id")
    assert tuple(clips.loc["k7", ["status", "failed_stage", "error_kind"]]) == ("failed", "songs", "no_song_id")
    assert "song_id is empty" in clips.loc["k7", "error"] and "too short to fingerprint" in clips.loc["k7", "error"]
    failures = pd.read_csv(built["out"] / "failures.csv", keep_default_na=False)
    assert failures["clip_id"].tolist() == ["k7"]
    assert not (built["out"] / "results" / "pose" / "k7.json").exists()  # no pose work for a clip without a song


def test_a_rerun_fingerprints_nothing_again_and_gives_the_same_ids(built, monkeypatch):
    out = built["out"]
    index_file = out / "songs" / "index" / "index.json"
    before = (index_file.stat().st_mtime_ns, json.loads(index_file.read_text())["items"])
    assert sorted(before[1]) == ["k0", "k1", "k2", "k3", "k4", "k5", "k6"]
    calls = []
    real = song_stage.fingerprint_file
    monkeypatch.setattr(song_stage, "fingerprint_file", lambda path, config: calls.append(path) or real(path, config))
    again = build(built["manifest"], out, built["config"], progress=False)
    assert [path.stem for path in calls] == ["k7"]  # only the clip that failed is tried again
    assert index_file.stat().st_mtime_ns == before[0]
    first = built["report"].clips.set_index("clip_id")[["song_id", "song_source", "status", "split"]]
    pd.testing.assert_frame_equal(again.clips.set_index("clip_id")[["song_id", "song_source", "status", "split"]],
                                  first)
    assert sorted(again.song_contradictions["clip_id"]) == ["k1", "k4"]


def test_undecodable_clip_audio_gives_an_error_row_not_a_crash(music_files, tmp_path):
    source = SongSource(music_files)
    build_dir = BuildDir(tmp_path)
    (tmp_path / "clip_audio").mkdir()
    for clip_id, start in (("a", 30.0), ("b", 32.0)):
        soundfile.write(tmp_path / "clip_audio" / f"{clip_id}.wav", source.excerpt("wanderer", start, 6.0), RATE)
    (tmp_path / "clip_audio" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio at all")
    stage = FingerprintStage(SongsConfig(workers=1), build_dir)
    results = {clip_id: run_item(stage, FingerprintItem(clip_id, f"clip_audio/{clip_id}.wav", "cut-1"))
               for clip_id in ("a", "b", "broken")}
    assert results["a"].ok and results["b"].ok
    assert not results["broken"].ok and "cannot decode audio of broken.wav" in results["broken"].error
    songs = resolve_clip_songs(results, {"a": None, "b": None, "broken": None}, build_dir,
                               SongIdConfig(fingerprint=SongsConfig(workers=1)), progress=False)
    assert songs.song_id == {"a": "fp:a", "b": "fp:a"}
    assert list(songs.errors) == ["broken"] and "cannot decode audio" in songs.errors["broken"]


def test_new_ids_never_take_a_given_id_and_a_library_names_the_song(music_files, tmp_path):
    source, build_dir, library = _with_library(music_files, tmp_path, "wanderer", 62)
    config = SongIdConfig(fingerprint=SongsConfig(workers=1))
    results = {}
    # x and y: 1-9 s and 50-58 s of wanderer (no shared audio, no repeated phrase); z is labelled "fp:w".
    for clip_id, song, start in (("x", "wanderer", 1.0), ("y", "wanderer", 50.0), ("z", "knolls", 30.0),
                                 ("w", "northerners", 10.0)):
        results[clip_id] = _fingerprinted(build_dir, clip_id, _wav(tmp_path, clip_id, source.excerpt(song, start, 8.0)),
                                          config.fingerprint)
    given = {"x": None, "y": None, "z": "fp:w", "w": None}
    alone = resolve_clip_songs(results, given, build_dir, config, progress=False)
    assert alone.song_id["x"] != alone.song_id["y"]  # nothing joins them without the track
    assert alone.song_id["w"] == "fp:w-2"  # 'fp:w' is a given id (of another song)
    config.library = str(library)
    joined = resolve_clip_songs(results, given, build_dir, config, progress=False)
    assert joined.song_id["x"] == joined.song_id["y"] == "lib:wanderer"
    assert joined.source == {"x": "fingerprint", "y": "fingerprint", "z": "manifest", "w": "fingerprint"}


def test_a_build_names_a_sped_up_talked_over_clip_from_its_audio_slowed_down(music_files, tmp_path):
    source, build_dir, library = _with_library(music_files, tmp_path, "the_deep_path", 70)
    samples, _, _, _ = transform("tiktok:1.3", source.excerpt("the_deep_path", 15, 10), seed=0)
    audio = write(build_dir.root / "clip_audio", "t", samples, ".m4a")
    config = SongIdConfig(fingerprint=SongsConfig(workers=1), library=str(library))
    records = {"t": _fingerprinted(build_dir, "t", audio, config.fingerprint)}
    assert resolve_clip_songs(records, {"t": None}, build_dir, config, progress=False).song_id == {"t": "fp:t"}
    named = resolve_clip_songs(records, {"t": None}, build_dir, config, progress=False, audio={"t": audio})
    assert named.song_id == {"t": "lib:the_deep_path"}


def _with_library(music_files, tmp_path, song: str, seconds: float) -> tuple[SongSource, BuildDir, Path]:
    """The test songs, a build folder, and a library folder holding the first ``seconds`` of ``song``."""
    source = SongSource(music_files)
    library = tmp_path / "tracks"
    library.mkdir()
    soundfile.write(library / f"{song}.flac", source.excerpt(song, 0, seconds), RATE)
    return source, BuildDir(tmp_path / "build"), library


def _fingerprinted(build_dir: BuildDir, clip_id: str, audio, config: SongsConfig) -> StageRecord:
    """The fingerprint stage's record of a clip (its peaks saved where the stage saves them)."""
    fingerprints = song_stage.fingerprint_file(audio, config)
    path = build_dir.root / "songs" / "fingerprints" / f"{clip_id}.npz"
    fingerprints.save(path)
    return StageRecord.success("fingerprint", clip_id, FingerprintOutput(
        build_dir.relative(path), int(fingerprints.peaks.time.size), fingerprints.duration_s))


def test_a_missing_song_library_is_refused_before_any_work(tmp_path):
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame([{"compilation_id": "c0", "url": "https://example.com/v.mp4", "clip_id": "k0", "start_s": 0,
                   "end_s": 4, "song_id": "", "num_dancers": 1}]).to_csv(manifest, index=False)
    config = BuildConfig.from_yaml("debug")
    config.songs.library = str(tmp_path / "no-such-tracks")
    with pytest.raises(SongLibraryUnavailable, match="no-such-tracks"):
        build(manifest, tmp_path / "out", config, progress=False)
    assert not (tmp_path / "out").exists()


def _wav(folder, name, samples: np.ndarray):
    path = folder / f"{name}.wav"
    soundfile.write(path, samples, RATE)
    return path
