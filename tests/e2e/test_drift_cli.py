"""``modelport drift report`` end to end: a reference registered from a Parquet file, shifted live
rows in the payload log's layout, then the report as JSON, table, HTML and PNG, locally and from a
running server."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_iris

from tests.e2e.conftest import register, run_cli, running_server
from tests.e2e.test_cli import assert_clean_failure
from tests.payload_log import write_segment

X = load_iris(return_X_y=True)[0].astype(np.float32)


@pytest.fixture(scope="module")
def logged(home: Path, model_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """iris registered with a reference file; 1000 logged rows like it (the outputs' reference: the
    reference file holds inputs only), then 500 whose petal length (X[2]) moved up by 2."""
    folder = tmp_path_factory.mktemp("reference")
    reference = folder / "reference.parquet"
    pq.write_table(pa.table({f"col {i}": X[:, i] for i in range(4)}), reference)
    version = register(home, model_files["iris"], "iris", "--reference", str(reference))
    assert version["has_reference_data"]
    rng = np.random.default_rng(5)
    live = X[rng.integers(0, len(X), 500)] + rng.normal(scale=0.02, size=(500, 4)).astype(np.float32)
    live[:, 2] += 2.0
    label = rng.integers(0, 3, 500)
    first = X[rng.integers(0, len(X), 1000)]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    labels = {"label": rng.integers(0, 3, 1000)}
    write_segment(home, "iris", model="iris", version=1, inputs={"X": first}, outputs=labels, start=start)
    later = start + timedelta(hours=1)
    write_segment(
        home, "iris", model="iris", version=1, inputs={"X": live}, outputs={"label": label}, start=later
    )
    return home


def _statuses(report: dict[str, Any]) -> dict[str, str]:
    return {f["feature"]: f["status"] for f in report["features"]}


def test_json_report_flags_the_shifted_feature_only(logged: Path) -> None:
    report = json.loads(run_cli(logged, "drift", "report", "iris", "--json").stdout)
    assert _statuses(report) == {"X[0]": "ok", "X[1]": "ok", "X[2]": "alert", "X[3]": "ok"}
    assert report["status"] == "alert"
    assert report["reference"] == {"source": "registration", "rows": len(X)}
    assert (report["window"], report["live_rows"]) == (1000, 1000)  # half of them shifted
    assert [o["feature"] for o in report["outputs"]] == ["label"]


def test_table_report(logged: Path) -> None:
    out = run_cli(logged, "drift", "report", "iris", "--window", "200").stdout
    assert "iris (iris:1)" in out and "last 200 rows" in out
    assert re.search(r"X\[2\]\s.*numeric\s.*alert", out), out
    assert "smallest p" in out and "missing" in out and "0%" in out  # the gate's p-value, missing values


def test_html_report_is_standalone_with_an_svg_per_feature(logged: Path, tmp_path: Path) -> None:
    page = tmp_path / "drift.html"
    run_cli(logged, "drift", "report", "iris", "--html", str(page))
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("<svg") == 5  # four inputs and the label output
    for feature in ("X[0]", "X[1]", "X[2]", "X[3]", "label"):
        assert f'aria-label="{feature} histogram"' in html
    assert re.findall(r"(?:src|href)=", html) == []  # nothing loaded from anywhere
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_png_report(logged: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    picture = tmp_path / "drift.png"
    run_cli(logged, "drift", "report", "iris", "--png", str(picture))
    assert picture.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_png_report_without_matplotlib_names_the_extra(logged: Path, tmp_path: Path) -> None:
    """``make run`` installs no matplotlib: --png is then one line naming the extra, and no file."""
    hidden = tmp_path / "no-matplotlib" / "matplotlib"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError(\"No module named 'matplotlib'\")\n")
    picture = tmp_path / "drift.png"
    result = run_cli(
        logged,
        "drift",
        "report",
        "iris",
        "--png",
        picture,
        env={"PYTHONPATH": str(hidden.parent)},
        check=False,
    )
    assert_clean_failure(result, "matplotlib", "pip install 'modelport[plots]'")
    assert not picture.exists()


def test_a_reference_that_does_not_match_registers_nothing(
    home: Path, model_files: dict[str, Path], tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b,c\n1,2,3\n")
    result = run_cli(
        home, "register", model_files["iris"], "--name", "other", "--reference", wrong, check=False
    )
    assert_clean_failure(result, "input 'X' has 4 feature(s) but the reference table has 3 column(s)")
    assert "other" not in [m["name"] for m in json.loads(run_cli(home, "models", "--json").stdout)]


def test_unknown_and_unlogged_names(logged: Path, model_files: dict[str, Path]) -> None:
    assert_clean_failure(run_cli(logged, "drift", "report", "nope", check=False), "'nope'")
    register(logged, model_files["iris-v2"], "quiet")
    assert_clean_failure(
        run_cli(logged, "drift", "report", "quiet", check=False), "modelport monitor set quiet"
    )


def test_the_same_report_from_a_running_server(logged: Path, log_dir: Path) -> None:
    with running_server(logged, log_dir) as server:
        remote = run_cli(logged, "--server", server.url, "drift", "report", "iris", "--json").stdout
        bad = run_cli(logged, "--server", server.url, "drift", "report", "nope", check=False)
    assert _statuses(json.loads(remote)) == {"X[0]": "ok", "X[1]": "ok", "X[2]": "alert", "X[3]": "ok"}
    assert_clean_failure(bad, "no model or endpoint is called 'nope'")
