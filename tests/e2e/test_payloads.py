"""The payload log end to end: ``monitor set`` and ``payloads export`` through the real console
script, against a real server; and a log that cannot write pauses while inference goes on."""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from tests.e2e.conftest import Server, iris_request, register, run_cli, running_server, wait_for

FAST_FLUSH = {"MODELPORT_PAYLOADS__FLUSH_INTERVAL_S": "0.1"}


@pytest.fixture(scope="module")
def server(home: Path, log_dir: Path, model_files: dict[str, Path]) -> Iterator[Server]:
    register(home, model_files["iris"], "iris")
    with running_server(home, log_dir, **FAST_FLUSH) as server:
        yield server


def logged_rows(server: Server, wanted: int) -> list[dict[str, object]]:
    """Predict until the server applied the monitor config, then until ``wanted`` rows are readable."""
    with httpx.Client(base_url=server.url, timeout=10) as client:

        def enough(response: httpx.Response) -> bool:
            assert client.post("/v2/models/iris/infer", json=iris_request()).status_code == 200
            return response.status_code == 200 and len(response.text.splitlines()) >= wanted

        response = wait_for(server, "/api/v1/payloads/iris?format=jsonl", enough)
    return [json.loads(line) for line in response.text.splitlines()]


def test_monitor_set_then_export_in_every_format(server: Server, home: Path, tmp_path: Path) -> None:
    shown = run_cli(home, "monitor", "set", "iris", "--sample-rate", "1", "--redact", "X=hash", "--json")
    assert json.loads(shown.stdout)["redact"] == {"X": "hash"}
    rows = logged_rows(server, 6)
    assert {r["model"] for r in rows} == {"iris"} and len(str(rows[0]["input.X"])) == 64

    remote = ("--server", server.url)
    run_cli(home, *remote, "payloads", "export", "iris", "--format", "csv", "--out", tmp_path / "p.csv")
    with (tmp_path / "p.csv").open(newline="") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) >= 6 and len(json.loads(table[0]["output.probabilities"])) == 3
    digests = [row["input.X"] for row in table]  # hashed, not written (a latency may hold "5.1")
    assert all(re.fullmatch("[0-9a-f]{64}", digest) for digest in digests), digests

    run_cli(home, "payloads", "export", "iris", "--format", "parquet", "--out", tmp_path / "p.parquet")
    assert pq.read_table(tmp_path / "p.parquet").num_rows >= 6

    out = tmp_path / "p.jsonl"
    run_cli(home, *remote, "payloads", "export", "iris", "--format", "jsonl", "--limit", "2", "--out", out)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["row"] for line in lines] == [1, 2]  # the newest request's last two rows

    listed = json.loads(run_cli(home, *remote, "monitor", "show", "--json").stdout)
    assert listed["configs"][0]["name"] == "iris" and listed["payload_log"]["state"] == "ok"


def test_bad_cli_input_is_refused_cleanly(server: Server, home: Path, tmp_path: Path) -> None:
    for args, words in [
        (("monitor", "set", "iris", "--redact", "ssn=drop"), "its inputs are: X"),
        (("monitor", "set", "iris", "--sample-rate", "1.5"), "between 0 and 1"),
        (("monitor", "set", "nope", "--sample-rate", "1"), "'nope'"),
        (
            (
                "--server",
                server.url,
                "payloads",
                "export",
                "nope",
                "--format",
                "csv",
                "--out",
                tmp_path / "x",
            ),
            "'nope'",
        ),
    ]:
        result = run_cli(home, *args, check=False)
        assert result.returncode == 1 and words in result.stderr and "Traceback" not in result.stderr, result
    assert not (tmp_path / "x").exists()
    shown = json.loads(run_cli(home, "monitor", "show", "iris", "--json").stdout)
    assert shown["sample_rate"] == 1.0 and shown["redact"] == {"X": "hash"}


def test_an_unwritable_payload_directory_pauses_the_log_not_inference(
    tmp_path: Path, log_dir: Path, model_files: dict[str, Path]
) -> None:
    home = tmp_path / "home"
    register(home, model_files["iris"], "iris")
    run_cli(home, "monitor", "set", "iris", "--sample-rate", "1")
    (home / "payloads").write_text("a file where the payload directory should be\n")  # fails even for root
    with running_server(home, log_dir, **FAST_FLUSH) as server, httpx.Client(base_url=server.url) as client:

        def paused(response: httpx.Response) -> bool:
            assert client.post("/v2/models/iris/infer", json=iris_request()).status_code == 200
            return bool(response.json()["payload_log"]["state"] == "paused")

        status = wait_for(server, "/api/v1/status", paused).json()["payload_log"]
        assert "NotADirectoryError" in status["reason"] or "FileExistsError" in status["reason"], status
        assert client.post("/v2/models/iris/infer", json=iris_request()).status_code == 200
        metrics = client.get("/metrics").text
        assert "modelport_payload_log_paused 1.0" in metrics
        assert 'modelport_payload_records_dropped_total{name="iris",reason="paused"}' in metrics


def test_every_worker_writes_its_own_segments_and_no_worker_deletes_anothers_open_one(
    tmp_path: Path, log_dir: Path, model_files: dict[str, Path]
) -> None:
    home = tmp_path / "home"
    register(home, model_files["iris"], "iris")
    too_small = {  # every segment but the open ones goes, every flush
        "MODELPORT_PAYLOADS__RETENTION_MAX_BYTES": "1",
        "MODELPORT_PAYLOADS__RETENTION_INTERVAL_S": "0.1",
    }
    with running_server(home, log_dir, args=["--workers", "2"], **FAST_FLUSH, **too_small) as server:
        run_cli(
            home, "monitor", "set", "iris", "--sample-rate", "1"
        )  # while running: found by the registry poll
        deadline = time.monotonic() + 30  # bounds a broken server, not a latency assertion
        writers: set[str] = set()
        while len(writers) < 2:
            assert time.monotonic() < deadline, f"segments only from {writers}: {server.log()[-2000:]}"
            with httpx.Client(base_url=server.url) as client:  # a fresh connection lands on either worker
                answer = client.post("/v2/models/iris/infer", json=iris_request())
                assert answer.status_code in (200, 404), answer.text  # 404: that worker is still loading
            writers = {p.name.split("-")[2] for p in (home / "payloads" / "iris").glob("rows-*.parquet")}
        written = settled_rows(server, deadline)  # both workers' last rows are on disk
        assert written >= 6
        time.sleep(1)  # ten more flush intervals, each worker enforcing retention over all segments
        assert exported_rows(server) == written


def settled_rows(server: Server, deadline: float) -> int:
    """The export's row count once two reads a few flush intervals apart agree: a busy worker may
    flush its last rows later than one interval after the last request."""
    previous, rows = -1, exported_rows(server)
    while rows != previous:
        assert time.monotonic() < deadline, f"the export kept changing: {previous} then {rows} rows"
        time.sleep(0.3)
        previous, rows = rows, exported_rows(server)
    return rows


def exported_rows(server: Server) -> int:
    """Rows in the export, which either worker reads from every worker's segments."""
    response = httpx.get(f"{server.url}/api/v1/payloads/iris?format=jsonl", timeout=10)
    assert response.status_code == 200, response.text
    return len(response.text.splitlines())
