"""Ray clusters of the tests' own, started with `ray start` on 127.0.0.1 and stopped by killing exactly their
processes (never `ray stop`, which would stop every Ray of the machine)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

RAY = Path(sys.executable).parent / "ray"


@contextlib.contextmanager
def local_cluster(nodes: int = 1, cpus_per_node: int = 4) -> Iterator[str]:
    """A head and ``nodes - 1`` more nodes, each with its own ``cpus_per_node`` CPUs; yields the head's address."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))  # an ephemeral port: outside Ray's worker port range 10002-19999
        port = probe.getsockname()[1]
    temp_dir = tempfile.mkdtemp(prefix="tdm-rc-")
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)  # set to 0, `ray start --address` refuses to join
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", str(cpus_per_node), "--disable-usage-stats"]
    # Ray resolves 127.0.0.1 to the machine's own address and listens on every interface, unless the variable is 0;
    # but then no second node may join ("Multi-node Ray clusters are not supported"). So only a head alone keeps to
    # the loopback interface.
    head_env = {**env, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"} if nodes == 1 else env
    try:
        subprocess.run([str(RAY), "start", "--head", "--port", str(port), "--include-dashboard", "false",
                        "--temp-dir", temp_dir, *common], check=True, capture_output=True, env=head_env, timeout=120)
        for _ in range(nodes - 1):
            subprocess.run([str(RAY), "start", "--address", f"127.0.0.1:{port}", *common], check=True,
                           capture_output=True, env=env, timeout=120)
        yield f"127.0.0.1:{port}"
    finally:
        # Ray's agents rename themselves (ray::DashboardAgent): they are found as children of the processes that
        # name the cluster's folder or port, before any of them dies.
        ours = _with_descendants({pid for pid, command in processes()
                                  if temp_dir in command or f"127.0.0.1:{port}" in command})
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in ours:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            time.sleep(1.0)
        subprocess.run(["rm", "-rf", temp_dir])


def processes() -> list[tuple[int, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found.append((int(entry.name), (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()))
            except OSError:
                continue
    return found


def _with_descendants(pids: set[int]) -> set[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found = set(pids)
    while True:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        if not more:
            return found
        found |= more
