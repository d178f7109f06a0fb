"""Untrusted tree models run in a confined child: a crafted file can fail its own calls, never the caller."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from modelport.core import InternalError, NotReady
from modelport.runtimes.base import LoadOptions
from modelport.runtimes.isolation import IsolatedModel, needs_isolation
from modelport.runtimes.sklearn import SklearnRuntime
from tests import models

LEFT = np.zeros((2, 3))
"""Rows that go left at the tampered tree's root (feature 0 <= 5)."""
RIGHT = np.full((2, 3), 9.0)


def start(path: Path, framework: str = "sklearn", **options: float) -> IsolatedModel:
    settings = {"call_timeout_s": 30.0, "max_bytes": 1 << 26, **options}
    return IsolatedModel(path, framework, LoadOptions(), **settings)  # type: ignore[arg-type]


def test_only_untrusted_tree_models_are_isolated() -> None:
    assert needs_isolation("sklearn", trusted=False)
    assert needs_isolation("xgboost", trusted=False)
    assert needs_isolation("lightgbm", trusted=False)
    assert not needs_isolation("sklearn", trusted=True)
    assert not needs_isolation("onnx", trusted=False)


def test_answers_match_the_model_run_in_process(tmp_path: Path) -> None:
    path = models.cancer_skops(tmp_path)
    local = SklearnRuntime().load(path, LoadOptions())
    isolated = start(path)
    try:
        assert isolated.pid is not None and isolated.pid != os.getpid()
        assert isolated.signature == local.signature
        rows = np.random.RandomState(1).rand(5, 30) * 20
        expected, answered = local.predict({"input": rows}), isolated.predict({"input": rows})
        assert answered.keys() == expected.keys()
        for name, value in expected.items():
            np.testing.assert_array_equal(answered[name], value)
    finally:
        isolated.close()
    assert isolated.pid is None


def test_a_crash_fails_that_call_and_the_model_comes_back(tmp_path: Path) -> None:
    """The new child reads the file through ``refetch``: the path first loaded may be gone by then
    (a cache entry evicted once the load was done)."""
    source = models.tampered_tree_skops(tmp_path, "right_child", 10**7)
    (tmp_path / "cached").mkdir()
    loaded = Path(shutil.copy(source, tmp_path / "cached" / source.name))
    fetches: list[Path] = []

    @contextmanager
    def refetch() -> Iterator[Path]:
        fetches.append(source)
        yield source

    isolated = IsolatedModel(
        loaded,
        "sklearn",
        LoadOptions(),
        call_timeout_s=30.0,
        max_bytes=1 << 26,
        restart_pause_s=0.0,
        refetch=refetch,
    )
    try:
        loaded.unlink()
        assert isolated.predict({"input": LEFT})["label"].tolist() == [0, 0]
        crashed = isolated.pid
        with pytest.raises(InternalError, match="stopped"):
            isolated.predict({"input": RIGHT})
        assert isolated.predict({"input": LEFT})["label"].tolist() == [0, 0]  # a new child
        assert isolated.pid != crashed and fetches == [source]
    finally:
        isolated.close()


def test_after_a_crash_calls_wait_before_a_restart(tmp_path: Path) -> None:
    isolated = start(models.tampered_tree_skops(tmp_path, "right_child", 10**7), restart_pause_s=3600.0)
    try:
        with pytest.raises(InternalError):
            isolated.predict({"input": RIGHT})
        with pytest.raises(NotReady, match="restarting"):
            isolated.predict({"input": LEFT})
    finally:
        isolated.close()


def test_a_call_that_never_ends_is_stopped_at_its_deadline(tmp_path: Path) -> None:
    isolated = start(models.tampered_tree_skops(tmp_path, "left_child", 0), call_timeout_s=2.0)
    try:
        hung = isolated.pid
        assert hung is not None
        with pytest.raises(InternalError, match="deadline"):
            isolated.predict({"input": LEFT})
        assert isolated.pid is None
        assert not Path(f"/proc/{hung}").exists() or "zombie" in Path(f"/proc/{hung}/status").read_text()
    finally:
        isolated.close()


def test_a_file_that_fails_to_load_is_invalid_and_leaves_no_child(tmp_path: Path) -> None:
    broken = tmp_path / "broken.skops"
    broken.write_bytes(b"not a zip file")
    with pytest.raises(Exception, match="not a valid sklearn model"):
        start(broken)
