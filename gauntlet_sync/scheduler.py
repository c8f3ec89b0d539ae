"""How checks run: one alone (``Gauntlet.check_<name>()``), or many sharing work (``run_all``).

``run_all`` groups the selected checks by what they need (:mod:`gauntlet_sync.checks`):

1. history checks, in the parent, with no database;
2. the head group on one schema: the upgrade, the guards (``isolation``), the reads and
   the consumers (``downgrade_to_base``), in that order;
3. the walk group: one stairway with every walk check's hooks on it.

Where it may (see :mod:`gauntlet_sync.forked`), the head group's reads and consumers run
in a forked child while the parent walks, once the guards saw nothing outside the schema
(two walks would otherwise meet each other's objects there), and a long walk with heavy
hooks is split: its first part walked here, the rest in a child that catches up without
hooks. Verdicts, messages and progress events are those of the serial run.
"""

from __future__ import annotations

import contextlib
import functools
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import psycopg
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from . import forked, interrupts, snapshot, walks
from .checks import CHECK_NAMES, CHECKS, DEFAULT_CHECKS, HeadCheck, HistoryCheck, WalkCheck
from .context import RunContext
from .errors import (
    CheckFailed,
    CheckSkipped,
    ConfigError,
    DatabaseUnavailableError,
    GauntletError,
    IsolationEscapeError,
)
from .report import CheckResult, CheckStarted
from .session import MigrationSession, Step, describe

#: From this many revisions on, run_all splits a walk with heavy hooks between two
#: processes (below it, forking and catching up cost more than the second CPU gives).
SPLIT_WALK_FROM = 40
#: The share of the revisions the parent walks: the child catches up on them without
#: hooks (about half the cost per revision with snapshots), then walks the rest with them.
SPLIT_SHARE = 0.62
_STAGES = ("prepare", "guard", "read", "consume")


# -- one check alone ----------------------------------------------------------------------


def run_alone(ctx: RunContext, name: str) -> list[str]:
    """Run check ``name`` in its own isolated schema; raises what it finds, returns its
    warnings."""
    check = CHECKS[name]
    if check.needs_revisions:
        ctx.require_revisions()
    if isinstance(check, HistoryCheck):
        return list(check.run(ctx) or ())
    if isinstance(check, HeadCheck):
        with ctx.session() as session:
            ctx.upgrade(session)
            return list(check.run(ctx, session) or ())
    if isinstance(check, WalkCheck):
        ctx = ctx.walk_view()
        if ctx.scope is not None and not ctx.scope.walked:
            raise CheckSkipped(nothing_walked(ctx))
        with ctx.session() as session:
            outcome = walk_once(ctx, session, [check])
        error = check.judge(ctx, outcome)
        if error is not None:
            raise error
        return list(check.warnings(ctx, outcome))
    return []


def walk_once(
    ctx: RunContext, session: MigrationSession, checks: Sequence[WalkCheck]
) -> walks.WalkOutcome:
    """The stairway on ``session`` with ``checks``' hooks; with ``keep_going`` on past
    each failing revision (see :func:`walks.keep_walking`). A scoped walk (``ctx`` is a
    :meth:`RunContext.walk_view`) starts from the state before its first revision."""
    build_start(ctx, session)
    steps = ctx.stairway_plan()
    outcome = _in_part(ctx, ctx.walk(session, steps, "stairway", _hooks(ctx, session, checks)))
    if outcome.failure is None or not ctx.config.keep_going:
        return outcome

    def walk_from(applied: list[str], rest: list[Step]) -> walks.WalkOutcome | None:
        """A fresh schema upgraded to ``applied`` in one transaction, then ``rest``."""
        with ctx.session() as fresh:
            rebuild = [
                Step(rev, "upgrade", "upgrade (rebuilding after a failure)") for rev in applied
            ]
            if ctx.walk(fresh, rebuild, "rebuild", one_transaction=True).failure is not None:
                return None
            ids = ctx.history.ids
            return ctx.walk(
                fresh,
                rest,
                "stairway",
                _hooks(ctx, fresh, checks),
                first_index=ids.index(rest[0].revision),
                total=len(ids),
            )

    def merge(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
        return {
            check.name: check.merge(first[check.name], second[check.name])
            for check in checks
            if check.name in first and check.name in second
        }

    kept = walks.keep_walking(ctx.history, steps, outcome, walk_from, merge)
    walked = set(ctx.scope.walked) if ctx.scope is not None else None
    if walked is not None:  # revisions after the part are another run's
        kept.not_reached = tuple(r for r in kept.not_reached if r in walked)
    return kept


def build_start(ctx: RunContext, session: MigrationSession) -> None:
    """Upgrade ``session`` to the state before the part walked, in one transaction (as
    ``alembic upgrade <rev>`` on a fresh database); a failure is no verdict on the part
    (the run that walks the failing revision reports it), so it is this walk's error."""
    if session.memo.get(START_BUILT):  # built already (beside the head upgrade, say)
        return
    start = ctx.start_revisions()
    if not start:
        return
    built = ctx.walk(session, start_steps(start), "start state", one_transaction=True)
    session.memo[START_BUILT] = built.failure is None
    if built.failure is not None:
        raise GauntletError(
            f"Could not build the state the walk starts from (every revision before "
            f"{ctx.scope.walked[0] if ctx.scope else '?'}, upgraded in one transaction): "
            f"{built.failure.step.revision}: {built.failure}. The run that walks "
            f"{built.failure.step.revision} reports it."
        )


def start_steps(revisions: Sequence[str]) -> list[Step]:
    """The one-transaction upgrade that builds a part's start state."""
    return [Step(rev, "upgrade", "upgrade (the state before the part walked)") for rev in revisions]


#: ``session.memo`` key: the session holds the walk's start state already.
START_BUILT = "start state built"


def nothing_walked(ctx: RunContext) -> str:
    """Why a scoped run walks nothing."""
    scope = ctx.scope
    note = f"{scope.note}: " if scope is not None and scope.note else ""
    return f"{note}no revision to walk in this run."


def _hooks(
    ctx: RunContext, session: MigrationSession, checks: Sequence[WalkCheck]
) -> dict[str, walks.CheckHooks]:
    made = {check.name: check.hooks(ctx, session) for check in checks}
    return {name: hooks for name, hooks in made.items() if hooks is not None}


# -- run_all ------------------------------------------------------------------------------


def select(
    checks: Iterable[str] | None, skip: Iterable[str], extra: Iterable[str] = ()
) -> list[str]:
    """The checks to run, in report order (unknown names are a ConfigError): ``checks``,
    or else the default set plus ``extra`` (``GauntletConfig.extra_checks``: checks that
    are off by default, turned on)."""
    added = list(extra)
    wanted = [*DEFAULT_CHECKS, *added] if checks is None else list(checks)
    skipped = list(skip)
    unknown = [n for n in wanted + skipped + added if n not in CHECK_NAMES]
    if unknown:
        raise ConfigError(
            f"Unknown check name(s): {', '.join(unknown)}. Known checks: {', '.join(CHECK_NAMES)}."
        )
    return [n for n in CHECK_NAMES if n in wanted and n not in skipped]


def run_all(ctx: RunContext, selected: Sequence[str]) -> dict[str, CheckResult]:
    """Run ``selected`` (in report order), sharing work; every check's result."""
    results: dict[str, CheckResult] = {}
    run = Recorder(ctx, results)
    chosen = [CHECKS[n] for n in selected]
    for check in chosen:
        if isinstance(check, HistoryCheck):
            run.one(check.name, functools.partial(check.run, ctx))
    head = [c for c in chosen if isinstance(c, HeadCheck)]
    walk = [c for c in chosen if isinstance(c, WalkCheck)]
    if ctx.scope is not None and ctx.scope.head_checks_elsewhere and head:
        index, total = ctx.scope.shard or (1, 1)
        for check in head:
            run.skip(
                check.name,
                f"head-state checks run in shard 1 of {total} (this is shard "
                f"{index}): see that shard's report",
            )
        head = []
    names = [c.name for c in (*head, *walk)]
    if head:
        run.group(names, lambda: _run_head_group(ctx, run, head, walk))
    elif walk:
        run.group(names, lambda: _run_walk_group(ctx, run, walk, may_split=False))
    return results


class Recorder:
    """Times checks and turns their outcomes into results (and progress events)."""

    def __init__(self, ctx: RunContext, results: dict[str, CheckResult]) -> None:
        self.ctx = ctx
        self.results = results

    def one(
        self, name: str, body: Callable[[], Any], *, record: bool = True
    ) -> GauntletError | None:
        """Run ``body``; returns the error that stopped it (``None`` if it passed)."""
        interrupts.check()  # a signal's exception dropped by the last check's code
        if record:
            self.ctx.emit(CheckStarted(name))
        started = time.perf_counter()
        error: GauntletError | None = None
        warned: Any = None
        try:
            warned = body()
        except (DatabaseUnavailableError, ConfigError):
            raise  # no later check can run either (a broken env.py, an unreachable server)
        except (DBAPIError, psycopg.Error) as exc:  # the head-state checks query directly
            lost = self.ctx.workspace.lost(exc, f"running {name}")
            if lost is not None:
                raise lost from exc
            error = self.unexpected(name, exc)
        except CheckSkipped as exc:
            if record:
                self._store(
                    CheckResult(name, "skipped", time.perf_counter() - started, reason=str(exc))
                )
            return None
        except GauntletError as exc:
            error = exc
        except Exception as exc:  # a failure of this check's own work: its result, not the run's
            error = self.unexpected(name, exc)
        if record:
            found = tuple(warned) if isinstance(warned, (list, tuple)) else ()
            self.finish(name, time.perf_counter() - started, error, found)
        return error

    def finish(
        self,
        name: str,
        seconds: float,
        error: GauntletError | None,
        noticed: tuple[str, ...] = (),
        per_revision: tuple[dict[str, Any], ...] = (),
    ) -> None:
        """Record the verdict; a check's warnings come back as its body's return value
        (passed) or on its CheckFailed (failed); ``per_revision``: a walk check's table."""
        rows = per_revision
        if error is None:
            result = CheckResult(name, "passed", seconds, warnings=noticed, per_revision=rows)
        elif isinstance(error, CheckSkipped):  # a walk check with nothing to judge
            result = CheckResult(name, "skipped", seconds, reason=str(error))
        elif isinstance(error, CheckFailed) and error.check == name:
            result = CheckResult(
                name, "failed", seconds, error=error, warnings=error.warnings, per_revision=rows
            )
        else:  # a walk that stopped short: its table would be a part of one
            result = CheckResult(name, "error", seconds, error=error, reason=str(error))
        self._store(result)

    def unexpected(self, name: str, exc: BaseException) -> GauntletError:
        """An error no check expects (a bug, a driver surprise), as ``name``'s error."""
        error = GauntletError(f"{name} could not finish: {describe(exc, self.ctx.workspace.url)}")
        error.__cause__ = exc
        return error

    def group(self, names: Sequence[str], body: Callable[[], None]) -> None:
        """Run checks that share work; an error that escapes them becomes the error result
        of each of ``names`` that has none yet, so the report still holds every check.
        Only what stops every check is raised (configuration, an unreachable server), and
        an error no check is left to carry (the schema could not be dropped)."""
        interrupts.check()
        started = time.perf_counter()
        try:
            body()
        except (DatabaseUnavailableError, ConfigError):
            raise
        except Exception as exc:
            if isinstance(exc, (DBAPIError, psycopg.Error)):
                lost = self.ctx.workspace.lost(exc, f"running {', '.join(names)}")
                if lost is not None:
                    raise lost from exc
            open_names = [n for n in names if n not in self.results]
            if not open_names:
                raise
            error = exc if isinstance(exc, GauntletError) else self.unexpected(open_names[0], exc)
            seconds = time.perf_counter() - started
            for name in open_names:
                self._store(CheckResult(name, "error", seconds, error=error, reason=str(error)))

    def blocked(self, name: str, cause: GauntletError) -> None:
        self.ctx.emit(CheckStarted(name))
        self._store(CheckResult(name, "error", 0.0, error=cause, reason=f"could not run: {cause}"))

    def skip(self, name: str, reason: str) -> None:
        self.ctx.emit(CheckStarted(name))
        self._store(CheckResult(name, "skipped", 0.0, reason=reason))

    def _store(self, result: CheckResult) -> None:
        self.results[result.name] = result
        self.ctx.emit(result)


def _run_head_group(
    ctx: RunContext, run: Recorder, checks: Sequence[HeadCheck], walk: Sequence[WalkCheck]
) -> None:
    """The upgrade, then the guards, reads and consumers: one schema; then the walk group.
    Once the upgrade is in and reached nowhere outside the schema, the reads and consumers
    run in a forked child while this process walks.

    A walk over a part of the history (changed_since, shard) starts from a state built by
    a one-transaction upgrade of its own: a forked child builds it while this process
    upgrades the head state (:class:`_StartBeside`). Should either upgrade have reached
    outside its schema, or changed an object that lives in no schema, the two may have met
    there: both are thrown away and the group runs again, one upgrade after the other (the
    upgrade's progress is then reported twice); verdicts are those of the serial run."""
    with contextlib.ExitStack() as later:
        if _head_group_once(ctx, run, checks, walk, later, early=True):
            return
    with contextlib.ExitStack() as later:
        _head_group_once(ctx, run, checks, walk, later, early=False)


def _head_group_once(
    ctx: RunContext,
    run: Recorder,
    checks: Sequence[HeadCheck],
    walk: Sequence[WalkCheck],
    later: contextlib.ExitStack,
    *,
    early: bool,
) -> bool:
    """:func:`_run_head_group`, once; ``False`` when the start state built beside the
    head upgrade met it (nothing recorded since needs keeping: run it again serially).
    ``later`` holds that start state's session until the walk is done."""
    ordered = sorted(checks, key=lambda c: _STAGES.index(c.stage))
    prepare = [c for c in ordered if c.stage == "prepare"]
    guards = [c for c in ordered if c.stage == "guard"]
    rest = [c for c in ordered if c.stage in ("read", "consume")]
    start: MigrationSession | None = None
    with ctx.session() as session:
        may_fork = bool(walk) and _may_fork(ctx)
        database_wide = _database_wide(ctx) if may_fork else None
        beside = _StartBeside.begin(ctx, later) if early and may_fork else None
        upgrading = ctx if beside is None else ctx.with_progress(beside.relay.progress)
        with beside.stopped_on_error() if beside is not None else contextlib.nullcontext():
            upgrade_failed = run.one(
                prepare[0].name if prepare else "upgrade",
                lambda: upgrading.upgrade(session),
                record=bool(prepare),
            )
        if beside is not None:
            with beside.stopped_on_error():  # an interrupt while waiting ends the child too
                beside.finish()
            if (
                isinstance(upgrade_failed, IsolationEscapeError)
                or ctx.escapes(session)
                or beside.escaped()
                or _database_wide(ctx) != database_wide
            ):
                # The start state's escapes are undone first, quietly: its snapshot of the
                # outside predates the head upgrade's objects, which it cannot undo. The
                # head session's own look, which predates both, then warns of what is left.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    later.close()
                return False
            start = beside.session if beside.built else None
        if upgrade_failed is not None:
            escaped = isinstance(upgrade_failed, IsolationEscapeError)
            for check in ordered:
                if escaped and check.name == "isolation":
                    run.finish(check.name, 0.0, upgrade_failed)
                elif check.stage != "prepare":
                    run.blocked(check.name, upgrade_failed)
            if escaped:  # every walk would reach outside again (and be stopped again)
                for walk_check in walk:
                    run.blocked(walk_check.name, upgrade_failed)
                return True
        else:
            for check in guards:
                run.one(check.name, functools.partial(check.run, ctx, session))
            # Two walks at once only where it cannot change a verdict: migrations that
            # reach outside the schema, or make objects that live in no schema
            # (extensions), would meet their own objects there.
            if may_fork and not ctx.escapes(session) and _database_wide(ctx) == database_wide:
                _walk_beside_child(ctx, run, session, rest, walk, start)
                return True
            for check in rest:
                run.one(check.name, functools.partial(check.run, ctx, session))
    if walk:
        _run_walk_group(ctx, run, walk, may_split=False, start=start)
    return True


class _StartBeside:
    """The walk's start state (a one-transaction upgrade of every revision before the part
    walked, as ``alembic upgrade <rev>`` on a fresh database), built in a forked child on
    a session of its own while this process upgrades the head state: two upgrades of up
    to the whole history, on two CPUs. The child's progress events come through
    :attr:`relay`; once :meth:`finish` returns, :attr:`built` says whether the state is
    there, committed, for this process to walk from on :attr:`session`."""

    def __init__(self, ctx: RunContext, session: MigrationSession, child: forked.Child) -> None:
        self.ctx = ctx
        self.session = session
        self.child = child
        self.relay = forked.Relay(child, ctx.progress)
        self.built = False

    @classmethod
    def begin(cls, ctx: RunContext, later: contextlib.ExitStack) -> _StartBeside | None:
        """The child at work, or ``None`` when there is no start state to build (a full
        walk, or a part that starts at base) or no fork to be had."""
        revisions = ctx.start_revisions()
        if not revisions:
            return None
        session = later.enter_context(ctx.session())  # made here: the run's own schema

        def child_body(send: forked.Send) -> None:
            child_ctx = become_child(ctx, send, session)
            built = child_ctx.walk(
                session, start_steps(revisions), "start state", one_transaction=True
            )
            session.close()
            send(forked.WalkDone(built))

        child = forked.start(child_body)
        return None if child is None else cls(ctx, session, child)

    def stopped_on_error(self) -> contextlib.AbstractContextManager[forked.Child]:
        return forked.stopped_on_error(self.child)

    def finish(self) -> None:
        """Wait for the child; its errors are the start state's (built again serially)."""
        self.relay.finish()
        outcome = self.relay.walk.outcome if self.relay.walk is not None else None
        self.built = not self.relay.raised and outcome is not None and outcome.failure is None
        if self.built:
            self.session.memo[START_BUILT] = True

    def escaped(self) -> bool:
        """Whether building the start state changed anything outside its schema."""
        return bool(self.ctx.workspace.escapes(self.session))


def _may_fork(ctx: RunContext) -> bool:
    return ctx.config.parallel and forked.possible()


def _database_wide(ctx: RunContext) -> snapshot.Snapshot:
    """Objects that live in no schema (extensions, roles...). Migrations that make or
    change one may not run beside another walk: its schema would meet them
    (``CREATE EXTENSION IF NOT EXISTS`` there finds the extension made in this one)."""
    try:
        with ctx.workspace.engine.connect() as conn:
            return snapshot.take_database_wide(conn)
    except DBAPIError as exc:
        lost = ctx.workspace.lost(exc, "reading the database-wide catalog")
        if lost is None:
            raise
        raise lost from exc


def become_child(ctx: RunContext, send: forked.Send, session: MigrationSession) -> RunContext:
    """In a forked child: new connections of its own; progress events go into the pipe."""
    # Pooled connections are the parent's: the child must not share their sockets, ours
    # or an engine the project handed its env.py through config.attributes.
    workspace = ctx.workspace
    for engine in (workspace.engine, *workspace.alembic_config.attributes.values()):
        if isinstance(engine, Engine):
            engine.dispose(close=False)
    session.forget_connection()
    if ctx.progress is None:
        return ctx
    return ctx.with_progress(lambda event: send(forked.Event(event)))


def _walk_beside_child(
    ctx: RunContext,
    run: Recorder,
    session: MigrationSession,
    checks: Sequence[HeadCheck],
    walk: Sequence[WalkCheck],
    start: MigrationSession | None = None,
) -> None:
    """The walk group here (from ``start``, a session holding the walk's start state, if
    given), ``checks`` in a forked child on ``session``'s schema (which this process
    keeps, and drops once the child is done)."""

    def child_body(send: forked.Send) -> None:
        child_ctx = become_child(ctx, send, session)
        results: dict[str, CheckResult] = {}
        recorder = Recorder(child_ctx, results)
        for check in checks:
            recorder.one(check.name, functools.partial(check.run, child_ctx, session))
        session.close()
        send(forked.Results(results))

    child = forked.start(child_body)
    if child is None:  # no fork to be had: one after the other
        for check in checks:
            run.one(check.name, functools.partial(check.run, ctx, session))
        _run_walk_group(ctx, run, walk, may_split=True, start=start)
        return
    relay = forked.Relay(child, ctx.progress, on_results=run.results.update)
    relayed = ctx.with_progress(relay.progress)
    with forked.stopped_on_error(child):
        _run_walk_group(
            relayed, Recorder(relayed, run.results), walk, may_split=True, start=start
        )
        relay.finish()
    if relay.raised:
        raise relay.raised[0]


def _run_walk_group(
    ctx: RunContext,
    run: Recorder,
    checks: Sequence[WalkCheck],
    *,
    may_split: bool,
    start: MigrationSession | None = None,
) -> None:
    """The walk checks ride one walk (split between two processes when ``may_split``:
    run_all saw the upgrade stay inside its schema), on ``start`` when given (a session
    holding the start state already)."""
    interrupts.check()
    if not ctx.history.ids:
        for check in checks:
            run.skip(check.name, walks.NOTHING_TO_WALK)
        return
    if ctx.scope is not None and not ctx.scope.walked:
        for check in checks:
            run.skip(check.name, nothing_walked(ctx))
        return
    ctx = ctx.walk_view()
    for check in checks:
        ctx.emit(CheckStarted(check.name))
    # An error the walk cannot turn into a verdict is these checks' own: the checks
    # running beside it in a forked child still finish and report.
    run.group(
        [c.name for c in checks], lambda: _walk_and_judge(ctx, run, checks, may_split, start)
    )


def _walk_and_judge(
    ctx: RunContext,
    run: Recorder,
    checks: Sequence[WalkCheck],
    may_split: bool,
    start: MigrationSession | None = None,
) -> None:
    started = time.perf_counter()
    try:
        given = contextlib.nullcontext(start) if start is not None else None
        with given or ctx.session() as session:
            part = ctx.scope.walked if ctx.scope is not None else ctx.history.ids
            split = (
                # a part of the history is split too, verified afterwards when no head
                # upgrade showed the migrations staying in their schema (see split_walk)
                (may_split or ctx.scope is not None)
                and not ctx.config.keep_going  # a failure ends a split walk
                and any(c.heavy_hooks for c in checks)
                and len(part) >= SPLIT_WALK_FROM
                and _may_fork(ctx)
            )
            outcome = (
                split_walk(ctx, session, checks, not may_split)
                if split
                else walk_once(ctx, session, checks)
            )
        ctx.walk_seconds.update(outcome.seconds)
    except IsolationEscapeError as escape:  # stopped before a commit: nothing to judge
        for check in checks:
            run.finish(check.name, time.perf_counter() - started, escape)
        return
    seconds = time.perf_counter() - started
    for check in checks:
        run.finish(
            check.name,
            seconds,
            check.judge(ctx, outcome),
            tuple(check.warnings(ctx, outcome)),
            tuple(check.per_revision(ctx, outcome)),
        )


def split_walk(
    ctx: RunContext, session: MigrationSession, checks: Sequence[WalkCheck], verify: bool = False
) -> walks.WalkOutcome:
    """The stairway, its first revisions walked here and the rest in a forked child, which
    first catches up through the same steps (without hooks, about half their cost) so
    that it goes on from the very state this walk reaches. A failure here ends the walk,
    as unsplit; a child that cannot finish leaves the rest to this process. Either way
    the outcome is the one walk's. Progress comes from both processes as it happens (the
    revisions the child reached are reported again if this process walks them itself).

    A part of the history (changed_since, shard) is split alike: both processes start
    from its start state, each built by its own one-transaction upgrade. ``verify``: no
    head upgrade has shown that the migrations stay in their schema (a shard that leaves
    the head-state checks to shard 1): should either process's walk reach outside its
    schema or change a database-wide object, the two may have met there, and the walk
    is made again unsplit on a fresh schema (its progress reported again)."""
    steps = ctx.stairway_plan()
    part = list(ctx.scope.walked) if ctx.scope is not None else list(ctx.history.ids)
    split = max(1, min(len(part) - 1, round(len(part) * SPLIT_SHARE)))
    cut_at = next(i for i, step in enumerate(steps) if step.revision == part[split])
    first, rest = steps[:cut_at], steps[cut_at:]
    first_index = len({step.revision for step in first})
    total = len({step.revision for step in steps})
    database_wide = _database_wide(ctx) if verify else None
    head: walks.WalkOutcome | None = None
    with contextlib.ExitStack() as beside:
        other = beside.enter_context(ctx.session())

        def child_body(send: forked.Send) -> None:
            child_ctx = become_child(ctx, send, other)
            build_start(child_ctx.with_progress(None), other)  # this process reported it
            caught_up = walks.walk(
                other, first, name="catch up", revision_data=ctx.config.revision_data
            )
            if caught_up.failure is not None:
                send(forked.WalkDone(None))
                return
            tail = child_ctx.walk(
                other,
                rest,
                "stairway",
                _hooks(child_ctx, other, checks),
                first_index=first_index,
                total=total,
            )
            other.close()
            send(forked.WalkDone(tail))

        child = forked.start(child_body)
        if child is None:
            return walk_once(ctx, session, checks)
        # The child's steps are reported as they happen, between this process's own: each
        # part in its order (Reached counts them as one walk for the CLI's line and bar).
        relay = forked.Relay(child, ctx.progress)
        relayed = ctx.with_progress(relay.progress)
        with forked.stopped_on_error(child):
            build_start(relayed, session)  # while the child builds its own
            hooks = _hooks(ctx, session, checks)
            head = relayed.walk(session, first, "stairway", hooks, total=total)
            if head.failure is not None:
                child.stop()
            else:
                relay.finish()
        if verify and (
            ctx.workspace.escapes(session)
            or ctx.workspace.escapes(other)
            or _database_wide(ctx) != database_wide
        ):
            # Both undone before the walk is made again (the child's schema dropped): each
            # one's look at the outside sees the other's objects too, so quietly; the
            # session's own teardown looks again and warns of what is left.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                beside.close()
                ctx.workspace.undo_escapes(session)
            with ctx.session() as fresh:
                return walk_once(ctx, fresh, checks)
    assert head is not None
    if head.failure is not None:
        return _in_part(ctx, head)
    tail: walks.WalkOutcome | None = relay.walk.outcome if relay.walk else None
    if tail is None:  # the child failed to catch up or raised: walk the rest here
        return _in_part(
            ctx, ctx.walk(session, rest, "stairway", hooks, first_index=first_index, total=total)
        )
    merged = {
        check.name: check.merge(head.data[check.name], tail.data[check.name])
        for check in checks
        if check.name in head.data
    }
    return _in_part(
        ctx, walks.WalkOutcome(tail.failure, merged, seconds={**head.seconds, **tail.seconds})
    )


def _in_part(ctx: RunContext, outcome: walks.WalkOutcome) -> walks.WalkOutcome:
    """``outcome`` (of a walk over the history or a part of it) saying which part."""
    if ctx.scope is not None:
        outcome.part = ctx.scope.walked
    return outcome
