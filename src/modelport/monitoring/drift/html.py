"""A drift report as one standalone HTML page: inline CSS and one inline SVG histogram per feature.

Nothing is fetched from elsewhere (no script, font or stylesheet), so the file opens offline and
can be mailed or attached to a ticket as it is.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from modelport.monitoring.drift.schema import notes

__all__ = ["STATUS_COLOURS", "render_html"]

STATUS_COLOURS = {"ok": "#2e7d32", "warning": "#ef8f00", "alert": "#c62828", "insufficient_data": "#757575"}
REFERENCE_COLOUR = "#90a4ae"
LIVE_COLOUR = "#1e88e5"

WIDTH, HEIGHT, AXIS = 360, 150, 22
PLOT = HEIGHT - AXIS
MAX_LABELS = 10
"""Most categories named under the axis; beyond, only the bars' tooltips name them."""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #212121; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
.status { color: #fff; padding: 0.1em 0.5em; border-radius: 0.3em; font-weight: 600; }
.grid { display: flex; flex-wrap: wrap; gap: 1em; }
.feature { border: 1px solid #e0e0e0; border-radius: 0.4em; padding: 0.6em; }
.feature h3 { font-size: 1em; margin: 0 0 0.3em 0; }
.stats { font-size: 0.85em; color: #555; margin-bottom: 0.3em; }
.legend span { display: inline-block; width: 0.8em; height: 0.8em; margin: 0 0.3em 0 1em; }
"""


def render_html(report: Mapping[str, Any]) -> str:
    """The page for one report as ``GET /api/v1/drift/{name}`` returns it."""
    reference = report["reference"]
    title = f"Drift of {report['name']}"
    served = f"{report['model']}:{report['version']}"
    summary = (
        f"{_badge(report['status'])} {escape(served)}: the last {report['live_rows']} logged rows "
        f"against {reference['rows']} reference rows ({escape(reference['source'])}), "
        f"computed {escape(report['computed_at'])}"
    )
    legend = (
        f'<p class="legend"><span style="background:{REFERENCE_COLOUR}"></span>reference'
        f'<span style="background:{LIVE_COLOUR}"></span>live</p>'
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
            f"<h1>{escape(title)}</h1><p>{summary}</p>",
            *(f"<p>{escape(line)}</p>" for line in [report.get("reason", ""), *notes(report)] if line),
            legend,
            _section("Inputs", report["features"]),
            _section("Outputs (prediction drift)", report["outputs"]),
            "</body></html>",
        ]
    )


def _section(heading: str, features: Sequence[Mapping[str, Any]]) -> str:
    if not features:
        return f"<h2>{escape(heading)}</h2><p>No feature to compare.</p>"
    cards = "".join(_card(feature) for feature in features)
    return f'<h2>{escape(heading)}</h2><div class="grid">{cards}</div>'


def _card(feature: Mapping[str, Any]) -> str:
    stats = ", ".join(f"{name} {_number(value)}" for name, value in feature["statistics"].items())
    return (
        f'<div class="feature"><h3>{escape(feature["feature"])} {_badge(feature["status"])}</h3>'
        f'<div class="stats">{escape(feature["kind"])}: {escape(stats)}</div>{svg_histogram(feature)}</div>'
    )


def svg_histogram(feature: Mapping[str, Any]) -> str:
    """Reference and live shares side by side in each bin (or category), as an inline SVG; each
    bar's tooltip names its bin and share."""
    histogram = feature["histogram"]
    reference, live = histogram["reference"], histogram["live"]
    names = _bin_names(histogram)
    top = max([*reference, *live, 1e-12])
    slot = WIDTH / max(len(reference), 1)
    bars = []
    for i, (name, ref, cur) in enumerate(zip(names, reference, live, strict=True)):
        bars.append(
            _bar((i + 0.1) * slot, slot, ref / top, REFERENCE_COLOUR, f"{name}, reference: {ref:.1%}")
        )
        bars.append(_bar((i + 0.5) * slot, slot, cur / top, LIVE_COLOUR, f"{name}, live: {cur:.1%}"))
    axis = f'<line x1="0" y1="{PLOT}" x2="{WIDTH}" y2="{PLOT}" stroke="#9e9e9e"/>'
    labels = _range_labels(histogram["edges"]) if "edges" in histogram else _category_labels(names, slot)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(feature["feature"])} histogram">'
        f"{''.join(bars)}{axis}{labels}</svg>"
    )


def _bin_names(histogram: Mapping[str, Any]) -> list[str]:
    if "edges" in histogram:
        return [f"{_number(low)} to {_number(high)}" for low, high in itertools.pairwise(histogram["edges"])]
    return [str(category) for category in histogram["categories"]]


def _bar(x: float, slot: float, fraction: float, colour: str, tooltip: str) -> str:
    height = fraction * PLOT
    return (
        f'<rect x="{x:.1f}" y="{PLOT - height:.1f}" width="{0.4 * slot:.1f}" height="{height:.1f}" '
        f'fill="{colour}"><title>{escape(tooltip)}</title></rect>'
    )


def _range_labels(edges: Sequence[float]) -> str:
    y = PLOT + 15
    return (
        f'<text x="0" y="{y}" font-size="11">{_number(edges[0])}</text>'
        f'<text x="{WIDTH}" y="{y}" font-size="11" text-anchor="end">{_number(edges[-1])}</text>'
    )


def _category_labels(categories: Sequence[str], slot: float) -> str:
    if len(categories) > MAX_LABELS:  # too narrow to read: the tooltips name them
        return ""
    return "".join(
        f'<text x="{(i + 0.5) * slot:.1f}" y="{PLOT + 15}" font-size="11" text-anchor="middle">'
        f"{escape(str(category)[:8])}</text>"
        for i, category in enumerate(categories)
    )


def _badge(status: str) -> str:
    return f'<span class="status" style="background:{STATUS_COLOURS[status]}">{escape(status)}</span>'


def _number(value: float) -> str:
    return f"{value:.3g}"
