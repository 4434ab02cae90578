"""2D skeletons: pose backends (COCO-17 in pixels), per-video pose files and D2M motion arrays.

Backends are looked up by name (``registry``) so configs and the CLI can pick one with a string; their heavy
dependencies (mediapipe, openpifpaf) are imported only when a backend is built, and this package's names only when
used (PEP 562), so reading a config loads no numpy.

Modules: ``sequence`` (PoseSequence, the .npz pose file), ``backend`` (the backend contract, estimate_video),
``content`` (the picture of a compilation layout, posed alone; its settings in ``config``), ``landmarker_backend``
(every person, MediaPipe Tasks; its model bundle in ``landmarker_model``, fetched files in ``weights``),
``mediapipe_backend`` (legacy single person, mediapipe 0.10.14), ``openpifpaf_backend`` (multi-person;
checkpoints), ``tracking`` (dancer ids across frames, main dancer), ``layouts`` (BODY_25 / COCO-17 motion arrays,
resampling), ``qa`` (per-clip pose QA and its HTML report), ``overlay`` (skeletons on frames).
"""

from tiktok_dm.model.lazy import lazy_exports

__getattr__ = lazy_exports(__name__, {
    "PoseBackend": "backend", "estimate_video": "backend", "BACKENDS": "registry", "get_backend": "registry",
    "BODY25_JOINTS": "layouts", "coco17_to_body25": "layouts", "main_person_track": "layouts",
    "resample_to_fps": "layouts", "to_motion_array": "layouts", "PoseLandmarkerBackend": "landmarker_backend",
    "MediaPipePoseBackend": "mediapipe_backend", "COCO17_JOINTS": "sequence", "POSE_FILE_KEYS": "sequence",
    "PoseSequence": "sequence", "empty_detection": "sequence", "TrackerConfig": "tracking",
    "assign_track_ids": "tracking", "select_main_track": "tracking", "track_sequence": "tracking"})

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
