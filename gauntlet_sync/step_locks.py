"""The locks a walk step's transaction holds, read once at the step's end for every walk
check that follows the walk by them (issue 18, "linear cost").

PostgreSQL changes a relation's catalog rows only under a lock on it, held until the
transaction ends, so the migration connection's own backend's ``pg_locks``, read before a
step's commit, names what the step may have changed: no_trace's incremental snapshots
(:mod:`gauntlet_sync.incremental`) and safety's incremental reads
(:mod:`gauntlet_sync.checks.safety_catalog`) both follow a walk so. Reading ``pg_locks``
costs what the server's lock table is big, not what this backend holds (it goes through
every backend's fast-path slots and the whole shared lock table: ~0.6 ms at the embedded
server's settings), so the walk reads it once per step (:class:`gauntlet_sync.walks.Hooks`)
and hands the same :class:`StepLocks` to every hook that asked for it, each taking the rows
it needs: none is read when no hook asks. Where safety wants them at the step itself, its
after-step statement reads them (:data:`CTE`), in the same round trip as its own catalog
read, and the walk hands those to the others (:meth:`.walks.CheckHooks.read_locks`).
"""

from __future__ import annotations

import dataclasses
import secrets
import weakref
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import Connection

from . import _compat

#: Relations from FirstNormalObjectId on: the schema's. (Below: the system catalogs that
#: the step's and the hooks' own catalog reads keep locked, most of a step's locks.)
FIRST_NORMAL_OID = 16384
#: The modes reads and DML take: they change no catalog row.
WEAK_MODES = frozenset({"AccessShareLock", "RowShareLock", "RowExclusiveLock"})

#: reads made by this process (tests count them per step).
COUNTS = {"reads": 0}

_SQL = f"""SELECT pg_backend_pid(), locktype, relation::bigint, classid::regclass::text,
       objid::bigint, mode, granted, virtualxid
FROM pg_locks
WHERE pid = pg_backend_pid()
  AND (locktype IN ('virtualxid', 'object')
       OR (locktype = 'relation' AND relation >= {FIRST_NORMAL_OID}))"""

#: The read as a CTE named ``step_locks`` (its columns: pg_backend_pid, locktype, relation,
#: classid, objid, mode, granted, virtualxid), for a walk check that reads the step's locks
#: in the same statement as its own end-of-step read (:meth:`.walks.CheckHooks.read_locks`):
#: :data:`ROWS` gives them back as JSON for :meth:`StepLocks.of`.
CTE = f"WITH step_locks AS MATERIALIZED (\n{_SQL})\n"
ROWS = """(SELECT coalesce(json_agg(json_build_array(
     l.pg_backend_pid, l.locktype, l.relation, l.classid, l.objid, l.mode, l.granted,
     l.virtualxid)), '[]'::json)
   FROM step_locks l)"""


@dataclasses.dataclass(frozen=True)
class StepLocks:
    """What the walk connection's own backend holds at one point of a step, inside its
    transaction (in ``pg_locks``' order)."""

    #: the transaction's virtual id, ``pid/backend/local`` (local ids count up by one per
    #: transaction of a backend), from the first virtualxid lock of a mode stronger than
    #: ``WEAK_MODES`` (its own, ExclusiveLock); ``None``: none held.
    xid: str | None
    #: (relation oid, mode, granted), relations from :data:`FIRST_NORMAL_OID` on.
    relations: tuple[tuple[int, str, bool], ...]
    #: (catalog name as ``regclass`` prints it, object oid, mode): locks on other objects
    #: (types, functions, constraints...).
    objects: tuple[tuple[str, int, str], ...]

    @classmethod
    def of(cls, rows: list[Any]) -> StepLocks:
        xid: str | None = None
        relations: list[tuple[int, str, bool]] = []
        objects: list[tuple[str, int, str]] = []
        for pid, locktype, relation, classid, objid, mode, granted, virtualxid in rows:
            if locktype == "relation":
                relations.append((int(relation), str(mode), bool(granted)))
            elif locktype == "object":
                objects.append((str(classid), int(objid), str(mode)))
            elif xid is None and mode not in WEAK_MODES and virtualxid is not None:
                xid = f"{pid}/{virtualxid}"
        return cls(xid, tuple(relations), tuple(objects))


class _Read:
    """The read, prepared in SQL once per psycopg connection (planning costs about what
    running it does; psycopg's own prepared statements are deallocated after nearly every
    migration step, and where it holds some of its own, its next clean-up would take ours
    too: plain SQL then). On another driver, plain SQL."""

    def __init__(self) -> None:
        self.name = sql.Identifier(f"gauntlet_step_locks_{secrets.token_hex(4)}")
        self.prepared_on: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()

    def __call__(self, conn: Connection) -> StepLocks:
        COUNTS["reads"] += 1
        raw = conn.connection.driver_connection
        if not isinstance(raw, psycopg.Connection):
            return StepLocks.of(list(conn.execute(text(_SQL)).fetchall()))
        with raw.cursor() as cur:
            if raw not in self.prepared_on:
                if _compat.holds_prepared_statements(raw):
                    cur.execute(sql.SQL(_SQL), prepare=False)
                    return StepLocks.of(cur.fetchall())
                raw.prepare_threshold = None
                prepare = sql.SQL("PREPARE {} AS {}").format(self.name, sql.SQL(_SQL))
                cur.execute(prepare)
                self.prepared_on.add(raw)
            cur.execute(sql.SQL("EXECUTE {}").format(self.name))
            return StepLocks.of(cur.fetchall())


#: ``read(conn)``: the locks ``conn``'s backend holds now.
read = _Read()
