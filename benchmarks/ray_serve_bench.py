"""Requests/s, p99 and server CPU per request of a small model through Ray Serve's HTTP proxy
(``modelport serve --backend ray``), against ``modelport serve`` answering directly and against Ray
Serve's floor, in the same run, on the same registry.

One iris ONNX model; ``--clients`` threads each send one JSON Open Inference Protocol request at a
time on a kept-alive connection for ``--seconds``, after a warm-up of the same length. modelport
directly is one process. On Ray, the command deploys on a one-node Ray instance that this script
starts (and stops) with all the machine's CPUs; the same app runs in ``--replicas`` replicas behind
Ray's proxy. Ray's floor is an ASGI app that reads the request's body and answers a fixed one,
deployed beside modelport (one replica) and asked through the same proxy with the same requests: what
Ray Serve costs before any model serving. "CPU per request" is the user+sys time of every server
process (for Ray: every process of the instance, its proxy apart) over the requests answered. The
client shares the machine, so the numbers compare the paths more than they measure any.

    .venv/bin/python benchmarks/ray_serve_bench.py --seconds 2 --clients 4        # smoke
    .venv/bin/python benchmarks/ray_serve_bench.py --doc docs/performance.md
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from doc_section import write_section
from procs import HOST, Server, free_port, tree_cpu_s, tree_pids

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests import models  # noqa: E402 - the repo's own test helpers, from its root

MODELPORT = Path(sys.executable).parent / "modelport"
HEADING = "## Ray Serve's proxy vs modelport directly"
INFER = "/v2/models/iris/infer"
FLOOR_PREFIX = "/floor"
BODY = json.dumps(
    {"inputs": [{"name": "X", "datatype": "FP32", "shape": [1, 4], "data": [5.1, 3.5, 1.4, 0.2]}]}
).encode()
FLOOR_ANSWER = b'{"model_name":"iris","outputs":[{"name":"label","datatype":"INT64","shape":[1],"data":[0]}]}'
RAY_LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
START_TIMEOUT_S = 180.0


@dataclass
class Result:
    rate: float
    p99_ms: float
    cpu_ms: float
    """Server CPU time per request."""
    proxy_cpu_ms: float | None
    """The part of it in Ray's HTTP proxy."""


def load(port: int, path: str, clients: int, seconds: float) -> tuple[int, float, float]:
    """Requests answered, wall seconds and p99 (ms) of ``clients`` closed-loop clients; any failure raises."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    end = time.perf_counter() + seconds

    def client(out: list[float]) -> None:
        connection = http.client.HTTPConnection(HOST, port, timeout=30)
        try:
            while (start := time.perf_counter()) < end:
                connection.request("POST", path, BODY, {"Content-Type": "application/json"})
                response = connection.getresponse()
                body = response.read()
                if response.status != 200:
                    errors.append(f"{response.status} {body[:200]!r}")
                    return
                out.append(time.perf_counter() - start)
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(out,)) for out in latencies]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"failed requests: {errors[:3]}")
    every = [latency for out in latencies for latency in out]
    return len(every), wall, statistics.quantiles(every, n=100)[98] * 1000


def measure(port: int, path: str, server_pids: Callable[[], list[int]], a: argparse.Namespace) -> Result:
    """Warm-up (every replica gets its connections and threads), then the measured run."""
    load(port, path, a.clients, a.seconds)
    pids = server_pids()
    proxies = [pid for pid in pids if _command(pid).startswith(b"ray::ProxyActor")]
    cpu, proxy_cpu = tree_cpu_s(pids), tree_cpu_s(proxies)
    answered, wall, p99 = load(port, path, a.clients, a.seconds)
    cpu, proxy_cpu = tree_cpu_s(pids) - cpu, tree_cpu_s(proxies) - proxy_cpu
    per_request = 1000 / answered
    return Result(answered / wall, p99, cpu * per_request, proxy_cpu * per_request if proxies else None)


def _command(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _started(argv: list[str], env: dict[str, str], log: Path, port: int) -> Server:
    server = Server(argv, env, log, cpu=None).start()
    try:
        server.wait_until(f"http://{HOST}:{port}/v2/models/iris/ready", timeout=START_TIMEOUT_S)
    except RuntimeError:
        server.stop(grace=60.0)
        raise
    return server


@contextlib.contextmanager
def ray_instance(temp_dir: Path) -> Iterator[str]:
    """One Ray node on 127.0.0.1 with every CPU, its ports free ones, no dashboard; yields its address."""
    os.environ.update(RAY_LOOPBACK)
    from ray.cluster_utils import Cluster

    names = ["object_manager_port", "node_manager_port", "dashboard_agent_listen_port", "metrics_agent_port"]
    names += ["metrics_export_port", "runtime_env_agent_port", "gcs_server_port", "ray_client_server_port"]
    names += ["dashboard_port"]
    head = {
        "num_cpus": os.cpu_count(),
        "object_store_memory": 200 * 1024 * 1024,
        "node_ip_address": HOST,
        "include_dashboard": False,
        "min_worker_port": 0,
        "max_worker_port": 0,
        "temp_dir": str(temp_dir),
        **{name: _free_port() for name in names},
    }
    os.environ["RAY_TMPDIR"] = str(temp_dir)  # Ray's address file, else in /tmp/ray, which it never creates
    Path(temp_dir, "ray").mkdir(parents=True, exist_ok=True)
    cluster = Cluster(initialize_head=True, head_node_args=head)
    try:
        yield str(cluster.address)
    finally:
        cluster.shutdown()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


async def _floor_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the body, answers a fixed one: an ingress that does nothing."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body", False):
        pass
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(FLOOR_ANSWER)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": FLOOR_ANSWER})


class _Floor:
    def __serve_build_asgi_app__(self) -> Any:
        return _floor_app


def deploy_floor(address: str, max_ongoing_requests: int) -> None:
    """Deploy Ray's floor at ``FLOOR_PREFIX`` as modelport deploys its ingress (run in a child process:
    Serve keeps the application once its driver is gone)."""
    import ray
    from ray import serve

    ray.init(address=address, logging_level="WARNING")
    floor = serve.deployment(
        name="floor",
        max_ongoing_requests=max_ongoing_requests,
        ray_actor_options={"num_cpus": 0},
        logging_config={"enable_access_log": False},
    )(serve.ingress()(_Floor))
    serve.run(floor.bind(), name="floor", route_prefix=FLOOR_PREFIX)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--doc", type=Path, help="write the table into this markdown file")
    parser.add_argument("--deploy-floor", metavar="ADDRESS", help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.deploy_floor:
        deploy_floor(a.deploy_floor, max_ongoing_requests=256)
        return
    with tempfile.TemporaryDirectory(prefix="mp-ray-bench-") as tmp:  # short: Ray's socket paths
        work = Path(tmp)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MODELPORT_", "RAY_ADDRESS"))},
            **RAY_LOOPBACK,
            "MODELPORT_HOME": str(work / "home"),
            "MODELPORT_GRPC__ENABLED": "false",
            "MODELPORT_RAY__MIN_REPLICAS": str(a.replicas),
            "MODELPORT_RAY__MAX_REPLICAS": str(a.replicas),
            "MODELPORT_RAY__NUM_CPUS_PER_REPLICA": "0",  # placed wherever the instance has room
        }
        subprocess.run(
            [str(MODELPORT), "register", str(models.iris_onnx(work)), "--name", "iris"],
            env=env,
            check=True,
            capture_output=True,
        )
        results = {}
        port = free_port()
        direct = _started(
            [str(MODELPORT), "serve", "--host", HOST, "--port", str(port)], env, work / "direct.log", port
        )
        try:
            results["modelport serve"] = measure(port, INFER, direct.refresh_pids, a)
        finally:
            direct.stop(grace=60.0)
        with ray_instance(work / "ray") as address:
            port = free_port()
            argv = [str(MODELPORT), "serve", "--host", HOST, "--port", str(port), "--backend", "ray"]
            on_ray = _started([*argv, "--address", address], env, work / "ray.log", port)
            try:
                deployed = subprocess.run(
                    [sys.executable, __file__, "--deploy-floor", address],
                    env=env,
                    capture_output=True,
                    text=True,
                )
                if deployed.returncode != 0:
                    raise RuntimeError(f"Ray's floor did not deploy:\n{deployed.stderr[-3000:]}")
                ours = [pid for pid in tree_pids(os.getpid()) if pid != os.getpid()]
                results["modelport serve --backend ray"] = measure(port, INFER, lambda: ours, a)
                results["Ray Serve's floor (same proxy)"] = measure(
                    port, FLOOR_PREFIX + INFER, lambda: ours, a
                )
            except RuntimeError:
                print((work / "ray.log").read_text(errors="replace")[-3000:], file=sys.stderr)
                raise
            finally:
                on_ray.stop(grace=60.0)
    table = render(results, a)
    print(table)
    if a.doc:
        write_section(a.doc, HEADING, table)


def render(results: dict[str, Result], a: argparse.Namespace) -> str:
    direct = results["modelport serve"].rate
    lines = [
        HEADING,
        "",
        f"`benchmarks/ray_serve_bench.py`: the iris ONNX model, {a.clients} closed-loop clients sending one "
        f"JSON request each at a time for {a.seconds:g} s (after as long a warm-up), on this machine "
        f"({os.cpu_count()} CPUs, shared with the client). On Ray: {a.replicas} replica(s) behind the "
        "HTTP proxy of a one-node Ray instance; Ray's floor is an ASGI app that only reads the body and "
        "answers a fixed one, deployed beside modelport and asked through the same proxy. CPU per request: "
        "user+sys time of every server process (on Ray, every process of the instance) over the requests "
        "answered. The ratio is to modelport served directly (one process). Where Ray's time goes: "
        "[scale-out.md](scale-out.md#where-a-requests-time-goes-on-ray).",
        "",
        "| server | requests/s | p99 (ms) | requests/s ratio | server CPU per request (ms) "
        "| of which Ray's proxy (ms) |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        proxy = f"{r.proxy_cpu_ms:.2f}" if r.proxy_cpu_ms is not None else "-"
        lines.append(
            f"| {name} | {r.rate:.0f} | {r.p99_ms:.1f} | {r.rate / direct:.2f} | {r.cpu_ms:.2f} | {proxy} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
