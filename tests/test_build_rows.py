"""Manifest rows the build cannot finish yet are kept, with their reason, not dropped."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from tiktok_dm.config import BuildConfig
from tiktok_dm.dataset.song_ids import SONGS_OFF
from tiktok_dm.model.clips import ClipSet
from tiktok_dm.pipeline.build import build
from tiktok_dm.songs.index import FingerprintIndex
from tiktok_dm.testing.compose import CompilationPart, compose_compilation
from tiktok_dm.testing.dancer import write_dancer_video
from tiktok_dm.testing.loopback import serve_directory
from tiktok_dm.testing.music import synth_song


def test_rows_without_song_or_with_a_missing_source_are_reported(tmp_path):
    """With automatic song ids off, a clip without song_id is skipped (tests/test_build_songs.py: on)."""
    media = tmp_path / "media"
    media.mkdir()
    dancer = write_dancer_video(media / "dancer.mp4", seconds=2.0, fps=30, width=320, height=240, bpm=120, seed=0)
    parts = [CompilationPart(dancer, 2.0, synth_song(2.0, 22050, 100 + 10 * i, 110.0 * (i + 1), seed=i))
             for i in range(3)]
    spans = compose_compilation(parts, media / "comp.mp4", width=320, height=240)
    config = BuildConfig.from_yaml("debug")
    config.songs.enabled = False
    with serve_directory(media) as base:
        rows = [{"compilation_id": "c0", "url": f"{base}/comp.mp4", "clip_id": f"k{i}", "start_s": start,
                 "end_s": end, "song_id": song, "num_dancers": 1}
                for i, ((start, end), song) in enumerate(zip(spans, ["s1", "s2", ""]))]
        rows.append({"compilation_id": "c1", "url": f"{base}/other.mp4", "clip_id": "", "start_s": "", "end_s": "",
                     "song_id": "", "num_dancers": ""})
        pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
        report = build(tmp_path / "manifest.csv", tmp_path / "out", config, progress=False)

    clips = report.clips.set_index("line")
    assert list(clips.loc[[2, 3], "status"]) == ["ok", "ok"]
    assert tuple(clips.loc[4, ["status", "failed_stage", "error_kind", "error"]]) == ("skipped", "songs", "no_song_id",
                                                                                    SONGS_OFF)
    # The row asking for automatic boundaries names a URL that does not exist: a download failure.
    assert tuple(clips.loc[5, ["status", "failed_stage", "error_kind"]]) == ("failed", "download", "unavailable")
    assert "HTTP Error 404" in clips.loc[5, "error"]
    assert sorted(report.failures["line"]) == [4, 5]
    assert sorted(pd.read_csv(tmp_path / "out" / "clips.csv")["line"]) == [2, 3, 4, 5]


def test_an_edited_row_redoes_only_the_work_that_depends_on_it(tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    dancer = write_dancer_video(media / "dancer.mp4", seconds=2.0, fps=30, width=320, height=240, bpm=120, seed=1)
    parts = [CompilationPart(dancer, 4.0, synth_song(4.0, 22050, 100 + 10 * i, 110.0 * (i + 1), seed=i))
             for i in range(2)]
    spans = compose_compilation(parts, media / "comp.mp4", width=320, height=240)
    config = BuildConfig.from_yaml("debug")
    manifest, out = tmp_path / "manifest.csv", tmp_path / "out"
    with serve_directory(media) as base:
        rows = pd.DataFrame([{"compilation_id": "c0", "url": f"{base}/comp.mp4", "clip_id": f"k{i}",
                              "start_s": start, "end_s": end, "song_id": f"s{i}", "num_dancers": 1,
                              "note": '=HYPERLINK("http://x","y")' if i == 0 else ""}
                             for i, (start, end) in enumerate(spans)])
        rows.to_csv(manifest, index=False)
        build(manifest, out, config, progress=False)
        # A formula in a note reaches clips.csv neutralised for spreadsheets, and reads back as it was.
        raw = pd.read_csv(out / "clips.csv", dtype=str, keep_default_na=False).set_index("clip_id")
        assert raw.loc["k0", "note"] == '\'=HYPERLINK("http://x","y")'
        assert ClipSet.read_csv(out / "clips.csv").by_clip_id()["k0"].spec.extra["note"] == '=HYPERLINK("http://x","y")'

        records = {p.relative_to(out): p.stat().st_mtime_ns for p in (out / "results").rglob("*.json")}
        old_segments = set(pd.read_csv(out / "segments.csv")["segment"])

        rows.loc[0, "end_s"] = spans[0][0] + 2.0  # k0 shrinks from 4 s to 2 s
        rows.loc[1, "note"] = "a note changes nothing"
        rows.loc[1, "song_id"] = "s0"  # k1 now shares k0's song: its segments are renamed, no new cut or pose
        rows.to_csv(manifest, index=False)
        report = build(manifest, out, config, progress=False)

    changed = {str(p) for p, mtime in records.items() if (out / p).stat().st_mtime_ns != mtime}
    assert changed == {"results/cut/k0.json", "results/fingerprint/k0.json", "results/pose/k0.json",
                       "results/segments/k0.json", "results/segments/k1.json"}
    assert report.clips.set_index("clip_id").loc["k0", "duration_s"] == 2.0
    segments = set(pd.read_csv(out / "segments.csv")["segment"])
    assert old_segments == {"000000_0_0_seg1", "000000_0_0_seg2", "000000_1_1_seg1", "000000_1_1_seg2"}
    assert segments == {"000000_0_0_seg1", "000000_0_1_seg1", "000000_0_1_seg2"}
    on_disk = {p.stem for p in (out / "d2m" / "audio_s2").glob("*.wav")}
    assert on_disk == segments, "segment files of the old span / old song id were left behind"


def test_rows_a_build_would_choke_on_are_refused_before_any_work(tmp_path):
    """Each would have crashed or failed after downloads: a file-name-breaking id, an int32-breaking dancer count,
    a clip shorter than one segment, song ids a fixed assignment lacks. Exit 2, every line named, nothing written."""
    from click.testing import CliRunner

    from tiktok_dm.cli import cli

    assignment = tmp_path / "assignment"
    assignment.mkdir()
    pd.DataFrame([{"clip_id": "x", "song_id": "s1"}]).to_csv(assignment / "train.csv", index=False)
    pd.DataFrame([{"clip_id": "y", "song_id": "s2"}]).to_csv(assignment / "test.csv", index=False)
    url = "http://127.0.0.1:9/never-fetched.mp4"
    rows = [("k" * 300, 0, 4, "s1", 1), ("k1", 4, 8, "s1", 99999999999), ("k2", 8, 9.5, "s2", 1),
            ("k3", 10, 14, "s3", 1), ("k4", 14, 18, "", 1), ("k5", 18, 22, "s2", 1)]
    pd.DataFrame([{"compilation_id": "c0", "url": url, "clip_id": clip_id, "start_s": start, "end_s": end,
                   "song_id": song, "num_dancers": dancers} for clip_id, start, end, song, dancers in rows]).to_csv(
        tmp_path / "manifest.csv", index=False)
    result = CliRunner().invoke(cli, ["build", str(tmp_path / "manifest.csv"), "--out", str(tmp_path / "out"),
                                      "--song-assignment", str(assignment), "--executor", "local"])
    assert result.exit_code == 2, result.output
    message = result.stderr
    assert "line 2: clip_id 'kkkk" in message and "300 bytes long" in message
    assert "line 3: num_dancers '99999999999' is more than 100" in message
    assert "line 4: clip 'k2' lasts 1.50 s, shorter than one 2-s segment" in message
    assert "line 5: song_id 's3' is not in the song assignment" in message
    assert "line 6: no song_id: with a fixed song assignment" in message
    assert "line 7" not in message and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_a_lost_cluster_ends_the_build_with_what_finished_and_how_to_resume(tmp_path, monkeypatch):
    """The cluster goes away after the downloads: exit 3, the stage it stopped in, the finished items, and a re-run
    (here on the local executor) resumes without downloading again."""
    from click.testing import CliRunner

    from tiktok_dm.cli import cli
    import tiktok_dm.pipeline.build as build_module
    from tiktok_dm.pipeline.distribute import ClusterLost, LocalExecutor

    class LosesTheClusterAfterTheDownloads(LocalExecutor):
        def map(self, stage, items):
            items = list(items)
            if stage.name != "download" and items:
                raise ClusterLost(f"the Ray cluster at 127.0.0.1:1 stopped answering during stage {stage.name}")
            yield from super().map(stage, items)

    media = tmp_path / "media"
    media.mkdir()
    dancer = write_dancer_video(media / "dancer.mp4", seconds=2.0, fps=30, width=320, height=240, bpm=120, seed=2)
    spans = compose_compilation([CompilationPart(dancer, 3.0, synth_song(3.0, 22050, 110, 220.0, seed=0))],
                                media / "comp.mp4", width=320, height=240)
    manifest, out = tmp_path / "manifest.csv", tmp_path / "out"
    with serve_directory(media) as base:
        pd.DataFrame([{"compilation_id": "c0", "url": f"{base}/comp.mp4", "clip_id": "k0", "start_s": spans[0][0],
                       "end_s": spans[0][1], "song_id": "s0", "num_dancers": 1}]).to_csv(manifest, index=False)
        with monkeypatch.context() as patch:
            patch.setattr(build_module, "get_executor", lambda config: LosesTheClusterAfterTheDownloads())
            lost = CliRunner().invoke(cli, ["build", str(manifest), "--out", str(out), "--config", "debug"])
        assert lost.exit_code == 3, lost.output
        assert "build stopped: the Ray cluster at 127.0.0.1:1 stopped answering during stage cut" in lost.stderr
        assert "download" in lost.stderr and "run the same command again" in lost.stderr
        downloaded = next((out / "results" / "download").glob("*.json")).stat().st_mtime_ns
        again = CliRunner().invoke(cli, ["build", str(manifest), "--out", str(out), "--config", "debug"])
    assert again.exit_code == 0, again.output
    assert next((out / "results" / "download").glob("*.json")).stat().st_mtime_ns == downloaded


def test_a_row_removed_from_the_manifest_leaves_no_file_behind(tmp_path):
    """Takedown: after a rebuild without a clip's row, nothing of that clip is left under the build folder."""
    media = tmp_path / "media"
    media.mkdir()
    dancer = write_dancer_video(media / "dancer.mp4", seconds=2.0, fps=30, width=320, height=240, bpm=120, seed=4)
    parts = [CompilationPart(dancer, 3.0, synth_song(3.0, 22050, 100 + 15 * i, 110.0 * (i + 1), seed=i))
             for i in range(2)]
    spans = compose_compilation(parts, media / "comp.mp4", width=320, height=240)
    config = BuildConfig.from_yaml("debug")
    manifest, out = tmp_path / "manifest.csv", tmp_path / "out"
    with serve_directory(media) as base:
        rows = pd.DataFrame([{"compilation_id": "c0", "url": f"{base}/comp.mp4", "clip_id": f"take{i}",
                              "start_s": start, "end_s": end, "song_id": "", "num_dancers": 1}
                             for i, (start, end) in enumerate(spans)])
        rows.to_csv(manifest, index=False)
        first = build(manifest, out, config, progress=False)
        assert first.ok, first.summary()
        segments_of_take1 = set(first.clip_set.by_clip_id()["take1"].segments.files())
        assert segments_of_take1 and any("take1" in p.name for p in out.rglob("*"))
        rows[rows["clip_id"] != "take1"].to_csv(manifest, index=False)
        again = build(manifest, out, config, progress=False)
    assert again.ok and again.withdrawn.clips == ("take1",)
    assert "removed the files of 1 clip(s)" in again.summary()
    left = [str(p.relative_to(out)) for p in out.rglob("*") if "take1" in p.name or
            str(p.relative_to(out)) in segments_of_take1]
    assert not left, left
    assert "take1" not in FingerprintIndex(out / "songs" / "index", config.songs.fingerprint)
    shards = list((out / "songs" / "index" / "shards").iterdir())
    assert len(shards) == 1  # compacted: the removed clip's peaks are gone from disk, not only unlisted
    assert (out / "clips" / "take0.mp4").is_file() and len(again.clips) == 1


@pytest.mark.parametrize("missing", ["ffmpeg", "mediapipe", "torchcodec"])
def test_a_missing_tool_or_pose_library_ends_the_build_before_any_work(tmp_path, missing):
    """A broken install (no ffmpeg to run, mediapipe or torchcodec not importing): exit 2 naming it, nothing
    written."""
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("compilation_id,url,clip_id,start_s,end_s,song_id,num_dancers\n"
                        "c0,http://127.0.0.1:9/v.mp4,k0,0,4,s0,1\n")
    hide = f"sys.modules[{missing!r}] = None; " if missing != "ffmpeg" else ""
    code = (f"import sys; {hide}from tiktok_dm.cli import main; "
            f"sys.argv = ['tiktok-dm', 'build', {str(manifest)!r}, '--out', {str(tmp_path / 'out')!r}, "
            "'--executor', 'local']; main()")
    env = {**os.environ, "PATH": "/nonexistent", "IMAGEIO_FFMPEG_EXE": "/nonexistent/ffmpeg"} \
        if missing == "ffmpeg" else dict(os.environ)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert missing in result.stderr and not (tmp_path / "out").exists()
