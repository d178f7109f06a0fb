"""The OIP cells of two commits side by side: what a change costs the data plane, in one run.

    .venv/bin/python benchmarks/compare_commits.py --base COMMIT [--doc docs/performance.md]
    .venv/bin/python benchmarks/compare_commits.py --base COMMIT --rows 1 --concurrency 1,64 \
        --config "--max-batch-size 64 --max-queue-delay-us 500"

The base commit is checked out in a temporary git worktree and served by this checkout's venv with
``PYTHONPATH`` pointing at the worktree's ``src`` (so only modelport's own code differs, not its
dependencies); the working tree is the other side. ``../shared/bench/peer_bench.py`` drives both (and
floor-onnx, for scale) with the same wrk load on the logreg ONNX model: OIP JSON, 1 and 100 rows,
c=1/8/64 (``--rows``, ``--concurrency``), interleaved rounds; ``--config`` serves both with those
``modelport config set`` options. The report gives head/base per cell for the best round's req/s, the
median round's req/s (steadier on a noisy machine) and the server CPU per request; issue 13 asks the
single service entry point to cost nothing (within noise).
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from doc_section import write_section  # noqa: E402

SECTION = "## Cost of a change: two commits side by side"
SERVE_SH = HERE / "serve_modelport.sh"
VENV_PYTHON = REPO / ".venv" / "bin" / "python"


def short_commit(ref: str) -> str:
    git = ["git", "rev-parse", "--short", ref]
    return subprocess.run(git, cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()


def base_bin(worktree: Path, folder: Path) -> Path:
    """A folder whose ``modelport`` runs the base commit's code on this checkout's venv."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "modelport"
    code = "import sys; from modelport.cli import main; sys.argv[0] = 'modelport'; main()"
    script.write_text(
        "#!/bin/sh\n"
        f"PYTHONPATH={shlex.quote(str(worktree / 'src'))} "
        f'exec {shlex.quote(str(VENV_PYTHON))} -c {shlex.quote(code)} "$@"\n'
    )
    script.chmod(0o755)
    return folder


def run_peer_bench(a: argparse.Namespace, bin_dir: Path, out: Path) -> dict[str, Any]:
    serve = f"bash {shlex.quote(str(SERVE_SH))} {{port}} {{onnx}} {a.config}".rstrip()
    argv = [sys.executable, str(a.peer_bench / "peer_bench.py"), "--servers", "floor-onnx"]
    argv += ["--model", "logreg", "--rows", a.rows, "--concurrency", a.concurrency]
    argv += ["--duration", str(a.duration), "--rounds", str(a.rounds), "--peers-root", str(a.peers_root)]
    argv += ["--skip-inproc", "--out", str(out), "--json", str(out.with_suffix(".json"))]
    argv += ["--extra", f"base=MODELPORT_BIN={shlex.quote(str(bin_dir))} {serve}", "--extra", f"head={serve}"]
    subprocess.run(argv, check=True, cwd=a.peer_bench)
    result: dict[str, Any] = json.loads(out.with_suffix(".json").read_text())
    return result


def summary_cells(result: dict[str, Any]) -> dict[tuple[str, int, int], dict[str, float]]:
    """(server, rows, concurrency) -> the best round's req/s (as peer_bench's own summaries take it),
    the median round's req/s, and the lowest server CPU ms per request."""
    rounds: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
    for run in result["runs"]:
        for cell in run["cells"]:
            rounds.setdefault((run["server"], int(cell["rows"]), int(cell["conc"])), []).append(cell)
    return {
        key: {
            "rps": max(c["rps"] for c in cells),
            "median": statistics.median(c["rps"] for c in cells),
            "cpu": min(c["server_cpu_ms_per_req"] for c in cells),
        }
        for key, cells in rounds.items()
    }


def report(cells: dict[tuple[str, int, int], dict[str, float]], base: str, head: str) -> str:
    rps_ratios, median_ratios, cpu_ratios = [], [], []
    lines = [
        f"| cell | floor-onnx req/s | base ({base}) req/s | head ({head}) req/s | head/base req/s "
        "| head/base median req/s | base CPU ms/req | head CPU ms/req | head/base CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for _, rows, conc in sorted(key for key in cells if key[0] == "head"):
        f, b, h = (cells[(s, rows, conc)] for s in ("floor-onnx", "base", "head"))
        rps_ratios.append(h["rps"] / b["rps"])
        median_ratios.append(h["median"] / b["median"])
        cpu_ratios.append(h["cpu"] / b["cpu"])
        lines.append(
            f"| {rows} row{'s' if rows > 1 else ''} c={conc} | {f['rps']:,.0f} | {b['rps']:,.0f} "
            f"| {h['rps']:,.0f} | x{h['rps'] / b['rps']:.2f} | x{h['median'] / b['median']:.2f} "
            f"| {b['cpu']:.3f} | {h['cpu']:.3f} | x{h['cpu'] / b['cpu']:.2f} |"
        )
    lines += [
        "",
        f"Head/base over the {len(rps_ratios)} cells: best-round req/s x{min(rps_ratios):.2f} to "
        f"x{max(rps_ratios):.2f}, median-round req/s x{min(median_ratios):.2f} to x{max(median_ratios):.2f}, "
        f"server CPU per request x{min(cpu_ratios):.2f} to x{max(cpu_ratios):.2f}.",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="the commit to compare the working tree with")
    ap.add_argument("--peer-bench", type=Path, default=REPO.parent / "shared" / "bench")
    ap.add_argument("--peers-root", type=Path, default=Path.home() / ".cache" / "peer-bench")
    ap.add_argument("--duration", type=int, default=4, help="seconds per cell")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rows", default="1,100", help="rows per request, comma-separated")
    ap.add_argument("--concurrency", default="1,8,64", help="comma-separated")
    ap.add_argument("--config", default="", help="modelport config set options for both servers")
    ap.add_argument("--doc", type=Path, help="write the section into this file (docs/performance.md)")
    a = ap.parse_args()
    base, head = short_commit(a.base), short_commit("HEAD")
    with tempfile.TemporaryDirectory(prefix="modelport-compare-") as scratch:
        worktree = Path(scratch) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", str(worktree), base], cwd=REPO, check=True)
        try:
            result = run_peer_bench(a, base_bin(worktree, Path(scratch) / "bin"), Path(scratch) / "peer.md")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=REPO, check=True)
    table = report(summary_cells(result), base, head)
    print(table)
    if a.doc is not None:
        options = f" --rows {a.rows} --concurrency {a.concurrency}"
        if a.config:
            options += f" --config {shlex.quote(a.config)}"
        intro = (
            f"`benchmarks/compare_commits.py --base {base}{options}` (run alone, not by `make bench`): "
            "the base commit in a git worktree, served by this checkout's venv, against the working tree "
            f"(HEAD {head}), both through `serve_modelport.sh`, with floor-onnx for scale; peer_bench.py "
            f"(wrk) on logreg ONNX, OIP JSON, {a.duration:g} s cells, {a.rounds} interleaved rounds."
        )
        write_section(a.doc, SECTION, f"{SECTION}\n\n{intro}\n\n{table}\n")


if __name__ == "__main__":
    main()
