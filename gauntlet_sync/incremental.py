"""no_trace's snapshots at the cost of what the steps changed, not of the whole schema.

no_trace snapshots the schema before each revision's upgrade and after its downgrade. The
whole query (``snapshot._SNAPSHOT_SQL``) costs as much as the schema is big, two thirds of it
deparsing (``pg_get_indexdef``, ``pg_get_constraintdef``, ``format_type``...): a walk then costs
revisions x schema size. Here a walk keeps the last snapshot's rows per *unit* (a relation
with its columns, indexes, constraints, triggers, policies and comments; all the schema's
enum/domain/range types with the domains' constraints; all its functions; its extensions) and
deparses again only the units the steps since then may have changed.

What changed is found without reading the schema:

* **relations**: every DDL on a relation takes a lock on it stronger than the ones reads and
  DML take (CREATE/ALTER/DROP/RENAME/COMMENT, index builds; dropping an index, constraint,
  trigger, default or policy locks its table), held until the transaction ends. So this
  backend's own ``pg_locks`` are read at the end of every step (after every hook, before its
  commit: the walk's one read per step, :mod:`.step_locks`, shared with safety's) and at each
  snapshot. A COMMIT inside a step (``autocommit_block``) releases locks:
  the steps' transactions are followed by their virtual transaction id, and a gap (a
  transaction nobody read the locks of) makes the next snapshot a whole one;
* **types and functions** take no lock when created, replaced, renamed or moved: their rows
  written since the last snapshot are found by ``xmin`` in pg_type and pg_enum (small
  catalogs, scanned), the domains' constraints (an index range) and the schema's functions
  (through pg_depend's reference index); pg_class, pg_attribute and pg_depend are never
  scanned. Dropped types and functions hold an object lock; a dropped domain constraint
  leaves neither, so the domain constraints are counted;
* **what prints another object's name**: an FK prints the referenced table and columns, a
  default a sequence's name or an enum label, a column its type's name, a view everything
  it reads, a trigger its function. What depends (``pg_depend``, by its reference index) on
  a changed relation, its row type, a changed type or function is deparsed again too.

Anything not followed so makes the snapshot a whole one: a lock on a relation or object
outside the schema (another schema's, a temporary one), temporary relations in the session
(searched first, they may hide the schema's), rows written since in other catalogs that
change how definitions print (operators, collations, schemas, extensions, casts,
languages...), types written outside the schema, a function name that is or was overloaded
coming or going, settings that change how definitions print, a search path other than the
schema alone, another connection or backend, another driver than psycopg 3, and a schema
under :data:`MIN_ROWS` rows. Changes made through *another connection* hold no lock of
this backend's: no_trace makes the next snapshot a whole one when env.py's engines opened
or checked out a connection since (``handover.Redirect.checkouts``). A lock read at a
step's end is taken for its transaction's last word: the walk commits right after it
(``_compat.commit_between_steps``), a transaction only psycopg knew of included (with
``transaction_per_migration=True``, jupyterhub's env.py, alembic commits each step
itself: the walk's step end then runs from ``on_version_apply``, inside that transaction,
before the commit, see ``MigrationSession.run``; a read after such a commit began one
SQLAlchemy did not see, and left open, the next step's DDL ran in it after its "last" read).

:data:`VERIFY` (``GAUNTLET_VERIFY_SNAPSHOTS=1``) compares every incremental snapshot with
the whole query and raises :class:`SnapshotMismatch` on a difference
(``tests/test_snapshot_incremental.py`` walks the test corpus so).
"""

from __future__ import annotations

import bisect
import os
import secrets
import weakref
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg import sql

# snapshot imports this module first: its names are looked up when a query is made
from . import snapshot
from .step_locks import WEAK_MODES, StepLocks

Row = tuple[str, str, str]

#: Tests set this: every incremental snapshot is compared with a whole one.
VERIFY = os.environ.get("GAUNTLET_VERIFY_SNAPSHOTS", "") == "1"
#: What the snapshotters of this process did (tests and benchmarks read it).
COUNTS = {"whole": 0, "incremental": 0, "verified": 0, "step_reads": 0}
#: Below this many rows the whole query costs about what following the steps costs:
#: a schema that small is read whole (tests set 0, to follow every history).
MIN_ROWS = int(os.environ.get("GAUNTLET_INCREMENTAL_MIN_ROWS", "300"))

# Unit keys besides relation oids (which are >= 16384).
TYPES, FUNCTIONS, EXTENSIONS = 0, 1, 2


class SnapshotMismatch(AssertionError):
    """Test mode (:data:`VERIFY`): an incremental snapshot differed from the whole one."""


def verify(schema: str, rows: tuple[Row, ...], whole: tuple[Row, ...]) -> None:
    """Test mode: an incremental snapshot must equal the whole one (else raise, so that a
    walk with a wrong snapshot fails loudly, in a forked child too)."""
    COUNTS["verified"] += 1
    if rows != whole:
        missing = sorted(set(whole) - set(rows))
        extra = sorted(set(rows) - set(whole))
        raise SnapshotMismatch(
            f"incremental snapshot of {schema} differs from the whole one:"
            f" missing {missing[:20]}, extra {extra[:20]}"
        )


# The whole query of snapshot._SNAPSHOT_SQL with each row's unit, and the filters a partial
# read puts in: {rels} the relation units to read ($1), {types} / {funcs} whether to read
# the type and function units ($2, $3). ``tests/test_snapshot_incremental.py`` holds its
# rows equal to _SNAPSHOT_SQL's.
_UNITS_SQL = r"""
WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname = {schema}),
members AS (
    SELECT d.classid, d.objid FROM pg_depend d
    WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
      AND d.refobjid = ANY(ARRAY(
          SELECT e.oid FROM pg_extension e WHERE e.extnamespace = (SELECT oid FROM ns)))
),
rels AS (
    SELECT c.oid, c.relname, c.relkind, c.relpersistence, c.reloptions, c.reltype,
           coalesce((SELECT x.indrelid FROM pg_index x WHERE x.indexrelid = c.oid), c.oid)
               AS unit
    FROM {rel_source}
    WHERE c.relnamespace = (SELECT oid FROM ns)
      AND {rels}
      AND c.relname <> ALL({skip})
      AND c.oid <> ALL(ARRAY(
          SELECT objid FROM members WHERE classid = 'pg_class'::regclass))
      AND NOT EXISTS (
          SELECT 1 FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
          WHERE i.indexrelid = c.oid
            AND (t.relname = ANY({skip}) OR t.oid = ANY(ARRAY(
                SELECT objid FROM members WHERE classid = 'pg_class'::regclass))))
)
SELECT unit, kind, name, definition FROM (
    SELECT r.unit, 'relation' AS kind, r.relname AS name,
           {relation_definition} AS definition
    FROM rels r WHERE r.relkind <> 'i' AND r.relkind <> 'I'
  UNION ALL
    SELECT r.unit, 'column', r.relname || '.' || a.attname,
           {column_definition}
    FROM rels r
    JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 0
         AND co.collname <> 'default'
    WHERE r.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
  UNION ALL
    SELECT r.unit, 'index', r.relname,
           replace(pg_get_indexdef(r.oid), ' ON ' || quote_ident({schema}) || '.', ' ON ')
    FROM rels r WHERE r.relkind IN ('i', 'I')
  UNION ALL
    SELECT con.conrelid, 'constraint', tr.relname || '.' || con.conname,
           con.contype::text || ' ' || pg_get_constraintdef(con.oid)
           || CASE WHEN con.condeferrable THEN ' deferrable' ELSE '' END
    FROM pg_constraint con
    JOIN rels tr ON tr.oid = con.conrelid
    WHERE con.conrelid = ANY(ARRAY(SELECT oid FROM rels))
      AND con.connamespace = (SELECT oid FROM ns)
  UNION ALL
    SELECT 0, 'constraint', coalesce(ty.typname, '') || '.' || con.conname,
           con.contype::text || ' ' || pg_get_constraintdef(con.oid)
           || CASE WHEN con.condeferrable THEN ' deferrable' ELSE '' END
    FROM pg_constraint con
    LEFT JOIN pg_type ty ON ty.oid = con.contypid
    WHERE {types} AND con.connamespace = (SELECT oid FROM ns) AND con.conrelid = 0
      AND con.contypid <> ALL(ARRAY(
          SELECT objid FROM members WHERE classid = 'pg_type'::regclass))
  UNION ALL
    SELECT r.unit, 'sequence', r.relname,
           {sequence_definition}
    FROM rels r JOIN pg_sequence s ON s.seqrelid = r.oid
  UNION ALL
    SELECT 0, 'type', t.typname, {type_definition}
    FROM pg_type t
    WHERE {types} AND t.typnamespace = (SELECT oid FROM ns) AND t.typtype IN ('e', 'd', 'r', 'm')
      AND t.oid <> ALL(ARRAY(SELECT objid FROM members WHERE classid = 'pg_type'::regclass))
  UNION ALL
    SELECT t.typrelid, 'type', t.typname, {type_definition}
    FROM pg_type t
    WHERE t.oid = ANY(ARRAY(SELECT reltype FROM rels WHERE relkind = 'c'))
      AND t.oid <> ALL(ARRAY(SELECT objid FROM members WHERE classid = 'pg_type'::regclass))
  UNION ALL
    SELECT r.unit, 'view', r.relname, regexp_replace(btrim(pg_get_viewdef(r.oid)), '\s+', ' ', 'g')
    FROM rels r WHERE r.relkind IN ('v', 'm')
  UNION ALL
    SELECT 1, 'function', p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
           {function_definition}
    FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
    WHERE {funcs} AND p.oid = ANY(ARRAY(
            SELECT objid FROM pg_depend
            WHERE refclassid = 'pg_namespace'::regclass AND refobjid = (SELECT oid FROM ns)
              AND classid = 'pg_proc'::regclass))
      AND p.pronamespace = (SELECT oid FROM ns)
      AND p.oid <> ALL(ARRAY(SELECT objid FROM members WHERE classid = 'pg_proc'::regclass))
  UNION ALL  -- the functions' plain names: a name that becomes or stops being overloaded
    SELECT 1, '#name', p.proname, ''
    FROM pg_proc p
    WHERE {funcs} AND p.oid = ANY(ARRAY(
            SELECT objid FROM pg_depend
            WHERE refclassid = 'pg_namespace'::regclass AND refobjid = (SELECT oid FROM ns)
              AND classid = 'pg_proc'::regclass))
      AND p.pronamespace = (SELECT oid FROM ns)
  UNION ALL
    SELECT c.unit, 'trigger', c.relname || '.' || tg.tgname,
           replace(pg_get_triggerdef(tg.oid), ' ON ' || quote_ident({schema}) || '.', ' ON ')
    FROM pg_trigger tg JOIN rels c ON c.oid = tg.tgrelid
    WHERE tg.tgrelid = ANY(ARRAY(SELECT oid FROM rels)) AND NOT tg.tgisinternal
  UNION ALL
    SELECT c.unit, 'policy', c.relname || '.' || pol.polname,
           {policy_definition}
    FROM pg_policy pol JOIN rels c ON c.oid = pol.polrelid
    WHERE pol.polrelid = ANY(ARRAY(SELECT oid FROM rels))
  UNION ALL
    SELECT c.unit, 'comment', c.relname || coalesce('.' || a.attname, ''), d.description
    FROM pg_description d
    JOIN rels c ON d.objoid = c.oid
    LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid AND d.objsubid > 0
    WHERE d.objoid = ANY(ARRAY(SELECT oid FROM rels)) AND d.classoid = 'pg_class'::regclass
  UNION ALL
    SELECT 2, 'extension', e.extname,
           {extension_definition}
    FROM pg_extension e WHERE {exts} AND e.extnamespace = (SELECT oid FROM ns)
) AS objects
"""

# Which units each statement reads: all of them, or one kind (the relations: those in $1).
# One statement per kind, each with a plan of its own: a statement gated by parameters
# would be planned anew at each run (its custom plans look cheaper than a generic one).
_NONE = {
    "rel_source": "pg_class c",
    "rels": "false",
    "types": "false",
    "funcs": "false",
    "exts": "false",
}
_PARTS = {
    "whole": {**_NONE, "rels": "true", "types": "true", "funcs": "true", "exts": "true"},
    "rels": {  # the relations in $1 and their indexes, looked up by oid (OFFSET 0: so)
        **_NONE,
        "rel_source": """unnest(ARRAY(
            SELECT unnest($1::oid[])
            UNION ALL
            SELECT x.indexrelid FROM unnest($1::oid[]) AS r(oid),
                   LATERAL (SELECT indexrelid FROM pg_index WHERE indrelid = r.oid OFFSET 0) x
         )) AS w(oid),
         LATERAL (SELECT * FROM pg_class WHERE pg_class.oid = w.oid OFFSET 0) c""",
        "rels": "true",
    },
    "types": {**_NONE, "types": "true"},
    "funcs": {**_NONE, "funcs": "true"},
    "exts": {**_NONE, "exts": "true"},
}


# Settings that change how definitions print (names qualified or not, literals, quoting),
# and who resolves "$user".
_SETTINGS = (
    "search_path",
    "quote_all_identifiers",
    "DateStyle",
    "IntervalStyle",
    "TimeZone",
    "extra_float_digits",
    "bytea_output",
    "standard_conforming_strings",
    "xmloption",
    "xmlbinary",
    "lc_monetary",
)
_SETTINGS_SQL = (
    "concat_ws('|', {}, current_user, array_to_string(current_schemas(false), ','))".format(
        ", ".join(f"current_setting('{name}')" for name in _SETTINGS)
    )
)

# This backend's locks: its transaction (pid/virtual xid) and what DDL locked in it.
# Reads and DML take AccessShare, RowShare and RowExclusive locks, which change no catalog
# (step_locks.WEAK_MODES: a step's end takes the same rows from the walk's read).
_LOCKS_CTE = """l AS MATERIALIZED (
    SELECT locktype, relation, classid, objid, mode, virtualxid FROM pg_locks
    WHERE pid = pg_backend_pid()
      AND locktype IN ('virtualxid', 'relation', 'object')
      AND mode NOT IN ('AccessShareLock', 'RowShareLock', 'RowExclusiveLock'))"""

_SINCE_SQL = (
    "(least(coalesce(txid_current_if_assigned(), s), s) % 4294967296)::text"
    " FROM (SELECT txid_snapshot_xmin(txid_current_snapshot()) AS s) q"
)

# Whether this session has temporary relations (searched first, they may hide ours):
# pg_class is scanned only once the session has a temporary schema at all.
_TEMP_SQL = """CASE WHEN pg_my_temp_schema() = 0 THEN 'no' WHEN EXISTS (
    SELECT 1 FROM pg_class WHERE relnamespace = pg_my_temp_schema()) THEN 'yes' ELSE 'no' END"""

#: other gauntlet runs' schemas (and a forked child's): nothing of ours refers to them
_ISOLATED = r"^[a-z][a-z0-9]*_[0-9]+_[0-9]{10}_[0-9a-f]{6}$"
_ISOLATED_SQL = _ISOLATED.replace("{", "{{").replace("}", "}}")  # composed with sql.SQL

# Catalogs whose rows, written since the last snapshot anywhere in the database, change
# how the schema's definitions may print in ways not followed here: a whole snapshot.
_CANARIES = (
    "pg_namespace",
    "pg_extension",
    "pg_operator",
    "pg_opclass",
    "pg_opfamily",
    "pg_collation",
    "pg_cast",
    "pg_conversion",
    "pg_language",
    "pg_am",
    "pg_transform",
    "pg_ts_config",
    "pg_ts_dict",
    "pg_ts_parser",
    "pg_ts_template",
)

# At each snapshot: this transaction's locks (as at a step's end), the settings, the types
# and functions written since the last snapshot ($4: the oldest transaction id whose rows
# it may not have seen) or object-locked since ($2: 'class:oid' from the steps' ends), and
# the units that depend on anything changed ($1: relations locked by the steps since).
# Each row: (tag, oid, text).
_CHANGES_SQL = f"""
WITH {_LOCKS_CTE},
ns AS (SELECT oid FROM pg_namespace WHERE nspname = {{schema}}),
lim AS (SELECT age($3::text::xid) AS a),
objs AS (
    SELECT classid, objid FROM l WHERE locktype = 'object'
    UNION SELECT split_part(o, ':', 1)::regclass::oid, split_part(o, ':', 2)::oid
    FROM unnest($2::text[]) o
),
others AS (  -- schemas whose objects ours cannot print: other runs', other sessions' temp
    SELECT oid FROM pg_namespace
    WHERE oid <> (SELECT oid FROM ns) AND (nspname ~ '{_ISOLATED_SQL}'
       OR ((nspname LIKE 'pg\\_temp\\_%' OR nspname LIKE 'pg\\_toast\\_temp\\_%')
           AND oid <> pg_my_temp_schema()
           AND nspname <> 'pg_toast_temp_' || substr(pg_my_temp_schema()::regnamespace::text, 9))
       OR nspname = 'pg_toast')
),
locked AS (
    SELECT relation AS oid FROM l WHERE locktype = 'relation' AND relation >= 16384
    UNION SELECT unnest($1::oid[])
),
lockrels AS (  -- (index lookups, however big pg_class has grown)
    SELECT k.oid, (SELECT c.relnamespace FROM pg_class c WHERE c.oid = k.oid) AS relnamespace,
           (SELECT c.reltype FROM pg_class c WHERE c.oid = k.oid) AS reltype,
           coalesce((SELECT x.indrelid FROM pg_index x WHERE x.indexrelid = k.oid), k.oid) AS unit
    FROM locked k
),
types AS (  -- written since: our enum/domain/range types (a row type goes with its relation)
    SELECT t.oid, t.typnamespace, t.typtype, t.typrelid FROM pg_type t
    WHERE age(t.xmin) <= (SELECT a FROM lim)
    UNION
    SELECT t.oid, t.typnamespace, t.typtype, t.typrelid
    FROM (SELECT e.enumtypid FROM pg_enum e WHERE age(e.xmin) <= (SELECT a FROM lim)) e
    JOIN pg_type t ON t.oid = e.enumtypid
    UNION
    SELECT t.oid, t.typnamespace, t.typtype, t.typrelid
    FROM objs o JOIN pg_type t ON o.classid = 'pg_type'::regclass AND t.oid = o.objid
),
procs AS (  -- the schema's functions (its pg_depend entries), and locked ones (renamed
            -- or dropped elsewhere: ours may call them); replacing one elsewhere prints nothing
    SELECT p.oid, p.pronamespace FROM pg_proc p
    WHERE p.oid = ANY(ARRAY(
            SELECT objid FROM pg_depend
            WHERE refclassid = 'pg_namespace'::regclass AND refobjid = (SELECT oid FROM ns)
              AND classid = 'pg_proc'::regclass))
      AND age(p.xmin) <= (SELECT a FROM lim)
    UNION
    SELECT p.oid, p.pronamespace
    FROM objs o JOIN pg_proc p ON o.classid = 'pg_proc'::regclass AND p.oid = o.objid
),
refs AS (  -- what ours may print the name of
    SELECT 'pg_class'::regclass::oid AS classid, oid AS objid FROM lockrels
    WHERE relnamespace = (SELECT oid FROM ns)
    UNION ALL SELECT 'pg_type'::regclass, reltype FROM lockrels
    WHERE relnamespace = (SELECT oid FROM ns) AND reltype <> 0
    UNION ALL SELECT 'pg_type'::regclass, oid FROM types
    WHERE typnamespace = (SELECT oid FROM ns)
    UNION ALL SELECT 'pg_proc'::regclass, oid FROM procs
    WHERE pronamespace = (SELECT oid FROM ns)
),
refs_and_arrays AS (
    SELECT classid, objid FROM refs
    UNION ALL SELECT 'pg_type'::regclass, t.typarray FROM refs
    JOIN pg_type t ON refs.classid = 'pg_type'::regclass AND t.oid = refs.objid
    WHERE t.typarray <> 0
)
SELECT 'settings', NULL::oid, {_SETTINGS_SQL}
UNION ALL
SELECT 'xid', NULL, pg_backend_pid() || '/' || (
    SELECT virtualxid FROM l WHERE locktype = 'virtualxid' LIMIT 1)
UNION ALL
SELECT 'since', NULL, {_SINCE_SQL}
UNION ALL
SELECT 'temp', NULL, {_TEMP_SQL}
UNION ALL  -- dropping a domain constraint writes no row and takes no lock
SELECT 'domain constraints', NULL, count(*)::text FROM pg_constraint k
WHERE k.conrelid = 0 AND k.connamespace = (SELECT oid FROM ns)
UNION ALL  -- locked relations of the schema (an index: its table's unit; gone: its own)
SELECT 'rel', unit, NULL FROM lockrels
WHERE relnamespace = (SELECT oid FROM ns) OR relnamespace IS NULL
UNION ALL  -- locked elsewhere: a temporary relation, another schema's
SELECT 'out', oid, 'relation locked outside the schema' FROM lockrels
WHERE relnamespace <> (SELECT oid FROM ns) AND relnamespace NOT IN (SELECT oid FROM others)
UNION ALL
SELECT 'out', objid, 'object of ' || classid::regclass::text || ' locked' FROM objs
WHERE classid NOT IN ('pg_type'::regclass, 'pg_proc'::regclass, 'pg_constraint'::regclass,
                      'pg_trigger'::regclass, 'pg_attrdef'::regclass, 'pg_policy'::regclass,
                      'pg_rewrite'::regclass)
UNION ALL
SELECT 'types', oid, 'type ' || typtype::text FROM types
WHERE typnamespace = (SELECT oid FROM ns) AND typtype IN ('e', 'd', 'r', 'm')
UNION ALL  -- a type elsewhere (ours may print its name), not a relation's row type
SELECT 'out', oid, 'type written outside the schema' FROM types
WHERE typnamespace <> (SELECT oid FROM ns) AND typrelid = 0
  AND typnamespace NOT IN (SELECT oid FROM others)
UNION ALL  -- a dropped type: what showed it is re-read
SELECT 'types', objid, 'dropped' FROM objs
WHERE classid = 'pg_type'::regclass AND NOT EXISTS (SELECT 1 FROM pg_type WHERE oid = objid)
UNION ALL
SELECT CASE WHEN pronamespace = (SELECT oid FROM ns) THEN 'funcs' ELSE 'out' END, oid, 'function'
FROM procs WHERE pronamespace NOT IN (SELECT oid FROM others)
UNION ALL
SELECT 'funcs', objid, 'dropped' FROM objs
WHERE classid = 'pg_proc'::regclass AND NOT EXISTS (SELECT 1 FROM pg_proc WHERE oid = objid)
UNION ALL  -- domain constraints written since (those elsewhere print nothing of ours)
SELECT 'types', NULL, 'domain constraint' FROM pg_constraint k
WHERE k.conrelid = 0 AND k.connamespace = (SELECT oid FROM ns)
  AND age(k.xmin) <= (SELECT a FROM lim)
UNION ALL  -- the units whose definitions print a changed object's name
SELECT 'dep', owner, NULL FROM (
    SELECT CASE d.classid
      WHEN 'pg_class'::regclass THEN (
        SELECT coalesce(x.indrelid, k.oid) FROM pg_class k
        LEFT JOIN pg_index x ON x.indexrelid = k.oid
        WHERE k.oid = d.objid AND k.relnamespace = (SELECT oid FROM ns))
      WHEN 'pg_constraint'::regclass THEN (
        SELECT k.conrelid FROM pg_constraint k
        WHERE k.oid = d.objid AND k.connamespace = (SELECT oid FROM ns))
      WHEN 'pg_attrdef'::regclass THEN (
        SELECT k.adrelid FROM pg_attrdef k WHERE k.oid = d.objid)
      WHEN 'pg_rewrite'::regclass THEN (
        SELECT k.ev_class FROM pg_rewrite k WHERE k.oid = d.objid)
      WHEN 'pg_trigger'::regclass THEN (
        SELECT k.tgrelid FROM pg_trigger k WHERE k.oid = d.objid)
      WHEN 'pg_policy'::regclass THEN (
        SELECT k.polrelid FROM pg_policy k WHERE k.oid = d.objid)
      WHEN 'pg_type'::regclass THEN (  -- an array type prints nothing; a domain: TYPES
        SELECT k.typrelid FROM pg_type k WHERE k.oid = d.objid AND k.typcategory <> 'A')
      WHEN 'pg_proc'::regclass THEN 1
      ELSE NULL END AS owner
    FROM refs_and_arrays r
    JOIN pg_depend d ON d.refclassid = r.classid AND d.refobjid = r.objid
) o WHERE owner IS NOT NULL
UNION ALL
""" + "\nUNION ALL\n".join(
    f"SELECT 'out', NULL, '{name} written' WHERE EXISTS ("
    f"SELECT 1 FROM pg_catalog.{name} WHERE age(xmin) <= (SELECT a FROM lim))"
    for name in _CANARIES
)

# What a whole read records: the settings, this transaction, and the oldest transaction
# whose catalog rows the read may not have seen.
_FACTS_SQL = f"""
WITH {_LOCKS_CTE}
SELECT {_SETTINGS_SQL},
       pg_backend_pid() || '/' || (SELECT virtualxid FROM l WHERE locktype = 'virtualxid'
                                   LIMIT 1),
       (SELECT {_SINCE_SQL}),
       {_TEMP_SQL}
"""


def units_query(schema: str, skip_tables: Iterable[str], part: str = "whole") -> sql.Composed:
    """The schema's rows with their units: all of them, or one kind (see ``_PARTS``)."""
    skip = snapshot.skip_array(skip_tables)
    text = snapshot.with_definitions(_UNITS_SQL)
    for name, value in _PARTS[part].items():
        text = text.replace("{" + name + "}", value)
    return sql.SQL(text).format(schema=sql.Literal(schema), skip=skip)


def _literal(value: Any) -> sql.Composable:
    """A parameter of EXECUTE: arrays as untyped literals (PREPARE gave their types)."""
    if isinstance(value, (list, tuple, set, frozenset)):
        return sql.Literal("{" + ",".join(str(v) for v in sorted(value)) + "}")
    return sql.Literal(value)


class Journal:
    """What the steps since the last snapshot locked, and whether that is all of them.

    ``xid`` is the last transaction seen (``pid/backend/local`` virtual transaction id:
    local ids count up by one per transaction of a backend), ``closed`` whether its locks
    were read at its end. A transaction that went by unread (a COMMIT inside a step,
    another connection) makes ``complete`` false."""

    def __init__(self, xid: str) -> None:
        self.xid = xid
        self.closed = False
        self.complete = True
        self.relations: set[int] = set()
        self.objects: set[str] = set()

    def follows(self, xid: str | None) -> bool:
        """Whether ``xid`` is the transaction seen last, or the next one after the last
        was read at its end."""
        if not xid or xid == self.xid:
            return bool(xid)
        head, _, local = xid.rpartition("/")
        last_head, _, last_local = self.xid.rpartition("/")
        return (
            self.closed
            and head == last_head
            and local.isdigit()
            and last_local.isdigit()
            and int(local) == int(last_local) + 1
        )

    def close(self, xid: str | None, relations: Iterable[int], objects: Iterable[str]) -> None:
        """The locks of transaction ``xid`` at its end."""
        if not self.follows(xid):
            self.complete = False
            return
        self.xid = str(xid)
        self.closed = True
        self.relations.update(int(r) for r in relations)
        self.objects.update(str(o) for o in objects)


class Units:
    """The last snapshot of one schema, per unit (see the module doc), and how to bring it
    up to date on one psycopg connection."""

    def __init__(self, schema: str, skip_tables: Iterable[str]) -> None:
        self.schema = schema
        skip = frozenset(skip_tables)
        prefix = f"gauntlet_units_{secrets.token_hex(4)}"
        statements: dict[str, tuple[sql.Composable, str]] = {
            part: (units_query(schema, skip, part), "") for part in _PARTS
        }
        statements["rels"] = (statements["rels"][0], "(oid[])")
        statements["changes"] = (
            sql.SQL(_CHANGES_SQL).format(schema=sql.Literal(schema)),
            "(oid[], text[], text)",
        )
        statements["facts"] = (sql.SQL(_FACTS_SQL), "")
        self._statements = {
            name: (sql.Identifier(f"{prefix}_{name}"), query, types)
            for name, (query, types) in statements.items()
        }
        self._prepared: dict[str, weakref.WeakSet[psycopg.Connection[Any]]] = {
            name: weakref.WeakSet() for name in self._statements
        }
        self.raw: psycopg.Connection[Any] | None = None
        self.units: dict[int, tuple[Row, ...]] = {}
        self.rows: tuple[Row, ...] = ()
        self._sorted: list[Row] = []  # the same, as a list kept sorted
        self.settings: str | None = None
        self.since: str | None = None
        self.journal: Journal | None = None  # None: the next snapshot is a whole one
        self.catalog_names: frozenset[str] | None = None
        self.domain_constraints: str | None = None

    def _execute(
        self, raw: psycopg.Connection[Any], name: str, params: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]:
        (rows,) = self._execute_all(raw, [(name, params)])
        return rows

    def _execute_all(
        self, raw: psycopg.Connection[Any], calls: Sequence[tuple[str, Sequence[Any]]]
    ) -> list[list[tuple[Any, ...]]]:
        """Each statement's rows, in one round trip (preparing first where needed)."""
        to_prepare = [name for name, _ in calls if raw not in self._prepared[name]]
        executes: list[sql.Composable] = []
        for name in to_prepare:
            identifier, query, types = self._statements[name]
            executes.append(sql.SQL("PREPARE {}{} AS {}").format(identifier, sql.SQL(types), query))
        for name, params in calls:
            identifier = self._statements[name][0]
            if params:
                args = sql.SQL(", ").join(_literal(p) for p in params)
                executes.append(sql.SQL("EXECUTE {}({})").format(identifier, args))
            else:
                executes.append(sql.SQL("EXECUTE {}").format(identifier))
        results: list[list[tuple[Any, ...]]] = []
        with raw.cursor() as cur:
            cur.execute(sql.SQL("; ").join(executes))
            for _ in to_prepare:
                cur.nextset()
            for index in range(len(calls)):
                if index:
                    cur.nextset()
                results.append(cur.fetchall())
        for name in to_prepare:
            self._prepared[name].add(raw)
        return results

    # -- the walk's calls ---------------------------------------------------------------

    def follows(self, raw: psycopg.Connection[Any]) -> bool:
        """Whether the steps are being followed on ``raw`` (:meth:`step_end` then needs
        each step's locks)."""
        return self.journal is not None and self.journal.complete and raw is self.raw

    def step_end(self, raw: psycopg.Connection[Any], locks: StepLocks | None) -> None:
        """At the end of a step, before its commit: what its transaction locked (``None``:
        not read, the steps are no longer followed)."""
        if self.journal is None or not self.journal.complete:
            return
        if raw is not self.raw or locks is None:
            self.journal.complete = False
            return
        COUNTS["step_reads"] += 1
        relations = {oid for oid, mode, _granted in locks.relations if mode not in WEAK_MODES}
        objects = {f"{cls}:{oid}" for cls, oid, mode in locks.objects if mode not in WEAK_MODES}
        self.journal.close(locks.xid, relations, objects)

    def take(self, raw: psycopg.Connection[Any]) -> tuple[Row, ...]:
        """The schema's rows now, sorted, reading only what changed when it can."""
        journal, self.journal = self.journal, None
        if journal is not None and journal.complete and raw is self.raw:
            if self._update(raw, journal):
                COUNTS["incremental"] += 1
                return self.rows
        self._whole(raw)
        COUNTS["whole"] += 1
        return self.rows

    def _whole(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw
        ((settings, xid, since, temp),) = self._execute(raw, "facts")
        units: dict[int, list[Row]] = {}
        for unit, kind, name, definition in self._execute(raw, "whole"):
            units.setdefault(int(unit), []).append((str(kind), str(name), str(definition)))
        self.units = {unit: tuple(sorted(unit_rows)) for unit, unit_rows in units.items()}
        self._join()
        self.settings, self.since = str(settings), str(since)
        self.domain_constraints = None
        # Followed only when names resolve in the schema alone (besides pg_catalog and the
        # session's temporary schema, whose relations a lock shows).
        followed = self.settings.rsplit("|", 1)[-1] == self.schema
        if followed and temp == "no" and len(self.rows) >= MIN_ROWS and xid:
            self.journal = Journal(str(xid))

    def _update(self, raw: psycopg.Connection[Any], journal: Journal) -> bool:
        """Bring the units up to date; False: read everything instead."""
        params = (journal.relations, journal.objects, self.since or "0")
        rels: set[int] = set()
        types = funcs = False
        facts: dict[str, str] = {}
        for tag, oid, text in self._execute(raw, "changes", params):
            if tag == "out":
                return False
            if tag in ("settings", "xid", "since", "temp", "domain constraints"):
                facts[tag] = str(text)
            elif tag in ("rel", "dep") and oid is not None:
                if int(oid) == TYPES:
                    types = True
                elif int(oid) == FUNCTIONS:
                    funcs = True
                else:
                    rels.add(int(oid))
            elif tag == "types":
                types = True
            elif tag == "funcs":
                funcs = True
        if (
            facts.get("settings") != self.settings
            or facts.get("temp") != "no"
            or not journal.follows(facts.get("xid"))
        ):
            return False
        if facts.get("domain constraints") != self.domain_constraints:
            types = True
            self.domain_constraints = facts.get("domain constraints")
        if rels or types or funcs or EXTENSIONS in self.units:
            names_before = self._function_names()
            read: dict[int, list[Row]] = {unit: [] for unit in rels}
            calls: list[tuple[str, Sequence[Any]]] = [("exts", ())]
            read[EXTENSIONS] = []
            if rels:
                calls.append(("rels", (rels,)))
            if types:
                read[TYPES] = []
                calls.append(("types", ()))
            if funcs:
                read[FUNCTIONS] = []
                calls.append(("funcs", ()))
            for rows in self._execute_all(raw, calls):
                for unit, kind, name, definition in rows:
                    read.setdefault(int(unit), []).append((str(kind), str(name), str(definition)))
            changed = False
            for unit, unit_rows in read.items():
                now = tuple(sorted(unit_rows))
                was = self.units.get(unit, ())
                if was != now:
                    changed = True
                    self._replace(was, now)
                    if now:
                        self.units[unit] = now
                    else:
                        self.units.pop(unit, None)
            if funcs and self._overloads_changed(raw, names_before):
                return False
            if changed:
                self.rows = tuple(self._sorted)
        self.since = facts.get("since")
        self.journal = Journal(facts["xid"])
        return True

    def _function_names(self) -> list[str]:
        return [name for kind, name, _ in self.units.get(FUNCTIONS, ()) if kind == "#name"]

    def _overloads_changed(self, raw: psycopg.Connection[Any], before: list[str]) -> bool:
        """Whether a function name that is or was overloaded (in the schema or with
        pg_catalog's) came or went: calls elsewhere may print qualified or not now."""
        was, now = Counter(before), Counter(self._function_names())
        changed = {name for name in was | now if was[name] != now[name]}
        if not changed:
            return False
        if self.catalog_names is None:
            with raw.cursor() as cur:
                cur.execute(
                    "SELECT DISTINCT proname::text FROM pg_proc"
                    " WHERE pronamespace = 'pg_catalog'::regnamespace"
                )
                self.catalog_names = frozenset(str(n) for (n,) in cur.fetchall())
        return any(name in self.catalog_names or max(was[name], now[name]) > 1 for name in changed)

    def _join(self) -> None:
        self._sorted = sorted(
            row for unit_rows in self.units.values() for row in unit_rows if row[0][0] != "#"
        )
        self.rows = tuple(self._sorted)

    def _replace(self, was: tuple[Row, ...], now: tuple[Row, ...]) -> None:
        """One unit's rows swapped in the sorted list: what a step changed costs a few
        look-ups, not a sort of the whole schema's rows."""
        for row in was:
            if row[0][0] != "#":
                del self._sorted[bisect.bisect_left(self._sorted, row)]
        for row in now:
            if row[0][0] != "#":
                bisect.insort(self._sorted, row)
