"""Bad input, table-driven: every row must end in a clear, typed error and leave nothing.

Each row breaks one thing: the DSN, the server's answer (refused, silent, wrong password,
no database, no privilege), the alembic.ini, env.py, a revision file, the revision graph,
the metadata string, a check name, a revision name, a schema name, the server binaries.
For each the library must raise the expected ``GauntletError`` subclass, whose message
names the problem and the fix, within a bounded time and without the password; the CLI
must exit 2 with a one-line error and no traceback; and afterwards there is no isolated
schema or database on any server, nothing new in the temp directory and no new process.

Every DSN carries :data:`PASSWORD` (trust auth ignores it on the Unix socket), so every
row also checks that the password never comes back.

Named for what it holds, not for one module: bad input across every module that reads it
(dsn, config, history, server, cli).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from gauntlet_sync import (
    ConfigError,
    DatabaseUnavailableError,
    DsnError,
    EmbeddedPostgres,
    EmptySchemaNameError,
    Gauntlet,
    GauntletConfig,
    GauntletError,
    HistoryError,
    InvalidSchemaNameError,
    MetadataImportError,
    MigrationEnvironmentError,
    ReservedWordSchemaNameError,
    SchemaNameTooLongError,
    ServerNotFoundError,
    utils,
)
from gauntlet_sync.cli import main as cli_main
from tests.reliability import (
    PASSWORD,
    ROOT,
    PasswordServer,
    child_env,
    child_pids,
    leftovers,
    make_project,
    password_server,
    private_tempdir,
    socket_dsn,
)

TRACEBACK = "Traceback (most recent call last)"


@dataclasses.dataclass
class Env:
    """What the rows are built from; ``project`` is a fresh, intact copy per row."""

    shared: EmbeddedPostgres
    pw: PasswordServer
    refused_port: int
    silent_port: int
    project: Path
    empty_bin: Path

    @property
    def dsn(self) -> str:
        return socket_dsn(self.shared)


def _edit(relative: str, old: str, new: str) -> Callable[[Path], None]:
    def edit(project: Path) -> None:
        path = project / relative
        text = path.read_text()
        assert old in text, f"{old!r} not in {path}"
        path.write_text(text.replace(old, new, 1))

    return edit


def _write(relative: str, text: str) -> Callable[[Path], None]:
    return lambda project: (project / relative).write_text(text)


def _remove(relative: str) -> Callable[[Path], None]:
    def remove(project: Path) -> None:
        path = project / relative
        shutil.rmtree(path) if path.is_dir() else path.unlink()

    return remove


def _copy(relative: str, to: str) -> Callable[[Path], None]:
    return lambda project: shutil.copy(project / relative, project / to)


A1 = "versions/a1_create_customers.py"
A2 = "versions/a2_create_orders.py"
A3 = "versions/a3_add_order_code.py"
A4 = "versions/a4_seed_walk_in_customer.py"
MODELS_OK = "from sqlalchemy import MetaData\nmetadata = MetaData()\nclass Base:\n    pass\n"


@dataclasses.dataclass(frozen=True)
class Case:
    """One bad input.

    ``words`` must all appear in the message (the problem and the fix); ``stage`` says
    how far the library may get before refusing: ``config`` (building GauntletConfig),
    ``connect`` (building Gauntlet: loading, importing, connecting) or ``run`` (run_all).
    ``cli`` are the extra CLI arguments (``None``: no CLI equivalent); ``cli_words`` must
    appear in its stderr (default: the first of ``words``).
    """

    id: str
    error: type[GauntletError]
    words: tuple[str, ...]
    stage: str = "connect"
    dsn: Callable[[Env], str] = lambda env: env.dsn
    breaks: Callable[[Path], None] | None = None
    ini: str = "alembic.ini"
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    run: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    call: Callable[[Env], Any] | None = None  # instead of GauntletConfig/Gauntlet/run_all
    cli: tuple[str, ...] | None = ()
    cli_words: tuple[str, ...] | None = None
    seconds: float = 10.0


CASES: list[Case] = [
    # --- the connection string ---
    Case(
        "dsn-bad-port",
        DsnError,
        ("invalid port 'notaport'", "accepted:", "postgresql://"),
        dsn=lambda env: f"postgresql://app:{PASSWORD}@localhost:notaport/app",
    ),
    Case(
        "dsn-unterminated-quote",
        DsnError,
        ("cannot parse connection string", "unterminated quoted string", "accepted:"),
        dsn=lambda env: f"host=localhost dbname=app password='{PASSWORD}",
    ),
    Case(
        "dsn-unsupported-scheme",
        DsnError,
        ("unsupported connection string", "postgresql://"),
        dsn=lambda env: f"mysql://app:{PASSWORD}@localhost/app",
    ),
    Case(
        "dsn-empty",
        DsnError,
        ("empty connection string", "accepted:"),
        dsn=lambda env: "   ",
    ),
    # --- the server's answer ---
    Case(
        "connection-refused",
        DatabaseUnavailableError,
        ("Connection refused", "Check the DSN"),
        dsn=lambda env: f"postgresql://app:{PASSWORD}@127.0.0.1:{env.refused_port}/app",
    ),
    Case(
        # A listening socket that never answers: the TCP handshake succeeds, the startup
        # packet gets no reply; only connect_timeout ends the wait (libpq's minimum: 2 s).
        "connect-timeout",
        DatabaseUnavailableError,
        ("timeout expired", "Check the DSN"),
        dsn=lambda env: (
            f"postgresql://app:{PASSWORD}@127.0.0.1:{env.silent_port}/app?connect_timeout=2"
        ),
        seconds=6.0,
    ),
    Case(
        "wrong-password",
        DatabaseUnavailableError,
        ("password authentication failed", "Check the DSN"),
        dsn=lambda env: env.pw.dsn(password="Wrong-" + PASSWORD),
    ),
    Case(
        "unknown-role",
        DatabaseUnavailableError,
        ('for user "ghost"', "Check the DSN"),
        dsn=lambda env: env.pw.dsn(user="ghost"),
    ),
    Case(
        "missing-database",
        DatabaseUnavailableError,
        ('database "nodb" does not exist', "Check the DSN"),
        dsn=lambda env: env.pw.dsn(db="nodb"),
    ),
    Case(
        "no-create-privilege",
        DatabaseUnavailableError,
        ("permission denied for database test", "GRANT CREATE ON DATABASE test TO app_reader"),
        stage="run",
        dsn=lambda env: env.pw.dsn(user=env.pw.reader),
    ),
    Case(
        "no-createdb-privilege",
        DatabaseUnavailableError,
        ("permission denied to create database", "ALTER ROLE app_reader CREATEDB"),
        stage="run",
        dsn=lambda env: env.pw.dsn(user=env.pw.reader),
        config={"isolation": "database"},
        cli=("--isolation", "database"),
    ),
    # --- alembic.ini ---
    Case(
        "missing-alembic-ini",
        ConfigError,
        ("Alembic ini file not found", "no-such.ini", "-c/--config"),
        ini="no-such.ini",
    ),
    Case(
        "ini-without-alembic-section",
        ConfigError,
        ("Section [alembic] not found", "--name"),
        breaks=_write("alembic.ini", "[other]\nscript_location = env\n"),
    ),
    Case(
        "ini-without-script-location",
        ConfigError,
        ("No script_location in [alembic]", "set it there"),
        breaks=_write("alembic.ini", "[alembic]\nversion_locations = %(here)s/versions\n"),
    ),
    Case(
        "missing-script-directory",
        HistoryError,
        ("Path doesn't exist", "Check script_location"),
        breaks=_remove("env"),
    ),
    Case(
        "missing-versions-directory",
        HistoryError,
        ("No revision directory found", "version_locations"),
        breaks=_remove("versions"),
    ),
    # --- env.py ---
    Case(
        "env-py-syntax-error",
        MigrationEnvironmentError,
        ("env.py", "syntax error at line 1", "Fix env.py"),
        breaks=_write("env/env.py", "def run(:\n    pass\n"),
    ),
    Case(
        "env-py-raises",
        MigrationEnvironmentError,
        ("failed before any migration ran", "boom in env.py", "Fix env.py"),
        stage="run",
        breaks=_write("env/env.py", "raise RuntimeError('boom in env.py')\n"),
    ),
    Case(
        "env-py-missing",
        MigrationEnvironmentError,
        ("Cannot read env.py", "alembic init"),
        breaks=_remove("env/env.py"),
    ),
    Case(
        "env-py-runs-no-migrations",
        MigrationEnvironmentError,
        ("ran no migrations", "context.run_migrations()"),
        stage="run",
        breaks=_write("env/env.py", "from alembic import context\n"),
    ),
    # --- revision files and the revision graph ---
    Case(
        "revision-syntax-error",
        HistoryError,
        ("a2_create_orders.py has a syntax error", "Fix the file"),
        breaks=_edit(A2, "def downgrade() -> None:", "def downgrade( -> None:"),
    ),
    Case(
        "revision-import-error",
        HistoryError,
        ("a2_create_orders.py", "No module named 'no_such_module_qq'", "Fix that file"),
        breaks=_edit(A2, "import sqlalchemy as sa", "import no_such_module_qq"),
    ),
    Case(
        "revision-without-id",
        HistoryError,
        ("Could not determine revision id", "'revision' variable"),
        breaks=_edit(A4, 'revision = "a1000004"', 'revison = "a1000004"'),
    ),
    Case(
        "revision-cycle",
        HistoryError,
        ("cycle", "a1000001", "Fix the down_revision"),
        breaks=_edit(A1, "down_revision = None", 'down_revision = "a1000004"'),
    ),
    Case(
        "down-revision-names-no-revision",
        HistoryError,
        ("a1000003", "'zzz999'", "Fix that revision's down_revision"),
        breaks=_edit(A3, 'down_revision = "a1000002"', 'down_revision = "zzz999"'),
    ),
    Case(
        "duplicate-revision-id",
        HistoryError,
        ("a1000004", "a4_seed_walk_in_customer.py", "a5_copy.py", "its own `revision"),
        breaks=_copy(A4, "versions/a5_copy.py"),
    ),
    # --- metadata ---
    Case(
        "metadata-module-missing",
        MetadataImportError,
        ("Cannot import module 'no_such_models_qq'", "fix the module path"),
        config={"metadata": "no_such_models_qq:Base.metadata"},
        cli=("--metadata", "no_such_models_qq:Base.metadata"),
    ),
    Case(
        "metadata-attribute-missing",
        MetadataImportError,
        ("has no attribute path 'Nope.metadata'", "point metadata at your MetaData"),
        breaks=_write("bad_models_attr.py", MODELS_OK),
        config={"metadata": "bad_models_attr:Nope.metadata"},
        cli=("--metadata", "bad_models_attr:Nope.metadata"),
    ),
    Case(
        "metadata-not-a-metadata",
        MetadataImportError,
        ("is a type, not a sqlalchemy MetaData", "Base.metadata"),
        breaks=_write("bad_models_type.py", MODELS_OK),
        config={"metadata": "bad_models_type:Base"},
        cli=("--metadata", "bad_models_type:Base"),
    ),
    Case(
        "metadata-not-module-colon-attr",
        MetadataImportError,
        ("'module:attr'", "myapp.models:Base.metadata"),
        config={"metadata": "models.Base.metadata"},
        cli=("--metadata", "models.Base.metadata"),
    ),
    # --- names of checks and revisions ---
    Case(
        "unknown-check-in-only",
        ConfigError,
        ("Unknown check name(s): stairwey", "Known checks:"),
        stage="run",
        run={"checks": ["upgrade", "stairwey"]},
        cli=("--only", "upgrade,stairwey"),
        cli_words=("unknown check(s) stairwey", "valid checks:"),
    ),
    Case(
        "unknown-check-in-skip",
        ConfigError,
        ("Unknown check name(s): nope", "Known checks:"),
        stage="run",
        run={"skip": ["nope"]},
        cli=("--skip", "nope"),
        cli_words=("unknown check(s) nope", "valid checks:"),
    ),
    Case(
        "unknown-minimum-downgrade-revision",
        ConfigError,
        ("Unknown revision 'nope123'", "Known revisions: a1000001"),
        config={"minimum_downgrade_revision": "nope123"},
        cli=("--minimum-downgrade-revision", "nope123"),
    ),
    Case(
        "unknown-isolation",
        ConfigError,
        ("isolation must be 'schema' or 'database'", "'table'"),
        stage="config",
        config={"isolation": "table"},
        cli=("--isolation", "table"),
        cli_words=("invalid choice: 'table'",),
    ),
    # --- schema names (the prefix of every isolated schema; a target schema in utils) ---
    Case(
        "schema-prefix-empty",
        EmptySchemaNameError,
        ("prefix cannot be empty", "'gauntlet'"),
        stage="config",
        config={"schema_prefix": ""},
        cli=None,
    ),
    Case(
        "schema-prefix-too-long",
        SchemaNameTooLongError,
        ("is 40 bytes", "use at most 37"),
        stage="config",
        config={"schema_prefix": "p" * 40},
        cli=None,
    ),
    Case(
        "schema-prefix-reserved-word",
        ReservedWordSchemaNameError,
        ("'select' is a PostgreSQL reserved word", "choose another"),
        stage="config",
        config={"schema_prefix": "select"},
        cli=None,
    ),
    Case(
        "schema-prefix-injection",
        InvalidSchemaNameError,
        ("Invalid schema prefix 'x; DROP TABLE y'", "lower-case letters and digits"),
        stage="config",
        config={"schema_prefix": "x; DROP TABLE y"},
        cli=None,
    ),
    Case(
        "schema-prefix-single-quote",
        InvalidSchemaNameError,
        ("Invalid schema prefix \"x' OR '1'='1\"", "lower-case letters and digits"),
        stage="config",
        config={"schema_prefix": "x' OR '1'='1"},
        cli=None,
    ),
    Case(
        "schema-prefix-double-quote",
        InvalidSchemaNameError,
        ("Invalid schema prefix 'x\"; DROP SCHEMA public CASCADE; --'", "lower-case"),
        stage="config",
        config={"schema_prefix": 'x"; DROP SCHEMA public CASCADE; --'},
        cli=None,
    ),
    Case(
        "schema-prefix-unicode",
        InvalidSchemaNameError,
        ("Invalid schema prefix 'schéma'", "lower-case letters and digits"),
        stage="config",
        config={"schema_prefix": "schéma"},
        cli=None,
    ),
    Case(
        "schema-prefix-upper-case",
        InvalidSchemaNameError,
        ("Invalid schema prefix 'Gauntlet'", "lower-case letters and digits"),
        stage="config",
        config={"schema_prefix": "Gauntlet"},
        cli=None,
    ),
    Case(
        "target-schema-injection",
        InvalidSchemaNameError,
        ("Invalid schema name 'app\"; DROP SCHEMA public CASCADE; --'", "letters, digits"),
        call=lambda env: _upgrade_schema(env, 'app"; DROP SCHEMA public CASCADE; --'),
        cli=None,
    ),
    Case(
        "target-schema-reserved-word",
        ReservedWordSchemaNameError,
        ("'user' is a PostgreSQL reserved word", "choose another name"),
        call=lambda env: _upgrade_schema(env, "user"),
        cli=None,
    ),
    Case(
        "target-schema-too-long",
        SchemaNameTooLongError,
        ("is 64 bytes", "at most 63"),
        call=lambda env: _upgrade_schema(env, "s" * 64),
        cli=None,
    ),
    # --- the embedded default without server binaries ---
    Case(
        "server-binaries-missing",
        ServerNotFoundError,
        ("has no executable `postgres` and `initdb`", "GAUNTLET_PG_BIN", "pass a DSN"),
        call=lambda env: EmbeddedPostgres(pg_bin=env.empty_bin),
        cli=(),  # run as a real process with GAUNTLET_PG_BIN, see test_cli
    ),
]


def _upgrade_schema(env: Env, schema: str) -> None:
    from alembic.config import Config

    engine = create_engine(env.shared.url, poolclass=NullPool)
    try:
        utils.run_alembic_upgrade(engine, Config(str(env.project / "alembic.ini")), schema)
    finally:
        engine.dispose()


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[EmbeddedPostgres, PasswordServer]]:
    with password_server() as pw:
        yield EmbeddedPostgres.shared(), pw


@pytest.fixture(scope="module")
def ports() -> Iterator[tuple[int, int]]:
    """A closed port (refused) and a socket that accepts but never answers (silent)."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refused_port = closed.getsockname()[1]
    closed.close()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    try:
        yield refused_port, silent.getsockname()[1]
    finally:
        silent.close()


@pytest.fixture
def env(
    servers: tuple[EmbeddedPostgres, PasswordServer],
    ports: tuple[int, int],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Env]:
    """A fresh project; a private temp dir, no new process and no isolated target after."""
    shared, pw = servers
    monkeypatch.delenv("GAUNTLET_DSN", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    modules = set(sys.modules)
    before = child_pids()
    with private_tempdir() as scratch:
        work = scratch.parent / (scratch.name + "-work")
        work.mkdir()
        try:
            project = make_project(work)
            empty_bin = work / "empty-bin"
            empty_bin.mkdir()
            monkeypatch.chdir(project)
            yield Env(shared, pw, ports[0], ports[1], project, empty_bin)
            monkeypatch.chdir(ROOT)
            assert sorted(os.listdir(scratch)) == [], "temp files left behind"
        finally:
            shutil.rmtree(work, ignore_errors=True)
    for name in set(sys.modules) - modules:
        if name.startswith(("bad_models", "models", "no_such")):
            del sys.modules[name]
    assert child_pids() <= before, "processes left behind"
    assert leftovers(shared) == [] and leftovers(pw.server) == []


# --- the table -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_library_raises_a_clear_typed_error(case: Case, env: Env) -> None:
    if case.breaks is not None:
        case.breaks(env.project)
    reached = "start"
    started = time.monotonic()
    with pytest.raises(GauntletError) as info:
        if case.call is not None:
            reached = "call"
            case.call(env)
        else:
            config = GauntletConfig(alembic_ini=str(env.project / case.ini), **case.config)
            reached = "config"
            with Gauntlet(case.dsn(env), config) as gauntlet:
                reached = "connect"
                gauntlet.run_all(**case.run)
                reached = "run"
    seconds = time.monotonic() - started
    error = info.value
    message = str(error)
    assert type(error) is case.error, f"{type(error).__name__}: {message}"
    for word in case.words:
        assert word in message, f"{word!r} not in: {message}"
    assert PASSWORD not in message and PASSWORD not in repr(error.args)
    assert seconds < case.seconds, f"took {seconds:.1f} s"
    if case.call is None:
        expected = {"config": "start", "connect": "config", "run": "connect"}[case.stage]
        assert reached == expected, f"failed at {reached!r}, expected before {case.stage!r}"


CLI_CASES = [c for c in CASES if c.cli is not None and c.id != "server-binaries-missing"]


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.id for c in CLI_CASES])
def test_cli_exits_2_with_one_line(
    case: Case, env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    if case.breaks is not None:
        case.breaks(env.project)
    assert case.cli is not None
    argv = ["-c", str(env.project / case.ini), "--dsn", case.dsn(env), "-q", *case.cli]
    started = time.monotonic()
    code = cli_main(argv)
    seconds = time.monotonic() - started
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == ""
    assert TRACEBACK not in err and PASSWORD not in err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1, err
    for word in case.cli_words or case.words[:1]:
        assert word in errors[0], f"{word!r} not in: {errors[0]}"
    assert seconds < case.seconds


def test_cli_without_server_binaries(env: Env) -> None:
    """No DSN and no PostgreSQL: a real process, exit 2, the three ways out named."""
    environ = child_env(
        drop=("GAUNTLET_DSN",),
        GAUNTLET_PG_BIN=str(env.empty_bin),
        TMPDIR=tempfile.gettempdir(),  # the private one: must stay empty
    )
    result = subprocess.run(
        [sys.executable, "-m", "gauntlet_sync", "-c", str(env.project / "alembic.ini")],
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
        cwd=env.project,
    )
    assert result.returncode == 2, result.stderr
    assert TRACEBACK not in result.stderr and result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "no executable `postgres` and `initdb`" in errors[0]
    assert "GAUNTLET_PG_BIN" in errors[0] and "DSN" in errors[0]


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 25
    assert len({c.id for c in CASES}) == len(CASES)
    assert len(CLI_CASES) + 1 >= 25
