"""The ``modelport`` console script, run as a subprocess against a local registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modelport.control.registration import Registrar, RegistrationRequest
from modelport.core.settings import Settings
from modelport.registry.local import open_registry
from tests.e2e.conftest import IRIS_LABELS, IRIS_ROWS, iris_request, run_cli


def identity(document: dict[str, Any]) -> tuple[Any, Any]:
    """(model name, version number) as ``register --json`` prints them."""
    return document["name"], document["version"]


def assert_clean_failure(result: Any, *words: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.startswith("error:"), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for word in words:
        assert word in result.stderr, result.stderr


@pytest.fixture(scope="module")
def registered(home: Path, model_files: dict[str, Path]) -> dict[str, Any]:
    result = run_cli(
        home, "register", model_files["iris"], "--name", "iris", "--alias", "production", "--json"
    )
    return dict(json.loads(result.stdout))


def test_register_json_names_the_model_and_version(registered: dict[str, Any]) -> None:
    assert identity(registered) == ("iris", 1), registered
    assert registered["aliases"] == ["production"]
    assert registered["framework"] == "onnx"
    assert registered["signature"]["inputs"] == [{"name": "X", "datatype": "FP32", "shape": [-1, 4]}]


def test_models_and_versions_json(home: Path, registered: dict[str, Any]) -> None:
    (model,) = json.loads(run_cli(home, "models", "--json").stdout)
    assert model["name"] == "iris"
    assert model["latest_version"] == 1
    assert model["aliases"] == {"production": 1}
    (version,) = json.loads(run_cli(home, "versions", "iris", "--json").stdout)
    assert identity(version) == ("iris", 1)
    assert version["aliases"] == ["production"]


def test_alias_set_and_rm(home: Path, registered: dict[str, Any]) -> None:
    result = run_cli(home, "alias", "set", "iris", "staging", "1")
    assert "iris@staging" in result.stdout
    (version,) = json.loads(run_cli(home, "versions", "iris", "--json").stdout)
    assert sorted(version["aliases"]) == ["production", "staging"]
    result = run_cli(home, "alias", "rm", "iris", "staging")
    assert "staging" in result.stdout
    (model,) = json.loads(run_cli(home, "models", "--json").stdout)
    assert model["aliases"] == {"production": 1}


def labels_of(response: dict[str, Any]) -> list[int]:
    return next(o for o in response["outputs"] if o["name"] == "label")["data"]


def test_predict_a_bare_list_from_stdin(home: Path, registered: dict[str, Any]) -> None:
    result = run_cli(home, "predict", "iris", "--input", "-", "--json", input=json.dumps(IRIS_ROWS))
    response = json.loads(result.stdout)
    assert response["model_name"] == "iris"
    assert response["model_version"] == "1"
    assert labels_of(response) == IRIS_LABELS


def test_predict_a_full_request_file_by_alias(home: Path, registered: dict[str, Any], tmp_path: Path) -> None:
    request = tmp_path / "request.json"
    request.write_text(json.dumps(iris_request(outputs=[{"name": "label"}])))
    response = json.loads(run_cli(home, "predict", "iris@production", "--input", request, "--json").stdout)
    assert [o["name"] for o in response["outputs"]] == ["label"]
    assert labels_of(response) == IRIS_LABELS


def test_predict_one_row_prints_a_table(home: Path, registered: dict[str, Any]) -> None:
    result = run_cli(home, "predict", "iris:1", "--input", "-", input=json.dumps(IRIS_ROWS[2]))
    assert "iris:1" in result.stdout
    assert "label" in result.stdout and "probabilities" in result.stdout


def test_unknown_model_is_a_clean_error(home: Path, registered: dict[str, Any]) -> None:
    result = run_cli(home, "predict", "nope", "--input", "-", input="[[1, 2, 3, 4]]", check=False)
    assert_clean_failure(result, "'nope'")


def test_input_that_is_not_json_is_a_clean_error(home: Path, registered: dict[str, Any]) -> None:
    result = run_cli(home, "predict", "iris", "--input", "-", input="not json", check=False)
    assert_clean_failure(result, "JSON")


def test_a_pickle_needs_trust(home: Path, model_files: dict[str, Path]) -> None:
    refused = run_cli(home, "register", model_files["pickle"], "--name", "pickled", "--json", check=False)
    assert_clean_failure(refused, "--trust")
    assert "pickled" not in run_cli(home, "models", "--json").stdout
    trusted = run_cli(home, "register", model_files["pickle"], "--name", "pickled", "--trust", "--json")
    document = json.loads(trusted.stdout)
    assert identity(document) == ("pickled", 1)
    assert document["trusted"] is True
    assert document["framework"] == "sklearn"


def test_register_without_json_prints_a_summary(home: Path, model_files: dict[str, Path]) -> None:
    result = run_cli(home, "register", model_files["iris"], "--name", "plain", check=False)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "plain:1" in result.stdout


def test_versions_without_json_prints_a_table(home: Path, registered: dict[str, Any]) -> None:
    result = run_cli(home, "versions", "iris", check=False)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "production" in result.stdout


def test_delete_is_refused_with_the_reason_then_frees_the_files(
    tmp_path: Path, model_files: dict[str, Path]
) -> None:
    home = tmp_path / "home"
    with open_registry(Settings(home=home)) as registry:  # set up in process: fewer slow subprocesses
        registrar = Registrar(registry, probe_timeout_s=120)
        registrar.register(RegistrationRequest("doomed", model_files["iris"], aliases=("production",)))
        registrar.register(RegistrationRequest("doomed", model_files["iris-v2"]))
    assert_clean_failure(
        run_cli(home, "versions", "delete", "doomed", "1", check=False),
        "cannot delete version 1 of model 'doomed': alias doomed@production points at version 1",
        "modelport alias rm doomed production",
    )
    deleted = json.loads(run_cli(home, "versions", "delete", "doomed", "2", "--json").stdout)
    assert deleted["versions"] == [2] and len(deleted["files"]) == 1
    with open_registry(Settings(home=home)) as registry:
        registry.remove_alias("doomed", "production")
    size = model_files["iris"].stat().st_size
    result = run_cli(home, "models", "delete", "doomed")
    assert result.stdout == f"deleted doomed (version 1)\nremoved 1 stored file ({size} bytes)\n"
    assert not [p for p in (home / "artifacts").rglob("*") if p.is_file()]  # nothing left behind


def test_registering_the_same_file_again_repairs_a_damaged_copy(
    tmp_path: Path, model_files: dict[str, Path]
) -> None:
    """A stored file damaged on disk fails its version cleanly; registering the same file again
    replaces the damaged copy, and the old version predicts again."""
    home = tmp_path / "home"
    with open_registry(Settings(home=home)) as registry:  # set up in process: fewer slow subprocesses
        first = Registrar(registry, probe_timeout_s=120).register(
            RegistrationRequest("iris", model_files["iris"])
        )
        stored = registry.artifacts.path(first.digest, first.filename)
    stored.chmod(0o600)
    stored.write_bytes(b"damaged on disk")
    predict = ("predict", "iris:1", "--input", "-", "--json")
    assert_clean_failure(run_cli(home, *predict, input=json.dumps(IRIS_ROWS), check=False), "corrupt")
    run_cli(home, "register", model_files["iris"], "--name", "iris")
    assert labels_of(json.loads(run_cli(home, *predict, input=json.dumps(IRIS_ROWS)).stdout)) == IRIS_LABELS
