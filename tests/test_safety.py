"""safety: each revision's locks, rewrites, scans and index builds on tables that existed
before it, observed on the server (tests/histories/safety_unsafe: one unsafe operation per
revision; safety_safe: their safe counterparts)."""

from __future__ import annotations

from typing import Any

import pytest

from gauntlet_sync import (
    ConfigError,
    Gauntlet,
    GauntletConfig,
    MigrationSafetyError,
)
from tests.histories import catalog

pytestmark = pytest.mark.usefixtures("no_leftovers")


def _gauntlet(history: str, **config: Any) -> Gauntlet:
    return Gauntlet(None, GauntletConfig(alembic_ini=catalog.ini(history), **config))


def _failure(history: str, **config: Any) -> MigrationSafetyError:
    with _gauntlet(history, **config) as g, pytest.raises(MigrationSafetyError) as caught:
        g.check_safety()
    return caught.value


def _rules(lines: tuple[str, ...] | list[str]) -> list[tuple[str, str]]:
    """(rule, revision) of each finding line."""
    return [(line.split(":")[0], line.split()[2]) for line in lines]


def test_each_unsafe_operation_is_a_finding_with_rule_lock_and_safe_pattern() -> None:
    error = _failure("safety_unsafe")
    assert _rules(error.problems) == [
        ("table-rewrite", "s1000002"),
        ("table-rewrite", "s1000003"),
        ("index-without-concurrently", "s1000004"),
        ("constraint-validation", "s1000005"),
        ("set-not-null", "s1000006"),
    ]
    lines = dict(zip(_rules(error.problems), error.problems, strict=True))
    assert lines["table-rewrite", "s1000002"] == (
        "table-rewrite: revision s1000002 rewrites the table (ADD COLUMN stamp with a "
        "volatile DEFAULT) on orders under ACCESS EXCLUSIVE (blocks reads and writes); "
        "add a new column, backfill it in batches, swap"
    )
    assert (
        "(ALTER COLUMN TYPE of qty) on orders under ACCESS EXCLUSIVE"
        in (lines["table-rewrite", "s1000003"])
    )
    assert (
        "builds index ix_orders_status in its transaction on orders under SHARE "
        in (lines["index-without-concurrently", "s1000004"])
    )
    assert "blocks writes" in lines["index-without-concurrently", "s1000004"]
    assert "postgresql_concurrently=True" in lines["index-without-concurrently", "s1000004"]
    assert (
        "foreign key fk_orders_customer validated at once"
        in (lines["constraint-validation", "s1000005"])
    )
    assert "NOT VALID" in lines["constraint-validation", "s1000005"]
    assert (
        "sets status NOT NULL (a full scan) on orders under ACCESS EXCLUSIVE"
        in (lines["set-not-null", "s1000006"])
    )
    # a warning by default, not a failure; s1000008's rewrite is allowed by its marker
    assert _rules(error.warnings) == [("enum-add-value", "s1000007")]
    assert error.revision == "s1000002" and error.step == "upgrade"
    assert "s1000008" not in str(error)


def test_the_safe_counterparts_have_no_finding() -> None:
    with _gauntlet("safety_safe") as g:
        assert g.check_safety() == []


def test_policy_fail_on_allow_and_floor() -> None:
    # everything a warning
    with _gauntlet("safety_unsafe", safety_fail_on=[]) as g:
        warned = g.check_safety()
    assert [r for r, _ in _rules(warned)] == [
        "table-rewrite",
        "table-rewrite",
        "index-without-concurrently",
        "constraint-validation",
        "set-not-null",
        "enum-add-value",
    ]
    # allowed per revision in the config, and below the floor
    error = _failure(
        "safety_unsafe",
        safety_allow={"s1000005": ["constraint-validation"], "s1000006": ["set-not-null"]},
        minimum_safety_revision="s1000003",
        safety_fail_on=["enum-add-value", "index-without-concurrently"],
    )
    assert _rules(error.problems) == [
        ("index-without-concurrently", "s1000004"),
        ("enum-add-value", "s1000007"),
    ]
    assert error.warnings == ()


def test_run_all_reports_safety_beside_the_other_walk_checks() -> None:
    with _gauntlet("safety_unsafe") as g:
        report = g.run_all(["stairway", "safety"], raise_on_failure=False)
    statuses = {r.name: r.status for r in report.results}
    assert statuses == {"stairway": "passed", "safety": "failed"}
    safety = next(r for r in report.results if r.name == "safety")
    assert _rules(safety.warnings) == [("enum-add-value", "s1000007")]
    with _gauntlet("safety_unsafe", safety=False) as g:
        report = g.run_all(["safety"], raise_on_failure=False)
    assert [(r.name, r.status) for r in report.results] == [("safety", "skipped")]


def test_bad_policy_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown safety rule"):
        GauntletConfig(safety_fail_on=["table-rewrites"])
    with pytest.raises(ConfigError, match="safety_allow"):
        GauntletConfig(safety_allow={"abc": ["nope"]})


def test_step_budget_turns_slow_upgrade_steps_into_findings() -> None:
    error = _failure("safety_safe", step_budget=0.0)
    assert _rules(error.problems) == [("slow-step", f"t100000{i}") for i in range(1, 7)]
    assert "(budget 0 s) on its upgrade step" in error.problems[0]
    with _gauntlet("safety_safe", step_budget=0.0, safety_fail_on=["table-rewrite"]) as g:
        assert len(g.check_safety()) == 6  # warnings, when slow-step does not fail
