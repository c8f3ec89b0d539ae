"""What a result says (issue 16, point 6): where a failure is, on the result itself; JUnit
messages that carry the first finding; the summary's wording; the NotImplementedError hint
in every walk."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET

import pytest

from gauntlet_sync import (
    CheckFailed,
    CheckResult,
    DowngradeLeftTraceError,
    Gauntlet,
    GauntletConfig,
    GauntletError,
    Report,
    StairwayError,
    UpgradeError,
)
from tests.histories import catalog


def _trace_result() -> CheckResult:
    error = DowngradeLeftTraceError.listing(
        "Downgrade left a trace in 1 revision (catalog after downgrade differs from before "
        "upgrade)",
        ["abc123: column orders.note left behind", "abc123: index ix_orders_note left behind"],
        revision="abc123",
        step="downgrade",
    )
    return CheckResult("no_trace", "failed", 1.5, error=error)


def test_a_result_says_where_its_failure_is() -> None:
    result = _trace_result()
    assert result.revision == "abc123"
    assert result.step == "downgrade"
    assert result.problems == (
        "abc123: column orders.note left behind",
        "abc123: index ix_orders_note left behind",
    )
    assert result.to_dict()["problems"] == list(result.problems)
    passed = CheckResult("upgrade", "passed")
    assert (passed.revision, passed.step, passed.problems) == (None, None, ())


def test_the_summary_line_carries_the_first_problem() -> None:
    assert _trace_result().summary == (
        "Downgrade left a trace in 1 revision (catalog after downgrade differs from before "
        "upgrade): abc123: column orders.note left behind (and 1 more)"
    )
    one_line = CheckResult(
        "upgrade", "failed", error=UpgradeError("Upgrade failed at x: boom", problems=["boom"])
    )
    assert one_line.summary == "Upgrade failed at x: boom"  # already in the line: not twice
    blocked = CheckResult("enums", "error", reason="could not run: Upgrade failed at x: boom")
    assert blocked.summary == "could not run: Upgrade failed at x: boom"


def test_junit_messages_carry_the_first_problem_line() -> None:
    report = Report([CheckResult("upgrade", "passed", 0.5), _trace_result()], seconds=2.0)
    root = ET.fromstring(report.to_junit_xml())
    failure = root.find("./testsuite/testcase[@name='no_trace']/failure")
    assert failure is not None
    assert "column orders.note left behind" in failure.get("message", "")
    assert failure.get("type") == "DowngradeLeftTraceError"
    assert failure.text is not None and "ix_orders_note" in failure.text


@pytest.mark.parametrize(
    ("statuses", "line"),
    [
        (["passed"], "1 passed, 0 failed, 0 errors, 0 skipped"),
        (["passed", "error"], "1 passed, 0 failed, 1 error, 0 skipped"),
        (["error", "error", "skipped"], "0 passed, 0 failed, 2 errors, 1 skipped"),
    ],
)
def test_the_summary_counts_read_as_english(statuses: list[str], line: str) -> None:
    results = [
        CheckResult(f"c{i}", status, reason="r")  # type: ignore[arg-type]
        for i, status in enumerate(statuses)
    ]
    assert f"\n{line} in 0.00 s" in str(Report(results))


def test_a_not_implemented_downgrade_names_the_setting_in_every_walk() -> None:
    config = GauntletConfig(alembic_ini=catalog.ini("not_implemented"), parallel=False)
    with Gauntlet(None, config) as gauntlet:
        report = gauntlet.run_all(["stairway", "downgrade_to_base"], raise_on_failure=False)
        with pytest.raises(StairwayError) as stairway:
            gauntlet.check_stairway()
    for result in report.results:
        assert result.status == "failed", result.name
        assert "minimum_downgrade_revision='q1000002'" in result.message, result.name
        assert result.revision == "q1000002"
    assert "--minimum-downgrade-revision" in str(stairway.value)


def test_a_real_no_trace_failure_reaches_junit_with_its_finding() -> None:
    config = GauntletConfig(
        alembic_ini=catalog.ini("no_trace"), metadata=catalog.load_metadata("no_trace")
    )
    with Gauntlet(None, config) as gauntlet:
        report = gauntlet.run_all(["no_trace"], raise_on_failure=False)
    result = report.get("no_trace")
    assert result.status == "failed" and result.problems
    failure = ET.fromstring(report.to_junit_xml()).find(".//testcase[@name='no_trace']/failure")
    assert failure is not None
    assert result.problems[0] in failure.get("message", "")


def test_a_result_reads_back_from_its_dict() -> None:
    """CheckResult.from_dict is to_dict's inverse (merge-reports reads shard reports so):
    the typed error with where it failed, its problems and warnings, the per-revision table."""
    failed = dataclasses.replace(
        _trace_result(),
        warnings=("enum-add-value: revision abc123 ...",),
        per_revision=({"revision": "abc123", "seconds": 0.25, "rules": ["table-rewrite"]},),
    )
    back = CheckResult.from_dict(json.loads(json.dumps(failed.to_dict())))
    assert type(back.error) is DowngradeLeftTraceError
    assert (back.revision, back.step, back.problems) == (
        failed.revision,
        failed.step,
        failed.problems,
    )
    assert back.to_dict() == failed.to_dict()
    skipped = CheckResult("models_match", "skipped", 0.1, reason="no models")
    assert CheckResult.from_dict(skipped.to_dict()) == skipped
    unknown = {"name": "x", "status": "error", "message": "could not run", "error_type": "Gone"}
    error = CheckResult.from_dict(unknown)
    assert type(error.error) is GauntletError and error.message == "could not run"
    failing = {"name": "x", "status": "failed", "message": "m", "error_type": "TypeVar"}
    assert type(CheckResult.from_dict(failing).error) is CheckFailed  # never a non-error class
    with pytest.raises(ValueError, match="unknown status 'fine'"):
        CheckResult.from_dict({"name": "x", "status": "fine"})
    with pytest.raises(KeyError):
        CheckResult.from_dict({"status": "passed"})
