"""Payload-log operations for the CLI: on the local data directory, or through a server's API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Protocol, TypedDict
from urllib.parse import quote

from modelport.client import Json
from modelport.client.endpoints import actor
from modelport.client.remote import RemoteCatalog
from modelport.control.payloads import export_payloads, monitor_configs
from modelport.core.monitor_config import MonitorConfig
from modelport.core.settings import DriftSettings
from modelport.monitoring.payloads import PayloadStore
from modelport.registry.catalog import Registry

__all__ = ["ExportQuery", "LocalMonitor", "MonitorClient", "RemoteMonitor"]


class ExportQuery(TypedDict):
    """Which rows to export; ``None`` leaves a filter out."""

    since: datetime | None
    until: datetime | None
    version: int | None
    limit: int | None


class MonitorClient(Protocol):
    def get(self, name: str) -> Json: ...
    def list_all(self) -> Json: ...
    def set(self, name: str, config: MonitorConfig) -> Json: ...
    def export(self, name: str, format_: str, query: ExportQuery) -> Iterator[bytes]: ...
    def drift(self, name: str, window: int | None) -> Json: ...


class LocalMonitor:
    def __init__(self, registry: Registry, store: PayloadStore, drift: DriftSettings) -> None:
        self._registry = registry
        self._store = store
        self._drift = drift

    def get(self, name: str) -> Json:
        return self._registry.get_monitor_config(name).to_dict()

    def list_all(self) -> Json:
        return {"configs": monitor_configs(self._registry)}

    def set(self, name: str, config: MonitorConfig) -> Json:
        return self._registry.set_monitor_config(name, config, actor=actor()).to_dict()

    def export(self, name: str, format_: str, query: ExportQuery) -> Iterator[bytes]:
        return export_payloads(self._registry, self._store, name, format_, **query)

    def drift(self, name: str, window: int | None) -> Json:
        from modelport.control.drift import DriftService  # the statistics' imports: only when asked

        return DriftService(self._registry, self._store, self._drift).report(name, window)


class RemoteMonitor:
    def __init__(self, api: RemoteCatalog) -> None:
        self._api = api

    def get(self, name: str) -> Json:
        return self._api.call_object("GET", f"/api/v1/monitoring/{_segment(name)}")

    def list_all(self) -> Json:
        return self._api.call_object("GET", "/api/v1/monitoring")

    def set(self, name: str, config: MonitorConfig) -> Json:
        return self._api.call_object(
            "PUT",
            f"/api/v1/monitoring/{_segment(name)}",
            json=config.to_dict(),
            headers={"x-modelport-actor": actor()},
        )

    def export(self, name: str, format_: str, query: ExportQuery) -> Iterator[bytes]:
        params: dict[str, str | int] = {"format": format_}
        moments = {"since": query["since"], "until": query["until"]}
        numbers = {"version": query["version"], "limit": query["limit"]}
        params.update({key: value.isoformat() for key, value in moments.items() if value is not None})
        params.update({key: value for key, value in numbers.items() if value is not None})
        return self._api.stream("GET", f"/api/v1/payloads/{_segment(name)}", params=params)

    def drift(self, name: str, window: int | None) -> Json:
        params = {} if window is None else {"window": window}
        return self._api.call_object("GET", f"/api/v1/drift/{_segment(name)}", params=params)


def _segment(name: str) -> str:
    """``name`` as one URL path segment: a ``/``, ``?`` or ``#`` in it cannot change the route."""
    return quote(name, safe="")
