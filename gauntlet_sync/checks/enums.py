"""enums: native enum types have the models' labels, in the models' order (autogenerate
does not compare enum labels, so the catalog is read)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import Enum, MetaData, text
from sqlalchemy.engine import Connection

from ..errors import EnumDriftError
from .base import HeadCheck
from .drift import model_tables

if TYPE_CHECKING:
    from ..context import RunContext
    from ..session import MigrationSession


class Enums(HeadCheck):
    name = "enums"
    test_method = "test_enum_values_match"
    error = EnumDriftError

    def run(self, ctx: RunContext, session: MigrationSession) -> None:
        metadata = ctx.models(session)
        error = enums_error(
            session.own_connection, session.target.schema, metadata, ctx.config.ignored_tables
        )
        if error is not None:
            raise error


CHECK = Enums()


def model_enums(
    metadata: MetaData, ignore_tables: Iterable[str]
) -> dict[str, tuple[list[str], str]]:
    """Native named enum types of the models: name -> (values, first column using it)."""
    found: dict[str, tuple[list[str], str]] = {}
    for table in model_tables(metadata, ignore_tables):
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
