"""Nothing outside the run's own objects is ever committed changed.

On a database the user gives (a DSN), the migrations share it with the user's own data.
PostgreSQL's transactions are the guarantee: every commit on a migration connection first
runs :meth:`OutsideGuard.before_commit` (a SQLAlchemy ``commit`` event, so env.py's own
``context.begin_transaction()``, ``transaction_per_migration``, the walks' per-step commits
and alembic's ``autocommit_block`` are all covered). It reads, *on the migration's own
connection* and so with its uncommitted changes, everything outside the schemas this run
created: the catalog (schemas, tables, columns with defaults, constraints, indexes,
triggers, row-level security, rules, sequences, types, functions, extensions, grants,
default privileges, comments, owners), the database and its settings, roles and their
settings, other databases, tablespaces; and, per table outside, the rows this
transaction inserted, updated or deleted (``pg_stat_get_xact_*``, this backend only) and
the strong locks it holds (TRUNCATE, DROP, ALTER, rewrites, setval/nextval). Anything
there that differs from what was last committed is an escape: the transaction is rolled
back at the driver before the commit can happen, and :class:`IsolationEscapeError` names
each object and change.

Changes other sessions commit meanwhile (another run's schema, the user's own DDL) are
told apart without any extra cost in the common case: only when the migration
connection sees a difference is a second, independent connection asked; what it sees too
is committed already, so not this transaction's doing.

``autocommit_block`` is the one place PostgreSQL commits statement by statement: the
transaction before it is checked (and rolled back on an escape) like any other; what the
block itself changed outside is found when it ends, and reported, but it is committed
already; rows written inside such a block are not counted.

Only schemas (and databases) this run created, by recorded name (:class:`OwnNames`), are
left out; a schema of the same name shape made by anyone else is outside like the rest.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import re
import secrets
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus
from sqlalchemy import event
from sqlalchemy.engine import Connection

from ._compat import holds_prepared_statements as _holds_psycopg_prepared
from .errors import IsolationEscapeError
from .pgsql import driver_connection

Row = tuple[str, str, str]
Snapshot = frozenset[Row]


class OwnNames:
    """The names of the schemas and databases this run created.

    Kept in an anonymous shared mapping, so that a forked child (run_all's) and its parent
    both see every name either records, whichever created it first.
    """

    _SIZE = 1 << 16

    def __init__(self) -> None:
        self._map = mmap.mmap(-1, self._SIZE)

    def add(self, name: str) -> None:
        data = self._read()
        if name in data:
            return
        encoded = ("\n".join([*data, name]) + "\n").encode()
        if len(encoded) >= self._SIZE:  # thousands of sessions: keep the newest
            encoded = ("\n".join([*data[len(data) // 2 :], name]) + "\n").encode()
        self._map.seek(0)
        self._map.write(encoded + b"\0")

    def _read(self) -> list[str]:
        raw = self._map[: self._SIZE].split(b"\0", 1)[0].decode()
        return [n for n in raw.split("\n") if n]

    def __iter__(self) -> Iterator[str]:
        return iter(self._read())


# Deparsing functions that open the relation (pg_get_expr, pg_get_indexdef,
# pg_get_constraintdef, pg_get_triggerdef, pg_get_ruledef, pg_get_viewdef) are not used:
# the independent connection would wait for the locks of the very transaction that waits
# for it (or of another run's). Expressions are compared by their stored node trees.
# Two parts: what belongs to the current database (left out when the whole database is
# the run's) and what belongs to the cluster. {own} is a text[] literal of the run's own
# schema and database names.
_DATABASE_PART = r"""
outside AS (
    SELECT n.oid, n.nspname, n.nspowner, n.nspacl FROM pg_catalog.pg_namespace n
    WHERE n.nspname <> ALL({own})
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'
),
rels AS (
    SELECT c.oid, o.nspname || '.' || c.relname AS name, c.relkind, c.relowner, c.relacl,
           c.relrowsecurity, c.relforcerowsecurity, c.reloptions, c.relpersistence
    FROM pg_catalog.pg_class c JOIN outside o ON o.oid = c.relnamespace
    WHERE c.relkind <> 't'
),
descr AS (
    SELECT d.objoid, d.classoid, d.objsubid, d.description FROM pg_catalog.pg_description d
)
SELECT 'schema', o.nspname,
       'owner ' || pg_get_userbyid(o.nspowner)
       || coalesce(' grants ' || o.nspacl::text, '')
       || coalesce(' comment ' || pg_catalog.quote_literal(d.description), '')
FROM outside o LEFT JOIN descr d
  ON d.objoid = o.oid AND d.classoid = 'pg_catalog.pg_namespace'::regclass
UNION ALL
SELECT CASE r.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
            WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table'
            WHEN 'c' THEN 'composite type' ELSE 'relation' END,
       r.name,
       'owner ' || pg_get_userbyid(r.relowner)
       || coalesce(' grants ' || r.relacl::text, '')
       || CASE WHEN r.relrowsecurity THEN ' row security' ELSE '' END
       || CASE WHEN r.relforcerowsecurity THEN ' forced' ELSE '' END
       || CASE r.relpersistence WHEN 'u' THEN ' unlogged' ELSE '' END
       || coalesce(' options ' || r.reloptions::text, '')
       || coalesce(' comment ' || pg_catalog.quote_literal(d.description), '')
FROM rels r LEFT JOIN descr d
  ON d.objoid = r.oid AND d.classoid = 'pg_catalog.pg_class'::regclass
     AND d.objsubid = 0
WHERE r.relkind NOT IN ('i', 'I')
UNION ALL
SELECT 'column', r.name || '.' || a.attname,
       pg_catalog.format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || coalesce(' default ' || pg_catalog.md5(ad.adbin::text), '')
       || CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END
       || CASE WHEN a.attgenerated <> '' THEN ' generated' ELSE '' END
       || coalesce(' grants ' || a.attacl::text, '')
       || coalesce(' comment ' || pg_catalog.quote_literal(d.description), '')
FROM rels r
JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN descr d ON d.objoid = r.oid
     AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = a.attnum
WHERE r.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
UNION ALL
SELECT 'index', r.name,
       'on ' || t.relname || ' columns ' || i.indkey::text || ' classes ' || i.indclass::text
       || CASE WHEN i.indisunique THEN ' unique' ELSE '' END
       || CASE WHEN i.indisprimary THEN ' primary' ELSE '' END
       || coalesce(' expressions ' || pg_catalog.md5(i.indexprs::text), '')
       || coalesce(' where ' || pg_catalog.md5(i.indpred::text), '')
FROM rels r JOIN pg_catalog.pg_index i ON i.indexrelid = r.oid
JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
WHERE r.relkind IN ('i', 'I')
UNION ALL
SELECT 'constraint', o.nspname || '.' || coalesce(c.relname, t.typname, '') || '.' || con.conname,
       con.contype::text || coalesce(' columns ' || con.conkey::text, '')
       || coalesce(' references ' || con.confrelid::regclass::text || con.confkey::text, '')
       || coalesce(' ' || pg_catalog.md5(con.conbin::text), '')
       || ' ' || con.confupdtype::text || con.confdeltype::text || con.condeferrable::text
       || CASE WHEN con.convalidated THEN '' ELSE ' not valid' END
FROM pg_catalog.pg_constraint con JOIN outside o ON o.oid = con.connamespace
LEFT JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
LEFT JOIN pg_catalog.pg_type t ON t.oid = con.contypid
UNION ALL
SELECT 'trigger', r.name || '.' || tg.tgname,
       tg.tgfoid::regproc::text || ' type ' || tg.tgtype || ' enabled ' || tg.tgenabled::text
       || ' ' || pg_catalog.md5(coalesce(tg.tgqual::text, '') || tg.tgargs::text
                                || tg.tgattr::text)
FROM pg_catalog.pg_trigger tg JOIN rels r ON r.oid = tg.tgrelid
WHERE NOT tg.tgisinternal
UNION ALL
SELECT 'policy', r.name || '.' || pol.polname,
       pol.polcmd::text || ' ' || pol.polpermissive::text || ' '
       || pg_catalog.md5(coalesce(pol.polqual::text, '') || ' check '
                         || coalesce(pol.polwithcheck::text, ''))
       || ' to ' || pol.polroles::text
FROM pg_catalog.pg_policy pol JOIN rels r ON r.oid = pol.polrelid
UNION ALL
SELECT 'rule', r.name || '.' || ru.rulename,
       ru.ev_type::text || ' ' || ru.ev_enabled::text || ' '
       || pg_catalog.md5(coalesce(ru.ev_qual::text, '') || ru.ev_action::text)
FROM pg_catalog.pg_rewrite ru JOIN rels r ON r.oid = ru.ev_class
WHERE ru.rulename <> '_RETURN'
UNION ALL
SELECT 'sequence settings', r.name,
       pg_catalog.format_type(s.seqtypid, NULL) || ' start ' || s.seqstart
       || ' increment ' || s.seqincrement || ' min ' || s.seqmin || ' max ' || s.seqmax
       || ' cache ' || s.seqcache || ' cycle ' || s.seqcycle
FROM pg_catalog.pg_sequence s JOIN rels r ON r.oid = s.seqrelid
UNION ALL
SELECT 'type', o.nspname || '.' || t.typname,
       t.typtype::text || ' owner ' || pg_get_userbyid(t.typowner)
       || coalesce(' grants ' || t.typacl::text, '')
       || coalesce(' labels ' || (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                                  FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid), '')
       || CASE WHEN t.typtype = 'd'
               THEN ' base ' || pg_catalog.format_type(t.typbasetype, t.typtypmod)
                    || CASE WHEN t.typnotnull THEN ' not null' ELSE '' END
                    || coalesce(' default ' || t.typdefault, '')
               ELSE '' END
       || coalesce(' comment ' || pg_catalog.quote_literal(d.description), '')
FROM pg_catalog.pg_type t JOIN outside o ON o.oid = t.typnamespace
LEFT JOIN descr d ON d.objoid = t.oid AND d.classoid = 'pg_catalog.pg_type'::regclass
WHERE t.typtype IN ('e', 'd', 'r', 'm') OR (t.typtype = 'b' AND t.typcategory <> 'A')
   OR (t.typtype = 'c' AND t.typrelid IN (SELECT oid FROM rels WHERE relkind = 'c'))
UNION ALL
SELECT 'function',
       o.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       p.prokind::text || ' owner ' || pg_get_userbyid(p.proowner)
       || coalesce(' grants ' || p.proacl::text, '')
       || ' body ' || pg_catalog.md5(coalesce(p.prosrc, '') || coalesce(p.proconfig::text, '')
                                     || p.provolatile::text || p.prosecdef::text)
       || coalesce(' comment ' || pg_catalog.quote_literal(d.description), '')
FROM pg_catalog.pg_proc p JOIN outside o ON o.oid = p.pronamespace
LEFT JOIN descr d ON d.objoid = p.oid AND d.classoid = 'pg_catalog.pg_proc'::regclass
UNION ALL
SELECT 'extension', e.extname,
       e.extversion || ' in ' || n.nspname
       || coalesce(' comment ' || pg_catalog.quote_literal(d.description), '')
FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
LEFT JOIN descr d ON d.objoid = e.oid AND d.classoid = 'pg_catalog.pg_extension'::regclass
WHERE n.nspname <> ALL({own})
UNION ALL
SELECT 'default privileges',
       pg_get_userbyid(da.defaclrole) || ' on ' || da.defaclobjtype::text
       || coalesce(' in schema ' || n.nspname, ''),
       da.defaclacl::text
FROM pg_catalog.pg_default_acl da
LEFT JOIN pg_catalog.pg_namespace n ON n.oid = da.defaclnamespace
WHERE n.nspname IS NULL OR n.nspname <> ALL({own})
UNION ALL
-- rows this transaction wrote (this backend's own counters; nothing of other sessions)
SELECT 'rows', r.name,
       'inserted ' || pg_catalog.pg_stat_get_xact_tuples_inserted(r.oid)
       || ', updated ' || pg_catalog.pg_stat_get_xact_tuples_updated(r.oid)
       || ', deleted ' || pg_catalog.pg_stat_get_xact_tuples_deleted(r.oid)
FROM rels r
WHERE r.relkind IN ('r', 'p', 'm')
  AND pg_catalog.pg_stat_get_xact_tuples_inserted(r.oid)
      + pg_catalog.pg_stat_get_xact_tuples_updated(r.oid)
      + pg_catalog.pg_stat_get_xact_tuples_deleted(r.oid) > 0
UNION ALL
-- locks stronger than reading this transaction holds: TRUNCATE (which the counters do
-- not see), DROP, ALTER, rewrites, setval/nextval
SELECT 'lock', r.name, pg_catalog.string_agg(DISTINCT l.mode, ', ')
FROM pg_catalog.pg_locks l JOIN rels r ON r.oid = l.relation
WHERE l.pid = pg_catalog.pg_backend_pid() AND l.locktype = 'relation'
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.mode NOT IN ('AccessShareLock', 'RowShareLock')
GROUP BY r.name
UNION ALL
SELECT 'database', d.datname,
       'owner ' || pg_get_userbyid(d.datdba) || coalesce(' grants ' || d.datacl::text, '')
       || ' connection limit ' || d.datconnlimit || ' connections ' || d.datallowconn::text
       || coalesce(' comment ' || pg_catalog.quote_literal(sd.description), '')
FROM pg_catalog.pg_database d
LEFT JOIN pg_catalog.pg_shdescription sd
  ON sd.objoid = d.oid AND sd.classoid = 'pg_catalog.pg_database'::regclass
WHERE d.datname = pg_catalog.current_database()
UNION ALL
"""

_CLUSTER_PART = r"""
SELECT 'database', d.datname,
       'owner ' || pg_get_userbyid(d.datdba) || coalesce(' grants ' || d.datacl::text, '')
       || ' connection limit ' || d.datconnlimit || ' connections ' || d.datallowconn::text
       || coalesce(' comment ' || pg_catalog.quote_literal(sd.description), '')
FROM pg_catalog.pg_database d
LEFT JOIN pg_catalog.pg_shdescription sd
  ON sd.objoid = d.oid AND sd.classoid = 'pg_catalog.pg_database'::regclass
WHERE d.datname <> pg_catalog.current_database() AND d.datname <> ALL({own})
UNION ALL
SELECT 'settings',
       CASE WHEN s.setrole = 0 THEN 'every role' ELSE 'role ' || pg_get_userbyid(s.setrole) END
       || coalesce(' in database ' || d.datname, ' in every database'),
       s.setconfig::text
FROM pg_catalog.pg_db_role_setting s
LEFT JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase
WHERE d.datname IS NULL OR d.datname <> ALL({own})
UNION ALL
SELECT 'role', r.rolname,
       concat_ws(' ', CASE WHEN r.rolsuper THEN 'superuser' END,
                 CASE WHEN r.rolcreatedb THEN 'createdb' END,
                 CASE WHEN r.rolcreaterole THEN 'createrole' END,
                 CASE WHEN r.rolcanlogin THEN 'login' END,
                 CASE WHEN r.rolreplication THEN 'replication' END,
                 CASE WHEN r.rolbypassrls THEN 'bypassrls' END,
                 CASE WHEN NOT r.rolinherit THEN 'noinherit' END,
                 'connection limit ' || r.rolconnlimit,
                 'valid until ' || r.rolvaliduntil,
                 'comment ' || pg_catalog.quote_literal(sd.description))
FROM pg_catalog.pg_roles r
LEFT JOIN pg_catalog.pg_shdescription sd
  ON sd.objoid = r.oid AND sd.classoid = 'pg_catalog.pg_authid'::regclass
UNION ALL
SELECT 'role membership',
       pg_get_userbyid(m.member) || ' in ' || pg_get_userbyid(m.roleid),
       CASE WHEN m.admin_option THEN 'with admin option' ELSE '' END
FROM pg_catalog.pg_auth_members m
UNION ALL
SELECT 'tablespace', t.spcname,
       'owner ' || pg_get_userbyid(t.spcowner) || coalesce(' grants ' || t.spcacl::text, '')
       || coalesce(' options ' || t.spcoptions::text, '')
FROM pg_catalog.pg_tablespace t
"""

_EXTRA_DATABASE_PART = r"""
UNION ALL
SELECT 'event trigger', e.evtname,
       e.evtevent || ' ' || e.evtenabled::text || ' ' || e.evtfoid::regproc
FROM pg_catalog.pg_event_trigger e
UNION ALL
SELECT 'publication', p.pubname, 'owner ' || pg_get_userbyid(p.pubowner)
FROM pg_catalog.pg_publication p
UNION ALL
SELECT 'foreign server', s.srvname,
       'owner ' || pg_get_userbyid(s.srvowner) || coalesce(' grants ' || s.srvacl::text, '')
FROM pg_catalog.pg_foreign_server s
UNION ALL
SELECT 'language', l.lanname,
       'owner ' || pg_get_userbyid(l.lanowner) || coalesce(' grants ' || l.lanacl::text, '')
FROM pg_catalog.pg_language l
"""

# ALTER SYSTEM cannot run in a transaction: only read where nothing else is (the start and
# end of a run, an autocommit_block's end), and only where the role may read it.
_SYSTEM_PART = r"""
UNION ALL
SELECT 'system setting', f.name, coalesce(f.setting, '') || coalesce(' ' || f.error, '')
FROM pg_catalog.pg_file_settings f WHERE f.sourcefile LIKE '%postgresql.auto.conf'
"""


# The cheap test every commit runs first: did this transaction write anything that concerns
# an object outside? Found without pg_locks (whose read costs milliseconds on a server with
# a large lock table) from this backend's own counters and the catalog rows' xmin:
# * catalog rows this transaction inserted or updated (xmin not older than its xid; a
#   newer one of another session only costs a full look) of an object outside;
# * writes to catalogs that nothing done inside one schema writes;
# * rows inserted, updated or deleted in tables outside (pg_stat_get_xact_*);
# * catalog rows deleted: the count of objects outside, compared by the caller with the
#   count it last saw committed (read only when this transaction deleted such rows).
# Each scan runs only when the transaction wrote to that catalog at all (a one-time filter).
_TOUCHED_SQL = r"""
WITH mine AS (
    SELECT pg_catalog.age(
        ((pg_catalog.pg_current_xact_id_if_assigned()::text::int8 % 4294967296)::text)::xid
    ) AS age
),
inside AS (
    SELECT coalesce(pg_catalog.array_agg(oid), '{{}}') AS o FROM pg_catalog.pg_namespace
    WHERE nspname = ANY({own}) OR nspname IN ('pg_catalog', 'pg_toast')
       OR nspname LIKE 'pg\_temp\_%' OR nspname LIKE 'pg\_toast\_temp\_%'
),
counters AS MATERIALIZED (  -- read once: the gates below become one-time filters
    SELECT c.relname::text AS catalog,
           pg_catalog.pg_stat_get_xact_tuples_inserted(c.oid)
           + pg_catalog.pg_stat_get_xact_tuples_updated(c.oid) AS written,
           pg_catalog.pg_stat_get_xact_tuples_deleted(c.oid) AS deleted
    FROM pg_catalog.pg_class c WHERE c.oid = ANY(ARRAY[{catalogs}]::regclass[])
)
{written}
UNION ALL
SELECT 'rows', 'touched', c.oid::int8 FROM pg_catalog.pg_class c
WHERE c.relkind IN ('r', 'p', 'm') AND c.relnamespace <> ALL((SELECT o FROM inside)::oid[])
  AND pg_catalog.pg_stat_get_xact_tuples_inserted(c.oid)
      + pg_catalog.pg_stat_get_xact_tuples_updated(c.oid)
      + pg_catalog.pg_stat_get_xact_tuples_deleted(c.oid) > 0
UNION ALL
SELECT catalog, 'touched', 0::int8 FROM counters
WHERE catalog = ANY(ARRAY[{catalog_names}]) AND written + deleted > 0
UNION ALL
-- what this transaction locked strongly, when it deleted catalog rows at all: a visible
-- relation outside is touched; an object gone from this transaction's view (dropped by it)
-- is the caller's to look up in the committed catalog
SELECT CASE WHEN l.locktype = 'relation' THEN 'pg_class' ELSE l.classid::regclass::text END,
       CASE WHEN c.oid IS NULL THEN 'gone' ELSE 'touched' END,
       coalesce(l.relation, l.objid)::int8
FROM pg_catalog.pg_locks l
LEFT JOIN pg_catalog.pg_class c ON l.locktype = 'relation' AND c.oid = l.relation
WHERE (SELECT sum(deleted) FROM counters WHERE catalog = ANY(ARRAY[{object_names}])) > 0
  AND l.pid = pg_catalog.pg_backend_pid() AND l.locktype IN ('relation', 'object')
  AND l.mode NOT IN ('AccessShareLock', 'RowShareLock', 'RowExclusiveLock')
  AND coalesce(l.relation, l.objid) >= 16384
  AND (c.oid IS NULL OR c.relnamespace <> ALL((SELECT o FROM inside)::oid[]))
  AND (l.locktype = 'relation' OR l.classid <> 'pg_catalog.pg_namespace'::regclass
       OR l.objid <> ALL((SELECT o FROM inside)::oid[]))
"""

#: (catalog, its rows outside: FROM and WHERE) for the xmin scans and the counts
_OBJECT_CATALOGS = {
    "pg_class": "pg_catalog.pg_class x WHERE x.relnamespace <> ALL((SELECT o FROM inside)::oid[])",
    "pg_type": "pg_catalog.pg_type x WHERE x.typnamespace <> ALL((SELECT o FROM inside)::oid[])",
    "pg_proc": "pg_catalog.pg_proc x WHERE x.pronamespace <> ALL((SELECT o FROM inside)::oid[])",
    "pg_constraint": (
        "pg_catalog.pg_constraint x WHERE x.connamespace <> ALL((SELECT o FROM inside)::oid[])"
    ),
    "pg_attribute": "pg_catalog.pg_attribute x JOIN pg_catalog.pg_class c ON c.oid = x.attrelid "
    "WHERE c.relnamespace <> ALL((SELECT o FROM inside)::oid[])",
    "pg_attrdef": "pg_catalog.pg_attrdef x JOIN pg_catalog.pg_class c ON c.oid = x.adrelid "
    "WHERE c.relnamespace <> ALL((SELECT o FROM inside)::oid[])",
    "pg_index": "pg_catalog.pg_index x JOIN pg_catalog.pg_class c ON c.oid = x.indrelid "
    "WHERE c.relnamespace <> ALL((SELECT o FROM inside)::oid[])",
    "pg_trigger": "pg_catalog.pg_trigger x JOIN pg_catalog.pg_class c ON c.oid = x.tgrelid "
    "WHERE c.relnamespace <> ALL((SELECT o FROM inside)::oid[])",
    "pg_policy": "pg_catalog.pg_policy x JOIN pg_catalog.pg_class c ON c.oid = x.polrelid "
    "WHERE c.relnamespace <> ALL((SELECT o FROM inside)::oid[])",
    "pg_rewrite": "pg_catalog.pg_rewrite x JOIN pg_catalog.pg_class c ON c.oid = x.ev_class "
    "WHERE c.relnamespace <> ALL((SELECT o FROM inside)::oid[])",
    "pg_sequence": "pg_catalog.pg_sequence x JOIN pg_catalog.pg_class c ON c.oid = x.seqrelid "
    "WHERE c.relnamespace <> ALL((SELECT o FROM inside)::oid[])",
    "pg_enum": "pg_catalog.pg_enum x JOIN pg_catalog.pg_type t ON t.oid = x.enumtypid "
    "WHERE t.typnamespace <> ALL((SELECT o FROM inside)::oid[])",
}

#: catalogs that nothing done inside one schema writes (an extension or a comment in it
#: aside, which only cost a full look)
_DATABASE_WIDE_CATALOGS = (
    "pg_authid pg_auth_members pg_database pg_db_role_setting pg_shdescription pg_tablespace "
    "pg_default_acl pg_namespace pg_extension pg_event_trigger pg_foreign_server "
    "pg_foreign_data_wrapper pg_user_mapping pg_publication pg_publication_rel "
    "pg_publication_namespace pg_subscription pg_language pg_cast pg_transform "
    "pg_largeobject pg_largeobject_metadata pg_init_privs pg_description pg_seclabel "
    "pg_operator pg_opclass pg_opfamily pg_amop pg_amproc pg_collation pg_conversion "
    "pg_ts_config pg_ts_dict pg_ts_parser pg_ts_template pg_statistic_ext"
).split()


def _touched_query(own: Iterable[str]) -> sql.Composed:
    written = []
    for catalog, source in _OBJECT_CATALOGS.items():
        name = sql.Literal(catalog)
        written.append(
            sql.SQL(
                "SELECT {name}, 'touched', 0::int8 FROM {source}"
                " AND (SELECT written FROM counters WHERE catalog = {name}) > 0"
                " AND pg_catalog.age(x.xmin) <= (SELECT age FROM mine)"
            ).format(name=name, source=sql.SQL(source))
        )
    return sql.SQL(_TOUCHED_SQL).format(
        own=_names(own),
        catalogs=sql.SQL(", ").join(
            sql.Literal(f"pg_catalog.{n}") for n in (*_DATABASE_WIDE_CATALOGS, *_OBJECT_CATALOGS)
        ),
        catalog_names=sql.SQL(", ").join(sql.Literal(n) for n in _DATABASE_WIDE_CATALOGS),
        written=sql.SQL("\nUNION ALL\n").join(written),
        object_names=sql.SQL(", ").join(sql.Literal(n) for n in _OBJECT_CATALOGS),
    )


# Objects a transaction dropped are gone from its own view: where they were is asked of a
# connection that sees only what is committed. (catalog, oid) pairs come in as two arrays.
_COMMITTED_OUTSIDE_SQL = r"""
WITH inside AS (
    SELECT coalesce(pg_catalog.array_agg(oid), '{{}}') AS o FROM pg_catalog.pg_namespace
    WHERE nspname = ANY({own}) OR nspname IN ('pg_catalog', 'pg_toast')
       OR nspname LIKE 'pg\_temp\_%%' OR nspname LIKE 'pg\_toast\_temp\_%%'
),
gone AS (SELECT * FROM unnest(%(catalogs)s::text[], %(oids)s::int8[]) AS g(catalog, oid)),
found AS (
    SELECT c.relnamespace AS nsp, true AS has FROM gone g JOIN pg_catalog.pg_class c
      ON g.catalog = 'pg_class' AND c.oid = g.oid::oid
    UNION ALL SELECT p.pronamespace, true FROM gone g JOIN pg_catalog.pg_proc p
      ON g.catalog = 'pg_proc' AND p.oid = g.oid::oid
    UNION ALL SELECT t.typnamespace, true FROM gone g JOIN pg_catalog.pg_type t
      ON g.catalog = 'pg_type' AND t.oid = g.oid::oid
    UNION ALL SELECT x.connamespace, true FROM gone g JOIN pg_catalog.pg_constraint x
      ON g.catalog = 'pg_constraint' AND x.oid = g.oid::oid
    UNION ALL SELECT x.oprnamespace, true FROM gone g JOIN pg_catalog.pg_operator x
      ON g.catalog = 'pg_operator' AND x.oid = g.oid::oid
    UNION ALL SELECT c.relnamespace, true FROM gone g JOIN pg_catalog.pg_attrdef x
      ON g.catalog = 'pg_attrdef' AND x.oid = g.oid::oid JOIN pg_catalog.pg_class c
      ON c.oid = x.adrelid
    UNION ALL SELECT c.relnamespace, true FROM gone g JOIN pg_catalog.pg_trigger x
      ON g.catalog = 'pg_trigger' AND x.oid = g.oid::oid JOIN pg_catalog.pg_class c
      ON c.oid = x.tgrelid
    UNION ALL SELECT c.relnamespace, true FROM gone g JOIN pg_catalog.pg_policy x
      ON g.catalog = 'pg_policy' AND x.oid = g.oid::oid JOIN pg_catalog.pg_class c
      ON c.oid = x.polrelid
    UNION ALL SELECT c.relnamespace, true FROM gone g JOIN pg_catalog.pg_rewrite x
      ON g.catalog = 'pg_rewrite' AND x.oid = g.oid::oid JOIN pg_catalog.pg_class c
      ON c.oid = x.ev_class
    UNION ALL SELECT x.extnamespace, true FROM gone g JOIN pg_catalog.pg_extension x
      ON g.catalog = 'pg_extension' AND x.oid = g.oid::oid
)
SELECT count(*) FROM found WHERE nsp <> ALL((SELECT o FROM inside)::oid[])
"""


def committed_outside(
    raw: psycopg.Connection[Any], own: Iterable[str], gone: list[tuple[str, int]]
) -> bool:
    """Whether any of ``gone`` (catalog, oid) is, as committed, an object outside ``own``.
    Catalogs not looked up here (casts, operator classes...) count as outside."""
    known = {
        "pg_class",
        "pg_proc",
        "pg_type",
        "pg_constraint",
        "pg_operator",
        "pg_attrdef",
        "pg_trigger",
        "pg_policy",
        "pg_rewrite",
        "pg_extension",
        "pg_namespace",
    }
    if any(catalog not in known for catalog, _ in gone):
        return True
    query = sql.SQL(_COMMITTED_OUTSIDE_SQL).format(own=_names(own))
    row = raw.execute(
        query, {"catalogs": [c for c, _ in gone], "oids": [o for _, o in gone]}
    ).fetchone()
    return bool(row and row[0])


def _names(own: Iterable[str]) -> sql.Composable:
    return sql.SQL("ARRAY[{}]::text[]").format(
        sql.SQL(", ").join([sql.Literal(""), *(sql.Literal(n) for n in sorted(set(own)))])
    )


def _query(own: Iterable[str], *, database: bool, system: bool) -> sql.Composed:
    names = _names(own)
    text = (
        "WITH " + _DATABASE_PART + _CLUSTER_PART + _EXTRA_DATABASE_PART
        if database
        else (_CLUSTER_PART)
    )
    if system:
        text += _SYSTEM_PART
    return sql.SQL(text).format(own=names)


def _can_read_file_settings(raw: psycopg.Connection[Any]) -> bool:
    row = raw.execute(
        "SELECT pg_catalog.has_table_privilege('pg_catalog.pg_file_settings', 'SELECT')"
    ).fetchone()
    return bool(row and row[0])


# Type, function and relation names print qualified or not by search_path: every snapshot
# is read with the same one, so that the migration's connection and another compare.
_SEARCH_PATH = "SELECT pg_catalog.set_config('search_path', 'pg_catalog', false)"
_SEARCH_PATH_LOCAL = "SELECT pg_catalog.set_config('search_path', 'pg_catalog', true)"


def take(
    conn: Connection | psycopg.Connection[Any],
    own: Iterable[str],
    *,
    database: bool = True,
    system: bool = True,
) -> Snapshot:
    """Everything outside ``own`` as ``conn`` sees it (its uncommitted changes included)."""
    raw = conn if isinstance(conn, psycopg.Connection) else driver_connection(conn)
    system = system and _can_read_file_settings(raw)
    with raw.cursor() as cur:
        cur.execute(_SEARCH_PATH)
        cur.execute(_query(own, database=database, system=system))
        return frozenset((str(k), str(n), str(d)) for k, n, d in cur.fetchall())


def describe(before: Snapshot, after: Snapshot) -> dict[tuple[str, str], str]:
    """One line per object created, dropped or changed between two snapshots."""
    if before == after:
        return {}
    was: dict[tuple[str, str], str] = {(k, n): d for k, n, d in before}
    now: dict[tuple[str, str], str] = {(k, n): d for k, n, d in after}
    lines: dict[tuple[str, str], str] = {}
    for key in sorted(was.keys() | now.keys()):
        kind, name = key
        old, new = was.get(key), now.get(key)
        if old == new:
            continue
        if kind == "rows":
            if new is not None:
                lines[key] = f"rows of table {name} changed outside the isolated schema ({new})"
        elif kind == "lock":
            if new is not None:
                lines[key] = (
                    f"{name} locked {new} outside the isolated schema (TRUNCATE, DROP, ALTER, "
                    "a rewrite, or setval/nextval of a sequence)"
                )
        elif old is None:
            lines[key] = f"{kind} {name} created outside the isolated schema ({new})"
        elif new is None:
            lines[key] = f"{kind} {name} dropped outside the isolated schema (was {old})"
        else:
            lines[key] = f"{kind} {name} changed outside the isolated schema: {old} -> {new}"
    return lines


#: a name in a schema of another run's name shape (isolation.new_name)
_RUN_SCHEMA = re.compile(r"^[a-z][a-z0-9]*_[0-9]+_[0-9]{10}_[0-9a-f]{6}(\.|$)")

_LOCKED_SQL = r"""
SELECT coalesce(n.nspname, rn.nspname), CASE WHEN c.oid IS NULL THEN l.relation END
FROM pg_catalog.pg_locks l
LEFT JOIN pg_catalog.pg_namespace n
  ON l.locktype = 'object' AND l.classid = 'pg_catalog.pg_namespace'::regclass AND n.oid = l.objid
LEFT JOIN pg_catalog.pg_class c ON l.locktype = 'relation' AND c.oid = l.relation
LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = c.relnamespace
WHERE l.pid = pg_catalog.pg_backend_pid() AND l.locktype IN ('relation', 'object')
"""


def _row(snapshot: Snapshot, key: tuple[str, str]) -> str | None:
    return next((d for k, n, d in snapshot if (k, n) == key), None)


class _Prepared:
    """One statement prepared in SQL per connection (see snapshot.Snapshotter): planning
    these catalog queries costs as much as running them, and psycopg's own prepared
    statements do not survive the DDL of the migrations."""

    def __init__(self, make: Callable[[frozenset[str]], sql.Composed]) -> None:
        self._make = make
        self._key: frozenset[str] | None = None
        self._name = sql.Identifier("unused")
        self._query: sql.Composed | None = None
        self._prepared_on: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()

    def rows(self, raw: psycopg.Connection[Any], own: frozenset[str]) -> list[Any]:
        if self._query is None or self._key != own:
            self._key = own
            self._query = self._make(own)
            self._name = sql.Identifier(f"gauntlet_outside_{secrets.token_hex(4)}")
            self._prepared_on = weakref.WeakSet()
        with raw.cursor() as cur:
            if raw not in self._prepared_on:
                if _holds_psycopg_prepared(raw):  # the next DROP would deallocate ours too
                    cur.execute(self._query)
                    return cur.fetchall()
                raw.prepare_threshold = None
                cur.execute(sql.SQL("PREPARE {} AS {}").format(self._name, self._query))
                self._prepared_on.add(raw)
            cur.execute(sql.SQL("EXECUTE {}").format(self._name))
            return cur.fetchall()


class OutsideGuard:
    """Checks every commit on the connections it is attached to; see the module's doc.

    ``observer`` opens an independent connection (autocommit), used for the state that is
    committed: at the start, and to tell this transaction's changes from other sessions'.
    """

    def __init__(
        self,
        own: OwnNames,
        observer: Callable[[], contextlib.AbstractContextManager[psycopg.Connection[Any]]],
        *,
        database: bool = True,
    ) -> None:
        self.own = own
        self.observer = observer
        self.database = database
        self.committed: Snapshot | None = None
        self._observer_conn: tuple[int, contextlib.ExitStack, psycopg.Connection[Any]] | None = None
        #: (what, revision) of the work the next commit would make permanent
        self.where: tuple[str, str | None] = ("the run", None)
        self.full_checks = 0  # how often the cheap test sent us to the full snapshot
        self._attached: weakref.WeakSet[Connection] = weakref.WeakSet()
        self._touched = _Prepared(_touched_query)
        self._snapshot = _Prepared(lambda own: _query(own, database=self.database, system=False))

    def baseline(self) -> None:
        """What is committed now: the state every later commit is compared with."""
        own = frozenset(self.own)
        with self.observer() as raw:
            self.committed = take(raw, own, database=self.database, system=False)

    def attach(self, conn: Connection) -> None:
        """Check the commits of ``conn`` from now on. Only psycopg (3) connections: a
        project's psycopg2 or asyncpg connection is not checked yet (README says so)."""
        if conn in self._attached:
            return
        try:
            if not isinstance(driver_connection(conn), psycopg.Connection):
                return
        except Exception:  # noqa: BLE001 - not a connection we can read: not checked
            return
        event.listen(conn, "commit", self.before_commit)
        self._attached.add(conn)

    def _take(self, raw: psycopg.Connection[Any]) -> Snapshot:
        """The full snapshot on the migration's connection. Its search_path is set for
        the rest of the transaction only (which is about to commit or roll back), or, at
        the end of an autocommit_block, set and put back."""
        if raw.autocommit:
            row = raw.execute("SELECT pg_catalog.current_setting('search_path')").fetchone()
            raw.execute(_SEARCH_PATH)
            try:
                rows = self._snapshot.rows(raw, frozenset(self.own))
            finally:
                raw.execute("SELECT pg_catalog.set_config('search_path', %s, false)", row)
        else:
            raw.execute(_SEARCH_PATH_LOCAL)
            rows = self._snapshot.rows(raw, frozenset(self.own))
        return frozenset((str(k), str(n), str(d)) for k, n, d in rows)

    def touched(self, raw: psycopg.Connection[Any]) -> bool:
        """Whether this transaction touched anything outside (the cheap test)."""
        if not self.database:
            return True  # the cluster part alone is small: always read in full
        gone: list[tuple[str, int]] = []
        for catalog, state, oid in self._touched.rows(raw, frozenset(self.own)):
            if state == "touched":
                return True
            gone.append((str(catalog), int(oid)))
        return bool(gone) and committed_outside(self._observing(), self.own, gone)

    def _observing(self) -> psycopg.Connection[Any]:
        """The independent connection, kept for the session (a forked child opens its own
        and leaves its parent's alone)."""
        if self._observer_conn is None or self._observer_conn[0] != os.getpid():
            stack = contextlib.ExitStack()
            raw = stack.enter_context(self.observer())
            raw.execute(_SEARCH_PATH)
            raw.execute("SET lock_timeout = '5s'")
            self._observer_conn = (os.getpid(), stack, raw)
        return self._observer_conn[2]

    def close(self) -> None:
        if self._observer_conn is not None and self._observer_conn[0] == os.getpid():
            with contextlib.suppress(Exception):
                self._observer_conn[1].close()
        self._observer_conn = None

    def before_commit(self, conn: Connection) -> None:
        """SQLAlchemy's ``commit`` event: runs before the driver commits. Whatever goes
        wrong here, the transaction is rolled back: nothing unchecked is committed."""
        if self.committed is None:
            return
        raw = driver_connection(conn)
        try:
            self._check(raw)
        except BaseException:
            if not raw.autocommit:
                with contextlib.suppress(Exception):
                    raw.rollback()
            raise

    def _check(self, raw: psycopg.Connection[Any]) -> None:
        autocommit = raw.autocommit  # the end of an autocommit_block: committed already
        if not autocommit:
            if raw.info.transaction_status == TransactionStatus.INERROR:
                return  # a failed transaction commits nothing
            if not self.touched(raw):
                return
        assert self.committed is not None
        self.full_checks += 1
        now = self._take(raw)
        lines = describe(self.committed, now)
        if lines and not autocommit:
            try:
                lines, now = self._confirmed(raw, lines)
            except psycopg.Error as exc:  # cannot tell ours from others': count all as ours
                lines[("unconfirmed", "")] = f"(could not compare with another session: {exc})"
        if not lines:
            self.committed = now
            return
        if autocommit:
            self.committed = now  # report it once
        raise self._error(list(lines.values()), autocommit)

    def _confirmed(
        self, raw: psycopg.Connection[Any], lines: dict[tuple[str, str], str]
    ) -> tuple[dict[tuple[str, str], str], Snapshot]:
        """Of ``lines``, those an independent session does not see: this transaction's."""
        own = frozenset(self.own)
        observer = self._observing()
        committed = take(observer, own, database=self.database, system=False)
        again = self._take(raw)
        later = take(observer, own, database=self.database, system=False)
        # Ours: what this transaction sees differently from the committed state, which
        # stood still meanwhile (another run's flapping objects do not), and which differed
        # from the last commit in the first place.
        ours = describe(committed, again)
        confirmed = {
            key: line
            for key, line in ours.items()
            if key in lines and _row(committed, key) == _row(later, key)
        }
        if any(_RUN_SCHEMA.match(key[1]) for key in confirmed):
            # Another run's schema changes many times a second: only what this transaction
            # holds a lock in counts (any DDL there locks the schema or the relation).
            locked = self._locked_schemas(raw, observer)
            confirmed = {
                key: line
                for key, line in confirmed.items()
                if not _RUN_SCHEMA.match(key[1]) or key[1].split(".")[0] in locked
            }
        return confirmed, later

    def _locked_schemas(
        self, raw: psycopg.Connection[Any], observer: psycopg.Connection[Any]
    ) -> set[str]:
        """The schemas this transaction holds a lock in: on the schema itself, or on a
        relation in it (found in the committed catalog when this transaction dropped it)."""
        rows = raw.execute(_LOCKED_SQL).fetchall()
        names = {str(r[0]) for r in rows if r[0] is not None}
        oids = [int(r[1]) for r in rows if r[1] is not None]
        if oids:
            committed = observer.execute(
                "SELECT n.nspname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                "ON n.oid = c.relnamespace WHERE c.oid = ANY(%s::int8[]::oid[])",
                (oids,),
            ).fetchall()
            names |= {str(r[0]) for r in committed}
        return names

    def _error(self, lines: list[str], autocommit: bool) -> IsolationEscapeError:
        what, revision = self.where
        if autocommit:
            headline = (
                "A migration reached outside the isolated schema inside an autocommit_block "
                f"during {what}: PostgreSQL committed each of those statements as it ran, so "
                "gauntlet-sync could not roll them back. Keep migrations to their own schema"
            )
        else:
            headline = (
                f"The migrations reached outside the isolated schema during {what} "
                "(schema-qualified names, SET search_path, or database-wide statements); "
                "nothing of it was committed (rolled back). Keep migrations to their own "
                "schema, or give them a database of their own (isolation='database', or no "
                "DSN for the embedded server)"
            )
        step = what.split(" of ")[0] if " of " in what else None
        return IsolationEscapeError.listing(headline, lines, revision=revision, step=step)
