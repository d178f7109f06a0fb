"""The local engine's pipeline: read, score and write in three overlapping threads.

The reader and the writer are threads with bounded queues (two chunks each way), so the queues hold
a few chunks whatever the input's size (the source reads Parquet a row group at a time), and
reading and writing overlap the model calls, which run in
the calling thread (where Ctrl-C and SIGTERM arrive). The writer records each part in the manifest
as soon as the part is whole; parts complete in input order, so the recorded ones are a prefix.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelport.batch.chunks import Chunk, chunked
from modelport.batch.manifest import Manifest, Part
from modelport.batch.mapping import ColumnMap, map_columns
from modelport.batch.parts import write_part
from modelport.batch.rejects import ErrorsFile
from modelport.batch.scoring import RowError, Scored, score_chunk
from modelport.batch.sources import Source
from modelport.core.errors import InvalidInput
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
    model: LoadedModel, manifest: Manifest, source: Source, output: Path, progress: Progress | None
) -> None:
    shared = _Shared()
    done = len(manifest.parts)
    chunks: queue.Queue[Chunk | BaseException | None] = queue.Queue(_QUEUE_CHUNKS)
    scored: queue.Queue[tuple[Scored, bool] | None] = queue.Queue(_QUEUE_CHUNKS)
    total = source.count_rows()
    end = manifest.parts[-1].errors_end if manifest.parts else 0
    errors = ErrorsFile(Path(manifest.errors_file), end)
    reader = threading.Thread(
        target=_read, args=(source, manifest.chunk_rows, done, chunks, shared), daemon=True
    )
    writer = threading.Thread(
        target=_write, args=(scored, manifest, output, errors, shared, progress, total), daemon=True
    )
    reader.start()
    writer.start()
    try:
        _score(model, manifest, chunks, scored, shared)
    finally:
        shared.stop.set()
        _put(scored, None, threading.Event())
        writer.join()
        errors.close()
    if shared.error is not None:
        raise shared.error


def _score(
    model: LoadedModel,
    manifest: Manifest,
    chunks: queue.Queue[Chunk | BaseException | None],
    scored: queue.Queue[tuple[Scored, bool] | None],
    shared: _Shared,
) -> None:
    target = f"{manifest.model}:{manifest.version}"
    mapping: ColumnMap | None = None
    failed = manifest.rows_failed
    for item in _drain(chunks, shared):
        if mapping is None:
            mapping = map_columns(model.signature, item.table.schema, manifest.features, manifest.id_columns)
        result = score_chunk(model, target, mapping, item)
        over = max(manifest.max_errors - failed, 0)  # the first error past the limit, if this chunk has it
        failed += len(result.errors)
        _put(scored, (result, over >= len(result.errors)), shared.stop)
        if over < len(result.errors):
            raise InvalidInput(_too_many(result.errors[over], manifest))


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
    manifest: Manifest,
    output: Path,
    errors: ErrorsFile,
    shared: _Shared,
    progress: Progress | None,
    total: int | None,
) -> None:
    """Write each scored chunk: its bad rows, its part (when ``complete``), then the manifest."""
    while (item := scored.get()) is not None:
        if shared.error is not None:
            continue  # drained so that the scoring thread never blocks
        result, complete = item
        try:
            errors_end = errors.append(result.errors)
            if not complete:
                continue
            chunk = result.chunk
            file = (
                write_part(output, chunk.index, result.table, manifest.format)
                if result.table.num_rows
                else None
            )
            rows = chunk.table.num_rows
            manifest.add(
                Part(
                    chunk.index,
                    file,
                    chunk.start,
                    rows,
                    result.table.num_rows,
                    len(result.errors),
                    errors_end,
                )
            )
            manifest.save(output)
        except BaseException as error:
            shared.error = error
            continue
        if progress is not None:
            progress(manifest.rows_in, total)


def _put(target: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Put ``item``, waiting for room unless ``stop`` is set (then ``False``)."""
    while True:
        try:
            target.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            if stop.is_set():
                return False


def _too_many(last: RowError, manifest: Manifest) -> str:
    if manifest.max_errors == 0:
        return f"{last.message()}; --max-errors N lets N bad rows go to the errors file"
    return (
        f"more than {manifest.max_errors} bad rows (see {manifest.errors_file}); the last: {last.message()}"
    )
