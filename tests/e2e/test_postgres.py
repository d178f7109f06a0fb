"""A real ``modelport serve`` with its registry on PostgreSQL (``MODELPORT_STORAGE__DATABASE_URL``),
driven by the real CLI: registering, aliasing, serving; two CLI processes registering at once; an
unreachable database at start."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    IRIS_LABELS,
    MODELPORT,
    Server,
    base_env,
    free_port,
    iris_request,
    run_cli_in_process,
    running_server,
    wait_for,
)
from tests.e2e.test_serve_refusal import serve_refusal
from tests.postgres import Cluster

DATABASE_URL = "MODELPORT_STORAGE__DATABASE_URL"


@pytest.fixture(scope="module")
def database(postgres: Cluster) -> str:
    return postgres.create_database("e2e_serve")


@pytest.fixture(scope="module")
def server(home: Path, log_dir: Path, database: str) -> Iterator[Server]:
    with running_server(home, log_dir, **{DATABASE_URL: database}) as server:
        yield server


def cli(home: Path, database: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """The CLI's command in process (``run_cli_in_process``); the concurrent one runs real processes."""
    return run_cli_in_process(home, *args, env={DATABASE_URL: database})


def test_the_cli_registers_and_aliases_and_the_server_serves(
    server: Server, home: Path, database: str, model_files: dict[str, Path]
) -> None:
    first = json.loads(
        cli(home, database, "register", model_files["iris"], "--name", "iris", "--json").stdout
    )
    assert first["version"] == 1
    cli(home, database, "register", model_files["iris-v2"], "--name", "iris", "--alias", "staging")
    cli(home, database, "alias", "set", "iris", "production", "1")
    server.wait_until("/v2/models/iris/versions/2/ready")
    answer = server.wait_until(
        "/v2/models/iris/versions/production/infer", method="POST", json=iris_request()
    )
    assert answer.json()["model_version"] == "1"
    assert answer.json()["outputs"][0]["data"] == IRIS_LABELS
    listed = json.loads(cli(home, database, "versions", "list", "iris", "--json").stdout)
    assert {v["version"]: v["aliases"] for v in listed} == {1: ["production"], 2: ["staging"]}
    # Nothing was written to the home's SQLite file: the registry is in PostgreSQL.
    assert not (home / "modelport.db").exists()


def test_two_cli_processes_registering_at_once_get_distinct_numbers(
    server: Server, home: Path, database: str, model_files: dict[str, Path]
) -> None:
    processes = [
        subprocess.Popen(
            [str(MODELPORT), "register", str(model_files["iris"]), "--name", "twins", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=base_env(home, **{DATABASE_URL: database}),
        )
        for _ in range(2)
    ]
    numbers = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        numbers.append(json.loads(out)["version"])
    assert sorted(numbers) == [1, 2]
    wait_for(
        server,
        "/api/v1/models/twins",
        lambda r: r.status_code == 200 and r.json()["version_count"] == 2,
    )
    served = server.wait_until("/v2/models/twins/infer", method="POST", json=iris_request())
    assert served.json()["model_version"] == "2"  # the newest, as the default policy says


def test_an_unreachable_database_stops_serve_with_one_line(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://modelport:secret@127.0.0.1:{free_port()}/registry"
    line = serve_refusal(tmp_path / "home", **{DATABASE_URL: url})
    assert line.startswith("error: cannot reach the registry database postgresql+psycopg://modelport:***@")
    assert "Connection refused" in line and "secret" not in line


def test_an_unreachable_database_fails_a_cli_command_with_one_line(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://modelport@127.0.0.1:{free_port()}/registry"
    result = run_cli_in_process(tmp_path / "home", "models", "list", env={DATABASE_URL: url}, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot reach the registry database postgresql+psycopg://")
    assert result.stderr.count("\n") == 1 and "Connection refused" in result.stderr
