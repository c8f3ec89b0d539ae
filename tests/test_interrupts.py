"""The interruption raised again at safe points (gauntlet_sync/interrupts.py) is the CLI's
and the library's forked children's only: a program calling ``Gauntlet`` with signal
handling of its own keeps its behaviour, also after the CLI ran in the same process.

(The end-to-end cases, a migration dropping the CLI's SIGTERM in every mode, are in
tests/test_faults_exits.py.)
"""

from __future__ import annotations

import logging
import pickle
import signal
from pathlib import Path

import pytest

from gauntlet_sync import EmbeddedPostgres, Gauntlet, GauntletConfig, interrupts
from gauntlet_sync.cli import Terminated, _signals_end_the_run, main
from tests.reliability import make_project

A2 = "versions/a2_create_orders.py"


def test_terminated_comes_back_from_a_forked_child_as_itself() -> None:
    again = pickle.loads(pickle.dumps(Terminated(signal.SIGHUP)))
    assert isinstance(again, Terminated) and again.signum == signal.SIGHUP


def _signalling_project(root: Path, marker: Path) -> Path:
    """a2's upgrade sends SIGTERM to its own process and drops what that raises, once
    per ``marker`` (made then)."""
    project = make_project(root)
    path = project / A2
    head = "def upgrade() -> None:\n"
    body = (
        "    import os, pathlib, signal, time\n"
        f"    if not pathlib.Path({str(marker)!r}).exists():\n"
        f"        pathlib.Path({str(marker)!r}).touch()\n"
        "        try:\n"
        "            os.kill(os.getpid(), signal.SIGTERM)\n"
        "            time.sleep(30)\n"
        "        except BaseException:\n"
        "            pass\n"
    )
    path.write_text(path.read_text().replace(head, head + body, 1))
    return project


@pytest.mark.usefixtures("no_leftovers")
def test_the_cli_forgets_its_interruption_and_a_library_run_keeps_its_own_handling(
    tmp_path: Path,
) -> None:
    server = EmbeddedPostgres.shared()
    marker = tmp_path / "signalled"
    project = _signalling_project(tmp_path, marker)
    ini = str(project / "alembic.ini")
    assert main(["-c", ini, "--dsn", server.dsn, "-q", "--no-parallel"]) == 128 + signal.SIGTERM
    assert marker.exists() and not interrupts.asked()

    # A program of its own: its handler's exception, dropped by the migration, is its
    # business; the run goes on and reports every check.
    marker.unlink()
    caught: list[int] = []

    def own(signum: int, frame: object) -> None:
        caught.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, own)
    try:
        config = GauntletConfig(ini, parallel=False)
        with Gauntlet(server.dsn, config) as gauntlet:
            report = gauntlet.run_all(raise_on_failure=False)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert caught == [signal.SIGTERM] and not interrupts.asked()
    statuses = {r.name: r.status for r in report.results}
    assert report.ok and statuses["stairway"] == statuses["no_trace"] == "passed", str(report)


def test_every_pool_classs_logger_is_quieted_once_a_signal_came() -> None:
    """A pool's logger is made with its first pool, after the CLI set its handlers: the
    session's NullPool printed 'Exception during reset or similar' (a rollback on the
    connection the signal cut short) before 'ended by SIGTERM', unfiltered."""
    with _signals_end_the_run():
        for name in ("sqlalchemy.pool.impl.NullPool", "sqlalchemy.pool.impl.QueuePool"):
            assert logging.getLogger(name).filters, name
    assert not logging.getLogger("sqlalchemy.pool.impl.NullPool").filters
