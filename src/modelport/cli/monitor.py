"""``modelport monitor|payloads``: what the payload log records, and exporting what it recorded."""

from __future__ import annotations

import contextlib
import os
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import click
from rich.table import Table

from modelport.cli.context import Context, fail_cleanly, pass_context
from modelport.cli.input import parse_pairs
from modelport.cli.output import console, print_json
from modelport.core.errors import InvalidInput
from modelport.core.monitor_config import MonitorConfig
from modelport.core.private_files import create_private
from modelport.monitoring.payloads import FORMATS

__all__ = ["add_monitor_commands"]


def _moment(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{option} {text!r}: expected an ISO-8601 time, e.g. 2026-12-01T08:00:00Z"
        ) from None


def _create(path: Path, shown: Path) -> BinaryIO:
    """``path`` new and ``0600`` (rows can hold personal data); never through a symlink left there."""
    try:
        path.unlink(missing_ok=True)
        return create_private(path, exclusive=True)
    except OSError as error:
        raise InvalidInput(f"cannot write --out {shown}: {error.strerror}") from None


def _show(configs: list[dict[str, Any]]) -> None:
    table = Table("name", "sample rate", "redact", "updated", "by")
    for c in configs:
        rules = ", ".join(f"{k}={v}" for k, v in sorted(c["redact"].items())) or "-"
        table.add_row(
            c["name"], f"{c['sample_rate']:g}", rules, (c["updated_at"] or "-")[:19], c["actor"] or "-"
        )
    console.print(table)


@click.group()
def monitor() -> None:
    """Payload logging per model or endpoint: how many requests, which inputs how."""


@monitor.command("set")
@click.argument("name")
@click.option("--sample-rate", type=float, help="Share of successful requests logged, 0 (off) to 1 (all).")
@click.option("--redact", "redact", multiple=True, help="INPUT=drop|hash|keep (repeatable).")
@click.option("--json", "as_json", is_flag=True)
@pass_context
@fail_cleanly
def set_(ctx: Context, name: str, sample_rate: float | None, redact: tuple[str, ...], as_json: bool) -> None:
    """Change what NAME's payload log records; options left out keep their current value."""
    if sample_rate is None and not redact:
        raise click.UsageError("give --sample-rate and/or --redact")
    with ctx.monitor() as client:
        current = client.get(name)
        rate = current["sample_rate"] if sample_rate is None else sample_rate
        config = MonitorConfig.from_dict(
            {"sample_rate": rate, "redact": {**current["redact"], **parse_pairs(redact, "--redact")}}
        )
        stored = client.set(name, config)
    if as_json:
        print_json(stored)
    else:
        _show([stored])


@monitor.command("show")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True)
@pass_context
@fail_cleanly
def show(ctx: Context, name: str | None, as_json: bool) -> None:
    """NAME's payload-log settings, or every name's (and, with --server, the log's state)."""
    with ctx.monitor() as client:
        result = client.get(name) if name else client.list_all()
    if as_json:
        print_json(result)
        return
    _show([result] if name else result["configs"])
    state = result.get("payload_log")
    if state:
        reason = f" ({state['reason']})" if state["reason"] else ""
        console.print(f"payload log: {state['state']}{reason}")


@click.group()
def payloads() -> None:
    """The payload log's rows: export them for analysis elsewhere."""


@payloads.command("export")
@click.argument("name")
@click.option("--format", "format_", type=click.Choice(FORMATS), required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="File to write.")
@click.option("--since", help="Only rows at or after this ISO-8601 time.")
@click.option("--until", help="Only rows before this ISO-8601 time.")
@click.option("--version", type=click.IntRange(min=1), help="Only rows served by this model version.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the newest N rows.")
@pass_context
@fail_cleanly
def export(
    ctx: Context,
    name: str,
    format_: str,
    out: Path,
    since: str | None,
    until: str | None,
    version: int | None,
    limit: int | None,
) -> None:
    """Write NAME's logged rows to --out (CSV: list cells as JSON text; JSONL: one object per row)."""
    from modelport.client.monitor import ExportQuery

    query = ExportQuery(
        since=_moment(since, "--since"), until=_moment(until, "--until"), version=version, limit=limit
    )
    partial = out.with_name(f".{out.name}.partial")  # --out appears whole, or not at all
    try:
        with ctx.monitor() as client, _create(partial, out) as sink:
            for chunk in client.export(name, format_, query):
                sink.write(chunk)
        os.replace(partial, out)
    finally:
        with contextlib.suppress(OSError):  # gone, or never made (the error above says why)
            partial.unlink()
    click.echo(f"wrote {out}")


def add_monitor_commands(main: click.Group) -> None:
    main.add_command(monitor)
    main.add_command(payloads)
