"""Sequential canary-vs-baseline tests and the confidence intervals shown in reports.

Sequential test (``SequentialComparison``)
------------------------------------------
Each observation is one outcome of one variant in [0, 1]: ``1`` for an error, a latency over its
threshold, or a wrong prediction, or a fraction (the share of a request's rows that were wrong:
one bounded outcome per request, since rows of one request are not independent). Let
``d = p_canary - p_baseline`` be the absolute difference of the mean outcomes.

*Pairing, close in time.* Each new observation is paired with the newest waiting observation of
the other side (last in, first out), so the two sides of a pair arrived next to each other even
when the traffic split is uneven: a rate that drifts for both variants alike (a shared dependency
degrading) moves both sides of a pair together. Waiting observations older than ``max_wait_s``
(when observations carry a time) or beyond ``max_backlog`` are dropped. Which observations are
paired or dropped depends on arrival order and times only, never on outcomes, so the test stays
valid. Each pair gives ``D = canary - baseline`` in [-1, 1] with ``E[D] = d`` (at that time),
however the two sides depend on each other. Concordant pairs (``D = 0``) carry no evidence of a
difference but do carry evidence about its size, so unlike a discordant-pairs SPRT no baseline
rate has to be assumed to turn the absolute margins into hypotheses.

*Two one-sided tests by betting* (Shafer & Vovk; Waudby-Smith & Ramdas 2023, "Estimating means
of bounded random variables by betting"):

- reject: H_R is ``d <= reject_margin``. The wealth ``K_n = prod(1 + l_i * (D_i - reject_margin))``
  with bets ``0 <= l_i <= 1 / (2 * (1 + reject_margin))`` chosen from earlier pairs only is a
  non-negative supermartingale under H_R, so by Ville's inequality
  ``P(sup_n K_n >= 1/alpha) <= alpha``. The canary is rejected when ``K_n >= 1/alpha``.
- accept: H_A is ``d >= accept_tolerance``, the same construction on
  ``accept_tolerance - D_i``; accepted when its wealth reaches ``1/beta``.

Guarantees, at every look and with no fixed horizon (peeking after each observation is allowed),
when each pair's difference has, given the pairs before it, a mean on the null's side: independent
pairs with a constant ``d`` are the simple case, and a rate that drifts for both variants alike
keeps it as long as the two sides of a pair are close in time:

- ``P(ever reject | d <= reject_margin) <= alpha``: a canary within the margin is rejected
  wrongly at most ``alpha`` of the time, however long the test runs;
- ``P(ever accept | d >= accept_tolerance) <= beta``: a canary at or beyond the tolerance is
  accepted at most ``beta`` of the time.

Accepting is a permission, not the end: the reject test keeps betting after an accept, so a
canary that turns bad later is still rejected (Ville's bound covers an unbounded horizon), and a
reject overrides an earlier accept. A reject is final. A canary between the two (the gray zone)
may stay at ``"continue"`` for long: callers cap the run and treat ``"continue"`` at the cap as
"not accepted".

The bets are the approximate growth-rate-optimal plug-in (aGRAPA): ``l_i = E[X] / E[X^2]`` for
the bet's payoff ``X``, both moments estimated from the pairs before ``i`` plus a small prior that
starts in the gray zone (so no early bet on either side), then clipped. The bets only change how
fast a decision comes, never the guarantees. Because a bet depends on running sums only, a block
of pairs is processed with numpy prefix sums; ``observe`` and ``observe_many`` decide identically.

Intervals (fixed sample, for reports)
-------------------------------------
``proportion_interval`` is the Wilson score interval; given a sum of outcomes in [0, 1] (a
fraction per request) it stays conservative, since such an outcome's variance is at most
``p (1 - p)``. ``difference_interval`` is Newcombe's hybrid score interval (method 10 of
Newcombe 1998, no continuity correction) built from the two Wilson intervals.
``significant_difference`` is true when that interval excludes zero. These hold at one
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
        beta: float = 0.05,
        reject_margin: float = 0.02,
        accept_tolerance: float = 0.005,
        max_backlog: int = 1_000,
        max_wait_s: float | None = None,
    ) -> None:
        _check_parameters(alpha, beta, reject_margin, accept_tolerance, max_backlog, max_wait_s)
        self.alpha = alpha
        self.beta = beta
        self.reject_margin = reject_margin
        self.accept_tolerance = accept_tolerance
        self.max_backlog = max_backlog
        self.max_wait_s = max_wait_s
        self._reject = _Bettor(reject_margin, 1.0, math.log(1.0 / alpha))
        self._accept = _Bettor(accept_tolerance, -1.0, math.log(1.0 / beta))
        self._prior_mean = (reject_margin + accept_tolerance) / 2.0
        self._observations = {"baseline": 0, "canary": 0}
        self._failures = {"baseline": 0.0, "canary": 0.0}
        self._backlog: NDArray[np.float64] = np.zeros(0)
        self._backlog_at: NDArray[np.float64] = np.zeros(0)
        self._backlog_variant: Variant = "baseline"
        self._pairs = 0
        self._tested = 0  # pairs that entered the test (all pairs up to a reject)
        self._sum = 0.0
        self._sum_sq = 0.0
        self._accepted_at: int | None = None
        self._rejected_at: int | None = None

    @property
    def pairs(self) -> int:
        """Pairs formed so far (including any formed after a reject)."""
        return self._pairs

    @property
    def decided_at(self) -> int | None:
        """The number of pairs at which the current decision was reached, or None while it continues."""
        return self._rejected_at if self._rejected_at is not None else self._accepted_at

    def decision(self) -> Decision:
        """``"continue"`` until the evidence is enough, then ``"accept"`` (until a reject, if
        ever) or ``"reject"`` for good."""
        if self._rejected_at is not None:
            return "reject"
        return "continue" if self._accepted_at is None else "accept"

    def observe(self, variant: Variant, failure: float, at: float | None = None) -> Decision:
        """Record one outcome (in [0, 1]) of ``variant``, seen at time ``at``; return the decision so far."""
        return self.observe_many(variant, np.array([float(failure)]), at)

    def observe_many(self, variant: Variant, failures: ArrayLike, at: float | None = None) -> Decision:
        """Record outcomes of ``variant`` in arrival order, all seen at ``at`` (vectorised; the same
        result as one by one)."""
        if variant not in _VARIANTS:
            raise InvalidInput(f"variant must be 'baseline' or 'canary', not {variant!r}")
        outcomes = np.asarray(failures, dtype=np.float64).reshape(-1)
        if not np.all((outcomes >= 0.0) & (outcomes <= 1.0)):
            raise InvalidInput("outcomes must be between 0 and 1")
        self._observations[variant] += int(outcomes.size)
        self._failures[variant] += float(outcomes.sum())
        baseline, canary = self._pair_up(variant, outcomes, at)
        if baseline.size:
            self._pairs += int(baseline.size)
            self._consume(canary - baseline)
        return self.decision()

    def _pair_up(
        self, variant: Variant, outcomes: NDArray[np.float64], at: float | None
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Match new outcomes with the other side's newest waiting ones; returns (baseline, canary)."""
        if at is not None and self.max_wait_s is not None:
            fresh = self._backlog_at >= at - self.max_wait_s
            self._backlog, self._backlog_at = self._backlog[fresh], self._backlog_at[fresh]
        times = np.full(outcomes.size, np.nan if at is None else at)
        if self._backlog.size == 0 or self._backlog_variant == variant:
            self._backlog_variant = variant
            self._backlog = np.concatenate((self._backlog, outcomes))[-self.max_backlog :]
            self._backlog_at = np.concatenate((self._backlog_at, times))[-self.max_backlog :]
            return np.zeros(0), np.zeros(0)
        n = min(self._backlog.size, outcomes.size)
        keep = self._backlog.size - n
        waiting = self._backlog[keep:][::-1]  # the newest pairs with the first new outcome
        self._backlog, self._backlog_at = self._backlog[:keep], self._backlog_at[:keep]
        if outcomes.size > n:
            self._backlog_variant = variant
            self._backlog = outcomes[n:][-self.max_backlog :].copy()
            self._backlog_at = times[n:][-self.max_backlog :]
        new = outcomes[:n]
        return (new, waiting) if variant == "baseline" else (waiting, new)

    def _consume(self, pairs: NDArray[np.float64]) -> None:
        """Advance the wealth processes over a block of pair differences. The accept test stops at
        its accept; the reject test bets until it rejects."""
        while pairs.size and self._rejected_at is None:
            before = self._tested + np.arange(pairs.size, dtype=np.float64)
            sum_before = self._sum + _exclusive_cumsum(pairs)
            sq_before = self._sum_sq + _exclusive_cumsum(pairs * pairs)
            weight = _PRIOR_PAIRS + before
            mean = (_PRIOR_PAIRS * self._prior_mean + sum_before) / weight
            second = (_PRIOR_PAIRS * _PRIOR_DISCORDANT + sq_before) / weight
            reject_path = self._reject.wealth_path(pairs, mean, second)
            stop_reject = _first_at_least(reject_path, self._reject.log_threshold)
            stop_accept = pairs.size
            if self._accepted_at is None:
                accept_path = self._accept.wealth_path(pairs, mean, second)
                stop_accept = _first_at_least(accept_path, self._accept.log_threshold)
            stop = min(stop_reject, stop_accept, pairs.size - 1)
            self._tested += stop + 1
            self._sum = float(sum_before[stop] + pairs[stop])
            self._sum_sq = float(sq_before[stop] + pairs[stop] ** 2)
            self._reject.log_wealth = float(reject_path[stop])
            if self._accepted_at is None:
                self._accept.log_wealth = float(accept_path[stop])
            if stop_reject <= stop:  # a tie goes to the safe side
                self._rejected_at = self._tested
            elif stop_accept <= stop:
                self._accepted_at = self._tested
            pairs = pairs[stop + 1 :]

    def summary(self) -> dict[str, Any]:
        """A JSON-ready account of the test: counts, rates, evidence and the decision."""
        base_n, canary_n = self._observations["baseline"], self._observations["canary"]
        base_f, canary_f = self._failures["baseline"], self._failures["canary"]
        low, high = difference_interval(canary_f, canary_n, base_f, base_n)
        return {
            "decision": self.decision(),
            "decided_at_pairs": self.decided_at,
            "accepted_at_pairs": self._accepted_at,
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
    alpha: float,
    beta: float,
    reject_margin: float,
    accept_tolerance: float,
    max_backlog: int,
    max_wait_s: float | None,
) -> None:
    if not (0.0 < alpha < 1.0 and 0.0 < beta < 1.0):
        raise InvalidInput(f"alpha and beta must be in (0, 1), got {alpha} and {beta}")
    if not 0.0 <= accept_tolerance < reject_margin < 1.0:
        raise InvalidInput(
            f"need 0 <= accept_tolerance < reject_margin < 1, got {accept_tolerance} and {reject_margin}"
        )
    if max_backlog < 1:
        raise InvalidInput(f"max_backlog must be positive, got {max_backlog}")
    if max_wait_s is not None and not max_wait_s > 0:
        raise InvalidInput(f"max_wait_s must be positive, got {max_wait_s}")


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


def _rate(successes: float, n: int) -> float | None:
    return successes / n if n else None


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise InvalidInput(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf((1.0 + confidence) / 2.0)


def _check_counts(successes: float, n: int) -> None:
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise InvalidInput(f"need 0 <= successes <= n, got {successes} of {n}")


def proportion_interval(successes: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
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
    a_successes: float, a_n: int, b_successes: float, b_n: int, confidence: float = 0.95
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
    a_successes: float, a_n: int, b_successes: float, b_n: int, confidence: float = 0.95
) -> bool:
    """True when the Newcombe interval for ``p_a - p_b`` excludes zero (one fixed-sample look)."""
    low, high = difference_interval(a_successes, a_n, b_successes, b_n, confidence)
    return low > 0.0 or high < 0.0
