#!/usr/bin/env python3
"""Generate a deterministic N-revision linear Alembic project for the benchmark.

Usage:  python benchmarks/make_history.py OUTDIR N

OUTDIR receives ``alembic.ini``, ``models.py`` (the exact cumulative result of the
history), ``migrations/env.py``, ``migrations/script.py.mako`` and
``migrations/versions/*.py``.

Every table goes through a block of 12 revisions (revision i works on table i // 12):

   0 create table: integer PK, NOT NULL column, server default
   1 add two nullable columns
   2 create an index
   3 add a column and a foreign key (to the previous table; table 0 to itself)
   4 add a unique constraint
   5 add a check constraint
   6 create a native enum type and a column of that type
   7 add a value to the enum (downgrade recreates the type without it)
   8 rename a column
   9 data migration (INSERT + UPDATE; downgrade DELETEs)
  10 add a NOT NULL column with a server default
  11 widen a column's type (varchar(64) -> varchar(128))

All downgrades are correct and leave no trace; every name is explicit and equals what
the models' naming convention produces, so every gauntlet check passes. ``safety`` still
observes every step; each revision allows the rules its block breaks on purpose (indexes,
constraints and NOT NULL on a table an earlier revision made) with ``# gauntlet: allow``,
so that the command line, which fails on them by default, exits 0 as well.

Several histories can live in one process: the models module is loaded by path under
a name unique to OUTDIR (see ``models_module_name``), never as a bare ``models``, and
:func:`load_metadata` returns the very ``MetaData`` object env.py uses.

Downgrades never compare an enum column with a value added in the same transaction
(``status::text = 'archived'``): the gauntlet may run many steps in one transaction, where
PostgreSQL refuses "unsafe use of new value" of an enum.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import shutil
import sys
import textwrap
from pathlib import Path
from typing import Any

STEPS = (
    "create_table",
    "add_columns",
    "add_index",
    "add_fk",
    "add_unique",
    "add_check",
    "create_enum",
    "enum_add_value",
    "rename_column",
    "data_migration",
    "add_defaulted_column",
    "widen_column",
)
BLOCK = len(STEPS)

CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def models_module_name(outdir: Path) -> str:
    """A module name unique to this project directory (stable across processes)."""
    digest = hashlib.sha1(str(Path(outdir).resolve()).encode()).hexdigest()[:10]
    return f"gsbench_models_{digest}"


def load_metadata(outdir: Path) -> Any:
    """Import OUTDIR/models.py under its unique name (once) and return its MetaData."""
    name = models_module_name(outdir)
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, Path(outdir) / "models.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module.Base.metadata


def revision_id(i: int) -> str:
    return hashlib.sha256(f"gauntlet-bench:{i}".encode()).hexdigest()[:12]


def table_name(k: int) -> str:
    return f"item{k:03d}"


def _block(text: str) -> str:
    return textwrap.indent(textwrap.dedent(text).strip("\n"), "    ") + "\n"


def bodies(i: int) -> tuple[str, str]:
    """(upgrade body, downgrade body) of revision i."""
    k, step = divmod(i, BLOCK)
    t = table_name(k)
    parent = table_name(k - 1) if k else t
    enum = f"{t}_state"
    kind = STEPS[step]
    if kind == "create_table":
        up = f"""
            op.create_table(
                "{t}",
                sa.Column("id", sa.Integer(), nullable=False),
                sa.Column("title", sa.String(length=64), nullable=False),
                sa.Column("created_at", sa.DateTime(), server_default=sa.text("now()"), nullable=False),
                sa.PrimaryKeyConstraint("id", name=op.f("pk_{t}")),
            )
        """
        down = f'op.drop_table("{t}")'
    elif kind == "add_columns":
        up = f"""
            op.add_column("{t}", sa.Column("sku", sa.String(length=32), nullable=True))
            op.add_column("{t}", sa.Column("memo", sa.Text(), nullable=True))
        """
        down = f"""
            op.drop_column("{t}", "memo")
            op.drop_column("{t}", "sku")
        """
    elif kind == "add_index":
        up = f'op.create_index(op.f("ix_{t}_sku"), "{t}", ["sku"], unique=False)'
        down = f'op.drop_index(op.f("ix_{t}_sku"), table_name="{t}")'
    elif kind == "add_fk":
        up = f"""
            op.add_column("{t}", sa.Column("parent_id", sa.Integer(), nullable=True))
            op.create_foreign_key(
                op.f("fk_{t}_parent_id_{parent}"), "{t}", "{parent}", ["parent_id"], ["id"],
                ondelete="SET NULL",
            )
        """
        down = f"""
            op.drop_constraint(op.f("fk_{t}_parent_id_{parent}"), "{t}", type_="foreignkey")
            op.drop_column("{t}", "parent_id")
        """
    elif kind == "add_unique":
        up = f'op.create_unique_constraint(op.f("uq_{t}_title"), "{t}", ["title"])'
        down = f'op.drop_constraint(op.f("uq_{t}_title"), "{t}", type_="unique")'
    elif kind == "add_check":
        up = f'op.create_check_constraint(op.f("ck_{t}_title_len"), "{t}", "length(title) > 0")'
        down = f'op.drop_constraint(op.f("ck_{t}_title_len"), "{t}", type_="check")'
    elif kind == "create_enum":
        up = f"""
            state = postgresql.ENUM("draft", "live", name="{enum}")
            state.create(op.get_bind(), checkfirst=False)
            op.add_column(
                "{t}",
                sa.Column(
                    "state",
                    postgresql.ENUM("draft", "live", name="{enum}", create_type=False),
                    nullable=True,
                ),
            )
        """
        down = f"""
            op.drop_column("{t}", "state")
            postgresql.ENUM(name="{enum}").drop(op.get_bind(), checkfirst=False)
        """
    elif kind == "enum_add_value":
        up = f"op.execute(\"ALTER TYPE {enum} ADD VALUE 'retired'\")"
        down = f"""
            op.execute("UPDATE {t} SET state = NULL WHERE state::text = 'retired'")
            op.execute("ALTER TYPE {enum} RENAME TO {enum}_prev")
            op.execute("CREATE TYPE {enum} AS ENUM ('draft', 'live')")
            op.execute(
                "ALTER TABLE {t} ALTER COLUMN state TYPE {enum} USING state::text::{enum}"
            )
            op.execute("DROP TYPE {enum}_prev")
        """
    elif kind == "rename_column":
        up = f'op.alter_column("{t}", "memo", new_column_name="remark")'
        down = f'op.alter_column("{t}", "remark", new_column_name="memo")'
    elif kind == "data_migration":
        up = f"""
            op.execute(
                "INSERT INTO {t} (title, sku, state) VALUES ('seed-{t}', 'SKU{k:03d}', 'live')"
            )
            op.execute("UPDATE {t} SET remark = 'seeded' WHERE sku = 'SKU{k:03d}'")
        """
        if k:
            up += f"""
            op.execute(
                "UPDATE {t} SET parent_id = (SELECT id FROM {parent} WHERE title = 'seed-{parent}') "
                "WHERE title = 'seed-{t}'"
            )
            """
        down = f"op.execute(\"DELETE FROM {t} WHERE title = 'seed-{t}'\")"
    elif kind == "add_defaulted_column":
        up = f"""
            op.add_column(
                "{t}",
                sa.Column("amount", sa.Numeric(10, 2), server_default=sa.text("0"), nullable=False),
            )
        """
        down = f'op.drop_column("{t}", "amount")'
    elif kind == "widen_column":
        up = f"""
            op.alter_column(
                "{t}", "title", existing_type=sa.String(length=64), type_=sa.String(length=128),
                existing_nullable=False,
            )
        """
        down = f"""
            op.alter_column(
                "{t}", "title", existing_type=sa.String(length=128), type_=sa.String(length=64),
                existing_nullable=False,
            )
        """
    else:  # pragma: no cover
        raise AssertionError(kind)
    return _block(up), _block(down)


def revision_file(i: int, tag: str) -> tuple[str, str]:
    k, step = divmod(i, BLOCK)
    rev = revision_id(i)
    prev = revision_id(i - 1) if i else None
    message = f"{table_name(k)} {STEPS[step].replace('_', ' ')}"
    up, down = bodies(i)
    text = f'''"""{message}

Revision ID: {rev}
Revises: {prev or ""}
Create Date: 2024-01-01 00:00:00

"""
# gauntlet: allow table-rewrite, index-without-concurrently, constraint-validation, set-not-null
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = {rev!r}
down_revision = {prev!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
{up}

def downgrade() -> None:
{down}'''
    return f"{tag}_{i:04d}_{rev}.py", text


def models_source(n: int) -> str:
    out = [
        '"""Models: exactly the schema the generated history ends in."""',
        "from __future__ import annotations",
        "",
        "import datetime",
        "import decimal",
        "from typing import Optional",
        "",
        "from sqlalchemy import (",
        "    CheckConstraint, DateTime, Enum, ForeignKey, Integer, MetaData, Numeric, String,",
        "    Text, UniqueConstraint, func, text,",
        ")",
        "from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column",
        "",
        "",
        "class Base(DeclarativeBase):",
        f"    metadata = MetaData(naming_convention={CONVENTION!r})",
    ]
    for k in range((n + BLOCK - 1) // BLOCK):
        done = min(BLOCK, n - k * BLOCK)  # steps of this table's block that exist

        def has(kind: str, done: int = done) -> bool:
            return STEPS.index(kind) < done

        t = table_name(k)
        parent = table_name(k - 1) if k else t
        out += ["", "", f"class Item{k:03d}(Base):", f'    __tablename__ = "{t}"']
        table_args = []
        if has("add_unique"):
            table_args.append('UniqueConstraint("title")')
        if has("add_check"):
            table_args.append('CheckConstraint("length(title) > 0", name="title_len")')
        if table_args:
            out.append(f"    __table_args__ = ({', '.join(table_args)},)")
        length = 128 if has("widen_column") else 64
        out += [
            "",
            "    id: Mapped[int] = mapped_column(Integer, primary_key=True)",
            f"    title: Mapped[str] = mapped_column(String({length}), nullable=False)",
            "    created_at: Mapped[datetime.datetime] = mapped_column(",
            "        DateTime, server_default=func.now(), nullable=False",
            "    )",
        ]
        if has("add_columns"):
            index = ", index=True" if has("add_index") else ""
            memo = "remark" if has("rename_column") else "memo"
            out.append(f"    sku: Mapped[Optional[str]] = mapped_column(String(32){index})")
            out.append(f"    {memo}: Mapped[Optional[str]] = mapped_column(Text)")
        if has("add_fk"):
            out.append(
                "    parent_id: Mapped[Optional[int]] = mapped_column("
                f'ForeignKey("{parent}.id", ondelete="SET NULL"))'
            )
        if has("create_enum"):
            labels = ["draft", "live"] + (["retired"] if has("enum_add_value") else [])
            args = ", ".join(repr(v) for v in labels)
            out.append(
                f'    state: Mapped[Optional[str]] = mapped_column(Enum({args}, name="{t}_state"))'
            )
        if has("add_defaulted_column"):
            out.append(
                "    amount: Mapped[decimal.Decimal] = mapped_column("
                'Numeric(10, 2), server_default=text("0"), nullable=False)'
            )
    return "\n".join(out) + "\n"


ENV_PY = '''"""env.py of a generated benchmark history.

Online: runs on ``config.attributes["connection"]`` when the caller passes one, else on
an engine built from ``sqlalchemy.url``. Offline (``--sql``): renders literal SQL.
The models are loaded by path under a module name unique to this project.
"""
import importlib.util
import sys
from pathlib import Path

from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlalchemy.engine import Connection

MODELS_MODULE = "{models_module}"


def _metadata():
    module = sys.modules.get(MODELS_MODULE)
    if module is None:
        path = Path(__file__).resolve().parent.parent / "models.py"
        spec = importlib.util.spec_from_file_location(MODELS_MODULE, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[MODELS_MODULE] = module
        spec.loader.exec_module(module)
    return module.Base.metadata


config = context.config
target_metadata = _metadata()


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={{"paramstyle": "named"}},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {{}}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
'''

SCRIPT_MAKO = '''"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

"""
import sqlalchemy as sa
from alembic import op
${imports if imports else ""}

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
'''

ALEMBIC_INI = """[alembic]
script_location = %(here)s/migrations
path_separator = os
sqlalchemy.url = {url}

[loggers]
keys = root

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
"""


def generate(outdir: Path, n: int, url: str = "postgresql+psycopg:///unused") -> Path:
    """Write the project; returns the path of its alembic.ini."""
    if n < 1:
        raise ValueError("N must be >= 1")
    outdir = Path(outdir).resolve()
    migrations = outdir / "migrations"
    if migrations.exists():
        shutil.rmtree(migrations)
    versions = migrations / "versions"
    versions.mkdir(parents=True)
    module = models_module_name(outdir)
    tag = "r" + module.rsplit("_", 1)[1][:6]
    (outdir / "alembic.ini").write_text(ALEMBIC_INI.format(url=url))
    (outdir / "models.py").write_text(models_source(n))
    (migrations / "env.py").write_text(ENV_PY.format(models_module=module))
    (migrations / "script.py.mako").write_text(SCRIPT_MAKO)
    for i in range(n):
        name, text = revision_file(i, tag)
        (versions / name).write_text(text)
    return outdir / "alembic.ini"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("n", type=int)
    parser.add_argument("--url", default="postgresql+psycopg:///unused")
    args = parser.parse_args(argv)
    ini = generate(args.outdir, args.n, args.url)
    print(f"{args.n} revisions, {(args.n + BLOCK - 1) // BLOCK} tables -> {ini}")


if __name__ == "__main__":
    main()
