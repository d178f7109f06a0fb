"""What each variant of an endpoint did: requests, failures, latency and, once ground truth arrives,
quality. Feeds A/B reports (with confidence intervals) and the guardrails of rollouts.

Everything is kept as mergeable aggregates (``state()``), so that a report or the rollout judge can
merge what every server process saw: per variant since the start (the A/B report), and per
variant under each of the endpoint's recent revisions (``RevisionEvidence``, for the judge, which
counts only what was served since its rollout began).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelport.core.errors import Conflict, InvalidInput, NotFound
from modelport.core.inference import MAX_REQUEST_ID_CHARS
from modelport.core.judged import StoredPrediction
from modelport.monitoring.evidence import RevisionEvidence
from modelport.monitoring.sequential import difference_interval, proportion_interval, significant_difference
from modelport.monitoring.sketches import LatencySketch, Moments

__all__ = [
    "REMEMBER_BYTES",
    "REMEMBER_PREDICTIONS",
    "Claim",
    "EndpointOutcomes",
    "OutcomeEvent",
    "VariantCounts",
]


REVISIONS_KEPT = 64
"""Endpoint revisions whose evidence is kept per endpoint, the newest; older ones are dropped."""


@dataclass(frozen=True, slots=True)
class OutcomeEvent:
    """One outcome as the rollout judge consumes it."""

    seq: int
    variant: str
    kind: str
    """``request`` (``failed``, ``latency_s``) or ``feedback`` (one per judged request)."""
    failed: float
    """For a request, 1 if it failed else 0; for feedback, the share of its rows predicted wrong."""
    latency_s: float = 0.0
    revision: int = 0
    """The endpoint revision the request was served under (for feedback, the judged request's)."""
    at: float = 0.0
    """When the outcome was known (monotonic seconds): the rollout judge pairs outcomes close in time."""


@dataclass(frozen=True, slots=True)
class VariantCounts:
    requests: int
    failures: int
    """Requests that failed for a reason other than bad input."""
    judged_rows: int
    """Rows with ground truth from feedback."""
    correct_rows: int
    """Judged rows whose label prediction was right (label outputs only)."""


@dataclass
class _Tally:
    """One variant's outcomes since the start, as mergeable sums and sketches (``merge``)."""

    requests: int = 0
    failures: int = 0
    latency: LatencySketch = field(default_factory=LatencySketch)
    judged_rows: int = 0
    correct_rows: int = 0
    judged_requests: int = 0
    correct_share: float = 0.0
    """Sum over judged requests (label outputs) of the share of their rows that were right."""
    abs_errors: Moments = field(default_factory=Moments)

    def merge(self, other: _Tally) -> _Tally:
        return _Tally(
            self.requests + other.requests,
            self.failures + other.failures,
            self.latency.merge(other.latency),
            self.judged_rows + other.judged_rows,
            self.correct_rows + other.correct_rows,
            self.judged_requests + other.judged_requests,
            self.correct_share + other.correct_share,
            self.abs_errors.merge(other.abs_errors),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "failures": self.failures,
            "latency": self.latency.to_json(),
            "judged_rows": self.judged_rows,
            "correct_rows": self.correct_rows,
            "judged_requests": self.judged_requests,
            "correct_share": self.correct_share,
            "abs_errors": self.abs_errors.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _Tally:
        return cls(
            int(data["requests"]),
            int(data["failures"]),
            LatencySketch.from_json(data["latency"]),
            int(data["judged_rows"]),
            int(data["correct_rows"]),
            int(data["judged_requests"]),
            float(data["correct_share"]),
            Moments.from_json(data["abs_errors"]),
        )

    def report(self) -> dict[str, Any]:
        p50, p99 = self.latency.quantile(0.5), self.latency.quantile(0.99)
        report: dict[str, Any] = {
            "requests": self.requests,
            "failures": self.failures,
            "failure_rate": self.failures / self.requests if self.requests else None,
            "failure_rate_ci95": proportion_interval(self.failures, self.requests) if self.requests else None,
            "latency_p50_ms": None if p50 is None else p50 * 1000,
            "latency_p99_ms": None if p99 is None else p99 * 1000,
            "feedback_rows": self.judged_rows,
        }
        if self.judged_requests:
            report["feedback_requests"] = self.judged_requests
            report["accuracy"] = self.correct_share / self.judged_requests
            report["accuracy_ci95"] = proportion_interval(self.correct_share, self.judged_requests)
        if self.abs_errors.n:
            mae, std = self.abs_errors.mean, self.abs_errors.std()
            half = None if std is None else 1.96 * std / math.sqrt(self.abs_errors.n)
            report["mean_abs_error"] = mae
            report["mean_abs_error_ci95"] = None if half is None else (mae - half, mae + half)
        return report


@dataclass(slots=True)
class _Remembered:
    """A prediction feedback can still judge: who answered it, under which endpoint revision."""

    variant: str
    revision: int
    prediction: np.ndarray
    judged: bool = False
    stored: bool = False
    """In the registry (``mark_stored``): a claim then never stores it again, so one judged and
    pruned there since is unknown, not judged twice."""


Claim = Callable[
    [Sequence[str], Callable[[Mapping[str, StoredPrediction]], None], Sequence[StoredPrediction]],
    Mapping[str, StoredPrediction],
]
"""``(request ids, check, this process's predictions of them)`` -> every id's prediction, claimed
as judged all or none (``Registry.claim_predictions`` for one endpoint); ``check`` may refuse first."""

REMEMBER_PREDICTIONS = 100_000
"""Predictions remembered per endpoint for feedback, at most..."""
REMEMBER_BYTES = 64 * 1024 * 1024
"""... and at most this many bytes of them (ids, values and a per-entry overhead), oldest forgotten first."""
_ENTRY_OVERHEAD = 256
"""Bytes a remembered prediction costs beyond its id and values (dict slot, tuple, array header)."""


class EndpointOutcomes:
    """Outcomes per variant, and the recent predictions that feedback can still judge.

    A prediction is remembered under its request id only if no other prediction is remembered
    under that id: a later request reusing an id cannot change what feedback for it is judged
    against. Remembered predictions are bounded by count and by bytes. With several server
    processes, each takes the ones remembered since its last flush (``take_unflushed``) to the
    registry, and feedback is judged there (``judge``) rather than here (``feedback``).
    """

    def __init__(
        self,
        endpoint: str,
        remember: int = REMEMBER_PREDICTIONS,
        remember_bytes: int = REMEMBER_BYTES,
    ) -> None:
        self.endpoint = endpoint
        self._tallies: dict[str, _Tally] = {}
        self._predictions: OrderedDict[str, _Remembered] = OrderedDict()
        self._remember = remember
        self._remember_bytes = remember_bytes
        self._remembered_bytes = 0
        self._unflushed: deque[str] = deque()
        """Ids remembered since the last ``take_unflushed`` (appended on the loop, taken from a thread)."""
        self._revisions: dict[int, dict[str, RevisionEvidence]] = {}
        self._feedback_lock = threading.Lock()

    def record(
        self,
        request_id: str,
        variant: str,
        failed: bool,
        latency_s: float,
        prediction: np.ndarray | None,
        revision: int = 0,
    ) -> None:
        """One request to ``variant`` (the version that answered, ``model:N``) under endpoint ``revision``."""
        tally = self._tallies.setdefault(variant, _Tally())
        tally.requests += 1
        tally.failures += failed
        tally.latency.add(latency_s)
        self._evidence(revision, variant).add_request(failed, latency_s)
        if prediction is not None:
            self._remember_prediction(request_id, variant, prediction, revision)

    def _remember_prediction(
        self, request_id: str, variant: str, prediction: np.ndarray, revision: int
    ) -> None:
        if request_id in self._predictions:
            return  # the first request with this id keeps it
        if prediction.dtype.kind in "OSU":  # held as the text it is judged by
            prediction = _as_text(prediction)
        cost = _cost(request_id, prediction)
        if cost > self._remember_bytes:
            return
        self._predictions[request_id] = _Remembered(variant, revision, prediction)
        self._unflushed.append(request_id)
        self._remembered_bytes += cost
        while len(self._predictions) > self._remember or self._remembered_bytes > self._remember_bytes:
            old_id, old = self._predictions.popitem(last=False)
            self._remembered_bytes -= _cost(old_id, old.prediction)

    def check_known(self, request_ids: Sequence[str]) -> None:
        """``NotFound`` naming the first id without a remembered prediction; ``Conflict`` for an id
        already judged, or given twice: feedback is counted once per request, the first label stands."""
        seen: set[str] = set()
        for request_id in request_ids:
            found = self._predictions.get(request_id)
            if found is None:
                raise NotFound(
                    f"endpoint {self.endpoint!r} remembers no prediction with request id {_shown(request_id)}"
                )
            if found.judged or request_id in seen:
                raise Conflict(
                    f"request {_shown(request_id)} already has feedback on endpoint {self.endpoint!r}; "
                    "the first label stands"
                )
            seen.add(request_id)

    def feedback(
        self, items: Sequence[tuple[str, Sequence[Any]]], claim: Claim | None = None
    ) -> list[dict[str, Any]]:
        """Judge predictions against their ground truth (``(request id, one value per row)``), all or
        none: every id is checked (known, not judged yet, row count) before any counts.

        Without ``claim``, only the predictions remembered here are known and judged; with it (the
        registry's ``claim_predictions``), those of every process, and "judged once" is decided there.
        """
        request_ids = [request_id for request_id, _ in items]
        truths = {request_id: np.asarray(truth) for request_id, truth in items}

        def check_rows(stored: Mapping[str, StoredPrediction]) -> None:
            for request_id, expected in truths.items():
                _check_rows(request_id, stored[request_id].prediction.size, expected)

        with self._feedback_lock:  # two concurrent calls with one id must not both pass the check
            if claim is None:
                self.check_known(request_ids)
                stored = {p.request_id: p for p in self.remembered(request_ids)}
                check_rows(stored)
                for request_id in request_ids:
                    self._predictions[request_id].judged = True
            else:
                unstored = [p for p in self.remembered(request_ids) if not self._is_stored(p.request_id)]
                stored = dict(claim(request_ids, check_rows, unstored))
            return [self._count(stored[request_id], truths[request_id]) for request_id in request_ids]

    def take_unflushed(self) -> list[StoredPrediction]:
        """The predictions remembered since the last call (those still remembered), for the registry."""
        taken = []
        while self._unflushed:
            request_id = self._unflushed.popleft()
            found = self._predictions.get(request_id)
            if found is not None:
                taken.append(StoredPrediction(request_id, found.variant, found.revision, found.prediction))
        return taken

    def mark_stored(self, request_ids: Sequence[str]) -> None:
        """These predictions are in the registry now (the flush committed them)."""
        for request_id in request_ids:
            found = self._predictions.get(request_id)
            if found is not None:
                found.stored = True

    def _is_stored(self, request_id: str) -> bool:
        found = self._predictions.get(request_id)
        return found is not None and found.stored

    def remembered(self, request_ids: Sequence[str]) -> list[StoredPrediction]:
        """The predictions remembered here under these ids (unknown ids are left out)."""
        found = [(request_id, self._predictions.get(request_id)) for request_id in request_ids]
        return [
            StoredPrediction(request_id, f.variant, f.revision, f.prediction)
            for request_id, f in found
            if f is not None
        ]

    def _count(self, stored: StoredPrediction, expected: np.ndarray) -> dict[str, Any]:
        request_id, variant, prediction = stored.request_id, stored.variant, stored.prediction
        tally = self._tallies.setdefault(variant, _Tally())  # served by another process: new here
        if prediction.dtype.kind == "f":
            errors = np.abs(
                prediction.astype(float) - expected.reshape(prediction.shape).astype(float)
            ).ravel()
            for error in errors.tolist():
                tally.abs_errors.add(error)
            tally.judged_rows += errors.size
            return {
                "id": request_id,
                "variant": variant,
                "rows": int(errors.size),
                "abs_error": errors.tolist(),
            }
        correct = _as_text(prediction.ravel()) == _as_text(expected.ravel())
        tally.judged_rows += correct.size
        tally.correct_rows += int(correct.sum())
        if correct.size:  # rows of one request are not independent: one bounded outcome per request
            right = float(correct.mean())
            tally.judged_requests += 1
            tally.correct_share += right
            self._evidence(stored.revision, variant).add_feedback(1.0 - right)
        return {
            "id": request_id,
            "variant": variant,
            "rows": int(correct.size),
            "correct": int(correct.sum()),
        }

    def counts(self) -> dict[str, VariantCounts]:
        """Since-start counters per variant (for Prometheus)."""
        return {
            label: VariantCounts(t.requests, t.failures, t.judged_rows, t.correct_rows)
            for label, t in self._tallies.items()
        }

    def state(self) -> dict[str, Any]:
        """This process's aggregates as JSON, for other processes to merge: ``variants`` (for
        ``report``) and ``revisions`` (revision -> variant -> ``RevisionEvidence``, for the judge).
        Safe beside the event loop's counting (dicts are copied before they are walked); read it
        on the loop for a consistent snapshot."""
        return {
            "variants": {label: tally.to_json() for label, tally in list(self._tallies.items())},
            "revisions": {
                str(revision): {label: evidence.to_json() for label, evidence in list(variants.items())}
                for revision, variants in list(self._revisions.items())
            },
        }

    def report(self, others: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
        """Per-variant metrics with 95% intervals, and for each pair whether the failure rates
        (and accuracies) differ significantly, over this process's outcomes and ``others``
        (other processes' ``state()``). Intervals hold for one planned look."""
        tallies = dict(self._tallies)
        for state in others:
            for label, data in state["variants"].items():
                theirs = _Tally.from_json(data)
                tallies[label] = tallies[label].merge(theirs) if label in tallies else theirs
        variants = {label: tally.report() for label, tally in sorted(tallies.items())}
        return {"endpoint": self.endpoint, "variants": variants, "comparisons": _comparisons(tallies)}

    def _evidence(self, revision: int, variant: str) -> RevisionEvidence:
        variants = self._revisions.get(revision)
        if variants is None:
            variants = self._revisions[revision] = {}
            while len(self._revisions) > REVISIONS_KEPT:
                del self._revisions[min(self._revisions)]
        evidence = variants.get(variant)
        if evidence is None:
            evidence = variants[variant] = RevisionEvidence()
        return evidence


def _comparisons(tallies: Mapping[str, _Tally]) -> list[dict[str, Any]]:
    labels = sorted(tallies)
    comparisons = []
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            ta, tb = tallies[a], tallies[b]
            entry: dict[str, Any] = {"a": a, "b": b}
            if ta.requests and tb.requests:
                entry["failure_rate_difference_ci95"] = difference_interval(
                    ta.failures, ta.requests, tb.failures, tb.requests
                )
                entry["failure_rate_significant"] = significant_difference(
                    ta.failures, ta.requests, tb.failures, tb.requests
                )
            if ta.judged_requests and tb.judged_requests:
                args = (ta.correct_share, ta.judged_requests, tb.correct_share, tb.judged_requests)
                entry["accuracy_difference_ci95"] = difference_interval(*args)
                entry["accuracy_significant"] = significant_difference(*args)
            comparisons.append(entry)
    return comparisons


def _check_rows(request_id: str, size: int, expected: np.ndarray) -> None:
    if expected.size != size:
        raise InvalidInput(f"request {_shown(request_id)} predicted {size} rows; got {expected.size} labels")


def _cost(request_id: str, prediction: np.ndarray) -> int:
    """Bytes a remembered prediction holds; for text, its characters, not only the array's pointers."""
    size = prediction.nbytes
    if prediction.dtype.kind == "O":
        size += sum(len(value) for value in prediction.ravel().tolist())
    return len(request_id) + size + _ENTRY_OVERHEAD


def _as_text(values: np.ndarray) -> np.ndarray:
    """Each element as a Python ``str``, ``bytes`` read as UTF-8 (``surrogateescape`` keeps any byte).

    Never numpy's fixed-width strings: converting to them decodes bytes as ASCII (a 500 for "été")
    and drops trailing NULs ("a\\0" would be judged equal to "a").
    """
    text = np.empty(values.size, dtype=object)
    text[:] = [
        value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)
        for value in values.ravel().tolist()
    ]
    return text.reshape(values.shape)


def _shown(request_id: str) -> str:
    """An id as error messages quote it: no longer than an accepted request id (feedback ids are not)."""
    return repr(request_id) if len(request_id) <= MAX_REQUEST_ID_CHARS else f"of {len(request_id)} characters"
