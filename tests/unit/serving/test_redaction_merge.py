"""Which redaction applies to a logged row: the strictest rule per input among everyone concerned."""

from __future__ import annotations

from types import MappingProxyType

from modelport.core.endpoints import EndpointConfig, RouteSpec, ShadowSpec
from modelport.core.monitor_config import MonitorConfig, Redaction, strictest
from modelport.core.targets import Target
from modelport.serving.endpoints import build_endpoint
from modelport.serving.loaded import LoadedVersion, ModelRoutes
from modelport.serving.table import RoutingTable
from tests.unit.serving.fakes import SumModel
from tests.unit.serving.test_endpoints import loaded

DROP, HASH, KEEP = Redaction.DROP, Redaction.HASH, Redaction.KEEP


def test_drop_beats_hash_beats_keep() -> None:
    assert strictest([{"a": KEEP, "b": HASH}, {"a": HASH, "b": DROP}, {"b": KEEP, "c": KEEP}]) == {
        "a": HASH,
        "b": DROP,
    }


def routes(name: str, version: LoadedVersion) -> ModelRoutes:
    return ModelRoutes(name, MappingProxyType({1: version}), MappingProxyType({}))


def table(monitors: dict[str, MonitorConfig]) -> RoutingTable:
    m, n = loaded("m", 1, SumModel()), loaded("n", 1, SumModel())
    config = EndpointConfig((RouteSpec(Target.parse("m:1"), 1),), (ShadowSpec(Target.parse("n:1"), 100),))
    return RoutingTable(
        models=MappingProxyType({name: routes(name, v) for name, v in (("m", m), ("n", n))}),
        endpoints=MappingProxyType({"ep": build_endpoint("ep", 1, config, {"m:1": m, "n:1": n})}),
        monitors=MappingProxyType(monitors),
    )


def test_an_endpoint_row_keeps_its_models_and_shadows_rules() -> None:
    routing = table(
        {
            "ep": MonitorConfig(1.0, {"x": "keep", "y": "hash"}),
            "m": MonitorConfig(0.0, {"x": "drop"}),
            "n": MonitorConfig(0.0, {"y": "drop"}),
        }
    )
    config = routing.sampling("ep", "m")
    assert config is not None and config.sample_rate == 1.0
    assert dict(config.redact) == {"x": DROP, "y": DROP}


def test_a_direct_call_keeps_its_models_rules_and_an_endpoint_rate_of_zero_still_wins() -> None:
    routing = table({"m": MonitorConfig(1.0, {"x": "hash"}), "ep": MonitorConfig(0.0)})
    assert dict(routing.monitor("m", "m").redact) == {"x": HASH}  # type: ignore[union-attr]
    assert routing.sampling("ep", "m") is None
