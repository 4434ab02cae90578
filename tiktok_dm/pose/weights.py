"""Model files that live on the web: fetched once into a cache when online, read from a path offline.

One download routine for every pose backend (openpifpaf checkpoints, MediaPipe task bundles): written atomically
(a half-downloaded file never looks cached), checked against a sha256 where one is known.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.request
from pathlib import Path
from typing import Callable

from tiktok_dm.model.atomic import atomic_path

logger = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_S = 60.0


def cache_dir() -> Path:
    """Where tiktok-dm keeps model files it fetched: ``$TIKTOK_DM_CACHE``, else ``$XDG_CACHE_HOME/tiktok-dm``, else
    ``~/.cache/tiktok-dm``."""
    if os.environ.get("TIKTOK_DM_CACHE"):
        return Path(os.environ["TIKTOK_DM_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "tiktok-dm"


def download(url: str, target: Path, *, what: str, sha256_prefix: str | None = None,
             timeout_s: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Fetch ``url`` into ``target`` atomically; with ``sha256_prefix``, the file's sha256 must start with it
    (ValueError otherwise, and nothing is written). Network failures raise OSError (URLError, timeouts)."""
    logger.info("downloading %s %s -> %s", what, url, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with atomic_path(target) as tmp:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, open(tmp, "wb") as out:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if sha256_prefix and not digest.hexdigest().startswith(sha256_prefix.lower()):
            raise ValueError(f"downloaded file's sha256 {digest.hexdigest()[:12]}... does not start with "
                             f"{sha256_prefix} (corrupt or replaced download)")


def resolve_model_file(given: str | os.PathLike | None, cached: Path, url: str, *, download_model: bool, what: str,
                       how_to_supply: str, unavailable: type[Exception],
                       make_offline: Callable[[], Path] | None = None) -> Path:
    """The local model file a backend loads, in this order: ``given`` (it must exist), the ``cached`` copy, one
    ``make_offline()`` writes into the cache (where a backend can build its model from an installed package; it
    raises ``unavailable`` when it cannot), a download of ``url`` into the cache when ``download_model``. Otherwise
    ``unavailable`` naming the file and ``how_to_supply`` it."""
    if given:
        path = Path(given).expanduser()
        if not path.is_file():
            raise unavailable(f"{what} not found: {path}. {how_to_supply}")
        return path
    if cached.is_file():
        return cached
    if make_offline is not None:
        try:
            return make_offline()
        except unavailable as error:
            logger.info("the %s cannot be made offline (%s)", what, error)
    if not download_model:
        raise unavailable(f"{what} {cached} is not there and downloading is off. {how_to_supply}")
    try:
        download(url, cached, what=what)
    except (OSError, ValueError) as error:  # URLError/HTTPError/timeouts are OSErrors
        raise unavailable(f"{what} {cached} is not there and downloading it from {url} failed "
                          f"({type(error).__name__}: {error}). {how_to_supply}") from error
    return cached
