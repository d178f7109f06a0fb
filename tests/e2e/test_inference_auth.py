"""``auth.protect_inference`` on a real server: every data-plane route but the health probes needs the
token, over REST (fast lane and ASGI path) and gRPC; the CLI sends it; no token, no server."""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

from modelport.serving.grpc import grpc_predict_v2_pb2 as pb
from modelport.serving.grpc.grpc_predict_v2_pb2_grpc import GRPCInferenceServiceStub
from tests.e2e.conftest import IRIS_ROWS, Server, free_port, iris_request, register, run_cli, running_server

TOKEN = "inference-s3cret"
RIGHT = {"Authorization": f"Bearer {TOKEN}"}
RIGHT_PAIR = ("authorization", f"Bearer {TOKEN}")
WRONG_PAIR = ("authorization", "Bearer wrong")
BOTH_ORDERS = pytest.mark.parametrize(
    "pair", [[RIGHT_PAIR, WRONG_PAIR], [WRONG_PAIR, RIGHT_PAIR]], ids=["right-first", "wrong-first"]
)
WRONG_HEADERS = [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}]
DATA_PLANE = [
    ("POST", "/v2/models/iris/infer"),
    ("POST", "/v2/models/iris/versions/1/infer"),
    ("GET", "/v2"),
    ("GET", "/v2/models/iris"),
    ("GET", "/v2/models/iris/ready"),
    ("GET", "/v2/models/stats"),
    ("GET", "/v2/models/iris/stats"),
    ("GET", "/metrics"),
    ("GET", "/v1/models/iris"),
    ("GET", "/v1/models/iris/labels/production/metadata"),
]


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
        server.wait_until("/v2/models/iris/ready", headers=RIGHT)
        yield server, grpc_port


def _call(server: Server, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    body = iris_request() if method == "POST" else None
    return httpx.request(method, server.url + path, json=body, headers=headers, timeout=10)


@pytest.mark.parametrize("headers", WRONG_HEADERS, ids=["no-token", "wrong-token", "wrong-scheme"])
def test_every_data_plane_route_needs_the_token(server: tuple[Server, int], headers: dict[str, str]) -> None:
    for method, path in DATA_PLANE:
        response = _call(server[0], method, path, headers)
        assert response.status_code == 401, (path, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        assert "token" in response.json()["error"] and TOKEN not in response.text


def test_the_token_opens_the_data_plane(server: tuple[Server, int]) -> None:
    for method, path in DATA_PLANE:
        response = _call(server[0], method, path, RIGHT)
        assert response.status_code == 200, (path, response.text)
    answer = _call(server[0], "POST", "/v2/models/iris/infer", RIGHT).json()
    assert answer["outputs"][0]["data"] == [0, 1, 2]


def test_health_probes_stay_open(server: tuple[Server, int]) -> None:
    for path in ("/v2/health/live", "/v2/health/ready", "/"):  # "/": KServe v1's liveness check
        assert httpx.get(server[0].url + path).status_code == 200
    refused = httpx.post(server[0].url + "/v1/models/iris:predict", json={"instances": IRIS_ROWS})
    assert refused.status_code == 401


def _grpc_infer() -> pb.ModelInferRequest:
    tensor = pb.ModelInferRequest.InferInputTensor(name="X", datatype="FP32", shape=[3, 4])
    tensor.contents.fp32_contents.extend(value for row in IRIS_ROWS for value in row)
    return pb.ModelInferRequest(model_name="iris", inputs=[tensor])


def test_grpc_needs_the_token_except_for_server_health(server: tuple[Server, int]) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server[1]}") as channel:
        stub = GRPCInferenceServiceStub(channel)  # type: ignore[no-untyped-call]
        assert stub.ServerLive(pb.ServerLiveRequest()).live
        assert stub.ServerReady(pb.ServerReadyRequest()).ready
        calls = [
            (stub.ModelInfer, _grpc_infer()),
            (stub.ModelReady, pb.ModelReadyRequest(name="iris")),
            (stub.ModelMetadata, pb.ModelMetadataRequest(name="iris")),
            (stub.ServerMetadata, pb.ServerMetadataRequest()),
            (stub.ModelStatistics, pb.ModelStatisticsRequest()),
            (stub.RepositoryIndex, pb.RepositoryIndexRequest()),
        ]
        for metadata in [(), (("authorization", "Bearer wrong"),)]:
            for call, message in calls:
                with pytest.raises(grpc.RpcError) as refused:
                    call(message, metadata=metadata)
                assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
                assert "token" in (refused.value.details() or "")
        right = (("authorization", f"Bearer {TOKEN}"),)
        for call, message in calls:
            call(message, metadata=right)
        answer = stub.ModelInfer(_grpc_infer(), metadata=right)
        assert answer.model_name == "iris"
        streamed = list(stub.ModelStreamInfer(iter([_grpc_infer()]), metadata=right))
        assert streamed[0].infer_response.model_name == "iris" and not streamed[0].error_message


def test_a_grpc_stream_without_the_token_is_refused_before_its_first_request(
    server: tuple[Server, int],
) -> None:
    outcomes: queue.Queue[InferenceServerException | None] = queue.Queue()
    for headers in [None, {"authorization": "Bearer wrong"}]:
        client = triton.InferenceServerClient(f"127.0.0.1:{server[1]}")
        try:
            client.start_stream(lambda result, error: outcomes.put(error), headers=headers)  # sends nothing
            refused = outcomes.get(timeout=30)
            assert refused is not None and refused.status() == "StatusCode.UNAUTHENTICATED"
            assert "token" in (refused.message() or "")
        finally:
            client.stop_stream(cancel_requests=True)
            client.close()


def test_the_cli_sends_the_token_on_inference(server: tuple[Server, int], tmp_path: Path) -> None:
    elsewhere = tmp_path / "no-local-registry"
    rows = json.dumps(IRIS_ROWS)
    args = ("--server", server[0].url, "predict", "iris", "--input", "-", "--json")
    result = run_cli(elsewhere, *args, input=rows, env={"MODELPORT_TOKEN": TOKEN})
    assert json.loads(result.stdout)["outputs"][0]["data"] == [0, 1, 2]
    refused = run_cli(elsewhere, *args, input=rows, check=False)
    assert refused.returncode == 1 and "token" in refused.stderr and "Traceback" not in refused.stderr


def test_protect_inference_without_a_token_refuses_to_start(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path / "home",
        "serve",
        "--port",
        str(free_port()),
        env={"MODELPORT_AUTH__PROTECT_INFERENCE": "true"},
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert "protect_inference" in result.stderr and "MODELPORT_AUTH__TOKEN" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


# Two ``Authorization`` headers, one right and one wrong in either order, are refused with 401 on a
# real server: the management API, the data plane with ``auth.protect_inference`` (fast lane and ASGI
# path) and gRPC (two ``authorization`` metadata values).


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
    assert httpx.get(url + "/api/v1/models/iris", headers=[RIGHT_PAIR]).json()["aliases"] == {"production": 1}


@BOTH_ORDERS
def test_the_data_plane_refuses_two_authorizations(
    server: tuple[Server, int], pair: list[tuple[str, str]]
) -> None:
    url = server[0].url
    _refused(httpx.post(url + "/v2/models/iris/infer", json=iris_request(), headers=pair))
    _refused(httpx.get(url + "/v2/models/iris", headers=pair))
    assert (
        httpx.post(url + "/v2/models/iris/infer", json=iris_request(), headers=[RIGHT_PAIR]).status_code
        == 200
    )


@BOTH_ORDERS
def test_grpc_refuses_two_authorizations(server: tuple[Server, int], pair: list[tuple[str, str]]) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server[1]}") as channel:
        stub = GRPCInferenceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.ModelReady(pb.ModelReadyRequest(name="iris"), metadata=pair, timeout=10)
        assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
        assert stub.ModelReady(pb.ModelReadyRequest(name="iris"), metadata=[RIGHT_PAIR], timeout=10).ready
