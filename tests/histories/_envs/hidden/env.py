"""The cookbook env.py with both of autogenerate's filters, as real projects write them:

* ``include_name`` hides database tables named ``legacy_*`` (another tool's tables);
* ``include_object`` hides tables named ``archive_*`` on both sides (models and database).

* ``config.attributes["connection"]``: a SQLAlchemy Connection to run on; otherwise an
  engine is built from ``sqlalchemy.url``.
* ``config.attributes["target_metadata"]``: the models' MetaData, or None.
"""

from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
target_metadata = config.attributes.get("target_metadata")


def include_name(name, type_, parent_names) -> bool:
    if type_ == "table":
        return not name.startswith("legacy_")
    return True


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    if type_ == "table" and name.startswith("archive_"):
        return False
    return True


def do_run_migrations(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        include_name=include_name,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection", None)
    if connectable is None:
        connectable = engine_from_config(
            config.get_section(config.config_ini_section, {}),
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )
        with connectable.connect() as connection:
            do_run_migrations(connection)
    else:
        do_run_migrations(connectable)


run_migrations_online()
