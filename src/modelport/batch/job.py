"""A batch job on this machine: a new or resumed job's checks, its manifest and summary, and the
model loaded once by the server's ``VersionLoader``; ``pipeline`` runs the chunks (or, with
``engine="ray"``, ``ray_engine`` on a Ray cluster). Ctrl-C or SIGTERM
stops the job and its manifest says ``cancelled``; any failure leaves it ``failed``, with the reason.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
from pyarrow import fs as pafs

from modelport.batch.manifest import MANIFEST_NAME, Manifest
from modelport.batch.output import LocalOutput, Output
from modelport.batch.pipeline import Progress, run_chunks
from modelport.batch.s3 import is_s3, s3_filesystem
from modelport.batch.sources import Source, format_of, open_source
from modelport.core.errors import InvalidInput, StorageError, failure_message
from modelport.core.settings import Settings
from modelport.core.targets import Target
from modelport.explanations.attributions import Explainer
from modelport.registry.catalog import Registry
from modelport.registry.records import ModelVersion
from modelport.runtimes.base import LoadedModel

__all__ = ["BatchOptions", "Progress", "load_explainer", "load_model", "run_batch", "summary"]

DEFAULT_CHUNK_ROWS = 65_536


@dataclass(frozen=True)
class BatchOptions:
    target: str
    input: str
    output: Path | str
    """A local directory, or an ``s3://bucket/prefix`` (a ``str``)."""
    format: str | None = None
    id_columns: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    errors: Path | None = None
    max_errors: int | None = None
    """``None``: 0 for a new job, the manifest's for a resumed one."""
    chunk_rows: int | None = None
    """``None``: ``DEFAULT_CHUNK_ROWS``."""
    overwrite: bool = False
    resume: bool = False
    engine: str = "local"
    """``local`` (this process) or ``ray`` (an actor pool on a Ray cluster; Parquet input only)."""
    address: str | None = None
    """Ray: the cluster to connect to (default: ``RAY_ADDRESS``, else a new local instance)."""
    num_workers: int | None = None
    """Ray: the actors, one model load each (default: one per CPU of the cluster)."""
    explain: bool = False
    """Add each row's feature attributions (docs/explanations.md); local engine only."""

    def fixed_by_manifest(self) -> list[str]:
        """The options given that a resumed job takes from its manifest instead."""
        given = {
            "--format": self.format,
            "--id-column": self.id_columns,
            "--features": self.features,
            "--errors": self.errors,
            "--chunk-rows": self.chunk_rows,
            "--explain": self.explain,
        }
        return [name for name, value in given.items() if value]


def run_batch(
    registry: Registry,
    settings: Settings,
    options: BatchOptions,
    *,
    stdin: IO[bytes] | None = None,
    progress: Progress | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Run the job and return its summary; a failure raises after the manifest says ``failed``.

    ``threads``: the model's threads (default: one per core); a server's job takes ``jobs.threads``.
    """
    output = _output(options.output, settings)
    if options.resume:
        manifest, version, source = _resumed(registry, settings, options, output, stdin)
        if manifest.state == "complete":
            return summary(manifest)
    else:
        manifest, version, source = _new(registry, settings, options, output, stdin)
    started = time.monotonic() - manifest.duration_s
    manifest.state, manifest.message = "running", None
    manifest.engine, manifest.workers, manifest.actors = options.engine, None, []
    output.save_manifest(manifest)
    model: LoadedModel | None = None
    try:
        if options.engine == "ray":
            run_on_ray = _ray_engine()
            run_on_ray(
                settings,
                manifest,
                source,
                Path(options.output),
                progress,
                options.address,
                options.num_workers,
            )
        else:
            model = load_model(registry, settings, version, threads)
            explainer = load_explainer(registry, model, version) if manifest.explain else None
            run_chunks(model, manifest, source, output, progress, explainer)
    except BaseException as error:
        manifest.state = "cancelled" if isinstance(error, KeyboardInterrupt) else "failed"
        manifest.message = None if isinstance(error, KeyboardInterrupt) else failure_message(error)
        raise
    else:
        manifest.state = "partial" if manifest.rows_failed else "complete"
    finally:
        if model is not None:
            model.close()
        manifest.duration_s = round(time.monotonic() - started, 3)
        manifest.finished_at = _now()
        _save_quietly(manifest, output)
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
        "manifest": f"{manifest.output}/{MANIFEST_NAME}",
        "errors_file": manifest.errors_file,
        "parts": len(manifest.parts),
    }


def _output(spec: Path | str, settings: Settings) -> Output:
    if is_s3(spec):
        filesystem = s3_filesystem(settings.storage)  # first: says when obstore is missing
        from modelport.batch.s3_output import S3Output
        from modelport.registry.s3_store import parse_s3_url, s3_client

        bucket, _ = parse_s3_url(str(spec))
        return S3Output(str(spec), filesystem, s3_client(bucket, settings.storage))
    return LocalOutput(Path(spec))


def _s3_for(spec: str, settings: Settings) -> pafs.FileSystem | None:
    return s3_filesystem(settings.storage) if is_s3(spec) else None


def _new(
    registry: Registry,
    settings: Settings,
    options: BatchOptions,
    output: Output,
    stdin: IO[bytes] | None,
) -> tuple[Manifest, ModelVersion, Source]:
    version = registry.resolve_target(Target.parse(options.target))
    source = open_source(options.input, stdin, _s3_for(options.input, settings))
    _check_explain(options.explain, options.engine, version)
    _check_engine(options, source)
    if is_s3(output.url) and options.errors is not None:
        raise InvalidInput(
            "--errors is for a local output: on S3 the bad rows go to OUTPUT/_errors/, one object per part"
        )
    fmt = options.format or format_of(output.url.rsplit("/", 1)[-1]) or "parquet"
    chunk_rows = DEFAULT_CHUNK_ROWS if options.chunk_rows is None else options.chunk_rows
    max_errors = options.max_errors or 0
    if chunk_rows < 1 or max_errors < 0:
        raise InvalidInput("--chunk-rows must be at least 1 and --max-errors at least 0")
    if options.errors is not None and options.errors.exists() and not options.overwrite:
        raise InvalidInput(f"errors file {options.errors} exists: --overwrite replaces it")
    output.prepare_new(options.overwrite)
    manifest = Manifest(
        target=options.target,
        model=version.model,
        version=version.number,
        sha256=version.digest,
        input=options.input
        if options.input == "-" or is_s3(options.input)
        else os.path.abspath(options.input),
        input_files=source.fingerprint(),
        output=output.url,
        format=fmt,
        errors_file=str(options.errors.resolve()) if options.errors else output.default_errors(),
        chunk_rows=chunk_rows,
        id_columns=list(options.id_columns),
        features=list(options.features),
        max_errors=max_errors,
        explain=options.explain,
        started_at=_now(),
    )
    return manifest, version, source


def _resumed(
    registry: Registry,
    settings: Settings,
    options: BatchOptions,
    output: Output,
    stdin: IO[bytes] | None,
) -> tuple[Manifest, ModelVersion, Source]:
    fixed = options.fixed_by_manifest()
    if fixed:
        raise InvalidInput(
            f"--resume continues with the options the job started with (see its manifest): leave out "
            f"{fixed[0]}; only --max-errors may change"
        )
    manifest = output.load_manifest()
    if options.max_errors is not None:
        manifest.max_errors = options.max_errors
    if manifest.input == "-":
        raise InvalidInput("a job that read standard input cannot be resumed; start again with --overwrite")
    version = registry.get_version(manifest.model, manifest.version)
    if version.digest != manifest.sha256:
        raise InvalidInput(f"{manifest.model}:{manifest.version} is not the file the job started with")
    source = open_source(manifest.input, stdin, _s3_for(manifest.input, settings))
    if source.fingerprint() != manifest.input_files:
        raise InvalidInput(
            f"input {manifest.input} changed since the job started; start again with --overwrite"
        )
    _check_explain(manifest.explain, options.engine, version)
    _check_engine(options, source)
    output.prepare_resumed(manifest)
    return manifest, version, source


def _check_engine(options: BatchOptions, source: Source) -> None:
    """Refuse what the engine cannot do before anything is written."""
    if options.engine not in ("local", "ray"):
        raise InvalidInput(f"unknown engine {options.engine!r}: choose local or ray")
    if options.engine == "local":
        if options.address is not None or options.num_workers is not None:
            raise InvalidInput("--address and --num-workers are for --engine ray")
        return
    if options.num_workers is not None and options.num_workers < 1:
        raise InvalidInput("--num-workers must be at least 1")
    if source.stdin is not None:
        raise InvalidInput("--engine ray reads files that every Ray node can read, not standard input")
    if source.filesystem is not None or is_s3(options.output):
        raise InvalidInput(
            "--engine ray reads and writes paths that every Ray node shares, not s3:// URIs; "
            "use the local engine for S3"
        )
    if source.format != "parquet":
        raise InvalidInput(
            f"--engine ray reads Parquet (each worker reads only its chunk's row groups); "
            f"convert the {source.format.upper()} input to Parquet, or use the local engine"
        )
    _ray_engine()


def _check_explain(explain: bool, engine: str, version: ModelVersion) -> None:
    """Refuse, before anything is written, an explanation that cannot run."""
    from modelport.explanations.select import check_explainable

    if not explain:
        return
    if engine != "local":
        raise InvalidInput("--explain runs on the local engine; leave out --engine ray")
    check_explainable(version)


def load_explainer(registry: Registry, model: LoadedModel, version: ModelVersion) -> Explainer:
    """The version's explainer (``InvalidInput`` if it cannot be explained)."""
    from modelport.batch.reference import reference_inputs
    from modelport.explanations.select import explainer_for

    target = f"{version.model}:{version.number}"

    def background() -> dict[str, np.ndarray] | None:
        data = registry.reference_data(version.model, version.number)
        return None if data is None else reference_inputs(model, target, data)

    return explainer_for(model, version.framework, target, background)


def _ray_engine() -> Callable[..., None]:
    """``ray_engine.run_on_ray``, or one clear line when Ray is not installed."""
    try:
        from modelport.batch.ray_engine import run_on_ray
    except ImportError as error:
        if not (error.name or "").startswith("ray"):
            raise
        raise InvalidInput("--engine ray needs Ray: pip install 'modelport[ray]'") from None
    return run_on_ray


def load_model(
    registry: Registry, settings: Settings, version: ModelVersion, threads: int | None = None
) -> LoadedModel:
    """The version loaded once, by the server's loader and runtimes."""
    from modelport.serving.loader import VersionLoader

    loader = VersionLoader(
        registry.artifact_copy,
        threads=threads or os.cpu_count() or 1,
        max_tensor_bytes=settings.limits.max_tensor_bytes,
        isolated_call_timeout_s=settings.serving.isolated_call_timeout_s,
    )
    return loader.load(version).runtime_model


def _save_quietly(manifest: Manifest, output: Output) -> None:
    with contextlib.suppress(OSError, StorageError):  # the job's own failure is what the caller hears
        output.save_manifest(manifest)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
