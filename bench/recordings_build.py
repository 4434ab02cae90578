"""The same recording across the compilations of one real build: `tiktok-dm build` over compilations that show the
same real clips again (another layout, caption, brightness, start point), scored against the truth.

Issue 17 asks for precision and recall over the pairs of a multi-compilation build. Three sets, made the same way
from different footage and different music: CALIBRATION (the footage the matcher's settings were chosen on in
bench/duplicates.py, SuperTux music), on which the sound-anchored limits (``RecordingConfig.sound_*``) were chosen
with ``--sweep``; HELD_OUT (the held-out footage long enough for a clip: cdcd_recons_gt, mimic_raw_3,
mmpose_body3d_demo, phalp_vid; Wesnoth music), which reports how they hold; FRESH (the three videos of ../shared
neither uses: sam2_bedroom and mmaction2_structuralize show two people; HyperRogue music), built after the held-out
misses had been studied, so that one figure comes from material no change was made on. Two clips are the same
recording when they show at least 1.5 s (``RecordingConfig.min_overlap_s``) of the same moments of one source video;
the build's recordings.csv is what the matcher found. A clip's sound is its source moment's excerpt of one song per
source video (a re-upload keeps its sound), except the last compilation of each set: "challenge" clips that carry
the sound of another clip (another dancer, or the same dancer at other moments, to the same sound at the same
moment), which must not match that clip.

FRESH2 (built after the FRESH misses had been studied, scored once before any change) uses four real videos that
../shared does not hold, from public repositories (``FETCHED``: repository, path, commit, sha256), and xmoto's
music. This machine reaches no repository host from a script: get the files with the library's `fetch` tool (or
`git show <commit>:<path>` of a clone), name them as the keys of FETCHED and pass their folder as ``--footage``.

    .venv/bin/python bench/recordings_build.py [--set calibration|held_out|fresh|fresh2|both|all] [--sweep]
        [--work DIR] [--footage DIR]

About 2 minutes a set on 2 cores (compose, a local build with poses).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tiktok_dm.testing.edited_compilation import (ClipPart, Shot, compose_edited_compilation,  # noqa: E402
                                                  read_excerpt)
from tiktok_dm.testing.loopback import serve_directory  # noqa: E402

REAL_DANCE = ROOT.parent / "shared" / "testdata" / "real_dance"
MUSIC = {"calibration": Path("/usr/share/games/supertux2/music"),
         "held_out": Path("/usr/share/games/wesnoth/1.16/data/core/music"),
         "fresh": Path("/usr/share/hyperrogue/music"),
         "fresh2": Path("/usr/share/games/xmoto/Textures/Musics")}
# Footage of FRESH2 that ../shared does not hold: file name -> (repository, path, commit, sha256).
FETCHED = {
    "musepose_dance.mp4": ("TMElyralab/MusePose", "assets/videos/dance.mp4", "61c52bd937224a614b3951419b735b639397cb62",
                           "7ef159b9e8e3768d91903267c00a5c9a01f7d8e5a0575010aeb7bc242c33f84d"),
    "hybrik_taiji.mp4": ("Jeff-sjtu/HybrIK", "examples/taiji.mp4", "9b8681dcf3c902dd5dacc01520ba04982990e1e2",
                         "34fa7a96a905a0934116b2f867fd72043a725346cc36897ab34660cf383d4581"),
    "gvhmr_tennis.mp4": ("zju3dv/GVHMR", "docs/example_video/tennis.mp4", "44fbc1999dd57d2180e882c62c78d356d4c840d0",
                         "9fb3c7170b4b1afcf1750e5b6506d97745a16841f855a7cfb3ec869601cc5447"),
    "d2m_motivation_gt.mp4": ("L-YeZhu/D2M-GAN", "docs/samples/motivation_gt.mp4",
                              "5dc5bbf3f83054107069f8625739c9d6b5c70705",
                              "21be3bdcb70fc10027d9c513261f2dc74cde48846a044d6182fd773bbc71411d"),
}
SAMPLE_RATE = 44100
MIN_OVERLAP_S = 1.5


@dataclasses.dataclass(frozen=True)
class Planned:
    clip_id: str
    video: str
    start_s: float
    seconds: float
    layout: str
    caption: str | None
    brightness: float
    # The clip's sound: this video's song at this moment (default: its own video's, at its own start).
    sound: tuple[str, float] | None = None

    @property
    def sound_of(self) -> tuple[str, float]:
        return self.sound or (self.video, self.start_s)


PLANS = {  # set -> compilation -> its clips, in order
    "calibration": {
        "200000": [Planned("e1", "iper_akun_1.mp4", 0.0, 5.0, "pad", "@akun", 0.0),
                   Planned("e2", "romp_sample_video2.mp4", 0.0, 5.0, "blur", None, 0.0),
                   Planned("e3", "mimic_raw_0.mp4", 0.0, 5.0, "fill", "@mimi", 0.03),
                   Planned("e4", "unianimate_source_video.mp4", 0.0, 5.0, "pad", None, 0.0)],
        "200001": [Planned("f1", "musepose_ubc_91BjuE6irxS.mp4", 0.0, 5.5, "fill", "@fashion", -0.04),
                   Planned("f2", "mimic_raw_0.mp4", 1.0, 5.0, "pad", None, 0.05),
                   Planned("f3", "iper_akun_1.mp4", 2.0, 5.0, "blur", None, 0.0),
                   Planned("f4", "alphapose_sddownload_video1.mp4", 0.0, 5.0, "fill", None, 0.0)],
        "200002": [Planned("g1", "romp_sample_video2.mp4", 3.0, 5.0, "fill", "@romp", 0.0),
                   Planned("g2", "unianimate_source_video.mp4", 2.0, 5.0, "blur", None, -0.03),
                   Planned("g3", "musepose_ubc_91BjuE6irxS.mp4", 3.5, 5.5, "pad", None, 0.04),
                   Planned("g4", "alphapose_sddownload_video1.mp4", 0.8, 5.0, "blur", "@ap", 0.0)],
        "200003": [Planned("h1", "mimic_raw_0.mp4", 5.0, 5.0, "blur", "@same.sound", 0.0, ("mimic_raw_0.mp4", 1.0)),
                   Planned("h2", "romp_sample_video2.mp4", 0.0, 5.0, "pad", None, 0.02, ("iper_akun_1.mp4", 2.0)),
                   Planned("h3", "unianimate_source_video.mp4", 4.0, 5.0, "fill", None, 0.0,
                           ("musepose_ubc_91BjuE6irxS.mp4", 0.0))],
    },
    "held_out": {
        "100000": [Planned("a1", "cdcd_recons_gt.mp4", 0.0, 4.5, "pad", "@moves.by.k", 0.0),
                   Planned("a2", "mimic_raw_3.mp4", 0.0, 5.0, "blur", None, 0.0),
                   Planned("a3", "mmpose_body3d_demo.mp4", 0.0, 5.0, "fill", "@the_crew", 0.03),
                   Planned("a4", "phalp_vid.mp4", 0.0, 5.0, "pad", None, 0.0)],
        "100001": [Planned("b1", "mimic_raw_3.mp4", 1.0, 5.0, "fill", "@j.dance", -0.04),
                   Planned("b2", "phalp_vid.mp4", 0.5, 5.0, "blur", None, 0.05),
                   Planned("b3", "cdcd_recons_gt.mp4", 0.4, 4.4, "fill", None, 0.0),
                   Planned("b4", "mimic_raw_3.mp4", 5.2, 4.8, "pad", None, 0.0)],
        "100002": [Planned("c1", "mmpose_body3d_demo.mp4", 2.0, 5.5, "blur", "@lil.moves", 0.0),
                   Planned("c2", "phalp_vid.mp4", 1.0, 4.8, "fill", "@tiktok_star", -0.03),
                   Planned("c3", "mimic_raw_3.mp4", 5.0, 5.0, "blur", None, 0.04),
                   Planned("c4", "cdcd_recons_gt.mp4", 0.0, 2.5, "pad", None, 0.0)],
        "100003": [Planned("d1", "phalp_vid.mp4", 0.0, 5.0, "fill", "@run.club", 0.0, ("mimic_raw_3.mp4", 5.0)),
                   Planned("d2", "cdcd_recons_gt.mp4", 0.0, 4.5, "blur", None, 0.0, ("mmpose_body3d_demo.mp4", 2.0)),
                   Planned("d3", "mimic_raw_3.mp4", 0.0, 5.0, "pad", "@same.sound", 0.02, ("mimic_raw_3.mp4", 5.0)),
                   Planned("d4", "mmpose_body3d_demo.mp4", 0.0, 5.0, "pad", None, 0.0, ("phalp_vid.mp4", 0.5))],
    },
    "fresh": {  # footage neither set uses (two of the three show two people), another music package; scored once
        "300000": [Planned("x1", "sam2_bedroom.mp4", 0.0, 4.5, "pad", "@bed.jump", 0.0),
                   Planned("x2", "mmaction2_structuralize.mp4", 0.0, 5.0, "blur", None, 0.0),
                   Planned("x3", "mmhuman3d_single_person.mp4", 0.0, 3.2, "fill", None, 0.02)],
        "300001": [Planned("y1", "mmaction2_structuralize.mp4", 2.0, 5.0, "fill", "@hoops", -0.03),
                   Planned("y2", "sam2_bedroom.mp4", 1.5, 4.5, "blur", None, 0.0),
                   Planned("y3", "mmhuman3d_single_person.mp4", 0.0, 3.2, "pad", None, 0.0)],
        "300002": [Planned("z1", "sam2_bedroom.mp4", 0.0, 4.5, "fill", None, 0.04, ("mmaction2_structuralize.mp4", 0.0)),
                   Planned("z2", "mmaction2_structuralize.mp4", 4.5, 5.0, "pad", "@same.sound", 0.0,
                           ("mmaction2_structuralize.mp4", 0.0)),
                   Planned("z3", "mmhuman3d_single_person.mp4", 0.0, 3.2, "blur", "@dribble", 0.0)],
    },
    "fresh2": {  # footage from outside ../shared (FETCHED; a portrait dancer, tai chi, tennis, an AIST++ dancer)
        "400000": [Planned("k1", "musepose_dance.mp4", 0.0, 5.0, "pad", "@dance.k", 0.0),
                   Planned("k2", "hybrik_taiji.mp4", 0.0, 5.0, "blur", None, 0.0),
                   Planned("k3", "gvhmr_tennis.mp4", 0.0, 5.0, "fill", "@court", 0.03),
                   Planned("k4", "d2m_motivation_gt.mp4", 0.0, 4.5, "pad", None, 0.0)],
        "400001": [Planned("l1", "hybrik_taiji.mp4", 1.0, 5.0, "fill", "@taichi", -0.04),
                   Planned("l2", "gvhmr_tennis.mp4", 0.5, 5.0, "blur", None, 0.05),
                   Planned("l3", "d2m_motivation_gt.mp4", 0.3, 4.4, "fill", None, 0.0),
                   Planned("l4", "musepose_dance.mp4", 4.0, 5.0, "fill", None, 0.0)],
        "400002": [Planned("m1", "musepose_dance.mp4", 2.0, 5.5, "blur", "@moves", 0.0),
                   Planned("m2", "gvhmr_tennis.mp4", 1.0, 4.8, "fill", "@serve", -0.03),
                   Planned("m3", "hybrik_taiji.mp4", 5.0, 5.0, "blur", None, 0.04),
                   Planned("m4", "d2m_motivation_gt.mp4", 0.0, 2.5, "pad", None, 0.0)],
        "400003": [Planned("n1", "gvhmr_tennis.mp4", 0.0, 5.0, "fill", "@ace", 0.0, ("hybrik_taiji.mp4", 5.0)),
                   Planned("n2", "d2m_motivation_gt.mp4", 0.0, 4.5, "blur", None, 0.0, ("musepose_dance.mp4", 2.0)),
                   Planned("n3", "hybrik_taiji.mp4", 0.0, 5.0, "pad", "@same.sound", 0.02, ("hybrik_taiji.mp4", 5.0)),
                   Planned("n4", "musepose_dance.mp4", 0.0, 5.0, "pad", None, 0.0, ("gvhmr_tennis.mp4", 0.5))],
    },
}


def truth_pairs(plan: dict[str, list[Planned]]) -> set[tuple[str, str]]:
    clips = [clip for compilation in plan.values() for clip in compilation]
    pairs = set()
    for a, b in itertools.combinations(clips, 2):
        overlap = min(a.start_s + a.seconds, b.start_s + b.seconds) - max(a.start_s, b.start_s)
        if a.video == b.video and overlap >= MIN_OVERLAP_S:
            pairs.add(tuple(sorted((a.clip_id, b.clip_id))))
    return pairs


def same_sound_pairs(plan: dict[str, list[Planned]]) -> set[tuple[str, str]]:
    """Pairs of different recordings that carry the same sound at overlapping moments (the challenge clips)."""
    clips = [clip for compilation in plan.values() for clip in compilation]
    pairs = set()
    for a, b in itertools.combinations(clips, 2):
        (sound_a, at_a), (sound_b, at_b) = a.sound_of, b.sound_of
        overlap = min(at_a + a.seconds, at_b + b.seconds) - max(at_a, at_b)
        if sound_a == sound_b and overlap >= MIN_OVERLAP_S:
            pairs.add(tuple(sorted((a.clip_id, b.clip_id))))
    return pairs - truth_pairs(plan)


def footage_path(video: str, footage: Path | None) -> Path:
    """A video of ../shared, or one of FETCHED in ``footage`` (checked against its sha256)."""
    if video not in FETCHED:
        return REAL_DANCE / video
    repository, path, commit, sha256 = FETCHED[video]
    where = f"{repository} {path} at {commit}"
    if footage is None or not (footage / video).is_file():
        raise SystemExit(f"{video} ({where}) is not in --footage {footage}: fetch it and pass its folder")
    if hashlib.sha256((footage / video).read_bytes()).hexdigest() != sha256:
        raise SystemExit(f"{footage / video} is not {where} (sha256 differs)")
    return footage / video


def make(name: str, work: Path, footage: Path | None = None) -> Path:
    """Compose the compilations of one set into ``work``/served and write its manifest (url BASE/<compilation>.mp4)."""
    plan = PLANS[name]
    videos = sorted({clip.video for compilation in plan.values() for clip in compilation})
    paths = {video: footage_path(video, footage) for video in videos}
    loud = []
    for song in sorted(MUSIC[name].rglob("*.ogg")):
        try:
            loud.append((song, _playing(song)))
        except ValueError:
            continue
        if len(loud) == len(videos):
            break
    song_of = {video: song for video, (song, _) in zip(videos, loud)}
    offset_of = {video: offset for video, (_, offset) in zip(videos, loud)}
    served = work / "served"
    served.mkdir(parents=True, exist_ok=True)
    rows = []
    for compilation_id, clips in plan.items():
        parts = [ClipPart((Shot(paths[clip.video], clip.start_s, clip.seconds),),
                          read_excerpt(song_of[clip.sound_of[0]], offset_of[clip.sound_of[0]] + clip.sound_of[1],
                                       clip.seconds + 0.1, SAMPLE_RATE),
                          SAMPLE_RATE, layout=clip.layout, caption=clip.caption, brightness=clip.brightness)
                 for clip in clips]
        compilation = compose_edited_compilation(parts, served / f"{compilation_id}.mp4", 1280, 720, preset="veryfast",
                                                 channel_watermark="@BestOfTikTok")
        for clip, (start, end) in zip(clips, compilation.clips):
            rows.append({"compilation_id": compilation_id, "url": f"BASE/{compilation_id}.mp4", "clip_id": clip.clip_id,
                         "start_s": f"{start:.6f}", "end_s": f"{end:.6f}",
                         "song_id": Path(song_of[clip.sound_of[0]]).stem, "num_dancers": 1})
    manifest = work / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


def _playing(song: Path, seconds: float = 12.0) -> float:
    """The first offset (every 5 s from 10 s) where the song plays loudly for ``seconds`` (Wesnoth tracks have
    quiet intros; a silent clip fails the cut stage)."""
    import numpy as np

    for offset in np.arange(10.0, 120.0, 5.0):
        excerpt = read_excerpt(song, float(offset), seconds, SAMPLE_RATE)
        if len(excerpt) and min(np.sqrt(np.mean(part ** 2)) for part in np.array_split(excerpt, 6)) > 10 ** (-35 / 20):
            return float(offset)
    raise ValueError(f"{song.name}: no loud {seconds:g} s in its first two minutes")


def build(name: str, work: Path, footage: Path | None = None) -> Path:
    """The set's build folder (composed and built on the first run; later runs resume it and match again)."""
    manifest = make(name, work, footage) if not (work / "manifest.csv").is_file() else work / "manifest.csv"
    out = work / "build"
    with serve_directory(work / "served") as base:
        local = work / "manifest_local.csv"
        local.write_text(manifest.read_text().replace("BASE/", f"{base}/"))
        subprocess.run([sys.executable, "-m", "tiktok_dm.cli", "build", str(local), "--out", str(out), "--config",
                        "debug", "--executor", "local", "--no-progress"], check=False)
    return out


def score(predicted: set[tuple[str, str]], plan: dict[str, list[Planned]]) -> tuple[float, float]:
    truth = truth_pairs(plan)
    tp = len(predicted & truth)
    return (tp / len(predicted) if predicted else 1.0), (tp / len(truth) if truth else 1.0)


def report(name: str, out: Path) -> None:
    plan = PLANS[name]
    found = pd.read_csv(out / "recordings.csv", dtype=str)
    predicted = {tuple(sorted(pair)) for pair in zip(found["clip_a"], found["clip_b"])}
    by_sound = {tuple(sorted(pair)) for pair, sound in zip(zip(found["clip_a"], found["clip_b"]), found["by_sound"])
                if sound == "True"}
    truth, challenge = truth_pairs(plan), same_sound_pairs(plan)
    links = pd.read_csv(out / "audio_links.csv", dtype=str)
    linked = {tuple(sorted(pair)) for pair in zip(links["clip_a"], links["clip_b"])}
    precision, recall = score(predicted, plan)
    clips = sum(len(compilation) for compilation in plan.values())
    print(f"{name.upper()}: {len(plan)} compilations, {clips} clips, {clips * (clips - 1) // 2} pairs, {len(truth)} the "
          f"same recording (>= {MIN_OVERLAP_S} s of the same moments), {len(challenge)} other recordings to the same "
          f"sound; audio links: {len(linked)} ({len(linked & truth)} of them the same recording)")
    print(f"  recordings.csv: {len(predicted)} pair(s); precision {precision:.3f} recall {recall:.3f} "
          f"(tp {len(predicted & truth)}; {len(by_sound & truth)} found at the sound's alignment only)")
    print(f"  same sound, other recording, matched: {len(predicted & challenge)} of {len(challenge)}")
    print(f"  missed: {sorted(truth - predicted)}")
    print(f"  wrong:  {sorted(predicted - truth)}")


def sweep(name: str, out: Path) -> None:
    """Precision and recall of the build's matches under other sound-anchored limits (the poses and audio links of
    the build, matched again here): how the ``sound_*`` defaults were chosen, on the calibration set."""
    from tiktok_dm.model.links import read_audio_links
    from tiktok_dm.pose.sequence import PoseSequence
    from tiktok_dm.quality.config import RecordingConfig
    from tiktok_dm.quality.recordings import find_same_recordings, motion_signatures

    plan = PLANS[name]
    config = RecordingConfig()
    signatures = {path.stem: motion_signatures(PoseSequence.load(path), config)
                  for path in sorted((out / "poses").glob("*.npz"))}
    links = read_audio_links(out / "audio_links.csv")
    print(f"{name.upper()} sweep of the sound-anchored limits (motion, correlation, share): precision recall")
    for motion, correlation, share in itertools.product((0.0, 0.01, 0.02, 0.03, 0.04), (0.5, 0.6, 0.7, 0.8, 0.9),
                                                        (0.3, 0.4, 0.5)):
        varied = dataclasses.replace(config, sound_min_motion=motion, sound_min_correlation=correlation,
                                     sound_min_matching_share=share)
        found = {(m.clip_a, m.clip_b) for m in find_same_recordings(signatures, {}, varied, links)}
        precision, recall = score(found, plan)
        print(f"  {motion:.2f} {correlation:.1f} {share:.1f}: {precision:.3f} {recall:.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=[*PLANS, "both", "all"], default="both", dest="which",
                        help="both: calibration and held_out; all: the three of ../shared (not fresh2)")
    parser.add_argument("--sweep", action="store_true", help="also print precision/recall over a grid of the "
                        "sound-anchored limits (choose them on the calibration set only)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "tiktok-dm-bench-recordings")
    parser.add_argument("--footage", type=Path, help="the folder of FETCHED's videos (fresh2 only)")
    args = parser.parse_args()
    names = {"both": ["calibration", "held_out"], "all": ["calibration", "held_out", "fresh"]}.get(args.which, [args.which])
    outs = {name: build(name, args.work / name, args.footage) for name in names}
    for name in names:
        report(name, outs[name])
        if args.sweep:
            sweep(name, outs[name])
    return 0


if __name__ == "__main__":
    sys.exit(main())
