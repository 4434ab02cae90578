"""Clip boundaries in compilation videos: where each TikTok starts and ends.

    from tiktok_dm.boundaries import BoundaryConfig, detect_clips, write_clips_csv, plot_signals

    result = detect_clips("compilation.mp4", BoundaryConfig(min_clip_s=3.0))
    write_clips_csv(result, "clips.csv")         # start,end,confidence
    plot_signals(result, "clips.png")            # the signals and every decision

The picture proposes candidates (hard cuts, dissolves; black frames and title cards are
dropped), the sound decides them (a song change or a silence gap makes a boundary, one song
running straight through makes an internal cut). See ``fusion`` for the rules.
"""

from tiktok_dm.model.lazy import lazy_exports

__getattr__ = lazy_exports(__name__, {
    "BoundaryConfig": "config", "detect_clips": "detect", "plot_signals": "report", "read_clips_csv": "report",
    "write_clips_csv": "report", "BoundaryResult": "result", "Candidate": "result", "ClipProposal": "result",
    "DroppedSpan": "result"})
__all__ = ["BoundaryConfig", "BoundaryResult", "Candidate", "ClipProposal", "DroppedSpan", "detect_clips",
           "plot_signals", "read_clips_csv", "write_clips_csv"]
