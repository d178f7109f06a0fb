"""How often the recorder saves the manifest: its cost must stay constant per part, not grow with the
parts already written, and a killed job must lose at most a second or a small share of its parts."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa

from modelport.batch.manifest import Manifest
from modelport.batch.output import ErrorsSink
from modelport.batch.record import SAVE_FRACTION, Outcome, Recorder
from modelport.batch.scoring import RowError


class _NoErrors:
    def append(self, index: int, errors: Iterable[RowError]) -> int:
        return 0

    def close(self) -> None:
        pass


class _CountingOutput:
    """An output that keeps nothing but which parts each manifest save listed."""

    url = "memory"

    def __init__(self) -> None:
        self.saves: list[int] = []

    def default_errors(self) -> str:
        return "errors"

    def prepare_new(self, overwrite: bool) -> None:
        pass

    def prepare_resumed(self, manifest: Manifest) -> None:
        pass

    def load_manifest(self) -> Manifest:
        raise NotImplementedError

    def save_manifest(self, manifest: Manifest) -> None:
        self.saves.append(len(manifest.parts))

    def write_part(self, index: int, table: pa.Table, fmt: str) -> str:
        return f"part-{index}"

    def errors(self, manifest: Manifest) -> ErrorsSink:
        return _NoErrors()


def _record(parts: int, clock_step_s: float) -> list[int]:
    manifest = Manifest("m", "m", 1, "ab" * 32, "in", [], "out", "parquet", "e", 1, [], [], 0)
    output = _CountingOutput()
    now = [0.0]

    def clock() -> float:
        now[0] += clock_step_s
        return now[0]

    recorder = Recorder(manifest, output, clock=clock)
    for index in range(parts):
        recorder.write(Outcome(index, index, 1, pa.table({"y": [index]}), ()), complete=True)
    assert len(manifest.parts) == parts
    return output.saves


def test_a_long_job_saves_its_manifest_a_bounded_number_of_times_per_part() -> None:
    saves = _record(10_000, clock_step_s=0.0)
    # every part at first, then every 1/SAVE_FRACTION of the parts: about SAVE_FRACTION saves per doubling
    assert saves[:SAVE_FRACTION] == list(range(1, SAVE_FRACTION + 1))
    assert len(saves) < 10 * SAVE_FRACTION
    written = sum(saves)  # part entries serialised over the whole job
    assert written < 3 * SAVE_FRACTION * 10_000
    # no save came later than the rule allows: fewer than 1/SAVE_FRACTION of the parts were unsaved
    assert all((after - before - 1) * SAVE_FRACTION < after for before, after in itertools.pairwise(saves))


def test_a_slow_job_saves_after_every_part_a_second_apart() -> None:
    assert _record(500, clock_step_s=1.0) == list(range(1, 501))


def test_the_manifest_on_disk_lists_only_parts_that_exist(tmp_path: Path) -> None:
    errors = str(tmp_path / "errors.jsonl")
    manifest = Manifest("m", "m", 1, "ab" * 32, "in", [], str(tmp_path), "parquet", errors, 1, [], [], 0)
    recorder = Recorder(manifest, tmp_path, clock=lambda: 0.0)
    for index in range(100):
        recorder.write(Outcome(index, index, 1, pa.table({"y": [index]}), ()), complete=True)
        listed = Manifest.load(tmp_path).parts
        assert all((tmp_path / str(part.file)).exists() for part in listed)
        assert (index + 1 - len(listed)) * SAVE_FRACTION < index + 1
    recorder.close()
