"""Package faces that import their modules only when a name is used (PEP 562), so ``tiktok-dm --help`` and a
config that names a package's settings do not load scipy, librosa or matplotlib."""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """The package's ``__getattr__``: ``exports`` maps each public name to the module (relative to ``package``) that
    defines it."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)

    return __getattr__
