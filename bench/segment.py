"""Clip-boundary benchmark: our detector against PySceneDetect on edited compilations with known spans.

    .venv/bin/python bench/segment.py                                # ours vs PySceneDetect, 16 compilations
    .venv/bin/python bench/segment.py --first 8 --compilations 8     # the held-out half (see below)
    .venv/bin/python bench/segment.py --split calibration --size 640x360 --candidates cands.csv
    .venv/bin/python bench/segment.py --audio-calibration 200        # sound-only calibration cuts

Building the 16 benchmark compilations (1280x720, x264 veryfast with B-frames, like YouTube's
H.264) takes 15-25 min on 2 busy cores, once; scoring them about 3 min.

Builds compilations (fixed seeds) from the real dance clips in ../shared/testdata/real_dance and
real music from the Debian package wesnoth-1.16-music, each with hard cuts, cross-fades, fades
through black, title cards, a clip with an internal camera cut (two shots of ONE recording under
one continuous song excerpt: a punch-in zoom in even compilations, a jump cut later into the same
video in odd ones; a shot of another video is another clip, whatever the music does), two
consecutive clips sharing a song (in even calibration compilations one excerpt runs on across
their cut, as in every held-out one) and a 3-second clip, plus borders (black bars, blurred fill),
per-clip @user captions that jump corners, and a channel watermark.

Scores boundary precision / recall / F1 at +-0.5 s and +-1.0 s (a boundary is a clip start or
end; a cut between two clips is one boundary, a title card between them gives two), and runs
PySceneDetect's ContentDetector and AdaptiveDetector (defaults) on the same videos in the same
run. Speed is seconds of 1280x720 video per wall-clock second, one video at a time (ours decodes
a video in one time part per core, ``BoundaryConfig.decode_parts``); ``--jobs N`` adds our
throughput with N videos analysed at once (one part and one ffmpeg decoding thread each), which
is how ``build`` runs the stage over a manifest's compilations.

Data split. The detector's thresholds (``BoundaryConfig``) were calibrated on ``--split
calibration`` only (its compilations, ``--candidates`` tables and ``--audio-calibration``): seeds
100+, the odd-numbered videos and the odd-numbered songs. The benchmark (``--split benchmark``,
the default) uses seeds 0+, the even-numbered videos and the even-numbered songs (videos sorted
by name, whole clips and 2-second clips numbered separately; songs are the Wesnoth tracks of at
least 44 s, sorted by name), so no clip, song or seed is shared between what was tuned and what
is scored.

Held out (``--split held_out``, seeds 200+): compilations made as the others but with MUSIC from other
collections and genres than the Wesnoth (orchestral) tracks the detector was calibrated on: the Debian
packages warzone2100-music (electronic, industrial), singularity-music (ambient electronic) and
hyperrogue-music (folk, Caribbean, chiptune, orchestral), resampled to 44.1 kHz; and with the cases the
calibration set lacks: in every compilation two different clips under ONE continuous excerpt (the music
runs on across the cut), two consecutive clips of different dancers in the same kind of room (two white
studios; two home rooms), joined by a cut (even compilations) or a cross-fade between the similar pictures
(odd ones), and a punch-in zoom (the same moment, closer) with the music running on, which is no
boundary. Its ordinary clips come from the benchmark's videos; the same-room pairs need rooms the footage
has only in both halves (musepose + romp, mimic 0 + mimic 3), so two of those four videos are calibration
footage: ../shared has 17 real videos. The headline figure is this split's; ``--split calibration``
gives the calibration figure next to it.

Held out B (``--split held_out_b``, seeds 300+), added once ``held_out`` had been used to find
what broke (its title cards whose text fades in after a cut to black): made as ``held_out``, from the
same videos, with music from yet other Debian packages (rock and metal songs with vocals:
fretsonfire-songs-muldjord/-sectoid; an adventure game's score: drascula-music). Scored once, after
the change it checks.

Held out C (``--split held_out_c``, seeds 400+), added once ``held_out_b`` had been used to find what
broke (the layout evidence and the weak-before-clear rule of the minimum length came from its misses): made as
the others, from the same videos, with music from yet other Debian packages: nexuiz-music (electronic, techno,
industrial metal), ufoai-music (orchestral and ambient film score) and planetblupi-music-ogg (a children's
game's light pop and jazz). Scored once, after those changes.

Held out D (``--split held_out_d``, seeds 500+; use ``--compilations 16``), added once ``held_out_c`` had been used
to find what broke (two bright rooms under one excerpt whose walls fell into the same cells of the 64-bin colour
histograms): made as the others, from the same videos, with the music of three more games' data packages:
hedgewars-data (themed tracks: oriental, pirate, rock, city, snow...), extremetuxracer-data and xmoto-data (game
rock and electronic). Scored once, after that change.

Held out E (``--split held_out_e``, seeds 600+; use ``--compilations 16``), added once ``held_out_d`` had been used
to find what broke (all its misses were weak cuts between bright rooms: the cut score's colour term now uses the
512-bin histograms too): made as the others, from the same videos, with the music of freedroidrpg-data (science
fiction electronic and ambient) and megaglest-data (its factions' themes: Egyptian, Indian, Norse, Persian, Roman).
Scored once, after that change; its figure is the headline one.

Held out. Benchmark seeds 0-7 were scored during development: three rounds of failure analysis
on them changed the detector (dissolves found from runs of mixed frames, the restart test, the
sound evidence a faint cut needs). Seeds 8-15 were built afterwards and scored once, untouched:
``--first 8 --compilations 8`` gives that clean figure; the default scores all 16.

Compilations are cached in --work (default: tiktok-dm-bench-segment/ in the system temporary
folder) and re-used when their plan and the composer are unchanged.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import logging
import os
import platform
import random
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from music_archives import songs_in
from tiktok_dm.media import probe
from tiktok_dm.testing.edited_compilation import (COMPOSER_VERSION, CardPart, ClipPart, EditedCompilation, Shot,
                                                  Transition, compose_edited_compilation, read_excerpt)

REAL_DANCE = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "real_dance"
MUSIC = Path("/usr/share/games/wesnoth/1.16/data/core/music")
SAMPLE_RATE = 44100
TOLERANCES = (0.5, 1.0)

# Videos of at least this long give the clips (the 2-s ones in ../shared are never used). The last
# frames of a file are never used (some clips end on a different picture).
MIN_CLIP_VIDEO_S = 3.3
TAIL_S = 0.15
SEEDS = {"benchmark": 0, "calibration": 100, "held_out": 200, "held_out_b": 300, "held_out_c": 400, "held_out_d": 500,
         "held_out_e": 600}
# The held-out splits' music: other Debian packages than the calibration's (see the module docstring). held_out_b
# was added after held_out had been used to find what broke: rock and metal songs with their vocals (Frets on Fire's
# backing tracks, song.ogg) and an adventure game's score.
HELD_OUT_MUSIC = {"held_out": ((Path("/usr/share/games/warzone2100/music"), "*"),
                               (Path("/usr/share/games/singularity/music"), "*"),
                               (Path("/usr/share/hyperrogue/music"), "*")),
                  "held_out_b": ((Path("/usr/share/games/fretsonfire/data/songs"), "song.ogg"),
                                 (Path("/usr/share/scummvm/drascula/audio"), "*")),
                  # a .pk3 is a zip archive: its songs are unpacked once (music_archives.CACHE)
                  "held_out_c": ((Path("/usr/share/games/nexuiz/data/music.pk3"), "sound/cdtracks/*.ogg"),
                                 (Path("/usr/share/games/ufoai/base/0music.pk3"), "music/*.ogg"),
                                 (Path("/usr/share/planetblupi/music"), "*.ogg")),
                  "held_out_d": ((Path("/usr/share/games/hedgewars/Data/Music"), "*.ogg"),
                                 (Path("/usr/share/games/etr/music"), "*.ogg"),
                                 (Path("/usr/share/games/xmoto/Textures/Musics"), "*.ogg")),
                  "held_out_e": ((Path("/usr/share/freedroidrpg/data/sound/music"), "*.ogg"),
                                 (Path("/usr/share/games/megaglest"), "music/*.ogg"))}
HELD_OUT_PACKAGES = {"held_out": "warzone2100-music singularity-music hyperrogue-music",
                     "held_out_b": "fretsonfire-songs-muldjord fretsonfire-songs-sectoid drascula-music",
                     "held_out_c": "nexuiz-music ufoai-music planetblupi-music-ogg",
                     "held_out_d": "hedgewars-data extremetuxracer-data xmoto-data",
                     "held_out_e": "freedroidrpg-data megaglest-data"}
# Two different dancers in the same kind of room (held_out): white studios; home rooms.
SAME_ROOM = (("musepose_ubc_91BjuE6irxS.mp4", "romp_sample_video2.mp4"), ("mimic_raw_0.mp4", "mimic_raw_3.mp4"))
PUNCH_IN_ZOOM = 1.5
CARD_TEXTS = ["#1", "#2", "#3", "NEXT", "Subscribe!", "Part 2", "WOW", "Top 10"]
CARD_COLORS = ["black", "navy", "darkred", "white", "purple", "darkgreen", "0x202020"]
USERS = ["@dancequeen", "@moves.by.k", "@tiktok_star", "@j.dance", "@the_crew", "@lil.moves"]

log = logging.getLogger("bench.segment")


@dataclasses.dataclass(frozen=True)
class Case:
    """One benchmark compilation: the file, its ground truth and what each true boundary is."""

    name: str
    path: Path
    duration_s: float
    clips: list[tuple[float, float]]
    internal_cuts: list[float]
    boundary_kinds: dict[str, str]  # "%.4f" % time -> what kind of boundary it is


@functools.lru_cache(maxsize=None)
def video_pools(split: str, folder: Path) -> dict[str, float]:
    """{name: usable seconds} of the videos of ``split``.

    Every video in ``folder`` is used by exactly one split: sorted by name, alternately benchmark and
    calibration.
    """
    durations = {path.name: probe(path).duration_s - TAIL_S for path in sorted(folder.glob("*.mp4"))}
    if not durations:
        raise FileNotFoundError(f"no .mp4 in {folder}")
    long = [name for name, seconds in durations.items() if seconds >= MIN_CLIP_VIDEO_S]
    pick = 1 if split == "calibration" else 0  # the held-out split's ordinary clips: the benchmark's videos
    return {name: durations[name] for name in long[pick::2]}


@functools.lru_cache(maxsize=None)
def songs(split: str) -> list[Path]:
    if split in HELD_OUT_MUSIC:
        found = sorted(p for source, pattern in HELD_OUT_MUSIC[split] for p in songs_in(source, pattern)
                       if p.suffix in (".ogg", ".opus"))
        if not found:
            raise FileNotFoundError(f"no {split} music: install the Debian packages {HELD_OUT_PACKAGES[split]} "
                                    "(bash scripts/install.sh --bench)")
        return [p for p in found if sf.info(str(p)).duration >= 44]
    long_enough = [p for p in sorted(MUSIC.glob("*.ogg")) if sf.info(str(p)).duration >= 44]
    return long_enough[0::2] if split == "benchmark" else long_enough[1::2]


def song_excerpt(song: Path, offset_s: float, seconds: float) -> np.ndarray:
    """``seconds`` of ``song`` from ``offset_s``, mono at SAMPLE_RATE (the held-out music is 48 kHz)."""
    rate = sf.info(str(song)).samplerate
    if rate == SAMPLE_RATE:
        return read_excerpt(song, offset_s, seconds, SAMPLE_RATE)
    from fractions import Fraction

    from scipy.signal import resample_poly

    audio, _ = sf.read(str(song), start=int(offset_s * rate), stop=int((offset_s + seconds) * rate), dtype="float32",
                       always_2d=True)
    ratio = Fraction(SAMPLE_RATE, rate)
    return resample_poly(audio.mean(axis=1), ratio.numerator, ratio.denominator).astype(np.float32)


def pick_excerpt(rng: random.Random, song: Path, seconds: float, avoid: float | None = None) -> float:
    """An offset where the song is actually playing (a game track has quiet intros and codas)."""
    length = sf.info(str(song)).duration
    for _ in range(50):
        offset = rng.uniform(5.0, max(5.0, length - seconds - 5.0))
        if avoid is not None and abs(offset - avoid) < seconds + 10:
            continue
        excerpt = song_excerpt(song, offset, seconds)
        if np.sqrt(np.mean(excerpt ** 2) + 1e-12) > 10 ** (-28 / 20):
            return offset
    return offset


def plan(split: str, index: int, folder: Path = REAL_DANCE) -> tuple[list, dict]:
    """The parts of compilation ``index`` of ``split`` and a note of which hard cases it holds."""
    seed = SEEDS[split] + index
    rng = random.Random(seed)
    videos = video_pools(split, folder)
    pool = songs(split)
    n_clips = rng.randint(7, 9)
    held_out = split in HELD_OUT_MUSIC
    # The music runs on across `pair` (held_out; even calibration compilations, so the rule for it is calibrated there).
    runs_on = held_out or (split == "calibration" and index % 2 == 0)
    if held_out:  # `room` joins two dancers of one kind of room
        room = rng.randrange(0, n_clips - 1)
        pair = rng.choice([i for i in range(n_clips - 1) if {i, i + 1}.isdisjoint({room, room + 1})])
        rest = [i for i in range(n_clips) if i not in {room, room + 1, pair, pair + 1}]
        three_s = rng.choice([i for i in rest if 0 < i < n_clips - 1] or rest)
        internal = rng.choice([i for i in rest if i != three_s])
    else:
        room = None
        three_s = rng.randrange(1, n_clips - 1)
        internal = rng.choice([i for i in range(n_clips) if i != three_s])
        pair = rng.choice([i for i in range(n_clips - 1) if three_s not in (i, i + 1) and internal not in (i, i + 1)])
    restart = index % 2 == 1 and not held_out  # odd compilations: the shared song restarts from the same offset

    # Transitions between consecutive clips ("slot" i sits between clip i and clip i+1).
    slots = []
    for i in range(n_clips - 1):
        if i == room:
            slots.append("crossfade" if index % 2 else "cut")
            continue
        if i == pair or three_s in (i, i + 1):
            slots.append("cut")
            continue
        slots.append(rng.choices(["cut", "crossfade", "black", "card"], weights=[40, 27, 13, 20])[0])
    crossfades = {i: round(rng.uniform(0.4, 1.0) * 30) / 30 for i, kind in enumerate(slots) if kind == "crossfade"}

    chosen_songs = rng.sample(pool, n_clips)
    chosen_songs[pair + 1] = chosen_songs[pair]
    parts, last_video, pair_offset, pair_seconds = [], None, None, 0.0
    if rng.random() < 0.5:
        parts.append(CardPart(rng.choice(CARD_TEXTS), round(rng.uniform(1.0, 2.0) * 30) / 30,
                              color=rng.choice(CARD_COLORS), sample_rate=SAMPLE_RATE))
    for i in range(n_clips):
        extra = crossfades.get(i - 1, 0) / 2 + crossfades.get(i, 0) / 2
        seconds = 3.0 if i == three_s else round(rng.uniform(3.5, 6.5) * 30) / 30
        part_seconds = seconds + extra
        if i == internal and (held_out or index % 2 == 0):
            shots = _punch_in_shots(rng, videos, part_seconds, last_video, folder)
        elif held_out and room is not None and i in (room, room + 1):
            video = SAME_ROOM[index % 2][i - room]
            usable = probe(folder / video).duration_s - TAIL_S
            shots = (Shot(folder / video, round(rng.uniform(0.0, usable - part_seconds), 2), part_seconds),)
        elif i == internal:
            shots = _jump_cut_shots(rng, videos, part_seconds, last_video, folder)
        else:
            candidates = [v for v, usable in videos.items() if usable >= part_seconds + 0.1 and v != last_video]
            video = rng.choice(candidates)
            start = round(rng.uniform(0.0, videos[video] - part_seconds), 2)
            shots = (Shot(folder / video, start, part_seconds),)
        last_video = shots[-1].video.name
        song = chosen_songs[i]
        if i == pair + 1 and runs_on:
            offset = pair_offset + pair_seconds  # one excerpt runs on across the cut
        elif i == pair + 1:
            offset = pair_offset if restart else pick_excerpt(rng, song, part_seconds, avoid=pair_offset)
        elif i == pair and runs_on:
            offset = pick_excerpt(rng, song, part_seconds + 7.0)  # room for the next clip's continuation
        else:
            offset = pick_excerpt(rng, song, part_seconds)
        if i == pair:
            pair_offset, pair_seconds = offset, part_seconds
        slot = slots[i] if i < n_clips - 1 else "cut"
        transition = (Transition("crossfade", crossfades[i]) if slot == "crossfade" else
                      Transition("fade", round(rng.uniform(0.3, 0.5) * 30) / 30) if slot == "black" else
                      Transition("fade", 0.2) if slot == "card" and rng.random() < 0.4 else Transition())
        parts.append(ClipPart(shots, song_excerpt(song, offset, part_seconds + 0.1), SAMPLE_RATE,
                              layout=rng.choice(["pad", "pad", "blur", "fill"]),
                              caption=rng.choice(USERS) if rng.random() < 0.6 else None,
                              brightness=round(rng.uniform(-0.06, 0.06), 3), transition=transition))
        if slot == "black":
            parts.append(CardPart("", round(rng.uniform(0.2, 0.6) * 30) / 30, color="black", sample_rate=SAMPLE_RATE,
                                  transition=transition))
        elif slot == "card":
            jingle = None
            if rng.random() < 0.5:
                other = rng.choice([p for p in pool if p not in chosen_songs])
                jingle = 0.1 * song_excerpt(other, pick_excerpt(rng, other, 3.0), 3.0)
            parts.append(CardPart(rng.choice(CARD_TEXTS), round(rng.uniform(1.0, 2.5) * 30) / 30,
                                  color=rng.choice(CARD_COLORS), music=jingle, sample_rate=SAMPLE_RATE,
                                  transition=Transition("fade", 0.2) if rng.random() < 0.4 else Transition()))
    notes = {"seed": seed, "clips": n_clips, "three_second_clip": three_s, "internal_cut_clip": internal,
             "shared_song_pair": [pair, pair + 1], "shared_song_restarts": restart, "slots": slots,
             **({"music_runs_on": True} if runs_on else {}),
             **({"same_room_pair": [room, room + 1]} if held_out else {})}
    return parts, notes


def _punch_in_shots(rng: random.Random, videos: dict[str, float], seconds: float, last_video: str | None,
                    folder: Path) -> tuple[Shot, ...]:
    """A punch-in (held_out; even compilations of the others): one video, the second shot the very next moment,
    zoomed in; one excerpt over both.
    It comes at 30-40 % of the clip, away from the half where the composer moves the clip's caption."""
    video = rng.choice([v for v, usable in videos.items() if usable >= seconds + 0.1 and v != last_video])
    start = round(rng.uniform(0.0, videos[video] - seconds), 2)
    first_s = round(seconds * rng.uniform(0.3, 0.4) * 30) / 30
    return (Shot(folder / video, start, first_s), Shot(folder / video, start + first_s, seconds - first_s,
                                                        zoom=PUNCH_IN_ZOOM))


def _jump_cut_shots(rng: random.Random, videos: dict[str, float], seconds: float, last_video: str | None,
                    folder: Path) -> tuple[Shot, ...]:
    """A jump cut: the same dancer, later in the same video (the skipped part makes the picture jump); one excerpt
    over both. An internal cut keeps the recording: a shot of another video under the same song is another clip."""
    usable = {v: length for v, length in videos.items() if length >= seconds and v != last_video}
    jumpable = [v for v, length in usable.items() if length >= seconds + 1.5] or sorted(usable)
    first = rng.choice(jumpable)
    first_s = round(seconds / 2 * 30) / 30
    gap = max(0.0, videos[first] - seconds)
    return (Shot(folder / first, 0.0, first_s), Shot(folder / first, first_s + gap, seconds - first_s))


def build_cases(split: str, count: int, work: Path, width: int, height: int, preset: str,
                folder: Path = REAL_DANCE, first: int = 0) -> list[Case]:
    """Build (or re-use) ``count`` compilations of ``split``; the cache key is the plan and the composer's version."""
    work.mkdir(parents=True, exist_ok=True)
    cases = []
    for index in range(first, first + count):
        parts, notes = plan(split, index, folder)
        recipe = repr([(_describe(part)) for part in parts]) + repr((width, height, preset))
        key = hashlib.sha1(f"{recipe}{COMPOSER_VERSION}".encode()).hexdigest()[:10]
        name = f"{split}{index:02d}"
        video, truth = work / f"{name}-{key}.mp4", work / f"{name}-{key}.json"
        if not truth.exists():
            started = time.perf_counter()
            compilation = compose_edited_compilation(parts, video, width, height, preset=preset, crf=23,
                                                     channel_watermark="@BestOfTikTok")
            truth.write_text(json.dumps(_truth(compilation, notes), indent=1))
            log.info("built %s (%.0f s of video) in %.0f s", video.name, compilation.duration_s,
                     time.perf_counter() - started)
        data = json.loads(truth.read_text())
        cases.append(Case(name, video, data["duration_s"], [tuple(c) for c in data["clips"]], data["internal_cuts"],
                          data["boundary_kinds"]))
    return cases


def _describe(part) -> tuple:
    if isinstance(part, CardPart):
        music = None if part.music is None else round(float(np.abs(part.music).sum()), 3)
        return ("card", part.text, part.seconds, part.color, music, part.transition)
    return ("clip", part.shots, round(float(np.abs(part.music).sum()), 3), part.layout, part.caption,
            part.brightness, part.transition)


def _truth(compilation: EditedCompilation, notes: dict) -> dict:
    """Ground truth plus the kind of every true boundary (for the per-case table)."""
    names = {"cut": "hard cut", "crossfade": "cross-fade", "black": "fade to black", "card": "title card"}
    clips, kinds = compilation.clips, {}
    for i in range(len(clips) - 1):
        kind = ("music runs on" if i == notes["shared_song_pair"][0] and notes.get("music_runs_on") else
                "same song, next clip" if i == notes["shared_song_pair"][0] else
                f"same room, {names[notes['slots'][i]]}" if i == notes.get("same_room_pair", [None])[0] else
                "3-second clip" if notes["three_second_clip"] in (i, i + 1) else names[notes["slots"][i]])
        kinds[f"{clips[i][1]:.4f}"] = kind
        kinds[f"{clips[i + 1][0]:.4f}"] = kind
    if clips[0][0] > 0:
        kinds[f"{clips[0][0]:.4f}"] = "title card"
    return {"duration_s": compilation.duration_s, "clips": clips, "cards": compilation.cards,
            "internal_cuts": compilation.internal_cuts, "boundary_kinds": kinds, "notes": notes}


# ---------------------------------------------------------------------------------- scoring

def boundaries(clips: list[tuple[float, float]], duration_s: float, merge_s: float = 0.05) -> list[float]:
    """Every clip start and end except the video's own start and end; a shared end/start counts once."""
    points = sorted(t for clip in clips for t in clip if merge_s < t < duration_s - merge_s)
    merged: list[float] = []
    for t in points:
        if not merged or t - merged[-1] > merge_s:
            merged.append(t)
    return merged


def match(predicted: list[float], truth: list[float], tolerance: float) -> list[tuple[int, int]]:
    """One-to-one pairs (predicted index, true index) within ``tolerance``, closest first."""
    pairs = sorted((abs(p - t), i, j) for i, p in enumerate(predicted) for j, t in enumerate(truth)
                   if abs(p - t) <= tolerance)
    used_p, used_t, matched = set(), set(), []
    for _, i, j in pairs:
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
            matched.append((i, j))
    return matched


@dataclasses.dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, predicted: list[float], truth: list[float], tolerance: float) -> list[tuple[int, int]]:
        pairs = match(predicted, truth, tolerance)
        self.tp += len(pairs)
        self.fp += len(predicted) - len(pairs)
        self.fn += len(truth) - len(pairs)
        return pairs

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


# ---------------------------------------------------------------------------------- detectors

def ours(path: Path) -> list[tuple[float, float]]:
    from tiktok_dm.boundaries import detect_clips

    return [(clip.start_s, clip.end_s) for clip in detect_clips(path).clips]


def _ours_one_process(path: Path) -> list[tuple[float, float]]:
    from tiktok_dm.boundaries import BoundaryConfig, detect_clips

    config = BoundaryConfig(decode_parts=1, decode_threads=1)  # as build workers run it
    return [(clip.start_s, clip.end_s) for clip in detect_clips(path, config).clips]


def _import_detector() -> None:
    import tiktok_dm.boundaries  # noqa: F401

    time.sleep(1.0)  # hold this worker so that the next warm-up task starts (and imports in) another one


def throughput(cases: list[Case], jobs: int) -> dict:
    """Our detector over every case with ``jobs`` videos at a time (longest first, as a scheduler that knows the
    durations would), timed once the workers have started and imported the detector: the steady-state rate of a
    long corpus, where both are paid once. The scores are computed from these runs too."""
    from concurrent.futures import ProcessPoolExecutor, wait

    order = sorted(cases, key=lambda case: -case.duration_s)
    with ProcessPoolExecutor(jobs) as pool:
        wait([pool.submit(_import_detector) for _ in range(jobs)])
        started = time.perf_counter()
        results = list(pool.map(_ours_one_process, [case.path for case in order]))
        wall = time.perf_counter() - started
    cases = order
    score = Score(wall=wall, video=sum(case.duration_s for case in cases))
    for case, clips in zip(cases, results):
        score.add("ours", case, clips)
    row = score.row(f"ours, {jobs} at a time")
    row["CPU s / video s"] = None  # pool workers' CPU is not ours to count
    return row


def decode_floor(cases: list[Case], jobs: int) -> dict:
    """The machine's speed at the moment: ffmpeg decoding the pictures alone, with our decoder options and
    nothing else, ``jobs`` videos at a time. Our rows are only comparable between runs next to this one
    (this machine's speed drifts by up to ~30 % within an hour)."""
    from concurrent.futures import ThreadPoolExecutor

    from tiktok_dm.boundaries.decode import FAST_DECODE_OPTIONS
    from tiktok_dm.media import ffmpeg_binary

    def decode(case: Case) -> None:
        subprocess.run([ffmpeg_binary(), "-nostdin", "-v", "error", "-threads", "1", *FAST_DECODE_OPTIONS,
                        "-i", str(case.path), "-map", "0:v:0", "-f", "null", "-"], check=True)

    started = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(decode, sorted(cases, key=lambda case: -case.duration_s)))
    wall = time.perf_counter() - started
    video = sum(case.duration_s for case in cases)
    return {"detector": f"(ffmpeg picture decode alone, {jobs} at a time)", "wall s": round(wall, 1),
            "video s / wall s": round(video / wall, 1)}


def joined_case(cases: list[Case], work: Path) -> Case:
    """The cases joined into one long compilation (concat demuxer, stream copy: the same pictures and sounds),
    as YouTube compilations are: 10-20 minutes. Its truth is the cases' truth moved by where each starts."""
    from tiktok_dm.media import probe

    key = hashlib.sha1(repr([case.path.name for case in cases]).encode()).hexdigest()[:10]
    path = work / f"joined-{key}.mp4"
    if not path.exists():
        listing = work / f"joined-{key}.txt"
        listing.write_text("".join(f"file '{case.path.resolve()}'\n" for case in cases))
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
                        "-c", "copy", str(path.with_suffix(".tmp.mp4"))], check=True)
        path.with_suffix(".tmp.mp4").replace(path)
    clips, internal, kinds, offset = [], [], {}, 0.0
    for case in cases:
        clips += [(start + offset, end + offset) for start, end in case.clips]
        internal += [cut + offset for cut in case.internal_cuts]
        kinds.update({f"{float(time) + offset:.4f}": kind for time, kind in case.boundary_kinds.items()})
        offset += probe(case.path).duration_s  # the concat demuxer starts the next file there
    return Case("joined", path, probe(path).duration_s, clips, internal, kinds)


def pyscenedetect(kind: str):
    def run(path: Path) -> list[tuple[float, float]]:
        from scenedetect import AdaptiveDetector, ContentDetector, detect

        detector = ContentDetector() if kind == "content" else AdaptiveDetector()
        scenes = detect(str(path), detector)
        seconds = (lambda t: t.seconds) if hasattr(scenes[0][0] if scenes else None, "seconds") else \
            (lambda t: t.get_seconds())  # scenedetect >= 0.7 / 0.6
        return [(seconds(start), seconds(end)) for start, end in scenes]

    run.__name__ = f"pyscenedetect_{kind}"
    return run


DETECTORS = {"ours": ours, "PySceneDetect Content": pyscenedetect("content"),
             "PySceneDetect Adaptive": pyscenedetect("adaptive")}


def cpu_seconds() -> float:
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclasses.dataclass
class Score:
    """One detector's running totals over the cases."""

    tallies: dict[float, Tally] = dataclasses.field(default_factory=lambda: {tol: Tally() for tol in TOLERANCES})
    kinds: dict[str, list[int]] = dataclasses.field(default_factory=dict)  # kind -> [found, total] at 0.5 s
    wall: float = 0.0
    cpu: float = 0.0
    video: float = 0.0
    internal_split: int = 0
    internal_total: int = 0

    def add(self, name: str, case: Case, clips: list[tuple[float, float]]) -> None:
        predicted, truth = boundaries(clips, case.duration_s), boundaries(case.clips, case.duration_s)
        for tol in TOLERANCES:
            pairs = self.tallies[tol].add(predicted, truth, tol)
            if tol != TOLERANCES[0]:
                continue
            found, used = {j for _, j in pairs}, {i for i, _ in pairs}
            for j, t in enumerate(truth):
                tally = self.kinds.setdefault(case.boundary_kinds.get(f"{t:.4f}", "?"), [0, 0])
                tally[0] += j in found
                tally[1] += 1
            log.info("%s %s: missed %s, extra %s", name, case.name,
                     [round(t, 2) for j, t in enumerate(truth) if j not in found],
                     [round(p, 2) for i, p in enumerate(predicted) if i not in used])
        for cut in case.internal_cuts:
            self.internal_total += 1
            self.internal_split += any(abs(p - cut) <= TOLERANCES[0] for p in predicted)

    def row(self, name: str) -> dict:
        row = {"detector": name}
        for tol in TOLERANCES:
            t = self.tallies[tol]
            row.update({f"P@{tol}": round(t.precision, 3), f"R@{tol}": round(t.recall, 3), f"F1@{tol}": round(t.f1, 3)})
        row.update({"internal cuts split": f"{self.internal_split}/{self.internal_total}",
                    "wall s": round(self.wall, 1), "video s / wall s": round(self.video / self.wall, 1),
                    "CPU s / video s": round(self.cpu / self.video, 3)})
        return row


def evaluate(cases: list[Case], detectors: dict) -> tuple[list[dict], list[dict]]:
    """Run every detector on every case (detectors take turns on each video, so they share the same
    load); one summary row per detector and one per (detector, boundary kind)."""
    scores = {name: Score() for name in detectors}
    for case in cases:
        for name, detector in detectors.items():
            score = scores[name]
            cpu_before, started = cpu_seconds(), time.perf_counter()
            clips = detector(case.path)
            score.wall += time.perf_counter() - started
            score.cpu += cpu_seconds() - cpu_before
            score.video += case.duration_s
            score.add(name, case, clips)
    summary = [score.row(name) for name, score in scores.items()]
    by_kind = [{"detector": name, "boundary kind": kind, "found @0.5": f"{hit}/{total}"}
               for name, score in scores.items() for kind, (hit, total) in sorted(score.kinds.items())]
    return summary, by_kind


def candidate_table(cases: list[Case]) -> list[dict]:
    """Every candidate our detector judged, labelled with what it really is (for calibration)."""
    from tiktok_dm.boundaries import detect_clips

    rows = []
    for case in cases:
        result = detect_clips(case.path)
        truth = boundaries(case.clips, case.duration_s)
        for c in result.candidates:
            label = ("boundary" if any(abs(c.time_s - t) <= 0.5 for t in truth) else
                     "internal cut" if any(abs(c.time_s - t) <= 0.5 for t in case.internal_cuts) else "nothing")
            rows.append({"case": case.name, "time": c.time_s, "kind": c.kind, "visual": c.visual, "splice": c.splice,
                         "repeat": c.repeat,
                         "song_change": c.song_change, "quietest_db": c.quietest_db, "appearance": c.appearance,
                         "layout": c.layout,
                         "accepted": c.accepted,
                         "truth": label, "kind_of_truth": next((k for t, k in case.boundary_kinds.items()
                                                                if abs(float(t) - c.time_s) <= 0.5), "")})
    return rows

def audio_calibration(count: int, work: Path) -> list[dict]:
    """Sound-only calibration: cuts where one excerpt runs on vs edits (other song, same song jumping or
    restarting), from the calibration songs, through an AAC round trip; the audio evidence at each."""
    import subprocess

    from tiktok_dm.boundaries.audio import audio_features, repeat, song_change, splice
    from tiktok_dm.boundaries.config import BoundaryConfig
    from tiktok_dm.boundaries.decode import decode_audio

    config = BoundaryConfig()
    rng = random.Random(SEEDS["calibration"] + 1000)
    pool = songs("calibration")
    pieces, events, position = [], [], 0.0

    def add(samples: np.ndarray) -> None:
        nonlocal position
        pieces.append(samples)
        position += len(samples) / SAMPLE_RATE

    for index in range(count):
        kind = ("one excerpt runs on", "other song", "same song jumps", "same song restarts")[index % 4]
        first, second = rng.uniform(3, 6), rng.uniform(3, 6)
        song = rng.choice(pool)
        clip_start = position
        if kind == "one excerpt runs on":
            offset = pick_excerpt(rng, song, first + second)
            events.append((position + first, kind, clip_start))
            add(read_excerpt(song, offset, first + second, SAMPLE_RATE))
        else:
            offset = pick_excerpt(rng, song, first)
            add(read_excerpt(song, offset, first, SAMPLE_RATE))
            events.append((position, kind, clip_start))
            if kind == "other song":
                other = rng.choice([p for p in pool if p != song])
                add(read_excerpt(other, pick_excerpt(rng, other, second), second, SAMPLE_RATE))
            elif kind == "same song jumps":
                add(read_excerpt(song, pick_excerpt(rng, song, second, avoid=offset), second, SAMPLE_RATE))
            else:
                add(read_excerpt(song, offset, second, SAMPLE_RATE))
        spacer = rng.choice(pool)  # a third song between examples keeps each one's context clean
        add(read_excerpt(spacer, pick_excerpt(rng, spacer, 4.0), 4.0, SAMPLE_RATE))
    work.mkdir(parents=True, exist_ok=True)
    wav, m4a = work / "audio_calibration.wav", work / "audio_calibration.m4a"
    sf.write(str(wav), np.concatenate(pieces), SAMPLE_RATE)
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(wav), "-c:a", "aac", "-b:a", "128k",
                    str(m4a)], check=True)
    features = audio_features(decode_audio(m4a, config.audio_sample_rate), config.audio_sample_rate)
    rows = []
    for time_s, kind, clip_start in events:
        located = time_s + rng.uniform(-0.02, 0.02)  # where the picture puts the cut: within a source frame
        score, _ = splice(features, located - 0.05, located + 0.025)
        change = song_change(features, located, config.audio_window_s, guard_s=0.1)
        evidence = score + config.song_change_weight * change
        replay = repeat(features, located, clip_start + rng.uniform(-0.1, 0.1))
        rows.append({"kind": kind, "splice": round(score, 2), "song_change": round(change, 3),
                     "audio_change": round(evidence, 2), "repeat": round(replay, 3),
                     "boundary": evidence >= config.cut_audio_threshold or replay >= config.restart_correlation})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "tiktok-dm-bench-segment",
                        help="where compilations are cached")
    parser.add_argument("--split", choices=list(SEEDS), default="benchmark")
    parser.add_argument("--compilations", type=int, default=16)
    parser.add_argument("--first", type=int, default=0,
                        help="index of the first compilation (its seed is the split's seed + index)")
    parser.add_argument("--size", default="1280x720", help="compilation frame size (speed is quoted at 1280x720)")
    parser.add_argument("--preset", default="veryfast", help="x264 preset of the compilations (B-frames like YouTube)")
    parser.add_argument("--real-dance", type=Path, default=REAL_DANCE, help="folder of real dance clips (.mp4)")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--ours-only", action="store_true", help="skip PySceneDetect")
    parser.add_argument("--jobs", type=int, default=0, metavar="N",
                        help="also measure our throughput with N videos analysed at once")
    parser.add_argument("--joined", action="store_true",
                        help="also time ours on one long video: the compilations joined (10.5 min at the default 16)")
    parser.add_argument("--candidates", type=Path, help="calibration: write every judged candidate to this CSV")
    parser.add_argument("--audio-calibration", type=int, metavar="N",
                        help="calibration: N sound-only examples (continuous vs edited), audio evidence per kind")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.audio_calibration:
        import pandas as pd

        table = pd.DataFrame(audio_calibration(args.audio_calibration, args.work / "audio"))
        print(table.groupby("kind")[["splice", "song_change", "audio_change", "repeat"]].describe(
            percentiles=[0.05, 0.1, 0.5, 0.9, 0.95]).T.round(3).to_string())
        print("\njudged a boundary (a hard cut at each):")
        print(table.groupby("kind")["boundary"].agg(["sum", "count"]).to_string())
        return
    width, height = map(int, args.size.split("x"))
    cases = build_cases(args.split, args.compilations, args.work / args.split, width, height, args.preset,
                        args.real_dance, args.first)
    if args.build_only:
        return
    import pandas as pd

    pd.set_option("display.width", 200)
    if args.candidates:
        table = pd.DataFrame(candidate_table(cases))
        table.to_csv(args.candidates, index=False)
        print(table.sort_values(["kind", "truth", "song_change"]).to_string(index=False))
        return
    detectors = {name: DETECTORS[name] for name in (["ours"] if args.ours_only else DETECTORS)}
    summary, by_kind = evaluate(cases, detectors)
    if args.jobs:
        summary.append(throughput(cases, args.jobs))
        summary.append(decode_floor(cases, args.jobs))
    if args.joined:
        joined, _ = evaluate([joined_case(cases, args.work / args.split)], {"ours": ours})
        summary.append({**joined[0], "detector": "ours, one joined video"})
    video_s = sum(case.duration_s for case in cases)
    print(f"\n{len(cases)} {args.split} compilations, {video_s:.0f} s of {args.size} video, "
          f"{sum(len(boundaries(c.clips, c.duration_s)) for c in cases)} true boundaries; "
          f"cpu={platform.processor() or platform.machine()} x{os.cpu_count()}, load average at the end "
          f"{os.getloadavg()[0]:.1f} (other jobs share this machine: speed figures are under load)")
    print(pd.DataFrame(summary).to_string(index=False))
    print()
    print(pd.DataFrame(by_kind).pivot(index="boundary kind", columns="detector", values="found @0.5").to_string())


if __name__ == "__main__":
    main()
