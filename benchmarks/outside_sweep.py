"""Adversarial sweep: ways a migration can change a user's database outside gauntlet-sync's
own schema, each run with a user-supplied DSN (``python benchmarks/outside_sweep.py``).

A private embedded server (``max_prepared_transactions=5``) stands for the user's server;
a template database holds the user's data (tests/test_outside_safety.py's ``USER_DATA``
plus a role ``alice``, a ``SECURITY DEFINER`` function, a large object). Each way is a
one-revision history (tests/test_outside_safety.py's ``project``: r1 creates a table in
the isolated schema, r2 does the deed) run by ``check_upgrade`` on a fresh copy of that
database. The outcome compares what was reported with what the server holds afterwards:

- prevented: an ``IsolationEscapeError`` (or another error) and the outside unchanged;
- reported: an ``IsolationEscapeError`` but something outside changed (committed);
- unseen: no ``IsolationEscapeError`` and something outside changed;
- inert: no report and nothing changed (the statement itself failed, or changed nothing).

"Outside" is read by a connection of the sweep's own: the guard's own snapshot
(``outside.take``), every row of every user table, the sequences, large objects and their
data, prepared transactions, ``postgresql.auto.conf``, roles, role and database settings,
shared comments, casts, foreign-data wrappers, publications and their tables, other
databases. After each way cluster-wide leftovers (roles, prepared transactions, system
settings, databases) are removed and the sweep checks that nothing of it remains.
"""

from __future__ import annotations

import sys
import tempfile
import time
import traceback
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gauntlet_sync import EmbeddedPostgres, Gauntlet, IsolationEscapeError  # noqa: E402
from gauntlet_sync import outside as outside_module  # noqa: E402
from tests.test_outside_safety import USER_DATA, project  # noqa: E402

SETUP = USER_DATA + """
CREATE ROLE alice;
GRANT ALL ON ALL TABLES IN SCHEMA public, billing TO alice;
GRANT USAGE ON SCHEMA billing TO alice;
CREATE FUNCTION public.wipe() RETURNS void LANGUAGE sql SECURITY DEFINER
    AS 'DELETE FROM billing.invoices';
SELECT lo_from_bytea(424242, 'user blob');
"""

URL = "op.get_bind().engine.url.set(drivername='postgresql').render_as_string(hide_password=False)"

#: name -> upgrade body of r2 (Python, alembic's op terms)
WAYS: dict[str, str] = {
    "INSERT outside": 'op.execute("INSERT INTO public.users (name) VALUES (\'x\')")',
    "UPDATE outside": 'op.execute("UPDATE public.users SET n = 0 WHERE id = 1")',
    "DELETE outside": 'op.execute("DELETE FROM public.users WHERE id <= 5")',
    "TRUNCATE outside": 'op.execute("TRUNCATE billing.invoices")',
    "ALTER TABLE outside": 'op.execute("ALTER TABLE public.users ADD COLUMN z int")',
    "DROP TABLE outside": 'op.execute("DROP TABLE billing.invoices")',
    "COMMENT ON outside": 'op.execute("COMMENT ON TABLE public.users IS \'mine\'")',
    "GRANT outside": 'op.execute("GRANT SELECT ON public.users TO PUBLIC")',
    "REVOKE outside": 'op.execute("REVOKE ALL ON public.users FROM alice")',
    "raw DBAPI cursor": (
        "op.get_bind().connection.cursor().execute('DELETE FROM public.users WHERE id = 1')"
    ),
    "raw DBAPI cursor + commit()": (
        "raw = op.get_bind().connection\n"
        "raw.cursor().execute('DELETE FROM public.users WHERE id = 1')\n"
        "raw.commit()"
    ),
    "raw driver_connection.commit()": (
        "raw = op.get_bind().connection.driver_connection\n"
        "raw.execute('DELETE FROM public.users WHERE id = 1')\n"
        "raw.commit()"
    ),
    "SET search_path + unqualified": (
        'op.execute("SET search_path TO public")\n'
        'op.execute("DELETE FROM users WHERE id = 1")'
    ),
    "SET ROLE + write": (
        'op.execute("SET ROLE alice")\nop.execute("DELETE FROM public.users WHERE id = 1")'
    ),
    "DO block": 'op.execute("DO $$ BEGIN DELETE FROM public.users WHERE id = 1; END $$")',
    "SECURITY DEFINER function": 'op.execute("SELECT public.wipe()")',
    "trigger on own table": (
        'op.execute("CREATE FUNCTION spill() RETURNS trigger LANGUAGE plpgsql AS '
        "$$ BEGIN INSERT INTO public.users (name) VALUES ('trig'); RETURN NEW; END $$\")\n"
        'op.execute("CREATE TRIGGER t AFTER INSERT ON things FOR EACH ROW "\n'
        '"EXECUTE FUNCTION spill()")\n'
        'op.execute("INSERT INTO things VALUES (1)")'
    ),
    "deferred constraint trigger (fires at COMMIT)": (
        'op.execute("CREATE FUNCTION spill() RETURNS trigger LANGUAGE plpgsql AS '
        "$$ BEGIN INSERT INTO public.users (name) VALUES ('late'); RETURN NEW; END $$\")\n"
        'op.execute("CREATE CONSTRAINT TRIGGER t AFTER INSERT ON things '
        'DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION spill()")\n'
        'op.execute("INSERT INTO things VALUES (1)")'
    ),
    "CREATE TABLE in public": 'op.execute("CREATE TABLE public.newt (id int)")',
    "CREATE FUNCTION in public": (
        'op.execute("CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS \'SELECT 1\'")'
    ),
    "lo_create": 'op.execute("SELECT lo_create(0)")',
    "lo_unlink (user's)": 'op.execute("SELECT lo_unlink(424242)")',
    "lo_put (user's data)": "op.execute(\"SELECT lo_put(424242, 0, 'XXXX')\")",
    "ALTER LARGE OBJECT owner": 'op.execute("ALTER LARGE OBJECT 424242 OWNER TO alice")',
    "GRANT on large object": 'op.execute("GRANT SELECT ON LARGE OBJECT 424242 TO alice")',
    "ALTER DATABASE SET": (
        'op.execute("DO $$ BEGIN EXECUTE format(\'ALTER DATABASE %I SET work_mem = \'\'7MB\'\'\', '
        'current_database()); END $$")'
    ),
    "ALTER ROLE SET": 'op.execute("ALTER ROLE alice SET work_mem = \'7MB\'")',
    "CREATE ROLE": 'op.execute("CREATE ROLE evil")',
    "DROP ROLE": 'op.execute("DROP ROLE alice")',
    "ALTER ROLE (attributes)": 'op.execute("ALTER ROLE alice LOGIN PASSWORD \'x\'")',
    "COMMENT ON ROLE": 'op.execute("COMMENT ON ROLE alice IS \'hi\'")',
    "ALTER DEFAULT PRIVILEGES": (
        'op.execute("ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC")'
    ),
    "PREPARE TRANSACTION": (
        'op.execute("DELETE FROM public.users WHERE id = 1")\n'
        "op.execute(\"PREPARE TRANSACTION 'gx'\")"
    ),
    "PREPARE TRANSACTION (own work only)": (
        "op.execute(\"INSERT INTO things VALUES (7)\")\n"
        "op.execute(\"PREPARE TRANSACTION 'gy'\")"
    ),
    "begin_twophase() prepare on engine.connect()": (
        "with op.get_bind().engine.connect() as c:\n"
        "    t = c.begin_twophase()\n"
        "    c.exec_driver_sql('DELETE FROM public.users WHERE id = 1')\n"
        "    t.prepare()\n"
        "    t.commit()"
    ),
    "CREATE PUBLICATION": 'op.execute("CREATE PUBLICATION p FOR TABLE public.users")',
    "ALTER PUBLICATION ADD TABLE (user's)": (
        'op.execute("ALTER PUBLICATION userpub ADD TABLE public.users")'
    ),
    "CREATE CAST": (
        'op.execute("CREATE CAST (public.mood AS int) WITH INOUT AS ASSIGNMENT")'
    ),
    "CREATE FOREIGN DATA WRAPPER": 'op.execute("CREATE FOREIGN DATA WRAPPER w")',
    "CREATE USER MAPPING": 'op.execute("CREATE USER MAPPING FOR alice SERVER usersrv")',
    "CREATE OPERATOR in public": (
        'op.execute("CREATE OPERATOR public.=== (LEFTARG = int, RIGHTARG = int, '
        'FUNCTION = int4eq)")'
    ),
    "CREATE COLLATION in public": (
        'op.execute("CREATE COLLATION public.c2 FROM \\"C\\"")'
    ),
    "CREATE TEXT SEARCH CONFIGURATION in public": (
        'op.execute("CREATE TEXT SEARCH CONFIGURATION public.ts (COPY = simple)")'
    ),
    "CREATE STATISTICS on outside table": (
        'op.execute("CREATE STATISTICS public.st ON id, n FROM public.users")'
    ),
    "SET search_path, write, RESET": (
        'op.execute("SET search_path TO public")\n'
        'op.execute("DELETE FROM users WHERE id = 1")\n'
        'op.execute("RESET search_path")'
    ),
    "SET ROLE, write, RESET ROLE": (
        'op.execute("SET ROLE alice")\n'
        'op.execute("DELETE FROM public.users WHERE id = 1")\n'
        'op.execute("RESET ROLE")'
    ),
    "nextval outside": 'op.execute("SELECT nextval(\'public.users_id_seq\')")',
    "ALTER SEQUENCE RESTART": 'op.execute("ALTER SEQUENCE public.users_id_seq RESTART 500")',
    "CREATE SEQUENCE in public": 'op.execute("CREATE SEQUENCE public.s")',
    "COMMENT ON DATABASE": (
        'op.execute("DO $$ BEGIN EXECUTE format(\'COMMENT ON DATABASE %I IS \'\'x\'\'\', '
        'current_database()); END $$")'
    ),
    "SECURITY LABEL": 'op.execute("SECURITY LABEL ON TABLE public.users IS \'x\'")',
    "op.execute('COMMIT') mid-way": (
        'op.execute("DELETE FROM public.users WHERE id = 1")\nop.execute("COMMIT")'
    ),
    "'...; COMMIT' in one string": (
        'op.execute("DELETE FROM public.users WHERE id = 1; COMMIT")'
    ),
    "'ABORT' then write (outside a transaction)": (
        'op.execute("ABORT")\nop.execute("DELETE FROM public.users WHERE id = 1")'
    ),
    "ALTER SYSTEM in autocommit_block": (
        "with op.get_context().autocommit_block():\n"
        "    op.execute(\"ALTER SYSTEM SET work_mem = '7MB'\")"
    ),
    "DELETE in autocommit_block": (
        "with op.get_context().autocommit_block():\n"
        '    op.execute("DELETE FROM public.users WHERE id = 1")'
    ),
    "CREATE DATABASE in autocommit_block": (
        "with op.get_context().autocommit_block():\n"
        '    op.execute("CREATE DATABASE sweep_evil")'
    ),
    "engine.connect() commit": (
        "with op.get_bind().engine.connect() as c:\n"
        "    c.exec_driver_sql('DELETE FROM public.users WHERE id = 1')\n"
        "    c.commit()"
    ),
    "second psycopg connection": (
        "import psycopg\n"
        f"with psycopg.connect({URL}) as c:\n"
        "    c.execute('DELETE FROM public.users WHERE id = 1')"
    ),
    "second psycopg connection, autocommit": (
        "import psycopg\n"
        f"with psycopg.connect({URL}, autocommit=True) as c:\n"
        "    c.execute('DELETE FROM public.users WHERE id = 1')"
    ),
    "raw DBAPI autocommit = True": (
        "raw = op.get_bind().connection.driver_connection\n"
        "raw.commit()\n"
        "raw.autocommit = True\n"
        "raw.execute('DELETE FROM public.users WHERE id = 1')\n"
        "raw.autocommit = False"
    ),
}

#: extra setup some ways need (run on the template database)
EXTRA_SETUP = """
CREATE PUBLICATION userpub;
CREATE FOREIGN DATA WRAPPER userfdw;
CREATE SERVER usersrv FOREIGN DATA WRAPPER userfdw;
"""


def state(dsn: str) -> dict[str, object]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        found: dict[str, object] = {"catalog": outside_module.take(conn, ())}
        tables = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname IN ('public', 'billing')"
        ).fetchall()
        for schema, table in tables:
            query = sql.SQL(
                "SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')), "
                "count(*) FROM {}.{} t"
            ).format(sql.Identifier(schema), sql.Identifier(table))
            found[f"rows {schema}.{table}"] = conn.execute(query).fetchone()
        queries = {
            "sequence": "SELECT last_value, is_called FROM public.users_id_seq",
            "large objects": "SELECT oid, lomowner::regrole, lomacl FROM pg_largeobject_metadata "
            "ORDER BY 1",
            "large object data": "SELECT loid, pageno, md5(data) FROM pg_largeobject ORDER BY 1, 2",
            "prepared": "SELECT gid, database FROM pg_prepared_xacts ORDER BY 1",
            "auto.conf": "SELECT name, setting FROM pg_file_settings "
            "WHERE sourcefile LIKE '%auto.conf' ORDER BY 1",
            "roles": "SELECT rolname, rolcanlogin, rolpassword IS NULL FROM pg_authid ORDER BY 1",
            "role settings": "SELECT setdatabase, setrole, setconfig FROM pg_db_role_setting "
            "ORDER BY 1, 2",
            "shared comments": "SELECT objoid, description FROM pg_shdescription ORDER BY 1",
            "casts": "SELECT count(*) FROM pg_cast",
            "fdw": "SELECT fdwname FROM pg_foreign_data_wrapper ORDER BY 1",
            "user mappings": "SELECT umuser, umserver FROM pg_user_mapping ORDER BY 1, 2",
            "publication tables": "SELECT prpubid, prrelid::regclass::text FROM pg_publication_rel "
            "ORDER BY 1, 2",
            "databases": "SELECT datname FROM pg_database WHERE datname NOT LIKE 'sweep\\_%' "
            "OR datname = 'sweep_evil' ORDER BY 1",
            "security labels": "SELECT count(*) FROM pg_seclabel",
            "schema objects": "SELECT "
            "(SELECT count(*) FROM pg_operator WHERE oprnamespace = n.oid), "
            "(SELECT count(*) FROM pg_collation WHERE collnamespace = n.oid), "
            "(SELECT count(*) FROM pg_ts_config WHERE cfgnamespace = n.oid), "
            "(SELECT count(*) FROM pg_statistic_ext WHERE stxnamespace = n.oid) "
            "FROM pg_namespace n WHERE nspname = 'public'",
        }
        for key, query in queries.items():
            try:
                found[key] = conn.execute(query).fetchall()
            except psycopg.errors.UndefinedTable:  # the cluster's own test database
                found[key] = None
    return found


def difference(before: dict[str, object], after: dict[str, object]) -> list[str]:
    lines: list[str] = []
    for key in before:
        if before[key] != after[key]:
            if key == "catalog":
                lines += list(
                    outside_module.describe(before[key], after[key]).values()  # type: ignore[arg-type]
                )
            else:
                lines.append(f"{key}: {before[key]} -> {after[key]}")
    return lines


def clean_cluster(pg: EmbeddedPostgres, admin: psycopg.Connection[tuple[object, ...]]) -> None:
    """What a way may leave behind outside its database."""
    for gid, db in admin.execute("SELECT gid, database FROM pg_prepared_xacts").fetchall():
        with psycopg.connect(pg.dsn.replace("/test?", f"/{db}?"), autocommit=True) as there:
            there.execute(sql.SQL("ROLLBACK PREPARED {}").format(sql.Literal(gid)))
    admin.execute("ALTER SYSTEM RESET ALL")
    admin.execute("SELECT pg_reload_conf()")
    admin.execute("DROP DATABASE IF EXISTS sweep_evil")
    admin.execute("ALTER ROLE alice RESET ALL")
    admin.execute("ALTER ROLE alice NOLOGIN PASSWORD NULL")
    admin.execute("COMMENT ON ROLE alice IS NULL")
    admin.execute("DROP ROLE IF EXISTS evil")


def run_way(pg: EmbeddedPostgres, index: int, name: str, body: str) -> dict[str, object]:
    db = f"sweep_{index}"
    with psycopg.connect(pg.dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE sweep_template").format(
            sql.Identifier(db)))
    dsn = pg.dsn.replace("/test?", f"/{db}?")
    assert dsn != pg.dsn
    before = state(dsn)
    reported = ""
    error = ""
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        config = project(Path(tmp), body, "pass")
        try:
            with Gauntlet(dsn, config) as gauntlet:
                gauntlet.check_upgrade()
        except IsolationEscapeError as exc:
            reported = ("; ".join(exc.problems) + " || " + str(exc).splitlines()[0])[:600]
        except Exception as exc:  # noqa: BLE001 - recorded
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    seconds = time.monotonic() - started
    after = state(dsn)
    changed = difference(before, after)
    with psycopg.connect(pg.dsn, autocommit=True) as admin:
        clean_cluster(pg, admin)
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(db)))
    if reported:
        outcome = "reported" if changed else "prevented"
    elif changed:
        outcome = "UNSEEN"
    else:
        outcome = "inert" if error else "nothing changed"
    return {"way": name, "outcome": outcome, "reported": reported, "error": error,
            "changed": changed, "seconds": round(seconds, 2)}


def main() -> int:
    only = sys.argv[1:]
    pg = EmbeddedPostgres(auto_start=False)
    pg.settings["postgres_args"] += " -c max_prepared_transactions=5"
    pg.start()
    results = []
    try:
        with psycopg.connect(pg.dsn, autocommit=True) as admin:
            admin.execute("CREATE DATABASE sweep_template")
        with psycopg.connect(pg.dsn.replace("/test?", "/sweep_template?"), autocommit=True) as c:
            c.execute(SETUP + EXTRA_SETUP)
        cluster_before = state(pg.dsn)
        for index, (name, body) in enumerate(WAYS.items()):
            if only and not any(o.lower() in name.lower() for o in only):
                continue
            try:
                result = run_way(pg, index, name, body)
            except Exception:  # noqa: BLE001
                result = {"way": name, "outcome": "SWEEP ERROR",
                          "error": traceback.format_exc(limit=3)}
            results.append(result)
            print(f"{result['outcome']:16} {name}", flush=True)
            for key in ("reported", "error", "changed"):
                if result.get(key):
                    print(f"{'':16}   {key}: {result[key]}", flush=True)
        left = difference(cluster_before, state(pg.dsn))
        print("left behind on the cluster:", left or "nothing")
    finally:
        pg.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
