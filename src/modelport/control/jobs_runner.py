"""Runs the registry's batch jobs on this server, each in a worker process (``batch/worker.py``).

Every ``jobs.poll_interval_s`` the runner heartbeats its running jobs with their progress (stopping
a worker whose job was cancelled or taken over), records how finished workers ended, and claims
claimable jobs (``registry/jobs.py``) up to ``jobs.max_running``: a job claimed after it ran
before resumes from its manifest. Registry calls run in a thread; workers are started from the
event loop's thread, which lives as long as the server (the parent-death signal is per thread).

On a clean stop the workers are stopped and their jobs released, still ``running``: the next server
to look resumes them. Only a user's cancel makes a job ``cancelled``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from modelport.core.settings import Settings
from modelport.registry.catalog import Registry
from modelport.registry.jobs import Job, Progress
from modelport.registry.schema import utcnow

__all__ = ["JobRunner"]

log = logging.getLogger(__name__)

STOP_GRACE_S = 10.0
"""On a server stop, how long a worker may take to stop after SIGTERM before it is killed."""


@dataclass
class _Worker:
    job: Job
    process: subprocess.Popen[bytes]
    reader: threading.Thread | None = None
    progress: Progress | None = None
    result: dict[str, Any] = field(default_factory=dict)
    cancelling: bool = False

    def read(self, stdout: IO[bytes]) -> None:
        """The worker's JSON lines: the latest progress, then its result."""
        for line in stdout:
            with contextlib.suppress(ValueError):
                message = json.loads(line)
                if "progress" in message:
                    self.progress = Progress(**message["progress"])
                else:
                    self.result = message


class JobRunner:
    def __init__(self, registry: Registry, settings: Settings) -> None:
        self._registry = registry
        self._settings = settings
        self._workers: dict[str, _Worker] = {}
        self._owner = ""
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._owner = f"{socket.gethostname()}:{os.getpid()}"
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        """The loop, stopped between rounds only (a round's claims are started, never dropped)."""
        while not self._stopping.is_set():
            try:
                claimed = await asyncio.to_thread(self._tend)
                for job, resumed in claimed:
                    await self._start(job, resumed)
            except Exception:  # e.g. the registry is locked for a while: keep the loop, retry
                log.exception("batch job runner failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._settings.jobs.poll_interval_s)

    async def stop(self) -> None:
        """End the loop, stop every worker (SIGTERM, then SIGKILL after ``STOP_GRACE_S``) and release
        its job."""
        if self._task is None:
            return
        self._stopping.set()
        await self._task
        for worker in self._workers.values():
            with contextlib.suppress(ProcessLookupError):
                worker.process.send_signal(signal.SIGTERM)
        for job_id, worker in list(self._workers.items()):
            await asyncio.to_thread(_wait_or_kill, worker.process)
            if worker.reader is not None:
                await asyncio.to_thread(worker.reader.join, 5)
            with contextlib.suppress(Exception):  # a registry that fails now: the lease runs out instead
                if "done" in worker.result or "failed" in worker.result:  # it ended before the stop
                    await asyncio.to_thread(self._finish, worker)
                else:
                    await asyncio.to_thread(self._registry.release_job, job_id, self._owner)
            del self._workers[job_id]

    def _tend(self) -> list[tuple[Job, bool]]:
        """Heartbeat or finish each worker's job, then claim jobs for the free slots (in a thread)."""
        for job_id, worker in list(self._workers.items()):
            if worker.process.poll() is not None:
                self._finish(worker)
                del self._workers[job_id]
                continue
            cancel = self._registry.beat_job(job_id, self._owner, worker.progress)
            if cancel is None:  # no longer ours: it was taken over while this server was stalled
                log.warning("batch job %s is no longer this server's; stopping its worker", job_id)
                worker.process.kill()
            elif cancel and not worker.cancelling:
                worker.cancelling = True
                worker.process.send_signal(signal.SIGTERM)
        claimed: list[tuple[Job, bool]] = []
        stale_before = utcnow() - timedelta(seconds=self._settings.jobs.stale_after_s)
        while len(self._workers) + len(claimed) < self._settings.jobs.max_running:
            found = self._registry.claim_job(self._owner, stale_before)
            if found is None:
                break
            claimed.append(found)
        return claimed

    async def _start(self, job: Job, resumed: bool) -> None:
        """Start ``job``'s worker; a job whose worker cannot start fails with the reason."""
        manifest = Path(job.output) / "_manifest.json"
        orders = {
            "parent": os.getpid(),
            "settings": self._settings.model_dump(mode="json", exclude={"auth"}),
            "job": {
                "input": job.input,
                "output": job.output,
                "model": job.model,
                "version": job.version,
                "options": dict(job.options),
            },
            "resume": resumed and manifest.exists(),
            "overwrite": bool(job.options.get("overwrite")) or resumed,
        }
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "modelport.batch.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env={**os.environ, "OMP_NUM_THREADS": str(self._settings.jobs.threads)},
                # Its own process group, so a terminal's Ctrl-C is the server's to handle; not its
                # own session: Linux groups CPU time by session (autogroup), and a worker in a
                # session of its own would get half the CPU against the server, idle class or not.
                process_group=0,
            )
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(json.dumps(orders).encode() + b"\n")
            process.stdin.flush()  # stdin stays open: its end tells the worker the server is gone
        except OSError as error:
            log.error("cannot start the worker of batch job %s: %s", job.id, error)
            await asyncio.to_thread(
                self._registry.finish_job, job.id, self._owner, "failed", f"cannot start: {error}", None
            )
            return
        worker = _Worker(job, process)
        worker.reader = threading.Thread(target=worker.read, args=(process.stdout,), daemon=True)
        worker.reader.start()
        self._workers[job.id] = worker
        log.info("batch job %s %s (pid %d)", job.id, "resumed" if resumed else "started", process.pid)

    def _finish(self, worker: _Worker) -> None:
        """Record how ``worker``'s run ended."""
        if worker.reader is not None:
            worker.reader.join(timeout=5)
        job, result, code = worker.job, worker.result, worker.process.returncode
        progress = worker.progress
        if "done" in result:
            summary = result["done"]
            state = "succeeded"
            rows = summary["rows_in"]
            progress = Progress(rows, rows, summary["rows_failed"], summary["rows_per_s"])
            message = (
                f"bad rows: {summary['rows_failed']}, in {summary['errors_file']}"
                if summary["rows_failed"]
                else None
            )
        elif "failed" in result:
            state, message = "failed", str(result["failed"])
        elif worker.cancelling:
            state, message = "cancelled", None
        else:
            state, message = "failed", f"the job's worker process ended unexpectedly ({_how(code)})"
        self._registry.finish_job(job.id, self._owner, state, message, progress)
        if worker.process.stdin is not None:
            with contextlib.suppress(OSError):
                worker.process.stdin.close()
        log.info("batch job %s %s", job.id, state)


def _wait_or_kill(process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _how(code: int | None) -> str:
    if code is not None and code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"exit code {code}"
