"""alembic-gauntlet's utilities, synchronous, for users porting their tests.

Same names and meaning as the seed's, taking a sync ``Engine`` (or a ``Connection``, whose
engine is used) instead of an async one. They are thin: every one of them runs on the
internals :class:`~gauntlet_sync.Gauntlet` uses (one cached revision graph per alembic
``Config``, migrations through env.py with the schema pinned, typed errors).
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterable, Iterator
from typing import TypedDict

from alembic.config import Config
from sqlalchemy import Engine, create_engine, inspect
from sqlalchemy.engine import URL, Connection
from sqlalchemy.engine.interfaces import ReflectedForeignKeyConstraint
from sqlalchemy.pool import NullPool

from .checks import naming
from .checks.models_match import is_ignored_diff_item
from .config import DEFAULT_IGNORE_TABLES, NamingRule
from .dsn import to_url
from .history import History
from .isolated import IsolatedDatabase
from .janitor import Target, isolated_schema, validate_schema_name
from .session import MigrationSession

__all__ = [
    "DEFAULT_IGNORE_TABLES",
    "TableNamingResults",
    "create_isolated_migration_schema",
    "fetch_table_naming_results",
    "get_all_revisions",
    "get_current_revision",
    "is_ignored_diff_item",
    "run_alembic_downgrade",
    "run_alembic_upgrade",
    "validate_naming_results",
    "validate_schema_name",
]

_histories: weakref.WeakKeyDictionary[Config, History] = weakref.WeakKeyDictionary()


def _history(alembic_config: Config) -> History:
    """One loaded revision graph per Config, as Gauntlet keeps one per run."""
    history = _histories.get(alembic_config)
    if history is None:
        history = _histories[alembic_config] = History(alembic_config)
    return history


def _engine(bind: Engine | Connection) -> Engine:
    return bind.engine if isinstance(bind, Connection) else bind


@contextlib.contextmanager
def _database(
    bind: Engine | Connection, alembic_config: Config, schema: str
) -> Iterator[IsolatedDatabase]:
    engine = _engine(bind)
    with engine.connect() as conn:
        validate_schema_name(schema, conn)
    session = MigrationSession(_history(alembic_config), alembic_config, Target(engine.url, schema))
    try:
        yield IsolatedDatabase(session)
    finally:
        session.close()


def run_alembic_upgrade(
    engine: Engine | Connection,
    alembic_config: Config,
    target_schema: str = "public",
    revision: str = "head",
) -> None:
    """Upgrade ``target_schema`` to ``revision`` through env.py (UpgradeError on failure)."""
    with _database(engine, alembic_config, target_schema) as db:
        db.upgrade("heads" if revision == "head" and len(db._history.heads) > 1 else revision)


def run_alembic_downgrade(
    engine: Engine | Connection,
    alembic_config: Config,
    target_schema: str = "public",
    revision: str = "base",
) -> None:
    """Downgrade ``target_schema`` to ``revision`` through env.py (DowngradeError on failure)."""
    with _database(engine, alembic_config, target_schema) as db:
        db.downgrade(revision)


def get_current_revision(engine: Engine | Connection, target_schema: str = "public") -> str | None:
    """The revision recorded in ``target_schema``'s alembic_version, ``None`` at base."""
    from alembic.runtime.migration import MigrationContext

    with _engine(engine).connect() as conn:
        validate_schema_name(target_schema, conn)
        context = MigrationContext.configure(conn, opts={"version_table_schema": target_schema})
        heads = context.get_current_heads()
    return heads[0] if len(heads) == 1 else (",".join(sorted(heads)) or None)


def get_all_revisions(alembic_config: Config) -> list[str]:
    """Every revision id from base to heads, in dependency order."""
    return list(_history(alembic_config).ids)


@contextlib.contextmanager
def create_isolated_migration_schema(migration_db_url: str | URL | Engine) -> Iterator[str]:
    """Create a uniquely named schema, yield its name, drop it afterwards."""
    if isinstance(migration_db_url, Engine):
        engine, owned = migration_db_url, False
    else:
        engine, owned = create_engine(to_url(migration_db_url), poolclass=NullPool), True
    try:
        with isolated_schema(engine) as target:
            yield target.schema
    finally:
        if owned:
            engine.dispose()


class TableNamingResults(TypedDict):
    """One table's names, as :func:`fetch_table_naming_results` reads them: its index
    names and its foreign keys (as SQLAlchemy's inspector reflects them)."""

    indexes: set[str]
    fks: list[ReflectedForeignKeyConstraint]


def fetch_table_naming_results(sync_conn: Connection, schema: str) -> dict[str, TableNamingResults]:
    """Index and foreign key names of every table in ``schema`` (alembic_version excluded)."""
    inspector = inspect(sync_conn)
    results: dict[str, TableNamingResults] = {}
    for table in inspector.get_table_names(schema=schema):
        if table in DEFAULT_IGNORE_TABLES:
            continue
        indexes = inspector.get_indexes(table, schema=schema)
        results[table] = {
            "indexes": {str(idx["name"]) for idx in indexes if idx["name"]},
            "fks": list(inspector.get_foreign_keys(table, schema=schema)),
        }
    return results


def validate_naming_results(
    results: dict[str, TableNamingResults],
    allowed_index_prefixes: Iterable[str],
    allowed_index_suffixes: Iterable[str],
    allowed_fk_suffixes: Iterable[str],
) -> None:
    """Raise NamingConventionError listing every index or FK name that fits no rule.

    Index names pass with any allowed prefix or suffix (a suffix may be followed by
    digits, as PostgreSQL numbers clashing names); FK names need an allowed suffix.
    """
    rules = naming.rules_for(
        None,
        {
            "ix": NamingRule(
                prefixes=tuple(allowed_index_prefixes), suffixes=tuple(allowed_index_suffixes)
            ),
            "fk": NamingRule(suffixes=tuple(allowed_fk_suffixes)),
        },
    )
    objects = [
        obj
        for table, data in results.items()
        for obj in (
            *(naming.NamedObject("ix", table, name) for name in sorted(data["indexes"])),
            *(
                naming.NamedObject("fk", table, str(fk["name"]))
                for fk in data["fks"]
                if fk.get("name")
            ),
        )
    ]
    error = naming.naming_violations(naming.problems(objects, rules))
    if error is not None:
        raise error
