"""safety's catalog reads: what its rules compare before and after each revision's first
upgrade, read for what the walk changed rather than for the whole schema.

The rules (:mod:`.safety`) compare the schema's relations (oid, name, kind, relfilenode),
table columns (name, type, NOT NULL), CHECK / FOREIGN KEY constraints on tables (validated,
and the CHECK's text) and enum types (name, number of labels) before a step with the same
after it, inside its transaction, where they also read the indexes of the tables, the own
backend's relation locks and the transaction id. Reading all of it twice per revision costs
revisions x schema size (issue 18, "linear cost"), so :class:`CatalogTracker` keeps the
state from its last read and, at each read, re-reads only what the steps since then can
have changed:

* **relations, their columns, indexes and constraints** whose relation a step *locked*.
  PostgreSQL changes a relation's catalog rows only under a lock on it, held to the end of
  the transaction (CREATE / ALTER / DROP / RENAME / SET SCHEMA / TRUNCATE / index builds,
  dropping a type or function that takes a column or constraint with it); the own
  backend's ``pg_locks`` at the end of each step, still inside its transaction, names them
  (the walk reads them once per step for every check that follows it so:
  :mod:`gauntlet_sync.step_locks`).
  A table moved to another schema moves its indexes without locking them: a locked table's
  indexes are re-read with it.
* **enum types** (created, renamed, moved and labelled without a relation lock; CREATE TYPE
  and ALTER TYPE RENAME / SET SCHEMA lock nothing at all): re-read whole when the step wrote
  pg_type or pg_enum rows, by this transaction's own counters
  (``pg_stat_get_xact_tuples_*``, compared at the step's start and end; with
  ``track_counts`` off, at every read).
* **a CHECK's text** (``pg_get_constraintdef``) also prints the names of the functions,
  types, operators, collations and relations it refers to, which can be renamed or shadowed
  without a lock on its table: the CHECKs that depend on anything but their own table's
  columns (``pg_depend``) are re-read at every read, the others only with their table
  (their text holds column names and built-in names, which pg_catalog, searched first,
  keeps from being shadowed; when a temporary schema or the search path puts another
  schema before pg_catalog, every CHECK is re-read). The text is read where the whole
  read reads it: before the step, after the session was set back as the step found it.

Anything that breaks the chain makes the next read a whole one: a COMMIT or ROLLBACK inside
a step (``autocommit_block``, an autocommit connection: the transaction's start time
``now()`` at the step's end differs from its start; the locks taken before it are gone),
revision data inserted after the step (it runs after safety's hook, so its locks are not
seen), and the start of each walk. Savepoints need nothing: a rolled-back savepoint
releases its locks with its changes, a released one passes them to the transaction.

``GAUNTLET_SAFETY_VERIFY=1`` (private, for tests) makes every judged step read the whole
schema too and raise :class:`CatalogMismatch` at any difference in what the rules receive.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import weakref
from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, BIGINT
from sqlalchemy.engine import Connection

from .. import _compat
from .. import step_locks as _step_locks
from ..errors import GauntletError
from ..step_locks import FIRST_NORMAL_OID as _FIRST_NORMAL_OID
from ..step_locks import StepLocks

#: private: compare every incremental read with the whole read (tests).
VERIFY_ENV = "GAUNTLET_SAFETY_VERIFY"

Relations = dict[int, tuple[str, str, int]]  # oid -> (name, relkind, relfilenode)
Column = tuple[str, int, bool]  # name, type, NOT NULL
Columns = dict[int, dict[int, Column]]  # table oid -> attnum -> column
#: (oid, name, contype, table oid, validated, CHECK text or "")
Constraint = tuple[int, str, str, int, bool, str]
Constraints = dict[int, dict[int, Constraint]]  # table oid -> constraint oid -> row
Enums = dict[int, tuple[str, int]]  # type oid -> (name, number of labels)


class CatalogMismatch(AssertionError):
    """Verification mode: the incremental read differs from the whole read."""


@dataclasses.dataclass
class State:
    """The schema's catalog as the rules see it at one moment. Columns and constraints
    are kept per table; a table's inner dict is never changed in place, but replaced (so
    :meth:`copy` shares them)."""

    relations: Relations
    columns: Columns
    constraints: Constraints
    enums: Enums

    def copy(self) -> State:
        return State(
            dict(self.relations), dict(self.columns), dict(self.constraints), dict(self.enums)
        )

    def flat(self) -> tuple[dict[Any, Any], ...]:
        """Every part as one dict (comparisons), tables without columns or constraints
        left out."""
        columns = {(t, n): col for t, cols in self.columns.items() for n, col in cols.items()}
        constraints = {oid: row for rows in self.constraints.values() for oid, row in rows.items()}
        return self.relations, columns, constraints, self.enums


@dataclasses.dataclass
class After:
    """What the rules read at a step's end, inside its transaction."""

    state: State
    indexes: list[tuple[int, str, int, str]]  # index oid, name, table oid, xmin
    locks: list[tuple[int, str]]  # relation oid, mode (the own backend's, granted)
    xid: str | None  # the transaction id as pg_class.xmin shows it (None: none assigned)
    #: the relations whose parts may differ from before the step (None: any)
    changed: set[int] | None = None


# --- the whole reads (the reference; also what a broken chain falls back to) ---------------

#: relations, columns, constraints on tables (a domain's CHECK, conrelid 0, is no rule's
#: business: every rule looks up constraints by the table they are on) and enums.
_SCHEMA_PARTS = """
  (SELECT coalesce(json_agg(json_build_array(
     c.oid::bigint, c.relname, c.relkind, c.relfilenode::bigint)), '[]'::json)
   FROM pg_class c
   WHERE c.relnamespace = ns.oid AND c.relkind IN ('r', 'p', 'm', 'i', 'I', 'S')
  ) AS relations,
  (SELECT coalesce(json_agg(json_build_array(
     a.attrelid::bigint, a.attnum, a.attname, a.atttypid::bigint, a.attnotnull)), '[]'::json)
   FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
   WHERE c.relnamespace = ns.oid AND c.relkind IN ('r', 'p') AND a.attnum > 0
     AND NOT a.attisdropped
  ) AS columns,
  (SELECT coalesce(json_agg(json_build_array(
     con.oid::bigint, con.conname, con.contype, con.conrelid::bigint, con.convalidated,
     CASE WHEN con.contype = 'c' THEN pg_get_constraintdef(con.oid) ELSE '' END)), '[]'::json)
   FROM pg_constraint con
   WHERE con.connamespace = ns.oid AND con.contype IN ('c', 'f') AND con.conrelid <> 0
  ) AS constraints,
  (SELECT coalesce(json_agg(json_build_array(t.oid::bigint, t.typname, t.labels)), '[]'::json)
   FROM (SELECT t.oid, t.typname, count(e.oid) AS labels
         FROM pg_type t LEFT JOIN pg_enum e ON e.enumtypid = t.oid
         WHERE t.typnamespace = ns.oid AND t.typtype = 'e' GROUP BY t.oid, t.typname) t
  ) AS enums"""
_AFTER_PARTS = """,
  (SELECT coalesce(json_agg(json_build_array(
     i.indexrelid::bigint, ic.relname, i.indrelid::bigint, ic.xmin::text)), '[]'::json)
   FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
   WHERE ic.relnamespace = ns.oid
  ) AS indexes,
  (pg_current_xact_id_if_assigned()::text::numeric % 4294967296)::text AS xid"""
#: the reference reads its own locks; the tracker takes the walk's (:mod:`...step_locks`)
_LOCKS_PART = """,
  (SELECT coalesce(json_agg(json_build_array(l.relation::bigint, l.mode)), '[]'::json)
   FROM pg_locks l
   WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted
     AND l.relation IS NOT NULL
  ) AS locks"""
_FROM = "\nFROM pg_namespace ns WHERE ns.nspname = :schema\n"
BEFORE_SQL = "SELECT" + _SCHEMA_PARTS + _FROM
AFTER_SQL = "SELECT" + _SCHEMA_PARTS + _AFTER_PARTS + _LOCKS_PART + _FROM
#: the whole read after a step whose locks tell nothing (a COMMIT inside it): the walk's
#: locks at its end go with it.
_AFTER_UNLOCKED_SQL = "SELECT" + _SCHEMA_PARTS + _AFTER_PARTS + _FROM
_AFTER_UNLOCKED = text(_AFTER_UNLOCKED_SQL)

# --- the tracker's reads -------------------------------------------------------------------

#: where a step starts and what it has written of the enum catalogs so far (this
#: transaction's own counters: they only grow within one transaction).
_MARKS = """
  now()::text AS started,
  (SELECT sum(pg_stat_get_xact_tuples_inserted(c) + pg_stat_get_xact_tuples_updated(c)
              + pg_stat_get_xact_tuples_deleted(c))
   FROM unnest(ARRAY['pg_type'::regclass::oid, 'pg_enum'::regclass::oid]) AS c
  )::bigint AS enum_writes,
  current_setting('track_counts')::bool AS counted"""
#: bookkeeping next to a whole read: each index's table, the CHECKs whose text may change
#: without a lock on their table (they depend on more than its columns).
_BOOKS = """,
  (SELECT coalesce(json_agg(json_build_array(i.indexrelid::bigint, i.indrelid::bigint)),
                   '[]'::json)
   FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
   WHERE ic.relnamespace = ns.oid
  ) AS index_of,
  (SELECT coalesce(json_agg(con.oid::bigint), '[]'::json)
   FROM pg_constraint con
   WHERE con.connamespace = ns.oid AND con.contype = 'c' AND con.conrelid <> 0
     AND EXISTS (SELECT 1 FROM pg_depend d
                 WHERE d.classid = 'pg_constraint'::regclass AND d.objid = con.oid
                   AND NOT (d.refclassid = 'pg_class'::regclass AND d.refobjid = con.conrelid))
  ) AS impure"""
_WHOLE_TRACKED_SQL = "SELECT" + _SCHEMA_PARTS + "," + _MARKS + _BOOKS + _FROM
_WHOLE_TRACKED = text(_WHOLE_TRACKED_SQL)

#: the parts of :rels (relation oids: the relations, their indexes, columns, constraints).
#: the parts of the relations in ``rels.oids`` and their indexes (``wanted.oids``): the
#: relations, columns, constraints; each reached by its index on oid (never a scan of a
#: whole catalog). ``{text}``: a CHECK's text and whether it depends on more than its
#: table's columns (before a step; after it the rules read neither).
_REL_PARTS_TEMPLATE = """
  (SELECT coalesce(json_agg(json_build_array(
     c.oid::bigint, c.relname, c.relkind, c.relfilenode::bigint, coalesce(i.indrelid, 0)::bigint,
     i.indrelid IS NOT NULL, c.xmin::text)), '[]'::json)
   FROM pg_class c
   LEFT JOIN LATERAL (SELECT i.indrelid FROM pg_index i WHERE i.indexrelid = c.oid) i ON true
   WHERE c.oid = ANY(wanted.oids)
     AND c.relnamespace = ns.oid AND c.relkind IN ('r', 'p', 'm', 'i', 'I', 'S')
  ) AS relations,
  (SELECT coalesce(json_agg(json_build_array(
     a.attrelid::bigint, a.attnum, a.attname, a.atttypid::bigint, a.attnotnull)), '[]'::json)
   FROM pg_class c
   JOIN LATERAL (SELECT * FROM pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) a ON true
   WHERE c.oid = ANY(rels.oids) AND c.relnamespace = ns.oid AND c.relkind IN ('r', 'p')
  ) AS columns,
  (SELECT coalesce(json_agg(json_build_array(
     con.oid::bigint, con.conname, con.contype, con.conrelid::bigint, con.convalidated,
     {text})), '[]'::json)
   FROM pg_constraint con
   WHERE con.conrelid = ANY(rels.oids) AND con.connamespace = ns.oid
     AND con.contype IN ('c', 'f')
  ) AS constraints"""
_TEXT = """CASE WHEN con.contype = 'c' THEN pg_get_constraintdef(con.oid) ELSE '' END,
     con.contype = 'c' AND EXISTS (
       SELECT 1 FROM pg_depend d
       WHERE d.classid = 'pg_constraint'::regclass AND d.objid = con.oid
         AND NOT (d.refclassid = 'pg_class'::regclass AND d.refobjid = con.conrelid))"""
_REL_PARTS = _REL_PARTS_TEMPLATE.replace("{text}", _TEXT)
_REL_PARTS_AFTER = _REL_PARTS_TEMPLATE.replace("{text}", "'', false")
#: ``wanted``: the relations in ``rels`` and their indexes.
_WANTED = """,
     LATERAL (SELECT ARRAY(SELECT unnest(rels.oids)
                           UNION SELECT i.indexrelid FROM pg_index i
                                 WHERE i.indrelid = ANY(rels.oids)) AS oids) wanted"""
_ENUM_PART = """
  (SELECT coalesce(json_agg(json_build_array(t.oid::bigint, t.typname, t.labels)), '[]'::json)
   FROM (SELECT t.oid, t.typname, count(e.oid) AS labels
         FROM pg_type t LEFT JOIN pg_enum e ON e.enumtypid = t.oid
         WHERE t.typnamespace = ns.oid AND t.typtype = 'e' GROUP BY t.oid, t.typname) t)"""

#: a partial read's last column (the enums, after its ``CASE WHEN ... THEN``) and where it
#: reads: the schema :schema, the relations in :rels and their indexes.
_ENUMS_OF_RELS = (
    _ENUM_PART
    + """ END AS enums
FROM pg_namespace ns, (SELECT CAST(:rels AS bigint[])::oid[] AS oids) rels"""
    + _WANTED
    + """
WHERE ns.nspname = :schema
"""
)

#: before a judged step: what the steps since the last read changed (:rels, the enums if
#: :enums), the text of the CHECKs in :defs (all of them when pg_catalog is not searched
#: first), and the step's marks.
_PARTIAL_BEFORE_SQL = (
    "SELECT"
    + _MARKS
    + ","
    + _REL_PARTS
    + """,
  CASE WHEN (current_schemas(true))[1] = 'pg_catalog' THEN
    (SELECT coalesce(json_agg(json_build_array(con.oid::bigint, pg_get_constraintdef(con.oid))),
                     '[]'::json)
     FROM pg_constraint con
     WHERE con.oid = ANY(:defs) AND con.connamespace = ns.oid AND con.contype = 'c')
  ELSE
    (SELECT coalesce(json_agg(json_build_array(con.oid::bigint, pg_get_constraintdef(con.oid))),
                     '[]'::json)
     FROM pg_constraint con
     WHERE con.connamespace = ns.oid AND con.contype = 'c' AND con.conrelid <> 0)
  END AS defs,
  CASE WHEN :enums THEN"""
    + _ENUMS_OF_RELS
)
_PARTIAL_BEFORE_TEXT = text(_PARTIAL_BEFORE_SQL).bindparams(
    bindparam("rels", type_=ARRAY(BIGINT)), bindparam("defs", type_=ARRAY(BIGINT))
)

#: after a judged step, inside its transaction: the parts of the relations it locked
#: (:rels, from the walk's read of its locks), its indexes, the enums if it wrote them,
#: the transaction id.
_PARTIAL_AFTER_SQL = (
    "SELECT"
    + _MARKS
    + """,
  now()::text = :started AS same,
  (pg_current_xact_id_if_assigned()::text::numeric % 4294967296)::text AS xid,"""
    + _REL_PARTS_AFTER
    + """,
  CASE WHEN NOT current_setting('track_counts')::bool OR (
    SELECT sum(pg_stat_get_xact_tuples_inserted(c) + pg_stat_get_xact_tuples_updated(c)
               + pg_stat_get_xact_tuples_deleted(c))
    FROM unnest(ARRAY['pg_type'::regclass::oid, 'pg_enum'::regclass::oid]) AS c) > :enum_writes
  THEN"""
    + _ENUMS_OF_RELS
)
_PARTIAL_AFTER_TEXT = text(_PARTIAL_AFTER_SQL).bindparams(bindparam("rels", type_=ARRAY(BIGINT)))

#: before a step safety does not judge: its marks only.
_MARKS_ONLY_SQL = "SELECT" + _MARKS
_MARKS_ONLY_TEXT = text(_MARKS_ONLY_SQL)

#: after a step safety does not judge: its marks (the relations it locked are the walk's
#: read's).
_MARKS_AFTER_SQL = "SELECT" + _MARKS + ",\n  now()::text = :started AS same"
_MARKS_AFTER_TEXT = text(_MARKS_AFTER_SQL)


#: The two after-step reads with the step's locks read in the same statement (the walk's
#: read, :mod:`...step_locks`, as a CTE): one round trip at a step's end instead of two. The
#: judged read takes the relations from those rows (granted, from FirstNormalObjectId on:
#: what :meth:`CatalogTracker.after` computes from the walk's read) instead of :rels.
_RELS_PARAMETER = "CAST(:rels AS bigint[])::oid[]"
_RELS_LOCKED = (
    "ARRAY(SELECT DISTINCT l.relation FROM step_locks l"
    " WHERE l.locktype = 'relation' AND l.granted)::oid[]"
)
assert _PARTIAL_AFTER_SQL.count(_RELS_PARAMETER) == 1
_WITH_LOCKS = _step_locks.CTE + "SELECT\n  " + _step_locks.ROWS + " AS step_locks,"
_PARTIAL_AFTER_LOCKS_SQL = _WITH_LOCKS + _PARTIAL_AFTER_SQL.removeprefix("SELECT").replace(
    _RELS_PARAMETER, _RELS_LOCKED
)
_MARKS_AFTER_LOCKS_SQL = _WITH_LOCKS + _MARKS_AFTER_SQL.removeprefix("SELECT")


class _Statement:
    """One of the tracker's per-step statements, prepared in SQL once per psycopg
    connection (as :class:`..snapshot.Snapshotter` does, for the same reason: planning
    them costs about what running them does, and psycopg's own prepared statements are
    deallocated after nearly every migration step). Its parameters are bound as literals
    in ``EXECUTE`` (a utility statement takes no protocol parameters). On another driver,
    or where psycopg holds prepared statements of its own (its next clean-up would take
    this one too), the same query runs as plain SQL."""

    def __init__(self, query: str, plain: Any, parameters: tuple[tuple[str, str], ...]) -> None:
        self.plain = plain
        self.parameters = parameters
        positional = query
        for number, (name, _type) in enumerate(parameters, 1):
            positional = re.sub(rf"(?<!:):{name}\b", f"${number}", positional)
        types = ", ".join(kind for _name, kind in parameters)
        self.prepare = "PREPARE {} " + (f"({types}) " if types else "") + "AS " + positional
        self.name = sql.Identifier(f"gauntlet_safety_{secrets.token_hex(4)}")
        self.prepared_on: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()

    def run(self, conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
        raw = conn.connection.driver_connection
        if not isinstance(raw, psycopg.Connection) or (
            raw not in self.prepared_on and _compat.holds_prepared_statements(raw)
        ):
            return _row(conn, self.plain, params)
        with raw.cursor(row_factory=dict_row) as cur:
            if raw not in self.prepared_on:
                raw.prepare_threshold = None
                cur.execute(sql.SQL(self.prepare).format(self.name))
                self.prepared_on.add(raw)
            values = [_literal(params[name]) for name, _type in self.parameters]
            arguments = (
                sql.SQL("({})").format(sql.SQL(", ").join(values)) if values else sql.SQL("")
            )
            cur.execute(sql.SQL("EXECUTE {}{}").format(self.name, arguments))
            row = cur.fetchone()
        if row is None:
            raise GauntletError(f"schema {params.get('schema')} is gone")
        return dict(row)


def _literal(value: Any) -> sql.Composable:
    if isinstance(value, (list, tuple, set)):  # an array of oids, as text: typed by PREPARE
        return sql.Literal("{" + ",".join(str(int(v)) for v in value) + "}")
    return sql.Literal(value)


_PARTIAL_BEFORE = _Statement(
    _PARTIAL_BEFORE_SQL,
    _PARTIAL_BEFORE_TEXT,
    (("schema", "text"), ("rels", "bigint[]"), ("defs", "bigint[]"), ("enums", "boolean")),
)
_PARTIAL_AFTER = _Statement(
    _PARTIAL_AFTER_SQL,
    _PARTIAL_AFTER_TEXT,
    (("schema", "text"), ("started", "text"), ("enum_writes", "bigint"), ("rels", "bigint[]")),
)
_MARKS_ONLY = _Statement(_MARKS_ONLY_SQL, _MARKS_ONLY_TEXT, ())
_MARKS_AFTER = _Statement(_MARKS_AFTER_SQL, _MARKS_AFTER_TEXT, (("started", "text"),))
_PARTIAL_AFTER_LOCKS = _Statement(
    _PARTIAL_AFTER_LOCKS_SQL,
    text(_PARTIAL_AFTER_LOCKS_SQL),
    (("schema", "text"), ("started", "text"), ("enum_writes", "bigint")),
)
_MARKS_AFTER_LOCKS = _Statement(
    _MARKS_AFTER_LOCKS_SQL, text(_MARKS_AFTER_LOCKS_SQL), (("started", "text"),)
)


def _row(conn: Connection, query: Any, params: dict[str, Any]) -> dict[str, Any]:
    row = conn.execute(query, params).mappings().first()
    if row is None:
        raise GauntletError(f"schema {params.get('schema')} is gone")
    return dict(row)


def whole(conn: Connection, schema: str, after: bool = False) -> dict[str, Any]:
    """The whole read (``BEFORE_SQL`` / ``AFTER_SQL``), as a dict of parts."""
    return _row(conn, text(AFTER_SQL if after else BEFORE_SQL), {"schema": schema})


def state_of(found: dict[str, Any]) -> State:
    """The rules' view of a whole read."""
    return State(
        {r[0]: (r[1], r[2], r[3]) for r in found["relations"]},
        _columns(found["columns"]),
        _constraints(found["constraints"]),
        {r[0]: (r[1], r[2]) for r in found["enums"]},
    )


def _columns(rows: Iterable[list[Any]]) -> Columns:
    columns: Columns = {}
    for r in rows:
        columns.setdefault(r[0], {})[r[1]] = (r[2], r[3], r[4])
    return columns


def _constraints(rows: Iterable[list[Any]]) -> Constraints:
    constraints: Constraints = {}
    for r in rows:
        constraints.setdefault(r[3], {})[r[0]] = _constraint(r)
    return constraints


def after_of(found: dict[str, Any], locks: list[tuple[int, str]] | None = None) -> After:
    """The rules' view of a whole read after a step (with its own locks, or ``locks``)."""
    return After(
        state_of(found),
        [(r[0], r[1], r[2], r[3]) for r in found["indexes"]],
        [(r[0], r[1]) for r in found["locks"]] if locks is None else locks,
        found["xid"],
    )


def _constraint(r: list[Any]) -> Constraint:
    return (r[0], r[1], r[2], r[3], r[4], r[5])


@dataclasses.dataclass
class _Pending:
    """What the steps since the last read may have changed."""

    everything: bool = True
    relations: set[int] = dataclasses.field(default_factory=set)
    enums: bool = False

    def add(self, locked: Iterable[int], enums: bool) -> None:
        self.relations.update(locked)
        self.enums = self.enums or enums


class CatalogTracker:
    """The schema's catalog as safety's rules see it, kept up to date by re-reading what
    the walk's steps changed (see the module's docstring). One per walk: :meth:`start`
    forgets everything (a new walk, or whatever ran between two walks)."""

    def __init__(self, schema: str, verify: bool | None = None) -> None:
        self.schema = schema
        self.verify = os.environ.get(VERIFY_ENV) == "1" if verify is None else verify
        self.known: State | None = None
        self.index_of: dict[int, int] = {}  # index oid -> its table's oid
        self.indexes_on: dict[int, set[int]] = {}  # table oid -> its indexes' oids
        self.impure: dict[int, int] = {}  # CHECKs re-read at every read -> their table
        self.pending = _Pending()
        self.started: str | None = None  # the current step's transaction start
        self.enum_writes = 0
        self.counted = True  # track_counts: the enum counters can be trusted
        #: reads made, for tests and benchmarks: "whole", "partial", "verified"
        self.reads: dict[str, int] = {"whole": 0, "partial": 0, "verified": 0}

    def start(self) -> None:
        self.known = None
        self.pending = _Pending()

    def invalidate(self) -> None:
        """Something ran that the locks do not show: the next read is a whole one."""
        self.pending.everything = True

    # --- before a step ----------------------------------------------------------------------

    def before(self, conn: Connection, judged: bool) -> State | None:
        """At a step's start (in its transaction): its marks, and for a judged step the
        schema's state (a copy the caller keeps)."""
        if not judged:
            self._mark(_MARKS_ONLY.run(conn, {}))
            return None
        if self.known is None or self.pending.everything:
            found = _row(conn, _WHOLE_TRACKED, {"schema": self.schema})
            self.known = state_of(found)
            self.index_of = {r[0]: r[1] for r in found["index_of"]}
            self.indexes_on = {}
            for index, table in self.index_of.items():
                self.indexes_on.setdefault(table, set()).add(index)
            impure = set(found["impure"])
            self.impure = {
                oid: table
                for table, rows in self.known.constraints.items()
                for oid in rows
                if oid in impure
            }
            self.reads["whole"] += 1
        else:
            found = _PARTIAL_BEFORE.run(
                conn,
                {
                    "schema": self.schema,
                    "rels": sorted(self.pending.relations),
                    "defs": sorted(self.impure),
                    "enums": self.pending.enums or not self.counted,
                },
            )
            self._patch(self.known, found, self.pending.relations, books=True)
            if found["enums"] is not None:
                self.known.enums = {r[0]: (r[1], r[2]) for r in found["enums"]}
            self._set_texts(self.known, found["defs"])
            self.reads["partial"] += 1
        self._mark(found)
        self.pending = _Pending(everything=False)
        if self.verify:
            self._compare("before the step", self.known, state_of(whole(conn, self.schema)))
        return self.known.copy()

    def _set_texts(self, state: State, texts: list[list[Any]]) -> None:
        """The CHECK texts read again (the impure ones; every one when pg_catalog is not
        searched first), into ``state``."""
        table_of: dict[int, int] = dict(self.impure)
        if any(oid not in table_of for oid, _text in texts):
            table_of = {oid: t for t, rows in state.constraints.items() for oid in rows}
        for oid, definition in texts:
            table = table_of.get(oid)
            rows = state.constraints.get(table, {}) if table is not None else {}
            if table is not None and oid in rows and rows[oid][5] != definition:
                state.constraints[table] = {**rows, oid: (*rows[oid][:5], definition)}

    def _mark(self, found: dict[str, Any]) -> None:
        self.started = found["started"]
        self.enum_writes = found["enum_writes"] or 0
        self.counted = bool(found["counted"])

    # --- after a step -----------------------------------------------------------------------

    def wants_locks(self, judged: bool) -> bool:
        """Whether :meth:`after` needs the step's locks: for a judged step, or to note
        what a step changed (not when the next read is a whole one anyway)."""
        return judged or not self.pending.everything

    def after(
        self,
        conn: Connection,
        before: State | None,
        locks: StepLocks,
        changed_more: bool = False,
        elsewhere: bool = False,
    ) -> After | None:
        """At a step's end (in its transaction): note what it changed (the relations it
        holds ``locks`` on, read by the walk at this point); for a judged step (``before``
        given) what the rules read. ``changed_more``: something runs after this hook and
        before the commit that may change the catalog (revision data). ``elsewhere``: the
        step also worked on another connection, whose commits its locks do not show (the
        rules read the whole schema, and so does the next read)."""
        params = {"schema": self.schema, "started": self.started, "enum_writes": self.enum_writes}
        held = [(oid, mode) for oid, mode, granted in locks.relations if granted]
        locked = sorted({oid for oid, _mode in held if oid >= _FIRST_NORMAL_OID})
        if before is None:
            found = _MARKS_AFTER.run(conn, params)
        else:
            found = _PARTIAL_AFTER.run(conn, {**params, "rels": locked})
        return self._after(conn, before, found, held, locked, changed_more, elsewhere)

    def after_with_locks(
        self,
        conn: Connection,
        before: State | None,
        changed_more: bool = False,
        elsewhere: bool = False,
    ) -> tuple[StepLocks, After | None]:
        """:meth:`after`, with the step's locks read in the same statement (one round trip
        instead of the walk's read and then this one); the locks are returned for the
        walk's other checks. The same rows as the walk's read: this statement reads only
        system catalogs, whose locks (below FirstNormalObjectId) the read leaves out."""
        params = {"schema": self.schema, "started": self.started, "enum_writes": self.enum_writes}
        statement = _MARKS_AFTER_LOCKS if before is None else _PARTIAL_AFTER_LOCKS
        found = statement.run(conn, params)
        _step_locks.COUNTS["reads"] += 1
        locks = StepLocks.of(found["step_locks"])
        held = [(oid, mode) for oid, mode, granted in locks.relations if granted]
        locked = sorted({oid for oid, _mode in held if oid >= _FIRST_NORMAL_OID})
        return locks, self._after(conn, before, found, held, locked, changed_more, elsewhere)

    def _after(
        self,
        conn: Connection,
        before: State | None,
        found: dict[str, Any],
        held: list[tuple[int, str]],
        locked: list[int],
        changed_more: bool,
        elsewhere: bool,
    ) -> After | None:
        enums = not found["counted"] or (found["enum_writes"] or 0) > self.enum_writes
        if not found["same"] or changed_more or elsewhere:
            self.invalidate()
        else:
            self.pending.add(locked, enums)
        if before is None:
            return None
        if not found["same"] or elsewhere:  # a COMMIT inside the step: its locks are gone
            result = after_of(_row(conn, _AFTER_UNLOCKED, {"schema": self.schema}), held)
            self.reads["whole"] += 1
            return result
        state = before.copy()
        self._patch(state, found, set(locked), books=False)
        if found["enums"] is not None:
            state.enums = {r[0]: (r[1], r[2]) for r in found["enums"]}
        indexes = [(r[0], r[1], r[4], r[6]) for r in found["relations"] if r[5]]
        result = After(state, indexes, held, found["xid"], set(locked))
        self.reads["partial"] += 1
        if self.verify:
            self._compare_after(result, after_of(whole(conn, self.schema, after=True)), before)
        return result

    # --- patching ---------------------------------------------------------------------------

    def _patch(self, state: State, found: dict[str, Any], asked: set[int], books: bool) -> None:
        """Replace in ``state`` everything of the relations in ``asked``: the relations,
        the indexes known on them, their columns and constraints, by what ``found`` read of
        them (nothing, for those gone or moved out of the schema). ``books``: keep the
        tracker's bookkeeping (index tables, CHECKs re-read always) with it."""
        gone = set(asked)
        for table in asked:
            gone |= self.indexes_on.get(table, set())
        for oid in gone:
            state.relations.pop(oid, None)
        for table in asked:
            state.columns.pop(table, None)
            state.constraints.pop(table, None)
        for r in found["relations"]:
            state.relations[r[0]] = (r[1], r[2], r[3])
        state.columns.update(_columns(found["columns"]))
        state.constraints.update(_constraints(found["constraints"]))
        if not books:
            return
        for oid in gone:
            if oid in self.index_of:
                self.indexes_on.get(self.index_of.pop(oid), set()).discard(oid)
        for r in found["relations"]:
            if r[5]:
                self.index_of[r[0]] = r[4]
                self.indexes_on.setdefault(r[4], set()).add(r[0])
        self.impure = {oid: t for oid, t in self.impure.items() if t not in asked}
        self.impure.update((r[0], r[3]) for r in found["constraints"] if r[6])

    # --- verification -----------------------------------------------------------------------

    def _compare(self, where: str, incremental: State, reference: State) -> None:
        self.reads["verified"] += 1
        parts = ("relations", "columns", "constraints", "enums")
        for part, mine, theirs in zip(parts, incremental.flat(), reference.flat(), strict=True):
            if mine != theirs:
                raise CatalogMismatch(_difference(f"{where}, {part}", mine, theirs))

    def _compare_after(self, incremental: After, reference: After, before: State) -> None:
        """What the rules receive after the step: the state (a CHECK's text only before
        the step: the rules read none after it), the locks on relations that may be the
        schema's, the transaction id and the indexes they look at (new ones on tables that
        existed before)."""

        def without_text(state: State) -> State:
            constraints = {
                table: {oid: (*row[:5], "") for oid, row in rows.items()}
                for table, rows in state.constraints.items()
            }
            return dataclasses.replace(state, constraints=constraints)

        self._compare(
            "after the step", without_text(incremental.state), without_text(reference.state)
        )
        tables = {oid for oid, rel in before.relations.items() if rel[1] in ("r", "p", "m")}

        def judged(indexes: list[tuple[int, str, int, str]]) -> dict[int, tuple[Any, ...]]:
            return {
                row[0]: row
                for row in indexes
                if row[2] in tables and row[0] not in before.relations
            }

        for part, mine, theirs in (
            ("indexes", judged(incremental.indexes), judged(reference.indexes)),
            ("locks", _user_locks(incremental.locks), _user_locks(reference.locks)),
            ("xid", incremental.xid, reference.xid),
        ):
            if mine != theirs:
                raise CatalogMismatch(_difference(f"after the step, {part}", mine, theirs))


def _user_locks(locks: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The locks the rules can look at: on relations that may be the schema's (the reads
    themselves hold some on system catalogs, each read its own)."""
    return sorted(lock for lock in locks if lock[0] >= _FIRST_NORMAL_OID)


def _difference(where: str, mine: Any, theirs: Any) -> str:
    if isinstance(mine, dict) and isinstance(theirs, dict):
        extra = {k: mine[k] for k in mine.keys() - theirs.keys()}
        missing = {k: theirs[k] for k in theirs.keys() - mine.keys()}
        changed = {
            k: (mine[k], theirs[k]) for k in mine.keys() & theirs.keys() if mine[k] != theirs[k]
        }
        return (
            f"safety's incremental catalog read differs from the whole read ({where}): "
            f"only incremental {extra}, only whole {missing}, different {changed}"
        )
    return (
        f"safety's incremental catalog read differs from the whole read ({where}): "
        f"{mine!r} != {theirs!r}"
    )
