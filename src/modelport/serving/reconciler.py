"""Converges what a server has loaded on what the registry says should be live.

Each step is idempotent: read the registry revision (every poll interval, or at once when
``wake`` is called: a PostgreSQL registry announces each change); when it moved, read one consistent
snapshot, load and warm what is missing, publish a new routing table (one reference swap), then
drain and unload what is no longer wanted. Requests never wait on any of this.

A version that cannot be loaded never takes traffic from one that works. While a model has a
version that should be live but is not loaded (still loading, or failed), the versions it served
before stay loaded ("held"), an alias moved to the missing version keeps answering with the version
it named before, and an endpoint keeps its previous routes. The registry says where an alias
points; the routing table says which version answers for it, and status shows both.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

from modelport.core.endpoints import EndpointConfig
from modelport.core.errors import ModelportError, NotReady
from modelport.core.serving_config import ServingConfig
from modelport.registry.records import ModelVersion, RegistrySnapshot
from modelport.serving.endpoints import EndpointRoutes, build_endpoint
from modelport.serving.loaded import LoadedVersion, ModelRoutes, Predictor
from modelport.serving.table import RoutingTable

__all__ = ["PredictorFactory", "Reconciler", "RegistryReader", "VersionLoading"]

log = logging.getLogger(__name__)
Key = tuple[str, int]
PredictorFactory = Callable[[LoadedVersion, ServingConfig], Predictor]


class RegistryReader(Protocol):
    def revision(self) -> int: ...

    def snapshot(self) -> RegistrySnapshot: ...


class VersionLoading(Protocol):
    def load(self, version: ModelVersion) -> LoadedVersion: ...


LOAD_RETRY_MAX_S = 300.0
"""The longest wait between two loads of a version that keeps failing."""


@dataclass(frozen=True, slots=True)
class LoadFailure:
    digest: str
    message: str
    attempts: int
    retry_at: float
    """``time.monotonic()`` after which the same bytes are tried again: a failure may pass (an
    object store that was down, a file repaired by storing it again)."""


class Reconciler:
    def __init__(
        self,
        registry: RegistryReader,
        loader: VersionLoading,
        predictors: PredictorFactory,
        poll_interval_s: float,
        drain_timeout_s: float,
        parallel_loads: int = 1,
        load_retry_s: float = 5.0,
    ) -> None:
        """``parallel_loads``: versions loaded at the same time (each in a worker thread);
        ``load_retry_s``: the first wait before a failed load is tried again, doubled after each
        failure up to ``LOAD_RETRY_MAX_S``."""
        self._registry = registry
        self._loader = loader
        self._predictors = predictors
        self._poll_interval_s = poll_interval_s
        self._drain_timeout_s = drain_timeout_s
        self._parallel_loads = parallel_loads
        self._load_retry_s = load_retry_s
        self._seen_revision: int | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._woken = asyncio.Event()
        self.table = RoutingTable()
        self.failures: dict[str, LoadFailure] = {}
        """Targets (``model:version``) that should be live but failed to load, with why."""
        self.ready = False
        """True once the first convergence finished (whatever failed to load is in ``failures``)."""
        self.versions_wanted = 0
        """Versions the registry says this server should serve, as of the last registry change."""
        self.versions_loaded = 0
        """How many of those are loaded (fewer while loading, or where a load failed)."""

    def failure_messages(self) -> dict[str, str]:
        """``failures`` as target → why; safe from other threads (status, rollouts): the dict is copied
        in one C call, which the loop's loads cannot interleave with."""
        return {target: failure.message for target, failure in self.failures.copy().items()}

    def wake(self) -> None:
        """Check the registry now rather than at the next poll (call on the event loop)."""
        self._woken.set()

    async def run(self) -> None:
        """Reconcile forever, every poll interval or when woken. A wake during a step starts another
        step right after it. A failing step is retried at each tick and logged once until a step
        succeeds again (a registry that is down for a minute is one error line, not 120)."""
        failing = False
        while True:
            self._woken.clear()
            try:
                await self.reconcile_once()
            except ModelportError as exc:  # e.g. the registry database unreachable: one line says why
                if not failing:
                    log.error("reconcile step failed: %s; retrying until it succeeds", exc.message)
                failing = True
            except Exception:
                if not failing:
                    log.exception("reconcile step failed; retrying until it succeeds")
                failing = True
            else:
                if failing:
                    log.info("reconcile step succeeded again")
                failing = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), self._poll_interval_s)

    async def reconcile_once(self) -> None:
        revision = await asyncio.to_thread(self._registry.revision)
        if revision == self._seen_revision and not self._retry_due():
            return
        snapshot = await asyncio.to_thread(self._registry.snapshot)
        await self._converge(snapshot)
        self._seen_revision = snapshot.revision
        self.ready = True

    async def close(self) -> None:
        """Unload everything, waiting for in-flight requests up to the drain timeout."""
        old = self.table.loaded_versions()
        self.table = RoutingTable(revision=self.table.revision)
        await asyncio.gather(*self._background, *(self._retire(v) for v in old))

    async def _converge(self, snapshot: RegistrySnapshot) -> None:
        desired = _desired_versions(snapshot)
        loaded = {(v.model, v.version): v for v in self.table.loaded_versions()}
        kept = {key: v for key, v in loaded.items() if key in desired and v.digest == desired[key].digest}
        self.failures = {t: f for t, f in self.failures.items() if _key(t) in desired}
        for key, version in kept.items():
            self._apply_config(version, snapshot.models[key[0]].summary.serving)
        self.versions_wanted, self.versions_loaded = len(desired), len(kept)
        slots = asyncio.Semaphore(self._parallel_loads)

        async def load(key: Key) -> None:
            async with slots:
                fresh = await self._load(desired[key])
            if fresh is not None:  # each version serves as soon as it is warm
                fresh.predictor = self._predictors(fresh, snapshot.models[key[0]].summary.serving)
                kept[key] = fresh
                self.versions_loaded += 1
                self._publish(snapshot, desired, _with_held(snapshot, desired, loaded, kept))

        await asyncio.gather(*(load(key) for key in sorted(desired.keys() - kept.keys())))
        self._publish(snapshot, desired, _with_held(snapshot, desired, loaded, kept))
        if kept.keys() - loaded.keys():
            _freeze_long_lived_objects()
        still_used = {id(v) for v in self.table.loaded_versions()}  # an endpoint may still hold an old one
        for version in loaded.values():
            if id(version) not in still_used:
                self._in_background(self._retire(version))

    def _apply_config(self, version: LoadedVersion, config: ServingConfig) -> None:
        """Swap in a predictor with the new settings; the old one finishes its queue, then stops."""
        old = version.predictor
        if old is not None and old.config == config:
            return
        version.predictor = self._predictors(version, config)
        if old is not None:
            self._in_background(old.close())

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _load(self, version: ModelVersion) -> LoadedVersion | None:
        target = f"{version.model}:{version.number}"
        failure = self.failures.get(target)
        same_bytes = failure is not None and failure.digest == version.digest
        if failure is not None and same_bytes and time.monotonic() < failure.retry_at:
            return None
        attempts = failure.attempts + 1 if failure is not None and same_bytes else 1
        try:
            loaded = await asyncio.to_thread(self._loader.load, version)
        except ModelportError as exc:
            self._failed(target, version.digest, exc.message, attempts)
            return None
        except Exception:
            log.exception("cannot load %s", target)
            self._failed(target, version.digest, "unexpected error while loading", attempts)
            return None
        if self.failures.pop(target, None) is not None:
            log.info("loaded %s (%s) after %d failed attempts", target, version.framework, attempts - 1)
        else:
            log.info("loaded %s (%s)", target, version.framework)
        return loaded

    def _failed(self, target: str, digest: str, message: str, attempts: int) -> None:
        wait = min(self._load_retry_s * 2 ** (attempts - 1), LOAD_RETRY_MAX_S)
        self.failures[target] = LoadFailure(digest, message, attempts, time.monotonic() + wait)
        log.error("cannot load %s: %s (attempt %d; trying again in %.1f s)", target, message, attempts, wait)

    def _retry_due(self) -> bool:
        now = time.monotonic()
        return any(failure.retry_at <= now for failure in self.failures.copy().values())

    def _publish(
        self,
        snapshot: RegistrySnapshot,
        desired: Mapping[Key, ModelVersion],
        loaded: Mapping[Key, LoadedVersion],
    ) -> None:
        models = {}
        by_model: dict[str, dict[int, LoadedVersion]] = {}
        for (name, number), version in loaded.items():
            by_model.setdefault(name, {})[number] = version
        wanted_by_model: dict[str, set[int]] = {}
        for name, number in desired:
            wanted_by_model.setdefault(name, set()).add(number)
        for model in snapshot.models.values():  # linear in versions: this runs after every load
            served = model.summary.served  # unloaded: versions an endpoint keeps loaded answer only there
            versions = by_model.get(model.name, {}) if served else {}
            wanted = frozenset(wanted_by_model.get(model.name, ()) if served else ())
            registered = dict(model.summary.aliases) if served else {}
            aliases, held = self._effective_aliases(model.name, registered, versions)
            failed = {
                n: self.failures[f"{model.name}:{n}"].message
                for n in wanted - versions.keys()
                if f"{model.name}:{n}" in self.failures
            }
            models[model.name] = ModelRoutes(
                name=model.name,
                versions=MappingProxyType(versions),
                aliases=MappingProxyType(aliases),
                pending=wanted - versions.keys(),
                held=MappingProxyType(held),
                failed=MappingProxyType(failed),
                served=served,
            )
        endpoints = self._bind_endpoints(snapshot, loaded)
        self.table = RoutingTable(
            models=MappingProxyType(models),
            endpoints=MappingProxyType(endpoints),
            revision=snapshot.revision,
            monitors=MappingProxyType(dict(snapshot.monitors)),
        )

    def _effective_aliases(
        self, model: str, registered: dict[str, int], versions: Mapping[int, LoadedVersion]
    ) -> tuple[dict[str, int], dict[str, int]]:
        """Which version answers for each alias, and the aliases held on an earlier version
        (alias → the version the registry names, which is not loaded)."""
        before = self.table.models.get(model)
        effective, held = {}, {}
        for alias, number in registered.items():
            previous = before.aliases.get(alias) if before is not None else None
            if number not in versions and previous is not None and previous in versions:
                effective[alias], held[alias] = previous, number
            else:
                effective[alias] = number
        return effective, held

    def _bind_endpoints(
        self, snapshot: RegistrySnapshot, loaded: Mapping[Key, LoadedVersion]
    ) -> dict[str, EndpointRoutes]:
        """Each endpoint on its new config once every route is loaded; until then, on its previous one."""
        bound = {}
        for name, endpoint in snapshot.endpoints.items():
            targets = _endpoint_targets(snapshot, endpoint.config)
            resolve = {label: loaded[key] for label, key in targets.items() if key in loaded}
            try:
                bound[name] = build_endpoint(name, endpoint.revision, endpoint.config, resolve)
            except NotReady:
                previous = self.table.endpoints.get(name)
                if previous is not None:
                    bound[name] = previous
        return bound

    async def _retire(self, version: LoadedVersion) -> None:
        if not await version.drained(self._drain_timeout_s):
            log.warning("unloading %s with %d requests still running", version.target, version.in_flight)
        if version.predictor is not None:
            await version.predictor.close()
        await asyncio.to_thread(version.runtime_model.close)
        log.info("unloaded %s", version.target)


def _freeze_long_lived_objects() -> None:
    """Exempt everything alive now (frameworks, loaded models) from future garbage collections.

    A full collection walks every tracked object; with a few frameworks imported that is 40-60 ms,
    a pause every request in flight waits out. Freezing after loading keeps collections to the
    short-lived objects that requests create.
    """
    gc.collect()
    gc.freeze()


def _with_held(
    snapshot: RegistrySnapshot,
    desired: Mapping[Key, ModelVersion],
    loaded: Mapping[Key, LoadedVersion],
    kept: Mapping[Key, LoadedVersion],
) -> dict[Key, LoadedVersion]:
    """``kept``, plus the versions loaded before of each model that has a wanted version not loaded:
    they go on answering (for its aliases, or as its newest) until that version is loaded."""
    short = {model for (model, number) in desired.keys() - kept.keys()}
    held = {
        key: version
        for key, version in loaded.items()
        if key[0] in short and key not in kept and _registered(snapshot, key)
    }
    return {**held, **kept}


def _registered(snapshot: RegistrySnapshot, key: Key) -> bool:
    model = snapshot.models.get(key[0])
    return model is not None and any(v.number == key[1] for v in model.versions)


def _desired_versions(snapshot: RegistrySnapshot) -> dict[Key, ModelVersion]:
    """Every version a model's policy or aliases keep live, and every version an endpoint targets."""
    desired = {}
    for model in snapshot.models.values():
        for number in model.live_versions():
            desired[(model.name, number)] = model.version(number)
    for endpoint in snapshot.endpoints.values():
        for name, number in _endpoint_targets(snapshot, endpoint.config).values():
            desired[(name, number)] = snapshot.models[name].version(number)
    return desired


def _endpoint_targets(snapshot: RegistrySnapshot, config: EndpointConfig) -> dict[str, Key]:
    """Target label (``iris@candidate``) → (model, version number) as the registry resolves it now."""
    targets = {}
    for target in [r.target for r in config.routes if r.weight > 0] + [s.target for s in config.shadows]:
        model = snapshot.models.get(target.model)
        ref = target.ref or ""
        number = int(ref) if ref.isdigit() else model.summary.aliases.get(ref) if model else None
        if model is not None and number is not None and any(v.number == number for v in model.versions):
            targets[str(target)] = (target.model, number)
        else:
            log.warning("endpoint target %s does not resolve to a registered version", target)
    return targets


def _key(target: str) -> Key:
    model, _, number = target.rpartition(":")
    return model, int(number)
