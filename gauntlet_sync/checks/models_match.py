"""models_match: the models equal the schema the migrations build, as autogenerate sees it
(under env.py's include_object / compare_type settings)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Enum

from ..config import DEFAULT_IGNORE_TABLES
from ..errors import GauntletError, SchemaDriftError
from ..session import UncomparableModels
from .base import HeadCheck

if TYPE_CHECKING:
    from ..context import RunContext
    from ..session import MigrationSession


class ModelsMatch(HeadCheck):
    name = "models_match"
    test_method = "test_migrations_up_to_date"
    error = SchemaDriftError

    def run(self, ctx: RunContext, session: MigrationSession) -> None:
        try:
            used, diffs = session.compare(
                ctx.metadata, compare_server_default=ctx.config.compare_server_default
            )
        except UncomparableModels as exc:
            unnamed = unnamed_enums(exc.models)
            if not unnamed or "Enum type requires a name" not in str(exc):
                raise exc.cause from None
            example = unnamed[0].replace(".", "_")
            raise GauntletError(
                f"models_match cannot compare the models: {', '.join(unnamed)} "
                f"{'is' if len(unnamed) == 1 else 'are'} a native Enum without a name, and a "
                "PostgreSQL enum type needs one (alembic check fails alike: CompileError: "
                f"{exc.cause}). Give it one, e.g. Enum(..., name='{example}'), "
                "or make it Enum(..., native_enum=False)."
            ) from exc
        if used is None:
            ctx.models(session)  # raises the skip with its reason
        error = models_match_error(diffs, ctx.config.ignored_tables)
        if error is not None:
            raise error


CHECK = ModelsMatch()


def unnamed_enums(metadata: Any) -> list[str]:
    """``table.column`` of every native Enum column of ``metadata`` without a type name
    (SQLAlchemy cannot render its type for PostgreSQL), in the models' order."""
    found: list[str] = []
    for table in getattr(metadata, "sorted_tables", ()):
        for column in table.columns:
            kind = column.type
            kind = getattr(kind, "impl", kind)  # a TypeDecorator over an Enum
            if isinstance(kind, Enum) and kind.native_enum and not kind.name:
                found.append(f"{table.name}.{column.name}")
    return found


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
    # sorted: alembic lists some differences in a set's order (tables to remove), which
    # changes from run to run; a report compared between runs should not
    lines = sorted(line for d in relevant for line in render_diff(d))
    if not lines:
        return None
    return SchemaDriftError.listing(
        f"The models differ from the schema the migrations build ({len(lines)} difference"
        f"{'s' if len(lines) != 1 else ''}; write a migration that does)",
        lines,
    )
