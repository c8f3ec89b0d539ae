"""The three shapes of a check; the package docstring says how to add one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from ..errors import CheckFailed, GauntletError

if TYPE_CHECKING:
    from ..context import RunContext
    from ..session import MigrationSession
    from ..walks import CheckHooks, WalkOutcome

#: What a check needs prepared before its code runs.
Needs = Literal["nothing", "history", "head", "walk"]
#: A head-state check's place around the upgrade: ``prepare`` is the upgrade itself (its
#: outcome is the head state's), ``guard`` runs in the parent before anything is forked,
#: ``read`` only reads the head state (any order, maybe in a forked child), ``consume``
#: changes it (after every read).
Stage = Literal["prepare", "guard", "read", "consume"]


class Check:
    """One check: its name and what the rest of the library derives from it."""

    #: the name in reports, ``run_all(checks=...)``, the CLI's ``--only`` / ``--skip``.
    name: ClassVar[str]
    #: the ``GauntletMixin`` test method that reports it.
    test_method: ClassVar[str]
    #: the ``CheckFailed`` subclass it raises when it finds a problem (``error.check == name``).
    error: ClassVar[type[CheckFailed]]
    #: what must be prepared before its code runs.
    needs: ClassVar[Needs]
    #: in ``run_all``'s default set (``False``: only when named).
    default: ClassVar[bool] = True
    #: skipped with ``walks.NOTHING_TO_WALK`` on a history without revisions.
    needs_revisions: ClassVar[bool] = False


class HistoryCheck(Check):
    """Needs nothing but the loaded history and config: no database."""

    needs: ClassVar[Needs] = "history"

    def run(self, ctx: RunContext) -> Sequence[str] | None:
        """Raise ``self.error`` (or ``CheckSkipped``) on a problem; return warnings, if any
        (lines that do not fail the check)."""
        raise NotImplementedError


class HeadCheck(Check):
    """Runs on a session upgraded to the heads (one upgrade shared by all of them)."""

    needs: ClassVar[Needs] = "head"
    stage: ClassVar[Stage] = "read"

    def run(self, ctx: RunContext, session: MigrationSession) -> Sequence[str] | None:
        """Raise ``self.error`` (or ``CheckSkipped``) on a problem; return warnings, if any
        (lines that do not fail the check; a failure carries its own as ``error.warnings``)."""
        raise NotImplementedError


class WalkCheck(Check):
    """Rides the stairway (upgrade, downgrade, re-upgrade per revision), one walk shared
    by every walk check: hooks per walk, then a judgement of the walk's outcome."""

    needs: ClassVar[Needs] = "walk"
    needs_revisions: ClassVar[bool] = True
    #: its hooks cost more per step than the step (catalog snapshots): a long walk is
    #: then worth splitting between two processes (the second catches up without hooks).
    heavy_hooks: ClassVar[bool] = False

    def hooks(self, ctx: RunContext, session: MigrationSession) -> CheckHooks | None:
        """Fresh hooks for one walk on ``session`` (``None``: the outcome alone will do)."""
        return None

    def merge(self, first: Any, second: Any) -> Any:
        """The data of a walk split in two, from its halves' ``data()`` (in walk order)."""
        raise NotImplementedError(f"{self.name} cannot be split")

    def judge(self, ctx: RunContext, outcome: WalkOutcome) -> GauntletError | None:
        """The error to report for the walk (``None``: passed; ``CheckSkipped``: skipped)."""
        raise NotImplementedError

    def per_revision(self, ctx: RunContext, outcome: WalkOutcome) -> Sequence[dict[str, Any]]:
        """A table with a row per revision for the report (``CheckResult.per_revision``);
        none by default."""
        return ()

    def warnings(self, ctx: RunContext, outcome: WalkOutcome) -> Sequence[str]:
        """What the walk showed that does not fail the check, one line each (a failure
        carries them as its ``error.warnings`` too)."""
        return ()
