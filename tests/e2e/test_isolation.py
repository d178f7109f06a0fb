"""A crafted tree model registered without trust cannot take the server down (issue 15: "the server
never goes down for it").

The files hold only allowed types: their fitted state is what is crafted. In a process of its own,
the tree's out-of-range child index kills the process for rows that go right, and an XGBoost
split on feature 2,000,000,000 (8 GB past its row) kills it at any prediction. The server runs
such models in a confined child.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests import models
from tests.e2e.conftest import IRIS_LABELS, Server, iris_request, register, running_server, wait_for

LEFT = [[0.0, 0.0, 0.0]]
RIGHT = [[9.0, 9.0, 9.0]]


def tree_request(rows: list[list[float]]) -> dict[str, Any]:
    return {"inputs": [{"name": "input", "datatype": "FP64", "shape": [len(rows), 3], "data": rows}]}


def xgboost_reading_feature_two_billion(directory: Path) -> Path:
    """Far enough out of bounds to land in unmapped memory: 10**6 (4 MB out) was read silently once."""
    import xgboost as xgb

    x = np.random.RandomState(0).rand(100, 3)
    booster = xgb.train({"max_depth": 1}, xgb.DMatrix(x, label=x[:, 0]), 1)
    booster.save_model(directory / "clean.json")
    document = json.loads((directory / "clean.json").read_text())
    document["learner"]["gradient_booster"]["model"]["trees"][0]["split_indices"][0] = 2_000_000_000
    path = directory / "feature-two-billion.json"
    path.write_text(json.dumps(document))
    return path


@pytest.fixture(scope="module")
def crafted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("crafted")
    return {
        "tree": models.tampered_tree_skops(directory, "right_child", 10**7),
        "xgboost": xgboost_reading_feature_two_billion(directory),
    }


def test_in_one_process_these_files_kill_it(crafted: dict[str, Path]) -> None:
    """What the server would suffer without isolation: the process dies by a signal."""
    script = (
        "import sys, numpy as np\n"
        "from pathlib import Path\n"
        "from modelport.runtimes import LoadOptions, get_runtime\n"
        "model = get_runtime(sys.argv[1]).load(Path(sys.argv[2]), LoadOptions())\n"
        "model.predict({model.signature.inputs[0].name: np.full((1, 3), 9.0)})\n"
    )
    for framework, name in (("sklearn", "tree"), ("xgboost", "xgboost")):
        done = subprocess.run(
            [sys.executable, "-c", script, framework, str(crafted[name])], capture_output=True
        )
        assert done.returncode < 0, (framework, done.returncode, done.stderr[-500:])


@pytest.fixture(scope="module")
def server(
    home: Path, log_dir: Path, model_files: dict[str, Path], crafted: dict[str, Path]
) -> Iterator[Server]:
    register(home, model_files["iris"], "iris")
    register(home, crafted["tree"], "tree")  # rows of zeros go left: it loads and warms up
    with running_server(home, log_dir) as server:
        server.wait_until("/v2/models/iris/ready")
        server.wait_until("/v2/models/tree/ready")
        yield server


def test_a_crash_fails_only_its_own_request(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        left = client.post("/v2/models/tree/infer", json=tree_request(LEFT))
        assert left.status_code == 200, left.text
        right = client.post("/v2/models/tree/infer", json=tree_request(RIGHT))
        assert right.status_code == 500, right.text
        assert "stopped" in right.json()["error"]
        assert server.process.poll() is None
        iris = client.post("/v2/models/iris/infer", json=iris_request())
        assert iris.json()["outputs"][0]["data"] == IRIS_LABELS
    # the model comes back in a new child, a few seconds later
    wait_for(
        server,
        "/v2/models/tree/infer",
        lambda r: r.status_code == 200,
        method="POST",
        json=tree_request(LEFT),
        timeout_s=60,
    )
    assert "Traceback" not in server.log()


def test_a_model_that_crashes_at_warm_up_is_refused_at_registration(
    server: Server, crafted: dict[str, Path]
) -> None:
    with crafted["xgboost"].open("rb") as artifact:
        response = httpx.post(
            server.url + "/api/v1/models/booster/versions",
            files={"file": ("model.json", artifact)},
            timeout=120,
        )
    assert response.status_code == 400, response.text
    assert "crashed" in response.json()["error"] and "signal" in response.json()["error"]
    assert server.process.poll() is None
    assert httpx.get(server.url + "/api/v1/models/booster").status_code == 404
    assert httpx.post(server.url + "/v2/models/iris/infer", json=iris_request()).status_code == 200
