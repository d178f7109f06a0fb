"""Monte-Carlo simulation of rollout guardrails: what docs/deployments.md promises, measured.

    .venv/bin/python benchmarks/rollout_sim.py           # full run; writes the table into docs/deployments.md
    .venv/bin/python benchmarks/rollout_sim.py --quick   # small run, printed only (a smoke test)

Every scenario drives the project's own tests, built as a rollout builds them
(``rollout_judge.guardrail_tests`` of the default ``Guardrails``: margins of 2, 5 and 5 points,
alpha = 5 % split across the three, beta = 5 %, acceptance within half a margin), with outcomes
drawn by numpy and fed in blocks (``observe_many`` decides pair by pair, as one by one would).
Each rate is shown with its 95 % Wilson interval over the runs (the Monte-Carlo error). The
issue-16 column is what the code before issue 16 did in the same scenario (from the issue).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from doc_section import write_between

from modelport.control.rollout_judge import LATENCY_SAMPLE, guardrail_tests
from modelport.core.rollout import Guardrails
from modelport.monitoring.sequential import SequentialComparison, proportion_interval

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "deployments.md"
BEGIN, END = "<!-- rollout-sim:begin -->", "<!-- rollout-sim:end -->"
BLOCK = 1_000  # pairs fed at a time
RAILS = Guardrails()


@dataclass(frozen=True)
class Row:
    scenario: str
    measure: str
    runs: int
    hits: int
    claim: str
    before: str
    extra: str = ""

    def cells(self) -> list[str]:
        low, high = proportion_interval(self.hits, self.runs)
        rate = f"{100 * self.hits / self.runs:.1f} % ({100 * low:.1f}-{100 * high:.1f})"
        return [self.scenario, self.measure, str(self.runs), rate + self.extra, self.claim, self.before]


def test(name: str) -> SequentialComparison:
    return guardrail_tests(RAILS)[name]


def feed(t: SequentialComparison, base: np.ndarray, canary: np.ndarray) -> None:
    """Feed paired outcomes block by block until a reject (an accept does not stop the reject test)."""
    for start in range(0, base.size, BLOCK):
        t.observe_many("baseline", base[start : start + BLOCK])
        t.observe_many("canary", canary[start : start + BLOCK])
        if t.decision() == "reject":
            return


def run_pairs(
    rng: np.random.Generator, name: str, base_rate: float, canary_rate: float, pairs: int
) -> SequentialComparison:
    t = test(name)
    feed(t, rng.random(pairs) < base_rate, rng.random(pairs) < canary_rate)
    return t


def at_the_margins(rng: np.random.Generator, runs: int, pairs: int) -> list[Row]:
    rates = {"error rate": (0.01, 0.03), "latency": (0.01, 0.06), "wrong predictions": (0.10, 0.15)}
    counts = dict.fromkeys([*rates, "any"], 0)
    for _ in range(runs):
        rejected = [
            run_pairs(rng, name, b, c, pairs).decision() == "reject" for name, (b, c) in rates.items()
        ]
        for name, hit in zip(rates, rejected, strict=True):
            counts[name] += hit
        counts["any"] += any(rejected)
    rows = [
        Row(
            f"{name}: {100 * b:g} % vs {100 * c:g} % (at the margin), {pairs} pairs",
            "rolled back",
            runs,
            counts[name],
            "<= alpha/3 = 1.7 %",
            "",
        )
        for name, (b, c) in rates.items()
    ]
    rows.append(
        Row(
            "all three at their margins",
            "any guardrail rolls back",
            runs,
            counts["any"],
            "<= alpha = 5 %",
            "7.0-9.2 %",
        )
    )
    return rows


def power(rng: np.random.Generator, runs: int) -> Row:
    decided = []
    for _ in range(runs):
        t = run_pairs(rng, "error rate", 0.01, 0.10, 5_000)
        if t.decision() == "reject" and t.decided_at is not None:
            decided.append(t.decided_at)
    median = f"; median {np.median(decided):.0f} pairs" if decided else ""
    return Row(
        "error rate 1 % vs 10 %, 5,000 pairs",
        "rolled back",
        runs,
        len(decided),
        "power",
        "100 %; median 152",
        median,
    )


def promotion(rng: np.random.Generator, runs: int, pairs: int) -> list[Row]:
    rows = []
    for share, before in ((0.0, ""), (0.5, "5-13 %"), (1.0, "1.6-6.4 %")):
        canary = 0.01 + share * RAILS.max_error_increase
        accepted = sum(
            run_pairs(rng, "error rate", 0.01, canary, pairs).summary()["accepted_at_pairs"] is not None
            for _ in range(runs)
        )
        claim = "high" if share == 0 else "<= beta = 5 %"
        rows.append(
            Row(
                f"error rate 1 % vs {100 * canary:g} % ({share:g} x margin), {pairs} pairs",
                "accepted (may be promoted)",
                runs,
                accepted,
                claim,
                before,
            )
        )
    return rows


def time_to_promote(rng: np.random.Generator, runs: int, pairs: int) -> list[Row]:
    """An equal candidate reaches 100 % once the error-rate and latency tests both accepted."""
    rows = []
    for base in (0.01, 0.05, 0.20):
        needed = []  # pairs until both accepted; inf when not within the horizon
        for _ in range(runs):
            error = run_pairs(rng, "error rate", base, base, pairs)
            latency = run_pairs(rng, "latency", 0.01, 0.01, pairs)
            at = (error.summary()["accepted_at_pairs"], latency.summary()["accepted_at_pairs"])
            done = None not in at and error.decision() == latency.decision() == "accept"
            needed.append(max(at) if done else np.inf)
        middle = float(np.median(needed))
        median = f"; median {middle:.0f} pairs" if np.isfinite(middle) else f"; median > {pairs} pairs"
        rows.append(
            Row(
                f"equal candidate, {100 * base:g} % errors and 1 % slow, {pairs} pairs",
                "promotable (both accepted)",
                runs,
                int(np.isfinite(needed).sum()),
                "time to 100 %",
                "",
                median,
            )
        )
    return rows


def turns_bad(rng: np.random.Generator, runs: int) -> Row:
    rolled_back = 0
    for _ in range(runs):
        t = test("error rate")
        feed(t, rng.random(3_000) < 0.01, rng.random(3_000) < 0.01)
        feed(t, rng.random(3_000) < 0.01, rng.random(3_000) < 0.40)
        rolled_back += t.decision() == "reject"
    return Row(
        "equal for 3,000 pairs, then 40 % failures for 3,000",
        "rolled back",
        runs,
        rolled_back,
        "~ 100 %",
        "4 % (2 of 50)",
    )


def shared_step(rng: np.random.Generator, runs: int, blocks: int = 1_500) -> Row:
    """95/5 traffic; both variants step from 1 % to 10 % failures together a third of the way in."""
    rolled_back = 0
    for _ in range(runs):
        t = test("error rate")
        rates = np.where(np.arange(blocks) < blocks // 3, 0.01, 0.10)
        base = rng.random((blocks, 19)) < rates[:, None]
        canary = rng.random(blocks) < rates
        for i in range(blocks):  # 19 baseline requests, then one candidate request
            t.observe_many("baseline", base[i])
            t.observe("canary", float(canary[i]))
        rolled_back += t.decision() == "reject"
    return Row(
        f"95/5 split, both step 1 % -> 10 % together, {20 * blocks} requests",
        "equal candidate rolled back",
        runs,
        rolled_back,
        "<= alpha/3",
        "82.5 %",
    )


def correlated_rows(rng: np.random.Generator, runs: int, requests: int = 5_000) -> list[Row]:
    """20 rows per request; a request's rows share its difficulty (Beta(1, 9): 10 % wrong on average)."""
    rolled_back = covered = 0
    for _ in range(runs):
        base = rng.binomial(20, rng.beta(1, 9, requests)) / 20
        canary = rng.binomial(20, rng.beta(1, 9, requests)) / 20
        t = test("wrong predictions")
        feed(t, base, canary)
        rolled_back += t.decision() == "reject"
        low, high = proportion_interval(float(base[:500].sum()), 500)  # the report's interval, 500 requests
        covered += low <= 0.10 <= high
    return [
        Row(
            f"equal candidate, 20 correlated rows per request, {requests} requests",
            "rolled back",
            runs,
            rolled_back,
            "<= alpha/3",
            "29 %",
        ),
        Row(
            "the same, A/B report's 95 % interval of the wrong share (500 requests)",
            "covers the truth",
            runs,
            covered,
            ">= 95 %",
            "49 %",
        ),
    ]


def labelling(rng: np.random.Generator, runs: int, requests: int = 100_000) -> list[Row]:
    """10 % vs 13 % wrong (inside the 5-point margin): labels for a random 20 %, or for every wrong
    prediction and 20 % of the right ones (labels that depend on the outcome: outside the assumptions)."""
    rows = []
    for how, before in (("a random 20 % labelled", ""), ("all wrong + 20 % of right labelled", "54 %")):
        rolled_back = 0
        for _ in range(runs):
            sides = []
            for rate in (0.10, 0.13):
                wrong = rng.random(requests) < rate
                keep = rng.random(requests) < 0.2
                if how.startswith("all"):
                    keep |= wrong
                sides.append(wrong[keep].astype(np.float64))
            n = min(s.size for s in sides)
            t = test("wrong predictions")
            feed(t, sides[0][:n], sides[1][:n])
            rolled_back += t.decision() == "reject"
        claim = "<= alpha/3" if before == "" else "assumption broken: not guaranteed"
        rows.append(Row(f"10 % vs 13 % wrong, {how}", "rolled back", runs, rolled_back, claim, before))
    return rows


def latency_threshold(rng: np.random.Generator, runs: int) -> list[Row]:
    """Lognormal latencies (sigma 0.4); the threshold is the p99 of the baseline's first requests.
    A candidate 30 % slower on every request is then 3.7 points more often slow: in the gray zone,
    between the 2.5-point tolerance and the 5-point margin. How often a threshold drawn from 100
    (before) or ``LATENCY_SAMPLE`` baseline requests moves it past the margin or inside the tolerance."""
    from statistics import NormalDist

    sigma, z = 0.4, NormalDist()
    rows = []
    for sample, before in ((100, "this row"), (LATENCY_SAMPLE, "")):
        past = within = 0
        shares = []
        for _ in range(runs):
            threshold = float(np.percentile(rng.lognormal(0.0, sigma, sample), 99))
            base = 1 - z.cdf(np.log(threshold) / sigma)
            excess = 1 - z.cdf(np.log(threshold / 1.3) / sigma) - base
            shares.append(base)
            past += excess > RAILS.max_slow_increase
            within += excess < RAILS.max_slow_increase / 2
        low, high = np.percentile(shares, [2.5, 97.5])
        spread = f"; baseline slow share {100 * low:.2f}-{100 * high:.2f} %"
        name = f"candidate 30 % slower, threshold from {sample} requests"
        rows.append(Row(name, "past the margin", runs, past, "-", before, spread))
        rows.append(Row(name, "within the tolerance", runs, within, "-", before))
    return rows


def render(rows: list[Row], sizes: str, seconds: float) -> str:
    header = ["scenario", "measured", "runs", "rate (95 % MC interval)", "promise", "before (issue 16)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    note = (
        f"\n`benchmarks/rollout_sim.py` ({sizes}; {seconds:.0f} s on this machine). Rates are shares of "
        "independent runs; the interval is the 95 % Wilson interval of that share, i.e. the "
        "Monte-Carlo error. Default guardrails: margins 2 / 5 / 5 points, alpha = 5 % for the three "
        "together (1.7 % each), beta = 5 %. The last column is what issue 16 measured on the code before "
        "it (blank where it measured nothing).\n"
    )
    return "\n".join(lines) + "\n" + note


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="few runs, printed only")
    ap.add_argument("--runs", type=int, default=2_000, help="runs per scenario (the slow ones use a quarter)")
    ap.add_argument("--pairs", type=int, default=20_000, help="pairs per run where a horizon is needed")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--out", type=Path, default=DOC)
    a = ap.parse_args()
    runs, pairs = (40, 5_000) if a.quick else (a.runs, a.pairs)
    slow = max(10, runs // 4)
    rng = np.random.default_rng(a.seed)
    started = time.process_time()
    steps: list[Callable[[], list[Row]]] = [
        lambda: at_the_margins(rng, runs, pairs),
        lambda: [power(rng, runs)],
        lambda: promotion(rng, runs, pairs),
        lambda: time_to_promote(rng, slow, pairs),
        lambda: [turns_bad(rng, runs)],
        lambda: [shared_step(rng, slow)],
        lambda: correlated_rows(rng, runs),
        lambda: labelling(rng, slow),
        lambda: latency_threshold(rng, 20 * runs),
    ]
    rows = []
    for step in steps:
        rows += step()
        print(f"{time.process_time() - started:.0f} s: {rows[-1].scenario}", file=sys.stderr, flush=True)
    sizes = f"seed {a.seed}, {runs} runs per scenario ({slow} for the slow ones), horizon {pairs} pairs"
    table = render(rows, sizes, time.process_time() - started)
    print(table)
    if not a.quick:
        write_between(a.out, BEGIN, END, table)


if __name__ == "__main__":
    main()
