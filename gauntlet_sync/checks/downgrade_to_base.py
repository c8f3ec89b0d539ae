"""downgrade_to_base: from the heads back to base (or ``minimum_downgrade_revision``), one
revision at a time, each step committed as separate ``alembic downgrade`` commands would."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import walks
from ..errors import DowngradeError
from .base import HeadCheck

if TYPE_CHECKING:
    from ..context import RunContext
    from ..session import MigrationSession


class DowngradeToBase(HeadCheck):
    name = "downgrade_to_base"
    test_method = "test_downgrade_all_the_way"
    error = DowngradeError
    stage = "consume"
    needs_revisions = True

    def run(self, ctx: RunContext, session: MigrationSession) -> None:
        ctx.require_revisions()
        outcome = ctx.walk(
            session, walks.downgrade_plan(ctx.history, ctx.irreversible), "downgrade_to_base"
        )
        if outcome.failure is not None:
            raise walks.downgrade_error(ctx.history, outcome.failure)


CHECK = DowngradeToBase()
