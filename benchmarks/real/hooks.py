"""``prepare`` hooks of corpus projects (GauntletConfig.prepare): each builds, on the run's
fresh schema, the baseline the project's own tooling builds before its first migration.
Imported inside the project's venv only."""

from __future__ import annotations

from sqlalchemy import Connection


def mlflow_initial(connection: Connection) -> None:
    """mlflow.store.db.utils._initialize_tables: ``InitialBase.metadata.create_all`` first
    (the history's first revision alters tables it never creates), then the migrations."""
    from mlflow.store.db.base_sql_model import Base  # noqa: F401 - registers nothing needed
    from mlflow.store.tracking.dbmodels.initial_models import Base as InitialBase

    InitialBase.metadata.create_all(connection)
