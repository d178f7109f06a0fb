"""The rollout controller: every second, judge each running rollout on this server's outcomes and
advance it, roll it back, or let it run.

Writes go through the endpoint's revision (optimistic concurrency): when several servers or
workers judge the same rollout, the first decision wins and the others' writes are refused as
stale, then re-judged against the new revision. Each process judges the traffic it served.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from modelport.control.endpoints import EndpointChanges
from modelport.control.rollout_judge import RolloutJudge, Verdict
from modelport.core.errors import Conflict, ModelportError
from modelport.core.rollout import RolloutPlan
from modelport.monitoring.book import OutcomeBook
from modelport.registry.catalog import Registry
from modelport.registry.records import Endpoint

__all__ = ["RolloutController"]

log = logging.getLogger(__name__)


class RolloutController:
    def __init__(
        self,
        registry: Registry,
        outcomes: OutcomeBook,
        interval_s: float = 1.0,
        clock: Callable[[], float] = time.time,
        load_failures: Callable[[], Mapping[str, str]] = dict,
    ) -> None:
        """``load_failures``: this server's versions (``model:version``) that failed to load, with why."""
        self._registry = registry
        self._load_failures = load_failures
        self._outcomes = outcomes
        self._interval_s = interval_s
        self._clock = clock
        self._changes = EndpointChanges(registry, "rollout-controller", clock)
        self._judges: dict[str, tuple[float, RolloutJudge]] = {}
        """Endpoint → (start time of the rollout it judges, judge): a new rollout gets a new judge."""

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("rollout controller step failed")
            await asyncio.sleep(self._interval_s)

    async def tick(self) -> None:
        endpoints = await asyncio.to_thread(self._registry.list_endpoints)
        running = {e.name: e for e in endpoints if e.config.rollout is not None and e.config.rollout.running}
        for name in list(self._judges):
            if name not in running:
                del self._judges[name]
        for endpoint in running.values():
            await self._judge(endpoint)

    def status(self, name: str) -> dict[str, Any] | None:
        found = self._judges.get(name)
        return None if found is None else found[1].summary()

    async def _judge(self, endpoint: Endpoint) -> None:
        plan = endpoint.config.rollout
        if plan is None:
            return
        judge = self._judge_for(endpoint.name, plan)
        outcomes = self._outcomes.get(endpoint.name)
        if outcomes is not None:
            judge.feed(outcomes.events_since(judge.cursor))
        verdict = judge.verdict(plan, self._clock())
        failure = self._load_failures().get(str(plan.candidate))
        if failure is not None:  # it would never get traffic: the endpoint keeps its previous routes
            verdict = Verdict("rollback", f"{plan.candidate} could not be loaded: {failure}")
        try:
            if verdict.action == "advance":
                await asyncio.to_thread(self._changes.advance_rollout, endpoint.name, endpoint.revision)
            elif verdict.action == "rollback":
                log.warning("rolling back %s: %s", endpoint.name, verdict.reason)
                await asyncio.to_thread(
                    self._changes.roll_back_rollout, endpoint.name, endpoint.revision, verdict.reason
                )
        except Conflict:
            pass  # someone else changed the endpoint first; judge it again next tick
        except ModelportError as error:
            log.error("rollout of %s: %s", endpoint.name, error.message)

    def _judge_for(self, name: str, plan: RolloutPlan) -> RolloutJudge:
        found = self._judges.get(name)
        if found is None or found[0] != plan.started_at:
            found = self._judges[name] = (plan.started_at, RolloutJudge(plan))
        return found[1]
