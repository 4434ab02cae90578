"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ``shared/`` folder next to the repository (official lists, real footage).

    Skipped when absent, except on CI (``CI=true``), where a missing folder must fail loudly
    instead of silently turning the checks that need it into skips.
    """
    path = Path(__file__).resolve().parents[1].parent / "shared"
    if not path.is_dir():
        reason = f"{path} is absent; this test needs the shared folder (official lists, footage) next to the repository"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


WESNOTH_MUSIC = Path("/usr/share/games/wesnoth/1.16/data/core/music")


def _need(condition: bool, reason: str) -> None:
    """Skip a test whose outside input is missing, except on CI, where that is a set-up bug."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def real_dance_dir(shared_dir: Path) -> Path:
    return shared_dir / "testdata" / "real_dance"


@pytest.fixture(scope="session")
def music_files() -> list[Path]:
    """Real music from the Debian package wesnoth-1.16-music (installed by scripts/install.sh --test)."""
    files = sorted(WESNOTH_MUSIC.glob("*.ogg"))
    _need(len(files) >= 4, f"no Wesnoth music in {WESNOTH_MUSIC}: run `bash scripts/install.sh --test` "
                           "(apt-get install wesnoth-1.16-music)")
    return files


@pytest.fixture
def one_torch_thread():
    """Intra-op threads spinning at OpenMP barriers make small convs ~10x slower on a loaded 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
