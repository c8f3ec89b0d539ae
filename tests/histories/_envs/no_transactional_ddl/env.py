"""The per_migration env.py with ``transactional_ddl=False`` instead of
``transaction_per_migration=True``: alembic then wraps each revision in a transaction of its
own whatever ``transaction_per_migration`` says (``MigrationContext.begin_transaction``),
and commits it before the plan resumes, as under ``transaction_per_migration=True``.
Found while checking what still needed the walk's commit of a transaction only the driver
knew of: the walk's step end ran after that commit here (safety saw no locks).
"""

from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        literal_binds=True,
        transactional_ddl=False,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection", None)
    if connectable is None:
        connectable = engine_from_config(
            config.get_section(config.config_ini_section),
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=None, transactional_ddl=False)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
