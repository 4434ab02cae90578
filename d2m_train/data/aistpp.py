"""AIST++ from its official annotation layout -> D2M-GAN's 2-s segments (the official preprocessed layout).

Input (google/aistplusplus_api layout; sequence names ``g{GG}_s{BM|FM}_cAll_d{DD}_m{GG}{n}_ch{NN}``):
- ``ANNOTATIONS/motions/{seq}.pkl``: ``smpl_poses`` (N, 72) or (N, 24, 3) axis-angle, ``smpl_trans`` (N, 3),
  ``smpl_scaling`` (1,); 60 fps.
- ``ANNOTATIONS/keypoints2d/{seq}.pkl``: ``keypoints2d`` (9, N, 17, 3) (views c01..c09 x frames x COCO-17 x
  (x, y, score)); validated and exported for the c01 view.
- ``SPLITS/crossmodal_{train,test}.txt`` (+ ``crossmodal_val.txt`` when present; default SPLITS =
  ``ANNOTATIONS/splits``) and ``ignore_list.txt`` (in SPLITS or ANNOTATIONS).
- ``MUSIC/{music_id}.wav`` (e.g. ``mBR0.wav``): the AIST music, assumed to start at the sequence's frame 0.
- ``VIDEOS/{seq with c01}.mp4`` (only for ``visual="frame_stats"``).

Output (what ``d2m-train fit --config aist_*.yaml --official-lists OUT --root OUT`` reads, and the official names):
``OUT/aistplus/{audio_s2,motion_s2,keypoints2d_s2,video_s2}/{split}/{seq with c01}_seg{K}.{wav|npy}``,
``OUT/aist_{audio,motion,video}_{split}_segment.txt``, ``OUT/{split}_genre.npy`` (one-hot, columns BR PO LO MH LH
HO WA KR JS JB) and ``OUT/aistplus_prepare.json`` (counts, options). Segment K (1-based) covers [2(K-1), 2K) s:
motion frames 120(K-1)..120K as (120, 219) = [smpl_trans / smpl_scaling (3) | 24 rotation matrices (216)] (the
FACT/mint layout the official Linear(219, ...) expects), audio 44100 samples at 22050 Hz; a partial last segment is
dropped. The split is the music-disjoint cross-modal one: train 980, test 20 (val 20 when its list is given);
like D2M-GAN, train keeps the 28 sequences of the ignore list unless ``drop_ignored``.

Every problem names its file: a missing file (with the list that named it), a missing key or a wrong array shape.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pickle
import re
from pathlib import Path

import numpy as np

from d2m_train.data.loading import AIST_GENRES
from d2m_train.data.segments import write_official_lists

logger = logging.getLogger(__name__)

FPS = 60
SEGMENT_SECONDS = 2
SEGMENT_FRAMES = FPS * SEGMENT_SECONDS
SAMPLE_RATE = 22050
SEGMENT_SAMPLES = SAMPLE_RATE * SEGMENT_SECONDS
VIEWS, JOINTS_2D = 9, 17
SPLITS = ("train", "val", "test")
# Test/val musics of the cross-modal split (mint split_setting.py); train uses none of them.
HELD_OUT_MUSICS = frozenset({"mBR0", "mPO1", "mLO2", "mMH3", "mLH4", "mHO5", "mWA0", "mKR2", "mJS3", "mJB5"})
_NAME = re.compile(r"^g(?P<genre>[A-Z]{2})_s(?P<situation>BM|FM)_c(?P<camera>All|\d{2})_d(?P<dancer>\d{2})_"
                   r"m(?P<music>[A-Z]{2}\d)_ch(?P<choreo>\d{2})$")


class AISTLayoutError(ValueError):
    """A file of the AIST++ layout with missing keys or wrong shapes; the message names the file."""


@dataclasses.dataclass(frozen=True)
class AISTSplits:
    train: tuple[str, ...]
    test: tuple[str, ...]
    val: tuple[str, ...]
    ignored: frozenset[str]
    files: dict[str, Path]  # split (and "ignore") -> the list file it came from

    def of(self, split: str) -> tuple[str, ...]:
        return {"train": self.train, "test": self.test, "val": self.val}[split]


def parse_name(name: str) -> dict[str, str]:
    match = _NAME.match(name)
    if not match or match["genre"] not in AIST_GENRES or match["music"][:2] != match["genre"]:
        raise ValueError(f"{name!r} is not an AIST++ sequence name "
                         "g{GG}_s{BM|FM}_cAll_d{DD}_m{GG}{n}_ch{NN}")
    return {**match.groupdict(), "music": "m" + match["music"]}


def segment_stem(sequence: str, k: int) -> str:
    """``gBR_sBM_cAll_d04_mBR0_ch01``, 3 -> ``gBR_sBM_c01_d04_mBR0_ch01_seg3`` (the official segment names)."""
    return f"{sequence.replace('_cAll_', '_c01_')}_seg{k}"


def read_sequence_list(path: str | Path) -> tuple[str, ...]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"split list {path} does not exist")
    names = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        name = line.strip().removesuffix(".json").removesuffix(".pkl")
        if not name:
            continue
        try:
            parse_name(name)
        except ValueError as error:
            raise ValueError(f"{path}, line {number}: {error}") from None
        names.append(name)
    if len(set(names)) != len(names):
        raise ValueError(f"{path} lists a sequence twice")
    return tuple(names)


def read_splits(split_dir: str | Path, annotations_dir: str | Path | None = None) -> AISTSplits:
    """The cross-modal lists of ``split_dir`` (val optional) and the ignore list (``split_dir`` or the annotation
    root); checks that train uses no test/val music and that no sequence is in two splits."""
    split_dir = Path(split_dir)
    files = {split: split_dir / f"crossmodal_{split}.txt" for split in SPLITS}
    lists = {split: read_sequence_list(files[split]) for split in ("train", "test")}
    lists["val"] = read_sequence_list(files["val"]) if files["val"].is_file() else ()
    if not files["val"].is_file():
        del files["val"]
    ignore_candidates = [split_dir / "ignore_list.txt"] + ([Path(annotations_dir) / "ignore_list.txt"]
                                                           if annotations_dir else [])
    ignored: frozenset[str] = frozenset()
    for candidate in ignore_candidates:
        if candidate.is_file():
            ignored, files["ignore"] = frozenset(read_sequence_list(candidate)), candidate
            break
    for a, b in (("train", "test"), ("train", "val"), ("test", "val")):
        both = sorted(set(lists[a]) & set(lists[b]))
        if both:
            raise ValueError(f"{files[a]} and {files[b]} share {len(both)} sequence(s), e.g. {both[0]}")
    leaked = sorted({parse_name(n)["music"] for n in lists["train"]}
                    & {parse_name(n)["music"] for n in lists["test"] + lists["val"]})
    if leaked:
        raise ValueError(f"{files['train']} uses test/val music {leaked}: the cross-modal split is music-disjoint")
    return AISTSplits(lists["train"], lists["test"], lists["val"], ignored, files)


def _read_pickle(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        with path.open("rb") as handle:
            data = pickle.load(handle)
    except Exception as error:  # noqa: BLE001 - any unreadable pickle is the same user error
        raise AISTLayoutError(f"{path}: not a readable pickle ({type(error).__name__}: {error})") from None
    if not isinstance(data, dict):
        raise AISTLayoutError(f"{path}: expected a dict of arrays, got {type(data).__name__}")
    return data


def _array(data: dict, key: str, path: Path) -> np.ndarray:
    if key not in data:
        raise AISTLayoutError(f"{path}: no {key!r} (keys: {sorted(data)})")
    return np.asarray(data[key], dtype=np.float64)


def load_motion(path: str | Path) -> np.ndarray:
    """``motions/{seq}.pkl`` -> (N, 219) float32: [smpl_trans / smpl_scaling | 24 flattened rotation matrices]."""
    from scipy.spatial.transform import Rotation

    path = Path(path)
    data = _read_pickle(path)
    poses, trans, scaling = (_array(data, k, path) for k in ("smpl_poses", "smpl_trans", "smpl_scaling"))
    frames = len(poses)
    if poses.shape not in ((frames, 72), (frames, 24, 3)) or frames == 0:
        raise AISTLayoutError(f"{path}: smpl_poses must be (N, 72) or (N, 24, 3), got {poses.shape}")
    if trans.shape != (frames, 3):
        raise AISTLayoutError(f"{path}: smpl_trans must be ({frames}, 3) like smpl_poses, got {trans.shape}")
    if scaling.size != 1 or not float(scaling.reshape(-1)[0]) > 0:
        raise AISTLayoutError(f"{path}: smpl_scaling must be one positive value, got shape {scaling.shape}")
    rotations = Rotation.from_rotvec(poses.reshape(-1, 3)).as_matrix().reshape(frames, 24 * 9)
    return np.concatenate([trans / float(scaling.reshape(-1)[0]), rotations], axis=1).astype(np.float32)


def load_keypoints2d(path: str | Path, frames: int | None = None) -> np.ndarray:
    """``keypoints2d/{seq}.pkl`` -> (9, N, 17, 3) float32 (views x frames x COCO-17 x (x, y, score))."""
    path = Path(path)
    keypoints = _array(_read_pickle(path), "keypoints2d", path)
    if keypoints.ndim != 4 or keypoints.shape[0] != VIEWS or keypoints.shape[2:] != (JOINTS_2D, 3):
        raise AISTLayoutError(f"{path}: keypoints2d must be ({VIEWS}, N, {JOINTS_2D}, 3), got {keypoints.shape}")
    if frames is not None and keypoints.shape[1] != frames:
        raise AISTLayoutError(f"{path}: keypoints2d has {keypoints.shape[1]} frames, the motion has {frames}")
    return keypoints.astype(np.float32)


@dataclasses.dataclass
class PreparedAIST:
    out_dir: Path
    sequences: dict[str, int]  # split -> sequences prepared
    segments: dict[str, int]  # split -> 2-s segments written
    ignored_kept: dict[str, int]  # split -> sequences of the ignore list kept
    dropped: list[str]  # sequences dropped (ignore list, drop_ignored) or too short for one segment


def prepare_aistpp(annotations_dir: str | Path, music_dir: str | Path, out_dir: str | Path,
                   split_dir: str | Path | None = None, video_dir: str | Path | None = None, visual: str = "none",
                   drop_ignored: bool = False, keypoints2d: bool = True) -> PreparedAIST:
    """Cut every sequence of the cross-modal splits into 2-s segments in the official D2M layout (see module doc).

    ``visual``: ``none`` (no video list: train with ``data.visual none``, the "w/o V" setting) or ``frame_stats``
    (our offline feature from the c01 video, a deviation from I3D; I3D arrays you computed yourself can be put at
    ``OUT/aistplus/video_s2/{split}/NAME.npy`` with a video list in the official format instead).
    """
    import soundfile as sf

    annotations_dir, music_dir, out_dir = Path(annotations_dir), Path(music_dir), Path(out_dir)
    if visual not in ("none", "frame_stats"):
        raise ValueError(f"visual must be none or frame_stats, got {visual!r}")
    if visual == "frame_stats" and video_dir is None:
        raise ValueError("visual frame_stats needs the AIST++ videos folder (VIDEOS/{seq with c01}.mp4)")
    splits = read_splits(split_dir or annotations_dir / "splits", annotations_dir)
    if drop_ignored and "ignore" not in splits.files:
        raise FileNotFoundError(f"drop_ignored needs ignore_list.txt in {split_dir or annotations_dir / 'splits'} "
                                f"or {annotations_dir}")
    active = [s for s in SPLITS if splits.of(s)]
    _check_inputs(splits, active, annotations_dir, music_dir, Path(video_dir) if video_dir else None, visual,
                  keypoints2d, drop_ignored)
    extractor = None
    if visual == "frame_stats":
        from d2m_train.data.visual import FrameStatsExtractor

        extractor = FrameStatsExtractor()
    result = PreparedAIST(out_dir, {}, {}, {}, [])
    music_cache: dict[str, np.ndarray] = {}
    for split in active:
        folders = {m: out_dir / "aistplus" / f"{m}_s2" / split for m in ("audio", "motion", "video", "keypoints2d")}
        for modality, folder in folders.items():
            if modality == "video" and visual == "none" or modality == "keypoints2d" and not keypoints2d:
                continue
            folder.mkdir(parents=True, exist_ok=True)
        stems, genres, kept_ignored, sequences = [], [], 0, 0
        for sequence in splits.of(split):
            if sequence in splits.ignored:
                if drop_ignored:
                    result.dropped.append(sequence)
                    continue
                kept_ignored += 1
            parts = parse_name(sequence)
            motion = load_motion(annotations_dir / "motions" / f"{sequence}.pkl")
            views = (load_keypoints2d(annotations_dir / "keypoints2d" / f"{sequence}.pkl", len(motion))
                     if keypoints2d else None)
            if parts["music"] not in music_cache:
                music_cache[parts["music"]] = _load_music(music_dir / f"{parts['music']}.wav")
            music = music_cache[parts["music"]]
            count = min(len(motion) // SEGMENT_FRAMES, len(music) // SEGMENT_SAMPLES)
            if count == 0:
                result.dropped.append(sequence)
                logger.warning("%s: shorter than one 2-s segment (motion %d frames, music %d samples); skipped",
                               sequence, len(motion), len(music))
                continue
            sequences += 1
            video = Path(video_dir) / f"{sequence.replace('_cAll_', '_c01_')}.mp4" if extractor else None
            for k in range(1, count + 1):
                stem = segment_stem(sequence, k)
                frames = slice((k - 1) * SEGMENT_FRAMES, k * SEGMENT_FRAMES)
                np.save(folders["motion"] / f"{stem}.npy", motion[frames])
                sf.write(folders["audio"] / f"{stem}.wav", music[(k - 1) * SEGMENT_SAMPLES:k * SEGMENT_SAMPLES],
                         SAMPLE_RATE, subtype="PCM_16")
                if views is not None:
                    np.save(folders["keypoints2d"] / f"{stem}.npy", views[0, frames])
                if extractor is not None:
                    from d2m_train.data.visual import read_frames

                    feature = extractor(read_frames(video, 2.0 * (k - 1), 2.0 * k))
                    np.save(folders["video"] / f"{stem}.npy", feature.astype(np.float32).reshape(1, 2048))
                stems.append(stem)
                genres.append(AIST_GENRES.index(parts["genre"]))
        _write_lists(out_dir, split, stems, visual != "none")
        np.save(out_dir / f"{split}_genre.npy", np.eye(len(AIST_GENRES))[genres].reshape(len(genres), -1))
        result.sequences[split], result.segments[split] = sequences, len(stems)
        result.ignored_kept[split] = kept_ignored
        logger.info("AIST++ %s: %d sequences -> %d segments", split, sequences, len(stems))
    if extractor is not None:
        stamp = out_dir / "aistplus" / "video_s2" / "features.json"
        stamp.write_text(json.dumps({"extractor": extractor.name, "shape": [1, 2048]}))
    (out_dir / "aistplus_prepare.json").write_text(json.dumps({
        "annotations": str(annotations_dir), "music": str(music_dir), "videos": str(video_dir) if video_dir else None,
        "split_files": {k: str(v) for k, v in splits.files.items()}, "visual": extractor.name if extractor else "none",
        "drop_ignored": drop_ignored, "sequences": result.sequences, "segments": result.segments,
        "ignored_kept": result.ignored_kept, "dropped": result.dropped}, indent=2) + "\n")
    return result


def _load_music(path: Path) -> np.ndarray:
    import librosa

    audio, _ = librosa.load(path, sr=SAMPLE_RATE, mono=True)
    return audio.astype(np.float32)


def _check_inputs(splits: AISTSplits, active: list[str], annotations_dir: Path, music_dir: Path,
                  video_dir: Path | None, visual: str, keypoints2d: bool, drop_ignored: bool) -> None:
    """Fail before writing anything when a listed sequence lacks a file; names the files and the list."""
    missing = []
    for split in active:
        for sequence in splits.of(split):
            if drop_ignored and sequence in splits.ignored:
                continue
            needed = [annotations_dir / "motions" / f"{sequence}.pkl",
                      music_dir / f"{parse_name(sequence)['music']}.wav"]
            if keypoints2d:
                needed.append(annotations_dir / "keypoints2d" / f"{sequence}.pkl")
            if visual == "frame_stats" and video_dir is not None:
                needed.append(video_dir / f"{sequence.replace('_cAll_', '_c01_')}.mp4")
            missing += [f"{path} (sequence {sequence} of {splits.files[split]})" for path in needed
                        if not path.is_file()]
    if missing:
        missing = list(dict.fromkeys(missing))
        raise FileNotFoundError(f"{len(missing)} file(s) named by the AIST++ split lists do not exist: "
                                + "; ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))


def _write_lists(out_dir: Path, split: str, stems: list[str], with_video: bool) -> None:
    write_official_lists(out_dir, "aistplus", split, stems, ("audio", "motion", "video") if with_video else
                         ("audio", "motion"), split_folder=True)
