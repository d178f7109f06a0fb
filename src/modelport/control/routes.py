"""Management API routes. Handlers are sync: FastAPI runs them in its thread pool, off the event loop."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from modelport.control.aliases import move_alias
from modelport.control.registration import RegistrationRequest
from modelport.core.errors import Forbidden, InvalidInput
from modelport.core.settings import Settings
from modelport.core.tensors import Signature
from modelport.monitoring.drift.reference import ReferenceData, read_reference_file
from modelport.registry.catalog import Registry
from modelport.registry.deletion import held_reasons, refuse_deletion
from modelport.registry.policy import VersionPolicy

if TYPE_CHECKING:
    from modelport.control.app import ControlServices

__all__ = ["build_router"]


class AliasBody(BaseModel):
    version: int = Field(ge=1, description="The version number the alias should point at.")


class PolicyBody(BaseModel):
    policy: str = Field(description="'latest', 'latest:N', 'all' or 'specific:1,4'.")


def build_router(settings: Settings, services: ControlServices) -> APIRouter:
    router = APIRouter()
    registry = services.registry

    @router.get("/status", summary="Server status: loaded versions, load failures, registry revision")
    def status() -> dict[str, Any]:
        return services.status()

    @router.get("/models", summary="Every model with its latest version and aliases")
    def list_models() -> list[dict[str, Any]]:
        return [model.to_dict() for model in registry.list_models()]

    @router.get("/models/{name}", summary="One model and its versions")
    def get_model(name: str) -> dict[str, Any]:
        model = registry.get_model(name).to_dict()
        model["versions"] = [v.to_dict() for v in registry.list_versions(name)]
        return model

    @router.get("/models/{name}/versions", summary="Every version of a model")
    def list_versions(name: str) -> list[dict[str, Any]]:
        return [v.to_dict() for v in registry.list_versions(name)]

    @router.get("/models/{name}/versions/{ref}", summary="One version, by number or alias")
    def get_version(name: str, ref: str) -> dict[str, Any]:
        return registry.resolve(name, ref).to_dict()

    @router.post("/models/{name}/versions", status_code=201, summary="Register a new version (upload)")
    def register(
        name: str,
        file: Annotated[UploadFile, File(description="The model artifact.")],
        framework: Annotated[str | None, Form()] = None,
        aliases: Annotated[list[str] | None, Form()] = None,
        tags: Annotated[str | None, Form(description="JSON object of string tags.")] = None,
        lineage: Annotated[str | None, Form(description="JSON object of string lineage fields.")] = None,
        signature: Annotated[str | None, Form(description="JSON signature; inferred when absent.")] = None,
        description: Annotated[str, Form()] = "",
        trusted: Annotated[bool, Form()] = False,
        reference: Annotated[
            UploadFile | None, File(description="Reference data: .parquet, .csv or .npy.")
        ] = None,
    ) -> dict[str, Any]:
        if trusted and not settings.auth.allow_untrusted_uploads:
            raise Forbidden(
                "this server does not accept code-running formats through its API; "
                "register the file locally with --trust, or start the server with "
                "MODELPORT_AUTH__ALLOW_UNTRUSTED_UPLOADS=true"
            )
        with tempfile.TemporaryDirectory(prefix="modelport-upload-") as tmp:
            artifact = _save_upload(file, Path(tmp))
            request = RegistrationRequest(
                name=name,
                artifact=artifact,
                framework=framework,
                signature=Signature.from_dict(_json_field("signature", signature)) if signature else None,
                aliases=tuple(aliases or ()),
                tags=_string_map("tags", tags),
                lineage=_string_map("lineage", lineage),
                description=description,
                trusted=trusted,
                reference_data=_load_reference(reference, Path(tmp)),
            )
            return services.registrar.register(request).to_dict()

    @router.put("/models/{name}/aliases/{alias}", summary="Point an alias at a version (create or move)")
    def set_alias(name: str, alias: str, body: AliasBody) -> dict[str, Any]:
        move_alias(registry, name, alias, body.version, actor="api")
        return registry.get_model(name).to_dict()

    @router.delete("/models/{name}/aliases/{alias}", summary="Remove an alias")
    def remove_alias(name: str, alias: str) -> dict[str, Any]:
        registry.remove_alias(name, alias)
        return registry.get_model(name).to_dict()

    @router.put("/models/{name}/policy", summary="Choose which versions of a model are served")
    def set_policy(name: str, body: PolicyBody) -> dict[str, Any]:
        registry.set_version_policy(name, VersionPolicy.parse(body.policy))
        return registry.get_model(name).to_dict()

    _add_serving_routes(router, registry)
    _add_deletion_routes(router, registry, services.status)
    return router


def _add_deletion_routes(router: APIRouter, registry: Registry, status: Callable[[], dict[str, Any]]) -> None:
    """Deletes, refused first while this server answers an alias with a version being deleted."""

    def refuse_held(what: str, name: str, numbers: set[int] | None) -> None:
        refuse_deletion(what, held_reasons(status().get("held_aliases", ()), name, numbers))

    @router.delete("/models/{name}/versions/{version}", summary="Delete a version (refused while in use)")
    def delete_version(name: str, version: Annotated[int, PathParam(ge=1)]) -> dict[str, Any]:
        refuse_held(f"version {version} of model {name!r}", name, {version})
        return registry.delete_version(name, version).to_dict()

    @router.delete("/models/{name}", summary="Delete a model and its versions (refused while in use)")
    def delete_model(name: str) -> dict[str, Any]:
        refuse_held(f"model {name!r}", name, None)
        return registry.delete_model(name).to_dict()

    @router.post("/gc", summary="Remove the stored files that no version references")
    def collect_garbage() -> dict[str, Any]:
        return registry.collect_garbage().to_dict()


def _add_serving_routes(router: APIRouter, registry: Registry) -> None:
    @router.get("/models/{name}/serving", summary="How the model is batched, queued and run")
    def get_serving(name: str) -> dict[str, Any]:
        return registry.get_model(name).serving.to_dict()

    @router.patch("/models/{name}/serving", summary="Change serving settings (only the fields given)")
    def update_serving(name: str, body: dict[str, Any]) -> dict[str, Any]:
        config = registry.get_model(name).serving.updated(body)
        registry.set_serving_config(name, config)
        return config.to_dict()


def _save_upload(upload: UploadFile, directory: Path) -> Path:
    """The uploaded file, copied under ``directory``. Its size is already bounded: the whole request
    body was counted against ``limits.max_body_bytes`` while it arrived (``control/body_limit.py``)."""
    suffix = Path(upload.filename or "").suffix.lower()
    if not suffix.isascii() or "/" in suffix or "\\" in suffix or len(suffix) > 16:
        raise InvalidInput("the uploaded file name has an unusable extension")
    target = directory / f"upload{suffix}"
    with target.open("wb") as out:
        shutil.copyfileobj(upload.file, out, length=1024 * 1024)
    return target


def _load_reference(upload: UploadFile | None, directory: Path) -> ReferenceData | None:
    if upload is None:
        return None
    folder = directory / "reference"  # apart from the artifact, which may share its extension
    folder.mkdir()
    return read_reference_file(_save_upload(upload, folder))


def _json_field(field: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise InvalidInput(f"form field {field!r} is not valid JSON") from None


def _string_map(field: str, text: str | None) -> dict[str, str]:
    if not text:
        return {}
    value = _json_field(field, text)
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidInput(f"form field {field!r} must be a JSON object of strings")
    return value
