"""The isolated workspace of a run: a fresh schema (or database) with a migration session
on it, what lies outside it, and a teardown that leaves nothing behind.

Every check that touches the database gets its session from :meth:`Workspace.session`.
On the way out the session is closed and the target dropped (the janitor's job), after
the migrations' own downgrades have undone what they put outside the schema.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
from alembic.config import Config
from sqlalchemy import Engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from . import janitor, outside, snapshot, walks
from .config import GauntletConfig
from .dsn import mask, redact
from .errors import DatabaseUnavailableError, IsolationError
from .handover import Driver
from .history import History
from .pgsql import driver_connection
from .session import MigrationSession, connection_lost


class Workspace:
    """Creates isolated targets on ``engine`` and migration sessions on them."""

    def __init__(
        self,
        engine: Engine,
        url: URL,
        config: GauntletConfig,
        history: History,
        alembic_config: Config,
        driver: Driver | None = None,
    ) -> None:
        self.driver = driver if driver is not None else Driver()
        self.engine = engine
        self.url = url
        self.config = config
        self.history = history
        self.alembic_config = alembic_config
        #: a user's database: every commit of a session is checked (outside.py)
        self.guarded = False
        #: every schema and database this run created (shared with forked children)
        self.own = outside.OwnNames()

    @property
    def target(self) -> str:
        """The database in use, password masked."""
        return mask(self.url)

    # -- target and session -------------------------------------------------------------

    def create_target(self) -> contextlib.AbstractContextManager[janitor.Target]:
        """A fresh isolated schema or database (entered by the caller), with typed errors
        naming the fix when it cannot be created."""
        cfg = self.config
        make = janitor.isolated_database if cfg.isolation == "database" else janitor.isolated_schema
        return _Guarded(make(self.engine, cfg.schema_prefix), self)

    @contextlib.contextmanager
    def session(self) -> Iterator[MigrationSession]:
        """A fresh isolated target with a migration session on it; both gone afterwards.

        The teardown (an ExitStack, last in first out): undo what escaped the schema, close
        the session, drop the target. After an error the first error is the one to see:
        the undoing's and the drop's own failures are then suppressed.
        """
        cfg = self.config
        with contextlib.ExitStack() as stack:
            target_cm = self.create_target()
            target = target_cm.__enter__()
            stack.push(_exit_quietly_after_error(target_cm, IsolationError))
            session = MigrationSession(
                self.history,
                self.alembic_config,
                target,
                lock_timeout=cfg.lock_timeout,
                statement_timeout=cfg.statement_timeout,
                connect_timeout=cfg.connect_timeout,
                driver=self.driver,
                step_timeout=cfg.step_timeout,
                client_check=(self.engine.dialect.server_version_info or (0,)) >= (14,),
            )
            stack.callback(session.close)
            stack.push(_exit_quietly_after_error(_Undo(self, session), Exception))
            session.outside_at_start = self.outside(session)
            if cfg.prepare is not None:
                with session.connection.begin():
                    cfg.prepare(session.connection)
            if self.guarded:
                self._guard(session)
            yield session

    def _guard(self, session: MigrationSession) -> None:
        """From here on, every commit of the session's migrations is checked first."""
        guard = outside.OutsideGuard(
            self.own, self._observer, database=session.target.database is None
        )
        try:
            guard.baseline()
        except DBAPIError as exc:
            lost = self.lost(exc, "reading the catalog outside the isolated schema")
            if lost is None:
                raise
            raise lost from exc
        session.guard = guard
        outside.watch(session.redirect.token, guard)  # every connection of the session
        guard.adopt(session.connection)

    @contextlib.contextmanager
    def _observer(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection of its own, autocommit: what is committed, as others see it."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            yield driver_connection(conn)

    def lost(self, exc: Exception, doing: str) -> DatabaseUnavailableError | None:
        """A connection lost outside a migration step is the same typed error as inside one
        (the server may die between checks); ``None`` when ``exc`` is something else."""
        reason = connection_lost(exc)
        if reason is None:
            return None
        if isinstance(exc, DBAPIError) and exc.orig is not None:
            reason = str(exc.orig)  # without SQLAlchemy's wrapping and background link
        reason = " ".join(reason.split())
        return DatabaseUnavailableError(
            f"The database went away while {doing}: {redact(reason, self.url)}. "
            "Is the server running?"
        )

    # -- what lies outside the isolated schema ------------------------------------------
    # (The protection of data outside the run: the snapshot at the start, the escapes at
    # any point, and their undoing on the way out. Kept together here.)

    def outside(self, session: MigrationSession) -> snapshot.Snapshot | outside.Snapshot | None:
        """What lies outside the isolated schema (None when the whole database is ours).

        On a user's database the guard has checked every commit; this coarser look leaves
        other runs' schemas out, as concurrent runs create and drop them. On the embedded
        server, which holds nothing of the user's, the guard's whole list is read instead,
        leaving out only the schemas this run created; other runs' schemas are left out
        when the two looks are compared (:meth:`escapes`), as shard processes
        (unittest-parallel, Django's ``--parallel``) share that server."""
        if session.target.database is not None:
            return None
        try:
            with self.engine.connect() as conn:
                if not self.guarded:
                    return outside.take(conn, self.own)
                return snapshot.take_outside(conn, session.target.schema)
        except DBAPIError as exc:
            lost = self.lost(exc, "reading the catalog outside the isolated schema")
            if lost is None:
                raise
            raise lost from exc

    def escapes(self, session: MigrationSession, *, late: bool = False) -> list[str]:
        """What the session's migrations created, dropped or changed outside its schema
        (nothing to look at when the whole database is the run's). ``late``: also what a
        commit's check could not see yet (the guard's :meth:`~outside.OutsideGuard.finish`:
        sessions terminated after the last commit), for the isolation check."""
        before = session.outside_at_start
        after = self.outside(session)
        later = session.guard.finish() if late and session.guard is not None else []
        if before is None or after is None:
            return later
        if isinstance(before, frozenset) and isinstance(after, frozenset):
            return outside.escapes(before, after)
        assert isinstance(before, snapshot.Snapshot) and isinstance(after, snapshot.Snapshot)
        return snapshot.escapes(before, after) + later

    def undo_escapes(self, session: MigrationSession) -> None:
        """Objects a migration put outside the schema are not ours to drop, but they are
        its own downgrades' to undo: step the history down to base before leaving."""
        if not self.escapes(session):
            return
        not_applied = frozenset(self.history.ids) - self.history.ancestors(session.current_heads())
        walks.walk(session, walks.downgrade_plan(self.history, not_applied), name="undo escapes")
        left = self.escapes(session)
        if left:
            warnings.warn(
                "gauntlet-sync: migrations left objects outside the isolated schema that their "
                "downgrades did not remove: " + "; ".join(left),
                stacklevel=2,
            )


class _Guarded(contextlib.AbstractContextManager[janitor.Target]):
    """The janitor's context manager, its creation errors turned into typed ones."""

    def __init__(
        self, inner: contextlib.AbstractContextManager[janitor.Target], workspace: Workspace
    ) -> None:
        self.inner = inner
        self.workspace = workspace

    def __enter__(self) -> janitor.Target:
        try:
            target = self.inner.__enter__()
        except (DBAPIError, psycopg.Error) as exc:  # the janitor runs psycopg.sql directly
            raise self._typed(exc) from None
        self.workspace.own.add(target.database or target.schema)
        return target

    def __exit__(self, *exc: object) -> None:
        self.inner.__exit__(*exc)  # type: ignore[arg-type]

    def _typed(self, exc: DBAPIError | psycopg.Error) -> DatabaseUnavailableError:
        lost = self.workspace.lost(exc, f"creating the isolated {self.workspace.config.isolation}")
        return lost if lost is not None else DatabaseUnavailableError(self._refused(exc))

    def _refused(self, exc: DBAPIError | psycopg.Error) -> str:
        """What the server refused, in its own words; the GRANT that fixes it only when
        the refusal was a missing privilege (a read-only role or a full disk is not)."""
        ws = self.workspace
        isolation = ws.config.isolation
        cause = exc.orig if isinstance(exc, DBAPIError) else exc
        reason = redact(" ".join(str(cause).split()), ws.url)
        message = f"Cannot create the isolated {isolation} on {ws.target}: {reason}."
        if getattr(cause, "sqlstate", None) != "42501":  # insufficient_privilege
            return message + " Fix that on the server, or use another DSN."
        user, database = ws.url.username or "<user>", ws.url.database or "<database>"
        if isolation == "database":
            return message + f" The role needs CREATEDB (ALTER ROLE {user} CREATEDB)."
        return (
            message + " The role needs CREATE on the database "
            f"(GRANT CREATE ON DATABASE {database} TO {user})."
        )


class _Undo(contextlib.AbstractContextManager[None]):
    """Leaving a session: its migrations' escapes undone (see Workspace.undo_escapes)."""

    def __init__(self, workspace: Workspace, session: MigrationSession) -> None:
        self.workspace = workspace
        self.session = session

    def __exit__(self, *exc: object) -> None:
        self.workspace.undo_escapes(self.session)


def _exit_quietly_after_error(
    cm: contextlib.AbstractContextManager[Any], quiet: type[BaseException]
) -> Callable[..., None]:
    """An ExitStack callback that leaves ``cm`` as if nothing had been raised; when the
    body failed, a ``quiet`` error of its own must not hide the body's."""

    def leave(exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        if exc_type is None:
            cm.__exit__(None, None, None)
            return
        with contextlib.suppress(quiet):
            cm.__exit__(None, None, None)

    return leave
