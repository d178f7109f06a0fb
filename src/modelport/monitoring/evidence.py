"""The outcomes of one variant under one endpoint revision, as the rollout judge reads them.

Kept as sufficient statistics of the guardrails' outcomes, so that the judge can merge what every
server process saw: request and failure counts, a latency sketch (the slowness test's outcome is
"slower than a threshold", a bucket boundary of the sketch), and how many judged requests had each
share of rows predicted wrong. Counts only grow: the difference between two looks at one process's
evidence is the multiset of outcomes it saw in between (``since``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelport.monitoring.sketches import LatencySketch

__all__ = ["RevisionEvidence"]


@dataclass
class RevisionEvidence:
    requests: int = 0
    failures: int = 0
    latency: LatencySketch = field(default_factory=LatencySketch)
    wrong: dict[float, int] = field(default_factory=dict)
    """Judged requests by the share of their rows predicted wrong."""

    def add_request(self, failed: bool, latency_s: float) -> None:
        self.requests += 1
        self.failures += failed
        self.latency.add(latency_s)

    def add_feedback(self, wrong_share: float) -> None:
        self.wrong[wrong_share] = self.wrong.get(wrong_share, 0) + 1

    def since(self, earlier: RevisionEvidence) -> RevisionEvidence:
        """What was added after ``earlier`` (an earlier look at the same evidence)."""
        buckets = {i: n - earlier.latency.buckets.get(i, 0) for i, n in self.latency.buckets.items()}
        wrong = {share: n - earlier.wrong.get(share, 0) for share, n in self.wrong.items()}
        return RevisionEvidence(
            self.requests - earlier.requests,
            self.failures - earlier.failures,
            LatencySketch(
                self.latency.zero - earlier.latency.zero, {i: n for i, n in buckets.items() if n > 0}
            ),
            {share: n for share, n in wrong.items() if n > 0},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "failures": self.failures,
            "latency": self.latency.to_json(),
            "wrong": {repr(share): n for share, n in list(self.wrong.items())},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RevisionEvidence:
        wrong = {float(share): int(n) for share, n in data["wrong"].items()}
        return cls(
            int(data["requests"]), int(data["failures"]), LatencySketch.from_json(data["latency"]), wrong
        )
