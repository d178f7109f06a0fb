"""``modelport drift report``: a model's or endpoint's drift as a table, JSON, HTML or PNG.

Without ``--server`` the report is computed here from the data directory (registry and payload
log); with it, the running server's management API computes it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from modelport.cli.context import Context, fail_cleanly, pass_context
from modelport.cli.output import console

__all__ = ["add_drift_commands"]

_STYLES = {"ok": "green", "warning": "yellow", "alert": "bold red", "insufficient_data": "dim"}


@click.group()
def drift() -> None:
    """Drift: live payload-log windows against the reference data, per feature and output."""


@drift.command("report")
@click.argument("name")
@click.option("--window", type=click.IntRange(min=1), help="Live rows: the last N logged (default 1000).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), help="Write an HTML report."
)
@click.option(
    "--png", "png_path", type=click.Path(dir_okay=False, path_type=Path), help="Write a PNG report."
)
@pass_context
@fail_cleanly
def report(
    ctx: Context,
    name: str,
    window: int | None,
    as_json: bool,
    html_path: Path | None,
    png_path: Path | None,
) -> None:
    """Drift of model or endpoint NAME: statistics and ok | warning | alert per feature."""
    with ctx.monitor() as monitor:
        result = monitor.drift(name, window)
    if html_path is not None:
        from modelport.monitoring.drift.html import render_html

        html_path.write_text(render_html(result), encoding="utf-8")
    if png_path is not None:
        from modelport.monitoring.drift.plot import render_png

        render_png(result, png_path)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        _print(result)


def add_drift_commands(main: click.Group) -> None:
    main.add_command(drift)


def _print(result: dict[str, Any]) -> None:
    reference = result["reference"]
    title = (
        f"{result['name']} ({result['model']}:{result['version']}): [{_STYLES[result['status']]}]"
        f"{result['status']}[/] - last {result['live_rows']} rows vs {reference['rows']} "
        f"reference rows ({reference['source']})"
    )
    if "reason" in result:
        console.print(f"{title}: {escape(result['reason'])}")
        _print_notes(result)
        return
    table = Table("feature", "kind", "status", "PSI / JS", "smallest p", "missing", title=title)
    for prefix, features in (("", result["features"]), ("output ", result["outputs"])):
        for feature in features:
            stats = feature["statistics"]
            numeric = feature["kind"] == "numeric"
            effect = stats["psi"] if numeric else stats["js"]
            tests = ("psi_pvalue", "ks_pvalue") if numeric else ("chi2_pvalue", "new_pvalue")
            smallest = min(stats[key] for key in (*tests, "missing_pvalue") if key in stats)
            status = f"[{_STYLES[feature['status']]}]{feature['status']}[/]"
            missing = feature.get("missing", {}).get("live", 0.0)
            table.add_row(
                prefix + feature["feature"],
                feature["kind"],
                status,
                _number(effect),
                _number(smallest),
                f"{missing:.0%}",
            )
    console.print(table)
    _print_notes(result)


def _print_notes(result: dict[str, Any]) -> None:
    """What could not be compared (an alert), and why outputs were left out."""
    from modelport.monitoring.drift.schema import notes

    for note in notes(result):
        console.print(escape(note))


def _number(value: float) -> str:
    return f"{value:.4g}"
