"""Throughput of each pipeline stage on the demo compilation: seconds of video per wall-clock second.

    .venv/bin/python bench/pipeline.py [--executor local|ray] [--out DIR]

Builds from scratch (a fresh build directory) so every stage does its work; prints one row per
stage. "video s" is what the stage processed: the whole compilation for download, the clips for
the later stages.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from tiktok_dm.config import BuildConfig
from tiktok_dm.media import probe
from tiktok_dm.pipeline.build import build
from tiktok_dm.pipeline.demo import make_demo_compilation, write_demo_manifest
from tiktok_dm.testing.loopback import serve_directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executor", choices=["local", "ray"], default="local")
    parser.add_argument("--config", default="debug", help="built-in config name or YAML path (default: debug)")
    parser.add_argument("--out", type=Path, help="work folder (default: a temporary one, removed afterwards)")
    args = parser.parse_args()

    work = args.out or Path(tempfile.mkdtemp(prefix="tdm-bench-"))
    try:
        media = work / "media"
        spans = make_demo_compilation(media)
        compilation_s = probe(media / "compilation.mp4").duration_s
        clips_s = sum(end - start for start, end in spans)
        config = BuildConfig.from_yaml(args.config)
        config.executor.kind = args.executor
        shutil.rmtree(work / "build", ignore_errors=True)
        with serve_directory(media) as base:
            write_demo_manifest(work / "manifest.csv", f"{base}/compilation.mp4", spans)
            started = time.perf_counter()
            report = build(work / "manifest.csv", work / "build", config, progress=False)
            total = time.perf_counter() - started
        rows = []
        for stage, seconds in report.stage_seconds.items():
            video = compilation_s if stage == "download" else clips_s
            rows.append({"stage": stage, "wall s": round(seconds, 2), "video s": round(video, 2),
                         "video s / wall s": round(video / seconds, 2) if seconds else float("inf")})
        rows.append({"stage": "total", "wall s": round(total, 2), "video s": round(clips_s, 2),
                     "video s / wall s": round(clips_s / total, 2)})
        print(f"executor={args.executor} config={args.config} cpu={platform.processor() or platform.machine()} "
              f"clips={len(spans)} failures={len(report.failures)}")
        print(pd.DataFrame(rows).to_string(index=False))
    finally:
        if args.out is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
