"""``modelport batch`` against a hand-written pyarrow + onnxruntime loop over the same Parquet file.

For each model (default: ``logreg`` and ``mlp-wide`` from ``../shared/bench/make_model.py``) and
row count, both score the same file of 20 float features and write Parquet. Each runs as its own
process; rows/s is rows over the process's wall time (start-up included), with each one's own
rows/s beside it (modelport's job from its summary, the loop's with the model loaded and the file
open), and peak RSS comes from ``wait4``. The hand loop has no validation, errors file or manifest:
it is the floor to compare against (goal: modelport at least 0.8x its rows/s, rows/s flat within
20 % and peak RSS flat in the row count).

With ``--ray`` it measures the Ray engine instead: the local engine, then ``--engine ray`` with 1
and 2 workers on a local Ray cluster of two one-CPU nodes that it starts (on loopback, free ports).

    .venv/bin/python benchmarks/batch_bench.py --rows 10000 --models logreg        # smoke
    .venv/bin/python benchmarks/batch_bench.py --doc docs/performance.md            # the table in the docs
    .venv/bin/python benchmarks/batch_bench.py --ray --doc docs/performance.md      # the Ray engine's
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from doc_section import write_section

MODELPORT = Path(sys.executable).parent / "modelport"
SHARED_BENCH = Path(__file__).resolve().parents[2] / "shared" / "bench"
ROWS = {"logreg": [100_000, 1_000_000, 10_000_000], "mlp-wide": [100_000, 1_000_000, 10_000_000]}
FEATURES = 20
CHUNK_ROWS = 65_536
STREAM_CHUNK_ROWS = 8_192
"""The parts of the run that measures the streaming rate: at the default 65,536 rows, 10^5 rows make
two parts, and a rate from the one interval between them says little (the second part is scored
while the first is written)."""
RAY_WORKERS = (1, 2)
RAY_LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
"""Ray turns a 127.0.0.1 address into the machine's address unless told that it runs on one host."""

HAND_LOOP = """
import sys, time
import numpy as np, onnxruntime as ort, pyarrow as pa, pyarrow.parquet as pq
model, source, target, chunk = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
name = session.get_inputs()[0].name
outputs = [o.name for o in session.get_outputs()]
started = time.perf_counter()
rows = 0
writer = None
for batch in pq.ParquetFile(source).iter_batches(batch_size=chunk):
    x = np.column_stack([c.to_numpy() for c in batch.columns]).astype(np.float32)
    answer = session.run(None, {name: x})
    columns = {}
    for out, values in zip(outputs, answer):
        if values.ndim == 2:
            columns[out] = pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])
        else:
            columns[out] = pa.array(values)
    table = pa.table(columns)
    writer = writer or pq.ParquetWriter(target, table.schema)
    writer.write_table(table)
    rows += batch.num_rows
writer.close()
print(rows / (time.perf_counter() - started))
"""


def make_models(directory: Path, kinds: list[str]) -> dict[str, Path]:
    """The benchmark peers' own models (``../shared/bench/make_model.py``), as ONNX files."""
    script = SHARED_BENCH / "make_model.py"
    command = [sys.executable, str(script), "--out", str(directory), "--kinds", ",".join(kinds)]
    subprocess.run(command, check=True, capture_output=True)
    return {kind: directory / kind / "model.onnx" for kind in kinds}


def make_input(path: Path, rows: int, name: str, width: int) -> None:
    """``rows`` rows of the feature columns ``name[0]`` … that modelport maps to the input ``name``."""
    rng = np.random.default_rng(1)
    schema = pa.schema([(f"{name}[{i}]", pa.float32()) for i in range(width)])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, rows - start)
            block = rng.normal(size=(n, width)).astype(np.float32)
            columns = {field.name: block[:, i] for i, field in enumerate(schema)}
            writer.write_table(pa.table(columns, schema=schema))


def timed(command: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in bytes and stdout of ``command`` run to its end."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    stdout = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed")
    return seconds, usage.ru_maxrss * 1024, stdout


def steady_rows_per_s(output: Path) -> float | None:
    """Rows/s between the first and the last part file written (their mtimes): the rate once the
    job streams, without its start-up, to tell whether it slows as the input grows."""
    parts = sorted(output.glob("part-*.parquet"), key=lambda part: part.stat().st_mtime_ns)
    if len(parts) < 2:
        return None
    seconds = (parts[-1].stat().st_mtime_ns - parts[0].stat().st_mtime_ns) / 1e9
    rows = sum(pq.read_metadata(part).num_rows for part in parts[1:])
    return rows / seconds if seconds > 0 else None


def run(rows: int, name: str, model: Path, home: Path, work: Path) -> dict[str, Any]:
    import onnxruntime as ort

    spec = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).get_inputs()[0]
    source = work / f"in-{spec.name}-{rows}.parquet"
    if not source.exists():
        make_input(source, rows, spec.name, int(spec.shape[1]))
    env = {**os.environ, "MODELPORT_HOME": str(home)}
    output = work / f"out-{name}-{rows}"
    batch_s, batch_rss, out = timed(
        [str(MODELPORT), "batch", name, str(source), str(output), "--json", "--overwrite"], env
    )
    summary = json.loads(out)
    streamed = work / f"stream-{name}-{rows}"
    stream_command = [str(MODELPORT), "batch", name, str(source), str(streamed), "--json", "--overwrite"]
    _, stream_rss, _ = timed([*stream_command, "--chunk-rows", str(STREAM_CHUNK_ROWS)], env)
    hand = work / f"hand-{name}-{rows}.parquet"
    loop_s, loop_rss, loop_out = timed(
        [sys.executable, "-c", HAND_LOOP, str(model), str(source), str(hand), str(CHUNK_ROWS)], env
    )
    if pq.read_metadata(hand).num_rows != summary["rows_scored"]:
        raise SystemExit(
            f"{name}: the loop wrote {pq.read_metadata(hand).num_rows} rows, modelport {summary}"
        )
    return {
        "model": name,
        "rows": rows,
        "modelport_rows_per_s": rows / batch_s,
        "modelport_job_rows_per_s": summary["rows_per_s"],
        "modelport_steady_rows_per_s": steady_rows_per_s(streamed),
        "modelport_stream_rss_mb": stream_rss / 2**20,
        "modelport_peak_rss_mb": batch_rss / 2**20,
        "hand_rows_per_s": rows / loop_s,
        "hand_loop_rows_per_s": float(loop_out),
        "hand_peak_rss_mb": loop_rss / 2**20,
        "ratio": loop_s / batch_s,
        "job_ratio": summary["rows_per_s"] / float(loop_out),
    }


def run_ray(rows: int, name: str, model: Path, home: Path, work: Path, address: str) -> list[dict[str, Any]]:
    """The local engine's rows/s, then the Ray engine's with each of ``RAY_WORKERS`` workers."""
    import onnxruntime as ort

    spec = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).get_inputs()[0]
    source = work / f"in-{spec.name}-{rows}.parquet"
    if not source.exists():
        make_input(source, rows, spec.name, int(spec.shape[1]))
    env = {**os.environ, "MODELPORT_HOME": str(home), **RAY_LOOPBACK}
    results = []
    for workers in (None, *RAY_WORKERS):
        engine = ["--engine", "ray", "--address", address, "--num-workers", str(workers)] if workers else []
        output = work / f"out-{name}-{rows}-{workers or 'local'}"
        seconds, rss, out = timed(
            [str(MODELPORT), "batch", name, str(source), str(output), "--json", "--overwrite", *engine], env
        )
        summary = json.loads(out)
        results.append(
            {
                "model": name,
                "rows": rows,
                "engine": "ray" if workers else "local",
                "workers": workers,
                "rows_per_s": rows / seconds,
                "job_rows_per_s": summary["rows_per_s"],
                "peak_rss_mb": rss / 2**20,
            }
        )
    return results


@contextlib.contextmanager
def ray_cluster(temp_dir: Path) -> Iterator[str]:
    """Two nodes of one CPU each on 127.0.0.1, every port a free one; yields the cluster's address."""
    os.environ.update(RAY_LOOPBACK)
    os.environ["RAY_TMPDIR"] = str(temp_dir)  # Ray's address file, else in /tmp/ray, which it never creates
    (temp_dir / "ray").mkdir(parents=True, exist_ok=True)
    from ray.cluster_utils import Cluster

    def node(head: bool) -> dict[str, Any]:
        names = ["object_manager_port", "node_manager_port", "dashboard_agent_listen_port"]
        names += ["metrics_agent_port", "metrics_export_port", "runtime_env_agent_port"]
        names += ["gcs_server_port", "ray_client_server_port", "dashboard_port"] if head else []
        ports = {name: _free_port() for name in names}
        return {
            "num_cpus": 1,
            "object_store_memory": 200 * 1024 * 1024,
            "node_ip_address": "127.0.0.1",
            "include_dashboard": False,
            "min_worker_port": 0,
            "max_worker_port": 0,
            "temp_dir": str(temp_dir),
            **ports,
        }

    cluster = Cluster(initialize_head=True, head_node_args=node(head=True))
    try:
        cluster.add_node(**node(head=False))
        cluster.wait_for_nodes()
        yield str(cluster.address)
    finally:
        cluster.shutdown()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ray_table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| model | rows | engine | workers | rows/s (wall) | its job's rows/s | peak RSS MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        cells = [
            r["model"],
            f"{r['rows']:,}",
            r["engine"],
            str(r["workers"] or "-"),
            f"{r['rows_per_s']:,.0f}",
            f"{r['job_rows_per_s']:,.0f}",
            f"{r['peak_rss_mb']:.0f}",
        ]
        lines.append(f"| {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def median_cell(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One cell's runs as one: the median of every measured number (this machine's runs of one cell
    differ by 30 % and more, so a single run per row count cannot tell a slowdown from noise)."""
    cell = dict(runs[0])
    for key, value in cell.items():
        if isinstance(value, float):
            known = [r[key] for r in runs if r[key] is not None]
            cell[key] = statistics.median(known) if known else None
    cell["rounds"] = len(runs)
    return cell


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| model | rows | modelport rows/s | its job's rows/s | peak RSS MB | streaming rows/s | "
        "its peak RSS MB | hand loop rows/s | its loop's rows/s | peak RSS MB | ratio (wall) | "
        "ratio (job / loop) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        cells = [
            r["model"],
            f"{r['rows']:,}",
            f"{r['modelport_rows_per_s']:,.0f}",
            f"{r['modelport_job_rows_per_s']:,.0f}",
            f"{r['modelport_peak_rss_mb']:.0f}",
            "-" if r["modelport_steady_rows_per_s"] is None else f"{r['modelport_steady_rows_per_s']:,.0f}",
            f"{r['modelport_stream_rss_mb']:.0f}",
            f"{r['hand_rows_per_s']:,.0f}",
            f"{r['hand_loop_rows_per_s']:,.0f}",
            f"{r['hand_peak_rss_mb']:.0f}",
            f"{r['ratio']:.2f}x",
            f"{r['job_ratio']:.2f}x",
        ]
        lines.append(f"| {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="logreg,mlp-wide", help="kinds of ../shared/bench/make_model.py")
    parser.add_argument("--rows", type=int, nargs="+", help="row counts (default: per model, see ROWS)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of every cell, interleaved; medians")
    parser.add_argument("--doc", type=Path, help="write the table into this file's batch section")
    parser.add_argument(
        "--ray", action="store_true", help="the Ray engine, 1 and 2 workers, on a local cluster"
    )
    args = parser.parse_args()
    kinds = args.models.split(",")
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as tmp:
        work = Path(tmp)
        models = make_models(work / "models", kinds)
        home = work / "home"
        env = {**os.environ, "MODELPORT_HOME": str(home)}
        for kind, path in models.items():
            subprocess.run(
                [str(MODELPORT), "register", str(path), "--name", kind],
                env=env,
                check=True,
                capture_output=True,
            )
        if args.ray:
            ray_tmp = tempfile.TemporaryDirectory(prefix="mp-ray-")  # short: Ray's socket paths
            with ray_tmp, ray_cluster(Path(ray_tmp.name)) as address:
                ray_results = [
                    result
                    for kind in kinds
                    for rows in (args.rows or ROWS[kind][:2])
                    for result in run_ray(rows, kind, models[kind], home, work, address)
                ]
            print(ray_table(ray_results))
            print(json.dumps(ray_results))
            if args.doc:
                write_section(args.doc, "## Batch scoring on Ray", _ray_section(ray_results))
            return
        cells = [(kind, rows) for kind in kinds for rows in (args.rows or ROWS[kind])]
        rounds = [
            [run(rows, kind, models[kind], home, work) for kind, rows in cells] for _ in range(args.rounds)
        ]
        results = [median_cell([r[i] for r in rounds]) for i in range(len(cells))]
    print(table(results))
    print(json.dumps(results))
    if args.doc:
        write_section(args.doc, "## Batch scoring", _section(results))


def _section(results: list[dict[str, Any]]) -> str:
    command = "python benchmarks/batch_bench.py --doc docs/performance.md"
    return (
        "## Batch scoring\n\n"
        f"`{command}` ({os.cpu_count()} cores; the median of {results[0]['rounds']} interleaved runs of "
        "every cell): `modelport batch` (validation, errors file, manifest, "
        "parts) against a hand-written pyarrow + onnxruntime loop over the same Parquet file of 20 "
        'float features, each in its own process, on the models of `../shared/bench`. "wall" '
        "counts the whole process, start-up included (about a second more for modelport: the CLI, "
        'the registry and the model load); "job / loop" compares the scoring itself. "streaming" is '
        f"a third run of modelport with `--chunk-rows {STREAM_CHUNK_ROWS:,}`: the rate between its first "
        "and last part file written, without the start-up (at the default 65,536 rows, 10^5 rows "
        "make two parts, too few to time). Goal "
        "(issue 11): rows/s flat within 20 % from 10^5 to 10^7 rows, peak RSS independent of the "
        "row count.\n\n" + table(results) + "\n" + flatness(results)
    )


def flatness(results: list[dict[str, Any]]) -> str:
    """Per model, the slowest streaming rate over the fastest, against the goal."""
    lines = []
    for model in dict.fromkeys(r["model"] for r in results):
        rates = [r["modelport_steady_rows_per_s"] for r in results if r["model"] == model]
        known = [rate for rate in rates if rate]
        if len(known) < 2:
            continue
        spread = min(known) / max(known)
        verdict = "met" if spread >= 0.8 else "NOT met"
        lines.append(
            f"- {model}: the slowest streaming rate is {spread:.2f}x the fastest "
            f"(goal within 20 %: {verdict})."
        )
    return "\n".join(lines) + "\n"


def _ray_section(results: list[dict[str, Any]]) -> str:
    command = "python benchmarks/batch_bench.py --ray --doc docs/performance.md"
    return (
        "## Batch scoring on Ray\n\n"
        f"`{command}` ({os.cpu_count()} cores): `modelport batch` with the local engine, then "
        "`--engine ray` with 1 and 2 workers on a local Ray cluster of two one-CPU nodes, over the same "
        'Parquet file of 20 float features. "wall" counts the whole command, Ray\'s connection and the '
        "actors' start included; the driver's peak RSS is the command's.\n\n" + ray_table(results)
    )


if __name__ == "__main__":
    main()
