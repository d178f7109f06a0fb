"""The README's "Call it" examples, run against a server seeded with the demo models (port swapped in)."""

from __future__ import annotations

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


def test_the_curl_and_tritonclient_examples_work_against_the_demo_models(tmp_path: Path) -> None:
    section = _section("Call it")
    blocks = dict(
        (kind, code) for kind, code in re.findall(r"```(bash|python)\n(.*?)```", section, re.DOTALL)
    )
    with running_server(tmp_path / "home", tmp_path, args=["--demo"]) as server:
        port = str(server.port)
        env = base_env(tmp_path / "home")
        shell = blocks["bash"].replace("8080", port)
        curl = subprocess.run(["bash", "-c", shell], env=env, capture_output=True, text=True, timeout=60)
        assert curl.returncode == 0, curl.stderr
        assert '"model_name":"iris"' in curl.stdout and '"ready":true' in curl.stdout
        python = blocks["python"].replace("8080", port)
        result = subprocess.run(
            [sys.executable, "-c", python], env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        probabilities = [float(v) for v in result.stdout.strip(" []\n").split()]
        assert probabilities[0] > 0.9 and abs(sum(probabilities) - 1) < 1e-4, result.stdout  # setosa
