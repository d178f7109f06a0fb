"""Drift reports where the reference and the live data differ in shape or kind, or where the version
came after logging began: a real registry, reference files read as registration reads them, and
payload-log segments in the contract's layout."""

from __future__ import annotations

import hashlib
import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from modelport.cli import main
from modelport.control.drift import DriftService
from modelport.core.errors import InvalidInput
from modelport.core.settings import DriftSettings, Settings
from modelport.core.tensors import Datatype, Signature, TensorSpec
from modelport.monitoring.drift.reference import ReferenceData, read_reference_file, reference_table
from modelport.monitoring.payloads.store import PayloadStore
from modelport.registry.catalog import Registry
from tests.payload_log import write_segment
from tests.unit.control.stub_versions import register_stub

Array = np.ndarray[Any, Any]
T0 = datetime(2026, 1, 1, tzinfo=UTC)
ZIPS = np.array(["02139", "02140", "10001", "94105", "60601"])
PRICES = np.array(["4.50", "9.99", "10.00"])
TABULAR = Signature(
    (TensorSpec("zip", Datatype.BYTES, (-1,)), TensorSpec("price", Datatype.BYTES, (-1,))),
    (TensorSpec("y", Datatype.FP32, (-1,)),),
)
WIDE = Signature((TensorSpec("x", Datatype.FP32, (-1, -1)),), (TensorSpec("y", Datatype.FP32, (-1,)),))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, drift=DriftSettings(reference_rows=300))


def _register(
    registry: Registry, tmp_path: Path, signature: Signature, reference: ReferenceData = None
) -> None:
    """As registration stores it: ``reference_table`` checks and casts the reference first."""
    register_stub(
        registry, tmp_path, signature, None if reference is None else reference_table(reference, signature)
    )


def _log(
    settings: Settings, inputs: dict[str, Array], start: datetime, version: int = 1, **outputs: Array
) -> None:
    rows = len(next(iter(inputs.values())))
    y = outputs.get("y", np.zeros(rows, dtype=np.float32))
    write_segment(
        settings.data_dir, "m", model="m", version=version, inputs=inputs, outputs={"y": y}, start=start
    )


def _prices(rng: np.random.Generator, rows: int) -> Array:
    """Prices in tenths: as numbers, ``12.3``; written with ``%.2f``, ``12.30``."""
    return rng.choice(np.round(np.linspace(1.0, 50.0, 40), 1), rows)


def test_a_csv_reference_of_text_inputs_keeps_what_was_written(
    service: DriftService, registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    """Zip codes were read from CSV as integers (02139 became 2139), prices as floats (4.50 became
    4.5) against the text the log holds: an alert with no drift at all."""
    rng = np.random.default_rng(0)
    reference = tmp_path / "reference.csv"
    rows = [f"{z},{p}" for z, p in zip(rng.choice(ZIPS, 1000), rng.choice(PRICES, 1000), strict=True)]
    reference.write_text("zip,price\n" + "\n".join(rows) + "\n")
    _register(registry, tmp_path, TABULAR, read_reference_file(reference))
    _log(settings, {"zip": rng.choice(ZIPS, 400), "price": rng.choice(PRICES, 400)}, T0)
    report = service.report("m")
    assert report["status"] == "ok"
    assert {f["feature"]: (f["kind"], f["status"]) for f in report["features"]} == {
        "zip": ("categorical", "ok"),
        "price": ("categorical", "ok"),
    }
    assert report["type_mismatches"] == []
    assert sorted(report["features"][0]["histogram"]["categories"]) == sorted(ZIPS)
    assert sorted(report["features"][1]["histogram"]["categories"]) == sorted(PRICES)


def test_numbers_given_for_a_text_input_match_the_same_numbers_written_as_text(
    service: DriftService, registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    """Prices written as ``%.2f`` against the same prices as numbers were compared as categories."""
    rng = np.random.default_rng(1)
    _register(registry, tmp_path, TABULAR, {"zip": rng.choice(ZIPS, 1000), "price": _prices(rng, 1000)})
    _log(
        settings,
        {"zip": rng.choice(ZIPS, 400), "price": np.array([f"{p:.2f}" for p in _prices(rng, 400)])},
        T0,
    )
    report = service.report("m")
    assert report["status"] == "ok"
    assert [(f["feature"], f["kind"], f["status"]) for f in report["features"]] == [
        ("zip", "categorical", "ok"),
        ("price", "numeric", "ok"),
    ]


def test_text_against_numbers_is_a_type_mismatch(
    service: DriftService, registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    """A numeric input the payload log hashes is text: it cannot be compared with numbers."""
    rng = np.random.default_rng(2)
    _register(registry, tmp_path, TABULAR, {"zip": rng.choice(ZIPS, 1000), "price": _prices(rng, 1000)})
    hashed = np.array([hashlib.sha256(str(p).encode()).hexdigest() for p in _prices(rng, 400)])
    _log(settings, {"zip": rng.choice(ZIPS, 400), "price": hashed}, T0)
    report = service.report("m")
    assert report["type_mismatches"] == [{"feature": "price", "reference": "number", "live": "text"}]
    assert [f["feature"] for f in report["features"]] == ["zip"]
    assert report["status"] == "alert"


def test_a_reference_that_does_not_fit_the_datatype_is_refused(tmp_path: Path) -> None:
    signature = Signature((TensorSpec("n", Datatype.INT64, (-1, 2)),), WIDE.outputs)
    reference = tmp_path / "reference.csv"
    reference.write_text("a,b\n1, 2.0\n3,4\n")
    assert reference_table(read_reference_file(reference), signature).column("n[1]").to_pylist() == [2, 4]
    reference.write_text("a,b\n1,2.5\n")
    with pytest.raises(InvalidInput, match=r"reference column 'n\[1\]' does not fit input 'n' \(INT64\)"):
        reference_table(read_reference_file(reference), signature)
    with pytest.raises(InvalidInput, match=r"reference column 'n\[0\]' does not fit input 'n'"):
        reference_table({"n": np.array([["x", "1"]])}, signature)
    floats = Signature(
        (TensorSpec("f", Datatype.FP32, (-1,)), TensorSpec("b", Datatype.BOOL, (-1,))), WIDE.outputs
    )
    cast = reference_table({"f": np.array([1, 2]), "b": np.array([0, 1])}, floats)
    assert (cast.schema.field("f").type, cast.column("b").to_pylist()) == (pa.float32(), [False, True])


def test_live_columns_the_reference_lacks_are_reported(
    service: DriftService, registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    """An input that grew from 3 to 5 columns: its new columns moved, and the model was ``ok``."""
    rng = np.random.default_rng(3)
    _register(registry, tmp_path, WIDE, rng.normal(size=(1000, 3)))
    wide = rng.normal(size=(400, 5))
    wide[:, 3:] += 5.0
    _log(settings, {"x": wide}, T0)
    report = service.report("m")
    assert report["status"] == "alert"
    assert report["unmatched_features"] == {"live_only": ["x[3]", "x[4]"], "reference_only": []}
    assert [(f["feature"], f["status"]) for f in report["features"]] == [
        ("x[0]", "ok"),
        ("x[1]", "ok"),
        ("x[2]", "ok"),
    ]


def test_reference_features_without_live_values_are_reported(
    service: DriftService, registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    rng = np.random.default_rng(4)
    _register(registry, tmp_path, WIDE, rng.normal(size=(1000, 3)))
    _log(settings, {"x": rng.normal(size=(400, 2))}, T0)
    report = service.report("m")
    assert report["status"] == "alert"
    assert report["unmatched_features"] == {"live_only": [], "reference_only": ["x[2]"]}
    _log(settings, {"x": rng.normal(size=(100, 3))}, T0 + timedelta(hours=1))  # widths 2 and 3 now
    ragged = service.report("m")
    assert ragged["unmatched_features"] == {"live_only": [], "reference_only": ["x[0]", "x[1]", "x[2]"]}
    assert ragged["status"] == "alert"


def test_an_input_the_log_drops_is_not_unmatched(
    service: DriftService, registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    rng = np.random.default_rng(8)
    _register(registry, tmp_path, TABULAR, {"zip": rng.choice(ZIPS, 1000), "price": _prices(rng, 1000)})
    _log(settings, {"zip": rng.choice(ZIPS, 400)}, T0)  # redaction ``drop`` for price
    report = service.report("m")
    assert report["unmatched_features"] == {"live_only": [], "reference_only": []}
    assert [f["feature"] for f in report["features"]] == ["zip"] and report["status"] == "ok"


def test_a_version_deployed_after_logging_began_gets_prediction_drift(
    service: DriftService, registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    """Outputs were compared with the version's rows among the name's first logged rows: a later
    version has none there, and its outputs were left out without a word."""
    rng = np.random.default_rng(5)
    _register(registry, tmp_path, WIDE)
    _register(registry, tmp_path, WIDE)

    def traffic(version: int, rows: int, start: datetime, shift: float = 0.0) -> None:
        y = (rng.normal(size=rows) + shift).astype(np.float32)
        _log(settings, {"x": rng.normal(size=(rows, 3))}, start, version=version, y=y)

    traffic(1, 400, T0)  # the name's first 300 rows are version 1's
    traffic(2, 200, T0 + timedelta(days=1))
    early = service.report("m", window=200)
    assert (early["version"], early["status"], early["outputs"]) == (2, "ok", [])  # inputs are measured
    assert early["outputs_reason"] == (
        "version 2 of 'm' has 200 of the 300 logged rows its outputs are compared with: "
        "prediction drift is measured on its rows logged after them"
    )
    traffic(2, 100, T0 + timedelta(days=2))  # the same service reads on from where it stopped
    complete = service.report("m", window=200)
    assert complete["outputs"] == [] and complete["outputs_reason"] == (
        "no rows of version 2 of 'm' in this window were logged after its 300 reference rows"
    )
    traffic(2, 200, T0 + timedelta(days=3), shift=3.0)
    report = service.report("m", window=200)
    assert [(o["feature"], o["status"]) for o in report["outputs"]] == [("y", "alert")]
    assert "outputs_reason" not in report and report["status"] == "alert"
    assert (
        DriftService(registry, PayloadStore(settings.data_dir / "payloads"), settings.drift).report(
            "m", window=200
        )["outputs"]
        == report["outputs"]
    )  # a fresh service finds the same 300 rows


def test_the_cli_shows_what_could_not_be_compared(
    registry: Registry, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(7)
    _register(registry, tmp_path, WIDE, rng.normal(size=(1000, 3)))
    _log(settings, {"x": rng.normal(size=(100, 4))}, T0)
    monkeypatch.setenv("MODELPORT_HOME", str(tmp_path))
    monkeypatch.setenv("MODELPORT_DRIFT__REFERENCE_ROWS", "300")
    result = CliRunner().invoke(main, ["drift", "report", "m"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "not in the reference: x[3]" in result.output
    assert "outputs: version 1 of 'm' has 100 of the 300 logged rows" in result.output


def test_a_stored_reference_of_several_inputs_of_free_width_is_read_back(
    service: DriftService, registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    """A stored table is cast again when read (one stored before the cast), not reshaped: a free
    width is only allowed from ``{input name: array}``, and the stored table is the result."""
    signature = Signature((TensorSpec("a", Datatype.INT64, (-1,)), *WIDE.inputs), WIDE.outputs)
    rng = np.random.default_rng(9)
    _register(registry, tmp_path, signature, {"a": rng.integers(0, 3, 1000), "x": rng.normal(size=(1000, 2))})
    _log(settings, {"a": rng.integers(0, 3, 400), "x": rng.normal(size=(400, 2))}, T0)
    report = service.report("m")
    assert report["reference"] == {"source": "registration", "rows": 1000}
    assert [(f["feature"], f["status"]) for f in report["features"]] == [
        ("a", "ok"),
        ("x[0]", "ok"),
        ("x[1]", "ok"),
    ]


def test_html_and_png_reports_of_insufficient_data(
    registry: Registry, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--html`` and ``--png`` had no colour for ``insufficient_data``: a traceback, and no file."""
    _register(registry, tmp_path, WIDE)
    _log(settings, {"x": np.random.default_rng(10).normal(size=(100, 3))}, T0)
    monkeypatch.setenv("MODELPORT_HOME", str(tmp_path))
    monkeypatch.setenv("MODELPORT_DRIFT__REFERENCE_ROWS", "300")
    page, png = tmp_path / "drift.html", tmp_path / "drift.png"
    plots = ["--png", str(png)] if importlib.util.find_spec("matplotlib") else []
    result = CliRunner().invoke(main, ["drift", "report", "m", "--html", str(page), *plots])
    assert result.exit_code == 0, result.output
    html = page.read_text()
    assert "insufficient_data" in html and "100 of the 300 logged rows that stand in for it" in html
    assert "outputs: version 1 of &#x27;m&#x27; has 100 of the 300 logged rows" in html
    assert not plots or png.read_bytes()[:4] == b"\x89PNG"


def test_a_window_smaller_than_min_rows_says_why_it_has_no_verdict(
    service: DriftService, registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    rng = np.random.default_rng(5)
    _register(registry, tmp_path, WIDE, rng.normal(size=(1000, 3)))
    _log(settings, {"x": rng.normal(size=(40, 3))}, T0)  # drift.min_rows is 100
    report = service.report("m")
    assert report["status"] == "insufficient_data"
    assert report["reason"] == (
        "fewer than drift.min_rows (100) usable rows on a side of every feature: "
        "40 live rows, 1000 reference rows"
    )


def test_features_that_cannot_be_compared_are_alerts_in_the_gauges() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from modelport.monitoring.prometheus import DriftCollector

    report = {
        "status": "alert",
        "features": [],
        "outputs": [],
        "type_mismatches": [{"feature": "zip", "reference": "text", "live": "number"}],
        "unmatched_features": {"live_only": ["x[3]"], "reference_only": ["x[0]"]},
    }
    gauges = CollectorRegistry()
    gauges.register(DriftCollector(lambda: {"m": report}))
    text = generate_latest(gauges).decode()
    for feature in ("_model", "zip", "x[3]", "x[0]"):
        assert f'modelport_drift_status{{feature="{feature}",name="m"}} 2.0' in text
