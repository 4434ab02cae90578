"""What ``build`` checks before any work: every problem a build would meet later and can know now ends the
run at once (exit 2), the manifest's problems each with its line.

The manifest checks itself (``tiktok_dm.model.manifest``: ids, numbers, spans, URLs); here are the checks that
need the build's settings: clip spans against the segment length, song ids against a fixed song assignment,
the pose backends the clips need (mediapipe, LiteRT or openpifpaf importable, the model there or fetched), an ffmpeg with the
cut's encoders (imageio-ffmpeg's; no system ffmpeg needed), the song library and the download settings (cookies, a
JS runtime for YouTube).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Sequence

from tiktok_dm.config import POSE_BACKENDS, BuildConfig
from tiktok_dm.dataset.split import song_assignment_from_split_dir
from tiktok_dm.dataset.song_ids import normalise_song_id
from tiktok_dm.download.ytdlp import check_setup as check_download_setup
from tiktok_dm.model.manifest import ClipSpec, Manifest, RowCheck


class PoseBackendUnavailable(RuntimeError):
    """The configured pose backend cannot run here (not installed, no checkpoint): checked before any work."""


class ExportCodecUnavailable(RuntimeError):
    """torchcodec, which datasets encodes the export's Audio columns with, does not load: checked before any work."""


class MediaToolsUnavailable(RuntimeError):
    """No ffmpeg to run, or one without the cut's encoders: checked before any work."""


class SongLibraryUnavailable(FileNotFoundError):
    """The configured song library (songs.library / --song-library) is not a folder: checked before any work."""


class SongAssignmentUnreadable(ValueError):
    """The fixed song assignment (split.song_assignment / --song-assignment) cannot be read."""


def read_manifest(path: str | Path, config: BuildConfig) -> Manifest:
    """The manifest at ``path``, every row checked, against ``config`` too; one ManifestError lists every problem."""
    return Manifest.from_csv(path, allow_file_urls=config.download.allow_file_urls, checks=manifest_checks(config))


def check_before_work(config: BuildConfig, manifest: Manifest) -> None:
    """The settings' own problems and the machine's: every clip would fail the same way (raises DownloadSetupError,
    MediaToolsUnavailable, ExportCodecUnavailable, PoseBackendUnavailable, SongLibraryUnavailable)."""
    check_download_setup(config.download, [compilation.url for compilation in manifest.compilations])
    check_media_tools(config)
    check_export_codec()
    check_pose_backend(config, manifest)
    check_song_library(config)


def manifest_checks(config: BuildConfig) -> list[RowCheck]:
    """The checks of manifest rows that ``config`` asks for (raises SongAssignmentUnreadable)."""
    checks: list[RowCheck] = []
    if not config.segment.keep_partial:
        checks.append(functools.partial(_shorter_than_a_segment, config.segment.seconds))
    if config.split.song_assignment:
        folder = config.split.song_assignment
        try:
            assignment = {normalise_song_id(song) for song in song_assignment_from_split_dir(folder)}
        except (OSError, ValueError) as error:
            raise SongAssignmentUnreadable(f"song assignment {folder} (split.song_assignment / --song-assignment): "
                                           f"{error}") from error
        checks.append(functools.partial(_not_in_assignment, assignment, folder))
    return checks


def _shorter_than_a_segment(seconds: float, clips: Sequence[ClipSpec]) -> list[tuple[int, str]]:
    return [(clip.line, f"clip {clip.clip_id!r} lasts {clip.duration_s:.2f} s, shorter than one {seconds:g}-s "
                        "segment (segment.seconds): it would make no segment")
            for clip in clips if clip.has_span and 0 < clip.duration_s < seconds]


def _not_in_assignment(assignment: set[str], folder: str, clips: Sequence[ClipSpec]) -> list[tuple[int, str]]:
    problems = []
    for clip in clips:
        if not clip.song_id:
            problems.append((clip.line, f"no song_id: with a fixed song assignment ({folder}) every clip needs the "
                                        "song id that places it; ids found from the audio are in no assignment"))
        elif normalise_song_id(clip.song_id) not in assignment:
            problems.append((clip.line, f"song_id {clip.song_id!r} is not in the song assignment {folder}"))
    return problems


def check_media_tools(config: BuildConfig) -> None:
    """An ffmpeg (media.ffmpeg_binary) that has the cut's encoders: else every clip would fail at its cut."""
    import subprocess

    from tiktok_dm.media import MediaToolMissing, ffmpeg_binary

    try:
        binary = ffmpeg_binary()
        listed = subprocess.run([binary, "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=60)
    except (MediaToolMissing, OSError, subprocess.TimeoutExpired) as error:
        raise MediaToolsUnavailable(str(error)) from error
    encoders = {line.split()[1] for line in listed.stdout.splitlines() if len(line.split()) > 1}
    missing = [f"cut.{key}={name}" for key, name in (("video_codec", config.cut.video_codec),
                                                       ("audio_codec", config.cut.audio_codec)) if name not in encoders]
    problem = (f"does not run: {listed.stderr.strip()[-300:]}" if listed.returncode != 0 else
               f"lacks the encoder(s) {', '.join(missing)}" if missing else "")
    if problem:
        raise MediaToolsUnavailable(f"ffmpeg {binary} {problem}; name another build in the IMAGEIO_FFMPEG_EXE "
                                    "environment variable or change the cut's codecs")


def check_export_codec() -> None:
    """torchcodec loads (datasets encodes Audio columns with it): else the build would end without its dataset."""
    try:
        from torchcodec.encoders import AudioEncoder  # noqa: F401
    except (ImportError, RuntimeError, OSError) as error:  # RuntimeError: built for another torch release
        try:
            import torch

            torch_version = f"torch {torch.__version__}"
        except ImportError:
            torch_version = "no torch"
        text = str(error).strip()
        raise ExportCodecUnavailable(
            f"the dataset export cannot encode its audio columns: torchcodec does not load with {torch_version} "
            f"({text[:400]}{'...' if len(text) > 400 else ''}). datasets encodes Audio with torchcodec, which is built "
            "for one torch release: install the tested pair with `pip install -c constraints.txt torch torchcodec` "
            "(constraints.txt is in the source tree)") from error


def check_pose_backend(config: BuildConfig, manifest: Manifest | None = None) -> None:
    """The pose backends the clips of ``manifest`` need (None: both ``pose.backend`` and ``pose.multi_backend``) can
    run here: known, importable, their model there or fetched."""
    from tiktok_dm.stages.pose import backend_for, backend_kwargs

    pose = config.pose
    for name in (pose.backend, pose.multi_backend):
        if name and name not in POSE_BACKENDS:
            raise PoseBackendUnavailable(f"unknown pose backend {name!r} (pose.backend / pose.multi_backend); known "
                                         f"backends: {', '.join(POSE_BACKENDS)}")
    needed = ({backend_for(pose, clip.num_dancers) for clip in manifest.clips} if manifest is not None
              else {pose.backend, pose.multi_backend} - {None, ""})
    for name in sorted(needed):
        _check_backend(name, backend_kwargs(pose, name))


def _check_backend(name: str, kwargs: dict) -> None:
    """``name`` can run with the keyword arguments the pose stage builds it with (its model, url, download)."""
    model = {"url": kwargs["url"]} if "url" in kwargs else {}
    if name == "movenet":
        from tiktok_dm.pose.movenet_backend import MoveNetModelUnavailable, litert_import_error, resolve_movenet_model

        try:
            import ai_edge_litert.interpreter  # noqa: F401
        except ImportError as error:
            raise PoseBackendUnavailable(str(litert_import_error(error))) from error
        try:
            resolve_movenet_model(kwargs.get("checkpoint"), download_model=kwargs["download"], **model)
        except MoveNetModelUnavailable as error:  # every clip of several dancers would fail the same way
            raise PoseBackendUnavailable(str(error)) from error
    if name == "mediapipe":
        try:
            from tiktok_dm.pose.mediapipe_backend import import_mediapipe_pose

            import_mediapipe_pose()
        except ImportError as error:  # mediapipe 1.x (Python 3.13) has no legacy solutions; or no libGL
            raise PoseBackendUnavailable(str(error)) from error
    if name == "landmarker":
        from tiktok_dm.pose.landmarker_model import LandmarkerModelUnavailable, resolve_landmarker_model
        from tiktok_dm.pose.mediapipe_backend import mediapipe_import_error

        try:
            import mediapipe.tasks.python.vision  # noqa: F401
        except ImportError as error:  # first: the bundle is written from this mediapipe's models
            raise PoseBackendUnavailable(str(mediapipe_import_error(error))) from error
        try:
            resolve_landmarker_model(kwargs.get("checkpoint"), download_model=kwargs["download"], **model)
        except LandmarkerModelUnavailable as error:  # every clip would fail the same way
            raise PoseBackendUnavailable(str(error)) from error
    if name != "openpifpaf":
        return
    try:
        from tiktok_dm.pose.openpifpaf_backend import resolve_checkpoint

        resolve_checkpoint(kwargs.get("checkpoint") or "shufflenetv2k16")
    except Exception as error:  # ImportError, CheckpointUnavailableError: every clip would fail the same way
        raise PoseBackendUnavailable(str(error)) from error


def check_song_library(config: BuildConfig) -> None:
    library = config.songs.library
    if config.songs.enabled and library and not Path(library).is_dir():
        raise SongLibraryUnavailable(f"song library {library} is not a folder (songs.library / --song-library)")
