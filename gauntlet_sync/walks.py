"""The walk engine: plans of steps (upgrade, stairway, downgrade) and one ``walk()`` to run them.

Walk checks ride a walk through :class:`CheckHooks` (see :mod:`gauntlet_sync.checks`).

Each walk is a plan of :class:`Step` objects built straight from the revision graph.
Walking revisions in dependency order means that, when a revision is stepped down, no
applied revision depends on it, so stepping down a merge point is just "undo this one
revision" and never the ambiguous ``downgrade -1``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from sqlalchemy.engine import Connection

from . import _compat, step_locks
from .errors import (
    DowngradeError,
    GauntletError,
    StairwayError,
    UpgradeError,
)
from .history import History
from .session import MigrationSession, ProgressCallback, Step, StepFailed, StepHooks, describe
from .step_locks import StepLocks

NOTHING_TO_WALK = "The history has no revisions: nothing to walk."


def describe_revision(history: History, revision: str) -> str:
    doc = (history.get(revision).doc or "").strip().splitlines()
    return f"{revision} ({doc[0]})" if doc and doc[0] else revision


def upgrade_plan(history: History) -> list[Step]:
    return [Step(rev, "upgrade", "upgrade") for rev in history.ids]


def stairway_plan(
    history: History, irreversible: frozenset[str], revisions: Sequence[str] | None = None
) -> list[Step]:
    """Upgrade, downgrade, re-upgrade per revision (only the upgrade for ``irreversible``
    ones), over ``revisions`` (default: the whole history, in order)."""
    steps: list[Step] = []
    for rev in history.ids if revisions is None else revisions:
        steps.append(Step(rev, "upgrade", "upgrade"))
        if rev not in irreversible:
            steps.append(Step(rev, "downgrade", "downgrade"))
            steps.append(Step(rev, "upgrade", "re-upgrade", "re-upgrade"))
    return steps


def downgrade_plan(history: History, keep: frozenset[str]) -> list[Step]:
    """Heads to base, one revision at a time, leaving out ``keep`` (irreversible or
    never applied)."""
    return [Step(rev, "downgrade", "downgrade") for rev in reversed(history.ids) if rev not in keep]


class InsertRevisionData(StepHooks):
    """Inserts the configured sample rows right after a revision is applied.

    The stairway applies a revision twice. Its downgrade may have dropped the rows with
    their table (they must be there again for the next revision to meet them) or kept
    them (inserting them again must not fail on their own keys): on the re-upgrade, rows
    whose keys are already there are left out. A callable is called after each
    application, so it should be idempotent.
    """

    def __init__(self, session: MigrationSession, data: Mapping[str, Any]) -> None:
        self.session = session
        self.data = data

    def inserts(self, step: Step) -> bool:
        """Whether rows are inserted after ``step``."""
        return step.is_upgrade and step.revision in self.data

    def after(self, step: Step, conn: Connection) -> None:
        if not self.inserts(step):
            return
        rows = self.data[step.revision]
        try:
            if callable(rows):
                rows(conn)
                return
            again = step.kind == "re-upgrade"
            for table_name, table_rows in rows.items():
                self.session.insert_rows(conn, table_name, table_rows, skip_existing=again)
        except Exception as exc:
            where = dataclasses.replace(step, label=f"{step.label} (inserting revision_data)")
            raise StepFailed(where, exc, describe(exc, self.session.url)) from exc


#: Where in a step a walk check wants the step's locks (:meth:`CheckHooks.wants_locks`):
#: ``"step"``, after every walk check's ``after`` and before revision data is inserted (what
#: the migration's step itself took); ``"commit"``, just before the step's commit (or the
#: next step, in one transaction), revision data included: the step's whole transaction.
LockPoint = Literal["step", "commit"]


class CheckHooks(StepHooks):
    """A walk check's hooks for one walk: ``before`` / ``after`` each step on the migration
    connection, inside the step's transaction, and what they found as ``data()``.

    ``data()`` must pickle (a split walk's second half comes back from a forked child) and
    be a copy (a walk may go on with the same hooks after its outcome was taken).
    """

    def data(self) -> Any:
        return None

    def start(self) -> None:
        """A walk begins with these hooks (whatever ran before it is news to them)."""

    def wants_locks(self, step: Step, conn: Connection) -> LockPoint | None:
        """Whether :meth:`end_of_step` needs the locks ``conn``'s backend holds in this
        step's transaction, and where (asked after every hook's ``after``). The walk reads
        them once per point for every hook that wants them, and not at all when none does:
        a hook reads ``pg_locks`` itself only when the walk asks it to (:meth:`read_locks`)."""
        return None

    def end_of_step(self, step: Step, conn: Connection, locks: StepLocks | None) -> None:
        """The last look at the step's transaction, once per step: at the point
        :meth:`wants_locks` named, with the locks read there; else just before the commit,
        with ``None``."""

    def read_locks(self, step: Step, conn: Connection) -> StepLocks | None:
        """For the first walk check that wants the locks at ``"step"``: its
        :meth:`end_of_step` with the locks read in its own statement (one round trip where
        the walk's read and the check's statement made two), returning them for the other
        checks; ``None``: it did nothing (the walk reads them and calls end_of_step). Only
        for a statement that reads system catalogs alone: its own locks must not be in
        the read's rows (:mod:`.step_locks` leaves out relations below
        FirstNormalObjectId), so that every check gets what the walk's read would give."""
        return None


class Hooks(StepHooks):
    """A walk's hooks: ``before`` in order, ``after`` in order, then the walk checks'
    :meth:`~CheckHooks.end_of_step`, each handed the step's locks (:mod:`.step_locks`)
    read once for all that want them. ``data`` (revision data) is inserted after the walk
    checks' ``after``: a check that wants the locks at ``"step"`` sees the step's own, one
    that wants them at ``"commit"`` the whole transaction's (read again after the data)."""

    def __init__(self, *hooks: StepHooks | None, data: InsertRevisionData | None = None) -> None:
        self.hooks = [h for h in hooks if h is not None]
        self.checks = [h for h in self.hooks if isinstance(h, CheckHooks)]
        self.data = data

    def before(self, step: Step, conn: Connection) -> None:
        for hook in self.hooks:
            hook.before(step, conn)

    def after(self, step: Step, conn: Connection) -> None:
        for hook in self.hooks:
            hook.after(step, conn)
        points = [(hook, hook.wants_locks(step, conn)) for hook in self.checks]
        at_step = [hook for hook, point in points if point == "step"]
        locks = at_step[0].read_locks(step, conn) if at_step else None
        done = at_step[0] if locks is not None else None  # its end_of_step ran with them
        if at_step and locks is None:
            locks = _read_locks(step, conn)
        for hook, point in points:
            if point == "step" and hook is not done:
                hook.end_of_step(step, conn, locks)
        if self.data is not None and self.data.inserts(step):
            self.data.after(step, conn)
            locks = None  # the data's own locks came after that read
        if locks is None and any(p == "commit" for _, p in points):
            locks = _read_locks(step, conn)
        for hook, point in points:
            if point != "step":
                hook.end_of_step(step, conn, locks if point == "commit" else None)


def _read_locks(step: Step, conn: Connection) -> StepLocks:
    try:
        return step_locks.read(conn)
    except Exception as exc:
        raise GauntletError(
            f"Could not read the locks held at the end of {step.label} of {step.revision}: "
            f"{describe(exc)}"
        ) from exc


@dataclasses.dataclass
class WalkOutcome:
    """What one walk found: the step that failed (if any) and, per walk check that hooked
    into it, its hooks' ``data()`` (check name -> data)."""

    failure: StepFailed | None = None
    data: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: with keep_going: every failing step in walk order (``failure`` is the first).
    failures: tuple[StepFailed, ...] = ()
    #: with keep_going: revisions never walked (they need one whose upgrade failed, or
    #: the walk could not be rebuilt after a failure).
    not_reached: tuple[str, ...] = ()
    #: wall seconds per revision walked (its steps with the hooks on them): what
    #: ``shard_timings`` cuts shards by.
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    #: the revisions a scoped walk covers (changed_since, shard); ``None``: the history.
    part: tuple[str, ...] | None = None


class Clock(StepHooks):
    """Times each revision of a walk: from its first step's start to the next revision's
    (the check hooks' work included, which is most of a stairway's cost)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.current: str | None = None
        self.started = 0.0

    def before(self, step: Step, conn: Connection) -> None:
        if step.revision != self.current:
            self.stop()
            self.current, self.started = step.revision, time.perf_counter()

    def stop(self) -> None:
        if self.current is not None:
            spent = time.perf_counter() - self.started
            self.seconds[self.current] = self.seconds.get(self.current, 0.0) + spent
            self.current = None


def walk(
    session: MigrationSession,
    steps: Sequence[Step],
    *,
    name: str,
    revision_data: Mapping[str, Any] | None = None,
    hooks: Mapping[str, CheckHooks] | None = None,
    progress: ProgressCallback | None = None,
    commit_each_step: bool = True,
    first_index: int = 0,
    total: int | None = None,
) -> WalkOutcome:
    """Run ``steps``; a failing step ends the walk and is returned, not raised.

    ``hooks`` are the walk checks' (run in order, before the revision data is inserted).
    ``first_index`` and ``total`` number the revisions of a part of a longer walk."""
    data = InsertRevisionData(session, revision_data) if revision_data else None
    checks = dict(hooks or {})
    clock = Clock() if commit_each_step else None
    all_hooks = Hooks(clock, *checks.values(), data=data) if (checks or data or clock) else None
    if total is None:
        total = len({s.revision for s in steps})
    outcome = WalkOutcome()
    for hook in checks.values():
        hook.start()
    try:
        session.run(
            steps,
            hooks=all_hooks,
            walk=name,
            progress=progress,
            total=total,
            commit_each_step=commit_each_step,
            first_index=first_index,
        )
    except StepFailed as failed:
        outcome.failure = failed
    outcome.data = {check: hook.data() for check, hook in checks.items()}
    if clock is not None:
        clock.stop()
        outcome.seconds = dict(clock.seconds)
    return outcome


#: ``walk_from(applied, steps)``: a fresh target with ``applied`` upgraded in one
#: transaction, then ``steps`` walked on it; ``None`` when that upgrade failed.
WalkFrom = Callable[[list[str], list[Step]], "WalkOutcome | None"]
#: ``merge(first, second)``: the walk checks' data of two walks, in walk order.
MergeData = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


def keep_walking(
    history: History,
    steps: Sequence[Step],
    outcome: WalkOutcome,
    walk_from: WalkFrom,
    merge: MergeData,
) -> WalkOutcome:
    """Go on after each failing step of a stairway (``keep_going``), so that one run
    reports every failing revision.

    After a failure at revision R the walk goes on with the revisions after R, from a
    fresh target upgraded in one transaction to where the walk stood: every revision up
    to R, R included. When R's own upgrade step failed, that one-transaction upgrade is
    what ``alembic upgrade R`` on an empty database would do, and it can pass where the
    step did not (one context remembers the enum types it created: optuna's v2.4.0.a);
    the revisions after R are then walked as separate commands would walk them. If it
    fails too, R cannot be applied and the revisions that need it are reported as not
    reached; the walk goes on with the others (other branches).
    """
    ids = history.ids
    failures: list[StepFailed] = []
    data = dict(outcome.data)
    seconds = dict(outcome.seconds)
    broken: set[str] = set()  # upgrades that failed, and every revision that needs one
    not_reached: list[str] = []
    while outcome.failure is not None:
        failed = outcome.failure
        failures.append(failed)
        position = ids.index(failed.step.revision)
        walked: WalkOutcome | None = None
        if failed.step.kind == "upgrade":
            later = {rev for rev in ids[position + 1 :] if rev not in broken}
            rest = [step for step in steps if step.revision in later]
            if rest:
                walked = walk_from([rev for rev in ids[: position + 1] if rev not in broken], rest)
            if walked is None:
                broken.add(failed.step.revision)
        if walked is None:
            for rev in ids[position + 1 :]:
                down = set(_compat.all_down_revisions(history.get(rev)))
                if rev not in broken and down & broken:
                    broken.add(rev)
                    not_reached.append(rev)
            later = {rev for rev in ids[position + 1 :] if rev not in broken}
            rest = [step for step in steps if step.revision in later]
            if not rest:
                break
            walked = walk_from([rev for rev in ids[: position + 1] if rev not in broken], rest)
            if walked is None:  # the state could not be rebuilt: the rest is not reached
                not_reached.extend(rev for rev in ids if rev in later)
                break
        outcome = walked
        data = merge(data, outcome.data)
        seconds.update(outcome.seconds)
    return WalkOutcome(
        failures[0] if failures else None, data, tuple(failures), tuple(not_reached), seconds
    )


def not_reached_after(history: History, failed: StepFailed) -> int:
    """How many revisions a walk that stopped at ``failed`` never reached."""
    return len(history.ids) - history.ids.index(failed.step.revision) - 1


def upgrade_error(history: History, failed: StepFailed) -> UpgradeError:
    rev = failed.step.revision
    return UpgradeError(
        f"Upgrade failed at revision {describe_revision(history, rev)}: {failed}",
        revision=rev,
        step="upgrade",
        problems=[str(failed)],
    )


def _not_implemented_hint(failed: StepFailed) -> str:
    """A downgrade that raises ``NotImplementedError`` is usually deliberate: name the
    setting that stops the walks there (every walk says it, not only downgrade_to_base)."""
    if failed.step.is_upgrade or not isinstance(failed.cause, NotImplementedError):
        return ""
    return (
        " The downgrade is not implemented; if that is deliberate, set "
        f"minimum_downgrade_revision={failed.step.revision!r} "
        "(CLI: --minimum-downgrade-revision)."
    )


def stairway_error(history: History, outcome: WalkOutcome) -> StairwayError:
    """The stairway's failure: the first failing step, or with ``keep_going`` every one
    (a line each in ``problems``: revision, step, message)."""
    failed = outcome.failure
    assert failed is not None
    rev = failed.step.revision
    if not outcome.failures:  # stopped at the first failure
        hint = _not_implemented_hint(failed)
        left = not_reached_after(history, failed)
        if outcome.part is not None and rev in outcome.part:  # later ones of the part only
            left = len(outcome.part) - outcome.part.index(rev) - 1
        unreached = (
            f" {left} later revision{'s were' if left != 1 else ' was'} not reached "
            "(keep_going=True, CLI --keep-going, walks on and reports every failing revision)."
            if left
            else ""
        )
        return StairwayError(
            f"Stairway failed at revision {describe_revision(history, rev)} in step "
            f"'{failed.step.label}': {failed}{'.' if hint or unreached else ''}{hint}{unreached}",
            revision=rev,
            step=failed.step.label,
            problems=[str(failed)],
        )
    lines = [f"{f.step.revision} {f.step.label}: {f}" for f in outcome.failures]
    count = len(outcome.failures)
    text = f"Stairway failed at {count} revision{'s' if count != 1 else ''}:\n" + "\n".join(
        f"  - {describe_revision(history, f.step.revision)} in step '{f.step.label}': {f}"
        for f in outcome.failures
    )
    if outcome.not_reached:
        text += (
            f"\nNot reached ({len(outcome.not_reached)}; they need a revision whose upgrade "
            f"failed, or the walk could not be rebuilt): {', '.join(outcome.not_reached)}"
        )
    return StairwayError(text, revision=rev, step=failed.step.label, problems=lines)


def downgrade_error(history: History, failed: StepFailed) -> DowngradeError:
    rev = failed.step.revision
    return DowngradeError(
        f"Downgrade failed at revision {describe_revision(history, rev)}: {failed}."
        f"{_not_implemented_hint(failed)}",
        revision=rev,
        step="downgrade",
        problems=[str(failed)],
    )
