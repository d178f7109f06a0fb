"""Keeps every logged name's latest drift report for the ``modelport_drift_*`` metrics.

A background task recomputes them every ``drift.interval_s`` in a worker thread, only for names
that have a payload log; a scrape reads the last results and computes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from modelport.control.drift import DriftService
from modelport.core.errors import ModelportError

__all__ = ["DriftMonitor"]

log = logging.getLogger(__name__)

Json = dict[str, Any]


class DriftMonitor:
    def __init__(self, service: DriftService, interval_s: float) -> None:
        self._service = service
        self._interval_s = interval_s
        self._reports: Mapping[str, Json] = MappingProxyType({})

    @property
    def reports(self) -> Mapping[str, Json]:
        """Name → its last report; replaced whole after each refresh (one reference swap)."""
        return self._reports

    def refresh(self) -> None:
        """Recompute every logged name's report; a name that cannot be reported is left out."""
        reports: dict[str, Json] = {}
        for name in self._service.logged_names():
            try:
                reports[name] = self._service.report(name)
            except ModelportError as exc:  # e.g. a log left behind by a deleted model
                log.debug("no drift report for %r: %s", name, exc.message)
            except Exception:  # one unreadable log must not hide the others' drift
                log.exception("drift report for %r failed", name)
        self._reports = MappingProxyType(reports)

    async def run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.refresh)
            except Exception:  # e.g. an unreadable payload folder: keep the loop, retry next round
                log.exception("drift refresh failed")
            await asyncio.sleep(self._interval_s)
