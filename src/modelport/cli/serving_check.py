"""After ``alias set``, ask the running server what it did with the move: the new version answers,
it is still loading, or it failed to load and the alias still answers with the version it had."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from modelport.cli.context import Context
from modelport.client.endpoints import RemoteEndpoints
from modelport.core.errors import ModelportError, NotReady

__all__ = ["AliasEffect", "ServingFailed", "await_alias", "report_alias_effect"]

_POLL_S = 0.2


class ServingFailed(ModelportError):
    """The registry changed, but the running server cannot serve the change."""


@dataclass(frozen=True, slots=True)
class AliasEffect:
    state: str
    """``serving``, ``failed`` or ``loading`` (still, when the wait ended)."""
    serving: int | None = None
    """The version answering for the alias meanwhile (``failed``, ``loading``), if any."""
    reason: str = ""


def await_alias(
    api: RemoteEndpoints,
    model: str,
    alias: str,
    version: int,
    wait_s: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> AliasEffect:
    """Poll the server's status until it has applied the registry as it is now, then until
    ``model:version`` is loaded or has failed (at most ``wait_s``). ``NotReady`` if unreachable."""
    deadline = clock() + wait_s
    head: int | None = None
    effect = AliasEffect("loading")
    while True:
        status = api.server_status()
        head = head if head is not None else int(status["registry_head"])
        if int(status["registry_revision"]) >= head:
            effect = _effect(status, model, alias, version)
            if effect.state != "loading":
                return effect
        if clock() >= deadline:
            return effect
        sleep(_POLL_S)


def _effect(status: dict[str, Any], model: str, alias: str, version: int) -> AliasEffect:
    target = f"{model}:{version}"
    held = [h for h in status["held_aliases"] if h["model"] == model and h["alias"] == alias]
    serving = int(held[0]["serving"]) if held else None
    if target in status["failures"]:
        return AliasEffect("failed", serving, status["failures"][target])
    if not held and any(v["target"] == target for v in status["loaded"]):
        return AliasEffect("serving", version)
    return AliasEffect("loading", serving)


def report_alias_effect(ctx: Context, model: str, alias: str, version: int, wait_s: float) -> None:
    """Print what the running server did with the alias move; exit 1 if it cannot load the version."""
    api = ctx.running_server()
    if api is None:
        return
    try:
        effect = await_alias(api, model, alias, version, wait_s)
    except NotReady:  # the recorded server stopped meanwhile
        return
    before = f"; {model}@{alias} still answers with {model}:{effect.serving}" if effect.serving else ""
    if effect.state == "serving":
        click.echo(f"the server now answers {model}@{alias} with {model}:{version}")
    elif effect.state == "failed":
        raise ServingFailed(
            f"the server could not load {model}:{version}: {effect.reason}{before} "
            f"(the registry's alias did move: point it back, or at a version that loads)"
        )
    else:
        click.secho(f"warning: {model}:{version} is still loading after {wait_s:g} s{before}", err=True)
