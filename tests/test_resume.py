"""kill -9 the build at several moments, run it again: it finishes, redoes only unfinished work, and
the dataset equals the one of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from compilations import REAL_COMPILATIONS, make_compilation, manifest_rows, write_manifest
from tiktok_dm.testing.loopback import serve_directory

pytestmark = [pytest.mark.slow, pytest.mark.needs_shared]
PLAN = [clip for clip in REAL_COMPILATIONS["000000"] if clip.video]
BUILD = [sys.executable, "-m", "tiktok_dm.cli", "build", "--config", "debug", "--executor", "local", "--no-progress"]


def _run(manifest: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*BUILD, str(manifest), "--out", str(out)], capture_output=True, text=True, timeout=600)


def _kill_when(manifest: Path, out: Path, ready) -> bool:
    """Start a build, SIGKILL its whole process group as soon as ``ready(out)`` holds; True if it was killed."""
    process = subprocess.Popen([*BUILD, str(manifest), "--out", str(out)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        if ready(out):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.02)
    process.wait()
    return False


def _records(out: Path, stage: str) -> int:
    folder = out / "results" / stage
    return len(list(folder.glob("*.json"))) if folder.exists() else 0


def _dataset_tables(out: Path) -> dict[str, object]:
    return {str(path.relative_to(out)): pq.read_table(path).to_pydict()
            for path in sorted((out / "dataset" / "data").rglob("*.parquet"))}


@pytest.fixture(scope="module")
def served_manifest(tmp_path_factory, real_dance_dir, music_files):
    folder = tmp_path_factory.mktemp("resume_media")
    spans = make_compilation(folder, "000000", PLAN, real_dance_dir, music_files)
    with serve_directory(folder) as base:
        yield write_manifest(folder / "manifest.csv", manifest_rows(base, "000000", PLAN, spans))


def test_kill_and_resume_gives_the_same_dataset(served_manifest, tmp_path):
    reference = tmp_path / "reference"
    assert _run(served_manifest, reference).returncode == 0

    out = tmp_path / "interrupted"
    kill_points = [
        lambda o: (o / "sources").exists() and any((o / "sources").iterdir()),  # mid-download
        lambda o: _records(o, "cut") >= 1,
        lambda o: _records(o, "pose") >= 1,
        lambda o: _records(o, "segments") >= 1,
        lambda o: (o / "dataset" / "data").exists(),  # mid-export
    ]
    killed = [_kill_when(served_manifest, out, ready) for ready in kill_points]
    assert sum(killed) >= 3, f"the build finished before most kill points: {killed}"

    done_before = {p: p.stat().st_mtime_ns for p in (out / "results").rglob("*.json")}
    final = _run(served_manifest, out)
    assert final.returncode == 0, final.stderr[-2000:]
    # Finished items were not redone: their records are untouched.
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in done_before.items())
    assert not list(out.rglob(".tmp-*")), "temporaries of the killed runs were left behind"
    assert _dataset_tables(out) == _dataset_tables(reference)
    assert (out / "segments.csv").read_text() == (reference / "segments.csv").read_text()
    for name in ("clips.csv", "failures.csv"):
        assert (out / name).read_text().replace(str(out), "") == (reference / name).read_text().replace(
            str(reference), "")
