"""Pose backends on real footage: detection rate, keypoint confidence, speed per core, agreement.

    .venv/bin/python bench/pose.py [--clips DIR] [--openpifpaf-checkpoint PATH]
                                   [--openpifpaf-max-fps 2] [--speed-frames 60] [--json OUT]
    .venv/bin/python bench/pose.py --layouts [--variants ...] [--speed-frames 30] [--max-fps 15]

``--layouts`` (issue 20): every clip of DIR in 720p compilation frames (portrait and landscape, black bars or a
blurred copy behind), posed by each variant in one run: mediapipe on the whole frame (the old default), mediapipe
on the layout's picture, the landmarker on the picture looking for up to 5 people, the landmarker told the
footage's people count, MoveNet.MultiPose on the picture, and "build", the build's default (the landmarker told
the count for one dancer, MoveNet for more: tiktok_dm.stages.pose.backend_for). It prints per clip and per variant
the share of frames with a person, the dancers seen at once (pose QA) and frames per CPU-second at 720p on one
core; ~40 min on 2 cores. DIR's SOURCES.csv gives each video's people count (columns file, people). The held-out
multi-person set of issue 20: the five videos bench/pose_heldout_sources.csv lists (public GitHub repositories, with
their commits), fetched into a folder with that file copied in as SOURCES.csv; then ``--clips FOLDER --work
OTHER_FOLDER``. The rest of this docstring is the default mode.

For every clip of DIR (default ../shared/testdata/real_dance, people counts from its SOURCES.csv):

- detection rate: share of processed frames with a person (>= 4 joints of confidence >= 0.3, the
  pose stage's rule), every frame for mediapipe, ``--openpifpaf-max-fps`` for openpifpaf;
- mean keypoint confidence of the detected persons; tracks found and the pose QA flags;
- speed: frames per second on ONE core at 640x360 (frames letterboxed to 640x360, process pinned
  to one CPU with sched_setaffinity, torch/OpenMP at 1 thread), over the first ``--speed-frames``
  frames of each clip. "fps/core" is frames per CPU-second of this process (robust to other load
  on the machine), "wall fps" is frames per wall-clock second (lower when the core is shared);
- agreement, on frames where both backends detect somebody: PCK = share of joints confident in
  both (>= 0.3) whose mediapipe position lies within 0.1 person sizes (larger side of the
  mediapipe skeleton's box; about PCK@0.2 of the torso) of the best-matching openpifpaf person.

openpifpaf needs real weights: without ``--openpifpaf-checkpoint`` (a file, or an openpifpaf name
that is cached or downloadable), or when it cannot load, the bench says so and runs mediapipe
only. ``--openpifpaf-untrained-speed`` then still times openpifpaf's network at 640x360 with
random weights (its decoder sees no real people, so that is a network-speed figure only).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import logging
import os

# One thread for numerical libraries, set before they are imported: "per core" figures.
for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from tiktok_dm.pose import PoseSequence, estimate_video, get_backend  # noqa: E402
from tiktok_dm.pose.qa import pose_qa  # noqa: E402

DEFAULT_CLIPS = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "real_dance"
SPEED_SIZE = (640, 360)
MIN_JOINTS, MIN_CONF = 4, 0.3
PCK_FRACTION = 0.1

warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated")


def letterbox(frame_rgb: np.ndarray, size: tuple[int, int] = SPEED_SIZE) -> np.ndarray:
    """The frame scaled to fit ``size`` (width, height), aspect kept, padded with black."""
    import cv2

    width, height = size
    factor = min(width / frame_rgb.shape[1], height / frame_rgb.shape[0])
    new_w, new_h = max(1, round(frame_rgb.shape[1] * factor)), max(1, round(frame_rgb.shape[0] * factor))
    resized = cv2.resize(frame_rgb, (new_w, new_h), interpolation=cv2.INTER_AREA)
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    canvas[top:top + new_h, left:left + new_w] = resized
    return canvas


def read_frames(video: Path, count: int, size: tuple[int, int] | None = SPEED_SIZE) -> list[np.ndarray]:
    """The first ``count`` frames, RGB, letterboxed to ``size`` (None: as they are)."""
    import cv2

    capture = cv2.VideoCapture(str(video))
    frames = []
    try:
        while len(frames) < count:
            ok, frame_bgr = capture.read()
            if not ok:
                break
            rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
            frames.append(letterbox(rgb, size) if size else rgb)
    finally:
        capture.release()
    return frames


def time_backend(backend, frames: list[np.ndarray]) -> tuple[float, float]:
    """(frames per CPU-second, frames per wall second) of backend.detect over ``frames``; the
    first frame (model loading, graph start) is not timed."""
    backend.reset()
    backend.detect(frames[0])
    cpu, wall = time.process_time(), time.perf_counter()
    for frame in frames[1:]:
        backend.detect(frame)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    timed = len(frames) - 1
    return timed / max(cpu, 1e-9), timed / max(wall, 1e-9)


def pck(reference: np.ndarray, candidate: np.ndarray) -> float | None:
    """Share of joints confident in both within PCK_FRACTION of the reference person's size."""
    both = (np.nan_to_num(reference[:, 2]) >= MIN_CONF) & (np.nan_to_num(candidate[:, 2]) >= MIN_CONF)
    confident = np.nan_to_num(reference[:, 2]) >= MIN_CONF
    if both.sum() == 0 or confident.sum() < 2:
        return None
    box = reference[confident, :2]
    size = float(max(np.ptp(box[:, 0]), np.ptp(box[:, 1]), 1.0))
    distances = np.linalg.norm(reference[both, :2] - candidate[both, :2], axis=1)
    return float((distances <= PCK_FRACTION * size).mean())


def agreement(mediapipe: PoseSequence, openpifpaf: PoseSequence) -> tuple[float | None, int]:
    """Mean PCK of mediapipe's person vs the best-matching openpifpaf person, over frames where
    both detect; and the number of such frames."""
    scores = []
    for frame, time_s in enumerate(openpifpaf.frame_times):
        nearest = int(np.argmin(np.abs(mediapipe.frame_times - time_s)))
        if abs(mediapipe.frame_times[nearest] - time_s) > 0.5 / mediapipe.fps:
            continue
        reference = mediapipe.keypoints[nearest, 0] if mediapipe.num_persons else None
        if reference is None or not np.isfinite(reference[:, 2]).any():
            continue
        candidates = [p for p in openpifpaf.keypoints[frame] if np.isfinite(p[:, 2]).any()]
        values = [v for v in (pck(reference, c) for c in candidates) if v is not None]
        if values:
            scores.append(max(values))
    return (float(np.mean(scores)) if scores else None), len(scores)


def clip_people(clips_dir: Path) -> dict[str, int]:
    sources = clips_dir / "SOURCES.csv"
    if not sources.is_file():
        return {}
    with open(sources, newline="") as handle:
        return {row["file"]: int(row["people"]) for row in csv.DictReader(handle) if row.get("people", "").isdigit()}


def open_openpifpaf(args: argparse.Namespace):
    """(backend kwargs, None) when openpifpaf can run with real weights, else (None, reason)."""
    if not args.openpifpaf_checkpoint:
        return None, ("no --openpifpaf-checkpoint given: openpifpaf needs real weights (pretrained "
                      "checkpoints download from GitHub releases), so only mediapipe runs")
    kwargs = {"checkpoint": args.openpifpaf_checkpoint, "torch_threads": 1}
    try:
        with get_backend("openpifpaf", **kwargs):
            pass
    except (ImportError, RuntimeError, ValueError) as error:
        return None, f"openpifpaf cannot run ({type(error).__name__}: {error}); only mediapipe runs"
    return kwargs, None


def untrained_openpifpaf_speed(frames: list[np.ndarray]) -> tuple[float, float] | str:
    try:
        from tiktok_dm.pose.openpifpaf_backend import write_untrained_checkpoint

        with tempfile.TemporaryDirectory() as folder:
            checkpoint = write_untrained_checkpoint(Path(folder) / "untrained-shufflenetv2k16.pkl")
            with get_backend("openpifpaf", checkpoint=checkpoint, torch_threads=1) as backend:
                return time_backend(backend, frames)
    except (ImportError, RuntimeError, ValueError) as error:
        return f"{type(error).__name__}: {error}"


LAYOUT_FRAMES = {"portrait": (720, 1280), "landscape": (1280, 720)}  # 720p compilation frames
LAYOUTS = ("pad", "blur")


def make_layout_clips(clips_dir: Path, work: Path, seconds: float, only: list[str] | None) -> list[dict]:
    """Every clip of ``clips_dir`` placed in 720p compilation frames the way compilations show them (in a portrait
    and a landscape frame, with black bars or a blurred copy behind): [{"path", "source", "layout", "people"}]."""
    from tiktok_dm.media import probe
    from tiktok_dm.testing.edited_compilation import ClipPart, Shot, compose_edited_compilation

    people = clip_people(clips_dir)
    work.mkdir(parents=True, exist_ok=True)
    made = []
    for video in sorted(p for p in clips_dir.glob("*.mp4") if not only or p.name in only):
        length = min(seconds, probe(video).duration_s - 0.1)
        for (frame, (width, height)), layout in itertools.product(LAYOUT_FRAMES.items(), LAYOUTS):
            out = work / f"{video.stem}.{frame}-{layout}.mp4"
            if not out.is_file():
                compose_edited_compilation([ClipPart((Shot(video, 0.0, length),), None, layout=layout)], out,
                                           width, height, audio=False)
            made.append({"path": out, "source": video.name, "layout": f"{frame}-{layout}",
                         "people": people.get(video.name)})
    return made


# The variants --layouts compares, in one run: (backend, pose the picture alone, tell it the footage's people count).
# "build": the build's defaults, the backend chosen by the people count (PoseConfig.backend for one dancer,
# PoseConfig.multi_backend for more).
VARIANTS = {"mediapipe": ("mediapipe", False, False), "mediapipe+content": ("mediapipe", True, False),
            "landmarker+content": ("landmarker", True, False),
            "landmarker+content+count": ("landmarker", True, True),
            "movenet+content": ("movenet", True, False),
            "build": ("build", True, True)}


def layout_bench(args: argparse.Namespace) -> None:
    """Each variant on the layout clips, in one run: person found, dancers seen at once vs the people the footage
    shows, frames per CPU-second at 720p (this process on one core; the frames the backend sees: the picture alone
    where the variant crops)."""
    import pandas as pd

    from tiktok_dm.pose.config import ContentConfig
    from tiktok_dm.pose.content import content_rectangle
    from tiktok_dm.config import PoseConfig
    from tiktok_dm.pose.landmarker_model import resolve_landmarker_model
    from tiktok_dm.pose.movenet_backend import resolve_movenet_model
    from tiktok_dm.stages.pose import backend_for, backend_kwargs

    clips = make_layout_clips(args.clips, args.work, args.seconds, args.only)
    variants = {name: VARIANTS[name] for name in (args.variants or VARIANTS)}
    build = PoseConfig(checkpoint=None)
    kwargs = {"mediapipe": {}}
    if {"landmarker", "build"} & {backend for backend, _, _ in variants.values()}:
        kwargs["landmarker"] = {**backend_kwargs(build, "landmarker"),
                                "checkpoint": resolve_landmarker_model(args.landmarker)}
    if {"movenet", "build"} & {backend for backend, _, _ in variants.values()}:
        kwargs["movenet"] = {**backend_kwargs(build, "movenet"), "checkpoint": resolve_movenet_model(args.movenet)}
    rows = []
    for clip in clips:
        row = {"clip": clip["source"], "layout": clip["layout"], "people": clip["people"]}
        frames = read_frames(clip["path"], args.speed_frames + 1, size=None)
        rectangle = content_rectangle(frames[:ContentConfig().frames])
        row["cropped"] = rectangle is not None
        for name, (backend_name, crop, count) in variants.items():
            if backend_name == "build":
                backend_name = backend_for(build, clip["people"])
                row["build_backend"] = backend_name
            with get_backend(backend_name, **kwargs[backend_name]) as backend:
                backend.expect_people(clip["people"] if count else None)
                sequence = estimate_video(clip["path"], backend, max_fps=args.max_fps,
                                          content=ContentConfig(enabled=crop))
                seen = [rectangle.crop(frame) for frame in frames] if crop and rectangle else frames
                fps_core, _ = time_backend(backend, seen)
            qa = pose_qa(sequence, clip["people"], single_person_backend=backend_name == "mediapipe")
            row.update({f"{name}_detect_%": round(100 * sequence.person_coverage(MIN_JOINTS, MIN_CONF), 1),
                        f"{name}_seen": qa.dancers_seen, f"{name}_fps_core": round(fps_core, 1)})
        rows.append(row)
        print(json.dumps(row), flush=True)
    table = pd.DataFrame(rows)
    print()
    print(table.to_string(index=False))
    print()
    single, multi = table[table["people"] == 1], table[table["people"] > 1]
    summary = {}
    for name in variants:
        summary[name] = {
            "single-dancer clips with a person in >= 98 % of frames":
                f"{int((single[f'{name}_detect_%'] >= 98).sum())}/{len(single)}",
            "single-dancer detection % (min, mean)":
                (float(single[f"{name}_detect_%"].min()), round(float(single[f"{name}_detect_%"].mean()), 1)),
            "clips without a person": int((table[f"{name}_detect_%"] == 0).sum()),
            "multi-dancer clips whose dancers seen at once match the footage":
                f"{int((multi[f'{name}_seen'] == multi['people']).sum())}/{len(multi)}",
            "fps/core at 720p, single-dancer clips (median)": float(single[f"{name}_fps_core"].median()),
            "fps/core at 720p, multi-dancer clips (median)": float(multi[f"{name}_fps_core"].median()),
        }
        print(name)
        for key, value in summary[name].items():
            print(f"  {key}: {value}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "summary": summary}, indent=1, default=str) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS)
    parser.add_argument("--only", nargs="*", help="clip file names to run (default: all .mp4)")
    parser.add_argument("--openpifpaf-checkpoint", help="checkpoint file or openpifpaf name")
    parser.add_argument("--openpifpaf-max-fps", type=float, default=2.0,
                        help="frames per second of video openpifpaf processes (it takes seconds per frame on CPU)")
    parser.add_argument("--openpifpaf-untrained-speed", action="store_true",
                        help="without real weights, time openpifpaf's network with random weights")
    parser.add_argument("--speed-frames", type=int, default=60)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    parser.add_argument("--layouts", action="store_true",
                        help="instead: every clip in 720p compilation layouts (portrait/landscape frame, bars/blurred "
                             "copy), the mediapipe and landmarker backends, whole frame or the picture alone, side by "
                             "side")
    parser.add_argument("--landmarker", help="the landmarker's .task bundle (default: the cached copy)")
    parser.add_argument("--movenet", help="MoveNet.MultiPose's .tflite (default: the cached copy)")
    parser.add_argument("--variants", nargs="*", choices=list(VARIANTS), help="--layouts: which (default: all)")
    parser.add_argument("--seconds", type=float, default=4.0, help="--layouts: seconds of each clip")
    parser.add_argument("--max-fps", type=float, default=15.0, help="--layouts: frames posed per second of video")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "tiktok-dm-bench-pose",
                        help="--layouts: where the layout clips are made (kept for the next run)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    if not args.no_pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import torch

    torch.set_num_threads(1)
    if args.layouts:
        return layout_bench(args)
    people = clip_people(args.clips)
    videos = sorted(p for p in args.clips.glob("*.mp4") if not args.only or p.name in args.only)
    if not videos:
        sys.exit(f"no .mp4 clips in {args.clips}")
    openpifpaf_kwargs, skipped = open_openpifpaf(args)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"cpu={platform.processor() or platform.machine()} cores={os.cpu_count()} load(1 min)={load:.1f} "
          f"pinned={'no' if args.no_pin else 'yes (1 core)'} torch threads={torch.get_num_threads()}")
    if skipped:
        print(f"openpifpaf: SKIPPED: {skipped}")

    rows = []
    speed_frames_all: list[np.ndarray] = []
    for video in videos:
        row: dict[str, object] = {"clip": video.name, "people": people.get(video.name)}
        frames = read_frames(video, args.speed_frames + 1)
        speed_frames_all.extend(frames[:10])
        with get_backend("mediapipe") as backend:
            started = time.perf_counter()
            mediapipe = estimate_video(video, backend, max_fps=0)
            row["mp_s"] = round(time.perf_counter() - started, 1)
            row["mp_fps_core"], row["mp_wall_fps"] = (round(v, 1) for v in time_backend(backend, frames))
        qa = pose_qa(mediapipe, people.get(video.name), single_person_backend=True)
        row.update({"frames": mediapipe.num_frames,
                    "mp_detect_%": round(100 * mediapipe.person_coverage(MIN_JOINTS, MIN_CONF), 1),
                    "mp_conf": round(mediapipe.mean_confidence(), 3),
                    "mp_jitter": None if qa.jitter is None else round(qa.jitter, 4),
                    "mp_tracks": qa.num_tracks, "mp_main_%": round(100 * qa.main_track_share, 1),
                    "mp_seen": qa.dancers_seen,
                    "mp_flags": "; ".join(qa.flags)})
        if openpifpaf_kwargs:
            with get_backend("openpifpaf", **openpifpaf_kwargs) as backend:
                started = time.perf_counter()
                pifpaf = estimate_video(video, backend, max_fps=args.openpifpaf_max_fps)
                row["pp_s"] = round(time.perf_counter() - started, 1)
                row["pp_fps_core"], row["pp_wall_fps"] = (
                    round(v, 2) for v in time_backend(backend, frames[:min(len(frames), 6)]))
            pp_qa = pose_qa(pifpaf, people.get(video.name))
            score, frames_compared = agreement(mediapipe, pifpaf)
            row.update({"pp_frames": pifpaf.num_frames,
                        "pp_detect_%": round(100 * pifpaf.person_coverage(MIN_JOINTS, MIN_CONF), 1),
                        "pp_conf": round(pifpaf.mean_confidence(), 3),
                        "pp_tracks": pp_qa.num_tracks, "pp_seen": pp_qa.dancers_seen,
                        "pck": None if score is None else round(score, 3), "pck_frames": frames_compared,
                        "pp_flags": "; ".join(pp_qa.flags)})
        rows.append(row)
        print(json.dumps(row), flush=True)

    import pandas as pd

    table = pd.DataFrame(rows)
    print()
    print(table.drop(columns=[c for c in table.columns if c.endswith("flags")]).to_string(index=False))
    single = table[table["people"] == 1]
    summary = {
        "mediapipe fps/core at 640x360 (median over clips)": float(table["mp_fps_core"].median()),
        "mediapipe wall fps at 640x360 (median over clips)": float(table["mp_wall_fps"].median()),
        "mediapipe detection rate, single-dancer clips (min, mean %)": (
            float(single["mp_detect_%"].min()), round(float(single["mp_detect_%"].mean()), 1)),
        "single-dancer clips with a person in >= 95% of frames":
            f"{int((single['mp_detect_%'] >= 95).sum())}/{len(single)}",
    }
    if openpifpaf_kwargs:
        summary["openpifpaf fps/core at 640x360 (median)"] = float(table["pp_fps_core"].median())
        summary["mean PCK mediapipe vs openpifpaf"] = float(table["pck"].dropna().mean())
    elif args.openpifpaf_untrained_speed:
        result = untrained_openpifpaf_speed(speed_frames_all[:8])
        summary["openpifpaf network fps/core at 640x360, UNTRAINED weights (speed only)"] = (
            result if isinstance(result, str) else round(result[0], 2))
    print()
    for key, value in summary.items():
        print(f"{key}: {value}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "summary": summary, "openpifpaf_skipped": skipped,
                                         "load_1min": load}, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
