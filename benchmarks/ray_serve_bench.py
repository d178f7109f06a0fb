"""Requests/s and p99 of a small model through Ray Serve's HTTP proxy (``modelport serve --backend
ray``) against ``modelport serve`` answering directly, in the same run, on the same registry.

One iris ONNX model; ``--clients`` threads each send one JSON Open Inference Protocol request at a
time on a kept-alive connection for ``--seconds``, after a warm-up of the same length. modelport
directly is one process; on Ray the same app runs in ``--replicas`` replicas behind the proxy of a
local Ray instance that the command starts (and stops). The client and the servers share the
machine, so the numbers compare the two paths more than they measure either.

    .venv/bin/python benchmarks/ray_serve_bench.py --seconds 2 --clients 4        # smoke
    .venv/bin/python benchmarks/ray_serve_bench.py --doc docs/performance.md
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from doc_section import write_section
from procs import HOST, Server, free_port

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests import models  # noqa: E402 - the repo's own test helpers, from its root

MODELPORT = Path(sys.executable).parent / "modelport"
HEADING = "## Ray Serve's proxy vs modelport directly"
BODY = json.dumps(
    {"inputs": [{"name": "X", "datatype": "FP32", "shape": [1, 4], "data": [5.1, 3.5, 1.4, 0.2]}]}
).encode()
HEADERS = {"Content-Type": "application/json"}
START_TIMEOUT_S = 180.0


def load(port: int, clients: int, seconds: float) -> tuple[float, float]:
    """Requests/s and p99 (ms) of ``clients`` closed-loop clients for ``seconds``; any failure raises."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    end = time.perf_counter() + seconds

    def client(out: list[float]) -> None:
        connection = http.client.HTTPConnection(HOST, port, timeout=30)
        try:
            while (start := time.perf_counter()) < end:
                connection.request(
                    "POST", "/v2/models/iris/infer", BODY, {"Content-Type": "application/json"}
                )
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
    return len(every) / wall, statistics.quantiles(every, n=100)[98] * 1000


def measure(
    argv: list[str], env: dict[str, str], log: Path, port: int, a: argparse.Namespace
) -> tuple[float, float]:
    server = Server(argv, env, log, cpu=None).start()
    try:
        server.wait_until(f"http://{HOST}:{port}/v2/models/iris/ready", timeout=START_TIMEOUT_S)
        load(port, a.clients, a.seconds)  # warm-up: every replica has its connections and threads
        return load(port, a.clients, a.seconds)
    except RuntimeError:
        print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    finally:
        server.stop(grace=60.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--doc", type=Path, help="write the table into this markdown file")
    a = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="modelport-ray-bench-") as tmp:
        work = Path(tmp)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MODELPORT_", "RAY_ADDRESS"))},
            "MODELPORT_HOME": str(work / "home"),
            "MODELPORT_GRPC__ENABLED": "false",
            "MODELPORT_RAY__MIN_REPLICAS": str(a.replicas),
            "MODELPORT_RAY__MAX_REPLICAS": str(a.replicas),
            "MODELPORT_RAY__NUM_CPUS_PER_REPLICA": "0",  # placed wherever the local instance has room
        }
        subprocess.run(
            [str(MODELPORT), "register", str(models.iris_onnx(work)), "--name", "iris"],
            env=env,
            check=True,
            capture_output=True,
        )
        results = {}
        for name, extra in (("modelport serve", []), ("modelport serve --backend ray", ["--backend", "ray"])):
            port = free_port()
            argv = [str(MODELPORT), "serve", "--host", HOST, "--port", str(port), *extra]
            results[name] = measure(argv, env, work / f"{port}.log", port, a)
    table = render(results, a)
    print(table)
    if a.doc:
        write_section(a.doc, HEADING, table)


def render(results: dict[str, tuple[float, float]], a: argparse.Namespace) -> str:
    direct = results["modelport serve"][0]
    lines = [
        HEADING,
        "",
        f"`benchmarks/ray_serve_bench.py`: the iris ONNX model, {a.clients} closed-loop clients sending one "
        f"JSON request each at a time for {a.seconds:g} s (after as long a warm-up), on this machine "
        f"({os.cpu_count()} CPUs, shared with the client). On Ray: {a.replicas} replica(s) behind the "
        "HTTP proxy of a local Ray instance; the ratio is to modelport served directly (one process).",
        "On Ray each request also crosses the proxy (an actor) and a Ray call to the replica: with a "
        "model this small, that hop is most of the cost. Ray pays off with replicas on other machines, "
        "not on one host (see [scale-out.md](scale-out.md#ray-serve)).",
        "",
        "| server | requests/s | p99 (ms) | requests/s ratio |",
        "|---|---|---|---|",
    ]
    for name, (rate, p99) in results.items():
        lines.append(f"| {name} | {rate:.0f} | {p99:.1f} | {rate / direct:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
