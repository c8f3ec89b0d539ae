"""Drive alembic steps on an isolated target through the project's own env.py.

The env.py is the only way migrations run: it may configure ``include_object``,
``compare_type``, the version table, custom options. It is reached three ways at once,
so that every common shape of env.py lands in the isolated schema:

* ``config.attributes["connection"]``: a connection whose ``search_path`` is the schema
  (pinned through libpq ``options``, so it survives rollbacks);
* ``sqlalchemy.url``: the same URL, for the stock env.py that builds its own engine;
* ``config.attributes["target_schema"]``: for alembic-gauntlet style env.py files.

Many steps run inside one env.py invocation: the ``fn`` handed to the migration context
is a generator that alembic pulls steps from one by one, so a 300-revision stairway costs
a handful of env.py runs instead of 900 ``alembic.command`` calls.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import pickle
import socket
import threading
import time
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from psycopg import pq
from sqlalchemy import Engine, column, create_engine, table, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import CompileError, DBAPIError
from sqlalchemy.pool import NullPool

from . import _compat, interrupts, outside
from .database import with_connect_timeout
from .dsn import mask, redact
from .errors import (
    DatabaseUnavailableError,
    GauntletError,
    MigrationEnvironmentError,
    MissingDowngradeError,
)
from .handover import Driver, HandOver, Redirect, own, url_for
from .history import History
from .janitor import Target
from .outside import OutsideGuard

Direction = Literal["upgrade", "downgrade"]
#: A step's part in a walk: hooks and judgements branch on this, never on ``label``.
StepKind = Literal["upgrade", "downgrade", "re-upgrade"]


@dataclasses.dataclass(frozen=True)
class Step:
    """One revision applied in one direction.

    ``revision`` is the revision id and ``direction`` ``upgrade`` or ``downgrade``.
    ``label`` is display text only (what a person calls the step, e.g. alembic's name of
    it, or a note such as "(inserting revision_data)"); ``kind`` is its part in a walk:
    ``re-upgrade`` is the stairway's second application of a revision. It defaults to the
    direction.
    """

    revision: str
    direction: Direction
    label: str
    kind: StepKind | None = None

    def __post_init__(self) -> None:
        if self.kind is None:
            object.__setattr__(self, "kind", self.direction)

    @property
    def is_upgrade(self) -> bool:
        """Whether the step applies the revision (``direction == "upgrade"``)."""
        return self.direction == "upgrade"


@dataclasses.dataclass(frozen=True)
class Progress:
    """A progress event, reported before each step of a walk.

    ``walk`` names the walk (``upgrade``, ``stairway``, ``downgrade_to_base``), ``step`` is
    the :class:`Step` about to run, ``index`` the 1-based position of its revision in the
    walk and ``total`` the number of revisions the walk covers ("revision index of total").
    """

    walk: str
    step: Step
    index: int
    total: int


ProgressCallback = Callable[[Progress], None]


class StepFailed(Exception):
    """A migration step raised; carries the step and the (password-free) cause."""

    def __init__(self, step: Step, cause: BaseException, message: str) -> None:
        super().__init__(message)
        self.step = step
        self.cause = cause

    def __reduce__(self) -> tuple[object, ...]:
        # A walk's outcome can come back from a forked child; a cause that does not pickle
        # (a driver error holding a connection) travels as its text.
        cause: BaseException = self.cause
        try:
            pickle.dumps(cause)
        except Exception:  # noqa: BLE001 - any pickling failure
            cause = RuntimeError(f"{type(self.cause).__name__}: {self.cause}")
        return (type(self), (self.step, cause, str(self)))


class StepHooks:
    """Called around each step on the migration's own connection (inside its transaction)."""

    def before(self, step: Step, conn: Connection) -> None:  # pragma: no cover - default
        pass

    def after(self, step: Step, conn: Connection) -> None:  # pragma: no cover - default
        pass


def session_settings(
    schema: str, *, lock_timeout: float | None, statement_timeout: float | None
) -> dict[str, str]:
    """The server settings every connection of a session starts with."""
    settings = {"search_path": schema}
    if lock_timeout:
        settings["lock_timeout"] = str(int(lock_timeout * 1000))
    if statement_timeout:
        settings["statement_timeout"] = str(int(statement_timeout * 1000))
    return settings


#: alembic's ``context`` and ``op`` are proxies global to the process: one env.py run at a
#: time may use them. Gauntlets in several threads take turns here (the walks of one
#: run are serial anyway) instead of mixing up each other's migrations.
_ALEMBIC_PROXIES = threading.RLock()


def _new_lock_in_child() -> None:
    global _ALEMBIC_PROXIES
    _ALEMBIC_PROXIES = threading.RLock()


os.register_at_fork(after_in_child=_new_lock_in_child)

#: after a step's deadline cancelled its query, how long the server has to answer before
#: the client stops waiting for it (a frozen server answers nothing).
DEADLINE_GRACE_SECONDS = 2.0


class _Deadline:
    """Ends a step that runs past ``seconds``, on the client side: the step's query is
    cancelled on the server; if the server has not answered ``DEADLINE_GRACE_SECONDS``
    later (a frozen server), the connection's socket is shut so the client stops waiting.
    The step then fails, naming its revision and the setting."""

    def __init__(self, seconds: float, conn: Connection, step: Step) -> None:
        self.seconds = seconds
        self.step = step
        self.expired = False
        self.unanswered = False  # not even the cancel request: the server is frozen
        self._done = threading.Event()
        dbapi = conn.connection.dbapi_connection
        self._pg: Any = dbapi
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        self.expired = True
        started = time.monotonic()
        answered = False
        with contextlib.suppress(Exception):
            cancel_safe = getattr(self._pg, "cancel_safe", None)  # psycopg 3.2+
            if cancel_safe is not None:
                cancel_safe(timeout=DEADLINE_GRACE_SECONDS)
            else:  # another driver's connection, from env.py's own engine
                self._pg.cancel()
            answered = True
        left = DEADLINE_GRACE_SECONDS - (time.monotonic() - started)
        if self._done.wait(max(left, 0.05)) or answered:
            return  # the server took the cancel: the step ends (Python code when it returns)
        pgconn = getattr(self._pg, "pgconn", None)
        if pgconn is None or pgconn.transaction_status != pq.TransactionStatus.ACTIVE:
            return  # no query under way: Python code of the step's; it fails when it returns
        self.unanswered = True
        with contextlib.suppress(Exception):  # the server did not answer: stop waiting
            duplicate = socket.socket(fileno=os.dup(pgconn.socket))
            with duplicate:
                duplicate.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self._done.set()
        self._timer.cancel()
        if self._timer.is_alive() and self._timer is not threading.current_thread():
            self._timer.join()


#: PostgreSQL 14+: a backend whose client is gone (SIGKILLed) notices it within this many
#: milliseconds even while its query runs, and ends it instead of sleeping on for an hour.
CLIENT_CHECK_MS = 1000


def search_path_url(
    url: URL,
    schema: str,
    *,
    lock_timeout: float | None,
    statement_timeout: float | None,
    client_check: bool = False,
) -> URL:
    """The target URL with the session's search_path (and timeouts) pinned by libpq."""
    settings = session_settings(
        schema, lock_timeout=lock_timeout, statement_timeout=statement_timeout
    )
    options = [f"-c{name}={value}" for name, value in settings.items()]
    if client_check:
        options.append(f"-cclient_connection_check_interval={CLIENT_CHECK_MS}")
    existing = url.query.get("options")
    if isinstance(existing, str) and existing:
        options.insert(0, existing)
    return url.update_query_dict({"options": " ".join(options)})


class MigrationSession:
    """One isolated target and the env.py runs that migrate it.

    Two kinds of connection: the one handed to env.py (:class:`~.handover.HandOver`, on
    the project's sync driver: psycopg2 when it names it, else psycopg), and
    gauntlet-sync's own (:attr:`own_connection`, always psycopg), which reads the catalog
    for the head-state checks. With psycopg for both, they are one connection.
    """

    def __init__(
        self,
        history: History,
        config: Config,
        target: Target,
        *,
        lock_timeout: float | None = None,
        statement_timeout: float | None = None,
        connect_timeout: int = 10,
        driver: Driver | None = None,
        step_timeout: float | None = None,
        client_check: bool = False,
    ) -> None:
        self.history = history
        self.step_timeout = step_timeout
        self._deadline: _Deadline | None = None
        self._expired: _Deadline | None = None
        self.config = config
        self.target = target
        self.driver = driver if driver is not None else Driver()
        self.timeouts = {"lock_timeout": lock_timeout, "statement_timeout": statement_timeout}
        url = search_path_url(
            target.url,
            target.schema,
            lock_timeout=lock_timeout,
            statement_timeout=statement_timeout,
            client_check=client_check,
        )
        self.url = with_connect_timeout(url, connect_timeout)
        self.engine: Engine = own(create_engine(self.url, poolclass=NullPool))
        sync_driver = self.driver.sync_name
        self.handover_engine: Engine = (
            self.engine
            if sync_driver == "psycopg"
            else own(create_engine(url_for(self.url, sync_driver), poolclass=NullPool))
        )
        #: sqlalchemy.url as env.py reads it: the target, on the project's driver.
        self.env_url = url_for(self.url, self.driver.name)
        self.redirect = Redirect(
            self.url,
            session_settings(
                target.schema, lock_timeout=lock_timeout, statement_timeout=statement_timeout
            ),
            connect_timeout,
        )
        for engine in {self.engine, self.handover_engine}:
            self.redirect.follow(engine)
        self._conn: HandOver | None = None
        self._own: Connection | None = None
        self.env_metadata: Any = None
        #: set by the Gauntlet: the catalog outside the target when the session began
        #: (a snapshot.Snapshot; None when the target is a whole database).
        self.outside_at_start: Any = None
        self.version_table: tuple[str | None, str] = (None, "alembic_version")
        #: what checks read once per session and share (see RunContext.escapes).
        self.memo: dict[str, Any] = {}
        #: set by the Workspace for a user's database: checks every commit (outside.py)
        self.guard: OutsideGuard | None = None

    # -- connection -------------------------------------------------------------------

    @property
    def connection(self) -> HandOver:
        """The connection env.py is handed (and revision data and hand-written tests use)."""
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            self._conn = self._connect(lambda: HandOver(self.handover_engine))
            self.redirect.mark(self._conn)
            if self.guard is not None:
                self.guard.adopt(self._conn)
        return self._conn

    @property
    def own_connection(self) -> Connection:
        """gauntlet-sync's own psycopg connection to the target, for reading the catalog."""
        if self.handover_engine is self.engine:
            return self.connection
        if self._own is None or self._own.closed or self._own.invalidated:
            self._own = self._connect(self.engine.connect)
        return self._own

    def _connect(self, connect: Callable[[], Any]) -> Any:
        try:
            with self.redirect.own_connection():
                return connect()
        except DBAPIError as exc:
            raise DatabaseUnavailableError(
                f"Cannot connect to the isolated target: {redact(str(exc.orig), self.url)}"
            ) from exc

    def forget_connection(self) -> None:
        """In a forked child: let go of the parent's connections without closing them
        (closing would end the parent's sessions on the server); the next use opens new
        ones. Pooled connections env.py's engines opened are left by the redirect."""
        self._conn = None
        self._own = None

    def close(self) -> None:
        if self.guard is not None:
            self.guard.close()
            outside.unwatch(self.redirect.token)
        for conn in (self._conn, self._own):
            if conn is None:
                continue
            with contextlib.suppress(Exception):
                if conn.in_transaction():
                    conn.rollback()
                conn.close()
        self._conn = self._own = None
        self.redirect.release()
        self.engine.dispose()
        self.handover_engine.dispose()

    # -- env.py -----------------------------------------------------------------------

    def _fresh_session(self) -> None:
        """Reset the session as a new ``alembic`` command would find it: what
        a previous env.py run left on it (a migration's ``SET``, temporary table or
        advisory lock) is reset in place (the connection object stays the same for code
        that holds it). A transaction still open is someone's (``prepare``): left alone."""
        conn = self.connection
        if conn.in_transaction():
            return
        dirty = bool(session_state(conn))
        conn.rollback()
        if dirty:
            # RESET ALL first, in a transaction of its own: one begun under a session made
            # read-only could not drop the temporary tables.
            for statement in (
                "SET SESSION AUTHORIZATION DEFAULT",
                "RESET ALL",
                "DISCARD TEMP",
                "SELECT pg_advisory_unlock_all()",
            ):
                conn.execute(text(statement))
                conn.commit()

    def _invoke_env(
        self,
        fn: Callable[[Any, MigrationContext], Iterable[Any]],
        started: list[bool],
        as_sql: bool = False,
    ) -> None:
        conn = self.connection
        if conn.in_transaction():  # reads or rows of ours: env.py gets a fresh connection,
            conn.commit()  # as from an Engine (its begin() must be able to begin)
        self._fresh_session()
        attributes = self.config.attributes
        attributes["connection"] = conn
        attributes["target_schema"] = self.target.schema
        self.config.set_main_option(
            "sqlalchemy.url",
            self.env_url.render_as_string(hide_password=False).replace("%", "%%"),
        )

        def tracking(heads: Any, ctx: MigrationContext) -> Iterable[Any]:
            started[0] = True
            self.env_metadata = ctx.opts.get("target_metadata")
            self.version_table = (ctx.version_table_schema, ctx.version_table)
            self._refuse_foreign_version_table()
            return fn(heads, ctx)

        script = self.history.script
        environment = EnvironmentContext(self.config, script, fn=tracking, as_sql=as_sql)
        _compat.guard_configure(environment, self._refuse_foreign)
        try:
            with _ALEMBIC_PROXIES, conn.lent(), self.redirect.active(), environment:
                self.history.script.run_env()
        except BaseException:
            with contextlib.suppress(Exception):
                if conn.in_transaction():
                    conn.rollback()
            raise
        finally:
            attributes.pop("connection", None)
        if conn.in_transaction():  # env.py began before configure(): we own its transaction
            conn.commit()

    def _refuse_foreign(self, connection: Connection | None) -> None:
        """Before alembic runs anything on it: the connection env.py configured must be
        the hand-over or one the redirect opened for this target."""
        if connection is None or not isinstance(connection, Connection):
            return  # offline mode (--sql): alembic's mock, nothing runs on a database
        if self.redirect.owns(connection):
            return
        # A connection of its own from the hand-over's ``.engine`` (mlflow's env.py): that
        # engine is the run's, its URL the isolated target's, so the connection lands there.
        if connection.engine not in (self.engine, self.handover_engine):
            raise MigrationEnvironmentError(
                f"env.py at {self.history.script.env_py_location} configured alembic with a "
                "connection gauntlet-sync did not hand over or open for this run (opened "
                "before env.py ran, or in another thread): its migrations would not land in "
                "the isolated schema. Let env.py connect while it runs (engine.connect() "
                "inside run_migrations_online()) or use config.attributes['connection']."
            )

    def _refuse_foreign_version_table(self) -> None:
        """In an isolated schema, alembic's version table must be in it too: elsewhere, a
        run would leave its row in another schema's table, and the next run would find it.
        Raised before any step runs (what alembic did to create the table rolls back)."""
        schema = self.version_table[0]
        if self.target.database is not None or schema in (None, self.target.schema):
            return
        raise MigrationEnvironmentError(
            f"env.py at {self.history.script.env_py_location} sets "
            f"version_table_schema={schema!r}: under schema isolation the version table must "
            "be in the isolated schema. Pass version_table_schema="
            "config.attributes.get('target_schema') (or leave it unset), or use "
            "isolation='database' (CLI: --isolation database)."
        )

    def run(
        self,
        steps: Iterable[Step],
        *,
        hooks: StepHooks | None = None,
        walk: str = "migrate",
        progress: ProgressCallback | None = None,
        total: int = 0,
        first_index: int = 0,
        commit_each_step: bool = False,
    ) -> None:
        """Run ``steps`` in order in one env.py invocation.

        ``commit_each_step=False`` runs them in env.py's one transaction, as
        ``alembic upgrade heads`` does; ``True`` commits after every step, as separate
        alembic commands would (an enum value added by one step is usable by the next).
        """
        pending: Iterator[Step] = iter(steps)
        revision_map = self.history.script.revision_map
        state: dict[str, Any] = {
            "current": None,
            "done": False,
            "index": first_index,  # revisions before these steps, when a walk is split
            "last_rev": None,
            "ended": False,  # the current step's hooks ran their ``after``
        }

        def end_step(conn: Connection) -> None:
            """The hooks' ``after`` once per step: in the step's transaction, before its
            commit. Under ``transaction_per_migration=True`` alembic commits each revision
            itself before the plan resumes, so there it runs from alembic's
            ``on_version_apply`` (after the version update, still inside that transaction),
            as it runs right after the step in env.py's one transaction otherwise."""
            if hooks is None or state["ended"] or state["current"] is None:
                return
            state["ended"] = True
            hooks.after(state["current"], conn)

        def plan(heads: Any, ctx: MigrationContext) -> Iterator[Any]:
            conn = ctx.connection
            assert conn is not None
            if commit_each_step:  # as env.py left the session: each step starts from it
                state["session"] = session_state(conn)
            if hooks is not None and _compat.per_migration(ctx):
                _compat.on_version_apply(ctx, lambda: end_step(conn))
            for step in pending:
                interrupts.check()  # a signal's exception dropped by the last step's code
                if step.revision != state["last_rev"]:
                    state["index"] += 1
                    state["last_rev"] = step.revision
                if progress is not None:
                    progress(Progress(walk, step, state["index"], total))
                state["current"] = step
                self._start_deadline(conn, step)
                if self.guard is not None:
                    self.guard.where = (f"{step.label} of {step.revision}", step.revision)
                if hooks is not None:
                    hooks.before(step, conn)
                self.history.before_run(step.revision)
                state["ended"] = False
                yield _compat.revision_step(
                    revision_map, self.history.get(step.revision), step.is_upgrade
                )
                end_step(conn)
                if commit_each_step:
                    _compat.commit_between_steps(ctx, before_commit=outside.before_commit)
                    _compat.renew_impl(ctx)
                    _restore_session(ctx, state)
                self._stop_deadline()
                if self._expired is not None:  # it ended, but only after its deadline
                    raise TimeoutError(f"the step took longer than {self.step_timeout:g} s")
                state["current"] = None
            if self.guard is not None and not commit_each_step:
                self.guard.where = (f"the {walk} (one transaction)", None)
            state["done"] = True

        self._drive(
            plan,
            lambda: state["current"],
            lambda: f"committing the {walk}" if state["done"] else f"starting the {walk}",
        )
        if not state["done"]:
            raise self._ran_nothing()

    def render_offline(self) -> tuple[str, list[tuple[str, BaseException]]]:
        """Every revision's upgrade as alembic's offline mode renders it (``alembic
        upgrade --sql``, through env.py's offline branch): the SQL, and each revision whose
        upgrade raised while rendering, with what it raised. Nothing runs on the database;
        the session's connection is still handed over (in ``config.attributes``), so an
        env.py that connects anyway lands in the isolated target."""
        failures: list[tuple[str, BaseException]] = []
        revision_map = self.history.script.revision_map
        state: dict[str, Any] = {"current": None, "done": False}

        def plan(heads: Any, ctx: MigrationContext) -> Iterator[Any]:
            for rev in self.history.ids:
                interrupts.check()
                state["current"] = Step(rev, "upgrade", "upgrade (offline)")

                def failed(exc: BaseException, rev: str = rev) -> None:
                    failures.append((rev, exc))

                self.history.before_run(rev)
                yield _compat.offline_step(revision_map, self.history.get(rev), failed)
            state["current"] = None
            state["done"] = True

        buffer = io.StringIO()
        kept = self.config.output_buffer
        self.config.output_buffer = buffer
        try:
            self._drive(plan, lambda: state["current"], lambda: "rendering offline", as_sql=True)
        finally:
            self.config.output_buffer = kept
        if not state["done"]:
            raise self._ran_nothing()
        return buffer.getvalue(), failures

    def _drive(
        self,
        fn: Callable[[Any, MigrationContext], Iterable[Any]],
        current_step: Callable[[], Step | None],
        between_steps: Callable[[], str] = lambda: "",
        as_sql: bool = False,
    ) -> None:
        """Run env.py with ``fn`` as its migration function; errors become typed ones."""
        started = [False]
        self._expired = None
        try:
            self._invoke_env(fn, started, as_sql)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit too: sys.exit() in a migration is a failure
            self._stop_deadline()
            self._raise_for(exc, current_step(), started[0], between_steps())
            raise
        finally:
            self._stop_deadline()
        if not started[0]:
            raise self._ran_nothing()

    def restart_deadline(self, conn: Connection, step: Step) -> None:
        """For a hook that did work of its own before the step (safety's probe): the step
        gets its whole ``step_timeout`` again, and a deadline that ended the hook's work is
        forgotten (the hook saw that as its own error)."""
        deadline, self._deadline = self._deadline, None
        if deadline is not None:
            deadline.stop()
        self._expired = None
        self._start_deadline(conn, step)

    def _start_deadline(self, conn: Connection, step: Step) -> None:
        self._stop_deadline()
        if self.step_timeout:
            self._deadline = _Deadline(self.step_timeout, conn, step)

    def _stop_deadline(self) -> None:
        deadline, self._deadline = self._deadline, None
        if deadline is not None:
            deadline.stop()
            if deadline.expired:
                self._expired = deadline

    def _ran_nothing(self) -> MigrationEnvironmentError:
        return MigrationEnvironmentError(
            f"env.py at {self.history.script.env_py_location} ran no migrations: it must "
            "call context.run_migrations() once, in online mode."
        )

    def _raise_for(
        self, exc: BaseException, step: Step | None, started: bool, between_steps: str = ""
    ) -> None:
        if isinstance(exc, DatabaseUnavailableError):
            raise exc
        expired = self._expired
        if expired is not None and expired.unanswered:
            raise DatabaseUnavailableError(
                f"The server stopped answering during {expired.step.label} of "
                f"{expired.step.revision}: no reply within step_timeout={expired.seconds:g} s, "
                f"nor to the cancel request {DEADLINE_GRACE_SECONDS:g} s after. Is the server "
                "frozen or overloaded?"
            ) from exc
        if expired is not None:  # whatever the query's end looked like, the deadline did it
            raise StepFailed(
                expired.step,
                exc,
                f"{expired.step.label} of {expired.step.revision} ran past "
                f"step_timeout={expired.seconds:g} s (its query, if one ran, was cancelled on "
                f"the server: {describe(exc, self.url)}); make the step faster or raise "
                "GauntletConfig.step_timeout (CLI: --step-timeout)",
            ) from exc
        # Before the typed errors: a step hook (a catalog snapshot, revision data) that hit
        # a dead connection reports it as its own failure, but the cause is the server.
        unavailable = connection_lost(exc)
        if unavailable is None and isinstance(exc, (StepFailed, GauntletError)):
            raise exc  # already says what and where
        if unavailable is not None:
            if step is not None:
                where = f" during {step.label} of {step.revision}"
            else:
                where = f" while {between_steps}" if between_steps else ""
            raise DatabaseUnavailableError(
                f"The database went away{where}: "
                f"{redact(' '.join(unavailable.split()), self.url)}. Is the server running?"
            ) from exc
        if step is not None:
            missing = missing_downgrade(exc, step)
            if missing is not None:
                raise StepFailed(step, missing, describe(missing)) from exc
            raise StepFailed(step, exc, describe(exc, self.url) + self._timeout_hint(exc)) from exc
        if not started:
            raise MigrationEnvironmentError(
                f"env.py at {self.history.script.env_py_location} failed before any migration "
                f"ran: {describe(exc, self.url)}. {self._blame(exc)}"
            ) from exc
        if isinstance(exc, SystemExit):  # env.py or a callback of its ended the process
            raise MigrationEnvironmentError(
                f"env.py at {self.history.script.env_py_location} called "
                f"{describe(exc, self.url)} after its migrations began. Fix env.py: "
                "`alembic upgrade head` must work with it."
            ) from exc

    def _blame(self, exc: BaseException) -> str:
        """Who can fix an env.py that failed before any migration: the shape of what
        gauntlet-sync handed over, the installation, or env.py itself."""
        text = str(exc)
        driver = self.driver
        if isinstance(exc, ModuleNotFoundError) and exc.name in ("psycopg2", "asyncpg", "greenlet"):
            extra = "psycopg2" if exc.name == "psycopg2" else "asyncpg"
            return (
                f"env.py's engine needs {exc.name}, which is not installed where gauntlet-sync "
                f"runs: pip install 'gauntlet-sync[{extra}]'."
            )
        if "requires an async driver" in text or "is not async" in text:
            return (
                f"env.py builds an async engine, but the driver named is +{driver.name} "
                f"({driver.named_in or 'the default'}), which is not async: name +asyncpg or "
                "+psycopg there."
            )
        if isinstance(exc, AttributeError) and "'HandOver'" in text:
            return (
                "env.py used config.attributes['connection'] in a way gauntlet-sync's hand-over "
                "does not support: it is the run's Connection, which also offers an Engine's "
                "connect(), begin(), dispose() and url. If env.py needs more of an Engine, let "
                "it build one from sqlalchemy.url when config.attributes['connection'] is a "
                "Connection: its connections are pointed at the isolated target."
            )
        if isinstance(exc, RuntimeError) and "running event loop" in text:
            return (
                "env.py starts an event loop (asyncio.run), and gauntlet-sync was called from "
                "inside one (an async test?): call it from synchronous code or a thread, e.g. "
                "await asyncio.to_thread(gauntlet.run_all)."
            )
        return (
            "gauntlet-sync ran it with sqlalchemy.url set to the isolated target "
            f"({mask(self.env_url)}), a Connection that also works as an Engine in "
            "config.attributes['connection'], and every connection env.py opens pointed at "
            "that target; `alembic upgrade head` would fail the same way. Fix env.py."
        )

    def _timeout_hint(self, exc: BaseException) -> str:
        """A step cancelled by our own lock/statement timeout is not a bug in the migration
        (or not only): say which setting ended it and what to do."""
        text = str(getattr(exc, "orig", exc))
        for setting, what in (
            ("lock_timeout", "another session holds a lock this step needs: end it"),
            ("statement_timeout", "the step ran too long: make it faster"),
        ):
            seconds = self.timeouts[setting]
            if seconds and setting.replace("_", " ") in text:
                option = "--" + setting.replace("_", "-")
                return (
                    f" ({setting}={seconds:g} s: {what}, or raise GauntletConfig.{setting}, "
                    f"CLI: {option})"
                )
        return ""

    # -- questions answered through env.py ---------------------------------------------

    def inspect(self, fn: Callable[[MigrationContext], Any]) -> Any:
        """Run ``fn`` with the env.py-configured migration context; no steps run."""
        box: list[Any] = []

        def plan(heads: Any, ctx: MigrationContext) -> Sequence[Any]:
            box.append(fn(ctx))
            return ()

        self._drive(plan, lambda: None)
        if not box:
            raise self._ran_nothing()
        return box[0]

    def compare(self, metadata: Any, *, compare_server_default: bool) -> tuple[Any, list[Any]]:
        """Autogenerate's diff, under env.py's include_object / compare_type settings."""

        def diff(ctx: MigrationContext) -> tuple[Any, list[Any]]:
            target = metadata if metadata is not None else ctx.opts.get("target_metadata")
            if target is None:
                return None, []
            if compare_server_default and not ctx.opts.get("compare_server_default"):
                # env.py's context, with the option turned on (a callable of its own wins)
                ctx = MigrationContext.configure(
                    connection=ctx.connection,
                    environment_context=ctx.environment_context,
                    opts={**ctx.opts, "compare_server_default": True},
                )
            try:
                return target, list(compare_metadata(ctx, target))
            except CompileError as exc:
                raise UncomparableModels(target, exc) from exc

        result: tuple[Any, list[Any]] = self.inspect(diff)
        return result

    def current_heads(self) -> tuple[str, ...]:
        heads: tuple[str, ...] = self.inspect(lambda ctx: tuple(ctx.get_current_heads()))
        return heads

    def insert_rows(
        self,
        conn: Connection,
        table_name: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        skip_existing: bool = False,
    ) -> None:
        """Insert ``rows``; ``skip_existing`` leaves out rows whose keys are already there."""
        if not rows:
            return
        names = sorted({key for row in rows for key in row})
        statement = pg_insert(table(table_name, *(column(n) for n in names)))
        if skip_existing:
            statement = statement.on_conflict_do_nothing()
        conn.execute(statement, [dict(r) for r in rows])


# What a step can leave on the session (not in the database) that a new command's
# connection would not have: settings made with SET (not SET LOCAL), temporary tables,
# session advisory locks. Settings given at connection start (search_path, timeouts) are
# source "client", not "session".
_SETTINGS_SQL = "SELECT name, setting FROM pg_settings WHERE source = 'session'"
# pg_my_temp_schema() is 0 until the session's first temporary object: only then is
# pg_class (no index on relnamespace alone) scanned. CASE, not AND: the planner may
# order an AND's operands, and the EXISTS (an InitPlan) runs only when CASE reaches it.
_TEMP_SQL = """
SELECT '#temp', '' WHERE CASE WHEN pg_my_temp_schema() = 0 THEN false ELSE EXISTS (
    SELECT 1 FROM pg_class WHERE relnamespace = pg_my_temp_schema()) END"""
_ADVISORY_SQL = """
SELECT '#advisory', '' WHERE EXISTS (
    SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid())"""
_UNLOCK_SQL = "SELECT '#unlocked', '' WHERE pg_advisory_unlock_all() IS NULL"
# SET ROLE and SET SESSION AUTHORIZATION are settings pg_settings never lists (and RESET
# ALL leaves the role alone): read apart, each only when it differs from a new
# connection's (no role; the user that logged in, which pg_stat_activity keeps).
_ROLE_SQL = """
SELECT '#role', current_setting('role') WHERE current_setting('role') <> 'none'
UNION ALL
SELECT '#session_authorization', session_user::text WHERE session_user::text <> (
    SELECT usename::text FROM pg_stat_activity WHERE pid = pg_backend_pid())"""
# The step probe's: pg_stat_activity copies every backend slot's status (max_connections
# of them, each with its query text) once per transaction, which after a committed step
# made it most of the probe's cost. The user that logged in is the backend's for life
# (pg_stat_activity's usename is set once, at connection start): read once per walk
# (_LOGIN_SQL) and compared here, together with the backend's pid: a '#backend' row says
# the connection is another backend's now, and the login is read again there.
_STEP_ROLE_SQL = """
SELECT '#role', current_setting('role') WHERE current_setting('role') <> 'none'
UNION ALL
SELECT '#session_authorization', session_user::text
    WHERE session_user::text <> CAST(:login AS text)
UNION ALL
SELECT '#backend', pg_backend_pid()::text WHERE pg_backend_pid() <> CAST(:pid AS integer)"""
_LOGIN_SQL = text(
    "SELECT pg_backend_pid(),"
    " (SELECT usename::text FROM pg_stat_activity WHERE pid = pg_backend_pid())"
)
# Constant SQL only (no identifier or value is pasted in): joined once, at import.
_SESSION_STATE_SQL = text(
    "\nUNION ALL\n".join((_SETTINGS_SQL, _ROLE_SQL, _TEMP_SQL, _ADVISORY_SQL))
)

# Between walk steps (_restore_session). Reading pg_locks walks the server's whole lock
# table (sized max_locks_per_transaction x max_connections): half the probe's cost. The
# step probe does not read it: when the walk began without session advisory locks it
# releases any a step took (pg_advisory_unlock_all(), this backend's own lock table only),
# as the full probe's difference would; when env.py held one from the start it leaves
# them alone, as the full probe's equal '#advisory' entries did. The void function is
# volatile: the Result's qual calls it exactly once, and it returns no row.
_STEP_STATE_SQL = {
    False: text("\nUNION ALL\n".join((_UNLOCK_SQL, _SETTINGS_SQL, _STEP_ROLE_SQL, _TEMP_SQL))),
    True: text("\nUNION ALL\n".join((_SETTINGS_SQL, _STEP_ROLE_SQL, _TEMP_SQL))),
}


class UncomparableModels(Exception):
    """autogenerate could not render the models for PostgreSQL (SQLAlchemy's
    ``CompileError``): the cause, with the models' MetaData it compared (env.py's
    ``target_metadata`` or the configured one), so that models_match can say where."""

    def __init__(self, models: Any, cause: CompileError) -> None:
        super().__init__(str(cause))
        self.models = models
        self.cause = cause


def session_state(conn: Connection) -> dict[str, str]:
    return {str(name): str(value) for name, value in conn.execute(_SESSION_STATE_SQL)}


def _step_state(conn: Connection, state: dict[str, Any]) -> dict[str, str]:
    """``session_state(conn)`` as ``_restore_session`` needs it, without reading pg_locks
    (see ``_STEP_STATE_SQL``): its '#advisory' entry is the baseline's. When env.py left a
    temporary table before the walk, the full probe: any difference there drops it
    (DISCARD TEMP), a lock a step took included, and only pg_locks shows that one.
    Nor pg_stat_activity: the user that logged in is read once per walk into ``state``
    (see ``_STEP_ROLE_SQL``), and again should the connection be another backend's."""
    baseline: dict[str, str] = state["session"]
    if "#temp" in baseline:
        return session_state(conn)
    held = "#advisory" in baseline
    if "#login" not in state:
        state["#backend"], state["#login"] = conn.execute(_LOGIN_SQL).one()
    now = _step_rows(conn, held, state)
    if "#backend" in now:  # another backend than the login's: read it there, probe again
        state["#backend"], state["#login"] = conn.execute(_LOGIN_SQL).one()
        now = _step_rows(conn, held, state)
    if held:
        now["#advisory"] = baseline["#advisory"]
    return now


def _step_rows(conn: Connection, held: bool, state: dict[str, Any]) -> dict[str, str]:
    rows = conn.execute(_STEP_STATE_SQL[held], {"login": state["#login"], "pid": state["#backend"]})
    return {str(name): str(value) for name, value in rows}


def _restore_session(ctx: MigrationContext, state: dict[str, Any]) -> None:
    """Put the session back as the walk's first step found it (as env.py set it up).

    Each alembic command connects anew, so a migration's ``SET`` (a ``search_path`` that
    sends the next step's tables elsewhere, ``default_transaction_read_only``), its
    ``CREATE TEMP TABLE`` or a session advisory lock never reach the next command. In a
    walk they would reach the next step: settings changed since the first step are set
    back, temporary tables dropped, advisory locks released, and the transaction begun
    under them committed. One catalog read per step when nothing changed.
    """
    conn = ctx.connection
    assert conn is not None
    baseline: dict[str, str] = state["session"]
    now = _step_state(conn, state)
    if now == baseline:
        return
    _restore_role(conn, now, baseline)
    for name in sorted(now.keys() | baseline.keys()):
        if name in _ROLE_ENTRIES:
            continue
        if name == "#temp":
            conn.execute(text("DISCARD TEMP"))
        elif name == "#advisory":
            conn.execute(text("SELECT pg_advisory_unlock_all()"))
        elif name not in baseline:
            conn.execute(
                text("SELECT set_config(name, reset_val, false) FROM pg_settings WHERE name = :n"),
                {"n": name},
            )
        elif now.get(name) != baseline[name]:
            conn.execute(text("SELECT set_config(:n, :v, false)"), {"n": name, "v": baseline[name]})
    # the transaction these ran in began under the changed settings (read-only, say)
    _compat.commit_between_steps(ctx, before_commit=outside.before_commit)


_ROLE_ENTRIES = frozenset({"#role", "#session_authorization"})


def _restore_role(conn: Connection, now: dict[str, str], baseline: dict[str, str]) -> None:
    """A migration's ``SET SESSION AUTHORIZATION`` / ``SET ROLE`` set back: the next
    command's connection would run as the user that logged in (or as env.py made it).
    The session user first: setting it also drops the role."""
    if all(now.get(name) == baseline.get(name) for name in _ROLE_ENTRIES):
        return
    user = baseline.get("#session_authorization")
    if now.get("#session_authorization") != user:
        if user is None:
            conn.execute(text("SET SESSION AUTHORIZATION DEFAULT"))
        else:
            conn.execute(text("SELECT set_config('session_authorization', :v, false)"), {"v": user})
    conn.execute(text("SELECT set_config('role', :v, false)"), {"v": baseline.get("#role", "none")})


def connection_lost(exc: BaseException) -> str | None:
    """The server's message when ``exc`` means the connection itself is gone."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return str(current.orig)
        name = type(current).__name__
        if name in ("OperationalError",) and any(
            marker in str(current)
            for marker in (
                "server closed the connection",
                "terminating connection",
                "connection failed",
                "Connection refused",
                "the connection is closed",
                "consuming input failed",
                "No such file or directory",
                "connection timeout expired",
            )
        ):
            return str(current)
        current = current.__cause__ or current.__context__
    return None


def missing_downgrade(exc: BaseException, step: Step) -> MissingDowngradeError | None:
    """alembic's ``AttributeError`` for a revision file without ``downgrade()``, as a typed
    error naming the revision, its file and the fixes (``None``: ``exc`` is something else,
    e.g. an AttributeError raised inside a downgrade that exists)."""
    if step.is_upgrade or not isinstance(exc, AttributeError) or exc.name != "downgrade":
        return None
    module = getattr(exc, "obj", None)
    if not isinstance(module, types.ModuleType) or callable(getattr(module, "downgrade", None)):
        return None
    revision = str(getattr(module, "revision", None) or step.revision)
    where = getattr(module, "__file__", None)
    return MissingDowngradeError(
        f"revision {revision} has no downgrade() function"
        f"{f' ({where})' if where else ''}, so `alembic downgrade` fails there too. Add a "
        "downgrade() to that file or, if the revision is irreversible on purpose, set "
        f"minimum_downgrade_revision={revision!r} (CLI: --minimum-downgrade-revision): the "
        "walks then stop there"
    )


def describe(exc: BaseException, url: URL | None = None) -> str:
    """A one-line, password-free account of a migration error."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        text = f"{type(exc.orig).__name__}: {str(exc.orig).strip()}"
        statement = (exc.statement or "").strip()
        if statement:
            text += f" [SQL: {statement[:300]}]"
    elif isinstance(exc, SystemExit):
        text = f"sys.exit({exc.code!r})"
    else:
        text = f"{type(exc).__name__}: {exc}".strip()
    text = " ".join(text.split())
    return redact(text, url) if url is not None else text
