"""Throughput of each pipeline stage: seconds of video per wall-clock second.

    .venv/bin/python bench/pipeline.py [--executor local|ray] [--config NAME] [--out DIR]
    .venv/bin/python bench/pipeline.py --compilations DIR [--count 16] [--join K] [--executor ray] [--config default]

Builds from scratch (a fresh build directory) so every stage does its work; prints one row per
stage. "video s" is what the stage processed: the compilations for download, the clips for
the later stages. Without ``--compilations`` it builds the demo compilation.

``--compilations DIR`` (issue 24's build of ~800 s of 720p video): the compilations bench/segment.py
made in DIR (``<name>.mp4`` with ``<name>.json``, its clips' true spans; e.g.
/tmp/tiktok-dm-bench-segment/benchmark after ``bench/segment.py --compilations 16``), served on loopback,
one manifest row per true clip (song ids left to the fingerprints). Next to the build it times ffmpeg
decoding the same compilations alone ("decode alone"): the machine's speed at that moment, in the same run.
The realtime factor of the build is given without the download stage, per second of clip and per second of
compilation. ``--count 24 --join 3`` (after ``bench/segment.py --compilations 24 --build-only``) is issue 24's
825-s-class build: 8 compilations of 107-125 s (949 s), 188 clips (889 s).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd
from segment import Case, joined_case

from tiktok_dm.config import BuildConfig
from tiktok_dm.media import ffmpeg_binary, probe
from tiktok_dm.pipeline.build import build
from tiktok_dm.pipeline.demo import make_demo_compilation, write_demo_manifest
from tiktok_dm.testing.loopback import serve_directory


def demo_media(media: Path) -> tuple[list[Path], dict[str, list[tuple[float, float]]]]:
    spans = make_demo_compilation(media)
    return [media / "compilation.mp4"], {"compilation": spans}


def segment_media(folder: Path, count: int, media: Path, join: int = 1
                  ) -> tuple[list[Path], dict[str, list[tuple[float, float]]]]:
    """The first ``count`` compilations of a bench/segment.py folder, linked into ``media``, with their true spans;
    with ``join`` > 1, each ``join`` consecutive ones joined into one longer compilation (stream copy, the spans moved
    by where each part starts: bench/segment.py's joined_case)."""
    found = sorted(folder.glob("*.json"))[:count]
    if not found:
        raise SystemExit(f"no compilations in {folder}: run bench/segment.py first (see --help)")
    media.mkdir(parents=True, exist_ok=True)
    cases = [Case(truth.stem, truth.with_suffix(".mp4"), 0.0,
                  [tuple(span) for span in json.loads(truth.read_text())["clips"]], [], {}) for truth in found]
    if join > 1:
        cases = [joined_case(cases[first:first + join], media) for first in range(0, len(cases), join)]
        cases = [dataclasses.replace(case, name=case.path.stem) for case in cases]
    videos, spans = [], {}
    for case in cases:
        video = media / f"{case.name}.mp4"
        if not video.exists():
            video.hardlink_to(case.path)
        videos.append(video)
        spans[case.name] = case.clips
    return videos, spans


def write_manifest(path: Path, base: str, spans: dict[str, list[tuple[float, float]]]) -> None:
    rows = [{"compilation_id": name, "url": f"{base}/{name}.mp4", "clip_id": f"{name}-{index:02d}",
             "start_s": f"{start:.6f}", "end_s": f"{end:.6f}", "song_id": "", "num_dancers": 1}
            for name, clips in spans.items() for index, (start, end) in enumerate(clips)]
    pd.DataFrame(rows).to_csv(path, index=False)


def decode_alone(videos: list[Path]) -> float:
    """Wall seconds of ffmpeg decoding ``videos`` (every frame and the audio, nothing written)."""
    ffmpeg = ffmpeg_binary()
    started = time.perf_counter()
    for video in videos:
        subprocess.run([ffmpeg, "-v", "error", "-i", str(video), "-f", "null", "-"], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executor", choices=["local", "ray"], default="local")
    parser.add_argument("--config", default="debug", help="built-in config name or YAML path (default: debug)")
    parser.add_argument("--out", type=Path, help="work folder (default: a temporary one, removed afterwards)")
    parser.add_argument("--compilations", type=Path, help="a folder of bench/segment.py compilations to build")
    parser.add_argument("--count", type=int, default=16, help="--compilations: how many (default 16)")
    parser.add_argument("--join", type=int, default=1, metavar="K",
                        help="--compilations: join each K consecutive compilations into one (issue 24's build: "
                             "--count 22 --join 3, 8 compilations of ~100 s)")
    args = parser.parse_args()

    work = args.out or Path(tempfile.mkdtemp(prefix="tdm-bench-"))
    try:
        media = work / "media"
        videos, spans = (segment_media(args.compilations, args.count, media, args.join) if args.compilations
                         else demo_media(media))
        compilation_s = sum(probe(video).duration_s for video in videos)
        clips_s = sum(end - start for clips in spans.values() for start, end in clips)
        config = BuildConfig.from_yaml(args.config)
        config.executor.kind = args.executor
        shutil.rmtree(work / "build", ignore_errors=True)
        with serve_directory(media) as base:
            if args.compilations:
                write_manifest(work / "manifest.csv", base, spans)
            else:
                write_demo_manifest(work / "manifest.csv", f"{base}/compilation.mp4", spans["compilation"])
            started = time.perf_counter()
            report = build(work / "manifest.csv", work / "build", config, progress=False)
            total = time.perf_counter() - started
        decode_s = decode_alone(videos)
        rows = []
        for stage, seconds in report.stage_seconds.items():
            video = compilation_s if stage == "download" else clips_s
            rows.append({"stage": stage, "wall s": round(seconds, 2), "video s": round(video, 2),
                         "video s / wall s": round(video / seconds, 2) if seconds else float("inf")})
        without_download = total - report.stage_seconds.get("download", 0.0)
        rows.append({"stage": "total", "wall s": round(total, 2), "video s": round(clips_s, 2),
                     "video s / wall s": round(clips_s / total, 2)})
        rows.append({"stage": "total without download", "wall s": round(without_download, 2),
                     "video s": round(clips_s, 2), "video s / wall s": round(clips_s / without_download, 2)})
        rows.append({"stage": "total without download, compilation seconds", "wall s": round(without_download, 2),
                     "video s": round(compilation_s, 2), "video s / wall s": round(compilation_s / without_download, 2)})
        rows.append({"stage": "ffmpeg decoding the compilations alone", "wall s": round(decode_s, 2),
                     "video s": round(compilation_s, 2), "video s / wall s": round(compilation_s / decode_s, 2)})
        print(f"executor={args.executor} config={args.config} cpu={platform.processor() or platform.machine()} "
              f"compilations={len(videos)} ({compilation_s:.0f} s) clips={sum(map(len, spans.values()))} "
              f"failures={len(report.failures)}")
        print(pd.DataFrame(rows).to_string(index=False))
    finally:
        if args.out is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
