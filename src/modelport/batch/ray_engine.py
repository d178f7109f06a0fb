"""The Ray engine: the local engine's chunks scored by a pool of Ray actors, written by this process.

The driver (this process) plans the chunks as Parquet row ranges (``ranges``); a Ray Dataset holds
one row per chunk to do, and ``map_batches`` hands each to an actor of a fixed pool. Each actor
opens the registry with the job's settings and loads the version once, then reads only its
chunk's row groups and calls ``score_chunk``, the local engine's function. The driver takes the
results in input order and records them with the local engine's ``Recorder``, so parts, errors
file, manifest, ``--max-errors``, ``--resume`` and cancellation behave the same.

Importing this module imports Ray; ``job`` imports it only for ``--engine ray``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import threading
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import ray
import ray.data

from modelport.batch.manifest import Manifest
from modelport.batch.mapping import ColumnMap, map_columns
from modelport.batch.pipeline import Progress
from modelport.batch.ranges import ChunkRange, plan_ranges, read_range
from modelport.batch.record import Outcome, Recorder, first_over_limit, too_many
from modelport.batch.scoring import score_chunk
from modelport.batch.sources import Source
from modelport.core.errors import InvalidInput, ModelportError
from modelport.core.settings import Settings

__all__ = ["run_on_ray"]

LOCAL_OBJECT_STORE_BYTES = 256 * 1024 * 1024
"""A local instance's object store: results stream through it a few chunks at a time."""

THREADS_END_S = 30
"""How long a job's end waits for the threads that Ray Data started for it."""
ACTORS_START_S = 600
"""How long the pool's actors may take to start (and load the model) before the job fails."""

_model_loads = 0
"""Models loaded in this process (an actor's): the manifest shows that each actor loaded one."""


@dataclass(frozen=True, slots=True)
class _Result:
    """What an actor sends back for one chunk."""

    outcome: Outcome | None
    failure: str | None
    node: str
    pid: int
    model_loads: int


class ScoreActor:
    """One actor of the pool: the version loaded once, then one chunk per call."""

    def __init__(self, settings: Settings, manifest: Manifest, plan: dict[int, ChunkRange]) -> None:
        from modelport.batch.job import load_model
        from modelport.registry.local import open_registry

        global _model_loads
        self._plan = plan
        self._target = f"{manifest.model}:{manifest.version}"
        self._features, self._ids = manifest.features, manifest.id_columns
        self._mapping: ColumnMap | None = None
        self._model = None
        self._failure: str | None = None
        try:
            registry = open_registry(settings)
            try:
                version = registry.get_version(manifest.model, manifest.version)
                if version.digest != manifest.sha256:
                    raise InvalidInput(f"{self._target} is not the file the job started with")
                self._model = load_model(registry, settings, version, threads=1)
                _model_loads += 1
            finally:
                registry.close()
        except ModelportError as error:  # told to the driver with the first chunk
            self._failure = error.message

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = [pickle.dumps(self._score(int(index))) for index in batch["index"]]
        return {"result": np.array(results, dtype=object)}

    def _score(self, index: int) -> _Result:
        outcome, failure = None, self._failure
        if self._model is not None:
            try:
                chunk = read_range(self._plan[index])
                if self._mapping is None:
                    self._mapping = map_columns(
                        self._model.signature, chunk.table.schema, self._features, self._ids
                    )
                outcome = Outcome.of(score_chunk(self._model, self._target, self._mapping, chunk))
            except ModelportError as error:
                failure = error.message
        node = ray.get_runtime_context().get_node_id()
        return _Result(outcome, failure, node, os.getpid(), _model_loads)


def run_on_ray(
    settings: Settings,
    manifest: Manifest,
    source: Source,
    output: Path,
    progress: Progress | None,
    address: str | None,
    workers: int | None,
) -> None:
    """Score the chunks not yet in ``manifest`` on Ray and record them here, in order."""
    plan = plan_ranges(source.files, manifest.chunk_rows, len(manifest.parts))
    total = source.count_rows()
    if not plan:  # every chunk was done: nothing for Ray
        return
    with _connected(address, workers) as cpus:
        manifest.workers = workers or cpus
        if manifest.workers > cpus:
            raise InvalidInput(f"--num-workers {manifest.workers}: the Ray cluster has {cpus} CPUs")
        recorder = Recorder(manifest, output)
        try:
            results = contextlib.closing(_results(settings, manifest, plan, manifest.workers))
            with results as scored:
                for result in scored:
                    _note_actor(manifest, result)
                    if result.outcome is None:
                        raise InvalidInput(result.failure or "a Ray actor failed")
                    errors = result.outcome.errors
                    over = first_over_limit(manifest.max_errors, manifest.rows_failed, errors)
                    recorder.write(result.outcome, over is None)
                    if over is not None:
                        raise InvalidInput(too_many(errors[over], manifest))
                    if progress is not None:
                        progress(manifest.rows_in, total)
        finally:
            recorder.close()


def _results(
    settings: Settings, manifest: Manifest, plan: list[ChunkRange], workers: int
) -> Generator[_Result]:
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    context.wait_for_min_actors_s = ACTORS_START_S  # every actor has its model before chunks are dealt
    chunks = ray.data.from_items([{"index": c.index} for c in plan], override_num_blocks=len(plan))
    scored = chunks.map_batches(
        ScoreActor,
        batch_size=1,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=min(workers, len(plan))),  # no actor without a chunk
        num_cpus=1,
        fn_constructor_kwargs={
            "settings": settings,
            "manifest": manifest,
            "plan": {c.index: c for c in plan},
        },
    )
    started = set(threading.enumerate())
    iterable = scored.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=0)
    batches = cast(Generator[dict[str, np.ndarray]], iter(iterable))  # closed below: it stops the run
    try:
        for batch in batches:
            for payload in batch["result"]:
                result: _Result = pickle.loads(payload)
                yield result
    except ray.exceptions.GetTimeoutError:
        raise InvalidInput(
            f"the Ray cluster did not start {workers} actors in {ACTORS_START_S} s: "
            "does it have a free CPU for each?"
        ) from None
    finally:
        batches.close()
        _join(set(threading.enumerate()) - started)


def _join(threads: set[threading.Thread]) -> None:
    """Wait for the threads that the dataset's iteration started: one still in a Ray call when
    the connection closes makes Ray end the process at once (a cancelled job exited 1, not 130).
    Ray Data's block prefetcher is left alone: parked once the iteration stops, it never ends."""
    deadline = time.monotonic() + THREADS_END_S
    for thread in threads:
        if thread.name != "Prefetcher":
            thread.join(max(deadline - time.monotonic(), 0))


def _note_actor(manifest: Manifest, result: _Result) -> None:
    for actor in manifest.actors:
        if (actor["node"], actor["pid"]) == (result.node, result.pid):
            actor["chunks"] += 1
            actor["model_loads"] = result.model_loads
            return
    manifest.actors.append(
        {"node": result.node, "pid": result.pid, "chunks": 1, "model_loads": result.model_loads}
    )


@contextmanager
def _connected(address: str | None, workers: int | None) -> Iterator[int]:
    """Connected to the cluster at ``address`` (else ``RAY_ADDRESS``, else a new local instance of
    ``workers`` CPUs, even when ``ray start`` left one here: ``auto`` connects to that); yields the
    cluster's CPUs. Ray's SIGTERM handler is undone, so that SIGTERM still cancels the job. An
    existing connection (a notebook's) is used and left open."""
    if ray.is_initialized():
        yield _cpus()
        return
    for name in ("ray", "ray.data"):  # only errors: the summary is what the user reads
        logging.getLogger(name).setLevel(logging.ERROR)
    if address is None and not os.environ.get("RAY_ADDRESS"):
        address = "local"
    local = address == "local"
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        ray.init(
            address=address,
            num_cpus=(workers or os.cpu_count() or 1) if local else None,
            object_store_memory=LOCAL_OBJECT_STORE_BYTES if local else None,
            include_dashboard=False if local else None,
            logging_level=logging.ERROR,
            log_to_driver=False,
        )
    except (ConnectionError, ValueError, RuntimeError) as error:
        where = address or os.environ["RAY_ADDRESS"]
        raise InvalidInput(f"cannot connect to Ray at {where}: {str(error).splitlines()[0]}") from None
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, sigterm)
    try:
        yield _cpus()
    finally:
        ray.shutdown()


def _cpus() -> int:
    return int(ray.cluster_resources().get("CPU", 0))  # type: ignore[no-untyped-call]
