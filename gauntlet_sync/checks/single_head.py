"""single_head: the history has exactly one head (else ``alembic upgrade head`` fails)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import MultipleHeadsError
from .base import HistoryCheck

if TYPE_CHECKING:
    from ..context import RunContext


class SingleHead(HistoryCheck):
    name = "single_head"
    test_method = "test_single_head_revision"
    error = MultipleHeadsError

    def run(self, ctx: RunContext) -> None:
        heads = ctx.history.heads
        if len(heads) > 1:
            raise MultipleHeadsError(
                f"The history has {len(heads)} heads: {', '.join(heads)}. Merge them with "
                f"`alembic merge -m 'merge heads' {' '.join(heads)}`.",
                problems=[f"head {h}" for h in heads],
            )


CHECK = SingleHead()
