"""Shared by the reliability tests (bad input, faults, concurrency): throwaway projects,
a PostgreSQL that asks for passwords, and the checks that nothing was left behind.

Nothing here mocks the database: every server is a real ``EmbeddedPostgres``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from gauntlet_sync import EmbeddedPostgres
from tests.histories import catalog

#: this checkout: child processes import gauntlet_sync (and tests) from here.
ROOT = Path(__file__).resolve().parents[1]
#: the password every DSN in these tests carries; no output may ever contain it.
PASSWORD = "Pw-7q9z-S3cr3t"
#: the shape of every name the library creates (janitor.new_name).
ISOLATED_NAME = r"^[a-z][a-z0-9]*_[0-9]+_[0-9]{10}_[0-9a-f]{6}$"


def child_env(*, drop: tuple[str, ...] = (), **extra: str) -> dict[str, str]:
    """The environment for a child Python: this checkout first on PYTHONPATH, variables
    starting with any of ``drop`` left out, ``extra`` on top."""
    env = {k: v for k, v in os.environ.items() if not (drop and k.startswith(drop))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def make_project(root: Path, history: str = "clean", env: str = "cookbook") -> Path:
    """A self-contained copy of a test history (its env.py included) under ``root``.

    The catalog's histories share env.py files in ``_envs``; a copy can break its own.
    """
    project = root / "project"
    source = catalog.HISTORIES / history
    shutil.copytree(source / "versions", project / "versions")
    shutil.copytree(catalog.HISTORIES / "_envs" / env, project / "env")
    shutil.copy(source / "models.py", project / "models.py")
    ini = (source / "alembic.ini").read_text()
    (project / "alembic.ini").write_text(ini.replace(f"%(here)s/../_envs/{env}", "%(here)s/env"))
    return project


@contextlib.contextmanager
def private_server() -> Iterator[EmbeddedPostgres]:
    """A server of the test's own, which it may kill; no process of it may survive."""
    EmbeddedPostgres.shared()  # started now, if at all, so it is not taken for a leak
    before = child_pids()
    pg = EmbeddedPostgres()
    try:
        yield pg
    finally:
        pg.stop()
        assert wait_gone(child_pids() - before) == set(), "processes left behind"


def socket_dsn(server: EmbeddedPostgres, *, password: str = PASSWORD) -> str:
    """The server's Unix-socket DSN with a password in it (trust auth ignores it)."""
    socket_dir = quote(str(server.socket_dir), safe="/")
    return f"postgresql://postgres:{password}@/test?host={socket_dir}&port={server.port}"


def leftovers(server: EmbeddedPostgres) -> list[str]:
    """Schemas and databases on ``server`` named like the library's isolated targets."""
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname ~ %(p)s "
            "UNION ALL SELECT 'database ' || datname FROM pg_database WHERE datname ~ %(p)s",
            {"p": ISOLATED_NAME},
        ).fetchall()
    return sorted(r[0] for r in rows)


def child_pids() -> set[int]:
    """Live (non-zombie) processes whose parent is this process."""
    me = os.getpid()
    found: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == me and fields[0] != "Z":
            found.add(int(entry))
    return found


def descendants(pid: int) -> set[int]:
    """``pid``'s children (e.g. a postmaster's backends), read from /proc."""
    found: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pids: set[int], seconds: float = 10.0) -> set[int]:
    """Wait until none of ``pids`` is alive; returns those that still are."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = {p for p in pids if alive(p)}
        if not left:
            return set()
        time.sleep(0.05)
    return {p for p in pids if alive(p)}


@contextlib.contextmanager
def private_tempdir() -> Iterator[Path]:
    """Point ``tempfile`` at a fresh directory, so that anything a run leaves there shows.

    World-traversable, as the embedded server's account must reach base dirs made in it.
    """
    root = Path(tempfile.mkdtemp(prefix="gauntlet-reliability-"))
    root.chmod(0o755)
    saved = tempfile.tempdir
    tempfile.tempdir = str(root)
    try:
        yield root
    finally:
        tempfile.tempdir = saved
        shutil.rmtree(root, ignore_errors=True)


@dataclasses.dataclass
class PasswordServer:
    """A private server on 127.0.0.1 that wants scram passwords over TCP.

    ``owner`` may create schemas (GRANT CREATE), ``reader`` may only log in.
    """

    server: EmbeddedPostgres
    owner: str = "app_owner"
    reader: str = "app_reader"

    @property
    def port(self) -> int:
        return self.server.port

    def dsn(self, user: str | None = None, password: str = PASSWORD, db: str = "test") -> str:
        return (
            f"postgresql://{user or self.owner}:{quote(password, safe='')}"
            f"@127.0.0.1:{self.port}/{db}"
        )


@contextlib.contextmanager
def password_server() -> Iterator[PasswordServer]:
    """``EmbeddedPostgres(tcp=True)`` (trust auth) turned into a password-checking server
    with SQL only: pg_hba.conf is rewritten through ``COPY ... TO`` and reloaded."""
    server = EmbeddedPostgres(tcp=True)
    try:
        ps = PasswordServer(server)
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            row = conn.execute("SHOW hba_file").fetchone()
            assert row is not None
            lines = ["local all all trust", "host all all 127.0.0.1/32 scram-sha-256"]
            conn.execute(
                sql.SQL("COPY (SELECT unnest({}::text[])) TO {}").format(
                    sql.Literal(lines), sql.Literal(row[0])
                )
            )
            conn.execute("SELECT pg_reload_conf()")
            for role in (ps.owner, ps.reader):
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                        sql.Identifier(role), sql.Literal(PASSWORD)
                    )
                )
            conn.execute(
                sql.SQL("GRANT CREATE ON DATABASE test TO {}").format(sql.Identifier(ps.owner))
            )
        wait_for_password_checks(ps.dsn(password="wrong"))
        yield ps
    finally:
        server.stop()


def wait_for_password_checks(wrong_password_dsn: str) -> None:
    """A pg_hba.conf reload is asynchronous: wait until a wrong password is refused."""
    deadline = time.monotonic() + 10
    while True:
        try:
            psycopg.connect(wrong_password_dsn, connect_timeout=2).close()
        except psycopg.OperationalError as exc:
            if "password authentication failed" in str(exc):
                return
            raise
        if time.monotonic() > deadline:
            raise AssertionError("pg_hba.conf reload did not take effect")
        time.sleep(0.05)
