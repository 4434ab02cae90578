"""MoveNet.MultiPose Lightning as a bottom-up multi-person backend: one network over the whole picture finds every
person's centre and their 17 COCO keypoints at once (a CenterNet on a MobileNetV2 + FPN), up to 6 people a frame.

Why it poses the clips of several dancers (``pose.multi_backend``): BlazePose's person detector is anchored on faces
and keeps one of two people whose boxes overlap, so dancers side by side in a row, or a child with his back to the
camera, are lost; a bottom-up model has no such step. On the clips of one dancer it is the worse choice (a person in
>= 98 % of frames of 49/60 such clips against the landmarker's 60/60, at half its speed), so those stay with
``pose.backend``. Measured with bench/pose.py --layouts (clips in 720p compilation layouts, posed on the picture):
the dancers seen at once (pose QA: in >= 20 % of frames) matching the footage, and frames per CPU-second on one core:

===========================================  ========================  ==========================================
                                             calibration: 8 clips of   held-out: 20 clips of 5 other videos
                                             sam2_bedroom, mmaction2   (three women dancing in a row x2, five
                                             (../shared)               men dancing, two women dancing, boxers)
===========================================  ========================  ==========================================
landmarker told the manifest's count         4/8, 29 fps/core          8/20, 31 fps/core
movenet, picture's long side 256 px          4/8                       16/20 (4 of the 5 dancers)
movenet, 320 px                              8/8                       20/20
movenet, 384 px (movenet_input_size)         8/8, 25 fps/core          20/20, 25 fps/core
===========================================  ========================  ==========================================

The size was chosen on the calibration clips: 256 (the model card's size) misses the second child of sam2_bedroom;
with 320 both children are seen in 22 % of its frames, with 384 in 23-25 %, so 384 is kept for that (thin) margin.

Its model is the TFLite file Google publishes (float16, ~9.5 MB), run by LiteRT (``ai-edge-litert``, the
maintained TFLite runtime): :func:`resolve_movenet_model` looks for it in the order of
:func:`tiktok_dm.pose.weights.resolve_model_file` (a path given, the cache, a download on first use). Confidence =
the keypoint's score; the model's keypoints are COCO-17 already.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tiktok_dm.pose.backend import PoseBackend, checked_rgb_frame, native_stderr_to_debug_log
from tiktok_dm.pose.sequence import NUM_COCO17_JOINTS, empty_detection
from tiktok_dm.pose.weights import cache_dir, resolve_model_file

MODEL_NAME = "movenet_multipose_lightning_float16.tflite"
# Google's TFLite release of MoveNet.MultiPose Lightning (TF Hub: google/lite-model/movenet/multipose/lightning/
# tflite/float16/1), as the tfhub-lite-models bucket serves it.
DEFAULT_MOVENET_URL = ("https://storage.googleapis.com/tfhub-lite-models/google/lite-model/movenet/multipose/"
                       "lightning/tflite/float16/1.tflite")
MODEL_OPTION = "pose.movenet_model=PATH (--set)"
# The network's output: per person (at most MAX_PEOPLE) 17 x (y, x, score) in [0, 1] of its input, a box
# (ymin, xmin, ymax, xmax) and the person's score.
MAX_PEOPLE = 6
OUTPUT_VALUES = 3 * NUM_COCO17_JOINTS + 4 + 1
# The input's sides must be multiples of this (the network's stride).
STRIDE = 32


class MoveNetModelUnavailable(RuntimeError):
    """No usable MoveNet .tflite file: not a file, not cached and not downloadable, or not a MoveNet.MultiPose."""


def default_movenet_path() -> Path:
    return cache_dir() / "pose" / MODEL_NAME


def resolve_movenet_model(model: str | os.PathLike | None = None, *, url: str = DEFAULT_MOVENET_URL,
                          download_model: bool = True) -> Path:
    """The local MoveNet.MultiPose .tflite: ``model`` when given, else the cached copy, fetched from ``url`` on first
    use; :class:`MoveNetModelUnavailable` saying how to supply it otherwise."""
    cached = default_movenet_path()
    how_to_supply = (f"Supply it yourself: run `tiktok-dm pose-model --movenet` where there is internet access, or "
                     f"download {url} (TF Hub: google/lite-model/movenet/multipose/lightning/tflite/float16/1) and "
                     f"copy it to {cached}, or name the file with {MODEL_OPTION}")
    return resolve_model_file(model, cached, url, download_model=download_model, what="MoveNet.MultiPose model",
                              how_to_supply=how_to_supply, unavailable=MoveNetModelUnavailable)


def litert_import_error(error: ImportError) -> ImportError:
    return ImportError(f"the movenet pose backend needs LiteRT, the TFLite runtime (`pip install ai-edge-litert`, a "
                       f"dependency of tiktok-dm): {error}")


class MoveNetBackend(PoseBackend):
    """Every person in the frame (up to 6), MoveNet.MultiPose Lightning, each frame on its own."""

    name = "movenet"

    def __init__(self, checkpoint: str | os.PathLike | None = None, input_size: int = 384,
                 min_person_score: float = 0.2, url: str = DEFAULT_MOVENET_URL, download: bool = True,
                 threads: int = 1) -> None:
        if input_size < STRIDE or input_size % STRIDE:
            raise ValueError(f"input_size must be a multiple of {STRIDE} (>= {STRIDE}), got {input_size}")
        if not 0.0 <= min_person_score <= 1.0:
            raise ValueError(f"min_person_score must be in [0, 1], got {min_person_score}")
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.checkpoint_path: Path | None = resolve_movenet_model(checkpoint, url=url, download_model=download)
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as error:
            raise litert_import_error(error) from error
        import cv2  # once, not on every frame

        self._cv2 = cv2
        try:
            with native_stderr_to_debug_log():  # LiteRT announces its XNNPACK delegate on fd 2
                self._interpreter = Interpreter(model_path=str(self.checkpoint_path), num_threads=threads)
        except (ValueError, RuntimeError) as error:  # not a TFLite flatbuffer
            raise MoveNetModelUnavailable(f"{self.checkpoint_path} does not load as a TFLite model: {error}") from error
        inputs, outputs = self._interpreter.get_input_details(), self._interpreter.get_output_details()
        if (len(inputs) != 1 or len(inputs[0]["shape"]) != 4 or inputs[0]["shape"][-1] != 3 or len(outputs) != 1
                or tuple(outputs[0]["shape"][1:]) != (MAX_PEOPLE, OUTPUT_VALUES)):
            raise MoveNetModelUnavailable(
                f"{self.checkpoint_path} is not MoveNet.MultiPose: it takes {[tuple(i['shape']) for i in inputs]} and "
                f"gives {[tuple(o['shape']) for o in outputs]}; expected one [1, H, W, 3] image and [1, {MAX_PEOPLE}, "
                f"{OUTPUT_VALUES}]")
        self._input, self._output = inputs[0]["index"], outputs[0]["index"]
        self._input_dtype = inputs[0]["dtype"]
        self._shape: tuple[int, int] | None = None
        self.input_size = input_size
        self.min_person_score = min_person_score
        self._closed = False

    def input_shape(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) the network sees a frame at: its long side ``input_size``, the aspect kept to the nearest
        multiple of the network's stride."""
        scale = self.input_size / max(height, width)
        return (max(STRIDE, round(height * scale / STRIDE) * STRIDE),
                max(STRIDE, round(width * scale / STRIDE) * STRIDE))

    def detect(self, frame_rgb: np.ndarray) -> np.ndarray:
        if self._closed:
            raise ValueError("MoveNetBackend is closed; create a new one")
        frame_rgb = checked_rgb_frame(frame_rgb)
        height, width = frame_rgb.shape[:2]
        shape = self.input_shape(height, width)
        if shape != self._shape:  # a new size: the interpreter's tensors are made again (once per video)
            self._interpreter.resize_tensor_input(self._input, [1, *shape, 3])
            with native_stderr_to_debug_log():
                self._interpreter.allocate_tensors()
            self._shape = shape
        picture = self._cv2.resize(frame_rgb, (shape[1], shape[0]), interpolation=self._cv2.INTER_AREA)
        self._interpreter.set_tensor(self._input, picture[None].astype(self._input_dtype))
        self._interpreter.invoke()
        people = self._interpreter.get_tensor(self._output)[0]
        people = people[people[:, -1] >= self.min_person_score]
        if not len(people):
            return empty_detection()
        keypoints = people[:, :3 * NUM_COCO17_JOINTS].reshape(-1, NUM_COCO17_JOINTS, 3)
        # (y, x) in [0, 1] of the network's input, which spans the whole frame: scaled back to the frame's pixels.
        return np.stack([keypoints[..., 1] * width, keypoints[..., 0] * height, keypoints[..., 2]],
                        axis=-1).astype(np.float32)

    def close(self) -> None:
        self._interpreter = None
        self._closed = True
