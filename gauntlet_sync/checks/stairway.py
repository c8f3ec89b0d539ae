"""stairway: upgrade, downgrade, upgrade again, revision by revision, each step committed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import walks
from ..errors import GauntletError, StairwayError
from .base import WalkCheck

if TYPE_CHECKING:
    from ..context import RunContext


class Stairway(WalkCheck):
    name = "stairway"
    test_method = "test_stairway_upgrade_downgrade"
    error = StairwayError

    def judge(self, ctx: RunContext, outcome: walks.WalkOutcome) -> GauntletError | None:
        if outcome.failure is None:
            return None
        return walks.stairway_error(ctx.history, outcome)


CHECK = Stairway()
