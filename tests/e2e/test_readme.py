"""The README's venv instruction, from a checkout's folder (its other examples: test_doc_examples.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import base_env, running_server

README = Path(__file__).resolve().parents[2] / "README.md"


def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_the_venv_instruction_runs_the_cli_which_names_its_home_and_finds_the_server(tmp_path: Path) -> None:
    """The README's "put the venv's bin/ on your PATH" block, run as written from a checkout's folder;
    without ``MODELPORT_PORT``, the CLI then reaches the server on a free port through its home's record."""
    instruction = next(
        code
        for code in re.findall(r"```bash\n(.*?)```", _section("Two commands"), re.DOTALL)
        if "activate" in code
    )
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / ".venv").symlink_to(Path(sys.executable).parent.parent)  # the venv `make run` made
    user = tmp_path / "user"
    env = base_env(user, HOME=str(user))
    del env["MODELPORT_HOME"]  # ~/.modelport, as `make run` serves it
    env["PATH"] = os.pathsep.join(
        p for p in env["PATH"].split(os.pathsep) if Path(p) != Path(sys.executable).parent
    )
    home = user / ".modelport"
    with running_server(home, tmp_path) as server:
        assert (home / "server.json").exists()
        listed = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", instruction],
            env=env,
            cwd=checkout,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.returncode == 0, listed.stderr
        assert listed.stderr == f"using home {home}\n"  # MODELPORT_HOME is unset: the CLI says which
        reached = subprocess.run(
            ["bash", "-c", f"source .venv/bin/activate && modelport --home {home} endpoint report missing"],
            env=env,
            cwd=checkout,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert reached.returncode == 1 and "using home" not in reached.stderr  # --home chose it
        assert reached.stderr == "error: endpoint 'missing' does not exist\n", (
            reached.stderr
        )  # the server's answer
        server.stop()
        assert not (home / "server.json").exists()  # a clean stop removes the record
