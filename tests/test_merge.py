"""Shards: ``--shard i/n`` walks one of ``n`` ranges, ``merge-reports`` joins the reports.

The differential principle: the merged verdicts are the full run's. The history is
``fidelity/keep_going`` (six revisions, failures in three of them: qa000002's re-upgrade,
qa000003's downgrade, qa000005's upgrade, and a trace left by qa000004), cut in three
shards of two revisions, so each shard has a failure of its own.

Named for merge-reports (gauntlet_sync/merge.py) and what it proves: shards joined are the full
run.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from alembic.config import Config

from gauntlet_sync import ConfigError, Gauntlet, GauntletConfig, Report, scope
from gauntlet_sync.cli import main
from gauntlet_sync.scope import cut, read_timings
from tests.histories import catalog

pytestmark = pytest.mark.usefixtures("no_leftovers")

FIDELITY = catalog.HISTORIES / "fidelity"
INI = str(FIDELITY / "alembic.ini")
WALK_CHECKS = ["stairway", "no_trace", "safety"]


def config(**changes: object) -> GauntletConfig:
    alembic = Config(INI, config_args={"history": "keep_going"})
    return GauntletConfig(alembic_config=alembic, **changes)  # type: ignore[arg-type]


def revisions_of(problems: tuple[str, ...] | list[str]) -> set[str]:
    return {line.split(":")[0].split()[0] for line in problems}


def verdicts(report: Report) -> dict[str, tuple[str, set[str]]]:
    return {r.name: (r.status, revisions_of(r.problems)) for r in report.results}


def cli_run(tmp_path: Path, name: str, *args: str) -> tuple[int, Path, Path]:
    """The CLI on the keep_going history (its ini picks the history through an env var
    is not possible, so the history's own copy of the ini is written)."""
    ini = tmp_path / "alembic.ini"
    if not ini.exists():
        text = (FIDELITY / "alembic.ini").read_text().replace("%(history)s", "keep_going")
        text = text.replace("%(here)s", str(FIDELITY))
        ini.write_text(text)
    out_json, out_xml = tmp_path / f"{name}.json", tmp_path / f"{name}.xml"
    code = main(["-q", "-c", str(ini), "--junit-xml", str(out_xml), "--json", *args])
    return code, out_json, out_xml


@pytest.fixture
def two_revisions_a_shard(monkeypatch: pytest.MonkeyPatch) -> None:
    """The keep_going history's 6 revisions cut 2/2/2, a failure in each shard: the cut's
    calibrated costs (tuned on 1,200 revisions) would give shard 1 fewer on so short a
    history, and these tests are about merging, not about the cut."""
    monkeypatch.setattr(scope, "START_COST", 0.05)
    monkeypatch.setattr(scope, "HEAD_COST", 0.05)


@pytest.mark.usefixtures("two_revisions_a_shard")
def test_merged_shards_equal_the_full_run_with_keep_going(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, full_xml = cli_run(tmp_path, "full", "--keep-going")
    full = json.loads(capsys.readouterr().out)
    assert code == 1
    inputs_json, inputs_xml = [], []
    for index in (1, 2, 3):
        code, out_json, out_xml = cli_run(
            tmp_path, f"s{index}", "--keep-going", f"--shard={index}/3"
        )
        out_json.write_text(capsys.readouterr().out)
        assert code == 1  # every shard has a failure of its own
        inputs_json.append(str(out_json))
        inputs_xml.append(str(out_xml))
        shard = json.loads(out_json.read_text())
        assert shard["scope"]["shard"] == [index, 3]
        assert len(shard["scope"]["walked"]) == 2
        if index > 1:  # head checks: shard 1 only, never "passed" elsewhere
            upgrade = next(r for r in shard["results"] if r["name"] == "upgrade")
            assert upgrade["status"] == "skipped"
            assert "shard 1 of 3" in upgrade["message"]
    merged_json = tmp_path / "merged.json"
    assert main(["merge-reports", "-q", str(merged_json), *inputs_json]) == 1
    merged = json.loads(merged_json.read_text())

    def table(data: dict[str, object]) -> dict[str, tuple[str, set[str]]]:
        results = data["results"]
        assert isinstance(results, list)
        return {  # the findings of failed checks (an error's text is the walk's, not a verdict)
            r["name"]: (
                r["status"],
                revisions_of(r.get("problems", []) if r["status"] == "failed" else []),
            )
            for r in results
        }

    assert table(merged) == table(full)
    assert table(merged)["stairway"] == ("failed", {"qa000002", "qa000003", "qa000005"})
    assert table(merged)["no_trace"] == ("failed", {"qa000002", "qa000004"})
    assert merged["ok"] is False
    assert merged["scope"]["walked"] == [f"qa00000{i}" for i in range(1, 7)]
    # the same from the JUnit reports
    merged_xml = tmp_path / "merged.xml"
    assert main(["merge-reports", "-q", str(merged_xml), *inputs_xml]) == 1
    cases = ET.parse(merged_xml).getroot().findall("testsuite/testcase")
    full_cases = ET.parse(full_xml).getroot().findall("testsuite/testcase")

    def statuses(found: list[ET.Element]) -> dict[str, str]:
        return {
            str(c.get("name")): next((e.tag for e in c if e.tag != "system-out"), "passed")
            for c in found
        }

    assert statuses(cases) == statuses(full_cases)


@pytest.mark.usefixtures("two_revisions_a_shard")
def test_each_shard_says_what_a_full_walk_says_for_its_revisions() -> None:
    """Without keep_going a walk stops at its first failure: each shard's first failure is
    the full keep_going walk's first failure in that shard's range."""
    with Gauntlet(None, config(keep_going=True)) as gauntlet:
        full = gauntlet.run_all(WALK_CHECKS, raise_on_failure=False)
    full_failures = [p.split(":")[0] for p in full.get("stairway").problems]
    merged_status: dict[str, set[str]] = {}
    for index in (1, 2, 3):
        with Gauntlet(None, config(shard=(index, 3))) as gauntlet:
            assert gauntlet.scope is not None
            mine = set(gauntlet.scope.walked)
            report = gauntlet.run_all(WALK_CHECKS, raise_on_failure=False)
        stairway = report.get("stairway")
        expected = [f for f in full_failures if f.split()[0] in mine][0]
        assert f"{stairway.revision} {stairway.step}" == expected
        if index == 2:  # the later revisions of its own range, not of the history
            assert "1 later revision was not reached" in stairway.message
        for result in report.results:
            merged_status.setdefault(result.name, set()).add(result.status)
    for name in WALK_CHECKS:  # the worst shard verdict is the full run's
        worst = "failed" if "failed" in merged_status[name] else "error"
        assert full.get(name).status == worst


def test_a_missing_or_doubled_shard_is_an_error_not_a_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = []
    for index in (1, 2):
        with Gauntlet(None, config(shard=(index, 3))) as gauntlet:
            report = gauntlet.run_all(["single_head", "upgrade"], raise_on_failure=False)
        path = tmp_path / f"s{index}.json"
        path.write_text(report.to_json())
        paths.append(str(path))
    out = tmp_path / "merged.json"
    assert main(["merge-reports", "-q", str(out), *paths]) == 2
    assert "shard(s) 3 of 3 missing" in capsys.readouterr().err
    data = json.loads(out.read_text())
    assert data["ok"] is False or all(r["status"] != "passed" for r in data["results"][2:])
    assert main(["merge-reports", "-q", str(out), paths[0], paths[0], paths[1]]) == 2
    assert "given twice" in capsys.readouterr().err
    plain = tmp_path / "plain.json"
    with Gauntlet(None, config()) as gauntlet:
        plain.write_text(gauntlet.run_all(["single_head"], raise_on_failure=False).to_json())
    assert main(["merge-reports", "-q", str(out), str(plain)]) == 2
    assert "not the report of a --shard run" in capsys.readouterr().err
    (tmp_path / "junk.json").write_text("{not json")
    assert main(["merge-reports", str(out), str(tmp_path / "junk.json")]) == 2


def test_a_missing_shard_leaves_the_walk_checks_in_error(tmp_path: Path) -> None:
    paths = []
    for index in (1, 2):
        with Gauntlet(None, config(shard=(index, 2))) as gauntlet:
            report = gauntlet.run_all(["stairway"], raise_on_failure=False)
        path = tmp_path / f"s{index}.json"
        path.write_text(report.to_json())
        paths.append(str(path))
    out = tmp_path / "merged.json"
    assert main(["merge-reports", "-q", str(out), paths[0]]) == 2
    stairway = json.loads(out.read_text())["results"][0]
    assert stairway["status"] == "error"
    assert "shard(s) 2 of 2 missing" in stairway["message"]


def test_cut_makes_contiguous_ranges_of_about_equal_cost() -> None:
    revisions = [f"r{i:02d}" for i in range(12)]
    ranges = cut(revisions, 4, {})
    assert [rev for part in ranges for rev in part] == revisions
    sizes = [len(part) for part in ranges]
    assert max(sizes) - min(sizes) <= 2 and sizes[0] >= sizes[-1]  # later ones start later
    # measured times: the slow revision gets a range nearly to itself
    slow = {rev: 1.0 for rev in revisions} | {"r00": 9.0}
    ranges = cut(revisions, 2, slow)
    assert ranges[0] == ["r00"] or len(ranges[0]) < len(ranges[1])
    # more shards than revisions: some are empty
    assert [len(p) for p in cut(["a", "b"], 3, {})].count(0) == 1


def test_a_shard_with_nothing_to_walk_skips_the_walks_with_the_reason() -> None:
    with Gauntlet(None, config(shard=(7, 7))) as gauntlet:
        assert gauntlet.scope is not None and gauntlet.scope.walked == ()
        report = gauntlet.run_all(["stairway"], raise_on_failure=False)
    result = report.get("stairway")
    assert result.status == "skipped"
    assert "shard 7 of 7" in result.reason


def test_shard_timings_come_from_an_earlier_report(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    seconds = {f"qa00000{i}": 1.0 for i in range(2, 7)} | {"qa000001": 5.0}
    path.write_text(json.dumps({"revision_seconds": seconds}))
    assert read_timings(path) == seconds
    with Gauntlet(None, config(shard=(1, 2), shard_timings=str(path))) as gauntlet:
        assert gauntlet.scope is not None
        assert gauntlet.scope.walked == ("qa000001",)  # it costs as much as the rest
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ConfigError, match="no revision_seconds"):
        Gauntlet(None, config(shard=(1, 2), shard_timings=str(tmp_path / "bad.json")))


@pytest.mark.parametrize("shard", [(0, 2), (3, 2), (1, 0), "1/2", (True, 2)])
def test_a_bad_shard_is_a_config_error(shard: object) -> None:
    with pytest.raises(ConfigError, match="shard must be"):
        GauntletConfig(shard=shard)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["3/2", "0/2", "x", "1-2"])
def test_the_cli_refuses_a_bad_shard(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--shard", value]) == 2
    assert "I/N" in capsys.readouterr().err
