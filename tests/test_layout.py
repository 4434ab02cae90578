"""The package's layout holds: every module imports only from rooms below its own (lazy imports inside
functions count too), the libraries do not import each other except where the order below says so, and the
top-level folders use tiktok_dm only through its data model. The README's layout table says the same in words."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# tiktok_dm's rooms from the bottom up. A room may import from rooms of lower layers only (and from itself).
LAYERS: list[set[str]] = [
    {"model"},  # the data model; with the package face (tiktok_dm/__init__.py: the version)
    {"download", "media", "layout", "forked"},
    {"boundaries", "songs", "pose"},  # the libraries
    {"quality"},  # dataset QA, on top of pose
    {"config"},
    {"stages"},
    {"dataset"},
    {"testing"},
    {"pipeline"},
    {"cli"},
]
RANK = {room: rank for rank, rooms in enumerate(LAYERS) for room in rooms}
# The design's other top-level folders and the rooms of tiktok_dm each may use.
OUTSIDE = {"annotation": {"model"}, "d2m_train": {"model"}}
PACKAGE_FACE = "__init__"


def _room(module: str) -> str | None:
    """The room of a ``tiktok_dm.X...`` module (None for another package)."""
    parts = module.split(".")
    if parts[0] != "tiktok_dm":
        return None
    return parts[1] if len(parts) > 1 else PACKAGE_FACE


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "tiktok_dm":  # from tiktok_dm import x: x is a room or a name of the face
                found += [(node.lineno, f"tiktok_dm.{alias.name}") if alias.name in RANK else
                          (node.lineno, "tiktok_dm") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def _source_room(path: Path) -> str:
    relative = path.relative_to(REPO / "tiktok_dm")
    return relative.parts[0].removesuffix(".py") if len(relative.parts) > 1 else relative.stem


def test_every_tiktok_dm_module_belongs_to_a_room():
    rooms = {_source_room(path) for path in (REPO / "tiktok_dm").rglob("*.py")}
    assert rooms - {PACKAGE_FACE} == set(RANK), "a new room must be placed in LAYERS (and the README's table)"


@pytest.mark.parametrize("path", sorted((REPO / "tiktok_dm").rglob("*.py")), ids=lambda p: str(p.relative_to(REPO)))
def test_no_module_imports_a_room_above_or_beside_its_own(path: Path):
    source = _source_room(path)
    if source == PACKAGE_FACE:
        assert not [name for _, name in _imports(path) if _room(name)], "the package face imports nothing"
        return
    wrong = []
    for line, name in _imports(path):
        if name.split(".")[0] in OUTSIDE and source != "cli":  # only the command line registers their commands
            wrong.append(f"line {line}: {name} (a top-level folder above tiktok_dm)")
            continue
        target = _room(name)
        if target is None or target in (source, PACKAGE_FACE):
            continue
        if RANK[target] >= RANK[source]:
            wrong.append(f"line {line}: {name} ({target} is not below {source})")
    assert not wrong, f"{path.relative_to(REPO)} imports upwards or sideways:\n" + "\n".join(wrong)


@pytest.mark.parametrize("folder", sorted(OUTSIDE))
def test_the_other_top_level_folders_use_tiktok_dm_through_its_model(folder: str):
    wrong = [f"{path.relative_to(REPO)}:{line}: {name}" for path in sorted((REPO / folder).rglob("*.py"))
             for line, name in _imports(path)
             if _room(name) not in (None, PACKAGE_FACE, *OUTSIDE[folder])]
    assert not wrong, "\n".join(wrong)
