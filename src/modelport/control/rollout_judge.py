"""Deciding a rollout's next move from the outcomes observed since it started: pure logic.

Three guardrails compare the candidate with the baseline, each with its own sequential test
(``SequentialComparison``): failed requests, requests slower than the baseline's p99 (the
threshold is learnt from the baseline's first requests), and wrong predictions as ground truth
arrives. Outcomes are kept per version that answered (``iris:3``, the plan's pinned targets), and
only those served since the rollout's first revision count: a new rollout starts with no evidence.
Any test that rejects rolls the plan back at once. Otherwise a step that has seen enough
candidate requests for long enough moves on to the next, except the move to 100%: that one also
needs the error-rate and latency tests to have accepted the candidate as not worse.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from modelport.core.rollout import RolloutPlan
from modelport.monitoring.outcomes import OutcomeEvent
from modelport.monitoring.sequential import SequentialComparison, Variant

__all__ = ["RolloutJudge", "Verdict"]

_LATENCY_SAMPLE = 100
"""Baseline requests that fix the slowness threshold (their p99)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    action: str
    """``hold``, ``advance`` or ``rollback``."""
    reason: str = ""


def _test(alpha: float, margin: float) -> SequentialComparison:
    """Reject beyond ``margin``; accept within half of it (a candidate in between just waits)."""
    return SequentialComparison(alpha=alpha, reject_margin=margin, accept_tolerance=margin / 2)


class RolloutJudge:
    def __init__(self, plan: RolloutPlan) -> None:
        self._baseline, self._candidate = str(plan.baseline), str(plan.candidate)
        self._since_revision = plan.started_revision
        rails = plan.guardrails
        self._tests = {
            "error rate": _test(rails.alpha, rails.max_error_increase),
            "latency": _test(rails.alpha, rails.max_slow_increase),
            "wrong predictions": _test(rails.alpha, rails.max_wrong_increase),
        }
        self._baseline_latencies: list[float] = []
        self._slow_after: float | None = None
        self._step = plan.step
        self.candidate_requests_in_step = 0
        self.cursor = 0

    def feed(self, events: Iterable[OutcomeEvent]) -> None:
        for event in events:
            self.cursor = max(self.cursor, event.seq)
            side = self._side(event.variant)
            if side is None or event.revision < self._since_revision:
                continue  # another version, or served before this rollout began
            if event.kind == "feedback":
                self._tests["wrong predictions"].observe(side, event.failed)
                continue
            self._tests["error rate"].observe(side, event.failed)
            self._observe_latency(side, event.latency_s)
            if side == "canary":
                self.candidate_requests_in_step += 1

    def verdict(self, plan: RolloutPlan, now: float) -> Verdict:
        if plan.step != self._step:  # a new step counts its own requests
            self._step, self.candidate_requests_in_step = plan.step, 0
        for name, test in self._tests.items():
            if test.decision() == "reject":
                return Verdict("rollback", f"{name} of {plan.candidate} is worse than {plan.baseline}'s")
        enough = self.candidate_requests_in_step >= plan.min_requests
        if not enough or now - plan.step_started_at < plan.min_seconds:
            return Verdict("hold")
        if plan.steps[plan.step + 1] == 100 and not self._shown_not_worse():
            return Verdict("hold", "waiting for evidence that the candidate is not worse")
        return Verdict("advance")

    def _shown_not_worse(self) -> bool:
        """Going to 100% needs positive evidence, not just the absence of a breach: the error-rate
        and latency tests must have accepted (a slightly worse candidate never gets there)."""
        return all(self._tests[name].decision() == "accept" for name in ("error rate", "latency"))

    def summary(self) -> dict[str, object]:
        return {
            "candidate_requests_in_step": self.candidate_requests_in_step,
            "slow_threshold_ms": None if self._slow_after is None else self._slow_after * 1000,
            "guardrails": {name: test.summary() for name, test in self._tests.items()},
        }

    def _side(self, variant: str) -> Variant | None:
        if variant == self._baseline:
            return "baseline"
        return "canary" if variant == self._candidate else None

    def _observe_latency(self, side: Variant, latency_s: float) -> None:
        if self._slow_after is None:
            if side == "baseline":
                self._baseline_latencies.append(latency_s)
                if len(self._baseline_latencies) >= _LATENCY_SAMPLE:
                    self._slow_after = float(np.percentile(self._baseline_latencies, 99))
            return
        self._tests["latency"].observe(side, latency_s > self._slow_after)
