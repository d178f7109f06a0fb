"""Reads the container image's Dockerfile and the Kubernetes manifests (deploy/kubernetes) for the tests
that check them (tests/unit/test_deploy.py, tests/api/test_deploy_probes.py)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
KUBERNETES = ROOT / "deploy" / "kubernetes"
SECRET_EXAMPLE = KUBERNETES / "secret.example.yaml"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    """Upper case, e.g. ``FROM``."""
    arguments: str
    """The rest of the instruction, continuation lines joined."""


def dockerfile() -> list[Instruction]:
    """The Dockerfile's instructions in order, comments left out and ``\\`` continuations joined."""
    instructions: list[Instruction] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).strip().partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def stages() -> list[list[Instruction]]:
    """The Dockerfile's build stages, each from its ``FROM`` on."""
    found: list[list[Instruction]] = []
    for instruction in dockerfile():
        if instruction.keyword == "FROM":
            found.append([])
        found[-1].append(instruction)
    return found


def env_pairs(arguments: str) -> dict[str, str]:
    """An ``ENV`` instruction's ``key=value`` pairs."""
    return dict(word.split("=", 1) for word in shlex.split(arguments))


def documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def manifests() -> dict[str, dict[str, Any]]:
    """What ``kubectl apply -k deploy/kubernetes`` applies, by kind (one object of each)."""
    kustomization = documents(KUBERNETES / "kustomization.yaml")[0]
    objects = [document for name in kustomization["resources"] for document in documents(KUBERNETES / name)]
    by_kind = {document["kind"]: document for document in objects}
    assert len(by_kind) == len(objects), "one object of each kind"
    return by_kind


def container() -> dict[str, Any]:
    """The Deployment's one container."""
    (only,) = manifests()["Deployment"]["spec"]["template"]["spec"]["containers"]
    return dict(only)


def secret_example() -> dict[str, str]:
    """The example Secret's keys and placeholder values."""
    return dict(documents(SECRET_EXAMPLE)[0]["stringData"])


def image_environment() -> dict[str, str]:
    """The ``ENV`` of the image's last stage."""
    env: dict[str, str] = {}
    for instruction in stages()[-1]:
        if instruction.keyword == "ENV":
            env.update(env_pairs(instruction.arguments))
    return env


def manifest_environment() -> dict[str, str]:
    """What the manifests set: the container's variables and the example Secret's keys (the container
    takes every key of the Secret as a variable)."""
    env = {variable["name"]: variable["value"] for variable in container()["env"]}
    return {**env, **secret_example()}


def server_environment() -> dict[str, str]:
    """The settings' environment of ``modelport serve`` in a pod: the image's ``MODELPORT_*``
    variables, and the manifests' over them."""
    image = {name: value for name, value in image_environment().items() if name.startswith("MODELPORT_")}
    return {**image, **manifest_environment()}
