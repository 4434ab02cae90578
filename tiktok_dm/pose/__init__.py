"""2D skeletons: pose backends (COCO-17 in pixels), per-video pose files and D2M motion arrays.

Backends are looked up by name so configs and the CLI can pick one with a string; their heavy
dependencies (mediapipe, openpifpaf) are imported only when a backend is built.

Modules: ``sequence`` (PoseSequence, the .npz pose file), ``backend`` (the backend contract,
estimate_video), ``mediapipe_backend`` (single person, offline), ``landmarker_backend`` (every person,
MediaPipe Tasks; its model bundle in ``landmarker_model``, fetched files in ``weights``), ``openpifpaf_backend`` (multi-person;
checkpoints), ``tracking`` (dancer ids across frames, main dancer), ``layouts`` (BODY_25 / COCO-17
motion arrays, resampling), ``qa`` (per-clip pose QA and its HTML report), ``overlay`` (skeletons on
frames).
"""

from __future__ import annotations

from typing import Any, Callable

from tiktok_dm.pose.backend import PoseBackend, estimate_video
from tiktok_dm.pose.layouts import (
    BODY25_JOINTS,
    coco17_to_body25,
    main_person_track,
    resample_to_fps,
    to_motion_array,
)
from tiktok_dm.pose.landmarker_backend import PoseLandmarkerBackend
from tiktok_dm.pose.mediapipe_backend import MediaPipePoseBackend
from tiktok_dm.pose.sequence import COCO17_JOINTS, POSE_FILE_KEYS, PoseSequence, empty_detection
from tiktok_dm.pose.tracking import TrackerConfig, assign_track_ids, select_main_track, track_sequence


def _openpifpaf_backend_class() -> type[PoseBackend]:
    from tiktok_dm.pose.openpifpaf_backend import OpenPifPafPoseBackend  # imports torch only when built

    return OpenPifPafPoseBackend


# name -> the backend class, or a function returning it (for backends whose module is heavy).
BACKENDS: dict[str, type[PoseBackend] | Callable[[], type[PoseBackend]]] = {
    "mediapipe": MediaPipePoseBackend,
    "landmarker": PoseLandmarkerBackend,
    "openpifpaf": _openpifpaf_backend_class,
}


def get_backend(name: str, **kwargs: Any) -> PoseBackend:
    """Build the pose backend registered as ``name`` with backend-specific keyword arguments
    (openpifpaf: ``checkpoint=PATH or name``, ``download``, ``device``, ``long_edge``,
    ``torch_threads``; landmarker: ``checkpoint=PATH`` of a .task bundle, ``num_poses``, ``url``, ``download``). Use it as a context manager to release the backend after a video."""
    try:
        entry = BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(BACKENDS))
        raise ValueError(f"unknown pose backend {name!r}; known backends: {known}") from None
    backend_class = entry if isinstance(entry, type) else entry()
    return backend_class(**kwargs)


__all__ = [
    "BACKENDS",
    "BODY25_JOINTS",
    "COCO17_JOINTS",
    "POSE_FILE_KEYS",
    "MediaPipePoseBackend",
    "PoseBackend",
    "PoseLandmarkerBackend",
    "PoseSequence",
    "TrackerConfig",
    "assign_track_ids",
    "coco17_to_body25",
    "empty_detection",
    "estimate_video",
    "get_backend",
    "main_person_track",
    "resample_to_fps",
    "select_main_track",
    "to_motion_array",
    "track_sequence",
]
