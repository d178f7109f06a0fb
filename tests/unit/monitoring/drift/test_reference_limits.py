"""Reference files an attacker may upload: read as data only, and bounded before anything is decoded."""

from __future__ import annotations

import pickle
import tracemalloc
from pathlib import Path

import numpy as np
import numpy.lib.format as npy
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelport.core import InvalidInput
from modelport.monitoring.drift.reference import MAX_REFERENCE_COLUMNS, read_reference_file


def _npy_with_shape(path: Path, shape: tuple[int, ...], payload: bytes) -> Path:
    with path.open("wb") as out:
        npy.write_array_header_1_0(out, {"descr": "<f8", "fortran_order": False, "shape": shape})
        out.write(payload)
    return path


def test_a_huge_declared_shape_is_refused_before_allocating(tmp_path: Path) -> None:
    path = _npy_with_shape(tmp_path / "ref.npy", (400_000_000,), np.zeros(10).tobytes())
    tracemalloc.start()
    try:
        with pytest.raises(InvalidInput, match="declares shape"):
            read_reference_file(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * 1024 * 1024  # np.load alone would allocate the declared 3.2 GB


def test_a_shape_beyond_memory_is_a_clean_refusal(tmp_path: Path) -> None:
    path = _npy_with_shape(tmp_path / "ref.npy", (10**12, 10**6), b"")
    with pytest.raises(InvalidInput, match="declares shape"):
        read_reference_file(path)


def test_an_object_array_is_refused_and_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    class Boom:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (Path.touch, (str(marker),))  # type: ignore[return-value]

    path = tmp_path / "ref.npy"
    with path.open("wb") as out:
        npy.write_array_header_1_0(out, {"descr": "|O", "fortran_order": False, "shape": (1,)})
        pickle.dump(np.array([Boom()], dtype=object), out, protocol=3)
    with pytest.raises(InvalidInput, match="Python objects"):
        read_reference_file(path)
    assert not marker.exists()


def test_a_parquet_that_decodes_to_too_many_values_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ref.parquet"
    pq.write_table(pa.table({"x": pa.array(np.zeros(60_000_000, dtype=np.int8))}), path, compression="zstd")
    assert path.stat().st_size < 1_000_000  # small enough for any upload limit
    with pytest.raises(InvalidInput, match="too large"):
        read_reference_file(path)


def test_too_many_columns_are_refused(tmp_path: Path) -> None:
    wide = MAX_REFERENCE_COLUMNS + 1
    csv_path = tmp_path / "ref.csv"
    csv_path.write_text(",".join(["1"] * wide) + "\n")
    with pytest.raises(InvalidInput, match="columns"):
        read_reference_file(csv_path)
    npy_path = tmp_path / "ref.npy"
    np.save(npy_path, np.zeros((1, wide)))
    with pytest.raises(InvalidInput, match="columns"):
        read_reference_file(npy_path)


def test_an_ordinary_file_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "ref.npy"
    np.save(path, np.arange(8.0).reshape(2, 4))
    assert read_reference_file(path).shape == (2, 4)
