"""A compilation given without spans: build proposes its clips with the boundaries stage."""

from __future__ import annotations

import pandas as pd
import pytest

from compilations import PlannedClip, make_compilation
from tiktok_dm.config import BuildConfig
from tiktok_dm.pipeline.build import build
from tiktok_dm.testing.loopback import serve_directory

pytestmark = [pytest.mark.slow, pytest.mark.needs_shared]
PLAN = [PlannedClip("a", "iper_akun_1.mp4", 5.0, 2, 30.0, 1),
        PlannedClip("b", "unianimate_source_video.mp4", 5.0, 3, 25.0, 1),
        PlannedClip("c", "romp_sample_video2.mp4", 5.0, 0, 20.0, 1)]


def test_unsegmented_compilation_gets_proposed_clips(tmp_path, real_dance_dir, music_files):
    media = tmp_path / "media"
    media.mkdir()
    spans = make_compilation(media, "000009", PLAN, real_dance_dir, music_files)
    with serve_directory(media) as base:
        pd.DataFrame([{"compilation_id": "000009", "url": f"{base}/000009.mp4", "clip_id": "", "start_s": "",
                       "end_s": "", "song_id": "", "num_dancers": "", "source": "test"}]).to_csv(
            tmp_path / "manifest.csv", index=False)
        report = build(tmp_path / "manifest.csv", tmp_path / "out", BuildConfig.from_yaml("debug"), progress=False)
    clips = report.clips.sort_values("start_s").reset_index(drop=True)
    assert list(clips["clip_id"]) == ["000009-0000", "000009-0001", "000009-0002"]
    for (start, end), row in zip(spans, clips.itertuples()):
        assert abs(row.start_s - start) <= 0.5 and abs(row.end_s - end) <= 0.5
    assert set(clips["span_source"]) == {"boundaries"} and set(clips["source"]) == {"test"}
    # No song ids were given: each clip's id comes from its audio (three different songs).
    assert set(clips["status"]) == {"ok"}, clips[["clip_id", "failed_stage", "error"]]
    assert list(clips["song_id"]) == [f"fp:{clip_id}" for clip_id in clips["clip_id"]]
    assert set(clips["song_source"]) == {"fingerprint"}
    assert (tmp_path / "out" / "boundaries" / "000009.csv").exists()
    assert all((tmp_path / "out" / "results" / "pose" / f"{c}.json").exists() for c in clips["clip_id"])
