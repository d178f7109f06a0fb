"""Monte-Carlo simulation of drift detection: false alarms and detection rates, measured.

    .venv/bin/python benchmarks/drift_sim.py           # full run; writes the tables into docs/monitoring.md
    .venv/bin/python benchmarks/drift_sim.py --quick   # small run, printed only (a smoke test)

Every run draws a reference and a live window with numpy and judges them with the project's own
``compare_features`` (each feature's statistics, then Holm's correction over the model's tests),
in process, with the default ``DriftSettings``. A model's features cycle through five kinds:
normal, a 0/1 flag with 10 % ones (float), 8 categories with shares 0.40, 0.24, 0.14 … 0.01
(integer codes), exponential, and Poisson(3) counts (categorical: few distinct integers).
A false alarm is a model (or feature) that is not ``ok`` when nothing changed. A detection is a
model of 20 such features, one of them changed, that is not ``ok``. Each rate is shown with its
95 % Wilson interval over the runs (the Monte-Carlo error). "Before" is what the code before
issue 17 did in the same kind of scenario, as the issue reports it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from doc_section import write_between

from modelport.core.settings import DriftSettings
from modelport.monitoring.drift.report import compare_features, worst
from modelport.monitoring.sequential import proportion_interval

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "monitoring.md"
BEGIN, END = "<!-- drift-sim:begin -->", "<!-- drift-sim:end -->"
SETTINGS = DriftSettings()
KINDS = ("normal", "flag", "category", "exponential", "count")
SHARES = 0.6 ** np.arange(8) / np.sum(0.6 ** np.arange(8))

Array = np.ndarray[Any, Any]
Draw = Callable[[np.random.Generator, int], Array]


def draw(kind: str, rng: np.random.Generator, rows: int) -> Array:
    if kind == "normal":
        return rng.normal(size=rows)
    if kind == "flag":
        return (rng.random(rows) < 0.1).astype(np.float32).astype(np.float64)
    if kind == "category":
        return rng.choice(SHARES.size, rows, p=SHARES)
    if kind == "exponential":
        return rng.exponential(size=rows)
    return rng.poisson(3.0, rows)


def model(rng: np.random.Generator, features: int, rows: int, first: Draw | None = None) -> dict[str, Array]:
    """``features`` features cycling through ``KINDS``; ``first`` draws feature 0 instead."""
    data = {f"f{i}": draw(KINDS[i % len(KINDS)], rng, rows) for i in range(features)}
    if first is not None:
        data["f0"] = first(rng, rows)
    return data


@dataclass(frozen=True)
class Rate:
    hits: int
    runs: int

    def cell(self) -> str:
        low, high = proportion_interval(self.hits, self.runs)
        return f"{100 * self.hits / self.runs:.1f} % ({100 * low:.1f}-{100 * high:.1f})"


def false_alarms(
    rng: np.random.Generator, features: int, window: int, reference: int, runs: int
) -> tuple[Rate, Rate]:
    """(models not ok, features not ok) over ``runs`` unchanged windows."""
    models = flagged = 0
    for _ in range(runs):
        results = compare_features(model(rng, features, reference), model(rng, features, window), SETTINGS)
        alarms = [f for f in results if f["status"] != "ok"]
        models += bool(alarms)
        flagged += len(alarms)
        for f in alarms:  # what raised it, to look into
            print(
                f"  false alarm: {f['feature']} {f['kind']} {f['status']} {f['statistics']}", file=sys.stderr
            )
    return Rate(models, runs), Rate(flagged, runs * features)


def runs_for(features: int, rows: int, budget: int, least: int) -> int:
    """Runs for a cell: about ``budget`` feature-rows, between ``least`` and 400."""
    return int(np.clip(budget // (features * rows), least, 400))


@dataclass(frozen=True)
class Change:
    name: str
    reference: Draw
    live: Draw
    before: str


def _flag(ones: float) -> Draw:
    return lambda rng, rows: (rng.random(rows) < ones).astype(np.float32).astype(np.float64)


def _missing(rng: np.random.Generator, rows: int) -> Array:
    values = rng.normal(size=rows)
    values[rng.random(rows) < 0.2] = np.nan
    return values


def _new_category(rng: np.random.Generator, rows: int) -> Array:
    values = draw("category", rng, rows)
    values[rng.random(rows) < 0.1] = 99
    return values


def _vanished_category(rng: np.random.Generator, rows: int) -> Array:
    values = draw("category", rng, rows)
    values[values == 1] = 0  # the second category (24 %) is gone, its rows read as the first
    return values


def _normal(rng: np.random.Generator, rows: int) -> Array:
    return rng.normal(size=rows)


CHANGES = (
    Change("mean shift 0.5 sd", _normal, lambda rng, rows: rng.normal(0.5, size=rows), ""),
    Change("spread sd x 1.5", _normal, lambda rng, rows: rng.normal(scale=1.5, size=rows), "26 % (100 rows)"),
    Change("new category, 10 % of rows", lambda rng, rows: draw("category", rng, rows), _new_category, ""),
    Change("vanished category (24 %)", lambda rng, rows: draw("category", rng, rows), _vanished_category, ""),
    Change("0/1 flag, 5 % to 20 % ones", _flag(0.05), _flag(0.20), "0 %"),
    Change("0/1 flag, 20 % to 5 % ones", _flag(0.20), _flag(0.05), ""),
    Change("missing values, 0 % to 20 %", _normal, _missing, "0 % (NaN dropped)"),
)


def detection(
    rng: np.random.Generator, change: Change, window: int, reference: int, runs: int
) -> tuple[Rate, Rate]:
    """(models not ok, models alert) over ``runs`` windows of a 20-feature model whose f0 changed."""
    flagged = alerts = 0
    for _ in range(runs):
        ref = model(rng, 20, reference, change.reference)
        live = model(rng, 20, window, change.live)
        status = worst(f["status"] for f in compare_features(ref, live, SETTINGS))
        flagged += status != "ok"
        alerts += status == "alert"
    return Rate(flagged, runs), Rate(alerts, runs)


FALSE_BEFORE = {(20, 100): "19 % (numeric), up to 47 % with rare categories"}


def render(false_rows: list[list[str]], detect_rows: list[list[str]], sizes: str, seconds: float) -> str:
    lines = [
        f"False alarms: nothing changed. {sizes}; {seconds:.0f} s of CPU.",
        "",
        "| features | window | reference | runs | model not ok | feature not ok | before |",
        "|---|---|---|---|---|---|---|",
        *("| " + " | ".join(row) + " |" for row in false_rows),
        "",
        "Detection: one of 20 features changed (reference 1,000 rows).",
        "",
        "| change | window | runs | model not ok | model alert | before |",
        "|---|---|---|---|---|---|",
        *("| " + " | ".join(row) + " |" for row in detect_rows),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="few runs, small grid, printed only")
    ap.add_argument("--budget", type=int, default=2_000_000, help="feature-rows per false-alarm cell")
    ap.add_argument("--least", type=int, default=30, help="fewest runs per false-alarm cell")
    ap.add_argument("--runs", type=int, default=100, help="runs per detection scenario")
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--out", type=Path, default=DOC)
    a = ap.parse_args()
    budget, runs, least = (100_000, 10, 10) if a.quick else (a.budget, a.runs, a.least)
    rng = np.random.default_rng(a.seed)
    started = time.process_time()
    false_rows = []
    for features in (1, 20, 100):
        for window in (100, 1_000, 10_000):
            for reference in (200, 1_000, 100_000):
                if a.quick and (reference == 100_000 or window == 10_000):
                    continue
                n = runs_for(features, window + reference, budget, least)
                models, each = false_alarms(rng, features, window, reference, n)
                before = FALSE_BEFORE.get((features, window), "")
                false_rows.append(
                    [
                        f"{features}",
                        f"{window:,}",
                        f"{reference:,}",
                        str(n),
                        models.cell(),
                        each.cell(),
                        before,
                    ]
                )
                print(
                    f"{time.process_time() - started:.0f} s: {' | '.join(false_rows[-1])}",
                    file=sys.stderr,
                    flush=True,
                )
    detect_rows = []
    for change in CHANGES:
        for window in (100, 1_000):
            flagged, alerts = detection(rng, change, window, 1_000, runs)
            before = change.before if window == 100 else ""
            detect_rows.append([change.name, f"{window:,}", str(runs), flagged.cell(), alerts.cell(), before])
            print(
                f"{time.process_time() - started:.0f} s: {' | '.join(detect_rows[-1])}",
                file=sys.stderr,
                flush=True,
            )
    sizes = f"Cells of about {budget:,} feature-rows each ({least} to 400 runs)"
    table = render(false_rows, detect_rows, sizes, time.process_time() - started)
    print(table)
    if not a.quick:
        write_between(a.out, BEGIN, END, table)


if __name__ == "__main__":
    main()
