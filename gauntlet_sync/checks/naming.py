"""Naming conventions of indexes, foreign keys, unique, check and primary keys.

The rules come from the models' ``MetaData.naming_convention``: the literal text before
the first token is the required prefix, the literal text after the last token the
required suffix (``"fk_%(table_name)s_%(column_0_name)s"`` -> names start with ``fk_``).
Kinds the convention does not cover fall back to built-in defaults that accept both the
usual prefixes and PostgreSQL's own suffixes; explicit rules in the config win.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.sql.schema import DEFAULT_NAMING_CONVENTION

from ..config import DEFAULT_IGNORE_TABLES, NAMING_KINDS, NamingRule
from ..errors import NamingConventionError

KIND_LABELS = {
    "ix": "index",
    "uq": "unique constraint",
    "ck": "check constraint",
    "fk": "foreign key",
    "pk": "primary key",
}

DEFAULT_RULES: dict[str, NamingRule] = {
    "ix": NamingRule(prefixes=("ix_", "idx_"), suffixes=("_idx",)),
    "uq": NamingRule(prefixes=("uq_",), suffixes=("_key",)),
    "ck": NamingRule(prefixes=("ck_",), suffixes=("_check",)),
    "fk": NamingRule(prefixes=("fk_",), suffixes=("_fkey",)),
    "pk": NamingRule(prefixes=("pk_",), suffixes=("_pkey",)),
}

_TOKEN = re.compile(r"%\([^)]*\)s")


@dataclasses.dataclass(frozen=True)
class Rule:
    """A compiled rule: a name passes if it fits any of ``patterns``."""

    kind: str
    patterns: tuple[re.Pattern[str], ...]
    explanation: str

    def allows(self, name: str) -> bool:
        return any(p.fullmatch(name) for p in self.patterns)


def _compile(kind: str, rule: NamingRule, source: str) -> Rule:
    patterns = [re.compile(re.escape(p) + ".*") for p in rule.prefixes]
    patterns += [re.compile(".*" + re.escape(s) + r"\d*") for s in rule.suffixes]
    shapes = [f"prefix {p!r}" for p in rule.prefixes] + [f"suffix {s!r}" for s in rule.suffixes]
    return Rule(kind, tuple(patterns), f"expected {' or '.join(shapes)} ({source})")


def _from_template(kind: str, template: str) -> Rule | None:
    tokens = list(_TOKEN.finditer(template))
    if not tokens:
        return None
    prefix, suffix = template[: tokens[0].start()], template[tokens[-1].end() :]
    if not prefix and not suffix:
        return None  # only tokens: any name the tokens produce is fine
    pattern = re.compile(re.escape(prefix) + ".*" + re.escape(suffix) + r"\d*")
    shapes = ([f"prefix {prefix!r}"] if prefix else []) + ([f"suffix {suffix!r}"] if suffix else [])
    return Rule(
        kind,
        (pattern,),
        f"expected {' and '.join(shapes)} (naming_convention[{kind!r}] = {template!r})",
    )


def rules_for(
    metadata: MetaData | None, overrides: Mapping[str, NamingRule] | None = None
) -> dict[str, Rule | None]:
    """The rule for each kind: override, else the metadata's convention, else default."""
    overrides = overrides or {}
    convention: Mapping[Any, Any] = {}
    if metadata is not None and metadata.naming_convention != DEFAULT_NAMING_CONVENTION:
        convention = metadata.naming_convention
    rules: dict[str, Rule | None] = {}
    for kind in NAMING_KINDS:
        if kind in overrides:
            rules[kind] = _compile(kind, overrides[kind], "configured naming rule")
            continue
        template = convention.get(kind)
        if isinstance(template, str):
            rules[kind] = _from_template(kind, template)
        else:
            rules[kind] = _compile(kind, DEFAULT_RULES[kind], "built-in default")
    return rules


@dataclasses.dataclass(frozen=True)
class NamedObject:
    kind: str
    table: str
    name: str


_NAMES_SQL = text(
    """
SELECT CASE con.contype WHEN 'p' THEN 'pk' WHEN 'u' THEN 'uq' WHEN 'f' THEN 'fk' ELSE 'ck' END,
       c.relname, con.conname
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND con.contype IN ('p', 'u', 'f', 'c')
UNION ALL
SELECT 'ix', t.relname, ic.relname
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = :schema
  AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid
                  AND con.contype IN ('p', 'u', 'x'))
ORDER BY 2, 1, 3
"""
)


def fetch_names(
    conn: Connection, schema: str, ignore_tables: Iterable[str] = ()
) -> list[NamedObject]:
    """Every index and constraint name in ``schema``; constraint-backing indexes excluded."""
    ignored = frozenset(ignore_tables) | DEFAULT_IGNORE_TABLES
    rows = conn.execute(_NAMES_SQL, {"schema": schema})
    return [NamedObject(kind, table, name) for kind, table, name in rows if table not in ignored]


def naming_error(
    conn: Connection,
    schema: str,
    metadata: MetaData | None,
    overrides: Mapping[str, NamingRule] | None,
    ignore_tables: Iterable[str],
) -> NamingConventionError | None:
    return naming_violations(
        problems(fetch_names(conn, schema, ignore_tables), rules_for(metadata, overrides))
    )


def problems(objects: Iterable[NamedObject], rules: Mapping[str, Rule | None]) -> list[str]:
    """One line for every name its kind's rule does not allow."""
    lines = []
    for obj in objects:
        rule = rules.get(obj.kind)
        if rule is not None and not rule.allows(obj.name):
            lines.append(
                f"{KIND_LABELS[obj.kind]} {obj.name} on table {obj.table}: {rule.explanation}"
            )
    return lines


def naming_violations(problems: list[str]) -> NamingConventionError | None:
    """All violations in one error (never just the first)."""
    if not problems:
        return None
    count = len(problems)
    return NamingConventionError.listing(
        f"{count} name{'s' if count != 1 else ''} break the naming convention", problems
    )
