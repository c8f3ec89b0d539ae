"""Concurrency, isolation and secrecy on real servers.

* Eight ``python -m gauntlet_sync`` processes (``GAUNTLET_DSN`` set, as parallel CI jobs
  would) against one server, on different histories: all pass, none sees another's
  objects, no schema is left.
* A database holding user data in ``public`` and in another schema has the same checksum
  (catalog and rows) before and after full runs, passing and failing ones, and after a
  migration that escaped into ``public`` (reported, naming ``public.leak``).
* No password in any exception, log record, warning, report, JSON or JUnit file; SQL
  identifiers only through ``psycopg.sql``; the embedded server listens on no TCP port
  unless asked.

Named for what it holds, not for one module: concurrent runs, isolation and secrecy across
the library.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import logging
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql

from gauntlet_sync import (
    DEFAULT_CHECKS,
    DatabaseUnavailableError,
    EmbeddedPostgres,
    Gauntlet,
    GauntletConfig,
    GauntletError,
    GauntletFailed,
    IsolationEscapeError,
)
from gauntlet_sync.cli import main as cli_main
from tests.histories import catalog
from tests.reliability import (
    ISOLATED_NAME,
    PASSWORD,
    ROOT,
    PasswordServer,
    child_env,
    leftovers,
    password_server,
    private_server,
)

PARALLEL = 8


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedPostgres]:
    """One private server for the module; nothing of it survives."""
    with private_server() as pg:
        yield pg


# --- eight runs at once ----------------------------------------------------------------------

#: (history, extra CLI arguments): all pass; different tables, env.py shapes, version tables.
RUNS: list[tuple[str, tuple[str, ...]]] = [
    ("clean", ()),
    ("branched", ()),
    ("stock_env", ()),
    ("seed_env", ()),
    ("filtered_env", ()),
    ("revision_data", ()),
    ("not_implemented", ("--minimum-downgrade-revision", "q1000002")),
    ("clean", ()),
]


def test_eight_parallel_runs_on_one_server_all_pass(server: EmbeddedPostgres) -> None:
    assert len(RUNS) == PARALLEL
    environ = child_env(GAUNTLET_DSN=server.dsn)
    processes = []
    for history, extra in RUNS:
        argv = [sys.executable, "-m", "gauntlet_sync", "-c", "alembic.ini", "-q", "--json"]
        argv += ["--metadata", "models:Base.metadata", *extra]
        processes.append(
            subprocess.Popen(
                argv,
                cwd=catalog.HISTORIES / history,
                env=environ,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    reports = []
    for (history, _), process in zip(RUNS, processes, strict=True):
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, f"{history}: {err}"
        reports.append((history, json.loads(out)))
    for history, report in reports:
        statuses = {r["name"]: r["status"] for r in report["results"]}
        assert set(statuses.values()) == {"passed"}, (history, statuses)
        assert len(statuses) == len(DEFAULT_CHECKS)  # every check, the isolation check included
    assert leftovers(server) == []


# --- nothing outside the gauntlet's schema changes ------------------------------------------

USER_DATA = """
CREATE TYPE public.mood AS ENUM ('ok', 'meh');
CREATE TABLE public.customers (
    id serial PRIMARY KEY, email text UNIQUE NOT NULL, mood public.mood DEFAULT 'ok');
CREATE INDEX ix_customers_mood ON public.customers (mood);
INSERT INTO public.customers (email, mood)
    SELECT 'user' || i || '@example.com', CASE WHEN i % 3 = 0 THEN 'meh' ELSE 'ok' END::public.mood
    FROM generate_series(1, 200) AS i;
CREATE VIEW public.happy AS SELECT id, email FROM public.customers WHERE mood = 'ok';
CREATE FUNCTION public.shout(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT upper(t) $$;
CREATE SCHEMA billing;
CREATE TABLE billing.invoices (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id int NOT NULL REFERENCES public.customers (id),
    total numeric(10, 2) CHECK (total >= 0));
INSERT INTO billing.invoices (customer_id, total)
    SELECT i, i * 1.25 FROM generate_series(1, 200) AS i;
CREATE FUNCTION billing.touch() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RETURN NEW; END $$;
CREATE TRIGGER invoices_touch BEFORE UPDATE ON billing.invoices
    FOR EACH ROW EXECUTE FUNCTION billing.touch();
COMMENT ON TABLE billing.invoices IS 'user data: not the gauntlet''s';
CREATE TABLE public.orders (id int PRIMARY KEY, note text);  -- same name as a history's
INSERT INTO public.orders VALUES (1, 'mine');
"""

#: Every user-visible definition outside pg_catalog, information_schema and isolated runs,
#: free of OIDs, then the rows of every table.
CATALOG_SQL = r"""
WITH ns AS (
    SELECT oid, nspname FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema')
      AND nspname NOT LIKE 'pg\_toast%%' AND nspname NOT LIKE 'pg\_temp\_%%'
      AND nspname !~ %(isolated)s
)
SELECT 'schema ' || nspname || ' ' || pg_get_userbyid(n.nspowner) || ' '
       || coalesce(n.nspacl::text, '') || ' ' || coalesce(obj_description(n.oid), '')
FROM pg_namespace n WHERE n.oid IN (SELECT oid FROM ns)
UNION ALL
SELECT 'relation ' || ns.nspname || '.' || c.relname || ' ' || c.relkind::text || ' '
       || c.relpersistence::text || ' ' || coalesce(c.relacl::text, '') || ' '
       || coalesce(array_to_string(c.reloptions, ','), '') || ' '
       || coalesce(obj_description(c.oid, 'pg_class'), '')
FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
UNION ALL
SELECT 'column ' || ns.nspname || '.' || c.relname || '.' || a.attname || ' '
       || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull || ' ' || a.attnum
       || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '') || ' ' || a.attidentity::text
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN ns ON ns.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'constraint ' || ns.nspname || '.' || con.conname || ' ' || pg_get_constraintdef(con.oid)
FROM pg_constraint con JOIN ns ON ns.oid = con.connamespace
UNION ALL
SELECT 'index ' || ns.nspname || '.' || c.relname || ' ' || pg_get_indexdef(c.oid)
FROM pg_class c JOIN ns ON ns.oid = c.relnamespace WHERE c.relkind IN ('i', 'I')
UNION ALL
SELECT 'view ' || schemaname || '.' || viewname || ' ' || definition FROM pg_views
WHERE schemaname IN (SELECT nspname FROM ns)
UNION ALL
SELECT 'function ' || ns.nspname || '.' || p.proname || ' ' || pg_get_functiondef(p.oid)
FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
UNION ALL
SELECT 'type ' || ns.nspname || '.' || t.typname || ' ' || t.typtype::text || ' '
       || coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                    FROM pg_enum e WHERE e.enumtypid = t.oid), '')
FROM pg_type t JOIN ns ON ns.oid = t.typnamespace
UNION ALL
SELECT 'trigger ' || ns.nspname || '.' || c.relname || ' ' || pg_get_triggerdef(tg.oid)
FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid JOIN ns ON ns.oid = c.relnamespace
WHERE NOT tg.tgisinternal
UNION ALL
SELECT 'sequence ' || schemaname || '.' || sequencename || ' ' || coalesce(last_value, 0)
FROM pg_sequences WHERE schemaname IN (SELECT nspname FROM ns)
UNION ALL
SELECT 'extension ' || extname || ' ' || extversion FROM pg_extension
UNION ALL
SELECT 'database ' || datname || ' ' || coalesce(datacl::text, '') FROM pg_database
WHERE datname !~ %(isolated)s
UNION ALL
SELECT 'role ' || rolname || ' ' || rolcreatedb || ' ' || rolsuper FROM pg_roles
"""

TABLES_SQL = r"""
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%%' AND n.nspname !~ %(isolated)s
ORDER BY 1, 2
"""


def checksum(dsn: str) -> str:
    """md5 over every definition and every row outside the isolated schemas."""
    digest = hashlib.md5()
    with psycopg.connect(dsn, autocommit=True) as conn:
        lines = [r[0] for r in conn.execute(CATALOG_SQL, {"isolated": ISOLATED_NAME})]
        for line in sorted(lines):
            digest.update(line.encode() + b"\n")
        for schema, table in conn.execute(TABLES_SQL, {"isolated": ISOLATED_NAME}).fetchall():
            query = sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) "
                "FROM {}.{} AS t"
            ).format(sql.Identifier(schema), sql.Identifier(table))
            row = conn.execute(query).fetchone()
            digest.update(f"{schema}.{table} {row}\n".encode())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def user_db(server: EmbeddedPostgres) -> Iterator[str]:
    """A database ``shop`` with user data in ``public`` and ``billing``; its DSN."""
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute("CREATE DATABASE shop")
    dsn = server.dsn.replace("@/test?", "@/shop?")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(USER_DATA)
    yield dsn
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute("DROP DATABASE shop")


#: (history, run_all raises?) -- passing, failing in each walk, and escaping.
FULL_RUNS = [
    ("clean", False),
    ("upgrade_fails", True),
    ("stairway_fails", True),
    ("downgrade_fails", True),
    ("no_trace", True),
    ("models_drift", True),
    ("escape", True),
]


@pytest.mark.parametrize(("history", "fails"), FULL_RUNS, ids=[h for h, _ in FULL_RUNS])
def test_nothing_outside_the_isolated_schema_changes(
    user_db: str, server: EmbeddedPostgres, history: str, fails: bool
) -> None:
    before = checksum(user_db)
    config = GauntletConfig(
        alembic_ini=catalog.ini(history), metadata=catalog.load_metadata(history)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an escape its downgrades did not undo would warn
        with Gauntlet(user_db, config) as gauntlet:
            if fails:
                with pytest.raises(GauntletFailed):
                    gauntlet.run_all()
            else:
                assert gauntlet.run_all().ok
    assert checksum(user_db) == before
    assert leftovers(server) == []


def test_an_escape_is_reported_naming_the_object(user_db: str) -> None:
    config = GauntletConfig(alembic_ini=catalog.ini("escape"))
    before = checksum(user_db)
    with Gauntlet(user_db, config) as gauntlet:
        with pytest.raises(IsolationEscapeError) as info:
            gauntlet.check_isolation()
    assert "public.leak" in str(info.value)
    assert any("table public.leak created" in p for p in info.value.problems)
    assert checksum(user_db) == before  # and its downgrade took it away again


def test_the_checksum_sees_a_change(user_db: str) -> None:
    """The checksum is not blind: one row and one comment each change it."""
    before = checksum(user_db)
    with psycopg.connect(user_db, autocommit=True) as conn:
        conn.execute("UPDATE public.orders SET note = 'changed' WHERE id = 1")
        changed = checksum(user_db)
        conn.execute("UPDATE public.orders SET note = 'mine' WHERE id = 1")
        assert checksum(user_db) == before
        conn.execute("COMMENT ON SCHEMA billing IS 'x'")
        commented = checksum(user_db)
        conn.execute("COMMENT ON SCHEMA billing IS NULL")
    assert len({before, changed, commented}) == 3
    assert checksum(user_db) == before


# --- secrets ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pw_server() -> Iterator[PasswordServer]:
    with password_server() as pw:
        yield pw


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))  # the traceback of exc_info included


@contextlib.contextmanager
def every_log_record() -> Iterator[list[str]]:
    """Every record of every logger at DEBUG (SQLAlchemy's engine and pool included).

    Loggers an env.py's ``fileConfig`` disabled earlier in the session are enabled again.
    """
    handler = _Collect()
    names = ["", "sqlalchemy", "sqlalchemy.engine", "sqlalchemy.pool", "alembic", "psycopg"]
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    disabled = [
        lg
        for lg in logging.root.manager.loggerDict.values()
        if isinstance(lg, logging.Logger) and lg.disabled
    ]
    root = logging.getLogger()
    root.addHandler(handler)
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    for lg in disabled:
        lg.disabled = False
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
        for lg in disabled:
            lg.disabled = True


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [current.__cause__, current.__context__]
        todo += list(getattr(current, "errors", ()))


def _texts_of(exc: BaseException) -> list[str]:
    """str, repr and args of an exception and of everything it carries or was caused by."""
    texts = []
    for item in _chain(exc):
        texts += [str(item), repr(item), repr(item.args)]
        report = getattr(item, "report", None)
        if report is not None:
            texts += [str(report), report.to_json(), report.to_junit_xml()]
    return texts


def _secrets(password: str) -> set[str]:
    return {password, quote(password, safe=""), quote(password)}


def test_no_password_in_exceptions_logs_reports_or_files(
    pw_server: PasswordServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "Wr0ng-" + PASSWORD[::-1]
    outputs: list[str] = []
    with every_log_record() as records, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # a failing run (every rendering of the report), and a passing one
        for history in ("upgrade_fails", "models_drift", "clean"):
            config = GauntletConfig(
                alembic_ini=catalog.ini(history), metadata=catalog.load_metadata(history)
            )
            with Gauntlet(pw_server.dsn(), config) as gauntlet:
                outputs += [gauntlet.target, repr(gauntlet.url), str(gauntlet.url)]
                try:
                    report = gauntlet.run_all()
                except GauntletError as exc:
                    outputs += _texts_of(exc)
                else:
                    outputs += [str(report), report.to_json(), report.to_junit_xml()]
        # the wrong password: refused, and neither password may show
        with pytest.raises(DatabaseUnavailableError) as refused:
            Gauntlet(
                pw_server.dsn(password=wrong), GauntletConfig(alembic_ini=catalog.ini("clean"))
            )
        outputs += _texts_of(refused.value)
        # the CLI, with every output it has
        junit = tmp_path / "report.xml"
        argv = ["-c", catalog.ini("upgrade_fails"), "-v", "--json", "--junit-xml", str(junit)]
        assert cli_main([*argv, "--dsn", pw_server.dsn()]) == 1
        out, err = capsys.readouterr()
        outputs += [out, err, junit.read_text()]
        assert cli_main([*argv, "--dsn", pw_server.dsn(password=wrong)]) == 2
        out, err = capsys.readouterr()
        outputs += [out, err]
    outputs += records + [str(w.message) for w in caught]
    assert any("password authentication failed" in text for text in outputs)
    assert any("upgrade_fails" in r or "c1000002" in r for r in outputs)
    assert len(records) > 10, "the log capture caught nothing"
    for secret in _secrets(PASSWORD) | _secrets(wrong):
        leaked = [text for text in outputs if secret in text]
        assert leaked == [], f"{secret!r} in {leaked[0][:300]!r}"
    assert leftovers(pw_server.server) == []


def test_identifiers_are_composed_with_psycopg_sql() -> None:
    """No SQL string in the library is built by f-string, %, + or .format: names only
    reach SQL through ``psycopg.sql.Identifier`` (or as bound parameters)."""
    sql_calls = {"text", "execute", "exec_driver_sql", "SQL"}
    offenders = []
    for path in sorted((ROOT / "gauntlet_sync").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name not in sql_calls:
                continue
            first = node.args[0]
            built = isinstance(first, ast.JoinedStr) or (
                isinstance(first, ast.BinOp) and isinstance(first.op, (ast.Mod, ast.Add))
            )
            formatted = (
                isinstance(first, ast.Call)
                and isinstance(first.func, ast.Attribute)
                and first.func.attr == "format"
                and not (isinstance(first.func.value, ast.Call) and _is_sql_sql(first.func.value))
            )
            if built or formatted:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def _is_sql_sql(call: ast.Call) -> bool:
    func = call.func
    return isinstance(func, ast.Attribute) and func.attr == "SQL"


def _tcp_listeners(pid: int) -> list[str]:
    """Local addresses of the TCP sockets ``pid`` listens on (from /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.read().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                    found.append(fields[1])
    return found


def _address(hex_address: str) -> str:
    host, port = hex_address.split(":")
    octets = [str(int(host[i : i + 2], 16)) for i in range(0, 8, 2)][::-1]
    return f"{'.'.join(octets)}:{int(port, 16)}"


def test_embedded_server_listens_on_no_tcp_port_unless_asked(pw_server: PasswordServer) -> None:
    shared = EmbeddedPostgres.shared()
    assert shared.pid is not None and shared.tcp_dsn is None
    assert _tcp_listeners(shared.pid) == []
    with psycopg.connect(shared.dsn) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("",)
    asked = pw_server.server
    assert asked.pid is not None
    listeners = [_address(a) for a in _tcp_listeners(asked.pid)]
    assert listeners == [f"127.0.0.1:{asked.port}"]  # loopback only, never 0.0.0.0
