"""``modelport jobs submit|list|show|cancel``: batch jobs that a server runs over files on ITS disk.

Paths are sent as absolute paths (relative ones taken from this shell's directory), and the server
opens them, so they must exist on the server's filesystem, under its ``jobs.allowed_roots``.
``submit --wait`` polls until the job ends, with a progress bar on a terminal, and exits 1 unless
the job succeeded.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from modelport.cli.batch import OUTPUT_FORMATS, feature_columns
from modelport.cli.context import Context, fail_cleanly, pass_context
from modelport.cli.output import console, number_or_dash
from modelport.client.jobs import RemoteJobs

__all__ = ["add_jobs_commands"]

POLL_S = 0.5
FINISHED = ("succeeded", "failed", "cancelled")


@click.group()
def jobs() -> None:
    """Batch jobs run by a server over files on the server's filesystem (see docs/batch.md)."""


@jobs.command()
@click.argument("target")
@click.argument("input_spec", metavar="INPUT")
@click.argument("output")
@click.option("--id-column", "id_columns", multiple=True, help="Copy this input column (repeatable).")
@click.option("--features", help="The columns of the model's matrix input, in order: a,b,c.")
@click.option("--format", "fmt", type=click.Choice(OUTPUT_FORMATS), help="Output format.")
@click.option("--chunk-rows", type=click.IntRange(min=1), help="Rows per model call and part file.")
@click.option("--errors", "errors_path", help="Bad rows' file (default OUTPUT/_errors.jsonl).")
@click.option("--max-errors", type=click.IntRange(min=0), help="Bad rows allowed (default 0).")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("--explain", is_flag=True, help="Add each row's feature attributions.")
@click.option("--wait", is_flag=True, help="Wait for the end; exit 1 unless the job succeeded.")
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON.")
@pass_context
@fail_cleanly
def submit(
    ctx: Context,
    target: str,
    input_spec: str,
    output: str,
    id_columns: tuple[str, ...],
    features: str | None,
    fmt: str | None,
    chunk_rows: int | None,
    errors_path: str | None,
    max_errors: int | None,
    overwrite: bool,
    explain: bool,
    wait: bool,
    as_json: bool,
) -> None:
    """Queue a job scoring INPUT with TARGET into the directory OUTPUT, both paths on the SERVER.

    As `modelport batch`, but the server reads INPUT and writes OUTPUT, which must lie under its
    jobs.allowed_roots; relative paths are taken from this shell's directory.
    """
    body: dict[str, Any] = {
        "target": target,
        "input": _absolute(input_spec),
        "output": _absolute(output),
        "id_columns": list(id_columns),
        "features": list(feature_columns(features)),
        "overwrite": overwrite,
        "explain": explain,
    }
    optional = {"format": fmt, "chunk_rows": chunk_rows, "max_errors": max_errors}
    body.update({key: value for key, value in optional.items() if value is not None})
    if errors_path is not None:
        body["errors"] = _absolute(errors_path)
    with ctx.jobs() as client:
        job = _submit(client, body, wait)
    _show_one(job, as_json)
    if wait and job["state"] != "succeeded":
        reason = f": {job['message']}" if job["message"] else ""
        click.secho(f"error: job {job['id']} {job['state']}{reason}", fg="red", err=True)
        sys.exit(1)


@jobs.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_context
@fail_cleanly
def list_(ctx: Context, as_json: bool) -> None:
    """Every job of the server, newest first."""
    with ctx.jobs() as client:
        found = client.list_all()
    if as_json:
        click.echo(json.dumps({"jobs": found}, indent=2))
    else:
        _table(found)


@jobs.command()
@click.argument("job_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True)
@pass_context
@fail_cleanly
def show(ctx: Context, job_id: str, as_json: bool) -> None:
    """One job: its state, progress, paths and message."""
    with ctx.jobs() as client:
        _show_one(client.get(job_id), as_json)


@jobs.command()
@click.argument("job_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True)
@pass_context
@fail_cleanly
def cancel(ctx: Context, job_id: str, as_json: bool) -> None:
    """Cancel a job: a queued one at once, a running one once its worker has stopped."""
    with ctx.jobs() as client:
        _show_one(client.cancel(job_id), as_json)


def add_jobs_commands(main: click.Group) -> None:
    main.add_command(jobs)


def _absolute(path: str) -> str:
    """``path`` from this shell's directory; ``-`` unchanged (the server says why it cannot read it)."""
    return path if path == "-" else os.path.abspath(path)


def _submit(client: RemoteJobs, body: dict[str, Any], wait: bool) -> dict[str, Any]:
    """The job as queued, or as it ended with ``wait`` (the client is closed by then)."""
    job = client.submit(body)
    return _wait(client, job) if wait else job


def _wait(client: RemoteJobs, job: dict[str, Any]) -> dict[str, Any]:
    with _progress() as show:
        while job["state"] not in FINISHED:
            time.sleep(POLL_S)
            job = client.get(job["id"])
            show(job)
    return job


@contextmanager
def _progress() -> Iterator[Callable[[dict[str, Any]], None]]:
    """A progress bar on a terminal (rows, rows/s, ETA); elsewhere, a line when the state changes."""
    if not sys.stderr.isatty():
        states: list[str] = []

        def say(job: dict[str, Any]) -> None:
            if not states or states[-1] != job["state"]:
                states.append(job["state"])
                click.echo(f"job {job['id']}: {job['state']}", err=True)

        yield say
        return
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("{task.fields[state]}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.completed:,.0f} rows"),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("job", total=None, state="queued", rate="")

        def update(job: dict[str, Any]) -> None:
            rate = f"{job['rows_per_s']:,.0f} rows/s" if job["rows_per_s"] else ""
            total, state = job["rows_total"], job["state"]
            bar.update(task, completed=job["rows_done"], total=total, state=state, rate=rate)

        yield update


def _rows(job: dict[str, Any]) -> str:
    total = "?" if job["rows_total"] is None else f"{job['rows_total']:,}"
    return f"{job['rows_done']:,}/{total}"


def _table(found: list[dict[str, Any]]) -> None:
    table = Table("id", "state", "version", "rows", "failed", "rows/s", "output")
    for column in table.columns[:6]:
        column.no_wrap = True
    table.columns[-1].overflow = "fold"
    for job in found:
        table.add_row(
            job["id"],
            job["state"],
            f"{job['model']}:{job['version']}",
            _rows(job),
            str(job["rows_failed"]),
            number_or_dash(job["rows_per_s"], ",.0f"),
            job["output"],
        )
    console.print(table)


def _show_one(job: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(job, indent=2))
        return
    _table([job])
    click.echo(f"input: {job['input']}\nmanifest: {job['manifest']}")
    if job["message"]:
        click.echo(f"message: {job['message']}")
