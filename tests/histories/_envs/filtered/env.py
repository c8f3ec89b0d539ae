"""The cookbook env.py plus an ``include_object`` filter: tables named ``legacy_*`` are
invisible to autogenerate (so a models comparison that bypasses env.py sees them).

* ``config.attributes["connection"]``: a SQLAlchemy Connection to run on (the caller owns
  it and its transaction); otherwise an engine is built from ``sqlalchemy.url``.
* ``config.attributes["target_metadata"]``: the models' MetaData, or None.

No logging setup (no fileConfig), as in the cookbook recipe.
"""

from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
target_metadata = config.attributes.get("target_metadata")


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Leave ``legacy_*`` tables (and everything on them) out of autogenerate."""
    if type_ == "table" and name.startswith("legacy_"):
        return False
    return True


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        include_object=include_object,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection", None)
    if connectable is None:
        # Only build an Engine when no Connection came from the outside.
        connectable = engine_from_config(
            config.get_section(config.config_ini_section, {}),
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )
        with connectable.connect() as connection:
            do_run_migrations(connection)
    else:
        do_run_migrations(connectable)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
