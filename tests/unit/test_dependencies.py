"""What ``make run`` installs (``pip install -e '.[all]'``): no GPU libraries on a CPU machine (issue 10,
point 15). xgboost's own Linux wheel requires NVIDIA's NCCL; the default extras use xgboost-cpu and the
CUDA build is the opt-in ``xgboost-gpu`` extra."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
GPU_ONLY = {"xgboost"}
"""Distributions whose Linux/Windows wheels pull CUDA libraries (``nvidia-*``)."""

PLATFORMS = {
    "linux-x86_64": {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64"},
    "linux-aarch64": {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "aarch64"},
    "windows": {"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64"},
    "macos": {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64"},
}


def requirements(extra: str, platform: dict[str, str]) -> set[str]:
    """The names of the distributions ``modelport[extra]`` asks for on ``platform``, extras followed."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    extras: dict[str, list[str]] = project["optional-dependencies"]
    names: set[str] = set()
    todo, seen = [extra], set()
    while todo:
        current = todo.pop()
        seen.add(current)
        for line in extras[current]:
            requirement = Requirement(line)
            if requirement.marker and not requirement.marker.evaluate({**platform, "extra": current}):
                continue
            if requirement.name == "modelport":
                todo.extend(sorted(requirement.extras - seen))
            else:
                names.add(requirement.name)
    names.update(Requirement(line).name for line in project["dependencies"])
    return names


@pytest.mark.parametrize("extra", ["all", "test", "xgboost"])
@pytest.mark.parametrize("platform", PLATFORMS.values(), ids=PLATFORMS.keys())
def test_the_default_extras_pull_no_gpu_build(extra: str, platform: dict[str, str]) -> None:
    names = requirements(extra, platform)
    assert not {name for name in names if name.startswith("nvidia-")}
    if platform["sys_platform"] != "darwin":  # macOS's xgboost wheel has no CUDA, and there is no -cpu one
        assert "xgboost-cpu" in names
        assert not names & GPU_ONLY, names & GPU_ONLY
    else:
        assert "xgboost" in names


def test_the_gpu_build_is_opt_in() -> None:
    assert "xgboost" in requirements("xgboost-gpu", PLATFORMS["linux-x86_64"])
