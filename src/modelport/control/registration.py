"""Registering an artifact: detect its framework, enforce trust, test-load it in a child process, store it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from modelport.control.aliases import check_alias_can_move, move_alias
from modelport.core.errors import Forbidden, InvalidInput
from modelport.core.tensors import Signature
from modelport.monitoring.drift.reference import ReferenceData, reference_table
from modelport.registry.catalog import Registry
from modelport.registry.names import check_alias
from modelport.registry.records import ModelVersion
from modelport.runtimes import FRAMEWORKS, requires_trust
from modelport.runtimes.detect import detect_framework
from modelport.runtimes.probe import probe_artifact

__all__ = ["Registrar", "RegistrationRequest"]


@dataclass(frozen=True)
class RegistrationRequest:
    name: str
    artifact: Path
    framework: str | None = None
    signature: Signature | None = None
    sample_input: Mapping[str, np.ndarray] | None = None
    aliases: Sequence[str] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    lineage: Mapping[str, str] = field(default_factory=dict)
    trusted: bool = False
    reference_data: ReferenceData | None = None
    """A numpy array, ``{input name: array}`` or a table: see ``monitoring/drift/reference.py``."""


class Registrar:
    """The one way in to the registry for new versions, whoever asks (CLI, Python, management API)."""

    def __init__(self, registry: Registry, probe_timeout_s: float) -> None:
        self._registry = registry
        self._probe_timeout_s = probe_timeout_s

    def register(self, request: RegistrationRequest) -> ModelVersion:
        if not request.artifact.is_file():
            raise InvalidInput(f"no model file at {request.artifact.name!r}")
        framework = request.framework or detect_framework(request.artifact)
        if framework not in FRAMEWORKS:
            raise InvalidInput(f"unknown framework {framework!r}; expected one of {', '.join(FRAMEWORKS)}")
        if requires_trust(request.artifact) and not request.trusted:
            raise Forbidden(
                f"{request.artifact.name!r} is a pickle, which runs code when loaded; "
                "register it with --trust (trusted=True) only if you trust where it came from"
            )
        for alias in request.aliases:  # before anything is stored
            check_alias(alias)
            check_alias_can_move(self._registry, request.name, alias)
        signature = probe_artifact(
            request.artifact,
            framework,
            trusted=request.trusted,
            signature=request.signature,
            sample_input=dict(request.sample_input) if request.sample_input is not None else None,
            timeout_s=self._probe_timeout_s,
        )
        reference = request.reference_data
        if reference is not None:  # checked against the signature before anything is stored
            reference = reference_table(reference, signature)
        version = self._registry.register_version(
            request.name,
            artifact=request.artifact,
            filename="model" + request.artifact.suffix.lower(),
            framework=framework,
            signature=signature,
            description=request.description,
            tags=request.tags,
            lineage=request.lineage,
            trusted=request.trusted,
            reference_data=reference,
        )
        if not request.aliases:
            return version
        for alias in request.aliases:  # as `alias set` moves them: through the endpoints' policies
            move_alias(self._registry, request.name, alias, version.number, actor="register")
        return self._registry.get_version(request.name, version.number)
