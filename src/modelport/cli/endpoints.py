"""``modelport endpoint|shadow|promote|rollback``: deployments from the command line."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from modelport.cli.context import Context, fail_cleanly, pass_context
from modelport.cli.output import console, number_or_dash, print_json
from modelport.cli.rollouts import add_rollout_commands
from modelport.core.endpoints import EndpointConfig, RouteSpec, ShadowSpec, parse_weighted
from modelport.core.errors import InvalidInput
from modelport.core.targets import Target

__all__ = ["add_endpoint_commands"]


def _routes(texts: tuple[str, ...]) -> list[RouteSpec]:
    routes = []
    for text in texts:
        target, weight = parse_weighted(text, "route")
        if weight != int(weight):
            raise InvalidInput(f"route {text!r}: weights are whole numbers")
        routes.append(RouteSpec(target, int(weight)))
    return routes


def _shadows(texts: tuple[str, ...]) -> list[ShadowSpec]:
    return [ShadowSpec(*parse_weighted(text, "shadow")) for text in texts]


def _show(endpoint: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(endpoint)
        return
    config = endpoint["config"]
    total = sum(r["weight"] for r in config["routes"]) or 1
    table = Table("route", "weight", "share", title=f"{endpoint['name']} (revision {endpoint['revision']})")
    for route in config["routes"]:
        table.add_row(route["target"], str(route["weight"]), f"{100 * route['weight'] / total:.1f}%")
    for shadow in config["shadows"]:
        table.add_row(f"{shadow['target']} (shadow)", "-", f"{shadow['percent']:g}% mirrored")
    console.print(table)
    rollout = config.get("rollout")
    if rollout:
        step = f"step {rollout['step'] + 1}/{len(rollout['steps'])} ({rollout['steps'][rollout['step']]}%)"
        reason = f": {rollout['reason']}" if rollout.get("reason") else ""
        moving = f"{rollout['baseline']} -> {rollout['candidate']}"
        console.print(f"rollout {moving}, {step}, {rollout['status']}{reason}")


@click.group()
def endpoint() -> None:
    """Endpoints: named routing to model versions (canary, A/B), called like a model."""


@endpoint.command("create")
@click.argument("name")
@click.option("--route", "routes", multiple=True, required=True, help="TARGET=WEIGHT, e.g. iris:1=90")
@click.option("--shadow", "shadows", multiple=True, help="TARGET=PERCENT mirrored, e.g. iris:3=50")
@click.option("--description", default="")
@click.option("--force", is_flag=True, help="Accept variants whose signatures differ.")
@click.option("--json", "as_json", is_flag=True)
@pass_context
@fail_cleanly
def create(
    ctx: Context,
    name: str,
    routes: tuple[str, ...],
    shadows: tuple[str, ...],
    description: str,
    force: bool,
    as_json: bool,
) -> None:
    """Create endpoint NAME."""
    config = EndpointConfig(tuple(_routes(routes)), tuple(_shadows(shadows)))
    with ctx.endpoints() as client:
        _show(client.create(name, config, description, force), as_json)


@endpoint.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@pass_context
@fail_cleanly
def show(ctx: Context, name: str, as_json: bool) -> None:
    """Routes, weights, shadows and revision of NAME."""
    with ctx.endpoints() as client:
        _show(client.get(name), as_json)


@endpoint.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_context
@fail_cleanly
def list_endpoints(ctx: Context, as_json: bool) -> None:
    """Every endpoint."""
    with ctx.endpoints() as client:
        endpoints = client.list_all()
    if as_json:
        print_json(endpoints)
    for item in [] if as_json else endpoints:
        _show(item, False)


@endpoint.command("set-weights")
@click.argument("name")
@click.argument("routes", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Accept variants whose signatures differ.")
@pass_context
@fail_cleanly
def set_weights(ctx: Context, name: str, routes: tuple[str, ...], force: bool) -> None:
    """Set NAME's routes in one change: TARGET=WEIGHT ..."""
    with ctx.endpoints() as client:
        _show(client.set_routes(name, _routes(routes), force), False)


@endpoint.command("history")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@pass_context
@fail_cleanly
def history(ctx: Context, name: str, as_json: bool) -> None:
    """Every revision of NAME: who, when, what changed."""
    with ctx.endpoints() as client:
        changes = client.history(name)
    if as_json:
        print_json(changes)
        return
    table = Table("revision", "when", "who", "what")
    for change in changes:
        table.add_row(str(change["revision"]), change["changed_at"][:19], change["actor"], change["summary"])
    console.print(table)


@endpoint.command("delete")
@click.argument("name")
@pass_context
@fail_cleanly
def delete(ctx: Context, name: str) -> None:
    """Delete endpoint NAME (its models are untouched)."""
    with ctx.endpoints() as client:
        client.delete(name)
    click.echo(f"deleted endpoint {name}")


@click.group()
def shadow() -> None:
    """Shadow deployments: mirror live traffic to a version, invisibly, and compare."""


@shadow.command("add")
@click.argument("name")
@click.argument("target")
@click.option("--percent", type=click.FloatRange(0, 100), default=100.0, show_default=True)
@click.option("--force", is_flag=True, help="Accept a shadow whose signature differs.")
@pass_context
@fail_cleanly
def add(ctx: Context, name: str, target: str, percent: float, force: bool) -> None:
    """Mirror PERCENT of NAME's traffic to TARGET."""
    with ctx.endpoints() as client:
        _show(client.add_shadow(name, ShadowSpec(Target.parse(target), percent), force), False)


@shadow.command("remove")
@click.argument("name")
@click.argument("target")
@pass_context
@fail_cleanly
def remove(ctx: Context, name: str, target: str) -> None:
    """Stop mirroring NAME's traffic to TARGET."""
    with ctx.endpoints() as client:
        _show(client.remove_shadow(name, Target.parse(target)), False)


@shadow.command("report")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@pass_context
@fail_cleanly
def report(ctx: Context, name: str, as_json: bool) -> None:
    """How NAME's shadows compare with what callers got (asks the running server)."""
    with ctx.server_api() as api:
        result = api.shadow_report(name)
    if as_json:
        print_json(result)
        return
    _print_report(result)


def _print_report(result: dict[str, Any]) -> None:
    table = Table(
        "shadow", "requests", "errors (primary/shadow)", "output", "agreement", "mean |diff|", "corr"
    )
    for label, report in result["shadows"].items():
        window = report["window"]
        errors = f"{window['primary_errors']}/{window['shadow_errors']}"
        for output, stats in window.get("outputs", {}).items():
            agreement = stats.get("agreement_rate")
            table.add_row(
                label,
                str(window["count"]),
                errors,
                output,
                "-" if agreement is None else f"{100 * agreement:.1f}%",
                number_or_dash(stats.get("mean_abs_diff"), ".4g"),
                number_or_dash(stats.get("correlation"), ".4g"),
            )
    console.print(table)
    console.print(f"dropped (queue full): {result['dropped_total']}")


@click.command()
@click.argument("name")
@click.argument("target")
@pass_context
@fail_cleanly
def promote(ctx: Context, name: str, target: str) -> None:
    """Send all of endpoint NAME's traffic to TARGET."""
    with ctx.endpoints() as client:
        _show(client.promote(name, Target.parse(target)), False)


@click.command()
@click.argument("name")
@pass_context
@fail_cleanly
def rollback(ctx: Context, name: str) -> None:
    """Undo the latest change to endpoint NAME."""
    with ctx.endpoints() as client:
        _show(client.rollback(name), False)


def add_endpoint_commands(main: click.Group) -> None:
    main.add_command(endpoint)
    main.add_command(shadow)
    add_rollout_commands(main, endpoint)
    main.add_command(promote)
    main.add_command(rollback)
