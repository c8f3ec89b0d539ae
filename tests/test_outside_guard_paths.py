"""The outside guard on every driver and every commit path, and the kinds of change
PostgreSQL cannot roll back (issue 13).

A private server stands for a user's database (tests/test_outside_safety.py's data:
``public.users`` with 100 rows and a sequence...). Every commit a migration's transaction
makes is checked first, whichever driver the project names (psycopg, psycopg2, asyncpg)
and however it commits: alembic's ``context.begin_transaction()``, a transaction env.py
holds itself (committed by the walks on the driver's connection), a ``COMMIT`` sent as SQL.
What PostgreSQL cannot roll back (nextval/setval, sessions terminated, what dblink or an
``autocommit_block`` committed) is reported as an ``IsolationEscapeError`` that says so.
After each test the outside is as before (the ``dsn`` fixture compares it), nothing left.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from gauntlet_sync import (
    EmbeddedPostgres,
    Gauntlet,
    GauntletConfig,
    IsolationEscapeError,
    OutsideGuardError,
)
from gauntlet_sync import outside as outside_module
from tests.histories import catalog
from tests.test_outside_safety import dsn, escape_of, project, run_all, server

__all__ = ["dsn", "server"]  # the fixtures, shared with test_outside_safety

SYNC_ENV = """\
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config


def run():
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {{}}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=None)
        {body}


run()
"""

ASYNC_ENV = """\
import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import async_engine_from_config

config = context.config


def do_run(connection):
    context.configure(connection=connection, target_metadata=None)
    {body}


async def main():
    engine = async_engine_from_config(
        config.get_section(config.config_ini_section, {{}}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    async with engine.connect() as connection:
        await connection.run_sync(do_run)
    await engine.dispose()


asyncio.run(main())
"""

#: how env.py commits: alembic's transaction, or one it holds itself (the walks then
#: commit each step on the driver's connection underneath it)
BODIES = {
    "begin_transaction": "with context.begin_transaction():\n{i}    context.run_migrations()",
    "held": "with connection.begin():\n{i}    context.run_migrations()",
}


def driver_project(tmp_path: Path, driver: str, body: str, upgrade: str, downgrade: str) -> None:
    config = project(tmp_path, upgrade, downgrade)
    template = ASYNC_ENV if driver == "asyncpg" else SYNC_ENV
    indent = "    " if driver == "asyncpg" else "        "
    env_py = Path(config.alembic_ini).parent / "env" / "env.py"
    env_py.write_text(template.format(body=BODIES[body].format(i=indent)))
    if driver == "asyncpg":  # named by sqlalchemy.url, as an async project does
        ini = Path(config.alembic_ini)
        old = "sqlalchemy.url = postgresql+psycopg://"
        assert old in ini.read_text()
        ini.write_text(ini.read_text().replace(old, "sqlalchemy.url = postgresql+asyncpg://"))


def with_driver(dsn: str, driver: str) -> str:
    if driver == "asyncpg":
        return dsn
    return dsn.replace("postgresql://", f"postgresql+{driver}://", 1)


@pytest.mark.parametrize("body", sorted(BODIES))
@pytest.mark.parametrize("driver", ["psycopg2", "asyncpg"])
def test_every_driver_and_every_commit_path_is_guarded(
    dsn: str, tmp_path: Path, driver: str, body: str
) -> None:
    """The upgrade commits once (env.py's transaction: SQLAlchemy's commit); the stairway
    commits after each step (alembic's transaction, or the driver's connection under the
    one env.py holds). Either way the 100 rows of public.users are never committed away."""
    driver_project(
        tmp_path,
        driver,
        body,
        'op.execute("DELETE FROM public.users WHERE id <= 50")',
        'op.execute("SELECT 1")',
    )
    config = GauntletConfig(alembic_ini=str(tmp_path / "alembic.ini"))
    url = with_driver(dsn, driver)
    with Gauntlet(url, config) as gauntlet:
        with pytest.raises(IsolationEscapeError) as info:
            gauntlet.check_upgrade()
        assert any("rows of table public.users changed" in p for p in info.value.problems)
        with pytest.raises(IsolationEscapeError) as info:
            gauntlet.check_stairway()
        assert info.value.revision == "r2"
        assert "upgrade of r2" in str(info.value)  # the step's own commit
        assert "nothing of it was committed" in str(info.value)


def test_a_commit_sent_as_sql_is_checked_first(dsn: str, tmp_path: Path) -> None:
    """``op.execute("COMMIT")`` ends the transaction on the server, past SQLAlchemy: the
    guard checks before the statement is sent, and rolls back."""
    config = project(
        tmp_path,
        'op.execute("UPDATE public.users SET n = 0")\nop.execute("COMMIT")',
    )
    error = escape_of(dsn, config)
    assert any("rows of table public.users changed" in p for p in error.problems)
    assert "nothing of it was committed" in str(error)


# --- what PostgreSQL cannot roll back -----------------------------------------------------


@contextlib.contextmanager
def sequence_restored(dsn: str) -> Iterator[None]:
    """public.users_id_seq put back where it stood (no rollback does it)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT last_value, is_called FROM public.users_id_seq").fetchone()
    try:
        yield
    finally:
        assert row is not None
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SELECT setval('public.users_id_seq', %s, %s)", row)


@pytest.mark.parametrize(
    "statement",
    ["SELECT nextval('public.users_id_seq')", "SELECT setval('public.users_id_seq', 7)"],
)
def test_a_sequence_moved_outside_is_reported_as_not_rolled_back(
    dsn: str, tmp_path: Path, statement: str
) -> None:
    config = project(tmp_path, f"op.execute({statement!r})")
    with sequence_restored(dsn):
        error = escape_of(dsn, config)
    line = next(p for p in error.problems if "public.users_id_seq" in p)
    assert "sequence public.users_id_seq moved" in line, error.problems
    assert "never rolls a sequence back" in line
    assert "setval('public.users_id_seq', 100)" in line  # how to put it back
    assert "PostgreSQL cannot undo that" in str(error)


def test_sessions_terminated_by_a_migration_are_reported(
    dsn: str, server: EmbeddedPostgres, tmp_path: Path
) -> None:
    config = project(
        tmp_path,
        'op.execute("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity '
        "WHERE application_name = 'gauntlet_victim'\")",
    )
    with psycopg.connect(dsn, autocommit=True, application_name="gauntlet_victim") as victim:
        error = escape_of(dsn, config)
        with pytest.raises(psycopg.OperationalError):
            victim.execute("SELECT 1")
    assert any("1 session(s) of other clients terminated" in p for p in error.problems)
    assert "cannot bring them back" in str(error)


@pytest.fixture()
def scratch(server: EmbeddedPostgres) -> Iterator[str]:
    """A table of the user's that a test may lose (made and dropped by the test)."""
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.scratch (id int PRIMARY KEY, n int)")
        conn.execute("INSERT INTO public.scratch SELECT g, g FROM generate_series(1, 10) g")
    yield "public.scratch"
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS public.scratch")


def test_rows_written_inside_an_autocommit_block_are_reported_as_committed(
    dsn: str, scratch: str, tmp_path: Path
) -> None:
    upgrade = (
        "with op.get_context().autocommit_block():\n"
        f"    op.execute('UPDATE {scratch} SET n = n + 1 WHERE id <= 3')"
    )
    error = escape_of(dsn, config=project(tmp_path, upgrade))
    assert "autocommit_block" in str(error)
    line = next(p for p in error.problems if scratch in p)
    assert "written inside an autocommit_block (updated 3)" in line, line
    assert "cannot be rolled back" in line


@pytest.mark.filterwarnings("ignore:gauntlet-sync. migrations left objects outside")
def test_what_dblink_commits_through_its_own_connection_is_reported(
    dsn: str, server: EmbeddedPostgres, scratch: str, tmp_path: Path
) -> None:
    """dblink (contrib, in the PostgreSQL 15 install) commits through a connection of its
    own: this transaction's rollback cannot undo it. With dblink installed every commit is
    looked at in full, and what the committed state shows changed since the last commit
    is reported as committed elsewhere."""
    target = f"host={server.socket_dir} port={server.port} dbname=test user=postgres"
    upgrade = (
        'op.execute("CREATE EXTENSION IF NOT EXISTS dblink")\n'
        f"op.execute(\"SELECT dblink_exec({target!r}, 'DROP TABLE {scratch}')\")"
    )
    error = escape_of(dsn, project(tmp_path, upgrade))
    line = next(p for p in error.problems if f"table {scratch} dropped" in p)
    assert "committed through another connection" in line
    with psycopg.connect(dsn, autocommit=True) as conn:
        extensions = conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'dblink'")
        assert extensions.fetchone() == (0,)  # went with the isolated schema


# --- the guard's own failure --------------------------------------------------------------


def test_the_guards_own_failure_is_a_typed_guard_error_not_the_migrations(
    dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(self: outside_module.OutsideGuard, link: outside_module.Link) -> object:
        link.fetch(sql.SQL("SELECT pg_catalog.no_such_function()"))
        raise AssertionError("unreachable")

    monkeypatch.setattr(outside_module.OutsideGuard, "touched", failing)
    config = project(tmp_path, 'op.execute("CREATE TABLE t2 (id int)")')
    with Gauntlet(dsn, config) as gauntlet, pytest.raises(OutsideGuardError) as info:
        gauntlet.check_upgrade()
    message = str(info.value)
    assert "could not check what" in message and "no_such_function" in message
    assert "Nothing of it was committed" in message and "not the migration's" in message
    statuses = run_all(dsn, config)
    assert statuses["upgrade"] == ("error", "OutsideGuardError"), statuses


# --- isolation='database' on a user's server ----------------------------------------------


def test_under_database_isolation_the_users_own_database_is_not_taken_for_a_new_one(
    dsn: str, tmp_path: Path
) -> None:
    """The guard's starting point is read on a connection to the user's database, the
    migrations' checks on one to the isolated database: the user's database (``test``)
    is the current one for the first only, and must not show up as created."""
    clean = GauntletConfig(alembic_ini=catalog.ini("clean"), isolation="database")
    statuses = run_all(dsn, clean)
    assert {status for status, _ in statuses.values()} <= {"passed", "skipped"}, statuses
    config = project(tmp_path, "op.execute('ALTER ROLE postgres SET work_mem = \\'7MB\\'')")
    config = dataclasses.replace(config, isolation="database")
    error = escape_of(dsn, config)
    assert any("settings role postgres" in p for p in error.problems), error.problems
    assert not any("database test" in p for p in error.problems), error.problems
