"""What every CLI command shares: the settings overrides, where to work (local or a server), errors."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec, TypeVar

import click
from pydantic import ValidationError

from modelport.client import Catalog
from modelport.client.endpoints import EndpointClient, RemoteEndpoints
from modelport.client.local import LocalCatalog
from modelport.client.remote import RemoteCatalog
from modelport.core.errors import ModelportError, StorageError
from modelport.core.settings import Settings, read_token_file
from modelport.server.address import find_server

if TYPE_CHECKING:  # the local side is imported where it is used: every CLI command starts faster
    from modelport.client.jobs import RemoteJobs
    from modelport.client.monitor import MonitorClient
    from modelport.registry.catalog import Registry

__all__ = [
    "Context",
    "client_token",
    "describe_os_error",
    "fail_cleanly",
    "pass_context",
    "refuse_token_argument",
]

P = ParamSpec("P")
R = TypeVar("R")


def fail_cleanly(command: Callable[P, R]) -> Callable[P, R]:
    """Print an expected failure as one ``error:`` line and exit 1 (130 for Ctrl-C), instead of a
    traceback: a ``ModelportError``, and, as a last line of defence, an ``OSError`` (a file the
    command reads or writes) with its cause and file name. Anything else is a bug and shows its
    traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except ModelportError as error:
            _fail(error.message)
        except OSError as error:
            _fail(describe_os_error(error))
        except KeyboardInterrupt:
            _fail("interrupted", code=130)

    return run


def describe_os_error(error: OSError) -> str:
    """``cause: file`` (both when known) for a failed file operation."""
    cause = error.strerror or str(error) or type(error).__name__
    return f"{cause}: {error.filename}" if error.filename else cause


def _fail(message: str, code: int = 1) -> NoReturn:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


def refuse_token_argument(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """``--token`` is refused: an argument is readable by every user in the process list."""
    if value is not None:
        raise click.UsageError(
            "--token would show the token in the process list; "
            "set MODELPORT_TOKEN or pass --token-file FILE instead"
        )


def client_token(token_file: Path | None) -> str | None:
    """The bearer token: ``--token-file`` (or ``MODELPORT_TOKEN_FILE``), else ``MODELPORT_TOKEN``."""
    if token_file is None:
        return os.environ.get("MODELPORT_TOKEN") or None
    try:
        return read_token_file(token_file)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


class Context:
    def __init__(self, overrides: dict[str, Any], server: str | None, token: str | None) -> None:
        self.overrides = overrides
        self.server = server
        self.token = token

    def settings(self, **more: Any) -> Settings:
        """The settings from the environment, the global options and ``more``; a bad one is a usage error."""
        try:
            return Settings(**{**self.overrides, **{k: v for k, v in more.items() if v is not None}})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()
            )
            raise click.UsageError(f"invalid settings: {problems}") from None

    @contextmanager
    def catalog(self) -> Iterator[Catalog]:
        if self.server:
            with self._remote() as api:
                yield api
            return
        with self._local_registry() as (settings, registry):
            yield LocalCatalog(settings, registry)

    @contextmanager
    def endpoints(self) -> Iterator[EndpointClient]:
        if self.server:
            with self._remote() as api:
                yield RemoteEndpoints(api)
            return
        from modelport.client.endpoints import LocalEndpoints

        with self._local_registry() as (_, registry):
            yield LocalEndpoints(registry)

    @contextmanager
    def monitor(self) -> Iterator[MonitorClient]:
        from modelport.client.monitor import LocalMonitor, RemoteMonitor

        if self.server:
            with self._remote() as api:
                yield RemoteMonitor(api)
            return
        from modelport.monitoring.payloads import PayloadStore
        from modelport.monitoring.payloads.shipping import remote_segments

        with self._local_registry() as (settings, registry):
            store = PayloadStore(settings.payload_dir, remote_segments(settings))
            yield LocalMonitor(registry, store, settings.drift)

    @contextmanager
    def server_api(self) -> Iterator[RemoteEndpoints]:
        """A running server's API: ``--server``, else the server the home records (see
        ``server.address``), else ``http://HOST:PORT`` from the settings."""
        with self._remote(self.server or self._local_server_url()) as api:
            yield RemoteEndpoints(api)

    @contextmanager
    def jobs(self) -> Iterator[RemoteJobs]:
        """The batch jobs of the server ``server_api`` talks to."""
        from modelport.client.jobs import RemoteJobs

        with self._remote(self.server or self._local_server_url()) as api:
            yield RemoteJobs(api)

    @contextmanager
    def _remote(self, url: str | None = None) -> Iterator[RemoteCatalog]:
        """A client of ``url`` (default ``--server``), closed on the way out: an error answer's
        traceback would otherwise keep its connection open until the interpreter ends."""
        api = RemoteCatalog(url or self.server or "", self.token)
        try:
            yield api
        finally:
            api.close()

    def running_server(self) -> RemoteEndpoints | None:
        """``--server``, else the server recorded in the home if it runs; None when there is neither
        (never a guess at the default port: that may be another home's server)."""
        if self.server:
            return RemoteEndpoints(RemoteCatalog(self.server, self.token))
        recorded = find_server(self.settings().data_dir)
        return RemoteEndpoints(RemoteCatalog(recorded.url, self.token)) if recorded else None

    def _local_server_url(self) -> str:
        settings = self.settings()
        self._say_home(settings)
        recorded = find_server(settings.data_dir)
        return recorded.url if recorded else f"http://{settings.host}:{settings.port}"

    def _say_home(self, settings: Settings) -> None:
        """``using home ...`` on stderr when neither ``--home`` nor ``MODELPORT_HOME`` chose it."""
        if "home" not in self.overrides and "MODELPORT_HOME" not in os.environ:
            click.echo(f"using home {settings.data_dir}", err=True)

    @contextmanager
    def _local_registry(self) -> Iterator[tuple[Settings, Registry]]:
        """The settings and the registry they name, closed on the way out."""
        from modelport.registry.local import open_registry

        settings = self.settings()
        self._say_home(settings)
        try:
            registry = open_registry(settings)
        except OSError as error:  # the home's folder itself (its files raise StorageError)
            raise StorageError(
                f"cannot open the home {settings.data_dir} (--home / MODELPORT_HOME): "
                f"{describe_os_error(error)}"
            ) from None
        with registry:
            yield settings, registry


pass_context = click.make_pass_decorator(Context)
