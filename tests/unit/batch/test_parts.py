"""Chunks are fixed row ranges; parts and manifests appear whole or not at all; the errors file
is cut back to what the manifest records."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from modelport.batch.chunks import chunked
from modelport.batch.manifest import MANIFEST_NAME, Manifest, Part
from modelport.batch.parts import write_part
from modelport.batch.rejects import ErrorsFile
from modelport.batch.scoring import RowError
from modelport.core.errors import InvalidInput


def test_chunks_are_the_same_row_ranges_whatever_the_reader_batches() -> None:
    batches = [pa.record_batch({"x": list(range(a, b))}) for a, b in [(0, 3), (3, 4), (4, 4), (4, 11)]]
    chunks = list(chunked(batches, 4))
    assert [(c.index, c.start, c.table.column("x").to_pylist()) for c in chunks] == [
        (0, 0, [0, 1, 2, 3]),
        (1, 4, [4, 5, 6, 7]),
        (2, 8, [8, 9, 10]),
    ]


def test_a_part_holds_list_outputs_as_lists_in_parquet_and_as_columns_in_csv(tmp_path: Path) -> None:
    probabilities = pa.FixedSizeListArray.from_arrays(pa.array([0.25, 0.75, 0.5, 0.5]), 2)
    table = pa.table({"row": [0, 1], "p": probabilities})
    assert write_part(tmp_path, 3, table, "parquet") == "part-000003.parquet"
    assert pq.read_table(tmp_path / "part-000003.parquet").column("p").to_pylist() == [
        [0.25, 0.75],
        [0.5, 0.5],
    ]
    write_part(tmp_path, 3, table, "csv")
    assert pacsv.read_csv(tmp_path / "part-000003.csv").column_names == ["row", "p[0]", "p[1]"]
    write_part(tmp_path, 3, table, "jsonl")
    lines = (tmp_path / "part-000003.jsonl").read_text().splitlines()
    assert json.loads(lines[1]) == {"row": 1, "p": [0.5, 0.5]}


def test_a_failed_part_write_leaves_no_file(tmp_path: Path) -> None:
    unwritable = pa.table({"x": pa.array([{"nested": 1}])})  # CSV has no struct columns
    with pytest.raises(pa.ArrowException):
        write_part(tmp_path, 0, unwritable, "csv")
    assert list(tmp_path.iterdir()) == []


def test_the_manifest_round_trips_and_a_broken_one_is_named(tmp_path: Path) -> None:
    manifest = Manifest(
        "iris", "iris", 1, "ab" * 32, "in.csv", [], str(tmp_path), "parquet", "e", 10, [], [], 0
    )
    manifest.add(Part(0, "part-000000.parquet", 0, 10, 9, 1, 40))
    manifest.save(tmp_path)
    loaded = Manifest.load(tmp_path)
    assert loaded == manifest
    assert (loaded.rows_in, loaded.rows_scored, loaded.rows_failed) == (10, 9, 1)
    assert [p.name for p in tmp_path.iterdir()] == [MANIFEST_NAME]  # the temporary file was renamed
    (tmp_path / MANIFEST_NAME).write_text("{")
    with pytest.raises(InvalidInput, match="is not a batch manifest"):
        Manifest.load(tmp_path)
    with pytest.raises(InvalidInput, match="there is no batch job to resume"):
        Manifest.load(tmp_path / "elsewhere")


def test_the_errors_file_is_cut_back_to_the_recorded_size(tmp_path: Path) -> None:
    path = tmp_path / "errors.jsonl"
    errors = ErrorsFile(path, 0)
    end = errors.append(0, [RowError(3, {"id": "a"}, "column 'x' is null (missing)")])
    errors.append(1, [RowError(9, {}, "late")])  # a part the manifest never recorded
    errors.close()
    ErrorsFile(path, end).close()
    assert [json.loads(line) for line in path.read_text().splitlines()] == [
        {"row": 3, "ids": {"id": "a"}, "reason": "column 'x' is null (missing)"}
    ]
