"""What one ModelStreamInfer message costs in grpcio itself, beside modelport's streamed inference.

    .venv/bin/python benchmarks/grpc_stream_floor.py [--doc docs/performance.md]

The floor is a grpcio asyncio servicer (on uvloop, as ``modelport serve`` runs) whose
``ModelStreamInfer`` answers every message at once with a fixed one-value tensor: no decoding, no
model, nothing but grpcio's reading and writing of stream messages. Beside it, ``modelport serve``
serves the iris ONNX model. Each server is pinned to --server-cpu; ``benchmarks/loadgen.py`` drives
it from --client-cpu, closed loop, 1 row, all workers on one stream (``--protocol grpc-stream``),
and also modelport's REST (OIP JSON) at the same concurrency, for the ratio issue 13 sets
(streaming gRPC at least 0.75x REST's req/s). Medians over --rounds; the server's CPU per message
is the figure that does not depend on the load generator keeping up.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from doc_section import write_section  # noqa: E402
from procs import BIN, HOST, Server, free_port, modelport_serve, run_loadgen  # noqa: E402
from tests import models  # noqa: E402

ROW = [5.1, 3.5, 1.4, 0.2]
SECTION = "## Streaming gRPC against grpcio's own floor"
GOAL = 0.75


def serve_floor(port: int) -> None:
    """The floor servicer, in this process (``--serve-floor PORT``)."""
    import grpc
    import numpy as np
    import uvloop

    from modelport.serving.grpc import grpc_predict_v2_pb2 as pb
    from modelport.serving.grpc import grpc_predict_v2_pb2_grpc as pb_grpc

    label = np.array([1], "<i8").tobytes()

    class Floor(pb_grpc.GRPCInferenceServiceServicer):  # type: ignore[misc]
        async def ModelStreamInfer(self, requests: Any, context: Any) -> Any:
            async for request in requests:
                answer = pb.ModelStreamInferResponse()
                response = answer.infer_response
                response.model_name, response.id = request.model_name, request.id
                response.outputs.add(name="label", datatype="INT64", shape=[1])
                response.raw_output_contents.append(label)
                yield answer

    async def main() -> None:
        server = grpc.aio.server()
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(Floor(), server)  # type: ignore[no-untyped-call]
        server.add_insecure_port(f"{HOST}:{port}")
        await server.start()
        await server.wait_for_termination()

    uvloop.run(main())


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on {HOST}:{port}")


def load(a: argparse.Namespace, url: str, protocol: str, pid: int, rows: Path) -> dict[str, Any]:
    return run_loadgen(
        url, protocol, pid, rows, concurrency=a.concurrency, duration=a.duration, client_cpu=a.client_cpu
    )


def measure(a: argparse.Namespace, work: Path) -> dict[str, list[dict[str, Any]]]:
    home = work / "home"
    env = {"MODELPORT_HOME": str(home), "PATH": f"{BIN}{os.pathsep}{os.defpath}"}  # taskset too
    register = [str(BIN / "modelport"), "register", str(models.iris_onnx(work)), "--name", "iris"]
    subprocess.run(register, env=env, check=True, capture_output=True)
    rows = work / "rows.json"
    rows.write_text(json.dumps([ROW]))
    port, grpc_port, floor_port = free_port(), free_port(), free_port()
    serve_env = {**env, "MODELPORT_GRPC__PORT": str(grpc_port)}
    modelport = Server(modelport_serve(port), serve_env, work / "modelport.log", cpu=a.server_cpu)
    floor_argv = [sys.executable, str(Path(__file__).resolve()), "--serve-floor", str(floor_port)]
    floor = Server(floor_argv, env, work / "floor.log", cpu=a.server_cpu)
    cells: dict[str, list[dict[str, Any]]] = {"floor": [], "stream": [], "rest": []}
    try:
        modelport.start().wait_until(f"http://{HOST}:{port}/v2/models/iris/ready", timeout=120)
        floor.start()
        wait_for_port(floor_port)
        for _ in range(a.rounds):
            cells["floor"].append(load(a, f"{HOST}:{floor_port}", "grpc-stream", floor.pid, rows))
            cells["stream"].append(load(a, f"{HOST}:{grpc_port}", "grpc-stream", modelport.pid, rows))
            infer = f"http://{HOST}:{port}/v2/models/iris/infer"
            cells["rest"].append(load(a, infer, "json", modelport.pid, rows))
        return cells
    finally:
        floor.stop()
        modelport.stop()


NAMES = {
    "floor": "grpcio floor (answers at once)",
    "stream": "modelport ModelStreamInfer",
    "rest": "modelport OIP JSON (REST)",
}


def report(cells: dict[str, list[dict[str, Any]]], concurrency: int) -> str:
    def median(cell: str, key: str) -> float:
        return statistics.median(result[key] for result in cells[cell])

    lines = [
        "| server | req/s | server CPU ms per message | server CPU % | load generator CPU % |",
        "|---|---:|---:|---:|---:|",
    ]
    for cell, name in NAMES.items():
        lines.append(
            f"| {name} | {median(cell, 'rps'):,.0f} | {median(cell, 'server_cpu_ms_per_req'):.3f} "
            f"| {median(cell, 'server_cpu_pct'):.0f} | {median(cell, 'client_cpu_pct'):.0f} |"
        )
    rest, stream = median("rest", "rps"), median("stream", "rps")
    floor_ms = median("floor", "server_cpu_ms_per_req")
    floor_cap = 1000 / floor_ms  # messages/s one CPU could carry at the floor's cost, with nothing else
    verdict = "met" if stream / rest >= GOAL else "NOT met"
    lines += [
        "",
        f"- Streaming gRPC at c={concurrency}: x{stream / rest:.2f} REST's req/s "
        f"(goal at least x{GOAL}: {verdict}).",
        f"- grpcio alone costs {floor_ms:.3f} ms of server CPU per streamed message: at most "
        f"{floor_cap:,.0f} messages/s on one CPU, x{floor_cap / rest:.2f} REST's req/s here, "
        "before any inference.",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--serve-floor", type=int, metavar="PORT", help=argparse.SUPPRESS)
    ap.add_argument("--server-cpu", default="1")
    ap.add_argument("--client-cpu", default="0")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--duration", type=float, default=4.0, help="seconds of load per cell")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--doc", type=Path, help="write the section into this file (docs/performance.md)")
    a = ap.parse_args()
    if a.serve_floor is not None:
        serve_floor(a.serve_floor)
        return
    with tempfile.TemporaryDirectory() as scratch:
        table = report(measure(a, Path(scratch)), a.concurrency)
    print(table)
    if a.doc is not None:
        intro = (
            "`benchmarks/grpc_stream_floor.py` (run by `make bench`): the floor is a grpcio asyncio "
            "servicer on uvloop whose `ModelStreamInfer` answers each message at once with a fixed "
            "tensor (no decoding, no model); modelport serves the iris ONNX model. Each server pinned "
            "to one CPU, `benchmarks/loadgen.py` on the other: closed loop, 1 row, "
            f"c={a.concurrency} on one stream (and OIP JSON over REST on modelport), {a.duration:g} s "
            f"per cell, {a.rounds} rounds, medians."
        )
        write_section(a.doc, SECTION, f"{SECTION}\n\n{intro}\n\n{table}\n")


if __name__ == "__main__":
    main()
