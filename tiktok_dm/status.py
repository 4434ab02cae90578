"""``status``: what each stage of a build directory has done, and what failed with which error."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tiktok_dm.workdir import BuildDir

# In the order build runs them (boundaries only for compilations given without spans).
STAGES = ("download", "boundaries", "cut", "fingerprint", "pose", "segments")


def stage_counts(build_dir: str | Path) -> dict[str, Counter]:
    directory = BuildDir(build_dir)
    return {stage: Counter(result.status.value for result in directory.results(stage)) for stage in STAGES}


def format_status(build_dir: str | Path) -> str:
    directory = BuildDir(build_dir)
    if not (directory.root / "results").is_dir():
        raise FileNotFoundError(f"{directory.root} is not a build directory (no results/ folder)")
    lines = [f"{'stage':<12}{'done':>6}{'failed':>8}"]
    failures = []
    for stage in STAGES:
        results = list(directory.results(stage))
        done = sum(r.ok for r in results)
        lines.append(f"{stage:<12}{done:>6}{len(results) - done:>8}")
        failures += [f"  {stage} {r.key}: {r.error}" for r in results if not r.ok]
    if directory.dataset.joinpath("README.md").exists():
        lines.append(f"dataset: {directory.dataset}")
    else:
        lines.append("dataset: not exported yet")
    if failures:
        lines.append("failures:")
        lines += failures
    return "\n".join(lines)
