"""MLflow's scoring protocol and SageMaker's container contract (``/invocations``, ``/ping``), in process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from modelport.core.errors import InvalidInput
from modelport.core.settings import Settings
from modelport.registry.catalog import Registry
from modelport.server.app import build_app
from tests.api.conftest import serving, wait_for

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
LABELS = [0, 2]
COLUMNS = ["X[0]", "X[1]", "X[2]", "X[3]"]
IRIS = {"x-modelport-target": "iris"}


@pytest.fixture
async def iris(register, client: httpx.AsyncClient, model_files: dict[str, Path]) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    register(model_files["iris"], "iris", aliases=("production",))
    await wait_for(client, "/v2/models/iris/ready")
    return client


async def invoke(client: httpx.AsyncClient, body: Any, **headers: str) -> httpx.Response:
    if isinstance(body, str | bytes):
        return await client.post("/invocations", content=body, headers={**IRIS, **headers})
    return await client.post("/invocations", json=body, headers={**IRIS, **headers})


def labels(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert len(predictions["probabilities"]) == len(predictions["label"])
    return list(predictions["label"])


async def test_every_form_scores_the_same_rows_on_any_target(iris: httpx.AsyncClient) -> None:
    records = [dict(zip(COLUMNS, row, strict=True)) for row in ROWS]
    forms: list[Any] = [
        {"dataframe_split": {"columns": COLUMNS, "data": ROWS}},
        {"dataframe_split": {"index": [7, 8], "columns": COLUMNS, "data": ROWS}, "params": {}},
        {"dataframe_records": records},
        {"dataframe_records": [{"X": row} for row in ROWS]},  # a list column feeds the matrix input
        {"instances": ROWS},
        {"instances": [{"X": row} for row in ROWS]},
        {"inputs": ROWS},
        {"inputs": {"X": ROWS}},
    ]
    for form in forms:
        assert labels(await invoke(iris, form)) == LABELS, form
    header = ",".join(COLUMNS) + "\n"
    rows = "".join(",".join(map(str, row)) + "\n" for row in ROWS)
    for csv in (header + rows, rows, "X[3],X[2],X[1],X[0]\n" + _reversed(rows)):
        assert labels(await invoke(iris, csv, **{"content-type": "text/csv"})) == LABELS, csv
    no_type = await iris.post("/invocations", content=b'{"inputs": [[5.1, 3.5, 1.4, 0.2]]}', headers=IRIS)
    assert labels(no_type) == LABELS[:1]  # a body without Content-Type is read as JSON
    assert 'protocol="mlflow"' in (await iris.get("/metrics")).text
    # the target: a version, an alias or an endpoint
    for target in ("iris:1", "iris@production"):
        response = await invoke(iris, {"inputs": ROWS}, **{"x-modelport-target": target})
        assert labels(response) == LABELS
        assert response.headers["x-modelport-served-by"] == "iris:1"
    routes = [{"target": "iris@production", "weight": 1}]
    created = await iris.post("/api/v1/endpoints", json={"name": "flowers", "routes": routes})
    assert created.status_code == 201, created.text
    await wait_for(iris, "/v2/models/flowers/ready")
    assert labels(await invoke(iris, {"instances": ROWS}, **{"x-modelport-target": "flowers"})) == LABELS


def _reversed(rows: str) -> str:
    return "".join(",".join(reversed(line.split(","))) + "\n" for line in rows.splitlines())


@pytest.fixture
async def sagemaker(
    settings: Settings,
    registry: Registry,
    register: Callable[..., object],
    model_files: dict[str, Path],
) -> AsyncIterator[httpx.AsyncClient]:
    """A server whose one model is set by ``serving.invocations_target``, as SageMaker runs it."""
    register(model_files["iris"], "iris", aliases=("production",))
    one_model = settings.serving.model_copy(update={"invocations_target": "iris@production"})
    async with serving(settings.model_copy(update={"serving": one_model}), registry) as client:
        yield client


async def test_the_configured_target_answers_requests_that_name_none(sagemaker: httpx.AsyncClient) -> None:
    await wait_for(sagemaker, "/ping")  # SageMaker's health check: 200 once the model is loaded
    assert (await sagemaker.get("/ping", headers={"x-modelport-target": "iris:1"})).status_code == 200
    row = ",".join(map(str, ROWS[1])) + "\n"
    response = await sagemaker.post("/invocations", content=row, headers={"content-type": "text/csv"})
    assert labels(response) == LABELS[1:]
    assert labels(await sagemaker.post("/invocations", json={"instances": ROWS})) == LABELS
    unknown = await sagemaker.get("/ping", headers={"x-modelport-target": "nope"})
    assert "'nope'" in mlflow_error(unknown, 404, "RESOURCE_DOES_NOT_EXIST")


def mlflow_error(response: httpx.Response, status: int, code: str) -> str:
    """The message of an error in MLflow's shape, after checking it is one."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error_code", "message"}, body
    assert body["error_code"] == code
    return str(body["message"])


NESTED: Any = 1.0
for _ in range(40):
    NESTED = [NESTED]

# (id, body, content type, status, error code, words the message must contain)
BAD: list[tuple[str, bytes | str, str, int, str, tuple[str, ...]]] = [
    ("malformed-json", b'{"inputs": [', "application/json", 400, "BAD_REQUEST", ("not valid JSON",)),
    ("no-form", b'{"data": [1]}', "application/json", 400, "BAD_REQUEST", ("dataframe_split",)),
    (
        "two-forms",
        b'{"inputs": [], "instances": []}',
        "application/json",
        400,
        "BAD_REQUEST",
        ("exactly one",),
    ),
    (
        "wrong-type",
        b'{"inputs": [["a", "b", "c", "d"]]}',
        "application/json",
        400,
        "BAD_REQUEST",
        ("'X'", "numbers"),
    ),
    (
        "null-cell",
        b'{"dataframe_split": {"columns": ["X"], "data": [[null]]}}',
        "application/json",
        400,
        "BAD_REQUEST",
        ("'X'",),
    ),
    (
        "ragged-split",
        b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3]]}}',
        "application/json",
        400,
        "BAD_REQUEST",
        ("row 1", "1 values"),
    ),
    (
        "missing-column",
        b'{"dataframe_records": [{"a": 1.0}]}',
        "application/json",
        400,
        "BAD_REQUEST",
        ("X[0]", "['a']"),
    ),
    (
        "unknown-input",
        b'{"inputs": {"Z": [[1, 2, 3, 4]]}}',
        "application/json",
        400,
        "BAD_REQUEST",
        ("'Z'", "'X'"),
    ),
    ("wrong-width", b'{"inputs": [[1, 2, 3]]}', "application/json", 400, "BAD_REQUEST", ("X",)),
    (
        "deep-json",
        orjson.dumps({"inputs": NESTED}),
        "application/json",
        400,
        "BAD_REQUEST",
        ("deep", "32"),
    ),
    (
        "ragged-csv",
        "X[0],X[1],X[2],X[3]\n1,2,3,4\n1,2,3\n",
        "text/csv",
        400,
        "BAD_REQUEST",
        ("line 3", "3 values"),
    ),
    ("text-in-csv", "X[0],X[1],X[2],X[3]\n1,2,x,4\n", "text/csv", 400, "BAD_REQUEST", ("'X[2]'",)),
    ("not-utf8-csv", b"\xff\xfe,1\n", "text/csv", 400, "BAD_REQUEST", ("UTF-8",)),
    ("empty-csv", "", "text/csv", 400, "BAD_REQUEST", ("no rows",)),
    ("other-type", b"<x/>", "application/xml", 415, "BAD_REQUEST", ("application/xml", "text/csv")),
]


async def test_bad_input_and_no_target_get_a_clear_error_in_mlflows_shape(iris: httpx.AsyncClient) -> None:
    for case, body, kind, status, code, words in BAD:
        response = await invoke(iris, body, **{"content-type": kind})
        message = mlflow_error(response, status, code)
        assert all(word in message for word in words), (case, message)
    for target, status, code in (
        ("nope", 404, "RESOURCE_DOES_NOT_EXIST"),
        ("iris:9", 404, "RESOURCE_DOES_NOT_EXIST"),
        ("iris:x", 400, "BAD_REQUEST"),
    ):
        response = await invoke(iris, {"inputs": ROWS}, **{"x-modelport-target": target})
        assert target.partition(":")[2] in mlflow_error(response, status, code)
    no_target = await iris.post("/invocations", json={"inputs": ROWS})
    message = mlflow_error(no_target, 400, "BAD_REQUEST")
    assert "x-modelport-target" in message and "MODELPORT_SERVING__INVOCATIONS_TARGET" in message
    assert (await iris.get("/ping")).status_code == 200  # no target named: the server's readiness
    assert (await iris.get("/health")).status_code == 200
    version = await iris.get("/version")
    assert version.status_code == 200 and version.text
    assert labels(await invoke(iris, {"inputs": ROWS})) == LABELS  # the server still serves


def test_a_configured_target_that_is_no_target_stops_the_server_naming_the_setting(
    settings: Settings, registry: Registry
) -> None:
    one_model = settings.serving.model_copy(update={"invocations_target": "iris@5"})
    with pytest.raises(InvalidInput, match=r"serving\.invocations_target: 'iris@5'"):
        build_app(settings.model_copy(update={"serving": one_model}), registry)
