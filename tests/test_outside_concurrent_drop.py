"""Another client drops an object while the outside is read (a shared database).

Found by test_differential under load: its forked workers share the embedded server, one
dropping its scratch schema's tables while another run read the outside at its session's
end, and that run's stairway ended "could not finish: could not open relation with OID":
the read's snapshot listed a sequence that was gone by the time
``pg_sequence_last_value`` opened it. The same happens on a user's shared database when
someone else drops a table with a sequence. The read is made again (the object no longer
listed), in a savepoint when it runs inside a migration's transaction.

The race is made deterministic: another session drops the sequence and holds its
transaction open, the read lists the sequence (the drop is not committed) and waits for
its lock in ``pg_sequence_last_value``; the drop commits, the wait ends on a relation that
no longer exists.

The guard's commit check on a user's database reads the outside on the migration's own
connection, whatever its driver (a prepared statement on psycopg, plain SQL through
psycopg2 or asyncpg): the same read (``outside.read``), or someone else's DROP on the
shared database failed the commit with a false OutsideGuardError.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.pq import TransactionStatus
from sqlalchemy import Connection, create_engine
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from gauntlet_sync import EmbeddedPostgres, outside

SCHEMA = "concurrent_drop_other_client"


@pytest.fixture
def dsn() -> Iterator[str]:
    dsn = EmbeddedPostgres.shared().dsn
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)))
        conn.execute(sql.SQL("CREATE SEQUENCE {}.ids").format(sql.Identifier(SCHEMA)))
    try:
        yield dsn
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA))
            )


def _waiting_for_a_lock(dsn: str, pid: int) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted", (pid,)
        ).fetchone()
    return bool(row and row[0])


def _read_while_dropped(
    dsn: str, pid: Callable[[], int | None], read: Callable[[], object]
) -> object:
    """``read``'s result (or exception) when the sequence is dropped under it: the drop is
    held open until ``read`` waits for the sequence's lock (on backend ``pid()``, once
    known), then committed."""
    dropper = psycopg.connect(dsn)
    try:
        dropper.execute(sql.SQL("DROP SEQUENCE {}.ids").format(sql.Identifier(SCHEMA)))
        found: list[object] = []

        def run() -> None:
            try:
                found.append(read())
            except BaseException as exc:  # noqa: BLE001 - handed to the test
                found.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.monotonic() + 20
        while not ((backend := pid()) and _waiting_for_a_lock(dsn, backend)):
            assert thread.is_alive() and time.monotonic() < deadline, found
            time.sleep(0.05)
        dropper.commit()  # the read was waiting for the sequence: now it is gone
        thread.join(20)
        assert not thread.is_alive()
        (result,) = found
        return result
    finally:
        dropper.close()


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2", "asyncpg"])
def test_a_commit_check_is_not_failed_by_another_clients_drop(dsn: str, driver: str) -> None:
    """The guard's full look on the migration's connection (a prepared statement on
    psycopg, plain SQL on psycopg2 and on asyncpg's adapter, in its greenlet) reads again
    too; the commit goes through."""

    @contextlib.contextmanager
    def observer() -> Iterator[psycopg.Connection[Any]]:
        with psycopg.connect(dsn, autocommit=True) as conn:
            yield conn

    guard = outside.OutsideGuard(outside.OwnNames(), observer)
    guard.baseline()
    url = EmbeddedPostgres.shared().url.set(drivername=f"postgresql+{driver}")
    pids: list[int] = []

    def migrate_and_check(conn: Connection) -> None:
        """A transaction that touched the outside (a comment set and taken back): the
        commit's check reads the whole outside, sequences' values included."""
        guard.adopt(conn)
        pids.append(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
        comment = sql.SQL("COMMENT ON SCHEMA {} IS {}")
        for value in ("for a moment", None):
            statement = comment.format(sql.Identifier(SCHEMA), sql.Literal(value))
            conn.exec_driver_sql(statement.as_string(None))
        guard.before_commit(conn)
        conn.commit()

    def run_sync() -> None:
        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                migrate_and_check(conn)
        finally:
            engine.dispose()

    def run_async() -> None:
        async def main() -> None:
            engine = create_async_engine(url, poolclass=NullPool)
            try:
                async with engine.connect() as conn:
                    await conn.run_sync(migrate_and_check)
            finally:
                await engine.dispose()

        asyncio.run(main())

    try:
        run = run_async if driver == "asyncpg" else run_sync
        result = _read_while_dropped(dsn, lambda: pids[0] if pids else None, run)
    finally:
        guard.close()
    assert result is None, result
    assert guard.full_checks == 1  # the read that met the drop was the full one


@pytest.mark.parametrize("in_transaction", [False, True], ids=["autocommit", "in-transaction"])
def test_an_object_dropped_while_the_outside_is_read_is_read_again(
    dsn: str, in_transaction: bool
) -> None:
    dropper = psycopg.connect(dsn)
    reader = psycopg.connect(dsn, autocommit=not in_transaction)
    try:
        if in_transaction:  # a migration's own change, which the read must see and keep
            reader.execute("CREATE TEMPORARY TABLE kept_by_the_transaction (id int)")
        dropper.execute(sql.SQL("DROP SEQUENCE {}.ids").format(sql.Identifier(SCHEMA)))
        found: list[object] = []

        def read() -> None:
            try:
                found.append(outside.take(reader, ["nothing_of_ours"], system=False))
            except BaseException as exc:  # noqa: BLE001 - handed to the test
                found.append(exc)

        thread = threading.Thread(target=read)
        thread.start()
        deadline = time.monotonic() + 20
        while not _waiting_for_a_lock(dsn, reader.info.backend_pid):
            assert thread.is_alive() and time.monotonic() < deadline, found
            time.sleep(0.05)
        dropper.commit()  # the read was waiting for the sequence: now it is gone
        thread.join(20)
        assert not thread.is_alive()
        (result,) = found
        assert not isinstance(result, BaseException), result
        assert isinstance(result, frozenset)
        assert not [row for row in result if f"{SCHEMA}.ids" in row[1]]
        assert [row for row in result if row[0] == "schema" and row[1] == SCHEMA]
        if in_transaction:  # the transaction goes on, the read's savepoint released
            assert reader.info.transaction_status == TransactionStatus.INTRANS
            reader.execute("SELECT count(*) FROM kept_by_the_transaction")
            reader.rollback()
    finally:
        dropper.close()
        reader.close()


def test_another_error_is_not_read_again(dsn: str) -> None:
    """Only a vanished object is read again: a query that cannot work raises at once."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET statement_timeout = 1")
        conn.execute("SELECT pg_sleep(0)")
        with pytest.raises(psycopg.errors.QueryCanceled):
            for _ in range(50):  # a 1 ms timeout cancels the outside read sooner or later
                outside.take(conn, ["nothing_of_ours"], system=False)
