"""Nothing outside the run's own objects is ever committed changed (issue 13, cases 2-7).

A private server stands for a shared database the user gives by DSN: ``public`` holds the
user's rows (``people`` with a ``citext`` column, ``users`` with 100 rows and a sequence,
an enum, a function, a comment...). Each history below reaches outside its isolated schema
in one way. Every test proves, after the run, that the whole outside is unchanged (the
catalog, every row of every table outside, sequences, the database's settings and
comment, roles and their settings, grants, default privileges) and that no schema,
database or role of the run is left; and that the escape was reported as an
``IsolationEscapeError`` naming the object.
"""

from __future__ import annotations

import shutil
import textwrap
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
    MigrationEnvironmentError,
)
from gauntlet_sync import outside as outside_module
from tests.histories import catalog
from tests.reliability import ISOLATED_NAME, leftovers, private_server

USER_DATA = """
CREATE EXTENSION citext;
CREATE TABLE public.people (id serial PRIMARY KEY, email citext NOT NULL);
INSERT INTO public.people (email) SELECT 'p' || g || '@example.com' FROM generate_series(1, 50) g;
CREATE TABLE public.users (id serial PRIMARY KEY, name text NOT NULL, n int);
INSERT INTO public.users (name, n) SELECT 'user ' || g, g FROM generate_series(1, 100) g;
CREATE TYPE public.mood AS ENUM ('sad', 'ok');
CREATE FUNCTION public.answer() RETURNS int LANGUAGE sql AS 'SELECT 42';
COMMENT ON TABLE public.users IS 'the users';
CREATE SCHEMA billing;
CREATE TABLE billing.invoices (id int PRIMARY KEY, total numeric);
INSERT INTO billing.invoices SELECT g, g * 1.5 FROM generate_series(1, 20) g;
"""


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedPostgres]:
    with private_server() as pg:
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            conn.execute(USER_DATA)
        yield pg


@pytest.fixture()
def dsn(server: EmbeddedPostgres) -> Iterator[str]:
    """The user's DSN; afterwards the outside must be exactly as before, nothing left."""
    before = state(server.dsn)
    yield server.dsn
    assert leftovers(server) == []
    after = state(server.dsn)
    assert after == before, describe_difference(before, after)


def state(dsn: str) -> dict[str, object]:
    """Everything outside that a run could change, rows included."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        catalog_rows = outside_module.take(conn, ())
        tables = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname IN ('public', 'billing')"
        ).fetchall()
        rows: dict[str, object] = {}
        for schema, table in tables:
            query = sql.SQL(
                "SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')), "
                "count(*) FROM {}.{} t"
            ).format(sql.Identifier(schema), sql.Identifier(table))
            rows[f"{schema}.{table}"] = conn.execute(query).fetchone()
        sequence = conn.execute("SELECT last_value, is_called FROM public.users_id_seq").fetchone()
        roles = conn.execute("SELECT rolname FROM pg_roles ORDER BY 1").fetchall()
    return {"catalog": catalog_rows, "rows": rows, "sequence": sequence, "roles": roles}


def describe_difference(before: dict[str, object], after: dict[str, object]) -> str:
    lines = []
    for key in before:
        if before[key] != after[key]:
            if key == "catalog":
                lines += list(outside_module.describe(before[key], after[key]).values())  # type: ignore[arg-type]
            else:
                lines.append(f"{key}: {before[key]} -> {after[key]}")
    return "outside changed: " + "; ".join(lines)


REVISION = '''\
"""{doc}"""
from alembic import op
import sqlalchemy as sa

revision = {rev!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade():
{upgrade}


def downgrade():
{downgrade}
'''


def project(
    root: Path,
    upgrade: str,
    downgrade: str = "pass",
    *,
    env: str = "cookbook",
    env_edit: tuple[str, str] | None = None,
) -> GauntletConfig:
    """A two-revision history: r1 creates a table in the isolated schema; r2 runs the
    given bodies (Python, in alembic's ``op`` terms)."""
    shutil.copytree(catalog.HISTORIES / "_envs" / env, root / "env")
    if env_edit is not None:
        env_py = root / "env" / "env.py"
        old, new = env_edit
        text = env_py.read_text()
        assert old in text
        env_py.write_text(text.replace(old, new))
    versions = root / "versions"
    versions.mkdir()
    revisions = [
        (
            "r1",
            None,
            "op.create_table('things', sa.Column('id', sa.Integer, primary_key=True))",
            "op.drop_table('things')",
        ),
        ("r2", "r1", upgrade, downgrade),
    ]
    for rev, down, up, back in revisions:
        (versions / f"{rev}.py").write_text(
            REVISION.format(
                doc=f"revision {rev}",
                rev=rev,
                down=down,
                upgrade=textwrap.indent(up, "    "),
                downgrade=textwrap.indent(back, "    "),
            )
        )
    ini = (catalog.HISTORIES / "clean" / "alembic.ini").read_text()
    ini = ini.replace("%(here)s/../_envs/cookbook", "%(here)s/env")
    (root / "alembic.ini").write_text(ini)
    return GauntletConfig(alembic_ini=str(root / "alembic.ini"))


def run_all(dsn: str, config: GauntletConfig) -> dict[str, tuple[str, str]]:
    with Gauntlet(dsn, config) as gauntlet:
        report = gauntlet.run_all(raise_on_failure=False)
    return {r.name: (r.status, type(r.error).__name__) for r in report.results}


def escape_of(dsn: str, config: GauntletConfig) -> IsolationEscapeError:
    with Gauntlet(dsn, config) as gauntlet, pytest.raises(IsolationEscapeError) as info:
        gauntlet.check_isolation()
    return info.value


# --- case 2: an extension's downgrade drops a user's column ---------------------------------


def test_dropping_an_extension_the_user_relies_on_is_stopped(dsn: str, tmp_path: Path) -> None:
    """citext is in public and public.people.email uses it: the history's downgrade
    ``DROP EXTENSION citext CASCADE`` would drop that column. It is rolled back."""
    config = project(
        tmp_path,
        'op.execute("CREATE EXTENSION IF NOT EXISTS citext")',
        'op.execute("DROP EXTENSION citext CASCADE")',
    )
    statuses = run_all(dsn, config)
    assert statuses["upgrade"] == ("passed", "NoneType")
    assert statuses["isolation"] == ("passed", "NoneType")  # the upgrade itself stays inside
    for check in ("downgrade_to_base", "stairway", "no_trace"):
        assert statuses[check] == ("error", "IsolationEscapeError"), (check, statuses)
    with Gauntlet(dsn, config) as gauntlet, pytest.raises(IsolationEscapeError) as info:
        gauntlet.check_downgrade_to_base()
    problems = "\n".join(info.value.problems)
    assert "column public.people.email dropped" in problems
    assert "extension citext dropped" in problems
    assert info.value.revision == "r2"
    assert "nothing of it was committed" in str(info.value)


# --- case 3: DROP TABLE public.users with 100 rows ------------------------------------------


@pytest.mark.parametrize("env", ["cookbook", "stock"])
def test_dropping_a_user_table_is_rolled_back_before_commit(
    dsn: str, tmp_path: Path, env: str
) -> None:
    """Through the connection gauntlet-sync hands env.py, and through the engine a stock
    env.py builds itself: the 100 rows are there afterwards (the fixture compares them)."""
    config = project(
        tmp_path,
        'op.execute("DROP TABLE public.users")',
        'op.execute("CREATE TABLE public.users (id serial PRIMARY KEY, name text, n int)")',
        env=env,
    )
    error = escape_of(dsn, config)
    assert any("table public.users dropped" in p for p in error.problems), error.problems
    statuses = run_all(dsn, config)
    assert statuses["isolation"] == ("failed", "IsolationEscapeError")
    assert statuses["upgrade"] == ("error", "IsolationEscapeError")
    assert {statuses[c][0] for c in ("stairway", "no_trace", "downgrade_to_base")} == {"error"}


# --- case 4: rows written outside -------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "TRUNCATE public.users CASCADE",
        "UPDATE public.users SET n = n + 1 WHERE id = 7",
        "DELETE FROM public.users WHERE id = 8",
        "INSERT INTO public.users (id, name) VALUES (1000, 'intruder')",
        "DELETE FROM billing.invoices",
        "UPDATE public.people SET email = 'x@example.com'",
    ],
)
def test_rows_written_outside_are_never_committed(dsn: str, tmp_path: Path, statement: str) -> None:
    config = project(tmp_path, f"op.execute({statement!r})")
    error = escape_of(dsn, config)
    table = statement.split("FROM ")[-1].split(" ")[0] if "FROM" in statement else None
    table = table or next(w for w in statement.split() if "." in w)
    assert any(table in p for p in error.problems), (table, error.problems)


# --- case 5: what the old isolation check did not see ---------------------------------------

CASE_5 = {
    "ALTER DATABASE test SET work_mem = '7MB'": "settings every role in database test",
    "COMMENT ON DATABASE test IS 'mine now'": "database test changed",
    "COMMENT ON TABLE public.users IS 'changed'": "table public.users changed",
    "GRANT SELECT ON public.users TO PUBLIC": "table public.users changed",
    "GRANT CREATE ON SCHEMA public TO PUBLIC": "schema public changed",
    "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC": "default privileges",
    "ALTER TABLE public.users ALTER COLUMN n SET DEFAULT 7": "column public.users.n changed",
    "ALTER TABLE public.users ADD CONSTRAINT n_positive CHECK (n > 0)": "public.users.n_positive",
    "CREATE TRIGGER t BEFORE UPDATE ON public.users FOR EACH ROW "
    "EXECUTE FUNCTION suppress_redundant_updates_trigger()": "trigger public.users.t",
    "ALTER TABLE public.users ENABLE ROW LEVEL SECURITY": "table public.users changed",
    "CREATE POLICY p ON public.users USING (n > 1)": "policy public.users.p",
    "ALTER SEQUENCE public.users_id_seq RESTART WITH 1": "public.users_id_seq",
    "ALTER SEQUENCE public.users_id_seq INCREMENT BY 5": "sequence settings public.users_id_seq",
    "CREATE ROLE intruder SUPERUSER": "role intruder created",
    "ALTER ROLE postgres SET work_mem = '7MB'": "settings role postgres",
    "CREATE OR REPLACE FUNCTION public.answer() RETURNS int LANGUAGE sql AS 'SELECT 41'": (
        "function public.answer() changed"
    ),
    "ALTER TYPE public.mood ADD VALUE 'happy'": "type public.mood changed",
    "CREATE TABLE public.leak (id int)": "table public.leak created",
    "CREATE INDEX ON public.users (n)": "index public.users_n_idx created",
    "COMMENT ON FUNCTION public.answer() IS 'no'": "function public.answer() changed",
    "DROP TYPE public.mood": "type public.mood dropped",
    "CREATE SCHEMA elsewhere": "schema elsewhere created",
}


@pytest.mark.parametrize("statement", sorted(CASE_5))
def test_each_kind_of_change_outside_is_named_and_rolled_back(
    dsn: str, tmp_path: Path, statement: str
) -> None:
    config = project(tmp_path, f"op.execute({statement!r})")
    error = escape_of(dsn, config)
    assert any(CASE_5[statement] in p for p in error.problems), error.problems
    assert "nothing of it was committed" in str(error)


def test_an_autocommit_block_reaching_outside_is_reported_as_committed(
    server: EmbeddedPostgres, tmp_path: Path
) -> None:
    """Inside alembic's autocommit_block PostgreSQL commits each statement as it runs:
    the guard checks the work before the block (rolled back), and reports what the block
    did once it ends, saying that it is committed."""
    upgrade = (
        "with op.get_context().autocommit_block():\n"
        "    op.execute('CREATE DATABASE gauntlet_safety_probe')"
    )
    config = project(tmp_path, upgrade, "op.execute('DROP DATABASE gauntlet_safety_probe')")
    try:
        error = escape_of(server.dsn, config)
        assert "autocommit_block" in str(error)
        assert any("database gauntlet_safety_probe created" in p for p in error.problems)
    finally:
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS gauntlet_safety_probe")
    assert leftovers(server) == []


# --- case 6: only the schemas this run created are left out ---------------------------------

OTHER_RUN = "gauntlet_4242_1700000000_abcdef"


@pytest.fixture()
def other_run_schema(server: EmbeddedPostgres) -> Iterator[str]:
    """A schema of our name shape and comment, as another live run would have."""
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(OTHER_RUN)))
        conn.execute(
            sql.SQL(
                "COMMENT ON SCHEMA {} IS 'gauntlet-sync pid=4242 host=elsewhere started=1'"
            ).format(sql.Identifier(OTHER_RUN))
        )
        conn.execute(sql.SQL("CREATE TABLE {}.work (id int)").format(sql.Identifier(OTHER_RUN)))
    yield OTHER_RUN
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(OTHER_RUN)))


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (f"CREATE TABLE {OTHER_RUN}.hidden (id int)", f"table {OTHER_RUN}.hidden created"),
        (f"DROP SCHEMA {OTHER_RUN} CASCADE", f"schema {OTHER_RUN} dropped"),
    ],
)
def test_a_schema_of_our_name_shape_made_by_another_run_is_outside(
    server: EmbeddedPostgres, other_run_schema: str, tmp_path: Path, statement: str, expected: str
) -> None:
    config = project(tmp_path, f"op.execute({statement!r})")
    error = escape_of(server.dsn, config)
    assert any(expected in p for p in error.problems), error.problems
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s ORDER BY 1",
            (other_run_schema,),
        ).fetchall()
    assert tables == [("work",)]  # the other run's schema, untouched


# --- case 7: a version table in another schema ----------------------------------------------


def test_version_table_schema_elsewhere_is_refused_up_front(dsn: str, tmp_path: Path) -> None:
    config = project(
        tmp_path,
        "pass",
        env_edit=(
            "context.configure(connection=connection,",
            "context.configure(connection=connection, version_table_schema='billing',",
        ),
    )
    for _ in range(2):  # and the next run is the same clear error, nothing left between
        with Gauntlet(dsn, config) as gauntlet, pytest.raises(MigrationEnvironmentError) as info:
            gauntlet.run_all()
        assert "version_table_schema='billing'" in str(info.value)
        assert "target_schema" in str(info.value)
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute("SELECT to_regclass('billing.alembic_version')").fetchone()
        assert row == (None,)


# --- what passes still passes, and the embedded server's lighter check ------------------------


def test_a_history_that_stays_inside_passes_on_a_user_database(dsn: str) -> None:
    config = GauntletConfig(alembic_ini=catalog.ini("clean"))
    statuses = run_all(dsn, config)
    assert {status for status, _ in statuses.values()} <= {"passed", "skipped"}, statuses
    assert statuses["isolation"] == ("passed", "NoneType")


def test_on_the_embedded_server_roles_are_seen_and_undone_by_the_downgrades(
    tmp_path: Path,
) -> None:
    """No DSN: the private server holds nothing of the user's, so the check is lighter (the
    whole outside compared at the start and end of each session, roles and database
    settings included, and undone through the migrations' own downgrades)."""
    config = project(
        tmp_path,
        "op.execute('CREATE ROLE gauntlet_safety_role')",
        "op.execute('DROP ROLE gauntlet_safety_role')",
    )
    with Gauntlet(None, config) as gauntlet, pytest.raises(IsolationEscapeError) as info:
        gauntlet.check_isolation()
    assert any("role gauntlet_safety_role created" in p for p in info.value.problems)
    with psycopg.connect(EmbeddedPostgres.shared().dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_roles WHERE rolname = 'gauntlet_safety_role'"
        ).fetchone()
        names = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname ~ %s", (ISOLATED_NAME,)
        )
        assert names.fetchall() == []
    assert row == (0,)
