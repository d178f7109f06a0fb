"""Endpoint operations for the CLI: on the local data directory, or through a server's API."""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from typing import Any, Protocol

from modelport.client import Json
from modelport.client.remote import RemoteCatalog
from modelport.control.endpoints import EndpointChanges
from modelport.core.endpoints import EndpointConfig, RouteSpec, ShadowSpec
from modelport.core.targets import Target
from modelport.registry.catalog import Registry

__all__ = ["EndpointClient", "LocalEndpoints", "RemoteEndpoints", "actor"]

_ENDPOINTS = "/api/v1/endpoints"


def actor() -> str:
    """Who is making a change, for the endpoint history."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


class EndpointClient(Protocol):
    def create(self, name: str, config: EndpointConfig, description: str, force: bool) -> Json: ...
    def list_all(self) -> list[Json]: ...
    def get(self, name: str) -> Json: ...
    def set_routes(self, name: str, routes: Sequence[RouteSpec], force: bool) -> Json: ...
    def promote(self, name: str, target: Target) -> Json: ...
    def rollback(self, name: str) -> Json: ...
    def history(self, name: str) -> list[Json]: ...
    def add_shadow(self, name: str, shadow: ShadowSpec, force: bool) -> Json: ...
    def remove_shadow(self, name: str, target: Target) -> Json: ...
    def delete(self, name: str) -> Json: ...


class LocalEndpoints:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._changes = EndpointChanges(registry, actor())

    def create(self, name: str, config: EndpointConfig, description: str, force: bool) -> Json:
        return self._changes.create(name, config, description=description, force=force).to_dict()

    def list_all(self) -> list[Json]:
        return [e.to_dict() for e in self._registry.list_endpoints()]

    def get(self, name: str) -> Json:
        return self._registry.get_endpoint(name).to_dict()

    def set_routes(self, name: str, routes: Sequence[RouteSpec], force: bool) -> Json:
        return self._changes.set_routes(name, routes, force=force).to_dict()

    def promote(self, name: str, target: Target) -> Json:
        return self._changes.promote(name, target).to_dict()

    def rollback(self, name: str) -> Json:
        return self._changes.rollback(name).to_dict()

    def history(self, name: str) -> list[Json]:
        return [c.to_dict() for c in self._registry.endpoint_history(name)]

    def add_shadow(self, name: str, shadow: ShadowSpec, force: bool) -> Json:
        return self._changes.add_shadow(name, shadow, force=force).to_dict()

    def remove_shadow(self, name: str, target: Target) -> Json:
        return self._changes.remove_shadow(name, target).to_dict()

    def delete(self, name: str) -> Json:
        self._registry.delete_endpoint(name)
        return {"deleted": name}


class RemoteEndpoints:
    def __init__(self, api: RemoteCatalog) -> None:
        self._api = api
        self._headers = {"x-modelport-actor": actor()}

    def _call(self, method: str, path: str, **kwargs: Any) -> Json:
        """One call under ``/api/v1/endpoints``, saying who acts; its answer is a JSON object."""
        return self._api.call_object(method, _ENDPOINTS + path, headers=self._headers, **kwargs)

    def _list(self, path: str) -> list[Json]:
        """A listing under ``/api/v1/endpoints``."""
        return self._api.call_list("GET", _ENDPOINTS + path, headers=self._headers)

    def server_status(self) -> Json:
        """The server's own report (loaded versions, load failures, held aliases, revisions)."""
        return self._api.call_object("GET", "/api/v1/status")

    def create(self, name: str, config: EndpointConfig, description: str, force: bool) -> Json:
        body = {"name": name, **config.to_dict(), "description": description, "force": force}
        return self._call("POST", "", json=body)

    def list_all(self) -> list[Json]:
        return self._list("")

    def get(self, name: str) -> Json:
        return self._call("GET", f"/{name}")

    def set_routes(self, name: str, routes: Sequence[RouteSpec], force: bool) -> Json:
        body = {"routes": [r.to_dict() for r in routes], "force": force}
        return self._call("PUT", f"/{name}/routes", json=body)

    def promote(self, name: str, target: Target) -> Json:
        return self._call("POST", f"/{name}/promote", json={"target": str(target)})

    def rollback(self, name: str) -> Json:
        return self._call("POST", f"/{name}/rollback")

    def history(self, name: str) -> list[Json]:
        return self._list(f"/{name}/history")

    def add_shadow(self, name: str, shadow: ShadowSpec, force: bool) -> Json:
        return self._call("POST", f"/{name}/shadows", json={**shadow.to_dict(), "force": force})

    def remove_shadow(self, name: str, target: Target) -> Json:
        return self._call("DELETE", f"/{name}/shadows/{target}")

    def delete(self, name: str) -> Json:
        return self._call("DELETE", f"/{name}")

    def shadow_report(self, name: str) -> Json:
        return self._call("GET", f"/{name}/shadow-report")

    def start_rollout(self, name: str, plan: Json) -> Json:
        return self._call("POST", f"/{name}/rollout", json=plan)

    def rollout_status(self, name: str) -> Json:
        return self._call("GET", f"/{name}/rollout")

    def abort_rollout(self, name: str) -> Json:
        return self._call("DELETE", f"/{name}/rollout")

    def feedback(self, name: str, items: list[Json]) -> Json:
        return self._call("POST", f"/{name}/feedback", json={"items": items})

    def report(self, name: str) -> Json:
        return self._call("GET", f"/{name}/report")

    def set_rollout_policy(self, name: str, policy: Json) -> Json:
        return self._call("PUT", f"/{name}/rollout-policy", json=policy)
