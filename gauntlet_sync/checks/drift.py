"""Do the models match what the migrations built? Autogenerate's view, then the catalog's.

Autogenerate compares tables, columns, types, indexes and foreign keys; it does not
compare CHECK constraints or enum labels at all, so those two are read from the catalog.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Enum, MetaData, Table, text
from sqlalchemy.engine import Connection, Dialect

from ..config import DEFAULT_IGNORE_TABLES
from ..errors import CheckConstraintDriftError, EnumDriftError, SchemaDriftError
from . import naming

# --- models_match -------------------------------------------------------------------------


def is_ignored_diff_item(diff_item: Any, ignore_tables: Iterable[str]) -> bool:
    """True for diff items about an ignored table (and ``alembic_version``)."""
    ignored = frozenset(ignore_tables) | DEFAULT_IGNORE_TABLES
    if isinstance(diff_item, list):
        return bool(diff_item) and all(is_ignored_diff_item(item, ignored) for item in diff_item)
    if not isinstance(diff_item, tuple) or len(diff_item) < 2:
        return False
    return _table_of(diff_item) in ignored


def _table_of(item: tuple[Any, ...]) -> str | None:
    op = item[0]
    obj = item[1]
    if op in ("add_table", "remove_table", "add_table_comment", "remove_table_comment"):
        return getattr(obj, "name", None)
    if op in ("add_column", "remove_column"):
        return str(item[2])
    if op.startswith("modify_"):
        return str(item[2])
    table = getattr(obj, "table", None)
    if table is None and hasattr(obj, "parent"):
        table = obj.parent
    return getattr(table, "name", None)


def render_diff(item: Any) -> list[str]:
    """One line per difference, phrased as the migration that would fix it."""
    if isinstance(item, list):
        return [line for sub in item for line in render_diff(sub)]
    op = item[0]
    if op in ("add_table", "remove_table"):
        return [f"{op.replace('_', ' ')} {item[1].name}"]
    if op in ("add_column", "remove_column"):
        col = item[3]
        return [f"{op.replace('_', ' ')} {item[2]}.{col.name} {col.type}"]
    if op in ("add_index", "remove_index"):
        index = item[1]
        cols = ", ".join(str(getattr(c, "name", c)) for c in index.expressions)
        unique = "unique " if index.unique else ""
        return [f"{op.split('_')[0]} {unique}index {index.name} on {index.table.name} ({cols})"]
    if op in ("add_constraint", "remove_constraint"):
        const = item[1]
        cols = ", ".join(c.name for c in getattr(const, "columns", []))
        kind = type(const).__name__.replace("Constraint", " constraint").lower().strip()
        return [f"{op.split('_')[0]} {kind} {const.name} on {const.table.name} ({cols})"]
    if op in ("add_fk", "remove_fk"):
        fk = item[1]
        cols = ", ".join(c.name for c in fk.columns)
        verb = op.split("_")[0]
        target = fk.referred_table.name
        return [f"{verb} foreign key {fk.name} on {fk.parent.name} ({cols}) -> {target}"]
    if op.startswith("modify_"):
        _, _schema, table, column, existing, old, new = item
        what = op[len("modify_") :]
        if what == "type":
            return [f"modify type of {table}.{column}: database {old}, models {new}"]
        if what == "nullable":
            as_text = {True: "NULL", False: "NOT NULL"}
            old, new = as_text.get(old, old), as_text.get(new, new)
            return [f"modify nullable of {table}.{column}: database {old}, models {new}"]
        if what == "default":
            old, new = _default(old), _default(new)
            return [f"modify server default of {table}.{column}: database {old}, models {new}"]
        return [f"modify {what} of {table}.{column}: database {old!r}, models {new!r}"]
    return [f"{op}: {item[1:]!r}"]


def _default(value: Any) -> str:
    if value is None:
        return "none"
    arg = getattr(value, "arg", value)
    return str(getattr(arg, "text", arg))


def models_match_error(
    diffs: Sequence[Any], ignore_tables: Iterable[str]
) -> SchemaDriftError | None:
    relevant = [d for d in diffs if not is_ignored_diff_item(d, ignore_tables)]
    lines = [line for d in relevant for line in render_diff(d)]
    if not lines:
        return None
    return SchemaDriftError.listing(
        f"The models differ from the schema the migrations build ({len(lines)} difference"
        f"{'s' if len(lines) != 1 else ''}; write a migration that does)",
        lines,
    )


# --- check constraints --------------------------------------------------------------------


def _model_tables(metadata: MetaData, ignore_tables: Iterable[str]) -> list[Table]:
    ignored = frozenset(ignore_tables) | DEFAULT_IGNORE_TABLES
    return [t for t in metadata.sorted_tables if t.name not in ignored]


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
    for table in _model_tables(metadata, ()):
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


# --- enums --------------------------------------------------------------------------------


def model_enums(
    metadata: MetaData, ignore_tables: Iterable[str]
) -> dict[str, tuple[list[str], str]]:
    """Native named enum types of the models: name -> (values, first column using it)."""
    found: dict[str, tuple[list[str], str]] = {}
    for table in _model_tables(metadata, ignore_tables):
        for col in table.columns:
            col_type = col.type
            item_type = getattr(col_type, "item_type", None)  # ARRAY(Enum)
            for candidate in (col_type, item_type):
                if isinstance(candidate, Enum) and candidate.native_enum and candidate.name:
                    found.setdefault(
                        candidate.name, (list(candidate.enums), f"{table.name}.{col.name}")
                    )
    return found


def enums_error(
    conn: Connection, schema: str, metadata: MetaData, ignore_tables: Iterable[str]
) -> EnumDriftError | None:
    rows = conn.execute(
        text(
            "SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_type t "
            "JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = :schema GROUP BY t.typname"
        ),
        {"schema": schema},
    )
    in_db = {name: list(labels) for name, labels in rows}
    problems: list[str] = []
    for name, (values, used_by) in sorted(model_enums(metadata, ignore_tables).items()):
        labels = in_db.get(name)
        if labels is None:
            problems.append(f"enum type {name} (used by {used_by}) does not exist in the database")
            continue
        if labels == values:
            continue
        detail = []
        if set(values) - set(labels):
            detail.append(
                f"missing in database: {', '.join(repr(v) for v in values if v not in labels)}"
            )
        if set(labels) - set(values):
            detail.append(
                f"missing in models: {', '.join(repr(v) for v in labels if v not in values)}"
            )
        if not detail:
            detail.append("same values in a different order")
        problems.append(
            f"enum type {name} (used by {used_by}): models {tuple(values)!r}, database "
            f"{tuple(labels)!r}; {'; '.join(detail)}"
        )
    if not problems:
        return None
    return EnumDriftError.listing(
        "Enum values differ between the models and the database", problems
    )
