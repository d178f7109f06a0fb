"""Where the time goes: py-spy samples a loaded modelport server; the event-loop thread is summarised.

py-spy writes collapsed stacks (``--format raw``: ``frame;frame;...;leaf count`` per line, the first frame
naming the thread with ``--threads``). Idle samples (a thread blocked in the kernel, e.g. epoll) are not
recorded, so a thread's samples / (rate x seconds) is its busy share. The summary keeps the MainThread
(the event loop) and reports the leaf ("self") frames and the modelport functions on the stack
("inclusive"), as shares of its samples.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cells import BIN, Layout, loadgen, modelport_server

ENTRY_FRAMES = ("<module> (modelport", "modelport/cli/root.py", "modelport/server/runner.py")
"""Frames on every stack of the loop thread (the CLI starting uvicorn): left out of the inclusive list."""
RATE_HZ = 200


@dataclass
class ThreadProfile:
    samples: int = 0
    self_counts: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)


def parse_collapsed(text: str) -> dict[str, ThreadProfile]:
    """Per thread label: sample count, leaf counts and (deduplicated) modelport frames on the stack."""
    threads: dict[str, ThreadProfile] = {}
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        thread = next((f for f in frames if f.startswith("thread ")), "thread (?)")
        frames = [f for f in frames if not f.startswith(("thread ", "process "))]
        prof = threads.setdefault(thread, ThreadProfile())
        count = int(count_text)
        prof.samples += count
        prof.self_counts[frames[-1] if frames else "(no Python frame)"] += count
        for frame in dict.fromkeys(f for f in frames if "modelport" in f and not _entry(f)):
            prof.inclusive[frame] += count
    return threads


def _entry(frame: str) -> bool:
    return any(e in frame for e in ENTRY_FRAMES)


def main_thread(threads: dict[str, ThreadProfile]) -> tuple[str, ThreadProfile]:
    """The MainThread by name if py-spy gave names, else the thread with the uvicorn/asyncio run loop."""
    for label, prof in threads.items():
        if "MainThread" in label:
            return label, prof
    for label, prof in threads.items():
        if any("uvicorn" in f for f in prof.self_counts):
            return label, prof
    return max(threads.items(), key=lambda kv: kv[1].samples)


def record(pid: int, seconds: float, out: Path, rate: int = RATE_HZ) -> None:
    argv = [str(BIN / "py-spy"), "record", "--pid", str(pid), "--duration", str(int(seconds))]
    argv += ["--rate", str(rate), "--format", "raw", "--threads", "--nonblocking", "--output", str(out)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"py-spy failed ({proc.returncode}): {proc.stderr[-1500:]}")


def profile_under_load(
    layout: Layout, out: Path, seconds: float, rows: int = 1, conc: int = 64, top: int = 15
) -> dict[str, Any]:
    """Serve logreg with the default config, run loadgen (c=conc) and py-spy at the same time."""
    with modelport_server(layout, layout.model("logreg"), [], "modelport-profile") as running:
        load: dict[str, Any] = {}
        worker = threading.Thread(
            target=lambda: load.update(loadgen(layout, running, "json", rows, conc, seconds + 2, 1.0))
        )
        worker.start()
        try:
            record(running.server.pid, seconds, out)
        finally:
            worker.join()
    load.pop("labels", None)
    return summarize(out.read_text(), top, seconds) | {"load": load, "raw_file": str(out), "seconds": seconds}


def summarize(text: str, top: int, seconds: float) -> dict[str, Any]:
    label, prof = main_thread(parse_collapsed(text))
    total = max(prof.samples, 1)
    return {
        "thread": label,
        "samples": prof.samples,
        "rate_hz": RATE_HZ,
        "busy_share": min(1.0, prof.samples / (RATE_HZ * seconds)),
        "self": [(f, c / total) for f, c in prof.self_counts.most_common(top)],
        "inclusive": [(f, c / total) for f, c in prof.inclusive.most_common(top)],
    }


if __name__ == "__main__":
    import json

    print(json.dumps(summarize(Path(sys.argv[1]).read_text(), 15, float(sys.argv[2])), indent=1))
