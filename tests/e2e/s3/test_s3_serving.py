"""A real ``modelport serve`` on an S3 artifact store, its versions registered by the real CLI.

One server loads from an empty cache: a version whose object was changed in the bucket is refused
(not cached) while the others serve. A second server on the same home, its S3 endpoint down at
start, serves what the cache holds and leaves the rest unloaded with a one-line reason. Deleting a
model removes its object from the bucket.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from pathlib import Path

import httpx
import obstore
import pytest

from tests import models
from tests.e2e.conftest import free_port, iris_request, run_cli_in_process, running_server, wait_for
from tests.e2e.s3.conftest import BUCKET
from tests.s3 import SeaweedFS, cache_entries


def test_serve_from_s3_refuses_changed_objects_and_survives_s3_down(
    tmp_path: Path, seaweed: SeaweedFS, s3_url: str, model_files: dict[str, Path]
) -> None:
    home, logs = tmp_path / "home", tmp_path / "logs"
    logs.mkdir()
    env = {**seaweed.env(), "MODELPORT_STORAGE__ARTIFACTS_URL": s3_url}

    def register(path: Path, name: str, *options: str) -> dict[str, str]:
        result = run_cli_in_process(home, "register", path, "--name", name, *options, "--json", env=env)
        return dict(json.loads(result.stdout))

    iris = register(model_files["iris"], "iris", "--alias", "production")
    iris_v2 = register(model_files["iris-v2"], "iris")
    other = register(models.iris_onnx(tmp_path, c=0.5), "other")
    assert not (home / "artifacts").exists()  # the bytes went to the bucket
    _, prefix = s3_url.removeprefix("s3://").split("/", 1)
    changed = f"{prefix}/{iris_v2['digest'][:2]}/{iris_v2['digest']}/model.onnx"
    obstore.put(seaweed.client(BUCKET), changed, model_files["iris"].read_bytes())

    with running_server(home, logs, **env) as server:
        status = wait_for(server, "/api/v1/status", lambda r: "iris:2" in r.json()["failures"]).json()
        assert "was refused: the downloaded bytes hash to" in status["failures"]["iris:2"]
        answer = httpx.post(f"{server.url}/v2/models/iris/versions/1/infer", json=iris_request())
        assert answer.status_code == 200, answer.text
        wait_for(server, "/v2/models/other/ready", lambda r: r.status_code == 200)
        # --server: the CLI fetches the URI itself and uploads the bytes; the server fetches nothing
        obstore.put(seaweed.client(BUCKET), f"{prefix}/upload/iris.onnx", model_files["iris"])
        source = f"{s3_url}/upload/iris.onnx"
        result = run_cli_in_process(
            home, "--server", server.url, "register", source, "--name", "copy", "--json", env=env
        )
        assert json.loads(result.stdout)["digest"] == iris["digest"]
    assert cache_entries(home) == {iris["digest"], other["digest"]}

    (home / "cache" / "artifacts" / other["digest"][:2] / other["digest"] / "model.onnx").unlink()
    down = {**env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    with running_server(home, logs, **down) as server:
        status = wait_for(server, "/api/v1/status", lambda r: "other:1" in r.json()["failures"]).json()
        assert "the S3 endpoint does not answer" in status["failures"]["other:1"]
        assert "\n" not in status["failures"]["other:1"]
        answer = httpx.post(f"{server.url}/v2/models/iris/versions/1/infer", json=iris_request())
        assert answer.status_code == 200, answer.text

    run_cli_in_process(home, "models", "delete", "other", env=env)  # its object goes from the bucket
    other_key = f"{prefix}/{other['digest'][:2]}/{other['digest']}/model.onnx"
    with pytest.raises(FileNotFoundError):
        obstore.head(seaweed.client(BUCKET), other_key)


class _LateProxy:
    """A TCP port that refuses connections until ``open()``, then forwards them to ``target``: an
    S3 endpoint that is down when the server starts and comes back later."""

    def __init__(self, target_port: int) -> None:
        self.port, self._target = free_port(), target_port
        self._listener: socket.socket | None = None

    def open(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()

    def _accept(self) -> None:
        assert self._listener is not None
        with contextlib.suppress(OSError):
            while True:
                client, _ = self._listener.accept()
                upstream = socket.create_connection(("127.0.0.1", self._target))
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def test_a_version_whose_store_was_down_at_start_loads_once_it_is_back_without_a_restart(
    tmp_path: Path, seaweed: SeaweedFS, s3_url: str, model_files: dict[str, Path]
) -> None:
    home, logs = tmp_path / "home", tmp_path / "logs"
    logs.mkdir()
    env = {**seaweed.env(), "MODELPORT_STORAGE__ARTIFACTS_URL": s3_url}
    run_cli_in_process(home, "register", model_files["iris"], "--name", "late", env=env)
    proxy = _LateProxy(seaweed.ports["s3.port"])
    late = {
        **env,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}",
        "MODELPORT_SERVING__LOAD_RETRY_S": "0.2",
    }
    try:
        with running_server(home, logs, **late) as server:
            status = wait_for(server, "/api/v1/status", lambda r: "late:1" in r.json()["failures"]).json()
            assert "the S3 endpoint does not answer" in status["failures"]["late:1"]
            revision = status["registry_revision"]
            proxy.open()
            wait_for(server, "/v2/models/late/ready", lambda r: r.status_code == 200)
            answer = httpx.post(f"{server.url}/v2/models/late/infer", json=iris_request())
            assert answer.status_code == 200, answer.text
            status = httpx.get(f"{server.url}/api/v1/status").json()
            assert status["failures"] == {} and status["registry_revision"] == revision
    finally:
        proxy.close()
