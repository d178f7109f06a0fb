"""Payload-log settings in the registry: one ``MonitorConfig`` per model or endpoint name.

Setting one is a registry write like any other (it bumps the revision), so every server process
picks it up on its next registry poll. Redaction rules are checked against the inputs the name
can receive: every version's signature for a model, every route's and shadow's for an endpoint.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelport.core import InvalidInput, NotFound, Signature
from modelport.core.endpoints import EndpointConfig
from modelport.core.monitor_config import MonitorConfig
from modelport.registry import _convert as conv
from modelport.registry import _queries as q
from modelport.registry.endpoints import resolve_target
from modelport.registry.records import Monitor
from modelport.registry.schema import ModelRow, MonitorConfigRow, VersionRow, utcnow

__all__ = ["MonitorCatalog"]

_MAX_ACTOR = 128


class MonitorCatalog:
    """The monitor-config operations of ``Registry``, which supplies the two transactions below."""

    def _read(self) -> AbstractContextManager[Session]:
        raise NotImplementedError

    def _write(self) -> AbstractContextManager[Session]:
        raise NotImplementedError

    def set_monitor_config(self, name: str, config: MonitorConfig, *, actor: str = "") -> Monitor:
        """Store ``config`` for the model or endpoint ``name``, replacing any earlier one.

        NotFound if ``name`` is neither; InvalidInput if a redaction rule names an input that
        ``name`` never receives. On any error nothing is stored.
        """
        if not isinstance(config, MonitorConfig):
            raise InvalidInput("config must be a modelport.core.monitor_config.MonitorConfig")
        if not isinstance(actor, str) or len(actor) > _MAX_ACTOR:
            raise InvalidInput(f"actor must be a string of at most {_MAX_ACTOR} characters")
        with self._write() as s:
            known = _known_inputs(s, name)
            unknown = sorted(set(config.redact) - known)
            if unknown:
                listed = ", ".join(sorted(known)) or "none"
                raise InvalidInput(
                    f"{name!r} has no input {unknown[0]!r} to redact; its inputs are: {listed}"
                )
            row = s.get(MonitorConfigRow, name)
            if row is None:
                row = MonitorConfigRow(name=name)
                s.add(row)
            row.sample_rate = config.sample_rate
            row.redact = {k: v.value for k, v in config.redact.items()}
            row.actor, row.updated_at = actor, utcnow()
            s.flush()
            return conv.to_monitor(row)

    def get_monitor_config(self, name: str) -> Monitor:
        """``name``'s settings; the defaults (sampling off) if none were set. NotFound for an unknown name."""
        with self._read() as s:
            q.model_or_endpoint(s, name)
            row = s.get(MonitorConfigRow, name)
            return Monitor(name, MonitorConfig()) if row is None else conv.to_monitor(row)

    def list_monitor_configs(self) -> list[Monitor]:
        """Every name that has settings, by name."""
        with self._read() as s:
            rows = s.scalars(select(MonitorConfigRow).order_by(q.by_name(MonitorConfigRow.name)))
            return [conv.to_monitor(r) for r in rows]


def _known_inputs(s: Session, name: str) -> set[str]:
    """Input names ``name`` can receive: of every version of the model, or every target of the endpoint."""
    found = q.model_or_endpoint(s, name)
    if isinstance(found, ModelRow):
        signatures = [
            Signature.from_dict(data)
            for data in s.scalars(select(VersionRow.signature).where(VersionRow.model_id == found.id))
        ]
    else:
        config = EndpointConfig.from_dict(found.config)
        signatures = []
        for target in [r.target for r in config.routes] + [sh.target for sh in config.shadows]:
            try:
                signatures.append(resolve_target(s, name, "target", target)[1])
            except NotFound:  # e.g. its alias was removed since: that target receives nothing now
                continue
    return {spec.name for signature in signatures for spec in signature.inputs}
