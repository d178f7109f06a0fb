"""The job's worker process checks the paths against the roots again before it opens anything:
the tree may have changed since the API checked them at submission."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from modelport.core.settings import Settings


def test_the_worker_refuses_a_path_that_left_the_roots_since_submission(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "in.csv").write_text("a\n1\n")
    (root / "in.csv").symlink_to(outside / "in.csv")  # swapped in after the submission was checked
    settings = Settings(home=tmp_path / "home", jobs={"allowed_roots": [root]})
    orders = {
        "parent": os.getpid(),
        "settings": settings.model_dump(mode="json", exclude={"auth"}),
        "job": {
            "input": f"{root}/in.csv",
            "output": f"{root}/out",
            "model": "iris",
            "version": 1,
            "options": {"errors": None},
        },
        "resume": False,
        "overwrite": False,
    }
    with subprocess.Popen(
        [sys.executable, "-m", "modelport.batch.worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as worker:
        assert worker.stdin is not None and worker.stdout is not None
        worker.stdin.write(json.dumps(orders) + "\n")
        worker.stdin.flush()  # and kept open: its end would tell the worker that its server is gone
        answer = worker.stdout.read()
        assert worker.wait(timeout=60) == 1
    failed = json.loads(answer)["failed"]
    assert failed.startswith(f"input {root}/in.csv (resolved: {outside}/in.csv) is outside jobs.allowed")
    assert not (root / "out").exists()
