"""The rollout controller: every second, the process holding the rollout lease judges each running
rollout on the outcomes of every server process (merged, ``rollout_evidence.py``) and advances it,
rolls it back, or lets it run. The other processes stand by, and the first to find the lease
expired (its holder stopped renewing it: stopped or dead) takes over with new judges that read all
the evidence since each rollout began.

Every decision is written with the endpoint's revision it was judged at (optimistic concurrency)
and its decision key, the rollout (its first revision) and step it was made for: a decision for a
state that has changed since, or for a step already taken, is refused and never applied twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from modelport.control.endpoints import EndpointChanges
from modelport.control.rollout_evidence import EvidenceStream
from modelport.control.rollout_judge import RolloutJudge, Verdict
from modelport.core.errors import Conflict, ModelportError
from modelport.registry.catalog import Registry
from modelport.registry.records import Endpoint

__all__ = ["LEASE", "LEASE_S", "RolloutController"]

log = logging.getLogger(__name__)

LEASE = "rollout-judge"
LEASE_S = 5.0
"""How long the lease lasts unrenewed: how long rollouts wait for a judge after their judge dies."""

States = Callable[[str], Mapping[str, Mapping[str, Any]]]


class RolloutController:
    def __init__(
        self,
        registry: Registry,
        evidence: States,
        local: Callable[[str], Mapping[str, Any]],
        instance: str,
        interval_s: float = 1.0,
        clock: Callable[[], float] = time.time,
        load_failures: Callable[[], Mapping[str, str]] = dict,
        lease_s: float = LEASE_S,
    ) -> None:
        """``evidence``: an endpoint's outcome states written by the other server processes, by
        instance (``EndpointOutcomes.state()``; read in a thread); ``local``: this process's live one
        (read on the event loop); ``instance``: this process; ``load_failures``: this server's
        versions (``model:version``) that failed to load, with why."""
        self._registry = registry
        self._evidence = evidence
        self._local = local
        self._instance = instance
        self._load_failures = load_failures
        self._interval_s = interval_s
        self._lease_s = lease_s
        self._clock = clock
        self._changes = EndpointChanges(registry, "rollout-controller", clock)
        self._judges: dict[str, tuple[int, RolloutJudge, EvidenceStream]] = {}
        """Endpoint → (first revision of the rollout judged, judge, evidence): new ones for a new rollout."""
        self.deciding = False
        """Whether this process holds the lease (judges and decides)."""

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self.tick()
                except Exception:
                    log.exception("rollout controller step failed")
                await asyncio.sleep(self._interval_s)
        finally:
            if self.deciding:  # a clean stop hands over at once
                self._registry.release_lease(LEASE, self._instance)

    async def tick(self) -> None:
        held = await asyncio.to_thread(self._registry.hold_lease, LEASE, self._instance, self._lease_s)
        if held != self.deciding:
            log.info("this server %s the rollout judge", "is now" if held else "is no longer")
        self.deciding = held
        if not held:
            self._judges.clear()
            return
        endpoints = await asyncio.to_thread(self._registry.list_endpoints)
        running = {e.name: e for e in endpoints if e.config.rollout is not None and e.config.rollout.running}
        for name in list(self._judges):
            if name not in running:
                del self._judges[name]
        for endpoint in running.values():
            await self._judge(endpoint)

    def status(self, name: str) -> dict[str, Any] | None:
        return self.summaries().get(name)

    def summaries(self) -> dict[str, dict[str, Any]]:
        """The evidence of every rollout this process judges, by endpoint, with who judges it."""
        judge = {"instance": self._instance, "pid": os.getpid()}
        return {
            name: {**j.summary(), "rollout_started_revision": first, "judged_by": judge}
            for name, (first, j, _) in self._judges.items()
        }

    async def _judge(self, endpoint: Endpoint) -> None:
        plan = endpoint.config.rollout
        if plan is None:
            return
        found = self._judges.get(endpoint.name)
        if found is None or found[0] != plan.started_revision:
            stream = EvidenceStream(plan.started_revision)
            found = self._judges[endpoint.name] = (
                plan.started_revision,
                RolloutJudge(plan, endpoint.revision),
                stream,
            )
        _, judge, stream = found
        judge.follow(plan, endpoint.revision)
        states = {
            **await asyncio.to_thread(self._evidence, endpoint.name),
            self._instance: self._local(endpoint.name),
        }
        judge.feed(stream.events(states, time.monotonic()))
        verdict = judge.verdict(plan, self._clock())
        failure = self._load_failures().get(str(plan.candidate))
        if failure is not None:  # it would never get traffic: the endpoint keeps its previous routes
            verdict = Verdict("rollback", f"{plan.candidate} could not be loaded: {failure}")
        key = (plan.started_revision, plan.step)
        try:
            if verdict.action == "advance":
                await asyncio.to_thread(self._changes.advance_rollout, endpoint.name, endpoint.revision, key)
            elif verdict.action == "rollback":
                log.warning("rolling back %s: %s", endpoint.name, verdict.reason)
                await asyncio.to_thread(
                    self._changes.roll_back_rollout, endpoint.name, endpoint.revision, verdict.reason, key
                )
        except Conflict:
            pass  # someone else changed the endpoint first; judge it again next tick
        except ModelportError as error:
            log.error("rollout of %s: %s", endpoint.name, error.message)
