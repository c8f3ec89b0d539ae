"""What the models checks (models_match, check_constraints, enums) share."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import MetaData, Table

from ..config import DEFAULT_IGNORE_TABLES


def model_tables(metadata: MetaData, ignore_tables: Iterable[str]) -> list[Table]:
    ignored = frozenset(ignore_tables) | DEFAULT_IGNORE_TABLES
    return [t for t in metadata.sorted_tables if t.name not in ignored]
