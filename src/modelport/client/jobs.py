"""A running server's batch jobs (``/api/v1/jobs``), for ``modelport jobs``."""

from __future__ import annotations

from urllib.parse import quote

from modelport.client import Json
from modelport.client.remote import RemoteCatalog

__all__ = ["RemoteJobs"]


class RemoteJobs:
    def __init__(self, api: RemoteCatalog) -> None:
        self._api = api

    def submit(self, body: Json) -> Json:
        return self._api.call_object("POST", "/api/v1/jobs", json=body)

    def list_all(self) -> list[Json]:
        result: list[Json] = self._api.call_object("GET", "/api/v1/jobs")["jobs"]
        return result

    def get(self, job_id: str) -> Json:
        return self._api.call_object("GET", _job_path(job_id))

    def cancel(self, job_id: str) -> Json:
        return self._api.call_object("DELETE", _job_path(job_id))


def _job_path(job_id: str) -> str:
    """The job's URL path; its id is one path segment, whatever it holds."""
    return f"/api/v1/jobs/{quote(job_id, safe='')}"
