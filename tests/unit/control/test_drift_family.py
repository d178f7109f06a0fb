"""A report judges its input features and outputs as one family (Holm's correction over all their
tests), through a real registry and payload-log segments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from modelport.control.drift import DriftService
from modelport.core.settings import DriftSettings, Settings
from modelport.core.tensors import Datatype, Signature, TensorSpec
from modelport.monitoring.drift.reference import reference_table
from modelport.monitoring.drift.report import compare_features
from modelport.monitoring.payloads.store import PayloadStore
from modelport.registry.catalog import Registry
from tests.payload_log import write_segment
from tests.unit.control.stub_versions import register_stub

SIGNATURE = Signature(
    (TensorSpec("x", Datatype.FP32, (-1, 3)),),
    (TensorSpec("y", Datatype.FP32, (-1, 30)),),
)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, drift=DriftSettings(reference_rows=200))


def test_inputs_and_outputs_are_one_family(registry: Registry, settings: Settings, tmp_path: Path) -> None:
    # Seed 12: x[1], shifted by 0.35 sd, has PSI 0.10 and KS p = 6.6e-4. Among the 9 tests of the
    # inputs alone that is a warning (Holm: below 0.01 / 9); among those 9 and the 90 of the 30
    # unchanged outputs it is not (above 0.01 / 99), and the report says so.
    rng = np.random.default_rng(12)
    reference = rng.normal(size=(1000, 3)).astype(np.float32)
    live = rng.normal(size=(300, 3)).astype(np.float32)
    live[:, 1] += 0.35
    register_stub(registry, tmp_path, SIGNATURE, reference_table(reference, SIGNATURE))
    for hour, x in enumerate([rng.normal(size=(200, 3)).astype(np.float32), live]):
        y = rng.normal(size=(len(x), 30)).astype(np.float32)
        write_segment(
            settings.data_dir,
            "m",
            model="m",
            version=1,
            inputs={"x": x},
            outputs={"y": y},
            start=T0 + timedelta(hours=hour),
        )
    alone = compare_features(
        {f"x[{i}]": reference[:, i] for i in range(3)},
        {f"x[{i}]": live[:, i] for i in range(3)},
        settings.drift,
    )
    assert [f["status"] for f in alone] == ["ok", "warning", "ok"]

    service = DriftService(registry, PayloadStore(settings.data_dir / "payloads"), settings.drift)
    report = service.report("m", window=300)
    assert len(report["outputs"]) == 30
    assert {f["feature"]: f["status"] for f in report["features"]} == {
        "x[0]": "ok",
        "x[1]": "ok",
        "x[2]": "ok",
    }
    assert report["status"] == "ok"
