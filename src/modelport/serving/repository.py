"""The Open Inference Protocol's model repository extension, protocol-neutral: index, load, unload.

Load and unload change what is served, never what is registered: they set a model's ``served`` flag
in the registry (so every server on it agrees), then wait until this server's routing table shows
the change. Other servers follow at their next look at the registry. Both need the management token
(``auth.token``) whenever one is set; the front-ends check it with ``check_management_token``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from modelport.core.errors import InvalidInput, NotReady
from modelport.core.settings import AuthSettings
from modelport.serving.auth import single_bearer_matches, unauthorized
from modelport.serving.loaded import ModelRoutes
from modelport.serving.reconciler import Reconciler

__all__ = ["IndexEntry", "ModelRepository", "ServedFlags", "check_management_token", "management_token"]

LOAD_WAIT_S = 120.0
"""The longest a load or unload waits for this server to show the change."""
_POLL_S = 0.02

State = Literal["READY", "LOADING", "UNAVAILABLE"]


class ServedFlags(Protocol):
    """Where the flags are stored (the registry)."""

    def set_served(self, name: str, served: bool) -> None: ...

    def revision(self) -> int: ...


@dataclass(frozen=True, slots=True)
class IndexEntry:
    name: str
    version: str
    """Empty for an entry about the whole model (unloaded) or an endpoint."""
    state: State
    reason: str = ""


def management_token(auth: AuthSettings) -> bytes | None:
    return auth.token.encode() if auth.token else None


def check_management_token(authorizations: Sequence[bytes], token: bytes | None, where: str) -> None:
    """``Unauthorized`` unless the one ``authorization`` value is the token (when one is set)."""
    if token is not None and not single_bearer_matches(authorizations, token):
        raise unauthorized(where)


class ModelRepository:
    def __init__(self, reconciler: Reconciler, flags: ServedFlags) -> None:
        self._reconciler = reconciler
        self._flags = flags

    def index(self, ready_only: bool = False) -> list[IndexEntry]:
        """Every model's versions (and every endpoint) with their state; only READY ones if asked."""
        table = self._reconciler.table
        entries = [entry for name in sorted(table.models) for entry in _model_entries(table.models[name])]
        entries += [IndexEntry(name, "", "READY") for name in sorted(table.endpoints)]
        return [e for e in entries if e.state == "READY"] if ready_only else entries

    async def load(self, name: str) -> None:
        """Serve ``name`` again; returns once this server serves it (``NotReady`` if it cannot)."""
        routes = await self._set(name, True)
        if not routes.versions and routes.failed:
            reasons = "; ".join(f"version {n}: {why}" for n, why in sorted(routes.failed.items()))
            raise NotReady(f"model {name!r} could not be loaded: {reasons}")

    async def unload(self, name: str) -> None:
        """Stop serving ``name`` (its versions stay registered); returns once this server stopped."""
        await self._set(name, False)

    async def _set(self, name: str, served: bool) -> ModelRoutes:
        if self._reconciler.table.endpoint(name) is not None:
            raise InvalidInput(f"{name!r} is an endpoint; load and unload apply to models")
        revision = await asyncio.to_thread(self._store, name, served)
        self._reconciler.wake()
        deadline = time.monotonic() + LOAD_WAIT_S
        while True:
            table = self._reconciler.table
            routes = table.models.get(name)
            if table.revision >= revision and routes is not None and _settled(routes):
                return routes
            if time.monotonic() > deadline:
                raise NotReady(f"model {name!r} is still loading; see POST /v2/repository/index")
            await asyncio.sleep(_POLL_S)

    def _store(self, name: str, served: bool) -> int:
        self._flags.set_served(name, served)
        return self._flags.revision()


def _settled(routes: ModelRoutes) -> bool:
    """Nothing of the model is loading any more (loaded, or failed)."""
    return routes.pending <= routes.failed.keys()


def _model_entries(routes: ModelRoutes) -> list[IndexEntry]:
    name = routes.name
    if not routes.served:
        return [IndexEntry(name, "", "UNAVAILABLE", "unloaded")]
    entries = [IndexEntry(name, str(number), "READY") for number in sorted(routes.versions)]
    for number in sorted(routes.pending):
        why = routes.failed.get(number)
        entries.append(IndexEntry(name, str(number), "LOADING" if why is None else "UNAVAILABLE", why or ""))
    return sorted(entries, key=lambda e: int(e.version))
