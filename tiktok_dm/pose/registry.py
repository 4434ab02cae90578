"""Pose backends by name, so configs and the CLI pick one with a string; a backend's heavy dependencies (mediapipe,
LiteRT, openpifpaf and torch) are imported only when it is built."""

from __future__ import annotations

from typing import Any, Callable

from tiktok_dm.pose.backend import PoseBackend
from tiktok_dm.pose.landmarker_backend import PoseLandmarkerBackend
from tiktok_dm.pose.mediapipe_backend import MediaPipePoseBackend


def _movenet_backend_class() -> type[PoseBackend]:
    from tiktok_dm.pose.movenet_backend import MoveNetBackend  # imports LiteRT only when built

    return MoveNetBackend


def _openpifpaf_backend_class() -> type[PoseBackend]:
    from tiktok_dm.pose.openpifpaf_backend import OpenPifPafPoseBackend  # imports torch only when built

    return OpenPifPafPoseBackend


# name -> the backend class, or a function returning it (for backends whose module is heavy).
BACKENDS: dict[str, type[PoseBackend] | Callable[[], type[PoseBackend]]] = {
    "mediapipe": MediaPipePoseBackend,
    "landmarker": PoseLandmarkerBackend,
    "movenet": _movenet_backend_class,
    "openpifpaf": _openpifpaf_backend_class,
}


def get_backend(name: str, **kwargs: Any) -> PoseBackend:
    """Build the pose backend registered as ``name`` with backend-specific keyword arguments (openpifpaf:
    ``checkpoint=PATH or name``, ``download``, ``device``, ``long_edge``, ``torch_threads``; landmarker:
    ``checkpoint=PATH`` of a .task bundle, ``num_poses``, ``url``, ``download``; movenet: ``checkpoint=PATH`` of its
    .tflite, ``input_size``, ``min_person_score``, ``url``, ``download``, ``threads``). Use it as a context manager to
    release the backend after a video."""
    try:
        entry = BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(BACKENDS))
        raise ValueError(f"unknown pose backend {name!r}; known backends: {known}") from None
    backend_class = entry if isinstance(entry, type) else entry()
    return backend_class(**kwargs)
