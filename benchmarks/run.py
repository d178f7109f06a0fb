"""The `make bench` entry point: peer comparison, modelport-specific cells, profile, then docs/performance.md.

    .venv/bin/python benchmarks/run.py            # full run, about 20 minutes; needs the machine to itself
    .venv/bin/python benchmarks/run.py --quick    # smoke run: 1 s cells, one round, a subset

Steps: (a) ../shared/bench/peer_bench.py (wrk) for logreg and mlp-wide with modelport as extra servers;
(b) loadgen.py cells: binary vs JSON, gRPC vs REST, SLO mode vs fixed batching, start/register timings;
(c) py-spy profile under load; (d) report.py renders docs/performance.md and the throughput/p99 plot;
(e) rollout_sim.py, the Monte-Carlo simulation of the rollout guardrails, writes its table into
docs/deployments.md (with --quick it only prints a small run). Raw results go to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cells import (
    BIN,
    REPO,
    SERVE_SH,
    SLO_CONFIGS,
    Layout,
    protocol_cells,
    slo_cells,
    startup_timings,
)
from profile_server import profile_under_load
from report import render

PEER_SERVERS = "floor,floor-onnx,floor-sklearn,mlserver,mlserver-batch,bentoml,litserve"
PEER_VENV_PACKAGES = {
    "base-venv": ["scikit-learn", "onnxruntime", "numpy", "uvicorn", "uvloop", "orjson"],
    "mlserver-venv": ["mlserver", "mlserver-sklearn"],
    "bentoml-venv": ["bentoml"],
    "litserve-venv": ["litserve"],
}
MODELPORT_PACKAGES = [
    "onnxruntime",
    "numpy",
    "uvicorn",
    "uvloop",
    "httptools",
    "grpcio",
    "scikit-learn",
    "orjson",
]


@dataclass(frozen=True)
class Plan:
    """What to run; --quick shrinks every part."""

    duration: int
    rounds: int
    peer_servers: str
    peer_rows: str
    peer_conc: str
    extras: tuple[str, ...]
    mlp_wide: bool
    protocol_cells: tuple[tuple[str, int, int], ...]
    slo_configs: tuple[str, ...]
    slo_conc: tuple[int, ...]
    startup_repeats: int
    profile_s: float


FULL = Plan(
    duration=4,
    rounds=2,
    peer_servers=PEER_SERVERS,
    peer_rows="1,100",
    peer_conc="1,8,64",
    extras=("modelport", "modelport-nometrics", "modelport-asgi", "modelport-sklearn", "modelport-nobatch"),
    mlp_wide=True,
    protocol_cells=(
        ("json", 100, 8),
        ("binary", 100, 8),
        ("json", 100, 64),
        ("binary", 100, 64),
        ("json", 1, 1),
        ("grpc", 1, 1),
        ("json", 1, 64),
        ("grpc", 1, 64),
        ("grpc-stream", 1, 64),
    ),
    slo_configs=tuple(SLO_CONFIGS),
    slo_conc=(4, 32, 128),
    startup_repeats=3,
    profile_s=8,
)
QUICK = Plan(
    duration=1,
    rounds=1,
    peer_servers="floor-onnx",
    peer_rows="1",
    peer_conc="1,64",
    extras=("modelport", "modelport-nometrics", "modelport-asgi"),
    mlp_wide=False,
    protocol_cells=(("json", 100, 8), ("binary", 100, 8), ("json", 1, 8), ("grpc", 1, 8)),
    slo_configs=tuple(list(SLO_CONFIGS)[::2]),
    slo_conc=(32,),
    startup_repeats=1,
    profile_s=2,
)


BATCH64 = "--max-batch-size 64 --max-queue-delay-us 500"
"""Issue 13's batching config for the compute-bound mlp-wide model (goal: 1.8x floor-onnx at c=64)."""
MLP_WIDE_EXTRAS = ("modelport", "modelport-batch64", "modelport-nobatch")

SKLEARN_SIGNATURE = {
    "inputs": [{"name": "input-0", "datatype": "FP32", "shape": [-1, 20]}],
    "outputs": [
        {"name": "label", "datatype": "INT64", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP64", "shape": [-1, 2]},
    ],
}
"""The logreg joblib estimator's signature with the input named as in peer_bench's request bodies."""


def extra_args(names: tuple[str, ...], results_dir: Path) -> list[str]:
    signature = results_dir / "sklearn-logreg-signature.json"
    signature.write_text(json.dumps(SKLEARN_SIGNATURE))
    commands = {
        "modelport": f"bash {shlex.quote(str(SERVE_SH))} {{port}} {{onnx}}",
        "modelport-sklearn": f"MODELPORT_BENCH_SIGNATURE={shlex.quote(str(signature))} "
        f"bash {shlex.quote(str(SERVE_SH))} {{port}} {{joblib}}",
        "modelport-nobatch": f"bash {shlex.quote(str(SERVE_SH))} {{port}} {{onnx}} --max-batch-size 1",
        "modelport-batch64": f"bash {shlex.quote(str(SERVE_SH))} {{port}} {{onnx}} {BATCH64}",
        "modelport-nometrics": "MODELPORT_METRICS__ENABLED=false "
        f"bash {shlex.quote(str(SERVE_SH))} {{port}} {{onnx}}",
        "modelport-asgi": "MODELPORT_SERVING__FAST_LANE=false "
        f"bash {shlex.quote(str(SERVE_SH))} {{port}} {{onnx}}",
    }
    return [arg for name in names for arg in ("--extra", f"{name}={commands[name]}")]


def run_peers(a: argparse.Namespace, plan: Plan, model: str, servers: str, extras: tuple[str, ...]) -> Path:
    out = a.results_dir / f"peer-{model}.md"
    argv = [sys.executable, str(a.peer_bench / "peer_bench.py"), "--servers", servers, "--model", model]
    argv += ["--rows", plan.peer_rows, "--concurrency", plan.peer_conc, "--duration", str(plan.duration)]
    argv += ["--rounds", str(plan.rounds), "--peers-root", str(a.peers_root), "--out", str(out)]
    argv += ["--json", str(out.with_suffix(".json")), *extra_args(extras, a.results_dir)]
    if a.quick:
        argv += ["--skip-inproc"]
    print(f"== peer_bench: {model}: {servers} + {', '.join(extras)}", flush=True)
    subprocess.run(argv, check=True)
    return out.with_suffix(".json")


def ensure_models(a: argparse.Namespace, models_dir: Path) -> None:
    if all((models_dir / k / "expected.json").exists() for k in ("logreg", "mlp-wide", "rf")):
        return
    print("== training the benchmark models (peer_bench make_model.py)", flush=True)
    python = a.peers_root / "base-venv" / "bin" / "python"
    subprocess.run([str(python), str(a.peer_bench / "make_model.py"), "--out", str(models_dir)], check=True)


# ----------------------------------------------------------------------------- machine and versions
def machine_info() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
    mem_kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
    return {
        "cpu_model": models[0] if models else platform.processor() or "?",
        "cores": len(models) or os.cpu_count(),
        "mem_gib": mem_kb / 1024 / 1024,
        "kernel": Path("/proc/sys/kernel/osrelease").read_text().strip(),
        "loadavg_start": os.getloadavg()[0],
    }


def pip_show(python: Path, packages: list[str]) -> dict[str, str]:
    if not python.exists():
        return {}
    out = subprocess.run([str(python), "-m", "pip", "show", *packages], capture_output=True, text=True)
    found, name = {}, ""
    for line in out.stdout.splitlines():
        if line.startswith("Name: "):
            name = line[6:].strip()
        elif line.startswith("Version: ") and name:
            found[name] = line[9:].strip()
    return found


def versions(peers_root: Path) -> dict[str, Any]:
    modelport = subprocess.run([str(BIN / "modelport"), "--version"], capture_output=True, text=True)
    venvs = {"modelport venv": pip_show(Path(sys.executable), MODELPORT_PACKAGES)}
    for venv, pkgs in PEER_VENV_PACKAGES.items():
        python = peers_root / venv / "bin" / "python"
        venvs[venv] = pip_show(python, pkgs) | {"python": _python_version(python)}
    return {"python": sys.version.split()[0], "modelport": modelport.stdout.strip(), "venvs": venvs}


def _python_version(python: Path) -> str:
    if not python.exists():
        return "-"
    out = subprocess.run(
        [str(python), "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True
    )
    return out.stdout.strip()


# ----------------------------------------------------------------------------- main
def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 s cells, one round, a subset (smoke test)")
    ap.add_argument(
        "--peer-bench",
        type=Path,
        default=REPO.parent / "shared" / "bench",
        help="folder of peer_bench.py (default: ../shared/bench from the repo root)",
    )
    ap.add_argument(
        "--peers-root",
        type=Path,
        default=Path(os.environ.get("PEERS", Path.home() / ".cache" / "peer-bench")),
    )
    ap.add_argument("--results-dir", type=Path, default=REPO / "benchmarks" / "results")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "performance.md")
    ap.add_argument("--server-cpu", default="1")
    ap.add_argument("--client-cpu", default="0")
    ap.add_argument("--skip-peers", action="store_true", help="reuse the peer JSON already in --results-dir")
    return ap.parse_args()


def peer_results(a: argparse.Namespace, plan: Plan) -> dict[str, Path]:
    files = {"logreg": a.results_dir / "peer-logreg.json", "mlp-wide": a.results_dir / "peer-mlp-wide.json"}
    if a.skip_peers:
        return {k: p for k, p in files.items() if p.exists()}
    done = {"logreg": run_peers(a, plan, "logreg", plan.peer_servers, plan.extras)}
    if plan.mlp_wide:
        done["mlp-wide"] = run_peers(a, plan, "mlp-wide", "floor-onnx", MLP_WIDE_EXTRAS)
    return done


def modelport_cells(a: argparse.Namespace, plan: Plan, layout: Layout) -> dict[str, Any]:
    warmup = 0.5 if a.quick else 1.0
    print("== modelport protocol cells (loadgen.py)", flush=True)
    res: dict[str, Any] = {
        "protocol_cells": protocol_cells(layout, plan.protocol_cells, plan.duration, warmup)
    }
    slo_model = "rf"
    res["slo_model"] = slo_model
    res["slo_cells"] = slo_cells(
        layout, slo_model, 100, plan.slo_conc, plan.duration, warmup, plan.slo_configs
    )
    print("== in-process cost of the per-request statistics", flush=True)
    res["stats_cost"] = stats_cost()
    print("== start -> ready and register -> first prediction", flush=True)
    res["startup"] = startup_timings(layout, plan.startup_repeats)
    print(f"== py-spy profile, {plan.profile_s:.0f} s under loadgen JSON 1 row c=64", flush=True)
    res["profile"] = profile_under_load(layout, a.results_dir / "profile-logreg-1row-c64.txt", plan.profile_s)
    return res


def stats_cost() -> dict[str, float]:
    """benchmarks/stats_cost.py, pinned to the server CPU: microseconds the statistics add per request."""
    argv = [sys.executable, str(REPO / "benchmarks" / "stats_cost.py")]
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    cost: dict[str, float] = json.loads(out.stdout)
    return cost


def main() -> None:
    a = parse_args()
    plan = QUICK if a.quick else FULL
    a.results_dir.mkdir(parents=True, exist_ok=True)
    if not (a.peer_bench / "peer_bench.py").exists():
        sys.exit(f"peer_bench.py not found in {a.peer_bench} (use --peer-bench PATH)")
    started, machine = time.time(), machine_info()
    models_dir = a.peers_root / "bench-work" / "models"
    ensure_models(a, models_dir)
    peers = peer_results(a, plan)
    layout = Layout(models_dir, a.results_dir / "logs", a.server_cpu, a.client_cpu)
    res: dict[str, Any] = {
        "command": shlex.join([os.path.relpath(sys.executable, REPO), "benchmarks/run.py", *sys.argv[1:]]),
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
        "quick": a.quick,
        "server_cpu": a.server_cpu,
        "client_cpu": a.client_cpu,
        "peers": {k: json.loads(p.read_text()) for k, p in peers.items()},
        "peer_files": {k: os.path.relpath(p, REPO) for k, p in peers.items()},
        **modelport_cells(a, plan, layout),
        "versions": versions(a.peers_root),
        "notes": [],
    }
    res["machine"] = machine | {"loadavg_end": os.getloadavg()[0]}
    res["wall_s"] = time.time() - started
    res["notes"] = notes(res)
    (a.results_dir / "modelport-bench.json").write_text(json.dumps(res, indent=1, default=str))
    render(res, a.out, a.out.parent / "performance-throughput-p99.png")
    print("== rollout guardrail simulation (rollout_sim.py)", flush=True)
    quick = ["--quick"] if a.quick else []
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "rollout_sim.py"), *quick], check=True)
    print(f"== done in {res['wall_s'] / 60:.1f} min; wrote {a.out} and {a.results_dir}/modelport-bench.json")


def notes(res: dict[str, Any]) -> list[str]:
    out = [
        "Peer cells: wrk (C, 1 thread) drives the servers; modelport cells: loadgen.py "
        "(Python asyncio) does. "
        "Compare numbers within one table, not across the two load generators.",
        "Closed-loop load: percentiles include queueing in the server and are comparable only at equal "
        "concurrency. The machine has 2 cores and may be shared; see the load averages above.",
        f"Every raw result is in `{os.path.relpath(REPO / 'benchmarks' / 'results', REPO)}/` "
        "(peer_bench markdown + JSON, modelport-bench.json, the py-spy collapsed stacks, server logs).",
    ]
    busy = [c for c in res.get("protocol_cells", []) + res.get("slo_cells", []) if c["client_cpu_pct"] > 90]
    if busy:
        out.append(
            f"{len(busy)} loadgen cell(s) used > 90% of the client CPU: there the client may be the limit."
        )
    return out


if __name__ == "__main__":
    main()
