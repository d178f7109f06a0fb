"""Management API route for drift: a model's or endpoint's live window against its reference."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from modelport.control.drift import MAX_WINDOW, DriftService

__all__ = ["build_drift_router"]


def build_drift_router(drift: DriftService) -> APIRouter:
    router = APIRouter()

    @router.get("/drift/{name}", summary="Drift per feature and output, with histograms and a status")
    def drift_report(
        name: str,
        window: Annotated[
            int | None, Query(ge=1, le=MAX_WINDOW, description="Live rows: the last N logged (default 1000).")
        ] = None,
    ) -> dict[str, Any]:
        return drift.report(name, window)

    return router
