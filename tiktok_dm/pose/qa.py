"""Pose QA per clip: how much of the clip has a dancer, how sure the detector was, how many
dancers it tracked against how many the manifest promises, and how much the joints jitter.

:func:`pose_qa` measures one pose sequence and lists what looks wrong in ``flags`` (plain
sentences with the measured value and the threshold); :func:`write_qa_report` writes an HTML page
with the flagged clips and skeleton overlays (see :mod:`tiktok_dm.pose.overlay`) to look at.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from tiktok_dm.model.atomic import atomic_write_text
from tiktok_dm.pose.sequence import PoseSequence
from tiktok_dm.pose.tracking import person_geometry, select_main_track, track_keypoints

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class QAThresholds:
    """When a clip is flagged. The person share is the issue's target for single-dancer clips."""

    # A frame "has a person" with >= min_visible_joints joints of confidence >= min_conf (the
    # pose stage's defaults).
    min_visible_joints: int = 4
    min_conf: float = 0.3
    min_person_share: float = 0.95
    min_mean_confidence: float = 0.5
    # k dancers are "seen" if at least this share of the frames shows k people at once, and a
    # track counts as a dancer's if it is seen in at least this share of the frames (less is a
    # passer-by, a reflection or detector noise).
    min_dancer_share: float = 0.2
    # Median unexplained joint motion (see PoseQA.jitter), in person sizes.
    max_jitter: float = 0.03


@dataclasses.dataclass(frozen=True)
class PoseQA:
    """QA figures of one clip's pose sequence.

    person_share:       frames with a person / processed frames;
    mean_confidence:    mean joint confidence of all detected persons;
    dancers_seen:       the most people seen at once in at least ``min_dancer_share`` of the
                        frames; checked against expected_dancers, the manifest's num_dancers
                        (None if unknown). Counted per frame, so a dancer split into two tracks
                        by a long occlusion still counts once;
    num_tracks:         track ids in the sequence; num_dancer_tracks those seen in at least
                        ``min_dancer_share`` of the frames (more than dancers_seen: tracks
                        broke and restarted under new ids);
    main_track_id / main_track_share: the main dancer (see tracking.select_main_track) and the
                        share of frames the motion arrays have them in (gaps filled included);
    jitter:             median over the main dancer's confident joints and frames of
                        |p[t] - (p[t-1] + p[t+1]) / 2| / person size: movement that a smooth
                        path through the neighbouring frames does not explain (detector noise;
                        smooth dancing scores low); None with fewer than 3 consecutive frames;
    motion:             median |p[t] - p[t-1]| / person size, for scale;
    flags:              what looks wrong, as sentences; empty = clip passes.
    """

    frames: int
    person_share: float
    mean_confidence: float
    dancers_seen: int
    num_tracks: int
    num_dancer_tracks: int
    expected_dancers: int | None
    main_track_id: int | None
    main_track_share: float
    jitter: float | None
    motion: float | None
    flags: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.flags

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["flags"] = list(self.flags)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PoseQA":
        fields = {field.name for field in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in fields}
        values["flags"] = tuple(values.get("flags", ()))
        return cls(**values)


def pose_qa(
    sequence: PoseSequence,
    num_dancers: int | None = None,
    thresholds: QAThresholds | None = None,
    single_person_backend: bool = False,
) -> PoseQA:
    """Measure ``sequence`` (see :class:`PoseQA`) and flag it against ``thresholds`` and the
    manifest's ``num_dancers``. ``single_person_backend``: the backend finds at most one person
    (mediapipe), so fewer dancers seen than the manifest says is put down to the backend."""
    limits = thresholds or QAThresholds()
    person_share = sequence.person_coverage(limits.min_visible_joints, limits.min_conf)
    mean_confidence = sequence.mean_confidence()
    main = select_main_track(sequence, limits.min_conf)
    tracks = main.tracks if main else ()
    dancer_tracks = [t for t in tracks if t.share >= limits.min_dancer_share]
    dancers_seen = _dancers_seen(sequence, limits)
    main_keypoints = None
    main_share = 0.0
    if main is not None:
        main_keypoints = track_keypoints(sequence, (main.track_id, *main.fill_ids))
        main_share = float(np.isfinite(main_keypoints[..., 2]).any(axis=1).mean())
    jitter, motion = _jitter_and_motion(main_keypoints, limits.min_conf) if main_keypoints is not None else (None, None)

    flags: list[str] = []
    if sequence.num_frames == 0 or person_share == 0:
        flags.append("no person detected in any frame")
    elif person_share < limits.min_person_share:
        flags.append(f"person in {100 * person_share:.1f}% of frames (< {100 * limits.min_person_share:.0f}%)")
    if person_share > 0 and mean_confidence < limits.min_mean_confidence:
        flags.append(f"mean keypoint confidence {mean_confidence:.2f} (< {limits.min_mean_confidence:.2f})")
    if num_dancers is not None and person_share > 0 and dancers_seen != num_dancers:
        found = f"{dancers_seen} dancer(s) seen at once, manifest says {num_dancers}"
        if single_person_backend and num_dancers > 1 and dancers_seen <= 1:
            found += " (single-person backend: only one dancer is posed)"
        flags.append(found)
    if jitter is not None and jitter > limits.max_jitter:
        flags.append(f"jitter {jitter:.3f} person sizes per frame (> {limits.max_jitter:.3f})")
    return PoseQA(
        frames=sequence.num_frames,
        person_share=float(person_share),
        mean_confidence=float(mean_confidence),
        dancers_seen=dancers_seen,
        num_tracks=len(tracks),
        num_dancer_tracks=len(dancer_tracks),
        expected_dancers=num_dancers,
        main_track_id=main.track_id if main else None,
        main_track_share=main_share,
        jitter=jitter,
        motion=motion,
        flags=tuple(flags),
    )


def _dancers_seen(sequence: PoseSequence, limits: QAThresholds) -> int:
    """The largest k such that at least ``min_dancer_share`` of the frames show k or more people
    (with ``min_visible_joints`` joints of confidence >= ``min_conf``)."""
    if sequence.num_frames == 0 or sequence.num_persons == 0:
        return 0
    confidence = np.nan_to_num(sequence.keypoints[..., 2], nan=0.0)
    people = ((confidence >= limits.min_conf).sum(axis=2) >= limits.min_visible_joints).sum(axis=1)
    counts = np.sort(people)[::-1]  # people per frame, most first
    index = int(np.ceil(limits.min_dancer_share * sequence.num_frames)) - 1
    return int(counts[max(index, 0)])


def _jitter_and_motion(keypoints: np.ndarray, min_conf: float) -> tuple[float | None, float | None]:
    """(jitter, motion) of one person's [frames, 17, 3] keypoints, see :class:`PoseQA`."""
    sizes = np.full(len(keypoints), np.nan)
    for frame, person in enumerate(keypoints):
        geometry = person_geometry(person, min_conf)
        if geometry is not None:
            sizes[frame] = geometry[2]
    confident = np.nan_to_num(keypoints[..., 2], nan=0.0) >= min_conf
    xy = np.where(confident[..., None], keypoints[..., :2], np.nan)  # [frames, 17, 2]

    steps = np.linalg.norm(xy[1:] - xy[:-1], axis=-1) / sizes[1:, None]
    middle = xy[1:-1] - (xy[:-2] + xy[2:]) / 2.0
    wobble = np.linalg.norm(middle, axis=-1) / sizes[1:-1, None]
    motion = steps[np.isfinite(steps)]
    jitter = wobble[np.isfinite(wobble)]
    return (float(np.median(jitter)) if jitter.size else None,
            float(np.median(motion)) if motion.size else None)


# --------------------------------------------------------------------------- report


@dataclasses.dataclass(frozen=True)
class QAReportEntry:
    """One clip in the QA report: its QA figures and the overlay images drawn for it."""

    clip_id: str
    qa: PoseQA
    images: tuple[Path, ...] = ()


def write_qa_report(entries: Iterable[QAReportEntry], path: str | os.PathLike, title: str = "Pose QA") -> Path:
    """An HTML page (self-contained apart from the images, linked relative to it) with one
    section per clip: its flags, its QA figures and its overlay images."""
    target = Path(path)
    entries = list(entries)
    parts = [
        "<!doctype html>",
        f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:1.5em}img{max-width:32%;margin:2px}"
        "td,th{padding:2px 8px;text-align:left}.flag{color:#b00}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{len(entries)} clip(s). Skeletons: one colour per track; the main dancer (the motion arrays' "
        "source) is drawn thicker and labelled <i>main</i>.</p>",
    ]
    for entry in entries:
        qa = entry.qa
        parts.append(f"<h2 id='{html.escape(entry.clip_id)}'>{html.escape(entry.clip_id)}</h2>")
        if qa.flags:
            parts.append("<ul>" + "".join(f"<li class='flag'>{html.escape(f)}</li>" for f in qa.flags) + "</ul>")
        else:
            parts.append("<p>no flags</p>")
        rows = [(key, value) for key, value in qa.to_dict().items() if key != "flags"]
        parts.append("<table>" + "".join(
            f"<tr><th>{html.escape(key)}</th><td>{html.escape(_format(value))}</td></tr>" for key, value in rows)
            + "</table>")
        for image in entry.images:
            link = html.escape(os.path.relpath(image, target.parent).replace(os.sep, "/"))
            parts.append(f"<a href='{link}'><img src='{link}' alt='{html.escape(Path(image).name)}'></a>")
    parts.append("</body></html>")
    atomic_write_text(target, "\n".join(parts) + "\n")
    return target


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "-" if value is None else str(value)


def report_flagged_clips(
    clips: Iterable[tuple[str, str | os.PathLike, str | os.PathLike, dict[str, Any] | PoseQA]],
    out_dir: str | os.PathLike,
    samples: int = 4,
    include_unflagged: bool = False,
) -> Path | None:
    """For the build summary: ``clips`` = (clip_id, clip video, pose file, QA dict from the pose
    stage's ``pose_qa`` output or a :class:`PoseQA`). Draws ``samples`` overlay images per flagged
    clip into ``<out_dir>/images/`` and writes ``<out_dir>/index.html``; returns that path, or
    None (and writes nothing) if no clip is flagged. A clip whose files cannot be read is still
    listed, without images."""
    from tiktok_dm.pose.overlay import write_overlays

    out = Path(out_dir)
    entries = []
    for clip_id, video, poses, qa in clips:
        qa = qa if isinstance(qa, PoseQA) else PoseQA.from_dict(qa)
        if qa.ok and not include_unflagged:
            continue
        images: list[Path] = []
        try:
            sequence = PoseSequence.load(poses)
            images = write_overlays(video, sequence, out / "images", clip_id, samples, main_track=qa.main_track_id)
        except (OSError, ValueError) as error:
            logger.warning("pose QA report: no overlays for %s: %s", clip_id, error)
        entries.append(QAReportEntry(clip_id, qa, tuple(images)))
    if not entries:
        return None
    return write_qa_report(entries, out / "index.html", title=f"Pose QA: {len(entries)} flagged clip(s)")
