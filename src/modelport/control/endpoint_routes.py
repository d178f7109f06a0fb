"""Management API routes for endpoints: routing, shadows, promotion, rollback, history, shadow report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header
from pydantic import BaseModel, Field

from modelport.control.endpoints import EndpointChanges
from modelport.core.endpoints import EndpointConfig, RouteSpec, ShadowSpec
from modelport.core.targets import Target
from modelport.registry.catalog import Registry

__all__ = ["build_endpoint_router"]

Actor = Annotated[str, Header(alias="x-modelport-actor", description="Who makes the change (history).")]


class RouteBody(BaseModel):
    target: str = Field(description="MODEL:VERSION or MODEL@ALIAS")
    weight: int = Field(ge=0)


class ShadowBody(BaseModel):
    target: str = Field(description="MODEL:VERSION or MODEL@ALIAS")
    percent: float = Field(ge=0, le=100)
    expected_revision: int | None = None
    force: bool = False


class CreateBody(BaseModel):
    name: str
    routes: list[RouteBody]
    shadows: list[ShadowBody] = []
    description: str = ""
    force: bool = Field(False, description="Accept variants whose signatures differ.")


class RoutesBody(BaseModel):
    routes: list[RouteBody]
    expected_revision: int | None = Field(None, description="Refuse the change if the endpoint moved on.")
    force: bool = False


class TargetBody(BaseModel):
    target: str
    expected_revision: int | None = None


class RevisionBody(BaseModel):
    expected_revision: int | None = None


def _routes(routes: list[RouteBody]) -> list[RouteSpec]:
    return [RouteSpec(Target.parse(r.target), r.weight) for r in routes]


def build_endpoint_router(registry: Registry, shadow_report: Callable[[str], dict[str, Any]]) -> APIRouter:
    router = APIRouter()

    def changes(actor: str) -> EndpointChanges:
        return EndpointChanges(registry, actor or "api")

    @router.get("/endpoints", summary="Every endpoint with its routes and shadows")
    def list_endpoints() -> list[dict[str, Any]]:
        return [e.to_dict() for e in registry.list_endpoints()]

    @router.post("/endpoints", status_code=201, summary="Create an endpoint")
    def create(body: CreateBody, actor: Actor = "") -> dict[str, Any]:
        shadows = tuple(ShadowSpec(Target.parse(s.target), s.percent) for s in body.shadows)
        config = EndpointConfig(tuple(_routes(body.routes)), shadows)
        return (
            changes(actor).create(body.name, config, description=body.description, force=body.force).to_dict()
        )

    @router.get("/endpoints/{name}", summary="One endpoint")
    def get(name: str) -> dict[str, Any]:
        return registry.get_endpoint(name).to_dict()

    @router.delete("/endpoints/{name}", summary="Delete an endpoint")
    def delete(name: str) -> dict[str, Any]:
        registry.delete_endpoint(name)
        return {"deleted": name}

    @router.put("/endpoints/{name}/routes", summary="Set the routes and weights in one change")
    def set_routes(name: str, body: RoutesBody, actor: Actor = "") -> dict[str, Any]:
        updated = changes(actor).set_routes(
            name, _routes(body.routes), expected_revision=body.expected_revision, force=body.force
        )
        return updated.to_dict()

    @router.post("/endpoints/{name}/promote", summary="Send all traffic to one target")
    def promote(name: str, body: TargetBody, actor: Actor = "") -> dict[str, Any]:
        target = Target.parse(body.target)
        return changes(actor).promote(name, target, expected_revision=body.expected_revision).to_dict()

    @router.post("/endpoints/{name}/rollback", summary="Undo the latest change")
    def rollback(name: str, body: RevisionBody | None = None, actor: Actor = "") -> dict[str, Any]:
        expected = body.expected_revision if body else None
        return changes(actor).rollback(name, expected_revision=expected).to_dict()

    _add_shadow_routes(router, registry, changes, shadow_report)
    return router


def _add_shadow_routes(
    router: APIRouter,
    registry: Registry,
    changes: Callable[[str], EndpointChanges],
    shadow_report: Callable[[str], dict[str, Any]],
) -> None:
    @router.get("/endpoints/{name}/history", summary="Every revision: who, when, what changed")
    def history(name: str) -> list[dict[str, Any]]:
        return [change.to_dict() for change in registry.endpoint_history(name)]

    @router.post("/endpoints/{name}/shadows", summary="Mirror a share of the traffic to a shadow target")
    def add_shadow(name: str, body: ShadowBody, actor: Actor = "") -> dict[str, Any]:
        shadow = ShadowSpec(Target.parse(body.target), body.percent)
        updated = changes(actor).add_shadow(
            name, shadow, expected_revision=body.expected_revision, force=body.force
        )
        return updated.to_dict()

    @router.delete("/endpoints/{name}/shadows/{target}", summary="Stop mirroring to a shadow target")
    def remove_shadow(name: str, target: str, actor: Actor = "") -> dict[str, Any]:
        return changes(actor).remove_shadow(name, Target.parse(target)).to_dict()

    @router.get("/endpoints/{name}/shadow-report", summary="Shadow vs primary comparison (this server)")
    def report(name: str) -> dict[str, Any]:
        registry.get_endpoint(name)  # NotFound for an unknown endpoint
        return shadow_report(name)
