"""env.py that takes its engine from the project's database interface, which caches one
pooled engine per URL for the life of the process."""

import os
import sys

from alembic import context

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shape_db import engine_for  # noqa: E402

config = context.config
target_metadata = None


def run_migrations_online() -> None:
    engine = engine_for(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("online only")
run_migrations_online()
