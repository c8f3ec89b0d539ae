"""DDL a migration commits on a connection of the hand-over's own engine
(``op.get_bind().engine.connect()``) reaches no_trace's and safety's incremental reads.

That engine is gauntlet-sync's (its URL is the isolated target's), so the redirect, which
counts the connections env.py's engines open (``handover.Redirect.checkouts``), never saw
it: the step's DDL held no lock of the walk connection's, and both reads reused what they
had read before the step. Nor did the outside guard check its commits (with a user's DSN,
the rows such a connection deleted outside the schema stayed deleted, and every check
passed). Such a connection is now one of env.py's: marked for the guard, counted, and the
reads after that step are whole. History: tests/histories/handover_engine (h0000002 adds
and drops a column that way; h0000003 follows, so that a snapshot reads after its
re-upgrade).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Connection

from gauntlet_sync import (
    EmbeddedPostgres,
    Gauntlet,
    GauntletConfig,
    IsolationEscapeError,
    incremental,
    walks,
)
from gauntlet_sync.checks import safety_catalog
from gauntlet_sync.checks.no_trace import TraceWatch
from gauntlet_sync.session import Step
from tests.histories import catalog
from tests.test_outside_safety import dsn, project, server

__all__ = ["dsn", "server"]  # the user's database of test_outside_safety

pytestmark = pytest.mark.usefixtures("no_leftovers")

HISTORY = "handover_engine"


def test_no_trace_snapshots_follow_ddl_on_the_handover_engine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With verification on, each incremental snapshot equals the whole query's."""
    monkeypatch.setattr(incremental, "VERIFY", True)
    monkeypatch.setattr(incremental, "MIN_ROWS", 0)
    config = GauntletConfig(alembic_ini=catalog.ini(HISTORY))
    before = dict(incremental.COUNTS)
    with Gauntlet(None, config) as gauntlet, gauntlet.workspace.session() as session:
        watch = TraceWatch(session, config.ignored_tables)
        steps = walks.stairway_plan(gauntlet.history, gauntlet.history.irreversible(None))
        outcome = walks.walk(session, steps, name="stairway", hooks={"no_trace": watch})
    assert outcome.failure is None, outcome.failure
    assert watch.data().traces == {} and len(watch.data().compared) == 3
    counts = {k: incremental.COUNTS[k] - before[k] for k in before}
    assert counts["verified"] == counts["incremental"] + counts["whole"] == 6, counts


def test_safety_reads_follow_ddl_on_the_handover_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """With verification on, safety's incremental reads equal its whole reads."""
    monkeypatch.setenv(safety_catalog.VERIFY_ENV, "1")
    config = GauntletConfig(alembic_ini=catalog.ini(HISTORY), parallel=False)
    with Gauntlet(None, config) as gauntlet:
        report = gauntlet.run_all(["safety"], raise_on_failure=False)
    assert "CatalogMismatch" not in str(report), str(report)
    assert next(r for r in report.results if r.name == "safety").status == "passed", str(report)


def test_the_session_does_not_count_its_own_connections() -> None:
    """The count is of env.py's connections: gauntlet-sync's own are not, or every step's
    reads would be whole. On psycopg2 the session's catalog connection is a second one,
    opened here from a hook, while env.py runs (as a check's reads may first open it)."""
    opened: list[Connection] = []

    class OpensTheCatalogConnection(walks.CheckHooks):
        def before(self, step: Step, conn: Connection) -> None:
            opened.append(session.own_connection)

    dsn = EmbeddedPostgres.shared().url.set(drivername="postgresql+psycopg2")
    config = GauntletConfig(alembic_ini=catalog.ini("clean"))
    with Gauntlet(dsn, config) as gauntlet, gauntlet.workspace.session() as session:
        steps = walks.stairway_plan(gauntlet.history, gauntlet.history.irreversible(None))
        hooks = {"opens": OpensTheCatalogConnection()}
        outcome = walks.walk(session, steps, name="stairway", hooks=hooks)
        assert outcome.failure is None, outcome.failure
        assert opened and opened[0] is not session.connection
        assert session.redirect.checkouts == 0


DELETE_ELSEWHERE = """\
import sqlalchemy as sa
with op.get_bind().engine.connect() as other:
    other.execute(sa.text("DELETE FROM public.users WHERE id <= 50"))
    other.commit()
"""


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_the_guard_checks_commits_on_the_handover_engine(
    dsn: str, tmp_path: Path, driver: str
) -> None:
    """A user's DSN: a migration deletes rows of public.users on a connection of the
    hand-over's engine and commits. The guard stops that commit (the ``dsn`` fixture then
    finds the 100 rows as they were); before, the rows were gone and every check passed."""
    config = project(tmp_path, DELETE_ELSEWHERE, "pass")
    url = dsn if driver == "psycopg" else dsn.replace("postgresql://", "postgresql+psycopg2://")
    with Gauntlet(url, config) as gauntlet, pytest.raises(IsolationEscapeError) as info:
        gauntlet.check_upgrade()
    assert any("rows of table public.users changed" in p for p in info.value.problems)
    assert "nothing of it was committed" in str(info.value)
