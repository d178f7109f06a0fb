"""Screenshots of the dashboard's main pages for docs/images, taken from a running server.

    modelport serve --demo --port 8080 &
    python -m scripts.dashboard_screenshots --url http://127.0.0.1:8080    # from the repository root

On top of the demo models it registers two more iris versions (aliases ``candidate`` and
``challenger``), creates the endpoint ``flowers`` (90/10 routes plus a shadow) unless it exists,
starts a rollout on it that stays on its first step, and sends a little traffic while the pages
are open. For the drift page it turns the payload log on for ``iris`` (whose demo version has its
training data as drift reference), logs 1000 ordinary rows, then 1000 rows whose petals are longer
and a little wider, and waits until the server's drift report covers them (the log flushes every
``payloads.flush_interval_s``, 5 s by default). Not run by the tests. Needs playwright and
Debian's chromium at /usr/bin/chromium (never downloads a browser).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from playwright.sync_api import Page, ViewportSize, sync_playwright
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.models import iris_onnx

ENDPOINT = "flowers"
DRIFTING = "iris"
DRIFT_ROWS = 1000
"""Rows logged before the shift (the outputs' reference: the first rows logged) and after it."""
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}


def prepare(api: httpx.Client) -> None:
    """Two more iris versions and the ``flowers`` endpoint, once."""
    aliases = api.get("/api/v1/models/iris").raise_for_status().json()["aliases"]
    with tempfile.TemporaryDirectory() as tmp:
        for alias, c, lineage in (("candidate", 0.1, "retrained-2026-11"), ("challenger", 0.02, "small-C")):
            if alias in aliases:
                continue
            with iris_onnx(Path(tmp), c).open("rb") as handle:
                api.post(
                    "/api/v1/models/iris/versions",
                    files={"file": ("iris.onnx", handle)},
                    data={
                        "aliases": alias,
                        "description": f"Iris, logistic regression with C={c}",
                        "tags": '{"dataset": "iris", "task": "classification"}',
                        "lineage": f'{{"training_data": "sklearn.datasets.iris", "run": "{lineage}"}}',
                    },
                ).raise_for_status()
    api.put("/api/v1/models/iris/policy", json={"policy": "all"}).raise_for_status()
    if api.get(f"/api/v1/endpoints/{ENDPOINT}").status_code == 404:
        api.post(
            "/api/v1/endpoints",
            json={
                "name": ENDPOINT,
                "description": "Iris species: production with a 10 % canary and a shadow challenger",
                "routes": [
                    {"target": "iris@production", "weight": 90},
                    {"target": "iris@candidate", "weight": 10},
                ],
                "shadows": [{"target": "iris@challenger", "percent": 100}],
            },
        ).raise_for_status()
    plan = api.get(f"/api/v1/endpoints/{ENDPOINT}/rollout").raise_for_status().json()["plan"]
    if plan is None or plan["status"] != "running":
        # stays on its first step while the pictures are taken
        api.post(
            f"/api/v1/endpoints/{ENDPOINT}/rollout",
            json={
                "candidate": "iris@candidate",
                "baseline": "iris@production",
                "steps": [10, 50, 100],
                "min_requests": 100_000,
            },
        ).raise_for_status()
    deadline = time.monotonic() + 60
    while api.get(f"/v2/models/{ENDPOINT}/ready").status_code != 200:
        if time.monotonic() > deadline:
            raise SystemExit(f"the endpoint {ENDPOINT} never became ready")
        time.sleep(0.2)


def log_drift(api: httpx.Client) -> None:
    """Turn the payload log on for ``iris``, log ordinary rows then shifted ones, and wait until the
    drift report's window holds the shifted rows only."""
    from sklearn.datasets import load_iris

    api.put(f"/api/v1/monitoring/{DRIFTING}", json={"sample_rate": 1.0}).raise_for_status()
    iris = load_iris().data.astype(np.float32)
    rng = np.random.default_rng(7)
    deadline = time.monotonic() + 120

    def sample() -> np.ndarray:
        rows = iris[rng.integers(0, len(iris), DRIFT_ROWS)]
        jittered: np.ndarray = rows + rng.normal(scale=0.02, size=rows.shape).astype(np.float32)
        return jittered

    def logged(rows: np.ndarray, last_id: str) -> int:
        """Send ``rows`` in batches, the last one with the id ``last_id``; the rows logged once that
        one is (or after 15 s: the server may not have applied the setting yet)."""
        for k, batch in enumerate(np.array_split(rows, 20)):
            body = _request("FP32", batch) | ({"id": last_id} if k == 19 else {})
            api.post(f"/v2/models/{DRIFTING}/infer", json=body).raise_for_status()
        wait_until = time.monotonic() + 15
        while time.monotonic() < wait_until:
            export = api.get(f"/api/v1/payloads/{DRIFTING}", params={"format": "jsonl"}).text.splitlines()
            if export and json.loads(export[-1])["request_id"] == last_id:
                return len(export)
            time.sleep(0.5)
        if time.monotonic() > deadline:
            raise SystemExit(f"the payload log of {DRIFTING} never logged the requests")
        return 0

    for round_ in itertools.count():
        if logged(sample(), f"ordinary-{round_}") >= DRIFT_ROWS:
            break
    shifted = sample()
    shifted[:, 2] += 1.5  # petal length
    shifted[:, 3] += 0.12  # petal width, a little
    while not logged(shifted, "shifted"):
        pass
    report = api.get(f"/api/v1/drift/{DRIFTING}", params={"window": DRIFT_ROWS}).raise_for_status().json()
    print(
        f"drift of {DRIFTING}:", {f["feature"]: f["status"] for f in report["features"] + report["outputs"]}
    )


def requests_to_send() -> Iterator[tuple[str, dict[str, Any]]]:
    """An endless, varied mix: the endpoint, the demo models, and now and then a malformed request."""
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

    rng = np.random.default_rng(0)
    iris = load_iris().data.astype(np.float32)
    diabetes = load_diabetes().data.astype(np.float32)
    cancer = load_breast_cancer().data
    for i in itertools.count():
        rows = iris[rng.integers(0, len(iris), 4)]
        yield ENDPOINT, _request("FP32", rows)
        if i % 2 == 0:
            yield "diabetes", _request("FP32", diabetes[rng.integers(0, len(diabetes), 2)], "input")
        if i % 3 == 0:
            yield "breast-cancer", _request("FP64", cancer[rng.integers(0, len(cancer), 1)], "input")
        if i % 25 == 0:
            yield "diabetes", _request("FP32", diabetes[:1, :4], "input")  # wrong width: a failure


def _request(datatype: str, rows: np.ndarray, name: str = "X") -> dict[str, Any]:
    tensor = {"name": name, "datatype": datatype, "shape": list(rows.shape), "data": rows.tolist()}
    return {"inputs": [tensor]}


@contextlib.contextmanager
def traffic(url: str, headers: dict[str, str]) -> Iterator[None]:
    stop = threading.Event()

    def send() -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
            for name, body in requests_to_send():
                if stop.is_set():
                    return
                client.post(f"/v2/models/{name}/infer", json=body)
                time.sleep(0.02 + 0.03 * (0.5 + 0.5 * np.sin(time.monotonic() / 4)))

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


SHOTS = [
    # (page, file, what to wait for, whole page); the live page first, so it has the longest history
    ("#/live", "dashboard-live.png", "#chart-throughput canvas", False),
    ("#/models", "dashboard-models.png", "table.models", False),
    ("#/models/iris", "dashboard-model.png", "article.version", False),
    (f"#/endpoints/{ENDPOINT}", "dashboard-endpoint.png", ".shadow canvas", True),
    (f"#/drift/{DRIFTING}", "dashboard-drift.png", "#drift-summary", False),
]


def shoot(page: Page, url: str, out: Path, live_seconds: float) -> None:
    for hash_path, filename, ready, whole in SHOTS:
        page.goto(f"{url}/ui/{hash_path}")
        page.wait_for_selector(ready)
        time.sleep(live_seconds if hash_path == "#/live" else 0.5)
        page.screenshot(path=str(out / filename), full_page=whole)
        print(f"wrote {out / filename} ({(out / filename).stat().st_size // 1024} KiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    parser.add_argument("--token", help="the server's management token, if it has one")
    parser.add_argument("--live-seconds", type=float, default=40.0, help="traffic shown on the live page")
    args = parser.parse_args()
    headers = {"authorization": f"Bearer {args.token}"} if args.token else {}
    args.out.mkdir(parents=True, exist_ok=True)
    with httpx.Client(base_url=args.url, headers=headers, timeout=60) as api:
        prepare(api)
        log_drift(api)
    with (
        traffic(args.url, headers),
        sync_playwright() as playwright,
        tempfile.TemporaryDirectory() as profile,
    ):
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, viewport=VIEWPORT
        )
        page = context.pages[0] if context.pages else context.new_page()
        if args.token:
            page.add_init_script(f"sessionStorage.setItem('modelport.token', {args.token!r})")
        shoot(page, args.url, args.out, args.live_seconds)
        context.close()


if __name__ == "__main__":
    main()
