"""Drift of a model or endpoint: its payload log's last rows against its version's reference.

``name`` (as called) → the logged rows of the window → the (model, version) seen most in them
(when the log names none: the model's default version, its ``production`` alias else its newest,
as ``Registry.resolve_target`` picks it; an endpoint's first route's) → the
reference: the data given when that version was registered, else the first
``reference_rows`` logged rows of ``name``. Inputs are compared over the whole window; outputs
(prediction drift) only over the rows that version answered, against that version's rows among
the first logged ones, since the reference data holds inputs only.

A logged reference counts only once it is complete, and is compared only with rows logged after
it: a window is never compared with itself. Until then the comparisons it serves are left out, and
a report that could compare nothing has the status ``insufficient_data`` and says why.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from modelport.core.errors import InvalidInput, NotFound
from modelport.core.settings import DriftSettings
from modelport.core.targets import Target
from modelport.monitoring.drift.features import Features, column_array, log_features
from modelport.monitoring.drift.reference import reference_table
from modelport.monitoring.drift.report import INSUFFICIENT, compare_features, worst
from modelport.monitoring.payloads.columns import INPUT_PREFIX, OUTPUT_PREFIX
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
    ``reference_rows`` of a log), so a report costs two log reads and the statistics."""

    def __init__(self, registry: Registry, store: PayloadStore, settings: DriftSettings) -> None:
        self._registry = registry
        self._store = store
        self._settings = settings
        self._registered: dict[str, Features] = {}
        self._first_rows: dict[str, pa.Table] = {}
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
        features = compare_features(
            reference, log_features(compared, signature.inputs, INPUT_PREFIX), self._settings
        )
        outputs = compare_features(
            log_features(_rows_of(version, first), signature.outputs, OUTPUT_PREFIX),
            log_features(_rows_of(version, after), signature.outputs, OUTPUT_PREFIX),
            self._settings,
        )
        report = {
            "name": name,
            "model": version.model,
            "version": version.number,
            "window": window,
            "live_rows": compared.num_rows,
            "reference": {"source": source, "rows": _rows(reference) if compared.num_rows else 0},
            "status": worst(f["status"] for f in [*features, *outputs]),
            "computed_at": datetime.now(UTC).isoformat(),
            "features": features,
            "outputs": outputs,
        }
        if not features and not outputs:
            report["status"] = INSUFFICIENT
            report["reason"] = why_not or f"no feature of {name!r} could be compared with its reference"
        return report

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
        try:
            table = data if isinstance(data, pa.Table) else reference_table(data, version.signature)
        except InvalidInput as exc:  # an old .npy sample that does not fit the signature
            log.warning("reference of %s:%d is unusable for drift: %s", version.model, version.number, exc)
            table = pa.table({})
        features = {name: column_array(table.column(name)) for name in table.column_names}
        assert version.reference_digest is not None
        self._remember(self._registered, version.reference_digest, features)
        return features

    def _remember(self, cache: dict[str, Any], key: str, value: Any) -> None:
        with self._lock:
            cache[key] = value
            while len(cache) > CACHED:
                del cache[next(iter(cache))]


def _rows_of(version: ModelVersion, table: pa.Table) -> pa.Table:
    if table.num_rows == 0:
        return table
    mask = pc.and_(
        pc.equal(table.column("model"), version.model), pc.equal(table.column("version"), version.number)
    )
    return table.filter(pc.fill_null(mask, False))


def _rows(features: Features) -> int:
    return max((len(values) for values in features.values()), default=0)
