"""Edited compilations with known clip spans, for the boundary tests and benchmark.

``tiktok_dm.testing.compose`` joins parts with hard cuts only. Real compilations also have cross-fades,
fades through black, title cards, clips with internal camera cuts, borders, captions and a
channel watermark; :func:`compose_edited_compilation` renders all of those and returns the
ground truth an annotator would give (one span per clip, cards excluded).

Ground truth for a soft transition is its midpoint: a cross-fade of ``d`` seconds between clips
A and B puts A's end and B's start in the middle of the overlap; a fade to black puts A's end
in the middle of its fade-out (and B's start in the middle of its fade-in).

Every part is rendered to a whole number of frames, so all spans are exact to the frame.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import soundfile as sf

from tiktok_dm.media import run_ffmpeg, system_ffmpeg
from tiktok_dm.model.atomic import atomic_path

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
# Bump when the rendering changes, so cached compilations (bench/segment.py) are rebuilt.
COMPOSER_VERSION = 2

Layout = Literal["pad", "blur", "fill"]


@dataclasses.dataclass(frozen=True)
class Shot:
    """``seconds`` of ``video`` from ``start_s`` (the source must be that long; it is never looped); ``zoom`` > 1
    shows the middle 1/zoom of the picture (a punch-in: the same moment, closer)."""

    video: Path
    start_s: float
    seconds: float
    zoom: float = 1.0


@dataclasses.dataclass(frozen=True)
class Transition:
    """How a part hands over to the next one: a hard cut, a cross-fade, or a fade out/in through black."""

    kind: Literal["cut", "crossfade", "fade"] = "cut"
    seconds: float = 0.0


CUT = Transition()


@dataclasses.dataclass(frozen=True)
class ClipPart:
    """One clip of the compilation: one or more shots (several = internal camera cuts) under one music excerpt."""

    shots: tuple[Shot, ...]
    music: np.ndarray | None  # mono float32 at ``sample_rate``; None = silence
    sample_rate: int = 22050
    layout: Layout = "pad"
    # A per-clip caption (a TikTok-style @user watermark) that jumps corners half way through the clip.
    caption: str | None = None
    brightness: float = 0.0
    transition: Transition = CUT  # into the next part

    @property
    def seconds(self) -> float:
        return sum(shot.seconds for shot in self.shots)


@dataclasses.dataclass(frozen=True)
class CardPart:
    """A title card (text on a plain background) or, with empty text and black, a black gap. Never a clip."""

    text: str
    seconds: float
    color: str = "black"
    music: np.ndarray | None = None
    sample_rate: int = 22050
    transition: Transition = CUT


Part = ClipPart | CardPart


@dataclasses.dataclass(frozen=True)
class EditedCompilation:
    path: Path
    duration_s: float
    clips: list[tuple[float, float]]  # ground truth: one (start, end) per ClipPart, in seconds
    cards: list[tuple[float, float]]  # where the cards are (dropped spans)
    internal_cuts: list[float]  # camera cuts inside clips (not boundaries)


def compose_edited_compilation(parts: Sequence[Part], out_path: str | Path, width: int = 640, height: int = 360,
                               fps: int = 30, preset: str = "ultrafast", crf: int = 23,
                               channel_watermark: str | None = None, audio: bool = True) -> EditedCompilation:
    """Render ``parts`` into one mp4 (H.264 + AAC, or no audio stream with ``audio=False``)."""
    if not parts:
        raise ValueError("a compilation needs at least one part")
    frames = [_frames(part_seconds(part), fps) for part in parts]
    overlaps = [0] + [_frames(p.transition.seconds, fps) if p.transition.kind == "crossfade" else 0
                      for p in parts[:-1]]
    starts, position = [], 0
    for index, count in enumerate(frames):
        position -= overlaps[index]
        starts.append(position)
        position += count
    total = position
    clips, cards, internal = [], [], []
    for index, part in enumerate(parts):
        before = parts[index - 1].transition if index else CUT
        after = part.transition if index < len(parts) - 1 else CUT
        start = (starts[index] + _frames(before.seconds, fps) / 2 * (before.kind != "cut")) / fps
        end = (starts[index] + frames[index] - _frames(after.seconds, fps) / 2 * (after.kind != "cut")) / fps
        if isinstance(part, ClipPart):
            clips.append((start, end))
            offset = starts[index]
            for shot in part.shots[:-1]:
                offset += _frames(shot.seconds, fps)
                internal.append(offset / fps)
        else:
            cards.append((start, end))

    with tempfile.TemporaryDirectory(prefix="tdm-edit-") as scratch:
        rendered = []
        for index, part in enumerate(parts):
            before = parts[index - 1].transition if index else CUT
            after = part.transition if index < len(parts) - 1 else CUT
            path = Path(scratch) / f"part{index:03d}.mkv"
            _render_part(part, frames[index], fps, width, height, before, after, path)
            rendered.append(path)
        graph = _join_graph(parts, frames, overlaps, fps)
        video_out = "[v]"
        if channel_watermark:
            graph += f";[v]{_drawtext(channel_watermark, 'w-tw-h/30', 'h/30', height // 22, 'white@0.55')}[vw]"
            video_out = "[vw]"
        inputs = [arg for path in rendered for arg in ("-i", path)]
        audio_args = []
        if audio:
            # The sound is mixed here, sample-exact: ffmpeg's per-part trims and acrossfade drift by
            # milliseconds per part, tens of ms over a compilation.
            wav = Path(scratch) / "sound.wav"
            sf.write(str(wav), _mix_sound(parts, frames, starts, total, fps), _SOUND_RATE, subtype="FLOAT")
            inputs += ["-i", str(wav)]
            audio_args = ["-map", f"{len(rendered)}:a", "-c:a", "aac", "-b:a", "128k", "-ar", "44100", "-ac", "2"]
        with atomic_path(out_path) as tmp:
            run_ffmpeg([*inputs, "-filter_complex", graph, "-map", video_out, *audio_args, "-frames:v", str(total),
                        "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p", tmp],
                       what=f"join {len(parts)} parts into {Path(out_path).name}", binary=system_ffmpeg())
    return EditedCompilation(Path(out_path), total / fps, clips, cards, internal)


_SOUND_RATE = 44100


def _mix_sound(parts: Sequence[Part], frames: list[int], starts: list[int], total: int, fps: int) -> np.ndarray:
    """The whole soundtrack: each part's music at its place, faded and cross-faded like its picture."""
    sound = np.zeros(int(round(total / fps * _SOUND_RATE)) + 1, np.float32)
    for index, part in enumerate(parts):
        length = int(round(frames[index] / fps * _SOUND_RATE))
        music = np.zeros(length, np.float32) if part.music is None else _resample(part.music, part.sample_rate)
        music = np.pad(music, (0, max(0, length - len(music))))[:length].copy()
        gain = np.ones(length, np.float32)
        before = parts[index - 1].transition if index else CUT
        after = part.transition if index < len(parts) - 1 else CUT
        for transition, at_start in ((before, True), (after, False)):
            if transition.kind == "cut":
                continue
            ramp_frames = _frames(transition.seconds, fps) if transition.kind == "crossfade" else \
                min(_frames(transition.seconds, fps), frames[index] // 2)
            ramp = min(length, int(round(ramp_frames / fps * _SOUND_RATE)))
            shape = np.linspace(0.0, 1.0, ramp, endpoint=False, dtype=np.float32)
            if at_start:
                gain[:ramp] *= shape
            else:
                gain[length - ramp:] *= shape[::-1]
        start = int(round(starts[index] / fps * _SOUND_RATE))
        end = min(len(sound), start + length)
        sound[start:end] += (music * gain)[: end - start]
    return sound


def _resample(music: np.ndarray, rate: int) -> np.ndarray:
    if rate == _SOUND_RATE:
        return np.asarray(music, np.float32)
    positions = np.arange(int(len(music) * _SOUND_RATE / rate)) * rate / _SOUND_RATE
    return np.interp(positions, np.arange(len(music)), music).astype(np.float32)


def read_excerpt(path: str | Path, offset_s: float, seconds: float, rate: int = 44100) -> np.ndarray:
    """``seconds`` of a song file from ``offset_s`` as mono float32; the file must already be at ``rate``."""
    path = Path(path)
    audio, file_rate = sf.read(str(path), start=int(offset_s * rate), stop=int((offset_s + seconds) * rate),
                               dtype="float32", always_2d=True)
    if file_rate != rate:
        raise ValueError(f"{path.name}: expected {rate} Hz, got {file_rate}")
    return audio.mean(axis=1)


def part_seconds(part: Part) -> float:
    return part.seconds


def _frames(seconds: float, fps: int) -> int:
    return int(round(seconds * fps))


def _join_graph(parts: Sequence[Part], frames: list[int], overlaps: list[int], fps: int) -> str:
    """One filter graph over the rendered pictures: concat for cuts and fades, xfade for cross-fades."""
    steps = [f"[0:v]settb=1/{fps}[v0]"]
    length = frames[0]
    for index in range(1, len(parts)):
        previous = f"[v{index - 1}]"
        steps.append(f"[{index}:v]settb=1/{fps}[n{index}]")
        if overlaps[index]:
            duration = overlaps[index] / fps
            offset = (length - overlaps[index]) / fps
            steps.append(f"{previous}[n{index}]xfade=transition=fade:duration={duration:.6f}:offset={offset:.6f}"
                         f",settb=1/{fps}[v{index}]")
        else:
            steps.append(f"{previous}[n{index}]concat=n=2:v=1:a=0,settb=1/{fps}[v{index}]")
        length += frames[index] - overlaps[index]
    steps.append(f"[v{len(parts) - 1}]null[v]")
    return ";".join(steps)


def _render_part(part: Part, frames: int, fps: int, width: int, height: int, before: Transition,
                 after: Transition, out: Path) -> None:
    """The part's picture alone (its sound is mixed by _mix_sound), exactly ``frames`` long."""
    seconds = frames / fps
    fades = []
    # A black gap shorter than the fades around it is already black: fades there are clamped to half its length.
    if before.kind == "fade":
        fades.append(f"fade=t=in:st=0:d={min(before.seconds, seconds / 2):.4f}")
    if after.kind == "fade":
        fade = min(after.seconds, seconds / 2)
        fades.append(f"fade=t=out:st={seconds - fade:.4f}:d={fade:.4f}")

    if isinstance(part, CardPart):
        inputs = ["-f", "lavfi", "-i", f"color=c={part.color}:s={width}x{height}:r={fps}:d={seconds + 1:.4f}"]
        chain = [f"trim=end_frame={frames}", "setsar=1"]
        if part.text:
            chain.append(_drawtext(part.text, "(w-tw)/2", "(h-th)/2", height // 7, "white"))
            chain.append(_drawtext("dance compilation", "(w-tw)/2", "h*0.68", height // 20, "yellow"))
        graph = f"[0:v]{','.join(chain + fades + ['format=yuv420p'])}[v]"
    else:
        inputs, shot_labels, steps = [], [], []
        for index, shot in enumerate(part.shots):
            inputs += ["-ss", f"{shot.start_s:.4f}", "-t", f"{shot.seconds + 0.5:.4f}", "-i", str(shot.video)]
            punch_in = f"crop=iw/{shot.zoom:.4f}:ih/{shot.zoom:.4f}," if shot.zoom != 1.0 else ""
            steps.append(f"[{index}:v]fps={fps},{punch_in}{_layout(part.layout, width, height, index)},"
                         f"tpad=stop_mode=clone:stop=-1,trim=end_frame={_frames(shot.seconds, fps)},"
                         f"setpts=PTS-STARTPTS[s{index}]")
            shot_labels.append(f"[s{index}]")
        chain = [f"eq=brightness={part.brightness:.3f}"] if part.brightness else []
        if part.caption:
            half, size = seconds / 2, height // 18
            first, second = f":enable='lt(t,{half:.3f})'", f":enable='gte(t,{half:.3f})'"
            chain.append(_drawtext(part.caption, "w*0.06", "h*0.08", size, "white@0.8") + first)
            chain.append(_drawtext(part.caption, "w*0.94-tw", "h*0.88", size, "white@0.8") + second)
        chain += fades + [f"trim=end_frame={frames}", "format=yuv420p"]
        steps.append(f"{''.join(shot_labels)}concat=n={len(shot_labels)}:v=1:a=0,{','.join(chain)}[v]")
        graph = ";".join(steps)
    run_ffmpeg([*inputs, "-filter_complex", graph, "-map", "[v]", "-frames:v", str(frames), "-r", str(fps),
                "-c:v", "libx264", "-preset", "ultrafast", "-crf", "14", out], what=f"render part {out.stem}",
               binary=system_ffmpeg())


def _layout(layout: Layout, width: int, height: int, index: int) -> str:
    """Fit a shot into the compilation frame: black bars, a blurred copy behind it, or cropped to fill."""
    fit = f"scale={width}:{height}:force_original_aspect_ratio=decrease:force_divisible_by=2"
    if layout == "pad":
        return f"{fit},pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1"
    if layout == "fill":
        return f"scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height},setsar=1"
    if layout == "blur":
        return (f"split[bg{index}][fg{index}];[bg{index}]scale={width}:{height}:force_original_aspect_ratio=increase,"
                f"crop={width}:{height},boxblur=20:2[bb{index}];[fg{index}]{fit}[ff{index}];"
                f"[bb{index}][ff{index}]overlay=(W-w)/2:(H-h)/2,setsar=1")
    raise ValueError(f"unknown layout {layout!r}; use pad, blur or fill")


def _drawtext(text: str, x: str, y: str, size: int, color: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace(":", "\\:")
    font = f"fontfile={FONT}:" if FONT.exists() else ""
    return (f"drawtext={font}text='{escaped}':x={x}:y={y}:fontsize={max(size, 8)}:fontcolor={color}"
            f":borderw=2:bordercolor=black@0.6")
