"""``modelport batch``: a file scored by a registered version, as the model file scores it, with bad
rows reported, bad input refused in one line, and an interrupted job resumed to the same output.

Refusals run the CLI's command in this process (click's runner); what needs a process of its own
(exit codes, signals, kill -9, a file size limit) runs the console script.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import resource
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from modelport.cli import main
from tests.e2e.conftest import MODELPORT, base_env, register, run_cli

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.fixture(scope="module")
def batch_home(home: Path, model_files: dict[str, Path]) -> Path:
    register(home, model_files["iris"], "iris")
    return home


@pytest.fixture(scope="module")
def iris_rows() -> np.ndarray:
    from sklearn.datasets import load_iris

    x: np.ndarray = load_iris().data.astype(np.float32)
    return x


def invoke(home: Path, *args: str | Path, input: str | None = None) -> Result:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("MODELPORT_")}
    env["MODELPORT_HOME"] = str(home)
    return CliRunner().invoke(main, ["batch", *map(str, args)], env=env, input=input)


def manifest(output: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((output / "_manifest.json").read_text())
    return data


def scored(output: Path) -> pa.Table:
    return ds.dataset(output, format="parquet").to_table()


def poll(condition: Callable[[], bool], timeout_s: float = 60) -> None:
    """Wait for ``condition``; the deadline only bounds a hung job, it is not a timing assertion."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the job did not get there"
        time.sleep(0.01)


def on_a_terminal(command: list[str], env: dict[str, str]) -> str:
    """Run ``command`` with stderr on a pseudo-terminal; what it drew there."""
    leader, follower = pty.openpty()
    job = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    drawn = bytearray()
    with contextlib.suppress(OSError):  # EIO once the job has exited
        while chunk := os.read(leader, 65536):
            drawn += chunk
    os.close(leader)
    assert job.wait(timeout=120) == 0, drawn.decode(errors="replace")
    return drawn.decode(errors="replace")


def reference(model: Path, rows: np.ndarray) -> dict[str, np.ndarray]:
    """What the model file answers, asked directly with onnxruntime."""
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    label, probabilities = session.run(None, {"X": rows})
    return {"label": label, "probabilities": probabilities}


def test_a_csv_is_scored_as_the_model_file_scores_it_and_bad_rows_are_listed(
    batch_home: Path, model_files: dict[str, Path], iris_rows: np.ndarray, tmp_path: Path
) -> None:
    lines = ["id," + ",".join(FEATURES)] + [
        f"r{i}," + ",".join(map(str, row)) for i, row in enumerate(iris_rows)
    ]
    lines[4] = "r3,abc,3.1,1.5,0.2"
    lines[8] = "r7,,3.4,1.5,0.2"
    (tmp_path / "iris.csv").write_text("\n".join(lines) + "\n")
    output = tmp_path / "scores"
    done = run_cli(
        batch_home,
        "batch",
        "iris",
        tmp_path / "iris.csv",
        output,
        "--id-column",
        "id",
        "--features",
        ",".join(FEATURES),
        "--max-errors",
        "2",
        "--chunk-rows",
        "64",
        "--json",
    )
    summary = json.loads(done.stdout)
    assert done.stderr == ""  # no progress bar when stderr is not a terminal
    assert summary["state"] == "partial"
    assert (summary["rows_in"], summary["rows_scored"], summary["rows_failed"]) == (150, 148, 2)
    assert (summary["model"], summary["version"], summary["parts"]) == ("iris", 1, 3)
    assert summary["sha256"] == manifest(output)["sha256"] and len(summary["sha256"]) == 64
    assert manifest(output)["state"] == "partial"
    errors = [json.loads(line) for line in (output / "_errors.jsonl").read_text().splitlines()]
    assert errors == [
        {"row": 3, "ids": {"id": "r3"}, "reason": "column 'sepal_length': 'abc' is not FP32"},
        {"row": 7, "ids": {"id": "r7"}, "reason": "column 'sepal_length' is null (missing)"},
    ]
    table = scored(output)
    good = np.delete(np.arange(150), [3, 7])
    expected = reference(model_files["iris"], iris_rows[good])
    assert table.column("id").to_pylist() == [f"r{i}" for i in good]
    assert table.column("label").to_pylist() == expected["label"].tolist()
    assert np.allclose(np.array(table.column("probabilities").to_pylist()), expected["probabilities"])


def test_the_first_bad_row_fails_the_job_naming_its_row_and_column(batch_home: Path, tmp_path: Path) -> None:
    pq.write_table(pa.table({f"X[{i}]": [1.0, None, 2.0] for i in range(4)}), tmp_path / "in.parquet")
    result = invoke(batch_home, "iris", tmp_path / "in.parquet", tmp_path / "out")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: row 1: column 'X[0]' is null (missing); --max-errors N lets N bad rows go to the errors file"
    )
    assert manifest(tmp_path / "out")["state"] == "failed"
    assert manifest(tmp_path / "out")["parts"] == []
    result = invoke(
        batch_home, "iris", tmp_path / "in.parquet", tmp_path / "out", "--resume", "--features", "a"
    )
    assert result.exit_code == 1
    assert (
        "--resume continues with the options the job started with (see its manifest): leave out --features"
        in (result.stderr)
    )
    result = invoke(
        batch_home, "iris", tmp_path / "in.parquet", tmp_path / "out", "--resume", "--max-errors", "1"
    )
    assert result.exit_code == 0, result.output
    assert (manifest(tmp_path / "out")["state"], manifest(tmp_path / "out")["rows_scored"]) == ("partial", 2)
    assert (tmp_path / "out" / "_errors.jsonl").read_text().splitlines() == [
        '{"row":1,"reason":"column \'X[0]\' is null (missing)"}'
    ]  # written by the failed run, cut back, written once again


def test_a_resumed_job_under_a_lower_max_errors_keeps_the_bad_rows_it_had(
    batch_home: Path, tmp_path: Path
) -> None:
    source, output = tmp_path / "in.parquet", tmp_path / "out"
    pq.write_table(pa.table({f"X[{i}]": [None, 1.0, 2.0] for i in range(4)}), source)
    assert invoke(batch_home, "iris", source, output, "--chunk-rows", "1", "--max-errors", "1").exit_code == 0
    killed = manifest(output)  # as a kill -9 after the first part leaves it
    first = killed["parts"][0]
    killed.update(state="running", parts=[first], rows_in=1, rows_scored=0, rows_failed=1)
    (output / "_manifest.json").write_text(json.dumps(killed))
    result = invoke(batch_home, "iris", source, output, "--resume", "--max-errors", "0")
    assert result.exit_code == 0, result.output
    assert (manifest(output)["state"], manifest(output)["rows_scored"], manifest(output)["rows_failed"]) == (
        "partial",
        2,
        1,
    )


def test_jsonl_on_stdin_with_a_list_column_and_csv_output(batch_home: Path, tmp_path: Path) -> None:
    rows = "".join(json.dumps({"key": k, "X": [5.1, 3.5, 1.4, 0.2]}) + "\n" for k in (10, 11))
    result = invoke(batch_home, "iris:1", "-", tmp_path / "out.csv", "--id-column", "key", input=rows)
    assert result.exit_code == 0, result.output
    part = (tmp_path / "out.csv" / "part-000000.csv").read_text().splitlines()
    assert part[0] == '"key","label","probabilities[0]","probabilities[1]","probabilities[2]"'
    assert [line.split(",")[:2] for line in part[1:]] == [["10", "0"], ["11", "0"]]


def test_a_directory_or_glob_is_one_input_in_name_order(batch_home: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name, value in [("b.parquet", 2.0), ("a.parquet", 1.0), ("_skipped.parquet", 9.0)]:
        pq.write_table(pa.table({f"X[{i}]": [value] * 3 for i in range(4)} | {"k": [name] * 3}), data / name)
    for spec, output in [(data, tmp_path / "out-dir"), (str(data / "[ab].parquet"), tmp_path / "out-glob")]:
        result = invoke(batch_home, "iris", spec, output, "--id-column", "k", "--chunk-rows", "2")
        assert result.exit_code == 0, result.output
        assert scored(output).column("k").to_pylist() == ["a.parquet"] * 3 + ["b.parquet"] * 3
        assert [p["start"] for p in manifest(output)["parts"]] == [0, 2, 4]


def test_overwrite_replaces_a_job_only_and_resume_refuses_a_changed_input(
    batch_home: Path, tmp_path: Path
) -> None:
    source, output = tmp_path / "in.parquet", tmp_path / "out"
    pq.write_table(pa.table({f"X[{i}]": [1.0, 2.0] for i in range(4)}), source)
    assert invoke(batch_home, "iris", source, output).exit_code == 0
    assert invoke(batch_home, "iris", source, output, "--overwrite").exit_code == 0
    pq.write_table(pa.table({f"X[{i}]": [1.0, 2.0, 3.0] for i in range(4)}), source)
    result = invoke(batch_home, "iris", source, output, "--resume")
    assert (
        result.exit_code == 1
        and "changed since the job started; start again with --overwrite" in result.stderr
    )
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    result = invoke(batch_home, "iris", source, tmp_path / "mine", "--overwrite")
    assert result.exit_code == 1 and "is a directory that no batch job wrote" in result.stderr
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def _truncated(tmp_path: Path) -> Path:
    pq.write_table(pa.table({f"X[{i}]": [1.0] * 100 for i in range(4)}), tmp_path / "whole.parquet")
    data = (tmp_path / "whole.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(data[: len(data) // 2])
    return tmp_path / "cut.parquet"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unknown target", "error: model 'nosuch' "),
        ("output exists", "exists: --overwrite replaces it, --resume continues the job that wrote it"),
        ("truncated parquet", "error: cannot read "),
        ("malformed csv", "row 1: malformed CSV row 3 of "),
        ("unwritable output", "Not a directory"),
        ("missing column", "error: input 'X' takes 4 feature columns: name them X[0] … X[3]"),
        ("resume nothing", "has no _manifest.json: there is no batch job to resume"),
        ("errors file exists", "a-file exists: --overwrite replaces it"),
    ],
)
def test_bad_input_is_refused_in_one_line(batch_home: Path, tmp_path: Path, case: str, message: str) -> None:
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({f"X[{i}]": [1.0, 2.0] for i in range(4)}), good)
    (tmp_path / "in.csv").write_text("a,b,c,d\n1,2,3,4\n1,2,3,4,5\n")
    (tmp_path / "cols.csv").write_text("a,b\n1,2\n")
    (tmp_path / "exists").mkdir()
    (tmp_path / "a-file").write_text("")
    args: dict[str, list[Any]] = {
        "unknown target": ["nosuch", good, tmp_path / "o"],
        "output exists": ["iris", good, tmp_path / "exists"],
        "truncated parquet": ["iris", _truncated(tmp_path), tmp_path / "o"],
        "malformed csv": ["iris", tmp_path / "in.csv", tmp_path / "o", "--features", "a,b,c,d"],
        "unwritable output": ["iris", good, tmp_path / "a-file" / "o"],
        "missing column": ["iris", tmp_path / "cols.csv", tmp_path / "o"],
        "resume nothing": ["iris", good, tmp_path / "exists", "--resume"],
        "errors file exists": ["iris", good, tmp_path / "o", "--errors", tmp_path / "a-file"],
    }
    result = invoke(batch_home, *args[case])
    assert result.exit_code == 1, result.output
    assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output
    if (tmp_path / "o" / "_manifest.json").exists():
        assert manifest(tmp_path / "o")["state"] == "failed"


def test_a_full_disk_fails_the_job_and_leaves_no_part(batch_home: Path, tmp_path: Path) -> None:
    """A file size limit (RLIMIT_FSIZE) stands for a full disk: the 600 kB part cannot be written."""
    pq.write_table(pa.table({f"X[{i}]": np.linspace(0, 7, 5000) for i in range(4)}), tmp_path / "in.parquet")
    output = tmp_path / "out.jsonl"

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    done = subprocess.run(
        [str(MODELPORT), "batch", "iris", str(tmp_path / "in.parquet"), str(output)],
        env=base_env(batch_home),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit_file_size,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: File too large"), done.stderr
    assert manifest(output)["state"] == "failed" and manifest(output)["parts"] == []
    assert sorted(p.name for p in output.iterdir()) == ["_errors.jsonl", "_manifest.json"]


def test_a_cancelled_then_killed_job_resumes_to_the_output_of_an_uninterrupted_run(
    batch_home: Path, tmp_path: Path
) -> None:
    rows = 6_000
    pq.write_table(
        pa.table({f"X[{i}]": np.random.default_rng(i).uniform(0, 8, rows) for i in range(4)}),
        tmp_path / "in.parquet",
    )
    import modelport

    whole = tmp_path / "whole"
    modelport.batch_predict("iris", tmp_path / "in.parquet", whole, chunk_rows=50, home=batch_home)
    output = tmp_path / "out"
    command = [str(MODELPORT), "batch", "iris", str(tmp_path / "in.parquet"), str(output)]

    def interrupt(extra: list[str], sig: signal.Signals) -> tuple[int, str]:
        job = subprocess.Popen(
            [*command, *extra], env=base_env(batch_home), stderr=subprocess.PIPE, text=True
        )
        try:
            before = len(manifest(output)["parts"]) if (output / "_manifest.json").exists() else 0
            poll(
                lambda: (
                    job.poll() is not None
                    or ((output / "_manifest.json").exists() and len(manifest(output)["parts"]) > before + 2)
                )
            )
            assert job.poll() is None, "the job ended before the signal"
            job.send_signal(sig)
        finally:
            _, stderr = job.communicate(timeout=60)
        return job.returncode, stderr

    code, stderr = interrupt(["--chunk-rows", "50"], signal.SIGTERM)
    assert code == 130
    assert "error: cancelled; the parts written are kept: --resume continues" in stderr
    assert manifest(output)["state"] == "cancelled"
    code, _ = interrupt(["--resume"], signal.SIGKILL)
    assert code == -signal.SIGKILL
    state = manifest(output)
    assert state["state"] == "running" and 0 < len(state["parts"]) < rows // 50, (
        "the job ended before the kill"
    )

    progress = on_a_terminal([*command, "--resume"], base_env(batch_home, COLUMNS="120"))
    assert "rows/s" in progress and " rows " in progress, progress
    assert manifest(output)["state"] == "complete"
    assert manifest(output)["rows_in"] == rows
    resumed, uninterrupted = scored(output), scored(whole)
    assert resumed.column("row").to_pylist() == list(range(rows))
    assert resumed.equals(uninterrupted)
    assert sorted(p.name for p in output.iterdir()) == sorted(p.name for p in whole.iterdir())
