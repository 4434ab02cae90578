"""The dataset QA report: ``<build>/report/index.html`` with PNG plots (matplotlib, Agg) and the
flagged clips, each with a thumbnail, its skeleton overlay and, when measured, its offset curve.
The page is static: open it in a browser from disk."""

from __future__ import annotations

import html
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from tiktok_dm.forked import map_shared
from tiktok_dm.model.atomic import atomic_path, atomic_write_text
from tiktok_dm.model.build_dir import BuildDir
from tiktok_dm.model.outputs import CutOutput, PoseOutput
from tiktok_dm.model.status import Status
from tiktok_dm.pose.sequence import PoseSequence
from tiktok_dm.quality.checks import QA_TABLE, QualityResult, run_quality, write_config
from tiktok_dm.quality.config import QAConfig

log = logging.getLogger(__name__)

REPORT_DIR = "report"
PLOTS = ("clip_durations", "songs_per_split", "pose_coverage", "alignment", "offsets")


def build_report(build_dir: str | Path, config: QAConfig = QAConfig(), progress: bool = True) -> Path:
    """Run QA over the build (writes qa.csv) and write the report; returns the index.html path."""
    result = run_quality(build_dir, config, progress)
    return write_report(result, config)


def write_report(result: QualityResult, config: QAConfig = QAConfig()) -> Path:
    """Write the report folder whole: no page or image of an earlier report (of a clip since removed) stays."""
    out = result.build_dir / REPORT_DIR
    shutil.rmtree(out, ignore_errors=True)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    write_config(config, out / "qa_config.yaml")
    table = result.table
    done = table[table["qa_status"] == Status.OK.value]
    plots = {name: _plot(name, done, config, out / "plots" / f"{name}.png") for name in PLOTS}
    flagged = done[done["flagged"]]
    # Each flagged clip's thumbnails and plots, in config.workers forked processes (files written there, HTML back).
    flagged_html = map_shared(_flagged_clip_at, (flagged, result, out, config), range(len(flagged)), config.workers,
                              min_items_per_worker=4)
    parts = [
        "<!doctype html>",
        "<html><head><meta charset='utf-8'><title>Dataset QA</title>",
        "<style>body{font-family:sans-serif;margin:1.5em;max-width:1400px}img.plot{width:45%;margin:4px;"
        "border:1px solid #ddd}img.thumb{height:220px;margin:2px}td,th{padding:2px 8px;text-align:left;"
        "vertical-align:top}.flag{color:#b00}section.clip{border-top:1px solid #ccc;padding:6px 0}</style>",
        "</head><body>",
        f"<h1>Dataset QA: {html.escape(str(result.build_dir))}</h1>",
        _summary(table, result),
        "<h2>Plots</h2>",
        "".join(f"<img class='plot' id='plot-{name}' src='plots/{name}.png' alt='{name}'>" for name, ok in plots.items() if ok),
        _duplicates_html(result),
        f"<h2>Flagged clips ({len(flagged_html)})</h2>",
        "".join(flagged_html) or "<p>none</p>",
        _errors_html(table),
        _rules_html(config),
        "</body></html>",
    ]
    index = out / "index.html"
    atomic_write_text(index, "\n".join(parts) + "\n")
    return index


def _summary(table: pd.DataFrame, result: QualityResult) -> str:
    counts = table["qa_status"].value_counts().to_dict()
    done = table[table["qa_status"] == Status.OK.value]
    lifted = done.dropna(subset=["alignment_score", "shuffled_baseline"]) if "alignment_score" in done else done.iloc[:0]
    items = [
        f"{len(table)} clip(s) in clips.csv: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())),
        f"{int(done['flagged'].sum()) if len(done) else 0} flagged",
        f"QA took {result.seconds:.1f} s",
    ]
    if len(lifted):
        items.append(f"beat alignment: mean score {lifted['alignment_score'].mean():.3f} vs shuffled baseline "
                     f"{lifted['shuffled_baseline'].mean():.3f}; {int((lifted['p_shuffled'] < 0.05).sum())} of "
                     f"{len(lifted)} clip(s) beat their shuffled baseline at p < 0.05")
    if "offset_status" in done:
        determined = done[done["offset_status"] == "determined"]
        items.append(f"audio-video offset determined for {len(determined)} of {len(done)} clip(s)")
    links = f"<p>Per-clip table: <a href='../{QA_TABLE}'>{QA_TABLE}</a>"
    if (result.build_dir / "pose_qa" / "index.html").exists():
        links += " &middot; pose QA: <a href='../pose_qa/index.html'>pose_qa/index.html</a>"
    return "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>" + links + "</p>"


def _plot(name: str, done: pd.DataFrame, config: QAConfig, path: Path) -> bool:
    """Draw one plot; False (and a log line) when there is nothing to draw it from."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    try:
        if name == "clip_durations":
            ax.hist(done["duration_s"].dropna(), bins=20, color="#4477aa")
            ax.set(title="Clip durations", xlabel="seconds", ylabel="clips")
        elif name == "songs_per_split":
            splits = done.assign(split=done["split"].replace("", "unsplit").fillna("unsplit"))
            grouped = splits.groupby("split").agg(songs=("song_id", "nunique"), clips=("clip_id", "count"))
            positions = np.arange(len(grouped))
            ax.bar(positions - 0.2, grouped["songs"], 0.4, label="songs", color="#4477aa")
            ax.bar(positions + 0.2, grouped["clips"], 0.4, label="clips", color="#ccbb44")
            ax.set_xticks(positions, grouped.index)
            ax.set(title="Songs and clips per split", ylabel="count")
            ax.legend()
        elif name == "pose_coverage":
            bins = np.linspace(0, 1, 21)
            ax.hist(done["person_coverage"].dropna(), bins=bins, alpha=0.7, label="person in frame", color="#4477aa")
            ax.hist(done["main_track_share"].dropna(), bins=bins, alpha=0.7, label="main dancer", color="#ee6677")
            ax.set(title="Pose coverage (share of frames)", xlabel="share", ylabel="clips")
            ax.legend()
        elif name == "alignment":
            scored = done.dropna(subset=["alignment_score", "shuffled_baseline"])
            ax.scatter(scored["shuffled_baseline"], scored["alignment_score"], color="#4477aa", s=18)
            ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="score = shuffled baseline")
            ax.set(title=f"Beat alignment (tolerance {config.alignment.tolerance_s} s)", xlim=(0, 1), ylim=(0, 1),
                   xlabel="shuffled-offset baseline", ylabel="alignment score (true pairing)")
            ax.legend(loc="lower right")
        elif name == "offsets":
            determined = done[done["offset_status"] == "determined"]["offset_s"].dropna()
            limit = config.offset.max_offset_s
            ax.hist(determined, bins=np.linspace(-limit, limit, 31), color="#4477aa")
            for x in (-config.offset.sync_tolerance_s, config.offset.sync_tolerance_s):
                ax.axvline(x, color="#b00", ls="--", lw=1)
            ax.set(title=f"Audio-video offset ({len(determined)} determined, "
                         f"{len(done) - len(determined)} undetermined)", xlabel="offset (s, + = audio late)",
                   ylabel="clips")
        with atomic_path(path) as tmp:
            fig.tight_layout()
            fig.savefig(tmp, format="png")
        return True
    except (KeyError, ValueError) as error:
        log.warning("report: plot %s not drawn: %s", name, error)
        return False
    finally:
        plt.close(fig)


def _flagged_clip(row, result: QualityResult, out: Path, config: QAConfig) -> str:
    clip_id = str(row.clip_id)
    images = []
    try:
        images = _clip_images(BuildDir(result.build_dir), clip_id, out / "clips")
    except (OSError, ValueError) as error:
        log.warning("report: no images for clip %s: %s", clip_id, error)
    measured = result.clips.get(clip_id)
    if measured is not None and measured.offset is not None and len(measured.offset.lags_s):
        images.append(_offset_plot(clip_id, measured.offset, config, out / "clips" / f"{clip_id}_offset.png"))
    flags = "".join(f"<li class='flag'>{html.escape(f)}</li>" for f in str(row.flags).split("; ") if f)
    facts = [("song", row.song_id), ("split", row.split), ("duration_s", row.duration_s),
             ("alignment score / shuffled / p", f"{_fmt(row.alignment_score)} / {_fmt(row.shuffled_baseline)} / "
                                                f"{_fmt(row.p_shuffled)}"),
             ("offset", f"{row.offset_status} {_fmt(row.offset_s)} s (best lag {_fmt(row.best_lag_s)} s) "
                        f"{row.offset_note if isinstance(row.offset_note, str) else ''}"),
             ("pose coverage / main dancer", f"{_fmt(row.person_coverage)} / {_fmt(row.main_track_share)}"),
             ("loudness dBFS / silent s", f"{_fmt(row.loudness_dbfs)} / {_fmt(row.silent_s)}")]
    table = "<table>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                                for k, v in facts) + "</table>"
    pictures = "".join(f"<img class='thumb' src='{html.escape(os.path.relpath(p, out))}' alt='{html.escape(p.name)}'>"
                       for p in images)
    return (f"<section class='clip' id='clip-{html.escape(clip_id)}'><h3>{html.escape(clip_id)}</h3>"
            f"<ul>{flags}</ul>{table}<div>{pictures}</div></section>")


def _flagged_clip_at(state: tuple[pd.DataFrame, QualityResult, Path, QAConfig], position: int) -> str:
    flagged, result, out, config = state
    return _flagged_clip(next(flagged.iloc[[position]].itertuples()), result, out, config)


def _clip_images(build: BuildDir, clip_id: str, folder: Path) -> list[Path]:
    """A thumbnail of the clip's middle frame and the same frame with its skeletons."""
    import cv2

    from tiktok_dm.pose.overlay import draw_skeletons

    cut, pose = build.read_record(CutOutput, clip_id), build.read_record(PoseOutput, clip_id)
    if cut is None or pose is None or not cut.ok or not pose.ok:
        raise ValueError("no successful cut or pose record")
    sequence = PoseSequence.load(build.absolute(pose.output.poses))
    if sequence.num_frames == 0:
        raise ValueError("empty pose file")
    index = sequence.num_frames // 2
    frame_number = int(round(sequence.frame_times[index] * sequence.fps))
    capture = cv2.VideoCapture(os.fspath(build.absolute(cut.output.video)))
    try:
        # Sequential, for the exact frame; grab() decodes without the colour conversion read() adds.
        if not all(capture.grab() for _ in range(frame_number)):
            raise ValueError(f"video ended before frame {frame_number}")
        ok, frame = capture.read()
        if not ok:
            raise ValueError(f"video ended before frame {frame_number}")
    finally:
        capture.release()
    factor = 360 / frame.shape[0]
    small = cv2.resize(frame, (round(frame.shape[1] * factor), 360), interpolation=cv2.INTER_AREA)
    keypoints = sequence.keypoints[index].copy()
    keypoints[..., :2] *= factor
    main = pose.output.main_track
    drawn = draw_skeletons(cv2.cvtColor(small, cv2.COLOR_BGR2RGB), keypoints, sequence.track_ids[index], 0.3, main)
    written = []
    for name, image in (("thumb", small), ("skeleton", cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))):
        target = folder / f"{clip_id}_{name}.png"
        with atomic_path(target) as tmp:
            if not cv2.imwrite(str(tmp), image):
                raise OSError(f"could not write {tmp}")
        written.append(target)
    return written


def _offset_plot(clip_id: str, offset, config: QAConfig, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 2.6), dpi=100)
    try:
        ax.plot(offset.lags_s, offset.correlation, color="#4477aa")
        if offset.best_lag_s is not None:
            ax.axvline(offset.best_lag_s, color="#b00" if offset.determined else "grey", ls="--", lw=1)
        ax.axvspan(-config.offset.sync_tolerance_s, config.offset.sync_tolerance_s, color="#cfc", alpha=0.4)
        ax.set(title=f"{clip_id}: offset {offset.status}", xlabel="lag (s, + = audio late)", ylabel="correlation")
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return path


def _duplicates_html(result: QualityResult) -> str:
    if not result.duplicates:
        return "<h2>Same recording</h2><p>no two clips show the same recording</p>"
    rows = "".join(f"<tr><td>{html.escape(m.clip_a)}</td><td>{html.escape(m.clip_b)}</td><td>{m.share:.2f}</td>"
                   f"<td>{m.frames}</td><td>{'mirrored' if m.mirrored else ''}</td>"
                   f"<td>{'same compilation' if m.same_compilation else 'different compilations'}</td></tr>"
                   for m in result.duplicates)
    return ("<h2>Same recording</h2><p>Clips whose dancer moves the same way, frame by frame (rescaled, cropped, "
            "mirrored or trimmed copies of one video).</p><table><tr><th>clip</th><th>clip</th>"
            f"<th>agreeing frames</th><th>frames compared</th><th></th><th></th></tr>{rows}</table>")


def _errors_html(table: pd.DataFrame) -> str:
    problems = table[table["qa_status"] != Status.OK.value]
    if problems.empty:
        return ""
    rows = "".join(f"<tr><td>{html.escape(str(r.clip_id))}</td><td>{html.escape(str(r.qa_status))}</td>"
                   f"<td>{html.escape(str(r.error))}</td></tr>" for r in problems.itertuples())
    return f"<h2>Not measured ({len(problems)})</h2><table>{rows}</table>"


def _rules_html(config: QAConfig) -> str:
    return ("<h2>Rules</h2><p>Kinematic beats: local minima of the main dancer's mean joint speed (smoothed over "
            f"{config.kinematic.beat_smooth_s} s). Alignment: share of kinematic beats within "
            f"{config.alignment.tolerance_s} s of a librosa beat, against {config.alignment.baseline_shifts} random "
            "circular offsets (shuffled baseline) and other clips' music (cross baseline). Offset: best lag of the "
            "correlation of the dancer's deceleration-plus-turning envelope with the onset strength in "
            f"+-{config.offset.max_offset_s} s; undetermined when ambiguous; "
            f"flagged beyond +-{config.offset.sync_tolerance_s} s. All settings: "
            "<a href='qa_config.yaml'>qa_config.yaml</a>.</p>")


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)
