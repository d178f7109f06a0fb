"""Endpoints in the data plane: weighted and sticky routing, served-by, shadows that never touch callers."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from types import MappingProxyType

import numpy as np
import pytest

from modelport.core import InferenceRequest, InvalidInput, NotFound, NotReady
from modelport.core.endpoints import EndpointConfig, RouteSpec, ShadowSpec
from modelport.core.serving_config import ServingConfig
from modelport.core.targets import Target
from modelport.monitoring.book import OutcomeBook
from modelport.serving.endpoints import build_endpoint
from modelport.serving.loaded import LoadedVersion
from modelport.serving.predictors import predictor_factory
from modelport.serving.service import SERVED_BY, InferenceService
from modelport.serving.shadow import ShadowRunner
from modelport.serving.table import RoutingTable
from tests.unit.serving.fakes import IN_PROCESS, SumModel, unused_payload_log

EXECUTOR = ThreadPoolExecutor(4)


class FailingModel(SumModel):
    def predict(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise InvalidInput("this shadow always refuses")


def loaded(name: str, number: int, model: SumModel) -> LoadedVersion:
    version = LoadedVersion(name, number, "fake", f"{name}{number}", model)
    version.predictor = predictor_factory(EXECUTOR)(version, ServingConfig())
    return version


def config(routes: dict[str, int], shadows: dict[str, float] | None = None) -> EndpointConfig:
    return EndpointConfig(
        tuple(RouteSpec(Target.parse(t), w) for t, w in routes.items()),
        tuple(ShadowSpec(Target.parse(t), p) for t, p in (shadows or {}).items()),
    )


def table_with(endpoint_config: EndpointConfig, versions: dict[str, LoadedVersion]) -> RoutingTable:
    endpoint = build_endpoint("ep", 1, endpoint_config, versions)
    return RoutingTable(endpoints=MappingProxyType({"ep": endpoint}))


def request() -> InferenceRequest:
    return InferenceRequest(inputs={"x": np.ones((2, 2), np.float32)})


def test_weights_split_traffic_within_statistical_bounds() -> None:
    versions = {"m:1": loaded("m", 1, SumModel()), "m@candidate": loaded("m", 2, SumModel())}
    endpoint = build_endpoint("ep", 1, config({"m:1": 90, "m@candidate": 10}), versions)
    counts = Counter(endpoint.choose().route for _ in range(20_000))
    # binomial(20000, 0.1): sd ≈ 42; six sd either way fails once in ~10^9 runs
    assert abs(counts["m@candidate"] - 2000) < 6 * 42


def test_a_routing_key_always_reaches_the_same_variant_and_keys_spread() -> None:
    versions = {"m:1": loaded("m", 1, SumModel()), "m:2": loaded("m", 2, SumModel())}
    endpoint = build_endpoint("ep", 1, config({"m:1": 50, "m:2": 50}), versions)
    for key in ("alice", "bob", "carol"):
        assert len({endpoint.choose(key).route for _ in range(50)}) == 1
    spread = Counter(endpoint.choose(f"user-{i}").route for i in range(2000))
    assert abs(spread["m:1"] - 1000) < 6 * 23


def test_a_route_that_is_not_loaded_keeps_the_endpoint_from_switching() -> None:
    with pytest.raises(NotReady):
        build_endpoint("ep", 1, config({"m:1": 1, "m:9": 1}), {"m:1": loaded("m", 1, SumModel())})


async def test_responses_name_the_version_that_answered() -> None:
    versions = {"m:1": loaded("m", 1, SumModel())}
    service = InferenceService(
        lambda: table_with(config({"m:1": 1}), versions), ShadowRunner(), OutcomeBook(), unused_payload_log()
    )
    response = await service.serve(IN_PROCESS, request(), "ep", None)
    assert response.model_name == "ep" and response.parameters[SERVED_BY] == "m:1"
    with pytest.raises(NotFound, match="endpoint"):
        await service.serve(IN_PROCESS, request(), "ep", "1")


async def test_shadows_never_change_delay_or_fail_the_callers_answer() -> None:
    slow = SumModel(offset=2000)
    slow.gate.clear()  # the slow shadow never finishes during the test
    versions = {
        "m:1": loaded("m", 1, SumModel(offset=0)),
        "m:2": loaded("m", 2, SumModel(offset=1000)),  # a sentinel: its answers are obviously different
        "m:3": loaded("m", 3, slow),
        "m:4": loaded("m", 4, FailingModel()),
    }
    shadows = ShadowRunner(seed=1)
    shadows.start()
    endpoint_config = config({"m:1": 1}, {"m:2": 100, "m:3": 100, "m:4": 100})
    service = InferenceService(
        lambda: table_with(endpoint_config, versions), shadows, OutcomeBook(), unused_payload_log()
    )
    for _ in range(20):
        response = await service.serve(IN_PROCESS, request(), "ep", None)
        np.testing.assert_array_equal(response.outputs["total"], [2.0, 2.0])  # the primary's, untouched
    for _ in range(100):
        if shadows.completed >= 20 and shadows.report("ep")["shadows"].get("m:4", {}).get("window", {}).get(
            "count"
        ):
            break
        await asyncio.sleep(0.01)
    report = shadows.report("ep")["shadows"]
    sentinel = report["m:2"]["window"]
    assert sentinel["count"] == 20 and sentinel["outputs"]["total"]["mean_abs_diff"] == pytest.approx(1000)
    assert report["m:4"]["window"]["shadow_errors"] == 20
    slow.gate.set()
    await shadows.stop()


async def test_shadow_work_over_its_bound_is_dropped_and_counted_instead_of_waiting() -> None:
    slow = SumModel()
    slow.gate.clear()
    versions = {"m:1": loaded("m", 1, SumModel()), "m:3": loaded("m", 3, slow)}
    shadows = ShadowRunner(per_target=2)
    shadows.start()
    service = InferenceService(
        lambda: table_with(config({"m:1": 1}, {"m:3": 100}), versions),
        shadows,
        OutcomeBook(),
        unused_payload_log(),
    )
    for _ in range(10):
        await service.serve(IN_PROCESS, request(), "ep", None)
    assert shadows.dropped >= 7
    slow.gate.set()
    await shadows.stop()
