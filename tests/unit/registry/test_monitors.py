"""Monitor configs in the registry: checked against the name's inputs, stored in one write, snapshotted."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from modelport.core import Datatype, InvalidInput, NotFound, Signature, TensorSpec
from modelport.core.endpoints import EndpointConfig, RouteSpec
from modelport.core.monitor_config import MonitorConfig, Redaction
from modelport.core.targets import Target
from modelport.registry import ModelVersion, Registry

Register = Callable[..., ModelVersion]
WIDE = Signature(
    inputs=(TensorSpec("x", Datatype.FP32, (-1, 4)), TensorSpec("email", Datatype.BYTES, (-1,))),
    outputs=(TensorSpec("y", Datatype.INT64, (-1,)),),
)


def test_set_get_list_and_snapshot(registry: Registry, register: Register) -> None:
    register("iris")
    assert registry.get_monitor_config("iris").to_dict()["configured"] is False
    before = registry.revision()
    stored = registry.set_monitor_config("iris", MonitorConfig(0.25, {"x": "hash"}), actor="alice")
    assert registry.revision() == before + 1
    assert stored.config == MonitorConfig(0.25, {"x": Redaction.HASH}) and stored.actor == "alice"
    assert registry.get_monitor_config("iris") == stored
    assert [m.name for m in registry.list_monitor_configs()] == ["iris"]
    assert registry.snapshot().monitors == {"iris": stored.config}


def test_redaction_may_name_an_input_of_any_version(registry: Registry, register: Register) -> None:
    register("iris")
    register("iris", signature=WIDE)
    registry.set_monitor_config("iris", MonitorConfig(1.0, {"email": "drop", "x": "keep"}))


def test_an_unknown_input_is_refused_naming_the_known_ones_and_nothing_changes(
    registry: Registry, register: Register
) -> None:
    register("iris", signature=WIDE)
    registry.set_monitor_config("iris", MonitorConfig(0.5))
    before = registry.revision()
    with pytest.raises(InvalidInput, match="no input 'ssn' to redact; its inputs are: email, x"):
        registry.set_monitor_config("iris", MonitorConfig(1.0, {"ssn": "drop"}))
    assert registry.revision() == before
    assert registry.get_monitor_config("iris").config == MonitorConfig(0.5)


def test_unknown_names_are_not_found(registry: Registry) -> None:
    with pytest.raises(NotFound, match="no model or endpoint is named 'ghost'"):
        registry.set_monitor_config("ghost", MonitorConfig(1.0))
    with pytest.raises(NotFound):
        registry.get_monitor_config("ghost")


def test_an_endpoint_is_checked_against_its_targets_and_loses_its_config_when_deleted(
    registry: Registry, register: Register
) -> None:
    register("iris", signature=WIDE)
    registry.create_endpoint("flowers", EndpointConfig((RouteSpec(Target.parse("iris:1"), 1),)))
    with pytest.raises(InvalidInput, match="its inputs are: email, x"):
        registry.set_monitor_config("flowers", MonitorConfig(1.0, {"X": "drop"}))
    registry.set_monitor_config("flowers", MonitorConfig(1.0, {"email": "hash"}))
    registry.delete_endpoint("flowers")
    assert registry.list_monitor_configs() == []


@pytest.mark.parametrize(
    ("rate", "redact", "message"),
    [
        (1.5, {}, "between 0 and 1"),
        (-0.1, {}, "between 0 and 1"),
        (float("nan"), {}, "a number between 0 and 1"),
        (True, {}, "a number between 0 and 1"),
        (1.0, {"x": "blur"}, "must be one of drop, hash, keep"),
    ],
)
def test_a_config_checks_its_own_shape(rate: float, redact: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        MonitorConfig(rate, redact)  # type: ignore[arg-type]
