"""A server with the settings the Kubernetes manifests give a pod (deploy/kubernetes) answers the
kubelet's probes and the Service's callers: the probes' paths are routes it serves, without a token
and under the pod's IP as ``Host``. Only the registry and the artifact store stay local here (no
PostgreSQL or S3 behind the example Secret's placeholders)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from modelport.core.settings import Settings
from modelport.registry.catalog import Registry
from modelport.server.app import check_exposure
from tests import deploy_files as files
from tests.api.conftest import serving, wait_for

KUBELET = {"Host": "10.244.1.7:8080", "User-Agent": "kube-probe/1.33"}
"""What a kubelet's HTTP probe sends: the pod's IP, and no credentials."""


@pytest.fixture(params=[False, True], ids=["open-inference", "protect-inference"])
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Settings:
    """The pod's settings, read from its environment as ``serve`` reads them."""
    for name in list(os.environ):
        if name.startswith("MODELPORT_"):
            monkeypatch.delenv(name)
    for name, value in files.server_environment().items():
        monkeypatch.setenv(name, value)
    pod = Settings()
    check_exposure(pod)  # serve would start with them
    local = pod.storage.model_copy(update={"database_url": None, "artifacts_url": None})
    return pod.model_copy(
        update={
            "home": tmp_path / "home",
            "storage": local,
            "grpc": pod.grpc.model_copy(update={"enabled": False}),
            "serving": pod.serving.model_copy(update={"poll_interval_s": 0.05}),
            "auth": pod.auth.model_copy(update={"protect_inference": request.param}),
        }
    )


@pytest.fixture
async def pod(settings: Settings, registry: Registry) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(settings, registry) as client:
        client.headers.update(KUBELET)
        yield client


async def test_the_probes_paths_answer_the_kubelet(pod: httpx.AsyncClient) -> None:
    container = files.container()
    live = await pod.get(container["livenessProbe"]["httpGet"]["path"])
    assert live.status_code == 200, live.text
    await wait_for(pod, container["readinessProbe"]["httpGet"]["path"])


async def test_the_service_name_reaches_the_management_api_with_the_token(
    pod: httpx.AsyncClient, settings: Settings
) -> None:
    """On 0.0.0.0 with no ``http.allowed_hosts``, any ``Host`` is answered: the Service's name too."""
    host = {"Host": "modelport.default.svc.cluster.local:8080"}
    assert (await pod.get("/api/v1/status", headers=host)).status_code == 401
    token = {"Authorization": f"Bearer {files.secret_example()['MODELPORT_AUTH__TOKEN']}"}
    assert settings.auth.token == token["Authorization"].removeprefix("Bearer ")
    response = await pod.get("/api/v1/status", headers={**host, **token})
    assert response.status_code == 200, response.text
