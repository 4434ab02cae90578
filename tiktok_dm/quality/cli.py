"""``tiktok-dm qa`` and ``tiktok-dm report``: thin wrappers over :mod:`tiktok_dm.quality`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tiktok_dm.model.status import Status

EXIT_INVALID_INPUT = 2
NOT_MEASURED = (Status.FAILED.value, Status.CRASHED.value)


@click.command("qa")
@click.argument("build_dir", type=click.Path(file_okay=False, path_type=Path))
def qa_command(build_dir: Path) -> None:
    """Measure every clip of BUILD_DIR and write BUILD_DIR/qa.csv (one row per clip).

    \b
    Per clip: beat alignment (share of kinematic beats, i.e. local minima of the main dancer's mean
    joint speed, within 0.1 s of a librosa music beat) against a shuffled-offset
    baseline and other clips' music; the audio-video offset that best lines up motion and
    onsets (+-0.5 s; 'undetermined' when periodic dancing makes it ambiguous; flagged beyond
    +-0.25 s); pose coverage and main-dancer track length; loudness and silent stretches;
    duration against the manifest span; duplicates of the same video in other compilations.
    Columns qa_status/error say why a clip could not be measured; flagged/flags say what looks
    wrong. Exit code 0 when no clip is flagged or failed, 1 otherwise, 2 if BUILD_DIR is not a build.
    """
    from tiktok_dm.quality.checks import run_quality

    try:
        result = run_quality(build_dir)
    except FileNotFoundError as error:
        click.echo(str(error), err=True)
        sys.exit(EXIT_INVALID_INPUT)
    click.echo(_summary(result))
    sys.exit(1 if _has_problems(result) else 0)


@click.command("report")
@click.argument("build_dir", type=click.Path(file_okay=False, path_type=Path))
def report_command(build_dir: Path) -> None:
    """Run QA over BUILD_DIR (as `tiktok-dm qa`) and write an HTML report to open in a browser.

    \b
    BUILD_DIR/report/index.html shows PNG plots (clip durations, songs per split, pose
    coverage, alignment score against its shuffled baseline, audio-video offsets) and every
    flagged clip with a thumbnail, its skeleton overlay and its offset curve; the settings used
    are in report/qa_config.yaml. Exit code 0, or 2 if BUILD_DIR is not a build.
    """
    from tiktok_dm.quality.checks import run_quality
    from tiktok_dm.quality.report import write_report

    try:
        result = run_quality(build_dir)
    except FileNotFoundError as error:
        click.echo(str(error), err=True)
        sys.exit(EXIT_INVALID_INPUT)
    index = write_report(result)
    click.echo(_summary(result))
    click.echo(f"report: {index}")


def _has_problems(result) -> bool:
    table = result.table
    return bool(table["flagged"].any() or table["qa_status"].isin(NOT_MEASURED).any())


def _summary(result) -> str:
    table = result.table
    counts = table["qa_status"].value_counts().to_dict()
    lines = [f"QA of {len(table)} clip(s): " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
             + f" in {result.seconds:.1f} s; table: {result.table_path}"]
    for row in table[table["flagged"]].itertuples():
        lines.append(f"  flagged {row.clip_id}: {row.flags}")
    for row in table[table["qa_status"].isin(NOT_MEASURED)].itertuples():
        lines.append(f"  {row.qa_status} {row.clip_id}: {row.error}")
    return "\n".join(lines)
