"""A static HTTP server on 127.0.0.1 for the demo and the tests, so the real yt-dlp path runs offline.

``serve_host`` is the same server with what the download tests need of a real site: it counts the
requests it is answering at once (``max_in_flight``: the politeness of a cluster is measured here, not
assumed), can take its time over each answer, and can answer chosen paths with an error status first
(a 429 with Retry-After, a 410, a 503) before serving the file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import http.server
import logging
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Answer:
    """An error answer: the status and its headers (e.g. {"Retry-After": "1"})."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()


@dataclasses.dataclass
class LoopbackHost:
    url: str  # the base URL, no trailing slash
    delay_s: float = 0.0
    # path -> answers given to its first requests, one each, before the file is served
    scripted: dict[str, list[Answer]] = dataclasses.field(default_factory=dict)
    requests: list[str] = dataclasses.field(default_factory=list)
    # called with each request's handler before it is answered (a test reads its headers)
    on_request: Callable[[http.server.BaseHTTPRequestHandler], None] | None = None
    in_flight: int = 0
    max_in_flight: int = 0
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    def _enter(self, path: str) -> Answer | None:
        with self._lock:
            self.requests.append(path)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            queue = self.scripted.get(path)
            return queue.pop(0) if queue else None

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    host: LoopbackHost | None = None

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (signature of the base class)
        log.debug("loopback http: " + format, *args)

    def do_GET(self) -> None:
        self._answer(super().do_GET)

    def do_HEAD(self) -> None:
        self._answer(super().do_HEAD)

    def _answer(self, serve) -> None:
        if self.host is None:
            serve()
            return
        answer = self.host._enter(self.path)
        try:
            if self.host.on_request is not None:
                self.host.on_request(self)
            if self.host.delay_s:
                time.sleep(self.host.delay_s)
            if answer is None:
                serve()
                return
            self.send_response(answer.status)
            for name, value in answer.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()
        finally:
            self.host._leave()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # yt-dlp's generic extractor reads the head of a media URL and hangs up: a reset, not an error.
        log.debug("loopback http: client %s hung up", client_address, exc_info=True)


@contextlib.contextmanager
def serve_host(directory: str | Path, delay_s: float = 0.0,
               scripted: dict[str, list[Answer]] | None = None) -> Iterator[LoopbackHost]:
    """Serve ``directory`` on a free loopback port, counting requests; yields the host (its ``url`` has no
    trailing slash)."""
    host = LoopbackHost(url="", delay_s=delay_s, scripted=dict(scripted or {}))
    handler = type("_CountingHandler", (_QuietHandler,), {"host": host})
    server = _Server(("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
    host.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="loopback-http", daemon=True)
    thread.start()
    try:
        yield host
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextlib.contextmanager
def serve_directory(directory: str | Path) -> Iterator[str]:
    """Serve ``directory`` on a free loopback port; yields the base URL (no trailing slash)."""
    with serve_host(directory) as host:
        yield host.url
