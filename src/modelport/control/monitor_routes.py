"""Management API routes for the payload log: per-name settings, the log's state, and exports."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel, Field
from starlette.responses import StreamingResponse

from modelport.control.payloads import export_payloads, monitor_configs
from modelport.core.monitor_config import MonitorConfig
from modelport.monitoring.payloads import PayloadLog, PayloadStore
from modelport.monitoring.payloads.export import MEDIA_TYPES
from modelport.registry.catalog import Registry

__all__ = ["build_monitor_router"]

Actor = Annotated[str, Header(alias="x-modelport-actor", description="Who makes the change.")]


class MonitorBody(BaseModel):
    sample_rate: float = Field(description="Share of successful requests logged, 0 (off) to 1 (all).")
    redact: dict[str, str] = Field(default_factory=dict, description="Input name → drop | hash | keep.")


def build_monitor_router(registry: Registry, payload_log: PayloadLog, store: PayloadStore) -> APIRouter:
    router = APIRouter()

    @router.get("/monitoring", summary="Every name's payload-log settings and this process's log state")
    def list_configs() -> dict[str, Any]:
        return {
            "configs": monitor_configs(registry),
            "payload_log": {
                **payload_log.status(),
                "records_total": payload_log.records_total(),
                "dropped_total": [
                    {"name": name, "reason": reason, "count": count}
                    for (name, reason), count in sorted(payload_log.dropped_total().items())
                ],
                "bytes": payload_log.bytes_on_disk(),
            },
        }

    @router.get("/monitoring/{name}", summary="A model's or endpoint's payload-log settings")
    def get_config(name: str) -> dict[str, Any]:
        return registry.get_monitor_config(name).to_dict()

    @router.put("/monitoring/{name}", summary="Set a model's or endpoint's sampling rate and redaction")
    def set_config(name: str, body: MonitorBody, actor: Actor = "") -> dict[str, Any]:
        config = MonitorConfig.from_dict(body.model_dump())
        return registry.set_monitor_config(name, config, actor=actor or "api").to_dict()

    @router.get("/payloads/{name}", summary="Export a name's logged payloads (streamed)")
    def export(
        name: str,
        format_: Annotated[str, Query(alias="format", description="parquet, csv or jsonl")] = "jsonl",
        since: datetime | None = None,
        until: datetime | None = None,
        version: int | None = None,
        limit: Annotated[int | None, Query(ge=1, description="Keep the newest N rows.")] = None,
    ) -> StreamingResponse:
        chunks = export_payloads(
            registry, store, name, format_, since=since, until=until, version=version, limit=limit
        )
        return StreamingResponse(
            chunks,
            media_type=MEDIA_TYPES[format_],
            headers={"content-disposition": f'attachment; filename="{name}.{format_}"'},
        )

    return router
