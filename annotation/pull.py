"""Pull: the annotators' work back into the manifest.

The export is Label Studio's full JSON (JSON_MIN drops the region ids that tie a song id and a
dancer count to a timeline range). Per task the most recent submitted annotation is the truth;
predictions never override the manifest. Every change is listed (moved boundaries, new or removed
clips, changed song ids, dancers, usability), so is every conflict between annotators, and a label
the project's config does not know stops the merge with nothing written.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from annotation.client import AnnotationError
from annotation.projects import ProjectKind, known_labels
from annotation.timeline import frames_to_seconds
from tiktok_dm.model.atomic import atomic_write_text
from tiktok_dm.model.manifest import Manifest

USABLE_COLUMN = "usable"
NOTES_COLUMN = "notes"


@dataclasses.dataclass(frozen=True)
class AnnotatedClip:
    region_id: str
    start_s: float | None
    end_s: float | None
    song_id: str | None
    num_dancers: int | None
    usable: bool | None
    notes: str | None


@dataclasses.dataclass
class PullReport:
    changes: list[str] = dataclasses.field(default_factory=list)
    conflicts: list[str] = dataclasses.field(default_factory=list)
    not_annotated: list[str] = dataclasses.field(default_factory=list)
    previous_manifest: Path | None = None

    def summary(self) -> str:
        lines = [f"{len(self.changes)} change(s), {len(self.conflicts)} conflict(s), "
                 f"{len(self.not_annotated)} task(s) not annotated yet"]
        lines += [f"  change: {c}" for c in self.changes] + [f"  conflict: {c}" for c in self.conflicts]
        if self.not_annotated:
            lines.append("  not annotated: " + ", ".join(self.not_annotated))
        if self.previous_manifest:
            lines.append(f"previous manifest kept as {self.previous_manifest}")
        return "\n".join(lines)


def export_tasks(client, project) -> list[dict[str, Any]]:
    payload = b"".join(client.projects.exports.download_sync(project.id, export_type="JSON", download_all_tasks=True))
    return json.loads(payload)


def latest_annotations(tasks: list[dict[str, Any]], report: PullReport) -> dict[str, dict[str, Any]]:
    """task_key -> the most recent non-cancelled annotation; disagreeing annotators are listed."""
    chosen = {}
    for task in tasks:
        key = task.get("data", {}).get("task_key") or f"task:{task.get('id')}"
        submitted = [a for a in task.get("annotations", []) if not a.get("was_cancelled")]
        if not submitted:
            report.not_annotated.append(key)
            continue
        submitted.sort(key=lambda a: (a.get("updated_at") or a.get("created_at") or "", a.get("id", 0)))
        results = {json.dumps(_comparable(a.get("result", [])), sort_keys=True) for a in submitted}
        if len(results) > 1:
            report.conflicts.append(f"{key}: {len(submitted)} annotations disagree; the most recent "
                                    f"(id {submitted[-1].get('id')}) is used")
        chosen[key] = {"task": task, "annotation": submitted[-1]}
    return chosen


def parse_compilation(task: dict[str, Any], annotation: dict[str, Any], labels: dict[str, set[str]]) -> list[AnnotatedClip]:
    fps = float(task["data"]["fps"])
    regions: dict[str, dict[str, Any]] = {}
    unknown = []
    for item in annotation.get("result", []):
        name, value = item.get("from_name"), item.get("value", {})
        if name not in labels:
            unknown.append(f"control {name!r}")
            continue
        for label in value.get("timelinelabels", []) + value.get("choices", []):
            if labels[name] and label not in labels[name]:
                unknown.append(f"{name}={label!r}")
        regions.setdefault(str(item.get("id")), {})[name] = value
    if unknown:
        raise AnnotationError(f"task {task['data'].get('task_key')}: the export holds label(s) the project's config "
                              f"does not know: {sorted(set(unknown))}; nothing was merged")
    clips = []
    for region_id, controls in regions.items():
        if "clips" not in controls:
            continue  # a per-region value whose range was deleted
        ranges = controls["clips"].get("ranges") or []
        start, end = frames_to_seconds(int(ranges[0]["start"]), int(ranges[-1]["end"]), fps) if ranges else (None, None)
        clips.append(AnnotatedClip(
            region_id, start, end, _first_text(controls.get("song_id")),
            _number(controls.get("num_dancers")), _usable(controls.get("usable")), _first_text(controls.get("notes"))))
    return sorted(clips, key=lambda c: (c.start_s is None, c.start_s or 0.0))


def merge_compilation_annotations(manifest: pd.DataFrame, annotated: dict[str, list[AnnotatedClip]],
                                  report: PullReport) -> pd.DataFrame:
    """New manifest rows: each annotated compilation's rows replaced by its annotated regions."""
    frame = manifest.copy()
    for column in (USABLE_COLUMN, NOTES_COLUMN):
        if column not in frame.columns:
            frame[column] = ""
    out_rows = []
    for compilation_id, rows in frame.groupby("compilation_id", sort=False):
        if compilation_id not in annotated:
            out_rows += rows.to_dict("records")
            continue
        by_id = {row["clip_id"]: row for row in rows.to_dict("records") if row["clip_id"]}
        template = next(iter(rows.to_dict("records")))
        used_ids = set(frame["clip_id"])
        for index, clip in enumerate(annotated[compilation_id]):
            old = by_id.pop(clip.region_id, None)
            clip_id = clip.region_id if old is not None else _new_clip_id(compilation_id, index, used_ids)
            row = dict(old or {**template, "clip_id": clip_id, "song_id": "", "num_dancers": "",
                               USABLE_COLUMN: "", NOTES_COLUMN: ""})
            _apply(row, clip, report, is_new=old is None)
            out_rows.append(row)
        for removed_id in by_id:
            report.changes.append(f"{compilation_id}/{removed_id}: removed by the annotator")
    return pd.DataFrame(out_rows, columns=frame.columns)


def parse_clip(task: dict[str, Any], annotation: dict[str, Any], labels: dict[str, set[str]]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in annotation.get("result", []):
        name, value = item.get("from_name"), item.get("value", {})
        if name not in labels:
            raise AnnotationError(f"task {task['data'].get('task_key')}: unknown control {name!r} in the export")
        values[name] = value
    song = _first_text(values.get("other_song")) or (values.get("song_id", {}).get("choices") or [None])[0]
    quality = (values.get("quality", {}).get("choices") or [None])[0]
    return {"clip_id": task["data"]["clip_id"], "song_id": song, "num_dancers": _number(values.get("num_dancers")),
            "usable": None if quality is None else quality != "unusable"}


def merge_clip_annotations(manifest: pd.DataFrame, clips: list[dict[str, Any]], report: PullReport) -> pd.DataFrame:
    frame = manifest.copy()
    if USABLE_COLUMN not in frame.columns:
        frame[USABLE_COLUMN] = ""
    index = {clip_id: i for i, clip_id in zip(frame.index, frame["clip_id"])}
    for clip in clips:
        if clip["clip_id"] not in index:
            report.conflicts.append(f"clip {clip['clip_id']} is annotated but no longer in the manifest; not merged")
            continue
        row = frame.loc[index[clip["clip_id"]]].to_dict()
        _apply(row, AnnotatedClip(clip["clip_id"], None, None, clip["song_id"], clip["num_dancers"], clip["usable"],
                                  None), report, is_new=False)
        for column in ("song_id", "num_dancers", USABLE_COLUMN):
            frame.loc[index[clip["clip_id"]], column] = row[column]
    return frame


def pull(client, project, kind: ProjectKind, manifest_path: Path, out_path: Path | None = None) -> PullReport:
    report = PullReport()
    manifest = pd.read_csv(manifest_path, dtype=str, keep_default_na=False)
    chosen = latest_annotations(export_tasks(client, project), report)
    labels = known_labels(project)
    if kind is ProjectKind.COMPILATION:
        annotated = {entry["task"]["data"]["compilation_id"]: parse_compilation(entry["task"], entry["annotation"], labels)
                     for entry in chosen.values()}
        merged = merge_compilation_annotations(manifest, annotated, report)
    else:
        merged = merge_clip_annotations(manifest, [parse_clip(e["task"], e["annotation"], labels)
                                                   for e in chosen.values()], report)
    Manifest.from_frame(merged, path=f"{manifest_path} (merged with annotations)", allow_file_urls=True)
    target = Path(out_path or manifest_path)
    if target.exists():
        report.previous_manifest = keep_versioned_copy(target)
    atomic_write_text(target, merged.to_csv(index=False))
    return report


def keep_versioned_copy(path: Path) -> Path:
    """Copy ``manifest.csv`` to the next free ``manifest.vN.csv`` before it is replaced."""
    number = 1
    while (copy := path.with_name(f"{path.stem}.v{number}{path.suffix}")).exists():
        number += 1
    shutil.copy2(path, copy)
    return copy


def _apply(row: dict[str, Any], clip: AnnotatedClip, report: PullReport, is_new: bool) -> None:
    where = f"{row['compilation_id']}/{row['clip_id']}"
    if is_new:
        report.changes.append(f"{where}: new clip [{clip.start_s:.3f}, {clip.end_s:.3f}] s")
    updates = {"start_s": _seconds(clip.start_s), "end_s": _seconds(clip.end_s), "song_id": clip.song_id,
               "num_dancers": None if clip.num_dancers is None else str(clip.num_dancers),
               USABLE_COLUMN: None if clip.usable is None else ("true" if clip.usable else "false"),
               NOTES_COLUMN: clip.notes}
    for column, value in updates.items():
        if value is None:
            continue
        old = str(row.get(column, "") or "")
        if column == USABLE_COLUMN and not old:
            old = "true"  # a clip is usable until someone says otherwise
        if not is_new and _differs(old, value):
            report.changes.append(f"{where}: {column} {old or '(empty)'} -> {value}")
        row[column] = value


def _differs(old: str, new: str) -> bool:
    try:
        return abs(float(old) - float(new)) > 1e-6
    except ValueError:
        return old != new


def _seconds(value: float | None) -> str | None:
    return None if value is None else f"{value:.6f}"


def _new_clip_id(compilation_id: str, index: int, used: set[str]) -> str:
    candidate, suffix = f"{compilation_id}-{index:04d}", 0
    while candidate in used:
        suffix += 1
        candidate = f"{compilation_id}-{index:04d}-{suffix}"
    used.add(candidate)
    return candidate


def _first_text(value: dict[str, Any] | None) -> str | None:
    texts = (value or {}).get("text") or []
    text = str(texts[0]).strip() if texts else ""
    return text or None


def _number(value: dict[str, Any] | None) -> int | None:
    number = (value or {}).get("number")
    return None if number is None else int(number)


def _usable(value: dict[str, Any] | None) -> bool | None:
    choices = (value or {}).get("choices") or []
    return None if not choices else choices[0] != "unusable"


def _comparable(result: list[dict[str, Any]]) -> list:
    return sorted((str(r.get("id")), r.get("from_name"), json.dumps(r.get("value"), sort_keys=True)) for r in result)
