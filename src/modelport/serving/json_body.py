"""A JSON request body as an object (every front-end's), and the nesting limit for the front-ends
whose bodies are free-form JSON (KServe v1 / TF Serving, MLflow, the repository extension); OIP's
codec measures nesting with its own, input-aware walk (``oip_request``)."""

from __future__ import annotations

from typing import Any

import orjson

from modelport.core.errors import InvalidInput

__all__ = ["check_depth", "json_object"]


def json_object(
    body: bytes | memoryview, not_an_object: str = "the request body must be a JSON object"
) -> dict[str, Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidInput(not_an_object)
    return document


def check_depth(value: object, limit: int) -> None:
    """Refuse a body nested deeper than ``limit`` before numpy sees it: a list is measured along its
    first element (a tensor's rows agree, or fail later as ragged), an object along every value."""
    if _deeper(value, limit):
        raise InvalidInput(f"the JSON body is nested more than {limit} levels deep, the limit")


def _deeper(value: object, budget: int) -> bool:
    """Whether ``value`` nests containers more than ``budget`` levels (stops as soon as it does)."""
    if not isinstance(value, dict | list):
        return False
    if budget <= 0:
        return True
    if isinstance(value, list):
        return bool(value) and _deeper(value[0], budget - 1)
    return any(_deeper(item, budget - 1) for item in value.values())
