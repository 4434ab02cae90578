"""The same recording across the compilations of one real build: `tiktok-dm build` over three compilations that
show the same real clips again (another layout, caption, brightness, start point), scored against the truth.

Issue 17 asks for precision and recall over the pairs of a multi-compilation build. The clips are the held-out
footage of bench/duplicates.py long enough for a clip (cdcd_recons_gt, mimic_raw_3, mmpose_body3d_demo,
phalp_vid: the matcher's settings were chosen on other videos). Two clips are the same recording when they
show at least 1.5 s (``RecordingConfig.min_overlap_s``) of the same moments of one source video; the build's
recordings.csv is what the matcher found. A clip's sound is its source moment's excerpt of one Wesnoth song per
source video (a re-upload keeps its sound).

    .venv/bin/python bench/recordings_build.py [--work DIR]

About 3 minutes on 2 cores (compose, a local build with poses).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tiktok_dm.testing.edited_compilation import (ClipPart, Shot, compose_edited_compilation,  # noqa: E402
                                                  read_excerpt)
from tiktok_dm.testing.loopback import serve_directory  # noqa: E402

REAL_DANCE = ROOT.parent / "shared" / "testdata" / "real_dance"
MUSIC = Path("/usr/share/games/wesnoth/1.16/data/core/music")
SAMPLE_RATE = 44100
MIN_OVERLAP_S = 1.5


@dataclasses.dataclass(frozen=True)
class Planned:
    clip_id: str
    video: str
    start_s: float
    seconds: float
    layout: str
    caption: str | None
    brightness: float


PLAN = {  # compilation -> its clips, in order
    "100000": [Planned("a1", "cdcd_recons_gt.mp4", 0.0, 4.5, "pad", "@moves.by.k", 0.0),
               Planned("a2", "mimic_raw_3.mp4", 0.0, 5.0, "blur", None, 0.0),
               Planned("a3", "mmpose_body3d_demo.mp4", 0.0, 5.0, "fill", "@the_crew", 0.03),
               Planned("a4", "phalp_vid.mp4", 0.0, 5.0, "pad", None, 0.0)],
    "100001": [Planned("b1", "mimic_raw_3.mp4", 1.0, 5.0, "fill", "@j.dance", -0.04),
               Planned("b2", "phalp_vid.mp4", 0.5, 5.0, "blur", None, 0.05),
               Planned("b3", "cdcd_recons_gt.mp4", 0.4, 4.4, "fill", None, 0.0),
               Planned("b4", "mimic_raw_3.mp4", 5.2, 4.8, "pad", None, 0.0)],
    "100002": [Planned("c1", "mmpose_body3d_demo.mp4", 2.0, 5.5, "blur", "@lil.moves", 0.0),
               Planned("c2", "phalp_vid.mp4", 1.0, 4.8, "fill", "@tiktok_star", -0.03),
               Planned("c3", "mimic_raw_3.mp4", 5.0, 5.0, "blur", None, 0.04),
               Planned("c4", "cdcd_recons_gt.mp4", 0.0, 2.5, "pad", None, 0.0)],
}


def truth_pairs() -> set[tuple[str, str]]:
    clips = [clip for plan in PLAN.values() for clip in plan]
    pairs = set()
    for a, b in itertools.combinations(clips, 2):
        overlap = min(a.start_s + a.seconds, b.start_s + b.seconds) - max(a.start_s, b.start_s)
        if a.video == b.video and overlap >= MIN_OVERLAP_S:
            pairs.add(tuple(sorted((a.clip_id, b.clip_id))))
    return pairs


def make(work: Path) -> Path:
    videos = sorted({clip.video for plan in PLAN.values() for clip in plan})
    loud = []
    for song in sorted(MUSIC.glob("*.ogg")):
        try:
            loud.append((song, _playing(song)))
        except ValueError:
            continue
        if len(loud) == len(videos):
            break
    song_of = {video: song for video, (song, _) in zip(videos, loud)}
    offset_of = {video: offset for video, (_, offset) in zip(videos, loud)}
    served = work / "served"
    served.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, plan in PLAN.items():
        parts = [ClipPart((Shot(REAL_DANCE / clip.video, clip.start_s, clip.seconds),),
                          read_excerpt(song_of[clip.video], offset_of[clip.video] + clip.start_s, clip.seconds + 0.1,
                                       SAMPLE_RATE),
                          SAMPLE_RATE, layout=clip.layout, caption=clip.caption, brightness=clip.brightness)
                 for clip in plan]
        compilation = compose_edited_compilation(parts, served / f"{name}.mp4", 1280, 720, preset="veryfast",
                                                 channel_watermark="@BestOfTikTok")
        for clip, (start, end) in zip(plan, compilation.clips):
            rows.append({"compilation_id": name, "url": f"BASE/{name}.mp4", "clip_id": clip.clip_id,
                         "start_s": f"{start:.6f}", "end_s": f"{end:.6f}", "song_id": Path(song_of[clip.video]).stem,
                         "num_dancers": 1})
    manifest = work / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


def _playing(song: Path, seconds: float = 12.0) -> float:
    """The first offset (every 5 s from 10 s) where the song plays loudly for ``seconds`` (Wesnoth tracks have
    quiet intros; a silent clip fails the cut stage)."""
    import numpy as np

    for offset in np.arange(10.0, 120.0, 5.0):
        excerpt = read_excerpt(song, float(offset), seconds, SAMPLE_RATE)
        if len(excerpt) and min(np.sqrt(np.mean(part ** 2)) for part in np.array_split(excerpt, 6)) > 10 ** (-35 / 20):
            return float(offset)
    raise ValueError(f"{song.name}: no loud {seconds:g} s in its first two minutes")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "tiktok-dm-bench-recordings")
    args = parser.parse_args()
    manifest = make(args.work)
    with serve_directory(args.work / "served") as base:
        local = args.work / "manifest_local.csv"
        local.write_text(manifest.read_text().replace("BASE/", f"{base}/"))
        out = args.work / "build"
        subprocess.run([sys.executable, "-m", "tiktok_dm.cli", "build", str(local), "--out", str(out), "--config",
                        "debug", "--executor", "local", "--no-progress"], check=False)
    found = pd.read_csv(out / "recordings.csv", dtype=str)
    predicted = {tuple(sorted(pair)) for pair in zip(found["clip_a"], found["clip_b"])}
    truth = truth_pairs()
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 1.0
    recall = tp / len(truth) if truth else 1.0
    clips = sum(len(plan) for plan in PLAN.values())
    print(f"{len(PLAN)} compilations, {clips} clips, {clips * (clips - 1) // 2} pairs, {len(truth)} the same "
          f"recording (>= {MIN_OVERLAP_S} s of the same moments)")
    print(f"recordings.csv: {len(predicted)} pair(s); precision {precision:.3f} recall {recall:.3f} (tp {tp})")
    print(f"  missed: {sorted(truth - predicted)}")
    print(f"  wrong:  {sorted(predicted - truth)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
