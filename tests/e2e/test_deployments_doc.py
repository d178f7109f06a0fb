"""Runs the worked example of docs/deployments.md, block by block, exactly as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import base_env, running_server

DOC = Path(__file__).resolve().parents[2] / "docs" / "deployments.md"
BLOCK = re.compile(r"```(python|bash)\n(.*?)```", re.DOTALL)


def test_the_worked_example_runs_as_written(tmp_path: Path) -> None:
    blocks = BLOCK.findall(DOC.read_text())
    assert [kind for kind, _ in blocks][:2] == ["python", "bash"], "the example's first steps moved"
    home = tmp_path / "home"
    with running_server(home, tmp_path) as server:
        env = base_env(home, MODELPORT_PORT=str(server.port))
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        outputs = []
        for kind, code in blocks:
            command = (
                [sys.executable, "-c", code] if kind == "python" else ["bash", "-euo", "pipefail", "-c", code]
            )
            done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180)
            assert done.returncode == 0, (
                f"{kind} block failed:\n{code}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
            )
            outputs.append(done.stdout)
    final = json.loads(outputs[-1][outputs[-1].index("{") :])
    assert final["config"]["routes"] == [{"target": "flowers-model@candidate", "weight": 100}]
    assert final["revision"] == 6
