"""ORM rows → frozen records, and checks on caller-supplied mappings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from modelport.core import InvalidInput, Signature
from modelport.core.endpoints import EndpointConfig
from modelport.core.monitor_config import MonitorConfig
from modelport.core.serving_config import ServingConfig
from modelport.registry.policy import VersionPolicy
from modelport.registry.records import Endpoint, EndpointChange, ModelSummary, ModelVersion, Monitor
from modelport.registry.schema import (
    AliasRow,
    EndpointChangeRow,
    EndpointRow,
    ModelRow,
    MonitorConfigRow,
    VersionRow,
)

__all__ = [
    "aliases_by_version",
    "check_str_map",
    "to_endpoint",
    "to_endpoint_change",
    "to_monitor",
    "to_summary",
    "to_version",
]

_MAX_KEY, _MAX_VALUE = 256, 4096


def to_version(row: VersionRow, model: str, aliases: Iterable[str] = ()) -> ModelVersion:
    return ModelVersion(
        model=model,
        number=row.number,
        framework=row.framework,
        digest=row.digest,
        filename=row.filename,
        size=row.size,
        signature=Signature.from_dict(row.signature),
        description=row.description,
        tags=dict(row.tags),
        lineage=dict(row.lineage),
        trusted=row.trusted,
        reference_digest=row.reference_digest,
        created_at=row.created_at,
        aliases=tuple(sorted(aliases)),
    )


def to_summary(row: ModelRow, latest: int | None, count: int, aliases: Iterable[AliasRow]) -> ModelSummary:
    return ModelSummary(
        name=row.name,
        description=row.description,
        latest_version=latest,
        version_count=count,
        aliases={a.name: a.version_number for a in sorted(aliases, key=lambda a: a.name)},
        policy=VersionPolicy.from_dict(row.version_policy),
        serving=ServingConfig.from_dict(row.serving_config),
        served=row.served,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def to_endpoint(row: EndpointRow) -> Endpoint:
    return Endpoint(
        name=row.name,
        revision=row.revision,
        config=EndpointConfig.from_dict(row.config),
        description=row.description,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def to_endpoint_change(row: EndpointChangeRow) -> EndpointChange:
    return EndpointChange(
        revision=row.revision,
        config=EndpointConfig.from_dict(row.config),
        actor=row.actor,
        summary=row.summary,
        changed_at=row.changed_at,
        restored_from=row.restored_from,
    )


def to_monitor(row: MonitorConfigRow) -> Monitor:
    config = MonitorConfig.from_dict({"sample_rate": row.sample_rate, "redact": row.redact})
    return Monitor(row.name, config, row.actor, row.updated_at)


def aliases_by_version(aliases: Iterable[AliasRow]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for a in aliases:
        out.setdefault(a.version_number, []).append(a.name)
    return out


def check_str_map(what: str, data: Mapping[str, str] | None) -> dict[str, str]:
    """A plain ``dict[str, str]`` copy of ``data``, or InvalidInput naming the bad entry."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{what} must be a mapping of strings to strings")
    out: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidInput(f"{what} must map strings to strings; got {key!r}: {value!r}")
        if not key or len(key) > _MAX_KEY or len(value) > _MAX_VALUE:
            raise InvalidInput(
                f"{what} entry {key[:40]!r}: keys need 1-{_MAX_KEY} characters, values at most {_MAX_VALUE}"
            )
        out[key] = value
    return out
