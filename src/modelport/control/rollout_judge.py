"""Deciding a rollout's next move from the outcomes observed since it started: pure logic.

Three guardrails compare the candidate with the baseline, each with its own sequential test
(``SequentialComparison``): failed requests, requests slower than a threshold (the p99 of the
baseline's first 1,000 requests), and wrong predictions as ground truth arrives (one outcome per
judged request: the share of its rows that were wrong). Outcomes are kept per version that
answered (``iris:3``, the plan's pinned targets), and only those served since the rollout's first
revision count: a new rollout starts with no evidence.

The plan's alpha is for the three guardrails together: each test gets a third (Bonferroni), so a
candidate within every margin is rolled back at most alpha of the time. The tests keep watching
until the plan ends, and any reject rolls the plan back at once, even after an accept. A step that
has seen enough candidate requests for long enough moves on to the next, except the move to 100%:
that one also needs the error-rate and latency tests to have accepted the candidate (each wrongly
at most beta of the time). A plan that reaches its ``max_seconds`` or ``max_requests`` without
that is rolled back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from modelport.core.rollout import Guardrails, RolloutPlan
from modelport.monitoring.outcomes import OutcomeEvent
from modelport.monitoring.sequential import SequentialComparison, Variant

__all__ = ["LATENCY_SAMPLE", "PAIR_WAIT_S", "RolloutJudge", "Verdict", "guardrail_tests"]

LATENCY_SAMPLE = 1_000
"""Baseline requests that fix the slowness threshold (their p99, about the 10th slowest)."""
PAIR_WAIT_S = 60.0
"""How long an outcome waits for one of the other side to pair with; older ones are dropped."""


@dataclass(frozen=True, slots=True)
class Verdict:
    action: str
    """``hold``, ``advance`` or ``rollback``."""
    reason: str = ""


def guardrail_tests(rails: Guardrails) -> dict[str, SequentialComparison]:
    """One test per guardrail, sharing ``rails.alpha``: each rejects beyond its margin and accepts
    within half of it (a candidate in between just waits)."""
    margins = {
        "error rate": rails.max_error_increase,
        "latency": rails.max_slow_increase,
        "wrong predictions": rails.max_wrong_increase,
    }
    return {
        name: SequentialComparison(
            alpha=rails.alpha / len(margins),
            beta=rails.beta,
            reject_margin=margin,
            accept_tolerance=margin / 2,
            max_wait_s=PAIR_WAIT_S,
        )
        for name, margin in margins.items()
    }


class RolloutJudge:
    def __init__(self, plan: RolloutPlan, revision: int = 0) -> None:
        """``revision``: the endpoint's revision as the judge starts; candidate requests count toward
        the current step from there (a judge taking over mid-step does not count the step's earlier
        requests, so it never advances early)."""
        self._baseline, self._candidate = str(plan.baseline), str(plan.candidate)
        self._since_revision = plan.started_revision
        self._tests = guardrail_tests(plan.guardrails)
        self._baseline_latencies: list[float] = []
        self._slow_after: float | None = None
        self._step = plan.step
        self._step_revision = revision
        self.candidate_requests_in_step = 0
        self.candidate_requests = 0

    def follow(self, plan: RolloutPlan, revision: int) -> None:
        """The endpoint is at ``revision`` with ``plan``: a new step counts requests from there."""
        if plan.step != self._step:
            self._step, self._step_revision, self.candidate_requests_in_step = plan.step, revision, 0

    def feed(self, events: Iterable[OutcomeEvent]) -> None:
        for event in events:
            side = self._side(event.variant)
            if side is None or event.revision < self._since_revision:
                continue  # another version, or served before this rollout began
            at = event.at
            if event.kind == "feedback":
                self._tests["wrong predictions"].observe(side, event.failed, at)
                continue
            self._tests["error rate"].observe(side, event.failed, at)
            self._observe_latency(side, event.latency_s, at)
            if side == "canary":
                self.candidate_requests_in_step += event.revision >= self._step_revision
                self.candidate_requests += 1

    def verdict(self, plan: RolloutPlan, now: float) -> Verdict:
        if plan.step != self._step:  # a new step counts its own requests
            self._step, self.candidate_requests_in_step = plan.step, 0
        for name, test in self._tests.items():
            if test.decision() == "reject":
                return Verdict("rollback", f"{name} of {plan.candidate} is worse than {plan.baseline}'s")
        rails = plan.guardrails
        if now - plan.started_at >= rails.max_seconds or self.candidate_requests >= rails.max_requests:
            return Verdict(
                "rollback",
                f"{plan.candidate} was not shown to be within the margins before the plan's limit "
                f"({rails.max_seconds:g} s or {rails.max_requests} candidate requests)",
            )
        enough = self.candidate_requests_in_step >= plan.min_requests
        if not enough or now - plan.step_started_at < plan.min_seconds:
            return Verdict("hold")
        if plan.steps[plan.step + 1] == 100 and not self._shown_not_worse():
            return Verdict("hold", "waiting for evidence that the candidate is not worse")
        return Verdict("advance")

    def _shown_not_worse(self) -> bool:
        """Going to 100% needs positive evidence, not just the absence of a breach: the error-rate
        and latency tests must have accepted (a candidate worse than half a margin rarely does)."""
        return all(self._tests[name].decision() == "accept" for name in ("error rate", "latency"))

    def summary(self) -> dict[str, object]:
        return {
            "candidate_requests_in_step": self.candidate_requests_in_step,
            "candidate_requests": self.candidate_requests,
            "slow_threshold_ms": None if self._slow_after is None else self._slow_after * 1000,
            "slow_threshold_sample": len(self._baseline_latencies),
            "guardrails": {name: test.summary() for name, test in self._tests.items()},
        }

    def _side(self, variant: str) -> Variant | None:
        if variant == self._baseline:
            return "baseline"
        return "canary" if variant == self._candidate else None

    def _observe_latency(self, side: Variant, latency_s: float, at: float) -> None:
        if self._slow_after is None:
            if side == "baseline":
                self._baseline_latencies.append(latency_s)
                if len(self._baseline_latencies) >= LATENCY_SAMPLE:
                    self._slow_after = float(np.percentile(self._baseline_latencies, 99))
            return
        self._tests["latency"].observe(side, latency_s > self._slow_after, at)
