"""The cut stage's cost per setting: CPU seconds per second of clip and the clips' size, on bench/segment.py's
compilations (720p H.264 with B-frames, as YouTube serves them).

    .venv/bin/python bench/cut.py [--compilations DIR] [--count 4] [--presets ultrafast,superfast,veryfast]

Each variant cuts the same true clip spans, one clip at a time (the build runs one cut per core), and reports
the CPU seconds of the stage (its ffmpeg processes, its probes) per second of clip, how many clips had their picture
copied (``cut.copy_whole_gops``), the wall seconds and the MB per minute of clip.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd

from tiktok_dm.config import CutConfig
from tiktok_dm.media import probe
from tiktok_dm.model.build_dir import BuildDir
from tiktok_dm.model.manifest import ClipSpec
from tiktok_dm.stages.cut import CutItem, CutStage


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu_s() -> float:
    """This process's CPU: the probes and keyframe lookups of the stage run in it (PyAV)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compilations", type=Path,
                        default=Path(tempfile.gettempdir()) / "tiktok-dm-bench-segment" / "benchmark")
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--presets", default="ultrafast,superfast,veryfast")
    parser.add_argument("--threads", default="1", help="comma-separated ffmpeg thread counts to try")
    parser.add_argument("--copy", default="no,yes",
                        help="cut.copy_whole_gops values to try: copy the picture of spans on keyframes (default both)")
    args = parser.parse_args()

    truths = sorted(args.compilations.glob("*.json"))[:args.count]
    if not truths:
        raise SystemExit(f"no compilations in {args.compilations}: run bench/segment.py --build-only first")
    rows = []
    with tempfile.TemporaryDirectory(prefix="tdm-bench-cut-") as folder:
        build_dir = BuildDir(folder)
        items = []
        for truth in truths:
            video = truth.with_suffix(".mp4")
            source = build_dir.sources / video.name
            source.parent.mkdir(parents=True, exist_ok=True)
            source.hardlink_to(video)
            info = probe(video)
            for index, (start, end) in enumerate(json.loads(truth.read_text())["clips"]):
                clip = ClipSpec(truth.stem, "", f"{truth.stem}-{index:02d}", start, end, None, 1, index + 2)
                items.append(CutItem(clip, build_dir.relative(source), info.duration_s, info.fps, True))
        clip_s = sum(item.clip.duration_s for item in items)
        for copy in (value == "yes" for value in args.copy.split(",")):
            for preset in args.presets.split(","):
                for threads in map(int, args.threads.split(",")):
                    stage = CutStage(CutConfig(preset=preset, ffmpeg_threads=threads, copy_whole_gops=copy),
                                     build_dir)
                    cpu, started = children_cpu_s() + own_cpu_s(), time.perf_counter()
                    outputs = [stage.run(item) for item in items]
                    wall, cpu = time.perf_counter() - started, children_cpu_s() + own_cpu_s() - cpu
                    size = sum(build_dir.absolute(output.video).stat().st_size for output in outputs)
                    rows.append({"copy whole GOPs": copy, "preset": preset, "threads": threads,
                                 "copied": sum(output.video_copied for output in outputs), "clips": len(items),
                                 "clip s": round(clip_s, 1), "CPU s / clip s": round(cpu / clip_s, 3),
                                 "wall s": round(wall, 1), "MB / clip min": round(size / 1e6 / clip_s * 60, 1)})
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
