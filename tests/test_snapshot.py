"""The catalog snapshot behind no_trace sees what autogenerate cannot, and nothing volatile."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from gauntlet_sync import Gauntlet, GauntletConfig, snapshot, walks
from gauntlet_sync.checks.no_trace import TraceWatch
from tests.histories import catalog

OBJECTS = """
CREATE TYPE mood AS ENUM ('sad', 'ok');
CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
CREATE TABLE t (id serial PRIMARY KEY, m mood, n positive DEFAULT 1, note text);
CREATE INDEX ix_t_note ON t (note);
CREATE VIEW v AS SELECT id, note FROM t;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER t_touch BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION touch();
CREATE POLICY p ON t USING (id > 0);
COMMENT ON TABLE t IS 'things';
"""

CHANGES = {
    "enum label": ("ALTER TYPE mood ADD VALUE 'glad'", "type mood"),
    "domain check": ("ALTER DOMAIN positive ADD CHECK (VALUE < 100)", "constraint positive."),
    "column default": ("ALTER TABLE t ALTER COLUMN n SET DEFAULT 2", "column t.n"),
    "nullability": ("ALTER TABLE t ALTER COLUMN note SET NOT NULL", "column t.note"),
    "index": ("DROP INDEX ix_t_note", "index ix_t_note"),
    "view": ("CREATE OR REPLACE VIEW v AS SELECT id, note, 1 AS x FROM t", "view v"),
    "function body": (
        "CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql "
        "AS $$ BEGIN RETURN OLD; END $$",
        "function touch()",
    ),
    "trigger": ("DROP TRIGGER t_touch ON t", "trigger t.t_touch"),
    "policy": ("DROP POLICY p ON t", "policy t.p"),
    "comment": ("COMMENT ON TABLE t IS 'stuff'", "comment t"),
    "sequence": ("ALTER SEQUENCE t_id_seq INCREMENT BY 5", "sequence t_id_seq"),
}


@pytest.fixture
def conn() -> Iterator[tuple[Connection, str]]:
    config = GauntletConfig(alembic_ini=catalog.ini("empty"))
    with Gauntlet(None, config) as gauntlet, gauntlet.isolated() as db:
        db.execute(OBJECTS)
        yield db.connection, db.schema


@pytest.mark.parametrize("change", list(CHANGES))
def test_each_kind_of_change_shows_up_by_name(conn: tuple[Connection, str], change: str) -> None:
    connection, schema = conn
    before = snapshot.take(connection, schema)
    statement, expected = CHANGES[change]
    connection.execute(text(statement))
    connection.commit()
    lines = before.diff(snapshot.take(connection, schema))
    assert any(expected in line for line in lines), lines
    assert all("\n" not in line for line in lines), lines


def test_data_and_sequence_positions_are_not_catalog(conn: tuple[Connection, str]) -> None:
    connection, schema = conn
    before = snapshot.take(connection, schema)
    connection.execute(text("INSERT INTO t (m, n, note) VALUES ('ok', 3, 'x')"))
    connection.execute(text("SELECT setval('t_id_seq', 42)"))
    connection.commit()
    assert before.diff(snapshot.take(connection, schema)) == []


def test_recreating_an_enum_with_the_same_labels_leaves_no_trace(
    conn: tuple[Connection, str],
) -> None:
    """New OIDs, same definitions: a correct downgrade that rebuilds a type is clean."""
    connection, schema = conn
    before = snapshot.take(connection, schema)
    for statement in (
        "ALTER TYPE mood RENAME TO mood_old",
        "CREATE TYPE mood AS ENUM ('sad', 'ok')",
        "ALTER TABLE t ALTER COLUMN m TYPE mood USING m::text::mood",
        "DROP TYPE mood_old",
    ):
        connection.execute(text(statement))
    connection.commit()
    assert before.diff(snapshot.take(connection, schema)) == []


def test_changes_outside_the_schema_are_named(conn: tuple[Connection, str]) -> None:
    connection, schema = conn
    connection.execute(text("CREATE SCHEMA outside_probe"))
    connection.execute(text("CREATE TABLE outside_probe.kept (id int)"))
    connection.commit()
    try:
        before = snapshot.take_outside(connection, schema)
        connection.execute(text("ALTER TABLE outside_probe.kept ADD COLUMN note text"))
        connection.execute(text("CREATE TABLE outside_probe.leak (id int)"))
        connection.execute(text("CREATE TABLE t2 (id int)"))  # inside: not an escape
        connection.commit()
        lines = snapshot.escapes(before, snapshot.take_outside(connection, schema))
        assert lines == [
            "table outside_probe.kept changed outside the isolated schema",
            "table outside_probe.leak created outside the isolated schema",
        ]
    finally:
        connection.rollback()
        connection.execute(text("DROP SCHEMA outside_probe CASCADE"))
        connection.commit()


class _BothWays(TraceWatch):
    """Takes each snapshot through the prepared statement and through the plain query."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.taken = 0

    def _take(self, conn: Connection) -> snapshot.Snapshot:
        prepared = super()._take(conn)
        skip = self.skip_tables | {self.session.version_table[1]}
        assert prepared == snapshot.take(conn, self.schema, skip)
        self.taken += 1
        return prepared


@pytest.mark.parametrize(
    "history", sorted({exp.history for exp in catalog.EXPECTATIONS} | {"empty"})
)
def test_the_prepared_snapshot_agrees_with_the_plain_query_along_the_walk(history: str) -> None:
    """The walk's snapshots (a statement prepared once, kept across DDL and psycopg's own
    clean-ups) read exactly what the straightforward query reads, at every step."""
    config = GauntletConfig(alembic_ini=catalog.ini(history))
    with Gauntlet(None, config) as gauntlet, gauntlet.workspace.session() as session:
        watch = _BothWays(session, config.ignored_tables)
        steps = walks.stairway_plan(gauntlet.history, gauntlet.history.irreversible(None))
        walks.walk(session, steps, name="stairway", hooks={"no_trace": watch})
    assert watch.taken >= (1 if gauntlet.history.ids else 0)


def test_the_prepared_snapshot_survives_psycopg_clean_ups(conn: tuple[Connection, str]) -> None:
    """psycopg deallocates every prepared statement it knows of after a DROP; the
    snapshot's statement is prepared where psycopg does not look, so it is still there."""
    connection, schema = conn
    snapshots = snapshot.Snapshotter(schema)
    before = snapshots.take(connection)
    for _ in range(6):  # psycopg prepares a statement from its fifth run on, if allowed
        connection.execute(text("SELECT count(*) FROM t"))
    connection.execute(text("CREATE TABLE gone (id int)"))
    connection.execute(text("DROP TABLE gone"))
    connection.execute(text("ALTER TABLE t ADD COLUMN extra int"))
    lines = before.diff(snapshots.take(connection))
    assert lines == ["column t.extra left behind (integer null)"]
    assert snapshots.take(connection) == snapshot.take(connection, schema)


def test_a_connection_psycopg_prepared_on_gets_the_plain_query(
    conn: tuple[Connection, str],
) -> None:
    connection, schema = conn
    for _ in range(6):  # psycopg has now prepared this one: a DROP will DEALLOCATE ALL
        connection.execute(text("SELECT count(*) FROM t"))
    snapshots = snapshot.Snapshotter(schema)
    before = snapshots.take(connection)
    connection.execute(text("CREATE TABLE gone (id int)"))
    connection.execute(text("DROP TABLE gone"))
    assert before.diff(snapshots.take(connection)) == []


# --- without a server: the comparisons --------------------------------------------------------


def test_a_snapshot_diff_names_what_was_left_missing_or_changed() -> None:
    before = snapshot.Snapshot((("function", "f()", "v1"), ("table", "t", "id int")))
    after = snapshot.Snapshot((("function", "f()", "v2"), ("sequence", "s", "bigint")))
    assert before.diff(before) == []
    assert before.diff(after) == [
        "function f() changed: v1 -> v2",
        "sequence s left behind (bigint)",
        "table t missing after downgrade (was id int)",
    ]


def test_escapes_outside_the_schema_are_created_changed_or_dropped() -> None:
    before = snapshot.Snapshot((("table", "public.kept", "a"), ("table", "public.gone", "b")))
    after = snapshot.Snapshot((("table", "public.kept", "A"), ("view", "public.new", "c")))
    assert snapshot.escapes(before, after) == [
        "table public.kept changed outside the isolated schema",
        "view public.new created outside the isolated schema",
        "table public.gone dropped outside the isolated schema",
    ]


def test_a_leftover_extension_is_one_line_not_one_per_member(
    conn: tuple[Connection, str],
) -> None:
    """An extension's members (pg_depend deptype 'e': citext's functions, operators'
    functions, casts' functions...) are not listed: its own row, with its version and its
    member count, stands for them; objects of the schema that only use it stay listed, and
    a member added or dropped by hand changes the extension's row."""
    connection, schema = conn
    before = snapshot.take(connection, schema)
    try:
        connection.execute(text("CREATE EXTENSION citext"))
        connection.execute(text("CREATE TABLE people (name citext)"))
        connection.commit()
        lines = before.diff(snapshot.take(connection, schema))
        assert len(lines) == 3, lines  # the extension, the table, its column
        extension = next(line for line in lines if line.startswith("extension "))
        assert extension.startswith("extension citext left behind (")
        assert extension.endswith(" member objects)")
        assert "column people.name left behind (citext null)" in lines
        with_extension = snapshot.take(connection, schema)
        connection.execute(
            text("CREATE FUNCTION shout(citext) RETURNS text LANGUAGE sql AS 'SELECT 1::text'")
        )
        connection.execute(text("ALTER EXTENSION citext ADD FUNCTION shout(citext)"))
        connection.commit()
        (changed,) = with_extension.diff(snapshot.take(connection, schema))
        assert changed.startswith("extension citext changed: ") and "member objects" in changed
    finally:
        connection.rollback()
        connection.execute(text("DROP EXTENSION IF EXISTS citext CASCADE"))
        connection.commit()
