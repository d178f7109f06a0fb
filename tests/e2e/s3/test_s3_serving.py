"""A real ``modelport serve`` on an S3 artifact store, its versions registered by the real CLI.

One server loads from an empty cache: a version whose object was changed in the bucket is refused
(not cached) while the others serve. A second server on the same home, its S3 endpoint down at
start, serves what the cache holds and leaves the rest unloaded with a one-line reason. Deleting a
model removes its object from the bucket. A third server, behind a proxy standing for the S3
endpoint, meets it down at start and then down in the middle of a download: each time the version
stays unloaded while the others serve, and loads once the endpoint is back.
"""

from __future__ import annotations

import contextlib
import hashlib
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


class _Proxy:
    """A TCP port in front of an S3 endpoint, that the test takes down and brings back.

    ``up`` forwards connections to ``target``; ``down`` closes them all and refuses new ones.
    ``cut(key, after)`` goes down in the middle of the next GET of ``key``: its response's headers
    and ``after`` bytes of its body get through, then the endpoint is gone."""

    def __init__(self, target_port: int) -> None:
        self.port, self._target = free_port(), target_port
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._cut: tuple[bytes, int] | None = None
        self._guard = threading.Lock()

    def up(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def down(self) -> None:
        with self._guard:
            self._cut = None
            if self._listener is not None:  # shut down first: a close alone does not end its accept
                with contextlib.suppress(OSError):
                    self._listener.shutdown(socket.SHUT_RDWR)
                self._listener.close()
                self._listener = None
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def cut(self, key: str, after: int) -> None:
        self._cut = (key.encode(), after)

    def _accept(self, listener: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = listener.accept()
                upstream = socket.create_connection(("127.0.0.1", self._target))
                with self._guard:
                    self._sockets.update((client, upstream))
                cut: list[int] = []  # set by a request to cut: the body bytes its response may pass
                threading.Thread(target=self._requests, args=(client, upstream, cut), daemon=True).start()
                threading.Thread(target=self._responses, args=(upstream, client, cut), daemon=True).start()

    def _requests(self, client: socket.socket, upstream: socket.socket, cut: list[int]) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                armed = self._cut
                if armed and data.startswith(b"GET ") and armed[0] in data.split(b"\r\n", 1)[0]:
                    cut.append(armed[1])  # before the request goes on: its response is the one to cut
                upstream.sendall(data)
        with contextlib.suppress(OSError):
            upstream.shutdown(socket.SHUT_WR)

    def _responses(self, upstream: socket.socket, client: socket.socket, cut: list[int]) -> None:
        held = b""
        with contextlib.suppress(OSError):
            while data := upstream.recv(65536):
                if not cut:
                    client.sendall(data)
                    continue
                held += data
                end = held.find(b"\r\n\r\n") + 4
                if end >= 4 and len(held) >= end + cut[0]:
                    client.sendall(held[: end + cut[0]])
                    self.down()
                    return
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_WR)


def test_a_version_whose_store_fails_at_start_or_mid_download_loads_once_it_is_back(
    tmp_path: Path, seaweed: SeaweedFS, s3_url: str, model_files: dict[str, Path]
) -> None:
    """No restart, no registry change: the server tries the failed load again on its own. While a
    version cannot be fetched, the others serve, and a download cut short leaves nothing behind."""
    home, logs = tmp_path / "home", tmp_path / "logs"
    logs.mkdir()
    env = {**seaweed.env(), "MODELPORT_STORAGE__ARTIFACTS_URL": s3_url}
    first = json.loads(
        run_cli_in_process(
            home, "register", model_files["iris"], "--name", "late", "--alias", "stable", "--json", env=env
        ).stdout
    )
    proxy = _Proxy(seaweed.ports["s3.port"])
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
            proxy.up()
            wait_for(server, "/v2/models/late/ready", lambda r: r.status_code == 200)
            answer = httpx.post(f"{server.url}/v2/models/late/infer", json=iris_request())
            assert answer.status_code == 200, answer.text
            status = httpx.get(f"{server.url}/api/v1/status").json()
            assert status["failures"] == {} and status["registry_revision"] == revision

            second_file = model_files["iris-v2"]
            digest = hashlib.sha256(second_file.read_bytes()).hexdigest()
            proxy.cut(digest, after=second_file.stat().st_size // 2)
            run_cli_in_process(home, "register", second_file, "--name", "late", env=env)
            status = wait_for(server, "/api/v1/status", lambda r: "late:2" in r.json()["failures"]).json()
            reason = status["failures"]["late:2"]
            assert (
                f"cannot reach {s3_url}/{digest[:2]}/{digest}/model.onnx: the S3 endpoint does not answer"
                == reason
            )
            assert httpx.get(f"{server.url}/v2/models/late/versions/2/ready").status_code != 200
            answer = httpx.post(f"{server.url}/v2/models/late/versions/1/infer", json=iris_request())
            assert answer.status_code == 200, answer.text
            assert cache_entries(home) == {first["digest"]}  # the half downloaded was never published

            proxy.up()
            wait_for(server, "/v2/models/late/versions/2/ready", lambda r: r.status_code == 200)
            answer = httpx.post(f"{server.url}/v2/models/late/versions/2/infer", json=iris_request())
            assert answer.status_code == 200, answer.text
            assert httpx.get(f"{server.url}/api/v1/status").json()["failures"] == {}
            assert cache_entries(home) == {first["digest"], digest}
            assert list((home / "cache" / "artifacts" / ".tmp").iterdir()) == []  # no partial file left
    finally:
        proxy.down()
