"""``/api/v1/jobs``: a submission is checked (jobs on, token set, target known, paths confined, output
new) before it is queued, pinned to a version, without a registry write; errors in the API's shape.

The servers here run no job (``jobs.max_running`` 0): tests/e2e/test_jobs.py runs them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelport.control.registration import Registrar, RegistrationRequest
from modelport.registry.local import open_registry
from tests.api.conftest import quick_settings, serving

TOKEN = "jobs-test-token"
JOB_KEYS = {
    "id", "state", "target", "model", "version", "input", "output", "format", "rows_done", "rows_total",
    "rows_failed", "rows_per_s", "message", "created_at", "started_at", "finished_at", "manifest",
}  # fmt: skip


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    rows = np.random.default_rng(0).uniform(0, 8, (20, 4)).astype(np.float32)
    pq.write_table(pa.table({f"X[{i}]": rows[:, i] for i in range(4)}), root / "in.parquet")
    return root


@pytest.fixture
async def api(tmp_path: Path, root: Path, model_files: dict[str, Path]) -> AsyncIterator[httpx.AsyncClient]:
    settings = quick_settings(
        tmp_path, jobs={"allowed_roots": [root], "max_running": 0}, auth={"token": TOKEN}
    )
    with open_registry(settings) as registry:
        registrar = Registrar(registry, settings.serving.probe_timeout_s)
        registrar.register(RegistrationRequest(name="iris", artifact=model_files["iris"], aliases=("prod",)))
        async with serving(settings, registry) as client:
            client.headers["Authorization"] = f"Bearer {TOKEN}"
            yield client


def job_body(root: Path, **changes: Any) -> dict[str, Any]:
    return {"target": "iris@prod", "input": f"{root}/in.parquet", "output": f"{root}/out", **changes}


async def test_a_job_is_queued_pinned_listed_and_cancelled_without_a_registry_write(
    api: httpx.AsyncClient, root: Path, model_files: dict[str, Path]
) -> None:
    upload = {"file": ("model.onnx", model_files["iris-v2"].read_bytes())}
    assert (await api.post("/api/v1/models/iris/versions", files=upload)).status_code == 201
    head = (await api.get("/api/v1/status")).json()["registry_head"]
    submitted = await api.post("/api/v1/jobs", json=job_body(root, chunk_rows=5))
    assert submitted.status_code == 202, submitted.text
    job = submitted.json()
    assert set(job) == JOB_KEYS
    assert (job["state"], job["model"], job["version"], job["format"]) == ("queued", "iris", 1, "parquet")
    assert (job["rows_done"], job["rows_total"], job["manifest"]) == (0, None, f"{root}/out/_manifest.json")
    other = (await api.post("/api/v1/jobs", json=job_body(root, output=f"{root}/out.csv"))).json()
    await api.put("/api/v1/models/iris/aliases/prod", json={"version": 2})  # moved before the jobs run
    assert (await api.get(f"/api/v1/jobs/{job['id']}")).json()["version"] == 1  # pinned at submission
    assert other["format"] == "csv"
    listed = (await api.get("/api/v1/jobs")).json()
    assert [j["id"] for j in listed["jobs"]] == [other["id"], job["id"]]  # newest first
    assert (await api.get(f"/api/v1/jobs/{job['id']}")).json() == job
    cancelled = await api.delete(f"/api/v1/jobs/{job['id']}")
    assert (cancelled.status_code, cancelled.json()["state"]) == (202, "cancelled")
    again = await api.delete(f"/api/v1/jobs/{job['id']}")
    assert (again.status_code, again.json()) == (409, {"error": f"job {job['id']} is cancelled already"})
    assert (await api.get("/api/v1/status")).json()["registry_head"] == head + 1  # the alias's move only


BAD_SUBMISSIONS: list[tuple[dict[str, Any], int, str]] = [
    ({"target": "nope"}, 404, "'nope'"),
    ({"target": "iris:x"}, 400, "after ':' comes a version number"),
    ({"chunk_rows": 0}, 400, "invalid request: body.chunk_rows"),
    ({"format": "xml"}, 400, "invalid request: body.format"),
    ({"colour": "red"}, 400, "invalid request: body.colour"),
    ({"output": "{root}/in.parquet"}, 409, "output {root}/in.parquet exists: set overwrite to replace it"),
    ({"input": "-"}, 400, "a server job cannot read standard input"),
    ({"input": "s3://bucket/in.parquet"}, 400, "input 's3://bucket/in.parquet': a server job reads and"),
    ({"output": "s3://bucket/out"}, 400, "run s3:// jobs with the modelport batch command"),
    ({"input": "{root}/missing.csv"}, 400, "input '{root}/missing.csv' does not exist"),
    ({"input": "{root}/../secret.csv"}, 403, "input {root}/../secret.csv (resolved: "),
    ({"output": "{root}/escape/out"}, 403, "output {root}/escape/out (resolved: "),
    ({"explain": True}, 400, "iris:1 cannot be explained: onnx models are explained by sampling"),
]


async def test_a_bad_submission_is_refused_in_the_apis_shape(api: httpx.AsyncClient, root: Path) -> None:
    (root.parent / "secret.csv").write_text("a\n1\n")
    (root / "escape").symlink_to(root.parent)
    for changes, status, message in BAD_SUBMISSIONS:
        filled = {k: v.format(root=root) if isinstance(v, str) else v for k, v in changes.items()}
        response = await api.post("/api/v1/jobs", json=job_body(root, **filled))
        assert response.status_code == status, (changes, response.text)
        error = response.json()
        assert set(error) == {"error"} and message.format(root=root) in error["error"], (changes, error)
    assert (await api.get("/api/v1/jobs")).json() == {"jobs": []}


async def test_an_unknown_job_is_404(api: httpx.AsyncClient) -> None:
    for method in ("GET", "DELETE"):
        response = await api.request(method, "/api/v1/jobs/0123abcd")
        assert (response.status_code, response.json()) == (404, {"error": "no job '0123abcd'"})


@pytest.mark.parametrize(
    ("jobs", "auth", "message"),
    [
        ({}, {"token": TOKEN}, "server jobs are off: name a directory in jobs.allowed_roots"),
        ({"allowed_roots": ["{root}"]}, {}, "server jobs need a management token: set auth.token"),
    ],
)
async def test_server_jobs_need_a_root_and_a_management_token(
    tmp_path: Path, root: Path, jobs: dict[str, Any], auth: dict[str, str], message: str
) -> None:
    jobs = {k: [r.format(root=root) for r in v] for k, v in jobs.items()}
    settings = quick_settings(tmp_path, jobs=jobs, auth=auth)
    with open_registry(settings) as registry:
        async with serving(settings, registry) as client:
            response = await client.post(
                "/api/v1/jobs", json=job_body(root), headers={"Authorization": f"Bearer {TOKEN}"}
            )
    assert response.status_code == 403 and response.json()["error"].startswith(message), response.text
