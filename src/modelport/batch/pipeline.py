"""The local engine's pipeline: read, score and write in three overlapping threads.

The reader and the writer are threads with bounded queues (two chunks each way), so the queues hold
a few chunks whatever the input's size (the source reads Parquet a row group at a time), and
reading and writing overlap the model calls, which run in
the calling thread (where Ctrl-C and SIGTERM arrive). The writer records each part in the manifest
as soon as the part is whole (``record``); parts complete in input order, so the recorded ones are
a prefix.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelport.batch.chunks import Chunk, chunked
from modelport.batch.manifest import Manifest
from modelport.batch.mapping import ColumnMap, map_columns
from modelport.batch.output import Output
from modelport.batch.record import Outcome, Recorder, first_over_limit, too_many
from modelport.batch.scoring import Scored, score_chunk
from modelport.batch.sources import Source
from modelport.core.errors import InvalidInput
from modelport.explanations.attributions import Explainer
from modelport.runtimes.base import LoadedModel

__all__ = ["Progress", "run_chunks"]

Progress = Callable[[int, int | None], None]
"""Called after each part with the rows done so far and the total when known."""

_QUEUE_CHUNKS = 2
_POLL_S = 0.2


@dataclass
class _Shared:
    """What the three threads share: the stop signal and the first failure of the other two."""

    stop: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


def run_chunks(
    model: LoadedModel,
    manifest: Manifest,
    source: Source,
    output: Output | Path,
    progress: Progress | None,
    explainer: Explainer | None = None,
) -> None:
    shared = _Shared()
    done = len(manifest.parts)
    chunks: queue.Queue[Chunk | BaseException | None] = queue.Queue(_QUEUE_CHUNKS)
    scored: queue.Queue[tuple[Scored, bool] | None] = queue.Queue(_QUEUE_CHUNKS)
    total = source.count_rows()
    recorder = Recorder(manifest, output)
    reader = threading.Thread(
        target=_read, args=(source, manifest.chunk_rows, done, chunks, shared), daemon=True
    )
    writer = threading.Thread(target=_write, args=(scored, recorder, shared, progress, total), daemon=True)
    reader.start()
    writer.start()
    try:
        _score(model, manifest, chunks, scored, shared, explainer)
    finally:
        shared.stop.set()
        _put(scored, None, threading.Event())
        writer.join()
        recorder.close()
    if shared.error is not None:
        raise shared.error


def _score(
    model: LoadedModel,
    manifest: Manifest,
    chunks: queue.Queue[Chunk | BaseException | None],
    scored: queue.Queue[tuple[Scored, bool] | None],
    shared: _Shared,
    explainer: Explainer | None,
) -> None:
    target = f"{manifest.model}:{manifest.version}"
    mapping: ColumnMap | None = None
    failed = manifest.rows_failed
    for item in _drain(chunks, shared):
        if mapping is None:
            mapping = map_columns(model.signature, item.table.schema, manifest.features, manifest.id_columns)
        result = score_chunk(model, target, mapping, item, explainer)
        over = first_over_limit(manifest.max_errors, failed, result.errors)
        failed += len(result.errors)
        _put(scored, (result, over is None), shared.stop)
        if over is not None:
            raise InvalidInput(too_many(result.errors[over], manifest))


def _drain(chunks: queue.Queue[Chunk | BaseException | None], shared: _Shared) -> Iterator[Chunk]:
    while True:
        if shared.error is not None:
            return
        try:
            item = chunks.get(timeout=_POLL_S)
        except queue.Empty:
            continue
        if item is None:
            return
        if isinstance(item, BaseException):
            raise item
        yield item


def _read(
    source: Source, rows: int, skip: int, chunks: queue.Queue[Chunk | BaseException | None], shared: _Shared
) -> None:
    try:
        for chunk in chunked(source.batches(rows), rows):
            if chunk.index >= skip and not _put(chunks, chunk, shared.stop):
                return
        _put(chunks, None, shared.stop)
    except BaseException as error:  # handed to the scoring thread, which raises it
        _put(chunks, error, shared.stop)


def _write(
    scored: queue.Queue[tuple[Scored, bool] | None],
    recorder: Recorder,
    shared: _Shared,
    progress: Progress | None,
    total: int | None,
) -> None:
    """Record each scored chunk (its part only when ``complete``)."""
    while (item := scored.get()) is not None:
        if shared.error is not None:
            continue  # drained so that the scoring thread never blocks
        result, complete = item
        try:
            recorder.write(Outcome.of(result), complete)
            if progress is not None:  # inside: a failing callback fails the job instead of hanging it
                progress(recorder.manifest.rows_in, total)
        except BaseException as error:
            shared.error = error


def _put(target: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Put ``item``, waiting for room unless ``stop`` is set (then ``False``)."""
    while True:
        try:
            target.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            if stop.is_set():
                return False
