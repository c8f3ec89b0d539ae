"""Shard 1's ``downgrade_to_base`` on a head state of its own (``scheduler._HeadBeside``).

In shard 1 of a sharded run, a forked child upgrades a second schema to the heads (one
transaction, as the shared head state) beside the head upgrade; the downgrade then runs
on it in a child of its own, beside the reads, instead of after them. The report must be
the one the serial order gives (the same verdicts, messages, and head checks' progress
in the same order), a failing downgrade included, and equal the whole run's verdict.

Named for what it holds: shard 1's own head state.
"""

from __future__ import annotations

from typing import Any

import pytest

from gauntlet_sync import CheckStarted, Gauntlet, GauntletConfig, forked, scheduler, scope
from gauntlet_sync.report import CheckResult
from gauntlet_sync.session import Progress
from tests.histories import catalog

pytestmark = pytest.mark.usefixtures("no_leftovers")

HEAD = {"upgrade", "downgrade_to_base", "models_match", "check_constraints", "enums", "naming"}


@pytest.fixture(autouse=True)
def shard_one_walks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap head state, so that shard 1 of 2 walks a revision beside it."""
    monkeypatch.setattr(scope, "START_COST", 0.05)
    monkeypatch.setattr(scope, "HEAD_COST", 0.05)


def run(name: str, shard: tuple[int, int] | None) -> tuple[Any, list[Any]]:
    events: list[Any] = []
    config = GauntletConfig(
        alembic_ini=catalog.ini(name), metadata=catalog.load_metadata(name), shard=shard
    )
    with Gauntlet(None, config, progress=events.append) as gauntlet:
        report = gauntlet.run_all(raise_on_failure=False)
    return report, events


def verdicts(report: Any) -> dict[str, tuple[str, str]]:
    return {r.name: (r.status, r.message or "") for r in report.results}


def head_events(events: list[Any]) -> list[tuple[str, str]]:
    """The head checks' progress, in the order it was reported (the walk's comes between)."""
    seen = []
    for event in events:
        if isinstance(event, (CheckStarted, CheckResult)) and event.name in HEAD:
            seen.append((type(event).__name__, event.name))
        elif isinstance(event, Progress) and event.walk in HEAD:
            seen.append((event.walk, event.step.revision))
    return seen


@pytest.mark.skipif(not forked.possible(), reason="needs fork")
@pytest.mark.parametrize("name", ["clean", "downgrade_fails"])
def test_shard_1_downgrades_its_own_head_state_with_the_serial_report(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    used: list[bool] = []
    walk_beside = scheduler._walk_beside_child

    def spy(*args: Any) -> None:
        used.append(args[-1] is not None)  # own_head
        walk_beside(*args)

    monkeypatch.setattr(scheduler, "_walk_beside_child", spy)
    own, own_events = run(name, (1, 2))
    assert used == [True]
    assert own.scope.walked  # a walk beside

    monkeypatch.setattr(scheduler, "OWN_HEAD_STATE", False)
    shared, shared_events = run(name, (1, 2))
    assert used == [True, False]
    assert verdicts(own) == verdicts(shared)
    assert head_events(own_events) == head_events(shared_events)
    assert [e for e in head_events(own_events) if e[0] == "upgrade"]  # reported once
    assert len([e for e in own_events if isinstance(e, Progress) and e.walk == "upgrade"]) == len(
        [e for e in shared_events if isinstance(e, Progress) and e.walk == "upgrade"]
    )

    whole, _ = run(name, None)
    assert verdicts(own)["downgrade_to_base"] == verdicts(whole)["downgrade_to_base"]
    expected = "failed" if name == "downgrade_fails" else "passed"
    assert own.get("downgrade_to_base").status == expected
