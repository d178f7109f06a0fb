"""Drift through the management API and the metrics, in process, over contract-layout log segments."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_iris

from modelport.core.settings import Settings
from tests.api.conftest import quick_settings
from tests.payload_log import write_segment

X = load_iris(return_X_y=True)[0].astype(np.float32)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
FIELDS = {"name", "model", "version", "window", "live_rows", "reference", "status", "computed_at"}
MISSING = ("missing_js", "missing_pvalue")
FIELDS |= {"features", "outputs", "type_mismatches", "unmatched_features"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return quick_settings(tmp_path, drift={"interval_s": 0.05, "reference_rows": 300})


def _parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


async def _upload(client: httpx.AsyncClient, path: Path, reference: tuple[str, bytes]) -> httpx.Response:
    with path.open("rb") as handle:
        files = {"file": (path.name, handle), "reference": reference}
        return await client.post("/api/v1/models/iris/versions", files=files)


def _traffic(settings: Settings, rows: int, shift: float, start: datetime) -> None:
    rng = np.random.default_rng(int(shift * 10) + rows)
    x = X[rng.integers(0, len(X), rows)] + rng.normal(scale=0.05, size=(rows, 4)).astype(np.float32)
    x[:, 2] += shift
    label = np.clip((x[:, 2] > 2.5).astype(np.int64) + (x[:, 2] > 5.0), 0, 2)
    write_segment(
        settings.data_dir,
        "iris",
        model="iris",
        version=1,
        inputs={"X": x},
        outputs={"label": label},
        start=start,
    )


async def test_drift_report_and_metrics(
    client: httpx.AsyncClient, settings: Settings, model_files: dict[str, Path]
) -> None:
    reference = pa.table(
        {"sepal length": X[:, 0], "sepal width": X[:, 1], "petal length": X[:, 2], "w": X[:, 3]}
    )
    created = await _upload(client, model_files["iris"], ("reference.parquet", _parquet(reference)))
    assert created.status_code == 201, created.text
    assert created.json()["has_reference_data"]

    nothing = await client.get("/api/v1/drift/iris")
    assert nothing.status_code == 404
    assert "modelport monitor set iris" in nothing.json()["error"]

    _traffic(settings, 300, 0.0, T0)
    _traffic(settings, 300, 2.0, T0 + timedelta(hours=1))
    response = await client.get("/api/v1/drift/iris", params={"window": 300})
    assert response.status_code == 200, response.text
    report = response.json()
    assert set(report) == FIELDS
    assert report["reference"] == {"source": "registration", "rows": 150}
    assert (report["window"], report["live_rows"], report["status"]) == (300, 300, "alert")
    assert report["type_mismatches"] == []
    assert report["unmatched_features"] == {"live_only": [], "reference_only": []}
    features = {f["feature"]: f for f in report["features"]}
    assert list(features) == ["X[0]", "X[1]", "X[2]", "X[3]"]
    assert features["X[2]"]["status"] == "alert"
    assert set(features["X[2]"]["statistics"]) == {"psi", "psi_pvalue", "ks", "ks_pvalue", *MISSING}
    assert features["X[2]"]["missing"] == {"reference": 0.0, "live": 0.0}
    histogram = features["X[2]"]["histogram"]
    assert len(histogram["edges"]) == len(histogram["live"]) + 1 == len(histogram["reference"]) + 1
    assert sum(histogram["reference"]) == pytest.approx(1.0)
    (label,) = report["outputs"]
    assert (label["feature"], label["kind"]) == ("label", "categorical")
    assert set(label["statistics"]) == {"chi2", "chi2_pvalue", "new_pvalue", "js", *MISSING}
    assert set(label["histogram"]) == {"categories", "reference", "live"}

    metrics = await _metrics_with(client, 'modelport_drift_status{feature="_model",name="iris"} 2.0')
    assert 'modelport_drift_status{feature="X[2]",name="iris"} 2.0' in metrics
    assert 'modelport_drift_score{feature="X[2]",name="iris",statistic="psi"}' in metrics
    assert 'modelport_drift_status{feature="output.label",name="iris"}' in metrics


async def _metrics_with(client: httpx.AsyncClient, line: str, timeout_s: float = 10.0) -> str:
    """The background refresh runs every 0.05 s here; wait for its first report to be scraped."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        text = (await client.get("/metrics")).text
        if line in text:
            return text
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{line!r} not in /metrics:\n{text}")
        await asyncio.sleep(0.05)


async def test_bad_requests(client: httpx.AsyncClient, model_files: dict[str, Path]) -> None:
    unknown = await client.get("/api/v1/drift/nope")
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "no model or endpoint is called 'nope'"}
    assert (await client.get("/api/v1/drift/nope", params={"window": 0})).status_code == 400

    wrong = b"a,b,c\n1,2,3\n"
    refused = await _upload(client, model_files["iris"], ("reference.csv", wrong))
    assert refused.status_code == 400
    assert "input 'X' has 4 feature(s) but the reference table has 3 column(s)" in refused.json()["error"]
    # a text cell for the FP32 input was once stored, and the feature compared as a category
    text = await _upload(
        client, model_files["iris"], ("reference.csv", b"5.1,3.5,1.4,0.2\n5.0,3.4,long,0.2\n")
    )
    assert text.status_code == 400
    assert "reference column 'X[2]' does not fit input 'X' (FP32)" in text.json()["error"]
    assert (await client.get("/api/v1/models")).json() == []
