"""How the CLI shows things: rich tables for people, JSON for scripts."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

__all__ = [
    "console",
    "number_or_dash",
    "print_json",
    "print_models",
    "print_prediction",
    "print_version",
    "print_versions",
]

console = Console()
"""Where every command prints its tables and notes for people (stdout)."""


def print_json(value: Any) -> None:
    """``value`` as JSON for scripts (``--json``): indented, keys sorted."""
    print(json.dumps(value, indent=2, sort_keys=True))


def number_or_dash(value: float | None, spec: str) -> str:
    """A table cell: ``value`` formatted by ``spec`` (an f-string's format spec), ``-`` when unknown."""
    return "-" if value is None else format(value, spec)


def print_version(version: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(version)
        return
    aliases = ", ".join(version.get("aliases", [])) or "-"
    console.print(
        f"registered [bold]{version['name']}:{version['version']}[/bold] "
        f"({version['framework']}, sha256 {version['digest'][:12]}…, aliases: {aliases})"
    )


def print_models(models: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print_json(models)
        return
    table = Table("model", "latest", "versions", "aliases", "description")
    for model in models:
        aliases = ", ".join(f"{a}→{v}" for a, v in sorted(model.get("aliases", {}).items())) or "-"
        table.add_row(
            model["name"],
            str(model["latest_version"]),
            str(model["version_count"]),
            aliases,
            model.get("description") or "",
        )
    console.print(table)


def print_versions(versions: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print_json(versions)
        return
    table = Table("version", "aliases", "framework", "created", "inputs", "outputs", "tags")
    for column in table.columns[:3]:
        column.no_wrap = True
    for v in versions:
        signature = v["signature"]
        table.add_row(
            str(v["version"]),
            ", ".join(v.get("aliases", [])) or "-",
            v["framework"],
            v["created_at"][:10],
            _specs(signature["inputs"]),
            _specs(signature["outputs"]),
            ", ".join(f"{k}={val}" for k, val in sorted(v.get("tags", {}).items())),
        )
    console.print(table)


def _specs(specs: list[dict[str, Any]]) -> str:
    return "\n".join(f"{s['name']} {s['datatype']}{s['shape']}" for s in specs)


def print_prediction(response: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(response)
        return
    console.print(f"[bold]{response['model_name']}:{response['model_version']}[/bold]")
    table = Table("output", "datatype", "shape", "data")
    for output in response.get("outputs", []):
        data = np.asarray(output.get("data", [])).reshape(output["shape"]) if "data" in output else "(binary)"
        table.add_row(
            output["name"],
            output["datatype"],
            str(output["shape"]),
            np.array2string(np.asarray(data), threshold=20) if not isinstance(data, str) else data,
        )
    console.print(table)
