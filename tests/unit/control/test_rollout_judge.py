"""The rollout judge on simulated outcome streams (fixed seeds)."""

from __future__ import annotations

import numpy as np

from modelport.control.rollout_judge import RolloutJudge
from modelport.core.rollout import RolloutPlan
from modelport.core.targets import Target
from modelport.monitoring.outcomes import OutcomeEvent

PLAN = RolloutPlan(
    Target.parse("m:1"), Target.parse("m:2"), min_requests=50, min_seconds=5, step_started_at=0
)


def stream(
    n: int,
    base_fail: float,
    canary_fail: float,
    canary_latency: float = 0.001,
    kind: str = "request",
    seed: int = 0,
) -> list[OutcomeEvent]:
    rng = np.random.default_rng(seed)
    events = []
    for i in range(n):
        canary = i % 2 == 1
        failed = bool(rng.random() < (canary_fail if canary else base_fail))
        latency = (canary_latency if canary else 0.001) * (1 + 0.1 * rng.random())
        events.append(OutcomeEvent(i + 1, "m:2" if canary else "m:1", kind, failed, latency))
    return events


def test_a_clearly_worse_canary_is_rolled_back() -> None:
    judge = RolloutJudge(PLAN)
    judge.feed(stream(4000, 0.01, 0.10))
    verdict = judge.verdict(PLAN, now=100)
    assert verdict.action == "rollback" and "error rate" in verdict.reason


def test_an_equal_canary_advances_once_the_step_has_enough_requests_and_time() -> None:
    judge = RolloutJudge(PLAN)
    judge.feed(stream(60, 0.01, 0.01))
    assert judge.verdict(PLAN, now=1).action == "hold"  # 30 canary requests, 1 s: not yet
    judge.feed(stream(200, 0.01, 0.01, seed=1))
    assert judge.verdict(PLAN, now=1).action == "hold"  # enough requests, too soon
    assert judge.verdict(PLAN, now=6).action == "advance"


def test_the_last_step_needs_evidence_an_equal_canary_gets_and_a_slightly_worse_one_does_not() -> None:
    last = RolloutPlan(
        Target.parse("m:1"), Target.parse("m:2"), steps=(50, 100), min_requests=50, min_seconds=0
    )
    equal = RolloutJudge(last)
    equal.feed(stream(6000, 0.0, 0.0))
    assert equal.verdict(last, now=1).action == "advance"
    slightly_worse = RolloutJudge(last)  # 1.5 points worse: inside the 2-point margin, outside the tolerance
    slightly_worse.feed(stream(20_000, 0.01, 0.025, seed=3))
    verdict = slightly_worse.verdict(last, now=1)
    assert verdict.action == "hold" and "not worse" in verdict.reason


def test_a_slower_canary_is_rolled_back_on_latency() -> None:
    judge = RolloutJudge(PLAN)
    judge.feed(stream(3000, 0.0, 0.0, canary_latency=0.005))
    verdict = judge.verdict(PLAN, now=100)
    assert verdict.action == "rollback" and "latency" in verdict.reason


def test_wrong_predictions_from_feedback_roll_back() -> None:
    judge = RolloutJudge(PLAN)
    judge.feed(stream(3000, 0.05, 0.30, kind="feedback"))
    verdict = judge.verdict(PLAN, now=100)
    assert verdict.action == "rollback" and "wrong predictions" in verdict.reason


def test_each_step_counts_its_own_requests() -> None:
    judge = RolloutJudge(PLAN)
    judge.feed(stream(200, 0.0, 0.0))
    assert judge.verdict(PLAN, now=10).action == "advance"
    next_step = PLAN.advanced(now=10)
    assert judge.verdict(next_step, now=20).action == "hold"
