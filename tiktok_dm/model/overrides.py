"""``section.key=value`` overrides of a nested settings mapping (``tiktok-dm build --set``, ``d2m-train --set``)."""

from __future__ import annotations

from typing import Any

import yaml


def apply_override(values: dict[str, Any], override: str) -> None:
    """Set the dotted key of ``override`` in ``values`` (sections created as needed), its value read as YAML (2, 0.5,
    true, null, a string; on/off/yes/no stay strings); ValueError when it is not key=value or a section in its path
    is a setting."""
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"override {override!r} is not key=value")
    set_value(values, key.strip(), _value(raw), what=f"override {override!r}")


def set_value(values: dict[str, Any], key: str, value: Any, what: str = "") -> None:
    """Set the dotted ``key`` in ``values`` to ``value`` as it is (no text parsed: a path stays that path, whatever
    '#', ': ' or '-' it holds); sections are created as needed; ValueError when a section in its path is a setting."""
    node = values
    *sections, leaf = key.split(".")
    for section in sections:
        node = node.setdefault(section, {})
        if not isinstance(node, dict):
            raise ValueError(f"{what or key}: {section} is a setting, not a section")
    node[leaf] = value


def _value(raw: str) -> Any:
    """The text read as YAML, except that only true and false are booleans (YAML 1.2): ``train.amp=off`` means
    the string off, as it says, not YAML 1.1's false."""
    value = yaml.safe_load(raw)
    if isinstance(value, bool) and raw.strip().lower() not in ("true", "false"):
        return raw.strip()
    return value
