"""``status``: what each stage of a build directory has done, and what failed with which error."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tiktok_dm.model.build_dir import BuildDir
from tiktok_dm.model.status import Status
from tiktok_dm.stages.registry import STAGE_TYPES


def stage_counts(build_dir: str | Path) -> dict[str, Counter]:
    """Stage name -> how many of its records have each status."""
    directory = BuildDir(build_dir)
    return {name: Counter(record.status.value for record in directory.records(stage.output_type))
            for name, stage in STAGE_TYPES.items()}


def format_status(build_dir: str | Path) -> str:
    directory = BuildDir(build_dir)
    if not (directory.root / "results").is_dir():
        raise FileNotFoundError(f"{directory.root} is not a build directory (no results/ folder)")
    not_ok = (Status.FAILED, Status.CRASHED)  # a stage record is never skipped: skipped clips get no item
    lines = [f"{'stage':<12}{'done':>6}" + "".join(f"{status.value:>9}" for status in not_ok)]
    failures = []
    for name, stage in STAGE_TYPES.items():
        records = list(directory.records(stage.output_type))
        counts = Counter(record.status for record in records)
        lines.append(f"{name:<12}{counts[Status.OK]:>6}" + "".join(f"{counts[status]:>9}" for status in not_ok))
        failures += [f"  {name} {r.key}: {r.status.value} ({r.error_kind.value if r.error_kind else '?'}): {r.error}"
                     for r in records if not r.ok]
    if directory.dataset.joinpath("README.md").exists():
        lines.append(f"dataset: {directory.dataset}")
    else:
        lines.append("dataset: not exported yet")
    if failures:
        lines.append("failures:")
        lines += failures
    return "\n".join(lines)
