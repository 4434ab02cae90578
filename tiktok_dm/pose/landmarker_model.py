"""The model bundle of the ``landmarker`` backend: a MediaPipe Tasks ``.task`` file (a zip of BlazePose's person
detector and its landmark model, each with the TFLite metadata the Tasks API reads its input normalisation from).

Where it comes from, in the order :func:`resolve_landmarker_model` tries:

1. a file the user names (``pose.checkpoint`` / ``--pose-checkpoint PATH``);
2. the cached copy, ``<cache>/pose/pose_landmarker_full.task`` (``tiktok_dm.pose.weights.cache_dir``);
3. written into that cache, offline, from the BlazePose models that mediapipe 0.10.14's wheel (Python <= 3.12)
   ships for its legacy ``solutions.pose`` (pose_detection.tflite, pose_landmark_full.tflite), with the metadata
   written by mediapipe's own metadata writers: the same two networks as Google's "full" bundle. So a plain
   ``pip install .`` builds offline;
4. Google's release (``pose.landmarker_url``), fetched into that cache on first use when online (mediapipe 1.x,
   Python 3.13, ships neither the models nor working writers);
5. otherwise :class:`LandmarkerModelUnavailable`, whose text names the file and the ways to supply it.

``tiktok-dm pose-model`` does 3 or 4 ahead of a build (``--from-package``: 3 only).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from tiktok_dm.pose.weights import cache_dir, resolve_model_file

logger = logging.getLogger(__name__)

BUNDLE_NAME = "pose_landmarker_full.task"
# Google's release of the "full" bundle (MediaPipe's model card: pose_landmarker_full, float16, version 1).
DEFAULT_LANDMARKER_URL = ("https://storage.googleapis.com/mediapipe-models/pose_landmarker/pose_landmarker_full/"
                          "float16/1/pose_landmarker_full.task")
CHECKPOINT_OPTION = "--pose-checkpoint PATH"
# The names the Tasks API looks for inside a pose landmarker bundle.
DETECTOR_IN_BUNDLE = "pose_detector.tflite"
LANDMARKS_IN_BUNDLE = "pose_landmarks_detector.tflite"
# What each network takes, as the legacy graphs feed it (their ImageToTensor ranges): the detector [-1, 1], the
# landmark model [0, 1]; as TFLite metadata, (pixel - mean) / std.
DETECTOR_NORMALISATION = (127.5, 127.5)
LANDMARKS_NORMALISATION = (0.0, 255.0)


class LandmarkerModelUnavailable(RuntimeError):
    """No usable .task bundle for the landmarker backend: not a file, not cached and not downloadable."""


def default_landmarker_path() -> Path:
    return cache_dir() / "pose" / BUNDLE_NAME


def resolve_landmarker_model(model: str | os.PathLike | None = None, *, url: str = DEFAULT_LANDMARKER_URL,
                             download_model: bool = True) -> Path:
    """The local .task file: ``model`` when given (it must exist), else the cached copy, fetched from ``url`` when
    absent and ``download_model``; :class:`LandmarkerModelUnavailable` saying how to supply it otherwise."""
    cached = default_landmarker_path()
    how_to_supply = (f"Supply it yourself: run `tiktok-dm pose-model --from-package` (it writes {cached} from the "
                     f"models mediapipe 0.10.x ships), download {url} on a machine with internet access and copy it "
                     f"to {cached}, or pass a .task file with {CHECKPOINT_OPTION}")
    return resolve_model_file(model, cached, url, download_model=download_model, what="pose landmarker bundle",
                              how_to_supply=how_to_supply, unavailable=LandmarkerModelUnavailable,
                              make_offline=lambda: write_bundle_from_package(cached))


def packaged_blazepose_models() -> tuple[Path, Path]:
    """(person detector, landmark model "full") as the installed mediapipe wheel ships them for its legacy
    ``solutions.pose``; LandmarkerModelUnavailable when this mediapipe has none (0.10.30 on dropped them)."""
    try:
        import mediapipe
    except ImportError as error:
        raise LandmarkerModelUnavailable(f"mediapipe is not installed ({error})") from error
    modules = Path(mediapipe.__file__).parent / "modules"
    detector = modules / "pose_detection" / "pose_detection.tflite"
    landmarks = modules / "pose_landmark" / "pose_landmark_full.tflite"
    missing = [str(path) for path in (detector, landmarks) if not path.is_file()]
    if missing:
        raise LandmarkerModelUnavailable(
            f"mediapipe {getattr(mediapipe, '__version__', '?')} ships no BlazePose models (looked for "
            f"{', '.join(missing)}); mediapipe 0.10.14 (Python <= 3.12) does. Download the bundle instead, or "
            f"write it on a machine with that mediapipe and copy it here")
    return detector, landmarks


def write_bundle_from_package(target: str | os.PathLike | None = None) -> Path:
    """Write the landmarker bundle from the installed mediapipe's BlazePose models (default: the cached copy's
    place), their input normalisation added as TFLite metadata by mediapipe's metadata writers."""
    from tiktok_dm.model.atomic import atomic_path

    detector, landmarks = packaged_blazepose_models()
    try:
        from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer, model_asset_bundle_utils
    except ImportError as error:  # 1.x wheels ship the writers without the native module they import
        raise LandmarkerModelUnavailable(f"this mediapipe's metadata writers do not load ({error})") from error

    def with_metadata(path: Path, normalisation: tuple[float, float], name: str) -> bytes:
        writer = metadata_writer.MetadataWriter.create(path.read_bytes())
        writer.add_general_info(model_name=name, model_description=f"BlazePose {path.name} from mediapipe's wheel")
        writer.add_image_input(norm_mean=[normalisation[0]], norm_std=[normalisation[1]])
        model, _ = writer.populate()
        return bytes(model)

    out = Path(target).expanduser() if target else default_landmarker_path()
    out.parent.mkdir(parents=True, exist_ok=True)
    models = {DETECTOR_IN_BUNDLE: with_metadata(detector, DETECTOR_NORMALISATION, "pose_detector"),
              LANDMARKS_IN_BUNDLE: with_metadata(landmarks, LANDMARKS_NORMALISATION, "pose_landmarks_detector")}
    with atomic_path(out) as tmp:
        model_asset_bundle_utils.create_model_asset_bundle(models, str(tmp))
    logger.info("wrote the pose landmarker bundle %s from %s and %s", out, detector, landmarks)
    return out
