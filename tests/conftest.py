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
