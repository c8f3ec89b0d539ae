"""upgrade: base to heads in one transaction, as ``alembic upgrade heads`` runs it.

The upgrade is the head state's preparation: its outcome is this check's, and when it
fails every other head-state check could not run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import UpgradeError
from .base import HeadCheck

if TYPE_CHECKING:
    from ..context import RunContext
    from ..session import MigrationSession


class Upgrade(HeadCheck):
    name = "upgrade"
    test_method = "test_upgrade"
    error = UpgradeError
    stage = "prepare"

    def run(self, ctx: RunContext, session: MigrationSession) -> None:
        pass  # the preparation (RunContext.upgrade) is the whole check


CHECK = Upgrade()
