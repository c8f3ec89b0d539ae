"""The server a run talks to: the DSN resolved (or the embedded server), one engine, pinged.

Kept apart from :class:`~gauntlet_sync.Gauntlet` so that work which needs a database but no
migration history (``cleanup_stale``) opens it the same way.
"""

from __future__ import annotations

import os
import threading
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


def resolve(
    dsn: str | URL | None, connect_timeout: int = 10, early: EarlyServer | None = None
) -> URL:
    """The URL to use: the given DSN, else the process-wide embedded server's (``early``:
    the start already under way, see :class:`EarlyServer`)."""
    if dsn is None:
        if early is not None:
            early.join()
        from .server import EmbeddedPostgres

        dsn = EmbeddedPostgres.shared().dsn
    return with_connect_timeout(to_url(dsn), connect_timeout)


class EarlyServer:
    """Starts the process-wide embedded server in a thread, so that its start (copying the
    cached cluster, booting: mostly the server process's own work) overlaps the loading of
    the history, the models and git, instead of following them. ``join()`` waits for it
    and raises what the start raised; :func:`resolve` calls it. Join it on every path
    (``join(quiet=True)`` where an error of the caller's own is on its way): a thread still
    running when ``run_all`` begins would stop it from forking."""

    def __init__(self) -> None:
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._start, name="gauntlet-server-start")
        self._thread.start()

    def _start(self) -> None:
        try:
            from .server import EmbeddedPostgres

            EmbeddedPostgres.shared()
        except BaseException as exc:  # noqa: BLE001 - raised again by join()
            self._error = exc

    def join(self, *, quiet: bool = False) -> None:
        self._thread.join()
        error, self._error = self._error, None
        if error is not None and not quiet:
            raise error


def with_connect_timeout(url: URL, seconds: int) -> URL:
    """``url`` with a connect timeout, unless it names its own."""
    if "connect_timeout" in url.query:
        return url
    return url.update_query_dict({"connect_timeout": str(seconds)})


#: Settings our own connections (creating, snapshotting and dropping the run's schemas and
#: databases) bring along in the startup packet, where they outrank ``ALTER ROLE/DATABASE
#: ... SET``: a migration that sets ``statement_timeout = '1ms'`` on its role must not
#: make our DROP DATABASE fail. Bounded, so that our own statements end too.
OWN_SETTINGS: tuple[tuple[str, str], ...] = (
    ("statement_timeout", "120s"),
    ("lock_timeout", "30s"),
    ("idle_in_transaction_session_timeout", "0"),
    ("idle_session_timeout", "0"),
    ("transaction_timeout", "0"),
)


def own_settings(url: URL, server_version: int) -> dict[str, str]:
    """``connect_args`` for our own engine: the URL's libpq ``options`` plus ours (those the
    server knows: ``server_version`` as in ``server_version_num``)."""
    known = {"idle_session_timeout": 140000, "transaction_timeout": 170000}
    pins = " ".join(
        f"-c{name}={value}"
        for name, value in OWN_SETTINGS
        if server_version >= known.get(name, 0)
    )
    existing = url.query.get("options")
    options = f"{existing} {pins}" if isinstance(existing, str) and existing else pins
    return {"options": options}


def open_engine(url: URL) -> Engine:
    """An engine whose server answered, or a typed error saying why not. Its connections
    carry :data:`OWN_SETTINGS`; ``url`` (which migration sessions build on) does not."""
    # The first connection already brings the settings every server knows (a role's
    # statement_timeout = '1ms' would end even SHOW); the rest once the version is known.
    engine = handover.own(
        create_engine(url, poolclass=NullPool, connect_args=own_settings(url, 0))
    )
    try:
        with engine.connect() as conn:
            version = int(conn.execute(text("SHOW server_version_num")).scalar_one())
    except DBAPIError as exc:
        engine.dispose()
        raise _unavailable(url, exc) from None
    engine.dispose()
    engine = handover.own(
        create_engine(url, poolclass=NullPool, connect_args=own_settings(url, version))
    )
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as exc:
        engine.dispose()
        raise _unavailable(url, exc) from None
    return engine


def _unavailable(url: URL, exc: DBAPIError) -> DatabaseUnavailableError:
    return DatabaseUnavailableError(
        f"Cannot connect to {mask(url)}: {redact(str(exc.orig).strip(), url)}. "
        "Check the DSN (host, port, user, password, database) and that the server is "
        "running, or pass no DSN to use the embedded server."
    )


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
