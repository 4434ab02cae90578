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
