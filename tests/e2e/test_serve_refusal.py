"""``modelport serve`` refusing to start (issue 10, point 15): the hint names only options and settings
that exist, so following it works (it used to suggest ``--token``, which the CLI now refuses)."""

from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path

import pytest
from pydantic import BaseModel

from modelport.core.settings import Settings
from tests.e2e.conftest import MODELPORT, base_env, free_port, run_cli_in_process

OPTION = re.compile(r"(?<![\w-])--[a-z][a-z-]*")


def serve_refusal(home: Path, *args: str, **env: str) -> str:
    result = subprocess.run(
        [str(MODELPORT), "serve", "--port", str(free_port()), "--grpc-port", "0", *args],
        capture_output=True,
        text=True,
        env=base_env(home, **env),
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    return line


@functools.cache
def cli_options() -> frozenset[str]:
    """Every option of ``modelport`` and ``modelport serve``, as their help lists them (read once)."""
    found: set[str] = set()
    for command in ([], ["serve"]):
        page = run_cli_in_process(Path("unused"), *command, "--help")
        found.update(OPTION.findall(page.stdout))
    return frozenset(found)


def is_setting(variable: str) -> bool:
    """Whether ``MODELPORT_A__B`` names the field ``a.b`` of ``Settings``."""
    model: type[BaseModel] = Settings
    *sections, field = variable.removeprefix("MODELPORT_").lower().split("__")
    for section in sections:
        annotation = model.model_fields[section].annotation if section in model.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return False
        model = annotation
    return field in model.model_fields


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--host", "0.0.0.0"], {}),
        ([], {"MODELPORT_AUTH__PROTECT_INFERENCE": "true"}),
    ],
    ids=["beyond-loopback-without-token", "protect-inference-without-token"],
)
def test_every_option_and_setting_in_the_hint_exists(
    tmp_path: Path, args: list[str], env: dict[str, str]
) -> None:
    hint = serve_refusal(tmp_path / "home", *args, **env)
    options = set(OPTION.findall(hint))
    variables = set(re.findall(r"MODELPORT_[A-Z_]+[A-Z]", hint))
    assert options or variables, hint
    assert options <= cli_options(), (hint, options - cli_options())
    assert all(is_setting(variable) for variable in variables), hint


def test_the_hint_names_the_token_file_option(tmp_path: Path) -> None:
    hint = serve_refusal(tmp_path / "home", "--host", "0.0.0.0")
    assert "--token-file" in hint and "MODELPORT_AUTH__TOKEN" in hint
