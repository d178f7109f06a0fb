"""A server with many loaded versions keeps answering while ``/metrics`` is scraped again and again.

The versions are registered in process (one probe, then the registry directly: all share one small
ONNX artifact), so the test costs one server start and one CLI call.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import httpx

from tests import models
from tests.e2e.conftest import iris_request, run_cli_in_process, running_server

MODELS = 100
SCRAPES = 10
LOADERS = 2
SERIES_PER_VERSION = 17
"""docs/metrics.md: a version that answered one protocol without failures."""


def series_of(metrics: str, model: str) -> list[str]:
    return [line for line in metrics.splitlines() if f'model="{model}",' in line and not line.startswith("#")]


def test_scraping_many_loaded_versions_never_fails_a_request(
    home: Path, log_dir: Path, model_files: dict[str, Path]
) -> None:
    models.register_copies(home, model_files["iris"], MODELS)
    run_cli_in_process(home, "config", "set", "m0", "--detailed-metrics")
    with running_server(home, log_dir, ready_timeout_s=180) as server:
        failed: list[str] = []
        answered = [0] * LOADERS
        stop = threading.Event()

        def load(index: int) -> None:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                while not stop.is_set():
                    try:
                        response = client.post("/v2/models/m1/infer", json=iris_request())
                    except httpx.HTTPError as exc:
                        failed.append(repr(exc))
                        continue
                    if response.status_code != 200:
                        failed.append(f"{response.status_code} {response.text}")
                    answered[index] += 1

        loaders = [threading.Thread(target=load, args=(i,)) for i in range(LOADERS)]
        for thread in loaders:
            thread.start()
        try:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                assert client.post("/v2/models/m0/infer", json=iris_request()).status_code == 200
                scrapes = [client.get("/metrics") for _ in range(SCRAPES)]
                statistics = client.get("/v2/models/stats")
        finally:
            stop.set()
            for thread in loaders:
                thread.join()

        ready = httpx.get(f"{server.url}/v2/health/ready").json()
        assert ready == {"ready": True, "versions_loaded": MODELS, "versions_wanted": MODELS}
        assert not failed, failed[:5]
        assert all(answered), answered
        assert all(r.status_code == 200 for r in scrapes)
        assert statistics.status_code == 200 and len(statistics.json()["model_stats"]) == MODELS
        metrics = scrapes[-1].text
        assert re.search(rf"^modelport_loaded_versions {MODELS}\.0$", metrics, re.MULTILINE)
        assert len(series_of(metrics, "m1")) == SERIES_PER_VERSION, series_of(metrics, "m1")
        # m0 asked for detailed metrics with the CLI: its own stage histograms, which m1 has not
        assert re.search(
            r'^modelport_stage_duration_seconds_count\{model="m0",stage="decode",version="1"\} 1\.0$',
            metrics,
            re.MULTILINE,
        )
        assert not [s for s in series_of(metrics, "m1") if s.startswith("modelport_stage_")]
