"""Many loaded versions in one server: scrape cost, serving under scrapes, start-up, reconcile cost.

    .venv/bin/python benchmarks/many_models.py            # 10 / 300 / 1000 versions; needs the machine
    .venv/bin/python benchmarks/many_models.py --quick    # 10 / 100 versions, 2 s cells (smoke run)

Every version is the same small iris ONNX model registered under its own name (the artifact is
stored once per version). Measured, with the server pinned to --server-cpu and the load generator
(benchmarks/loadgen.py, closed loop, JSON, 1 row) to --client-cpu:

- start to ready (``/v2/health/ready`` 200, every version loaded) and ``/metrics`` size, series and
  time to answer, at each size;
- at the load size (300; 100 with --quick): c=64 on one model without scraping, then in the same
  server run with a scrape every second; the goal is p99 with scrapes <= 1.2x without, and
  throughput within 10 %;
- in process: the reconcile loop's cost per poll while nothing changed (one revision read) and
  when one model's serving settings changed (a snapshot and a convergence over every version).

Prints Markdown tables, writes the raw results as JSON (--results) and, with --doc, its section of
docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from doc_section import write_section  # noqa: E402
from procs import Server, free_port, modelport_serve  # noqa: E402
from tests import models  # noqa: E402

from modelport.core.settings import Settings  # noqa: E402
from modelport.registry.catalog import Registry  # noqa: E402
from modelport.registry.local import open_registry  # noqa: E402
from modelport.serving.loaded import LoadedVersion  # noqa: E402
from modelport.serving.predictors import predictor_factory  # noqa: E402
from modelport.serving.reconciler import Reconciler  # noqa: E402

RECONCILE_SIZES = (10, 100, 300, 1000)
"""In process, without loading models: cheap enough for --quick too."""
IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [5.9, 3.0, 4.2, 1.5], [6.7, 3.0, 5.2, 2.3]]


def get(url: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        body = response.read()
    return time.perf_counter() - started, body


def loadgen(a: argparse.Namespace, port: int, pid: int, rows_file: Path, duration: float) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/v2/models/m1/infer"
    argv = ["taskset", "-c", a.client_cpu, sys.executable, str(HERE / "loadgen.py"), "--url", url]
    argv += ["--protocol", "json", "--rows", "1", "--concurrency", "64", "--duration", str(duration)]
    argv += ["--warmup", "1", "--rows-file", str(rows_file), "--input-name", "X", "--server-pid", str(pid)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 120, check=True)
    cell: dict[str, Any] = json.loads(out.stdout)
    return cell


def serve(a: argparse.Namespace, home: Path, count: int, rows_file: Path, load: bool) -> dict[str, Any]:
    port = free_port()
    env = {"MODELPORT_HOME": str(home), "MODELPORT_GRPC__PORT": "0"}
    argv = modelport_serve(port)
    server = Server(argv, env, a.results.parent / "logs" / f"many-{count}.log", cpu=a.server_cpu).start()
    base = f"http://127.0.0.1:{port}"
    try:
        ready_s = server.wait_until(f"{base}/v2/health/ready", timeout=600)
        body = json.dumps(
            {"inputs": [{"name": "X", "datatype": "FP32", "shape": [1, 4], "data": IRIS_ROWS[0]}]}
        )
        for i in range(count):  # every version has counters to render
            request = urllib.request.Request(f"{base}/v2/models/m{i}/infer", body.encode(), method="POST")
            urllib.request.urlopen(request, timeout=30).read()
        scrapes = [get(f"{base}/metrics") for _ in range(5)]
        text = scrapes[-1][1].decode()
        result: dict[str, Any] = {
            "versions": count,
            "start_to_ready_s": ready_s,
            "metrics_bytes": len(scrapes[-1][1]),
            "metrics_series": sum(1 for line in text.splitlines() if line and not line.startswith("#")),
            "metrics_ms": statistics.median(s for s, _ in scrapes) * 1e3,
        }
        if load:
            result["quiet"] = loadgen(a, port, server.pid, rows_file, a.duration)
            stop = threading.Event()
            scrape_times: list[float] = []

            def scrape() -> None:
                while not stop.wait(1.0):
                    scrape_times.append(get(f"{base}/metrics")[0])

            scraper = threading.Thread(target=scrape)
            scraper.start()
            try:
                result["scraped"] = loadgen(a, port, server.pid, rows_file, a.duration)
            finally:
                stop.set()
                scraper.join()
            result["scrapes_during_load"] = len(scrape_times)
        return result
    finally:
        server.stop()


class StubLoader:
    """Loads nothing: the reconcile cost is measured without the models' own load time."""

    def load(self, version: Any) -> LoadedVersion:
        return LoadedVersion(version.model, version.number, version.framework, version.digest, _Stub(version))


class _Stub:
    def __init__(self, version: Any) -> None:
        self.signature = version.signature

    def close(self) -> None:
        pass


async def reconcile_cost(registry: Registry, count: int) -> dict[str, float]:
    executor = ThreadPoolExecutor(1)
    reconciler = Reconciler(registry, StubLoader(), predictor_factory(executor), 1.0, 1.0)
    await reconciler.reconcile_once()
    assert reconciler.versions_loaded == count, (reconciler.versions_loaded, count)
    started = time.perf_counter()
    for _ in range(20):
        await reconciler.reconcile_once()
    unchanged = (time.perf_counter() - started) / 20
    changes, snapshots = [], []
    for i in range(5):
        registry.set_serving_config(
            "m0", registry.get_model("m0").serving.updated({"max_queue_size": 100 + i})
        )
        started = time.perf_counter()
        registry.snapshot()  # read again by the poll below: its share of the poll, in a worker thread
        snapshots.append(time.perf_counter() - started)
        started = time.perf_counter()
        await reconciler.reconcile_once()
        changes.append(time.perf_counter() - started)
    await reconciler.close()
    executor.shutdown()
    return {
        "versions": count,
        "poll_unchanged_ms": unchanged * 1e3,
        "poll_one_change_ms": statistics.median(changes) * 1e3,
        "snapshot_ms": statistics.median(snapshots) * 1e3,
    }


def report(results: dict[str, Any]) -> str:
    lines = [
        "| versions | start to ready (s) | /metrics bytes | series | /metrics time (ms) |",
        "|---|---|---|---|---|",
    ]
    for r in results["servers"]:
        lines.append(
            f"| {r['versions']} | {r['start_to_ready_s']:.1f} | {r['metrics_bytes']:,} "
            f"| {r['metrics_series']:,} | {r['metrics_ms']:.1f} |"
        )
    lines += ["", "| load (c=64, 1 row, JSON) | req/s | p50 (ms) | p99 (ms) | errors | shed |"]
    lines.append("|---|---|---|---|---|---|")
    for r in results["servers"]:
        for label, what in (("quiet", "no scraping"), ("scraped", "a scrape every second")):
            if label in r:
                c = r[label]
                lines.append(
                    f"| {r['versions']} versions, {what} | {c['rps']:.0f} | {c['p50_ms']:.2f} "
                    f"| {c['p99_ms']:.2f} | {c['error']} | {c['shed_share']:.1%} |"
                )
    lines += [
        "",
        "| versions | poll, nothing changed (ms) | poll after one change (ms) | of which snapshot (ms) |",
    ]
    lines.append("|---|---|---|---|")
    for r in results["reconcile"]:
        lines.append(
            f"| {r['versions']} | {r['poll_unchanged_ms']:.3f} | {r['poll_one_change_ms']:.1f} "
            f"| {r['snapshot_ms']:.1f} |"
        )
    return "\n".join(lines)


SECTION = "## Many loaded versions"


def section(results: dict[str, Any]) -> str:
    """docs/performance.md's section: what was run, the tables, the goal check."""
    text = [
        SECTION,
        "",
        "`benchmarks/many_models.py` (run by `make bench` after `benchmarks/run.py`): one server holding N"
        " versions of a small iris ONNX model (each its own name), pinned to one CPU;"
        " `benchmarks/loadgen.py` (closed loop, JSON, 1 row, c=64) on one of them from the other CPU,"
        " first without scraping, then in the same server run with a `/metrics` scrape every second."
        " Goal: p99 with scrapes at most 1.2x p99 without, and throughput within 10 %."
        " `/metrics` time is the median of 5 scrapes after every version answered once (the first"
        " renders every version; the others reuse the text of versions idle since)."
        " Reconcile costs are measured in process without loading models: a poll when nothing changed"
        " reads one revision; after a change the poll reads a registry snapshot (in a worker thread)"
        " and converges over every version.",
        "",
    ]
    if results["quick"]:
        text += [
            "**Indicative only**: taken with `--quick` (servers of 10 and 100 versions, 2 s cells) on a"
            " shared, busy 2-core machine where other work ran at the same time; the full run (10, 300"
            " and 1000 versions) has not been run on a quiet machine yet.",
            "",
        ]
    for r in results["servers"]:
        if "quiet" in r and "scraped" in r:
            quiet, scraped = r["quiet"], r["scraped"]
            p99 = scraped["p99_ms"] / quiet["p99_ms"]
            rps = scraped["rps"] / quiet["rps"]
            met = "met" if p99 <= 1.2 and rps >= 0.9 else "not met"
            text += [
                f"With {r['versions']} versions: p99 x{p99:.2f}, throughput x{rps:.2f} with scrapes ({met}).",
                "",
            ]
    return "\n".join([*text, report(results), ""])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="servers of 10 and 100 versions, 2 s cells")
    ap.add_argument("--only-reconcile", action="store_true", help="the in-process reconcile cost only")
    ap.add_argument("--server-cpu", default="1")
    ap.add_argument("--client-cpu", default="0")
    ap.add_argument(
        "--doc", type=Path, default=None, help="write the section into this file (docs/performance.md)"
    )
    ap.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "many-models.json")
    a = ap.parse_args()
    sizes, load_size = ((10, 100), 100) if a.quick else ((10, 300, 1000), 300)
    a.duration = 2.0 if a.quick else 4.0
    a.results.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"quick": a.quick, "servers": [], "reconcile": []}
    with tempfile.TemporaryDirectory(prefix="modelport-many-") as work:
        artifact = models.iris_onnx(Path(work))
        rows_file = Path(work) / "rows.json"
        rows_file.write_text(json.dumps(IRIS_ROWS))
        for count in RECONCILE_SIZES:
            home = Path(work) / f"home-{count}"
            models.register_copies(home, artifact, count)
            print(f"== {count} versions", flush=True)
            with open_registry(Settings(home=home)) as registry:
                results["reconcile"].append(asyncio.run(reconcile_cost(registry, count)))
            if count in sizes and not a.only_reconcile:
                results["servers"].append(serve(a, home, count, rows_file, load=count == load_size))
    a.results.write_text(json.dumps(results, indent=1))
    print(report(results))
    if a.doc is not None and not a.only_reconcile:
        write_section(a.doc, SECTION, section(results))


if __name__ == "__main__":
    main()
