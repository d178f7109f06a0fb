"""Every shell and Python example of README.md and docs/*.md runs as written, against a demo server.

One ``modelport serve --demo`` serves all the docs, from ``~/.modelport`` of a temporary ``HOME``, as
``make run`` does. Each doc's examples run in order, sharing state, in a fresh directory that holds
the files a reader has at hand (READER_FILES). The text's 8080 and 8081 become the server's free ports,
its ``sleep 6`` for the payload flush ``sleep 3`` (this server flushes every second, not every 5),
and the venv's ``bin/`` leads the PATH. What an example shows it prints is checked
(tests/e2e/doc_examples.py says how it is written).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests import models
from tests.e2e.conftest import base_env, running_server
from tests.e2e.doc_examples import DOCS, ROOT, SHELL, Example, examples, matches

BLOCK_TIMEOUT_S = 180
DEMO_READY_TIMEOUT_S = 120
"""Training and test-loading the three demo models comes first: on a busy machine, well over 30 s."""
FLUSH_INTERVAL_S = 1
"""The demo server's payload flush interval (the default is 5 s)."""


@dataclass(frozen=True)
class Demo:
    env: dict[str, str]
    ports: dict[str, str]
    """The documented port -> the port this server took."""


@pytest.fixture(scope="module")
def reader_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files the examples name as the reader's own: two versions of a 4-feature classifier in ONNX,
    an XGBoost model, and a sample of the training data."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.datasets import load_iris

    directory = tmp_path_factory.mktemp("reader")
    shutil.move(models.iris_onnx(directory), directory / "model.onnx")
    shutil.move(models.iris_onnx(directory, c=0.05), directory / "model-v2.onnx")
    shutil.move(models.diabetes_xgboost(directory), directory / "model.json")
    x = load_iris().data
    pq.write_table(pa.table({f"x{i}": x[:, i] for i in range(4)}), directory / "train_sample.parquet")
    return directory


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    user_home = tmp_path_factory.mktemp("user")
    home, logs = user_home / ".modelport", tmp_path_factory.mktemp("logs")
    # Payload rows reach the disk within 1 s rather than 5: the examples' `sleep 6` waits 3 s (_run).
    with running_server(
        home,
        logs,
        args=["--demo"],
        ready_timeout_s=DEMO_READY_TIMEOUT_S,
        MODELPORT_PAYLOADS__FLUSH_INTERVAL_S=str(FLUSH_INTERVAL_S),
    ) as server:
        status = httpx.get(f"{server.url}/api/v1/status", timeout=10).raise_for_status().json()
        env = base_env(user_home, HOME=str(user_home))
        del env["MODELPORT_HOME"]  # the default, ~/.modelport, as after `make run`
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        yield Demo(env, {"8080": str(server.port), "8081": str(status["grpc_port"])})


FLUSH_WAIT = re.compile(r"^sleep 6(?!\S)", re.MULTILINE)
"""An example's wait for logged rows to reach the disk (the default 5 s flush interval, plus 1 s)."""


def _run(example: Example, demo: Demo, cwd: Path) -> subprocess.CompletedProcess[str]:
    code = example.script()
    for documented, actual in demo.ports.items():
        code = code.replace(documented, actual)
    code = FLUSH_WAIT.sub(f"sleep {FLUSH_INTERVAL_S + 2}", code)  # this server flushes every 1 s
    command = (
        [sys.executable, "-c", code]
        if example.language == "python"
        else ["bash", "-euo", "pipefail", "-c", code]
    )
    return subprocess.run(
        command, env=demo.env, cwd=cwd, capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S, check=False
    )


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: str(doc.relative_to(ROOT)))
def test_the_examples_run_as_written(
    doc: Path, request: pytest.FixtureRequest, reader_files: Path, tmp_path: Path
) -> None:
    runnable = [example for example in examples(doc) if example.not_run is None]
    if not runnable:
        return
    demo: Demo = request.getfixturevalue("demo")
    shutil.copytree(reader_files, tmp_path, dirs_exist_ok=True)
    for example in runnable:
        done = _run(example, demo, tmp_path)
        shown = f"{example.where}\n{example.code}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        assert done.returncode == 0, f"the example failed ({done.returncode}): {shown}"
        for output in example.shown_output():
            assert matches(output, done.stdout), f"the example does not print {output!r}: {shown}"


def test_an_example_cannot_hide_or_lie(tmp_path: Path) -> None:
    """The harness's own rules: a command fenced as text is an error, a marker needs its reason, and
    shown output is matched, not merely present."""
    doc = tmp_path / "doc.md"
    doc.write_text("```text\nmodelport models\n```\n")
    with pytest.raises(ValueError, match="reads as an example"):
        examples(doc)
    doc.write_text(
        "<!-- example: not-run (serves forever (until stopped)) -->\n```bash\nmake run\n```\n\n"
        '<!-- example: not-run -->\n```sh\nmodelport models   # ["iris", ...]\n```\n'
        "```console\n$ modelport models\niris\n```\n"
        '```bash\ncurl -s localhost:8080/v2\n# {"name": "modelport",\n#  "extensions": [...]}\n'
        "# (a remark)\n```\n"
    )
    served, unmarked, console, continued = examples(doc)
    assert served.not_run == "serves forever (until stopped)" and unmarked.not_run is None
    assert unmarked.shown_output() == ['["iris", ...]'] and console.shown_output() == ["iris"]
    assert console.script() == "modelport models" and console.language in SHELL
    assert continued.shown_output() == ['{"name": "modelport",  "extensions": [...]}']
    assert matches(
        '{"name": "churn", "version": 2, ...}', '{\n  "name": "churn",\n  "version": 2,\n  "x": 1}'
    )
    assert not matches('{"name": "churn", "version": 2, ...}', '{"name": "churn", "version": 12}')
