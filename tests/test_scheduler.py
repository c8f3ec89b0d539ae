"""Nothing escapes ``run_all(raise_on_failure=False)``: a failure inside one check becomes
that check's ``error`` result with its message, and every other check still runs and
reports. The failures are forced (a check's own work raising what no check expects); the
database and the histories are real.
"""

from __future__ import annotations

from typing import Any

import pytest

from gauntlet_sync import DEFAULT_CHECKS, Gauntlet, GauntletConfig, snapshot
from gauntlet_sync.checks import enums
from gauntlet_sync.cli import main as cli_main
from tests.histories import catalog

pytestmark = pytest.mark.usefixtures("no_leftovers")  # tests/conftest.py


def _boom(*_: Any, **__: Any) -> Any:
    raise RuntimeError("forced failure inside the check")


def _statuses(report: Any) -> dict[str, str]:
    return {r.name: r.status for r in report.results}


@pytest.mark.parametrize("parallel", [True, False], ids=["parallel", "serial"])
def test_a_failure_inside_one_check_is_its_error_result(
    monkeypatch: pytest.MonkeyPatch, parallel: bool
) -> None:
    monkeypatch.setattr(enums, "enums_error", _boom)
    cfg = GauntletConfig(
        alembic_ini=catalog.ini("clean"), metadata=catalog.load_metadata("clean"), parallel=parallel
    )
    with Gauntlet(None, cfg) as gauntlet:
        report = gauntlet.run_all(raise_on_failure=False)
    assert _statuses(report) == {**dict.fromkeys(DEFAULT_CHECKS, "passed"), "enums": "error"}
    message = report.get("enums").message
    assert "enums could not finish" in message and "forced failure inside the check" in message
    assert not report.ok


def test_a_failure_inside_the_walk_errors_its_checks_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """stairway, no_trace and safety share one walk: a snapshot that raises ends it for all."""
    monkeypatch.setattr(snapshot.Snapshotter, "take", _boom)
    cfg = GauntletConfig(alembic_ini=catalog.ini("clean"), metadata=catalog.load_metadata("clean"))
    with Gauntlet(None, cfg) as gauntlet:
        report = gauntlet.run_all(raise_on_failure=False)
    walk = {"stairway": "error", "no_trace": "error", "safety": "error"}
    assert _statuses(report) == {**dict.fromkeys(DEFAULT_CHECKS, "passed"), **walk}, str(report)
    assert "forced failure inside the check" in report.get("no_trace").message


def test_the_cli_prints_the_report_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(enums, "enums_error", _boom)
    ini = catalog.ini("clean")
    monkeypatch.chdir(catalog.HISTORIES / "clean")  # where --metadata imports models from
    code = cli_main(["-c", ini, "-q", "--metadata", "models:Base.metadata"])
    out, err = capsys.readouterr()
    assert code == 1, err
    assert "Traceback" not in out + err
    lines = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.split()[:1]}
    assert lines["enums"] == "error", out
    assert all(lines[name] == "passed" for name in DEFAULT_CHECKS if name != "enums"), out
