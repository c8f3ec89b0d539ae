"""Isolated schemas and databases: named, created, and always dropped by whoever made them.

Like pytest-postgresql's ``DatabaseJanitor``: a context manager that creates the target,
yields it, and on the way out terminates what is still connected and drops it. Names carry
the prefix, the pid, the host and the start time, so that leftovers of a killed run can be
recognised and cleaned up by :func:`cleanup_stale` — and nothing else ever is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import re
import secrets
import socket
import time
import warnings
from collections.abc import Callable, Iterator

from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.dialects.postgresql.base import RESERVED_WORDS as POSTGRESQL_RESERVED_WORDS
from sqlalchemy.engine import URL, Connection

from . import outside
from .errors import (
    ConfigError,
    EmptySchemaNameError,
    InvalidSchemaNameError,
    IsolationError,
    ReservedWordSchemaNameError,
    SchemaNameTooLongError,
)
from .pgsql import execute

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_IDENTIFIER_BYTES = 63
_COMMENT_TAG = outside.SIGNATURE
# prefix _ pid _ unix time _ random
_STALE_NAME = re.compile(
    r"^(?P<prefix>[a-z][a-z0-9]*)_(?P<pid>\d+)_(?P<started>\d{10})_[0-9a-f]{6}$"
)


def validate_schema_name(name: str, connection: Connection | None = None) -> None:
    """Refuse names that are empty, malformed, too long or (with a connection) reserved."""
    if not name:
        raise EmptySchemaNameError(
            "Schema name cannot be empty; pass a name such as 'gauntlet_test'."
        )
    if not _IDENTIFIER.match(name):
        raise InvalidSchemaNameError(
            f"Invalid schema name {name!r}: use letters, digits and underscores only, "
            "starting with a letter or underscore."
        )
    if len(name.encode()) > MAX_IDENTIFIER_BYTES:
        raise SchemaNameTooLongError(
            f"Schema name {name!r} is {len(name.encode())} bytes; PostgreSQL allows at most "
            f"{MAX_IDENTIFIER_BYTES}. Use a shorter name or prefix."
        )
    if connection is not None and name.lower() in reserved_words(connection):
        raise ReservedWordSchemaNameError(
            f"Schema name {name!r} is a PostgreSQL reserved word; choose another name."
        )


def reserved_words(connection: Connection) -> frozenset[str]:
    rows = connection.execute(text("SELECT word FROM pg_get_keywords() WHERE catcode = 'R'"))
    return frozenset(row[0] for row in rows)


#: what ``new_name`` appends: ``_<pid, up to 7 digits>_<10-digit time>_<6 hex>``.
_SUFFIX_BYTES = 1 + 7 + 1 + 10 + 1 + 6
MAX_PREFIX_BYTES = MAX_IDENTIFIER_BYTES - _SUFFIX_BYTES


def validate_prefix(prefix: str) -> None:
    r"""Refuse a ``schema_prefix`` up front, before anything connects or is created.

    Names built from it must match ``_STALE_NAME`` (or ``cleanup_stale`` could never find
    them), fit in 63 bytes whatever the pid, and a reserved word is refused as a prefix as
    it is as a name, so that no prefix is ever a surprise in SQL or in ``\dn``.
    """
    if not prefix:
        raise EmptySchemaNameError(
            "Schema prefix cannot be empty; pass a prefix such as 'gauntlet'."
        )
    if not re.fullmatch(r"[a-z][a-z0-9]*", prefix):
        raise InvalidSchemaNameError(
            f"Invalid schema prefix {prefix!r}: use lower-case letters and digits only, "
            "starting with a letter, e.g. 'gauntlet'."
        )
    if len(prefix) > MAX_PREFIX_BYTES:
        raise SchemaNameTooLongError(
            f"Schema prefix {prefix!r} is {len(prefix)} bytes; names are "
            f"'<prefix>_<pid>_<time>_<random>' and must fit PostgreSQL's "
            f"{MAX_IDENTIFIER_BYTES} bytes, so use at most {MAX_PREFIX_BYTES}."
        )
    if prefix in POSTGRESQL_RESERVED_WORDS:
        raise ReservedWordSchemaNameError(
            f"Schema prefix {prefix!r} is a PostgreSQL reserved word; choose another, "
            "e.g. 'gauntlet'."
        )


def new_name(prefix: str) -> str:
    """A unique, recognisable name: ``<prefix>_<pid>_<unix time>_<random>``."""
    validate_prefix(prefix)
    name = f"{prefix}_{os.getpid()}_{int(time.time())}_{secrets.token_hex(3)}"
    validate_schema_name(name)
    return name


def _owner_comment() -> str:
    return (
        f"{_COMMENT_TAG} pid={os.getpid()} host={socket.gethostname()} started={int(time.time())}"
    )


@dataclasses.dataclass
class Target:
    """Where one isolated run happens."""

    url: URL
    schema: str
    database: str | None = None  # set when a whole database was created


@contextlib.contextmanager
def isolated_schema(engine: Engine, prefix: str = "gauntlet") -> Iterator[Target]:
    """Create a fresh schema, yield it, drop it (only it) afterwards."""
    name = new_name(prefix)
    _create_owned(engine, "SCHEMA", name)
    try:
        yield Target(url=engine.url, schema=name)
    finally:
        _drop_schema(engine, name)


@contextlib.contextmanager
def isolated_database(engine: Engine, prefix: str = "gauntlet") -> Iterator[Target]:
    """Create a fresh database (for migrations that create schemas or extensions)."""
    name = new_name(prefix)
    _create_owned(engine, "DATABASE", name)
    try:
        yield Target(url=engine.url.set(database=name), schema="public", database=name)
    finally:
        _drop_database(engine, name)


def _create_owned(engine: Engine, kind: str, name: str) -> None:
    """CREATE the schema or database and sign it with our comment (pid, host, time),
    which is what lets cleanup_stale tell our leftovers from anything else, and other
    runs' outside looks tell a run's schema from a migration's (outside.other_runs).
    A schema is signed in the transaction that creates it, so that it is never seen
    unsigned; CREATE DATABASE cannot run in a transaction."""
    keyword = sql.SQL(kind)
    if kind == "SCHEMA":
        with engine.begin() as conn:
            execute(conn, sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
            execute(
                conn,
                sql.SQL("COMMENT ON SCHEMA {} IS {}").format(
                    sql.Identifier(name), sql.Literal(_owner_comment())
                ),
            )
        return
    with _admin(engine) as conn:
        execute(conn, sql.SQL("CREATE {} {}").format(keyword, sql.Identifier(name)))
        try:
            execute(
                conn,
                sql.SQL("COMMENT ON {} {} IS {}").format(
                    keyword, sql.Identifier(name), sql.Literal(_owner_comment())
                ),
            )
        except BaseException:
            execute(conn, sql.SQL("DROP {} {}").format(keyword, sql.Identifier(name)))
            raise


@contextlib.contextmanager
def _admin(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


def _drop_schema(engine: Engine, name: str) -> None:
    try:
        with _admin(engine) as conn:
            _terminate_users_of_schema(conn, name)
            execute(conn, sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
    except Exception as exc:  # the server may be gone; the name stays recognisable
        raise IsolationError(
            f"Could not drop isolated schema {name}: {type(exc).__name__}: {exc}. "
            "It is named for cleanup_stale() (CLI: --cleanup-stale)."
        ) from exc


def _terminate_users_of_schema(conn: Connection, name: str) -> None:
    """End other sessions still holding locks in the schema (a hung migration's)."""
    ended = conn.execute(
        text(
            "SELECT pg_terminate_backend(l.pid) FROM pg_locks l "
            "JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :schema AND l.pid <> pg_backend_pid() GROUP BY l.pid"
        ),
        {"schema": name},
    ).fetchall()
    outside.count_own_kills(sum(1 for (done,) in ended if done))  # not a migration's doing


def _drop_database(engine: Engine, name: str) -> None:
    try:
        with _admin(engine) as conn:
            ended = conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            ).fetchall()
            outside.count_own_kills(sum(1 for (done,) in ended if done))
            execute(conn, sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
    except Exception as exc:
        raise IsolationError(
            f"Could not drop isolated database {name}: {type(exc).__name__}: {exc}. "
            "It is named for cleanup_stale() (CLI: --cleanup-stale)."
        ) from exc


@dataclasses.dataclass(frozen=True)
class StaleObject:
    kind: str  # "schema" or "database"
    name: str
    pid: int
    started: int
    owner: str = ""
    droppable: bool = True  # the current role owns it (directly or through a role)


def check_age(older_than: float) -> None:
    """A finite, non-negative age: ``nan`` compares false with every age, so it would let
    the schemas of live runs on other hosts through; so would a negative one."""
    if not isinstance(older_than, (int, float)) or not math.isfinite(older_than) or older_than < 0:
        raise ConfigError(
            f"older_than must be a finite number of seconds, 0 or more; got {older_than!r}."
        )


def find_stale(
    engine: Engine, *, older_than: float = 3600.0, prefix: str = "gauntlet"
) -> list[StaleObject]:
    """Schemas and databases this tool created whose run is over.

    Only names of our exact shape, carrying our comment, older than ``older_than``
    seconds and whose process is gone from this host qualify. Those owned by a role the
    current one is not a member of are found too, marked not ``droppable``.
    """
    check_age(older_than)
    now = time.time()
    host = socket.gethostname()
    found: list[StaleObject] = []
    with _admin(engine) as conn:
        rows = conn.execute(
            text(
                "SELECT 'schema', nspname, obj_description(oid, 'pg_namespace'), "
                "pg_get_userbyid(nspowner), pg_has_role(nspowner, 'MEMBER') FROM pg_namespace "
                "UNION ALL SELECT 'database', datname, shobj_description(oid, 'pg_database'), "
                "pg_get_userbyid(datdba), pg_has_role(datdba, 'MEMBER') FROM pg_database"
            )
        ).all()
    for kind, name, comment, owner, droppable in rows:
        match = _STALE_NAME.match(name)
        if not match or match["prefix"] != prefix or not comment:
            continue
        if not comment.startswith(f"{_COMMENT_TAG} "):
            continue
        fields = dict(part.split("=", 1) for part in comment.split()[1:] if "=" in part)
        pid, started = int(match["pid"]), int(match["started"])
        if now - started < older_than:
            continue
        if fields.get("host") == host and _process_alive(pid):
            continue
        found.append(StaleObject(kind, name, pid, started, owner, bool(droppable)))
    return found


def cleanup_stale(
    engine: Engine,
    *,
    older_than: float = 3600.0,
    prefix: str = "gauntlet",
    on_skip: Callable[[str], None] | None = None,
) -> list[str]:
    """Drop what :func:`find_stale` finds; returns the names dropped.

    One leftover that cannot be dropped (another role's, a database still in use) does
    not stop the others: it is passed to ``on_skip`` with the reason (default: a
    warning) and left alone.
    """
    skip = on_skip if on_skip is not None else _warn
    dropped = []
    for obj in find_stale(engine, older_than=older_than, prefix=prefix):
        label = f"{obj.kind} {obj.name}"
        if not obj.droppable:
            skip(
                f"{label}: owned by role {obj.owner}, which the current role is not a member "
                f"of; drop it as {obj.owner} or a superuser"
            )
            continue
        try:
            if obj.kind == "schema":
                _drop_schema(engine, obj.name)
            else:
                _drop_database(engine, obj.name)
        except IsolationError as exc:
            cause = exc.__cause__
            reason = str(getattr(cause, "orig", cause) or exc).strip().splitlines()[0]
            skip(f"{label}: {reason}")
            continue
        dropped.append(label)
    return dropped


def _warn(message: str) -> None:
    warnings.warn(f"gauntlet-sync: cleanup_stale left {message}", stacklevel=3)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
