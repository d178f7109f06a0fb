"""``modelport batch``: score a file or a dataset with a registered version, on this machine or on
a Ray cluster (``--engine ray``).

The job itself is ``modelport.batch``; this module turns options into ``BatchOptions``, shows a
progress bar on a terminal, prints the summary, and makes SIGTERM cancel the job as Ctrl-C does.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import click

from modelport.cli.context import Context, fail_cleanly, pass_context

__all__ = ["OUTPUT_FORMATS", "add_batch_command", "feature_columns"]

OUTPUT_FORMATS = ("parquet", "csv", "jsonl")
"""What a batch job writes, here (``batch``) or on a server (``jobs submit``)."""


def feature_columns(features: str | None) -> tuple[str, ...]:
    """``--features a,b,c`` as column names; none when the option is left out."""
    return tuple(f.strip() for f in features.split(",")) if features else ()


def add_batch_command(main: click.Group) -> None:
    @main.command()
    @click.argument("target")
    @click.argument("input_spec", metavar="INPUT")
    @click.argument("output")
    @click.option(
        "--id-column",
        "id_columns",
        multiple=True,
        help="Copy this input column to the output (repeatable; default: the row's index, as column 'row').",
    )
    @click.option("--features", help="The columns of the model's matrix input, in order: a,b,c.")
    @click.option(
        "--format",
        "fmt",
        type=click.Choice(OUTPUT_FORMATS),
        help="Output format (default: OUTPUT's extension, else parquet).",
    )
    @click.option(
        "--chunk-rows",
        type=click.IntRange(min=1),
        help="Rows per model call and per part file (default 65536).",
    )
    @click.option(
        "--errors",
        "errors_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Bad rows' file (JSONL; default OUTPUT/_errors.jsonl).",
    )
    @click.option(
        "--max-errors",
        type=click.IntRange(min=0),
        help="Bad rows written to the errors file before the job fails (default 0; "
        "with --resume, the job's own unless given).",
    )
    @click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
    @click.option("--resume", is_flag=True, help="Continue the interrupted job that writes OUTPUT.")
    @click.option(
        "--engine",
        type=click.Choice(["local", "ray"]),
        default="local",
        show_default=True,
        help="Score on this machine, or by an actor pool on Ray (Parquet input; needs modelport[ray]).",
    )
    @click.option(
        "--address",
        help="Ray: the cluster to connect to (default: RAY_ADDRESS, else a new local Ray instance).",
    )
    @click.option(
        "--num-workers",
        type=click.IntRange(min=1),
        help="Ray: actors, each loading the model once (default: one per CPU of the cluster).",
    )
    @click.option(
        "--explain",
        is_flag=True,
        help="Add each row's feature attributions, explain.<feature> columns (docs/explanations.md).",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
    @pass_context
    @fail_cleanly
    def batch(
        ctx: Context,
        target: str,
        input_spec: str,
        output: str,
        id_columns: tuple[str, ...],
        features: str | None,
        fmt: str | None,
        chunk_rows: int | None,
        errors_path: Path | None,
        max_errors: int | None,
        overwrite: bool,
        resume: bool,
        engine: str,
        address: str | None,
        num_workers: int | None,
        explain: bool,
        as_json: bool,
    ) -> None:
        """Score INPUT with TARGET (NAME, NAME:VERSION or NAME@ALIAS) into the directory OUTPUT.

        INPUT is a .parquet, .csv or .jsonl file, a directory or glob of them, or - for JSONL on
        stdin. OUTPUT gets one part file per chunk of rows, _manifest.json and _errors.jsonl.
        INPUT and OUTPUT may be s3://bucket/key URIs (see docs/batch.md).
        """
        from modelport.batch import BatchOptions, run_batch

        if ctx.server:
            raise click.UsageError("batch scores on this machine from the local registry; drop --server")
        if resume and overwrite:
            raise click.UsageError("--resume continues OUTPUT and --overwrite replaces it: give one")
        options = BatchOptions(
            target=target,
            input=input_spec,
            output=output if output.startswith("s3://") else Path(output),
            format=fmt,
            id_columns=id_columns,
            features=feature_columns(features),
            errors=errors_path,
            max_errors=max_errors,
            chunk_rows=chunk_rows,
            overwrite=overwrite,
            resume=resume,
            engine=engine,
            address=address,
            num_workers=num_workers,
            explain=explain,
        )
        with ctx._local_registry() as (settings, registry), _cancel_on_sigterm(), _progress() as progress:
            try:
                result = run_batch(registry, settings, options, stdin=sys.stdin.buffer, progress=progress)
            except KeyboardInterrupt:
                click.secho(
                    f"error: cancelled; the parts written are kept: --resume continues {output}",
                    fg="red",
                    err=True,
                )
                sys.exit(130)
        _print(result, as_json)


@contextmanager
def _cancel_on_sigterm() -> Iterator[None]:
    def cancel(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, cancel)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _progress() -> Iterator[Callable[[int, int | None], None] | None]:
    """A rich progress bar (rows, rows/s, ETA) when stderr is a terminal, else nothing."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    columns = (
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.completed:,.0f} rows"),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("scoring", total=None, rate="")

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)
            speed = bar.tasks[task].speed
            bar.update(task, rate=f"{speed:,.0f} rows/s" if speed else "")

        yield update


def _print(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    rate = f" ({result['rows_per_s']:,.0f} rows/s)" if result["rows_per_s"] else ""
    click.echo(
        f"{result['state']}: {result['rows_scored']} of {result['rows_in']} rows scored, "
        f"{result['rows_failed']} failed, by {result['model']}:{result['version']} "
        f"(sha256 {result['sha256'][:12]}) in {result['duration_s']:.1f} s{rate}"
    )
    click.echo(f"output: {result['output']} ({result['parts']} parts); manifest: {result['manifest']}")
    if result["rows_failed"]:
        click.echo(f"bad rows: {result['errors_file']}")
