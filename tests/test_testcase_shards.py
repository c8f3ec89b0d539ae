"""``gauntlet_shards``: the mixin's walk as shard test methods, spread by parallel runners.

``tests/suites/sharded/test_sharded_migrations.py`` (``gauntlet_shards = 3``) runs under
pytest-xdist and Django's parallel runner in subprocesses, each worker with its own
embedded server; each shard test's outcome must be what ``Gauntlet(shard=(k, 3))`` says.

Named for what it holds: GauntletMixin's shard tests (testcase.py) under parallel runners.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import unittest
from pathlib import Path

import pytest
from alembic.config import Config

from gauntlet_sync import Gauntlet, GauntletConfig, scope
from gauntlet_sync.testcase import GauntletMixin
from tests.histories import catalog
from tests.reliability import ROOT, child_env

SUITES = ROOT / "tests" / "suites"
SUITE = SUITES / "sharded" / "test_sharded_migrations.py"
SHARDS = [f"test_stairway_shard_{k}_of_3" for k in (1, 2, 3)]

pytestmark = pytest.mark.usefixtures("no_leftovers")


@pytest.fixture(autouse=True)
def two_revisions_a_shard(monkeypatch: pytest.MonkeyPatch) -> None:
    """As the suite does: keep_going's 6 revisions cut 2/2/2 (see its module)."""
    monkeypatch.setattr(scope, "START_COST", 0.05)
    monkeypatch.setattr(scope, "HEAD_COST", 0.05)


def run(args: list[str], log: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = child_env(drop=("GAUNTLET_", "DJANGO_"))  # each worker: its own server
    environ.update(GAUNTLET_SHARD_LOG=str(log), **env)
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


def shard_processes(log: Path) -> dict[int, int]:
    return {int(k): int(p) for k, p in (line.split() for line in log.read_text().splitlines())}


def test_shard_tests_run_under_pytest_xdist(tmp_path: Path) -> None:
    pytest.importorskip("xdist")
    log = tmp_path / "shards.log"
    result = run(
        ["-m", "pytest", "-p", "no:cacheprovider", "-n", "2", "-v", str(SUITE)],
        log,
        GAUNTLET_SHARDED_HISTORY="fidelity/keep_going",
    )
    output = result.stdout + result.stderr
    outcome = {
        m["test"]: m["status"]
        for m in re.finditer(r"(?P<status>PASSED|FAILED|SKIPPED) \S+::(?P<test>test_\w+)", output)
    }
    # every shard has a failure of its own (as Gauntlet(shard=(k, 3)) says)
    assert [outcome.get(name) for name in SHARDS] == ["FAILED"] * 3, output
    for walk_test in ("test_stairway_upgrade_downgrade", "test_downgrade_leaves_no_trace"):
        assert outcome.get(walk_test) == "SKIPPED", output
    assert "shard 2 of 3" in output and "qa000003" in output
    assert result.returncode == 1
    ran = shard_processes(log)
    assert sorted(ran) == [1, 2, 3]
    # in xdist workers, not this process (xdist may give all three to one worker)
    assert os.getpid() not in ran.values() and 1 <= len(set(ran.values())) <= 2, ran


DJANGO_PARALLEL = """
import sys
import django
from django.test.runner import DiscoverRunner

django.setup()
failures = DiscoverRunner(verbosity=2, parallel=3).run_tests(["test_sharded_migrations"])
sys.exit(1 if failures else 0)
"""


def test_shard_tests_run_under_djangos_parallel_runner(tmp_path: Path) -> None:
    pytest.importorskip("django")
    log = tmp_path / "shards.log"
    result = run(
        ["-c", DJANGO_PARALLEL],
        log,
        DJANGO_SETTINGS_MODULE="django_settings",
        PYTHONPATH=os.pathsep.join([str(ROOT), str(SUITES), str(SUITE.parent)]),
    )
    output = result.stderr
    for name in SHARDS:
        assert re.search(rf"^{name} \(.*\) \.\.\. ok$", output, re.MULTILINE), output
    assert result.returncode == 0, output
    ran = shard_processes(log)
    assert sorted(ran) == [1, 2, 3]
    assert os.getpid() not in ran.values()
    assert len(set(ran.values())) >= 2, ran  # whole classes go to processes: one per shard


def test_shard_tests_run_under_unittest_parallel(tmp_path: Path) -> None:
    """unittest-parallel hands out whole classes with ``--level class``; the class's shared
    run and its shard 1 test share a process and a server: the shard waits for the run, so
    the isolation check never sees the walk's schema appear beside its own."""
    pytest.importorskip("unittest_parallel")
    log = tmp_path / "shards.log"
    where = str(SUITE.parent)
    result = run(
        ["-m", "unittest_parallel", "-s", where, "-t", where, "-j", "3", "--level", "class", "-v"],
        log,
        PYTHONPATH=str(ROOT),
    )
    output = result.stdout + result.stderr
    for name in [*SHARDS, "test_migrations_stay_isolated"]:
        # (workers write at once: a line may run into the next)
        assert re.search(rf"{name} \([\w.]+\) \.\.\. ok", output), output
    assert result.returncode == 0, output
    assert "outside the isolated schema" not in output
    ran = shard_processes(log)
    assert sorted(ran) == [1, 2, 3]
    assert len(set(ran.values())) >= 2, ran


class _Sharded(GauntletMixin, unittest.TestCase):
    __test__ = False  # only its machinery is looked at
    gauntlet_config = GauntletConfig(alembic_ini=catalog.ini("clean"))
    gauntlet_shards = 2


def test_the_shard_methods_and_classes() -> None:
    assert callable(getattr(_Sharded, "test_stairway_shard_1_of_2", None))
    module = sys.modules[__name__]
    other = vars(module)["_Sharded_shard_2_of_2"]
    assert other.__test__ is False  # as its class: not collected here
    names = unittest.TestLoader().getTestCaseNames(other)
    assert list(names) == ["test_stairway_shard_2_of_2"]
    assert "no_trace" not in _Sharded.gauntlet_enabled_checks()
    assert _Sharded.gauntlet_walk_checks() == ["stairway", "no_trace", "safety"]


def test_each_shard_test_says_what_the_library_says_for_its_shard() -> None:
    alembic = Config(
        str(catalog.HISTORIES / "fidelity" / "alembic.ini"), config_args={"history": "keep_going"}
    )

    class Sharded(GauntletMixin, unittest.TestCase):
        __test__ = False
        gauntlet_config = GauntletConfig(alembic_config=alembic)
        gauntlet_shards = 3

    second = vars(sys.modules[__name__])["Sharded_shard_2_of_3"]  # made beside the class
    suite = unittest.TestSuite([second("test_stairway_shard_2_of_3")])
    result = unittest.TestResult()
    suite.run(result)
    assert len(result.failures) == 1
    message = result.failures[0][1]
    with Gauntlet(None, GauntletConfig(alembic_config=alembic, shard=(2, 3))) as gauntlet:
        report = gauntlet.run_all(["stairway", "no_trace", "safety"], raise_on_failure=False)
    for failed in report.by_status("failed"):
        assert failed.summary.split(":")[0] in message
    assert "qa000003" in message and "shard 2 of 3" in message
