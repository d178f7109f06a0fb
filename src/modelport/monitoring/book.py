"""The outcomes of every endpoint served by this process, created on first use."""

from __future__ import annotations

from modelport.monitoring.outcomes import EndpointOutcomes

__all__ = ["OutcomeBook"]


class OutcomeBook:
    def __init__(self) -> None:
        self._endpoints: dict[str, EndpointOutcomes] = {}

    def endpoint(self, name: str) -> EndpointOutcomes:
        outcomes = self._endpoints.get(name)
        if outcomes is None:
            outcomes = self._endpoints[name] = EndpointOutcomes(name)
        return outcomes

    def get(self, name: str) -> EndpointOutcomes | None:
        return self._endpoints.get(name)

    def all(self) -> list[EndpointOutcomes]:
        return list(self._endpoints.values())
