"""What a real server logs and remembers about callers (issue 15, findings 4, 5, 8 and 9).

One server, one iris model whose owner set input ``X`` to ``drop``, and an endpoint over it whose own
monitor config only turns sampling on: its rows must still drop ``X``. Request ids are bounded (a
5 MB id is refused, and the server does not keep it), a reused id cannot change what feedback is
judged against, CSV exports hold no formulas, and every file the server wrote is its user's only.
"""

from __future__ import annotations

import csv
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

from tests.e2e.conftest import (
    Server,
    free_port,
    iris_request,
    register,
    run_cli,
    run_cli_in_process,
    running_server,
    wait_for,
)

MARKER_ROW = [7.125, 3.375, 6.0625, 2.4375]
"""A row whose values appear nowhere else (exact in float32), to look for in what was written."""
SETOSA, VIRGINICA = [5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]
FORMULA_ID = '=HYPERLINK("http://attacker.example/","click")'


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir the server creates itself (the fixture's own folder is already private)."""
    return tmp_path_factory.mktemp("privacy") / "data"


@pytest.fixture(scope="module")
def server(home: Path, log_dir: Path, model_files: dict[str, Path]) -> Iterator[tuple[Server, int]]:
    register(home, model_files["iris"], "iris")
    run_cli_in_process(home, "endpoint", "create", "flowers", "--route", "iris:1=100")
    run_cli_in_process(home, "monitor", "set", "iris", "--sample-rate", "1", "--redact", "X=drop")
    run_cli_in_process(home, "monitor", "set", "flowers", "--sample-rate", "1")
    grpc_port = free_port()
    env = {"MODELPORT_PAYLOADS__FLUSH_INTERVAL_S": "0.1", "MODELPORT_GRPC__PORT": str(grpc_port)}
    with running_server(home, log_dir, **env) as server:
        yield server, grpc_port


def logged(server: Server, name: str, path: str, **request: object) -> list[dict[str, object]]:
    """Send ``request`` to ``path`` until ``name``'s payload log holds a row of it (the server picks up
    the monitor configs on its next registry poll)."""
    with httpx.Client(base_url=server.url, timeout=30) as client:

        def written(response: httpx.Response) -> bool:
            assert client.post(path, **request).status_code == 200  # type: ignore[arg-type]
            return response.status_code == 200 and bool(response.text.strip())

        response = wait_for(server, f"/api/v1/payloads/{name}?format=jsonl", written)
    return [json.loads(line) for line in response.text.splitlines()]


def test_an_endpoint_never_logs_an_input_its_model_drops(
    server: tuple[Server, int], home: Path, tmp_path: Path
) -> None:
    rows = logged(server[0], "flowers", "/v2/models/flowers/infer", json=iris_request([MARKER_ROW]))
    assert rows and all(r["endpoint"] == "flowers" and "input.X" not in r for r in rows)

    out = tmp_path / "flowers.parquet"
    run_cli(home, "payloads", "export", "flowers", "--format", "parquet", "--out", out)
    assert "input.X" not in pq.read_schema(out).names
    marker = np.asarray(MARKER_ROW, np.float32)
    for path in [out, *sorted((home / "payloads" / "flowers").glob("*.parquet"))]:
        raw = path.read_bytes()
        assert marker.tobytes() not in raw and marker[:1].tobytes() not in raw, path
        table = pq.read_table(path)
        assert not [c for c in table.column_names if c.startswith("input.")], path
        assert "7.125" not in str(table.to_pylist())  # nor in any decoded value
    jsonl = tmp_path / "flowers.jsonl"
    run_cli(home, "payloads", "export", "flowers", "--format", "jsonl", "--out", jsonl)
    assert "7.125" not in jsonl.read_text()


def _rss_bytes(server: Server) -> int:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def test_a_huge_request_id_is_refused_and_not_kept(server: tuple[Server, int]) -> None:
    process, grpc_port = server
    with httpx.Client(base_url=process.url, timeout=60) as client:

        def send() -> httpx.Response:
            huge = "A" * (5 * 1024 * 1024)
            return client.post("/v2/models/flowers/infer", json=iris_request([SETOSA], id=huge))

        for _ in range(2):  # the allocator's first growth for a 5 MB body is not what is measured
            send()
        before = _rss_bytes(process)
        for _ in range(20):
            answer = send()
            assert answer.status_code == 400
            error = answer.json()["error"]
            assert "at most 256 printable characters" in error and "AAAA" not in error
        grown = _rss_bytes(process) - before
        assert grown < 40 * 1024 * 1024, f"the server grew by {grown / 1e6:.0f} MB"
        control = client.post("/v2/models/flowers/infer", json=iris_request([SETOSA], id="bell\x07"))
        assert control.status_code == 400 and "printable" in control.json()["error"]
        assert client.post("/v2/models/flowers/infer", json=iris_request([SETOSA], id="x" * 256)).is_success
    assert "Traceback" not in process.log()

    grpc_client = triton.InferenceServerClient(f"127.0.0.1:{grpc_port}")
    try:
        rows = np.asarray([SETOSA], dtype=np.float32)
        infer_input = triton.InferInput("X", list(rows.shape), "FP32")
        infer_input.set_data_from_numpy(rows)
        with pytest.raises(InferenceServerException) as refused:
            grpc_client.infer("flowers", [infer_input], request_id="B" * 257)
        assert refused.value.status() == "StatusCode.INVALID_ARGUMENT"
        assert "256 printable characters" in (refused.value.message() or "")
    finally:
        grpc_client.close()


def test_a_reused_request_id_cannot_change_what_feedback_judges(server: tuple[Server, int]) -> None:
    with httpx.Client(base_url=server[0].url, timeout=30) as client:
        first = client.post("/v2/models/flowers/infer", json=iris_request([SETOSA], id="order-17"))
        assert first.is_success and first.json()["id"] == "order-17"
        label = next(o for o in first.json()["outputs"] if o["name"] == "label")
        assert label["data"] == [0]
        again = client.post("/v2/models/flowers/infer", json=iris_request([VIRGINICA], id="order-17"))
        assert again.is_success  # served, but the first prediction stays the one remembered
        judged = client.post(
            "/api/v1/endpoints/flowers/feedback", json={"items": [{"id": "order-17", "label": 0}]}
        )
        assert judged.status_code == 200, judged.text
        assert judged.json()["judged"][0]["correct"] == 1


def test_csv_export_holds_no_formula(server: tuple[Server, int], home: Path, tmp_path: Path) -> None:
    logged(server[0], "iris", "/v2/models/iris/infer", json=iris_request([SETOSA], id=FORMULA_ID))
    out = tmp_path / "iris.csv"
    run_cli(home, "--server", server[0].url, "payloads", "export", "iris", "--format", "csv", "--out", out)
    with out.open(newline="") as handle:
        ids = {row["request_id"] for row in csv.DictReader(handle)}
    assert "'" + FORMULA_ID in ids and FORMULA_ID not in ids
    jsonl = tmp_path / "iris.jsonl"
    run_cli(home, "payloads", "export", "iris", "--format", "jsonl", "--out", jsonl)
    assert FORMULA_ID in {json.loads(line)["request_id"] for line in jsonl.read_text().splitlines()}


def test_what_the_server_wrote_is_private(server: tuple[Server, int], home: Path, tmp_path: Path) -> None:
    logged(server[0], "iris", "/v2/models/iris/infer", json=iris_request([SETOSA]))
    out = tmp_path / "export.parquet"
    run_cli(home, "payloads", "export", "iris", "--format", "parquet", "--out", out)
    written = [home, *home.rglob("*"), out]
    names = {p.name for p in written}
    assert {"modelport.db", "modelport.db-wal", "artifacts", "payloads"} <= names
    assert any(p.suffix == ".parquet" for p in (home / "payloads").rglob("*"))
    assert any(p.suffix == ".onnx" for p in (home / "artifacts").rglob("*"))
    opened = {
        str(p.relative_to(home) if p != out else p): oct(stat.S_IMODE(p.stat().st_mode))
        for p in written
        if stat.S_IMODE(p.stat().st_mode) & 0o077
    }
    assert not opened, f"readable by others: {opened}"
