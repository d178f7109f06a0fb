"""A batch job on this machine: read, score and write in three overlapping threads.

The reader and the writer are threads with bounded queues (two chunks each way), so memory holds a
few chunks whatever the input's size, and reading and writing overlap the model calls, which run in
the calling thread (where Ctrl-C and SIGTERM arrive: the job stops and its manifest says
``cancelled``). The model is loaded once, by the server's ``VersionLoader``.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from modelport.batch.chunks import Chunk, chunked
from modelport.batch.manifest import MANIFEST_NAME, Manifest, Part
from modelport.batch.mapping import ColumnMap, map_columns
from modelport.batch.output import ERRORS_NAME, prepare_new, prepare_resumed
from modelport.batch.parts import write_part
from modelport.batch.rejects import ErrorsFile
from modelport.batch.scoring import RowError, Scored, score_chunk
from modelport.batch.sources import Source, format_of, open_source
from modelport.core.errors import InvalidInput, ModelportError
from modelport.core.settings import Settings
from modelport.core.targets import Target
from modelport.registry.catalog import Registry
from modelport.registry.records import ModelVersion
from modelport.runtimes.base import LoadedModel

__all__ = ["BatchOptions", "Progress", "load_model", "run_batch", "summary"]

Progress = Callable[[int, int | None], None]
"""Called after each part with the rows done so far and the total when known."""

DEFAULT_CHUNK_ROWS = 65_536
_QUEUE_CHUNKS = 2
_POLL_S = 0.2


@dataclass(frozen=True)
class BatchOptions:
    target: str
    input: str
    output: Path
    format: str | None = None
    id_columns: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    errors: Path | None = None
    max_errors: int = 0
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    overwrite: bool = False
    resume: bool = False


@dataclass
class _Shared:
    """What the three threads share: the stop signal and the first failure of the other two."""

    stop: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


def run_batch(
    registry: Registry,
    settings: Settings,
    options: BatchOptions,
    *,
    stdin: IO[bytes] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the job and return its summary; a failure raises after the manifest says ``failed``."""
    if options.resume:
        manifest, version, source = _resumed(registry, options, stdin)
        if manifest.state == "complete":
            return summary(manifest)
    else:
        manifest, version, source = _new(registry, options, stdin)
    started = time.monotonic() - manifest.duration_s
    manifest.state, manifest.message = "running", None
    manifest.save(options.output)
    model: LoadedModel | None = None
    try:
        model = load_model(registry, settings, version)
        _run(model, manifest, source, options.output, progress)
    except BaseException as error:
        manifest.state = "cancelled" if isinstance(error, KeyboardInterrupt) else "failed"
        manifest.message = None if isinstance(error, KeyboardInterrupt) else _message(error)
        raise
    else:
        manifest.state = "partial" if manifest.rows_failed else "complete"
    finally:
        if model is not None:
            model.close()
        manifest.duration_s = round(time.monotonic() - started, 3)
        manifest.finished_at = _now()
        _save_quietly(manifest, options.output)
    return summary(manifest)


def summary(manifest: Manifest) -> dict[str, Any]:
    """What the CLI prints and ``batch_predict`` returns."""
    seconds = manifest.duration_s
    return {
        "state": manifest.state,
        "target": manifest.target,
        "model": manifest.model,
        "version": manifest.version,
        "sha256": manifest.sha256,
        "rows_in": manifest.rows_in,
        "rows_scored": manifest.rows_scored,
        "rows_failed": manifest.rows_failed,
        "duration_s": seconds,
        "rows_per_s": round(manifest.rows_in / seconds, 1) if seconds > 0 else None,
        "output": manifest.output,
        "manifest": str(Path(manifest.output) / MANIFEST_NAME),
        "errors_file": manifest.errors_file,
        "parts": len(manifest.parts),
    }


def _new(
    registry: Registry, options: BatchOptions, stdin: IO[bytes] | None
) -> tuple[Manifest, ModelVersion, Source]:
    version = registry.resolve_target(Target.parse(options.target))
    source = open_source(options.input, stdin)
    fmt = options.format or format_of(options.output.name) or "parquet"
    if options.chunk_rows < 1 or options.max_errors < 0:
        raise InvalidInput("--chunk-rows must be at least 1 and --max-errors at least 0")
    prepare_new(options.output, options.overwrite)
    errors = options.errors or options.output / ERRORS_NAME
    manifest = Manifest(
        target=options.target,
        model=version.model,
        version=version.number,
        sha256=version.digest,
        input=options.input if options.input == "-" else os.path.abspath(options.input),
        input_files=source.fingerprint(),
        output=str(options.output.resolve()),
        format=fmt,
        errors_file=str(errors.resolve()),
        chunk_rows=options.chunk_rows,
        id_columns=list(options.id_columns),
        features=list(options.features),
        max_errors=options.max_errors,
        started_at=_now(),
    )
    return manifest, version, source


def _resumed(
    registry: Registry, options: BatchOptions, stdin: IO[bytes] | None
) -> tuple[Manifest, ModelVersion, Source]:
    manifest = Manifest.load(options.output)
    if manifest.input == "-":
        raise InvalidInput("a job that read standard input cannot be resumed; start again with --overwrite")
    version = registry.get_version(manifest.model, manifest.version)
    if version.digest != manifest.sha256:
        raise InvalidInput(f"{manifest.model}:{manifest.version} is not the file the job started with")
    source = open_source(manifest.input, stdin)
    if source.fingerprint() != manifest.input_files:
        raise InvalidInput(
            f"input {manifest.input} changed since the job started; start again with --overwrite"
        )
    prepare_resumed(options.output, manifest)
    return manifest, version, source


def load_model(registry: Registry, settings: Settings, version: ModelVersion) -> LoadedModel:
    """The version loaded once, by the server's loader and runtimes."""
    from modelport.serving.loader import VersionLoader

    loader = VersionLoader(
        registry.artifact_path,
        threads=os.cpu_count() or 1,
        max_tensor_bytes=settings.limits.max_tensor_bytes,
        isolated_call_timeout_s=settings.serving.isolated_call_timeout_s,
    )
    return loader.load(version).runtime_model


def _run(
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
        over = manifest.max_errors - failed  # the first error past the limit, if this chunk has it
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


def _message(error: BaseException) -> str:
    if isinstance(error, ModelportError):
        return error.message
    if isinstance(error, OSError):
        cause = error.strerror or str(error)
        return f"{cause}: {error.filename}" if error.filename else cause
    return f"{type(error).__name__}: {error}"


def _save_quietly(manifest: Manifest, output: Path) -> None:
    with contextlib.suppress(OSError):  # the job's own failure (a full disk?) is what the caller hears
        manifest.save(output)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
