"""``modelport batch`` from ``s3://`` to ``s3://`` on the session's SeaweedFS: the rows, bad rows and
parts of a local run; killed with SIGKILL, then resumed to the same output; refusals in one line.
"""

from __future__ import annotations

import io
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import obstore
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from pyarrow import fs as pafs

import modelport
from tests.e2e.conftest import MODELPORT, base_env, free_port, register, run_cli_in_process
from tests.e2e.s3.conftest import BUCKET
from tests.s3 import ACCESS_KEY, SECRET_KEY, SeaweedFS

ROWS = 6_000
BAD_ROWS = (7, 4_321)


@pytest.fixture(scope="module")
def iris_home(home: Path, model_files: dict[str, Path]) -> Path:
    register(home, model_files["iris"], "iris")
    return home


def features(rows: int) -> pa.Table:
    columns = {f"X[{i}]": np.random.default_rng(i).uniform(0, 8, rows) for i in range(4)}
    table = pa.table(columns)
    first = pa.array([None if r in BAD_ROWS else v for r, v in enumerate(columns["X[0]"])], pa.float64())
    return table.set_column(0, "X[0]", first)


def put_parquet(seaweed: SeaweedFS, key: str, table: pa.Table, local: Path) -> None:
    pq.write_table(table, local, row_group_size=1_000)
    obstore.put(seaweed.client(BUCKET), key, local)


def get(seaweed: SeaweedFS, key: str) -> bytes:
    return bytes(obstore.get(seaweed.client(BUCKET), key).bytes())


def keys(seaweed: SeaweedFS, prefix: str) -> list[str]:
    listed = obstore.list(seaweed.client(BUCKET), f"{prefix}/").collect()
    return sorted(meta["path"].removeprefix(f"{prefix}/") for meta in listed)


def manifest_of(seaweed: SeaweedFS, prefix: str) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(get(seaweed, f"{prefix}/_manifest.json"))
    except FileNotFoundError:
        return None
    return data


def s3_table(seaweed: SeaweedFS, prefix: str) -> pa.Table:
    fs = pafs.S3FileSystem(
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        region="us-east-1",
        endpoint_override=seaweed.endpoint.removeprefix("http://"),
        scheme="http",
    )
    return ds.dataset(f"{BUCKET}/{prefix}", filesystem=fs, format="parquet").to_table()


def test_a_job_from_s3_to_s3_scores_as_a_local_run_and_resumes_after_kill_9(
    iris_home: Path, seaweed: SeaweedFS, s3_url: str, tmp_path: Path
) -> None:
    prefix = s3_url.removeprefix(f"s3://{BUCKET}/")
    put_parquet(seaweed, f"{prefix}/in/data.parquet", features(ROWS), tmp_path / "in.parquet")
    options = ["--chunk-rows", "50", "--max-errors", "5"]
    whole = tmp_path / "whole"
    run_cli_in_process(iris_home, "batch", "iris", tmp_path / "in.parquet", whole, *options)

    env = base_env(iris_home, **seaweed.env())
    command = [str(MODELPORT), "batch", "iris", f"{s3_url}/in/", f"{s3_url}/out"]
    job = subprocess.Popen([*command, *options], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120  # bounds a hung job; not a timing assertion
        while (
            job.poll() is None and len((manifest_of(seaweed, f"{prefix}/out") or {"parts": []})["parts"]) < 3
        ):
            assert time.monotonic() < deadline, "the job wrote no part"
            time.sleep(0.01)
        assert job.poll() is None, "the job ended before the kill"
        job.send_signal(signal.SIGKILL)
    finally:
        job.communicate(timeout=60)
    killed = manifest_of(seaweed, f"{prefix}/out")
    assert killed is not None and killed["state"] == "running"
    done = len(killed["parts"])
    assert 0 < done < ROWS // 50
    # What a kill between a part's PUT and the manifest's would leave: objects the manifest does not list.
    obstore.put(seaweed.client(BUCKET), f"{prefix}/out/part-{done:06d}.parquet", b"not parquet")
    obstore.put(seaweed.client(BUCKET), f"{prefix}/out/_errors/part-{ROWS // 50 - 1:06d}.jsonl", b"{}\n")

    resumed = run_cli_in_process(
        iris_home, "batch", "iris", f"{s3_url}/in/", f"{s3_url}/out", "--resume", "--json", env=seaweed.env()
    )

    summary = json.loads(resumed.stdout)
    assert summary["state"] == "partial" and summary["rows_in"] == ROWS and summary["rows_failed"] == 2
    assert summary["manifest"] == f"{s3_url}/out/_manifest.json"
    assert s3_table(seaweed, f"{prefix}/out").equals(ds.dataset(whole, format="parquet").to_table())
    local_parts = sorted(p.name for p in whole.iterdir() if p.name.startswith("part-"))
    errors = [f"_errors/part-{r // 50:06d}.jsonl" for r in BAD_ROWS]
    assert keys(seaweed, f"{prefix}/out") == sorted(["_manifest.json", *errors, *local_parts])
    on_s3 = b"".join(get(seaweed, f"{prefix}/out/{name}") for name in errors)
    assert on_s3 == (whole / "_errors.jsonl").read_bytes()
    assert manifest_of(seaweed, f"{prefix}/out")["errors_file"] == f"{s3_url}/out/_errors/"  # type: ignore[index]


def test_s3_failures_and_foreign_prefixes_are_refused_in_one_line(
    iris_home: Path, seaweed: SeaweedFS, s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = s3_url.removeprefix(f"s3://{BUCKET}/")
    put_parquet(seaweed, f"{prefix}/in.parquet", features(20).slice(10), tmp_path / "in.parquet")
    source, output = f"{s3_url}/in.parquet", f"{s3_url}/out"

    def refused(*args: str, **env: str) -> str:
        result = run_cli_in_process(iris_home, "batch", "iris", *args, env=seaweed.env(**env), check=False)
        assert result.returncode != 0
        assert result.stderr.count("\n") == 1, result.stderr
        return result.stderr.strip()

    assert refused(source, output, AWS_SECRET_ACCESS_KEY="wrong") == (
        f"error: cannot reach {source}: access denied: check the S3 credentials "
        "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
    )
    assert refused("s3://no-such-bucket/in.parquet", output) == (
        "error: cannot reach s3://no-such-bucket/in.parquet: the bucket does not exist"
    )
    assert refused(source, "s3://no-such-bucket/out") == (
        "error: cannot reach s3://no-such-bucket/out: the bucket does not exist"
    )
    nobody = f"http://127.0.0.1:{free_port()}"
    assert refused(source, output, AWS_ENDPOINT_URL=nobody) == (
        f"error: cannot reach {source}: the S3 endpoint does not answer"
    )
    assert "--engine ray reads and writes paths that every Ray node shares" in refused(
        source, output, "--engine", "ray"
    )
    assert "--errors is for a local output" in refused(source, output, "--errors", str(tmp_path / "e.jsonl"))

    obstore.put(seaweed.client(BUCKET), f"{prefix}/theirs/data.csv", b"a\n1\n")
    assert refused(source, f"{s3_url}/theirs", "--overwrite") == (
        f"error: output {s3_url}/theirs holds objects that no batch job wrote; choose another prefix"
    )
    assert keys(seaweed, f"{prefix}/theirs") == ["data.csv"]

    env = seaweed.env()
    run_cli_in_process(iris_home, "batch", "iris", source, output, env=env)
    assert "exists: --overwrite replaces it" in refused(source, output)
    obstore.put(seaweed.client(BUCKET), f"{prefix}/out/part-000009.parquet", b"an earlier job's part")
    for name, value in env.items():  # the Python API, as the command
        monkeypatch.setenv(name, value)
    modelport.batch_predict("iris", source, output, overwrite=True, home=iris_home)
    monkeypatch.undo()
    assert keys(seaweed, f"{prefix}/out") == ["_manifest.json", "part-000000.parquet"]
    assert s3_table(seaweed, f"{prefix}/out").num_rows == 10
    assert io.BytesIO(get(seaweed, f"{prefix}/out/part-000000.parquet")).read(4) == b"PAR1"

    # CSV under a prefix (its _-named objects skipped), and a glob, as the local files would be scored
    csv = "X[0],X[1],X[2],X[3]\n1,2,3,4\n5,6,x,8\n"
    for name in ("csv/a.csv", "csv/b/c.csv", "csv/b/_notes.csv"):
        obstore.put(seaweed.client(BUCKET), f"{prefix}/{name}", csv.encode())
    for spec in (f"{s3_url}/csv/", f"{s3_url}/cs?/*.csv"):
        local = tmp_path / f"out-{len(spec)}"
        run_cli_in_process(iris_home, "batch", "iris", spec, local, "--max-errors", "2", env=env)
        rows = 4 if spec.endswith("/") else 2
        assert ds.dataset(local, format="parquet").to_table().num_rows == rows // 2
        assert len((local / "_errors.jsonl").read_text().splitlines()) == rows // 2
