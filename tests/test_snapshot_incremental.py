"""no_trace's incremental snapshots (gauntlet_sync.incremental) equal the whole query's.

Every test here walks with the verification mode on: each incremental snapshot is compared
with the whole query (``snapshot._SNAPSHOT_SQL``) and a difference raises. The traps: a
step changes what OTHER objects print (a renamed table in an FK, a renamed column in an
index, a sequence in a default, an enum label, a type's name in a column), a COMMIT inside
a step, objects outside the schema, settings that change how definitions print.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from gauntlet_sync import (
    EmbeddedPostgres,
    Gauntlet,
    GauntletConfig,
    incremental,
    snapshot,
    step_locks,
    walks,
)
from gauntlet_sync.checks.no_trace import TraceWatch
from tests import generated
from tests import test_differential as differential
from tests.histories import catalog

pytestmark = pytest.mark.usefixtures("no_leftovers")


@pytest.fixture(autouse=True)
def verifying(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Verification on, every schema followed however small; the counts of this test."""
    monkeypatch.setattr(incremental, "VERIFY", True)
    monkeypatch.setattr(incremental, "MIN_ROWS", 0)
    monkeypatch.setenv("GAUNTLET_VERIFY_SNAPSHOTS", "1")
    monkeypatch.setenv("GAUNTLET_INCREMENTAL_MIN_ROWS", "0")
    before = dict(incremental.COUNTS)
    counts: dict[str, int] = {}
    yield counts
    counts.update({k: incremental.COUNTS[k] - before[k] for k in before})


def _counts_since(before: dict[str, int]) -> dict[str, int]:
    return {k: incremental.COUNTS[k] - before[k] for k in before}


@pytest.mark.parametrize(
    "history", sorted({exp.history for exp in catalog.EXPECTATIONS} | {"empty"})
)
def test_the_walk_snapshots_equal_the_whole_query_on_every_catalog_history(history: str) -> None:
    config = GauntletConfig(alembic_ini=catalog.ini(history))
    before = dict(incremental.COUNTS)
    with Gauntlet(None, config) as gauntlet, gauntlet.workspace.session() as session:
        watch = TraceWatch(session, config.ignored_tables)
        steps = walks.stairway_plan(gauntlet.history, gauntlet.history.irreversible(None))
        outcome = walks.walk(session, steps, name="stairway", hooks={"no_trace": watch})
    if outcome.failure is not None:
        assert "incremental snapshot" not in str(outcome.failure), outcome.failure
    counts = _counts_since(before)
    assert counts["verified"] == counts["incremental"] + counts["whole"]
    if len(gauntlet.history.ids) > 1 and outcome.failure is None:
        assert counts["incremental"] > 0, counts


#: Histories whose steps changed the schema where the walk connection's locks at the step's
#: end did not show it: JupyterHub's env.py shape (``transaction_per_migration=True``: alembic
#: committed each revision before the walk checks' ``after``; the checks' reads then began a
#: transaction SQLAlchemy did not see, which the walk left open into the next step's DDL; the
#: step end now runs from ``on_version_apply``, inside the revision's transaction; the same
#: with ``transactional_ddl=False``), and a migration's DDL committed on an engine of its own.
ELSEWHERE = ["per_migration", "no_transactional_ddl", "other_connection"]


@pytest.mark.parametrize("history", ELSEWHERE)
def test_changes_the_step_locks_do_not_show_give_whole_snapshots(history: str) -> None:
    config = GauntletConfig(alembic_ini=catalog.ini(history))
    before = dict(incremental.COUNTS)
    with Gauntlet(None, config) as gauntlet, gauntlet.workspace.session() as session:
        watch = TraceWatch(session, config.ignored_tables)
        steps = walks.stairway_plan(gauntlet.history, gauntlet.history.irreversible(None))
        outcome = walks.walk(session, steps, name="stairway", hooks={"no_trace": watch})
    assert outcome.failure is None, outcome.failure
    assert watch.data().traces == {} and len(watch.data().compared) == 3
    counts = _counts_since(before)
    assert counts["verified"] == counts["incremental"] + counts["whole"] == 6, counts


SETUP = """
CREATE TYPE mood AS ENUM ('sad', 'ok');
CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
CREATE TYPE pair AS (a integer, b text);
CREATE SEQUENCE codes;
CREATE FUNCTION next_code() RETURNS integer LANGUAGE sql AS 'SELECT 7';
CREATE TABLE parent (id serial PRIMARY KEY, name text UNIQUE, m mood DEFAULT 'ok',
                     ms mood[] DEFAULT ARRAY['sad']::mood[]);
CREATE TABLE t (id serial PRIMARY KEY, parent_id integer REFERENCES parent (id),
                n positive DEFAULT 1, note text, code integer DEFAULT nextval('codes'),
                c2 integer DEFAULT next_code(), p pair, row_of parent,
                at timestamptz DEFAULT '2020-01-01 00:00:00+00',
                CONSTRAINT note_len CHECK (length(note) < 100));
CREATE INDEX ix_t_note ON t (lower(note));
CREATE INDEX ix_parent_name ON parent (name) WHERE m = 'ok';
CREATE VIEW v AS SELECT t.id, t.note, parent.name FROM t JOIN parent ON parent.id = t.parent_id;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER t_touch BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION touch();
ALTER TABLE t ENABLE ROW LEVEL SECURITY;
CREATE POLICY p ON t USING (parent_id IN (SELECT id FROM parent WHERE m = 'ok'));
COMMENT ON TABLE t IS 'things';
COMMENT ON COLUMN parent.name IS 'the name';
"""

COMMIT = "-- commit"  # a COMMIT inside the step, as alembic's autocommit_block makes one

#: each trap: the steps (each a list of statements, one transaction unless COMMIT)
TRAPS: dict[str, list[list[str]]] = {
    "rename a table an FK, a view, a policy and a row-type column print": [
        ["ALTER TABLE parent RENAME TO parent2"],
        ["ALTER TABLE parent2 RENAME TO parent"],
    ],
    "rename a column an index, an FK, a view and a policy print": [
        ["ALTER TABLE parent RENAME COLUMN id TO pid"],
        ["ALTER TABLE parent RENAME COLUMN m TO mm"],
        ["ALTER TABLE t RENAME COLUMN note TO memo"],
    ],
    "rename an enum label a default and an index predicate print": [
        ["ALTER TYPE mood RENAME VALUE 'ok' TO 'fine'"],
        ["ALTER TYPE mood RENAME VALUE 'sad' TO 'blue'"],
    ],
    "add an enum label": [["ALTER TYPE mood ADD VALUE 'glad'"]],
    "rename a sequence a default prints": [["ALTER SEQUENCE codes RENAME TO codes2"]],
    "rename an owned sequence": [["ALTER SEQUENCE t_id_seq RENAME TO t_ids"]],
    "rename a type columns print (and its array)": [["ALTER TYPE mood RENAME TO feeling"]],
    "rename a domain and change its default": [
        ["ALTER DOMAIN positive RENAME TO pos"],
        ["ALTER DOMAIN pos SET DEFAULT 5"],
        ["ALTER DOMAIN pos ADD CONSTRAINT small CHECK (VALUE < 1000)"],
        ["ALTER DOMAIN pos DROP CONSTRAINT small"],
    ],
    "rename a composite type and its attribute": [
        ["ALTER TYPE pair RENAME TO couple"],
        ["ALTER TYPE couple RENAME ATTRIBUTE a TO first"],
    ],
    "rename functions a default and a trigger print": [
        ["ALTER FUNCTION next_code() RENAME TO code_next"],
        ["ALTER FUNCTION touch() RENAME TO touch2"],
    ],
    "replace a function body": [
        ["CREATE OR REPLACE FUNCTION next_code() RETURNS integer LANGUAGE sql AS 'SELECT 8'"]
    ],
    "overload a function a default calls, and drop the overload": [
        ["CREATE FUNCTION next_code(integer) RETURNS integer LANGUAGE sql AS 'SELECT $1'"],
        ["DROP FUNCTION next_code(integer)"],
    ],
    "shadow a pg_catalog function an index uses": [
        ["CREATE FUNCTION lower(varchar) RETURNS text LANGUAGE sql AS 'SELECT $1::text'"],
        ["DROP FUNCTION lower(varchar)"],
    ],
    "a COMMIT inside a step": [
        ["ALTER TABLE t ADD COLUMN extra integer", COMMIT, "ALTER TABLE t RENAME TO t2"],
        ["ALTER TABLE t2 RENAME TO t", COMMIT],
        [COMMIT, "ALTER TYPE mood ADD VALUE 'late'"],
    ],
    "a view over a changed table": [
        ["ALTER TABLE parent ALTER COLUMN m SET DEFAULT 'sad'", "ALTER TABLE t ADD COLUMN w int"],
        ["ALTER VIEW v RENAME COLUMN note TO remark"],
        [
            "CREATE OR REPLACE VIEW v AS SELECT t.id, t.note AS remark, parent.name, 1 AS one"
            " FROM t JOIN parent ON parent.id = t.parent_id"
        ],
        ["DROP VIEW v"],
    ],
    "savepoints, one rolled back": [
        ["SAVEPOINT a", "ALTER TABLE t ADD COLUMN s1 integer", "RELEASE SAVEPOINT a"],
        [
            "SAVEPOINT b",
            "ALTER TABLE parent RENAME TO gone",
            "ROLLBACK TO SAVEPOINT b",
            "CREATE TABLE after_rollback (id integer)",
        ],
    ],
    "a temporary table shadows a relation": [
        ["CREATE TEMPORARY TABLE parent (id integer)"],
        ["DROP TABLE pg_temp.parent"],
    ],
    "settings that change how definitions print": [
        ["SET TIME ZONE 'Asia/Tokyo'"],
        ["SET TIME ZONE 'UTC'"],
        ["SET search_path = {schema}, public"],
        ["SET search_path = {schema}"],
    ],
    "move a table out of the schema and back": [
        ["ALTER TABLE parent SET SCHEMA public"],
        ["ALTER TABLE public.parent SET SCHEMA {schema}"],
        ["ALTER TYPE mood SET SCHEMA public"],
        ["ALTER TYPE public.mood SET SCHEMA {schema}"],
    ],
    "an object outside the schema that ours print": [
        [
            "CREATE TABLE public.outer_ref (id integer PRIMARY KEY)",
            "ALTER TABLE t ADD COLUMN o integer REFERENCES public.outer_ref (id)",
        ],
        ["ALTER TABLE public.outer_ref RENAME TO outer_ref2"],
        ["ALTER TABLE t DROP COLUMN o", "DROP TABLE public.outer_ref2"],
    ],
    "comments, an index and a constraint renamed": [
        ["COMMENT ON COLUMN t.note IS 'a note'", "COMMENT ON TABLE t IS NULL"],
        ["ALTER INDEX ix_t_note RENAME TO ix_t_lower_note"],
        ["ALTER TABLE t RENAME CONSTRAINT note_len TO note_length"],
        ["COMMENT ON INDEX ix_t_lower_note IS 'lower'"],
    ],
    "OWNED BY NONE and back": [
        ["ALTER SEQUENCE t_id_seq OWNED BY NONE"],
        ["ALTER SEQUENCE t_id_seq OWNED BY t.id"],
    ],
    "drop a table with CASCADE, recreate it": [
        ["DROP TABLE parent CASCADE"],
        [
            "CREATE TABLE parent (id serial PRIMARY KEY, name text)",
            "ALTER TABLE t ADD CONSTRAINT t_parent_fk FOREIGN KEY (parent_id) REFERENCES parent",
        ],
    ],
    "a trigger and a policy dropped and made again": [
        ["DROP TRIGGER t_touch ON t", "DROP POLICY p ON t"],
        [
            "CREATE TRIGGER t_touch2 AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION touch()",
            "CREATE POLICY p2 ON t USING (true)",
        ],
    ],
    "data only": [["INSERT INTO parent (name) VALUES ('x')", "SELECT nextval('codes')"]],
    "an extension made and dropped": [
        ["CREATE EXTENSION citext"],
        ["CREATE TABLE people (name citext)"],
        ["DROP TABLE people", "DROP EXTENSION citext"],
    ],
    "an enum rebuilt under the same name": [
        ["ALTER TABLE t DROP COLUMN row_of"],
        [
            "ALTER TYPE mood RENAME TO mood_old",
            "CREATE TYPE mood AS ENUM ('sad', 'ok')",
            "ALTER TABLE parent ALTER COLUMN m DROP DEFAULT",
            "ALTER TABLE parent ALTER COLUMN ms DROP DEFAULT",
            "DROP POLICY p ON t",
            "DROP INDEX ix_parent_name",
            "ALTER TABLE parent ALTER COLUMN m TYPE mood USING m::text::mood",
            "ALTER TABLE parent ALTER COLUMN ms TYPE mood[] USING ms::text[]::mood[]",
            "DROP TYPE mood_old",
        ],
    ],
}


@pytest.fixture
def isolated() -> Iterator[tuple[Connection, str]]:
    config = GauntletConfig(alembic_ini=catalog.ini("empty"))
    with Gauntlet(None, config) as gauntlet, gauntlet.isolated() as db:
        db.execute(SETUP)
        yield db.connection, db.schema


def _walk_statements(conn: Connection, schema: str, steps: list[list[str]]) -> None:
    """Each step as a walk runs it: a snapshot at its start and at its end (verified), the
    end-of-step read, the commit."""
    shots = snapshot.Snapshotter(schema, ("alembic_version",), incremental=True)
    shots.take(conn)
    try:
        for step in steps:
            shots.take(conn)
            for statement in step:
                if statement == COMMIT:
                    conn.commit()
                else:
                    conn.execute(text(statement.replace("{schema}", schema)))
            shots.take(conn)
            shots.step_end(conn, step_locks.read(conn) if shots.follows(conn) else None)
            conn.commit()
        shots.take(conn)
    finally:
        conn.rollback()
        conn.execute(text("SET search_path = " + schema))
        conn.execute(text("RESET TIME ZONE"))
        conn.commit()


@pytest.mark.parametrize("trap", list(TRAPS))
def test_a_step_that_changes_what_other_objects_print(
    isolated: tuple[Connection, str], trap: str
) -> None:
    connection, schema = isolated
    before = dict(incremental.COUNTS)
    try:
        _walk_statements(connection, schema, TRAPS[trap])
    finally:
        connection.rollback()
        connection.execute(text("DROP TABLE IF EXISTS public.outer_ref, public.outer_ref2"))
        connection.execute(text("DROP TABLE IF EXISTS public.parent CASCADE"))
        connection.execute(text("DROP TYPE IF EXISTS public.mood CASCADE"))
        connection.commit()
    counts = _counts_since(before)
    assert counts["verified"] == counts["incremental"] + counts["whole"], counts
    assert counts["incremental"] > 0, counts


@pytest.mark.parametrize("name", sorted(differential.CORPUS))
def test_the_hand_written_histories_give_their_verdicts_with_every_snapshot_verified(
    name: str,
) -> None:
    """run_all of the walks, split and forked as it comes (the children verify too): the
    verdicts are the corpus's, and no snapshot differed (a difference fails the walk)."""
    isolation = "database" if name in differential.DATABASE_ISOLATION else "schema"
    before = dict(incremental.COUNTS)
    outcome, _ = differential.gauntlet_outcome(
        differential.fidelity_config(name)(), parallel=True, isolation=isolation
    )
    expected = differential.CORPUS[name]
    assert differential.verdicts(outcome) == {
        n: differential._verdict(n, *verdict) for n, verdict in expected.items()
    }
    counts = _counts_since(before)
    assert counts["verified"] == counts["incremental"] + counts["whole"], counts


GENERATED = 8


@pytest.mark.parametrize("index", range(GENERATED))
def test_generated_histories_give_the_same_verdicts_with_every_snapshot_verified(
    index: int, tmp_path: Any
) -> None:
    """Histories alembic's autogenerate wrote (test_differential's plans, every
    EXAMPLES // GENERATED-th): the walks' verdicts equal those with whole snapshots only,
    and no incremental snapshot differed from the whole one."""
    plans = differential.drawn_plans(differential.EXAMPLES)
    plan = plans[index * len(plans) // GENERATED]
    engine = create_engine(EmbeddedPostgres.shared().url, poolclass=NullPool)
    scratch = f"incremental_scratch_{os.getpid()}"
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            ini = generated.write_history(
                plan, tmp_path / "project", conn, scratch, catalog.HISTORIES / "_envs" / "cookbook"
            )
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{scratch}" CASCADE'))
    finally:
        engine.dispose()
    before = dict(incremental.COUNTS)
    followed, _ = differential.gauntlet_outcome(
        Config(str(ini)), parallel=False, isolation="schema"
    )
    counts = _counts_since(before)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(incremental, "MIN_ROWS", 10**9)  # whole snapshots only
        whole, _ = differential.gauntlet_outcome(
            Config(str(ini)), parallel=False, isolation="schema"
        )
    assert followed == whole
    assert counts["verified"] == counts["incremental"] + counts["whole"], counts
