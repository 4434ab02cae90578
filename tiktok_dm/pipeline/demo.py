"""``demo``: the whole pipeline on a compilation it makes itself, served over loopback HTTP.

What the synthetic data can show: that download (the real yt-dlp path), frame-accurate cutting,
pose extraction, segmenting, the song-disjoint split and the Hugging Face export all run and fit
together. What it cannot show: pose quality on real people (the dancer is a drawn figure), or
anything about real music (the songs are synthesised drum-and-synth loops).
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from pathlib import Path

import pandas as pd

from tiktok_dm.config import BuildConfig
from tiktok_dm.dataset.export import datasets_progress_bars_off
from tiktok_dm.pipeline.build import BuildReport, build
from tiktok_dm.testing.compose import CompilationPart, compose_compilation
from tiktok_dm.testing.loopback import serve_directory
from tiktok_dm.testing.music import synth_song

log = logging.getLogger(__name__)

HONESTY_NOTE = (
    "The demo's video is synthetic: a drawn figure dancing to synthesised songs. It shows that every stage\n"
    "runs and that the pieces fit (real yt-dlp download over loopback HTTP, frame-accurate cuts, poses,\n"
    "2-s D2M segments, a song-disjoint split, a dataset load_dataset opens). It says nothing about pose\n"
    "accuracy on real dancers or about real music; the tests do that on real footage. Same-recording\n"
    "matching is off here: the drawn dancers are one body moving by one formula.")


@dataclasses.dataclass(frozen=True)
class DemoSong:
    song_id: str
    bpm: float
    root_hz: float


@dataclasses.dataclass(frozen=True)
class DemoClip:
    clip_id: str
    song: DemoSong
    seconds: float
    num_dancers: int = 1


DEMO_SONGS = (DemoSong("song_a", 110, 110.0), DemoSong("song_b", 128, 146.8), DemoSong("song_c", 95, 130.8))
# Four clips, three songs, song_a used twice (the split must keep both of its clips together).
DEMO_CLIPS = (DemoClip("demo_0000", DEMO_SONGS[0], 6.0), DemoClip("demo_0001", DEMO_SONGS[1], 5.0),
              DemoClip("demo_0002", DEMO_SONGS[0], 7.0), DemoClip("demo_0003", DEMO_SONGS[2], 4.5))
FRAME_SIZE = (640, 360)
FPS = 30


def make_demo_compilation(folder: Path, sample_rate: int = 22050) -> list[tuple[float, float]]:
    """Write ``folder/compilation.mp4`` from DEMO_CLIPS; returns the clip spans."""
    from tiktok_dm.testing.dancer import write_dancer_video

    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for index, clip in enumerate(DEMO_CLIPS):
        video = folder / f"{clip.clip_id}_dancer.mp4"
        write_dancer_video(video, seconds=clip.seconds, fps=FPS, width=FRAME_SIZE[0], height=FRAME_SIZE[1],
                           bpm=clip.song.bpm, seed=index)
        # Each clip starts at another point of its song, as TikTok clips do.
        song = synth_song(clip.seconds + 4 * index, sample_rate, clip.song.bpm, clip.song.root_hz,
                          seed=DEMO_SONGS.index(clip.song))
        parts.append(CompilationPart(video, clip.seconds, song[-int(clip.seconds * sample_rate):], sample_rate))
    return compose_compilation(parts, folder / "compilation.mp4", *FRAME_SIZE, fps=FPS)


def write_demo_manifest(path: Path, url: str, spans: list[tuple[float, float]]) -> None:
    rows = [{"compilation_id": "demo", "url": url, "clip_id": clip.clip_id, "start_s": f"{start:.6f}",
             "end_s": f"{end:.6f}", "song_id": clip.song.song_id, "num_dancers": clip.num_dancers}
            for clip, (start, end) in zip(DEMO_CLIPS, spans)]
    pd.DataFrame(rows).to_csv(path, index=False)


def run_demo(out_dir: str | Path, config: BuildConfig, progress: bool = True) -> tuple[BuildReport, str]:
    """Make the demo compilation, build it (same-recording matching off: see HONESTY_NOTE) and summarise."""
    config = dataclasses.replace(config, quality=dataclasses.replace(
        config.quality, recordings=dataclasses.replace(config.quality.recordings, enabled=False)))
    out_dir = Path(out_dir)
    media_dir = out_dir / "demo_source"
    spans = make_demo_compilation(media_dir)
    manifest = out_dir / "demo_manifest.csv"
    with serve_directory(media_dir) as base_url:
        write_demo_manifest(manifest, f"{base_url}/compilation.mp4", spans)
        report = build(manifest, out_dir / "build", config, progress=progress)
    return report, summarise(report)


def summarise(report: BuildReport) -> str:
    """Load the dataset back with datasets.load_dataset and tabulate what it holds."""
    from datasets import load_dataset

    lines = [report.summary(), ""]
    if report.dataset_dir is None:
        return "\n".join(lines + ["no dataset was written", "", HONESTY_NOTE])
    with tempfile.TemporaryDirectory(prefix="tdm-hf-cache-") as cache, datasets_progress_bars_off():
        clips = load_dataset(str(report.dataset_dir), "clips", cache_dir=cache)
        segments = load_dataset(str(report.dataset_dir), "segments", cache_dir=cache)
        table = []
        for split in clips:
            rows = clips[split]
            table.append({
                "split": split, "clips": len(rows), "songs": len(set(rows["song_id"])),
                "segments": len(segments[split]), "seconds": round(sum(rows["duration_s"]), 2),
                "pose coverage %": round(100 * sum(rows["person_coverage"]) / max(1, len(rows)), 1),
                "audio decodes": _audio_decodes(rows),
            })
    failures = len(report.failures)
    lines += ["loaded back with datasets.load_dataset:", pd.DataFrame(table).to_string(index=False),
              f"failures: {failures}", "", HONESTY_NOTE]
    return "\n".join(lines)


def _audio_decodes(rows) -> str:
    """Whether the first clip's audio column decodes back to samples (datasets decodes it with torchcodec)."""
    first_audio = rows[0]["audio"] if len(rows) else None
    return "yes" if first_audio is not None and _decoded_samples(first_audio) > 0 else "no"


def _decoded_samples(audio) -> int:
    """Number of decoded samples, for both the dict form and torchcodec's AudioDecoder."""
    if isinstance(audio, dict):
        return len(audio["array"])
    return int(audio.get_all_samples().data.shape[-1])
