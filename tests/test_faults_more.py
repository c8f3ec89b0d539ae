"""Faults of issue 13, cases 14-17: a broken alembic.ini, JUnit reports with text XML
cannot hold or a path that cannot be written, --cleanup-stale among other roles' schemas
and with absurd ages, and passwords that equal other parts of the DSN.

Every server is a real ``EmbeddedPostgres``; nothing is mocked. After each case: no
isolated schema or database is left, nor any role, setting or file the test made.

Named for what it holds, not for one module: issue 13's faults, across config, report,
janitor and dsn.
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from gauntlet_sync import (
    ConfigError,
    DatabaseUnavailableError,
    EmbeddedPostgres,
    Gauntlet,
    GauntletConfig,
    cleanup_stale,
)
from gauntlet_sync.cli import main as cli_main
from gauntlet_sync.report import CheckResult, Report
from tests.reliability import (
    PASSWORD,
    PasswordServer,
    child_env,
    child_pids,
    leftovers,
    make_project,
    password_server,
    socket_dsn,
    wait_gone,
)

TRACEBACK = "Traceback (most recent call last)"


@pytest.fixture
def server() -> Iterator[EmbeddedPostgres]:
    """The shared server: no new process and no isolated schema may be left."""
    shared = EmbeddedPostgres.shared()
    before = child_pids()
    yield shared
    assert leftovers(shared) == []
    assert wait_gone(child_pids() - before) == set(), "processes left behind"


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli_main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# --- case 14: an alembic.ini configparser cannot read ---------------------------------------

BROKEN_INIS: dict[str, tuple[bytes | None, str, str]] = {
    # name: (replacement of the whole file, or None to edit; words of the message)
    "interpolation": (
        None,
        "interpolation key 'nosuch'",
        "Write a literal % as %%",
    ),
    "not-utf8": (
        b"[alembic]\nscript_location = %(here)s/env\n# caf\xe9\n",
        "not UTF-8 (byte 0xe9 on line 3)",
        "Save it as UTF-8",
    ),
    "no-section-header": (
        b"script_location = %(here)s/env\n",
        "no section headers",
        "Start it with a section header",
    ),
    "duplicate-option": (
        b"[alembic]\nscript_location = %(here)s/env\nscript_location = %(here)s/env\n",
        "option 'script_location' in section 'alembic' already exists",
        "Keep one of them",
    ),
}


def _broken_ini(root: Path, name: str) -> Path:
    project = make_project(root)
    ini = project / "alembic.ini"
    content, _, _ = BROKEN_INIS[name]
    if content is None:
        text = ini.read_text()
        ini.write_text(text.replace("script_location = ", "script_location = %(nosuch)s", 1))
    else:
        ini.write_bytes(content)
    return ini


@pytest.mark.parametrize("name", list(BROKEN_INIS))
def test_a_broken_alembic_ini_is_a_config_error(
    name: str, tmp_path: Path, server: EmbeddedPostgres, capsys: pytest.CaptureFixture[str]
) -> None:
    ini = _broken_ini(tmp_path, name)
    _, *words = BROKEN_INIS[name]
    with pytest.raises(ConfigError) as info:
        Gauntlet(socket_dsn(server), GauntletConfig(alembic_ini=str(ini)))
    for word in (str(ini), *words):
        assert word in str(info.value), str(info.value)
    code, out, err = _cli(["-c", str(ini), "--dsn", socket_dsn(server)], capsys)
    assert code == 2
    assert err.count("error:") == 1 and TRACEBACK not in err and out == ""
    assert all(word in err for word in words), err


# --- case 15: JUnit XML ------------------------------------------------------------------------

NASTY = "bad \x01 byte, \x1b[31mred\x1b[0m, a lone \udcff surrogate, \x00 nul"

RAISING_REVISION = '''"""raise with text XML cannot hold

Revision ID: x1000001
Revises:
Create Date: 2024-01-01 00:00:00

"""
import os

revision = "x1000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    target = os.environ.get("GAUNTLET_TEST_MAKE_DIR")
    if target:
        os.makedirs(target, exist_ok=True)  # the JUnit path, taken during the run
    raise RuntimeError(NASTY)


def downgrade() -> None:
    pass
'''


def _raising_project(root: Path) -> Path:
    project = make_project(root)
    for old in (project / "versions").iterdir():
        old.unlink()
    body = RAISING_REVISION.replace("NASTY", repr(NASTY))
    (project / "versions" / "x1_raise.py").write_text(body)
    return project


def test_junit_xml_escapes_control_characters_and_lone_surrogates() -> None:
    report = Report(
        [
            CheckResult("upgrade", "failed", 0.1, error=ConfigError(NASTY)),
            CheckResult("naming", "skipped", reason=NASTY),
        ]
    )
    root = ET.fromstring(report.to_junit_xml().encode("utf-8"))
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None and failure.text is not None
    assert "\\x01 byte, \\x1b[31mred" in failure.text and "\ufffd surrogate" in failure.text
    assert "\\x00 nul" in failure.get("message", "")


def test_cli_junit_from_a_migration_raising_nasty_text_parses(
    tmp_path: Path, server: EmbeddedPostgres, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _raising_project(tmp_path)
    junit = tmp_path / "reports" / "junit.xml"
    argv = ["-c", str(project / "alembic.ini"), "--dsn", socket_dsn(server), "-q"]
    code, out, _ = _cli([*argv, "--junit-xml", str(junit), "--only", "upgrade"], capsys)
    assert code == 1 and "[failed] upgrade" in out
    case = ET.parse(junit).getroot().find("testsuite/testcase")
    assert case is not None and case.get("name") == "upgrade"
    failure = case.find("failure")
    assert failure is not None and "RuntimeError: bad \\x01 byte" in (failure.text or "")
    assert [p.name for p in junit.parent.iterdir()] == ["junit.xml"]  # no temporary left


@pytest.mark.parametrize("where", ["a-directory", "under-a-file", "read-only-filesystem"])
def test_an_unwritable_junit_path_exits_2_before_the_run(
    where: str, tmp_path: Path, server: EmbeddedPostgres, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project(tmp_path)
    (tmp_path / "plain-file").write_text("")
    path = {
        "a-directory": tmp_path,
        "under-a-file": tmp_path / "plain-file" / "junit.xml",
        "read-only-filesystem": Path("/proc/gauntlet-junit.xml"),
    }[where]
    argv = ["-c", str(project / "alembic.ini"), "--dsn", socket_dsn(server)]
    started = time.monotonic()
    code, out, err = _cli([*argv, "--junit-xml", str(path)], capsys)
    assert code == 2 and time.monotonic() - started < 2
    assert f"--junit-xml {path}:" in err and TRACEBACK not in err
    assert "started" not in err and out == ""  # nothing ran
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain-file", "project"]


def test_a_junit_file_that_cannot_be_written_after_the_run_keeps_exit_1(
    tmp_path: Path, server: EmbeddedPostgres, capsys: pytest.CaptureFixture[str]
) -> None:
    """The migration itself takes the JUnit path (a directory) while the run goes on."""
    project = _raising_project(tmp_path)
    junit = tmp_path / "junit.xml"
    os.environ["GAUNTLET_TEST_MAKE_DIR"] = str(junit)
    try:
        argv = ["-c", str(project / "alembic.ini"), "--dsn", socket_dsn(server), "-q"]
        code, out, err = _cli([*argv, "--junit-xml", str(junit), "--only", "upgrade"], capsys)
    finally:
        del os.environ["GAUNTLET_TEST_MAKE_DIR"]
    assert code == 1  # the run's own verdict, not 2
    assert "[failed] upgrade" in out  # the summary is printed
    assert f"cannot write --junit-xml {junit}" in err and TRACEBACK not in err
    assert junit.is_dir() and list(junit.iterdir()) == []


# --- case 16: --cleanup-stale --------------------------------------------------------------


@pytest.mark.parametrize("age", ["nan", "-1", "inf", "-inf", "soon"])
def test_cleanup_stale_refuses_an_absurd_age(
    age: str, server: EmbeddedPostgres, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _cli(
        ["--dsn", socket_dsn(server), "--cleanup-stale", "--older-than", age], capsys
    )
    assert code == 2 and "--older-than" in err and TRACEBACK not in err and out == ""


@pytest.mark.parametrize("age", [math.nan, -1.0, math.inf])
def test_cleanup_stale_api_refuses_an_absurd_age(age: float, server: EmbeddedPostgres) -> None:
    with pytest.raises(ConfigError, match="older_than must be a finite number"):
        cleanup_stale(socket_dsn(server), older_than=age)


def _comment(pid: int, started: int) -> str:
    return f"gauntlet-sync pid={pid} host={socket.gethostname()} started={started}"


@pytest.fixture
def roles(server: EmbeddedPostgres) -> Iterator[tuple[str, str]]:
    """A role that runs the cleanup and one that owns a stale schema; both gone after."""
    names = ("faults_cleaner", "faults_other")
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
        conn.execute(sql.SQL("GRANT CREATE ON DATABASE test TO faults_cleaner, faults_other"))
    try:
        yield names
    finally:
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            for name in names:
                conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(name)))
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
            left = conn.execute(
                "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'faults\\_%'"
            ).fetchone()
            assert left == (0,)


@pytest.mark.parametrize("via", ["api", "cli"])
def test_cleanup_stale_skips_another_roles_schema_and_drops_the_rest(
    via: str,
    server: EmbeddedPostgres,
    roles: tuple[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    cleaner, other = roles
    dead = _dead_pid()
    old = int(time.time()) - 7200
    mine, foreign = f"gauntlet_{dead}_{old}_eeeee1", f"gauntlet_{dead}_{old}_eeeee2"
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        for name, owner in ((mine, cleaner), (foreign, other)):
            conn.execute(
                sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(
                    sql.Identifier(name), sql.Identifier(owner)
                )
            )
            conn.execute(
                sql.SQL("COMMENT ON SCHEMA {} IS {}").format(
                    sql.Identifier(name), sql.Literal(_comment(dead, old))
                )
            )
    dsn = socket_dsn(server).replace("postgres:", f"{cleaner}:", 1)
    if via == "api":
        skipped: list[str] = []
        assert cleanup_stale(dsn, older_than=3600, on_skip=skipped.append) == [f"schema {mine}"]
        assert skipped == [
            f"schema {foreign}: owned by role {other}, which the current role is not a member "
            f"of; drop it as {other} or a superuser"
        ]
        with pytest.warns(UserWarning, match=f"left schema {foreign}: owned by role {other}"):
            assert cleanup_stale(dsn, older_than=3600) == []
    else:
        code, out, err = _cli(["--dsn", dsn, "--cleanup-stale", "--older-than", "3600"], capsys)
        assert code == 0 and out == f"dropped schema {mine}\n"
        assert f"skipped schema {foreign}: owned by role {other}" in err
        assert "1 stale object(s) dropped" in err and "1 skipped" in err
    assert leftovers(server) == [f"schema {foreign}"]
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {}").format(sql.Identifier(foreign)))


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


# --- case 17: passwords equal to other parts, and what the server refused ----------------------


@pytest.fixture(scope="module")
def pw() -> Iterator[PasswordServer]:
    with password_server() as ps:
        with psycopg.connect(ps.server.dsn, autocommit=True) as conn:
            # a password equal to the user name, as on many a developer's machine
            conn.execute("CREATE ROLE samename LOGIN PASSWORD 'samename'")
            # CREATE granted, but every transaction read-only: a refusal of another kind
            conn.execute("CREATE ROLE readonly LOGIN PASSWORD 'readonly'")
            conn.execute("GRANT CREATE ON DATABASE test TO readonly")
            conn.execute("ALTER ROLE readonly SET default_transaction_read_only = on")
        yield ps


def _run_cli(dsn: str, project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gauntlet_sync", "-c", str(project / "alembic.ini"), "--dsn", dsn],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
    )


def test_a_password_equal_to_the_user_name_masks_only_the_password(
    pw: PasswordServer, tmp_path: Path
) -> None:
    project = make_project(tmp_path)
    result = _run_cli(pw.dsn("samename", "samename"), project)
    assert result.returncode == 2
    err = result.stderr
    assert "gauntlet-sync: error: Cannot create the isolated schema on " in err
    assert f"postgresql+psycopg://samename:***@127.0.0.1:{pw.port}/test" in err
    assert "permission denied for database test" in err
    assert "GRANT CREATE ON DATABASE test TO samename" in err
    assert "***ql" not in err and TRACEBACK not in err


def test_a_dsn_refused_for_another_reason_is_told_that_reason(
    pw: PasswordServer, tmp_path: Path
) -> None:
    project = make_project(tmp_path)
    result = _run_cli(pw.dsn("readonly", "readonly"), project)
    assert result.returncode == 2
    err = result.stderr
    assert "cannot execute CREATE SCHEMA in a read-only transaction" in err, err
    assert "GRANT" not in err and "needs CREATE" not in err
    config = GauntletConfig(str(project / "alembic.ini"))
    with Gauntlet(pw.dsn("readonly", "readonly"), config) as gauntlet:
        with pytest.raises(DatabaseUnavailableError, match="read-only transaction"):
            gauntlet.check_upgrade()
    with psycopg.connect(pw.server.dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'gauntlet\\_%'"
        ).fetchone()
    assert row == (0,)


def test_a_long_password_is_masked_everywhere_a_short_one_where_it_stands_alone() -> None:
    from gauntlet_sync.dsn import redact, to_url

    url = to_url(f"postgresql://me:{PASSWORD}@db/app")
    assert redact(f"x{PASSWORD}y {PASSWORD}", url) == "x***y ***"
    short = to_url("postgresql://postgres:post@db/app")
    assert redact("postgresql post 'post' postgres", short) == "postgresql *** '***' postgres"
    same = to_url("postgresql://postgres:postgres@db/app")
    assert redact("GRANT CREATE ON DATABASE app TO postgres", same).endswith("TO postgres")
