"""The Python API and the local CLI commands work on a data directory without the server's stack: they
import none of uvicorn, grpc, FastAPI or Starlette (issue 13, point 2). Each check runs in a fresh
interpreter, since this test process has imported them all already."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.models import iris_onnx

SERVER_MODULES = ("uvicorn", "grpc", "fastapi", "starlette")

LOCAL_COMMANDS = (
    ("register", "{model}", "--name", "iris"),
    ("models", "list"),
    ("versions", "iris"),
    ("alias", "set", "iris", "production", "1"),
    ("policy", "set", "iris", "latest"),
    ("config", "show", "iris"),
    ("predict", "iris", "--input", "{input}"),
    ("batch", "iris", "{rows}", "{output}"),
    ("endpoint", "list"),
    ("monitor", "show"),
    ("gc",),
)
"""Every local command that needs no payload log or endpoint set up first, in an order that works."""

_CLI = """
import json, sys
from modelport.cli import main
heavy, seen, first_loaded_by = {heavy!r}, set(), {{}}
for argv in json.loads(sys.argv[1]):
    main(argv, standalone_mode=False)
    now = {{m for m in heavy if m in sys.modules}}
    first_loaded_by[" ".join(argv[2:4])] = sorted(now - seen)
    seen |= now
print(json.dumps(first_loaded_by))
"""
"""Runs the commands one after another in one interpreter; prints which server modules each imported."""


def run_python(code: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPORT_")}  # no --server from here
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return iris_onnx(tmp_path_factory.mktemp("model"))


def test_register_through_the_python_api_imports_no_server_module(model: Path, tmp_path: Path) -> None:
    code = (
        "import sys, modelport; "
        f"version = modelport.register({str(model)!r}, 'iris', home={str(tmp_path)!r}); "
        f"print(version.number, sorted(m for m in {SERVER_MODULES!r} if m in sys.modules))"
    )
    assert run_python(code) == "1 []"


def test_local_cli_commands_import_no_server_module(model: Path, tmp_path: Path) -> None:
    request = tmp_path / "request.json"
    request.write_text("[[5.1, 3.5, 1.4, 0.2]]")
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"X": [5.1, 3.5, 1.4, 0.2]}\n{"X": [6.1, 2.5, 4.4, 1.2]}\n')
    home = tmp_path / "home"
    paths = {"model": model, "input": request, "rows": rows, "output": tmp_path / "scored"}
    commands = [["--home", str(home), *(part.format(**paths) for part in cmd)] for cmd in LOCAL_COMMANDS]
    loaded = json.loads(run_python(_CLI.format(heavy=SERVER_MODULES), json.dumps(commands)))
    assert len(loaded) == len(LOCAL_COMMANDS)
    assert {command: names for command, names in loaded.items() if names} == {}
