"""Management API routes for batch jobs run by the server: submit, list, show, cancel.

A submission is checked before it is queued: server jobs on (``jobs.allowed_roots``) and a
management token configured, the target resolved (and pinned), every path confined to the roots
(``batch/confine.py``), and the output new unless ``overwrite``. A job runner (``jobs_runner.py``)
of some server on the registry then runs it.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse

from modelport.batch.confine import OFF, confine
from modelport.batch.job import DEFAULT_CHUNK_ROWS
from modelport.batch.sources import format_of
from modelport.core.errors import Conflict, Forbidden
from modelport.core.settings import Settings
from modelport.core.targets import Target
from modelport.explanations.select import check_explainable
from modelport.registry.catalog import Registry
from modelport.registry.schema import utcnow

__all__ = ["build_jobs_router"]

NO_TOKEN = (
    "server jobs need a management token: set auth.token "
    "(MODELPORT_AUTH__TOKEN or MODELPORT_AUTH__TOKEN_FILE, or serve with --token-file FILE)"
)


class JobBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: str = Field(description="NAME, NAME:VERSION or NAME@ALIAS; resolved to a version now.")
    input: str = Field(description="A .parquet, .csv or .jsonl file, a directory or a glob, on the server.")
    output: str = Field(description="The output directory, on the server.")
    format: Literal["parquet", "csv", "jsonl"] | None = Field(
        None, description="Output format (default: the output's extension, else parquet)."
    )
    id_columns: list[str] = Field(default_factory=list, description="Input columns copied to the output.")
    features: list[str] = Field(default_factory=list, description="The matrix input's columns, in order.")
    errors: str | None = Field(None, description="Bad rows' file (default OUTPUT/_errors.jsonl).")
    max_errors: int = Field(0, ge=0, description="Bad rows written to the errors file before the job fails.")
    chunk_rows: int = Field(DEFAULT_CHUNK_ROWS, ge=1, description="Rows per model call and part file.")
    overwrite: bool = Field(False, description="Replace the output (and errors file) if it exists.")
    explain: bool = Field(False, description="Add each row's feature attributions (docs/explanations.md).")


def build_jobs_router(settings: Settings, registry: Registry) -> APIRouter:
    router = APIRouter()
    stale = timedelta(seconds=settings.jobs.stale_after_s)

    @router.post("/jobs", status_code=202, summary="Queue a batch job over files on the server")
    def submit(body: JobBody) -> JSONResponse:
        if not settings.jobs.allowed_roots:
            raise Forbidden(OFF)
        if not settings.auth.token:
            raise Forbidden(NO_TOKEN)
        version = registry.resolve_target(Target.parse(body.target))
        if body.explain:
            check_explainable(version)  # refused now, not by a worker later
        confine(body.input, body.output, body.errors, settings.jobs.allowed_roots)
        for name, path in (("output", body.output), ("errors file", body.errors)):
            if path is not None and os.path.lexists(path) and not body.overwrite:
                raise Conflict(f"{name} {path} exists: set overwrite to replace it")
        options = body.model_dump(exclude={"target", "input", "output"})
        options["format"] = body.format or format_of(body.output) or "parquet"
        job = registry.add_job(body.target, version, body.input, body.output, options)
        return JSONResponse(job.to_dict(), status_code=202)

    @router.get("/jobs", summary="Every batch job, newest first")
    def list_jobs() -> dict[str, Any]:
        return {"jobs": [job.to_dict() for job in registry.list_jobs()]}

    @router.get("/jobs/{job_id}", summary="A batch job: its state and progress")
    def get_job(job_id: str) -> dict[str, Any]:
        return registry.get_job(job_id).to_dict()

    @router.delete("/jobs/{job_id}", status_code=202, summary="Cancel a batch job")
    def cancel(job_id: str) -> JSONResponse:
        """A queued job is cancelled at once; a running one when its worker has stopped."""
        job = registry.cancel_job(job_id, utcnow() - stale)
        return JSONResponse(job.to_dict(), status_code=202)

    return router
