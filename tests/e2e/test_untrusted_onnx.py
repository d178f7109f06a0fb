"""An uploaded ONNX model never reads the server's files (issue 15, finding 2).

The issue's model: a ``Constant`` node whose ``sparse_value`` keeps its values in "external data"
at a location such as ``pyproject.toml``. onnxruntime, given the model's bytes, resolved that
location against the server's working directory and inference returned the file's bytes. Here the
server runs in a directory holding marker files; registration must be refused with a clear 400
(or a clear CLI error) and the markers' bytes must appear nowhere.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.e2e.conftest import MODELPORT, READY_TIMEOUT_S, Server, base_env, free_port

SECRET = b"SECRET-MARKER-7d2e91c04b"
N = len(SECRET)


def leaking_model(location: str) -> bytes:
    """``y = c + x`` where ``c`` is a sparse constant read from ``location``."""
    values = TensorProto(
        name="values", data_type=TensorProto.UINT8, dims=[N], data_location=TensorProto.EXTERNAL
    )
    for key, value in (("location", location), ("offset", "0"), ("length", str(N))):
        values.external_data.add(key=key, value=value)
    indices = numpy_helper.from_array(np.arange(N, dtype=np.int64), "indices")
    constant = helper.make_node(
        "Constant", [], ["c"], sparse_value=helper.make_sparse_tensor(values, indices, [N])
    )
    graph = helper.make_graph(
        [constant, helper.make_node("Add", ["c", "x"], ["y"])],
        "leak",
        [helper.make_tensor_value_info("x", TensorProto.UINT8, [N])],
        [helper.make_tensor_value_info("y", TensorProto.UINT8, [N])],
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8
    ).SerializeToString()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's working directory: a secret file and a ``pyproject.toml``, both holding the marker."""
    directory = tmp_path_factory.mktemp("server-cwd")
    (directory / "secret.txt").write_bytes(SECRET)
    (directory / "pyproject.toml").write_bytes(SECRET + b"\n[project]\n")
    return directory


def locations(workdir: Path) -> dict[str, str]:
    return {
        "pyproject": "pyproject.toml",
        "relative": "secret.txt",
        "dot": "./secret.txt",
        "parent": f"../{workdir.name}/secret.txt",
        "absolute": str(workdir / "secret.txt"),
    }


@pytest.fixture(scope="module")
def server(home: Path, log_dir: Path, workdir: Path) -> Iterator[Server]:
    """``modelport serve`` started with its working directory set to ``workdir``, stopped by its PID."""
    port = free_port()
    log_path = log_dir / f"server-{port}.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [str(MODELPORT), "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=workdir,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=base_env(home, MODELPORT_SERVING__POLL_INTERVAL_S="0.2", MODELPORT_GRPC__PORT="0"),
    )
    server = Server(home, port, process, log_path, log_file)
    try:
        server.wait_until("/v2/health/ready", timeout_s=READY_TIMEOUT_S)
        yield server
    finally:
        server.stop()
        print(f"----- server log ({log_path}) -----\n{log_path.read_text(errors='replace')}")


@pytest.mark.parametrize("where", ["pyproject", "relative", "dot", "parent", "absolute"])
def test_an_upload_reading_a_local_file_is_refused(
    server: Server, workdir: Path, tmp_path: Path, where: str
) -> None:
    name = f"leak-{where}"
    path = tmp_path / "model.onnx"
    path.write_bytes(leaking_model(locations(workdir)[where]))
    with httpx.Client(base_url=server.url, timeout=60) as client:
        with path.open("rb") as handle:
            response = client.post(f"/api/v1/models/{name}/versions", files={"file": ("model.onnx", handle)})
        assert response.status_code == 400, response.text
        assert "external data" in response.json()["error"]
        assert SECRET.decode() not in response.text and "Traceback" not in response.text
        assert client.get(f"/api/v1/models/{name}/versions").status_code == 404
        # Had it been registered, this is where the file's bytes came back.
        request = {"inputs": [{"name": "x", "datatype": "UINT8", "shape": [N], "data": [0] * N}]}
        inference = client.post(f"/v2/models/{name}/infer", json=request)
        assert inference.status_code == 404 and SECRET.decode() not in inference.text
        assert client.get("/v2/health/ready").status_code == 200
    assert SECRET.decode() not in server.log() and "Traceback" not in server.log()


def test_the_cli_refuses_it_without_trust(home: Path, workdir: Path, tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(leaking_model("pyproject.toml"))
    result = subprocess.run(
        [str(MODELPORT), "register", str(path), "--name", "leak-cli", "--json"],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=base_env(home),
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "external data" in result.stderr and "Traceback" not in result.stderr
    assert SECRET.decode() not in result.stdout + result.stderr
    models = subprocess.run(
        [str(MODELPORT), "models", "--json"], capture_output=True, text=True, env=base_env(home), check=True
    )
    assert "leak-cli" not in {model["name"] for model in json.loads(models.stdout)}
