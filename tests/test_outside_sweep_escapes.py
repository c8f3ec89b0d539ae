"""Ways out of the isolated schema that the outside guard did not see, found by the
adversarial sweep (benchmarks/outside_sweep.py), each the smallest history that shows it:

- a ``DEFERRABLE INITIALLY DEFERRED`` constraint trigger on an own table writes outside
  when it fires, at COMMIT, after the guard's check;
- large objects (``lo_create``, ``lo_put``, ``lo_unlink``, their owner and grants): in no
  schema, database-wide;
- casts, foreign-data wrappers, user mappings: objects of no schema; operators,
  collations, text search configurations in a schema outside (the catalogs the full
  comparison did not list);
- ``PREPARE TRANSACTION``: the prepared transaction outlived the run (and kept its locks
  on the isolated schema, which was left behind);
- ``ALTER SYSTEM`` inside an ``autocommit_block``: postgresql.auto.conf changed, unseen.

The server allows prepared transactions (``max_prepared_transactions``), so that a
PREPARE TRANSACTION would really be prepared. After each test the outside is as before
(tests/test_outside_safety.py's ``dsn`` fixture), and no prepared transaction is left.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy.exc

from gauntlet_sync import EmbeddedPostgres, Gauntlet, IsolationEscapeError
from tests.reliability import child_pids, wait_gone
from tests.test_outside_safety import USER_DATA, dsn, project

__all__ = ["dsn"]  # the fixture, shared with test_outside_safety

BLOB = 424242


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedPostgres]:
    EmbeddedPostgres.shared()  # started now, if at all, so it is not taken for a leak
    before = child_pids()
    pg = EmbeddedPostgres(auto_start=False)
    pg.settings["postgres_args"] += " -c max_prepared_transactions=2"
    try:
        pg.start()
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            conn.execute(USER_DATA)
            conn.execute("CREATE ROLE sweep_alice")
            conn.execute(f"SELECT lo_from_bytea({BLOB}, 'user blob')")
        yield pg
    finally:
        pg.stop()
        assert wait_gone(child_pids() - before) == set(), "processes left behind"


def escape(dsn: str, tmp_path: Path, upgrade: str) -> IsolationEscapeError:
    config = project(tmp_path, upgrade)
    with Gauntlet(dsn, config) as gauntlet, pytest.raises(IsolationEscapeError) as info:
        gauntlet.check_upgrade()
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT gid FROM pg_prepared_xacts").fetchall() == []
    return info.value


def test_a_deferred_trigger_writing_outside_at_commit_is_stopped(dsn: str, tmp_path: Path) -> None:
    """The trigger fires at COMMIT, after the check used to run: the guard fires what is
    deferred first (SET CONSTRAINTS ALL IMMEDIATE), then checks."""
    error = escape(
        dsn,
        tmp_path,
        'op.execute("CREATE FUNCTION spill() RETURNS trigger LANGUAGE plpgsql AS '
        '$$ BEGIN UPDATE public.users SET n = 0 WHERE id = 1; RETURN NEW; END $$")\n'
        'op.execute("CREATE CONSTRAINT TRIGGER t AFTER INSERT ON things '
        'DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION spill()")\n'
        'op.execute("INSERT INTO things VALUES (1)")',
    )
    assert any("rows of table public.users changed" in p for p in error.problems)
    assert "nothing of it was committed" in str(error)


@pytest.mark.parametrize(
    ("statement", "seen"),
    [
        ("SELECT lo_create(0)", "created outside"),
        (f"SELECT lo_put({BLOB}, 0, 'XXXX')", "large object data written outside"),
        (f"SELECT lo_unlink({BLOB})", f"large object {BLOB} dropped outside"),
        (f"ALTER LARGE OBJECT {BLOB} OWNER TO sweep_alice", f"large object {BLOB} changed"),
        (f"GRANT SELECT ON LARGE OBJECT {BLOB} TO sweep_alice", f"large object {BLOB} changed"),
    ],
)
def test_large_objects_are_outside(dsn: str, tmp_path: Path, statement: str, seen: str) -> None:
    """pg_largeobject is database-wide, in no schema: any large object a migration
    creates, writes, drops or re-grants is outside."""
    error = escape(dsn, tmp_path, f'op.execute("{statement}")')
    assert any(seen in p for p in error.problems), error.problems
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute(f"SELECT lo_get({BLOB})").fetchone() == (b"user blob",)


@pytest.mark.parametrize(
    ("statement", "seen"),
    [
        ("CREATE CAST (public.mood AS int) WITH INOUT AS ASSIGNMENT", "cast public.mood as"),
        ("CREATE FOREIGN DATA WRAPPER sweep_w", "foreign-data wrapper sweep_w created"),
        (
            "CREATE OPERATOR public.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = int4eq)",
            "operator public.===(integer, integer) created",
        ),
        ('CREATE COLLATION public.c2 FROM \\"C\\"', "collation public.c2"),
        (
            "CREATE TEXT SEARCH CONFIGURATION public.ts (COPY = simple)",
            "text search configuration public.ts created",
        ),
    ],
)
def test_objects_of_no_schema_are_outside(
    dsn: str, tmp_path: Path, statement: str, seen: str
) -> None:
    error = escape(dsn, tmp_path, f'op.execute("{statement}")')
    assert any(seen in p for p in error.problems), error.problems


def test_a_user_mapping_is_outside(dsn: str, tmp_path: Path) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE FOREIGN DATA WRAPPER sweep_fdw")
        conn.execute("CREATE SERVER sweep_srv FOREIGN DATA WRAPPER sweep_fdw")
    try:
        error = escape(
            dsn, tmp_path, 'op.execute("CREATE USER MAPPING FOR sweep_alice SERVER sweep_srv")'
        )
        assert any("user mapping sweep_alice for server sweep_srv" in p for p in error.problems)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DROP FOREIGN DATA WRAPPER sweep_fdw CASCADE")


def test_prepare_transaction_is_refused(dsn: str, tmp_path: Path) -> None:
    """Only the run's own table written, then PREPARE TRANSACTION: the prepared
    transaction would outlive the run (holding the isolated schema's locks, so the run
    left its schema behind). It is refused before it is sent; nothing left (``escape``
    and the ``dsn`` fixture check)."""
    error = escape(
        dsn,
        tmp_path,
        "op.execute(\"INSERT INTO things VALUES (7)\")\nop.execute(\"PREPARE TRANSACTION 'gy'\")",
    )
    assert "PREPARE TRANSACTION" in str(error)
    assert error.revision == "r2"


def test_alter_system_in_an_autocommit_block_is_reported(dsn: str, tmp_path: Path) -> None:
    """ALTER SYSTEM runs only outside a transaction: committed as it runs, reported when
    the block ends (postgresql.auto.conf's settings, read as it begins and ends)."""
    try:
        error = escape(
            dsn,
            tmp_path,
            "with op.get_context().autocommit_block():\n"
            "    op.execute(\"ALTER SYSTEM SET work_mem = '7MB'\")",
        )
        assert any("system setting work_mem created" in p for p in error.problems)
        assert "could not roll them back" in str(error)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM RESET work_mem")


DEFERRED_FK = (
    'op.execute("CREATE TABLE parent (id int PRIMARY KEY)")\n'
    'op.execute("CREATE TABLE child (p int REFERENCES parent DEFERRABLE INITIALLY DEFERRED)")\n'
    'op.execute("INSERT INTO child VALUES (1)")\n'
    'op.execute("CREATE FUNCTION g() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$")\n'
)


def test_deferred_constraints_stay_deferred_until_the_commit(dsn: str, tmp_path: Path) -> None:
    """The guard fires deferred work only at the commit itself: a PL/pgSQL body's
    '; END' (a statement that might end the transaction, checked first) does not make
    the migration's deferred foreign key immediate (the child row comes first)."""
    config = project(tmp_path, DEFERRED_FK + 'op.execute("INSERT INTO parent VALUES (1)")')
    with Gauntlet(dsn, config) as gauntlet:
        gauntlet.check_upgrade()


def test_a_deferred_constraint_failing_at_the_commit_is_the_migrations_error(
    dsn: str, tmp_path: Path
) -> None:
    """Fired by the guard before the commit, it fails as the commit itself would
    (SQLAlchemy's IntegrityError, as before the guard fired deferred work), never as the
    guard's error."""
    config = project(tmp_path, DEFERRED_FK)
    with Gauntlet(dsn, config) as gauntlet, pytest.raises(sqlalchemy.exc.IntegrityError) as info:
        gauntlet.check_upgrade()
    assert "child_p_fkey" in str(info.value)
