"""The lone request, and batching that must not cost it: modelport against the ONNX floor.

    .venv/bin/python benchmarks/lone_request.py [--doc docs/performance.md]

Three servers of the peer benchmark's ``logreg`` model (``../shared/bench/make_model.py``), each in
turn pinned to --server-cpu: ``floor-onnx`` (``../shared/bench/floor_server.py``: uvicorn parsing the
OIP JSON and calling onnxruntime inline, the lower bound), ``modelport`` as installed, and
``modelport-batch`` (``config set --max-batch-size 64 --max-queue-delay-us 500``).
``benchmarks/loadgen.py`` (closed loop, OIP JSON, 1 row) on --client-cpu at concurrency 1 and 64,
--rounds rounds, best round per cell (as the peer benchmark reports). Goals of issue 13: p50 at c=1
at most 1.3x floor-onnx's, for modelport and for modelport-batch; modelport-batch's c=64 req/s not
below modelport's.

c=1 is also measured "warm": with a busy loop in the idle scheduling class on the server's CPU, which
takes no time from the server but keeps that CPU from halting between requests. The difference is what
waking a halted CPU costs each lone request, which depends on the machine (on a VM, on whether the
guest polls before it halts), not on the server.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED_BENCH = REPO.parent / "shared" / "bench"
sys.path.insert(0, str(HERE))

from doc_section import write_section  # noqa: E402
from procs import BIN, Server, free_port, modelport_serve  # noqa: E402

SECTION = "## The lone request"
GOAL = 1.3
BATCHING = ["--max-batch-size", "64", "--max-queue-delay-us", "500"]
CELLS = {"c1": (1, False), "c64": (64, False), "warm": (1, True)}
"""Each cell: its concurrency, and whether the server's CPU is kept out of halt (``keep_warm``)."""
SPIN = "while True: pass"


def keep_warm(cpu: str) -> subprocess.Popen[bytes]:
    """A busy loop in the idle scheduling class on ``cpu``: the server preempts it at once, but the
    CPU never halts between requests. Stop it with ``.kill()``."""
    return subprocess.Popen(["taskset", "-c", cpu, "chrt", "--idle", "0", sys.executable, "-c", SPIN])


def start(name: str, models: Path, work: Path, cpu: str) -> tuple[Server, str]:
    """The server ``name`` on a free port, ready; and its infer URL."""
    port = free_port()
    model = models / "logreg" / "model.onnx"
    if name == "floor-onnx":
        argv = [str(BIN / "uvicorn"), "floor_server:app", "--host", "127.0.0.1", "--port", str(port)]
        argv += ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
        env = {
            "FLOOR_MODE": "onnx",
            "FLOOR_MODEL_DIR": str(models / "logreg"),
            "PYTHONPATH": str(SHARED_BENCH),
        }
        url = f"http://127.0.0.1:{port}/v2/models/clf/infer"
    else:
        home = work / f"home-{name}"
        env = {"MODELPORT_HOME": str(home), "MODELPORT_GRPC__PORT": "0"}
        run = {**os.environ, **env}
        subprocess.run([str(BIN / "modelport"), "register", str(model), "--name", "clf"], env=run, check=True)
        if name == "modelport-batch":
            subprocess.run([str(BIN / "modelport"), "config", "set", "clf", *BATCHING], env=run, check=True)
        argv = modelport_serve(port)
        url = f"http://127.0.0.1:{port}/v2/models/clf/infer"
    server = Server(argv, env, work / f"{name}.log", cpu=cpu).start()
    ready = "/v2/health/ready" if name == "floor-onnx" else "/v2/models/clf/ready"
    try:
        server.wait_until(f"http://127.0.0.1:{port}{ready}", timeout=120)
    except BaseException:
        server.stop()  # a server that never got ready is not left running
        raise
    return server, url


def load(a: argparse.Namespace, url: str, pid: int, concurrency: int, rows: Path) -> dict[str, Any]:
    argv = ["taskset", "-c", a.client_cpu, sys.executable, str(HERE / "loadgen.py"), "--url", url]
    argv += ["--protocol", "json", "--rows", "1", "--concurrency", str(concurrency)]
    argv += ["--duration", str(a.duration), "--warmup", "1", "--rows-file", str(rows)]
    argv += ["--input-name", "input-0", "--server-pid", str(pid)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=a.duration + 120)
    if out.returncode != 0:
        raise SystemExit(f"the load generator failed:\n{out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def measure(a: argparse.Namespace, work: Path) -> dict[str, dict[str, dict[str, Any]]]:
    models = work / "models"
    script = [sys.executable, str(SHARED_BENCH / "make_model.py"), "--out", str(models), "--kinds", "logreg"]
    subprocess.run(script, check=True, capture_output=True)
    best: dict[str, dict[str, dict[str, Any]]] = {}
    for _ in range(a.rounds):
        for name in ("floor-onnx", "modelport", "modelport-batch"):
            server, url = start(name, models, work, a.server_cpu)
            try:
                for cell, (concurrency, warm) in CELLS.items():
                    spinner = keep_warm(a.server_cpu) if warm else None
                    try:
                        result = load(a, url, server.pid, concurrency, models / "sample_rows.json")
                    finally:
                        if spinner is not None:
                            spinner.kill()
                            spinner.wait()
                    kept = best.setdefault(name, {}).get(cell)
                    if kept is None or result["rps"] > kept["rps"]:
                        best[name][cell] = result
            finally:
                server.stop()
    return best


def report(best: dict[str, dict[str, dict[str, Any]]]) -> str:
    floor = best["floor-onnx"]
    lines = [
        "| server | c=1 p50 ms (x floor-onnx) | c=1 req/s | c=1 warm p50 ms (x floor-onnx warm) "
        "| c=64 req/s (x floor-onnx) | c=64 p99 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, cells in best.items():
        one, warm, many = cells["c1"], cells["warm"], cells["c64"]
        p50 = f"{one['p50_ms']:.3f} ({one['p50_ms'] / floor['c1']['p50_ms']:.2f})"
        warm_p50 = f"{warm['p50_ms']:.3f} ({warm['p50_ms'] / floor['warm']['p50_ms']:.2f})"
        rps = f"{many['rps']:,.0f} ({many['rps'] / floor['c64']['rps']:.2f})"
        lines.append(f"| {name} | {p50} | {one['rps']:,.0f} | {warm_p50} | {rps} | {many['p99_ms']:.2f} |")
    lines.append("")
    for name in ("modelport", "modelport-batch"):
        ratio = best[name]["c1"]["p50_ms"] / floor["c1"]["p50_ms"]
        verdict = "met" if ratio <= GOAL else "NOT met"
        lines.append(f"- {name}: c=1 p50 x{ratio:.2f} floor-onnx's (goal at most x{GOAL}: {verdict}).")
    for name, cells in best.items():
        woken = (cells["c1"]["p50_ms"] - cells["warm"]["p50_ms"]) * 1000
        lines.append(f"- {name}: waking the halted CPU adds {woken:.0f} µs to the c=1 p50 (c=1 minus warm).")
    kept = best["modelport-batch"]["c64"]["rps"] / best["modelport"]["c64"]["rps"]
    lines.append(f"- modelport-batch at c=64: x{kept:.2f} modelport's req/s (goal: not below, within noise).")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server-cpu", default="1")
    ap.add_argument("--client-cpu", default="0")
    ap.add_argument("--duration", type=float, default=4.0, help="seconds of load per cell")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--doc", type=Path, help="write the section into this file (docs/performance.md)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        table = report(measure(a, Path(scratch)))
    print(table)
    if a.doc is not None:
        intro = (
            "`benchmarks/lone_request.py` (run by `make bench`): the peer benchmark's `logreg` ONNX "
            "model on `floor-onnx` (uvicorn parsing the OIP JSON and calling onnxruntime inline), on "
            "`modelport`, and on `modelport-batch` (`--max-batch-size 64 --max-queue-delay-us 500`), "
            "each pinned to one CPU in turn; `benchmarks/loadgen.py` (closed loop, OIP JSON, 1 row) on "
            f"the other, {a.duration:g} s per cell, best of {a.rounds} rounds. *Warm*: c=1 again with a "
            "busy loop in the idle scheduling class on the server's CPU, which keeps that CPU from "
            "halting between requests without taking time from the server. Goals (issue 13): c=1 p50 "
            f"at most x{GOAL} floor-onnx's with and without batching; batching's c=64 req/s unchanged."
        )
        write_section(a.doc, SECTION, f"{SECTION}\n\n{intro}\n\n{table}\n")


if __name__ == "__main__":
    main()
