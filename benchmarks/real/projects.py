"""The real-world corpus: PyPI projects that ship an Alembic history for PostgreSQL.

Plain data and small functions, stdlib only: ``run.py`` (outside the projects' venvs) and
``child.py`` (inside each project's venv) both load this file by path.

Each project names what gets pip-installed into its own venv, where its ``alembic.ini`` /
script directory is inside the installed package, the models' ``MetaData``, the environment
variables its env.py or settings need, and the ``GauntletConfig`` overrides. ``url_env``
names how the project's env.py is pointed at a database for the reference runner (separate
``alembic`` commands): the ``sqlalchemy.url`` main option, or an environment variable.
``needed`` is what running it took, in words (RESULTS.md's "what each project needed").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Project:
    name: str
    pip: tuple[str, ...]  # pip install arguments (the project, pinned by run.py's lock)
    package: str  # the import name whose directory holds the history
    script_location: str | None  # relative to the package directory (None: the ini's own)
    ini: str | None = None  # alembic.ini relative to the package directory (None: none used)
    ini_template: bool = False  # the ini holds {alembic_dir} / {db_url} placeholders
    metadata: str | None = None  # "module:attr"; None uses env.py's target_metadata
    env: dict[str, str] = field(default_factory=dict)  # {url} = the run's database URL
    url_env: str | None = None  # env var env.py reads its URL from (None: sqlalchemy.url)
    url_driver: str = "+psycopg"  # the driver part of the URL put in url_env
    overrides: dict[str, Any] = field(default_factory=dict)  # GauntletConfig fields
    ini_options: dict[str, str] = field(default_factory=dict)  # set on the alembic Config
    prepare: str | None = None  # a function of hooks.py: GauntletConfig.prepare
    metadata_hook: str | None = None  # a function of hooks.py returning the MetaData
    in_worker_thread: bool = False  # run everything in an anyio worker thread, as the project does
    setup: str | None = None  # a function of hooks.py called once the environment is set
    # a function of hooks.py called with each fresh alembic Config, as the project's own
    # command dresses it (octavia: ``config.octavia_config = CONF``)
    config_hook: str | None = None
    # a function of hooks.py: (url) -> context manager of the connection the project's own
    # tooling puts in config.attributes["connection"] for each reference command (env.py
    # takes no URL); None: the reference gives env.py none
    connection_hook: str | None = None
    needed: tuple[str, ...] = ()


PROJECTS: dict[str, Project] = {
    p.name: p
    for p in [
        Project(
            name="optuna",
            pip=("optuna",),
            package="optuna.storages._rdb",
            ini="alembic.ini",
            script_location="alembic",
            metadata="optuna.storages._rdb.models:BaseModel.metadata",
            needed=(
                "script_location set to the absolute path of the package's alembic/ directory"
                " (the shipped alembic.ini says `script_location = alembic`, relative to the"
                " working directory; optuna's own RDBStorage sets it in code the same way)",
                "nothing else: stock env.py reading sqlalchemy.url, target_metadata from the"
                " models module",
            ),
        ),
        Project(
            name="jupyterhub",
            pip=("jupyterhub",),
            package="jupyterhub",
            ini="alembic.ini",
            ini_template=True,
            script_location="alembic",
            metadata="jupyterhub.orm:Base.metadata",
            prepare="jupyterhub_0_7",
            needed=(
                "a prepare hook building the pre-0.8 tables (JupyterHub 0.7.2's models less the"
                " two columns the history adds): the history starts at an empty 'base revision"
                " for 0.5' and its second revision alters `users`, which no revision creates;"
                " JupyterHub itself stamps new databases at head after create_all",
                "gauntlet-sync with #12's hand-over: env.py calls"
                " config.attributes['connection'].connect() (pytest-alembic's shape); before it,"
                " run_all raised MigrationEnvironmentError ('Connection' object has no attribute"
                " 'connect')",
                "the shipped alembic.ini is a template ({alembic_dir}, {db_url}) that"
                " jupyterhub.dbutil fills in: filled the same way",
            ),
        ),
        Project(
            name="mlflow",
            pip=("mlflow",),
            package="mlflow.store.db_migrations",
            ini="alembic.ini",
            script_location=".",
            metadata="mlflow.store.db.base_sql_model:Base.metadata",
            prepare="mlflow_initial",
            metadata_hook="mlflow_metadata",
            overrides={"minimum_downgrade_revision": "451aebb31d03"},
            needed=(
                "minimum_downgrade_revision = 451aebb31d03 (the first revision): its downgrade"
                ' is `pass` on purpose ("cannot safely be downgraded"), which stopped the'
                " stairway at the first revision",
                "the models' MetaData with every dbmodels module imported (tracking,"
                " model_registry, workspace): env.py's target_metadata is Base.metadata with"
                " whatever happened to be imported, and misses the workspace models",
                "a prepare hook: InitialBase.metadata.create_all before the first migration"
                " (as mlflow's _initialize_tables does; the first revision alters `metrics`,"
                " which no revision creates)",
                "script_location set to the package directory mlflow/store/db_migrations"
                " (the ini's `mlflow/store/db_migrations` is relative to a source checkout;"
                " mlflow's own _upgrade_db sets it in code)",
            ),
        ),
        Project(
            name="airflow",
            pip=("apache-airflow-core", "asyncpg", "psycopg2-binary"),
            package="airflow",
            ini="alembic.ini",
            script_location="migrations",
            env={"AIRFLOW_HOME": "/work/real-venvs/airflow/home"},
            url_env="AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
            url_driver="+psycopg2",
            overrides={"minimum_downgrade_revision": "4bc4d934e2bc"},
            ini_options={"sqlalchemy.url": "postgresql+psycopg2://unused/airflow"},
            needed=(
                "psycopg2 (psycopg2-binary installed, `+psycopg2` in sqlalchemy.url and in"
                " AIRFLOW__DATABASE__SQL_ALCHEMY_CONN): revision 686269002441 binds a string"
                " to an integer column (UPDATE dag SET max_consecutive_failed_dag_runs = :v"
                " with a VARCHAR value), which only psycopg2's client-side binding accepts;"
                " on psycopg 3 it fails in gauntlet-sync and in separate alembic commands"
                " alike",
                "asyncpg installed: airflow builds an async engine from the same URL at import",
                "minimum_downgrade_revision = 4bc4d934e2bc (the squashed 2.6.2 base): its"
                " downgrade fails (`DROP INDEX sm_dag`, an index the upgrade never creates on"
                " PostgreSQL), which stopped the stairway at the first revision; airflow does"
                " not support downgrading below 2.7 anyway",
                "AIRFLOW_HOME pointing at a scratch directory (airflow writes airflow.cfg there"
                " on import)",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN for the reference's separate alembic"
                " commands (env.py takes settings.engine when config.attributes has no"
                " connection); gauntlet-sync's run needs none: env.py takes the connection"
                " from config.attributes",
                "script_location set to the package's migrations/ (the ini's %(here)s works"
                " once the ini is read from the package)",
            ),
        ),
        Project(
            name="prefect",
            pip=("prefect",),
            package="prefect.server.database",
            ini="alembic.ini",
            script_location="_migrations",
            ini_options={"version_locations": "{pkg}/_migrations/versions/postgresql"},
            env={"PREFECT_HOME": "/work/real-venvs/prefect/home"},
            url_env="PREFECT_API_DATABASE_CONNECTION_URL",
            url_driver="+asyncpg",
            in_worker_thread=True,
            needed=(
                "every alembic command run from an anyio worker thread, as prefect's own"
                " `prefect server database upgrade` does (env.py calls"
                " run_async_from_worker_thread; from a plain thread it raises NoEventLoopError)",
                "version_locations = _migrations/versions/postgresql (env.py sets"
                " context.script.version_locations itself, after the history is loaded)",
                "PREFECT_API_DATABASE_CONNECTION_URL = a postgresql+asyncpg URL: env.py"
                " ignores config.attributes and sqlalchemy.url, and builds (and caches, per"
                " URL) its own async engine from prefect's settings",
                "PREFECT_HOME pointing at a scratch directory",
                "gauntlet-sync with #12's redirect of env.py's own engines and snapshots on"
                " asyncpg: before it, the migrations ran in the database's public schema"
                " (isolation failed) and the no_trace snapshot crashed run_all ('gauntlet-sync"
                " needs the psycopg (3) driver')",
            ),
        ),
        Project(
            name="gnocchi",
            pip=("gnocchi[postgresql]", "psycopg2-binary"),
            package="gnocchi.indexer",
            ini="alembic/alembic.ini",
            script_location="alembic",
            metadata="gnocchi.indexer.sqlalchemy_base:Base.metadata",
            url_env="OS_INDEXER__URL",
            url_driver="+psycopg2",
            needed=(
                "OS_INDEXER__URL (oslo.config reads `[indexer] url` from the environment):"
                " env.py ignores config.attributes and sqlalchemy.url, and builds its own"
                " oslo.db engine from gnocchi's configuration"
                " (`service.prepare_service([])` when the Config has no `conf` attribute)",
                "psycopg2 (gnocchi's `postgresql` extra): gnocchi dresses a `postgresql://`"
                " URL as `postgresql+psycopg2://`",
                "gauntlet-sync with #12's redirect of env.py's own engines",
                "nothing for its downgrades: no revision has a downgrade() function (gnocchi,"
                " like OpenStack projects, does not support downgrading), so every stairway"
                " downgrade fails with alembic's own AttributeError; a user would run only"
                " the upgrade and model checks",
                "gauntlet-sync that imports a revision file anew for each later run of it:"
                " 34c517bcc2dd's upgrade appends to a module-level list",
            ),
        ),
        Project(
            name="cloudkitty",
            pip=("cloudkitty", "psycopg2-binary"),
            package="cloudkitty",
            ini="common/db/alembic/alembic.ini",
            script_location="rating/hash/db/sqlalchemy/alembic",
            url_env="OS_DATABASE__CONNECTION",
            url_driver="+psycopg2",
            setup="cloudkitty_conf",
            needed=(
                "the hashmap rating module's history (cloudkitty ships six Alembic histories,"
                " one per module, sharing one alembic.ini and one env module"
                " cloudkitty.common.db.alembic.env; each history's env.py imports it and"
                " passes its own target_metadata and version_table, here `hashmap_alembic`)",
                "the shared ini common/db/alembic/alembic.ini with script_location set to the"
                " history's directory, as cloudkitty's migration.load_alembic_config does",
                "a setup hook parsing oslo.config (cfg.CONF([])) before any alembic command,"
                " as `cloudkitty-dbsync` does with service.prepare_service(): only then does"
                " oslo.config read OS_DATABASE__CONNECTION from the environment",
                "OS_DATABASE__CONNECTION (`[database] connection`): env.py ignores"
                " config.attributes and sqlalchemy.url and takes its engine from oslo.db's"
                " enginefacade; psycopg2 for it",
            ),
        ),
        Project(
            name="cloudkitty-storage-state",
            pip=("cloudkitty", "psycopg2-binary"),
            package="cloudkitty",
            ini="common/db/alembic/alembic.ini",
            script_location="storage_state/alembic",
            url_env="OS_DATABASE__CONNECTION",
            url_driver="+psycopg2",
            setup="cloudkitty_conf",
            needed=(
                "as cloudkitty (the same shared ini, env module, setup hook and"
                " OS_DATABASE__CONNECTION): the storage_state module's history, version"
                " table `storage_states_alembic`",
            ),
        ),
        Project(
            name="ironic-inspector",
            pip=("ironic-inspector", "psycopg2-binary"),
            package="ironic_inspector",
            ini="db/alembic.ini",
            script_location="db/migrations",
            url_env="OS_DATABASE__CONNECTION",
            url_driver="+psycopg2",
            setup="ironic_inspector_conf",
            needed=(
                "a setup hook parsing oslo.config (cfg.CONF([])) before any alembic command,"
                " as ironic-inspector-dbsync does: only then does oslo.config read"
                " OS_DATABASE__CONNECTION from the environment",
                "OS_DATABASE__CONNECTION (`[database] connection`): env.py ignores"
                " config.attributes and sqlalchemy.url and takes oslo.db's global"
                " enginefacade.writer.get_engine(); psycopg2 for it",
            ),
        ),
        Project(
            name="dagster",
            pip=("dagster", "dagster-postgres"),
            package="dagster_postgres",
            ini="alembic/alembic.ini",
            script_location=None,
            connection_hook="dagster_connection",
            setup="dagster_instance",
            prepare="dagster_tables",
            needed=(
                "a prepare hook doing what dagster-postgres's storages do on a database"
                " without their tables: create_all of the run, event log and schedule"
                " MetaData. From an empty database the history fails at 958a9495162d"
                ' (`relation "event_logs" does not exist`: no revision creates it; alembic'
                " upgrade heads agrees); dagster never runs it that way (new databases are"
                " created with create_all and stamped), and every revision guards on what"
                " exists, so the history runs over the current tables",
                "a setup hook setting dagster's 'currently upgrading instance' (an ephemeral"
                " DagsterInstance) for the process, as `dagster instance migrate`"
                " (DagsterInstance.upgrade) does around the alembic upgrade: revision"
                " 5c18fd3c2957 asks for it and raises CheckError without it (gauntlet-sync"
                " and `alembic upgrade heads` alike)",
                "dagster-postgres's alembic.ini as shipped: its script_location is the"
                " package resource `dagster:_core/storage/alembic` (one history for the run,"
                " event log and schedule storages)",
                "for the reference's separate alembic commands, a connection in"
                " config.attributes['connection'] as dagster-postgres's storages give it"
                " (run_alembic_upgrade: an AUTOCOMMIT NullPool engine's connection): env.py"
                " raises 'No connection set in alembic config' without one and never reads"
                " sqlalchemy.url; gauntlet-sync's run needs nothing (it hands env.py its"
                " connection there)",
            ),
        ),
        Project(
            name="octavia",
            pip=("octavia", "psycopg2-binary"),
            package="octavia.db.migration",
            ini="alembic.ini",
            script_location="alembic_migrations",
            url_env="OS_DATABASE__CONNECTION",
            url_driver="+psycopg2",
            config_hook="octavia_config",
            metadata="octavia.db.models:base_models.BASE.metadata",
            needed=(
                "the models' MetaData named (octavia.db.models on base_models.BASE, what"
                " octavia's own ModelsMigrationsSync test compares): env.py's"
                " target_metadata is None, so `alembic check` cannot compare",
                "a config hook dressing each alembic Config as octavia-db-manage does:"
                " oslo.db's options set on CONF, CONF parsed, and"
                " `config.octavia_config = CONF`, a plain Python attribute of the Config"
                " that env.py reads and `sys.exit(1)`s without",
                "gauntlet-sync whose private copy of the Config keeps such attributes"
                " (before 8510a2f every command's env.py exited)",
                "OS_DATABASE__CONNECTION (`[database] connection`): env.py ignores"
                " config.attributes and sqlalchemy.url and builds its own engine from"
                " `octavia_config.database.connection`; psycopg2 for it; the #12 redirect",
            ),
        ),
    ]
}
