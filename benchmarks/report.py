"""Render the benchmark results (``run.py``'s JSON) as docs/performance.md plus a throughput/p99 plot.

python benchmarks/report.py benchmarks/results/modelport-bench.json   # re-render without re-running
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from doc_section import write_section

Cell = dict[str, Any]
PeerTable = dict[str, dict[tuple[int, int], Cell]]  # server -> (rows, conc) -> best cell
REFERENCE = "floor-onnx"


# ----------------------------------------------------------------------------- peer results
def best_cells(peer_json: dict[str, Any]) -> PeerTable:
    """Per server and (rows, concurrency): the round with the highest req/s (as peer_bench reports)."""
    table: PeerTable = {}
    for run in peer_json.get("runs", []):
        cells = table.setdefault(run["server"], {})
        for cell in run["cells"]:
            key = (cell["rows"], cell["conc"])
            if key not in cells or cell["rps"] > cells[key]["rps"]:
                cells[key] = cell
    return table


def failures(peer_json: dict[str, Any]) -> list[str]:
    return [
        f"{r['server']} (round {r['round']}): {r['error']}" for r in peer_json.get("runs", []) if r["error"]
    ]


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _ratio(value: float | None, ref: float | None) -> float | None:
    return value / ref if value is not None and ref else None


def peer_tables(table: PeerTable) -> list[str]:
    keys = sorted({k for cells in table.values() for k in cells})
    ref = table.get(REFERENCE, {})
    lines = ["| server | " + " | ".join(f"{r} row{'s' * (r > 1)} c={c}" for r, c in keys) + " |"]
    lines.append("|---|" + "---:|" * len(keys))
    for server, cells in table.items():
        row = []
        for key in keys:
            cell = cells.get(key)
            ratio = _ratio(cell["rps"], ref.get(key, {}).get("rps")) if cell else None
            row.append("-" if cell is None else f"{cell['rps']:.0f}" + (f" ({ratio:.2f})" if ratio else ""))
        lines.append(f"| {server} | " + " | ".join(row) + " |")
    lines += [
        "",
        "| server | rows | conc | req/s | x floor-onnx req/s | p50 ms | p99 ms | x floor-onnx p99 | "
        "server CPU ms/req | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for server, cells in table.items():
        for key in keys:
            if (c := cells.get(key)) is None:
                continue
            r = ref.get(key, {})
            lines.append(
                f"| {server} | {key[0]} | {key[1]} | {c['rps']:.0f} | "
                f"{_fmt(_ratio(c['rps'], r.get('rps')))} | "
                f"{c['p50_ms']:.2f} | {c['p99_ms']:.2f} | {_fmt(_ratio(c['p99_ms'], r.get('p99_ms')))} | "
                f"{_fmt(c.get('server_cpu_ms_per_req'), 3)} | {c['errors']} |"
            )
    return lines


def plot(table: PeerTable, rows: int, path: Path, title: str) -> bool:
    """Throughput vs p99 for the `rows`-row cells: one line per server, one point per concurrency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    drawn = False
    for server, cells in table.items():
        pts = sorted((k[1], c["rps"], c["p99_ms"]) for k, c in cells.items() if k[0] == rows)
        if not pts:
            continue
        drawn = True
        ax.plot([p[1] for p in pts], [p[2] for p in pts], marker="o", label=server)
        for conc, x, y in pts:
            ax.annotate(f"c={conc}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_yscale("log")
    ax.set_xlabel("throughput (requests/s)")
    ax.set_ylabel("p99 latency (ms, log scale)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if drawn:
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
    plt.close(fig)
    return drawn


# ----------------------------------------------------------------------------- targets
@dataclass(frozen=True)
class Target:
    name: str
    measured: float | None
    threshold: float
    higher_is_better: bool
    detail: str

    @property
    def status(self) -> str:
        if self.measured is None:
            return "not measured"
        ok = self.measured >= self.threshold if self.higher_is_better else self.measured <= self.threshold
        return "met" if ok else "**missed**"


def _peer_ratio(table: PeerTable, a: str, b: str, key: tuple[int, int], metric: str) -> float | None:
    x, y = table.get(a, {}).get(key), table.get(b, {}).get(key)
    return _ratio(x[metric], y[metric]) if x and y else None


def _proto_ratio(cells: Sequence[Cell], rows: int, a: str, b: str) -> tuple[float | None, str]:
    """req/s of protocol a over b at the highest concurrency both were measured at with `rows` rows."""
    by = {(c["protocol"], c["concurrency"]): c for c in cells if c["rows"] == rows}
    concs = sorted({k[1] for k in by if (a, k[1]) in by and (b, k[1]) in by})
    if not concs:
        return None, "not measured"
    c = concs[-1]
    return _ratio(by[(a, c)]["rps"], by[(b, c)]["rps"]), f"{rows} rows, c={c}, req/s ratio"


def targets(res: dict[str, Any]) -> list[Target]:
    logreg = best_cells(res["peers"].get("logreg") or {})
    mlp_wide = best_cells(res["peers"].get("mlp-wide") or {})
    bin_ratio, bin_detail = _proto_ratio(res.get("protocol_cells", []), 100, "binary", "json")
    stream_ratio, stream_detail = _proto_ratio(res.get("protocol_cells", []), 1, "grpc-stream", "json")
    start = res.get("startup") or {}
    return [
        Target(
            "modelport req/s vs floor-onnx (logreg, 1 row, c=64)",
            _peer_ratio(logreg, "modelport", REFERENCE, (1, 64), "rps"),
            0.75,
            True,
            "ratio",
        ),
        Target(
            "modelport p99 vs floor-onnx (logreg, 1 row, c=64)",
            _peer_ratio(logreg, "modelport", REFERENCE, (1, 64), "p99_ms"),
            1.5,
            False,
            "ratio",
        ),
        Target(
            "modelport p50 vs floor-onnx (logreg, 1 row, c=1)",
            _peer_ratio(logreg, "modelport", REFERENCE, (1, 1), "p50_ms"),
            1.3,
            False,
            "ratio",
        ),
        Target(
            "modelport-sklearn req/s vs floor-sklearn (logreg, 1 row, c=64)",
            _peer_ratio(logreg, "modelport-sklearn", "floor-sklearn", (1, 64), "rps"),
            0.75,
            True,
            "ratio",
        ),
        Target(
            "modelport, batch 64 / 500 µs, req/s vs floor-onnx (mlp-wide, 1 row, c=64)",
            _peer_ratio(mlp_wide, "modelport-batch64", REFERENCE, (1, 64), "rps"),
            1.8,
            True,
            "ratio",
        ),
        Target(
            "modelport, batch 64 / 500 µs, p99 vs floor-onnx (mlp-wide, 1 row, c=64)",
            _peer_ratio(mlp_wide, "modelport-batch64", REFERENCE, (1, 64), "p99_ms"),
            1.0,
            False,
            "ratio",
        ),
        Target("binary vs JSON req/s", bin_ratio, 1.5, True, bin_detail),
        Target("streaming gRPC vs JSON req/s", stream_ratio, 0.75, True, stream_detail),
        Target(
            "start -> ready, 3 demo models, seeded home (median)",
            start.get("start_to_ready_median_s"),
            1.0,
            False,
            "seconds",
        ),
        Target(
            "register -> first prediction (median)",
            start.get("register_to_prediction_median_s"),
            2.0,
            False,
            "seconds",
        ),
    ]


def target_lines(items: Iterable[Target]) -> list[str]:
    lines = ["| target | measured | goal | status |", "|---|---:|---:|---|"]
    for t in items:
        unit = " s" if t.detail == "seconds" else "x"
        goal = f"{'>=' if t.higher_is_better else '<='} {t.threshold:g}{unit}"
        if t.detail not in ("ratio", "seconds"):
            goal += f" ({t.detail})"
        measured = "-" if t.measured is None else f"{t.measured:.2f}{unit}"
        lines.append(f"| {t.name} | {measured} | {goal} | {t.status} |")
    return lines


# ----------------------------------------------------------------------------- modelport cells
def _cell_table(cells: Sequence[Cell], first: Sequence[tuple[str, Callable[[Cell], str]]]) -> list[str]:
    cols: list[tuple[str, Callable[[Cell], str]]] = [
        *first,
        ("req/s (ok)", lambda c: f"{c['rps']:.0f}"),
        ("p50 ms", lambda c: _fmt(c["p50_ms"])),
        ("p99 ms", lambda c: _fmt(c["p99_ms"])),
        ("503 share", lambda c: f"{c['shed_share']:.1%}"),
        ("errors", lambda c: str(c["error"])),
        ("server CPU ms/req", lambda c: _fmt(c["server_cpu_ms_per_req"], 3)),
        ("client CPU %", lambda c: f"{c['client_cpu_pct']:.0f}"),
    ]
    lines = ["| " + " | ".join(n for n, _ in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(f(c) for _, f in cols) + " |" for c in cells]
    return lines


def protocol_lines(cells: Sequence[Cell]) -> list[str]:
    return _cell_table(
        cells,
        [
            ("protocol", lambda c: c["protocol"]),
            ("model", lambda c: c["model"]),
            ("rows", lambda c: str(c["rows"])),
            ("conc", lambda c: str(c["concurrency"])),
            ("check", lambda c: c.get("check", "-")),
        ],
    )


def slo_lines(cells: Sequence[Cell]) -> list[str]:
    return _cell_table(
        cells,
        [
            ("config", lambda c: f"{c['config']}"),
            ("conc", lambda c: str(c["concurrency"])),
            ("attempts/s", lambda c: f"{c['attempts_per_s']:.0f}"),
        ],
    )


def startup_lines(start: dict[str, Any]) -> list[str]:
    if not start:
        return ["Not measured."]
    regs = start["register_to_prediction"]
    return [
        "| measurement | value |",
        "|---|---:|",
        f"| first start on an empty home: seed 3 demo models + ready | {start['seed_and_ready_s']:.2f} s |",
        f"| start -> ready on the seeded home (median of {len(start['start_to_ready_s'])}) | "
        f"{start['start_to_ready_median_s']:.2f} s |",
        "| start -> ready, each run | " + ", ".join(f"{v:.2f}" for v in start["start_to_ready_s"]) + " s |",
        f"| register (CLI) -> first successful prediction (median of {len(regs)}) | "
        f"{start['register_to_prediction_median_s']:.2f} s |",
        "| of which the `modelport register` CLI process, each run | "
        + ", ".join(f"{r['cli_s']:.2f}" for r in regs)
        + " s |",
    ]


def profile_lines(prof: dict[str, Any]) -> list[str]:
    if not prof:
        return ["Not measured."]
    load = prof.get("load", {})
    lines = [
        f"py-spy {prof['rate_hz']} Hz for {prof['seconds']:.0f} s on the server "
        "(logreg, default config) under "
        f"loadgen JSON 1 row c=64 ({load.get('rps', 0):.0f} req/s during the recording). Thread "
        f"`{prof['thread']}`: {prof['samples']} samples, busy {prof['busy_share']:.0%} of the time "
        "(idle samples are not recorded). Shares below are of its busy samples. Raw collapsed stacks: "
        f"`{prof['raw_file']}`.",
        "",
        "Top self time (leaf frame; `Runner.run`/no Python frame = the event loop's own C code: uvloop, "
        "socket I/O, httptools callbacks' glue):",
        "",
        "| frame | share |",
        "|---|---:|",
    ]
    lines += [f"| `{f}` | {s:.1%} |" for f, s in prof["self"]]
    lines += ["", "Top modelport frames on the stack (inclusive):", "", "| frame | share |", "|---|---:|"]
    lines += [f"| `{f}` | {s:.1%} |" for f, s in prof["inclusive"]]
    return lines


# ----------------------------------------------------------------------------- document
def header_lines(res: dict[str, Any]) -> list[str]:
    m = res["machine"]
    mode = (
        "QUICK smoke run (1 s cells, 1 round, subset): numbers are indicative only"
        if res["quick"]
        else "full run"
    )
    return [
        "# Performance",
        "",
        f"Generated by `benchmarks/run.py` ({mode}) on {res['date_utc']} UTC "
        f"in {res['wall_s'] / 60:.1f} min.",
        "",
        f"Command: `{res['command']}`",
        "",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['mem_gib']:.1f} GiB RAM, kernel {m['kernel']}; "
        f"load average at start {m['loadavg_start']:.2f}, at end {m['loadavg_end']:.2f}. "
        f"Servers pinned to CPU {res['server_cpu']}, "
        f"load generators (wrk, loadgen.py) to CPU {res['client_cpu']}.",
        "",
        'The sections from "Many loaded versions" on are written by the other benchmarks of '
        "`make bench`, each when it last ran, and may come from another day or machine: compare "
        "ratios within one section.",
        "",
    ]


def version_lines(res: dict[str, Any]) -> list[str]:
    lines = [
        f"- python (modelport venv): {res['versions']['python']}",
        f"- modelport: {res['versions']['modelport']}",
    ]
    for venv, pkgs in res["versions"]["venvs"].items():
        lines.append(f"- {venv}: " + (", ".join(f"{k} {v}" for k, v in pkgs.items()) or "not present"))
    return lines


def peer_section(res: dict[str, Any], model: str) -> list[str]:
    data = res["peers"].get(model)
    if not data:
        return [f"## Peers: `{model}`", "", "Not run in this mode.", ""]
    lines = [
        f"## Peers: `{model}`",
        "",
        f"`{data.get('command', '?')}` (peer_bench.py, wrk closed loop; best of {data['args']['rounds']} "
        f"round(s), {data['args']['duration']} s per cell). Raw: `{res['peer_files'][model]}`.",
        "",
        f"Requests/s (ratio to `{REFERENCE}` in the same cell):",
        "",
    ]
    lines += peer_tables(best_cells(data))
    lines += [f"- FAILED: {f}" for f in failures(data)]
    return [*lines, ""]


def metrics_cost_lines(table: PeerTable, stats_cost: dict[str, float] | None) -> list[str]:
    """modelport with metrics on (the default) against the same server with metrics off, per cell."""
    lines = []
    if stats_cost:
        lines += [
            f"In process (`benchmarks/stats_cost.py`), recording one request's statistics costs "
            f"{stats_cost['total_us']:.2f} µs ({stats_cost['record_request_us']:.2f} µs per request, "
            f"{stats_cost['record_batch_us']:.2f} µs per model call). Over HTTP, two rounds of the same "
            "server can differ by up to about 10 % on this machine, so read the ratios below with that "
            "margin.",
            "",
        ]
    return lines + pair_lines(table, "modelport", "modelport-nometrics", ("on", "off"))


def pair_lines(table: PeerTable, first: str, second: str, labels: tuple[str, str]) -> list[str]:
    """Two modelport configurations under the same load, cell by cell (best round of each)."""
    a_cells, b_cells = table.get(first, {}), table.get(second, {})
    keys = sorted(set(a_cells) & set(b_cells))
    if not keys:
        return [f"Not measured in this run (`{first}` and `{second}` did not both run)."]
    a_name, b_name = labels
    lines = [
        f"| rows | conc | req/s {a_name} | req/s {b_name} | {a_name}/{b_name} req/s | "
        f"p50 ms {a_name} / {b_name} | p99 ms {a_name} / {b_name} | server CPU ms/req {a_name} / {b_name} |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key in keys:
        a, b = a_cells[key], b_cells[key]
        lines.append(
            f"| {key[0]} | {key[1]} | {a['rps']:.0f} | {b['rps']:.0f} | {_fmt(_ratio(a['rps'], b['rps']))} | "
            f"{a['p50_ms']:.2f} / {b['p50_ms']:.2f} | {a['p99_ms']:.2f} / {b['p99_ms']:.2f} | "
            f"{_fmt(a.get('server_cpu_ms_per_req'), 3)} / {_fmt(b.get('server_cpu_ms_per_req'), 3)} |"
        )
    return lines


PROFILE_HEADING = "## Where the time goes (event-loop thread profile)"
"""The last section of this report before ``## Versions``, where other benchmarks add theirs."""


def render(res: dict[str, Any], md_path: Path, png_path: Path) -> None:
    logreg = best_cells(res["peers"].get("logreg") or {})
    has_plot = plot(logreg, 1, png_path, "logreg, 1 row per request: throughput vs p99 (c = concurrency)")
    lines = header_lines(res)
    lines += ["## Targets", "", *target_lines(targets(res)), ""]
    lines += peer_section(res, "logreg")
    if has_plot:
        lines += [f"![throughput vs p99, logreg 1 row]({png_path.name})", ""]
    lines += peer_section(res, "mlp-wide")
    lines += [
        "## Cost of metrics",
        "",
        "The same logreg model and wrk load as the peer table, served by `modelport` (metrics on, the "
        "default: per-version counters and latency histogram, the server's stage histograms, endpoint "
        "counters) and by `modelport-nometrics` (`MODELPORT_METRICS__ENABLED=false`: nothing counted, "
        "no `/metrics`). Best round of each.",
        "",
        *metrics_cost_lines(logreg, res.get("stats_cost")),
        "",
    ]
    lines += [
        "## Fast lane vs ASGI",
        "",
        "The same server and load, with data-plane requests answered by the fast lane (`modelport`, the "
        "default: `FastLaneProtocol` hands them to the router and answers in one write) and through "
        "uvicorn's ASGI path (`modelport-asgi`, `MODELPORT_SERVING__FAST_LANE=false`). Best round of each.",
        "",
        *pair_lines(logreg, "modelport", "modelport-asgi", ("lane", "asgi")),
        "",
    ]
    lines += [
        "## modelport: binary tensors vs JSON, gRPC vs REST",
        "",
        "`benchmarks/loadgen.py` (asyncio closed loop, one keep-alive connection per worker for HTTP, one "
        "shared channel for gRPC) against one default-config server. `binary` = binary tensor extension "
        "in both directions; `json` = OIP JSON; `grpc` = ModelInfer with raw input contents. A client "
        "CPU near 100% means the load generator, not the server, was the limit.",
        "",
    ]
    lines += [*protocol_lines(res.get("protocol_cells", [])), ""]
    lines += [
        "## modelport: SLO mode vs fixed batching",
        "",
        f"Model `{res.get('slo_model', '?')}` (ONNX), 100-row JSON requests. 503 share = requests refused as "
        "overloaded (shed); latencies are of the successful requests. `max-batch-size` counts rows, so "
        "with 100-row requests a limit of 64 or 8 rows runs every request alone. The clients are polite: "
        "a refused request waits its `Retry-After` (1 s) before the next one, as a client of a shedding "
        "server should; clients that retry at once would turn shedding into a flood of refusals.",
        "",
    ]
    lines += [*slo_lines(res.get("slo_cells", [])), ""]
    lines += ["## modelport: start and register timings", "", *startup_lines(res.get("startup", {})), ""]
    lines += [
        PROFILE_HEADING,
        "",
        *profile_lines(res.get("profile", {})),
        "",
    ]
    lines += ["## Versions", "", *version_lines(res), ""]
    lines += ["## Reading the results", "", *READING, ""]
    lines += ["## Notes", "", *[f"- {n}" for n in res.get("notes", [])], ""]
    others = _added_by_others(md_path.read_text()) if md_path.exists() else []
    md_path.write_text(_without_machine_paths("\n".join(lines), md_path.parent.parent))
    for heading, body in others:  # kept until the benchmark that wrote it runs again
        write_section(md_path, heading, body)


def _added_by_others(text: str) -> list[tuple[str, str]]:
    """The sections other benchmarks put before ``## Versions`` (``doc_section.write_section``), that
    is after this report's last section before it: a run of ``run.py`` alone must not drop them."""
    sections = []
    for chunk in ("\n" + text).split("\n## ")[1:]:
        sections.append(("## " + chunk.split("\n", 1)[0], "## " + chunk))
    headings = [heading for heading, _ in sections]
    if PROFILE_HEADING not in headings or "## Versions" not in headings:
        return []
    return sections[headings.index(PROFILE_HEADING) + 1 : headings.index("## Versions")]


def _without_machine_paths(text: str, repo: Path) -> str:
    """Name files by their place in the repo (or next to it, or under ~), never by this machine's paths."""
    for path, name in ((repo.parent / "shared", "../shared"), (repo, "."), (Path.home(), "~")):
        text = text.replace(str(path), name)
    return text


READING = [
    "- `floor-onnx` is the serving limit for this process model, not a like-for-like peer: it parses the "
    "first input only, runs onnxruntime inline and answers the `label` output only. modelport validates "
    "every input against the signature, routes by model/version/alias/endpoint, counts requests in and "
    "out of versions (zero-downtime swaps), batches, and encodes every output (`label` and "
    "`probabilities`). The profile below shows where the remaining per-request time goes.",
    "- The MLP's model call is a few microseconds, so batching saves little next to what HTTP and the "
    "request's own Python cost; a target of 1.5x floor-onnx would mean beating the no-model `floor` "
    "by a wide margin. Batching pays off where the model dominates (the scikit-learn runtime, "
    "100-row requests).",
    "- gRPC is served by grpcio's asyncio server, whose per-call cost in Python is several times the "
    "REST path's; REST with the binary extension is the fast path for large tensors.",
    "- HTTP server chosen by measurement. A one-off check (not part of this run; wrk, 1-row JSON, the "
    "same no-model app on each, pinned as above) gave at c=64: uvicorn + uvloop + httptools (ASGI) "
    "41.8k req/s, granian 2.8.7 with its RSGI interface 37.4k, and a bare asyncio protocol on httptools "
    "125k. The ASGI cycle, not HTTP parsing, is the cost, so the data plane keeps uvicorn (workers, "
    "timeouts, graceful shutdown, the management API on the same port) and answers its own requests "
    "in `FastLaneProtocol` (see the section above); the choice is confined to `server/runner.py`.",
]


def main() -> None:
    res = json.loads(Path(sys.argv[1]).read_text())
    repo = Path(__file__).resolve().parent.parent
    render(res, repo / "docs" / "performance.md", repo / "docs" / "performance-throughput-p99.png")


if __name__ == "__main__":
    main()
