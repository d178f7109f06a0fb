"""Who may call the management API: the bearer token, the ``Host`` a request names and, for a
state-changing request, the site it comes from. The gates stand in front of every route, the OpenAPI
document included, before anything reads a request's body.

Without a token on loopback, the token cannot stop a web page: a page the user visits may post to
``127.0.0.1``, or rebind its own name to it. The ``Host`` allow-list refuses the rebound name; the
``Origin`` / ``Sec-Fetch-Site`` check refuses a page of another site changing anything.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from modelport.core.errors import Forbidden, InvalidInput, ModelportError
from modelport.core.settings import Settings
from modelport.serving.auth import single_bearer_matches, unauthorized
from modelport.serving.http_errors import error_response

__all__ = ["BearerGate", "HostAllowList", "SiteGate", "refuse"]

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SAME_SITE_FETCHES = frozenset({b"same-origin", b"none"})
"""``Sec-Fetch-Site`` values of a request the page made itself, or the user typed."""


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def split_host(value: str) -> tuple[str, str | None]:
    """``name[:port]`` (``[v6]:port`` for IPv6) as the lower-case name and the port, if any."""
    value = value.strip().lower()
    name, colon, port = value.rpartition(":")
    if colon and port.isdigit() and (not name.startswith("[") or name.endswith("]")):
        return name, port
    return value, None


@dataclass(frozen=True)
class HostAllowList:
    """The names a browser may use to reach the management API: entries without a port allow any."""

    entries: frozenset[tuple[str, str | None]]
    any_host: bool = False

    @classmethod
    def of(cls, settings: Settings) -> HostAllowList:
        """The loopback names, the bound address (on a wildcard address, with no list set: any name)
        and ``http.allowed_hosts``."""
        listed = settings.http.allowed_hosts
        bound = f"[{settings.host}]" if ":" in settings.host else settings.host
        entries: set[tuple[str, str | None]] = {(name, None) for name in LOOPBACK_NAMES}
        entries.add((bound.lower(), str(settings.port) if settings.port else None))
        entries.update(split_host(entry) for entry in listed if entry != "*")
        any_host = "*" in listed or (_is_wildcard(settings.host) and not listed)
        return cls(frozenset(entries), any_host)

    def allows(self, host: str) -> bool:
        name, port = split_host(host)
        return self.any_host or (name, None) in self.entries or (name, port) in self.entries


class SiteGate:
    """ASGI middleware: a ``Host`` outside the allow-list gets 400; a state-changing request
    (``STATE_CHANGING``) from another origin, or marked ``Sec-Fetch-Site`` other than same-origin or
    none, gets 403. A request without ``Host``, ``Origin`` or ``Sec-Fetch-Site`` (a program's) passes."""

    def __init__(self, app: ASGIApp, hosts: HostAllowList) -> None:
        self._app = app
        self._hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self._refusal(scope)
            if refusal is not None:
                await refuse(refusal, scope, receive, send)
                return
        await self._app(scope, receive, send)

    def _refusal(self, scope: Scope) -> InvalidInput | Forbidden | None:
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1")
        if host and not self._hosts.allows(host):
            return InvalidInput(
                f"this server does not answer to the host name {host[:100]!r}; if it is one of its "
                "names (e.g. behind a proxy), add it to http.allowed_hosts (MODELPORT_HTTP__ALLOWED_HOSTS)"
            )
        if scope["method"] not in STATE_CHANGING:
            return None
        fetch_site = headers.get(b"sec-fetch-site")
        origin = headers.get(b"origin")
        if (fetch_site is not None and fetch_site not in SAME_SITE_FETCHES) or (
            origin is not None and _authority(origin) != host.lower()
        ):
            return Forbidden(
                "a request from another site cannot change this server: send it without an Origin "
                "header from another site (e.g. from the CLI or a script), or from the dashboard"
            )
        return None


def _authority(origin: bytes) -> str | None:
    """``host[:port]`` of an ``Origin`` (``None`` for ``null`` or garbage). The scheme is not compared:
    behind a TLS proxy the page is ``https`` while the server sees ``http``, and one port serves one
    scheme, so another site cannot stand on the same host and port."""
    scheme, separator, authority = origin.decode("latin-1").lower().partition("://")
    return authority if separator and scheme in ("http", "https") and authority else None


class BearerGate:
    """ASGI middleware: with a token, every HTTP request needs exactly one
    ``Authorization: Bearer <token>`` (no token configured: open)."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self._app = app
        self._token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._token is not None:
            authorizations = [value for name, value in scope["headers"] if name == b"authorization"]
            if not single_bearer_matches(authorizations, self._token):
                await refuse(unauthorized(), scope, receive, send)
                return
        await self._app(scope, receive, send)


async def refuse(error: ModelportError, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer ``error`` before the request's body is read, and close the connection: the unread body
    must not be taken for the next request, nor read at all."""
    response = error_response(error)
    response.headers["connection"] = "close"
    await response(scope, receive, send)
