"""Ray clusters of the tests' own, every node on 127.0.0.1, stopped by killing exactly their processes (never
`ray stop`, which would stop every Ray of the machine).

One node: `ray start --head`, as a user starts one. Ray resolves ``--node-ip-address 127.0.0.1`` to the machine's own
address and listens on every interface unless RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, and with that variable `ray start
--address` refuses to add a node ("Multi-node Ray clusters are not supported on Windows and OSX"). So several nodes
are started by Ray's own multi-node test cluster (``ray.cluster_utils.Cluster``: a GCS and one raylet per node, each
node its own resources and node id) in a helper process with that variable set: every socket on the loopback
interface.
"""

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


# Run by a helper process: Ray's constants read the variable when ray is first imported.
_MULTI_NODE = """
import os, sys
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
from ray.cluster_utils import Cluster
nodes, cpus, temp_dir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
cluster = Cluster(initialize_head=True, head_node_args=dict(num_cpus=cpus, include_dashboard=False, temp_dir=temp_dir))
for _ in range(nodes - 1):
    cluster.add_node(num_cpus=cpus)
cluster.wait_for_nodes()
addresses = sorted({node.node_ip_address for node in cluster.list_all_nodes()})
print(cluster.address if addresses == ["127.0.0.1"] else f"nodes on {addresses}", flush=True)
sys.stdin.read()  # until the test closes our stdin
cluster.shutdown()
"""


@contextlib.contextmanager
def local_cluster(nodes: int = 1, cpus_per_node: int = 4) -> Iterator[str]:
    """A head and ``nodes - 1`` more nodes, each with its own ``cpus_per_node`` CPUs; yields the head's address."""
    temp_dir = tempfile.mkdtemp(prefix="tdm-rc-")
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    helper, port = None, None
    try:
        if nodes == 1:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))  # an ephemeral port: outside Ray's worker port range 10002-19999
                port = probe.getsockname()[1]
            subprocess.run([str(RAY), "start", "--head", "--port", str(port), "--include-dashboard", "false",
                            "--temp-dir", temp_dir, "--node-ip-address", "127.0.0.1", "--num-cpus",
                            str(cpus_per_node), "--disable-usage-stats"], check=True, capture_output=True,
                           env={**env, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}, timeout=120)
            address = f"127.0.0.1:{port}"
        else:
            helper = subprocess.Popen([sys.executable, "-c", _MULTI_NODE, str(nodes), str(cpus_per_node), temp_dir],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
            address = _first_line(helper, timeout_s=180)
            if not address.startswith("127.0.0.1:"):
                raise RuntimeError(f"the test cluster is not on the loopback interface: {address!r}")
            port = int(address.rsplit(":", 1)[1])
        yield address
    finally:
        if helper is not None:
            helper.stdin.close()
            try:
                helper.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
        # Ray's agents rename themselves (ray::DashboardAgent): they are found as children of the processes that
        # name the cluster's folder or port, or of the helper, before any of them dies.
        named = {pid for pid, command in processes()
                 if temp_dir in command or (port is not None and f"127.0.0.1:{port}" in command)}
        ours = _with_descendants(named | ({helper.pid} if helper is not None else set()))
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in ours:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            time.sleep(1.0)
        subprocess.run(["rm", "-rf", temp_dir])


def _first_line(process: subprocess.Popen, timeout_s: float) -> str:
    """The first line ``process`` prints, or RuntimeError if it prints none within ``timeout_s`` or exits first."""
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=timeout_s):
            raise RuntimeError(f"the test cluster did not start within {timeout_s} s")
    line = process.stdout.readline().strip()
    if not line:
        raise RuntimeError(f"the test cluster's helper exited with {process.wait()} before it started")
    return line


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
