"""``keep_going``: the stairway and no_trace report every failing revision in one run.

``tests/histories/fidelity/keep_going`` has four broken revisions: qa000002's downgrade
does nothing (the re-upgrade fails, the table stays), qa000003's drops a parent table
before its child (the downgrade fails), qa000004's keeps the server default its upgrade
set (a trace only) and qa000005's upgrade fails; qa000006 needs qa000005, so it can never
be walked.

Named for what it holds, not for one module: one option through the walks, the API, the cli
and the mixin.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic.config import Config

from gauntlet_sync import Gauntlet, GauntletConfig, GauntletMixin, StairwayError
from gauntlet_sync.cli import main
from tests.histories import catalog

FIDELITY = catalog.HISTORIES / "fidelity"
WALKS = ("stairway", "no_trace")


pytestmark = pytest.mark.usefixtures("no_leftovers")


def config(**changes: object) -> GauntletConfig:
    alembic = Config(str(FIDELITY / "alembic.ini"), config_args={"history": "keep_going"})
    return GauntletConfig(alembic_config=alembic, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("parallel", [True, False], ids=["parallel", "serial"])
def test_keep_going_reports_every_failing_revision(parallel: bool) -> None:
    with Gauntlet(None, config(keep_going=True, parallel=parallel)) as gauntlet:
        report = gauntlet.run_all(raise_on_failure=False)
    stairway = report.get("stairway")
    assert stairway.status == "failed"
    error = stairway.error
    assert isinstance(error, StairwayError)
    assert (error.revision, error.step) == ("qa000002", "re-upgrade")
    assert [line.split(":")[0] for line in error.problems] == [
        "qa000002 re-upgrade",
        "qa000003 downgrade",
        "qa000005 upgrade",
    ]
    assert "DuplicateTable" in error.problems[0]
    assert "DependentObjectsStillExist" in error.problems[1]
    assert "reference" in error.problems[2]
    assert "Stairway failed at 3 revisions" in str(error)
    assert "Not reached (1" in str(error) and "qa000006" in str(error)
    no_trace = report.get("no_trace")
    assert no_trace.status == "failed"
    assert no_trace.error is not None
    assert {line.split(":")[0] for line in no_trace.error.problems} == {"qa000002", "qa000004"}
    assert any("country" in line for line in no_trace.error.problems)


def test_keep_going_gives_the_same_as_check_stairway_alone() -> None:
    with Gauntlet(None, config(keep_going=True)) as gauntlet:
        with pytest.raises(StairwayError) as alone:
            gauntlet.check_stairway()
        report = gauntlet.run_all(["stairway"], raise_on_failure=False)
    assert report.get("stairway").error is not None
    assert alone.value.problems == report.get("stairway").error.problems


def test_without_keep_going_the_report_says_how_many_revisions_were_not_reached() -> None:
    with Gauntlet(None, config()) as gauntlet:
        with pytest.raises(StairwayError) as caught:
            gauntlet.check_stairway()
    assert (caught.value.revision, caught.value.step) == ("qa000002", "re-upgrade")
    assert "4 later revisions were not reached" in str(caught.value)
    assert "--keep-going" in str(caught.value)
    assert len(caught.value.problems) == 1


def test_the_cli_keep_going_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GAUNTLET_DSN", raising=False)
    ini = tmp_path / "alembic.ini"
    ini.write_text(
        "[alembic]\n"
        f"script_location = {catalog.HISTORIES / '_envs' / 'cookbook'}\n"
        f"version_locations = {FIDELITY / 'keep_going' / 'versions'}\n"
        "path_separator = os\n"
        "sqlalchemy.url = postgresql+psycopg://invalid@localhost/invalid\n"
    )
    code = main(["-c", str(ini), "--only", "stairway", "--keep-going", "--json", "-q"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    [stairway] = out["results"]
    assert [p.split(":")[0] for p in stairway["problems"]] == [
        "qa000002 re-upgrade",
        "qa000003 downgrade",
        "qa000005 upgrade",
    ]


def test_the_mixin_attribute_sets_keep_going() -> None:
    class Migrations(GauntletMixin):
        gauntlet_config = config()
        gauntlet_keep_going = True

    assert Migrations.gauntlet_effective_config().keep_going is True
