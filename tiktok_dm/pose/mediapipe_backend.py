"""MediaPipe BlazePose as a single-person, offline pose backend.

mediapipe 0.10.14 ships the BlazePose "full" landmark model (model_complexity=1) inside its wheel,
so it needs no download, unlike "lite" (0) and "heavy" (2), which fetch their model on first use
and fail offline. BlazePose's 33 landmarks include all 17 COCO joints.
"""

from __future__ import annotations

import logging
import warnings
from types import ModuleType
from typing import Any

import numpy as np

from tiktok_dm.pose.backend import PoseBackend, checked_rgb_frame, native_stderr_to_debug_log
from tiktok_dm.pose.sequence import NUM_COCO17_JOINTS, empty_detection

logger = logging.getLogger(__name__)

# COCO-17 joint i is BlazePose landmark BLAZEPOSE_FOR_COCO17[i].
BLAZEPOSE_FOR_COCO17: tuple[int, ...] = (
    0,  # nose
    2,  # left_eye
    5,  # right_eye
    7,  # left_ear
    8,  # right_ear
    11,  # left_shoulder
    12,  # right_shoulder
    13,  # left_elbow
    14,  # right_elbow
    15,  # left_wrist
    16,  # right_wrist
    23,  # left_hip
    24,  # right_hip
    25,  # left_knee
    26,  # right_knee
    27,  # left_ankle
    28,  # right_ankle
)
NUM_BLAZEPOSE_LANDMARKS = 33
BUNDLED_MODEL_COMPLEXITY = 1

def mediapipe_import_error(error: ImportError) -> ImportError:
    """What to do when mediapipe does not import: it is a dependency of tiktok-dm, so either it is missing from this
    environment or OpenCV (its cv2, the contrib build) misses a system library."""
    text = str(error)
    if any(library in text for library in ("libGL", "libgthread", "libglib")):
        hint = ("OpenCV's contrib build, which mediapipe imports, needs system libraries that this machine lacks: "
                "apt-get install libgl1 libglib2.0-0 (scripts/install.sh does)")
    else:
        hint = ("mediapipe is a dependency of tiktok-dm: `pip install .` (or `bash scripts/install.sh`) installs it, "
                "0.10.14 up to Python 3.12 and 1.x from 3.13")
    return ImportError(f"mediapipe does not import ({text}). {hint}")


def import_mediapipe_pose() -> ModuleType:
    try:
        from mediapipe.python.solutions import pose as mp_pose
    except ImportError as error:
        try:
            import mediapipe
        except ImportError:
            raise mediapipe_import_error(error) from error
        raise ImportError(
            f"mediapipe {getattr(mediapipe, '__version__', '?')} has no legacy solutions.pose (gone from 0.10.30 on; "
            "0.10.14 has no wheel for Python 3.13): use the landmarker backend (--pose-backend landmarker), which "
            "runs on MediaPipe's Tasks API") from error
    # mediapipe 0.10.14 calls a protobuf API that protobuf 4.25 deprecates, warning once per process;
    # the filter matches only that message, so every other warning still shows.
    deprecation = r"SymbolDatabase\.GetPrototype\(\) is deprecated"
    warnings.filterwarnings("ignore", message=deprecation, category=UserWarning)
    return mp_pose


class MediaPipePoseBackend(PoseBackend):
    """BlazePose (mediapipe 0.10.14 legacy ``solutions.pose``) in video mode: it tracks one person
    from frame to frame and re-runs its person detector only when tracking is lost.

    Confidence = landmark visibility (BlazePose's estimate that the joint is visible in frame).
    """

    name = "mediapipe"

    def __init__(
        self,
        model_complexity: int = BUNDLED_MODEL_COMPLEXITY,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
    ) -> None:
        if model_complexity != BUNDLED_MODEL_COMPLEXITY:
            raise ValueError(
                f"model_complexity={model_complexity} is not available offline: mediapipe 0.10.14 bundles only "
                f"the model_complexity={BUNDLED_MODEL_COMPLEXITY} (full) BlazePose model, and the others are "
                "downloaded on first use"
            )
        for label, value in (
            ("min_detection_confidence", min_detection_confidence),
            ("min_tracking_confidence", min_tracking_confidence),
        ):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{label} must be in [0, 1], got {value}")
        self.model_complexity = model_complexity
        self.min_detection_confidence = min_detection_confidence
        self.min_tracking_confidence = min_tracking_confidence
        self._mp_pose = import_mediapipe_pose()
        # The graph is built on the first frame of each video: it finishes loading its models in
        # background threads, and building it right before its first process() keeps all the
        # native log lines that loading prints inside one short stderr redirection.
        self._pose: Any | None = None
        self._closed = False

    def _new_pose(self) -> Any:
        return self._mp_pose.Pose(
            static_image_mode=False,
            model_complexity=self.model_complexity,
            smooth_landmarks=True,
            enable_segmentation=False,
            min_detection_confidence=self.min_detection_confidence,
            min_tracking_confidence=self.min_tracking_confidence,
        )

    def reset(self) -> None:
        """Drop the tracked person and the landmark smoothing state of the previous video."""
        self._require_open()
        # A new graph rather than Pose.reset(): it restarts the frame timestamps too, which
        # mediapipe requires to increase within a graph. Building one takes ~10 ms.
        self._close_graph()

    def detect(self, frame_rgb: np.ndarray) -> np.ndarray:
        self._require_open()
        frame_rgb = checked_rgb_frame(frame_rgb)
        if self._pose is None:
            with native_stderr_to_debug_log():
                self._pose = self._new_pose()
                result = self._pose.process(frame_rgb)
        else:
            result = self._pose.process(frame_rgb)
        if result.pose_landmarks is None:
            return empty_detection()
        height, width = frame_rgb.shape[:2]
        return blazepose_to_coco17(result.pose_landmarks.landmark, width, height)

    def close(self) -> None:
        self._close_graph()
        self._closed = True

    def _close_graph(self) -> None:
        if self._pose is not None:
            self._pose.close()
            self._pose = None

    def _require_open(self) -> None:
        if self._closed:
            raise ValueError("MediaPipePoseBackend is closed; create a new one")


def blazepose_to_coco17(landmarks: Any, width: int, height: int) -> np.ndarray:
    """33 BlazePose landmarks (normalised x, y, visibility) -> float32 [1, 17, 3] in pixels."""
    if len(landmarks) != NUM_BLAZEPOSE_LANDMARKS:
        raise ValueError(f"expected {NUM_BLAZEPOSE_LANDMARKS} BlazePose landmarks, got {len(landmarks)}")
    skeleton = np.empty((1, NUM_COCO17_JOINTS, 3), dtype=np.float32)
    for coco_index, blaze_index in enumerate(BLAZEPOSE_FOR_COCO17):
        landmark = landmarks[blaze_index]
        skeleton[0, coco_index] = (landmark.x * width, landmark.y * height, landmark.visibility)
    return skeleton

