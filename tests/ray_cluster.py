"""A Ray cluster for the tests that run on Ray: two nodes of one CPU each, started in this process
with ``ray.cluster_utils.Cluster``, bound to 127.0.0.1 on free ports, without a dashboard. On exit
every process it started is gone and its temp folder removed.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["LOOPBACK_ENV", "two_node_cluster"]

LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
"""Ray turns a 127.0.0.1 address into the machine's address unless told that it runs on one host;
processes that connect to the cluster need it too."""
_GONE_TIMEOUT_S = 30.0


@contextlib.contextmanager
def two_node_cluster() -> Iterator[str]:
    """The running cluster's address (``127.0.0.1:PORT``)."""
    from ray.cluster_utils import Cluster

    temp_dir = tempfile.mkdtemp(prefix="mp-ray-")  # short: Ray's socket paths must fit in 107 bytes
    with pytest.MonkeyPatch.context() as patch:
        for key, value in LOOPBACK_ENV.items():
            patch.setenv(key, value)
        # Ray also writes the newest cluster's address to $RAY_TMPDIR/ray/ray_current_cluster, /tmp/ray by
        # default, without creating that folder: on a machine where Ray never ran, the cluster failed to
        # start, and two clusters at once (two test workers) overwrote or removed each other's file.
        patch.setenv("RAY_TMPDIR", temp_dir)
        Path(temp_dir, "ray").mkdir()
        cluster = Cluster(initialize_head=True, head_node_args=_node_args(temp_dir, head=True))
        try:
            cluster.add_node(**_node_args(temp_dir, head=False))
            cluster.wait_for_nodes()
            yield str(cluster.address)
        finally:
            cluster.shutdown()
            _wait_until_gone(temp_dir)
            shutil.rmtree(temp_dir, ignore_errors=True)


def _node_args(temp_dir: str, *, head: bool) -> dict[str, Any]:
    names = [
        "object_manager_port",
        "node_manager_port",
        "dashboard_agent_listen_port",
        "metrics_agent_port",
        "metrics_export_port",
        "runtime_env_agent_port",
    ]
    if head:
        names += ["gcs_server_port", "ray_client_server_port", "dashboard_port"]
    return {
        "num_cpus": 1,
        "object_store_memory": 100 * 1024 * 1024,
        "node_ip_address": "127.0.0.1",
        "include_dashboard": False,
        "min_worker_port": 0,  # workers on ports the system picks
        "max_worker_port": 0,
        "temp_dir": temp_dir,
        **{name: _free_port() for name in names},
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_gone(temp_dir: str) -> None:
    """Wait for the processes that name ``temp_dir`` on their command line (Ray's daemons) to end."""
    deadline = time.monotonic() + _GONE_TIMEOUT_S
    while left := _processes_using(temp_dir):
        assert time.monotonic() < deadline, f"Ray's processes {left} outlived the cluster"
        time.sleep(0.05)


def _processes_using(temp_dir: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and temp_dir.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found
