"""A drift report as one PNG: a grid of reference-vs-live histograms, titled in status colours.

Needs matplotlib, an optional extra (``pip install 'modelport[plots]'``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelport.core.errors import InvalidInput
from modelport.monitoring.drift.html import LIVE_COLOUR, REFERENCE_COLOUR, STATUS_COLOURS

__all__ = ["render_png"]

COLUMNS = 3


def render_png(report: Mapping[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")  # draw to files only; no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise InvalidInput("--png needs matplotlib: pip install 'modelport[plots]'") from None
    features = [*report["features"], *({**o, "feature": f"output {o['feature']}"} for o in report["outputs"])]
    rows = max(math.ceil(len(features) / COLUMNS), 1)
    figure, axes = plt.subplots(rows, COLUMNS, figsize=(4 * COLUMNS, 2.6 * rows), squeeze=False)
    for ax, feature in zip(axes.flat, features, strict=False):
        _draw(ax, feature)
    for ax in list(axes.flat)[len(features) :]:
        ax.set_axis_off()
    served = f"{report['model']}:{report['version']}"
    figure.suptitle(
        f"Drift of {report['name']} ({served}): {report['status']}", color=STATUS_COLOURS[report["status"]]
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _draw(ax: Any, feature: Mapping[str, Any]) -> None:
    histogram = feature["histogram"]
    reference, live = histogram["reference"], histogram["live"]
    positions = range(len(reference))
    ax.bar([p - 0.2 for p in positions], reference, width=0.4, color=REFERENCE_COLOUR, label="reference")
    ax.bar([p + 0.2 for p in positions], live, width=0.4, color=LIVE_COLOUR, label="live")
    if "categories" in histogram:
        ax.set_xticks(list(positions), [str(c)[:8] for c in histogram["categories"]], fontsize=7)
    else:
        edges = histogram["edges"]
        ax.set_xticks([-0.5, len(reference) - 0.5], [f"{edges[0]:.3g}", f"{edges[-1]:.3g}"], fontsize=7)
    ax.set_title(
        f"{feature['feature']}: {feature['status']}", color=STATUS_COLOURS[feature["status"]], fontsize=9
    )
    ax.legend(fontsize=6)
