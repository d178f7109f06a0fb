"""Deleting through the management API: refused with the reason while in use, in the API's error
body; a running server unloads a deleted version; unreferenced files are removed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from modelport.core.settings import Settings
from tests.api.conftest import ON_BOTH_BACKENDS, wait_for


@ON_BOTH_BACKENDS
async def test_delete_is_refused_while_in_use_and_the_server_lets_go_of_a_deleted_version(
    client: httpx.AsyncClient,
    register: Callable[..., Any],
    settings: Settings,
    model_files: dict[str, Path],
) -> None:
    register(model_files["iris"], "iris", aliases=("production",))
    register(model_files["iris-v2"], "iris")
    assert (await client.put("/api/v1/models/iris/policy", json={"policy": "all"})).status_code == 200
    await wait_for(client, "/v2/models/iris/versions/1/ready")
    await wait_for(client, "/v2/models/iris/versions/2/ready")

    refused = await client.delete("/api/v1/models/iris/versions/1")
    assert refused.status_code == 409, refused.text
    assert "alias iris@production points at version 1" in refused.json()["error"]
    assert (await client.delete("/api/v1/models/iris")).status_code == 409
    bad = await client.delete("/api/v1/models/iris/versions/0")
    assert bad.status_code == 400 and "version" in bad.json()["error"]
    assert (await client.delete("/api/v1/models/iris/versions/9")).status_code == 404

    deleted = await client.delete("/api/v1/models/iris/versions/2")  # loaded, but nothing routes to it
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["versions"] == [2] and deleted.json()["bytes_freed"] > 0
    await wait_for(client, "/v2/models/iris/versions/2", status=404)  # unloaded, policy "all" or not
    loaded = {v["target"] for v in (await client.get("/api/v1/status")).json()["loaded"]}
    assert "iris:2" not in loaded and "iris:1" in loaded
    await wait_for(client, "/v2/models/iris/versions/production/ready")  # the rest serves on

    artifacts = settings.data_dir / "artifacts"
    stray = artifacts / "ab" / ("ab" * 32)
    stray.mkdir(parents=True)
    (stray / "model.onnx").write_bytes(b"left behind by a crash")
    collected = (await client.post("/api/v1/gc")).json()
    assert collected["files"] == [f"{'ab' * 32}/model.onnx"] and not stray.exists()
