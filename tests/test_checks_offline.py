"""offline: every revision renders as SQL in alembic's offline mode (``upgrade --sql``);
opt-in (not in run_all's default set). tests/histories/offline_bind: o1000002 reads the
rows through op.get_bind()."""

from __future__ import annotations

import json
import unittest
from typing import Any, ClassVar

import pytest

from gauntlet_sync import (
    CHECK_NAMES,
    DEFAULT_CHECKS,
    ConfigError,
    Gauntlet,
    GauntletConfig,
    GauntletMixin,
    OfflineRenderError,
)
from gauntlet_sync.cli import main
from tests.histories import catalog

pytestmark = pytest.mark.usefixtures("no_leftovers")


def _config(history: str, **config: Any) -> GauntletConfig:
    return GauntletConfig(alembic_ini=catalog.ini(history), **config)


def test_a_revision_reading_through_get_bind_fails_naming_the_revision_and_the_call() -> None:
    with Gauntlet(None, _config("offline_bind")) as g, pytest.raises(OfflineRenderError) as caught:
        g.check_offline()
    error = caught.value
    assert error.check == "offline"
    assert error.revision == "o1000002" and error.step == "upgrade"
    assert len(error.problems) == 1
    line = error.problems[0]
    assert line.startswith("revision o1000002 (upper-case item names")
    assert 'o2_read_rows.py:17 in upgrade(): rows = op.get_bind().execute(sa.text("SELECT' in line
    assert "it reads through op.get_bind()" in line
    assert "op.get_context().as_sql" in line  # the fix
    assert "o1000001" not in line


def test_a_plain_history_renders_offline() -> None:
    with Gauntlet(None, _config("clean")) as g:
        g.check_offline()  # a1000004 is a data migration through op.execute: renders


def test_offline_is_opt_in_and_the_other_checks_stay_quiet() -> None:
    assert "offline" in CHECK_NAMES and "offline" not in DEFAULT_CHECKS
    with Gauntlet(None, _config("offline_bind")) as g:
        report = g.run_all(raise_on_failure=False)
        assert "offline" not in [r.name for r in report.results]
        assert report.ok, str(report)
    with Gauntlet(None, _config("offline_bind", extra_checks=["offline"])) as g:
        report = g.run_all(raise_on_failure=False)
    statuses = {r.name: r.status for r in report.results}
    assert list(statuses) == [*DEFAULT_CHECKS[:-1], "offline", "isolation"]
    assert statuses.pop("offline") == "failed"
    assert set(statuses.values()) <= {"passed", "skipped"}, str(report)
    assert isinstance(report.get("offline").error, OfflineRenderError)


def test_extra_checks_must_be_known_names() -> None:
    with pytest.raises(ConfigError, match="the string 'offline'"):
        _config("clean", extra_checks="offline")
    with (
        Gauntlet(None, _config("clean", extra_checks=["offlin"])) as g,
        pytest.raises(ConfigError, match="Unknown check name.*offlin"),
    ):
        g.run_all()


def test_cli_check_option_adds_offline(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["-c", catalog.ini("offline_bind"), "-q", "--json", "--check", "offline"])
    out = capsys.readouterr().out
    assert code == 1
    results = {r["name"]: r for r in json.loads(out)["results"]}
    assert results["offline"]["status"] == "failed"
    assert results["offline"]["error_type"] == "OfflineRenderError"
    assert "o2_read_rows.py:17" in results["offline"]["message"]
    code = main(["-c", catalog.ini("clean"), "-q", "--check", "offlne"])
    assert code == 2
    assert "--check: unknown check(s) offlne" in capsys.readouterr().err


class _OfflineTests(GauntletMixin, unittest.TestCase):
    __test__ = False
    gauntlet_config = _config("offline_bind")
    gauntlet_extra_checks: ClassVar[list[str] | None] = ["offline"]


def test_the_mixin_runs_offline_when_turned_on() -> None:
    result = unittest.TestResult()
    suite = unittest.TestSuite()
    suite.addTest(_OfflineTests("test_migrations_render_offline"))
    suite.addTest(_OfflineTests("test_stairway_upgrade_downgrade"))
    suite.run(result)
    assert len(result.failures) == 1 and not result.errors, result.errors
    assert "o1000002" in result.failures[0][1]
    # off by default: the test is skipped, saying how to turn it on
    off = type("_Off", (_OfflineTests,), {"gauntlet_extra_checks": None})
    result = unittest.TestResult()
    unittest.TestSuite([off("test_migrations_render_offline")]).run(result)
    assert not result.failures and not result.errors
    assert "extra_checks=['offline']" in result.skipped[0][1]
