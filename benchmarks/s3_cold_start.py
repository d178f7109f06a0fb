"""Cold start of a large artifact from S3: ``modelport serve`` with an empty cache, then a warm one.

A SeaweedFS (``tests/s3.py``'s ``weed mini``, free loopback ports) holds one ONNX model of about
``--size-mb`` MB (one MatMul whose weight is the bulk of the file), registered with the real CLI on
``MODELPORT_STORAGE__ARTIFACTS_URL=s3://bench/cold``. Each run starts ``modelport serve`` and times
the first successful inference from the process's start: once with a new, empty cache folder (the
server downloads, hashes and loads), once more on the cache that run filled (it hashes and loads).
Peak RSS is the server process's own ``VmHWM``, read just before it is stopped; the model's weights
are in it once either way, so the cold minus the warm peak is what the download itself held
(goal: streaming, so it does not grow by the artifact's size).

    .venv/bin/python benchmarks/s3_cold_start.py --size-mb 5 --runs 1      # smoke
    .venv/bin/python benchmarks/s3_cold_start.py --doc docs/performance.md  # the table in the docs
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from doc_section import write_section
from procs import Server, free_port, http_post

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.s3 import start_seaweedfs  # noqa: E402 - the repo's own test helper, from its root

MODELPORT = Path(sys.executable).parent / "modelport"
HEADING = "## Cold start from S3"
BUCKET = "bench"


def big_model(path: Path, size_mb: int) -> int:
    """An ONNX model ``y = x @ W`` with ``W`` of about ``size_mb`` MB; its input width."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    width = max(int((size_mb * 1024 * 1024 / 4) ** 0.5), 4)
    weight = np.random.default_rng(0).standard_normal((width, width), dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "big",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", width])],
        [numpy_helper.from_array(weight, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return width


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def serve_once(env: dict[str, str], cache: Path, width: int, log: Path) -> dict[str, float]:
    """Seconds from ``modelport serve``'s start to its first 200 inference, and its peak RSS."""
    port = free_port()
    server = Server(
        [str(MODELPORT), "serve", "--port", str(port), "--grpc-port", "0"],
        {**env, "MODELPORT_STORAGE__CACHE_DIR": str(cache)},
        log,
        cpu=None,
    ).start()
    body = json.dumps(
        {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, width], "data": [0.5] * width}]}
    ).encode()
    url = f"http://127.0.0.1:{port}/v2/models/big/infer"
    try:
        deadline = time.perf_counter() + 600
        while True:
            try:
                status, _ = http_post(url, body, {"Content-Type": "application/json"}, timeout=30)
            except OSError:
                status = 0
            if status == 200:
                first = time.perf_counter() - server.started_at
                break
            if time.perf_counter() > deadline:
                raise RuntimeError(f"no successful inference in 600 s; see {log}")
            time.sleep(0.02)
        return {"seconds": first, "peak_rss_mb": peak_rss(server.pid) / 1e6}
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--doc", type=Path, help="write the table into this markdown file")
    args = parser.parse_args()
    s3 = start_seaweedfs((BUCKET,))
    try:
        with tempfile.TemporaryDirectory(prefix="modelport-s3-bench-") as tmp:
            work = Path(tmp)
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("MODELPORT_")},
                **s3.env(),
                "MODELPORT_HOME": str(work / "home"),
                "MODELPORT_STORAGE__ARTIFACTS_URL": f"s3://{BUCKET}/cold",
            }
            model = work / "big.onnx"
            width = big_model(model, args.size_mb)
            size = model.stat().st_size
            subprocess.run(
                [str(MODELPORT), "register", str(model), "--name", "big"],
                env=env,
                check=True,
                capture_output=True,
            )
            rows: dict[str, list[dict[str, float]]] = {"empty cache": [], "warm cache": []}
            for run in range(args.runs):
                cache = work / f"cache-{run}"
                rows["empty cache"].append(serve_once(env, cache, width, work / "serve.log"))
                rows["warm cache"].append(serve_once(env, cache, width, work / "serve.log"))
    finally:
        s3.stop()
    table = render(rows, size, args.runs)
    print(table)
    if args.doc:
        write_section(args.doc, HEADING, table)


def render(rows: dict[str, list[dict[str, float]]], size: int, runs: int) -> str:
    lines = [
        HEADING,
        "",
        f"`benchmarks/s3_cold_start.py`: `modelport serve` on an S3 artifact store (a local SeaweedFS) with "
        f"one {size / 1e6:.0f} MB ONNX model; seconds from the process's start to its first successful "
        f"inference, and the server's peak RSS, median of {runs} run(s). Empty cache: the server downloads "
        "(streamed, hashed on the way) and loads; warm cache: it re-hashes its cached copy and loads. The "
        "weights are in memory once either way, so cold minus warm RSS is what the download held.",
        "",
        "| cache | first inference (s) | peak RSS (MB) |",
        "|---|---|---|",
    ]
    for name, results in rows.items():
        seconds = statistics.median(r["seconds"] for r in results)
        rss = statistics.median(r["peak_rss_mb"] for r in results)
        lines.append(f"| {name} | {seconds:.2f} | {rss:.0f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
