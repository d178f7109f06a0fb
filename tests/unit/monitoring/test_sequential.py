"""Sequential canary test on simulated streams (fixed seeds) and the interval helpers."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest

from modelport.core import InvalidInput
from modelport.monitoring import (
    SequentialComparison,
    difference_interval,
    proportion_interval,
    significant_difference,
)

BLOCK = 500  # outcomes per side fed at a time, as a busy server would


@dataclass
class Outcome:
    decisions: Counter[str]
    decided_at: list[int]


def simulate(
    baseline_rate: float,
    canary_rate: float,
    runs: int,
    max_pairs: int,
    seed: int,
    reject_margin: float = 0.03,
    accept_tolerance: float = 0.01,
) -> Outcome:
    """Run the test on ``runs`` independent streams, each capped at ``max_pairs`` pairs."""
    rng = np.random.default_rng(seed)
    decisions: Counter[str] = Counter()
    decided_at: list[int] = []
    for _ in range(runs):
        test = SequentialComparison(reject_margin=reject_margin, accept_tolerance=accept_tolerance)
        for _ in range(0, max_pairs, BLOCK):
            test.observe_many("baseline", rng.random(BLOCK) < baseline_rate)
            test.observe_many("canary", rng.random(BLOCK) < canary_rate)
            if test.decision() != "continue":
                break
        decisions[test.decision()] += 1
        if test.decided_at is not None:
            decided_at.append(test.decided_at)
    return Outcome(decisions, decided_at)


def canary_test() -> SequentialComparison:
    return SequentialComparison(reject_margin=0.03, accept_tolerance=0.01)


def test_a_clearly_worse_canary_is_rejected_quickly() -> None:
    outcome = simulate(0.01, 0.10, runs=100, max_pairs=5_000, seed=1)
    assert outcome.decisions == Counter(reject=100)
    assert max(outcome.decided_at) <= 1_500  # pairs, i.e. at most 3,000 observations
    assert float(np.median(outcome.decided_at)) <= 400


def test_an_equal_canary_is_accepted_and_rarely_rejected() -> None:
    runs = 200
    outcome = simulate(0.02, 0.02, runs=runs, max_pairs=20_000, seed=2)
    assert outcome.decisions["accept"] >= 0.90 * runs
    assert outcome.decisions["reject"] <= 0.08 * runs


def test_a_canary_worse_than_the_tolerance_is_not_accepted() -> None:
    runs = 200
    outcome = simulate(0.02, 0.04, runs=runs, max_pairs=20_000, seed=3)
    assert outcome.decisions["accept"] <= 0.10 * runs


def test_a_canary_inside_the_reject_margin_is_not_rejected() -> None:
    runs = 200
    outcome = simulate(
        0.02, 0.03, runs=runs, max_pairs=20_000, seed=4, reject_margin=0.05, accept_tolerance=0.01
    )
    assert outcome.decisions["reject"] <= 0.08 * runs


def test_false_rejection_stays_below_alpha_at_the_margin_itself() -> None:
    runs = 200
    outcome = simulate(0.02, 0.05, runs=runs, max_pairs=20_000, seed=5)
    assert outcome.decisions["reject"] <= 0.08 * runs  # alpha = 0.05 plus simulation noise


def test_one_by_one_and_in_blocks_decide_identically() -> None:
    rng = np.random.default_rng(6)
    is_canary = rng.random(6_000) < 0.3  # uneven traffic: runs of one side, then the other
    failed = np.where(is_canary, rng.random(6_000) < 0.12, rng.random(6_000) < 0.02)
    single, blocks = canary_test(), canary_test()
    for canary, outcome in zip(is_canary, failed, strict=True):
        single.observe("canary" if canary else "baseline", bool(outcome))
    starts = np.flatnonzero(np.diff(is_canary.astype(int), prepend=-1))
    for start, end in zip(starts, [*starts[1:], is_canary.size], strict=True):
        blocks.observe_many("canary" if is_canary[start] else "baseline", failed[start:end])
    assert single.decision() == blocks.decision() == "reject"
    assert single.decided_at == blocks.decided_at
    assert single.pairs == blocks.pairs


def test_pairs_the_newest_waiting_outcome_across_uneven_traffic() -> None:
    test = SequentialComparison(max_backlog=100)
    test.observe_many("baseline", np.zeros(150, dtype=bool))  # the oldest 50 are dropped
    assert test.pairs == 0
    test.observe_many("canary", np.zeros(30, dtype=bool))
    assert test.pairs == 30
    test.observe_many("canary", np.zeros(100, dtype=bool))  # 70 pair up, 30 wait
    assert test.pairs == 100
    test.observe("baseline", False)
    assert test.pairs == 101
    summary = test.summary()
    assert summary["baseline"]["observations"] == 151
    assert summary["canary"]["observations"] == 130


def test_a_canary_is_compared_with_the_baseline_outcomes_just_before_it() -> None:
    """95/5 traffic; both variants step from 1 % to 10 % failures at the same moment (a shared
    dependency degrading). Pairing first in first out over a deep backlog compared canary outcomes
    after the step with baseline ones long before it, and rolled the equal canary back."""
    rng = np.random.default_rng(40)
    rejected = 0
    for _ in range(10):
        test = SequentialComparison(alpha=0.05 / 3, reject_margin=0.02, accept_tolerance=0.01)
        for block in range(800):  # 19 baseline requests, then one canary request
            rate = 0.01 if block < 200 else 0.10
            test.observe_many("baseline", rng.random(19) < rate)
            test.observe("canary", bool(rng.random() < rate))
        rejected += test.decision() == "reject"
    assert rejected <= 1  # the betting bound allows alpha / 3 = 1.7 %, i.e. about 0.2 of 10


def test_outcomes_too_old_to_pair_are_dropped() -> None:
    test = SequentialComparison(max_wait_s=60)
    test.observe_many("baseline", np.zeros(5, dtype=bool), at=0.0)
    test.observe("canary", False, at=61.0)
    assert test.pairs == 0
    test.observe("baseline", True, at=100.0)
    assert test.pairs == 1


def test_outcomes_may_be_fractions_between_0_and_1() -> None:
    test = canary_test()
    test.observe_many("baseline", [0.0, 0.25], at=1.0)
    test.observe_many("canary", [0.5, 1.0], at=1.0)
    summary = test.summary()
    assert summary["pairs"] == 2
    assert summary["canary"]["rate"] == pytest.approx(0.75)
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        test.observe("canary", 1.5)


def test_an_accepted_canary_that_turns_bad_is_still_rejected() -> None:
    """Equal until accepted, then failing 40 % of requests for 3,000 pairs: the reject test never stopped."""
    rng = np.random.default_rng(41)
    for _ in range(20):
        test = canary_test()
        while test.decision() == "continue":
            test.observe_many("baseline", rng.random(BLOCK) < 0.01)
            test.observe_many("canary", rng.random(BLOCK) < 0.01)
        assert test.decision() == "accept"
        for _ in range(6):
            test.observe_many("baseline", rng.random(BLOCK) < 0.01)
            test.observe_many("canary", rng.random(BLOCK) < 0.40)
        assert test.decision() == "reject"
        assert test.summary()["accepted_at_pairs"] is not None


def test_the_first_decision_is_final() -> None:
    test = canary_test()
    for _ in range(200):
        test.observe("baseline", False)
        test.observe("canary", True)
    assert test.decision() == "reject"
    decided_at = test.decided_at
    test.observe_many("baseline", np.ones(5_000, dtype=bool))
    test.observe_many("canary", np.zeros(5_000, dtype=bool))
    assert test.decision() == "reject"
    assert test.decided_at == decided_at


def test_continues_without_evidence() -> None:
    test = SequentialComparison()
    assert test.decision() == "continue"
    assert test.observe("canary", True) == "continue"
    summary = test.summary()
    assert summary["decision"] == "continue"
    assert summary["decided_at_pairs"] is None
    json.dumps(summary, allow_nan=False)


@pytest.mark.parametrize(
    "options",
    [{"alpha": 0.0}, {"beta": 1.0}, {"reject_margin": 0.01, "accept_tolerance": 0.02}, {"max_backlog": 0}],
)
def test_rejects_invalid_parameters(options: dict[str, float]) -> None:
    with pytest.raises(InvalidInput):
        SequentialComparison(**options)  # type: ignore[arg-type]


def test_rejects_an_unknown_variant() -> None:
    with pytest.raises(InvalidInput):
        SequentialComparison().observe("shadow", True)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("successes", "n", "expected"),
    [(8, 10, (0.4902, 0.9433)), (0, 10, (0.0, 0.2775)), (10, 10, (0.7225, 1.0)), (0, 0, (0.0, 1.0))],
)
def test_wilson_interval_known_values(successes: int, n: int, expected: tuple[float, float]) -> None:
    assert proportion_interval(successes, n) == pytest.approx(expected, abs=1e-4)


def test_wilson_interval_narrows_with_lower_confidence() -> None:
    low_90, high_90 = proportion_interval(8, 10, confidence=0.90)
    low_95, high_95 = proportion_interval(8, 10)
    assert low_95 < low_90 < 0.8 < high_90 < high_95


@pytest.mark.parametrize(
    ("counts", "expected"),
    [((56, 70, 48, 80), (0.0524, 0.3339)), ((9, 10, 3, 10), (0.1705, 0.8090))],  # Newcombe (1998), method 10
)
def test_newcombe_difference_interval_known_values(
    counts: tuple[int, int, int, int], expected: tuple[float, float]
) -> None:
    assert difference_interval(*counts) == pytest.approx(expected, abs=1e-4)


def test_significant_difference() -> None:
    assert significant_difference(9, 10, 3, 10)
    assert significant_difference(3, 10, 9, 10)
    assert not significant_difference(5, 10, 4, 10)
    assert not significant_difference(0, 0, 0, 0)


@pytest.mark.parametrize(("successes", "n", "confidence"), [(11, 10, 0.95), (-1, 10, 0.95), (1, 10, 1.0)])
def test_interval_rejects_invalid_input(successes: int, n: int, confidence: float) -> None:
    with pytest.raises(InvalidInput):
        proportion_interval(successes, n, confidence)
