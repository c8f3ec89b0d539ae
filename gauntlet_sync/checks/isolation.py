"""isolation: the migrations create, drop or change nothing outside the isolated schema."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import CheckSkipped, IsolationEscapeError
from .base import HeadCheck

if TYPE_CHECKING:
    from ..context import RunContext
    from ..session import MigrationSession


class Isolation(HeadCheck):
    name = "isolation"
    test_method = "test_migrations_stay_isolated"
    error = IsolationEscapeError
    stage = "guard"  # run_all forks only once this has seen nothing outside the schema

    def run(self, ctx: RunContext, session: MigrationSession) -> None:
        if session.outside_at_start is None:
            raise CheckSkipped("isolation='database': the whole database belongs to the run.")
        lines = ctx.escapes(session)
        if lines:
            raise IsolationEscapeError.listing(
                "The migrations reached outside the isolated schema "
                f"{session.target.schema} (schema-qualified names, or SET search_path in a "
                "migration); gauntlet-sync does not drop what it did not create",
                lines,
            )


CHECK = Isolation()
