"""Two ``Authorization`` headers, one right and one wrong in either order, are refused with 401 on a
real server: the management API, the data plane with ``auth.protect_inference`` (fast lane and ASGI
path) and gRPC (two ``authorization`` metadata values)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from modelport.serving.grpc import grpc_predict_v2_pb2 as pb
from modelport.serving.grpc.grpc_predict_v2_pb2_grpc import GRPCInferenceServiceStub
from tests.e2e.conftest import Server, free_port, iris_request, register, running_server

TOKEN = "two-headers-s3cret"
RIGHT = ("authorization", f"Bearer {TOKEN}")
WRONG = ("authorization", "Bearer wrong")
BOTH_ORDERS = pytest.mark.parametrize(
    "pair", [[RIGHT, WRONG], [WRONG, RIGHT]], ids=["right-first", "wrong-first"]
)


@pytest.fixture(scope="module")
def iris_home(home: Path, model_files: dict[str, Path]) -> Path:
    register(home, model_files["iris"], "iris", "--alias", "production")
    return home


@pytest.fixture(scope="module", params=["fast-lane", "asgi"])
def server(request: pytest.FixtureRequest, iris_home: Path, log_dir: Path) -> Iterator[tuple[Server, int]]:
    grpc_port = free_port()
    with running_server(
        iris_home,
        log_dir,
        MODELPORT_AUTH__TOKEN=TOKEN,
        MODELPORT_AUTH__PROTECT_INFERENCE="true",
        MODELPORT_SERVING__FAST_LANE="true" if request.param == "fast-lane" else "false",
        MODELPORT_GRPC__PORT=str(grpc_port),
    ) as server:
        server.wait_until("/v2/models/iris/ready", headers=[RIGHT])
        yield server, grpc_port


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer" and "token" in response.json()["error"]
    assert TOKEN not in response.text


@BOTH_ORDERS
def test_the_management_api_refuses_two_authorizations(
    server: tuple[Server, int], pair: list[tuple[str, str]]
) -> None:
    url = server[0].url
    _refused(httpx.get(url + "/api/v1/models", headers=pair))
    _refused(httpx.delete(url + "/api/v1/models/iris/aliases/production", headers=pair))
    assert httpx.get(url + "/api/v1/models/iris", headers=[RIGHT]).json()["aliases"] == {"production": 1}


@BOTH_ORDERS
def test_the_data_plane_refuses_two_authorizations(
    server: tuple[Server, int], pair: list[tuple[str, str]]
) -> None:
    url = server[0].url
    _refused(httpx.post(url + "/v2/models/iris/infer", json=iris_request(), headers=pair))
    _refused(httpx.get(url + "/v2/models/iris", headers=pair))
    assert httpx.post(url + "/v2/models/iris/infer", json=iris_request(), headers=[RIGHT]).status_code == 200


@BOTH_ORDERS
def test_grpc_refuses_two_authorizations(server: tuple[Server, int], pair: list[tuple[str, str]]) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server[1]}") as channel:
        stub = GRPCInferenceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.ModelReady(pb.ModelReadyRequest(name="iris"), metadata=pair, timeout=10)
        assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
        assert stub.ModelReady(pb.ModelReadyRequest(name="iris"), metadata=[RIGHT], timeout=10).ready
