from __future__ import annotations

from collections.abc import Callable

import pytest

from modelport.core import InvalidInput
from modelport.registry import Registry, VersionPolicy, live_versions
from modelport.registry.policy import refuse_missing_versions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("latest", VersionPolicy.latest(1)),
        ("latest:3", VersionPolicy.latest(3)),
        (" all ", VersionPolicy.all()),
        ("specific:4,1", VersionPolicy.specific([1, 4])),
        ("specific:2", VersionPolicy("specific", versions=(2,))),
    ],
)
def test_parse(text: str, expected: VersionPolicy) -> None:
    policy = VersionPolicy.parse(text)
    assert policy == expected
    assert VersionPolicy.parse(str(policy)) == policy
    assert VersionPolicy.from_dict(policy.to_dict()) == policy


@pytest.mark.parametrize(
    "text",
    [
        "",
        "newest",
        "latest:0",
        "latest:-1",
        "latest:x",
        "all:2",
        "specific",
        "specific:",
        "specific:1,a",
        "specific:0",
        "latest:1:2",
    ],
)
def test_parse_rejects_garbage(text: str) -> None:
    with pytest.raises(InvalidInput, match="version policy"):
        VersionPolicy.parse(text)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"kind": "best"},
        {"kind": "latest", "n": 0},
        {"kind": "latest", "n": True},
        {"kind": "specific"},
        {"kind": "specific", "versions": ["1"]},
        [],
    ],
)
def test_from_dict_rejects_garbage(data: object) -> None:
    with pytest.raises(InvalidInput):
        VersionPolicy.from_dict(data)  # type: ignore[arg-type]


def test_default_is_latest_one() -> None:
    assert VersionPolicy() == VersionPolicy.latest()
    assert VersionPolicy().to_dict() == {"kind": "latest", "n": 1}


def test_live_versions() -> None:
    versions = [1, 2, 3, 4, 5]
    assert live_versions(versions, {}, VersionPolicy()) == {5}
    assert live_versions(versions, {"prod": 2}, VersionPolicy()) == {2, 5}
    assert live_versions(versions, {"a": 1, "b": 1}, VersionPolicy.latest(2)) == {1, 4, 5}
    assert live_versions(versions, {}, VersionPolicy.latest(10)) == set(versions)
    assert live_versions(versions, {"x": 3}, VersionPolicy.all()) == set(versions)
    assert live_versions(versions, {"x": 5}, VersionPolicy.specific([1, 9])) == {1, 5}
    assert live_versions([], {}, VersionPolicy()) == frozenset()
    assert live_versions([1, 2], {"gone": 7}, VersionPolicy()) == {2}


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("specific:99", r"model 'm' has no version 99 \(its versions: 1, 2\)"),
        ("specific:2,7,9", r"has no version 7, 9 \(its versions: 1, 2\)"),
    ],
)
def test_a_specific_policy_must_name_existing_versions(
    registry: Registry, register: Callable[..., object], policy: str, message: str
) -> None:
    register("m")
    register("m")
    revision = registry.revision()
    with pytest.raises(InvalidInput, match=message):
        registry.set_version_policy("m", VersionPolicy.parse(policy))
    assert registry.get_model("m").policy == VersionPolicy()
    assert registry.revision() == revision
    registry.set_version_policy("m", VersionPolicy.parse("specific:2,1"))
    assert registry.get_model("m").policy == VersionPolicy.specific([1, 2])


def test_latest_and_all_need_no_existing_numbers() -> None:
    for policy in (VersionPolicy.latest(9), VersionPolicy.all()):
        refuse_missing_versions("m", policy, [])
    with pytest.raises(InvalidInput, match=r"no version 1 \(its versions: none\)"):
        refuse_missing_versions("m", VersionPolicy.specific([1]), [])
