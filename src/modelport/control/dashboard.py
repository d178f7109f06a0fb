"""The dashboard's static files, served under ``/ui`` beside the management API.

The files hold no data: the page asks ``/api/v1`` and ``/v2`` for everything, with the same bearer
token as any other client, so the dashboard needs no auth of its own. Given the management API's
``Host`` allow-list, it answers only to those names, so a rebound name cannot load it either. The
headers keep the page from loading anything from elsewhere and from being framed by another site.
"""

from __future__ import annotations

from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelport.control.auth import HostAllowList, SiteGate

__all__ = ["UI_DIRECTORY", "create_dashboard_app"]

UI_DIRECTORY = Path(__file__).parent / "ui"

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
        # uPlot positions its legend and cursor through element styles.
        "style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    # A new release must not run yesterday's script against today's API.
    "cache-control": "no-cache",
}


def create_dashboard_app(directory: Path = UI_DIRECTORY, hosts: HostAllowList | None = None) -> ASGIApp:
    """``index.html`` at the mount's root, the other files by name, with ``SECURITY_HEADERS``;
    ``hosts``: the ``Host`` names it answers to (the management API's), others get 400."""
    files = _WithHeaders(StaticFiles(directory=directory, html=True))
    return files if hosts is None else SiteGate(files, hosts)


class _WithHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self._app(scope, receive, send_with_headers)
