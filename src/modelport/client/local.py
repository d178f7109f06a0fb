"""The CLI's local back-end: the registry in a data directory, with no server."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from modelport.client import Json
from modelport.core.targets import Target

if TYPE_CHECKING:  # the rest is imported where it is used: every CLI command starts faster
    from modelport.control.registration import RegistrationRequest
    from modelport.core.settings import Settings
    from modelport.registry.catalog import Registry

__all__ = ["LocalCatalog"]


class LocalCatalog:
    """The registry in a data directory; ``infer`` loads the model in this process."""

    def __init__(self, settings: Settings, registry: Registry) -> None:
        self._settings = settings
        self._registry = registry

    def list_models(self) -> list[Json]:
        return [m.to_dict() for m in self._registry.list_models()]

    def list_versions(self, name: str) -> list[Json]:
        return [v.to_dict() for v in self._registry.list_versions(name)]

    def register(self, request: RegistrationRequest) -> Json:
        from modelport.control.registration import Registrar

        return Registrar(self._registry, self._settings.serving.probe_timeout_s).register(request).to_dict()

    def set_alias(self, name: str, alias: str, version: int) -> Json:
        from modelport.control.aliases import move_alias

        move_alias(self._registry, name, alias, version, actor="cli")
        return self._registry.get_model(name).to_dict()

    def remove_alias(self, name: str, alias: str) -> Json:
        self._registry.remove_alias(name, alias)
        return self._registry.get_model(name).to_dict()

    def delete_version(self, name: str, version: int) -> Json:
        return self._registry.delete_version(name, version).to_dict()

    def delete_model(self, name: str) -> Json:
        return self._registry.delete_model(name).to_dict()

    def collect_garbage(self) -> Json:
        return self._registry.collect_garbage().to_dict()

    def set_policy(self, name: str, policy: str) -> Json:
        from modelport.registry.policy import VersionPolicy

        self._registry.set_version_policy(name, VersionPolicy.parse(policy))
        return self._registry.get_model(name).to_dict()

    def get_serving(self, name: str) -> Json:
        return self._registry.get_model(name).serving.to_dict()

    def update_serving(self, name: str, changes: Json) -> Json:
        config = self._registry.get_model(name).serving.updated(changes)
        self._registry.set_serving_config(name, config)
        return config.to_dict()

    def metadata(self, target: Target) -> Json:
        version = self._registry.resolve_target(target)
        return {"name": version.model, "versions": [str(version.number)], **version.signature.to_dict()}

    def infer(self, target: Target, request: Json) -> Json:
        from modelport.core.inference import InferenceResponse
        from modelport.serving.loader import VersionLoader
        from modelport.serving.oip_codec import decode_infer_document, encode_infer_response
        from modelport.serving.validation import validate_request

        version = self._registry.resolve_target(target)
        loader = VersionLoader(
            self._registry.artifact_copy,
            threads=1,
            max_tensor_bytes=self._settings.limits.max_tensor_bytes,
            isolated_call_timeout_s=self._settings.serving.isolated_call_timeout_s,
        )
        loaded = loader.load(version)
        try:
            decoded = decode_infer_document(request, self._settings.limits)  # the server's JSON decoder
            validate_request(decoded, loaded.signature, loaded.target)
            outputs = loaded.runtime_model.predict(decoded.inputs)
        finally:
            loaded.runtime_model.close()
        response = InferenceResponse(version.model, str(version.number), outputs, id=decoded.id)
        body, _ = encode_infer_response(response, decoded)
        result: Json = orjson.loads(body)
        return result
