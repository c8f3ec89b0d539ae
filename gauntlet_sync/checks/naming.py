"""Names of indexes and constraints, judged against the models (or, if asked, by rules).

Two modes:

* **models** (the default): every primary key, foreign key, unique constraint, CHECK and
  index the models declare must carry, in the database, the name the models give it for
  PostgreSQL: the explicit name, or the ``naming_convention`` rendered, cut to 63
  characters exactly as SQLAlchemy's DDL compiler cuts it. Database objects are matched
  to the models' by table, kind and columns (or expression). A name the models set
  explicitly is the models' decision: it passes, and breaking the MetaData's own
  convention only earns a warning. Objects the models do not declare are judged by the
  rules below; objects the models declare without a name (no convention for their kind)
  may have any name.
* **rules** (``naming_rules`` given, e.g. the mixin's ``allowed_*`` attributes):
  alembic-gauntlet's lint. Every name must fit its kind's rule: the configured one, else
  the one read from the convention's literal text (``"fk_%(table_name)s_..."`` -> starts
  with ``fk_``), else the built-in default, which accepts what alembic-gauntlet 0.3.1's
  defaults accept and PostgreSQL's own generated names.

Prefix/suffix rules cannot see a foreign key named ``fk_orders_customer`` where the models
render ``fk_orders_customer_id_customers``; only the comparison with the models can.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import IdentifierError
from sqlalchemy.schema import conv
from sqlalchemy.sql.schema import DEFAULT_NAMING_CONVENTION

from .. import _compat
from ..config import DEFAULT_IGNORE_TABLES, NAMING_KINDS, NamingRule
from ..errors import CheckSkipped, NamingConventionError
from .base import HeadCheck

if TYPE_CHECKING:
    from ..context import RunContext
    from ..session import MigrationSession

KIND_LABELS = {
    "ix": "index",
    "uq": "unique constraint",
    "ck": "check constraint",
    "fk": "foreign key",
    "pk": "primary key",
}

#: alembic-gauntlet 0.3.1's default prefixes and suffixes, plus the common prefixes and
#: PostgreSQL's own generated names (``orders_pkey``, ``orders_email_key``,
#: ``orders_customer_id_fkey``, ``orders_total_check``, ``orders_code_idx``).
DEFAULT_RULES: dict[str, NamingRule] = {
    "ix": NamingRule(prefixes=("ix_", "idx_", "uq_"), suffixes=("_idx", "_pkey", "_key")),
    "uq": NamingRule(prefixes=("uq_",), suffixes=("_key",)),
    "ck": NamingRule(prefixes=("ck_", "chk_"), suffixes=("_check",)),
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


def _user_convention(metadata: MetaData | None) -> Mapping[Any, Any]:
    """The convention the project chose (SQLAlchemy's built-in ``ix`` default is not one)."""
    if metadata is None or metadata.naming_convention == DEFAULT_NAMING_CONVENTION:
        return {}
    return metadata.naming_convention


def rules_for(
    metadata: MetaData | None, overrides: Mapping[str, NamingRule] | None = None
) -> dict[str, Rule | None]:
    """The rule for each kind: override, else the metadata's convention, else default."""
    overrides = overrides or {}
    convention = _user_convention(metadata)
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


# --- names as SQLAlchemy renders them (its private parts through gauntlet_sync._compat) ----


def sqla_name(item: Any, table: Table, dialect: Dialect) -> str | None:
    """The name SQLAlchemy's DDL gives ``item`` on ``dialect``: the explicit name or the
    convention rendered, cut as the compiler cuts it (``conv`` names longer than the limit
    end in ``_`` and 4 hex digits of their md5). ``None``: the database chooses."""
    name = _compat.constraint_name(item, table)
    if name is None:
        return None
    return _truncated(name, isinstance(item, Index), dialect)


def convention_name(item: Any, table: Table, dialect: Dialect) -> str | None:
    """What the MetaData's own convention alone would name ``item`` (``None``: it has no
    convention for the kind, or one that needs the explicit name)."""
    convention = _user_convention(table.metadata)
    template = _compat.convention_template(convention, item) if convention else None
    if not isinstance(template, str) or "%(constraint_name)" in template:
        return None
    try:
        rendered = _compat.render_convention(template, item, table, convention)
    except Exception:  # a token the object cannot fill (no columns...)
        return None
    return _truncated(rendered, isinstance(item, Index), dialect)


def _truncated(name: str, is_index: bool, dialect: Dialect) -> str:
    try:
        return _compat.truncate_name(dialect, name, is_index)
    except IdentifierError:
        # A plain (non-conv) name over the limit: the models' own DDL refuses it, so the
        # migration that made the object held it in op.f() (conv), as autogenerate writes
        # long names: cut the way that cuts it.
        return _truncated(conv(name), is_index, dialect)


def emitted(item: Any, dialect: Dialect) -> bool:
    """False for a constraint SQLAlchemy leaves out of this dialect's DDL (the CHECK of an
    ``Enum``/``Boolean`` whose type is native there)."""
    return _compat.emitted(item, dialect)


# --- what the env.py lets autogenerate see ------------------------------------------------


class Scope:
    """Which tables and objects are judged: not ``ignore_tables``, not the version table,
    and whatever env.py's ``include_name`` / ``include_object`` let autogenerate see
    (``filters`` is alembic's ``AutogenContext`` built on the env.py's MigrationContext)."""

    def __init__(self, ignore_tables: Iterable[str] = (), filters: Any = None) -> None:
        self.ignored = frozenset(ignore_tables) | DEFAULT_IGNORE_TABLES
        self.filters = filters

    def table(self, name: str, model: Table | None) -> bool:
        if name in self.ignored:
            return False
        if self.filters is None:
            return True
        stand_in = Table(name, MetaData())
        if not self.filters.run_name_filters(name, "table", {"schema_name": None}):
            return False
        if model is not None:
            return _asks(self.filters.run_object_filters, model, name, "table", False, stand_in)
        return _asks(self.filters.run_object_filters, stand_in, name, "table", True, None)

    def item(self, kind: str, name: str | None, table: str, obj: Any, reflected: bool) -> bool:
        """Indexes, unique constraints and foreign keys pass alembic's filters too (it has
        no filter types for primary keys and CHECKs)."""
        type_ = _FILTER_TYPES.get(kind)
        if self.filters is None or type_ is None:
            return True
        if reflected:
            if not self.filters.run_name_filters(
                name, type_, {"table_name": table, "schema_name": None}
            ):
                return False
            obj = _stand_in(kind, name, table)
        return _asks(self.filters.run_object_filters, obj, name, type_, reflected, None)


_FILTER_TYPES = {"ix": "index", "uq": "unique_constraint", "fk": "foreign_key_constraint"}


def _asks(run_filters: Any, *args: Any) -> bool:
    """An include_object verdict. The database side gets a stand-in for the object alembic
    would reflect (name and table, no columns): a filter that fails on what the stand-in
    lacks leaves the object in, as if there were no filter."""
    try:
        return bool(run_filters(*args))
    except Exception:  # noqa: BLE001 - the project's own filter
        return True


def _stand_in(kind: str, name: str | None, table_name: str) -> Any:
    table = Table(table_name, MetaData())
    if kind == "ix":
        return Index(name, _table=table)
    const = UniqueConstraint(name=name) if kind == "uq" else ForeignKeyConstraint([], [], name=name)
    table.append_constraint(const)
    return const


def scope_from_context(ctx: Any, ignore_tables: Iterable[str], version_table: str) -> Scope:
    """The scope the env.py-configured MigrationContext ``ctx`` gives autogenerate."""
    from alembic.autogenerate.api import AutogenContext

    return Scope({*ignore_tables, version_table}, AutogenContext(ctx, autogenerate=False))


# --- the database's side ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DbObject:
    """An index or constraint as the catalog has it."""

    kind: str
    table: str
    name: str
    columns: tuple[str, ...]  # key columns, or expressions for an index
    ref_table: str | None = None
    ref_columns: tuple[str, ...] = ()
    definition: str | None = None  # a CHECK's expression, an index's predicate
    unique: bool = False

    def describe(self) -> str:
        label = KIND_LABELS[self.kind]
        if self.kind == "ck":
            return f"{label} on {self.table} {self.definition}"  # parenthesized
        where = f"{self.table}({', '.join(self.columns)})"
        if self.kind == "fk":
            where += f" -> {self.ref_table}({', '.join(self.ref_columns)})"
        if self.kind == "ix" and self.definition:
            where += f" WHERE {self.definition}"
        return f"{'unique ' if self.kind == 'ix' and self.unique else ''}{label} on {where}"


# Constraints and indexes of the schema's tables. Left out: indexes backing a constraint
# (judged as the constraint), exclusion constraints, indexes of materialized views (not
# tables to autogenerate), and what a partition inherits from its parent (PostgreSQL names
# those, not the project).
_OBJECTS_SQL = text(
    """
SELECT CASE con.contype WHEN 'p' THEN 'pk' WHEN 'u' THEN 'uq' WHEN 'f' THEN 'fk' ELSE 'ck' END,
       c.relname::text, con.conname::text,
       ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
             ORDER BY k.ord),
       rt.relname::text,
       ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num
             ORDER BY k.ord),
       CASE WHEN con.contype = 'c' THEN pg_get_constraintdef(con.oid, true) END,
       false
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class rt ON rt.oid = con.confrelid
WHERE n.nspname = :schema AND con.contype IN ('p', 'u', 'f', 'c') AND con.conparentid = 0
  AND (con.contype <> 'c' OR con.conislocal)
UNION ALL
SELECT 'ix', t.relname::text, ic.relname::text,
       ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true)
             FROM generate_series(1, i.indnkeyatts) AS k ORDER BY k),
       NULL, ARRAY[]::text[], pg_get_expr(i.indpred, i.indrelid, true), i.indisunique
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = :schema AND t.relkind IN ('r', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid
                  AND con.contype IN ('p', 'u', 'x'))
  AND NOT EXISTS (SELECT 1 FROM pg_inherits inh WHERE inh.inhrelid = i.indexrelid)
ORDER BY 2, 1, 3
"""
)


def fetch_objects(conn: Connection, schema: str) -> list[DbObject]:
    """Every index and constraint of ``schema`` with its columns."""
    return [
        DbObject(
            kind,
            table,
            name,
            tuple(columns or ()),
            ref_table,
            tuple(ref_columns or ()),
            definition[len("CHECK ") :] if kind == "ck" and definition else definition,
            bool(unique),
        )
        for kind, table, name, columns, ref_table, ref_columns, definition, unique in conn.execute(
            _OBJECTS_SQL, {"schema": schema}
        )
    ]


# --- the models' side ---------------------------------------------------------------------

_MULTI_WORD_TYPES = (
    r"character varying|bit varying|double precision|"
    r"time(?:stamp)? with(?:out)? time zone"
)
_CAST = re.compile(
    r"::\s*(?:" + _MULTI_WORD_TYPES + r'|"[^"]+"|[\w.]+)'
    r"(?:\s*\(\s*\d+(?:\s*,\s*\d+)?\s*\))?(?:\[\])*",
    re.IGNORECASE,
)


_ORDERING = re.compile(r"\s+(?:asc|desc)(?:\s+nulls\s+(?:first|last))?\s*$", re.IGNORECASE)


def normalized(expression: str | None) -> str:
    """An expression as PostgreSQL and SQLAlchemy may both spell it: no casts, quotes,
    parentheses, blanks, case or index ordering (``(total >= (0)::numeric)`` -> ``total>=0``)."""
    if not expression:
        return ""
    return re.sub(r'[\s()"]', "", _CAST.sub("", _ORDERING.sub("", expression))).lower()


def _sql(expression: Any, dialect: Dialect) -> str:
    if isinstance(expression, str):
        return expression
    name = getattr(expression, "name", None)
    if getattr(expression, "table", None) is not None and isinstance(name, str):
        return name  # a column
    try:
        return str(
            expression.compile(
                dialect=dialect, compile_kwargs={"include_table": False, "literal_binds": True}
            )
        )
    except Exception:  # an expression that does not compile on its own
        return str(expression)


@dataclasses.dataclass
class ModelObject:
    """An index or constraint of the models, with the name they give it on PostgreSQL."""

    kind: str
    table: str
    item: Any
    name: str | None
    keys: tuple[Any, ...]  # matching keys, strongest first (the DbObject's are alike)
    description: str
    convention: str | None = None  # what the MetaData's convention would name it instead


def _db_keys(obj: DbObject) -> tuple[Any, ...]:
    if obj.kind == "pk":
        return ("pk",)
    if obj.kind == "fk":
        return ((obj.columns, obj.ref_table, obj.ref_columns),)
    if obj.kind == "ck":
        return (normalized(obj.definition),)
    if obj.kind == "uq":
        return (obj.columns,)
    cols = tuple(normalized(c) for c in obj.columns)
    return ((cols, obj.unique, normalized(obj.definition)), cols)


def table_checks(table: Table, dialect: Dialect) -> list[CheckConstraint]:
    """The table's CHECKs, table and column level, that SQLAlchemy emits on ``dialect``."""
    checks = [c for c in table.constraints if isinstance(c, CheckConstraint)]
    for col in table.columns:
        checks += [c for c in col.constraints if isinstance(c, CheckConstraint)]
    return [c for c in checks if emitted(c, dialect)]


def model_objects(table: Table, dialect: Dialect) -> list[ModelObject]:
    """The table's PK, FKs, unique constraints, CHECKs (table and column level, those the
    dialect emits) and indexes."""
    found: list[ModelObject] = []

    def add(kind: str, item: Any, keys: tuple[Any, ...], shape: str) -> None:
        name = sqla_name(item, table, dialect)
        other = convention_name(item, table, dialect) if name is not None else None
        found.append(
            ModelObject(
                kind,
                table.name,
                item,
                name,
                keys,
                f"{KIND_LABELS[kind]} {name or '(unnamed)'} on {shape}",
                other if other is not None and other != name else None,
            )
        )

    pk = table.primary_key
    if pk is not None and len(pk.columns):
        add("pk", pk, ("pk",), f"{table.name}({', '.join(c.name for c in pk.columns)})")
    for const in table.constraints:
        if isinstance(const, ForeignKeyConstraint):
            cols = tuple(e.parent.name for e in const.elements)
            # "schema.table.column" as declared: the referred table need not be in the models
            targets = [e.target_fullname.split(".") for e in const.elements]
            ref_cols = tuple(t[-1] for t in targets)
            ref = targets[0][-2] if targets and len(targets[0]) > 1 else ""
            shape = f"{table.name}({', '.join(cols)}) -> {ref}({', '.join(ref_cols)})"
            add("fk", const, ((cols, ref, ref_cols),), shape)
        elif isinstance(const, UniqueConstraint) and not isinstance(const, PrimaryKeyConstraint):
            cols = tuple(c.name for c in const.columns)
            add("uq", const, (cols,), f"{table.name}({', '.join(cols)})")
    for check in table_checks(table, dialect):
        expression = _sql(check.sqltext, dialect)
        add("ck", check, (normalized(expression),), f"{table.name} ({expression})")
    for index in table.indexes:
        exprs = [_sql(e, dialect) for e in index.expressions]
        cols = tuple(normalized(e) for e in exprs)
        where = index.dialect_options["postgresql"].get("where")
        where_sql = _sql(where, dialect) if where is not None else None
        keys = ((cols, bool(index.unique), normalized(where_sql)), cols)
        add("ix", index, keys, f"{table.name}({', '.join(exprs)})")
    return found


# --- pairing and judging ------------------------------------------------------------------


def _pair(
    models: list[ModelObject], objects: list[DbObject]
) -> tuple[list[tuple[ModelObject, DbObject]], list[DbObject]]:
    """Pair each model object with its database object: by name first (an index and a
    unique constraint of the same name are one object), then by kind and key where the
    key picks exactly one on each side. Returns the pairs and the unpaired database side."""
    pairs: list[tuple[ModelObject, DbObject]] = []
    left_models = list(models)
    left = list(objects)
    relations = {"uq", "ix"}
    for model in list(left_models):
        for obj in left:
            same_kind = model.kind == obj.kind or {model.kind, obj.kind} == relations
            if same_kind and model.name is not None and model.name == obj.name:
                pairs.append((model, obj))
                left_models.remove(model)
                left.remove(obj)
                break
    depth = max([len(m.keys) for m in left_models] + [0])
    for level in range(depth):
        by_key: dict[tuple[str, Any], tuple[list[ModelObject], list[DbObject]]] = {}
        for model in left_models:
            if level < len(model.keys):
                by_key.setdefault((model.kind, model.keys[level]), ([], []))[0].append(model)
        for obj in left:
            keys = _db_keys(obj)
            if level < len(keys) and (obj.kind, keys[level]) in by_key:
                by_key[(obj.kind, keys[level])][1].append(obj)
        for (_, key), (ms, os_) in by_key.items():
            if len(ms) == 1 and len(os_) == 1 and key not in ("", ()):
                pairs.append((ms[0], os_[0]))
                left_models.remove(ms[0])
                left.remove(os_[0])
    return pairs, left


@dataclasses.dataclass
class Findings:
    """What a naming check found: failures and warnings, one line each."""

    problems: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)


def judge_models(
    objects: Sequence[DbObject],
    metadata: MetaData | None,
    dialect: Dialect,
    scope: Scope,
) -> Findings:
    """The models mode (see the module docstring)."""
    findings = Findings()
    rules = rules_for(metadata, None)
    tables: dict[str, Table] = {}
    if metadata is not None:
        for table in metadata.tables.values():
            tables.setdefault(table.name, table)
    by_table: dict[str, list[DbObject]] = {}
    for obj in objects:
        by_table.setdefault(obj.table, []).append(obj)
    for table_name in sorted(by_table.keys() | tables.keys()):
        model_table = tables.get(table_name)
        if not scope.table(table_name, model_table):
            continue
        models = [
            m
            for m in (model_objects(model_table, dialect) if model_table is not None else [])
            if scope.item(m.kind, m.name, table_name, m.item, False)
        ]
        for model in sorted(models, key=lambda m: m.description):  # a Table's indexes: a set
            if model.convention is not None:
                findings.warnings.append(
                    f"{model.description} is named explicitly in the models; their "
                    f"naming_convention would name it {model.convention}"
                )
        db_side = [
            o
            for o in by_table.get(table_name, [])
            if scope.item(o.kind, o.name, o.table, None, True)
        ]
        pairs, unpaired = _pair(models, db_side)
        for model, obj in sorted(pairs, key=lambda p: (p[1].kind, p[1].name)):
            if model.name is not None and model.name != obj.name:
                findings.problems.append(
                    f"{obj.describe()} is named {obj.name} in the database; "
                    f"the models name it {model.name}"
                )
        for obj in unpaired:
            rule = rules.get(obj.kind)
            # a unique index may be named as an index or as a unique constraint
            also = rules.get("uq") if obj.kind == "ix" and obj.unique else None
            if also is not None and also.allows(obj.name):
                continue
            if rule is not None and not rule.allows(obj.name):
                findings.problems.append(
                    f"{KIND_LABELS[obj.kind]} {obj.name} on table {obj.table} (not in the "
                    f"models): {rule.explanation}"
                )
    return findings


def judge_rules(
    objects: Sequence[DbObject],
    metadata: MetaData | None,
    overrides: Mapping[str, NamingRule],
    scope: Scope,
) -> Findings:
    """The rules mode: alembic-gauntlet's prefix/suffix lint of every name in scope."""
    tables = {t.name: t for t in metadata.tables.values()} if metadata is not None else {}
    named = [
        NamedObject(o.kind, o.table, o.name)
        for o in objects
        if scope.table(o.table, tables.get(o.table))
        and scope.item(o.kind, o.name, o.table, None, True)
    ]
    return Findings(problems(named, rules_for(metadata, overrides)))


def naming_findings(
    conn: Connection,
    schema: str,
    metadata: MetaData | None,
    overrides: Mapping[str, NamingRule] | None,
    scope: Scope,
) -> Findings:
    """Models mode, or rules mode when ``overrides`` (``naming_rules``) are given."""
    objects = fetch_objects(conn, schema)
    if overrides:
        return judge_rules(objects, metadata, overrides, scope)
    return judge_models(objects, metadata, conn.dialect, scope)


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


def naming_violations(problems: list[str], *, models: bool = False) -> NamingConventionError | None:
    """All violations in one error (never just the first)."""
    if not problems:
        return None
    count = len(problems)
    names, verb = (f"{count} names", "") if count != 1 else ("1 name", "s")
    heading = (
        f"{names} in the database differ{verb} from the models (or, where the models declare "
        f"none, break{verb} the naming rules)"
        if models
        else f"{names} break{verb} the naming convention"
    )
    return NamingConventionError.listing(heading, problems)


def scope_of(session: MigrationSession, ignored: Iterable[str]) -> Scope:
    """What env.py lets autogenerate see (include_name, include_object), less the
    ignored tables and the version table: the models checks judge that and no more."""
    scope: Scope = session.inspect(
        lambda ctx: scope_from_context(ctx, frozenset(ignored), ctx.version_table)
    )
    return scope


class Naming(HeadCheck):
    name = "naming"
    test_method = "test_naming_conventions"
    error = NamingConventionError

    def run(self, ctx: RunContext, session: MigrationSession) -> list[str]:
        """Raises on names that differ from the models; returns the warnings (explicit
        names in the models that break their own naming_convention)."""
        scope = scope_of(session, ctx.config.ignored_tables)
        try:
            metadata: MetaData | None = ctx.models(session)
        except CheckSkipped:
            metadata = None  # the rules still judge every name
        rules = ctx.config.naming_rules
        conn = session.own_connection
        found = naming_findings(conn, session.target.schema, metadata, rules, scope)
        error = naming_violations(found.problems, models=not rules)
        if error is not None:
            error.warnings = tuple(found.warnings)
            raise error
        return list(found.warnings)


CHECK = Naming()
