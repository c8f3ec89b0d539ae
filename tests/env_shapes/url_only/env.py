"""env.py that reads only ``sqlalchemy.url``, whose ini fills the user and database in from
the environment (``%(SHAPE_DB_USER)s``, with defaults) and points at a socket directory
under ``%(here)s``. It never looks at ``config.attributes``."""

import os

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
section = config.config_ini_section
config.set_section_option(section, "SHAPE_DB_USER", os.environ.get("SHAPE_DB_USER", "app"))
config.set_section_option(section, "SHAPE_DB_NAME", os.environ.get("SHAPE_DB_NAME", "app"))

target_metadata = None


def run_migrations_online() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("online only")
run_migrations_online()
