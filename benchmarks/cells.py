"""modelport-specific measurements: binary vs JSON, gRPC vs REST, SLO mode, start and register timings.

Every server is started by ``serve_modelport.sh`` (or ``modelport serve``) pinned to the server CPU, the
load generator (``loadgen.py``) runs in its own process pinned to the client CPU, and every server is
stopped by PID before the next one starts.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from procs import Server, free_port, http_post

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BIN = Path(os.environ.get("MODELPORT_BIN", REPO / ".venv" / "bin"))
SERVE_SH = HERE / "serve_modelport.sh"


@dataclass(frozen=True)
class Layout:
    """Where the models, logs and CPUs are."""

    models_dir: Path
    log_dir: Path
    server_cpu: str = "1"
    client_cpu: str = "0"

    @property
    def rows_file(self) -> Path:
        return self.models_dir / "sample_rows.json"

    def model(self, kind: str, ext: str = "onnx") -> Path:
        return self.models_dir / kind / f"model.{ext}"

    def expected(self, kind: str) -> list[int]:
        return list(json.loads((self.models_dir / kind / "expected.json").read_text())["onnx"])


@dataclass
class Running:
    server: Server
    port: int
    grpc_port: int

    @property
    def infer_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2/models/clf/infer"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"


@contextlib.contextmanager
def modelport_server(layout: Layout, model: Path, config: Sequence[str], name: str) -> Iterator[Running]:
    """serve_modelport.sh MODEL with `modelport config set` options, ready, then stopped by PID."""
    port, grpc_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="modelport-bench-") as home:
        env = {"MODELPORT_HOME": home, "MODELPORT_GRPC__PORT": str(grpc_port)}
        argv = ["bash", str(SERVE_SH), str(port), str(model), *config]
        server = Server(argv, env, layout.log_dir / f"{name}.log", cpu=layout.server_cpu).start()
        try:
            server.wait_until(f"http://127.0.0.1:{port}/v2/health/ready", timeout=120)
            yield Running(server, port, grpc_port)
        finally:
            server.stop()


def loadgen(
    layout: Layout,
    running: Running,
    protocol: str,
    rows: int,
    conc: int,
    duration: float,
    warmup: float,
    retry_after_cap: float = 0.0,
) -> dict[str, Any]:
    """One closed-loop cell with loadgen.py pinned to the client CPU."""
    url = running.grpc_target if protocol in ("grpc", "grpc-stream") else running.infer_url
    argv = ["taskset", "-c", layout.client_cpu, sys.executable, str(HERE / "loadgen.py"), "--url", url]
    argv += ["--protocol", protocol, "--rows", str(rows), "--concurrency", str(conc)]
    argv += ["--duration", str(duration), "--warmup", str(warmup), "--rows-file", str(layout.rows_file)]
    argv += ["--server-pid", str(running.server.pid), "--retry-after-cap", str(retry_after_cap)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + warmup + 120)
    if out.returncode != 0:
        raise RuntimeError(f"loadgen failed ({out.returncode}): {out.stderr[-1500:]}")
    cell: dict[str, Any] = json.loads(out.stdout)
    print(
        f"   {protocol:<6} rows={rows:<3} c={conc:<3} {cell['rps']:8.0f} req/s  p50 {_ms(cell['p50_ms'])}  "
        f"p99 {_ms(cell['p99_ms'])}  shed {cell['shed_share']:.1%}  err {cell['error']}  "
        f"client cpu {cell['client_cpu_pct']:.0f}%",
        flush=True,
    )
    return cell


def _ms(value: float | None) -> str:
    return "    -   " if value is None else f"{value:7.2f} ms"


def check_labels(cell: dict[str, Any], expected: list[int]) -> str:
    labels = cell.pop("labels", [])
    agree = sum(int(a == b) for a, b in zip(labels, expected, strict=False))
    return f"{agree}/{len(labels)} labels match onnxruntime"


# ----------------------------------------------------------------------------- protocol cells
def protocol_cells(
    layout: Layout,
    cells: Sequence[tuple[str, int, int]],
    duration: float,
    warmup: float,
    kind: str = "logreg",
) -> list[dict[str, Any]]:
    """(protocol, rows, concurrency) cells against one default-config modelport server."""
    results = []
    with modelport_server(layout, layout.model(kind), [], f"modelport-protocols-{kind}") as running:
        for protocol, rows, conc in cells:
            cell = loadgen(layout, running, protocol, rows, conc, duration, warmup)
            cell["check"] = check_labels(cell, layout.expected(kind))
            results.append({"model": kind, **cell})
    return results


# ----------------------------------------------------------------------------- SLO mode
SLO_CONFIGS: dict[str, list[str]] = {
    "fixed A (max-batch-size 64, max-queue-delay-us 2000)": [
        "--max-batch-size",
        "64",
        "--max-queue-delay-us",
        "2000",
    ],
    "fixed B (max-batch-size 8)": ["--max-batch-size", "8"],
    "SLO latency-target-ms 5": ["--latency-target-ms", "5"],
    "SLO latency-target-ms 20": ["--latency-target-ms", "20"],
}


SLO_RETRY_AFTER_CAP_S = 1.0
"""SLO cells model polite clients: a refused request waits its Retry-After (1 s) before retrying."""


def slo_cells(
    layout: Layout,
    kind: str,
    rows: int,
    concurrency: Sequence[int],
    duration: float,
    warmup: float,
    configs: Sequence[str] = tuple(SLO_CONFIGS),
) -> list[dict[str, Any]]:
    results = []
    for label in configs:
        config = SLO_CONFIGS[label]
        print(f"== SLO cells: {kind}, {label}", flush=True)
        with modelport_server(
            layout, layout.model(kind), config, f"modelport-slo-{config[0][2:]}-{config[1]}"
        ) as running:
            for conc in concurrency:
                cell = loadgen(layout, running, "json", rows, conc, duration, warmup, SLO_RETRY_AFTER_CAP_S)
                cell.pop("labels", None)
                results.append({"config": label, "options": " ".join(config), "model": kind, **cell})
    return results


# ----------------------------------------------------------------------------- start / register
def _serve_demo(layout: Layout, home: str, port: int, name: str) -> Server:
    argv = [str(BIN / "modelport"), "serve", "--demo", "--port", str(port), "--log-level", "warning"]
    env = {"MODELPORT_HOME": home, "MODELPORT_GRPC__PORT": str(free_port())}
    return Server(argv, env, layout.log_dir / f"{name}.log", cpu=layout.server_cpu).start()


def startup_timings(layout: Layout, repeats: int) -> dict[str, Any]:
    """Seed a fresh home once; then, on it, time start -> ready and register -> first prediction."""
    with tempfile.TemporaryDirectory(prefix="modelport-bench-demo-") as home:
        port = free_port()
        server = _serve_demo(layout, home, port, "modelport-demo-seed")
        try:
            seed_s = server.wait_until(f"http://127.0.0.1:{port}/v2/health/ready", timeout=300)
        finally:
            server.stop()
        ready, register = [], []
        for i in range(repeats):
            port = free_port()
            server = _serve_demo(layout, home, port, f"modelport-demo-{i}")
            try:
                ready.append(server.wait_until(f"http://127.0.0.1:{port}/v2/health/ready", timeout=120))
                register.append(_register_to_prediction(layout, home, port, f"fresh{i}"))
            finally:
                server.stop()
    result = {
        "seed_and_ready_s": seed_s,
        "start_to_ready_s": ready,
        "start_to_ready_median_s": statistics.median(ready),
        "register_to_prediction": register,
        "register_to_prediction_median_s": statistics.median(r["first_prediction_s"] for r in register),
    }
    print(
        f"   seed+ready {seed_s:.2f} s; start->ready median {result['start_to_ready_median_s']:.2f} s; "
        f"register->first prediction median {result['register_to_prediction_median_s']:.2f} s",
        flush=True,
    )
    return result


def _register_to_prediction(layout: Layout, home: str, port: int, name: str) -> dict[str, float]:
    """`modelport register` (CLI, local home) while the server runs; poll infer until it answers 200."""
    rows = json.loads(layout.rows_file.read_text())[:1]
    body = json.dumps({"inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP32", "data": rows}]})
    url = f"http://127.0.0.1:{port}/v2/models/{name}/infer"
    env = {**os.environ, "MODELPORT_HOME": home}
    argv = [
        "taskset",
        "-c",
        layout.client_cpu,
        str(BIN / "modelport"),
        "register",
        str(layout.model("logreg")),
    ]
    t0 = time.perf_counter()
    subprocess.run([*argv, "--name", name, "--json"], env=env, check=True, capture_output=True)
    cli_s = time.perf_counter() - t0
    deadline = t0 + 60
    while time.perf_counter() < deadline:
        status, _ = http_post(url, body.encode(), {"Content-Type": "application/json"}, timeout=2)
        if status == 200:
            return {"cli_s": cli_s, "first_prediction_s": time.perf_counter() - t0}
        time.sleep(0.02)
    raise RuntimeError(f"{name}: no successful prediction within 60 s of registering")
