"""``EmbeddedPostgres.shared()`` in processes forked from the server's owner.

A forked worker (``multiprocessing``'s fork pool, as tests/test_differential.py uses, or
``run_all``'s forked child) must find its parent's running server, not take it for dead
and start a second one of its own (the postmaster is not its child, so ``Popen.poll()``
there says "exited").
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import psycopg
import pytest

from gauntlet_sync import EmbeddedPostgres
from tests.reliability import child_pids, private_server


def _seen_from_a_worker(_: int) -> tuple[str, int | None, bool, int]:
    server = EmbeddedPostgres.shared()
    with psycopg.connect(server.dsn) as conn:
        row = conn.execute("SELECT pg_postmaster_start_time()::text").fetchone()
    assert row is not None
    return server.dsn, server.pid, server.is_running(), len(child_pids())


pytestmark = pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="needs fork"
)


def test_a_forked_worker_uses_the_parents_shared_server() -> None:
    parent = EmbeddedPostgres.shared()
    with multiprocessing.get_context("fork").Pool(2) as pool:
        seen = pool.map(_seen_from_a_worker, range(4), chunksize=1)
    assert {(dsn, pid, running) for dsn, pid, running, _ in seen} == {
        (parent.dsn, parent.pid, True)
    }
    assert {started for *_, started in seen} == {0}, "a worker started a server of its own"
    assert parent.is_running()


def test_a_forked_child_sees_its_parents_server_die() -> None:
    """... and still sees it die: a dead postmaster, not yet reaped by the parent (a
    zombie), is not running."""
    with private_server() as pg:
        pid = pg.pid
        assert pid is not None
        read, write = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - the child
            try:
                os.close(read)
                os.write(write, b"1" if pg.is_running() else b"0")
                deadline = time.monotonic() + 20
                while pg.is_running() and time.monotonic() < deadline:
                    time.sleep(0.02)
                os.write(write, b"1" if pg.is_running() else b"0")
            finally:
                os._exit(0)
        os.close(write)
        try:
            assert os.read(read, 1) == b"1"
            os.kill(pid, signal.SIGKILL)
            assert os.read(read, 1) == b"0"
        finally:
            os.close(read)
            os.waitpid(child, 0)
