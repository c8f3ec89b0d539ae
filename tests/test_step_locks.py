"""One read of the walk connection's own ``pg_locks`` per step, whoever needs it
(issue 18, "linear cost"; gauntlet_sync/step_locks.py, walks.Hooks).

no_trace's incremental snapshots and safety's incremental reads both follow a walk by the
locks each step's transaction holds. The walk reads them once per step and hands them to
every walk check that asked; none is read when no check asks. Two observables: the read's
own counter, and a log of every statement psycopg sends on any connection (a statement
reading ``pg_locks`` directly, or executing a statement prepared so), independent of how
the hooks are written. With both checks the log holds exactly what no_trace alone reads:
safety adds no read of its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
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

_PIECES = re.compile(r";\s*(?=PREPARE |EXECUTE )")
_PREPARE = re.compile(r'PREPARE\s+("[^"]+"|\w+)')
_EXECUTE = re.compile(r'EXECUTE\s+("[^"]+"|\w+)')


class StatementLog:
    """Counts the statements that read ``pg_locks`` within the walks' steps, from each
    step's first hook to its last (one ``execute`` may carry several: PREPAREs and
    EXECUTEs joined by ';'). The walk's start and end (the session's state, the outside
    snapshot) are not counted."""

    def __init__(self) -> None:
        self.prepared: dict[str, bool] = {}
        self.lock_reads = 0
        self.in_step = False

    def saw(self, cursor: Any, query: Any) -> None:
        if not self.in_step:
            return
        if isinstance(query, sql.Composable):
            query = query.as_string(cursor.connection)
        elif isinstance(query, bytes):
            query = query.decode()
        for piece in _PIECES.split(str(query).strip()):
            prepare, execute = _PREPARE.match(piece), _EXECUTE.match(piece)
            if prepare:
                self.prepared[prepare.group(1)] = "pg_locks" in piece
            elif execute and execute.group(1) in self.prepared:
                self.lock_reads += self.prepared[execute.group(1)]
            else:
                self.lock_reads += "pg_locks" in piece


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> StatementLog:
    """Every schema followed however small, no verification (its whole reads read locks
    of their own), and the statement log on."""
    monkeypatch.setattr(incremental, "VERIFY", False)
    monkeypatch.setattr(incremental, "MIN_ROWS", 0)
    monkeypatch.delenv(safety_catalog.VERIFY_ENV, raising=False)
    monkeypatch.delenv("GAUNTLET_VERIFY_SNAPSHOTS", raising=False)
    statements = StatementLog()
    execute = psycopg.Cursor.execute

    def logged(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        statements.saw(self, query)
        return execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", logged)
    before, after = walks.Hooks.before, walks.Hooks.after

    def step_starts(self: walks.Hooks, step: Any, conn: Any) -> None:
        statements.in_step = True
        before(self, step, conn)

    def step_ends(self: walks.Hooks, step: Any, conn: Any) -> None:
        after(self, step, conn)
        statements.in_step = False

    monkeypatch.setattr(walks.Hooks, "before", step_starts)
    monkeypatch.setattr(walks.Hooks, "after", step_ends)
    return statements


def _walk(
    history: str, checks: tuple[str, ...], log: StatementLog, data: dict[str, Any] | None = None
) -> dict[str, int]:
    """The stairway of ``history`` with the hooks of ``checks``: its steps, the shared
    reads, the statements that read pg_locks, safety's and no_trace's own reads."""
    config = GauntletConfig(alembic_ini=catalog.ini(history))
    with Gauntlet(None, config) as gauntlet, gauntlet.workspace.session() as session:
        hooks: dict[str, walks.CheckHooks] = {}
        if "no_trace" in checks:
            hooks["no_trace"] = TraceWatch(session, config.ignored_tables)
        if "safety" in checks:
            hooks["safety"] = SafetyWatch(session, frozenset(), False, frozenset(data or ()))
        steps = walks.stairway_plan(gauntlet.history, gauntlet.history.irreversible(None))
        reads, lock_reads = step_locks.COUNTS["reads"], log.lock_reads
        closed = incremental.COUNTS["step_reads"]
        outcome = walks.walk(session, steps, name="stairway", revision_data=data, hooks=hooks)
        revisions = set(gauntlet.history.ids)
    assert outcome.failure is None, outcome.failure
    if "safety" in hooks:  # every revision judged
        assert set(outcome.data["safety"].revisions) == revisions
    if "no_trace" in hooks:
        assert outcome.data["no_trace"].traces == {}
    return {
        "steps": len(steps),
        "reads": step_locks.COUNTS["reads"] - reads,
        "lock_statements": log.lock_reads - lock_reads,
        "journal_closes": incremental.COUNTS["step_reads"] - closed,
    }


def test_one_read_per_step_for_both_checks_none_for_neither(log: StatementLog) -> None:
    both = _walk("clean", ("no_trace", "safety"), log)
    no_trace = _walk("clean", ("no_trace",), log)
    safety = _walk("clean", ("safety",), log)
    neither = _walk("clean", (), log)
    steps = both["steps"]
    assert steps == 12
    assert both["reads"] == steps, both
    assert both["journal_closes"] == steps, both  # no_trace followed every step
    assert no_trace["reads"] == steps and safety["reads"] == steps, (no_trace, safety)
    # by the statements: safety adds none to no_trace's (its snapshots read locks too)...
    assert both["lock_statements"] == no_trace["lock_statements"], (both, no_trace)
    assert no_trace["lock_statements"] > steps, no_trace
    # ... and reads nothing but the walk's read on its own
    assert safety["lock_statements"] == steps, safety
    assert neither["reads"] == 0 and neither["lock_statements"] == 0, neither


def test_no_read_when_no_check_follows_the_steps(
    log: StatementLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A schema under MIN_ROWS is snapshotted whole: no_trace wants no locks at all."""
    monkeypatch.setattr(incremental, "MIN_ROWS", 10**6)
    counts = _walk("clean", ("no_trace",), log)
    assert counts["reads"] == 0 and counts["journal_closes"] == 0, counts


def test_revision_data_gets_the_locks_read_again_after_it(log: StatementLog) -> None:
    """safety judges the step's own locks (before the rows go in), no_trace follows the
    whole transaction: a3's upgrade, which inserts rows, is read twice. Rows inserted after
    a step make safety's next read a whole one (it cannot see their locks), so it wants no
    locks until then: a3's downgrade and re-upgrade are read for no_trace alone."""
    data = {"a1000003": {"customers": [{"id": 7, "email": "x@example.com", "name": "X"}]}}
    both = _walk("clean", ("no_trace", "safety"), log, data)
    assert both["reads"] == both["steps"] + 1, both
    assert both["journal_closes"] == both["steps"], both
    no_trace = _walk("clean", ("no_trace",), log, data)
    assert no_trace["reads"] == no_trace["steps"], no_trace
    safety = _walk("clean", ("safety",), log, data)
    assert safety["reads"] == safety["steps"] - 2, safety
    assert safety["lock_statements"] == safety["reads"], safety


@pytest.fixture
def verifying(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(incremental, "VERIFY", True)
    monkeypatch.setattr(incremental, "MIN_ROWS", 0)
    monkeypatch.setenv(safety_catalog.VERIFY_ENV, "1")
    yield


@pytest.mark.usefixtures("verifying")
def test_both_checks_on_the_shared_read_give_what_the_whole_reads_give() -> None:
    """With both verification modes on, each check compares what it made of the shared
    read with a whole read of its own at every step (a difference fails the walk)."""
    verified = incremental.COUNTS["verified"]
    data = {"a1000003": {"customers": [{"id": 7, "email": "x@example.com", "name": "X"}]}}
    for history in ("clean", "safety_unsafe"):
        extra: dict[str, Any] = {"revision_data": data} if history == "clean" else {}
        config = GauntletConfig(alembic_ini=catalog.ini(history), parallel=False, **extra)
        with Gauntlet(None, config) as gauntlet:
            report = gauntlet.run_all(["stairway", "no_trace", "safety"], raise_on_failure=False)
        text = str(report)
        assert "Mismatch" not in text and "incremental" not in text, text
        expected = "passed" if history == "clean" else "failed"  # (both fail there)
        assert report.get("no_trace").status == expected, text
        assert report.get("safety").status == expected, text
    assert incremental.COUNTS["verified"] > verified
