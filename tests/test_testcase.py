"""GauntletMixin under the runners people use: unittest, pytest and Django, on real PostgreSQL.

The runners run ``tests/suites/test_sample_migrations.py`` in subprocesses against this
process's embedded server (``GAUNTLET_DSN``), and their verbose output is read back: each
test's outcome must be the one the library's own report gives for that check.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import unittest
from pathlib import Path
from typing import Any, ClassVar

import pytest

from gauntlet_sync import (
    CHECK_NAMES,
    DEFAULT_CHECKS,
    ConfigError,
    DatabaseUnavailableError,
    EmbeddedPostgres,
    Gauntlet,
    GauntletConfig,
    NamingRule,
    Report,
)
from gauntlet_sync.testcase import TEST_METHODS, GauntletMixin
from tests.histories import catalog
from tests.reliability import ROOT, child_env

SUITES = ROOT / "tests" / "suites"
SUITE_FILE = SUITES / "test_sample_migrations.py"
SHOP = ROOT / "examples" / "shop"

# unittest -v (3.11+: "name (module.Class.name)"; 3.10: "name (module.Class)").
UNITTEST_LINE = re.compile(
    r"^(?P<test>test_\w+) \((?P<where>[\w.]+)\) \.\.\. (?P<status>ok|FAIL|ERROR|skipped)",
    re.MULTILINE,
)
PYTEST_LINE = re.compile(
    r"^\S*::(?P<cls>\w+)::(?P<test>test_\w+) (?P<status>PASSED|FAILED|ERROR|SKIPPED)",
    re.MULTILINE,
)
UNITTEST_STATUS = {"ok": "passed", "FAIL": "failed", "ERROR": "error", "skipped": "skipped"}
PYTEST_STATUS = {"PASSED": "passed", "FAILED": "failed", "ERROR": "error", "SKIPPED": "skipped"}


# --- fixtures and helpers --------------------------------------------------------------------


@pytest.fixture(scope="module")
def dsn() -> str:
    return EmbeddedPostgres.shared().dsn


pytestmark = pytest.mark.usefixtures("no_leftovers")  # tests/conftest.py


def run(
    args: list[str], dsn: str | None, cwd: Path = ROOT, **env: str
) -> subprocess.CompletedProcess[str]:
    environ = child_env(drop=("GAUNTLET_", "DJANGO_"))
    if dsn is not None:
        environ["GAUNTLET_DSN"] = dsn
    environ.update(env)
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def library_verdicts(history: str, dsn: str) -> dict[str, str]:
    """What Gauntlet.run_all says about each check of ``history``."""
    config = GauntletConfig(
        alembic_ini=catalog.ini(history), metadata=catalog.load_metadata(history)
    )
    with Gauntlet(dsn, config) as gauntlet:
        report = gauntlet.run_all(raise_on_failure=False)
    return {r.name: r.status for r in report.results}


def expected_outcomes(
    history: str, dsn: str, *, django: bool = False
) -> dict[tuple[str, str], str]:
    """(class, test) -> runner outcome the sample suite must show for ``history``.

    A failed check is a failure; one that could not run because the history broke elsewhere
    is a failure too; a skipped check is a skip.
    """
    verdicts = library_verdicts(history, dsn)
    as_test = {"passed": "passed", "failed": "failed", "error": "failed", "skipped": "skipped"}
    shared = {(("MigrationTests", TEST_METHODS[c])): as_test[verdicts[c]] for c in DEFAULT_CHECKS}
    for check in set(CHECK_NAMES) - set(DEFAULT_CHECKS):  # opt-in (offline): a skip
        shared[("MigrationTests", TEST_METHODS[check])] = "skipped"
    outcomes = dict(shared)
    for (_, test), status in shared.items():
        outcomes[("TrimmedMigrationTests", test)] = status
        if django:
            outcomes[("DjangoMigrationTests", test)] = status
    del outcomes[("TrimmedMigrationTests", "test_stairway_upgrade_downgrade")]  # None
    outcomes[("TrimmedMigrationTests", "test_downgrade_leaves_no_trace")] = "skipped"
    outcomes[("TrimmedMigrationTests", "test_history_has_revisions")] = "passed"
    return outcomes


def parsed(
    pattern: re.Pattern[str], statuses: dict[str, str], output: str
) -> dict[tuple[str, str], str]:
    found = {(_class_of(m), m["test"]): statuses[m["status"]] for m in pattern.finditer(output)}
    assert found, output
    return found


def _class_of(match: re.Match[str]) -> str:
    if "cls" in match.groupdict():
        return match["cls"]
    parts = match["where"].split(".")
    return parts[-2] if parts[-1] == match["test"] else parts[-1]


def failure_message(output: str, cls: str, test: str) -> str:
    """The AssertionError line of one failed test in unittest's verbose output."""
    block = re.search(
        rf"^FAIL: {test} \([\w.]*\b{cls}(?:\.{test})?\)\n"
        r"(?P<body>.*?)(?=^={10,}|^-{10,}\nRan )",
        output,
        re.MULTILINE | re.DOTALL,
    )
    assert block, f"no failure block for {cls}.{test}:\n{output}"
    body = block["body"]
    return body[body.index("AssertionError: ") + len("AssertionError: ") :].strip()


# --- python -m unittest ----------------------------------------------------------------------


@pytest.mark.parametrize("history", ["clean", "upgrade_fails"])
def test_unittest_discover_reports_each_check(history: str, dsn: str) -> None:
    result = run(
        ["-m", "unittest", "discover", "-s", str(SUITES), "-v"], dsn, GAUNTLET_SUITE_HISTORY=history
    )
    output = result.stderr
    assert parsed(UNITTEST_LINE, UNITTEST_STATUS, output) == expected_outcomes(history, dsn)
    assert (result.returncode == 0) == (history == "clean"), output
    assert "GauntletMixin" not in re.sub(r"File .*\n", "", output)  # never run as a test case
    if history == "upgrade_fails":
        upgrade = failure_message(output, "MigrationTests", "test_upgrade")
        assert upgrade.startswith("Upgrade failed at revision c1000002")
        blocked = failure_message(output, "TrimmedMigrationTests", "test_migrations_up_to_date")
        assert blocked.startswith("could not run: Upgrade failed at revision c1000002")


# --- pytest ------------------------------------------------------------------------------------


@pytest.mark.parametrize("history", ["stairway_fails"])
def test_pytest_collects_the_same_suite(history: str, dsn: str) -> None:
    result = run(
        ["-m", "pytest", "-v", "-p", "no:cacheprovider", "-rN", str(SUITE_FILE)],
        dsn,
        GAUNTLET_SUITE_HISTORY=history,
    )
    output = result.stdout + result.stderr
    expected = expected_outcomes(history, dsn)
    assert parsed(PYTEST_LINE, PYTEST_STATUS, output) == expected
    counts = {s: list(expected.values()).count(s) for s in ("failed", "passed", "skipped")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    assert re.search(rf"=+ {summary} in ", output), output
    assert "GauntletMixin" not in output and "TestProjectGauntlet" not in output
    assert result.returncode == (0 if history == "clean" else 1), output


def test_pytest_never_collects_the_mixin(tmp_path: Path, dsn: str) -> None:
    """Not even imported under a name pytest looks for, nor a Test* base without TestCase."""
    (tmp_path / "test_only_mixins.py").write_text(
        "from gauntlet_sync.testcase import GauntletMixin as TestGauntletMixin\n"
        "class TestMyBase(TestGauntletMixin):\n"
        "    pass\n"
    )
    result = run(
        ["-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        dsn,
        cwd=tmp_path,
    )
    assert "no tests collected" in result.stdout, result.stdout + result.stderr
    assert result.returncode == 5


# --- Django's DiscoverRunner -----------------------------------------------------------------

DJANGO_RUN = """
import sys
import django
from django.test.runner import DiscoverRunner

django.setup()
failures = DiscoverRunner(verbosity=2).run_tests([sys.argv[1]])
sys.exit(1 if failures else 0)
"""


@pytest.mark.parametrize("history", ["models_drift"])
def test_django_discover_runner(history: str, dsn: str) -> None:
    pytest.importorskip("django")
    result = run(
        ["-c", DJANGO_RUN, str(SUITES)],
        dsn,
        GAUNTLET_SUITE_HISTORY=history,
        GAUNTLET_SUITE_DJANGO="1",
        DJANGO_SETTINGS_MODULE="django_settings",
        PYTHONPATH=os.pathsep.join([str(ROOT), str(SUITES)]),
    )
    output = result.stderr
    expected = expected_outcomes(history, dsn, django=True)
    assert parsed(UNITTEST_LINE, UNITTEST_STATUS, output) == expected
    assert result.returncode == (0 if history == "clean" else 1), output
    if history == "models_drift":
        message = failure_message(output, "DjangoMigrationTests", "test_migrations_up_to_date")
        assert "add column orders.note VARCHAR(20)" in message


# --- the example project ---------------------------------------------------------------------


def test_example_project_suite_passes(dsn: str) -> None:
    result = run(["-m", "unittest", "discover", "-s", "tests", "-v"], dsn, cwd=SHOP)
    assert result.returncode == 0, result.stderr
    assert re.search(
        r"^Ran \d+ tests in .*\n\nOK( \(skipped=\d+\))?$", result.stderr, re.MULTILINE
    ), result.stderr


# --- in-process: the class machinery ---------------------------------------------------------


def run_case(cls: type[unittest.TestCase]) -> unittest.TestResult:
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(cls)
    return unittest.TextTestRunner(stream=io.StringIO(), verbosity=0).run(suite)


def test_mixin_alone_is_no_test_case() -> None:
    assert GauntletMixin.__test__ is False
    module = type(sys)("only_the_mixin")
    module.GauntletMixin = GauntletMixin  # type: ignore[attr-defined]
    assert unittest.defaultTestLoader.loadTestsFromModule(module).countTestCases() == 0

    class Base(GauntletMixin):
        pass

    class Case(Base, unittest.TestCase):
        pass

    assert Base.__test__ is False and Case.__test__ is True


def test_every_check_has_its_test_method() -> None:
    assert set(CHECK_NAMES) <= set(TEST_METHODS)
    for method in TEST_METHODS.values():
        assert callable(getattr(GauntletMixin, method))


def test_none_switches_a_check_off_and_it_is_not_run(dsn: str) -> None:
    reports: list[Report] = []

    class Trimmed(GauntletMixin, unittest.TestCase):
        gauntlet_config = GauntletConfig(
            alembic_ini=catalog.ini("clean"), metadata=catalog.load_metadata("clean")
        )
        gauntlet_dsn = dsn
        gauntlet_skip_checks = ("test_downgrade_leaves_no_trace", "enums")
        test_stairway_upgrade_downgrade = None  # type: ignore[assignment]

        def test_zz_report(self) -> None:
            reports.append(self.gauntlet_report())

    names = unittest.defaultTestLoader.getTestCaseNames(Trimmed)
    assert "test_stairway_upgrade_downgrade" not in names
    result = run_case(Trimmed)
    assert result.wasSuccessful(), result.failures + result.errors
    assert sorted(reason for _, reason in result.skipped) == [
        "enums is switched off by gauntlet_skip_checks",
        "no_trace is switched off by gauntlet_skip_checks",
        "offline is not in run_all's default set (turn it on with "
        "GauntletConfig(extra_checks=['offline']) or gauntlet_extra_checks)",
    ]
    assert "offline" not in [r.name for r in reports[0].results]
    ran = [r.name for r in reports[0].results]
    assert "stairway" not in ran and "no_trace" not in ran and "enums" not in ran
    assert "models_match" in ran


def test_missing_config_is_a_clear_error_in_set_up_class() -> None:
    class NoConfig(GauntletMixin, unittest.TestCase):
        pass

    result = run_case(NoConfig)
    assert result.testsRun == 0 and len(result.errors) == 1
    test, traceback = result.errors[0]
    assert "setUpClass" in str(test)
    assert "NoConfig.gauntlet_config is not set" in traceback


def test_unknown_skip_name_is_an_error_in_set_up_class() -> None:
    class Typo(GauntletMixin, unittest.TestCase):
        gauntlet_config = GauntletConfig(alembic_ini=catalog.ini("clean"))
        gauntlet_skip_checks = ("stairways",)

    result = run_case(Typo)
    assert len(result.errors) == 1 and "unknown check(s) stairways" in result.errors[0][1]


def test_unreachable_database_is_an_error_not_a_failure() -> None:
    class Unreachable(GauntletMixin, unittest.TestCase):
        gauntlet_config = GauntletConfig(alembic_ini=catalog.ini("clean"), connect_timeout=2)
        gauntlet_dsn = "postgresql://someone:s3cret-pw@127.0.0.1:1/nowhere"

    result = run_case(Unreachable)
    assert result.failures == [] and len(result.errors) == 1
    assert DatabaseUnavailableError.__name__ in result.errors[0][1]
    assert "s3cret-pw" not in result.errors[0][1]


def test_gauntlet_is_closed_even_when_a_test_errors(dsn: str) -> None:
    closed: list[Gauntlet] = []

    class Recording(Gauntlet):
        def close(self) -> None:
            closed.append(self)
            super().close()

    class Erroring(GauntletMixin, unittest.TestCase):
        gauntlet_config = GauntletConfig(alembic_ini=catalog.ini("clean"))
        gauntlet_dsn = dsn
        opened: ClassVar[list[Gauntlet]] = []

        @classmethod
        def gauntlet_open(cls) -> Gauntlet:
            gauntlet = Recording(dsn, cls.gauntlet_effective_config())
            cls.opened.append(gauntlet)
            return gauntlet

        def test_user_code_raises(self) -> None:
            raise RuntimeError("boom")

        @classmethod
        def tearDownClass(cls) -> None:
            raise RuntimeError("tearDownClass broke too")

    result = run_case(Erroring)
    assert len(result.errors) == 2  # the test, and tearDownClass
    assert closed == Erroring.opened and len(closed) == 1
    assert "gauntlet" not in Erroring.__dict__


@pytest.mark.parametrize("share_run", [True, False])
def test_failure_message_is_the_typed_errors_message(share_run: bool, dsn: str) -> None:
    config = GauntletConfig(
        alembic_ini=catalog.ini("models_drift"), metadata=catalog.load_metadata("models_drift")
    )
    with Gauntlet(dsn, config) as gauntlet:
        expected = gauntlet.run_all(raise_on_failure=False).get("models_match").message

    class Drift(GauntletMixin, unittest.TestCase):
        gauntlet_config = config
        gauntlet_dsn = dsn
        gauntlet_share_run = share_run

    result = run_case(Drift)
    assert [str(test).split()[0] for test, _ in result.failures] == ["test_migrations_up_to_date"]
    assert result.failures[0][1].rstrip().endswith("AssertionError: " + expected)
    assert result.errors == []


def test_alembic_gauntlet_attributes_map_to_the_config() -> None:
    class Seeded(GauntletMixin, unittest.TestCase):
        gauntlet_config = GauntletConfig(
            alembic_ini="x.ini", naming_rules={"fk": NamingRule(prefixes=("fk_",))}
        )
        migration_diff_ignore_tables = ["alembic_version", "events_default"]
        allowed_index_prefixes = ["idx_", "uq_"]
        allowed_fk_suffixes = ["_fkey"]
        gauntlet_config_overrides: ClassVar[dict[str, Any]] = {"isolation": "database"}

    config = Seeded.gauntlet_effective_config()
    assert config.ignored_tables == {"alembic_version", "events_default"}
    assert config.naming_rules == {
        "ix": NamingRule(prefixes=("idx_", "uq_"), suffixes=()),
        "fk": NamingRule(prefixes=("fk_",), suffixes=("_fkey",)),
    }
    assert config.isolation == "database"
    assert Seeded.gauntlet_config is not None and Seeded.gauntlet_config.isolation == "schema"

    class BadOverride(Seeded):
        gauntlet_config_overrides: ClassVar[dict[str, Any]] = {"isolaton": "database"}

    with pytest.raises(ConfigError, match="gauntlet_config_overrides"):
        BadOverride.gauntlet_effective_config()
