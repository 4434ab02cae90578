"""Push: tasks for compilations (or clips) with the pipeline's proposals as pre-annotations.

Media are served by Label Studio's local-files storage, so every media path must sit under the
server's document root (LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT); a path outside it is refused
before any call. Pushing twice creates no duplicates: each task carries a ``task_key`` and keys
already in the project are skipped.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

from annotation.client import AnnotationError
from annotation.projects import ProjectKind
from annotation.timeline import seconds_to_frames
from tiktok_dm import __version__
from tiktok_dm.model.build_dir import BuildDir
from tiktok_dm.model.manifest import Manifest
from tiktok_dm.model.names import proposed_clip_id, url_key
from tiktok_dm.model.outputs import BoundaryOutput, CutOutput, DownloadOutput, PoseOutput

log = logging.getLogger(__name__)

MODEL_VERSION = f"tiktok-dm-{__version__}"


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    key: str
    data: dict[str, Any]
    prediction: list[dict[str, Any]]
    model_version: str


@dataclasses.dataclass(frozen=True)
class PushReport:
    created: int
    already_there: int
    predictions: int


def local_files_url(path: Path, document_root: Path) -> str:
    relative = local_files_path(path, document_root)
    return f"/data/local-files/?d={quote(relative)}"


def local_files_path(path: Path, document_root: Path) -> str:
    path, root = Path(path).resolve(), Path(document_root).resolve()
    try:
        return str(path.relative_to(root))
    except ValueError:
        raise AnnotationError(f"{path} is outside the Label Studio document root {root}: Label Studio can only "
                              "serve files under LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT; build into a folder "
                              "under it or start the server with a root that contains the build") from None


def compilation_tasks(manifest: Manifest, build_dir: BuildDir, document_root: Path) -> list[TaskSpec]:
    """One task per compilation: its downloaded video, the clip spans as timeline regions."""
    tasks, not_downloaded = [], []
    for compilation in manifest.compilations:
        source = build_dir.read_record(DownloadOutput, url_key(compilation.url))
        if source is None or not source.ok:
            not_downloaded.append(compilation.compilation_id)
            continue
        fps = float(source.output.fps)
        video = build_dir.absolute(source.output.path)
        regions, origin = _proposed_regions(compilation, build_dir)
        data = {"video": local_files_url(video, document_root), "compilation_id": compilation.compilation_id,
                "fps": fps, "task_key": f"compilation:{compilation.compilation_id}"}
        tasks.append(TaskSpec(data["task_key"], data, _timeline_result(regions, fps), f"{MODEL_VERSION}/{origin}"))
    if not_downloaded:
        raise AnnotationError(f"compilation(s) {not_downloaded} have no downloaded video in {build_dir.root}; "
                              "run `tiktok-dm build` first")
    return tasks


def clip_tasks(manifest: Manifest, build_dir: BuildDir, document_root: Path) -> list[TaskSpec]:
    """One task per cut clip: its video, candidate songs, the proposed song and dancer count."""
    tasks = []
    songs_by_compilation: dict[str, list[str]] = {}
    for clip in manifest.spanned_clips:
        if clip.song_id:
            songs_by_compilation.setdefault(clip.compilation_id, []).append(clip.song_id)
    for clip in manifest.spanned_clips:
        cut = build_dir.read_record(CutOutput, clip.clip_id)
        if cut is None or not cut.ok:
            log.warning("clip %s has no cut video yet; not pushed", clip.clip_id)
            continue
        pose = build_dir.read_record(PoseOutput, clip.clip_id)
        candidates = sorted(set(songs_by_compilation.get(clip.compilation_id, [])))
        data = {"video": local_files_url(build_dir.absolute(cut.output.video), document_root),
                "clip_id": clip.clip_id, "compilation_id": clip.compilation_id,
                "candidate_songs": [{"value": song} for song in candidates] or [{"value": "unknown"}],
                "task_key": f"clip:{clip.clip_id}"}
        result = []
        if clip.song_id:
            result.append(_control("song_id", "choices", {"choices": [clip.song_id]}))
        dancers = clip.num_dancers if clip.num_dancers is not None else (
            pose.output.persons if pose is not None and pose.ok else None)
        if dancers is not None:
            result.append(_control("num_dancers", "number", {"number": int(dancers)}))
        tasks.append(TaskSpec(data["task_key"], data, result, f"{MODEL_VERSION}/manifest"))
    return tasks


def build_tasks(kind: ProjectKind, manifest: Manifest, build_dir: BuildDir, document_root: Path) -> list[TaskSpec]:
    builders = {ProjectKind.COMPILATION: compilation_tasks, ProjectKind.CLIP: clip_tasks}
    return builders[kind](manifest, build_dir, document_root)


def media_folder(kind: ProjectKind, build_dir: BuildDir) -> Path:
    return {ProjectKind.COMPILATION: build_dir.sources, ProjectKind.CLIP: build_dir.clips}[kind]


def push_tasks(client, project, tasks: list[TaskSpec], media_dir: Path, document_root: Path) -> PushReport:
    ensure_local_storage(client, project, media_dir, document_root)
    existing = {task.data.get("task_key") for task in client.tasks.list(project=project.id, fields="all")}
    new = [task for task in tasks if task.key not in existing]
    predictions = 0
    if new:
        response = client.projects.import_tasks(project.id, request=[task.data for task in new], return_task_ids=True)
        for task, task_id in zip(new, response.task_ids):
            if task.prediction:
                client.predictions.create(task=task_id, result=task.prediction, model_version=task.model_version)
                predictions += 1
    return PushReport(created=len(new), already_there=len(tasks) - len(new), predictions=predictions)


def ensure_local_storage(client, project, media_dir: Path, document_root: Path) -> None:
    """Label Studio serves /data/local-files only from paths a local storage of the project covers."""
    path = str(Path(document_root).resolve() / local_files_path(media_dir, document_root))
    storages = client.import_storage.local.list(project=project.id)
    if not any(storage.path == path for storage in storages):
        client.import_storage.local.create(project=project.id, path=path, title="tiktok-dm media",
                                           use_blob_urls=True, regex_filter=r"^$")


def _proposed_regions(compilation, build_dir: BuildDir) -> tuple[list[dict[str, Any]], str]:
    spanned = [clip for clip in compilation.clips if clip.has_span]
    if spanned:
        return [{"id": clip.clip_id, "start_s": clip.start_s, "end_s": clip.end_s, "song_id": clip.song_id,
                 "num_dancers": clip.num_dancers} for clip in spanned], "manifest"
    boundaries = build_dir.read_record(BoundaryOutput, compilation.compilation_id)
    if boundaries is not None and boundaries.ok:
        return [{"id": proposed_clip_id(compilation.compilation_id, index), "start_s": span.start_s,
                 "end_s": span.end_s, "song_id": None, "num_dancers": None}
                for index, span in enumerate(boundaries.output.clips)], "boundaries"
    return [], "none"


def _timeline_result(regions: list[dict[str, Any]], fps: float) -> list[dict[str, Any]]:
    result = []
    for region in regions:
        start, end = seconds_to_frames(region["start_s"], region["end_s"], fps)
        result.append(_control("clips", "timelinelabels", {"ranges": [{"start": start, "end": end}],
                                                            "timelinelabels": ["clip"]}, region["id"]))
        if region["song_id"]:
            result.append(_control("song_id", "textarea", {"text": [region["song_id"]]}, region["id"]))
        if region["num_dancers"] is not None:
            result.append(_control("num_dancers", "number", {"number": int(region["num_dancers"])}, region["id"]))
        result.append(_control("usable", "choices", {"choices": ["usable"]}, region["id"]))
    return result


def _control(from_name: str, kind: str, value: dict[str, Any], region_id: str | None = None) -> dict[str, Any]:
    item = {"from_name": from_name, "to_name": "video", "type": kind, "value": value}
    if region_id is not None:
        item["id"] = region_id
    return item
