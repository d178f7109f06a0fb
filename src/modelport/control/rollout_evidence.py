"""What the rollout judge has not seen yet, merged over every server process's evidence.

Each process publishes cumulative ``RevisionEvidence`` per endpoint revision and variant (its
``EndpointOutcomes.state()``). At each look, the difference from the last look at the same
process is the multiset of outcomes it saw in between; the outcomes of all processes are handed to
the judge in a random order drawn without looking at them. Under the guardrails' assumption of
independent requests, a random order of a multiset has the distribution of the order they came in
(exchangeability), so the sequential tests stay valid; the pairs are close in time to within one
look (a second), instead of one request. A process is counted once: by its last state, however
often it was read.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from modelport.monitoring.evidence import RevisionEvidence
from modelport.monitoring.outcomes import OutcomeEvent

__all__ = ["EvidenceStream"]


class EvidenceStream:
    """The new outcomes of variants served since ``since_revision``, at each look."""

    def __init__(self, since_revision: int, seed: int | None = None) -> None:
        self._since = since_revision
        self._seen: dict[tuple[str, int, str], RevisionEvidence] = {}
        self._random = random.Random(seed)
        self._seq = 0

    def events(self, states: Mapping[str, Mapping[str, Any]], at: float) -> list[OutcomeEvent]:
        """The outcomes added to ``states`` (instance -> ``EndpointOutcomes.state()``) since the last
        look, as events seen at ``at``, in a random order."""
        events: list[OutcomeEvent] = []
        for instance, state in states.items():
            for revision_key, variants in state.get("revisions", {}).items():
                revision = int(revision_key)
                if revision < self._since:
                    continue
                for variant, data in variants.items():
                    now = RevisionEvidence.from_json(data)
                    key = (instance, revision, variant)
                    new = now.since(self._seen.get(key, RevisionEvidence()))
                    self._seen[key] = now
                    events += self._outcomes(variant, revision, new, at)
        self._random.shuffle(events)
        numbered = []
        for event in events:
            self._seq += 1
            numbered.append(
                OutcomeEvent(
                    self._seq, event.variant, event.kind, event.failed, event.latency_s, event.revision, at
                )
            )
        return numbered

    def _outcomes(self, variant: str, revision: int, new: RevisionEvidence, at: float) -> list[OutcomeEvent]:
        failed = [1.0] * new.failures + [0.0] * max(0, new.requests - new.failures)
        latencies = new.latency.values()
        self._random.shuffle(failed)
        self._random.shuffle(latencies)
        requests = [
            OutcomeEvent(0, variant, "request", f, latency, revision, at)
            for f, latency in zip(failed, latencies, strict=False)
        ]
        feedback = [
            OutcomeEvent(0, variant, "feedback", share, 0.0, revision, at)
            for share, count in new.wrong.items()
            for _ in range(count)
        ]
        return requests + feedback
