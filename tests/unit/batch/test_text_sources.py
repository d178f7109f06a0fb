"""A malformed CSV or JSONL line stays a row at its own index, with the reason, however the file
is split into blocks; rows around it keep their values and order."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pytest

from modelport.batch import text_sources
from modelport.batch.chunks import chunked
from modelport.batch.text_sources import MALFORMED_COLUMN, csv_batches, jsonl_batches

CSV = 'a,b\n1,2\n3,4,5\n\n"x\ny",6\n7\n8,9\n10,11,12\n'
"""Rows 0..5: ok, bad (3 cells), ok (a quoted newline, after a blank line), bad (1 cell), ok, bad."""


def _rows(batches: list[pa.RecordBatch]) -> list[dict[str, object]]:
    return pa.Table.from_batches(batches).to_pylist() if batches else []


@pytest.mark.parametrize("block_bytes", [1 << 20, 8])
def test_malformed_csv_rows_keep_their_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block_bytes: int
) -> None:
    monkeypatch.setattr(text_sources, "_BLOCK_BYTES", block_bytes)
    (tmp_path / "in.csv").write_text(CSV)
    rows = _rows(list(csv_batches(str(tmp_path / "in.csv"), "in.csv")))
    assert [(r["a"], r["b"]) for r in rows] == [
        ("1", "2"),
        (None, None),
        ("x\ny", "6"),
        (None, None),
        ("8", "9"),
        (None, None),
    ]
    assert [r[MALFORMED_COLUMN] for r in rows] == [
        None,
        "malformed CSV row 3 of in.csv: 3 cells where the header has 2",
        None,
        "malformed CSV row 5 of in.csv: 1 cells where the header has 2",
        None,
        "malformed CSV row 7 of in.csv: 3 cells where the header has 2",
    ]


JSONL = b'{"a": 1}\n{"a": \n\n[1, 2]\n{"a": 2.5}\n3\n{"a": "x", "b": true}\n{"a": 4}\n'
"""Rows 0..5: ok, not JSON, an array, ok, a number, ok (a new key, a type of its own), ok."""


@pytest.mark.parametrize("block_bytes", [1 << 20, 12])
def test_malformed_jsonl_lines_keep_their_index(monkeypatch: pytest.MonkeyPatch, block_bytes: int) -> None:
    monkeypatch.setattr(text_sources, "_BLOCK_BYTES", block_bytes)
    batches = list(jsonl_batches(io.BytesIO(JSONL), "in.jsonl"))
    chunk = next(chunked(batches, 100)).table.to_pylist()
    reasons = [r[MALFORMED_COLUMN] for r in chunk]
    assert [r.split(":")[0] if r else None for r in reasons] == [
        None,
        "malformed line 2 of in.jsonl",
        "malformed line 4 of in.jsonl",
        None,
        "malformed line 6 of in.jsonl",
        None,
        None,
    ]
    assert reasons[2].endswith("an array, not a JSON object") and "not JSON" in reasons[1]
    # a column of numbers and text is read as text, which conversion parses as it parses CSV
    assert [r["a"] for r in chunk] == ["1", None, None, "2.5", None, "x", "4"]


def test_good_jsonl_keeps_pyarrow_types_and_a_trailing_line_without_newline() -> None:
    batches = list(jsonl_batches(io.BytesIO(b'{"a": 1, "v": [1.0, 2.0]}\n{"a": 2, "v": [3.0, 4.0]}'), "x"))
    table = pa.Table.from_batches(batches)
    assert table.column("a").type == pa.int64() and table.column("v").to_pylist() == [[1.0, 2.0], [3.0, 4.0]]
    assert table.column(MALFORMED_COLUMN).null_count == 2


def test_chunks_join_blocks_that_inferred_different_number_types() -> None:
    ints = pa.record_batch({"a": pa.array([1, 2])})
    floats = pa.record_batch({"a": pa.array([2.5])})
    chunk = next(chunked([ints, floats], 10))
    assert chunk.table.column("a").type == pa.float64() and chunk.table.column("a").to_pylist() == [1, 2, 2.5]
