"""Payload-log operations the management API and the CLI's local client share."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from modelport.monitoring.payloads.export import check_format, export_chunks, select_rows
from modelport.monitoring.payloads.store import PayloadStore
from modelport.registry.catalog import Registry

__all__ = ["export_payloads", "monitor_configs"]


def monitor_configs(registry: Registry) -> list[dict[str, Any]]:
    """Every name's payload-log settings, as the API shows them."""
    return [m.to_dict() for m in registry.list_monitor_configs()]


def export_payloads(
    registry: Registry,
    store: PayloadStore,
    name: str,
    format_: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    version: int | None = None,
    limit: int | None = None,
) -> Iterator[bytes]:
    """``name``'s logged rows (``select_rows``) in ``format_``, in pieces to stream or write.

    Everything that can fail is checked before this returns: the format, the filters, and the
    name (NotFound unless it has a log or is a model's or an endpoint's).
    """
    check_format(format_)
    if name not in store.names():
        registry.name_kind(name)
    table = select_rows(store, name, since=since, until=until, version=version, limit=limit)
    return export_chunks(table, format_)
