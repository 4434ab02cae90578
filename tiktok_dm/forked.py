"""Work over many items in forked processes that share one read-only state (a fingerprint index, the motion
signatures of every clip).

The state is inherited through ``fork``, not pickled: an index of a thousand songs holds tens of millions of
postings. Where ``fork`` is missing (Windows, macOS's default) or the work is small, it runs in this process.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from typing import Any, Callable, Sequence, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# (function, state) inherited by the forked workers of map_shared.
_SHARED: tuple[Callable[[Any, Any], Any], Any] | None = None


def map_shared(function: Callable[[Any, Item], Result], state: Any, items: Sequence[Item], workers: int,
               min_items_per_worker: int = 8) -> list[Result]:
    """``[function(state, item) for item in items]``, in ``workers`` forked processes when there are at least
    ``min_items_per_worker`` items for each; results in the order of ``items``."""
    if workers <= 1 or len(items) < min_items_per_worker * workers \
            or "fork" not in multiprocessing.get_all_start_methods():
        return [function(state, item) for item in items]
    global _SHARED
    _SHARED = (function, state)
    try:
        context = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            parts = list(pool.map(_run_chunk, [list(items[i::workers]) for i in range(workers)]))
    finally:
        _SHARED = None
    results: list = [None] * len(items)
    for first, part in enumerate(parts):
        results[first::workers] = part
    return results


def _run_chunk(chunk: list) -> list:
    function, state = _SHARED
    return [function(state, item) for item in chunk]
