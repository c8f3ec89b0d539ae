"""no_trace: each downgrade leaves the catalog exactly as it was before its upgrade.

Rides the stairway: a catalog snapshot before each revision's first upgrade and after its
downgrade, compared (what autogenerate cannot see too: sequences, functions, grants...).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from .. import snapshot, walks
from ..errors import DowngradeLeftTraceError, GauntletError
from ..history import History
from ..session import MigrationSession, Step, describe
from ..step_locks import StepLocks
from .base import WalkCheck

if TYPE_CHECKING:
    from ..context import RunContext


@dataclasses.dataclass(frozen=True)
class Traces:
    """What the snapshots found: revision -> differences, and the revisions compared."""

    traces: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    compared: frozenset[str] = frozenset()


class TraceWatch(walks.CheckHooks):
    """Snapshots the schema before each upgrade and after its downgrade, and compares."""

    def __init__(
        self,
        session: MigrationSession,
        skip_tables: frozenset[str],
        irreversible: frozenset[str] = frozenset(),
    ) -> None:
        self.session = session
        self.schema = session.target.schema
        self.skip_tables = skip_tables
        self.irreversible = irreversible  # never stepped down: nothing to compare
        self.snapshots: snapshot.Snapshotter | None = None
        #: the session's redirect's count when the snapshots last followed the steps
        self.checkouts = session.redirect.checkouts
        self.before_upgrade: snapshot.Snapshot | None = None
        self.traces: dict[str, list[str]] = {}
        self.compared: set[str] = set()

    def _take(self, conn: Connection) -> snapshot.Snapshot:
        if self.snapshots is None:  # env.py has configured its version table by now
            version_table = self.session.version_table[1]
            self.snapshots = snapshot.Snapshotter(
                self.schema, self.skip_tables | {version_table}, incremental=True
            )
        try:
            self._elsewhere(conn)
            shot = self.snapshots.take(conn)
            if self.session.target.database is None:
                return shot
            # isolation="database": the schemas the migrations make are the run's too
            skip = self.skip_tables | {self.session.version_table[1]}
            return snapshot.with_other_schemas(conn, shot, self.schema, skip)
        except Exception as exc:
            raise GauntletError(
                f"Could not read the catalog of schema {self.schema}: {describe(exc)}"
            ) from exc

    def before(self, step: Step, conn: Connection) -> None:
        if step.kind == "upgrade" and step.revision not in self.irreversible:
            self.before_upgrade = self._take(conn)

    def after(self, step: Step, conn: Connection) -> None:
        if step.kind == "downgrade" and self.before_upgrade is not None:
            after = self._take(conn)
            lines = self.before_upgrade.diff(after)
            self.compared.add(step.revision)
            if lines:
                self.traces[step.revision] = lines

    def wants_locks(self, step: Step, conn: Connection) -> walks.LockPoint | None:
        # the whole transaction's: the next snapshot re-reads what revision data did too
        if self.snapshots is not None and self.snapshots.follows(conn):
            return "commit"
        return None

    def end_of_step(self, step: Step, conn: Connection, locks: StepLocks | None) -> None:
        if self.snapshots is not None:
            self._elsewhere(conn)
            self.snapshots.step_end(conn, locks)

    def _elsewhere(self, conn: Connection) -> None:
        """A connection env.py's engines opened or checked out since the last look (a
        migration's engine of its own): what it did holds no lock of the walk
        connection's, so the next snapshot is a whole one (as safety's reads do)."""
        checkouts = self.session.redirect.checkouts
        if checkouts != self.checkouts and self.snapshots is not None:
            self.snapshots.step_end(conn, None)
        self.checkouts = checkouts

    def data(self) -> Traces:
        return Traces(dict(self.traces), frozenset(self.compared))


class NoTrace(WalkCheck):
    name = "no_trace"
    test_method = "test_downgrade_leaves_no_trace"
    error = DowngradeLeftTraceError
    heavy_hooks = True

    def hooks(self, ctx: RunContext, session: MigrationSession) -> TraceWatch:
        return TraceWatch(session, ctx.config.ignored_tables, ctx.irreversible)

    def merge(self, first: Traces, second: Traces) -> Traces:
        return Traces({**first.traces, **second.traces}, first.compared | second.compared)

    def judge(self, ctx: RunContext, outcome: walks.WalkOutcome) -> GauntletError | None:
        """Traces fail the check; a walk that stopped before comparing every downgrade
        leaves it unable to judge the rest (an error), unless nothing was left to compare."""
        found: Traces = outcome.data.get(self.name, Traces())
        if found.traces:
            return trace_error(ctx.history, found.traces)
        to_compare = set(ctx.history.ids) - ctx.irreversible
        if outcome.failure is not None and not to_compare <= found.compared:
            return walks.stairway_error(ctx.history, outcome)
        return None


CHECK = NoTrace()


def trace_error(history: History, traces: Mapping[str, list[str]]) -> DowngradeLeftTraceError:
    first = next(iter(traces))
    parts = []
    problems: list[str] = []
    for rev, lines in traces.items():
        parts.append(
            f"revision {walks.describe_revision(history, rev)}:\n"
            + "\n".join(f"  - {line}" for line in lines)
        )
        problems.extend(f"{rev}: {line}" for line in lines)
    count = len(traces)
    return DowngradeLeftTraceError(
        f"Downgrade left a trace in {count} revision{'s' if count != 1 else ''} "
        "(catalog after downgrade differs from before upgrade):\n" + "\n".join(parts),
        revision=first,
        step="downgrade",
        problems=problems,
    )
