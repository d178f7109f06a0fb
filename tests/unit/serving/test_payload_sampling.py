"""The request path's part of the payload log: which config applies, and what is offered."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import numpy as np

from modelport.core import InferenceRequest
from modelport.core.endpoints import EndpointConfig, RouteSpec
from modelport.core.monitor_config import MonitorConfig
from modelport.core.settings import PayloadSettings
from modelport.core.targets import Target
from modelport.monitoring.book import OutcomeBook
from modelport.monitoring.payloads import PayloadLog, PayloadStore
from modelport.serving.endpoints import build_endpoint
from modelport.serving.loaded import ModelRoutes
from modelport.serving.service import InferenceService
from modelport.serving.shadow import ShadowRunner
from modelport.serving.table import RoutingTable
from tests.unit.serving.fakes import IN_PROCESS, SumModel
from tests.unit.serving.test_endpoints import loaded

ON, OFF = MonitorConfig(1.0), MonitorConfig(0.0)


def table(monitors: dict[str, MonitorConfig]) -> RoutingTable:
    version = loaded("m", 1, SumModel())
    routes = ModelRoutes("m", MappingProxyType({1: version}), MappingProxyType({}))
    endpoint = build_endpoint("ep", 1, EndpointConfig((RouteSpec(Target.parse("m:1"), 1),)), {"m:1": version})
    return RoutingTable(
        models=MappingProxyType({"m": routes}),
        endpoints=MappingProxyType({"ep": endpoint}),
        monitors=MappingProxyType(monitors),
    )


def test_the_called_names_config_comes_first_else_the_models() -> None:
    assert table({"ep": OFF, "m": ON}).monitor("ep", "m") is OFF
    assert table({"m": ON}).monitor("ep", "m") is ON
    assert table({"ep": ON}).monitor("m", "m") is None
    assert table({}).monitors == {} and not table({}).monitors


async def logged(tmp_path: Path, monitors: dict[str, MonitorConfig], name: str) -> PayloadStore:
    log = PayloadLog(tmp_path, PayloadSettings())
    service = InferenceService(lambda: table(monitors), ShadowRunner(), OutcomeBook(), log)
    x = np.array([[1, 2], [3, 4]], np.float32)
    response = await service.serve(IN_PROCESS, InferenceRequest(inputs={"x": x}, id="abc"), name, None)
    assert response.outputs["total"].tolist() == [3, 7]
    log.step(final=True)
    return PayloadStore(tmp_path)


async def test_a_sampled_request_is_logged_under_the_called_name(tmp_path: Path) -> None:
    store = await logged(tmp_path, {"m": ON}, "ep")
    rows = store.read("ep").to_pylist()
    assert [(r["name"], r["endpoint"], r["model"], r["version"], r["row"]) for r in rows] == [
        ("ep", "ep", "m", 1, 0),
        ("ep", "ep", "m", 1, 1),
    ]
    assert rows[1]["input.x"] == [3, 4] and rows[1]["output.total"] == 7
    assert rows[0]["request_id"] == "abc"


async def test_nothing_is_logged_when_sampling_is_off_or_unset(tmp_path: Path) -> None:
    for monitors in ({"ep": OFF, "m": ON}, {}):
        store = await logged(tmp_path, monitors, "ep")
        assert store.names() == []
