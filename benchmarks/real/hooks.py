"""``prepare`` hooks of corpus projects (GauntletConfig.prepare): each builds, on the run's
fresh schema, the baseline the project's own tooling builds before its first migration.
Imported inside the project's venv only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection


def mlflow_initial(connection: Connection) -> None:
    """mlflow.store.db.utils._initialize_tables: ``InitialBase.metadata.create_all`` first
    (the history's first revision alters tables it never creates), then the migrations."""
    from mlflow.store.db.base_sql_model import Base  # noqa: F401 - registers nothing needed
    from mlflow.store.tracking.dbmodels.initial_models import Base as InitialBase

    InitialBase.metadata.create_all(connection)


def jupyterhub_0_7(connection: Connection) -> None:
    """The tables a JupyterHub 0.7 database has before its first revision after the base
    (19c0846f6344 "base revision for 0.5"): JupyterHub 0.7.2's models (servers, proxies, hubs,
    users, groups, user_group_map, services, api_tokens) less the two columns the history
    adds itself (users.auth_state in eeb276e51423, api_tokens.service_id in af4cbdb2d13c).
    JupyterHub never ships this baseline: it creates new databases with create_all at head
    and stamps them, and creates tables that later revisions expect with create_all at
    start-up; its revisions guard on table existence for that."""
    from sqlalchemy import (
        TEXT,
        Boolean,
        Column,
        DateTime,
        ForeignKey,
        Integer,
        MetaData,
        Table,
        Unicode,
    )

    md = MetaData()
    Table(
        "servers",
        md,
        Column("id", Integer, primary_key=True),
        Column("proto", Unicode(15)),
        Column("ip", Unicode(255)),
        Column("port", Integer),
        Column("base_url", Unicode(255)),
        Column("cookie_name", Unicode(255)),
    )
    Table(
        "proxies",
        md,
        Column("id", Integer, primary_key=True),
        Column("_public_server_id", Integer, ForeignKey("servers.id")),
        Column("_api_server_id", Integer, ForeignKey("servers.id")),
    )
    Table(
        "hubs",
        md,
        Column("id", Integer, primary_key=True),
        Column("_server_id", Integer, ForeignKey("servers.id")),
    )
    Table(
        "users",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("name", Unicode(1023), unique=True),
        Column("_server_id", Integer, ForeignKey("servers.id", ondelete="SET NULL")),
        Column("admin", Boolean),
        Column("last_activity", DateTime),
        Column("cookie_id", Unicode(1023)),
        Column("state", TEXT),
    )
    Table(
        "groups",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("name", Unicode(1023), unique=True),
    )
    Table(
        "user_group_map",
        md,
        Column("user_id", ForeignKey("users.id"), primary_key=True),
        Column("group_id", ForeignKey("groups.id"), primary_key=True),
    )
    Table(
        "services",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("name", Unicode(1023), unique=True),
        Column("admin", Boolean),
        Column("_server_id", Integer, ForeignKey("servers.id")),
        Column("pid", Integer),
    )
    Table(
        "api_tokens",
        md,
        Column("id", Integer, primary_key=True),
        Column("hashed", Unicode(1023)),
        Column("prefix", Unicode(1023)),
        Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    )
    md.create_all(connection)


def mlflow_metadata() -> Any:
    """Every mlflow model module on the one declarative Base (env.py imports only the Base
    module, so which tables its target_metadata holds depends on what was imported before)."""
    import mlflow.store.model_registry.dbmodels.models  # noqa: F401
    import mlflow.store.tracking.dbmodels.models  # noqa: F401
    import mlflow.store.workspace.dbmodels.models  # noqa: F401
    from mlflow.store.db.base_sql_model import Base

    return Base.metadata


def cloudkitty_conf() -> None:
    """cloudkitty-dbsync's service.prepare_service(), its configuration part: oslo.config reads
    ``[database] connection`` from OS_DATABASE__CONNECTION only once CONF has been called;
    before that, the env module's enginefacade raises "No sql_connection parameter is
    established". No config files: the environment is the whole configuration."""
    from oslo_config import cfg

    if getattr(cfg.CONF, "_args", None) is None:  # not yet called in this process
        cfg.CONF([], project="cloudkitty", default_config_files=[])


def ironic_inspector_conf() -> None:
    """ironic-inspector-dbsync's configuration step, as cloudkitty_conf."""
    from oslo_config import cfg

    if getattr(cfg.CONF, "_args", None) is None:  # not yet called in this process
        cfg.CONF([], project="ironic-inspector", default_config_files=[])


def octavia_config(config: Any) -> None:
    """octavia-db-manage's dressing of the alembic Config (octavia.db.migration.cli.main):
    oslo.db's options on CONF, CONF parsed (no files: ``[database] connection`` comes from
    OS_DATABASE__CONNECTION), and CONF as a plain attribute of the Config, which env.py
    reads (``config.octavia_config``) and exits without. The cli module itself is not
    imported: it registers a required sub-command and sets up logging."""
    from oslo_config import cfg
    from oslo_db import options

    if getattr(cfg.CONF, "_args", None) is None:  # not yet called in this process
        options.set_defaults(cfg.CONF)
        cfg.CONF([], project="octavia", default_config_files=[])
    config.octavia_config = cfg.CONF


def dagster_connection(url: str) -> Any:
    """What dagster-postgres's storages hand env.py (``run_alembic_upgrade(config, conn)``):
    a connection of an AUTOCOMMIT, NullPool engine on the storage's URL, in
    ``config.attributes["connection"]``; env.py raises without one."""
    import contextlib

    from sqlalchemy import create_engine, pool

    @contextlib.contextmanager
    def connect() -> Any:
        engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
        try:
            with engine.connect() as connection:
                yield connection
        finally:
            engine.dispose()

    return connect()


def dagster_instance() -> None:
    """What ``DagsterInstance.upgrade()`` (``dagster instance migrate``) sets around the
    storages' alembic upgrades: the module-global "currently upgrading instance" that
    revision 5c18fd3c2957 asks for (``instance.scheduler.wipe``), else it raises
    ``CheckError: currently upgrading instance not set``. An ephemeral instance (no
    scheduler), set for the whole process as ``upgrading_instance`` does for the upgrade."""
    from dagster import DagsterInstance
    from dagster._core.storage.migration import utils

    if utils._UPGRADING_INSTANCE is None:
        utils._UPGRADING_INSTANCE = DagsterInstance.ephemeral()


def dagster_tables(connection: Connection) -> None:
    """What dagster-postgres's storages do on a database without their tables (each
    storage's ``_init_db``): ``create_all`` of the run, event log and schedule MetaData
    (then they stamp head). dagster never runs its history from an empty database (958a9495162d
    references ``event_logs``, which no revision creates); every revision guards on what
    exists (``has_table`` / ``has_column`` / ``has_index``), for databases that were not
    stamped, so here the whole history runs over the current tables."""
    from dagster._core.storage.event_log import SqlEventLogStorageMetadata
    from dagster._core.storage.runs import RunStorageSqlMetadata
    from dagster._core.storage.schedules import ScheduleStorageSqlMetadata

    for metadata in (RunStorageSqlMetadata, SqlEventLogStorageMetadata, ScheduleStorageSqlMetadata):
        metadata.create_all(connection)
