"""``modelport batch --engine ray``: the real CLI on a two-node Ray cluster that this module starts
on loopback (free ports, no dashboard) and stops, writing the same parts and manifest as the local
engine, with one model load per actor; killed, cancelled and resumed to the same output.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.e2e.conftest import MODELPORT, base_env, register, run_cli
from tests.e2e.test_batch import invoke, manifest, poll, scored
from tests.ray_cluster import LOOPBACK_ENV, two_node_cluster

pytestmark = [  # Ray's nodes, started in this process, leave their log files for the collector to close
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

ROWS, CHUNK_ROWS, ROW_GROUP_ROWS = 8_000, 50, 130
"""Chunks that straddle row groups; enough of them that a signal comes before the end."""
ENGINE_FIELDS = {"engine", "workers", "actors"}
RUN_FIELDS = {"output", "errors_file", "duration_s", "started_at", "finished_at"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """Two nodes of one CPU each, bound to 127.0.0.1 on free ports; every process gone afterwards."""
    pytest.importorskip("ray")
    with two_node_cluster() as address:
        yield address


@pytest.fixture(scope="module")
def ray_home(home: Path, model_files: dict[str, Path]) -> Path:
    register(home, model_files["iris"], "iris")
    return home


@pytest.fixture(scope="module")
def rows_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ray-input") / "in.parquet"
    rng = np.random.default_rng(7)
    table = pa.table(
        {"id": [f"r{i}" for i in range(ROWS)]} | {f"X[{i}]": rng.uniform(0, 8, ROWS) for i in range(4)}
    )
    pq.write_table(table, path, row_group_size=ROW_GROUP_ROWS)
    return path


def test_a_job_killed_and_cancelled_on_two_nodes_resumes_to_the_local_engines_output(
    cluster: str, ray_home: Path, rows_file: Path, tmp_path: Path
) -> None:
    """Two Ray runs (killed, then cancelled past half the chunks) and a local resume write what an
    uninterrupted local run writes: the parts Ray wrote are the local engine's, byte for byte in
    content, and either engine resumes the other's job."""
    import modelport

    chunks = ROWS // CHUNK_ROWS
    whole = tmp_path / "local"
    modelport.batch_predict("iris", rows_file, whole, id_columns=["id"], chunk_rows=CHUNK_ROWS, home=ray_home)
    output = tmp_path / "ray"
    command = [str(MODELPORT), "batch", "iris", str(rows_file), str(output)]
    ray_options = ["--engine", "ray", "--address", cluster, "--num-workers", "2"]

    def interrupt(extra: list[str], sig: signal.Signals, parts: int) -> tuple[int, str]:
        """Run the command and send ``sig`` once the manifest lists more than ``parts`` parts."""
        env = base_env(ray_home, **LOOPBACK_ENV)
        job = subprocess.Popen([*command, *extra, *ray_options], env=env, stderr=subprocess.PIPE, text=True)
        try:
            poll(
                lambda: (
                    job.poll() is not None
                    or ((output / "_manifest.json").exists() and len(manifest(output)["parts"]) > parts)
                ),
                timeout_s=120,
            )
            assert job.poll() is None, "the job ended before the signal"
            job.send_signal(sig)
        finally:
            _, stderr = job.communicate(timeout=120)
        return job.returncode, stderr

    code, _ = interrupt(["--id-column", "id", "--chunk-rows", str(CHUNK_ROWS)], signal.SIGKILL, 2)
    assert code == -signal.SIGKILL
    killed = manifest(output)
    assert killed["state"] == "running" and 2 < len(killed["parts"]) < chunks // 2

    code, stderr = interrupt(["--resume"], signal.SIGTERM, chunks // 2)
    assert code == 130, stderr
    assert "error: cancelled; the parts written are kept: --resume continues" in stderr
    cancelled = manifest(output)
    assert cancelled["state"] == "cancelled" and chunks // 2 < len(cancelled["parts"]) < chunks
    assert (cancelled["engine"], cancelled["workers"]) == ("ray", 2)
    actors = cancelled["actors"]  # two actors, one per node (a CPU each), each loaded the model once
    assert len(actors) == 2, actors
    assert [actor["model_loads"] for actor in actors] == [1, 1]
    assert actors[0]["node"] != actors[1]["node"]
    assert sum(actor["chunks"] for actor in actors) >= len(cancelled["parts"]) - len(killed["parts"])

    summary = modelport.batch_predict("iris", rows_file, output, resume=True, home=ray_home)
    assert summary["state"] == "complete"
    resumed, uninterrupted = scored(output), scored(whole)
    assert resumed.column("id").to_pylist() == [f"r{i}" for i in range(ROWS)]
    assert resumed.equals(uninterrupted)
    assert sorted(p.name for p in output.iterdir()) == sorted(p.name for p in whole.iterdir())
    ours, local = manifest(output), manifest(whole)
    assert {k: v for k, v in ours.items() if k not in ENGINE_FIELDS | RUN_FIELDS} == {
        k: v for k, v in local.items() if k not in ENGINE_FIELDS | RUN_FIELDS
    }


def test_more_workers_than_the_cluster_has_cpus_are_refused(
    cluster: str, ray_home: Path, rows_file: Path, tmp_path: Path
) -> None:
    args = ["--engine", "ray", "--address", cluster, "--num-workers", "3"]
    output = tmp_path / "out"
    result = run_cli(ray_home, "batch", "iris", rows_file, output, *args, env=LOOPBACK_ENV, check=False)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == "error: --num-workers 3: the Ray cluster has 2 CPUs"
    assert (manifest(output)["state"], manifest(output)["parts"]) == ("failed", [])


@pytest.mark.parametrize(
    ("case", "message"),
    [
        (
            "csv",
            "--engine ray reads Parquet (each worker reads only its chunk's row groups); convert the CSV",
        ),
        ("stdin", "--engine ray reads files that every Ray node can read, not standard input"),
        ("workers on local", "--address and --num-workers are for --engine ray"),
    ],
)
def test_what_the_ray_engine_cannot_read_is_refused_before_anything_is_written(
    ray_home: Path, tmp_path: Path, case: str, message: str
) -> None:
    (tmp_path / "in.csv").write_text("a,b\n1,2\n")
    output = tmp_path / "out"
    every: dict[str, list[str | Path]] = {
        "csv": [tmp_path / "in.csv", output, "--engine", "ray"],
        "stdin": ["-", output, "--engine", "ray"],
        "workers on local": [tmp_path / "in.csv", output, "--num-workers", "2"],
    }
    args = every[case]
    result = invoke(ray_home, "iris", *args, input="{}\n")
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"error: {message}") and result.output.count("\n") == 1
    assert not output.exists()


def test_without_ray_the_engine_names_the_extra_to_install(
    ray_home: Path, rows_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sys.modules, "modelport.batch.ray_engine", raising=False)
    monkeypatch.setitem(sys.modules, "ray", None)  # as when the package is missing
    result = invoke(ray_home, "iris", rows_file, tmp_path / "out", "--engine", "ray")
    assert result.exit_code == 1
    assert result.output.strip() == "error: --engine ray needs Ray: pip install 'modelport[ray]'"
    assert not (tmp_path / "out").exists()


def test_the_local_engine_does_not_import_ray(ray_home: Path, rows_file: Path, tmp_path: Path) -> None:
    """``modelport batch``'s own code, run in a fresh interpreter that then tells whether it has Ray."""
    args = ["batch", "iris", str(rows_file), str(tmp_path / "out"), "--json"]
    script = (
        "import sys; from modelport.cli import main; "
        f"main({args!r}, standalone_mode=False); "
        "print('ray' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=base_env(ray_home),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip().splitlines()[-1] == "False"
    assert manifest(tmp_path / "out")["state"] == "complete"
