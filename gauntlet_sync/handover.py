"""How any env.py, on any supported driver, is handed the isolated target.

Projects write env.py in many shapes: the ``alembic init`` templates build an engine from
``sqlalchemy.url`` (sync or async); pytest-alembic's recipe takes an *Engine* from
``config.attributes["connection"]``, the alembic cookbook's a *Connection*; others build
their engine from a settings module, or cache it per URL in a project-level module. Each
of them must land in the isolated schema, on the driver the project names, unmodified.

Three things make that so:

* :class:`HandOver`, put in ``config.attributes["connection"]``: the run's connection,
  which is a real ``Connection`` and also answers the Engine calls such an env.py makes
  (``connect()``, ``begin()`` yield the same connection; leaving their blocks does not
  close it; ``dispose()`` does nothing).
* ``sqlalchemy.url``: the target URL written with the project's driver.
* A redirect, for the env.py that connects somewhere else: while env.py runs, every new
  PostgreSQL connection opened in its thread (or, when only one env.py runs in the
  process, in any thread: an event loop env.py hands its work to) by an engine that is
  not gauntlet-sync's own is pointed at the isolated target (the engine's own driver
  kept), and a pooled connection that was not opened so for this very target is replaced
  at checkout. An engine cached from an earlier run, or built from the project's
  settings, therefore migrates the isolated schema and never the database its URL names;
  outside env.py, connections redirected earlier are replaced by ones to their own URL.

The driver: psycopg (3) by default; ``+psycopg2`` or ``+asyncpg`` in the DSN, else in
the ini's ``sqlalchemy.url``, names another. gauntlet-sync's own work (isolation, admin,
catalog reads outside the migration) stays on psycopg on connections of its own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import re
import secrets
import threading
import weakref
from collections.abc import Iterator
from configparser import Error as ConfigParserError
from typing import Any

from alembic.config import Config
from sqlalchemy import Engine, event
from sqlalchemy.engine import URL, Connection, Dialect, RootTransaction
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import Pool

from . import _compat
from .errors import ConfigError, MigrationEnvironmentError

#: Drivers migrations can run on, and the extra that installs each.
DRIVERS = {
    "psycopg": "",
    "psycopg_async": "",
    "psycopg2": "psycopg2",
    "asyncpg": "asyncpg",
}
#: The import that proves a driver is installed.
_MODULES = {"psycopg": "psycopg", "psycopg_async": "psycopg", "psycopg2": "psycopg2"}
_SCHEME = re.compile(r"^\s*postgres(?:ql)?\+([A-Za-z0-9_]+)://")
_MARK = "gauntlet_target"  # (pid, token) in a redirected connection's record info
MARK = _MARK  # for outside.py: the connections of a session are found by it
_OWN = "gauntlet_own"


@dataclasses.dataclass(frozen=True)
class Driver:
    """The driver migrations run on, and where the project named it."""

    name: str = "psycopg"
    named_in: str = ""  # "the DSN", "sqlalchemy.url in alembic.ini", "" (the default)

    @property
    def sync_name(self) -> str:
        """The driver of the connection handed over in ``config.attributes``: a sync
        Connection cannot run on asyncpg, so there it is psycopg's."""
        return "psycopg2" if self.name == "psycopg2" else "psycopg"


def dsn_driver(dsn: object) -> str | None:
    """The ``+driver`` a DSN names, if any."""
    if isinstance(dsn, URL):
        _, _, driver = dsn.drivername.partition("+")
        return driver or None
    if isinstance(dsn, str):
        match = _SCHEME.match(dsn)
        return match.group(1) if match else None
    return None


def ini_url(config: Config) -> str | None:
    """``sqlalchemy.url`` as written for alembic (main section, else the first database of
    a multidb ini), interpolated when it can be, else raw with environment variables."""
    section = config.config_ini_section
    candidates = [section]
    try:
        databases = config.get_main_option("databases") or ""
    except ConfigParserError:
        databases = ""
    candidates += [name for name in re.split(r"[,\s]+", databases) if name]
    parser = config.file_config
    for name in candidates:
        if not parser.has_option(name, "sqlalchemy.url"):
            continue
        try:
            value = parser.get(name, "sqlalchemy.url")
        except ConfigParserError:  # %(VAR)s that env.py fills in from the environment
            value = os.path.expandvars(parser.get(name, "sqlalchemy.url", raw=True))
        return str(value)
    return None


def resolve_driver(dsn: object, config: Config) -> Driver:
    """The project's driver: the DSN's ``+driver``, else ``sqlalchemy.url``'s, else psycopg;
    a typed error when it is one migrations cannot run on here, or not installed."""
    named = dsn_driver(dsn)
    where = "the DSN"
    if named is None:
        url = ini_url(config)
        match = _SCHEME.match(url) if url else None
        named = match.group(1) if match else None
        where = f"sqlalchemy.url in {os.path.basename(config.config_file_name or 'the config')}"
    if named is None:
        return Driver()
    if named not in DRIVERS:
        raise ConfigError(
            f"{where} names the driver +{named}; gauntlet-sync runs migrations on "
            "+psycopg (the default), +psycopg2 or +asyncpg. Name one of them there "
            "(a DSN's +driver wins over sqlalchemy.url's)."
        )
    missing = _missing_module(named)
    if missing is not None:
        extra = DRIVERS[named]
        raise ConfigError(
            f"{where} names the driver +{named}, but {missing} is not installed: "
            f"pip install 'gauntlet-sync[{extra}]'."
        )
    return Driver(named, where)


def _missing_module(driver: str) -> str | None:
    modules = [_MODULES.get(driver, driver)]
    if driver in ("asyncpg", "psycopg_async"):
        modules.append("greenlet")  # SQLAlchemy's asyncio layer runs on it
    for module in modules:
        if importlib.util.find_spec(module) is None:
            return module
    return None


def url_for(url: URL, driver: str) -> URL:
    """``url`` (a psycopg target URL) as the given driver's dialect reads it. asyncpg takes
    neither libpq ``options`` nor ``connect_timeout``: the redirect gives them to it."""
    url = url.set(drivername=f"postgresql+{driver}")
    if driver == "asyncpg":
        url = url.difference_update_query(["options", "connect_timeout"])
    return url


# -- the connection handed over ---------------------------------------------------------


class HandOver(Connection):
    """The run's connection, for ``config.attributes["connection"]``.

    A real ``Connection`` (the alembic cookbook passes it to ``context.configure``), that
    also does what pytest-alembic's recipe asks of the Engine it expects there:
    ``connect()`` and ``begin()`` give this very connection (``begin()`` starts its
    transaction, committed when the block ends), and while env.py runs, ``close()`` (the
    end of a ``with connectable.connect()`` block) rolls back what is uncommitted, as
    closing a fresh connection would, but keeps the connection for the rest of the run.
    """

    _lent = False

    def connect(self) -> HandOver:
        return self

    def begin(self) -> RootTransaction:
        return _compat.begin_as(self, _Begun)

    def close(self) -> None:
        if self._lent:
            if self.in_transaction():
                self.rollback()
            return
        super().close()

    def dispose(self, close: bool = True) -> None:
        """An Engine's ``dispose()``: the run disposes of its own connection."""

    @property
    def url(self) -> URL:
        return self.engine.url

    @contextlib.contextmanager
    def lent(self) -> Iterator[HandOver]:
        """While env.py runs: closing is ending a block, not the connection."""
        self._lent = True
        try:
            yield self
        finally:
            self._lent = False


class _Begun(RootTransaction):
    """``begin()``'s transaction; its ``with`` block yields the connection, as
    ``Engine.begin()`` does (the Connection's own API is unchanged otherwise)."""

    def __enter__(self) -> Any:
        super().__enter__()
        return self.connection


# -- the redirect -----------------------------------------------------------------------


class Redirect:
    """Points the connections env.py opens at one isolated target, while it runs."""

    def __init__(self, target: URL, options: dict[str, str], connect_timeout: int) -> None:
        self.target = target  # the psycopg target URL, search_path and timeouts pinned
        self.options = options  # the same settings, for drivers without libpq options
        self.connect_timeout = connect_timeout
        self.token = secrets.token_hex(8)
        self.records: weakref.WeakSet[Any] = weakref.WeakSet()
        #: connections env.py's engines opened or checked out for this target, and those
        #: env.py took from the session's own engines (:meth:`follow`): a step during which
        #: it grows worked on a connection of its own too (no_trace's and safety's reads
        #: then cannot rely on the migration connection's locks)
        self.checkouts = 0
        self._own_opening = 0  # > 0 while the session opens a connection of its own

    def connect_args(self, dialect: Dialect) -> tuple[list[Any], dict[str, Any]]:
        driver = dialect.driver
        if driver not in DRIVERS:
            raise MigrationEnvironmentError(
                f"env.py connects with the +{driver} driver; gauntlet-sync runs migrations "
                "on +psycopg, +psycopg2 or +asyncpg. Name one of them in the DSN or in "
                "sqlalchemy.url."
            )
        cargs, cparams = dialect.create_connect_args(url_for(self.target, driver))
        if driver == "asyncpg":
            cparams["server_settings"] = {**cparams.get("server_settings", {}), **self.options}
            cparams["timeout"] = float(self.connect_timeout)
        return list(cargs), dict(cparams)

    def owns(self, connection: Connection) -> bool:
        """Whether ``connection`` is one this redirect opened (or the hand-over)."""
        return bool(connection.info.get(_MARK) == (os.getpid(), self.token))

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Redirect this thread's new connections while the block runs."""
        _install()
        ident = threading.get_ident()
        previous = _ACTIVE.get(ident)
        _ACTIVE[ident] = self
        try:
            yield
        finally:
            if previous is None:
                _ACTIVE.pop(ident, None)
            else:
                _ACTIVE[ident] = previous

    def mark(self, connection: Connection) -> None:
        """Count ``connection`` (gauntlet-sync's hand-over) as opened for this target."""
        connection.info[_MARK] = (os.getpid(), self.token)

    def follow(self, engine: Engine) -> None:
        """Treat a connection env.py takes from ``engine``, the session's own (the
        hand-over's ``.engine``), while it runs here as one the redirect opened: marked
        (the outside guard checks its commits) and counted in :attr:`checkouts`. The
        redirect leaves that engine alone (its URL is the target's already), and a
        migration may take another connection from it (``op.get_bind().engine.connect()``)
        and commit there. The session's own connections (:meth:`own_connection`) are not
        env.py's."""
        event.listen(engine, "checkout", self._on_followed_checkout)

    @contextlib.contextmanager
    def own_connection(self) -> Iterator[None]:
        """The session opens its own connection (the hand-over, its catalog connection)."""
        self._own_opening += 1
        try:
            yield
        finally:
            self._own_opening -= 1

    def _on_followed_checkout(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if not self._own_opening and _current() is self:
            record.info[_MARK] = (os.getpid(), self.token)
            self.checkouts += 1

    def release(self) -> None:
        """At the end of the session: close what env.py's engines keep pooled for it."""
        for record in list(self.records):
            if record.info.get(_MARK) == (os.getpid(), self.token):
                with contextlib.suppress(Exception):
                    if not _compat.checked_out(record):
                        record.invalidate()


_ACTIVE: dict[int, Redirect] = {}
_OWN_DIALECTS: weakref.WeakSet[Dialect] = weakref.WeakSet()
_INSTALLED = threading.Lock()
_installed = False


def own(engine: Engine) -> Engine:
    """Mark ``engine`` as gauntlet-sync's: its connections are never redirected."""
    _OWN_DIALECTS.add(engine.dialect)
    return engine


def _install() -> None:
    """The listeners, once per process, on every engine and pool (they do nothing for
    connections that were never redirected, outside env.py)."""
    global _installed
    with _INSTALLED:
        if _installed:
            return
        event.listen(Engine, "do_connect", _on_do_connect)
        event.listen(Pool, "checkout", _on_checkout)
        _installed = True


def _current() -> Redirect | None:
    """The redirect for a connection opened in this thread: the one env.py runs under
    here, else the only one running in the process (an env.py that connects from an event
    loop in another thread, as ``anyio``'s ``from_thread`` does); none when several
    gauntlets run env.py at once in other threads (then the guard refuses the stray
    connection rather than guess)."""
    redirect = _ACTIVE.get(threading.get_ident())
    if redirect is None:
        running = list(_ACTIVE.values())
        if len(running) == 1:
            return running[0]
    return redirect


def _on_do_connect(
    dialect: Dialect, record: Any, cargs: list[Any], cparams: dict[str, Any]
) -> None:
    if dialect in _OWN_DIALECTS:
        record.info[_OWN] = True
        return
    record.info.pop(_MARK, None)
    redirect = _current()
    if redirect is None or dialect.name != "postgresql":
        return
    new_cargs, new_cparams = redirect.connect_args(dialect)
    cargs[:] = new_cargs
    cparams.clear()
    cparams.update(new_cparams)
    record.info[_MARK] = (os.getpid(), redirect.token)
    redirect.records.add(record)
    redirect.checkouts += 1


def _on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    info = record.info
    if info.get(_OWN):
        return
    mark = info.get(_MARK)
    if mark is not None and mark[0] != os.getpid():
        # Inherited through fork: the socket is the parent's, never close it here.
        record.dbapi_connection = proxy.dbapi_connection = None
        raise DisconnectionError("a connection opened by another process")
    redirect = _current()
    if redirect is None:
        if mark is not None:  # opened for a run that is over: reconnect to its own URL
            raise DisconnectionError("a connection redirected by an earlier gauntlet-sync run")
        return
    if mark is not None and mark[1] == redirect.token:
        redirect.checkouts += 1
        return
    if _compat.pool_dialect_name(proxy) not in (None, "postgresql"):
        return
    raise DisconnectionError("a connection not opened for this isolated target")
