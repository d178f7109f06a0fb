"""What the payload log's flush interval costs, and what a crash loses with it (issue #18).

``writer``: the writer in process, on a simulated clock, fed 200 one-row records a second for
30 simulated seconds, spread over 1, 100 or 1,000 names, at several flush intervals. It prints
the writer's CPU and wall time per second of traffic (wall includes the fsyncs) and the files
on disk at the end (parts not yet merged, and merged segments). ``crash``: a real ``modelport
serve`` paced at about 200 one-row requests a second, stopped after a few seconds by SIGTERM or
SIGKILL; it prints how many acknowledged rows the log does not hold. Run alone (not part of ``run.py``)::

    nice .venv/bin/python benchmarks/payload_flush.py writer
    nice .venv/bin/python benchmarks/payload_flush.py crash
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from procs import Server, free_port, http_post

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"
RATE = 200
"""Records (one row each) a second."""


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def writer(
    names: int, interval: float, sync: str, seconds: int = 30, tick: float = 0.2
) -> dict[str, float | str]:
    """``sync``: ``syncfs`` (a flush's files made durable together, the default) or ``fsync`` (each
    file and folder on its own, what happens where ``syncfs`` is missing): the floor to compare with."""
    from modelport.core.settings import PayloadSettings
    from modelport.monitoring.payloads import PayloadLog, PayloadRecord, durable

    durable.LIBC = durable.load_libc() if sync == "syncfs" else None

    clock = Clock()
    with tempfile.TemporaryDirectory() as directory:  # on a real disk: the fsyncs count
        log = PayloadLog(Path(directory), PayloadSettings(flush_interval_s=interval), clock)
        x, p = np.ones((1, 4), np.float32), np.full((1, 3), 1 / 3, np.float32)
        per_tick, sent = round(RATE * tick), 0
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(round(seconds / tick)):
            for _ in range(per_tick):
                name = f"m{sent % names}"
                log.offer(
                    PayloadRecord(
                        log.record_id(), "r", clock.now, name, None, name, 1, 1.0, {"X": x}, {"p": p}, {}
                    )
                )
                sent += 1
            log.step()
            clock.now += tick
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        files = sum(1 for _ in Path(directory).rglob("*.parquet"))
        log.step(final=True)
        assert sum(log.records_total().values()) == sent, log.dropped_total()
    return {
        "names": names,
        "flush_interval_s": interval,
        "sync": sync,
        "cpu_ms_per_s": 1000 * cpu / seconds,
        "wall_ms_per_s": 1000 * wall / seconds,
        "files_at_end": files,
    }


def crash(stop: signal.Signals, interval: float, seconds: float = 6.0) -> dict[str, float | str]:
    """Acknowledged rows the log does not hold after ``stop`` hits a server under steady traffic."""
    sys.path.insert(0, str(REPO))
    from tests import models

    from modelport.monitoring.payloads import PayloadStore

    with tempfile.TemporaryDirectory() as work:
        home = Path(work) / "home"
        env = {"MODELPORT_HOME": str(home), "MODELPORT_PAYLOADS__FLUSH_INTERVAL_S": str(interval)}
        model = models.iris_onnx(Path(work))
        for argv in (
            ["register", str(model), "--name", "iris"],
            ["monitor", "set", "iris", "--sample-rate", "1"],
        ):
            subprocess.run(
                [str(BIN / "modelport"), *argv], env={**os.environ, **env}, check=True, capture_output=True
            )
        port = free_port()
        server = Server(
            [str(BIN / "modelport"), "serve", "--port", str(port)], env, Path(work) / "server.log", cpu=None
        ).start()
        try:
            server.wait_until(f"http://127.0.0.1:{port}/v2/health/ready")
            body = json.dumps(
                {"inputs": [{"name": "X", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}
            )
            acknowledged, start = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - start) < seconds:
                status, _ = http_post(f"http://127.0.0.1:{port}/v2/models/iris/infer", body.encode(), {})
                acknowledged += status == 200
                time.sleep(max(0.0, acknowledged / RATE - elapsed))
            rate = acknowledged / (time.perf_counter() - start)
            os.kill(server.pid, stop)
            assert server.proc is not None
            server.proc.wait(timeout=30)
        finally:
            server.stop()
        logged = PayloadStore(home / "payloads").read("iris").num_rows
    lost = acknowledged - logged
    return {
        "signal": stop.name,
        "flush_interval_s": interval,
        "req_per_s": rate,
        "acknowledged": acknowledged,
        "lost": lost,
        "lost_s": lost / rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["writer", "crash"])
    parser.add_argument("--first", type=int, default=0, help="writer: skip the first cells")
    args = parser.parse_args()
    if args.what == "writer":
        cells = [(n, i) for n in (1, 100) for i in (0.2, 1.0, 5.0)] + [(1000, 5.0)]
        for names, interval in cells[args.first :]:
            for sync in ("syncfs", "fsync"):
                print(json.dumps(writer(names, interval, sync)), flush=True)
    else:
        for stop in (signal.SIGTERM, signal.SIGKILL):
            for interval in (1.0, 5.0):
                print(json.dumps(crash(stop, interval)), flush=True)


if __name__ == "__main__":
    main()
