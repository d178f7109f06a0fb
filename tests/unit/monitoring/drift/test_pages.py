"""The HTML and PNG renderings of a drift report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from modelport.core.errors import InvalidInput
from modelport.monitoring.drift.html import STATUS_COLOURS, render_html
from modelport.monitoring.drift.plot import render_png

REPORT: dict[str, Any] = {
    "name": "front<door>",
    "model": "m",
    "version": 2,
    "window": 1000,
    "live_rows": 10,
    "reference": {"source": "logged", "rows": 20},
    "status": "warning",
    "computed_at": "2026-01-01T00:00:00+00:00",
    "features": [
        {
            "feature": "x[0]",
            "kind": "numeric",
            "statistics": {"psi": 0.12, "ks": 0.3, "ks_pvalue": 0.001},
            "status": "warning",
            "histogram": {"edges": [0.0, 1.0, 2.0], "reference": [0.5, 0.5], "live": [0.9, 0.1]},
        },
        {
            "feature": "city",
            "kind": "categorical",
            "statistics": {"chi2": 1.0, "chi2_pvalue": 0.3, "js": 0.05},
            "status": "ok",
            "histogram": {"categories": ["Oslo", "<b>"], "reference": [0.5, 0.5], "live": [0.6, 0.4]},
        },
    ],
    "outputs": [],
}


def test_html_has_one_svg_per_feature_and_escapes_names() -> None:
    page = render_html(REPORT)
    assert page.count("<svg") == 2
    assert page.count("<rect") == 8  # reference and live bar per bin or category
    assert "front&lt;door&gt;" in page and "&lt;b&gt;" in page and "<b>" not in page
    assert STATUS_COLOURS["warning"] in page
    assert "No feature to compare." in page  # no outputs


def test_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    render_png(REPORT, tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_png_without_matplotlib_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what an absent package looks like to import
    with pytest.raises(InvalidInput, match=r"modelport\[plots\]"):
        render_png(REPORT, tmp_path / "r.png")
    assert not (tmp_path / "r.png").exists()
