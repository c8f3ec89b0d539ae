"""The mixin's shared run, ended by its class's cleanup, leaves no schema behind.

Seen under load in fresh-clone CI and full-suite runs: test_testcase's suites (pytest,
unittest) failed their teardown with one gauntlet schema left. The run's process sends
each check's result as the check ends; the head state's schema is dropped only after the
walk's results went out. The class's last test read its result, the class cleanup
stopped the process (SIGINT), and the interruption cancelled that ``DROP SCHEMA``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from gauntlet_sync import EmbeddedPostgres, Gauntlet, GauntletConfig, janitor
from gauntlet_sync.shared_run import SharedRun
from tests.histories import catalog


@pytest.mark.usefixtures("no_leftovers")
def test_a_run_that_sent_every_result_is_let_drop_its_schemas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each drop (in the run's forked process too) notes its start and takes a second
    longer; the class cleanup comes once the head state's drop has begun: the window in
    which it used to interrupt that drop, made certain."""
    drop, started = janitor._drop_schema, tmp_path / "drops"

    def slow_drop(*args: Any) -> None:
        with started.open("a") as notes:
            notes.write("drop\n")
        time.sleep(1.0)
        drop(*args)

    def drops() -> int:
        return len(started.read_text().splitlines()) if started.exists() else 0

    monkeypatch.setattr(janitor, "_drop_schema", slow_drop)
    config = GauntletConfig(catalog.ini("clean"), metadata=catalog.load_metadata("clean"))
    with Gauntlet(EmbeddedPostgres.shared().dsn, config) as gauntlet:
        run = SharedRun(gauntlet, ["upgrade", "models_match", "stairway"])
        assert run.child is not None, "no fork to be had: nothing to test here"
        statuses = {name: run.result(name).status for name in run.checks}
        before = drops()  # the walk's schema: dropped before the stairway's result
        deadline = time.monotonic() + 60
        while drops() == before and time.monotonic() < deadline:
            time.sleep(0.02)
        assert drops() > before, "the head state's schema was never dropped"
        run.stop()
    assert statuses == dict.fromkeys(run.checks, "passed")
