"""One decoding of where a driver's connection stands on the server
(``_compat.driver_transaction``), on real connections of every driver a migration's
env.py may hand over: psycopg 3, psycopg2, and SQLAlchemy's async adapters of asyncpg and
psycopg 3, asked through the DBAPI connection SQLAlchemy gives (what the walks' commits
between steps and the outside guard see).

Before it, three places decoded the drivers' codes themselves and disagreed on libpq's
ACTIVE (a command in progress): the commit between steps counted it as a transaction on
psycopg 3 and not on psycopg2; the guard's savepoint rule counted it on neither.
"""

from __future__ import annotations

import asyncio
import select
from collections.abc import Callable
from typing import Any

import psycopg
import psycopg2
import psycopg2.extensions
import pytest
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, create_engine
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from gauntlet_sync import EmbeddedPostgres, _compat, outside
from gauntlet_sync._compat import DriverTransaction, driver_transaction

IDLE = DriverTransaction.IDLE
IN_TRANSACTION = DriverTransaction.IN_TRANSACTION
FAILED = DriverTransaction.FAILED
UNKNOWN = DriverTransaction.UNKNOWN

DRIVERS = ["psycopg", "psycopg2", "asyncpg", "psycopg_async"]


def _on(driver: str, fn: Callable[[Connection], Any]) -> Any:
    """``fn``'s result on a new SQLAlchemy connection of ``driver`` (an async driver's
    in the greenlet ``run_sync`` gives, as env.py's ``connection.run_sync`` does)."""
    url = EmbeddedPostgres.shared().url.set(drivername=f"postgresql+{driver}")
    if driver not in ("asyncpg", "psycopg_async"):
        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                return fn(conn)
        finally:
            engine.dispose()

    async def main() -> Any:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(fn)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _run(dbapi: Any, statement: str) -> list[Any]:
    cur = dbapi.cursor()
    try:
        cur.execute(statement)
        return list(cur.fetchall()) if cur.description else []
    finally:
        cur.close()


@pytest.mark.parametrize("driver", DRIVERS)
def test_idle_in_transaction_failed_and_closed(driver: str) -> None:
    def states(conn: Connection) -> list[tuple[DriverTransaction, bool, bool]]:
        dbapi = conn.connection.dbapi_connection
        link = outside.Link(dbapi)
        seen = []

        def look() -> None:
            seen.append((driver_transaction(dbapi), link.in_transaction(), link.failed()))

        look()  # a new connection
        _run(dbapi, "SELECT 1")  # not in autocommit mode: the driver began a transaction
        look()
        with pytest.raises(Exception, match="division by zero"):
            _run(dbapi, "SELECT 1/0")
        look()
        dbapi.rollback()
        look()
        conn.invalidate()  # the pool closes the driver's connection
        look()
        return seen

    failed = (
        # asyncpg keeps an aborted transaction apart to itself: its next statement fails
        # with SQLSTATE 25P02 (the guard's outside._aborted)
        (IN_TRANSACTION, True, False) if driver == "asyncpg" else (FAILED, False, True)
    )
    assert _on(driver, states) == [
        (IDLE, True, False),  # the next statement begins one: a read runs in a savepoint
        (IN_TRANSACTION, True, False),
        failed,
        (IDLE, True, False),
        (UNKNOWN, False, False),
    ]


@pytest.mark.parametrize("driver", DRIVERS)
def test_in_autocommit_mode_it_is_the_servers_state(driver: str) -> None:
    """An explicit BEGIN on a connection in autocommit mode (which SQLAlchemy and the
    async adapters do not follow) is a transaction all the same."""

    def states(conn: Connection) -> list[tuple[DriverTransaction, bool]]:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        dbapi = conn.connection.dbapi_connection
        link = outside.Link(dbapi)
        seen = []
        for statement in ("SELECT 1", "BEGIN", "SELECT 1", "COMMIT"):
            _run(dbapi, statement)
            seen.append((driver_transaction(dbapi), link.in_transaction()))
        return seen

    assert _on(driver, states) == [
        (IDLE, False),
        (IN_TRANSACTION, True),
        (IN_TRANSACTION, True),
        (IDLE, False),
    ]


def test_a_command_in_progress_counts_as_in_a_transaction() -> None:
    """libpq's ACTIVE, which psycopg 3 shows in pipeline mode before the sync and psycopg2
    on an asynchronous connection before the result is read: IN_TRANSACTION for both (a
    caller that acts on it meets the driver's own error instead of taking the connection
    for idle). asyncpg does not show a command in progress."""
    dsn = EmbeddedPostgres.shared().dsn
    with psycopg.connect(dsn, autocommit=True) as conn:
        with conn.pipeline():
            conn.execute("SELECT 1")
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.ACTIVE
            assert driver_transaction(conn) is IN_TRANSACTION
        assert driver_transaction(conn) is IDLE

    pg2 = psycopg2.connect(dsn, async_=1)
    try:

        def wait() -> None:
            while pg2.poll() != psycopg2.extensions.POLL_OK:
                select.select([pg2.fileno()], [pg2.fileno()], [], 10)

        wait()
        cur = pg2.cursor()
        cur.execute("SELECT pg_sleep(0.05)")
        assert pg2.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_ACTIVE
        assert driver_transaction(pg2) is IN_TRANSACTION
        wait()
        assert driver_transaction(pg2) is IDLE  # asynchronous connections autocommit
    finally:
        pg2.close()


def test_a_driver_not_decoded_is_unknown() -> None:
    assert driver_transaction(object()) is UNKNOWN


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_transaction_only_the_driver_knows_of_is_committed_between_steps(driver: str) -> None:
    """A read on the driver's connection after alembic committed a step itself began a
    transaction SQLAlchemy never saw: the walk commits it before the next step, on every
    driver (asyncpg's adapter included: it begins one before its first statement too)."""

    def commit(conn: Connection) -> tuple[bool, DriverTransaction, DriverTransaction, str]:
        ctx = MigrationContext.configure(connection=conn)
        dbapi = conn.connection.dbapi_connection
        ((xact,),) = _run(dbapi, "SELECT pg_current_xact_id()::text")
        sqlalchemy_saw = conn.in_transaction()
        before = driver_transaction(dbapi)
        _compat.commit_between_steps(ctx)
        after = driver_transaction(dbapi)
        status = conn.exec_driver_sql(f"SELECT pg_xact_status('{xact}'::xid8)").scalar_one()
        conn.rollback()
        return sqlalchemy_saw, before, after, status

    assert _on(driver, commit) == (False, IN_TRANSACTION, IDLE, "committed")
