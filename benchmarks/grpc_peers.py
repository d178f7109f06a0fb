"""Unary gRPC ``ModelInfer`` of modelport against MLServer's, in one run (the goal of issue 13).

    .venv/bin/python benchmarks/grpc_peers.py --duration 1 --rounds 1 --warmup 0.2   # smoke run
    .venv/bin/python benchmarks/grpc_peers.py --concurrency 64,1 --doc docs/performance.md

Both servers serve peer_bench's ``logreg`` model as ``clf``: modelport its ONNX file (started as
``cells.modelport_server`` starts it, gRPC on a free port), MLServer (``$PEERS/mlserver-venv``) its
joblib estimator with mlserver-sklearn and the settings peer_bench gives it, every port it opens
(HTTP, gRPC, metrics) a free loopback one. Both run for the whole benchmark, pinned to --server-cpu;
``loadgen.py --protocol grpc`` (1 row per request, raw input contents, one channel shared by the
workers) runs pinned to --client-cpu against one at a time, the order alternating per round. The
report gives, per server and concurrency, the medians over the rounds of req/s, p50 and p99, and
the ratio of the req/s medians; the goal of issue 13 is modelport at least 2x MLServer.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cells import BIN, REPO, Layout, Running, loadgen, modelport_server
from doc_section import write_section
from procs import HOST, Server, free_port
from run import ensure_models, machine_info, pip_show

SECTION = "## Unary gRPC against MLServer"
GOAL = 2.0
KIND = "logreg"
MODEL = "clf"  # the name loadgen.py asks for by default
MODELPORT, MLSERVER = "modelport", "MLServer"


def free_ports(n: int) -> list[int]:
    """n distinct free loopback ports."""
    ports: set[int] = set()
    while len(ports) < n:
        ports.add(free_port())
    return sorted(ports)


@contextlib.contextmanager
def mlserver(layout: Layout, peers_root: Path, extra_settings: dict[str, Any]) -> Iterator[Running]:
    """``mlserver start`` on a fresh folder serving the joblib model as MODEL, ready, then stopped by PID."""
    http_port, grpc_port, metrics_port = free_ports(3)
    with tempfile.TemporaryDirectory(prefix="mlserver-bench-") as root:
        settings = {
            "host": HOST,
            "http_port": http_port,
            "grpc_port": grpc_port,
            "metrics_port": metrics_port,
            # both default to folders of the working directory, which is the repo here
            "metrics_dir": os.path.join(root, ".metrics"),
            "environments_dir": os.path.join(root, ".envs"),
            **extra_settings,
        }
        model_settings = {
            "name": MODEL,
            "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": str(layout.model(KIND, "joblib"))},
        }
        Path(root, "settings.json").write_text(json.dumps(settings))
        Path(root, MODEL).mkdir()
        Path(root, MODEL, "model-settings.json").write_text(json.dumps(model_settings))
        argv = [str(peers_root / "mlserver-venv" / "bin" / "mlserver"), "start", root]
        server = Server(argv, {}, layout.log_dir / "mlserver-grpc-peers.log", cpu=layout.server_cpu).start()
        try:
            server.wait_until(f"http://{HOST}:{http_port}/v2/models/{MODEL}/ready", timeout=180)
            yield Running(server, http_port, grpc_port)
        finally:
            server.stop()


def measure(
    a: argparse.Namespace,
    layout: Layout,
    servers: dict[str, Running],
    expected: dict[str, tuple[str, list[int]]],
) -> dict[str, dict[int, list[dict[str, Any]]]]:
    """Cells per server and concurrency, one per round, the servers' order alternating by round."""
    cells: dict[str, dict[int, list[dict[str, Any]]]] = {name: {} for name in servers}
    names = list(servers)
    for round_ in range(a.rounds):
        for conc in a.concurrency:
            for name in names if round_ % 2 == 0 else names[::-1]:
                print(f"== round {round_ + 1}: {name}, c={conc}", flush=True)
                cell = loadgen(layout, servers[name], "grpc", 1, conc, a.duration, a.warmup)
                cell["check"] = check_labels(cell, *expected[name])
                cells[name].setdefault(conc, []).append(cell)
    return cells


def check_labels(cell: dict[str, Any], source: str, expected: list[int]) -> str:
    """How many of the probe's labels match the model's in-process prediction by ``source``."""
    labels = cell.pop("labels")
    agree = sum(int(a == b) for a, b in zip(labels, expected, strict=False))
    return f"{agree}/{len(labels)} match {source}"


def median(cells: list[dict[str, Any]], key: str) -> float | None:
    values = [c[key] for c in cells if c[key] is not None]
    return statistics.median(values) if values else None


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def report(cells: dict[str, dict[int, list[dict[str, Any]]]], concurrency: list[int]) -> str:
    """The table (medians over the rounds) and one goal verdict per concurrency."""
    lines = [
        "| server | c | req/s | p50 (ms) | p99 (ms) | errors | shed | server CPU % | rounds | labels |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    verdicts = []
    for conc in concurrency:
        for name, per_conc in cells.items():
            runs = per_conc[conc]
            lines.append(
                f"| {name} | {conc} | {median(runs, 'rps') or 0:,.0f} | {_ms(median(runs, 'p50_ms'))} | "
                f"{_ms(median(runs, 'p99_ms'))} | {sum(c['error'] for c in runs)} | "
                f"{sum(c['shed'] for c in runs)} | {median(runs, 'server_cpu_pct') or 0:.0f} | {len(runs)} | "
                f"{'; '.join(sorted({c['check'] for c in runs}))} |"
            )
        ours, theirs = median(cells[MODELPORT][conc], "rps") or 0.0, median(cells[MLSERVER][conc], "rps")
        if not theirs:
            verdicts.append(f"c={conc}: MLServer answered no request: goal NOT judged.")
            continue
        met = "met" if ours / theirs >= GOAL else "NOT met"
        verdicts.append(
            f"c={conc}: modelport {ours:,.0f} req/s, MLServer {theirs:,.0f} req/s: "
            f"x{ours / theirs:.2f} (goal at least x{GOAL:g}: {met})."
        )
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {v}" for v in verdicts)


def versions(peers_root: Path) -> str:
    mls = pip_show(
        peers_root / "mlserver-venv" / "bin" / "python", ["mlserver", "mlserver-sklearn", "grpcio"]
    )
    ours = pip_show(Path(sys.executable), ["grpcio", "onnxruntime"])
    modelport = subprocess.run([str(BIN / "modelport"), "--version"], capture_output=True, text=True)
    return (
        f"{modelport.stdout.strip()} ({', '.join(f'{k} {v}' for k, v in ours.items())}); "
        f"{', '.join(f'{k} {v}' for k, v in mls.items())}"
    )


def section(a: argparse.Namespace, machine: dict[str, Any], table: str, mls_settings: dict[str, Any]) -> str:
    command = shlex.join([os.path.relpath(sys.executable, REPO), "benchmarks/grpc_peers.py", *sys.argv[1:]])
    intro = (
        f"`{command}` ({machine['cores']} cores, {machine['cpu_model']}; load average "
        f"{machine['loadavg_start']:.2f} at the start, {machine['loadavg_end']:.2f} at the end). "
        f"peer_bench's `{KIND}` model as `{MODEL}`: modelport serves its ONNX file, MLServer its joblib "
        "estimator with mlserver-sklearn (peer_bench's settings"
        + (f" and `{json.dumps(mls_settings)}`" if mls_settings else "")
        + f"). Both servers run for the whole benchmark pinned to CPU {a.server_cpu}; "
        f"`benchmarks/loadgen.py --protocol grpc` (unary `ModelInfer`, 1 row per request as raw input "
        f"contents, the workers sharing one channel), pinned to CPU {a.client_cpu}, drives one at a time "
        f"for {a.duration:g} s after {a.warmup:g} s of warm-up, the servers' order alternating over "
        f"{a.rounds} rounds. Medians over the rounds; errors and shed requests are totals. Labels: the "
        "probe request's answer against the model's in-process prediction (ONNX for modelport, "
        f"scikit-learn for MLServer). Versions: {versions(a.peers_root)}. Goal (issue 13): modelport's "
        f"req/s at least x{GOAL:g} MLServer's."
    )
    return f"{SECTION}\n\n{intro}\n\n{table}\n"


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--concurrency", type=lambda s: [int(c) for c in s.split(",")], default="64")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds of load per cell")
    ap.add_argument("--warmup", type=float, default=1.0, help="seconds of load before each cell")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--server-cpu", default="1")
    ap.add_argument("--client-cpu", default="0")
    ap.add_argument(
        "--mlserver-settings",
        type=json.loads,
        default={},
        help="JSON merged into MLServer's settings.json, e.g. '{\"parallel_workers\": 0}'",
    )
    ap.add_argument(
        "--peers-root",
        type=Path,
        default=Path(os.environ.get("PEERS", Path.home() / ".cache" / "peer-bench")),
    )
    ap.add_argument(
        "--peer-bench",
        type=Path,
        default=REPO.parent / "shared" / "bench",
        help="folder of make_model.py, run when the models are missing",
    )
    ap.add_argument("--results-dir", type=Path, default=REPO / "benchmarks" / "results")
    ap.add_argument("--doc", type=Path, help="write the section into this file (docs/performance.md)")
    return ap.parse_args()


def main() -> None:
    a = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on the way out
    models_dir = a.peers_root / "bench-work" / "models"
    ensure_models(a, models_dir)
    layout = Layout(models_dir, a.results_dir / "logs", a.server_cpu, a.client_cpu)
    answers = json.loads((models_dir / KIND / "expected.json").read_text())
    expected = {MODELPORT: ("onnxruntime", answers["onnx"]), MLSERVER: ("scikit-learn", answers["sklearn"])}
    machine = machine_info()
    with contextlib.ExitStack() as stack:
        servers = {
            MODELPORT: stack.enter_context(
                modelport_server(layout, layout.model(KIND), [], "modelport-grpc-peers")
            ),
            MLSERVER: stack.enter_context(mlserver(layout, a.peers_root, a.mlserver_settings)),
        }
        cells = measure(a, layout, servers, expected)
    machine["loadavg_end"] = os.getloadavg()[0]
    a.results_dir.mkdir(parents=True, exist_ok=True)
    (a.results_dir / "grpc-peers.json").write_text(json.dumps({"machine": machine, "cells": cells}, indent=1))
    table = report(cells, a.concurrency)
    print(table)
    if a.doc is not None:
        write_section(a.doc, SECTION, section(a, machine, table, a.mlserver_settings))


if __name__ == "__main__":
    main()
