"""Build three datasets on fixed loopback ports and print the sha256 of every file they hold.

Run it before and after a change that must not change the dataset (a refactor): the parquet shards
of the same inputs must come out byte for byte the same. The URLs of the sources are part of the
dataset, so the media are served on fixed ports (``--port``), never on a random one.

  demo      the compilation ``tiktok-dm demo`` makes (debug config, Ray, as the demo runs it)
  real      the tests' real-footage build (tests/test_pipeline_real.py: two compilations of
            ../shared real dance with Wesnoth music, five failing rows; debug config, Ray, 2 CPUs)
  variant   the same footage with compilation 000001 given without spans (automatic boundaries,
            song ids by fingerprint) and clip 2 without its song id (borrowed from clip 0's song)

    .venv/bin/python scripts/dataset_digest.py --work /tmp/digest --json before.json
    ... change the code ...
    .venv/bin/python scripts/dataset_digest.py --work /tmp/digest-after --json after.json
    diff before.json after.json

``--media-from DIR`` builds from the media and manifests of an earlier run's work folder instead of
making them again (same bytes in, whatever the media tools of the day write).

Needs ../shared (real footage) and the Wesnoth music (``bash scripts/install.sh --test``).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import http.server
import json
import shutil
import sys
import threading
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the tests' compilations (tests/compilations.py)

TABLES = ("clips.csv", "failures.csv", "segments.csv", "song_contradictions.csv", "splits/train.csv",
          "splits/test.csv", "split_links.csv", "recordings.csv")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's signature)
        pass


@contextlib.contextmanager
def serve_on(directory: Path, port: int) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


def digests(build_dir: Path) -> dict[str, str]:
    files = sorted((build_dir / "dataset").rglob("*")) + [build_dir / name for name in TABLES]
    return {str(path.relative_to(build_dir)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in files if path.is_file()}


def demo(work: Path, port: int, media_from: Path | None) -> Path:
    from tiktok_dm.config import BuildConfig
    from tiktok_dm.pipeline.build import build
    from tiktok_dm.pipeline.demo import make_demo_compilation, write_demo_manifest

    media = work / "demo_source"
    if media_from is not None:
        shutil.copytree(media_from / "demo_source", media)
        shutil.copyfile(media_from / "demo_manifest.csv", work / "demo_manifest.csv")
    else:
        spans = make_demo_compilation(media)
        write_demo_manifest(work / "demo_manifest.csv", f"http://127.0.0.1:{port}/compilation.mp4", spans)
    config = BuildConfig.from_yaml("debug")
    config.executor.kind = "ray"
    with serve_on(media, port):
        build(work / "demo_manifest.csv", work / "demo", config, progress=False)
    return work / "demo"


def real_rows(base: str, spans: dict, closed_port: int) -> list[dict]:
    from compilations import REAL_COMPILATIONS, failing_rows, manifest_rows

    rows = [row for name, plan in REAL_COMPILATIONS.items() for row in manifest_rows(base, name, plan, spans[name])]
    return rows + failing_rows(base, closed_port)


def variant_rows(base: str, spans: dict) -> list[dict]:
    from compilations import REAL_COMPILATIONS, manifest_rows

    rows = manifest_rows(base, "000000", REAL_COMPILATIONS["000000"], spans["000000"])
    for row in rows:
        if row["clip_id"] == "2":
            row["song_id"] = ""
    rows.append({"compilation_id": "000001", "url": f"{base}/000001.mp4", "clip_id": "", "start_s": "",
                 "end_s": "", "song_id": "", "num_dancers": ""})
    return rows


def real_media(work: Path, shared: Path) -> tuple[Path, dict]:
    from compilations import REAL_COMPILATIONS, make_compilation, make_failing_media
    from conftest import WESNOTH_MUSIC

    real_dance = shared / "testdata" / "real_dance"
    music = sorted(WESNOTH_MUSIC.glob("*.ogg"))
    folder = work / "real_media"
    folder.mkdir(parents=True, exist_ok=True)
    spans = {name: make_compilation(folder, name, plan, real_dance, music) for name, plan in REAL_COMPILATIONS.items()}
    make_failing_media(folder, real_dance)
    return folder, spans


def real_builds(work: Path, shared: Path, port: int, media_from: Path | None) -> dict[str, Path]:
    import pandas as pd

    from tiktok_dm.config import BuildConfig
    from tiktok_dm.pipeline.build import build

    names = ("real", "variant")
    if media_from is not None:
        folder = shutil.copytree(media_from / "real_media", work / "real_media")
        for name in names:
            shutil.copyfile(media_from / f"{name}_manifest.csv", work / f"{name}_manifest.csv")
    else:
        folder, spans = real_media(work, shared)
        base = f"http://127.0.0.1:{port}"
        for name, rows in zip(names, (real_rows(base, spans, port + 1), variant_rows(base, spans))):
            pd.DataFrame(rows).to_csv(work / f"{name}_manifest.csv", index=False)
    out = {}
    with serve_on(folder, port):
        for name in names:
            config = BuildConfig.from_yaml("debug")
            config.executor.kind = "ray"
            config.executor.num_cpus = 2
            config.download.retries = 0
            build(work / f"{name}_manifest.csv", work / name, config, progress=False)
            out[name] = work / name
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="empty folder for the media and the builds")
    parser.add_argument("--json", type=Path, help="also write the digests here")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--port", type=int, default=38517, help="first of the three loopback ports used")
    parser.add_argument("--only", choices=["demo", "real"], help="build only these")
    parser.add_argument("--media-from", type=Path, help="an earlier run's work folder: build from its media and "
                                                        "manifests instead of making them again")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    builds = {}
    if args.only in (None, "demo"):
        builds["demo"] = demo(args.work, args.port, args.media_from)
    if args.only in (None, "real"):
        builds.update(real_builds(args.work, args.shared, args.port + 1, args.media_from))
    result = {name: digests(path) for name, path in builds.items()}
    text = json.dumps(result, indent=1, sort_keys=True)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
