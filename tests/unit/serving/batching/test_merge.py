import numpy as np
import pytest

from modelport.core import InternalError
from modelport.serving.batching.merge import merge, merge_key, rows_of, split


def test_requests_of_different_row_counts_merge_and_split_back_exactly() -> None:
    parts = [{"x": np.full((n, 3), n, np.float32), "m": np.arange(n)} for n in (1, 4, 2)]
    merged = merge(parts)
    assert merged["x"].shape == (7, 3) and merged["m"].tolist() == [0, 0, 1, 2, 3, 0, 1]
    back = split({"y": merged["x"].sum(axis=1), "z": merged["m"]}, [rows_of(p) for p in parts])
    assert [b["y"].tolist() for b in back] == [[3.0], [12.0] * 4, [6.0] * 2]
    assert [b["z"].tolist() for b in back] == [[0], [0, 1, 2, 3], [0, 1]]


def test_a_single_request_is_passed_through_untouched() -> None:
    x = np.ones((2, 2))
    assert merge([{"x": x}])["x"] is x


def test_merge_key_separates_dtypes_and_trailing_shapes_and_refuses_scalars() -> None:
    key = merge_key({"x": np.zeros((1, 3), np.float32)})
    assert key == merge_key({"x": np.zeros((5, 3), np.float32)})
    assert key != merge_key({"x": np.zeros((1, 4), np.float32)})
    assert key != merge_key({"x": np.zeros((1, 3), np.float64)})
    assert merge_key({"x": np.float32(1.0)}) is None


def test_split_refuses_outputs_that_lost_rows() -> None:
    with pytest.raises(InternalError, match="3-row batch"):
        split({"y": np.zeros(2)}, [1, 2])
