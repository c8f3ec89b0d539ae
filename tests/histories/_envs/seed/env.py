"""alembic-gauntlet style env.py: the caller passes a Connection and owns its transaction.

* ``config.attributes["connection"]``: the Connection to run on (required online).
* ``config.attributes["target_schema"]``: when set, ``search_path`` is pinned to it for the
  current transaction and the version table is kept there.
* ``config.attributes["target_metadata"]``: the models' MetaData, or None.
"""

from alembic import context
from sqlalchemy import text

config = context.config
target_metadata = config.attributes.get("target_metadata")


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("this env.py runs on config.attributes['connection'] (a Connection)")
    opts = {}
    target_schema = config.attributes.get("target_schema")
    if target_schema:
        quoted = connection.dialect.identifier_preparer.quote_schema(target_schema)
        connection.execute(text("SELECT set_config('search_path', :s, true)"), {"s": quoted})
        opts["version_table_schema"] = target_schema
    context.configure(
        connection=connection, target_metadata=target_metadata, compare_type=True, **opts
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("this env.py runs online only, on config.attributes['connection']")
run_migrations_online()
