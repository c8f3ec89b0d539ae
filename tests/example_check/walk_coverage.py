"""walk_coverage: an example walk check, added to a copy of the library by
tests/test_checks_registry.py as one module plus its registration line.

It rides the shared stairway: its hooks note each step's kind per revision, and the
judgement fails unless every revision the walk may step down was upgraded, downgraded
and upgraded again. (A real check would look at something the migrations did, e.g.
the locks a step holds; the mechanics are the same.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from .. import walks
from ..errors import CheckFailed, GauntletError
from ..session import MigrationSession, Step
from .base import WalkCheck

if TYPE_CHECKING:
    from ..context import RunContext


class WalkCoverageError(CheckFailed):
    check = "walk_coverage"


class _Seen(walks.CheckHooks):
    def __init__(self) -> None:
        self.kinds: dict[str, list[str]] = {}

    def before(self, step: Step, conn: Connection) -> None:
        conn.exec_driver_sql("SELECT 1")  # on the migration connection, inside the step
        self.kinds.setdefault(step.revision, []).append(str(step.kind))

    def data(self) -> dict[str, list[str]]:
        return {rev: list(kinds) for rev, kinds in self.kinds.items()}


class WalkCoverage(WalkCheck):
    name = "walk_coverage"
    test_method = "test_walk_coverage"
    error = WalkCoverageError

    def hooks(self, ctx: RunContext, session: MigrationSession) -> _Seen:
        return _Seen()

    def merge(
        self, first: dict[str, list[str]], second: dict[str, list[str]]
    ) -> dict[str, list[str]]:
        return {**first, **second}

    def judge(self, ctx: RunContext, outcome: walks.WalkOutcome) -> GauntletError | None:
        seen = outcome.data.get(self.name, {})
        short = [
            rev
            for rev in ctx.history.ids
            if rev not in ctx.irreversible
            and seen.get(rev) != ["upgrade", "downgrade", "re-upgrade"]
        ]
        if short:
            return WalkCoverageError.listing("Revisions the stairway did not cover", short)
        return None


CHECK = WalkCoverage()
