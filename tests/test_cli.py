from __future__ import annotations

import pytest
from click.testing import CliRunner

from tiktok_dm.cli import cli

COMMANDS = ["build", "demo", "validate", "status", "pose", "verify", "segment", "annotate", "songs"]


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


def test_status_of_a_missing_build_dir_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(cli, ["status", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "is not a build directory" in result.output


@pytest.mark.slow
def test_demo_runs_end_to_end_and_reports_what_it_loaded(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path), "--executor", "local", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "4 manifest row(s): 4 ok" in result.output
    assert "loaded back with datasets.load_dataset" in result.output
    assert "synthetic" in result.output  # the honesty note
    table = result.output.split("loaded back with datasets.load_dataset:")[1]
    assert "yes" in table and "100.0" in table  # decoded audio, the drawn dancer detected in every frame
    status = CliRunner().invoke(cli, ["status", str(tmp_path / "build")])
    assert status.exit_code == 0 and "segments" in status.output and "failures" not in status.output
