"""A static HTTP server on 127.0.0.1 for the demo and the tests, so the real yt-dlp path runs offline."""

from __future__ import annotations

import contextlib
import functools
import http.server
import logging
import threading
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 (signature of the base class)
        log.debug("loopback http: " + format, *args)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # yt-dlp's generic extractor reads the head of a media URL and hangs up: a reset, not an error.
        log.debug("loopback http: client %s hung up", client_address, exc_info=True)


@contextlib.contextmanager
def serve_directory(directory: str | Path) -> Iterator[str]:
    """Serve ``directory`` on a free loopback port; yields the base URL (no trailing slash)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="loopback-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
