"""Shadow-vs-primary comparison for one (endpoint, primary target, shadow target) pair.

``ShadowComparison`` is fed each shadowed request: both sides' outputs (name -> array, batch
along axis 0), their latencies and failures. ``report()`` returns a JSON-ready dict over a sliding
window of the last ``window`` requests and over all requests since the start.

Per output name, a request with k rows contributes k rows:

- label outputs (integer, bool, string/bytes dtypes): the agreement rate, the share of rows whose
  elements are all equal on both sides;
- float outputs: over all elements, the mean and max absolute difference, Pearson's correlation
  (None when undefined, e.g. a constant side) and, in the window, each side's mean, std, min, max
  and a 10-bin histogram over the union of both ranges. Non-finite elements are counted and left
  out of the statistics.

An output one side lacks, or whose shapes or kinds differ, counts as a mismatch for that
request and is otherwise skipped; nothing about the outputs raises.

Memory is bounded: the window lives in fixed-size numpy ring buffers (``window`` requests, and at
most ``max_values`` rows or elements per output, so a window of huge batches keeps only its newest
values); totals are running sums (Chan's pairwise update for the correlation). Not thread-safe:
callers serialise calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from modelport.core.errors import InvalidInput

__all__ = ["ComparisonCounters", "OutputCounters", "ShadowComparison", "Side", "merge_states"]

Side = Literal["primary", "shadow", "both"]
Kind = Literal["label", "float"]

_HISTOGRAM_BINS = 10
_LABEL_KINDS = "biuOSU"


class _Ring:
    """Fixed-capacity columns; the filled part is returned unordered (the statistics need no order)."""

    def __init__(self, capacity: int, dtypes: Mapping[str, type[Any]]) -> None:
        self.capacity = capacity
        self._columns = {name: np.zeros(capacity, dtype=dtype) for name, dtype in dtypes.items()}
        self._next = 0
        self._size = 0

    def push(self, **columns: ArrayLike) -> None:
        arrays = {name: np.asarray(values).reshape(-1) for name, values in columns.items()}
        n = next(iter(arrays.values())).size
        skip = max(0, n - self.capacity)  # a push larger than the ring keeps its newest values
        positions = (self._next + np.arange(skip, n)) % self.capacity
        for name, values in arrays.items():
            self._columns[name][positions] = values[skip:]
        self._next = (self._next + n) % self.capacity
        self._size = min(self.capacity, self._size + n)

    def columns(self, newer_than: int | None = None) -> dict[str, NDArray[Any]]:
        """The filled part; with ``newer_than``, only entries whose ``seq`` column exceeds it."""
        filled = {name: values[: self._size] for name, values in self._columns.items()}
        if newer_than is None:
            return filled
        keep = filled["seq"] > newer_than
        return {name: values[keep] for name, values in filled.items()}


@dataclass
class _Moments:
    """Running count, means, squared deviations and co-deviation of two paired series."""

    n: int = 0
    mean_a: float = 0.0
    mean_b: float = 0.0
    m2_a: float = 0.0
    m2_b: float = 0.0
    co: float = 0.0
    constant_a: bool = True
    constant_b: bool = True
    first_a: float = 0.0
    first_b: float = 0.0

    def add(self, a: NDArray[np.float64], b: NDArray[np.float64]) -> None:
        """Merge a block with Chan et al.'s pairwise update (stable for large means)."""
        n_block = int(a.size)
        if n_block == 0:
            return
        if self.n == 0:
            self.first_a, self.first_b = float(a[0]), float(b[0])
        self.constant_a = self.constant_a and bool(np.all(a == self.first_a))
        self.constant_b = self.constant_b and bool(np.all(b == self.first_b))
        mean_a, mean_b = float(a.mean()), float(b.mean())
        da, db = a - mean_a, b - mean_b
        n = self.n + n_block
        delta_a, delta_b = mean_a - self.mean_a, mean_b - self.mean_b
        scale = self.n * n_block / n
        self.m2_a += float(da @ da) + delta_a * delta_a * scale
        self.m2_b += float(db @ db) + delta_b * delta_b * scale
        self.co += float(da @ db) + delta_a * delta_b * scale
        self.mean_a += delta_a * n_block / n
        self.mean_b += delta_b * n_block / n
        self.n = n

    def correlation(self) -> float | None:
        constant = self.constant_a or self.constant_b
        return _pearson(self.n, self.m2_a, self.m2_b, self.co, constant)

    def merge(self, other: _Moments) -> _Moments:
        """The moments of both series of pairs together (Chan et al.'s pairwise formula)."""
        if not other.n or not self.n:
            return _Moments(**(other if not self.n else self).__dict__)
        n = self.n + other.n
        delta_a, delta_b = other.mean_a - self.mean_a, other.mean_b - self.mean_b
        scale = self.n * other.n / n
        return _Moments(
            n,
            self.mean_a + delta_a * other.n / n,
            self.mean_b + delta_b * other.n / n,
            self.m2_a + other.m2_a + delta_a * delta_a * scale,
            self.m2_b + other.m2_b + delta_b * delta_b * scale,
            self.co + other.co + delta_a * delta_b * scale,
            self.constant_a and other.constant_a and self.first_a == other.first_a,
            self.constant_b and other.constant_b and self.first_b == other.first_b,
            self.first_a,
            self.first_b,
        )


@dataclass
class _Totals:
    """Since-start sums for one output."""

    rows: int = 0
    mismatches: dict[str, int] = field(default_factory=dict)
    agreeing_rows: int = 0
    non_finite: int = 0
    sum_abs_diff: float = 0.0
    max_abs_diff: float | None = None
    moments: _Moments = field(default_factory=_Moments)


class _OutputStats:
    """Window ring buffers and totals for one output name."""

    def __init__(self, window: int, max_values: int) -> None:
        self.kind: Kind | None = None
        self.requests = _Ring(window, {"seq": np.int64, "rows": np.int64, "mismatch": np.bool_})
        self.labels = _Ring(max_values, {"seq": np.int64, "agree": np.bool_})
        self.values = _Ring(max_values, {"seq": np.int64, "primary": np.float64, "shadow": np.float64})
        self.totals = _Totals()

    def mismatch(self, seq: int, reason: str) -> None:
        self.requests.push(seq=seq, rows=0, mismatch=True)
        self.totals.mismatches[reason] = self.totals.mismatches.get(reason, 0) + 1

    def add(self, seq: int, kind: Kind, primary: NDArray[Any], shadow: NDArray[Any]) -> None:
        """Record one request's rows; ``primary`` and ``shadow`` have the same shape and kind."""
        rows = primary.shape[0] if primary.ndim else 1
        width = int(np.prod(primary.shape[1:], dtype=np.int64))
        if kind == "label":
            agree = _rows_equal(primary.reshape(rows, width), shadow.reshape(rows, width))
            if agree is None:
                self.mismatch(seq, "incomparable")
                return
            self.labels.push(seq=np.full(rows, seq), agree=agree)
            self.totals.agreeing_rows += int(np.count_nonzero(agree))
        else:
            self._add_floats(seq, primary.astype(np.float64).ravel(), shadow.astype(np.float64).ravel())
        self.kind = kind
        self.requests.push(seq=seq, rows=rows, mismatch=False)
        self.totals.rows += rows

    def _add_floats(self, seq: int, primary: NDArray[np.float64], shadow: NDArray[np.float64]) -> None:
        self.values.push(seq=np.full(primary.size, seq), primary=primary, shadow=shadow)
        finite = np.isfinite(primary) & np.isfinite(shadow)
        primary, shadow = primary[finite], shadow[finite]
        totals = self.totals
        totals.non_finite += int(finite.size - primary.size)
        if primary.size:
            diff = np.abs(primary - shadow)
            totals.sum_abs_diff += float(diff.sum())
            totals.max_abs_diff = max(totals.max_abs_diff or 0.0, float(diff.max()))
            totals.moments.add(primary, shadow)

    def window_report(self, newer_than: int) -> dict[str, Any]:
        requests = self.requests.columns(newer_than)
        report: dict[str, Any] = {
            "kind": self.kind,
            "rows": int(requests["rows"].sum()),
            "mismatches": int(np.count_nonzero(requests["mismatch"])),
        }
        if self.kind == "label":
            agree = self.labels.columns(newer_than)["agree"]
            report["compared_rows"] = int(agree.size)
            report["agreement_rate"] = float(agree.mean()) if agree.size else None
        elif self.kind == "float":
            values = self.values.columns(newer_than)
            report.update(_float_report(values["primary"], values["shadow"]))
        return report

    def state(self) -> dict[str, Any]:
        """The totals as JSON (mergeable with another process's: ``_merge_output``)."""
        totals = self.totals
        return {
            "kind": self.kind,
            "rows": totals.rows,
            "mismatches": dict(totals.mismatches),
            "agreeing_rows": totals.agreeing_rows,
            "non_finite": totals.non_finite,
            "sum_abs_diff": totals.sum_abs_diff,
            "max_abs_diff": totals.max_abs_diff,
            "moments": dict(totals.moments.__dict__),
        }


def _merge_output(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    mismatches = dict(a["mismatches"])
    for reason, n in b["mismatches"].items():
        mismatches[reason] = mismatches.get(reason, 0) + n
    maxima = [m for m in (a["max_abs_diff"], b["max_abs_diff"]) if m is not None]
    moments = _Moments(**a["moments"]).merge(_Moments(**b["moments"]))
    return {
        "kind": a["kind"] or b["kind"],
        "rows": a["rows"] + b["rows"],
        "mismatches": mismatches,
        "agreeing_rows": a["agreeing_rows"] + b["agreeing_rows"],
        "non_finite": a["non_finite"] + b["non_finite"],
        "sum_abs_diff": a["sum_abs_diff"] + b["sum_abs_diff"],
        "max_abs_diff": max(maxima) if maxima else None,
        "moments": dict(moments.__dict__),
    }


def _output_total_report(state: dict[str, Any]) -> dict[str, Any]:
    kind, rows = state["kind"], state["rows"]
    report: dict[str, Any] = {
        "kind": kind,
        "rows": rows,
        "mismatches": sum(state["mismatches"].values()),
        "mismatch_reasons": dict(sorted(state["mismatches"].items())),
    }
    if kind == "label":
        report["agreement_rate"] = state["agreeing_rows"] / rows if rows else None
    elif kind == "float":
        moments = _Moments(**state["moments"])
        n = moments.n
        report["values"] = n
        report["non_finite"] = state["non_finite"]
        report["mean_abs_diff"] = state["sum_abs_diff"] / n if n else None
        report["max_abs_diff"] = state["max_abs_diff"]
        report["correlation"] = moments.correlation()
    return report


@dataclass
class _LatencyTotals:
    count: int = 0
    total: float = 0.0
    maximum: float = 0.0

    def add(self, seconds: float) -> None:
        if np.isfinite(seconds):
            self.count += 1
            self.total += seconds
            self.maximum = max(self.maximum, seconds)

    def merge(self, other: _LatencyTotals) -> _LatencyTotals:
        return _LatencyTotals(
            self.count + other.count, self.total + other.total, max(self.maximum, other.maximum)
        )

    def report(self) -> dict[str, float | None]:
        if not self.count:
            return {"mean": None, "max": None}
        return {"mean": self.total / self.count, "max": self.maximum}


@dataclass(frozen=True, slots=True)
class OutputCounters:
    """Since-start counters of one compared output (for Prometheus)."""

    kind: Kind | None
    compared: int
    """Rows compared for a label output; finite values compared for a numeric one."""
    agreeing_rows: int
    sum_abs_diff: float
    mismatches: int


@dataclass(frozen=True, slots=True)
class ComparisonCounters:
    requests: int
    primary_errors: int
    shadow_errors: int
    outputs: dict[str, OutputCounters]


class ShadowComparison:
    """Compares a shadow target with the primary over a window of requests and since the start."""

    def __init__(
        self,
        endpoint: str = "",
        primary: str = "",
        shadow: str = "",
        window: int = 1000,
        max_values: int = 100_000,
    ) -> None:
        if window < 1 or max_values < 1:
            raise InvalidInput(f"window and max_values must be positive, got {window} and {max_values}")
        self.endpoint, self.primary, self.shadow = endpoint, primary, shadow
        self.window = window
        self.max_values = max_values
        self._seq = 0
        self._requests = _Ring(
            window,
            {
                "seq": np.int64,
                "primary_latency": np.float64,
                "shadow_latency": np.float64,
                "primary_failed": np.bool_,
                "shadow_failed": np.bool_,
            },
        )
        self._outputs: dict[str, _OutputStats] = {}
        self._errors = {"primary": 0, "shadow": 0}
        self._latency = {"primary": _LatencyTotals(), "shadow": _LatencyTotals()}

    @property
    def count(self) -> int:
        """Requests observed since the start (with or without outputs)."""
        return self._seq

    def observe(
        self,
        primary_outputs: Mapping[str, ArrayLike],
        shadow_outputs: Mapping[str, ArrayLike],
        primary_latency_s: float | None = None,
        shadow_latency_s: float | None = None,
    ) -> None:
        """Record one request both sides answered."""
        seq = self._record_request(primary_latency_s, shadow_latency_s, False, False)
        for name in sorted(primary_outputs.keys() | shadow_outputs.keys()):
            self._observe_output(seq, name, primary_outputs.get(name), shadow_outputs.get(name))

    def observe_error(
        self,
        side: Side,
        primary_latency_s: float | None = None,
        shadow_latency_s: float | None = None,
    ) -> None:
        """Record one request where ``side`` failed (``"both"`` when both did); no outputs compared."""
        if side not in ("primary", "shadow", "both"):
            raise InvalidInput(f"side must be 'primary', 'shadow' or 'both', not {side!r}")
        self._record_request(
            primary_latency_s, shadow_latency_s, side in ("primary", "both"), side in ("shadow", "both")
        )

    def _record_request(
        self,
        primary_latency_s: float | None,
        shadow_latency_s: float | None,
        primary_failed: bool,
        shadow_failed: bool,
    ) -> int:
        self._seq += 1
        primary_latency = _seconds(primary_latency_s)
        shadow_latency = _seconds(shadow_latency_s)
        self._requests.push(
            seq=self._seq,
            primary_latency=primary_latency,
            shadow_latency=shadow_latency,
            primary_failed=primary_failed,
            shadow_failed=shadow_failed,
        )
        self._errors["primary"] += primary_failed
        self._errors["shadow"] += shadow_failed
        self._latency["primary"].add(primary_latency)
        self._latency["shadow"].add(shadow_latency)
        return self._seq

    def _observe_output(
        self, seq: int, name: str, primary: ArrayLike | None, shadow: ArrayLike | None
    ) -> None:
        stats = self._outputs.get(name)
        if stats is None:
            stats = self._outputs[name] = _OutputStats(self.window, self.max_values)
        if primary is None or shadow is None:
            stats.mismatch(seq, "missing_in_primary" if primary is None else "missing_in_shadow")
            return
        primary_array, shadow_array = np.asarray(primary), np.asarray(shadow)
        if primary_array.shape != shadow_array.shape:
            stats.mismatch(seq, "shape")
            return
        kind = _kind(primary_array)
        same_family = _is_text(primary_array) == _is_text(shadow_array)
        if kind is None or kind != _kind(shadow_array) or not same_family or stats.kind not in (None, kind):
            stats.mismatch(seq, "dtype")
            return
        stats.add(seq, kind, primary_array, shadow_array)

    def report(self, others: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
        """A JSON-ready report: the last ``window`` requests and the totals since the start, the
        totals merged with ``others`` (other processes' ``state()``; the window is this process's)."""
        newer_than = self._seq - self.window
        requests = self._requests.columns()
        return {
            "endpoint": self.endpoint,
            "primary": self.primary,
            "shadow": self.shadow,
            "window_size": self.window,
            "window": {
                "count": int(requests["seq"].size),
                "primary_errors": int(np.count_nonzero(requests["primary_failed"])),
                "shadow_errors": int(np.count_nonzero(requests["shadow_failed"])),
                "latency_s": {
                    "primary": _latency_percentiles(requests["primary_latency"]),
                    "shadow": _latency_percentiles(requests["shadow_latency"]),
                },
                "outputs": {name: s.window_report(newer_than) for name, s in sorted(self._outputs.items())},
            },
            "total": _total_report(merge_states([self.state(), *others])),
        }

    def state(self) -> dict[str, Any]:
        """The since-start totals as JSON: what another process merges into its report (``merge_states``)."""
        return {
            "count": self._seq,
            "errors": dict(self._errors),
            "latency": {side: dict(totals.__dict__) for side, totals in self._latency.items()},
            "outputs": {name: stats.state() for name, stats in list(self._outputs.items())},
        }

    def counters(self) -> ComparisonCounters:
        """Since-start counts and sums, as they are kept (cheap: nothing is derived)."""
        outputs = {
            name: OutputCounters(
                s.kind,
                s.totals.rows if s.kind == "label" else s.totals.moments.n,
                s.totals.agreeing_rows,
                s.totals.sum_abs_diff,
                sum(s.totals.mismatches.values()),
            )
            for name, s in sorted(self._outputs.items())
        }
        return ComparisonCounters(self._seq, self._errors["primary"], self._errors["shadow"], outputs)


def merge_states(states: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The totals of all the comparisons whose ``state()`` these are, as one ``state()``."""
    merged: dict[str, Any] = {
        "count": 0,
        "errors": {"primary": 0, "shadow": 0},
        "latency": {side: dict(_LatencyTotals().__dict__) for side in ("primary", "shadow")},
        "outputs": {},
    }
    for state in states:
        merged["count"] += state["count"]
        for side in ("primary", "shadow"):
            merged["errors"][side] += state["errors"][side]
            latency = _LatencyTotals(**merged["latency"][side]).merge(
                _LatencyTotals(**state["latency"][side])
            )
            merged["latency"][side] = dict(latency.__dict__)
        for name, output in state["outputs"].items():
            known = merged["outputs"].get(name)
            merged["outputs"][name] = output if known is None else _merge_output(known, output)
    return merged


def _total_report(state: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "count": state["count"],
        "primary_errors": state["errors"]["primary"],
        "shadow_errors": state["errors"]["shadow"],
        "latency_s": {side: _LatencyTotals(**totals).report() for side, totals in state["latency"].items()},
        "outputs": {name: _output_total_report(o) for name, o in sorted(state["outputs"].items())},
    }


def _kind(array: NDArray[Any]) -> Kind | None:
    if array.dtype.kind == "f":
        return "float"
    return "label" if array.dtype.kind in _LABEL_KINDS else None


def _is_text(array: NDArray[Any]) -> bool:
    return array.dtype.kind in "OSU"


def _seconds(value: float | None) -> float:
    """A latency as a float; NaN when unknown or invalid (left out of the statistics)."""
    if value is None:
        return float("nan")
    seconds = float(value)
    return seconds if seconds >= 0.0 else float("nan")


def _rows_equal(primary: NDArray[Any], shadow: NDArray[Any]) -> NDArray[np.bool_] | None:
    """Per row, whether all elements are equal; None when the dtypes cannot be compared."""
    try:
        equal = np.asarray(primary == shadow, dtype=np.bool_)
    except (TypeError, ValueError):
        return None
    if equal.shape != primary.shape:
        return None
    return np.asarray(equal.all(axis=1), dtype=np.bool_)


def _float_report(primary: NDArray[np.float64], shadow: NDArray[np.float64]) -> dict[str, Any]:
    finite = np.isfinite(primary) & np.isfinite(shadow)
    report: dict[str, Any] = {"values": int(finite.sum()), "non_finite": int(finite.size - finite.sum())}
    primary, shadow = primary[finite], shadow[finite]
    if primary.size == 0:
        empty = {"mean": None, "std": None, "min": None, "max": None}
        return report | {
            "mean_abs_diff": None,
            "max_abs_diff": None,
            "correlation": None,
            "primary_summary": empty,
            "shadow_summary": empty,
            "histogram": None,
        }
    diff = np.abs(primary - shadow)
    dp, ds = primary - primary.mean(), shadow - shadow.mean()
    return report | {
        "mean_abs_diff": float(diff.mean()),
        "max_abs_diff": float(diff.max()),
        "correlation": _pearson(
            primary.size,
            float(dp @ dp),
            float(ds @ ds),
            float(dp @ ds),
            _constant(primary) or _constant(shadow),
        ),
        "primary_summary": _summary(primary),
        "shadow_summary": _summary(shadow),
        "histogram": _histograms(primary, shadow),
    }


def _summary(values: NDArray[np.float64]) -> dict[str, float]:
    return {
        "mean": float(values.mean()),
        "std": float(values.std()),
        "min": float(values.min()),
        "max": float(values.max()),
    }


def _histograms(primary: NDArray[np.float64], shadow: NDArray[np.float64]) -> dict[str, list[Any]]:
    """Counts of both sides in the same bins over the union of their ranges."""
    low = float(min(primary.min(), shadow.min()))
    high = float(max(primary.max(), shadow.max()))
    if high <= low:  # one value everywhere: a unit-wide range around it
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, _HISTOGRAM_BINS + 1)
    primary_counts, _ = np.histogram(primary, bins=edges)
    shadow_counts, _ = np.histogram(shadow, bins=edges)
    return {"edges": edges.tolist(), "primary": primary_counts.tolist(), "shadow": shadow_counts.tolist()}


def _constant(values: NDArray[np.float64]) -> bool:
    return bool(values.min() == values.max())


def _pearson(n: int, ss_a: float, ss_b: float, co: float, constant: bool) -> float | None:
    """Correlation from centred sums; None when undefined (fewer than 2 values or a constant side)."""
    if n < 2 or constant or ss_a <= 0.0 or ss_b <= 0.0:
        return None
    value = co / np.sqrt(ss_a * ss_b)
    return float(min(1.0, max(-1.0, value))) if np.isfinite(value) else None


def _latency_percentiles(seconds: NDArray[np.float64]) -> dict[str, float | None]:
    known = seconds[np.isfinite(seconds)]
    if known.size == 0:
        return {"p50": None, "p99": None}
    p50, p99 = np.percentile(known, [50.0, 99.0])
    return {"p50": float(p50), "p99": float(p99)}
