"""Every use of a private attribute of alembic, SQLAlchemy or psycopg (and of
testing.postgresql, which the embedded server builds on), fenced in one place.

None of these has a public equivalent that gives the same answer. Each is used here only,
and ``tests/test_compat.py`` holds each to the shape and meaning relied on, so that a new
release that changes one fails loudly there instead of silently changing a verdict.
"""

from __future__ import annotations

import contextlib
import enum
import importlib.util
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

import psycopg
from alembic import op as alembic_op
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext, RevisionStep
from alembic.script import Script, ScriptDirectory
from alembic.script.revision import RevisionMap
from alembic.util import pyfiles
from sqlalchemy import Table
from sqlalchemy.engine import Connection, Dialect, RootTransaction
from sqlalchemy.sql.base import _NONE_NAME
from sqlalchemy.sql.elements import conv
from sqlalchemy.sql.naming import ConventionDict, _constraint_name_for_table, _get_convention

# --- alembic: the revision graph ----------------------------------------------------------


def all_down_revisions(script: Script) -> tuple[str, ...]:
    """A revision's parents and its ``depends_on`` revisions, resolved
    (``Revision._all_down_revisions``)."""
    return tuple(script._all_down_revisions)


def load_revisions(directory: ScriptDirectory) -> Iterable[Script]:
    """Every revision file, even when the graph they make is broken (a duplicate id, an
    unknown parent): for error messages only (``ScriptDirectory._load_revisions``)."""
    return directory._load_revisions()


def version_locations(directory: ScriptDirectory) -> list[str]:
    """The resolved version directories, the default ``versions/`` included
    (``ScriptDirectory._version_locations``; the public ``version_locations`` is the raw
    option, ``None`` by default)."""
    return list(getattr(directory, "_version_locations", ()))


def upgrade_steps(directory: ScriptDirectory, destination: str, heads: Any) -> list[Any]:
    """The steps ``alembic upgrade <destination>`` takes from ``heads``
    (``ScriptDirectory._upgrade_revs``)."""
    return list(directory._upgrade_revs(destination, heads))


def downgrade_steps(directory: ScriptDirectory, destination: str, heads: Any) -> list[Any]:
    """The steps ``alembic downgrade <destination>`` takes from ``heads``
    (``ScriptDirectory._downgrade_revs``)."""
    return list(directory._downgrade_revs(destination, heads))


class FastRevisionStep(RevisionStep):
    """alembic's step (``RevisionStep`` is not public API), minus a walk of the revision
    graph that cannot change its answer.

    Before each downgrade alembic asks whether the step deletes a branch, computing the
    ancestors of the revision's parents: O(N) per step, O(N²) per stairway. With no other
    head the answer is always no (in a graph without cycles one of the parents is never an
    ancestor of the others), so that case is answered at once; every other case is
    alembic's own. tests/test_compat.py compares the two on every step of the test walks.
    """

    def should_delete_branch(self, heads: set[str]) -> bool:
        revision = self.revision
        if (
            self.is_downgrade
            and revision._normalized_down_revisions
            and set(heads) == {revision.revision}
        ):
            return False
        return super().should_delete_branch(heads)


def revision_step(revision_map: RevisionMap, script: Script, is_upgrade: bool) -> RevisionStep:
    """A step for the migration function env.py runs (alembic pulls them one by one)."""
    return FastRevisionStep(revision_map, script, is_upgrade)


def offline_step(
    revision_map: RevisionMap, script: Script, on_error: Callable[[BaseException], None]
) -> RevisionStep:
    """An upgrade step whose migration function hands its exception to ``on_error``
    instead of raising it: in offline mode nothing runs on a database, so the rendering
    goes on with the next revision and one run names every revision that cannot render.
    (``migration_fn`` is the attribute alembic calls; it is set per step in __init__.)"""
    step = FastRevisionStep(revision_map, script, True)
    upgrade = step.migration_fn

    def migration_fn(**kw: Any) -> None:
        try:
            upgrade(**kw)
        except Exception as exc:
            on_error(exc)

    step.migration_fn = migration_fn
    return step


# --- alembic and SQLAlchemy: transactions -------------------------------------------------


def commit_between_steps(
    ctx: MigrationContext, before_commit: Callable[[Connection], None] | None = None
) -> None:
    """Commit what the step did and carry on in a new transaction.

    With alembic's own transaction (``context.begin_transaction()``,
    ``MigrationContext._transaction``), the move alembic's ``autocommit_block`` makes. A
    transaction env.py holds itself (``conn.begin()`` kept for later, as the multidb
    template does, or a ``with connection.begin():`` block) is committed on the driver's
    connection underneath it: SQLAlchemy's transaction stays open for env.py to end, and
    the next statement begins the next one on the server, as a new alembic command
    would. Only a savepoint env.py holds keeps the walk in one transaction.
    ``before_commit`` runs right before that driver-level commit (SQLAlchemy's own
    commits run the ``commit`` event): the outside guard's check.

    A transaction only the driver knows of (:func:`driver_transaction`) is committed too,
    as a safety net. It arises when alembic committed the step itself and a read on the
    driver's connection came after that commit: SQLAlchemy never saw the transaction the
    read began. Left open, the next step's DDL would run in it, after the end-of-step lock
    read that incremental catalog reads take for that transaction's last word (jupyterhub's
    env.py, ``1057322``: a silently wrong snapshot). The walk's own step end no longer
    comes after alembic's commit: it runs inside the revision's transaction, from
    :func:`on_version_apply`, on every shape :func:`per_migration` names (tests hold
    ``COUNTS["driver_only_commits"]`` at zero there). It is kept because it costs no round
    trip when nothing is open (a status the driver already holds), while an env.py shape
    not foreseen here (``transactional_ddl=False`` was one, found only after the first
    fix) would otherwise bring back a silently wrong snapshot rather than an error.
    """
    conn = ctx.connection
    assert conn is not None
    transaction = ctx._transaction
    if transaction is not None:  # env.py's context.begin_transaction()
        transaction.commit()
        ctx._transaction = conn.begin()
    elif conn.in_transaction():
        if not conn.in_nested_transaction():
            if before_commit is not None:
                before_commit(conn)
            conn.connection.dbapi_connection.commit()  # type: ignore[union-attr]
    elif driver_transaction(conn.connection.dbapi_connection) in (
        DriverTransaction.IN_TRANSACTION,
        DriverTransaction.FAILED,  # its commit ends it (a rollback on the server)
    ):
        COUNTS["driver_only_commits"] += 1
        if before_commit is not None:
            before_commit(conn)
        conn.connection.dbapi_connection.commit()  # type: ignore[union-attr]


#: how often :func:`commit_between_steps` committed a transaction only the driver knew of
#: (in this process): tests hold it at zero for every env.py shape alembic has.
COUNTS: dict[str, int] = {"driver_only_commits": 0}


def per_migration(ctx: MigrationContext) -> bool:
    """Whether alembic begins and commits a transaction of its own around each revision:
    ``begin_transaction(_per_migration=True)``'s rule. Online, with no transaction env.py
    began before ``configure``, it does so with transactional DDL when env.py set
    ``transaction_per_migration=True`` (jupyterhub), and without transactional DDL
    (``transactional_ddl=False`` in ``configure``) always, whatever
    ``transaction_per_migration`` says."""
    if ctx.as_sql or ctx._in_external_transaction:
        return False
    return bool(ctx._transaction_per_migration) if ctx.impl.transactional_ddl else True


def on_version_apply(ctx: MigrationContext, callback: Callable[[], None]) -> None:
    """Call ``callback`` after each revision alembic applies, after its version update and
    inside the revision's own transaction (``MigrationContext.run_migrations`` calls
    ``on_version_apply_callbacks`` before ``begin_transaction(_per_migration=True)``
    ends): env.py's own callbacks first."""

    def applied(**_: Any) -> None:
        callback()

    ctx.on_version_apply_callbacks = (*ctx.on_version_apply_callbacks, applied)


class DriverTransaction(enum.Enum):
    """Where a driver's connection stands on the server, whatever SQLAlchemy believes
    (:func:`driver_transaction`)."""

    #: no transaction open: the next statement begins one (or commits by itself)
    IDLE = "idle"
    #: a transaction is open, or a command is in progress (see :func:`driver_transaction`)
    IN_TRANSACTION = "in transaction"
    #: a transaction is open and aborted: every statement fails until it ends, and its
    #: commit rolls it back
    FAILED = "failed"
    #: cannot tell: the connection is broken or closed, or a driver not decoded here
    UNKNOWN = "unknown"


#: libpq's ``PGTransactionStatusType``, which psycopg 3 (``info.transaction_status``, a
#: ``pq.TransactionStatus``) and psycopg2 (``info.transaction_status``, the same int as
#: ``get_transaction_status()``) both pass on as it is: IDLE, ACTIVE, INTRANS, INERROR,
#: UNKNOWN.
_LIBPQ_TRANSACTION_STATUS = (
    DriverTransaction.IDLE,
    DriverTransaction.IN_TRANSACTION,  # ACTIVE: a command in progress, see below
    DriverTransaction.IN_TRANSACTION,
    DriverTransaction.FAILED,
    DriverTransaction.UNKNOWN,
)


def driver_transaction(dbapi: Any) -> DriverTransaction:
    """Whether the driver's connection ``dbapi`` (what SQLAlchemy calls the DBAPI
    connection) has a transaction open on the server: the one decoding of the drivers'
    status that the walks' commits between steps (:func:`commit_between_steps`) and the
    outside guard (``outside.Link``) use.

    psycopg 3 and psycopg2 report libpq's own status. SQLAlchemy's async adapters are
    asked through their ``driver_connection``: psycopg 3's ``AsyncConnection`` alike,
    asyncpg by ``is_in_transaction()``, the status its last ReadyForQuery gave; asyncpg
    keeps an aborted transaction apart to itself, so there FAILED reads IN_TRANSACTION
    (its next statement fails with SQLSTATE 25P02, which the guard tells apart).

    libpq's ACTIVE (a command sent whose results are not all read: pipeline mode before its
    sync, a COPY, a result being streamed) is IN_TRANSACTION, deliberately: a command
    always runs in a transaction (its own at least, in autocommit mode), and whether one
    is still open once it completes cannot be known before. A caller that acts on an open
    transaction (commits it, reads in a savepoint in it) then meets the driver's "another
    command is already in progress" error, loudly, instead of taking the connection for
    idle: a transaction left open under the next step's DDL would silently give a wrong
    snapshot (jupyterhub's case, see :func:`commit_between_steps`). In the walks it is
    never seen (every statement of ours and of alembic is complete when it returns)."""
    driver = getattr(dbapi, "driver_connection", None) or dbapi  # SQLAlchemy's adapters
    try:
        status = getattr(getattr(driver, "info", None), "transaction_status", None)
        if status is not None:  # psycopg 3 (sync or async), psycopg2
            code = int(status)
            if 0 <= code < len(_LIBPQ_TRANSACTION_STATUS):
                return _LIBPQ_TRANSACTION_STATUS[code]
            return DriverTransaction.UNKNOWN
        if callable(getattr(driver, "is_in_transaction", None)):  # asyncpg
            if driver.is_closed():
                return DriverTransaction.UNKNOWN
            if driver.is_in_transaction():
                return DriverTransaction.IN_TRANSACTION
            return DriverTransaction.IDLE
    except Exception:  # noqa: BLE001 - a closed psycopg2 connection raises on .info
        return DriverTransaction.UNKNOWN
    return DriverTransaction.UNKNOWN


def guard_configure(
    environment: EnvironmentContext, guard: Callable[[Connection | None], None]
) -> None:
    """Call ``guard`` on the connection env.py passes to ``context.configure()``, before
    alembic runs anything on it. ``alembic.context.configure`` calls ``configure`` on the
    installed EnvironmentContext (``alembic.context._proxy``) by name, so an attribute of
    the instance is what runs; a subclass would not get alembic's module proxy at all."""
    configure = environment.configure

    def guarded(*args: Any, **kwargs: Any) -> None:
        configure(*args, **kwargs)
        guard(environment.get_context().connection)

    environment.configure = guarded  # type: ignore[method-assign]


def begin_as(conn: Connection, transaction: type[RootTransaction]) -> RootTransaction:
    """``conn.begin()`` with a RootTransaction subclass of ours (``Connection._transaction``
    is where SQLAlchemy keeps it); SQLAlchemy's own error when one is already begun."""
    if conn._transaction is None:
        conn._transaction = transaction(conn)
        return conn._transaction
    return Connection.begin(conn)


# --- SQLAlchemy: pools --------------------------------------------------------------------


def pool_dialect_name(fairy: Any) -> str | None:
    """The dialect name of the pool a checked-out connection comes from
    (``_ConnectionFairy._pool._dialect``); None when it cannot be told."""
    dialect = getattr(getattr(fairy, "_pool", None), "_dialect", None)
    name = getattr(dialect, "name", None)
    return name if isinstance(name, str) else None


def checked_out(record: Any) -> bool:
    """Whether a pool's connection record is checked out (``_ConnectionRecord.fairy_ref``)."""
    return getattr(record, "fairy_ref", None) is not None


def renew_impl(ctx: MigrationContext) -> None:
    """Give the next step the per-command state a fresh ``alembic`` command would have.

    A walk's steps share one ``MigrationContext``; separate commands would each build
    their own. What lives per context and can change what a step does is the DDL impl:
    its ``memo``, where SQLAlchemy records the named types (PostgreSQL enums) it already
    created in this DDL run. Kept from one step to the next, a re-upgrade of
    ``create_table(..., sa.Enum(..., name="status"))`` after a downgrade that dropped the
    type skips ``CREATE TYPE`` and fails (or, when the downgrade forgot the type, passes
    where a separate command fails). So each step gets a new impl, built as
    ``MigrationContext.__init__`` builds it, on the context (``ctx.impl``) and on the ``op``
    proxy in use (``alembic.op._proxy.impl``). The rest of the context is configuration
    (env.py's options), the transaction (committed between steps, as each command
    commits) and the version table's name. tests/test_differential.py holds the walks
    equal to separate alembic commands.
    """
    old = ctx.impl
    impl = type(old)(
        ctx.dialect, ctx.connection, ctx.as_sql, ctx.transactional_ddl, ctx.output_buffer, ctx.opts
    )
    impl.start_migrations()
    ctx.impl = impl
    proxy = getattr(alembic_op, "_proxy", None)
    if proxy is not None and getattr(proxy, "migration_context", None) is ctx:
        proxy.impl = impl


# --- SQLAlchemy: constraint names ---------------------------------------------------------


def constraint_name(const: Any, table: Table) -> str | None:
    """The name SQLAlchemy gives ``const`` before truncation: its own, or the naming
    convention's (SQLAlchemy's ``_constraint_name_for_table``) where it carries the
    ``_NONE_NAME`` marker for "named by the convention"; ``None``: the database names it
    (or the convention needs an explicit name)."""
    name: Any = const.name
    if name is _NONE_NAME:
        try:
            name = _constraint_name_for_table(const, table)
        except Exception:  # a convention that needs an explicit name: none is emitted
            return None
    return name if isinstance(name, str) else None


def convention_template(convention: Any, item: Any) -> Any:
    """The convention's template for ``item``'s kind (``sqlalchemy.sql.naming._get_convention``)."""
    return _get_convention(convention, type(item))


def render_convention(template: str, item: Any, table: Table, convention: Any) -> str:
    """``template`` filled for ``item`` as SQLAlchemy fills it (``ConventionDict``), marked as
    a convention name (``conv``: truncated with a hash suffix, not refused, when too long)."""
    return conv(template % ConventionDict(item, table, convention))


def truncate_name(dialect: Dialect, name: str, is_index: bool) -> str:
    """The name as the dialect's DDL emits it; ``_alembic_quote=False`` is alembic's own
    use of the preparer's private flag (render the bare name, no quoting)."""
    preparer = dialect.identifier_preparer
    if is_index:
        return str(preparer.truncate_and_render_index_name(name, _alembic_quote=False))
    return str(preparer.truncate_and_render_constraint_name(name, _alembic_quote=False))


def emitted(item: Any, dialect: Dialect) -> bool:
    """False for a constraint SQLAlchemy leaves out of this dialect's DDL (the CHECK of an
    ``Enum``/``Boolean`` whose type is native there): ``Constraint._create_rule``."""
    rule = getattr(item, "_create_rule", None)
    return rule is None or bool(rule(dialect.ddl_compiler(dialect, None)))  # type: ignore[arg-type]


# --- psycopg: prepared statements ---------------------------------------------------------


def holds_prepared_statements(raw: psycopg.Connection[Any]) -> bool:
    """Whether psycopg has prepared statements of its own on ``raw`` (its next clean-up,
    after a DROP, would deallocate ours too): ``Connection._prepared._names``."""
    return bool(getattr(getattr(raw, "_prepared", None), "_names", None))


# --- testing.postgresql: its base class, testing.common.database.Database ------------------
# (duck-typed: importing testing.postgresql here would load it with every run)


def server_owner_pid(server: Any) -> int:
    """The pid that made the server object (``Database._owner_pid``): a forked child stops
    nothing and removes nothing of its parent's."""
    return int(server._owner_pid)


def remove_base_dir_on_cleanup(server: Any) -> None:
    """Have ``Database.cleanup()`` remove ``server.base_dir`` (``Database._use_tmpdir``,
    which the base sets only for a directory its ``__init__`` made)."""
    server._use_tmpdir = True


__all__: Sequence[str] = (
    "FastRevisionStep",
    "offline_step",
    "all_down_revisions",
    "commit_between_steps",
    "DriverTransaction",
    "driver_transaction",
    "constraint_name",
    "convention_template",
    "emitted",
    "render_convention",
    "truncate_name",
    "downgrade_steps",
    "holds_prepared_statements",
    "begin_as",
    "checked_out",
    "guard_configure",
    "on_version_apply",
    "per_migration",
    "pool_dialect_name",
    "load_revisions",
    "remove_base_dir_on_cleanup",
    "renew_impl",
    "reload_revision_module",
    "codes_kept",
    "server_owner_pid",
    "revision_step",
    "upgrade_steps",
    "version_locations",
)


def reload_revision_module(script: Script) -> None:
    """Give ``script`` a newly imported module, as every ``alembic`` command imports each
    revision file anew (``alembic.util.load_python_file``, the loader alembic's own
    ``Script`` uses; ``Script.module`` is what its steps call). Module-level state a
    revision's upgrade changes (gnocchi's 34c517bcc2dd appends to a module-level list)
    then does not reach the next command's run of it.

    What that loader does for a ``.py`` file (``spec_from_file_location``,
    ``module_from_spec``, and the loader's ``exec_module``: ``get_code``, then ``exec`` in
    the new module), except that the code object is compiled once per file and version
    (its mtime and size, what Python's own bytecode cache checks): with
    ``PYTHONDONTWRITEBYTECODE`` set, as in many CI images, every reload would compile the
    file again. A stairway runs each revision three times."""
    path = Path(script.path)
    if path.suffix != ".py" or not path.is_file():
        from alembic.util import load_python_file

        script.module = load_python_file(path.parent, path.name)
        return
    script.module = _load_revision_file(re.sub(r"\W", "_", path.name), path)  # alembic's name


def _load_revision_file(module_id: str, path: Path) -> ModuleType:
    """alembic's ``load_module_py`` for a ``.py`` file, its code object compiled once per
    file and version (see :func:`reload_revision_module`)."""
    spec = importlib.util.spec_from_file_location(module_id, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    stat = path.stat()
    version = (stat.st_mtime_ns, stat.st_size)
    cached = _REVISION_CODE.get(str(path))
    if cached is not None and cached[0] == version:
        code = cached[1]
    else:
        code = spec.loader.get_code(module_id)  # type: ignore[attr-defined]
        _REVISION_CODE[str(path)] = (version, code)
    exec(code, module.__dict__)  # noqa: S102 - the revision file, as its import runs it
    return module


#: revision file -> ((mtime_ns, size), code object): see reload_revision_module.
_REVISION_CODE: dict[str, tuple[tuple[int, int], CodeType]] = {}
#: one history loading at a time keeps the codes (see :func:`codes_kept`)
_LOADING = threading.RLock()


@contextlib.contextmanager
def codes_kept() -> Iterator[None]:
    """While a history loads: alembic's loader of revision files
    (``alembic.util.pyfiles.load_module_py``, which ``load_python_file`` calls) keeps each
    ``.py`` file's code object for :func:`reload_revision_module`, whose first reload of
    a file would otherwise compile it a second time (a downgrade_to_base of N revisions
    after the head upgrade: N compilations). It loads as alembic's does
    (``spec_from_file_location``, ``module_from_spec``, the loader's code executed in the
    new module); other paths (``.pyc``) are alembic's own."""
    with _LOADING:
        alembics = pyfiles.load_module_py

        def load_module_py(module_id: str, path: Any) -> ModuleType:
            if Path(path).suffix == ".py":
                return _load_revision_file(module_id, Path(path))
            return alembics(module_id, path)

        pyfiles.load_module_py = load_module_py
        try:
            yield
        finally:
            pyfiles.load_module_py = alembics
