"""Batch jobs on a real server, through the real CLI: a job gives the output ``modelport batch``
gives, a cancel stops it midway, and a job running when its server stops (SIGTERM, or kill -9)
resumes at the next start to the output of an uninterrupted run.

One server serves the module; the restart test stops it and starts the next ones on the same home.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from tests.e2e.conftest import Server, register, run_cli, run_cli_in_process, start_server

TOKEN = "jobs-e2e-token"
BIG_ROWS = 60_000
CHUNK_ROWS = 50
"""Small parts: the big job takes several seconds, so it can be caught midway."""


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(7)
    for name, rows in (("small.parquet", 1_000), ("big.parquet", BIG_ROWS)):
        values = rng.uniform(0, 8, (rows, 4)).astype(np.float32)
        pq.write_table(pa.table({f"X[{i}]": values[:, i] for i in range(4)}), root / name)
    return root


def server_env(root: Path) -> dict[str, str]:
    return {
        "MODELPORT_AUTH__TOKEN": TOKEN,
        "MODELPORT_JOBS__ALLOWED_ROOTS": json.dumps([str(root)]),
        "MODELPORT_JOBS__POLL_INTERVAL_S": "0.2",
        "MODELPORT_JOBS__STALE_AFTER_S": "2",
    }


class Servers:
    """The module's current server; the restart test replaces it."""

    def __init__(self, home: Path, log_dir: Path, root: Path) -> None:
        self.home, self.log_dir, self.root = home, log_dir, root
        self.current = self.start()

    def start(self) -> Server:
        return start_server(self.home, self.log_dir, **server_env(self.root))


@pytest.fixture(scope="module")
def servers(home: Path, log_dir: Path, root: Path, model_files: dict[str, Path]) -> Iterator[Servers]:
    register(home, model_files["iris"], "iris", "--alias", "prod")
    servers = Servers(home, log_dir, root)
    try:
        yield servers
    finally:
        servers.current.stop()
        log = servers.current.log_path.read_text(errors="replace")
        print(f"----- last server log -----\n{log}")


def api(server: Server, method: str, path: str, **request: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    return httpx.request(method, f"{server.url}/api/v1{path}", headers=headers, timeout=10, **request)


def submit(server: Server, root: Path, output: str) -> dict[str, Any]:
    body = {"target": "iris", "input": f"{root}/big.parquet", "output": f"{root}/{output}"}
    response = api(server, "POST", "/jobs", json={**body, "chunk_rows": CHUNK_ROWS})
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    return job


def wait_job(server: Server, job_id: str, condition: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Poll the job until ``condition``; the deadline only bounds a hung job."""
    deadline = time.monotonic() + 180
    while True:
        job: dict[str, Any] = api(server, "GET", f"/jobs/{job_id}").json()
        if condition(job):
            return job
        assert time.monotonic() < deadline, f"the job never got there: {job}\n{server.log()}"
        time.sleep(0.05)


def scored(output: Path) -> pa.Table:
    return ds.dataset(output, format="parquet").to_table()


def manifest_state(output: Path) -> str:
    state: str = json.loads((output / "_manifest.json").read_text())["state"]
    return state


def cli_env() -> dict[str, str]:
    return {"MODELPORT_TOKEN": TOKEN}


def test_a_submitted_job_gives_the_output_of_modelport_batch(servers: Servers, root: Path) -> None:
    home = servers.home
    done = run_cli(
        home, "jobs", "submit", "iris@prod", root / "small.parquet", root / "job", "--wait", "--json",
        "--chunk-rows", "300", env=cli_env(),
    )  # fmt: skip
    job = json.loads(done.stdout)
    assert (job["state"], job["version"], job["rows_done"], job["rows_total"]) == ("succeeded", 1, 1000, 1000)
    run_cli_in_process(home, "batch", "iris@prod", root / "small.parquet", root / "local")
    assert scored(root / "job").equals(scored(root / "local"))
    listed = run_cli_in_process(home, "jobs", "list", env=cli_env()).stdout
    assert job["id"] in listed and "succeeded" in listed and "1,000/1,000" in listed
    shown = run_cli_in_process(home, "jobs", "show", job["id"], env=cli_env()).stdout
    assert f"manifest: {root}/job/_manifest.json" in shown


def test_a_job_explains_as_modelport_batch_does(
    servers: Servers, root: Path, model_files: dict[str, Path]
) -> None:
    home = servers.home
    register(home, model_files["iris"], "iris-ref", "--reference", root / "small.parquet")
    done = run_cli(
        home, "jobs", "submit", "iris-ref", root / "small.parquet", root / "explained", "--explain", "--wait",
        "--json", env=cli_env(),
    )  # fmt: skip
    assert json.loads(done.stdout)["state"] == "succeeded"
    run_cli_in_process(
        home, "batch", "iris-ref", root / "small.parquet", root / "explained-local", "--explain"
    )
    job, local = scored(root / "explained"), scored(root / "explained-local")
    attributions = [c for c in job.column_names if c.startswith("explain.")]
    assert attributions and attributions[-1].endswith(".base"), job.column_names
    assert job.equals(local)


def test_a_failed_job_says_why_and_bad_rows_under_max_errors_still_succeed(
    servers: Servers, root: Path
) -> None:
    pq.write_table(pa.table({f"X[{i}]": [1.0, None] for i in range(4)}), root / "holes.parquet")
    failed = run_cli_in_process(
        servers.home, "jobs", "submit", "iris", root / "holes.parquet", root / "holes", "--wait",
        env=cli_env(), check=False,
    )  # fmt: skip
    assert failed.returncode == 1
    assert re.search(r"error: job \w+ failed: row 1: column 'X\[0\]' is null \(missing\)", failed.stderr), (
        failed.stderr
    )
    partial = run_cli_in_process(
        servers.home, "jobs", "submit", "iris", root / "holes.parquet", root / "holes", "--max-errors", "1",
        "--overwrite", "--wait", "--json", env=cli_env(),
    )  # fmt: skip
    job = json.loads(partial.stdout)
    assert (job["state"], job["rows_done"], job["rows_failed"]) == ("succeeded", 2, 1)
    assert job["message"] == f"bad rows: 1, in {root}/holes/_errors.jsonl"
    refused = run_cli_in_process(
        servers.home, "jobs", "submit", "iris", root / "big.parquet", "/etc/out", env=cli_env(), check=False
    )
    assert (
        refused.returncode == 1 and "error: output /etc/out is outside jobs.allowed_roots" in refused.stderr
    )


def test_a_cancelled_job_stops_midway_and_its_manifest_says_so(servers: Servers, root: Path) -> None:
    server = servers.current
    job = submit(server, root, "cancelled")
    wait_job(server, job["id"], lambda j: j["rows_done"] > 0)
    asked = run_cli_in_process(servers.home, "jobs", "cancel", job["id"], "--json", env=cli_env())
    assert json.loads(asked.stdout)["state"] in ("running", "cancelled")
    ended = wait_job(server, job["id"], lambda j: j["state"] != "running")
    assert ended["state"] == "cancelled" and 0 < ended["rows_done"] < BIG_ROWS, ended
    assert manifest_state(root / "cancelled") == "cancelled"


def test_a_job_running_when_its_server_stops_resumes_at_the_next_start(
    servers: Servers, root: Path, tmp_path: Path
) -> None:
    import modelport

    whole = tmp_path / "whole"  # the same chunks: another batch size may round a float differently
    modelport.batch_predict("iris:1", root / "big.parquet", whole, chunk_rows=CHUNK_ROWS, home=servers.home)
    uninterrupted = scored(whole)
    for stop, output in ((signal.SIGTERM, "stopped"), (signal.SIGKILL, "killed")):
        server = servers.current
        job = submit(server, root, output)
        wait_job(server, job["id"], lambda j: j["rows_done"] > 0)
        worker = _worker_pid(server, job["id"])
        assert os.sched_getscheduler(worker) == os.SCHED_IDLE  # below the online traffic
        # ... and in its server's session: Linux shares CPU time between sessions (autogroup)
        # before any class counts, so a session of its own got the job half of a busy CPU
        assert os.getsid(worker) == os.getsid(server.process.pid)
        assert os.getpgid(worker) != os.getpgid(server.process.pid)  # a terminal's Ctrl-C is not its
        for leak in ("environ", "cmdline"):
            assert TOKEN.encode() not in Path(f"/proc/{worker}/{leak}").read_bytes()
        server.process.send_signal(stop)
        server.process.wait(timeout=30)
        server.stop()
        _wait_gone(worker)  # kill -9 left no server to stop it: it died with its parent
        assert manifest_state(root / output) != "complete", "the job ended before its server stopped"
        written = _parts(root / output)
        assert written, "no part was written before the stop"
        servers.current = servers.start()
        ended = wait_job(servers.current, job["id"], lambda j: j["state"] != "running")
        assert ended["state"] == "succeeded", ended
        assert f"batch job {job['id']} resumed" in servers.current.log()
        kept = _parts(root / output)
        assert {name: kept[name] for name in written} == written  # resumed, not started again
        resumed = scored(root / output)
        assert resumed.column("row").to_pylist() == list(range(BIG_ROWS))
        assert resumed.equals(uninterrupted)


def _parts(output: Path) -> dict[str, int]:
    """The part files the manifest lists, by name, with their inode numbers."""
    parts = json.loads((output / "_manifest.json").read_text())["parts"]
    return {part["file"]: (output / part["file"]).stat().st_ino for part in parts}


def _worker_pid(server: Server, job_id: str) -> int:
    found = re.search(rf"batch job {job_id} started \(pid (\d+)\)", server.log())
    assert found, server.log()
    return int(found[1])


def _wait_gone(pid: int) -> None:
    """Until ``pid`` has exited (a zombie left to an init that does not reap counts as exited)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return
        if state == "Z":
            return
        assert time.monotonic() < deadline, f"the job's worker {pid} outlived its server"
        time.sleep(0.05)
