"""Records as the request path makes them, and a clock the tests move by hand."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from modelport.core.monitor_config import Redaction
from modelport.monitoring.payloads import PayloadRecord

SENTINEL = "SENTINEL-123-45-6789"
"""A value that must never reach the disk when its input is dropped."""
START = 1_800_000_000.0


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def record(
    n: int = 2,
    *,
    name: str = "credit",
    at: float = START,
    redact: Mapping[str, str] | None = None,
    request_id: str = "r",
    version: int = 1,
) -> PayloadRecord:
    """A request of ``n`` rows: inputs ``x`` [n, 3] floats and ``ssn`` [n] strings; outputs ``score`` [n]
    and ``p`` [n, 2]."""
    ssn = np.empty(n, dtype=object)
    ssn[:] = [f"{SENTINEL}-{i}".encode() for i in range(n)]
    return PayloadRecord(
        record_id=f"{request_id}-{at}",
        request_id=request_id,
        time=at,
        name=name,
        endpoint=None,
        model=name,
        version=version,
        latency_ms=1.5,
        inputs={"x": np.arange(n * 3, dtype=np.float32).reshape(n, 3), "ssn": ssn},
        outputs={"score": np.full(n, 0.25), "p": np.tile(np.array([0.1, 0.9], np.float32), (n, 1))},
        redact={k: Redaction(v) for k, v in (redact or {}).items()},
    )


def segment_files(directory: Path) -> list[Path]:
    """Every Parquet file under ``directory`` (segments and parts alike)."""
    return sorted(directory.rglob("*.parquet"))
