"""Faults: the server dies mid-walk, Ctrl-C mid-run, a migration blocked by a lock, and
the leftovers of killed runs.

Servers are real and private where a test hurts them; nothing is mocked.

Named for what it holds, not for one module: issue 13's faults, across the server, the
scheduler and the janitor.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import Connection

from gauntlet_sync import (
    DatabaseUnavailableError,
    EmbeddedPostgres,
    Gauntlet,
    GauntletConfig,
    StairwayError,
    UpgradeError,
)
from gauntlet_sync.cli import main as cli_main
from gauntlet_sync.report import CheckResult
from gauntlet_sync.session import Progress
from tests.histories import catalog
from tests.reliability import (
    ISOLATED_NAME,
    PASSWORD,
    child_env,
    child_pids,
    descendants,
    leftovers,
    make_project,
    private_server,
    private_tempdir,
    socket_dsn,
    wait_gone,
)


@pytest.fixture(name="private_server")
def private_server_fixture() -> Iterator[EmbeddedPostgres]:
    """A private server this test may kill; no process of it may survive the test."""
    with private_server() as pg:
        yield pg


@pytest.fixture
def server() -> Iterator[EmbeddedPostgres]:
    """The shared server, for tests that do not hurt it: no new process, nothing left."""
    shared = EmbeddedPostgres.shared()
    before = child_pids()
    yield shared
    assert leftovers(shared) == []
    assert wait_gone(child_pids() - before) == set(), "processes left behind"


def _stairway_steps(after: int, action: Any) -> Any:
    """A progress callback that calls ``action`` before the ``after``-th stairway step."""
    seen = [0]

    def progress(event: object) -> None:
        if isinstance(event, Progress) and event.walk == "stairway":
            seen[0] += 1
            if seen[0] == after:
                action()

    return progress


# --- the server dies mid-stairway ----------------------------------------------------------


KILL_POINTS = {
    # before a stairway step, with the no-trace snapshots riding along
    "mid-stairway": (
        lambda e: isinstance(e, Progress) and e.walk == "stairway" and e.index == 2,
        "went away during",  # upgrade of a1000002, or a later step if it ran on regardless
    ),
    # inside the head group's one-transaction upgrade
    "mid-upgrade": (
        lambda e: isinstance(e, Progress) and e.walk == "upgrade" and e.index == 3,
        # a1000003, or a1000004 if the backend had not noticed; an orphaned backend may even
        # finish the upgrade, and then the commit or the next check's first query notices
        (
            "during upgrade of a100000",
            "while committing the upgrade",
            "while reading the catalog outside the isolated schema",
        ),
    ),
    # between two checks: the next one opens a connection of its own
    "between-checks": (
        lambda e: isinstance(e, CheckResult) and e.name == "upgrade",
        "while reading the catalog outside the isolated schema",
    ),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_server_killed_mid_run_is_unavailable_within_seconds(
    private_server: EmbeddedPostgres, point: str
) -> None:
    server = private_server
    postmaster = server.pid
    assert postmaster is not None
    backends: set[int] = set()
    killed_at: list[float] = []
    when, where = KILL_POINTS[point]

    def progress(event: object) -> None:
        if not killed_at and when(event):
            backends.update(descendants(postmaster))
            os.kill(postmaster, signal.SIGKILL)
            killed_at.append(time.monotonic())

    config = GauntletConfig(
        alembic_ini=catalog.ini("clean"), metadata=catalog.load_metadata("clean")
    )
    with Gauntlet(socket_dsn(server), config, progress=progress) as gauntlet:
        with pytest.raises(DatabaseUnavailableError) as info:
            gauntlet.run_all()
    seconds = time.monotonic() - killed_at[0]
    message = str(info.value)
    assert seconds < 5, f"noticed after {seconds:.1f} s"
    places = (where,) if isinstance(where, str) else where
    assert any(place in message for place in places), message
    assert "Is the server running?" in message
    assert PASSWORD not in message and "\n" not in message
    assert backends, "the postmaster had backends"
    assert wait_gone(backends) == set(), "backends outlived their postmaster"


# --- Ctrl-C ------------------------------------------------------------------------------


def test_keyboard_interrupt_mid_stairway_drops_the_schema(server: EmbeddedPostgres) -> None:
    schemas: list[str] = []

    def prepare(conn: Connection) -> None:
        schemas.append(conn.execute(text("SELECT current_schema()")).scalar_one())

    def interrupt() -> None:
        # the walk's schema, and the head group's while its forked child still works there
        assert f"schema {schemas[-1]}" in leftovers(server)
        raise KeyboardInterrupt

    config = GauntletConfig(alembic_ini=catalog.ini("clean"), prepare=prepare)
    with Gauntlet(server.dsn, config, progress=_stairway_steps(5, interrupt)) as gauntlet:
        with pytest.raises(KeyboardInterrupt):
            gauntlet.run_all()
        assert leftovers(server) == []
        # the interrupted Gauntlet, its engine and the server are fine for the next run
        gauntlet.progress = None
        assert gauntlet.run_all().ok
    assert leftovers(server) == []


INTERRUPTED_RUN = textwrap.dedent(
    """
    import sys
    from gauntlet_sync import EmbeddedPostgres, Gauntlet, GauntletConfig
    from gauntlet_sync.session import Progress

    def progress(event):
        if isinstance(event, Progress) and event.walk == "stairway" and event.index == 2:
            server = EmbeddedPostgres.shared()
            print(server.pid, server.base_dir, flush=True)
            raise KeyboardInterrupt

    Gauntlet(None, GauntletConfig(alembic_ini=sys.argv[1]), progress=progress).run_all()
    """
)


def test_keyboard_interrupt_stops_the_embedded_server() -> None:
    """A real process on the embedded default: interrupted, it leaves no server, no files."""
    with private_tempdir() as scratch:
        environ = child_env(drop=("GAUNTLET_DSN",), TMPDIR=str(scratch))
        result = subprocess.run(
            [sys.executable, "-c", INTERRUPTED_RUN, catalog.ini("clean")],
            capture_output=True,
            text=True,
            timeout=60,
            env=environ,
        )
        assert "KeyboardInterrupt" in result.stderr
        assert result.returncode != 0
        pid, base_dir = result.stdout.split()
        assert base_dir.startswith(str(scratch))
        assert wait_gone({int(pid)}) == set(), "the embedded server outlived its process"
        deadline = time.monotonic() + 10  # the watchdog may still be removing files
        while os.listdir(scratch) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert os.listdir(scratch) == []


# --- a migration blocked by a lock ---------------------------------------------------------

TOUCH_HOT = '''"""add a column to hot (a table prepare= created)

Revision ID: h1000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

from alembic import op

revision = "h1000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE hot ADD COLUMN note text")


def downgrade() -> None:
    op.execute("ALTER TABLE hot DROP COLUMN note")
'''


@pytest.mark.parametrize(
    ("timeouts", "words"),
    [
        ({"lock_timeout": 0.5}, ("lock timeout", "lock_timeout=0.5 s", "holds a lock")),
        (
            {"lock_timeout": None, "statement_timeout": 1.0},
            ("statement timeout", "statement_timeout=1 s", "GauntletConfig.statement_timeout"),
        ),
    ],
    ids=["lock_timeout", "statement_timeout"],
)
def test_a_migration_blocked_by_a_lock_ends_in_a_typed_error(
    tmp_path: Path, timeouts: dict[str, float | None], words: tuple[str, ...]
) -> None:
    """``prepare=`` creates ``hot`` in each fresh schema; just before the first step a
    second connection locks it and holds the lock; the revision needs it."""
    project = make_project(tmp_path)
    shutil.rmtree(project / "versions")
    (project / "versions").mkdir()
    (project / "versions" / "h1_touch_hot.py").write_text(TOUCH_HOT)
    shared = EmbeddedPostgres.shared()
    schemas: list[str] = []
    lockers: dict[str, psycopg.Connection[Any]] = {}

    def prepare(conn: Connection) -> None:
        conn.execute(text("CREATE TABLE hot (id integer)"))
        schemas.append(conn.execute(text("SELECT current_schema()")).scalar_one())

    def progress(event: object) -> None:
        if isinstance(event, Progress) and schemas[-1] not in lockers:
            locker = psycopg.connect(shared.dsn)  # a transaction stays open: the lock stays
            locker.execute(
                sql.SQL("LOCK TABLE {}.hot IN ACCESS EXCLUSIVE MODE").format(
                    sql.Identifier(schemas[-1])
                )
            )
            lockers[schemas[-1]] = locker

    config = GauntletConfig(alembic_ini=str(project / "alembic.ini"), prepare=prepare, **timeouts)
    started = time.monotonic()
    try:
        with Gauntlet(socket_dsn(shared), config, progress=progress) as gauntlet:
            report = gauntlet.run_all(["upgrade", "stairway"], raise_on_failure=False)
    finally:
        for locker in lockers.values():
            locker.close()
    assert time.monotonic() - started < 10
    assert len(lockers) == 2  # one schema for the upgrade, one for the stairway
    errors = {r.name: r.error for r in report.results}
    assert isinstance(errors["upgrade"], UpgradeError)
    assert isinstance(errors["stairway"], StairwayError)
    for error in errors.values():
        assert error is not None and error.revision == "h1000001"
        for word in ("h1000001", *words):
            assert word in str(error), str(error)
    assert leftovers(shared) == []  # dropped although a foreign session held a lock in it


# --- leftovers of killed runs ---------------------------------------------------------------

KILLED_RUN = textwrap.dedent(
    """
    import sys, time
    from gauntlet_sync import Gauntlet, GauntletConfig
    from gauntlet_sync.session import Progress

    def progress(event):
        if isinstance(event, Progress) and event.index == 2:
            print("ready", flush=True)
            time.sleep(60)

    Gauntlet(sys.argv[1], GauntletConfig(alembic_ini=sys.argv[2]), progress=progress).run_all(
        ["stairway"]
    )
    """
)


def test_a_killed_run_leaves_a_recognisable_schema_that_cleanup_drops(
    server: EmbeddedPostgres,
) -> None:
    environ = child_env()
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, server.dsn, catalog.ini("clean")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environ,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        ready = process.stdout.readline().strip()
        if ready != "ready":
            process.wait(timeout=30)
            pytest.fail(f"the run did not get going: {process.stderr.read()}")
    finally:
        process.kill()
        process.communicate()
    [left] = leftovers(server)
    name = left.split()[1]
    assert name.startswith(f"gauntlet_{process.pid}_")
    with psycopg.connect(server.dsn) as conn:
        row = conn.execute(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s",
            (name,),
        ).fetchone()
    assert row is not None
    assert row[0].startswith(f"gauntlet-sync pid={process.pid} host={socket.gethostname()} ")
    with Gauntlet(server.dsn, GauntletConfig(alembic_ini=catalog.ini("clean"))) as gauntlet:
        assert gauntlet.cleanup_stale() == []  # younger than an hour: left alone
        assert gauntlet.cleanup_stale(older_than=0) == [f"schema {name}"]
    assert leftovers(server) == []


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _stale_fixture(conn: psycopg.Connection[Any]) -> tuple[set[str], set[str]]:
    """Objects that must be dropped, and objects that must stay; all created here."""
    host = socket.gethostname()
    dead, live = _dead_pid(), os.getpid()
    old, recent = int(time.time()) - 7200, int(time.time()) - 60

    def comment(pid: int, started: int, on: str = host) -> str:
        return f"gauntlet-sync pid={pid} host={on} started={started}"

    schemas: dict[str, str | None] = {
        # dropped: ours by name and comment, old, process gone (or on another host)
        f"gauntlet_{dead}_{old}_aaaaa1": comment(dead, old),
        f"gauntlet_{live}_{old}_aaaaa2": comment(live, old, on="another-host"),
        # kept
        f"gauntlet_{live}_{old}_bbbbb1": comment(live, old),  # its process still runs
        f"gauntlet_{dead}_{recent}_bbbbb2": comment(dead, recent),  # too recent
        f"gauntlet_{dead}_{old}_bbbbb3": None,  # no comment: not provably ours
        f"gauntlet_{dead}_{old}_bbbbb4": "made by hand",  # someone else's comment
        f"other_{dead}_{old}_bbbbb5": comment(dead, old),  # another prefix
        "gauntlet_backup": comment(dead, old),  # not our name shape
        f"gauntlet_{dead}_{old}_bbbbb6_x": comment(dead, old),
        "app_data": None,
    }
    databases: dict[str, str | None] = {
        f"gauntlet_{dead}_{old}_ccccc1": comment(dead, old),  # dropped
        f"gauntlet_{dead}_{recent}_ddddd1": comment(dead, recent),  # kept: too recent
        "gauntlet_archive": comment(dead, old),  # kept: not our name shape
    }
    for name, text_ in schemas.items():
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE TABLE {}.keep (id int)").format(sql.Identifier(name)))
        if text_ is not None:
            conn.execute(
                sql.SQL("COMMENT ON SCHEMA {} IS {}").format(
                    sql.Identifier(name), sql.Literal(text_)
                )
            )
    for name, text_ in databases.items():
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(text_))
        )
    dropped = {f"schema {n}" for n in list(schemas)[:2]} | {f"database {list(databases)[0]}"}
    everything = {f"schema {n}" for n in schemas} | {f"database {n}" for n in databases}
    return dropped, everything - dropped


def _existing(conn: psycopg.Connection[Any]) -> set[str]:
    rows = conn.execute(
        "SELECT 'schema ' || nspname FROM pg_namespace UNION ALL "
        "SELECT 'database ' || datname FROM pg_database"
    ).fetchall()
    return {r[0] for r in rows}


@pytest.mark.parametrize("via", ["api", "cli"])
def test_cleanup_stale_drops_only_old_orphans_of_ours(
    server: EmbeddedPostgres, via: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        before = _existing(conn)
        dropped, kept = _stale_fixture(conn)
        if via == "api":
            config = GauntletConfig(alembic_ini=catalog.ini("clean"))
            with Gauntlet(server.dsn, config) as gauntlet:
                assert set(gauntlet.cleanup_stale(older_than=3600)) == dropped
        else:
            argv = ["-c", catalog.ini("clean"), "--dsn", socket_dsn(server), "-q"]
            assert cli_main([*argv, "--cleanup-stale", "--older-than", "3600"]) == 0
            out, err = capsys.readouterr()
            assert {line.removeprefix("dropped ") for line in out.splitlines()} == dropped
            assert "3 stale object(s) dropped" in err and PASSWORD not in out + err
        after = _existing(conn)
        assert after == before | kept
        for name in sorted(kept):  # and the kept schemas still hold their table
            kind, _, ident = name.partition(" ")
            if kind == "schema":
                conn.execute(sql.SQL("SELECT * FROM {}.keep").format(sql.Identifier(ident)))
        for name in sorted(kept):
            kind, _, ident = name.partition(" ")
            conn.execute(
                sql.SQL("DROP {} {}{}").format(
                    sql.SQL(kind.upper()),
                    sql.Identifier(ident),
                    sql.SQL(" CASCADE" if kind == "schema" else ""),
                )
            )
        assert _existing(conn) == before


def test_isolated_names_match_what_cleanup_looks_for() -> None:
    """Every name the library makes has the shape find_stale and the tests look for."""
    import re

    from gauntlet_sync.janitor import _STALE_NAME, MAX_PREFIX_BYTES, new_name

    for prefix in ("gauntlet", "g", "p" * MAX_PREFIX_BYTES):
        name = new_name(prefix)
        assert re.match(ISOLATED_NAME, name) and _STALE_NAME.match(name)
        assert len(name.encode()) <= 63 - (7 - len(str(os.getpid())))
