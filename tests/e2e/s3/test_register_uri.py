"""``modelport register URI`` (and ``modelport.register(URI)``): https/http-to-loopback, s3://, refusals.

HTTPS needs a certificate the test cannot have, so the HTTP cases use ``http://127.0.0.1`` (allowed,
being loopback) served by a small local server; the same code fetches https.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import obstore
import pytest

import modelport
from tests.e2e.conftest import register, run_cli_in_process
from tests.e2e.s3.conftest import BUCKET
from tests.s3 import SeaweedFS


class _Handler(SimpleHTTPRequestHandler):
    """Files from the served folder; ``/redirect/N/NAME`` answers 302 N times before ``/NAME``."""

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        if parts[0] == "redirect":
            hops = int(parts[1])
            self.send_response(302)
            target = f"/redirect/{hops - 1}/{parts[2]}" if hops > 1 else f"/{parts[2]}"
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def files(model_files: dict[str, Path]) -> Iterator[str]:
    """The base URL of a loopback HTTP server of the test models."""
    folder = model_files["iris"].parent

    def handler(*args: Any) -> _Handler:
        return _Handler(*args, directory=str(folder))

    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def failure(home: Path, *args: str | Path, env: dict[str, str] | None = None) -> str:
    result = run_cli_in_process(home, "register", *args, "--name", "iris", env=env, check=False)
    assert result.returncode != 0
    return result.stderr


def test_register_from_http_on_loopback(tmp_path: Path, files: str, model_files: dict[str, Path]) -> None:
    iris = model_files["iris"]
    version = register(tmp_path, f"{files}/redirect/2/{iris.name}", "iris", "--sha256", sha256(iris))
    assert version["digest"] == sha256(iris)
    assert version["filename"] == "model.onnx"
    python = modelport.register(f"{files}/{iris.name}", "iris", home=tmp_path, sha256=sha256(iris))
    assert (python.number, python.digest) == (2, sha256(iris))


def test_register_from_s3(
    tmp_path: Path, seaweed: SeaweedFS, s3_url: str, model_files: dict[str, Path]
) -> None:
    iris = model_files["iris"]
    _, prefix = s3_url.removeprefix("s3://").split("/", 1)
    obstore.put(seaweed.client(BUCKET), f"{prefix}/upload/iris.onnx", iris)
    result = run_cli_in_process(
        tmp_path, "register", f"{s3_url}/upload/iris.onnx", "--name", "iris", "--json", env=seaweed.env()
    )
    assert json.loads(result.stdout)["digest"] == sha256(iris)
    assert "no object at" in failure(tmp_path, f"{s3_url}/upload/missing.onnx", env=seaweed.env())


def test_register_refuses_bad_sources(tmp_path: Path, files: str, model_files: dict[str, Path]) -> None:
    iris = model_files["iris"]
    url = f"{files}/{iris.name}"
    assert "does not match --sha256" in failure(tmp_path, url, "--sha256", "0" * 64)
    assert "does not match --sha256" in failure(tmp_path, iris, "--sha256", "0" * 64)
    limit = {"MODELPORT_STORAGE__FETCH_MAX_BYTES": "100"}
    assert "larger than storage.fetch_max_bytes" in failure(tmp_path, url, env=limit)
    assert "more than 5 redirects" in failure(tmp_path, f"{files}/redirect/6/{iris.name}")
    assert "HTTP 404" in failure(tmp_path, f"{files}/missing.onnx")
    for refused in ("ftp://127.0.0.1/iris.onnx", "file:///etc/passwd", "gopher://x/y"):
        assert "cannot register from" in failure(tmp_path, refused)
    assert "http:// only to a loopback host" in failure(tmp_path, "http://192.0.2.1/iris.onnx")
    assert list(tmp_path.glob("artifacts/??/*/*")) == []  # nothing was stored
    assert list(Path(tmp_path).glob("**/model.onnx")) == []
