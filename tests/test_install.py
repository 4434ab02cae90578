"""The ordinary install: what a build needs from the machine is checked before any work, with errors that name
what is missing (no system ffmpeg needed; torchcodec loading with its torch; mediapipe's system libraries), and
the tested set of constraints.txt agrees with pyproject.toml."""

from __future__ import annotations

import builtins
import re
import tomllib
from pathlib import Path

import pytest

from tiktok_dm.config import BuildConfig
from tiktok_dm.pipeline.checks import (ExportCodecUnavailable, MediaToolsUnavailable, PoseBackendUnavailable,
                                       check_export_codec, check_media_tools, check_pose_backend)
from tiktok_dm.pose.mediapipe_backend import mediapipe_import_error

ROOT = Path(__file__).resolve().parents[1]


def test_the_build_checks_its_ffmpeg_has_the_cut_encoders(tmp_path, monkeypatch):
    check_media_tools(BuildConfig())  # imageio-ffmpeg's build has libx264 and aac
    config = BuildConfig()
    config.cut.video_codec = "libnothing264"
    with pytest.raises(MediaToolsUnavailable, match="cut.video_codec=libnothing264"):
        check_media_tools(config)
    broken = tmp_path / "ffmpeg"
    broken.write_text("#!/bin/sh\necho 'ffmpeg: cannot start' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setattr("tiktok_dm.media.ffmpeg_binary", lambda: str(broken))
    with pytest.raises(MediaToolsUnavailable, match="does not run: ffmpeg: cannot start"):
        check_media_tools(BuildConfig())


def _failing_import(monkeypatch, module: str, error: Exception) -> None:
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == module or name.startswith(module + "."):
            raise error
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_a_torchcodec_built_for_another_torch_stops_the_build_before_any_work(monkeypatch):
    check_export_codec()  # the tested pair loads
    _failing_import(monkeypatch, "torchcodec", RuntimeError("Could not load libtorchcodec. Likely causes: ..."))
    with pytest.raises(ExportCodecUnavailable, match=r"torchcodec does not load with torch .*constraints.txt"):
        check_export_codec()


def test_mediapipe_that_does_not_import_is_named_with_what_to_install(monkeypatch):
    libgl = mediapipe_import_error(ImportError("libGL.so.1: cannot open shared object file"))
    assert "apt-get install libgl1 libglib2.0-0" in str(libgl) and "libGL.so.1" in str(libgl)
    missing = mediapipe_import_error(ImportError("No module named 'mediapipe'"))
    assert "pip install ." in str(missing)
    _failing_import(monkeypatch, "mediapipe", ImportError("libGL.so.1: cannot open shared object file"))
    config = BuildConfig()
    config.pose.backend = "landmarker"
    with pytest.raises(PoseBackendUnavailable, match="apt-get install libgl1"):
        check_pose_backend(config)


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement.strip(), maxsplit=1)[0].lower()


def test_constraints_pin_only_declared_packages_and_the_tested_torch_pair():
    """constraints.txt is the tested set: every package it pins is one the project or a declared dependency installs,
    each pin exact, and torch / torchcodec / torchvision pinned together (torchcodec is built for one torch)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(r) for r in project["dependencies"]}
    declared |= {_name(r) for extra in project["optional-dependencies"].values() for r in extra}
    lines = [line.split("#")[0].strip() for line in (ROOT / "constraints.txt").read_text().splitlines()]
    pins = [line for line in lines if line]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.+]*( *; *python_version *[<>=]+ *\"3\.\d+\")?",
                                     pin) for pin in pins), pins
    names = {_name(pin) for pin in pins}
    assert {"torch", "torchcodec", "torchvision", "mediapipe"} <= names
    # Pinned but not declared by us: what mediapipe, label-studio-sdk, librosa and openpifpaf bring.
    assert names - declared <= {"torchvision", "protobuf", "opencv-python-headless", "numba"}, names - declared
    # scripts/install.sh installs with it.
    assert "-c constraints.txt" in (ROOT / "scripts" / "install.sh").read_text()
