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
left out; a schema of the same name shape made by anyone else is outside like the rest,
except that what other runs do in their own (:func:`other_runs`) counts only when the
migration's transaction holds a lock there.
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
from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from ._compat import DriverTransaction, driver_transaction
from ._compat import holds_prepared_statements as _holds_psycopg_prepared
from .errors import IsolationEscapeError, OutsideGuardError
from .handover import MARK as _TARGET_MARK
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

# Where a sequence stands: nextval and setval are never rolled back. Reading it locks the
# sequence (and waits for a transaction that ALTERs it): only the migration's own
# connection (which holds such locks itself) and the state at the start read it, never the
# independent connection while a migration's transaction is open; and never in another
# run's schema, whose janitor ends the sessions holding locks in it before dropping it.
_SEQUENCE_VALUES_PART = r"""
SELECT 'sequence value', r.name,
       CASE WHEN pg_catalog.has_sequence_privilege(r.oid, 'SELECT,USAGE')
            THEN coalesce(pg_catalog.pg_sequence_last_value(r.oid)::text, 'not used yet')
            ELSE 'unreadable' END
FROM rels r WHERE r.relkind = 'S'
  AND r.name !~ '^[a-z][a-z0-9]*_[0-9]+_[0-9]{{10}}_[0-9a-f]{{6}}\.'
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
WHERE d.datname <> ALL({own}) {not_current}
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
UNION ALL
SELECT 'foreign-data wrapper', w.fdwname,
       'owner ' || pg_get_userbyid(w.fdwowner) || coalesce(' grants ' || w.fdwacl::text, '')
       || ' handler ' || w.fdwhandler::regproc || ' validator ' || w.fdwvalidator::regproc
       || coalesce(' options ' || pg_catalog.md5(w.fdwoptions::text), '')
FROM pg_catalog.pg_foreign_data_wrapper w
UNION ALL
SELECT 'user mapping', u.usename || ' for server ' || u.srvname,  -- the view: any role
       coalesce('options ' || pg_catalog.md5(u.umoptions::text), '')  -- may read it
FROM pg_catalog.pg_user_mappings u
UNION ALL
SELECT 'publication table', p.pubname || ' ' || pr.prrelid::regclass::text, ''
FROM pg_catalog.pg_publication_rel pr JOIN pg_catalog.pg_publication p ON p.oid = pr.prpubid
UNION ALL  -- casts and transforms of the database's own (the built-in ones are older)
SELECT 'cast', c.castsource::regtype::text || ' as ' || c.casttarget::regtype::text,
       c.castcontext::text || ' ' || c.castmethod::text || ' ' || c.castfunc::regproc
FROM pg_catalog.pg_cast c WHERE c.oid >= 16384
UNION ALL
SELECT 'transform', t.trftype::regtype::text || ' language ' || l.lanname,
       t.trffromsql::regproc || ' ' || t.trftosql::regproc
FROM pg_catalog.pg_transform t JOIN pg_catalog.pg_language l ON l.oid = t.trflang
UNION ALL  -- the other objects a schema outside holds
SELECT 'operator', o.nspname || '.' || op.oprname || '(' || op.oprleft::regtype::text || ', '
       || op.oprright::regtype::text || ')',
       'owner ' || pg_get_userbyid(op.oprowner) || ' ' || op.oprcode::regproc
       || ' ' || op.oprcom::regoper || ' ' || op.oprnegate::regoper
FROM pg_catalog.pg_operator op JOIN outside o ON o.oid = op.oprnamespace
UNION ALL
SELECT 'operator class', o.nspname || '.' || c.opcname || ' using ' || am.amname,
       'owner ' || pg_get_userbyid(c.opcowner) || ' for ' || c.opcintype::regtype::text
       || CASE WHEN c.opcdefault THEN ' default' ELSE '' END
FROM pg_catalog.pg_opclass c JOIN outside o ON o.oid = c.opcnamespace
JOIN pg_catalog.pg_am am ON am.oid = c.opcmethod
UNION ALL
SELECT 'operator family', o.nspname || '.' || f.opfname || ' using ' || am.amname,
       'owner ' || pg_get_userbyid(f.opfowner)
FROM pg_catalog.pg_opfamily f JOIN outside o ON o.oid = f.opfnamespace
JOIN pg_catalog.pg_am am ON am.oid = f.opfmethod
UNION ALL
SELECT 'collation', o.nspname || '.' || c.collname || ' encoding ' || c.collencoding,
       'owner ' || pg_get_userbyid(c.collowner) || ' ' || c.collprovider::text
       || ' ' || coalesce(c.collcollate, '') || ' ' || coalesce(c.collctype, '')
FROM pg_catalog.pg_collation c JOIN outside o ON o.oid = c.collnamespace
UNION ALL
SELECT 'conversion', o.nspname || '.' || c.conname,
       'owner ' || pg_get_userbyid(c.conowner) || ' ' || c.conproc::regproc
FROM pg_catalog.pg_conversion c JOIN outside o ON o.oid = c.connamespace
UNION ALL
SELECT 'text search configuration', o.nspname || '.' || c.cfgname,
       'owner ' || pg_get_userbyid(c.cfgowner) || ' parser ' || c.cfgparser::text || ' '
       || (SELECT pg_catalog.md5(coalesce(pg_catalog.string_agg(m.maptokentype || ':'
                  || m.mapseqno || ':' || m.mapdict, ',' ORDER BY m.maptokentype, m.mapseqno),
                  '')) FROM pg_catalog.pg_ts_config_map m WHERE m.mapcfg = c.oid)
FROM pg_catalog.pg_ts_config c JOIN outside o ON o.oid = c.cfgnamespace
UNION ALL
SELECT 'text search dictionary', o.nspname || '.' || d.dictname,
       'owner ' || pg_get_userbyid(d.dictowner) || ' template ' || d.dicttemplate::text
       || coalesce(' options ' || pg_catalog.md5(d.dictinitoption), '')
FROM pg_catalog.pg_ts_dict d JOIN outside o ON o.oid = d.dictnamespace
UNION ALL
SELECT 'text search parser', o.nspname || '.' || p.prsname, p.prsstart::regproc::text
FROM pg_catalog.pg_ts_parser p JOIN outside o ON o.oid = p.prsnamespace
UNION ALL
SELECT 'text search template', o.nspname || '.' || t.tmplname, t.tmpllexize::regproc::text
FROM pg_catalog.pg_ts_template t JOIN outside o ON o.oid = t.tmplnamespace
UNION ALL
SELECT 'statistics', o.nspname || '.' || x.stxname,
       'owner ' || pg_get_userbyid(x.stxowner) || ' on ' || x.stxrelid::regclass::text
       || ' ' || x.stxkeys::text || ' ' || x.stxkind::text
FROM pg_catalog.pg_statistic_ext x JOIN outside o ON o.oid = x.stxnamespace
UNION ALL  -- large objects belong to no schema: each one, and their data written
SELECT 'large object', m.oid::text,
       'owner ' || pg_get_userbyid(m.lomowner) || coalesce(' grants ' || m.lomacl::text, '')
FROM pg_catalog.pg_largeobject_metadata m
UNION ALL
SELECT 'large object data', 'pg_largeobject', w.written::text
FROM (SELECT pg_catalog.pg_stat_get_xact_tuples_inserted('pg_catalog.pg_largeobject'::regclass)
             + pg_catalog.pg_stat_get_xact_tuples_updated('pg_catalog.pg_largeobject'::regclass)
             + pg_catalog.pg_stat_get_xact_tuples_deleted('pg_catalog.pg_largeobject'::regclass)
             AS written) w
WHERE w.written > 0
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
# a large lock table) and without another connection, from this backend's own counters
# and the catalog rows' xmin:
# * catalog rows this transaction inserted or updated (xmin not older than its xid; a
#   newer one of another session only costs a full look) of an object outside;
# * catalog rows it deleted: the number of objects outside in that catalog, as this
#   transaction sees it, against the number last committed (the caller keeps it);
# * writes to catalogs that nothing done inside one schema writes;
# * rows inserted, updated or deleted in tables outside (pg_stat_get_xact_*), sequences
#   outside read (nextval, setval);
# * whether dblink or postgres_fdw is installed, and how many sessions were terminated.
# Each catalog is scanned (once, for both) only when the transaction wrote to it at all
# (a one-time filter).
_TOUCHED_SQL = r"""
WITH mine AS (
    SELECT pg_catalog.age(
        ((pg_catalog.pg_current_xact_id_if_assigned()::text::int8 % 4294967296)::text)::xid
    ) AS age
),
{inside},
counters AS MATERIALIZED (  -- read once: the gates below become one-time filters
    SELECT pg_catalog.textin(pg_catalog.regclassout(x.oid)) AS catalog,
           pg_catalog.pg_stat_get_xact_tuples_inserted(x.oid)
           + pg_catalog.pg_stat_get_xact_tuples_updated(x.oid)
           + pg_catalog.pg_stat_get_xact_tuples_deleted(x.oid) AS written
    FROM pg_catalog.unnest(ARRAY[{catalogs}]::pg_catalog.regclass[]) AS x(oid)
),
outrels AS MATERIALIZED (  -- the relations outside (one scan serves every part below)
    SELECT c.oid, c.relkind, pg_catalog.age(c.xmin) <= (SELECT age FROM mine) AS mine,
           c.relnamespace = ANY((SELECT r FROM inside)::oid[]) AS run
    FROM pg_catalog.pg_class c WHERE c.relnamespace <> ALL((SELECT o FROM inside)::oid[])
)
{written}
UNION ALL
-- rows written in tables outside; sequences outside read (nextval, setval)
SELECT 'rows', 'touched', r.oid::int8 FROM outrels r
WHERE r.relkind IN ('r', 'p', 'm', 'S')
  AND CASE WHEN r.relkind = 'S' THEN pg_catalog.pg_stat_get_xact_blocks_fetched(r.oid)
           ELSE pg_catalog.pg_stat_get_xact_tuples_inserted(r.oid)
                + pg_catalog.pg_stat_get_xact_tuples_updated(r.oid)
                + pg_catalog.pg_stat_get_xact_tuples_deleted(r.oid) END > 0
UNION ALL
SELECT catalog, 'touched', 0::int8 FROM counters
WHERE catalog = ANY(ARRAY[{catalog_names}]) AND written > 0
UNION ALL
-- extensions that commit through connections of their own: every commit looked at in full
SELECT 'remote', 'touched', 0::int8 FROM pg_catalog.pg_extension
WHERE extname IN ('dblink', 'postgres_fdw')
{killed}"""

# What the full snapshot leaves out (o), and the schemas of other runs' name shape (r): the
# objects counted for deletions leave those out, as concurrent runs change them all the
# time (a schema of theirs dropped is seen in pg_namespace, objects created or changed
# there by their xmin).
_INSIDE = r"""
inside AS (
    SELECT coalesce(pg_catalog.array_agg(oid) FILTER (
               WHERE nspname = ANY({own})
                  OR nspname IN ('pg_catalog', 'pg_toast', 'information_schema')
                  OR nspname LIKE 'pg\_temp\_%' OR nspname LIKE 'pg\_toast\_temp\_%'),
           '{{}}') AS o,
           coalesce(pg_catalog.array_agg(oid) FILTER (WHERE nspname ~ {shape}), '{{}}') AS r
    FROM pg_catalog.pg_namespace
)"""

#: isolation.new_name's shape, in SQL
_RUN_SHAPE = "^[a-z][a-z0-9]*_[0-9]+_[0-9]{10}_[0-9a-f]{6}$"

_IN_RUNS = "((SELECT r FROM inside)::oid[])"

#: catalog: (its rows outside: FROM and WHERE, whether a row is in another run's schema)
_OBJECT_CATALOGS = {
    "pg_class": ("outrels x WHERE true", "x.run"),
    "pg_type": (
        "pg_catalog.pg_type x WHERE x.typnamespace <> ALL((SELECT o FROM inside)::oid[])",
        f"x.typnamespace = ANY{_IN_RUNS}",
    ),
    "pg_proc": (
        "pg_catalog.pg_proc x WHERE x.pronamespace <> ALL((SELECT o FROM inside)::oid[])",
        f"x.pronamespace = ANY{_IN_RUNS}",
    ),
    "pg_constraint": (
        "pg_catalog.pg_constraint x WHERE x.connamespace <> ALL((SELECT o FROM inside)::oid[])",
        f"x.connamespace = ANY{_IN_RUNS}",
    ),
    "pg_attribute": (
        "pg_catalog.pg_attribute x JOIN outrels r ON r.oid = x.attrelid WHERE true",
        "r.run",
    ),
    "pg_attrdef": (
        "pg_catalog.pg_attrdef x JOIN outrels r ON r.oid = x.adrelid WHERE true",
        "r.run",
    ),
    "pg_index": ("pg_catalog.pg_index x JOIN outrels r ON r.oid = x.indrelid WHERE true", "r.run"),
    "pg_trigger": (
        "pg_catalog.pg_trigger x JOIN outrels r ON r.oid = x.tgrelid WHERE true",
        "r.run",
    ),
    "pg_policy": (
        "pg_catalog.pg_policy x JOIN outrels r ON r.oid = x.polrelid WHERE true",
        "r.run",
    ),
    "pg_rewrite": (
        "pg_catalog.pg_rewrite x JOIN outrels r ON r.oid = x.ev_class WHERE true",
        "r.run",
    ),
    "pg_sequence": (
        "pg_catalog.pg_sequence x JOIN outrels r ON r.oid = x.seqrelid WHERE true",
        "r.run",
    ),
    "pg_enum": (
        "pg_catalog.pg_enum x JOIN pg_catalog.pg_type t ON t.oid = x.enumtypid "
        "WHERE t.typnamespace <> ALL((SELECT o FROM inside)::oid[])",
        f"t.typnamespace = ANY{_IN_RUNS}",
    ),
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

_KILLED_PART = r"""
UNION ALL
SELECT 'killed', 'count',
       coalesce(sum(pg_catalog.pg_stat_get_db_sessions_killed(d.oid)), 0)::int8
FROM pg_catalog.pg_database d WHERE d.datname <> ALL({own})
"""


def _touched_query(own: Iterable[str], server_version: int = 150000) -> sql.Composed:
    written = []
    for catalog, (source, run) in _OBJECT_CATALOGS.items():
        name = sql.Literal(catalog)
        written.append(
            sql.SQL(
                "SELECT {name}, CASE WHEN pg_catalog.bool_or({mine}) "
                "THEN 'touched' ELSE 'objects' END, count(*) FILTER (WHERE NOT {run})::int8 "
                "FROM {source} AND (SELECT written FROM counters WHERE catalog = {name}) > 0 "
                "HAVING (SELECT written FROM counters WHERE catalog = {name}) > 0"
            ).format(
                name=name,
                source=sql.SQL(source),
                run=sql.SQL(run),
                mine=sql.SQL(
                    "x.mine"
                    if catalog == "pg_class"
                    else "pg_catalog.age(x.xmin) <= (SELECT age FROM mine)"
                ),
            )
        )
    return sql.SQL(_TOUCHED_SQL).format(
        inside=_inside(own),
        catalogs=sql.SQL(", ").join(
            sql.Literal(f"pg_catalog.{n}") for n in (*_DATABASE_WIDE_CATALOGS, *_OBJECT_CATALOGS)
        ),
        catalog_names=sql.SQL(", ").join(sql.Literal(n) for n in _DATABASE_WIDE_CATALOGS),
        written=sql.SQL("\nUNION ALL\n").join(written),
        # pg_stat_database.sessions_killed is PostgreSQL 14's
        killed=sql.SQL(_KILLED_PART if server_version >= 140000 else "").format(own=_names(own)),
    )


def _inside(own: Iterable[str]) -> sql.Composed:
    return sql.SQL(_INSIDE).format(own=_names(own), shape=sql.Literal(_RUN_SHAPE))


def _objects_query(own: Iterable[str]) -> sql.Composed:
    """How many objects outside each catalog holds, as committed (the cheap test's
    starting point for deletions)."""
    parts = [
        sql.SQL("SELECT {name}, (count(*) FILTER (WHERE NOT {run}))::int8 FROM {source}").format(
            name=sql.Literal(catalog), source=sql.SQL(source), run=sql.SQL(run)
        )
        for catalog, (source, run) in _OBJECT_CATALOGS.items()
    ]
    return sql.SQL(
        "WITH {inside}, "
        "outrels AS MATERIALIZED (SELECT c.oid, c.relkind, true AS mine,"
        " c.relnamespace = ANY((SELECT r FROM inside)::oid[]) AS run FROM pg_catalog.pg_class c"
        " WHERE c.relnamespace <> ALL((SELECT o FROM inside)::oid[])) "
        "{parts}"
    ).format(inside=_inside(own), parts=sql.SQL(" UNION ALL ").join(parts))


def _names(own: Iterable[str]) -> sql.Composable:
    return sql.SQL("ARRAY[{}]::text[]").format(
        sql.SQL(", ").join([sql.Literal(""), *(sql.Literal(n) for n in sorted(set(own)))])
    )


def _query(
    own: Iterable[str], *, database: bool, system: bool, values: bool = True
) -> sql.Composed:
    names = _names(own)
    text = (
        "WITH "
        + _DATABASE_PART
        + (_SEQUENCE_VALUES_PART if values else "")
        + _CLUSTER_PART
        + _EXTRA_DATABASE_PART
        if database
        else (_CLUSTER_PART)
    )
    if system:
        text += _SYSTEM_PART
    # The current database's own row is the database part's. Without that part (the run
    # has a database of its own) every database but the run's is read here alike: the
    # migration's connection and the one to the user's database see the same list.
    not_current = "AND d.datname <> pg_catalog.current_database()" if database else ""
    return sql.SQL(text).format(own=names, not_current=sql.SQL(not_current))


def _system_settings(link: Link) -> Snapshot | None:
    """postgresql.auto.conf's settings (``ALTER SYSTEM``), where the role may read them."""
    readable = link.fetch(
        "SELECT pg_catalog.has_table_privilege('pg_catalog.pg_file_settings', 'SELECT')"
    )
    if not readable or not readable[0][0]:
        return None
    rows = link.fetch(_SYSTEM_PART.replace("UNION ALL", "", 1))
    return frozenset((str(k), str(n), str(d)) for k, n, d in rows)


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
    values: bool = True,
) -> Snapshot:
    """Everything outside ``own`` as ``conn`` sees it (its uncommitted changes included);
    ``values``: where the sequences stand too."""
    raw = conn if isinstance(conn, psycopg.Connection) else driver_connection(conn)
    system = system and _can_read_file_settings(raw)
    query = _query(own, database=database, system=system, values=values)
    link = Link(raw)
    link.fetch(_SEARCH_PATH)
    rows = read(link, lambda: link.fetch(query))
    return frozenset((str(k), str(n), str(d)) for k, n, d in rows)


#: How often :func:`read` reads again when an object vanished under it.
_READ_ATTEMPTS = 3


def read(link: Link, statement: Callable[[], list[Any]]) -> list[Any]:
    """The rows of ``statement``, a read of the catalog outside on ``link``, made again
    when another client dropped an object under it (:func:`_dropped_meanwhile`): every
    read of the outside goes through here, :func:`take`'s (the workspace, the embedded
    server, the guard's baseline and independent connection) and the guard's commit
    check on the migration's own connection (any driver), so that someone else's DDL on
    a shared database never fails a run or a commit check. Inside a transaction (the
    migration's, whose changes the read must see) each attempt runs in a savepoint, so
    that a failed one leaves the transaction usable; outside one it costs nothing."""
    attempts_left = _READ_ATTEMPTS
    while True:
        savepoint = link.in_transaction()
        if savepoint:
            link.fetch(_SAVEPOINT)
        try:
            rows = statement()
        except Exception as exc:
            if savepoint:
                with contextlib.suppress(Exception):  # else the next attempt says why
                    link.fetch(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT_NAME}")
            attempts_left -= 1
            if not attempts_left or not _dropped_meanwhile(exc):
                raise
            continue
        if savepoint:
            link.fetch(f"RELEASE SAVEPOINT {_SAVEPOINT_NAME}")
        return rows


_SAVEPOINT_NAME = "gauntlet_outside_read"
_SAVEPOINT = f"SAVEPOINT {_SAVEPOINT_NAME}"


def _dropped_meanwhile(exc: BaseException) -> bool:
    """Whether ``exc`` is what a read of the catalog gets when another session drops an
    object after the statement's snapshot listed it and before a function opened it
    (``pg_sequence_last_value`` of a sequence dropped meanwhile: "could not open relation
    with OID", a definition printer's "cache lookup failed"). Another client's DDL on a
    shared database, not the migrations': the next read no longer lists the object.
    Told by SQLSTATE, which every driver gives (psycopg, psycopg2, asyncpg's adapter)."""
    code = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    message = str(exc)
    return code == "42P01" or (  # undefined_table
        code == "XX000"  # internal_error
        and ("could not open relation with OID" in message or "cache lookup failed" in message)
    )


def describe(
    before: Snapshot, after: Snapshot, *, values: bool = True
) -> dict[tuple[str, str], str]:
    """One line per object created, dropped or changed between two snapshots.
    ``values=False`` leaves out where sequences stand (on a shared database, others'
    nextval moves them all the time: a commit's check asks whether this transaction did)."""
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
        if kind == "sequence value":
            if values and old is not None and new is not None:
                lines[key] = (
                    f"sequence {name} moved outside the isolated schema (nextval/setval): "
                    f"{old} -> {new}; PostgreSQL never rolls a sequence back: "
                    f"setval('{name}', {old}) puts it back"
                    if old.isdigit()
                    else f"sequence {name} moved outside the isolated schema (nextval/setval): "
                    f"{old} -> {new}; PostgreSQL never rolls a sequence back"
                )
        elif kind == "rows":
            if new is not None:
                lines[key] = f"rows of table {name} changed outside the isolated schema ({new})"
        elif kind == "large object data":
            if new is not None:
                lines[key] = (
                    f"large object data written outside the isolated schema ({new} pages "
                    "inserted, updated or deleted: large objects belong to no schema)"
                )
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

#: how the comment the janitor signs every schema and database it creates with begins
SIGNATURE = "gauntlet-sync"


def _run_of(name: str) -> str | None:
    """The schema or database of the run name shape that ``name`` lies in (or is)."""
    return name.split(".", 1)[0] if _RUN_SCHEMA.match(name) else None


def other_runs(*snapshots: Snapshot) -> frozenset[str]:
    """The schemas and databases of other gauntlet-sync runs that ``snapshots`` show.

    Other runs create, fill and drop them at any time: unittest-parallel's or Django's
    shard processes on one embedded server, CI jobs sharing a user's database. They are
    told by the run name shape *and* the janitor's signature, a comment set in the same
    transaction as the CREATE SCHEMA: a schema of that name shape that a migration makes
    is unsigned, and seen like any other. Databases are told by their name shape alone
    (CREATE DATABASE cannot share a transaction with its COMMENT, and a migration can
    only create one in an autocommit_block, which the guard reports as it ends). The
    snapshots leave this run's own names out already (:func:`take`'s ``own``)."""
    signed = f" comment '{SIGNATURE} "
    return frozenset(
        name
        for snapshot in snapshots
        for kind, name, description in snapshot
        if _RUN_SCHEMA.match(name)
        and (kind == "database" or (kind == "schema" and signed in description))
    )


def escapes(before: Snapshot, after: Snapshot) -> list[str]:
    """What changed outside between two looks of one run at a server others work on
    too: other runs' schemas and databases (:func:`other_runs`) left out, as the guard's
    commit check leaves them out when the migration's transaction holds no lock there
    (the look at a session's start and end has no transaction to ask)."""
    others = other_runs(before, after)
    return [
        line for (_, name), line in describe(before, after).items() if _run_of(name) not in others
    ]


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


class Link:
    """The DBAPI connection a migration commits on, whatever its driver: psycopg (3),
    psycopg2, or SQLAlchemy's adapter of asyncpg (whose calls run in the greenlet the
    migration runs in). The guard reads through it, as the migration's own transaction
    sees things, with plain SQL text (no parameters: every driver takes it as it is)."""

    def __init__(self, dbapi: Any) -> None:
        self.dbapi = dbapi
        self.psycopg: psycopg.Connection[Any] | None = (
            dbapi if isinstance(dbapi, psycopg.Connection) else None
        )

    @property
    def autocommit(self) -> bool:
        """Whether each statement commits by itself (alembic's ``autocommit_block``)."""
        return bool(getattr(self.dbapi, "autocommit", False))

    def failed(self) -> bool:
        """The transaction is aborted: its commit commits nothing. (asyncpg does not say:
        there the first query fails with SQLSTATE 25P02, see :func:`_aborted`.)"""
        return driver_transaction(self.dbapi) is DriverTransaction.FAILED

    def fetch(self, query: str | sql.Composed | sql.SQL) -> list[tuple[Any, ...]]:
        if self.psycopg is not None:
            with self.psycopg.cursor() as cur:
                cur.execute(query)
                return list(cur.fetchall()) if cur.description else []
        text = query if isinstance(query, str) else query.as_string(None)
        cur = self.dbapi.cursor()
        try:
            cur.execute(text)
            return [tuple(r) for r in cur.fetchall()] if cur.description else []
        finally:
            cur.close()

    def rollback(self) -> None:
        self.dbapi.rollback()

    def in_transaction(self) -> bool:
        """The next statement runs in a transaction (not a failed one): one is open, or
        the driver begins one before it (not in autocommit mode, psycopg, psycopg2 and
        asyncpg's adapter alike). A read runs in a savepoint there, so that a failed
        attempt leaves the transaction usable."""
        state = driver_transaction(self.dbapi)
        return state is DriverTransaction.IN_TRANSACTION or (
            state is DriverTransaction.IDLE and not self.autocommit
        )


def _aborted(exc: BaseException) -> bool:
    """A query refused because the transaction had failed already (SQLSTATE 25P02)."""
    code = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    return code == "25P02"


class _Prepared:
    """One statement prepared in SQL per psycopg connection (see snapshot.Snapshotter):
    planning these catalog queries costs more than running them, and psycopg's own
    prepared statements do not survive the DDL of the migrations. The guard turns
    psycopg's automatic preparing off on every connection it watches before that
    connection runs anything (:meth:`OutsideGuard.adopt`); a connection where psycopg
    prepared statements anyway is checked for ours before each use (psycopg deallocates
    every statement after a DROP). Other drivers run the text (their own statement cache
    keeps the plan where they have one)."""

    def __init__(self, make: Callable[[frozenset[str]], sql.Composed]) -> None:
        self._make = make
        self._key: frozenset[str] | None = None
        self._name = "unused"
        self._query: sql.Composed | None = None
        self._prepared_on: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()

    def rows(self, link: Link, own: frozenset[str]) -> list[Any]:
        if self._query is None or self._key != own:
            self._key = own
            self._query = self._make(own)
            self._name = f"gauntlet_outside_{secrets.token_hex(4)}"
            self._prepared_on = weakref.WeakSet()
        raw = link.psycopg
        if raw is None:
            return link.fetch(self._query)
        name = sql.Identifier(self._name)
        with raw.cursor() as cur:
            if raw in self._prepared_on and _holds_psycopg_prepared(raw):
                query = "SELECT 1 FROM pg_catalog.pg_prepared_statements WHERE name = {}"
                cur.execute(sql.SQL(query).format(sql.Literal(self._name)))
                if cur.fetchone() is None:
                    self._prepared_on.discard(raw)
            if raw not in self._prepared_on:
                cur.execute(sql.SQL("PREPARE {} AS {}").format(name, self._query))
                self._prepared_on.add(raw)
            cur.execute(sql.SQL("EXECUTE {}").format(name))
            return cur.fetchall()


# Sessions gauntlet-sync itself terminates (the janitor ends a hung migration's backend
# before dropping its schema or database): not the migrations' doing. Counted in an
# anonymous shared mapping, so that a forked child's count reaches its parent's guard.
_OWN_KILLS = mmap.mmap(-1, 8)


def count_own_kills(count: int) -> None:
    """Record ``count`` sessions terminated by gauntlet-sync itself (janitor.py)."""
    if count:
        value = int.from_bytes(_OWN_KILLS[:8], "little") + count
        _OWN_KILLS[:8] = value.to_bytes(8, "little")


def own_kills() -> int:
    return int.from_bytes(_OWN_KILLS[:8], "little")


# -- which connections are watched: every one opened for an isolated target --------------
# Each session's connections carry its redirect's mark (handover.py: the hand-over, and
# every connection env.py's engines open while it runs, on any driver). One set of
# listeners on every Engine finds the session's guard by that mark, so that every commit
# path is covered: SQLAlchemy's (env.py's context.begin_transaction(), its own
# connection.begin(), transaction_per_migration, alembic's autocommit_block) through the
# ``commit`` event; the walks' commits under a transaction env.py holds, which commit the
# driver's connection directly, through :func:`before_commit` (_compat.commit_between_steps
# calls it); and a COMMIT a migration sends as SQL (``op.execute("COMMIT")``, a DO block or
# a procedure that commits) through ``before_cursor_execute``.

_GUARDS: dict[str, OutsideGuard] = {}
_LISTENING = False

#: statements that may end the transaction on the server (checked like a commit first;
#: a false match costs one cheap check, nothing more)
_ENDS_TRANSACTION = re.compile(
    r"(?:^|;)(?:\s|--[^\n]*(?:\n|$)|/\*.*?\*/)*"
    r"(COMMIT|END|CALL|DO|PREPARE\s+TRANSACTION)\b",
    re.IGNORECASE | re.DOTALL,
)


def watch(token: str, guard: OutsideGuard) -> None:
    """Check every commit of the connections marked with ``token`` (a session's redirect)."""
    global _LISTENING
    _GUARDS[token] = guard
    if not _LISTENING:
        event.listen(Engine, "commit", before_commit)
        event.listen(Engine, "prepare_twophase", _before_prepare)
        event.listen(Engine, "begin", _on_begin)
        event.listen(Engine, "before_cursor_execute", _before_execute)
        _LISTENING = True


def unwatch(token: str) -> None:
    _GUARDS.pop(token, None)


def _guard_of(conn: Connection) -> OutsideGuard | None:
    if not _GUARDS:
        return None
    try:
        mark = conn.info.get(_TARGET_MARK)
    except Exception:  # noqa: BLE001 - a closed or invalidated connection commits nothing
        return None
    if not mark or mark[0] != os.getpid():
        return None
    return _GUARDS.get(mark[1])


def before_commit(conn: Connection) -> None:
    """Before ``conn`` commits (SQLAlchemy's ``commit`` event, or a driver-level commit
    of the walks): its guard's check, if it belongs to a guarded session."""
    guard = _guard_of(conn)
    if guard is not None:
        guard.before_commit(conn)


def _before_prepare(conn: Connection, xid: Any) -> None:
    guard = _guard_of(conn)
    if guard is not None:
        raise _prepare_refused(guard)


def _step_of(what: str) -> str | None:
    """The step of a guard's ``where`` ("upgrade of r1" -> "upgrade"), for its errors."""
    return what.split(" of ")[0] if " of " in what else None


def _prepare_refused(guard: OutsideGuard) -> IsolationEscapeError:
    """A prepared transaction outlives the session: it holds its locks (the isolated
    schema's too, so the run could not drop it) until someone runs ``COMMIT PREPARED``
    or ``ROLLBACK PREPARED``, and commits then, unchecked. Refused before it is sent."""
    what, revision = guard.where
    step = _step_of(what)
    return IsolationEscapeError.listing(
        f"A migration asked to prepare its transaction for two-phase commit during {what} "
        "(PREPARE TRANSACTION): a prepared transaction outlives the run, holding its locks "
        "until someone commits it, unchecked, or rolls it back. gauntlet-sync does not "
        "send it on your database; nothing of the transaction was committed",
        ["PREPARE TRANSACTION refused: a prepared transaction would be left on the server"],
        revision=revision,
        step=step,
    )


def _on_begin(conn: Connection) -> None:
    guard = _guard_of(conn)
    if guard is not None:
        guard.on_begin(conn)


def _before_execute(
    conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
) -> None:
    guard = _guard_of(conn)
    if guard is None:
        return
    guard.adopt(conn)
    ends = [m for m in _ENDS_TRANSACTION.finditer(statement)]
    if any(m.group(1).upper().startswith("PREPARE") for m in ends):
        raise _prepare_refused(guard)
    if ends:
        # deferred triggers are fired only before a statement that is a COMMIT or END
        # itself: "; END" also closes every PL/pgSQL body, where the transaction goes on
        first = ends[0]
        ending = first.start() == 0 and first.group(1).upper() in ("COMMIT", "END")
        guard.before_commit(conn, ending=ending)


#: kinds of change PostgreSQL cannot roll back (nextval/setval, terminated sessions,
#: what another connection or an autocommit_block committed)
_IRREVERSIBLE = ("sequence value", "terminated", "elsewhere", "autocommit rows")


class OutsideGuard:
    """Checks every commit of a session's connections; see the module's doc.

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
        self.server_version = 0
        #: sessions terminated so far in databases not the run's (pg_stat_database), and
        #: how many of all gauntlet-sync itself had terminated by then
        self.killed = 0
        self.own_kills = 0
        #: per catalog, how many objects outside it holds as last committed
        self.objects: dict[str, int] = {}
        #: tables outside: their write counters and relfilenode when an autocommit_block
        #: began (or, with dblink/postgres_fdw, when the transaction began)
        self._counted: dict[str, tuple[int, int, int, int]] | None = None
        self._adopted: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()
        #: postgresql.auto.conf's settings when an autocommit_block began
        self._system: Snapshot | None = None
        self._touched = _Prepared(lambda own: _touched_query(own, self.server_version))
        self._snapshot = _Prepared(lambda own: _query(own, database=self.database, system=False))

    def baseline(self) -> None:
        """What is committed now: the state every later commit is compared with."""
        own = frozenset(self.own)
        with self.observer() as raw:
            self.server_version = raw.info.server_version
            self.committed = take(raw, own, database=self.database, system=False)
            self.killed = _killed(Link(raw), own, self.server_version)
            self.own_kills = own_kills()
            if self.database:
                rows = Link(raw).fetch(_objects_query(own))
                self.objects = {str(catalog): int(count) for catalog, count in rows}
            if self.database and self._remote_capable(raw):
                self._counted = _counters(Link(raw), own)

    def adopt(self, conn: Connection) -> None:
        """First sight of a connection: psycopg's automatic preparing is turned off before
        it prepares anything (it deallocates all statements after a DROP, ours too)."""
        try:
            dbapi = conn.connection.dbapi_connection
        except Exception:  # noqa: BLE001 - an invalidated connection: nothing to adopt
            return
        if isinstance(dbapi, psycopg.Connection) and dbapi not in self._adopted:
            dbapi.prepare_threshold = None
            self._adopted.add(dbapi)

    # -- the checks ---------------------------------------------------------------------

    def before_commit(self, conn: Connection, *, ending: bool = True) -> None:
        """Before ``conn`` commits. Whatever goes wrong here, the transaction is rolled
        back: nothing unchecked is committed. The guard's own failure is an
        :class:`OutsideGuardError`, not the migration's. ``ending``: the transaction ends
        here (not a DO block or CALL that might commit)."""
        if self.committed is None:
            return
        link = Link(conn.connection.dbapi_connection)
        try:
            if ending:
                self._fire_deferred(link)
        except Exception as exc:  # a deferred constraint or trigger of the migration's
            self._rollback(link)  # failed: its error, as SQLAlchemy's commit raises it
            dbapi = conn.dialect.loaded_dbapi
            if isinstance(exc, dbapi.Error):
                raise DBAPIError.instance(
                    "COMMIT", None, exc, dbapi.Error, dialect=conn.dialect
                ) from exc
            raise
        try:
            self._check(link)
        except IsolationEscapeError:
            self._rollback(link)
            raise
        except Exception as exc:
            if _aborted(exc):
                return  # the transaction had failed already: its commit commits nothing
            self._rollback(link)
            what, _ = self.where
            raise OutsideGuardError(
                f"gauntlet-sync could not check what {what} would commit on your database "
                f"(its guard's catalog query failed: {type(exc).__name__}: "
                f"{' '.join(str(exc).split())}). Nothing of it was committed (rolled back). "
                "This is not the migration's failure: the role must be able to read "
                "pg_catalog; if it can, please report it."
            ) from exc
        except BaseException:
            self._rollback(link)
            raise

    @staticmethod
    def _fire_deferred(link: Link) -> None:
        """Deferred triggers and constraints run at COMMIT, after any check: a
        ``DEFERRABLE INITIALLY DEFERRED`` constraint trigger on an own table could write
        outside then. ``SET CONSTRAINTS ALL IMMEDIATE`` runs what is pending now, inside
        the transaction the check reads (the commit follows at once: nothing else runs
        under the changed mode)."""
        state = driver_transaction(link.dbapi)
        if link.autocommit or state is not DriverTransaction.IN_TRANSACTION:
            return
        link.fetch("SET CONSTRAINTS ALL IMMEDIATE")

    @staticmethod
    def _rollback(link: Link) -> None:
        if not link.autocommit:
            with contextlib.suppress(Exception):
                link.rollback()

    def on_begin(self, conn: Connection) -> None:
        """SQLAlchemy's ``begin``: in AUTOCOMMIT (alembic's ``autocommit_block``), what
        the tables outside have been written so far, to compare when the block ends."""
        self.adopt(conn)
        if self.committed is None or not self.database:
            return
        link = Link(conn.connection.dbapi_connection)
        if not link.autocommit:
            return
        try:
            self._counted = _counters(link, frozenset(self.own))
            self._system = _system_settings(link)
        except Exception as exc:  # noqa: BLE001 - reported at the block's end instead
            self._counted = None
            raise OutsideGuardError(
                "gauntlet-sync could not read the write counters of the tables outside the "
                f"isolated schema as an autocommit_block began ({type(exc).__name__}: {exc})"
            ) from exc

    def _check(self, link: Link) -> None:
        autocommit = link.autocommit  # the end of an autocommit_block: committed already
        strict = False
        seen = _Touched()
        if not autocommit:
            if link.failed():
                return  # a failed transaction commits nothing
            seen = self.touched(link)
            self._terminated(seen.killed)
            if not seen.any:
                self.objects.update(seen.objects)
                return
            strict = seen.remote
        assert self.committed is not None
        self.full_checks += 1
        now = self._take(link)
        lines = describe(self.committed, now)
        if lines and not autocommit:
            try:
                lines, now = self._confirmed(link, lines, strict=strict)
            except psycopg.Error as exc:  # cannot tell ours from others': count all as ours
                lines[("unconfirmed", "")] = f"(could not compare with another session: {exc})"
        if autocommit:  # rows: what the counters moved since the block began says it
            lines = {key: line for key, line in lines.items() if key[0] != "rows"}
        if autocommit or strict:
            lines.update(self._written_elsewhere(link, autocommit))
        if autocommit:
            killed = _killed(link, frozenset(self.own), self.server_version)
            self._terminated(killed)
            system = _system_settings(link)  # ALTER SYSTEM runs only outside a transaction
            if self._system is not None and system is not None:
                lines.update(describe(self._system, system))
            self._system = system
        if not lines:
            self.committed = now
            self.objects.update(seen.objects)
            return
        if autocommit:
            self.committed = now  # report it once
        raise self._error(lines, autocommit)

    def _moved_kills(self, killed: int) -> int:
        """Sessions terminated since the last look, gauntlet-sync's own left out."""
        ours = own_kills()
        count = (killed - self.killed) - (ours - self.own_kills)
        if count > 0 or killed < self.killed:
            self.killed, self.own_kills = killed, ours
        return count

    def _terminated(self, killed: int) -> None:
        count = self._moved_kills(killed)
        if count <= 0:
            return
        what, revision = self.where
        line = (
            f"{count} session(s) of other clients terminated (pg_terminate_backend) while "
            f"{what} ran: PostgreSQL cannot bring them back"
        )
        raise self._error({("terminated", ""): line}, autocommit=False)

    def _written_elsewhere(self, link: Link, autocommit: bool) -> dict[tuple[str, str], str]:
        """Tables outside written or truncated since the counters were read (the start of
        the autocommit_block; with dblink/postgres_fdw, the start of the transaction)."""
        before, own = self._counted, frozenset(self.own)
        reader = link if autocommit else Link(self._observing())
        after = _counters(reader, own)
        self._counted = after
        if before is None:
            return {}
        where = "inside an autocommit_block" if autocommit else "through another connection"
        lines: dict[tuple[str, str], str] = {}
        for name, now in sorted(after.items()):
            was = before.get(name)
            if was is None or was == now:
                continue
            labels = ("inserted", "updated", "deleted")
            moved = ", ".join(
                f"{label} {b - a}"
                for label, a, b in zip(labels, was[:3], now[:3], strict=True)
                if b != a
            )
            if was[3] != now[3]:
                moved = ", ".join(filter(None, (moved, "truncated or rewritten")))
            kind = "autocommit rows" if autocommit else "elsewhere"
            lines[(kind, name)] = (
                f"rows of table {name} written {where} ({moved}): committed by PostgreSQL "
                "as it ran, it cannot be rolled back"
            )
        return lines

    def _take(self, link: Link) -> Snapshot:
        """The full snapshot on the migration's connection. Its search_path is set for
        the rest of the transaction only (which is about to commit or roll back), or, at
        the end of an autocommit_block, set and put back."""
        if link.autocommit:
            path = link.fetch("SELECT pg_catalog.current_setting('search_path')")[0][0]
            link.fetch(_SEARCH_PATH)
            try:
                rows = read(link, lambda: self._snapshot.rows(link, frozenset(self.own)))
            finally:
                link.fetch(
                    sql.SQL("SELECT pg_catalog.set_config('search_path', {}, false)").format(
                        sql.Literal(path)
                    )
                )
        else:
            link.fetch(_SEARCH_PATH_LOCAL)
            rows = read(link, lambda: self._snapshot.rows(link, frozenset(self.own)))
        return frozenset((str(k), str(n), str(d)) for k, n, d in rows)

    def touched(self, link: Link) -> _Touched:
        """What the cheap test found: whether this transaction touched anything outside."""
        seen = _Touched()
        for catalog, state, value in self._touched.rows(link, frozenset(self.own)):
            if state == "touched":
                seen.any = True
                seen.remote = seen.remote or catalog == "remote"
            elif state == "count":
                seen.killed = int(value)
            else:  # the objects outside in a catalog this transaction wrote
                seen.objects[str(catalog)] = int(value)
                if self.objects.get(str(catalog)) != int(value):
                    seen.any = True
        if not self.database:
            seen.any = True  # the cluster part alone is small: always read in full
        return seen

    def _remote_capable(self, raw: psycopg.Connection[Any]) -> bool:
        row = raw.execute(
            "SELECT count(*) FROM pg_catalog.pg_extension WHERE extname = ANY(%s)",
            (list(_REMOTE_EXTENSIONS),),
        ).fetchone()
        return bool(row and row[0])

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

    def finish(self) -> list[str]:
        """At the end of a session: what cannot be seen at a commit, seen afterwards
        (sessions terminated by a kill that landed after the last commit)."""
        if self.committed is None:
            return []
        try:
            killed = _killed(Link(self._observing()), frozenset(self.own), self.server_version)
        except psycopg.Error:
            return []
        count = self._moved_kills(killed)
        if count <= 0:
            return []
        return [
            f"{count} session(s) of other clients terminated (pg_terminate_backend) during "
            "the run: PostgreSQL cannot bring them back"
        ]

    def _confirmed(
        self, link: Link, lines: dict[tuple[str, str], str], *, strict: bool = False
    ) -> tuple[dict[tuple[str, str], str], Snapshot]:
        """Of ``lines``, those an independent session does not see: this transaction's.
        ``strict`` (dblink or postgres_fdw is installed, which commit through connections
        of their own): what the independent session sees changed since the last commit
        counts too, as committed elsewhere."""
        own = frozenset(self.own)
        observer = self._observing()
        committed = take(observer, own, database=self.database, system=False, values=False)
        again = self._take(link)
        later = take(observer, own, database=self.database, system=False, values=False)
        # what stands committed next: the sequences as this connection sees them (they
        # are not transactional: the same for every session)
        later |= {row for row in again if row[0] == "sequence value"}
        # Ours: what this transaction sees differently from the committed state, which
        # stood still meanwhile (another run's flapping objects do not), and which differed
        # from the last commit in the first place.
        ours = describe(committed, again)
        confirmed = {
            key: line
            for key, line in ours.items()
            if key in lines and _row(committed, key) == _row(later, key)
        }
        # A sequence this transaction moved with nextval/setval (which lock it in
        # RowExclusiveLock alone) is moved for everyone at once: PostgreSQL never rolls a
        # sequence back. (ALTER SEQUENCE locks it more strongly and is rolled back.)
        for key, line in lines.items():
            kind, name = key
            if (
                kind == "sequence value"
                and ("lock", name) in confirmed
                and _row(again, ("lock", name)) == "RowExclusiveLock"
            ):
                del confirmed[("lock", name)]
                confirmed[key] = line
        if strict:
            assert self.committed is not None
            for key, line in describe(self.committed, committed).items():
                if key not in confirmed and key[0] not in ("rows", "lock"):
                    confirmed[("elsewhere", key[1])] = (
                        f"{line}, committed through another connection while this "
                        "transaction ran (dblink or postgres_fdw): it cannot be rolled back"
                    )
        others = other_runs(committed, again, later)
        if any(_run_of(key[1]) in others for key in confirmed):
            # Another run's schema changes many times a second: only what this transaction
            # holds a lock in counts (any DDL there locks the schema or the relation).
            locked = self._locked_schemas(link, observer)
            confirmed = {
                key: line
                for key, line in confirmed.items()
                if _run_of(key[1]) not in others or _run_of(key[1]) in locked
            }
        return confirmed, later

    def _locked_schemas(self, link: Link, observer: psycopg.Connection[Any]) -> set[str]:
        """The schemas this transaction holds a lock in: on the schema itself, or on a
        relation in it (found in the committed catalog when this transaction dropped it)."""
        rows = link.fetch(_LOCKED_SQL)
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

    def _error(self, found: dict[tuple[str, str], str], autocommit: bool) -> IsolationEscapeError:
        what, revision = self.where
        lines = list(found.values())
        lasting = [line for (kind, _), line in found.items() if kind in _IRREVERSIBLE]
        if autocommit:
            headline = (
                "A migration reached outside the isolated schema inside an autocommit_block "
                f"during {what}: PostgreSQL committed each of those statements as it ran, so "
                "gauntlet-sync could not roll them back. Keep migrations to their own schema"
            )
        else:
            done = (
                "the rest of it was not committed (rolled back), but PostgreSQL cannot undo "
                + ("that" if len(lasting) == 1 else "those")
                if lasting
                else "nothing of it was committed (rolled back)"
            )
            headline = (
                f"The migrations reached outside the isolated schema during {what} "
                "(schema-qualified names, SET search_path, or database-wide statements); "
                f"{done}. Keep migrations to their own "
                "schema, or give them a database of their own (isolation='database', or no "
                "DSN for the embedded server)"
            )
        step = _step_of(what)
        return IsolationEscapeError.listing(headline, lines, revision=revision, step=step)


class _Touched:
    """The cheap test's answer."""

    def __init__(self) -> None:
        self.any = False  # something outside may have changed: look in full
        self.remote = False  # dblink or postgres_fdw is installed
        self.killed = 0  # sessions terminated so far (databases not the run's)
        self.objects: dict[str, int] = {}  # per catalog written: the objects outside


_REMOTE_EXTENSIONS = ("dblink", "postgres_fdw")

# Write counters and relfilenode of every table outside, as committed so far (this
# backend's not yet flushed counts included): what an autocommit_block, or another
# connection, wrote is what moved between two readings.
_COUNTERS_SQL = r"""
SELECT n.nspname || '.' || c.relname,
       pg_catalog.pg_stat_get_tuples_inserted(c.oid)
       + pg_catalog.pg_stat_get_xact_tuples_inserted(c.oid),
       pg_catalog.pg_stat_get_tuples_updated(c.oid)
       + pg_catalog.pg_stat_get_xact_tuples_updated(c.oid),
       pg_catalog.pg_stat_get_tuples_deleted(c.oid)
       + pg_catalog.pg_stat_get_xact_tuples_deleted(c.oid),
       c.relfilenode::int8
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname <> ALL({own})
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'
"""


def _counters(link: Link, own: frozenset[str]) -> dict[str, tuple[int, int, int, int]]:
    # A fresh statistics snapshot: the cumulative counters are read as they are now.
    link.fetch("SELECT pg_catalog.pg_stat_clear_snapshot()")
    rows = link.fetch(sql.SQL(_COUNTERS_SQL).format(own=_names(own)))
    return {str(r[0]): (int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows}


def _killed(link: Link, own: frozenset[str], server_version: int) -> int:
    if server_version < 140000:  # pg_stat_database.sessions_killed is PostgreSQL 14's
        return 0
    link.fetch("SELECT pg_catalog.pg_stat_clear_snapshot()")
    rows = link.fetch(sql.SQL(_KILLED_SQL).format(own=_names(own)))
    return int(rows[0][0]) if rows else 0


_KILLED_SQL = r"""
SELECT coalesce(sum(pg_catalog.pg_stat_get_db_sessions_killed(d.oid)), 0)::int8
FROM pg_catalog.pg_database d WHERE d.datname <> ALL({own})
"""
