"""The dashboard in headless Chromium against a real server: pages, charts, actions and the token.

One browser per module (Debian's chromium, never a downloaded one), a fresh profile, a new page per
test. Everything talks to the real server; the drift report is computed by it from requests it
logged.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright
from sklearn.datasets import load_iris

import modelport
from tests import models
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.conftest import (
    IRIS_ROWS,
    Server,
    iris_request,
    register,
    run_cli_in_process,
    running_server,
    wait_for,
)

TOKEN = "dashboard-secret"
JOBS_ROOT = "jobs-root"
"""The guarded server's jobs.allowed_roots, beside the home."""
UNAUTHORIZED = "a valid bearer token is required"
ENDPOINT = "flowers"
SHADOWED = "flowers-shadowed"
HELD = "held"
"""Its production alias is moved to a version whose file is damaged: the version it had answers."""
DRIFTING = "petals"
"""The iris model again, registered with its training data as the drift reference and logged."""
X = load_iris(return_X_y=True)[0].astype(np.float32)


@pytest.fixture(scope="module")
def registered(home: Path, model_files: dict[str, Path]) -> Path:
    register(home, model_files["iris"], "iris", "--alias", "production", "--alias", "staging")
    register(
        home,
        model_files["iris-v2"],
        "iris",
        "--alias",
        "candidate",
        "--tag",
        "team=vision",
        "--lineage",
        "run=retrain-42",
        "--description",
        "Iris with stronger regularisation",
    )
    register(home, model_files["diabetes"], "diabetes")
    reference = home.parent / "petals-reference.csv"
    reference.write_text("".join(",".join(map(str, row)) + "\n" for row in X.tolist()))
    assert register(home, model_files["iris"], DRIFTING, "--reference", str(reference))["has_reference_data"]
    run_cli_in_process(home, "monitor", "set", DRIFTING, "--sample-rate", "1")
    modelport.register(model_files["iris"], HELD, alias="production", home=home)
    unloadable = modelport.register(models.iris_onnx(home.parent, c=0.3), HELD, home=home)
    stored = home / "artifacts" / unloadable.digest[:2] / unloadable.digest / unloadable.filename
    stored.write_bytes(b"damaged after registration")
    broken = register(home, models.iris_onnx(home.parent, c=0.2), "broken")  # bytes of its own
    artifact = home / "artifacts" / broken["digest"][:2] / broken["digest"] / broken["filename"]
    artifact.write_bytes(b"changed after registration")  # this server will refuse to load it
    return home


@pytest.fixture(scope="module")
def server(registered: Path, log_dir: Path) -> Iterator[Server]:
    # The first 100 logged rows of a name are its outputs' reference (the registered one holds inputs only).
    env = {"MODELPORT_PAYLOADS__FLUSH_INTERVAL_S": "0.1", "MODELPORT_DRIFT__REFERENCE_ROWS": "100"}
    with running_server(registered, log_dir, **env) as server:
        with httpx.Client(base_url=server.url + "/api/v1", timeout=30) as api:
            for name, routes, shadows in (
                (ENDPOINT, [("iris@production", 90), ("iris@candidate", 10)], []),
                (SHADOWED, [("iris@production", 100)], [("iris@candidate", 100)]),
            ):
                created = api.post(
                    "/endpoints",
                    json={
                        "name": name,
                        "routes": [{"target": t, "weight": w} for t, w in routes],
                        "shadows": [{"target": t, "percent": p} for t, p in shadows],
                    },
                )
                assert created.status_code == 201, created.text
        for name in (ENDPOINT, SHADOWED):
            server.wait_until(f"/v2/models/{name}/ready")
        wait_for(server, "/api/v1/status", lambda r: "broken:1" in r.json()["failures"])
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for _ in range(20):
                for name in (ENDPOINT, SHADOWED):
                    assert client.post(f"/v2/models/{name}/infer", json=iris_request()).status_code == 200
        yield server


@pytest.fixture(scope="module")
def guarded_server(registered: Path, log_dir: Path) -> Iterator[Server]:
    """A second server on the same registry, with a management token, that runs batch jobs."""
    (registered.parent / JOBS_ROOT).mkdir(exist_ok=True)
    roots = json.dumps([str(registered.parent / JOBS_ROOT)])
    with running_server(
        registered, log_dir, MODELPORT_AUTH__TOKEN=TOKEN, MODELPORT_JOBS__ALLOWED_ROOTS=roots
    ) as server:
        yield server


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(15_000)
        yield context
        context.close()


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    page = browser.new_page()
    yield page
    page.close()


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url + "/api/v1", timeout=30) as client:
        yield client


def open_page(page: Page, server: Server, hash_path: str) -> None:
    page.goto(f"{server.url}/ui/{hash_path}")


def aliases(api: httpx.Client, model: str = "iris") -> dict[str, int]:
    return dict(api.get(f"/models/{model}").raise_for_status().json()["aliases"])


def routes(api: httpx.Client, endpoint: str = ENDPOINT) -> dict[str, int]:
    config = api.get(f"/endpoints/{endpoint}").raise_for_status().json()["config"]
    return {route["target"]: route["weight"] for route in config["routes"]}


@contextlib.contextmanager
def traffic(server: Server, name: str) -> Iterator[None]:
    """Requests to ``name`` in a background thread for as long as the block runs."""
    stop = threading.Event()

    def send() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while not stop.is_set():
                client.post(f"/v2/models/{name}/infer", json=iris_request(IRIS_ROWS[:1]))
                stop.wait(0.01)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


# --- pages with real data ---


def test_the_header_shows_an_alias_held_on_the_version_it_had(
    page: Page, server: Server, api: httpx.Client
) -> None:
    assert api.put(f"/models/{HELD}/aliases/production", json={"version": 2}).status_code == 200
    wait_for(server, "/api/v1/status", lambda r: r.json()["held_aliases"] != [])
    open_page(page, server, "#/models")
    note = page.locator("#server-status .pill", has_text=f"{HELD}@production still on {HELD}:1")
    expect(note).to_be_visible()
    assert "points at version 2" in (note.get_attribute("title") or "")
    assert "corrupt" in (note.get_attribute("title") or "")


def test_models_page_lists_models_with_signature_and_loaded_versions(page: Page, server: Server) -> None:
    open_page(page, server, "#/models")
    iris = page.locator('tr[data-model="iris"]')
    expect(iris).to_contain_text("X FP32 [*, 4]")
    expect(iris).to_contain_text("candidate → v2")
    expect(iris).to_contain_text("production → v1")
    expect(page.locator('tr[data-model="diabetes"]')).to_contain_text("xgboost")
    status = httpx.get(server.url + "/api/v1/status").json()
    expect(page.locator(".stat", has_text="versions loaded")).to_contain_text(str(len(status["loaded"])))
    for version in status["loaded"]:
        expect(page.locator(f'tr[data-loaded="{version["target"]}"]')).to_contain_text(version["framework"])
    assert sorted(status["failures"]) == ["broken:1", f"{HELD}:2"]
    # each retry of the load is a new failure with its own error id: compare the reason without it
    reason = status["failures"]["broken:1"].split(" (error id ")[0]
    expect(page.locator("table.failures")).to_contain_text(reason)
    expect(page.locator('tr[data-model="broken"]')).to_contain_text("none")


def test_model_page_shows_each_version_with_signature_lineage_tags_and_aliases(
    page: Page, server: Server
) -> None:
    open_page(page, server, "#/models")
    page.get_by_role("link", name="iris", exact=True).click()
    v2 = page.locator('article.version[data-version="2"]')
    expect(v2).to_contain_text("Iris with stronger regularisation")
    expect(v2).to_contain_text("candidate")
    expect(v2).to_contain_text("team=vision")
    expect(v2.locator("dl.lineage")).to_contain_text("retrain-42")
    expect(v2.locator("table.signature")).to_contain_text("probabilities")
    expect(v2.locator("table.signature")).to_contain_text("[*, 3]")
    expect(v2.locator(".pill", has_text="loaded")).to_be_visible()
    expect(page.locator('article.version[data-version="1"]')).to_contain_text("production")


def test_endpoints_page_shows_weights_shadows_and_reports(page: Page, server: Server) -> None:
    open_page(page, server, "#/endpoints")
    expect(page.locator(f'[data-endpoint="{ENDPOINT}"] .weight-bar')).to_contain_text("iris@production 90%")
    expect(page.locator(f'[data-endpoint="{SHADOWED}"]')).to_contain_text("iris@candidate (100%)")
    page.locator(f'[data-endpoint="{SHADOWED}"]').click()
    shadow = page.locator('[data-shadow="iris:2"]')  # comparisons are kept per version (iris@candidate)
    expect(shadow).to_contain_text("label agreement")
    expect(shadow.locator("canvas").first).to_be_visible()
    expect(page.locator("table.ab")).to_contain_text("iris:1")  # the version iris@production answered with
    expect(page.locator("table.history")).to_contain_text("created")


def test_a_running_rollout_shows_its_steps_and_guardrails(page: Page, server: Server) -> None:
    with httpx.Client(base_url=server.url + "/api/v1", timeout=30) as api:
        created = api.post(
            "/endpoints",
            json={"name": "flowers-rollout", "routes": [{"target": "iris@production", "weight": 100}]},
        )
        assert created.status_code == 201, created.text
        started = api.post(
            "/endpoints/flowers-rollout/rollout",
            json={"candidate": "iris@candidate", "steps": [10, 50, 100], "min_requests": 100_000},
        )
        assert started.status_code == 200, started.text
    wait_for(
        server, "/api/v1/endpoints/flowers-rollout/rollout", lambda r: r.json()["guardrails"] is not None
    )
    open_page(page, server, "#/endpoints/flowers-rollout")
    expect(page.locator(".rollout-head")).to_contain_text("running")
    expect(page.locator(".rollout-head")).to_contain_text("iris:1 → iris:2")  # pinned while it runs
    expect(page.locator(".steps li.current")).to_have_text("10%")
    expect(page.locator("table.guardrails")).to_contain_text("error rate")
    expect(page.locator(".weight-bar")).to_contain_text("iris:2 10%")


# --- charts ---


def series_pixels(page: Page, chart: str, series: str) -> int:
    """Pixels of ``chart``'s canvas in the colour of ``series`` (its swatch in the table below), counted
    in the upper part only: a series without traffic is a flat line at zero, at the bottom."""
    script = """([chart, series]) => {
        const swatch = document.querySelector(`tr[data-series="${series}"] .swatch`);
        const [r, g, b] = getComputedStyle(swatch).backgroundColor.match(/\\d+/g).map(Number);
        const canvas = document.querySelector(`${chart} canvas`);
        const upper = Math.floor(canvas.height * 0.6);
        const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, upper).data;
        let count = 0;
        for (let i = 0; i < data.length; i += 4) {
            const close = Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) < 60;
            if (close && data[i + 3] > 200) count++;
        }
        return count;
    }"""
    return int(page.evaluate(script, [chart, series]))


def test_live_charts_draw_the_traffic_of_each_version(page: Page, server: Server) -> None:
    with traffic(server, "iris"):
        open_page(page, server, "#/live")
        expect(page.locator("#chart-throughput canvas")).to_be_visible()
        expect(page.locator('tr[data-series="iris:1"] td.rps')).not_to_have_text("0", timeout=20_000)
        page.wait_for_timeout(2_500)  # a few more points, so the rates make a line
    assert series_pixels(page, "#chart-throughput", "iris:1") > 20
    assert series_pixels(page, "#chart-latency", "iris:1") > 20
    assert series_pixels(page, "#chart-throughput", "diabetes:1") == 0  # no traffic: stays at zero
    expect(page.locator('tr[data-series="diabetes:1"]')).to_be_visible()


# --- actions, confirmed in a dialog ---


def test_an_alias_moved_through_the_page_is_seen_by_the_api(
    page: Page, server: Server, api: httpx.Client
) -> None:
    before = aliases(api)["staging"]
    after = 2 if before == 1 else 1
    open_page(page, server, "#/models/iris")
    row = page.locator('tr[data-alias="staging"]')
    row.locator("select").select_option(str(after))
    row.get_by_role("button", name="Move…").click()
    dialog = page.locator("dialog#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"from version {before} to version {after}")
    dialog.get_by_role("button", name="Move").click()
    expect(page.locator("#flash")).to_contain_text(f"iris@staging now points at version {after}")
    assert aliases(api)["staging"] == after


def test_cancel_in_the_dialog_changes_nothing(page: Page, server: Server, api: httpx.Client) -> None:
    before = aliases(api)
    model = api.get("/models/iris").json()
    open_page(page, server, "#/models/iris")
    row = page.locator('tr[data-alias="production"]')
    row.locator("select").select_option(str(2 if before["production"] == 1 else 1))
    row.get_by_role("button", name="Move…").click()
    page.locator("dialog#confirm-dialog").get_by_role("button", name="Cancel").click()
    expect(page.locator("dialog#confirm-dialog")).to_be_hidden()
    page.wait_for_load_state("networkidle")  # a request the page would make has had time to finish
    expect(page.locator("#flash")).to_be_hidden()
    assert api.get("/models/iris").json() == model


def test_weights_changed_through_the_page_are_seen_by_the_api(
    page: Page, server: Server, api: httpx.Client
) -> None:
    before = routes(api)
    production = 60 if before["iris@production"] != 60 else 70
    open_page(page, server, f"#/endpoints/{ENDPOINT}")
    page.get_by_label("weight of iris@production").fill(str(production))
    page.get_by_label("weight of iris@candidate").fill(str(100 - production))
    page.get_by_role("button", name="Apply weights…").click()
    dialog = page.locator("dialog#confirm-dialog")
    expect(dialog).to_contain_text(f"iris@production: {before['iris@production']} → {production}")
    dialog.get_by_role("button", name="Apply").click()
    expect(page.locator("#flash")).to_contain_text("weights changed")
    assert routes(api) == {"iris@production": production, "iris@candidate": 100 - production}
    history = api.get(f"/endpoints/{ENDPOINT}/history").json()
    assert history[-1]["actor"] == "dashboard"


def test_promote_then_roll_back_through_the_page(page: Page, server: Server, api: httpx.Client) -> None:
    before = routes(api)
    open_page(page, server, f"#/endpoints/{ENDPOINT}")
    page.locator('tr[data-target="iris@candidate"]').get_by_role("button", name="Promote…").click()
    page.locator("dialog#confirm-dialog").get_by_role("button", name="Promote").click()
    expect(page.locator("#flash")).to_contain_text("all traffic goes to iris@candidate")
    assert routes(api) == {"iris@candidate": 100}
    expect(page.locator(".weight-bar")).to_contain_text("iris@candidate 100%")
    page.get_by_role("button", name="Roll back…").click()
    page.locator("dialog#confirm-dialog").get_by_role("button", name="Roll back").click()
    expect(page.locator("#flash")).to_contain_text("rolled back")
    assert routes(api) == before


def test_a_refused_action_shows_the_apis_error(page: Page, server: Server, api: httpx.Client) -> None:
    before = routes(api)
    open_page(page, server, f"#/endpoints/{ENDPOINT}")
    for target in before:
        page.get_by_label(f"weight of {target}").fill("0")
    page.get_by_role("button", name="Apply weights…").click()
    page.locator("dialog#confirm-dialog").get_by_role("button", name="Apply").click()
    expect(page.locator("#flash.error")).to_contain_text("must add up to more than 0")
    assert routes(api) == before


# --- nothing outside the server ---


def test_no_request_leaves_the_server(browser: BrowserContext, server: Server) -> None:
    seen: list[str] = []
    page = browser.new_page()
    page.on("request", lambda request: seen.append(request.url))
    try:
        for hash_path, ready in (
            ("#/models", "table.models"),
            ("#/models/iris", "article.version"),
            ("#/endpoints", ".card"),
            (f"#/endpoints/{SHADOWED}", ".shadow canvas"),
            ("#/live", "#chart-throughput canvas"),
            ("#/drift/iris", "#drift-error, #drift-summary"),
        ):
            open_page(page, server, hash_path)
            page.wait_for_selector(ready)
    finally:
        page.close()
    origins = {
        f"{urlsplit(url).scheme}://{urlsplit(url).netloc}" for url in seen if not url.startswith("data:")
    }
    assert origins == {server.url}, seen
    assert any(url.endswith("/ui/vendor/uPlot.iife.min.js") for url in seen)


# --- drift ---


STATUS_COLOURS = {"ok": "rgb(22, 163, 74)", "warning": "rgb(217, 119, 6)", "alert": "rgb(220, 38, 38)"}
LIVE, REFERENCE = (37, 99, 235), (148, 163, 184)
"""The histogram colours (PALETTE[0] and REFERENCE_COLOUR in ui/charts.js)."""


def bar_pixels(page: Page, feature: str, colour: tuple[int, int, int]) -> int:
    """Pixels of ``feature``'s histogram canvas drawn in ``colour`` (the bars' fill)."""
    script = """([feature, [r, g, b]]) => {
        const canvas = document.querySelector(`article.feature[data-feature="${feature}"] canvas`);
        const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
        let count = 0;
        for (let i = 0; i < data.length; i += 4) {
            const close = Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) < 40;
            if (close && data[i + 3] > 150) count++;
        }
        return count;
    }"""
    return int(page.evaluate(script, [feature, list(colour)]))


def test_drift_view_of_logged_traffic_with_one_shifted_feature(page: Page, server: Server) -> None:
    shifted = np.concatenate([X, X])
    shifted[:, 2] += 2.0  # petal length, 2 cm longer than in the reference
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for batch in np.array_split(shifted, 6):
            body = iris_request(batch.tolist())
            assert client.post(f"/v2/models/{DRIFTING}/infer", json=body).status_code == 200
    answer = wait_for(
        server,
        f"/api/v1/drift/{DRIFTING}?window=1000",
        lambda r: r.status_code == 200 and r.json()["live_rows"] == len(shifted),
    )
    report = answer.json()
    statuses = {f["feature"]: f["status"] for f in report["features"]}
    assert statuses == {"X[0]": "ok", "X[1]": "ok", "X[2]": "alert", "X[3]": "ok"}
    assert report["reference"] == {"source": "registration", "rows": len(X)}

    open_page(page, server, f"#/drift/{DRIFTING}")
    expect(page.locator("#drift-summary .pill")).to_have_text("alert")
    expect(page.locator("#drift-summary")).to_contain_text(f"{DRIFTING}:1")
    expect(page.locator("#drift-summary .stat").first).to_contain_text(f"{len(shifted)}live rows")
    expect(page.locator("#drift-summary")).to_contain_text("reference rows (registration)")
    expect(page.locator("article.feature").first).to_have_attribute("data-feature", "X[2]")
    for feature in report["features"] + report["outputs"]:
        name, status = feature["feature"], feature["status"]
        card = page.locator(f'article.feature[data-feature="{name}"]')
        expect(card).to_have_attribute("data-status", status)
        expect(card.locator("header .pill")).to_have_text(status)
        assert card.evaluate("el => getComputedStyle(el).borderTopColor") == STATUS_COLOURS[status], name
        expect(card.locator("canvas").first).to_be_visible()
        assert bar_pixels(page, name, LIVE) > 100, name
        assert bar_pixels(page, name, REFERENCE) > 100, name
    expect(page.locator('article.feature[data-feature="X[2]"] .statistics')).to_contain_text("PSI")
    expect(page.locator('article.feature[data-feature="label"] .statistics')).to_contain_text("χ²")
    expect(page.locator('article.feature[data-feature="X[2]"] .statistics')).to_contain_text("PSI p")
    expect(page.locator('article.feature[data-feature="X[2]"] .statistics')).to_contain_text("missing share")


def test_drift_view_says_when_there_is_no_independent_reference(
    page: Page, server: Server, api: httpx.Client
) -> None:
    """No reference data and fewer logged rows than the reference needs: not ``ok``, insufficient data."""
    assert api.put(f"/monitoring/{SHADOWED}", json={"sample_rate": 1.0}).status_code == 200
    server.wait_until(f"/v2/models/{SHADOWED}/ready")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        wait_for(
            server,
            f"/api/v1/drift/{SHADOWED}",
            lambda r: (
                client.post(f"/v2/models/{SHADOWED}/infer", json=iris_request()).status_code == 200
                and r.status_code == 200
            ),
        )
    open_page(page, server, f"#/drift/{SHADOWED}")
    expect(page.locator("#drift-summary .pill")).to_have_text("insufficient data")
    expect(page.locator("#drift-summary .drift-reason").first).to_contain_text(
        "no reference data from registration"
    )
    expect(page.locator("#drift-summary .drift-note")).to_contain_text(
        "outputs: version 1 of 'iris' has"  # and why its outputs are not compared yet
    )


def test_drift_view_shows_the_error_the_server_answers(page: Page, server: Server) -> None:
    answer = httpx.get(f"{server.url}/api/v1/drift/diabetes?window=1000")
    assert answer.status_code == 404
    assert "nothing is logged for 'diabetes'" in answer.json()["error"]
    open_page(page, server, "#/drift/diabetes")
    expect(page.locator("#drift-error")).to_contain_text(answer.json()["error"])


# --- the token ---


def test_the_page_asks_for_the_token_and_keeps_it_for_the_session(page: Page, guarded_server: Server) -> None:
    open_page(page, guarded_server, "#/models")
    expect(page.locator("#auth-panel")).to_be_visible()
    expect(page.locator("#auth-message")).to_contain_text(UNAUTHORIZED)
    page.locator("#token-input").fill("wrong")
    page.get_by_role("button", name="Use token").click()
    expect(page.locator("#auth-panel")).to_be_visible()
    expect(page.locator(".load-error")).to_contain_text(UNAUTHORIZED)
    page.locator("#token-input").fill(TOKEN)
    page.get_by_role("button", name="Use token").click()
    expect(page.locator('tr[data-model="iris"]')).to_be_visible()
    expect(page.locator("#auth-panel")).to_be_hidden()
    page.reload()
    expect(page.locator('tr[data-model="iris"]')).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('modelport.token')") == TOKEN


def test_an_action_without_a_valid_token_fails_and_changes_nothing(
    page: Page, guarded_server: Server
) -> None:
    headers = {"authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=guarded_server.url + "/api/v1", headers=headers, timeout=30) as api:
        before = aliases(api)
        model = api.get("/models/iris").json()
        page.add_init_script(f"sessionStorage.setItem('modelport.token', '{TOKEN}')")
        open_page(page, guarded_server, "#/models/iris")
        row = page.locator('tr[data-alias="production"]')
        expect(row).to_be_visible()
        page.evaluate("sessionStorage.setItem('modelport.token', 'expired')")
        row.locator("select").select_option(str(2 if before["production"] == 1 else 1))
        row.get_by_role("button", name="Move…").click()
        page.locator("dialog#confirm-dialog").get_by_role("button", name="Move").click()
        expect(page.locator("#flash.error")).to_contain_text(UNAUTHORIZED)
        expect(page.locator("#auth-panel")).to_be_visible()
        assert aliases(api) == before
        assert api.get("/models/iris").json() == model


def _wait_job(api: httpx.Client, job: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    for _ in range(600):
        state = api.get(f"/jobs/{job}").json()
        if done(state):
            return state
        time.sleep(0.1)
    raise AssertionError(f"job {job} never got there: {state}")


def test_jobs_page_shows_progress_and_cancels_a_running_job(
    page: Page, guarded_server: Server, registered: Path
) -> None:
    root = registered.parent / JOBS_ROOT
    pq.write_table(pa.table({f"X[{i}]": np.tile(X[:, i], 10) for i in range(4)}), root / "small.parquet")
    big = np.tile(X, (2000, 1))  # 300,000 rows in parts of 100: a job that runs long enough to cancel
    pq.write_table(pa.table({f"X[{i}]": big[:, i] for i in range(4)}), root / "big.parquet")
    headers = {"authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=guarded_server.url + "/api/v1", headers=headers, timeout=30) as api:
        small = api.post(
            "/jobs",
            json={
                "target": "iris@production",
                "input": str(root / "small.parquet"),
                "output": str(root / "s"),
            },
        ).json()["id"]
        _wait_job(api, small, lambda j: j["state"] == "succeeded")
        body = {
            "target": "iris@production",
            "input": str(root / "big.parquet"),
            "output": str(root / "b"),
            "chunk_rows": 100,
        }
        running = api.post("/jobs", json=body).json()["id"]
        _wait_job(api, running, lambda j: j["state"] == "running" and j["rows_done"] > 0)
        page.add_init_script(f"sessionStorage.setItem('modelport.token', '{TOKEN}')")
        open_page(page, guarded_server, "#/jobs")
        finished = page.locator(f"tr[data-job='{small}']")
        expect(finished.locator(".pill").first).to_have_text("succeeded")
        expect(finished).to_contain_text("1,500 / 1,500 (100 %)")
        expect(finished).to_contain_text("iris:1")
        row = page.locator(f"tr[data-job='{running}']")
        expect(row.locator(".pill").first).to_have_text("running")
        expect(row.locator("progress")).to_have_attribute("max", "300000")
        row.get_by_role("button", name="Cancel…").click()
        page.locator("#confirm-ok").click()
        expect(row.locator(".pill").first).to_have_text("cancelled", timeout=30_000)
        expect(row.get_by_role("button", name="Cancel…")).to_have_count(0)
        assert api.get(f"/jobs/{running}").json()["state"] == "cancelled"
    assert json.loads((root / "b" / "_manifest.json").read_text())["state"] == "cancelled"
