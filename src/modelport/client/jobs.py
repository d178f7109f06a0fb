"""A running server's batch jobs (``/api/v1/jobs``), for ``modelport jobs``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from modelport.client.remote import RemoteCatalog

__all__ = ["RemoteJobs"]

Json = dict[str, Any]


class RemoteJobs:
    def __init__(self, api: RemoteCatalog) -> None:
        self._api = api

    def submit(self, body: Json) -> Json:
        result: Json = self._api.call("POST", "/api/v1/jobs", json=body)
        return result

    def list_all(self) -> list[Json]:
        result: list[Json] = self._api.call("GET", "/api/v1/jobs")["jobs"]
        return result

    def get(self, job_id: str) -> Json:
        result: Json = self._api.call("GET", f"/api/v1/jobs/{quote(job_id, safe='')}")
        return result

    def cancel(self, job_id: str) -> Json:
        result: Json = self._api.call("DELETE", f"/api/v1/jobs/{quote(job_id, safe='')}")
        return result
