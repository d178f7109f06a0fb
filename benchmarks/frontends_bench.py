"""Requests/s of each HTTP front-end against OIP JSON, on one server and one model.

    .venv/bin/python benchmarks/frontends_bench.py [--doc docs/performance.md]

One server (pinned to --server-cpu) serves the iris ONNX model; ``benchmarks/loadgen.py`` (closed
loop, 1 row) runs on --client-cpu, for each concurrency, one phase per protocol in turn, --rounds
times: OIP JSON (``/v2/models/iris/infer``), KServe v1 / TF Serving (``/v1/models/iris:predict``,
``{"instances": rows}``) and MLflow (``/invocations``, ``{"inputs": rows}``, the model named by the
``x-modelport-target`` header). The goal of issue 13: v1 ``:predict`` and ``/invocations`` reach at
least 0.9x OIP JSON's req/s on the same model.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from doc_section import write_section  # noqa: E402
from procs import BIN, Server, free_port, modelport_serve, run_loadgen  # noqa: E402
from tests import models  # noqa: E402

ROW = [5.1, 3.5, 1.4, 0.2]
SECTION = "## Front-ends against OIP JSON"
GOAL = 0.9
PATHS = {"json": "/v2/models/iris/infer", "v1": "/v1/models/iris:predict", "mlflow": "/invocations"}
NAMES = {"json": "OIP JSON", "v1": "KServe v1 :predict", "mlflow": "MLflow /invocations"}


def load(a: argparse.Namespace, protocol: str, port: int, pid: int, concurrency: int, rows: Path) -> float:
    url = f"http://127.0.0.1:{port}{PATHS[protocol]}"
    result = run_loadgen(
        url, protocol, pid, rows, concurrency=concurrency, duration=a.duration, client_cpu=a.client_cpu
    )
    return float(result["rps"])


def measure(a: argparse.Namespace, work: Path) -> dict[int, dict[str, list[float]]]:
    home = work / "home"
    env = {"MODELPORT_HOME": str(home), "PATH": f"{BIN}{os.pathsep}{os.defpath}"}  # taskset too
    register = [str(BIN / "modelport"), "register", str(models.iris_onnx(work)), "--name", "iris"]
    subprocess.run(register, env=env, check=True, capture_output=True)
    rows = work / "rows.json"
    rows.write_text(json.dumps([ROW]))
    port = free_port()
    argv = modelport_serve(port)
    server = Server(argv, {**env, "MODELPORT_GRPC__PORT": "0"}, work / "server.log", cpu=a.server_cpu).start()
    results: dict[int, dict[str, list[float]]] = {}
    try:
        server.wait_until(f"http://127.0.0.1:{port}/v2/models/iris/ready", timeout=120)
        for concurrency in a.concurrency:
            cell = results.setdefault(concurrency, {protocol: [] for protocol in PATHS})
            for _ in range(a.rounds):
                for protocol in PATHS:
                    cell[protocol].append(load(a, protocol, port, server.pid, concurrency, rows))
        return results
    finally:
        server.stop()


def report(results: dict[int, dict[str, list[float]]]) -> str:
    lines = [
        "| front-end | " + " | ".join(f"c={c} req/s (x OIP JSON)" for c in results) + " |",
        "|---|" + "---:|" * len(results),
    ]
    medians = {c: {p: statistics.median(r) for p, r in cell.items()} for c, cell in results.items()}
    for protocol in PATHS:
        cells = [f"{m[protocol]:,.0f} ({m[protocol] / m['json']:.2f})" for m in medians.values()]
        lines.append(f"| {NAMES[protocol]} | " + " | ".join(cells) + " |")
    worst = min(m[p] / m["json"] for m in medians.values() for p in ("v1", "mlflow"))
    verdict = "met" if worst >= GOAL else "NOT met"
    lines += ["", f"Lowest ratio to OIP JSON: x{worst:.2f} (goal at least x{GOAL}: {verdict})."]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server-cpu", default="1")
    ap.add_argument("--client-cpu", default="0")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--duration", type=float, default=4.0, help="seconds of load per phase")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--doc", type=Path, help="write the section into this file (docs/performance.md)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        table = report(measure(a, Path(scratch)))
    print(table)
    if a.doc is not None:
        intro = (
            "`benchmarks/frontends_bench.py` (run by `make bench`): one server pinned to one CPU serves "
            "the iris ONNX model; `benchmarks/loadgen.py` (closed loop, 1 row) on the other CPU, "
            f"{a.duration:g} s per protocol in turn, {a.rounds} rounds, median req/s. KServe v1 sends "
            '`{"instances": rows}` to `/v1/models/iris:predict`; MLflow sends `{"inputs": rows}` to '
            "`/invocations` with `x-modelport-target: iris`. Goal (issue 13): each at least "
            f"x{GOAL} OIP JSON's req/s."
        )
        write_section(a.doc, SECTION, f"{SECTION}\n\n{intro}\n\n{table}\n")


if __name__ == "__main__":
    main()
