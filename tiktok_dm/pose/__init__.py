"""2D skeletons: pose backends (COCO-17 in pixels), per-video pose files and D2M motion arrays.

Backends are looked up by name so configs and the CLI can pick one with a string; their heavy
dependencies (mediapipe, openpifpaf) are imported only when a backend is built.
"""

from __future__ import annotations

from typing import Any

from tiktok_dm.pose.base import (
    COCO17_JOINTS,
    POSE_FILE_KEYS,
    PoseBackend,
    PoseSequence,
    empty_detection,
    estimate_video,
)
from tiktok_dm.pose.layouts import (
    BODY25_JOINTS,
    coco17_to_body25,
    main_person_track,
    resample_to_fps,
    to_motion_array,
)
from tiktok_dm.pose.mediapipe_backend import MediaPipePoseBackend

BACKENDS: dict[str, type[PoseBackend]] = {
    "mediapipe": MediaPipePoseBackend,
}


def get_backend(name: str, **kwargs: Any) -> PoseBackend:
    """Build the pose backend registered as ``name`` with backend-specific keyword arguments."""
    try:
        backend_class = BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(BACKENDS))
        raise ValueError(f"unknown pose backend {name!r}; known backends: {known}") from None
    return backend_class(**kwargs)


__all__ = [
    "BACKENDS",
    "BODY25_JOINTS",
    "COCO17_JOINTS",
    "POSE_FILE_KEYS",
    "MediaPipePoseBackend",
    "PoseBackend",
    "PoseSequence",
    "coco17_to_body25",
    "empty_detection",
    "estimate_video",
    "get_backend",
    "main_person_track",
    "resample_to_fps",
    "to_motion_array",
]
