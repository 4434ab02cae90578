"""Training logs: a CSV of metrics per logged step (resume-safe), the same as TensorBoard scalars, a loss plot PNG."""

from __future__ import annotations

import csv
import math
from pathlib import Path


class MetricsCSV:
    """Append-only CSV ``step,<metric>...``; opening it at ``resume_step`` drops rows written after that step
    (a run that crashed after its last checkpoint), so a resumed run's log has each step once."""

    def __init__(self, path: str | Path, resume_step: int = 0):
        self.path = Path(path)
        self.fields: list[str] | None = None
        if self.path.is_file():
            with self.path.open(newline="") as handle:
                reader = csv.DictReader(handle)
                self.fields = reader.fieldnames
                rows = [row for row in reader if int(row["step"]) <= resume_step]
            with self.path.open("w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=self.fields)
                writer.writeheader()
                writer.writerows(rows)

    def write(self, row: dict[str, float | int]) -> None:
        new = not self.path.is_file() or self.fields is None
        if new:
            self.fields = list(row)
        with self.path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.fields, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)


class TensorBoardLog:
    """The logged rows as TensorBoard scalars (one tag per metric, the row's step as the global step). Opened at
    ``resume_step``, events written after that step by a run that crashed are purged, as the CSV drops its rows."""

    FOLDER = "tensorboard"

    def __init__(self, run_dir: str | Path, resume_step: int = 0):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as error:  # torch raises ImportError naming tensorboard when it is missing
            raise ImportError("TensorBoard logging (train.tensorboard) needs the tensorboard package: pip install "
                              "'tiktok-dm[train]', or set train.tensorboard=false") from error
        self.writer = SummaryWriter(str(Path(run_dir) / self.FOLDER),
                                    purge_step=resume_step + 1 if resume_step else None)

    def write(self, row: dict[str, float | int]) -> None:
        for name, value in row.items():
            if name != "step":
                self.writer.add_scalar(name, value, int(row["step"]))
        self.writer.flush()

    def write_audio(self, step: int, clips: dict[str, "object"], sample_rate: int) -> None:
        """Audio clips (tag -> 1-D waveform in [-1, 1]) at ``step``."""
        for tag, waveform in clips.items():
            self.writer.add_audio(tag, waveform, step, sample_rate=sample_rate)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def read_metrics(path: str | Path) -> list[dict[str, float]]:
    with Path(path).open(newline="") as handle:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(handle)]


def plot_metrics(csv_path: str | Path, png_path: str | Path, title: str = "") -> Path | None:
    """One panel per metric (excluding step/epoch/time columns) against step; None when there is no row."""
    rows = read_metrics(csv_path) if Path(csv_path).is_file() else []
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [k for k in rows[0] if k not in ("step", "epoch", "seconds", "steps_per_s")]
    cols = min(4, len(names))
    grid = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(grid, cols, figsize=(4 * cols, 2.6 * grid), squeeze=False)
    steps = [r["step"] for r in rows]
    for ax, name in zip(axes.ravel(), names):
        ax.plot(steps, [r.get(name, math.nan) for r in rows], lw=1)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    png_path = Path(png_path)
    fig.savefig(png_path, dpi=80)
    plt.close(fig)
    return png_path
