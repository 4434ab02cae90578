"""The CSV tables a build writes for people (clips.csv, failures.csv, qa.csv, linkrot.csv, ...), safe to open in
a spreadsheet.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return as a formula
(``=HYPERLINK(...)`` in a video title or a manifest note would). As spreadsheet exporters and OWASP's advice on
CSV injection do, such a text cell is written with a leading ``'``: the spreadsheet shows the text and runs
nothing. A text cell that already starts with ``'`` gets one more, so :func:`read_csv` takes exactly one off and
gives back the true value. Numbers (``-0.5`` in a number column or in a text column) are written as they are.
The parquet dataset always keeps the true values.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pandas as pd

from tiktok_dm.model.atomic import atomic_write_text

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def is_formula_like(text: str) -> bool:
    """Would a spreadsheet run this text cell (it starts with a trigger and is not just a number)?"""
    return bool(text) and text[0] in FORMULA_TRIGGERS and not _is_number(text)


def neutralised(value: Any) -> Any:
    """The cell as it is written: formula-like text (and text that starts with a quote) behind one more quote."""
    if isinstance(value, str) and (is_formula_like(value) or value.startswith(QUOTE)):
        return QUOTE + value
    return value


def restored(value: Any) -> Any:
    """The inverse of :func:`neutralised` for a cell read back as text."""
    if isinstance(value, str) and value.startswith(QUOTE) and neutralised(value[1:]) == value:
        return value[1:]
    return value


def write_csv(frame: pd.DataFrame, path: str | Path, **to_csv: Any) -> None:
    """``frame`` as a CSV at ``path`` (atomically), every text cell neutralised. A carriage return inside a cell
    (ffmpeg's progress lines end in one) would end the row for a reader; a table holding one quotes its text
    cells."""
    safe = frame.copy()
    carriage_return = False
    for column in safe.columns:
        if pd.api.types.is_object_dtype(safe[column]) or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(neutralised)
            carriage_return |= bool(safe[column].map(lambda cell: isinstance(cell, str) and "\r" in cell).any())
    if carriage_return:
        to_csv.setdefault("quoting", csv.QUOTE_NONNUMERIC)
    atomic_write_text(path, safe.to_csv(index=False, **to_csv))


def read_csv(path: str | Path) -> pd.DataFrame:
    """A table written by :func:`write_csv`, every cell as the text it held (empty cells as '')."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return frame.map(restored) if len(frame.columns) else frame


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip() == text
