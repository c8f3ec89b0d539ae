"""``RunContext``: what a check's code is handed (the run's config, history, models and
workspace) and the shared steps it may take (upgrade, walk, the models, the escapes).

Progress is a field, passed explicitly: a forked child, or a parent relaying its child's
events, runs the same code with another ``progress``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Mapping, Sequence

from sqlalchemy import MetaData

from . import walks
from .config import GauntletConfig
from .errors import CheckSkipped
from .history import History
from .report import CheckResult, CheckStarted
from .scope import WalkScope
from .session import MigrationSession, Progress, Step
from .workspace import Workspace

ProgressEvent = CheckStarted | Progress | CheckResult
ProgressSink = Callable[[ProgressEvent], None]


@dataclasses.dataclass(frozen=True)
class RunContext:
    config: GauntletConfig
    history: History
    #: the models given in the config (``None``: env.py's ``target_metadata``, if any).
    metadata: MetaData | None
    #: revisions the walks never step down (below ``minimum_downgrade_revision``).
    irreversible: frozenset[str]
    workspace: Workspace
    progress: ProgressSink | None = None
    #: the part of the history the walks cover (``None``: all of it), see scope.py.
    scope: WalkScope | None = None
    #: the stairway's wall seconds per revision, filled as it walks (the report's
    #: ``revision_seconds``, which ``shard_timings`` reads back).
    walk_seconds: dict[str, float] = dataclasses.field(default_factory=dict)

    def with_progress(self, progress: ProgressSink | None) -> RunContext:
        return dataclasses.replace(self, progress=progress)

    def emit(self, event: ProgressEvent) -> None:
        if self.progress is not None:
            self.progress(event)

    def session(self) -> contextlib.AbstractContextManager[MigrationSession]:
        return self.workspace.session()

    # -- shared steps -------------------------------------------------------------------

    def require_revisions(self) -> None:
        if not self.history.ids:
            raise CheckSkipped(walks.NOTHING_TO_WALK)

    def walk(
        self,
        session: MigrationSession,
        steps: Sequence[Step],
        name: str,
        hooks: Mapping[str, walks.CheckHooks] | None = None,
        *,
        one_transaction: bool = False,
        first_index: int = 0,
        total: int | None = None,
    ) -> walks.WalkOutcome:
        return walks.walk(
            session,
            steps,
            name=name,
            revision_data=self.config.revision_data,
            hooks=hooks,
            progress=self.emit if self.progress else None,
            commit_each_step=not one_transaction,
            first_index=first_index,
            total=total,
        )

    def upgrade(self, session: MigrationSession) -> None:
        """Base to heads; one transaction, as `alembic upgrade heads` on a fresh database."""
        outcome = self.walk(
            session, walks.upgrade_plan(self.history), "upgrade", one_transaction=True
        )
        if outcome.failure is not None:
            raise walks.upgrade_error(self.history, outcome.failure)

    def stairway_plan(self) -> list[Step]:
        """The stairway over the part walked: from its first revision to its last,
        revisions outside it (``walk_view``'s irreversible) only upgraded."""
        if self.scope is None:
            return walks.stairway_plan(self.history, self.irreversible)
        ids = self.history.ids
        walked = set(self.scope.walked)
        inside = [i for i, rev in enumerate(ids) if rev in walked]
        if not inside:
            return []
        span = ids[inside[0] : inside[-1] + 1]
        return walks.stairway_plan(self.history, self.irreversible, revisions=span)

    def start_revisions(self) -> list[str]:
        """What a scoped walk starts from: every revision before its first, upgraded in
        one transaction (empty for a full walk)."""
        if self.scope is None or not self.scope.walked:
            return []
        ids = self.history.ids
        return list(ids[: ids.index(self.scope.walked[0])])

    def not_walked(self) -> frozenset[str]:
        """The revisions the walks leave out (empty for a full walk)."""
        if self.scope is None:
            return frozenset()
        return frozenset(self.history.ids) - frozenset(self.scope.walked)

    def walk_view(self) -> RunContext:
        """This context as the walk checks see it: revisions not walked count as
        irreversible (never stepped down, nothing to compare)."""
        left_out = self.not_walked()
        if not left_out:
            return self
        return dataclasses.replace(self, irreversible=self.irreversible | left_out)

    def models(self, session: MigrationSession) -> MetaData:
        """The models to compare with (the config's, else env.py's), or a skip saying how
        to give them."""
        metadata = self.metadata or session.env_metadata
        if isinstance(metadata, (list, tuple)):
            metadata = metadata[0] if len(metadata) == 1 else None
        if not isinstance(metadata, MetaData):
            raise CheckSkipped(
                "No models to compare: pass metadata= (CLI: --metadata module:attr) or set "
                "target_metadata in env.py."
            )
        return metadata

    def escapes(self, session: MigrationSession) -> list[str]:
        """What the migrations changed outside the schema so far, read once per session
        (the isolation check and run_all's decision to fork share it)."""
        memo = session.memo
        if "escapes" not in memo:
            memo["escapes"] = self.workspace.escapes(session, late=True)
        escapes: list[str] = memo["escapes"]
        return escapes
