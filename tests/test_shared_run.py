"""The mixin (issue 16, point 2): each test carries its own check's time, and progress
goes to stderr on request."""

from __future__ import annotations

import subprocess
import sys
import time
import unittest
from pathlib import Path
from typing import Any

import pytest

from gauntlet_sync import EmbeddedPostgres, GauntletConfig, GauntletMixin
from tests.histories import catalog
from tests.reliability import child_env


def test_each_test_waits_only_for_its_own_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shared run holds its stairway until a gate opens; ``test_upgrade`` passes
    meanwhile, so it did not wait for the whole run (its time is its own), and the stairway
    test, run after the gate opens, gets the stairway's result."""
    from gauntlet_sync import forked, scheduler

    gate = tmp_path / "gate"
    walk_once = scheduler.walk_once

    def gated(*args: Any) -> Any:  # runs in the shared run's forked process
        # Held before its first step, the walk emits no progress event, and with no event
        # the results of the head checks' forked child are not passed on (each event
        # delivers them): the wait delivers them itself, as the walk's steps would.
        relay = getattr(args[0].progress, "__self__", None)
        deadline = time.monotonic() + 60
        while not gate.exists() and time.monotonic() < deadline:
            if isinstance(relay, forked.Relay):
                relay._deliver(relay.child.poll())
            time.sleep(0.05)
        assert gate.exists(), "the gate was never opened: a test waited for the stairway"
        return walk_once(*args)

    monkeypatch.setattr(scheduler, "walk_once", gated)

    class Gated(GauntletMixin, unittest.TestCase):
        gauntlet_config = GauntletConfig(
            alembic_ini=catalog.ini("clean"), metadata=catalog.load_metadata("clean")
        )

    Gated.setUpClass()
    try:
        result = unittest.TestResult()
        Gated("test_upgrade").run(result)
        Gated("test_migrations_up_to_date").run(result)
        assert result.wasSuccessful(), result.errors + result.failures
        run = Gated._gauntlet_run
        assert run is not None and run.child is not None  # the run is in its own process
        assert "upgrade" in run.results and "stairway" not in run.results
        assert not gate.exists()
        gate.touch()
        Gated("test_stairway_upgrade_downgrade").run(result)
        Gated("test_downgrade_leaves_no_trace").run(result)
        assert result.wasSuccessful(), result.errors + result.failures
        assert result.testsRun == 4
        assert Gated.gauntlet_report().ok
    finally:
        gate.touch()
        Gated.doClassCleanups()


SUITE = """
import unittest

from gauntlet_sync import GauntletConfig, GauntletMixin


class MigrationTests(GauntletMixin, unittest.TestCase):
    gauntlet_config = GauntletConfig(alembic_ini={ini!r})
    gauntlet_skip_checks = ("models_match", "check_constraints", "enums", "naming")
{extra}
"""


def _run_suite(tmp_path: Path, extra: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_suite.py").write_text(SUITE.format(ini=catalog.ini("clean"), extra=extra))
    return subprocess.run(
        [sys.executable, "-m", "unittest", "test_suite"],
        cwd=tmp_path,
        env=child_env(GAUNTLET_DSN=EmbeddedPostgres.shared().dsn, **env),
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.parametrize(
    ("extra", "env", "shown"),
    [
        ("", {}, False),
        ("", {"GAUNTLET_PROGRESS": "1"}, True),
        ("    gauntlet_progress = False", {"GAUNTLET_PROGRESS": "1"}, False),
    ],
    ids=["default", "environment", "attribute-wins"],
)
def test_progress_goes_to_stderr_on_request(
    tmp_path: Path, extra: str, env: dict[str, str], shown: bool
) -> None:
    done = _run_suite(tmp_path, extra, **env)
    assert done.returncode == 0, done.stderr
    assert ("[stairway] started" in done.stderr) == shown, done.stderr
    assert ("[stairway 4/4]" in done.stderr or "[stairway] passed in" in done.stderr) == shown
    assert "OK (skipped=5)" in done.stderr  # offline (opt-in) is one of them
