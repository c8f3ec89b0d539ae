"""Catalog snapshots of one schema, and what differs between two of them.

Autogenerate cannot see functions, triggers, sequences' settings, views, enum labels or
server defaults reliably; the catalog can. One query returns every object of the schema
as ``(kind, name, definition)`` rows, free of OIDs and positions, so two snapshots of the
same state are equal and any trace a downgrade leaves shows up as a differing row.
"""

from __future__ import annotations

import dataclasses
import secrets
import weakref
from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import Connection

from . import _compat
from . import incremental as _incremental
from .step_locks import StepLocks

#: How each kind of object prints, shared by the whole query below and the partial reads
#: of :mod:`.incremental` (whose rows must equal this query's): ``{name}`` in a query
#: is replaced by :func:`with_definitions`.
DEFINITIONS = {
    "relation_definition": r"""
           CASE r.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table'
                WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence'
                WHEN 'f' THEN 'foreign table' WHEN 'c' THEN 'composite type'
                ELSE 'relkind ' || r.relkind::text END
           || CASE r.relpersistence WHEN 'u' THEN ', unlogged' WHEN 't' THEN ', temporary'
                   ELSE '' END
           || coalesce(', options ' || array_to_string(r.reloptions, ','), '')""",
    "column_definition": r"""format_type(a.atttypid, a.atttypmod)
           || CASE WHEN a.attnotnull THEN ' not null' ELSE ' null' END
           || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
           || CASE WHEN a.attidentity::text <> ''
                   THEN ' identity=' || a.attidentity::text ELSE '' END
           || CASE WHEN a.attgenerated::text <> ''
                   THEN ' generated=' || a.attgenerated::text ELSE '' END
           || coalesce(' collation=' || co.collname, '')""",
    "sequence_definition": r"""format_type(s.seqtypid, NULL) || ' start=' || s.seqstart
           || ' increment=' || s.seqincrement
           || ' min=' || s.seqmin || ' max=' || s.seqmax || ' cache=' || s.seqcache
           || ' cycle=' || s.seqcycle
           || coalesce(' owned_by=' || (
                SELECT t.relname || '.' || a.attname FROM pg_depend dep
                JOIN pg_class t ON t.oid = dep.refobjid
                JOIN pg_attribute a ON a.attrelid = dep.refobjid AND a.attnum = dep.refobjsubid
                WHERE dep.objid = r.oid AND dep.classid = 'pg_class'::regclass
                  AND dep.deptype IN ('a', 'i') LIMIT 1), '')""",
    "type_definition": r"""t.typtype::text
           || coalesce(' labels=' || (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                                      FROM pg_enum e WHERE e.enumtypid = t.oid), '')
           || CASE WHEN t.typtype = 'd' THEN ' base=' || format_type(t.typbasetype, t.typtypmod)
                   || CASE WHEN t.typnotnull THEN ' not null' ELSE '' END
                   || coalesce(' default=' || t.typdefault, '') ELSE '' END""",
    "function_definition": r"""CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate'
                WHEN 'w' THEN 'window function' ELSE 'function' END
           || coalesce(' returning ' || pg_get_function_result(p.oid), '')
           || ', ' || l.lanname
           || CASE p.provolatile WHEN 'i' THEN ', immutable' WHEN 's' THEN ', stable' ELSE '' END
           || ', body md5 ' || md5(p.prosrc || coalesce(array_to_string(p.proconfig, ','), ''))""",
    "policy_definition": r"""
           CASE pol.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                WHEN 'd' THEN 'DELETE' WHEN '*' THEN 'ALL' END
           || ' ' || coalesce(pg_get_expr(pol.polqual, pol.polrelid), '')
           || ' check ' || coalesce(pg_get_expr(pol.polwithcheck, pol.polrelid), '')""",
    "extension_definition": r"""e.extversion || ', ' || (
               SELECT count(*) FROM pg_depend d
               WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
                 AND d.deptype = 'e') || ' member objects'""",
}


def with_definitions(query: str) -> str:
    """``query`` with each ``{name}`` of :data:`DEFINITIONS` replaced by its SQL."""
    for name, definition in DEFINITIONS.items():
        query = query.replace("{" + name + "}", definition)
    return query


def skip_array(skip_tables: Iterable[str]) -> sql.Composed:
    """The tables a snapshot leaves out, as the ``{skip}`` text[] literal."""
    return sql.SQL("ARRAY[{}]::text[]").format(
        sql.SQL(", ").join(sql.Literal(name) for name in sorted(skip_tables))
    )


# {schema} and {skip} (the tables left out, e.g. the version table) are composed in as
# literals: a statement without parameters keeps one generic plan (see Snapshotter).
# An extension's member objects (pg_depend deptype 'e': its functions, types, tables...)
# are left out: the extension's own row stands for them, with its version and how many
# members it has, so a leftover extension is one line of the diff, not one per function.
_SNAPSHOT_SQL = with_definitions(r"""
WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname = {schema}),
members AS (  -- of the schema's extensions (an index lookup; none: nothing to read)
    SELECT d.classid, d.objid FROM pg_depend d
    WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
      AND d.refobjid = ANY(ARRAY(
          SELECT e.oid FROM pg_extension e WHERE e.extnamespace = (SELECT oid FROM ns)))
),
member_rels AS (SELECT objid FROM members WHERE classid = 'pg_class'::regclass),
member_types AS (SELECT objid FROM members WHERE classid = 'pg_type'::regclass),
rels AS (
    SELECT c.oid, c.relname, c.relkind, c.relpersistence, c.reloptions, c.reltype
    FROM pg_class c
    WHERE c.relnamespace = (SELECT oid FROM ns)
      AND c.relname <> ALL({skip})
      AND c.oid <> ALL(ARRAY(SELECT objid FROM member_rels))
      AND NOT EXISTS (  -- indexes of skipped tables and of extension members
          SELECT 1 FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
          WHERE i.indexrelid = c.oid
            AND (t.relname = ANY({skip}) OR t.oid = ANY(ARRAY(SELECT objid FROM member_rels))))
)
SELECT kind, name, definition FROM (
    SELECT 'relation' AS kind, r.relname AS name,
           {relation_definition} AS definition
    FROM rels r WHERE r.relkind <> 'i' AND r.relkind <> 'I'
  UNION ALL
    SELECT 'column', r.relname || '.' || a.attname,
           {column_definition}
    FROM rels r
    JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 0
         AND co.collname <> 'default'
    WHERE r.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
  UNION ALL
    -- the schema's own name (a random one per run) left out of the definitions
    SELECT 'index', r.relname,
           replace(pg_get_indexdef(r.oid), ' ON ' || quote_ident({schema}) || '.', ' ON ')
    FROM rels r WHERE r.relkind IN ('i', 'I')
  UNION ALL
    SELECT 'constraint', coalesce(tr.relname, ty.typname, '') || '.' || con.conname,
           con.contype::text || ' ' || pg_get_constraintdef(con.oid)
           || CASE WHEN con.condeferrable THEN ' deferrable' ELSE '' END
    FROM pg_constraint con
    LEFT JOIN LATERAL (SELECT relname FROM pg_class WHERE oid = con.conrelid) tr ON true
    LEFT JOIN pg_type ty ON ty.oid = con.contypid
    WHERE con.connamespace = (SELECT oid FROM ns)
      AND con.conrelid NOT IN (
          SELECT oid FROM pg_class
          WHERE relnamespace = (SELECT oid FROM ns) AND relname = ANY({skip}))
      AND con.conrelid <> ALL(ARRAY(SELECT objid FROM member_rels))
      AND con.contypid <> ALL(ARRAY(SELECT objid FROM member_types))
  UNION ALL
    SELECT 'sequence', r.relname,
           {sequence_definition}
    FROM rels r JOIN pg_sequence s ON s.seqrelid = r.oid
  UNION ALL
    SELECT 'type', t.typname,
           {type_definition}
    FROM pg_type t
    WHERE ((t.typnamespace = (SELECT oid FROM ns) AND t.typtype IN ('e', 'd', 'r', 'm'))
           OR t.oid = ANY(ARRAY(SELECT reltype FROM rels WHERE relkind = 'c')))  -- composite
      AND t.oid <> ALL(ARRAY(SELECT objid FROM member_types))
  UNION ALL
    SELECT 'view', r.relname, regexp_replace(btrim(pg_get_viewdef(r.oid)), '\s+', ' ', 'g')
    FROM rels r WHERE r.relkind IN ('v', 'm')
  UNION ALL
    SELECT 'function', p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
           {function_definition}
    FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
    WHERE p.oid = ANY(ARRAY(  -- a function's dependency on its schema: an index lookup
            SELECT objid FROM pg_depend
            WHERE refclassid = 'pg_namespace'::regclass AND refobjid = (SELECT oid FROM ns)
              AND classid = 'pg_proc'::regclass))
      AND p.pronamespace = (SELECT oid FROM ns)
      AND p.oid <> ALL(ARRAY(SELECT objid FROM members WHERE classid = 'pg_proc'::regclass))
  UNION ALL
    SELECT 'trigger', c.relname || '.' || tg.tgname,
           replace(pg_get_triggerdef(tg.oid), ' ON ' || quote_ident({schema}) || '.', ' ON ')
    FROM pg_trigger tg JOIN rels c ON c.oid = tg.tgrelid
    WHERE tg.tgrelid = ANY(ARRAY(SELECT oid FROM rels)) AND NOT tg.tgisinternal
  UNION ALL
    SELECT 'policy', c.relname || '.' || pol.polname,
           {policy_definition}
    FROM pg_policy pol JOIN rels c ON c.oid = pol.polrelid
    WHERE pol.polrelid = ANY(ARRAY(SELECT oid FROM rels))
  UNION ALL
    SELECT 'comment', c.relname || coalesce('.' || a.attname, ''), d.description
    FROM pg_description d
    JOIN rels c ON d.objoid = c.oid
    LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid AND d.objsubid > 0
    WHERE d.objoid = ANY(ARRAY(SELECT oid FROM rels)) AND d.classoid = 'pg_class'::regclass
  UNION ALL
    SELECT 'extension', e.extname,
           {extension_definition}
    FROM pg_extension e WHERE e.extnamespace = (SELECT oid FROM ns)
) AS objects
""")


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """Every object of a schema as sorted ``(kind, name, definition)`` rows."""

    rows: tuple[tuple[str, str, str], ...]

    def diff(self, after: Snapshot) -> list[str]:
        """What ``after`` has that this snapshot lacks, and the reverse, one line each."""
        if self.rows == after.rows:
            return []
        before_map = _by_key(self.rows)
        after_map = _by_key(after.rows)
        lines: list[str] = []
        for key in sorted(before_map.keys() | after_map.keys()):
            kind, name = key
            was, now = before_map.get(key), after_map.get(key)
            if was == now:
                continue
            if was is None:
                lines.append(f"{kind} {name} left behind ({'; '.join(now or [])})")
            elif now is None:
                lines.append(f"{kind} {name} missing after downgrade (was {'; '.join(was)})")
            else:
                lines.append(f"{kind} {name} changed: {'; '.join(was)} -> {'; '.join(now)}")
        return lines


def _by_key(rows: tuple[tuple[str, str, str], ...]) -> dict[tuple[str, str], list[str]]:
    grouped: dict[tuple[str, str], list[str]] = {}
    for kind, name, definition in rows:
        grouped.setdefault((kind, name), []).append(definition)
    return grouped


def _snapshot_query(schema: str, skip_tables: Iterable[str]) -> sql.Composed:
    return sql.SQL(_SNAPSHOT_SQL).format(schema=sql.Literal(schema), skip=skip_array(skip_tables))


def _snapshot(rows: Iterable[tuple[Any, Any, Any]]) -> Snapshot:
    # Sorted here rather than by the server: the order must not depend on the collation.
    return Snapshot(tuple(sorted((str(k), str(n), str(d)) for k, n, d in rows)))


def take(conn: Connection, schema: str, skip_tables: Iterable[str] = ()) -> Snapshot:
    """Snapshot ``schema`` as seen from ``conn`` (uncommitted changes included)."""
    raw = conn.connection.driver_connection
    if not isinstance(raw, psycopg.Connection):
        return _snapshot(_read_on_any_driver(conn, _snapshot_query(schema, skip_tables)))
    with raw.cursor() as cur:
        cur.execute(_snapshot_query(schema, skip_tables))
        return _snapshot(cur.fetchall())


def _read_on_any_driver(conn: Connection, query: sql.Composed) -> list[Any]:
    """Run the catalog query on a migration connection of another driver (psycopg2,
    asyncpg, psycopg's async one): as plain SQL without parameters, which every driver
    sends as it is, inside the migration's transaction like the psycopg path."""
    statement = query.as_string(None)
    options = {"no_parameters": True}  # so that no driver reads a % in a name as a format
    return list(conn.exec_driver_sql(statement, execution_options=options).fetchall())


class Snapshotter:
    """Snapshots one schema again and again, as the walks do, through a prepared statement.

    Planning the catalog query costs as much as running it (4-6 ms each at 150 revisions),
    and psycopg's own prepared statements cannot keep the plan: psycopg deallocates them
    all after any DROP or ALTER, i.e. after nearly every migration step. A statement
    prepared in SQL, without parameters, keeps one generic plan for the connection's life:
    it reads only system catalogs, which DDL in the schema does not invalidate. psycopg's
    automatic preparing is switched off on the connections used here, because its clean-up
    (DEALLOCATE ALL) would remove this statement too. :func:`take` is the same query
    unprepared; the tests hold the two equal along every walk.
    """

    def __init__(
        self, schema: str, skip_tables: Iterable[str] = (), *, incremental: bool = False
    ) -> None:
        self._query = _snapshot_query(schema, skip_tables)
        self._name = sql.Identifier(f"gauntlet_snapshot_{secrets.token_hex(4)}")
        self._prepared_on: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()
        # no_trace's walks: deparse only what the steps changed (gauntlet_sync.incremental)
        self._units = _incremental.Units(schema, skip_tables) if incremental else None

    def take(self, conn: Connection) -> Snapshot:
        """Snapshot the schema as seen from ``conn`` (uncommitted changes included).

        The walks read the catalog on the migration's own connection, inside its
        transaction: what a step did is seen before it commits, and an env.py that holds
        one transaction around the whole walk is judged exactly as one that commits each
        step. On a driver other than psycopg (3, sync) the same query runs as plain SQL.
        With ``incremental``, only what the steps since the last snapshot changed is read
        again (:meth:`step_end` must then be called at the end of every step).
        """
        raw = conn.connection.driver_connection
        if not isinstance(raw, psycopg.Connection):
            return _snapshot(_read_on_any_driver(conn, self._query))
        if self._units is not None:
            if not _compat.holds_prepared_statements(raw):
                raw.prepare_threshold = None
                shot = Snapshot(self._units.take(raw))
                if _incremental.VERIFY:
                    _incremental.verify(self._units.schema, shot.rows, self._whole(raw).rows)
                return shot
            self._units.journal = None
        return self._whole(raw)

    def follows(self, conn: Connection) -> bool:
        """Whether :meth:`step_end` needs the step's locks: an incremental snapshot will
        follow from the last one if they are read (on psycopg, from the same connection)."""
        raw = conn.connection.driver_connection
        return (
            self._units is not None
            and isinstance(raw, psycopg.Connection)
            and not _compat.holds_prepared_statements(raw)
            and self._units.follows(raw)
        )

    def step_end(self, conn: Connection, locks: StepLocks | None) -> None:
        """At the end of each step of a walk (after every hook, before the commit): what
        its transaction locked (``locks``, read there when :meth:`follows`; ``None``: not
        read, the next snapshot is a whole one), for the next incremental snapshot."""
        raw = conn.connection.driver_connection
        if self._units is None or not isinstance(raw, psycopg.Connection):
            return
        if _compat.holds_prepared_statements(raw):
            self._units.journal = None
            return
        self._units.step_end(raw, locks)

    def _whole(self, raw: psycopg.Connection[Any]) -> Snapshot:
        with raw.cursor() as cur:
            if raw not in self._prepared_on:
                if _compat.holds_prepared_statements(
                    raw
                ):  # the next DROP would deallocate ours too
                    cur.execute(self._query)
                    return _snapshot(cur.fetchall())
                raw.prepare_threshold = None
                cur.execute(sql.SQL("PREPARE {} AS {}").format(self._name, self._query))
                self._prepared_on.add(raw)
            cur.execute(sql.SQL("EXECUTE {}").format(self._name))
            return _snapshot(cur.fetchall())


_OTHER_SCHEMAS_SQL = text(
    r"""
SELECT nspname FROM pg_namespace
WHERE nspname <> :own AND nspname <> 'information_schema' AND nspname NOT LIKE 'pg\_%'
"""
)


def with_other_schemas(
    conn: Connection, shot: Snapshot, own_schema: str, skip_tables: Iterable[str] = ()
) -> Snapshot:
    """``shot`` of ``own_schema`` plus every other schema of the database, each object
    named ``schema.name``, and one ``schema`` row per schema.

    With ``isolation="database"`` the whole database is the run's, and its migrations may
    create schemas of their own (``create_table(..., schema="audit")``): what a downgrade
    leaves there is a trace as much as what it leaves in ``public``.
    """
    rows = list(shot.rows)
    for (name,) in conn.execute(_OTHER_SCHEMAS_SQL, {"own": own_schema}).all():
        rows.append(("schema", str(name), ""))
        other = take(conn, str(name), skip_tables)
        rows.extend((kind, f"{name}.{obj}", definition) for kind, obj, definition in other.rows)
    return _snapshot(rows)


_OUTSIDE_SQL = text(
    r"""
WITH outside AS (
    SELECT oid, nspname FROM pg_namespace
    WHERE nspname <> :schema
      AND nspname NOT IN ('pg_catalog', 'information_schema')
      AND nspname NOT LIKE 'pg\_toast%' AND nspname NOT LIKE 'pg\_temp\_%'
      -- other isolated runs: name shape and signature (outside.other_runs)
      AND NOT (nspname ~ '^[a-z][a-z0-9]*_[0-9]+_[0-9]{10}_[0-9a-f]{6}$'
               AND coalesce(pg_catalog.obj_description(oid, 'pg_namespace'), '')
                   LIKE 'gauntlet-sync %')
)
SELECT 'schema', nspname, '' FROM outside
UNION ALL
SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
            WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' WHEN 'i' THEN 'index'
            WHEN 'I' THEN 'index' ELSE 'relation' END,
       o.nspname || '.' || c.relname,
       -- one row per relation, its columns folded into a digest: a user database may
       -- hold thousands of tables outside, and this is read at each run's start and end
       c.relkind::text || coalesce(' ' || (
           SELECT md5(string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                 || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
                                 ',' ORDER BY a.attnum))
           FROM pg_attribute a
           WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')
FROM pg_class c JOIN outside o ON o.oid = c.relnamespace WHERE c.relkind <> 't'
UNION ALL
SELECT 'type', o.nspname || '.' || t.typname, t.typtype::text
FROM pg_type t JOIN outside o ON o.oid = t.typnamespace LEFT JOIN pg_class tc ON tc.oid = t.typrelid
WHERE t.typtype IN ('e', 'd', 'r', 'm') OR (t.typtype = 'c' AND tc.relkind = 'c')
UNION ALL
SELECT 'function',
       o.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       md5(p.prosrc)
FROM pg_proc p JOIN outside o ON o.oid = p.pronamespace
"""
)


def take_outside(conn: Connection, own_schema: str) -> Snapshot:
    """Names and shapes of everything outside ``own_schema`` and other isolated runs'
    schemas (their name shape and the janitor's signature: :func:`outside.other_runs`)."""
    return _snapshot(conn.execute(_OUTSIDE_SQL, {"schema": own_schema}))


def escapes(before: Snapshot, after: Snapshot) -> list[str]:
    """Objects created, dropped or changed outside the isolated schema."""
    was, now = set(before.rows), set(after.rows)
    lines = []
    for kind, name, _ in sorted(now - was):
        changed = any(k == kind and n == name for k, n, _ in was)
        lines.append(
            f"{kind} {name} {'changed' if changed else 'created'} outside the isolated schema"
        )
    for kind, name, _ in sorted(was - now):
        if not any(k == kind and n == name for k, n, _ in now):
            lines.append(f"{kind} {name} dropped outside the isolated schema")
    return lines


# Objects that live in no schema: a migration that makes or changes one reaches every
# schema of the database (extensions, event triggers, languages, FDWs, publications,
# casts, transforms, per-database settings, schema-less default privileges) or the whole
# cluster (roles, tablespaces, databases). Names only, with what identifies their state.
_DATABASE_WIDE_SQL = text(
    r"""
SELECT 'extension', extname, extversion || ' in ' || extnamespace::regnamespace::text
FROM pg_extension
UNION ALL SELECT 'event trigger', evtname, evtevent || ' ' || evtenabled::text
FROM pg_event_trigger
UNION ALL SELECT 'language', lanname, lanpltrusted::text FROM pg_language
UNION ALL SELECT 'foreign-data wrapper', fdwname, '' FROM pg_foreign_data_wrapper
UNION ALL SELECT 'foreign server', srvname, '' FROM pg_foreign_server
UNION ALL SELECT 'publication', pubname, '' FROM pg_publication
UNION ALL SELECT 'cast', castsource::regtype::text || ' AS ' || casttarget::regtype::text,
                 castfunc::text || ' ' || castcontext::text
FROM pg_cast WHERE oid >= 16384
UNION ALL SELECT 'transform', trftype::regtype::text || ' ' || trflang::text, ''
FROM pg_transform
UNION ALL SELECT 'setting', coalesce(setdatabase::text, '') || ' ' || setrole::text,
                 array_to_string(setconfig, ',')
FROM pg_db_role_setting
UNION ALL SELECT 'default privileges', defaclrole::regrole::text || ' ' || defaclobjtype::text,
                 array_to_string(defaclacl, ',')
FROM pg_default_acl WHERE defaclnamespace = 0
UNION ALL SELECT 'role', rolname, '' FROM pg_roles
UNION ALL SELECT 'tablespace', spcname, '' FROM pg_tablespace
UNION ALL SELECT 'database', datname, '' FROM pg_database
WHERE datname !~ '^[a-z][a-z0-9]*_[0-9]+_[0-9]{10}_[0-9a-f]{6}$'  -- isolated runs
"""
)


def take_database_wide(conn: Connection) -> Snapshot:
    """The objects outside every schema (see ``_DATABASE_WIDE_SQL``)."""
    return _snapshot(conn.execute(_DATABASE_WIDE_SQL))
