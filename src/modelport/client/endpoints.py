"""Endpoint operations for the CLI: on the local data directory, or through a server's API."""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from typing import Any, Protocol

from modelport.client.remote import RemoteCatalog
from modelport.control.endpoints import EndpointChanges
from modelport.core.endpoints import EndpointConfig, RouteSpec, ShadowSpec
from modelport.core.targets import Target
from modelport.registry.catalog import Registry

__all__ = ["EndpointClient", "LocalEndpoints", "RemoteEndpoints", "actor"]

Json = dict[str, Any]


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

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._api.call(method, f"/api/v1/endpoints{path}", headers=self._headers, **kwargs)

    def server_status(self) -> Json:
        """The server's own report (loaded versions, load failures, held aliases, revisions)."""
        result: Json = self._api.call("GET", "/api/v1/status")
        return result

    def create(self, name: str, config: EndpointConfig, description: str, force: bool) -> Json:
        body = {"name": name, **config.to_dict(), "description": description, "force": force}
        result: Json = self._call("POST", "", json=body)
        return result

    def list_all(self) -> list[Json]:
        result: list[Json] = self._call("GET", "")
        return result

    def get(self, name: str) -> Json:
        result: Json = self._call("GET", f"/{name}")
        return result

    def set_routes(self, name: str, routes: Sequence[RouteSpec], force: bool) -> Json:
        result: Json = self._call(
            "PUT", f"/{name}/routes", json={"routes": [r.to_dict() for r in routes], "force": force}
        )
        return result

    def promote(self, name: str, target: Target) -> Json:
        result: Json = self._call("POST", f"/{name}/promote", json={"target": str(target)})
        return result

    def rollback(self, name: str) -> Json:
        result: Json = self._call("POST", f"/{name}/rollback")
        return result

    def history(self, name: str) -> list[Json]:
        result: list[Json] = self._call("GET", f"/{name}/history")
        return result

    def add_shadow(self, name: str, shadow: ShadowSpec, force: bool) -> Json:
        result: Json = self._call("POST", f"/{name}/shadows", json={**shadow.to_dict(), "force": force})
        return result

    def remove_shadow(self, name: str, target: Target) -> Json:
        result: Json = self._call("DELETE", f"/{name}/shadows/{target}")
        return result

    def delete(self, name: str) -> Json:
        result: Json = self._call("DELETE", f"/{name}")
        return result

    def shadow_report(self, name: str) -> Json:
        result: Json = self._call("GET", f"/{name}/shadow-report")
        return result

    def start_rollout(self, name: str, plan: Json) -> Json:
        result: Json = self._call("POST", f"/{name}/rollout", json=plan)
        return result

    def rollout_status(self, name: str) -> Json:
        result: Json = self._call("GET", f"/{name}/rollout")
        return result

    def abort_rollout(self, name: str) -> Json:
        result: Json = self._call("DELETE", f"/{name}/rollout")
        return result

    def feedback(self, name: str, items: list[Json]) -> Json:
        result: Json = self._call("POST", f"/{name}/feedback", json={"items": items})
        return result

    def report(self, name: str) -> Json:
        result: Json = self._call("GET", f"/{name}/report")
        return result

    def set_rollout_policy(self, name: str, policy: Json) -> Json:
        result: Json = self._call("PUT", f"/{name}/rollout-policy", json=policy)
        return result
