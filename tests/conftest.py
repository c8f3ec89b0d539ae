"""Shared fixtures: the check that no test leaves an isolated schema or database behind,
an engine on the shared server and its schema names, and the suites under
``tests/suites/`` kept for the subprocesses that run them."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from gauntlet_sync import EmbeddedPostgres
from gauntlet_sync.janitor import _drop_database, _drop_schema
from gauntlet_sync.server.watchdog import MARK
from tests.reliability import child_pids, leftovers

SUITES = Path(__file__).resolve().parent / "suites"
WATCHDOG_ARGUMENT = b"\0" + MARK.encode() + b"\0"  # the last in /proc/<pid>/cmdline


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C for the children the tests start, as a terminal's foreground job has it.

    A suite started in the background (``cmd &`` in a script, ``nohup``: how CI runners
    and scripts often start it) inherits SIGINT ignored, and so does every child it
    starts: Python keeps an ignored SIGINT ignored, so the tests that send Ctrl-C to the
    command line or to a process owning a server would wait for nothing (they timed out
    so in fresh-clone CI runs started that way). Here SIGINT gets Python's default
    handler again (a handler is reset to the default in an exec'd child) and is
    unblocked."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@pytest.fixture
def no_leftovers() -> Iterator[None]:
    """No test may leave a gauntlet schema or database on the shared server. What a test
    leaves is dropped once it is reported, so one failing test fails once instead of
    making every later test on the shared server fail too."""
    server = EmbeddedPostgres.shared()
    before = set(leftovers(server))
    yield
    left = [name for name in leftovers(server) if name not in before]
    if left:
        engine = create_engine(server.url, poolclass=NullPool)
        try:
            for name in left:
                kind, _, target = name.partition(" ")
                (_drop_schema if kind == "schema" else _drop_database)(engine, target)
        finally:
            engine.dispose()
    assert left == []


@pytest.fixture(autouse=True)
def no_python_child_outlives_its_test() -> Iterator[None]:
    """A command a test started (the CLI, a project's suite) is killed when the test ends,
    also when the test failed before waiting for it: left running, it would hold a schema
    and its locks and fail the tests after it.

    A command is a child that ran another program: a forked child (same command line as
    this process) is left to the code that forked it, which joins or stops it (``run_all``'s
    walk beside its own; the mixin's shared run outlives a class's first test on purpose:
    the class's other tests read its results, and its teardown stops it). Nor is the
    watchdog of a server this process started (the shared one outlives the test that
    started it): killed, it would leave that server running once the worker is SIGKILLed
    (a suite killed by a timeout or by hand)."""
    before = child_pids()
    yield
    for pid in commands_started_since(before):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def commands_started_since(before: set[int]) -> set[int]:
    """This process's Python children not in ``before``, but for forked ones and server
    watchdogs."""
    ours = _command_line(os.getpid())
    found = set()
    for pid in child_pids() - before:
        command = _command_line(pid)
        if command is None or command == ours or command.endswith(WATCHDOG_ARGUMENT):
            continue
        if command.split(b"\0")[0].decode(errors="replace") == sys.executable:
            found.add(pid)
    return found


def _command_line(pid: int) -> bytes | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return None


@pytest.fixture
def engine() -> Iterator[Engine]:
    """An engine on the shared embedded server (no pool: nothing stays connected)."""
    engine = create_engine(EmbeddedPostgres.shared().url, poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def schemas(engine: Engine) -> Callable[[], set[str]]:
    """The names of the schemas in the shared server's database, read when called."""

    def names() -> set[str]:
        with engine.connect() as conn:
            return {r[0] for r in conn.execute(text("SELECT nspname FROM pg_namespace"))}

    return names


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """``tests/suites/`` holds projects' test suites that tests/test_testcase.py runs in
    subprocesses (unittest, pytest, Django), each against its own history: a run of the
    whole ``tests`` directory does not collect them directly as well. Named on the command
    line (as test_testcase does), they are collected."""
    if SUITES != collection_path and SUITES not in collection_path.parents:
        return None
    named = (Path(arg.split("::")[0]).resolve() for arg in config.args)
    if any(p == SUITES or SUITES in p.parents for p in named):
        return None
    return True
