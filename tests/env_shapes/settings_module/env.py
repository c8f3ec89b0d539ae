"""env.py that builds its engine from the project's own settings module, ignoring
``sqlalchemy.url`` and ``config.attributes`` (the shape of many application templates:
``configuration["sqlalchemy.url"] = settings.database_url``)."""

import os
import sys

from alembic import context
from sqlalchemy import engine_from_config, pool

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shape_settings import settings  # noqa: E402

config = context.config
target_metadata = None


def run_migrations_online() -> None:
    configuration = config.get_section(config.config_ini_section, {})
    configuration["sqlalchemy.url"] = settings.database_url
    connectable = engine_from_config(
        configuration, prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("online only")
run_migrations_online()
