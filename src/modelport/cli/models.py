"""The ``models``, ``versions`` and ``gc`` commands: list, delete, and remove unreferenced files.

``models`` and ``versions`` are groups whose ``list`` runs when no other subcommand is named, so
``modelport models --json`` and ``modelport versions NAME`` list as they always did.
"""

from __future__ import annotations

from typing import Any

import click

from modelport.cli.context import Context, fail_cleanly, pass_context
from modelport.cli.output import print_json, print_models, print_versions
from modelport.client.remote import RemoteCatalog
from modelport.core.errors import ModelportError
from modelport.registry.deletion import held_reasons, refuse_deletion
from modelport.server.address import find_server

__all__ = ["add_model_commands"]


class ListByDefault(click.Group):
    """A group that runs its ``list`` command when the first argument names no other command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ctx.help_option_names):
            args = ["list", *args]
        return super().parse_args(ctx, args)


@click.group(cls=ListByDefault)
def models() -> None:
    """List the registered models (models list), or delete one (models delete)."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
@fail_cleanly
def list_models(ctx: Context, as_json: bool) -> None:
    """List the registered models."""
    with ctx.catalog() as catalog:
        print_models(catalog.list_models(), as_json)


@models.command("delete")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
@fail_cleanly
def delete_model(ctx: Context, name: str, as_json: bool) -> None:
    """Delete model NAME with all its versions; refused while an alias, an endpoint or its
    version policy uses one. Stored files no other version shares are removed."""
    _refuse_if_held(ctx, f"model {name!r}", name, None)
    with ctx.catalog() as catalog:
        _print_removed(catalog.delete_model(name), as_json)


@click.group(cls=ListByDefault)
def versions() -> None:
    """List the versions of a model (versions [list] NAME), or delete one (versions delete)."""


@versions.command("list")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
@fail_cleanly
def list_versions(ctx: Context, name: str, as_json: bool) -> None:
    """List the versions of model NAME."""
    with ctx.catalog() as catalog:
        print_versions(catalog.list_versions(name), as_json)


@versions.command("delete")
@click.argument("name")
@click.argument("version", type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
@fail_cleanly
def delete_version(ctx: Context, name: str, version: int, as_json: bool) -> None:
    """Delete VERSION of model NAME; refused while an alias, an endpoint, the version policy or
    the bare name NAME uses it. Stored files no other version shares are removed."""
    _refuse_if_held(ctx, f"version {version} of model {name!r}", name, {version})
    with ctx.catalog() as catalog:
        _print_removed(catalog.delete_version(name, version), as_json)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
@fail_cleanly
def gc(ctx: Context, as_json: bool) -> None:
    """Remove the stored files that no version references (e.g. left by a crash)."""
    with ctx.catalog() as catalog:
        _print_removed(catalog.collect_garbage(), as_json)


def add_model_commands(main: click.Group) -> None:
    main.add_command(models)
    main.add_command(versions)
    main.add_command(gc)


def _refuse_if_held(ctx: Context, what: str, name: str, numbers: set[int] | None) -> None:
    """Refuse while the home's running server answers an alias with a version being deleted (the
    registry cannot know; with ``--server`` that server checks it itself)."""
    if ctx.server:
        return
    recorded = find_server(ctx.settings().data_dir)
    if recorded is None:
        return
    try:
        status = RemoteCatalog(recorded.url, ctx.token).call("GET", "/api/v1/status")
    except ModelportError as error:
        click.echo(
            f"warning: cannot ask the server at {recorded.url} what it serves: {error.message}", err=True
        )
        return
    refuse_deletion(what, held_reasons(status.get("held_aliases", ()), name, numbers))


def _print_removed(removed: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(removed)
        return
    numbers = removed["versions"]
    if removed["name"] is not None:
        versions = ", ".join(map(str, numbers)) or "none"
        click.echo(f"deleted {removed['name']} (version{'s' * (len(numbers) != 1)} {versions})")
    files = len(removed["files"])
    click.echo(f"removed {files} stored file{'s' * (files != 1)} ({removed['bytes_freed']} bytes)")
