"""Deployment evidence shared by every server process of one registry.

Each process writes, every ``interval_s`` (one second), its cumulative aggregates per endpoint to
the registry (``put_evidence``: its own row, replaced): the A/B outcomes and the rollout judge's
per-revision evidence (``EndpointOutcomes.state()``), its shadow comparisons' totals, and, on the
process that judges rollouts, the judge's evidence for ``rollout status``. Reports merge every
other process's last row with this process's live state, so no process is counted twice and
another's traffic shows within about a second (its flush interval, plus the time to read).

The same flush stores the predictions each process remembered since its last one
(``put_predictions``), so that feedback sent to any process can judge them; a prediction not yet
flushed is stored by the feedback call that judges it, on the process that remembers it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from modelport.control.rollout import LEASE
from modelport.core.judged import StoredPrediction
from modelport.monitoring.book import OutcomeBook
from modelport.monitoring.outcomes import REMEMBER_PREDICTIONS
from modelport.registry.catalog import Registry
from modelport.serving.shadow import ShadowRunner

__all__ = ["FLUSH_INTERVAL_S", "RETENTION", "SharedEvidence"]

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 1.0
RETENTION = timedelta(days=7)
"""A process's row is dropped this long after its last write (the process is long gone)."""
_PRUNE_EVERY = 60
"""Flushes between two prunings."""


class SharedEvidence:
    def __init__(
        self,
        registry: Registry,
        instance: str,
        outcomes: OutcomeBook,
        shadows: ShadowRunner,
        interval_s: float = FLUSH_INTERVAL_S,
    ) -> None:
        self._registry = registry
        self.instance = instance
        self._outcomes = outcomes
        self._shadows = shadows
        self._interval_s = interval_s
        self._written: dict[str, dict[str, Any]] = {}
        self._unstored: dict[str, list[StoredPrediction]] = {}
        """Predictions taken from the outcomes but not stored yet (a failed write keeps them)."""

    async def run(self, rollouts: Callable[[], Mapping[str, dict[str, Any]]]) -> None:
        """Flush every interval until cancelled, then once more; ``rollouts``: the evidence of the
        rollouts this process judges, by endpoint."""
        flushes, failing = 0, False
        try:
            while True:
                try:
                    changed = self.changes(rollouts())  # on the loop that counts: a consistent snapshot
                    if changed:
                        await asyncio.to_thread(self._registry.put_evidence, self.instance, changed)
                        self._written.update(changed)
                    self._take_predictions()
                    await asyncio.to_thread(self._store_predictions)
                    if flushes % _PRUNE_EVERY == 0:
                        await asyncio.to_thread(self._prune)
                    if failing:
                        log.info("writing this server's deployment evidence works again")
                    failing = False
                except Exception:
                    if not failing:  # once per outage, not every second
                        log.exception(
                            "writing this server's deployment evidence failed; retrying every second"
                        )
                    failing = True
                flushes += 1
                await asyncio.sleep(self._interval_s)
        finally:
            try:
                self.flush(rollouts())
            except Exception:
                log.exception("the last write of this server's deployment evidence failed")

    def flush(self, rollouts: Mapping[str, dict[str, Any]]) -> None:
        """Write this process's state of every endpoint it has seen that changed since the last write."""
        changed = self.changes(rollouts)
        if changed:
            self._registry.put_evidence(self.instance, changed)
            self._written.update(changed)
        self._take_predictions()
        self._store_predictions()

    def _take_predictions(self) -> None:
        """Move the predictions remembered since the last flush to the ones to store (on the loop)."""
        for outcomes in self._outcomes.all():
            taken = outcomes.take_unflushed()
            if taken:
                unstored = self._unstored.setdefault(outcomes.endpoint, [])
                unstored.extend(taken)
                del unstored[:-REMEMBER_PREDICTIONS]  # the registry down for long: as many as it keeps

    def _store_predictions(self) -> None:
        for endpoint in list(self._unstored):
            predictions = self._unstored[endpoint]
            self._registry.put_predictions(endpoint, predictions)
            self._outcomes.endpoint(endpoint).mark_stored([p.request_id for p in predictions])
            del self._unstored[endpoint]

    def _prune(self) -> None:
        self._registry.prune_evidence(RETENTION)
        endpoints = [outcomes.endpoint for outcomes in self._outcomes.all()]
        self._registry.prune_predictions(endpoints, REMEMBER_PREDICTIONS, RETENTION)

    def changes(self, rollouts: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """This process's state of each endpoint it has seen, where it differs from the last write."""
        states: dict[str, dict[str, Any]] = {}
        for outcomes in self._outcomes.all():
            states.setdefault(outcomes.endpoint, {})["outcomes"] = outcomes.state()
        for endpoint, label, comparison in self._shadows.comparisons():
            states.setdefault(endpoint, {}).setdefault("shadows", {})[label] = comparison.state()
        for endpoint, summary in rollouts.items():
            states.setdefault(endpoint, {})["rollout"] = summary
        for endpoint in self._written:  # a rollout judged here that ended leaves no summary behind
            states.setdefault(endpoint, {})
        return {name: state for name, state in states.items() if self._written.get(name) != state}

    def other_outcome_states(self, endpoint: str) -> dict[str, Mapping[str, Any]]:
        """The other processes' outcome states of ``endpoint``, by instance, as they last wrote them."""
        return {
            instance: state["outcomes"]
            for instance, state in self._others(endpoint).items()
            if "outcomes" in state
        }

    def outcome_state(self, endpoint: str) -> Mapping[str, Any]:
        """This process's live outcome state of ``endpoint`` (read it on the event loop)."""
        return self._outcomes.endpoint(endpoint).state()

    def ab_report(self, endpoint: str) -> dict[str, Any]:
        others = [state["outcomes"] for state in self._others(endpoint).values() if "outcomes" in state]
        return self._outcomes.endpoint(endpoint).report(others)

    def shadow_report(self, endpoint: str) -> dict[str, Any]:
        others = [state["shadows"] for state in self._others(endpoint).values() if "shadows" in state]
        return self._shadows.report(endpoint, others)

    def rollout_status(self, endpoint: str) -> dict[str, Any] | None:
        """The judge's evidence as the judging process last wrote it (None before it judged)."""
        holder = self._registry.lease_holder(LEASE)
        if holder is None:
            return None
        state = self._others(endpoint).get(holder[0], {})
        summary = state.get("rollout")
        return None if summary is None else dict(summary)

    def _others(self, endpoint: str) -> dict[str, dict[str, Any]]:
        return self._registry.evidence(endpoint, besides=self.instance)
