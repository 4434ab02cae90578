"""The same recording in two clips: the pose-based matcher (tiktok_dm.quality.recordings) against the whole-frame
perceptual hash it replaces, on real clips shown the ways compilations show them.

Each clip of ../shared/testdata/real_dance is rendered six ways, re-encoded (crf 28, 30 fps): as it is (640
wide), letterboxed in a 720x1280 portrait frame, over a blurred copy of itself in a portrait frame, zoomed (a
crop of 80 %, half a second later), mirrored, and under a caption band and a logo box (half a second later).
Pairs of renderings of one clip are the same recording; pairs of different clips are not. The clips are split
in two: the settings of RecordingConfig were chosen on the CALIBRATION clips only; the HELD_OUT clips (other
footage, among them three AIST++ dancers filmed in one studio) report how it holds. Both are printed.

    .venv/bin/python bench/duplicates.py [--work DIR]

The first run renders the 90 videos and poses them with mediapipe (~15 min on 2 cores), once.
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tiktok_dm.pose import estimate_video, get_backend  # noqa: E402
from tiktok_dm.pose.sequence import PoseSequence  # noqa: E402
from tiktok_dm.quality.config import DuplicateConfig, RecordingConfig  # noqa: E402
from tiktok_dm.quality.duplicates import matching_share, video_hashes  # noqa: E402
from tiktok_dm.quality.recordings import motion_signatures, same_recording_of_people  # noqa: E402

REAL_DANCE = ROOT.parent / "shared" / "testdata" / "real_dance"
CALIBRATION = ("iper_akun_1", "romp_sample_video2", "mimic_raw_0", "unianimate_source_video",
               "musepose_ubc_91BjuE6irxS", "mmhuman3d_single_person", "alphapose_sddownload_video1", "d2m_tiktok_high2")
HELD_OUT = ("d2m_D2M_high1", "d2m_D2M_low1", "cdcd_recons_gt", "mimic_raw_3", "d2m_tiktok_low2", "mmpose_body3d_demo",
            "phalp_vid")
STUDIO = ("d2m_D2M_high1", "d2m_D2M_low1", "cdcd_recons_gt")  # three dancers, one AIST++ studio
LAYOUTS = {  # name -> (ffmpeg filter, seconds trimmed from the start)
    "orig": ("scale=640:-2", 0.0),
    "portrait": ("scale=720:-2,pad=720:1280:(ow-iw)/2:(oh-ih)/2:black", 0.0),
    "blurfill": ("split[a][b];[a]scale=720:1280:force_original_aspect_ratio=increase,crop=720:1280,boxblur=20[bg];"
                 "[b]scale=720:-2[fg];[bg][fg]overlay=(W-w)/2:(H-h)/2", 0.0),
    "zoom": ("crop=iw*0.8:ih*0.8:iw*0.1:ih*0.05,scale=640:-2", 0.5),
    "mirror": ("hflip,scale=640:-2", 0.0),
    "text": ("scale=640:-2,drawbox=x=0:y=ih-60:w=iw:h=60:color=black@0.6:t=fill,"
             "drawbox=x=20:y=20:w=120:h=40:color=red@0.8:t=fill", 0.5),
}


def render(work: Path) -> list[Path]:
    videos = []
    for name in CALIBRATION + HELD_OUT:
        for layout, (vf, trim) in LAYOUTS.items():
            target = work / f"{name}__{layout}.mp4"
            if not target.exists():
                subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-ss", f"{trim}",
                                "-i", str(REAL_DANCE / f"{name}.mp4"), "-vf", vf, "-an", "-c:v", "libx264",
                                "-preset", "veryfast", "-crf", "28", "-r", "30", str(target)], check=True)
            videos.append(target)
    return videos


def pose(videos: list[Path]) -> dict[str, PoseSequence]:
    sequences = {}
    for video in videos:
        target = video.with_suffix(".npz")
        if not target.exists():
            with get_backend("mediapipe") as backend:
                estimate_video(video, backend, max_fps=15).save(target)
        sequences[video.stem] = PoseSequence.load(target)
    return sequences


def score(pairs: list[tuple[bool, bool]]) -> str:
    """(truth, predicted) pairs -> precision, recall, F1."""
    tp = sum(t and p for t, p in pairs)
    fp = sum(p and not t for t, p in pairs)
    positives = sum(t for t, _ in pairs)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / positives if positives else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return f"precision {precision:.3f} recall {recall:.3f} F1 {f1:.3f} (tp {tp}, fp {fp}, {positives} true pairs)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/tiktok-dm-bench-duplicates"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    videos = render(args.work)
    sequences = pose(videos)
    config, frames = RecordingConfig(), DuplicateConfig()
    started = time.perf_counter()
    signatures = {name: motion_signatures(sequence, config) for name, sequence in sequences.items()}
    hashes = {video.stem: video_hashes(video, frames) for video in videos}
    compared, seconds = 0, 0.0
    for label, clips in (("CALIBRATION", CALIBRATION), ("HELD-OUT", HELD_OUT)):
        names = sorted(n for n in signatures if n.split("__")[0] in clips)
        ours, baseline, studio = [], [], []
        for a, b in itertools.combinations(names, 2):
            truth = a.split("__")[0] == b.split("__")[0]
            pair_started = time.perf_counter()
            match = same_recording_of_people(signatures[a], signatures[b], config)[0] >= config.min_matching_share
            seconds += time.perf_counter() - pair_started
            compared += 1
            ours.append((truth, match))
            baseline.append((truth, matching_share(hashes[a], hashes[b], frames.max_hamming)
                             >= frames.min_matching_share))
            if not truth and a.split("__")[0] in STUDIO and b.split("__")[0] in STUDIO:
                studio.append(match)
        print(f"{label} ({len(clips)} clips x {len(LAYOUTS)} layouts, {len(ours)} pairs)")
        print(f"  pose-based (RecordingConfig):        {score(ours)}")
        print(f"  whole-frame hash (DuplicateConfig):  {score(baseline)}")
        if studio:
            print(f"  pairs of the three studio dancers matched: {sum(studio)} of {len(studio)}")
    print(f"pose-based matching: {1000 * seconds / compared:.1f} ms per pair on this machine "
          f"(signatures and hashes: {time.perf_counter() - started - seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
