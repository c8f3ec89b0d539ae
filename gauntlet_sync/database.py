"""The server a run talks to: the DSN resolved (or the embedded server), one engine, pinged.

Kept apart from :class:`~gauntlet_sync.Gauntlet` so that work which needs a database but no
migration history (``cleanup_stale``) opens it the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from . import handover, janitor
from .dsn import mask, redact, to_url
from .errors import DatabaseUnavailableError

#: read when no DSN is given to the command line or the unittest mixin
DSN_ENV = "GAUNTLET_DSN"


def dsn_or_environment(dsn: str | None) -> str | None:
    """The DSN given, else ``GAUNTLET_DSN``, else ``None`` (the embedded server)."""
    return dsn or os.environ.get(DSN_ENV) or None


def resolve(dsn: str | URL | None, connect_timeout: int = 10) -> URL:
    """The URL to use: the given DSN, else the process-wide embedded server's."""
    if dsn is None:
        from .server import EmbeddedPostgres

        dsn = EmbeddedPostgres.shared().dsn
    return with_connect_timeout(to_url(dsn), connect_timeout)


def with_connect_timeout(url: URL, seconds: int) -> URL:
    """``url`` with a connect timeout, unless it names its own."""
    if "connect_timeout" in url.query:
        return url
    return url.update_query_dict({"connect_timeout": str(seconds)})


def open_engine(url: URL) -> Engine:
    """An engine whose server answered, or a typed error saying why not."""
    engine = handover.own(create_engine(url, poolclass=NullPool))
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as exc:
        engine.dispose()
        raise DatabaseUnavailableError(
            f"Cannot connect to {mask(url)}: {redact(str(exc.orig).strip(), url)}. "
            "Check the DSN (host, port, user, password, database) and that the server is "
            "running, or pass no DSN to use the embedded server."
        ) from None
    return engine


def cleanup_stale(
    dsn: str | URL | None = None,
    *,
    older_than: float = 3600.0,
    prefix: str = "gauntlet",
    on_skip: Callable[[str], None] | None = None,
) -> list[str]:
    """Drop leftovers of killed runs on ``dsn`` (only ours, only old, only orphaned);
    what cannot be dropped goes to ``on_skip`` (default: a warning)."""
    janitor.check_age(older_than)  # before the embedded server is started for nothing
    engine = open_engine(resolve(dsn))
    try:
        return janitor.cleanup_stale(engine, older_than=older_than, prefix=prefix, on_skip=on_skip)
    finally:
        engine.dispose()
