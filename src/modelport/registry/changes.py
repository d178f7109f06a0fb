"""Change notification on PostgreSQL: every registry write announces its revision; servers listen.

Each write transaction that bumps ``registry_state.revision`` also runs ``NOTIFY
modelport_registry, '<revision>'`` (``announce``); PostgreSQL delivers it only when the
transaction commits, and never for one rolled back. Each server keeps one dedicated connection
that ``LISTEN``s (``follow``, on its event loop) and wakes its reconciler at once.

Polling stays the fallback: a server still compares the revision every
``serving.poll_interval_s``, so a notification lost with its connection (PostgreSQL restarted, a
network cut) costs at most one poll interval. The listener reconnects with backoff, logs once per
outage (not per retry), and wakes the reconciler when it is back, for whatever it missed. SQLite
has no notifications: servers on it poll only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

__all__ = ["CHANNEL", "announce", "announces", "follow"]

log = logging.getLogger(__name__)

CHANNEL = "modelport_registry"
RETRY_FIRST_S = 0.25
RETRY_MAX_S = 5.0
_KEEPALIVE = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
"""A listener whose peer vanished without closing (a network cut) notices within about a minute."""


def announces(engine: Engine) -> bool:
    """Whether writes on ``engine`` announce themselves (PostgreSQL); SQLite servers poll."""
    return engine.dialect.name == "postgresql"


def announce(s: Session) -> None:
    """Queue the notification of the revision that ``s``'s transaction has just set (sent at commit)."""
    s.execute(text("SELECT pg_notify(:channel, revision::text) FROM registry_state"), {"channel": CHANNEL})


async def follow(engine: Engine, on_change: Callable[[], None]) -> None:
    """Call ``on_change`` for every announced change, until cancelled; return at once on SQLite."""
    if not announces(engine):
        return
    import psycopg

    args, params = engine.dialect.create_connect_args(engine.url)
    params = {"application_name": "modelport-listen", **_KEEPALIVE, **params, "autocommit": True}
    params.setdefault("connect_timeout", 10)
    where = engine.url.render_as_string(hide_password=True)
    delay, lost = RETRY_FIRST_S, False
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(*args, **params) as connection:
                await connection.execute(f"LISTEN {CHANNEL}")
                if lost:
                    log.info("registry change notifications from %s: reconnected", where)
                    on_change()  # whatever changed while the listener was away
                delay, lost = RETRY_FIRST_S, False
                async for _ in connection.notifies():
                    on_change()
        except (psycopg.Error, OSError) as exc:
            if not lost:
                log.warning(
                    "lost registry change notifications from %s (%s); polling until reconnected",
                    where,
                    _one_line(exc),
                )
            lost = True
        await asyncio.sleep(delay)
        delay = min(delay * 2, RETRY_MAX_S)


def _one_line(exc: Any) -> str:
    return "; ".join(part.strip() for part in str(exc).splitlines() if part.strip()) or type(exc).__name__
