"""``modelport batch`` against a hand-written pyarrow + onnxruntime loop over the same Parquet file.

For each row count (default 10^5 and 10^6), both score the same file of 20 float features with the
same ONNX logistic regression (or ``--model``, an ONNX file with one ``[-1, k]`` input) and write
Parquet. Each runs as its own process; rows/s is rows over the process's wall time, with the
loop's own rows/s beside it (model loaded, file open), and peak RSS comes from ``wait4``.
The hand loop has no validation, errors file or manifest: it is the floor to compare against
(goal: modelport at least 0.8x its rows/s, peak RSS flat in the row count).

    .venv/bin/python benchmarks/batch_bench.py --rows 10000            # smoke
    .venv/bin/python benchmarks/batch_bench.py                          # 1e5 and 1e6 rows
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

MODELPORT = Path(sys.executable).parent / "modelport"
FEATURES = 20
CHUNK_ROWS = 65_536

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


def make_model(directory: Path) -> Path:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, FEATURES)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    model = LogisticRegression(max_iter=500).fit(x, y)
    proto = to_onnx(model, x[:1], options={id(model): {"zipmap": False}}, target_opset=17)
    path = directory / "logreg.onnx"
    path.write_bytes(proto.SerializeToString())
    return path


def make_input(path: Path, rows: int, width: int) -> None:
    rng = np.random.default_rng(1)
    schema = pa.schema([(f"X[{i}]", pa.float32()) for i in range(width)])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, rows - start)
            block = rng.normal(size=(n, width)).astype(np.float32)
            writer.write_table(pa.table({f"X[{i}]": block[:, i] for i in range(width)}, schema=schema))


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


def run(rows: int, model: Path, home: Path, work: Path) -> dict[str, Any]:
    import onnxruntime as ort

    width = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).get_inputs()[0].shape[1]
    source = work / f"in-{rows}.parquet"
    make_input(source, rows, int(width))
    env = {**os.environ, "MODELPORT_HOME": str(home)}
    batch_s, batch_rss, out = timed(
        [str(MODELPORT), "batch", "clf", str(source), str(work / f"out-{rows}"), "--json", "--overwrite"], env
    )
    summary = json.loads(out)
    loop_s, loop_rss, loop_out = timed(
        [
            sys.executable,
            "-c",
            HAND_LOOP,
            str(model),
            str(source),
            str(work / f"hand-{rows}.parquet"),
            str(CHUNK_ROWS),
        ],
        env,
    )
    return {
        "rows": rows,
        "modelport_rows_per_s": rows / batch_s,
        "modelport_job_rows_per_s": summary["rows_per_s"],
        "modelport_peak_rss_mb": batch_rss / 2**20,
        "hand_rows_per_s": rows / loop_s,
        "hand_loop_rows_per_s": float(loop_out),
        "hand_peak_rss_mb": loop_rss / 2**20,
        "ratio": loop_s / batch_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--model", type=Path, help="ONNX file with one [-1, k] input (default: a logreg)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as tmp:
        work = Path(tmp)
        model = args.model or make_model(work)
        home = work / "home"
        env = {**os.environ, "MODELPORT_HOME": str(home)}
        subprocess.run(
            [str(MODELPORT), "register", str(model), "--name", "clf"],
            env=env,
            check=True,
            capture_output=True,
        )
        results = [run(rows, model, home, work) for rows in args.rows]
    print("| rows | modelport rows/s | job rows/s | RSS MB | hand rows/s | loop rows/s | RSS MB | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        cells = [
            f"{r['rows']:,}",
            f"{r['modelport_rows_per_s']:,.0f}",
            f"{r['modelport_job_rows_per_s']:,.0f}",
            f"{r['modelport_peak_rss_mb']:.0f}",
            f"{r['hand_rows_per_s']:,.0f}",
            f"{r['hand_loop_rows_per_s']:,.0f}",
            f"{r['hand_peak_rss_mb']:.0f}",
            f"{r['ratio']:.2f}x",
        ]
        print(f"| {' | '.join(cells)} |")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
