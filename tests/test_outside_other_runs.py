"""Other runs' schemas on a shared server are not this run's escapes.

Found in a fresh-clone CI run: unittest-parallel's forked shard processes share one
embedded server, and a shard warned "migrations left objects outside the isolated schema
...: schema gauntlet_<pid>_... dropped outside": another shard had dropped its own schema
between this run's two looks at the outside (a session's start and end). The same false
difference would fail the isolation check. Other runs' schemas are told by their name
shape and the janitor's signature (its comment, set in the CREATE SCHEMA's transaction);
a schema of that name shape that a migration makes is unsigned and still reported, on
the embedded server and by the guard on a user's database alike.

Deterministic: the other run's schema is dropped and another one created (by the
janitor's own code) in ``prepare``, which runs between the two looks.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.pool import NullPool

from gauntlet_sync import EmbeddedPostgres, Gauntlet, GauntletConfig, IsolationEscapeError, janitor
from tests.histories import catalog
from tests.test_outside_safety import project

MADE_BY_A_MIGRATION = "gauntlet_4243_1700000000_abcdef"


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = create_engine(EmbeddedPostgres.shared().url, poolclass=NullPool)
    yield engine
    engine.dispose()


def test_another_run_dropping_and_creating_its_schema_is_not_an_escape(engine: Engine) -> None:
    with contextlib.ExitStack() as others:
        ending = contextlib.ExitStack()
        others.enter_context(ending)
        ending.enter_context(janitor.isolated_schema(engine))  # another shard's run
        seen: list[str] = []

        def meanwhile(connection: Connection) -> None:
            """Between this session's two looks: one run ends, another one starts."""
            ending.close()
            seen.append(others.enter_context(janitor.isolated_schema(engine)).schema)

        config = GauntletConfig(alembic_ini=catalog.ini("clean"), prepare=meanwhile)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # undo_escapes' "left objects outside" warning
            with Gauntlet(None, config) as gauntlet:
                gauntlet.check_isolation()
        assert seen  # the other runs did come and go while the session ran


@pytest.mark.parametrize("bare", [True, False], ids=["bare-schema", "schema-with-a-table"])
def test_a_schema_of_the_run_name_shape_made_by_a_migration_is_reported(
    tmp_path: Path, bare: bool
) -> None:
    """On the embedded server and (the guard) on a user's database alike: unsigned, so the
    migration's. (A bare CREATE SCHEMA holds no lock the guard could see.)"""
    upgrade = f"op.execute('CREATE SCHEMA {MADE_BY_A_MIGRATION}')"
    if not bare:
        upgrade += f"\nop.execute('CREATE TABLE {MADE_BY_A_MIGRATION}.t (id int)')"
    downgrade = f"op.execute('DROP SCHEMA {MADE_BY_A_MIGRATION} CASCADE')"
    config = project(tmp_path, upgrade, downgrade)
    dsn = EmbeddedPostgres.shared().dsn
    try:
        for user_dsn in (None, dsn):  # the embedded server's look; the guard's
            error = _escape(user_dsn, config)
            expected = f"schema {MADE_BY_A_MIGRATION} created outside"
            assert any(expected in p for p in error.problems), (user_dsn, error.problems)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {MADE_BY_A_MIGRATION} CASCADE")


def _escape(dsn: str | None, config: GauntletConfig) -> IsolationEscapeError:
    with Gauntlet(dsn, config) as gauntlet, pytest.raises(IsolationEscapeError) as info:
        gauntlet.check_isolation()
    return info.value
