"""Drift of a model or endpoint: its payload log's last rows against its version's reference.

``name`` (as called) → the logged rows of the window → the (model, version) seen most in them
(when the log names none: the model's default version, its ``production`` alias else its newest,
as ``Registry.resolve_target`` picks it; an endpoint's first route's) → the
reference: the data given when that version was registered, else the first
``reference_rows`` logged rows of ``name``. Inputs are compared over the whole window; outputs
(prediction drift) only over the rows that version answered, against that version's own first
``reference_rows`` logged rows under ``name``, since the reference data holds inputs only. (They
were once its rows among the name's first logged rows: a version deployed after logging began has
none there, so it silently got no prediction drift.)

A logged reference counts only once it is complete, and is compared only with rows logged after
it: a window is never compared with itself. Until then the comparisons it serves are left out, and
a report that could compare nothing has the status ``insufficient_data`` and says why; outputs
left out while inputs are compared get an ``outputs_reason``. Input features that cannot be
compared (``monitoring/drift/schema.py``: on one side only, or text against numbers) are listed
and make the report ``alert``.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from modelport.core.errors import InvalidInput, NotFound
from modelport.core.settings import DriftSettings
from modelport.core.targets import Target
from modelport.core.tensors import TensorSpec
from modelport.monitoring.drift.features import Features, belongs_to, column_array, log_features
from modelport.monitoring.drift.reference import cast_to_signature, reference_table
from modelport.monitoring.drift.report import INSUFFICIENT, compare_features, judge, worst
from modelport.monitoring.drift.schema import Alignment, align
from modelport.monitoring.payloads.columns import INPUT_PREFIX, OUTPUT_PREFIX, concat
from modelport.monitoring.payloads.store import PayloadStore
from modelport.registry.catalog import Registry
from modelport.registry.records import ModelVersion

__all__ = ["DriftService"]

log = logging.getLogger(__name__)

Json = dict[str, Any]

MAX_WINDOW = 1_000_000
"""Largest ``window`` a caller may ask for: bounds the memory one report takes."""
CACHED = 64
"""References kept per cache (registered ones, first logged rows); the oldest entry goes first."""


class DriftService:
    """Builds drift reports; caches what cannot change (registered references, a complete first
    ``reference_rows`` of a log, a version's own first rows as far as they were read), so a report
    costs two log reads and the statistics."""

    def __init__(self, registry: Registry, store: PayloadStore, settings: DriftSettings) -> None:
        self._registry = registry
        self._store = store
        self._settings = settings
        self._registered: dict[str, Features] = {}
        self._first_rows: dict[str, pa.Table] = {}
        self._version_rows: dict[tuple[str, str, int], tuple[pa.Table, datetime, timedelta]] = {}
        """(name, model, version) → its first logged rows so far, and where to read on from."""
        self._lock = threading.Lock()

    def logged_names(self) -> list[str]:
        """Names with a payload log (``PayloadStore.names``)."""
        return self._store.names()

    def report(self, name: str, window: int | None = None) -> Json:
        window = self._settings.window if window is None else window
        if not 1 <= window <= MAX_WINDOW:
            raise InvalidInput(f"window must be between 1 and {MAX_WINDOW} rows, got {window}")
        try:
            is_model = self._registry.name_kind(name) == "model"
        except NotFound:
            raise NotFound(f"no model or endpoint is called {name!r}") from None
        live = self._store.read(name, last_rows=window)
        if live.num_rows == 0:
            raise NotFound(
                f"nothing is logged for {name!r} yet: turn the payload log on with "
                f"`modelport monitor set {name} --sample-rate 1.0`, then send some requests"
            )
        version = self._version(name, is_model, live)
        first = self._first(name)
        after, why_not = self._after_reference(name, live, first)
        reference, source = self._input_reference(version, first)
        signature = version.signature
        compared = live if source == "registration" else after
        inputs = _align(reference, compared, signature.inputs)
        features = compare_features(inputs.reference, inputs.live, self._settings)
        own, own_after, outputs_why = self._version_reference(name, version, live, first)
        outputs = compare_features(
            log_features(own, signature.outputs, OUTPUT_PREFIX),
            log_features(own_after, signature.outputs, OUTPUT_PREFIX),
            self._settings,
        )
        judge([*features, *outputs], self._settings)  # one family: Holm over inputs and outputs
        statuses = [f["status"] for f in [*features, *outputs]]
        report = {
            "name": name,
            "model": version.model,
            "version": version.number,
            "window": window,
            "live_rows": compared.num_rows,
            "reference": {"source": source, "rows": _rows(reference) if compared.num_rows else 0},
            "status": worst([*statuses, "alert"] if inputs.problems else statuses),
            "computed_at": datetime.now(UTC).isoformat(),
            "features": features,
            "outputs": outputs,
            "type_mismatches": inputs.type_mismatches,
            "unmatched_features": {"live_only": inputs.live_only, "reference_only": inputs.reference_only},
        }
        if not outputs and outputs_why:
            report["outputs_reason"] = outputs_why
        if not features and not outputs and not inputs.problems:
            report["status"] = INSUFFICIENT
            report["reason"] = why_not or f"no feature of {name!r} could be compared with its reference"
        elif report["status"] == INSUFFICIENT:  # every feature judged alone had too few rows
            report["reason"] = (
                f"fewer than drift.min_rows ({self._settings.min_rows}) usable rows on a side of every "
                f"feature: {compared.num_rows} live rows, {report['reference']['rows']} reference rows"
            )
        return report

    def _version_reference(
        self, name: str, version: ModelVersion, live: pa.Table, first: pa.Table
    ) -> tuple[pa.Table, pa.Table, str]:
        """The version's own first ``reference_rows`` logged rows under ``name`` (its outputs'
        reference), its rows of ``live`` logged after them, and why there are none."""
        wanted = self._settings.reference_rows
        own = self._first_of_version(name, version, live, first)
        which = f"version {version.number} of {version.model!r}"
        if own.num_rows < wanted:
            none = own.slice(0, 0)
            why = (
                f"{which} has {own.num_rows} of the {wanted} logged rows its outputs are compared "
                "with: prediction drift is measured on its rows logged after them"
            )
            return none, none, why
        mine = _rows_of(version, live)
        after = mine.filter(pc.greater(mine.column("time"), own.column("time")[-1]))
        why = f"no rows of {which} in this window were logged after its {wanted} reference rows"
        return own, after, "" if after.num_rows else why

    def _first_of_version(
        self, name: str, version: ModelVersion, live: pa.Table, first: pa.Table
    ) -> pa.Table:
        """The version's first ``reference_rows`` rows of ``name``'s log: among the name's first
        rows, else (a version deployed later) read on in spans of time that double, up to the
        newest logged row. How far it read is kept, so the next report reads on from there."""
        wanted = self._settings.reference_rows
        key = (name, version.model, version.number)
        known = self._version_rows.get(key)
        if known is not None:
            rows, low, span = known
        else:
            mine = _rows_of(version, first)
            if first.num_rows < wanted or mine.num_rows >= wanted:  # the whole log, or enough
                return mine.slice(0, wanted)
            times = first.column("time")
            low = times[-1].as_py()  # read on from here: rows at this time may lie past ``first``
            rows = mine.filter(pc.less(mine.column("time"), times[-1]))
            span = max(low - times[0].as_py(), timedelta(seconds=1))
        end = live.column("time")[-1].as_py() + timedelta(microseconds=1)
        while rows.num_rows < wanted and low < end:
            high = min(low + span, end)
            rows = concat([rows, _rows_of(version, self._store.read(name, since=low, until=high))])
            low, span = high, span * 2
        rows = rows.slice(0, wanted)
        self._remember(self._version_rows, key, (rows, low, span))
        return rows

    def _after_reference(self, name: str, live: pa.Table, first: pa.Table) -> tuple[pa.Table, str]:
        """The live rows logged after the first ``reference_rows`` (none while those are incomplete),
        and why there are none."""
        wanted = self._settings.reference_rows
        if first.num_rows < wanted:
            return live.slice(0, 0), (
                f"{name!r} has no reference data from registration, and {first.num_rows} of the {wanted} "
                "logged rows that stand in for it: drift is measured on the rows logged after them"
            )
        end = first.column("time")[-1]
        after = live.filter(pc.greater(live.column("time"), end))
        why = f"no rows of {name!r} were logged after its {wanted} reference rows yet"
        return after, "" if after.num_rows else why

    def _version(self, name: str, is_model: bool, live: pa.Table) -> ModelVersion:
        served = live.select(["model", "version"]).drop_null()
        if served.num_rows:
            counts = served.group_by(["model", "version"]).aggregate([([], "count_all")])
            top = counts.sort_by([("count_all", "descending"), ("version", "descending")]).slice(0, 1)
            return self._registry.get_version(top["model"][0].as_py(), int(top["version"][0].as_py()))
        # nothing says which version answered: the model's default, or the endpoint's first route
        target = Target(name) if is_model else self._registry.get_endpoint(name).config.routes[0].target
        return self._registry.resolve_target(target)

    def _first(self, name: str) -> pa.Table:
        cached = self._first_rows.get(name)
        if cached is not None:
            return cached
        first = self._store.read(name, first_rows=self._settings.reference_rows)
        if first.num_rows >= self._settings.reference_rows:  # complete: it can no longer change
            self._remember(self._first_rows, name, first)
        return first

    def _input_reference(self, version: ModelVersion, first: pa.Table) -> tuple[Features, str]:
        digest = version.reference_digest
        if digest is not None:
            cached = self._registered.get(digest)
            if cached is None:
                cached = self._load_registered(version)
            if cached:
                return cached, "registration"
        return log_features(first, version.signature.inputs, INPUT_PREFIX), "logged"

    def _load_registered(self, version: ModelVersion) -> Features:
        data = self._registry.reference_data(version.model, version.number)
        try:  # cast again: a table stored before registration cast references is cast here
            if isinstance(data, pa.Table):
                table = cast_to_signature(data, version.signature)
            else:
                table = reference_table(data, version.signature)
        except InvalidInput as exc:  # an old sample that does not fit the signature
            log.warning("reference of %s:%d is unusable for drift: %s", version.model, version.number, exc)
            table = pa.table({})
        features = {name: column_array(table.column(name)) for name in table.column_names}
        assert version.reference_digest is not None
        self._remember(self._registered, version.reference_digest, features)
        return features

    def _remember(self, cache: dict[Any, Any], key: Any, value: Any) -> None:
        with self._lock:
            cache[key] = value
            while len(cache) > CACHED:
                del cache[next(iter(cache))]


def _align(reference: Features, live: pa.Table, specs: tuple[TensorSpec, ...]) -> Alignment:
    """The features of ``live`` and the reference that can be compared, and those that cannot.
    A tensor the log does not hold (redaction ``drop``) is left out on both sides; with no live
    rows, nothing is compared or reported."""
    if live.num_rows == 0:
        return Alignment()
    logged = [spec.name for spec in specs if INPUT_PREFIX + spec.name in live.column_names]
    kept = {name: values for name, values in reference.items() if any(belongs_to(name, t) for t in logged)}
    return align(kept, log_features(live, specs, INPUT_PREFIX))


def _rows_of(version: ModelVersion, table: pa.Table) -> pa.Table:
    if table.num_rows == 0:
        return table
    mask = pc.and_(
        pc.equal(table.column("model"), version.model), pc.equal(table.column("version"), version.number)
    )
    return table.filter(pc.fill_null(mask, False))


def _rows(features: Features) -> int:
    return max((len(values) for values in features.values()), default=0)
