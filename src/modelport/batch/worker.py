"""The process that runs one server job: ``python -m modelport.batch.worker``, started by the server's
job runner (``control/jobs_runner.py``), which it answers in JSON lines on stdout.

Its orders come as one JSON line on stdin (settings, the job, whether to resume); stdin then stays
open, and its end means the server is gone, so the worker ends too (and on Linux the kernel kills it
when its parent dies: ``PR_SET_PDEATHSIG``). It runs at idle priority (``SCHED_IDLE``, else nice 19)
with ``jobs.threads`` model threads, so online requests come first. It checks the job's paths
against ``jobs.allowed_roots`` again before it opens anything, then runs the local engine
(``run_batch``). SIGTERM cancels the job as Ctrl-C does: the manifest says ``cancelled``.

Lines out: ``{"progress": {...}}`` at most once a second, then one of ``{"done": summary}``,
``{"failed": message}`` or ``{"cancelled": true}``.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from modelport.core.errors import failure_message

__all__ = ["main"]

PROGRESS_INTERVAL_S = 1.0
_PR_SET_PDEATHSIG = 1
_PARENT_GONE = 70


def main() -> int:
    orders = json.loads(sys.stdin.buffer.readline())
    _die_with_parent(int(orders["parent"]))
    _lower_priority()
    signal.signal(signal.SIGTERM, _cancel)
    try:
        summary = _run(orders)
    except KeyboardInterrupt:
        _say({"cancelled": True})
        return 3
    except Exception as error:
        _say({"failed": failure_message(error)})
        return 1
    _say({"done": summary})
    return 0


def _run(orders: dict[str, Any]) -> dict[str, Any]:
    from modelport.batch.confine import confine
    from modelport.batch.job import BatchOptions, run_batch
    from modelport.batch.manifest import Manifest
    from modelport.core.settings import Settings
    from modelport.registry.local import open_registry

    settings = Settings.model_validate(orders["settings"])
    job, options = orders["job"], orders["job"]["options"]
    paths = confine(job["input"], job["output"], options.get("errors"), settings.jobs.allowed_roots)
    resume = bool(orders["resume"])
    target = f"{job['model']}:{job['version']}"  # pinned at submission, whatever its alias says now
    if resume:
        batch = BatchOptions(target, paths.input, paths.output, max_errors=options["max_errors"], resume=True)
        done_before = Manifest.load(paths.output).rows_in
    else:
        batch = BatchOptions(
            target,
            paths.input,
            paths.output,
            format=options["format"],
            id_columns=tuple(options["id_columns"]),
            features=tuple(options["features"]),
            errors=paths.errors,
            max_errors=options["max_errors"],
            chunk_rows=options["chunk_rows"],
            overwrite=bool(orders["overwrite"]),
            explain=bool(options.get("explain", False)),  # absent from jobs queued before it existed
        )
        done_before = 0
    report = _Reporter(paths.output, done_before)
    with open_registry(settings) as registry:
        return run_batch(registry, settings, batch, progress=report, threads=settings.jobs.threads)


class _Reporter:
    """The engine's progress callback: a ``progress`` line at most every ``PROGRESS_INTERVAL_S``."""

    def __init__(self, output: Path, done_before: int) -> None:
        self._output = output
        self._done_before = done_before
        self._started = time.monotonic()
        self._last = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self._last < PROGRESS_INTERVAL_S:
            return
        self._last = now
        elapsed = now - self._started
        rate = round((done - self._done_before) / elapsed, 1) if elapsed > 0 else None
        _say(
            {
                "progress": {
                    "rows_done": done,
                    "rows_total": total,
                    "rows_failed": self._failed(),
                    "rows_per_s": rate,
                }
            }
        )

    def _failed(self) -> int:
        """The manifest's count (written just before each callback); 0 if it cannot be read."""
        with contextlib.suppress(OSError, ValueError):
            return int(json.loads((self._output / "_manifest.json").read_text())["rows_failed"])
        return 0


def _say(message: dict[str, Any]) -> None:
    """One line to the runner; a closed pipe means the server is gone, and the worker ends at once
    (an exception in the engine's progress callback would stop its writer thread, not the job)."""
    try:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()
    except OSError:
        os._exit(_PARENT_GONE)


def _cancel(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _die_with_parent(parent: int) -> None:
    """End with the server: the kernel's parent-death signal on Linux, and stdin's end anywhere."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the signal was armed
        os._exit(_PARENT_GONE)
    threading.Thread(target=_watch_stdin, daemon=True).start()


def _watch_stdin() -> None:
    """Read the raw descriptor (not ``sys.stdin``, whose lock this thread would hold at exit)."""
    with contextlib.suppress(OSError):
        while os.read(sys.stdin.fileno(), 4096):
            pass
    os._exit(_PARENT_GONE)


def _lower_priority() -> None:
    """Below every online request: the idle scheduling class where there is one, else nice 19."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # type: ignore[attr-defined,unused-ignore]
    except (AttributeError, OSError):
        with contextlib.suppress(OSError):
            os.nice(19)


if __name__ == "__main__":
    sys.exit(main())
