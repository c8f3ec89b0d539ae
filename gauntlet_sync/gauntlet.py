"""``Gauntlet``: the blocking façade. Each ``check_*`` method is short and delegates.

The object owns one engine, the alembic config and the revision history (loaded once).
A check called on its own runs in its own isolated schema; ``run_all`` lets the checks
that only read the head state share one upgrade, and lets the stairway and the no-trace
comparison share one walk, so no work is done twice; where it may (see ``forked``), it
runs the head-state checks beside the walk, and splits long walks, in forked children.
"""

from __future__ import annotations

import contextlib
import functools
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import psycopg
from sqlalchemy import Engine, MetaData
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from . import database, forked, janitor, snapshot, walks
from .checks import drift, naming
from .config import CHECK_NAMES, GauntletConfig, load_alembic_config, resolve_metadata
from .dsn import mask, redact
from .errors import (
    CheckFailed,
    CheckSkipped,
    ConfigError,
    DatabaseUnavailableError,
    GauntletError,
    GauntletFailed,
    IsolationError,
    IsolationEscapeError,
    MultipleHeadsError,
)
from .history import History
from .isolated import IsolatedDatabase
from .report import CheckResult, CheckStarted, Report
from .session import MigrationSession, Progress, connection_lost

ProgressEvent = CheckStarted | Progress | CheckResult
HEAD_STATE_CHECKS = ("models_match", "check_constraints", "enums", "naming")
NOTHING_TO_WALK = "The history has no revisions: nothing to walk."
#: From this many revisions on, run_all splits the stairway with no_trace between two
#: processes (below it, forking and catching up cost more than the second CPU gives).
SPLIT_WALK_FROM = 40
#: The share of the revisions the parent walks: the child catches up on them without
#: snapshots (about half the cost per revision), then walks the rest with them.
SPLIT_SHARE = 0.62


class Gauntlet:
    """Puts one Alembic history through the checks against one PostgreSQL.

    ``dsn=None`` uses the process-wide embedded server. Use it as a context manager (or
    call :meth:`close`) so the engine is disposed.
    """

    def __init__(
        self,
        dsn: str | URL | None = None,
        config: GauntletConfig | None = None,
        *,
        progress: Callable[[ProgressEvent], None] | None = None,
    ) -> None:
        self.config = config if config is not None else GauntletConfig()
        self.progress = progress
        self.alembic_config = load_alembic_config(self.config)
        self.history = History(self.alembic_config)
        self._metadata: MetaData | None = resolve_metadata(self.config.metadata)
        # Revisions the walks never step down (a typed error if the floor is unknown).
        self._irreversible = self.history.irreversible(self.config.minimum_downgrade_revision)
        self.url = database.resolve(dsn, self.config.connect_timeout)
        self.engine: Engine = database.open_engine(self.url)

    # -- lifecycle --------------------------------------------------------------------

    def __enter__(self) -> Gauntlet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()

    @property
    def target(self) -> str:
        """The database in use, password masked."""
        return mask(self.url)

    # -- isolation --------------------------------------------------------------------

    def _create_target(
        self,
    ) -> tuple[contextlib.AbstractContextManager[janitor.Target], janitor.Target]:
        """Enter a fresh isolated schema or database, with typed errors naming the fix."""
        cfg = self.config
        make = janitor.isolated_database if cfg.isolation == "database" else janitor.isolated_schema
        try:
            target_cm = make(self.engine, cfg.schema_prefix)
            return target_cm, target_cm.__enter__()
        except (DBAPIError, psycopg.Error) as exc:  # isolation runs psycopg.sql directly
            lost = self._lost(exc, f"creating the isolated {cfg.isolation}")
            if lost is not None:
                raise lost from None
            raise DatabaseUnavailableError(self._refused(exc)) from None

    def _refused(self, exc: Exception) -> str:
        """What the server refused, in its own words; the GRANT that fixes it only when
        the refusal was a missing privilege (a read-only role or a full disk is not)."""
        cfg = self.config
        cause = exc.orig if isinstance(exc, DBAPIError) else exc
        reason = redact(" ".join(str(cause).split()), self.url)
        message = f"Cannot create the isolated {cfg.isolation} on {self.target}: {reason}."
        if getattr(cause, "sqlstate", None) != "42501":  # insufficient_privilege
            return message + " Fix that on the server, or use another DSN."
        user, database = self.url.username or "<user>", self.url.database or "<database>"
        if cfg.isolation == "database":
            return message + f" The role needs CREATEDB (ALTER ROLE {user} CREATEDB)."
        return (
            message + " The role needs CREATE on the database "
            f"(GRANT CREATE ON DATABASE {database} TO {user})."
        )

    @contextlib.contextmanager
    def _session(self) -> Iterator[MigrationSession]:
        """A fresh isolated target with a migration session on it; both gone afterwards."""
        cfg = self.config
        target_cm, target = self._create_target()
        session = MigrationSession(
            self.history,
            self.alembic_config,
            target,
            lock_timeout=cfg.lock_timeout,
            statement_timeout=cfg.statement_timeout,
            connect_timeout=cfg.connect_timeout,
        )
        try:
            session.outside_at_start = self._outside(session)
            if cfg.prepare is not None:
                with session.connection.begin():
                    cfg.prepare(session.connection)
            yield session
            self._undo_escapes(session)
        except BaseException:
            with contextlib.suppress(Exception):
                self._undo_escapes(session)
            session.close()
            with contextlib.suppress(IsolationError):  # the first error is the one to see
                target_cm.__exit__(None, None, None)
            raise
        session.close()
        target_cm.__exit__(None, None, None)

    # -- shared steps -----------------------------------------------------------------

    def _emit(self, event: ProgressEvent) -> None:
        if self.progress is not None:
            self.progress(event)

    def _walk(
        self,
        session: MigrationSession,
        steps: Sequence[walks.Step],
        name: str,
        trace: walks.TraceWatch | None = None,
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
            trace=trace,
            progress=self._emit if self.progress else None,
            commit_each_step=not one_transaction,
            first_index=first_index,
            total=total,
        )

    def _upgrade(self, session: MigrationSession) -> None:
        # One transaction, as `alembic upgrade heads` on a fresh database would run it.
        outcome = self._walk(
            session, walks.upgrade_plan(self.history), "upgrade", one_transaction=True
        )
        if outcome.failure is not None:
            raise walks.upgrade_error(self.history, outcome.failure)

    def _require_revisions(self) -> None:
        if not self.history.ids:
            raise CheckSkipped(NOTHING_TO_WALK)

    def _models(self, session: MigrationSession) -> MetaData:
        metadata = self._metadata or session.env_metadata
        if isinstance(metadata, (list, tuple)):
            metadata = metadata[0] if len(metadata) == 1 else None
        if not isinstance(metadata, MetaData):
            raise CheckSkipped(
                "No models to compare: pass metadata= (CLI: --metadata module:attr) or set "
                "target_metadata in env.py."
            )
        return metadata

    # -- the checks -------------------------------------------------------------------

    def check_single_head(self) -> None:
        heads = self.history.heads
        if len(heads) > 1:
            raise MultipleHeadsError(
                f"The history has {len(heads)} heads: {', '.join(heads)}. Merge them with "
                f"`alembic merge -m 'merge heads' {' '.join(heads)}`.",
                problems=[f"head {h}" for h in heads],
            )

    def check_upgrade(self) -> None:
        with self._session() as session:
            self._upgrade(session)

    def check_stairway(self) -> None:
        self._require_revisions()
        with self._session() as session:
            outcome = self._stairway(session, trace=False)
        if outcome.failure is not None:
            raise walks.stairway_error(self.history, outcome.failure)

    def check_downgrade_to_base(self) -> None:
        self._require_revisions()
        with self._session() as session:
            self._upgrade(session)
            self._downgrade(session)

    def check_models_match(self) -> None:
        with self._session() as session:
            self._upgrade(session)
            self._models_match(session)

    def check_check_constraints(self) -> None:
        with self._session() as session:
            self._upgrade(session)
            self._check_constraints(session)

    def check_enums(self) -> None:
        with self._session() as session:
            self._upgrade(session)
            self._enums(session)

    def check_naming(self) -> list[str]:
        """Raises on names that differ from the models; returns the warnings (explicit
        names in the models that break their own naming_convention)."""
        with self._session() as session:
            self._upgrade(session)
            return self._naming(session)

    def check_isolation(self) -> None:
        with self._session() as session:
            self._upgrade(session)
            self._raise_for_escapes(session, self._escapes(session))

    def check_no_trace(self) -> None:
        self._require_revisions()
        with self._session() as session:
            outcome = self._stairway(session, trace=True)
        self._raise_for_traces(outcome)

    # -- check bodies on a prepared session ----------------------------------------------

    def _outside(self, session: MigrationSession) -> snapshot.Snapshot | None:
        """What lies outside the isolated schema (None when the whole database is ours)."""
        if session.target.database is not None:
            return None
        try:
            with self.engine.connect() as conn:
                return snapshot.take_outside(conn, session.target.schema)
        except DBAPIError as exc:
            lost = self._lost(exc, "reading the catalog outside the isolated schema")
            if lost is None:
                raise
            raise lost from exc

    def _lost(self, exc: Exception, doing: str) -> DatabaseUnavailableError | None:
        """A connection lost outside a migration step is the same typed error as inside one
        (the server may die between checks); ``None`` when ``exc`` is something else."""
        reason = connection_lost(exc)
        if reason is None:
            return None
        if isinstance(exc, DBAPIError) and exc.orig is not None:
            reason = str(exc.orig)  # without SQLAlchemy's wrapping and background link
        reason = " ".join(reason.split())
        return DatabaseUnavailableError(
            f"The database went away while {doing}: {redact(reason, self.url)}. "
            "Is the server running?"
        )

    def _escapes(self, session: MigrationSession) -> list[str]:
        """What the session's migrations created, dropped or changed outside its schema
        (nothing to look at when the whole database is the run's)."""
        before = session.outside_at_start
        after = self._outside(session)
        return [] if before is None or after is None else snapshot.escapes(before, after)

    def _undo_escapes(self, session: MigrationSession) -> None:
        """Objects a migration put outside the schema are not ours to drop, but they are
        its own downgrades' to undo: step the history down to base before leaving."""
        if not self._escapes(session):
            return
        not_applied = frozenset(self.history.ids) - self.history.ancestors(session.current_heads())
        walks.walk(session, walks.downgrade_plan(self.history, not_applied), name="undo escapes")
        left = self._escapes(session)
        if left:
            warnings.warn(
                "gauntlet-sync: migrations left objects outside the isolated schema that their "
                "downgrades did not remove: " + "; ".join(left),
                stacklevel=2,
            )

    def _raise_for_escapes(self, session: MigrationSession, lines: list[str]) -> None:
        if session.outside_at_start is None:
            raise CheckSkipped("isolation='database': the whole database belongs to the run.")
        if lines:
            raise IsolationEscapeError.listing(
                "The migrations reached outside the isolated schema "
                f"{session.target.schema} (schema-qualified names, or SET search_path in a "
                "migration); gauntlet-sync does not drop what it did not create",
                lines,
            )

    def _trace_watch(self, session: MigrationSession) -> walks.TraceWatch:
        return walks.TraceWatch(session, self.config.ignored_tables, self._irreversible)

    def _stairway(self, session: MigrationSession, *, trace: bool) -> walks.WalkOutcome:
        watch = self._trace_watch(session) if trace else None
        return self._walk(
            session, walks.stairway_plan(self.history, self._irreversible), "stairway", watch
        )

    def _raise_for_traces(self, outcome: walks.WalkOutcome) -> None:
        """Traces fail the check; a walk that stopped before comparing every downgrade
        leaves it unable to judge the rest (an error), unless nothing was left to compare."""
        if outcome.traces:
            raise walks.trace_error(self.history, outcome.traces)
        to_compare = set(self.history.ids) - self._irreversible
        if outcome.failure is not None and not to_compare <= outcome.compared:
            raise walks.stairway_error(self.history, outcome.failure)

    def _downgrade(self, session: MigrationSession) -> None:
        self._require_revisions()
        outcome = self._walk(
            session, walks.downgrade_plan(self.history, self._irreversible), "downgrade_to_base"
        )
        if outcome.failure is not None:
            raise walks.downgrade_error(self.history, outcome.failure)

    def _models_match(self, session: MigrationSession) -> None:
        metadata = self._metadata
        used, diffs = session.compare(
            metadata, compare_server_default=self.config.compare_server_default
        )
        if used is None:
            self._models(session)  # raises the skip with its reason
        error = drift.models_match_error(diffs, self.config.ignored_tables)
        if error is not None:
            raise error

    def _check_constraints(self, session: MigrationSession) -> None:
        scope = self._scope(session)
        metadata = self._models(session)
        error = drift.check_constraints_error(
            session.connection, session.target.schema, metadata, scope
        )
        if error is not None:
            raise error

    def _enums(self, session: MigrationSession) -> None:
        metadata = self._models(session)
        error = drift.enums_error(
            session.connection, session.target.schema, metadata, self.config.ignored_tables
        )
        if error is not None:
            raise error

    def _scope(self, session: MigrationSession) -> naming.Scope:
        """What env.py lets autogenerate see (include_name, include_object), less the
        ignored tables and the version table: the models checks judge that and no more."""
        ignored = self.config.ignored_tables
        scope: naming.Scope = session.inspect(
            lambda ctx: naming.scope_from_context(ctx, ignored, ctx.version_table)
        )
        return scope

    def _naming(self, session: MigrationSession) -> list[str]:
        scope = self._scope(session)
        try:
            metadata: MetaData | None = self._models(session)
        except CheckSkipped:
            metadata = None  # the rules still judge every name
        rules = self.config.naming_rules
        found = naming.naming_findings(
            session.connection, session.target.schema, metadata, rules, scope
        )
        error = naming.naming_violations(found.problems, models=not rules)
        if error is not None:
            error.warnings = tuple(found.warnings)
            raise error
        return found.warnings

    # -- run_all ------------------------------------------------------------------------

    def run_all(
        self,
        checks: Iterable[str] | None = None,
        *,
        skip: Iterable[str] = (),
        raise_on_failure: bool = True,
    ) -> Report:
        """Run the selected checks (all by default), sharing work, and report each."""
        selected = self._select(checks, skip)
        started = time.perf_counter()
        results: dict[str, CheckResult] = {}
        run = _Recorder(self, results)
        if "single_head" in selected:
            run.one("single_head", self.check_single_head)
        head_group = [
            n
            for n in ("upgrade", "isolation", *HEAD_STATE_CHECKS, "downgrade_to_base")
            if n in selected
        ]
        walk_group = [n for n in ("stairway", "no_trace") if n in selected]
        if head_group:
            self._run_head_group(run, head_group, walk_group)
        elif walk_group:
            self._run_walk_group(run, walk_group, may_split=False)
        report = Report(
            results=[results[n] for n in CHECK_NAMES if n in results],
            seconds=time.perf_counter() - started,
            target=self.target,
        )
        if raise_on_failure and not report.ok:
            bad = report.by_status("failed", "error")
            raise GauntletFailed(
                f"{len(bad)} of {len(report.results)} checks did not pass:\n"
                + "\n".join(
                    f"  - {r.name} ({r.status}): {r.summary}"
                    for r in bad
                )
                + "\n\n"
                + str(report),
                report=report,
                errors=[r.error for r in bad if r.error is not None],
            )
        return report

    @staticmethod
    def _select(checks: Iterable[str] | None, skip: Iterable[str]) -> list[str]:
        wanted = list(CHECK_NAMES) if checks is None else list(checks)
        skipped = list(skip)
        unknown = [n for n in wanted + skipped if n not in CHECK_NAMES]
        if unknown:
            raise ConfigError(
                f"Unknown check name(s): {', '.join(unknown)}. "
                f"Known checks: {', '.join(CHECK_NAMES)}."
            )
        return [n for n in CHECK_NAMES if n in wanted and n not in skipped]

    def _run_head_group(
        self, run: _Recorder, names: Sequence[str], walk_names: Sequence[str]
    ) -> None:
        """upgrade, then the head-state checks, then downgrade_to_base: one schema; then
        the walk group. Once the upgrade is in and reached nowhere outside the schema, the
        rest of the head group runs in a forked child while this process walks."""
        with self._session() as session:
            upgrade_failed = run.one(
                "upgrade", lambda: self._upgrade(session), record="upgrade" in names
            )
            rest: list[tuple[str, Callable[[], object]]] = [
                (name, body)
                for name, body in (
                    ("models_match", lambda: self._models_match(session)),
                    ("check_constraints", lambda: self._check_constraints(session)),
                    ("enums", lambda: self._enums(session)),
                    ("naming", lambda: self._naming(session)),
                    ("downgrade_to_base", lambda: self._downgrade(session)),
                )
                if name in names
            ]
            if upgrade_failed is not None:
                for name in names:
                    if name != "upgrade":
                        run.blocked(name, upgrade_failed)
            else:
                escapes = functools.cache(lambda: self._escapes(session))  # read once
                if "isolation" in names:
                    run.one("isolation", lambda: self._raise_for_escapes(session, escapes()))
                # Two walks at once only where it cannot change a verdict: migrations
                # that reach outside the schema would meet their own objects there.
                if walk_names and self._may_fork() and not escapes():
                    self._walk_beside_child(run, session, rest, walk_names)
                    return
                for name, body in rest:
                    run.one(name, body)
        if walk_names:
            self._run_walk_group(run, walk_names, may_split=False)

    def _may_fork(self) -> bool:
        return self.config.parallel and forked.possible()

    def _become_child(self, send: forked.Send, session: MigrationSession) -> None:
        """In a forked child: new connections of its own, progress events into the pipe."""
        # Pooled connections are the parent's: the child must not share their sockets, ours
        # or an engine the project handed its env.py through config.attributes.
        for engine in (self.engine, *self.alembic_config.attributes.values()):
            if isinstance(engine, Engine):
                engine.dispose(close=False)
        session.forget_connection()
        wanted = self.progress is not None
        self.progress = (lambda event: send(("event", event))) if wanted else None

    def _walk_beside_child(
        self,
        run: _Recorder,
        session: MigrationSession,
        bodies: list[tuple[str, Callable[[], object]]],
        walk_names: Sequence[str],
    ) -> None:
        """The walk group here, ``bodies`` in a forked child on ``session``'s schema (which
        this process keeps, and drops once the child is done)."""

        def child_body(send: forked.Send) -> None:
            self._become_child(send, session)
            results: dict[str, CheckResult] = {}
            recorder = _Recorder(self, results)
            for name, body in bodies:
                recorder.one(name, body)
            session.close()
            send(("results", results))

        child = forked.start(child_body)
        if child is None:  # no fork to be had: one after the other
            for name, body in bodies:
                run.one(name, body)
            self._run_walk_group(run, walk_names, may_split=True)
            return
        relay = forked.Relay(self, child, on_results=run.results.update)
        with forked.stopped_on_error(child), relay:
            self._run_walk_group(run, walk_names, may_split=True)
            relay.finish()
        if relay.raised:
            raise relay.raised[0]

    def _split_stairway(self, session: MigrationSession) -> walks.WalkOutcome:
        """The stairway with no_trace, its first revisions walked here and the rest in a
        forked child, which first catches up through the same steps (without snapshots,
        about half their cost) so that it goes on from the very state this walk reaches.
        A failure here ends the walk, as unsplit; a child that cannot finish leaves the
        rest to this process. Either way the outcome is the one walk's."""
        steps = walks.stairway_plan(self.history, self._irreversible)
        ids = self.history.ids
        split = max(1, min(len(ids) - 1, round(len(ids) * SPLIT_SHARE)))
        mine = set(ids[:split])
        first = [s for s in steps if s.revision in mine]
        rest = [s for s in steps if s.revision not in mine]
        watch = self._trace_watch(session)
        with self._session() as other:

            def child_body(send: forked.Send) -> None:
                self._become_child(send, other)
                caught_up = walks.walk(
                    other, first, name="catch up", revision_data=self.config.revision_data
                )
                if caught_up.failure is not None:
                    send(("walk", None))
                    return
                tail = self._walk(
                    other,
                    rest,
                    "stairway",
                    self._trace_watch(other),
                    first_index=split,
                    total=len(ids),
                )
                other.close()
                send(("walk", tail))

            child = forked.start(child_body)
            if child is None:
                return self._stairway(session, trace=True)
            relay = forked.Relay(self, child, hold=True)
            with forked.stopped_on_error(child), relay:
                head = self._walk(session, first, "stairway", watch, total=len(ids))
                if head.failure is not None:
                    child.stop()
                    return head
                relay.finish()
        tail: walks.WalkOutcome | None = relay.walk
        if tail is None:  # the child failed to catch up or raised: walk the rest here
            return self._walk(session, rest, "stairway", watch, first_index=split, total=len(ids))
        return walks.WalkOutcome(
            tail.failure, {**head.traces, **tail.traces}, head.compared | tail.compared
        )

    def _run_walk_group(
        self, run: _Recorder, names: Sequence[str], *, may_split: bool = False
    ) -> None:
        """The stairway and the no-trace comparison ride one walk (split between two
        processes when ``may_split``: run_all saw the upgrade stay inside its schema)."""
        if not self.history.ids:
            for name in names:
                run.skip(name, NOTHING_TO_WALK)
            return
        for name in names:
            self._emit(CheckStarted(name))
        started = time.perf_counter()
        with self._session() as session:
            split = may_split and len(self.history.ids) >= SPLIT_WALK_FROM and self._may_fork()
            if "no_trace" in names and split:
                outcome = self._split_stairway(session)
            else:
                outcome = self._stairway(session, trace="no_trace" in names)
        seconds = time.perf_counter() - started
        if "stairway" in names:
            error = walks.stairway_error(self.history, outcome.failure) if outcome.failure else None
            run.finish("stairway", seconds, error)
        if "no_trace" in names:
            try:
                self._raise_for_traces(outcome)
            except CheckFailed as exc:
                run.finish("no_trace", seconds, exc)
            else:
                run.finish("no_trace", seconds, None)

    # -- writing your own tests ---------------------------------------------------------

    @contextlib.contextmanager
    def isolated(self) -> Iterator[IsolatedDatabase]:
        """A fresh isolated schema at base for a hand-written test; dropped afterwards."""
        with self._session() as session:
            yield IsolatedDatabase(session)

    def revisions(self) -> list[str]:
        """Revision ids from base to heads, in dependency order."""
        return list(self.history.ids)

    def heads(self) -> list[str]:
        return list(self.history.heads)

    def cleanup_stale(
        self, older_than: float = 3600.0, *, on_skip: Callable[[str], None] | None = None
    ) -> list[str]:
        """Drop leftovers of killed gauntlet runs (only ours, only old, only orphaned);
        what cannot be dropped goes to ``on_skip`` (default: a warning)."""
        return janitor.cleanup_stale(
            self.engine,
            older_than=older_than,
            prefix=self.config.schema_prefix,
            on_skip=on_skip,
        )


class _Recorder:
    """Times checks and turns their outcomes into results."""

    def __init__(self, gauntlet: Gauntlet, results: dict[str, CheckResult]) -> None:
        self.gauntlet = gauntlet
        self.results = results

    def one(
        self, name: str, body: Callable[[], Any], *, record: bool = True
    ) -> GauntletError | None:
        """Run ``body``; returns the error that stopped it (``None`` if it passed)."""
        if record:
            self.gauntlet._emit(CheckStarted(name))
        started = time.perf_counter()
        error: GauntletError | None = None
        warned: Any = None
        try:
            warned = body()
        except (DatabaseUnavailableError, ConfigError):
            raise  # no later check can run either (a broken env.py, an unreachable server)
        except (DBAPIError, psycopg.Error) as exc:  # the head-state checks query directly
            lost = self.gauntlet._lost(exc, f"running {name}")
            if lost is None:
                raise
            raise lost from exc
        except CheckSkipped as exc:
            if record:
                self._store(
                    CheckResult(name, "skipped", time.perf_counter() - started, reason=str(exc))
                )
            return None
        except GauntletError as exc:
            error = exc
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
    ) -> None:
        """Record the verdict; a check's warnings come back as its body's return value
        (passed) or on its CheckFailed (failed)."""
        if error is None:
            result = CheckResult(name, "passed", seconds, warnings=noticed)
        elif isinstance(error, CheckFailed) and error.check == name:
            result = CheckResult(name, "failed", seconds, error=error, warnings=error.warnings)
        else:
            result = CheckResult(name, "error", seconds, error=error, reason=str(error))
        self._store(result)

    def blocked(self, name: str, cause: GauntletError) -> None:
        self.gauntlet._emit(CheckStarted(name))
        self._store(CheckResult(name, "error", 0.0, error=cause, reason=f"could not run: {cause}"))

    def skip(self, name: str, reason: str) -> None:
        self.gauntlet._emit(CheckStarted(name))
        self._store(CheckResult(name, "skipped", 0.0, reason=reason))

    def _store(self, result: CheckResult) -> None:
        self.results[result.name] = result
        self.gauntlet._emit(result)
