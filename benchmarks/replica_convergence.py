"""Time from a registry change to every replica serving it: 3 ``modelport serve`` processes on one
registry, on PostgreSQL (notified, ``tests/postgres.py``'s throwaway cluster) and on SQLite (polling).

Two versions of one iris model are registered with the version policy ``all``, so both stay loaded
and no load time is measured. Each change moves the alias ``production`` (which the bare model name
serves) to the other version, through the registry in this process; the clock starts when the write
has committed (``set_alias`` returned) and stops when the last replica answers an inference from the
new version (each replica is asked in a tight loop, a request every ``POLL_GAP_S``). Between changes
the script waits a random fraction of the poll interval, so that changes do not line up with the
replicas' polls.

    .venv/bin/python benchmarks/replica_convergence.py --changes 3                # smoke
    .venv/bin/python benchmarks/replica_convergence.py --doc docs/performance.md  # 50 changes each
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from doc_section import write_section
from procs import HOST, Server, free_port

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests import models  # noqa: E402 - the repo's own test helpers, from its root
from tests.postgres import start_cluster  # noqa: E402

from modelport.registry import LocalArtifactStore, Registry  # noqa: E402

MODELPORT = Path(sys.executable).parent / "modelport"
HEADING = "## Replica convergence"
POLL_INTERVAL_S = 0.5
"""``serving.poll_interval_s``'s default, used on both backends."""
POLL_GAP_S = 0.002
TIMEOUT_S = 60.0
BODY = json.dumps(
    {"inputs": [{"name": "X", "datatype": "FP32", "shape": [1, 4], "data": [5.1, 3.5, 1.4, 0.2]}]}
).encode()


def answering_version(connection: http.client.HTTPConnection) -> str:
    connection.request("POST", "/v2/models/iris/infer", BODY, {"Content-Type": "application/json"})
    response = connection.getresponse()
    body = response.read()
    return str(json.loads(body)["model_version"]) if response.status == 200 else ""


def serving_from(port: int, version: str, start: float) -> float:
    """Seconds from ``start`` until the replica on ``port`` answers from ``version``."""
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        while True:
            if answering_version(connection) == version:
                return time.perf_counter() - start
            if time.perf_counter() - start > TIMEOUT_S:
                raise RuntimeError(f"the replica on port {port} never served version {version}")
            time.sleep(POLL_GAP_S)
    finally:
        connection.close()


def measure(backend: str, database_url: str | None, work: Path, replicas: int, changes: int) -> list[float]:
    home = work / backend
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MODELPORT_")},
        "MODELPORT_HOME": str(home),
        "MODELPORT_SERVING__POLL_INTERVAL_S": str(POLL_INTERVAL_S),
    }
    if database_url is not None:
        env["MODELPORT_STORAGE__DATABASE_URL"] = database_url
    for path, alias in ((models.iris_onnx(work), "production"), (models.iris_onnx(work, c=0.1), "standby")):
        cli(env, "register", str(path), "--name", "iris", "--alias", alias)
    cli(env, "policy", "set", "iris", "all")
    ports = [free_port() for _ in range(replicas)]
    servers = [
        Server(
            [str(MODELPORT), "serve", "--host", HOST, "--port", str(p), "--grpc-port", "0"],
            env,
            work / f"{backend}-{p}.log",
            cpu=None,
        ).start()
        for p in ports
    ]
    try:
        for server, port in zip(servers, ports, strict=True):
            server.wait_until(f"http://{HOST}:{port}/v2/models/iris/versions/2/ready")
            server.wait_until(f"http://{HOST}:{port}/v2/models/iris/versions/1/ready")
        url = database_url or f"sqlite:///{home / 'modelport.db'}"
        seconds = []
        with (
            Registry.open(url, LocalArtifactStore(home / "artifacts")) as registry,
            ThreadPoolExecutor(replicas) as pool,
        ):
            version = 1
            for _ in range(changes):
                time.sleep(random.uniform(0, POLL_INTERVAL_S))
                version = 3 - version
                registry.set_alias("iris", "production", version)
                start = time.perf_counter()
                waits = pool.map(serving_from, ports, [str(version)] * replicas, [start] * replicas)
                seconds.append(max(waits))
        return seconds
    finally:
        for server in servers:
            server.stop()


def cli(env: dict[str, str], *args: str) -> None:
    subprocess.run([str(MODELPORT), *args], env=env, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--doc", type=Path, help="write the table into this markdown file")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="modelport-replicas-bench-") as tmp:
        work = Path(tmp)
        cluster = start_cluster()
        try:
            url = cluster.create_database("replicas")
            results["PostgreSQL (LISTEN/NOTIFY)"] = measure(
                "postgresql", url, work, args.replicas, args.changes
            )
        finally:
            cluster.stop()
        results["SQLite (polling)"] = measure("sqlite", None, work, args.replicas, args.changes)
    table = render(results, args.replicas, args.changes)
    print(table)
    if args.doc:
        write_section(args.doc, HEADING, table)


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def render(results: dict[str, list[float]], replicas: int, changes: int) -> str:
    lines = [
        HEADING,
        "",
        f"`benchmarks/replica_convergence.py`: {replicas} `modelport serve` replicas on one registry, "
        f"{changes} alias moves between two loaded versions (no load time); milliseconds from the write's "
        "commit until every replica answers an inference from the new version (each asked every "
        f"{POLL_GAP_S * 1000:.0f} ms), with `serving.poll_interval_s` at its default, "
        f"{POLL_INTERVAL_S} s. PostgreSQL is the tests' throwaway cluster on the same machine.",
        "",
        "| registry | p50 (ms) | p99 (ms) | max (ms) |",
        "|---|---|---|---|",
    ]
    for name, seconds in results.items():
        ms = [s * 1000 for s in seconds]
        lines.append(f"| {name} | {percentile(ms, 50):.0f} | {percentile(ms, 99):.0f} | {max(ms):.0f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
