from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from tiktok_dm.cli import cli

COMMANDS = ["build", "demo", "validate", "status", "pose", "verify", "segment", "annotate", "songs", "publish"]


def test_top_level_help_lists_every_command_and_an_example():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.output
    assert "tiktok-dm build manifest.csv --out build/" in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and len(result.output.splitlines()) > 4


def test_both_command_lines_say_their_version():
    import importlib.metadata

    from d2m_train.cli import cli as d2m_cli

    version = importlib.metadata.version("tiktok-dm")
    assert CliRunner().invoke(cli, ["--version"]).output.strip() == f"tiktok-dm, version {version}"
    assert CliRunner().invoke(d2m_cli, ["--version"]).output.strip() == f"d2m-train, version {version}"


def test_help_does_not_load_the_heavy_libraries():
    """`tiktok-dm --help` imports no scipy, pandas, librosa or torch (it took ~1.4 s when it did)."""
    import subprocess
    import sys

    code = ("import sys; from tiktok_dm.cli import cli; "
            "print(sorted(m for m in ('scipy', 'pandas', 'librosa', 'torch', 'matplotlib') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_set_overrides_one_setting_and_a_bad_one_is_refused_before_any_work(tmp_path):
    from tiktok_dm.config import BuildConfig

    config = BuildConfig.from_yaml("debug", ["download.max_per_host=1", "pose.max_fps=15", "quality.recordings."
                                             "min_overlap_s=2"])
    assert (config.download.max_per_host, config.pose.max_fps, config.quality.recordings.min_overlap_s) == (1, 15.0,
                                                                                                           2.0)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("compilation_id,url,clip_id,start_s,end_s,song_id,num_dancers\n"
                        "c0,http://127.0.0.1:9/v.mp4,k0,0,4,s0,1\n")
    for bad, said in (("download.max_per_hots=1", "unknown key(s) ['max_per_hots']"),
                      ("download.max_per_host=many", "max_per_host must be int, not 'many'"),
                      ("executor.worker_pip=[1, 2]", "worker_pip must be a list of str, not [1, 2]"),
                      ("max_per_host=1", "is not section.key=value")):
        result = CliRunner().invoke(cli, ["build", str(manifest), "--out", str(tmp_path / "out"), "--set", bad])
        assert result.exit_code == 2 and said in result.output, result.output
    assert not (tmp_path / "out").exists()


def test_status_of_a_missing_build_dir_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(cli, ["status", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "is not a build directory" in result.output


@pytest.mark.slow
def test_demo_runs_end_to_end_and_reports_what_it_loaded(tmp_path, monkeypatch):
    """... with no ffmpeg or ffprobe on PATH: the build runs imageio-ffmpeg's binary and probes with PyAV."""
    (tmp_path / "empty-path").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    assert shutil.which("ffmpeg") is None and shutil.which("ffprobe") is None
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path), "--executor", "local", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "4 manifest row(s): 4 ok" in result.output
    assert "loaded back with datasets.load_dataset" in result.output
    assert "synthetic" in result.output  # the honesty note
    table = result.output.split("loaded back with datasets.load_dataset:")[1]
    assert "yes" in table and "100.0" in table  # decoded audio, the drawn dancer detected in every frame
    status = CliRunner().invoke(cli, ["status", str(tmp_path / "build")])
    assert status.exit_code == 0 and "segments" in status.output and "failures" not in status.output
