"""Generated rows for ``safety`` (``safety_rows``, on by default; ``safety_rows=False`` or
CLI ``--no-safety-rows`` switches them off): a revision's upgrade run once more, on tables
that hold rows.

The walk's tables are empty; production's are not. Before the stairway re-applies a
revision R (its downgrade has just put the schema back as it was before R), ``safety``
*probes* R: inside the step's transaction, under a savepoint, it fills the tables R's first
upgrade locked (those with no rows yet: ``revision_data`` rows are used as they are) with
a few generated rows, runs R's ``upgrade()`` on them, times it and notes whether it raised,
then rolls back to the savepoint. The real re-upgrade then runs on exactly the state it
would have met without the probe, so no other check's verdict can change: the rows never
exist outside the probe (no downgrade, no later revision, no snapshot ever sees them) and
the DDL impl is renewed afterwards (what a fresh command would have).

The rows satisfy what the catalog says: column types (enums, domains, arrays...), NOT
NULL, the foreign keys (parents are filled first, children take their keys), CHECKs and
unique constraints where the first attempt fits (else one row, then one row with the
nullable columns NULL). Integer keys are 1, 2, 3 in every table, so a foreign key added
later on such columns finds its parents. Serial and identity columns get explicit values
(their sequences are not advanced); other defaults apply. A table that cannot be filled
(a type no value is generated for, a CHECK none of the attempts meets, a parent with no
rows) is left empty and noted, never a failure.

Not probed (noted): a revision that is never re-applied (``minimum_downgrade_revision``),
one whose ``upgrade()`` takes arguments (the multidb template), one that uses
``autocommit_block()`` (its statements would commit the rows: the probe stops before it),
and a connection in autocommit (no savepoint to roll back to).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import re
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg
from alembic import op
from alembic.runtime.migration import MigrationContext
from psycopg import sql
from sqlalchemy.engine import Connection

from .. import _compat
from ..errors import GauntletError
from ..session import connection_lost, describe

#: rows generated per table.
ROWS_PER_TABLE = 3
_NO_PARAMETERS = {"no_parameters": True}  # no driver reads a % in a name as a format
# savepoints: the probe's (everything rolled back), and the fill's (one table, or all)
_SAVE_PROBE = "SAVEPOINT gauntlet_safety_probe"
_UNDO_PROBE = "ROLLBACK TO SAVEPOINT gauntlet_safety_probe"
_END_PROBE = "RELEASE SAVEPOINT gauntlet_safety_probe"
_SAVE_FILL = "SAVEPOINT gauntlet_safety_fill"
_UNDO_FILL = "ROLLBACK TO SAVEPOINT gauntlet_safety_fill"
_END_FILL = "RELEASE SAVEPOINT gauntlet_safety_fill"

# One round trip: the tables named and, through foreign keys with a NOT NULL column, the
# parents their rows need (in the schema), each with whether it holds rows (read by
# query_to_xml, which runs a query built from the name, in this transaction); their columns
# (type, NOT NULL, default, identity, generated; a domain's base type; an enum's labels);
# and their foreign keys to tables of the schema, each with its parent's name and the
# referenced columns' names (a nullable key reads the parent's rows by them, whether or
# not the parent is filled too).
_PLAN_SQL = """
WITH RECURSIVE wanted(oid) AS (
  SELECT c.oid FROM pg_class c
  WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = %(schema)s)
    AND c.relkind IN ('r', 'p') AND c.relname = ANY(%(tables)s)
  UNION
  SELECT con.confrelid FROM pg_constraint con
  JOIN wanted w ON con.conrelid = w.oid
  JOIN pg_class p ON p.oid = con.confrelid
  WHERE con.contype = 'f' AND p.relnamespace = con.connamespace
    AND EXISTS (SELECT 1 FROM pg_attribute k WHERE k.attrelid = con.conrelid
                AND k.attnum = ANY(con.conkey) AND k.attnotnull)
)
SELECT
  (SELECT coalesce(json_agg(json_build_array(c.oid::bigint, c.relname,
     query_to_xml(format('SELECT 1 FROM %I.%I LIMIT 1', %(schema)s, c.relname),
                  false, true, '')::text <> '')), '[]'::json)
   FROM pg_class c WHERE c.oid IN (SELECT oid FROM wanted)) AS tables,
  (SELECT coalesce(json_agg(json_build_array(
     a.attrelid::bigint, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
     a.attnotnull, a.attidentity, a.attgenerated,
     coalesce(pg_get_expr(d.adbin, d.adrelid), ''), b.typname, b.typcategory,
     CASE WHEN b.typtype = 'e' THEN (
       SELECT coalesce(json_agg(e.enumlabel ORDER BY e.enumsortorder), '[]'::json)
       FROM pg_enum e WHERE e.enumtypid = b.oid) ELSE '[]'::json END
   ) ORDER BY a.attrelid, a.attnum), '[]'::json)
   FROM pg_attribute a
   JOIN pg_type t ON t.oid = a.atttypid
   JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
   LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE a.attrelid IN (SELECT oid FROM wanted) AND a.attnum > 0
     AND NOT a.attisdropped) AS columns,
  (SELECT coalesce(json_agg(json_build_array(
     con.conrelid::bigint, con.confrelid::bigint, con.conkey, p.relname,
     (SELECT json_agg(pa.attname ORDER BY r.i)
      FROM unnest(con.confkey) WITH ORDINALITY AS r(attnum, i)
      JOIN pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attnum = r.attnum)
   )), '[]'::json)
   FROM pg_constraint con JOIN pg_class p ON p.oid = con.confrelid
   WHERE con.conrelid IN (SELECT oid FROM wanted) AND con.contype = 'f'
     AND p.relnamespace = con.connamespace) AS fkeys
"""


@dataclasses.dataclass(frozen=True)
class Probe:
    """What the probe of one revision found."""

    #: table -> rows generated in it for the probe.
    rows: dict[str, int]
    #: table -> why it was left empty.
    unfilled: dict[str, str]
    #: the upgrade's time with the rows (``None``: it did not run).
    seconds: float | None = None
    #: what the upgrade raised with rows in its tables (``None``: it ran through).
    error: str | None = None
    #: why the revision was not probed (empty: it was).
    skipped: str = ""

    def cell(self) -> str:
        """The per-revision table's ``with_rows`` cell."""
        if self.skipped:
            return f"not probed: {self.skipped}"
        if self.seconds is None:
            return "no table could be filled"
        return "failed" if self.error else f"{self.seconds:.3f} s"


@dataclasses.dataclass(frozen=True)
class _Column:
    num: int
    name: str
    sqltype: str
    notnull: bool
    identity: str
    generated: str
    default: str
    typname: str
    category: str
    labels: tuple[str, ...]


def _column(row: Sequence[Any]) -> _Column:
    """A plan row's column (hashable: the INSERT statements are cached by their columns)."""
    num, name, sqltype, notnull, identity, generated, default, typname, category, labels = row
    return _Column(
        int(num),
        str(name),
        str(sqltype),
        bool(notnull),
        str(identity),
        str(generated),
        str(default),
        str(typname),
        str(category),
        tuple(str(label) for label in labels),
    )


class _Refused(Exception):
    """Raised in the probe where the revision would commit (``autocommit_block``)."""


def probe(
    conn: Connection,
    schema: str,
    tables: Sequence[str],
    upgrade: Callable[[], Any],
    url: Any = None,
) -> Probe:
    """Fill ``tables`` (and the parents their foreign keys need), run ``upgrade()`` on
    them, roll everything back. Raises only when the connection is gone or the savepoint
    is (the revision committed by hand: its rows may be in)."""
    if _takes_arguments(upgrade):
        return Probe({}, {}, skipped="its upgrade() takes arguments (multidb env.py)")
    ctx = op.get_context()
    try:
        conn.exec_driver_sql(_SAVE_PROBE)
    except Exception as exc:
        if connection_lost(exc):
            raise
        return Probe({}, {}, skipped="no transaction to roll back (autocommit)")
    try:
        try:
            rows, unfilled = fill(conn, schema, tables)
        except Exception as exc:  # ours, not the revision's: never the step's failure
            if connection_lost(exc):
                raise
            return Probe({}, {}, skipped=f"no rows could be generated ({_short(exc)})")
        if not rows:
            return Probe(rows, unfilled)
        started = time.perf_counter()
        error: str | None = None
        try:
            with _refusing_autocommit(ctx):
                upgrade()
        except _Refused:
            return Probe(rows, unfilled, skipped="it uses autocommit_block()")
        except (Exception, SystemExit) as exc:  # sys.exit() in a migration fails it too
            if connection_lost(exc):
                raise
            error = describe(exc, url)
        return Probe(rows, unfilled, time.perf_counter() - started, error)
    finally:
        _roll_back(conn)
        _compat.renew_impl(ctx)


def _roll_back(conn: Connection) -> None:
    try:
        _run(conn, [_UNDO_PROBE, _END_PROBE])
    except Exception as exc:
        if connection_lost(exc):
            raise
        raise GauntletError(
            "safety's probe with generated rows could not roll back to its savepoint: the "
            "revision ended the transaction itself (a COMMIT of its own?), so the rows may "
            f"have been committed ({describe(exc)}). Turn generated rows off: "
            "GauntletConfig(safety_rows=False), CLI --no-safety-rows."
        ) from exc


@contextlib.contextmanager
def _refusing_autocommit(ctx: MigrationContext) -> Iterator[None]:
    """``autocommit_block()`` commits the transaction first thing: refuse it (before the
    commit) for the probe's duration."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise _Refused("autocommit_block")

    setattr(ctx, "autocommit_block", refuse)  # noqa: B010 - an instance attribute shadows it
    try:
        yield
    finally:
        with contextlib.suppress(AttributeError):
            delattr(ctx, "autocommit_block")


def _takes_arguments(fn: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(
        p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        for p in parameters
    )


# -- filling -------------------------------------------------------------------------------


def fill(
    conn: Connection, schema: str, tables: Sequence[str], per_table: int = ROWS_PER_TABLE
) -> tuple[dict[str, int], dict[str, str]]:
    """Generated rows in each of ``tables`` that has none, parents first: (rows per table
    filled, why each other table was left empty).

    Two round trips on psycopg (3): the catalog (which tables hold rows included), then
    every INSERT (one per table; foreign keys take their parents' keys in subqueries)
    under one savepoint, sent together. Only when one of them fails is the fill done
    again table by table, each under its own savepoint, with fewer rows and then the
    nullable columns NULL, to say which table cannot be filled and why."""
    listed = sql.SQL("ARRAY[{}]::text[]").format(sql.SQL(", ").join(map(sql.Literal, tables)))
    query = _PLAN_SQL.replace("%(schema)s", _literal(schema)).replace(
        "%(tables)s", listed.as_string(None)
    )
    plan = conn.exec_driver_sql(query, execution_options=_NO_PARAMETERS).one()
    names = {int(oid): str(name) for oid, name, _full in plan[0]}
    full = {int(oid) for oid, _name, held in plan[0] if held}
    oids = {name: oid for oid, name in names.items()}
    columns: dict[int, tuple[_Column, ...]] = {}
    for row in plan[1]:
        columns[int(row[0])] = (*columns.get(int(row[0]), ()), _column(row[1:]))
    fkeys: dict[int, list[_ForeignKey]] = {}
    for child, parent, keys, parent_name, refs in plan[2]:
        key = _ForeignKey(int(parent), str(parent_name), tuple(keys), tuple(refs or ()))
        fkeys.setdefault(int(child), []).append(key)
    unfilled = {name: "no longer there" for name in tables if name not in oids}
    # the tables named and, through NOT NULL foreign keys, their parents: parents first
    order: list[int] = []

    def visit(oid: int, path: tuple[int, ...]) -> None:
        if oid in order or oid in path:
            return
        for key in fkeys.get(oid, []):
            required = any(c.notnull for c in columns.get(oid, ()) if c.num in key.columns)
            if required and key.parent != oid:
                visit(key.parent, (*path, oid))
        order.append(oid)

    for name in tables:
        if name in oids:
            visit(oids[name], ())
    order = [oid for oid in order if oid not in full]
    if not order:
        return {}, unfilled

    def statement(oid: int, count: int, nullable_null: bool) -> str:
        return _insert(
            schema,
            names[oid],
            columns.get(oid, ()),
            tuple(fkeys.get(oid, ())),
            count,
            nullable_null,
        )

    try:  # the quick way: every table at once
        statements = [statement(oid, per_table, False) for oid in order]
    except ValueError:
        statements = []
    if statements and _under_savepoint(conn, statements) is None:
        return {names[oid]: per_table for oid in order}, unfilled
    filled: dict[str, int] = {}
    for oid in order:  # table by table, saying why one cannot be filled
        count, why = _fill_table(conn, statement, oid, per_table)
        if count:
            filled[names[oid]] = count
        else:
            unfilled[names[oid]] = why
    return filled, unfilled


def _batched(conn: Connection) -> bool:
    """Whether several statements may go in one round trip: psycopg (3) sends a query
    without parameters with the simple query protocol, which runs them in order and
    stops at the first that fails; other drivers get one statement at a time."""
    return isinstance(conn.connection.driver_connection, psycopg.Connection)


def _run(conn: Connection, statements: Sequence[str]) -> None:
    """``statements`` in order: in one round trip where the driver allows it."""
    if _batched(conn):
        conn.exec_driver_sql(";\n".join(statements), execution_options=_NO_PARAMETERS)
        return
    for sql_text in statements:
        conn.exec_driver_sql(sql_text, execution_options=_NO_PARAMETERS)


def _under_savepoint(conn: Connection, statements: Sequence[str]) -> Exception | None:
    """Run ``statements`` under the fill's savepoint: ``None``, or what refused them (and
    what they did is undone). A lost connection is not a refusal: it is raised."""
    try:
        _run(conn, [_SAVE_FILL, *statements, _END_FILL])
    except Exception as exc:
        if connection_lost(exc):
            raise
        _run(conn, [_UNDO_FILL, _END_FILL])
        return exc
    return None


def _fill_table(
    conn: Connection, statement: Callable[[int, int, bool], str], oid: int, per_table: int
) -> tuple[int, str]:
    """(rows inserted, or 0 and why not): the attempts in order, each under a savepoint."""
    last = "no attempt"
    for count, nullable_null in ((per_table, False), (1, False), (1, True)):
        try:
            sql_text = statement(oid, count, nullable_null)
        except ValueError as exc:
            return 0, str(exc)
        refused = _under_savepoint(conn, [sql_text])
        if refused is None:
            return count, ""
        last = _short(refused)
    return 0, last


@dataclasses.dataclass(frozen=True)
class _ForeignKey:
    """A foreign key of a table to a table of the schema."""

    parent: int  # its oid
    parent_name: str
    columns: tuple[int, ...]  # the child's attnums, in key order
    references: tuple[str, ...]  # the parent's column names, in key order


@functools.lru_cache(maxsize=256)
def _insert(
    schema: str,
    table: str,
    cols: tuple[_Column, ...],
    fkeys: tuple[_ForeignKey, ...],
    count: int,
    nullable_null: bool,
) -> str:
    """The INSERT of ``count`` generated rows into ``table`` (``ValueError``: a NOT NULL
    column no value is generated for). A foreign key's columns read row ``i`` of the parent
    (by its key; round again when it has fewer rows, NULL when it has none); every column
    of a composite key reads the same row. Cached: the stairway probes a table again and
    again with the same columns, and composing the statement costs more than sending it."""
    references: dict[int, tuple[_ForeignKey, int]] = {}  # column -> its key, position
    for key in fkeys:
        for position, num in enumerate(key.columns):
            references.setdefault(num, (key, position))
    chosen: list[_Column] = []
    for col in cols:
        if col.generated:
            continue
        sequence = col.identity or col.default.startswith("nextval(")
        if col.default and not sequence and col.num not in references:
            continue  # its default applies
        if nullable_null and not col.notnull:
            continue
        if col.num not in references and _value(col, 0) is None:
            if col.notnull:
                raise ValueError(f"no value is generated for {col.name} ({col.sqltype})")
            continue
        chosen.append(col)
    if not chosen:
        statement = sql.SQL("INSERT INTO {} DEFAULT VALUES").format(sql.Identifier(schema, table))
        return statement.as_string(None)
    rows = []
    for i in range(count):
        values: list[sql.Composable] = []
        for col in chosen:
            if col.num in references:
                key, position = references[col.num]
                if not key.references:
                    values.append(sql.SQL("NULL"))
                    continue
                order_by = sql.SQL(", ").join(sql.Identifier(r) for r in key.references)
                parent = sql.Identifier(schema, key.parent_name)
                value: sql.Composable = sql.SQL(
                    "(SELECT {}::text FROM {} ORDER BY {} LIMIT 1 "
                    "OFFSET {} % greatest((SELECT count(*) FROM {}), 1))"
                ).format(
                    sql.Identifier(key.references[position]),
                    parent,
                    order_by,
                    sql.Literal(i),
                    parent,
                )
            else:
                text = _value(col, i)
                value = sql.SQL("NULL") if text is None else sql.Literal(text)
            values.append(sql.SQL("CAST({} AS {})").format(value, sql.SQL(col.sqltype)))
        rows.append(sql.SQL("({})").format(sql.SQL(", ").join(values)))
    overriding = any(c.identity == "a" for c in chosen)
    return (
        sql.SQL("INSERT INTO {} ({}){} VALUES {}")
        .format(
            sql.Identifier(schema, table),
            sql.SQL(", ").join(sql.Identifier(c.name) for c in chosen),
            sql.SQL(" OVERRIDING SYSTEM VALUE" if overriding else ""),
            sql.SQL(", ").join(rows),
        )
        .as_string(None)
    )


_LENGTH = re.compile(r"\((\d+)")


def _value(col: _Column, i: int) -> str | None:
    """Row ``i``'s value of ``col`` as text PostgreSQL casts to its type (``None``: no
    value of that type is generated). Numbers and strings are ``i + 1``, so integer keys
    line up between tables and a text column casts to a number."""
    n = i + 1
    name, category = col.typname, col.category
    if col.labels:
        return str(col.labels[i % len(col.labels)])
    simple = {
        "bool": "true" if i % 2 == 0 else "false",
        "date": f"2000-01-{n:02d}",
        "timestamp": f"2000-01-{n:02d} 00:00:00",
        "timestamptz": f"2000-01-{n:02d} 00:00:00+00",
        "time": f"{n:02d}:00:00",
        "timetz": f"{n:02d}:00:00+00",
        "interval": f"{n} days",
        "uuid": f"00000000-0000-0000-0000-{n:012d}",
        "json": f'{{"gauntlet": {n}}}',
        "jsonb": f'{{"gauntlet": {n}}}',
        "bytea": f"\\x{n:02x}",
        "inet": f"10.0.0.{n}",
        "cidr": f"10.0.{n}.0/24",
        "macaddr": f"08:00:2b:00:00:{n:02x}",
        "xml": "<gauntlet/>",
        "bit": "1",
        "varbit": "1",
        "point": f"({n},{n})",
        "tsvector": f"gauntlet{n}",
    }
    if name in simple:
        return simple[name]
    if category in ("N", "S"):
        return str(n)
    if category == "A":
        return "{}"
    if category == "R":
        return "empty"
    return None


def _short(exc: BaseException) -> str:
    """The server's one-line reason, without the statement (it names our schema)."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return f"{type(orig).__name__}: {lines[0] if lines else ''}".strip().rstrip(":")


def _literal(text: str) -> str:
    return sql.Literal(text).as_string(None)
