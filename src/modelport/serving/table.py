"""The routing table: an immutable view of every served model and endpoint, swapped whole."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from modelport.core.errors import NotFound, NotReady
from modelport.core.monitor_config import MonitorConfig, strictest
from modelport.serving.endpoints import EndpointRoutes
from modelport.serving.loaded import LoadedVersion, ModelRoutes

__all__ = ["RoutingTable"]


@dataclass(frozen=True)
class RoutingTable:
    """An immutable view of everything servable; replaced whole, never edited."""

    models: Mapping[str, ModelRoutes] = field(default_factory=lambda: MappingProxyType({}))
    endpoints: Mapping[str, EndpointRoutes] = field(default_factory=lambda: MappingProxyType({}))
    revision: int = -1
    monitors: Mapping[str, MonitorConfig] = field(default_factory=lambda: MappingProxyType({}))
    """Model or endpoint name → its payload-log settings as stored, rate 0 included (an endpoint's
    rate 0 keeps its model's rate from applying); empty, and so falsy, when no name has any."""

    def model(self, name: str) -> ModelRoutes:
        try:
            return self.models[name]
        except KeyError:
            raise NotFound(f"model {name!r} is not served here") from None

    def resolve(self, name: str, ref: str | None) -> LoadedVersion:
        return self.model(name).resolve(ref)

    def endpoint(self, name: str) -> EndpointRoutes | None:
        return self.endpoints.get(name)

    _merged: dict[tuple[str, str], MonitorConfig | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    """``monitor`` answers, worked out once per (name, model) for this table."""

    def monitor(self, name: str, model: str) -> MonitorConfig | None:
        """The settings for a request made to ``name`` and served by ``model``.

        The sampling rate is the called name's, else (an endpoint without its own) the model's. The
        redaction is the strictest rule per input among the called name's, the serving model's and,
        for an endpoint, every model it routes or mirrors to: the same inputs reach all of them, so a
        rule any of their owners set holds for the logged row.
        """
        key = (name, model)
        if key not in self._merged:
            self._merged[key] = self._monitor(name, model)
        return self._merged[key]

    def sampling(self, name: str, model: str) -> MonitorConfig | None:
        """``monitor(name, model)`` when it logs anything (``enabled``), else None."""
        config = self.monitor(name, model)
        return config if config is not None and config.enabled else None

    def _monitor(self, name: str, model: str) -> MonitorConfig | None:
        own = self.monitors.get(name)
        chosen = own if own is not None or name == model else self.monitors.get(model)
        if chosen is None:
            return None
        related = {model}
        endpoint = self.endpoints.get(name)
        if endpoint is not None:
            related.update(v.version.model for v in endpoint.variants)
            related.update(s.version.model for s in endpoint.shadows)
        configs = [c for c in (own, *(self.monitors.get(m) for m in sorted(related))) if c is not None]
        merged = strictest(c.redact for c in configs)
        return chosen if merged == dict(chosen.redact) else chosen.with_redaction(merged)

    def held_aliases(self) -> list[dict[str, Any]]:
        """Aliases answered by an earlier version because the one the registry names is not loaded."""
        return [
            {
                "model": routes.name,
                "alias": alias,
                "version": number,
                "serving": routes.aliases[alias],
                "reason": routes.failed.get(number, "loading"),
            }
            for routes in self.models.values()
            for alias, number in sorted(routes.held.items())
        ]

    def routing(self) -> dict[str, Any]:
        """What answers where, as plain data (status; replicas on one registry compare it): per model
        the loaded versions, the version answering for each alias and by default (``None``: none
        loaded); per endpoint its routes and shadows with the version answering each; the payload-log
        settings by name."""
        return {
            "models": {
                name: {
                    "versions": sorted(routes.versions),
                    "aliases": dict(sorted(routes.aliases.items())),
                    "default": _default_version(routes),
                }
                for name, routes in sorted(self.models.items())
            },
            "endpoints": {
                name: {
                    "revision": endpoint.revision,
                    "routes": [
                        {"target": v.route, "version": v.label, "weight": v.weight} for v in endpoint.variants
                    ],
                    "shadows": [
                        {"target": s.route, "version": s.label, "percent": round(s.fraction * 100, 6)}
                        for s in endpoint.shadows
                    ],
                }
                for name, endpoint in sorted(self.endpoints.items())
            },
            "monitors": {name: config.to_dict() for name, config in sorted(self.monitors.items())},
        }

    def loaded_versions(self) -> list[LoadedVersion]:
        """Every version in memory, whether a model route or only an endpoint still holds it."""
        found: dict[int, LoadedVersion] = {}
        for routes in self.models.values():
            found.update((id(v), v) for v in routes.versions.values())
        for endpoint in self.endpoints.values():
            found.update((id(v.version), v.version) for v in endpoint.variants)
            found.update((id(s.version), s.version) for s in endpoint.shadows)
        return list(found.values())


def _default_version(routes: ModelRoutes) -> int | None:
    try:
        return routes.default().version
    except (NotFound, NotReady):
        return None
