"""Alembic histories written by alembic's own autogenerate, with defects put in at random.

A history is a sequence of model states (tables with typed columns, enums, defaults,
indexes, unique constraints, foreign keys), each made from the last by one or two model
changes. Each revision is what ``alembic revision --autogenerate`` writes for the step from
one state to the next: the models are compared with a scratch schema holding the previous
state (``produce_migrations``) and the operations rendered by ``render_python_code`` into
a revision file. Then, as people do, some downgrades are tidied (the enum types a revision
created dropped after their tables, which autogenerate never writes) and some broken:

* ``forget``: one downgrade operation left out;
* ``noop``: the downgrade is ``pass``;
* ``order``: the downgrade's operations in reverse order (a parent table dropped before
  the table whose foreign key points at it);
* ``type_in_use``: ``DROP TYPE`` of an enum that a table still uses, first thing.

The draws come from hypothesis (``tests/test_differential.py``), so a failing example
shrinks to a small history; :func:`write_history` makes the files.
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import produce_migrations, render_python_code
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
from hypothesis import strategies as st
from sqlalchemy.engine import Connection

TABLES = ("users", "orders", "items", "tags")
COLUMN_KINDS = ("int", "str20", "str50", "text", "bool", "numeric", "date")
DEFECTS = ("none", "none", "forget", "noop", "order", "type_in_use")


@dataclasses.dataclass(frozen=True)
class Column:
    name: str
    kind: str  # one of COLUMN_KINDS, or "enum"
    nullable: bool = True
    default: str | None = None  # a server default (SQL literal text)
    labels: tuple[str, ...] = ()  # an enum's labels
    enum_name: str = ""
    indexed: bool = False
    unique: bool = False
    references: str | None = None  # a table name: a foreign key to its id


@dataclasses.dataclass(frozen=True)
class State:
    tables: tuple[tuple[str, tuple[Column, ...]], ...] = ()

    def table(self, name: str) -> tuple[Column, ...]:
        return dict(self.tables)[name]

    def names(self) -> list[str]:
        return [name for name, _ in self.tables]

    def replace(self, name: str, columns: tuple[Column, ...] | None) -> State:
        tables = [(n, c) for n, c in self.tables if n != name]
        if columns is not None:
            tables.append((name, columns))
        return State(tuple(sorted(tables)))

    def enums(self) -> set[str]:
        return {c.enum_name for _, cols in self.tables for c in cols if c.kind == "enum"}


def _type(col: Column) -> Any:
    return {
        "int": sa.Integer(),
        "str20": sa.String(20),
        "str50": sa.String(50),
        "text": sa.Text(),
        "bool": sa.Boolean(),
        "numeric": sa.Numeric(10, 2),
        "date": sa.Date(),
        "enum": sa.Enum(*col.labels, name=col.enum_name) if col.kind == "enum" else None,
    }[col.kind]


def metadata(state: State) -> sa.MetaData:
    md = sa.MetaData()
    for name, cols in state.tables:
        columns: list[Any] = [sa.Column("id", sa.Integer(), primary_key=True)]
        for col in cols:
            args: list[Any] = [col.name, _type(col)]
            if col.references:
                args.append(sa.ForeignKey(f"{col.references}.id", name=f"fk_{name}_{col.name}"))
            columns.append(
                sa.Column(
                    *args,
                    nullable=col.nullable,
                    server_default=sa.text(col.default) if col.default else None,
                    index=col.indexed or None,
                )
            )
            if col.unique:
                columns.append(sa.UniqueConstraint(col.name, name=f"uq_{name}_{col.name}"))
        sa.Table(name, md, *columns)
    return md


# -- model changes, drawn from a state -----------------------------------------------------


def _default_for(kind: str, draw: Callable[[Any], Any]) -> str | None:
    if not draw(st.booleans()):
        return None
    return {
        "int": "0",
        "str20": "'x'",
        "str50": "'none'",
        "text": "''",
        "bool": "false",
        "numeric": "1.5",
        "date": "'2024-01-01'",
    }[kind]


def _new_column(
    draw: Callable[[Any], Any], state: State, table: str, taken: set[str], counter: list[int]
) -> Column:
    name = draw(st.sampled_from([n for n in ("a", "b", "c", "d", "e", "f") if n not in taken]))
    others = [t for t in state.names() if t != table]
    kind = draw(st.sampled_from(COLUMN_KINDS + (("enum",) if counter is not None else ())))
    if kind == "enum":
        counter[0] += 1
        labels = tuple(
            draw(st.lists(st.sampled_from("pqrst"), min_size=1, max_size=3, unique=True))
        )
        return Column(name, "enum", True, None, labels, f"{table}_{name}_e{counter[0]}")
    references = draw(st.sampled_from([None, *others])) if kind == "int" else None
    return Column(
        name,
        kind,
        nullable=draw(st.booleans()) if references is None else True,
        default=_default_for(kind, draw) if references is None else None,
        indexed=draw(st.booleans()),
        unique=draw(st.booleans()) and kind in ("str20", "str50", "int"),
        references=references,
    )


def change(draw: Callable[[Any], Any], state: State, counter: list[int]) -> State:
    """One model change, as a person would make it between two ``alembic revision``s."""
    names = state.names()
    free = [t for t in TABLES if t not in names]
    moves = ["add_table"] if free else []
    if names:
        moves += ["drop_table", "add_column", "drop_column", "alter_column", "alter_column"]
    move = draw(st.sampled_from(moves))
    if move == "add_table":
        table = draw(st.sampled_from(free))
        cols: list[Column] = []
        for _ in range(draw(st.integers(1, 3))):
            cols.append(_new_column(draw, state, table, {c.name for c in cols}, counter))
        return state.replace(table, tuple(cols))
    table = draw(st.sampled_from(names))
    cols = list(state.table(table))
    if move == "drop_table":
        referenced = any(c.references == table for _, cs in state.tables for c in cs)
        return state if referenced else state.replace(table, None)
    if move == "add_column" and len(cols) < 5:
        new = _new_column(draw, state, table, {c.name for c in cols}, None)  # type: ignore[arg-type]
        return state.replace(table, (*cols, new))
    if move == "drop_column" and cols:
        cols.pop(draw(st.integers(0, len(cols) - 1)))
        return state.replace(table, tuple(cols))
    if cols:
        i = draw(st.integers(0, len(cols) - 1))
        col = cols[i]
        if col.kind == "enum" or col.references:
            return state
        what = draw(st.sampled_from(["type", "nullable", "default", "index", "unique"]))
        if what == "type" and col.kind in ("str20", "str50"):
            col = dataclasses.replace(col, kind="str50" if col.kind == "str20" else "str20")
        elif what == "nullable":
            col = dataclasses.replace(col, nullable=not col.nullable)
        elif what == "default":
            col = dataclasses.replace(col, default=_default_for(col.kind, draw))
        elif what == "index":
            col = dataclasses.replace(col, indexed=not col.indexed)
        elif what == "unique" and col.kind in ("str20", "str50", "int"):
            col = dataclasses.replace(col, unique=not col.unique)
        cols[i] = col
        return state.replace(table, tuple(cols))
    return state


@dataclasses.dataclass(frozen=True)
class Plan:
    """A drawn history: the model states and, per revision, a defect and a tidy flag."""

    states: tuple[State, ...]
    defects: tuple[str, ...]
    tidy: tuple[bool, ...]
    picks: tuple[int, ...]  # which operation a defect takes


@st.composite
def plans(draw: Callable[[Any], Any], max_revisions: int = 3) -> Plan:
    counter = [0]
    state = State()
    states: list[State] = []
    for _ in range(draw(st.integers(1, max_revisions))):
        for _ in range(draw(st.integers(1, 2))):
            state = change(draw, state, counter)
        states.append(state)
    n = len(states)
    defects = tuple(draw(st.sampled_from(DEFECTS)) for _ in range(n))
    tidy = tuple(draw(st.booleans()) for _ in range(n))
    picks = tuple(draw(st.integers(0, 7)) for _ in range(n))
    return Plan(tuple(states), defects, tidy, picks)


# -- autogenerate, defects, files ------------------------------------------------------------


def _autogenerate(
    conn: Connection, scratch: str, before: State, after: State
) -> ops.MigrationScript:
    """What ``alembic revision --autogenerate`` finds between ``before`` (put in the scratch
    schema) and the models of ``after``."""
    conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {scratch} CASCADE")
    conn.exec_driver_sql(f"CREATE SCHEMA {scratch}")
    conn.exec_driver_sql(f"SET search_path TO {scratch}")
    metadata(before).create_all(conn)
    ctx = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": True}
    )
    return produce_migrations(ctx, metadata(after))


def _flatten(container: Any) -> list[tuple[Any, int]]:
    """Every leaf operation with its parent list's owner and index."""
    found = []
    for i, op in enumerate(container.ops):
        if isinstance(op, ops.OpContainer):
            found.extend(_flatten(op))
        else:
            found.append((container, i))
    return found


def _render(container: Any) -> str:
    code = render_python_code(container)
    lines = [ln for ln in code.splitlines() if not ln.strip().startswith("# ###")]
    body = textwrap.dedent("\n".join(lines)).strip()
    return body or "pass"


def _revision_source(
    rev: str,
    down: str | None,
    number: int,
    script: ops.MigrationScript,
    before: State,
    after: State,
    defect: str,
    tidy: bool,
    pick: int,
) -> str:
    up = _render(script.upgrade_ops)
    downgrade = script.downgrade_ops
    extra_first: list[str] = []
    if defect == "forget":
        leaves = _flatten(downgrade)
        if leaves:
            owner, i = leaves[pick % len(leaves)]
            del owner.ops[i]
    elif defect == "order":
        downgrade.ops.reverse()
    elif defect == "type_in_use":
        used = sorted(after.enums())
        if used:
            extra_first.append(f'op.execute("DROP TYPE IF EXISTS {used[pick % len(used)]}")')
    down_body = "pass" if defect == "noop" else _render(downgrade)
    extra_last = []
    if tidy and defect != "noop":
        for enum in sorted(after.enums() - before.enums()):
            extra_last.append(f'sa.Enum(name="{enum}").drop(op.get_bind(), checkfirst=True)')
    down_lines = (
        extra_first
        + ([] if down_body == "pass" and (extra_first or extra_last) else [down_body])
        + extra_last
    )
    return (
        f'"""generated revision {number} (defect: {defect}, tidy: {tidy})\n\n'
        f'Revision ID: {rev}\nRevises: {down or ""}\n"""\n\n'
        "import sqlalchemy as sa\nfrom alembic import op\n"
        "from sqlalchemy.dialects import postgresql\n\n"
        f"revision = {rev!r}\ndown_revision = {down!r}\n"
        "branch_labels = None\ndepends_on = None\n\n\n"
        "def upgrade():\n" + textwrap.indent(up, "    ") + "\n\n\n"
        "def downgrade():\n" + textwrap.indent("\n".join(down_lines), "    ") + "\n"
    )


def write_history(
    plan: Plan, directory: Path, conn: Connection, scratch: str, env_dir: Path
) -> Path:
    """Write ``plan`` as an alembic project under ``directory``; returns its alembic.ini."""
    versions = directory / "versions"
    versions.mkdir(parents=True)
    before = State()
    down: str | None = None
    for number, after in enumerate(plan.states, 1):
        rev = f"g{number:07d}"
        script = _autogenerate(conn, scratch, before, after)
        source = _revision_source(
            rev,
            down,
            number,
            script,
            before,
            after,
            plan.defects[number - 1],
            plan.tidy[number - 1],
            plan.picks[number - 1],
        )
        (versions / f"{rev}_generated.py").write_text(source)
        before, down = after, rev
    ini = directory / "alembic.ini"
    ini.write_text(
        "[alembic]\n"
        f"script_location = {env_dir}\n"
        "version_locations = %(here)s/versions\n"
        "path_separator = os\n"
        "sqlalchemy.url = postgresql+psycopg://invalid@localhost/invalid\n"
    )
    return ini
