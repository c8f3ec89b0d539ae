"""safety (checks/safety.py) in the report: the per-revision table (text, JSON, JUnit),
the CLI's policy options, and safety's results when run_all splits the walk between two
processes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from gauntlet_sync import Gauntlet, GauntletConfig, Report, scheduler
from gauntlet_sync.cli import main
from tests.histories import catalog

pytestmark = pytest.mark.usefixtures("no_leftovers")

# a head check too: run_all splits a walk only beside a forked head group
WALK = ["upgrade", "stairway", "no_trace", "safety"]


def _run(history: str, checks: list[str] | None = None, **config: Any) -> Report:
    cfg = GauntletConfig(alembic_ini=catalog.ini(history), **config)
    with Gauntlet(None, cfg) as g:
        return g.run_all(checks or ["safety"], raise_on_failure=False)


def _timeless(rows: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    """The rows without their times (the step's, and the probe's with rows)."""
    timed = [{k: v for k, v in r.items() if k != "seconds"} for r in rows]
    for row in timed:
        if str(row.get("with_rows", "")).endswith(" s"):
            row["with_rows"] = "timed"
    return timed


def test_the_per_revision_table_in_text_json_and_junit() -> None:
    report = _run("safety_unsafe", safety_rows=True)
    safety = report.get("safety")
    rows = {r["revision"]: r for r in safety.per_revision}
    assert list(rows) == [f"s100000{i}" for i in range(1, 9)]  # walk order, every revision
    assert rows["s1000001"] == {
        "revision": "s1000001",
        "seconds": rows["s1000001"]["seconds"],
        "locks": {},  # it only creates tables
        "rewrites": [],
        "scans": [],
        "index_builds": [],
        "rules": [],
        "rows": {},
        "not_filled": {},
        "with_rows": "-",
    }
    assert rows["s1000003"]["rows"] == {"orders": 3}  # the probe with generated rows
    assert rows["s1000003"]["locks"] == {"orders": "ACCESS EXCLUSIVE"}
    assert rows["s1000003"]["rewrites"] == ["orders"]
    assert rows["s1000004"]["index_builds"] == ["orders"]
    assert rows["s1000004"]["locks"] == {"orders": "SHARE"}
    assert rows["s1000005"]["scans"] == ["orders"]
    assert rows["s1000006"]["scans"] == ["orders"] and rows["s1000006"]["rules"] == ["set-not-null"]
    # allowed by its marker: no finding, but the table still says what happened
    assert rows["s1000008"]["rewrites"] == ["orders"]
    assert "s1000008" not in safety.message
    assert all(isinstance(r["seconds"], float) and r["seconds"] >= 0 for r in rows.values())
    slowest = safety.slowest
    assert len(slowest) == 5 and [s for _, s in slowest] == sorted(
        (s for _, s in slowest), reverse=True
    )
    # text
    text = str(report)
    assert "[safety] per revision: 8 revision(s); slowest upgrade steps: " in text
    table = text.split("[safety] per revision:")[1].splitlines()
    assert table[1].split() == [
        "revision",
        "seconds",
        "locks",
        "rewrites",
        "scans",
        "index_builds",
        "rules",
        "rows",
        "not_filled",
        "with_rows",
    ]
    assert any(
        line.split()[0] == "s1000003" and "orders ACCESS EXCLUSIVE" in line for line in table
    )
    assert "(1 other revision(s): nothing to show but their time)" in text  # s1000001
    # JSON
    data = safety.to_dict()
    assert data["per_revision"] == [dict(r) for r in safety.per_revision]
    assert [s["revision"] for s in data["slowest"]] == [rev for rev, _ in slowest]
    json.dumps(data)
    # JUnit: the table in the testcase's system-out, after the warnings
    case = ET.fromstring(report.to_junit_xml()).find("testsuite/testcase")
    assert case is not None
    out = case.findtext("system-out") or ""
    assert out.startswith("warning: enum-add-value: revision s1000007")
    assert "per revision: 8 revision(s); slowest upgrade steps:" in out


def test_the_other_checks_have_no_table() -> None:
    report = _run("safety_safe", ["stairway", "safety"])
    assert report.get("stairway").per_revision == ()
    assert "per_revision" not in report.get("stairway").to_dict()
    assert [r["rules"] for r in report.get("safety").per_revision] == [[]] * 6


def test_safety_results_merge_when_run_all_splits_the_walk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The walk split between this process and a forked child (scheduler.split_walk): the
    child's revisions come back through the pipe and safety's verdict, findings, warnings
    and table are the one walk's."""
    monkeypatch.setattr(scheduler, "SPLIT_WALK_FROM", 2)
    splits: list[int] = []
    split = scheduler.split_walk
    monkeypatch.setattr(scheduler, "split_walk", lambda *args: splits.append(1) or split(*args))
    serial = _run("safety_unsafe", WALK, parallel=False, safety_rows=True)
    assert splits == []
    parallel = _run("safety_unsafe", WALK, safety_rows=True)  # the child probes its part
    assert splits == [1]
    mine = round(8 * scheduler.SPLIT_SHARE)
    assert 1 <= mine < 8  # both processes observed revisions
    one, two = serial.get("safety"), parallel.get("safety")
    assert (one.status, two.status) == ("failed", "failed")
    assert one.problems == two.problems and len(one.problems) == 5
    assert one.warnings == two.warnings
    assert one.message == two.message
    assert _timeless(one.per_revision) == _timeless(two.per_revision)
    assert [r["revision"] for r in two.per_revision] == [f"s100000{i}" for i in range(1, 9)]
    assert {r.name: r.status for r in serial.results} == {
        r.name: r.status for r in parallel.results
    }


def test_cli_safety_policy_options(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ini = catalog.ini("safety_unsafe")

    def run(*args: str) -> tuple[int, dict[str, Any]]:
        code = main(["-c", ini, "-q", "--json", "--only", "safety", *args])
        return code, json.loads(capsys.readouterr().out)["results"][0]

    code, result = run()
    assert code == 1 and len(result["problems"]) == 5
    assert result["per_revision"][2]["rows"] == {"orders": 3}  # generated rows: on by default
    code, result = run("--safety-fail-on", "none")
    assert code == 0 and len(result["warnings"]) == 6
    code, result = run(
        "--safety-fail-on",
        "enum-add-value,index-without-concurrently",
        "--safety-allow",
        "s1000005:constraint-validation",
        "--safety-allow",
        "s1000006:set-not-null",
        "--minimum-safety-revision",
        "s1000003",
    )
    assert code == 1
    assert [p.split(":")[0] for p in result["problems"]] == [
        "index-without-concurrently",
        "enum-add-value",
    ]
    assert result["per_revision"][0]["revision"] == "s1000004"  # below the floor: left out
    code, result = run("--no-safety-rows")  # the switch off
    assert code == 1 and len(result["problems"]) == 5
    assert {r["with_rows"] for r in result["per_revision"]} == {"-"}
    assert result["per_revision"][2]["rows"] == {}
    code, result = run("--safety-rows")  # still accepted: the explicit on
    assert code == 1 and result["per_revision"][2]["rows"] == {"orders": 3}
    code, result = run("--safety-fail-on", "slow-step", "--step-budget", "0")
    assert code == 1 and len(result["problems"]) == 8
    for bad, said in (
        (["--safety-fail-on", "table-rewrites"], "unknown safety rule(s) table-rewrites"),
        (["--safety-allow", "s1000005"], "expected REV:RULES"),
        (["--step-budget", "-1"], "must be a finite number of seconds"),
    ):
        assert main(["-c", ini, "-q", *bad]) == 2
        assert said in capsys.readouterr().err
