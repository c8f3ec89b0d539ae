"""safety: the locks, rewrites and scans each revision causes on tables that already exist.

Static linters guess from SQL text; this check rides the stairway and *observes* each
revision's first upgrade on the server, against the relations that existed before it
(never the ones it creates itself):

* before the step: the schema's tables, indexes and sequences (oid, relfilenode), its
  constraints, columns (type, NOT NULL) and enum labels;
* after the step, inside its transaction (before the commit): the locks its own backend
  holds on those relations (``pg_locks``), and what changed in the catalog.

Rules (``config.SAFETY_RULES``): ``table-rewrite`` (a pre-existing table's relfilenode
changed), ``index-without-concurrently`` (a new index on a pre-existing table, built in
the transaction), ``constraint-validation`` (a new CHECK / FOREIGN KEY validated at once
on a pre-existing table), ``set-not-null`` (a pre-existing column made NOT NULL with no
validated ``CHECK (col IS NOT NULL)`` to spare the scan), ``enum-add-value`` (a label
added to a pre-existing enum type inside the transaction), ``slow-step`` (an upgrade
step slower than ``step_budget``), ``fails-with-rows`` (the upgrade raises on its tables
filled with generated rows).

Everything is read from the catalog, so it works on empty tables: a rewrite gives the
table a new relfilenode and a validated constraint is ``convalidated`` whatever the
number of rows. With ``safety_rows`` each revision's upgrade also runs once more, just
before the stairway re-applies it, on its tables filled with generated rows, all of it
rolled back (:mod:`.safety_rows`): the time with rows and a ``fails-with-rows`` finding
when it raises there; no other check ever sees those rows.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from .. import walks
from ..errors import CheckSkipped, GauntletError, MigrationSafetyError
from ..history import History
from ..session import MigrationSession, Step, describe
from ..step_locks import StepLocks
from . import safety_rows
from .base import WalkCheck
from .safety_catalog import After, CatalogMismatch, CatalogTracker, Column, Constraint, State
from .safety_rows import Probe

if TYPE_CHECKING:
    from ..context import RunContext

#: lock mode -> what it blocks for other sessions ("" : neither reads nor writes).
BLOCKS = {
    "AccessExclusiveLock": "blocks reads and writes",
    "ExclusiveLock": "blocks writes",
    "ShareRowExclusiveLock": "blocks writes",
    "ShareLock": "blocks writes",
    "ShareUpdateExclusiveLock": "",
    "RowExclusiveLock": "",
    "RowShareLock": "",
    "AccessShareLock": "",
}
_STRENGTH = list(BLOCKS)  # strongest first
_MODE_NAMES = {
    "AccessExclusiveLock": "ACCESS EXCLUSIVE",
    "ExclusiveLock": "EXCLUSIVE",
    "ShareRowExclusiveLock": "SHARE ROW EXCLUSIVE",
    "ShareLock": "SHARE",
    "ShareUpdateExclusiveLock": "SHARE UPDATE EXCLUSIVE",
    "RowExclusiveLock": "ROW EXCLUSIVE",
    "RowShareLock": "ROW SHARE",
    "AccessShareLock": "ACCESS SHARE",
}

#: rule -> the safe way to do it.
SAFE = {
    "table-rewrite": "add a new column, backfill it in batches, swap",
    # A UNIQUE / PRIMARY KEY constraint added to a pre-existing table builds its index the
    # same way, and postgresql_concurrently is no option of create_unique_constraint: the
    # advice names that way too (found on cloudkitty's storage_state c50ed2c19204).
    "index-without-concurrently": (
        "create it with postgresql_concurrently=True inside op.get_context().autocommit_block()"
        "; for a UNIQUE / PRIMARY KEY constraint, build its unique index that way, then ADD "
        "CONSTRAINT ... UNIQUE / PRIMARY KEY USING INDEX"
    ),
    "constraint-validation": (
        "add it NOT VALID (postgresql_not_valid=True) and VALIDATE CONSTRAINT in a later revision"
    ),
    "set-not-null": (
        "add CHECK (col IS NOT NULL) NOT VALID, VALIDATE it in a later revision, then SET "
        "NOT NULL (no scan) and drop the CHECK"
    ),
    "enum-add-value": (
        "the label is usable only after the commit: add it in "
        "op.get_context().autocommit_block() or in a revision of its own"
    ),
    "slow-step": "make the step faster or split it (step_budget)",
    "fails-with-rows": (
        "make it work on tables that hold rows (a default for a new NOT NULL column, a "
        "backfill before SET NOT NULL or a new CHECK); a false alarm when an earlier "
        "revision made the data what the generated rows are not (allow it by marker)"
    ),
}

_MARKER = re.compile(r"#\s*gauntlet:\s*allow\s+([A-Za-z0-9_,\- ]+)")


@dataclasses.dataclass(frozen=True)
class Finding:
    """One observation that breaks a rule."""

    rule: str
    revision: str
    relation: str
    lock: str  # the strongest lock held on it at the step's end ("" if none)
    what: str  # what the revision did, e.g. "ALTER COLUMN TYPE of qty"

    @property
    def blocks(self) -> str:
        return BLOCKS.get(self.lock, "")

    def line(self) -> str:
        lock = _MODE_NAMES.get(self.lock, self.lock)
        held = f" under {lock}" + (f" ({self.blocks})" if self.blocks else "") if lock else ""
        return (
            f"{self.rule}: revision {self.revision} {self.what} on {self.relation}{held}; "
            f"{SAFE[self.rule]}"
        )


@dataclasses.dataclass(frozen=True)
class RevisionSummary:
    """What one revision's first upgrade held and did (the per-revision table)."""

    revision: str
    seconds: float
    #: pre-existing table -> the strongest lock mode held on it at the step's end.
    locks: dict[str, str]
    findings: tuple[Finding, ...]
    #: the run of its upgrade with generated rows (``None``: not probed).
    probe: Probe | None = None

    def row(self) -> dict[str, Any]:
        """This revision's row of the report's per-revision table (plain, JSON-ready)."""

        def on(*rules: str) -> list[str]:
            return sorted({f.relation for f in self.findings if f.rule in rules})

        return {
            "revision": self.revision,
            "seconds": round(self.seconds, 4),
            "locks": {rel: _MODE_NAMES.get(mode, mode) for rel, mode in self.locks.items()},
            "rewrites": on("table-rewrite"),
            "scans": on("constraint-validation", "set-not-null"),
            "index_builds": on("index-without-concurrently"),
            "rules": sorted({f.rule for f in self.findings}),
            "rows": dict(self.probe.rows) if self.probe else {},
            "not_filled": dict(self.probe.unfilled) if self.probe else {},
            "with_rows": self.probe.cell() if self.probe else "-",
        }


@dataclasses.dataclass(frozen=True)
class Observed:
    """The walk's observations: per revision (in walk order)."""

    revisions: dict[str, RevisionSummary] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class _Before:
    catalog: State  # the schema before the step
    started: float


@dataclasses.dataclass
class _Ending:
    """A step's end as ``after`` saw it, for :meth:`SafetyWatch.end_of_step`."""

    before: _Before | None  # None: a step not judged
    seconds: float
    more: bool  # revision data comes after it
    elsewhere: bool  # it worked on another connection too


def _strongest(modes: Iterable[str]) -> str:
    known = [m for m in modes if m in BLOCKS]
    return min(known, key=_STRENGTH.index) if known else ""


class SafetyWatch(walks.CheckHooks):
    """Reads the catalog before each revision's first upgrade and, inside the step's
    transaction, its locks and the catalog after it."""

    def __init__(
        self,
        session: MigrationSession,
        skip: frozenset[str],
        rows: bool,
        data_revisions: frozenset[str] = frozenset(),
    ) -> None:
        self.session = session
        self.schema = session.target.schema
        self.skip = skip  # revisions not judged (minimum_safety_revision and below)
        self.rows = rows  # probe each revision with generated rows before its re-upgrade
        #: revisions whose revision_data is inserted after their upgrade steps
        self.data_revisions = data_revisions
        self.catalog = CatalogTracker(self.schema)
        self.checkouts = 0  # the session's redirect's count at the current step's start
        self.state: _Before | None = None
        self.ending: _Ending | None = None
        self.revisions: dict[str, RevisionSummary] = {}

    def start(self) -> None:
        self.catalog.start()

    def before(self, step: Step, conn: Connection) -> None:
        self.state = self.ending = None
        judged = step.kind == "upgrade" and step.revision not in self.skip
        if step.kind == "re-upgrade" and self.rows and step.revision not in self.skip:
            self._probe(step, conn)
        try:
            catalog = self.catalog.before(conn, judged)
        except CatalogMismatch:
            raise
        except Exception as exc:
            raise GauntletError(
                f"safety could not read the catalog of schema {self.schema}: {describe(exc)}"
            ) from exc
        self.checkouts = self.session.redirect.checkouts
        if catalog is not None:
            self.state = _Before(catalog, time.perf_counter())

    def _probe(self, step: Step, conn: Connection) -> None:
        """Run the revision's upgrade once more on its tables filled with generated rows,
        all of it rolled back before the real re-upgrade (see :mod:`.safety_rows`)."""
        summary = self.revisions.get(step.revision)
        if summary is None or not summary.locks:
            return  # its first upgrade touched no table that existed before it
        upgrade = self.session.history.before_run(step.revision).upgrade  # a fresh import
        found = safety_rows.probe(conn, self.schema, list(summary.locks), upgrade, self.session.url)
        self.session.restart_deadline(conn, step)
        findings = summary.findings
        if found.error is not None:
            tables = ", ".join(found.rows)
            what = f"fails when its tables hold rows ({found.error})"
            findings = (*findings, Finding("fails-with-rows", step.revision, tables, "", what))
        self.revisions[step.revision] = dataclasses.replace(summary, probe=found, findings=findings)

    def after(self, step: Step, conn: Connection) -> None:
        before, self.state = self.state, None
        seconds = time.perf_counter() - before.started if before is not None else 0.0
        # revision data is inserted after the walk checks, in the step's transaction; a
        # migration that worked on a connection of its own may have committed changes there
        more = step.is_upgrade and step.revision in self.data_revisions
        elsewhere = self.session.redirect.checkouts != self.checkouts
        self.ending = _Ending(before, seconds, more, elsewhere)

    def wants_locks(self, step: Step, conn: Connection) -> walks.LockPoint | None:
        # the step's own, before revision data is inserted: what its rules judge
        ending = self.ending
        judged = ending is not None and ending.before is not None
        return "step" if ending is not None and self.catalog.wants_locks(judged) else None

    def end_of_step(self, step: Step, conn: Connection, locks: StepLocks | None) -> None:
        if locks is None:
            self.ending = None
            return
        self._end(step, conn, locks)

    def read_locks(self, step: Step, conn: Connection) -> StepLocks | None:
        # its after-step read and the walk's lock read in one statement (one round trip)
        return self._end(step, conn, None)

    def _end(self, step: Step, conn: Connection, locks: StepLocks | None) -> StepLocks | None:
        """The step's end: the tracker's after-step read, given the walk's ``locks`` or
        reading them itself (then returned)."""
        ending, self.ending = self.ending, None
        if ending is None:
            return None
        before = ending.before
        try:
            catalog = before.catalog if before else None
            if locks is None:
                locks, found = self.catalog.after_with_locks(
                    conn, catalog, ending.more, ending.elsewhere
                )
            else:
                found = self.catalog.after(conn, catalog, locks, ending.more, ending.elsewhere)
            if before is None or found is None:
                return locks
            summary = self._observe(step.revision, before.catalog, found, ending.seconds)
        except CatalogMismatch:
            raise
        except Exception as exc:
            raise GauntletError(
                f"safety could not read the catalog of schema {self.schema} after revision "
                f"{step.revision}: {describe(exc)}"
            ) from exc
        self.revisions[step.revision] = summary
        return locks

    def _observe(
        self, revision: str, before: State, found: After, seconds: float
    ) -> RevisionSummary:
        """The step's findings, from what differs between ``before`` and ``found``: only
        the relations the step may have changed (``found.changed``) are looked at, the
        others are as they were (each rule's findings in oid order, then attnum)."""
        version_table = self.session.version_table[1]
        old = {oid: rel for oid, rel in before.relations.items() if rel[0] != version_table}
        held: dict[int, list[str]] = {}
        for oid, mode in found.locks:
            if oid in old:
                held.setdefault(oid, []).append(mode)
        locks = {oid: _strongest(modes) for oid, modes in held.items()}

        findings: list[Finding] = []

        def on_table(rule: str, oid: int, what: str) -> None:
            """A finding on pre-existing table ``oid``, under the strongest lock held on it."""
            findings.append(Finding(rule, revision, old[oid][0], locks.get(oid, ""), what))

        now = found.state.relations
        tables = {oid for oid, rel in old.items() if rel[1] in ("r", "p", "m")}
        changed = sorted(tables if found.changed is None else tables & found.changed)
        # table-rewrite: a pre-existing table with a new relfilenode (why, from its columns)
        for oid in changed:
            filenode = old[oid][2]
            if oid in now and now[oid][2] != filenode and filenode != 0:
                why = _why(before.columns.get(oid, {}), found.state.columns.get(oid, {}))
                on_table("table-rewrite", oid, "rewrites the table" + why)
        # index-without-concurrently: a new index on a pre-existing table, built in this
        # transaction (its pg_class row is ours, or we still hold a lock on it)
        xid = found.xid
        for index_oid, index_name, table_oid, xmin in sorted(found.indexes):
            if (
                table_oid in tables
                and index_oid not in old
                and ((xid is not None and xmin == xid) or index_oid in held)
            ):
                on_table(
                    "index-without-concurrently",
                    table_oid,
                    f"builds index {index_name} in its transaction",
                )
        # constraint-validation: a new CHECK / FOREIGN KEY on a pre-existing table, validated
        for table in changed:
            was = before.constraints.get(table, {})
            rows = found.state.constraints.get(table, {})
            for con_oid in sorted(rows):
                _oid, con_name, con_type, _table, validated, _text = rows[con_oid]
                if con_oid not in was and validated:
                    kind = "foreign key" if con_type == "f" else "CHECK constraint"
                    on_table(
                        "constraint-validation",
                        table,
                        f"adds {kind} {con_name} validated at once (a full scan)",
                    )
        # set-not-null: a pre-existing column made NOT NULL, no validated CHECK proving it
        for table in changed:
            was_columns = before.columns.get(table, {})
            columns = found.state.columns.get(table, {})
            for attnum in sorted(columns):
                col, _type, notnull = columns[attnum]
                was_column = was_columns.get(attnum)
                if was_column is None or was_column[2] or not notnull:
                    continue
                if _proven_not_null(
                    col,
                    found.state.constraints.get(table, {}),
                    before.constraints.get(table, {}),
                ):
                    continue
                on_table("set-not-null", table, f"sets {col} NOT NULL (a full scan)")
        # enum-add-value: a pre-existing enum type with more labels
        for type_oid in sorted(found.state.enums):
            type_name, count = found.state.enums[type_oid]
            if type_oid in before.enums and count > before.enums[type_oid][1]:
                findings.append(
                    Finding(
                        "enum-add-value",
                        revision,
                        f"type {type_name}",
                        "",
                        "adds a label inside its transaction",
                    )
                )
        # the table: locks on tables (an index's lock comes with its table's statement)
        summary_locks = {old[oid][0]: mode for oid, mode in sorted(locks.items()) if oid in tables}
        return RevisionSummary(revision, seconds, summary_locks, tuple(findings))

    def data(self) -> Observed:
        return Observed(dict(self.revisions))


def _why(before: dict[int, Column], after: dict[int, Column]) -> str:
    """The statement behind a rewrite, read from the table's columns (in attnum order)."""
    retyped = [after[n][0] for n in sorted(after) if n in before and before[n][1] != after[n][1]]
    if retyped:
        return f" (ALTER COLUMN TYPE of {', '.join(retyped)})"
    added = [after[n][0] for n in sorted(after) if n not in before]
    if added:
        return f" (ADD COLUMN {', '.join(added)} with a volatile DEFAULT)"
    return ""


def _proven_not_null(
    column: str, constraints: dict[int, Constraint], before: dict[int, Constraint]
) -> bool:
    """A CHECK (column IS NOT NULL) on the table that existed before the step and is
    validated (before or by a VALIDATE in the step, under a lock that blocks no writes)
    spares the scan (PostgreSQL 12+); the step may drop it after SET NOT NULL.
    ``constraints``, ``before``: the table's, after and before the step."""
    pattern = re.compile(rf'\(+"?{re.escape(column)}"? IS NOT NULL\)+')
    validated_now = {oid for oid, row in constraints.items() if row[4]}
    return any(
        kind == "c"
        and (validated or oid in validated_now)
        and pattern.fullmatch(definition.removeprefix("CHECK ").strip()) is not None
        for oid, _name, kind, _table, validated, definition in before.values()
    )


def allowed_by_marker(history: History, revision: str) -> set[str]:
    """Rules the revision file allows itself with ``# gauntlet: allow <rule>[, <rule>]``."""
    path = getattr(history.get(revision), "path", None)
    if not path:
        return set()
    try:
        source = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    rules: set[str] = set()
    for match in _MARKER.finditer(source):
        rules.update(r for r in re.split(r"[,\s]+", match.group(1)) if r)
    return rules


class Safety(WalkCheck):
    name = "safety"
    test_method = "test_migrations_are_safe"
    error = MigrationSafetyError

    def hooks(self, ctx: RunContext, session: MigrationSession) -> SafetyWatch | None:
        if not ctx.config.safety:
            return None
        data = frozenset(ctx.config.revision_data)
        return SafetyWatch(session, _skipped(ctx), ctx.config.safety_rows, data)

    def merge(self, first: Observed, second: Observed) -> Observed:
        return Observed({**first.revisions, **second.revisions})

    def judge(self, ctx: RunContext, outcome: walks.WalkOutcome) -> GauntletError | None:
        if not ctx.config.safety:
            return CheckSkipped("safety is off (GauntletConfig(safety=False)).")
        failing, warnings = self.findings(ctx, outcome)
        if failing:
            count = len(failing)
            first = failing[0]
            return MigrationSafetyError.listing(
                f"{count} unsafe operation{'s' if count != 1 else ''} on tables that exist "
                "before the revision (allow one with `# gauntlet: allow <rule>` in the "
                "revision file or GauntletConfig(safety_allow=...))",
                [f.line() for f in failing],
                warnings=[f.line() for f in warnings],
                revision=first.revision,
                step="upgrade",
            )
        observed: Observed = outcome.data.get(self.name, Observed())
        to_observe = set(ctx.history.ids) - _skipped(ctx)
        if outcome.failure is not None and not to_observe <= set(observed.revisions):
            return walks.stairway_error(ctx.history, outcome)
        return None

    def warnings(self, ctx: RunContext, outcome: walks.WalkOutcome) -> list[str]:
        if not ctx.config.safety:
            return []
        return [f.line() for f in self.findings(ctx, outcome)[1]]

    def per_revision(self, ctx: RunContext, outcome: walks.WalkOutcome) -> list[dict[str, Any]]:
        """Per observed revision (walk order): its step time, the locks it held on tables
        that existed before it, what it rewrote, scanned and indexed, and its findings'
        rules (allowed ones included: the table says what happened, not the verdict)."""
        if not ctx.config.safety:
            return []
        observed: Observed = outcome.data.get(self.name, Observed())
        return [summary.row() for summary in observed.revisions.values()]

    def findings(
        self, ctx: RunContext, outcome: walks.WalkOutcome
    ) -> tuple[list[Finding], list[Finding]]:
        """(failing, warnings): the walk's findings less the allowed ones, by policy."""
        observed: Observed = outcome.data.get(self.name, Observed())
        config = ctx.config
        allow = {
            ctx.history.get(rev).revision: set(rules) for rev, rules in config.safety_allow.items()
        }
        fail_on = set(config.safety_fail_on)
        failing: list[Finding] = []
        warned: list[Finding] = []
        for revision, summary in observed.revisions.items():
            found = list(summary.findings)
            budget = config.step_budget
            if budget is not None and summary.seconds > budget:
                found.append(
                    Finding(
                        "slow-step",
                        revision,
                        "its upgrade step",
                        "",
                        f"took {summary.seconds:.2f} s (budget {budget:g} s)",
                    )
                )
            if not found:
                continue
            allowed = allow.get(revision, set()) | allowed_by_marker(ctx.history, revision)
            for finding in found:
                if finding.rule in allowed:
                    continue
                (failing if finding.rule in fail_on else warned).append(finding)
        return failing, warned


def _skipped(ctx: RunContext) -> frozenset[str]:
    """Revisions safety does not judge: ``minimum_safety_revision`` and below, and those a
    changed-only run or a shard does not walk."""
    floor = ctx.config.minimum_safety_revision
    below = ctx.history.irreversible(floor) if floor else frozenset()
    return below | ctx.not_walked()


CHECK = Safety()
