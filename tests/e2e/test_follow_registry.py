"""A running server follows the registry: new versions and alias moves, no restart, no failed request."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests import models
from tests.e2e.conftest import (
    READY_TIMEOUT_S,
    Server,
    iris_request,
    register,
    run_cli,
    running_server,
    wait_for,
)

DEFAULT_ROUTE = "/v2/models/iris/infer"


@pytest.fixture(scope="module")
def server(home: Path, log_dir: Path, model_files: dict[str, Path]) -> Iterator[Server]:
    register(home, model_files["iris"], "iris", "--alias", "production")
    with running_server(home, log_dir) as server:
        server.wait_until("/v2/models/iris/ready")
        yield server


@pytest.fixture(scope="module")
def iris_v2(server: Server, model_files: dict[str, Path]) -> Server:
    """Register iris version 2 with the CLI while the server runs (same MODELPORT_HOME)."""
    registered = run_cli(server.home, "register", model_files["iris-v2"], "--name", "iris", "--json")
    assert json.loads(registered.stdout)["version"] == 2, registered.stdout
    server.wait_until("/v2/models/iris/versions/2/ready")
    return server


def default_version_becomes(server: Server, version: str) -> None:
    """Poll the default route until it answers from ``version`` (the server follows on its poll)."""
    wait_for(
        server,
        DEFAULT_ROUTE,
        lambda r: r.status_code == 200 and r.json()["model_version"] == version,
        method="POST",
        json=iris_request(),
    )


def test_a_registered_version_is_served_without_restart(iris_v2: Server) -> None:
    with httpx.Client(base_url=iris_v2.url) as client:
        response = client.post("/v2/models/iris/versions/2/infer", json=iris_request())
        assert response.status_code == 200, response.text
        assert response.json()["model_version"] == "2"
        assert client.get("/v2/models/iris/versions/2").json()["versions"] == ["2"]
        # production still points at version 1, and it is the default
        assert client.post(DEFAULT_ROUTE, json=iris_request()).json()["model_version"] == "1"
        # version 1 stays served while an alias points at it
        assert client.post("/v2/models/iris/versions/1/infer", json=iris_request()).status_code == 200


def test_moving_the_alias_with_the_cli_moves_the_default_route(iris_v2: Server) -> None:
    run_cli(iris_v2.home, "alias", "set", "iris", "production", "2")
    default_version_becomes(iris_v2, "2")
    with httpx.Client(base_url=iris_v2.url) as client:
        response = client.post("/v2/models/iris/versions/production/infer", json=iris_request())
        assert response.json()["model_version"] == "2"
    run_cli(iris_v2.home, "alias", "set", "iris", "production", "1")
    default_version_becomes(iris_v2, "1")


def test_moving_the_alias_through_the_api_moves_the_default_route(iris_v2: Server) -> None:
    with httpx.Client(base_url=iris_v2.url) as client:
        moved = client.put("/api/v1/models/iris/aliases/production", json={"version": 2})
        assert moved.status_code == 200, moved.text
        assert moved.json()["aliases"]["production"] == 2
        default_version_becomes(iris_v2, "2")
        assert client.get("/v2/models/iris/versions/production/ready").json()["version"] == "2"
        moved = client.put("/api/v1/models/iris/aliases/production", json={"version": 1})
        assert moved.status_code == 200, moved.text
        default_version_becomes(iris_v2, "1")


def test_no_request_fails_while_the_alias_moves(iris_v2: Server) -> None:
    stop = threading.Event()
    statuses: list[int] = []
    failures: list[str] = []
    versions_seen: set[str] = set()

    def hammer() -> None:
        with httpx.Client(base_url=iris_v2.url, timeout=10) as client:  # one keep-alive connection
            while not stop.is_set() and len(statuses) < 20_000:
                try:
                    response = client.post(DEFAULT_ROUTE, json=iris_request())
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    statuses.append(-1)
                    continue
                statuses.append(response.status_code)
                if response.status_code == 200:
                    versions_seen.add(response.json()["model_version"])
                else:
                    failures.append(f"{response.status_code} {response.text}")

    thread = threading.Thread(target=hammer, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=iris_v2.url) as client:
            for _ in range(2):
                for version in (2, 1):
                    moved = client.put("/api/v1/models/iris/aliases/production", json={"version": version})
                    assert moved.status_code == 200, moved.text
                    default_version_becomes(iris_v2, str(version))
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert statuses, "the background client sent no request"
    assert failures == [], f"{len(failures)} of {len(statuses)} requests failed: {failures[:5]}"
    assert versions_seen <= {"1", "2"}


def test_a_data_frame_pipeline_registered_with_the_cli_is_served_one_input_per_column(
    server: Server, tmp_path: Path
) -> None:
    """Issue 10, point 11: a ColumnTransformer Pipeline over named numeric and text columns is
    registered by the CLI (its signature inferred from the fitted columns) and answered through
    MLServer's pandas-codec form of the protocol, by the confined child, without warnings."""
    path, pipeline = models.customers_pipeline(tmp_path)
    registered = register(server.home, path, "customers")
    assert registered["signature"]["inputs"] == [
        {"name": "age", "datatype": "FP64", "shape": [-1]},
        {"name": "visits", "datatype": "FP64", "shape": [-1]},
        {"name": "city", "datatype": "BYTES", "shape": [-1]},
    ]
    rows = {"age": [31.0, 58.0, 44.5], "visits": [1, 7, 2], "city": ["rome", "oslo", "paris"]}
    expected = pipeline.predict(pd.DataFrame(rows)).tolist()  # type: ignore[attr-defined]
    # Its load starts a confined child that imports scikit-learn: on a busy machine, well over 10 s.
    server.wait_until("/v2/models/customers/ready", timeout_s=READY_TIMEOUT_S)
    request = {
        "parameters": {"content_type": "pd"},
        "inputs": [
            {"name": "age", "datatype": "FP64", "shape": [3], "data": rows["age"]},
            {"name": "visits", "datatype": "FP64", "shape": [3, 1], "data": rows["visits"]},  # [n, 1] too
            {"name": "city", "datatype": "BYTES", "shape": [3], "data": rows["city"]},
        ],
    }
    with httpx.Client(base_url=server.url, timeout=30) as client:
        response = client.post("/v2/models/customers/infer", json=request)
        assert response.status_code == 200, response.text
        outputs = {output["name"]: output for output in response.json()["outputs"]}
        assert outputs["label"]["data"] == expected
        assert outputs["probabilities"]["shape"] == [3, 3]
        metadata = client.get("/v2/models/customers").json()
        assert metadata["outputs"][1]["labels"] == list(models.CUSTOMER_TIERS)
        wrong = {
            **request,
            "inputs": [
                *request["inputs"][:2],
                {**request["inputs"][2], "datatype": "FP64", "data": [1, 2, 3]},
            ],
        }
        refused = client.post("/v2/models/customers/infer", json=wrong)
        assert refused.status_code == 400 and "input 'city'" in refused.json()["error"], refused.text
    predicted = run_cli(server.home, "predict", "customers", "--input", "-", "--json", input=json.dumps(rows))
    labels = next(o for o in json.loads(predicted.stdout)["outputs"] if o["name"] == "label")["data"]
    assert labels == expected
    assert "feature names" not in server.log() + predicted.stderr
