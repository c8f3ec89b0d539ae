"""One round trip for safety at each walk step's end (review finding: it sent the walk's
shared lock read and then its own statement, two where one would do).

safety's after-step read now reads the step's locks itself, as a CTE of the same statement
(``walks.CheckHooks.read_locks``), and hands them to the walk for the other checks. Counted
here by the statements psycopg executes from the end of the hooks' ``after`` to the end of
the step (PREPAREs, once per connection, left out), and by the walk's own read, which no
longer runs when safety wants the locks. What the checks make of those locks is held equal
to their whole reads by tests/test_step_locks.py and tests/test_safety_incremental.py.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import sql

from gauntlet_sync import Gauntlet, GauntletConfig, incremental, step_locks, walks
from gauntlet_sync.checks import safety_catalog
from gauntlet_sync.checks.no_trace import TraceWatch
from gauntlet_sync.checks.safety import SafetyWatch
from tests.histories import catalog

pytestmark = pytest.mark.usefixtures("no_leftovers")


class StepEnds:
    """The statements executed at the steps' ends (after every hook's ``after``)."""

    def __init__(self) -> None:
        self.at_end = False
        self.statements = 0
        self.walk_reads = 0


@pytest.fixture
def ends(monkeypatch: pytest.MonkeyPatch) -> StepEnds:
    monkeypatch.setattr(incremental, "VERIFY", False)
    monkeypatch.setattr(incremental, "MIN_ROWS", 0)
    monkeypatch.delenv(safety_catalog.VERIFY_ENV, raising=False)
    seen = StepEnds()
    execute = psycopg.Cursor.execute

    def counted(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        text = query.as_string(self.connection) if isinstance(query, sql.Composable) else query
        if seen.at_end and not str(text).lstrip().startswith("PREPARE"):
            seen.statements += 1
        return execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", counted)
    read_locks = walks._read_locks

    def walk_read(step: Any, conn: Any) -> step_locks.StepLocks:
        seen.walk_reads += 1
        return read_locks(step, conn)

    monkeypatch.setattr(walks, "_read_locks", walk_read)
    after = walks.Hooks.after

    def step_ends(self: walks.Hooks, step: Any, conn: Any) -> None:
        try:
            after(self, step, conn)
        finally:
            seen.at_end = False

    for hooks in (SafetyWatch, TraceWatch):  # asked after every hook's after
        original = hooks.wants_locks

        def asked(self: Any, step: Any, conn: Any, original: Any = original) -> Any:
            seen.at_end = True
            return original(self, step, conn)

        monkeypatch.setattr(hooks, "wants_locks", asked)
    monkeypatch.setattr(walks.Hooks, "after", step_ends)
    return seen


def _walk(checks: tuple[str, ...], ends: StepEnds) -> dict[str, int]:
    config = GauntletConfig(alembic_ini=catalog.ini("clean"))
    with Gauntlet(None, config) as gauntlet, gauntlet.workspace.session() as session:
        hooks: dict[str, walks.CheckHooks] = {}
        if "no_trace" in checks:
            hooks["no_trace"] = TraceWatch(session, config.ignored_tables)
        if "safety" in checks:
            hooks["safety"] = SafetyWatch(session, frozenset(), False)
        steps = walks.stairway_plan(gauntlet.history, gauntlet.history.irreversible(None))
        statements, walk_reads = ends.statements, ends.walk_reads
        reads = step_locks.COUNTS["reads"]
        outcome = walks.walk(session, steps, name="stairway", hooks=hooks)
    assert outcome.failure is None, outcome.failure
    if "safety" in hooks:
        assert set(outcome.data["safety"].revisions) == set(gauntlet.history.ids)
    return {
        "steps": len(steps),
        "statements": ends.statements - statements,
        "walk_reads": ends.walk_reads - walk_reads,
        "lock_reads": step_locks.COUNTS["reads"] - reads,
    }


def test_safety_reads_the_locks_in_its_own_statement(ends: StepEnds) -> None:
    safety = _walk(("safety",), ends)
    steps = safety["steps"]
    assert steps == 12
    # one statement per step end: the locks and safety's after-step read together
    assert safety == {"steps": steps, "statements": steps, "walk_reads": 0, "lock_reads": steps}
    # no_trace (which wants the whole transaction's locks, at the commit) gets safety's
    both = _walk(("no_trace", "safety"), ends)
    assert both["walk_reads"] == 0 and both["lock_reads"] == steps, both
    # alone, no_trace's locks are the walk's read
    no_trace = _walk(("no_trace",), ends)
    assert no_trace["walk_reads"] == steps and no_trace["lock_reads"] == steps, no_trace
