"""The payload log through the management API and the data plane, in process, over a real model."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from modelport.core.settings import Settings
from modelport.registry.catalog import Registry
from tests.api.conftest import quick_settings, wait_for

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
INFER = {"id": "req-1", "inputs": [{"name": "X", "datatype": "FP32", "shape": [2, 4], "data": ROWS}]}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return quick_settings(tmp_path, payloads={"flush_interval_s": 0.05})


@pytest.fixture
async def iris(register, client: httpx.AsyncClient, model_files: dict[str, Path]) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    register(model_files["iris"], "iris")
    await wait_for(client, "/v2/models/iris/ready")
    return client


async def applied(client: httpx.AsyncClient, registry: Registry) -> None:
    """Wait until the server runs on the registry's current revision (it polls in the background)."""
    wanted = registry.revision()
    for _ in range(400):
        if (await client.get("/api/v1/status")).json()["registry_revision"] >= wanted:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"the server never reached registry revision {wanted}")


async def exported(client: httpx.AsyncClient, rows: int, query: str = "format=jsonl") -> list[dict[str, Any]]:
    """The JSON-lines export once it holds ``rows`` rows (the writer flushes in the background)."""
    for _ in range(400):
        response = await client.get(f"/api/v1/payloads/iris?{query}")
        assert response.status_code == 200, response.text
        lines = [json.loads(line) for line in response.text.splitlines()]
        if len(lines) >= rows:
            return lines
        await asyncio.sleep(0.025)
    raise AssertionError(f"the export never reached {rows} rows")


async def test_sampled_requests_are_exported_with_redaction(
    iris: httpx.AsyncClient, registry: Registry
) -> None:
    put = await iris.put("/api/v1/monitoring/iris", json={"sample_rate": 1.0, "redact": {"X": "hash"}})
    assert put.status_code == 200, put.text
    assert put.json()["sample_rate"] == 1.0 and put.json()["redact"] == {"X": "hash"}
    await applied(iris, registry)
    for _ in range(3):
        assert (await iris.post("/v2/models/iris/infer", json=INFER)).status_code == 200

    rows = await exported(iris, 6)
    assert [r["row"] for r in rows] == [0, 1] * 3
    first = rows[0]
    assert first["request_id"] == "req-1" and first["name"] == "iris" and first["endpoint"] is None
    assert first["model"] == "iris" and first["version"] == 1 and first["latency_ms"] > 0
    assert len(first["input.X"]) == 64  # a hex sha256, not the values
    assert first["output.label"] in (0, 1, 2) and len(first["output.probabilities"]) == 3

    text = (await iris.get("/api/v1/payloads/iris?format=csv&limit=2")).text
    table_rows = list(csv.DictReader(io.StringIO(text)))
    assert len(table_rows) == 2 and table_rows[1]["row"] == "1"
    assert json.loads(table_rows[1]["output.probabilities"]) == rows[-1]["output.probabilities"]
    parquet = await iris.get("/api/v1/payloads/iris?format=parquet&version=1")
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.num_rows == 6 and table.schema.field("time").type.tz == "UTC"
    assert (await iris.get("/api/v1/payloads/iris?format=jsonl&version=2")).text == ""

    metrics = (await iris.get("/metrics")).text
    assert 'modelport_payload_records_total{name="iris"} 3.0' in metrics
    assert (
        "modelport_payload_log_paused 0.0" in metrics
        and 'modelport_payload_log_bytes{name="iris"}' in metrics
    )

    listing = (await iris.get("/api/v1/monitoring")).json()
    assert [c["name"] for c in listing["configs"]] == ["iris"]
    assert listing["payload_log"]["state"] == "ok" and listing["payload_log"]["records_total"] == {"iris": 3}


async def test_an_endpoint_logs_its_shadows_answers_on_the_callers_rows(
    register, iris: httpx.AsyncClient, registry: Registry, model_files: dict[str, Path]
) -> None:  # type: ignore[no-untyped-def]
    register(model_files["iris-v2"], "iris")
    body = {
        "name": "flowers",
        "routes": [{"target": "iris:1", "weight": 1}],
        "shadows": [{"target": "iris:2", "percent": 100}],
    }
    assert (await iris.post("/api/v1/endpoints", json=body)).status_code == 201
    assert (await iris.put("/api/v1/monitoring/flowers", json={"sample_rate": 1})).status_code == 200
    await applied(iris, registry)
    await wait_for(iris, "/v2/models/flowers/ready")
    assert (await iris.post("/v2/models/flowers/infer", json=INFER)).status_code == 200
    for _ in range(400):
        rows = [json.loads(line) for line in (await iris.get("/api/v1/payloads/flowers")).text.splitlines()]
        if rows and rows[0]["shadow_version"] is not None:
            break
        await asyncio.sleep(0.025)
    assert [(r["endpoint"], r["model"], r["version"], r["shadow_version"]) for r in rows] == [
        ("flowers", "iris", 1, 2)
    ] * 2
    assert len(rows[0]["shadow.probabilities"]) == 3 and rows[0]["input.X"] == pytest.approx(ROWS[0])


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("nope", {"sample_rate": 1.0}, 404, "no model or endpoint is named 'nope'"),
        (
            "iris",
            {"sample_rate": 1.0, "redact": {"ssn": "drop"}},
            400,
            "no input 'ssn' to redact; its inputs are: X",
        ),
        ("iris", {"sample_rate": 1.5}, 400, "sample_rate must be between 0 and 1"),
        ("iris", {"sample_rate": 1.0, "redact": {"X": "scramble"}}, 400, "must be one of drop, hash, keep"),
        ("iris", {"sample_rate": "often"}, 400, "sample_rate"),
    ],
)
async def test_bad_settings_are_refused_and_change_nothing(
    iris: httpx.AsyncClient, registry: Registry, path: str, body: dict[str, Any], status: int, message: str
) -> None:
    assert (await iris.put("/api/v1/monitoring/iris", json={"sample_rate": 0.5})).status_code == 200
    revision = registry.revision()
    response = await iris.put(f"/api/v1/monitoring/{path}", json=body)
    assert response.status_code == status and message in response.json()["error"], response.text
    assert registry.revision() == revision
    assert (await iris.get("/api/v1/monitoring/iris")).json()["sample_rate"] == 0.5
    assert [c["name"] for c in (await iris.get("/api/v1/monitoring")).json()["configs"]] == ["iris"]


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("format=xml", 400, "unknown export format 'xml'; use one of parquet, csv, jsonl"),
        ("since=yesterday", 400, "since"),
        ("since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", 400, "must be before until"),
        ("limit=0", 400, "limit"),
    ],
)
async def test_bad_export_queries_are_refused(
    iris: httpx.AsyncClient, query: str, status: int, message: str
) -> None:
    response = await iris.get(f"/api/v1/payloads/iris?{query}")
    assert response.status_code == status and message in response.json()["error"], response.text


async def test_unknown_names_are_not_found(iris: httpx.AsyncClient) -> None:
    for path in ("/api/v1/monitoring/nope", "/api/v1/payloads/nope"):
        response = await iris.get(path)
        assert response.status_code == 404 and "'nope'" in response.json()["error"]


async def test_a_known_name_with_nothing_logged_exports_no_rows(iris: httpx.AsyncClient) -> None:
    config = (await iris.get("/api/v1/monitoring/iris")).json()
    assert config["sample_rate"] == 0.0 and config["configured"] is False
    assert (await iris.get("/api/v1/payloads/iris?format=jsonl")).text == ""
    header = (await iris.get("/api/v1/payloads/iris?format=csv")).text.splitlines()[0]
    assert header.startswith('"request_id","row","time"')
