"""Dataset QA speed: seconds per clip of ``run_quality`` (every per-clip check + duplicates).

    .venv/bin/python bench/qa.py [--build DIR] [--repeat 3] [--json OUT]

With ``--build`` it times QA over that build directory (e.g. one `tiktok-dm demo` made).
Without, it makes a build directory from the clips of ../shared/testdata/real_dance that have
their real soundtrack (iper_akun_1 1920x1080 7.3 s, romp_sample_video2 1920x1080 10 s), each
used ``--copies`` times under other compilation ids; their poses are computed once with
mediapipe first and are not part of the timing (that is the pose stage's cost, bench/pose.py).

Reported: the first run (includes librosa/numba warm-up in this process), then the best of the
timed runs as wall seconds per measured clip and per second of clip. The per-clip time of each
clip is in the ``seconds`` column of qa.csv; most of it is decoding every frame for the
perceptual hashes (1080p clips here).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def _real_build(folder: Path, copies: int) -> Path:
    from quality_fixtures import REAL_SOUNDTRACK_CLIPS, fake_build, posed_clip

    from tiktok_dm.media import probe

    real_dance = ROOT.parent / "shared" / "testdata" / "real_dance"
    if not real_dance.is_dir():
        raise SystemExit(f"{real_dance} is absent: pass --build DIR")
    clips, start = [], 0.0
    for name in REAL_SOUNDTRACK_CLIPS:
        video, audio, poses = posed_clip(real_dance, name)
        duration = probe(video).duration_s
        for copy in range(copies):
            clips.append(dict(clip_id=f"{name}-{copy}", compilation_id=f"c{copy}", song_id=name, split="train",
                              video=video, audio=audio, poses=poses, start_s=start, end_s=start + duration))
    return fake_build(folder / "build", clips).root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", type=Path, help="A build directory (default: one made from real clips).")
    parser.add_argument("--copies", type=int, default=3, help="Copies of each real clip in the made build.")
    parser.add_argument("--repeat", type=int, default=3, help="Timed runs after the first.")
    parser.add_argument("--json", type=Path, help="Write the figures here too.")
    args = parser.parse_args()

    from tiktok_dm.quality.checks import CLIP_CACHE, run_quality

    def measure_all(build: Path):
        shutil.rmtree(build / CLIP_CACHE, ignore_errors=True)  # time the measurements, not the per-clip cache
        return run_quality(build, progress=False)

    with tempfile.TemporaryDirectory(prefix="bench-qa-") as scratch:
        build = args.build or _real_build(Path(scratch), args.copies)
        started = time.perf_counter()
        first = measure_all(build)
        first_s = time.perf_counter() - started
        measured = int((first.table["qa_status"] == "ok").sum())
        if measured == 0:
            raise SystemExit(f"no clip of {build} could be measured: {first.table[['clip_id', 'error']]}")
        clip_seconds = float(first.table["duration_s"].fillna(0).sum())
        runs = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            measure_all(build)
            runs.append(time.perf_counter() - started)
        started = time.perf_counter()
        run_quality(build, progress=False)  # every clip from the cache, as a re-run of the build does
        cached_s = time.perf_counter() - started
    best = min(runs) if runs else first_s
    figures = {
        "clips": measured, "clip_seconds": round(clip_seconds, 2),
        "first_run_s": round(first_s, 2), "runs_s": [round(r, 2) for r in runs],
        "seconds_per_clip": round(best / measured, 3),
        "seconds_per_clip_second": round(best / clip_seconds, 4) if clip_seconds else None,
        "per_clip_median_s": round(float(first.table["seconds"].median()), 3),
        "cached_rerun_s": round(cached_s, 2),
    }
    print(f"QA of {measured} clip(s) ({clip_seconds:.1f} s of video): first run {first_s:.2f} s (with warm-up), "
          f"then {', '.join(f'{r:.2f}' for r in runs)} s -> {figures['seconds_per_clip']:.3f} s per clip, "
          f"{figures['seconds_per_clip_second']} s per second of clip; a re-run with every clip cached "
          f"{cached_s:.2f} s")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
