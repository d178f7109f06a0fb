"""The CLI's remote back-end: a running server's management API and inference API."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from modelport.client import Json
from modelport.core.errors import (
    Conflict,
    Forbidden,
    InternalError,
    InvalidInput,
    ModelportError,
    NotFound,
    NotReady,
    TooLarge,
    Unauthorized,
)
from modelport.core.targets import Target

if TYPE_CHECKING:  # imported where they are used: every CLI command starts faster
    import httpx
    import numpy as np

    from modelport.control.registration import RegistrationRequest

__all__ = ["RemoteCatalog", "reference_upload"]


class RemoteCatalog:
    """A running server's management API (``/api/v1``) and inference API (``/v2``)."""

    def __init__(self, base_url: str, token: str | None, timeout_s: float = 120.0) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s)

    def list_models(self) -> list[Json]:
        return self.call_list("GET", "/api/v1/models")

    def list_versions(self, name: str) -> list[Json]:
        return self.call_list("GET", f"/api/v1/models/{name}/versions")

    def register(self, request: RegistrationRequest) -> Json:
        data: dict[str, Any] = {
            "description": request.description,
            "trusted": str(request.trusted).lower(),
            "tags": json.dumps(dict(request.tags)),
            "lineage": json.dumps(dict(request.lineage)),
            "aliases": list(request.aliases),
        }
        if request.framework:
            data["framework"] = request.framework
        if request.signature is not None:
            data["signature"] = json.dumps(request.signature.to_dict())
        with request.artifact.open("rb") as artifact:
            files: dict[str, Any] = {"file": (request.artifact.name, artifact)}
            if request.reference_data is not None:
                files["reference"] = reference_upload(request.reference_data)
            return self.call_object("POST", f"/api/v1/models/{request.name}/versions", data=data, files=files)

    def set_alias(self, name: str, alias: str, version: int) -> Json:
        return self.call_object("PUT", f"/api/v1/models/{name}/aliases/{alias}", json={"version": version})

    def remove_alias(self, name: str, alias: str) -> Json:
        return self.call_object("DELETE", f"/api/v1/models/{name}/aliases/{alias}")

    def delete_version(self, name: str, version: int) -> Json:
        return self.call_object("DELETE", f"/api/v1/models/{name}/versions/{version}")

    def delete_model(self, name: str) -> Json:
        return self.call_object("DELETE", f"/api/v1/models/{name}")

    def collect_garbage(self) -> Json:
        return self.call_object("POST", "/api/v1/gc")

    def set_policy(self, name: str, policy: str) -> Json:
        return self.call_object("PUT", f"/api/v1/models/{name}/policy", json={"policy": policy})

    def get_serving(self, name: str) -> Json:
        return self.call_object("GET", f"/api/v1/models/{name}/serving")

    def update_serving(self, name: str, changes: Json) -> Json:
        return self.call_object("PATCH", f"/api/v1/models/{name}/serving", json=changes)

    def metadata(self, target: Target) -> Json:
        return self.call_object("GET", _v2_path(target))

    def infer(self, target: Target, request: Json) -> Json:
        return self.call_object("POST", _v2_path(target) + "/infer", json=request)

    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[bytes]:
        """A streamed answer's body in pieces; an error answer raises the matching ``ModelportError``."""
        import httpx

        try:
            with self._http.stream(method, path, **kwargs) as response:
                if not response.is_success:
                    response.read()
                    raise _error_from(response)
                yield from response.iter_bytes()
        except httpx.HTTPError as exc:
            raise NotReady(f"cannot reach the server at {self._http.base_url}: {exc}") from None

    def close(self) -> None:
        """Close the connection pool (an error answer's traceback would otherwise keep it open)."""
        self._http.close()

    def call_object(self, method: str, path: str, **kwargs: Any) -> Json:
        """``call`` for an answer that is a JSON object, as most are (typed so, not checked)."""
        result: Json = self.call(method, path, **kwargs)
        return result

    def call_list(self, method: str, path: str, **kwargs: Any) -> list[Json]:
        """``call`` for an answer that is a JSON array of objects: a listing (typed so, not checked)."""
        result: list[Json] = self.call(method, path, **kwargs)
        return result

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One API call; an error answer is raised as the matching ``ModelportError``."""
        import httpx

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise NotReady(f"cannot reach the server at {self._http.base_url}: {exc}") from None
        if response.is_success:
            return response.json()
        raise _error_from(response)


def reference_upload(data: Any) -> tuple[str, bytes]:
    """Reference data as a file to upload: an array as ``.npy``, anything else as ``.parquet``
    (``{input: array}`` becomes one column per feature, named as drift names them)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    if isinstance(data, np.ndarray):
        np.save(buffer, data, allow_pickle=False)
        return "reference.npy", buffer.getvalue()
    if isinstance(data, Mapping):
        data = _feature_columns(data)
    try:
        table = data if isinstance(data, pa.Table) else pa.table(data)
    except (TypeError, ValueError, pa.ArrowException):
        raise InvalidInput(f"reference data of type {type(data).__name__} cannot be uploaded") from None
    pq.write_table(table, buffer)
    return "reference.parquet", buffer.getvalue()


def _feature_columns(arrays: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``{input: array}`` as one column per feature, named as drift names them (``feature_names_for``):
    ``x`` for a 1-D input (or one column), ``x[0]``… for a 2-D one."""
    import numpy as np

    from modelport.monitoring.drift.features import feature_names_for

    columns = {}
    for name, values in arrays.items():
        matrix = np.asarray(values)
        matrix = matrix.reshape(len(matrix), -1)
        names = feature_names_for(name, matrix.shape[1])
        columns.update({feature: matrix[:, i] for i, feature in enumerate(names)})
    return columns


def _v2_path(target: Target) -> str:
    path = f"/v2/models/{target.model}"
    return path if target.ref is None else f"{path}/versions/{target.ref}"


_BY_STATUS: dict[int, type[ModelportError]] = {
    400: InvalidInput,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
    503: NotReady,
}


def _error_from(response: httpx.Response) -> ModelportError:
    try:
        message = str(response.json().get("error", response.text))
    except (ValueError, AttributeError):
        message = response.text or response.reason_phrase
    error_class = _BY_STATUS.get(response.status_code)
    if error_class is None:
        return InternalError(f"server answered {response.status_code}: {message}")
    return error_class(message)
