"""check_constraints: the models' CHECK constraints exist in the database, by name, and no
others (autogenerate does not compare them at all, so the catalog is read)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import MetaData, Table, text
from sqlalchemy.engine import Connection, Dialect

from ..errors import CheckConstraintDriftError
from . import naming
from .base import HeadCheck
from .drift import model_tables

if TYPE_CHECKING:
    from ..context import RunContext
    from ..session import MigrationSession


class CheckConstraints(HeadCheck):
    name = "check_constraints"
    test_method = "test_check_constraints_match"
    error = CheckConstraintDriftError

    def run(self, ctx: RunContext, session: MigrationSession) -> None:
        scope = naming.scope_of(session, ctx.config.ignored_tables)
        metadata = ctx.models(session)
        error = check_constraints_error(
            session.own_connection, session.target.schema, metadata, scope
        )
        if error is not None:
            raise error


CHECK = CheckConstraints()


def _check_names(table: Table, dialect: Dialect) -> list[str | None]:
    """The names PostgreSQL gets for the table's CHECKs (table and column level, those
    SQLAlchemy emits there): rendered and cut as its DDL does; None where the server names."""
    return [naming.sqla_name(c, table, dialect) for c in naming.table_checks(table, dialect)]


def _db_check_names(conn: Connection, schema: str) -> dict[str, set[str]]:
    rows = conn.execute(
        text(
            "SELECT c.relname, con.conname FROM pg_constraint con "
            "JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :schema AND con.contype = 'c' AND con.conislocal"
        ),
        {"schema": schema},
    )
    found: dict[str, set[str]] = {}
    for table, name in rows:
        found.setdefault(table, set()).add(name)
    return found


def _db_tables(conn: Connection, schema: str) -> set[str]:
    rows = conn.execute(
        text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p')"
        ),
        {"schema": schema},
    )
    return {row[0] for row in rows}


def check_constraints_error(
    conn: Connection, schema: str, metadata: MetaData, scope: naming.Scope | Iterable[str]
) -> CheckConstraintDriftError | None:
    """CHECK names per table, the models' (as PostgreSQL gets them) against the database's,
    on the tables env.py lets autogenerate see (``scope``: a Scope, or ignore_tables)."""
    if not isinstance(scope, naming.Scope):
        scope = naming.Scope(scope)
    in_db = _db_check_names(conn, schema)
    tables = _db_tables(conn, schema)
    problems: list[str] = []
    for table in model_tables(metadata, ()):
        if table.name not in tables or not scope.table(table.name, table):
            continue  # a missing table is models_match's finding; a hidden one nobody's
        names = _check_names(table, conn.dialect)
        expected = {n for n in names if n}
        unnamed = sum(1 for n in names if not n)
        actual = in_db.get(table.name, set())
        missing = sorted(expected - actual)
        extra = sorted(actual - expected)
        if unnamed and len(extra) == unnamed and not missing:
            continue  # unnamed model constraints got names the server chose
        for name in missing:
            problems.append(
                f"{table.name}: CHECK constraint {name} is in the models but not in the database"
            )
        for name in extra:
            problems.append(
                f"{table.name}: CHECK constraint {name} is in the database but not in the models"
            )
    if not problems:
        return None
    return CheckConstraintDriftError.listing(
        "CHECK constraints differ between the models and the database", problems
    )
