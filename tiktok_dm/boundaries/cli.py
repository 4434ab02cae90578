"""``tiktok-dm segment``: a thin wrapper over ``detect_clips`` (register ``segment_command`` in tiktok_dm.cli)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from tiktok_dm.model.status import StageError

EXIT_INVALID_INPUT = 2


@click.command("segment", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("video", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV to write, one row per clip: start,end,confidence (start and end in seconds from the "
                   "start of VIDEO; confidence 0.5-1, the weaker of the clip's two boundaries, lower when a "
                   "candidate inside it was only narrowly judged an internal cut).")
@click.option("--min-clip-s", type=click.FloatRange(min=0), default=3.0, show_default=True,
              help="Shortest clip. A shorter stretch gives up its weaker boundary (joins a neighbour), or is "
                   "dropped when it sits between two dropped spans.")
@click.option("--debug-plot", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a PNG of every signal over time (picture, colour change and the picture's "
                   "edges in the frame; sound), the candidates with the reason for each decision, the dropped "
                   "spans and the clips.")
@click.option("-v", "--verbose", count=True, help="Log every candidate's decision (-v).")
def segment_command(video: Path, out_path: Path, min_clip_s: float, debug_plot: Path | None, verbose: int) -> None:
    """Propose the clips of a compilation VIDEO (each clip: one TikTok with its own song).

    \b
    What it looks at (the picture once, ~10 small frames per second; the sound once, mono 11 kHz):
      picture  hard cuts (a one-step change that stands out from the dancing around it),
               dissolves / cross-fades (a change spread over ~1 s, frames that mix their
               neighbours), blank frames (black, one flat colour) and title cards (a still
               picture). Blank frames and title cards are dropped: never part of a clip.
               Black bars, borders, watermarks and captions are allowed for.
      sound    at each cut: is the cut also an edit of the sound (an abrupt change of the whole
               spectrum exactly at the cut), does the music before differ from the music after
               (kernel two-sample test on timbre and harmony, 1 s either side), or is there a
               silence gap?
      who and  either side of a cut: the picture's colours (another person in another room) and
      where    its layout (where the picture lies in the frame: between black bars, over its
               blurred copy, filling the frame; another clip is often laid out otherwise).

    A cut where one piece of music runs straight through is an internal camera cut of one clip;
    a cut where the sound changes too is a boundary, even when both clips use the same song (the
    song restarts or jumps). Where the music runs on, the picture still decides when the layout
    changes, or at a hard cut when the colours change (a punch-in zoom or a jump within one
    recording keeps both). Without an audio track every cut counts (with a warning).

    Decoding uses the static ffmpeg of the imageio-ffmpeg dependency (it starts in milliseconds);
    set IMAGEIO_FFMPEG_EXE to run another.

    \b
    Example:
      tiktok-dm segment compilation.mp4 --out clips.csv --debug-plot clips.png
    """
    from tiktok_dm.boundaries.config import BoundaryConfig
    from tiktok_dm.boundaries.detect import detect_clips
    from tiktok_dm.boundaries.report import plot_signals, write_clips_csv

    if verbose and not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if verbose:
        logging.getLogger("tiktok_dm.boundaries").setLevel(logging.DEBUG)
    try:
        result = detect_clips(video, BoundaryConfig(min_clip_s=min_clip_s))
    except StageError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_INVALID_INPUT)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    write_clips_csv(result, out_path)
    internal = sum(not c.accepted for c in result.candidates)
    click.echo(f"{out_path}: {len(result.clips)} clips in {result.duration_s:.1f} s of video "
               f"({internal} cuts judged internal, {len(result.dropped)} spans dropped)")
    if debug_plot is not None:
        try:
            plot_signals(result, debug_plot)
        except ImportError as error:
            click.echo(f"error: --debug-plot needs matplotlib ({error}); pip install matplotlib", err=True)
            sys.exit(EXIT_INVALID_INPUT)
        click.echo(f"{debug_plot}: signals and decisions")
