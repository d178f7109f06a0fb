"""Issue 15, finding 1: a skops Pipeline of FunctionTransformers over numpy functions
(``np.full_like`` builds a string, ``np.take`` picks it, ``numpy.testing.runstring`` runs it) is
refused without trust, by the CLI and by a running server's upload API, and never runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import models
from tests.e2e.conftest import IRIS_LABELS, Server, iris_request, register, run_cli, running_server


@pytest.fixture()
def attack(tmp_path: Path) -> tuple[Path, Path]:
    """The attack file and the marker it writes if its code ever runs."""
    marker = tmp_path / "code-ran"
    return models.runstring_skops(tmp_path, marker), marker


@pytest.fixture(scope="module")
def server(home: Path, log_dir: Path, model_files: dict[str, Path]) -> Iterator[Server]:
    register(home, model_files["iris"], "iris")
    with running_server(home, log_dir) as server:
        server.wait_until("/v2/models/iris/ready")
        yield server


def test_the_cli_refuses_it_without_trust(attack: tuple[Path, Path], tmp_path: Path) -> None:
    path, marker = attack
    home = tmp_path / "home"
    result = run_cli(home, "register", path, "--name", "attack", check=False)
    assert result.returncode != 0
    assert "numpy.testing._private.utils.runstring" in result.stderr and "--trust" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    # had it been registered, a local prediction would have run the string
    predicted = run_cli(home, "predict", "attack", "--input", "-", input="[[1, 2, 3, 4]]", check=False)
    assert predicted.returncode != 0
    assert not marker.exists()


def test_the_upload_api_refuses_it_and_keeps_serving(server: Server, attack: tuple[Path, Path]) -> None:
    path, marker = attack
    with path.open("rb") as handle:
        response = httpx.post(
            server.url + "/api/v1/models/attack/versions", files={"file": ("model.skops", handle)}, timeout=60
        )
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert "runstring" in error and "trust" in error
    assert httpx.get(server.url + "/api/v1/models/attack/versions", timeout=10).status_code == 404
    served = httpx.post(server.url + "/v2/models/iris/infer", json=iris_request(), timeout=10)
    assert served.status_code == 200
    labels = next(o for o in json.loads(served.text)["outputs"] if o["name"] == "label")["data"]
    assert labels == IRIS_LABELS
    assert not marker.exists()
    assert "Traceback" not in server.log()
