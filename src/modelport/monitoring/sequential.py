"""Sequential canary-vs-baseline tests and the confidence intervals shown in reports.

Sequential test (``SequentialComparison``)
------------------------------------------
Each observation is a Bernoulli outcome of one variant: ``failure=True`` for an error, a latency
over its threshold, or a wrong prediction. Let ``d = p_canary - p_baseline`` be the absolute
difference of the failure rates.

*Pairing.* The i-th baseline observation is paired with the i-th canary observation (first in,
first out). Observations of the busier side wait in a bounded backlog; when it overflows, the
oldest waiting ones are dropped, which depends on arrival order only, never on outcomes, so it
keeps the test valid (and keeps the two sides of a pair close in time). Each pair gives
``D = canary_failed - baseline_failed`` in {-1, 0, 1} with ``E[D] = d``, however the two sides
depend on each other. Concordant pairs (``D = 0``) carry no evidence of a difference but do
carry evidence about its size, so unlike a discordant-pairs SPRT no baseline rate has to be
assumed to turn the absolute margins into hypotheses.

*Two one-sided tests by betting* (Shafer & Vovk; Waudby-Smith & Ramdas 2023, "Estimating means
of bounded random variables by betting"):

- reject: H_R is ``d <= reject_margin``. The wealth ``K_n = prod(1 + l_i * (D_i - reject_margin))``
  with bets ``0 <= l_i <= 1 / (2 * (1 + reject_margin))`` chosen from earlier pairs only is a
  non-negative supermartingale under H_R, so by Ville's inequality
  ``P(sup_n K_n >= 1/alpha) <= alpha``. The canary is rejected when ``K_n >= 1/alpha``.
- accept: H_A is ``d >= accept_tolerance``, the same construction on
  ``accept_tolerance - D_i``; accepted when its wealth reaches ``1/beta``.

Guarantees, for independent pairs with constant rates, at every look and with no fixed horizon
(peeking after each observation is allowed):

- ``P(reject | d <= reject_margin) <= alpha``: a canary within the margin is rolled back
  wrongly at most ``alpha`` of the time;
- ``P(accept | d >= accept_tolerance) <= beta``: a canary worse than the tolerance is promoted
  at most ``beta`` of the time.

A canary between the two (the gray zone) may stay at ``"continue"`` for long: callers cap the
run and treat ``"continue"`` at the cap as "not accepted". The first decision is final.

The bets are the approximate growth-rate-optimal plug-in (aGRAPA): ``l_i = E[X] / E[X^2]`` for
the bet's payoff ``X``, both moments estimated from the pairs before ``i`` plus a small prior that
starts in the gray zone (so no early bet on either side), then clipped. The bets only change how
fast a decision comes, never the guarantees. Because a bet depends on running sums only, a block
of pairs is processed with numpy prefix sums; ``observe`` and ``observe_many`` decide identically.

Intervals (fixed sample, for reports)
-------------------------------------
``proportion_interval`` is the Wilson score interval. ``difference_interval`` is Newcombe's hybrid
score interval (method 10 of Newcombe 1998, no continuity correction) built from the two Wilson
intervals. ``significant_difference`` is true when that interval excludes zero. These hold at one
pre-planned look; looking repeatedly and stopping on significance inflates their error, which is
what ``SequentialComparison`` is for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from modelport.core.errors import InvalidInput

__all__ = [
    "Decision",
    "SequentialComparison",
    "Variant",
    "difference_interval",
    "proportion_interval",
    "significant_difference",
]

Variant = Literal["baseline", "canary"]
Decision = Literal["continue", "accept", "reject"]

_VARIANTS: tuple[Variant, Variant] = ("baseline", "canary")
_BET_FRACTION = 0.5  # share of the largest safe bet ever staked: bounds the loss of a bad streak
_PRIOR_PAIRS = 20.0  # weight, in pairs, of the prior moments behind the first bets
_PRIOR_DISCORDANT = 0.1  # prior share of discordant pairs (E[D^2])


@dataclass
class _Bettor:
    """One one-sided test of H0 ``sign * (d - null) <= 0``, betting on the payoff ``sign * (D - null)``."""

    null: float
    sign: float
    log_threshold: float
    log_wealth: float = 0.0

    def wealth_path(
        self, pairs: NDArray[np.float64], mean: NDArray[np.float64], second: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Log wealth after each pair, given the prior-smoothed moments of D before each pair."""
        payoff = self.sign * (pairs - self.null)
        expected = self.sign * (mean - self.null)
        expected_sq = second - 2.0 * self.null * mean + self.null**2
        cap = _BET_FRACTION / (1.0 + self.sign * self.null)
        bet = np.clip(expected / expected_sq, 0.0, cap)
        return self.log_wealth + np.cumsum(np.log1p(bet * payoff))


class SequentialComparison:
    """Anytime-valid canary-vs-baseline test on failure rates; see the module docstring.

    Not thread-safe: callers serialise ``observe`` calls.
    """

    def __init__(
        self,
        alpha: float = 0.05,
        beta: float = 0.2,
        reject_margin: float = 0.02,
        accept_tolerance: float = 0.005,
        max_backlog: int = 10_000,
    ) -> None:
        _check_parameters(alpha, beta, reject_margin, accept_tolerance, max_backlog)
        self.alpha = alpha
        self.beta = beta
        self.reject_margin = reject_margin
        self.accept_tolerance = accept_tolerance
        self.max_backlog = max_backlog
        self._reject = _Bettor(reject_margin, 1.0, math.log(1.0 / alpha))
        self._accept = _Bettor(accept_tolerance, -1.0, math.log(1.0 / beta))
        self._prior_mean = (reject_margin + accept_tolerance) / 2.0
        self._observations = {"baseline": 0, "canary": 0}
        self._failures = {"baseline": 0, "canary": 0}
        self._backlog: NDArray[np.bool_] = np.zeros(0, dtype=np.bool_)
        self._backlog_variant: Variant = "baseline"
        self._pairs = 0
        self._tested = 0  # pairs that entered the test (all pairs up to the decision)
        self._sum = 0.0
        self._sum_sq = 0.0
        self._decision: Decision = "continue"
        self._decided_at: int | None = None

    @property
    def pairs(self) -> int:
        """Pairs formed so far (including any formed after the decision)."""
        return self._pairs

    @property
    def decided_at(self) -> int | None:
        """The number of pairs at which the test decided, or None while it continues."""
        return self._decided_at

    def decision(self) -> Decision:
        """``"continue"`` until the evidence is enough, then ``"accept"`` or ``"reject"`` for good."""
        return self._decision

    def observe(self, variant: Variant, failure: bool) -> Decision:
        """Record one outcome of ``variant`` and return the decision so far."""
        return self.observe_many(variant, np.array([bool(failure)]))

    def observe_many(self, variant: Variant, failures: ArrayLike) -> Decision:
        """Record outcomes of ``variant`` in arrival order (vectorised; same result as one by one)."""
        if variant not in _VARIANTS:
            raise InvalidInput(f"variant must be 'baseline' or 'canary', not {variant!r}")
        outcomes = np.asarray(failures, dtype=np.bool_).reshape(-1)
        self._observations[variant] += int(outcomes.size)
        self._failures[variant] += int(np.count_nonzero(outcomes))
        baseline, canary = self._pair_up(variant, outcomes)
        if baseline.size:
            self._pairs += int(baseline.size)
            self._consume(canary.astype(np.float64) - baseline.astype(np.float64))
        return self._decision

    def _pair_up(
        self, variant: Variant, outcomes: NDArray[np.bool_]
    ) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        """Match new outcomes with the other side's backlog (FIFO); returns (baseline, canary)."""
        if self._backlog.size == 0 or self._backlog_variant == variant:
            self._backlog_variant = variant
            self._backlog = np.concatenate((self._backlog, outcomes))[-self.max_backlog :]
            return np.zeros(0, np.bool_), np.zeros(0, np.bool_)
        n = min(self._backlog.size, outcomes.size)
        waiting, self._backlog = self._backlog[:n], self._backlog[n:]
        if outcomes.size > n:
            self._backlog_variant = variant
            self._backlog = outcomes[n:][-self.max_backlog :].copy()
        new = outcomes[:n]
        return (new, waiting) if variant == "baseline" else (waiting, new)

    def _consume(self, pairs: NDArray[np.float64]) -> None:
        """Advance both wealth processes over a block of pair differences, stopping at a decision."""
        if self._decision != "continue":
            return
        before = self._tested + np.arange(pairs.size, dtype=np.float64)
        sum_before = self._sum + _exclusive_cumsum(pairs)
        sq_before = self._sum_sq + _exclusive_cumsum(pairs * pairs)
        weight = _PRIOR_PAIRS + before
        mean = (_PRIOR_PAIRS * self._prior_mean + sum_before) / weight
        second = (_PRIOR_PAIRS * _PRIOR_DISCORDANT + sq_before) / weight
        reject_path = self._reject.wealth_path(pairs, mean, second)
        accept_path = self._accept.wealth_path(pairs, mean, second)
        stop_reject = _first_at_least(reject_path, self._reject.log_threshold)
        stop_accept = _first_at_least(accept_path, self._accept.log_threshold)
        stop = min(stop_reject, stop_accept, pairs.size - 1)
        self._tested += stop + 1
        self._sum = float(sum_before[stop] + pairs[stop])
        self._sum_sq = float(sq_before[stop] + pairs[stop] ** 2)
        self._reject.log_wealth = float(reject_path[stop])
        self._accept.log_wealth = float(accept_path[stop])
        if stop_reject <= stop:  # a tie goes to the safe side
            self._decide("reject")
        elif stop_accept <= stop:
            self._decide("accept")

    def _decide(self, decision: Decision) -> None:
        self._decision = decision
        self._decided_at = self._tested

    def summary(self) -> dict[str, Any]:
        """A JSON-ready account of the test: counts, rates, evidence and the decision."""
        base_n, canary_n = self._observations["baseline"], self._observations["canary"]
        base_f, canary_f = self._failures["baseline"], self._failures["canary"]
        low, high = difference_interval(canary_f, canary_n, base_f, base_n)
        return {
            "decision": self._decision,
            "decided_at_pairs": self._decided_at,
            "pairs": self._pairs,
            "alpha": self.alpha,
            "beta": self.beta,
            "reject_margin": self.reject_margin,
            "accept_tolerance": self.accept_tolerance,
            "baseline": {"observations": base_n, "failures": base_f, "rate": _rate(base_f, base_n)},
            "canary": {"observations": canary_n, "failures": canary_f, "rate": _rate(canary_f, canary_n)},
            "difference_interval_95": [low, high],
            "evidence": {
                "reject": math.exp(min(self._reject.log_wealth, 700.0)),
                "reject_threshold": 1.0 / self.alpha,
                "accept": math.exp(min(self._accept.log_wealth, 700.0)),
                "accept_threshold": 1.0 / self.beta,
            },
        }


def _check_parameters(
    alpha: float, beta: float, reject_margin: float, accept_tolerance: float, max_backlog: int
) -> None:
    if not (0.0 < alpha < 1.0 and 0.0 < beta < 1.0):
        raise InvalidInput(f"alpha and beta must be in (0, 1), got {alpha} and {beta}")
    if not 0.0 <= accept_tolerance < reject_margin < 1.0:
        raise InvalidInput(
            f"need 0 <= accept_tolerance < reject_margin < 1, got {accept_tolerance} and {reject_margin}"
        )
    if max_backlog < 1:
        raise InvalidInput(f"max_backlog must be positive, got {max_backlog}")


def _exclusive_cumsum(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Sums of the values strictly before each position."""
    out = np.empty_like(values)
    if values.size:
        out[0] = 0.0
        np.cumsum(values[:-1], out=out[1:])
    return out


def _first_at_least(path: NDArray[np.float64], threshold: float) -> int:
    """Index of the first element >= threshold, or ``len(path)`` if none."""
    hits = np.flatnonzero(path >= threshold)
    return int(hits[0]) if hits.size else int(path.size)


def _rate(successes: int, n: int) -> float | None:
    return successes / n if n else None


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise InvalidInput(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf((1.0 + confidence) / 2.0)


def _check_counts(successes: int, n: int) -> None:
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise InvalidInput(f"need 0 <= successes <= n, got {successes} of {n}")


def proportion_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; ``(0.0, 1.0)`` when ``n == 0``.

    Unlike the normal (Wald) interval it stays inside [0, 1] and keeps close to its nominal
    coverage for small ``n`` and rates near 0 or 1, as failure rates usually are.
    """
    _check_counts(successes, n)
    z = _z(confidence)
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def difference_interval(
    a_successes: int, a_n: int, b_successes: int, b_n: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Newcombe's hybrid score interval (1998, method 10) for ``p_a - p_b``.

    Combines the two Wilson intervals (no continuity correction); good coverage at small counts
    and rates near 0, where the normal approximation is poor. A side with ``n == 0`` contributes
    its whole [0, 1] range, so the interval is wide rather than an error.
    """
    a_low, a_high = proportion_interval(a_successes, a_n, confidence)
    b_low, b_high = proportion_interval(b_successes, b_n, confidence)
    p_a = a_successes / a_n if a_n else (a_low + a_high) / 2.0
    p_b = b_successes / b_n if b_n else (b_low + b_high) / 2.0
    difference = p_a - p_b
    low = difference - math.sqrt((p_a - a_low) ** 2 + (b_high - p_b) ** 2)
    high = difference + math.sqrt((a_high - p_a) ** 2 + (p_b - b_low) ** 2)
    return max(-1.0, low), min(1.0, high)


def significant_difference(
    a_successes: int, a_n: int, b_successes: int, b_n: int, confidence: float = 0.95
) -> bool:
    """True when the Newcombe interval for ``p_a - p_b`` excludes zero (one fixed-sample look)."""
    low, high = difference_interval(a_successes, a_n, b_successes, b_n, confidence)
    return low > 0.0 or high < 0.0
