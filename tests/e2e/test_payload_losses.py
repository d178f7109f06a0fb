"""The payload log against a real server on a small tmpfs: it loses only what it must.

One server covers, in order: a record that cannot be converted (a zero-width input) costs no other
name's rows; a damaged segment is skipped by the export; a full disk keeps the log paused (no
flapping back to ok while nothing can be written); and segments past their age are deleted while
paused, so the log frees the disk they filled and resumes on its own.
"""

from __future__ import annotations

import errno
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.e2e.conftest import Server, iris_request, register, running_server, wait_for
from tests.tmpfs import tmpfs

SETTINGS = {
    "MODELPORT_PAYLOADS__FLUSH_INTERVAL_S": "0.1",
    "MODELPORT_PAYLOADS__RETENTION_MAX_AGE_S": "86400",
}
WIDE = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 0], "data": []}]}
"""A zero-width request to a model whose input is ``[-1, -1]``."""


def identity_onnx(directory: Path) -> Path:
    """A model whose float input has no fixed width: ``y = x``, both ``[-1, -1]``."""
    from onnx import TensorProto, helper

    tensor = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["rows", "width"]) for n in "xy"]
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "identity", [tensor[0]], [tensor[1]]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = directory / "identity.onnx"
    path.write_bytes(model.SerializeToString())
    return path


@pytest.fixture
def server(tmp_path: Path, log_dir: Path, model_files: dict[str, Path]) -> Iterator[Server]:
    home = tmp_path / "home"
    register(home, model_files["iris"], "iris")
    register(home, identity_onnx(tmp_path), "wide")
    with tmpfs(home / "payloads", 1024), running_server(home, log_dir, **SETTINGS) as server:
        with httpx.Client(base_url=server.url) as client:
            for name in ("iris", "wide"):
                assert client.put(f"/api/v1/monitoring/{name}", json={"sample_rate": 1}).status_code == 200
        wait_for(server, "/api/v1/status", _applied)
        yield server


def test_the_log_loses_only_what_it_must(server: Server, tmp_path: Path) -> None:
    payloads = server.home / "payloads"
    with httpx.Client(base_url=server.url, timeout=10) as client:

        def infer(model: str = "iris", body: dict[str, object] | None = None) -> None:
            response = client.post(f"/v2/models/{model}/infer", json=body or iris_request())
            assert response.status_code == 200, response.text

        # A zero-width input is logged, and no other name loses rows for it.
        for _ in range(20):
            infer()
            infer("wide", WIDE)
        rows = _exported(server, "iris", 60)
        assert len(rows) == 60
        assert [row["output.y"] for row in _exported(server, "wide", 20)] == [[]] * 20
        assert 'reason="unconvertible"' not in client.get("/metrics").text

        # A damaged segment (intact footer) is skipped: the export holds every other row.
        _damaged_segment(payloads / "iris")
        assert len(_exported(server, "iris", 60)) == 60
        assert "skipping unreadable payload segment" in server.log()
        assert "modelport_payload_segments_unreadable 1.0" in client.get("/metrics").text

        # A full disk: the log pauses and stays paused while nothing can be written.
        filler = _fill(payloads / "filler")

        def state_is(wanted: str) -> Callable[[httpx.Response], bool]:
            def reached(response: httpx.Response) -> bool:
                infer()  # traffic keeps coming
                return _state(response) == wanted

            return reached

        wait_for(server, "/api/v1/status", state_is("paused"))
        lost = _dropped(client, "write_error")
        deadline = time.monotonic() + 1.5  # some 15 retries of a 0.1 s flush interval
        while time.monotonic() < deadline:
            infer()
            assert _state(client.get("/api/v1/status")) == "paused"
        assert _dropped(client, "write_error") == lost  # nothing accepted, then lost again
        assert _dropped(client, "paused") > 0

        # Old segments filled the disk: retention deletes them while paused, and the log resumes.
        filler.unlink()
        aged = _fill(payloads / "iris" / "rows-20200101T000000-1-abcdef-000000.parquet")
        os.utime(aged, (time.time() - 2 * 86400,) * 2)
        wait_for(server, "/api/v1/status", state_is("ok"))
        assert not aged.exists()
        before = len(rows)
        wait_for(server, "/api/v1/payloads/iris?format=jsonl", lambda r: len(r.text.splitlines()) > before)


def _applied(response: httpx.Response) -> bool:
    """The server runs on the registry's latest revision (the monitor configs just set)."""
    status = response.json()
    return bool(status["registry_revision"] >= status["registry_head"])


def _exported(server: Server, name: str, wanted: int) -> list[dict[str, object]]:
    response = wait_for(
        server,
        f"/api/v1/payloads/{name}?format=jsonl",
        lambda r: r.status_code == 200 and len(r.text.splitlines()) >= wanted,
    )
    return [json.loads(line) for line in response.text.splitlines()]


def _damaged_segment(folder: Path) -> None:
    """A segment whose footer reads fine but whose data pages do not."""
    table = pa.table({"time": pa.array([0], pa.timestamp("us", tz="UTC")), "row": np.zeros(1, np.int32)})
    path = folder / "rows-20260101T000000-1-badbad-000000.parquet"
    pq.write_table(table, path, compression="zstd")
    data = bytearray(path.read_bytes())
    data[4:40] = b"\xff" * 36  # the first column chunk's page header and data; the footer is at the end
    path.write_bytes(bytes(data))
    pq.read_metadata(path)  # the footer is intact


def _fill(path: Path) -> Path:
    """Write ``path`` until the file system is full."""
    with path.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError as error:
            assert error.errno == errno.ENOSPC, error
    return path


def _state(response: httpx.Response) -> str:
    return str(response.json()["payload_log"]["state"])


def _dropped(client: httpx.Client, reason: str) -> float:
    metrics = client.get("/metrics").text
    pattern = rf'modelport_payload_records_dropped_total{{name="iris",reason="{reason}"}} (\S+)'
    found = re.search(pattern, metrics)
    return float(found.group(1)) if found else 0.0
