"""``modelport rollout|feedback`` and ``endpoint report``: guarded rollouts and A/B results.

These ask the running server (``--server``, else the local one at the configured host and port):
the evidence they use is what that server observed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from modelport.cli.context import Context, fail_cleanly, pass_context
from modelport.cli.input import parse_json, read_json_lines
from modelport.cli.output import console, number_or_dash, print_json
from modelport.core.errors import InvalidInput

__all__ = ["add_rollout_commands"]


def _steps(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",")]
    except ValueError:
        raise InvalidInput(f"--steps takes percentages separated by commas, got {text!r}") from None


@click.group()
def rollout() -> None:
    """Stepwise rollouts guarded by sequential tests; rolled back automatically on a breach."""


@rollout.command("start")
@click.argument("name")
@click.option("--candidate", required=True, help="Target to roll out, e.g. iris:2 or iris@candidate.")
@click.option("--baseline", help="Target it replaces (default: the endpoint's only route).")
@click.option("--steps", default="5,25,50,100", show_default=True, help="Candidate percent per step.")
@click.option("--min-requests", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--min-seconds", type=click.FloatRange(min=0), default=10.0, show_default=True)
@click.option("--max-error-increase", type=float, default=0.02, show_default=True)
@click.option("--max-slow-increase", type=float, default=0.05, show_default=True)
@click.option("--max-wrong-increase", type=float, default=0.05, show_default=True)
@click.option(
    "--alpha", type=float, default=0.05, show_default=True, help="Chance of rolling back a good one."
)
@click.option(
    "--beta",
    type=float,
    default=0.05,
    show_default=True,
    help="Chance of promoting a candidate worse than half a margin.",
)
@click.option(
    "--max-seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=86_400.0,
    show_default=True,
    help="Rolled back if not passed this long after its start.",
)
@click.option(
    "--max-requests",
    type=click.IntRange(min=1),
    default=1_000_000,
    show_default=True,
    help="Rolled back if not passed after this many candidate requests.",
)
@click.option("--promote-alias", help="On success, move this alias to the candidate's version.")
@pass_context
@fail_cleanly
def start(ctx: Context, /, name: str, steps: str, **options: Any) -> None:
    """Start a rollout on endpoint NAME."""
    plan = {**options, "steps": _steps(steps)}
    with ctx.server_api() as api:
        print_json(api.start_rollout(name, plan))


@rollout.command("policy")
@click.argument("name")
@click.option("--off", is_flag=True, help="Alias moves reach the endpoint at once again.")
@click.option("--steps", default="5,25,50,100", show_default=True)
@click.option("--min-requests", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--min-seconds", type=click.FloatRange(min=0), default=10.0, show_default=True)
@pass_context
@fail_cleanly
def policy(ctx: Context, /, name: str, off: bool, steps: str, **options: Any) -> None:
    """Make a move of the alias NAME routes by go through a rollout (closed loop)."""
    body = {"enabled": not off, "steps": _steps(steps), **options}
    with ctx.server_api() as api:
        print_json(api.set_rollout_policy(name, body))


@rollout.command("status")
@click.argument("name")
@pass_context
@fail_cleanly
def status(ctx: Context, name: str) -> None:
    """The plan, its step, and the guardrails' evidence so far."""
    with ctx.server_api() as api:
        print_json(api.rollout_status(name))


@rollout.command("abort")
@click.argument("name")
@pass_context
@fail_cleanly
def abort(ctx: Context, name: str) -> None:
    """Stop the rollout: all traffic back to the baseline."""
    with ctx.server_api() as api:
        print_json(api.abort_rollout(name))


@click.command()
@click.argument("name")
@click.option("--id", "request_id", help="Request id of the prediction.")
@click.option("--label", help='Its true label (JSON: 2, "cat", [1, 0]).')
@click.option(
    "--file", "path", type=click.Path(exists=True, path_type=Path), help="JSON lines of {id, label}."
)
@pass_context
@fail_cleanly
def feedback(ctx: Context, name: str, request_id: str | None, label: str | None, path: Path | None) -> None:
    """Send ground truth for predictions of endpoint NAME."""
    if path is not None:
        items = read_json_lines(path, "--file")
    elif request_id is not None and label is not None:
        items = [{"id": request_id, "label": parse_json(label, "--label")}]
    else:
        raise InvalidInput("give --id and --label, or --file")
    with ctx.server_api() as api:
        print_json(api.feedback(name, items))


@click.command("report")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@pass_context
@fail_cleanly
def report(ctx: Context, name: str, as_json: bool) -> None:
    """Per-variant requests, failures, latency, accuracy (95% intervals) and significance."""
    with ctx.server_api() as api:
        result = api.report(name)
    if as_json:
        print_json(result)
        return
    table = Table("variant", "requests", "failure rate", "p50 ms", "p99 ms", "accuracy (95% CI)")
    for label, v in result["variants"].items():
        accuracy = v.get("accuracy")
        interval = v.get("accuracy_ci95")
        shown = "-" if accuracy is None else f"{accuracy:.3f} ({interval[0]:.3f}-{interval[1]:.3f})"
        table.add_row(
            label,
            str(v["requests"]),
            number_or_dash(v["failure_rate"], ".4f"),
            number_or_dash(v["latency_p50_ms"], ".2f"),
            number_or_dash(v["latency_p99_ms"], ".2f"),
            shown,
        )
    console.print(table)
    for comparison in result["comparisons"]:
        significant = comparison.get("accuracy_significant")
        if significant is not None:
            verdict = "significant" if significant else "not significant"
            console.print(f"accuracy {comparison['a']} vs {comparison['b']}: {verdict}")


def add_rollout_commands(main: click.Group, endpoint: click.Group) -> None:
    main.add_command(rollout)
    main.add_command(feedback)
    endpoint.add_command(report)
