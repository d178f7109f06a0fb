"""Small fakes that implement the real protocols (runtime model, registry reader, loader)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from modelport.core import Datatype, InferenceRequest, InferenceResponse, InvalidInput, Signature, TensorSpec
from modelport.core.serving_config import ServingConfig
from modelport.core.settings import PayloadSettings
from modelport.monitoring.payloads import PayloadLog
from modelport.registry.policy import VersionPolicy
from modelport.registry.records import ModelSnapshot, ModelSummary, ModelVersion, RegistrySnapshot
from modelport.serving.loaded import LoadedVersion
from modelport.serving.service import FrontEnd

SUM_SIGNATURE = Signature(
    inputs=(TensorSpec("x", Datatype.FP32, (-1, 2)),), outputs=(TensorSpec("total", Datatype.FP32, (-1,)),)
)


class SumModel:
    """Adds each row; optionally blocks until released, to hold a request in flight."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset
        self.closed = False
        self.gate = threading.Event()
        self.gate.set()

    @property
    def signature(self) -> Signature:
        return SUM_SIGNATURE

    def predict(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.closed:
            raise RuntimeError("predict after close")
        self.gate.wait(5)
        x = inputs["x"]
        if np.isnan(x).any():
            raise InvalidInput("x has NaN")
        return {"total": x.sum(axis=1).astype(np.float32) + np.float32(self.offset)}

    def close(self) -> None:
        self.closed = True


def version(
    model: str, number: int, digest: str | None = None, aliases: tuple[str, ...] = ()
) -> ModelVersion:
    return ModelVersion(
        model=model,
        number=number,
        framework="fake",
        digest=digest or f"{model}-{number}",
        filename="m",
        size=1,
        signature=SUM_SIGNATURE,
        description="",
        tags={},
        lineage={},
        trusted=False,
        reference_digest=None,
        created_at=datetime.now(UTC),
        aliases=aliases,
    )


def model_snapshot(
    name: str,
    numbers: list[int],
    aliases: dict[str, int],
    policy: str = "latest",
    serving: ServingConfig | None = None,
) -> ModelSnapshot:
    now = datetime.now(UTC)
    summary = ModelSummary(
        serving=serving or ServingConfig(),
        name=name,
        description="",
        latest_version=max(numbers),
        version_count=len(numbers),
        aliases=aliases,
        policy=VersionPolicy.parse(policy),
        created_at=now,
        updated_at=now,
    )
    return ModelSnapshot(summary=summary, versions=tuple(version(name, n) for n in numbers))


class FakeRegistry:
    def __init__(self) -> None:
        self.current = RegistrySnapshot(revision=0, models={})

    def publish(self, *models: ModelSnapshot) -> None:
        self.current = RegistrySnapshot(
            revision=self.current.revision + 1, models={m.name: m for m in models}
        )

    def revision(self) -> int:
        return self.current.revision

    def snapshot(self) -> RegistrySnapshot:
        return self.current


class FakeLoader:
    def __init__(self) -> None:
        self.models: dict[tuple[str, int], SumModel] = {}
        self.broken: set[tuple[str, int]] = set()

    def load(self, registered: ModelVersion) -> LoadedVersion:
        key = (registered.model, registered.number)
        if key in self.broken:
            raise InvalidInput("the file is not a model")
        model = self.models[key] = SumModel(offset=registered.number)
        return LoadedVersion(registered.model, registered.number, "fake", registered.digest, model)


def unused_payload_log() -> PayloadLog:
    """A payload log for services whose tests configure no monitoring: it is never started or written."""
    return PayloadLog(Path("unused-payloads"), PayloadSettings())


async def _as_is(request: InferenceRequest) -> InferenceRequest:
    return request


IN_PROCESS: FrontEnd[InferenceRequest, InferenceResponse] = FrontEnd(
    "in-process", _as_is, lambda response, _: response, lambda _: {}
)
"""A front-end whose wire is the decoded request and whose answer the response: ``serve`` with no
protocol around it."""
