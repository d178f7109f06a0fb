"""Drift reports from a real registry and payload-log segments in the contract's layout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry, generate_latest

from modelport.cli import main
from modelport.control.drift import DriftService
from modelport.control.drift_monitor import DriftMonitor
from modelport.core.endpoints import EndpointConfig, RouteSpec
from modelport.core.errors import InvalidInput, NotFound
from modelport.core.settings import DriftSettings, Settings
from modelport.core.targets import Target
from modelport.core.tensors import Datatype, Signature, TensorSpec
from modelport.monitoring.drift.reference import reference_table
from modelport.monitoring.prometheus import DriftCollector
from modelport.registry.catalog import Registry
from tests.payload_log import write_segment
from tests.unit.control.stub_versions import register_stub

SIGNATURE = Signature(
    (TensorSpec("x", Datatype.FP32, (-1, 3)),),
    (TensorSpec("y", Datatype.FP32, (-1,)),),
)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, drift=DriftSettings(reference_rows=500))


def _register(registry: Registry, tmp_path: Path, reference: object = None, legacy: bool = False) -> None:
    """``legacy``: keep the array as it is (``.npy``), the way versions registered before tables were."""
    data = reference if legacy or reference is None else reference_table(reference, SIGNATURE)
    register_stub(registry, tmp_path, SIGNATURE, data)


def _rows(seed: int, rows: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3)).astype(np.float32)
    x[:, 1] += shift
    return x, (x.sum(axis=1) > 0).astype(np.float32)


def _log(settings: Settings, name: str, x: np.ndarray, y: np.ndarray, start: datetime, **kw: object) -> None:  # type: ignore[type-arg]
    kw.setdefault("model", "m")
    kw.setdefault("version", 1)
    write_segment(settings.data_dir, name, inputs={"x": x}, outputs={"y": y}, start=start, **kw)  # type: ignore[arg-type]


def test_shifted_feature_against_the_registration_reference(
    service: DriftService, registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    _register(registry, tmp_path, reference=_rows(0, 2000)[0])
    _log(settings, "m", *_rows(1, 600), start=T0)
    _log(settings, "m", *_rows(2, 400, shift=1.5), start=T0 + timedelta(hours=1))
    report = service.report("m", window=400)
    assert (report["name"], report["model"], report["version"], report["window"]) == ("m", "m", 1, 400)
    assert report["live_rows"] == 400
    assert report["reference"] == {"source": "registration", "rows": 2000}
    status = {f["feature"]: f["status"] for f in report["features"]}
    assert status == {"x[0]": "ok", "x[1]": "alert", "x[2]": "ok"}
    assert report["status"] == "alert"
    assert [o["feature"] for o in report["outputs"]] == ["y"]
    assert report["outputs"][0]["kind"] == "numeric"  # float outputs, though they hold 0 and 1
    datetime.fromisoformat(report["computed_at"])


def test_without_reference_data_the_first_logged_rows_are_the_reference(
    service: DriftService, registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    _register(registry, tmp_path)
    _log(settings, "m", *_rows(1, 500), start=T0)
    _log(settings, "m", *_rows(2, 300), start=T0 + timedelta(hours=1))
    quiet = service.report("m", window=300)
    assert quiet["reference"] == {"source": "logged", "rows": 500}
    assert quiet["status"] == "ok"
    _log(settings, "m", *_rows(3, 300, shift=2.0), start=T0 + timedelta(hours=2))
    loud = service.report("m", window=300)
    assert loud["status"] == "alert"
    assert loud["reference"] == {"source": "logged", "rows": 500}


def test_an_endpoint_resolves_to_the_version_it_served_most(
    service: DriftService, registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    _register(registry, tmp_path)
    _register(registry, tmp_path, reference=_rows(0, 1000)[0])
    registry.create_endpoint("front", EndpointConfig((RouteSpec(Target("m", "2"), 1),)))
    _log(settings, "front", *_rows(1, 100), start=T0, endpoint="front", version=1)
    _log(settings, "front", *_rows(2, 300), start=T0 + timedelta(hours=1), endpoint="front", version=2)
    report = service.report("front")
    assert (report["name"], report["model"], report["version"]) == ("front", "m", 2)
    assert report["reference"]["source"] == "registration"
    assert report["live_rows"] == 400


def test_without_version_columns_a_model_resolves_to_its_production_alias(
    service: DriftService, registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    _register(registry, tmp_path)
    _register(registry, tmp_path)
    registry.set_alias("m", "production", 1)
    _log(settings, "m", *_rows(1, 50), start=T0, model=None, version=None)
    assert (service.report("m")["model"], service.report("m")["version"]) == ("m", 1)
    registry.remove_alias("m", "production")
    assert service.report("m")["version"] == 2


def test_an_array_reference_from_before_tables_still_works(
    service: DriftService, registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    _register(registry, tmp_path, reference=_rows(0, 800)[0], legacy=True)
    _log(settings, "m", *_rows(1, 200), start=T0)
    assert service.report("m")["reference"] == {"source": "registration", "rows": 800}


def test_an_array_reference_that_does_not_fit_falls_back_to_logged_rows(
    service: DriftService, registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    _register(registry, tmp_path, reference=np.ones(10, dtype=np.float32), legacy=True)  # x is [-1, 3]
    _log(settings, "m", *_rows(1, 500), start=T0)
    _log(settings, "m", *_rows(2, 200), start=T0 + timedelta(hours=1))
    assert service.report("m")["reference"] == {"source": "logged", "rows": 500}


def test_unknown_names_and_empty_logs(service: DriftService, registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no model or endpoint is called 'nope'"):
        service.report("nope")
    _register(registry, tmp_path)
    with pytest.raises(NotFound, match="modelport monitor set m --sample-rate"):
        service.report("m")
    with pytest.raises(InvalidInput, match="window"):
        service.report("m", window=0)


def test_logged_names(service: DriftService, settings: Settings) -> None:
    assert service.logged_names() == []
    _log(settings, "b", *_rows(1, 5), start=T0)
    _log(settings, "a", *_rows(1, 5), start=T0)
    (settings.data_dir / "payloads" / "empty").mkdir()
    assert service.logged_names() == ["a", "b"]


def test_monitor_refresh_feeds_the_prometheus_gauges(
    service: DriftService, registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    _register(registry, tmp_path, reference=_rows(0, 1000)[0])
    _log(settings, "m", *_rows(1, 500), start=T0 - timedelta(hours=1))  # the outputs' reference
    _log(settings, "m", *_rows(2, 300, shift=2.0), start=T0)
    _log(settings, "gone", *_rows(1, 10), start=T0)  # a log whose model no longer exists
    monitor = DriftMonitor(service, interval_s=30)
    assert monitor.reports == {}
    monitor.refresh()
    assert list(monitor.reports) == ["m"]
    registry_ = CollectorRegistry(auto_describe=False)
    registry_.register(DriftCollector(lambda: monitor.reports))
    text = generate_latest(registry_).decode()
    assert 'modelport_drift_status{feature="_model",name="m"} 2.0' in text
    assert 'modelport_drift_status{feature="x[0]",name="m"} 0.0' in text
    assert 'modelport_drift_status{feature="output.y",name="m"}' in text
    assert 'modelport_drift_score{feature="x[1]",name="m",statistic="ks_pvalue"}' in text


def test_an_unreadable_log_does_not_hide_the_others(
    service: DriftService, registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    _register(registry, tmp_path)
    _log(settings, "m", *_rows(1, 50), start=T0)
    broken = settings.data_dir / "payloads" / "broken"
    broken.mkdir()
    (broken / "rows-0.parquet").write_bytes(b"not parquet")
    monitor = DriftMonitor(service, interval_s=30)
    monitor.refresh()
    assert list(monitor.reports) == ["m"]


def test_without_an_independent_reference_the_status_is_insufficient_data(
    service: DriftService, registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    """The live window is never compared with itself (it once was: PSI 0, ``ok``)."""
    _register(registry, tmp_path)
    _log(settings, "m", *_rows(1, 300, shift=2.0), start=T0)
    early = service.report("m", window=300)
    assert (early["status"], early["features"], early["outputs"]) == ("insufficient_data", [], [])
    assert "300 of the 500 logged rows" in early["reason"]
    assert early["reference"] == {"source": "logged", "rows": 0} and early["live_rows"] == 0
    _log(settings, "m", *_rows(2, 200), start=T0 + timedelta(hours=1))  # the reference is complete now
    complete = service.report("m", window=300)
    assert complete["status"] == "insufficient_data" and "after its 500 reference rows" in complete["reason"]
    _log(settings, "m", *_rows(3, 100), start=T0 + timedelta(hours=2))
    measured = service.report("m", window=300)
    assert measured["live_rows"] == 100  # only the rows after the reference, though the window is 300
    assert measured["reference"] == {"source": "logged", "rows": 500} and "reason" not in measured
    registry_ = CollectorRegistry(auto_describe=False)
    registry_.register(DriftCollector(lambda: {"m": early}))
    assert 'modelport_drift_status{feature="_model",name="m"} -1.0' in generate_latest(registry_).decode()


def test_with_a_registered_reference_outputs_wait_for_their_logged_one(
    service: DriftService, registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    _register(registry, tmp_path, reference=_rows(0, 1000)[0])
    _log(settings, "m", *_rows(1, 300, shift=2.0), start=T0)
    report = service.report("m", window=300)
    assert report["status"] == "alert" and report["outputs"] == []  # inputs measured, outputs not yet
    assert report["reference"] == {"source": "registration", "rows": 1000}


def test_the_cli_report_says_why_there_is_no_status(
    registry: Registry, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register(registry, tmp_path)
    _log(settings, "m", *_rows(1, 300), start=T0)
    monkeypatch.setenv("MODELPORT_HOME", str(tmp_path))
    monkeypatch.setenv("MODELPORT_DRIFT__REFERENCE_ROWS", "500")
    result = CliRunner().invoke(main, ["drift", "report", "m"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "insufficient_data" in result.output and "300 of the 500 logged rows" in result.output
