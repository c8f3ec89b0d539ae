"""Every private attribute of alembic, SQLAlchemy and psycopg the library relies on
(``gauntlet_sync/_compat.py``), held to the shape and meaning it relies on: a release that
changes one fails here, loudly, instead of changing a verdict quietly.

Also ``compare_server_default=True``, which goes through alembic's public API."""

from __future__ import annotations

import os
import shutil
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.runtime.migration import MigrationContext, RevisionStep
from alembic.util import load_python_file, pyfiles
from sqlalchemy import CheckConstraint, Column, Integer, MetaData, Table, create_engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from gauntlet_sync import (
    CheckFailed,
    EmbeddedPostgres,
    Gauntlet,
    GauntletConfig,
    SchemaDriftError,
    _compat,
)
from gauntlet_sync.config import load_alembic_config
from gauntlet_sync.history import History
from tests.histories import catalog


def _history(name: str) -> History:
    return History(load_alembic_config(GauntletConfig(alembic_ini=catalog.ini(name))))


@pytest.fixture(scope="module")
def connection() -> Iterator[Connection]:
    engine = create_engine(EmbeddedPostgres.shared().url, poolclass=NullPool)
    with engine.connect() as conn:
        yield conn
    engine.dispose()


def test_every_fenced_use_is_exported_and_held_by_a_test_here() -> None:
    """A use added to _compat.py without its test here (or left there unused) fails."""
    defined = {
        name
        for name, obj in vars(_compat).items()
        if not name.startswith("_") and getattr(obj, "__module__", None) == _compat.__name__
    }
    assert defined == set(_compat.__all__)
    source = Path(__file__).read_text()
    assert [name for name in sorted(defined) if name not in source] == []


# --- alembic: the revision graph ----------------------------------------------------------


def test_all_down_revisions_are_a_merge_points_parents() -> None:
    history = _history("branched")
    assert set(_compat.all_down_revisions(history.get("k1000004"))) == {"k1000002", "k1000003"}
    assert _compat.all_down_revisions(history.get("k1000001")) == ()


def test_load_revisions_reads_every_revision_file() -> None:
    history = _history("clean")
    scripts = list(_compat.load_revisions(history.script))
    assert sorted(s.revision for s in scripts) == sorted(history.ids)
    assert all(Path(str(s.path)).is_file() for s in scripts)


def test_a_revision_module_is_imported_anew_as_a_new_command_would() -> None:
    history = _history("clean")
    script = history.get(history.ids[-1])
    old = script.module
    old.__dict__["left_by_a_run"] = True
    _compat.reload_revision_module(script)
    assert script.module is not old
    assert script.module.revision == old.revision
    assert not hasattr(script.module, "left_by_a_run")
    first = history.before_run(script.revision)  # its first run: the module as loaded
    assert first is script.module
    second = history.before_run(script.revision)  # a later run: imported anew
    assert second is script.module and second is not first


def test_a_reloaded_revision_module_is_alembics_own_load_with_its_code_compiled_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alembic.util import load_python_file

    revision = tmp_path / "a1_state.py"
    revision.write_text("revision = 'a1'\nSEEN = []\n")
    script = types.SimpleNamespace(path=str(revision), module=None)
    compiled: list[str] = []
    real_compile = compile

    def counting(source: object, filename: str, *args: object, **kwargs: object) -> object:
        compiled.append(filename)
        return real_compile(source, filename, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.compile", counting)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # no __pycache__ to read from
    _compat.reload_revision_module(script)  # type: ignore[arg-type]
    first = script.module
    _compat.reload_revision_module(script)  # type: ignore[arg-type]
    assert script.module is not first and script.module.SEEN is not first.SEEN
    assert compiled.count(str(revision)) == 1  # the second reload ran the same code
    alembics = load_python_file(tmp_path, revision.name)
    for name in ("__name__", "__file__", "revision", "SEEN"):
        assert getattr(script.module, name) == getattr(alembics, name)
    revision.write_text("revision = 'a1'\nSEEN = ['changed on disk']\n")
    _compat.reload_revision_module(script)  # type: ignore[arg-type]
    assert script.module.SEEN == ["changed on disk"]


def test_codes_kept_compiles_each_revision_file_once_from_the_load_to_its_reloads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The history's load (alembic's loader, under ``_compat.codes_kept``) keeps each
    file's code object: importing the file anew later (``History.before_run``, as each
    command of a walk would) runs the same code instead of compiling the file again."""
    project = tmp_path / "clean"
    shutil.copytree(catalog.HISTORIES / "clean", project)
    shutil.copytree(catalog.HISTORIES / "_envs", tmp_path / "_envs")
    compiled: list[str] = []
    real_compile = compile

    def counting(source: object, filename: str, *args: object, **kwargs: object) -> object:
        compiled.append(str(filename))
        return real_compile(source, filename, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.compile", counting)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # no __pycache__ to read from
    alembics = pyfiles.load_module_py
    history = History(load_alembic_config(GauntletConfig(alembic_ini=project / "alembic.ini")))
    assert pyfiles.load_module_py is alembics  # alembic's loader is alembic's again
    files = [str(history.get(rev).path) for rev in history.ids]
    assert files and all(compiled.count(f) == 1 for f in files)
    for rev in history.ids:
        loaded = history.before_run(rev)  # the first run: the module as loaded
        again = history.before_run(rev)  # a later one: imported anew, not compiled
        assert again is not loaded
        as_alembic = load_python_file(Path(files[0]).parent, Path(history.get(rev).path).name)
        for name in ("__name__", "__file__", "revision", "down_revision"):
            assert getattr(again, name) == getattr(loaded, name) == getattr(as_alembic, name)
    assert all(compiled.count(f) == 2 for f in files)  # once more: alembic's own load above


def test_version_locations_are_the_resolved_directories() -> None:
    history = _history("clean")
    locations = [Path(p).resolve() for p in _compat.version_locations(history.script)]
    assert locations == [(Path(catalog.ini("clean")).parent / "versions").resolve()]


def test_upgrade_and_downgrade_steps_are_alembics_plans() -> None:
    history = _history("branched")
    up = _compat.upgrade_steps(history.script, "heads", ())
    assert [s.revision.revision for s in up] == list(history.ids)
    assert all(isinstance(s, RevisionStep) and s.is_upgrade for s in up)
    down = _compat.downgrade_steps(history.script, "base", tuple(history.heads))
    assert [s.revision.revision for s in down] == list(reversed(history.ids))
    assert not any(s.is_upgrade for s in down)


def test_the_fast_revision_step_is_alembics_step() -> None:
    """RevisionStep's constructor, ``is_downgrade``, ``should_delete_branch`` and the
    revision's ``_normalized_down_revisions`` (the shortcut's answer is compared with
    alembic's on every step below)."""
    history = _history("branched")
    revision_map = history.script.revision_map
    merge = history.get("k1000004")
    assert isinstance(merge._normalized_down_revisions, tuple)
    assert set(merge._normalized_down_revisions) == {"k1000002", "k1000003"}
    step = _compat.revision_step(revision_map, merge, False)
    assert isinstance(step, RevisionStep) and step.is_downgrade
    assert step.should_delete_branch({"k1000004"}) is False
    assert RevisionStep(revision_map, merge, False).should_delete_branch({"k1000004"}) is False


# --- alembic and SQLAlchemy: transactions -------------------------------------------------


def test_an_offline_step_hands_its_revisions_exception_over() -> None:
    """alembic calls ``step.migration_fn(**kw)``: the offline step wraps the revision's
    upgrade there, so a revision that fails to render does not end the rendering."""
    history = _history("offline_bind")
    revision_map = history.script.revision_map
    seen: list[BaseException] = []
    step = _compat.offline_step(revision_map, history.get("o1000002"), seen.append)
    assert isinstance(step, RevisionStep) and step.is_upgrade
    assert step.doc == history.get("o1000002").doc
    step.migration_fn()  # no op proxy bound: the revision's op.get_bind() raises
    assert len(seen) == 1 and isinstance(seen[0], Exception)


def test_a_migration_contexts_transaction_is_committed_between_steps(
    connection: Connection,
) -> None:
    ctx = MigrationContext.configure(connection=connection)
    assert ctx._transaction is None
    with ctx.begin_transaction():
        first = ctx._transaction
        assert first is not None and first.is_active
        connection.execute(text("CREATE TEMP TABLE compat_probe (id int)"))
        _compat.commit_between_steps(ctx)
        assert not first.is_active  # committed
        assert ctx._transaction is not None and ctx._transaction.is_active
        connection.execute(text("DROP TABLE compat_probe"))
    assert not connection.in_transaction()


def test_a_transaction_only_the_driver_knows_of_is_committed_between_steps(
    connection: Connection,
) -> None:
    """alembic committed the step itself (``transaction_per_migration``); the walk checks'
    reads on the psycopg connection underneath then began a transaction SQLAlchemy never
    saw: ``driver_transaction`` sees it, and the walk commits it before the next step.
    (Every driver, and each state: tests/test_driver_transaction.py.)"""
    ctx = MigrationContext.configure(connection=connection)
    raw = connection.connection.driver_connection
    idle, in_transaction = _compat.DriverTransaction.IDLE, _compat.DriverTransaction.IN_TRANSACTION
    assert not connection.in_transaction() and _compat.driver_transaction(raw) is idle
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.execute("SELECT pg_current_xact_id()")
        (xact,) = cur.fetchone()
    assert not connection.in_transaction() and _compat.driver_transaction(raw) is in_transaction
    _compat.commit_between_steps(ctx)
    assert _compat.driver_transaction(raw) is idle
    assert _compat.COUNTS["driver_only_commits"] > 0
    assert connection.execute(text("SELECT pg_xact_status(:x)"), {"x": str(xact)}).scalar() == (
        "committed"
    )
    connection.rollback()


def test_on_version_apply_runs_inside_the_revisions_own_transaction(
    connection: Connection,
) -> None:
    """With ``transaction_per_migration=True`` alembic begins and commits a transaction
    around each revision; ``per_migration`` says so, and a callback ``on_version_apply``
    adds runs after the revision and its version update, before that commit (where the
    walk's end-of-step work must run to see the step's locks)."""
    history = _history("per_migration")
    first = history.ids[0]
    connection.execute(text("CREATE SCHEMA compat_per_migration"))
    connection.execute(text("SET search_path TO compat_per_migration"))
    connection.commit()
    seen: list[tuple[bool, str, str]] = []

    def applied() -> None:
        xact = connection.execute(text("SELECT pg_current_xact_id()::text")).scalar()
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        seen.append((connection.in_transaction(), str(xact), str(version)))

    def fn(heads: Any, ctx: MigrationContext) -> Iterator[RevisionStep]:
        yield _compat.revision_step(history.script.revision_map, history.get(first), True)

    try:
        ctx = MigrationContext.configure(
            connection=connection, opts={"transaction_per_migration": True, "fn": fn}
        )
        assert _compat.per_migration(ctx)
        assert not _compat.per_migration(MigrationContext.configure(connection=connection))
        no_transactional_ddl = {"transactional_ddl": False}  # alembic wraps each revision
        assert _compat.per_migration(
            MigrationContext.configure(connection=connection, opts=no_transactional_ddl)
        )
        _compat.on_version_apply(ctx, applied)
        from alembic.operations import Operations

        with Operations.context(ctx), ctx.begin_transaction():
            ctx.run_migrations()
        assert [(inside, version) for inside, _, version in seen] == [(True, first)]
        assert not connection.in_transaction()  # alembic committed it after the callback
        status = connection.execute(text("SELECT pg_xact_status(:x)"), {"x": seen[0][1]})
        assert status.scalar() == "committed"
    finally:
        connection.rollback()
        connection.execute(text("DROP SCHEMA compat_per_migration CASCADE"))
        connection.execute(text("RESET search_path"))
        connection.commit()


def test_configure_is_guarded_where_env_py_calls_it(connection: Connection) -> None:
    """``alembic.context.configure`` reaches the instance's own ``configure``."""
    from alembic import context
    from alembic.config import Config
    from alembic.runtime.environment import EnvironmentContext

    history = _history("clean")
    seen: list[object] = []
    environment = EnvironmentContext(Config(), history.script)
    _compat.guard_configure(environment, seen.append)
    with environment:
        context.configure(connection=connection)
    assert seen == [connection]


def test_begin_as_keeps_sqlalchemys_transaction_bookkeeping(connection: Connection) -> None:
    from sqlalchemy.engine import RootTransaction

    class Mine(RootTransaction):
        pass

    if connection.in_transaction():
        connection.rollback()
    transaction = _compat.begin_as(connection, Mine)
    assert isinstance(transaction, Mine) and connection.get_transaction() is transaction
    with pytest.raises(Exception, match="already"):
        _compat.begin_as(connection, Mine)
    transaction.rollback()
    assert not connection.in_transaction()


def test_a_pooled_connection_tells_its_dialect_and_checkout() -> None:
    from sqlalchemy import event
    from sqlalchemy.pool import QueuePool

    engine = create_engine(EmbeddedPostgres.shared().url, poolclass=QueuePool)
    seen: list[object] = []
    event.listen(engine, "checkout", lambda dbapi, record, fairy: seen.append(fairy))
    with engine.connect() as conn:
        record = conn.connection._connection_record  # type: ignore[attr-defined]
        assert _compat.checked_out(record)
        assert _compat.pool_dialect_name(seen[0]) == "postgresql"
    assert not _compat.checked_out(record)
    engine.dispose()


# --- SQLAlchemy: constraint names ---------------------------------------------------------


def test_constraint_names_come_from_the_naming_convention() -> None:
    """A type's own CHECK (Boolean, non-native Enum) is named ``_NONE_NAME`` until SQLAlchemy
    names it from the convention, which fails when the convention needs a name."""
    from sqlalchemy import Boolean

    def checks(convention: str) -> list[CheckConstraint]:
        table = Table(
            "orders",
            MetaData(naming_convention={"ck": convention}),
            Column("flag", Boolean(create_constraint=True)),
            CheckConstraint("flag", name="named"),
        )
        found = [c for c in table.constraints if isinstance(c, CheckConstraint)]
        return sorted(found, key=lambda c: str(_compat.constraint_name(c, table)))

    by_column = checks("ck_%(table_name)s_%(column_0_name)s")
    table = by_column[0].table
    assert [_compat.constraint_name(c, table) for c in by_column] == [
        "ck_orders_flag",
        "named",
    ]
    by_name = checks("ck_%(table_name)s_%(constraint_name)s")
    assert sorted(str(_compat.constraint_name(c, by_name[0].table)) for c in by_name) == [
        "None",  # the Boolean's own: the convention needs a name it does not have
        "ck_orders_named",
    ]


def test_conventions_are_filled_and_names_cut_as_sqlalchemys_ddl_does() -> None:
    from sqlalchemy import Boolean, Index
    from sqlalchemy.dialects import postgresql

    convention = {"ix": "ix_%(column_0_label)s", "ck": "ck_%(table_name)s_%(column_0_name)s"}
    metadata = MetaData(naming_convention=convention)
    table = Table("orders", metadata, Column("code", Integer), Column("flag", Boolean))
    index = Index(None, table.c.code)
    template = _compat.convention_template(metadata.naming_convention, index)
    assert template == "ix_%(column_0_label)s"
    assert _compat.render_convention(template, index, table, metadata.naming_convention) == (
        "ix_orders_code"
    )
    dialect = postgresql.dialect()
    assert _compat.truncate_name(dialect, "ix_orders_code", True) == "ix_orders_code"
    long = "x" * 80
    from sqlalchemy.sql.elements import conv

    cut = _compat.truncate_name(dialect, conv(long), False)
    assert len(cut) <= 63 and cut.startswith("x")  # a conv name is cut, with a hash suffix
    native = Table("t", MetaData(), Column("b", Boolean(create_constraint=True)))
    (check,) = (c for c in native.constraints if isinstance(c, CheckConstraint))
    assert _compat.emitted(check, dialect) is False  # PostgreSQL's boolean is native
    assert _compat.emitted(CheckConstraint("b"), dialect) is True


# --- psycopg: prepared statements ---------------------------------------------------------


def test_psycopgs_own_prepared_statements_are_seen() -> None:
    with psycopg.connect(EmbeddedPostgres.shared().dsn) as raw:
        assert not _compat.holds_prepared_statements(raw)
        raw.execute("SELECT 1", prepare=True)
        assert _compat.holds_prepared_statements(raw)


# --- compare_server_default (public API) --------------------------------------------------


def _models_match(**config: object) -> CheckFailed | None:
    cfg = GauntletConfig(
        alembic_ini=catalog.ini("server_default_drift"),
        metadata=catalog.load_metadata("server_default_drift"),
        **config,  # type: ignore[arg-type]
    )
    with Gauntlet(None, cfg) as gauntlet:
        try:
            gauntlet.check_models_match()
        except CheckFailed as exc:
            return exc
    return None


def test_compare_server_default_finds_a_drifting_server_default() -> None:
    assert _models_match() is None  # off by default: autogenerate does not look
    error = _models_match(compare_server_default=True)
    assert isinstance(error, SchemaDriftError)
    assert "modify server default of accounts.currency" in str(error)
    assert "EUR" in str(error) and "USD" in str(error)


def test_compare_server_default_in_run_all_too() -> None:
    cfg = GauntletConfig(
        alembic_ini=catalog.ini("server_default_drift"),
        metadata=catalog.load_metadata("server_default_drift"),
        compare_server_default=True,
    )
    with Gauntlet(None, cfg) as gauntlet:
        report = gauntlet.run_all(raise_on_failure=False)
    statuses = {r.name: r.status for r in report.results}
    assert statuses.pop("models_match") == "failed"
    assert set(statuses.values()) == {"passed"}, str(report)


@pytest.mark.parametrize("history", ["clean", "branched", "multiple_heads", "no_trace"])
def test_the_quick_branch_check_answers_as_alembic_does(history: str) -> None:
    """Every downgrade step, with the heads a walk meets (the revision alone, or with other
    heads): the shortcut's answer is alembic's own."""
    from alembic.runtime.migration import RevisionStep

    from gauntlet_sync._compat import FastRevisionStep
    from gauntlet_sync.config import load_alembic_config
    from gauntlet_sync.history import History

    graph = History(load_alembic_config(GauntletConfig(alembic_ini=catalog.ini(history))))
    revision_map = graph.script.revision_map
    compared = 0
    for rev in graph.ids:
        revision = graph.get(rev)
        others = [h for h in graph.ids if h != rev]
        for heads in [{rev}, {rev, *graph.heads}, *({rev, other} for other in others)]:
            ours = FastRevisionStep(revision_map, revision, False).should_delete_branch(heads)
            theirs = RevisionStep(revision_map, revision, False).should_delete_branch(heads)
            assert ours == theirs, (rev, heads)
            compared += 1
    assert compared > len(graph.ids)


def test_renew_impl_gives_the_context_and_the_op_proxy_a_new_impl(connection: Connection) -> None:
    """What separate alembic commands would each have: the enum types SQLAlchemy recorded
    as created (``impl.memo``) do not reach the next walk step (tests/test_differential.py)."""
    from alembic import op
    from alembic.operations import Operations

    ctx = MigrationContext.configure(connection)
    old = ctx.impl
    old.memo["pg_enum"] = {(None, "account_status")}
    with Operations.context(ctx):
        _compat.renew_impl(ctx)
        assert ctx.impl is not old and type(ctx.impl) is type(old)
        assert ctx.impl.memo == {}
        assert op._proxy.impl is ctx.impl  # type: ignore[attr-defined]
        assert ctx.impl.connection is connection


# --- testing.postgresql ---------------------------------------------------------------------


def test_testing_postgresql_knows_its_owner_and_removes_only_its_own_base_dir(
    tmp_path: Path,
) -> None:
    """``Database._owner_pid`` is the pid that made the object; ``Database.cleanup()``
    removes the base dir when ``_use_tmpdir`` says the object made it, and only then."""
    import testing.postgresql

    def server(base_dir: Path) -> Any:
        return testing.postgresql.Postgresql(
            auto_start=0, base_dir=str(base_dir), initdb="initdb", postgres="postgres"
        )

    kept = tmp_path / "kept"
    kept.mkdir()
    db = server(kept)
    assert _compat.server_owner_pid(db) == os.getpid()
    db.cleanup()
    assert kept.is_dir()
    removed = tmp_path / "removed"
    removed.mkdir()
    db = server(removed)
    _compat.remove_base_dir_on_cleanup(db)
    db.cleanup()
    assert not removed.exists()
