"""Write what the detector found: the clips table (CSV) and a picture of the evidence (PNG)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from tiktok_dm.boundaries.audio import change_curve
from tiktok_dm.boundaries.result import BoundaryResult, ClipProposal
from tiktok_dm.model.atomic import atomic_path, atomic_write_text

CSV_COLUMNS = ("start", "end", "confidence")


def write_clips_csv(result: BoundaryResult, path: str | Path) -> Path:
    """One row per clip: start, end (seconds) and confidence (0.5-1); written atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for clip in result.clips:
        writer.writerow([f"{clip.start_s:.3f}", f"{clip.end_s:.3f}", f"{clip.confidence:.3f}"])
    atomic_write_text(path, buffer.getvalue())
    return Path(path)


def read_clips_csv(path: str | Path) -> list[ClipProposal]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if rows and set(CSV_COLUMNS) - set(rows[0]):
        raise ValueError(f"{path}: expected columns {', '.join(CSV_COLUMNS)}, got {', '.join(rows[0])}")
    return [ClipProposal(float(r["start"]), float(r["end"]), float(r["confidence"])) for r in rows]


def plot_signals(result: BoundaryResult, png_path: str | Path, width_per_minute: float = 8.0) -> Path:
    """Three panels over time: the picture signals, the sound signals, and the decisions.

    Shaded spans are dropped (grey: blank frames, orange: title cards / stills, red: too short);
    green lines are accepted boundaries, red dashed lines candidates judged internal cuts, each
    labelled with its reason; bars at the bottom are the clips with their confidence.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    visual, config = result.visual, result.config
    times = visual.times
    width = min(60.0, max(10.0, width_per_minute * result.duration_s / 60.0))
    figure, (pic, snd, dec) = plt.subplots(3, 1, figsize=(width, 8.5), sharex=True,
                                           gridspec_kw={"height_ratios": [3, 3, 2]})

    pic.plot(times, visual.cut, lw=0.8, color="tab:blue", label="cut score (step change)")
    pic.plot(times, visual.dissolve, lw=0.8, color="tab:purple", label="dissolve score")
    pic.plot(times, config.cut_contrast * visual.cut_context, lw=0.6, color="tab:gray",
             label=f"{config.cut_contrast:g} x motion around")
    pic.axhline(config.hard_cut_threshold, color="tab:blue", ls=":", lw=0.8, label="hard cut threshold")
    pic.axhline(config.weak_cut_threshold, color="tab:cyan", ls=":", lw=0.8, label="weak cut threshold")
    pic.axhline(config.dissolve_threshold, color="tab:purple", ls=":", lw=0.8, label="dissolve threshold")
    # Who and where: how much the picture's colours differ before and after each moment.
    pic.plot(times, visual.appearance_curve(config), lw=0.8, color="tab:brown", label="colour change (who/where)")
    pic.axhline(config.appearance_change_threshold, color="tab:brown", ls=":", lw=0.8,
                label="colour change that decides over the music")
    # Who and where: the picture's place in the frame (its edges as shares of the frame; bars, blurred copy, fill).
    layout_times, pictures = visual.layout_track(config)
    if len(layout_times):
        for index, (edge, style) in enumerate((("left", "-"), ("right", "-"), ("top", "--"), ("bottom", "--"))):
            pic.step(layout_times, [getattr(picture, edge) for picture in pictures], where="mid", lw=0.7, ls=style,
                     color="tab:olive", label="picture edges in the frame (layout)" if index == 0 else None)
        flat = [t for t, picture in zip(layout_times, pictures) if picture.flat_outside]
        pic.plot(flat, [0.02] * len(flat), "|", color="k", ms=4, label="bars around the picture")
    pic.set_ylabel("picture")
    pic.set_ylim(0, max(2.0, float(np.nanmax(visual.cut, initial=0)) * 1.05))
    pic.legend(loc="upper right", fontsize=7, ncol=3)

    if result.audio is not None:
        step = 0.2
        grid = np.arange(config.audio_window_s, max(config.audio_window_s, result.duration_s - config.audio_window_s),
                         step)
        snd.plot(grid, change_curve(result.audio, grid, config.audio_window_s), lw=0.8, color="tab:green",
                 label="song change (MMD, 1 s either side)")
        snd.axhline(config.dissolve_song_change_threshold, color="tab:green", ls=":", lw=0.8,
                    label="dissolve song-change threshold")
        level = snd.twinx()
        level_times = np.arange(len(result.audio.level_db)) / result.audio.level_rate
        level.plot(level_times, result.audio.level_db, lw=0.4, color="tab:orange", alpha=0.6)
        level.axhline(config.silence_dbfs, color="tab:orange", ls=":", lw=0.8)
        level.set_ylabel("level dBFS", color="tab:orange")
        level.set_ylim(-90, 0)
        for c in result.candidates:
            if not np.isnan(c.splice):
                snd.annotate(f"splice {c.splice:.1f}", (c.time_s, c.song_change if not np.isnan(c.song_change) else 0),
                             fontsize=6, rotation=90, va="bottom")
        snd.legend(loc="upper right", fontsize=7)
    else:
        snd.text(0.5, 0.5, "no audio: decided on the picture alone", transform=snd.transAxes, ha="center")
    snd.set_ylabel("sound")

    colours = {"blank": "0.6", "title card": "tab:orange", "too short": "tab:red"}
    for axis in (pic, snd, dec):
        for span in result.dropped:
            axis.axvspan(span.start_s, span.end_s, color=colours.get(span.kind, "0.8"), alpha=0.25, lw=0)
        for c in result.candidates:
            axis.axvline(c.time_s, color="tab:green" if c.accepted else "tab:red", lw=0.9,
                         ls="-" if c.accepted else "--")
    for index, clip in enumerate(result.clips):
        dec.barh(0.1 + 0.15 * (index % 2), clip.end_s - clip.start_s, left=clip.start_s, height=0.12,
                 color="tab:green", alpha=0.35 + 0.5 * (clip.confidence - 0.5))
        dec.text((clip.start_s + clip.end_s) / 2, 0.1 + 0.15 * (index % 2), f"{clip.confidence:.2f}",
                 ha="center", va="center", fontsize=7)
    for c in result.candidates:
        dec.text(c.time_s, 0.98, _short_reason(c, config), rotation=90, fontsize=6, va="top", ha="right",
                 color="tab:green" if c.accepted else "tab:red")
    dec.set_ylim(0, 1)
    dec.set_yticks([])
    dec.set_ylabel("clips")
    dec.set_xlabel("seconds")
    dec.set_xlim(0, result.duration_s)
    figure.suptitle(f"{result.video.name}: {len(result.clips)} clips, "
                    f"{sum(not c.accepted for c in result.candidates)} candidates judged internal cuts, "
                    f"{len(result.dropped)} spans dropped", fontsize=10)
    figure.tight_layout()
    with atomic_path(png_path) as tmp:
        figure.savefig(tmp, dpi=110, format="png")
    plt.close(figure)
    return Path(png_path)


def _short_reason(candidate, config) -> str:
    """A plot label: what was decided and the deciding number (the full reason is in ``candidate.reason``)."""
    verdict = "boundary" if candidate.accepted else "internal" if "internal cut" in candidate.reason else "no"
    if "shorter than" in candidate.reason:
        verdict = "too short"
    if "silence gap" in candidate.reason:
        return f"{verdict}: {candidate.kind}, silence"
    if "place in the frame" in candidate.reason:
        return f"{verdict}: {candidate.kind}, layout {candidate.layout:.2f}"
    if not np.isnan(candidate.appearance):
        return f"{verdict}: {candidate.kind}, colours {candidate.appearance:.2f}"
    if "restarts" in candidate.reason:
        return f"{verdict}: {candidate.kind}, song restarts ({candidate.repeat:.2f})"
    if not np.isnan(candidate.splice):
        sound = candidate.splice + config.song_change_weight * candidate.song_change
        return f"{verdict}: {candidate.kind}, sound {sound:.1f}"
    if not np.isnan(candidate.song_change):
        return f"{verdict}: {candidate.kind}, song {candidate.song_change:.2f}"
    return f"{verdict}: {candidate.kind}, picture only"
