"""The embedded server's watchdog: a process that owns an embedded server and dies, however
it dies, leaves no server, no directory and no watchdog behind.

Each owner is a real Python process that starts the server as ``Gauntlet`` does (in a
thread: ``database.EarlyServer``), so that nothing here leans on the thread that forked
the server staying alive (why ``PR_SET_PDEATHSIG`` does not do). Waits are bounded polls.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gauntlet_sync.server.watchdog import MARK, Watchdog
from tests.conftest import commands_started_since
from tests.histories import catalog
from tests.reliability import alive, child_env, child_pids, descendants, wait_gone

OWNER = textwrap.dedent(
    """
    import os, signal, sys, time
    from gauntlet_sync import database
    from gauntlet_sync.server import EmbeddedPostgres

    early = database.EarlyServer()  # started from a thread that ends at once, as Gauntlet does
    early.join()
    pg = EmbeddedPostgres.shared()
    first = pg._watchdog.pid
    if "kill-watchdog" in sys.argv:  # someone (pkill, a test suite's cleanup) kills it
        os.kill(first, signal.SIGKILL)
        while pg._watchdog.running():
            time.sleep(0.01)
        pg = EmbeddedPostgres.shared()
    if os.fork() == 0:  # a check's child that ends at once: the server must live on
        os._exit(0)
    os.wait()
    survivor = os.fork()
    if survivor == 0:  # a child still running when the owner dies
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # the test reads the owner's output to its end
            os.dup2(devnull, fd)
        time.sleep(60)
        os._exit(0)
    with pg._connect("test") as conn:
        conn.execute("SELECT 1")
    print(pg.pid, pg.base_dir, first, pg._watchdog.pid, survivor, flush=True)
    if "exit" in sys.argv:
        sys.stdin.readline()
        os.kill(survivor, signal.SIGKILL)
        sys.exit(0)
    time.sleep(120)
    """
)


def _watchdogs() -> set[int]:
    """Every watchdog process on the machine (any user's, any run's)."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if f.read().endswith(b"\0" + MARK.encode() + b"\0"):
                        found.add(int(entry))
            except OSError:
                pass
    return found


def _wait_removed(path: str, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not os.path.exists(path)


@contextlib.contextmanager
def _owner(*args: str) -> Iterator[tuple[subprocess.Popen[str], int, str, set[int], int]]:
    """A process owning an embedded server: (it, postmaster pid, base dir, its watchdogs'
    pids (first and current), its surviving forked child)."""
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, *args],
        env=child_env(drop=("GAUNTLET_DSN",)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    survivor = postmaster = 0
    base_dir = ""
    try:
        assert owner.stdout is not None
        line = owner.stdout.readline()
        assert line, owner.communicate(timeout=30)[1]
        pid, base_dir, first, current, survivor_text = line.split()
        postmaster, survivor = int(pid), int(survivor_text)
        yield owner, postmaster, base_dir, {int(first), int(current)}, survivor
    finally:
        if owner.poll() is None:
            owner.kill()
        owner.communicate(timeout=30)
        for pid, sig in ((survivor, signal.SIGKILL), (postmaster, signal.SIGQUIT)):
            if pid and alive(pid):  # a failed test leaves no server running
                os.kill(pid, sig)
        if postmaster and wait_gone({postmaster}) == set() and base_dir:
            shutil.rmtree(base_dir, ignore_errors=True)


@pytest.mark.parametrize("how", ["", "kill-watchdog"])
def test_a_sigkilled_owner_leaves_no_server_no_directory_no_watchdog(how: str) -> None:
    """SIGKILLed while a forked child of it runs on (the child holds no end of the pipe),
    after another forked child ended (that closed nothing of the owner's); with
    ``kill-watchdog`` its first watchdog was SIGKILLed before and ``shared()`` started
    another."""
    with _owner(how) as (owner, postmaster, base_dir, watchdogs, survivor):
        backends = descendants(postmaster)
        assert backends and os.path.isdir(base_dir)
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        assert wait_gone({postmaster, *backends}, 15.0) == set(), "the server outlived it"
        assert _wait_removed(base_dir), f"{base_dir} was left"
        assert wait_gone(watchdogs, 15.0) == set(), "a watchdog was left"
        assert len(watchdogs) == (2 if how else 1)
        assert alive(survivor)  # the forked child was not what kept things alive or ended


def test_a_normal_exit_leaves_no_watchdog() -> None:
    with _owner("exit") as (owner, postmaster, base_dir, watchdogs, _):
        assert owner.communicate("go\n", timeout=60)[1] == ""
        assert owner.returncode == 0
        assert not alive(postmaster) and not os.path.exists(base_dir)
        # release() waited for it; the poll only absorbs the reaping of a zombie
        assert wait_gone(watchdogs) == set()


def test_a_command_line_run_leaves_no_watchdog(tmp_path: Path) -> None:
    """A whole run on the embedded server, from the command line: its server's watchdog
    ends with it (the server and its files too)."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    scratch.chmod(0o777)
    tmp_path.chmod(0o755)  # the server's account (as root) must reach its base dir
    result = subprocess.run(
        [sys.executable, "-m", "gauntlet_sync", "-c", catalog.ini("clean"), "-q",
         "--only", "upgrade"],
        env=child_env(drop=("GAUNTLET_DSN",), TMPDIR=str(scratch)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert not [pid for pid in _watchdogs() if str(scratch).encode() in _cmdline(pid)]
    assert list(scratch.iterdir()) == []


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


FAKE_SERVER = "import time; time.sleep(60)"


def test_a_server_whose_pid_never_reached_the_watchdog_is_stopped(tmp_path: Path) -> None:
    """The owner killed between starting the postmaster and telling the watchdog its pid:
    the watchdog finds the server by its data directory on its command line. A process
    named in postmaster.pid that is not the server's (a reused pid) is left alone."""
    base_dir = tmp_path / "base"
    (base_dir / "data").mkdir(parents=True)
    server = subprocess.Popen([sys.executable, "-c", FAKE_SERVER, "-D", str(base_dir / "data")])
    other = subprocess.Popen([sys.executable, "-c", FAKE_SERVER, "-D", str(tmp_path / "data")])
    try:
        (base_dir / "data" / "postmaster.pid").write_text(f"{other.pid}\n")
        # the watchdog knows a server by its command line: wait until both have one (a
        # process between fork and exec still shows the test's own)
        for process in (server, other):
            deadline = time.monotonic() + 30
            while b"-D" not in _cmdline(process.pid) and time.monotonic() < deadline:
                time.sleep(0.01)
        watchdog = Watchdog(base_dir)
        watchdog.abandon()  # end of file without a pid sent, and not released
        # SIGQUIT (immediate shutdown), or SIGKILL should it not be gone 5 s later (a
        # loaded CI machine): stopped by the watchdog either way
        assert server.wait(timeout=30) in (-signal.SIGQUIT, -signal.SIGKILL)
        assert _wait_removed(str(base_dir))
        assert watchdog._process.wait(timeout=30) == 0
        assert other.poll() is None
    finally:
        for process in (server, other):
            process.kill()
            process.wait()


def test_a_released_watchdog_stops_nothing(tmp_path: Path) -> None:
    """After a clean stop ("-" then end of file) the watchdog exits without signalling."""
    base_dir = tmp_path / "base"
    (base_dir / "data").mkdir(parents=True)
    server = subprocess.Popen([sys.executable, "-c", FAKE_SERVER, "-D", str(base_dir / "data")])
    try:
        watchdog = Watchdog(base_dir)
        watchdog.watch(server.pid)
        watchdog.release()
        assert watchdog._process.poll() == 0
        assert server.poll() is None
    finally:
        server.kill()
        server.wait()


def test_the_suites_cleanup_leaves_watchdogs_alone(tmp_path: Path) -> None:
    """The suite's fixture that kills the commands a test left used to kill the watchdog of
    the shared server the test started: a worker SIGKILLed later left that server running."""
    before = child_pids()
    watchdog = Watchdog(tmp_path)
    command = os.path.basename(__file__)  # a Python command a test started, to be killed
    other = subprocess.Popen([sys.executable, "-c", FAKE_SERVER, command])
    try:
        assert commands_started_since(before) == {other.pid}
    finally:
        other.kill()
        other.wait()
        watchdog.release()


def test_a_child_forked_while_a_watchdog_starts_holds_no_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server starts in a thread (``EarlyServer``) while the main thread goes on: a fork
    there in the moment between the pipe's creation and the watchdog's registration would
    give the child an end nobody closes, and the watchdog would wait for that child too.
    Forks wait for the registration instead. (Forced: the fork is started inside it.)"""
    forked: list[int] = []

    def fork_and_linger() -> None:
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        forked.append(pid)

    real_spawn = Watchdog._spawn
    threads: list[threading.Thread] = []

    def spawn_with_a_fork_beside(base_dir: Path) -> subprocess.Popen[bytes]:
        process = real_spawn(base_dir)
        thread = threading.Thread(target=fork_and_linger)
        thread.start()
        threads.append(thread)
        thread.join(0.2)  # returns at once when the fork does not wait for us
        return process

    monkeypatch.setattr(Watchdog, "_spawn", staticmethod(spawn_with_a_fork_beside))
    watchdog = Watchdog(tmp_path / "base")
    threads[0].join()
    try:
        watchdog.abandon()  # end of file: unless the child holds an end too
        assert watchdog._process.wait(timeout=15) == 0
    finally:
        for pid in forked:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        if watchdog._process.poll() is None:
            watchdog._process.kill()
            watchdog._process.wait()
