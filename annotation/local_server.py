"""A private Label Studio server on 127.0.0.1, for the annotation tests and the README screenshots.

The server lives in its own venv (its pins differ from ours): ``.venv-ls`` in the repository, made by
``scripts/install.sh --test``, or the path in ``TIKTOK_DM_LABEL_STUDIO`` (the ``label-studio``
executable). Its database is migrated at start (about a minute), then it listens on a free
loopback port with local-files serving rooted at ``workdir/docroot``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]  # an editable checkout: .venv-ls sits beside the packages
USER = "annotator@example.com"


def label_studio_executable() -> Path | None:
    configured = os.environ.get("TIKTOK_DM_LABEL_STUDIO")
    candidates = [Path(configured)] if configured else [REPO / ".venv-ls" / "bin" / "label-studio"]
    return next((c for c in candidates if c.is_file()), None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_env(data_dir: Path, document_root: Path, token: str, password: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LABEL_STUDIO")}
    env.update({
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LABEL_STUDIO_USERNAME": USER,
        "LABEL_STUDIO_PASSWORD": password,
        "LABEL_STUDIO_USER_TOKEN": token,
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(document_root),
        # Without these it calls out to the internet at start.
        "LATEST_VERSION_CHECK": "false", "COLLECT_ANALYTICS": "false", "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": "",
    })
    return env


@contextlib.contextmanager
def running_server(executable: Path, workdir: Path) -> Iterator[dict[str, str]]:
    """Yield {url, token, document_root, username, password}; the server (its whole process group) is
    stopped afterwards."""
    data_dir, document_root = workdir / "ls-data", workdir / "docroot"
    data_dir.mkdir(parents=True)
    document_root.mkdir(parents=True)
    token, password = secrets.token_hex(20), secrets.token_urlsafe(12)
    env = server_env(data_dir, document_root, token, password)
    log = open(workdir / "label-studio.log", "w")
    subprocess.run([str(executable), "init", "--no-browser"], env=env, stdin=subprocess.DEVNULL, stdout=log,
                   stderr=subprocess.STDOUT, cwd=workdir, check=True, timeout=600)
    port = _free_port()
    process = subprocess.Popen([str(executable), "start", "--no-browser", "--internal-host", "127.0.0.1",
                                "--port", str(port)], env=env, stdin=subprocess.DEVNULL, stdout=log,
                               stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, workdir / "label-studio.log")
        yield {"url": url, "token": token, "document_root": str(document_root), "username": USER,
               "password": password}
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def _wait_until_up(url: str, process: subprocess.Popen, log_path: Path, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Label Studio exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise RuntimeError(f"Label Studio did not answer on {url} within {timeout_s} s:\n{log_path.read_text()[-3000:]}")
