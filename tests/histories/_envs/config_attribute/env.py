"""env.py of OpenStack's neutron / octavia shape: the project's own command puts its
settings on the alembic Config as a plain Python attribute (``config.octavia_config =
CONF``), not in ``config.attributes``, and env.py refuses to run without it. Here the
attribute names the version table."""

import sys

from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
try:
    project_config = config.project_config
except AttributeError:
    print("Error: Please use the project-db-manage command for alembic actions.")
    sys.exit(1)

target_metadata = None


def run_migrations_online() -> None:
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table=project_config["version_table"],
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
